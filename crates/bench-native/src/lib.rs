//! Bench-only: the eleven Foundation workloads written in C (`workloads.c`) and compiled with
//! `gcc -O2` by this crate's build script, the native baseline issue 5 defines ("ratio to
//! `gcc -O2` native"). `waggle-vm`'s bench calls them through function pointers, as it calls
//! its plain-Rust versions, and checks that both agree before timing.
//!
//! Kept in a crate of its own so that no library crate needs a build script or a C compiler.

/// A workload in C: gets the memory region (start, length) and returns what r0 must be.
pub type CWorkload = unsafe extern "C" fn(*mut u8, usize) -> u64;

// SAFETY (for every function below): each reads and writes only inside the region its
// workload defines (the sizes of crates/vm/benches/workloads/mod.rs); callers pass a region at
// least that long.
unsafe extern "C" {
    /// `call_overhead`: returns 0.
    pub fn waggle_c_call_overhead(mem: *mut u8, len: usize) -> u64;
    /// `fibonacci`: fib(90), wrapping.
    pub fn waggle_c_fibonacci(mem: *mut u8, len: usize) -> u64;
    /// `log2`: sum of a branchy ilog2 over 256 u64 values.
    pub fn waggle_c_log2(mem: *mut u8, len: usize) -> u64;
    /// `popcount`: sum of SWAR popcounts over 256 u64 values.
    pub fn waggle_c_popcount(mem: *mut u8, len: usize) -> u64;
    /// `switch64`: a 64-way `switch` per input byte.
    pub fn waggle_c_switch64(mem: *mut u8, len: usize) -> u64;
    /// `linear_search`: index of the key among 256 u32 values.
    pub fn waggle_c_linear_search(mem: *mut u8, len: usize) -> u64;
    /// `prime`: primes below 1000 by trial division (32-bit modulo).
    pub fn waggle_c_prime(mem: *mut u8, len: usize) -> u64;
    /// `checksum`: RFC 1071 checksum of 1 KiB.
    pub fn waggle_c_checksum(mem: *mut u8, len: usize) -> u64;
    /// `memcpy`: a byte loop copying 1 KiB.
    pub fn waggle_c_memcpy(mem: *mut u8, len: usize) -> u64;
    /// `strcmp`: C strcmp of two 1023-character strings.
    pub fn waggle_c_strcmp(mem: *mut u8, len: usize) -> u64;
    /// `helper_calls`: 256 chained calls through a function pointer.
    pub fn waggle_c_helper_calls(mem: *mut u8, len: usize) -> u64;
}

/// The version of the C compiler that built `workloads.c` (`gcc --version`, first line).
pub const CC_VERSION: &str = env!("WAGGLE_BENCH_CC_VERSION");
