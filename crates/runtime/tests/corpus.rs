//! End-to-end: corpus objects loaded into the runtime, run on inputs, maps checked, unloaded.

use std::path::PathBuf;
use waggle_object::Object;
use waggle_runtime::{Runtime, TestRun};

fn corpus(name: &str) -> Object {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/progs")
        .join(name);
    Object::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn globals_are_initialised_and_shared_with_user_space() {
    let rt = Runtime::new();
    let obj = corpus("globals.bpf.o");
    let loaded = rt.load_object(&obj, 1).unwrap_or_else(|e| panic!("{e}"));
    for (name, h) in &loaded.programs {
        let r = rt.prog_test_run(
            *h,
            &TestRun {
                data_in: &[0u8; 64],
                ..TestRun::default()
            },
        );
        assert!(r.is_ok(), "{name}: {r:?}");
    }
    let names: Vec<&str> = loaded.maps.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.iter().any(|n| n.starts_with(".data")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with(".rodata")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with(".bss")), "{names:?}");
    loaded.close(&rt);
    assert_eq!(rt.live_objects(), 0);
}

#[test]
fn every_corpus_object_loads_or_is_refused_with_a_reason() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs");
    let mut loaded_count = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".o"))
    {
        let obj = Object::open(&path).unwrap();
        let rt = Runtime::new();
        match rt.load_object(&obj, 1) {
            Ok(l) => {
                loaded_count += 1;
                l.close(&rt);
                assert_eq!(rt.live_objects(), 0, "{}", path.display());
            }
            Err(e) => {
                println!("{}: refused: {e}", path.display());
                assert!(!e.error.message.is_empty());
            }
        }
    }
    println!("corpus: {loaded_count} objects loaded");
    assert!(loaded_count >= 8);
}

#[test]
fn socket_filter_runs_on_packets_of_any_length() {
    // Shorter than an Ethernet header: the kernel refuses these (EINVAL); Waggle runs them,
    // and must never fail on them in its own code.
    let rt = Runtime::new();
    let loaded = rt
        .load_object(&corpus("socket_filter.bpf.o"), 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, prog) = loaded.programs[0];
    for len in [0usize, 1, 3, 13, 14, 15, 60] {
        let data = vec![0x45u8; len];
        let r = rt
            .prog_test_run(
                prog,
                &TestRun {
                    data_in: &data,
                    ..TestRun::default()
                },
            )
            .unwrap();
        assert_eq!(r.data_out.len(), len);
        if len >= 14 {
            // The Ethernet header comes back zeroed, as bpf_prog_test_run_skb returns it.
            assert!(r.data_out[..14].iter().all(|&b| b == 0));
        }
    }
    loaded.close(&rt);
    assert_eq!(rt.live_objects(), 0);
}
