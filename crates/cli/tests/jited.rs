//! `waggle disasm --jited`: the JIT's x86-64 code under each BPF instruction, for assembler
//! text, raw bytecode and ELF objects.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const WAGGLE: &str = env!("CARGO_BIN_EXE_waggle");

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

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("waggle-jited-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// Machine-code lines (`offset:  bytes  text`) between the slot line starting with `slot`
/// and the next slot line.
fn machine_lines<'a>(out: &'a str, slot: &str) -> Vec<&'a str> {
    out.lines()
        .skip_while(|l| !l.trim_start().starts_with(slot))
        .skip(1)
        .take_while(|l| l.starts_with("      "))
        .collect()
}

#[test]
fn assembler_text_interleaves_machine_code() {
    let src = "mov %r0, 7\nadd %r0, 0x1234\nexit\n";
    let path = scratch("prog.s", src.as_bytes());
    let out = ok(&["disasm", "--jited", &path.display().to_string()]);
    assert!(out.starts_with("; prologue\n"), "{out}");
    assert!(out.contains("push r12"), "{out}");
    // The checked-mode budget check of the whole straight-line block (3 instructions) at its
    // first slot, then the add itself on rax (r0).
    let first = machine_lines(&out, "0: mov %r0, 7");
    assert!(first.iter().any(|l| l.ends_with("sub r10,3")), "{first:?}");
    let add = machine_lines(&out, "1: add %r0, 0x1234");
    assert!(add.iter().any(|l| l.contains("add rax,1234h")), "{add:?}");
    assert!(out.contains("; out of line"), "{out}");
    // Every slot with code is listed, in order.
    let slots: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("      ") && !l.starts_with(';'))
        .collect();
    assert_eq!(slots.len(), 3, "{out}");
}

#[test]
fn raw_bytecode_and_lddw() {
    // lddw r1, 0x1122334455667788; mov r0, r1; exit
    let insns = waggle_isa::asm::assemble("lddw %r1, 0x1122334455667788\nmov %r0, %r1\nexit\n")
        .expect("assembles");
    let path = scratch("prog.bin", &waggle_isa::encode(&insns));
    let out = ok(&["disasm", "--jited", &path.display().to_string()]);
    let lddw = machine_lines(&out, "0: lddw");
    assert!(
        lddw.iter().any(|l| l.contains("mov rdi,1122334455667788h")),
        "{out}"
    );
    // The second slot of the lddw has no line of its own; the next one is slot 2.
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("2: mov %r0, %r1")),
        "{out}"
    );
}

#[test]
fn elf_object_program() {
    let obj = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs/xdp_maps.bpf.o");
    if !obj.exists() {
        println!("SKIPPED: {} not found", obj.display());
        return;
    }
    let out = ok(&[
        "disasm",
        "--jited",
        "--program",
        "xdp_count",
        &obj.display().to_string(),
    ]);
    assert!(out.starts_with("xdp_count (xdp):"), "{out}");
    // Helper calls go through the helper trampoline: a call into the out-of-line code.
    assert!(out.contains("call "), "{out}");
    assert!(out.contains("exit"), "{out}");
    let o = waggle(&[
        "disasm",
        "--jited",
        "--program",
        "nope",
        &obj.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// `waggle run --engine`: both engines give the same verdict and maps.
#[test]
fn run_on_either_engine() {
    let obj = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs/xdp_maps.bpf.o");
    if !obj.exists() {
        println!("SKIPPED: {} not found", obj.display());
        return;
    }
    let obj = obj.display().to_string();
    let data = "00 11 22 33 44 55 66 77 88 99 aa bb 08 00";
    let out: Vec<String> = ["jit", "interpreter"]
        .iter()
        .map(|e| {
            ok(&["run", &obj, "--engine", e, "--data-hex", data])
                .lines()
                .filter(|l| !l.starts_with("time:"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert!(out[0].contains("return: XDP_PASS"), "{}", out[0]);
    assert_eq!(out[0], out[1]);
    let o = waggle(&["run", &obj, "--engine", "nope"]);
    assert_eq!(o.status.code(), Some(2));
}
