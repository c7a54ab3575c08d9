//! Library side of the `waggle` command and the conformance plugin: reading programs and test
//! files, and running programs on an engine with a chosen helper set. The binaries stay thin.

mod hex;
mod testfile;

pub mod exec;

pub use hex::{HexError, parse_hex_bytes, to_hex};
pub use testfile::{TestFile, TestFileError};

use std::path::Path;
use waggle_isa::Insn;

/// Which engine runs a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// The interpreter with checked memory.
    Interpreter,
    /// The x86-64 JIT (checked mode: the same checks and errors as the interpreter).
    Jit,
}

/// Which helpers a program run outside the runtime may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HelperSet {
    /// None: any helper call is refused before the run.
    None,
    /// The conformance suite's: 5 = "unwind" (returns r1; when r1 is 0 the program stops
    /// with r0 = 0).
    Conformance,
}

/// Read a program from a file's bytes: assembler text for `.s`/`.asm`, raw little-endian
/// bytecode otherwise. The result is decoded and structurally validated.
pub fn load_program(path: &Path, bytes: &[u8]) -> Result<Vec<Insn>, String> {
    let name = path.display();
    let is_text = path.extension().is_some_and(|e| e == "s" || e == "asm");
    let insns = if is_text {
        let text = std::str::from_utf8(bytes).map_err(|_| format!("{name}: not UTF-8 text"))?;
        let insns = waggle_isa::asm::assemble(text).map_err(|e| format!("{name}: {e}"))?;
        waggle_isa::validate(&insns).map_err(|e| format!("{name}: {e}"))?;
        insns
    } else {
        waggle_isa::decode_and_validate(bytes).map_err(|e| format!("{name}: {e}"))?
    };
    Ok(insns)
}
