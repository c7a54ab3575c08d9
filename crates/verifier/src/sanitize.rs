//! Pointer arithmetic for loaders without `CAP_PERFMON` (Linux's `sanitize_ptr_alu` and
//! `sanitize_check_bounds`): the kernel masks the offset of `ptr += reg` at run time so that a
//! mispredicted path cannot move the pointer out of its object, which needs
//! - an offset of known sign (else "mixed signed bounds");
//! - a stack or map value pointer, moving within its object, the result in bounds (a stack
//!   pointer at a constant offset);
//! - the same mask on every path through the instruction (one limit per instruction, kept in
//!   [`Spec`](crate::spec::Spec): "from different maps, paths or scalars");
//! - and a speculative path where the offset was masked to 0 (the pointer unchanged).

use crate::explore::{Env, Fail, VResult};
use crate::scalar::Scalar;
use crate::state::{Ptr, PtrKind, STACK_SIZE, State, Value};
use waggle_isa::Reg;

/// `BPF_ALU_SANITIZE_SRC`, `_DST`, `BPF_ALU_NEG_VALUE`, `BPF_ALU_IMMEDIATE`.
const SANITIZE_SRC: u8 = 1;
const SANITIZE_DST: u8 = 2;
const NEG_VALUE: u8 = 4;
const IMMEDIATE: u8 = 8;

const ERR: &str = "pointer arithmetic with it prohibited for !root";

/// One pointer-and-number `add` or `sub` to sanitise.
pub struct PtrAlu {
    /// The pointer before the operation.
    pub ptr: Ptr,
    /// The number.
    pub off: Scalar,
    /// The pointer after it.
    pub res: Ptr,
    /// `sub` (else `add`).
    pub sub: bool,
    /// The destination register.
    pub dst: Reg,
    /// The other register (`None`: an immediate).
    pub src: Option<Reg>,
    /// Whether the pointer was in the destination register.
    pub ptr_is_dst: bool,
}

impl Env<'_> {
    /// The masking limit for `p` (the kernel's `retrieve_ptr_limit`), or the refusal.
    fn ptr_limit(&self, a: &PtrAlu, p: &Ptr, mask_to_left: bool) -> VResult<u32> {
        let op = if a.sub { "sub" } else { "add" };
        let (max, limit) = match p.kind {
            PtrKind::Stack { .. } => (
                STACK_SIZE as u32 + u32::from(mask_to_left),
                (p.var.var.value as i64).wrapping_add(p.off).wrapping_neg() as u32,
            ),
            PtrKind::MapValue { map } => {
                let base = if mask_to_left {
                    p.var.smin
                } else {
                    p.var.umax as i64
                };
                (
                    self.maps[map as usize].value_size,
                    base.wrapping_add(p.off) as u32,
                )
            }
            _ => {
                let r = if a.ptr_is_dst {
                    a.dst.number()
                } else {
                    a.src.map_or(a.dst.number(), |r| r.number())
                };
                return Err(Fail::new(
                    format!("R{r} has pointer with unsupported alu operation, {ERR}"),
                    "without CAP_PERFMON only stack and map value pointers may move by a register",
                ));
            }
        };
        if limit >= max {
            return Err(Fail::new(
                format!(
                    "R{} tried to {op} beyond pointer bounds, {ERR}",
                    a.dst.number()
                ),
                "without CAP_PERFMON the pointer must stay inside its object",
            ));
        }
        Ok(limit)
    }

    /// Check `a` (at slot `pc`, on a speculative path or not), as Linux does for loaders
    /// without `CAP_PERFMON`. `st` is the state before the operation.
    pub fn sanitize_ptr_alu(
        &mut self,
        st: &State,
        pc: usize,
        speculative: bool,
        a: &PtrAlu,
    ) -> VResult<()> {
        // can_skip_alu_sanitation: immediates, and instructions behind a barrier.
        let skip = a.src.is_none() || self.spec.stops_before(pc);
        let off_is_imm = a.off.const_value().is_some();
        let off_is_neg = a.off.smin < 0;
        let mut info = None;
        if !skip && !speculative {
            if !off_is_imm && (a.off.smin < 0) != (a.off.smax < 0) {
                let r = if a.ptr_is_dst {
                    a.src.map_or(a.dst.number(), |r| r.number())
                } else {
                    a.dst.number()
                };
                return Err(Fail::new(
                    format!("R{r} has unknown scalar with mixed signed bounds, {ERR}"),
                    "without CAP_PERFMON the offset must be known non-negative (or negative); \
                     bound it, e.g. with `if (idx < N)` on an unsigned index",
                ));
            }
            let mask_to_left = (!a.sub && off_is_neg) || (a.sub && !off_is_neg);
            let limit = self.ptr_limit(a, &a.ptr, mask_to_left)?;
            let mut state = if off_is_neg { NEG_VALUE } else { 0 };
            state |= if off_is_imm { IMMEDIATE } else { 0 };
            state |= if a.ptr_is_dst {
                SANITIZE_SRC
            } else {
                SANITIZE_DST
            };
            info = Some((mask_to_left, limit, state));
        }
        if !skip && !off_is_imm {
            // The speculative path where the mask truncated the offset to 0.
            let mut s = st.clone();
            s.set_reg(a.dst.index(), Value::Ptr(a.ptr));
            self.spec.pushed.push((s, pc + 1));
        }
        self.sanitize_check_bounds(a)?;
        if let Some((mask_to_left, limit, state)) = info {
            let limit2 = self.ptr_limit(a, &a.res, mask_to_left)?;
            let alu_limit = (limit.wrapping_sub(limit2) as i32).unsigned_abs();
            if !self.spec.set_alu(pc, state, alu_limit) {
                let op = if a.sub { "sub" } else { "add" };
                return Err(Fail::new(
                    format!(
                        "R{} tried to {op} from different maps, paths or scalars, {ERR}",
                        a.dst.number()
                    ),
                    "without CAP_PERFMON this instruction must move the same kind of pointer \
                     by the same kind of offset on every path",
                ));
            }
        }
        Ok(())
    }

    /// The result must stay in bounds (`sanitize_check_bounds`).
    fn sanitize_check_bounds(&self, a: &PtrAlu) -> VResult<()> {
        let p = &a.res;
        let r = a.dst.number();
        match p.kind {
            PtrKind::Stack { .. } => {
                let Some(v) = p.var.const_value() else {
                    return Err(Fail::new(
                        format!(
                            "R{r} variable stack access prohibited for !root, var_off={:?} off={}",
                            p.var.var, p.off
                        ),
                        "without CAP_PERFMON stack pointers only move by constants",
                    ));
                };
                let off = p.off.wrapping_add(v as i64);
                if !(-STACK_SIZE..0).contains(&off) {
                    return Err(Fail::new(
                        format!(
                            "R{r} stack pointer arithmetic goes out of range, prohibited for !root; off={off}"
                        ),
                        "without CAP_PERFMON a stack pointer must stay inside the frame",
                    ));
                }
            }
            PtrKind::MapValue { map } => {
                let m = self.maps[map as usize];
                let lo = p.var.smin.saturating_add(p.off);
                let hi = (p.var.umax as i64).saturating_add(p.off).saturating_add(1);
                let overlaps = |at: Option<u32>, size: i64| {
                    at.is_some_and(|f| lo < i64::from(f) + size && i64::from(f) < hi)
                };
                if lo < 0
                    || hi > i64::from(m.value_size)
                    || overlaps(m.spin_lock_off, 4)
                    || overlaps(m.timer_off, 16)
                {
                    return Err(Fail::new(
                        format!(
                            "R{r} pointer arithmetic of map value goes out of range, prohibited for !root"
                        ),
                        "without CAP_PERFMON a map value pointer must stay inside the value",
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
}
