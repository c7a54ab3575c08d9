//! Small loops unrolled twice, verified mode only: a loop whose body (the slots from its head
//! up to its back jump) is entered only at the head and ends in its only backward jump to the
//! head is emitted as
//!
//! ```text
//! head: body; j!cc out; body; jcc head; out:
//! ```
//!
//! (for an unconditional back jump, `body; body; jmp head`). The code runs the same
//! instructions in the same order; only half the iterations end in a taken branch, which
//! bounds tight loops at about one iteration per cycle. Jumps out of the body (exits, calls,
//! `exit`) are emitted in both copies to the same targets. Checked mode keeps one copy: its
//! budget blocks and stubs are per slot.

use super::{Emitter, Insn};
use dynasmrt::{DynasmLabelApi, dynasm};

/// Longest loop body unrolled, in slots (code size grows by the body once more).
const MAX_SLOTS: usize = 24;

/// The slot of the back jump closing the loop headed at `h`, if the loop qualifies.
fn back_jump(h: usize, insns: &[Insn], targets: &[bool]) -> Option<usize> {
    let end = (h + MAX_SLOTS).min(insns.len());
    for x in h..end {
        if x > h && targets[x] {
            return None;
        }
        let insn = insns[x];
        if insn.jump_target(x) == Some(h as i64) {
            let back = matches!(insn, Insn::Jump { .. } | Insn::Ja { .. });
            return (back && x > h).then_some(x);
        }
    }
    None
}

impl Emitter {
    /// Emit slots `lo..hi` (pairs and copy loops fused, never across `hi`).
    pub(super) fn slots(&mut self, lo: usize, hi: usize, insns: &[Insn]) {
        let insns = &insns[..hi];
        let mut pc = lo;
        while pc < hi {
            // Both loop forms start at a loop head (the target of their back jump).
            if self.loop_heads[pc] && self.verified {
                let unrolled = self.unroll(pc, insns);
                if unrolled > 0 {
                    pc += unrolled;
                    continue;
                }
                let copied = self.copy_loop(pc, insns);
                if copied > 0 {
                    pc += copied;
                    continue;
                }
            }
            let selected = self.select(pc, insns);
            if selected > 0 {
                pc += selected;
            } else if self.lea_pair(pc, insns) {
                pc += 2;
            } else {
                self.insn(pc, insns[pc]);
                pc += 1;
            }
        }
    }

    /// Emits the loop headed at `pc` unrolled twice (see the module docs) and returns how
    /// many slots it covered, or emits nothing and returns 0.
    fn unroll(&mut self, h: usize, insns: &[Insn]) -> usize {
        if !self.verified || self.blind.is_some() || !self.loop_heads[h] || self.invert.is_some() {
            return 0;
        }
        let Some(j) = back_jump(h, insns, &self.targets) else {
            return 0;
        };
        // A byte-copy loop is better served by its own form.
        if self.copy_loop_at(h, insns) {
            return 0;
        }
        let out = self.ops.new_dynamic_label();
        self.slots_plain(h, j, insns);
        self.invert = Some(out);
        self.insn(j, insns[j]);
        self.invert = None;
        // The second copy: no second label, alignment or slot offsets for the head (the
        // offsets stay the first copy's, which the final short back jump measures from).
        let offsets = self.offsets[h..=j].to_vec();
        let label = self.labels[h].take();
        self.loop_heads[h] = false;
        self.slots_plain(h, j, insns);
        self.labels[h] = label;
        self.loop_heads[h] = true;
        self.offsets[h..=j].copy_from_slice(&offsets);
        self.insn(j, insns[j]);
        self.offsets[j] = offsets[j - h];
        asm!(self.ops ; =>out);
        self.new_flags = None;
        j + 1 - h
    }

    /// Slots `lo..hi` without unrolling or copy loops (the body of an unrolled loop).
    fn slots_plain(&mut self, lo: usize, hi: usize, insns: &[Insn]) {
        let insns = &insns[..hi];
        let mut pc = lo;
        while pc < hi {
            let selected = self.select(pc, insns);
            if selected > 0 {
                pc += selected;
            } else if self.lea_pair(pc, insns) {
                pc += 2;
            } else {
                self.insn(pc, insns[pc]);
                pc += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(src: &str, h: usize) -> Option<usize> {
        let p = waggle_isa::asm::assemble(src).expect("assembles");
        let mut t = vec![false; p.len()];
        for (pc, i) in p.iter().enumerate() {
            if let Some(x) = i.jump_target(pc)
                && let Ok(x) = usize::try_from(x)
                && x < t.len()
            {
                t[x] = true;
            }
        }
        back_jump(h, &p, &t)
    }

    #[test]
    fn finds_simple_loops_only() {
        let simple = "loop:\nadd %r0, 1\nadd %r1, 2\njlt %r1, 100, loop\nexit";
        assert_eq!(find(simple, 0), Some(2));
        let exits = "loop:\nldxb %r3, [%r1+0]\njeq %r3, 0, out\nadd %r1, 1\nja loop\nout:\nexit";
        assert_eq!(find(exits, 0), Some(3));
        // A label inside the body, a self loop, a body too long.
        let inner = "loop:\nadd %r0, 1\nin:\nadd %r1, 2\njlt %r1, 50, in\njlt %r1, 100, loop\nexit";
        assert_eq!(find(inner, 0), None);
        assert_eq!(find("loop:\njlt %r1, 100, loop\nexit", 0), None);
        let long = format!(
            "loop:\n{}jlt %r1, 100, loop\nexit",
            "add %r1, 1\n".repeat(30)
        );
        assert_eq!(find(&long, 0), None);
    }
}
