//! `bpf_get_attach_cookie` from a plain program (`answer_cookie` of tests/progs/hooks.bpf.c)
//! on an application hook: each link's own cookie comes back as the hook's answer, and a test
//! run (no link) sees 0.

use std::path::PathBuf;
use waggle_object::Object;
use waggle_runtime::{Combine, CtxAccess, Runtime, TestRun};

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Req {
    uid: u32,
    port: u32,
    seen: u64,
}

#[test]
fn plain_program_reads_its_links_cookie() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs/hooks.bpf.o");
    let obj = Object::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rt = Runtime::new();
    let o = rt.load_object(&obj, 1).unwrap_or_else(|e| panic!("{e}"));
    let p = o.program("answer_cookie").expect("answer_cookie loaded");
    assert_eq!(
        rt.program(p).unwrap().info().prog_type,
        waggle_runtime::ProgramType::PLAIN
    );

    let a = rt
        .app_hook::<Req>("acl_a", CtxAccess::ReadOnly, Combine::Continue(0))
        .unwrap();
    let b = rt
        .app_hook::<Req>("acl_b", CtxAccess::ReadOnly, Combine::Continue(0))
        .unwrap();
    let la = rt.link_create(p, "acl_a", 0x1234_5678).unwrap();
    let lb = rt.link_create(p, "acl_b", 42).unwrap();
    assert_eq!(a.fire(&mut Req::default()).unwrap(), 0x1234_5678);
    assert_eq!(b.fire(&mut Req::default()).unwrap(), 42);

    // Without a link there is no cookie.
    let r = rt
        .prog_test_run(
            p,
            &TestRun {
                data_in: &[0u8; 16],
                ..TestRun::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.retval, 0);

    for l in [la, lb] {
        rt.close(l).unwrap();
    }
    o.close(&rt);
    assert_eq!(rt.live_objects(), 0);
}
