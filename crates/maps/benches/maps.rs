//! Map lookups and updates from a program's point of view (`lookup_ptr`, `prog_update`) and
//! from user space (`lookup`, `update`), next to `hashbrown` on the same sizes.

use divan::{Bencher, black_box};
use std::hash::BuildHasher;
use waggle_maps::{Map, MapOptions, MapSpec, MapType, update::BPF_ANY};

fn main() {
    divan::main();
}

const SIZES: [u32; 2] = [1_000, 1_000_000];

fn key16(i: u32) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..4].copy_from_slice(&i.to_ne_bytes());
    k[8..12].copy_from_slice(&(!i).to_ne_bytes());
    k
}

fn hash_map<const K: usize>(n: u32, key: fn(u32) -> [u8; K]) -> Map {
    let m = Map::create_with(
        &MapSpec::new(MapType::Hash, K as u32, 8, n),
        &MapOptions {
            ncpus: Some(1),
            resolver: None,
        },
    )
    .unwrap();
    for i in 0..n {
        m.update(&key(i), &u64::from(i).to_ne_bytes(), BPF_ANY)
            .unwrap();
    }
    m
}

fn key4(i: u32) -> [u8; 4] {
    i.to_ne_bytes()
}

/// Keys in a scattered order so large maps are not walked sequentially.
fn probe(i: u32, n: u32) -> u32 {
    i.wrapping_mul(2_654_435_761) % n
}

#[divan::bench(args = SIZES)]
fn hash_lookup_ptr_k4(b: Bencher, n: u32) {
    let m = hash_map(n, key4);
    let mut i = 0u32;
    b.bench_local(|| {
        i = i.wrapping_add(1);
        black_box(m.lookup_ptr(&key4(probe(i, n)), 0))
    });
}

#[divan::bench(args = SIZES)]
fn hash_lookup_ptr_k16(b: Bencher, n: u32) {
    let m = hash_map(n, key16);
    let mut i = 0u32;
    b.bench_local(|| {
        i = i.wrapping_add(1);
        black_box(m.lookup_ptr(&key16(probe(i, n)), 0))
    });
}

#[divan::bench(args = SIZES)]
fn hash_user_lookup_k4(b: Bencher, n: u32) {
    let m = hash_map(n, key4);
    let mut i = 0u32;
    let mut out = [0u8; 8];
    b.bench_local(|| {
        i = i.wrapping_add(1);
        black_box(m.lookup(&key4(probe(i, n)), &mut out)).ok();
    });
}

#[divan::bench(args = SIZES)]
fn hash_update_k4(b: Bencher, n: u32) {
    let m = hash_map(n, key4);
    let mut i = 0u32;
    b.bench_local(|| {
        i = i.wrapping_add(1);
        m.prog_update(&key4(probe(i, n)), &[1; 8], BPF_ANY, 0)
            .unwrap();
    });
}

#[divan::bench(args = SIZES)]
fn hashbrown_lookup_k4(b: Bencher, n: u32) {
    let mut m = hashbrown::HashMap::new();
    for i in 0..n {
        m.insert(key4(i), u64::from(i));
    }
    let mut i = 0u32;
    b.bench_local(|| {
        i = i.wrapping_add(1);
        black_box(m.get(&key4(probe(i, n))).map(|v| v as *const u64))
    });
}

#[divan::bench(args = SIZES)]
fn hashbrown_lookup_k16(b: Bencher, n: u32) {
    let mut m = hashbrown::HashMap::new();
    for i in 0..n {
        m.insert(key16(i), u64::from(i));
    }
    let mut i = 0u32;
    b.bench_local(|| {
        i = i.wrapping_add(1);
        black_box(m.get(&key16(probe(i, n))).map(|v| v as *const u64))
    });
}

#[divan::bench(args = SIZES)]
fn array_lookup_ptr(b: Bencher, n: u32) {
    let m = Map::create(&MapSpec::new(MapType::Array, 4, 8, n)).unwrap();
    let mut i = 0u32;
    b.bench_local(|| {
        i = i.wrapping_add(1);
        black_box(m.lookup_ptr(&key4(probe(i, n)), 0))
    });
}

#[divan::bench]
fn hashbrown_default_hasher_cost() -> u64 {
    hashbrown::DefaultHashBuilder::default().hash_one(black_box(7u32))
}
