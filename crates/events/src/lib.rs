//! Event sources: things that happen, turned into hook firings with the kernel's program
//! types and contexts.
//!
//! - [`Capture`]: packets of a pcap or pcapng file, read into memory; [`replay`] fires an
//!   XDP or socket filter hook once per packet (as fast as possible or at the recorded pace),
//!   counts verdicts and writes the packets that pass to a pcap ([`PcapWriter`]).
//! - [`LiveSocket`]: frames received on a live interface (`AF_PACKET`, a `TPACKET_V3` ring),
//!   fired into the same XDP or socket filter hooks.
//! - [`timer`]: a `perf_event` hook fired every period on each CPU, like a sampling
//!   perf event (`struct bpf_perf_event_data`).
//! - [`proc_events`]: process exec and exit from the process connector, firing
//!   `sched/sched_process_exec` and `sched/sched_process_exit` tracepoint hooks.
//! - [`syscalls`]: a command run under ptrace, its system calls firing
//!   `raw_syscalls/sys_enter` and `sys_exit` tracepoint hooks ([`syscall_name`] names them).

mod capture;
mod live;
pub mod proc_events;
mod replay;
mod ring;
mod spawn;
mod syscall_names;
pub mod syscalls;
pub mod timer;

pub use capture::{Capture, CaptureError, Packet, PcapWriter};
pub use live::LiveSocket;
pub use replay::{PacketHook, Replay, ReplayStats, replay};
pub use syscall_names::{syscall_name, syscall_number};
