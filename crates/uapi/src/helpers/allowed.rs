//! Which helpers each program type may call: an approximation of each
//! program type's `get_func_proto` (kernel/bpf/helpers.c,
//! kernel/trace/bpf_trace.c, net/core/filter.c, kernel/bpf/cgroup.c).
//!
//! Simplifications, all towards *allowing* (a program the kernel refuses for
//! one of these reasons is still accepted here; the verifier may refine):
//! - Kernel configuration: every `CONFIG_*` the helpers depend on is
//!   assumed enabled (`CONFIG_INET`, `CONFIG_CGROUPS`, `CONFIG_XFRM`, …);
//!   lockdown is assumed off.
//! - Expected attach type is ignored: a helper allowed for *some* attach
//!   type of a program type is allowed for all of them (e.g. `bind` in
//!   cgroup_sock_addr, `get_func_arg` in tracing, `seq_printf` only for
//!   iterators, `set_retval` only for some cgroup hooks).
//! - Per-attach BTF allow-lists (`d_path`, sleepable LSM hooks) are not
//!   modelled; `might_sleep` is left to the verifier.
//! - `ext` (freplace) programs inherit their target's helpers; here they may
//!   call any helper. `struct_ops` is approximated by the tracing set plus
//!   `tcp_send_ack`.
//! - Waggle's plain type ([`ProgramType::PLAIN`], kernel `unspec`) gets the
//!   base set plus the process-identity and `probe_read*` helpers the
//!   runtime can emulate in user space, and `get_attach_cookie` (its
//!   application hooks attach through links with cookies).
//!
//! Privilege follows `bpf_base_func_proto`: three tiers (always, CAP_BPF,
//! CAP_PERFMON) selected by [`Caps`].

use crate::ProgramType;

/// Capabilities of the loader, selecting the tiers of `bpf_base_func_proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Caps {
    /// CAP_BPF (or a token granting it): spin locks, timers, loops, dynptrs, ….
    pub bpf: bool,
    /// CAP_PERFMON: `trace_printk`, `probe_read_*`, `snprintf`, `skc_to_*`, ….
    pub perfmon: bool,
}

impl Caps {
    /// CAP_BPF and CAP_PERFMON, what root has.
    pub const PRIVILEGED: Caps = Caps {
        bpf: true,
        perfmon: true,
    };
    /// Neither capability (unprivileged socket filters and cgroup skb).
    pub const UNPRIVILEGED: Caps = Caps {
        bpf: false,
        perfmon: false,
    };
}

impl Default for Caps {
    fn default() -> Self {
        Caps::PRIVILEGED
    }
}

/// `bpf_base_func_proto`, first tier: map ops, time, random, tail call,
/// ring buffer, string helpers, pid/tgid.
const BASE: &[u32] = &[
    1, 2, 3, 87, 88, 89, 195, // map_lookup/update/delete, push/pop/peek, lookup_percpu
    7, 8, 42, 12, // prandom, smp_processor_id, numa_node_id, tail_call
    5, 125, 208, // ktime_get_ns, boot_ns, tai_ns
    130, 131, 132, 133, 134, // ringbuf_*
    182, 105, 106, // strncmp, strtol, strtoul
    14, 120, // get_current_pid_tgid, get_ns_current_pid_tgid
];

/// `bpf_base_func_proto`, CAP_BPF tier.
const BASE_BPF: &[u32] = &[
    93, 94, 118, 153, 154, // spin_lock/unlock, jiffies64, per_cpu_ptr, this_cpu_ptr
    169, 170, 171, 172, 194, // timer_*, kptr_xchg
    164, 181, 209, // for_each_map_elem, loop, user_ringbuf_drain
    197, 198, 199, 200, 201, 202, 203, // dynptr helpers
    210, 211, 80, 123, // cgrp_storage_*, current cgroup ids
];

/// `bpf_base_func_proto`, CAP_PERFMON tier.
const BASE_PERFMON: &[u32] = &[
    6, 35, 158, 112, 113, 114, 115, // trace_printk, current task, probe_read_*
    149, 165, 175, 177, // snprintf_btf, snprintf, task_pt_regs, trace_vprintk
];

/// `bpf_sk_base_func_proto` additions: `skc_to_*` (CAP_PERFMON).
const SK_BASE_PERFMON: &[u32] = &[136, 137, 138, 139, 140, 178, 196];
/// `bpf_sk_base_func_proto` additions available to all.
const SK_BASE: &[u32] = &[160]; // ktime_get_coarse_ns

/// `bpf_tracing_func_proto`: shared by kprobe, tracepoint, perf_event, raw_tp.
const TRACING: &[u32] = &[
    35, 158, 175, 15, 16, 6, 22, 37,
    36, // task, uid_gid, comm, printk, perf read, probe_write_user
    4, 45, 112, 113, 114, 115, // probe_read*
    80, 123, 210, 211, 109, 117,
    55, // cgroup ids, cgrp storage, signals, perf_event_read_value
    118, 141, 148, 191, 149, 153,
    154, // jiffies, task stack, copy_from_user*, btf printing, percpu
    156, 157, 164, 165, 173, 176, 180,
    177, // task storage, for_each, snprintf, func_ip, branch, find_vma
];

const KPROBE: &[u32] = &[25, 27, 67, 58, 173, 174];
const TRACEPOINT: &[u32] = &[25, 27, 67, 174];
const PERF_EVENT: &[u32] = &[25, 27, 67, 56, 119, 174];
const RAW_TP: &[u32] = &[25, 27, 67];
/// `tracing_prog_func_proto` additions (fentry/fexit/iter/…).
const TRACING_PROG: &[u32] = &[
    111, 121, 136, 137, 138, 139, 140, 178, 196, // skb/xdp output, skc_to_*
    107, 108, 162, 46, 188, // sk storage, sock_from_file, socket cookie, xdp_get_buff_len
    126, 127, 150, 147, 183, 184, 185, 174, // seq_*, d_path, func args, attach cookie
];
/// `bpf_lsm_func_proto` additions.
const LSM: &[u32] = &[145, 146, 107, 108, 93, 94, 159, 161, 193, 81, 186, 187];
/// `syscall_prog_func_proto` additions.
const SYSCALL: &[u32] = &[166, 167, 168, 179];

/// `sk_filter_func_proto`.
const SK_FILTER: &[u32] = &[26, 68, 46, 47, 25];
/// `cg_skb_func_proto` additions (on top of the socket filter set).
const CG_SKB: &[u32] = &[
    81, 95, 107, 108, 79, 83, 128, 129, 84, 85, 86, 99, 96, 98, 97,
];
/// `tc_cls_act_func_proto`.
const TC: &[u32] = &[
    9, 26, 68, 39, 28, 40, 135, 10, 11, 13, 17, 18, 19, 31, 32, 50, 38, 43, // skb edits, csum
    20, 21, 29, 30, 23, 152, 155, 24, 34, 41, 48, 25, 8, 33, 46, 47, // tunnel, redirect, hash
    69, 163, 95, 107, 108, 66, 151, 79, 83, // fib, mtu, sockets, xfrm, cgroup ids
    84, 85, 86, 96, 98, 99, 100, 97, 110, 124, 192, 204, 205, 206,
    207, // socket lookup, syncookies
];
/// `xdp_func_proto`.
const XDP: &[u32] = &[
    25, 8, 28, 44, 54, 23, 51, 65, 188, 189, 190, 69, 163, // packet, redirect, fib, mtu
    85, 84, 86, 99, 100, 110, 204, 205, 206, 207, // socket lookup, syncookies
];
/// `lwt_out_func_proto` (base of all lwt types).
const LWT_OUT: &[u32] = &[26, 39, 28, 17, 24, 34, 25, 8, 33];
const LWT_IN: &[u32] = &[73];
const LWT_XMIT: &[u32] = &[20, 21, 29, 30, 23, 13, 38, 43, 9, 40, 135, 10, 11, 41, 73];
const LWT_SEG6: &[u32] = &[74, 76, 75];
/// `sock_ops_func_proto`.
const SOCK_OPS: &[u32] = &[
    49, 57, 59, 53, 70, 46, 81, 25, 107, 108, 122, 142, 143, 144, 96,
];
/// `sk_msg_func_proto`.
const SK_MSG: &[u32] = &[
    60, 71, 61, 62, 63, 90, 91, 25, 15, 14, 107, 108, 122, 80, 123, 17,
];
/// `sk_skb_func_proto`.
const SK_SKB: &[u32] = &[9, 26, 39, 38, 43, 50, 46, 47, 52, 72, 25, 84, 85, 86, 99];
/// `flow_dissector_func_proto`.
const FLOW_DISSECTOR: &[u32] = &[26];
/// `sock_filter_func_proto` (cgroup_sock).
const CG_SOCK: &[u32] = &[15, 81, 46, 122, 25, 14, 16, 80, 123, 17, 107, 160, 186, 187];
/// `sock_addr_func_proto` (cgroup_sock_addr).
const CG_SOCK_ADDR: &[u32] = &[
    15, 64, 46, 122, 81, 25, 14, 16, 80, 123, 17, 84, 85, 86, 99, 107, 108, 49, 57, 186, 187,
];
/// `cgroup_common_func_proto` + `cgroup_current_func_proto` (device, sysctl, sockopt).
const CG_COMMON: &[u32] = &[81, 186, 187, 15, 14, 16, 80, 123, 17, 25];
const CG_SYSCTL: &[u32] = &[101, 102, 103, 104, 160];
const CG_SOCKOPT: &[u32] = &[107, 108, 49, 57, 96, 122];
/// `sk_reuseport_func_proto`.
const SK_REUSEPORT: &[u32] = &[82, 26, 68, 46, 160];
/// `sk_lookup_func_proto`.
const SK_LOOKUP: &[u32] = &[25, 124, 86];
/// `lirc_mode2_func_proto`.
const LIRC: &[u32] = &[77, 78, 92, 6];
/// Waggle's plain type: identity and checked reads the runtime emulates, and the link's
/// cookie (application hooks keep one per link, as tracing links do in the kernel).
const PLAIN: &[u32] = &[15, 16, 4, 45, 160, 174];

/// Whether a fully privileged program of `prog_type` may call helper `id`.
pub fn helper_allowed(prog_type: ProgramType, id: u32) -> bool {
    helper_allowed_with(prog_type, id, Caps::PRIVILEGED)
}

/// Whether a program of `prog_type` loaded with `caps` may call helper `id`.
///
/// Capabilities gate only the tiers of the base set (as
/// `bpf_base_func_proto` does); the type-specific sets do not depend on them.
pub fn helper_allowed_with(prog_type: ProgramType, id: u32, caps: Caps) -> bool {
    if crate::helpers::helper(id).is_none() {
        return false;
    }
    let base = || {
        BASE.contains(&id)
            || (caps.bpf && BASE_BPF.contains(&id))
            || (caps.perfmon && BASE_PERFMON.contains(&id))
    };
    let sk_base =
        || SK_BASE.contains(&id) || (caps.perfmon && SK_BASE_PERFMON.contains(&id)) || base();
    let tracing = |extra: &[u32]| extra.contains(&id) || TRACING.contains(&id) || base();
    let tracing_prog =
        || TRACING_PROG.contains(&id) || RAW_TP.contains(&id) || TRACING.contains(&id) || base();
    let any = |sets: &[&[u32]]| sets.iter().any(|s| s.contains(&id));

    use ProgramType as P;
    match prog_type {
        P::Unspec => PLAIN.contains(&id) || base(),
        P::SocketFilter => SK_FILTER.contains(&id) || sk_base(),
        P::CgroupSkb => any(&[CG_SKB, SK_FILTER]) || sk_base(),
        P::SchedCls | P::SchedAct => TC.contains(&id) || sk_base(),
        P::Xdp => XDP.contains(&id) || sk_base(),
        P::LwtOut => LWT_OUT.contains(&id) || sk_base(),
        P::LwtIn => any(&[LWT_IN, LWT_OUT]) || sk_base(),
        P::LwtXmit => any(&[LWT_XMIT, LWT_OUT]) || sk_base(),
        P::LwtSeg6local => any(&[LWT_SEG6, LWT_OUT]) || sk_base(),
        P::SockOps => SOCK_OPS.contains(&id) || sk_base(),
        P::SkMsg => SK_MSG.contains(&id) || sk_base(),
        P::SkSkb => SK_SKB.contains(&id) || sk_base(),
        P::FlowDissector => FLOW_DISSECTOR.contains(&id) || sk_base(),
        P::CgroupSock => CG_SOCK.contains(&id) || base(),
        P::CgroupSockAddr => CG_SOCK_ADDR.contains(&id) || sk_base(),
        P::CgroupDevice => CG_COMMON.contains(&id) || base(),
        P::CgroupSysctl => any(&[CG_SYSCTL, CG_COMMON]) || base(),
        P::CgroupSockopt => any(&[CG_SOCKOPT, CG_COMMON]) || base(),
        P::SkReuseport => SK_REUSEPORT.contains(&id) || sk_base(),
        P::SkLookup => SK_LOOKUP.contains(&id) || sk_base(),
        P::LircMode2 => LIRC.contains(&id) || base(),
        P::Kprobe => tracing(KPROBE),
        P::Tracepoint => tracing(TRACEPOINT),
        P::PerfEvent => tracing(PERF_EVENT),
        P::RawTracepoint | P::RawTracepointWritable => tracing(RAW_TP),
        P::Tracing => tracing_prog(),
        P::Lsm => LSM.contains(&id) || tracing_prog(),
        P::Syscall => SYSCALL.contains(&id) || tracing_prog(),
        P::StructOps => id == 116 || tracing_prog(),
        P::Ext => true,
        P::Netfilter => base(),
    }
}
