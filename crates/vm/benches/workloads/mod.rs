//! The Foundation benchmark workloads: each is a BPF program (`<name>.s` beside this file, in the
//! conformance-suite assembler syntax), a deterministic memory input, and the same computation in
//! plain Rust. The bench asserts that every engine returns the native result before timing.
//!
//! Memory convention: the program gets the memory region's start in `r1` (both Waggle and
//! `rbpf::EbpfVmRaw` do this); no program reads `r2` (the length), because rbpf does not set it.
//! All sizes are fixed by the programs.

use std::hint::black_box;

/// One workload: its BPF text, its memory input and the native version.
pub struct Workload {
    /// Bench module name, also the `.s` file name.
    pub name: &'static str,
    /// The BPF program in conformance-suite syntax.
    pub source: &'static str,
    /// Builds the memory region handed to the program (empty for none).
    pub memory: fn() -> Vec<u8>,
    /// The native Rust version; gets the same memory region, returns what r0 must be.
    pub native: fn(&mut [u8]) -> u64,
    /// The same in C, compiled with `gcc -O2` (`crates/bench-native`): issue 5's baseline.
    pub c: waggle_bench_native::CWorkload,
}

/// Deterministic xorshift64 generator (Marsaglia's 13/7/17 triple).
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        assert_ne!(seed, 0);
        XorShift64(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

fn no_memory() -> Vec<u8> {
    Vec::new()
}

// The helper `helper_calls` registers as id 1 in every engine: r0 = r1 + 1.
/// Helper id used by `helper_calls`.
pub const HELPER_ID: u32 = 1;

/// The helper itself (rbpf's signature; Waggle's closure calls it too).
#[inline(never)]
pub fn helper_inc(r1: u64, _r2: u64, _r3: u64, _r4: u64, _r5: u64) -> u64 {
    r1.wrapping_add(1)
}

// ---------------------------------------------------------------------------------------------
// 1. call_overhead: `mov r0, 0; exit`.

fn call_overhead_native(_mem: &mut [u8]) -> u64 {
    black_box(0)
}

// ---------------------------------------------------------------------------------------------
// 2. fibonacci: iterative fib(90), wrapping u64.

/// N for `fibonacci`.
pub const FIB_N: u64 = 90;

fn fibonacci_native(_mem: &mut [u8]) -> u64 {
    let n = black_box(FIB_N);
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        let t = a.wrapping_add(b);
        a = b;
        b = t;
    }
    a
}

// ---------------------------------------------------------------------------------------------
// 3. log2: sum of ilog2 over 256 u64 values (branchy binary search, log2(0) = 0).

fn log2_memory() -> Vec<u8> {
    let mut rng = XorShift64::new(0x1234_5678_9abc_def1);
    let mut mem = Vec::with_capacity(256 * 8);
    for _ in 0..256 {
        let x = rng.next_u64();
        // Spread the magnitudes so every branch of the search is taken.
        let v = x >> (x % 64);
        mem.extend_from_slice(&v.to_le_bytes());
    }
    mem
}

fn ilog2_branchy(mut v: u64) -> u64 {
    let mut r = 0;
    if v >= 1 << 32 {
        v >>= 32;
        r += 32;
    }
    if v >= 1 << 16 {
        v >>= 16;
        r += 16;
    }
    if v >= 1 << 8 {
        v >>= 8;
        r += 8;
    }
    if v >= 1 << 4 {
        v >>= 4;
        r += 4;
    }
    if v >= 1 << 2 {
        v >>= 2;
        r += 2;
    }
    if v >= 1 << 1 {
        r += 1;
    }
    r
}

fn log2_native(mem: &mut [u8]) -> u64 {
    let mut sum = 0u64;
    for chunk in mem[..256 * 8].chunks_exact(8) {
        let v = u64::from_le_bytes(chunk.try_into().unwrap());
        sum += ilog2_branchy(v);
    }
    sum
}

// ---------------------------------------------------------------------------------------------
// 4. popcount: sum of popcounts of 256 u64 values, SWAR bit tricks (no per-bit loop).

fn popcount_memory() -> Vec<u8> {
    let mut rng = XorShift64::new(0x2545_f491_4f6c_dd1d);
    let mut mem = Vec::with_capacity(256 * 8);
    for _ in 0..256 {
        mem.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    mem
}

fn popcount_swar(mut x: u64) -> u64 {
    x = x.wrapping_sub((x >> 1) & 0x5555_5555_5555_5555);
    x = (x & 0x3333_3333_3333_3333) + ((x >> 2) & 0x3333_3333_3333_3333);
    x = (x.wrapping_add(x >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    x.wrapping_mul(0x0101_0101_0101_0101) >> 56
}

fn popcount_native(mem: &mut [u8]) -> u64 {
    let mut sum = 0u64;
    for chunk in mem[..256 * 8].chunks_exact(8) {
        sum += popcount_swar(u64::from_le_bytes(chunk.try_into().unwrap()));
    }
    sum
}

// ---------------------------------------------------------------------------------------------
// 5. switch64: for each of 256 input bytes b, case k = b & 63 of a 64-way switch; each case does
// its own arithmetic on the accumulator. `switch64.s` is generated from the same definition
// (see its header); the native version is a 64-arm `match` (a jump table).

/// Case `K` of `switch64`: one of eight operation shapes, with per-case constants.
#[inline(always)]
fn switch_case<const K: u64>(acc: u64, b: u64) -> u64 {
    let c = K * 7919 + 13;
    let s = K % 29 + 1;
    match K % 8 {
        0 => acc.wrapping_add(b.wrapping_mul(c)),
        1 => acc ^ (b << s),
        2 => acc.wrapping_sub(b.wrapping_add(c)),
        3 => acc.wrapping_mul(3).wrapping_add(b ^ c),
        4 => (acc >> s) ^ acc.wrapping_add(b),
        5 => acc.wrapping_add(b | c),
        6 => acc.wrapping_add(b & c) ^ K,
        _ => acc.wrapping_add((b as u32).wrapping_mul(c as u32) as u64),
    }
}

macro_rules! switch_arms {
    ($k:expr, $acc:expr, $b:expr; $($n:literal)*) => {
        match $k {
            $($n => switch_case::<$n>($acc, $b),)*
            _ => unreachable!(),
        }
    };
}

fn switch64_memory() -> Vec<u8> {
    let mut rng = XorShift64::new(0x6a09_e667_f3bc_c908);
    (0..256).map(|_| (rng.next_u64() >> 24) as u8).collect()
}

fn switch64_native(mem: &mut [u8]) -> u64 {
    let mut acc = 0u64;
    for &byte in &mem[..256] {
        let b = byte as u64;
        acc = switch_arms!(b & 63, acc, b;
            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
            32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60
            61 62 63);
    }
    acc
}

// ---------------------------------------------------------------------------------------------
// 6. linear_search: index of the first u32 equal to the key (at byte 1024) among 256 u32 values
// (bytes 0..1024); 256 if absent. The key is the value at index 250.

/// Index of the key in `linear_search`'s array.
pub const SEARCH_KEY_INDEX: usize = 250;

fn linear_search_memory() -> Vec<u8> {
    let mut rng = XorShift64::new(0xbb67_ae85_84ca_a73b);
    let mut values: Vec<u32> = Vec::with_capacity(256);
    while values.len() < 256 {
        let v = (rng.next_u64() >> 32) as u32;
        if !values.contains(&v) {
            values.push(v);
        }
    }
    let mut mem = Vec::with_capacity(1032);
    for v in &values {
        mem.extend_from_slice(&v.to_le_bytes());
    }
    mem.extend_from_slice(&values[SEARCH_KEY_INDEX].to_le_bytes());
    mem.extend_from_slice(&[0; 4]);
    mem
}

fn linear_search_native(mem: &mut [u8]) -> u64 {
    let key = u32::from_le_bytes(mem[1024..1028].try_into().unwrap());
    for (i, chunk) in mem[..1024].chunks_exact(4).enumerate() {
        if u32::from_le_bytes(chunk.try_into().unwrap()) == key {
            return i as u64;
        }
    }
    256
}

// ---------------------------------------------------------------------------------------------
// 7. prime: number of primes below 1000 by trial division with 32-bit modulo.

/// Bound for `prime`.
pub const PRIME_N: u32 = 1000;

fn prime_native(_mem: &mut [u8]) -> u64 {
    let n_max = black_box(PRIME_N);
    let mut count = 0u64;
    let mut n = 2u32;
    while n < n_max {
        let mut d = 2u32;
        let mut is_prime = true;
        while d * d <= n {
            if n.is_multiple_of(d) {
                is_prime = false;
                break;
            }
            d += 1;
        }
        if is_prime {
            count += 1;
        }
        n += 1;
    }
    count
}

// ---------------------------------------------------------------------------------------------
// 8. checksum: RFC 1071 internet checksum over 1 KiB (512 little-endian u16 words).

fn checksum_memory() -> Vec<u8> {
    let mut rng = XorShift64::new(0x3c6e_f372_fe94_f82b);
    (0..1024).map(|_| (rng.next_u64() >> 32) as u8).collect()
}

fn checksum_native(mem: &mut [u8]) -> u64 {
    let mut sum = 0u64;
    for chunk in mem[..1024].chunks_exact(2) {
        sum += u16::from_le_bytes([chunk[0], chunk[1]]) as u64;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !sum & 0xffff
}

// ---------------------------------------------------------------------------------------------
// 9. memcpy: byte-wise copy of bytes 0..1024 to 1024..2048; returns the last byte copied.

fn memcpy_memory() -> Vec<u8> {
    let mut rng = XorShift64::new(0xa54f_f53a_5f1d_36f1);
    let mut mem: Vec<u8> = (0..1024).map(|_| (rng.next_u64() >> 40) as u8).collect();
    mem.resize(2048, 0);
    mem
}

// The byte loop mirrors the BPF program; LLVM turns it into a `memcpy` call all the same, so
// this is the speed of the platform's memcpy.
#[allow(clippy::manual_memcpy)]
fn memcpy_native(mem: &mut [u8]) -> u64 {
    let (src, dst) = mem[..2048].split_at_mut(1024);
    for i in 0..1024 {
        dst[i] = src[i];
    }
    dst[1023] as u64
}

// ---------------------------------------------------------------------------------------------
// 10. strcmp: C strcmp of two NUL-terminated 1023-char strings at 0 and 1024, equal except
// the last char; returns (c1 - c2) as u64 (wrapping), here -1.

fn strcmp_memory() -> Vec<u8> {
    let mut rng = XorShift64::new(0x510e_527f_ade6_82d1);
    let s1: Vec<u8> = (0..1023)
        .map(|_| b'a' + (rng.next_u64() % 25) as u8)
        .collect();
    let mut s2 = s1.clone();
    s2[1022] += 1;
    let mut mem = s1;
    mem.push(0);
    mem.extend_from_slice(&s2);
    mem.push(0);
    mem
}

fn strcmp_native(mem: &mut [u8]) -> u64 {
    let (s1, s2) = mem[..2048].split_at(1024);
    let mut i = 0;
    loop {
        let (c1, c2) = (s1[i], s2[i]);
        if c1 != c2 {
            return (c1 as u64).wrapping_sub(c2 as u64);
        }
        if c1 == 0 {
            return 0;
        }
        i += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// 11. helper_calls: 256 chained calls of helper 1 (r0 = r1 + 1), starting from 0.

fn helper_calls_native(_mem: &mut [u8]) -> u64 {
    let helper: fn(u64, u64, u64, u64, u64) -> u64 = black_box(helper_inc);
    let mut r1 = 0;
    for _ in 0..256 {
        r1 = helper(r1, 0, 0, 0, 0);
    }
    r1
}

// ---------------------------------------------------------------------------------------------

macro_rules! workload {
    ($name:ident, $memory:expr, $native:expr, $c:path) => {
        Workload {
            name: stringify!($name),
            source: include_str!(concat!(stringify!($name), ".s")),
            memory: $memory,
            native: $native,
            c: $c,
        }
    };
}

/// `call_overhead`.
pub const CALL_OVERHEAD: Workload = workload!(
    call_overhead,
    no_memory,
    call_overhead_native,
    waggle_bench_native::waggle_c_call_overhead
);
/// `fibonacci`.
pub const FIBONACCI: Workload = workload!(
    fibonacci,
    no_memory,
    fibonacci_native,
    waggle_bench_native::waggle_c_fibonacci
);
/// `log2`.
pub const LOG2: Workload = workload!(
    log2,
    log2_memory,
    log2_native,
    waggle_bench_native::waggle_c_log2
);
/// `popcount`.
pub const POPCOUNT: Workload = workload!(
    popcount,
    popcount_memory,
    popcount_native,
    waggle_bench_native::waggle_c_popcount
);
/// `switch64`.
pub const SWITCH64: Workload = workload!(
    switch64,
    switch64_memory,
    switch64_native,
    waggle_bench_native::waggle_c_switch64
);
/// `linear_search`.
pub const LINEAR_SEARCH: Workload = workload!(
    linear_search,
    linear_search_memory,
    linear_search_native,
    waggle_bench_native::waggle_c_linear_search
);
/// `prime`.
pub const PRIME: Workload = workload!(
    prime,
    no_memory,
    prime_native,
    waggle_bench_native::waggle_c_prime
);
/// `checksum`.
pub const CHECKSUM: Workload = workload!(
    checksum,
    checksum_memory,
    checksum_native,
    waggle_bench_native::waggle_c_checksum
);
/// `memcpy`.
pub const MEMCPY: Workload = workload!(
    memcpy,
    memcpy_memory,
    memcpy_native,
    waggle_bench_native::waggle_c_memcpy
);
/// `strcmp`.
pub const STRCMP: Workload = workload!(
    strcmp,
    strcmp_memory,
    strcmp_native,
    waggle_bench_native::waggle_c_strcmp
);
/// `helper_calls`.
pub const HELPER_CALLS: Workload = workload!(
    helper_calls,
    no_memory,
    helper_calls_native,
    waggle_bench_native::waggle_c_helper_calls
);

/// Every workload, in report order.
pub const ALL: &[&Workload] = &[
    &CALL_OVERHEAD,
    &FIBONACCI,
    &LOG2,
    &POPCOUNT,
    &SWITCH64,
    &LINEAR_SEARCH,
    &PRIME,
    &CHECKSUM,
    &MEMCPY,
    &STRCMP,
    &HELPER_CALLS,
];
