//! Hooks end to end: programs from `tests/progs/hooks.bpf.c` attached through links to
//! application, XDP, socket filter and perf event hooks, fired, and their effects read back
//! from maps.

use bytemuck::Zeroable;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use waggle_object::Object;
use waggle_runtime::{
    Combine, CtxAccess, Handle, HookSpec, LoadedObject, PerfEventData, ProgramType, Runtime,
    SkbRunner, XdpRunner, fire_perf_event, set_current_cpu, xdp_action,
};

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Req {
    uid: u32,
    port: u32,
    seen: u64,
}

fn load() -> (Runtime, LoadedObject) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs/hooks.bpf.o");
    let obj = Object::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rt = Runtime::new();
    let loaded = rt.load_object(&obj, 1).unwrap_or_else(|e| panic!("{e}"));
    (rt, loaded)
}

fn count(rt: &Runtime, o: &LoadedObject, slot: u32) -> u64 {
    let v = rt
        .map_lookup_elem(o.map("counts").unwrap(), &slot.to_ne_bytes())
        .unwrap();
    u64::from_ne_bytes(v[..8].try_into().unwrap())
}

fn prog(o: &LoadedObject, name: &str) -> Handle {
    o.program(name)
        .unwrap_or_else(|| panic!("no program {name}"))
}

#[test]
fn app_hook_runs_programs_in_attach_order_with_cookies() {
    // Runs are counted while statistics are on (as with Linux's bpf_stats_enabled).
    let _stats = waggle_runtime::enable_stats();
    let (rt, o) = load();
    let hook = rt
        .app_hook::<Req>("acl", CtxAccess::ReadOnly, Combine::Continue(0))
        .unwrap();
    let l1 = rt.link_create(prog(&o, "deny_root"), "acl", 0).unwrap();
    let l2 = rt.link_create(prog(&o, "deny_port"), "acl", 0).unwrap();

    let mut ok = Req {
        uid: 1000,
        port: 22,
        seen: 0,
    };
    assert_eq!(hook.fire(&mut ok).unwrap(), 0);
    assert_eq!(count(&rt, &o, 0), 1);
    assert_eq!(count(&rt, &o, 1), 1);
    assert_eq!(count(&rt, &o, 3), 12, "deny_root ran before deny_port");

    // The first non-zero answer stops the chain.
    assert_eq!(
        hook.fire(&mut Req {
            uid: 0,
            port: 22,
            seen: 0
        })
        .unwrap(),
        13
    );
    assert_eq!(count(&rt, &o, 0), 2);
    assert_eq!(count(&rt, &o, 1), 1, "deny_port did not run after a denial");
    assert_eq!(
        hook.fire(&mut Req {
            uid: 1,
            port: 23,
            seen: 0
        })
        .unwrap(),
        1
    );

    // Run statistics per program.
    let info = rt.program(prog(&o, "deny_root")).unwrap().info();
    assert_eq!(info.run_count, 3);
    let info = rt.program(prog(&o, "deny_port")).unwrap().info();
    assert_eq!(info.run_count, 2);

    // Detach stops a link.
    rt.link_detach(l1).unwrap();
    assert_eq!(hook.hook().attached().len(), 1);
    assert_eq!(
        hook.fire(&mut Req {
            uid: 0,
            port: 22,
            seen: 0
        })
        .unwrap(),
        0
    );
    assert_eq!(count(&rt, &o, 0), 3, "detached deny_root no longer runs");
    for l in [l1, l2] {
        rt.close(l).unwrap();
    }
    assert!(hook.hook().is_empty());
    o.close(&rt);
    assert_eq!(rt.live_objects(), 0, "links, programs and maps unloaded");
}

/// Without statistics, a chain of programs that all run as lean verified code takes
/// `AppHook::fire`'s fast path: still in attach order, combined by each rule as on the
/// general path.
#[test]
fn lean_program_chains_keep_order_and_combine_rules() {
    let (rt, o) = load();
    let acl = rt
        .app_hook::<Req>("acl", CtxAccess::ReadOnly, Combine::Continue(0))
        .unwrap();
    let all = rt
        .app_hook::<Req>("all", CtxAccess::ReadOnly, Combine::All)
        .unwrap();
    let min = rt
        .app_hook::<Req>("min", CtxAccess::ReadOnly, Combine::Min)
        .unwrap();
    let mut links = Vec::new();
    for hook in ["acl", "all", "min"] {
        for p in ["deny_root", "deny_port"] {
            links.push(rt.link_create(prog(&o, p), hook, 0).unwrap());
        }
    }
    let req = |uid, port| Req { uid, port, seen: 0 };
    assert_eq!(acl.fire(&mut req(1000, 22)).unwrap(), 0);
    assert_eq!((count(&rt, &o, 0), count(&rt, &o, 1)), (1, 1));
    assert_eq!(count(&rt, &o, 3), 12, "deny_root ran before deny_port");
    assert_eq!(
        acl.fire(&mut req(0, 22)).unwrap(),
        13,
        "first non-zero answer"
    );
    assert_eq!(
        (count(&rt, &o, 0), count(&rt, &o, 1)),
        (2, 1),
        "chain stopped"
    );
    assert_eq!(acl.fire(&mut req(1, 23)).unwrap(), 1);
    // All: every program runs, the last one answers.
    assert_eq!(all.fire(&mut req(0, 22)).unwrap(), 0);
    assert_eq!((count(&rt, &o, 0), count(&rt, &o, 1)), (4, 3));
    // Min: the smallest value; a 0 stops the chain (deny_root answers 0 for uid 1).
    assert_eq!(min.fire(&mut req(0, 23)).unwrap(), 1);
    assert_eq!(min.fire(&mut req(1, 23)).unwrap(), 0);
    assert_eq!((count(&rt, &o, 0), count(&rt, &o, 1)), (6, 4));
    for l in links {
        rt.close(l).unwrap();
    }
    o.close(&rt);
    assert_eq!(rt.live_objects(), 0);
}

#[test]
fn context_access_is_as_declared() {
    let (rt, o) = load();
    let ro = rt
        .app_hook::<Req>("ro", CtxAccess::ReadOnly, Combine::All)
        .unwrap();
    let rw = rt
        .app_hook::<Req>("rw", CtxAccess::Writable, Combine::All)
        .unwrap();
    // The verifier saw mark_seen write its context: a read-only hook refuses it at attach.
    let e = rt.link_create(prog(&o, "mark_seen"), "ro", 0).unwrap_err();
    assert_eq!(e.errno, waggle_uapi::errno::EACCES, "{e}");
    assert!(e.message.contains("read-only"), "{e}");
    let mut r = Req::default();
    assert_eq!(ro.fire(&mut r).unwrap(), 0, "nothing attached to ro");
    // A context smaller than what the program reads is refused too.
    let small = rt
        .app_hook::<u32>("small", CtxAccess::Writable, Combine::All)
        .unwrap();
    let e = rt
        .link_create(prog(&o, "mark_seen"), "small", 0)
        .unwrap_err();
    assert_eq!(e.errno, waggle_uapi::errno::EINVAL, "{e}");
    drop(small);
    let b = rt.link_create(prog(&o, "mark_seen"), "rw", 0).unwrap();
    assert_eq!(r.seen, 0);
    rw.fire(&mut r).unwrap();
    rw.fire(&mut r).unwrap();
    assert_eq!(r.seen, 2);
    rt.close(b).unwrap();
    o.close(&rt);
}

#[test]
fn link_create_checks_hook_and_program_type() {
    let (rt, o) = load();
    let e = rt
        .link_create(prog(&o, "deny_root"), "nope", 0)
        .unwrap_err();
    assert_eq!(e.errno, waggle_uapi::errno::ENOENT);
    rt.app_hook::<Req>("acl", CtxAccess::ReadOnly, Combine::Continue(0))
        .unwrap();
    let e = rt
        .link_create(prog(&o, "xdp_verdict"), "acl", 0)
        .unwrap_err();
    assert_eq!(e.errno, waggle_uapi::errno::EINVAL);
    let e = rt
        .hook_create("acl", HookSpec::new(ProgramType::Xdp, Combine::All))
        .unwrap_err();
    assert_eq!(e.errno, waggle_uapi::errno::EEXIST);
    o.close(&rt);
}

#[test]
fn detaching_while_firing_loses_no_run_and_no_map_data() {
    let _stats = waggle_runtime::enable_stats();
    let (rt, o) = load();
    let hook = rt
        .app_hook::<Req>("acl", CtxAccess::ReadOnly, Combine::Continue(0))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // The firers are running before links come and go (on a loaded machine a new thread
    // may otherwise first run after the loop below has ended).
    let started = Arc::new(std::sync::Barrier::new(3));
    let firers: Vec<_> = (0..2)
        .map(|_| {
            let hook = hook.clone();
            let stop = stop.clone();
            let started = started.clone();
            std::thread::spawn(move || {
                let mut fires = 0u64;
                started.wait();
                loop {
                    let mut r = Req {
                        uid: 1,
                        port: 1,
                        seen: 0,
                    };
                    assert_eq!(hook.fire(&mut r).unwrap(), 0);
                    fires += 1;
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                fires
            })
        })
        .collect();
    let p = prog(&o, "deny_root");
    started.wait();
    for _ in 0..300 {
        let l = rt.link_create(p, "acl", 0).unwrap();
        std::thread::yield_now();
        rt.close(l).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let fires: u64 = firers.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(fires > 0);
    let runs = rt.program(p).unwrap().info().run_count;
    assert_eq!(count(&rt, &o, 0), runs, "every run's map update is there");
    assert!(runs <= fires);
    o.close(&rt);
    assert_eq!(rt.live_objects(), 0);
}

/// The same without statistics, so a lone lean program runs on `AppHook::fire`'s fast path
/// (no `Program::run`): each run answers 13 (uid 0) and counts itself in the map, so the
/// firers' tally of 13s must equal the map's count, and a detached program is freed as soon
/// as its link closes (no firing keeps it).
#[test]
fn detaching_while_firing_on_the_fast_path_loses_no_run() {
    let (rt, o) = load();
    let hook = rt
        .app_hook::<Req>("acl", CtxAccess::ReadOnly, Combine::Continue(0))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(std::sync::Barrier::new(3));
    let firers: Vec<_> = (0..2)
        .map(|_| {
            let hook = hook.clone();
            let stop = stop.clone();
            let started = started.clone();
            std::thread::spawn(move || {
                let mut denied = 0u64;
                started.wait();
                while !stop.load(Ordering::Relaxed) {
                    let mut r = Req {
                        uid: 0,
                        port: 1,
                        seen: 0,
                    };
                    match hook.fire(&mut r).unwrap() {
                        13 => denied += 1,
                        v => assert_eq!(v, 0, "no program: the chain's continue value"),
                    }
                }
                denied
            })
        })
        .collect();
    let p = prog(&o, "deny_root");
    started.wait();
    for _ in 0..300 {
        let l = rt.link_create(p, "acl", 0).unwrap();
        std::thread::yield_now();
        rt.close(l).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let denied: u64 = firers.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(count(&rt, &o, 0), denied, "every run's map update is there");
    assert!(hook.hook().is_empty());
    o.close(&rt);
    assert_eq!(rt.live_objects(), 0, "the detached program was freed");
}

fn eth(payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    p.extend_from_slice(payload);
    p
}

#[test]
fn xdp_hook_verdicts_and_adjustments() {
    let (rt, o) = load();
    let hook = rt
        .hook_create(
            "xdp:test",
            HookSpec::new(ProgramType::Xdp, Combine::Continue(xdp_action::PASS)),
        )
        .unwrap();
    let l = rt
        .link_create(prog(&o, "xdp_verdict"), "xdp:test", 0)
        .unwrap();
    let mut runner = XdpRunner::new().unwrap();
    let mut seen = [0u64; 5];
    for first in 0u8..20 {
        let packet = eth(&[first, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let out = runner.run(&hook, &packet, 3, 0).unwrap();
        let v = u64::from(first % 5);
        assert_eq!(out.verdict, v);
        seen[v as usize] += 1;
        let data = runner.frame()[out.data.clone()].to_vec();
        if v == xdp_action::PASS {
            assert_eq!(data, packet[..packet.len() - 4], "tail trimmed by 4");
            assert_eq!(out.meta.len(), 4, "4 bytes of metadata");
        } else {
            assert_eq!(data, packet);
        }
        if v == xdp_action::REDIRECT {
            assert_eq!(out.redirect.unwrap().index, 7);
        }
    }
    // Too short for the program: it aborts.
    assert_eq!(
        runner.run(&hook, &[1, 2, 3], 3, 0).unwrap().verdict,
        xdp_action::ABORTED
    );
    for (v, n) in seen.iter().enumerate() {
        assert_eq!(count(&rt, &o, 4 + v as u32), *n);
    }
    // A jumbo frame gets a larger frame.
    let big = eth(&[2u8; 9000]);
    let out = runner.run(&hook, &big, 3, 0).unwrap();
    assert_eq!(out.verdict, xdp_action::PASS);
    assert_eq!(out.data.len(), big.len() - 4);
    rt.close(l).unwrap();
    // Nothing attached: everything passes untouched.
    let out = runner.run(&hook, &big, 3, 0).unwrap();
    assert_eq!((out.verdict, out.data.len()), (xdp_action::PASS, big.len()));
    o.close(&rt);
}

#[test]
fn socket_filter_return_value_truncates() {
    let (rt, o) = load();
    let hook = rt
        .hook_create(
            "socket:test",
            HookSpec::new(ProgramType::SocketFilter, Combine::Min),
        )
        .unwrap();
    let mut runner = SkbRunner::new().unwrap();
    let packet = eth(&[7u8; 50]);
    assert_eq!(runner.run(&hook, &packet, 1).unwrap().keep, packet.len());
    let l = rt
        .link_create(prog(&o, "keep20"), "socket:test", 0)
        .unwrap();
    assert_eq!(runner.run(&hook, &packet, 1).unwrap().keep, 20);
    assert_eq!(runner.run(&hook, &packet[..16], 1).unwrap().keep, 16);
    assert_eq!(count(&rt, &o, 9), 2);
    rt.close(l).unwrap();
    o.close(&rt);
}

#[test]
fn perf_event_hook_sees_sample_period_and_cpu() {
    let (rt, o) = load();
    let hook = rt
        .hook_create(
            "perf:test",
            HookSpec::new(ProgramType::PerfEvent, Combine::All),
        )
        .unwrap();
    let l = rt.link_create(prog(&o, "tick"), "perf:test", 0).unwrap();
    let c1 = rt.link_create(prog(&o, "cookie"), "perf:test", 5).unwrap();
    let c2 = rt
        .link_create(prog(&o, "cookie"), "perf:test", 100)
        .unwrap();
    let cpus = waggle_maps::possible_cpus();
    let cpu = 1 % cpus;
    let hook2 = hook.clone();
    std::thread::spawn(move || {
        set_current_cpu(cpu);
        let data = PerfEventData {
            regs: [0; 21],
            sample_period: 1_000_000,
            addr: 0,
        };
        fire_perf_event(&hook, &data).unwrap();
        fire_perf_event(&hook, &data).unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(count(&rt, &o, 10), 2);
    assert_eq!(count(&rt, &o, 11), 1_000_000);
    assert_eq!(count(&rt, &o, 12), 2 * u64::from(cpu + 1));
    assert_eq!(count(&rt, &o, 2), 210, "each link's own cookie");
    // Closing the last handle of a link detaches it.
    rt.close(c2).unwrap();
    assert_eq!(hook2.attached().len(), 2);
    fire_perf_event(&hook2, &PerfEventData::zeroed()).unwrap();
    assert_eq!(count(&rt, &o, 2), 215);
    rt.close(c1).unwrap();
    rt.close(l).unwrap();
    o.close(&rt);
}
