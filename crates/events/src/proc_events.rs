//! Process start and exit from the Linux process connector (netlink `NETLINK_CONNECTOR`,
//! `CN_IDX_PROC`): each exec fires a `sched/sched_process_exec` hook and each task exit a
//! `sched/sched_process_exit` hook, with the tracepoints' record layouts:
//!
//! - `sched_process_exec`: common fields (8 bytes), `__data_loc char[] filename` (u32:
//!   offset | length << 16, the string after the fixed part), `pid`, `old_pid`;
//! - `sched_process_exit`: common fields, `char comm[16]`, `pid`, `prio`.
//!
//! The programs see the task as current (`bpf_get_current_pid_tgid`/`comm`). Listening needs
//! `CAP_NET_ADMIN` (the kernel answers `EPERM` otherwise). The connector reports after the
//! fact, so the filename (`/proc/PID/exe`) and comm are read when the message arrives; a task
//! already gone leaves them empty.

use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use waggle_runtime::{CurrentTask, Hook, fire_bytes, with_current_task};

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const NLMSG_DONE: u16 = 3;
const PROC_EVENT_EXEC: u32 = 0x2;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// `sizeof(struct nlmsghdr) + sizeof(struct cn_msg)`: where `struct proc_event` starts.
const EVENT_OFF: usize = 16 + 20;

/// The hooks process events fire (either may be absent).
#[derive(Clone, Debug, Default)]
pub struct ProcHooks {
    /// `sched/sched_process_exec`.
    pub exec: Option<Arc<Hook>>,
    /// `sched/sched_process_exit`.
    pub exit: Option<Arc<Hook>>,
}

/// What a listener saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcStats {
    /// Exec events.
    pub execs: u64,
    /// Exit events (one per task).
    pub exits: u64,
    /// Runs that failed.
    pub errors: u64,
    /// The first run error.
    pub first_error: Option<String>,
}

/// A subscription to the process connector.
#[derive(Debug)]
pub struct ProcListener {
    fd: OwnedFd,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

fn comm_of(pid: u32) -> [u8; 16] {
    let mut comm = [0u8; 16];
    if let Ok(c) = std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        let c = c.trim_end_matches('\n').as_bytes();
        let n = c.len().min(15);
        comm[..n].copy_from_slice(&c[..n]);
    }
    comm
}

impl ProcListener {
    /// Subscribe (`PROC_CN_MCAST_LISTEN`): events from now on are queued for [`Self::run`].
    pub fn open() -> std::io::Result<ProcListener> {
        let fd = rustix::net::socket(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            Some(netlink::CONNECTOR),
        )?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, CN_IDX_PROC))?;
        let mut msg = Vec::with_capacity(40);
        msg.extend_from_slice(&40u32.to_ne_bytes());
        msg.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&std::process::id().to_ne_bytes());
        msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&4u16.to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes());
        msg.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
        rustix::net::send(&fd, &msg, SendFlags::empty())?;
        // A receive timeout, so that `run` notices its stop flag.
        rustix::net::sockopt::set_socket_timeout(
            &fd,
            rustix::net::sockopt::Timeout::Recv,
            Some(Duration::from_millis(100)),
        )?;
        Ok(ProcListener { fd })
    }

    /// Fire `hooks` for every event until `stop` is set.
    pub fn run(&self, hooks: &ProcHooks, stop: &AtomicBool) -> std::io::Result<ProcStats> {
        let mut s = ProcStats::default();
        let mut buf = vec![0u8; 8192];
        while !stop.load(Ordering::Relaxed) {
            let n = match rustix::net::recv(&self.fd, &mut buf[..], RecvFlags::empty()) {
                Ok((_, n)) => n,
                Err(e) if e == rustix::io::Errno::AGAIN || e == rustix::io::Errno::INTR => {
                    continue;
                }
                Err(e) if e == rustix::io::Errno::NOBUFS => continue, // events were lost
                Err(e) => return Err(e.into()),
            };
            let msg = &buf[..n];
            if u32_at(msg, 16) != CN_IDX_PROC || u32_at(msg, 20) != CN_VAL_PROC {
                continue;
            }
            let ev = &msg[EVENT_OFF.min(msg.len())..];
            let what = u32_at(ev, 0);
            let (pid, tgid) = (u32_at(ev, 16), u32_at(ev, 20));
            let task = CurrentTask {
                pid,
                tgid,
                comm: comm_of(pid),
                memory: None,
            };
            let (hook, mut ctx) = match what {
                PROC_EVENT_EXEC => {
                    s.execs += 1;
                    let file = std::fs::read_link(format!("/proc/{pid}/exe"))
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let mut ctx = vec![0u8; 20];
                    let len = file.len().min(4095) + 1;
                    ctx[8..12].copy_from_slice(&(20u32 | (len as u32) << 16).to_ne_bytes());
                    ctx[12..16].copy_from_slice(&pid.to_ne_bytes());
                    ctx[16..20].copy_from_slice(&pid.to_ne_bytes());
                    ctx.extend_from_slice(&file.as_bytes()[..len - 1]);
                    ctx.push(0);
                    (&hooks.exec, ctx)
                }
                PROC_EVENT_EXIT => {
                    s.exits += 1;
                    let mut ctx = vec![0u8; 32];
                    ctx[8..24].copy_from_slice(&task.comm);
                    ctx[24..28].copy_from_slice(&pid.to_ne_bytes());
                    ctx[28..32].copy_from_slice(&120u32.to_ne_bytes());
                    (&hooks.exit, ctx)
                }
                _ => continue,
            };
            ctx[4..8].copy_from_slice(&pid.to_ne_bytes());
            if let Some(hook) = hook {
                let r = with_current_task(task, || fire_bytes(hook, &mut ctx, false, 0));
                if let Err(e) = r {
                    s.errors += 1;
                    s.first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        Ok(s)
    }
}
