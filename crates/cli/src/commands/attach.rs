//! `waggle attach OBJ.o --program NAME (--pcap FILE | --every 10ms)`: load an object, attach
//! one program through a link to the hook of an event source, let the events fire it, and
//! show what it collected: ring buffer and perf buffer records as they arrive, every map at
//! each `--interval` and at the end (log2 histograms for histogram-shaped maps), and the
//! source's and the program's statistics. Ctrl-C stops the source; the program is then
//! detached and everything unloaded before the final report.
//!
//! Sources, by program type: `xdp` and `socket` programs take `--pcap` (replayed as fast as
//! possible, or `--pace` for the recorded pace; `--out` writes the packets that pass);
//! `perf_event` programs take `--every PERIOD` or `--hz F` on each CPU (`--duration`).

use super::values::{decode, is_histogram, log2_histogram, slot_of, struct_named};
use super::{Failure, emit, failed, hex_compact, open_object, read, usage};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use waggle_events::timer::{self, Timer, TimerStats};
use waggle_events::{Capture, PacketHook, PcapWriter, Replay, ReplayStats, replay};
use waggle_object::{MapKind, Object};
use waggle_runtime::{Combine, Handle, HookSpec, LoadedObject, ProgramType, Runtime, xdp_action};

/// The event source `attach` fires the program with.
pub enum Source {
    /// Packets of a pcap or pcapng file.
    Pcap {
        /// The capture.
        file: PathBuf,
        /// Where to write the packets that pass.
        out: Option<PathBuf>,
        /// Keep the recorded pace.
        pace: bool,
    },
    /// A timer on each CPU.
    Every {
        /// The period.
        period: Duration,
        /// How long (None: until Ctrl-C).
        duration: Option<Duration>,
        /// How many CPUs (None: all possible CPUs).
        cpus: Option<u32>,
    },
    /// Frames received on a live interface (AF_PACKET).
    Iface {
        /// The interface name.
        name: String,
        /// Where to write the packets that pass.
        out: Option<PathBuf>,
        /// How long (None: until Ctrl-C).
        duration: Option<Duration>,
    },
    /// Process exec and exit events from the process connector.
    ExecEvents {
        /// How long (None: until Ctrl-C).
        duration: Option<Duration>,
    },
}

const EXEC_HOOK: &str = "sched/sched_process_exec";
const EXIT_HOOK: &str = "sched/sched_process_exit";

/// The process-event hook a tracepoint program's section names, if any.
fn sched_hook(section: &str) -> Option<&'static str> {
    let tp = section
        .strip_prefix("tracepoint/")
        .or_else(|| section.strip_prefix("tp/"))?;
    match tp {
        "sched/sched_process_exec" => Some(EXEC_HOOK),
        "sched/sched_process_exit" => Some(EXIT_HOOK),
        _ => None,
    }
}

/// Everything `waggle attach` was asked to do.
pub struct AttachArgs {
    /// The object file.
    pub file: PathBuf,
    /// The program (default: the object's first).
    pub program: Option<String>,
    /// The event source.
    pub source: Source,
    /// Print the maps this often while running.
    pub interval: Option<Duration>,
    /// BTF struct decoding ring/perf buffer records (default: `struct event` if any).
    pub event_type: Option<String>,
    /// JSON lines instead of text.
    pub json: bool,
}

/// `10ms`, `2s`, `1.5s`, `100us`, `1m`, or a bare number of milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration like 10ms, 2s, 100us"))?;
    let scale = match unit.trim() {
        "" | "ms" => 1e-3,
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "s" => 1.0,
        "m" | "min" => 60.0,
        u => return Err(format!("{s:?}: unknown unit {u:?} (ns, us, ms, s, m)")),
    };
    let secs = n * scale;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err(format!("{s:?}: out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// What the source did, for the final report.
enum SourceStats {
    Replay(ReplayStats),
    Proc(waggle_events::proc_events::ProcStats, Duration),
    Timer(TimerStats, Duration),
}

/// Buffers the program writes records to, drained while the source runs.
pub(super) struct Buffers {
    /// (map name, handle, is ring buffer; else perf event array).
    maps: Vec<(String, Handle, bool)>,
    /// BTF type of the records.
    record_type: Option<u32>,
    pub(super) records: u64,
    pub(super) lost: u64,
}

/// Run the command.
pub fn attach(args: &AttachArgs) -> Result<(), Failure> {
    let object = open_object(&args.file)?;
    let program = match &args.program {
        Some(name) => object
            .programs
            .iter()
            .find(|p| &p.name == name)
            .ok_or_else(|| {
                usage(format!(
                    "{}: no program named {name:?} (programs: {})",
                    args.file.display(),
                    super::disasm::program_names(&object)
                ))
            })?,
        None => object.programs.first().ok_or_else(|| {
            usage(format!(
                "{}: the object has no programs",
                args.file.display()
            ))
        })?,
    };
    let prog_type = ProgramType::from_u32(program.prog_type()).unwrap_or(ProgramType::Unspec);
    let (hook_name, spec) = match (&args.source, prog_type) {
        (Source::Pcap { .. } | Source::Iface { .. }, ProgramType::Xdp) => (
            "xdp:pcap",
            HookSpec::new(ProgramType::Xdp, Combine::Continue(xdp_action::PASS)),
        ),
        (Source::Pcap { .. } | Source::Iface { .. }, ProgramType::SocketFilter) => (
            "socket:pcap",
            HookSpec::new(ProgramType::SocketFilter, Combine::Min),
        ),
        (Source::Every { .. }, ProgramType::PerfEvent) => (
            "perf_event:timer",
            HookSpec::new(ProgramType::PerfEvent, Combine::All),
        ),
        (Source::ExecEvents { .. }, ProgramType::Tracepoint)
            if sched_hook(&program.section).is_some() =>
        {
            (
                sched_hook(&program.section).unwrap_or(EXEC_HOOK),
                HookSpec::new(ProgramType::Tracepoint, Combine::All),
            )
        }
        (Source::ExecEvents { .. }, _) => {
            return Err(usage(format!(
                "--exec-events fires tracepoint/sched/sched_process_exec and _exit programs; \
                 {} is in {}",
                program.name, program.section
            )));
        }
        (Source::Pcap { .. } | Source::Iface { .. }, t) => {
            return Err(usage(format!(
                "--pcap and --iface fire xdp and socket programs; {} is {}",
                program.name,
                t.name()
            )));
        }
        (Source::Every { .. }, t) => {
            return Err(usage(format!(
                "--every/--hz fire perf_event programs; {} is {}",
                program.name,
                t.name()
            )));
        }
    };
    let hook_name = match &args.source {
        Source::Iface { name, .. } => hook_name.replace("pcap", name),
        _ => hook_name.to_string(),
    };
    // Read the capture before loading anything: a bad file is a usage error.
    let capture = match &args.source {
        Source::Pcap { file, .. } => Some(
            Capture::parse(&read(file)?).map_err(|e| usage(format!("{}: {e}", file.display())))?,
        ),
        Source::Every { .. } | Source::ExecEvents { .. } | Source::Iface { .. } => None,
    };

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
    let result = attach_loaded(
        args, &object, &rt, &loaded, program, &hook_name, spec, capture,
    );
    // Unload: every handle closed; the runtime must hold nothing afterwards.
    loaded.close(&rt);
    let left = rt.live_objects();
    if left != 0 && result.is_ok() {
        return Err(failed(format!("{left} objects still loaded after detach")));
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn attach_loaded(
    args: &AttachArgs,
    object: &Object,
    rt: &Runtime,
    loaded: &LoadedObject,
    program: &waggle_object::Program,
    hook_name: &str,
    spec: HookSpec,
    capture: Option<Capture>,
) -> Result<(), Failure> {
    let handle = loaded
        .program(&program.name)
        .ok_or_else(|| failed(format!("{} was not loaded", program.name)))?;
    let hook = rt
        .hook_create(hook_name, spec)
        .map_err(|e| failed(format!("hook {hook_name}: {e}")))?;
    let link = rt
        .link_create(handle, hook_name, 0)
        .map_err(|e| failed(format!("attach {} to {hook_name}: {e}", program.name)))?;
    // Process events: the object's other sched program (exit for exec, or the reverse) comes
    // along unless one program was asked for.
    let mut links = vec![link];
    if matches!(args.source, Source::ExecEvents { .. }) && args.program.is_none() {
        for p in &object.programs {
            if let Some(h) = sched_hook(&p.section).filter(|h| *h != hook_name)
                && let Some(ph) = loaded.program(&p.name)
            {
                if rt.hook(h).is_none() {
                    rt.hook_create(h, HookSpec::new(ProgramType::Tracepoint, Combine::All))
                        .map_err(|e| failed(format!("hook {h}: {e}")))?;
                }
                links.push(
                    rt.link_create(ph, h, 0)
                        .map_err(|e| failed(format!("attach {} to {h}: {e}", p.name)))?,
                );
            }
        }
    }

    let mut buffers = open_buffers(object, rt, loaded, args.event_type.as_deref())?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Only the first Ctrl-C handler of a process can be set; a second `attach` in the
        // same process (tests) keeps the first, which is harmless.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed));
    }
    let progress = Arc::new(AtomicUsize::new(0));
    let total = capture.as_ref().map_or(0, Capture::len);
    let started = Instant::now();

    let worker = {
        let stop = stop.clone();
        let progress = progress.clone();
        let hook = hook.clone();
        let source = match &args.source {
            Source::Pcap { out, pace, .. } => WorkerSource::Pcap {
                capture: capture.unwrap_or_default(),
                out: out.clone(),
                pace: *pace,
                socket: hook_name.starts_with("socket"),
            },
            Source::Iface {
                name,
                out,
                duration,
            } => WorkerSource::Iface {
                name: name.clone(),
                out: out.clone(),
                duration: *duration,
                socket: hook_name.starts_with("socket"),
            },
            Source::ExecEvents { duration } => WorkerSource::Proc {
                hooks: waggle_events::proc_events::ProcHooks {
                    exec: rt.hook(EXEC_HOOK),
                    exit: rt.hook(EXIT_HOOK),
                },
                duration: *duration,
            },
            Source::Every {
                period,
                duration,
                cpus,
            } => WorkerSource::Timer(Timer {
                period: *period,
                cpus: (0..cpus
                    .unwrap_or_else(waggle_maps::possible_cpus)
                    .min(waggle_maps::possible_cpus()))
                    .collect(),
                duration: *duration,
            }),
        };
        std::thread::spawn(move || run_source(source, hook, &stop, &progress))
    };

    let show_progress = !args.json && total > 0 && std::io::stderr().is_terminal();
    let mut next_dump = args.interval.map(|i| started + i);
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        drain_buffers(rt, object, &mut buffers, args.json)?;
        if show_progress {
            progress_bar(progress.load(Ordering::Relaxed), total);
        }
        if let (Some(at), Some(every)) = (next_dump, args.interval)
            && Instant::now() >= at
        {
            let maps = dump_maps(rt, object, loaded);
            print_maps(&maps, started.elapsed(), args.json, false)?;
            next_dump = Some(at + every);
        }
    }
    if show_progress {
        eprintln!();
    }
    let stats = worker
        .join()
        .map_err(|_| failed("the event source panicked"))??;
    // Detach first (no more runs), then read everything the program left.
    for link in links {
        rt.close(link).map_err(|e| failed(format!("detach: {e}")))?;
    }
    let interrupted = stop.load(Ordering::Relaxed);
    drain_buffers(rt, object, &mut buffers, args.json)?;
    let info = rt
        .program(handle)
        .map_err(|e| failed(e.to_string()))?
        .info();
    let maps = dump_maps(rt, object, loaded);
    let elapsed = started.elapsed();
    if args.json {
        let v = serde_json::json!({
            "final": true,
            "program": program.name,
            "hook": hook_name,
            "interrupted": interrupted,
            "elapsed_ns": elapsed.as_nanos() as u64,
            "run_count": info.run_count,
            "run_time_ns": info.run_time_ns,
            "source": source_json(&stats),
            "records": buffers.records,
            "lost": buffers.lost,
            "maps": maps.iter().map(MapView::json).collect::<Vec<_>>(),
        });
        emit(&format!("{v}\n"))
    } else {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {} on {hook_name}: {}",
            if interrupted { "interrupted:" } else { "done:" },
            program.name,
            source_text(&stats)
        );
        let avg = info.run_time_ns.checked_div(info.run_count).unwrap_or(0);
        let _ = writeln!(
            out,
            "program {}: {} runs, {} ns per run on average",
            program.name, info.run_count, avg
        );
        if buffers.records > 0 || buffers.lost > 0 {
            let _ = writeln!(
                out,
                "records: {} received, {} lost",
                buffers.records, buffers.lost
            );
        }
        emit(&out)?;
        print_maps(&maps, elapsed, false, true)?;
        emit("detached and unloaded\n")
    }
}

enum WorkerSource {
    Pcap {
        capture: Capture,
        out: Option<PathBuf>,
        pace: bool,
        socket: bool,
    },
    Timer(Timer),
    Proc {
        hooks: waggle_events::proc_events::ProcHooks,
        duration: Option<Duration>,
    },
    Iface {
        name: String,
        out: Option<PathBuf>,
        duration: Option<Duration>,
        socket: bool,
    },
}

/// A flag set when `stop` is or when `duration` has passed, and the thread that sets it.
fn until(stop: &Arc<AtomicBool>, duration: Option<Duration>) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let (d, stop) = (done.clone(), stop.clone());
    let start = Instant::now();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed)
            && !d.load(Ordering::Relaxed)
            && duration.is_none_or(|t| start.elapsed() < t)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        d.store(true, Ordering::Relaxed);
    });
    done
}

fn run_source(
    source: WorkerSource,
    hook: Arc<waggle_runtime::Hook>,
    stop: &Arc<AtomicBool>,
    progress: &AtomicUsize,
) -> Result<SourceStats, Failure> {
    match source {
        WorkerSource::Pcap {
            capture,
            out,
            pace,
            socket,
        } => {
            let linktype = capture.get(0).map_or(1, |p| p.linktype);
            let mut writer = match &out {
                Some(path) => {
                    let f = std::fs::File::create(path)
                        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
                    Some(
                        PcapWriter::new(std::io::BufWriter::new(f), linktype)
                            .map_err(|e| failed(format!("{}: {e}", path.display())))?,
                    )
                }
                None => None,
            };
            let hook = if socket {
                PacketHook::SocketFilter(hook)
            } else {
                PacketHook::Xdp(hook)
            };
            let opts = Replay {
                pace,
                ifindex: 1,
                stop: Some(stop),
                progress: Some(progress),
            };
            let mut write_error = None;
            let stats = replay(&hook, &capture, &opts, |p, data| {
                if let Some(w) = &mut writer
                    && write_error.is_none()
                    && let Err(e) = w.write(p.ts_ns, data, p.orig_len)
                {
                    write_error = Some(e);
                }
            })
            .map_err(|e| failed(format!("replay: {e}")))?;
            if let Some(w) = writer {
                w.finish().map_err(|e| failed(format!("--out: {e}")))?;
            }
            if let Some(e) = write_error {
                return Err(failed(format!("--out: {e}")));
            }
            Ok(SourceStats::Replay(stats))
        }
        WorkerSource::Iface {
            name,
            out,
            duration,
            socket,
        } => {
            let sock = waggle_events::LiveSocket::open(&name)
                .map_err(|e| failed(format!("--iface {name}: {e} (needs CAP_NET_RAW)")))?;
            let mut writer = match &out {
                Some(path) => {
                    let f = std::fs::File::create(path)
                        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
                    Some(
                        PcapWriter::new(std::io::BufWriter::new(f), 1)
                            .map_err(|e| failed(format!("{}: {e}", path.display())))?,
                    )
                }
                None => None,
            };
            let hook = if socket {
                PacketHook::SocketFilter(hook)
            } else {
                PacketHook::Xdp(hook)
            };
            let done = until(stop, duration);
            let mut write_error = None;
            let r = sock.run(
                &hook,
                &done,
                |data| {
                    let ts = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as u64);
                    if let Some(w) = &mut writer
                        && write_error.is_none()
                        && let Err(e) = w.write(ts, data, data.len() as u32)
                    {
                        write_error = Some(e);
                    }
                },
                |s| progress.store(s.packets as usize, Ordering::Relaxed),
            );
            done.store(true, Ordering::Relaxed);
            let stats = r.map_err(|e| failed(format!("--iface {name}: {e}")))?;
            if let Some(w) = writer {
                w.finish().map_err(|e| failed(format!("--out: {e}")))?;
            }
            if let Some(e) = write_error {
                return Err(failed(format!("--out: {e}")));
            }
            Ok(SourceStats::Replay(stats))
        }
        WorkerSource::Proc { hooks, duration } => {
            let start = Instant::now();
            let listener = waggle_events::proc_events::ProcListener::open().map_err(|e| {
                failed(format!(
                    "process connector: {e} (listening needs CAP_NET_ADMIN)"
                ))
            })?;
            // `done` ends the listener: Ctrl-C or the duration.
            let done = Arc::new(AtomicBool::new(false));
            let watcher = {
                let (done, stop) = (done.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed)
                        && duration.is_none_or(|d| start.elapsed() < d)
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    done.store(true, Ordering::Relaxed);
                })
            };
            let r = listener.run(&hooks, &done);
            done.store(true, Ordering::Relaxed);
            let _ = watcher.join();
            let s = r.map_err(|e| failed(format!("process connector: {e}")))?;
            Ok(SourceStats::Proc(s, start.elapsed()))
        }
        WorkerSource::Timer(t) => {
            let start = Instant::now();
            let s = timer::run(&hook, &t, stop);
            Ok(SourceStats::Timer(s, start.elapsed()))
        }
    }
}

fn progress_bar(done: usize, total: usize) {
    let width = 40;
    let filled = (done * width).checked_div(total).unwrap_or(0).min(width);
    eprint!(
        "\r[{}{}] {done}/{total} packets",
        "=".repeat(filled),
        " ".repeat(width - filled)
    );
}

const VERDICTS: [&str; 5] = [
    "XDP_ABORTED",
    "XDP_DROP",
    "XDP_PASS",
    "XDP_TX",
    "XDP_REDIRECT",
];

fn source_text(s: &SourceStats) -> String {
    match s {
        SourceStats::Replay(r) => {
            let mut t = format!(
                "{} packets, {} bytes in {} ({:.0} packets/s)",
                r.packets,
                r.bytes,
                seconds(r.elapsed),
                r.packets_per_second()
            );
            for (name, n) in VERDICTS.iter().zip(r.verdicts) {
                if n > 0 {
                    let _ = write!(t, "; {name} {n}");
                }
            }
            if r.invalid > 0 {
                let _ = write!(t, "; invalid verdicts {}", r.invalid);
            }
            if r.truncated > 0 {
                let _ = write!(t, "; truncated {}", r.truncated);
            }
            if r.tx_failed > 0 {
                let _ = write!(t, "; XDP_TX frames not sent back {}", r.tx_failed);
                // The first error is the send's when no run failed before it.
                if r.errors == 0 {
                    let _ = write!(t, " ({})", r.first_error.as_deref().unwrap_or("?"));
                }
            }
            if r.errors > 0 {
                let _ = write!(
                    t,
                    "; run errors {} (first: {})",
                    r.errors,
                    r.first_error.as_deref().unwrap_or("?")
                );
            }
            t
        }
        SourceStats::Proc(s, d) => {
            let mut t = format!("{} execs, {} exits in {}", s.execs, s.exits, seconds(*d));
            if s.errors > 0 {
                let _ = write!(
                    t,
                    "; run errors {} (first: {})",
                    s.errors,
                    s.first_error.as_deref().unwrap_or("?")
                );
            }
            t
        }
        SourceStats::Timer(s, d) => {
            let total: u64 = s.fires.iter().sum();
            let mut t = format!(
                "{total} timer firings on {} CPUs in {}",
                s.fires.len(),
                seconds(*d)
            );
            if s.errors > 0 {
                let _ = write!(
                    t,
                    "; run errors {} (first: {})",
                    s.errors,
                    s.first_error.as_deref().unwrap_or("?")
                );
            }
            t
        }
    }
}

/// `1.234 s`, or `12.3 ms` under a second.
pub(super) fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

fn source_json(s: &SourceStats) -> serde_json::Value {
    match s {
        SourceStats::Replay(r) => {
            let mut verdicts = serde_json::Map::new();
            for (name, n) in VERDICTS.iter().zip(r.verdicts) {
                verdicts.insert((*name).into(), n.into());
            }
            serde_json::json!({
                "kind": "pcap",
                "packets": r.packets,
                "bytes": r.bytes,
                "verdicts": verdicts,
                "invalid": r.invalid,
                "truncated": r.truncated,
                "tx_failed": r.tx_failed,
                "passed_bytes": r.passed_bytes,
                "errors": r.errors,
                "first_error": r.first_error,
                "elapsed_ns": r.elapsed.as_nanos() as u64,
            })
        }
        SourceStats::Proc(s, d) => serde_json::json!({
            "kind": "process_events",
            "execs": s.execs,
            "exits": s.exits,
            "errors": s.errors,
            "first_error": s.first_error,
            "elapsed_ns": d.as_nanos() as u64,
        }),
        SourceStats::Timer(s, d) => serde_json::json!({
            "kind": "timer",
            "fires": s.fires,
            "errors": s.errors,
            "first_error": s.first_error,
            "elapsed_ns": d.as_nanos() as u64,
        }),
    }
}

pub(super) fn open_buffers(
    object: &Object,
    rt: &Runtime,
    loaded: &LoadedObject,
    event_type: Option<&str>,
) -> Result<Buffers, Failure> {
    let mut maps = Vec::new();
    for (spec, (name, h)) in object.maps.iter().zip(&loaded.maps) {
        let m = rt.map(*h).map_err(|e| failed(e.to_string()))?;
        if m.inner.as_ringbuf().is_some() {
            maps.push((name.clone(), *h, true));
        } else if let Some(pa) = m.inner.as_perf_event_array() {
            // What libbpf's perf_buffer__new does: one buffer per CPU in slot `cpu`.
            for cpu in 0..spec.max_entries.min(waggle_maps::possible_cpus()) {
                let _ = pa.open(cpu, cpu, 64 * 4096);
            }
            maps.push((name.clone(), *h, false));
        }
    }
    let record_type = match (event_type, &object.btf) {
        (Some(name), Some(btf)) => Some(
            struct_named(btf, name)
                .ok_or_else(|| usage(format!("--event-type: no struct {name} in the BTF")))?,
        ),
        (Some(_), None) => return Err(usage("--event-type: the object has no BTF")),
        (None, Some(btf)) if !maps.is_empty() => struct_named(btf, "event"),
        _ => None,
    };
    Ok(Buffers {
        maps,
        record_type,
        records: 0,
        lost: 0,
    })
}

pub(super) fn drain_buffers(
    rt: &Runtime,
    object: &Object,
    b: &mut Buffers,
    json: bool,
) -> Result<(), Failure> {
    let mut out = String::new();
    let mut records = 0u64;
    let mut lost = 0u64;
    for (name, h, ring) in &b.maps {
        let Ok(m) = rt.map(*h) else { continue };
        let mut show = |data: &[u8]| {
            records += 1;
            let decoded = match (&object.btf, b.record_type) {
                (Some(btf), Some(id)) => decode(btf, id, data),
                _ => None,
            };
            if json {
                let v = serde_json::json!({
                    "record": name,
                    "data": hex_compact(data),
                    "decoded": decoded,
                });
                let _ = writeln!(out, "{v}");
            } else {
                match decoded {
                    Some(d) => {
                        let _ = writeln!(out, "{name}: {d}");
                    }
                    None => {
                        let _ = writeln!(out, "{name}: {}", waggle_cli::to_hex(data));
                    }
                }
            }
        };
        if *ring {
            if let Some(rb) = m.inner.as_ringbuf() {
                rb.consume(&mut show);
            }
        } else if let Some(pa) = m.inner.as_perf_event_array() {
            for cpu in 0..waggle_maps::possible_cpus() {
                let _ = pa.drain(cpu, |r| match r {
                    waggle_maps::PerfRecord::Sample(d) => show(d),
                    waggle_maps::PerfRecord::Lost(n) => lost += n,
                });
            }
        }
    }
    b.records += records;
    b.lost += lost;
    if !out.is_empty() {
        emit(&out)?;
    }
    Ok(())
}

/// One entry: key, value, and their BTF decodings when the object describes them.
type Row = (Vec<u8>, Vec<u8>, Option<String>, Option<String>);

/// A map's contents, ready to print.
pub(super) struct MapView {
    name: String,
    type_name: String,
    histogram: bool,
    global_data: bool,
    /// (key, value, decoded key, decoded value).
    entries: Result<Vec<Row>, String>,
}

impl MapView {
    pub(super) fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "name": self.name, "type": self.type_name });
        match &self.entries {
            Ok(e) => {
                v["entries"] = e
                    .iter()
                    .map(|(k, val, dk, dv)| {
                        serde_json::json!({
                            "key": hex_compact(k),
                            "value": hex_compact(val),
                            "key_decoded": dk,
                            "value_decoded": dv,
                        })
                    })
                    .collect();
                if self.histogram {
                    v["histogram"] = hist_slots(e)
                        .iter()
                        .map(|(s, c)| serde_json::json!({"slot": s, "count": c}))
                        .collect();
                }
            }
            Err(e) => v["error"] = e.as_str().into(),
        }
        v
    }
}

fn hist_slots(e: &[Row]) -> Vec<(u64, u64)> {
    e.iter()
        .map(|(k, v, _, _)| (slot_of(k), sum_u64(v)))
        .collect()
}

/// A value read as one u64, or the sum of per-CPU u64 slots.
fn sum_u64(v: &[u8]) -> u64 {
    v.chunks(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .fold(0u64, u64::wrapping_add)
}

pub(super) fn dump_maps(rt: &Runtime, object: &Object, loaded: &LoadedObject) -> Vec<MapView> {
    let mut views = Vec::new();
    for (spec, (name, h)) in object.maps.iter().zip(&loaded.maps) {
        let t = spec.type_name();
        if matches!(spec.kind, MapKind::Rodata)
            || matches!(
                t,
                "ringbuf" | "perf_event_array" | "prog_array" | "array_of_maps" | "hash_of_maps"
            )
        {
            continue;
        }
        let per_cpu = t.contains("percpu");
        let array = matches!(t, "array" | "percpu_array");
        let histogram = !per_cpu && is_histogram(name, spec.key_size, spec.value_size)
            || per_cpu && is_histogram(name, spec.key_size, 8) && spec.value_size == 8;
        let entries = rt.map_dump(*h).map_err(|e| e.message).map(|entries| {
            let mut rows: Vec<_> = entries
                .into_iter()
                // Untouched array elements are noise; --json keeps every element anyway
                // through the hash-like maps, and arrays list what was written.
                .filter(|(_, v)| !array || v.iter().any(|&b| b != 0))
                .map(|(k, v)| {
                    let dk = match (&object.btf, spec.btf_key_type_id) {
                        // Maps named *syscall* keyed by a number: the system call's name.
                        _ if name.contains("syscall") && matches!(k.len(), 4 | 8) => {
                            waggle_events::syscall_name(slot_of(&k)).map(str::to_string)
                        }
                        (Some(btf), Some(id)) => decode(btf, id, &k),
                        _ => None,
                    };
                    let dv = match (&object.btf, spec.btf_value_type_id) {
                        (Some(btf), Some(id)) if per_cpu => {
                            let slot = (spec.value_size as usize).next_multiple_of(8).max(1);
                            let parts: Option<Vec<String>> = v
                                .chunks(slot)
                                .map(|c| {
                                    decode(btf, id, &c[..c.len().min(spec.value_size as usize)])
                                })
                                .collect();
                            parts.map(|p| p.join(" | "))
                        }
                        (Some(btf), Some(id)) => decode(btf, id, &v),
                        _ => None,
                    };
                    (k, v, dk, dv)
                })
                .collect();
            // Counters read best largest first (by the value's first 8 bytes: a count, or
            // the first field of a struct of counters; summed over CPUs).
            if !histogram && !array && spec.value_size >= 4 {
                let first = |v: &[u8]| {
                    let slot = (spec.value_size as usize).next_multiple_of(8);
                    let take = (spec.value_size as usize).min(8);
                    v.chunks(slot)
                        .map(|c| sum_u64(&c[..take.min(c.len())]))
                        .fold(0u64, u64::wrapping_add)
                };
                rows.sort_by_key(|(_, v, _, _)| std::cmp::Reverse(first(v)));
            }
            rows
        });
        views.push(MapView {
            name: name.clone(),
            type_name: t.to_string(),
            histogram,
            global_data: matches!(spec.kind, MapKind::Data | MapKind::Bss),
            entries,
        });
    }
    views
}

pub(super) fn print_maps(
    maps: &[MapView],
    elapsed: Duration,
    json: bool,
    last: bool,
) -> Result<(), Failure> {
    if json {
        if last {
            return Ok(());
        }
        let v = serde_json::json!({
            "interval": true,
            "elapsed_ns": elapsed.as_nanos() as u64,
            "maps": maps.iter().map(MapView::json).collect::<Vec<_>>(),
        });
        return emit(&format!("{v}\n"));
    }
    let mut out = String::new();
    if !last {
        let _ = writeln!(out, "--- {:.1} s ---", elapsed.as_secs_f64());
    }
    for m in maps {
        let entries = match &m.entries {
            Ok(e) => e,
            Err(e) => {
                let _ = writeln!(out, "map {} ({}): cannot dump: {e}", m.name, m.type_name);
                continue;
            }
        };
        if m.global_data && entries.is_empty() {
            // Untouched .bss/.data: nothing the program collected.
            continue;
        }
        let _ = writeln!(
            out,
            "map {} ({}, {} entr{}):",
            m.name,
            m.type_name,
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" }
        );
        if m.histogram {
            out.push_str(&log2_histogram(&hist_slots(entries), "  "));
            continue;
        }
        let keys: Vec<String> = entries
            .iter()
            .map(|(k, _, dk, _)| dk.clone().unwrap_or_else(|| waggle_cli::to_hex(k)))
            .collect();
        let width = keys.iter().map(String::len).max().unwrap_or(0).max(3);
        // Numbers right-aligned, names left-aligned.
        let numeric = keys.iter().all(|k| k.bytes().all(|b| b.is_ascii_digit()));
        for (key, (_, v, _, dv)) in keys.iter().zip(entries) {
            let value = dv.clone().unwrap_or_else(|| waggle_cli::to_hex(v));
            if numeric {
                let _ = writeln!(out, "  {key:>width$}  {value}");
            } else {
                let _ = writeln!(out, "  {key:<width$}  {value}");
            }
        }
    }
    emit(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10ms").unwrap(), Duration::from_millis(10));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("100us").unwrap(), Duration::from_micros(100));
        assert_eq!(parse_duration("250").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("1e400s").is_err());
    }

    #[test]
    fn per_cpu_sums() {
        let mut v = 3u64.to_le_bytes().to_vec();
        v.extend_from_slice(&4u64.to_le_bytes());
        assert_eq!(sum_u64(&v), 7);
    }
}
