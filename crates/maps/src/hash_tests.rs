//! Unit tests of the hash maps' layout internals: crowded buckets, concurrent rewrites.

use super::*;
use std::collections::BTreeMap;

/// A hash map whose keys all fall into `buckets` buckets, so slots fill up and the
/// overflow chains get exercised.
fn crowded(map_type: MapType, key_size: u32, max: u32, buckets: u32) -> HashMap {
    let mut m = HashMap::new(&MapSpec::new(map_type, key_size, 8, max), 2).unwrap();
    m.mask = buckets - 1;
    m
}

fn key(i: u32, size: u32) -> Vec<u8> {
    let mut k = vec![0u8; size as usize];
    for (j, b) in k.iter_mut().enumerate() {
        *b = (i >> (8 * (j % 4))) as u8 ^ j as u8;
    }
    k
}

fn value_at(m: &HashMap, key: &[u8]) -> Option<u64> {
    let p = m.lookup_ptr(key, 0)?;
    let mut out = [0u8; 8];
    m.lookup(key, &mut out, 0).unwrap();
    let off = m.st.offset_of(p.as_ptr()).unwrap();
    let mut via_ptr = [0u8; 8];
    m.st.read(off, &mut via_ptr);
    assert_eq!(out, via_ptr, "lookup and lookup_ptr agree");
    Some(u64::from_ne_bytes(out))
}

/// Random inserts, replacements and deletes against a model, for slot and chain members.
#[test]
fn slots_and_chains_match_a_model() {
    for key_size in [2, 4, 8, 16, 5, 12] {
        for buckets in [1, 2, 8] {
            let max = 40;
            let m = crowded(MapType::Hash, key_size, max, buckets);
            let mut model = BTreeMap::new();
            let mut x = 0x1234_5678u32;
            for step in 0..4000u32 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = x % 60;
                let k = key(i, key_size);
                match x >> 28 {
                    0..=3 => {
                        let r = m.delete(&k);
                        assert_eq!(r.is_ok(), model.remove(&i).is_some());
                    }
                    _ => {
                        let r = m.update(&k, &u64::from(step).to_ne_bytes(), BPF_ANY);
                        if model.contains_key(&i) || model.len() < max as usize {
                            r.unwrap();
                            model.insert(i, u64::from(step));
                        } else {
                            assert_eq!(r, Err(MapError::TooBig));
                        }
                    }
                }
                assert_eq!(m.len(), model.len());
                for j in 0..60 {
                    assert_eq!(value_at(&m, &key(j, key_size)), model.get(&j).copied());
                }
            }
            // Iteration visits every key once.
            let mut seen = Vec::new();
            let mut cur: Option<Vec<u8>> = None;
            let mut out = vec![0u8; key_size as usize];
            while m.get_next_key(cur.as_deref(), &mut out).is_ok() {
                seen.push(out.clone());
                cur = Some(out.clone());
            }
            let mut want: Vec<Vec<u8>> = model.keys().map(|&i| key(i, key_size)).collect();
            seen.sort();
            want.sort();
            assert_eq!(seen, want);
            let mut n = 0;
            m.for_each(0, |_, _| {
                n += 1;
                false
            });
            assert_eq!(n as usize, model.len());
        }
    }
}

/// Lock-free lookups stay exact while a writer rewrites the bucket around them. The key
/// copy of slot 1 flips between two keys that each share a word with the looked-up key
/// `b` (and with the absent key `x`), so a lookup that mixed the words of two writes would
/// find `b` in the wrong slot or find `x` at all: the bucket's sequence check must send
/// it to the retry instead. Members without copies (slot 2, the chain) are looked up too.
#[test]
fn lookups_never_mix_concurrent_rewrites() {
    let k = |x: u64, y: u64| {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&x.to_le_bytes());
        k[8..].copy_from_slice(&y.to_le_bytes());
        k
    };
    let m = crowded(MapType::Hash, 16, 8, 1);
    let (b, a1, a2, x) = (k(1, 2), k(1, 5), k(7, 2), k(7, 5));
    let (d, e) = (k(3, 3), k(4, 4));
    for key in [b, a1, d, e] {
        m.update(&key, &[9; 8], BPF_ANY).unwrap();
    }
    let stable = [b, d, e].map(|key| (key, m.lookup_ptr(&key, 0).unwrap()));
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..100_000 {
                m.delete(&a1).unwrap();
                m.update(&a2, &[1; 8], BPF_NOEXIST).unwrap();
                m.delete(&a2).unwrap();
                m.update(&a1, &[2; 8], BPF_NOEXIST).unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        let mut rounds = 0u64;
        while !done.load(Ordering::Relaxed) || rounds < 1000 {
            for (key, p) in stable {
                assert_eq!(m.lookup_ptr(&key, 0), Some(p), "stable key {key:?}");
            }
            assert_eq!(m.lookup_ptr(&x, 0), None, "a key never inserted");
            rounds += 1;
        }
    });
    assert_eq!(m.len(), 4);
}

/// A lookup that meets a bucket in the middle of a write (its sequence odd) waits for
/// the writer instead of trusting the line: here slot 1's key copy is half rewritten so
/// that it reads as the looked-up key, which the fast path would otherwise accept.
#[test]
fn lookups_wait_for_a_writer_in_the_bucket() {
    let m = crowded(MapType::Hash, 16, 8, 1);
    let (b, a) = ([1u8; 16], [[1u8; 8], [5u8; 8]].concat());
    m.update(&b, &[9; 8], BPF_ANY).unwrap();
    m.update(&a, &[9; 8], BPF_ANY).unwrap();
    let pb = m.lookup_ptr(&b, 0).unwrap();
    let copy1 = m.bucket(0) + B_KEYS + 16 + 8;
    let g = seq_lock(m.seq(0));
    m.st.u64_at(copy1)
        .store(0x0101_0101_0101_0101, Ordering::Relaxed);
    std::thread::scope(|s| {
        let reader = s.spawn(|| m.lookup_ptr(&b, 0).map(|p| p.as_ptr() as usize));
        // Give the reader time to meet the odd sequence (correct either way).
        std::thread::sleep(std::time::Duration::from_millis(20));
        m.st.u64_at(copy1)
            .store(0x0505_0505_0505_0505, Ordering::Relaxed);
        drop(g);
        assert_eq!(reader.join().unwrap(), Some(pb.as_ptr() as usize));
    });
}

/// The end of a fast path's read section rejects what it read once a writer has been in
/// the bucket since the section began, or was in it then: the torn-copy case of
/// `lookups_never_mix_concurrent_rewrites`, made deterministic.
#[test]
fn fast_reads_are_rejected_after_a_writer() {
    let m = crowded(MapType::Hash, 16, 8, 1);
    m.update(&[1; 16], &[9; 8], BPF_ANY).unwrap();
    let seq = m.seq(0);
    let s = seq.load(Ordering::Acquire);
    let idx = m.slot(0, 0).load(Ordering::Acquire) as u32;
    assert_eq!(m.fast_result(seq, s, idx), Some(idx));
    assert_eq!(m.fast_result(seq, s, NIL), None, "no element");
    m.update(&[2; 16], &[9; 8], BPF_ANY).unwrap();
    assert_eq!(m.fast_result(seq, s, idx), None, "a writer came and went");
    let g = seq_lock(seq);
    let odd = seq.load(Ordering::Relaxed);
    assert_eq!(
        m.fast_result(seq, odd, idx),
        None,
        "a writer is in the bucket"
    );
    drop(g);
}

/// LRU eviction unlinks victims from slots and chains alike.
#[test]
fn lru_eviction_in_crowded_buckets() {
    for key_size in [4, 16] {
        let m = crowded(MapType::LruHash, key_size, 16, 2);
        for i in 0..200u32 {
            m.update(&key(i, key_size), &u64::from(i).to_ne_bytes(), BPF_ANY)
                .unwrap();
            assert!(m.len() <= 16);
            assert_eq!(value_at(&m, &key(i, key_size)), Some(u64::from(i)));
        }
        let mut n = 0;
        m.for_each(0, |k, _| {
            assert!(value_at(&m, k).is_some());
            n += 1;
            false
        });
        assert_eq!(n as usize, m.len());
    }
}
