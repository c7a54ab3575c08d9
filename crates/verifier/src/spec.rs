//! Spectre v1 speculative paths, for loaders without `CAP_PERFMON` (Linux's
//! `bypass_spec_v1` false, see [`crate::Options::bypass_spec_v1`]).
//!
//! At a conditional jump whose outcome is known, the CPU may still speculate down the other
//! side: Linux explores it too, as a *speculative* state (`sanitize_speculative_path`) whose
//! compared registers are unknown numbers. Since Linux 6.17 ("bpf: Fall back to nospec for
//! Spectre v1"), a check that fails on a speculative path does not refuse the program: the
//! kernel puts a speculation barrier before that instruction (`nospec`) and the path ends
//! there, as does every later speculative path reaching it. A store that Spectre v4
//! sanitising already follows with a barrier (`nospec_result`) ends speculative paths too.
//! What still refuses: a speculative path that runs into the complexity limit or repeats a
//! state still being explored (an infinite loop), and errors Linux does not recover from
//! (`E2BIG`: call chains too deep).
//!
//! Speculative states are recorded and prune like any other, with one rule (Linux's
//! `states_equal`): a speculative state never covers a state that is not speculative, since
//! its exploration may have ended early at a barrier.
//!
//! Soundness: speculative paths are extra exploration. They never make a refused program
//! accepted, and no real path is ever pruned by a speculative state, so every real path is
//! still checked in full.

use crate::state::{ByteKind, State, Value};
use waggle_isa::{Insn, Operand};

/// Per-instruction speculation barriers found so far.
#[derive(Default)]
pub struct Spec {
    /// Whether speculative paths are explored.
    pub on: bool,
    /// Instructions a speculative path failed at: later speculative paths stop there.
    nospec: Vec<bool>,
    /// Stores followed by a barrier (Spectre v4): speculative paths stop after them.
    nospec_result: Vec<bool>,
    /// Set by a stack store that needs the Spectre v4 barrier, for the step in progress.
    pub store_barrier: bool,
    /// The slot being checked, and whether on a speculative path (set before each step).
    pub pc: usize,
    /// Whether the path being checked is speculative.
    pub cur_spec: bool,
    /// Speculative paths the step in progress started: (state, slot).
    pub pushed: Vec<(State, usize)>,
    /// Per slot, the pointer arithmetic masking found so far (`alu_state`, `alu_limit`;
    /// state 0: none yet), see `sanitize.rs`.
    alu: Vec<(u8, u32)>,
}

impl Spec {
    /// The tracking for a program of `n` slots; `on` when speculative paths are explored.
    pub fn new(on: bool, n: usize) -> Spec {
        Spec {
            on,
            nospec: if on { vec![false; n] } else { Vec::new() },
            nospec_result: if on { vec![false; n] } else { Vec::new() },
            store_barrier: false,
            pc: 0,
            cur_spec: false,
            pushed: Vec::new(),
            alu: if on { vec![(0, 0); n] } else { Vec::new() },
        }
    }

    /// Record the masking of the pointer arithmetic at `pc`; false if another path needs a
    /// different one (Linux's `update_alu_sanitation_state`).
    pub fn set_alu(&mut self, pc: usize, state: u8, limit: u32) -> bool {
        let Some(a) = self.alu.get_mut(pc) else {
            return true;
        };
        if a.0 != 0 && *a != (state, limit) {
            return false;
        }
        *a = (state, limit);
        true
    }

    /// Whether a speculative path stops before `pc`.
    pub fn stops_before(&self, pc: usize) -> bool {
        self.nospec.get(pc).copied().unwrap_or(false)
    }

    /// A speculative path failed at `pc` with an error Linux recovers from (`errno`): the
    /// barrier goes there. Returns whether the path just ends (else the refusal stands).
    pub fn recover(&mut self, pc: usize, errno: i32) -> bool {
        // EPERM, EACCES, EINVAL (error_recoverable_with_nospec).
        if !matches!(errno, 1 | 13 | 22) {
            return false;
        }
        if let Some(b) = self.nospec.get_mut(pc) {
            *b = true;
        }
        true
    }

    /// After the instruction at `pc` ran (on any path): whether a speculative path stops
    /// after it, because it is a store followed by a barrier.
    pub fn stops_after(&mut self, pc: usize) -> bool {
        if std::mem::take(&mut self.store_barrier)
            && let Some(b) = self.nospec_result.get_mut(pc)
        {
            *b = true;
        }
        self.nospec_result.get(pc).copied().unwrap_or(false)
    }
}

/// The speculative state for the side of `insn` (a conditional jump) its known outcome does
/// not take: `st` with the compared registers unknown numbers (`sanitize_speculative_path`).
pub fn speculative_state(insn: &Insn, st: &State) -> Option<State> {
    let Insn::Jump { dst, src, .. } = *insn else {
        return None;
    };
    let mut s = st.clone();
    s.set_reg(dst.index(), Value::Scalar(crate::Scalar::UNKNOWN));
    if let Operand::Reg(r) = src {
        s.set_reg(r.index(), Value::Scalar(crate::Scalar::UNKNOWN));
    }
    Some(s)
}

/// Whether a store of `size` bytes into a slot with `bytes` (before the store), of a pointer
/// or not, gets the Spectre v4 barrier after it (`check_stack_write_fixed_off`'s
/// `sanitize`: a pointer, or one of the slot's bytes Linux looks at is neither data nor zero;
/// Linux looks at its `slot_type[0..size)`, the slot's highest `size` bytes).
pub fn store_needs_barrier(bytes: &[ByteKind; 8], size: usize, pointer: bool) -> bool {
    pointer
        || bytes
            .iter()
            .rev()
            .take(size)
            .any(|b| !matches!(b, ByteKind::Misc | ByteKind::Zero))
}
