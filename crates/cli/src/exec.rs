//! Running a program outside the runtime: `waggle exec`, the conformance plugin and tests.

use crate::{Engine, HelperSet};
use waggle_isa::Insn;
use waggle_vm::{HelperError, Helpers, Interpreter, Jit, Region, RunConfig, VmError};

/// The conformance suite's "unwind" helper id.
pub const UNWIND_HELPER: u32 = 5;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The engine stopped the program (bad memory access, budget, helper failure, …).
    #[error(transparent)]
    Vm(#[from] VmError),
}

/// A program ready to run on one engine.
#[derive(Debug)]
pub struct Prepared {
    engine: Compiled,
    max_insns: Option<u64>,
}

/// The engine-specific half of [`Prepared`].
#[derive(Debug)]
enum Compiled {
    Interpreter(Interpreter),
    Jit(Jit),
}

/// The helpers of a [`HelperSet`].
pub fn helpers(set: HelperSet) -> Helpers {
    let mut helpers = Helpers::new();
    if set == HelperSet::Conformance {
        helpers.register(UNWIND_HELPER, |_, args: [u64; 5]| {
            if args[0] == 0 {
                Err(HelperError::Exit(0))
            } else {
                Ok(args[0])
            }
        });
    }
    helpers
}

impl Prepared {
    /// Prepare validated `insns` for `engine`.
    pub fn new(
        insns: &[Insn],
        engine: Engine,
        helper_set: HelperSet,
        max_insns: Option<u64>,
    ) -> Result<Prepared, String> {
        let helpers = helpers(helper_set);
        let engine = match engine {
            Engine::Interpreter => Interpreter::new(insns, helpers).map(Compiled::Interpreter),
            Engine::Jit => Jit::new(insns, helpers).map(Compiled::Jit),
        };
        Ok(Prepared {
            engine: engine.map_err(|e| e.to_string())?,
            max_insns,
        })
    }

    /// Run once with r1 = `mem`'s address (0 when empty), r2 = its length; `mem` is the only
    /// region besides the stack, writable.
    pub fn run(&self, mem: &mut [u8]) -> Result<u64, RunError> {
        let len = mem.len() as u64;
        let regions;
        let (args, regions): ([u64; 5], &[Region<'_>]) = if mem.is_empty() {
            ([0; 5], &[])
        } else {
            regions = [Region::writable(mem)];
            ([regions[0].addr(), len, 0, 0, 0], &regions)
        };
        let config = RunConfig {
            args,
            regions,
            max_insns: self.max_insns,
            ..RunConfig::default()
        };
        Ok(match &self.engine {
            Compiled::Interpreter(vm) => vm.run(&config)?,
            Compiled::Jit(jit) => jit.run(&config)?,
        })
    }
}
