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
    let rt = Runtime::new();
    let hook = rt
        .app_hook::<Req>("bench", CtxAccess::ReadOnly, Combine::Continue(0))
        .expect("hook");
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
        let loaded = rt.load_object(&obj, 0).expect("load");
        loaded.program(name).expect("program")
    };
    rt.link_create(prog, "bench", 0).expect("link");
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
