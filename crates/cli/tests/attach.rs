//! End-to-end tests of `waggle attach`: pcap replay into XDP and socket programs (verdicts,
//! `--out`, the README's traffic example), timers into perf_event programs (ring buffer
//! records decoded with BTF, `--json`), Ctrl-C, and refused combinations.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use waggle_events::{Capture, PcapWriter};

const WAGGLE: &str = env!("CARGO_BIN_EXE_waggle");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hooks_o() -> String {
    root().join("tests/progs/hooks.bpf.o").display().to_string()
}

fn waggle(args: &[&str]) -> Output {
    Command::new(WAGGLE)
        .args(args)
        .output()
        .expect("run waggle")
}

fn ok(args: &[&str]) -> String {
    let o = waggle(args);
    assert!(
        o.status.success(),
        "waggle {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("waggle-attach-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// 30 Ethernet frames whose first payload byte is 0..30 (hooks.bpf.c's `xdp_verdict`
/// returns it modulo 5).
fn write_pcap(path: &Path) -> Vec<Vec<u8>> {
    let mut w = PcapWriter::new(Vec::new(), 1).unwrap();
    let mut frames = Vec::new();
    for i in 0..30u8 {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
        f.extend((0..40).map(|k| i.wrapping_add(k)));
        w.write(u64::from(i) * 1000, &f, f.len() as u32).unwrap();
        frames.push(f);
    }
    std::fs::write(path, w.finish().unwrap()).unwrap();
    frames
}

fn last_json(out: &str) -> serde_json::Value {
    let line = out.lines().last().expect("output");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn readme_traffic_example() {
    let o = root().join("examples/traffic.bpf.o").display().to_string();
    let p = root().join("examples/traffic.pcap");
    let n = Capture::parse(&std::fs::read(&p).unwrap()).unwrap().len();
    let out = ok(&["attach", &o, "--pcap", &p.display().to_string()]);
    assert!(out.contains(&format!("{n} packets")), "{out}");
    assert!(out.contains(&format!("XDP_PASS {n}")), "{out}");
    assert!(out.contains("map per_proto"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("TCP ") && l.contains("{packets: ")),
        "{out}"
    );
    assert!(out.contains("map size_hist"), "{out}");
    assert!(out.contains(" -> "), "histogram rows: {out}");
    assert!(out.ends_with("detached and unloaded\n"), "{out}");

    // The JSON report agrees: every packet counted once in per_proto.
    let v = last_json(&ok(&[
        "attach",
        &o,
        "--pcap",
        &p.display().to_string(),
        "--json",
    ]));
    assert_eq!(v["run_count"], n as u64);
    let per_proto = v["maps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "per_proto")
        .unwrap();
    let packets: u64 = per_proto["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let hex = e["value"].as_str().unwrap();
            let b: Vec<u8> = (0..8)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            u64::from_le_bytes(b.try_into().unwrap())
        })
        .sum();
    assert_eq!(packets, n as u64);
}

#[test]
fn xdp_verdicts_and_out_file() {
    let dir = scratch("xdp");
    let input = dir.join("in.pcap");
    let output = dir.join("out.pcap");
    let frames = write_pcap(&input);
    let out = ok(&[
        "attach",
        &hooks_o(),
        "--program",
        "xdp_verdict",
        "--pcap",
        &input.display().to_string(),
        "--out",
        &output.display().to_string(),
    ]);
    for (v, name) in [
        "XDP_ABORTED",
        "XDP_DROP",
        "XDP_PASS",
        "XDP_TX",
        "XDP_REDIRECT",
    ]
    .iter()
    .enumerate()
    {
        let n = frames
            .iter()
            .filter(|f| usize::from(f[14] % 5) == v)
            .count();
        assert!(out.contains(&format!("{name} {n}")), "{name}: {out}");
    }
    let passed = Capture::parse(&std::fs::read(&output).unwrap()).unwrap();
    let want: Vec<&Vec<u8>> = frames.iter().filter(|f| f[14] % 5 == 2).collect();
    assert_eq!(passed.len(), want.len());
    for (p, f) in passed.packets().zip(want) {
        assert_eq!(p.data, &f[..f.len() - 4], "adjust_tail honoured in --out");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn socket_filter_truncates() {
    let dir = scratch("socket");
    let input = dir.join("in.pcap");
    let frames = write_pcap(&input);
    let out = ok(&[
        "attach",
        &hooks_o(),
        "--program",
        "keep20",
        "--pcap",
        &input.display().to_string(),
        "--json",
    ]);
    let v = last_json(&out);
    assert_eq!(v["source"]["truncated"], frames.len() as u64);
    assert_eq!(v["source"]["passed_bytes"], 20 * frames.len() as u64);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn timer_ring_buffer_records_are_decoded() {
    let out = ok(&[
        "attach",
        &hooks_o(),
        "--program",
        "tick_event",
        "--every",
        "20ms",
        "--duration",
        "100ms",
        "--cpus",
        "1",
    ]);
    let records: Vec<&str> = out.lines().filter(|l| l.starts_with("events: ")).collect();
    assert!(!records.is_empty(), "{out}");
    for r in &records {
        assert_eq!(
            *r, "events: {cpu: 0, period: 20000000, tag: \"tick\"}",
            "{out}"
        );
    }
    assert!(
        out.contains(&format!("records: {} received, 0 lost", records.len())),
        "{out}"
    );

    // JSON: records as lines, then the report; the program's map agrees with the runs.
    let out = ok(&[
        "attach",
        &hooks_o(),
        "--program",
        "tick",
        "--hz",
        "100",
        "--duration",
        "100ms",
        "--json",
    ]);
    let v = last_json(&out);
    let fires: u64 = v["source"]["fires"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_u64().unwrap())
        .sum();
    assert!(fires > 0);
    assert_eq!(v["run_count"], fires);
    let counts = v["maps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "counts")
        .unwrap();
    let slot10 = counts["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key_decoded"] == "10")
        .unwrap();
    assert_eq!(slot10["value_decoded"], fires.to_string());
}

#[test]
fn ctrl_c_detaches_unloads_and_reports() {
    use std::io::{BufRead, Read};
    let mut child = Command::new(WAGGLE)
        .args([
            "attach",
            &hooks_o(),
            "--program",
            "tick",
            "--every",
            "10ms",
            "--interval",
            "50ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first interval dump comes after the Ctrl-C handler is installed: wait for it, so
    // that SIGINT never reaches waggle before it can handle it, however slow the machine.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("--- "), "{first}");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut out = String::new();
    stdout.read_to_string(&mut out).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("interrupted: tick"), "{out}");
    assert!(out.ends_with("detached and unloaded\n"), "{out}");
}

#[test]
fn refused_combinations() {
    for args in [
        vec![
            "attach",
            &hooks_o(),
            "--program",
            "tick",
            "--pcap",
            "x.pcap",
        ][..]
            .to_vec(),
        vec![
            "attach",
            &hooks_o(),
            "--program",
            "xdp_verdict",
            "--every",
            "1s",
        ],
        vec!["attach", &hooks_o(), "--program", "nope", "--every", "1s"],
        vec!["attach", &hooks_o(), "--program", "tick", "--every", "soon"],
        vec!["attach", &hooks_o(), "--program", "tick"],
        vec![
            "attach",
            &hooks_o(),
            "--program",
            "xdp_verdict",
            "--pcap",
            "/nonexistent",
        ],
    ] {
        let o = waggle(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!o.stderr.is_empty());
    }
}

#[test]
fn trace_counts_syscalls_by_name_and_reads_paths() {
    let dir = scratch("trace");
    let file = dir.join("note.txt");
    std::fs::write(&file, "x").unwrap();
    let o = root().join("examples/syscalls.bpf.o").display().to_string();
    let out = waggle(&["trace", &o, "--", "cat", &file.display().to_string()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && err.contains("Operation not permitted") {
        println!("SKIPPED: ptrace not permitted here: {err}");
        return;
    }
    assert!(out.status.success(), "{err}");
    assert!(text.contains("; exit code 0"), "{text}");
    assert!(
        text.contains(&format!("path: \"{}\"", file.display())),
        "the path cat opened, read from its memory: {text}"
    );
    assert!(text.contains("map syscalls"), "{text}");
    let exit_group = text
        .lines()
        .find(|l| l.trim_start().starts_with("exit_group "))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(exit_group.split_whitespace().nth(1), Some("1"));
    assert!(text.ends_with("detached and unloaded\n"), "{text}");
    let _ = std::fs::remove_dir_all(dir);

    // No command, or an object without raw_syscalls programs: usage errors.
    assert_eq!(waggle(&["trace", &o]).status.code(), Some(2));
    assert_eq!(
        waggle(&["trace", &hooks_o(), "--", "true"]).status.code(),
        Some(2)
    );
}

#[test]
fn exec_events_snoop_new_processes() {
    let o = root()
        .join("examples/execsnoop.bpf.o")
        .display()
        .to_string();
    let mut child = Command::new(WAGGLE)
        .args(["attach", &o, "--exec-events", "--duration", "1500ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Start processes until waggle is done, so some start after it listens, however slow
    // the machine.
    while child.try_wait().unwrap().is_none() {
        let _ = Command::new("sleep").arg("0.05").status();
    }
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() && err.contains("CAP_NET_ADMIN") {
        println!("SKIPPED: the process connector is not permitted here: {err}");
        return;
    }
    assert!(o.status.success(), "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("execs: {pid: ") && l.contains("comm: \"sleep\"")),
        "{out}"
    );
    assert!(out.contains("{comm: \"sleep\"}"), "execs_per_comm: {out}");
    assert!(out.ends_with("detached and unloaded\n"), "{out}");
}

/// Deletes network namespaces when dropped.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let o = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
    }
}

#[test]
fn iface_in_a_namespace_fires_xdp() {
    let id = std::process::id() % 100_000;
    let (na, nb) = (format!("wgc{id}a"), format!("wgc{id}b"));
    let (va, vb) = (format!("wca{id}"), format!("wcb{id}"));
    let _guard = Namespaces(vec![na.clone(), nb.clone()]);
    let setup = (|| {
        ip(&["netns", "add", &na])?;
        ip(&["netns", "add", &nb])?;
        ip(&[
            "link", "add", &va, "netns", &na, "type", "veth", "peer", "name", &vb, "netns", &nb,
        ])?;
        ip(&["-n", &na, "addr", "add", "10.198.0.1/24", "dev", &va])?;
        ip(&["-n", &nb, "addr", "add", "10.198.0.2/24", "dev", &vb])?;
        ip(&["-n", &na, "link", "set", &va, "up"])?;
        ip(&["-n", &nb, "link", "set", &vb, "up"])
    })();
    if let Err(e) = setup {
        println!("SKIPPED: cannot make network namespaces and a veth pair here: {e}");
        return;
    }
    let mut child = Command::new("ip")
        .args(["netns", "exec", &nb, WAGGLE, "attach", &hooks_o()])
        .args([
            "--program",
            "xdp_udp9999",
            "--iface",
            &vb,
            "--duration",
            "2s",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Send from the other namespace until waggle is done.
    let sender = {
        let na = na.clone();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d = done.clone();
        let t = std::thread::spawn(move || {
            let f = std::fs::File::open(format!("/run/netns/{na}")).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let s = std::net::UdpSocket::bind("10.198.0.1:0").unwrap();
            while !d.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = s.send_to(b"x", "10.198.0.2:9999");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        (t, done)
    };
    let status = child.wait().unwrap();
    sender.1.store(true, std::sync::atomic::Ordering::Relaxed);
    sender.0.join().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(status.success(), "{out}");
    let v = last_json(&out);
    let drops = v["source"]["verdicts"]["XDP_DROP"].as_u64().unwrap();
    assert!(drops > 0, "{v}");
    assert_eq!(v["hook"], format!("xdp:{vb}"));
    let counts = v["maps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "counts")
        .unwrap();
    let slot13 = counts["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key_decoded"] == "13")
        .unwrap();
    assert_eq!(slot13["value_decoded"], drops.to_string());
}
