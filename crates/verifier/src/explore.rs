//! The worklist: depth-first exploration of every path, with state pruning, loop detection,
//! the complexity limit, logging and the final stack-depth check.

use crate::cfg::{self, Cfg};
use crate::state::{Frame, Ptr, PtrKind, State, Value, covers, widen};
use crate::{MAX_PATH, MapDesc, Options, Program, Rejection, Stats};
use std::fmt::Write as _;
use std::time::Instant;
use waggle_isa::{Insn, Syntax, format_insn, validate};
use waggle_uapi::ProgramType;

/// A refusal before it is placed at an instruction: what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    /// What is wrong (kernel-style, e.g. `R0 !read_ok`).
    pub msg: String,
    /// What to do about it, in plain words.
    pub hint: Option<String>,
}

impl Fail {
    /// A refusal with a hint.
    pub fn new(msg: impl Into<String>, hint: impl Into<String>) -> Fail {
        Fail {
            msg: msg.into(),
            hint: Some(hint.into()),
        }
    }

    /// A refusal without a hint.
    pub fn bare(msg: impl Into<String>) -> Fail {
        Fail {
            msg: msg.into(),
            hint: None,
        }
    }
}

/// Result of checking one instruction.
pub type VResult<T> = Result<T, Fail>;

/// What happens after an instruction.
pub enum Flow {
    /// Continue at this slot.
    Next(usize),
    /// A conditional jump: the states on the taken and fall-through sides (`None`: impossible).
    Cond {
        /// State if the condition holds.
        taken: Option<State>,
        /// State if it does not.
        fall: Option<State>,
        /// The jump target.
        target: usize,
    },
    /// The program (frame 0) returned.
    Exit,
}

/// Everything the checks of single instructions need.
pub struct Env<'a> {
    /// The program.
    pub insns: &'a [Insn],
    /// Its type.
    pub prog_type: ProgramType,
    /// Its maps, then one description per map-in-map for the maps it holds (index
    /// `prog_maps + i` for the `i`-th map of the program).
    pub maps: Vec<MapDesc>,
    /// How many maps the program itself references (`lddw map_idx` must stay below).
    pub prog_maps: usize,
    /// Names of kernel functions called, by slot.
    pub kfuncs: &'a [(usize, String)],
    /// Options.
    pub opts: &'a Options,
    /// Control-flow facts.
    pub cfg: Cfg,
    /// Last id handed out.
    pub next_id: u32,
    /// Deepest stack byte used per subprogram.
    pub stack_depth: Vec<u32>,
    /// Source lines by slot (see [`Program::line_info`]).
    pub lines: &'a [(usize, String)],
    /// Where each maybe-NULL pointer id came from: (id, slot of the call, helper name).
    pub origins: Vec<(u32, usize, &'static str)>,
    /// Plain programs: one past the furthest context byte accessed, and whether any access
    /// writes (the runtime checks them against the context a hook provides).
    pub plain_ctx: std::cell::Cell<(u32, bool)>,
    /// Kernel BTF facts: the BTF-typed context and `struct task_struct`.
    pub btf: crate::btf_ptr::BtfEnv,
    /// Spectre v1 speculative paths and the barriers found (see `spec.rs`).
    pub spec: crate::spec::Spec,
}

impl Env<'_> {
    /// "what `helper` returned at insn N (line L: `source`)", for a maybe-NULL pointer id.
    pub fn origin(&self, id: u32) -> Option<String> {
        let &(_, pc, name) = self.origins.iter().rev().find(|o| o.0 == id)?;
        let mut out = format!("what bpf_{name} returned at insn {pc}");
        let i = self.lines.partition_point(|(slot, _)| *slot <= pc);
        if let Some(i) = i.checked_sub(1) {
            let l = self.lines[i].1.trim();
            if l.starts_with("line ") {
                out += &format!(" ({l})");
            } else {
                out += &format!(" (line {l})");
            }
        }
        Some(out)
    }

    /// A fresh id for pointers and references.
    pub fn fresh_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }
}

/// The paths explored, as a tree of control transfers shared by every path: node `i` is
/// `(from, to, parent)` for a jump, call or return from slot `from` to slot `to`, with
/// [`NO_PATH`] for the root; between two nodes a path runs straight. Recording only transfers
/// keeps straight-line code free of any per-instruction bookkeeping.
#[derive(Default)]
struct Paths(Vec<(u32, u32, u32)>);

/// The empty path.
const NO_PATH: u32 = u32::MAX;

impl Paths {
    /// Record a transfer from `from` to `to` after the path ending at node `prev`.
    fn push(&mut self, from: usize, to: usize, prev: u32) -> u32 {
        self.0.push((from as u32, to as u32, prev));
        (self.0.len() - 1) as u32
    }

    /// The last [`MAX_PATH`] slots of the path ending at node `at` and then running straight
    /// to slot `pc` (included), oldest first.
    fn slots(&self, insns: &[Insn], mut at: u32, pc: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut end = pc;
        loop {
            let node = self.0.get(at as usize).copied();
            let start = node.map_or(0, |(_, to, _)| to as usize);
            let mut i = end;
            loop {
                if out.len() >= MAX_PATH {
                    out.reverse();
                    return out;
                }
                if insns.get(i).is_some_and(|x| *x != Insn::LddwHigh) {
                    out.push(i);
                }
                if i <= start {
                    break;
                }
                i -= 1;
            }
            match node {
                Some((from, _, prev)) => {
                    end = from as usize;
                    at = prev;
                }
                None => break,
            }
        }
        out.reverse();
        out
    }
}

/// The slot after `pc` when nothing jumps.
fn next_slot(insns: &[Insn], pc: usize) -> usize {
    if matches!(insns[pc], Insn::Lddw { .. }) {
        pc + 2
    } else {
        pc + 1
    }
}

struct Pending {
    st: State,
    pc: usize,
    anc: Option<usize>,
    path: u32,
    /// A speculative path (see `spec.rs`).
    spec: bool,
}

struct Stored {
    st: State,
    branches: u32,
    parent: Option<usize>,
    /// Recorded on a speculative path: covers only speculative states.
    spec: bool,
}

/// Frees recorded states no path still to explore can reach, so large programs reuse their
/// memory instead of faulting in fresh pages for states nothing will compare against.
///
/// Only for programs of one function: then code from slot `f` on reaches only slots from
/// `f` on, or the targets of backward jumps found from there (`back_min`), so every slot
/// below `reach_floor(f)` of the lowest pending slot `f` is out of reach for good (the
/// states still to explore all derive from the pending ones).
struct Forget {
    /// Whether the program has a single function (no calls, no callbacks).
    on: bool,
    /// For each slot `q`: the lowest target of a backward jump at a slot `>= q` (`u32::MAX`
    /// if none); empty when the program has no backward jump.
    back_min: Vec<u32>,
    /// Recorded states at prune points below this slot are already freed.
    freed_to: usize,
    /// States recorded since the last sweep.
    since: u32,
}

impl Forget {
    fn new(insns: &[Insn], cfg: &Cfg) -> Forget {
        let on = cfg.starts.len() == 1;
        let mut back_min = Vec::new();
        let backward = |pc: usize| match insns[pc] {
            Insn::Ja { .. } | Insn::Jump { .. } | Insn::MayGoto { .. } => insns[pc]
                .jump_target(pc)
                .filter(|&t| t >= 0 && t <= pc as i64)
                .map(|t| t as u32),
            _ => None,
        };
        if on && (0..insns.len()).any(|pc| backward(pc).is_some()) {
            back_min = vec![u32::MAX; insns.len() + 1];
            for q in (0..insns.len()).rev() {
                back_min[q] = back_min[q + 1].min(backward(q).unwrap_or(u32::MAX));
            }
        }
        Forget {
            on,
            back_min,
            freed_to: 0,
            since: 0,
        }
    }

    /// The lowest slot reachable from slots `>= f`.
    fn reach_floor(&self, mut f: usize) -> usize {
        if self.back_min.is_empty() {
            return f;
        }
        loop {
            let g = (self.back_min[f] as usize).min(f);
            if g == f {
                return f;
            }
            f = g;
        }
    }

    /// After a state was recorded at `pc` (the current path's slot): every 64 records (or
    /// one per pending path), free those out of reach of the current path and the pending ones.
    fn after_store(
        &mut self,
        pc: usize,
        work: &[Pending],
        cfg: &Cfg,
        at: &[u32],
        stored_at: &mut [Vec<usize>],
        stored: &mut [Stored],
    ) {
        self.since += 1;
        // At least as many records as pending paths between sweeps: each sweep looks at
        // every pending path, and this keeps that cost constant per record.
        if !self.on || (self.since as usize) < work.len().max(64) {
            return;
        }
        self.since = 0;
        let lowest = work.iter().map(|w| w.pc).fold(pc, usize::min);
        let floor = self.reach_floor(lowest);
        for q in self.freed_to..floor {
            if cfg.prune[q] {
                for i in stored_at[at[q] as usize].drain(..) {
                    // Kept for its branch count and parent; the state itself is not needed.
                    stored[i].st = State {
                        frames: Vec::new(),
                        refs: Vec::new(),
                        lock: None,
                        rcu: false,
                    };
                }
            }
        }
        self.freed_to = self.freed_to.max(floor);
    }
}

const MAX_LOG: usize = 16 << 20;
/// Most states recorded per instruction.
const MAX_STATES_PER_INSN: usize = 64;

fn line_of(prog: &Program<'_>, pc: usize) -> Option<String> {
    let i = prog.line_info.partition_point(|(slot, _)| *slot <= pc);
    i.checked_sub(1).map(|i| prog.line_info[i].1.clone())
}

fn reject(
    prog: &Program<'_>,
    opts: &Options,
    pc: usize,
    fail: Fail,
    st: Option<&State>,
    path: Vec<usize>,
    mut log: String,
) -> Box<Rejection> {
    let line = line_of(prog, pc);
    let mut message = format!("{} at insn {pc}", fail.msg);
    if let Some(l) = &line {
        let l = l.trim();
        if l.starts_with("line ") {
            let _ = write!(message, " ({l})");
        } else {
            let _ = write!(message, " (line {l})");
        }
    }
    if let Some(h) = &fail.hint {
        let _ = write!(message, ": {h}");
    }
    let state = st.map(State::describe).unwrap_or_default();
    if opts.log_level >= 1 {
        let _ = writeln!(log, "{message}");
        let _ = writeln!(log, "state: {state}");
        let tail: Vec<String> = path
            .iter()
            .skip(path.len().saturating_sub(64))
            .map(|p| p.to_string())
            .collect();
        let _ = writeln!(log, "path: {}", tail.join(" -> "));
    }
    Box::new(Rejection {
        pc,
        line,
        message,
        state,
        path,
        log,
    })
}

/// The program's maps followed by the description of each one's inner maps (a map without
/// inner maps gets a copy of itself, which nothing can reach).
fn all_maps(maps: &[MapDesc]) -> Vec<MapDesc> {
    let mut out = maps.to_vec();
    for m in maps {
        out.push(match m.inner {
            Some(i) => MapDesc::new(i.map_type, i.key_size, i.value_size, i.max_entries, i.flags),
            None => *m,
        });
    }
    out
}

/// After the step at `cur.pc` with speculative paths on: start the speculative paths it
/// pushed; whether the current (speculative) path ends after it, at a barrier.
#[inline(never)]
fn spec_after(
    env: &mut Env<'_>,
    work: &mut Vec<Pending>,
    stored: &mut [Stored],
    paths: &mut Paths,
    cur: &Pending,
    flow: &VResult<Flow>,
) -> bool {
    let pc = cur.pc;
    for (s, to) in std::mem::take(&mut env.spec.pushed) {
        fork(work, stored, paths, cur, s, to, true);
    }
    env.spec.stops_after(pc) && cur.spec && flow.is_ok()
}

/// Explore the side `to` of the conditional jump at `cur.pc` its known outcome does not
/// take, as a speculative path from `st` (see `spec.rs`).
#[inline(never)]
fn spec_push(
    env: &Env<'_>,
    work: &mut Vec<Pending>,
    stored: &mut [Stored],
    paths: &mut Paths,
    cur: &Pending,
    st: &State,
    to: usize,
) {
    if let Some(s) = crate::spec::speculative_state(&env.insns[cur.pc], st) {
        fork(work, stored, paths, cur, s, to, true);
    }
}

/// Queue the path from `cur` that continues at `to` in state `st` (its ancestor, if any, now
/// waits for one more branch).
#[inline]
fn fork(
    work: &mut Vec<Pending>,
    stored: &mut [Stored],
    paths: &mut Paths,
    cur: &Pending,
    st: State,
    to: usize,
    spec: bool,
) {
    if let Some(a) = cur.anc {
        stored[a].branches += 1;
    }
    work.push(Pending {
        st,
        pc: to,
        anc: cur.anc,
        path: paths.push(cur.pc, to, cur.path),
        spec,
    });
}

/// Verify a program.
pub fn run(prog: &Program<'_>, opts: &Options) -> Result<Stats, Box<Rejection>> {
    let start = Instant::now();

    let insns = prog.insns;
    if let Err(e) = validate(insns) {
        let pc = match e {
            waggle_isa::ValidationError::Decode(s) => s.pc,
            waggle_isa::ValidationError::WriteToR10 { pc }
            | waggle_isa::ValidationError::JumpOutOfRange { pc, .. }
            | waggle_isa::ValidationError::JumpIntoLddw { pc, .. }
            | waggle_isa::ValidationError::MalformedLddw { pc }
            | waggle_isa::ValidationError::FallThrough { pc } => pc,
            _ => 0,
        };
        let fail = Fail::bare(e.to_string());
        return Err(reject(prog, opts, pc, fail, None, vec![], String::new()));
    }
    let cfg = cfg::analyse(insns, opts.privileged || opts.bpf_capable)
        .map_err(|(pc, f)| reject(prog, opts, pc, f, None, vec![], String::new()))?;
    let mut cfg = cfg;
    // Open-coded iterator loops converge at their `bpf_iter_num_next` call (see `dynptr.rs`).
    for (pc, name) in prog.kfuncs {
        if name == crate::dynptr::ITER_NEXT && *pc < insns.len() {
            cfg.callback_site[*pc] = true;
            cfg.prune[*pc] = true;
        }
    }
    let nsub = cfg.starts.len();
    let mut env = Env {
        insns,
        prog_type: prog.prog_type,
        maps: all_maps(prog.maps),
        prog_maps: prog.maps.len(),
        kfuncs: prog.kfuncs,
        opts,
        cfg,
        next_id: 0,
        stack_depth: vec![0; nsub],
        lines: prog.line_info,
        origins: Vec::new(),
        plain_ctx: std::cell::Cell::new((0, false)),
        btf: crate::btf_ptr::BtfEnv::new(
            opts.kernel_btf.as_deref(),
            prog.prog_type,
            opts.attach_to.as_deref(),
        ),
        spec: crate::spec::Spec::new(!opts.bypass_spec_v1, insns.len()),
    };
    env.cfg.regs = cfg::registers(insns, &env.cfg, env.exit_range().is_some());
    let mut init = State {
        frames: vec![Frame::new(0, 0, 0)],
        refs: Vec::new(),
        lock: None,
        rcu: false,
    };
    init.set_reg(1, Value::Ptr(Ptr::new(PtrKind::Ctx)));

    let mut log = String::new();
    let mut work = Vec::with_capacity(8);
    work.push(Pending {
        st: init,
        pc: 0,
        anc: None,
        path: NO_PATH,
        spec: false,
    });
    // Room for the states of a small program up front (growing copies every state).
    let mut stored: Vec<Stored> = Vec::with_capacity(16);
    let mut paths = Paths(Vec::with_capacity(16));
    // Recorded states by prune point (`at[pc]` numbers the prune points), so programs pay
    // for a list only where states can be recorded.
    let mut n_points = 0u32;
    let at: Vec<u32> = env
        .cfg
        .prune
        .iter()
        .map(|&p| {
            n_points += u32::from(p);
            if p { n_points - 1 } else { u32::MAX }
        })
        .collect();
    let mut stored_at: Vec<Vec<usize>> = vec![Vec::new(); n_points as usize];
    let mut processed: u64 = 0;
    let mut peak: u64 = 1;
    // Jumps processed, and (jumps, processed) when the last state was recorded.
    let mut jumps: u64 = 0;
    let mut last_store = (0u64, 0u64);
    let mut forget = Forget::new(insns, &env.cfg);

    fn finish(stored: &mut [Stored], mut a: Option<usize>) {
        while let Some(i) = a {
            stored[i].branches -= 1;
            if stored[i].branches != 0 {
                break;
            }
            a = stored[i].parent;
        }
    }

    while let Some(mut cur) = work.pop() {
        loop {
            let pc = cur.pc;
            if env.cfg.prune[pc] {
                if env.cfg.callback_site[pc]
                    && let Some(&i) = stored_at[at[pc] as usize].iter().find(|&&i| {
                        stored[i].branches > 0
                            && stored[i].st.frames.len() == cur.st.frames.len()
                            && (cur.spec || !stored[i].spec)
                    })
                    && !covers(
                        &stored[i].st,
                        &cur.st,
                        false,
                        env.cfg.live(pc),
                        u16::MAX,
                        opts.allow_uninit_stack,
                    )
                {
                    widen(&stored[i].st, &mut cur.st);
                }
                let mut pruned = false;
                // Whether a state recorded here is an ancestor of this path (a loop).
                let mut looping = false;
                for &i in &stored_at[at[pc] as usize] {
                    let s = &stored[i];
                    if s.spec && !cur.spec {
                        // Its exploration may have stopped at a speculation barrier.
                        continue;
                    }
                    if s.branches > 0 && env.cfg.callback_site[pc] {
                        // A helper calling a callback is revisited after each call of the
                        // callback; a state the first visit covers adds nothing (the kernel's
                        // `calls_callback` rule), and repeating is not an infinite loop.
                        if covers(
                            &s.st,
                            &cur.st,
                            false,
                            env.cfg.live(pc),
                            u16::MAX,
                            opts.allow_uninit_stack,
                        ) {
                            pruned = true;
                            break;
                        }
                    } else if s.branches > 0 {
                        looping = true;
                        if covers(
                            &s.st,
                            &cur.st,
                            true,
                            env.cfg.live(pc),
                            u16::MAX,
                            opts.allow_uninit_stack,
                        ) {
                            let path = paths.slots(insns, cur.path, pc);
                            let f = Fail::new(
                                "infinite loop detected",
                                "the loop comes back to this instruction in the same state, so it never ends; make sure a counter or bound changes on every iteration",
                            );
                            return Err(reject(prog, opts, pc, f, Some(&cur.st), path, log));
                        }
                    } else if covers(
                        &s.st,
                        &cur.st,
                        false,
                        env.cfg.live(pc),
                        env.cfg.precise(pc),
                        opts.allow_uninit_stack,
                    ) {
                        pruned = true;
                        break;
                    }
                }
                if pruned {
                    if opts.log_level >= 2 && log.len() < MAX_LOG {
                        let _ = writeln!(log, "{pc}: safe (pruned)");
                    }
                    finish(&mut stored, cur.anc);
                    break;
                }
                // Keep at most MAX_STATES_PER_INSN states per instruction: when full, forget
                // the oldest fully explored one (fewer prunes, never less sound); if every one
                // is still being explored (a long-running loop), record nothing new.
                // Record a new state only after at least 2 jumps and 4 instructions since the
                // last one while other paths wait to be explored (Linux waits for 8 always),
                // and 8 when none waits or the current path already went through here (a
                // loop): states every few instructions cost memory and copies, but a join
                // point with a state to compare against prunes the paths still to come
                // (branchy/1000: 1,492 -> 1,000 instructions processed), while only the
                // current path can come back to a state when none waits, at the next
                // iteration of a loop, where more states cost more comparisons than they
                // save. Callback call sites always record theirs.
                let min_insns = if looping || work.is_empty() { 8 } else { 4 };
                let due = env.cfg.callback_site[pc]
                    || (jumps - last_store.0 >= 2 && processed - last_store.1 >= min_insns);
                let list = &mut stored_at[at[pc] as usize];
                let mut room = due && list.len() < MAX_STATES_PER_INSN;
                if !room && let Some(pos) = list.iter().position(|&i| stored[i].branches == 0) {
                    let old = list.remove(pos);
                    stored[old].st = State {
                        frames: Vec::new(),
                        refs: Vec::new(),
                        lock: None,
                        rcu: false,
                    };
                    room = true;
                }
                if room {
                    let idx = stored.len();
                    stored.push(Stored {
                        st: cur.st.clone(),
                        branches: 1,
                        parent: cur.anc,
                        spec: cur.spec,
                    });
                    list.push(idx);
                    cur.anc = Some(idx);
                    last_store = (jumps, processed);
                    forget.after_store(pc, &work, &env.cfg, &at, &mut stored_at, &mut stored);
                }
                peak = peak.max((stored.len() + work.len()) as u64);
            }
            processed += 1;
            if processed > opts.complexity_limit {
                let path = paths.slots(insns, cur.path, pc);
                let f = Fail::new(
                    format!(
                        "BPF program is too large: processed {processed} insns (limit {})",
                        opts.complexity_limit
                    ),
                    "a loop may never end, or has too many iterations or paths; bound it with a small constant",
                );
                return Err(reject(prog, opts, pc, f, Some(&cur.st), path, log));
            }
            if opts.log_level >= 2 && log.len() < MAX_LOG {
                let _ = writeln!(
                    log,
                    "{pc}: {} ; {}",
                    format_insn(&insns[pc], pc, Syntax::default()),
                    cur.st.describe()
                );
            }
            // Jump-class instructions (jumps, calls, exit), as the kernel counts them.
            if matches!(
                insns[pc],
                Insn::Ja { .. } | Insn::Jump { .. } | Insn::Call(_) | Insn::Exit
            ) {
                jumps += 1;
            }
            if cur.spec && env.spec.stops_before(pc) {
                finish(&mut stored, cur.anc);
                break;
            }
            if env.spec.on {
                env.spec.pc = pc;
                env.spec.cur_spec = cur.spec;
            }
            let flow = env.step(&mut cur.st, pc);
            if env.spec.on && spec_after(&mut env, &mut work, &mut stored, &mut paths, &cur, &flow)
            {
                finish(&mut stored, cur.anc);
                break;
            }
            match flow {
                Err(f) if cur.spec && env.spec.recover(pc, crate::errno_of(&f.msg)) => {
                    finish(&mut stored, cur.anc);
                    break;
                }
                Err(f) => {
                    let path = paths.slots(insns, cur.path, pc);
                    return Err(reject(prog, opts, pc, f, Some(&cur.st), path, log));
                }
                Ok(Flow::Next(n)) => {
                    if n != next_slot(insns, pc) {
                        cur.path = paths.push(pc, n, cur.path);
                    }
                    cur.pc = n;
                }
                Ok(Flow::Exit) => {
                    finish(&mut stored, cur.anc);
                    break;
                }
                Ok(Flow::Cond {
                    taken,
                    fall,
                    target,
                }) => match (taken, fall) {
                    (Some(t), Some(f)) => {
                        fork(
                            &mut work,
                            &mut stored,
                            &mut paths,
                            &cur,
                            t,
                            target,
                            cur.spec,
                        );
                        peak = peak.max((stored.len() + work.len()) as u64);
                        cur.st = f;
                        cur.pc = pc + 1;
                    }
                    (Some(t), None) => {
                        if env.spec.on {
                            spec_push(&env, &mut work, &mut stored, &mut paths, &cur, &t, pc + 1);
                        }
                        if target != pc + 1 {
                            cur.path = paths.push(pc, target, cur.path);
                        }
                        cur.st = t;
                        cur.pc = target;
                    }
                    (None, Some(f)) => {
                        if env.spec.on {
                            spec_push(&env, &mut work, &mut stored, &mut paths, &cur, &f, target);
                        }
                        cur.st = f;
                        cur.pc = pc + 1;
                    }
                    (None, None) => {
                        finish(&mut stored, cur.anc);
                        break;
                    }
                },
            }
        }
    }

    // Combined stack of every call chain.
    let depths: Vec<u32> = env
        .stack_depth
        .iter()
        .map(|d| (*d).max(1).div_ceil(32) * 32)
        .collect();
    let mut worst = 0u32;
    let mut on_path = vec![false; nsub];
    fn walk(sp: usize, acc: u32, cfg: &Cfg, d: &[u32], on: &mut [bool], worst: &mut u32) {
        if on[sp] {
            return;
        }
        on[sp] = true;
        let acc = acc + d[sp];
        *worst = (*worst).max(acc);
        for &c in &cfg.callees[sp] {
            walk(c, acc, cfg, d, on, worst);
        }
        on[sp] = false;
    }
    walk(0, 0, &env.cfg, &depths, &mut on_path, &mut worst);
    if worst > 512 {
        let f = Fail::new(
            format!("combined stack size of calls is {worst}. Too large"),
            "the stack frames of a call chain share 512 bytes; use smaller locals or a per-CPU array map",
        );
        return Err(reject(prog, opts, 0, f, None, vec![], log));
    }
    if opts.log_level >= 1 {
        let _ = writeln!(
            log,
            "processed {processed} insns, {} states kept, peak {peak}",
            stored.len()
        );
    }
    Ok(Stats {
        insns_processed: processed,
        states_kept: stored.len() as u64,
        peak_states: peak,
        max_stack_depth: depths,
        duration: start.elapsed(),
        log,
        ctx_end: env.plain_ctx.get().0,
        ctx_writes: env.plain_ctx.get().1,
    })
}
