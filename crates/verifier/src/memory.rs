//! Memory access checks: loads, stores, atomics and legacy packet loads, on the stack, the
//! context, map values, packets and ring-buffer records.

use crate::explore::{Env, Fail, VResult};
use crate::scalar::Scalar;
use crate::state::Ptr;
use crate::state::{ByteKind, PtrKind, STACK_SIZE, State, Value};
use crate::tnum::Tnum;
use waggle_isa::{AtomicOp, Operand, PacketMode, Reg};
use waggle_uapi::{CtxFieldKind, MapType, ProgramType, context};

use crate::BPF_F_RDONLY_PROG;

/// Where an access lands once its bounds are proved.
pub enum Region {
    /// Bytes `[lo, hi)` below frame `frame`'s pointer; `exact` when the offset is known.
    Stack {
        /// Frame number.
        frame: usize,
        /// Lowest byte offset (negative).
        lo: i64,
        /// One past the highest byte offset.
        hi: i64,
        /// The offset when it is a single value.
        exact: Option<i64>,
    },
    /// Somewhere already checked (map value, packet, ring-buffer record).
    Other,
}

fn access_desc(write: bool, size: u64, r: usize, off: i64) -> String {
    let dir = if write { "writing" } else { "reading" };
    let sign = if off < 0 { '-' } else { '+' };
    format!("{dir} *(u{} *)(r{r} {sign} {})", size * 8, off.abs())
}

/// Whether the program type may write packet data directly.
pub(crate) fn may_write_packet(t: ProgramType) -> bool {
    use ProgramType as P;
    matches!(
        t,
        P::SchedCls | P::SchedAct | P::Xdp | P::LwtXmit | P::SkSkb | P::SkMsg | P::LwtSeg6local
    )
}

impl Env<'_> {
    /// The pointer in register `r`, or why it cannot be dereferenced.
    pub fn deref_ptr(&self, st: &State, r: Reg, off: i16, size: u64, write: bool) -> VResult<Ptr> {
        match self.read(st, r)? {
            Value::Ptr(p) if p.maybe_null => {
                let from = self
                    .origin(p.id)
                    .map(|o| format!("r{} is {o}, NULL when there is nothing; ", r.number()))
                    .unwrap_or_default();
                Err(Fail::new(
                    format!("R{} may be NULL", r.number()),
                    format!(
                        "{from}compare it with NULL before {}",
                        access_desc(write, size, r.index(), i64::from(off))
                    ),
                ))
            }
            Value::Ptr(p) => Ok(p),
            _ => Err(Fail::new(
                format!("R{} invalid mem access 'scalar'", r.number()),
                self.btf_scalar_hint(r.number())
                    .unwrap_or_else(|| format!("r{} holds a number, not a pointer", r.number())),
            )),
        }
    }

    /// Check that `[off, off + size)` from pointer `p` (in register `r`) is inside its object
    /// for every value of its variable offset. Sizes from `size_min` to `size` may be accessed.
    ///
    /// `align`: apply the kernel's strict stack alignment of loads and stores (helpers reading
    /// or writing a buffer have no alignment rule).
    #[allow(clippy::too_many_arguments)]
    pub fn region(
        &mut self,
        st: &State,
        r: usize,
        p: &Ptr,
        off: i64,
        size: u64,
        write: bool,
        align: bool,
    ) -> VResult<Region> {
        let total = p.off + off;
        let name = p.kind.name();
        let neg_var = || {
            Fail::new(
                format!(
                    "R{r} min value is negative, either use unsigned index or do a if (index >=0) check."
                ),
                "the variable offset may be negative",
            )
        };
        let size_i = size as i64;
        match p.kind {
            PtrKind::Stack { frame } => {
                let lo = total.saturating_add(p.var.smin);
                let hi = total.saturating_add(p.var.smax).saturating_add(size_i);
                if lo < -STACK_SIZE || hi > 0 {
                    let dir = if write { "write" } else { "read" };
                    return Err(Fail::new(
                        format!("invalid {dir} to stack R{r} off={total} size={size}"),
                        "stack offsets must stay within [-512, 0) of the frame pointer",
                    ));
                }
                if align && size > 1 && !p.var.var.add(Tnum::konst(total as u64)).is_aligned(size) {
                    return Err(Fail::new(
                        format!("misaligned stack access off {total} size {size}"),
                        "stack accesses must be aligned to their size",
                    ));
                }
                let frame = usize::from(frame);
                let sp = st.frames[frame].subprog;
                self.stack_depth[sp] = self.stack_depth[sp].max((-lo) as u32);
                let exact = p.var.const_value().map(|v| total + v as i64);
                Ok(Region::Stack {
                    frame,
                    lo,
                    hi,
                    exact,
                })
            }
            PtrKind::MapValue { map } => {
                let m = self.maps[map as usize];
                // Device maps are read-only for programs whatever their flags
                // (dev_map_init_map() adds BPF_F_RDONLY_PROG).
                let devmap = matches!(m.map_type, MapType::Devmap | MapType::DevmapHash);
                if write && (m.flags & BPF_F_RDONLY_PROG != 0 || devmap) {
                    return Err(Fail::new(
                        "write into map forbidden",
                        "the map was created read-only for programs (BPF_F_RDONLY_PROG)",
                    ));
                }
                if p.var.smin < 0 {
                    return Err(neg_var());
                }
                let lo = total + p.var.smin;
                let hi = total + p.var.umax as i64 + size_i;
                if let Some(l) = m.spin_lock_off
                    && lo < i64::from(l) + 4
                    && hi > i64::from(l)
                {
                    return Err(Fail::new(
                        "bpf_spin_lock cannot be accessed directly by load/store",
                        "use bpf_spin_lock() and bpf_spin_unlock() on the lock field",
                    ));
                }
                if let Some(t) = m.timer_off
                    && lo < i64::from(t) + 16
                    && hi > i64::from(t)
                {
                    return Err(Fail::new(
                        "bpf_timer cannot be accessed directly by load/store",
                        "use the bpf_timer_* helpers on the timer field",
                    ));
                }
                if lo < 0 || hi > i64::from(m.value_size) {
                    let var = if p.var.const_value().is_some() {
                        String::new()
                    } else {
                        format!(" (variable offset up to {})", p.var.umax)
                    };
                    return Err(Fail::new(
                        format!(
                            "invalid access to map value, value_size={} off={total} size={size}{var}",
                            m.value_size
                        ),
                        format!(
                            "the access must stay inside the {}-byte value",
                            m.value_size
                        ),
                    ));
                }
                Ok(Region::Other)
            }
            PtrKind::Slice { rdonly: true, .. } if write => Err(Fail::new(
                format!("R{r} cannot write into rdonly_mem"),
                "this memory is read-only: bpf_dynptr_slice and iterators give read-only \
                 memory (use bpf_dynptr_slice_rdwr to write)",
            )),
            PtrKind::Mem { size: msize } | PtrKind::Slice { size: msize, .. } => {
                if p.var.smin < 0 {
                    return Err(neg_var());
                }
                let lo = total + p.var.smin;
                let hi = total + p.var.umax as i64 + size_i;
                if lo < 0 || hi > i64::from(msize) {
                    return Err(Fail::new(
                        format!(
                            "invalid access to memory, mem_size={msize} off={total} size={size}"
                        ),
                        format!("the access must stay inside the {msize}-byte record"),
                    ));
                }
                Ok(Region::Other)
            }
            PtrKind::Packet | PtrKind::PacketMeta => {
                if !self.prog_type.has_direct_packet_access() {
                    return Err(Fail::new(
                        format!("cannot access packet data in {} programs", self.prog_type),
                        "use a helper such as bpf_skb_load_bytes",
                    ));
                }
                if write && !may_write_packet(self.prog_type) {
                    return Err(Fail::new(
                        "cannot write into packet",
                        format!("{} programs may only read packet data", self.prog_type),
                    ));
                }
                if p.var.smin < 0 {
                    return Err(neg_var());
                }
                if total < 0 || total + size_i > i64::from(p.range) || p.var.umax > 0xffff {
                    let need = total + size_i;
                    return Err(Fail::new(
                        format!(
                            "invalid access to packet, off={total} size={size}, R{r}(id={},off={},r={})",
                            p.id, p.off, p.range
                        ),
                        format!(
                            "compare the pointer with data_end first, e.g. `if ((void *)p + {need} > data_end) return ...;`"
                        ),
                    ));
                }
                Ok(Region::Other)
            }
            PtrKind::MapKey { map } => {
                let ks = i64::from(self.maps[map as usize].key_size);
                if write {
                    return Err(Fail::new(
                        format!("R{r} cannot write into map_key"),
                        "the key a callback receives is read-only",
                    ));
                }
                if p.var.smin < 0 {
                    return Err(neg_var());
                }
                let lo = total + p.var.smin;
                let hi = total + p.var.umax as i64 + size_i;
                if lo < 0 || hi > ks {
                    return Err(Fail::new(
                        format!("invalid access to map key, key_size={ks} off={total} size={size}"),
                        format!("the access must stay inside the {ks}-byte key"),
                    ));
                }
                Ok(Region::Other)
            }
            PtrKind::BtfId { .. } if write => Err(Fail::new(
                format!("only read is supported (R{r} is a kernel object pointer)"),
                "kernel objects reached through BTF pointers are read-only",
            )),
            PtrKind::Ctx
            | PtrKind::PacketEnd
            | PtrKind::ConstMap { .. }
            | PtrKind::Func { .. }
            | PtrKind::Dynptr { .. }
            | PtrKind::Iter
            | PtrKind::BtfId { .. } => Err(Fail::new(
                format!("R{r} invalid mem access '{name}'"),
                format!("a {name} pointer cannot be dereferenced here"),
            )),
        }
    }

    fn ctx_access(
        &self,
        p: &Ptr,
        r: usize,
        off: i64,
        size: u64,
        write: bool,
    ) -> VResult<CtxFieldKind> {
        if p.off != 0 || p.var.const_value() != Some(0) {
            return Err(Fail::new(
                format!(
                    "dereference of modified ctx ptr R{r} off={} disallowed",
                    p.off
                ),
                "access context fields through the original context pointer with a constant offset",
            ));
        }
        if self.prog_type == ProgramType::Unspec {
            return self.plain_ctx_access(off, size, write);
        }
        let Some(layout) = context(self.prog_type) else {
            return Err(Fail::new(
                format!("{} programs have no modelled context", self.prog_type),
                "the context of this program type cannot be read yet",
            ));
        };
        layout.check_access(off, size as u32, write).map_err(|e| {
            Fail::new(
                format!("invalid bpf_context access off={off} size={size}"),
                format!("{e} ({})", layout.name),
            )
        })
    }

    /// A read of `struct bpf_map` through a map pointer: privileged only, inside one number
    /// field of the layout the caller gave (Linux's `check_ptr_to_map_access` and
    /// `btf_struct_walk`; the struct Linux walks is the map type's, which starts with
    /// `struct bpf_map`).
    fn bpf_map_field(&self, p: &Ptr, r: usize, off: i64, size: u64) -> VResult<()> {
        let Some(layout) = &self.opts.bpf_map_struct else {
            return Err(Fail::new(
                format!("R{r} invalid mem access 'map_ptr'"),
                "reading struct bpf_map fields needs the kernel's struct bpf_map layout, which \
                 this loader does not give (a user-space map is no struct bpf_map); pass what \
                 you need in a global variable or map value instead",
            ));
        };
        if !self.opts.privileged {
            return Err(Fail::new(
                "'struct bpf_map' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN",
                "load the program with CAP_BPF and CAP_PERFMON",
            ));
        }
        let off = p.off + off;
        if off < 0 {
            return Err(Fail::new(
                format!("R{r} is map_ptr invalid negative access: off={off}"),
                "struct bpf_map fields are at non-negative offsets",
            ));
        }
        let (off, end) = (off as u64, off as u64 + size);
        if end > u64::from(layout.size) {
            return Err(Fail::new(
                format!("access beyond struct bpf_map at off {off} size {size}"),
                "only the fields of struct bpf_map itself may be read (not those of the map \
                 type's own struct after it)",
            ));
        }
        let Some(f) = layout
            .fields
            .iter()
            .find(|f| u64::from(f.off) <= off && off < u64::from(f.off + f.size))
        else {
            return Err(Fail::new(
                format!("struct bpf_map doesn't have field at offset {off}"),
                "read a field of struct bpf_map, not padding",
            ));
        };
        if f.pointer {
            return Err(Fail::new(
                format!(
                    "reading pointer member {} of struct bpf_map is not supported",
                    f.name
                ),
                "only number fields of struct bpf_map (e.g. max_entries) can be read",
            ));
        }
        if end > u64::from(f.off + f.size) {
            return Err(Fail::new(
                format!(
                    "access beyond the end of member {} (mend:{}) in struct bpf_map with off {off} size {size}",
                    f.name,
                    f.off + f.size
                ),
                format!(
                    "read at most {} bytes from offset {off}",
                    u64::from(f.off + f.size) - off
                ),
            ));
        }
        Ok(())
    }

    /// Plain programs (application hooks, raw test code) have no kernel context struct: the
    /// context is whatever bytes their runner passes. Any naturally aligned scalar access at a
    /// constant offset in `[0, PLAIN_CTX_MAX)` is allowed and recorded, and the runtime
    /// refuses to attach the program where the context is smaller or read-only (as Linux
    /// checks `max_ctx_offset` when a raw tracepoint program attaches).
    fn plain_ctx_access(&self, off: i64, size: u64, write: bool) -> VResult<CtxFieldKind> {
        let end = off + size as i64;
        if off < 0 || end > i64::from(crate::PLAIN_CTX_MAX) || off % size as i64 != 0 {
            return Err(Fail::new(
                format!("invalid bpf_context access off={off} size={size}"),
                format!(
                    "a plain program's context is read at aligned offsets in [0, {})",
                    crate::PLAIN_CTX_MAX
                ),
            ));
        }
        let (far, writes) = self.plain_ctx.get();
        self.plain_ctx.set((far.max(end as u32), writes || write));
        Ok(CtxFieldKind::Scalar)
    }

    /// Read `[lo, hi)` of a stack frame; bytes must be initialised unless the loader may read
    /// uninitialised stack (then they read as unknown numbers, as Linux's
    /// `allow_uninit_stack`).
    fn stack_read(&self, st: &State, r: usize, frame: usize, lo: i64, hi: i64) -> VResult<()> {
        Self::special_read(st, r, frame, lo, hi)?;
        if self.opts.allow_uninit_stack {
            return Ok(());
        }
        let fr = &st.frames[frame];
        for off in lo..hi {
            let (slot, byte) = fr.slot(off);
            if slot.is_none_or(|s| s.bytes[byte] == ByteKind::Invalid) {
                return Err(Fail::new(
                    format!(
                        "invalid read from stack R{r} off {lo} size {} (uninitialised)",
                        hi - lo
                    ),
                    format!(
                        "stack byte at fp{off} is read before it was written; initialise the buffer first"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Record a write of `[lo, hi)` that is not a store instruction (helpers, atomics);
    /// `definite` when exactly those bytes are written. Zero bytes it may write become data.
    pub fn stack_write(
        st: &mut State,
        frame: usize,
        lo: i64,
        hi: i64,
        value: Option<Value>,
        definite: bool,
    ) {
        let fr = &mut st.frames[frame];
        if let (Some(v), true, 8) = (value, definite, hi - lo) {
            let (slot, _) = fr.slot_mut(lo);
            slot.bytes = [ByteKind::Spill; 8];
            slot.spill = v;
            return;
        }
        // A slot at a time (the bytes of [lo, hi) in one slot are consecutive).
        let mut off = lo;
        while off < hi {
            let (slot, byte) = fr.slot_mut(off);
            let n = (8 - byte).min((hi - off) as usize);
            slot.demote_spill();
            for k in &mut slot.bytes[byte..byte + n] {
                if definite || *k == ByteKind::Zero {
                    *k = ByteKind::Misc;
                }
            }
            off += n as i64;
        }
    }

    /// Mark bytes a helper reads (must be initialised) or writes.
    pub fn helper_stack(
        &mut self,
        st: &mut State,
        r: usize,
        region: &Region,
        size_min: u64,
        write: bool,
    ) -> VResult<()> {
        if let Region::Stack {
            frame,
            lo,
            hi,
            exact,
        } = *region
        {
            if write {
                Self::special_write(st, frame, lo, hi, true)?;
                match exact {
                    Some(o) => {
                        Self::stack_write(st, frame, o, o + size_min as i64, None, true);
                        Self::stack_write(st, frame, lo, hi, None, false);
                    }
                    None => Self::stack_write(st, frame, lo, hi, None, false),
                }
            } else {
                self.stack_read(st, r, frame, lo, hi)?;
            }
        }
        Ok(())
    }

    /// `dst = *(size *)(src + off)`.
    pub fn load(
        &mut self,
        st: &mut State,
        size: usize,
        signed: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    ) -> VResult<()> {
        let p = self.deref_ptr(st, src, off, size as u64, false)?;
        let r = src.index();
        let off = i64::from(off);
        let unknown = if signed {
            Scalar::unknown_signed_bytes(size)
        } else {
            Scalar::unknown_bytes(size)
        };
        let v = if let Some(v) = self.btf_load(&p, r, off, size as u64, unknown)? {
            v
        } else if p.kind == PtrKind::Ctx {
            match self.ctx_access(&p, r, off, size as u64, false)? {
                CtxFieldKind::Scalar => Value::Scalar(unknown),
                CtxFieldKind::PacketData => Value::Ptr(Ptr::new(PtrKind::Packet)),
                CtxFieldKind::PacketEnd => Value::Ptr(Ptr::new(PtrKind::PacketEnd)),
                CtxFieldKind::PacketMeta => Value::Ptr(Ptr::new(PtrKind::PacketMeta)),
                // Socket and flow-key pointers are not modelled: as numbers they can be passed
                // around but never dereferenced.
                _ => Value::Scalar(Scalar::UNKNOWN),
            }
        } else if let PtrKind::ConstMap { .. } = p.kind {
            self.bpf_map_field(&p, r, off, size as u64)?;
            Value::Scalar(unknown)
        } else {
            match self.region(st, r, &p, off, size as u64, false, true)? {
                Region::Stack {
                    frame,
                    lo,
                    hi,
                    exact,
                } => {
                    self.stack_read(st, r, frame, lo, hi)?;
                    match exact {
                        Some(o) => self.stack_fill(st, frame, o, size, signed)?,
                        None => Value::Scalar(crate::stack::stack_bytes_value(
                            st, frame, lo, hi, unknown,
                        )),
                    }
                }
                Region::Other => Value::Scalar(
                    self.frozen_constant(&p, off, size, signed)
                        .map_or(unknown, Scalar::konst),
                ),
            }
        };
        st.set_reg(dst.index(), v);
        Ok(())
    }

    /// A load at a constant offset of a frozen map that programs may only read, whose contents
    /// the loader gave: the number there (check_mem_access's `bpf_map_direct_read`).
    fn frozen_constant(&self, p: &Ptr, off: i64, size: usize, signed: bool) -> Option<u64> {
        let PtrKind::MapValue { map } = p.kind else {
            return None;
        };
        if self.maps.get(map as usize)?.flags & BPF_F_RDONLY_PROG == 0 {
            return None;
        }
        let (_, data) = self.opts.frozen_values.iter().find(|(i, _)| *i == map)?;
        let start = usize::try_from(p.off + off + p.var.const_value()? as i64).ok()?;
        let bytes = data.get(start..start.checked_add(size)?)?;
        let mut buf = [0u8; 8];
        buf[..size].copy_from_slice(bytes);
        let v = u64::from_le_bytes(buf);
        Some(if signed && size < 8 {
            let shift = 64 - 8 * size as u32;
            (((v << shift) as i64) >> shift) as u64
        } else {
            v
        })
    }

    fn check_stored_value(
        &self,
        st: &State,
        target: &Ptr,
        v: &Value,
        size: usize,
        src: Option<Reg>,
    ) -> VResult<()> {
        let Value::Ptr(vp) = v else { return Ok(()) };
        let rs = src.map_or(0, |r| r.number());
        match target.kind {
            // Privileged loaders may (allow_ptr_leaks); the field's own rules still apply.
            PtrKind::Ctx if self.opts.privileged => Ok(()),
            PtrKind::Ctx => Err(Fail::new(
                format!("R{rs} leaks addr into ctx"),
                "pointers cannot be stored in the context",
            )),
            PtrKind::Stack { frame } => {
                if size != 8 {
                    return Err(Fail::new(
                        "invalid size of register spill",
                        "pointers are spilled to the stack with 8-byte stores",
                    ));
                }
                if let PtrKind::Stack { frame: pf } = vp.kind
                    && pf > frame
                {
                    return Err(Fail::new(
                        "cannot store a pointer to a callee's stack in a caller's stack",
                        "the callee's stack is gone after it returns",
                    ));
                }
                let _ = st;
                Ok(())
            }
            _ if !self.opts.privileged => Err(Fail::new(
                format!("R{rs} leaks addr into {}", target.kind.name()),
                "unprivileged programs may not store pointers in memory other than the stack",
            )),
            _ => {
                if size != 8 {
                    return Err(Fail::new(
                        format!("R{rs} partial store of a pointer"),
                        "store pointers with 8-byte stores",
                    ));
                }
                Ok(())
            }
        }
    }

    /// `*(size *)(dst + off) = src`.
    pub fn store(
        &mut self,
        st: &mut State,
        size: usize,
        dst: Reg,
        off: i16,
        src: Operand,
    ) -> VResult<()> {
        let (v, sreg) = match src {
            Operand::Reg(r) => (self.read(st, r)?, Some(r)),
            Operand::Imm(i) => (Value::Scalar(Scalar::konst(i as i64 as u64)), None),
        };
        let p = self.deref_ptr(st, dst, off, size as u64, true)?;
        let r = dst.index();
        let off = i64::from(off);
        self.check_stored_value(st, &p, &v, size, sreg)?;
        if p.kind == PtrKind::Ctx {
            self.ctx_access(&p, r, off, size as u64, true)?;
            return Ok(());
        }
        if let Region::Stack {
            frame,
            lo,
            hi,
            exact,
        } = self.region(st, r, &p, off, size as u64, true, true)?
        {
            Self::special_write(st, frame, lo, hi, false)?;
            match exact {
                Some(o) => self.stack_store(st, frame, o, size, v, sreg)?,
                None => {
                    let zero = matches!(v, Value::Scalar(s) if s.const_value() == Some(0));
                    Self::stack_write_var(st, frame, lo, hi, zero);
                }
            }
        }
        Ok(())
    }

    /// A store at a variable stack offset that may write any byte of `[lo, hi)` (Linux's
    /// `check_stack_write_var_off`): spills there are forgotten; zero bytes stay zero only
    /// when the value stored is 0.
    fn stack_write_var(st: &mut State, frame: usize, lo: i64, hi: i64, zero: bool) {
        let fr = &mut st.frames[frame];
        for off in lo..hi {
            let (slot, byte) = fr.slot_mut(off);
            slot.demote_spill();
            if !zero && slot.bytes[byte] == ByteKind::Zero {
                slot.bytes[byte] = ByteKind::Misc;
            }
        }
    }

    /// Atomic read-modify-write.
    pub fn atomic(
        &mut self,
        st: &mut State,
        size: usize,
        op: AtomicOp,
        dst: Reg,
        src: Reg,
        off: i16,
    ) -> VResult<()> {
        let sv = self.read(st, src)?;
        // Privileged loaders may (Linux's is_pointer_value is false under allow_ptr_leaks).
        if matches!(sv, Value::Ptr(_)) && !self.opts.privileged {
            return Err(Fail::new(
                format!("R{} leaks addr into mem", src.number()),
                "atomic operands must be numbers",
            ));
        }
        if op == AtomicOp::CmpXchg
            && !matches!(self.read(st, Reg::R0)?, Value::Scalar(_))
            && !self.opts.privileged
        {
            return Err(Fail::new(
                "R0 leaks addr into mem",
                "cmpxchg compares with r0, which must be a number",
            ));
        }
        let p = self.deref_ptr(st, dst, off, size as u64, true)?;
        if !matches!(
            p.kind,
            PtrKind::Stack { .. }
                | PtrKind::MapValue { .. }
                | PtrKind::Mem { .. }
                | PtrKind::Slice { rdonly: false, .. }
        ) {
            return Err(Fail::new(
                format!(
                    "BPF_ATOMIC stores into R{} {} is not allowed",
                    dst.number(),
                    p.kind.name()
                ),
                "atomic operations work on the stack, map values and ring buffer records",
            ));
        }
        let r = dst.index();
        if let Region::Stack {
            frame,
            lo,
            hi,
            exact,
        } = self.region(st, r, &p, i64::from(off), size as u64, true, true)?
        {
            self.stack_read(st, r, frame, lo, hi)?;
            Self::special_write(st, frame, lo, hi, false)?;
            match exact {
                Some(o) if size == 8 => {
                    Self::stack_write(
                        st,
                        frame,
                        o,
                        o + 8,
                        Some(Value::Scalar(Scalar::UNKNOWN)),
                        true,
                    );
                }
                Some(o) => Self::stack_write(st, frame, o, o + size as i64, None, true),
                None => Self::stack_write(st, frame, lo, hi, None, false),
            }
        }
        if op.fetches() {
            let out = if op == AtomicOp::CmpXchg {
                Reg::R0
            } else {
                src
            };
            st.set_reg(out.index(), Value::Scalar(Scalar::unknown_bytes(size)));
        }
        Ok(())
    }

    /// Legacy `ldabs`/`ldind` packet loads (socket filters and tc).
    pub fn ld_abs(&mut self, st: &mut State, size: usize, mode: PacketMode) -> VResult<()> {
        use ProgramType as P;
        if !matches!(self.prog_type, P::SocketFilter | P::SchedCls | P::SchedAct) {
            return Err(Fail::new(
                "BPF_LD_[ABS|IND] instructions not allowed for this program type",
                "use direct packet access or bpf_skb_load_bytes",
            ));
        }
        if !st.refs.is_empty() {
            return Err(Fail::new(
                "BPF_LD_[ABS|IND] cannot be mixed with socket references",
                "release references before legacy packet loads",
            ));
        }
        match st.reg(6) {
            Value::Ptr(p) if p.kind == PtrKind::Ctx && p.off == 0 => {}
            _ => {
                return Err(Fail::new(
                    "at the time of BPF_LD_ABS|IND R6 != pointer to skb",
                    "legacy packet loads need the context pointer in r6",
                ));
            }
        }
        if let PacketMode::Ind(r) = mode
            && !matches!(self.read(st, r)?, Value::Scalar(_))
        {
            return Err(Fail::new(
                format!("R{} pointer used as packet offset", r.number()),
                "the offset of ldind must be a number",
            ));
        }
        for r in 1..=5 {
            st.set_reg(r, Value::NotInit);
        }
        st.set_reg(0, Value::Scalar(Scalar::unknown_bytes(size)));
        Ok(())
    }
}
