//! `waggle`: assemble, disassemble and run BPF programs.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use waggle_cli::{Engine, HelperSet, exec, load_program, parse_hex_bytes};
use waggle_isa::disasm::{Syntax, disassemble};

/// Waggle: a user-space eBPF runtime.
#[derive(Parser)]
#[command(name = "waggle", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble conformance-syntax text into raw little-endian bytecode.
    Asm {
        /// The assembler source.
        file: PathBuf,
        /// Output file (default: the input with the extension `.bin`).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Disassemble raw bytecode (or re-print assembler text).
    Disasm {
        /// A `.bin` file of raw bytecode, or a `.s` file.
        file: PathBuf,
        /// Output syntax.
        #[arg(long, value_enum, default_value = "conformance")]
        syntax: SyntaxArg,
    },
    /// Run a program once (or `--repeat` times) and print r0.
    ///
    /// The program gets r1 = the memory's address, r2 = its length. No verifier runs: memory
    /// accesses are checked at run time instead.
    Exec {
        /// A `.s` assembler file or a `.bin` file of raw bytecode.
        file: PathBuf,
        /// Memory handed to the program, as hex bytes (`"aa bb 11"` or `"aabb11"`).
        #[arg(long, conflicts_with = "mem")]
        mem_hex: Option<String>,
        /// Memory handed to the program, read from a file.
        #[arg(long)]
        mem: Option<PathBuf>,
        /// Execution engine.
        #[arg(long, value_enum, default_value = "interpreter")]
        engine: Engine,
        /// Run N times and print the median time per run.
        #[arg(long, value_name = "N")]
        repeat: Option<u32>,
        /// Stop after this many instructions (runaway code).
        #[arg(long, value_name = "N")]
        max_insns: Option<u64>,
        /// Helpers available to `call`.
        #[arg(long, value_enum, default_value = "conformance")]
        helpers: HelperSet,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SyntaxArg {
    /// The BPF conformance suite's syntax (`ldxw %r0, [%r1+4]`), re-assemblable.
    Conformance,
    /// LLVM's syntax, as `llvm-objdump -d` prints it (`r0 = *(u32 *)(r1 + 0x4)`).
    Llvm,
}

/// A failure and the exit code it maps to: 2 for unusable input, 1 for a failed run.
struct Failure {
    code: u8,
    message: String,
}

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 2,
        message: message.to_string(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("waggle: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| usage(format!("{}: {e}", path.display())))
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Asm { file, output } => {
            let bytes = read(&file)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| usage(format!("{}: not UTF-8 text", file.display())))?;
            let insns = waggle_isa::asm::assemble(&text)
                .map_err(|e| usage(format!("{}: {e}", file.display())))?;
            let out = output.unwrap_or_else(|| file.with_extension("bin"));
            let code = waggle_isa::encode(&insns);
            std::fs::write(&out, &code).map_err(|e| usage(format!("{}: {e}", out.display())))?;
            eprintln!(
                "{}: {} instructions, {} bytes",
                out.display(),
                insns.len(),
                code.len()
            );
            Ok(())
        }
        Command::Disasm { file, syntax } => {
            let insns = load_program(&file, &read(&file)?).map_err(usage)?;
            let syntax = match syntax {
                SyntaxArg::Conformance => Syntax::Conformance,
                SyntaxArg::Llvm => Syntax::Llvm,
            };
            print!("{}", disassemble(&insns, syntax));
            Ok(())
        }
        Command::Exec {
            file,
            mem_hex,
            mem,
            engine,
            repeat,
            max_insns,
            helpers,
        } => {
            let insns = load_program(&file, &read(&file)?).map_err(usage)?;
            let mut memory = match (mem_hex, mem) {
                (Some(h), _) => {
                    parse_hex_bytes(&h).map_err(|e| usage(format!("--mem-hex: {e}")))?
                }
                (None, Some(p)) => read(&p)?,
                (None, None) => Vec::new(),
            };
            let program = exec::Prepared::new(&insns, engine, helpers, max_insns).map_err(usage)?;
            let fail = |e: exec::RunError| Failure {
                code: 1,
                message: e.to_string(),
            };
            let initial = memory.clone();
            let r0 = program.run(&mut memory).map_err(fail)?;
            println!("r0 = {r0:#x} ({r0})");
            if let Some(n) = repeat {
                let mut times = Vec::with_capacity(n as usize);
                for _ in 0..n.max(1) {
                    memory.copy_from_slice(&initial);
                    let start = Instant::now();
                    program.run(&mut memory).map_err(fail)?;
                    times.push(start.elapsed());
                }
                times.sort();
                let median = times[times.len() / 2];
                println!("median {:?} per run over {} runs", median, times.len());
            }
            Ok(())
        }
    }
}
