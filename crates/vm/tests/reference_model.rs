//! The interpreter against a reference model in plain Rust integer arithmetic: every ALU and
//! ALU64 operation (register and immediate source), `neg`, the byte-order conversions, and
//! every JMP and JMP32 comparison, on random and edge-case operands.
//!
//! Each case runs tiny programs built from `Insn` values: `lddw r1, a; lddw r2, b; op; exit`.

// The model spells out every special case on purpose, rather than sharing the interpreter's
// `checked_*` idioms.
#![allow(clippy::manual_checked_ops)]

mod common;

use common::*;
use proptest::prelude::*;
use waggle_isa::{AluOp, ByteOrder, Insn, JmpOp, Operand, Width};

/// The reference: 64-bit operation on `a` and the operand value `b`.
fn model64(op: AluOp, a: u64, b: u64) -> u64 {
    let (sa, sb) = (a as i64, b as i64);
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => {
            if b == 0 {
                0
            } else {
                a / b
            }
        }
        AluOp::SDiv => match (sa, sb) {
            (_, 0) => 0,
            (i64::MIN, -1) => i64::MIN as u64,
            _ => (sa / sb) as u64,
        },
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Lsh => a << (b & 63),
        AluOp::Rsh => a >> (b & 63),
        AluOp::Mod => {
            if b == 0 {
                a
            } else {
                a % b
            }
        }
        AluOp::SMod => match (sa, sb) {
            (_, 0) => a,
            (_, -1) => 0,
            _ => (sa % sb) as u64,
        },
        AluOp::Xor => a ^ b,
        AluOp::Mov => b,
        AluOp::MovSx8 => i64::from(b as u8 as i8) as u64,
        AluOp::MovSx16 => i64::from(b as u16 as i16) as u64,
        AluOp::MovSx32 => i64::from(b as u32 as i32) as u64,
        AluOp::Arsh => (sa >> (b & 63)) as u64,
    }
}

/// The reference: 32-bit operation, result zero-extended.
fn model32(op: AluOp, a: u64, b: u64) -> u64 {
    let (a, b) = (a as u32, b as u32);
    let (sa, sb) = (a as i32, b as i32);
    let r: u32 = match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => {
            if b == 0 {
                0
            } else {
                a / b
            }
        }
        AluOp::SDiv => match (sa, sb) {
            (_, 0) => 0,
            (i32::MIN, -1) => i32::MIN as u32,
            _ => (sa / sb) as u32,
        },
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Lsh => a << (b & 31),
        AluOp::Rsh => a >> (b & 31),
        AluOp::Mod => {
            if b == 0 {
                a
            } else {
                a % b
            }
        }
        AluOp::SMod => match (sa, sb) {
            (_, 0) => a,
            (_, -1) => 0,
            _ => (sa % sb) as u32,
        },
        AluOp::Xor => a ^ b,
        AluOp::Mov => b,
        AluOp::MovSx8 => i32::from(b as u8 as i8) as u32,
        AluOp::MovSx16 => i32::from(b as u16 as i16) as u32,
        AluOp::MovSx32 => unreachable!("no 32-bit movsx32"),
        AluOp::Arsh => (sa >> (b & 31)) as u32,
    };
    u64::from(r)
}

fn model_cmp64(op: JmpOp, a: u64, b: u64) -> bool {
    let (sa, sb) = (a as i64, b as i64);
    match op {
        JmpOp::Jeq => a == b,
        JmpOp::Jgt => a > b,
        JmpOp::Jge => a >= b,
        JmpOp::Jset => a & b != 0,
        JmpOp::Jne => a != b,
        JmpOp::Jsgt => sa > sb,
        JmpOp::Jsge => sa >= sb,
        JmpOp::Jlt => a < b,
        JmpOp::Jle => a <= b,
        JmpOp::Jslt => sa < sb,
        JmpOp::Jsle => sa <= sb,
    }
}

fn model_cmp32(op: JmpOp, a: u64, b: u64) -> bool {
    // The 32-bit comparison is the 64-bit one on the low halves, sign-extended for the
    // signed comparisons and zero-extended for the others.
    let signed = matches!(op, JmpOp::Jsgt | JmpOp::Jsge | JmpOp::Jslt | JmpOp::Jsle);
    let ext = |v: u64| {
        if signed {
            i64::from(v as u32 as i32) as u64
        } else {
            u64::from(v as u32)
        }
    };
    model_cmp64(op, ext(a), ext(b))
}

/// The value the instruction sees for the source: register r2 = `b`, or the immediate,
/// sign-extended to 64 bits (for 32-bit operations only its low half matters).
fn operand_value(src: Operand, b: u64) -> u64 {
    match src {
        Operand::Reg(_) => b,
        Operand::Imm(i) => i64::from(i) as u64,
    }
}

fn exec(insn: Insn, a: u64, b: u64) -> u64 {
    let p = prog![lddw(1, a), lddw(2, b), insn, movr(0, 1), EXIT];
    run(&p).unwrap_or_else(|e| panic!("{insn:?}: {e}"))
}

fn check_alu(a: u64, b: u64, i: i32) -> Result<(), TestCaseError> {
    for op in ALU_OPS {
        for width in [Width::W64, Width::W32] {
            for src in [reg(2), imm(i)] {
                let movsx = matches!(op, AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32);
                if movsx
                    && (matches!(src, Operand::Imm(_))
                        || (op == AluOp::MovSx32 && width == Width::W32))
                {
                    continue; // not encodable
                }
                let insn = Insn::Alu {
                    width,
                    op,
                    dst: r(1),
                    src,
                };
                let v = operand_value(src, b);
                let expect = match width {
                    Width::W64 => model64(op, a, v),
                    Width::W32 => model32(op, a, v),
                };
                prop_assert_eq!(exec(insn, a, b), expect, "{:?} a={:#x} b={:#x}", insn, a, v);
            }
        }
    }
    // neg, and the byte-order conversions.
    prop_assert_eq!(exec(neg(Width::W64, 1), a, b), 0u64.wrapping_sub(a));
    prop_assert_eq!(
        exec(neg(Width::W32, 1), a, b),
        u64::from(0u32.wrapping_sub(a as u32))
    );
    for bits in [16u8, 32, 64] {
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let truncated = a & mask;
        let swapped = a.swap_bytes() >> (64 - u32::from(bits));
        for (order, expect) in [
            (ByteOrder::ToLe, truncated),
            (ByteOrder::ToBe, swapped),
            (ByteOrder::Swap, swapped),
        ] {
            let insn = endian(order, bits, 1);
            prop_assert_eq!(exec(insn, a, b), expect, "{:?} a={:#x}", insn, a);
        }
    }
    Ok(())
}

fn check_jmp(a: u64, b: u64, i: i32) -> Result<(), TestCaseError> {
    for op in JMP_OPS {
        for width in [Width::W64, Width::W32] {
            for src in [reg(2), imm(i)] {
                let p = prog![
                    lddw(1, a),
                    lddw(2, b),
                    mov(0, 0),
                    jmp(width, op, 1, src, 1),
                    EXIT,
                    mov(0, 1),
                    EXIT,
                ];
                let v = operand_value(src, b);
                let expect = match width {
                    Width::W64 => model_cmp64(op, a, v),
                    Width::W32 => model_cmp32(op, a, v),
                };
                let taken = run(&p).map_err(|e| TestCaseError::fail(e.to_string()))? == 1;
                prop_assert_eq!(
                    taken,
                    expect,
                    "{:?} {:?} {:?} a={:#x} b={:#x}",
                    width,
                    op,
                    src,
                    a,
                    v
                );
            }
        }
    }
    Ok(())
}

/// Random 64-bit values mixed with the edges of every width.
fn operand() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => any::<u64>(),
        1 => (-70i64..70).prop_map(|v| v as u64),
        1 => prop::sample::select(vec![
            0u64,
            1,
            u64::MAX,
            i64::MIN as u64,
            i64::MAX as u64,
            u32::MAX as u64,
            i32::MIN as u64,
            i32::MIN as u32 as u64,
            i32::MAX as u64,
            0x8000_0000,
            0xffff_ffff_0000_0000,
            0x1_0000_0000,
            0x80,
            0x8000,
        ]),
        1 => any::<i32>().prop_map(|v| v as i64 as u64),
    ]
}

fn immediate() -> impl Strategy<Value = i32> {
    prop_oneof![
        2 => any::<i32>(),
        2 => -70i32..70,
        1 => prop::sample::select(vec![0, 1, -1, i32::MIN, i32::MAX, 31, 32, 63, 64]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn alu_matches_the_model(a in operand(), b in operand(), i in immediate()) {
        check_alu(a, b, i)?;
    }

    #[test]
    fn jumps_match_the_model(a in operand(), b in operand(), i in immediate()) {
        check_jmp(a, b, i)?;
    }

    /// Comparisons of a value with itself and its neighbours, where the relations flip.
    #[test]
    fn jumps_at_equality(a in operand(), d in -1i64..=1) {
        let b = a.wrapping_add_signed(d);
        check_jmp(a, b, b as i32)?;
    }
}

#[test]
fn edge_operands_exhaustively() {
    let edges = [
        0u64,
        1,
        u64::MAX,
        i64::MIN as u64,
        i64::MAX as u64,
        u32::MAX as u64,
        i32::MIN as u32 as u64,
        i32::MIN as i64 as u64,
    ];
    for &a in &edges {
        for &b in &edges {
            for i in [0, 1, -1, i32::MIN, i32::MAX] {
                check_alu(a, b, i).unwrap();
                check_jmp(a, b, i).unwrap();
            }
        }
    }
}
