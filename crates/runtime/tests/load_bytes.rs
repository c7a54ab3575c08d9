//! `bpf_skb_load_bytes` and `bpf_xdp_load_bytes`: bytes of the packet copied to the stack,
//! `-EFAULT` and a zeroed buffer past the end (as the kernel's `skb_header_pointer` failing);
//! `bpf_xdp_get_buff_len`.

use waggle_isa::asm::assemble;
use waggle_runtime::{ProgLoad, ProgramType, Runtime, TestRun};

/// Loads 2 bytes at `off` with helper `helper`; r0 = the helper's result (low 32 bits) << 16 |
/// the bytes (little-endian).
fn program(helper: u32, off: u32) -> String {
    format!(
        "mov %r2, {off}\nmov %r3, %r10\nadd %r3, -8\nstdw [%r10-8], -1\nmov %r4, 2\ncall {helper}\n\
         lsh %r0, 16\nldxh %r1, [%r10-8]\nor %r0, %r1\nexit"
    )
}

fn run(rt: &Runtime, prog_type: ProgramType, text: &str, packet: &[u8]) -> u64 {
    let p = rt
        .prog_load(&ProgLoad {
            prog_type,
            name: "load".into(),
            insns: assemble(text).expect("assembles"),
            license: "GPL".into(),
            ..ProgLoad::default()
        })
        .unwrap_or_else(|e| panic!("{}: {}", e.error, e.log));
    let r = rt
        .prog_test_run(
            p,
            &TestRun {
                data_in: packet,
                ..TestRun::default()
            },
        )
        .expect("runs")
        .retval;
    rt.close(p).unwrap();
    r
}

fn packet() -> Vec<u8> {
    let mut p = vec![0u8; 64];
    p[12] = 0x08; // IPv4 EtherType
    p[14] = 0x45; // IPv4 version and header length
    p[15] = 0x10;
    p
}

#[test]
fn xdp_load_bytes_reads_the_frame() {
    let rt = Runtime::new();
    // The EtherType, from the frame's start.
    assert_eq!(
        run(&rt, ProgramType::Xdp, &program(189, 12), &packet()),
        0x0008
    );
    // Past the end: -EFAULT (-14) and zeroes.
    let r = run(&rt, ProgramType::Xdp, &program(189, 63), &packet());
    assert_eq!(r as u32, (-14i32 << 16) as u32);
}

#[test]
fn skb_load_bytes_reads_from_the_network_header() {
    let rt = Runtime::new();
    // Socket filters see the packet from the network header, as __sk_buff.data.
    assert_eq!(
        run(&rt, ProgramType::SocketFilter, &program(26, 0), &packet()),
        0x1045
    );
    assert_eq!(
        run(&rt, ProgramType::SchedCls, &program(26, 12), &packet()),
        0x0008
    );
    let r = run(&rt, ProgramType::SocketFilter, &program(26, 50), &packet());
    assert_eq!(r as u32, (-14i32 << 16) as u32);
}

#[test]
fn xdp_get_buff_len_is_the_frame_length() {
    let rt = Runtime::new();
    for len in [14usize, 64, 1500] {
        let mut p = packet();
        p.resize(len, 0);
        assert_eq!(
            run(&rt, ProgramType::Xdp, "call 188\nexit", &p),
            len as u64,
            "{len}-byte frame"
        );
    }
}

#[test]
fn linked_scalars_program_copies_the_packet_head() {
    // tests/progs/linked.bpf.c: min(len, 128) bytes of the packet into a ring buffer record,
    // the length taken from bpf_xdp_get_buff_len; it needs linked scalars to verify.
    let obj = waggle_object::Object::open(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs/linked.bpf.o"),
    )
    .unwrap();
    let rt = Runtime::new();
    let loaded = rt.load_object(&obj, 1).unwrap_or_else(|e| panic!("{e}"));
    let prog = loaded.program("xdp_snap_head").unwrap();
    let r = rt
        .prog_test_run(
            prog,
            &TestRun {
                data_in: &packet(),
                ..TestRun::default()
            },
        )
        .unwrap();
    assert_eq!(r.retval, 2, "XDP_PASS");
    let rb = rt.map(loaded.map("samples").unwrap()).unwrap();
    let mut records = Vec::new();
    rb.inner
        .as_ringbuf()
        .unwrap()
        .consume(|s| records.push(s.to_vec()));
    // A 64-byte frame: 50 bytes after the Ethernet header, all of them copied after the length.
    assert_eq!(records.len(), 1);
    assert_eq!(records[0][..4], 50u32.to_ne_bytes());
    assert_eq!(records[0][4..54], packet()[14..]);
    loaded.close(&rt);
}
