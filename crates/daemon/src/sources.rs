//! Event sources the daemon runs for links: the hook of a source is created, and the source
//! started on a thread of its own, with its first link; when the hook has no link left (its
//! links were closed, detached or their client went away), the source is stopped and the hook
//! removed. Several links on one source (e.g. two XDP programs on one interface) run in
//! attach order, as the kernel runs a multi-program XDP dispatcher.
//!
//! Sources are those of `waggle attach`: a live interface (AF_PACKET) for `xdp` and
//! `socket_filter` programs, a timer on each CPU for `perf_event` programs, the process
//! connector for `sched_process_exec`/`_exit` tracepoint programs, and a pcap replay.

use crate::proto::AttachSource;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use waggle_events::proc_events::{ProcHooks, ProcListener};
use waggle_events::timer::Timer;
use waggle_events::{Capture, LiveSocket, PacketHook, Replay};
use waggle_runtime::{
    Combine, Error, Handle, Hook, HookSpec, Link, Object, ProgramType, Runtime, xdp_action,
};
use waggle_uapi::errno;

const EXEC_HOOK: &str = "sched/sched_process_exec";
const EXIT_HOOK: &str = "sched/sched_process_exit";

/// One running source.
struct Running {
    /// The hooks it fires (removed from the namespace when it stops).
    hooks: Vec<Arc<Hook>>,
    stop: Arc<AtomicBool>,
    /// What it is and how it is doing, for `link list`.
    state: Arc<Mutex<String>>,
    /// Run times are kept while a source runs (`bpf_stats_enabled`), for `prog show`.
    _stats: waggle_runtime::StatsGuard,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The daemon's event sources and the links made through it, shared by all connections.
#[derive(Default)]
pub struct Sources {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By source key (the hook name; `proc` for both process-event hooks).
    running: HashMap<String, Running>,
    /// Numbers pcap replays' hooks (each replay is a source of its own).
    pcap_seq: u64,
    /// Links made through the daemon, so `link list` can say which source fires them.
    links: HashMap<u32, (Weak<Link>, String)>,
}

fn rt_err(e: Error) -> (i32, String) {
    (e.errno, e.message)
}

fn io_err(what: &str, e: std::io::Error) -> (i32, String) {
    (
        e.raw_os_error().unwrap_or(errno::EINVAL),
        format!("{what}: {e}"),
    )
}

impl Sources {
    /// Attaches program `prog` to `source`, starting the source if it is not running yet.
    /// Returns the link's handle; errors are (errno, message).
    pub fn attach(
        &self,
        rt: &Runtime,
        prog: Handle,
        source: AttachSource,
        cookie: u64,
    ) -> Result<Handle, (i32, String)> {
        let p = rt.program(prog).map_err(rt_err)?;
        let t = p.prog_type;
        let packet = |what: &str| match t {
            ProgramType::Xdp => Ok(("xdp", Combine::Continue(xdp_action::PASS))),
            ProgramType::SocketFilter => Ok(("socket", Combine::Min)),
            _ => Err((
                errno::EINVAL,
                format!(
                    "{what} fires xdp and socket_filter programs; {} is {}",
                    p.name,
                    t.name()
                ),
            )),
        };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.reap(rt);
        let (key, hook_name, start): (String, String, Option<Starter>) = match source {
            AttachSource::Hook { name } => {
                let link = rt.link_create(prog, &name, cookie).map_err(rt_err)?;
                inner.record(rt, link, String::new());
                return Ok(link);
            }
            AttachSource::Iface { name } => {
                let (kind, combine) = packet("--iface")?;
                let hook = format!("{kind}:{name}");
                let start = if inner.running.contains_key(&hook) {
                    None
                } else {
                    let sock = LiveSocket::open(&name)
                        .map_err(|e| io_err(&format!("--iface {name} (needs CAP_NET_RAW)"), e))?;
                    Some(Starter::Iface {
                        sock,
                        xdp: kind == "xdp",
                        spec: HookSpec::new(t, combine),
                    })
                };
                (hook.clone(), hook, start)
            }
            AttachSource::Pcap { data, pace } => {
                let (kind, combine) = packet("--pcap")?;
                let capture =
                    Capture::parse(&data).map_err(|e| (errno::EINVAL, format!("--pcap: {e}")))?;
                inner.pcap_seq += 1;
                let hook = format!("{kind}:pcap#{}", inner.pcap_seq);
                let start = Starter::Pcap {
                    capture,
                    pace,
                    xdp: kind == "xdp",
                    spec: HookSpec::new(t, combine),
                };
                (hook.clone(), hook, Some(start))
            }
            AttachSource::Every { period_ns } => {
                if t != ProgramType::PerfEvent {
                    return Err((
                        errno::EINVAL,
                        format!(
                            "--every fires perf_event programs; {} is {}",
                            p.name,
                            t.name()
                        ),
                    ));
                }
                let period = Duration::from_nanos(period_ns.max(10_000));
                let hook = format!("perf_event:every:{}ns", period.as_nanos());
                let start = (!inner.running.contains_key(&hook)).then(|| Starter::Timer {
                    timer: Timer {
                        period,
                        cpus: (0..waggle_maps::possible_cpus()).collect(),
                        duration: None,
                    },
                });
                (hook.clone(), hook, start)
            }
            AttachSource::ProcEvents { exit } => {
                if t != ProgramType::Tracepoint {
                    return Err((
                        errno::EINVAL,
                        format!(
                            "--exec-events fires tracepoint programs; {} is {}",
                            p.name,
                            t.name()
                        ),
                    ));
                }
                let hook = if exit { EXIT_HOOK } else { EXEC_HOOK };
                let start = if inner.running.contains_key("proc") {
                    None
                } else {
                    let l = ProcListener::open().map_err(|e| {
                        io_err("process connector (listening needs CAP_NET_ADMIN)", e)
                    })?;
                    Some(Starter::Proc(l))
                };
                ("proc".to_string(), hook.to_string(), start)
            }
        };
        let link = match start {
            None => rt.link_create(prog, &hook_name, cookie).map_err(rt_err)?,
            Some(s) => {
                // Attach before the source fires (a pcap replay would be over first).
                let (link, running) =
                    s.start(rt, &hook_name, || rt.link_create(prog, &hook_name, cookie))?;
                inner.running.insert(key.clone(), running);
                link
            }
        };
        inner.record(rt, link, key);
        Ok(link)
    }

    /// Stops sources whose hooks have no link left (after a close, a detach, an unpin or a
    /// client leaving).
    pub fn reap(&self, rt: &Runtime) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reap(rt);
    }

    /// The source firing link `id` and its state ("" if the link was not made through a
    /// source).
    pub fn describe(&self, id: u32) -> String {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some((_, key)) = inner.links.get(&id) else {
            return String::new();
        };
        match inner.running.get(key) {
            Some(r) => r.state.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            None if key.is_empty() => String::new(),
            None => format!("{key} (stopped)"),
        }
    }

    /// Stops every source and waits for their threads (daemon shutdown).
    pub fn stop_all(&self, rt: &Runtime) {
        let running: Vec<Running> = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner.links.clear();
            inner.running.drain().map(|(_, r)| r).collect()
        };
        for mut r in running {
            r.stop.store(true, Ordering::Relaxed);
            if let Some(t) = r.thread.take() {
                let _ = t.join();
            }
            for h in &r.hooks {
                let _ = rt.hook_remove(h.name());
            }
        }
    }

    /// Sources running now.
    pub fn running(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .running
            .len()
    }
}

impl Inner {
    fn record(&mut self, rt: &Runtime, link: Handle, key: String) {
        if let Ok(Object::Link(l)) = rt.object(link) {
            self.links.insert(l.id, (Arc::downgrade(&l), key));
        }
    }

    fn reap(&mut self, rt: &Runtime) {
        self.links.retain(|_, (l, _)| l.strong_count() > 0);
        let idle: Vec<String> = self
            .running
            .iter()
            .filter(|(_, r)| r.hooks.iter().all(|h| h.is_empty()))
            .map(|(k, _)| k.clone())
            .collect();
        for k in idle {
            if let Some(r) = self.running.remove(&k) {
                // The thread notices within its poll interval (≤ 100 ms) and ends on its own;
                // its hooks leave the namespace now so a new link starts a fresh source.
                r.stop.store(true, Ordering::Relaxed);
                for h in &r.hooks {
                    let _ = rt.hook_remove(h.name());
                }
            }
        }
    }
}

/// A source opened (so that errors reach the client) but not yet running.
enum Starter {
    Iface {
        sock: LiveSocket,
        xdp: bool,
        spec: HookSpec,
    },
    Pcap {
        capture: Capture,
        pace: bool,
        xdp: bool,
        spec: HookSpec,
    },
    Timer {
        timer: Timer,
    },
    Proc(ProcListener),
}

impl Starter {
    /// Creates the hooks, calls `attach` (which links the first program), then starts the
    /// source's thread. On failure the hooks are removed again.
    fn start<T>(
        self,
        rt: &Runtime,
        hook_name: &str,
        attach: impl FnOnce() -> waggle_runtime::Result<T>,
    ) -> Result<(T, Running), (i32, String)> {
        let spec = match &self {
            Starter::Iface { spec, .. } | Starter::Pcap { spec, .. } => spec.clone(),
            Starter::Timer { .. } => HookSpec::new(ProgramType::PerfEvent, Combine::All),
            Starter::Proc(_) => HookSpec::new(ProgramType::Tracepoint, Combine::All),
        };
        let names: Vec<&str> = match &self {
            Starter::Proc(_) => vec![EXEC_HOOK, EXIT_HOOK],
            _ => vec![hook_name],
        };
        let mut hooks = Vec::new();
        for n in &names {
            // A hook left by a source that is still winding down was removed from the
            // namespace already; one of the same name made elsewhere is a conflict.
            match rt.hook_create(n, spec.clone()) {
                Ok(h) => hooks.push(h),
                Err(e) => {
                    for h in &hooks {
                        let _ = rt.hook_remove(h.name());
                    }
                    return Err(rt_err(e));
                }
            }
        }
        let first = match attach() {
            Ok(x) => x,
            Err(e) => {
                for h in &hooks {
                    let _ = rt.hook_remove(h.name());
                }
                return Err(rt_err(e));
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(String::new()));
        let set = {
            let state = state.clone();
            move |s: String| *state.lock().unwrap_or_else(|e| e.into_inner()) = s
        };
        let (st, th_hooks) = (stop.clone(), hooks.clone());
        let thread = match self {
            Starter::Iface { sock, xdp, .. } => {
                let name = hook_name.to_string();
                set(format!("{name}: receiving"));
                std::thread::spawn(move || {
                    let hook = packet_hook(xdp, &th_hooks[0]);
                    let r = sock.run(&hook, &st, |_| {}, |_| {});
                    set(match r {
                        Ok(s) => format!("{name}: stopped after {} packets", s.packets),
                        Err(e) => format!("{name}: failed: {e}"),
                    });
                })
            }
            Starter::Pcap {
                capture, pace, xdp, ..
            } => {
                let name = hook_name.to_string();
                set(format!("{name}: replaying {} packets", capture.len()));
                std::thread::spawn(move || {
                    let hook = packet_hook(xdp, &th_hooks[0]);
                    let opts = Replay {
                        pace,
                        ifindex: 1,
                        stop: Some(&st),
                        progress: None,
                    };
                    set(
                        match waggle_events::replay(&hook, &capture, &opts, |_, _| {}) {
                            Ok(s) => format!(
                                "{name}: replayed {} packets, verdicts {:?}",
                                s.packets, s.verdicts
                            ),
                            Err(e) => format!("{name}: failed: {e}"),
                        },
                    );
                })
            }
            Starter::Timer { timer } => {
                let name = hook_name.to_string();
                set(format!("{name}: firing every {:?}", timer.period));
                std::thread::spawn(move || {
                    let s = waggle_events::timer::run(&th_hooks[0], &timer, &st);
                    set(format!(
                        "{name}: stopped after {} firings",
                        s.fires.iter().sum::<u64>()
                    ));
                })
            }
            Starter::Proc(listener) => {
                set("proc: listening to the process connector".into());
                std::thread::spawn(move || {
                    let hooks = ProcHooks {
                        exec: th_hooks.first().cloned(),
                        exit: th_hooks.get(1).cloned(),
                    };
                    set(match listener.run(&hooks, &st) {
                        Ok(s) => {
                            format!("proc: stopped after {} execs, {} exits", s.execs, s.exits)
                        }
                        Err(e) => format!("proc: failed: {e}"),
                    });
                })
            }
        };
        Ok((
            first,
            Running {
                hooks,
                stop,
                state,
                _stats: waggle_runtime::enable_stats(),
                thread: Some(thread),
            },
        ))
    }
}

fn packet_hook(xdp: bool, hook: &Arc<Hook>) -> PacketHook {
    if xdp {
        PacketHook::Xdp(hook.clone())
    } else {
        PacketHook::SocketFilter(hook.clone())
    }
}
