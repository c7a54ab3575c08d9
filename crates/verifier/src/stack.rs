//! What stores leave in a stack slot and what loads read back, byte by byte, as Linux's
//! `check_stack_write_fixed_off`, `check_stack_read_fixed_off` and `mark_reg_stack_read`
//! decide it: zero bytes (`STACK_ZERO`), narrow spills of numbers (Linux 6.8+) and the
//! constant keys that let an array lookup skip its NULL check (`get_constant_map_key`,
//! Linux 6.14+).

use crate::explore::{Env, Fail, VResult};
use crate::scalar::{ADD_CONST, Scalar};
use crate::state::{ByteKind, Ptr, PtrKind, Slot, State, Value};
use waggle_isa::Reg;
use waggle_uapi::MapType;

/// Bits needed for the largest value of `s` (the kernel's `get_reg_width`: `fls64(umax)`).
fn width(s: &Scalar) -> u32 {
    64 - s.umax.leading_zeros()
}

/// `s` read back with a load of `size` bytes (the kernel's `coerce_reg_to_size` and
/// `coerce_reg_to_size_sx`): kept when it fits, else exact for a constant, else the unknown
/// number of that size (Linux may keep more bits; never fewer values).
pub fn coerce(s: Scalar, size: usize, signed: bool) -> Scalar {
    if size >= 8 {
        return s;
    }
    let bits = 8 * size as u32;
    if signed {
        let half = 1i64 << (bits - 1);
        if s.smin >= -half && s.smax < half {
            return s;
        }
        if let Some(c) = s.const_value() {
            let shift = 64 - bits;
            return Scalar::konst((((c << shift) as i64) >> shift) as u64);
        }
        return Scalar::unknown_signed_bytes(size);
    }
    if s.umax < 1u64 << bits {
        return s;
    }
    if let Some(c) = s.const_value() {
        return Scalar::konst(c & ((1u64 << bits) - 1));
    }
    if size == 4 {
        return s.zext32().unlinked();
    }
    Scalar::unknown_bytes(size)
}

/// Forget a slot's spilled value, its bytes becoming plain data (the kernel's
/// `scrub_spilled_slot` over a slot holding a spill: zero bytes too).
fn scrub(slot: &mut Slot) {
    if !matches!(slot.spill, Value::NotInit) {
        for b in &mut slot.bytes {
            if *b != ByteKind::Invalid {
                *b = ByteKind::Misc;
            }
        }
        slot.spill = Value::NotInit;
    }
}

impl Env<'_> {
    /// A store of `v` (from register `src`, or an immediate) at the constant stack offset `o`
    /// of `frame`, `size` bytes, as Linux's `check_stack_write_fixed_off`:
    /// - at an 8-aligned offset, with `CAP_BPF`: a number (register or immediate) is
    ///   spilled in the low `size` bytes, the others becoming data (zero bytes stay zero);
    ///   a register whose value fits is linked to its spill;
    /// - a pointer is spilled (8-byte stores only, checked before);
    /// - anything else is data: zero bytes when the value is a known 0, else unknown bytes;
    ///   a spill in the slot is forgotten.
    pub fn stack_store(
        &mut self,
        st: &mut State,
        frame: usize,
        o: i64,
        size: usize,
        v: Value,
        src: Option<Reg>,
    ) -> VResult<()> {
        if let (Some(slot), _) = st.frames[frame].slot(o)
            && matches!(slot.spill, Value::Ptr(_))
            && size != 8
            && !self.opts.privileged
        {
            return Err(Fail::new(
                "attempt to corrupt spilled pointer on stack",
                "a pointer spilled to the stack may only be overwritten as a whole (8 bytes)",
            ));
        }
        if self.spec.on {
            // Spectre v4: Linux follows such a store with a barrier (see `spec.rs`).
            let bytes = st.frames[frame]
                .slot(o)
                .0
                .map_or([ByteKind::Invalid; 8], |s| s.bytes);
            self.spec.store_barrier = crate::spec::store_needs_barrier(
                &bytes,
                size,
                src.is_some() && matches!(v, Value::Ptr(_)),
            );
        }
        let aligned = o.rem_euclid(8) == 0;
        let spill = match v {
            Value::Scalar(mut s) if aligned && self.opts.bpf_capable => {
                if let Some(r) = src {
                    if width(&s) <= 8 * size as u32 {
                        // Linux's assign_scalar_id_before_mov: the spill and the register
                        // stay linked, a bound learnt on either holding for both (a number
                        // with an added constant starts a new link).
                        let old = s;
                        if s.id & ADD_CONST != 0 {
                            s = s.unlinked();
                        }
                        if s.id == 0 && s.const_value().is_none() {
                            s.id = self.fresh_id();
                        }
                        if s != old {
                            st.set_reg(r.index(), Value::Scalar(s));
                        }
                    } else {
                        // A narrowing spill keeps the whole value but breaks the link.
                        s = s.unlinked();
                    }
                }
                Some(Value::Scalar(s))
            }
            Value::Ptr(_) => Some(v),
            _ => None,
        };
        let (slot, byte) = st.frames[frame].slot_mut(o);
        match spill {
            Some(v) => {
                // save_register_state: the spill's bytes, then mark_stack_slot_misc for
                // the rest (zero and never-written bytes stay as they are).
                for (i, b) in slot.bytes.iter_mut().enumerate() {
                    if i < size {
                        *b = ByteKind::Spill;
                    } else if *b == ByteKind::Spill {
                        *b = ByteKind::Misc;
                    }
                }
                slot.spill = v;
            }
            None => {
                scrub(slot);
                let zero = matches!(v, Value::Scalar(s) if s.const_value() == Some(0));
                let kind = if zero { ByteKind::Zero } else { ByteKind::Misc };
                for b in &mut slot.bytes[byte..(byte + size).min(8)] {
                    *b = kind;
                }
            }
        }
        Ok(())
    }

    /// The value a load of `size` bytes at the constant stack offset `o` of `frame` reads
    /// (bytes already checked readable), as Linux's `check_stack_read_fixed_off`:
    /// - a whole 8-byte spill: the spilled value;
    /// - the low bytes of a spilled number, at most its spill size: the number, coerced to
    ///   the load's size (linked to the spill when it fits);
    /// - a spilled pointer read otherwise: refused;
    /// - only zero bytes (or bytes of a spilled 0): 0; anything else: an unknown number.
    pub fn stack_fill(
        &mut self,
        st: &mut State,
        frame: usize,
        o: i64,
        size: usize,
        signed: bool,
    ) -> VResult<Value> {
        let unknown = if signed {
            Scalar::unknown_signed_bytes(size)
        } else {
            Scalar::unknown_bytes(size)
        };
        let (slot, b) = st.frames[frame].slot(o);
        let Some(slot) = slot.copied() else {
            return Ok(Value::Scalar(unknown));
        };
        if b + size > 8 {
            // Accesses are aligned to their size, so this does not happen; be safe anyway.
            return Ok(Value::Scalar(stack_bytes_value(
                st,
                frame,
                o,
                o + size as i64,
                unknown,
            )));
        }
        let spill_size = slot
            .bytes
            .iter()
            .take_while(|k| **k == ByteKind::Spill)
            .count();
        match slot.spill {
            Value::NotInit => {}
            v if size == 8 && spill_size == 8 => return Ok(v),
            Value::Scalar(s) => {
                if b == 0 && size <= spill_size {
                    let mut s = s;
                    if self.opts.bpf_capable && size == 4 && spill_size == 4 && width(&s) <= 32 {
                        // Linked to the register it fills, like a 64-bit `mov`.
                        let old = s;
                        if s.id & ADD_CONST != 0 {
                            s = s.unlinked();
                        }
                        if s.id == 0 && s.const_value().is_none() {
                            s.id = self.fresh_id();
                        }
                        if s != old {
                            let (slot, _) = st.frames[frame].slot_mut(o);
                            slot.spill = Value::Scalar(s);
                        }
                    }
                    if width(&s) > 8 * size as u32 {
                        s = s.unlinked();
                    }
                    return Ok(Value::Scalar(coerce(s, size, signed)));
                }
                let bytes = &slot.bytes[b..b + size];
                let all = |k| bytes.iter().all(|x| *x == k);
                let zero =
                    (all(ByteKind::Spill) && s.const_value() == Some(0)) || all(ByteKind::Zero);
                return Ok(Value::Scalar(if zero { Scalar::konst(0) } else { unknown }));
            }
            Value::Ptr(_) => {
                return Err(Fail::new(
                    "invalid size of register fill",
                    "a pointer spilled to the stack must be read back whole, with an 8-byte load",
                ));
            }
        }
        Ok(Value::Scalar(stack_bytes_value(
            st,
            frame,
            o,
            o + size as i64,
            unknown,
        )))
    }

    /// The constant an array map key on the stack holds, if Linux's `get_constant_map_key`
    /// finds one: `CAP_BPF`, a stack pointer with a constant offset, and either at least
    /// `key_size` zero bytes from there up to the end of its slot, or exactly `key_size`
    /// bytes of a spilled known number (the whole spilled value is the key, as in Linux).
    pub fn const_map_key(&self, st: &State, p: &Ptr, key_size: u32) -> Option<u64> {
        if !self.opts.bpf_capable {
            return None;
        }
        let PtrKind::Stack { frame } = p.kind else {
            return None;
        };
        let off = p.off.checked_add(p.var.const_value()? as i64)?;
        let (slot, b) = st.frames.get(usize::from(frame))?.slot(off);
        let slot = slot?;
        let rest = slot.bytes.get(b..)?;
        let zeros = rest.iter().take_while(|k| **k == ByteKind::Zero).count();
        if zeros >= key_size as usize {
            return Some(0);
        }
        let Value::Scalar(s) = slot.spill else {
            return None;
        };
        let spilled = rest.iter().take_while(|k| **k == ByteKind::Spill).count();
        if spilled != key_size as usize {
            return None;
        }
        s.const_value()
    }
}

/// Whether `bpf_map_lookup_elem` on a map of type `t` may return a value pointer that is
/// never NULL for a constant key below `max_entries` (the kernel's
/// `can_elide_value_nullness`): arrays, whose elements all exist.
pub fn can_elide_value_nullness(t: MapType) -> bool {
    matches!(t, MapType::Array | MapType::PercpuArray)
}

/// A read of stack bytes `[lo, hi)` of `frame` not restoring a spill (the kernel's
/// `mark_reg_stack_read`): 0 when every byte is a zero byte, else `unknown`.
pub fn stack_bytes_value(st: &State, frame: usize, lo: i64, hi: i64, unknown: Scalar) -> Scalar {
    let fr = &st.frames[frame];
    let zero = (lo..hi).all(|off| {
        let (slot, b) = fr.slot(off);
        slot.is_some_and(|s| s.bytes[b] == ByteKind::Zero)
    });
    if zero { Scalar::konst(0) } else { unknown }
}
