//! Map lookups and updates from a program's point of view (`lookup_ptr`, `prog_update`) and
//! from user space (`lookup` copy-out, `update`), for array and hash maps of 1 K and 1 M
//! entries with 4- and 16-byte keys (array keys are always 4 bytes), next to
//! `hashbrown::HashMap<[u8; N], u64>` `get`/`insert` on the same keys in the same run.
//!
//! Every map holds `n` distinct keys (a bijection of `0..n`, so they are scattered and never
//! collide); each iteration picks one of them with a fixed-seed xorshift generator, so every
//! lookup hits and large maps are probed at random, in the same order for every contender.
//! Values are 8 bytes. Updates overwrite an existing key (`BPF_ANY`).

use divan::{Bencher, black_box};
use std::hash::Hash;
use waggle_maps::{Map, MapOptions, MapSpec, MapType, update::BPF_ANY};

fn main() {
    divan::main();
}

const SIZES: [u32; 2] = [1_000, 1_000_000];

/// A bijection on `u32` (a murmur-style finalizer), so keys of distinct indices differ.
fn mix32(x: u32) -> u32 {
    let mut x = x ^ 0x5bd1_e995;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// A bijection on `u64` (splitmix64's finalizer).
fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A benchmark key type: the key of the `i`-th element.
trait Key: Copy + Eq + Hash + 'static {
    const SIZE: u32;
    fn nth(i: u32) -> Self;
    fn bytes(&self) -> &[u8];
}

/// 4-byte keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct K4([u8; 4]);

/// 16-byte keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct K16([u8; 16]);

impl Key for K4 {
    const SIZE: u32 = 4;
    fn nth(i: u32) -> Self {
        K4(mix32(i).to_ne_bytes())
    }
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Key for K16 {
    const SIZE: u32 = 16;
    fn nth(i: u32) -> Self {
        let a = mix64(u64::from(i));
        let b = mix64(a ^ 0x0123_4567_89ab_cdef);
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&a.to_ne_bytes());
        k[8..].copy_from_slice(&b.to_ne_bytes());
        K16(k)
    }
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Fixed-seed xorshift64 choosing element indices in `0..n` (the same sequence everywhere).
struct Probe {
    s: u64,
    n: u64,
}

impl Probe {
    fn new(n: u32) -> Probe {
        Probe {
            s: 0x2545_f491_4f6c_dd1d,
            n: u64::from(n),
        }
    }

    #[inline(always)]
    fn next(&mut self) -> u32 {
        self.s ^= self.s << 13;
        self.s ^= self.s >> 7;
        self.s ^= self.s << 17;
        (((self.s >> 32) * self.n) >> 32) as u32
    }
}

fn options() -> MapOptions {
    MapOptions {
        ncpus: Some(1),
        resolver: None,
    }
}

fn value(i: u32) -> [u8; 8] {
    u64::from(i).to_ne_bytes()
}

/// A `HASH` map holding the keys of `0..n`.
fn hash_map<K: Key>(n: u32) -> Map {
    let m = Map::create_with(&MapSpec::new(MapType::Hash, K::SIZE, 8, n), &options()).unwrap();
    for i in 0..n {
        m.update(K::nth(i).bytes(), &value(i), BPF_ANY).unwrap();
    }
    m
}

/// An `ARRAY` map of `n` entries; element `i`'s key is `i`.
fn array_map(n: u32) -> Map {
    let m = Map::create_with(&MapSpec::new(MapType::Array, 4, 8, n), &options()).unwrap();
    for i in 0..n {
        m.update(&i.to_ne_bytes(), &value(i), BPF_ANY).unwrap();
    }
    m
}

fn hashbrown_map<K: Key>(n: u32) -> hashbrown::HashMap<K, u64> {
    let mut m = hashbrown::HashMap::new();
    for i in 0..n {
        m.insert(K::nth(i), u64::from(i));
    }
    m
}

/// `HASH` maps.
mod hash {
    use super::*;

    /// `bpf_map_lookup_elem` as the helper does it: the value's address.
    #[divan::bench(types = [K4, K16], args = SIZES)]
    fn lookup_ptr<K: Key>(b: Bencher, n: u32) {
        let m = hash_map::<K>(n);
        let mut p = Probe::new(n);
        b.bench_local(|| {
            let k = K::nth(p.next());
            black_box(m.lookup_ptr(k.bytes(), 0))
        });
    }

    /// `bpf_map_update_elem(BPF_ANY)` from a program, replacing an existing key's value.
    #[divan::bench(types = [K4, K16], args = SIZES)]
    fn prog_update<K: Key>(b: Bencher, n: u32) {
        let m = hash_map::<K>(n);
        let mut p = Probe::new(n);
        b.bench_local(|| {
            let i = p.next();
            m.prog_update(K::nth(i).bytes(), &value(i), BPF_ANY, 0)
                .unwrap();
        });
    }

    /// `BPF_MAP_LOOKUP_ELEM` from user space: copies the value out.
    #[divan::bench(types = [K4, K16], args = SIZES)]
    fn lookup<K: Key>(b: Bencher, n: u32) {
        let m = hash_map::<K>(n);
        let mut p = Probe::new(n);
        let mut out = [0u8; 8];
        b.bench_local(|| {
            let k = K::nth(p.next());
            m.lookup(k.bytes(), &mut out).unwrap();
            black_box(&out);
        });
    }

    /// `BPF_MAP_UPDATE_ELEM(BPF_ANY)` from user space on an existing key.
    #[divan::bench(types = [K4, K16], args = SIZES)]
    fn update<K: Key>(b: Bencher, n: u32) {
        let m = hash_map::<K>(n);
        let mut p = Probe::new(n);
        b.bench_local(|| {
            let i = p.next();
            m.update(K::nth(i).bytes(), &value(i), BPF_ANY).unwrap();
        });
    }
}

/// `ARRAY` maps (4-byte keys: the index).
mod array {
    use super::*;

    #[divan::bench(args = SIZES)]
    fn lookup_ptr(b: Bencher, n: u32) {
        let m = array_map(n);
        let mut p = Probe::new(n);
        b.bench_local(|| black_box(m.lookup_ptr(&p.next().to_ne_bytes(), 0)));
    }

    #[divan::bench(args = SIZES)]
    fn prog_update(b: Bencher, n: u32) {
        let m = array_map(n);
        let mut p = Probe::new(n);
        b.bench_local(|| {
            let i = p.next();
            m.prog_update(&i.to_ne_bytes(), &value(i), BPF_ANY, 0)
                .unwrap();
        });
    }

    #[divan::bench(args = SIZES)]
    fn lookup(b: Bencher, n: u32) {
        let m = array_map(n);
        let mut p = Probe::new(n);
        let mut out = [0u8; 8];
        b.bench_local(|| {
            m.lookup(&p.next().to_ne_bytes(), &mut out).unwrap();
            black_box(&out);
        });
    }

    #[divan::bench(args = SIZES)]
    fn update(b: Bencher, n: u32) {
        let m = array_map(n);
        let mut p = Probe::new(n);
        b.bench_local(|| {
            let i = p.next();
            m.update(&i.to_ne_bytes(), &value(i), BPF_ANY).unwrap();
        });
    }
}

/// The yardstick: `hashbrown::HashMap<[u8; N], u64>` (its default hasher) on the same keys.
mod hashbrown_map {
    use super::*;

    /// `get`: the value's address, like `lookup_ptr`.
    #[divan::bench(types = [K4, K16], args = SIZES)]
    fn get<K: Key>(b: Bencher, n: u32) {
        let m = hashbrown_map::<K>(n);
        let mut p = Probe::new(n);
        b.bench_local(|| {
            let k = K::nth(p.next());
            black_box(m.get(&k).map(|v| v as *const u64))
        });
    }

    /// `insert` of an existing key (overwrites the value).
    #[divan::bench(types = [K4, K16], args = SIZES)]
    fn insert<K: Key>(b: Bencher, n: u32) {
        let mut m = hashbrown_map::<K>(n);
        let mut p = Probe::new(n);
        b.bench_local(|| {
            let i = p.next();
            black_box(m.insert(K::nth(i), u64::from(i)));
        });
    }
}
