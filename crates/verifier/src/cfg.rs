//! Control-flow checks done before value tracking: subprogram boundaries, jumps staying inside
//! their subprogram, every instruction reachable, no back-edges for unprivileged loaders.

use crate::explore::Fail;
use waggle_isa::{AluOp, AtomicOp, CallTarget, Insn, LddwKind, Operand, PacketMode, Reg, Width};

/// The program's control-flow facts.
pub struct Cfg {
    /// First slot of each subprogram, sorted; `starts[0] == 0`.
    pub starts: Vec<usize>,
    /// Slots where states are recorded for pruning.
    pub prune: Vec<bool>,
    /// Static callees of each subprogram.
    pub callees: Vec<Vec<usize>>,
    /// Per slot, filled by [`registers`] once the program type's return rule is known: the
    /// registers live on entry (low 16 bits, bit `r`: some path from there reads `r` in this
    /// function before writing it) and those whose exact value may matter (high 16 bits).
    pub regs: Vec<u32>,
    /// Whether some jump goes backwards (the program may loop).
    pub cyclic: bool,
    /// Helper calls that call a callback (`bpf_loop`, `bpf_for_each_map_elem`).
    pub callback_site: Vec<bool>,
}

/// Helpers that call a BPF function given as an argument (synchronously, before returning).
pub fn calls_callback(id: i32) -> bool {
    matches!(id, 164 | 181)
}

/// The target of `lddw func` at `pc` (BPF_PSEUDO_FUNC: `imm` is relative to the next slot).
pub fn func_target(pc: usize, imm: u64) -> i64 {
    pc as i64 + 1 + i64::from(imm as u32 as i32)
}

impl Cfg {
    /// Registers live on entry to `pc` (bit `r`).
    #[inline]
    pub fn live(&self, pc: usize) -> u16 {
        self.regs[pc] as u16
    }

    /// Registers whose exact value may matter on entry to `pc` (bit `r`), see [`registers`].
    #[inline]
    pub fn precise(&self, pc: usize) -> u16 {
        (self.regs[pc] >> 16) as u16
    }

    /// The subprogram containing `pc`.
    pub fn subprog_of(&self, pc: usize) -> usize {
        match self.starts.binary_search(&pc) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    fn end(&self, sp: usize, len: usize) -> usize {
        self.starts.get(sp + 1).copied().unwrap_or(len)
    }
}

/// The successors of one instruction: at most two, without allocating.
struct Succ {
    s: [usize; 2],
    n: usize,
}

impl Succ {
    fn as_slice(&self) -> &[usize] {
        &self.s[..self.n]
    }
}

fn successors(insns: &[Insn], pc: usize) -> Succ {
    let target = || insns[pc].jump_target(pc).unwrap_or(0) as usize;
    match insns[pc] {
        Insn::Exit => Succ { s: [0, 0], n: 0 },
        Insn::Ja { .. } => Succ {
            s: [target(), 0],
            n: 1,
        },
        Insn::Jump { .. } | Insn::MayGoto { .. } => Succ {
            s: [pc + 1, target()],
            n: 2,
        },
        Insn::Lddw { .. } => Succ {
            s: [pc + 2, 0],
            n: 1,
        },
        _ => Succ {
            s: [pc + 1, 0],
            n: 1,
        },
    }
}

/// Analyse a structurally valid program.
pub fn analyse(insns: &[Insn], privileged: bool) -> Result<Cfg, (usize, Fail)> {
    let len = insns.len();
    let mut starts = vec![0];
    for (pc, insn) in insns.iter().enumerate() {
        if let Insn::Call(CallTarget::Local(_)) = insn {
            starts.push(insn.jump_target(pc).unwrap_or(0) as usize);
        }
        if let Insn::Lddw {
            kind: LddwKind::Func,
            imm,
            ..
        } = *insn
        {
            let t = func_target(pc, imm);
            if t < 0 || t as usize >= len || matches!(insns[t as usize], Insn::LddwHigh) {
                return Err((
                    pc,
                    Fail::new(
                        format!("function address out of range at insn {pc} (target {t})"),
                        "lddw func must point at the first instruction of a function",
                    ),
                ));
            }
            starts.push(t as usize);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let mut cfg = Cfg {
        prune: vec![false; len],
        callees: vec![Vec::new(); starts.len()],
        starts,
        regs: Vec::new(),
        cyclic: false,
        callback_site: vec![false; len],
    };
    for sp in 0..cfg.starts.len() {
        let (start, end) = (cfg.starts[sp], cfg.end(sp, len));
        let last = if end >= 2 && matches!(insns[end - 1], Insn::LddwHigh) {
            end - 2
        } else {
            end - 1
        };
        if !matches!(insns[last], Insn::Exit | Insn::Ja { .. }) {
            return Err((
                last,
                Fail::new(
                    format!("last insn of subprogram {sp} is not exit or jmp"),
                    "execution would fall through into the next function; end it with exit",
                ),
            ));
        }
        for (pc, insn) in insns.iter().enumerate().take(end).skip(start) {
            match *insn {
                Insn::Call(CallTarget::Local(_)) => {
                    let t = insns[pc].jump_target(pc).unwrap_or(0) as usize;
                    let callee = cfg.subprog_of(t);
                    cfg.callees[sp].push(callee);
                }
                // A callback runs on top of the frame that passes it to the helper.
                Insn::Lddw {
                    kind: LddwKind::Func,
                    imm,
                    ..
                } => {
                    let t = func_target(pc, imm) as usize;
                    let callee = cfg.subprog_of(t);
                    cfg.callees[sp].push(callee);
                    // Timer callbacks start from fresh states, often the same ones.
                    cfg.prune[t] = true;
                }
                Insn::Call(CallTarget::Kfunc { .. }) if !privileged => {
                    return Err((
                        pc,
                        Fail::new(
                            "loading/calling other bpf or kernel functions are allowed for CAP_BPF and CAP_SYS_ADMIN",
                            "kernel functions (kfuncs) need a privileged loader",
                        ),
                    ));
                }
                Insn::Call(CallTarget::Helper(id)) if calls_callback(id) => {
                    cfg.callback_site[pc] = true;
                    cfg.prune[pc] = true;
                }
                Insn::Ja { .. } | Insn::Jump { .. } | Insn::MayGoto { .. } => {
                    // may_goto is a loop head that converges like a callback call site.
                    if let Insn::MayGoto { .. } = insns[pc] {
                        cfg.callback_site[pc] = true;
                        cfg.prune[pc] = true;
                    }
                    let t = insns[pc].jump_target(pc).unwrap_or(0) as usize;
                    if t < start || t >= end {
                        return Err((
                            pc,
                            Fail::new(
                                format!("jump out of range from insn {pc} to {t}"),
                                "a jump may not leave its function; use call for functions",
                            ),
                        ));
                    }
                    cfg.prune[t] = true;
                    // Like Linux (`visit_insn`): the conditional jump itself, so a state seen
                    // before is pruned before it splits in two.
                    if matches!(insns[pc], Insn::Jump { .. } | Insn::MayGoto { .. }) {
                        cfg.prune[pc] = true;
                    }
                }
                _ => {}
            }
        }
    }
    // A program without backward jumps has no loop: one sweep in reverse order computes its
    // liveness, and back-edges need no search.
    let cyclic = insns.iter().enumerate().any(|(pc, insn)| {
        matches!(
            insn,
            Insn::Ja { .. } | Insn::Jump { .. } | Insn::MayGoto { .. }
        ) && insn.jump_target(pc).is_some_and(|t| t <= pc as i64)
    });
    // Reachability: forward sweeps when back-edges are allowed or impossible (no stack, no
    // per-instruction bookkeeping), else a depth-first search that finds them.
    let reached = if privileged || !cyclic {
        reach_by_sweeps(insns, &cfg)
    } else {
        None
    };
    let color = match reached {
        Some(r) => r,
        None => reach_by_search(insns, &cfg, privileged)?,
    };
    for pc in 0..len {
        if color[pc] == 0 && !matches!(insns[pc], Insn::LddwHigh) {
            return Err((
                pc,
                Fail::new(
                    format!("unreachable insn {pc}"),
                    "no path leads here; remove the dead code",
                ),
            ));
        }
    }
    cfg.cyclic = cyclic;
    Ok(cfg)
}

/// The function a `call` or `lddw func` at `pc` refers to, if any.
fn callee_start(insns: &[Insn], pc: usize) -> Option<i64> {
    match insns[pc] {
        Insn::Call(CallTarget::Local(_)) => insns[pc].jump_target(pc),
        Insn::Lddw {
            kind: LddwKind::Func,
            imm,
            ..
        } => Some(func_target(pc, imm)),
        _ => None,
    }
}

/// Reachable slots (non-zero) by forward sweeps: a sweep marks the successors of every
/// reached slot, so code reached only through jumps or calls backwards needs another one.
/// `None` if a few sweeps do not settle (then the search decides).
fn reach_by_sweeps(insns: &[Insn], cfg: &Cfg) -> Option<Vec<u8>> {
    let len = insns.len();
    let mut reached = vec![0u8; len];
    reached[0] = 1;
    for _ in 0..4 {
        let mut again = false;
        for pc in 0..len {
            if reached[pc] == 0 || matches!(insns[pc], Insn::LddwHigh) {
                continue;
            }
            let mut mark = |t: usize| {
                if t < len && reached[t] == 0 {
                    reached[t] = 1;
                    again |= t <= pc;
                }
            };
            for &s in successors(insns, pc).as_slice() {
                mark(s);
            }
            if let Some(t) = callee_start(insns, pc) {
                mark(cfg.starts[cfg.subprog_of(t as usize)]);
            }
        }
        if !again {
            return Some(reached);
        }
    }
    None
}

/// Reachable slots (non-zero) by depth-first search from each reached subprogram, refusing
/// back-edges unless `privileged`.
fn reach_by_search(insns: &[Insn], cfg: &Cfg, privileged: bool) -> Result<Vec<u8>, (usize, Fail)> {
    let len = insns.len();
    let mut color = vec![0u8; len]; // 0 white, 1 on stack, 2 done
    let mut reached_sp = vec![false; cfg.starts.len()];
    reached_sp[0] = true;
    let mut sp_queue = vec![0usize];
    while let Some(sp) = sp_queue.pop() {
        let mut stack: Vec<(usize, usize)> = vec![(cfg.starts[sp], 0)];
        color[cfg.starts[sp]] = 1;
        while let Some(top) = stack.last_mut() {
            let (pc, next) = *top;
            let succ = successors(insns, pc);
            let succ = succ.as_slice();
            if next < succ.len() {
                top.1 += 1;
                let t = succ[next];
                match color[t] {
                    0 => {
                        color[t] = 1;
                        stack.push((t, 0));
                    }
                    1 if !privileged => {
                        return Err((
                            pc,
                            Fail::new(
                                format!("back-edge from insn {pc} to {t}"),
                                "loops need a privileged loader (CAP_BPF)",
                            ),
                        ));
                    }
                    _ => {}
                }
            } else {
                color[pc] = 2;
                stack.pop();
                if let Some(t) = callee_start(insns, pc) {
                    let callee = cfg.subprog_of(t as usize);
                    if !reached_sp[callee] {
                        reached_sp[callee] = true;
                        sp_queue.push(callee);
                    }
                }
            }
        }
    }
    Ok(color)
}

const ARGS: u16 = 0b11_1110; // r1..=r5
const CLOBBERED: u16 = 0b11_1111; // r0..=r5

fn bit(r: Reg) -> u16 {
    1 << r.number()
}

/// (registers read, registers written) by one instruction, within its function.
fn use_def(insn: &Insn) -> (u16, u16) {
    let op = |o: &Operand| match o {
        Operand::Reg(r) => bit(*r),
        Operand::Imm(_) => 0,
    };
    match insn {
        Insn::Alu {
            op: aop, dst, src, ..
        } => {
            let reads_dst = !matches!(
                aop,
                AluOp::Mov | AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32
            );
            (op(src) | if reads_dst { bit(*dst) } else { 0 }, bit(*dst))
        }
        Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => (bit(*dst), bit(*dst)),
        Insn::Lddw { dst, .. } => (0, bit(*dst)),
        Insn::Load { dst, src, .. } => (bit(*src), bit(*dst)),
        Insn::Store { dst, src, .. } => (bit(*dst) | op(src), 0),
        Insn::Atomic {
            op: aop, dst, src, ..
        } => {
            let mut u = bit(*dst) | bit(*src);
            let mut d = 0;
            if *aop == AtomicOp::CmpXchg {
                u |= 1;
                d |= 1;
            } else if aop.fetches() {
                d |= bit(*src);
            }
            (u, d)
        }
        Insn::LoadPacket { mode, .. } => {
            let ind = match mode {
                PacketMode::Ind(r) => bit(*r),
                PacketMode::Abs => 0,
            };
            (bit(Reg::R6) | ind, CLOBBERED)
        }
        Insn::Jump { dst, src, .. } => (bit(*dst) | op(src), 0),
        Insn::Call(_) => (ARGS, CLOBBERED),
        Insn::Callx { reg } => (ARGS | bit(*reg), CLOBBERED),
        Insn::Exit => (1, 0),
        Insn::Ja { .. } | Insn::MayGoto { .. } | Insn::LddwHigh => (0, 0),
    }
}

/// The least solution of a backward register data-flow problem: `transfer(insn, pc, out)` gives
/// the set on entry to `pc` from the union `out` of its successors' sets (monotone in `out`).
///
/// Sweeps in reverse order first: a slot is then computed after its forward successors, so
/// one sweep is exact without loops, and each further one carries the sets once more around
/// every loop. Deeply nested loops that do not settle in a few sweeps finish with a worklist.
fn backward(insns: &[Insn], cyclic: bool, transfer: impl Fn(&Insn, usize, u32) -> u32) -> Vec<u32> {
    let len = insns.len();
    let mut set = vec![0u32; len];
    let out_of = |set: &[u32], pc: usize| {
        successors(insns, pc)
            .as_slice()
            .iter()
            .filter(|&&s| s < len)
            .fold(0u32, |acc, &s| acc | set[s])
    };
    for _ in 0..4 {
        let mut changed = false;
        for pc in (0..len).rev() {
            if matches!(insns[pc], Insn::LddwHigh) {
                continue;
            }
            let inn = transfer(&insns[pc], pc, out_of(&set, pc));
            if inn != set[pc] {
                set[pc] = inn;
                changed = true;
            }
        }
        if !cyclic || !changed {
            return set;
        }
    }
    // Every value so far is below the fixpoint (they only grow from empty), so the worklist
    // may start from them.
    // Predecessors in one array (CSR: those of `pc` are `preds[first[pc]..first[pc + 1]]`),
    // not one vector per instruction.
    // u32 indices: programs have at most 1,000,000 slots (validated before).
    let mut first = vec![0u32; len + 1];
    let each_edge = |f: &mut dyn FnMut(usize, usize)| {
        for pc in 0..len {
            if matches!(insns[pc], Insn::LddwHigh) {
                continue;
            }
            for &s in successors(insns, pc).as_slice() {
                if s < len {
                    f(pc, s);
                }
            }
        }
    };
    each_edge(&mut |_, s| first[s + 1] += 1);
    for i in 0..len {
        first[i + 1] += first[i];
    }
    let mut fill = first.clone();
    let mut preds = vec![0u32; first[len] as usize];
    each_edge(&mut |pc, s| {
        preds[fill[s] as usize] = pc as u32;
        fill[s] += 1;
    });
    let mut work: Vec<u32> = (0..len as u32).collect();
    let mut queued = vec![true; len];
    while let Some(pc) = work.pop() {
        let pc = pc as usize;
        queued[pc] = false;
        if matches!(insns[pc], Insn::LddwHigh) {
            continue;
        }
        let inn = transfer(&insns[pc], pc, out_of(&set, pc));
        if inn != set[pc] {
            set[pc] = inn;
            for &p in &preds[first[pc] as usize..first[pc + 1] as usize] {
                if !queued[p as usize] {
                    queued[p as usize] = true;
                    work.push(p);
                }
            }
        }
    }
    set
}

/// Per slot: the registers live on entry (low 16 bits) and those whose exact value may
/// matter (high 16 bits), in one backward pass.
///
/// Liveness: some path from the slot reads the register in this function before writing it.
/// Precision: some path from there, before overwriting the register, lets its value (or a
/// value computed from it) decide a jump, an address, a helper or function argument, a value
/// stored to the stack (where a later load gets it back as it was), a pointer offset, or a
/// checked return value. The other registers, when
/// numbers, may hold any number without changing what the program may do; see "Precision" in
/// the crate docs.
///
/// `main_exit_checked`: whether the program type checks the value the main function returns
/// (exits of other functions always count: their caller or helper uses r0).
pub fn registers(insns: &[Insn], cfg: &Cfg, main_exit_checked: bool) -> Vec<u32> {
    let main_end = cfg.starts.get(1).copied().unwrap_or(insns.len());
    // The main function is never called itself (a callee starting at slot 0 is refused as
    // recursion, but be sure): its exits return to the loader only.
    let main_called = cfg.callees.iter().any(|c| c.contains(&0));
    let stack = may_point_to_stack(insns, cfg);
    backward(insns, cfg.cyclic, |insn, pc, out| {
        let (u, d) = use_def(insn);
        let live = u | (out as u16 & !d);
        let to_stack = stack.get(pc).is_none_or(|&s| match insn {
            Insn::Store { dst, .. } => s & bit(*dst) != 0,
            _ => true,
        });
        let precise = precise_in(insn, (out >> 16) as u16, to_stack, || {
            !(pc < main_end && !main_called && !main_exit_checked)
        });
        u32::from(live) | u32::from(precise) << 16
    })
}

/// Per slot, the registers that may hold a pointer into a stack frame on entry (bit `r`): a
/// forward may-analysis. Every function starts with r1-r5 (its caller's arguments) and r10;
/// copies and arithmetic carry the bit; loads, fetching atomics and the results of BPF
/// functions and kfuncs may give one back (a spilled pointer, an argument returned); helper
/// results never point into the stack, and calls clobber r1-r5. Empty when no instruction
/// stores a register (nothing asks), all bits everywhere if loops do not settle in 8 sweeps.
fn may_point_to_stack(insns: &[Insn], cfg: &Cfg) -> Vec<u16> {
    if !insns.iter().any(|i| {
        matches!(
            i,
            Insn::Store {
                src: Operand::Reg(_),
                ..
            }
        )
    }) {
        return Vec::new();
    }
    let len = insns.len();
    let mut inn = vec![0u16; len];
    for &s in &cfg.starts {
        if s < len {
            inn[s] = ARGS | bit(Reg::R10);
        }
    }
    let reg = |o: &Operand| match o {
        Operand::Reg(r) => bit(*r),
        Operand::Imm(_) => 0,
    };
    for _ in 0..8 {
        let mut changed = false;
        for pc in 0..len {
            if matches!(insns[pc], Insn::LddwHigh) {
                continue;
            }
            let s = inn[pc];
            let out = match &insns[pc] {
                Insn::Alu { op, dst, src, .. } => {
                    let from = if matches!(
                        op,
                        AluOp::Mov | AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32
                    ) {
                        s & reg(src)
                    } else {
                        s & (reg(src) | bit(*dst))
                    };
                    (s & !bit(*dst)) | if from != 0 { bit(*dst) } else { 0 }
                }
                Insn::Lddw { dst, .. } => s & !bit(*dst),
                Insn::Load { dst, .. } => s | bit(*dst),
                Insn::Atomic { op, src, .. } => {
                    if *op == AtomicOp::CmpXchg {
                        s | 1
                    } else if op.fetches() {
                        s | bit(*src)
                    } else {
                        s
                    }
                }
                Insn::LoadPacket { .. } | Insn::Call(CallTarget::Helper(_)) => s & !CLOBBERED,
                Insn::Call(_) | Insn::Callx { .. } => (s & !CLOBBERED) | 1,
                _ => s,
            };
            for &t in successors(insns, pc).as_slice() {
                if t < len && inn[t] | out != inn[t] {
                    inn[t] |= out;
                    changed = true;
                }
            }
        }
        if !changed {
            return inn;
        }
    }
    vec![u16::MAX; len]
}

/// Precise registers on entry to `insn` from those `out` on exit; `to_stack`: whether a store
/// may write the stack (the stored value is then restored exactly by a later load); `exit_checked`:
/// whether r0 matters at this `exit`.
fn precise_in(insn: &Insn, out: u16, to_stack: bool, exit_checked: impl Fn() -> bool) -> u16 {
    let reg = |o: &Operand| match o {
        Operand::Reg(r) => bit(*r),
        Operand::Imm(_) => 0,
    };
    match insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let d = bit(*dst);
            let mov = matches!(
                op,
                AluOp::Mov | AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32
            );
            let mut inn = out & !d;
            if out & d != 0 {
                // The result matters, so do the operands.
                inn |= reg(src) | if mov { 0 } else { d };
            }
            if matches!(op, AluOp::Add | AluOp::Sub)
                && *width == Width::W64
                && let Operand::Reg(_) = src
            {
                // Either may be a pointer: then the number's bounds decide whether the
                // arithmetic is allowed and where the pointer points.
                inn |= reg(src) | d;
            }
            inn
        }
        Insn::Neg { .. } | Insn::Endian { .. } => out,
        Insn::Lddw { dst, .. } => out & !bit(*dst),
        Insn::Load { dst, src, .. } => (out & !bit(*dst)) | bit(*src),
        // A number stored anywhere but the stack is forgotten (loads from there give unknown
        // numbers): only its address matters.
        Insn::Store { dst, src, .. } if to_stack => out | bit(*dst) | reg(src),
        Insn::Store { dst, .. } => out | bit(*dst),
        Insn::Atomic { .. } | Insn::LoadPacket { .. } | Insn::Call(_) | Insn::Callx { .. } => {
            // Every register read decides an address, an argument or a stored value.
            let (u, d) = use_def(insn);
            u | (out & !d)
        }
        Insn::Jump { dst, src, .. } => out | bit(*dst) | reg(src),
        Insn::Exit => u16::from(exit_checked()),
        Insn::Ja { .. } | Insn::MayGoto { .. } | Insn::LddwHigh => out,
    }
}
