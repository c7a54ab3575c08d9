//! Writes the verified-mode machine code of a `.s` program to a file (for objdump).
use waggle_vm::{Helpers, Jit};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).expect("read");
    let insns = waggle_isa::asm::assemble(&text).expect("asm");
    let mut h = Helpers::new();
    h.register_fn(1, |a, _, _, _, _| a + 1);
    // SAFETY: only compiled, never run.
    let jit = unsafe { Jit::new_verified(&insns, h) }.expect("jit");
    std::fs::write(&args[2], jit.code()).expect("write");
    println!("{:?}", jit.slot_offsets());
}
