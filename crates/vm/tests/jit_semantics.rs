//! The JIT, one instruction family at a time: each case runs on the JIT and on the
//! interpreter (the reference semantics) with the same memory, and both must give the expected
//! result, the same memory afterwards and the same error. Register-mapping corners (r0/r3 are
//! rax/rdx for division, r4 is rcx for shift counts) are covered by trying every register pair.

mod common;

use common::*;
use waggle_isa::{AluOp, AtomicOp, ByteOrder, Insn, JmpOp, PacketMode, Size, Width};
use waggle_vm::{
    HelperError, Helpers, Interpreter, Jit, MAY_GOTO_LIMIT, Region, RunConfig, VmError,
};

/// Run `p` on both engines over a copy of `mem` each; they must agree on the result and the
/// memory afterwards. Returns the result and the memory.
fn both_with(
    p: &[Insn],
    h: Helpers,
    mem: &[u8],
    budget: Option<u64>,
) -> (Result<u64, VmError>, Vec<u8>) {
    let vm = Interpreter::new(p, h.clone()).unwrap_or_else(|e| panic!("prepare: {e}"));
    let jit = Jit::new(p, h).unwrap_or_else(|e| panic!("jit prepare: {e}"));
    // One buffer for both runs, so that addresses in registers and errors are the same.
    let mut buf = mem.to_vec();
    let mut run = |f: &dyn Fn(&RunConfig<'_>) -> Result<u64, VmError>| {
        buf.copy_from_slice(mem);
        let len = buf.len() as u64;
        let regions;
        let config = if buf.is_empty() {
            RunConfig {
                max_insns: budget,
                ..RunConfig::default()
            }
        } else {
            regions = [Region::writable(&mut buf)];
            RunConfig {
                args: [regions[0].addr(), len, 0, 0, 0],
                regions: &regions,
                packet: None,
                max_insns: budget,
            }
        };
        let r = f(&config);
        (r, buf.clone())
    };
    let want = run(&|c| vm.run(c));
    let got = run(&|c| jit.run(c));
    assert_eq!(got, want, "JIT (left) vs interpreter (right) on {p:#?}");
    want
}

fn both(p: &[Insn]) -> Result<u64, VmError> {
    both_with(p, Helpers::new(), &[], None).0
}

fn both_mem(p: &[Insn], mem: &[u8]) -> (Result<u64, VmError>, Vec<u8>) {
    both_with(p, Helpers::new(), mem, None)
}

/// Values for r0..=r9: edge cases for division, shifts (counts above the width, zero) and
/// sign extension.
const VALUES: [u64; 10] = [
    0x8000_0000_0000_0000,
    0xffff_ffff_ffff_ffff,
    0,
    0x1234_5678_9abc_def0,
    37,
    0x8000_0000,
    0xffff_ffff,
    5,
    0xffff_ffff_ffff_ff80,
    64,
];

/// Set every register, run `insn`, then store r0..=r9 into the region (80 bytes).
fn all_registers_after(insn: Insn) -> Vec<Insn> {
    let mut p = vec![stx(Size::DW, 10, -8, 1)];
    for (i, v) in VALUES.iter().enumerate() {
        p.extend(lddw(i as u8, *v));
    }
    p.push(insn);
    for i in 0..10u8 {
        p.push(stx(Size::DW, 10, -16 - 8 * i16::from(i), i));
    }
    p.push(ldx(Size::DW, 1, 10, -8));
    for i in 0..10i16 {
        p.push(ldx(Size::DW, 0, 10, -16 - 8 * i));
        p.push(stx(Size::DW, 1, 8 * i, 0));
    }
    p.push(mov(0, 0));
    p.push(EXIT);
    p
}

#[test]
fn every_alu_op_on_every_register_pair() {
    let mem = [0u8; 80];
    let mut cases = 0;
    for op in ALU_OPS {
        for width in [Width::W64, Width::W32] {
            if width == Width::W32 && op == AluOp::MovSx32 {
                continue;
            }
            for dst in 0..10 {
                for src in 0..10 {
                    let insn = alu(width, op, dst, reg(src));
                    let (r, _) = both_mem(&all_registers_after(insn), &mem);
                    assert_eq!(r, Ok(0));
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 33 * 100);
}

fn alu(width: Width, op: AluOp, dst: u8, src: waggle_isa::Operand) -> Insn {
    match width {
        Width::W64 => alu64(op, dst, src),
        Width::W32 => alu32(op, dst, src),
    }
}

#[test]
fn every_alu_op_with_edge_immediates() {
    let mem = [0u8; 80];
    let imms = [
        0,
        1,
        -1,
        2,
        31,
        32,
        33,
        63,
        64,
        65,
        i32::MIN,
        i32::MAX,
        0x7f,
        -0x80,
    ];
    for op in ALU_OPS {
        if matches!(op, AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32) {
            continue;
        }
        for width in [Width::W64, Width::W32] {
            for dst in [0, 3, 4, 6] {
                for i in imms {
                    let p = all_registers_after(alu(width, op, dst, imm(i)));
                    assert_eq!(both_mem(&p, &mem).0, Ok(0));
                }
            }
        }
    }
}

fn alu_value(width: Width, op: AluOp, a: u64, b: u64) -> u64 {
    both(&prog![
        lddw(3, a),
        lddw(4, b),
        alu(width, op, 3, reg(4)),
        movr(0, 3),
        EXIT
    ])
    .unwrap()
}

#[test]
fn division_and_modulo_edge_cases() {
    use AluOp::*;
    const MIN64: u64 = i64::MIN as u64;
    assert_eq!(alu_value(Width::W64, Div, 100, 0), 0);
    assert_eq!(alu_value(Width::W64, Mod, 100, 0), 100);
    assert_eq!(alu_value(Width::W64, SDiv, MIN64, u64::MAX), MIN64);
    assert_eq!(alu_value(Width::W64, SMod, MIN64, u64::MAX), 0);
    assert_eq!(
        alu_value(Width::W64, SDiv, (-7i64) as u64, 2),
        (-3i64) as u64
    );
    assert_eq!(
        alu_value(Width::W64, SMod, (-7i64) as u64, 2),
        (-1i64) as u64
    );
    assert_eq!(alu_value(Width::W32, Div, u64::MAX, 0), 0);
    assert_eq!(
        alu_value(Width::W32, Mod, u64::MAX, 0),
        0xffff_ffff,
        "zero-extended"
    );
    assert_eq!(
        alu_value(Width::W32, SDiv, 0x8000_0000, 0xffff_ffff),
        0x8000_0000
    );
    assert_eq!(alu_value(Width::W32, SMod, 0x8000_0000, 0xffff_ffff), 0);
    assert_eq!(alu_value(Width::W32, SMod, 0xffff_fff9, 2), 0xffff_ffff);
}

#[test]
fn shifts_mask_their_count_and_zero_extend() {
    use AluOp::*;
    assert_eq!(alu_value(Width::W64, Lsh, 1, 65), 2);
    assert_eq!(alu_value(Width::W32, Lsh, 1, 33), 2);
    assert_eq!(alu_value(Width::W32, Rsh, u64::MAX, 0), 0xffff_ffff);
    assert_eq!(alu_value(Width::W32, Arsh, 0x8000_0000, 31), 0xffff_ffff);
    assert_eq!(alu_value(Width::W64, Arsh, 1 << 63, 63), u64::MAX);
}

#[test]
fn negation_byte_order_and_lddw() {
    let one = |insn: Insn, v: u64| both(&prog![lddw(4, v), insn, movr(0, 4), EXIT]).unwrap();
    assert_eq!(one(neg(Width::W64, 4), 1), u64::MAX);
    assert_eq!(one(neg(Width::W32, 4), 1), 0xffff_ffff);
    let v = 0x1122_3344_5566_7788;
    assert_eq!(one(endian(ByteOrder::ToLe, 16, 4), v), 0x7788);
    assert_eq!(one(endian(ByteOrder::ToLe, 32, 4), v), 0x5566_7788);
    assert_eq!(one(endian(ByteOrder::ToLe, 64, 4), v), v);
    assert_eq!(one(endian(ByteOrder::ToBe, 16, 4), v), 0x8877);
    assert_eq!(one(endian(ByteOrder::ToBe, 32, 4), v), 0x8877_6655);
    assert_eq!(
        one(endian(ByteOrder::ToBe, 64, 4), v),
        0x8877_6655_4433_2211
    );
    assert_eq!(one(endian(ByteOrder::Swap, 16, 4), v), 0x8877);
    assert_eq!(one(endian(ByteOrder::Swap, 32, 4), v), 0x8877_6655);
    assert_eq!(
        one(endian(ByteOrder::Swap, 64, 4), v),
        0x8877_6655_4433_2211
    );
    for v in [
        0,
        1,
        u64::MAX,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        0xffff_ffff_8000_0000,
    ] {
        assert_eq!(both(&prog![lddw(0, v), EXIT]), Ok(v));
    }
}

#[test]
fn loads_and_stores_at_region_edges() {
    let mem: Vec<u8> = (1..=16).collect();
    for (size, bytes) in [(Size::B, 1i16), (Size::H, 2), (Size::W, 4), (Size::DW, 8)] {
        for signed in [false, true] {
            if signed && size == Size::DW {
                continue;
            }
            let ld = if signed { ldxs } else { ldx };
            let last = 16 - bytes;
            assert!(both_mem(&prog![ld(size, 0, 1, last), EXIT], &mem).0.is_ok());
            let err = both_mem(&prog![ld(size, 0, 1, last + 1), EXIT], &mem).0;
            assert!(matches!(
                err,
                Err(VmError::MemoryAccess {
                    pc: 0,
                    write: false,
                    ..
                })
            ));
            assert!(both_mem(&prog![ld(size, 0, 1, -1), EXIT], &mem).0.is_err());
            // Stack edges.
            assert_eq!(both(&prog![ld(size, 0, 10, -512), EXIT]), Ok(0));
            assert_eq!(both(&prog![ld(size, 0, 10, -bytes), EXIT]), Ok(0));
            assert!(both(&prog![ld(size, 0, 10, -513), EXIT]).is_err());
            assert!(both(&prog![ld(size, 0, 10, 1 - bytes), EXIT]).is_err());
        }
        let (r, m) = both_mem(&prog![st(size, 1, 16 - bytes, -1), mov(0, 0), EXIT], &mem);
        assert_eq!(r, Ok(0));
        assert!(m[16 - bytes as usize..].iter().all(|&b| b == 0xff));
        let (r, m) = both_mem(&prog![stx(size, 1, 17 - bytes, 2), EXIT], &mem);
        assert!(matches!(r, Err(VmError::MemoryAccess { write: true, .. })));
        assert_eq!(m, mem, "nothing written");
        // Through a pointer into the stack (the inline check, not the constant-offset path).
        let p = prog![
            movr(2, 10),
            add(2, -4),
            stx(size, 2, 4 - bytes, 1),
            ldx(size, 0, 2, 4 - bytes),
            EXIT
        ];
        assert!(both_mem(&p, &mem).0.is_ok());
    }
}

#[test]
fn read_only_first_region_and_more_regions_take_the_slow_path() {
    let ro = [7u8; 8];
    let mut rw = [0u8; 8];
    let vm_prog = prog![
        ldx(Size::DW, 0, 1, 0),
        stx(Size::DW, 3, 0, 0),
        ldx(Size::W, 0, 3, 4),
        st(Size::B, 1, 0, 1),
        EXIT
    ];
    let rw_addr = rw.as_mut_ptr() as u64;
    let run = |f: &dyn Fn(&RunConfig<'_>) -> Result<u64, VmError>, rw: &mut [u8; 8]| {
        *rw = [0; 8];
        let regions = [Region::readonly(&ro), Region::writable(rw)];
        f(&RunConfig {
            args: [regions[0].addr(), 8, regions[1].addr(), 8, 0],
            regions: &regions,
            ..RunConfig::default()
        })
    };
    let vm = vm(&vm_prog);
    let jit = Jit::new(&vm_prog, Helpers::new()).unwrap();
    let want = run(&|c| vm.run(c), &mut rw);
    let want_mem = rw;
    let got = run(&|c| jit.run(c), &mut rw);
    assert_eq!(got, want);
    assert_eq!(rw, want_mem);
    assert_eq!(rw, [7; 8]);
    assert!(
        matches!(got, Err(VmError::MemoryAccess { pc: 3, len: 1, write: true, addr }) if addr != rw_addr)
    );
}

fn atomic_case(size: Size, op: AtomicOp, src_reg: u8, init: u64, src: u64, r0: u64) -> Vec<u8> {
    let p = prog![
        lddw(src_reg, src),
        lddw(0, r0),
        atomic(size, op, 1, src_reg, 8),
        stx(Size::DW, 1, 0, src_reg),
        stx(Size::DW, 1, 16, 0),
        atomic(size, op, 10, src_reg, -8),
        ldx(Size::DW, 2, 10, -8),
        stx(Size::DW, 1, 24, 2),
        mov(0, 0),
        EXIT,
    ];
    let mut mem = [0u8; 32];
    mem[8..16].copy_from_slice(&init.to_le_bytes());
    let (r, m) = both_mem(&p, &mem);
    assert_eq!(r, Ok(0));
    m
}

#[test]
fn atomics_all_ops_sizes_and_operand_registers() {
    let ops = [
        AtomicOp::Add { fetch: false },
        AtomicOp::Or { fetch: false },
        AtomicOp::And { fetch: false },
        AtomicOp::Xor { fetch: false },
        AtomicOp::Add { fetch: true },
        AtomicOp::Or { fetch: true },
        AtomicOp::And { fetch: true },
        AtomicOp::Xor { fetch: true },
        AtomicOp::Xchg,
        AtomicOp::CmpXchg,
    ];
    for op in ops {
        for size in [Size::W, Size::DW] {
            for src_reg in [0, 2, 3, 4, 6] {
                for (init, src, r0) in [
                    (
                        0x1111_2222_3333_4444,
                        0xf0f0_f0f0_f0f0_f0f0,
                        0x1111_2222_3333_4444,
                    ),
                    (0x1111_2222_3333_4444, 5, 0x3333_4444),
                    (u64::MAX, 1, 7),
                ] {
                    atomic_case(size, op, src_reg, init, src, r0);
                }
            }
        }
    }
    // cmpxchg: success writes, r0 gets the old value, zero-extended at 32 bits.
    let m = atomic_case(
        Size::W,
        AtomicOp::CmpXchg,
        2,
        0xaaaa_bbbb_0000_0005,
        9,
        0xffff_ffff_0000_0005,
    );
    assert_eq!(
        u64::from_le_bytes(m[8..16].try_into().unwrap()),
        0xaaaa_bbbb_0000_0009
    );
    assert_eq!(u64::from_le_bytes(m[16..24].try_into().unwrap()), 5);
}

#[test]
fn misaligned_and_out_of_bounds_atomics() {
    let mem = [0u8; 16];
    for size in [Size::W, Size::DW] {
        let r = both_mem(
            &prog![atomic(size, AtomicOp::Add { fetch: true }, 1, 2, 2), EXIT],
            &mem,
        )
        .0;
        assert!(
            matches!(r, Err(VmError::MisalignedAtomic { pc: 0, .. })),
            "{r:?}"
        );
        let r = both_mem(&prog![atomic(size, AtomicOp::Xchg, 1, 2, 16), EXIT], &mem).0;
        assert!(
            matches!(
                r,
                Err(VmError::MemoryAccess {
                    pc: 0,
                    write: true,
                    ..
                })
            ),
            "{r:?}"
        );
        let r = both(&prog![atomic(size, AtomicOp::CmpXchg, 10, 2, -10), EXIT]);
        assert!(
            matches!(r, Err(VmError::MisalignedAtomic { pc: 0, .. })),
            "{r:?}"
        );
    }
}

#[test]
fn conditional_jumps_every_op_width_and_source() {
    let ops = [
        JmpOp::Jeq,
        JmpOp::Jgt,
        JmpOp::Jge,
        JmpOp::Jset,
        JmpOp::Jne,
        JmpOp::Jsgt,
        JmpOp::Jsge,
        JmpOp::Jlt,
        JmpOp::Jle,
        JmpOp::Jslt,
        JmpOp::Jsle,
    ];
    let values = [
        0u64,
        1,
        u64::MAX,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0001,
        i64::MIN as u64,
    ];
    for op in ops {
        for width in [Width::W64, Width::W32] {
            for &a in &values {
                for &b in &values {
                    let p = prog![
                        lddw(3, a),
                        lddw(4, b),
                        mov(0, 0),
                        jmp(width, op, 3, reg(4), 1),
                        EXIT,
                        mov(0, 1),
                        jmp(width, op, 3, imm(b as i32), 1),
                        EXIT,
                        add(0, 2),
                        EXIT
                    ];
                    both(&p).unwrap();
                }
            }
        }
    }
}

#[test]
fn long_jumps_and_may_goto() {
    let p = prog![mov(0, 1), Insn::Ja { off: 1, long: true }, mov(0, 2), EXIT];
    assert_eq!(both(&p), Ok(1));
    let p = prog![mov(0, 0), Insn::MayGoto { off: 2 }, add(0, 1), ja(-3), EXIT];
    assert_eq!(
        both_with(&p, Helpers::new(), &[], None).0,
        Ok(MAY_GOTO_LIMIT)
    );
}

/// `f(n)`: recurse while n > 0; returns the number of frames of `f` (n + 1).
fn recursion(n: i32) -> Vec<Insn> {
    prog![
        mov(0, 0),
        mov(1, n),
        call_local(1),
        EXIT,
        jmp(Width::W64, JmpOp::Jeq, 1, imm(0), 2),
        add(1, -1),
        call_local(-3),
        add(0, 1),
        EXIT,
    ]
}

#[test]
fn local_calls_depth_frames_and_saved_registers() {
    assert_eq!(both(&recursion(0)), Ok(1));
    assert_eq!(both(&recursion(6)), Ok(7));
    assert_eq!(
        both(&recursion(7)),
        Err(VmError::CallDepthExceeded { pc: 6 })
    );
    // r6..=r9 survive a callee that clobbers them; the callee's frame is its own and zeroed.
    let p = prog![
        mov(6, 6),
        mov(7, 7),
        mov(8, 8),
        mov(9, 9),
        st(Size::DW, 10, -8, 40),
        call_local(6), // -> 11
        alu64(AluOp::Add, 0, reg(6)),
        alu64(AluOp::Add, 0, reg(7)),
        alu64(AluOp::Add, 0, reg(8)),
        alu64(AluOp::Add, 0, reg(9)),
        EXIT,
        ldx(Size::DW, 0, 10, -8),
        ldx(Size::DW, 1, 10, 504),
        alu64(AluOp::Add, 0, reg(1)),
        mov(6, 0),
        mov(7, 0),
        mov(8, 0),
        mov(9, 0),
        st(Size::DW, 10, -8, 1),
        EXIT,
    ];
    assert_eq!(both(&p), Ok(40 + 6 + 7 + 8 + 9));
}

#[test]
fn helpers_callx_exit_failure_and_memory() {
    let h = || {
        Helpers::new()
            .with(1, |_, a| Ok(a.iter().sum()))
            .with(5, |_, a| {
                if a[0] == 0 {
                    Err(HelperError::Exit(0))
                } else {
                    Ok(a[0])
                }
            })
            .with(6, |ctx, a| {
                ctx.write(a[0], &[9; 4])?;
                Ok(u64::from(ctx.read(a[0], 4)?[0]))
            })
            .with(8, |_, _| Err(HelperError::failed("nope")))
    };
    let p = prog![
        mov(1, 1),
        mov(2, 2),
        mov(3, 3),
        mov(4, 4),
        mov(5, 5),
        call(1),
        alu64(AluOp::Add, 0, reg(1)),
        alu64(AluOp::Add, 0, reg(5)),
        EXIT
    ];
    assert_eq!(
        both_with(&p, h(), &[], None).0,
        Ok(15 + 1 + 5),
        "r1..=r5 preserved"
    );
    let p = prog![mov(1, 0), call(5), mov(0, 7), EXIT];
    assert_eq!(both_with(&p, h(), &[], None).0, Ok(0));
    let p = prog![mov(0, 3), call(8), EXIT];
    assert!(matches!(
        both_with(&p, h(), &[], None).0,
        Err(VmError::Helper { pc: 1, id: 8, .. })
    ));
    let p = prog![mov(1, 21), mov(2, 1), Insn::Callx { reg: r(2) }, EXIT];
    assert_eq!(both_with(&p, h(), &[], None).0, Ok(22), "r1 + r2");
    let p = prog![mov(2, 99), Insn::Callx { reg: r(2) }, EXIT];
    assert_eq!(
        both_with(&p, h(), &[], None).0,
        Err(VmError::BadCallTarget { pc: 1, target: 99 })
    );
    // Helpers see the stack too: write through a pointer to the caller's frame.
    let p = prog![
        movr(1, 10),
        add(1, -4),
        call(6),
        ldx(Size::W, 2, 10, -4),
        alu64(AluOp::Add, 0, reg(2)),
        EXIT
    ];
    assert_eq!(both_with(&p, h(), &[], None).0, Ok(9 + 0x0909_0909));
    let (r, m) = both_with(&prog![call(6), EXIT], h(), &[0; 4], None);
    assert_eq!((r, m), (Ok(9), vec![9; 4]));
}

#[test]
#[should_panic(expected = "helper panicked")]
fn a_panicking_helper_panics_through_the_jit() {
    let h = Helpers::new().with(1, |_, _| panic!("helper panicked"));
    let jit = Jit::new(&prog![call(1), EXIT], h).unwrap();
    let _ = jit.run(&RunConfig::default());
}

#[test]
fn packet_loads() {
    let packet = [0x11, 0x22, 0x33, 0x44, 0x55];
    let run = |p: &[Insn], packet: Option<&[u8]>| {
        let config = RunConfig {
            args: [0, 2, 0, 0, 0],
            packet,
            ..RunConfig::default()
        };
        let a = vm(p).run(&config);
        let b = Jit::new(p, Helpers::new()).unwrap().run(&config);
        assert_eq!(b, a);
        a
    };
    let ld = |size, mode, imm| prog![mov(0, 7), Insn::LoadPacket { size, mode, imm }, EXIT];
    assert_eq!(
        run(&ld(Size::W, PacketMode::Abs, 1), Some(&packet)),
        Ok(0x2233_4455)
    );
    assert_eq!(
        run(&ld(Size::H, PacketMode::Ind(r(2)), 1), Some(&packet)),
        Ok(0x4455)
    );
    assert_eq!(
        run(&ld(Size::B, PacketMode::Abs, 5), Some(&packet)),
        Ok(0),
        "out of bounds ends with 0"
    );
    assert_eq!(run(&ld(Size::B, PacketMode::Abs, -1), Some(&packet)), Ok(0));
    assert_eq!(
        run(&ld(Size::B, PacketMode::Abs, 0), None),
        Err(VmError::NoPacket { pc: 1 })
    );
}

#[test]
fn budget_is_exact() {
    let p = prog![mov(0, 1), add(0, 1), EXIT];
    let with = |n| both_with(&p, Helpers::new(), &[], Some(n)).0;
    assert_eq!(with(3), Ok(2));
    assert_eq!(with(2), Err(VmError::BudgetExceeded { pc: 2, executed: 2 }));
    assert_eq!(with(0), Err(VmError::BudgetExceeded { pc: 0, executed: 0 }));
    let looping = prog![mov(0, 0), add(0, 1), ja(-2)];
    assert_eq!(
        both_with(&looping, Helpers::new(), &[], Some(1001)).0,
        Err(VmError::BudgetExceeded {
            pc: 1,
            executed: 1001
        })
    );
    // The budget survives helper calls and local calls (it lives in a caller-saved register).
    let h = Helpers::new().with(1, |_, _| Ok(0));
    let p = prog![call(1), call_local(1), EXIT, call(1), EXIT];
    for n in 0..7 {
        let r = both_with(&p, h.clone(), &[], Some(n)).0;
        assert_eq!(r.is_ok(), n >= 5, "budget {n}: {r:?}");
    }
}

#[test]
fn stack_is_zeroed_per_run_and_jit_runs_on_many_threads() {
    let p = prog![
        ldx(Size::DW, 0, 10, -512),
        ldx(Size::DW, 3, 10, -8),
        alu64(AluOp::Or, 0, reg(3)),
        st(Size::DW, 10, -8, 42),
        st(Size::DW, 10, -512, 42),
        ldx(Size::DW, 3, 10, -8),
        alu64(AluOp::Add, 0, reg(3)),
        EXIT,
    ];
    let jit = Jit::new(&p, Helpers::new()).unwrap();
    assert_eq!(jit.run(&RunConfig::default()), Ok(42));
    assert_eq!(jit.run(&RunConfig::default()), Ok(42));
    let p = prog![
        ldx(Size::DW, 0, 1, 0),
        st(Size::DW, 10, -8, 0),
        atomic(Size::DW, AtomicOp::Add { fetch: false }, 10, 0, -8),
        ldx(Size::DW, 0, 10, -8),
        add(0, 1),
        stx(Size::DW, 1, 0, 0),
        EXIT,
    ];
    let jit = Jit::new(&p, Helpers::new()).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let jit = &jit;
            s.spawn(move || {
                let mut mem = (t * 1000).to_le_bytes();
                for i in 0..1000 {
                    assert_eq!(jit.run_on(&mut mem), Ok(t * 1000 + i + 1));
                }
            });
        }
    });
}

#[test]
fn preparation_errors_match_the_interpreter() {
    let bad = [
        prog![call(3), EXIT],
        prog![mov(0, 0)],
        prog![
            Insn::Call(waggle_isa::CallTarget::Kfunc {
                btf_id: 1,
                module: 0
            }),
            EXIT
        ],
    ];
    for p in bad {
        let a = Interpreter::new(&p, Helpers::new()).unwrap_err();
        let b = Jit::new(&p, Helpers::new()).unwrap_err();
        assert_eq!(a, b);
    }
}
