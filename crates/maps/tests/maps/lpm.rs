//! LPM trie semantics (lpm_trie.c).

use crate::{create, spec};
use waggle_maps::{Map, MapError, MapType, flags::BPF_F_NO_PREALLOC, update::*};

fn key4(plen: u32, ip: [u8; 4]) -> [u8; 8] {
    let mut k = [0u8; 8];
    k[..4].copy_from_slice(&plen.to_ne_bytes());
    k[4..].copy_from_slice(&ip);
    k
}

fn trie(max: u32) -> Map {
    create(
        spec(MapType::LpmTrie, 8, 4, max).with_flags(BPF_F_NO_PREALLOC),
        1,
    )
}

fn get(m: &Map, k: &[u8]) -> Result<u32, MapError> {
    let mut v = [0u8; 4];
    m.lookup(k, &mut v)?;
    Ok(u32::from_ne_bytes(v))
}

#[test]
fn longest_prefix_wins() {
    let m = trie(16);
    m.update(&key4(16, [192, 168, 0, 0]), &1u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    m.update(&key4(24, [192, 168, 0, 0]), &2u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    m.update(&key4(24, [192, 168, 128, 0]), &3u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    m.update(&key4(24, [192, 168, 1, 0]), &5u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    m.update(&key4(0, [0, 0, 0, 0]), &9u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    assert_eq!(get(&m, &key4(32, [192, 168, 0, 7])), Ok(2));
    assert_eq!(get(&m, &key4(32, [192, 168, 1, 7])), Ok(5));
    assert_eq!(get(&m, &key4(32, [192, 168, 128, 1])), Ok(3));
    assert_eq!(get(&m, &key4(32, [192, 168, 2, 1])), Ok(1));
    assert_eq!(get(&m, &key4(32, [10, 0, 0, 1])), Ok(9));
    // A shorter lookup prefix only matches prefixes at most that long.
    assert_eq!(get(&m, &key4(20, [192, 168, 0, 0])), Ok(1));
    assert!(m.lookup_ptr(&key4(32, [192, 168, 1, 9]), 0).is_some());
    assert_eq!(
        get(&m, &key4(33, [192, 168, 1, 9])),
        Err(MapError::NotFound)
    );
}

#[test]
fn flags_capacity_and_delete() {
    let m = trie(2);
    let a = key4(8, [10, 0, 0, 0]);
    let b = key4(16, [10, 1, 0, 0]);
    assert_eq!(m.update(&a, &[1; 4], BPF_EXIST), Err(MapError::NotFound));
    m.update(&a, &[1; 4], BPF_NOEXIST).unwrap();
    assert_eq!(m.update(&a, &[1; 4], BPF_NOEXIST), Err(MapError::Exists));
    m.update(&a, &[2; 4], BPF_EXIST).unwrap();
    m.update(&b, &[3; 4], BPF_ANY).unwrap();
    assert_eq!(
        m.update(&key4(24, [10, 2, 0, 0]), &[4; 4], BPF_ANY),
        Err(MapError::NoSpace)
    );
    assert!(matches!(
        m.update(&key4(33, [0; 4]), &[4; 4], BPF_ANY),
        Err(MapError::Invalid(_))
    ));
    assert!(matches!(
        m.update(&a, &[4; 4], 3),
        Err(MapError::Invalid(_))
    ));
    assert_eq!(m.delete(&key4(12, [10, 0, 0, 0])), Err(MapError::NotFound));
    m.delete(&a).unwrap();
    assert_eq!(get(&m, &key4(32, [10, 9, 9, 9])), Err(MapError::NotFound));
    assert_eq!(
        get(&m, &key4(32, [10, 1, 9, 9])),
        Ok(u32::from_ne_bytes([3; 4]))
    );
    m.update(&key4(24, [10, 2, 0, 0]), &[4; 4], BPF_ANY)
        .unwrap();
    assert!(matches!(
        m.delete(&key4(40, [0; 4])),
        Err(MapError::Invalid(_))
    ));
}

#[test]
fn get_next_key_is_postorder() {
    let m = trie(16);
    for (plen, ip) in [
        (16, [192, 168, 0, 0]),
        (24, [192, 168, 0, 0]),
        (24, [192, 168, 128, 0]),
        (24, [192, 168, 1, 0]),
    ] {
        m.update(&key4(plen, ip), &[0; 4], BPF_ANY).unwrap();
    }
    let mut order = Vec::new();
    let mut key = [0u8; 8];
    let mut prev: Option<[u8; 8]> = None;
    while m
        .get_next_key(prev.as_ref().map(|p| &p[..]), &mut key)
        .is_ok()
    {
        order.push(key);
        prev = Some(key);
    }
    // The order the kernel documents for this trie.
    assert_eq!(
        order,
        [
            key4(24, [192, 168, 0, 0]),
            key4(24, [192, 168, 1, 0]),
            key4(24, [192, 168, 128, 0]),
            key4(16, [192, 168, 0, 0]),
        ]
    );
    // Unknown key: start over from the leftmost node.
    m.get_next_key(Some(&key4(8, [1, 0, 0, 0])), &mut key)
        .unwrap();
    assert_eq!(key, order[0]);
    assert_eq!(
        trie(1).get_next_key(None, &mut key),
        Err(MapError::NotFound)
    );
}

#[test]
fn random_prefixes_against_a_model() {
    let m = trie(64);
    let mut model: Vec<(u32, [u8; 4], u32)> = Vec::new();
    let mut x = 0x1234_5678u32;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let masked = |plen: u32, ip: [u8; 4]| -> [u8; 4] {
        let v = u32::from_be_bytes(ip);
        let mask = if plen == 0 {
            0
        } else {
            u32::MAX << (32 - plen)
        };
        (v & mask).to_be_bytes()
    };
    for step in 0..3000u32 {
        let plen = rnd() % 33;
        let ip = masked(plen, (rnd() & 0xff0f_0000 | 0x0a00_0000).to_be_bytes());
        let key = key4(plen, ip);
        let pos = model.iter().position(|(p, i, _)| *p == plen && *i == ip);
        if rnd() % 3 == 0 {
            let r = m.delete(&key);
            match pos {
                Some(p) => {
                    r.unwrap();
                    model.remove(p);
                }
                None => assert_eq!(r, Err(MapError::NotFound)),
            }
        } else {
            let r = m.update(&key, &step.to_ne_bytes(), BPF_ANY);
            match pos {
                Some(p) => {
                    r.unwrap();
                    model[p].2 = step;
                }
                None if model.len() < 64 => {
                    r.unwrap();
                    model.push((plen, ip, step));
                }
                None => assert_eq!(r, Err(MapError::NoSpace)),
            }
        }
        let probe = (rnd() & 0xff0f_ffff | 0x0a00_0000).to_be_bytes();
        let want = model
            .iter()
            .filter(|(p, i, _)| masked(*p, probe) == *i)
            .max_by_key(|(p, _, _)| *p)
            .map(|(_, _, v)| *v);
        assert_eq!(get(&m, &key4(32, probe)).ok(), want, "step {step}");
    }
    // Iteration visits exactly the stored prefixes.
    let mut n = 0;
    let mut key = [0u8; 8];
    let mut prev: Option<[u8; 8]> = None;
    while m
        .get_next_key(prev.as_ref().map(|p| &p[..]), &mut key)
        .is_ok()
    {
        n += 1;
        prev = Some(key);
    }
    assert_eq!(n, model.len());
}
