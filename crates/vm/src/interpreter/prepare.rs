//! Pre-decoding: each slot becomes one compact [`Op`] whose `kind` alone selects the work,
//! with operands resolved (immediates sign- or zero-extended as the operation needs, jump
//! targets absolute), so the run loop does no decoding.

use crate::error::PrepareError;
use crate::helpers::Helpers;
use crate::memory::Rmw;
use waggle_isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpOp, LddwKind, Operand, PacketMode, Size,
    Width, validate,
};

/// What an [`Op`] does. Arithmetic and jumps are specialised per width (64/32) and source
/// (`Imm`: the pre-extended `Op::imm`; `Reg`: register `Op::src`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Kind {
    Add64Imm,
    Add64Reg,
    Add32Imm,
    Add32Reg,
    Sub64Imm,
    Sub64Reg,
    Sub32Imm,
    Sub32Reg,
    Mul64Imm,
    Mul64Reg,
    Mul32Imm,
    Mul32Reg,
    Div64Imm,
    Div64Reg,
    Div32Imm,
    Div32Reg,
    SDiv64Imm,
    SDiv64Reg,
    SDiv32Imm,
    SDiv32Reg,
    Or64Imm,
    Or64Reg,
    Or32Imm,
    Or32Reg,
    And64Imm,
    And64Reg,
    And32Imm,
    And32Reg,
    Lsh64Imm,
    Lsh64Reg,
    Lsh32Imm,
    Lsh32Reg,
    Rsh64Imm,
    Rsh64Reg,
    Rsh32Imm,
    Rsh32Reg,
    Mod64Imm,
    Mod64Reg,
    Mod32Imm,
    Mod32Reg,
    SMod64Imm,
    SMod64Reg,
    SMod32Imm,
    SMod32Reg,
    Xor64Imm,
    Xor64Reg,
    Xor32Imm,
    Xor32Reg,
    Mov64Imm,
    Mov64Reg,
    Mov32Imm,
    Mov32Reg,
    Arsh64Imm,
    Arsh64Reg,
    Arsh32Imm,
    Arsh32Reg,
    Jeq64Imm,
    Jeq64Reg,
    Jeq32Imm,
    Jeq32Reg,
    Jgt64Imm,
    Jgt64Reg,
    Jgt32Imm,
    Jgt32Reg,
    Jge64Imm,
    Jge64Reg,
    Jge32Imm,
    Jge32Reg,
    Jset64Imm,
    Jset64Reg,
    Jset32Imm,
    Jset32Reg,
    Jne64Imm,
    Jne64Reg,
    Jne32Imm,
    Jne32Reg,
    Jsgt64Imm,
    Jsgt64Reg,
    Jsgt32Imm,
    Jsgt32Reg,
    Jsge64Imm,
    Jsge64Reg,
    Jsge32Imm,
    Jsge32Reg,
    Jlt64Imm,
    Jlt64Reg,
    Jlt32Imm,
    Jlt32Reg,
    Jle64Imm,
    Jle64Reg,
    Jle32Imm,
    Jle32Reg,
    Jslt64Imm,
    Jslt64Reg,
    Jslt32Imm,
    Jslt32Reg,
    Jsle64Imm,
    Jsle64Reg,
    Jsle32Imm,
    Jsle32Reg,
    /// `dst = (s8)src`, 64-bit.
    MovSx8x64,
    /// `dst = (s16)src`, 64-bit.
    MovSx16x64,
    /// `dst = (s32)src`, 64-bit.
    MovSx32x64,
    /// `dst = (u32)(s8)src`.
    MovSx8x32,
    /// `dst = (u32)(s16)src`.
    MovSx16x32,
    Neg64,
    Neg32,
    Le16,
    Le32,
    Le64,
    Be16,
    Be32,
    Be64,
    Swap16,
    Swap32,
    Swap64,
    /// `dst = imm` (64-bit), then skip the second slot.
    Lddw,
    /// The second slot of an `lddw`: executing it is an error.
    LddwHigh,
    LdxB,
    LdxH,
    LdxW,
    LdxDw,
    LdxsB,
    LdxsH,
    LdxsW,
    StB,
    StH,
    StW,
    StDw,
    StxB,
    StxH,
    StxW,
    StxDw,
    /// 32-bit atomic; `imm` indexes [`ATOMICS`].
    Atomic32,
    /// 64-bit atomic; `imm` indexes [`ATOMICS`].
    Atomic64,
    /// `r0 = ntohX(packet[imm])`; `dst` holds the size in bytes.
    LdAbs,
    /// `r0 = ntohX(packet[src + imm])`; `dst` holds the size in bytes.
    LdInd,
    Ja,
    /// `imm` is the helper id.
    CallHelper,
    CallLocal,
    /// Helper id in register `dst`.
    Callx,
    Exit,
    MayGoto,
}

use Kind as K;

/// One pre-decoded slot: 16 bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    pub(crate) kind: Kind,
    /// Destination or base register, 0..=10 (or a size, see [`Kind`]).
    pub(crate) dst: u8,
    /// Source register, 0..=10.
    pub(crate) src: u8,
    /// Memory offset, or the absolute slot index a jump or call goes to.
    pub(crate) off: i32,
    /// Immediate, already extended as the operation needs.
    pub(crate) imm: u64,
}

impl Op {
    fn new(kind: Kind) -> Op {
        Op {
            kind,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0,
        }
    }

    /// The jump or call target.
    #[inline(always)]
    pub(crate) fn target(&self) -> usize {
        self.off as u32 as usize
    }
}

/// Atomic operations by `Op::imm` index: the operation and whether the old value is fetched
/// into the source register.
pub(crate) const ATOMICS: [(Rmw, bool); 10] = [
    (Rmw::Add, false),
    (Rmw::Or, false),
    (Rmw::And, false),
    (Rmw::Xor, false),
    (Rmw::Add, true),
    (Rmw::Or, true),
    (Rmw::And, true),
    (Rmw::Xor, true),
    (Rmw::Xchg, true),
    (Rmw::CmpXchg, true),
];

fn atomic_index(op: AtomicOp) -> u64 {
    match op {
        AtomicOp::Add { fetch } => 4 * u64::from(fetch),
        AtomicOp::Or { fetch } => 1 + 4 * u64::from(fetch),
        AtomicOp::And { fetch } => 2 + 4 * u64::from(fetch),
        AtomicOp::Xor { fetch } => 3 + 4 * u64::from(fetch),
        AtomicOp::Xchg => 8,
        AtomicOp::CmpXchg => 9,
    }
}

/// Kinds of an arithmetic operation: `[64 imm, 64 reg, 32 imm, 32 reg]`.
fn alu_kinds(op: AluOp) -> [Kind; 4] {
    match op {
        AluOp::Add => [K::Add64Imm, K::Add64Reg, K::Add32Imm, K::Add32Reg],
        AluOp::Sub => [K::Sub64Imm, K::Sub64Reg, K::Sub32Imm, K::Sub32Reg],
        AluOp::Mul => [K::Mul64Imm, K::Mul64Reg, K::Mul32Imm, K::Mul32Reg],
        AluOp::Div => [K::Div64Imm, K::Div64Reg, K::Div32Imm, K::Div32Reg],
        AluOp::SDiv => [K::SDiv64Imm, K::SDiv64Reg, K::SDiv32Imm, K::SDiv32Reg],
        AluOp::Or => [K::Or64Imm, K::Or64Reg, K::Or32Imm, K::Or32Reg],
        AluOp::And => [K::And64Imm, K::And64Reg, K::And32Imm, K::And32Reg],
        AluOp::Lsh => [K::Lsh64Imm, K::Lsh64Reg, K::Lsh32Imm, K::Lsh32Reg],
        AluOp::Rsh => [K::Rsh64Imm, K::Rsh64Reg, K::Rsh32Imm, K::Rsh32Reg],
        AluOp::Mod => [K::Mod64Imm, K::Mod64Reg, K::Mod32Imm, K::Mod32Reg],
        AluOp::SMod => [K::SMod64Imm, K::SMod64Reg, K::SMod32Imm, K::SMod32Reg],
        AluOp::Xor => [K::Xor64Imm, K::Xor64Reg, K::Xor32Imm, K::Xor32Reg],
        AluOp::Mov => [K::Mov64Imm, K::Mov64Reg, K::Mov32Imm, K::Mov32Reg],
        AluOp::Arsh => [K::Arsh64Imm, K::Arsh64Reg, K::Arsh32Imm, K::Arsh32Reg],
        // Register source only (the encoding has no immediate form); 32-bit `movsx32` does
        // not exist, so the 32-bit register slot is only reached by a hand-built `Insn`.
        AluOp::MovSx8 => [K::MovSx8x64, K::MovSx8x64, K::MovSx8x32, K::MovSx8x32],
        AluOp::MovSx16 => [K::MovSx16x64, K::MovSx16x64, K::MovSx16x32, K::MovSx16x32],
        AluOp::MovSx32 => [K::MovSx32x64, K::MovSx32x64, K::Mov32Reg, K::Mov32Reg],
    }
}

/// Kinds of a conditional jump: `[64 imm, 64 reg, 32 imm, 32 reg]`.
fn jmp_kinds(op: JmpOp) -> [Kind; 4] {
    match op {
        JmpOp::Jeq => [K::Jeq64Imm, K::Jeq64Reg, K::Jeq32Imm, K::Jeq32Reg],
        JmpOp::Jgt => [K::Jgt64Imm, K::Jgt64Reg, K::Jgt32Imm, K::Jgt32Reg],
        JmpOp::Jge => [K::Jge64Imm, K::Jge64Reg, K::Jge32Imm, K::Jge32Reg],
        JmpOp::Jset => [K::Jset64Imm, K::Jset64Reg, K::Jset32Imm, K::Jset32Reg],
        JmpOp::Jne => [K::Jne64Imm, K::Jne64Reg, K::Jne32Imm, K::Jne32Reg],
        JmpOp::Jsgt => [K::Jsgt64Imm, K::Jsgt64Reg, K::Jsgt32Imm, K::Jsgt32Reg],
        JmpOp::Jsge => [K::Jsge64Imm, K::Jsge64Reg, K::Jsge32Imm, K::Jsge32Reg],
        JmpOp::Jlt => [K::Jlt64Imm, K::Jlt64Reg, K::Jlt32Imm, K::Jlt32Reg],
        JmpOp::Jle => [K::Jle64Imm, K::Jle64Reg, K::Jle32Imm, K::Jle32Reg],
        JmpOp::Jslt => [K::Jslt64Imm, K::Jslt64Reg, K::Jslt32Imm, K::Jslt32Reg],
        JmpOp::Jsle => [K::Jsle64Imm, K::Jsle64Reg, K::Jsle32Imm, K::Jsle32Reg],
    }
}

/// The tag in the high 32 bits of a function pointer value: what `lddw` of kind `Func`
/// (`BPF_PSEUDO_FUNC`) loads is `FUNC_PTR_TAG | slot`, `slot` being the absolute index of
/// the function's first instruction. The value is opaque to the program (it only passes it
/// to a helper); [`HelperContext::call_function`](crate::HelperContext::call_function)
/// accepts only values naming a function some `lddw` of the program loads.
pub(crate) const FUNC_PTR_TAG: u64 = 0xbf5f_0000_0000_0000;

/// Prepared ops, and the slots of the functions `lddw` loads pointers to (sorted).
pub(crate) type Prepared = (Box<[Op]>, Box<[u32]>);

/// Validate `insns` and translate each slot. With `callbacks`, `lddw` of kind `Func` is
/// accepted; the second result lists (sorted) the slots such `lddw`s name.
pub(crate) fn prepare(
    insns: &[Insn],
    helpers: &Helpers,
    callbacks: bool,
) -> Result<Prepared, PrepareError> {
    validate(insns)?;
    let mut funcs = Vec::new();
    let ops = insns
        .iter()
        .enumerate()
        .map(|(pc, insn)| match *insn {
            Insn::Lddw {
                dst,
                kind: LddwKind::Func,
                imm,
            } if callbacks => {
                let target = (pc as i64 + 1 + i64::from(imm as u32 as i32))
                    .try_into()
                    .ok()
                    .filter(|&t: &u32| insns.get(t as usize).is_some_and(|i| *i != Insn::LddwHigh))
                    .ok_or(PrepareError::Unsupported {
                        pc,
                        what: "function pointer outside the program",
                    })?;
                funcs.push(target);
                Ok(Op {
                    dst: dst.number(),
                    imm: FUNC_PTR_TAG | u64::from(target),
                    ..Op::new(K::Lddw)
                })
            }
            _ => translate(pc, insn, helpers),
        })
        .collect::<Result<Box<[Op]>, PrepareError>>()?;
    funcs.sort_unstable();
    funcs.dedup();
    Ok((ops, funcs.into_boxed_slice()))
}

/// What `prepare(insns, helpers, false)` accepts and refuses, with the same errors, without
/// building the ops (the JIT's preparation: it compiles from `insns` itself).
pub(crate) fn check(insns: &[Insn], helpers: &Helpers) -> Result<(), PrepareError> {
    validate(insns)?;
    for (pc, insn) in insns.iter().enumerate() {
        translate(pc, insn, helpers)?;
    }
    Ok(())
}

fn translate(pc: usize, insn: &Insn, helpers: &Helpers) -> Result<Op, PrepareError> {
    let unsupported = |what| PrepareError::Unsupported { pc, what };
    // Validation guarantees targets lie inside the program, which has at most
    // `MAX_INSNS` (10^6) slots, so they fit `i32`.
    let target = || -> Result<i32, PrepareError> {
        insn.jump_target(pc)
            .and_then(|t| i32::try_from(t).ok())
            .filter(|&t| t >= 0)
            .ok_or(unsupported("jump target out of range"))
    };
    let op = match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let kinds = alu_kinds(op);
            let sign_extending = matches!(op, AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32);
            let (kind, src, imm) = match (width, src) {
                (_, Operand::Imm(_)) if sign_extending => {
                    return Err(unsupported("sign-extending move from an immediate"));
                }
                (Width::W32, _) if op == AluOp::MovSx32 => {
                    return Err(unsupported("32-bit movsx32"));
                }
                (Width::W64, Operand::Imm(i)) => (kinds[0], 0, i as i64 as u64),
                (Width::W64, Operand::Reg(r)) => (kinds[1], r.number(), 0),
                (Width::W32, Operand::Imm(i)) => (kinds[2], 0, u64::from(i as u32)),
                (Width::W32, Operand::Reg(r)) => (kinds[3], r.number(), 0),
            };
            Op {
                dst: dst.number(),
                src,
                imm,
                ..Op::new(kind)
            }
        }
        Insn::Neg { width, dst } => Op {
            dst: dst.number(),
            ..Op::new(match width {
                Width::W64 => K::Neg64,
                Width::W32 => K::Neg32,
            })
        },
        Insn::Endian { order, bits, dst } => {
            let kind = match (order, bits) {
                (ByteOrder::ToLe, 16) => K::Le16,
                (ByteOrder::ToLe, 32) => K::Le32,
                (ByteOrder::ToLe, 64) => K::Le64,
                (ByteOrder::ToBe, 16) => K::Be16,
                (ByteOrder::ToBe, 32) => K::Be32,
                (ByteOrder::ToBe, 64) => K::Be64,
                (ByteOrder::Swap, 16) => K::Swap16,
                (ByteOrder::Swap, 32) => K::Swap32,
                (ByteOrder::Swap, 64) => K::Swap64,
                _ => return Err(unsupported("byte swap width other than 16, 32 or 64")),
            };
            Op {
                dst: dst.number(),
                ..Op::new(kind)
            }
        }
        Insn::Lddw { dst, kind, imm } => {
            if kind != LddwKind::Imm {
                return Err(PrepareError::UnrelocatedLddw { pc, kind });
            }
            Op {
                dst: dst.number(),
                imm,
                ..Op::new(K::Lddw)
            }
        }
        Insn::LddwHigh => Op::new(K::LddwHigh),
        Insn::Load {
            size,
            signed,
            dst,
            src,
            off,
        } => {
            let kind = match (size, signed) {
                (Size::B, false) => K::LdxB,
                (Size::H, false) => K::LdxH,
                (Size::W, false) => K::LdxW,
                (Size::DW, false) => K::LdxDw,
                (Size::B, true) => K::LdxsB,
                (Size::H, true) => K::LdxsH,
                (Size::W, true) => K::LdxsW,
                (Size::DW, true) => return Err(unsupported("sign-extending 64-bit load")),
            };
            Op {
                dst: dst.number(),
                src: src.number(),
                off: off.into(),
                ..Op::new(kind)
            }
        }
        Insn::Store {
            size,
            dst,
            off,
            src,
        } => {
            let (kind, src, imm) = match (size, src) {
                (Size::B, Operand::Imm(i)) => (K::StB, 0, i as i64 as u64),
                (Size::H, Operand::Imm(i)) => (K::StH, 0, i as i64 as u64),
                (Size::W, Operand::Imm(i)) => (K::StW, 0, i as i64 as u64),
                (Size::DW, Operand::Imm(i)) => (K::StDw, 0, i as i64 as u64),
                (Size::B, Operand::Reg(r)) => (K::StxB, r.number(), 0),
                (Size::H, Operand::Reg(r)) => (K::StxH, r.number(), 0),
                (Size::W, Operand::Reg(r)) => (K::StxW, r.number(), 0),
                (Size::DW, Operand::Reg(r)) => (K::StxDw, r.number(), 0),
            };
            Op {
                dst: dst.number(),
                src,
                off: off.into(),
                imm,
                ..Op::new(kind)
            }
        }
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            let kind = match size {
                Size::W => K::Atomic32,
                Size::DW => K::Atomic64,
                Size::B | Size::H => return Err(unsupported("8- or 16-bit atomic")),
            };
            Op {
                dst: dst.number(),
                src: src.number(),
                off: off.into(),
                imm: atomic_index(op),
                ..Op::new(kind)
            }
        }
        Insn::LoadPacket { size, mode, imm } => {
            if size == Size::DW {
                return Err(unsupported("64-bit packet load"));
            }
            let (kind, src) = match mode {
                PacketMode::Abs => (K::LdAbs, 0),
                PacketMode::Ind(r) => (K::LdInd, r.number()),
            };
            Op {
                dst: size.bytes() as u8,
                src,
                imm: i64::from(imm) as u64,
                ..Op::new(kind)
            }
        }
        Insn::Ja { .. } => Op {
            off: target()?,
            ..Op::new(K::Ja)
        },
        Insn::Jump {
            width,
            op,
            dst,
            src,
            ..
        } => {
            let kinds = jmp_kinds(op);
            let (kind, src, imm) = match (width, src) {
                (Width::W64, Operand::Imm(i)) => (kinds[0], 0, i as i64 as u64),
                (Width::W64, Operand::Reg(r)) => (kinds[1], r.number(), 0),
                (Width::W32, Operand::Imm(i)) => (kinds[2], 0, u64::from(i as u32)),
                (Width::W32, Operand::Reg(r)) => (kinds[3], r.number(), 0),
            };
            Op {
                dst: dst.number(),
                src,
                off: target()?,
                imm,
                ..Op::new(kind)
            }
        }
        Insn::Call(CallTarget::Helper(id)) => {
            let known = u32::try_from(id).ok().filter(|&i| helpers.contains(i));
            let Some(id) = known else {
                return Err(PrepareError::UnknownHelper { pc, id });
            };
            Op {
                imm: id.into(),
                ..Op::new(K::CallHelper)
            }
        }
        Insn::Call(CallTarget::Local(_)) => Op {
            off: target()?,
            ..Op::new(K::CallLocal)
        },
        Insn::Call(CallTarget::Kfunc { .. }) => return Err(unsupported("kfunc call")),
        Insn::Callx { reg } => Op {
            dst: reg.number(),
            ..Op::new(K::Callx)
        },
        Insn::Exit => Op::new(K::Exit),
        Insn::MayGoto { .. } => Op {
            off: target()?,
            ..Op::new(K::MayGoto)
        },
    };
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_is_16_bytes() {
        assert_eq!(size_of::<Op>(), 16);
        assert_eq!(size_of::<Kind>(), 1);
    }
}
