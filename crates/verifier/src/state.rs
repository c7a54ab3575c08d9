//! The abstract machine state: registers, stack frames, acquired references; and the
//! "is more general than" relation used for pruning.

use crate::scalar::Scalar;
use std::fmt::{self, Write as _};
use std::rc::Rc;

/// Bytes in one stack frame.
pub const STACK_SIZE: i64 = 512;
/// Largest variable or fixed offset a pointer may carry (the kernel's `BPF_MAX_VAR_OFF`).
pub const MAX_VAR_OFF: i64 = 1 << 29;

/// What a pointer points into.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PtrKind {
    /// The program's context (r1 at entry).
    Ctx,
    /// A stack frame, by its depth in the call chain (0 = main).
    Stack {
        /// Frame number.
        frame: u8,
    },
    /// A value of map `map` (index into the map table).
    MapValue {
        /// Map index.
        map: u32,
    },
    /// The map itself (`lddw map_idx`), only for passing to helpers.
    ConstMap {
        /// Map index.
        map: u32,
    },
    /// Packet data.
    Packet,
    /// One past the last packet byte.
    PacketEnd,
    /// Packet metadata start.
    PacketMeta,
    /// Ring-buffer record memory of `size` bytes.
    Mem {
        /// Size of the record.
        size: u32,
    },
    /// A key of map `map`, read-only (`for_each_map_elem` callbacks).
    MapKey {
        /// Map index.
        map: u32,
    },
    /// A BPF function (`lddw func`), only for passing to helpers as a callback.
    Func {
        /// First slot of the function.
        pc: u32,
    },
    /// A kernel object of BTF type `type_id` in [`crate::Options::kernel_btf`] (the kernel's
    /// `PTR_TO_BTF_ID`): read-only, loads resolve the field at the offset.
    BtfId {
        /// The struct or union type (modifiers and typedefs skipped).
        type_id: u32,
        /// What the kernel vouches for.
        trust: BtfTrust,
    },
    /// One of the two 8-byte stack slots of a `struct bpf_dynptr` (the kernel's
    /// `STACK_DYNPTR`): only ever a spilled value, never in a register. See `dynptr.rs`.
    Dynptr {
        /// What the dynptr refers to.
        kind: DynptrKind,
        /// Whether this is the slot at the lower address (the kernel's `first_slot`).
        first: bool,
    },
    /// The 8-byte stack slot of a `struct bpf_iter_num` (the kernel's `STACK_ITER`): only
    /// ever a spilled value. Its `ref_id` is the reference `bpf_iter_num_destroy` releases.
    Iter,
    /// Memory a dynptr or an iterator gives (`bpf_dynptr_data`, `bpf_dynptr_slice`,
    /// `bpf_iter_num_next`; the kernel's `PTR_TO_MEM`) of `size` bytes.
    Slice {
        /// Size in bytes.
        size: u32,
        /// Read-only (`MEM_RDONLY`).
        rdonly: bool,
        /// Points into packet data (an skb or xdp dynptr): invalidated by helpers that change
        /// the packet, like packet pointers.
        pkt: bool,
    },
}

/// What a dynptr refers to (`enum bpf_dynptr_type`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum DynptrKind {
    /// Memory of the program (`bpf_dynptr_from_mem`).
    Local,
    /// A ring-buffer record (`bpf_ringbuf_reserve_dynptr`): a reference to release.
    Ringbuf,
    /// Socket buffer data (`bpf_dynptr_from_skb`).
    Skb,
    /// XDP packet data (`bpf_dynptr_from_xdp`).
    Xdp,
}

impl DynptrKind {
    /// The kernel's name (`dynptr_type_str`).
    pub fn name(self) -> &'static str {
        match self {
            DynptrKind::Local => "local",
            DynptrKind::Ringbuf => "ringbuf",
            DynptrKind::Skb => "skb",
            DynptrKind::Xdp => "xdp",
        }
    }
}

/// How far the kernel trusts a `PTR_TO_BTF_ID`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum BtfTrust {
    /// `PTR_TRUSTED` (tp_btf, iterator and most LSM arguments, the current task): valid and
    /// not NULL; helpers taking kernel objects accept it.
    Trusted,
    /// Plain (fentry/fexit arguments): helpers accept it, but it may be NULL.
    Plain,
    /// `PTR_UNTRUSTED` (read from a field): only loads, which may see NULL.
    Untrusted,
}

impl PtrKind {
    /// The kernel's name of the register type.
    pub fn name(self) -> &'static str {
        match self {
            PtrKind::Ctx => "ctx",
            PtrKind::Stack { .. } => "fp",
            PtrKind::MapValue { .. } => "map_value",
            PtrKind::ConstMap { .. } => "map_ptr",
            PtrKind::Packet => "pkt",
            PtrKind::PacketEnd => "pkt_end",
            PtrKind::PacketMeta => "pkt_meta",
            PtrKind::Mem { .. } => "ringbuf_mem",
            PtrKind::MapKey { .. } => "map_key",
            PtrKind::Func { .. } => "func",
            PtrKind::BtfId {
                trust: BtfTrust::Trusted,
                ..
            } => "trusted_ptr_",
            PtrKind::BtfId {
                trust: BtfTrust::Plain,
                ..
            } => "ptr_",
            PtrKind::BtfId { .. } => "untrusted_ptr_",
            PtrKind::Dynptr { .. } => "dynptr",
            PtrKind::Iter => "iter_num",
            PtrKind::Slice { rdonly: true, .. } => "rdonly_mem",
            PtrKind::Slice { .. } => "mem",
        }
    }

    /// Whether this is one of the three packet pointer kinds.
    pub fn is_packet_family(self) -> bool {
        matches!(
            self,
            PtrKind::Packet | PtrKind::PacketEnd | PtrKind::PacketMeta
        )
    }
}

/// A pointer: kind, fixed offset, variable offset, and identities.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ptr {
    /// What it points into.
    pub kind: PtrKind,
    /// Fixed byte offset.
    pub off: i64,
    /// Variable byte offset (added to `off`).
    pub var: Scalar,
    /// Identity shared by copies: null checks and packet ranges apply to every register with it.
    pub id: u32,
    /// Reference this pointer holds (ringbuf records), 0 if none.
    pub ref_id: u32,
    /// Whether it may be NULL (not yet checked).
    pub maybe_null: bool,
    /// For packet pointers: bytes after `pkt + var` known to be inside the packet.
    pub range: i32,
}

impl Ptr {
    /// A pointer of `kind` with no offset.
    pub fn new(kind: PtrKind) -> Ptr {
        Ptr {
            kind,
            off: 0,
            var: Scalar::konst(0),
            id: 0,
            ref_id: 0,
            maybe_null: false,
            range: 0,
        }
    }
}

/// The abstract value of a register or a spilled stack slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Value {
    /// Never written: reading it is an error.
    NotInit,
    /// A number.
    Scalar(Scalar),
    /// A pointer.
    Ptr(Ptr),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::NotInit => f.write_str("?"),
            Value::Scalar(s) => write!(f, "{s}"),
            Value::Ptr(p) => {
                let name = p.kind.name();
                let null = if p.maybe_null { "_or_null" } else { "" };
                write!(f, "{name}{null}(")?;
                let mut parts = Vec::new();
                if let PtrKind::MapValue { map }
                | PtrKind::ConstMap { map }
                | PtrKind::MapKey { map } = p.kind
                {
                    parts.push(format!("map={map}"));
                }
                if let PtrKind::Mem { size } | PtrKind::Slice { size, .. } = p.kind {
                    parts.push(format!("size={size}"));
                }
                if let PtrKind::BtfId { type_id, .. } = p.kind {
                    parts.push(format!("btf_id={type_id}"));
                }
                if let PtrKind::Dynptr { kind, .. } = p.kind {
                    parts.push(format!("type={}", kind.name()));
                }
                if p.id != 0 {
                    parts.push(format!("id={}", p.id));
                }
                if p.ref_id != 0 {
                    parts.push(format!("ref_obj_id={}", p.ref_id));
                }
                parts.push(format!("off={}", p.off));
                if p.var.const_value() != Some(0) {
                    parts.push(format!("var={}", p.var));
                }
                if p.kind == PtrKind::Packet {
                    parts.push(format!("r={}", p.range));
                }
                write!(f, "{})", parts.join(","))
            }
        }
    }
}

/// State of one stack byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ByteKind {
    /// Never written.
    Invalid,
    /// Holds some data (an unknown number).
    Misc,
    /// Holds a zero byte (the kernel's `STACK_ZERO`): a store of a known 0 not kept as a
    /// spill. Reading only zero bytes gives 0.
    Zero,
    /// Part of a spilled register (the slot's `spill`).
    Spill,
}

/// One 8-byte stack slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Slot {
    /// Per byte, lowest address first.
    pub bytes: [ByteKind; 8],
    /// The register spilled here, whose bytes are the slot's first bytes marked
    /// [`ByteKind::Spill`]: all 8 for pointers, 1, 2, 4 or 8 for numbers (a narrow spill
    /// keeps the whole register, as Linux's `save_register_state` does).
    pub spill: Value,
}

impl Slot {
    /// An unwritten slot.
    pub const INVALID: Slot = Slot {
        bytes: [ByteKind::Invalid; 8],
        spill: Value::NotInit,
    };

    /// Forget the spilled register, keeping its bytes as initialised data (zero bytes
    /// beside a narrow spill too, as Linux's `scrub_spilled_slot`).
    pub fn demote_spill(&mut self) {
        if !matches!(self.spill, Value::NotInit) {
            for b in &mut self.bytes {
                if matches!(*b, ByteKind::Spill | ByteKind::Zero) {
                    *b = ByteKind::Misc;
                }
            }
            self.spill = Value::NotInit;
        }
    }
}

/// One function's frame.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Frame {
    /// r0..=r10.
    pub regs: [Value; 11],
    /// Slot `i` covers bytes `[-8(i+1), -8i)` below the frame pointer; missing slots are invalid.
    ///
    /// Shared by copies of a state until one of them writes it (copies at branches and prune
    /// points then cost no allocation, and recorded states never copy it).
    pub stack: Rc<Vec<Slot>>,
    /// The `call` instruction that created the frame (unused for frame 0).
    pub callsite: usize,
    /// Index of the subprogram running in this frame.
    pub subprog: usize,
    /// Whether the frame runs a callback called by a helper (`bpf_loop`,
    /// `bpf_for_each_map_elem`): its exit goes back to the helper call, which may call it again.
    pub callback: bool,
}

impl Frame {
    /// A frame with every register uninitialised but r10.
    pub fn new(frame_no: u8, callsite: usize, subprog: usize) -> Frame {
        let mut regs = [Value::NotInit; 11];
        regs[10] = Value::Ptr(Ptr::new(PtrKind::Stack { frame: frame_no }));
        Frame {
            regs,
            stack: Rc::new(Vec::new()),
            callsite,
            subprog,
            callback: false,
        }
    }

    /// The slot holding byte offset `off` (negative, from the frame pointer).
    #[inline]
    pub fn slot_mut(&mut self, off: i64) -> (&mut Slot, usize) {
        let idx = ((-off - 1) / 8) as usize;
        let stack = Rc::make_mut(&mut self.stack);
        if stack.len() <= idx {
            stack.resize(idx + 1, Slot::INVALID);
        }
        let byte = (off + 8 * (idx as i64 + 1)) as usize;
        (&mut stack[idx], byte)
    }

    /// The slot holding byte offset `off`, if it was ever written.
    pub fn slot(&self, off: i64) -> (Option<&Slot>, usize) {
        let idx = ((-off - 1) / 8) as usize;
        let byte = (off + 8 * (idx as i64 + 1)) as usize;
        (self.stack.get(idx), byte)
    }
}

/// The whole abstract state at one instruction.
///
/// Copies take their frame buffer from a small per-thread pool that dropped states refill:
/// a frame is over a kilobyte, past the allocator's fast per-size caches, and states are
/// copied at every branch and recorded at prune points.
#[derive(PartialEq, Eq, Debug)]
pub struct State {
    /// Call frames, innermost last.
    pub frames: Vec<Frame>,
    /// Acquired references not yet released: (id, instruction that acquired it).
    pub refs: Vec<(u32, usize)>,
    /// The spin lock held, if any.
    pub lock: Option<Lock>,
    /// Whether a `bpf_rcu_read_lock` section is open.
    pub rcu: bool,
}

thread_local! {
    /// Emptied frame buffers of dropped states, for the next copies.
    static FRAME_POOL: std::cell::RefCell<Vec<Vec<Frame>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Most buffers the pool keeps (each holds a frame or more, about 1.2 KB each): a thread
/// keeps at most about 600 KB for its next verification (see [`release_frame_pool`]). Enough
/// for the states a program of a few thousand instructions keeps at once.
const FRAME_POOL_MAX: usize = 512;

impl Clone for State {
    fn clone(&self) -> State {
        let mut frames = FRAME_POOL
            .try_with(|p| p.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        frames.extend(self.frames.iter().cloned());
        State {
            frames,
            refs: self.refs.clone(),
            lock: self.lock,
            rcu: self.rcu,
        }
    }
}

impl Drop for State {
    fn drop(&mut self) {
        if self.frames.capacity() == 0 {
            return;
        }
        let mut frames = std::mem::take(&mut self.frames);
        frames.clear();
        // During thread exit the pool may be gone: the buffer is then simply freed.
        let _ = FRAME_POOL.try_with(|p| {
            if let Ok(mut p) = p.try_borrow_mut()
                && p.len() < FRAME_POOL_MAX
            {
                p.push(frames);
            }
        });
    }
}

/// Free the frame buffers this thread keeps for its next verification.
pub fn release_frame_pool() {
    let _ = FRAME_POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            *p = Vec::new();
        }
    });
}

/// A held `bpf_spin_lock`: which map value, at which offset, and the instruction that took it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Lock {
    /// Map index of the value.
    pub map: u32,
    /// Identity of the map value pointer (0 for global data, which has one value).
    pub id: u32,
    /// Offset of the lock in the value.
    pub off: i64,
    /// The `bpf_spin_lock` call.
    pub pc: usize,
}

impl State {
    /// The innermost frame.
    #[inline]
    pub fn cur(&self) -> &Frame {
        self.frames.last().expect("at least one frame")
    }

    /// The innermost frame, mutably.
    #[inline]
    pub fn cur_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("at least one frame")
    }

    /// Register `r` of the innermost frame.
    #[inline]
    pub fn reg(&self, r: usize) -> &Value {
        &self.cur().regs[r]
    }

    /// Set register `r` of the innermost frame.
    #[inline]
    pub fn set_reg(&mut self, r: usize, v: Value) {
        self.cur_mut().regs[r] = v;
    }

    /// Apply `f` to every register and spilled value in every frame.
    pub fn for_each_value(&mut self, mut f: impl FnMut(&mut Value)) {
        for fr in &mut self.frames {
            for r in &mut fr.regs {
                f(r);
            }
            // The shared stack is copied only if a spilled value changes.
            for i in 0..fr.stack.len() {
                let old = fr.stack[i].spill;
                if matches!(old, Value::NotInit) {
                    continue;
                }
                let mut v = old;
                f(&mut v);
                if v != old {
                    let s = &mut Rc::make_mut(&mut fr.stack)[i];
                    s.spill = v;
                    if matches!(v, Value::NotInit) {
                        // A spilled value that became invalid leaves unusable bytes behind.
                        for b in &mut s.bytes {
                            if *b == ByteKind::Spill {
                                *b = ByteKind::Invalid;
                            }
                        }
                    }
                }
            }
        }
    }

    /// A readable summary: the innermost frame's initialised registers and stack slots.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (fi, fr) in self.frames.iter().enumerate() {
            if self.frames.len() > 1 {
                let _ = write!(out, "frame{fi}: ");
            }
            for (i, r) in fr.regs.iter().enumerate() {
                if !matches!(*r, Value::NotInit) {
                    let _ = write!(out, "R{i}={r} ");
                }
            }
            for (i, s) in fr.stack.iter().enumerate() {
                let off = -8 * (i as i64 + 1);
                if !matches!(s.spill, Value::NotInit) {
                    let _ = write!(out, "fp{off}={} ", s.spill);
                } else if s.bytes.iter().any(|b| *b != ByteKind::Invalid) {
                    let m: String = s
                        .bytes
                        .iter()
                        .map(|b| match b {
                            ByteKind::Invalid => '?',
                            ByteKind::Zero => '0',
                            _ => 'm',
                        })
                        .collect();
                    let _ = write!(out, "fp{off}={m} ");
                }
            }
            if let (Some(l), true) = (self.lock, fi + 1 == self.frames.len()) {
                let _ = write!(out, "lock=map{}+{} ", l.map, l.off);
            }
            if !self.refs.is_empty() && fi + 1 == self.frames.len() {
                let ids: Vec<String> = self.refs.iter().map(|r| r.0.to_string()).collect();
                let _ = write!(out, "refs={}", ids.join(","));
            }
        }
        out.trim_end().to_owned()
    }
}

/// Pairs of ids, kept inline while few: a state comparison then allocates nothing (most
/// states hold a handful of ids; more spill to the heap).
#[derive(Default)]
struct Pairs {
    len: usize,
    inline: [(u32, u32); Pairs::INLINE],
    more: Vec<(u32, u32)>,
}

impl Pairs {
    const INLINE: usize = 8;

    fn iter(&self) -> impl Iterator<Item = &(u32, u32)> {
        self.inline[..self.len.min(Self::INLINE)]
            .iter()
            .chain(self.more.iter())
    }

    fn push(&mut self, p: (u32, u32)) {
        if self.len < Self::INLINE {
            self.inline[self.len] = p;
        } else {
            self.more.push(p);
        }
        self.len += 1;
    }
}

/// Consistent renaming of ids between an old and a new state.
#[derive(Default)]
struct IdMap {
    /// Pairs (old, new), one-to-one.
    pairs: Pairs,
    /// Links of numbers (old scalar id, new scalar id or a stand-in for 0): each old id goes
    /// to one new id, see [`IdMap::link`].
    links: Pairs,
    /// Stand-ins given so far to unlinked numbers of the new state.
    unlinked: u32,
}

impl IdMap {
    fn check(&mut self, old: u32, cur: u32) -> bool {
        if old == 0 || cur == 0 {
            return old == cur;
        }
        for &(o, c) in self.pairs.iter() {
            if o == old || c == cur {
                return o == old && c == cur;
            }
        }
        self.pairs.push((old, cur));
        true
    }

    /// Whether numbers the old state links (same id `old`) are linked in the new one too:
    /// a jump may have refined them together there, a bound the new state must then also
    /// learn. Numbers linked only in the new state are fine (fewer concrete states); an
    /// unlinked new number (`cur == 0`) is linked to nothing, so stands for a fresh id.
    fn link(&mut self, old: u32, cur: u32) -> bool {
        if old == 0 {
            return true;
        }
        let cur = if cur == 0 {
            // Ids are counted up from 1: the top of the range is free for stand-ins.
            self.unlinked += 1;
            u32::MAX - self.unlinked
        } else {
            cur
        };
        let found = self.links.iter().find(|(o, _)| *o == old).copied();
        match found {
            Some((_, c)) => c == cur,
            None => {
                self.links.push((old, cur));
                true
            }
        }
    }
}

fn value_covers(old: &Value, cur: &Value, ids: &mut IdMap, exact: bool) -> bool {
    match (old, cur) {
        (Value::NotInit, Value::NotInit) => true,
        (Value::NotInit, _) => !exact,
        (Value::Scalar(a), Value::Scalar(b)) => {
            if exact {
                a.same_bounds(b) && a.off == b.off && ids.check(a.id, b.id)
            } else {
                // A linked number must be linked to the same number in the new state, with
                // the same added constant computed in the same width (the id's two top bits,
                // Linux's regsafe).
                const ADD_CONST: u32 = 3 << 30;
                a.contains(b)
                    && (a.id == 0 || (a.id & ADD_CONST == b.id & ADD_CONST && a.off == b.off))
                    && ids.link(a.id & !ADD_CONST, b.id & !ADD_CONST)
            }
        }
        (Value::Ptr(a), Value::Ptr(b)) => {
            if a.kind != b.kind || a.off != b.off || a.maybe_null != b.maybe_null {
                return false;
            }
            let var_ok = if exact {
                a.var == b.var
            } else {
                a.var.contains(&b.var)
            };
            let range_ok = if exact {
                a.range == b.range
            } else {
                a.range <= b.range
            };
            // Packet pointers with a variable part rely on their id for the range.
            var_ok && range_ok && ids.check(a.id, b.id) && ids.check(a.ref_id, b.ref_id)
        }
        _ => false,
    }
}

/// Whether every concrete state `cur` describes is described by `old` (with `exact`, whether the
/// two are the same up to renaming of ids).
///
/// Registers of the innermost frame outside `live` are ignored: no path from here reads them
/// before writing them, so their values cannot matter. Without `exact`, numbers in registers of
/// the innermost frame outside `precise` cover any number: no path from here lets their value
/// decide anything the verifier checks (see "Precision" in the crate docs). Pass `u16::MAX`
/// to compare every register.
///
/// `uninit_reads`: whether uninitialised stack may be read (as an unknown number). Then an
/// unwritten byte of `old` is no longer "never read" but "any number", and covers only data
/// or spilled numbers, like the kernel's `stacksafe` with `allow_uninit_stack`.
pub fn covers(
    old: &State,
    cur: &State,
    exact: bool,
    live: u16,
    precise: u16,
    uninit_reads: bool,
) -> bool {
    if old.frames.len() != cur.frames.len()
        || old.refs.len() != cur.refs.len()
        || old.rcu != cur.rcu
        || old.lock.is_some() != cur.lock.is_some()
    {
        return false;
    }
    let mut ids = IdMap::default();
    let innermost = old.frames.len().saturating_sub(1);
    for (fi, (fo, fc)) in old.frames.iter().zip(&cur.frames).enumerate() {
        if fo.callsite != fc.callsite || fo.subprog != fc.subprog || fo.callback != fc.callback {
            return false;
        }
        for (r, (a, b)) in fo.regs.iter().zip(&fc.regs).enumerate() {
            if fi == innermost && r < 10 {
                if live & (1 << r) == 0 {
                    continue;
                }
                if !exact
                    && precise & (1 << r) == 0
                    && matches!((a, b), (Value::Scalar(_), Value::Scalar(_)))
                {
                    continue;
                }
            }
            if !value_covers(a, b, &mut ids, exact) {
                return false;
            }
        }
        let n = fo.stack.len().max(fc.stack.len());
        // The very same slots, shared by copies: no need to compare them byte by byte.
        let shared = Rc::ptr_eq(&fo.stack, &fc.stack);
        for i in 0..n {
            let so = fo.stack.get(i).unwrap_or(&Slot::INVALID);
            let sc = fc.stack.get(i).unwrap_or(&Slot::INVALID);
            // Identical slots (often the very same memory, shared by copies) cover each other
            // when they hold no ids to rename: an unlinked number or nothing spilled, and no
            // byte of a spill without a spilled value (what the full check below also accepts).
            if (shared || so == sc)
                && match so.spill {
                    Value::Scalar(s) => s.id == 0,
                    Value::NotInit => !so.bytes.contains(&ByteKind::Spill),
                    Value::Ptr(_) => false,
                }
            {
                continue;
            }
            if exact {
                if so.bytes != sc.bytes || !value_covers(&so.spill, &sc.spill, &mut ids, true) {
                    return false;
                }
                continue;
            }
            let mut from = 0;
            if !matches!(so.spill, Value::NotInit) {
                // The same spill size: a fill reads the same bytes of the spilled value.
                let n = so
                    .bytes
                    .iter()
                    .take_while(|b| **b == ByteKind::Spill)
                    .count();
                if matches!(sc.spill, Value::NotInit)
                    || sc
                        .bytes
                        .iter()
                        .take_while(|b| **b == ByteKind::Spill)
                        .count()
                        != n
                    || !value_covers(&so.spill, &sc.spill, &mut ids, false)
                {
                    return false;
                }
                from = n;
            }
            for (bo, bc) in so.bytes.iter().zip(&sc.bytes).skip(from) {
                match (bo, bc) {
                    (
                        ByteKind::Invalid | ByteKind::Misc,
                        ByteKind::Invalid | ByteKind::Misc | ByteKind::Zero,
                    ) if uninit_reads => {}
                    (ByteKind::Invalid, ByteKind::Spill)
                        if uninit_reads && !matches!(sc.spill, Value::Scalar(_)) =>
                    {
                        return false;
                    }
                    (ByteKind::Invalid, _) => {}
                    // Data covers zero bytes (fewer values), not the other way round.
                    (ByteKind::Misc, ByteKind::Misc | ByteKind::Zero) => {}
                    (ByteKind::Zero, ByteKind::Zero) => {}
                    (ByteKind::Misc, ByteKind::Spill) if matches!(sc.spill, Value::Scalar(_)) => {}
                    _ => return false,
                }
            }
        }
    }
    for (a, b) in old.refs.iter().zip(&cur.refs) {
        if !ids.check(a.0, b.0) {
            return false;
        }
    }
    if let (Some(a), Some(b)) = (old.lock, cur.lock)
        && (a.map != b.map || a.off != b.off || !ids.check(a.id, b.id))
    {
        return false;
    }
    true
}

/// Widen `cur` against `old` (same shape): every number `old` does not cover becomes unknown.
/// Used when a helper calls a callback again and the state keeps changing (a counter in the
/// caller's stack): the result describes more executions, so exploring it is sound, and the
/// next round is covered.
pub fn widen(old: &State, cur: &mut State) {
    let w = |a: &Value, b: &mut Value| {
        if let (Value::Scalar(x), Value::Scalar(y)) = (a, &*b)
            && !x.contains(y)
        {
            *b = Value::Scalar(Scalar::UNKNOWN);
        }
    };
    for (fo, fc) in old.frames.iter().zip(cur.frames.iter_mut()) {
        for (a, b) in fo.regs.iter().zip(fc.regs.iter_mut()) {
            w(a, b);
        }
        for (so, sc) in fo.stack.iter().zip(Rc::make_mut(&mut fc.stack).iter_mut()) {
            w(&so.spill, &mut sc.spill);
        }
    }
}
