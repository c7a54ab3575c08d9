//! Scalar values: a tnum plus signed/unsigned 64-bit and 32-bit bounds, kept consistent as the
//! kernel's `reg_bounds_sync` does.

use crate::tnum::Tnum;
use std::fmt;

/// What is known about a number: known bits and four pairs of bounds. Every value the register
/// may hold satisfies all of them at once.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scalar {
    /// Known bits.
    pub var: Tnum,
    /// Unsigned 64-bit minimum.
    pub umin: u64,
    /// Unsigned 64-bit maximum.
    pub umax: u64,
    /// Signed 64-bit minimum.
    pub smin: i64,
    /// Signed 64-bit maximum.
    pub smax: i64,
    /// Unsigned minimum of the low 32 bits.
    pub u32min: u32,
    /// Unsigned maximum of the low 32 bits.
    pub u32max: u32,
    /// Signed minimum of the low 32 bits.
    pub s32min: i32,
    /// Signed maximum of the low 32 bits.
    pub s32max: i32,
    /// Identity shared by registers and spilled slots known to hold the same number (a `mov`
    /// links them, like the kernel's scalar `id`); 0 if none. What a conditional jump learns
    /// about one applies to all (`sync_linked`). Never part of the bounds: [`Scalar::contains`]
    /// and [`Scalar::same_bounds`] ignore it; state comparison maps ids consistently.
    /// With one of its two top bits set (the kernel's `BPF_ADD_CONST64` and `_CONST32`), the
    /// number is the linked one plus [`Scalar::off`], computed in 64 or in 32 bits.
    pub id: u32,
    /// With a top bit of the id set: the constant added since the link (Linux's `reg->off`
    /// for scalars, in `(i32::MIN, i32::MAX]`); 0 otherwise.
    pub off: i32,
}

/// Flag of [`Scalar::id`]: the number is a linked number plus [`Scalar::off`] (`rX += c`
/// after a copy; the kernel's `BPF_ADD_CONST64`).
pub(crate) const ADD_CONST64: u32 = 1 << 31;
/// The same for a 32-bit `wX += c`, zero-extended (`BPF_ADD_CONST32`).
pub(crate) const ADD_CONST32: u32 = 1 << 30;
/// Either flag.
pub(crate) const ADD_CONST: u32 = ADD_CONST64 | ADD_CONST32;

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = self.const_value() {
            return write!(f, "{}", c as i64);
        }
        let mut parts = Vec::new();
        if self.smin != i64::MIN {
            parts.push(format!("smin={}", self.smin));
        }
        if self.smax != i64::MAX {
            parts.push(format!("smax={}", self.smax));
        }
        if self.umin != 0 {
            parts.push(format!("umin={}", self.umin));
        }
        if self.umax != u64::MAX {
            parts.push(format!("umax={}", self.umax));
        }
        if self.var.mask != u64::MAX {
            parts.push(format!("var_off={:?}", self.var));
        }
        write!(f, "scalar({})", parts.join(","))
    }
}

impl Scalar {
    /// Any 64-bit value.
    pub const UNKNOWN: Scalar = Scalar {
        var: Tnum::UNKNOWN,
        umin: 0,
        umax: u64::MAX,
        smin: i64::MIN,
        smax: i64::MAX,
        u32min: 0,
        u32max: u32::MAX,
        s32min: i32::MIN,
        s32max: i32::MAX,
        id: 0,
        off: 0,
    };

    /// Exactly `v`.
    pub const fn konst(v: u64) -> Scalar {
        Scalar {
            var: Tnum::konst(v),
            umin: v,
            umax: v,
            smin: v as i64,
            smax: v as i64,
            u32min: v as u32,
            u32max: v as u32,
            s32min: v as i32,
            s32max: v as i32,
            id: 0,
            off: 0,
        }
    }

    /// Any value in `[0, max]` (unsigned).
    pub fn urange(min: u64, max: u64) -> Scalar {
        let mut s = Scalar::UNKNOWN;
        s.umin = min;
        s.umax = max;
        s.var = Tnum::range(min, max);
        s.synced().unwrap_or(Scalar::UNKNOWN)
    }

    /// Any value in `[min, max]` (signed).
    pub fn srange(min: i64, max: i64) -> Scalar {
        let mut s = Scalar::UNKNOWN;
        s.smin = min;
        s.smax = max;
        s.synced().unwrap_or(Scalar::UNKNOWN)
    }

    /// An unknown value of `bytes` bytes, zero-extended (`bytes` in 1, 2, 4, 8).
    pub fn unknown_bytes(bytes: usize) -> Scalar {
        // The common sizes without syncing (loads and helper results): what `urange` gives.
        match bytes {
            1 => Scalar::unknown_low(0xff),
            2 => Scalar::unknown_low(0xffff),
            4 => Scalar::unknown_low(0xffff_ffff),
            b if b >= 8 => Scalar::UNKNOWN,
            b => Scalar::urange(0, (1u64 << (b * 8)) - 1),
        }
    }

    /// Any value in `[0, max]`, `max` one less than a power of two no larger than `2^32`.
    const fn unknown_low(max: u64) -> Scalar {
        let full32 = max >= 1 << 31;
        Scalar {
            var: Tnum {
                value: 0,
                mask: max,
            },
            umin: 0,
            umax: max,
            smin: 0,
            smax: max as i64,
            u32min: 0,
            u32max: max as u32,
            s32min: if full32 { i32::MIN } else { 0 },
            s32max: if full32 { i32::MAX } else { max as i32 },
            id: 0,
            off: 0,
        }
    }

    /// An unknown value of `bytes` bytes, sign-extended.
    pub fn unknown_signed_bytes(bytes: usize) -> Scalar {
        if bytes >= 8 {
            Scalar::UNKNOWN
        } else {
            let half = 1i64 << (bytes * 8 - 1);
            Scalar::srange(-half, half - 1)
        }
    }

    /// The value, if only one is possible.
    pub fn const_value(&self) -> Option<u64> {
        self.var.is_const().then_some(self.var.value)
    }

    /// Whether the low 32 bits have one possible value.
    pub fn const_value32(&self) -> Option<u32> {
        self.var
            .subreg()
            .is_const()
            .then_some(self.var.value as u32)
    }

    /// The low 32 bits as a zero-extended 64-bit scalar.
    pub fn lo32(&self) -> Scalar {
        if self.umax <= u64::from(u32::MAX) {
            // Already its own low 32 bits: every bound says so (fast path for ALU32 code).
            return *self;
        }
        let mut s = Scalar::UNKNOWN;
        s.var = self.var.subreg();
        s.umin = u64::from(self.u32min);
        s.umax = u64::from(self.u32max);
        s.u32min = self.u32min;
        s.u32max = self.u32max;
        s.s32min = self.s32min;
        s.s32max = self.s32max;
        s.synced().unwrap_or_else(|| Scalar::unknown_bytes(4))
    }

    /// The low 32 bits sign-extended to 64.
    pub fn sext32(&self) -> Scalar {
        let mut s = Scalar::srange(i64::from(self.s32min), i64::from(self.s32max));
        s.u32min = self.u32min;
        s.u32max = self.u32max;
        s.s32min = self.s32min;
        s.s32max = self.s32max;
        s.synced()
            .unwrap_or_else(|| Scalar::unknown_signed_bytes(4))
    }

    /// Truncate to 32 bits and zero-extend, as every ALU32 result is.
    pub fn zext32(&self) -> Scalar {
        if self.umax <= u64::from(u32::MAX) {
            // Already zero-extended.
            return *self;
        }
        let mut s = Scalar::UNKNOWN;
        s.var = self.var.subreg();
        s.umin = 0;
        s.umax = u64::from(u32::MAX);
        if self.umin >> 32 == self.umax >> 32 {
            s.umin = self.umin & 0xffff_ffff;
            s.umax = self.umax & 0xffff_ffff;
        }
        if self.smin >> 32 == self.smax >> 32 {
            s.umin = s.umin.max(self.smin as u64 & 0xffff_ffff);
            s.umax = s.umax.min(self.smax as u64 & 0xffff_ffff);
        }
        if s.umin > s.umax {
            s.umin = 0;
            s.umax = u64::from(u32::MAX);
        }
        s.u32min = self.u32min;
        s.u32max = self.u32max;
        s.s32min = self.s32min;
        s.s32max = self.s32max;
        s.synced().unwrap_or_else(|| Scalar::unknown_bytes(4))
    }

    /// Bring every bound in line with the others; `None` if no value satisfies all of them.
    pub fn synced(self) -> Option<Scalar> {
        // Fast paths for the two commonest cases, with the result the full sync gives: a known
        // number (every bound becomes it, if all allow it) and a number nothing is known of.
        if self.var.mask == 0 {
            let v = self.var.value;
            let ok = (self.umin..=self.umax).contains(&v)
                && (self.smin..=self.smax).contains(&(v as i64))
                && (self.u32min..=self.u32max).contains(&(v as u32))
                && (self.s32min..=self.s32max).contains(&(v as i32));
            return ok.then_some(Scalar::konst(v));
        }
        if self.same_bounds(&Scalar::UNKNOWN) {
            // Linked or not: nothing to sync.
            return Some(self);
        }
        self.synced_full()
    }

    /// [`Scalar::synced`] without fast paths.
    fn synced_full(mut self) -> Option<Scalar> {
        // Two passes of: update_bounds, deduce32, deduce64, deduce_mixed, bound_offset,
        // update_bounds. `update_bounds` is idempotent (it narrows the bounds by the known
        // bits, which it does not change), so the start of the second pass may skip it.
        self.update_bounds();
        for pass in 0..2 {
            let before = self;
            self.deduce32();
            self.deduce64();
            self.deduce_mixed();
            self.bound_offset()?;
            self.update_bounds();
            if !self.valid() {
                return None;
            }
            // A pass that changes nothing would change nothing the second time either.
            if pass == 0 && self == before {
                break;
            }
        }
        Some(self)
    }

    fn valid(&self) -> bool {
        self.umin <= self.umax
            && self.smin <= self.smax
            && self.u32min <= self.u32max
            && self.s32min <= self.s32max
            && self.var.contains_value(self.var.value)
    }

    fn update_bounds(&mut self) {
        let v32 = self.var.subreg();
        let (val, mask) = (v32.value as u32, v32.mask as u32);
        self.s32min = self.s32min.max((val | (mask & 0x8000_0000)) as i32);
        self.s32max = self.s32max.min((val | (mask & 0x7fff_ffff)) as i32);
        self.u32min = self.u32min.max(val);
        self.u32max = self.u32max.min(val | mask);
        let (val, mask) = (self.var.value, self.var.mask);
        self.smin = self.smin.max((val | (mask & (1 << 63))) as i64);
        self.smax = self.smax.min((val | (mask & !(1 << 63))) as i64);
        self.umin = self.umin.max(val);
        self.umax = self.umax.min(val | mask);
    }

    fn deduce32(&mut self) {
        if self.umin >> 32 == self.umax >> 32 {
            self.u32min = self.u32min.max(self.umin as u32);
            self.u32max = self.u32max.min(self.umax as u32);
            if (self.umin as i32) <= (self.umax as i32) {
                self.s32min = self.s32min.max(self.umin as i32);
                self.s32max = self.s32max.min(self.umax as i32);
            }
        }
        if self.smin >> 32 == self.smax >> 32 {
            if (self.smin as u32) <= (self.smax as u32) {
                self.u32min = self.u32min.max(self.smin as u32);
                self.u32max = self.u32max.min(self.smax as u32);
            }
            if (self.smin as i32) <= (self.smax as i32) {
                self.s32min = self.s32min.max(self.smin as i32);
                self.s32max = self.s32max.min(self.smax as i32);
            }
        }
        if (self.u32min as i32) <= (self.u32max as i32) {
            self.s32min = self.s32min.max(self.u32min as i32);
            self.s32max = self.s32max.min(self.u32max as i32);
        }
        if (self.s32min as u32) <= (self.s32max as u32) {
            self.u32min = self.u32min.max(self.s32min as u32);
            self.u32max = self.u32max.min(self.s32max as u32);
        }
    }

    fn deduce64(&mut self) {
        if (self.umin as i64) <= (self.umax as i64) {
            self.smin = self.smin.max(self.umin as i64);
            self.smax = self.smax.min(self.umax as i64);
        }
        if (self.smin as u64) <= (self.smax as u64) {
            self.umin = self.umin.max(self.smin as u64);
            self.umax = self.umax.min(self.smax as u64);
        }
    }

    fn deduce_mixed(&mut self) {
        let hi = !0xffff_ffffu64;
        let new_umin = (self.umin & hi) | u64::from(self.u32min);
        let new_umax = (self.umax & hi) | u64::from(self.u32max);
        self.umin = self.umin.max(new_umin);
        self.umax = self.umax.min(new_umax);
        let new_smin = ((self.smin as u64 & hi) | u64::from(self.u32min)) as i64;
        let new_smax = ((self.smax as u64 & hi) | u64::from(self.u32max)) as i64;
        self.smin = self.smin.max(new_smin);
        self.smax = self.smax.min(new_smax);
    }

    fn bound_offset(&mut self) -> Option<()> {
        if self.umin > self.umax || self.u32min > self.u32max {
            return None;
        }
        let v64 = self.var.intersect(Tnum::range(self.umin, self.umax))?;
        let v32 = v64
            .subreg()
            .intersect(Tnum::range(u64::from(self.u32min), u64::from(self.u32max)))?;
        self.var = v64.clear_subreg().or(v32);
        Some(())
    }

    /// The same bounds and known bits, whatever the ids.
    pub fn same_bounds(&self, o: &Scalar) -> bool {
        Scalar {
            id: 0,
            off: 0,
            ..*self
        } == Scalar {
            id: 0,
            off: 0,
            ..*o
        }
    }

    /// The same number without its link to other registers (what any write but a `mov` gives).
    pub fn unlinked(self) -> Scalar {
        Scalar {
            id: 0,
            off: 0,
            ..self
        }
    }

    /// Whether every value of `other` is a value of `self`.
    pub fn contains(&self, o: &Scalar) -> bool {
        self.umin <= o.umin
            && self.umax >= o.umax
            && self.smin <= o.smin
            && self.smax >= o.smax
            && self.u32min <= o.u32min
            && self.u32max >= o.u32max
            && self.s32min <= o.s32min
            && self.s32max >= o.s32max
            && self.var.contains(o.var)
    }

    /// Values in both, or `None` if there are none.
    pub fn intersect(&self, o: &Scalar) -> Option<Scalar> {
        let s = Scalar {
            var: self.var.intersect(o.var)?,
            umin: self.umin.max(o.umin),
            umax: self.umax.min(o.umax),
            smin: self.smin.max(o.smin),
            smax: self.smax.min(o.smax),
            u32min: self.u32min.max(o.u32min),
            u32max: self.u32max.min(o.u32max),
            s32min: self.s32min.max(o.s32min),
            s32max: self.s32max.min(o.s32max),
            id: self.id,
            off: self.off,
        };
        if !s.valid() {
            return None;
        }
        s.synced()
    }

    /// Whether `v` satisfies every bound.
    pub fn contains_value(&self, v: u64) -> bool {
        self.var.contains_value(v)
            && (self.umin..=self.umax).contains(&v)
            && (self.smin..=self.smax).contains(&(v as i64))
            && (self.u32min..=self.u32max).contains(&(v as u32))
            && (self.s32min..=self.s32max).contains(&(v as i32))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_bytes_as_synced() {
        for (bytes, max) in [(1, 0xffu64), (2, 0xffff), (4, 0xffff_ffff)] {
            let mut s = Scalar::UNKNOWN;
            s.umin = 0;
            s.umax = max;
            s.var = Tnum::range(0, max);
            assert_eq!(
                Scalar::unknown_bytes(bytes),
                s.synced().unwrap(),
                "{bytes} bytes"
            );
        }
    }

    use super::*;

    #[test]
    fn sync_fast_paths_agree_with_the_full_sync() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let edges = [
            0u64,
            1,
            5,
            0x7fff_ffff,
            0x8000_0000,
            u64::MAX,
            1 << 63,
            (1 << 63) - 1,
        ];
        for i in 0..20_000 {
            let v = if i % 2 == 0 {
                edges[i % edges.len()]
            } else {
                next()
            };
            let mut s = Scalar::konst(v);
            // Bounds around v, sometimes excluding it.
            match next() % 5 {
                0 => s.umin = v.wrapping_sub(next() % 3),
                1 => s.umax = v.wrapping_add(next() % 3),
                2 => s.smin = (v as i64).wrapping_sub((next() % 3) as i64),
                3 => s.s32max = (v as i32).wrapping_add((next() % 3) as i32),
                _ => s.u32min = (v as u32).wrapping_sub((next() % 3) as u32),
            }
            assert_eq!(s.synced(), s.synced_full(), "{s:?}");
        }
        assert_eq!(Scalar::UNKNOWN.synced(), Scalar::UNKNOWN.synced_full());
    }

    /// Marsaglia's xorshift64 (13/7/17) from `seed`: deterministic test numbers.
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// The sync as first written: two plain passes.
    fn reference_sync(mut s: Scalar) -> Option<Scalar> {
        for _ in 0..2 {
            s.update_bounds();
            s.deduce32();
            s.deduce64();
            s.deduce_mixed();
            s.bound_offset()?;
            s.update_bounds();
            if !s.valid() {
                return None;
            }
        }
        Some(s)
    }

    #[test]
    fn sync_matches_two_plain_passes() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let edges = [
            0u64,
            1,
            0xff,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            1 << 32,
            1 << 63,
        ];
        for i in 0..200_000 {
            let mut pick = || {
                let r = next();
                match r % 4 {
                    0 => edges[(r >> 8) as usize % edges.len()].wrapping_add((r >> 16) % 3),
                    1 => r >> (r % 64),
                    _ => r,
                }
            };
            let mut s = Scalar::UNKNOWN;
            let (a, b) = (pick(), pick());
            match i % 6 {
                0 => (s.umin, s.umax) = (a.min(b), a.max(b)),
                1 => (s.smin, s.smax) = ((a as i64).min(b as i64), (a as i64).max(b as i64)),
                2 => (s.u32min, s.u32max) = ((a as u32).min(b as u32), (a as u32).max(b as u32)),
                3 => {
                    (s.s32min, s.s32max) = ((a as i32).min(b as i32), (a as i32).max(b as i32));
                }
                4 => s.var = Tnum::range(a.min(b), a.max(b)),
                _ => {
                    let m = pick();
                    s.var = Tnum {
                        value: a & !m,
                        mask: m,
                    };
                    (s.umin, s.u32max) = (b >> 3, a as u32 | 0xff);
                }
            }
            s.id = (i % 3) as u32;
            assert_eq!(s.synced_full(), reference_sync(s), "{s:?}");
        }
    }

    #[test]
    fn konst_and_ranges() {
        let c = Scalar::konst(5);
        assert_eq!(c.synced(), Some(c));
        let r = Scalar::urange(0, 10);
        assert!(r.contains(&c));
        assert!(!c.contains(&r));
        assert_eq!(r.smax, 10);
        assert_eq!(r.u32max, 10);
        let s = Scalar::srange(-4, 4);
        assert!(s.contains_value((-3i64) as u64));
        assert!(!s.contains_value(5));
        let b = Scalar::unknown_bytes(1);
        assert_eq!((b.umin, b.umax), (0, 255));
        assert!(Scalar::konst(1).intersect(&Scalar::konst(2)).is_none());
        let z = Scalar::konst(u64::MAX).zext32();
        assert_eq!(z.const_value(), Some(0xffff_ffff));
    }
}
