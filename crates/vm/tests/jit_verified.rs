//! The JIT's verified mode (no bounds checks, no budget) against the interpreter, on programs
//! that are safe: the conformance suite's programs that run without error, the benchmark
//! workloads, and generated programs safe by construction (constant in-bounds stack and
//! region offsets, forward jumps only). Both engines must agree on r0 and on the memory.

#![allow(unsafe_code)]

use proptest::prelude::*;
use waggle_isa::{AluOp, Insn, JmpOp, Operand, Reg, Size, Width};
use waggle_vm::{Helpers, Interpreter, Jit};

#[path = "../benches/workloads/mod.rs"]
#[allow(dead_code, missing_docs)]
mod workloads;

mod common;
use common::{ALU_OPS, JMP_OPS, conformance_helpers, conformance_programs};

/// Compile `insns` in verified mode.
fn verified(insns: &[Insn], helpers: Helpers) -> Jit {
    // SAFETY: every caller passes a program that runs without error on the interpreter (so
    // it stays in bounds and terminates on that input) and runs it on that same input.
    unsafe { Jit::new_verified(insns, helpers) }.expect("the verified JIT accepts the program")
}

/// Run on the interpreter; if it succeeds, the verified JIT must give the same r0 and memory.
/// Returns whether the program was compared.
fn compare(name: &str, insns: &[Insn], helpers: Helpers, mem: &[u8]) -> bool {
    let Ok(vm) = Interpreter::new(insns, helpers.clone()) else {
        return false;
    };
    let mut want_mem = mem.to_vec();
    let Ok(want) = vm.run_on(&mut want_mem) else {
        return false;
    };
    let jit = verified(insns, helpers);
    assert!(jit.is_verified());
    let mut got_mem = mem.to_vec();
    let got = jit.run_on(&mut got_mem);
    assert_eq!(got, Ok(want), "{name}: r0 differs");
    assert_eq!(got_mem, want_mem, "{name}: memory differs");
    true
}

#[test]
fn verified_mode_agrees_on_the_conformance_suite() {
    let Some(programs) = conformance_programs() else {
        return;
    };
    let files = programs.len();
    let mut compared = 0;
    for (name, insns, mem) in &programs {
        compared += usize::from(compare(name, insns, conformance_helpers(), mem));
    }
    println!(
        "verified JIT: {compared} of {files} conformance programs compared (the others fail on the interpreter)"
    );
    assert!(compared >= 250, "only {compared} programs compared");
}

#[test]
fn verified_mode_agrees_on_the_bench_workloads() {
    for w in workloads::ALL {
        let insns = waggle_isa::asm::assemble(w.source).expect("workload assembles");
        let mut helpers = Helpers::new();
        helpers.register_fn(workloads::HELPER_ID, workloads::helper_inc);
        let mem = (w.memory)();
        assert!(
            compare(w.name, &insns, helpers, &mem),
            "{}: interpreter failed",
            w.name
        );
        let mut native_mem = mem.clone();
        let want = (w.native)(&mut native_mem);
        let mut helpers = Helpers::new();
        helpers.register_fn(workloads::HELPER_ID, workloads::helper_inc);
        let mut got_mem = mem.clone();
        assert_eq!(
            verified(&insns, helpers).run_on(&mut got_mem),
            Ok(want),
            "{}",
            w.name
        );
        assert_eq!(got_mem, native_mem, "{}", w.name);
    }
}

const REGION: usize = 512;

/// A program safe by construction: r1 (the region, `REGION` bytes) and r10 are never
/// written; memory accesses use them as bases with constant in-bounds offsets; jumps only go
/// forward; every register is set before the body.
fn safe_program(words: &[u64]) -> Vec<Insn> {
    let mut p = Vec::new();
    for r in [0u8, 2, 3, 4, 5, 6, 7, 8, 9] {
        p.push(Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::new(r).expect("register"),
            src: Operand::Imm(i32::from(r) * 0x1111 - 0x4000),
        });
    }
    // Verified code reads no stack byte the run has not written: write them all first.
    for k in 1..=64 {
        p.push(Insn::Store {
            size: Size::DW,
            dst: Reg::R10,
            off: -8 * k,
            src: Operand::Imm(k.into()),
        });
    }
    let n = words.len();
    // A second base register, a copy of r1 (never written again, never read as a value, so
    // that no address reaches r0 or memory), and the writable value registers: the others
    // but r1 and r10.
    let base_reg = Reg::new(2 + (words.first().map_or(0, |w| w >> 60) % 8) as u8).expect("reg");
    p.push(Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: base_reg,
        src: Operand::Reg(Reg::R1),
    });
    let values: Vec<Reg> = [0u8, 2, 3, 4, 5, 6, 7, 8, 9]
        .into_iter()
        .filter_map(Reg::new)
        .filter(|&r| r != base_reg)
        .collect();
    let vreg = |w: u64| values[(w % values.len() as u64) as usize];
    let sizes = [Size::B, Size::H, Size::W, Size::DW];
    // Slot ranges of the copy loops (a forward jump into one is moved to its start below).
    let mut loops: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, &w) in words.iter().enumerate() {
        if w % 6 == 5 && (w >> 8) % 4 == 1 {
            let start = p.len();
            copy_loop(&mut p, w, &values);
            loops.push(start..p.len());
            continue;
        }
        if w % 6 == 5 && (w >> 8) % 4 == 3 {
            let start = p.len();
            counted_loop(&mut p, w, &values);
            loops.push(start..p.len());
            continue;
        }
        let (a, b, c) = (w >> 8, w >> 16, w >> 32);
        let size = sizes[(b % 4) as usize];
        let bytes = size.bytes() as u64;
        let (base, off) = match a % 4 {
            0 | 2 => (Reg::R10, -((((c % (512 / bytes)) + 1) * bytes) as i16)),
            1 => (Reg::R1, ((c % (REGION as u64 / bytes)) * bytes) as i16),
            // Any register as the base (each has its own addressing encoding: rbp and r13
            // need a displacement, offsets of 0, 8 bits and 32 bits encode differently).
            _ => (base_reg, ((c % (REGION as u64 / bytes)) * bytes) as i16),
        };
        let src = if c % 3 == 0 {
            Operand::Imm((w >> 40) as i32 - 0x80)
        } else {
            Operand::Reg(vreg(b >> 3))
        };
        let insn = match w % 6 {
            0 | 1 => {
                let op = ALU_OPS[(a % ALU_OPS.len() as u64) as usize];
                let src = if matches!(op, AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32) {
                    Operand::Reg(vreg(b))
                } else {
                    src
                };
                let width = if b % 2 == 0 { Width::W64 } else { Width::W32 };
                let width = if op == AluOp::MovSx32 {
                    Width::W64
                } else {
                    width
                };
                Insn::Alu {
                    width,
                    op,
                    dst: vreg(c),
                    src,
                }
            }
            2 => Insn::Load {
                size,
                signed: a % 5 == 1 && size != Size::DW,
                dst: vreg(c >> 7),
                src: base,
                off,
            },
            3 => Insn::Store {
                size,
                dst: base,
                off,
                src,
            },
            4 if i + 1 < n => {
                let op = JMP_OPS[(a % JMP_OPS.len() as u64) as usize];
                let op: JmpOp = op;
                let width = if b % 2 == 0 { Width::W64 } else { Width::W32 };
                let off = (c % (n - i) as u64) as i16;
                // Comparisons with 0 after an ALU result exercise the reuse of its flags.
                let src = if a % 3 == 0 { Operand::Imm(0) } else { src };
                Insn::Jump {
                    width,
                    op,
                    dst: vreg(b),
                    src,
                    off,
                }
            }
            // `mov a, b` then `add a, c` / `add a, imm` / `sub a, imm` (the JIT's `lea` pairs).
            _ if a % 2 == 0 => {
                let width = if b % 2 == 0 { Width::W64 } else { Width::W32 };
                let dst = vreg(a >> 1);
                p.push(Insn::Alu {
                    width,
                    op: AluOp::Mov,
                    dst,
                    src: Operand::Reg(vreg(b >> 1)),
                });
                let op = if matches!(src, Operand::Imm(_)) && c % 2 == 0 {
                    AluOp::Sub
                } else {
                    AluOp::Add
                };
                Insn::Alu {
                    width,
                    op,
                    dst,
                    src,
                }
            }
            _ => Insn::Alu {
                width: Width::W64,
                op: AluOp::Xor,
                dst: vreg(a),
                src,
            },
        };
        p.push(insn);
    }
    p.push(Insn::Exit);
    for (pc, insn) in p.iter_mut().enumerate() {
        if let Insn::Jump { off, .. } = insn {
            let t = (pc as i64 + 1 + i64::from(*off)) as usize;
            // (The loops' own back jumps stay.)
            if let Some(l) = loops
                .iter()
                .find(|l| l.start < t && t < l.end && !l.contains(&pc))
            {
                *off = (l.start - pc - 1) as i16;
            }
        }
    }
    p
}

/// A byte-copy loop inside the region (the JIT's `rep movsb` idiom, `jit/emit/copy.rs`): one
/// or two pointers, forward or backward overlap, a length from -2 to 40 (at most 0: the body
/// runs once). The pointers are folded into differences afterwards, so no address stays in a
/// register.
fn copy_loop(p: &mut Vec<Insn>, w: u64, values: &[Reg]) {
    let pick = |k: u64| values[(k % values.len() as u64) as usize];
    let (x, y, e, t) = (pick(w >> 10), pick(w >> 14), pick(w >> 18), pick(w >> 22));
    let two = x != y;
    if e == x || e == y || t == x || t == y || t == e {
        // At least one slot per word, as the forward jumps' ranges assume.
        p.push(Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: t,
            src: Operand::Imm(7),
        });
        return;
    }
    let src = (w >> 26) % 400;
    let dst = (w >> 36) % 400;
    let len = ((w >> 46) % 43) as i32 - 2;
    let alu = |op, dst, src| Insn::Alu {
        width: Width::W64,
        op,
        dst,
        src,
    };
    p.push(alu(AluOp::Mov, x, Operand::Reg(Reg::R1)));
    p.push(alu(AluOp::Add, x, Operand::Imm(src as i32)));
    if two {
        p.push(alu(AluOp::Mov, y, Operand::Reg(Reg::R1)));
        p.push(alu(AluOp::Add, y, Operand::Imm(dst as i32)));
    }
    // The bound follows the destination pointer in half the two-pointer loops.
    let c = if two && (w >> 56).is_multiple_of(2) {
        y
    } else {
        x
    };
    p.push(alu(AluOp::Mov, e, Operand::Reg(c)));
    p.push(alu(AluOp::Add, e, Operand::Imm(len)));
    let head = p.len();
    p.push(Insn::Load {
        size: Size::B,
        signed: false,
        dst: t,
        src: x,
        off: 0,
    });
    p.push(Insn::Store {
        size: Size::B,
        dst: y,
        off: if two { 0 } else { dst as i16 - src as i16 },
        src: Operand::Reg(t),
    });
    p.push(alu(AluOp::Add, x, Operand::Imm(1)));
    if two {
        p.push(alu(AluOp::Add, y, Operand::Imm(1)));
    }
    let jpc = p.len();
    p.push(Insn::Jump {
        width: Width::W64,
        op: JmpOp::Jlt,
        dst: c,
        src: Operand::Reg(e),
        off: head as i16 - jpc as i16 - 1,
    });
    p.push(alu(AluOp::Sub, x, Operand::Reg(e)));
    if two {
        p.push(alu(AluOp::Sub, y, Operand::Reg(e)));
    }
    p.push(alu(AluOp::Mov, e, Operand::Imm(len)));
}

/// A loop of 1 to 12 iterations (the JIT unrolls such loops twice, `jit/emit/unroll.rs`):
/// a counter set first, a straight body of ALU operations, stack and region accesses, maybe
/// an early exit past the loop, then the counter stepped and a back jump (`jne`, `jlt`,
/// `jgt`-down, 64 or 32 bits, or `ja` after an exit test at the top).
fn counted_loop(p: &mut Vec<Insn>, w: u64, values: &[Reg]) {
    let pick = |k: u64| values[(k % values.len() as u64) as usize];
    let c = pick(w >> 10);
    let body_regs: Vec<Reg> = values.iter().copied().filter(|&r| r != c).collect();
    let vr = |k: u64| body_regs[(k % body_regs.len() as u64) as usize];
    let iters = 1 + ((w >> 14) % 12) as i32;
    let shape = (w >> 18) % 4;
    let width = if (w >> 20).is_multiple_of(2) {
        Width::W64
    } else {
        Width::W32
    };
    let alu = |op, dst, src| Insn::Alu {
        width: Width::W64,
        op,
        dst,
        src,
    };
    let (start, step, op, bound) = match shape {
        0 => (iters, -1, JmpOp::Jne, 0),
        1 => (0, 1, JmpOp::Jlt, iters),
        2 => (iters, -1, JmpOp::Jsgt, 0),
        _ => (iters, -1, JmpOp::Jeq, 0),
    };
    p.push(alu(AluOp::Mov, c, Operand::Imm(start)));
    let head = p.len();
    let mut exit_jumps = Vec::new();
    if shape == 3 {
        // Exit test at the top, unconditional back jump.
        exit_jumps.push(p.len());
        p.push(Insn::Jump {
            width,
            op,
            dst: c,
            src: Operand::Imm(bound),
            off: 0,
        });
    }
    let mut x = w.rotate_left(23) | 1;
    for _ in 0..1 + (w >> 24) % 6 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let insn = match x % 5 {
            0 | 1 => Insn::Alu {
                width: if x % 7 < 3 { Width::W32 } else { Width::W64 },
                op: [
                    AluOp::Add,
                    AluOp::Sub,
                    AluOp::Xor,
                    AluOp::Mul,
                    AluOp::Or,
                    AluOp::And,
                ][((x >> 8) % 6) as usize],
                dst: vr(x >> 16),
                src: if x.is_multiple_of(3) {
                    Operand::Imm((x >> 32) as i32 >> 20)
                } else {
                    Operand::Reg(vr(x >> 24))
                },
            },
            2 => Insn::Load {
                size: Size::DW,
                signed: false,
                dst: vr(x >> 16),
                src: Reg::R10,
                off: -8 * (1 + ((x >> 24) % 64) as i16),
            },
            3 => Insn::Store {
                size: Size::W,
                dst: Reg::R1,
                off: 4 * ((x >> 24) % 128) as i16,
                src: Operand::Reg(vr(x >> 16)),
            },
            // An early exit past the loop.
            _ => {
                exit_jumps.push(p.len());
                Insn::Jump {
                    width: Width::W64,
                    op: JmpOp::Jeq,
                    dst: vr(x >> 16),
                    src: Operand::Imm((x >> 40) as i32 % 4),
                    off: 0,
                }
            }
        };
        p.push(insn);
    }
    p.push(alu(AluOp::Add, c, Operand::Imm(step)));
    let jpc = p.len();
    let back = head as i16 - jpc as i16 - 1;
    p.push(if shape == 3 {
        Insn::Ja {
            off: i32::from(back),
            long: false,
        }
    } else {
        Insn::Jump {
            width,
            op,
            dst: c,
            src: Operand::Imm(bound),
            off: back,
        }
    });
    // Exits land here, on an instruction of the loop item (so they stay inside it).
    let out = p.len();
    for j in exit_jumps {
        if let Insn::Jump { off, .. } = &mut p[j] {
            *off = (out - j - 1) as i16;
        }
    }
    p.push(alu(AluOp::Mov, c, Operand::Imm(iters)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn verified_mode_agrees_on_safe_generated_programs(
        words in prop::collection::vec(any::<u64>(), 1..60),
        mem in prop::collection::vec(any::<u8>(), REGION),
    ) {
        let p = safe_program(&words);
        let vm = Interpreter::new(&p, Helpers::new()).expect("the generator makes valid programs");
        let mut want_mem = mem.clone();
        let want = vm.run_on(&mut want_mem);
        prop_assert!(want.is_ok(), "safe program failed on the interpreter: {want:?}");
        let mut got_mem = mem.clone();
        let got = verified(&p, Helpers::new()).run_on(&mut got_mem);
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_mem, want_mem);
    }
}

/// Set by a native helper that found the native stack misaligned at its call.
static MISALIGNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The native stack must be 16-byte aligned at every direct helper call (the System V ABI):
/// a 16-aligned local shows it (the compiler places it assuming an aligned stack).
#[inline(never)]
fn check_alignment() {
    #[repr(align(16))]
    struct A(#[allow(dead_code)] [u8; 16]);
    let a = std::hint::black_box(A([0; 16]));
    if !(&raw const a).addr().is_multiple_of(16) {
        MISALIGNED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Native helper 1: the sum of the `r2` bytes at `r1`, plus `r3`.
unsafe extern "C" fn sum_native(
    r1: u64,
    r2: u64,
    r3: u64,
    _: u64,
    _: u64,
    _: *const std::ffi::c_void,
) -> u64 {
    check_alignment();
    // SAFETY: the test programs pass a pointer into their region or stack with its length.
    let bytes = unsafe { std::slice::from_raw_parts(r1 as usize as *const u8, r2 as usize) };
    bytes.iter().map(|&b| u64::from(b)).sum::<u64>() + r3
}

/// Native helper 2: `r1 * data + r5`, with `data` the registered `u64`.
unsafe extern "C" fn mul_native(
    r1: u64,
    _: u64,
    _: u64,
    _: u64,
    r5: u64,
    data: *const std::ffi::c_void,
) -> u64 {
    check_alignment();
    // SAFETY: registered with an `Arc<u64>`: `data` points to that u64.
    let k = unsafe { *data.cast::<u64>() };
    r1.wrapping_mul(k).wrapping_add(r5)
}

/// Helpers 1 and 2 with generic forms (interpreter, checked code) and native forms
/// (verified code), which must agree.
fn native_helpers() -> Helpers {
    let mut h = Helpers::new();
    h.register_native(
        1,
        |ctx, a| {
            let bytes = ctx.read(a[0], a[1] as usize)?;
            Ok(bytes.iter().map(|&b| u64::from(b)).sum::<u64>() + a[2])
        },
        waggle_vm::NativeHelper::new(sum_native, std::sync::Arc::new(())),
    );
    h.register_native(
        2,
        |_, a| Ok(a[0].wrapping_mul(7).wrapping_add(a[4])),
        waggle_vm::NativeHelper::new(mul_native, std::sync::Arc::new(7u64)),
    );
    h
}

/// Verified code calls helpers with direct forms as plain functions (no run context: the
/// lean path), with r1..=r5 in registers and an aligned stack at any call depth and with any
/// number of saved registers; results and memory agree with the interpreter and checked code.
#[test]
fn native_helper_calls_agree_with_the_interpreter() {
    // r6 = region, r7 = accumulator; helper calls from the main frame and from a BPF-to-BPF
    // call, reading the region and the stack.
    let sources = [
        "mov %r6, %r1\nmov %r2, 16\nmov %r3, 5\ncall 1\nexit\n",
        "mov %r6, %r1\nmov %r7, 0\nmov %r8, 4\nloop:\nmov %r1, %r6\nmov %r2, 32\nmov %r3, %r8\ncall 1\nadd %r7, %r0\nmov %r1, %r7\nmov %r5, %r8\ncall 2\nmov %r7, %r0\nstxdw [%r6+8], %r7\nsub %r8, 1\njne %r8, 0, loop\nmov %r0, %r7\nexit\n",
        "mov %r6, %r1\nstdw [%r10-8], 0x01020304\nstdw [%r10-16], 9\nmov %r1, %r10\nadd %r1, -16\nmov %r2, 16\nmov %r3, 0\ncall 1\nmov %r9, %r0\ncall local f\nadd %r0, %r9\nexit\nf:\nstdw [%r10-8], 3\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nmov %r3, 100\ncall 1\nmov %r1, %r0\nmov %r5, 1\ncall 2\nexit\n",
        "mov %r1, 3\nmov %r5, 4\ncall 2\nexit\n",
    ];
    for src in sources {
        let insns = waggle_isa::asm::assemble(src).expect("assembles");
        let mem: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
        let vm = Interpreter::new(&insns, native_helpers()).expect("valid");
        let mut want_mem = mem.clone();
        let want = vm.run_on(&mut want_mem).expect("runs on the interpreter");
        let jit = verified(&insns, native_helpers());
        assert!(!jit.calls_rust(), "{src}: direct calls need no run context");
        let mut got_mem = mem.clone();
        assert_eq!(jit.run_on(&mut got_mem), Ok(want), "{src}");
        assert_eq!(got_mem, want_mem, "{src}");
        let checked = Jit::new(&insns, native_helpers()).expect("valid");
        let mut checked_mem = mem.clone();
        assert_eq!(checked.run_on(&mut checked_mem), Ok(want), "{src}: checked");
        assert_eq!(checked_mem, want_mem, "{src}: checked");
    }
    assert!(
        !MISALIGNED.load(std::sync::atomic::Ordering::Relaxed),
        "a direct helper call had a misaligned stack"
    );
}

/// A program calling a helper without a direct form calls every helper through Rust (all
/// or none), with the same results.
#[test]
fn helpers_without_direct_forms_use_the_run_context() {
    let mut h = native_helpers();
    h.register(3, |_, a| Ok(a[0] ^ 0xff));
    let insns =
        waggle_isa::asm::assemble("mov %r1, 5\nmov %r5, 1\ncall 2\nmov %r1, %r0\ncall 3\nexit\n")
            .expect("assembles");
    let jit = verified(&insns, h.clone());
    assert!(jit.calls_rust());
    let want = Interpreter::new(&insns, h)
        .expect("valid")
        .run_on(&mut [])
        .expect("runs");
    assert_eq!(want, (5 * 7 + 1) ^ 0xff);
    assert_eq!(jit.run_on(&mut []), Ok(want));
}

/// The generator's copy loops reach the JIT's `rep movsb` idiom (and agree when run).
#[test]
fn generated_copy_loops_are_fused() {
    let mut fused = 0;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // A copy-loop word (w % 6 == 5, (w >> 8) % 4 == 1).
        let w = (x - x % 6 + 5) & !(3 << 8) | (1 << 8);
        let w = w - w % 6 + 5;
        if w % 6 != 5 || (w >> 8) % 4 != 1 {
            continue;
        }
        let p = safe_program(&[w, x]);
        let jit = verified(&p, Helpers::new());
        fused += usize::from(jit.code().windows(2).any(|b| b == [0xf3, 0xa4]));
        let mem: Vec<u8> = (0..REGION).map(|i| (i * 7) as u8).collect();
        assert!(compare("copy loop", &p, Helpers::new(), &mem));
    }
    assert!(fused >= 50, "only {fused} fused copy loops");
}

/// The generator's counted loops reach the JIT's unrolling (the code holds the body twice:
/// the verified code is longer than the checked code's body would suggest is not checked
/// here; agreement with the interpreter is).
#[test]
fn generated_counted_loops_agree() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut loops = 0;
    for _ in 0..600 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let w = (x & !(3 << 8)) | (3 << 8);
        let w = w - w % 6 + 5;
        if w % 6 != 5 || (w >> 8) % 4 != 3 {
            continue;
        }
        loops += 1;
        let p = safe_program(&[w, x.rotate_left(7)]);
        let mem: Vec<u8> = (0..REGION).map(|i| (i * 13) as u8).collect();
        assert!(compare("counted loop", &p, Helpers::new(), &mem));
    }
    assert!(loops >= 100, "only {loops} loops");
}

/// The generator's short forward jumps reach the JIT's conditional moves
/// (`jit/emit/select.rs`), and those programs agree with the interpreter.
#[test]
fn generated_short_branches_become_cmov() {
    let mut x = 0x6a09_e667_f3bc_c908u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut selected = 0;
    for _ in 0..300 {
        let words: Vec<u64> = (0..24).map(|_| next()).collect();
        let p = safe_program(&words);
        let jit = verified(&p, Helpers::new());
        let code = jit.code();
        selected +=
            usize::from(code.windows(4).any(|w| {
                w[0] & 0xf8 == 0x48 && w[1] == 0x0f && w[2] & 0xf0 == 0x40 && w[3] >= 0xc0
            }));
        let mem: Vec<u8> = (0..REGION).map(|i| (i * 29) as u8).collect();
        assert!(compare("short branches", &p, Helpers::new(), &mem));
    }
    // About one program in twelve has a jump over one or two pure 64-bit ALU instructions.
    assert!(selected >= 10, "only {selected} of 300 programs use cmov");
}
