//! Helper table spot checks against the kernel's `bpf_func_proto`s.

use waggle_uapi::helpers::max_helper_id;
use waggle_uapi::{
    ArgKind as A, Caps, HELPERS, ProgramType as P, RetKind as R, helper, helper_allowed,
    helper_allowed_with, helper_by_name,
};

fn args(id: u32) -> Vec<A> {
    let h = helper(id).unwrap();
    h.args[..h.arg_count()].to_vec()
}

#[test]
fn ids_unique_and_contiguous() {
    assert_eq!(HELPERS.len(), 211);
    for (i, h) in HELPERS.iter().enumerate() {
        assert_eq!(h.id as usize, i + 1, "{}", h.name);
        assert!(!h.name.starts_with("bpf_"));
        // DontCare only after the used arguments.
        let n = h.arg_count();
        assert!(h.args[n..].iter().all(|a| *a == A::DontCare), "{}", h.name);
    }
    assert_eq!(max_helper_id(), 211);
    assert!(helper(0).is_none());
    assert!(helper(212).is_none());
}

#[test]
fn names_round_trip() {
    let mut seen = std::collections::HashSet::new();
    for h in HELPERS {
        assert!(seen.insert(h.name), "duplicate {}", h.name);
        assert_eq!(helper_by_name(h.name).unwrap().id, h.id);
        assert_eq!(helper_by_name(&h.c_name()).unwrap().id, h.id);
    }
    assert!(helper_by_name("no_such_helper").is_none());
}

#[test]
fn map_helpers() {
    let h = helper(1).unwrap();
    assert_eq!(h.name, "map_lookup_elem");
    assert_eq!(h.ret, R::PtrToMapValueOrNull);
    assert_eq!(args(1), [A::ConstMapPtr, A::PtrToMapKey]);
    assert!(h.pkt_access && !h.gpl_only);
    assert_eq!(helper(2).unwrap().name, "map_update_elem");
    assert_eq!(
        args(2),
        [
            A::ConstMapPtr,
            A::PtrToMapKey,
            A::PtrToMapValue,
            A::Anything
        ]
    );
    assert_eq!(args(3), [A::ConstMapPtr, A::PtrToMapKey]);
    assert_eq!(args(87), [A::ConstMapPtr, A::PtrToMapValue, A::Anything]);
    assert_eq!(args(88), [A::ConstMapPtr, A::PtrToUninitMapValue]);
    assert_eq!(helper(89).unwrap().name, "map_peek_elem");
    assert_eq!(helper(195).unwrap().name, "map_lookup_percpu_elem");
    assert_eq!(args(195), [A::ConstMapPtr, A::PtrToMapKey, A::Anything]);
}

#[test]
fn ringbuf_helpers() {
    let r = helper(131).unwrap();
    assert_eq!(r.name, "ringbuf_reserve");
    assert_eq!(r.ret, R::PtrToRingbufMemOrNull);
    assert!(r.ret.may_be_null() && r.acquires_ref);
    assert_eq!(
        args(131),
        [A::ConstMapPtr, A::ConstAllocSizeOrZero, A::Anything]
    );
    for id in [132, 133] {
        let h = helper(id).unwrap();
        assert_eq!(h.ret, R::Void);
        assert_eq!(h.release_arg(), Some(0));
        assert_eq!(args(id), [A::PtrToRingbufMem, A::Anything]);
    }
    assert_eq!(
        args(130),
        [A::ConstMapPtr, A::PtrToMem, A::ConstSizeOrZero, A::Anything]
    );
    assert_eq!(helper(134).unwrap().name, "ringbuf_query");
}

#[test]
fn tracing_helpers() {
    for (id, name) in [
        (4, "probe_read"),
        (45, "probe_read_str"),
        (112, "probe_read_user"),
        (113, "probe_read_kernel"),
        (114, "probe_read_user_str"),
        (115, "probe_read_kernel_str"),
    ] {
        let h = helper(id).unwrap();
        assert_eq!(h.name, name);
        assert!(h.gpl_only);
        assert_eq!(
            args(id),
            [A::PtrToUninitMem, A::ConstSizeOrZero, A::Anything]
        );
    }
    assert_eq!(args(6), [A::PtrToMem, A::ConstSize]);
    assert!(helper(6).unwrap().gpl_only);
    assert_eq!(args(16), [A::PtrToUninitMem, A::ConstSize]);
    assert_eq!(
        args(25),
        [
            A::PtrToCtx,
            A::ConstMapPtr,
            A::Anything,
            A::PtrToMem,
            A::ConstSizeOrZero
        ]
    );
    assert_eq!(
        args(67),
        [
            A::PtrToCtx,
            A::PtrToUninitMem,
            A::ConstSizeOrZero,
            A::Anything
        ]
    );
    assert_eq!(args(173), [A::PtrToCtx]);
    assert_eq!(helper(174).unwrap().name, "get_attach_cookie");
    assert!(helper(148).unwrap().might_sleep, "copy_from_user sleeps");
    for id in [5, 7, 8, 14, 15, 42, 118, 125, 160] {
        assert_eq!(helper(id).unwrap().ret, R::Integer);
        assert_eq!(helper(id).unwrap().arg_count(), 0, "{id}");
    }
}

#[test]
fn callbacks_and_strings() {
    let l = helper(181).unwrap();
    assert_eq!(l.name, "loop");
    assert_eq!(
        args(181),
        [A::Anything, A::PtrToFunc, A::PtrToStackOrNull, A::Anything]
    );
    assert_eq!(
        args(164),
        [
            A::ConstMapPtr,
            A::PtrToFunc,
            A::PtrToStackOrNull,
            A::Anything
        ]
    );
    assert_eq!(args(182), [A::PtrToMem, A::ConstSize, A::PtrToConstStr]);
    assert_eq!(
        args(105),
        [A::PtrToMem, A::ConstSize, A::Anything, A::PtrToLong]
    );
    assert_eq!(
        args(106),
        [A::PtrToMem, A::ConstSize, A::Anything, A::PtrToLong]
    );
    assert_eq!(
        args(165),
        [
            A::PtrToWritableMemOrNull,
            A::ConstSizeOrZero,
            A::PtrToConstStr,
            A::PtrToMemOrNull,
            A::ConstSizeOrZero
        ]
    );
    assert_eq!(args(93), [A::PtrToSpinLock]);
    assert_eq!(helper(94).unwrap().ret, R::Void);
    assert_eq!(args(169), [A::PtrToTimer, A::ConstMapPtr, A::Anything]);
}

#[test]
fn packet_helpers() {
    assert_eq!(args(12), [A::PtrToCtx, A::ConstMapPtr, A::Anything]);
    assert_eq!(helper(12).unwrap().ret, R::Void);
    assert_eq!(args(23), [A::Anything, A::Anything]);
    assert_eq!(args(51), [A::ConstMapPtr, A::Anything, A::Anything]);
    for id in [44, 54, 65] {
        let h = helper(id).unwrap();
        assert_eq!(args(id), [A::PtrToCtx, A::Anything]);
        assert!(h.changes_pkt_data, "{}", h.name);
    }
    let c = helper(28).unwrap();
    assert_eq!(c.name, "csum_diff");
    assert!(c.pkt_access);
    assert_eq!(
        args(28),
        [
            A::PtrToMemOrNull,
            A::ConstSizeOrZero,
            A::PtrToMemOrNull,
            A::ConstSizeOrZero,
            A::Anything
        ]
    );
    assert_eq!(helper(84).unwrap().ret, R::PtrToSocketOrNull);
    assert!(helper(84).unwrap().acquires_ref);
    assert_eq!(helper(86).unwrap().release_arg(), Some(0));
    assert!(!helper(95).unwrap().acquires_ref, "sk_fullsock borrows");
}

#[test]
fn confirmed_covers_issue_list() {
    // The helpers the verifier checks (issue 3 item 3) were read in the kernel source.
    let list = [
        1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 23, 25, 28, 42, 44, 45, 51, 54, 65, 67, 87, 88, 89,
        93, 94, 105, 106, 112, 113, 114, 115, 118, 125, 130, 131, 132, 133, 134, 160, 164, 165,
        173, 174, 181, 182, 195,
    ];
    for id in list {
        assert!(
            helper(id).unwrap().confirmed,
            "{}",
            helper(id).unwrap().name
        );
    }
    let n = HELPERS.iter().filter(|h| h.confirmed).count();
    assert!(n >= 180, "{n}");
}

#[test]
fn availability() {
    assert!(helper_allowed(P::Xdp, 44));
    assert!(!helper_allowed(P::SocketFilter, 44));
    assert!(helper_allowed(P::Kprobe, 14));
    assert!(helper_allowed(P::Kprobe, 16));
    // Since Linux 6.10 bpf_base_func_proto offers get_current_pid_tgid to
    // every program type; get_current_comm stays tracing/cgroup only.
    assert!(helper_allowed(P::Xdp, 14));
    assert!(!helper_allowed(P::Xdp, 16));
    assert!(!helper_allowed(P::SchedCls, 16));
    for p in P::ALL {
        if *p != P::Ext {
            assert!(helper_allowed(*p, 1), "{p}: map_lookup_elem");
            assert!(helper_allowed(*p, 131), "{p}: ringbuf_reserve");
        }
        assert!(!helper_allowed(*p, 0));
        assert!(!helper_allowed(*p, 999));
    }
    assert!(helper_allowed(P::SchedCls, 9) && !helper_allowed(P::Xdp, 9));
    assert!(helper_allowed(P::Xdp, 51) && helper_allowed(P::Xdp, 69));
    assert!(helper_allowed(P::SocketFilter, 26));
    assert!(
        !helper_allowed(P::SocketFilter, 9),
        "socket filters cannot write packets"
    );
    assert!(helper_allowed(P::Kprobe, 113) && helper_allowed(P::Tracepoint, 67));
    assert!(helper_allowed(P::Kprobe, 58) && !helper_allowed(P::Tracepoint, 58));
    assert!(helper_allowed(P::Tracing, 183) && !helper_allowed(P::Kprobe, 183));
    assert!(helper_allowed(P::Xdp, 181) && helper_allowed(P::Xdp, 93));
    assert!(helper_allowed(P::PLAIN, 16) && helper_allowed(P::PLAIN, 181));
    // Application hooks attach plain programs through links with cookies.
    assert!(helper_allowed(P::PLAIN, 174) && !helper_allowed(P::SocketFilter, 174));
    // Unprivileged loaders lose the CAP_BPF and CAP_PERFMON tiers.
    assert!(helper_allowed_with(P::SocketFilter, 1, Caps::UNPRIVILEGED));
    assert!(!helper_allowed_with(
        P::SocketFilter,
        181,
        Caps::UNPRIVILEGED
    ));
    assert!(!helper_allowed_with(P::SocketFilter, 6, Caps::UNPRIVILEGED));
    assert!(helper_allowed_with(P::SocketFilter, 6, Caps::PRIVILEGED));
}
