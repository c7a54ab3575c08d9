//! Dynptrs, numeric iterators and may_goto at run time, from C (`tests/progs/dynptr.bpf.c`,
//! which Linux accepts): kfunc calls resolved by name, run as helpers; reads, writes and
//! slices bounds-checked by the helpers; packet slices pointing into the packet.

use waggle_runtime::{Engine, Runtime, TestRun, set_default_engine};

/// A 74-byte IPv4/TCP frame (`ethertype` 0x0800) with distinct MAC addresses.
fn packet(ethertype: [u8; 2]) -> Vec<u8> {
    let mut p = vec![0u8; 74];
    p[..6].copy_from_slice(&[0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0x01]);
    p[6..12].copy_from_slice(&[0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0x02]);
    p[12..14].copy_from_slice(&ethertype);
    for (i, b) in p.iter_mut().enumerate().skip(14) {
        *b = i as u8;
    }
    p
}

#[test]
fn dynptr_programs_run_with_linux_semantics() {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs/dynptr.bpf.o");
    let obj = waggle_object::Object::open(&path).unwrap();
    for engine in [Engine::Interpreter, Engine::Jit, Engine::JitChecked] {
        let rt = Runtime::new();
        set_default_engine(engine);
        let loaded = rt.load_object(&obj, 1).unwrap_or_else(|e| panic!("{e}"));
        let run = |name: &str, data: &[u8]| {
            rt.prog_test_run(
                loaded.program(name).unwrap(),
                &TestRun {
                    data_in: data,
                    ..TestRun::default()
                },
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let ipv4 = packet([0x08, 0x00]);
        let arp = packet([0x08, 0x06]);
        // Before xdp_local writes the map value: the may_goto loop sums zeros.
        assert_eq!(run("xdp_may_goto", &ipv4).retval, 2, "{engine:?}");
        assert_eq!(run("xdp_eth_slice", &ipv4).retval, 2, "{engine:?}");
        assert_eq!(run("xdp_eth_slice", &arp).retval, 1, "{engine:?}");
        // Too short for the 14-byte slice: NULL, XDP_ABORTED.
        assert_eq!(run("xdp_eth_slice", &ipv4[..10]).retval, 0, "{engine:?}");
        // The writable slice points into the packet: the MACs are swapped in place.
        let r = run("xdp_swap_macs", &ipv4);
        assert_eq!(r.retval, 3, "{engine:?}");
        assert_eq!(&r.data_out[..6], &ipv4[6..12]);
        assert_eq!(&r.data_out[6..12], &ipv4[..6]);
        assert_eq!(&r.data_out[12..], &ipv4[12..]);
        // Local dynptr over a map value; the out-of-bounds read is refused by the helper.
        assert_eq!(run("xdp_local", &ipv4).retval, 2, "{engine:?}");
        let scratch = loaded.map("scratch").unwrap();
        let v = rt.map_lookup_elem(scratch, &0u32.to_ne_bytes()).unwrap();
        assert_eq!(&v[8..16], &0x1122334455667788u64.to_ne_bytes());
        // Ring-buffer dynptr record: size, then the packet in 16-byte chunks (64 of 74 bytes).
        assert_eq!(run("xdp_capture", &ipv4).retval, 2, "{engine:?}");
        let rb = rt.map(loaded.map("events").unwrap()).unwrap();
        let mut events = Vec::new();
        rb.inner
            .as_ringbuf()
            .unwrap()
            .consume(|s| events.push(s.to_vec()));
        assert_eq!(events.len(), 1, "{engine:?}");
        let e = &events[0];
        assert_eq!(e.len(), 8 + 74);
        assert_eq!(u32::from_ne_bytes(e[..4].try_into().unwrap()), 74);
        assert_eq!(&e[8..8 + 64], &ipv4[..64]);
        // An skb dynptr (tc): the IPv4 protocol byte through a slice.
        let mut udp = ipv4.clone();
        udp[23] = 17;
        assert_eq!(run("tc_udp_only", &udp).retval, 0, "{engine:?}");
        assert_eq!(run("tc_udp_only", &ipv4).retval, 2, "{engine:?}");
        assert_eq!(
            run("tc_udp_only", &arp).retval as u32,
            u32::MAX,
            "{engine:?}"
        );
        loaded.close(&rt);
    }
}
