//! `waggle link`: links in the daemon, as `bpftool link`: `list`, `show`, `detach`, `pin`, and
//! `create PROG SPEC`, which attaches a loaded program to an event source the daemon runs.
//!
//! SPEC names the event source as `waggle attach` does: `iface:IFACE` (frames received on a
//! live interface; `xdp` and `socket` programs), `every:10ms` (a timer on each CPU;
//! `perf_event` programs), `exec-events` / `exit-events` (the process connector;
//! `tracepoint/sched/sched_process_exec` / `_exit` programs), `pcap:FILE` or
//! `pcap-paced:FILE` (a capture replayed once), or `hook:NAME` (a hook the daemon declares).

use super::daemon::{ClientArgs, fail, open, print_json};
use super::{Failure, emit, failed, read, usage};
use serde_json::json;
use std::path::Path;
use waggle_daemon::Client;
use waggle_daemon::proto::{AttachSource, ObjInfo, WireHandle};

/// `waggle link` and its verbs.
#[derive(clap::Args)]
pub struct LinkCmd {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    verb: LinkVerb,
}

#[derive(clap::Subcommand)]
enum LinkVerb {
    /// List links.
    List,
    /// Show one link (ID or /pin/path).
    Show {
        /// The link.
        link: String,
    },
    /// Attach a loaded program (ID, /pin/path or name:NAME) to an event source and pin the
    /// link (what is not pinned is detached when this command exits).
    Create {
        /// The program.
        prog: String,
        /// The event source: iface:IFACE, every:PERIOD, exec-events, exit-events,
        /// pcap:FILE, pcap-paced:FILE or hook:NAME.
        spec: String,
        /// Pin the link here.
        #[arg(long, value_name = "PATH")]
        pin: String,
        /// The cookie `bpf_get_attach_cookie` returns.
        #[arg(long, default_value_t = 0)]
        cookie: u64,
    },
    /// Detach a link (ID or /pin/path): it stops firing; its source stops with its last link.
    Detach {
        /// The link.
        link: String,
    },
    /// Pin a link (ID or /pin/path) at PATH.
    Pin {
        /// The link.
        link: String,
        /// The pin path.
        path: String,
    },
}

/// Parses an attach SPEC (see the module documentation); `pcap:FILE` reads the file.
pub fn parse_spec(spec: &str) -> Result<AttachSource, Failure> {
    let (kind, arg) = match spec.split_once([':', '=']) {
        Some((k, a)) => (k, Some(a)),
        None => (spec, None),
    };
    let need = |what: &str| {
        arg.filter(|a| !a.is_empty())
            .ok_or_else(|| usage(format!("attach spec {spec:?}: {kind} needs {what}")))
    };
    Ok(match kind {
        "iface" => AttachSource::Iface {
            name: need("an interface (iface:eth0)")?.to_string(),
        },
        "every" => {
            let d = super::attach::parse_duration(need("a period (every:10ms)")?)
                .map_err(|e| usage(format!("attach spec: {e}")))?;
            AttachSource::Every {
                period_ns: d.as_nanos().min(u128::from(u64::MAX)) as u64,
            }
        }
        "exec-events" => AttachSource::ProcEvents { exit: false },
        "exit-events" => AttachSource::ProcEvents { exit: true },
        "pcap" | "pcap-paced" => AttachSource::Pcap {
            data: read(Path::new(need("a capture file (pcap:FILE)")?))?,
            pace: kind == "pcap-paced",
        },
        "hook" => AttachSource::Hook {
            name: need("a hook name (hook:NAME)")?.to_string(),
        },
        _ => {
            return Err(usage(format!(
                "attach spec {spec:?}: expected iface:IFACE, every:PERIOD, exec-events, \
                 exit-events, pcap:FILE, pcap-paced:FILE or hook:NAME"
            )));
        }
    })
}

/// Opens a link named by id (`N` or `id:N`) or pin path.
fn open_link(c: &mut Client, what: &str) -> Result<WireHandle, Failure> {
    if let Ok(id) = what.trim_start_matches("id:").parse::<u32>() {
        return c.link_by_id(id).map_err(fail);
    }
    if what.starts_with('/') {
        let h = c.get_pinned(what).map_err(fail)?;
        return match c.info(h).map_err(fail)? {
            ObjInfo::Link { .. } => Ok(h),
            _ => Err(failed(format!("{what} is not a link"))),
        };
    }
    Err(usage(format!(
        "{what}: name a link by id (N) or pin path (/...)"
    )))
}

/// Runs `waggle link VERB`.
pub fn run(cmd: LinkCmd) -> Result<(), Failure> {
    let mut c = cmd.client.connect()?;
    let json = cmd.client.json;
    match cmd.verb {
        LinkVerb::List => {
            let mut all = Vec::new();
            for id in c.link_ids().map_err(fail)? {
                // A link may go between listing ids and opening it.
                let Ok(h) = c.link_by_id(id) else { continue };
                all.push(c.info(h).map_err(fail)?);
                c.close(h).map_err(fail)?;
            }
            show(&all, json)
        }
        LinkVerb::Show { link } => {
            let h = open_link(&mut c, &link)?;
            let i = c.info(h).map_err(fail)?;
            show(&[i], json)
        }
        LinkVerb::Create {
            prog,
            spec,
            pin,
            cookie,
        } => {
            let source = parse_spec(&spec)?;
            let p = open(&mut c, &prog, true)?;
            let l = c.attach(p, source, cookie).map_err(fail)?;
            c.pin(l, &pin).map_err(fail)?;
            let i = c.info(l).map_err(fail)?;
            if json {
                print_json(&json!({ "pinned": pin, "link": link_json(&i) }))
            } else {
                emit(&format!("pinned {pin}\n{}", link_text(&i)))
            }
        }
        LinkVerb::Detach { link } => {
            let h = open_link(&mut c, &link)?;
            c.link_detach(h).map_err(fail)?;
            if json {
                print_json(&json!({ "detached": link }))
            } else {
                Ok(())
            }
        }
        LinkVerb::Pin { link, path } => {
            let h = open_link(&mut c, &link)?;
            c.pin(h, &path).map_err(fail)?;
            if json {
                print_json(&json!({ "pinned": path }))
            } else {
                Ok(())
            }
        }
    }
}

fn link_json(i: &ObjInfo) -> serde_json::Value {
    match i {
        ObjInfo::Link {
            id,
            program_id,
            hook,
            detached,
            source,
        } => json!({
            "id": id, "prog_id": program_id, "hook": hook, "detached": detached,
            "source": source,
        }),
        _ => serde_json::Value::Null,
    }
}

fn link_text(i: &ObjInfo) -> String {
    match i {
        ObjInfo::Link {
            id,
            program_id,
            hook,
            detached,
            source,
        } => {
            let mut s = format!("{id}: hook {hook}  prog {program_id}");
            if *detached {
                s.push_str("  detached");
            }
            s.push('\n');
            if !source.is_empty() {
                s.push_str(&format!("\tsource {source}\n"));
            }
            s
        }
        _ => String::new(),
    }
}

fn show(all: &[ObjInfo], json: bool) -> Result<(), Failure> {
    if json {
        print_json(&serde_json::Value::Array(
            all.iter().map(link_json).collect(),
        ))
    } else {
        emit(&all.iter().map(link_text).collect::<String>())
    }
}
