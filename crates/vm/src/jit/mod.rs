//! The x86-64 JIT: native code with the interpreter's semantics and errors.
//!
//! Two modes. **Checked** ([`Jit::new`], described below) is for code no verifier has seen:
//! every access is bounds-checked and an instruction budget is kept. **Verified**
//! ([`Jit::new_verified`], `unsafe`: the caller promises the program was verified) has no
//! checks and no budget; code that never calls into Rust also gets a lean entry (its BPF
//! stack on the native stack, r1..=r5 in registers), about 3 ns per call. Verified code calls
//! helpers that have a direct form ([`NativeHelper`](crate::NativeHelper), registered with
//! [`Helpers::register_native`]) with a plain `call`, r1..=r5 in the argument registers, when
//! every helper it calls has one; such code still takes the lean entry. Both can blind
//! constants ([`JitOptions::blind`]). [`Jit::code`] and [`Jit::slot_offsets`] expose the
//! machine code per slot (`waggle disasm --jited`).
//!
//! Checked mode:
//!
//! A program is validated and prepared exactly as by the [`Interpreter`](crate::Interpreter)
//! (same accepted programs, same [`PrepareError`]s), then compiled once into read+execute
//! memory (written first, then made executable: never both). [`Jit::run`] gives the same
//! result, memory effects and [`VmError`] as the interpreter:
//!
//! - **Memory** is checked on every load, store and atomic: inline against the active stack
//!   frames and the first caller region, then, for anything else, by the interpreter's own
//!   region lookup in Rust (the other regions, helper-added ones, read-only refusals), which
//!   also reports the error. Accesses at a constant offset from r10 inside its frame need no
//!   check (r10 is read-only).
//! - **Budget**: counted with the interpreter's result: one subtraction and branch per
//!   straight-line block (a block ends at every instruction that may leave it or the run);
//!   when the budget falls short inside a block, the error names the slot it runs out on and
//!   the same budget, as the interpreter's per-instruction count does.
//! - **Calls**: BPF-to-BPF calls are native calls (r6..=r9 and r10 saved on the native stack,
//!   at most [`MAX_FRAMES`](crate::MAX_FRAMES) frames); helpers and `callx` go through a
//!   trampoline into Rust that calls the same `Arc<HelperFn>` with a [`HelperContext`]
//!   (r1..=r5 are preserved across the call, as in the interpreter).
//!   A panicking helper's panic is resumed after native code has returned.
//! - **Stack**: the interpreter's 4 KiB frame buffer, zeroed the same way, so that reading
//!   never-written stack gives the same bytes on both engines.
//!
//! Only x86-64 is supported; elsewhere [`Jit::new`] returns
//! [`PrepareError::Unsupported`].
//!
//! [`HelperContext`]: crate::HelperContext

use crate::error::{PrepareError, VmError};
use crate::helpers::Helpers;
use crate::interpreter::RunConfig;
use crate::memory::Region;
use waggle_isa::Insn;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod code;
#[cfg(target_arch = "x86_64")]
mod ctx;
#[cfg(target_arch = "x86_64")]
mod emit;
#[cfg(target_arch = "x86_64")]
mod trampolines;

/// How the code is generated, besides the mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitOptions {
    /// Constant blinding, like Linux's `bpf_jit_harden`: every immediate of the program
    /// (ALU and jump operands, stored constants, `lddw` values, packet offsets) is built at
    /// run time from `imm ^ key` and `key` with a fresh random key per instruction, so no
    /// constant an untrusted program chooses appears verbatim in executable memory (a JIT
    /// spraying defence). Shift counts (at most 63) stay plain. Results are unchanged.
    pub blind: bool,
}

/// What `compile` is asked for (the emitter's `Mode`, or a stand-in off x86-64).
#[cfg(target_arch = "x86_64")]
use emit::Mode;
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Copy)]
#[allow(dead_code)]
struct Mode {
    verified: bool,
    lean: bool,
    blind: bool,
}

/// A program compiled to native x86-64 code, checked mode.
///
/// `Jit` is `Send + Sync`: each run keeps its registers, stack and context in its own call,
/// so any number of threads may run one program at once. The machine code is freed when the
/// `Jit` is dropped: its mapping is made non-executable and kept in a small bounded pool for
/// the next program, or unmapped.
#[derive(Debug)]
pub struct Jit {
    #[cfg(target_arch = "x86_64")]
    code: code::Code,
    #[cfg(not(target_arch = "x86_64"))]
    code: std::convert::Infallible,
    helpers: Helpers,
    len: usize,
    /// Whether the program has BPF-to-BPF calls (then every frame is zeroed up front).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    has_calls: bool,
    /// Compiled without checks (see [`Jit::new_verified`]).
    verified: bool,
    /// Whether the code may call into Rust (helpers, `callx`, packet loads).
    calls_rust: bool,
    /// Code offset where each slot's machine code starts.
    offsets: Box<[u32]>,
}

impl Jit {
    /// Validate, prepare and compile `insns`, with the interpreter's rules: every helper
    /// `call` must be in `helpers`, `lddw` must be a plain constant, no kfunc calls.
    pub fn new(insns: &[Insn], helpers: Helpers) -> Result<Jit, PrepareError> {
        // Preparing for the interpreter validates and refuses exactly what the interpreter
        // refuses, so both engines accept the same programs with the same errors.
        Jit::with_options(insns, helpers, JitOptions::default())
    }

    /// [`Jit::new`] with `options`.
    pub fn with_options(
        insns: &[Insn],
        helpers: Helpers,
        options: JitOptions,
    ) -> Result<Jit, PrepareError> {
        crate::interpreter::check_program(insns, &helpers)?;
        Jit::build(insns, helpers, false, options)
    }

    /// Like [`Jit::new`], but the code has no runtime checks: loads, stores and atomics
    /// access their address directly, and no instruction budget is kept
    /// ([`RunConfig::max_insns`] is ignored). Results, memory effects and helper calls are
    /// the checked mode's for every program within the contract below.
    ///
    /// # Safety
    ///
    /// The caller promises that, for every run, the program is safe under the Linux
    /// verifier's model, i.e. that a verifier accepted it for the memory it will be given:
    /// - every load, store and atomic stays inside the active stack frames (512 bytes per
    ///   frame, at most [`MAX_FRAMES`](crate::MAX_FRAMES) frames), the [`RunConfig::regions`]
    ///   of the run (writes only in writable ones) or regions helpers add, and atomics are
    ///   aligned to their size;
    /// - it reads no stack byte it has not written in the same run (frames other than the
    ///   first are not zeroed);
    /// - every run terminates (no budget stops it), and calls nest at most
    ///   [`MAX_FRAMES`](crate::MAX_FRAMES) frames deep (deeper ones still fail cleanly);
    /// - every call of a helper with a direct form ([`NativeHelper`](crate::NativeHelper))
    ///   passes the arguments that form relies on (the verifier's checks of the helper's
    ///   prototype).
    ///
    /// Breaking it is undefined behaviour: generated code then reads or writes whatever the
    /// address designates.
    #[allow(unsafe_code)]
    pub unsafe fn new_verified(insns: &[Insn], helpers: Helpers) -> Result<Jit, PrepareError> {
        // SAFETY: the caller's promise is passed on unchanged.
        unsafe { Jit::new_verified_with(insns, helpers, JitOptions::default()) }
    }

    /// [`Jit::new_verified`] with `options`.
    ///
    /// # Safety
    ///
    /// As for [`Jit::new_verified`].
    #[allow(unsafe_code)]
    pub unsafe fn new_verified_with(
        insns: &[Insn],
        helpers: Helpers,
        options: JitOptions,
    ) -> Result<Jit, PrepareError> {
        crate::interpreter::check_program(insns, &helpers)?;
        Jit::build(insns, helpers, true, options)
    }

    fn build(
        insns: &[Insn],
        helpers: Helpers,
        verified: bool,
        options: JitOptions,
    ) -> Result<Jit, PrepareError> {
        let has_calls = insns.iter().any(waggle_isa::is_local_call);
        let helper_ids = || {
            insns.iter().filter_map(|i| match i {
                Insn::Call(waggle_isa::CallTarget::Helper(id)) => Some(*id as u32),
                _ => None,
            })
        };
        // Verified code calls helpers directly when every helper it calls has a direct form
        // (all or none: a helper called through Rust may read memory a direct one returned,
        // which only the regions of a Rust-side run would describe).
        let native = verified && helper_ids().all(|id| helpers.native(id).is_some());
        let natives: Vec<Option<(usize, usize)>> = if native {
            let n = helper_ids().max().map_or(0, |m| m as usize + 1);
            (0..n)
                .map(|id| {
                    helpers
                        .native(id as u32)
                        .map(|h| (h.fn_addr(), h.data_addr()))
                })
                .collect()
        } else {
            Vec::new()
        };
        let calls_rust = insns.iter().any(|i| {
            matches!(i, Insn::Callx { .. } | Insn::LoadPacket { .. })
                || (!native && matches!(i, Insn::Call(waggle_isa::CallTarget::Helper(_))))
        });
        let mode = Mode {
            verified,
            lean: verified && !calls_rust,
            blind: options.blind,
        };
        let (code, offsets) = compile(insns, mode, &natives)?;
        Ok(Jit {
            code,
            helpers,
            len: insns.len(),
            has_calls,
            verified,
            calls_rust,
            offsets,
        })
    }

    /// Whether the code may call into Rust with a run context (helper calls without direct
    /// forms, `callx`, legacy packet loads).
    /// Verified code that does not takes the lean path: it never looks at
    /// [`RunConfig::regions`], [`RunConfig::packet`] or the budget, only at the arguments.
    pub fn calls_rust(&self) -> bool {
        self.calls_rust
    }

    /// Whether the code was compiled without runtime checks ([`Jit::new_verified`]).
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// Offset in the machine code (see [`Jit::code`]) where each slot's code starts, by slot
    /// index (the second slot of an `lddw` has no code: it has the next slot's offset), plus
    /// one last entry: where the out-of-line code (exits, calls into Rust, stubs) starts.
    pub fn slot_offsets(&self) -> &[u32] {
        &self.offsets
    }

    /// The generated machine code (entry point at offset 0, then the slots in order, then
    /// out-of-line routines and stubs).
    pub fn code(&self) -> &[u8] {
        #[cfg(target_arch = "x86_64")]
        return self.code.bytes();
        #[cfg(not(target_arch = "x86_64"))]
        match self.code {}
    }

    /// Number of slots in the program.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the program has no slots (never true: an empty program does not validate).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size of the generated machine code in bytes.
    pub fn code_size(&self) -> usize {
        #[cfg(target_arch = "x86_64")]
        return self.code.len();
        #[cfg(not(target_arch = "x86_64"))]
        match self.code {}
    }

    /// The helpers the program may call.
    pub fn helpers(&self) -> &Helpers {
        &self.helpers
    }

    /// Run the program once; returns r0 of the outermost `exit`. Same contract as
    /// [`Interpreter::run`](crate::Interpreter::run).
    // Always inlined (with the lean path below): a `Result<u64, VmError>` returned through
    // calls is copied with wide loads right after narrow stores (a store-forwarding stall
    // that cost a 2-instruction program about 10 ns in the runtime).
    #[inline(always)]
    pub fn run(&self, config: &RunConfig<'_>) -> Result<u64, VmError> {
        #[cfg(target_arch = "x86_64")]
        if self.lean() {
            return self.run_lean(config.args);
        }
        #[cfg(target_arch = "x86_64")]
        return self.run_native(config);
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = config;
            match self.code {}
        }
    }

    /// Run with `mem` as the only region (writable): r1 = its address (0 if empty),
    /// r2 = its length.
    #[inline]
    pub fn run_on(&self, mem: &mut [u8]) -> Result<u64, VmError> {
        let len = mem.len() as u64;
        let addr = if len == 0 {
            0
        } else {
            mem.as_mut_ptr().addr() as u64
        };
        #[cfg(target_arch = "x86_64")]
        if self.lean() {
            return self.run_lean([addr, len, 0, 0, 0]);
        }
        if mem.is_empty() {
            return self.run(&RunConfig::default());
        }
        let regions = [Region::writable(mem)];
        self.run(&RunConfig {
            args: [addr, len, 0, 0, 0],
            regions: &regions,
            ..RunConfig::default()
        })
    }

    /// Whether runs take the lean path: verified code that never calls into Rust.
    #[inline(always)]
    fn lean(&self) -> bool {
        self.verified && !self.calls_rust
    }

    /// The lean path: such code needs only the code-visible head; it reserves its stack on
    /// the native stack itself (verified code reads no stack byte it has not written, so
    /// nothing is zeroed): no `Memory`, no regions, no 4 KiB Rust frame.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn run_lean(&self, args: [u64; 5]) -> Result<u64, VmError> {
        let mut core = ctx::Core::new();
        let r0 = self.code.call_lean(&mut core, args);
        core.result(r0)
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(never)]
    fn run_native(&self, config: &RunConfig<'_>) -> Result<u64, VmError> {
        use crate::memory::{MAX_FRAMES, Memory, StackBuf};
        let mut stack = StackBuf::new();
        let mut mem = Memory::new(&mut stack, config.regions);
        if self.has_calls && !self.verified {
            // Generated code enters frames without telling `Memory`, which zeroes a frame the
            // first time it is reached: zero them all now (what the interpreter's lazy
            // zeroing shows the program is the same: zeros first, the run's own bytes after).
            for _ in 1..MAX_FRAMES {
                mem.stack.push();
            }
            for _ in 1..MAX_FRAMES {
                mem.stack.pop();
            }
        }
        let mut ctx = ctx::Ctx::new(
            &mut mem,
            &self.helpers,
            config.regions,
            config.args,
            config.packet,
            config.max_insns,
        );
        let r0 = self.code.call(&mut ctx);
        ctx.finish(r0)
    }
}

#[cfg(target_arch = "x86_64")]
fn compile(
    insns: &[Insn],
    mode: Mode,
    natives: &[Option<(usize, usize)>],
) -> Result<(code::Code, Box<[u32]>), PrepareError> {
    let tramps = emit::Trampolines {
        memory: code::memory as code::Trampoline as usize,
        helper: code::helper as code::Trampoline as usize,
        callx: code::callx as code::Trampoline as usize,
        packet: code::packet as code::Trampoline as usize,
        helper_direct: code::helper_direct as code::Direct as usize,
    };
    let out =
        emit::compile(insns, &tramps, mode, natives).map_err(|_| PrepareError::Unsupported {
            pc: 0,
            what: "JIT code generation failed",
        })?;
    let code = code::Code::new(&out.bytes).map_err(|_| PrepareError::Unsupported {
        pc: 0,
        what: "JIT could not map executable memory",
    })?;
    Ok((code, out.offsets.into_boxed_slice()))
}

#[cfg(not(target_arch = "x86_64"))]
fn compile(
    _insns: &[Insn],
    _mode: Mode,
    _natives: &[Option<(usize, usize)>],
) -> Result<(std::convert::Infallible, Box<[u32]>), PrepareError> {
    Err(PrepareError::Unsupported {
        pc: 0,
        what: "the JIT runs on x86-64 only; use the interpreter",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jit_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Jit>();
    }
}
