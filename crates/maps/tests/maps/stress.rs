//! Multi-threaded stress tests: many threads (programs) and user space on one map at once.
//! Bounded by operation counts, a few seconds in total even unoptimised.

use crate::{create, k, spec};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;
use waggle_maps::{Map, MapError, MapType, update::*};

const MAGIC: u64 = 0x5a5a_1234_8765_a5a5;

/// A 16-byte value that is only consistent if read whole.
fn val(key: u32, generation: u64) -> [u8; 16] {
    let a = (u64::from(key) << 32) | (generation & 0xffff_ffff);
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&a.to_ne_bytes());
    v[8..].copy_from_slice(&(a ^ MAGIC).to_ne_bytes());
    v
}

fn check(key: u32, v: &[u8; 16]) {
    let a = u64::from_ne_bytes(v[..8].try_into().unwrap());
    let b = u64::from_ne_bytes(v[8..].try_into().unwrap());
    assert_eq!(a ^ MAGIC, b, "torn value");
    assert_eq!((a >> 32) as u32, key, "value of another key");
}

/// Key `key` as `m`'s key size (4 to 32 bytes): the number first and, for longer keys, its
/// complement last, so keys differ in more than one word.
fn key_of(m: &Map, key: u32) -> Vec<u8> {
    let ks = m.spec().key_size as usize;
    let mut b = vec![0u8; ks];
    b[..4].copy_from_slice(&key.to_ne_bytes());
    if ks >= 8 {
        b[ks - 4..].copy_from_slice(&(!key).to_ne_bytes());
    }
    b
}

fn count_keys(m: &Map) -> usize {
    let mut key = vec![0u8; m.spec().key_size as usize];
    let mut prev: Option<Vec<u8>> = None;
    let mut seen = HashSet::new();
    while m.get_next_key(prev.as_deref(), &mut key).is_ok() {
        assert!(seen.insert(key.clone()), "duplicate key in iteration");
        prev = Some(key.clone());
    }
    seen.len()
}

/// Multiplier for operation counts (`WAGGLE_STRESS_SCALE`, default 1) for longer local runs.
fn scale() -> u32 {
    std::env::var("WAGGLE_STRESS_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn rng(seed: u64) -> impl FnMut() -> u32 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 16) as u32
    }
}

fn hammer(m: &Arc<Map>, threads: u64, ops: u32, keys: u32) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut hs = Vec::new();
    for t in 0..threads {
        let m = m.clone();
        hs.push(thread::spawn(move || {
            let mut r = rng(t * 7 + 3);
            let mut out = [0u8; 16];
            for i in 0..ops * scale() {
                let key = r() % keys;
                match r() % 10 {
                    0..=3 => {
                        match m.prog_update(&key_of(&m, key), &val(key, u64::from(i)), BPF_ANY, 0) {
                            Ok(()) | Err(MapError::TooBig) => {}
                            Err(e) => panic!("update: {e}"),
                        }
                    }
                    4 => match m.delete(&key_of(&m, key)) {
                        Ok(()) | Err(MapError::NotFound) => {}
                        Err(e) => panic!("delete: {e}"),
                    },
                    5 => match m.update(&key_of(&m, key), &val(key, 0), BPF_NOEXIST) {
                        Ok(()) | Err(MapError::Exists) | Err(MapError::TooBig) => {}
                        Err(e) => panic!("insert: {e}"),
                    },
                    6 => {
                        if m.lookup_and_delete(&key_of(&m, key), &mut out, 0).is_ok() {
                            check(key, &out);
                        }
                    }
                    _ => {
                        if m.lookup(&key_of(&m, key), &mut out).is_ok() {
                            check(key, &out);
                        }
                        let _ = m.lookup_ptr(&key_of(&m, key), 0);
                    }
                }
            }
        }));
    }
    // User space iterates concurrently.
    let iter = {
        let m = m.clone();
        let stop = stop.clone();
        thread::spawn(move || {
            // Under churn an iteration may restart (its key was deleted): only check that
            // every step answers sanely.
            let mut key = vec![0u8; m.spec().key_size as usize];
            let mut prev: Option<Vec<u8>> = None;
            while !stop.load(Ordering::Relaxed) {
                match m.get_next_key(prev.as_deref(), &mut key) {
                    Ok(()) => prev = Some(key.clone()),
                    Err(MapError::NotFound) => prev = None,
                    Err(e) => panic!("get_next_key: {e}"),
                }
            }
        })
    };
    for h in hs {
        h.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    iter.join().unwrap();
    let n = count_keys(m);
    assert!(n <= m.spec().max_entries as usize);
    if let waggle_maps::MapKind::Hash(h) = m.kind() {
        assert_eq!(h.len(), n, "element count drifted");
    }
    let mut out = [0u8; 16];
    for key in 0..keys {
        if m.lookup(&key_of(m, key), &mut out).is_ok() {
            check(key, &out);
        }
    }
}

#[test]
fn hash_many_threads_same_keys() {
    let m = Arc::new(create(spec(MapType::Hash, 4, 16, 256), 4));
    hammer(&m, 4, 20_000, 64);
}

#[test]
fn hash_full_with_contention() {
    // More keys than room: E2BIG paths and replacement with few spare elements.
    let m = Arc::new(create(spec(MapType::Hash, 4, 16, 32), 1));
    hammer(&m, 4, 20_000, 100);
}

#[test]
fn hash_long_keys_with_bucket_copies() {
    // 8- and 16-byte keys have copies in their bucket; 12 is padded; 24 has none. Few
    // buckets, so slots fill up and chains form.
    for ks in [8, 12, 16, 24] {
        let m = Arc::new(create(spec(MapType::Hash, ks, 16, 16), 2));
        hammer(&m, 3, 10_000, 40);
        let m = Arc::new(create(spec(MapType::LruHash, ks, 16, 16), 2));
        hammer(&m, 3, 5_000, 40);
    }
}

#[test]
fn lru_under_contention() {
    let m = Arc::new(create(spec(MapType::LruHash, 4, 16, 64), 4));
    hammer(&m, 4, 20_000, 500);
    // Every thread's fresh inserts succeed by evicting.
    for key in 1000..1200 {
        m.update(&k(key), &val(key, 1), BPF_ANY).unwrap();
    }
    assert_eq!(count_keys(&m), 64);
}

#[test]
fn ringbuf_producers_one_consumer() {
    const PRODUCERS: u32 = 4;
    let per: u32 = 5_000 * scale();
    let m = Arc::new(create(spec(MapType::Ringbuf, 0, 0, 16 * 4096), 1));
    let mut hs = Vec::new();
    for p in 0..PRODUCERS {
        let m = m.clone();
        hs.push(thread::spawn(move || {
            let rb = m.as_ringbuf().unwrap();
            let mut r = rng(u64::from(p) + 11);
            let mut seq = 0;
            while seq < per {
                let len = 8 + (r() % 120) as usize;
                let discard = r().is_multiple_of(16);
                let Some(ptr) = rb.reserve(len as u64, 0) else {
                    thread::yield_now();
                    continue;
                };
                let mut data = vec![0u8; len];
                data[..4].copy_from_slice(&p.to_ne_bytes());
                data[4..8].copy_from_slice(&seq.to_ne_bytes());
                for (i, b) in data[8..].iter_mut().enumerate() {
                    *b = (p as usize * 31 + seq as usize + i) as u8;
                }
                // SAFETY: `ptr` is a reserved sample of `len` bytes.
                unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), ptr.as_ptr(), len) };
                if discard {
                    rb.discard(ptr, 0).unwrap();
                    data[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
                    continue;
                }
                rb.submit(ptr, 0).unwrap();
                seq += 1;
            }
        }));
    }
    let rb = m.as_ringbuf().unwrap();
    let mut next = [0u32; PRODUCERS as usize];
    let mut total = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while total < PRODUCERS * per {
        assert!(std::time::Instant::now() < deadline, "records missing");
        rb.poll(Duration::from_millis(50), |s| {
            let p = u32::from_ne_bytes(s[..4].try_into().unwrap());
            let seq = u32::from_ne_bytes(s[4..8].try_into().unwrap());
            assert_eq!(
                seq, next[p as usize],
                "producer {p}: lost, duplicated or reordered"
            );
            for (i, &b) in s[8..].iter().enumerate() {
                assert_eq!(
                    b,
                    (p as usize * 31 + seq as usize + i) as u8,
                    "corrupt record"
                );
            }
            next[p as usize] += 1;
            total += 1;
        });
    }
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(rb.consume(|_| panic!("extra record")), 0);
    assert_eq!(rb.query(waggle_maps::ringbuf::BPF_RB_AVAIL_DATA), 0);
}

#[test]
fn array_atomic_counters_from_many_threads() {
    let m = Arc::new(create(spec(MapType::Array, 4, 8, 4), 4));
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for i in 0..50_000 * scale() {
                    let p = m.lookup_ptr(&k(i % 4), 0).unwrap();
                    // SAFETY: an aligned 8-byte value of the live map, updated atomically as a
                    // program's BPF_ATOMIC add does.
                    let a = unsafe { std::sync::atomic::AtomicU64::from_ptr(p.as_ptr().cast()) };
                    a.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let total: u64 = (0..4).map(|i| crate::get_u64(&m, &k(i)).unwrap()).sum();
    assert_eq!(total, 200_000 * u64::from(scale()));
}
