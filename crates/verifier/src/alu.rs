//! Arithmetic on scalars: the abstract transfer functions of every ALU operation, 64- and 32-bit.
//!
//! Each function returns a [`Scalar`] containing every value the concrete operation can produce
//! for any pair of inputs described by its operands (soundness first; precision as the kernel's
//! `adjust_scalar_min_max_vals` where cheap).

use crate::scalar::Scalar;
use waggle_isa::{AluOp, ByteOrder, Width};

/// Concrete semantics, used to fold constants (the ISA's, as every engine uses).
pub fn eval(op: AluOp, width: Width, a: u64, b: u64) -> u64 {
    match width {
        Width::W64 => op.eval64(a, b),
        Width::W32 => op.eval32(a as u32, b as u32),
    }
}

fn finish(s: Scalar) -> Scalar {
    s.synced().unwrap_or(Scalar::UNKNOWN)
}

/// Signed bounds from unsigned ones when both operands are known non-negative.
fn signed_from_unsigned(r: &mut Scalar) {
    if r.umax <= i64::MAX as u64 {
        r.smin = r.umin as i64;
        r.smax = r.umax as i64;
    } else {
        r.smin = i64::MIN;
        r.smax = i64::MAX;
    }
}

/// `a op b` on 64-bit values.
pub fn alu64(op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
    // Like the kernel (`is_safe_to_compute_dst_reg_range`), division and modulo give an
    // unknown number, even of constants: a tighter result would accept programs Linux refuses.
    if matches!(op, AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod) {
        return Scalar::UNKNOWN;
    }
    // Shifts by the width or more give an unknown number, even of constants (Linux's
    // is_safe_to_compute_dst_reg_range): handled below.
    if let (Some(x), Some(y)) = (a.const_value(), b.const_value())
        && !(matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) && y >= 64)
    {
        return Scalar::konst(eval(op, Width::W64, x, y));
    }
    let mut r = Scalar::UNKNOWN;
    match op {
        AluOp::Mov => return *b,
        AluOp::Add => {
            r.var = a.var.add(b.var);
            if let (Some(lo), Some(hi)) = (a.umin.checked_add(b.umin), a.umax.checked_add(b.umax)) {
                r.umin = lo;
                r.umax = hi;
            }
            if let (Some(lo), Some(hi)) = (a.smin.checked_add(b.smin), a.smax.checked_add(b.smax)) {
                r.smin = lo;
                r.smax = hi;
            }
        }
        AluOp::Sub => {
            r.var = a.var.sub(b.var);
            if a.umin >= b.umax {
                r.umin = a.umin - b.umax;
                r.umax = a.umax - b.umin;
            }
            if let (Some(lo), Some(hi)) = (a.smin.checked_sub(b.smax), a.smax.checked_sub(b.smin)) {
                r.smin = lo;
                r.smax = hi;
            }
        }
        AluOp::Mul => {
            r.var = a.var.mul(b.var);
            if let Some(hi) = a.umax.checked_mul(b.umax) {
                r.umin = a.umin * b.umin;
                r.umax = hi;
                signed_from_unsigned(&mut r);
            }
        }
        AluOp::Div => {
            r.umin = 0;
            r.umax = a.umax;
            if let Some(hi) = a.umax.checked_div(b.umin) {
                r.umin = a.umin / b.umax;
                r.umax = hi;
            }
            signed_from_unsigned(&mut r);
        }
        AluOp::Mod => {
            r.umax = a.umax;
            if b.umin > 0 {
                r.umax = a.umax.min(b.umax - 1);
            }
            signed_from_unsigned(&mut r);
        }
        AluOp::SDiv | AluOp::SMod => {}
        AluOp::And => {
            r.var = a.var.and(b.var);
            r.umin = r.var.value;
            r.umax = a.umax.min(b.umax);
            if a.smin >= 0 || b.smin >= 0 {
                signed_from_unsigned(&mut r);
            }
        }
        AluOp::Or => {
            r.var = a.var.or(b.var);
            r.umin = a.umin.max(b.umin);
            r.umax = r.var.value | r.var.mask;
            if a.smin >= 0 && b.smin >= 0 {
                signed_from_unsigned(&mut r);
            }
        }
        AluOp::Xor => {
            r.var = a.var.xor(b.var);
            r.umin = r.var.value;
            r.umax = r.var.value | r.var.mask;
            if a.smin >= 0 && b.smin >= 0 {
                signed_from_unsigned(&mut r);
            }
        }
        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => {
            let Some(s) = b.const_value().filter(|s| *s < 64) else {
                return Scalar::UNKNOWN;
            };
            let s = s as u32;
            match op {
                AluOp::Lsh => {
                    r.var = a.var.lshift(s);
                    if s == 0 || a.umax.leading_zeros() >= s {
                        r.umin = a.umin << s;
                        r.umax = a.umax << s;
                        signed_from_unsigned(&mut r);
                    }
                }
                AluOp::Rsh => {
                    r.var = a.var.rshift(s);
                    r.umin = a.umin >> s;
                    r.umax = a.umax >> s;
                    signed_from_unsigned(&mut r);
                }
                _ => {
                    r.var = a.var.arshift(s, 64);
                    r.smin = a.smin >> s;
                    r.smax = a.smax >> s;
                }
            }
        }
        AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32 => {
            let bytes = match op {
                AluOp::MovSx8 => 1,
                AluOp::MovSx16 => 2,
                _ => 4,
            };
            let half = 1u64 << (bytes * 8 - 1);
            if b.umax < half {
                return *b;
            }
            return Scalar::unknown_signed_bytes(bytes);
        }
    }
    finish(r)
}

/// `a op b` on the low 32 bits, zero-extended.
pub fn alu32(op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
    // Division and modulo of constants are not folded, as in `alu64` (Linux neither).
    if let (Some(x), Some(y), false) = (
        a.const_value32(),
        b.const_value32(),
        matches!(op, AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod)
            || (matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) && b.umax >= 32),
    ) {
        return Scalar::konst(eval(op, Width::W32, u64::from(x), u64::from(y)));
    }
    match op {
        AluOp::Mov => b.zext32(),
        AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32 => {
            let bytes = if op == AluOp::MovSx8 { 1 } else { 2 };
            let lo = b.lo32();
            if op == AluOp::MovSx32 {
                return lo;
            }
            if lo.umax < (1u64 << (bytes * 8 - 1)) {
                return lo;
            }
            Scalar::unknown_signed_bytes(bytes).zext32()
        }
        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => {
            // Linux gives up on the whole register (no zero-extension either) unless the
            // amount is a known number below 32 (is_safe_to_compute_dst_reg_range).
            let Some(s) = b.const_value32().filter(|_| b.umax < 32) else {
                return Scalar::UNKNOWN;
            };
            let sc = Scalar::konst(u64::from(s));
            match op {
                AluOp::Arsh => alu64(AluOp::Arsh, &a.sext32(), &sc).zext32(),
                _ => alu64(op, &a.lo32(), &sc).zext32(),
            }
        }
        // The same for division and modulo: an unknown 64-bit number, as Linux has it.
        AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod => Scalar::UNKNOWN,
        _ => alu64(op, &a.lo32(), &b.lo32()).zext32(),
    }
}

/// `dst = -dst`.
pub fn neg(width: Width, a: &Scalar) -> Scalar {
    match width {
        Width::W64 => alu64(AluOp::Sub, &Scalar::konst(0), a),
        Width::W32 => alu32(AluOp::Sub, &Scalar::konst(0), a),
    }
}

/// Byte-order conversion of the low `bits` bits, zero-extended.
pub fn endian(order: ByteOrder, bits: u8, a: &Scalar) -> Scalar {
    if let Some(v) = a.const_value() {
        let swap = !matches!(order, ByteOrder::ToLe);
        let r = match (bits, swap) {
            (16, false) => u64::from(v as u16),
            (32, false) => u64::from(v as u32),
            (16, true) => u64::from((v as u16).swap_bytes()),
            (32, true) => u64::from((v as u32).swap_bytes()),
            (_, false) => v,
            (_, true) => v.swap_bytes(),
        };
        return Scalar::konst(r);
    }
    match (order, bits) {
        (ByteOrder::ToLe, 64) => *a,
        (ByteOrder::ToLe, 32) => a.zext32(),
        (ByteOrder::ToLe, _) => {
            let mut r = Scalar::UNKNOWN;
            r.var = a.var.cast(2);
            r.umax = 0xffff;
            if a.umax <= 0xffff {
                r.umin = a.umin;
                r.umax = a.umax;
            }
            finish(r)
        }
        (_, b) if b < 64 => Scalar::unknown_bytes(usize::from(b / 8)),
        _ => Scalar::UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPS: [AluOp; 13] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::SDiv,
        AluOp::Mod,
        AluOp::SMod,
        AluOp::Or,
        AluOp::And,
        AluOp::Xor,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Arsh,
    ];

    /// Exhaustively check small ranges: each concrete result is inside the abstract one.
    #[test]
    fn sound_on_small_ranges() {
        let ranges: [(i64, i64); 7] = [
            (0, 3),
            (-2, 2),
            (5, 9),
            (-9, -5),
            (60, 66),
            (0xfffffff0, 0x100000004),
            (i64::MAX - 2, i64::MAX),
        ];
        for op in OPS {
            for &(a0, a1) in &ranges {
                for &(b0, b1) in &ranges {
                    let sa = Scalar::srange(a0, a1);
                    let sb = Scalar::srange(b0, b1);
                    for width in [Width::W64, Width::W32] {
                        let r = match width {
                            Width::W64 => alu64(op, &sa, &sb),
                            Width::W32 => alu32(op, &sa, &sb),
                        };
                        for x in a0..=a1 {
                            for y in b0..=b1 {
                                let v = eval(op, width, x as u64, y as u64);
                                let shift = matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh);
                                let bits = if width == Width::W64 { 64 } else { 32 };
                                if shift && (y < 0 || y >= bits) {
                                    continue;
                                }
                                assert!(
                                    r.contains_value(v),
                                    "{op:?} {width:?} {x} {y} = {v:#x} not in {r:?} ({sa:?}, {sb:?})"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn precise_enough() {
        let r = alu64(AluOp::And, &Scalar::UNKNOWN, &Scalar::konst(0xff));
        assert_eq!((r.umin, r.umax), (0, 255));
        let r = alu64(AluOp::Add, &Scalar::urange(0, 10), &Scalar::konst(4));
        assert_eq!((r.umin, r.umax), (4, 14));
        let r = alu32(AluOp::Mov, &Scalar::UNKNOWN, &Scalar::UNKNOWN);
        assert_eq!(r.umax, u64::from(u32::MAX));
        let r = alu64(AluOp::Rsh, &Scalar::UNKNOWN, &Scalar::konst(60));
        assert_eq!(r.umax, 15);
    }
}
