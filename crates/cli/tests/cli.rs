//! End-to-end tests of `waggle inspect`, `waggle disasm` and `waggle run` on the program
//! corpus, and of malformed input: always a message and exit code 2, never a panic (101).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const WAGGLE: &str = env!("CARGO_BIN_EXE_waggle");

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/progs")
        .join(name)
}

fn waggle(args: &[&str]) -> Output {
    Command::new(WAGGLE)
        .args(args)
        .output()
        .expect("run waggle")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Success, with stderr shown when not.
fn ok(args: &[&str]) -> String {
    let o = waggle(args);
    assert!(o.status.success(), "waggle {args:?}: {}", stderr(&o));
    stdout(&o)
}

/// A scratch directory per test, removed when dropped (tests run in parallel; no
/// temp-file crate needed).
struct Scratch(PathBuf);

impl Scratch {
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(test: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("waggle-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn xdp_maps() -> String {
    corpus("xdp_maps.bpf.o").display().to_string()
}

#[test]
fn inspect_table() {
    let out = ok(&["inspect", &xdp_maps()]);
    for want in [
        "xdp_count",
        "xdp",
        "45 insns",
        "counts",
        "hash",
        "stats",
        "array",
        "relocations: 3",
        "BTF:",
        "sections:",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

#[test]
fn inspect_json_parses_back() {
    let out = ok(&["inspect", "--json", &xdp_maps()]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["programs"][0]["name"], "xdp_count");
    assert_eq!(v["programs"][0]["section"], "xdp");
    assert_eq!(v["programs"][0]["insns"], 45);
    let counts = &v["maps"][0];
    assert_eq!(counts["name"], "counts");
    assert_eq!(counts["type_name"], "hash");
    assert_eq!(counts["key_size"], 4);
    assert_eq!(counts["value_size"], 8);
    assert_eq!(counts["max_entries"], 1024);
    assert_eq!(v["relocations"], 3);
    assert!(v["btf"]["types"].as_u64().unwrap() > 0);
}

#[test]
fn inspect_every_corpus_object() {
    for entry in std::fs::read_dir(corpus("")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "o") {
            let p = path.display().to_string();
            ok(&["inspect", &p]);
            let json = ok(&["inspect", "--json", &p]);
            serde_json::from_str::<serde_json::Value>(&json).expect("JSON");
            ok(&["disasm", &p]);
        }
    }
}

#[test]
fn disasm_object_with_relocations_and_source_lines() {
    let out = ok(&["disasm", &xdp_maps()]);
    assert!(out.starts_with("xdp_count (xdp):\n"), "{out}");
    assert!(
        out.contains("; line 39: val = bpf_map_lookup_elem(&counts, &key);"),
        "{out}"
    );
    assert!(out.contains("; map counts"), "{out}");
    assert!(out.contains("; bpf_map_lookup_elem"), "{out}");
    // LLVM syntax by default for objects.
    assert!(out.contains("r6 = *(u32 *)(r1 + 0x4)"), "{out}");
    let conf = ok(&["disasm", "--syntax", "conformance", &xdp_maps()]);
    assert!(conf.contains("ldxw %r6, [%r1+4]"), "{conf}");
}

#[test]
fn disasm_subprogram_calls_and_program_choice() {
    let p = corpus("subprogs.bpf.o").display().to_string();
    let out = ok(&["disasm", "--program", "calls", &p]);
    assert!(out.starts_with("calls (tc):\n"), "{out}");
    assert!(out.contains("; call sum_squares"), "{out}");
    assert!(out.contains("\nsquare:\n"), "{out}");
    let o = waggle(&["disasm", "--program", "nope", &p]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no program named \"nope\""));
}

#[test]
fn disasm_raw_bytecode_still_works() {
    let dir = scratch("raw");
    // mov r0, 1; exit — an `.o` name on purpose: detection is by content, not extension.
    let code = [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    for name in ["prog.bin", "prog.o"] {
        let f = dir.join(name);
        std::fs::write(&f, code).unwrap();
        assert_eq!(ok(&["disasm", f.to_str().unwrap()]), "mov %r0, 1\nexit\n");
    }
}

#[test]
fn run_xdp_prints_verdict_and_maps() {
    let out = ok(&[
        "run",
        &xdp_maps(),
        "--data-hex",
        "07 00 11 22 33 44 55 66 77 88 99 aa bb cc",
        "--repeat",
        "3",
    ]);
    assert!(out.contains("return: XDP_PASS (2)"), "{out}");
    assert!(out.contains("ns per run (average of 3 runs)"), "{out}");
    assert!(out.contains("map counts (hash"), "{out}");
    // The hash counted byte 0x07 three times.
    assert!(
        out.contains("07 00 00 00  03 00 00 00 00 00 00 00"),
        "{out}"
    );
    assert!(out.contains("map stats (array"), "{out}");
}

#[test]
fn run_json() {
    let out = ok(&["run", "--json", &xdp_maps(), "--data-hex", "2a0102030405"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["program"], "xdp_count");
    assert_eq!(v["retval"], 2);
    assert_eq!(v["verdict"], "XDP_PASS");
    assert_eq!(v["data_changed"], false);
    let counts = &v["maps"][0];
    assert_eq!(counts["name"], "counts");
    assert_eq!(counts["entries"][0]["key"], "2a000000");
    assert_eq!(counts["entries"][0]["value"], "0100000000000000");
    // stats[0]: 1 packet of 6 bytes.
    assert_eq!(
        v["maps"][1]["entries"][0]["value"],
        "01000000000000000600000000000000"
    );
}

#[test]
fn run_data_and_ctx_files() {
    let dir = scratch("files");
    let data = dir.join("packet.bin");
    std::fs::write(&data, [0x09u8; 30]).unwrap();
    let ctx = dir.join("ctx.bin");
    std::fs::write(&ctx, [0u8; 24]).unwrap();
    let out = ok(&[
        "run",
        &xdp_maps(),
        "--data",
        data.to_str().unwrap(),
        "--ctx",
        ctx.to_str().unwrap(),
    ]);
    assert!(out.contains("return: XDP_PASS (2)"), "{out}");
    assert!(out.contains("09 00 00 00  01 00 00 00"), "{out}");
    let o = waggle(&["run", &xdp_maps(), "--data", "/nonexistent/packet"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn run_shows_queues_in_pop_order_and_elides_zero_array_elements() {
    let qs = corpus("queue_stack.bpf.o").display().to_string();
    let out = ok(&["run", &qs, "--data-hex", "05 06 07"]);
    assert!(
        out.contains("map fifo (queue, value 4 bytes, 1 value, in pop order):\n  05 03 00 00\n"),
        "{out}"
    );
    let out = ok(&["run", &xdp_maps(), "--data-hex", "01"]);
    // stats[0] was written; stats[1..4] were not.
    assert!(out.contains("(3 all-zero elements not shown)"), "{out}");
    let out = ok(&["run", "--json", &xdp_maps(), "--data-hex", "01"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["maps"][1]["entries"].as_array().unwrap().len(), 4);
}

#[test]
fn run_globals_shows_data_sections() {
    let out = ok(&["run", &corpus("globals.bpf.o").display().to_string()]);
    assert!(out.contains("map .rodata (global data"), "{out}");
    assert!(out.contains("68 65 6c 6c 6f"), "{out}"); // "hello"
}

/// A little-endian microsecond pcap: global header and one record per packet.
fn pcap(packets: &[&[u8]]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    f.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    f.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
    f.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (i, p) in packets.iter().enumerate() {
        f.extend_from_slice(&(i as u32).to_le_bytes()); // ts_sec
        f.extend_from_slice(&0u32.to_le_bytes()); // ts_usec
        f.extend_from_slice(&(p.len() as u32).to_le_bytes()); // caplen
        f.extend_from_slice(&(p.len() as u32).to_le_bytes()); // origlen
        f.extend_from_slice(p);
    }
    f
}

#[test]
fn run_pcap_packet() {
    let dir = scratch("pcap");
    let f = dir.join("two.pcap");
    std::fs::write(&f, pcap(&[&[0x11; 20], &[0x42; 60]])).unwrap();
    let f = f.to_str().unwrap();
    let out = ok(&["run", &xdp_maps(), "--pcap", f, "--packet", "2", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["maps"][0]["entries"][0]["key"], "42000000");
    // Default: the first packet.
    let out = ok(&["run", &xdp_maps(), "--pcap", f]);
    assert!(out.contains("11 00 00 00  01 00 00 00"), "{out}");
    let o = waggle(&["run", &xdp_maps(), "--pcap", f, "--packet", "3"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("the capture has 2"), "{}", stderr(&o));
    // Not a capture at all.
    let o = waggle(&["run", &xdp_maps(), "--pcap", &xdp_maps()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A little-endian pcapng: section header, one Ethernet interface, one enhanced packet
/// block per packet (data padded to 4 bytes).
fn pcapng(packets: &[&[u8]]) -> Vec<u8> {
    let mut f = Vec::new();
    let u32s = |f: &mut Vec<u8>, words: &[u32]| {
        for w in words {
            f.extend_from_slice(&w.to_le_bytes());
        }
    };
    // SHB: type, length, byte-order magic, version 1.0, section length -1, length.
    u32s(
        &mut f,
        &[0x0a0d_0d0a, 28, 0x1a2b_3c4d, 1, u32::MAX, u32::MAX, 28],
    );
    // IDB: type, length, linktype 1 + reserved, snaplen, length.
    u32s(&mut f, &[1, 20, 1, 0, 20]);
    for p in packets {
        let padded = p.len().div_ceil(4) * 4;
        let len = 32 + padded as u32;
        u32s(&mut f, &[6, len, 0, 0, 0, p.len() as u32, p.len() as u32]);
        f.extend_from_slice(p);
        f.resize(f.len() + padded - p.len(), 0);
        u32s(&mut f, &[len]);
    }
    f
}

#[test]
fn run_pcapng_packet() {
    let dir = scratch("pcapng");
    let f = dir.join("one.pcapng");
    std::fs::write(&f, pcapng(&[&[0x33; 15], &[0x44; 61]])).unwrap();
    let f = f.to_str().unwrap();
    let out = ok(&["run", &xdp_maps(), "--pcap", f, "--packet", "2", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["data_in"], "44".repeat(61));
    assert_eq!(v["maps"][0]["entries"][0]["key"], "44000000");
}

#[test]
fn run_unknown_program_and_bad_hex() {
    let o = waggle(&["run", &xdp_maps(), "--program", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("programs: xdp_count"), "{}", stderr(&o));
    let o = waggle(&["run", &xdp_maps(), "--data-hex", "zz"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("waggle: --data-hex:"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn run_refused_load_exits_1_with_log() {
    // Tail calls are not available in user space yet: a load refusal, not bad input.
    let o = waggle(&["run", &corpus("prog_array.bpf.o").display().to_string()]);
    if o.status.success() {
        return; // the runtime grew the helper: nothing to check here any more
    }
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("load refused"), "{}", stderr(&o));
}

/// Bytes from a fixed xorshift, so failures reproduce.
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn malformed_inputs_exit_2_with_a_message() {
    let dir = scratch("malformed");
    let object = std::fs::read(corpus("xdp_maps.bpf.o")).unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.o", object[..object.len() / 3].to_vec()),
        ("header-only.o", object[..64].to_vec()),
        ("random.o", noise(4096)),
        ("empty.o", Vec::new()),
        ("magic.o", b"\x7fELF".to_vec()),
    ];
    if let Ok(elf) = std::fs::read("/bin/true") {
        cases.push(("true.o", elf));
    }
    for (name, bytes) in &cases {
        let f = dir.join(name);
        std::fs::write(&f, bytes).unwrap();
        let f = f.to_str().unwrap();
        let mut commands = vec![
            vec!["inspect", f],
            vec!["inspect", "--json", f],
            vec!["run", f],
        ];
        // Random bytes without the ELF magic are raw bytecode to `disasm` (and bad
        // bytecode is refused just the same).
        commands.push(vec!["disasm", f]);
        for args in commands {
            let o = waggle(&args);
            let err = stderr(&o);
            assert_ne!(o.status.code(), Some(101), "panic on {args:?}: {err}");
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.starts_with(&format!("waggle: {f}: ")),
                "{args:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{args:?}: {err}");
        }
    }
    // A file that does not exist is unusable input too.
    let o = waggle(&["inspect", "/nonexistent/x.o"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn every_truncation_of_an_object_is_refused_cleanly() {
    // Cut the object at many lengths: each must parse or be refused, never panic.
    let dir = scratch("cuts");
    let object = std::fs::read(corpus("xdp_maps.bpf.o")).unwrap();
    let step = (object.len() / 40).max(1);
    for len in (0..object.len()).step_by(step) {
        let f = dir.join(&format!("cut{len}.o"));
        std::fs::write(&f, &object[..len]).unwrap();
        let o = waggle(&["inspect", f.to_str().unwrap()]);
        assert!(
            matches!(o.status.code(), Some(0 | 2)),
            "cut at {len}: {:?} {}",
            o.status.code(),
            stderr(&o)
        );
    }
}
