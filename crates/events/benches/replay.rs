//! Pcap replay of an XDP drop program from a capture already in memory: packets per second
//! on one core (divan's items/s), 64-byte packets.
//!
//! Run: `cargo bench -p waggle-events --bench replay`.

use divan::{Bencher, counter::ItemsCount};
use waggle_events::{Capture, PacketHook, PcapWriter, Replay, replay};
use waggle_runtime::{Combine, HookSpec, ProgLoad, ProgramType, Runtime, xdp_action};

const PACKETS: usize = 100_000;

fn main() {
    divan::main();
}

fn capture() -> Capture {
    let mut w = PcapWriter::new(Vec::new(), 1).expect("header");
    let mut p = [0u8; 64];
    for i in 0..PACKETS {
        p[12] = 0x08;
        p[14..22].copy_from_slice(&(i as u64).to_le_bytes());
        w.write(i as u64 * 1000, &p, 64).expect("write");
    }
    Capture::parse(&w.finish().expect("finish")).expect("parse")
}

#[divan::bench(sample_count = 10)]
fn xdp_drop(b: Bencher) {
    let rt = Runtime::new();
    let hook = rt
        .hook_create(
            "xdp:bench",
            HookSpec::new(ProgramType::Xdp, Combine::Continue(xdp_action::PASS)),
        )
        .expect("hook");
    let insns = waggle_isa::asm::assemble("mov %r0, 1\nexit\n").expect("asm");
    let prog = rt
        .prog_load(&ProgLoad {
            prog_type: ProgramType::Xdp,
            name: "drop".into(),
            insns,
            ..ProgLoad::default()
        })
        .expect("load");
    rt.link_create(prog, "xdp:bench", 0).expect("link");
    let cap = capture();
    let hook = PacketHook::Xdp(hook);
    b.counter(ItemsCount::new(PACKETS)).bench_local(|| {
        let s = replay(&hook, &cap, &Replay::default(), |_, _| {}).expect("replay");
        assert_eq!(s.verdicts[xdp_action::DROP as usize], PACKETS as u64);
    });
}
