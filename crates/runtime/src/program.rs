//! The runtime's program object: relocated instructions prepared for an engine, the maps it
//! uses (kept alive as long as it is), and its run statistics.
//!
//! # Engines
//!
//! On x86-64, a program the verifier accepted runs as **verified** JIT code (the kernel's
//! model: the verifier's proof replaces runtime checks; [`Engine::Jit`]). A program loaded
//! with [`ProgLoad::skip_verifier`](crate::ProgLoad::skip_verifier) runs as **checked** JIT
//! code (bounds checks on every access, [`Engine::JitChecked`]), and programs the JIT cannot
//! run (callbacks: `bpf_loop`, `bpf_for_each_map_elem`) run on the interpreter. Verified
//! code has a checked fallback (checked JIT code compiled on first need, else the interpreter
//! prepared at load) for runs whose memory is not what the verifier assumed.
//! `WAGGLE_ENGINE=jit-checked` (or [`set_default_engine`]) forces checked code for every
//! program, `WAGGLE_ENGINE=interpreter` the interpreter; [`Program::engine`] says which one a
//! program got. Timer callbacks run through [`Program::run_callback`]: the interpreter, on
//! a copy of the program with a two-slot trampoline that calls the callback.
//!
//! # What verified code relies on
//!
//! Verified code does no bounds checks and keeps no instruction budget, so each of these
//! must hold for every run (breaking one is undefined behaviour):
//!
//! - **The verifier's memory proofs**: every load, store and atomic of the program stays in
//!   its context, its stack frames, map values returned by helpers, global data (`lddw` of
//!   a map value: array storage the program holds alive), ring-buffer records, or the packet
//!   between the context's `data`/`data_meta` and `data_end`; every loop terminates; calls
//!   nest at most 8 frames deep (deeper ones still fail cleanly).
//! - **The context a run is given**: the verifier assumed r1 points to a context of its
//!   program type (for plain programs: the bytes it proved the program uses). Each run on
//!   verified code first checks the run's memory against that assumption
//!   (`verified::CtxCheck`: r1 is the first region, long enough, writable if the program
//!   writes it; the packet the context points to lies in one writable region; the socket
//!   pointer of `__sk_buff` is NULL) and otherwise runs on the checked fallback, so
//!   [`Program::run`] stays safe whatever a caller passes. Program types whose contexts hold
//!   other pointers (socket, flow keys) or are not modelled always use the fallback. The one
//!   caller that skips the per-run check is the fast path of application hooks
//!   (`AppHook::fire`), where the check's outcome is fixed when the link is created (see
//!   `hooks::app`).
//! - **Packets**: the runtime's packet frames are below 4 GiB (`memory::LowBuffer`), so the
//!   32-bit `data`/`data_end`/`data_meta` fields hold the real addresses verified code uses
//!   directly. Helpers that move them (`xdp_adjust_*`) check the new bounds against the run's
//!   XDP frame themselves.
//! - **Helpers**: verified code calls them with arguments whose types and sizes the verifier
//!   checked against their prototypes; the helpers still reach memory only through
//!   `HelperContext`, checked against the run's regions (the context, the packet, global
//!   data, map values they returned), so a helper never reads or writes more than a region
//!   holds even if a proof were wrong. `probe_read*` read unproven addresses that way too.
//! - **The stack**: in verified mode frames are not zeroed. The verifier refuses reads of
//!   stack bytes not written first (Linux allows them to privileged loaders; here such a read
//!   would see old bytes of the run's own stack buffer, never memory outside it: the
//!   verifier bounds every stack access to the 512-byte frame).
//! - **Tail calls**: the target runs after the caller returned, with r1 = the context the
//!   verifier proved unmodified, and goes through the same context check as a first run (its
//!   own program type's), so a prog array mixing types falls back rather than trusting.
//! - **Global data**: the program's maps outlive it; the regions of its global data are
//!   added to runs that need regions (helper calls, checked engines).

use crate::map::Map;
use crate::memory::map_region;
use crate::verified::CtxCheck;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Instant;
use waggle_isa::Insn;
use waggle_uapi::ProgramType;
use waggle_vm::{Interpreter, Jit, Region, RunConfig, VmError};

/// Which engine runs loaded programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The x86-64 JIT: verified code (no runtime checks) for programs the verifier accepted,
    /// checked code for loads that skipped it. Programs it cannot run (callbacks:
    /// `bpf_loop`, `bpf_for_each_map_elem`) use the interpreter. As
    /// [`Program::engine`]'s answer: verified JIT code.
    Jit,
    /// The x86-64 JIT in checked mode for every program (bounds checks and errors as the
    /// interpreter's). As [`Program::engine`]'s answer: checked JIT code.
    JitChecked,
    /// The interpreter.
    Interpreter,
}

/// The engine chosen with [`set_default_engine`]: 0 = not chosen.
static DEFAULT_ENGINE: AtomicU8 = AtomicU8::new(0);

/// Choose the engine for programs loaded from now on, in every runtime of the process.
pub fn set_default_engine(engine: Engine) {
    let v = match engine {
        Engine::Jit => 1,
        Engine::Interpreter => 2,
        Engine::JitChecked => 3,
    };
    DEFAULT_ENGINE.store(v, Ordering::Relaxed);
}

/// The engine programs are loaded for: the one set with [`set_default_engine`], else the
/// `WAGGLE_ENGINE` environment variable (`jit`, `jit-checked` or `interpreter`), else the
/// JIT on x86-64 and the interpreter elsewhere.
pub fn default_engine() -> Engine {
    match DEFAULT_ENGINE.load(Ordering::Relaxed) {
        1 => return Engine::Jit,
        2 => return Engine::Interpreter,
        3 => return Engine::JitChecked,
        _ => {}
    }
    match std::env::var("WAGGLE_ENGINE").as_deref() {
        Ok("interpreter") => Engine::Interpreter,
        Ok("jit") => Engine::Jit,
        Ok("jit-checked") => Engine::JitChecked,
        _ if cfg!(target_arch = "x86_64") => Engine::Jit,
        _ => Engine::Interpreter,
    }
}

/// A program prepared for its engine.
// One per loaded program, inside its `Arc`: the size difference costs nothing, while boxing
// the verified variant would add a pointer chase to every run.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Compiled {
    Interpreter(Interpreter),
    JitChecked(Jit),
    /// Verified code, and for runs whose memory is not what the verifier assumed (see
    /// `verified::CtxCheck`; e.g. a tracepoint record shorter than the layout) checked code,
    /// compiled on the first such run, or the interpreter if that fails.
    JitVerified {
        jit: Jit,
        fallback: Interpreter,
        checked: std::sync::OnceLock<Option<Jit>>,
    },
}

impl Compiled {
    /// Prepare for the default engine: the JIT where it can run the program, verified code
    /// if the verifier accepted it (the interpreter was prepared by the loader, with its
    /// helpers; programs with callbacks keep it).
    fn new(insns: &[Insn], interpreter: Interpreter, verified: bool) -> Compiled {
        let engine = default_engine();
        if engine == Engine::Jit
            && verified
            && let Some(jit) = crate::verified::compile(insns, interpreter.helpers().clone())
        {
            return Compiled::JitVerified {
                jit,
                fallback: interpreter,
                checked: std::sync::OnceLock::new(),
            };
        }
        if engine != Engine::Interpreter
            && let Ok(jit) = Jit::new(insns, interpreter.helpers().clone())
        {
            return Compiled::JitChecked(jit);
        }
        Compiled::Interpreter(interpreter)
    }

    /// Which engine this is.
    fn engine(&self) -> Engine {
        match self {
            Compiled::Interpreter(_) => Engine::Interpreter,
            Compiled::JitChecked(_) => Engine::JitChecked,
            Compiled::JitVerified { .. } => Engine::Jit,
        }
    }
}

/// Regions of one run: the caller's, then the program's global data. Up to 8 live in the
/// run's own frame (no allocation); more spill to the heap.
struct RegionList<'a> {
    inline: [Region<'a>; 8],
    len: usize,
    spill: Vec<Region<'a>>,
}

impl<'a> RegionList<'a> {
    #[inline]
    fn new() -> RegionList<'a> {
        RegionList {
            // Empty regions: no access ever falls inside one.
            inline: std::array::from_fn(|_| Region::readonly(&[])),
            len: 0,
            spill: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, r: Region<'a>) {
        if self.spill.is_empty() && self.len < self.inline.len() {
            self.inline[self.len] = r;
            self.len += 1;
            return;
        }
        if self.spill.is_empty() {
            self.spill = self
                .inline
                .iter_mut()
                .map(|r| std::mem::replace(r, Region::readonly(&[])))
                .collect();
        }
        self.spill.push(r);
    }

    #[inline]
    fn as_slice(&self) -> &[Region<'a>] {
        if self.spill.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }
}

/// Global data a program addresses directly (`lddw r, map_value`): one array value.
#[derive(Debug)]
pub(crate) struct DirectValue {
    pub(crate) map: Arc<Map>,
    /// Address of the value (element 0) in the map's storage.
    pub(crate) addr: usize,
    pub(crate) len: usize,
    pub(crate) writable: bool,
}

/// Live [`StatsGuard`]s: while there is one, program runs are counted and timed.
static STATS_ENABLED: AtomicUsize = AtomicUsize::new(0);

/// `BPF_ENABLE_STATS(BPF_STATS_RUN_TIME)`: while the returned guard lives, every program run in
/// this process adds one to the program's `run_count` and its duration to `run_time_ns`
/// (Linux's `kernel.bpf_stats_enabled`, which governs both). Statistics cost two clock reads
/// and two atomic adds per run.
pub fn enable_stats() -> StatsGuard {
    STATS_ENABLED.fetch_add(1, Ordering::Relaxed);
    StatsGuard(())
}

/// Whether run statistics are on (some [`StatsGuard`] lives).
#[inline(always)]
pub(crate) fn stats_enabled() -> bool {
    STATS_ENABLED.load(Ordering::Relaxed) > 0
}

/// Keeps run-time statistics on (see [`enable_stats`]); dropping it turns them off again once
/// no other guard remains.
#[derive(Debug)]
#[must_use = "statistics stay on only while the guard lives"]
pub struct StatsGuard(());

impl Drop for StatsGuard {
    fn drop(&mut self) {
        STATS_ENABLED.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How much of its context a plain program uses, as the verifier proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CtxUse {
    /// One past the furthest byte accessed.
    pub(crate) end: u32,
    /// Whether any access writes.
    pub(crate) writes: bool,
}

/// A loaded program.
#[derive(Debug)]
pub struct Program {
    /// Unique id for the runtime's life (`PROG_GET_NEXT_ID`).
    pub id: u32,
    /// Name (up to 15 characters).
    pub name: String,
    /// Program type: decides the context and the helpers it may call.
    pub prog_type: ProgramType,
    /// License string given at load.
    pub license: String,
    /// The instructions as loaded, with map references resolved.
    pub insns: Vec<Insn>,
    /// Maps the program uses; they live at least as long as the program.
    pub maps: Vec<Arc<Map>>,
    pub(crate) direct_values: Vec<DirectValue>,
    pub(crate) engine: Compiled,
    /// What a run must give verified code (see `verified::CtxCheck`).
    ctx_check: CtxCheck,
    /// Whether the program calls helpers that use the per-run state (else runs skip it).
    calls_helpers: bool,
    /// Plain programs: the context bytes the verifier saw it use (`None` when the load
    /// skipped the verifier); hooks refuse programs that need more than they give.
    pub(crate) ctx_use: Option<CtxUse>,
    run_count: AtomicU64,
    run_time_ns: AtomicU64,
    /// Engines that run one function of the program as the entry point (timer callbacks),
    /// by the function's first slot, built on first use.
    callbacks: std::sync::Mutex<Vec<(u32, Arc<Interpreter>)>>,
    /// The first slots of the functions whose addresses the program takes, sorted (found on
    /// first need: `bpf_timer_set_callback` checks its argument against them).
    functions: std::sync::OnceLock<Box<[u32]>>,
}

/// What `OBJ_GET_INFO_BY_HANDLE` says of a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramInfo {
    /// Program id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Program type.
    pub prog_type: ProgramType,
    /// Number of instruction slots.
    pub insn_count: usize,
    /// Ids of the maps it uses.
    pub map_ids: Vec<u32>,
    /// Completed runs (like the kernel's `run_cnt` with bpf_stats enabled).
    pub run_count: u64,
    /// Total nanoseconds spent in runs (`run_time_ns`).
    pub run_time_ns: u64,
}

impl Program {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: u32,
        name: String,
        prog_type: ProgramType,
        license: String,
        insns: Vec<Insn>,
        maps: Vec<Arc<Map>>,
        direct_values: Vec<DirectValue>,
        engine: Interpreter,
        ctx_use: Option<CtxUse>,
    ) -> Program {
        let engine = Compiled::new(&insns, engine, ctx_use.is_some());
        // Without a verifier run the engine is never verified code; the check is unused.
        let u = ctx_use.unwrap_or(CtxUse {
            end: 0,
            writes: false,
        });
        let ctx_check = CtxCheck::new(prog_type, u.end, u.writes);
        // Only some helpers read or change the per-run state (tail calls, the event, the XDP
        // frame, reservations, locks): the hot ones with direct forms do not.
        let calls_helpers = insns.iter().any(|i| match i {
            Insn::Call(waggle_isa::CallTarget::Helper(id)) => {
                !crate::helpers::stateless(*id as u32)
            }
            Insn::Callx { .. } => true,
            _ => false,
        });
        Program {
            ctx_use,
            ctx_check,
            calls_helpers,
            id,
            name,
            prog_type,
            license,
            insns,
            maps,
            engine,
            direct_values,
            run_count: AtomicU64::new(0),
            run_time_ns: AtomicU64::new(0),
            callbacks: std::sync::Mutex::new(Vec::new()),
            functions: std::sync::OnceLock::new(),
        }
    }

    /// Whether `slot` starts a function whose address the program takes (`lddw` of kind
    /// `Func`): a callback it may pass to helpers.
    pub(crate) fn is_function(&self, slot: u32) -> bool {
        self.functions
            .get_or_init(|| {
                let mut f: Vec<u32> = self
                    .insns
                    .iter()
                    .enumerate()
                    .filter_map(|(pc, i)| match *i {
                        Insn::Lddw {
                            kind: waggle_isa::LddwKind::Func,
                            imm,
                            ..
                        } => u32::try_from(pc as i64 + 1 + i64::from(imm as u32 as i32)).ok(),
                        _ => None,
                    })
                    .collect();
                f.sort_unstable();
                f.dedup();
                f.into_boxed_slice()
            })
            .binary_search(&slot)
            .is_ok()
    }

    /// Run the program's function at `slot` (see [`Program::is_function`]) as the entry
    /// point, with r1..r5 = `args` and access to `regions` (plus the program's global data),
    /// as a run of this program (its helpers, per-run state released at the end): how timer
    /// callbacks run. The function runs on the interpreter, behind a two-slot trampoline
    /// (`call` the function, `exit`), so its frame, stack and calls are those of a
    /// BPF-to-BPF call, as the verifier checked it.
    pub(crate) fn run_callback(
        &self,
        slot: u32,
        args: [u64; 5],
        regions: &[Region<'_>],
    ) -> Result<u64, VmError> {
        let vm = self.callback_engine(slot)?;
        let mut list = RegionList::new();
        for r in regions {
            list.push(r.reborrow());
        }
        self.push_direct_values(&mut list);
        let config = RunConfig {
            args,
            regions: list.as_slice(),
            ..RunConfig::default()
        };
        crate::run_state::with_current_program(self, || vm.run(&config))
    }

    /// The trampoline engine entering the function at `slot`.
    fn callback_engine(&self, slot: u32) -> Result<Arc<Interpreter>, VmError> {
        let mut cache = self.callbacks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, vm)) = cache.iter().find(|(s, _)| *s == slot) {
            return Ok(vm.clone());
        }
        if !self.is_function(slot) {
            return Err(VmError::InvalidInstruction { pc: slot as usize });
        }
        // Slot 0 calls slot + 2 (the function, moved by the two trampoline slots); relative
        // jumps, calls and function addresses inside the program are unchanged by the move.
        let target = i32::try_from(slot).map_err(|_| VmError::InvalidInstruction { pc: 0 })?;
        let mut insns = Vec::with_capacity(self.insns.len() + 2);
        insns.push(Insn::Call(waggle_isa::CallTarget::Local(target + 1)));
        insns.push(Insn::Exit);
        insns.extend_from_slice(&self.insns);
        let helpers = match &self.engine {
            Compiled::Interpreter(vm) => vm.helpers(),
            Compiled::JitChecked(jit) => jit.helpers(),
            Compiled::JitVerified { fallback, .. } => fallback.helpers(),
        };
        let vm = Interpreter::with_callbacks(&insns, helpers.clone())
            .map(Arc::new)
            .map_err(|_| VmError::InvalidInstruction { pc: slot as usize })?;
        cache.push((slot, vm.clone()));
        Ok(vm)
    }

    /// Run once with r1..r5 = `args` and access to `regions` (plus the program's global data),
    /// counting the run in the program's statistics. Verified code runs only if `regions`
    /// hold what the verifier assumed (r1 = the first region, a context of the program
    /// type's size, ...; see the module docs), else the checked engine does.
    pub fn run<'r>(
        &self,
        args: [u64; 5],
        regions: impl AsRef<[Region<'r>]>,
    ) -> Result<u64, VmError> {
        self.run_inner(args, regions.as_ref(), None)
    }

    /// Like [`Program::run`], with `packet` as the data of legacy packet loads (`ldabs`).
    pub fn run_with_packet<'r>(
        &self,
        args: [u64; 5],
        regions: impl AsRef<[Region<'r>]>,
        packet: &[u8],
    ) -> Result<u64, VmError> {
        self.run_inner(args, regions.as_ref(), Some(packet))
    }

    // Inlined down to the engine: a `Result<u64, VmError>` returned through several calls is
    // copied with wide loads right after narrow stores, which stalls on store forwarding
    // (measured: most of a 16 ns run of a 2-instruction program).
    #[inline(always)]
    fn run_inner(
        &self,
        args: [u64; 5],
        regions: &[Region<'_>],
        packet: Option<&[u8]>,
    ) -> Result<u64, VmError> {
        // Reading the clock twice costs more than running a short program: like Linux, runs
        // are timed only while statistics are enabled (`BPF_ENABLE_STATS`).
        let start = stats_enabled().then(Instant::now);
        let r = if self.calls_helpers {
            crate::run_state::with_current_program(self, || self.run_chain(args, regions, packet))
        } else {
            // No helper that reads or changes the per-run state (no tail call, reservation,
            // lock or redirect is possible).
            self.run_once(args, regions, packet)
        };
        // Like Linux's `bpf_stats_enabled`, statistics cover both the run count and the run
        // time: an atomic add per run is a quarter of a short program's dispatch.
        if let Some(start) = start {
            self.run_time_ns
                .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
            self.run_count.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    /// A run and the tail calls it takes.
    fn run_chain(
        &self,
        args: [u64; 5],
        regions: &[Region<'_>],
        packet: Option<&[u8]>,
    ) -> Result<u64, VmError> {
        let mut r = self.run_once(args, regions, packet);
        // Tail calls: the program ended through `bpf_tail_call`; the target runs with
        // r1 = the context passed to the helper, the run's regions (not those helpers
        // added) and its own global data, and its r0 is the run's. `run_state` bounds
        // the chain to MAX_TAIL_CALL_CNT.
        while let Some((next, ctx)) = crate::run_state::take_tail_call() {
            if r.is_err() {
                break;
            }
            r = next.run_once([ctx, 0, 0, 0, 0], regions, packet);
        }
        r
    }

    /// One program run (no tail calls): verified code straight on the arguments when the
    /// run's memory is what the verifier assumed, else with the regions.
    #[inline(always)]
    fn run_once(
        &self,
        args: [u64; 5],
        caller: &[Region<'_>],
        packet: Option<&[u8]>,
    ) -> Result<u64, VmError> {
        if let Compiled::JitVerified { jit, .. } = &self.engine
            && self.ctx_check.trusts(&args, caller)
        {
            if !jit.calls_rust() {
                // Lean code never looks at regions.
                return jit.run(&RunConfig {
                    args,
                    ..RunConfig::default()
                });
            }
            if self.direct_values.is_empty() {
                return jit.run(&RunConfig {
                    args,
                    regions: caller,
                    packet,
                    ..RunConfig::default()
                });
            }
        }
        let mut list = RegionList::new();
        for r in caller {
            list.push(r.reborrow());
        }
        self.push_direct_values(&mut list);
        let config = RunConfig {
            args,
            regions: list.as_slice(),
            packet,
            ..RunConfig::default()
        };
        match &self.engine {
            Compiled::Interpreter(vm) => vm.run(&config),
            Compiled::JitChecked(jit) => jit.run(&config),
            Compiled::JitVerified {
                jit,
                fallback,
                checked,
            } => {
                if self.ctx_check.trusts(&args, caller) {
                    jit.run(&config)
                } else {
                    let checked = checked
                        .get_or_init(|| Jit::new(&self.insns, fallback.helpers().clone()).ok());
                    match checked {
                        Some(c) => c.run(&config),
                        None => fallback.run(&config),
                    }
                }
            }
        }
    }

    /// Add the regions of this program's global data.
    fn push_direct_values(&self, regions: &mut RegionList<'_>) {
        for v in &self.direct_values {
            let ptr = NonNull::new(v.addr as *mut u8).expect("map storage is never null");
            regions.push(map_region(&v.map, ptr, v.len, v.writable));
        }
    }

    /// Whether the program calls helpers that use the per-run state (runs of one that does
    /// not skip it).
    pub(crate) fn calls_helpers(&self) -> bool {
        self.calls_helpers
    }

    /// The program's lean verified code, when a run needs nothing but its arguments: verified
    /// JIT code that never calls into Rust (no regions, no run state, no tail call: the
    /// helpers it calls, if any, are direct ones, which are stateless). `None` otherwise.
    /// Hooks that know the context matches the verifier's assumptions by construction call it
    /// through [`Program::run_lean_trusted`] (see `hooks::app`).
    #[inline]
    pub(crate) fn lean_jit(&self) -> Option<&Jit> {
        match &self.engine {
            Compiled::JitVerified { jit, .. } if !jit.calls_rust() && !self.calls_helpers => {
                Some(jit)
            }
            _ => None,
        }
    }

    /// Run lean verified code (from [`Program::lean_jit`]) on r1..=r5 = `args`, without the
    /// context check and statistics of [`Program::run`]. The caller must make sure that r1
    /// points to a context of at least the bytes the verifier saw the program use
    /// ([`CtxUse`]), writable if the program writes it, alive and not otherwise borrowed for
    /// the call, and that statistics are off ([`stats_enabled`]).
    #[inline(always)]
    pub(crate) fn run_lean_trusted(jit: &Jit, args: [u64; 5]) -> Result<u64, VmError> {
        jit.run(&RunConfig {
            args,
            ..RunConfig::default()
        })
    }

    /// The engine that runs this program.
    pub fn engine(&self) -> Engine {
        self.engine.engine()
    }

    /// This program's info.
    pub fn info(&self) -> ProgramInfo {
        ProgramInfo {
            id: self.id,
            name: self.name.clone(),
            prog_type: self.prog_type,
            insn_count: self.insns.len(),
            map_ids: self.maps.iter().map(|m| m.id).collect(),
            run_count: self.run_count.load(Ordering::Relaxed),
            run_time_ns: self.run_time_ns.load(Ordering::Relaxed),
        }
    }

    /// The map among this program's maps whose token (`lddw` value) is `token`.
    pub fn map_by_token(&self, token: u64) -> Option<&Arc<Map>> {
        self.maps.iter().find(|m| m.token() == token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ProgLoad, Runtime};
    use waggle_isa::{Insn, LddwKind, Reg};

    fn load(rt: &Runtime, insns: Vec<Insn>) -> Arc<Program> {
        let h = rt
            .prog_load(&ProgLoad {
                name: "t".into(),
                insns,
                license: "GPL".into(),
                ..ProgLoad::default()
            })
            .unwrap_or_else(|e| panic!("load: {e}"));
        rt.program(h).expect("program")
    }

    /// The engine follows `default_engine()`; programs with callbacks stay on the
    /// interpreter (the JIT cannot call back into BPF yet); both give the same result.
    #[test]
    fn engine_selection() {
        let rt = Runtime::new();
        let plain = waggle_isa::asm::assemble("mov %r0, 7\nexit\n").expect("asm");
        let p = load(&rt, plain);
        // Nothing in this test binary calls `set_default_engine`.
        let want = match std::env::var("WAGGLE_ENGINE").as_deref() {
            Ok("interpreter") => Engine::Interpreter,
            Ok("jit-checked") if cfg!(target_arch = "x86_64") => Engine::JitChecked,
            _ if cfg!(target_arch = "x86_64") => Engine::Jit,
            _ => Engine::Interpreter,
        };
        assert_eq!(p.engine(), want);
        assert_eq!(p.run([0; 5], Vec::new()), Ok(7));

        // Skipping the verifier never gives verified code.
        let h = rt
            .prog_load(&ProgLoad {
                name: "raw".into(),
                insns: waggle_isa::asm::assemble("mov %r0, 8\nexit\n").expect("asm"),
                skip_verifier: true,
                ..ProgLoad::default()
            })
            .expect("load");
        let raw = rt.program(h).expect("program");
        let want_raw = if want == Engine::Jit {
            Engine::JitChecked
        } else {
            want
        };
        assert_eq!(raw.engine(), want_raw);
        assert_eq!(raw.run([0; 5], []), Ok(8));

        // r1 = &callback (slot 0 + imm 3 + 1 = slot 4; never called); r0 = 3.
        let with_callback = vec![
            Insn::Lddw {
                dst: Reg::R1,
                kind: LddwKind::Func,
                imm: 3,
            },
            Insn::LddwHigh,
            Insn::Alu {
                width: waggle_isa::Width::W64,
                op: waggle_isa::AluOp::Mov,
                dst: Reg::R0,
                src: waggle_isa::Operand::Imm(3),
            },
            Insn::Exit,
            Insn::Alu {
                width: waggle_isa::Width::W64,
                op: waggle_isa::AluOp::Mov,
                dst: Reg::R0,
                src: waggle_isa::Operand::Imm(0),
            },
            Insn::Exit,
        ];
        let p = load(&rt, with_callback);
        assert_eq!(p.engine(), Engine::Interpreter);
        assert_eq!(p.run([0; 5], Vec::new()), Ok(3));
    }
    /// Verified code trusts its context only when the run gives what the verifier assumed:
    /// a context that is too short, read-only while the program writes it, or not r1 runs on
    /// the checked fallback, which reports the bad access instead of performing it.
    #[test]
    fn verified_code_runs_only_on_the_memory_it_was_verified_for() {
        let rt = Runtime::new();
        // r0 = *(u64 *)(r1 + 8); *(u64 *)(r1 + 0) = r0; exit
        let p = load(
            &rt,
            waggle_isa::asm::assemble("ldxdw %r0, [%r1+8]\nstxdw [%r1], %r0\nexit\n").expect("asm"),
        );
        let mut ctx = [0u8; 16];
        ctx[8] = 42;
        let addr = ctx.as_ptr() as u64;
        assert_eq!(
            p.run([addr, 16, 0, 0, 0], [Region::writable(&mut ctx)]),
            Ok(42)
        );
        assert_eq!(ctx[0], 42, "the store happened");
        // Too short: the load at offset 8 is outside the region.
        let short = &mut ctx[..8];
        let a = short.as_ptr() as u64;
        assert!(matches!(
            p.run([a, 8, 0, 0, 0], [Region::writable(short)]),
            Err(VmError::MemoryAccess { .. })
        ));
        // Read-only: the store is refused.
        let a = ctx.as_ptr() as u64;
        assert!(matches!(
            p.run([a, 16, 0, 0, 0], [Region::readonly(&ctx)]),
            Err(VmError::MemoryAccess { write: true, .. })
        ));
        // r1 is not the context region.
        let mut other = [0u8; 16];
        assert!(matches!(
            p.run([8, 16, 0, 0, 0], [Region::writable(&mut other)]),
            Err(VmError::MemoryAccess { .. })
        ));
        // No region at all.
        assert!(p.run([addr, 16, 0, 0, 0], []).is_err());
    }

    /// Runs are counted and timed only while a stats guard lives.
    #[test]
    fn run_time_only_with_stats_enabled() {
        let rt = Runtime::new();
        let p = load(
            &rt,
            waggle_isa::asm::assemble("mov %r0, 7\nexit\n").expect("asm"),
        );
        for _ in 0..100 {
            p.run([0; 5], Vec::new()).unwrap();
        }
        let info = p.info();
        assert_eq!((info.run_count, info.run_time_ns), (0, 0));
        let guard = crate::enable_stats();
        for _ in 0..100 {
            p.run([0; 5], Vec::new()).unwrap();
        }
        drop(guard);
        let timed = p.info();
        assert_eq!(timed.run_count, 100);
        assert!(timed.run_time_ns > 0, "100 timed runs took some time");
        p.run([0; 5], Vec::new()).unwrap();
        assert_eq!(
            p.info().run_time_ns,
            timed.run_time_ns,
            "off again after the guard"
        );
    }
}
