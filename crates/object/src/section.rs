//! Program section names (libbpf's `SEC()` conventions) → program kind, kernel program type,
//! expected attach type and attach target.
//!
//! Matching follows libbpf 1.x (`section_defs[]` in `libbpf.c`): a definition ending in `+`
//! matches the bare name or `name/extras`; one ending in `/` needs extras; others match
//! exactly. When nothing matches, the pre-1.0 "sloppy" prefix rules are tried (`xdp1`,
//! `socket_foo`, `classifier_x`), as older objects rely on them. Anything else is
//! [`ProgramKind::Unspecified`], never an error.

use std::fmt;

/// The kind of a program, named after the kernel's `bpf_prog_type` (with the kprobe family
/// split by section name, since their attach differs).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum ProgramKind {
    /// `socket`: BPF_PROG_TYPE_SOCKET_FILTER.
    SocketFilter,
    /// `kprobe/FUNC`.
    Kprobe,
    /// `kretprobe/FUNC`.
    Kretprobe,
    /// `uprobe/PATH:FUNC` (also `uprobe.s`).
    Uprobe,
    /// `uretprobe/PATH:FUNC` (also `uretprobe.s`).
    Uretprobe,
    /// `kprobe.multi/PATTERN`, `kretprobe.multi/…`, `kprobe.session/…`.
    KprobeMulti,
    /// `uprobe.multi/…`, `uretprobe.multi/…`.
    UprobeMulti,
    /// `ksyscall/NAME`, `kretsyscall/NAME`.
    Ksyscall,
    /// `usdt/…`.
    Usdt,
    /// `tracepoint/CAT/NAME` or `tp/CAT/NAME`.
    Tracepoint,
    /// `raw_tracepoint/NAME` or `raw_tp/NAME`.
    RawTracepoint,
    /// `raw_tracepoint.w/NAME` or `raw_tp.w/NAME`.
    RawTracepointWritable,
    /// `xdp`, `xdp.frags`, `xdp/devmap`, `xdp/cpumap`.
    Xdp,
    /// `perf_event`.
    PerfEvent,
    /// `tc`, `classifier`, `tc/ingress`, `tcx/*`, `netkit/*`: BPF_PROG_TYPE_SCHED_CLS.
    SchedCls,
    /// `action`: BPF_PROG_TYPE_SCHED_ACT.
    SchedAct,
    /// `cgroup_skb/ingress|egress`, `cgroup/skb`.
    CgroupSkb,
    /// `cgroup/sock_create`, `cgroup/sock_release`, `cgroup/post_bind4|6`, `cgroup/sock`.
    CgroupSock,
    /// `cgroup/bind4`, `cgroup/connect6`, `cgroup/sendmsg4`, … (BPF_PROG_TYPE_CGROUP_SOCK_ADDR).
    CgroupSockAddr,
    /// `cgroup/sysctl`.
    CgroupSysctl,
    /// `cgroup/getsockopt`, `cgroup/setsockopt`.
    CgroupSockopt,
    /// `cgroup/dev`.
    CgroupDevice,
    /// `lwt_in`.
    LwtIn,
    /// `lwt_out`.
    LwtOut,
    /// `lwt_xmit`.
    LwtXmit,
    /// `lwt_seg6local`.
    LwtSeg6local,
    /// `sockops`.
    SockOps,
    /// `sk_skb`, `sk_skb/stream_parser|stream_verdict|verdict`.
    SkSkb,
    /// `sk_msg`.
    SkMsg,
    /// `sk_reuseport`, `sk_reuseport/migrate`.
    SkReuseport,
    /// `sk_lookup`.
    SkLookup,
    /// `flow_dissector`.
    FlowDissector,
    /// `lirc_mode2`.
    LircMode2,
    /// `fentry/`, `fexit/`, `fmod_ret/` (and `.s`), `tp_btf/`, `iter/`: BPF_PROG_TYPE_TRACING.
    Tracing,
    /// `freplace/FUNC`: BPF_PROG_TYPE_EXT.
    Extension,
    /// `lsm/HOOK`, `lsm.s/HOOK`, `lsm_cgroup/HOOK`.
    Lsm,
    /// `struct_ops/…`.
    StructOps,
    /// `syscall`.
    Syscall,
    /// `netfilter`.
    Netfilter,
    /// A section name no convention covers: the name is kept, the program type is 0
    /// (BPF_PROG_TYPE_UNSPEC) and the user chooses one when loading.
    Unspecified(String),
}

impl ProgramKind {
    /// The kernel's `enum bpf_prog_type` number.
    pub fn prog_type(&self) -> u32 {
        use ProgramKind as K;
        match self {
            K::Unspecified(_) => 0,
            K::SocketFilter => 1,
            K::Kprobe
            | K::Kretprobe
            | K::Uprobe
            | K::Uretprobe
            | K::KprobeMulti
            | K::UprobeMulti
            | K::Ksyscall
            | K::Usdt => 2,
            K::SchedCls => 3,
            K::SchedAct => 4,
            K::Tracepoint => 5,
            K::Xdp => 6,
            K::PerfEvent => 7,
            K::CgroupSkb => 8,
            K::CgroupSock => 9,
            K::LwtIn => 10,
            K::LwtOut => 11,
            K::LwtXmit => 12,
            K::SockOps => 13,
            K::SkSkb => 14,
            K::CgroupDevice => 15,
            K::SkMsg => 16,
            K::RawTracepoint => 17,
            K::CgroupSockAddr => 18,
            K::LwtSeg6local => 19,
            K::LircMode2 => 20,
            K::SkReuseport => 21,
            K::FlowDissector => 22,
            K::CgroupSysctl => 23,
            K::RawTracepointWritable => 24,
            K::CgroupSockopt => 25,
            K::Tracing => 26,
            K::StructOps => 27,
            K::Extension => 28,
            K::Lsm => 29,
            K::SkLookup => 30,
            K::Syscall => 31,
            K::Netfilter => 32,
        }
    }

    /// A short lower-case name (libbpf/bpftool style), e.g. `xdp`, `sched_cls`.
    pub fn name(&self) -> &str {
        use ProgramKind as K;
        match self {
            K::Unspecified(_) => "unspec",
            K::SocketFilter => "socket_filter",
            K::Kprobe => "kprobe",
            K::Kretprobe => "kretprobe",
            K::Uprobe => "uprobe",
            K::Uretprobe => "uretprobe",
            K::KprobeMulti => "kprobe_multi",
            K::UprobeMulti => "uprobe_multi",
            K::Ksyscall => "ksyscall",
            K::Usdt => "usdt",
            K::SchedCls => "sched_cls",
            K::SchedAct => "sched_act",
            K::Tracepoint => "tracepoint",
            K::Xdp => "xdp",
            K::PerfEvent => "perf_event",
            K::CgroupSkb => "cgroup_skb",
            K::CgroupSock => "cgroup_sock",
            K::LwtIn => "lwt_in",
            K::LwtOut => "lwt_out",
            K::LwtXmit => "lwt_xmit",
            K::SockOps => "sock_ops",
            K::SkSkb => "sk_skb",
            K::CgroupDevice => "cgroup_device",
            K::SkMsg => "sk_msg",
            K::RawTracepoint => "raw_tracepoint",
            K::CgroupSockAddr => "cgroup_sock_addr",
            K::LwtSeg6local => "lwt_seg6local",
            K::LircMode2 => "lirc_mode2",
            K::SkReuseport => "sk_reuseport",
            K::FlowDissector => "flow_dissector",
            K::CgroupSysctl => "cgroup_sysctl",
            K::RawTracepointWritable => "raw_tracepoint_writable",
            K::CgroupSockopt => "cgroup_sockopt",
            K::Tracing => "tracing",
            K::StructOps => "struct_ops",
            K::Extension => "ext",
            K::Lsm => "lsm",
            K::SkLookup => "sk_lookup",
            K::Syscall => "syscall",
            K::Netfilter => "netfilter",
        }
    }
}

impl fmt::Display for ProgramKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a program section name says about its programs.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProgramSection {
    /// The program kind (and so the kernel program type).
    pub kind: ProgramKind,
    /// The part after the first `/` for `type/target` names (`kprobe/do_sys_open` →
    /// `do_sys_open`, `tp/sched/sched_switch` → `sched/sched_switch`); `None` when absent or
    /// when the extras only select the attach type (`cgroup_skb/ingress`, `xdp/devmap`).
    pub attach_target: Option<String>,
    /// The kernel's `enum bpf_attach_type` number the program expects, if its type has one.
    pub expected_attach_type: Option<u32>,
    /// Whether the program is sleepable (`.s` sections, `syscall`).
    pub sleepable: bool,
    /// Whether it is an XDP program that handles multi-buffer frames (`xdp.frags`).
    pub xdp_frags: bool,
}

/// `enum bpf_attach_type` numbers used below.
#[allow(missing_docs)]
pub mod attach {
    pub const CGROUP_INET_INGRESS: u32 = 0;
    pub const CGROUP_INET_EGRESS: u32 = 1;
    pub const CGROUP_INET_SOCK_CREATE: u32 = 2;
    pub const CGROUP_SOCK_OPS: u32 = 3;
    pub const SK_SKB_STREAM_PARSER: u32 = 4;
    pub const SK_SKB_STREAM_VERDICT: u32 = 5;
    pub const CGROUP_DEVICE: u32 = 6;
    pub const SK_MSG_VERDICT: u32 = 7;
    pub const CGROUP_INET4_BIND: u32 = 8;
    pub const CGROUP_INET6_BIND: u32 = 9;
    pub const CGROUP_INET4_CONNECT: u32 = 10;
    pub const CGROUP_INET6_CONNECT: u32 = 11;
    pub const CGROUP_INET4_POST_BIND: u32 = 12;
    pub const CGROUP_INET6_POST_BIND: u32 = 13;
    pub const CGROUP_UDP4_SENDMSG: u32 = 14;
    pub const CGROUP_UDP6_SENDMSG: u32 = 15;
    pub const LIRC_MODE2: u32 = 16;
    pub const FLOW_DISSECTOR: u32 = 17;
    pub const CGROUP_SYSCTL: u32 = 18;
    pub const CGROUP_UDP4_RECVMSG: u32 = 19;
    pub const CGROUP_UDP6_RECVMSG: u32 = 20;
    pub const CGROUP_GETSOCKOPT: u32 = 21;
    pub const CGROUP_SETSOCKOPT: u32 = 22;
    pub const TRACE_RAW_TP: u32 = 23;
    pub const TRACE_FENTRY: u32 = 24;
    pub const TRACE_FEXIT: u32 = 25;
    pub const MODIFY_RETURN: u32 = 26;
    pub const LSM_MAC: u32 = 27;
    pub const TRACE_ITER: u32 = 28;
    pub const CGROUP_INET4_GETPEERNAME: u32 = 29;
    pub const CGROUP_INET6_GETPEERNAME: u32 = 30;
    pub const CGROUP_INET4_GETSOCKNAME: u32 = 31;
    pub const CGROUP_INET6_GETSOCKNAME: u32 = 32;
    pub const XDP_DEVMAP: u32 = 33;
    pub const CGROUP_INET_SOCK_RELEASE: u32 = 34;
    pub const XDP_CPUMAP: u32 = 35;
    pub const SK_LOOKUP: u32 = 36;
    pub const XDP: u32 = 37;
    pub const SK_SKB_VERDICT: u32 = 38;
    pub const SK_REUSEPORT_SELECT: u32 = 39;
    pub const SK_REUSEPORT_SELECT_OR_MIGRATE: u32 = 40;
    pub const TRACE_KPROBE_MULTI: u32 = 42;
    pub const LSM_CGROUP: u32 = 43;
    pub const NETFILTER: u32 = 45;
    pub const TCX_INGRESS: u32 = 46;
    pub const TCX_EGRESS: u32 = 47;
    pub const TRACE_UPROBE_MULTI: u32 = 48;
    pub const CGROUP_UNIX_CONNECT: u32 = 49;
    pub const CGROUP_UNIX_SENDMSG: u32 = 50;
    pub const CGROUP_UNIX_RECVMSG: u32 = 51;
    pub const CGROUP_UNIX_GETPEERNAME: u32 = 52;
    pub const CGROUP_UNIX_GETSOCKNAME: u32 = 53;
    pub const NETKIT_PRIMARY: u32 = 54;
    pub const NETKIT_PEER: u32 = 55;
    pub const TRACE_KPROBE_SESSION: u32 = 56;
}

/// Definition flags.
const NONE: u8 = 0;
/// Sleepable program.
const SLEEP: u8 = 1;
/// The extras after `/` are the attach target.
const TARGET: u8 = 2;
/// XDP multi-buffer.
const FRAGS: u8 = 4;
/// Pre-1.0 libbpf also matched this definition as a plain prefix (`SEC_SLOPPY_PFX`).
const SLOPPY: u8 = 8;

/// One row of the table: section pattern, kind, expected attach type, flags.
type Def = (&'static str, ProgramKind, Option<u32>, u8);

#[rustfmt::skip]
fn defs() -> &'static [Def] {
    use ProgramKind as K;
    use attach as A;
    // Same order as libbpf's section_defs[]: the first match wins.
    static DEFS: std::sync::OnceLock<Vec<Def>> = std::sync::OnceLock::new();
    DEFS.get_or_init(|| {
        vec![
            ("socket", K::SocketFilter, None, SLOPPY),
            ("sk_reuseport/migrate", K::SkReuseport, Some(A::SK_REUSEPORT_SELECT_OR_MIGRATE), SLOPPY),
            ("sk_reuseport", K::SkReuseport, Some(A::SK_REUSEPORT_SELECT), SLOPPY),
            ("kprobe+", K::Kprobe, None, TARGET),
            ("uprobe+", K::Uprobe, None, TARGET),
            ("uprobe.s+", K::Uprobe, None, TARGET | SLEEP),
            ("kretprobe+", K::Kretprobe, None, TARGET),
            ("uretprobe+", K::Uretprobe, None, TARGET),
            ("uretprobe.s+", K::Uretprobe, None, TARGET | SLEEP),
            ("kprobe.multi+", K::KprobeMulti, Some(A::TRACE_KPROBE_MULTI), TARGET),
            ("kretprobe.multi+", K::KprobeMulti, Some(A::TRACE_KPROBE_MULTI), TARGET),
            ("kprobe.session+", K::KprobeMulti, Some(A::TRACE_KPROBE_SESSION), TARGET),
            ("uprobe.multi+", K::UprobeMulti, Some(A::TRACE_UPROBE_MULTI), TARGET),
            ("uretprobe.multi+", K::UprobeMulti, Some(A::TRACE_UPROBE_MULTI), TARGET),
            ("uprobe.multi.s+", K::UprobeMulti, Some(A::TRACE_UPROBE_MULTI), TARGET | SLEEP),
            ("uretprobe.multi.s+", K::UprobeMulti, Some(A::TRACE_UPROBE_MULTI), TARGET | SLEEP),
            ("ksyscall+", K::Ksyscall, None, TARGET),
            ("kretsyscall+", K::Ksyscall, None, TARGET),
            ("usdt+", K::Usdt, None, TARGET),
            ("usdt.s+", K::Usdt, None, TARGET | SLEEP),
            ("tc/ingress", K::SchedCls, Some(A::TCX_INGRESS), NONE),
            ("tc/egress", K::SchedCls, Some(A::TCX_EGRESS), NONE),
            ("tcx/ingress", K::SchedCls, Some(A::TCX_INGRESS), NONE),
            ("tcx/egress", K::SchedCls, Some(A::TCX_EGRESS), NONE),
            ("netkit/primary", K::SchedCls, Some(A::NETKIT_PRIMARY), NONE),
            ("netkit/peer", K::SchedCls, Some(A::NETKIT_PEER), NONE),
            ("tc", K::SchedCls, None, SLOPPY),
            ("classifier", K::SchedCls, None, SLOPPY),
            ("action", K::SchedAct, None, SLOPPY),
            ("tracepoint+", K::Tracepoint, None, TARGET),
            ("tp+", K::Tracepoint, None, TARGET),
            ("raw_tracepoint+", K::RawTracepoint, None, TARGET),
            ("raw_tp+", K::RawTracepoint, None, TARGET),
            ("raw_tracepoint.w+", K::RawTracepointWritable, None, TARGET),
            ("raw_tp.w+", K::RawTracepointWritable, None, TARGET),
            ("tp_btf+", K::Tracing, Some(A::TRACE_RAW_TP), TARGET),
            ("fentry+", K::Tracing, Some(A::TRACE_FENTRY), TARGET),
            ("fmod_ret+", K::Tracing, Some(A::MODIFY_RETURN), TARGET),
            ("fexit+", K::Tracing, Some(A::TRACE_FEXIT), TARGET),
            ("fentry.s+", K::Tracing, Some(A::TRACE_FENTRY), TARGET | SLEEP),
            ("fmod_ret.s+", K::Tracing, Some(A::MODIFY_RETURN), TARGET | SLEEP),
            ("fexit.s+", K::Tracing, Some(A::TRACE_FEXIT), TARGET | SLEEP),
            ("freplace+", K::Extension, None, TARGET),
            ("lsm+", K::Lsm, Some(A::LSM_MAC), TARGET),
            ("lsm.s+", K::Lsm, Some(A::LSM_MAC), TARGET | SLEEP),
            ("lsm_cgroup+", K::Lsm, Some(A::LSM_CGROUP), TARGET),
            ("iter+", K::Tracing, Some(A::TRACE_ITER), TARGET),
            ("iter.s+", K::Tracing, Some(A::TRACE_ITER), TARGET | SLEEP),
            ("syscall", K::Syscall, None, SLEEP),
            ("xdp.frags/devmap", K::Xdp, Some(A::XDP_DEVMAP), FRAGS),
            ("xdp/devmap", K::Xdp, Some(A::XDP_DEVMAP), NONE),
            ("xdp.frags/cpumap", K::Xdp, Some(A::XDP_CPUMAP), FRAGS),
            ("xdp/cpumap", K::Xdp, Some(A::XDP_CPUMAP), NONE),
            ("xdp.frags", K::Xdp, Some(A::XDP), FRAGS),
            ("xdp", K::Xdp, Some(A::XDP), SLOPPY),
            ("perf_event", K::PerfEvent, None, SLOPPY),
            ("lwt_in", K::LwtIn, None, SLOPPY),
            ("lwt_out", K::LwtOut, None, SLOPPY),
            ("lwt_xmit", K::LwtXmit, None, SLOPPY),
            ("lwt_seg6local", K::LwtSeg6local, None, SLOPPY),
            ("sockops", K::SockOps, Some(A::CGROUP_SOCK_OPS), SLOPPY),
            ("sk_skb/stream_parser", K::SkSkb, Some(A::SK_SKB_STREAM_PARSER), SLOPPY),
            ("sk_skb/stream_verdict", K::SkSkb, Some(A::SK_SKB_STREAM_VERDICT), SLOPPY),
            ("sk_skb/verdict", K::SkSkb, Some(A::SK_SKB_VERDICT), SLOPPY),
            ("sk_skb", K::SkSkb, None, SLOPPY),
            ("sk_msg", K::SkMsg, Some(A::SK_MSG_VERDICT), SLOPPY),
            ("lirc_mode2", K::LircMode2, Some(A::LIRC_MODE2), SLOPPY),
            ("flow_dissector", K::FlowDissector, Some(A::FLOW_DISSECTOR), SLOPPY),
            ("cgroup_skb/ingress", K::CgroupSkb, Some(A::CGROUP_INET_INGRESS), SLOPPY),
            ("cgroup_skb/egress", K::CgroupSkb, Some(A::CGROUP_INET_EGRESS), SLOPPY),
            ("cgroup/skb", K::CgroupSkb, None, SLOPPY),
            ("cgroup/sock_create", K::CgroupSock, Some(A::CGROUP_INET_SOCK_CREATE), SLOPPY),
            ("cgroup/sock_release", K::CgroupSock, Some(A::CGROUP_INET_SOCK_RELEASE), SLOPPY),
            ("cgroup/sock", K::CgroupSock, Some(A::CGROUP_INET_SOCK_CREATE), SLOPPY),
            ("cgroup/post_bind4", K::CgroupSock, Some(A::CGROUP_INET4_POST_BIND), SLOPPY),
            ("cgroup/post_bind6", K::CgroupSock, Some(A::CGROUP_INET6_POST_BIND), SLOPPY),
            ("cgroup/bind4", K::CgroupSockAddr, Some(A::CGROUP_INET4_BIND), SLOPPY),
            ("cgroup/bind6", K::CgroupSockAddr, Some(A::CGROUP_INET6_BIND), SLOPPY),
            ("cgroup/connect4", K::CgroupSockAddr, Some(A::CGROUP_INET4_CONNECT), SLOPPY),
            ("cgroup/connect6", K::CgroupSockAddr, Some(A::CGROUP_INET6_CONNECT), SLOPPY),
            ("cgroup/connect_unix", K::CgroupSockAddr, Some(A::CGROUP_UNIX_CONNECT), NONE),
            ("cgroup/sendmsg4", K::CgroupSockAddr, Some(A::CGROUP_UDP4_SENDMSG), SLOPPY),
            ("cgroup/sendmsg6", K::CgroupSockAddr, Some(A::CGROUP_UDP6_SENDMSG), SLOPPY),
            ("cgroup/sendmsg_unix", K::CgroupSockAddr, Some(A::CGROUP_UNIX_SENDMSG), NONE),
            ("cgroup/recvmsg4", K::CgroupSockAddr, Some(A::CGROUP_UDP4_RECVMSG), SLOPPY),
            ("cgroup/recvmsg6", K::CgroupSockAddr, Some(A::CGROUP_UDP6_RECVMSG), SLOPPY),
            ("cgroup/recvmsg_unix", K::CgroupSockAddr, Some(A::CGROUP_UNIX_RECVMSG), NONE),
            ("cgroup/getpeername4", K::CgroupSockAddr, Some(A::CGROUP_INET4_GETPEERNAME), SLOPPY),
            ("cgroup/getpeername6", K::CgroupSockAddr, Some(A::CGROUP_INET6_GETPEERNAME), SLOPPY),
            ("cgroup/getpeername_unix", K::CgroupSockAddr, Some(A::CGROUP_UNIX_GETPEERNAME), NONE),
            ("cgroup/getsockname4", K::CgroupSockAddr, Some(A::CGROUP_INET4_GETSOCKNAME), SLOPPY),
            ("cgroup/getsockname6", K::CgroupSockAddr, Some(A::CGROUP_INET6_GETSOCKNAME), SLOPPY),
            ("cgroup/getsockname_unix", K::CgroupSockAddr, Some(A::CGROUP_UNIX_GETSOCKNAME), NONE),
            ("cgroup/sysctl", K::CgroupSysctl, Some(A::CGROUP_SYSCTL), SLOPPY),
            ("cgroup/getsockopt", K::CgroupSockopt, Some(A::CGROUP_GETSOCKOPT), SLOPPY),
            ("cgroup/setsockopt", K::CgroupSockopt, Some(A::CGROUP_SETSOCKOPT), SLOPPY),
            ("cgroup/dev", K::CgroupDevice, Some(A::CGROUP_DEVICE), SLOPPY),
            ("struct_ops+", K::StructOps, None, TARGET),
            ("struct_ops.s+", K::StructOps, None, TARGET | SLEEP),
            ("sk_lookup", K::SkLookup, Some(A::SK_LOOKUP), SLOPPY),
            ("netfilter", K::Netfilter, Some(A::NETFILTER), NONE),
        ]
    })
}

/// Classify a program section name.
pub fn classify(section: &str) -> ProgramSection {
    let table = defs();
    // libbpf 1.x rules first.
    for (pat, kind, attach, flags) in table {
        if let Some(extras) = strict_match(pat, section) {
            return build(kind, *attach, *flags, extras);
        }
    }
    // Pre-1.0 prefix rules: the longest sloppy prefix wins (`cgroup/sock_create` over
    // `cgroup/sock`).
    let sloppy = table
        .iter()
        .filter(|(pat, _, _, flags)| flags & SLOPPY != 0 && section.starts_with(pat))
        .max_by_key(|(pat, ..)| pat.len());
    if let Some((_, kind, attach, flags)) = sloppy {
        return build(kind, *attach, *flags, None);
    }
    ProgramSection {
        kind: ProgramKind::Unspecified(section.to_string()),
        attach_target: None,
        expected_attach_type: None,
        sleepable: false,
        xdp_frags: false,
    }
}

/// `Some(extras)` when `pat` matches `sec` by libbpf 1.x rules (`extras` is the text after
/// `/` for `+` patterns, if any).
fn strict_match<'s>(pat: &str, sec: &'s str) -> Option<Option<&'s str>> {
    if let Some(prefix) = pat.strip_suffix('+') {
        let rest = sec.strip_prefix(prefix)?;
        if rest.is_empty() {
            return Some(None);
        }
        return rest.strip_prefix('/').map(Some);
    }
    if pat.ends_with('/') {
        return sec.strip_prefix(pat).map(Some);
    }
    (pat == sec).then_some(None)
}

fn build(
    kind: &ProgramKind,
    attach: Option<u32>,
    flags: u8,
    extras: Option<&str>,
) -> ProgramSection {
    ProgramSection {
        kind: kind.clone(),
        attach_target: extras
            .filter(|e| flags & TARGET != 0 && !e.is_empty())
            .map(str::to_string),
        expected_attach_type: attach,
        sleepable: flags & SLEEP != 0,
        xdp_frags: flags & FRAGS != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libbpf_names() {
        let c = classify("kprobe/do_sys_open");
        assert_eq!(c.kind, ProgramKind::Kprobe);
        assert_eq!(c.kind.prog_type(), 2);
        assert_eq!(c.attach_target.as_deref(), Some("do_sys_open"));
        let c = classify("tp/sched/sched_switch");
        assert_eq!(c.kind, ProgramKind::Tracepoint);
        assert_eq!(c.attach_target.as_deref(), Some("sched/sched_switch"));
        assert_eq!(classify("xdp").kind, ProgramKind::Xdp);
        assert!(classify("xdp.frags").xdp_frags);
        assert_eq!(
            classify("xdp/devmap").expected_attach_type,
            Some(attach::XDP_DEVMAP)
        );
        assert_eq!(classify("tcx/ingress").kind, ProgramKind::SchedCls);
        assert_eq!(classify("classifier").kind.prog_type(), 3);
        assert_eq!(classify("cgroup_skb/egress").expected_attach_type, Some(1));
        assert_eq!(classify("fentry/tcp_connect").kind, ProgramKind::Tracing);
        assert!(classify("lsm.s/file_open").sleepable);
        assert_eq!(classify("lsm/file_open").kind.prog_type(), 29);
        assert_eq!(
            classify("raw_tp/sys_enter").kind,
            ProgramKind::RawTracepoint
        );
        assert_eq!(classify("syscall").kind.prog_type(), 31);
        assert_eq!(classify("kprobe").attach_target, None);
    }

    #[test]
    fn sloppy_and_unknown() {
        assert_eq!(classify("socket1").kind, ProgramKind::SocketFilter);
        assert_eq!(classify("xdp_prog").kind, ProgramKind::Xdp);
        assert_eq!(
            classify("cgroup/sock_create_x").expected_attach_type,
            Some(attach::CGROUP_INET_SOCK_CREATE)
        );
        // `kprobe` is not sloppy: `kprobeX` is unknown, as in libbpf.
        assert_eq!(
            classify("kprobeX").kind,
            ProgramKind::Unspecified("kprobeX".into())
        );
        assert_eq!(classify("my_section").kind.prog_type(), 0);
    }
}
