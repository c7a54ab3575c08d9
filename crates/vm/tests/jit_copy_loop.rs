//! The byte-copy loop idiom (`rep movsb` in verified mode, see `jit/emit/copy.rs`) against the
//! interpreter: overlapping ranges both ways, a bound already reached or passed at the head,
//! one byte, two pointers, the temporary or the pointers in rdi/rsi/rcx (BPF r1, r2, r4). Each
//! program ends by folding the pointers' final distances from the bound into r0, so a pointer
//! advanced by the wrong count shows.

#![allow(unsafe_code)]

use waggle_isa::Insn;
use waggle_vm::{Helpers, Interpreter, Jit};

const REP_MOVSB: [u8; 2] = [0xf3, 0xa4];

fn has_rep_movsb(code: &[u8]) -> bool {
    code.windows(2).any(|w| w == REP_MOVSB)
}

fn memory() -> Vec<u8> {
    (0..96u32)
        .map(|i| (i.wrapping_mul(37) ^ 0x5a) as u8)
        .collect()
}

/// Runs `src` on the interpreter, the checked JIT and the verified JIT; all must agree on r0
/// and memory. `fused` says whether the verified code must contain the `rep movsb`.
fn check(name: &str, src: &str, fused: bool) {
    let insns: Vec<Insn> = waggle_isa::asm::assemble(src).expect("assembles");
    let mem = memory();
    let vm = Interpreter::new(&insns, Helpers::new()).expect("interpreter accepts");
    let mut want_mem = mem.clone();
    let want = vm.run_on(&mut want_mem).expect("interpreter runs");

    let checked = Jit::new(&insns, Helpers::new()).expect("checked JIT accepts");
    assert!(!has_rep_movsb(checked.code()), "{name}: checked code fused");
    let mut got_mem = mem.clone();
    assert_eq!(checked.run_on(&mut got_mem), Ok(want), "{name}: checked r0");
    assert_eq!(got_mem, want_mem, "{name}: checked memory");

    // SAFETY: the interpreter ran this program on this input without error (in bounds,
    // terminating); it runs here on the same input.
    let verified = unsafe { Jit::new_verified(&insns, Helpers::new()) }.expect("accepts");
    assert_eq!(
        has_rep_movsb(verified.code()),
        fused,
        "{name}: fused or not"
    );
    let mut got_mem = mem.clone();
    assert_eq!(
        verified.run_on(&mut got_mem),
        Ok(want),
        "{name}: verified r0"
    );
    assert_eq!(got_mem, want_mem, "{name}: verified memory");
}

/// A one-pointer loop over r`p` with bound r`e` = r`p` + `len` (`len` may be <= 0), copying
/// `[p + a]` to `[p + b]` through r`t`; r0 = t + 256 * (p - e).
fn one_pointer(p: u8, e: u8, t: u8, start: i32, len: i32, a: i16, b: i16) -> String {
    format!(
        "add %r1, {start}
mov %r{p}, %r1
mov %r{e}, %r{p}
add %r{e}, {len}
loop:
ldxb %r{t}, [%r{p}{a:+}]
stxb [%r{p}{b:+}], %r{t}
add %r{p}, 1
jlt %r{p}, %r{e}, loop
mov %r0, %r{p}
sub %r0, %r{e}
lsh %r0, 8
add %r0, %r{t}
exit"
    )
}

#[test]
fn one_pointer_copies_agree() {
    // Disjoint, forward overlap (a byte smeared over the range), backward overlap, in place.
    check("disjoint", &one_pointer(1, 6, 3, 0, 16, 0, 40), true);
    check("dst = src + 1", &one_pointer(1, 6, 3, 0, 30, 0, 1), true);
    check("dst = src + 3", &one_pointer(1, 6, 3, 0, 30, 0, 3), true);
    check("dst = src - 1", &one_pointer(1, 6, 3, 1, 30, 0, -1), true);
    check("in place", &one_pointer(1, 6, 3, 0, 20, 5, 5), true);
    check("one byte", &one_pointer(1, 6, 3, 0, 1, 0, 50), true);
    // Bound reached or passed at the head: the loop body runs once.
    check("bound reached", &one_pointer(1, 6, 3, 10, 0, 0, 50), true);
    check("bound passed", &one_pointer(1, 6, 3, 10, -7, 0, 50), true);
    // The x86 string registers as pointer, bound and temporary (r1 = rdi, r2 = rsi, r4 = rcx).
    check(
        "pointer rsi, temp rdi",
        &one_pointer(2, 4, 1, 0, 17, 3, 60),
        true,
    );
    check(
        "pointer rcx, temp rsi",
        &one_pointer(4, 1, 2, 0, 17, 60, 3),
        true,
    );
    check(
        "pointer r0, temp rcx",
        &one_pointer(0, 2, 4, 0, 17, 0, 33),
        true,
    );
}

#[test]
fn two_pointer_copies_agree() {
    for (name, dst, bound_on_dst, len, t) in [
        ("disjoint", 40, false, 24, 3),
        ("disjoint, bound on dst", 40, true, 24, 4),
        ("overlap +2", 2, false, 40, 1),
        ("overlap -2, temp rsi", -2, true, 40, 2),
        ("bound passed", 40, false, -3, 3),
    ] {
        let c = if bound_on_dst { 7 } else { 6 };
        let src = format!(
            "add %r1, 8
mov %r6, %r1
mov %r7, %r1
add %r7, {dst}
mov %r8, %r{c}
add %r8, {len}
loop:
ldxb %r{t}, [%r6+0]
stxb [%r7+0], %r{t}
add %r6, 1
add %r7, 1
jlt %r{c}, %r8, loop
mov %r0, %r6
sub %r0, %r8
lsh %r0, 16
mov %r5, %r7
sub %r5, %r8
lsh %r5, 8
add %r0, %r5
add %r0, %r{t}
exit"
        );
        check(name, &src, true);
    }
}

#[test]
fn near_misses_stay_plain_and_agree() {
    // Stride 2 and a jump into the loop body: not the idiom, same results.
    check(
        "stride 2",
        &one_pointer(1, 6, 3, 0, 16, 0, 40).replace("add %r1, 1\njlt", "add %r1, 2\njlt"),
        false,
    );
    let into = "mov %r6, %r1
add %r6, 16
ja inside
loop:
ldxb %r3, [%r1+0]
inside:
stxb [%r1+40], %r3
add %r1, 1
jlt %r1, %r6, loop
mov %r0, %r3
exit";
    check("jump into the body", into, false);
}
