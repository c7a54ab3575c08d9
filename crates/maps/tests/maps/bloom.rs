//! Bloom filter semantics (bloom_filter.c).

use crate::{create, spec};
use waggle_maps::{MapError, MapType, update::*};

#[test]
fn pushed_values_are_found() {
    let b = create(spec(MapType::BloomFilter, 0, 8, 1000).with_map_extra(3), 1);
    for i in 0..1000u64 {
        b.push(&i.to_ne_bytes(), BPF_ANY).unwrap();
    }
    for i in 0..1000u64 {
        b.peek(&mut i.to_ne_bytes()).unwrap();
        b.prog_peek(&mut i.to_ne_bytes()).unwrap();
    }
    let false_pos = (1000..11000u64)
        .filter(|i| b.peek(&mut i.to_ne_bytes()).is_ok())
        .count();
    assert!(false_pos < 1500, "{false_pos} false positives out of 10000");
}

#[test]
fn bloom_errors() {
    let b = create(spec(MapType::BloomFilter, 0, 4, 10), 1);
    let mut v = [1u8; 4];
    assert_eq!(b.peek(&mut v), Err(MapError::NotFound));
    assert!(matches!(b.push(&v, BPF_EXIST), Err(MapError::Invalid(_))));
    b.prog_push(&v, BPF_ANY).unwrap();
    b.peek(&mut v).unwrap();
    assert_eq!(b.delete(&[]), Err(MapError::OpNotSupported));
    assert_eq!(b.prog_pop(&mut v), Err(MapError::OpNotSupported));
    let mut key = [0u8; 0];
    assert_eq!(
        b.get_next_key(None, &mut key),
        Err(MapError::OpNotSupported)
    );
    assert_eq!(
        b.lookup_and_delete(&[], &mut v, 0),
        Err(MapError::NotSupported)
    );
    assert!(b.lookup_ptr(&[], 0).is_none());
}
