//! `waggle trace OBJ.o [--program NAME]... -- CMD ARGS`: run CMD under ptrace with the
//! object's `raw_syscalls` tracepoint programs attached (`tracepoint/raw_syscalls/sys_enter`,
//! `.../sys_exit`, or `tp/...`), then show what they collected, as `waggle attach` does:
//! ring buffer records as they arrive, maps at each `--interval` and at the end (maps named
//! `*syscall*` keyed by number show system call names). Ctrl-C kills the command, detaches
//! and unloads, then reports.

use super::attach::{Buffers, drain_buffers, dump_maps, open_buffers, print_maps, seconds};
use super::{Failure, emit, failed, open_object, usage};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use waggle_events::syscalls::{SyscallHooks, TraceStats, trace_command};
use waggle_runtime::{Combine, HookSpec, ProgramType, Runtime};

/// Everything `waggle trace` was asked to do.
pub struct TraceArgs {
    /// The object file.
    pub file: PathBuf,
    /// Programs to attach (default: every raw_syscalls program of the object).
    pub programs: Vec<String>,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Print the maps this often while running.
    pub interval: Option<Duration>,
    /// BTF struct decoding ring/perf buffer records (default: `struct event` if any).
    pub event_type: Option<String>,
    /// JSON lines instead of text.
    pub json: bool,
}

/// The hook a program's section names, if it is a raw_syscalls tracepoint.
fn hook_of(section: &str) -> Option<&'static str> {
    let tp = section
        .strip_prefix("tracepoint/")
        .or_else(|| section.strip_prefix("tp/"))?;
    match tp {
        "raw_syscalls/sys_enter" => Some("raw_syscalls/sys_enter"),
        "raw_syscalls/sys_exit" => Some("raw_syscalls/sys_exit"),
        _ => None,
    }
}

/// Run the command.
pub fn trace(args: &TraceArgs) -> Result<(), Failure> {
    let object = open_object(&args.file)?;
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| usage("give the command to trace after --"))?;
    let mut chosen = Vec::new();
    for p in &object.programs {
        let wanted = args.programs.is_empty() || args.programs.contains(&p.name);
        match (wanted, hook_of(&p.section)) {
            (true, Some(h)) => chosen.push((p.name.clone(), h)),
            (true, None) if !args.programs.is_empty() => {
                return Err(usage(format!(
                    "{}: section {} is not a raw_syscalls tracepoint",
                    p.name, p.section
                )));
            }
            _ => {}
        }
    }
    if let Some(missing) = args
        .programs
        .iter()
        .find(|n| !object.programs.iter().any(|p| &p.name == *n))
    {
        return Err(usage(format!(
            "{}: no program named {missing:?}",
            args.file.display()
        )));
    }
    if chosen.is_empty() {
        return Err(usage(format!(
            "{}: no tracepoint/raw_syscalls/sys_enter or sys_exit program",
            args.file.display()
        )));
    }

    let rt = Runtime::new();
    // The report shows time per run, so runs are timed (BPF_ENABLE_STATS).
    let _stats = waggle_runtime::enable_stats();
    let loaded = rt.load_object(&object, 1).map_err(|e| {
        let mut m = format!("{}: load refused: {}", args.file.display(), e.error);
        if !e.log.trim().is_empty() {
            let _ = write!(m, "\nlog:\n{}", e.log.trim_end());
        }
        failed(m)
    })?;
    let spec = || HookSpec::new(ProgramType::Tracepoint, Combine::All);
    let hooks = SyscallHooks {
        enter: rt.hook_create("raw_syscalls/sys_enter", spec()).ok(),
        exit: rt.hook_create("raw_syscalls/sys_exit", spec()).ok(),
    };
    let mut links = Vec::new();
    for (name, hook) in &chosen {
        let h = loaded
            .program(name)
            .ok_or_else(|| failed(format!("{name} was not loaded")))?;
        match rt.link_create(h, hook, 0) {
            Ok(l) => links.push(l),
            Err(e) => {
                loaded.close(&rt);
                return Err(failed(format!("attach {name} to {hook}: {e}")));
            }
        }
    }
    let result = run(args, &object, &rt, &loaded, hooks, program, rest, &chosen);
    for l in links {
        let _ = rt.close(l);
    }
    if result.is_ok() {
        let maps = dump_maps(&rt, &object, &loaded);
        if args.json {
            let v = serde_json::json!({
                "final": true,
                "maps": maps.iter().map(|m| m.json()).collect::<Vec<_>>(),
            });
            emit(&format!("{v}\n"))?;
        } else {
            print_maps(&maps, Duration::ZERO, false, true)?;
            emit("detached and unloaded\n")?;
        }
    }
    loaded.close(&rt);
    result
}

#[allow(clippy::too_many_arguments)]
fn run(
    args: &TraceArgs,
    object: &waggle_object::Object,
    rt: &Runtime,
    loaded: &waggle_runtime::LoadedObject,
    hooks: SyscallHooks,
    program: &str,
    rest: &[String],
    chosen: &[(String, &str)],
) -> Result<(), Failure> {
    let mut buffers: Buffers = open_buffers(object, rt, loaded, args.event_type.as_deref())?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed));
    }
    let started = Instant::now();
    let worker = {
        let stop = stop.clone();
        let mut cmd = std::process::Command::new(program);
        cmd.args(rest);
        std::thread::spawn(move || trace_command(&mut cmd, &hooks, &stop))
    };
    let mut next_dump = args.interval.map(|i| started + i);
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        drain_buffers(rt, object, &mut buffers, args.json)?;
        if let (Some(at), Some(every)) = (next_dump, args.interval)
            && Instant::now() >= at
        {
            print_maps(
                &dump_maps(rt, object, loaded),
                started.elapsed(),
                args.json,
                false,
            )?;
            next_dump = Some(at + every);
        }
    }
    let stats: TraceStats = worker
        .join()
        .map_err(|_| failed("the tracer panicked"))?
        .map_err(|e| failed(format!("{program}: {e}")))?;
    drain_buffers(rt, object, &mut buffers, args.json)?;
    let elapsed = started.elapsed();
    let names: Vec<&str> = chosen.iter().map(|(n, _)| n.as_str()).collect();
    if args.json {
        let v = serde_json::json!({
            "command": args.command,
            "programs": names,
            "interrupted": stop.load(Ordering::Relaxed),
            "syscalls": stats.syscalls,
            "tasks": stats.tasks,
            "exit_code": stats.exit_code,
            "signal": stats.signal,
            "errors": stats.errors,
            "first_error": stats.first_error,
            "records": buffers.records,
            "elapsed_ns": elapsed.as_nanos() as u64,
        });
        emit(&format!("{v}\n"))
    } else {
        let mut out = format!(
            "{} {}: {} system calls in {} task{}, {}",
            if stop.load(Ordering::Relaxed) {
                "interrupted:"
            } else {
                "done:"
            },
            args.command.join(" "),
            stats.syscalls,
            stats.tasks,
            if stats.tasks == 1 { "" } else { "s" },
            seconds(elapsed)
        );
        match (stats.exit_code, stats.signal) {
            (Some(c), _) => {
                let _ = write!(out, "; exit code {c}");
            }
            (_, Some(s)) => {
                let _ = write!(out, "; killed by signal {s}");
            }
            _ => {}
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "programs: {}", names.join(", "));
        if stats.errors > 0 {
            let _ = writeln!(
                out,
                "run errors: {} (first: {})",
                stats.errors,
                stats.first_error.as_deref().unwrap_or("?")
            );
        }
        if buffers.records > 0 {
            let _ = writeln!(out, "records: {}", buffers.records);
        }
        emit(&out)
    }
}
