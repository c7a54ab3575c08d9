//! `syscalls::trace_command` end to end: `cat FILE` traced, `examples/syscalls.bpf.o` attached
//! to the sys_enter/sys_exit hooks; its per-syscall counts, its failed-call counts and the
//! paths it read from the child's memory (ring buffer) checked. Skips visibly where ptrace
//! is not permitted.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use waggle_events::syscalls::{SyscallHooks, trace_command};
use waggle_events::{syscall_name, syscall_number};
use waggle_runtime::{Combine, HookSpec, ProgramType, Runtime};

fn u64_at(v: &[u8]) -> u64 {
    u64::from_ne_bytes(v[..8].try_into().unwrap())
}

#[test]
fn syscall_names_round_trip() {
    assert_eq!(syscall_name(0), Some("read"));
    assert_eq!(syscall_name(257), Some("openat"));
    assert_eq!(syscall_number("exit_group"), Some(231));
    assert_eq!(syscall_name(100_000), None);
}

#[test]
fn traced_cat_counts_syscalls_and_reads_its_paths() {
    let obj = waggle_object::Object::open(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/syscalls.bpf.o"),
    )
    .unwrap();
    let rt = Runtime::new();
    let loaded = rt.load_object(&obj, 1).unwrap_or_else(|e| panic!("{e}"));
    let spec = || HookSpec::new(ProgramType::Tracepoint, Combine::All);
    let hooks = SyscallHooks {
        enter: Some(rt.hook_create("raw_syscalls/sys_enter", spec()).unwrap()),
        exit: Some(rt.hook_create("raw_syscalls/sys_exit", spec()).unwrap()),
    };
    let l1 = rt
        .link_create(
            loaded.program("sys_enter").unwrap(),
            "raw_syscalls/sys_enter",
            0,
        )
        .unwrap();
    let l2 = rt
        .link_create(
            loaded.program("sys_exit").unwrap(),
            "raw_syscalls/sys_exit",
            0,
        )
        .unwrap();

    let dir = std::env::temp_dir().join(format!("waggle-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hello.txt");
    std::fs::write(&file, "hello\n").unwrap();
    let missing = dir.join("missing.txt");
    let mut cmd = Command::new("cat");
    cmd.arg(&file)
        .arg(&missing)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let stats = match trace_command(&mut cmd, &hooks, &AtomicBool::new(false)) {
        Ok(s) => s,
        Err(e) if e.raw_os_error() == Some(1) => {
            println!("SKIPPED: ptrace not permitted here: {e}");
            return;
        }
        Err(e) => panic!("trace: {e}"),
    };
    assert_eq!(stats.exit_code, Some(1), "cat fails on the missing file");
    assert_eq!(stats.errors, 0, "{:?}", stats.first_error);

    let counts: Vec<(u32, u64)> = rt
        .map_dump(loaded.map("syscalls").unwrap())
        .unwrap()
        .into_iter()
        .map(|(k, v)| (u32::from_ne_bytes(k[..4].try_into().unwrap()), u64_at(&v)))
        .collect();
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    assert_eq!(total, stats.syscalls, "every entry counted once");
    let of = |name: &str| {
        let nr = syscall_number(name).unwrap() as u32;
        counts.iter().find(|(k, _)| *k == nr).map_or(0, |(_, n)| *n)
    };
    assert_eq!(of("exit_group"), 1);
    assert!(of("openat") >= 2, "{counts:?}");
    let failed = rt
        .map_lookup_elem(
            loaded.map("failed_syscalls").unwrap(),
            &(syscall_number("openat").unwrap() as u32).to_ne_bytes(),
        )
        .map(|v| u64_at(&v))
        .unwrap_or(0);
    assert!(failed >= 1, "opening the missing file failed");

    // The ring buffer: the paths the child passed to openat, read from its memory.
    let rb = rt.map(loaded.map("opens").unwrap()).unwrap();
    let mut paths = Vec::new();
    let mut pids = Vec::new();
    rb.inner.as_ringbuf().unwrap().consume(|r| {
        pids.push(u32::from_ne_bytes(r[..4].try_into().unwrap()));
        assert_eq!(&r[4..8], b"cat\0", "comm of the traced task");
        let p = &r[20..];
        let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
        paths.push(String::from_utf8_lossy(&p[..end]).into_owned());
    });
    assert!(paths.contains(&file.display().to_string()), "{paths:?}");
    assert!(paths.contains(&missing.display().to_string()), "{paths:?}");
    assert!(
        pids.iter().all(|&p| p != std::process::id()),
        "the child's pid"
    );

    rt.close(l1).unwrap();
    rt.close(l2).unwrap();
    loaded.close(&rt);
    let _ = std::fs::remove_dir_all(dir);
}
