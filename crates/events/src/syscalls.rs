//! System calls of a command: the command runs under ptrace and every system call entry and
//! exit fires `raw_syscalls/sys_enter` and `raw_syscalls/sys_exit` tracepoint hooks with the
//! kernel's record layouts (`struct trace_event_raw_sys_enter`: common fields, `id`,
//! `args[6]`; `..._sys_exit`: common fields, `id`, `ret`). The programs see the traced task as
//! "current" (`bpf_get_current_pid_tgid`, `bpf_get_current_comm`) and read its memory with
//! `bpf_probe_read_user*` (through `process_vm_readv`). Threads and child processes are
//! followed. x86-64 only.

use nix::sys::ptrace::{self, Event, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use waggle_runtime::{CurrentTask, Hook, UserMemory, fire_bytes, with_current_task};

/// The hooks a trace fires (either may be absent).
#[derive(Clone, Debug, Default)]
pub struct SyscallHooks {
    /// `raw_syscalls/sys_enter`.
    pub enter: Option<Arc<Hook>>,
    /// `raw_syscalls/sys_exit`.
    pub exit: Option<Arc<Hook>>,
}

/// What a trace saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceStats {
    /// System call entries.
    pub syscalls: u64,
    /// Tasks (threads and processes) traced.
    pub tasks: u64,
    /// The command's exit code, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed the command, if one did.
    pub signal: Option<i32>,
    /// Runs that failed.
    pub errors: u64,
    /// The first run error.
    pub first_error: Option<String>,
}

/// A traced task's memory.
struct ProcessMemory(Pid);

impl UserMemory for ProcessMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        if buf.is_empty() {
            return true;
        }
        let remote = [nix::sys::uio::RemoteIoVec {
            base: addr as usize,
            len: buf.len(),
        }];
        let n = buf.len();
        let mut local = [std::io::IoSliceMut::new(buf)];
        nix::sys::uio::process_vm_readv(self.0, &mut local, &remote).is_ok_and(|r| r == n)
    }
}

struct Task {
    in_syscall: bool,
    current: CurrentTask,
}

fn task_info(pid: Pid) -> CurrentTask {
    let tgid = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(pid.as_raw() as u32);
    let mut comm = [0u8; 16];
    if let Ok(c) = std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        let c = c.trim_end_matches('\n').as_bytes();
        let n = c.len().min(15);
        comm[..n].copy_from_slice(&c[..n]);
    }
    CurrentTask {
        pid: pid.as_raw() as u32,
        tgid,
        comm,
        memory: Some(Arc::new(ProcessMemory(pid))),
    }
}

fn io(e: nix::errno::Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

/// Run `cmd` to its end under ptrace, firing `hooks` at each system call entry and exit.
/// Setting `stop` kills the command (and what it started) at its next system call.
pub fn trace_command(
    cmd: &mut Command,
    hooks: &SyscallHooks,
    stop: &AtomicBool,
) -> std::io::Result<TraceStats> {
    let child = crate::spawn::spawn_traced(cmd)?;
    let root = Pid::from_raw(child.id() as i32);
    // The first stop: SIGTRAP after the execve.
    match waitpid(root, Some(WaitPidFlag::__WALL)).map_err(io)? {
        WaitStatus::Stopped(_, Signal::SIGTRAP) => {}
        other => {
            return Err(std::io::Error::other(format!(
                "traced command did not stop at exec: {other:?}"
            )));
        }
    }
    ptrace::setoptions(
        root,
        Options::PTRACE_O_TRACESYSGOOD
            | Options::PTRACE_O_EXITKILL
            | Options::PTRACE_O_TRACECLONE
            | Options::PTRACE_O_TRACEFORK
            | Options::PTRACE_O_TRACEVFORK
            | Options::PTRACE_O_TRACEEXEC,
    )
    .map_err(io)?;
    let mut s = TraceStats::default();
    let mut tasks: HashMap<Pid, Task> = HashMap::new();
    tasks.insert(
        root,
        Task {
            in_syscall: false,
            current: task_info(root),
        },
    );
    s.tasks = 1;
    ptrace::syscall(root, None).map_err(io)?;
    let mut killed = false;
    while !tasks.is_empty() {
        if stop.load(Ordering::Relaxed) && !killed {
            // PTRACE_O_EXITKILL kills the rest when the tracer goes; here the root suffices.
            let _ = nix::sys::signal::kill(root, Signal::SIGKILL);
            killed = true;
        }
        let status = match waitpid(None, Some(WaitPidFlag::__WALL)) {
            Ok(st) => st,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::ECHILD) => break,
            Err(e) => return Err(io(e)),
        };
        match status {
            WaitStatus::PtraceSyscall(pid) => {
                let task = tasks.entry(pid).or_insert_with(|| {
                    s.tasks += 1;
                    Task {
                        in_syscall: false,
                        current: task_info(pid),
                    }
                });
                let entering = !task.in_syscall;
                task.in_syscall = entering;
                if let Ok(regs) = ptrace::getregs(pid) {
                    let hook = if entering { &hooks.enter } else { &hooks.exit };
                    if entering {
                        s.syscalls += 1;
                    }
                    if let Some(hook) = hook {
                        let mut ctx = [0u8; 64];
                        ctx[4..8].copy_from_slice(&pid.as_raw().to_ne_bytes());
                        ctx[8..16].copy_from_slice(&regs.orig_rax.to_ne_bytes());
                        let len = if entering {
                            let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9];
                            for (i, a) in args.iter().enumerate() {
                                ctx[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
                            }
                            64
                        } else {
                            ctx[16..24].copy_from_slice(&regs.rax.to_ne_bytes());
                            24
                        };
                        let r = with_current_task(task.current.clone(), || {
                            fire_bytes(hook, &mut ctx[..len], false, 0)
                        });
                        if let Err(e) = r {
                            s.errors += 1;
                            s.first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                let _ = ptrace::syscall(pid, None);
            }
            WaitStatus::PtraceEvent(pid, _, event) => {
                if event == Event::PTRACE_EVENT_EXEC as i32 {
                    // A new program image: new comm (and possibly a new tgid leader).
                    if let Some(t) = tasks.get_mut(&pid) {
                        t.current = task_info(pid);
                    }
                }
                let _ = ptrace::syscall(pid, None);
            }
            WaitStatus::Stopped(pid, sig) => {
                if let std::collections::hash_map::Entry::Vacant(v) = tasks.entry(pid) {
                    // A new thread or child (auto-attached): it starts with SIGSTOP.
                    s.tasks += 1;
                    v.insert(Task {
                        in_syscall: false,
                        current: task_info(pid),
                    });
                    let _ = ptrace::syscall(pid, None);
                } else {
                    // A signal for the tracee: deliver it.
                    let deliver = (sig != Signal::SIGSTOP || pid == root).then_some(sig);
                    let _ = ptrace::syscall(pid, deliver);
                }
            }
            WaitStatus::Exited(pid, code) => {
                tasks.remove(&pid);
                if pid == root {
                    s.exit_code = Some(code);
                }
            }
            WaitStatus::Signaled(pid, sig, _) => {
                tasks.remove(&pid);
                if pid == root {
                    s.signal = Some(sig as i32);
                }
            }
            _ => {}
        }
    }
    // The root was reaped by waitpid above; the Child handle has nothing left to do.
    drop(child);
    Ok(s)
}
