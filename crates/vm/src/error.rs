//! Errors of preparing and of running a program.

use waggle_isa::{LddwKind, ValidationError};

/// Why a program cannot be prepared for execution.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// The program is structurally invalid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// `call` names a helper the registry does not have.
    #[error("insn {pc}: unknown helper {id}")]
    UnknownHelper {
        /// The slot index.
        pc: usize,
        /// The helper id in the instruction.
        id: i32,
    },
    /// An `lddw` whose immediate a loader must first resolve (map, BTF or function reference).
    #[error("insn {pc}: lddw of kind {kind:?} must be relocated by a loader first")]
    UnrelocatedLddw {
        /// The slot index.
        pc: usize,
        /// Its kind.
        kind: LddwKind,
    },
    /// An instruction this engine does not run (kfunc calls), or a combination of fields no
    /// encoding has (an `Insn` built by hand, e.g. a 12-bit byte swap).
    #[error("insn {pc}: unsupported instruction: {what}")]
    Unsupported {
        /// The slot index.
        pc: usize,
        /// What is not supported.
        what: &'static str,
    },
}

/// Why a run stopped without returning.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VmError {
    /// A load, store or atomic outside every region the run may access, or a write to a
    /// read-only one. Nothing was accessed.
    #[error("insn {pc}: out-of-bounds {} of {len} byte{} at {addr:#x}",
        if *write { "write" } else { "read" }, if *len == 1 { "" } else { "s" })]
    MemoryAccess {
        /// The slot index.
        pc: usize,
        /// The first address accessed.
        addr: u64,
        /// Bytes accessed.
        len: u64,
        /// Whether it was a write.
        write: bool,
    },
    /// An atomic access whose address is not a multiple of its size.
    #[error("insn {pc}: misaligned atomic access of {len} bytes at {addr:#x}")]
    MisalignedAtomic {
        /// The slot index.
        pc: usize,
        /// The address.
        addr: u64,
        /// Bytes accessed (4 or 8).
        len: u64,
    },
    /// A BPF-to-BPF call beyond the eighth frame.
    #[error("insn {pc}: call nesting exceeds {} frames", crate::MAX_FRAMES)]
    CallDepthExceeded {
        /// The slot index of the call.
        pc: usize,
    },
    /// `callx` with a register that holds no registered helper id.
    #[error("insn {pc}: callx target {target:#x} is not a known helper")]
    BadCallTarget {
        /// The slot index.
        pc: usize,
        /// The register's value.
        target: u64,
    },
    /// A helper reported a failure.
    #[error("insn {pc}: helper {id} failed: {message}")]
    Helper {
        /// The slot index of the call.
        pc: usize,
        /// The helper id.
        id: u32,
        /// What the helper said.
        message: String,
    },
    /// The run executed its whole instruction budget.
    #[error("insn {pc}: instruction budget exhausted after {executed} instructions")]
    BudgetExceeded {
        /// The slot index of the instruction that was not executed.
        pc: usize,
        /// Instructions executed.
        executed: u64,
    },
    /// A legacy packet load (`ldabs`/`ldind`) in a run without packet data.
    #[error("insn {pc}: packet load without packet data")]
    NoPacket {
        /// The slot index.
        pc: usize,
    },
    /// Control reached a slot that cannot be executed: the second half of an `lddw`, or a
    /// slot outside the program (neither can happen in a validated program).
    #[error("insn {pc}: no executable instruction here (second slot of an lddw?)")]
    InvalidInstruction {
        /// The slot index.
        pc: usize,
    },
}
