//! `bpf_timer` end to end (tests/progs/timer.bpf.c): timers armed by XDP test runs fire on
//! the runtime's timer thread, their callbacks re-arm themselves and count in a map; the
//! helpers' error returns; timers freed with their element and with the map's last user
//! reference, so unloading leaves nothing behind. Waits are bounded and generous; nothing
//! here depends on how fast timers fire.

use std::path::PathBuf;
use std::time::{Duration, Instant};
use waggle_object::Object;
use waggle_runtime::{Handle, LoadedObject, Runtime, TestRun};

/// `FIRES` in timer.bpf.c.
const FIRES: u64 = 5;
const XDP_PASS: u64 = 2;
const EINVAL: i64 = 22;
const EBUSY: i64 = 16;
/// Bounded wait for timers to fire (they are due after a microsecond).
const PATIENCE: Duration = Duration::from_secs(30);

fn load(rt: &Runtime) -> LoadedObject {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs/timer.bpf.o");
    let obj = Object::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    rt.load_object(&obj, 1).unwrap_or_else(|e| panic!("{e}"))
}

fn run(rt: &Runtime, prog: Handle) -> u64 {
    rt.prog_test_run(
        prog,
        &TestRun {
            data_in: &[0u8; 64],
            ..TestRun::default()
        },
    )
    .unwrap_or_else(|e| panic!("test run: {e}"))
    .retval
}

fn read_u64(rt: &Runtime, map: Handle, key: u32) -> u64 {
    let v = rt.map_lookup_elem(map, &key.to_ne_bytes()).expect("lookup");
    u64::from_ne_bytes(v[..8].try_into().expect("8 bytes"))
}

/// Wait (bounded) until `done` holds; false if it never did.
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    done()
}

#[test]
fn callback_rearms_itself_until_done_then_unload_frees_everything() {
    let rt = Runtime::new();
    let loaded = load(&rt);
    let (arm, stop) = (
        loaded.program("arm").expect("arm"),
        loaded.program("stop").expect("stop"),
    );
    let (counter, ctimers, results) = (
        loaded.map("counter").expect("counter"),
        loaded.map("ctimers").expect("ctimers"),
        loaded.map("results").expect("results"),
    );
    assert_eq!(
        run(&rt, arm),
        XDP_PASS,
        "init, set_callback and start succeed"
    );
    assert!(
        wait_for(|| read_u64(&rt, counter, 0) >= FIRES),
        "the callback ran {} times of {FIRES} within {PATIENCE:?}",
        read_u64(&rt, counter, 0)
    );
    // It stops re-arming at FIRES; its cancel of its own timer was refused with -EDEADLK.
    assert!(wait_for(|| read_u64(&rt, counter, 1) == 1), "-EDEADLK seen");
    assert_eq!(read_u64(&rt, counter, 0), FIRES);
    // User space sees the timer field as zeros (and the program's own field).
    let v = rt.map_lookup_elem(ctimers, &0u32.to_ne_bytes()).unwrap();
    assert_eq!(&v[8..24], &[0u8; 16], "bpf_timer reads as zeros");
    assert_eq!(u64::from_ne_bytes(v[24..32].try_into().unwrap()), 1);
    let map = rt.map(ctimers).unwrap();
    assert_eq!(map.timer_count(), 1, "the timer stays initialised");

    // The timer holds the program (its callback's): closing the program's handle keeps it.
    let arm_prog = std::sync::Arc::downgrade(&rt.program(arm).unwrap());
    rt.close(arm).unwrap();
    assert!(arm_prog.upgrade().is_some(), "the timer keeps its program");
    // Not armed any more: cancel says 0 and drops the program.
    assert_eq!(run(&rt, stop), XDP_PASS);
    assert_eq!(read_u64(&rt, results, 23), 0, "cancel of a timer not armed");
    assert!(
        wait_for(|| arm_prog.upgrade().is_none()),
        "cancel dropped the callback's program"
    );

    // Closing the maps' last user references frees the (initialised) timers.
    drop(map);
    loaded.close(&rt);
    assert_eq!(rt.live_objects(), 0, "nothing left after close");
    assert_eq!(rt.open_handles(), 0);
}

#[test]
fn closing_the_map_frees_an_armed_timer_and_its_program() {
    let rt = Runtime::new();
    let loaded = load(&rt);
    let arm_hash = loaded.program("arm_hash").expect("arm_hash");
    let htimers = loaded.map("htimers").expect("htimers");
    assert_eq!(run(&rt, arm_hash), XDP_PASS);
    let map = rt.map(htimers).unwrap();
    assert_eq!(map.timer_count(), 1);
    let prog = std::sync::Arc::downgrade(&rt.program(arm_hash).unwrap());
    // Deleting the element frees its timer (armed for an hour) and the program reference.
    rt.map_delete_elem(htimers, &7u32.to_ne_bytes()).unwrap();
    assert_eq!(map.timer_count(), 0, "the element's timer went with it");
    // Armed again, then the element is replaced by a user-space update: freed too.
    assert_eq!(run(&rt, arm_hash), XDP_PASS);
    assert_eq!(map.timer_count(), 1);
    rt.map_update_elem(htimers, &7u32.to_ne_bytes(), &[0u8; 32], 0)
        .unwrap();
    assert_eq!(
        map.timer_count(),
        0,
        "replacing the element freed its timer"
    );
    // Armed once more and left armed: closing all handles frees everything.
    assert_eq!(run(&rt, arm_hash), XDP_PASS);
    assert_eq!(map.timer_count(), 1);
    drop(map);
    loaded.close(&rt);
    assert!(prog.upgrade().is_none(), "the program is freed");
    assert_eq!(rt.live_objects(), 0, "nothing left after close");
}

#[test]
fn pinned_map_keeps_its_timers_until_unpinned() {
    let rt = Runtime::new();
    let loaded = load(&rt);
    let arm_hash = loaded.program("arm_hash").expect("arm_hash");
    let htimers = loaded.map("htimers").expect("htimers");
    rt.obj_pin(htimers, "/sys/fs/bpf/waggle-test-htimers")
        .unwrap();
    assert_eq!(run(&rt, arm_hash), XDP_PASS);
    let map = std::sync::Arc::downgrade(&rt.map(htimers).unwrap());
    loaded.close(&rt);
    let m = map.upgrade().expect("pinned");
    assert_eq!(m.timer_count(), 1, "a pin is a user reference");
    drop(m);
    rt.unpin("/sys/fs/bpf/waggle-test-htimers").unwrap();
    assert!(map.upgrade().is_none(), "unpinning freed the map");
    assert_eq!(rt.live_objects(), 0);
}

/// The return values of `errors` (timer.bpf.c), as Linux gives them.
/// (Checked against Linux 6.18 with `bpftool prog run`; `kernel_diff` compares them on every
/// run where `bpf()` is permitted.)
pub const EXPECTED_ERRORS: [i64; 19] = [
    0,       // init
    -EBUSY,  // init again
    -EINVAL, // start without a callback
    0,       // cancel, not armed
    -EINVAL, // init with CLOCK_PROCESS_CPUTIME_ID
    -EINVAL, // init with flags >= MAX_CLOCKS
    -EINVAL, // cancel of a timer never initialised
    -EINVAL, // set_callback on a timer never initialised
    0,       // set_callback
    -EINVAL, // start with an unknown flag
    0,       // start, pinned to the CPU
    1,       // cancel: it was armed
    0,       // cancel again
    -EINVAL, // start: the cancel dropped the callback
    0,       // cancel, not armed
    0,       // unused slot
    0,       // set_callback again
    0,       // start at an absolute time
    1,       // cancel: it was armed
];

#[test]
fn helpers_return_linux_errors() {
    let rt = Runtime::new();
    let loaded = load(&rt);
    let errors = loaded.program("errors").expect("errors");
    let results = loaded.map("results").expect("results");
    assert_eq!(run(&rt, errors), XDP_PASS);
    let got: Vec<i64> = (0..19).map(|i| read_u64(&rt, results, i) as i64).collect();
    assert_eq!(got, EXPECTED_ERRORS);
    loaded.close(&rt);
    assert_eq!(rt.live_objects(), 0);
}

/// Maps whose last user reference is gone refuse new timers (-EPERM), as Linux's do.
#[test]
fn timers_need_a_user_reference_on_the_map() {
    let rt = Runtime::new();
    let loaded = load(&rt);
    let errors = loaded.program("errors").expect("errors");
    let spare = loaded.map("spare").expect("spare");
    let results = loaded.map("results").expect("results");
    let keep_results = rt.map(results).unwrap();
    rt.close(spare).unwrap();
    assert_eq!(run(&rt, errors), XDP_PASS);
    let mut v = vec![0u8; 8];
    keep_results
        .inner
        .lookup(&0u32.to_ne_bytes(), &mut v)
        .unwrap();
    assert_eq!(i64::from_ne_bytes(v[..8].try_into().unwrap()), -1, "-EPERM");
    drop(keep_results);
    for (name, h) in loaded.programs.iter().chain(&loaded.maps) {
        if *h != spare {
            rt.close(*h).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    assert_eq!(rt.live_objects(), 0);
}

/// A user-space update of an array element frees its timer (Linux's array_map_update_elem
/// calls bpf_obj_free_fields after the copy), and with it the callback's program.
#[test]
fn array_update_frees_the_timer() {
    let rt = Runtime::new();
    let loaded = load(&rt);
    let arm_timer = loaded.program("arm_timer").expect("arm_timer");
    let timers = loaded.map("timers").expect("timers");
    assert_eq!(run(&rt, arm_timer), XDP_PASS);
    let map = rt.map(timers).unwrap();
    assert_eq!(map.timer_count(), 1);
    let prog = std::sync::Arc::downgrade(&rt.program(arm_timer).unwrap());
    rt.close(arm_timer).unwrap();
    assert!(prog.upgrade().is_some(), "held by the timer's callback");
    rt.map_update_elem(timers, &0u32.to_ne_bytes(), &[0u8; 24], 0)
        .unwrap();
    assert_eq!(map.timer_count(), 0);
    assert!(
        wait_for(|| prog.upgrade().is_none()),
        "freeing the timer dropped the program (after a callback running now, if any)"
    );
    drop(map);
    for (_, h) in loaded.programs.iter().chain(&loaded.maps) {
        let _ = rt.close(*h);
    }
    assert_eq!(rt.live_objects(), 0);
}

/// Dropping the runtime with a timer still armed (an hour away) frees the map and the
/// program the timer holds: the runtime's handles were the map's user references.
#[test]
fn dropping_the_runtime_frees_armed_timers() {
    let rt = Runtime::new();
    let loaded = load(&rt);
    let arm_hash = loaded.program("arm_hash").expect("arm_hash");
    assert_eq!(run(&rt, arm_hash), XDP_PASS);
    let prog = std::sync::Arc::downgrade(&rt.program(arm_hash).unwrap());
    let map = std::sync::Arc::downgrade(&rt.map(loaded.map("htimers").unwrap()).unwrap());
    assert_eq!(map.upgrade().map(|m| m.timer_count()), Some(1));
    drop(rt);
    assert!(prog.upgrade().is_none(), "program freed");
    assert!(map.upgrade().is_none(), "map freed");
}

/// Programs arming, cancelling and re-initialising the same timers from several threads
/// while callbacks fire: no deadlock, no failed run, and closing everything frees everything.
#[test]
fn concurrent_arming_and_cancelling() {
    let rt = Runtime::new();
    let loaded = load(&rt);
    let progs: Vec<Handle> = ["arm", "stop", "errors", "arm_hash", "arm_timer"]
        .iter()
        .map(|n| loaded.program(n).expect("program"))
        .collect();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (rt, progs) = (&rt, &progs);
            s.spawn(move || {
                for i in 0..300 {
                    let p = progs[(i * 7 + t) % progs.len()];
                    let r = rt.prog_test_run(
                        p,
                        &TestRun {
                            data_in: &[0u8; 64],
                            ..TestRun::default()
                        },
                    );
                    assert!(r.is_ok(), "{r:?}");
                }
            });
        }
    });
    // Armed once more, alone: its callback runs.
    let counter = loaded.map("counter").expect("counter");
    let before = read_u64(&rt, counter, 0);
    assert_eq!(run(&rt, progs[0]), XDP_PASS);
    assert!(
        wait_for(|| read_u64(&rt, counter, 0) > before),
        "the callback ran after the storm"
    );
    loaded.close(&rt);
    assert_eq!(rt.live_objects(), 0);
}
