//! Waggle's execution engines for BPF programs (RFC 9669, Linux semantics where it is silent).
//!
//! The [`Interpreter`] pre-decodes a validated program once into compact ops and runs them
//! with checked memory: registers hold real host addresses, and every load, store and atomic
//! is checked against the regions the run may touch — its active stack frames (512 bytes each,
//! at most [`MAX_FRAMES`]), the [`Region`]s the caller hands in through [`RunConfig`], and
//! regions helpers add during the run. An access outside them stops the run with
//! [`VmError::MemoryAccess`] before touching anything.
//!
//! Helpers are closures registered by the kernel's helper ids in [`Helpers`]; they see run
//! memory through [`HelperContext`], with the same checks.
//!
//! ```
//! use waggle_isa::{AluOp, Insn, Operand, Reg, Size, Width};
//! use waggle_vm::{Helpers, Interpreter};
//!
//! // r0 = *(u32 *)(r1 + 0) + 1
//! let prog = [
//!     Insn::Load { size: Size::W, signed: false, dst: Reg::R0, src: Reg::R1, off: 0 },
//!     Insn::Alu { width: Width::W64, op: AluOp::Add, dst: Reg::R0, src: Operand::Imm(1) },
//!     Insn::Exit,
//! ];
//! let vm = Interpreter::new(&prog, Helpers::new()).unwrap();
//! assert_eq!(vm.run_on(&mut 41u32.to_le_bytes()), Ok(42));
//! ```
//!
//! The [`Jit`] compiles a program to x86-64 machine code with the same semantics, checks and
//! errors (see [`jit`]).
//!
//! All `unsafe` code of the crate is in its `memory` module and, for the JIT, in `jit::code`
//! (executable memory and the calls between Rust and generated code); the rest of the crate
//! denies `unsafe_code`.

#![deny(unsafe_code)]

mod error;
mod helpers;
mod interpreter;
pub mod jit;
#[allow(unsafe_code)]
mod memory;

pub use error::{PrepareError, VmError};
pub use helpers::{
    HelperContext, HelperError, HelperFn, Helpers, MAX_HELPER_ID, NativeFn, NativeHelper,
};
pub use interpreter::{Interpreter, MAY_GOTO_LIMIT, RunConfig};
pub use jit::{Jit, JitOptions};
pub use memory::{MAX_FRAMES, Region, STACK_FRAME_SIZE};
