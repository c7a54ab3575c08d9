//! The byte-copy loop idiom, verified mode only: a loop of exactly
//!
//! ```text
//! head: ldxb t, [s + a]
//!       stxb [d + b], t
//!       add x1, 1
//!      (add x2, 1)
//!       jlt c, e, head        (64-bit, unsigned; e a register or an immediate)
//! ```
//!
//! where the incremented registers {x1, x2} include s, d and c, and t, e are none of them,
//! copies `n = e - c` bytes forward when `c < e` at the head. It becomes `rep movsb` (DF is 0
//! under the System V ABI: a forward byte copy, architecturally one byte at a time, so an
//! overlapping range gives the byte loop's result), each incremented register advanced by `n`
//! and t reloaded from the last byte written (which is the last byte the loop read). When
//! `c >= e` at the head, the ordinary loop runs (its back jump returns to the head, so it
//! takes the fast path when wrapping makes `c < e` again).
//!
//! Exact only because the verifier proved every access of every iteration in bounds: the copy
//! touches the same bytes. Checked mode keeps the per-access checks and the budget.

use super::{Emitter, x86};
use dynasmrt::{DynasmApi, DynasmLabelApi, dynasm};
use waggle_isa::{AluOp, Insn, JmpOp, Operand, Reg, Size, Width};

/// A matched copy loop (BPF registers).
struct CopyLoop {
    t: Reg,
    s: Reg,
    a: i16,
    d: Reg,
    b: i16,
    /// The incremented registers (one or two, distinct).
    inc: [Option<Reg>; 2],
    c: Reg,
    e: Operand,
    /// Slots the loop spans.
    len: usize,
}

/// `add r, 1` at 64 bits.
fn inc_of(insn: Option<&Insn>) -> Option<Reg> {
    match insn {
        Some(&Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst,
            src: Operand::Imm(1),
        }) => Some(dst),
        _ => None,
    }
}

/// The copy loop starting at `pc`, if it is one (see the module docs).
fn match_copy(pc: usize, insns: &[Insn], targets: &[bool]) -> Option<CopyLoop> {
    let &Insn::Load {
        size: Size::B,
        signed: false,
        dst: t,
        src: s,
        off: a,
    } = insns.get(pc)?
    else {
        return None;
    };
    let &Insn::Store {
        size: Size::B,
        dst: d,
        off: b,
        src: Operand::Reg(t2),
    } = insns.get(pc + 1)?
    else {
        return None;
    };
    let x1 = inc_of(insns.get(pc + 2))?;
    let x2 = inc_of(insns.get(pc + 3));
    let jpc = pc + 3 + usize::from(x2.is_some());
    let jump = *insns.get(jpc)?;
    let Insn::Jump {
        width: Width::W64,
        op: JmpOp::Jlt,
        dst: c,
        src: e,
        ..
    } = jump
    else {
        return None;
    };
    if jump.jump_target(jpc) != Some(pc as i64) {
        return None;
    }
    // Nothing but the head may be entered from elsewhere.
    if (pc + 1..=jpc).any(|p| targets.get(p) != Some(&false)) {
        return None;
    }
    let incs = |r: Reg| r == x1 || Some(r) == x2;
    let ok = t2 == t
        && Some(x1) != x2
        && x1 != Reg::R10
        && x2 != Some(Reg::R10)
        && incs(s)
        && incs(d)
        && incs(c)
        && !incs(t)
        && t != Reg::R10
        && e != Operand::Reg(t)
        && !matches!(e, Operand::Reg(r) if incs(r));
    ok.then_some(CopyLoop {
        t,
        s,
        a,
        d,
        b,
        inc: [Some(x1), x2],
        c,
        e,
        len: jpc + 1 - pc,
    })
}

impl Emitter {
    /// Whether `copy_loop` would emit the loop at `pc` as a copy.
    pub(super) fn copy_loop_at(&self, pc: usize, insns: &[Insn]) -> bool {
        self.verified && self.blind.is_none() && match_copy(pc, insns, &self.targets).is_some()
    }

    /// Emits the copy loop at `pc` (see the module docs) and returns how many slots it
    /// covered, or emits nothing and returns 0.
    pub(super) fn copy_loop(&mut self, pc: usize, insns: &[Insn]) -> usize {
        if !self.verified || self.blind.is_some() {
            return 0;
        }
        let Some(m) = match_copy(pc, insns, &self.targets) else {
            return 0;
        };
        let plain = self.ops.new_dynamic_label();
        let after = self.ops.new_dynamic_label();
        self.header(pc, insns[pc]);
        let head_offset = self.offsets[pc];
        let (t, s, d, c) = (x86(m.t), x86(m.s), x86(m.d), x86(m.c));
        match m.e {
            Operand::Reg(e) => asm!(self.ops ; mov r11, Rq(x86(e))),
            Operand::Imm(i) => asm!(self.ops ; mov r11, i),
        }
        // n = e - c, all of it read before rdi, rsi and rcx (BPF r1, r2, r4) are reused.
        asm!(self.ops
            ; cmp Rq(c), r11
            ; jae =>plain
            ; sub r11, Rq(c)
            ; lea r9, [Rq(s) + i32::from(m.a)]
            ; push rdi
            ; push rsi
            ; push rcx
            ; lea rdi, [Rq(d) + i32::from(m.b)]
            ; mov rsi, r9
            ; mov rcx, r11
            ; rep movsb
            ; pop rcx
            ; pop rsi
            ; pop rdi
        );
        for x in m.inc.into_iter().flatten() {
            asm!(self.ops ; add Rq(x86(x)), r11);
        }
        // The last byte written is the last byte read (see the module docs).
        self.load_short(Size::B, false, t, d, i32::from(m.b) - 1);
        asm!(self.ops
            ; jmp =>after
            ; =>plain
        );
        // The ordinary loop: its first slot without the head's label (bound above), its back
        // jump to the head (by label or by the head's offset).
        let label = self.labels[pc].take();
        self.insn(pc, insns[pc]);
        self.labels[pc] = label;
        self.offsets[pc] = head_offset;
        for (p, &insn) in insns.iter().enumerate().take(pc + m.len).skip(pc + 1) {
            self.insn(p, insn);
        }
        asm!(self.ops ; =>after);
        self.new_flags = None;
        m.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(src: &str) -> Vec<Insn> {
        waggle_isa::asm::assemble(src).expect("assembles")
    }

    fn targets(insns: &[Insn]) -> Vec<bool> {
        let mut t = vec![false; insns.len()];
        for (pc, i) in insns.iter().enumerate() {
            if let Some(x) = i.jump_target(pc)
                && let Ok(x) = usize::try_from(x)
                && x < t.len()
            {
                t[x] = true;
            }
        }
        t
    }

    fn matches(src: &str, pc: usize) -> Option<usize> {
        let p = prog(src);
        match_copy(pc, &p, &targets(&p)).map(|m| m.len)
    }

    #[test]
    fn recognises_one_and_two_pointer_loops() {
        let one =
            "loop:\nldxb %r3, [%r1+0]\nstxb [%r1+1024], %r3\nadd %r1, 1\njlt %r1, %r6, loop\nexit";
        assert_eq!(matches(one, 0), Some(4));
        let two = "loop:\nldxb %r3, [%r1+0]\nstxb [%r2+0], %r3\nadd %r1, 1\nadd %r2, 1\njlt %r2, 77, loop\nexit";
        assert_eq!(matches(two, 0), Some(5));
    }

    #[test]
    fn refuses_near_misses() {
        let cases = [
            // Temporary is the bound, or is incremented, or the bound is incremented.
            "loop:\nldxb %r6, [%r1+0]\nstxb [%r1+8], %r6\nadd %r1, 1\njlt %r1, %r6, loop\nexit",
            "loop:\nldxb %r1, [%r1+0]\nstxb [%r1+8], %r1\nadd %r1, 1\njlt %r1, %r6, loop\nexit",
            "loop:\nldxb %r3, [%r1+0]\nstxb [%r2+8], %r3\nadd %r1, 1\nadd %r2, 1\njlt %r1, %r2, loop\nexit",
            // A pointer that does not advance.
            "loop:\nldxb %r3, [%r1+0]\nstxb [%r2+8], %r3\nadd %r1, 1\njlt %r1, %r6, loop\nexit",
            // Stride 2, signed compare, 32-bit compare, other jump target, signed load.
            "loop:\nldxb %r3, [%r1+0]\nstxb [%r1+8], %r3\nadd %r1, 2\njlt %r1, %r6, loop\nexit",
            "loop:\nldxb %r3, [%r1+0]\nstxb [%r1+8], %r3\nadd %r1, 1\njslt %r1, %r6, loop\nexit",
            "loop:\nldxb %r3, [%r1+0]\nstxb [%r1+8], %r3\nadd %r1, 1\njlt32 %r1, %r6, loop\nexit",
            "loop:\nldxb %r3, [%r1+0]\nstxb [%r1+8], %r3\nadd %r1, 1\njlt %r1, %r6, next\nnext:\nexit",
            "loop:\nldxh %r3, [%r1+0]\nstxh [%r1+8], %r3\nadd %r1, 1\njlt %r1, %r6, loop\nexit",
            "loop:\nldxb %r3, [%r1+0]\nstxb [%r1+8], %r4\nadd %r1, 1\njlt %r1, %r6, loop\nexit",
        ];
        for c in cases {
            assert_eq!(matches(c, 0), None, "{c}");
        }
        // A jump into the middle of the loop.
        let mid = "ja inside\nloop:\nldxb %r3, [%r1+0]\ninside:\nstxb [%r1+8], %r3\nadd %r1, 1\njlt %r1, %r6, loop\nexit";
        assert_eq!(matches(mid, 1), None);
        let last = "ja back\nloop:\nldxb %r3, [%r1+0]\nstxb [%r1+8], %r3\nadd %r1, 1\nback:\njlt %r1, %r6, loop\nexit";
        assert_eq!(matches(last, 1), None);
        // Another jump to the head is fine.
        let head = "ja loop\nloop:\nldxb %r3, [%r1+0]\nstxb [%r1+8], %r3\nadd %r1, 1\njlt %r1, %r6, loop\nexit";
        assert_eq!(matches(head, 1), Some(4));
    }
}
