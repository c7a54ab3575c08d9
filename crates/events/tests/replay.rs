//! Event sources end to end: synthetic captures (pcap and pcapng) replayed into XDP and
//! socket filter programs of `tests/progs/hooks.bpf.c`, and a timer firing its perf_event
//! program; effects checked in the programs' maps and in the output capture.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;
use waggle_events::timer::{self, Timer};
use waggle_events::{Capture, PacketHook, PcapWriter, Replay, replay};
use waggle_object::Object;
use waggle_runtime::{Combine, HookSpec, LoadedObject, ProgramType, Runtime, xdp_action};

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

/// Packet `i`: Ethernet, IPv4 type, payload starting with `i` (the program's verdict byte).
fn packet(i: u8) -> Vec<u8> {
    let mut p = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    p.extend((0..30).map(|k| i.wrapping_add(k)));
    p
}

fn pcap(n: u8) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), 1).unwrap();
    for i in 0..n {
        let p = packet(i);
        w.write(
            1_700_000_000_000_000_000 + u64::from(i) * 1_000_000,
            &p,
            p.len() as u32,
        )
        .unwrap();
    }
    w.finish().unwrap()
}

/// A little-endian pcapng: section header, one Ethernet interface with microsecond
/// timestamps, one enhanced packet block per packet.
fn pcapng(n: u8) -> Vec<u8> {
    let mut f = Vec::new();
    let block = |f: &mut Vec<u8>, t: u32, body: &[u8]| {
        let len = (12 + body.len().next_multiple_of(4)) as u32;
        f.extend_from_slice(&t.to_le_bytes());
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(body);
        f.resize(f.len() + body.len().next_multiple_of(4) - body.len(), 0);
        f.extend_from_slice(&len.to_le_bytes());
    };
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut f, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&1u16.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&65535u32.to_le_bytes());
    block(&mut f, 1, &idb);
    for i in 0..n {
        let p = packet(i);
        let ts = 1_700_000_000_000_000u64 + u64::from(i);
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(p.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(p.len() as u32 + 100).to_le_bytes());
        epb.extend_from_slice(&p);
        block(&mut f, 6, &epb);
    }
    f
}

#[test]
fn captures_parse_in_both_formats() {
    let a = Capture::parse(&pcap(7)).unwrap();
    let b = Capture::parse(&pcapng(7)).unwrap();
    assert_eq!((a.len(), b.len()), (7, 7));
    for (x, y) in a.packets().zip(b.packets()) {
        assert_eq!(x.data, y.data);
        assert_eq!(x.linktype, 1);
    }
    assert_eq!(b.get(3).unwrap().ts_ns, (1_700_000_000_000_000 + 3) * 1000);
    assert_eq!(b.get(3).unwrap().orig_len, packet(3).len() as u32 + 100);
    assert_eq!(
        a.get(2).unwrap().ts_ns,
        1_700_000_000_000_000_000 + 2_000_000
    );
    assert!(Capture::parse(b"not a capture at all").is_err());
    assert!(
        Capture::parse(&pcap(3)[..30]).is_err()
            || Capture::parse(&pcap(3)[..30]).unwrap().is_empty()
    );
}

#[test]
fn xdp_replay_counts_verdicts_and_writes_passed_packets() {
    let (rt, o) = load();
    let hook = rt
        .hook_create(
            "xdp:pcap",
            HookSpec::new(ProgramType::Xdp, Combine::Continue(xdp_action::PASS)),
        )
        .unwrap();
    let link = rt
        .link_create(o.program("xdp_verdict").unwrap(), "xdp:pcap", 0)
        .unwrap();
    for bytes in [pcap(50), pcapng(50)] {
        let cap = Capture::parse(&bytes).unwrap();
        let mut out = PcapWriter::new(Vec::new(), 1).unwrap();
        let progress = AtomicUsize::new(0);
        let before: Vec<u64> = (4..9).map(|s| count(&rt, &o, s)).collect();
        let opts = Replay {
            progress: Some(&progress),
            ..Replay::default()
        };
        let stats = replay(&PacketHook::Xdp(hook.clone()), &cap, &opts, |p, data| {
            out.write(p.ts_ns, data, p.orig_len).unwrap();
        })
        .unwrap();
        assert_eq!(stats.packets, 50);
        assert_eq!(progress.into_inner(), 50);
        for v in 0..5 {
            let want = (0..50u8).filter(|i| u32::from(i % 5) == v).count() as u64;
            assert_eq!(stats.verdicts[v as usize], want, "verdict {v}");
            assert_eq!(count(&rt, &o, 4 + v) - before[v as usize], want);
        }
        let written = Capture::parse(&out.finish().unwrap()).unwrap();
        assert_eq!(written.len() as u64, stats.verdicts[2]);
        for (w, i) in written.packets().zip((0..50u8).filter(|i| i % 5 == 2)) {
            let p = packet(i);
            assert_eq!(
                w.data,
                &p[..p.len() - 4],
                "passed packets lose 4 tail bytes"
            );
            assert_eq!(w.ts_ns, cap.get(usize::from(i)).unwrap().ts_ns);
        }
        assert_eq!(stats.passed_bytes, written.bytes() as u64);
    }
    // At the recorded pace (50 packets 1 ms apart), the same result.
    let cap = Capture::parse(&pcap(50)).unwrap();
    let opts = Replay {
        pace: true,
        ..Replay::default()
    };
    let stats = replay(&PacketHook::Xdp(hook.clone()), &cap, &opts, |_, _| {}).unwrap();
    assert_eq!(stats.verdicts, [10; 5]);
    // A stop flag already set stops the replay before the first packet.
    let stop = AtomicBool::new(true);
    let opts = Replay {
        stop: Some(&stop),
        ..Replay::default()
    };
    assert_eq!(
        replay(&PacketHook::Xdp(hook), &cap, &opts, |_, _| {})
            .unwrap()
            .packets,
        0
    );
    rt.close(link).unwrap();
    o.close(&rt);
    assert_eq!(rt.live_objects(), 0);
}

#[test]
fn socket_filter_replay_truncates() {
    let (rt, o) = load();
    let hook = rt
        .hook_create(
            "socket:pcap",
            HookSpec::new(ProgramType::SocketFilter, Combine::Min),
        )
        .unwrap();
    let link = rt
        .link_create(o.program("keep20").unwrap(), "socket:pcap", 0)
        .unwrap();
    let cap = Capture::parse(&pcap(10)).unwrap();
    let mut lens = Vec::new();
    let stats = replay(
        &PacketHook::SocketFilter(hook),
        &cap,
        &Replay::default(),
        |_, d| lens.push(d.len()),
    )
    .unwrap();
    assert_eq!(lens, vec![20; 10]);
    assert_eq!((stats.truncated, stats.passed_bytes), (10, 200));
    assert_eq!(count(&rt, &o, 9), 10);
    rt.close(link).unwrap();
    o.close(&rt);
}

#[test]
fn timer_fires_on_each_cpu_with_the_period() {
    let (rt, o) = load();
    let hook = rt
        .hook_create(
            "perf:timer",
            HookSpec::new(ProgramType::PerfEvent, Combine::All),
        )
        .unwrap();
    let link = rt
        .link_create(o.program("tick").unwrap(), "perf:timer", 0)
        .unwrap();
    let n = waggle_maps::possible_cpus();
    let cpus: Vec<u32> = if n > 1 { vec![0, 1] } else { vec![0] };
    let t = Timer {
        period: Duration::from_millis(5),
        cpus: cpus.clone(),
        duration: Some(Duration::from_millis(120)),
    };
    let stats = timer::run(&hook, &t, &Arc::new(AtomicBool::new(false)));
    assert_eq!(stats.errors, 0, "{:?}", stats.first_error);
    assert!(stats.fires.iter().all(|&f| f > 0), "{:?}", stats.fires);
    let total: u64 = stats.fires.iter().sum();
    assert_eq!(count(&rt, &o, 10), total);
    assert_eq!(count(&rt, &o, 11), 5_000_000, "sample_period in ns");
    let want: u64 = stats
        .fires
        .iter()
        .zip(&cpus)
        .map(|(f, c)| f * u64::from(c + 1))
        .sum();
    assert_eq!(count(&rt, &o, 12), want, "each thread runs as its CPU");
    rt.close(link).unwrap();
    o.close(&rt);
}
