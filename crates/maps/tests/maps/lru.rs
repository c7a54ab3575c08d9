//! LRU hash semantics: evict the least recently used element instead of failing.

use crate::{create, get_u64, k, spec};
use waggle_maps::{Map, MapError, MapType, flags::*, update::*};

fn v(x: u64) -> [u8; 8] {
    x.to_ne_bytes()
}

fn present(m: &Map, i: u32) -> bool {
    get_u64(m, &k(i)).is_ok()
}

#[test]
fn full_lru_evicts_instead_of_e2big() {
    let m = create(spec(MapType::LruHash, 4, 8, 8), 1);
    for i in 0..100 {
        m.update(&k(i), &v(u64::from(i)), BPF_ANY).unwrap();
        assert!(present(&m, i), "the newest element is always there");
    }
    let live = (0..100).filter(|&i| present(&m, i)).count();
    assert_eq!(live, 8);
}

#[test]
fn referenced_elements_survive() {
    let m = create(spec(MapType::LruHash, 4, 8, 8), 1);
    for i in 0..8 {
        m.update(&k(i), &v(1), BPF_ANY).unwrap();
    }
    // Programs use keys 0..4; user-space lookups of 4..8 do not count as use.
    for i in 0..4 {
        assert!(m.lookup_ptr(&k(i), 0).is_some());
    }
    for i in 4..8 {
        get_u64(&m, &k(i)).unwrap();
    }
    for i in 100..104 {
        m.update(&k(i), &v(2), BPF_NOEXIST).unwrap();
    }
    for i in 0..4 {
        assert!(present(&m, i), "referenced key {i} was evicted");
    }
    for i in 4..8 {
        assert!(!present(&m, i), "unreferenced key {i} survived");
    }
    for i in 100..104 {
        assert!(present(&m, i));
    }
}

#[test]
fn updating_existing_key_when_full_keeps_others() {
    let m = create(spec(MapType::LruHash, 4, 8, 4), 1);
    for i in 0..4 {
        m.update(&k(i), &v(0), BPF_ANY).unwrap();
    }
    for round in 1..20 {
        m.update(&k(round % 4), &v(u64::from(round)), BPF_EXIST)
            .unwrap();
    }
    for i in 0..4 {
        assert!(present(&m, i));
    }
    assert_eq!(m.update(&k(9), &v(0), BPF_EXIST), Err(MapError::NotFound));
    assert_eq!(m.update(&k(0), &v(0), BPF_NOEXIST), Err(MapError::Exists));
}

#[test]
fn lru_flags_and_delete() {
    let m = create(spec(MapType::LruHash, 4, 8, 4), 1);
    assert!(matches!(
        m.update(&k(1), &v(1), BPF_F_LOCK),
        Err(MapError::Invalid(_))
    ));
    m.update(&k(1), &v(1), BPF_ANY).unwrap();
    m.delete(&k(1)).unwrap();
    assert_eq!(m.delete(&k(1)), Err(MapError::NotFound));
    let mut out = [0u8; 8];
    m.update(&k(2), &v(2), BPF_ANY).unwrap();
    m.lookup_and_delete(&k(2), &mut out, 0).unwrap();
    assert_eq!(out, v(2));
}

#[test]
fn lru_percpu_hash() {
    let m = create(
        spec(MapType::LruPercpuHash, 4, 8, 4).with_flags(BPF_F_NO_COMMON_LRU),
        2,
    );
    for i in 0..10 {
        m.prog_update(&k(i), &v(u64::from(i)), BPF_ANY, 1).unwrap();
    }
    let mut all = [0u8; 16];
    m.lookup(&k(9), &mut all).unwrap();
    assert_eq!(&all[..8], &v(0));
    assert_eq!(&all[8..], &v(9));
    let live = (0..10)
        .filter(|&i| m.lookup(&k(i), &mut all).is_ok())
        .count();
    assert_eq!(live, 4);
}
