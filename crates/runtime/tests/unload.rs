//! Unloading returns every byte: kept alone in its own test binary because
//! `waggle_maps::allocated_bytes()` counts the whole process, so a test running maps in
//! parallel would disturb the measurement.

use std::path::PathBuf;
use waggle_object::Object;
use waggle_runtime::{Runtime, TestRun};

fn corpus(name: &str) -> Object {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/progs")
        .join(name);
    Object::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn u64_at(bytes: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(bytes[off..off + 8].try_into().unwrap())
}

#[test]
fn xdp_maps_counts_packets_and_unloads_cleanly() {
    // Runs are counted while statistics are on (as with Linux's bpf_stats_enabled).
    let _stats = waggle_runtime::enable_stats();
    let bytes_before = waggle_maps::allocated_bytes();
    let rt = Runtime::new();
    let loaded = rt
        .load_object(&corpus("xdp_maps.bpf.o"), 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let prog = loaded.program("xdp_count").unwrap();
    let counts = loaded.map("counts").unwrap();
    let stats = loaded.map("stats").unwrap();

    let packets: [&[u8]; 4] = [&[7, 1, 2, 3], &[7; 60], &[9; 10], &[]];
    let mut rets = Vec::new();
    for p in packets {
        rets.push(
            rt.prog_test_run(
                prog,
                &TestRun {
                    data_in: p,
                    ..TestRun::default()
                },
            )
            .unwrap(),
        );
    }
    // XDP_PASS = 2 for non-empty packets, XDP_DROP = 1 for the empty one.
    assert_eq!(
        rets.iter().map(|r| r.retval).collect::<Vec<_>>(),
        vec![2, 2, 2, 1]
    );
    assert_eq!(rets[1].data_out, vec![7; 60]);

    let v = rt.map_lookup_elem(counts, &7u32.to_ne_bytes()).unwrap();
    assert_eq!(u64::from_ne_bytes(v.try_into().unwrap()), 2);
    let v = rt.map_lookup_elem(counts, &9u32.to_ne_bytes()).unwrap();
    assert_eq!(u64::from_ne_bytes(v.try_into().unwrap()), 1);
    let s = rt.map_lookup_elem(stats, &0u32.to_ne_bytes()).unwrap();
    assert_eq!((u64_at(&s, 0), u64_at(&s, 8)), (3, 74));
    assert_eq!(rt.map_dump(counts).unwrap().len(), 2);

    let info = rt.obj_get_info(prog).unwrap();
    let waggle_runtime::Info::Program(info) = info else {
        panic!("not a program")
    };
    assert_eq!(info.run_count, 4);

    loaded.close(&rt);
    assert_eq!(rt.open_handles(), 0);
    assert_eq!(
        rt.live_objects(),
        0,
        "everything is freed once the handles are closed"
    );
    drop(rt);
    assert_eq!(
        waggle_maps::allocated_bytes(),
        bytes_before,
        "map storage returned"
    );
}
