//! Runs the helper-calls workload in verified mode in a loop (for `perf`).
use waggle_vm::{Helpers, Jit};
fn main() {
    let text = include_str!("../benches/workloads/helper_calls.s");
    let insns = waggle_isa::asm::assemble(text).expect("asm");
    let mut h = Helpers::new();
    h.register_fn(1, |a, _, _, _, _| a + 1);
    // SAFETY: the workload touches no memory and terminates.
    let jit = unsafe { Jit::new_verified(&insns, h) }.expect("jit");
    let n = 200_000u64;
    let t = std::time::Instant::now();
    let mut s = 0;
    for _ in 0..n {
        s += jit.run_on(std::hint::black_box(&mut [])).unwrap_or(1);
    }
    println!("{s} {:.2} ns/run", t.elapsed().as_nanos() as f64 / n as f64);
}
