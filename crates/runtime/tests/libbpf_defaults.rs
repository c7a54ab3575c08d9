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

#[test]
fn kconfig_externs_read_this_machine_from_a_frozen_map() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs/kconfig.bpf.o");
    let obj = Object::open(&path).expect("object");
    let rt = Runtime::new();
    let loaded = rt.load_object(&obj, 1).expect("loads");
    let kconfig = loaded.map(".kconfig").expect("the .kconfig map");
    let value = rt.map_lookup_elem(kconfig, &0u32.to_ne_bytes()).unwrap();
    let version = u64::from_le_bytes(value[..8].try_into().unwrap());
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let major: u64 = release
        .split('.')
        .next()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    assert_eq!(version >> 16, major, "LINUX_KERNEL_VERSION of {release:?}");
    assert!(
        rt.map_update_elem(kconfig, &0u32.to_ne_bytes(), &value, 0)
            .is_err(),
        "frozen"
    );
    let prog = loaded.program("kconfig_prog").unwrap();
    let packet = [0u8; 64];
    let r = rt
        .prog_test_run(
            prog,
            &waggle_runtime::TestRun {
                data_in: &packet,
                ..Default::default()
            },
        )
        .unwrap();
    // XDP_PASS (2) where the kernel has syscall wrappers (x86-64), XDP_DROP (1) elsewhere.
    let want = if cfg!(target_arch = "x86_64") { 2 } else { 1 };
    assert_eq!(r.retval, want);
    loaded.close(&rt);
    assert_eq!(rt.live_objects(), 0);
}

/// PROG_TEST_RUN of a tracing type without (or with a short) `ctx_in`: the context is the
/// type's whole struct, zero-filled, since the verifier let the program read all of it.
#[test]
fn test_run_context_is_the_whole_struct() {
    let rt = Runtime::new();
    // kprobe: pt_regs is 168 bytes; read its last field (ss, at 160).
    let prog = rt
        .prog_load(&waggle_runtime::ProgLoad {
            prog_type: waggle_runtime::ProgramType::Kprobe,
            name: "last".into(),
            insns: waggle_isa::asm::assemble("ldxdw %r0, [%r1+160]\nadd %r0, 7\nexit").unwrap(),
            license: "GPL".into(),
            ..Default::default()
        })
        .expect("verifies");
    for ctx in [None, Some(&[1u8; 8][..])] {
        let r = rt
            .prog_test_run(
                prog,
                &waggle_runtime::TestRun {
                    ctx_in: ctx,
                    ..Default::default()
                },
            )
            .expect("runs");
        assert_eq!(r.retval, 7, "ctx {ctx:?}");
        assert_eq!(r.ctx_out.len(), ctx.map_or(168, <[u8]>::len));
    }
    rt.close(prog).unwrap();
}
