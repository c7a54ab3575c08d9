//! Helper calls: availability, argument kinds, map compatibility, references, return values.

use crate::dynptr::DynArg;
use crate::explore::{Env, Fail, VResult};
use crate::memory::Region;
use crate::scalar::Scalar;
use crate::state::{DynptrKind, Frame, Lock, MAX_VAR_OFF, Ptr, PtrKind, State, Value};
use waggle_isa::Reg;
use waggle_uapi::{ArgKind, HelperProto, MapType, RetKind, helper, helper_allowed};

/// What earlier arguments told about later ones.
#[derive(Default)]
struct Meta {
    map: Option<u32>,
    /// The memory argument waiting for its size: (register, pointer or None for NULL, writes).
    mem: Option<(usize, Option<Ptr>, bool)>,
    /// Constant size argument (ringbuf_reserve).
    alloc: Option<u64>,
    release: Option<u32>,
    /// The callback function argument (first slot).
    func: Option<u32>,
    /// The spin lock argument: (map, pointer id, offset).
    lock: Option<(u32, u32, i64)>,
    /// The dynptr argument (to initialise, or an initialised one).
    dynptr: Option<DynArg>,
    /// The key of a `bpf_map_lookup_elem` when it is a known constant on the stack
    /// (Linux's `meta->const_map_key`, see `stack.rs`).
    const_key: Option<u64>,
}

fn arg_fail(r: usize, what: &str, v: &Value, proto: &HelperProto) -> Fail {
    Fail::new(
        format!("R{r} type={v} expected={what}"),
        format!("argument {r} of {} must be {what}", proto.c_name()),
    )
}

/// Which helpers work on which maps (`check_map_func_compatibility`, the common cases).
fn map_compatible(id: u32, t: MapType) -> bool {
    use MapType as M;
    if t.is_map_in_map() {
        // Programs may only look up inner maps.
        return id == 1;
    }
    let keyed = !matches!(
        t,
        M::Ringbuf
            | M::UserRingbuf
            | M::PerfEventArray
            | M::ProgArray
            | M::StackTrace
            | M::CgroupArray
    ) && !t.is_keyless();
    match id {
        // check_map_func_compatibility(): device maps may be looked up (read-only values),
        // not updated by programs; CPU maps only redirect to. (Socket and XSK map lookups
        // give socket pointers, not modelled.)
        1 => keyed && !matches!(t, M::Sockmap | M::Sockhash | M::Xskmap | M::Cpumap),
        2 | 3 => keyed && !matches!(t, M::Xskmap | M::Devmap | M::DevmapHash | M::Cpumap),
        12 => t == M::ProgArray,
        25 | 55 => t == M::PerfEventArray,
        87..=89 => matches!(t, M::Queue | M::Stack | M::BloomFilter),
        130..=134 => t == M::Ringbuf,
        164 => matches!(
            t,
            M::Hash | M::LruHash | M::Array | M::PercpuArray | M::PercpuHash | M::LruPercpuHash
        ),
        _ => true,
    }
}

impl Env<'_> {
    fn map_of(&self, meta: &Meta, r: usize, proto: &HelperProto) -> VResult<crate::MapDesc> {
        meta.map.map(|m| self.maps[m as usize]).ok_or_else(|| {
            Fail::new(
                format!("R{r} map argument missing before this argument"),
                format!("{} needs a map as an earlier argument", proto.c_name()),
            )
        })
    }

    /// Check a pointer argument to `size` bytes of memory (read or written by the helper).
    #[allow(clippy::too_many_arguments)]
    fn mem_arg(
        &mut self,
        st: &mut State,
        r: usize,
        p: &Ptr,
        size_min: u64,
        size_max: u64,
        write: bool,
        proto: &HelperProto,
    ) -> VResult<()> {
        if size_max == 0 {
            return Ok(());
        }
        match p.kind {
            PtrKind::Stack { .. } | PtrKind::MapValue { .. } | PtrKind::Mem { .. } => {}
            PtrKind::Slice { rdonly, .. } if !(write && rdonly) => {}
            PtrKind::MapKey { .. } if !write => {}
            PtrKind::Packet | PtrKind::PacketMeta if proto.pkt_access => {}
            _ => {
                return Err(Fail::new(
                    format!(
                        "R{r} type={} expected=fp, pkt, map_value, mem",
                        p.kind.name()
                    ),
                    format!("argument {r} of {} must point to memory", proto.c_name()),
                ));
            }
        }
        let region = self.region(st, r, p, 0, size_max, write, false)?;
        if let Region::Stack {
            frame,
            lo,
            hi,
            exact,
        } = region
        {
            // Check/mark the bytes of the largest size; only the smallest is surely written.
            let region = Region::Stack {
                frame,
                lo,
                hi,
                exact,
            };
            self.helper_stack(st, r, &region, size_min, write)?;
        }
        Ok(())
    }

    fn check_arg(
        &mut self,
        st: &mut State,
        i: usize,
        kind: ArgKind,
        meta: &mut Meta,
        proto: &HelperProto,
    ) -> VResult<()> {
        let r = i + 1;
        if kind == ArgKind::DontCare {
            return Ok(());
        }
        let v = self.read(st, Reg::new(r as u8).expect("r1..r5"))?;
        let is_null = matches!(v, Value::Scalar(s) if s.const_value() == Some(0));
        let ptr = |what: &str| -> VResult<Ptr> {
            match v {
                Value::Ptr(p) if p.maybe_null => Err(Fail::new(
                    format!("R{r} type={v} expected={what}"),
                    format!(
                        "R{r} may be NULL: compare it with NULL before passing it to {}",
                        proto.c_name()
                    ),
                )),
                Value::Ptr(p) => Ok(p),
                _ => Err(arg_fail(r, what, &v, proto)),
            }
        };
        match kind {
            ArgKind::DontCare => {}
            ArgKind::Anything => {}
            ArgKind::ConstMapPtr => match v {
                Value::Ptr(Ptr {
                    kind: PtrKind::ConstMap { .. },
                    maybe_null: true,
                    ..
                }) => {
                    return Err(Fail::new(
                        format!("R{r} type=map_ptr_or_null expected=map_ptr"),
                        format!(
                            "R{r} may be NULL: compare the inner map with NULL before passing it to {}",
                            proto.c_name()
                        ),
                    ));
                }
                Value::Ptr(Ptr {
                    kind: PtrKind::ConstMap { map },
                    ..
                }) => {
                    // bpf_timer_init: the map the timer's value belongs to.
                    if let Some(m) = meta.map
                        && m != map
                    {
                        // Linux's map_uid is 0 but for inner maps, which timers cannot be in here.
                        return Err(Fail::new(
                            format!(
                                "timer pointer in R1 map_uid=0 doesn't match map pointer in R{r} map_uid=0"
                            ),
                            format!(
                                "the timer is in a value of map {m}; pass that map, not map {map}"
                            ),
                        ));
                    }
                    let t = self.maps[map as usize].map_type;
                    if !map_compatible(proto.id, t) {
                        return Err(Fail::new(
                            format!(
                                "cannot pass map_type {} into func {}#{}",
                                t.as_u32(),
                                proto.c_name(),
                                proto.id
                            ),
                            format!("{} does not work on {t} maps", proto.c_name()),
                        ));
                    }
                    meta.map = Some(map);
                }
                _ => return Err(arg_fail(r, "map_ptr", &v, proto)),
            },
            ArgKind::PtrToMapKey | ArgKind::PtrToMapValue | ArgKind::PtrToUninitMapValue => {
                let m = self.map_of(meta, r, proto)?;
                let p = ptr("fp, map_value, pkt")?;
                let (size, write) = match kind {
                    ArgKind::PtrToMapKey => (m.key_size, false),
                    ArgKind::PtrToMapValue => (m.value_size, false),
                    _ => (m.value_size, true),
                };
                self.mem_arg(st, r, &p, u64::from(size), u64::from(size), write, proto)?;
                if kind == ArgKind::PtrToMapKey
                    && proto.id == 1
                    && crate::stack::can_elide_value_nullness(m.map_type)
                {
                    meta.const_key = self.const_map_key(st, &p, m.key_size);
                }
            }
            ArgKind::PtrToMem
            | ArgKind::PtrToMemOrNull
            | ArgKind::PtrToWritableMem
            | ArgKind::PtrToWritableMemOrNull
            | ArgKind::PtrToUninitMem => {
                let write = kind.is_written();
                if is_null && kind.accepts_null() {
                    meta.mem = Some((r, None, write));
                } else {
                    let p = ptr("fp, pkt, map_value, mem")?;
                    meta.mem = Some((r, Some(p), write));
                }
            }
            ArgKind::PtrToFixedSizeMem(n) => {
                let p = ptr("fp, pkt, map_value, mem")?;
                self.mem_arg(st, r, &p, u64::from(n), u64::from(n), false, proto)?;
            }
            ArgKind::PtrToLong | ArgKind::PtrToInt => {
                let n = if kind == ArgKind::PtrToLong { 8 } else { 4 };
                let p = ptr("fp, map_value")?;
                self.mem_arg(st, r, &p, n, n, true, proto)?;
            }
            ArgKind::ConstSize | ArgKind::ConstSizeOrZero => {
                let Value::Scalar(s) = v else {
                    return Err(arg_fail(r, "scalar", &v, proto));
                };
                let Some((mr, mp, write)) = meta.mem.take() else {
                    return Err(Fail::bare(format!(
                        "R{r} size argument without a memory argument"
                    )));
                };
                if s.smin < 0 {
                    return Err(Fail::new(
                        format!(
                            "R{r} min value is negative, either use unsigned or 'var &= const'"
                        ),
                        "the size may be negative",
                    ));
                }
                if kind == ArgKind::ConstSize && s.umin == 0 {
                    return Err(Fail::new(
                        format!("R{r} invalid zero-sized read"),
                        "the size may be 0 here; check that it is at least 1",
                    ));
                }
                if s.umax >= MAX_VAR_OFF as u64 {
                    return Err(Fail::new(
                        format!(
                            "R{r} unbounded memory access, use 'var &= const' or 'if (var < const)'"
                        ),
                        "the size has no useful upper bound",
                    ));
                }
                match mp {
                    Some(p) => self.mem_arg(st, mr, &p, s.umin, s.umax, write, proto)?,
                    None if s.umax != 0 => {
                        return Err(Fail::new(
                            format!("R{mr} NULL pointer with non-zero size R{r}"),
                            "pass a buffer, or a size of 0",
                        ));
                    }
                    None => {}
                }
            }
            ArgKind::ConstAllocSizeOrZero => match v {
                Value::Scalar(s) if s.const_value().is_some() => meta.alloc = s.const_value(),
                _ => {
                    return Err(Fail::new(
                        format!("R{r} is not a known constant"),
                        format!("the size passed to {} must be a constant", proto.c_name()),
                    ));
                }
            },
            ArgKind::PtrToCtx | ArgKind::PtrToCtxOrNull => {
                if is_null && kind == ArgKind::PtrToCtxOrNull {
                    return Ok(());
                }
                match v {
                    Value::Ptr(p) if p.kind == PtrKind::Ctx && !p.maybe_null => {
                        if p.off != 0 || p.var.const_value() != Some(0) {
                            return Err(Fail::new(
                                format!(
                                    "dereference of modified ctx ptr R{r} off={} disallowed",
                                    p.off
                                ),
                                "pass the original context pointer",
                            ));
                        }
                    }
                    _ => return Err(arg_fail(r, "ctx", &v, proto)),
                }
            }
            ArgKind::PtrToStack | ArgKind::PtrToStackOrNull => {
                if is_null && kind == ArgKind::PtrToStackOrNull {
                    return Ok(());
                }
                if !matches!(ptr("fp")?.kind, PtrKind::Stack { .. }) {
                    return Err(arg_fail(r, "fp", &v, proto));
                }
            }
            ArgKind::PtrToRingbufMem => {
                let p = ptr("ringbuf_mem")?;
                if !matches!(p.kind, PtrKind::Mem { .. }) || p.ref_id == 0 {
                    return Err(arg_fail(r, "ringbuf_mem", &v, proto));
                }
                if p.off != 0 || p.var.const_value() != Some(0) {
                    return Err(Fail::new(
                        format!("R{r} must have zero offset when passed to release func"),
                        "pass the pointer bpf_ringbuf_reserve returned, unmodified",
                    ));
                }
                meta.release = Some(p.ref_id);
            }
            ArgKind::PtrToFunc => match v {
                Value::Ptr(Ptr {
                    kind: PtrKind::Func { pc },
                    off,
                    var,
                    ..
                }) => {
                    if off != 0 || var.const_value() != Some(0) {
                        return Err(Fail::new(
                            format!("dereference of modified func ptr R{r} off={off} disallowed"),
                            "pass the function's address unmodified",
                        ));
                    }
                    meta.func = Some(pc);
                }
                _ => return Err(arg_fail(r, "func", &v, proto)),
            },
            ArgKind::PtrToSpinLock => {
                let p = ptr("map_value")?;
                let PtrKind::MapValue { map } = p.kind else {
                    return Err(arg_fail(r, "map_value", &v, proto));
                };
                if p.var.const_value() != Some(0) {
                    return Err(Fail::new(
                        format!(
                            "R{r} doesn't have constant offset. bpf_spin_lock has to be at the constant offset"
                        ),
                        "pass the address of the lock field itself",
                    ));
                }
                let m = self.maps[map as usize];
                let Some(l) = m.spin_lock_off else {
                    return Err(Fail::new(
                        format!("map {map} has to have BTF in order to use bpf_spin_lock"),
                        "create the map with BTF whose value type has a struct bpf_spin_lock \
                         member (libbpf does this for maps declared in the .maps section)",
                    ));
                };
                if p.off != i64::from(l) {
                    return Err(Fail::new(
                        format!("off {} doesn't point to 'struct bpf_spin_lock'", p.off),
                        "pass the address of the struct bpf_spin_lock field of the map value",
                    ));
                }
                meta.lock = Some((map, p.id, p.off));
            }
            ArgKind::PtrToUninitLocalDynptr => {
                meta.dynptr = Some(self.dynptr_arg(st, r, Some(DynptrKind::Local), None)?);
            }
            ArgKind::PtrToUninitRingbufDynptr => {
                meta.dynptr = Some(self.dynptr_arg(st, r, Some(DynptrKind::Ringbuf), None)?);
            }
            ArgKind::PtrToDynptr => meta.dynptr = Some(self.dynptr_arg(st, r, None, None)?),
            ArgKind::PtrToRingbufDynptrRelease => {
                let d = self.dynptr_arg(st, r, None, Some(DynptrKind::Ringbuf))?;
                if let DynArg::Existing(p) = d {
                    meta.release = Some(p.ref_id);
                }
                meta.dynptr = Some(d);
            }
            ArgKind::PtrToTimer => {
                let p = ptr("map_value")?;
                meta.map = Some(self.timer_arg(r, &p)?);
            }
            ArgKind::PtrToBtfId | ArgKind::PtrToBtfIdOrNull => {
                self.btf_helper_arg(r, &v, kind == ArgKind::PtrToBtfIdOrNull, proto)?
            }
            other => {
                return Err(Fail::new(
                    format!(
                        "{} argument {r} of kind {other:?} not supported",
                        proto.c_name()
                    ),
                    "this kind of helper argument is not modelled by this verifier yet",
                ));
            }
        }
        Ok(())
    }

    /// `call id`. Returns the state entering the callback, for helpers that call one.
    pub fn helper_call(&mut self, st: &mut State, pc: usize, id: i32) -> VResult<Option<State>> {
        if st.lock.is_some() && id != 94 {
            return Err(Fail::new(
                "function calls are not allowed while holding a lock",
                "call bpf_spin_unlock first; only loads, stores and arithmetic may run under a lock",
            ));
        }
        let Some(proto) = u32::try_from(id).ok().and_then(helper) else {
            return Err(Fail::new(
                format!("invalid func unknown#{id}"),
                "no helper has this number",
            ));
        };
        if !helper_allowed(self.prog_type, proto.id) {
            return Err(Fail::new(
                format!(
                    "program of this type cannot use helper {}#{}",
                    proto.c_name(),
                    proto.id
                ),
                format!(
                    "{} is not available to {} programs",
                    proto.c_name(),
                    self.prog_type
                ),
            ));
        }
        if proto.id == 12 && !st.refs.is_empty() {
            return Err(Fail::new(
                "tail_call would lead to reference leak",
                "submit or discard ring buffer records before bpf_tail_call",
            ));
        }
        let mut meta = Meta::default();
        for (i, kind) in proto.args.iter().enumerate() {
            self.check_arg(st, i, *kind, &mut meta, proto)?;
        }
        if let Some((r, _, _)) = meta.mem {
            return Err(Fail::bare(format!(
                "R{r} memory argument without a size (helper table)"
            )));
        }
        if let Some((map, pid, off)) = meta.lock {
            if proto.id == 93 {
                if let Some(l) = st.lock {
                    return Err(Fail::new(
                        "Locking two bpf_spin_locks are not allowed",
                        format!("the lock taken at insn {} is still held", l.pc),
                    ));
                }
                st.lock = Some(Lock {
                    map,
                    id: pid,
                    off,
                    pc,
                });
            } else {
                match st.lock {
                    None => {
                        return Err(Fail::new(
                            "bpf_spin_unlock without taking a lock",
                            "call bpf_spin_lock on the same lock first",
                        ));
                    }
                    Some(l) if l.map != map || l.id != pid || l.off != off => {
                        return Err(Fail::new(
                            "bpf_spin_unlock of different lock",
                            format!("unlock the lock taken at insn {}", l.pc),
                        ));
                    }
                    Some(_) => st.lock = None,
                }
            }
        }
        if proto.id == 197 {
            Self::dynptr_from_mem_data(st)?;
        }
        if let Some(d @ DynArg::Init { kind, .. }) = meta.dynptr {
            // A ring-buffer dynptr is a reference even when the reservation fails: it must
            // be discarded on every path.
            let ref_id = if kind == DynptrKind::Ringbuf {
                let id = self.fresh_id();
                st.refs.push((id, pc));
                id
            } else {
                0
            };
            self.dynptr_init(st, d, ref_id);
        }
        let callback = match meta.func {
            Some(f) if crate::cfg::calls_callback(id) => {
                Some(self.callback_entry(st, pc, proto, f, &meta)?)
            }
            Some(f) if proto.id == 170 => Some(self.timer_callback_entry(pc, f, meta.map)?),
            Some(_) => {
                return Err(Fail::new(
                    format!("{} callbacks not supported", proto.c_name()),
                    "only bpf_loop and bpf_for_each_map_elem callbacks are modelled",
                ));
            }
            None => None,
        };
        let ret = match proto.ret {
            RetKind::Integer => Value::Scalar(Scalar::UNKNOWN),
            RetKind::Void => Value::NotInit,
            RetKind::PtrToMapValue | RetKind::PtrToMapValueOrNull => {
                let m = meta
                    .map
                    .ok_or_else(|| Fail::bare("map value returned without a map argument"))?;
                let desc = self.maps[m as usize];
                let kind = if desc.map_type.is_map_in_map() {
                    // A lookup in a map of maps gives the inner map (or NULL).
                    if desc.inner.is_none() || m as usize >= self.prog_maps {
                        return Err(Fail::new(
                            format!("map {m} holds maps but its inner map is not described"),
                            "give the inner map's description (inner_map_fd) when creating the outer map",
                        ));
                    }
                    PtrKind::ConstMap {
                        map: m + self.prog_maps as u32,
                    }
                } else {
                    PtrKind::MapValue { map: m }
                };
                let mut p = Ptr::new(kind);
                // An array element at a constant index below max_entries always exists
                // (Linux 6.14+, "Support eliding map lookup nullness").
                let elided = meta
                    .const_key
                    .is_some_and(|k| (k as i64) >= 0 && k < u64::from(desc.max_entries));
                if proto.ret.may_be_null() && !elided {
                    p.maybe_null = true;
                    p.id = self.fresh_id();
                    self.origins.push((p.id, pc, proto.name));
                } else if desc.spin_lock_off.is_some() {
                    // Linux gives values with a lock an id (the lock's identity).
                    p.id = self.fresh_id();
                }
                Value::Ptr(p)
            }
            RetKind::PtrToRingbufMemOrNull => {
                let size = meta.alloc.unwrap_or(0);
                if size > u64::from(u32::MAX) {
                    return Err(Fail::bare("ringbuf record size too large"));
                }
                let mut p = Ptr::new(PtrKind::Mem { size: size as u32 });
                p.maybe_null = true;
                p.id = self.fresh_id();
                self.origins.push((p.id, pc, proto.name));
                p.ref_id = self.fresh_id();
                st.refs.push((p.ref_id, pc));
                Value::Ptr(p)
            }
            RetKind::PtrToBtfIdTrusted if proto.id == 158 => self.current_task_btf()?,
            RetKind::PtrToDynptrMemOrNull => {
                let Some(DynArg::Existing(d)) = meta.dynptr else {
                    return Err(Fail::bare(
                        "dynptr memory returned without a dynptr argument",
                    ));
                };
                self.dynptr_slice(&d, meta.alloc.unwrap_or(0), false, pc, proto.name)?
            }
            other => {
                return Err(Fail::new(
                    format!(
                        "{} returns {other:?}, which is not supported",
                        proto.c_name()
                    ),
                    "this kind of helper result is not modelled by this verifier yet",
                ));
            }
        };
        if let Some(rid) = meta.release {
            st.refs.retain(|(r, _)| *r != rid);
            st.for_each_value(|v| {
                if let Value::Ptr(p) = v
                    && p.ref_id == rid
                {
                    *v = Value::NotInit;
                }
            });
        }
        // bpf_dynptr_data on an skb dynptr may pull data in: packet slices die, as in Linux.
        let skb_data = proto.id == 203
            && matches!(
                meta.dynptr,
                Some(DynArg::Existing(Ptr {
                    kind: PtrKind::Dynptr {
                        kind: DynptrKind::Skb,
                        ..
                    },
                    ..
                }))
            );
        if proto.changes_pkt_data || skb_data {
            st.for_each_value(|v| {
                if let Value::Ptr(p) = v
                    && (p.kind.is_packet_family()
                        || matches!(p.kind, PtrKind::Slice { pkt: true, .. }))
                {
                    *v = Value::NotInit;
                }
            });
        }
        for r in 1..=5 {
            st.set_reg(r, Value::NotInit);
        }
        st.set_reg(0, ret);
        Ok(callback)
    }

    /// The state at the start of a callback called by helper `proto` at `pc`: a new frame on
    /// top of the caller's, with the arguments the helper passes (`set_loop_callback_state`,
    /// `set_map_elem_callback_state`).
    fn callback_entry(
        &mut self,
        st: &State,
        pc: usize,
        proto: &HelperProto,
        func: u32,
        meta: &Meta,
    ) -> VResult<State> {
        let sp = self.cfg.subprog_of(func as usize);
        if self.cfg.starts[sp] != func as usize {
            return Err(Fail::bare(format!(
                "callback at insn {func} is not the start of a function"
            )));
        }
        if st.frames.len() >= crate::exec::MAX_CALL_FRAMES {
            return Err(Fail::new(
                format!(
                    "the call stack of {} frames is too deep",
                    st.frames.len() + 1
                ),
                "at most 8 nested calls; inline some functions",
            ));
        }
        if st.frames.iter().any(|f| f.subprog == sp) {
            return Err(Fail::new(
                format!("recursive call to the function at insn {func}"),
                "BPF functions may not call themselves, directly or indirectly",
            ));
        }
        let mut cb = st.clone();
        let caller = cb.cur().regs;
        let mut frame = Frame::new(cb.frames.len() as u8, pc, sp);
        frame.callback = true;
        if proto.id == 164 {
            let map = meta.map.unwrap_or(0);
            frame.regs[1] = Value::Ptr(Ptr::new(PtrKind::ConstMap { map }));
            frame.regs[2] = Value::Ptr(Ptr::new(PtrKind::MapKey { map }));
            frame.regs[3] = Value::Ptr(Ptr::new(PtrKind::MapValue { map }));
            frame.regs[4] = caller[3];
        } else {
            frame.regs[1] = Value::Scalar(Scalar::UNKNOWN);
            frame.regs[2] = caller[3];
        }
        cb.frames.push(frame);
        Ok(cb)
    }
}
