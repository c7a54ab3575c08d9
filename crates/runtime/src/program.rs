//! The runtime's program object: relocated instructions prepared for an engine, the maps it
//! uses (kept alive as long as it is), and its run statistics.

use crate::map::Map;
use crate::memory::map_region;
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
    /// The x86-64 JIT, checked mode (bounds checks and errors as the interpreter's; the
    /// verified mode is for when the verifier is wired in). Programs it cannot run yet
    /// (callbacks: `bpf_loop`, `bpf_for_each_map_elem`) use the interpreter.
    Jit,
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
    };
    DEFAULT_ENGINE.store(v, Ordering::Relaxed);
}

/// The engine programs are loaded for: the one set with [`set_default_engine`], else the
/// `WAGGLE_ENGINE` environment variable (`jit` or `interpreter`), else the JIT on x86-64 and
/// the interpreter elsewhere.
pub fn default_engine() -> Engine {
    match DEFAULT_ENGINE.load(Ordering::Relaxed) {
        1 => return Engine::Jit,
        2 => return Engine::Interpreter,
        _ => {}
    }
    match std::env::var("WAGGLE_ENGINE").as_deref() {
        Ok("interpreter") => Engine::Interpreter,
        Ok("jit") => Engine::Jit,
        _ if cfg!(target_arch = "x86_64") => Engine::Jit,
        _ => Engine::Interpreter,
    }
}

/// A program prepared for its engine.
#[derive(Debug)]
pub(crate) enum Compiled {
    Interpreter(Interpreter),
    Jit(Jit),
}

impl Compiled {
    /// Prepare for the default engine: the JIT where it can run the program (the interpreter
    /// was prepared by the loader, with its helpers; programs with callbacks keep it).
    fn new(insns: &[Insn], interpreter: Interpreter) -> Compiled {
        if default_engine() == Engine::Jit
            && let Ok(jit) = Jit::new(insns, interpreter.helpers().clone())
        {
            return Compiled::Jit(jit);
        }
        Compiled::Interpreter(interpreter)
    }

    fn run(&self, config: &RunConfig<'_>) -> Result<u64, VmError> {
        match self {
            Compiled::Interpreter(vm) => vm.run(config),
            Compiled::Jit(jit) => jit.run(config),
        }
    }

    /// Which engine this is.
    fn engine(&self) -> Engine {
        match self {
            Compiled::Interpreter(_) => Engine::Interpreter,
            Compiled::Jit(_) => Engine::Jit,
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

/// Live [`StatsGuard`]s: while there is one, program runs are timed.
static STATS_ENABLED: AtomicUsize = AtomicUsize::new(0);

/// `BPF_ENABLE_STATS(BPF_STATS_RUN_TIME)`: while the returned guard lives, every program run in
/// this process adds its duration to the program's `run_time_ns` (Linux's
/// `kernel.bpf_stats_enabled`). Run counts are kept always; timing costs two clock reads per run.
pub fn enable_stats() -> StatsGuard {
    STATS_ENABLED.fetch_add(1, Ordering::Relaxed);
    StatsGuard(())
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
    /// Plain programs: the context bytes the verifier saw it use (`None` when the load
    /// skipped the verifier); hooks refuse programs that need more than they give.
    pub(crate) ctx_use: Option<CtxUse>,
    run_count: AtomicU64,
    run_time_ns: AtomicU64,
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
    ) -> Program {
        let engine = Compiled::new(&insns, engine);
        Program {
            ctx_use: None,
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
        }
    }

    /// Run once with r1..r5 = `args` and access to `regions` (plus the program's global data),
    /// counting the run in the program's statistics.
    pub fn run(&self, args: [u64; 5], regions: Vec<Region<'_>>) -> Result<u64, VmError> {
        self.run_inner(args, regions, None)
    }

    /// Like [`Program::run`], with `packet` as the data of legacy packet loads (`ldabs`).
    pub fn run_with_packet(
        &self,
        args: [u64; 5],
        regions: Vec<Region<'_>>,
        packet: &[u8],
    ) -> Result<u64, VmError> {
        self.run_inner(args, regions, Some(packet))
    }

    fn run_inner(
        &self,
        args: [u64; 5],
        regions: Vec<Region<'_>>,
        packet: Option<&[u8]>,
    ) -> Result<u64, VmError> {
        let mut regions = regions;
        let base = regions.len();
        self.push_direct_values(&mut regions);
        // Reading the clock twice costs more than running a short program: like Linux, runs
        // are timed only while statistics are enabled (`BPF_ENABLE_STATS`).
        let start = (STATS_ENABLED.load(Ordering::Relaxed) > 0).then(Instant::now);
        let r = crate::run_state::with_current_program(self, || {
            let mut r = self.engine.run(&RunConfig {
                args,
                regions: &regions,
                packet,
                ..RunConfig::default()
            });
            // Tail calls: the program ended through `bpf_tail_call`; the target runs with
            // r1 = the context passed to the helper, the run's regions (not those helpers
            // added) and its own global data, and its r0 is the run's. `run_state` bounds
            // the chain to MAX_TAIL_CALL_CNT.
            while let Some((next, ctx)) = crate::run_state::take_tail_call() {
                if r.is_err() {
                    break;
                }
                regions.truncate(base);
                next.push_direct_values(&mut regions);
                r = next.engine.run(&RunConfig {
                    args: [ctx, 0, 0, 0, 0],
                    regions: &regions,
                    packet,
                    ..RunConfig::default()
                });
            }
            r
        });
        if let Some(start) = start {
            self.run_time_ns
                .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        self.run_count.fetch_add(1, Ordering::Relaxed);
        r
    }

    /// Add the regions of this program's global data.
    fn push_direct_values(&self, regions: &mut Vec<Region<'_>>) {
        for v in &self.direct_values {
            let ptr = NonNull::new(v.addr as *mut u8).expect("map storage is never null");
            regions.push(map_region(&v.map, ptr, v.len, v.writable));
        }
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
            _ if cfg!(target_arch = "x86_64") => Engine::Jit,
            _ => Engine::Interpreter,
        };
        assert_eq!(p.engine(), want);
        assert_eq!(p.run([0; 5], Vec::new()), Ok(7));

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
    /// Runs are counted always and timed only while a stats guard lives.
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
        assert_eq!((info.run_count, info.run_time_ns), (100, 0));
        let guard = crate::enable_stats();
        for _ in 0..100 {
            p.run([0; 5], Vec::new()).unwrap();
        }
        drop(guard);
        let timed = p.info();
        assert_eq!(timed.run_count, 200);
        assert!(timed.run_time_ns > 0, "100 timed runs took some time");
        p.run([0; 5], Vec::new()).unwrap();
        assert_eq!(
            p.info().run_time_ns,
            timed.run_time_ns,
            "off again after the guard"
        );
    }
}
