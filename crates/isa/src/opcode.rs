//! Raw opcode fields of the 8-bit `code` byte, named as in RFC 9669 and `linux/bpf_common.h`.
//!
//! The typed [`Insn`](crate::Insn) is the representation the rest of Waggle works with; these
//! constants exist for encoding, decoding, and for the few places (tests, fuzzers) that build
//! raw bytes by hand.

/// Instruction class: the low three bits of `code`.
pub mod class {
    /// Non-standard load operations (`lddw`, legacy packet loads).
    pub const LD: u8 = 0x00;
    /// Load into register.
    pub const LDX: u8 = 0x01;
    /// Store from immediate.
    pub const ST: u8 = 0x02;
    /// Store from register (and atomics).
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps, calls and exit.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps.
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;
}

/// Source bit of arithmetic and jump instructions.
pub mod source {
    /// Use the 32-bit immediate as the source operand.
    pub const K: u8 = 0x00;
    /// Use the source register as the source operand.
    pub const X: u8 = 0x08;
}

/// Arithmetic operation: the high four bits of `code` for ALU/ALU64.
pub mod alu {
    #![allow(missing_docs)]
    pub const ADD: u8 = 0x00;
    pub const SUB: u8 = 0x10;
    pub const MUL: u8 = 0x20;
    pub const DIV: u8 = 0x30;
    pub const OR: u8 = 0x40;
    pub const AND: u8 = 0x50;
    pub const LSH: u8 = 0x60;
    pub const RSH: u8 = 0x70;
    pub const NEG: u8 = 0x80;
    pub const MOD: u8 = 0x90;
    pub const XOR: u8 = 0xa0;
    pub const MOV: u8 = 0xb0;
    pub const ARSH: u8 = 0xc0;
    pub const END: u8 = 0xd0;
}

/// Jump operation: the high four bits of `code` for JMP/JMP32.
pub mod jmp {
    #![allow(missing_docs)]
    pub const JA: u8 = 0x00;
    pub const JEQ: u8 = 0x10;
    pub const JGT: u8 = 0x20;
    pub const JGE: u8 = 0x30;
    pub const JSET: u8 = 0x40;
    pub const JNE: u8 = 0x50;
    pub const JSGT: u8 = 0x60;
    pub const JSGE: u8 = 0x70;
    pub const CALL: u8 = 0x80;
    pub const EXIT: u8 = 0x90;
    pub const JLT: u8 = 0xa0;
    pub const JLE: u8 = 0xb0;
    pub const JSLT: u8 = 0xc0;
    pub const JSLE: u8 = 0xd0;
    /// Conditional pseudo-jump (`may_goto`), Linux extension.
    pub const JCOND: u8 = 0xe0;
}

/// Access size of load and store instructions (bits 3–4 of `code`).
pub mod size {
    #![allow(missing_docs)]
    pub const W: u8 = 0x00;
    pub const H: u8 = 0x08;
    pub const B: u8 = 0x10;
    pub const DW: u8 = 0x18;
}

/// Mode of load and store instructions (bits 5–7 of `code`).
pub mod mode {
    #![allow(missing_docs)]
    pub const IMM: u8 = 0x00;
    pub const ABS: u8 = 0x20;
    pub const IND: u8 = 0x40;
    pub const MEM: u8 = 0x60;
    pub const MEMSX: u8 = 0x80;
    pub const ATOMIC: u8 = 0xc0;
}

/// `imm` values of atomic instructions.
pub mod atomic {
    #![allow(missing_docs)]
    pub const ADD: i32 = 0x00;
    pub const OR: i32 = 0x40;
    pub const AND: i32 = 0x50;
    pub const XOR: i32 = 0xa0;
    /// Flag: the old value is returned in the source register.
    pub const FETCH: i32 = 0x01;
    pub const XCHG: i32 = 0xe0 | FETCH;
    pub const CMPXCHG: i32 = 0xf0 | FETCH;
}

/// `src` values of `call` (BPF_PSEUDO_*).
pub mod call_src {
    /// `imm` is a helper id.
    pub const HELPER: u8 = 0;
    /// `imm` is a pc-relative offset to a BPF function.
    pub const LOCAL: u8 = 1;
    /// `imm` is the BTF id of a kernel function.
    pub const KFUNC: u8 = 2;
}

/// The `lddw` opcode (`LD | IMM | DW`).
pub const LDDW: u8 = class::LD | mode::IMM | size::DW;
