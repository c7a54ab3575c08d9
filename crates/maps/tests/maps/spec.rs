//! `BPF_MAP_CREATE` checks.

use crate::spec;
use waggle_maps::{Map, MapError, MapSpec, MapType, flags::*};

fn err(s: MapSpec) -> MapError {
    Map::create(&s).expect_err("creation should fail")
}

fn einval(s: MapSpec) {
    assert!(matches!(err(s.clone()), MapError::Invalid(_)), "{s:?}");
}

#[test]
fn errno_values_match_the_kernel() {
    assert_eq!(MapError::NotFound.errno(), 2);
    assert_eq!(MapError::Exists.errno(), 17);
    assert_eq!(MapError::TooBig.errno(), 7);
    assert_eq!(MapError::Invalid("x").errno(), 22);
    assert_eq!(MapError::NoMemory.errno(), 12);
    assert_eq!(MapError::PermissionDenied("x").errno(), 1);
    assert_eq!(MapError::NoSpace.errno(), 28);
    assert_eq!(MapError::Busy.errno(), 16);
    assert_eq!(MapError::NotSupported.errno(), 524);
    assert_eq!(MapError::OpNotSupported.errno(), 95);
}

#[test]
fn map_type_numbers() {
    assert_eq!(MapType::Hash.as_u32(), 1);
    assert_eq!(MapType::LpmTrie.as_u32(), 11);
    assert_eq!(MapType::Queue.as_u32(), 22);
    assert_eq!(MapType::Ringbuf.as_u32(), 27);
    assert_eq!(MapType::BloomFilter.as_u32(), 30);
    assert_eq!(MapType::from_u32(13), Some(MapType::HashOfMaps));
    assert_eq!(MapType::from_u32(99), None);
    assert_eq!(MapType::LruPercpuHash.name(), "lru_percpu_hash");
}

#[test]
fn array_rules() {
    einval(spec(MapType::Array, 8, 4, 1));
    einval(spec(MapType::Array, 4, 0, 1));
    einval(spec(MapType::Array, 4, 4, 0));
    einval(spec(MapType::Array, 4, 4, 1).with_flags(BPF_F_NO_PREALLOC));
    einval(spec(MapType::Array, 4, 4, 1).with_flags(BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG));
    einval(spec(MapType::Array, 4, 4, 1).with_flags(BPF_F_RDONLY | BPF_F_WRONLY));
    einval(spec(MapType::PercpuArray, 4, 4, 1).with_flags(BPF_F_MMAPABLE));
    einval(spec(MapType::PercpuArray, 4, 4, 1).with_flags(BPF_F_NUMA_NODE));
    einval(spec(MapType::Array, 4, 4, 1).with_flags(BPF_F_PRESERVE_ELEMS));
    einval(spec(MapType::Array, 4, 4, 1).with_map_extra(1));
    assert_eq!(
        err(spec(MapType::PercpuArray, 4, 32 * 1024 + 1, 1)),
        MapError::TooBig
    );
    Map::create(&spec(MapType::Array, 4, 4, 1).with_flags(BPF_F_MMAPABLE | BPF_F_RDONLY_PROG))
        .unwrap();
}

#[test]
fn hash_rules() {
    einval(spec(MapType::Hash, 0, 4, 1));
    einval(spec(MapType::Hash, 4, 0, 1));
    einval(spec(MapType::Hash, 4, 4, 0));
    einval(spec(MapType::Hash, 4, 4, 1).with_flags(BPF_F_MMAPABLE));
    einval(spec(MapType::Hash, 4, 4, 1).with_flags(BPF_F_NO_COMMON_LRU));
    einval(spec(MapType::PercpuHash, 4, 4, 1).with_flags(BPF_F_NUMA_NODE));
    assert_eq!(
        err(spec(MapType::LruHash, 4, 4, 1).with_flags(BPF_F_NO_PREALLOC)),
        MapError::NotSupported
    );
    assert_eq!(err(spec(MapType::Hash, 4, 4 << 20, 1)), MapError::TooBig);
    assert_eq!(
        err(spec(MapType::PercpuHash, 4, 40000, 1)),
        MapError::TooBig
    );
    assert_eq!(
        err(spec(MapType::Hash, 4, 4, (1 << 31) + 1)),
        MapError::TooBig
    );
    Map::create(&spec(MapType::Hash, 4, 4, 1).with_flags(BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED))
        .unwrap();
    Map::create(&spec(MapType::LruHash, 4, 4, 8).with_flags(BPF_F_NO_COMMON_LRU)).unwrap();
    einval(spec(MapType::HashOfMaps, 4, 8, 1));
}

#[test]
fn special_map_rules() {
    einval(spec(MapType::ProgArray, 4, 8, 1));
    einval(spec(MapType::ProgArray, 4, 4, 1).with_flags(BPF_F_RDONLY_PROG));
    einval(spec(MapType::ArrayOfMaps, 4, 4, 1).with_flags(BPF_F_MMAPABLE));
    Map::create(&spec(MapType::PerfEventArray, 4, 4, 2).with_flags(BPF_F_PRESERVE_ELEMS)).unwrap();
    einval(spec(MapType::Queue, 4, 4, 1));
    einval(spec(MapType::Stack, 0, 0, 1));
    einval(spec(MapType::Queue, 0, 4, 0));
    einval(spec(MapType::Queue, 0, 4, 1).with_flags(BPF_F_NO_PREALLOC));
    assert_eq!(
        err(spec(MapType::Queue, 0, (4 << 20) + 1, 1)),
        MapError::TooBig
    );
    einval(spec(MapType::BloomFilter, 4, 4, 1));
    einval(spec(MapType::BloomFilter, 0, 4, 1).with_map_extra(16));
    einval(spec(MapType::BloomFilter, 0, 0, 1));
    Map::create(&spec(MapType::BloomFilter, 0, 4, 100).with_map_extra(3)).unwrap();
    einval(spec(MapType::Ringbuf, 0, 0, 4096 * 3));
    einval(spec(MapType::Ringbuf, 0, 0, 2048));
    einval(spec(MapType::Ringbuf, 4, 0, 4096));
    einval(spec(MapType::Ringbuf, 0, 0, 4096).with_flags(BPF_F_RDONLY_PROG));
    Map::create(&spec(MapType::Ringbuf, 0, 0, 4096 * 4)).unwrap();
    // LPM tries need BPF_F_NO_PREALLOC and a key of prefixlen + 1..=256 data bytes.
    einval(spec(MapType::LpmTrie, 8, 4, 1));
    einval(spec(MapType::LpmTrie, 4, 4, 1).with_flags(BPF_F_NO_PREALLOC));
    einval(spec(MapType::LpmTrie, 261, 4, 1).with_flags(BPF_F_NO_PREALLOC));
    einval(spec(MapType::LpmTrie, 8, 0, 1).with_flags(BPF_F_NO_PREALLOC));
    Map::create(&spec(MapType::LpmTrie, 260, 4, 1).with_flags(BPF_F_NO_PREALLOC)).unwrap();
    assert_eq!(err(spec(MapType::Sockmap, 4, 4, 1)), MapError::NotSupported);
    einval(spec(MapType::Unspec, 4, 4, 1));
}

#[test]
fn spin_lock_rules() {
    einval(spec(MapType::Hash, 4, 8, 1).with_spin_lock(6));
    einval(spec(MapType::Hash, 4, 8, 1).with_spin_lock(8));
    assert_eq!(
        err(spec(MapType::PercpuHash, 4, 8, 1).with_spin_lock(0)),
        MapError::OpNotSupported
    );
    let m = Map::create(&spec(MapType::Array, 4, 8, 1).with_spin_lock(4)).unwrap();
    assert_eq!(m.freeze(), Err(MapError::NotSupported));
}
