//! Plugin for the official bpf_conformance runner (`bpf_conformance_runner --plugin_path …`).
//!
//! Protocol: the program's bytes as hex pairs on stdin; the memory as hex pairs in the first
//! argument when the test has memory; options after it (`--engine interpreter|jit`, `--elf`).
//! The program runs with r1 = memory, r2 = its length and the suite's helpers (5 = unwind).
//! r0 is printed in hex on stdout with exit 0; an error goes to stderr with exit 1.

use std::io::Read;
use std::process::ExitCode;
use waggle_cli::exec::Prepared;
use waggle_cli::{Engine, HelperSet, parse_hex_bytes};

/// Refuse unverified code that runs away instead of hanging the runner.
const MAX_INSNS: u64 = 1_000_000_000;

fn main() -> ExitCode {
    match run() {
        Ok(r0) => {
            println!("{r0:#x}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<u64, String> {
    let mut args = std::env::args().skip(1).peekable();
    // The memory argument is present only when the test has memory; options start with `--`.
    let mut memory = match args.peek() {
        Some(a) if !a.starts_with("--") => {
            let hex = args.next().unwrap_or_default();
            parse_hex_bytes(&hex).map_err(|e| format!("memory argument: {e}"))?
        }
        _ => Vec::new(),
    };
    let mut engine = Engine::Interpreter;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--engine" => {
                let value = args
                    .next()
                    .ok_or("--engine needs a value: interpreter or jit")?;
                engine = match value.as_str() {
                    "interpreter" => Engine::Interpreter,
                    "jit" => Engine::Jit,
                    other => return Err(format!("unknown engine {other:?} (interpreter or jit)")),
                };
            }
            "--elf" => return Err("--elf: ELF input is not supported by this plugin yet".into()),
            "" => {}
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("reading stdin: {e}"))?;
    let code = parse_hex_bytes(&input).map_err(|e| format!("program: {e}"))?;
    let insns =
        waggle_isa::decode_and_validate(&code).map_err(|e| format!("invalid program: {e}"))?;
    let program = Prepared::new(&insns, engine, HelperSet::Conformance, Some(MAX_INSNS))?;
    program.run(&mut memory).map_err(|e| e.to_string())
}
