//! Device maps, cgroup arrays and stack trace maps (devmap.c, arraymap.c, stackmap.c):
//! created with the kernel's checks, holding what user space puts in them; programs may only
//! read device maps.

use crate::{create, k, spec};
use waggle_maps::{MapError, MapType, flags::*, update::*};

#[test]
fn devmap_checks_like_the_kernel() {
    for t in [MapType::Devmap, MapType::DevmapHash] {
        create(spec(t, 4, 4, 8), 1);
        create(spec(t, 4, 8, 8), 1);
        for (key, value, max) in [(4, 12, 8), (8, 4, 8), (4, 4, 0), (4, 0, 8)] {
            let r = waggle_maps::Map::create(&spec(t, key, value, max));
            assert!(
                matches!(r, Err(MapError::Invalid(_))),
                "{t:?} key {key} value {value} max {max}"
            );
        }
        let r = waggle_maps::Map::create(&spec(t, 4, 4, 8).with_flags(BPF_F_MMAPABLE));
        assert!(matches!(r, Err(MapError::Invalid(_))), "{t:?} flags");
    }
}

#[test]
fn devmap_holds_interfaces_and_is_read_only_for_programs() {
    for t in [MapType::Devmap, MapType::DevmapHash] {
        let m = create(spec(t, 4, 4, 8), 1);
        assert_ne!(m.spec().flags & BPF_F_RDONLY_PROG, 0, "{t:?}");
        m.update(&k(3), &7u32.to_ne_bytes(), BPF_ANY).unwrap();
        let mut v = [0u8; 4];
        m.lookup(&k(3), &mut v).unwrap();
        assert_eq!(u32::from_ne_bytes(v), 7);
        // What bpf_redirect_map looks up.
        assert!(m.lookup_ptr(&k(3), 0).is_some());
        assert!(matches!(
            m.prog_update(&k(3), &9u32.to_ne_bytes(), BPF_ANY, 0),
            Err(MapError::PermissionDenied(_))
        ));
    }
    let hash = create(spec(MapType::DevmapHash, 4, 4, 8), 1);
    assert!(
        hash.lookup_ptr(&k(5), 0).is_none(),
        "a hash has only what was put in"
    );
}

#[test]
fn cgroup_array_takes_four_byte_handles() {
    let m = create(spec(MapType::CgroupArray, 4, 4, 4), 1);
    m.update(&k(0), &5u32.to_ne_bytes(), BPF_ANY).unwrap();
    let r = waggle_maps::Map::create(&spec(MapType::CgroupArray, 4, 8, 4));
    assert!(matches!(r, Err(MapError::Invalid(_))));
}

#[test]
fn stack_trace_maps_check_like_the_kernel() {
    create(spec(MapType::StackTrace, 4, 127 * 8, 16), 1);
    create(
        spec(MapType::StackTrace, 4, 64, 16).with_flags(BPF_F_STACK_BUILD_ID),
        1,
    );
    // libbpf-tools' capable declares one without value_size and max_entries: EINVAL.
    for (key, value, max) in [
        (4, 0, 0),
        (4, 0, 16),
        (4, 64, 0),
        (8, 64, 16),
        (4, 12, 16),
        (4, 128 * 8, 16),
    ] {
        let r = waggle_maps::Map::create(&spec(MapType::StackTrace, key, value, max));
        assert!(
            matches!(r, Err(MapError::Invalid(_))),
            "key {key} value {value} max {max}"
        );
    }
    let r = waggle_maps::Map::create(
        &spec(MapType::StackTrace, 4, 40, 16).with_flags(BPF_F_STACK_BUILD_ID),
    );
    assert!(
        matches!(r, Err(MapError::Invalid(_))),
        "build ids are 32 bytes each"
    );
}
