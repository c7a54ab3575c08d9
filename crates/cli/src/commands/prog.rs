//! `waggle prog`: programs in the daemon, as `bpftool prog`.

use super::daemon::{ClientArgs, fail, open, print_json};
use super::{Failure, emit, failed, read, usage};
use serde_json::json;
use std::path::PathBuf;
use waggle_daemon::Client;
use waggle_daemon::proto::{AttachSource, ObjInfo, WireHandle};

/// `waggle prog` and its verbs.
#[derive(clap::Args)]
pub struct ProgCmd {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    verb: ProgVerb,
}

#[derive(clap::Subcommand)]
enum ProgVerb {
    /// Load an object's maps and programs into the daemon and pin them.
    Load {
        /// A BPF ELF object.
        file: PathBuf,
        /// Pin the program here (an object with several programs: PATH/NAME for each).
        /// Required: what is not pinned is unloaded when this command exits.
        #[arg(long, value_name = "PATH")]
        pin: String,
        /// Also pin the object's maps as DIR/NAME.
        #[arg(long, value_name = "DIR")]
        pin_maps: Option<String>,
        /// Attach the object's programs that fit an event source the daemon runs, and pin each
        /// link at PROGRAM_PIN.link: iface:IFACE (xdp, socket), every:PERIOD (perf_event),
        /// exec-events (tracepoint/sched/sched_process_exec and _exit), pcap:FILE,
        /// pcap-paced:FILE (xdp, socket), hook:NAME (a hook the daemon declares).
        #[arg(long, value_name = "SPEC")]
        attach: Option<String>,
        /// With --attach: only this program.
        #[arg(long, value_name = "NAME", requires = "attach")]
        program: Option<String>,
    },
    /// List loaded programs.
    List,
    /// Show one program (ID, /pin/path or name:NAME).
    Show {
        /// The program.
        prog: String,
    },
    /// Test-run a loaded program in the daemon (PROG_TEST_RUN) and print r0.
    Run {
        /// The program.
        prog: String,
        /// Input data as hex bytes.
        #[arg(long, value_name = "HEX", default_value = "")]
        data_hex: String,
        /// Runs.
        #[arg(long, value_name = "N", default_value_t = 1)]
        repeat: u32,
    },
    /// Unpin a program (it is unloaded when nothing else holds it).
    Unload {
        /// The pin path.
        pin: String,
    },
}

/// Runs `waggle prog VERB`.
pub fn run(cmd: ProgCmd) -> Result<(), Failure> {
    let mut c = cmd.client.connect()?;
    let json = cmd.client.json;
    match cmd.verb {
        ProgVerb::Load {
            file,
            pin,
            pin_maps,
            attach,
            program,
        } => {
            // Which programs attach where, decided before anything is loaded.
            let plan = match &attach {
                Some(spec) => attach_plan(&file, spec, program.as_deref())?,
                None => Vec::new(),
            };
            let elf = read(&file)?;
            let fname = file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = fname.split('.').next().unwrap_or("");
            let loaded = c.load_object(name, &elf).map_err(fail)?;
            let mut pins = Vec::new();
            for (n, h) in &loaded.programs {
                let path = if loaded.programs.len() == 1 {
                    pin.clone()
                } else {
                    format!("{}/{n}", pin.trim_end_matches('/'))
                };
                c.pin(*h, &path).map_err(fail)?;
                pins.push(path);
            }
            if let Some(dir) = pin_maps {
                for (n, h) in &loaded.maps {
                    let path = format!("{}/{n}", dir.trim_end_matches('/'));
                    c.pin(*h, &path).map_err(fail)?;
                    pins.push(path);
                }
            }
            for (name, source) in plan {
                let h = loaded
                    .program(&name)
                    .ok_or_else(|| failed(format!("{name} was not loaded")))?;
                let prog_pin = if loaded.programs.len() == 1 {
                    pin.clone()
                } else {
                    format!("{}/{name}", pin.trim_end_matches('/'))
                };
                let l = c.attach(h, source, 0).map_err(fail)?;
                let path = format!("{prog_pin}.link");
                c.pin(l, &path).map_err(fail)?;
                pins.push(path);
            }
            if json {
                print_json(&json!({ "pinned": pins }))
            } else {
                emit(
                    &pins
                        .iter()
                        .map(|p| format!("pinned {p}\n"))
                        .collect::<String>(),
                )
            }
        }
        ProgVerb::List => {
            let mut all = Vec::new();
            for id in c.prog_ids().map_err(fail)? {
                // A program may go between listing ids and opening it.
                let Ok(h) = c.prog_by_id(id) else { continue };
                all.push(info(&mut c, h)?);
            }
            show(&all, json)
        }
        ProgVerb::Show { prog } => {
            let h = open(&mut c, &prog, true)?;
            let i = info(&mut c, h)?;
            show(&[i], json)
        }
        ProgVerb::Run {
            prog,
            data_hex,
            repeat,
        } => {
            let h = open(&mut c, &prog, true)?;
            let data = waggle_cli::parse_hex_bytes(&data_hex)
                .map_err(|e| usage(format!("--data-hex: {e}")))?;
            let r = c.prog_test_run(h, &data, repeat).map_err(fail)?;
            if json {
                print_json(&json!({ "retval": r.retval, "duration_ns": r.duration_ns }))
            } else {
                emit(&format!(
                    "r0 = {:#x} ({})
",
                    r.retval, r.retval
                ))
            }
        }
        ProgVerb::Unload { pin } => {
            let h = c.get_pinned(&pin).map_err(fail)?;
            if !matches!(c.info(h).map_err(fail)?, ObjInfo::Program { .. }) {
                return Err(failed(format!("{pin} is not a program")));
            }
            c.unpin(&pin).map_err(fail)?;
            if json {
                print_json(&json!({ "unpinned": pin }))
            } else {
                Ok(())
            }
        }
    }
}

fn info(c: &mut Client, h: WireHandle) -> Result<ObjInfo, Failure> {
    let i = c.info(h).map_err(fail)?;
    c.close(h).map_err(fail)?;
    Ok(i)
}

fn show(all: &[ObjInfo], json: bool) -> Result<(), Failure> {
    let mut text = String::new();
    let mut list = Vec::new();
    for i in all {
        if let ObjInfo::Program {
            id,
            name,
            prog_type,
            insn_count,
            map_ids,
            run_count,
            run_time_ns,
        } = i
        {
            list.push(json!({
                "id": id, "type": prog_type, "name": name, "insn_count": insn_count,
                "map_ids": map_ids, "run_cnt": run_count, "run_time_ns": run_time_ns,
            }));
            text.push_str(&format!(
                "{id}: {prog_type}  name {name}\n\tinsns {insn_count}  map_ids {}  run_cnt {run_count}  run_time_ns {run_time_ns}\n",
                map_ids
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
    }
    if json {
        print_json(&serde_json::Value::Array(list))
    } else {
        emit(&text)
    }
}

/// The programs of `file` that attach to SPEC, each with its source (`--program` picks one;
/// else every program whose type the source fires).
fn attach_plan(
    file: &std::path::Path,
    spec: &str,
    only: Option<&str>,
) -> Result<Vec<(String, AttachSource)>, Failure> {
    use waggle_runtime::ProgramType as T;
    let source = super::link::parse_spec(spec)?;
    let object = super::open_object(file)?;
    let mut plan = Vec::new();
    for p in &object.programs {
        if only.is_some_and(|n| n != p.name) {
            continue;
        }
        let t = T::from_u32(p.prog_type()).unwrap_or(T::Unspec);
        let tp = p
            .section
            .strip_prefix("tracepoint/")
            .or_else(|| p.section.strip_prefix("tp/"));
        let fits = match &source {
            AttachSource::Iface { .. } | AttachSource::Pcap { .. } => {
                matches!(t, T::Xdp | T::SocketFilter).then(|| source.clone())
            }
            AttachSource::Every { .. } => (t == T::PerfEvent).then(|| source.clone()),
            AttachSource::ProcEvents { .. } => match tp {
                Some("sched/sched_process_exec") => Some(AttachSource::ProcEvents { exit: false }),
                Some("sched/sched_process_exit") => Some(AttachSource::ProcEvents { exit: true }),
                _ => None,
            },
            AttachSource::Hook { .. } => Some(source.clone()),
        };
        match fits {
            Some(s) => plan.push((p.name.clone(), s)),
            // A program asked for by name that does not fit is an error, not a no-op.
            None if only.is_some() => {
                return Err(usage(format!(
                    "--attach {spec}: program {} ({}, section {}) does not fit this source",
                    p.name,
                    t.name(),
                    p.section
                )));
            }
            None => {}
        }
    }
    if plan.is_empty() {
        return Err(usage(format!(
            "--attach {spec}: {} has no program {}this source fires",
            file.display(),
            only.map(|n| format!("named {n} that ")).unwrap_or_default()
        )));
    }
    Ok(plan)
}
