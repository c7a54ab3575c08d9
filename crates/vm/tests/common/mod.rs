//! Builders for test programs, made of `Insn` values directly.
#![allow(dead_code)]

use waggle_isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpOp, Operand, RawInsn, Reg, Size, Width,
};
use waggle_vm::{Helpers, Interpreter, PrepareError, RunConfig, VmError};

/// Register `n`.
pub fn r(n: u8) -> Reg {
    Reg::new(n).expect("register 0..=10")
}

/// Immediate operand.
pub fn imm(i: i32) -> Operand {
    Operand::Imm(i)
}

/// Register operand.
pub fn reg(n: u8) -> Operand {
    Operand::Reg(r(n))
}

/// One or two slots.
pub trait Slots {
    /// Append them.
    fn push_to(self, prog: &mut Vec<Insn>);
}

impl Slots for Insn {
    fn push_to(self, prog: &mut Vec<Insn>) {
        prog.push(self);
    }
}

impl Slots for [Insn; 2] {
    fn push_to(self, prog: &mut Vec<Insn>) {
        prog.extend(self);
    }
}

/// A program from instructions and `lddw` pairs.
#[macro_export]
macro_rules! prog {
    ($($e:expr),* $(,)?) => {{
        let mut v: Vec<waggle_isa::Insn> = Vec::new();
        $( $crate::common::Slots::push_to($e, &mut v); )*
        v
    }};
}

pub fn alu64(op: AluOp, dst: u8, src: Operand) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op,
        dst: r(dst),
        src,
    }
}

pub fn alu32(op: AluOp, dst: u8, src: Operand) -> Insn {
    Insn::Alu {
        width: Width::W32,
        op,
        dst: r(dst),
        src,
    }
}

/// `dst = imm` (64-bit, sign-extended).
pub fn mov(dst: u8, i: i32) -> Insn {
    alu64(AluOp::Mov, dst, imm(i))
}

/// `dst = src` (64-bit).
pub fn movr(dst: u8, src: u8) -> Insn {
    alu64(AluOp::Mov, dst, reg(src))
}

pub fn add(dst: u8, i: i32) -> Insn {
    alu64(AluOp::Add, dst, imm(i))
}

pub fn neg(width: Width, dst: u8) -> Insn {
    Insn::Neg { width, dst: r(dst) }
}

pub fn endian(order: ByteOrder, bits: u8, dst: u8) -> Insn {
    Insn::Endian {
        order,
        bits,
        dst: r(dst),
    }
}

pub fn lddw(dst: u8, v: u64) -> [Insn; 2] {
    [
        Insn::Lddw {
            dst: r(dst),
            kind: waggle_isa::LddwKind::Imm,
            imm: v,
        },
        Insn::LddwHigh,
    ]
}

pub fn ldx(size: Size, dst: u8, src: u8, off: i16) -> Insn {
    Insn::Load {
        size,
        signed: false,
        dst: r(dst),
        src: r(src),
        off,
    }
}

pub fn ldxs(size: Size, dst: u8, src: u8, off: i16) -> Insn {
    Insn::Load {
        size,
        signed: true,
        dst: r(dst),
        src: r(src),
        off,
    }
}

pub fn stx(size: Size, dst: u8, off: i16, src: u8) -> Insn {
    Insn::Store {
        size,
        dst: r(dst),
        off,
        src: reg(src),
    }
}

pub fn st(size: Size, dst: u8, off: i16, i: i32) -> Insn {
    Insn::Store {
        size,
        dst: r(dst),
        off,
        src: imm(i),
    }
}

pub fn atomic(size: Size, op: AtomicOp, dst: u8, src: u8, off: i16) -> Insn {
    Insn::Atomic {
        size,
        op,
        dst: r(dst),
        src: r(src),
        off,
    }
}

pub fn jmp(width: Width, op: JmpOp, dst: u8, src: Operand, off: i16) -> Insn {
    Insn::Jump {
        width,
        op,
        dst: r(dst),
        src,
        off,
    }
}

pub fn ja(off: i16) -> Insn {
    Insn::Ja {
        off: off.into(),
        long: false,
    }
}

pub fn call_local(off: i32) -> Insn {
    Insn::Call(CallTarget::Local(off))
}

pub fn call(id: i32) -> Insn {
    Insn::Call(CallTarget::Helper(id))
}

pub const EXIT: Insn = Insn::Exit;

/// Prepare with `helpers`, panicking on a preparation error.
pub fn vm_with(prog: &[Insn], helpers: Helpers) -> Interpreter {
    Interpreter::new(prog, helpers).unwrap_or_else(|e| panic!("prepare: {e}"))
}

/// Prepare without helpers.
pub fn vm(prog: &[Insn]) -> Interpreter {
    vm_with(prog, Helpers::new())
}

/// Prepare and run without memory.
pub fn run(prog: &[Insn]) -> Result<u64, VmError> {
    vm(prog).run(&RunConfig::default())
}

/// Prepare and run on `mem` (r1 = its address, r2 = its length).
pub fn run_mem(prog: &[Insn], mem: &mut [u8]) -> Result<u64, VmError> {
    vm(prog).run_on(mem)
}

/// Preparation error of `prog` without helpers.
pub fn prepare_err(prog: &[Insn]) -> PrepareError {
    Interpreter::new(prog, Helpers::new()).expect_err("preparation must fail")
}

/// Every binary ALU operation.
pub const ALU_OPS: [AluOp; 17] = [
    AluOp::Add,
    AluOp::Sub,
    AluOp::Mul,
    AluOp::Div,
    AluOp::SDiv,
    AluOp::Or,
    AluOp::And,
    AluOp::Lsh,
    AluOp::Rsh,
    AluOp::Mod,
    AluOp::SMod,
    AluOp::Xor,
    AluOp::Mov,
    AluOp::MovSx8,
    AluOp::MovSx16,
    AluOp::MovSx32,
    AluOp::Arsh,
];

/// Every conditional jump comparison.
pub const JMP_OPS: [JmpOp; 11] = [
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

/// Opcodes the decoder accepts with some field values, so random raw slots decode often
/// (fuzz-style tests bias their random slots toward these).
pub fn known_opcodes() -> Vec<u8> {
    (0..=255u8)
        .filter(|&code| {
            (0..16u8).any(|src| {
                [0i16, 1, 8, 16, 32].iter().any(|&off| {
                    [0i32, 1, 16, 0x01, 0xe1, 0xf1, 0x41].iter().any(|&imm| {
                        let raw = RawInsn {
                            code,
                            dst: 1,
                            src,
                            off,
                            imm,
                        };
                        Insn::decode(raw, Some(RawInsn::default())).is_ok()
                    })
                })
            })
        })
        .collect()
}

/// The conformance suite's helpers (id 5: "unwind", which ends the run when r1 is 0).
pub fn conformance_helpers() -> Helpers {
    Helpers::new().with(5, |_, a| {
        if a[0] == 0 {
            Err(waggle_vm::HelperError::Exit(0))
        } else {
            Ok(a[0])
        }
    })
}

/// A conformance test: file name, program, memory.
pub type Conformance = (String, Vec<Insn>, Vec<u8>);

/// Every program of the conformance suite (`../shared/conformance/tests`) with its memory,
/// by file name; `None` (after printing a SKIPPED line) when the suite is not there.
pub fn conformance_programs() -> Option<Vec<Conformance>> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/tests");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!(
            "SKIPPED: {} not found (the conformance suite lives in ../shared)",
            dir.display()
        );
        return None;
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.extension().is_none_or(|e| e != "data") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable test file");
        if let Some((insns, mem)) = parse_data(&text) {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            out.push((name.into_owned(), insns, mem));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Some(out)
}

/// The `-- asm` (or `-- raw`) program and `-- mem` bytes of a conformance test file.
pub fn parse_data(text: &str) -> Option<(Vec<Insn>, Vec<u8>)> {
    let mut section = "";
    let (mut asm, mut mem, mut raw) = (String::new(), String::new(), String::new());
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- ") {
            section = name.trim();
            continue;
        }
        let line = line.split('#').next().unwrap_or("");
        match section {
            "asm" => asm.push_str(&format!("{line}\n")),
            "mem" => mem.push_str(&format!("{line} ")),
            "raw" => raw.push_str(&format!("{line} ")),
            _ => {}
        }
    }
    let hex = |s: &str| -> Option<Vec<u8>> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b.trim_start_matches("0x"), 16).ok())
            .collect()
    };
    let insns = if raw.trim().is_empty() {
        waggle_isa::asm::assemble(&asm).ok()?
    } else {
        waggle_isa::decode_and_validate(&hex(&raw)?).ok()?
    };
    Some((insns, hex(&mem)?))
}
