//! Tristate numbers ("tnums"), after the kernel's `kernel/bpf/tnum.c`.
//!
//! A tnum describes a set of 64-bit values bit by bit: a bit set in `mask` is unknown; the other
//! bits are known and equal to the matching bit of `value` (`value & mask == 0` always).

use std::fmt;

/// A tristate number: known bits in `value`, unknown bits in `mask`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tnum {
    /// Known bits (zero where unknown).
    pub value: u64,
    /// Unknown bits.
    pub mask: u64,
}

impl fmt::Debug for Tnum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:#x}; {:#x})", self.value, self.mask)
    }
}

#[allow(clippy::should_implement_trait)]
impl Tnum {
    /// Every value.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// Exactly `v`.
    pub const fn konst(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// Whether exactly one value is described.
    pub const fn is_const(self) -> bool {
        self.mask == 0
    }

    /// The smallest tnum containing every value of `[min, max]`.
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum {
            value: min & !delta,
            mask: delta,
        }
    }

    /// Shift left by a known amount (< 64).
    pub fn lshift(self, s: u32) -> Tnum {
        Tnum {
            value: self.value << s,
            mask: self.mask << s,
        }
    }

    /// Logical shift right by a known amount (< 64).
    pub fn rshift(self, s: u32) -> Tnum {
        Tnum {
            value: self.value >> s,
            mask: self.mask >> s,
        }
    }

    /// Arithmetic shift right by a known amount, of the low `bits` (32 or 64) bits.
    pub fn arshift(self, s: u32, bits: u32) -> Tnum {
        if bits == 32 {
            Tnum {
                value: u64::from(((self.value as u32 as i32) >> s) as u32),
                mask: u64::from(((self.mask as u32 as i32) >> s) as u32),
            }
        } else {
            Tnum {
                value: ((self.value as i64) >> s) as u64,
                mask: ((self.mask as i64) >> s) as u64,
            }
        }
    }

    /// Sum (wrapping).
    pub fn add(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum {
            value: sv & !mu,
            mask: mu,
        }
    }

    /// Difference (wrapping).
    pub fn sub(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum {
            value: dv & !mu,
            mask: mu,
        }
    }

    /// Bitwise and.
    pub fn and(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum {
            value: v,
            mask: alpha & beta & !v,
        }
    }

    /// Bitwise or.
    pub fn or(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v,
            mask: mu & !v,
        }
    }

    /// Bitwise exclusive or.
    pub fn xor(self, b: Tnum) -> Tnum {
        let v = self.value ^ b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// Product (wrapping), as the kernel's `tnum_mul`.
    pub fn mul(self, b: Tnum) -> Tnum {
        let acc_v = self.value.wrapping_mul(b.value);
        let mut acc_m = Tnum::konst(0);
        let (mut a, mut b) = (self, b);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc_m = acc_m.add(Tnum {
                    value: 0,
                    mask: b.mask,
                });
            } else if a.mask & 1 != 0 {
                acc_m = acc_m.add(Tnum {
                    value: 0,
                    mask: b.value | b.mask,
                });
            }
            a = a.rshift(1);
            b = b.lshift(1);
        }
        Tnum::konst(acc_v).add(acc_m)
    }

    /// Values in both, or `None` when the two disagree on a known bit.
    pub fn intersect(self, b: Tnum) -> Option<Tnum> {
        if (self.value ^ b.value) & !self.mask & !b.mask != 0 {
            return None;
        }
        let v = self.value | b.value;
        let mu = self.mask & b.mask;
        Some(Tnum {
            value: v & !mu,
            mask: mu,
        })
    }

    /// Truncate to the low `bytes` bytes (zero-extended).
    pub fn cast(self, bytes: u32) -> Tnum {
        if bytes >= 8 {
            return self;
        }
        let m = (1u64 << (bytes * 8)) - 1;
        Tnum {
            value: self.value & m,
            mask: self.mask & m,
        }
    }

    /// The low 32 bits.
    pub fn subreg(self) -> Tnum {
        self.cast(4)
    }

    /// The high 32 bits, low bits known zero.
    pub fn clear_subreg(self) -> Tnum {
        self.rshift(32).lshift(32)
    }

    /// Whether every value is a multiple of `size` (a power of two).
    pub fn is_aligned(self, size: u64) -> bool {
        (self.value | self.mask) & (size - 1) == 0
    }

    /// Whether every value of `b` is a value of `self`.
    pub fn contains(self, b: Tnum) -> bool {
        if b.mask & !self.mask != 0 {
            return false;
        }
        self.value == b.value & !self.mask
    }

    /// Whether `v` is one of the values.
    pub fn contains_value(self, v: u64) -> bool {
        v & !self.mask == self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        let r = Tnum::range(0, 7);
        assert_eq!(r, Tnum { value: 0, mask: 7 });
        assert!(r.contains(Tnum::konst(5)));
        assert!(!r.contains(Tnum::konst(8)));
        assert_eq!(Tnum::konst(3).add(Tnum::konst(4)), Tnum::konst(7));
        assert_eq!(Tnum::konst(3).mul(Tnum::konst(5)), Tnum::konst(15));
        assert_eq!(
            Tnum::konst(3).sub(Tnum::konst(5)),
            Tnum::konst(u64::MAX - 1)
        );
        assert!(Tnum::konst(1).intersect(Tnum::konst(2)).is_none());
        assert_eq!(Tnum::UNKNOWN.and(Tnum::konst(0xff)).mask, 0xff);
        assert!(Tnum::range(8, 8).is_aligned(8));
    }

    #[test]
    fn sound_on_samples() {
        let samples = [
            0u64,
            1,
            2,
            3,
            5,
            7,
            8,
            0xff,
            0x100,
            u64::MAX,
            1 << 63,
            12345,
        ];
        for &a in &samples {
            for &b in &samples {
                let ta = Tnum::range(a.min(b), a.max(b));
                let tb = Tnum::range(0, b);
                for &x in &[a.min(b), a.max(b)] {
                    for &y in &[0, b] {
                        assert!(ta.add(tb).contains_value(x.wrapping_add(y)));
                        assert!(ta.sub(tb).contains_value(x.wrapping_sub(y)));
                        assert!(ta.mul(tb).contains_value(x.wrapping_mul(y)));
                        assert!(ta.and(tb).contains_value(x & y));
                        assert!(ta.or(tb).contains_value(x | y));
                        assert!(ta.xor(tb).contains_value(x ^ y));
                    }
                }
            }
        }
    }
}
