//! `waggle daemon` and its bpftool-shaped client commands, as processes: a daemon on a
//! temporary socket, commands run against it with `--socket` or `WAGGLE_SOCKET`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

fn waggle() -> Command {
    Command::new(env!("CARGO_BIN_EXE_waggle"))
}

fn progs(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/progs")
        .join(name)
}

struct Daemon {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("w.sock");
        let child = waggle()
            .args(["daemon", "--socket"])
            .arg(&socket)
            .spawn()
            .unwrap();
        // Owned by `Daemon` at once, so its `Drop` kills and reaps the process on any path.
        let d = Daemon {
            child,
            socket,
            _dir: dir,
        };
        for _ in 0..500 {
            if std::os::unix::net::UnixStream::connect(&d.socket).is_ok() {
                return d;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("daemon did not start");
    }

    fn run(&self, args: &[&str]) -> Output {
        waggle()
            .env("WAGGLE_SOCKET", &self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "waggle {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn load_pin_update_dump_and_ringbuf_read() {
    let d = Daemon::start();
    let obj = progs("helpers_callbacks.bpf.o");
    let pinned = d.json(&[
        "prog",
        "load",
        obj.to_str().unwrap(),
        "--pin",
        "/p",
        "--pin-maps",
        "/m",
    ]);
    assert!(pinned["pinned"].as_array().unwrap().len() >= 4);
    // The objects outlive the command that loaded them: they are pinned.
    let progs = d.json(&["prog", "list"]);
    let names: Vec<_> = progs
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"callbacks".to_string()), "{names:?}");
    let maps = d.json(&["map", "list"]);
    assert!(
        maps.as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "ringbuf")
    );

    d.ok(&[
        "map",
        "update",
        "/m/values",
        "02 00 00 00",
        "value",
        "05 00 00 00 00 00 00 00",
    ]);
    let v = d.json(&["map", "lookup", "/m/values", "02", "00", "00", "00"]);
    assert_eq!(v["value"], "0500000000000000");
    let dump = d.json(&["map", "dump", "name:values"]);
    assert_eq!(dump.as_array().unwrap().len(), 8);
    // BTF-typed maps are shown with their types: `values` is u32 -> u64.
    let e2 = &dump.as_array().unwrap()[2];
    assert_eq!(e2["formatted"]["key"], "2");
    assert_eq!(e2["formatted"]["value"], "5");
    // A struct value (the spin lock reads as zero, as the kernel copies it out).
    let run = d.json(&[
        "prog",
        "run",
        "/p/callbacks",
        "--data-hex",
        &"00 ".repeat(14),
    ]);
    assert_eq!(run["retval"], 7);
    let counters = d.ok(&["map", "dump", "/m/counters"]);
    assert!(
        counters.contains(".hits = 1") && counters.contains(".sum = 21"),
        "{counters}"
    );

    // Three more runs: four ring buffer records, read through shared memory.
    for _ in 0..3 {
        let r = d.json(&[
            "prog",
            "run",
            "/p/callbacks",
            "--data-hex",
            &"00 ".repeat(14),
        ]);
        assert_eq!(r["retval"], 7);
    }
    let recs = d.ok(&["ringbuf", "read", "/m/events", "--count", "4", "--json"]);
    let recs: Vec<serde_json::Value> = recs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().all(|r| r["len"] == 24));

    // Deleting a key of an array is refused, as in the kernel; unknown maps are errors.
    assert!(
        !d.run(&["map", "delete", "/m/values", "00 00 00 00"])
            .status
            .success()
    );
    assert!(!d.run(&["map", "show", "/nope"]).status.success());
    assert_eq!(d.json(&["link", "list"]), serde_json::json!([]));

    d.ok(&["prog", "unload", "/p/callbacks"]);
    let pins = d.json(&["pin", "list"]);
    assert!(!pins.as_array().unwrap().iter().any(|p| p == "/p/callbacks"));
    for p in pins.as_array().unwrap() {
        d.ok(&["pin", "rm", p.as_str().unwrap()]);
    }
    assert_eq!(d.json(&["prog", "list"]).as_array().unwrap().len(), 0);
    assert_eq!(d.json(&["map", "list"]).as_array().unwrap().len(), 0);
}

#[test]
fn sigterm_stops_the_daemon_cleanly() {
    let mut d = Daemon::start();
    d.ok(&["pin", "list"]);
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&d.child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = d.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!d.socket.exists(), "the socket file is removed");
    // A client now gets a clear error, not a hang.
    let out = d.run(&["pin", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("daemon"));
}

/// A u64 counter of an array map, through `map lookup --json`.
fn counter(d: &Daemon, map: &str, slot: u32) -> u64 {
    let key: Vec<String> = slot
        .to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut args = vec!["map", "lookup", map];
    args.extend(key.iter().map(String::as_str));
    let v = d.json(&args);
    let hex = v["value"].as_str().unwrap();
    let bytes: Vec<u8> = (0..16)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    u64::from_le_bytes(bytes.try_into().unwrap())
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what}: not reached in 10 s");
}

#[test]
fn prog_load_attach_link_list_detach_and_create() {
    let d = Daemon::start();
    let obj = progs("hooks.bpf.o");
    let obj = obj.to_str().unwrap();
    let pinned = d.json(&[
        "prog",
        "load",
        obj,
        "--pin",
        "/h",
        "--pin-maps",
        "/hm",
        "--attach",
        "every:2ms",
        "--program",
        "tick",
    ]);
    let pins: Vec<&str> = pinned["pinned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(pins.contains(&"/h/tick.link"), "{pins:?}");
    // The timer fires `tick` in the daemon after this command has exited (the link is pinned).
    wait_for("timer runs", || counter(&d, "/hm/counts", 10) >= 2);
    assert_eq!(counter(&d, "/hm/counts", 11), 2_000_000, "sample period");

    let links = d.json(&["link", "list"]);
    let links = links.as_array().unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["hook"], "perf_event:every:2000000ns");
    assert_eq!(links[0]["detached"], false);
    assert!(
        links[0]["source"]
            .as_str()
            .unwrap()
            .contains("firing every")
    );
    let id = links[0]["id"].as_u64().unwrap().to_string();
    let text = d.ok(&["link", "show", &id]);
    assert!(text.contains("hook perf_event:every:2000000ns"), "{text}");

    // Detach: the link stays (pinned) but no longer fires; its source stops.
    d.ok(&["link", "detach", "/h/tick.link"]);
    let l = d.json(&["link", "show", "/h/tick.link"]);
    assert_eq!(l[0]["detached"], true);
    let after = counter(&d, "/hm/counts", 10);
    d.ok(&["pin", "rm", "/h/tick.link"]);
    assert_eq!(d.json(&["link", "list"]), serde_json::json!([]));

    // link create on a loaded program, pinned; pinned again under another path by id.
    let created = d.json(&["link", "create", "/h/tick", "every:3ms", "--pin", "/l"]);
    assert_eq!(created["pinned"], "/l");
    let id = created["link"]["id"].as_u64().unwrap().to_string();
    d.ok(&["link", "pin", &id, "/l2"]);
    wait_for("fires again", || counter(&d, "/hm/counts", 10) > after);
    d.ok(&["pin", "rm", "/l"]);
    assert_eq!(
        d.json(&["link", "list"]).as_array().unwrap().len(),
        1,
        "/l2 holds it"
    );
    d.ok(&["pin", "rm", "/l2"]);
    assert_eq!(d.json(&["link", "list"]), serde_json::json!([]));

    // Programs that do not fit a source are refused before anything is loaded.
    let out = d.run(&[
        "prog",
        "load",
        obj,
        "--pin",
        "/x",
        "--attach",
        "every:1ms",
        "--program",
        "xdp_verdict",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not fit"));
    let out = d.run(&[
        "link",
        "create",
        "/h/xdp_verdict",
        "every:1ms",
        "--pin",
        "/x",
    ]);
    assert!(!out.status.success());
    let out = d.run(&["link", "create", "/h/tick", "sometimes", "--pin", "/x"]);
    assert!(!out.status.success());
    assert!(
        !d.json(&["pin", "list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "/x")
    );
}

#[test]
fn pcap_attach_and_ringbuf_read_follow_a_timer() {
    let d = Daemon::start();
    let obj = progs("hooks.bpf.o");
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/traffic.pcap");
    let attach = format!("pcap:{}", pcap.display());
    d.json(&[
        "prog",
        "load",
        obj.to_str().unwrap(),
        "--pin",
        "/h",
        "--pin-maps",
        "/hm",
        "--attach",
        &attach,
    ]);
    // Every xdp and socket program of the object was attached to its own replay.
    let links = d.json(&["link", "list"]);
    let hooks: Vec<&str> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["hook"].as_str().unwrap())
        .collect();
    assert!(
        hooks.iter().any(|h| h.starts_with("xdp:pcap#")),
        "{hooks:?}"
    );
    assert!(
        hooks.iter().any(|h| h.starts_with("socket:pcap#")),
        "{hooks:?}"
    );
    let packets = waggle_events::Capture::parse(&std::fs::read(&pcap).unwrap())
        .unwrap()
        .len() as u64;
    // Slot 9 counts socket filter runs: once per packet.
    wait_for("socket filter saw every packet", || {
        counter(&d, "/hm/counts", 9) == packets
    });

    // A ring buffer reader follows a timer program's records, blocking between them.
    d.ok(&[
        "link",
        "create",
        "/h/tick_event",
        "every:1ms",
        "--pin",
        "/e",
    ]);
    let recs = d.ok(&["ringbuf", "read", "/hm/events", "--count", "3", "--json"]);
    let recs: Vec<serde_json::Value> = recs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 3);
    assert!(recs.iter().all(|r| r["len"] == 24), "{recs:?}");
    d.ok(&["pin", "rm", "/e"]);
}

#[test]
fn exec_events_attach_feeds_ringbuf_read() {
    let d = Daemon::start();
    let obj = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/execsnoop.bpf.o");
    let out = d.run(&[
        "prog",
        "load",
        obj.to_str().unwrap(),
        "--pin",
        "/x",
        "--pin-maps",
        "/xm",
        "--attach",
        "exec-events",
        "--json",
    ]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("process connector"), "{err}");
        println!("SKIPPED: the daemon cannot listen to the process connector here: {err}");
        return;
    }
    // Both sched programs were attached, each link pinned next to its program.
    let links = d.json(&["link", "list"]);
    let mut hooks: Vec<&str> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["hook"].as_str().unwrap())
        .collect();
    hooks.sort();
    assert_eq!(
        hooks,
        ["sched/sched_process_exec", "sched/sched_process_exit"]
    );
    // The reader blocks until an exec arrives: start one while it waits.
    let reader = {
        let mut cmd = waggle();
        cmd.env("WAGGLE_SOCKET", &d.socket).args([
            "ringbuf",
            "read",
            "/xm/execs",
            "--count",
            "1",
            "--json",
        ]);
        cmd.stdout(std::process::Stdio::piped()).spawn().unwrap()
    };
    let mut children = Vec::new();
    let out = loop {
        let mut c = Command::new("true").spawn().unwrap();
        children.push(c.id());
        c.wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // `read` exits after its first record.
        if let Some(_status) = has_exited(&reader) {
            break reader.wait_with_output().unwrap();
        }
        assert!(children.len() < 200, "no record reached the reader");
    };
    let rec: serde_json::Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert!(rec["len"].as_u64().unwrap() > 20, "{rec}");
}

/// Whether `child` has exited (without reaping it).
fn has_exited(child: &Child) -> Option<()> {
    let path = format!("/proc/{}/stat", child.id());
    let stat = std::fs::read_to_string(path).ok()?;
    // Field 3 is the state; Z = exited, not yet reaped.
    let state = stat.rsplit(')').next()?.split_whitespace().next()?;
    (state == "Z").then_some(())
}
