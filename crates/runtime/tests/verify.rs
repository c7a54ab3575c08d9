//! PROG_LOAD runs the verifier: unsafe programs are refused with the kernel's errno, the
//! verifier's message and its log; corpus objects load (map-in-map included).

use std::path::Path;
use waggle_isa::asm::assemble;
use waggle_maps::{MapSpec, MapType};
use waggle_object::Object;
use waggle_runtime::{MapCreate, ProgLoad, ProgramType, Runtime};

fn load(
    rt: &Runtime,
    prog_type: ProgramType,
    text: &str,
    skip: bool,
) -> Result<(), (i32, String, String)> {
    rt.prog_load(&ProgLoad {
        prog_type,
        name: "t".into(),
        insns: assemble(text).expect("assembles"),
        license: "GPL".into(),
        log_level: 1,
        skip_verifier: skip,
        ..ProgLoad::default()
    })
    .map(|_| ())
    .map_err(|e| (e.error.errno, e.error.message, e.log))
}

#[test]
fn missing_null_check_is_refused_with_eacces_and_a_log() {
    let rt = Runtime::new();
    let m = rt
        .map_create(&MapCreate::new(MapSpec::new(MapType::Hash, 4, 8, 4), "h"))
        .unwrap();
    let text = format!(
        "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw map_fd %r1, {m}\ncall 1\nldxdw %r0, [%r0]\nexit"
    );
    let (errno, msg, log) = load(&rt, ProgramType::Xdp, &text, false).unwrap_err();
    assert_eq!(errno, 13, "{msg}");
    assert!(msg.contains("R0 may be NULL at insn 6"), "{msg}");
    assert!(log.contains("state:"), "{log}");
    // With the check, it loads.
    let ok = format!(
        "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw map_fd %r1, {m}\ncall 1\njeq %r0, 0, +1\nldxdw %r0, [%r0]\nmov %r0, 0\nexit"
    );
    load(&rt, ProgramType::Xdp, &ok, false).unwrap();
}

#[test]
fn infinite_loop_is_refused_with_einval() {
    let rt = Runtime::new();
    let (errno, msg, _) = load(&rt, ProgramType::Xdp, "mov %r0, 0\nja -1", false).unwrap_err();
    assert_eq!(errno, 22, "{msg}");
    assert!(msg.contains("infinite loop"), "{msg}");
}

#[test]
fn raw_code_may_skip_the_verifier_explicitly() {
    let rt = Runtime::new();
    // Reads past what any plain context may be (`PLAIN_CTX_MAX`): refused unless skipped
    // (the checked engine then bounds the access at run time).
    let text = "ldxb %r0, [%r1+8192]\nexit";
    let (_, msg, _) = load(&rt, ProgramType::PLAIN, text, false).unwrap_err();
    assert!(msg.contains("context"), "{msg}");
    load(&rt, ProgramType::PLAIN, text, true).unwrap();
}

#[test]
fn map_in_map_object_loads_and_verifies() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs/map_in_map.bpf.o");
    let obj = Object::open(&path).unwrap();
    let rt = Runtime::new();
    let loaded = rt.load_object(&obj, 1).unwrap_or_else(|e| panic!("{e}"));
    assert!(!loaded.programs.is_empty());
    loaded.close(&rt);
}
