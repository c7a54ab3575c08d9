//! The run context: one per run, on the Rust stack. Generated code keeps its address in `r12`
//! and reads and writes the fields before `mem` at fixed offsets (`offset_of!`); the Rust
//! trampolines see all of it.

use crate::error::VmError;
use crate::helpers::Helpers;
use crate::memory::{MAX_FRAMES, Memory, Region, STACK_FRAME_SIZE};
use std::any::Any;
use std::mem::offset_of;

/// Access sizes in the order of the limit arrays: 1, 2, 4, 8 bytes.
pub(crate) const SIZES: [u64; 4] = [1, 2, 4, 8];

/// Memory-operation descriptor of the slow path (`Ctx::op`): bits 0..2 the size index into
/// [`SIZES`], bits 2..4 the class, bits 4..8 the atomic index ([`ATOMIC_OPS`]).
pub(crate) const OP_LOAD: u32 = 0 << 2;
/// A sign-extending load.
pub(crate) const OP_LOAD_SIGNED: u32 = 1 << 2;
/// A store of `Ctx::val`.
pub(crate) const OP_STORE: u32 = 2 << 2;
/// An atomic with operand `Ctx::val` (and r0 as the expected value of cmpxchg).
pub(crate) const OP_ATOMIC: u32 = 3 << 2;

/// Why generated code stopped the run by itself (`Ctx::err`).
pub(crate) const ERR_BUDGET: u32 = 1;
/// A ninth frame.
pub(crate) const ERR_DEPTH: u32 = 2;
/// An `lddw` second slot or the end of the program reached.
pub(crate) const ERR_INVALID: u32 = 3;

/// Indices into `Ctx::saved` (BPF r0..=r5 by number, then the budget register).
pub(crate) const SAVED_BUDGET: usize = 6;

/// The fields generated code reads and writes (at fixed offsets from `r12`). `repr(C)` so
/// that offsets are stable. A run whose code never calls into Rust needs nothing else.
#[repr(C)]
pub(crate) struct Head {
    // The first fields are exactly `Core`'s (checked below).
    /// Current call depth (0 in the program's own frame).
    pub(crate) depth: u64,
    /// `may_goto` iterations left.
    pub(crate) loops_left: u64,
    /// `rsp` after the prologue: error exits unwind to it from any call depth.
    pub(crate) entry_rsp: u64,
    /// Slot index of the instruction calling out or failing.
    pub(crate) pc: u32,
    /// Error code set by generated code (`ERR_*`), 0 otherwise.
    pub(crate) err: u32,
    /// Lowest byte of the active stack frames.
    pub(crate) stack_lo: u64,
    /// Per access size: `addr - stack_lo` must be below this (`len - size + 1`).
    pub(crate) stack_lim: [u64; 4],
    /// Address of the first caller region (checked inline, the others by the slow path).
    pub(crate) region_addr: u64,
    /// Per access size: read limit of `addr - region_addr` (0: never inline).
    pub(crate) region_rlim: [u64; 4],
    /// Per access size: write limit (0 when the region is read-only).
    pub(crate) region_wlim: [u64; 4],
    /// Instructions the run may still execute (`u64::MAX` without a budget).
    pub(crate) budget: u64,
    /// Frame pointer of frame 0 (initial r10).
    pub(crate) fp: u64,
    /// Initial r1..=r5.
    pub(crate) args: [u64; 5],
    /// `rsp` around a call into Rust (which realigns the stack).
    pub(crate) call_rsp: u64,
    /// Caller-saved registers during a call into Rust: r0..=r5, the budget, a spill slot.
    pub(crate) saved: [u64; 8],
    /// Slow-path argument: the address accessed.
    pub(crate) addr: u64,
    /// Slow-path argument: value stored / atomic operand / callx target / packet offset.
    pub(crate) val: u64,
    /// Slow-path argument: operation descriptor or helper id.
    pub(crate) op: u32,
    /// Result of a slow path (loaded value, old value, helper r0).
    pub(crate) ret: u64,
}

/// The fields that code compiled for the lean path (verified, never calling into Rust, own
/// stack, arguments in registers) touches: `Head`'s first fields, at the same offsets.
#[repr(C)]
pub(crate) struct Core {
    /// Current call depth (0 in the program's own frame).
    pub(crate) depth: u64,
    /// `may_goto` iterations left.
    pub(crate) loops_left: u64,
    /// `rsp` after the prologue: error exits unwind to it from any call depth.
    pub(crate) entry_rsp: u64,
    /// Slot index of the instruction calling out or failing.
    pub(crate) pc: u32,
    /// Error code set by generated code (`ERR_*`), 0 otherwise.
    pub(crate) err: u32,
}

const _: () = {
    assert!(offset_of!(Core, depth) == offset_of!(Head, depth));
    assert!(offset_of!(Core, loops_left) == offset_of!(Head, loops_left));
    assert!(offset_of!(Core, entry_rsp) == offset_of!(Head, entry_rsp));
    assert!(offset_of!(Core, pc) == offset_of!(Head, pc));
    assert!(offset_of!(Core, err) == offset_of!(Head, err));
};

impl Core {
    /// The state at the start of a lean run.
    #[inline(always)]
    pub(crate) fn new() -> Core {
        Core {
            depth: 0,
            loops_left: crate::MAY_GOTO_LIMIT,
            entry_rsp: 0,
            pc: 0,
            err: 0,
        }
    }

    /// The result of a lean run once native code has returned `r0`.
    #[inline(always)]
    pub(crate) fn result(&self, r0: u64) -> Result<u64, VmError> {
        if self.err == 0 {
            Ok(r0)
        } else {
            Err(error(self.err, self.pc, u64::MAX))
        }
    }
}

/// The error for code `err` set by generated code at slot `pc`.
#[cold]
fn error(err: u32, pc: u32, max_insns: u64) -> VmError {
    let pc = pc as usize;
    match err {
        ERR_BUDGET => VmError::BudgetExceeded {
            pc,
            executed: max_insns,
        },
        ERR_DEPTH => VmError::CallDepthExceeded { pc },
        _ => VmError::InvalidInstruction { pc },
    }
}

impl Head {
    /// The code-visible state at the start of a run with frame pointer `fp`; no inline
    /// checks grant anything but the stack frame below `fp` until the caller sets regions.
    pub(crate) fn new(fp: u64, args: [u64; 5], max_insns: Option<u64>) -> Head {
        let frame = STACK_FRAME_SIZE as u64;
        Head {
            stack_lo: fp.wrapping_sub(frame),
            stack_lim: limits(frame),
            region_addr: 0,
            region_rlim: [0; 4],
            region_wlim: [0; 4],
            depth: 0,
            loops_left: crate::MAY_GOTO_LIMIT,
            budget: max_insns.unwrap_or(u64::MAX),
            fp,
            args,
            entry_rsp: 0,
            call_rsp: 0,
            saved: [0; 8],
            addr: 0,
            val: 0,
            op: 0,
            pc: 0,
            ret: 0,
            err: 0,
        }
    }

    /// The result of a run once native code has returned `r0`, from the error code.
    pub(crate) fn result(&self, r0: u64, max_insns: u64) -> Result<u64, VmError> {
        if self.err == 0 {
            Ok(r0)
        } else {
            Err(error(self.err, self.pc, max_insns))
        }
    }
}

/// Everything one native run needs: the code-visible [`Head`] first (so a pointer to the
/// context is a pointer to its head), then what only Rust uses.
#[repr(C)]
pub(crate) struct Ctx<'m, 'r> {
    /// The code-visible fields.
    pub(crate) head: Head,
    /// Rust-only from here on.
    pub(crate) mem: &'m mut Memory<'r>,
    pub(crate) helpers: &'m Helpers,
    pub(crate) packet: Option<&'m [u8]>,
    /// How a trampoline ended the run (error, or a helper's successful early exit).
    pub(crate) outcome: Option<Result<u64, VmError>>,
    /// A helper's panic, resumed once native code has returned.
    pub(crate) panic: Option<Box<dyn Any + Send>>,
    /// The budget of the run, for the error.
    pub(crate) max_insns: u64,
}

/// Byte offsets of the code-visible fields, as `i32` displacements from `r12`.
pub(crate) mod off {
    use super::*;
    type C = Head;
    pub(crate) const STACK_LO: i32 = offset_of!(C, stack_lo) as i32;
    pub(crate) const STACK_LIM: i32 = offset_of!(C, stack_lim) as i32;
    pub(crate) const REGION_ADDR: i32 = offset_of!(C, region_addr) as i32;
    pub(crate) const REGION_RLIM: i32 = offset_of!(C, region_rlim) as i32;
    pub(crate) const REGION_WLIM: i32 = offset_of!(C, region_wlim) as i32;
    pub(crate) const DEPTH: i32 = offset_of!(C, depth) as i32;
    pub(crate) const LOOPS: i32 = offset_of!(C, loops_left) as i32;
    pub(crate) const BUDGET: i32 = offset_of!(C, budget) as i32;
    pub(crate) const FP: i32 = offset_of!(C, fp) as i32;
    pub(crate) const ARGS: i32 = offset_of!(C, args) as i32;
    pub(crate) const ENTRY_RSP: i32 = offset_of!(C, entry_rsp) as i32;
    pub(crate) const CALL_RSP: i32 = offset_of!(C, call_rsp) as i32;
    pub(crate) const SAVED: i32 = offset_of!(C, saved) as i32;
    pub(crate) const ADDR: i32 = offset_of!(C, addr) as i32;
    pub(crate) const VAL: i32 = offset_of!(C, val) as i32;
    pub(crate) const OP: i32 = offset_of!(C, op) as i32;
    pub(crate) const PC: i32 = offset_of!(C, pc) as i32;
    pub(crate) const RET: i32 = offset_of!(C, ret) as i32;
    pub(crate) const ERR: i32 = offset_of!(C, err) as i32;
}

/// `len - size + 1` per size: an offset below it leaves room for the access (0: no room).
fn limits(len: u64) -> [u64; 4] {
    SIZES.map(|s| len.saturating_sub(s - 1))
}

impl<'m, 'r> Ctx<'m, 'r> {
    /// A context for a run over `mem` (frame 0 active) with the caller's `regions`.
    pub(crate) fn new(
        mem: &'m mut Memory<'r>,
        helpers: &'m Helpers,
        regions: &[Region<'_>],
        args: [u64; 5],
        packet: Option<&'m [u8]>,
        max_insns: Option<u64>,
    ) -> Ctx<'m, 'r> {
        let mut head = Head::new(mem.stack.fp(), args, max_insns);
        if let Some(r) = regions.first() {
            let rlim = limits(r.len() as u64);
            head.region_addr = r.addr();
            head.region_rlim = rlim;
            head.region_wlim = if r.is_writable() { rlim } else { [0; 4] };
        }
        Ctx {
            head,
            mem,
            helpers,
            packet,
            outcome: None,
            panic: None,
            max_insns: max_insns.unwrap_or(u64::MAX),
        }
    }

    /// Bring the `Memory` stack to the depth generated code is at (it tracks frames itself
    /// and tells Rust only when Rust needs to see the stack: slow paths and helpers).
    pub(crate) fn sync_stack(&mut self) {
        let depth = (self.depth as usize).min(MAX_FRAMES - 1);
        while self.mem.stack.depth() < depth {
            if self.mem.stack.push().is_none() {
                break;
            }
        }
        while self.mem.stack.depth() > depth {
            self.mem.stack.pop();
        }
    }

    /// The result of the run once native code has returned `r0`.
    pub(crate) fn finish(&mut self, r0: u64) -> Result<u64, VmError> {
        if let Some(payload) = self.panic.take() {
            std::panic::resume_unwind(payload);
        }
        if let Some(outcome) = self.outcome.take() {
            return outcome;
        }
        self.head.result(r0, self.max_insns)
    }
}

impl std::ops::Deref for Ctx<'_, '_> {
    type Target = Head;
    fn deref(&self) -> &Head {
        &self.head
    }
}

impl std::ops::DerefMut for Ctx<'_, '_> {
    fn deref_mut(&mut self) -> &mut Head {
        &mut self.head
    }
}
