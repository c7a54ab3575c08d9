//! Runs that must stop with an error, and programs that must not prepare.

mod common;

use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use waggle_isa::{AtomicOp, CallTarget, Insn, JmpOp, LddwKind, Size, ValidationError, Width};
use waggle_vm::{HelperError, Helpers, PrepareError, Region, RunConfig, VmError};

fn access_err(pc: usize, addr: u64, len: u64, write: bool) -> Result<u64, VmError> {
    Err(VmError::MemoryAccess {
        pc,
        addr,
        len,
        write,
    })
}

/// Load `size` at `r1 + off` (r1 = `base`), with `regions`.
fn load_at(base: u64, off: i16, size: Size, regions: &[Region<'_>]) -> Result<u64, VmError> {
    let p = prog![ldx(size, 0, 1, off), EXIT];
    vm(&p).run(&RunConfig {
        args: [base, 0, 0, 0, 0],
        regions,
        ..RunConfig::default()
    })
}

/// Store 0xff.. of `size` at `r1 + off`, with `regions`.
fn store_at(base: u64, off: i16, size: Size, regions: &[Region<'_>]) -> Result<u64, VmError> {
    let p = prog![mov(0, 0), st(size, 1, off, -1), EXIT];
    vm(&p).run(&RunConfig {
        args: [base, 0, 0, 0, 0],
        regions,
        ..RunConfig::default()
    })
}

#[test]
fn caller_region_bounds() {
    let mut bytes = [0u8; 16];
    let region = Region::writable(&mut bytes);
    let a = region.addr();
    let regions = [region];
    // Inside, at both ends.
    assert_eq!(load_at(a, 0, Size::DW, &regions), Ok(0));
    assert_eq!(load_at(a, 8, Size::DW, &regions), Ok(0));
    assert_eq!(load_at(a, 15, Size::B, &regions), Ok(0));
    assert_eq!(store_at(a, 15, Size::B, &regions), Ok(0));
    assert_eq!(store_at(a, 0, Size::B, &regions), Ok(0));
    // One byte before / after, and straddling each end.
    assert_eq!(
        load_at(a, -1, Size::B, &regions),
        access_err(0, a - 1, 1, false)
    );
    assert_eq!(
        load_at(a, 16, Size::B, &regions),
        access_err(0, a + 16, 1, false)
    );
    assert_eq!(
        load_at(a, 9, Size::DW, &regions),
        access_err(0, a + 9, 8, false)
    );
    assert_eq!(
        load_at(a, -4, Size::DW, &regions),
        access_err(0, a - 4, 8, false)
    );
    assert_eq!(
        store_at(a, -1, Size::B, &regions),
        access_err(1, a - 1, 1, true)
    );
    assert_eq!(
        store_at(a, 16, Size::H, &regions),
        access_err(1, a + 16, 2, true)
    );
    assert_eq!(
        store_at(a, 13, Size::W, &regions),
        access_err(1, a + 13, 4, true)
    );
    assert_eq!(
        store_at(a, -2, Size::W, &regions),
        access_err(1, a - 2, 4, true)
    );
    // Wrap-around of addr + len.
    assert_eq!(
        load_at(u64::MAX, 0, Size::DW, &regions),
        access_err(0, u64::MAX, 8, false)
    );
    assert_eq!(
        load_at(u64::MAX - 3, 0, Size::DW, &regions),
        access_err(0, u64::MAX - 3, 8, false)
    );
    assert_eq!(load_at(0, 0, Size::B, &regions), access_err(0, 0, 1, false));
    // Only the in-bounds bytes were written; the failed straddling stores wrote nothing.
    let mut expect = [0u8; 16];
    expect[0] = 0xff;
    expect[15] = 0xff;
    assert_eq!(bytes, expect);
}

#[test]
fn read_only_region_refuses_writes() {
    let bytes = [7u8; 8];
    let region = Region::readonly(&bytes);
    let a = region.addr();
    let regions = [region];
    assert_eq!(load_at(a, 0, Size::DW, &regions), Ok(0x0707_0707_0707_0707));
    assert_eq!(store_at(a, 0, Size::B, &regions), access_err(1, a, 1, true));
    assert_eq!(
        store_at(a, 7, Size::B, &regions),
        access_err(1, a + 7, 1, true)
    );
    let p = prog![
        mov(2, 1),
        atomic(Size::DW, AtomicOp::Add { fetch: false }, 1, 2, 0),
        EXIT
    ];
    let config = RunConfig {
        args: [a, 0, 0, 0, 0],
        regions: &regions,
        ..RunConfig::default()
    };
    assert_eq!(vm(&p).run(&config), access_err(1, a, 8, true));
    assert_eq!(bytes, [7; 8]);
}

#[test]
fn zero_length_region_grants_nothing() {
    let mut bytes = [0u8; 8];
    let (left, _) = bytes.split_at_mut(0);
    let region = Region::writable(left);
    let a = region.addr();
    let regions = [region];
    assert_eq!(load_at(a, 0, Size::B, &regions), access_err(0, a, 1, false));
    assert_eq!(store_at(a, 0, Size::B, &regions), access_err(1, a, 1, true));
}

/// Run `access` after a helper has recorded r10 (the stack lives in the frame of `run`, so
/// its address differs between runs); returns the result and that r10.
fn with_fp(access: Insn) -> (Result<u64, VmError>, u64) {
    let fp = Arc::new(AtomicU64::new(0));
    let seen = fp.clone();
    let h = Helpers::new().with(1, move |_, a| {
        seen.store(a[0], Ordering::Relaxed);
        Ok(0)
    });
    let p = prog![movr(1, 10), call(1), access, EXIT];
    let result = vm_with(&p, h).run(&RunConfig::default());
    (result, fp.load(Ordering::Relaxed))
}

#[test]
fn stack_bounds() {
    let check = |access: Insn, expect: Option<(i64, u64, bool)>| {
        let (result, fp) = with_fp(access);
        assert_eq!(fp % 16, 0, "r10 is aligned");
        match expect {
            None => assert_eq!(result, Ok(0), "{access:?}"),
            Some((off, len, write)) => {
                assert_eq!(
                    result,
                    access_err(2, fp.wrapping_add_signed(off), len, write)
                )
            }
        }
    };
    check(ldx(Size::B, 0, 10, -1), None);
    check(ldx(Size::DW, 0, 10, -512), None);
    check(ldx(Size::DW, 0, 10, -8), None);
    check(ldx(Size::B, 0, 10, 0), Some((0, 1, false)));
    check(ldx(Size::DW, 0, 10, -4), Some((-4, 8, false)));
    check(ldx(Size::B, 0, 10, -513), Some((-513, 1, false)));
    check(ldx(Size::DW, 0, 10, -516), Some((-516, 8, false)));
    check(st(Size::B, 10, -1, 1), None);
    check(st(Size::B, 10, 0, 1), Some((0, 1, true)));
    check(st(Size::W, 10, -2, 1), Some((-2, 4, true)));
    check(st(Size::B, 10, -513, 1), Some((-513, 1, true)));
    check(st(Size::DW, 10, -520, 1), Some((-520, 8, true)));
}

#[test]
fn callee_cannot_reach_below_its_frame_and_caller_cannot_reach_a_returned_frame() {
    // The callee reads one byte below its own frame.
    let p = prog![call_local(1), EXIT, ldx(Size::B, 0, 10, -513), EXIT];
    assert!(matches!(
        run(&p),
        Err(VmError::MemoryAccess {
            pc: 2,
            write: false,
            len: 1,
            ..
        })
    ));
    // The callee returns its r10; the caller reads below its own frame there.
    let q = prog![
        call_local(2),
        ldx(Size::B, 0, 0, -1),
        EXIT,
        movr(0, 10),
        EXIT
    ];
    let e = run(&q).unwrap_err();
    assert!(
        matches!(
            e,
            VmError::MemoryAccess {
                pc: 1,
                len: 1,
                write: false,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn error_display() {
    let e = VmError::MemoryAccess {
        pc: 12,
        addr: 0x7ff0_0000_0010,
        len: 4,
        write: true,
    };
    assert_eq!(
        e.to_string(),
        "insn 12: out-of-bounds write of 4 bytes at 0x7ff000000010"
    );
    let e = VmError::MemoryAccess {
        pc: 3,
        addr: 0x10,
        len: 1,
        write: false,
    };
    assert_eq!(
        e.to_string(),
        "insn 3: out-of-bounds read of 1 byte at 0x10"
    );
}

#[test]
fn misaligned_atomic() {
    #[repr(align(8))]
    struct Words([u8; 16]);
    let mut words = Words([0; 16]);
    let a = words.0.as_ptr() as u64;
    for (size, off, len) in [(Size::W, 2, 4), (Size::DW, 4, 8), (Size::DW, 1, 8)] {
        let p = prog![mov(2, 1), atomic(size, AtomicOp::Xchg, 1, 2, off), EXIT];
        assert_eq!(
            run_mem(&p, &mut words.0),
            Err(VmError::MisalignedAtomic {
                pc: 1,
                addr: a + off as u64,
                len
            })
        );
    }
    // Out of bounds wins over misalignment (the access is refused either way).
    let p = prog![mov(2, 1), atomic(Size::DW, AtomicOp::Xchg, 1, 2, 12), EXIT];
    assert_eq!(run_mem(&p, &mut words.0), access_err(1, a + 12, 8, true));
    let p = prog![
        mov(2, 1),
        atomic(Size::W, AtomicOp::CmpXchg, 10, 2, -6),
        EXIT
    ];
    assert!(matches!(
        run(&p),
        Err(VmError::MisalignedAtomic { pc: 1, len: 4, .. })
    ));
    assert_eq!(words.0, [0; 16]);
}

#[test]
fn call_depth_nine_is_refused() {
    // f recurses 7 times: frames 0..=8.
    let p = prog![
        mov(0, 0),
        mov(1, 7),
        call_local(1),
        EXIT,
        jmp(Width::W64, JmpOp::Jeq, 1, imm(0), 2),
        add(1, -1),
        call_local(-3),
        add(0, 1),
        EXIT,
    ];
    assert_eq!(run(&p), Err(VmError::CallDepthExceeded { pc: 6 }));
    // Endless recursion stops the same way.
    assert_eq!(
        run(&prog![call_local(-1), EXIT]),
        Err(VmError::CallDepthExceeded { pc: 0 })
    );
}

#[test]
fn budget_stops_an_endless_loop() {
    let p = prog![mov(0, 0), add(0, 1), ja(-2), EXIT];
    let r = vm(&p).run(&RunConfig {
        max_insns: Some(1000),
        ..RunConfig::default()
    });
    // 1 + 2 * 499 = 999 instructions, then `add` at slot 1 is the 1000th, `ja` the 1001st.
    assert_eq!(
        r,
        Err(VmError::BudgetExceeded {
            pc: 2,
            executed: 1000
        })
    );
}

#[test]
fn unknown_helper_is_a_preparation_error() {
    let p = prog![call(7), EXIT];
    assert_eq!(
        prepare_err(&p),
        PrepareError::UnknownHelper { pc: 0, id: 7 }
    );
    let p = prog![mov(0, 0), call(-1), EXIT];
    assert_eq!(
        prepare_err(&p),
        PrepareError::UnknownHelper { pc: 1, id: -1 }
    );
    let h = Helpers::new().with(7, |_, _| Ok(0));
    assert!(waggle_vm::Interpreter::new(&prog![call(7), EXIT], h).is_ok());
}

#[test]
fn callx_to_unknown_helper_is_a_run_error() {
    let h = Helpers::new().with(1, |_, _| Ok(0));
    let p = |target: u64| prog![lddw(3, target), Insn::Callx { reg: r(3) }, EXIT];
    for target in [0, 2, 1 << 32 | 1, u64::MAX] {
        assert_eq!(
            vm_with(&p(target), h.clone()).run(&RunConfig::default()),
            Err(VmError::BadCallTarget { pc: 2, target })
        );
    }
}

#[test]
fn helper_failures() {
    let h = Helpers::new()
        .with(1, |_, _| Err(HelperError::failed("map is gone")))
        .with(2, |ctx, a| Ok(ctx.read(a[0], 8)?.len() as u64))
        .with(3, |ctx, a| {
            ctx.write(a[0], &[1; 4])?;
            Ok(0)
        });
    let run_h = |p: &[Insn]| vm_with(p, h.clone()).run(&RunConfig::default());
    assert_eq!(
        run_h(&prog![mov(1, 0), call(1), EXIT]),
        Err(VmError::Helper {
            pc: 1,
            id: 1,
            message: "map is gone".into()
        })
    );
    // A helper reading one byte past the stack top.
    let e = run_h(&prog![movr(1, 10), add(1, -7), call(2), EXIT]).unwrap_err();
    assert!(
        matches!(&e, VmError::Helper { pc: 2, id: 2, message } if message.starts_with("out-of-bounds read of 8 bytes")),
        "{e}"
    );
    assert_eq!(run_h(&prog![movr(1, 10), add(1, -8), call(2), EXIT]), Ok(8));
    // Writing a read-only region.
    let ro = [0u8; 4];
    let regions = [Region::readonly(&ro)];
    let e = vm_with(&prog![call(3), EXIT], h.clone())
        .run(&RunConfig {
            args: [regions[0].addr(), 0, 0, 0, 0],
            regions: &regions,
            ..RunConfig::default()
        })
        .unwrap_err();
    assert!(
        e.to_string().contains("out-of-bounds write of 4 bytes"),
        "{e}"
    );
}

#[test]
fn unrelocated_lddw_kinds_are_refused() {
    for kind in [
        LddwKind::MapFd,
        LddwKind::MapValue,
        LddwKind::BtfId,
        LddwKind::Func,
        LddwKind::MapIdx,
        LddwKind::MapIdxValue,
    ] {
        let p = vec![
            mov(0, 0),
            Insn::Lddw {
                dst: r(1),
                kind,
                imm: 0,
            },
            Insn::LddwHigh,
            EXIT,
        ];
        assert_eq!(
            prepare_err(&p),
            PrepareError::UnrelocatedLddw { pc: 1, kind }
        );
    }
}

#[test]
fn kfunc_and_unencodable_instructions_are_refused() {
    let p = prog![
        Insn::Call(CallTarget::Kfunc {
            btf_id: 1,
            module: 0
        }),
        EXIT
    ];
    assert!(matches!(
        prepare_err(&p),
        PrepareError::Unsupported { pc: 0, .. }
    ));
    let p = prog![endian(waggle_isa::ByteOrder::Swap, 8, 0), EXIT];
    assert!(matches!(
        prepare_err(&p),
        PrepareError::Unsupported { pc: 0, .. }
    ));
    let p = prog![alu64(waggle_isa::AluOp::MovSx8, 0, imm(1)), EXIT];
    assert!(matches!(
        prepare_err(&p),
        PrepareError::Unsupported { pc: 0, .. }
    ));
    let p = prog![atomic(Size::B, AtomicOp::Xchg, 10, 0, -8), EXIT];
    assert!(matches!(
        prepare_err(&p),
        PrepareError::Unsupported { pc: 0, .. }
    ));
}

#[test]
fn invalid_programs_are_refused() {
    assert_eq!(
        prepare_err(&[]),
        PrepareError::Invalid(ValidationError::Empty)
    );
    assert_eq!(
        prepare_err(&prog![mov(0, 0)]),
        PrepareError::Invalid(ValidationError::FallThrough { pc: 0 })
    );
    // A jump into the second slot of an lddw (the only way to execute it).
    let p = prog![ja(1), lddw(0, 1), EXIT];
    assert!(matches!(
        prepare_err(&p),
        PrepareError::Invalid(ValidationError::JumpIntoLddw { pc: 0, target: 2 })
    ));
    let p = vec![Insn::LddwHigh, EXIT];
    assert!(matches!(prepare_err(&p), PrepareError::Invalid(_)));
}
