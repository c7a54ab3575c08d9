//! Array and per-CPU array semantics (arraymap.c).

use crate::{create, get_u64, k, spec};
use waggle_maps::{Map, MapError, MapType, flags::*, update::*};

#[test]
fn elements_exist_and_start_zeroed() {
    let m = create(spec(MapType::Array, 4, 8, 4), 2);
    assert_eq!(get_u64(&m, &k(3)), Ok(0));
    assert_eq!(get_u64(&m, &k(4)), Err(MapError::NotFound));
    assert!(m.lookup_ptr(&k(4), 0).is_none());
}

#[test]
fn update_flags() {
    let m = create(spec(MapType::Array, 4, 8, 4), 2);
    let v = 5u64.to_ne_bytes();
    assert_eq!(m.update(&k(1), &v, BPF_NOEXIST), Err(MapError::Exists));
    m.update(&k(1), &v, BPF_EXIST).unwrap();
    m.update(&k(2), &v, BPF_ANY).unwrap();
    assert_eq!(m.update(&k(4), &v, BPF_ANY), Err(MapError::TooBig));
    assert!(matches!(m.update(&k(1), &v, 3), Err(MapError::Invalid(_))));
    // BPF_F_LOCK needs a spin lock in the value.
    assert!(matches!(
        m.update(&k(1), &v, BPF_F_LOCK),
        Err(MapError::Invalid(_))
    ));
    assert_eq!(get_u64(&m, &k(1)), Ok(5));
    assert!(matches!(m.delete(&k(1)), Err(MapError::Invalid(_))));
    assert!(matches!(
        m.update(&[1, 2], &v, BPF_ANY),
        Err(MapError::Invalid(_))
    ));
    assert!(matches!(
        m.update(&k(1), &[1], BPF_ANY),
        Err(MapError::Invalid(_))
    ));
}

#[test]
fn get_next_key_walks_indices() {
    let m = create(spec(MapType::Array, 4, 4, 3), 1);
    let mut out = [0u8; 4];
    m.get_next_key(None, &mut out).unwrap();
    assert_eq!(out, k(0));
    m.get_next_key(Some(&k(0)), &mut out).unwrap();
    assert_eq!(out, k(1));
    m.get_next_key(Some(&k(1)), &mut out).unwrap();
    assert_eq!(out, k(2));
    assert_eq!(
        m.get_next_key(Some(&k(2)), &mut out),
        Err(MapError::NotFound)
    );
    m.get_next_key(Some(&k(77)), &mut out).unwrap();
    assert_eq!(out, k(0));
}

#[test]
fn program_pointer_aliases_storage() {
    let m = create(spec(MapType::Array, 4, 12, 2), 1);
    let p = m.lookup_ptr(&k(1), 0).unwrap();
    assert_eq!(p.as_ptr() as usize % 8, 0);
    // SAFETY: the pointer addresses a 12-byte value inside the live map.
    unsafe { p.as_ptr().cast::<u32>().write(0xdead_beef) };
    let mut v = [0u8; 12];
    m.lookup(&k(1), &mut v).unwrap();
    assert_eq!(u32::from_ne_bytes(v[..4].try_into().unwrap()), 0xdead_beef);
    m.prog_update(&k(1), &[7; 12], BPF_ANY, 0).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { p.as_ptr().add(11).read() }, 7);
}

#[test]
fn percpu_values() {
    let m = create(spec(MapType::PercpuArray, 4, 4, 2), 3);
    assert_eq!(m.user_value_size(), 24);
    m.prog_update(&k(0), &9u32.to_ne_bytes(), BPF_ANY, 1)
        .unwrap();
    let p2 = m.lookup_ptr(&k(0), 2).unwrap();
    // SAFETY: CPU 2's 4-byte value in the live map.
    unsafe { p2.as_ptr().cast::<u32>().write(5) };
    let mut all = [0u8; 24];
    m.lookup(&k(0), &mut all).unwrap();
    assert_eq!(&all[0..4], &0u32.to_ne_bytes());
    assert_eq!(&all[8..12], &9u32.to_ne_bytes());
    assert_eq!(&all[16..20], &5u32.to_ne_bytes());
    let mut vals = [0u8; 24];
    for (i, c) in vals.chunks_mut(8).enumerate() {
        c[..4].copy_from_slice(&(i as u32 + 100).to_ne_bytes());
    }
    m.update(&k(1), &vals, BPF_ANY).unwrap();
    m.lookup(&k(1), &mut all).unwrap();
    assert_eq!(all, vals);
    assert!(matches!(
        m.update(&k(1), &vals, BPF_F_LOCK),
        Err(MapError::Invalid(_))
    ));
    assert_eq!(m.update(&k(1), &vals, BPF_NOEXIST), Err(MapError::Exists));
    assert!(matches!(
        m.update(&k(1), &[0; 4], BPF_ANY),
        Err(MapError::Invalid(_))
    ));
    assert!(m.lookup_ptr(&k(0), 3).is_none());
    assert!(m.lookup_percpu_ptr(&k(0), 2).is_some());
    let plain = create(spec(MapType::Array, 4, 4, 1), 3);
    assert!(plain.lookup_percpu_ptr(&k(0), 0).is_none());
}

#[test]
fn freeze_blocks_user_writes_only() {
    let m = create(spec(MapType::Array, 4, 8, 2), 1);
    m.freeze().unwrap();
    assert_eq!(m.freeze(), Err(MapError::Busy));
    assert_eq!(m.update(&k(0), &[1; 8], BPF_ANY).unwrap_err().errno(), 1);
    assert_eq!(get_u64(&m, &k(0)), Ok(0));
    // Programs may still write a frozen map unless it is read-only for them.
    m.prog_update(&k(0), &[1; 8], BPF_ANY, 0).unwrap();
}

#[test]
fn access_flags() {
    let ro = create(spec(MapType::Array, 4, 8, 1).with_flags(BPF_F_RDONLY), 1);
    assert!(matches!(
        ro.update(&k(0), &[0; 8], 0),
        Err(MapError::PermissionDenied(_))
    ));
    assert!(matches!(ro.freeze(), Err(MapError::PermissionDenied(_))));
    get_u64(&ro, &k(0)).unwrap();
    let wo = create(spec(MapType::Array, 4, 8, 1).with_flags(BPF_F_WRONLY), 1);
    assert!(matches!(
        get_u64(&wo, &k(0)),
        Err(MapError::PermissionDenied(_))
    ));
    let mut key = [0u8; 4];
    assert!(matches!(
        wo.get_next_key(None, &mut key),
        Err(MapError::PermissionDenied(_))
    ));
    wo.update(&k(0), &[0; 8], 0).unwrap();
    let rodata = create(
        spec(MapType::Array, 4, 8, 1).with_flags(BPF_F_RDONLY_PROG),
        1,
    );
    rodata.update(&k(0), &[3; 8], 0).unwrap();
    assert!(matches!(
        rodata.prog_update(&k(0), &[0; 8], 0, 0),
        Err(MapError::PermissionDenied(_))
    ));
    assert!(rodata.lookup_ptr(&k(0), 0).is_some());
}

#[test]
fn spin_lock_values() {
    let m = create(spec(MapType::Array, 4, 16, 1).with_spin_lock(0), 1);
    let p = m.lookup_ptr(&k(0), 0).unwrap();
    let mut v = [0xffu8; 16];
    m.update(&k(0), &v, BPF_F_LOCK).unwrap();
    // The lock word is never overwritten by updates and reads back as zero.
    // SAFETY: the lock word at offset 0 of the live value.
    assert_eq!(unsafe { p.as_ptr().cast::<u32>().read() }, 0);
    m.lookup_with_flags(&k(0), &mut v, BPF_F_LOCK).unwrap();
    assert_eq!(&v[..4], &[0; 4]);
    assert_eq!(&v[4..], &[0xff; 12]);
    // SAFETY: `p` is the value's bpf_spin_lock; lock and unlock pair up.
    unsafe {
        waggle_maps::bpf_spin_lock(p);
        waggle_maps::bpf_spin_unlock(p);
    }
    assert!(matches!(
        m.lookup_with_flags(&k(0), &mut v, 8),
        Err(MapError::Invalid(_))
    ));
}

#[test]
fn lookup_and_delete_not_supported() {
    let m = Map::create(&spec(MapType::Array, 4, 8, 1)).unwrap();
    let mut v = [0u8; 8];
    assert_eq!(
        m.lookup_and_delete(&k(0), &mut v, 0),
        Err(MapError::NotSupported)
    );
}

#[test]
fn for_each_visits_all() {
    let m = create(spec(MapType::Array, 4, 8, 5), 1);
    let mut seen = Vec::new();
    let n = m
        .for_each(0, |key, _| {
            seen.push(u32::from_ne_bytes(key.try_into().unwrap()));
            seen.len() == 3
        })
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(seen, [0, 1, 2]);
}
