//! Values holding a `struct bpf_timer`: where the kernel allows it, copies around it, and the
//! release hook called when an element's timer must go (`bpf_obj_free_fields`).

use super::{create, k};
use std::sync::{Arc, Mutex};
use waggle_maps::{MapError, MapSpec, MapType, ReleaseHook};

/// A hook recording the value addresses it is called with.
fn recorder() -> (ReleaseHook, Arc<Mutex<Vec<usize>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let hook = ReleaseHook(Arc::new(move |v| {
        s.lock().unwrap().push(v.as_ptr() as usize)
    }));
    (hook, seen)
}

#[test]
fn timers_only_where_linux_allows_them() {
    let ok = |t, off| MapSpec::new(t, 4, 32, 4).with_timer(off).validate();
    assert_eq!(ok(MapType::Array, 8), Ok(()));
    assert_eq!(ok(MapType::Hash, 16), Ok(()));
    assert_eq!(ok(MapType::LruHash, 0), Ok(()));
    assert_eq!(ok(MapType::PercpuArray, 8), Err(MapError::OpNotSupported));
    assert_eq!(ok(MapType::PercpuHash, 8), Err(MapError::OpNotSupported));
    assert!(
        matches!(ok(MapType::Array, 4), Err(MapError::Invalid(_))),
        "misaligned"
    );
    assert!(
        matches!(ok(MapType::Array, 24), Err(MapError::Invalid(_))),
        "past the end"
    );
    let overlap = MapSpec::new(MapType::Array, 4, 32, 1)
        .with_timer(8)
        .with_spin_lock(12)
        .validate();
    assert!(matches!(overlap, Err(MapError::Invalid(_))));
}

#[test]
fn user_space_never_sees_or_writes_the_timer() {
    let m = create(MapSpec::new(MapType::Array, 4, 32, 2).with_timer(8), 2);
    let v = m.lookup_ptr(&k(1), 0).unwrap();
    m.update(&k(1), &[0xaa; 32], 0).unwrap();
    let mut out = [0u8; 32];
    m.lookup(&k(1), &mut out).unwrap();
    assert_eq!(&out[..8], &[0xaa; 8]);
    assert_eq!(&out[8..24], &[0; 16], "the timer reads as zeros");
    assert_eq!(&out[24..], &[0xaa; 8]);
    // The update did not write the field itself either (copy_map_value skips it).
    let waggle_maps::MapKind::Array(a) = m.kind() else {
        panic!("an array")
    };
    let mut raw = [0u8; 32];
    a.storage().read(32, &mut raw);
    assert_eq!(&raw[8..24], &[0; 16]);
    assert_eq!(m.key_of_value(v), Some(k(1).to_vec()));
    assert_eq!(
        m.freeze(),
        Err(MapError::NotSupported),
        "no freezing with a timer"
    );
}

#[test]
fn array_update_releases_the_overwritten_timer() {
    let m = create(MapSpec::new(MapType::Array, 4, 24, 2).with_timer(0), 2);
    let (hook, seen) = recorder();
    assert!(m.set_release_hook(hook.clone()));
    assert!(!m.set_release_hook(hook), "one hook per map");
    m.update(&k(1), &[1; 24], 0).unwrap();
    m.prog_update(&k(0), &[2; 24], 0, 0).unwrap();
    let want = vec![
        m.lookup_ptr(&k(1), 0).unwrap().as_ptr() as usize,
        m.lookup_ptr(&k(0), 0).unwrap().as_ptr() as usize,
    ];
    assert_eq!(*seen.lock().unwrap(), want);
}

#[test]
fn hash_delete_replace_and_eviction_release_timers() {
    let m = create(MapSpec::new(MapType::Hash, 4, 16, 4).with_timer(0), 2);
    let (hook, seen) = recorder();
    assert!(m.set_release_hook(hook));
    m.update(&k(1), &[0; 16], 0).unwrap();
    let first = m.lookup_ptr(&k(1), 0).unwrap();
    assert_eq!(m.key_of_value(first), Some(k(1).to_vec()));
    seen.lock().unwrap().clear();
    // Replacing the element releases the old one.
    m.update(&k(1), &[0; 16], 0).unwrap();
    assert!(seen.lock().unwrap().contains(&(first.as_ptr() as usize)));
    let second = m.lookup_ptr(&k(1), 0).unwrap();
    m.delete(&k(1)).unwrap();
    assert!(seen.lock().unwrap().contains(&(second.as_ptr() as usize)));

    let lru = create(MapSpec::new(MapType::LruHash, 4, 16, 2).with_timer(0), 1);
    let (hook, seen) = recorder();
    assert!(lru.set_release_hook(hook));
    for i in 0..8 {
        lru.update(&k(i), &[0; 16], 0).unwrap();
    }
    // Each of the 8 new elements starts with its timer released (a reused element may
    // have had one), and each of the 6 evicted ones releases its own.
    assert_eq!(
        seen.lock().unwrap().len(),
        8 + 6,
        "{:?}",
        seen.lock().unwrap()
    );
    // Maps without a timer take no hook.
    let plain = create(MapSpec::new(MapType::Hash, 4, 16, 4), 1);
    assert!(!plain.set_release_hook(recorder().0));
}
