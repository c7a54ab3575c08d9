//! Daemon benchmarks (filled in below).
fn main() {}
