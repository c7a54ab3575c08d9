//! Instruction semantics, one family at a time (RFC 9669; Linux where the RFC is silent).

mod common;

use common::*;
use waggle_isa::{AluOp, AtomicOp, ByteOrder, Insn, JmpOp, PacketMode, Size, Width};
use waggle_vm::{HelperError, Helpers, MAY_GOTO_LIMIT, Region, RunConfig, VmError};

/// r0 = `a` op `src` in `width`, with `a` loaded by lddw.
fn alu_result(width: Width, op: AluOp, a: u64, src: waggle_isa::Operand, b: u64) -> u64 {
    let insn = Insn::Alu {
        width,
        op,
        dst: r(0),
        src,
    };
    run(&prog![lddw(0, a), lddw(2, b), insn, EXIT]).unwrap()
}

fn alu64_imm(op: AluOp, a: u64, i: i32) -> u64 {
    alu_result(Width::W64, op, a, imm(i), 0)
}

fn alu64_reg(op: AluOp, a: u64, b: u64) -> u64 {
    alu_result(Width::W64, op, a, reg(2), b)
}

fn alu32_imm(op: AluOp, a: u64, i: i32) -> u64 {
    alu_result(Width::W32, op, a, imm(i), 0)
}

fn alu32_reg(op: AluOp, a: u64, b: u64) -> u64 {
    alu_result(Width::W32, op, a, reg(2), b)
}

const MIN64: u64 = i64::MIN as u64;
const NEG1: u64 = u64::MAX;

#[test]
fn alu64_basic_and_wrapping() {
    assert_eq!(alu64_imm(AluOp::Add, u64::MAX, 2), 1);
    assert_eq!(alu64_imm(AluOp::Add, 5, -1), 4, "imm is sign-extended");
    assert_eq!(alu64_imm(AluOp::Sub, 0, 1), NEG1);
    assert_eq!(alu64_reg(AluOp::Mul, 1 << 63, 2), 0);
    assert_eq!(alu64_imm(AluOp::Mul, 3, -2), (-6i64) as u64);
    assert_eq!(alu64_imm(AluOp::Or, 0xf0, -256), 0xffff_ffff_ffff_fff0);
    assert_eq!(alu64_imm(AluOp::And, NEG1, -2), NEG1 - 1);
    assert_eq!(alu64_imm(AluOp::And, NEG1, 0x7fff_ffff), 0x7fff_ffff);
    assert_eq!(alu64_reg(AluOp::Xor, 0xff00, 0x0ff0), 0xf0f0);
    assert_eq!(alu64_imm(AluOp::Mov, 7, -1), NEG1);
    assert_eq!(alu64_reg(AluOp::Mov, 7, 1 << 40), 1 << 40);
}

#[test]
fn alu64_division() {
    assert_eq!(alu64_imm(AluOp::Div, 100, 7), 14);
    assert_eq!(alu64_imm(AluOp::Div, 100, 0), 0, "unsigned div by zero");
    assert_eq!(alu64_reg(AluOp::Div, 100, 0), 0);
    assert_eq!(alu64_imm(AluOp::Div, NEG1, -1), 1, "imm -1 is u64::MAX");
    assert_eq!(alu64_imm(AluOp::Mod, 100, 7), 2);
    assert_eq!(alu64_imm(AluOp::Mod, 100, 0), 100, "unsigned mod by zero");
    assert_eq!(alu64_reg(AluOp::Mod, NEG1, 0), NEG1);
    assert_eq!(alu64_imm(AluOp::SDiv, (-100i64) as u64, 7), (-14i64) as u64);
    assert_eq!(alu64_imm(AluOp::SDiv, 100, 0), 0, "signed div by zero");
    assert_eq!(alu64_imm(AluOp::SDiv, MIN64, -1), MIN64, "INT_MIN / -1");
    assert_eq!(alu64_reg(AluOp::SDiv, MIN64, NEG1), MIN64);
    assert_eq!(
        alu64_imm(AluOp::SMod, (-7i64) as u64, 2),
        NEG1,
        "sign of the dividend"
    );
    assert_eq!(alu64_imm(AluOp::SMod, 7, -2), 1);
    assert_eq!(alu64_imm(AluOp::SMod, (-7i64) as u64, 0), (-7i64) as u64);
    assert_eq!(alu64_imm(AluOp::SMod, MIN64, -1), 0, "INT_MIN % -1");
    assert_eq!(alu64_reg(AluOp::SMod, MIN64, NEG1), 0);
}

#[test]
fn alu64_shifts_are_masked() {
    assert_eq!(alu64_imm(AluOp::Lsh, 1, 63), 1 << 63);
    assert_eq!(alu64_reg(AluOp::Lsh, 1, 65), 2);
    assert_eq!(alu64_reg(AluOp::Rsh, 1 << 63, 64 + 63), 1);
    assert_eq!(alu64_imm(AluOp::Rsh, NEG1, 60), 0xf);
    assert_eq!(alu64_imm(AluOp::Arsh, MIN64, 63), NEG1);
    assert_eq!(
        alu64_reg(AluOp::Arsh, MIN64, 128 + 4),
        0xf800_0000_0000_0000
    );
}

#[test]
fn alu32_zero_extends() {
    let hi = 0xdead_beef_0000_0000;
    assert_eq!(alu32_imm(AluOp::Add, hi | 0xffff_ffff, 2), 1);
    assert_eq!(alu32_imm(AluOp::Sub, hi, 1), 0xffff_ffff);
    assert_eq!(alu32_reg(AluOp::Mul, hi | 0x10000, 0x10000 | hi), 0);
    assert_eq!(alu32_imm(AluOp::Or, hi, -1), 0xffff_ffff);
    assert_eq!(alu32_imm(AluOp::And, hi | 0xff, 0x0f), 0xf);
    assert_eq!(alu32_imm(AluOp::Xor, hi, 1), 1);
    assert_eq!(
        alu32_imm(AluOp::Mov, hi, -1),
        0xffff_ffff,
        "mov32 zero-extends"
    );
    assert_eq!(alu32_reg(AluOp::Mov, 0, NEG1), 0xffff_ffff);
}

#[test]
fn alu32_division() {
    assert_eq!(
        alu32_imm(AluOp::Div, 0x1_0000_0064, 7),
        14,
        "operands are 32-bit"
    );
    assert_eq!(
        alu32_reg(AluOp::Div, 100, 1 << 32),
        0,
        "divisor truncates to 0"
    );
    assert_eq!(alu32_imm(AluOp::Div, 0xffff_ffff, -1), 1);
    assert_eq!(alu32_imm(AluOp::Mod, 100, 7), 2);
    assert_eq!(
        alu32_imm(AluOp::Mod, 0xabcd_0000_1234_5678, 0),
        0x1234_5678,
        "mod32 by zero: dst truncated"
    );
    assert_eq!(alu32_reg(AluOp::Mod, NEG1, 1 << 32), 0xffff_ffff);
    assert_eq!(
        alu32_imm(AluOp::SDiv, (-100i64) as u64, 7),
        (-14i32) as u32 as u64
    );
    assert_eq!(alu32_imm(AluOp::SDiv, 100, 0), 0);
    assert_eq!(
        alu32_imm(AluOp::SDiv, 0x8000_0000, -1),
        0x8000_0000,
        "INT_MIN / -1"
    );
    assert_eq!(alu32_imm(AluOp::SMod, (-7i64) as u64, 2), 0xffff_ffff);
    assert_eq!(alu32_imm(AluOp::SMod, 7, -2), 1);
    assert_eq!(alu32_imm(AluOp::SMod, 0x8000_0000, -1), 0, "INT_MIN % -1");
    assert_eq!(
        alu32_imm(AluOp::SMod, NEG1, 0),
        0xffff_ffff,
        "smod32 by zero"
    );
}

#[test]
fn alu32_shifts_are_masked() {
    assert_eq!(alu32_imm(AluOp::Lsh, 1, 31), 0x8000_0000);
    assert_eq!(alu32_reg(AluOp::Lsh, 1, 33), 2);
    assert_eq!(
        alu32_imm(AluOp::Lsh, 0x8000_0000, 1),
        0,
        "no carry into bit 32"
    );
    assert_eq!(alu32_reg(AluOp::Rsh, NEG1, 32 + 28), 0xf);
    assert_eq!(alu32_imm(AluOp::Arsh, 0x8000_0000, 4), 0xf800_0000);
    assert_eq!(alu32_imm(AluOp::Arsh, 0x1_4000_0000, 4), 0x0400_0000);
}

#[test]
fn movsx() {
    let v = 0x1234_5678_9abc_de80;
    assert_eq!(alu64_reg(AluOp::MovSx8, 0, v), (-128i64) as u64);
    assert_eq!(alu64_reg(AluOp::MovSx16, 0, v), 0xffff_ffff_ffff_de80);
    assert_eq!(alu64_reg(AluOp::MovSx32, 0, v), 0xffff_ffff_9abc_de80);
    assert_eq!(alu64_reg(AluOp::MovSx8, 0, 0x7f), 0x7f);
    assert_eq!(
        alu32_reg(AluOp::MovSx8, NEG1, v),
        0xffff_ff80,
        "sign into 32, zero above"
    );
    assert_eq!(alu32_reg(AluOp::MovSx16, 0, v), 0xffff_de80);
    assert_eq!(alu32_reg(AluOp::MovSx16, 0, 0x7fff), 0x7fff);
}

#[test]
fn negation() {
    let n64 = |v| run(&prog![lddw(0, v), neg(Width::W64, 0), EXIT]).unwrap();
    let n32 = |v| run(&prog![lddw(0, v), neg(Width::W32, 0), EXIT]).unwrap();
    assert_eq!(n64(1), NEG1);
    assert_eq!(n64(MIN64), MIN64);
    assert_eq!(n64(0), 0);
    assert_eq!(n32(1), 0xffff_ffff);
    assert_eq!(n32(0xffff_ffff_0000_0002), 0xffff_fffe);
    assert_eq!(n32(0x8000_0000), 0x8000_0000);
}

#[test]
fn byte_order() {
    let v = 0x1122_3344_5566_7788;
    let e = |order, bits| run(&prog![lddw(0, v), endian(order, bits, 0), EXIT]).unwrap();
    assert_eq!(e(ByteOrder::ToLe, 16), 0x7788);
    assert_eq!(e(ByteOrder::ToLe, 32), 0x5566_7788);
    assert_eq!(e(ByteOrder::ToLe, 64), v);
    assert_eq!(e(ByteOrder::ToBe, 16), 0x8877);
    assert_eq!(e(ByteOrder::ToBe, 32), 0x8877_6655);
    assert_eq!(e(ByteOrder::ToBe, 64), 0x8877_6655_4433_2211);
    assert_eq!(e(ByteOrder::Swap, 16), 0x8877);
    assert_eq!(e(ByteOrder::Swap, 32), 0x8877_6655);
    assert_eq!(e(ByteOrder::Swap, 64), 0x8877_6655_4433_2211);
}

#[test]
fn lddw_loads_64_bits_and_skips_its_second_slot() {
    assert_eq!(
        run(&prog![lddw(0, 0x0123_4567_89ab_cdef), EXIT]),
        Ok(0x0123_4567_89ab_cdef)
    );
    // A jump over an lddw counts both slots.
    let p = prog![mov(0, 1), ja(2), lddw(0, 99), EXIT];
    assert_eq!(run(&p), Ok(1));
}

#[test]
fn loads_zero_or_sign_extend() {
    let mut mem = [0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87];
    let load = |insn: Insn, mem: &mut [u8]| run_mem(&prog![insn, EXIT], mem).unwrap();
    assert_eq!(load(ldx(Size::B, 0, 1, 0), &mut mem), 0x80);
    assert_eq!(load(ldx(Size::H, 0, 1, 2), &mut mem), 0x8382);
    assert_eq!(load(ldx(Size::W, 0, 1, 4), &mut mem), 0x8786_8584);
    assert_eq!(
        load(ldx(Size::DW, 0, 1, 0), &mut mem),
        0x8786_8584_8382_8180
    );
    assert_eq!(
        load(ldxs(Size::B, 0, 1, 1), &mut mem),
        0xffff_ffff_ffff_ff81
    );
    assert_eq!(
        load(ldxs(Size::H, 0, 1, 1), &mut mem),
        0xffff_ffff_ffff_8281
    );
    assert_eq!(
        load(ldxs(Size::W, 0, 1, 3), &mut mem),
        0xffff_ffff_8685_8483
    );
    mem[1] = 0x7f;
    assert_eq!(load(ldxs(Size::B, 0, 1, 1), &mut mem), 0x7f);
}

#[test]
fn stores_of_registers_and_immediates() {
    let mut mem = [0u8; 16];
    let p = prog![
        lddw(3, 0x1122_3344_5566_7788),
        stx(Size::B, 1, 0, 3),
        stx(Size::H, 1, 1, 3),
        stx(Size::W, 1, 3, 3),
        st(Size::DW, 1, 8, -2),
        mov(0, 0),
        EXIT,
    ];
    run_mem(&p, &mut mem).unwrap();
    assert_eq!(mem[..7], [0x88, 0x88, 0x77, 0x88, 0x77, 0x66, 0x55]);
    assert_eq!(mem[7], 0);
    assert_eq!(mem[8..], (-2i64).to_le_bytes());
    let p = prog![
        st(Size::B, 1, 0, 0x1ff),
        st(Size::H, 1, 2, -1),
        st(Size::W, 1, 4, 0x0102_0304),
        EXIT
    ];
    let mut mem = [0u8; 8];
    run_mem(&p, &mut mem).unwrap();
    assert_eq!(mem, [0xff, 0, 0xff, 0xff, 4, 3, 2, 1]);
}

#[test]
fn stack_is_zeroed_readable_and_writable() {
    let p = prog![
        ldx(Size::DW, 0, 10, -512),
        ldx(Size::DW, 3, 10, -8),
        alu64(AluOp::Or, 0, reg(3)),
        st(Size::DW, 10, -8, 42),
        ldx(Size::DW, 3, 10, -8),
        alu64(AluOp::Add, 0, reg(3)),
        EXIT,
    ];
    let vm = vm(&p);
    // Twice: the second run must not see the first run's stack.
    assert_eq!(vm.run(&RunConfig::default()), Ok(42));
    assert_eq!(vm.run(&RunConfig::default()), Ok(42));
}

/// Run one atomic on a word holding `init` with src = `src`, r0 = `r0`; returns
/// (memory afterwards, src afterwards, r0 afterwards).
fn atomic_case(size: Size, op: AtomicOp, init: u64, src: u64, r0: u64) -> (u64, u64, u64) {
    #[repr(align(8))]
    struct Word([u8; 8]);
    let mut word = Word(init.to_le_bytes());
    let p = prog![
        lddw(2, src),
        lddw(0, r0),
        atomic(size, op, 1, 2, 0),
        // Report src in r0's place unless r0 is the interesting one: pack both via memory.
        stx(Size::DW, 10, -8, 2),
        stx(Size::DW, 10, -16, 0),
        ldx(Size::DW, 0, 10, -8),
        EXIT,
    ];
    let vm = vm(&p);
    let src_after = vm.run_on(&mut word.0).unwrap();
    let mut word2 = Word(init.to_le_bytes());
    let p0 = prog![lddw(2, src), lddw(0, r0), atomic(size, op, 1, 2, 0), EXIT];
    let r0_after = self::vm(&p0).run_on(&mut word2.0).unwrap();
    assert_eq!(word.0, word2.0);
    (u64::from_le_bytes(word.0), src_after, r0_after)
}

#[test]
fn atomics_64() {
    let f = |fetch| AtomicOp::Add { fetch };
    assert_eq!(atomic_case(Size::DW, f(false), 5, 7, 1), (12, 7, 1));
    assert_eq!(atomic_case(Size::DW, f(true), 5, 7, 1), (12, 5, 1));
    assert_eq!(atomic_case(Size::DW, f(true), NEG1, 1, 1), (0, NEG1, 1));
    let or = |fetch| AtomicOp::Or { fetch };
    assert_eq!(
        atomic_case(Size::DW, or(false), 0xf0, 0x0f, 0),
        (0xff, 0x0f, 0)
    );
    assert_eq!(
        atomic_case(Size::DW, or(true), 0xf0, 0x0f, 0),
        (0xff, 0xf0, 0)
    );
    let and = |fetch| AtomicOp::And { fetch };
    assert_eq!(
        atomic_case(Size::DW, and(false), 0xf0, 0x3c, 0),
        (0x30, 0x3c, 0)
    );
    assert_eq!(
        atomic_case(Size::DW, and(true), 0xf0, 0x3c, 0),
        (0x30, 0xf0, 0)
    );
    let xor = |fetch| AtomicOp::Xor { fetch };
    assert_eq!(
        atomic_case(Size::DW, xor(false), 0xf0, 0x3c, 0),
        (0xcc, 0x3c, 0)
    );
    assert_eq!(
        atomic_case(Size::DW, xor(true), 0xf0, 0x3c, 0),
        (0xcc, 0xf0, 0)
    );
    assert_eq!(atomic_case(Size::DW, AtomicOp::Xchg, 1, 2, 9), (2, 1, 9));
    // cmpxchg: compare with r0, r0 receives the old value either way.
    assert_eq!(atomic_case(Size::DW, AtomicOp::CmpXchg, 3, 8, 3), (8, 8, 3));
    assert_eq!(atomic_case(Size::DW, AtomicOp::CmpXchg, 3, 8, 4), (3, 8, 3));
}

#[test]
fn atomics_32_use_low_halves_and_zero_extend() {
    let hi = 0xaaaa_aaaa_0000_0000;
    let add = |fetch| AtomicOp::Add { fetch };
    // Only the low word changes; the carry does not reach the high word.
    assert_eq!(
        atomic_case(Size::W, add(false), 0x5555_5555_ffff_ffff, hi | 1, 0),
        (0x5555_5555_0000_0000, hi | 1, 0)
    );
    assert_eq!(
        atomic_case(Size::W, add(true), 0x5555_5555_ffff_ffff, hi | 1, 0),
        (0x5555_5555_0000_0000, 0xffff_ffff, 0),
        "fetched value is zero-extended"
    );
    let or = |fetch| AtomicOp::Or { fetch };
    assert_eq!(
        atomic_case(Size::W, or(true), 0xf0, hi | 0xf, 0),
        (0xff, 0xf0, 0)
    );
    let and = |fetch| AtomicOp::And { fetch };
    assert_eq!(
        atomic_case(Size::W, and(true), 0xf0, hi | 0x30, 0),
        (0x30, 0xf0, 0)
    );
    let xor = |fetch| AtomicOp::Xor { fetch };
    assert_eq!(
        atomic_case(Size::W, xor(false), 0xf0, hi | 0xff, 0),
        (0x0f, hi | 0xff, 0)
    );
    assert_eq!(
        atomic_case(Size::W, AtomicOp::Xchg, 0x1_0000_0001, hi | 2, 0),
        (0x1_0000_0002, 1, 0)
    );
    // cmpxchg32 compares the low half of r0 and zero-extends the old value into r0.
    assert_eq!(
        atomic_case(Size::W, AtomicOp::CmpXchg, 0x9_0000_0003, 8, hi | 3),
        (0x9_0000_0008, 8, 3)
    );
    assert_eq!(
        atomic_case(Size::W, AtomicOp::CmpXchg, 0xffff_fffe, 8, 3),
        (0xffff_fffe, 8, 0xffff_fffe)
    );
}

#[test]
fn atomics_on_the_stack() {
    let p = prog![
        st(Size::DW, 10, -8, 40),
        mov(2, 2),
        atomic(Size::DW, AtomicOp::Add { fetch: true }, 10, 2, -8),
        ldx(Size::DW, 0, 10, -8),
        alu64(AluOp::Add, 0, reg(2)),
        EXIT,
    ];
    assert_eq!(run(&p), Ok(82));
}

fn cond(width: Width, op: JmpOp, a: u64, src: waggle_isa::Operand, b: u64) -> bool {
    let p = prog![
        lddw(1, a),
        lddw(2, b),
        mov(0, 0),
        jmp(width, op, 1, src, 1),
        EXIT,
        mov(0, 1),
        EXIT,
    ];
    run(&p).unwrap() == 1
}

#[test]
fn conditional_jumps() {
    use JmpOp::*;
    let w64 = Width::W64;
    let w32 = Width::W32;
    assert!(
        cond(w64, Jeq, NEG1, imm(-1), 0),
        "imm sign-extended for 64-bit"
    );
    assert!(!cond(w64, Jeq, 0xffff_ffff, imm(-1), 0));
    assert!(cond(w32, Jeq, 0xffff_ffff, imm(-1), 0));
    assert!(
        cond(w32, Jeq, 0x1234_0000_0000_0005, reg(2), 5),
        "low halves only"
    );
    assert!(cond(w64, Jgt, NEG1, imm(1), 0));
    assert!(!cond(w64, Jsgt, NEG1, imm(1), 0));
    assert!(cond(w64, Jslt, NEG1, imm(1), 0));
    assert!(cond(w32, Jsgt, 0xffff_ffff_0000_0001, imm(-1), 0));
    assert!(cond(w32, Jslt, 0x0000_0000_ffff_ffff, imm(0), 0));
    assert!(!cond(w64, Jslt, 0x0000_0000_ffff_ffff, imm(0), 0));
    assert!(cond(w64, Jge, 5, reg(2), 5) && !cond(w64, Jgt, 5, reg(2), 5));
    assert!(cond(w64, Jle, 5, reg(2), 5) && !cond(w64, Jlt, 5, reg(2), 5));
    assert!(cond(w64, Jsge, MIN64, reg(2), MIN64) && cond(w64, Jsle, MIN64, imm(0), 0));
    assert!(cond(w64, Jset, 0x10, imm(0x30), 0) && !cond(w64, Jset, 0x10, imm(0x20), 0));
    assert!(!cond(w32, Jset, 1 << 40, reg(2), 1 << 40));
    assert!(cond(w64, Jne, 1, imm(2), 0) && !cond(w32, Jne, 1 << 32, imm(0), 0));
}

#[test]
fn unconditional_jumps_and_loops() {
    // Sum 1..=10 with a backward jump.
    let p = prog![
        mov(0, 0),
        mov(1, 10),
        alu64(AluOp::Add, 0, reg(1)),
        add(1, -1),
        jmp(Width::W64, JmpOp::Jne, 1, imm(0), -3),
        EXIT,
    ];
    assert_eq!(run(&p), Ok(55));
    let long = Insn::Ja { off: 1, long: true };
    assert_eq!(run(&prog![mov(0, 1), long, EXIT, mov(0, 2), EXIT]), Ok(2));
}

#[test]
fn may_goto_counts_down_then_jumps() {
    let p = prog![mov(0, 0), Insn::MayGoto { off: 2 }, add(0, 1), ja(-3), EXIT,];
    assert_eq!(run(&p), Ok(MAY_GOTO_LIMIT));
}

fn packet_load(size: Size, mode: PacketMode, off: i32, r2: u64, packet: &[u8]) -> u64 {
    let p = prog![
        mov(0, 77),
        lddw(2, r2),
        Insn::LoadPacket {
            size,
            mode,
            imm: off
        },
        EXIT
    ];
    vm(&p)
        .run(&RunConfig {
            packet: Some(packet),
            ..RunConfig::default()
        })
        .unwrap()
}

#[test]
fn legacy_packet_loads_are_big_endian_and_end_with_0_out_of_bounds() {
    let pkt = [0x11, 0x22, 0x33, 0x44, 0x55];
    let abs = PacketMode::Abs;
    let ind = PacketMode::Ind(r(2));
    assert_eq!(packet_load(Size::B, abs, 4, 0, &pkt), 0x55);
    assert_eq!(packet_load(Size::H, abs, 1, 0, &pkt), 0x2233);
    assert_eq!(packet_load(Size::W, abs, 1, 0, &pkt), 0x2233_4455);
    assert_eq!(
        packet_load(Size::W, abs, 2, 0, &pkt),
        0,
        "overrun: exit with 0"
    );
    assert_eq!(packet_load(Size::B, abs, 5, 0, &pkt), 0);
    assert_eq!(packet_load(Size::B, abs, -1, 0, &pkt), 0, "negative offset");
    assert_eq!(packet_load(Size::H, ind, 1, 2, &pkt), 0x4455);
    assert_eq!(packet_load(Size::B, ind, -1, 1, &pkt), 0x11);
    assert_eq!(
        packet_load(Size::B, ind, 0, 1 << 32, &pkt),
        0x11,
        "32-bit offset"
    );
    assert_eq!(packet_load(Size::B, ind, 0, u64::MAX, &pkt), 0);
    let p = prog![
        Insn::LoadPacket {
            size: Size::B,
            mode: abs,
            imm: 0
        },
        EXIT
    ];
    assert_eq!(run(&p), Err(VmError::NoPacket { pc: 0 }));
}

#[test]
fn local_calls_pass_arguments_and_preserve_r6_to_r9() {
    // The conformance suite's call_local, by hand.
    let mut p = prog![mov(0, 0)];
    for i in 1..=9 {
        p.push(mov(i, i.into()));
    }
    p.extend(prog![
        call_local(9), // slot 10 -> 20
        jmp(Width::W64, JmpOp::Jne, 0, imm(15), 6),
        jmp(Width::W64, JmpOp::Jne, 6, imm(6), 5),
        jmp(Width::W64, JmpOp::Jne, 7, imm(7), 4),
        jmp(Width::W64, JmpOp::Jne, 8, imm(8), 3),
        jmp(Width::W64, JmpOp::Jne, 9, imm(9), 2),
        mov(0, 1),
        EXIT,
        mov(0, -1),
        EXIT,
    ]);
    assert_eq!(p.len(), 20);
    p.push(mov(0, 0));
    for i in 1..=5 {
        p.push(alu64(AluOp::Add, 0, reg(i)));
    }
    for i in 6..=9 {
        p.push(mov(i, 0));
    }
    p.push(EXIT);
    assert_eq!(run(&p), Ok(1));
}

#[test]
fn callee_gets_a_new_frame_and_a_pointer_into_the_callers() {
    let p = prog![
        st(Size::DW, 10, -8, 42),
        movr(1, 10),
        add(1, -8),
        movr(6, 10),
        call_local(4), // -> 9
        // The callee wrote 7 through the pointer; r10 is restored.
        ldx(Size::DW, 0, 10, -8),
        alu64(AluOp::Sub, 6, reg(10)),
        alu64(AluOp::Or, 0, reg(6)),
        EXIT,
        // callee (slot 9): r0 = *r1 + (caller r10 - own r10) + own zeroed stack
        ldx(Size::DW, 0, 1, 0),
        st(Size::DW, 1, 0, 7),
        alu64(AluOp::Sub, 6, reg(10)),
        alu64(AluOp::Add, 0, reg(6)),
        ldx(Size::DW, 2, 10, -512),
        alu64(AluOp::Add, 0, reg(2)),
        ldx(Size::DW, 2, 10, 504),
        alu64(AluOp::Add, 0, reg(2)),
        st(Size::DW, 10, -512, 5),
        mov(6, 1000),
        EXIT,
    ];
    // The callee's r0 is 42 + 512 + 0 + 7 (r10 + 504 is the caller's r10 - 8), but the caller
    // overwrites r0: 7 | 0.
    assert_eq!(run(&p), Ok(7));
    let mut q = p.clone();
    q[5] = mov(7, 0); // keep the callee's r0
    q[6] = mov(6, 0);
    assert_eq!(run(&q), Ok(42 + 512 + 7));
}

/// `f(n)`: recurse while n > 0; returns the number of frames of `f` (n + 1).
fn recursion(n: i32) -> Vec<Insn> {
    prog![
        mov(0, 0),
        mov(1, n),
        call_local(1), // -> 4
        EXIT,
        jmp(Width::W64, JmpOp::Jeq, 1, imm(0), 2),
        add(1, -1),
        call_local(-3), // -> 4
        add(0, 1),
        EXIT,
    ]
}

#[test]
fn eight_frames_are_allowed() {
    assert_eq!(run(&recursion(0)), Ok(1));
    assert_eq!(run(&recursion(6)), Ok(7), "frames 0..=7");
}

#[test]
fn deepest_frame_is_zeroed_and_reaches_the_first() {
    // Recurse to the eighth frame; there, read its lowest byte and write frame 0's highest
    // byte through a pointer saved before the calls.
    let p = prog![
        movr(9, 10),
        mov(1, 6),
        call_local(1), // -> 4
        EXIT,
        jmp(Width::W64, JmpOp::Jeq, 1, imm(0), 3), // -> 8
        add(1, -1),
        call_local(-3), // -> 4
        EXIT,
        ldx(Size::DW, 0, 10, -512),
        st(Size::B, 9, -1, 1),
        ldx(Size::B, 2, 9, -1),
        alu64(AluOp::Add, 0, reg(2)),
        EXIT,
    ];
    assert_eq!(run(&p), Ok(1));
}

#[test]
fn helpers_get_r1_to_r5_and_return_r0() {
    let h = Helpers::new().with(1, |_, a| Ok(a.iter().sum()));
    let p = prog![
        mov(1, 1),
        mov(2, 2),
        mov(3, 3),
        mov(4, 4),
        mov(5, 5),
        call(1),
        EXIT
    ];
    assert_eq!(vm_with(&p, h).run(&RunConfig::default()), Ok(15));
}

#[test]
fn callx_calls_a_registered_helper() {
    let h = Helpers::new().with(5, |_, a| Ok(a[0] * 2));
    let p = prog![mov(1, 21), mov(2, 5), Insn::Callx { reg: r(2) }, EXIT];
    assert_eq!(vm_with(&p, h).run(&RunConfig::default()), Ok(42));
}

/// The conformance suite's helper 5: returns r1; when r1 is 0 the program stops with r0 = 0.
fn unwind() -> Helpers {
    Helpers::new().with(5, |_, a| {
        if a[0] == 0 {
            Err(HelperError::Exit(0))
        } else {
            Ok(a[0])
        }
    })
}

#[test]
fn helper_can_end_the_program() {
    let p = |r1| prog![mov(1, r1), call(5), mov(0, 2), EXIT];
    assert_eq!(vm_with(&p(-1), unwind()).run(&RunConfig::default()), Ok(2));
    assert_eq!(vm_with(&p(0), unwind()).run(&RunConfig::default()), Ok(0));
    // From a nested function too.
    let q = prog![
        mov(1, 0),
        call_local(2),
        mov(0, 3),
        EXIT,
        call(5),
        mov(0, 4),
        EXIT
    ];
    assert_eq!(vm_with(&q, unwind()).run(&RunConfig::default()), Ok(0));
}

#[test]
fn helpers_read_and_write_run_memory() {
    let h = Helpers::new()
        // sum(r1[..r2])
        .with(1, |ctx, a| {
            Ok(ctx
                .read(a[0], a[1] as usize)?
                .iter()
                .map(|&b| u64::from(b))
                .sum())
        })
        // memset(r1, r2, r3)
        .with(2, |ctx, a| {
            ctx.write(a[0], &vec![a[1] as u8; a[2] as usize])?;
            Ok(0)
        });
    let p = prog![
        // fill the caller's memory and 16 stack bytes with 3, sum both
        movr(6, 1),
        movr(7, 2),
        mov(2, 3),
        movr(3, 7),
        call(2),
        movr(1, 10),
        add(1, -16),
        mov(2, 3),
        mov(3, 16),
        call(2),
        movr(1, 10),
        add(1, -16),
        mov(2, 16),
        call(1),
        movr(8, 0),
        movr(1, 6),
        movr(2, 7),
        call(1),
        alu64(AluOp::Add, 0, reg(8)),
        EXIT,
    ];
    let mut mem = [0u8; 10];
    assert_eq!(vm_with(&p, h).run_on(&mut mem), Ok(3 * 16 + 3 * 10));
    assert_eq!(mem, [3; 10]);
}

#[test]
fn helper_added_region_stays_accessible() {
    let value: &'static mut [u8] = Box::leak(vec![0u8; 8].into_boxed_slice());
    value[0] = 40;
    let addr = value.as_ptr() as u64;
    let value = std::sync::Mutex::new(Some(value));
    // Like map_lookup_elem: returns a pointer to a value the program may then use.
    let h = Helpers::new().with(1, move |ctx, _| {
        if let Some(v) = value.lock().unwrap().take() {
            ctx.add_region(Region::writable(v));
        }
        Ok(addr)
    });
    let p = prog![
        call(1),
        ldx(Size::DW, 1, 0, 0),
        add(1, 2),
        stx(Size::DW, 0, 0, 1),
        ldx(Size::DW, 0, 0, 0),
        EXIT
    ];
    let vm = vm_with(&p, h);
    assert_eq!(vm.run(&RunConfig::default()), Ok(42));
    // The next run has no such region (the helper only adds it once here).
    assert!(matches!(
        vm.run(&RunConfig::default()),
        Err(VmError::MemoryAccess { pc: 1, .. })
    ));
}

#[test]
fn helper_added_region_bounds() {
    let value: &'static [u8] = Box::leak(vec![9u8; 8].into_boxed_slice());
    let addr = value.as_ptr() as u64;
    let h = Helpers::new().with(1, move |ctx, _| {
        ctx.add_region(Region::readonly(value));
        Ok(addr)
    });
    let at =
        |insn: Insn| vm_with(&prog![call(1), insn, EXIT], h.clone()).run(&RunConfig::default());
    assert_eq!(at(ldx(Size::B, 0, 0, 7)), Ok(9));
    assert_eq!(at(ldx(Size::DW, 0, 0, 0)), Ok(0x0909_0909_0909_0909));
    let oob = |off: i64, len, write| {
        Err(VmError::MemoryAccess {
            pc: 1,
            addr: addr.wrapping_add_signed(off),
            len,
            write,
        })
    };
    assert_eq!(at(ldx(Size::B, 0, 0, 8)), oob(8, 1, false));
    assert_eq!(at(ldx(Size::B, 0, 0, -1)), oob(-1, 1, false));
    assert_eq!(at(ldx(Size::W, 0, 0, 6)), oob(6, 4, false));
    assert_eq!(at(st(Size::B, 0, 0, 1)), oob(0, 1, true), "read-only");
    assert_eq!(value, [9; 8]);
}

#[test]
fn caller_regions_and_arguments() {
    let ro = [1u8, 2, 3, 4];
    let mut rw = [0u8; 4];
    let (ro_region, rw_region) = (Region::readonly(&ro), Region::writable(&mut rw));
    let args = [ro_region.addr(), rw_region.addr(), 0, 0, 0];
    let regions = [ro_region, rw_region];
    let p = prog![ldx(Size::W, 0, 1, 0), stx(Size::W, 2, 0, 0), EXIT];
    let config = RunConfig {
        args,
        regions: &regions,
        ..RunConfig::default()
    };
    assert_eq!(vm(&p).run(&config), Ok(0x0403_0201));
    assert_eq!(rw, [1, 2, 3, 4]);
}

#[test]
fn run_on_empty_memory_passes_null() {
    let p = prog![movr(0, 1), alu64(AluOp::Or, 0, reg(2)), EXIT];
    assert_eq!(run_mem(&p, &mut []), Ok(0));
    let mut mem = [0u8; 3];
    let addr = mem.as_ptr() as u64;
    assert_eq!(run_mem(&prog![movr(0, 1), EXIT], &mut mem), Ok(addr));
    assert_eq!(run_mem(&prog![movr(0, 2), EXIT], &mut mem), Ok(3));
}

#[test]
fn budget_allows_exactly_max_insns() {
    let p = prog![mov(0, 1), add(0, 1), EXIT];
    let with = |n| {
        vm(&p).run(&RunConfig {
            max_insns: Some(n),
            ..RunConfig::default()
        })
    };
    assert_eq!(with(3), Ok(2));
    assert_eq!(with(2), Err(VmError::BudgetExceeded { pc: 2, executed: 2 }));
    assert_eq!(with(0), Err(VmError::BudgetExceeded { pc: 0, executed: 0 }));
}

#[test]
fn interpreter_is_send_sync_and_runs_on_many_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<waggle_vm::Interpreter>();
    assert_send_sync::<Helpers>();
    let p = prog![
        ldx(Size::DW, 0, 1, 0),
        st(Size::DW, 10, -8, 0),
        atomic(Size::DW, AtomicOp::Add { fetch: false }, 10, 0, -8),
        ldx(Size::DW, 0, 10, -8),
        add(0, 1),
        stx(Size::DW, 1, 0, 0),
        EXIT,
    ];
    let vm = vm(&p);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let vm = &vm;
            s.spawn(move || {
                let mut mem = (t * 1000).to_le_bytes();
                for i in 0..1000 {
                    assert_eq!(vm.run_on(&mut mem), Ok(t * 1000 + i + 1));
                }
            });
        }
    });
}
