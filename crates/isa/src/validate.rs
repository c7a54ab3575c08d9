//! Structural validation of a whole program: what can be checked without tracking values.
//!
//! This is what `waggle exec` relies on for unverified code, and the first pass of the verifier.

use crate::insn::{CallTarget, Insn, Reg, SlotError, decode};

/// Most slots a program may have (the kernel's `BPF_COMPLEXITY_LIMIT_INSNS` for privileged loads).
pub const MAX_INSNS: usize = 1_000_000;

/// Why a program is structurally invalid.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ValidationError {
    /// The program has no instructions.
    #[error("program is empty")]
    Empty,
    /// The program has more than [`MAX_INSNS`] slots.
    #[error("program has {len} instructions, more than the limit of {MAX_INSNS}")]
    TooLong {
        /// Number of slots.
        len: usize,
    },
    /// An instruction could not be decoded.
    #[error(transparent)]
    Decode(#[from] SlotError),
    /// An instruction writes the read-only frame pointer.
    #[error("insn {pc}: writes to the read-only frame pointer r10")]
    WriteToR10 {
        /// The slot index.
        pc: usize,
    },
    /// A jump or call leaves the program.
    #[error("insn {pc}: jump target {target} is outside the program (0..{len})")]
    JumpOutOfRange {
        /// The slot index.
        pc: usize,
        /// The target slot it names.
        target: i64,
        /// Number of slots.
        len: usize,
    },
    /// A jump or call lands on the second slot of an `lddw`.
    #[error("insn {pc}: jump target {target} is the second half of an lddw")]
    JumpIntoLddw {
        /// The slot index.
        pc: usize,
        /// The target slot.
        target: usize,
    },
    /// An `lddw` is not followed by its second slot, or a second slot stands alone.
    #[error("insn {pc}: malformed lddw (its two slots must be adjacent)")]
    MalformedLddw {
        /// The slot index.
        pc: usize,
    },
    /// The last instruction can continue past the end of the program.
    #[error(
        "insn {pc}: execution can fall off the end of the program (last insn is not exit or ja)"
    )]
    FallThrough {
        /// The slot index of the last instruction.
        pc: usize,
    },
}

/// Check a decoded program's structure: length, r10 writes, jump targets, `lddw` pairs, and
/// that execution cannot run off the end.
pub fn validate(insns: &[Insn]) -> Result<(), ValidationError> {
    let len = insns.len();
    if len == 0 {
        return Err(ValidationError::Empty);
    }
    if len > MAX_INSNS {
        return Err(ValidationError::TooLong { len });
    }
    for (pc, insn) in insns.iter().enumerate() {
        match insn {
            Insn::Lddw { .. } if insns.get(pc + 1) != Some(&Insn::LddwHigh) => {
                return Err(ValidationError::MalformedLddw { pc });
            }
            Insn::LddwHigh
                if !matches!(
                    pc.checked_sub(1).map(|p| &insns[p]),
                    Some(Insn::Lddw { .. })
                ) =>
            {
                return Err(ValidationError::MalformedLddw { pc });
            }
            _ => {}
        }
        if insn.written_reg() == Some(Reg::R10) {
            return Err(ValidationError::WriteToR10 { pc });
        }
        if let Some(target) = insn.jump_target(pc) {
            if target < 0 || target >= len as i64 {
                return Err(ValidationError::JumpOutOfRange { pc, target, len });
            }
            let t = target as usize;
            if insns[t] == Insn::LddwHigh {
                return Err(ValidationError::JumpIntoLddw { pc, target: t });
            }
        }
    }
    let last = match insns[len - 1] {
        Insn::LddwHigh => len - 2,
        _ => len - 1,
    };
    match insns[last] {
        Insn::Exit | Insn::Ja { .. } => Ok(()),
        _ => Err(ValidationError::FallThrough { pc: last }),
    }
}

/// Decode and validate little-endian bytecode.
pub fn decode_and_validate(bytes: &[u8]) -> Result<Vec<Insn>, ValidationError> {
    let insns = decode(bytes)?;
    validate(&insns)?;
    Ok(insns)
}

/// Whether `insn` is a call to a BPF function (used by callers that split subprograms).
pub fn is_local_call(insn: &Insn) -> bool {
    matches!(insn, Insn::Call(CallTarget::Local(_)))
}
