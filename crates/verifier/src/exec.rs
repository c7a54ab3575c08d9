//! Checking one instruction: registers, arithmetic, jumps, calls, exit, 64-bit immediates.
//! Memory instructions are in `memory.rs`, helper calls in `helpers.rs`.

use crate::alu::{alu32, alu64, endian, neg};
use crate::branch::{refine, same_reg_outcome};
use crate::explore::{Env, Fail, Flow, VResult};
use crate::scalar::{ADD_CONST, ADD_CONST32, ADD_CONST64, Scalar};
use crate::state::{Frame, MAX_VAR_OFF, Ptr, PtrKind, State, Value};
use waggle_isa::{AluOp, CallTarget, Insn, JmpOp, LddwKind, Operand, Reg, Width};
use waggle_uapi::{MapType, ProgramType};

/// Most frames on the call stack (the kernel's `MAX_CALL_FRAMES`).
pub const MAX_CALL_FRAMES: usize = 8;

impl Env<'_> {
    /// Read register `r`, which must be initialised.
    #[inline(always)]
    pub fn read(&self, st: &State, r: Reg) -> VResult<Value> {
        let v = *st.reg(r.index());
        if matches!(v, Value::NotInit) {
            return Err(self.not_init(st, r));
        }
        Ok(v)
    }

    /// The refusal for reading uninitialised register `r`.
    #[cold]
    fn not_init(&self, st: &State, r: Reg) -> Fail {
        let hint = if r == Reg::R0 {
            "r0 is read before anything was written to it (helpers and calls set it; set it before exit)".to_owned()
        } else if (1..=5).contains(&r.number()) && st.cur().regs[0] != Value::NotInit {
            format!(
                "r{0} is not initialised here; note that calls clobber r1-r5, so r{0} must be set again after a call",
                r.number()
            )
        } else {
            format!("r{} is read before anything was written to it", r.number())
        };
        Fail::new(format!("R{} !read_ok", r.number()), hint)
    }

    /// Check the instruction at `pc` in state `st`, updating it.
    pub fn step(&mut self, st: &mut State, pc: usize) -> VResult<Flow> {
        let insn = self.insns[pc];
        match insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(st, width, op, dst, src)?,
            Insn::Neg { width, dst } => match self.read(st, dst)? {
                Value::Scalar(s) => {
                    st.set_reg(dst.index(), Value::Scalar(neg(width, &s).unlinked()));
                }
                // Linux lets privileged loaders (allow_ptr_leaks) turn a pointer into a number.
                _ if self.opts.privileged => {
                    st.set_reg(dst.index(), Value::Scalar(Scalar::UNKNOWN))
                }
                _ => {
                    return Err(Fail::new(
                        format!("R{} pointer arithmetic with neg prohibited", dst.number()),
                        "a pointer cannot be negated",
                    ));
                }
            },
            Insn::Endian { order, bits, dst } => match self.read(st, dst)? {
                Value::Scalar(s) => {
                    let r = endian(order, bits, &s).unlinked();
                    st.set_reg(dst.index(), Value::Scalar(r));
                }
                _ if self.opts.privileged => {
                    st.set_reg(dst.index(), Value::Scalar(Scalar::UNKNOWN))
                }
                _ => {
                    return Err(Fail::new(
                        format!("R{} pointer arithmetic prohibited", dst.number()),
                        "byte swapping a pointer is not allowed",
                    ));
                }
            },
            Insn::Lddw { dst, kind, imm } => {
                let v = self.lddw(kind, imm, pc)?;
                st.set_reg(dst.index(), v);
                return Ok(Flow::Next(pc + 2));
            }
            Insn::LddwHigh => return Err(Fail::bare("invalid second half of lddw reached")),
            Insn::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => self.load(st, size.bytes(), signed, dst, src, off)?,
            Insn::Store {
                size,
                dst,
                off,
                src,
            } => self.store(st, size.bytes(), dst, off, src)?,
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => self.atomic(st, size.bytes(), op, dst, src, off)?,
            Insn::LoadPacket { size, mode, .. } => self.ld_abs(st, size.bytes(), mode)?,
            Insn::Ja { .. } => {
                return Ok(Flow::Next(insn.jump_target(pc).unwrap_or(0) as usize));
            }
            Insn::Jump {
                width,
                op,
                dst,
                src,
                ..
            } => {
                let target = insn.jump_target(pc).unwrap_or(0) as usize;
                return self.cond(st, width, op, dst, src, target);
            }
            Insn::Call(CallTarget::Helper(id)) => {
                if let Some(cb) = self.helper_call(st, pc, id)? {
                    let target = self.cfg.starts[cb.cur().subprog];
                    return Ok(Flow::Cond {
                        taken: Some(cb),
                        fall: Some(st.clone()),
                        target,
                    });
                }
            }
            Insn::Call(CallTarget::Local(_)) => {
                let target = insn.jump_target(pc).unwrap_or(0) as usize;
                return self.local_call(st, pc, target);
            }
            Insn::Call(CallTarget::Kfunc { btf_id, .. }) => self.kfunc_call(st, pc, btf_id)?,
            Insn::Callx { .. } => {
                return Err(Fail::new(
                    "indirect call (callx) not supported",
                    "call functions directly",
                ));
            }
            // Jumps when the program's loop budget is spent: both ways are possible. Loops
            // through it converge at it like iterator loops (see `explore.rs`).
            Insn::MayGoto { .. } => {
                let target = insn.jump_target(pc).unwrap_or(0) as usize;
                return Ok(Flow::Cond {
                    taken: Some(st.clone()),
                    fall: Some(take(st)),
                    target,
                });
            }
            Insn::Exit => return self.exit(st),
        }
        Ok(Flow::Next(pc + 1))
    }

    /// A call of a kernel function, known by name (the few modelled ones).
    fn kfunc_call(&mut self, st: &mut State, pc: usize, btf_id: i32) -> VResult<()> {
        let name = self
            .kfuncs
            .iter()
            .find(|(slot, _)| *slot == pc)
            .map(|(_, n)| n.as_str());
        if st.lock.is_some() {
            return Err(Fail::new(
                "function calls are not allowed while holding a lock",
                "call bpf_spin_unlock first",
            ));
        }
        if let Some(n) = name
            && crate::dynptr::KFUNCS.contains(&n)
        {
            return self.dynptr_kfunc(st, pc, n);
        }
        match name {
            Some("bpf_rcu_read_lock") => {
                if st.rcu {
                    return Err(Fail::new(
                        "nested rcu read lock (kernel function bpf_rcu_read_lock)",
                        "call bpf_rcu_read_unlock before locking again",
                    ));
                }
                st.rcu = true;
            }
            Some("bpf_rcu_read_unlock") => {
                if !st.rcu {
                    return Err(Fail::new(
                        "unmatched rcu read unlock (kernel function bpf_rcu_read_unlock)",
                        "call bpf_rcu_read_lock first",
                    ));
                }
                st.rcu = false;
            }
            Some(n) => {
                return Err(Fail::new(
                    format!("kernel function {n} not supported"),
                    "the kfuncs modelled by this verifier are bpf_rcu_read_lock/unlock, the \
                     dynptr kfuncs and bpf_iter_num_new/next/destroy",
                ));
            }
            None => {
                return Err(Fail::new(
                    format!("kernel function call (btf_id {btf_id}) not supported"),
                    "kfuncs are known by name only; this call has none",
                ));
            }
        }
        for r in 0..=5 {
            st.set_reg(r, Value::NotInit);
        }
        Ok(())
    }

    fn lddw(&mut self, kind: LddwKind, imm: u64, pc: usize) -> VResult<Value> {
        match kind {
            LddwKind::Imm => Ok(Value::Scalar(Scalar::konst(imm))),
            LddwKind::Func => Ok(Value::Ptr(Ptr::new(PtrKind::Func {
                pc: crate::cfg::func_target(pc, imm) as u32,
            }))),
            LddwKind::MapIdx | LddwKind::MapIdxValue => {
                let idx = imm as u32;
                let Some(m) = self.maps[..self.prog_maps].get(idx as usize) else {
                    return Err(Fail::new(
                        format!("map index {idx} out of range ({} maps)", self.prog_maps),
                        "the program references a map that was not given",
                    ));
                };
                // Linux's check_map_prog_compatibility: these types may not use such maps.
                if m.spin_lock_off.is_some() {
                    let who = match self.prog_type {
                        ProgramType::SocketFilter => Some("socket filter"),
                        ProgramType::Kprobe
                        | ProgramType::Tracepoint
                        | ProgramType::PerfEvent
                        | ProgramType::RawTracepoint
                        | ProgramType::RawTracepointWritable => Some("tracing"),
                        _ => None,
                    };
                    if let Some(who) = who {
                        return Err(Fail::new(
                            format!("{who} progs cannot use bpf_spin_lock yet"),
                            format!(
                                "map {idx} holds a struct bpf_spin_lock; use it from another \
                                 program type (e.g. tc or xdp)"
                            ),
                        ));
                    }
                }
                if kind == LddwKind::MapIdx {
                    return Ok(Value::Ptr(Ptr::new(PtrKind::ConstMap { map: idx })));
                }
                let off = u64::from((imm >> 32) as u32);
                if m.map_type != MapType::Array || m.max_entries != 1 {
                    return Err(Fail::new(
                        format!(
                            "direct value access on map {idx} ({}) not supported",
                            m.map_type
                        ),
                        "direct value loads need a single-element array map (global data)",
                    ));
                }
                if off >= u64::from(m.value_size) {
                    return Err(Fail::new(
                        format!(
                            "invalid access to map value pointer, value_size={} off={off}",
                            m.value_size
                        ),
                        "the offset is past the end of the value",
                    ));
                }
                let mut p = Ptr::new(PtrKind::MapValue { map: idx });
                p.off = off as i64;
                Ok(Value::Ptr(p))
            }
            other => Err(Fail::new(
                format!("lddw of kind {other:?} not supported"),
                "verify before relocation: reference maps with map_idx / map_idx_value",
            )),
        }
    }

    fn alu(
        &mut self,
        st: &mut State,
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Operand,
    ) -> VResult<()> {
        let d = dst.index();
        // A register may hold 0 (the result is defined), an immediate may not (Linux).
        if let (Operand::Imm(0), AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod) = (src, op) {
            return Err(Fail::new(
                "div by zero",
                "an immediate divisor of 0 is refused; divide by a register if 0 is possible",
            ));
        }
        if let (Operand::Imm(i), AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) = (src, op) {
            let bits = if width == Width::W64 { 64 } else { 32 };
            if i < 0 || i >= bits {
                return Err(Fail::new(
                    format!("invalid shift {i}"),
                    format!("shift amounts must be in [0, {bits})"),
                ));
            }
        }
        // Numbers on both sides, the common case: computed in place, without copying whole
        // register values around. Anything else (pointers, uninitialised registers, moves)
        // takes the general path below.
        if !matches!(
            op,
            AluOp::Mov | AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32
        ) {
            let regs = &st.cur().regs;
            let b = match src {
                Operand::Imm(i) => Some(Scalar::konst(i as i64 as u64)),
                Operand::Reg(r) => match &regs[r.index()] {
                    Value::Scalar(b) => Some(*b),
                    _ => None,
                },
            };
            if let (Some(b), Value::Scalar(a)) = (b, &regs[d]) {
                let r = match width {
                    Width::W64 => alu64(op, a, &b),
                    Width::W32 => alu32(op, a, &b),
                };
                // Any result but a copy is a new number, linked to nothing; but for a linked
                // number plus a constant (Linux 6.11+, see `add_const_link`).
                let mut r = r.unlinked();
                if a.id != 0
                    && matches!(op, AluOp::Add | AluOp::Sub)
                    && src != Operand::Reg(dst)
                    && self.opts.bpf_capable
                {
                    r = add_const_link(a, &b, op == AluOp::Sub, width == Width::W32, r);
                }
                st.cur_mut().regs[d] = Value::Scalar(r);
                return Ok(());
            }
        }
        let sv = match src {
            Operand::Reg(r) => self.read(st, r)?,
            Operand::Imm(i) => Value::Scalar(Scalar::konst(i as i64 as u64)),
        };
        if op == AluOp::Mov {
            let v = match (width, sv) {
                (Width::W64, Value::Scalar(s)) => Value::Scalar(self.link(st, src, s)),
                (Width::W64, v) => v,
                // A 32-bit copy of a number that fits in 32 bits is the same number: linked,
                // as Linux does since 6.9 (`is_src_reg_u32`).
                (Width::W32, Value::Scalar(s)) if s.umax <= u64::from(u32::MAX) => {
                    Value::Scalar(self.link(st, src, s))
                }
                (Width::W32, Value::Scalar(s)) => Value::Scalar(s.zext32().unlinked()),
                (Width::W32, _) if self.opts.privileged => Value::Scalar(Scalar::unknown_bytes(4)),
                (Width::W32, _) => {
                    return Err(Fail::new(
                        format!("R{} partial copy of pointer", dst.number()),
                        "copy pointers with 64-bit mov",
                    ));
                }
            };
            st.set_reg(d, v);
            return Ok(());
        }
        // Only error messages use it: build it lazily.
        let name = || format!("{op:?}").to_lowercase();
        if matches!(op, AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32) {
            let Value::Scalar(s) = sv else {
                return Err(Fail::new(
                    format!(
                        "R{} sign-extending move of a pointer prohibited",
                        dst.number()
                    ),
                    "only numbers can be sign-extended",
                ));
            };
            let bits = match op {
                AluOp::MovSx8 => 8,
                AluOp::MovSx16 => 16,
                _ => 32,
            };
            // No sign to extend: a copy, linked like one (Linux 6.7).
            let r = if s.umax < 1 << (bits - 1) && !(width == Width::W32 && bits == 32) {
                self.link(st, src, s)
            } else {
                match width {
                    Width::W64 => alu64(op, &Scalar::UNKNOWN, &s),
                    Width::W32 => alu32(op, &Scalar::UNKNOWN, &s),
                }
                .unlinked()
            };
            st.set_reg(d, Value::Scalar(r));
            return Ok(());
        }
        let dv = self.read(st, dst)?;
        let result = match (dv, sv) {
            (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(
                match width {
                    Width::W64 => alu64(op, &a, &b),
                    Width::W32 => alu32(op, &a, &b),
                }
                .unlinked(),
            ),
            (Value::Ptr(p), other) | (other, Value::Ptr(p)) => {
                if width == Width::W32 {
                    // The kernel lets privileged programs subtract pointers in 32 bits (e.g.
                    // `data_end - data` on u32 fields): the result is an unknown number, all
                    // 64 bits of it, as Linux has it (`__mark_reg_unknown`, no zero-extension:
                    // a later 32-bit copy of it is then not linked to it).
                    if op == AluOp::Sub && self.opts.privileged {
                        st.set_reg(d, Value::Scalar(Scalar::UNKNOWN));
                        return Ok(());
                    }
                    return Err(Fail::new(
                        format!("R{} 32-bit pointer arithmetic prohibited", dst.number()),
                        "use 64-bit arithmetic on pointers",
                    ));
                }
                let dst_is_ptr = matches!(dv, Value::Ptr(_));
                match (other, op) {
                    (Value::Scalar(b), AluOp::Add | AluOp::Sub)
                        if dst_is_ptr || op == AluOp::Add =>
                    {
                        let sub = op == AluOp::Sub;
                        let res = self.ptr_add(p, &b, sub, dst)?;
                        if self.spec.on {
                            let a = crate::sanitize::PtrAlu {
                                ptr: p,
                                off: b,
                                res,
                                sub,
                                dst,
                                src: match src {
                                    Operand::Reg(r) => Some(r),
                                    Operand::Imm(_) => None,
                                },
                                ptr_is_dst: dst_is_ptr,
                            };
                            self.sanitize_ptr_alu(st, self.spec.pc, self.spec.cur_spec, &a)?;
                        }
                        Value::Ptr(res)
                    }
                    (Value::Ptr(q), AluOp::Sub)
                        if p.kind.is_packet_family() && q.kind.is_packet_family() =>
                    {
                        Value::Scalar(Scalar::UNKNOWN)
                    }
                    // Any two pointers, for privileged loaders (allow_ptr_leaks), as Linux.
                    (Value::Ptr(_), AluOp::Sub) if dst_is_ptr && self.opts.privileged => {
                        Value::Scalar(Scalar::UNKNOWN)
                    }
                    (Value::Ptr(_), _) => {
                        return Err(Fail::new(
                            format!("R{} pointer {} pointer prohibited", dst.number(), name()),
                            "only packet pointers may be subtracted from each other",
                        ));
                    }
                    (Value::Scalar(_), AluOp::Sub) => {
                        return Err(Fail::new(
                            format!("R{} tried to subtract pointer from scalar", dst.number()),
                            "subtract the number from the pointer instead",
                        ));
                    }
                    _ => {
                        return Err(Fail::new(
                            format!(
                                "R{} pointer arithmetic with {} operator prohibited",
                                dst.number(),
                                name()
                            ),
                            "pointers may only be moved by adding or subtracting a bounded number",
                        ));
                    }
                }
            }
            _ => unreachable!("registers were read"),
        };
        st.set_reg(d, result);
        Ok(())
    }

    /// `s`, read from `src` for a copy, linked to it: a number not yet linked to anything gets
    /// a new id, kept by the source register (the kernel's `assign_scalar_id_before_mov`).
    /// Constants need no link: nothing can be learnt about them.
    fn link(&mut self, st: &mut State, src: Operand, mut s: Scalar) -> Scalar {
        if s.const_value().is_some() {
            return s.unlinked();
        }
        if s.id & ADD_CONST != 0 {
            // One added constant at most: the copy starts a new link (Linux's
            // assign_scalar_id_before_mov).
            s = s.unlinked();
        }
        if s.id == 0
            && let Operand::Reg(r) = src
        {
            s.id = self.fresh_id();
            st.set_reg(r.index(), Value::Scalar(s));
        }
        s
    }

    fn ptr_add(&mut self, mut p: Ptr, b: &Scalar, sub: bool, dst: Reg) -> VResult<Ptr> {
        let kname = p.kind.name();
        if p.maybe_null {
            return Err(Fail::new(
                format!(
                    "R{} pointer arithmetic on {kname}_or_null prohibited",
                    dst.number()
                ),
                "compare the pointer with NULL first",
            ));
        }
        // A function pointer may move (Linux allows it, PTR_TO_FUNC), but no helper takes it
        // then.
        if matches!(p.kind, PtrKind::ConstMap { .. } | PtrKind::PacketEnd) {
            return Err(Fail::new(
                format!("R{} pointer arithmetic on {kname} prohibited", dst.number()),
                "this pointer can only be compared or passed to helpers",
            ));
        }
        if let Some(c) = b.const_value() {
            let c = c as i64;
            let off = if sub {
                p.off.checked_sub(c)
            } else {
                p.off.checked_add(c)
            };
            match off {
                Some(o) if o.abs() < MAX_VAR_OFF => p.off = o,
                _ => {
                    return Err(Fail::new(
                        format!("value {c} makes {kname} pointer be out of bounds"),
                        "the offset is far outside any object",
                    ));
                }
            }
            return Ok(p);
        }
        if b.smin < -MAX_VAR_OFF || b.smax > MAX_VAR_OFF {
            let which = if b.smin < -MAX_VAR_OFF { "min" } else { "max" };
            return Err(Fail::new(
                format!(
                    "R{} math between {kname} pointer and register with unbounded {which} value is not allowed",
                    dst.number()
                ),
                "bound the offset first, e.g. with `if (idx < N)` or `idx &= MASK`",
            ));
        }
        let var = if sub {
            alu64(AluOp::Sub, &p.var, b)
        } else {
            alu64(AluOp::Add, &p.var, b)
        };
        if var.smin < -MAX_VAR_OFF || var.smax > MAX_VAR_OFF {
            return Err(Fail::new(
                format!("R{} {kname} pointer offset is out of bounds", dst.number()),
                "the variable offset grows without bound",
            ));
        }
        p.var = var;
        if matches!(p.kind, PtrKind::Packet | PtrKind::PacketMeta) {
            p.id = self.fresh_id();
            p.range = 0;
        }
        Ok(p)
    }

    fn cond(
        &mut self,
        st: &mut State,
        width: Width,
        op: JmpOp,
        dst: Reg,
        src: Operand,
        target: usize,
    ) -> VResult<Flow> {
        let dv = self.read(st, dst)?;
        let sv = match src {
            Operand::Reg(r) => self.read(st, r)?,
            Operand::Imm(i) => Value::Scalar(match width {
                Width::W64 => Scalar::konst(i as i64 as u64),
                Width::W32 => Scalar::konst(u64::from(i as u32)),
            }),
        };
        // The current state becomes one of the outcomes: only a branch both ways costs a copy.
        let both = |st: &mut State| Flow::Cond {
            taken: Some(st.clone()),
            fall: Some(take(st)),
            target,
        };
        match (dv, sv) {
            (Value::Scalar(a), Value::Scalar(b)) => {
                if src == Operand::Reg(dst) {
                    // Linux compares r with itself like any two numbers: the outcome is fixed
                    // only when r is a known number (then as `same_reg_outcome` says; JSET
                    // tests r itself), and neither side refines anything.
                    let c = match width {
                        Width::W64 => a.const_value(),
                        Width::W32 => a.const_value32().map(u64::from),
                    };
                    let outcome = c.and_then(|c| same_reg_outcome(op).or(Some(c != 0)));
                    return Ok(match outcome {
                        Some(true) => Flow::Cond {
                            taken: Some(take(st)),
                            fall: None,
                            target,
                        },
                        Some(false) => Flow::Cond {
                            taken: None,
                            fall: Some(take(st)),
                            target,
                        },
                        None => both(st),
                    });
                }
                // Known numbers on both sides: one way only, and nothing to refine.
                if let Some(t) = const_outcome(op, width, &a, &b) {
                    let (taken, fall) = if t {
                        (Some(take(st)), None)
                    } else {
                        (None, Some(take(st)))
                    };
                    return Ok(Flow::Cond {
                        taken,
                        fall,
                        target,
                    });
                }
                // What is learnt about a register holds for every copy linked to it
                // (the kernel's `sync_linked_regs`). Like Linux, the source is synced first:
                // when the two are linked to each other, both end with the destination's
                // bounds.
                let set = |mut s: State, (a2, b2): (Scalar, Scalar)| {
                    let a2 = Scalar {
                        id: a.id,
                        off: a.off,
                        ..a2
                    };
                    s.set_reg(dst.index(), Value::Scalar(a2));
                    if let Operand::Reg(r) = src {
                        let b2 = Scalar {
                            id: b.id,
                            off: b.off,
                            ..b2
                        };
                        s.set_reg(r.index(), Value::Scalar(b2));
                        sync_linked(&mut s, b2);
                    }
                    sync_linked(&mut s, a2);
                    s
                };
                // The current state becomes one of the outcomes: only a branch both ways
                // costs a copy.
                let (t, f) = (
                    refine(op, width, &a, &b, true),
                    refine(op, width, &a, &b, false),
                );
                let (taken, fall) = match (t, f) {
                    (Some(t), Some(f)) => (Some(set(st.clone(), t)), Some(set(take(st), f))),
                    (Some(t), None) => (Some(set(take(st), t)), None),
                    (None, Some(f)) => (None, Some(set(take(st), f))),
                    (None, None) => (None, None),
                };
                Ok(Flow::Cond {
                    taken,
                    fall,
                    target,
                })
            }
            (Value::Ptr(p), Value::Scalar(b)) | (Value::Scalar(b), Value::Ptr(p)) => {
                let is_zero = b.const_value() == Some(0);
                if is_zero && width == Width::W64 && matches!(op, JmpOp::Jeq | JmpOp::Jne) {
                    let (null, nonnull) = if p.maybe_null {
                        let mut n = st.clone();
                        mark_null(&mut n, p.id, true);
                        let mut nn = take(st);
                        mark_null(&mut nn, p.id, false);
                        (Some(n), Some(nn))
                    } else if Self::btf_may_be_zero(&p) {
                        (Some(st.clone()), Some(take(st)))
                    } else {
                        (None, Some(take(st)))
                    };
                    let (taken, fall) = if op == JmpOp::Jeq {
                        (null, nonnull)
                    } else {
                        (nonnull, null)
                    };
                    return Ok(Flow::Cond {
                        taken,
                        fall,
                        target,
                    });
                }
                if !self.opts.privileged {
                    return Err(pointer_cmp(dst));
                }
                Ok(both(st))
            }
            (Value::Ptr(a), Value::Ptr(b)) => {
                if width == Width::W64
                    && let Some(flow) = pkt_compare(st, op, &a, &b, target)
                {
                    return Ok(flow);
                }
                if !self.opts.privileged {
                    return Err(pointer_cmp(dst));
                }
                Ok(both(st))
            }
            _ => unreachable!("registers were read"),
        }
    }

    fn local_call(&mut self, st: &mut State, pc: usize, target: usize) -> VResult<Flow> {
        let sp = self.cfg.subprog_of(target);
        if st.frames.len() >= MAX_CALL_FRAMES {
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
                format!("recursive call to the function at insn {target}"),
                "BPF functions may not call themselves, directly or indirectly",
            ));
        }
        let mut frame = Frame::new(st.frames.len() as u8, pc, sp);
        for r in 1..=5 {
            frame.regs[r] = st.cur().regs[r];
        }
        st.frames.push(frame);
        Ok(Flow::Next(target))
    }

    fn exit(&mut self, st: &mut State) -> VResult<Flow> {
        // Like Linux (check_resource_leak with check_lock only in the main frame), a static
        // subprogram may return with the lock or RCU section its caller will close.
        let main = st.frames.len() == 1;
        if let Some(l) = st.lock
            && main
        {
            return Err(Fail::new(
                "bpf_spin_unlock is missing",
                format!(
                    "the lock taken at insn {} must be released on every path before returning",
                    l.pc
                ),
            ));
        }
        if st.rcu && main {
            return Err(Fail::new(
                "bpf_rcu_read_unlock is missing",
                "call bpf_rcu_read_unlock on every path before returning",
            ));
        }
        let r0 = self.read(st, Reg::R0)?;
        let depth = st.frames.len() - 1;
        // A timer callback: it runs on its own and returns 0.
        if depth == 0 && st.cur().callback {
            if let Some(&(id, at)) = st.refs.first() {
                return Err(Fail::new(
                    format!("Unreleased reference id={id} alloc_insn={at}"),
                    "release every reference the callback acquires before it returns",
                ));
            }
            return match r0 {
                Value::Scalar(s) if s.const_value() == Some(0) => Ok(Flow::Exit),
                Value::Scalar(s) => Err(Fail::new(
                    format!(
                        "At async callback return the register R0 has value {s} should have been in [0, 0]"
                    ),
                    "timer callbacks return 0",
                )),
                v => Err(Fail::new(
                    format!("In async callback the register R0 is not a known value ({v})"),
                    "timer callbacks return 0",
                )),
            };
        }
        if depth > 0 && st.cur().callback {
            match r0 {
                Value::Scalar(s) if s.smin >= 0 && s.smax <= 1 => {}
                Value::Scalar(s) => {
                    return Err(Fail::new(
                        format!(
                            "At callback return the register R0 has value {s} should have been in [0, 1]"
                        ),
                        "callbacks of bpf_loop and bpf_for_each_map_elem return 0 (continue) or 1 (stop)",
                    ));
                }
                _ => {
                    return Err(Fail::new(
                        "R0 not a scalar value at callback return",
                        "callbacks return 0 or 1",
                    ));
                }
            }
            // Back to the helper call, which may call the callback again or return.
            let callee = st.frames.pop().expect("depth > 0");
            return Ok(Flow::Next(callee.callsite));
        }
        if depth > 0 {
            if let Value::Ptr(Ptr {
                kind: PtrKind::Stack { frame },
                ..
            }) = r0
                && usize::from(frame) == depth
            {
                return Err(Fail::new(
                    "cannot return stack pointer to the caller",
                    "the callee's stack is gone after it returns",
                ));
            }
            let callee = st.frames.pop().expect("depth > 0");
            let caller = st.cur_mut();
            caller.regs[0] = r0;
            for r in 1..=5 {
                caller.regs[r] = Value::NotInit;
            }
            return Ok(Flow::Next(callee.callsite + 1));
        }
        if let Some(&(id, at)) = st.refs.first() {
            return Err(Fail::new(
                format!("Unreleased reference id={id} alloc_insn={at}"),
                "every ring buffer record reserved must be submitted or discarded (bpf_ringbuf_submit / bpf_ringbuf_discard, or their _dynptr forms, even when the reservation failed) and every iterator destroyed (bpf_iter_num_destroy) on every path",
            ));
        }
        match r0 {
            Value::Ptr(_) if !self.opts.privileged => Err(Fail::new(
                "R0 leaks addr as return value",
                "return a number, not a pointer",
            )),
            Value::Scalar(s) => {
                if let Some((lo, hi)) = self.exit_range()
                    && (s.smin < lo || s.smax > hi)
                {
                    return Err(Fail::new(
                        format!(
                            "At program exit the register R0 has value {s} should have been in [{lo}, {hi}]"
                        ),
                        format!(
                            "{} programs must return a value in [{lo}, {hi}]",
                            self.prog_type
                        ),
                    ));
                }
                Ok(Flow::Exit)
            }
            Value::Ptr(_) if self.exit_range().is_some() => Err(Fail::new(
                "At program exit the register R0 is a pointer",
                format!("{} programs must return a small number", self.prog_type),
            )),
            _ => Ok(Flow::Exit),
        }
    }
}

fn pointer_cmp(dst: Reg) -> Fail {
    Fail::new(
        format!("R{} pointer comparison prohibited", dst.number()),
        "unprivileged programs may compare pointers only with NULL or packet pointers with data_end",
    )
}

/// Return values the kernel's `check_return_code` allows, for the types it checks.
pub fn return_range(t: ProgramType) -> Option<(i64, i64)> {
    use ProgramType as P;
    match t {
        // Egress cgroup_skb may also return 2 and 3 (congestion notification).
        P::CgroupSkb => Some((0, 3)),
        P::CgroupSock
        | P::CgroupSockAddr
        | P::CgroupDevice
        | P::CgroupSysctl
        | P::CgroupSockopt => Some((0, 1)),
        P::SkLookup => Some((0, 1)),
        _ => None,
    }
}

/// On one side of a NULL check: every register sharing `id` becomes 0 or a valid pointer.
pub fn mark_null(st: &mut State, id: u32, is_null: bool) {
    let mut released = Vec::new();
    st.for_each_value(|v| {
        if let Value::Ptr(p) = v
            && p.maybe_null
            && p.id == id
        {
            if is_null {
                // A NULL slice of a dynptr does not release the dynptr's reference.
                if p.ref_id != 0 && !matches!(p.kind, PtrKind::Slice { .. }) {
                    released.push(p.ref_id);
                }
                *v = Value::Scalar(Scalar::konst(0));
            } else {
                p.maybe_null = false;
            }
        }
    });
    st.refs.retain(|(r, _)| !released.contains(r));
}

/// Give every number linked to `s` (same id, in any frame, in registers or spilled) the bounds
/// `s` has: they hold the same number (the kernel's `sync_linked_regs`).
pub fn sync_linked(st: &mut State, s: Scalar) {
    if s.id == 0 {
        return;
    }
    let base = s.id & !ADD_CONST;
    st.for_each_value(|v| {
        if let Value::Scalar(x) = v
            && x.id & !ADD_CONST == base
            // One computed in 32 bits, the other in 64: no fixed difference.
            && (x.id ^ s.id) & ADD_CONST != ADD_CONST
        {
            if x.off == s.off {
                *x = s;
            } else {
                // x = base + x.off and s = base + s.off: x = s + (x.off - s.off), taken
                // modulo 2^32 when either was computed in 32 bits (zero-extended).
                let delta = i64::from(x.off) - i64::from(s.off);
                let mut y = alu64(AluOp::Add, &s, &Scalar::konst(delta as u64));
                if (x.id | s.id) & ADD_CONST32 != 0 {
                    y = y.zext32();
                }
                *x = Scalar {
                    id: s.id,
                    off: x.off,
                    ..y
                };
            }
        }
    });
}

/// `r = a + b` (or `a - b`, 64- or 32-bit) where `a` is linked and `b` a known constant: `r` stays
/// linked to `a`'s number with the constant as offset, if it fits in an `i32` (and its
/// negation does, for `sub`) and `a` carries no offset yet (the kernel's `BPF_ADD_CONST`,
/// Linux 6.11+; negative offsets and `sub` in 6.18.y stable, "Support negative offsets,
/// BPF_SUB, and alu32 for linked register tracking", with its fixes); else `r` as computed,
/// unlinked. In 32 bits, `a` must fit in 32 bits.
pub fn add_const_link(a: &Scalar, b: &Scalar, sub: bool, w32: bool, r: Scalar) -> Scalar {
    let c = if w32 {
        // The number must fit in 32 bits already, so its zero-extended sum is the sum.
        b.const_value32()
            .filter(|_| a.umax <= u64::from(u32::MAX))
            .map(|c| c as i32)
    } else {
        b.const_value().and_then(|c| i32::try_from(c as i64).ok())
    };
    let Some(c) = c else {
        return r;
    };
    let off = if sub { c.checked_neg() } else { Some(c) };
    let flag = if w32 { ADD_CONST32 } else { ADD_CONST64 };
    match off {
        Some(off) if a.id & ADD_CONST == 0 => Scalar {
            id: a.id | flag,
            off,
            ..r
        },
        _ => r,
    }
}

/// The outcome of a jump between two known numbers.
fn const_outcome(op: JmpOp, width: Width, a: &Scalar, b: &Scalar) -> Option<bool> {
    let (x, y) = match width {
        Width::W64 => (a.const_value()?, b.const_value()?),
        Width::W32 => (u64::from(a.const_value32()?), u64::from(b.const_value32()?)),
    };
    Some(crate::branch::holds(op, width, x, y))
}

/// Packet pointer comparisons: on the side where `pkt <= end` holds, every copy of `pkt`
/// learns that `pkt.off` bytes are inside the packet.
fn pkt_compare(st: &mut State, op: JmpOp, a: &Ptr, b: &Ptr, target: usize) -> Option<Flow> {
    use PtrKind as K;
    let is_end = |x: &Ptr, of: &Ptr| match (of.kind, x.kind) {
        (K::Packet, K::PacketEnd) => true,
        (K::PacketMeta, K::Packet) => x.off == 0 && x.var.const_value() == Some(0),
        _ => false,
    };
    // (pointer, whether `pkt <= end` holds when the jump is taken)
    let (pkt, taken_le) = if is_end(b, a) {
        // a is pkt, b is end.
        match op {
            JmpOp::Jgt | JmpOp::Jge => (a, false),
            JmpOp::Jlt | JmpOp::Jle => (a, true),
            _ => return None,
        }
    } else if is_end(a, b) {
        // a is end, b is pkt.
        match op {
            JmpOp::Jgt | JmpOp::Jge => (b, true),
            JmpOp::Jlt | JmpOp::Jle => (b, false),
            _ => return None,
        }
    } else {
        return None;
    };
    let mut good = st.clone();
    if pkt.off > 0 && pkt.var.umax.saturating_add(pkt.off as u64) <= 0xffff {
        let (kind, id, off) = (pkt.kind, pkt.id, pkt.off);
        good.for_each_value(|v| {
            if let Value::Ptr(p) = v
                && p.kind == kind
                && p.id == id
            {
                // `off` is at most 0xffff (checked above).
                p.range = p.range.max(off as i32);
            }
        });
    }
    let other = take(st);
    let (taken, fall) = if taken_le {
        (good, other)
    } else {
        (other, good)
    };
    Some(Flow::Cond {
        taken: Some(taken),
        fall: Some(fall),
        target,
    })
}

/// Move a state out, leaving an empty one (no allocation) behind.
fn take(st: &mut State) -> State {
    std::mem::replace(
        st,
        State {
            frames: Vec::new(),
            refs: Vec::new(),
            lock: None,
            rcu: false,
        },
    )
}
