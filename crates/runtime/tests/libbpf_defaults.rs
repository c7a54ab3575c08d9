//! What libbpf fills in for a map definition, done the same way by the runtime's loader.

use std::path::PathBuf;
use waggle_object::Object;
use waggle_runtime::{Info, Runtime};

#[test]
fn perf_event_array_without_max_entries_gets_one_entry_per_cpu() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs/perf_unsized.bpf.o");
    let obj = Object::open(&path).expect("object");
    assert_eq!(obj.maps[0].max_entries, 0, "declared without max_entries");
    let rt = Runtime::new();
    let loaded = rt.load_object(&obj, 1).expect("libbpf loads it");
    let map = loaded.map("events").expect("events map");
    let Info::Map(info) = rt.obj_get_info(map).expect("info") else {
        panic!("not a map");
    };
    assert_eq!(info.max_entries, waggle_maps::possible_cpus());
    loaded.close(&rt);
    assert_eq!(rt.live_objects(), 0);
}
