//! The public BPF conformance suite (`../shared/conformance`) through Waggle's own assembler,
//! validator and engines. Without `../shared` these tests print a visible SKIPPED line and
//! pass nothing: the closing summary says what was skipped.

use std::path::{Path, PathBuf};
use waggle_cli::exec::Prepared;
use waggle_cli::{Engine, HelperSet, TestFile};
use waggle_isa::{asm, decode_and_validate};

fn suite_dir(sub: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance")
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIPPED: {} not found (the conformance suite lives in ../shared)",
            dir.display()
        );
        None
    }
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable suite directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    files.sort();
    files
}

/// Run one test file; `Err` says why it failed.
fn run_file(path: &Path, engine: Engine) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let test = TestFile::parse(&text).map_err(|e| format!("unreadable test file: {e}"))?;
    // As in the official runner, `-- raw` takes precedence over `-- asm`.
    let outcome = (|| {
        let insns = match (&test.raw, &test.asm) {
            (Some(raw), _) => decode_and_validate(raw).map_err(|e| e.to_string())?,
            (None, Some(text)) => {
                let insns = asm::assemble(text).map_err(|e| e.to_string())?;
                waggle_isa::validate(&insns).map_err(|e| e.to_string())?;
                insns
            }
            (None, None) => return Err("no program".to_string()),
        };
        let program = Prepared::new(&insns, engine, HelperSet::Conformance, Some(100_000_000))?;
        let mut mem = test.mem.clone();
        program.run(&mut mem).map_err(|e| e.to_string())
    })();
    match (outcome, test.error.is_some(), test.result) {
        (Err(_), true, _) => Ok(()),
        (Ok(r0), true, _) => Err(format!("expected an error, got r0 = {r0:#x}")),
        (Ok(r0), false, Some(want)) if r0 == want => Ok(()),
        (Ok(r0), false, Some(want)) => Err(format!("r0 = {r0:#x}, expected {want:#x}")),
        (Ok(_), false, None) => Err("the test file has no result".into()),
        (Err(e), false, _) => Err(format!("failed: {e}")),
    }
}

fn run_suite(engine: Engine) {
    let Some(dir) = suite_dir("tests") else {
        return;
    };
    let files = data_files(&dir);
    assert!(
        files.len() >= 300,
        "expected the whole suite, found {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        if let Err(why) = run_file(path, engine) {
            failures.push(format!(
                "{}: {why}",
                path.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    println!(
        "conformance ({engine:?}): {} passed, {} failed",
        files.len() - failures.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "conformance failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn conformance_suite_interpreter() {
    run_suite(Engine::Interpreter);
}

#[test]
fn conformance_suite_jit() {
    run_suite(Engine::Jit);
}

/// `negative/`: malformed assembler text must be refused by the assembler, raw bytecode with a
/// non-zero reserved field by structural validation (so `waggle exec` refuses it). The other
/// three files test the official runner itself and say nothing about a BPF implementation.
#[test]
fn conformance_negative_files_are_refused() {
    let Some(dir) = suite_dir("negative") else {
        return;
    };
    let runner_self_tests = [
        "error.data",
        "incorrect_return_value_high_bits.data",
        "empty_instructions.data",
    ];
    let (mut refused, mut checked) = (0, 0);
    let mut accepted = Vec::new();
    for path in data_files(&dir) {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if runner_self_tests.contains(&name.as_str()) {
            continue;
        }
        checked += 1;
        let text = std::fs::read_to_string(&path).expect("readable test file");
        let test = TestFile::parse(&text).expect("parsable test file");
        let is_refused = if name.starts_with("unused-") {
            let raw = test.raw.expect("unused-* files carry raw bytecode");
            decode_and_validate(&raw).is_err()
        } else {
            // empty.data has no section at all: its program text is empty.
            asm::assemble(test.asm.as_deref().unwrap_or("")).is_err()
        };
        if is_refused {
            refused += 1;
        } else {
            accepted.push(name);
        }
    }
    println!(
        "conformance negative: {refused} passed, {} failed",
        accepted.len()
    );
    assert!(
        checked >= 50,
        "expected the suite's negative files, found {checked}"
    );
    assert!(
        accepted.is_empty(),
        "accepted malformed input: {accepted:?}"
    );
}
