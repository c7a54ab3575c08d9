//! `examples/traffic.pcap`, the capture of the README's main job, is generated here,
//! reproducibly (a fixed pseudo-random sequence, etherparse for the headers): this test
//! fails if the committed file differs from what the generator makes. Regenerate it with
//! `WAGGLE_REGENERATE=1 cargo test -p waggle-events --test example_pcap`.
//!
//! It also replays the capture into `examples/traffic.bpf.o` and checks the program's
//! per-protocol counts against the generator's own.

use etherparse::PacketBuilder;
use std::collections::BTreeMap;
use std::path::PathBuf;
use waggle_events::{Capture, PacketHook, PcapWriter, Replay, replay};
use waggle_runtime::{Combine, HookSpec, ProgramType, Runtime, xdp_action};

/// A small linear congruential generator: the same sequence everywhere.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

const CLIENT: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const ROUTER: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0xfe];

/// The packets: (timestamp ns, frame, protocol name for the check).
fn generate() -> Vec<(u64, Vec<u8>, &'static str)> {
    let mut rng = Lcg(0x5761_6767_6c65);
    let mut ts = 1_700_000_000_000_000_000u64;
    let mut out = Vec::new();
    let v4 = |rng: &mut Lcg| [192, 168, 1, 10 + rng.below(5) as u8];
    let v6 = |rng: &mut Lcg| {
        let mut a = [0u8; 16];
        a[0] = 0x20;
        a[1] = 0x01;
        a[2] = 0x0d;
        a[3] = 0xb8;
        a[15] = 1 + rng.below(5) as u8;
        a
    };
    for i in 0..400u32 {
        ts += 200_000 + u64::from(rng.below(2_000_000));
        let mut frame = Vec::new();
        let eth = PacketBuilder::ethernet2(CLIENT, ROUTER);
        let pick = rng.below(100);
        let sport = 32768 + rng.below(28000) as u16;
        let seq = rng.next();
        let kind = match pick {
            0..35 => {
                let payload = vec![0x17; rng.below(1400) as usize];
                eth.ipv4(v4(&mut rng), [93, 184, 216, 34], 64)
                    .tcp(sport, 443, seq, 64240)
                    .write(&mut frame, &payload)
                    .unwrap();
                "TCP"
            }
            35..50 => {
                let payload = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
                    .repeat(1 + rng.below(8) as usize);
                eth.ipv4(v4(&mut rng), [93, 184, 216, 34], 64)
                    .tcp(sport, 80, seq, 64240)
                    .write(&mut frame, &payload)
                    .unwrap();
                "TCP"
            }
            50..70 => {
                let payload = vec![0u8; 20 + rng.below(40) as usize];
                eth.ipv4(v4(&mut rng), [192, 168, 1, 1], 64)
                    .udp(sport, 53)
                    .write(&mut frame, &payload)
                    .unwrap();
                "UDP"
            }
            70..80 => {
                let payload = vec![0x5a; 40 + rng.below(200) as usize];
                eth.ipv4(v4(&mut rng), [10, 0, 0, 22], 64)
                    .tcp(sport, 22, seq, 501)
                    .write(&mut frame, &payload)
                    .unwrap();
                "TCP"
            }
            80..85 => {
                eth.ipv4(v4(&mut rng), [162, 159, 200, 1], 64)
                    .udp(123, 123)
                    .write(&mut frame, &[0x23; 48])
                    .unwrap();
                "UDP"
            }
            85..90 => {
                eth.ipv4(v4(&mut rng), [1, 1, 1, 1], 64)
                    .icmpv4_echo_request(0x77, i as u16)
                    .write(&mut frame, &[0x61; 56])
                    .unwrap();
                "ICMP"
            }
            90..93 => {
                // ARP who-has, by hand: etherparse builds IP-level packets.
                frame.extend_from_slice(&[0xff; 6]);
                frame.extend_from_slice(&CLIENT);
                frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
                frame.extend_from_slice(&CLIENT);
                frame.extend_from_slice(&[192, 168, 1, 10, 0, 0, 0, 0, 0, 0, 192, 168, 1, 1]);
                frame.resize(60, 0);
                "ARP"
            }
            93..96 => {
                eth.ipv6(
                    v6(&mut rng),
                    [
                        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
                    ],
                    64,
                )
                .icmpv6_echo_request(0x99, i as u16)
                .write(&mut frame, &[0x62; 56])
                .unwrap();
                "ICMPv6"
            }
            _ => {
                let payload = vec![0x17; rng.below(1200) as usize];
                eth.ipv6(
                    v6(&mut rng),
                    [
                        0x26, 0x06, 0x28, 0, 0x02, 0x20, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x01,
                    ],
                    64,
                )
                .tcp(sport, 443, seq, 64240)
                .write(&mut frame, &payload)
                .unwrap();
                "TCP"
            }
        };
        out.push((ts, frame, kind));
    }
    out
}

fn pcap_bytes(packets: &[(u64, Vec<u8>, &str)]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), 1).unwrap();
    for (ts, f, _) in packets {
        w.write(*ts, f, f.len() as u32).unwrap();
    }
    w.finish().unwrap()
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn committed_capture_is_what_the_generator_makes() {
    let bytes = pcap_bytes(&generate());
    let path = examples().join("traffic.pcap");
    if std::env::var_os("WAGGLE_REGENERATE").is_some() {
        std::fs::write(&path, &bytes).unwrap();
        println!("wrote {}", path.display());
    }
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        committed == bytes,
        "{} differs from the generator's output; regenerate it (see the module doc)",
        path.display()
    );
}

#[test]
fn traffic_example_counts_what_the_generator_sent() {
    let packets = generate();
    let cap = Capture::parse(&pcap_bytes(&packets)).unwrap();
    let obj = waggle_object::Object::open(examples().join("traffic.bpf.o")).unwrap();
    let rt = Runtime::new();
    let loaded = rt.load_object(&obj, 1).unwrap_or_else(|e| panic!("{e}"));
    let hook = rt
        .hook_create(
            "xdp:example",
            HookSpec::new(ProgramType::Xdp, Combine::Continue(xdp_action::PASS)),
        )
        .unwrap();
    let link = rt
        .link_create(loaded.program("traffic").unwrap(), "xdp:example", 0)
        .unwrap();
    let stats = replay(&PacketHook::Xdp(hook), &cap, &Replay::default(), |_, _| {}).unwrap();
    assert_eq!(
        stats.verdicts[xdp_action::PASS as usize],
        packets.len() as u64
    );

    let mut want: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for (_, f, kind) in &packets {
        let key = match *kind {
            "ICMP" => 1,
            "TCP" => 6,
            "UDP" => 17,
            "ICMPv6" => 58,
            "ARP" => 256,
            _ => unreachable!(),
        };
        let e = want.entry(key).or_default();
        e.0 += 1;
        e.1 += f.len() as u64;
    }
    let mut got = BTreeMap::new();
    for (k, v) in rt.map_dump(loaded.map("per_proto").unwrap()).unwrap() {
        let key = u32::from_ne_bytes(k[..4].try_into().unwrap());
        let p = u64::from_ne_bytes(v[..8].try_into().unwrap());
        let b = u64::from_ne_bytes(v[8..16].try_into().unwrap());
        got.insert(key, (p, b));
    }
    assert_eq!(got, want);
    let port443: u64 = rt
        .map_lookup_elem(loaded.map("bytes_per_port").unwrap(), &443u16.to_ne_bytes())
        .map(|v| u64::from_ne_bytes(v[..8].try_into().unwrap()))
        .unwrap();
    let want443: u64 = packets
        .iter()
        .filter(|(_, f, k)| {
            *k == "TCP" && {
                // Destination port of TCP over IPv4 (offset 36) or IPv6 (offset 56).
                let off = if f[12..14] == [0x86, 0xdd] { 56 } else { 36 };
                u16::from_be_bytes([f[off], f[off + 1]]) == 443
            }
        })
        .map(|(_, f, _)| f.len() as u64)
        .sum();
    assert_eq!(port443, want443);
    rt.close(link).unwrap();
    loaded.close(&rt);
}
