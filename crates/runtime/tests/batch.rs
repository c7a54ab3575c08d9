//! The batch map commands (`map_lookup_batch`, `map_lookup_and_delete_batch`,
//! `map_update_batch`, `map_delete_batch`): cursors, counts, `ENOENT` at the end, flags,
//! per-CPU values and unsupported map types; and the same sequences run through the real
//! kernel's `bpf()` (skipped visibly where refused), whose results must agree.

use std::collections::BTreeMap;
use waggle_maps::{MapSpec, MapType};
use waggle_runtime::{BatchFlags, Handle, LookupBatch, MapCreate, Runtime};
use waggle_uapi::errno;

const NONE: BatchFlags = BatchFlags {
    elem_flags: 0,
    flags: 0,
};

fn map(rt: &Runtime, spec: MapSpec) -> Handle {
    rt.map_create(&MapCreate::new(spec, "batch")).expect("map")
}

fn keys_u32(range: std::ops::Range<u32>) -> Vec<u8> {
    range.flat_map(u32::to_ne_bytes).collect()
}

fn values_u64(range: std::ops::Range<u32>, mul: u64) -> Vec<u8> {
    range
        .flat_map(|k| (u64::from(k) * mul).to_ne_bytes())
        .collect()
}

/// Walks a whole map `count` at a time: every (key, value) and the count of each call.
fn walk(
    rt: &Runtime,
    m: Handle,
    count: u32,
    delete: bool,
) -> (BTreeMap<Vec<u8>, Vec<u8>>, Vec<u32>) {
    let info = rt.map(m).unwrap();
    let ks = info.inner.spec().key_size as usize;
    let vs = info.inner.user_value_size();
    let mut all = BTreeMap::new();
    let mut counts = Vec::new();
    let mut cursor: Option<Vec<u8>> = None;
    for _ in 0..1000 {
        let b: LookupBatch = if delete {
            rt.map_lookup_and_delete_batch(m, cursor.as_deref(), count, NONE)
        } else {
            rt.map_lookup_batch(m, cursor.as_deref(), count, NONE)
        }
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.keys.len(), b.count as usize * ks);
        assert_eq!(b.values.len(), b.count as usize * vs);
        assert!(b.count <= count);
        for (k, v) in b.keys.chunks(ks).zip(b.values.chunks(vs)) {
            assert!(
                all.insert(k.to_vec(), v.to_vec()).is_none(),
                "key {k:?} returned twice"
            );
        }
        counts.push(b.count);
        if b.end {
            assert_eq!(b.errno(), errno::ENOENT);
            return (all, counts);
        }
        assert_eq!(b.errno(), 0);
        cursor = b.out_batch;
        assert!(
            cursor.is_some(),
            "a batch that is not the end returned elements"
        );
    }
    panic!("the walk did not end");
}

#[test]
fn hash_batches_return_every_element_once_then_enoent() {
    let rt = Runtime::new();
    let m = map(&rt, MapSpec::new(MapType::Hash, 4, 8, 100));
    let done = rt
        .map_update_batch(m, &keys_u32(0..50), &values_u64(0..50, 3), 50, NONE)
        .unwrap();
    assert_eq!((done.count, done.error), (50, None));
    let (all, counts) = walk(&rt, m, 8, false);
    assert_eq!(all.len(), 50);
    for (k, v) in &all {
        let k = u32::from_ne_bytes(k[..4].try_into().unwrap());
        assert_eq!(
            u64::from_ne_bytes(v[..8].try_into().unwrap()),
            u64::from(k) * 3
        );
    }
    // 6 full batches, then the last 2 with ENOENT.
    assert_eq!(counts, [8, 8, 8, 8, 8, 8, 2]);
    // Asking for exactly what is left also reports the end (the bucket walk goes on).
    let (_, counts) = walk(&rt, m, 50, false);
    assert_eq!(counts, [50]);
    // Count 0: nothing, no cursor, not the end.
    let b = rt.map_lookup_batch(m, None, 0, NONE).unwrap();
    assert_eq!((b.count, b.out_batch, b.end), (0, None, false));
    // An empty map: ENOENT at once.
    let e = map(&rt, MapSpec::new(MapType::Hash, 4, 8, 4));
    let b = rt.map_lookup_batch(e, None, 4, NONE).unwrap();
    assert_eq!((b.count, b.end), (0, true));
}

#[test]
fn array_batches_follow_the_generic_walk() {
    let rt = Runtime::new();
    let m = map(&rt, MapSpec::new(MapType::Array, 4, 8, 10));
    let done = rt
        .map_update_batch(m, &keys_u32(0..10), &values_u64(0..10, 7), 10, NONE)
        .unwrap();
    assert_eq!(done.count, 10);
    let (all, counts) = walk(&rt, m, 4, false);
    assert_eq!(counts, [4, 4, 2]);
    assert_eq!(all.len(), 10);
    // Exactly the rest: not the end yet; the next call says so with nothing.
    let (_, counts) = walk(&rt, m, 5, false);
    assert_eq!(counts, [5, 5, 0]);
    let b = rt.map_lookup_batch(m, None, 3, NONE).unwrap();
    assert_eq!(b.out_batch.as_deref(), Some(&2u32.to_ne_bytes()[..]));
    assert_eq!(b.values, values_u64(0..3, 7));
    // Arrays cannot lookup-and-delete or delete in batches: ENOTSUPP.
    let e = rt
        .map_lookup_and_delete_batch(m, None, 3, NONE)
        .unwrap_err();
    assert_eq!(e.errno, errno::ENOTSUPP);
    let e = rt
        .map_delete_batch(m, &keys_u32(0..1), 1, NONE)
        .unwrap_err();
    assert_eq!(e.errno, errno::ENOTSUPP);
    // An index past the end: E2BIG for that element, after the ones before it.
    let done = rt
        .map_update_batch(m, &keys_u32(8..12), &values_u64(8..12, 1), 4, NONE)
        .unwrap();
    assert_eq!(done.count, 2);
    assert_eq!(done.error.unwrap().errno, errno::E2BIG);
}

#[test]
fn per_cpu_values_hold_every_cpu() {
    let rt = Runtime::new();
    let m = map(&rt, MapSpec::new(MapType::PercpuHash, 4, 4, 16));
    let vs = rt.map(m).unwrap().inner.user_value_size();
    let ncpus = rt.map(m).unwrap().inner.ncpus() as usize;
    assert_eq!(vs, 8 * ncpus, "4-byte values rounded up to 8 per CPU");
    // Key k, CPU c: k * 100 + c.
    let mut values = Vec::new();
    for k in 0..5u32 {
        for c in 0..ncpus as u32 {
            values.extend_from_slice(&(k * 100 + c).to_ne_bytes());
            values.extend_from_slice(&[0; 4]);
        }
    }
    let done = rt
        .map_update_batch(m, &keys_u32(0..5), &values, 5, NONE)
        .unwrap();
    assert_eq!(done.count, 5);
    let (all, _) = walk(&rt, m, 2, false);
    assert_eq!(all.len(), 5);
    for (k, v) in &all {
        let k = u32::from_ne_bytes(k[..4].try_into().unwrap());
        for (c, slot) in v.chunks(8).enumerate() {
            assert_eq!(
                u32::from_ne_bytes(slot[..4].try_into().unwrap()),
                k * 100 + c as u32
            );
        }
    }
}

#[test]
fn lookup_and_delete_drains_a_hash() {
    let rt = Runtime::new();
    let m = map(&rt, MapSpec::new(MapType::LruHash, 4, 8, 64));
    rt.map_update_batch(m, &keys_u32(0..30), &values_u64(0..30, 1), 30, NONE)
        .unwrap();
    let (all, counts) = walk(&rt, m, 7, true);
    assert_eq!(all.len(), 30);
    assert_eq!(counts, [7, 7, 7, 7, 2]);
    assert!(
        rt.map_dump(m).unwrap().is_empty(),
        "everything returned was deleted"
    );
}

#[test]
fn delete_batch_stops_at_the_first_missing_key() {
    let rt = Runtime::new();
    let m = map(&rt, MapSpec::new(MapType::Hash, 4, 8, 16));
    rt.map_update_batch(m, &keys_u32(0..4), &values_u64(0..4, 1), 4, NONE)
        .unwrap();
    let keys: Vec<u8> = [0u32, 1, 9, 2]
        .iter()
        .flat_map(|k| k.to_ne_bytes())
        .collect();
    let done = rt.map_delete_batch(m, &keys, 4, NONE).unwrap();
    assert_eq!(done.count, 2);
    assert_eq!(done.error.unwrap().errno, errno::ENOENT);
    let left: Vec<u32> = rt
        .map_dump(m)
        .unwrap()
        .iter()
        .map(|(k, _)| u32::from_ne_bytes(k[..4].try_into().unwrap()))
        .collect();
    let mut left = left;
    left.sort_unstable();
    assert_eq!(left, [2, 3], "the key after the failure is still there");
}

#[test]
fn flags_types_capacity_and_frozen_maps_are_refused_as_the_kernel_does() {
    let rt = Runtime::new();
    let m = map(&rt, MapSpec::new(MapType::Hash, 4, 8, 3));
    let (k, v) = (keys_u32(0..5), values_u64(0..5, 1));
    for f in [
        BatchFlags {
            elem_flags: 1, // BPF_NOEXIST: batches take only BPF_F_LOCK
            flags: 0,
        },
        BatchFlags {
            elem_flags: 4, // BPF_F_LOCK without a spin lock in the value
            flags: 0,
        },
    ] {
        assert_eq!(
            rt.map_update_batch(m, &k, &v, 1, f).unwrap_err().errno,
            errno::EINVAL
        );
        assert_eq!(
            rt.map_lookup_batch(m, None, 1, f).unwrap_err().errno,
            errno::EINVAL
        );
    }
    // `flags`: refused by hash table lookups only (the generic update ignores it).
    let f = BatchFlags {
        elem_flags: 0,
        flags: 1,
    };
    assert_eq!(
        rt.map_lookup_batch(m, None, 1, f).unwrap_err().errno,
        errno::EINVAL
    );
    assert_eq!(rt.map_update_batch(m, &k, &v, 1, f).unwrap().count, 1);
    // Full after 3: E2BIG with count 3.
    let done = rt.map_update_batch(m, &k, &v, 5, NONE).unwrap();
    assert_eq!(done.count, 3);
    assert_eq!(done.error.unwrap().errno, errno::E2BIG);
    // Buffers shorter than the count: EFAULT after what fits.
    let done = rt.map_update_batch(m, &k[..8], &v, 3, NONE).unwrap();
    assert_eq!((done.count, done.error.unwrap().errno), (2, errno::EFAULT));
    // A cursor of the wrong size.
    assert_eq!(
        rt.map_lookup_batch(m, Some(&[0u8; 3]), 1, NONE)
            .unwrap_err()
            .errno,
        errno::EINVAL
    );
    // Map types without batches.
    let q = map(&rt, MapSpec::new(MapType::Queue, 0, 8, 4));
    assert_eq!(
        rt.map_lookup_batch(q, None, 1, NONE).unwrap_err().errno,
        errno::ENOTSUPP
    );
    // Frozen: reads still work, writes are EPERM.
    rt.map_freeze(m).unwrap();
    assert_eq!(rt.map_lookup_batch(m, None, 8, NONE).unwrap().count, 3);
    assert_eq!(
        rt.map_delete_batch(m, &k, 1, NONE).unwrap_err().errno,
        errno::EPERM
    );
    assert_eq!(
        rt.map_lookup_and_delete_batch(m, None, 1, NONE)
            .unwrap_err()
            .errno,
        errno::EPERM
    );
}

// ---- against the kernel ----

mod kernel {
    use super::*;
    use std::io;
    use std::os::fd::OwnedFd;
    use waggle_kernel::{BatchSizes, MapCreate as KMap};

    fn possible_cpus() -> usize {
        let s = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
        let mut n = 0;
        for part in s.trim().split(',').filter(|p| !p.is_empty()) {
            n += match part.split_once('-') {
                Some((a, b)) => {
                    b.parse::<usize>().unwrap_or(0) - a.parse::<usize>().unwrap_or(0) + 1
                }
                None => 1,
            };
        }
        n.max(1)
    }

    fn errno_of(e: &Option<io::Error>) -> i32 {
        e.as_ref().and_then(io::Error::raw_os_error).unwrap_or(0)
    }

    /// A whole walk: the elements, the final errno, the count of each call.
    type Walk = (BTreeMap<Vec<u8>, Vec<u8>>, i32, Vec<u32>);

    /// Both sides' map for one spec.
    struct Pair {
        rt: Runtime,
        w: Handle,
        k: OwnedFd,
        sizes: BatchSizes,
    }

    impl Pair {
        fn new(spec: MapSpec) -> Pair {
            let rt = Runtime::new();
            let w = map(&rt, spec.clone());
            let k = waggle_kernel::map_create(&KMap {
                map_type: spec.map_type.as_u32(),
                key_size: spec.key_size,
                value_size: spec.value_size,
                max_entries: spec.max_entries,
                map_flags: spec.flags,
                name: "batch".into(),
                ..KMap::default()
            })
            .expect("kernel map");
            let vs = rt.map(w).unwrap().inner.user_value_size();
            Pair {
                rt,
                w,
                k,
                sizes: BatchSizes {
                    key_size: spec.key_size as usize,
                    value_size: vs,
                },
            }
        }

        /// (count, errno) of an update batch on both sides.
        fn update(&self, keys: &[u8], values: &[u8], count: u32, f: BatchFlags) -> [(u32, i32); 2] {
            let w = match self.rt.map_update_batch(self.w, keys, values, count, f) {
                Ok(d) => (d.count, d.error.map_or(0, |e| e.errno)),
                Err(e) => (count, e.errno),
            };
            let k = waggle_kernel::map_update_batch(
                &self.k,
                self.sizes,
                keys,
                values,
                count,
                (f.elem_flags, f.flags),
            );
            [w, (k.count, errno_of(&k.error))]
        }

        fn delete(&self, keys: &[u8], count: u32) -> [(u32, i32); 2] {
            let w = match self.rt.map_delete_batch(self.w, keys, count, NONE) {
                Ok(d) => (d.count, d.error.map_or(0, |e| e.errno)),
                Err(e) => (count, e.errno),
            };
            let k = waggle_kernel::map_delete_batch(&self.k, self.sizes, keys, count, (0, 0));
            [w, (k.count, errno_of(&k.error))]
        }

        /// A whole walk `count` at a time on the kernel: the elements, and the final errno
        /// (ENOENT at the end, or the error that stopped it).
        fn kernel_walk(&self, count: u32, delete: bool) -> Walk {
            let (ks, vs) = (self.sizes.key_size, self.sizes.value_size);
            let mut all = BTreeMap::new();
            let mut counts = Vec::new();
            let mut cursor: Option<Vec<u8>> = None;
            for _ in 0..1000 {
                let mut out = vec![0u8; ks.max(4)];
                let mut keys = vec![0u8; ks * count as usize];
                let mut values = vec![0u8; vs * count as usize];
                let b = waggle_kernel::map_lookup_batch(
                    &self.k,
                    delete,
                    self.sizes,
                    cursor.as_deref(),
                    &mut out,
                    &mut keys,
                    &mut values,
                    count,
                    (0, 0),
                );
                // Refusals before the walk (EINVAL, ENOTSUPP) leave `count` as given.
                let e = errno_of(&b.error);
                let n = if e == 0 || e == errno::ENOENT {
                    b.count as usize
                } else {
                    0
                };
                counts.push(n as u32);
                for i in 0..n {
                    all.insert(
                        keys[i * ks..(i + 1) * ks].to_vec(),
                        values[i * vs..(i + 1) * vs].to_vec(),
                    );
                }
                if b.error.is_some() {
                    return (all, errno_of(&b.error), counts);
                }
                cursor = Some(out);
            }
            panic!("the kernel's walk did not end");
        }

        fn waggle_walk(&self, count: u32, delete: bool) -> Walk {
            let mut all = BTreeMap::new();
            let mut counts = Vec::new();
            let mut cursor: Option<Vec<u8>> = None;
            for _ in 0..1000 {
                let r = if delete {
                    self.rt
                        .map_lookup_and_delete_batch(self.w, cursor.as_deref(), count, NONE)
                } else {
                    self.rt
                        .map_lookup_batch(self.w, cursor.as_deref(), count, NONE)
                };
                let b = match r {
                    Ok(b) => b,
                    Err(e) => return (all, e.errno, counts),
                };
                counts.push(b.count);
                let (ks, vs) = (self.sizes.key_size, self.sizes.value_size);
                for i in 0..b.count as usize {
                    all.insert(
                        b.keys[i * ks..(i + 1) * ks].to_vec(),
                        b.values[i * vs..(i + 1) * vs].to_vec(),
                    );
                }
                if b.end {
                    return (all, errno::ENOENT, counts);
                }
                cursor = b.out_batch;
            }
            panic!("Waggle's walk did not end");
        }
    }

    #[test]
    fn batches_agree_with_the_kernel() {
        if let Err(why) = waggle_kernel::probe() {
            println!("SKIPPED: kernel bpf() not available: {why}");
            return;
        }
        // Per-CPU values must have as many slots on both sides.
        waggle_maps::set_possible_cpus(possible_cpus() as u32);
        let mut compared = 0;
        for t in [
            MapType::Hash,
            MapType::PercpuHash,
            MapType::LruHash,
            MapType::LruPercpuHash,
            MapType::Array,
            MapType::PercpuArray,
            MapType::LpmTrie,
        ] {
            let lpm = t == MapType::LpmTrie;
            // LPM keys: a prefix length, then the address (/32 here).
            let key = |i: u32| -> Vec<u8> {
                if lpm {
                    [32u32.to_ne_bytes(), i.to_be_bytes()].concat()
                } else {
                    i.to_ne_bytes().to_vec()
                }
            };
            let spec = if lpm {
                MapSpec::new(t, 8, 8, 40).with_flags(1) // BPF_F_NO_PREALLOC
            } else {
                MapSpec::new(t, 4, 8, 40)
            };
            let p = Pair::new(spec);
            let vs = p.sizes.value_size;
            let n = 30u32;
            let keys: Vec<u8> = (0..n).flat_map(key).collect();
            let values: Vec<u8> = (0..n as usize * vs).map(|i| (i * 7 % 251) as u8).collect();
            let ctx = format!("{t:?}");
            // Refused flags.
            for f in [
                BatchFlags {
                    elem_flags: 1,
                    flags: 0,
                },
                BatchFlags {
                    elem_flags: 0,
                    flags: 1,
                },
            ] {
                let [w, k] = p.update(&keys, &values, 1, f);
                assert_eq!(w, k, "{ctx}: update with {f:?}");
                let w = p.rt.map_lookup_batch(p.w, None, 1, f).map(|b| b.count);
                let mut out = vec![0u8; 8];
                let (mut kk, mut kv) = (vec![0u8; p.sizes.key_size], vec![0u8; vs]);
                let b = waggle_kernel::map_lookup_batch(
                    &p.k,
                    false,
                    p.sizes,
                    None,
                    &mut out,
                    &mut kk,
                    &mut kv,
                    1,
                    (f.elem_flags, f.flags),
                );
                let k = b
                    .error
                    .as_ref()
                    .map_or(Ok(b.count), |e| Err(e.raw_os_error().unwrap_or(0)));
                assert_eq!(w.map_err(|e| e.errno), k, "{ctx}: lookup with {f:?}");
            }
            // Back to the empty map both sides started from.
            let [w, k] = p.delete(&keys, 1);
            assert_eq!(w.1, k.1, "{ctx}: delete");
            let [w, k] = p.update(&keys, &values, n, NONE);
            assert_eq!(w, k, "{ctx}: update batch");
            // Not 1 for hash tables: the kernel returns whole buckets, and ENOSPC when a
            // bucket holds more than asked for (see src/batch.rs).
            let is_hash = !matches!(t, MapType::Array | MapType::PercpuArray | MapType::LpmTrie);
            let counts: &[u32] = if is_hash {
                &[7, 30, 64]
            } else {
                &[1, 7, 30, 64]
            };
            for &count in counts {
                let (wa, we, wc) = p.waggle_walk(count, false);
                let (ka, ke, kc) = p.kernel_walk(count, false);
                assert_eq!(we, ke, "{ctx}: lookup batch of {count}: final errno");
                assert_eq!(wa, ka, "{ctx}: lookup batch of {count}: elements");
                // The generic walk's counts call by call (hash tables return whole buckets).
                if !is_hash {
                    assert_eq!(wc, kc, "{ctx}: lookup batch of {count}: counts");
                }
            }
            // Delete: two present, one absent, then stop.
            let del: Vec<u8> = [3u32, 4, 1000, 5].into_iter().flat_map(key).collect();
            let [w, k] = p.delete(&del, 4);
            assert_eq!(w.1, k.1, "{ctx}: delete batch errno");
            if w.1 != errno::ENOTSUPP {
                assert_eq!(w, k, "{ctx}: delete batch");
            }
            let (wa, we, _) = p.waggle_walk(9, true);
            let (ka, ke, _) = p.kernel_walk(9, true);
            assert_eq!(we, ke, "{ctx}: lookup-and-delete batch errno");
            assert_eq!(wa, ka, "{ctx}: lookup-and-delete batch elements");
            let (wa, ..) = p.waggle_walk(64, false);
            let (ka, ..) = p.kernel_walk(64, false);
            assert_eq!(wa, ka, "{ctx}: what is left");
            compared += 1;
        }
        // A type without batches.
        let q = Pair::new(MapSpec::new(MapType::Queue, 0, 8, 4));
        let (_, we, _) = q.waggle_walk(1, false);
        let (_, ke, _) = q.kernel_walk(1, false);
        assert_eq!(we, ke, "queue lookup batch");
        println!("{compared} map types: batch commands agree with the kernel");
    }
}
