//! Hash and per-CPU hash semantics (hashtab.c).

use crate::{create, get_u64, k, spec};
use std::collections::BTreeSet;
use waggle_maps::{MapError, MapType, flags::*, update::*};

fn v(x: u64) -> [u8; 8] {
    x.to_ne_bytes()
}

#[test]
fn crud_and_flags() {
    let m = create(spec(MapType::Hash, 4, 8, 4), 2);
    assert_eq!(get_u64(&m, &k(1)), Err(MapError::NotFound));
    assert_eq!(m.update(&k(1), &v(1), BPF_EXIST), Err(MapError::NotFound));
    m.update(&k(1), &v(1), BPF_NOEXIST).unwrap();
    assert_eq!(m.update(&k(1), &v(2), BPF_NOEXIST), Err(MapError::Exists));
    m.update(&k(1), &v(3), BPF_EXIST).unwrap();
    assert_eq!(get_u64(&m, &k(1)), Ok(3));
    m.update(&k(1), &v(4), BPF_ANY).unwrap();
    assert_eq!(get_u64(&m, &k(1)), Ok(4));
    assert!(matches!(
        m.update(&k(1), &v(4), 3),
        Err(MapError::Invalid(_))
    ));
    assert!(matches!(
        m.update(&k(1), &v(4), BPF_F_LOCK),
        Err(MapError::Invalid(_))
    ));
    m.delete(&k(1)).unwrap();
    assert_eq!(m.delete(&k(1)), Err(MapError::NotFound));
    assert_eq!(get_u64(&m, &k(1)), Err(MapError::NotFound));
    assert!(matches!(
        m.update(&[0; 3], &v(1), BPF_ANY),
        Err(MapError::Invalid(_))
    ));
}

#[test]
fn full_map_gives_e2big_but_allows_replacing() {
    let m = create(spec(MapType::Hash, 4, 8, 3), 2);
    for i in 0..3 {
        m.update(&k(i), &v(u64::from(i)), BPF_ANY).unwrap();
    }
    assert_eq!(m.update(&k(9), &v(9), BPF_ANY), Err(MapError::TooBig));
    // Replacing existing keys works when full, many times (spare elements recycle).
    for round in 0..10 {
        for i in 0..3 {
            m.update(&k(i), &v(round), BPF_EXIST).unwrap();
        }
    }
    assert_eq!(get_u64(&m, &k(2)), Ok(9));
    m.delete(&k(0)).unwrap();
    m.update(&k(9), &v(9), BPF_NOEXIST).unwrap();
    assert_eq!(m.update(&k(10), &v(9), BPF_NOEXIST), Err(MapError::TooBig));
}

#[test]
fn get_next_key_iterates_everything_once() {
    let m = create(spec(MapType::Hash, 4, 8, 100), 1);
    for i in 0..100 {
        m.update(&k(i * 7), &v(1), BPF_ANY).unwrap();
    }
    let mut seen = BTreeSet::new();
    let mut key = [0u8; 4];
    let mut prev: Option<[u8; 4]> = None;
    loop {
        match m.get_next_key(prev.as_ref().map(|p| &p[..]), &mut key) {
            Ok(()) => {
                assert!(seen.insert(u32::from_ne_bytes(key)), "key twice");
                prev = Some(key);
            }
            Err(e) => {
                assert_eq!(e, MapError::NotFound);
                break;
            }
        }
    }
    assert_eq!(seen, (0..100).map(|i| i * 7).collect());
    // A key not in the map restarts from the first key.
    let mut first = [0u8; 4];
    m.get_next_key(None, &mut first).unwrap();
    m.get_next_key(Some(&k(3)), &mut key).unwrap();
    assert_eq!(key, first);
    let empty = create(spec(MapType::Hash, 4, 8, 4), 1);
    assert_eq!(empty.get_next_key(None, &mut key), Err(MapError::NotFound));
}

#[test]
fn delete_while_iterating_with_get_next_key() {
    // The usual user-space "drain" loop: get first key, delete it, repeat.
    let m = create(spec(MapType::Hash, 8, 8, 64), 1);
    for i in 0..64u64 {
        m.update(&i.to_ne_bytes(), &v(i), BPF_ANY).unwrap();
    }
    let mut key = [0u8; 8];
    let mut n = 0;
    while m.get_next_key(None, &mut key).is_ok() {
        m.delete(&key).unwrap();
        n += 1;
    }
    assert_eq!(n, 64);
}

#[test]
fn lookup_and_delete() {
    let m = create(spec(MapType::Hash, 4, 8, 4), 1);
    m.update(&k(5), &v(55), BPF_ANY).unwrap();
    let mut out = [0u8; 8];
    m.lookup_and_delete(&k(5), &mut out, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(out), 55);
    assert_eq!(
        m.lookup_and_delete(&k(5), &mut out, 0),
        Err(MapError::NotFound)
    );
    assert!(matches!(
        m.lookup_and_delete(&k(5), &mut out, BPF_F_LOCK),
        Err(MapError::Invalid(_))
    ));
}

#[test]
fn deleted_value_pointer_stays_valid() {
    let m = create(spec(MapType::Hash, 4, 8, 2), 1);
    m.update(&k(1), &v(11), BPF_ANY).unwrap();
    let p = m.lookup_ptr(&k(1), 0).unwrap();
    m.delete(&k(1)).unwrap();
    // SAFETY: preallocated element memory lives as long as the map.
    assert_eq!(unsafe { p.as_ptr().cast::<u64>().read() }, 11);
    assert!(m.lookup_ptr(&k(1), 0).is_none());
}

#[test]
fn program_writes_through_pointer() {
    let m = create(spec(MapType::Hash, 16, 8, 8), 1);
    let key = [3u8; 16];
    m.prog_update(&key, &v(1), BPF_NOEXIST, 0).unwrap();
    let p = m.lookup_ptr(&key, 0).unwrap();
    // SAFETY: an 8-byte aligned value of the live map; atomics as programs use them.
    let a = unsafe { std::sync::atomic::AtomicU64::from_ptr(p.as_ptr().cast()) };
    a.fetch_add(41, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(get_u64(&m, &key), Ok(42));
    m.prog_delete(&key).unwrap();
    assert_eq!(m.prog_delete(&key), Err(MapError::NotFound));
}

#[test]
fn percpu_hash() {
    let m = create(spec(MapType::PercpuHash, 4, 4, 4), 4);
    assert_eq!(m.user_value_size(), 32);
    m.prog_update(&k(1), &7u32.to_ne_bytes(), BPF_ANY, 2)
        .unwrap();
    let mut all = [0u8; 32];
    m.lookup(&k(1), &mut all).unwrap();
    for cpu in 0..4 {
        let want = if cpu == 2 { 7 } else { 0 };
        assert_eq!(&all[cpu * 8..cpu * 8 + 4], &u32::to_ne_bytes(want));
    }
    // Existing element: only that CPU's value changes.
    m.prog_update(&k(1), &8u32.to_ne_bytes(), BPF_EXIST, 0)
        .unwrap();
    m.lookup(&k(1), &mut all).unwrap();
    assert_eq!(&all[0..4], &8u32.to_ne_bytes());
    assert_eq!(&all[16..20], &7u32.to_ne_bytes());
    let p3 = m.lookup_ptr(&k(1), 3).unwrap();
    let p0 = m.lookup_ptr(&k(1), 0).unwrap();
    assert_eq!(p3.as_ptr() as usize - p0.as_ptr() as usize, 24);
    let vals: Vec<u8> = (0..32).collect();
    m.update(&k(2), &vals, BPF_NOEXIST).unwrap();
    m.lookup(&k(2), &mut all).unwrap();
    assert_eq!(&all[..], &vals[..]);
    assert!(matches!(
        m.update(&k(2), &vals, BPF_F_LOCK),
        Err(MapError::Invalid(_))
    ));
    let mut out = [0u8; 32];
    m.lookup_and_delete(&k(2), &mut out, 0).unwrap();
    assert_eq!(&out[..], &vals[..]);
    assert!(m.lookup_percpu_ptr(&k(1), 3).is_some());
    assert!(m.lookup_percpu_ptr(&k(1), 4).is_none());
}

#[test]
fn spin_lock_update_in_place() {
    let m = create(spec(MapType::Hash, 4, 16, 2).with_spin_lock(8), 1);
    let mut val = [1u8; 16];
    m.update(&k(1), &val, BPF_ANY).unwrap();
    let p = m.lookup_ptr(&k(1), 0).unwrap();
    val = [2u8; 16];
    m.update(&k(1), &val, BPF_F_LOCK | BPF_EXIST).unwrap();
    assert_eq!(
        m.lookup_ptr(&k(1), 0),
        Some(p),
        "BPF_F_LOCK updates in place"
    );
    let mut out = [0u8; 16];
    m.lookup_with_flags(&k(1), &mut out, BPF_F_LOCK).unwrap();
    assert_eq!(&out[..8], &[2; 8]);
    assert_eq!(&out[8..12], &[0; 4]);
    assert_eq!(&out[12..], &[2; 4]);
    assert_eq!(
        m.update(&k(2), &val, BPF_F_LOCK | BPF_EXIST),
        Err(MapError::NotFound)
    );
    m.update(&k(2), &val, BPF_F_LOCK).unwrap();
}

#[test]
fn readonly_prog_and_freeze() {
    let m = create(
        spec(MapType::Hash, 4, 8, 2).with_flags(BPF_F_RDONLY_PROG),
        1,
    );
    m.update(&k(1), &v(1), BPF_ANY).unwrap();
    assert_eq!(
        m.prog_update(&k(1), &v(2), BPF_ANY, 0).unwrap_err().errno(),
        1
    );
    assert_eq!(m.prog_delete(&k(1)).unwrap_err().errno(), 1);
    m.freeze().unwrap();
    assert_eq!(m.delete(&k(1)).unwrap_err().errno(), 1);
    let mut out = [0u8; 8];
    assert_eq!(
        m.lookup_and_delete(&k(1), &mut out, 0).unwrap_err().errno(),
        1
    );
    assert_eq!(get_u64(&m, &k(1)), Ok(1));
}

#[test]
fn memory_usage_is_preallocated() {
    let small = create(spec(MapType::Hash, 4, 8, 16), 1);
    let big = create(spec(MapType::Hash, 4, 8, 4096), 1);
    assert!(big.memory_usage() > 4096 * (16 + 8 + 8));
    assert!(small.memory_usage() < big.memory_usage());
    let before = big.memory_usage();
    for i in 0..4096 {
        big.update(&k(i), &v(1), BPF_ANY).unwrap();
    }
    assert_eq!(big.memory_usage(), before);
}

#[test]
fn for_each_can_delete() {
    let m = create(spec(MapType::Hash, 4, 8, 32), 1);
    for i in 0..32 {
        m.update(&k(i), &v(u64::from(i)), BPF_ANY).unwrap();
    }
    let n = m
        .for_each(0, |key, val| {
            // SAFETY: value addresses handed out by for_each are live 8-byte values.
            let x = unsafe { val.as_ptr().cast::<u64>().read() };
            assert_eq!(x, u64::from(u32::from_ne_bytes(key.try_into().unwrap())));
            if x % 2 == 0 {
                m.prog_delete(key).unwrap();
            }
            false
        })
        .unwrap();
    assert_eq!(n, 32);
    let mut key = [0u8; 4];
    let mut left = 0;
    let mut prev = None::<[u8; 4]>;
    while m
        .get_next_key(prev.as_ref().map(|p| &p[..]), &mut key)
        .is_ok()
    {
        assert_eq!(u32::from_ne_bytes(key) % 2, 1);
        left += 1;
        prev = Some(key);
    }
    assert_eq!(left, 16);
}

/// Random updates, deletes and both lookups against a model, for key sizes with and without
/// copies in the bucket, in maps small enough that slots fill and overflow chains form.
#[test]
fn matches_a_model_for_every_key_size() {
    use std::collections::BTreeMap;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for ks in [4u32, 5, 8, 12, 16, 20, 24] {
        for (t, max) in [
            (MapType::Hash, 8u32),
            (MapType::Hash, 64),
            (MapType::LruHash, 64),
        ] {
            let m = create(spec(t, ks, 8, max), 2);
            let mut model: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
            for step in 0..20_000u64 {
                // 100 distinct keys that share all but a few bytes.
                let id = (rnd() % 100) as u8;
                let mut key = vec![0xabu8; ks as usize];
                key[ks as usize - 1] = id;
                key[0] = id.wrapping_mul(7);
                match rnd() % 4 {
                    0 | 1 => {
                        let r = m.update(&key, &v(step), BPF_ANY);
                        // LRU maps evict instead of failing.
                        if t == MapType::LruHash
                            || model.contains_key(&key)
                            || model.len() < max as usize
                        {
                            r.unwrap();
                            model.insert(key.clone(), step);
                        } else {
                            assert_eq!(r, Err(MapError::TooBig));
                        }
                    }
                    2 => {
                        let r = m.delete(&key);
                        if t == MapType::LruHash {
                            // Eviction may have dropped it already.
                            model.remove(&key);
                        } else {
                            assert_eq!(r.is_ok(), model.remove(&key).is_some(), "delete");
                        }
                    }
                    _ => {
                        let user = get_u64(&m, &key).ok();
                        let prog = m
                            .lookup_ptr(&key, 0)
                            // SAFETY: a hash value's address stays valid while the map lives,
                            // and values are 8 bytes.
                            .map(|p| unsafe { p.cast::<u64>().as_ptr().read_unaligned() });
                        assert_eq!(user, prog, "key size {ks}: user and program lookups");
                        match model.get(&key) {
                            Some(&want) if t == MapType::Hash => {
                                assert_eq!(user, Some(want), "key size {ks}, step {step}")
                            }
                            Some(&want) => {
                                // LRU: evicted or present with the last value.
                                if let Some(got) = user {
                                    assert_eq!(got, want)
                                } else {
                                    model.remove(&key);
                                }
                            }
                            None => assert_eq!(user, None, "key size {ks}: deleted key found"),
                        }
                    }
                }
            }
        }
    }
}
