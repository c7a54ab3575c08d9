//! Process identity and tracing helpers.
//!
//! Approximations until hooks set these per event (through `run_state`): the "current
//! task" is the calling thread of this process: `get_current_pid_tgid` is
//! `(getpid() << 32) | gettid()`, `get_current_uid_gid` the process's real uid and gid
//! (`/proc/self/status`), `get_current_comm` the thread's name (`/proc/thread-self/comm`,
//! else the executable's name). `get_func_ip` and `get_attach_cookie` come from the event
//! info in `run_state` (0 for test runs). `get_stack` reports no frames: user space has no
//! kernel stack to walk, so it zeroes the buffer and returns 0 bytes.

use super::{Body, Env, neg};
use crate::run_state;
use std::sync::OnceLock;
use waggle_uapi::errno;
use waggle_vm::{HelperContext, HelperError};

pub(super) static HELPERS: &[(u32, Body)] = &[
    (14, get_current_pid_tgid),
    (15, get_current_uid_gid),
    (16, get_current_comm),
    (27, get_stackid),
    (35, get_current_task),
    (67, get_stack),
    (173, get_func_ip),
    (174, get_attach_cookie),
];

/// `TASK_COMM_LEN`.
const TASK_COMM_LEN: usize = 16;

/// This thread's id, from `/proc/thread-self` (a link to `PID/task/TID`).
fn thread_id() -> u32 {
    thread_local!(static TID: u32 = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .unwrap_or_else(std::process::id));
    TID.with(|t| *t)
}

/// `u64 bpf_get_current_pid_tgid(void)`.
fn get_current_pid_tgid(
    _: &Env,
    _: &mut HelperContext<'_>,
    _: [u64; 5],
) -> Result<u64, HelperError> {
    if let Some(t) = run_state::current_task() {
        return Ok(u64::from(t.tgid) << 32 | u64::from(t.pid));
    }
    Ok(u64::from(std::process::id()) << 32 | u64::from(thread_id()))
}

/// The first field of the `Uid:`/`Gid:` line of `/proc/self/status` (the real id).
fn status_id(key: &str) -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// `u64 bpf_get_current_uid_gid(void)`: `gid << 32 | uid`.
fn get_current_uid_gid(
    _: &Env,
    _: &mut HelperContext<'_>,
    _: [u64; 5],
) -> Result<u64, HelperError> {
    static IDS: OnceLock<u64> = OnceLock::new();
    Ok(*IDS.get_or_init(|| u64::from(status_id("Gid:")) << 32 | u64::from(status_id("Uid:"))))
}

/// The current thread's comm, NUL-padded.
fn comm() -> [u8; TASK_COMM_LEN] {
    let name = std::fs::read_to_string("/proc/thread-self/comm")
        .or_else(|_| std::fs::read_to_string("/proc/self/comm"))
        .map(|s| s.trim_end_matches('\n').to_string())
        .unwrap_or_else(|_| {
            std::env::current_exe()
                .ok()
                .and_then(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
                .unwrap_or_default()
        });
    let mut out = [0u8; TASK_COMM_LEN];
    let n = name.len().min(TASK_COMM_LEN - 1);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

/// `long bpf_get_current_comm(buf, size)`: `strscpy_pad` of the comm into `buf`.
fn get_current_comm(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let size = a[1] as u32 as usize;
    if size == 0 {
        return Ok(0);
    }
    let c = run_state::current_task().map_or_else(comm, |t| t.comm);
    let mut out = vec![0u8; size];
    let n = c
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(c.len())
        .min(size - 1);
    out[..n].copy_from_slice(&c[..n]);
    ctx.write(a[0], &out)?;
    Ok(0)
}

/// `long bpf_get_stack(ctx, buf, size, flags)`: no frames (see the module docs).
fn get_stack(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    const SKIP_MASK: u64 = 0xff;
    const USER_STACK: u64 = 1 << 8;
    const USER_BUILD_ID: u64 = 1 << 11;
    let flags = a[3];
    if flags & !(SKIP_MASK | USER_STACK | USER_BUILD_ID) != 0
        || (flags & USER_BUILD_ID != 0 && flags & USER_STACK == 0)
    {
        ctx.write(a[1], &vec![0u8; a[2] as u32 as usize])?;
        return Ok(neg(errno::EINVAL));
    }
    ctx.write(a[1], &vec![0u8; a[2] as u32 as usize])?;
    Ok(0)
}

/// `long bpf_get_stackid(ctx, map, flags)`: a user-space run has no kernel stack to record,
/// so the answer is the kernel's when it cannot walk one: `-EFAULT` (flags checked first).
fn get_stackid(_: &Env, _: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    // BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP | BPF_F_REUSE_STACKID.
    if a[2] & !(0xff | 1 << 8 | 1 << 9 | 1 << 10) != 0 {
        return Ok(neg(errno::EINVAL));
    }
    Ok(neg(errno::EFAULT))
}

/// `u64 bpf_get_current_task(void)`: the kernel's `struct task_struct *`. There is none in
/// user space: 0, so `bpf_probe_read_kernel` through it fails cleanly (`-EFAULT`, zeroed).
fn get_current_task(_: &Env, _: &mut HelperContext<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    Ok(0)
}

/// `u64 bpf_get_func_ip(ctx)`.
fn get_func_ip(_: &Env, _: &mut HelperContext<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    Ok(run_state::event().func_ip)
}

/// `u64 bpf_get_attach_cookie(ctx)`.
fn get_attach_cookie(_: &Env, _: &mut HelperContext<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    Ok(run_state::event().attach_cookie)
}
