//! Typed BPF instructions and their exact 8-byte encoding.
//!
//! Decoding is strict, as in the Linux verifier: every field an instruction does not use must be
//! zero, so that each valid encoding maps to exactly one [`Insn`] and `encode(decode(b)) == b`.

use crate::opcode::{alu, atomic, call_src, class, jmp, mode, size, source};
use std::fmt;

/// One of the eleven BPF registers, `r0`..=`r10`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(u8);

impl Reg {
    /// Return value of helpers, functions and the program.
    pub const R0: Reg = Reg(0);
    /// First argument; the context on program entry.
    pub const R1: Reg = Reg(1);
    /// Second argument.
    pub const R2: Reg = Reg(2);
    /// Third argument.
    pub const R3: Reg = Reg(3);
    /// Fourth argument.
    pub const R4: Reg = Reg(4);
    /// Fifth argument.
    pub const R5: Reg = Reg(5);
    /// Callee-saved.
    pub const R6: Reg = Reg(6);
    /// Callee-saved.
    pub const R7: Reg = Reg(7);
    /// Callee-saved.
    pub const R8: Reg = Reg(8);
    /// Callee-saved.
    pub const R9: Reg = Reg(9);
    /// Read-only frame pointer.
    pub const R10: Reg = Reg(10);
    /// The frame pointer, `r10`.
    pub const FP: Reg = Reg(10);
    /// Number of registers.
    pub const COUNT: usize = 11;

    /// The register numbered `n`, if `n <= 10`.
    pub const fn new(n: u8) -> Option<Reg> {
        if n <= 10 { Some(Reg(n)) } else { None }
    }

    /// Its number, 0..=10.
    pub const fn number(self) -> u8 {
        self.0
    }

    /// Its number as an index into a register file.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Operand width of arithmetic (ALU vs ALU64) and jumps (JMP32 vs JMP).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Width {
    /// 32-bit: operands are the low halves; ALU results are zero-extended.
    W32,
    /// 64-bit.
    W64,
}

/// Source operand of arithmetic, jumps and stores.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Operand {
    /// A register.
    Reg(Reg),
    /// The 32-bit immediate, sign-extended to 64 bits where the operation is 64-bit.
    Imm(i32),
}

/// Binary arithmetic operations.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AluOp {
    /// `dst += src`
    Add,
    /// `dst -= src`
    Sub,
    /// `dst *= src`
    Mul,
    /// Unsigned `dst /= src`; division by zero gives 0.
    Div,
    /// Signed `dst /= src` (v4); division by zero gives 0.
    SDiv,
    /// `dst |= src`
    Or,
    /// `dst &= src`
    And,
    /// `dst <<= src` (shift amount masked to the width).
    Lsh,
    /// Logical `dst >>= src`.
    Rsh,
    /// Unsigned `dst %= src`; modulo by zero leaves `dst` unchanged.
    Mod,
    /// Signed `dst %= src` (v4); modulo by zero leaves `dst` unchanged.
    SMod,
    /// `dst ^= src`
    Xor,
    /// `dst = src`
    Mov,
    /// `dst = (s8)src` (v4, register source only).
    MovSx8,
    /// `dst = (s16)src` (v4, register source only).
    MovSx16,
    /// `dst = (s32)src` (v4, 64-bit only, register source only).
    MovSx32,
    /// Arithmetic `dst >>= src`.
    Arsh,
}

/// Conditional jump comparisons.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum JmpOp {
    /// `==`
    Jeq,
    /// unsigned `>`
    Jgt,
    /// unsigned `>=`
    Jge,
    /// `dst & src != 0`
    Jset,
    /// `!=`
    Jne,
    /// signed `>`
    Jsgt,
    /// signed `>=`
    Jsge,
    /// unsigned `<`
    Jlt,
    /// unsigned `<=`
    Jle,
    /// signed `<`
    Jslt,
    /// signed `<=`
    Jsle,
}

/// Access size of loads, stores and atomics.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Size {
    /// 1 byte.
    B,
    /// 2 bytes.
    H,
    /// 4 bytes.
    W,
    /// 8 bytes.
    DW,
}

impl Size {
    /// The number of bytes accessed.
    pub const fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    const fn bits(self) -> u8 {
        match self {
            Size::W => size::W,
            Size::H => size::H,
            Size::B => size::B,
            Size::DW => size::DW,
        }
    }

    const fn from_bits(code: u8) -> Size {
        match code & 0x18 {
            size::W => Size::W,
            size::H => Size::H,
            size::B => Size::B,
            _ => Size::DW,
        }
    }
}

/// Read-modify-write operations of atomic instructions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AtomicOp {
    /// `*addr += src`; with `fetch`, `src` receives the old value.
    Add {
        /// Whether the old value is returned in `src`.
        fetch: bool,
    },
    /// `*addr |= src`.
    Or {
        /// Whether the old value is returned in `src`.
        fetch: bool,
    },
    /// `*addr &= src`.
    And {
        /// Whether the old value is returned in `src`.
        fetch: bool,
    },
    /// `*addr ^= src`.
    Xor {
        /// Whether the old value is returned in `src`.
        fetch: bool,
    },
    /// `src = xchg(addr, src)`.
    Xchg,
    /// `r0 = cmpxchg(addr, r0, src)`.
    CmpXchg,
}

impl AtomicOp {
    /// Whether the instruction writes a register (the source, or r0 for cmpxchg).
    pub const fn fetches(self) -> bool {
        match self {
            AtomicOp::Add { fetch }
            | AtomicOp::Or { fetch }
            | AtomicOp::And { fetch }
            | AtomicOp::Xor { fetch } => fetch,
            AtomicOp::Xchg | AtomicOp::CmpXchg => true,
        }
    }

    fn to_imm(self) -> i32 {
        let f = |fetch: bool| if fetch { atomic::FETCH } else { 0 };
        match self {
            AtomicOp::Add { fetch } => atomic::ADD | f(fetch),
            AtomicOp::Or { fetch } => atomic::OR | f(fetch),
            AtomicOp::And { fetch } => atomic::AND | f(fetch),
            AtomicOp::Xor { fetch } => atomic::XOR | f(fetch),
            AtomicOp::Xchg => atomic::XCHG,
            AtomicOp::CmpXchg => atomic::CMPXCHG,
        }
    }

    fn from_imm(imm: i32) -> Option<AtomicOp> {
        let fetch = imm & atomic::FETCH != 0;
        Some(match imm & !atomic::FETCH {
            atomic::ADD => AtomicOp::Add { fetch },
            atomic::OR => AtomicOp::Or { fetch },
            atomic::AND => AtomicOp::And { fetch },
            atomic::XOR => AtomicOp::Xor { fetch },
            _ if imm == atomic::XCHG => AtomicOp::Xchg,
            _ if imm == atomic::CMPXCHG => AtomicOp::CmpXchg,
            _ => return None,
        })
    }
}

/// Byte-order conversions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ByteOrder {
    /// Convert to little-endian (`le16/32/64`): on a little-endian host only truncates.
    ToLe,
    /// Convert to big-endian (`be16/32/64`).
    ToBe,
    /// Unconditional byte swap (`swap16/32/64`, v4).
    Swap,
}

/// Legacy packet-load addressing (`BPF_ABS`, `BPF_IND`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PacketMode {
    /// Offset is `imm`.
    Abs,
    /// Offset is `src + imm`.
    Ind(Reg),
}

/// What the 64-bit immediate of `lddw` means (the `src` field, BPF_PSEUDO_*).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LddwKind {
    /// `src = 0`: a plain 64-bit constant.
    Imm,
    /// `src = 1` (BPF_PSEUDO_MAP_FD): the map whose handle is `imm`.
    MapFd,
    /// `src = 2` (BPF_PSEUDO_MAP_VALUE): address of the value of map `imm` plus `next_imm`.
    MapValue,
    /// `src = 3` (BPF_PSEUDO_BTF_ID): address of the kernel variable with BTF id `imm`.
    BtfId,
    /// `src = 4` (BPF_PSEUDO_FUNC): address of the BPF function at pc-relative offset `imm`.
    Func,
    /// `src = 5` (BPF_PSEUDO_MAP_IDX): the map at index `imm` of the program's map table.
    MapIdx,
    /// `src = 6` (BPF_PSEUDO_MAP_IDX_VALUE): value address of map index `imm` plus `next_imm`.
    MapIdxValue,
}

impl LddwKind {
    /// The encoded `src` field.
    pub const fn src(self) -> u8 {
        match self {
            LddwKind::Imm => 0,
            LddwKind::MapFd => 1,
            LddwKind::MapValue => 2,
            LddwKind::BtfId => 3,
            LddwKind::Func => 4,
            LddwKind::MapIdx => 5,
            LddwKind::MapIdxValue => 6,
        }
    }

    /// The kind encoded as `src`, if any.
    pub const fn from_src(src: u8) -> Option<LddwKind> {
        Some(match src {
            0 => LddwKind::Imm,
            1 => LddwKind::MapFd,
            2 => LddwKind::MapValue,
            3 => LddwKind::BtfId,
            4 => LddwKind::Func,
            5 => LddwKind::MapIdx,
            6 => LddwKind::MapIdxValue,
            _ => return None,
        })
    }
}

/// Target of a `call` instruction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CallTarget {
    /// A helper function by its static id (`src = 0`).
    Helper(i32),
    /// A BPF function at pc-relative offset `imm` from the next instruction (`src = 1`).
    Local(i32),
    /// A kernel function by BTF id (`src = 2`); `module` is the index of its BTF (the `off` field).
    Kfunc {
        /// BTF id of the function.
        btf_id: i32,
        /// Index into the fd array of module BTFs; 0 for vmlinux.
        module: i16,
    },
}

/// One decoded BPF instruction slot.
///
/// A program is a slice of slots; jump offsets count slots. The 16-byte `lddw` occupies two:
/// [`Insn::Lddw`] followed by [`Insn::LddwHigh`], which carries nothing of its own.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Insn {
    /// Binary arithmetic: `dst = dst op src`.
    Alu {
        /// 32- or 64-bit.
        width: Width,
        /// The operation.
        op: AluOp,
        /// Destination (and first operand).
        dst: Reg,
        /// Second operand.
        src: Operand,
    },
    /// `dst = -dst`.
    Neg {
        /// 32- or 64-bit.
        width: Width,
        /// The register negated.
        dst: Reg,
    },
    /// Byte-order conversion of the low `bits` of `dst` (16, 32 or 64), zero-extended.
    Endian {
        /// Conversion kind.
        order: ByteOrder,
        /// 16, 32 or 64.
        bits: u8,
        /// The register converted.
        dst: Reg,
    },
    /// First slot of the 16-byte load of a 64-bit immediate.
    Lddw {
        /// Destination register.
        dst: Reg,
        /// What the immediate means.
        kind: LddwKind,
        /// `imm` (low 32 bits) and `next_imm` (high 32 bits).
        imm: u64,
    },
    /// Second slot of `lddw`; executing it directly is an error.
    LddwHigh,
    /// `dst = *(size *)(src + off)`, sign-extended when `signed` (v4 `ldxs*`).
    Load {
        /// Access size.
        size: Size,
        /// Whether the loaded value is sign-extended (`BPF_MEMSX`).
        signed: bool,
        /// Destination register.
        dst: Reg,
        /// Base address register.
        src: Reg,
        /// Signed byte offset.
        off: i16,
    },
    /// `*(size *)(dst + off) = src`.
    Store {
        /// Access size.
        size: Size,
        /// Base address register.
        dst: Reg,
        /// Signed byte offset.
        off: i16,
        /// Value stored: a register (`stx`) or the immediate (`st`).
        src: Operand,
    },
    /// Atomic read-modify-write of `*(size *)(dst + off)` with `src`.
    Atomic {
        /// `W` or `DW`.
        size: Size,
        /// The operation.
        op: AtomicOp,
        /// Base address register.
        dst: Reg,
        /// Operand register (receives the old value when fetching).
        src: Reg,
        /// Signed byte offset.
        off: i16,
    },
    /// Legacy packet load into r0 (`ldabs*`/`ldind*`), socket filters only.
    LoadPacket {
        /// `B`, `H` or `W`.
        size: Size,
        /// Absolute or register-indirect.
        mode: PacketMode,
        /// Offset added to the address.
        imm: i32,
    },
    /// Unconditional jump: `ja` (16-bit `off`) or, when `long`, `gotol`/`ja32` (32-bit `imm`).
    Ja {
        /// Offset in slots from the next instruction.
        off: i32,
        /// Whether it is the JMP32-class form with the offset in `imm`.
        long: bool,
    },
    /// Conditional jump: `if dst op src goto +off`.
    Jump {
        /// 32- or 64-bit comparison.
        width: Width,
        /// The comparison.
        op: JmpOp,
        /// First operand.
        dst: Reg,
        /// Second operand.
        src: Operand,
        /// Offset in slots from the next instruction.
        off: i16,
    },
    /// Call a helper, a BPF function or a kernel function.
    Call(CallTarget),
    /// Indirect call (`callx`): the target is held in `reg`.
    Callx {
        /// Register holding the target.
        reg: Reg,
    },
    /// Return r0 to the caller.
    Exit,
    /// Linux `may_goto`: jump by `off` once the loop budget is exhausted, else fall through.
    MayGoto {
        /// Offset in slots from the next instruction.
        off: i16,
    },
}

/// The raw 8-byte instruction format, fields as in `struct bpf_insn`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct RawInsn {
    /// Opcode byte.
    pub code: u8,
    /// Destination register (low nibble of byte 1).
    pub dst: u8,
    /// Source register (high nibble of byte 1).
    pub src: u8,
    /// Signed offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl RawInsn {
    /// Size of one instruction slot in bytes.
    pub const SIZE: usize = 8;

    /// Parse 8 little-endian bytes.
    pub fn from_bytes(b: [u8; 8]) -> RawInsn {
        RawInsn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Serialize to 8 little-endian bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.code,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// The raw instruction as one little-endian u64, as the conformance suite writes `-- raw`.
    pub fn to_u64(self) -> u64 {
        u64::from_le_bytes(self.to_bytes())
    }
}

/// Why an instruction slot could not be decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DecodeError {
    /// No instruction has this opcode.
    #[error("unknown opcode {code:#04x}")]
    UnknownOpcode {
        /// The opcode byte.
        code: u8,
    },
    /// A register field names a register above r10.
    #[error("invalid register r{reg} in opcode {code:#04x}")]
    BadRegister {
        /// The opcode byte.
        code: u8,
        /// The register number found.
        reg: u8,
    },
    /// A field the instruction does not use is not zero.
    #[error("opcode {code:#04x} uses reserved field {field} (value {value}, must be {expected})")]
    ReservedField {
        /// The opcode byte.
        code: u8,
        /// `dst`, `src`, `off` or `imm`.
        field: &'static str,
        /// The value found.
        value: i64,
        /// What it must be.
        expected: &'static str,
    },
    /// A byte swap width other than 16, 32 or 64.
    #[error("invalid byte swap width {imm} (must be 16, 32 or 64)")]
    BadSwapWidth {
        /// The `imm` found.
        imm: i32,
    },
    /// An `lddw` whose second slot is missing.
    #[error("lddw is truncated: its second slot is missing")]
    TruncatedLddw,
    /// The input is not a whole number of 8-byte slots.
    #[error("program length {len} is not a multiple of 8 bytes")]
    PartialSlot {
        /// Length in bytes.
        len: usize,
    },
}

fn reg(code: u8, n: u8) -> Result<Reg, DecodeError> {
    Reg::new(n).ok_or(DecodeError::BadRegister { code, reg: n })
}

fn zero(code: u8, field: &'static str, value: i64) -> Result<(), DecodeError> {
    if value == 0 {
        Ok(())
    } else {
        Err(DecodeError::ReservedField {
            code,
            field,
            value,
            expected: "0",
        })
    }
}

fn width_of(class_bits: u8, w32: u8) -> Width {
    if class_bits == w32 {
        Width::W32
    } else {
        Width::W64
    }
}

impl Insn {
    /// Decode one slot. An `lddw` needs its second slot, `next`; other instructions ignore it.
    ///
    /// Returns the instruction; for `lddw` the caller must place [`Insn::LddwHigh`] in the
    /// following slot (see [`decode`]).
    pub fn decode(raw: RawInsn, next: Option<RawInsn>) -> Result<Insn, DecodeError> {
        let code = raw.code;
        match code & 0x07 {
            c @ (class::ALU | class::ALU64) => decode_alu(raw, width_of(c, class::ALU)),
            c @ (class::JMP | class::JMP32) => decode_jmp(raw, width_of(c, class::JMP32)),
            class::LDX => {
                let signed = match code & 0xe0 {
                    mode::MEM => false,
                    mode::MEMSX if code & 0x18 != size::DW => true,
                    _ => return Err(DecodeError::UnknownOpcode { code }),
                };
                zero(code, "imm", raw.imm.into())?;
                Ok(Insn::Load {
                    size: Size::from_bits(code),
                    signed,
                    dst: reg(code, raw.dst)?,
                    src: reg(code, raw.src)?,
                    off: raw.off,
                })
            }
            class::ST => {
                if code & 0xe0 != mode::MEM {
                    return Err(DecodeError::UnknownOpcode { code });
                }
                zero(code, "src", raw.src.into())?;
                Ok(Insn::Store {
                    size: Size::from_bits(code),
                    dst: reg(code, raw.dst)?,
                    off: raw.off,
                    src: Operand::Imm(raw.imm),
                })
            }
            class::STX => match code & 0xe0 {
                mode::MEM => {
                    zero(code, "imm", raw.imm.into())?;
                    Ok(Insn::Store {
                        size: Size::from_bits(code),
                        dst: reg(code, raw.dst)?,
                        off: raw.off,
                        src: Operand::Reg(reg(code, raw.src)?),
                    })
                }
                mode::ATOMIC => {
                    let size = Size::from_bits(code);
                    if !matches!(size, Size::W | Size::DW) {
                        return Err(DecodeError::UnknownOpcode { code });
                    }
                    let op = AtomicOp::from_imm(raw.imm).ok_or(DecodeError::ReservedField {
                        code,
                        field: "imm",
                        value: raw.imm.into(),
                        expected: "an atomic operation",
                    })?;
                    Ok(Insn::Atomic {
                        size,
                        op,
                        dst: reg(code, raw.dst)?,
                        src: reg(code, raw.src)?,
                        off: raw.off,
                    })
                }
                _ => Err(DecodeError::UnknownOpcode { code }),
            },
            _ => decode_ld(raw, next),
        }
    }

    /// Encode this slot. [`Insn::Lddw`] yields its first slot only (see [`Insn::lddw_high`]);
    /// [`Insn::LddwHigh`] yields nothing, as its bits belong to the preceding `lddw`.
    pub fn encode(&self) -> Option<RawInsn> {
        let mut r = RawInsn::default();
        match *self {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let (opbits, off) = match op {
                    AluOp::Add => (alu::ADD, 0),
                    AluOp::Sub => (alu::SUB, 0),
                    AluOp::Mul => (alu::MUL, 0),
                    AluOp::Div => (alu::DIV, 0),
                    AluOp::SDiv => (alu::DIV, 1),
                    AluOp::Or => (alu::OR, 0),
                    AluOp::And => (alu::AND, 0),
                    AluOp::Lsh => (alu::LSH, 0),
                    AluOp::Rsh => (alu::RSH, 0),
                    AluOp::Mod => (alu::MOD, 0),
                    AluOp::SMod => (alu::MOD, 1),
                    AluOp::Xor => (alu::XOR, 0),
                    AluOp::Mov => (alu::MOV, 0),
                    AluOp::MovSx8 => (alu::MOV, 8),
                    AluOp::MovSx16 => (alu::MOV, 16),
                    AluOp::MovSx32 => (alu::MOV, 32),
                    AluOp::Arsh => (alu::ARSH, 0),
                };
                r.code = alu_class(width) | opbits;
                r.dst = dst.0;
                r.off = off;
                set_operand(&mut r, src);
            }
            Insn::Neg { width, dst } => {
                r.code = alu_class(width) | alu::NEG;
                r.dst = dst.0;
            }
            Insn::Endian { order, bits, dst } => {
                r.code = match order {
                    ByteOrder::ToLe => class::ALU | alu::END | source::K,
                    ByteOrder::ToBe => class::ALU | alu::END | source::X,
                    ByteOrder::Swap => class::ALU64 | alu::END | source::K,
                };
                r.dst = dst.0;
                r.imm = bits.into();
            }
            Insn::Lddw { dst, kind, imm } => {
                r.code = crate::opcode::LDDW;
                r.dst = dst.0;
                r.src = kind.src();
                r.imm = imm as u32 as i32;
            }
            Insn::LddwHigh => return None,
            Insn::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => {
                let m = if signed { mode::MEMSX } else { mode::MEM };
                r.code = class::LDX | m | size.bits();
                r.dst = dst.0;
                r.src = src.0;
                r.off = off;
            }
            Insn::Store {
                size,
                dst,
                off,
                src,
            } => {
                r.dst = dst.0;
                r.off = off;
                match src {
                    Operand::Reg(s) => {
                        r.code = class::STX | mode::MEM | size.bits();
                        r.src = s.0;
                    }
                    Operand::Imm(i) => {
                        r.code = class::ST | mode::MEM | size.bits();
                        r.imm = i;
                    }
                }
            }
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => {
                r.code = class::STX | mode::ATOMIC | size.bits();
                r.dst = dst.0;
                r.src = src.0;
                r.off = off;
                r.imm = op.to_imm();
            }
            Insn::LoadPacket { size, mode: m, imm } => {
                r.imm = imm;
                r.code = class::LD | size.bits();
                match m {
                    PacketMode::Abs => r.code |= mode::ABS,
                    PacketMode::Ind(s) => {
                        r.code |= mode::IND;
                        r.src = s.0;
                    }
                }
            }
            Insn::Ja { off, long } => {
                if long {
                    r.code = class::JMP32 | jmp::JA;
                    r.imm = off;
                } else {
                    r.code = class::JMP | jmp::JA;
                    r.off = off as i16;
                }
            }
            Insn::Jump {
                width,
                op,
                dst,
                src,
                off,
            } => {
                let opbits = match op {
                    JmpOp::Jeq => jmp::JEQ,
                    JmpOp::Jgt => jmp::JGT,
                    JmpOp::Jge => jmp::JGE,
                    JmpOp::Jset => jmp::JSET,
                    JmpOp::Jne => jmp::JNE,
                    JmpOp::Jsgt => jmp::JSGT,
                    JmpOp::Jsge => jmp::JSGE,
                    JmpOp::Jlt => jmp::JLT,
                    JmpOp::Jle => jmp::JLE,
                    JmpOp::Jslt => jmp::JSLT,
                    JmpOp::Jsle => jmp::JSLE,
                };
                r.code = opbits
                    | if width == Width::W32 {
                        class::JMP32
                    } else {
                        class::JMP
                    };
                r.dst = dst.0;
                r.off = off;
                set_operand(&mut r, src);
            }
            Insn::Call(target) => {
                r.code = class::JMP | jmp::CALL;
                match target {
                    CallTarget::Helper(id) => r.imm = id,
                    CallTarget::Local(off) => {
                        r.src = call_src::LOCAL;
                        r.imm = off;
                    }
                    CallTarget::Kfunc { btf_id, module } => {
                        r.src = call_src::KFUNC;
                        r.imm = btf_id;
                        r.off = module;
                    }
                }
            }
            Insn::Callx { reg } => {
                r.code = class::JMP | jmp::CALL | source::X;
                r.dst = reg.0;
            }
            Insn::Exit => r.code = class::JMP | jmp::EXIT,
            Insn::MayGoto { off } => {
                r.code = class::JMP | jmp::JCOND;
                r.off = off;
            }
        }
        Some(r)
    }

    /// The second slot of an `lddw`: `next_imm` in `imm`, every other field zero.
    pub fn lddw_high(imm: u64) -> RawInsn {
        RawInsn {
            imm: (imm >> 32) as u32 as i32,
            ..RawInsn::default()
        }
    }

    /// The register this instruction writes, if any (r10 must never be one).
    pub fn written_reg(&self) -> Option<Reg> {
        match *self {
            Insn::Alu { dst, .. }
            | Insn::Neg { dst, .. }
            | Insn::Endian { dst, .. }
            | Insn::Lddw { dst, .. }
            | Insn::Load { dst, .. } => Some(dst),
            Insn::Atomic {
                op: AtomicOp::CmpXchg,
                ..
            } => Some(Reg::R0),
            Insn::Atomic { op, src, .. } if op.fetches() => Some(src),
            Insn::LoadPacket { .. } | Insn::Call(_) | Insn::Callx { .. } => Some(Reg::R0),
            _ => None,
        }
    }

    /// For a jump, the slot index it may transfer control to from slot `pc`.
    ///
    /// Local calls and `may_goto` count; `exit` and helper calls have no target.
    pub fn jump_target(&self, pc: usize) -> Option<i64> {
        let off: i64 = match *self {
            Insn::Ja { off, .. } => off.into(),
            Insn::Jump { off, .. } | Insn::MayGoto { off } => off.into(),
            Insn::Call(CallTarget::Local(off)) => off.into(),
            _ => return None,
        };
        Some(pc as i64 + 1 + off)
    }
}

fn alu_class(width: Width) -> u8 {
    match width {
        Width::W32 => class::ALU,
        Width::W64 => class::ALU64,
    }
}

fn set_operand(r: &mut RawInsn, src: Operand) {
    match src {
        Operand::Reg(s) => {
            r.code |= source::X;
            r.src = s.0;
        }
        Operand::Imm(i) => r.imm = i,
    }
}

/// Read the source operand, requiring the unused one of `src`/`imm` to be zero.
fn operand(raw: RawInsn) -> Result<Operand, DecodeError> {
    if raw.code & source::X != 0 {
        zero(raw.code, "imm", raw.imm.into())?;
        Ok(Operand::Reg(reg(raw.code, raw.src)?))
    } else {
        zero(raw.code, "src", raw.src.into())?;
        Ok(Operand::Imm(raw.imm))
    }
}

fn decode_alu(raw: RawInsn, width: Width) -> Result<Insn, DecodeError> {
    let code = raw.code;
    let dst = reg(code, raw.dst)?;
    let op = code & 0xf0;
    let bad_off = |expected| DecodeError::ReservedField {
        code,
        field: "off",
        value: raw.off.into(),
        expected,
    };
    let op = match op {
        alu::NEG => {
            if code & source::X != 0 {
                return Err(DecodeError::UnknownOpcode { code });
            }
            zero(code, "src", raw.src.into())?;
            zero(code, "imm", raw.imm.into())?;
            zero(code, "off", raw.off.into())?;
            return Ok(Insn::Neg { width, dst });
        }
        alu::END => {
            let order = match (width, code & source::X != 0) {
                (Width::W32, false) => ByteOrder::ToLe,
                (Width::W32, true) => ByteOrder::ToBe,
                (Width::W64, false) => ByteOrder::Swap,
                (Width::W64, true) => return Err(DecodeError::UnknownOpcode { code }),
            };
            zero(code, "src", raw.src.into())?;
            zero(code, "off", raw.off.into())?;
            if !matches!(raw.imm, 16 | 32 | 64) {
                return Err(DecodeError::BadSwapWidth { imm: raw.imm });
            }
            return Ok(Insn::Endian {
                order,
                bits: raw.imm as u8,
                dst,
            });
        }
        alu::DIV | alu::MOD => match (op, raw.off) {
            (alu::DIV, 0) => AluOp::Div,
            (alu::DIV, 1) => AluOp::SDiv,
            (_, 0) => AluOp::Mod,
            (_, 1) => AluOp::SMod,
            _ => return Err(bad_off("0 or 1")),
        },
        alu::MOV => match (raw.off, code & source::X != 0, width) {
            (0, _, _) => AluOp::Mov,
            (8, true, _) => AluOp::MovSx8,
            (16, true, _) => AluOp::MovSx16,
            (32, true, Width::W64) => AluOp::MovSx32,
            _ => {
                return Err(bad_off(
                    "0, 8, 16 (or 32 for 64-bit) with a register source",
                ));
            }
        },
        _ => {
            zero(code, "off", raw.off.into())?;
            match op {
                alu::ADD => AluOp::Add,
                alu::SUB => AluOp::Sub,
                alu::MUL => AluOp::Mul,
                alu::OR => AluOp::Or,
                alu::AND => AluOp::And,
                alu::LSH => AluOp::Lsh,
                alu::RSH => AluOp::Rsh,
                alu::XOR => AluOp::Xor,
                alu::ARSH => AluOp::Arsh,
                _ => return Err(DecodeError::UnknownOpcode { code }),
            }
        }
    };
    Ok(Insn::Alu {
        width,
        op,
        dst,
        src: operand(raw)?,
    })
}

fn decode_jmp(raw: RawInsn, width: Width) -> Result<Insn, DecodeError> {
    let code = raw.code;
    let x = code & source::X != 0;
    let op = match code & 0xf0 {
        jmp::JA => {
            if x {
                return Err(DecodeError::UnknownOpcode { code });
            }
            zero(code, "dst", raw.dst.into())?;
            zero(code, "src", raw.src.into())?;
            return Ok(match width {
                Width::W64 => {
                    zero(code, "imm", raw.imm.into())?;
                    Insn::Ja {
                        off: raw.off.into(),
                        long: false,
                    }
                }
                Width::W32 => {
                    zero(code, "off", raw.off.into())?;
                    Insn::Ja {
                        off: raw.imm,
                        long: true,
                    }
                }
            });
        }
        jmp::CALL if width == Width::W64 => {
            return if x {
                zero(code, "src", raw.src.into())?;
                zero(code, "off", raw.off.into())?;
                zero(code, "imm", raw.imm.into())?;
                Ok(Insn::Callx {
                    reg: reg(code, raw.dst)?,
                })
            } else {
                zero(code, "dst", raw.dst.into())?;
                let target = match raw.src {
                    call_src::HELPER => CallTarget::Helper(raw.imm),
                    call_src::LOCAL => CallTarget::Local(raw.imm),
                    call_src::KFUNC => {
                        return Ok(Insn::Call(CallTarget::Kfunc {
                            btf_id: raw.imm,
                            module: raw.off,
                        }));
                    }
                    v => {
                        return Err(DecodeError::ReservedField {
                            code,
                            field: "src",
                            value: v.into(),
                            expected: "0 (helper), 1 (local) or 2 (kfunc)",
                        });
                    }
                };
                zero(code, "off", raw.off.into())?;
                Ok(Insn::Call(target))
            };
        }
        jmp::EXIT if width == Width::W64 && !x => {
            zero(code, "dst", raw.dst.into())?;
            zero(code, "src", raw.src.into())?;
            zero(code, "off", raw.off.into())?;
            zero(code, "imm", raw.imm.into())?;
            return Ok(Insn::Exit);
        }
        jmp::JCOND if width == Width::W64 && !x => {
            zero(code, "dst", raw.dst.into())?;
            zero(code, "src", raw.src.into())?;
            zero(code, "imm", raw.imm.into())?;
            return Ok(Insn::MayGoto { off: raw.off });
        }
        jmp::JEQ => JmpOp::Jeq,
        jmp::JGT => JmpOp::Jgt,
        jmp::JGE => JmpOp::Jge,
        jmp::JSET => JmpOp::Jset,
        jmp::JNE => JmpOp::Jne,
        jmp::JSGT => JmpOp::Jsgt,
        jmp::JSGE => JmpOp::Jsge,
        jmp::JLT => JmpOp::Jlt,
        jmp::JLE => JmpOp::Jle,
        jmp::JSLT => JmpOp::Jslt,
        jmp::JSLE => JmpOp::Jsle,
        _ => return Err(DecodeError::UnknownOpcode { code }),
    };
    Ok(Insn::Jump {
        width,
        op,
        dst: reg(code, raw.dst)?,
        src: operand(raw)?,
        off: raw.off,
    })
}

fn decode_ld(raw: RawInsn, next: Option<RawInsn>) -> Result<Insn, DecodeError> {
    let code = raw.code;
    let size = Size::from_bits(code);
    match code & 0xe0 {
        mode::IMM if size == Size::DW => {
            let kind = LddwKind::from_src(raw.src).ok_or(DecodeError::ReservedField {
                code,
                field: "src",
                value: raw.src.into(),
                expected: "0..=6 (BPF_PSEUDO_*)",
            })?;
            zero(code, "off", raw.off.into())?;
            let dst = reg(code, raw.dst)?;
            let hi = next.ok_or(DecodeError::TruncatedLddw)?;
            // The second slot's opcode, registers and offset are reserved.
            zero(code, "second slot code", hi.code.into())?;
            zero(code, "second slot dst", hi.dst.into())?;
            zero(code, "second slot src", hi.src.into())?;
            zero(code, "second slot off", hi.off.into())?;
            let imm = u64::from(raw.imm as u32) | (u64::from(hi.imm as u32) << 32);
            Ok(Insn::Lddw { dst, kind, imm })
        }
        m @ (mode::ABS | mode::IND) if size != Size::DW => {
            zero(code, "dst", raw.dst.into())?;
            zero(code, "off", raw.off.into())?;
            let mode = if m == mode::ABS {
                zero(code, "src", raw.src.into())?;
                PacketMode::Abs
            } else {
                PacketMode::Ind(reg(code, raw.src)?)
            };
            Ok(Insn::LoadPacket {
                size,
                mode,
                imm: raw.imm,
            })
        }
        _ => Err(DecodeError::UnknownOpcode { code }),
    }
}

/// A decode error at a slot index.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("insn {pc}: {error}")]
pub struct SlotError {
    /// The slot index.
    pub pc: usize,
    /// What is wrong.
    pub error: DecodeError,
}

/// Decode little-endian bytecode into slots (`lddw` followed by [`Insn::LddwHigh`]).
///
/// This checks each instruction on its own; [`crate::validate`] checks the program as a whole.
pub fn decode(bytes: &[u8]) -> Result<Vec<Insn>, SlotError> {
    if !bytes.len().is_multiple_of(RawInsn::SIZE) {
        return Err(SlotError {
            pc: bytes.len() / 8,
            error: DecodeError::PartialSlot { len: bytes.len() },
        });
    }
    let raws: Vec<RawInsn> = bytes
        .chunks_exact(RawInsn::SIZE)
        .map(|c| RawInsn::from_bytes(c.try_into().expect("chunks_exact yields 8 bytes")))
        .collect();
    decode_raw(&raws)
}

/// Decode raw slots; see [`decode`].
pub fn decode_raw(raws: &[RawInsn]) -> Result<Vec<Insn>, SlotError> {
    let mut out = Vec::with_capacity(raws.len());
    let mut pc = 0;
    while pc < raws.len() {
        let insn = Insn::decode(raws[pc], raws.get(pc + 1).copied())
            .map_err(|error| SlotError { pc, error })?;
        out.push(insn);
        if let Insn::Lddw { .. } = insn {
            out.push(Insn::LddwHigh);
            pc += 1;
        }
        pc += 1;
    }
    Ok(out)
}

/// Encode slots into raw instructions. An `lddw` must be followed by [`Insn::LddwHigh`]
/// (as [`decode`] produces); a stray [`Insn::LddwHigh`] encodes nothing.
pub fn encode_raw(insns: &[Insn]) -> Vec<RawInsn> {
    let mut out = Vec::with_capacity(insns.len());
    for insn in insns {
        if let Some(r) = insn.encode() {
            out.push(r);
        }
        if let Insn::Lddw { imm, .. } = *insn {
            out.push(Insn::lddw_high(imm));
        }
    }
    out
}

/// Encode slots into little-endian bytecode.
pub fn encode(insns: &[Insn]) -> Vec<u8> {
    encode_raw(insns)
        .into_iter()
        .flat_map(RawInsn::to_bytes)
        .collect()
}
