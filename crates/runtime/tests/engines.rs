//! The same verified program on each engine the runtime offers: verified JIT code (the
//! default on x86-64, with direct calls of the hot helpers), checked JIT code and the
//! interpreter give the same results and map effects. One test: it switches the process's
//! default engine.

use waggle_isa::asm::assemble;
use waggle_maps::{MapSpec, MapType};
use waggle_runtime::{Engine, MapCreate, ProgLoad, ProgramType, Runtime, set_default_engine};
use waggle_vm::Region;

/// Update, lookup, atomic add through the value pointer, lookup again, the clock, the CPU,
/// a random number, delete, lookup of the deleted key: r0 = value + value after the add +
/// the helpers' return codes, or -1 if any result is off.
fn program(map: u32) -> String {
    format!(
        "stw [%r10-4], 7
stdw [%r10-16], 0x1122
mov %r2, %r10
add %r2, -4
mov %r3, %r10
add %r3, -16
mov %r4, 0
lddw map_fd %r1, {map}
call 2
mov %r6, %r0
mov %r2, %r10
add %r2, -4
lddw map_fd %r1, {map}
call 1
jeq %r0, 0, fail
ldxdw %r7, [%r0]
mov %r1, 1
lock add [%r0], %r1
mov %r2, %r10
add %r2, -4
lddw map_fd %r1, {map}
call 1
jeq %r0, 0, fail
ldxdw %r9, [%r0]
add %r7, %r9
call 5
jeq %r0, 0, fail
call 8
jge %r0, 4096, fail
call 7
rsh %r0, 32
jne %r0, 0, fail
mov %r2, %r10
add %r2, -4
lddw map_fd %r1, {map}
call 3
add %r6, %r0
mov %r2, %r10
add %r2, -4
lddw map_fd %r1, {map}
call 1
jne %r0, 0, fail
mov %r0, %r7
add %r0, %r6
exit
fail:
mov %r0, -1
exit
"
    )
}

#[test]
fn every_engine_gives_the_same_results() {
    let mut results = Vec::new();
    for engine in [Engine::Jit, Engine::JitChecked, Engine::Interpreter] {
        set_default_engine(engine);
        let rt = Runtime::new();
        let m = rt
            .map_create(&MapCreate::new(MapSpec::new(MapType::Hash, 4, 8, 4), "h"))
            .expect("map");
        let h = rt
            .prog_load(&ProgLoad {
                prog_type: ProgramType::PLAIN,
                name: "t".into(),
                insns: assemble(&program(m.0)).expect("assembles"),
                license: "GPL".into(),
                ..ProgLoad::default()
            })
            .unwrap_or_else(|e| panic!("{engine:?}: {e}"));
        let p = rt.program(h).expect("program");
        let want_engine = if cfg!(target_arch = "x86_64") {
            engine
        } else {
            Engine::Interpreter
        };
        assert_eq!(p.engine(), want_engine);
        let mut ctx = [0u8; 8];
        let addr = ctx.as_ptr() as u64;
        for _ in 0..3 {
            let r = p.run([addr, 8, 0, 0, 0], [Region::writable(&mut ctx)]);
            results.push((engine, r));
        }
        assert!(
            rt.map_lookup_elem(m, &7u32.to_ne_bytes()).is_err(),
            "deleted"
        );
    }
    for (engine, r) in &results {
        assert_eq!(*r, Ok(0x1122 + 0x1123), "{engine:?}");
    }
}
