//! Instruction selection: one template per BPF instruction, checked mode.
//!
//! Registers are mapped as in the Linux JIT: r0 = rax, r1 = rdi, r2 = rsi, r3 = rdx, r4 = rcx,
//! r5 = r8, r6 = rbx, r7 = r13, r8 = r14, r9 = r15, r10 = rbp. `r12` holds the run context,
//! `r10` counts the instruction budget down, `r9` and `r11` are scratch.
//!
//! Layout: prologue, the program's slots in order (checked mode: a budget check at the start of
//! each straight-line block, see `budget_blocks`), then shared out-of-line routines (epilogue,
//! error exits, calls into Rust, frame push/pop), then per-site stubs (budget failure, second
//! range check, memory slow path), so the hot path falls through.

// `dynasm!` converts every dynamic register operand with `.into()`, even a `u8` already.
#![allow(clippy::useless_conversion)]

use super::ctx::{
    ERR_BUDGET, ERR_DEPTH, ERR_INVALID, OP_ATOMIC, OP_LOAD, OP_LOAD_SIGNED, OP_STORE, SAVED_BUDGET,
    off,
};
use crate::memory::STACK_FRAME_SIZE;
use dynasmrt::x64::X64Relocation;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler, dynasm};
use waggle_isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpOp, Operand, PacketMode, Reg, Size, Width,
};

type Asm = VecAssembler<X64Relocation>;

/// `dynasm!` for x86-64.
macro_rules! asm {
    ($ops:expr; $($t:tt)*) => {
        dynasm!($ops ; .arch x64 ; $($t)*)
    };
}

const RAX: u8 = 0;
const RCX: u8 = 1;
const RDX: u8 = 2;
const R9: u8 = 9;
const R11: u8 = 11;

/// x86 register of each BPF register.
const MAP: [u8; 11] = [0, 7, 6, 2, 1, 8, 3, 13, 14, 15, 5];

fn x86(r: Reg) -> u8 {
    MAP[r.index()]
}

/// The BPF register mapped to x86 register `x`.
fn reg_of(x: u8) -> Reg {
    let i = MAP.iter().position(|&m| m == x).unwrap_or(0);
    Reg::new(i as u8).unwrap_or(Reg::R0)
}

/// Addresses of the `extern "sysv64"` shims generated code calls.
pub(crate) struct Trampolines {
    pub(crate) memory: usize,
    pub(crate) helper: usize,
    pub(crate) callx: usize,
    pub(crate) packet: usize,
    pub(crate) helper_direct: usize,
}

/// A value the memory slow path needs besides the address.
#[derive(Clone, Copy)]
enum Val {
    None,
    Reg(u8),
    Imm(i32),
    /// An immediate to materialise blinded.
    Blind(i32),
}

/// Labels of the shared out-of-line routines (dynamic labels: dynasm resolves global ones by
/// hashing their names at every reference).
#[derive(Clone, Copy)]
struct Globals {
    epilogue: DynamicLabel,
    budget_fail: DynamicLabel,
    depth_fail: DynamicLabel,
    invalid: DynamicLabel,
    frame_push: DynamicLabel,
    frame_pop_ret: DynamicLabel,
    mem_slow: DynamicLabel,
    helper_slow: DynamicLabel,
    callx_slow: DynamicLabel,
    packet_slow: DynamicLabel,
}

impl Globals {
    fn new(ops: &mut Asm) -> Globals {
        let mut l = || ops.new_dynamic_label();
        Globals {
            epilogue: l(),
            budget_fail: l(),
            depth_fail: l(),
            invalid: l(),
            frame_push: l(),
            frame_pop_ret: l(),
            mem_slow: l(),
            helper_slow: l(),
            callx_slow: l(),
            packet_slow: l(),
        }
    }
}

/// Out-of-line code emitted after the program.
enum Stub {
    /// The budget ran out in the block that ends before slot `end`.
    Budget { entry: DynamicLabel, end: u32 },
    /// A call at `pc` beyond the last frame.
    Depth { entry: DynamicLabel, pc: u32 },
    /// An access the inline check did not grant: done by Rust, result into `result`.
    Mem {
        entry: DynamicLabel,
        back: DynamicLabel,
        pc: u32,
        op: u32,
        val: Val,
        result: Option<u8>,
    },
    /// The second slot of an `lddw`: only reachable by a jump (never in a validated program).
    LddwHigh { pc: u32 },
    /// An access the inline range check did not grant: the other range (`Head` offsets of its
    /// low end and size limit) grants it (back to `ok`) or the slow path gets it.
    Second {
        entry: DynamicLabel,
        ok: DynamicLabel,
        slow: DynamicLabel,
        lo: i32,
        lim: i32,
    },
}

struct Emitter {
    ops: Asm,
    /// Shared routines.
    g: Globals,
    /// The label of each slot that is a jump or call target, and of the end.
    labels: Vec<Option<DynamicLabel>>,
    /// Checked mode: at the first slot of each budget block, the block's length (else 0).
    blocks: Vec<u32>,
    stubs: Vec<Stub>,
    /// Verified mode: no bounds checks, no budget (see `Jit::new_verified`).
    verified: bool,
    /// Lean entry (see `Mode::lean`).
    lean: bool,
    /// Bit `n` set when the program names BPF register `rn` (see `mentioned`).
    used: u16,
    /// Address of the direct helper-call shim.
    helper_direct_addr: usize,
    /// Verified mode: helpers called as plain functions, by id: (function, first argument).
    natives: Vec<Option<(usize, usize)>>,
    /// Slots some jump or call targets (control may arrive from elsewhere).
    targets: Vec<bool>,
    /// The x86 register and width whose value the flags (ZF) describe after the previous
    /// instruction, when that instruction was an add/sub/and/or/xor.
    flags: Option<(u8, bool)>,
    /// The same, set by the instruction being emitted.
    new_flags: Option<(u8, bool)>,
    /// Constant blinding: a random source of keys and a counter, when enabled.
    blind: Option<(std::hash::RandomState, u64)>,
    /// Whether the program has BPF-to-BPF calls (else every `exit` leaves the run).
    has_calls: bool,
    /// Code offset of each slot's first instruction.
    offsets: Vec<u32>,
    /// Slots that are the target of a backward jump: aligned to 16 bytes.
    loop_heads: Vec<bool>,
    /// Host callee-saved registers the program uses, pushed by the prologue in this order.
    saved: Vec<u8>,
    /// Bytes of BPF stack the code reserves on the native stack itself (own-stack mode), 0
    /// when the run's `StackBuf` is used (`Head::fp`).
    own_stack: i32,
    /// Whether r12 holds the run context (lean code that never needs it leaves it alone).
    ctx: bool,
    /// Set while emitting the first copy of an unrolled loop's back jump: the label to leave
    /// the loop by instead (see `unroll`).
    invert: Option<DynamicLabel>,
}

/// How to compile.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Mode {
    /// Leave out bounds checks and the budget (the program was verified).
    pub(crate) verified: bool,
    /// Constant blinding: no immediate of the program appears in the code.
    pub(crate) blind: bool,
    /// The lean path (code that never calls into Rust): the BPF stack is reserved on the
    /// native stack (no Rust view of it is needed; r10 does not come from `Head::fp`), and
    /// r1..=r5 arrive in registers after the context (`LeanEntry`); only `Core` fields of
    /// the context are used.
    pub(crate) lean: bool,
}

/// Bit `n` set for each BPF register `rn` the instruction names (or uses implicitly).
fn mentioned(insn: &Insn) -> u16 {
    let bit = |r: Reg| 1u16 << r.index();
    let op = |o: Operand| match o {
        Operand::Reg(r) => bit(r),
        Operand::Imm(_) => 0,
    };
    match *insn {
        Insn::Alu { dst, src, .. } | Insn::Jump { dst, src, .. } => bit(dst) | op(src),
        Insn::Store { dst, src, .. } => bit(dst) | op(src),
        Insn::Neg { dst, .. } | Insn::Endian { dst, .. } | Insn::Lddw { dst, .. } => bit(dst),
        Insn::Load { dst, src, .. } | Insn::Atomic { dst, src, .. } => bit(dst) | bit(src) | 1,
        Insn::LoadPacket { mode, .. } => match mode {
            PacketMode::Ind(r) => bit(r) | 1,
            PacketMode::Abs => 1,
        },
        Insn::Callx { reg } => bit(reg) | 0x3f,
        Insn::Call(_) => 0x3f,
        Insn::Exit => 1,
        _ => 0,
    }
}

/// Compiled code and where each slot's code starts.
pub(crate) struct Output {
    pub(crate) bytes: Vec<u8>,
    pub(crate) offsets: Vec<u32>,
}

fn size_index(size: Size) -> usize {
    match size {
        Size::B => 0,
        Size::H => 1,
        Size::W => 2,
        Size::DW => 3,
    }
}

/// Index into `trampolines::ATOMIC_OPS`.
fn atomic_index(op: AtomicOp) -> u32 {
    match op {
        AtomicOp::Add { fetch } => 4 * u32::from(fetch),
        AtomicOp::Or { fetch } => 1 + 4 * u32::from(fetch),
        AtomicOp::And { fetch } => 2 + 4 * u32::from(fetch),
        AtomicOp::Xor { fetch } => 3 + 4 * u32::from(fetch),
        AtomicOp::Xchg => 8,
        AtomicOp::CmpXchg => 9,
    }
}

/// `$mn dst, src` at 64 or 32 bits, register or immediate source.
macro_rules! binop {
    ($ops:expr, $mn:ident, $w64:expr, $d:expr, $src:expr) => {
        match ($w64, $src) {
            (true, Operand::Reg(s)) => asm!($ops; $mn Rq($d), Rq(x86(s))),
            (true, Operand::Imm(i)) => asm!($ops; $mn Rq($d), i),
            (false, Operand::Reg(s)) => asm!($ops; $mn Rd($d), Rd(x86(s))),
            (false, Operand::Imm(i)) => asm!($ops; $mn Rd($d), i),
        }
    };
}

/// `$mn dst, src` for instructions with a sign-extended 8-bit immediate form (add, sub, and,
/// or, xor, cmp): that form when the immediate fits (3-4 bytes instead of 6-7).
macro_rules! arith {
    ($ops:expr, $mn:ident, $w64:expr, $d:expr, $src:expr) => {
        match ($w64, $src) {
            (true, Operand::Imm(i)) if i8::try_from(i).is_ok() => {
                asm!($ops; $mn Rq($d), BYTE (i as i8).into())
            }
            (false, Operand::Imm(i)) if i8::try_from(i).is_ok() => {
                asm!($ops; $mn Rd($d), BYTE (i as i8).into())
            }
            _ => binop!($ops, $mn, $w64, $d, $src),
        }
    };
}

mod copy;
mod fast;
mod select;
mod unroll;

/// Compile a validated, prepared program. The entry point (`extern "sysv64" fn(ctx) -> r0`)
/// is at offset 0.
pub(crate) fn compile(
    insns: &[Insn],
    tramps: &Trampolines,
    mode: Mode,
    natives: &[Option<(usize, usize)>],
) -> Result<Output, String> {
    let n = insns.len();
    let mut loop_heads = vec![false; n];
    let mut targets = vec![false; n];
    let mut has_calls = false;
    let mut n_targets = 0;
    for (pc, insn) in insns.iter().enumerate() {
        has_calls |= waggle_isa::is_local_call(insn);
        if let Some(t) = insn.jump_target(pc)
            && let Ok(t) = usize::try_from(t)
            && t < n
        {
            n_targets += usize::from(!targets[t]);
            targets[t] = true;
            loop_heads[t] |= t <= pc;
        }
    }
    let blocks = if mode.verified {
        Vec::new()
    } else {
        budget_blocks(insns, &targets)
    };
    // Sized for typical output (verified code: ~8 bytes per slot; checked: a bounds check
    // and its stub per access, a budget check per block) to avoid regrowth.
    let per_slot = if mode.verified { 12 } else { 40 };
    let mut ops = Asm::new_with_capacity(
        0,
        4096 + n * per_slot,
        0,
        0,
        64 + n_targets + n / 2,
        0,
        64 + n,
    );
    // Labels only where control arrives by a jump or call (and the end, for safety).
    let labels = (0..=n)
        .map(|pc| (pc == n || targets[pc]).then(|| ops.new_dynamic_label()))
        .collect();
    let used = insns.iter().fold(0u16, |m, i| m | mentioned(i));
    let uses = |r: Reg| used & (1 << r.index()) != 0;
    // r12 (the context) unless lean code never reads it (no BPF-to-BPF calls, no
    // `may_goto`: nothing else in lean code touches the context but paths validation makes
    // unreachable, which trap instead); rbp (r10) for stack use or calls; the others if named.
    let ctx = !mode.lean || has_calls || insns.iter().any(|i| matches!(i, Insn::MayGoto { .. }));
    let mut saved = if ctx { vec![12u8] } else { Vec::new() };
    if uses(Reg::R10) || has_calls {
        saved.push(5);
    }
    for r in [Reg::R6, Reg::R7, Reg::R8, Reg::R9] {
        if uses(r) || has_calls {
            saved.push(x86(r));
        }
    }
    // Direct helper calls need a 16-byte aligned stack: with an even number of pushes it is
    // 8 off in the body, so push one more unused callee-saved register (zeroed and restored
    // like the others) instead of adjusting rsp around every call.
    let direct_calls = insns.iter().any(|i| {
        matches!(i, Insn::Call(CallTarget::Helper(id)) if matches!(natives.get(*id as usize), Some(Some(_))))
    });
    if direct_calls
        && saved.len().is_multiple_of(2)
        && let Some(&pad) = [3u8, 13, 14, 15].iter().find(|r| !saved.contains(r))
    {
        saved.push(pad);
    }
    let own_stack = match (mode.lean, has_calls, uses(Reg::R10)) {
        (false, _, _) => 0,
        (true, true, _) => (crate::MAX_FRAMES * STACK_FRAME_SIZE) as i32,
        (true, false, true) => STACK_FRAME_SIZE as i32,
        (true, false, false) => 0,
    };
    let g = Globals::new(&mut ops);
    let mut e = Emitter {
        ops,
        g,
        labels,
        blocks,
        stubs: Vec::new(),
        lean: mode.lean,
        used,
        helper_direct_addr: tramps.helper_direct,
        natives: natives.to_vec(),
        targets,
        flags: None,
        new_flags: None,
        blind: mode.blind.then(|| (std::hash::RandomState::new(), 0)),
        verified: mode.verified,
        has_calls,
        offsets: vec![0; n],
        loop_heads,
        saved,
        own_stack,
        ctx,
        invert: None,
    };
    e.prologue();
    e.slots(0, n, insns);
    // One more offset: where the out-of-line code starts.
    let body = e.ops.offset().0 as u32;
    e.offsets.push(body);
    // Falling off the end (impossible after validation) is the interpreter's error.
    let end = e.end_label();
    let g = e.g;
    asm!(e.ops ; =>end);
    if e.ctx {
        asm!(e.ops
            ; mov DWORD [r12 + off::PC], insns.len() as i32
            ; jmp =>g.invalid
        );
    } else {
        asm!(e.ops ; ud2);
    }
    e.shared(tramps);
    e.emit_stubs();
    let offsets = e.offsets;
    let bytes = e.ops.finalize().map_err(|err| err.to_string())?;
    Ok(Output { bytes, offsets })
}

/// Recommended multi-byte NOPs (Intel SDM, "NOP"), by length 1..=9.
const NOPS: [&[u8]; 9] = [
    &[0x90],
    &[0x66, 0x90],
    &[0x0f, 0x1f, 0x00],
    &[0x0f, 0x1f, 0x40, 0x00],
    &[0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
    &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];

/// Checked mode: the budget blocks, as the length of the block starting at each slot (0 for
/// slots inside a block). A block is a run of slots entered only at its first, where only the
/// last can leave the run or the block early (jumps, calls, exits, accesses that need a bounds
/// check, `lddw` whose second slot the count skips): nothing before the last slot has an
/// effect the caller sees, so checking the budget once for the whole block and, when it falls
/// short, reporting the slot it runs out on gives the interpreter's exact result.
fn budget_blocks(insns: &[Insn], targets: &[bool]) -> Vec<u32> {
    let mut blocks = vec![0u32; insns.len()];
    let mut open: Option<usize> = None;
    for (pc, insn) in insns.iter().enumerate() {
        if *insn == Insn::LddwHigh {
            open = None;
            continue;
        }
        if targets[pc] || open.is_none() {
            open = Some(pc);
        }
        let start = open.unwrap_or(pc);
        blocks[start] += 1;
        if ends_block(insn) {
            open = None;
        }
    }
    blocks
}

/// Whether control may leave the straight line (or the run) at `insn` in checked mode.
fn ends_block(insn: &Insn) -> bool {
    match *insn {
        Insn::Alu { .. } | Insn::Neg { .. } | Insn::Endian { .. } => false,
        Insn::Load { size, src, off, .. } => !in_frame(x86(src), off, size, false),
        Insn::Store { size, dst, off, .. } => !in_frame(x86(dst), off, size, false),
        Insn::Atomic { size, dst, off, .. } => !in_frame(x86(dst), off, size, true),
        _ => true,
    }
}

/// Whether an access at `base + off` is inside r10's own frame (r10 is read-only), so that it
/// needs no bounds check.
fn in_frame(base: u8, off: i16, size: Size, atomic: bool) -> bool {
    let bytes = size.bytes() as i32;
    let off = i32::from(off);
    base == x86(Reg::R10)
        && (-(STACK_FRAME_SIZE as i32)..=-bytes).contains(&off)
        && (!atomic || off % bytes == 0)
}

impl Emitter {
    /// The label after the last slot (reached only by falling off the end).
    fn end_label(&self) -> DynamicLabel {
        self.labels
            .last()
            .copied()
            .flatten()
            .unwrap_or(self.g.invalid)
    }

    /// Save the callee-saved registers the program uses, set up r1..=r5 from the context,
    /// zero r0 and r6..=r9, set r10 and the budget.
    fn prologue(&mut self) {
        for i in 0..self.saved.len() {
            let r = self.saved[i];
            asm!(self.ops ; push Rq(r));
        }
        if self.lean {
            // Each move reads its source before a later one overwrites it, so unused
            // arguments can be left out.
            if self.ctx {
                asm!(self.ops ; mov r12, rdi);
            }
            let args = [
                (Reg::R1, 7u8, 6u8),
                (Reg::R2, 6, 2),
                (Reg::R3, 2, 1),
                (Reg::R4, 1, 8),
                (Reg::R5, 8, 9),
            ];
            for (r, dst, src) in args {
                if self.used & (1 << r.index()) != 0 {
                    asm!(self.ops ; mov Rq(dst), Rq(src));
                }
            }
            asm!(self.ops ; xor eax, eax);
            if self.has_calls {
                asm!(self.ops ; mov [r12 + off::ENTRY_RSP], rsp);
            }
        } else {
            asm!(self.ops
                ; mov r12, rdi
                ; mov [r12 + off::ENTRY_RSP], rsp
                ; mov rdi, [r12 + off::ARGS]
                ; mov rsi, [r12 + off::ARGS + 8]
                ; mov rdx, [r12 + off::ARGS + 16]
                ; mov rcx, [r12 + off::ARGS + 24]
                ; mov r8, [r12 + off::ARGS + 32]
                ; xor eax, eax
            );
        }
        for i in 0..self.saved.len() {
            let r = self.saved[i];
            if ![5, 12].contains(&r) {
                asm!(self.ops ; xor Rd(r), Rd(r));
            }
        }
        if self.own_stack > 0 {
            // Touch each page on the way down (as a stack probe would), so that a guard page
            // below the native stack is hit rather than jumped over.
            let mut left = self.own_stack;
            while left > 0 {
                let step = left.min(2048);
                asm!(self.ops ; sub rsp, step ; or BYTE [rsp], 0);
                left -= step;
            }
            asm!(self.ops ; lea rbp, [rsp + self.own_stack]);
        } else if self.saved.contains(&5) {
            asm!(self.ops ; mov rbp, [r12 + off::FP]);
        }
        if !self.verified {
            asm!(self.ops ; mov r10, [r12 + off::BUDGET]);
        }
    }

    /// Restore the stack and the callee-saved registers, return r0.
    fn epilogue(&mut self) {
        if self.lean && !self.has_calls {
            // Every exit leaves from the body's own stack level (no native calls in lean code
            // without BPF-to-BPF calls): no reload through memory on the way out.
            if self.own_stack > 0 {
                asm!(self.ops ; add rsp, self.own_stack);
            }
        } else {
            asm!(self.ops ; mov rsp, [r12 + off::ENTRY_RSP]);
        }
        for i in (0..self.saved.len()).rev() {
            let r = self.saved[i];
            asm!(self.ops ; pop Rq(r));
        }
        asm!(self.ops ; ret);
    }

    /// Routines shared by all sites: exits and the calls into Rust.
    fn shared(&mut self, t: &Trampolines) {
        let g = self.g;
        let frame = STACK_FRAME_SIZE as i32;
        asm!(self.ops
            // Normal and error exit: `rsp` is reloaded, so this works from any call depth.
            ; =>g.epilogue
        );
        self.epilogue();
        asm!(self.ops
            ; =>g.budget_fail
            ; mov DWORD [r12 + off::ERR], ERR_BUDGET as i32
            ; jmp =>g.epilogue
            ; =>g.depth_fail
            ; mov DWORD [r12 + off::ERR], ERR_DEPTH as i32
            ; jmp =>g.epilogue
            ; =>g.invalid
            ; mov DWORD [r12 + off::ERR], ERR_INVALID as i32
            ; jmp =>g.epilogue
            // Enter / leave a BPF frame: the active stack range grows / shrinks by a frame.
            ; =>g.frame_push
            ; add QWORD [r12 + off::DEPTH], 1
            ; sub QWORD [r12 + off::STACK_LO], frame
            ; add QWORD [r12 + off::STACK_LIM], frame
            ; add QWORD [r12 + off::STACK_LIM + 8], frame
            ; add QWORD [r12 + off::STACK_LIM + 16], frame
            ; add QWORD [r12 + off::STACK_LIM + 24], frame
            ; ret
            ; =>g.frame_pop_ret
            ; sub QWORD [r12 + off::DEPTH], 1
            ; add QWORD [r12 + off::STACK_LO], frame
            ; sub QWORD [r12 + off::STACK_LIM], frame
            ; sub QWORD [r12 + off::STACK_LIM + 8], frame
            ; sub QWORD [r12 + off::STACK_LIM + 16], frame
            ; sub QWORD [r12 + off::STACK_LIM + 24], frame
            ; ret
            ; =>g.mem_slow
        );
        self.rust_call(t.memory);
        asm!(self.ops ; =>g.helper_slow);
        self.rust_call(t.helper);
        asm!(self.ops ; =>g.callx_slow);
        self.rust_call(t.callx);
        asm!(self.ops ; =>g.packet_slow);
        self.rust_call(t.packet);
    }

    /// Body of a routine calling `f(ctx) -> u32`: the caller-saved BPF registers and the
    /// budget are kept in the context (where Rust reads r0..=r5), the stack is aligned, and a
    /// non-zero result leaves the run.
    fn rust_call(&mut self, f: usize) {
        let g = self.g;
        let saved = |i: usize| off::SAVED + 8 * i as i32;
        asm!(self.ops
            ; mov [r12 + saved(0)], rax
            ; mov [r12 + saved(1)], rdi
            ; mov [r12 + saved(2)], rsi
            ; mov [r12 + saved(3)], rdx
            ; mov [r12 + saved(4)], rcx
            ; mov [r12 + saved(5)], r8
            ; mov [r12 + saved(SAVED_BUDGET)], r10
            ; mov [r12 + off::CALL_RSP], rsp
            ; and rsp, -16
            ; mov rdi, r12
            ; mov rax, QWORD f as i64
            ; call rax
            ; mov rsp, [r12 + off::CALL_RSP]
            ; test eax, eax
            ; jnz =>g.epilogue
            ; mov rax, [r12 + saved(0)]
            ; mov rdi, [r12 + saved(1)]
            ; mov rsi, [r12 + saved(2)]
            ; mov rdx, [r12 + saved(3)]
            ; mov rcx, [r12 + saved(4)]
            ; mov r8, [r12 + saved(5)]
            ; mov r10, [r12 + saved(SAVED_BUDGET)]
            ; ret
        );
    }

    fn emit_stubs(&mut self) {
        let g = self.g;
        for stub in std::mem::take(&mut self.stubs) {
            match stub {
                // r10 is `left - len` (wrapped): the slot reached is `start + left`.
                Stub::Budget { entry, end } => asm!(self.ops
                    ; =>entry
                    ; lea r11d, [r10 + end as i32]
                    ; mov DWORD [r12 + off::PC], r11d
                    ; jmp =>g.budget_fail
                ),
                Stub::Depth { entry, pc } => asm!(self.ops
                    ; =>entry
                    ; mov DWORD [r12 + off::PC], pc as i32
                    ; jmp =>g.depth_fail
                ),
                Stub::Second {
                    entry,
                    ok,
                    slow,
                    lo,
                    lim,
                } => asm!(self.ops
                    ; =>entry
                    ; mov r9, r11
                    ; sub r9, [r12 + lo]
                    ; cmp r9, [r12 + lim]
                    ; jb =>ok
                    ; jmp =>slow
                ),
                Stub::LddwHigh { pc } => {
                    if let Some(entry) = self.labels[pc as usize] {
                        asm!(self.ops ; =>entry);
                    }
                    if !self.ctx {
                        asm!(self.ops ; ud2);
                        continue;
                    }
                    asm!(self.ops ; mov DWORD [r12 + off::PC], pc as i32);
                    if !self.verified {
                        asm!(self.ops ; sub r10, 1 ; jb =>g.budget_fail);
                    }
                    asm!(self.ops ; jmp =>g.invalid);
                }
                Stub::Mem {
                    entry,
                    back,
                    pc,
                    op,
                    val,
                    result,
                } => {
                    asm!(self.ops
                        ; =>entry
                        ; mov [r12 + off::ADDR], r11
                        ; mov DWORD [r12 + off::OP], op as i32
                        ; mov DWORD [r12 + off::PC], pc as i32
                    );
                    match val {
                        Val::None => {}
                        Val::Reg(r) => asm!(self.ops ; mov [r12 + off::VAL], Rq(r)),
                        Val::Imm(i) => asm!(self.ops ; mov QWORD [r12 + off::VAL], i),
                        Val::Blind(i) => {
                            self.blinded_imm(R9, i, true);
                            asm!(self.ops ; mov [r12 + off::VAL], r9);
                        }
                    }
                    asm!(self.ops ; call =>g.mem_slow);
                    if let Some(r) = result {
                        asm!(self.ops ; mov Rq(r), [r12 + off::RET]);
                    }
                    asm!(self.ops ; jmp =>back);
                }
            }
        }
    }

    /// Start slot `pc`: flags bookkeeping, loop-head alignment, its offset and label, and the
    /// budget check of a block starting here. False for the second slot of an `lddw` (no
    /// code).
    fn header(&mut self, pc: usize, insn: Insn) -> bool {
        let block = self.blocks.get(pc).copied().unwrap_or(0);
        // Flags carry over only from the previous slot, and not into a jump target or past a
        // budget check.
        self.flags = if self.targets[pc] || block > 0 {
            None
        } else {
            self.new_flags.take()
        };
        self.new_flags = None;
        if insn == Insn::LddwHigh {
            self.stubs.push(Stub::LddwHigh { pc: pc as u32 });
            return false;
        }
        if self.loop_heads[pc] {
            self.align16();
        }
        self.offsets[pc] = self.ops.offset().0 as u32;
        if let Some(here) = self.labels[pc] {
            asm!(self.ops ; =>here);
        }
        if block > 0 {
            // The budget of a whole block at once (see `budget_blocks`): when fewer than
            // `block` instructions are left, the run fails at the slot the budget runs out
            // on, exactly as the interpreter's per-instruction count does.
            let entry = self.ops.new_dynamic_label();
            self.stubs.push(Stub::Budget {
                entry,
                end: (pc as u32).wrapping_add(block),
            });
            if block <= 127 {
                asm!(self.ops ; sub r10, BYTE (block as i8).into() ; jb =>entry);
            } else {
                asm!(self.ops ; sub r10, block as i32 ; jb =>entry);
            }
        }
        true
    }

    fn insn(&mut self, pc: usize, insn: Insn) {
        let g = self.g;
        if !self.header(pc, insn) {
            return;
        }
        let end = self.end_label();
        let target = |t: Option<i64>| {
            t.and_then(|t| self.labels.get(usize::try_from(t).ok()?).copied().flatten())
                .unwrap_or(end)
        };
        match insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(width == Width::W64, op, x86(dst), src),
            Insn::Neg { width, dst } => {
                let d = x86(dst);
                match width {
                    Width::W64 => asm!(self.ops ; neg Rq(d)),
                    Width::W32 => asm!(self.ops ; neg Rd(d)),
                }
            }
            Insn::Endian { order, bits, dst } => self.endian(order, bits, x86(dst)),
            Insn::Lddw { dst, imm, .. } => {
                let d = x86(dst);
                if self.blind.is_some() {
                    let key = self.next_key();
                    asm!(self.ops
                        ; mov Rq(d), QWORD (imm ^ key) as i64
                        ; mov r11, QWORD key as i64
                        ; xor Rq(d), r11
                    );
                } else if let Ok(i) = i32::try_from(imm as i64) {
                    asm!(self.ops ; mov Rq(d), i);
                } else if let Ok(u) = u32::try_from(imm) {
                    asm!(self.ops ; mov Rd(d), u as i32);
                } else {
                    asm!(self.ops ; mov Rq(d), QWORD imm as i64);
                }
            }
            Insn::LddwHigh => {}
            Insn::Load {
                size,
                signed,
                dst,
                src,
                off,
            } => self.load(pc, size, signed, x86(dst), x86(src), off),
            Insn::Store {
                size,
                dst,
                off,
                src,
            } => self.store(pc, size, x86(dst), off, src),
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => self.atomic(pc, size, op, x86(dst), x86(src), off),
            Insn::LoadPacket { size, mode, imm } => {
                match (mode, self.blind.is_some()) {
                    (PacketMode::Abs, false) => asm!(self.ops ; mov QWORD [r12 + off::VAL], imm),
                    (PacketMode::Abs, true) => {
                        self.blinded_imm(R11, imm, true);
                        asm!(self.ops ; mov [r12 + off::VAL], r11);
                    }
                    (PacketMode::Ind(r), false) => asm!(self.ops
                        ; mov r11d, Rd(x86(r))
                        ; add r11d, imm
                        ; mov [r12 + off::VAL], r11
                    ),
                    (PacketMode::Ind(r), true) => {
                        self.blinded_imm(R9, imm, false);
                        asm!(self.ops
                            ; mov r11d, Rd(x86(r))
                            ; add r11d, r9d
                            ; mov [r12 + off::VAL], r11
                        );
                    }
                }
                asm!(self.ops
                    ; mov DWORD [r12 + off::OP], size.bytes() as i32
                    ; mov DWORD [r12 + off::PC], pc as i32
                    ; call =>g.packet_slow
                    ; mov rax, [r12 + off::RET]
                );
            }
            // The first copy of an unrolled loop's back jump (see `unroll`): none.
            Insn::Ja { .. } if self.invert.take().is_some() => {}
            Insn::Ja { .. } => {
                let t = target(insn.jump_target(pc));
                let slot = insn.jump_target(pc).and_then(|t| usize::try_from(t).ok());
                self.jcc(fast::ALWAYS, t, slot, pc);
            }
            Insn::Jump {
                width,
                op,
                dst,
                src,
                ..
            } => {
                let t = target(insn.jump_target(pc));
                let slot = insn.jump_target(pc).and_then(|t| usize::try_from(t).ok());
                self.jump(width == Width::W64, op, x86(dst), src, t, (slot, pc));
            }
            Insn::Call(CallTarget::Helper(id))
                if let Some(&Some((f, data))) = self.natives.get(id as usize) =>
            {
                self.native_call(f, data);
            }
            Insn::Call(CallTarget::Helper(id)) if self.verified => self.helper_direct(pc, id),
            Insn::Call(CallTarget::Helper(id)) => asm!(self.ops
                ; mov DWORD [r12 + off::OP], id
                ; mov DWORD [r12 + off::PC], pc as i32
                ; call =>g.helper_slow
                ; mov rax, [r12 + off::RET]
            ),
            Insn::Call(CallTarget::Local(_)) => {
                let t = target(insn.jump_target(pc));
                self.local_call(pc, t);
            }
            // Refused by preparation.
            Insn::Call(CallTarget::Kfunc { .. }) if !self.ctx => asm!(self.ops ; ud2),
            Insn::Call(CallTarget::Kfunc { .. }) => asm!(self.ops
                ; mov DWORD [r12 + off::PC], pc as i32
                ; jmp =>g.invalid
            ),
            Insn::Callx { reg } => asm!(self.ops
                ; mov [r12 + off::VAL], Rq(x86(reg))
                ; mov DWORD [r12 + off::PC], pc as i32
                ; call =>g.callx_slow
                ; mov rax, [r12 + off::RET]
            ),
            // The outermost exit leaves the run; a nested one returns to its native `call`.
            // Lean code leaves straight from the body: its epilogue is a few pops (no jump).
            Insn::Exit if !self.has_calls && self.lean => self.epilogue(),
            Insn::Exit if !self.has_calls => asm!(self.ops ; jmp =>g.epilogue),
            Insn::Exit if self.verified => asm!(self.ops
                ; cmp QWORD [r12 + off::DEPTH], 0
                ; je =>g.epilogue
                ; ret
            ),
            Insn::Exit => asm!(self.ops
                ; cmp QWORD [r12 + off::DEPTH], 0
                ; je =>g.epilogue
                ; jmp =>g.frame_pop_ret
            ),
            Insn::MayGoto { .. } => {
                let t = target(insn.jump_target(pc));
                asm!(self.ops
                    ; cmp QWORD [r12 + off::LOOPS], 0
                    ; je =>t
                    ; sub QWORD [r12 + off::LOOPS], 1
                );
            }
        }
    }

    /// Whether the flags describe `d` at width `w64` (a 32-bit result's ZF also holds for
    /// the zero-extended 64-bit value, not the other way round).
    fn flags_of(&self, d: u8, w64: bool) -> bool {
        matches!(self.flags, Some((r, w)) if r == d && (w == w64 || !w))
    }

    fn alu(&mut self, w64: bool, op: AluOp, d: u8, src: Operand) {
        if matches!(
            op,
            AluOp::Add | AluOp::Sub | AluOp::Or | AluOp::And | AluOp::Xor
        ) {
            self.new_flags = Some((d, w64));
        }
        if let Operand::Imm(i) = src
            && self.blind.is_some()
            && self.alu_blinded(w64, op, d, i)
        {
            return;
        }
        match op {
            AluOp::Add => arith!(self.ops, add, w64, d, src),
            AluOp::Sub => arith!(self.ops, sub, w64, d, src),
            AluOp::Or => arith!(self.ops, or, w64, d, src),
            AluOp::And => arith!(self.ops, and, w64, d, src),
            AluOp::Xor => arith!(self.ops, xor, w64, d, src),
            AluOp::Mov => match (w64, src) {
                (_, Operand::Imm(0)) => asm!(self.ops ; xor Rd(d), Rd(d)),
                // A non-negative constant: the 32-bit move zero-extends (2 bytes shorter).
                (true, Operand::Imm(i)) if i > 0 => asm!(self.ops ; mov Rd(d), i),
                (true, Operand::Reg(s)) if x86(s) == d => {}
                _ => binop!(self.ops, mov, w64, d, src),
            },
            AluOp::Mul => match (w64, src) {
                (true, Operand::Reg(s)) => asm!(self.ops ; imul Rq(d), Rq(x86(s))),
                (true, Operand::Imm(i)) => asm!(self.ops ; imul Rq(d), Rq(d), i),
                (false, Operand::Reg(s)) => asm!(self.ops ; imul Rd(d), Rd(x86(s))),
                (false, Operand::Imm(i)) => asm!(self.ops ; imul Rd(d), Rd(d), i),
            },
            AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod => self.divmod(w64, op, d, src),
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => self.shift(w64, op, d, src),
            AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32 => {
                // Preparation refuses immediates and 32-bit movsx32.
                let Operand::Reg(s) = src else { return };
                let s = x86(s);
                match (op, w64) {
                    (AluOp::MovSx8, true) => asm!(self.ops ; movsx Rq(d), Rb(s)),
                    (AluOp::MovSx8, false) => asm!(self.ops ; movsx Rd(d), Rb(s)),
                    (AluOp::MovSx16, true) => asm!(self.ops ; movsx Rq(d), Rw(s)),
                    (AluOp::MovSx16, false) => asm!(self.ops ; movsx Rd(d), Rw(s)),
                    (_, true) => asm!(self.ops ; movsxd Rq(d), Rd(s)),
                    (_, false) => asm!(self.ops ; mov Rd(d), Rd(s)),
                }
            }
        }
    }

    /// An ALU operation with immediate `i`, blinded: the value is built in r11 (or the
    /// destination itself for a move) from `i ^ key` and `key`. False for operations that
    /// keep their immediate (shifts, whose count is at most 63; division by 0 or -1, which
    /// emits none; sign-extending moves, which have none).
    fn alu_blinded(&mut self, w64: bool, op: AluOp, d: u8, i: i32) -> bool {
        match op {
            AluOp::Mov => self.blinded_imm(d, i, w64),
            AluOp::Add | AluOp::Sub | AluOp::Or | AluOp::And | AluOp::Xor | AluOp::Mul => {
                self.blinded_imm(R11, i, w64);
                match (op, w64) {
                    (AluOp::Add, true) => asm!(self.ops ; add Rq(d), r11),
                    (AluOp::Add, false) => asm!(self.ops ; add Rd(d), r11d),
                    (AluOp::Sub, true) => asm!(self.ops ; sub Rq(d), r11),
                    (AluOp::Sub, false) => asm!(self.ops ; sub Rd(d), r11d),
                    (AluOp::Or, true) => asm!(self.ops ; or Rq(d), r11),
                    (AluOp::Or, false) => asm!(self.ops ; or Rd(d), r11d),
                    (AluOp::And, true) => asm!(self.ops ; and Rq(d), r11),
                    (AluOp::And, false) => asm!(self.ops ; and Rd(d), r11d),
                    (AluOp::Xor, true) => asm!(self.ops ; xor Rq(d), r11),
                    (AluOp::Xor, false) => asm!(self.ops ; xor Rd(d), r11d),
                    (_, true) => asm!(self.ops ; imul Rq(d), r11),
                    (_, false) => asm!(self.ops ; imul Rd(d), r11d),
                }
            }
            _ => return false,
        }
        true
    }

    /// A fresh non-zero blinding key.
    fn next_key(&mut self) -> u64 {
        use std::hash::BuildHasher;
        let Some((state, n)) = &mut self.blind else {
            return 1;
        };
        *n += 1;
        state.hash_one(*n) | 1
    }

    /// Set x86 register `x` to immediate `i` (sign-extended to 64 bits when `w64`, else
    /// zero-extended) without `i` appearing in the code when blinding (plainly otherwise).
    fn blinded_imm(&mut self, x: u8, i: i32, w64: bool) {
        if self.blind.is_none() {
            if w64 {
                asm!(self.ops ; mov Rq(x), i);
            } else {
                asm!(self.ops ; mov Rd(x), i);
            }
            return;
        }
        let key = self.next_key() as i32 | 1;
        asm!(self.ops ; mov Rd(x), i ^ key ; xor Rd(x), key);
        if w64 {
            asm!(self.ops ; movsxd Rq(x), Rd(x));
        }
    }

    /// Division and modulo, RFC 9669: by zero, `dst / 0 = 0` and `dst % 0 = dst`; signed
    /// `INT_MIN / -1 = INT_MIN`, `x % -1 = 0` (x86 would trap on both; -1 is handled apart).
    fn divmod(&mut self, w64: bool, op: AluOp, d: u8, src: Operand) {
        let signed = matches!(op, AluOp::SDiv | AluOp::SMod);
        let div = matches!(op, AluOp::Div | AluOp::SDiv);
        match src {
            Operand::Imm(0) => self.div_by_zero(w64, div, d),
            Operand::Imm(-1) if signed => self.div_by_minus_one(w64, div, d),
            Operand::Imm(i) => {
                self.blinded_imm(R11, i, w64);
                self.div_core(w64, signed, div, d);
            }
            Operand::Reg(s) => {
                let s = x86(s);
                let (zero, minus_one, done) = (
                    self.ops.new_dynamic_label(),
                    self.ops.new_dynamic_label(),
                    self.ops.new_dynamic_label(),
                );
                if w64 {
                    asm!(self.ops ; mov r11, Rq(s) ; test r11, r11 ; jz =>zero);
                    if signed {
                        asm!(self.ops ; cmp r11, -1 ; je =>minus_one);
                    }
                } else {
                    asm!(self.ops ; mov r11d, Rd(s) ; test r11d, r11d ; jz =>zero);
                    if signed {
                        asm!(self.ops ; cmp r11d, -1 ; je =>minus_one);
                    }
                }
                self.div_core(w64, signed, div, d);
                asm!(self.ops ; jmp =>done ; =>zero);
                self.div_by_zero(w64, div, d);
                asm!(self.ops ; jmp =>done ; =>minus_one);
                if signed {
                    self.div_by_minus_one(w64, div, d);
                }
                asm!(self.ops ; =>done);
            }
        }
    }

    fn div_by_zero(&mut self, w64: bool, div: bool, d: u8) {
        if div {
            asm!(self.ops ; xor Rd(d), Rd(d));
        } else if !w64 {
            asm!(self.ops ; mov Rd(d), Rd(d));
        }
    }

    fn div_by_minus_one(&mut self, w64: bool, div: bool, d: u8) {
        match (div, w64) {
            (true, true) => asm!(self.ops ; neg Rq(d)),
            (true, false) => asm!(self.ops ; neg Rd(d)),
            (false, _) => asm!(self.ops ; xor Rd(d), Rd(d)),
        }
    }

    /// `d = d op r11` through rdx:rax, which are saved in r9 and on the native stack.
    fn div_core(&mut self, w64: bool, signed: bool, div: bool, d: u8) {
        asm!(self.ops ; mov r9, rax ; push rdx);
        if d != RAX {
            asm!(self.ops ; mov rax, Rq(d));
        }
        match (w64, signed) {
            (true, true) => asm!(self.ops ; cqo ; idiv r11),
            (true, false) => asm!(self.ops ; xor edx, edx ; div r11),
            (false, true) => asm!(self.ops ; cdq ; idiv r11d),
            (false, false) => asm!(self.ops ; xor edx, edx ; div r11d),
        }
        let r = if div { RAX } else { RDX };
        if w64 {
            asm!(self.ops ; mov r11, Rq(r));
        } else {
            asm!(self.ops ; mov r11d, Rd(r));
        }
        asm!(self.ops ; pop rdx ; mov rax, r9 ; mov Rq(d), r11);
    }

    fn shift(&mut self, w64: bool, op: AluOp, d: u8, src: Operand) {
        match src {
            Operand::Imm(i) => {
                // The count is masked to the width, as x86 does too.
                let n = (if w64 { i & 63 } else { i & 31 }) as i8;
                if n == 0 {
                    if !w64 {
                        asm!(self.ops ; mov Rd(d), Rd(d));
                    }
                    return;
                }
                match (op, w64) {
                    (AluOp::Lsh, true) => asm!(self.ops ; shl Rq(d), n),
                    (AluOp::Rsh, true) => asm!(self.ops ; shr Rq(d), n),
                    (_, true) => asm!(self.ops ; sar Rq(d), n),
                    (AluOp::Lsh, false) => asm!(self.ops ; shl Rd(d), n),
                    (AluOp::Rsh, false) => asm!(self.ops ; shr Rd(d), n),
                    (_, false) => asm!(self.ops ; sar Rd(d), n),
                }
            }
            Operand::Reg(s) => {
                // The count must be in cl, which is r4: move it there and restore r4.
                let s = x86(s);
                if s == RCX {
                    self.shift_cl(w64, op, d);
                } else if d == RCX {
                    asm!(self.ops ; mov r11, rcx ; mov rcx, Rq(s));
                    self.shift_cl(w64, op, R11);
                    if w64 {
                        asm!(self.ops ; mov rcx, r11);
                    } else {
                        asm!(self.ops ; mov ecx, r11d);
                    }
                    return;
                } else {
                    asm!(self.ops ; mov r11, rcx ; mov rcx, Rq(s));
                    self.shift_cl(w64, op, d);
                    asm!(self.ops ; mov rcx, r11);
                }
                if !w64 {
                    // Zero-extend even for a zero count.
                    asm!(self.ops ; mov Rd(d), Rd(d));
                }
            }
        }
    }

    fn shift_cl(&mut self, w64: bool, op: AluOp, d: u8) {
        match (op, w64) {
            (AluOp::Lsh, true) => asm!(self.ops ; shl Rq(d), cl),
            (AluOp::Rsh, true) => asm!(self.ops ; shr Rq(d), cl),
            (_, true) => asm!(self.ops ; sar Rq(d), cl),
            (AluOp::Lsh, false) => asm!(self.ops ; shl Rd(d), cl),
            (AluOp::Rsh, false) => asm!(self.ops ; shr Rd(d), cl),
            (_, false) => asm!(self.ops ; sar Rd(d), cl),
        }
    }

    fn endian(&mut self, order: ByteOrder, bits: u8, d: u8) {
        match (order, bits) {
            (ByteOrder::ToLe, 16) => asm!(self.ops ; movzx Rd(d), Rw(d)),
            (ByteOrder::ToLe, 32) => asm!(self.ops ; mov Rd(d), Rd(d)),
            (ByteOrder::ToLe, _) => {}
            (_, 16) => asm!(self.ops ; ror Rw(d), 8 ; movzx Rd(d), Rw(d)),
            (_, 32) => asm!(self.ops ; bswap Rd(d)),
            (_, _) => asm!(self.ops ; bswap Rq(d)),
        }
    }

    /// A conditional jump to `t`, the label of slot `at.0`, from slot `at.1`.
    fn jump(
        &mut self,
        w64: bool,
        op: JmpOp,
        d: u8,
        src: Operand,
        t: DynamicLabel,
        at: (Option<usize>, usize),
    ) {
        let cond = self.compare(w64, op, d, src);
        match self.invert.take() {
            // The first copy of an unrolled loop's back jump: leave the loop when it would
            // not jump back (x86 condition codes come in pairs differing in bit 0).
            Some(out) => self.jcc(cond ^ 1, out, None, at.1),
            None => self.jcc(cond, t, at.0, at.1),
        }
    }

    /// The flags of a conditional jump's test; returns the x86 condition code under which it
    /// jumps.
    fn compare(&mut self, w64: bool, op: JmpOp, d: u8, src: Operand) -> u8 {
        let zf_only = matches!(op, JmpOp::Jeq | JmpOp::Jne);
        if let (JmpOp::Jset, Operand::Imm(i), true) = (op, src, self.blind.is_some()) {
            self.blinded_imm(R11, i, w64);
            if w64 {
                asm!(self.ops ; test Rq(d), r11);
            } else {
                asm!(self.ops ; test Rd(d), r11d);
            }
        } else if op == JmpOp::Jset {
            binop!(self.ops, test, w64, d, src);
        } else if src == Operand::Imm(0) && zf_only && self.flags_of(d, w64) {
            // The previous instruction's result is this register's value: its ZF stands.
        } else if src == Operand::Imm(0) {
            // `test r, r` sets every flag the conditions read as `cmp r, 0` does (CF = OF = 0).
            binop!(self.ops, test, w64, d, Operand::Reg(reg_of(d)));
        } else if let (Operand::Imm(i), true) = (src, self.blind.is_some()) {
            self.blinded_imm(R11, i, w64);
            if w64 {
                asm!(self.ops ; cmp Rq(d), r11);
            } else {
                asm!(self.ops ; cmp Rd(d), r11d);
            }
        } else {
            arith!(self.ops, cmp, w64, d, src);
        }
        match op {
            JmpOp::Jeq => fast::cc::E,
            JmpOp::Jne | JmpOp::Jset => fast::cc::NE,
            JmpOp::Jgt => fast::cc::A,
            JmpOp::Jge => fast::cc::AE,
            JmpOp::Jlt => fast::cc::B,
            JmpOp::Jle => fast::cc::BE,
            JmpOp::Jsgt => fast::cc::G,
            JmpOp::Jsge => fast::cc::GE,
            JmpOp::Jslt => fast::cc::L,
            JmpOp::Jsle => fast::cc::LE,
        }
    }

    /// A helper call in verified mode: r1..=r5 passed straight in the argument registers
    /// (the verifier treats them as clobbered afterwards, so they are not kept), r0 returned
    /// in rax and the stop flag in rdx. The stack's alignment is known statically here.
    fn helper_direct(&mut self, pc: usize, id: i32) {
        let g = self.g;
        // rsp is 8 mod 16 at entry; each push flips it; frames and BPF calls keep it.
        let adjust = self.saved.len().is_multiple_of(2);
        asm!(self.ops
            ; mov DWORD [r12 + off::OP], id
            ; mov DWORD [r12 + off::PC], pc as i32
        );
        if adjust {
            asm!(self.ops ; sub rsp, 8);
        }
        asm!(self.ops
            ; mov r9, r8
            ; mov r8, rcx
            ; mov rcx, rdx
            ; mov rdx, rsi
            ; mov rsi, rdi
            ; mov rdi, r12
            ; mov rax, QWORD self.helper_direct_addr as i64
            ; call rax
        );
        if adjust {
            asm!(self.ops ; add rsp, 8);
        }
        asm!(self.ops ; test edx, edx ; jnz =>g.epilogue);
    }

    /// A helper call as a plain `extern "C"` call (verified mode, `NativeHelper`):
    /// `f(r1, .., r5, data)`, r0 in rax (r1..=r5 are already in rdi, rsi, rdx, rcx, r8). r1..=r5 are clobbered (the verifier treats them so);
    /// r6..=r10 and the context live in callee-saved registers. The stack's alignment is
    /// known statically, as in `helper_direct`.
    fn native_call(&mut self, f: usize, data: usize) {
        let adjust = self.saved.len().is_multiple_of(2);
        if adjust {
            asm!(self.ops ; sub rsp, 8);
        }
        asm!(self.ops
            ; mov r9, QWORD data as i64
            ; mov rax, QWORD f as i64
            ; call rax
        );
        if adjust {
            asm!(self.ops ; add rsp, 8);
        }
    }

    /// Pad with NOPs to a 16-byte boundary (loop heads: a back edge then fetches a whole
    /// aligned block).
    fn align16(&mut self) {
        let mut pad = (16 - self.ops.offset().0 % 16) % 16;
        while pad > 0 {
            let n = pad.min(NOPS.len());
            self.ops.extend(NOPS[n - 1].iter().copied());
            pad -= n;
        }
    }

    /// A BPF-to-BPF call: a native `call`, with r6..=r9 and r10 saved on the native stack and
    /// the active stack range widened by one frame (generated code tracks the depth; Rust
    /// catches up when it next looks, see `Ctx::sync_stack`).
    fn local_call(&mut self, pc: usize, t: DynamicLabel) {
        let g = self.g;
        let depth_fail = self.ops.new_dynamic_label();
        self.stubs.push(Stub::Depth {
            entry: depth_fail,
            pc: pc as u32,
        });
        let last = (crate::MAX_FRAMES - 2) as i32;
        if self.verified {
            // No stack range to widen: only the depth, for helpers and `exit`.
            asm!(self.ops
                ; cmp QWORD [r12 + off::DEPTH], last
                ; ja =>depth_fail
                ; add QWORD [r12 + off::DEPTH], 1
                ; push rbx
                ; push r13
                ; push r14
                ; push r15
                ; push rbp
                ; sub rbp, STACK_FRAME_SIZE as i32
                ; call =>t
                ; pop rbp
                ; pop r15
                ; pop r14
                ; pop r13
                ; pop rbx
                ; sub QWORD [r12 + off::DEPTH], 1
            );
            return;
        }
        asm!(self.ops
            ; cmp QWORD [r12 + off::DEPTH], last
            ; ja =>depth_fail
            ; call =>g.frame_push
            ; push rbx
            ; push r13
            ; push r14
            ; push r15
            ; push rbp
            ; sub rbp, STACK_FRAME_SIZE as i32
            ; call =>t
            ; pop rbp
            ; pop r15
            ; pop r14
            ; pop r13
            ; pop rbx
        );
    }

    /// Compute `base + off` into r11 and check `size` bytes there against the active stack
    /// and the first caller region (for a write, if writable); an access either check grants
    /// falls through, any other goes to `slow`. Accesses at a constant offset from r10 inside
    /// its frame need no check: r10 is read-only and its frame always active.
    fn check(
        &mut self,
        base: u8,
        off: i16,
        size: Size,
        write: bool,
        atomic: bool,
    ) -> Option<DynamicLabel> {
        let bytes = size.bytes() as i32;
        let in_frame = in_frame(base, off, size, atomic);
        let off = i32::from(off);
        asm!(self.ops ; lea r11, [Rq(base) + off]);
        if in_frame {
            return None;
        }
        let slow = self.ops.new_dynamic_label();
        let i = size_index(size) as i32 * 8;
        let lim = if write {
            off::REGION_WLIM
        } else {
            off::REGION_RLIM
        };
        // Dynamic labels throughout: dynasm resolves static local labels by search.
        let ok = self.ops.new_dynamic_label();
        // Either range grants the access (the checks have no effect): the one the base
        // register most likely points into goes first, the stack for r10 and the first
        // caller region for the others.
        let ranges = [
            (off::STACK_LO, off::STACK_LIM + i),
            (off::REGION_ADDR, lim + i),
        ];
        let [(lo1, lim1), (lo2, lim2)] = if base == x86(Reg::R10) {
            ranges
        } else {
            [ranges[1], ranges[0]]
        };
        // The first range inline, falling through when it grants the access (a taken branch
        // per access costs more than a few instructions); the second out of line.
        let second = self.ops.new_dynamic_label();
        self.stubs.push(Stub::Second {
            entry: second,
            ok,
            slow,
            lo: lo2,
            lim: lim2,
        });
        asm!(self.ops
            ; mov r9, r11
            ; sub r9, [r12 + lo1]
            ; cmp r9, [r12 + lim1]
            ; jae =>second
            ; =>ok
        );
        if atomic {
            // Misaligned atomics fail; the slow path reports which way.
            asm!(self.ops ; test r11b, (bytes - 1) as i8 ; jnz =>slow);
        }
        Some(slow)
    }

    /// The address of an access as `[reg + disp]`: in verified mode the base register itself
    /// (atomics use r11, as their fetch loops need rax), else r11 after the checks.
    fn operand(
        &mut self,
        base: u8,
        off: i16,
        size: Size,
        write: bool,
        atomic: bool,
    ) -> (u8, i32, Option<DynamicLabel>) {
        if self.verified {
            if atomic {
                asm!(self.ops ; lea r11, [Rq(base) + i32::from(off)]);
                return (R11, 0, None);
            }
            return (base, i32::from(off), None);
        }
        (R11, 0, self.check(base, off, size, write, atomic))
    }

    fn mem_stub(
        &mut self,
        slow: Option<DynamicLabel>,
        pc: usize,
        op: u32,
        val: Val,
        result: Option<u8>,
    ) {
        let Some(slow) = slow else { return };
        let back = self.ops.new_dynamic_label();
        asm!(self.ops ; =>back);
        self.stubs.push(Stub::Mem {
            entry: slow,
            back,
            pc: pc as u32,
            op,
            val,
            result,
        });
    }

    fn load(&mut self, pc: usize, size: Size, signed: bool, d: u8, base: u8, off: i16) {
        if self.verified {
            self.load_short(size, signed, d, base, i32::from(off));
            return;
        }
        let (b, o, slow) = self.operand(base, off, size, false, false);
        match (size, signed) {
            (Size::B, false) => asm!(self.ops ; movzx Rd(d), BYTE [Rq(b) + o]),
            (Size::H, false) => asm!(self.ops ; movzx Rd(d), WORD [Rq(b) + o]),
            (Size::W, false) => asm!(self.ops ; mov Rd(d), DWORD [Rq(b) + o]),
            (Size::DW, _) => asm!(self.ops ; mov Rq(d), QWORD [Rq(b) + o]),
            (Size::B, true) => asm!(self.ops ; movsx Rq(d), BYTE [Rq(b) + o]),
            (Size::H, true) => asm!(self.ops ; movsx Rq(d), WORD [Rq(b) + o]),
            (Size::W, true) => asm!(self.ops ; movsxd Rq(d), DWORD [Rq(b) + o]),
        }
        let class = if signed { OP_LOAD_SIGNED } else { OP_LOAD };
        let op = class | size_index(size) as u32;
        self.mem_stub(slow, pc, op, Val::None, Some(d));
    }

    fn store(&mut self, pc: usize, size: Size, base: u8, off: i16, src: Operand) {
        if self.verified {
            match src {
                Operand::Reg(s) => return self.store_short(size, x86(s), base, i32::from(off)),
                Operand::Imm(i) if self.blind.is_none() => {
                    return self.store_imm_short(size, i, base, i32::from(off));
                }
                Operand::Imm(_) => {}
            }
        }
        let (b, o, slow) = self.operand(base, off, size, true, false);
        let val = match src {
            Operand::Reg(s) => {
                let s = x86(s);
                match size {
                    Size::B => asm!(self.ops ; mov BYTE [Rq(b) + o], Rb(s)),
                    Size::H => asm!(self.ops ; mov WORD [Rq(b) + o], Rw(s)),
                    Size::W => asm!(self.ops ; mov DWORD [Rq(b) + o], Rd(s)),
                    Size::DW => asm!(self.ops ; mov QWORD [Rq(b) + o], Rq(s)),
                }
                Val::Reg(s)
            }
            Operand::Imm(i) if self.blind.is_some() => {
                self.blinded_imm(R9, i, true);
                match size {
                    Size::B => asm!(self.ops ; mov BYTE [Rq(b) + o], r9b),
                    Size::H => asm!(self.ops ; mov WORD [Rq(b) + o], r9w),
                    Size::W => asm!(self.ops ; mov DWORD [Rq(b) + o], r9d),
                    Size::DW => asm!(self.ops ; mov QWORD [Rq(b) + o], r9),
                }
                Val::Blind(i)
            }
            Operand::Imm(i) => {
                match size {
                    Size::B => asm!(self.ops ; mov BYTE [Rq(b) + o], i as i8),
                    Size::H => asm!(self.ops ; mov WORD [Rq(b) + o], i as i16),
                    Size::W => asm!(self.ops ; mov DWORD [Rq(b) + o], i),
                    Size::DW => asm!(self.ops ; mov QWORD [Rq(b) + o], i),
                }
                Val::Imm(i)
            }
        };
        let op = OP_STORE | size_index(size) as u32;
        self.mem_stub(slow, pc, op, val, None);
    }

    /// Atomics with `lock`; or/and/xor with fetch loop on `cmpxchg`, which needs rax (r0):
    /// r0 is kept on the native stack meanwhile (not in the context: lean code's context is
    /// only the small `Core`).
    fn atomic(&mut self, pc: usize, size: Size, op: AtomicOp, base: u8, s: u8, off: i16) {
        let (_, _, slow) = self.operand(base, off, size, true, true);
        let w64 = size == Size::DW;
        match (op, w64) {
            (AtomicOp::Add { fetch: false }, true) => asm!(self.ops ; lock add [r11], Rq(s)),
            (AtomicOp::Add { fetch: false }, false) => asm!(self.ops ; lock add [r11], Rd(s)),
            (AtomicOp::Or { fetch: false }, true) => asm!(self.ops ; lock or [r11], Rq(s)),
            (AtomicOp::Or { fetch: false }, false) => asm!(self.ops ; lock or [r11], Rd(s)),
            (AtomicOp::And { fetch: false }, true) => asm!(self.ops ; lock and [r11], Rq(s)),
            (AtomicOp::And { fetch: false }, false) => asm!(self.ops ; lock and [r11], Rd(s)),
            (AtomicOp::Xor { fetch: false }, true) => asm!(self.ops ; lock xor [r11], Rq(s)),
            (AtomicOp::Xor { fetch: false }, false) => asm!(self.ops ; lock xor [r11], Rd(s)),
            (AtomicOp::Add { fetch: true }, true) => {
                asm!(self.ops ; mov r9, Rq(s) ; lock xadd [r11], r9 ; mov Rq(s), r9)
            }
            (AtomicOp::Add { fetch: true }, false) => {
                asm!(self.ops ; mov r9d, Rd(s) ; lock xadd [r11], r9d ; mov Rq(s), r9)
            }
            (AtomicOp::Xchg, true) => asm!(self.ops ; xchg [r11], Rq(s)),
            (AtomicOp::Xchg, false) => asm!(self.ops ; xchg [r11], Rd(s)),
            (AtomicOp::CmpXchg, true) => asm!(self.ops ; lock cmpxchg [r11], Rq(s)),
            // A 32-bit cmpxchg that succeeds leaves the upper half of rax: zero-extend.
            (AtomicOp::CmpXchg, false) => {
                asm!(self.ops ; lock cmpxchg [r11], Rd(s) ; mov eax, eax)
            }
            (AtomicOp::Or { .. } | AtomicOp::And { .. } | AtomicOp::Xor { .. }, _) => {
                // The operand is r0 itself: read it from the spill slot.
                let from_spill = s == RAX;
                let retry = self.ops.new_dynamic_label();
                asm!(self.ops ; push rax);
                if w64 {
                    asm!(self.ops ; mov rax, [r11] ; =>retry ; mov r9, rax);
                    match (op, from_spill) {
                        (AtomicOp::Or { .. }, false) => asm!(self.ops ; or r9, Rq(s)),
                        (AtomicOp::And { .. }, false) => asm!(self.ops ; and r9, Rq(s)),
                        (_, false) => asm!(self.ops ; xor r9, Rq(s)),
                        (AtomicOp::Or { .. }, true) => asm!(self.ops ; or r9, [rsp]),
                        (AtomicOp::And { .. }, true) => asm!(self.ops ; and r9, [rsp]),
                        (_, true) => asm!(self.ops ; xor r9, [rsp]),
                    }
                    asm!(self.ops ; lock cmpxchg [r11], r9 ; jne =>retry);
                } else {
                    asm!(self.ops ; mov eax, [r11] ; =>retry ; mov r9d, eax);
                    match (op, from_spill) {
                        (AtomicOp::Or { .. }, false) => asm!(self.ops ; or r9d, Rd(s)),
                        (AtomicOp::And { .. }, false) => asm!(self.ops ; and r9d, Rd(s)),
                        (_, false) => asm!(self.ops ; xor r9d, Rd(s)),
                        (AtomicOp::Or { .. }, true) => asm!(self.ops ; or r9d, [rsp]),
                        (AtomicOp::And { .. }, true) => asm!(self.ops ; and r9d, [rsp]),
                        (_, true) => asm!(self.ops ; xor r9d, [rsp]),
                    }
                    asm!(self.ops ; lock cmpxchg [r11], r9d ; jne =>retry);
                }
                // The old value is in rax (zero-extended when 32-bit): it goes to the source.
                if from_spill {
                    if !w64 {
                        asm!(self.ops ; mov eax, eax);
                    }
                    asm!(self.ops ; add rsp, 8);
                } else {
                    if w64 {
                        asm!(self.ops ; mov Rq(s), rax);
                    } else {
                        asm!(self.ops ; mov Rd(s), eax);
                    }
                    asm!(self.ops ; pop rax);
                }
            }
        }
        let result = match op {
            AtomicOp::CmpXchg => Some(RAX),
            _ if op.fetches() => Some(s),
            _ => None,
        };
        let desc = OP_ATOMIC | size_index(size) as u32 | atomic_index(op) << 4;
        self.mem_stub(slow, pc, desc, Val::Reg(s), result);
    }
}
