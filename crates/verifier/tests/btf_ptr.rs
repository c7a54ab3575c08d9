//! BTF-typed kernel pointers (`PTR_TO_BTF_ID`) against the running kernel's BTF: table cases in
//! assembler text whose `{name}` placeholders are field offsets taken from that BTF (so no
//! layout is hard-coded), plus the committed C programs of tests/progs/btf/btf_ptr.bpf.c.
//! Everything skips visibly when /sys/kernel/btf/vmlinux is missing.

use std::sync::Arc;
use waggle_isa::assemble;
use waggle_object::{Btf, BtfKind, Object};
use waggle_uapi::ProgramType;
use waggle_verifier::{Options, Program, verify};

mod common;

/// The kernel BTF, or `None` after saying why the test is skipped.
fn kernel_btf(test: &str) -> Option<Arc<Btf>> {
    match common::kernel_btf::vmlinux() {
        Ok(b) => Some(Arc::new(b)),
        Err(e) => {
            eprintln!("SKIPPED {test}: no kernel BTF ({e})");
            None
        }
    }
}

/// Byte offset and size of member `field` of struct `s` (also inside anonymous members).
fn member(btf: &Btf, s: &str, field: &str) -> (i64, i64) {
    let id = btf
        .find_by_name(s, 4)
        .unwrap_or_else(|| panic!("no struct {s}"));
    find_member(btf, id, field).unwrap_or_else(|| panic!("no {s}.{field}"))
}

fn find_member(btf: &Btf, id: u32, field: &str) -> Option<(i64, i64)> {
    let (_, kind) = btf.resolved(id).ok()?;
    kind.members()?.iter().find_map(|m| {
        let base = i64::from(m.bit_offset / 8);
        match btf.string_lossy(m.name_off).as_str() {
            "" => find_member(btf, m.type_id, field).map(|(o, sz)| (base + o, sz)),
            n if n == field => Some((base, btf.type_size(m.type_id).ok()? as i64)),
            _ => None,
        }
    })
}

/// The placeholders the cases use, from the kernel BTF.
fn offsets(btf: &Btf) -> Vec<(&'static str, i64)> {
    let (pid, _) = member(btf, "task_struct", "pid");
    let (tgid, _) = member(btf, "task_struct", "tgid");
    let (parent, _) = member(btf, "task_struct", "real_parent");
    let id = btf.find_by_name("task_struct", 4).expect("task_struct");
    let Some(BtfKind::Struct { size, .. }) = btf.kind(id) else {
        panic!("task_struct is no struct")
    };
    let (fname, _) = member(btf, "linux_binprm", "filename");
    let (comm, comm_size) = member(btf, "task_struct", "comm");
    let (meta_seq, _) = member(btf, "bpf_iter_meta", "seq");
    vec![
        ("pid", pid),
        ("tgid", tgid),
        ("real_parent", parent),
        ("real_parent_4", parent + 4),
        ("task_size", i64::from(*size)),
        ("task_size_4", i64::from(*size) - 4),
        ("bprm_filename", fname),
        ("comm_4", comm + 4),
        ("meta_seq", meta_seq),
        ("comm_end_4", comm + comm_size - 4),
    ]
}

/// name, program type, attach section, assembler text, `None` = accept or refusal fragment.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

const CASES: &[Case] = &[
    (
        "tp_btf arg read",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; ldxw %r0, [%r1+{pid}]; exit",
        None,
    ),
    (
        "tp_btf pointer chain",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+16]; ldxdw %r1, [%r1+{real_parent}]; ldxw %r0, [%r1+{tgid}]; exit",
        None,
    ),
    (
        "tp_btf bool arg is a number",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+0]; ldxw %r0, [%r1+0]; exit",
        Some("R1 invalid mem access 'scalar'"),
    ),
    (
        "tp_btf no 5th argument",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r0, [%r1+32]; exit",
        Some(
            "invalid bpf_context access off=32 size=8 at insn 0: the attach target doesn't have 5-th argument",
        ),
    ),
    (
        "tp_btf ctx write",
        "tracing",
        "tp_btf/sched_switch",
        "stdw [%r1+8], 0; mov %r0, 0; exit",
        Some("invalid bpf_context access"),
    ),
    (
        "store through btf pointer",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; stw [%r1+{pid}], 0; mov %r0, 0; exit",
        Some("only read is supported"),
    ),
    (
        "half a pointer member",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; ldxw %r0, [%r1+{real_parent_4}]; exit",
        Some("cannot access ptr member real_parent"),
    ),
    (
        "beyond the struct",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; add %r1, {task_size_4}; ldxdw %r0, [%r1+0]; exit",
        Some("access beyond struct task_struct"),
    ),
    (
        "char array read 4 bytes at a time",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; ldxw %r0, [%r1+{comm_4}]; exit",
        None,
    ),
    (
        "read across the end of an array member",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; ldxdw %r0, [%r1+{comm_end_4}]; exit",
        Some("access beyond the end of member comm"),
    ),
    (
        "read across the end of an array member, pointer read from a field",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; ldxdw %r1, [%r1+{real_parent}]; ldxdw %r0, [%r1+{comm_end_4}]; exit",
        Some("access beyond the end of member comm"),
    ),
    (
        "get_task_stack of a checked iterator task",
        "tracing",
        "iter/task",
        "ldxdw %r1, [%r1+8]; jeq %r1, 0, +5; mov %r2, %r10; add %r2, -64; mov %r3, 64; mov %r4, 0; call 141; mov %r0, 0; exit",
        None,
    ),
    (
        "get_task_stack of an unchecked iterator task",
        "tracing",
        "iter/task",
        "ldxdw %r1, [%r1+8]; mov %r2, %r10; add %r2, -64; mov %r3, 64; mov %r4, 0; call 141; mov %r0, 0; exit",
        Some("Possibly NULL pointer passed to helper"),
    ),
    (
        "get_task_stack of a tracepoint argument",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; mov %r2, %r10; add %r2, -64; mov %r3, 64; mov %r4, 0; call 141; mov %r0, 0; exit",
        None,
    ),
    (
        "get_task_stack of a task read from a field (RCU pointer)",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; ldxdw %r1, [%r1+{real_parent}]; mov %r2, %r10; add %r2, -64; mov %r3, 64; mov %r4, 0; call 141; mov %r0, 0; exit",
        None,
    ),
    (
        "get_task_stack of a task read from a field, sleepable (untrusted)",
        "tracing",
        "iter.s/task",
        "ldxdw %r1, [%r1+8]; jeq %r1, 0, +6; ldxdw %r1, [%r1+{real_parent}]; mov %r2, %r10; add %r2, -64; mov %r3, 64; mov %r4, 0; call 141; mov %r0, 0; exit",
        Some("untrusted_ptr_"),
    ),
    (
        "get_task_stack of a moved pointer",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; add %r1, 8; mov %r2, %r10; add %r2, -64; mov %r3, 64; mov %r4, 0; call 141; mov %r0, 0; exit",
        Some("disallowed"),
    ),
    (
        "seq_write to the iterator's seq_file",
        "tracing",
        "iter/task",
        "ldxdw %r6, [%r1+0]; ldxdw %r1, [%r6+{meta_seq}]; stdw [%r10-8], 0; mov %r2, %r10; add %r2, -8; mov %r3, 8; call 127; mov %r0, 0; exit",
        None,
    ),
    (
        "seq_write to a task",
        "tracing",
        "iter/task",
        "ldxdw %r1, [%r1+8]; jeq %r1, 0, +5; stdw [%r10-8], 0; mov %r2, %r10; add %r2, -8; mov %r3, 8; call 127; mov %r0, 0; exit",
        Some("is of type task_struct but seq_file is expected"),
    ),
    (
        "constant pointer arithmetic keeps the type",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; add %r1, {pid}; ldxw %r0, [%r1+0]; exit",
        None,
    ),
    (
        "variable offset",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r2, [%r1+0]; and %r2, 4; ldxdw %r1, [%r1+8]; add %r1, %r2; ldxw %r0, [%r1+{pid}]; exit",
        Some("invalid variable offset"),
    ),
    (
        "negative offset",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; ldxw %r0, [%r1-4]; exit",
        Some("invalid negative access"),
    ),
    (
        "a pointer read from a field compared with NULL explores both ways",
        "tracing",
        "tp_btf/sched_switch",
        "mov %r2, 0; ldxdw %r1, [%r1+16]; ldxdw %r1, [%r1+{real_parent}]; jne %r1, 0, +1; ldxw %r0, [%r2+0]; mov %r0, 0; exit",
        Some("R2 invalid mem access 'scalar'"),
    ),
    (
        "iter task unchecked",
        "tracing",
        "iter/task",
        "ldxdw %r1, [%r1+8]; ldxw %r0, [%r1+{tgid}]; exit",
        Some("R1 may be NULL"),
    ),
    (
        "iter task checked, meta trusted",
        "tracing",
        "iter/task",
        "ldxdw %r2, [%r1+0]; ldxdw %r1, [%r1+8]; mov %r0, 0; jeq %r1, 0, +2; ldxw %r0, [%r1+{tgid}]; and %r0, 1; exit",
        None,
    ),
    (
        "iter returns 0 or 1",
        "tracing",
        "iter/task",
        "ldxdw %r1, [%r1+8]; mov %r0, 0; jeq %r1, 0, +1; ldxw %r0, [%r1+{tgid}]; exit",
        Some("should have been in [0, 1]"),
    ),
    (
        "fentry pointer arg, char pointer field is a number",
        "tracing",
        "fentry/security_bprm_check",
        "ldxdw %r1, [%r1+0]; ldxdw %r1, [%r1+{bprm_filename}]; ldxb %r0, [%r1+0]; exit",
        Some("R1 invalid mem access 'scalar'"),
    ),
    (
        "fexit return value",
        "tracing",
        "fexit/security_bprm_check",
        "ldxdw %r0, [%r1+8]; exit",
        None,
    ),
    (
        "fentry has no return value",
        "tracing",
        "fentry/security_bprm_check",
        "ldxdw %r0, [%r1+8]; exit",
        Some("invalid bpf_context access off=8"),
    ),
    (
        "lsm arg",
        "lsm",
        "lsm/bprm_check_security",
        "ldxdw %r1, [%r1+0]; ldxdw %r0, [%r1+{bprm_filename}]; mov %r0, 0; exit",
        None,
    ),
    (
        "lsm returns an errno",
        "lsm",
        "lsm/bprm_check_security",
        "mov %r0, -1; exit",
        None,
    ),
    (
        "lsm returns no positive number",
        "lsm",
        "lsm/bprm_check_security",
        "mov %r0, 1; exit",
        Some("should have been in [-4095, 0]"),
    ),
    (
        "unknown attach target",
        "tracing",
        "tp_btf/no_such_tracepoint_here",
        "ldxdw %r0, [%r1+0]; exit",
        Some("not found in the kernel BTF"),
    ),
    (
        "get_current_task_btf in a tracepoint",
        "tracepoint",
        "",
        "call 158; ldxw %r0, [%r0+{pid}]; exit",
        None,
    ),
    (
        "get_current_task_btf result is read-only",
        "perf_event",
        "",
        "call 158; stw [%r0+{pid}], 0; mov %r0, 0; exit",
        Some("only read is supported"),
    ),
    (
        "probe_read_kernel from a btf pointer",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r3, [%r1+8]; mov %r1, %r10; add %r1, -8; mov %r2, 8; call 113; mov %r0, 0; exit",
        None,
    ),
];

fn assemble_case(text: &str, offs: &[(&str, i64)]) -> String {
    let mut t = text.to_owned();
    for (k, v) in offs {
        t = t.replace(&format!("{{{k}}}"), &v.to_string());
    }
    t.split(';')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn run(btf: Option<Arc<Btf>>, case: &Case, offs: &[(&str, i64)]) -> Result<(), String> {
    let (name, ty, attach, asm, expect) = *case;
    let text = assemble_case(asm, offs);
    let insns = assemble(&text).map_err(|e| format!("{name}: assembler: {e}\n{text}"))?;
    let prog_type: ProgramType = ty.parse().map_err(|e| format!("{e}"))?;
    let prog = Program {
        insns: &insns,
        prog_type,
        maps: &[],
        line_info: &[],
        kfuncs: &[],
    };
    let opts = Options {
        log_level: 1,
        kernel_btf: btf,
        attach_to: (!attach.is_empty()).then(|| attach.to_owned()),
        ..Options::default()
    };
    match (expect, verify(&prog, &opts)) {
        (None, Ok(_)) => Ok(()),
        (None, Err(r)) => Err(format!(
            "{name}: expected accept, got: {}\n{}",
            r.message, r.log
        )),
        (Some(f), Err(r)) if r.message.contains(f) => Ok(()),
        (Some(f), Err(r)) => Err(format!("{name}: expected `{f}`, got: {}", r.message)),
        (Some(f), Ok(_)) => Err(format!("{name}: expected `{f}`, got accept")),
    }
}

#[test]
fn table() {
    let Some(btf) = kernel_btf("btf_ptr::table") else {
        return;
    };
    let offs = offsets(&btf);
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|c| run(Some(btf.clone()), c, &offs).err())
        .collect();
    eprintln!("{} BTF pointer cases", CASES.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Without the kernel BTF the arguments stay numbers, and the refusal names what is missing.
#[test]
fn without_kernel_btf() {
    let offs = [("pid", 8), ("real_parent", 16), ("tgid", 12)];
    let case: Case = (
        "no btf",
        "tracing",
        "tp_btf/sched_switch",
        "ldxdw %r1, [%r1+8]; ldxw %r0, [%r1+{pid}]; exit",
        Some("kernel BTF"),
    );
    run(None, &case, &offs).unwrap();
    let case: Case = (
        "no btf task",
        "tracepoint",
        "",
        "call 158; ldxw %r0, [%r0+{pid}]; exit",
        Some("bpf_get_current_task_btf needs the kernel BTF"),
    );
    run(None, &case, &offs).unwrap();
}

/// tests/progs/btf/btf_ptr.bpf.c: every program is accepted with the kernel BTF.
#[test]
fn c_programs() {
    let Some(btf) = kernel_btf("btf_ptr::c_programs") else {
        return;
    };
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/progs/btf/btf_ptr.bpf.o"
    );
    // CO-RE against the running kernel, as libbpf does.
    let obj = Object::open_with_target(path, Some(&btf)).expect("btf_ptr.bpf.o");
    assert!(obj.programs.len() >= 4, "programs: {}", obj.programs.len());
    for p in &obj.programs {
        let prog = Program {
            insns: &p.insns,
            prog_type: ProgramType::from_u32(p.prog_type()).expect("type"),
            maps: &[],
            line_info: &[],
            kfuncs: &[],
        };
        let opts = Options {
            kernel_btf: Some(btf.clone()),
            attach_to: Some(p.section.clone()),
            ..Options::default()
        };
        let expect_refusal = p.name.contains("refused");
        match verify(&prog, &opts) {
            Ok(_) => assert!(!expect_refusal, "{}: accepted", p.name),
            Err(r) => assert!(expect_refusal, "{}: {}", p.name, r.message),
        }
        // Without the kernel BTF, every program here is refused.
        let plain = Options {
            attach_to: Some(p.section.clone()),
            ..Options::default()
        };
        assert!(
            verify(&prog, &plain).is_err(),
            "{}: accepted without BTF",
            p.name
        );
    }
}

/// The `attach_btf_id` and `expected_attach_type` Linux needs for a program of `section`
/// (as libbpf finds them), or `(0, 0)` for programs that attach by other means.
fn kernel_attach(btf: &Btf, section: &str) -> Result<(u32, u32), String> {
    const BPF_TRACE_RAW_TP: u32 = 23;
    const BPF_TRACE_ITER: u32 = 28;
    let find = |name: String, kind: u8| {
        btf.find_by_name(&name, kind)
            .ok_or_else(|| format!("{name} not in the kernel BTF"))
    };
    match section.split_once('/') {
        Some(("tp_btf", n)) => Ok((find(format!("btf_trace_{n}"), 8)?, BPF_TRACE_RAW_TP)),
        Some(("iter" | "iter.s", n)) => Ok((find(format!("bpf_iter_{n}"), 12)?, BPF_TRACE_ITER)),
        _ => Ok((0, 0)),
    }
}

/// `BPF_F_SLEEPABLE` for `.s` sections.
fn prog_flags(section: &str) -> u32 {
    const BPF_F_SLEEPABLE: u32 = 1 << 4;
    match section.split_once('/') {
        Some((k, _)) if k.ends_with(".s") => BPF_F_SLEEPABLE,
        _ => 0,
    }
}

/// The C programs get the same verdict from Linux (as root; skipped visibly otherwise). The
/// kernel fds are closed at once: nothing stays loaded.
#[test]
fn c_programs_match_linux() {
    let Some(btf) = kernel_btf("btf_ptr::c_programs_match_linux") else {
        return;
    };
    if let Err(e) = waggle_kernel::probe() {
        eprintln!("SKIPPED btf_ptr::c_programs_match_linux: {e}");
        return;
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/progs/btf/btf_ptr.bpf.o"
    );
    let obj = Object::open_with_target(path, Some(&btf)).expect("btf_ptr.bpf.o");
    let mut compared = 0;
    for p in &obj.programs {
        let prog_type = ProgramType::from_u32(p.prog_type()).expect("type");
        let prog = Program {
            insns: &p.insns,
            prog_type,
            maps: &[],
            line_info: &[],
            kfuncs: &[],
        };
        let opts = Options {
            kernel_btf: Some(btf.clone()),
            attach_to: Some(p.section.clone()),
            ..Options::default()
        };
        let ours = verify(&prog, &opts);
        let (attach_btf_id, expected) = kernel_attach(&btf, &p.section).expect("attach target");
        let code = waggle_isa::encode(&p.insns);
        let kernel = waggle_kernel::prog_load_attach(
            &waggle_kernel::ProgLoad {
                prog_type: prog_type.as_u32(),
                insns: &code,
                license: "GPL",
                name: &p.name,
                expected_attach_type: expected,
                prog_flags: 0,
            },
            attach_btf_id,
        );
        match (&ours, kernel) {
            (Ok(_), Ok(fd)) => drop(fd),
            (Err(r), Err(e)) if !e.log.trim().is_empty() => {
                // Same errno too (EACCES for both refusals here).
                assert_eq!(
                    Some(r.errno()),
                    e.error.raw_os_error(),
                    "{}: errno differs: ours {} / Linux {e}",
                    p.name,
                    r.message
                );
            }
            (Err(r), Err(e)) => panic!(
                "{}: Linux refused before verifying: {e} (ours: {})",
                p.name, r.message
            ),
            (Ok(_), Err(e)) => panic!("{}: we accept, Linux refuses: {e}", p.name),
            (Err(r), Ok(fd)) => {
                drop(fd);
                panic!("{}: Linux accepts, we refuse: {}", p.name, r.message);
            }
        }
        println!(
            "{}: agree ({})",
            p.name,
            if ours.is_ok() { "accepted" } else { "refused" }
        );
        compared += 1;
    }
    assert!(compared >= 5, "only {compared} programs compared");
}

/// The table's cases get the same verdict from Linux, but those this machine's kernel cannot
/// judge (trampolines: fentry/fexit/lsm are refused with EPERM before verification here) or
/// that name no real attach target; skipped cases are printed.
#[test]
fn table_matches_linux() {
    let Some(btf) = kernel_btf("btf_ptr::table_matches_linux") else {
        return;
    };
    if let Err(e) = waggle_kernel::probe() {
        eprintln!("SKIPPED btf_ptr::table_matches_linux: {e}");
        return;
    }
    let offs = offsets(&btf);
    let (mut agree, mut skipped) = (0, 0);
    let mut failures = Vec::new();
    for &(name, ty, attach, asm, expect) in CASES {
        let Ok((attach_btf_id, expected)) = kernel_attach(&btf, attach) else {
            println!("{name}: skipped: no such attach target");
            skipped += 1;
            continue;
        };
        if ["fentry", "fexit", "lsm"]
            .iter()
            .any(|k| attach.starts_with(k))
        {
            println!("{name}: skipped: trampoline programs are not loadable here");
            skipped += 1;
            continue;
        }
        let insns = assemble(&assemble_case(asm, &offs)).expect("assembles");
        let prog_type: ProgramType = ty.parse().expect("type");
        let code = waggle_isa::encode(&insns);
        let kernel = waggle_kernel::prog_load_attach(
            &waggle_kernel::ProgLoad {
                prog_type: prog_type.as_u32(),
                insns: &code,
                license: "GPL",
                name: "btf_ptr_case",
                expected_attach_type: expected,
                prog_flags: prog_flags(attach),
            },
            attach_btf_id,
        );
        let linux_accepts = match kernel {
            Ok(fd) => {
                drop(fd);
                true
            }
            Err(e) if e.log.trim().is_empty() => {
                println!("{name}: skipped: Linux refuses before verifying: {e}");
                skipped += 1;
                continue;
            }
            Err(e) => {
                let tail: Vec<&str> = e.log.lines().rev().take(3).collect();
                println!("{name}: Linux: {}", tail.join(" | "));
                false
            }
        };
        if linux_accepts == expect.is_none() {
            agree += 1;
        } else {
            failures.push(format!("{name}: Linux accepts: {linux_accepts}"));
        }
    }
    println!("table vs Linux: {agree} agree, {skipped} skipped");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(agree >= 10, "only {agree} cases compared");
}
