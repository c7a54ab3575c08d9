//! Calls a 2-instruction verified program in a loop (for `perf`).
use waggle_vm::{Helpers, Jit};
fn main() {
    let insns = waggle_isa::asm::assemble("mov %r0, 0\nexit\n").expect("asm");
    // SAFETY: the program touches no memory and terminates.
    let jit = unsafe { Jit::new_verified(&insns, Helpers::new()) }.expect("jit");
    let n = 20_000_000u64;
    let t = std::time::Instant::now();
    let mut s = 0;
    for _ in 0..n {
        s += jit.run_on(std::hint::black_box(&mut [])).unwrap_or(1);
    }
    println!(
        "{s} {:.2} ns/call",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
