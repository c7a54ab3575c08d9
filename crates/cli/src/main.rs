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
    /// Verify an object's programs (as PROG_LOAD would) without running them.
    ///
    /// Exit 0: accepted (prints instructions processed, states, peak, stack depth per
    /// subprogram and time); 1: refused (prints why, with the source line); 2: unusable input.
    Verify {
        /// A BPF ELF object.
        file: PathBuf,
        /// Only this program [default: every program of the object].
        #[arg(long, value_name = "NAME")]
        program: Option<String>,
        /// Program type (kernel name: socket_filter, xdp, sched_cls, kprobe, tracepoint, ...),
        /// overriding the one the section name implies.
        #[arg(long = "type", value_name = "T")]
        prog_type: Option<String>,
        /// 0: verdicts only; 1: with the refused program's state and path; 2: every
        /// instruction with its state.
        #[arg(long, value_name = "0|1|2", default_value_t = 0)]
        log_level: u32,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Kernel BTF typing the arguments of tp_btf/fentry/fexit/lsm/iter programs and
        /// `bpf_get_current_task_btf` [default: /sys/kernel/btf/vmlinux when present].
        #[arg(long, value_name = "FILE")]
        btf: Option<PathBuf>,
    },
    /// Attach a program to an event source and show what it collects.
    ///
    /// xdp and socket programs replay the packets of `--pcap` (verdict counts; `--out`
    /// writes the packets that pass); perf_event programs run `--every PERIOD` (or `--hz`) on
    /// each CPU. Ring and perf buffer records print as they arrive, the maps every
    /// `--interval` and at the end (log2 histograms for maps named `*hist*`). Ctrl-C stops,
    /// detaches and unloads, then reports.
    Attach {
        /// A BPF ELF object.
        file: PathBuf,
        /// The program to attach [default: the object's first].
        #[arg(long, value_name = "NAME")]
        program: Option<String>,
        /// Replay the packets of a pcap or pcapng file (xdp, socket programs).
        #[arg(long, value_name = "FILE", required_unless_present_any = ["every", "hz", "exec_events", "iface"], conflicts_with_all = ["every", "hz", "exec_events", "iface"])]
        pcap: Option<PathBuf>,
        /// Frames received on this network interface (xdp, socket programs; AF_PACKET, needs
        /// CAP_NET_RAW), until Ctrl-C or `--duration`.
        #[arg(long, value_name = "IFACE", conflicts_with_all = ["every", "hz", "exec_events"])]
        iface: Option<String>,
        /// Write the packets that pass to this pcap file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replay at the recorded pace instead of as fast as possible.
        #[arg(long, requires = "pcap")]
        pace: bool,
        /// Run a perf_event program every PERIOD on each CPU (`10ms`, `1s`, `500us`).
        #[arg(long, value_name = "PERIOD", value_parser = commands::attach::parse_duration, conflicts_with = "hz")]
        every: Option<std::time::Duration>,
        /// Run a perf_event program F times a second on each CPU.
        #[arg(long, value_name = "F")]
        hz: Option<f64>,
        /// Process exec and exit events (tracepoint/sched/sched_process_exec and _exit
        /// programs) from the process connector; needs CAP_NET_ADMIN.
        #[arg(long, conflicts_with_all = ["every", "hz"])]
        exec_events: bool,
        /// Stop the timer or the process events after this long [default: until Ctrl-C].
        #[arg(long, value_name = "TIME", value_parser = commands::attach::parse_duration)]
        duration: Option<std::time::Duration>,
        /// Timer on this many CPUs [default: all].
        #[arg(long, value_name = "N")]
        cpus: Option<u32>,
        /// Print the maps every TIME while running.
        #[arg(long, value_name = "TIME", value_parser = commands::attach::parse_duration)]
        interval: Option<std::time::Duration>,
        /// The BTF struct that decodes ring/perf buffer records [default: `event` if any].
        #[arg(long, value_name = "STRUCT")]
        event_type: Option<String>,
        /// JSON lines: records and interval dumps as they come, then the final report.
        #[arg(long)]
        json: bool,
    },
    /// Run a command with the object's raw_syscalls tracepoint programs attached.
    ///
    /// The command runs under ptrace; each system call entry and exit fires the programs of
    /// `tracepoint/raw_syscalls/sys_enter` and `sys_exit` with the kernel's records; they see
    /// the command as the current task and read its memory with `bpf_probe_read_user*`.
    Trace {
        /// A BPF ELF object.
        file: PathBuf,
        /// A program to attach (repeatable) [default: every raw_syscalls program].
        #[arg(long, value_name = "NAME")]
        program: Vec<String>,
        /// Print the maps every TIME while running.
        #[arg(long, value_name = "TIME", value_parser = commands::attach::parse_duration)]
        interval: Option<std::time::Duration>,
        /// The BTF struct that decodes ring/perf buffer records [default: `event` if any].
        #[arg(long, value_name = "STRUCT")]
        event_type: Option<String>,
        /// JSON lines: records as they come, then the report and the maps.
        #[arg(long)]
        json: bool,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
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
    /// Run the daemon: the runtime behind a Unix socket, for `prog`, `map`, `link`, `pin`, `ringbuf`.
    Daemon(commands::daemon::DaemonArgs),
    /// Programs in the daemon: load, list, show, unload (as bpftool prog).
    Prog(commands::prog::ProgCmd),
    /// Maps in the daemon: list, show, dump, lookup, update, delete, pin (as bpftool map).
    Map(commands::map::MapCmd),
    /// Links in the daemon: attach programs to event sources, list, show, detach, pin.
    Link(commands::link::LinkCmd),
    /// Read a ring buffer map of the daemon, following new records.
    Ringbuf(commands::ringbuf::RingbufCmd),
    /// The daemon's pins: list, rm.
    Pin(commands::pin::PinCmd),
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
        Command::Daemon(a) => commands::daemon::run(a),
        Command::Prog(c) => commands::prog::run(c),
        Command::Map(c) => commands::map::run(c),
        Command::Link(c) => commands::link::run(c),
        Command::Ringbuf(c) => commands::ringbuf::run(c),
        Command::Pin(c) => commands::pin::run(c),
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
        Command::Verify {
            file,
            program,
            prog_type,
            log_level,
            json,
            btf,
        } => commands::verify::verify(&commands::verify::VerifyArgs {
            file: &file,
            program: program.as_deref(),
            prog_type: prog_type.as_deref(),
            log_level,
            json,
            btf: btf.as_deref(),
        }),
        Command::Attach {
            file,
            program,
            pcap,
            out,
            pace,
            every,
            hz,
            duration,
            cpus,
            exec_events,
            iface,
            interval,
            event_type,
            json,
        } => {
            let source = match (pcap, every, hz) {
                _ if exec_events => commands::attach::Source::ExecEvents { duration },
                (None, _, _) if iface.is_some() => commands::attach::Source::Iface {
                    name: iface.unwrap_or_default(),
                    out,
                    duration,
                },
                (Some(file), _, _) => commands::attach::Source::Pcap { file, out, pace },
                (None, Some(period), _) => commands::attach::Source::Every {
                    period,
                    duration,
                    cpus,
                },
                (None, None, Some(f)) if f.is_finite() && f > 0.0 && f <= 1e6 => {
                    commands::attach::Source::Every {
                        period: std::time::Duration::from_secs_f64(1.0 / f),
                        duration,
                        cpus,
                    }
                }
                (None, None, Some(f)) => return Err(usage(format!("--hz {f}: out of range"))),
                (None, None, None) => return Err(usage("give --pcap, --every or --hz")),
            };
            commands::attach::attach(&commands::attach::AttachArgs {
                file,
                program,
                source,
                interval,
                event_type,
                json,
            })
        }
        Command::Trace {
            file,
            program,
            interval,
            event_type,
            json,
            command,
        } => commands::trace::trace(&commands::trace::TraceArgs {
            file,
            programs: program,
            command,
            interval,
            event_type,
            json,
        }),
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
