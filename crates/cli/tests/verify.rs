//! `waggle verify`: exit 0 accepted (with stats), 1 refused (with the source line), 2 unusable
//! input; `--json`, `--type`, `--log-level 2`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const WAGGLE: &str = env!("CARGO_BIN_EXE_waggle");

fn corpus(name: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/progs")
        .join(name);
    p.to_string_lossy().into_owned()
}

fn waggle(args: &[&str]) -> (i32, String, String) {
    let o: Output = Command::new(WAGGLE)
        .args(args)
        .output()
        .expect("run waggle");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn accepted_program_exits_0_with_stats() {
    let (code, out, err) = waggle(&["verify", &corpus("helpers_callbacks.bpf.o")]);
    assert_eq!(code, 0, "{out}{err}");
    for name in [
        "callbacks (sched_cls)",
        "tail_entry (socket_filter)",
        "tail_target (socket_filter)",
    ] {
        assert!(out.contains(&format!("{name}: accepted")), "{out}");
    }
    assert!(out.contains("processed"), "{out}");
    assert!(out.contains("states kept"), "{out}");
    // main program, and the two callbacks: one stack depth each.
    assert!(
        out.contains("stack [32, 32, 32] bytes per subprogram"),
        "{out}"
    );
}

#[test]
fn missing_null_check_exits_1_quoting_the_source_line() {
    let (code, out, err) = waggle(&["verify", &corpus("verifier_null.bpf.o")]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("count_null (xdp): refused: R0 may be NULL at insn"),
        "{out}"
    );
    assert!(
        out.contains("(line 20: `return *val > 100 ? XDP_DROP : XDP_PASS;`)"),
        "{out}"
    );
    assert!(
        out.contains("compare it with NULL before reading *(u64 *)(r0 + 0)"),
        "{out}"
    );
    // Where the pointer came from, with its line too.
    assert!(
        out.contains("r0 is what bpf_map_lookup_elem returned at insn 6 (line 19: `val = bpf_map_lookup_elem(&counts, &key);`)"),
        "{out}"
    );
    assert!(err.contains("refused: count_null"), "{err}");
}

#[test]
fn unusable_input_exits_2() {
    // Unknown program.
    let (code, _, err) = waggle(&[
        "verify",
        &corpus("verifier_null.bpf.o"),
        "--program",
        "nope",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no program nope"), "{err}");
    // Unknown program type.
    let (code, _, err) = waggle(&["verify", &corpus("xdp_maps.bpf.o"), "--type", "bogus"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown program type"), "{err}");
    // Not an ELF object: a C source file.
    let (code, _, err) = waggle(&["verify", &corpus("verifier_null.bpf.c")]);
    assert_eq!(code, 2, "{err}");
    // Missing file.
    let (code, _, _) = waggle(&["verify", "/nonexistent/x.o"]);
    assert_eq!(code, 2);
}

#[test]
fn json_output_has_verdict_stats_and_error() {
    let (code, out, err) = waggle(&["verify", &corpus("verifier_null.bpf.o"), "--json"]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let p = &v["programs"][0];
    assert_eq!(p["program"], "count_null");
    assert_eq!(p["type"], "xdp");
    assert_eq!(p["accepted"], false);
    assert_eq!(p["error"]["errno"], 13);
    assert!(
        p["error"]["line"]
            .as_str()
            .unwrap()
            .contains("return *val > 100"),
        "{p}"
    );
    assert!(p["error"]["pc"].as_u64().unwrap() > 0);
    assert!(!p["error"]["path"].as_array().unwrap().is_empty());

    let (code, out, _) = waggle(&["verify", &corpus("xdp_maps.bpf.o"), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let p = &v["programs"][0];
    assert_eq!(p["accepted"], true);
    assert!(p["insns_processed"].as_u64().unwrap() >= p["insns"].as_u64().unwrap() / 2);
    assert_eq!(p["max_stack_depth"][0], 32);
}

#[test]
fn log_level_2_shows_every_instruction_with_its_state() {
    let (code, out, err) = waggle(&[
        "verify",
        &corpus("two_progs.bpf.o"),
        "--program",
        "xdp_drop",
        "--log-level",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    // One line per processed instruction: "N: insn ; registers".
    assert!(out.contains("0: "), "{out}");
    assert!(out.contains("R1=ctx(off=0)"), "{out}");
    assert!(out.contains("R10=fp(off=0)"), "{out}");
    assert!(
        out.lines().filter(|l| l.contains(" ; ")).count() >= 5,
        "{out}"
    );
    // Level 1 on a refusal: the state and the path.
    let (code, out, _) = waggle(&["verify", &corpus("verifier_null.bpf.o"), "--log-level", "1"]);
    assert_eq!(code, 1);
    assert!(out.contains("state: R0=map_value_or_null"), "{out}");
    assert!(out.contains("path: 0 -> 1"), "{out}");
    let (code, _, _) = waggle(&["verify", &corpus("two_progs.bpf.o"), "--log-level", "3"]);
    assert_eq!(code, 2);
}

#[test]
fn type_overrides_the_section() {
    // An XDP program read as a socket filter: xdp_md fields are not __sk_buff's rules.
    let (code, out, err) = waggle(&[
        "verify",
        &corpus("xdp_maps.bpf.o"),
        "--type",
        "socket_filter",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("xdp_count (socket_filter): refused"), "{out}");
    let (code, out, _) = waggle(&[
        "verify",
        &corpus("two_progs.bpf.o"),
        "--program",
        "xdp_pass",
        "--type",
        "sched_cls",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("xdp_pass (sched_cls): accepted"), "{out}");
}

/// A map the kernel cannot create (a hash without max_entries) keeps every program of the
/// object from loading, as with libbpf: refused (exit 1), naming the map.
#[test]
fn map_the_kernel_cannot_create_refuses_the_object() {
    let (code, out, err) = waggle(&["verify", &corpus("unloadable/zero_entries.bpf.o")]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("count_packets (xdp): refused: map 'counts' cannot be created"),
        "{out}"
    );
}
