//! The interpreter: programs pre-decoded once, run any number of times, from many threads.

mod prepare;
mod run;

pub use run::MAY_GOTO_LIMIT;

use crate::error::{PrepareError, VmError};
use crate::helpers::Helpers;
use crate::memory::{Memory, Region, StackBuf};
use prepare::Op;
pub(crate) use prepare::check as check_program;
use run::RunInputs;
use waggle_isa::Insn;

/// What one run gets: arguments, the memory it may access, packet data, a budget.
#[derive(Debug, Default)]
pub struct RunConfig<'a> {
    /// Initial r1..=r5 (r0 and r6..=r9 start at 0; r10 is the frame pointer).
    pub args: [u64; 5],
    /// Memory the program may access besides its stack, checked in this order after the stack.
    pub regions: &'a [Region<'a>],
    /// Packet data for the legacy `ldabs`/`ldind` loads; without it they are an error. It is
    /// not accessible to ordinary loads unless it is also one of the `regions`.
    pub packet: Option<&'a [u8]>,
    /// Most instructions the run may execute; `None` for no limit.
    pub max_insns: Option<u64>,
}

/// A program prepared for interpretation: validated, helper calls resolved, and each slot
/// decoded into a compact op.
///
/// `Interpreter` is `Send + Sync`; each run keeps its registers, stack and regions in its own
/// call, so any number of threads may run one program at once.
#[derive(Debug)]
pub struct Interpreter {
    ops: Box<[Op]>,
    helpers: Helpers,
    /// Slots of the functions the program loads pointers to (callbacks), sorted.
    funcs: Box<[u32]>,
}

impl Interpreter {
    /// Prepare `insns` (validated with [`waggle_isa::validate`] first). Every `call` of a
    /// helper id must be in `helpers`; `lddw` must be a plain constant (a loader relocates
    /// the other kinds); kfunc calls are not supported.
    pub fn new(insns: &[Insn], helpers: Helpers) -> Result<Interpreter, PrepareError> {
        let (ops, funcs) = prepare::prepare(insns, &helpers, false)?;
        Ok(Interpreter {
            ops,
            helpers,
            funcs,
        })
    }

    /// Like [`Interpreter::new`], also accepting `lddw` of kind `Func` (`BPF_PSEUDO_FUNC`,
    /// `imm` = the function's offset in slots from the next slot, like a local call): it
    /// loads an opaque function pointer that helpers may call back through
    /// [`HelperContext::call_function`](crate::HelperContext::call_function) (`bpf_loop`,
    /// `bpf_for_each_map_elem`). [`Interpreter::new`] (and so the JIT, which prepares
    /// through it) refuses such programs.
    pub fn with_callbacks(insns: &[Insn], helpers: Helpers) -> Result<Interpreter, PrepareError> {
        let (ops, funcs) = prepare::prepare(insns, &helpers, true)?;
        Ok(Interpreter {
            ops,
            helpers,
            funcs,
        })
    }

    /// Number of slots in the program.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the program has no slots (never true: an empty program does not validate).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The helpers the program may call.
    pub fn helpers(&self) -> &Helpers {
        &self.helpers
    }

    /// Run the program once; returns r0 of the outermost `exit`.
    pub fn run(&self, config: &RunConfig<'_>) -> Result<u64, VmError> {
        // The whole 4 KiB stack is left uninitialised here; `Memory` zeroes frame 0 now and
        // each deeper frame the first time a call reaches it, so a run without calls costs
        // one 512-byte clear.
        let mut stack = StackBuf::new();
        let mut mem = Memory::new(&mut stack, config.regions);
        let inputs = RunInputs {
            args: config.args,
            packet: config.packet,
            budget: config.max_insns.unwrap_or(0),
            entry: 0,
            base_depth: 0,
        };
        match config.max_insns {
            None => self.execute::<false, false>(&mut mem, &inputs),
            Some(_) => self.execute::<true, false>(&mut mem, &inputs),
        }
    }

    /// Run with `mem` as the only region (writable): r1 = its address (0 if empty),
    /// r2 = its length.
    pub fn run_on(&self, mem: &mut [u8]) -> Result<u64, VmError> {
        if mem.is_empty() {
            return self.run(&RunConfig::default());
        }
        let len = mem.len() as u64;
        let regions = [Region::writable(mem)];
        self.run(&RunConfig {
            args: [regions[0].addr(), len, 0, 0, 0],
            regions: &regions,
            ..RunConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::prepare::{Kind, Op};
    use super::*;

    /// An interpreter over hand-made ops, bypassing validation, to reach states a validated
    /// program cannot: they must still end in an error, not a panic.
    fn raw(ops: Vec<Op>) -> Interpreter {
        Interpreter {
            ops: ops.into_boxed_slice(),
            helpers: Helpers::new(),
            funcs: Box::new([]),
        }
    }

    fn op(kind: Kind, off: i32) -> Op {
        Op {
            kind,
            dst: 0,
            src: 0,
            off,
            imm: 0,
        }
    }

    #[test]
    fn executing_an_lddw_high_slot_is_an_error() {
        let vm = raw(vec![op(Kind::LddwHigh, 0), op(Kind::Exit, 0)]);
        assert_eq!(
            vm.run(&RunConfig::default()),
            Err(VmError::InvalidInstruction { pc: 0 })
        );
    }

    #[test]
    fn leaving_the_program_is_an_error() {
        let vm = raw(vec![op(Kind::Ja, 5)]);
        assert_eq!(
            vm.run(&RunConfig::default()),
            Err(VmError::InvalidInstruction { pc: 5 })
        );
        let vm = raw(vec![op(Kind::Mov64Imm, 0)]);
        assert_eq!(
            vm.run(&RunConfig::default()),
            Err(VmError::InvalidInstruction { pc: 1 })
        );
        let vm = raw(vec![op(Kind::Ja, -1)]);
        assert!(vm.run(&RunConfig::default()).is_err());
    }

    #[test]
    fn bad_atomic_index_and_register_numbers_do_not_panic() {
        let mut a = op(Kind::Atomic64, 0);
        a.dst = 10;
        a.off = -8;
        a.imm = 99;
        let vm = raw(vec![a, op(Kind::Exit, 0)]);
        assert_eq!(
            vm.run(&RunConfig::default()),
            Err(VmError::InvalidInstruction { pc: 0 })
        );
        // Register fields above 15 are masked into the 16-entry register file.
        let mut m = op(Kind::Mov64Imm, 0);
        m.dst = 200;
        m.imm = 5;
        let vm = raw(vec![m, op(Kind::Exit, 0)]);
        assert_eq!(vm.run(&RunConfig::default()), Ok(0));
    }
}
