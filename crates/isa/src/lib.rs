//! The BPF instruction set as RFC 9669 defines it (v1–v4), with the Linux extensions a loader
//! meets in practice (`lddw` pseudo sources, kfunc calls, `may_goto`).
//!
//! - [`Insn`]: one typed instruction slot; [`decode`]/[`encode`] convert to and from the exact
//!   8-byte little-endian format, refusing any non-zero reserved field.
//! - [`validate`]: structural checks on a whole program (jumps, `lddw` pairs, r10 writes,
//!   fall-through).
//! - [`asm`]: the text syntax of the BPF conformance suite; [`disasm`]: that syntax back, or
//!   LLVM's (`llvm-objdump -d`) syntax.

pub mod asm;
pub mod disasm;
pub mod opcode;

mod insn;
mod semantics;
mod validate;

pub use asm::{AsmError, assemble, assemble_bytes};
pub use disasm::{Syntax, disassemble, format_insn};
pub use insn::{
    AluOp, AtomicOp, ByteOrder, CallTarget, DecodeError, Insn, JmpOp, LddwKind, Operand,
    PacketMode, RawInsn, Reg, Size, SlotError, Width, decode, decode_raw, encode, encode_raw,
};
pub use validate::{MAX_INSNS, ValidationError, decode_and_validate, is_local_call, validate};
