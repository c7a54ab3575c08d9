//! Kernel-semantics tests of every map type, and multi-threaded stress tests.

mod array;
mod bloom;
mod devmap;
mod hash;
mod lpm;
mod lru;
mod queue;
mod refs;
mod ringbuf;
mod spec;
mod stress;
mod timer;

use waggle_maps::{Map, MapOptions, MapSpec, MapType};

/// Creates a map sized for `ncpus` CPUs.
pub fn create(spec: MapSpec, ncpus: u32) -> Map {
    Map::create_with(
        &spec,
        &MapOptions {
            ncpus: Some(ncpus),
            resolver: None,
        },
    )
    .expect("map creation")
}

/// A 4-byte key.
pub fn k(i: u32) -> [u8; 4] {
    i.to_ne_bytes()
}

/// Reads a u64 value.
pub fn get_u64(map: &Map, key: &[u8]) -> Result<u64, waggle_maps::MapError> {
    let mut v = [0u8; 8];
    map.lookup(key, &mut v)?;
    Ok(u64::from_ne_bytes(v))
}

/// A spec shorthand.
pub fn spec(t: MapType, key: u32, value: u32, max: u32) -> MapSpec {
    MapSpec::new(t, key, value, max)
}
