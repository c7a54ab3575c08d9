//! What ALU instructions compute, as RFC 9669 defines it: one definition for every engine
//! and for the verifier's constant folding, so they cannot drift apart.

use crate::AluOp;

impl AluOp {
    /// The 64-bit operation on `a` (dst) and `b` (src). Division by zero gives 0, modulo by
    /// zero leaves `a`; shift amounts are masked to 0..64.
    #[inline(always)]
    pub fn eval64(self, a: u64, b: u64) -> u64 {
        match self {
            AluOp::Add => a.wrapping_add(b),
            AluOp::Sub => a.wrapping_sub(b),
            AluOp::Mul => a.wrapping_mul(b),
            AluOp::Div => a.checked_div(b).unwrap_or(0),
            // `wrapping_div` turns i64::MIN / -1 into i64::MIN, as the RFC says.
            AluOp::SDiv if b == 0 => 0,
            AluOp::SDiv => (a as i64).wrapping_div(b as i64) as u64,
            AluOp::Or => a | b,
            AluOp::And => a & b,
            // `wrapping_sh*` masks the shift amount to 0..64.
            AluOp::Lsh => a.wrapping_shl(b as u32),
            AluOp::Rsh => a.wrapping_shr(b as u32),
            AluOp::Arsh => (a as i64).wrapping_shr(b as u32) as u64,
            AluOp::Mod => a.checked_rem(b).unwrap_or(a),
            // Rust's `%` takes the dividend's sign, like C; i64::MIN % -1 wraps to 0.
            AluOp::SMod if b == 0 => a,
            AluOp::SMod => (a as i64).wrapping_rem(b as i64) as u64,
            AluOp::Xor => a ^ b,
            AluOp::Mov => b,
            AluOp::MovSx8 => b as i8 as i64 as u64,
            AluOp::MovSx16 => b as i16 as i64 as u64,
            AluOp::MovSx32 => b as i32 as i64 as u64,
        }
    }

    /// The 32-bit operation on the low halves, zero-extended to 64 bits.
    #[inline(always)]
    pub fn eval32(self, a: u32, b: u32) -> u64 {
        let r = match self {
            AluOp::Add => a.wrapping_add(b),
            AluOp::Sub => a.wrapping_sub(b),
            AluOp::Mul => a.wrapping_mul(b),
            AluOp::Div => a.checked_div(b).unwrap_or(0),
            AluOp::SDiv if b == 0 => 0,
            AluOp::SDiv => (a as i32).wrapping_div(b as i32) as u32,
            AluOp::Or => a | b,
            AluOp::And => a & b,
            AluOp::Lsh => a.wrapping_shl(b),
            AluOp::Rsh => a.wrapping_shr(b),
            AluOp::Arsh => (a as i32).wrapping_shr(b) as u32,
            AluOp::Mod => a.checked_rem(b).unwrap_or(a),
            AluOp::SMod if b == 0 => a,
            AluOp::SMod => (a as i32).wrapping_rem(b as i32) as u32,
            AluOp::Xor => a ^ b,
            AluOp::Mov | AluOp::MovSx32 => b,
            AluOp::MovSx8 => b as i8 as i32 as u32,
            AluOp::MovSx16 => b as i16 as i32 as u32,
        };
        u64::from(r)
    }
}
