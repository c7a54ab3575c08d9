//! Prog arrays, map-in-map maps and perf event arrays.

use crate::{create, k, spec};
use std::sync::Arc;
use waggle_maps::{
    Map, MapError, MapOptions, MapSpec, MapType, ObjectRef, PerfRecord, RefResolver, update::*,
};

/// Handles 1..=9 name objects whose id is handle * 100.
struct Table;

impl RefResolver for Table {
    fn resolve(&self, _map: &MapSpec, handle: u32) -> waggle_maps::Result<ObjectRef> {
        if (1..=9).contains(&handle) {
            Ok(ObjectRef::new(
                handle * 100,
                Arc::new(format!("obj{handle}")),
            ))
        } else {
            Err(MapError::BadHandle)
        }
    }
}

fn with_table(s: MapSpec) -> Map {
    Map::create_with(
        &s,
        &MapOptions {
            ncpus: Some(1),
            resolver: Some(Arc::new(Table)),
        },
    )
    .unwrap()
}

#[test]
fn prog_array_slots() {
    let m = with_table(spec(MapType::ProgArray, 4, 4, 4));
    let mut id = [0u8; 4];
    assert_eq!(m.lookup(&k(0), &mut id), Err(MapError::NotFound));
    m.update(&k(0), &3u32.to_ne_bytes(), BPF_ANY).unwrap();
    m.lookup(&k(0), &mut id).unwrap();
    assert_eq!(u32::from_ne_bytes(id), 300);
    let obj = m.lookup_ref(&k(0)).unwrap();
    assert_eq!(obj.downcast::<String>().unwrap().as_str(), "obj3");
    assert!(matches!(
        m.update(&k(0), &3u32.to_ne_bytes(), BPF_NOEXIST),
        Err(MapError::Invalid(_))
    ));
    assert_eq!(
        m.update(&k(4), &3u32.to_ne_bytes(), BPF_ANY),
        Err(MapError::TooBig)
    );
    assert_eq!(
        m.update(&k(1), &42u32.to_ne_bytes(), BPF_ANY),
        Err(MapError::BadHandle)
    );
    assert_eq!(m.delete(&k(4)), Err(MapError::TooBig));
    m.delete(&k(0)).unwrap();
    assert_eq!(m.delete(&k(0)), Err(MapError::NotFound));
    assert!(m.lookup_ref(&k(0)).is_none());
    assert!(m.lookup_ptr(&k(0), 0).is_none());
    let mut key = [0u8; 4];
    m.get_next_key(Some(&k(2)), &mut key).unwrap();
    assert_eq!(key, k(3));
}

#[test]
fn references_are_released() {
    let m = create(spec(MapType::ArrayOfMaps, 4, 4, 2), 1);
    let inner = Arc::new(5u64);
    m.update_ref(&k(1), ObjectRef::new(7, inner.clone()), BPF_ANY)
        .unwrap();
    assert_eq!(Arc::strong_count(&inner), 2);
    // Without a resolver a raw handle cannot be stored.
    assert_eq!(
        m.update(&k(0), &1u32.to_ne_bytes(), BPF_ANY),
        Err(MapError::BadHandle)
    );
    m.clear_refs();
    assert_eq!(Arc::strong_count(&inner), 1);
    m.update_ref(&k(1), ObjectRef::new(7, inner.clone()), BPF_ANY)
        .unwrap();
    drop(m);
    assert_eq!(Arc::strong_count(&inner), 1);
}

#[test]
fn hash_of_maps() {
    let m = with_table(spec(MapType::HashOfMaps, 8, 4, 2));
    let key = |i: u64| i.to_ne_bytes();
    m.update(&key(10), &1u32.to_ne_bytes(), BPF_NOEXIST)
        .unwrap();
    assert_eq!(
        m.update(&key(10), &2u32.to_ne_bytes(), BPF_NOEXIST),
        Err(MapError::Exists)
    );
    assert_eq!(
        m.update(&key(11), &2u32.to_ne_bytes(), BPF_EXIST),
        Err(MapError::NotFound)
    );
    m.update(&key(11), &2u32.to_ne_bytes(), BPF_ANY).unwrap();
    assert_eq!(
        m.update(&key(12), &2u32.to_ne_bytes(), BPF_ANY),
        Err(MapError::TooBig)
    );
    let mut id = [0u8; 4];
    m.lookup(&key(11), &mut id).unwrap();
    assert_eq!(u32::from_ne_bytes(id), 200);
    assert_eq!(m.lookup_ref(&key(10)).unwrap().id(), 100);
    let mut next = [0u8; 8];
    m.get_next_key(None, &mut next).unwrap();
    m.get_next_key(Some(&next.clone()), &mut next).unwrap();
    let last = next;
    assert_eq!(
        m.get_next_key(Some(&last), &mut next),
        Err(MapError::NotFound)
    );
    m.delete(&key(10)).unwrap();
    assert_eq!(m.delete(&key(10)), Err(MapError::NotFound));
    let before = m.memory_usage();
    m.clear_refs();
    assert!(m.memory_usage() < before);
}

#[test]
fn perf_event_array_outputs_and_drains() {
    let m = create(spec(MapType::PerfEventArray, 4, 4, 2), 2);
    let p = m.as_perf_event_array().unwrap();
    use waggle_maps::perf::BPF_F_CURRENT_CPU;
    assert_eq!(
        p.output(0, BPF_F_CURRENT_CPU, b"x"),
        Err(MapError::NotFound)
    );
    m.update(&k(0), &99u32.to_ne_bytes(), BPF_ANY).unwrap();
    p.open(1, 1, 64).unwrap();
    p.output(0, BPF_F_CURRENT_CPU, b"hello").unwrap();
    p.output(1, 1, b"abc").unwrap();
    assert_eq!(p.output(0, 1, b"abc"), Err(MapError::OpNotSupported));
    assert_eq!(p.output(0, 5, b"abc"), Err(MapError::TooBig));
    assert!(matches!(
        p.output(0, 1 << 60, b"abc"),
        Err(MapError::Invalid(_))
    ));
    // Slot 1 holds 64 bytes: records of 12-byte headers and padded samples fill it.
    let mut ok = 0;
    while p.output(1, BPF_F_CURRENT_CPU, &[7; 20]).is_ok() {
        ok += 1;
    }
    assert_eq!(
        p.output(1, BPF_F_CURRENT_CPU, &[7; 20]),
        Err(MapError::NoSpace)
    );
    assert!(p.wait(std::time::Duration::from_millis(1)));
    let mut got = Vec::new();
    p.drain(0, |r| match r {
        PerfRecord::Sample(s) => got.push(s.to_vec()),
        PerfRecord::Lost(n) => panic!("lost {n}"),
    })
    .unwrap();
    // perf pads raw samples so that size + 4 is a multiple of 8.
    assert_eq!(got, vec![b"hello\0\0\0\0\0\0\0".to_vec()]);
    let mut lost = 0;
    let mut samples = 0;
    p.drain(1, |r| match r {
        PerfRecord::Sample(_) => samples += 1,
        PerfRecord::Lost(n) => lost = n,
    })
    .unwrap();
    assert_eq!(samples, 1 + ok);
    assert_eq!(lost, 2);
    let mut id = [0u8; 4];
    assert_eq!(m.lookup(&k(0), &mut id), Err(MapError::NotSupported));
    m.delete(&k(0)).unwrap();
    assert_eq!(m.delete(&k(0)), Err(MapError::NotFound));
}
