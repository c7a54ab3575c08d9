//! Our `llvm` disassembly syntax against LLVM's own BPF disassembler (`llvm-mc-19
//! --disassemble --print-imm-hex`, which prints what `llvm-objdump -d` prints), on every
//! instruction of the conformance suite. Skipped visibly when llvm-mc or ../shared is absent.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use waggle_isa::disasm::{Syntax, format_insn};
use waggle_isa::{AtomicOp, Insn, Size, asm, encode};

/// LLVM 19's generic CPU cannot decode 32-bit atomics other than `lock add` (it prints them
/// only with +alu32); we print the +alu32 form, so those are left out of the comparison.
fn llvm_decodes(insn: &Insn) -> bool {
    !matches!(insn, Insn::Atomic { size: Size::W, op, .. } if *op != AtomicOp::Add { fetch: false })
        && *insn != Insn::LddwHigh
}

#[test]
fn llvm_syntax_matches_llvm_mc() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/tests");
    if !dir.is_dir() {
        println!("SKIPPED: {} not found", dir.display());
        return;
    }
    if Command::new("llvm-mc-19")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIPPED: llvm-mc-19 not installed (apt-get install llvm-19)");
        return;
    }
    let mut insns: Vec<Insn> = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let Some(body) = text.split("-- asm").nth(1) else {
            continue;
        };
        let body = body.split("\n-- ").next().unwrap_or("");
        for insn in asm::assemble(body).unwrap_or_default() {
            if llvm_decodes(&insn) && !insns.contains(&insn) {
                insns.push(insn);
            }
        }
    }
    assert!(
        insns.len() > 200,
        "too few distinct instructions: {}",
        insns.len()
    );
    let mut bytes = Vec::new();
    for insn in &insns {
        let slots: &[Insn] = if let Insn::Lddw { .. } = insn {
            &[*insn, Insn::LddwHigh]
        } else {
            &[*insn]
        };
        bytes.extend(encode(slots));
    }
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:#04x}")).collect();
    let mut child = Command::new("llvm-mc-19")
        .args(["--disassemble", "-triple=bpfel", "--print-imm-hex"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(hex.join(" ").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().replace('\t', " "))
        .filter(|l| !l.is_empty() && !l.starts_with(".text"))
        .collect();
    assert_eq!(
        theirs.len(),
        insns.len(),
        "llvm-mc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mismatches: Vec<String> = insns
        .iter()
        .zip(&theirs)
        .map(|(i, t)| (format_insn(i, 0, Syntax::Llvm), t))
        .filter(|(ours, t)| ours.trim() != t.as_str())
        .map(|(ours, t)| format!("ours {ours:?}, llvm {t:?}"))
        .collect();
    println!(
        "llvm syntax: {} passed, {} failed",
        insns.len() - mismatches.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
