//! Dynptrs and numeric iterators: stack objects the kernel tracks slot by slot.
//!
//! A `struct bpf_dynptr` is 16 bytes on the stack (two slots, the kernel's `STACK_DYNPTR`)
//! of a kind (local memory, ring-buffer record, skb, xdp); a `struct bpf_iter_num` is one
//! slot (`STACK_ITER`). Here both are spilled values of their own pointer kinds
//! ([`PtrKind::Dynptr`], [`PtrKind::Iter`]), so pruning compares them like other spills
//! (kind, ids and references renamed consistently). The rules, as Linux's
//! `process_dynptr_func`, `mark_stack_slots_dynptr`, `destroy_if_dynptr_stack_slot` and
//! `process_iter_arg`:
//! - initialising helpers and kfuncs take uninitialised slots at a constant, 8-byte aligned
//!   stack offset; they may overwrite an unreferenced dynptr but never a ring-buffer one (its
//!   reference would leak) or an iterator;
//! - other arguments must be initialised dynptrs (of the kind the function wants);
//! - loads from the slots are refused, stores destroy an unreferenced dynptr and are refused
//!   on a ring-buffer dynptr or an iterator;
//! - a ring-buffer dynptr is a reference, released by `bpf_ringbuf_submit_dynptr` /
//!   `bpf_ringbuf_discard_dynptr` (also when the reservation failed); an iterator is a
//!   reference released by `bpf_iter_num_destroy`;
//! - slices (`bpf_dynptr_data`, `bpf_dynptr_slice[_rdwr]`) are memory of the constant size
//!   asked for, or NULL; they die with a ring-buffer dynptr's reference, and packet slices
//!   with packet pointers when a helper changes the packet.
//!
//! The loop of an open-coded iterator converges like a callback's: its `bpf_iter_num_next`
//! call is a prune point that compares with states still being explored and widens numbers
//! that keep changing (see `explore.rs`); iterators always end, so this is sound. Each call
//! deepens the iterator (kept in the slot's `range`), so that successive iterations are never
//! taken for an infinite loop.

use crate::explore::{Env, Fail, VResult};
use crate::memory::Region;
use crate::scalar::Scalar;
use crate::state::{DynptrKind, Ptr, PtrKind, Slot, State, Value};
use waggle_isa::Reg;
use waggle_uapi::ProgramType;

/// Size of `struct bpf_dynptr`.
const DYNPTR_SIZE: i64 = 16;
/// Size of `struct bpf_iter_num`.
const ITER_SIZE: i64 = 8;

/// The kfuncs modelled here (dynptrs and numeric iterators).
pub const KFUNCS: &[&str] = &[
    "bpf_dynptr_from_xdp",
    "bpf_dynptr_from_skb",
    "bpf_dynptr_slice",
    "bpf_dynptr_slice_rdwr",
    "bpf_dynptr_adjust",
    "bpf_dynptr_is_null",
    "bpf_dynptr_is_rdonly",
    "bpf_dynptr_size",
    "bpf_dynptr_clone",
    "bpf_iter_num_new",
    "bpf_iter_num_next",
    "bpf_iter_num_destroy",
];

/// The kfunc whose calls are loop heads of open-coded iterators.
pub const ITER_NEXT: &str = "bpf_iter_num_next";

/// A dynptr argument once checked.
#[derive(Clone, Copy, Debug)]
pub enum DynArg {
    /// Slots the call initialises as a dynptr of `kind`: frame and lowest byte offset.
    Init {
        /// Frame number.
        frame: usize,
        /// Offset of the first slot (negative).
        off: i64,
        /// The kind it becomes.
        kind: DynptrKind,
    },
    /// An initialised dynptr: the value of its first slot.
    Existing(Ptr),
}

fn special(s: &Slot) -> Option<Ptr> {
    match s.spill {
        Value::Ptr(p) if matches!(p.kind, PtrKind::Dynptr { .. } | PtrKind::Iter) => Some(p),
        _ => None,
    }
}

/// Program types that may call `bpf_dynptr_from_skb` (the kernel's `bpf_kfunc_set_skb`).
fn skb_type(t: ProgramType) -> bool {
    use ProgramType as P;
    matches!(
        t,
        P::SchedCls
            | P::SchedAct
            | P::SocketFilter
            | P::CgroupSkb
            | P::SkSkb
            | P::LwtIn
            | P::LwtOut
            | P::LwtXmit
            | P::LwtSeg6local
    )
}

impl Env<'_> {
    /// A load (or a helper's read) of stack bytes `[lo, hi)`: never of a dynptr or iterator.
    pub fn special_read(st: &State, r: usize, frame: usize, lo: i64, hi: i64) -> VResult<()> {
        let fr = &st.frames[frame];
        let mut off = lo;
        while off < hi {
            if let (Some(s), _) = fr.slot(off)
                && let Some(p) = special(s)
            {
                return Err(Fail::new(
                    format!(
                        "invalid read from stack off {lo}+{} size {}",
                        off - lo,
                        hi - lo
                    ),
                    format!(
                        "r{r} reads fp{off}, which holds a {}; use the functions made for it",
                        what(&p)
                    ),
                ));
            }
            off = (off.div_euclid(8) + 1) * 8;
        }
        Ok(())
    }

    /// A store (or, `helper`, a helper's write) over stack bytes `[lo, hi)`: destroys an
    /// unreferenced dynptr or an iterator there (whose reference then leaks); refused over a
    /// ring-buffer dynptr.
    pub fn special_write(
        st: &mut State,
        frame: usize,
        lo: i64,
        hi: i64,
        helper: bool,
    ) -> VResult<()> {
        let mut off = lo;
        while off < hi {
            let here = off;
            off = (off.div_euclid(8) + 1) * 8;
            let (Some(s), _) = st.frames[frame].slot(here) else {
                continue;
            };
            let Some(p) = special(s) else { continue };
            if helper {
                return Err(Fail::new(
                    format!("potential write to dynptr at off={here} disallowed"),
                    format!(
                        "the stack at fp{here} holds a {}; pass another buffer",
                        what(&p)
                    ),
                ));
            }
            match p.kind {
                PtrKind::Dynptr { .. } if p.ref_id == 0 => {
                    // The whole dynptr dies; its other slot becomes unusable bytes.
                    let first = if let PtrKind::Dynptr { first: true, .. } = p.kind {
                        here.div_euclid(8) * 8
                    } else {
                        here.div_euclid(8) * 8 - 8
                    };
                    for o in [first, first + 8] {
                        let (slot, _) = st.frames[frame].slot_mut(o);
                        *slot = Slot::INVALID;
                    }
                }
                PtrKind::Dynptr { .. } => {
                    return Err(Fail::new(
                        "cannot overwrite referenced dynptr",
                        "submit or discard the ring buffer dynptr before reusing its stack",
                    ));
                }
                _ => {
                    let (slot, _) = st.frames[frame].slot_mut(here);
                    *slot = Slot::INVALID;
                }
            }
        }
        Ok(())
    }

    /// The stack object of `size` bytes register `r` points to: frame and lowest offset.
    fn stack_object(
        &mut self,
        st: &State,
        r: usize,
        size: i64,
        what: &str,
    ) -> VResult<(usize, i64)> {
        let v = self.read(st, Reg::new(r as u8).expect("r1..r5"))?;
        let p = match v {
            Value::Ptr(p) if matches!(p.kind, PtrKind::Stack { .. }) => p,
            _ => {
                return Err(Fail::new(
                    format!(
                        "arg#{} expected pointer to stack or const struct bpf_{what}",
                        r - 1
                    ),
                    format!("pass the address of a struct bpf_{what} on the stack (R{r}={v})"),
                ));
            }
        };
        let Some(var) = p.var.const_value() else {
            return Err(Fail::new(
                format!("{what} has to be at a constant offset"),
                format!("declare the struct bpf_{what} as a local variable"),
            ));
        };
        let off = p.off + var as i64;
        if off % 8 != 0 || off > -size {
            return Err(Fail::new(
                format!("cannot pass in {what} at an offset={off}"),
                format!("a struct bpf_{what} is 8-byte aligned on the stack"),
            ));
        }
        // 8-byte alignment is checked above (a 16-byte dynptr need not be 16-byte aligned).
        let Region::Stack { frame, .. } = self.region(st, r, &p, 0, size as u64, true, false)?
        else {
            unreachable!("a stack pointer gives a stack region")
        };
        Ok((frame, off))
    }

    /// Check a dynptr argument in `r`: uninitialised slots to become `init`, or an
    /// initialised dynptr (of kind `want`, if given).
    pub fn dynptr_arg(
        &mut self,
        st: &mut State,
        r: usize,
        init: Option<DynptrKind>,
        want: Option<DynptrKind>,
    ) -> VResult<DynArg> {
        let (frame, off) = self.stack_object(st, r, DYNPTR_SIZE, "dynptr")?;
        if let Some(kind) = init {
            // Overwriting an unreferenced dynptr is allowed (it is destroyed first).
            Self::special_write(st, frame, off, off + DYNPTR_SIZE, false)?;
            return Ok(DynArg::Init { frame, off, kind });
        }
        let fr = &st.frames[frame];
        let lo = fr.slot(off).0.and_then(special);
        let hi = fr.slot(off + 8).0.and_then(special);
        let p = match (lo, hi) {
            (Some(a), Some(b))
                if matches!(a.kind, PtrKind::Dynptr { first: true, .. })
                    && matches!(b.kind, PtrKind::Dynptr { first: false, .. })
                    && a.id == b.id =>
            {
                a
            }
            // Releasing checks for a reference first (`check_func_arg`).
            _ if want == Some(DynptrKind::Ringbuf) => {
                return Err(Fail::new(
                    format!("arg {r} is an unacquired reference"),
                    "pass a ring buffer dynptr from bpf_ringbuf_reserve_dynptr, not yet \
                     submitted or discarded",
                ));
            }
            _ => {
                return Err(Fail::new(
                    format!("Expected an initialized dynptr as arg #{}", r - 1),
                    "initialise it first (bpf_dynptr_from_mem, bpf_ringbuf_reserve_dynptr, \
                     bpf_dynptr_from_skb or bpf_dynptr_from_xdp), and do not overwrite it",
                ));
            }
        };
        if let (Some(w), PtrKind::Dynptr { kind, .. }) = (want, p.kind)
            && w != kind
        {
            // Only a ring-buffer dynptr is released: others hold no reference.
            let msg = if w == DynptrKind::Ringbuf {
                format!("arg {r} is an unacquired reference")
            } else {
                format!("Expected a dynptr of type {} as arg #{}", w.name(), r - 1)
            };
            return Err(Fail::new(
                msg,
                format!(
                    "this is a {} dynptr, and a {} one is needed",
                    kind.name(),
                    w.name()
                ),
            ));
        }
        Ok(DynArg::Existing(p))
    }

    /// `bpf_dynptr_from_mem` wraps map values only (`check_helper_call`).
    pub fn dynptr_from_mem_data(st: &State) -> VResult<()> {
        match st.reg(1) {
            Value::Ptr(p) if matches!(p.kind, PtrKind::MapValue { .. }) => Ok(()),
            v => {
                let name = match v {
                    Value::Ptr(p) => p.kind.name(),
                    _ => "scalar",
                };
                Err(Fail::new(
                    format!("Unsupported reg type {name} for bpf_dynptr_from_mem data"),
                    "a local dynptr wraps a map value (e.g. a global variable or an array element)",
                ))
            }
        }
    }

    /// Mark the two slots of a new dynptr (with reference `ref_id`, 0 for none).
    pub fn dynptr_init(&mut self, st: &mut State, arg: DynArg, ref_id: u32) {
        let DynArg::Init { frame, off, kind } = arg else {
            return;
        };
        let id = self.fresh_id();
        for (o, first) in [(off, true), (off + 8, false)] {
            let mut p = Ptr::new(PtrKind::Dynptr { kind, first });
            p.id = id;
            p.ref_id = ref_id;
            Self::stack_write(st, frame, o, o + 8, Some(Value::Ptr(p)), true);
        }
    }

    /// A slice of the dynptr `d` of `size` bytes, or NULL (returned by `pc`, `name`).
    pub fn dynptr_slice(
        &mut self,
        d: &Ptr,
        size: u64,
        rdonly: bool,
        pc: usize,
        name: &'static str,
    ) -> VResult<Value> {
        let Ok(size) = u32::try_from(size) else {
            return Err(Fail::bare("dynptr slice size too large"));
        };
        let pkt = matches!(
            d.kind,
            PtrKind::Dynptr {
                kind: DynptrKind::Skb | DynptrKind::Xdp,
                ..
            }
        );
        let mut p = Ptr::new(PtrKind::Slice { size, rdonly, pkt });
        p.maybe_null = true;
        p.id = self.fresh_id();
        // A slice of a ring-buffer record dies with the record's reference.
        p.ref_id = d.ref_id;
        self.origins.push((p.id, pc, name));
        Ok(Value::Ptr(p))
    }

    /// A call of one of [`KFUNCS`].
    pub fn dynptr_kfunc(&mut self, st: &mut State, pc: usize, name: &str) -> VResult<()> {
        let scalar = |env: &Self, st: &State, r: usize| -> VResult<Scalar> {
            match env.read(st, Reg::new(r as u8).expect("r1..r5"))? {
                Value::Scalar(s) => Ok(s),
                v => Err(Fail::new(
                    format!("R{r} is not a scalar"),
                    format!("argument {r} of {name} is a number (R{r}={v})"),
                )),
            }
        };
        let not_allowed = || {
            Fail::new(
                format!("calling kernel function {name} is not allowed"),
                format!("{name} is not available to this program type"),
            )
        };
        let r0 = match name {
            "bpf_dynptr_from_xdp" | "bpf_dynptr_from_skb" => {
                let xdp = name == "bpf_dynptr_from_xdp";
                let allowed = if xdp {
                    self.prog_type == ProgramType::Xdp
                } else {
                    skb_type(self.prog_type)
                };
                if !allowed {
                    return Err(not_allowed());
                }
                match self.read(st, Reg::R1)? {
                    Value::Ptr(p) if p.kind == PtrKind::Ctx => {
                        if p.off != 0 || p.var.const_value() != Some(0) {
                            return Err(Fail::new(
                                format!(
                                    "dereference of modified ctx ptr R1 off={} disallowed",
                                    p.off
                                ),
                                "pass the original context pointer",
                            ));
                        }
                    }
                    v => {
                        return Err(Fail::new(
                            format!("arg#0 expected pointer to ctx, but got {v}"),
                            "pass the program's context pointer",
                        ));
                    }
                }
                scalar(self, st, 2)?;
                let kind = if xdp {
                    DynptrKind::Xdp
                } else {
                    DynptrKind::Skb
                };
                let arg = self.dynptr_arg(st, 3, Some(kind), None)?;
                self.dynptr_init(st, arg, 0);
                Value::Scalar(Scalar::UNKNOWN)
            }
            "bpf_dynptr_slice" | "bpf_dynptr_slice_rdwr" => {
                let rdwr = name == "bpf_dynptr_slice_rdwr";
                let DynArg::Existing(d) = self.dynptr_arg(st, 1, None, None)? else {
                    unreachable!("an existing dynptr was asked for")
                };
                scalar(self, st, 2)?;
                let size = scalar(self, st, 4)?;
                let Some(size) = size.const_value() else {
                    return Err(Fail::new(
                        "R4 must be a known constant",
                        format!("the size passed to {name} must be a constant"),
                    ));
                };
                if rdwr && !crate::memory::may_write_packet(self.prog_type) {
                    return Err(Fail::new(
                        "the prog does not allow writes to packet data",
                        format!(
                            "{} programs cannot write packet data; use bpf_dynptr_slice",
                            self.prog_type
                        ),
                    ));
                }
                match self.read(st, Reg::R3)? {
                    Value::Scalar(s) if s.const_value() == Some(0) => {}
                    Value::Ptr(b) if !b.maybe_null => {
                        // The kernel checks the buffer for reading and for writing.
                        let region = self.region(st, 3, &b, 0, size, true, false)?;
                        self.helper_stack(st, 3, &region, 0, false)?;
                        self.helper_stack(st, 3, &region, 0, true)?;
                    }
                    v => {
                        return Err(Fail::new(
                            format!("R3 type={v} expected=fp, map_value, mem or NULL"),
                            format!("the buffer of {name} is memory of the size given, or NULL"),
                        ));
                    }
                }
                let n = if rdwr {
                    "dynptr_slice_rdwr"
                } else {
                    "dynptr_slice"
                };
                self.dynptr_slice(&d, size, !rdwr, pc, n)?
            }
            "bpf_dynptr_adjust"
            | "bpf_dynptr_is_null"
            | "bpf_dynptr_is_rdonly"
            | "bpf_dynptr_size" => {
                self.dynptr_arg(st, 1, None, None)?;
                if name == "bpf_dynptr_adjust" {
                    scalar(self, st, 2)?;
                    scalar(self, st, 3)?;
                }
                Value::Scalar(Scalar::UNKNOWN)
            }
            "bpf_dynptr_clone" => {
                let DynArg::Existing(d) = self.dynptr_arg(st, 1, None, None)? else {
                    unreachable!("an existing dynptr was asked for")
                };
                let PtrKind::Dynptr { kind, .. } = d.kind else {
                    unreachable!("dynptr slots hold dynptrs")
                };
                let arg = self.dynptr_arg(st, 2, Some(kind), None)?;
                // Clones share the reference: releasing one releases (invalidates) both.
                self.dynptr_init(st, arg, d.ref_id);
                Value::Scalar(Scalar::UNKNOWN)
            }
            "bpf_iter_num_new" => {
                let (frame, off) = self.stack_object(st, 1, ITER_SIZE, "iter_num")?;
                if st.frames[frame].slot(off).0.and_then(special).is_some() {
                    return Err(Fail::new(
                        "expected uninitialized iter_num as arg #0",
                        "destroy the iterator (bpf_iter_num_destroy) before starting it again",
                    ));
                }
                scalar(self, st, 2)?;
                scalar(self, st, 3)?;
                let mut p = Ptr::new(PtrKind::Iter);
                p.id = self.fresh_id();
                p.ref_id = self.fresh_id();
                st.refs.push((p.ref_id, pc));
                Self::stack_write(st, frame, off, off + 8, Some(Value::Ptr(p)), true);
                Value::Scalar(Scalar::UNKNOWN)
            }
            "bpf_iter_num_next" | "bpf_iter_num_destroy" => {
                let (frame, off) = self.stack_object(st, 1, ITER_SIZE, "iter_num")?;
                let Some(it) = st.frames[frame]
                    .slot(off)
                    .0
                    .and_then(special)
                    .filter(|p| p.kind == PtrKind::Iter)
                else {
                    return Err(Fail::new(
                        "expected an initialized iter_num as arg #0",
                        "start the iterator with bpf_iter_num_new first",
                    ));
                };
                if name == "bpf_iter_num_next" {
                    // The iteration depth (in `range`, unused by non-packet pointers): two
                    // iterations never look the same to the infinite-loop check, while a
                    // deeper one is still covered by a shallower one (the kernel's
                    // `iter.depth`).
                    let mut deeper = it;
                    deeper.range = deeper.range.saturating_add(1);
                    Self::stack_write(st, frame, off, off + 8, Some(Value::Ptr(deeper)), true);
                    let mut p = Ptr::new(PtrKind::Slice {
                        size: 4,
                        rdonly: true,
                        pkt: false,
                    });
                    p.maybe_null = true;
                    p.id = self.fresh_id();
                    // It points into the iterator, and dies with it.
                    p.ref_id = it.ref_id;
                    self.origins.push((p.id, pc, "iter_num_next"));
                    Value::Ptr(p)
                } else {
                    st.refs.retain(|(r, _)| *r != it.ref_id);
                    // The iterator's slot and the numbers it gave die.
                    st.for_each_value(|v| {
                        if let Value::Ptr(p) = v
                            && p.ref_id == it.ref_id
                        {
                            *v = Value::NotInit;
                        }
                    });
                    Value::NotInit
                }
            }
            _ => {
                return Err(Fail::new(
                    format!("kernel function {name} not supported"),
                    "this kfunc is not modelled by this verifier",
                ));
            }
        };
        for r in 1..=5 {
            st.set_reg(r, Value::NotInit);
        }
        st.set_reg(0, r0);
        Ok(())
    }
}

/// What a special stack slot holds, for messages.
fn what(p: &Ptr) -> String {
    match p.kind {
        PtrKind::Dynptr { kind, .. } => format!("{} dynptr", kind.name()),
        _ => "bpf_iter_num iterator".to_owned(),
    }
}
