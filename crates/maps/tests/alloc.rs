//! The global allocation counter returns to its starting value once every map is dropped.
//! Alone in its own test binary so no other test's maps disturb the counter.

use std::sync::Arc;
use waggle_maps::{Map, MapSpec, MapType, ObjectRef, allocated_bytes, flags::*, update::*};

#[test]
fn dropping_all_maps_returns_every_byte() {
    let start = allocated_bytes();
    let specs = [
        MapSpec::new(MapType::Array, 4, 8, 100),
        MapSpec::new(MapType::PercpuArray, 4, 8, 100),
        MapSpec::new(MapType::Hash, 8, 64, 1000),
        MapSpec::new(MapType::PercpuHash, 8, 64, 100),
        MapSpec::new(MapType::LruHash, 8, 8, 100),
        MapSpec::new(MapType::LruPercpuHash, 8, 8, 100),
        MapSpec::new(MapType::ProgArray, 4, 4, 8),
        MapSpec::new(MapType::ArrayOfMaps, 4, 4, 8),
        MapSpec::new(MapType::HashOfMaps, 4, 4, 8),
        MapSpec::new(MapType::Ringbuf, 0, 0, 4096 * 4),
        MapSpec::new(MapType::PerfEventArray, 4, 4, 4),
        MapSpec::new(MapType::Queue, 0, 8, 16),
        MapSpec::new(MapType::Stack, 0, 8, 16),
        MapSpec::new(MapType::LpmTrie, 8, 8, 1000).with_flags(BPF_F_NO_PREALLOC),
        MapSpec::new(MapType::BloomFilter, 0, 8, 1000),
    ];
    let maps: Vec<Arc<Map>> = specs
        .iter()
        .map(|s| Arc::new(Map::create(s).unwrap()))
        .collect();
    let sum: usize = maps.iter().map(|m| m.memory_usage()).sum();
    assert!(allocated_bytes() > start);
    assert!(
        allocated_bytes() - start <= sum,
        "memory_usage covers what was allocated"
    );
    for m in &maps {
        let t = m.map_type();
        match t {
            MapType::Hash | MapType::LruHash => {
                for i in 0..2000u64 {
                    let _ = m.update(&i.to_ne_bytes(), &vec![1; m.user_value_size()], BPF_ANY);
                }
            }
            MapType::LpmTrie => {
                for i in 0..500u32 {
                    let mut key = [0u8; 8];
                    key[..4].copy_from_slice(&32u32.to_ne_bytes());
                    key[4..].copy_from_slice(&(i * 7919).to_be_bytes());
                    m.update(&key, &[2; 8], BPF_ANY).unwrap();
                }
            }
            MapType::HashOfMaps | MapType::ArrayOfMaps => {
                let inner = maps[0].clone();
                m.update_ref(&1u32.to_ne_bytes(), ObjectRef::new(1, inner), BPF_ANY)
                    .unwrap();
            }
            MapType::PerfEventArray => {
                m.update(&0u32.to_ne_bytes(), &5u32.to_ne_bytes(), BPF_ANY)
                    .unwrap();
                let p = m.as_perf_event_array().unwrap();
                p.output(0, 0, &[1; 100]).unwrap();
            }
            MapType::Ringbuf => m.as_ringbuf().unwrap().output(&[1; 100], 0).unwrap(),
            _ => {}
        }
    }
    drop(maps);
    assert_eq!(allocated_bytes(), start);
}
