//! Disassembler: instruction slots back to text, in the conformance-suite syntax that
//! [`crate::asm`] reads, or in the syntax `llvm-objdump -d` prints.
//!
//! [`Syntax::Conformance`] is exact: `assemble(&disassemble(p, Syntax::Conformance)) == p` for
//! every program whose instructions [`crate::decode`] can produce. Jumps print as relative
//! `+N`/`-N` slot offsets, so no labels are needed.
//!
//! [`Syntax::Llvm`] follows LLVM 19's `BPFInstPrinter` with `llvm-objdump`'s defaults (no
//! `+alu32`, `--print-imm-hex`): immediates and offsets in signed hex (`0x4`, `-0x8`), branch
//! targets as `+0x2`/`-0x5` without the `<symbol>` annotation, 64-bit registers in loads and
//! stores, `w` registers for 32-bit arithmetic and JMP32. Where LLVM 19 has no default
//! spelling, this module picks the closest one LLVM has:
//! - 32-bit atomics other than `lock ... +=` print in their `+alu32` form
//!   (`w1 = atomic_fetch_add((u32 *)(r10 - 0x8), w1)`, `w0 = cmpxchg32_32(...)`);
//! - `lddw` with a pseudo source prints as `ld_pseudo` with the whole 64-bit immediate;
//! - `ldind` with a non-zero immediate prints it inside the brackets (`skb[r1 + 0x4]`), which
//!   LLVM drops; kfunc calls print only the BTF id, as LLVM does.

use crate::asm::LDDW_KINDS;
use crate::insn::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpOp, LddwKind, Operand, PacketMode, Reg, Size,
    Width,
};

/// Which text syntax to print.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Syntax {
    /// The BPF conformance suite's assembler syntax (`mov %r0, 1`), re-assemblable by
    /// [`crate::asm::assemble`].
    #[default]
    Conformance,
    /// LLVM's BPF syntax as `llvm-objdump -d` prints it (`r0 = 0x1`).
    Llvm,
}

/// Disassemble a program, one line (ending in `\n`) per instruction; the second slot of each
/// `lddw` is skipped, as it belongs to the first.
///
/// ```
/// use waggle_isa::{Syntax, assemble, disassemble};
/// let p = assemble("loop: ldxw %r0, [%r1+4]\njne %r0, 0x10, loop\nexit").unwrap();
/// let text = disassemble(&p, Syntax::Conformance);
/// assert_eq!(text, "ldxw %r0, [%r1+4]\njne %r0, 0x10, -2\nexit\n");
/// assert_eq!(assemble(&text).unwrap(), p);
/// assert_eq!(
///     disassemble(&p, Syntax::Llvm),
///     "r0 = *(u32 *)(r1 + 0x4)\nif r0 != 0x10 goto -0x2\nexit\n"
/// );
/// ```
pub fn disassemble(insns: &[Insn], syntax: Syntax) -> String {
    let mut out = String::new();
    for (pc, insn) in insns.iter().enumerate() {
        if *insn != Insn::LddwHigh {
            out.push_str(&format_insn(insn, pc, syntax));
            out.push('\n');
        }
    }
    out
}

/// Format one instruction located at slot `pc`.
///
/// Jump targets are printed relative, so `pc` matters only for [`Insn::LddwHigh`], which has
/// no text of its own and is printed as a comment naming its slot (still re-assemblable).
pub fn format_insn(insn: &Insn, pc: usize, syntax: Syntax) -> String {
    match (insn, syntax) {
        // `#` starts a comment in both syntaxes (LLVM's default MCAsmInfo comment string).
        (Insn::LddwHigh, _) => format!("# slot {pc}: second half of lddw"),
        (_, Syntax::Conformance) => conformance(insn),
        (_, Syntax::Llvm) => llvm(insn),
    }
}

// ---------------------------------------------------------------------------------------------
// Conformance syntax

fn creg(r: Reg) -> String {
    format!("%r{}", r.number())
}

/// Immediates as the suite's own disassembler writes them: small and negative values in
/// decimal, others in hex. Both parse back to the same `i32`.
fn cimm(i: i32) -> String {
    if i <= 10 {
        i.to_string()
    } else {
        format!("{i:#x}")
    }
}

fn cmem(base: Reg, off: i16) -> String {
    match off {
        0 => format!("[{}]", creg(base)),
        o if o > 0 => format!("[{}+{o}]", creg(base)),
        o => format!("[{}{o}]", creg(base)),
    }
}

fn crel(off: i32) -> String {
    if off >= 0 {
        format!("+{off}")
    } else {
        off.to_string()
    }
}

fn coperand(src: Operand) -> String {
    match src {
        Operand::Reg(r) => creg(r),
        Operand::Imm(i) => cimm(i),
    }
}

fn size_suffix(size: Size) -> &'static str {
    match size {
        Size::B => "b",
        Size::H => "h",
        Size::W => "w",
        Size::DW => "dw",
    }
}

fn width_suffix(width: Width) -> &'static str {
    match width {
        Width::W32 => "32",
        Width::W64 => "",
    }
}

fn alu_name(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "add",
        AluOp::Sub => "sub",
        AluOp::Mul => "mul",
        AluOp::Div => "div",
        AluOp::SDiv => "sdiv",
        AluOp::Or => "or",
        AluOp::And => "and",
        AluOp::Lsh => "lsh",
        AluOp::Rsh => "rsh",
        AluOp::Mod => "mod",
        AluOp::SMod => "smod",
        AluOp::Xor => "xor",
        AluOp::Mov => "mov",
        AluOp::MovSx8 => "movsx8",
        AluOp::MovSx16 => "movsx16",
        AluOp::MovSx32 => "movsx32",
        AluOp::Arsh => "arsh",
    }
}

fn jmp_name(op: JmpOp) -> &'static str {
    match op {
        JmpOp::Jeq => "jeq",
        JmpOp::Jgt => "jgt",
        JmpOp::Jge => "jge",
        JmpOp::Jset => "jset",
        JmpOp::Jne => "jne",
        JmpOp::Jsgt => "jsgt",
        JmpOp::Jsge => "jsge",
        JmpOp::Jlt => "jlt",
        JmpOp::Jle => "jle",
        JmpOp::Jslt => "jslt",
        JmpOp::Jsle => "jsle",
    }
}

fn conformance(insn: &Insn) -> String {
    match *insn {
        Insn::Alu {
            width,
            op: op @ (AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32),
            dst,
            src,
        } => {
            // `movsx<source bits><destination bits>`: the width is always spelled out.
            let dst_bits = if width == Width::W32 { "32" } else { "64" };
            format!(
                "{}{dst_bits} {}, {}",
                alu_name(op),
                creg(dst),
                coperand(src)
            )
        }
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => format!(
            "{}{} {}, {}",
            alu_name(op),
            width_suffix(width),
            creg(dst),
            coperand(src)
        ),
        Insn::Neg { width, dst } => format!("neg{} {}", width_suffix(width), creg(dst)),
        Insn::Endian { order, bits, dst } => {
            let name = match order {
                ByteOrder::ToLe => "le",
                ByteOrder::ToBe => "be",
                ByteOrder::Swap => "swap",
            };
            format!("{name}{bits} {}", creg(dst))
        }
        Insn::Lddw { dst, kind, imm } => match LDDW_KINDS.iter().find(|(_, k)| *k == kind) {
            Some((word, _)) => format!("lddw {word} {}, {imm:#x}", creg(dst)),
            None => format!("lddw {}, {imm:#x}", creg(dst)),
        },
        Insn::LddwHigh => String::new(),
        Insn::Load {
            size,
            signed,
            dst,
            src,
            off,
        } => format!(
            "ldx{}{} {}, {}",
            if signed { "s" } else { "" },
            size_suffix(size),
            creg(dst),
            cmem(src, off)
        ),
        Insn::Store {
            size,
            dst,
            off,
            src: Operand::Imm(i),
        } => format!("st{} {}, {}", size_suffix(size), cmem(dst, off), cimm(i)),
        Insn::Store {
            size,
            dst,
            off,
            src: Operand::Reg(s),
        } => format!("stx{} {}, {}", size_suffix(size), cmem(dst, off), creg(s)),
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            let (fetch, name) = match op {
                AtomicOp::Add { fetch } => (fetch, "add"),
                AtomicOp::Or { fetch } => (fetch, "or"),
                AtomicOp::And { fetch } => (fetch, "and"),
                AtomicOp::Xor { fetch } => (fetch, "xor"),
                AtomicOp::Xchg => (false, "xchg"),
                AtomicOp::CmpXchg => (false, "cmpxchg"),
            };
            format!(
                "lock {}{name}{} {}, {}",
                if fetch { "fetch " } else { "" },
                if size == Size::W { "32" } else { "" },
                cmem(dst, off),
                creg(src)
            )
        }
        Insn::LoadPacket { size, mode, imm } => match mode {
            PacketMode::Abs => format!("ldabs{} {}", size_suffix(size), cimm(imm)),
            PacketMode::Ind(r) => {
                format!("ldind{} {}, {}", size_suffix(size), creg(r), cimm(imm))
            }
        },
        Insn::Ja { off, long: false } => format!("ja {}", crel(off)),
        Insn::Ja { off, long: true } => format!("ja32 {}", crel(off)),
        Insn::Jump {
            width,
            op,
            dst,
            src,
            off,
        } => format!(
            "{}{} {}, {}, {}",
            jmp_name(op),
            width_suffix(width),
            creg(dst),
            coperand(src),
            crel(off.into())
        ),
        Insn::Call(CallTarget::Helper(id)) => format!("call {}", cimm(id)),
        Insn::Call(CallTarget::Local(off)) => format!("call local {}", crel(off)),
        Insn::Call(CallTarget::Kfunc { btf_id, module: 0 }) => {
            format!("call runtime {}", cimm(btf_id))
        }
        Insn::Call(CallTarget::Kfunc { btf_id, module }) => {
            format!("call runtime {}, {module}", cimm(btf_id))
        }
        Insn::Callx { reg } => format!("call {}", creg(reg)),
        Insn::Exit => "exit".into(),
        Insn::MayGoto { off } => format!("may_goto {}", crel(off.into())),
    }
}

// ---------------------------------------------------------------------------------------------
// LLVM syntax

/// LLVM's `formatImm` with `--print-imm-hex`: C-style hex with a leading minus for negatives.
fn hex(v: i64) -> String {
    if v < 0 {
        format!("-{:#x}", v.unsigned_abs())
    } else {
        format!("{v:#x}")
    }
}

/// `printBrTargetOperand`: an explicit `+` for non-negative offsets.
fn lrel(off: i32) -> String {
    if off >= 0 {
        format!("+{}", hex(off.into()))
    } else {
        hex(off.into())
    }
}

/// `printMemOperand`: `r1 + 0x4`, `r10 - 0x8`.
fn lmem(base: Reg, off: i16) -> String {
    if off >= 0 {
        format!("{base} + {}", hex(off.into()))
    } else {
        format!("{base} - {}", hex(-i64::from(off)))
    }
}

/// A register as a 64-bit `rN` or a 32-bit `wN`.
fn lreg(r: Reg, width: Width) -> String {
    match width {
        Width::W64 => format!("r{}", r.number()),
        Width::W32 => format!("w{}", r.number()),
    }
}

fn loperand(src: Operand, width: Width) -> String {
    match src {
        Operand::Reg(r) => lreg(r, width),
        Operand::Imm(i) => hex(i.into()),
    }
}

fn bits(size: Size) -> usize {
    size.bytes() * 8
}

fn llvm(insn: &Insn) -> String {
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let d = lreg(dst, width);
            let s = loperand(src, width);
            let op = match op {
                AluOp::Mov => return format!("{d} = {s}"),
                AluOp::MovSx8 => return format!("{d} = (s8){s}"),
                AluOp::MovSx16 => return format!("{d} = (s16){s}"),
                AluOp::MovSx32 => return format!("{d} = (s32){s}"),
                AluOp::Add => "+=",
                AluOp::Sub => "-=",
                AluOp::Mul => "*=",
                AluOp::Div => "/=",
                AluOp::SDiv => "s/=",
                AluOp::Or => "|=",
                AluOp::And => "&=",
                AluOp::Lsh => "<<=",
                AluOp::Rsh => ">>=",
                AluOp::Mod => "%=",
                AluOp::SMod => "s%=",
                AluOp::Xor => "^=",
                AluOp::Arsh => "s>>=",
            };
            format!("{d} {op} {s}")
        }
        Insn::Neg { width, dst } => {
            let d = lreg(dst, width);
            format!("{d} = -{d}")
        }
        Insn::Endian { order, bits, dst } => {
            let name = match order {
                ByteOrder::ToLe => "le",
                ByteOrder::ToBe => "be",
                ByteOrder::Swap => "bswap",
            };
            format!("{dst} = {name}{bits} {dst}")
        }
        Insn::Lddw {
            dst,
            kind: LddwKind::Imm,
            imm,
        } => format!("{dst} = {} ll", hex(imm as i64)),
        Insn::Lddw { dst, kind, imm } => {
            format!("ld_pseudo\t{dst}, {}, {imm:#x}", hex(kind.src().into()))
        }
        Insn::LddwHigh => String::new(),
        Insn::Load {
            size,
            signed,
            dst,
            src,
            off,
        } => format!(
            "{dst} = *({}{} *)({})",
            if signed { "s" } else { "u" },
            bits(size),
            lmem(src, off)
        ),
        Insn::Store {
            size,
            dst,
            off,
            src,
        } => format!(
            "*(u{} *)({}) = {}",
            bits(size),
            lmem(dst, off),
            loperand(src, Width::W64)
        ),
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => llvm_atomic(size, op, dst, src, off),
        Insn::LoadPacket { size, mode, imm } => {
            let index = match mode {
                PacketMode::Abs => hex(imm.into()),
                PacketMode::Ind(r) if imm == 0 => r.to_string(),
                PacketMode::Ind(r) => format!("{r} + {}", hex(imm.into())),
            };
            format!("r0 = *(u{} *)skb[{index}]", bits(size))
        }
        Insn::Ja { off, long: false } => format!("goto {}", lrel(off)),
        Insn::Ja { off, long: true } => format!("gotol {}", lrel(off)),
        Insn::Jump {
            width,
            op,
            dst,
            src,
            off,
        } => {
            let op = match op {
                JmpOp::Jeq => "==",
                JmpOp::Jgt => ">",
                JmpOp::Jge => ">=",
                JmpOp::Jset => "&",
                JmpOp::Jne => "!=",
                JmpOp::Jsgt => "s>",
                JmpOp::Jsge => "s>=",
                JmpOp::Jlt => "<",
                JmpOp::Jle => "<=",
                JmpOp::Jslt => "s<",
                JmpOp::Jsle => "s<=",
            };
            format!(
                "if {} {op} {} goto {}",
                lreg(dst, width),
                loperand(src, width),
                lrel(off.into())
            )
        }
        Insn::Call(
            CallTarget::Helper(imm)
            | CallTarget::Local(imm)
            | CallTarget::Kfunc { btf_id: imm, .. },
        ) => format!("call {}", hex(imm.into())),
        Insn::Callx { reg } => format!("callx {reg}"),
        Insn::Exit => "exit".into(),
        Insn::MayGoto { off } => format!("may_goto {}", lrel(off.into())),
    }
}

fn llvm_atomic(size: Size, op: AtomicOp, dst: Reg, src: Reg, off: i16) -> String {
    let mem = lmem(dst, off);
    let w = bits(size);
    // 64-bit forms and the 32-bit `lock +=` (XADDW) use r registers; the other 32-bit forms
    // exist only in LLVM's +alu32 decoder, which prints w registers.
    let v = if size == Size::DW {
        lreg(src, Width::W64)
    } else {
        lreg(src, Width::W32)
    };
    let (name, sym, fetch) = match op {
        AtomicOp::Add { fetch: false } => {
            // XADDW/XADDD: the only form LLVM 19 decodes by default for both sizes.
            return format!("lock *(u{w} *)({mem}) += {}", lreg(src, Width::W64));
        }
        AtomicOp::Or { fetch } => ("or", "|", fetch),
        AtomicOp::And { fetch } => ("and", "&", fetch),
        AtomicOp::Xor { fetch } => ("xor", "^", fetch),
        AtomicOp::Add { fetch: true } => ("add", "+", true),
        AtomicOp::Xchg if size == Size::DW => return format!("{v} = xchg_64({mem}, {v})"),
        AtomicOp::Xchg => return format!("{v} = xchg32_32({mem}, {v})"),
        AtomicOp::CmpXchg if size == Size::DW => {
            return format!("r0 = cmpxchg_64({mem}, r0, {v})");
        }
        AtomicOp::CmpXchg => return format!("w0 = cmpxchg32_32({mem}, w0, {v})"),
    };
    if fetch {
        format!("{v} = atomic_fetch_{name}((u{w} *)({mem}), {v})")
    } else {
        format!("lock *(u{w} *)({mem}) {sym}= {v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;

    fn llvm_of(text: &str) -> String {
        let p = assemble(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        format_insn(&p[0], 0, Syntax::Llvm)
    }

    /// Conformance text → LLVM text, checked against LLVM's asm strings (BPFInstrInfo.td) and
    /// llvm-objdump output with its default `--print-imm-hex`.
    const LLVM_TABLE: &[(&str, &str)] = &[
        ("ldxw %r0, [%r1+4]", "r0 = *(u32 *)(r1 + 0x4)"),
        ("ldxdw %r2, [%r10-8]", "r2 = *(u64 *)(r10 - 0x8)"),
        ("ldxb %r5, [%r0]", "r5 = *(u8 *)(r0 + 0x0)"),
        ("ldxsb %r0, [%r1+2]", "r0 = *(s8 *)(r1 + 0x2)"),
        ("ldxsh %r0, [%r1-32768]", "r0 = *(s16 *)(r1 - 0x8000)"),
        ("ldxsw %r0, [%r1+0x7fff]", "r0 = *(s32 *)(r1 + 0x7fff)"),
        ("mov32 %r0, %r1", "w0 = w1"),
        ("mov %r0, %r1", "r0 = r1"),
        ("mov %r0, -1", "r0 = -0x1"),
        ("mov32 %r0, 0xffffffff", "w0 = -0x1"),
        ("add %r0, 1", "r0 += 0x1"),
        ("add %r1, -48", "r1 += -0x30"),
        ("sub32 %r1, %r2", "w1 -= w2"),
        ("mul %r2, -4", "r2 *= -0x4"),
        ("div %r3, %r4", "r3 /= r4"),
        ("sdiv %r0, %r1", "r0 s/= r1"),
        ("mod32 %r4, 5", "w4 %= 0x5"),
        ("smod %r4, %r5", "r4 s%= r5"),
        ("or %r4, %r5", "r4 |= r5"),
        ("and32 %r5, 0xff", "w5 &= 0xff"),
        ("lsh %r6, 63", "r6 <<= 0x3f"),
        ("rsh32 %r7, %r8", "w7 >>= w8"),
        ("xor %r8, 0", "r8 ^= 0x0"),
        ("arsh %r10, %r0", "r10 s>>= r0"),
        ("neg %r0", "r0 = -r0"),
        ("neg32 %r2", "w2 = -w2"),
        ("movsx864 %r0, %r1", "r0 = (s8)r1"),
        ("movsx1664 %r0, %r1", "r0 = (s16)r1"),
        ("movsx3264 %r0, %r1", "r0 = (s32)r1"),
        ("movsx832 %r0, %r1", "w0 = (s8)w1"),
        ("movsx1632 %r0, %r1", "w0 = (s16)w1"),
        ("be16 %r0", "r0 = be16 r0"),
        ("le32 %r1", "r1 = le32 r1"),
        ("swap64 %r0", "r0 = bswap64 r0"),
        ("lddw %r1, 0x1122334455667788", "r1 = 0x1122334455667788 ll"),
        ("lddw %r9, 0xffffffff", "r9 = 0xffffffff ll"),
        ("lddw %r1, -1", "r1 = -0x1 ll"),
        ("lddw map_fd %r1, 5", "ld_pseudo\tr1, 0x1, 0x5"),
        ("stxdw [%r10-8], %r1", "*(u64 *)(r10 - 0x8) = r1"),
        ("stxb [%r0], %r7", "*(u8 *)(r0 + 0x0) = r7"),
        (
            "stw [%r10-4], 0x11223344",
            "*(u32 *)(r10 - 0x4) = 0x11223344",
        ),
        ("sth [%r1+2], -1", "*(u16 *)(r1 + 0x2) = -0x1"),
        ("lock add [%r10-8], %r1", "lock *(u64 *)(r10 - 0x8) += r1"),
        ("lock add32 [%r2+16], %r9", "lock *(u32 *)(r2 + 0x10) += r9"),
        ("lock or [%r10-8], %r1", "lock *(u64 *)(r10 - 0x8) |= r1"),
        ("lock and32 [%r10-8], %r1", "lock *(u32 *)(r10 - 0x8) &= w1"),
        ("lock xor [%r10-8], %r1", "lock *(u64 *)(r10 - 0x8) ^= r1"),
        (
            "lock fetch add [%r10-8], %r0",
            "r0 = atomic_fetch_add((u64 *)(r10 - 0x8), r0)",
        ),
        (
            "lock fetch xor32 [%r10-4], %r3",
            "w3 = atomic_fetch_xor((u32 *)(r10 - 0x4), w3)",
        ),
        ("lock xchg [%r10-8], %r1", "r1 = xchg_64(r10 - 0x8, r1)"),
        ("lock xchg32 [%r10-8], %r1", "w1 = xchg32_32(r10 - 0x8, w1)"),
        (
            "lock cmpxchg [%r10-8], %r1",
            "r0 = cmpxchg_64(r10 - 0x8, r0, r1)",
        ),
        (
            "lock cmpxchg32 [%r10-8], %r1",
            "w0 = cmpxchg32_32(r10 - 0x8, w0, w1)",
        ),
        ("ldabsb 0x10", "r0 = *(u8 *)skb[0x10]"),
        ("ldabsw 4", "r0 = *(u32 *)skb[0x4]"),
        ("ldindh %r1, 0", "r0 = *(u16 *)skb[r1]"),
        ("ja +3", "goto +0x3"),
        ("ja -5", "goto -0x5"),
        ("ja32 +3", "gotol +0x3"),
        ("jgt %r1, 5, +2", "if r1 > 0x5 goto +0x2"),
        ("jeq %r0, %r1, +24", "if r0 == r1 goto +0x18"),
        ("jne %r3, -1, +0", "if r3 != -0x1 goto +0x0"),
        ("jset %r1, 8, +1", "if r1 & 0x8 goto +0x1"),
        ("jsge32 %r5, %r6, -1", "if w5 s>= w6 goto -0x1"),
        ("jlt32 %r6, 0xff, +8", "if w6 < 0xff goto +0x8"),
        ("jsle %r9, -1, +5", "if r9 s<= -0x1 goto +0x5"),
        ("call 1", "call 0x1"),
        ("call local -1", "call -0x1"),
        ("call runtime 0x71", "call 0x71"),
        ("call %r2", "callx r2"),
        ("exit", "exit"),
        ("may_goto +4", "may_goto +0x4"),
    ];

    #[test]
    fn llvm_strings() {
        for (asm, want) in LLVM_TABLE {
            assert_eq!(llvm_of(asm), *want, "{asm}");
        }
    }

    #[test]
    fn conformance_strings() {
        let cases = [
            ("mov %r0, 0x10", "mov %r0, 0x10"),
            ("mov32 %r0, 0xffffffff", "mov32 %r0, -1"),
            ("mov %r0, 10", "mov %r0, 10"),
            ("ldxh %r1, [%r2-0x10]", "ldxh %r1, [%r2-16]"),
            ("stb [%r1], 0x11", "stb [%r1], 0x11"),
            (
                "lock fetch and32 [%r10-4], %r3",
                "lock fetch and32 [%r10-4], %r3",
            ),
            ("movsx832 %r2, %r1", "movsx832 %r2, %r1"),
            ("bswap32 %r0", "swap32 %r0"),
            ("lddw %r0, 1", "lddw %r0, 0x1"),
            ("lddw btf_id %r0, 1", "lddw btf_id %r0, 0x1"),
            ("ja32 -2", "ja32 -2"),
            ("call runtime 5, -3", "call runtime 5, -3"),
            ("call kfunc 5", "call runtime 5"),
            ("callx %r3", "call %r3"),
            ("ldindw %r1, 4", "ldindw %r1, 4"),
        ];
        for (asm, want) in cases {
            let p = assemble(asm).unwrap();
            assert_eq!(format_insn(&p[0], 0, Syntax::Conformance), want, "{asm}");
        }
    }

    #[test]
    fn disassemble_skips_lddw_high() {
        let p = assemble("lddw %r0, 0x1122334455667788\nexit").unwrap();
        assert_eq!(
            disassemble(&p, Syntax::Conformance),
            "lddw %r0, 0x1122334455667788\nexit\n"
        );
        assert_eq!(
            disassemble(&p, Syntax::Llvm),
            "r0 = 0x1122334455667788 ll\nexit\n"
        );
        // A slot-by-slot listing stays re-assemblable: the second half is a comment.
        let listing: String = p
            .iter()
            .enumerate()
            .map(|(pc, i)| format_insn(i, pc, Syntax::Conformance) + "\n")
            .collect();
        assert_eq!(assemble(&listing).unwrap(), p);
    }
}
