//! Short forward branches as conditional moves (verified mode, `jit/emit/select.rs`) against
//! the interpreter: every jump condition, 64 and 32 bits, register and immediate operands,
//! one or two skipped instructions, over values on both sides of each bound.

#![allow(unsafe_code)]

use waggle_isa::Insn;
use waggle_vm::{Helpers, Interpreter, Jit};

const CONDS: [&str; 11] = [
    "jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset",
];

/// Whether the code has a `cmovcc r64, r64` (REX.W 0F 4x with a register ModRM).
fn has_cmov(code: &[u8]) -> bool {
    code.windows(4)
        .any(|w| w[0] & 0xf8 == 0x48 && w[1] == 0x0f && w[2] & 0xf0 == 0x40 && w[3] >= 0xc0)
}

fn check(src: &str, fused: bool) {
    let insns: Vec<Insn> = waggle_isa::asm::assemble(src).expect("assembles");
    let want = Interpreter::new(&insns, Helpers::new())
        .expect("accepted")
        .run_on(&mut [])
        .expect("runs");
    // SAFETY: no memory access; the interpreter ran it to completion.
    let jit = unsafe { Jit::new_verified(&insns, Helpers::new()) }.expect("accepted");
    assert_eq!(has_cmov(jit.code()), fused, "{src}");
    assert_eq!(jit.run_on(&mut []), Ok(want), "{src}");
    let checked = Jit::new(&insns, Helpers::new()).expect("accepted");
    assert_eq!(checked.run_on(&mut []), Ok(want), "checked: {src}");
}

#[test]
fn every_condition_agrees_on_both_sides() {
    let values: [i64; 6] = [0, 1, 7, -1, -8, 0x1_0000_0000];
    for cond in CONDS {
        for w in ["", "32"] {
            for &a in &values {
                for &b in &[1i32, 7, -1, 0] {
                    // Immediate bound, two skipped instructions (shift, add), then the result
                    // folded with r4 (the other skipped register) so both moves show.
                    let imm = format!(
                        "lddw %r2, {a}\nmov %r3, 5\nmov %r4, 100\n{cond}{w} %r2, {b}, l\nrsh %r2, 3\nadd %r3, 9\nl:\nmov %r0, %r2\nlsh %r0, 8\nadd %r0, %r3\nexit"
                    );
                    check(&imm, true);
                    // Register bound, one skipped move from the compared register.
                    let reg = format!(
                        "lddw %r2, {a}\nmov %r5, {b}\nmov %r3, 77\n{cond}{w} %r2, %r5, l\nmov %r3, %r2\nl:\nmov %r0, %r3\nexit"
                    );
                    check(&reg, true);
                }
            }
        }
    }
}

#[test]
fn flags_of_an_earlier_result_are_not_reused() {
    // `sub` sets ZF for r2; the scratch arithmetic changes the flags before `jeq r2, 0`.
    for a in [0, 1, 2] {
        let src = format!(
            "mov %r2, {a}\nmov %r3, 1\nsub %r2, 1\njeq %r2, 0, l\nadd %r3, 10\nl:\nmov %r0, %r3\nexit"
        );
        check(&src, true);
    }
}

#[test]
fn near_misses_keep_the_branch() {
    check(
        "mov %r2, 3\nmov %r3, 1\njlt %r2, 9, l\nadd %r3, 1\nadd %r4, %r3\nl:\nmov %r0, %r3\nexit",
        false,
    );
}
