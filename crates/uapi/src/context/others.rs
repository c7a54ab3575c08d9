//! Context layouts other than `__sk_buff`.

use super::{AccessModel, ContextLayout, CtxField, CtxFieldKind as K};

/// A field readable with exactly its size (no narrow loads, no stores).
const fn ro(name: &'static str, offset: u32, size: u32, kind: K) -> CtxField {
    CtxField {
        name,
        offset,
        size,
        kind,
        read: true,
        write: false,
        narrow_read_ok: false,
        any_size: false,
    }
}

/// A scalar readable also with narrower loads.
const fn narrow(name: &'static str, offset: u32, size: u32) -> CtxField {
    let mut f = ro(name, offset, size, K::Scalar);
    f.narrow_read_ok = true;
    f
}

/// Makes a field writable (stores of its full size).
const fn w(mut f: CtxField) -> CtxField {
    f.write = true;
    f
}

/// Waggle's plain type: no struct (r1 = data, r2 = length).
pub(crate) static PLAIN: ContextLayout = ContextLayout {
    name: "plain",
    size: 0,
    fields: &[],
    access: AccessModel::Plain,
    wide: &[],
};

/// `struct xdp_md` (`xdp_is_valid_access`): read-only, 4-byte loads only.
/// `egress_ifindex` is valid only for `BPF_XDP_DEVMAP` programs (attach type
/// ignored here); `rx_queue_index` writes need a device-bound program.
pub(crate) static XDP_MD: ContextLayout = ContextLayout {
    name: "xdp_md",
    size: 24,
    fields: &[
        ro("data", 0, 4, K::PacketData),
        ro("data_end", 4, 4, K::PacketEnd),
        ro("data_meta", 8, 4, K::PacketMeta),
        ro("ingress_ifindex", 12, 4, K::Scalar),
        ro("rx_queue_index", 16, 4, K::Scalar),
        ro("egress_ifindex", 20, 4, K::Scalar),
    ],
    access: AccessModel::Fields,
    wide: &[],
};

/// x86-64 `struct pt_regs` as kprobes see it (`kprobe_prog_is_valid_access`:
/// any aligned read inside the struct, no writes).
pub(crate) static PT_REGS: ContextLayout = ContextLayout {
    name: "pt_regs",
    size: PT_REGS_SIZE,
    fields: &PT_REGS_FIELDS,
    access: AccessModel::AlignedReadOnly { start: 0 },
    wide: &[],
};

/// `sizeof(struct pt_regs)` on x86-64: 21 registers of 8 bytes.
pub(crate) const PT_REGS_SIZE: u32 = 168;

const PT_REGS_FIELDS: [CtxField; 21] = [
    narrow("r15", 0, 8),
    narrow("r14", 8, 8),
    narrow("r13", 16, 8),
    narrow("r12", 24, 8),
    narrow("bp", 32, 8),
    narrow("bx", 40, 8),
    narrow("r11", 48, 8),
    narrow("r10", 56, 8),
    narrow("r9", 64, 8),
    narrow("r8", 72, 8),
    narrow("ax", 80, 8),
    narrow("cx", 88, 8),
    narrow("dx", 96, 8),
    narrow("si", 104, 8),
    narrow("di", 112, 8),
    narrow("orig_ax", 120, 8),
    narrow("ip", 128, 8),
    narrow("cs", 136, 8),
    narrow("flags", 144, 8),
    narrow("sp", 152, 8),
    narrow("ss", 160, 8),
];

/// `PERF_MAX_TRACE_SIZE`: the bound `tp_prog_is_valid_access` checks.
pub(crate) const PERF_MAX_TRACE_SIZE: u32 = 2048;

/// A tracepoint record (`tp_prog_is_valid_access`): the first 8 bytes (the
/// hidden `pt_regs` pointer / common header) are not readable; any aligned
/// read in `[8, PERF_MAX_TRACE_SIZE)` is.
pub(crate) static TRACEPOINT: ContextLayout = ContextLayout {
    name: "tracepoint_record",
    size: PERF_MAX_TRACE_SIZE,
    fields: &[],
    access: AccessModel::AlignedReadOnly { start: 8 },
    wide: &[],
};

/// `MAX_BPF_FUNC_ARGS`: raw tracepoint / tracing programs see up to 12 args.
const MAX_BPF_FUNC_ARGS: u32 = 12;

/// `struct bpf_raw_tracepoint_args { __u64 args[]; }` (`bpf_tracing_ctx_access`:
/// aligned reads in the first 12 × 8 bytes). Also used, as an approximation,
/// for BTF-typed tracing (fentry/fexit) and LSM programs.
pub(crate) static RAW_TP_ARGS: ContextLayout = ContextLayout {
    name: "bpf_raw_tracepoint_args",
    size: MAX_BPF_FUNC_ARGS * 8,
    fields: &[
        narrow("args[0]", 0, 8),
        narrow("args[1]", 8, 8),
        narrow("args[2]", 16, 8),
        narrow("args[3]", 24, 8),
        narrow("args[4]", 32, 8),
        narrow("args[5]", 40, 8),
        narrow("args[6]", 48, 8),
        narrow("args[7]", 56, 8),
        narrow("args[8]", 64, 8),
        narrow("args[9]", 72, 8),
        narrow("args[10]", 80, 8),
        narrow("args[11]", 88, 8),
    ],
    access: AccessModel::AlignedReadOnly { start: 0 },
    wide: &[],
};

const PERF_EVENT_FIELDS: [CtxField; 23] = {
    let mut out = [ro("", 0, 8, K::Scalar); 23];
    let mut i = 0;
    while i < 21 {
        // pe_prog_is_valid_access: regs only with sizeof(long) loads.
        out[i] = ro(
            PT_REGS_FIELDS[i].name,
            PT_REGS_FIELDS[i].offset,
            8,
            K::Scalar,
        );
        i += 1;
    }
    out[21] = narrow("sample_period", 168, 8);
    out[22] = narrow("addr", 176, 8);
    out
};

/// `struct bpf_perf_event_data { regs; sample_period; addr; }`
/// (`pe_prog_is_valid_access`): read-only; `regs` 8-byte loads only,
/// `sample_period`/`addr` narrow loads allowed.
pub(crate) static PERF_EVENT_DATA: ContextLayout = ContextLayout {
    name: "bpf_perf_event_data",
    size: 184,
    fields: &PERF_EVENT_FIELDS,
    access: AccessModel::Fields,
    wide: &[],
};

/// `struct bpf_sock` for cgroup_sock (`sock_filter_is_valid_access`):
/// `bound_dev_if`, `mark`, `priority` writable (sock_create/release hooks),
/// the rest read-only; `src_*` only meaningful for post_bind hooks.
pub(crate) static BPF_SOCK: ContextLayout = ContextLayout {
    name: "bpf_sock",
    size: 80,
    fields: &[
        w(ro("bound_dev_if", 0, 4, K::Scalar)),
        narrow("family", 4, 4),
        narrow("type", 8, 4),
        narrow("protocol", 12, 4),
        w(ro("mark", 16, 4, K::Scalar)),
        w(ro("priority", 20, 4, K::Scalar)),
        narrow("src_ip4", 24, 4),
        narrow("src_ip6[0]", 28, 4),
        narrow("src_ip6[1]", 32, 4),
        narrow("src_ip6[2]", 36, 4),
        narrow("src_ip6[3]", 40, 4),
        narrow("src_port", 44, 4),
        // dst_port is a __be16 followed by 2 bytes of padding; the kernel
        // takes 4-byte loads of the word and 1/2-byte loads of the port.
        // Modelled as one narrow-readable word, so 1/2-byte loads of the
        // padding (offsets 50..52), which the kernel refuses, pass here.
        narrow("dst_port", 48, 4),
        narrow("dst_ip4", 52, 4),
        narrow("dst_ip6[0]", 56, 4),
        narrow("dst_ip6[1]", 60, 4),
        narrow("dst_ip6[2]", 64, 4),
        narrow("dst_ip6[3]", 68, 4),
        narrow("state", 72, 4),
        narrow("rx_queue_mapping", 76, 4),
    ],
    access: AccessModel::Fields,
    wide: &[],
};

/// A 4-byte scalar of `bpf_sock_addr` that is readable (narrow) and writable.
const fn rw_addr(name: &'static str, offset: u32) -> CtxField {
    w(narrow(name, offset, 4))
}

/// `struct bpf_sock_addr` (`sock_addr_is_valid_access`): `user_*` and
/// `msg_src_*` writable, 8-byte accesses inside `user_ip6`/`msg_src_ip6`,
/// `sk` a non-NULL socket.
pub(crate) static BPF_SOCK_ADDR: ContextLayout = ContextLayout {
    name: "bpf_sock_addr",
    size: 72,
    fields: &[
        ro("user_family", 0, 4, K::Scalar),
        rw_addr("user_ip4", 4),
        rw_addr("user_ip6[0]", 8),
        rw_addr("user_ip6[1]", 12),
        rw_addr("user_ip6[2]", 16),
        rw_addr("user_ip6[3]", 20),
        rw_addr("user_port", 24),
        ro("family", 28, 4, K::Scalar),
        ro("type", 32, 4, K::Scalar),
        ro("protocol", 36, 4, K::Scalar),
        rw_addr("msg_src_ip4", 40),
        rw_addr("msg_src_ip6[0]", 44),
        rw_addr("msg_src_ip6[1]", 48),
        rw_addr("msg_src_ip6[2]", 52),
        rw_addr("msg_src_ip6[3]", 56),
        ro("sk", 64, 8, K::PtrToSocket),
    ],
    access: AccessModel::Fields,
    wide: &[(8, 16), (44, 16)],
};

const fn sock_ops_fields() -> [CtxField; 48] {
    let mut out = [ro("", 0, 4, K::Scalar); 48];
    let names: [&str; 37] = [
        "op",
        "reply",
        "args[1]",
        "args[2]",
        "args[3]",
        "family",
        "remote_ip4",
        "local_ip4",
        "remote_ip6[0]",
        "remote_ip6[1]",
        "remote_ip6[2]",
        "remote_ip6[3]",
        "local_ip6[0]",
        "local_ip6[1]",
        "local_ip6[2]",
        "local_ip6[3]",
        "remote_port",
        "local_port",
        "is_fullsock",
        "snd_cwnd",
        "srtt_us",
        "bpf_sock_ops_cb_flags",
        "state",
        "rtt_min",
        "snd_ssthresh",
        "rcv_nxt",
        "snd_nxt",
        "snd_una",
        "mss_cache",
        "ecn_flags",
        "rate_delivered",
        "rate_interval_us",
        "packets_out",
        "retrans_out",
        "total_retrans",
        "segs_in",
        "data_segs_in",
    ];
    let mut i = 0;
    while i < names.len() {
        out[i] = ro(names[i], 4 * i as u32, 4, K::Scalar);
        i += 1;
    }
    // `reply` aliases args[0] (a union); it is writable.
    out[1].write = true;
    out[37] = ro("segs_out", 148, 4, K::Scalar);
    out[38] = ro("data_segs_out", 152, 4, K::Scalar);
    out[39] = ro("lost_out", 156, 4, K::Scalar);
    out[40] = ro("sacked_out", 160, 4, K::Scalar);
    out[41] = w(ro("sk_txhash", 164, 4, K::Scalar));
    out[42] = ro("bytes_received", 168, 8, K::Scalar);
    out[43] = ro("bytes_acked", 176, 8, K::Scalar);
    out[44] = ro("sk", 184, 8, K::PtrToSocketOrNull);
    out[45] = ro("skb_data", 192, 8, K::PacketData);
    out[46] = ro("skb_data_end", 200, 8, K::PacketEnd);
    out[47] = ro("skb_len", 208, 4, K::Scalar);
    out
}

const SOCK_OPS_FIELDS: [CtxField; 50] = {
    let head = sock_ops_fields();
    let mut out = [ro("", 0, 4, K::Scalar); 50];
    let mut i = 0;
    while i < 48 {
        out[i] = head[i];
        i += 1;
    }
    out[48] = narrow("skb_tcp_flags", 212, 4);
    out[49] = ro("skb_hwtstamp", 216, 8, K::Scalar);
    out
};

/// `struct bpf_sock_ops` (`sock_ops_is_valid_access`): 4-byte loads except
/// the 8-byte `bytes_*`, `sk`, `skb_data*`, `skb_hwtstamp` (Linux 6.2+);
/// `skb_tcp_flags` narrow; only `reply` and `sk_txhash` writable.
pub(crate) static BPF_SOCK_OPS: ContextLayout = ContextLayout {
    name: "bpf_sock_ops",
    size: 224,
    fields: &SOCK_OPS_FIELDS,
    access: AccessModel::Fields,
    wide: &[],
};

/// `struct sk_msg_md` (`sk_msg_is_valid_access`): read-only; `data`,
/// `data_end`, `sk` 8-byte loads, the rest 4-byte loads.
pub(crate) static SK_MSG_MD: ContextLayout = ContextLayout {
    name: "sk_msg_md",
    size: 80,
    fields: &[
        ro("data", 0, 8, K::PacketData),
        ro("data_end", 8, 8, K::PacketEnd),
        ro("family", 16, 4, K::Scalar),
        ro("remote_ip4", 20, 4, K::Scalar),
        ro("local_ip4", 24, 4, K::Scalar),
        ro("remote_ip6[0]", 28, 4, K::Scalar),
        ro("remote_ip6[1]", 32, 4, K::Scalar),
        ro("remote_ip6[2]", 36, 4, K::Scalar),
        ro("remote_ip6[3]", 40, 4, K::Scalar),
        ro("local_ip6[0]", 44, 4, K::Scalar),
        ro("local_ip6[1]", 48, 4, K::Scalar),
        ro("local_ip6[2]", 52, 4, K::Scalar),
        ro("local_ip6[3]", 56, 4, K::Scalar),
        ro("remote_port", 60, 4, K::Scalar),
        ro("local_port", 64, 4, K::Scalar),
        ro("size", 68, 4, K::Scalar),
        ro("sk", 72, 8, K::PtrToSocket),
    ],
    access: AccessModel::Fields,
    wide: &[],
};
