//! The wrapper against the running kernel; skipped visibly where `bpf()` is refused.

use waggle_isa::{Insn, LddwKind, Reg, asm, encode};

fn kernel_available() -> bool {
    match waggle_kernel::probe() {
        Ok(()) => true,
        Err(why) => {
            println!("SKIPPED: kernel bpf() not available: {why}");
            false
        }
    }
}

#[test]
fn hash_map_round_trip() {
    if !kernel_available() {
        return;
    }
    let spec = waggle_kernel::MapCreate {
        map_type: 1, // BPF_MAP_TYPE_HASH
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        name: "waggle_test".into(),
        ..Default::default()
    };
    let map = waggle_kernel::map_create(&spec).expect("map create");
    for k in 1u32..=3 {
        waggle_kernel::map_update(
            &map,
            &k.to_le_bytes(),
            &(u64::from(k) * 10).to_le_bytes(),
            0,
        )
        .unwrap();
    }
    let v = waggle_kernel::map_lookup(&map, &2u32.to_le_bytes(), 8).unwrap();
    assert_eq!(v, Some(20u64.to_le_bytes().to_vec()));
    assert_eq!(
        waggle_kernel::map_lookup(&map, &9u32.to_le_bytes(), 8).unwrap(),
        None
    );
    // BPF_NOEXIST on an existing key is EEXIST.
    let e = waggle_kernel::map_update(&map, &1u32.to_le_bytes(), &[0; 8], 1).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(17));
    let mut keys = waggle_kernel::map_keys(&map, 4).unwrap();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            1u32.to_le_bytes().to_vec(),
            2u32.to_le_bytes().to_vec(),
            3u32.to_le_bytes().to_vec()
        ]
    );
    waggle_kernel::map_delete(&map, &2u32.to_le_bytes()).unwrap();
    assert_eq!(waggle_kernel::map_keys(&map, 4).unwrap().len(), 2);
}

#[test]
fn xdp_program_test_run_and_map_update() {
    if !kernel_available() {
        return;
    }
    let spec = waggle_kernel::MapCreate {
        map_type: 2, // BPF_MAP_TYPE_ARRAY
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        ..Default::default()
    };
    let map = waggle_kernel::map_create(&spec).unwrap();
    // *array[0] += packet length; return XDP_PASS.
    let body = asm::assemble(
        "ldxw %r6, [%r1+4]\nldxw %r7, [%r1]\nsub %r6, %r7\nstw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\n\
         lddw %r1, 0\ncall 1\njeq %r0, 0, +1\nstxdw [%r0], %r6\nmov %r0, 2\nexit\n",
    )
    .unwrap();
    // Point the lddw at the map: BPF_PSEUDO_MAP_FD with the fd in imm.
    let fd = std::os::fd::AsRawFd::as_raw_fd(&map) as u64;
    let insns: Vec<Insn> = body
        .into_iter()
        .map(|i| match i {
            Insn::Lddw { dst, .. } if dst == Reg::R1 => Insn::Lddw {
                dst,
                kind: LddwKind::MapFd,
                imm: fd,
            },
            other => other,
        })
        .collect();
    let code = encode(&insns);
    let prog = waggle_kernel::prog_load(&waggle_kernel::ProgLoad {
        prog_type: 6, // BPF_PROG_TYPE_XDP
        insns: &code,
        license: "GPL",
        name: "waggle_test",
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let packet = [0u8; 64];
    let r = waggle_kernel::prog_test_run(
        &prog,
        &waggle_kernel::TestRun {
            data_in: &packet,
            data_size_out: 128,
            repeat: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.retval, 2);
    assert_eq!(r.data_out, packet);
    let v = waggle_kernel::map_lookup(&map, &0u32.to_le_bytes(), 8)
        .unwrap()
        .unwrap();
    assert_eq!(u64::from_le_bytes(v.try_into().unwrap()), 64);
}

#[test]
fn refused_program_comes_with_a_log() {
    if !kernel_available() {
        return;
    }
    // r0 is never set before exit.
    let code = encode(&asm::assemble("exit").unwrap());
    let e = waggle_kernel::prog_load(&waggle_kernel::ProgLoad {
        prog_type: 6,
        insns: &code,
        license: "GPL",
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.error.raw_os_error(), Some(13), "EACCES: {e}");
    assert!(e.log.contains("R0 !read_ok"), "log: {}", e.log);
}

/// clang's BTF as is (DATASECs of size 0) is refused; fixed up as libbpf does, it loads.
#[test]
fn object_btf_loads_once_datasecs_are_fixed_up() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs/globals.bpf.o");
    let elf = std::fs::read(&path).unwrap();
    let raw = waggle_kernel::btf::elf_section(&elf, ".BTF").expect(".BTF");
    let fixed = waggle_kernel::btf::object_btf(&elf).expect("BTF");
    assert_eq!(raw.len(), fixed.len());
    assert_ne!(raw, &fixed[..], "DATASEC sizes and offsets filled in");
    if !kernel_available() {
        return;
    }
    let e = waggle_kernel::btf_load(raw).expect_err("size-0 DATASECs");
    assert_eq!(e.error.raw_os_error(), Some(22), "{e}");
    let fd = waggle_kernel::btf_load(&fixed).unwrap_or_else(|e| panic!("{e}"));
    drop(fd);
}
