//! tests/progs/helper_families.bpf.c end to end: perf event output read back from the
//! buffer, the string helpers (strtol, strtoul, trace_printk) and the XDP adjust helpers
//! (head, meta, tail), each from C, loaded through our verifier, run, and checked on their
//! results; then unloaded with nothing left. tests/progs/verifier_gaps/strings_const.bpf.c:
//! strncmp and snprintf, whose constant-string arguments our verifier does not model yet
//! (Linux accepts the program): run unverified while it refuses them.

use std::path::PathBuf;
use waggle_maps::PerfRecord;
use waggle_object::Object;
use waggle_runtime::{
    Handle, LoadedObject, MapCreate, ProgLoad, ProgramType, Runtime, TestRun, TestRunResult,
};

fn object(name: &str) -> Object {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/progs")
        .join(name);
    Object::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(rt: &Runtime) -> LoadedObject {
    rt.load_object(&object("helper_families.bpf.o"), 1)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn run(rt: &Runtime, o: &LoadedObject, prog: &str, data: &[u8]) -> TestRunResult {
    let p = o
        .program(prog)
        .unwrap_or_else(|| panic!("no program {prog}"));
    rt.prog_test_run(
        p,
        &TestRun {
            data_in: data,
            ..TestRun::default()
        },
    )
    .unwrap_or_else(|e| panic!("{prog}: {e}"))
}

fn result(rt: &Runtime, m: Handle, slot: u32) -> i64 {
    let v = rt.map_lookup_elem(m, &slot.to_ne_bytes()).unwrap();
    i64::from_ne_bytes(v[..8].try_into().unwrap())
}

const XDP_PASS: u64 = 2;
const ENOENT: i64 = 2;

fn unload(rt: &Runtime, o: LoadedObject) {
    o.close(rt);
    assert_eq!(rt.live_objects(), 0, "everything freed");
}

#[test]
fn perf_event_output_from_c_reaches_the_buffer() {
    let rt = Runtime::new();
    let o = load(&rt);
    let results = o.map("results").unwrap();
    let packet: Vec<u8> = (1..=20).collect();
    // No buffer opened for this CPU yet: -ENOENT, as the kernel without a perf event.
    assert_eq!(run(&rt, &o, "perf_output", &packet).retval, XDP_PASS);
    assert_eq!(result(&rt, results, 0), -ENOENT);

    let cpu = waggle_runtime::current_cpu();
    let m = rt.map(o.map("events").unwrap()).unwrap();
    let arr = m.inner.as_perf_event_array().unwrap();
    arr.open(cpu, cpu, 4096).unwrap();
    assert_eq!(run(&rt, &o, "perf_output", &packet).retval, XDP_PASS);
    assert_eq!(result(&rt, results, 0), 0);
    let mut samples = Vec::new();
    arr.drain(cpu, |r| {
        if let PerfRecord::Sample(s) = r {
            samples.push(s.to_vec());
        }
    })
    .unwrap();
    assert_eq!(samples.len(), 1);
    let s = &samples[0];
    assert_eq!(u32::from_ne_bytes(s[0..4].try_into().unwrap()), 20, "len");
    assert_eq!(u32::from_ne_bytes(s[4..8].try_into().unwrap()), 0xfeed_beef);
    assert_eq!(&s[8..16], &packet[..8]);
    drop(m);
    unload(&rt, o);
}

#[test]
fn string_helpers_from_c() {
    let rt = Runtime::new();
    let o = load(&rt);
    let results = o.map("results").unwrap();
    let _ = rt.trace_pipe().drain();
    let packet = b"hello -1234ff12 and some more bytes";
    assert_eq!(run(&rt, &o, "strings", packet).retval, XDP_PASS);
    assert_eq!(result(&rt, results, 1), 5, "strtol consumed \"-1234\"");
    assert_eq!(result(&rt, results, 2), -1234);
    assert_eq!(result(&rt, results, 3), 4, "strtoul consumed \"ff12\"");
    assert_eq!(result(&rt, results, 4), 0xff12);
    let line = "strings: l=-1234 ul=65298";
    assert_eq!(result(&rt, results, 8), line.len() as i64);
    let lines = rt.trace_pipe().drain();
    assert!(
        lines.iter().any(|l| l.contains(line)),
        "trace_printk line in the pipe: {lines:?}"
    );
    unload(&rt, o);
}

#[test]
fn xdp_adjust_head_meta_and_tail_from_c() {
    let rt = Runtime::new();
    let o = load(&rt);
    let packet: Vec<u8> = (100..140).collect();
    let r = run(&rt, &o, "adjust", &packet);
    assert_eq!(r.retval, XDP_PASS);
    assert_eq!(result(&rt, o.map("results").unwrap(), 9), 4, "every step");
    // Metadata, then the pushed header, then the packet less its last 2 bytes.
    let mut want = 0x0123_4567_89ab_cdefu64.to_ne_bytes().to_vec();
    want.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    want.extend_from_slice(&packet[..packet.len() - 2]);
    assert_eq!(r.data_out, want);
    unload(&rt, o);
}

#[test]
fn const_string_helpers_from_c() {
    let obj = object("verifier_gaps/strings_const.bpf.o");
    let rt = Runtime::new();
    // (program, results map, text map) and what to release at the end.
    let (prog, results, text, handles) = match rt.load_object(&obj, 1) {
        Ok(o) => {
            let r = (
                o.program("strings_const").unwrap(),
                o.map("results").unwrap(),
                o.map("text").unwrap(),
            );
            let mut hs: Vec<Handle> = Vec::new();
            hs.extend(o.programs.iter().map(|(_, h)| *h));
            hs.extend(o.maps.iter().map(|(_, h)| *h));
            (r.0, r.1, r.2, hs)
        }
        Err(e) => {
            // Reported, not hidden: our verifier refuses what Linux accepts. The helpers are
            // still checked, on the program loaded without the verifier.
            assert!(e.to_string().contains("PtrToConstStr"), "{e}");
            println!(
                "KNOWN GAP: our verifier refuses strings_const.bpf.o: {}",
                e.error
            );
            let mut maps = Vec::new();
            for m in &obj.maps {
                let t = waggle_maps::MapType::from_u32(m.map_type).unwrap();
                // As the loader makes them: .rodata read-only for programs, and frozen.
                let spec = waggle_maps::MapSpec::new(t, m.key_size, m.value_size, m.max_entries)
                    .with_flags(m.flags & !waggle_maps::flags::BPF_F_MMAPABLE);
                let h = rt
                    .map_create(&MapCreate::new(spec, m.name.clone()))
                    .unwrap();
                if let Some(d) = &m.initial_data {
                    rt.map_update_elem(h, &0u32.to_ne_bytes(), d, 0).unwrap();
                }
                if m.frozen {
                    rt.map_freeze(h).unwrap();
                }
                maps.push((m.name.clone(), h));
            }
            let find = |n: &str| maps.iter().find(|(m, _)| m == n).unwrap().1;
            let p = &obj.programs[0];
            let prog = rt
                .prog_load(&ProgLoad {
                    prog_type: ProgramType::Xdp,
                    name: p.name.clone(),
                    insns: p.insns.clone(),
                    license: "GPL".into(),
                    fd_array: maps.iter().map(|(_, h)| *h).collect(),
                    skip_verifier: true,
                    ..ProgLoad::default()
                })
                .unwrap_or_else(|e| panic!("{e}"));
            let (r, t) = (find("results"), find("text"));
            let mut hs = vec![prog];
            hs.extend(maps.iter().map(|(_, h)| *h));
            (prog, r, t, hs)
        }
    };
    let r = rt
        .prog_test_run(
            prog,
            &TestRun {
                data_in: b"hello -1234ff12 and some more bytes",
                ..TestRun::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.retval, XDP_PASS);
    assert_eq!(result(&rt, results, 0), 0, "\"hello\" == \"hello\"");
    assert!(result(&rt, results, 1) < 0, "\"hello\" < \"help!\"");
    let want = "n=1234 x=ff12 s=hello";
    assert_eq!(
        result(&rt, results, 2),
        want.len() as i64 + 1,
        "snprintf counts the NUL"
    );
    let line = rt.map_lookup_elem(text, &0u32.to_ne_bytes()).unwrap();
    assert_eq!(&line[..want.len() + 1], format!("{want}\0").as_bytes());
    for h in handles {
        rt.close(h).unwrap();
    }
    assert_eq!(rt.live_objects(), 0);
}
