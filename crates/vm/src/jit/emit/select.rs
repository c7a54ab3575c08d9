//! Short forward branches as conditional moves, verified mode only: a conditional jump over
//! one or two 64-bit ALU instructions (`jlt v, K, +2; rsh v, 32; add r, 32`, the shape of a
//! branchy binary search) becomes
//!
//! ```text
//! x1 = d1 op1 s1; x2 = d2 op2 s2      (in scratch registers, BPF registers untouched)
//! cmp/test as the jump; cmov!cc d1, x1; cmov!cc d2, x2
//! ```
//!
//! Exact when the skipped instructions write distinct registers, the second does not read
//! what the first writes, neither slot is a jump target, and each operation has no effect
//! but its result (moves, add, sub, and, or, xor, shifts by a constant). On data where the
//! branch is unpredictable this trades a misprediction for a few cycles. Checked mode keeps
//! the branch: its instruction budget counts the skipped instructions only when they run.

use super::{Emitter, R9, R11, x86};
use dynasmrt::{DynasmApi, dynasm};
use waggle_isa::{AluOp, Insn, Operand, Reg, Width};

/// The ALU instruction at `pc`, if it can be computed ahead into a scratch register.
fn selectable(insn: Option<&Insn>) -> Option<(AluOp, Reg, Operand)> {
    let &Insn::Alu {
        width: Width::W64,
        op,
        dst,
        src,
    } = insn?
    else {
        return None;
    };
    let ok = match op {
        AluOp::Mov | AluOp::Add | AluOp::Sub | AluOp::And | AluOp::Or | AluOp::Xor => true,
        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => {
            matches!(src, Operand::Imm(i) if (0..64).contains(&i))
        }
        _ => false,
    };
    (ok && dst != Reg::R10).then_some((op, dst, src))
}

/// The skipped instructions of a selectable branch at `pc` (one or two).
fn match_select(
    pc: usize,
    insns: &[Insn],
    targets: &[bool],
) -> Option<[Option<(AluOp, Reg, Operand)>; 2]> {
    let &Insn::Jump { off, .. } = insns.get(pc)? else {
        return None;
    };
    let k = usize::try_from(off).ok().filter(|k| (1..=2).contains(k))?;
    if (pc + 1..=pc + k).any(|p| targets.get(p) != Some(&false)) {
        return None;
    }
    let first = selectable(insns.get(pc + 1))?;
    if k == 1 {
        return Some([Some(first), None]);
    }
    let second = selectable(insns.get(pc + 2))?;
    let reads_first = second.2 == Operand::Reg(first.1);
    (second.1 != first.1 && !reads_first).then_some([Some(first), Some(second)])
}

impl Emitter {
    /// Emits the branch at `pc` as conditional moves (see the module docs) and returns how
    /// many slots it covered, or emits nothing and returns 0.
    pub(super) fn select(&mut self, pc: usize, insns: &[Insn]) -> usize {
        if !self.verified || self.blind.is_some() {
            return 0;
        }
        let Some(ops) = match_select(pc, insns, &self.targets) else {
            return 0;
        };
        let Insn::Jump {
            width,
            op,
            dst,
            src,
            ..
        } = insns[pc]
        else {
            return 0;
        };
        self.header(pc, insns[pc]);
        for (&(aop, d, s), x) in ops.iter().flatten().zip([R9, R11]) {
            let d = x86(d);
            match (aop, s) {
                (AluOp::Mov, Operand::Reg(r)) => asm!(self.ops ; mov Rq(x), Rq(x86(r))),
                (AluOp::Mov, Operand::Imm(i)) => asm!(self.ops ; mov Rq(x), i),
                _ => {
                    asm!(self.ops ; mov Rq(x), Rq(d));
                    match (aop, s) {
                        (AluOp::Lsh, Operand::Imm(i)) => asm!(self.ops ; shl Rq(x), i as i8),
                        (AluOp::Rsh, Operand::Imm(i)) => asm!(self.ops ; shr Rq(x), i as i8),
                        (AluOp::Arsh, Operand::Imm(i)) => asm!(self.ops ; sar Rq(x), i as i8),
                        (AluOp::Add, _) => arith!(self.ops, add, true, x, s),
                        (AluOp::Sub, _) => arith!(self.ops, sub, true, x, s),
                        (AluOp::And, _) => arith!(self.ops, and, true, x, s),
                        (AluOp::Or, _) => arith!(self.ops, or, true, x, s),
                        _ => arith!(self.ops, xor, true, x, s),
                    }
                }
            }
        }
        // The scratch arithmetic changed the flags: the test may not reuse older ones.
        self.flags = None;
        let cond = self.compare(width == Width::W64, op, x86(dst), src);
        // The skipped instructions take effect when the jump is not taken.
        let keep = cond ^ 1;
        for (&(_, d, _), x) in ops.iter().flatten().zip([R9, R11]) {
            let d = x86(d);
            // cmovcc d, x: REX.W (+R for d, +B for x), 0F 40+cc, ModRM 11 d x.
            let rex = 0x48 | ((d >> 3) << 2) | (x >> 3);
            self.ops
                .extend([rex, 0x0f, 0x40 | keep, 0xc0 | ((d & 7) << 3) | (x & 7)]);
        }
        let k = ops.iter().flatten().count();
        for (p, &insn) in insns.iter().enumerate().take(pc + k + 1).skip(pc + 1) {
            self.header(p, insn);
        }
        self.new_flags = None;
        k + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(src: &str) -> Option<usize> {
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
        match_select(0, &p, &t).map(|m| m.iter().flatten().count())
    }

    #[test]
    fn matches_short_skips_of_pure_alu() {
        assert_eq!(
            find("jlt %r2, %r7, l\nrsh %r2, 32\nadd %r3, 32\nl:\nexit"),
            Some(2)
        );
        assert_eq!(find("jset %r2, 1, l\nmov %r3, %r4\nl:\nexit"), Some(1));
        assert_eq!(find("jsgt %r2, -1, l\nxor %r3, 7\nl:\nexit"), Some(1));
    }

    #[test]
    fn refuses_what_would_not_be_exact() {
        let cases = [
            // Second reads the first's result; same destination twice.
            "jlt %r2, 9, l\nadd %r3, 1\nadd %r4, %r3\nl:\nexit",
            "jlt %r2, 9, l\nadd %r3, 1\nadd %r3, 1\nl:\nexit",
            // Operations with effects or not computed ahead: division, shift by a register,
            // 32-bit ALU, memory, a jump target in the skipped slots, three slots.
            "jlt %r2, 9, l\ndiv %r3, %r4\nl:\nexit",
            "jlt %r2, 9, l\nlsh %r3, %r4\nl:\nexit",
            "jlt %r2, 9, l\nadd32 %r3, 1\nl:\nexit",
            "jlt %r2, 9, l\nstxdw [%r10-8], %r3\nl:\nexit",
            "jlt %r2, 9, l\nm:\nadd %r3, 1\nl:\njeq %r3, 0, m\nexit",
            "jlt %r2, 9, l\nadd %r3, 1\nadd %r4, 1\nadd %r5, 1\nl:\nexit",
        ];
        for c in cases {
            assert_eq!(find(c), None, "{c}");
        }
    }
}
