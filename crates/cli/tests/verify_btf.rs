//! `waggle verify` with the kernel BTF: BTF-typed tracing arguments and
//! `bpf_get_current_task_btf` (tests/progs/btf/btf_ptr.bpf.c), `--btf FILE`.

use std::path::Path;
use std::process::Command;

const WAGGLE: &str = env!("CARGO_BIN_EXE_waggle");
const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

fn obj() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/progs/btf/btf_ptr.bpf.o"
    )
    .to_owned()
}

fn waggle(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(WAGGLE)
        .args(args)
        .output()
        .expect("runs waggle");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// With the running kernel's BTF (default, and given with `--btf`), the three programs Linux
/// accepts are accepted and the two it refuses are refused (exit 1).
#[test]
fn verdicts_with_kernel_btf() {
    if !Path::new(VMLINUX).exists() {
        eprintln!("SKIPPED verify_btf::verdicts_with_kernel_btf: no {VMLINUX}");
        return;
    }
    let o = obj();
    for args in [
        vec!["verify", o.as_str()],
        vec!["verify", "--btf", VMLINUX, o.as_str()],
    ] {
        let (code, out, err) = waggle(&args);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        for accepted in ["switch_pids", "iter_tgid", "current_btf"] {
            assert!(
                out.lines()
                    .any(|l| l.starts_with(&format!("{accepted} (")) && l.contains("accepted")),
                "{accepted} not accepted: {out}"
            );
        }
        assert!(
            out.contains("refused_write (tracing): refused: only read is supported"),
            "{out}"
        );
        assert!(
            out.contains("refused_unchecked (tracing): refused: R1 may be NULL"),
            "{out}"
        );
    }
}

/// A `--btf` file that is no BTF is unusable input (exit 2), naming the file.
#[test]
fn bad_btf_file() {
    let o = obj();
    let (code, _, err) = waggle(&["verify", "--btf", &o, &o]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--btf"), "{err}");
}
