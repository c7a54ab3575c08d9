//! The assembler against the public BPF conformance suite in `../shared/conformance`: every
//! test program assembles (and survives the byte and text round trips), every `invalid_*`
//! program is refused, and the decoder refuses every `unused-*` encoding.

use std::fs;
use std::path::{Path, PathBuf};
use waggle_isa::{Syntax, assemble, assemble_bytes, decode, disassemble};

fn suite() -> Option<PathBuf> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance"
    ));
    if dir.is_dir() {
        Some(dir.to_path_buf())
    } else {
        println!("SKIPPED: ../shared/conformance not found");
        None
    }
}

fn data_files(dir: &Path, prefix: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                text,
            )
        })
        .collect();
    files.sort();
    files
}

/// The lines after `-- NAME` up to the next line starting with `-- `, if the section exists.
fn section(text: &str, name: &str) -> Option<String> {
    let header = format!("-- {name}");
    let mut lines = text.lines();
    lines.by_ref().find(|l| l.trim_end() == header)?;
    let body: Vec<&str> = lines.take_while(|l| !l.starts_with("-- ")).collect();
    Some(body.join("\n") + "\n")
}

/// `-- raw` as 64-bit words (`0x5566778800000018`, low byte first in memory) or byte pairs.
fn raw_bytes(raw: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in raw.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(word) = line.strip_prefix("0x") {
            let w = u64::from_str_radix(word, 16).unwrap_or_else(|e| panic!("{line}: {e}"));
            out.extend_from_slice(&w.to_le_bytes());
        } else {
            for b in line.split_whitespace() {
                out.push(u8::from_str_radix(b, 16).unwrap_or_else(|e| panic!("{line}: {e}")));
            }
        }
    }
    out
}

#[test]
fn every_test_program_assembles_and_round_trips() {
    let Some(dir) = suite() else { return };
    let files = data_files(&dir.join("tests"), "");
    assert!(files.len() > 100, "only {} test files", files.len());
    let mut with_raw = 0;
    for (name, text) in &files {
        let asm = section(text, "asm").unwrap_or_else(|| panic!("{name}: no -- asm section"));
        let insns = assemble(&asm).unwrap_or_else(|e| panic!("{name}: {e}"));
        let bytes = assemble_bytes(&asm).expect("assembled once already");
        assert_eq!(
            decode(&bytes).as_ref(),
            Ok(&insns),
            "{name}: bytes do not decode back"
        );
        let text_again = disassemble(&insns, Syntax::Conformance);
        assert_eq!(
            assemble(&text_again).as_ref(),
            Ok(&insns),
            "{name}: disassembly does not re-assemble:\n{text_again}"
        );
        assert!(!disassemble(&insns, Syntax::Llvm).is_empty());
        if let Some(raw) = section(text, "raw") {
            assert_eq!(
                bytes,
                raw_bytes(&raw),
                "{name}: differs from its -- raw section"
            );
            with_raw += 1;
        }
    }
    assert!(with_raw >= 1, "lddw.data's -- raw section was not checked");
    println!(
        "{} conformance programs assembled ({with_raw} checked against -- raw)",
        files.len()
    );
}

#[test]
fn lddw_matches_its_raw_section() {
    let Some(dir) = suite() else { return };
    let text = fs::read_to_string(dir.join("tests/lddw.data")).expect("lddw.data");
    let asm = section(&text, "asm").expect("asm section");
    let raw = raw_bytes(&section(&text, "raw").expect("raw section"));
    assert_eq!(raw.len(), 24);
    assert_eq!(&raw[..8], &[0x18, 0, 0, 0, 0x88, 0x77, 0x66, 0x55]);
    assert_eq!(assemble_bytes(&asm).expect("assembles"), raw);
}

#[test]
fn invalid_programs_are_refused() {
    let Some(dir) = suite() else { return };
    let neg = dir.join("negative");
    let mut files = data_files(&neg, "invalid_");
    assert!(!files.is_empty(), "no invalid_*.data files");
    let empty = fs::read_to_string(neg.join("empty.data")).expect("empty.data");
    files.push(("empty.data".into(), empty));
    for (name, text) in &files {
        // empty.data has no sections at all: its whole text is the (empty) program.
        let asm = section(text, "asm").unwrap_or_else(|| text.clone());
        let err = assemble(&asm).expect_err(name);
        assert!(err.line >= 1 && err.column >= 1, "{name}: {err}");
        println!("{name}: {err}");
    }
}

#[test]
fn section_lines_are_not_assembler_syntax() {
    let Some(dir) = suite() else { return };
    let text = fs::read_to_string(dir.join("negative/invalid_unknown_directive.data"))
        .expect("invalid_unknown_directive.data");
    // Everything after `-- asm`, directive line included.
    let after = text.split_once("-- asm\n").expect("asm header").1;
    let err = assemble(after).expect_err("a `--` line must be refused");
    assert!(err.message.contains("--"), "{err}");
}

#[test]
fn unused_field_encodings_are_refused_by_decode() {
    let Some(dir) = suite() else { return };
    let files = data_files(&dir.join("negative"), "unused-");
    assert!(!files.is_empty(), "no unused-*.data files");
    for (name, text) in &files {
        let raw = raw_bytes(&section(text, "raw").unwrap_or_else(|| panic!("{name}: no raw")));
        assert!(decode(&raw).is_err(), "{name}: decoded {:?}", decode(&raw));
    }
}
