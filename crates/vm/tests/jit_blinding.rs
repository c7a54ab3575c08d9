//! Constant blinding (`JitOptions::blind`): a chosen immediate no longer appears in the
//! machine code, and results are unchanged (the whole conformance suite, checked and
//! verified mode, against the interpreter).

#![allow(unsafe_code)]

mod common;

use common::{conformance_helpers, conformance_programs};
use waggle_isa::{AluOp, Insn, JmpOp, LddwKind, Operand, Reg, Size, Width};
use waggle_vm::{Helpers, Interpreter, Jit, JitOptions};

const CHOSEN: i32 = 0x5a3c_96e1;

fn contains(code: &[u8], needle: &[u8]) -> bool {
    code.windows(needle.len()).any(|w| w == needle)
}

/// A program using `CHOSEN` in every kind of immediate operand.
fn program() -> Vec<Insn> {
    let alu = |width, op, dst, src| Insn::Alu {
        width,
        op,
        dst,
        src,
    };
    vec![
        alu(Width::W64, AluOp::Mov, Reg::R0, Operand::Imm(CHOSEN)),
        alu(Width::W32, AluOp::Add, Reg::R0, Operand::Imm(CHOSEN)),
        alu(Width::W64, AluOp::Xor, Reg::R0, Operand::Imm(CHOSEN)),
        alu(Width::W64, AluOp::Mul, Reg::R0, Operand::Imm(CHOSEN)),
        alu(Width::W64, AluOp::Div, Reg::R0, Operand::Imm(CHOSEN)),
        Insn::Store {
            size: Size::W,
            dst: Reg::R10,
            off: -8,
            src: Operand::Imm(CHOSEN),
        },
        Insn::Load {
            size: Size::W,
            signed: false,
            dst: Reg::R2,
            src: Reg::R10,
            off: -8,
        },
        alu(Width::W64, AluOp::Add, Reg::R0, Operand::Reg(Reg::R2)),
        Insn::Lddw {
            dst: Reg::R3,
            kind: LddwKind::Imm,
            imm: (CHOSEN as u32 as u64) << 16 | 7,
        },
        Insn::LddwHigh,
        alu(Width::W64, AluOp::Add, Reg::R0, Operand::Reg(Reg::R3)),
        Insn::Jump {
            width: Width::W64,
            op: JmpOp::Jeq,
            dst: Reg::R2,
            src: Operand::Imm(CHOSEN),
            off: 1,
        },
        alu(Width::W64, AluOp::Mov, Reg::R0, Operand::Imm(0)),
        Insn::Exit,
    ]
}

#[test]
fn blinded_code_hides_a_chosen_immediate() {
    let p = program();
    let needle = CHOSEN.to_le_bytes();
    let want = Interpreter::new(&p, Helpers::new())
        .expect("valid")
        .run_on(&mut []);
    assert!(
        matches!(want, Ok(r) if r != 0),
        "the program takes the branch"
    );

    // Without blinding the immediate is in the code (so the search below can find it).
    let plain = Jit::new(&p, Helpers::new()).expect("compiles");
    assert!(contains(plain.code(), &needle));
    assert_eq!(plain.run_on(&mut []), want);

    let blind = JitOptions { blind: true };
    let checked = Jit::with_options(&p, Helpers::new(), blind).expect("compiles");
    // SAFETY: the program only touches its own stack slot, written before it is read.
    let verified = unsafe { Jit::new_verified_with(&p, Helpers::new(), blind) }.expect("compiles");
    for jit in [&checked, &verified] {
        assert!(
            !contains(jit.code(), &needle),
            "the chosen immediate is in the code"
        );
        assert_eq!(jit.run_on(&mut []), want);
    }
    // Fresh keys each compilation: the same program gives different code.
    let again = Jit::with_options(&p, Helpers::new(), blind).expect("compiles");
    assert_ne!(again.code(), checked.code());
}

#[test]
fn conformance_suite_under_blinding() {
    let Some(programs) = conformance_programs() else {
        return;
    };
    let blind = JitOptions { blind: true };
    let mut verified_runs = 0;
    for (name, insns, mem) in &programs {
        let vm = Interpreter::new(insns, conformance_helpers()).expect("prepares");
        let mut want_mem = mem.clone();
        let want = vm.run_on(&mut want_mem);
        if want.is_err() {
            println!("{name}: {want:?}");
        }
        let jit = Jit::with_options(insns, conformance_helpers(), blind).expect("compiles");
        let mut got_mem = mem.clone();
        let got = jit.run_on(&mut got_mem);
        assert_eq!(got.is_ok(), want.is_ok(), "{name}: {got:?} / {want:?}");
        if want.is_ok() {
            assert_eq!(got, want, "{name}");
            assert_eq!(got_mem, want_mem, "{name}");
            // SAFETY: it ran without error on the interpreter over this same memory.
            let v = unsafe { Jit::new_verified_with(insns, conformance_helpers(), blind) }
                .expect("compiles");
            let mut v_mem = mem.clone();
            assert_eq!(v.run_on(&mut v_mem), want, "{name} (verified)");
            assert_eq!(v_mem, want_mem, "{name} (verified)");
            verified_runs += 1;
        }
    }
    println!(
        "blinding: {} conformance programs, {verified_runs} also verified",
        programs.len()
    );
    assert!(verified_runs >= 250);
}
