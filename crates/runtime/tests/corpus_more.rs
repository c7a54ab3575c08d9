//! End-to-end tests of the corpus programs for parsers and the remaining map types
//! (`xdp_parse`, `socket_count`, `percpu_lru`, `queue_stack`, `lpm`, `bloom`): load → run
//! on inputs → expected return values and map contents → close → nothing left alive.
//! (`kernel_diff.rs` runs the same objects against the kernel.)

use std::path::PathBuf;
use waggle_object::Object;
use waggle_runtime::{Handle, LoadedObject, Runtime, TestRun};

const XDP_ABORTED: u64 = 0;
const XDP_DROP: u64 = 1;
const XDP_PASS: u64 = 2;

fn load(rt: &Runtime, name: &str) -> LoadedObject {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/progs")
        .join(name);
    let obj = Object::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    rt.load_object(&obj, 1)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn run(rt: &Runtime, prog: Handle, data: &[u8]) -> u64 {
    rt.prog_test_run(
        prog,
        &TestRun {
            data_in: data,
            ..TestRun::default()
        },
    )
    .unwrap_or_else(|e| panic!("test run: {e}"))
    .retval
}

fn unload(rt: &Runtime, loaded: LoadedObject) {
    loaded.close(rt);
    assert_eq!(rt.open_handles(), 0);
    assert_eq!(rt.live_objects(), 0, "everything is freed once closed");
}

fn u32k(k: u32) -> [u8; 4] {
    k.to_ne_bytes()
}

fn u64s(v: &[u8]) -> Vec<u64> {
    v.chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect()
}

/// A u64 counter of an array or hash map (`None` when absent).
fn counter(rt: &Runtime, map: Handle, key: u32) -> Option<u64> {
    rt.map_lookup_elem(map, &u32k(key))
        .ok()
        .map(|v| u64s(&v)[0])
}

/// A per-CPU u64 counter summed over CPUs.
fn percpu_sum(rt: &Runtime, map: Handle, key: u32) -> Option<u64> {
    rt.map_lookup_elem(map, &u32k(key))
        .ok()
        .map(|v| u64s(&v).iter().sum())
}

// ---- packets ----

fn eth(proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    p.extend_from_slice(&proto.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn vlan(inner: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0, 5];
    p.extend_from_slice(&inner.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn ipv4(proto: u8, dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1]);
    p.extend_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

fn ipv6(next: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&[0; 32]);
    p.extend_from_slice(l4);
    p
}

fn udp(dport: u16, payload: usize) -> Vec<u8> {
    let mut p = 1234u16.to_be_bytes().to_vec();
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.resize(8 + payload, 0xab);
    p
}

fn tcp(dport: u16, payload: usize) -> Vec<u8> {
    let mut p = 1234u16.to_be_bytes().to_vec();
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    p.resize(20 + payload, 0xcd);
    p
}

const IP: u16 = 0x0800;

#[test]
fn xdp_parse_counts_protocols_and_ports() {
    let rt = Runtime::new();
    let loaded = load(&rt, "xdp_parse.bpf.o");
    let prog = loaded.program("xdp_parse").unwrap();
    let dns = eth(IP, &ipv4(17, [10, 0, 0, 2], &udp(53, 32)));
    let blocked = eth(IP, &ipv4(17, [10, 0, 0, 2], &udp(9999, 4)));
    let web = eth(0x8100, &vlan(IP, &ipv4(6, [10, 0, 0, 3], &tcp(80, 10))));
    let ssh6 = eth(0x86dd, &ipv6(6, &tcp(22, 0)));
    let icmp = eth(IP, &ipv4(1, [8, 8, 8, 8], &[8, 0, 0, 0]));
    let arp = eth(0x0806, &[0; 28]);
    let cases: [(&[u8], u64); 8] = [
        (&dns, XDP_PASS),
        (&dns, XDP_PASS),
        (&blocked, XDP_DROP),
        (&web, XDP_PASS),
        (&ssh6, XDP_PASS),
        (&icmp, XDP_PASS),
        (&arp, XDP_PASS),
        (&[7; 10], XDP_DROP),
    ];
    for (i, (p, want)) in cases.iter().enumerate() {
        assert_eq!(run(&rt, prog, p), *want, "packet {i}");
    }
    let classes = loaded.map("proto_count").unwrap();
    // other L4, TCP, UDP, ICMP, non-IP, malformed, VLAN, IPv6
    let got: Vec<u64> = (0..8).map(|k| counter(&rt, classes, k).unwrap()).collect();
    assert_eq!(got, vec![0, 2, 3, 1, 1, 1, 1, 1]);
    let ports = loaded.map("port_bytes").unwrap();
    let stat = |port: u32| u64s(&rt.map_lookup_elem(ports, &u32k(port)).unwrap());
    assert_eq!(stat(53), vec![2, 2 * dns.len() as u64]);
    assert_eq!(stat(9999), vec![1, blocked.len() as u64]);
    assert_eq!(stat(80), vec![1, web.len() as u64]);
    assert_eq!(stat(22), vec![1, ssh6.len() as u64]);
    assert_eq!(rt.map_dump(ports).unwrap().len(), 4);
    // The blocked port is a .rodata constant, frozen at load.
    let rodata = loaded
        .maps
        .iter()
        .find(|(n, _)| n.starts_with(".rodata"))
        .map(|(_, h)| *h)
        .expect(".rodata map");
    let value = rt.map_lookup_elem(rodata, &u32k(0)).unwrap();
    assert_eq!(value[..2], 9999u16.to_ne_bytes());
    assert!(
        rt.map_update_elem(rodata, &u32k(0), &value, 0).is_err(),
        "frozen"
    );
    unload(&rt, loaded);
}

#[test]
fn socket_count_reads_the_packet_with_legacy_loads() {
    let rt = Runtime::new();
    let loaded = load(&rt, "socket_count.bpf.o");
    let prog = loaded.program("socket_count").unwrap();
    let dns = eth(IP, &ipv4(17, [10, 0, 0, 2], &udp(53, 32))); // IP length 60
    let web = eth(IP, &ipv4(6, [10, 0, 0, 3], &tcp(80, 100))); // IP length 140
    let mut padded = eth(IP, &ipv4(1, [8, 8, 8, 8], &[8, 0, 0, 0])); // IP length 24
    padded.extend_from_slice(&[0; 20]);
    let v6 = eth(0x86dd, &ipv6(17, &udp(53, 0)));
    let udp_cut = eth(IP, &ipv4(17, [10, 0, 0, 2], &[0, 1, 0])); // UDP port beyond the end
    // The return value is the number of bytes to keep.
    assert_eq!(run(&rt, prog, &dns), 60, "IPv4 total length");
    assert_eq!(run(&rt, prog, &web), 96, "TCP capped at 96");
    assert_eq!(run(&rt, prog, &padded), 24, "total length, not the padding");
    assert_eq!(run(&rt, prog, &v6), 0, "not IPv4");
    assert_eq!(
        run(&rt, prog, &udp_cut),
        0,
        "an out-of-bounds LD_IND ends with 0"
    );

    let stats = loaded.map("sock_stats").unwrap();
    let lens: u64 = [&dns, &web, &padded, &v6, &udp_cut]
        .iter()
        .map(|p| p.len() as u64 - 14)
        .sum();
    assert_eq!(counter(&rt, stats, 0), Some(5), "packets");
    assert_eq!(
        counter(&rt, stats, 1),
        Some(lens),
        "skb->len, without Ethernet"
    );
    assert_eq!(counter(&rt, stats, 2), Some(4), "IPv4 packets");
    // load_word converts to host order: 10.0.0.1 is 0x0a000001.
    assert_eq!(
        counter(&rt, stats, 3),
        Some(4 * 0x0a00_0001),
        "sum of saddr"
    );
    let protos = loaded.map("ip_proto_packets").unwrap();
    assert_eq!(counter(&rt, protos, 17), Some(2));
    assert_eq!(counter(&rt, protos, 6), Some(1));
    assert_eq!(counter(&rt, protos, 1), Some(1));
    let ports = loaded.map("udp_ports").unwrap();
    let dump = rt.map_dump(ports).unwrap();
    assert_eq!(
        dump,
        vec![(u32k(53).to_vec(), 60u32.to_ne_bytes().to_vec())]
    );
    unload(&rt, loaded);
}

#[test]
fn percpu_and_lru_counters() {
    let rt = Runtime::new();
    let loaded = load(&rt, "percpu_lru.bpf.o");
    let prog = loaded.program("count_percpu").unwrap();
    for p in [&[5u8; 64][..], &[5; 10], &[6; 20], &[0xee; 30]] {
        assert_eq!(run(&rt, prog, p), XDP_PASS);
    }
    assert_eq!(run(&rt, prog, &[]), XDP_DROP);
    let pc_array = loaded.map("pc_array").unwrap();
    let slots: Vec<u64> = (0..4)
        .map(|k| percpu_sum(&rt, pc_array, k).unwrap())
        .collect();
    assert_eq!(slots, vec![0, 2, 2, 0]);
    let pc_hash = loaded.map("pc_hash").unwrap();
    assert_eq!(percpu_sum(&rt, pc_hash, 5), Some(74));
    assert_eq!(percpu_sum(&rt, pc_hash, 6), Some(20));
    assert_eq!(
        percpu_sum(&rt, pc_hash, 0xee),
        None,
        "deleted by the program"
    );
    let lru = loaded.map("lru_bytes").unwrap();
    assert_eq!(counter(&rt, lru, 5), Some(74));
    assert_eq!(counter(&rt, lru, 6), Some(20));
    assert_eq!(counter(&rt, lru, 0xee), Some(30));
    let lru_pc = loaded.map("lru_pc").unwrap();
    assert_eq!(percpu_sum(&rt, lru_pc, 5), Some(2));
    assert_eq!(percpu_sum(&rt, lru_pc, 6), Some(1));
    assert_eq!(percpu_sum(&rt, lru_pc, 0xee), Some(1));
    assert_eq!(rt.map_dump(lru_pc).unwrap().len(), 3);
    unload(&rt, loaded);
}

#[test]
fn queue_and_stack_push_peek_pop() {
    let rt = Runtime::new();
    let loaded = load(&rt, "queue_stack.bpf.o");
    let prog = loaded.program("queue_stack").unwrap();
    // Result: queue status | stack status << 2 | queue value << 8 | stack value << 16 |
    // queue value's length << 24; status 0 ok, 1 ENOENT, 2 E2BIG.
    let res =
        |q: u64, s: u64, qv: u64, sv: u64, qlen: u64| q | s << 2 | qv << 8 | sv << 16 | qlen << 24;
    for b in 1..=4u8 {
        assert_eq!(run(&rt, prog, &vec![b; 10 * b as usize]), 0, "push {b}");
    }
    // Full: the queue refuses (BPF_ANY), the stack drops its oldest (BPF_EXIST).
    assert_eq!(run(&rt, prog, &[5; 50]), res(2, 0, 0, 0, 0));
    assert_eq!(run(&rt, prog, &[0xfe]), res(0, 0, 1, 5, 10), "peek");
    assert_eq!(run(&rt, prog, &[0xff]), res(0, 0, 1, 5, 10), "pop");
    assert_eq!(run(&rt, prog, &[0xff]), res(0, 0, 2, 4, 20));
    assert_eq!(run(&rt, prog, &[0xff]), res(0, 0, 3, 3, 30));
    assert_eq!(run(&rt, prog, &[0xff]), res(0, 0, 4, 2, 40));
    assert_eq!(run(&rt, prog, &[0xff]), res(1, 1, 0, 0, 0), "both empty");
    assert_eq!(run(&rt, prog, &[]), XDP_ABORTED);

    // User space pops in the same orders.
    for b in [7u8, 8] {
        run(&rt, prog, &[b; 3]);
    }
    let fifo = loaded.map("fifo").unwrap();
    let lifo = loaded.map("lifo").unwrap();
    let pop = |m| {
        rt.map_lookup_and_delete_elem(m, &[])
            .ok()
            .map(|v| u32::from_ne_bytes(v.try_into().unwrap()))
    };
    assert_eq!(pop(fifo), Some(7 | 3 << 8));
    assert_eq!(pop(fifo), Some(8 | 3 << 8));
    assert_eq!(pop(fifo), None);
    assert_eq!(pop(lifo), Some(8 | 3 << 8));
    assert_eq!(pop(lifo), Some(7 | 3 << 8));
    assert_eq!(pop(lifo), None);
    unload(&rt, loaded);
}

#[test]
fn lpm_trie_longest_prefix_wins() {
    let rt = Runtime::new();
    let loaded = load(&rt, "lpm.bpf.o");
    let prog = loaded.program("lpm_route").unwrap();
    let routes = loaded.map("routes").unwrap();
    for (len, addr, value) in [
        (8u32, [10, 0, 0, 0], 2u32),
        (16, [10, 1, 0, 0], 3),
        (32, [10, 1, 2, 3], 5),
        (24, [192, 168, 1, 0], 4),
    ] {
        let mut key = len.to_ne_bytes().to_vec();
        key.extend_from_slice(&addr);
        rt.map_update_elem(routes, &key, &value.to_ne_bytes(), 0)
            .unwrap();
    }
    let to = |dst| eth(IP, &ipv4(17, dst, &udp(7, 0)));
    assert_eq!(run(&rt, prog, &to([10, 1, 2, 3])), XDP_DROP, "/32 → 5");
    assert_eq!(run(&rt, prog, &to([10, 1, 9, 9])), XDP_DROP, "/16 → 3");
    assert_eq!(run(&rt, prog, &to([10, 200, 0, 1])), XDP_PASS, "/8 → 2");
    assert_eq!(run(&rt, prog, &to([192, 168, 1, 7])), XDP_PASS, "/24 → 4");
    assert_eq!(run(&rt, prog, &to([11, 0, 0, 1])), XDP_PASS, "no route");
    assert_eq!(run(&rt, prog, &eth(0x0806, &[0; 28])), XDP_PASS, "not IPv4");
    let hits = loaded.map("route_hits").unwrap();
    let got: Vec<u64> = (0..6).map(|k| counter(&rt, hits, k).unwrap()).collect();
    assert_eq!(got, vec![1, 0, 1, 1, 1, 1]);
    assert_eq!(rt.map_dump(routes).unwrap().len(), 4);
    unload(&rt, loaded);
}

fn bloom_msg(op: u8, v: u32) -> Vec<u8> {
    let mut m = vec![op];
    m.extend_from_slice(&v.to_le_bytes());
    m
}

#[test]
fn bloom_filter_adds_and_answers_absent() {
    let rt = Runtime::new();
    let loaded = load(&rt, "bloom.bpf.o");
    let prog = loaded.program("bloom_check").unwrap();
    assert_eq!(run(&rt, prog, &bloom_msg(1, 0x1122_3344)), XDP_PASS, "add");
    assert_eq!(run(&rt, prog, &bloom_msg(1, 0xdead_beef)), XDP_PASS, "add");
    // Absent with overwhelming probability (2 values in a filter sized for 64).
    assert_eq!(
        run(&rt, prog, &bloom_msg(2, 0x0102_0304)),
        XDP_PASS,
        "absent"
    );
    assert_eq!(run(&rt, prog, &[1, 2]), XDP_ABORTED, "too short");
    let stats = loaded.map("bloom_stats").unwrap();
    let got: Vec<u64> = (0..3).map(|k| counter(&rt, stats, k).unwrap()).collect();
    assert_eq!(got, vec![2, 0, 1]);
    unload(&rt, loaded);
}

#[test]
fn bloom_filter_peek_finds_pushed_values() {
    let rt = Runtime::new();
    let loaded = load(&rt, "bloom.bpf.o");
    let prog = loaded.program("bloom_check").unwrap();
    assert_eq!(run(&rt, prog, &bloom_msg(1, 0x1122_3344)), XDP_PASS, "add");
    assert_eq!(run(&rt, prog, &bloom_msg(1, 0xdead_beef)), XDP_PASS, "add");
    assert_eq!(
        run(&rt, prog, &bloom_msg(2, 0x1122_3344)),
        XDP_DROP,
        "maybe present"
    );
    assert_eq!(
        run(&rt, prog, &bloom_msg(2, 0xdead_beef)),
        XDP_DROP,
        "maybe present"
    );
    assert_eq!(
        run(&rt, prog, &bloom_msg(2, 0x0102_0304)),
        XDP_PASS,
        "absent"
    );
    let stats = loaded.map("bloom_stats").unwrap();
    let got: Vec<u64> = (0..3).map(|k| counter(&rt, stats, k).unwrap()).collect();
    assert_eq!(got, vec![2, 2, 1]);
    unload(&rt, loaded);
}
