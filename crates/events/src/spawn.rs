//! Starting a command as a ptrace tracee: the only `unsafe` of this crate.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// Spawn `cmd` with `PTRACE_TRACEME`: it stops with `SIGTRAP` right after its `execve`, before
/// running any of its own code, traced by the calling thread.
pub(crate) fn spawn_traced(cmd: &mut Command) -> std::io::Result<Child> {
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: it makes one raw `ptrace(PTRACE_TRACEME)` system call through nix (no
    // allocation, no lock) and maps its error to an io::Error built from the errno.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::ptrace::traceme().map_err(|e| std::io::Error::from_raw_os_error(e as i32))
        });
    }
    cmd.spawn()
}
