//! `waggle`: assemble, disassemble and run BPF programs; inspect, disassemble and test-run
//! BPF ELF objects. Each object command lives in its own module under `commands`.

mod commands;

use clap::{Parser, Subcommand, ValueEnum};
use commands::run::{DataSource, RunArgs};
use commands::{Failure, read, usage};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use waggle_cli::{Engine, HelperSet, exec, load_program, parse_hex_bytes};
use waggle_isa::disasm::Syntax;

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
    /// Disassemble an ELF object (per program, with relocations and source lines), raw
    /// bytecode, or assembler text.
    Disasm {
        /// A BPF ELF object (told by its magic), a `.bin` file of raw bytecode, or a `.s` file.
        file: PathBuf,
        /// Output syntax [default: llvm for objects, conformance otherwise].
        #[arg(long, value_enum)]
        syntax: Option<SyntaxArg>,
        /// Only this program of an object.
        #[arg(long, value_name = "NAME")]
        program: Option<String>,
        /// Show the x86-64 machine code the JIT makes (checked mode) under each instruction.
        #[arg(long)]
        jited: bool,
    },
    /// Show an object's sections, programs, maps, relocations and BTF.
    Inspect {
        /// A BPF ELF object.
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Load an object into a fresh runtime and test-run one program (PROG_TEST_RUN).
    ///
    /// Prints the return value (named for XDP, TC and SK programs), the time per run, the data
    /// if the program changed it, and every map's contents afterwards.
    Run {
        /// A BPF ELF object.
        file: PathBuf,
        /// The program to run [default: the object's first].
        #[arg(long, value_name = "NAME")]
        program: Option<String>,
        /// Input data (packet) read from a file.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["data_hex", "pcap"])]
        data: Option<PathBuf>,
        /// Input data as hex bytes (`"aa bb 11"` or `"aabb11"`).
        #[arg(long, value_name = "HEX", conflicts_with = "pcap")]
        data_hex: Option<String>,
        /// Input data: a packet of a pcap or pcapng file (see `--packet`).
        #[arg(long, value_name = "FILE")]
        pcap: Option<PathBuf>,
        /// Which packet of `--pcap`, counting from 1.
        #[arg(long, value_name = "N", requires = "pcap", default_value_t = 1)]
        packet: usize,
        /// The context to start from (e.g. `struct __sk_buff`), read from a file.
        #[arg(long, value_name = "FILE")]
        ctx: Option<PathBuf>,
        /// Run N times; the time shown is the average.
        #[arg(long, value_name = "N", default_value_t = 1)]
        repeat: u32,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Execution engine [default: jit on x86-64, interpreter elsewhere].
        #[arg(long, value_enum)]
        engine: Option<Engine>,
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

impl From<SyntaxArg> for Syntax {
    fn from(s: SyntaxArg) -> Syntax {
        match s {
            SyntaxArg::Conformance => Syntax::Conformance,
            SyntaxArg::Llvm => Syntax::Llvm,
        }
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
        Command::Disasm {
            file,
            syntax,
            program,
            jited,
        } => commands::disasm::disasm(&file, syntax.map(Syntax::from), program.as_deref(), jited),
        Command::Inspect { file, json } => commands::inspect::inspect(&file, json),
        Command::Run {
            file,
            program,
            data,
            data_hex,
            pcap,
            packet,
            ctx,
            repeat,
            json,
            engine,
        } => {
            if let Some(engine) = engine {
                waggle_runtime::set_default_engine(match engine {
                    Engine::Jit => waggle_runtime::Engine::Jit,
                    Engine::Interpreter => waggle_runtime::Engine::Interpreter,
                });
            }
            let data = match (data, data_hex, pcap) {
                (Some(f), _, _) => DataSource::File(f),
                (None, Some(h), _) => DataSource::Hex(h),
                (None, None, Some(file)) => DataSource::Pcap { file, packet },
                (None, None, None) => DataSource::None,
            };
            commands::run::run(&RunArgs {
                file,
                program,
                data,
                ctx,
                repeat,
                json,
            })
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
