//! Application-hook dispatch per event: `AppHook::fire` with one attached program, next to
//! calling the program directly (`Program::run`), so the hook's own cost shows.
//!
//! Run: `cargo bench -p waggle-runtime --bench dispatch -- --sample-size 12800` (a fixed
//! sample size: with divan's own calibration the first benchmark of a process sometimes
//! settles on one iteration per sample and reports the timer's granularity). Programs:
//! `return0` (`mov r0, 0; exit`, the dispatch floor) and `deny_root` of
//! `tests/progs/hooks.bpf.c` (a map lookup and an atomic add, a typical policy). The engine
//! is whatever `PROG_LOAD` prepares.

use divan::Bencher;
use std::hint::black_box;
use waggle_runtime::{AppHook, Combine, CtxAccess, ProgLoad, ProgramType, Runtime};

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Req {
    uid: u32,
    port: u32,
    seen: u64,
}

fn main() {
    divan::main();
}

/// A runtime with `name`'s program attached to an application hook.
fn setup(name: &str) -> (Runtime, AppHook<Req>) {
    setup_chain(name, None)
}

/// A runtime with `name`'s program, then `second` (of the same object, or `name` again for
/// `return0`), attached to an application hook.
fn setup_chain(name: &str, second: Option<&str>) -> (Runtime, AppHook<Req>) {
    let rt = Runtime::new();
    let hook = rt
        .app_hook::<Req>("bench", CtxAccess::ReadOnly, Combine::Continue(0))
        .expect("hook");
    let mut loaded = None;
    let prog = if name == "return0" {
        let insns = waggle_isa::asm::assemble("mov %r0, 0\nexit\n").expect("asm");
        rt.prog_load(&ProgLoad {
            prog_type: ProgramType::PLAIN,
            name: name.into(),
            insns,
            ..ProgLoad::default()
        })
        .expect("load")
    } else {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/progs/hooks.bpf.o");
        let obj = waggle_object::Object::open(std::path::Path::new(path)).expect("object");
        let l = rt.load_object(&obj, 0).expect("load");
        let p = l.program(name).expect("program");
        loaded = Some(l);
        p
    };
    rt.link_create(prog, "bench", 0).expect("link");
    if let Some(second) = second {
        // A second program after it: `return0` again, or `deny_port` after `deny_root`.
        let p = match &loaded {
            Some(l) => l.program(second).expect("program"),
            None => prog,
        };
        rt.link_create(p, "bench", 0).expect("link");
    }
    let mut r = Req {
        uid: 1,
        ..Req::default()
    };
    assert_eq!(hook.fire(&mut r).expect("fires"), 0);
    (rt, hook)
}

#[divan::bench(args = ["return0", "deny_root"])]
fn app_hook_fire(b: Bencher, name: &str) {
    let (_rt, hook) = setup(name);
    let mut r = Req {
        uid: 1,
        ..Req::default()
    };
    b.bench_local(|| hook.fire(black_box(&mut r)));
}

/// Like `app_hook_fire`, the result used as an application uses it (a verdict, errors
/// mapped to one): the `Result` never goes through memory.
#[divan::bench(args = ["return0", "deny_root"])]
fn app_hook_fire_verdict(b: Bencher, name: &str) {
    let (_rt, hook) = setup(name);
    let mut r = Req {
        uid: 1,
        ..Req::default()
    };
    b.bench_local(|| hook.fire(black_box(&mut r)).unwrap_or(u64::MAX));
}

/// Two programs on the hook, both running (each answers 0): `return0` twice, or `deny_root`
/// then `deny_port`.
#[divan::bench(args = ["return0", "deny_root"])]
fn app_hook_fire_two(b: Bencher, name: &str) {
    let second = if name == "return0" {
        "return0"
    } else {
        "deny_port"
    };
    let (_rt, hook) = setup_chain(name, Some(second));
    let mut r = Req {
        uid: 1,
        ..Req::default()
    };
    b.bench_local(|| hook.fire(black_box(&mut r)));
}

#[divan::bench(args = ["return0", "deny_root"])]
fn program_run_direct(b: Bencher, name: &str) {
    let (_rt, hook) = setup(name);
    let prog = hook.hook().attached()[0].program.clone();
    let r = Req {
        uid: 1,
        ..Req::default()
    };
    b.bench_local(|| {
        let region = waggle_vm::Region::readonly(bytemuck::bytes_of(black_box(&r)));
        let r1 = region.addr();
        prog.run([r1, 16, 0, 0, 0], [region])
    });
}
