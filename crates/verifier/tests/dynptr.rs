//! Dynptr and numeric iterator kfuncs, and timers, from C: `tests/progs/dynptr.bpf.c` and
//! `timer.bpf.c` (Linux accepts every program), `tests/progs/unloadable/dynptr_refused.bpf.c`
//! and `timer_refused.bpf.c` (Linux refuses all but one): the verdicts, with Linux's messages
//! for the refusals (as a Linux 6.18 verifier log gives them).

mod common;

use common::objects::Input;
use std::path::PathBuf;
use waggle_object::Object;
use waggle_verifier::{Options, verify};

fn object(rel: &str) -> Object {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/progs")
        .join(rel);
    Object::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every program of `rel` with our verdict: `Ok(processed)` or `Err(message)`.
fn verdicts(rel: &str) -> Vec<(String, Result<u64, String>)> {
    let obj = object(rel);
    obj.programs
        .iter()
        .map(|p| {
            let input = Input::new(&obj, p);
            let r = verify(&input.program(), &Options::default());
            (
                p.name.clone(),
                r.map(|s| s.insns_processed).map_err(|e| e.message),
            )
        })
        .collect()
}

#[test]
fn dynptr_programs_linux_accepts_are_accepted() {
    let all = verdicts("dynptr.bpf.o");
    assert_eq!(all.len(), 6, "{all:?}");
    for (name, v) in &all {
        match v {
            Ok(n) => println!("{name}: accepted, {n} insns processed"),
            Err(m) => panic!("{name}: refused: {m}"),
        }
    }
}

#[test]
fn dynptr_programs_linux_refuses_are_refused_for_its_reasons() {
    // (program, fragment of Linux's message, which ours contains)
    const EXPECTED: &[(&str, &str)] = &[
        ("uninit_size", "Expected an initialized dynptr as arg #0"),
        ("slice_null_deref", "R0 may be NULL"),
        (
            "slice_oob",
            "invalid access to memory, mem_size=4 off=4 size=1",
        ),
        ("slice_ro_write", "R0 cannot write into rdonly_mem"),
        (
            "skb_from_xdp",
            "calling kernel function bpf_dynptr_from_xdp is not allowed",
        ),
        ("ringbuf_leak", "Unreleased reference"),
        ("ringbuf_overwrite", "cannot overwrite referenced dynptr"),
        ("ringbuf_reinit", "cannot overwrite referenced dynptr"),
        ("submit_xdp", "arg 1 is an unacquired reference"),
        ("read_slot", "invalid read from stack off -16+0 size 4"),
        ("data_after_submit", "R7 !read_ok"),
        (
            "data_oob",
            "invalid access to memory, mem_size=4 off=4 size=4",
        ),
        (
            "local_use_after_overwrite",
            "Expected an initialized dynptr as arg #2",
        ),
        ("iter_leak", "Unreleased reference"),
        (
            "iter_next_uninit",
            "expected an initialized iter_num as arg #0",
        ),
        (
            "iter_double_new",
            "expected uninitialized iter_num as arg #0",
        ),
        ("iter_write_val", "R0 cannot write into rdonly_mem"),
        (
            "iter_overwrite",
            "expected an initialized iter_num as arg #0",
        ),
        (
            "rdwr_socket",
            "the prog does not allow writes to packet data",
        ),
    ];
    let all = verdicts("unloadable/dynptr_refused.bpf.o");
    let mut failures = Vec::new();
    for (name, v) in &all {
        let want = EXPECTED.iter().find(|(n, _)| n == name).map(|e| e.1);
        match (want, v) {
            // Linux accepts overwriting an unreferenced dynptr (it is destroyed).
            (None, Ok(_)) if name == "local_overwrite_ok" => {}
            (Some(f), Err(m)) if m.contains(f) => {}
            _ => failures.push(format!("{name}: expected {want:?}, got {v:?}")),
        }
    }
    assert_eq!(all.len(), EXPECTED.len() + 1, "{all:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn timer_programs_get_linux_verdicts_and_reasons() {
    for (name, v) in verdicts("timer.bpf.o") {
        assert!(v.is_ok(), "{name}: {v:?}");
    }
    const EXPECTED: &[(&str, &str)] = &[
        (
            "ret1",
            "At async callback return the register R0 has value 1 should have been in [0, 0]",
        ),
        (
            "direct",
            "bpf_timer cannot be accessed directly by load/store",
        ),
        (
            "othermap",
            "timer pointer in R1 map_uid=0 doesn't match map pointer in R2 map_uid=0",
        ),
        ("kp", "tracing progs cannot use bpf_timer yet"),
    ];
    let all = verdicts("unloadable/timer_refused.bpf.o");
    assert_eq!(all.len(), EXPECTED.len(), "{all:?}");
    for (name, v) in &all {
        let want = EXPECTED.iter().find(|(n, _)| n == name).map(|e| e.1);
        match (want, v) {
            (Some(f), Err(m)) if m.contains(f) => {}
            _ => panic!("{name}: expected {want:?}, got {v:?}"),
        }
    }
}
