//! `struct __sk_buff` and its per-program-type access rules.
//!
//! [`BASE`] encodes `bpf_skb_is_valid_access` (what any skb program may do
//! at most); each program type's layout is derived from it by the deny and
//! write sets of its own `*_is_valid_access` in net/core/filter.c.

use super::{AccessModel, ContextLayout, CtxField, CtxFieldKind as K};

const fn f(name: &'static str, offset: u32, size: u32, kind: K, narrow: bool) -> CtxField {
    CtxField {
        name,
        offset,
        size,
        kind,
        read: true,
        write: false,
        narrow_read_ok: narrow,
        any_size: false,
    }
}

/// Field indices into [`BASE`], for the per-type rules.
mod ix {
    pub const MARK: usize = 2;
    pub const QUEUE_MAPPING: usize = 3;
    pub const PRIORITY: usize = 8;
    pub const TC_INDEX: usize = 11;
    pub const CB: usize = 12;
    pub const TC_CLASSID: usize = 14;
    pub const DATA: usize = 15;
    pub const DATA_END: usize = 16;
    pub const FAMILY: usize = 18;
    pub const LOCAL_PORT: usize = 30;
    pub const DATA_META: usize = 31;
    pub const FLOW_KEYS: usize = 32;
    pub const TSTAMP: usize = 33;
    pub const WIRE_LEN: usize = 34;
    pub const TSTAMP_TYPE: usize = 38;
    pub const HWTSTAMP: usize = 39;
}

const N: usize = 40;

/// `sizeof(struct __sk_buff)`.
pub(crate) const SKB_SIZE: u32 = 192;

/// `bpf_skb_is_valid_access`: every field readable except `flow_keys` and
/// `tstamp_type`; ip/packet pointer fields only with 4-byte loads; `tstamp`,
/// `hwtstamp` and `sk` only with 8-byte loads; nothing writable yet.
const BASE: [CtxField; N] = {
    let mut cb = f("cb", 48, 20, K::Scalar, true);
    cb.any_size = true;
    let mut flow_keys = f("flow_keys", 144, 8, K::FlowKeys, false);
    flow_keys.read = false;
    let mut tstamp_type = f("tstamp_type", 180, 1, K::Scalar, false);
    tstamp_type.read = false;
    [
        f("len", 0, 4, K::Scalar, true),
        f("pkt_type", 4, 4, K::Scalar, true),
        f("mark", 8, 4, K::Scalar, true),
        f("queue_mapping", 12, 4, K::Scalar, true),
        f("protocol", 16, 4, K::Scalar, true),
        f("vlan_present", 20, 4, K::Scalar, true),
        f("vlan_tci", 24, 4, K::Scalar, true),
        f("vlan_proto", 28, 4, K::Scalar, true),
        f("priority", 32, 4, K::Scalar, true),
        f("ingress_ifindex", 36, 4, K::Scalar, true),
        f("ifindex", 40, 4, K::Scalar, true),
        f("tc_index", 44, 4, K::Scalar, true),
        cb,
        f("hash", 68, 4, K::Scalar, true),
        f("tc_classid", 72, 4, K::Scalar, true),
        f("data", 76, 4, K::PacketData, false),
        f("data_end", 80, 4, K::PacketEnd, false),
        f("napi_id", 84, 4, K::Scalar, true),
        f("family", 88, 4, K::Scalar, true),
        f("remote_ip4", 92, 4, K::Scalar, false),
        f("local_ip4", 96, 4, K::Scalar, false),
        f("remote_ip6[0]", 100, 4, K::Scalar, false),
        f("remote_ip6[1]", 104, 4, K::Scalar, false),
        f("remote_ip6[2]", 108, 4, K::Scalar, false),
        f("remote_ip6[3]", 112, 4, K::Scalar, false),
        f("local_ip6[0]", 116, 4, K::Scalar, false),
        f("local_ip6[1]", 120, 4, K::Scalar, false),
        f("local_ip6[2]", 124, 4, K::Scalar, false),
        f("local_ip6[3]", 128, 4, K::Scalar, false),
        f("remote_port", 132, 4, K::Scalar, true),
        f("local_port", 136, 4, K::Scalar, true),
        f("data_meta", 140, 4, K::PacketMeta, false),
        flow_keys,
        f("tstamp", 152, 8, K::Scalar, false),
        f("wire_len", 160, 4, K::Scalar, true),
        f("gso_segs", 164, 4, K::Scalar, true),
        f("sk", 168, 8, K::PtrToSockCommonOrNull, false),
        f("gso_size", 176, 4, K::Scalar, true),
        tstamp_type,
        f("hwtstamp", 184, 8, K::Scalar, false),
    ]
};

/// Bit mask of field indices.
const fn bits(ix: &[usize]) -> u64 {
    let mut m = 0u64;
    let mut i = 0;
    while i < ix.len() {
        m |= 1 << ix[i];
        i += 1;
    }
    m
}

/// Bits of `family` .. `local_port` (`bpf_ctx_range_till(family, local_port)`).
const SOCK_FIELDS: u64 = {
    let mut m = 0u64;
    let mut i = ix::FAMILY;
    while i <= ix::LOCAL_PORT {
        m |= 1 << i;
        i += 1;
    }
    m
};

/// Derives a layout from [`BASE`]: fields in `deny` become unreadable,
/// fields in `write` writable; `extra_read` makes base-denied fields readable.
const fn derive(deny: u64, write: u64, extra_read: u64) -> [CtxField; N] {
    let mut out = BASE;
    let mut i = 0;
    while i < N {
        let bit = 1u64 << i;
        if extra_read & bit != 0 {
            out[i].read = true;
        }
        if deny & bit != 0 {
            out[i].read = false;
        }
        if write & bit != 0 && deny & bit == 0 {
            out[i].write = true;
        }
        i += 1;
    }
    out
}

const fn layout(fields: &'static [CtxField]) -> ContextLayout {
    ContextLayout {
        name: "__sk_buff",
        size: SKB_SIZE,
        fields,
        access: AccessModel::Fields,
        wide: &[],
    }
}

const CB_BIT: u64 = bits(&[ix::CB]);

static SOCKET_FILTER_FIELDS: [CtxField; N] = derive(
    bits(&[
        ix::TC_CLASSID,
        ix::DATA,
        ix::DATA_META,
        ix::DATA_END,
        ix::TSTAMP,
        ix::WIRE_LEN,
        ix::HWTSTAMP,
    ]) | SOCK_FIELDS,
    CB_BIT,
    0,
);

/// socket_filter (`sk_filter_is_valid_access`): no direct packet access
/// (`data`, `data_end`, `data_meta` unreadable), no socket fields, only
/// `cb[]` writable.
pub(crate) static SOCKET_FILTER: ContextLayout = layout(&SOCKET_FILTER_FIELDS);

static SCHED_CLS_FIELDS: [CtxField; N] = derive(
    SOCK_FIELDS,
    bits(&[
        ix::MARK,
        ix::TC_INDEX,
        ix::PRIORITY,
        ix::TC_CLASSID,
        ix::TSTAMP,
        ix::QUEUE_MAPPING,
    ]) | CB_BIT,
    bits(&[ix::TSTAMP_TYPE]),
);

/// sched_cls / sched_act (`tc_cls_act_is_valid_access`): direct packet
/// access incl. `data_meta`; writes to mark, tc_index, priority,
/// tc_classid, cb[], tstamp, queue_mapping; `tstamp_type` readable (1 byte).
pub(crate) static SCHED_CLS: ContextLayout = layout(&SCHED_CLS_FIELDS);

static CGROUP_SKB_FIELDS: [CtxField; N] = derive(
    bits(&[ix::TC_CLASSID, ix::DATA_META, ix::WIRE_LEN]),
    bits(&[ix::MARK, ix::PRIORITY, ix::TSTAMP]) | CB_BIT,
    0,
);

/// cgroup_skb (`cg_skb_is_valid_access`), assuming CAP_BPF: `data`/`data_end`
/// readable, writes to mark, priority, cb[], tstamp.
pub(crate) static CGROUP_SKB: ContextLayout = layout(&CGROUP_SKB_FIELDS);

static SK_SKB_FIELDS: [CtxField; N] = derive(
    bits(&[
        ix::TC_CLASSID,
        ix::DATA_META,
        ix::TSTAMP,
        ix::WIRE_LEN,
        ix::HWTSTAMP,
        ix::MARK,
    ]),
    bits(&[ix::TC_INDEX, ix::PRIORITY]),
    0,
);

/// sk_skb (`sk_skb_is_valid_access`): `data`/`data_end` readable, `mark`
/// inaccessible, writes to tc_index and priority only.
pub(crate) static SK_SKB: ContextLayout = layout(&SK_SKB_FIELDS);

static LWT_FIELDS: [CtxField; N] = derive(
    bits(&[
        ix::TC_CLASSID,
        ix::DATA_META,
        ix::TSTAMP,
        ix::WIRE_LEN,
        ix::HWTSTAMP,
    ]) | SOCK_FIELDS,
    bits(&[ix::MARK, ix::PRIORITY]) | CB_BIT,
    0,
);

/// lwt_in / lwt_out / lwt_xmit / lwt_seg6local (`lwt_is_valid_access`).
pub(crate) static LWT: ContextLayout = layout(&LWT_FIELDS);

/// flow_dissector (`flow_dissector_is_valid_access`): only `data`,
/// `data_end` (4 bytes) and `flow_keys` (8 bytes), read-only.
const FLOW_DISSECTOR_FIELDS: [CtxField; 3] = {
    let mut keys = BASE[ix::FLOW_KEYS];
    keys.read = true;
    [BASE[ix::DATA], BASE[ix::DATA_END], keys]
};

/// flow_dissector layout (subset of `__sk_buff`).
pub(crate) static FLOW_DISSECTOR: ContextLayout = layout(&FLOW_DISSECTOR_FIELDS);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::CtxAccessError;

    #[test]
    fn indices_match_names() {
        assert_eq!(BASE[ix::MARK].name, "mark");
        assert_eq!(BASE[ix::QUEUE_MAPPING].name, "queue_mapping");
        assert_eq!(BASE[ix::PRIORITY].name, "priority");
        assert_eq!(BASE[ix::TC_INDEX].name, "tc_index");
        assert_eq!(BASE[ix::CB].name, "cb");
        assert_eq!(BASE[ix::TC_CLASSID].name, "tc_classid");
        assert_eq!(BASE[ix::DATA].name, "data");
        assert_eq!(BASE[ix::DATA_END].name, "data_end");
        assert_eq!(BASE[ix::FAMILY].name, "family");
        assert_eq!(BASE[ix::LOCAL_PORT].name, "local_port");
        assert_eq!(BASE[ix::DATA_META].name, "data_meta");
        assert_eq!(BASE[ix::FLOW_KEYS].name, "flow_keys");
        assert_eq!(BASE[ix::TSTAMP].name, "tstamp");
        assert_eq!(BASE[ix::WIRE_LEN].name, "wire_len");
        assert_eq!(BASE[ix::TSTAMP_TYPE].name, "tstamp_type");
        assert_eq!(BASE[ix::HWTSTAMP].name, "hwtstamp");
    }

    #[test]
    fn fields_sorted_and_disjoint() {
        for w in BASE.windows(2) {
            assert!(
                w[0].offset + w[0].size <= w[1].offset,
                "{} / {}",
                w[0].name,
                w[1].name
            );
        }
        let last = BASE[N - 1];
        assert_eq!(last.offset + last.size, SKB_SIZE);
    }

    #[test]
    fn socket_filter_rules() {
        let l = &SOCKET_FILTER;
        assert!(matches!(
            l.check_access(76, 4, false),
            Err(CtxAccessError::NotReadable { .. })
        ));
        assert_eq!(l.check_access(0, 4, false), Ok(K::Scalar));
        assert_eq!(
            l.check_access(0, 1, false),
            Ok(K::Scalar),
            "narrow read of len"
        );
        assert!(l.check_access(8, 4, true).is_err(), "mark not writable");
        assert_eq!(l.check_access(52, 4, true), Ok(K::Scalar), "cb[1] writable");
        assert_eq!(
            l.check_access(56, 8, true),
            Ok(K::Scalar),
            "8-byte cb write"
        );
        assert!(l.check_access(64, 8, true).is_err(), "past cb[4]");
        assert!(l.check_access(2, 4, false).is_err(), "misaligned");
    }

    #[test]
    fn sched_cls_rules() {
        let l = &SCHED_CLS;
        assert_eq!(l.check_access(76, 4, false), Ok(K::PacketData));
        assert_eq!(l.check_access(80, 4, false), Ok(K::PacketEnd));
        assert_eq!(l.check_access(140, 4, false), Ok(K::PacketMeta));
        assert!(l.check_access(76, 2, false).is_err(), "narrow data load");
        assert_eq!(l.check_access(8, 4, true), Ok(K::Scalar), "mark writable");
        assert!(l.check_access(8, 2, true).is_err(), "narrow write");
        assert!(l.check_access(0, 4, true).is_err(), "len read-only");
        assert_eq!(l.check_access(168, 8, false), Ok(K::PtrToSockCommonOrNull));
        assert_eq!(l.check_access(180, 1, false), Ok(K::Scalar));
        assert!(l.check_access(181, 1, false).is_err(), "padding");
        assert!(l.check_access(88, 4, false).is_err(), "family denied");
        assert!(l.check_access(144, 8, false).is_err(), "flow_keys");
    }

    #[test]
    fn other_skb_types() {
        assert_eq!(CGROUP_SKB.check_access(76, 4, false), Ok(K::PacketData));
        assert!(CGROUP_SKB.check_access(140, 4, false).is_err());
        assert!(
            SK_SKB.check_access(8, 4, false).is_err(),
            "mark denied in sk_skb"
        );
        assert_eq!(
            SK_SKB.check_access(44, 4, true),
            Ok(K::Scalar),
            "tc_index writable"
        );
        assert_eq!(LWT.check_access(8, 4, true), Ok(K::Scalar));
        assert_eq!(FLOW_DISSECTOR.check_access(144, 8, false), Ok(K::FlowKeys));
        assert!(FLOW_DISSECTOR.check_access(0, 4, false).is_err());
    }
}
