//! Context layout offsets and access rules.

use waggle_uapi::ProgramType as P;
use waggle_uapi::context::{AccessModel, CtxAccessError, CtxFieldKind as K, context};

#[test]
fn sk_buff_offsets() {
    let l = context(P::SchedCls).unwrap();
    assert_eq!(l.name, "__sk_buff");
    assert_eq!(l.size, 192);
    let off = |n: &str| l.field(n).unwrap().offset;
    assert_eq!(off("len"), 0);
    assert_eq!(off("mark"), 8);
    assert_eq!(off("cb"), 48);
    assert_eq!(off("data"), 76);
    assert_eq!(off("data_end"), 80);
    assert_eq!(off("data_meta"), 140);
    assert_eq!(off("flow_keys"), 144);
    assert_eq!(off("tstamp"), 152);
    assert_eq!(off("sk"), 168);
    assert_eq!(off("hwtstamp"), 184);
    for p in [
        P::SocketFilter,
        P::CgroupSkb,
        P::SkSkb,
        P::LwtIn,
        P::SchedAct,
    ] {
        assert_eq!(context(p).unwrap().name, "__sk_buff");
    }
}

#[test]
fn socket_filter_cannot_read_packet_pointers() {
    let sf = context(P::SocketFilter).unwrap();
    assert_eq!(
        sf.check_access(76, 4, false),
        Err(CtxAccessError::NotReadable { field: "data" })
    );
    assert!(sf.check_access(80, 4, false).is_err());
    assert_eq!(sf.check_access(0, 4, false), Ok(K::Scalar));
    let tc = context(P::SchedCls).unwrap();
    assert_eq!(tc.check_access(76, 4, false), Ok(K::PacketData));
    assert_eq!(
        tc.check_access(8, 4, true),
        Ok(K::Scalar),
        "mark writable in sched_cls"
    );
    assert!(
        sf.check_access(8, 4, true).is_err(),
        "mark read-only in socket_filter"
    );
    assert_eq!(sf.check_access(48, 4, true), Ok(K::Scalar), "cb writable");
}

#[test]
fn xdp_md() {
    let l = context(P::Xdp).unwrap();
    assert_eq!(l.size, 24);
    assert_eq!(l.field("data_meta").unwrap().offset, 8);
    assert_eq!(l.check_access(0, 4, false), Ok(K::PacketData));
    assert_eq!(l.check_access(4, 4, false), Ok(K::PacketEnd));
    assert_eq!(l.check_access(8, 4, false), Ok(K::PacketMeta));
    assert_eq!(l.check_access(12, 4, false), Ok(K::Scalar));
    assert!(l.check_access(0, 8, false).is_err());
    assert!(l.check_access(12, 4, true).is_err());
    assert!(l.check_access(24, 4, false).is_err());
}

#[test]
fn pt_regs_and_tracing() {
    let k = context(P::Kprobe).unwrap();
    assert_eq!(k.name, "pt_regs");
    assert_eq!(k.size, 168);
    assert_eq!(k.fields.len(), 21);
    assert_eq!(k.field("di").unwrap().offset, 112);
    assert_eq!(k.field("ip").unwrap().offset, 128);
    assert_eq!(k.check_access(112, 8, false), Ok(K::Scalar));
    assert_eq!(k.check_access(116, 4, false), Ok(K::Scalar));
    assert!(k.check_access(112, 8, true).is_err());
    assert!(k.check_access(164, 8, false).is_err());
    assert!(k.check_access(168, 8, false).is_err());

    let tp = context(P::Tracepoint).unwrap();
    assert!(matches!(
        tp.access,
        AccessModel::AlignedReadOnly { start: 8 }
    ));
    assert!(tp.check_access(0, 8, false).is_err(), "hidden header");
    assert_eq!(tp.check_access(8, 8, false), Ok(K::Scalar));
    assert!(tp.check_access(9, 4, false).is_err());

    let raw = context(P::RawTracepoint).unwrap();
    assert_eq!(raw.name, "bpf_raw_tracepoint_args");
    assert_eq!(raw.check_access(88, 8, false), Ok(K::Scalar));
    assert!(raw.check_access(96, 8, false).is_err());

    let pe = context(P::PerfEvent).unwrap();
    assert_eq!(pe.size, 184);
    assert_eq!(pe.field("sample_period").unwrap().offset, 168);
    assert_eq!(pe.field("addr").unwrap().offset, 176);
    assert_eq!(pe.check_access(168, 4, false), Ok(K::Scalar));
    assert!(
        pe.check_access(0, 4, false).is_err(),
        "regs need 8-byte loads"
    );
}

#[test]
fn socket_contexts() {
    let sa = context(P::CgroupSockAddr).unwrap();
    assert_eq!(sa.size, 72);
    assert_eq!(
        sa.check_access(4, 4, true),
        Ok(K::Scalar),
        "user_ip4 writable"
    );
    assert_eq!(
        sa.check_access(8, 8, true),
        Ok(K::Scalar),
        "wide user_ip6 store"
    );
    assert_eq!(sa.check_access(64, 8, false), Ok(K::PtrToSocket));
    assert!(sa.check_access(28, 4, true).is_err(), "family read-only");
    assert!(sa.check_access(60, 4, false).is_err(), "padding");

    let so = context(P::SockOps).unwrap();
    assert_eq!(so.field("sk").unwrap().offset, 184);
    assert_eq!(so.field("skb_tcp_flags").unwrap().offset, 212);
    assert_eq!(so.field("local_port").unwrap().offset, 68);
    assert_eq!(so.check_access(4, 4, true), Ok(K::Scalar), "reply writable");
    assert_eq!(so.check_access(192, 8, false), Ok(K::PacketData));
    assert!(so.check_access(0, 4, true).is_err());

    let msg = context(P::SkMsg).unwrap();
    assert_eq!(msg.check_access(0, 8, false), Ok(K::PacketData));
    assert_eq!(msg.check_access(68, 4, false), Ok(K::Scalar));

    let sock = context(P::CgroupSock).unwrap();
    assert_eq!(
        sock.check_access(16, 4, true),
        Ok(K::Scalar),
        "mark writable"
    );
    assert!(sock.check_access(4, 4, true).is_err());

    let fd = context(P::FlowDissector).unwrap();
    assert_eq!(fd.check_access(144, 8, false), Ok(K::FlowKeys));
}

#[test]
fn plain_and_missing() {
    let plain = context(P::PLAIN).unwrap();
    assert_eq!(plain.access, AccessModel::Plain);
    assert_eq!(
        plain.check_access(0, 4, false),
        Err(CtxAccessError::NoContext)
    );
    assert!(context(P::CgroupSysctl).is_none());
}

#[test]
fn every_layout_is_sorted() {
    for p in P::ALL {
        let Some(l) = context(*p) else { continue };
        for w in l.fields.windows(2) {
            assert!(
                w[0].offset + w[0].size <= w[1].offset,
                "{p}: {} / {}",
                w[0].name,
                w[1].name
            );
        }
        if let Some(last) = l.fields.last() {
            assert!(last.offset + last.size <= l.size, "{p}");
        }
    }
}
