//! Refinement of scalars by conditional jumps (the kernel's `reg_set_min_max`), 64- and 32-bit.

use crate::scalar::Scalar;
use waggle_isa::{JmpOp, Width};

/// The comparison that holds on the other side of the jump (`None` for JSET, whose negation
/// "no common bit" has no opcode).
fn negate(op: JmpOp) -> Option<JmpOp> {
    Some(match op {
        JmpOp::Jeq => JmpOp::Jne,
        JmpOp::Jne => JmpOp::Jeq,
        JmpOp::Jgt => JmpOp::Jle,
        JmpOp::Jle => JmpOp::Jgt,
        JmpOp::Jge => JmpOp::Jlt,
        JmpOp::Jlt => JmpOp::Jge,
        JmpOp::Jsgt => JmpOp::Jsle,
        JmpOp::Jsle => JmpOp::Jsgt,
        JmpOp::Jsge => JmpOp::Jslt,
        JmpOp::Jslt => JmpOp::Jsge,
        JmpOp::Jset => return None,
    })
}

/// The outcome of `r op r` (same register on both sides), if fixed.
pub fn same_reg_outcome(op: JmpOp) -> Option<bool> {
    match op {
        JmpOp::Jeq | JmpOp::Jge | JmpOp::Jle | JmpOp::Jsge | JmpOp::Jsle => Some(true),
        JmpOp::Jne | JmpOp::Jgt | JmpOp::Jlt | JmpOp::Jsgt | JmpOp::Jslt => Some(false),
        JmpOp::Jset => None,
    }
}

/// `a` and `b` narrowed to the values for which `a op b` is `truth`; `None` if there are none.
// Inlined into its two calls per jump: the pair it returns is then not copied through memory.
#[inline(always)]
pub fn refine(
    op: JmpOp,
    width: Width,
    a: &Scalar,
    b: &Scalar,
    truth: bool,
) -> Option<(Scalar, Scalar)> {
    let (mut a, mut b) = (*a, *b);
    let w32 = width == Width::W32;
    let wmask: u64 = if w32 { 0xffff_ffff } else { u64::MAX };
    let op = if truth { Some(op) } else { negate(op) };
    match op {
        None => {
            // JSET false: no common bit.
            if a.var.value & b.var.value & wmask != 0 {
                return None;
            }
            if let Some(c) = b.const_value().filter(|_| !w32).or(if w32 {
                b.const_value32().map(u64::from)
            } else {
                None
            }) {
                a.var = a.var.and(crate::tnum::Tnum::konst(!c | !wmask));
            }
        }
        Some(JmpOp::Jset) => {
            if (a.var.value | a.var.mask) & (b.var.value | b.var.mask) & wmask == 0 {
                return None;
            }
            let c = if w32 {
                b.const_value32().map(u64::from)
            } else {
                b.const_value()
            };
            if let Some(c) = c.filter(|c| c.is_power_of_two()) {
                a.var = crate::tnum::Tnum {
                    value: a.var.value | c,
                    mask: a.var.mask & !c,
                };
            }
        }
        Some(JmpOp::Jeq) => {
            if w32 {
                let t = a.var.subreg().intersect(b.var.subreg())?;
                a.var = a.var.clear_subreg().or(t);
                b.var = b.var.clear_subreg().or(t);
                let (lo, hi) = (a.u32min.max(b.u32min), a.u32max.min(b.u32max));
                let (slo, shi) = (a.s32min.max(b.s32min), a.s32max.min(b.s32max));
                for s in [&mut a, &mut b] {
                    (s.u32min, s.u32max, s.s32min, s.s32max) = (lo, hi, slo, shi);
                }
            } else {
                let i = a.intersect(&b)?;
                a = i;
                b = i;
            }
        }
        Some(JmpOp::Jne) => {
            if w32 {
                if let Some(c) = b.const_value32() {
                    exclude32(&mut a, c)?;
                }
                if let Some(c) = a.const_value32() {
                    exclude32(&mut b, c)?;
                }
            } else {
                if let Some(c) = b.const_value() {
                    exclude64(&mut a, c)?;
                }
                if let Some(c) = a.const_value() {
                    exclude64(&mut b, c)?;
                }
            }
        }
        Some(op) => {
            // Ordered comparisons: a OP b, with strict ones needing a +1 step.
            let strict = matches!(op, JmpOp::Jgt | JmpOp::Jlt | JmpOp::Jsgt | JmpOp::Jslt);
            let k = u64::from(strict);
            // Normalise to lo < hi (or <=): `less` <= `greater`.
            let swap = matches!(op, JmpOp::Jgt | JmpOp::Jge | JmpOp::Jsgt | JmpOp::Jsge);
            let (lo, hi) = if swap {
                (&mut b, &mut a)
            } else {
                (&mut a, &mut b)
            };
            let signed = matches!(op, JmpOp::Jsgt | JmpOp::Jsge | JmpOp::Jslt | JmpOp::Jsle);
            // lo < hi (strict) or lo <= hi.
            match (signed, w32) {
                (false, false) => {
                    let new_hi_min = lo.umin.checked_add(k)?;
                    let new_lo_max = hi.umax.checked_sub(k)?;
                    hi.umin = hi.umin.max(new_hi_min);
                    lo.umax = lo.umax.min(new_lo_max);
                }
                (true, false) => {
                    let new_hi_min = lo.smin.checked_add(k as i64)?;
                    let new_lo_max = hi.smax.checked_sub(k as i64)?;
                    hi.smin = hi.smin.max(new_hi_min);
                    lo.smax = lo.smax.min(new_lo_max);
                }
                (false, true) => {
                    let new_hi_min = lo.u32min.checked_add(k as u32)?;
                    let new_lo_max = hi.u32max.checked_sub(k as u32)?;
                    hi.u32min = hi.u32min.max(new_hi_min);
                    lo.u32max = lo.u32max.min(new_lo_max);
                }
                (true, true) => {
                    let new_hi_min = lo.s32min.checked_add(k as i32)?;
                    let new_lo_max = hi.s32max.checked_sub(k as i32)?;
                    hi.s32min = hi.s32min.max(new_hi_min);
                    lo.s32max = lo.s32max.min(new_lo_max);
                }
            }
        }
    }
    Some((a.synced()?, b.synced()?))
}

fn exclude64(s: &mut Scalar, c: u64) -> Option<()> {
    if s.const_value() == Some(c) {
        return None;
    }
    if s.umin == c {
        s.umin = c.checked_add(1)?;
    }
    if s.umax == c {
        s.umax = c.checked_sub(1)?;
    }
    if s.smin == c as i64 {
        s.smin = (c as i64).checked_add(1)?;
    }
    if s.smax == c as i64 {
        s.smax = (c as i64).checked_sub(1)?;
    }
    Some(())
}

fn exclude32(s: &mut Scalar, c: u32) -> Option<()> {
    if s.const_value32() == Some(c) {
        return None;
    }
    if s.u32min == c {
        s.u32min = c.checked_add(1)?;
    }
    if s.u32max == c {
        s.u32max = c.checked_sub(1)?;
    }
    if s.s32min == c as i32 {
        s.s32min = (c as i32).checked_add(1)?;
    }
    if s.s32max == c as i32 {
        s.s32max = (c as i32).checked_sub(1)?;
    }
    Some(())
}

/// Whether jump `op` at `width` is taken between the numbers `x` and `y` (32-bit jumps compare
/// the low halves).
pub(crate) fn holds(op: JmpOp, width: Width, x: u64, y: u64) -> bool {
    let (x, y) = match width {
        Width::W32 => (x & 0xffff_ffff, y & 0xffff_ffff),
        Width::W64 => (x, y),
    };
    let (sx, sy) = match width {
        Width::W32 => (i64::from(x as u32 as i32), i64::from(y as u32 as i32)),
        Width::W64 => (x as i64, y as i64),
    };
    match op {
        JmpOp::Jeq => x == y,
        JmpOp::Jne => x != y,
        JmpOp::Jgt => x > y,
        JmpOp::Jge => x >= y,
        JmpOp::Jlt => x < y,
        JmpOp::Jle => x <= y,
        JmpOp::Jsgt => sx > sy,
        JmpOp::Jsge => sx >= sy,
        JmpOp::Jslt => sx < sy,
        JmpOp::Jsle => sx <= sy,
        JmpOp::Jset => x & y != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refinement_is_sound() {
        let ops = [
            JmpOp::Jeq,
            JmpOp::Jne,
            JmpOp::Jgt,
            JmpOp::Jge,
            JmpOp::Jlt,
            JmpOp::Jle,
            JmpOp::Jsgt,
            JmpOp::Jsge,
            JmpOp::Jslt,
            JmpOp::Jsle,
            JmpOp::Jset,
        ];
        let ranges: [(i64, i64); 5] =
            [(0, 4), (-3, 2), (3, 3), (-1, -1), (0xfffffffe, 0x100000001)];
        for op in ops {
            for width in [Width::W64, Width::W32] {
                for &(a0, a1) in &ranges {
                    for &(b0, b1) in &ranges {
                        let (sa, sb) = (Scalar::srange(a0, a1), Scalar::srange(b0, b1));
                        for truth in [true, false] {
                            let r = refine(op, width, &sa, &sb, truth);
                            for x in a0..=a1 {
                                for y in b0..=b1 {
                                    if holds(op, width, x as u64, y as u64) == truth {
                                        let (ra, rb) = r.unwrap_or_else(|| {
                                            panic!("{op:?} {width:?} {truth} lost {x} {y}")
                                        });
                                        assert!(ra.contains_value(x as u64), "{op:?} {x} {y}");
                                        assert!(rb.contains_value(y as u64), "{op:?} {x} {y}");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
