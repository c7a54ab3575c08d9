//! The committed corpus (`tests/progs/*.bpf.o`, built by `scripts/build-progs.sh`): concrete
//! facts about programs, maps, relocations and line info, checked against what
//! `llvm-objdump-19 -dr` and `bpftool btf dump` show for the same files.

use waggle_isa::{CallTarget, Insn, LddwKind, validate};
use waggle_object::{
    MapKind, Object, ProgramKind, RelocationKind, SlotTarget, maps::F_MMAPABLE, maps::F_RDONLY_PROG,
};

fn progs_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs")
}

fn load(file: &str) -> Object {
    Object::open(progs_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn all_objects() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(progs_dir())
        .expect("tests/progs exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    v.sort();
    v
}

/// Slots (lddw counts twice) of a linked program.
fn lddw_at(insns: &[Insn], slot: usize) -> (LddwKind, u64) {
    match insns[slot] {
        Insn::Lddw { kind, imm, .. } => (kind, imm),
        ref other => panic!("slot {slot} is {other:?}, not lddw"),
    }
}

#[test]
fn every_object_parses_and_every_program_validates() {
    let objects = all_objects();
    assert!(objects.len() >= 14, "corpus has {} objects", objects.len());
    for path in objects {
        let obj = Object::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!obj.programs.is_empty(), "{}", path.display());
        for p in &obj.programs {
            validate(&p.insns).unwrap_or_else(|e| panic!("{} {}: {e}", path.display(), p.name));
            // Decoding the encoded program gives it back: every slot is a real instruction.
            let bytes = waggle_isa::encode(&p.insns);
            assert_eq!(waggle_isa::decode(&bytes).expect("re-decodes"), p.insns);
            assert_eq!(p.functions[0].start, 0);
            assert_eq!(p.functions[0].name, p.name);
            assert_eq!(
                p.functions.iter().map(|f| f.len).sum::<usize>(),
                p.insns.len()
            );
            assert!(!p.line_info.is_empty(), "{} has line info", p.name);
            assert_eq!(
                p.func_info.len(),
                p.functions.len(),
                "{}: one FUNC per function",
                p.name
            );
            for (fi, f) in p.func_info.iter().zip(&p.functions) {
                assert_eq!((fi.slot, fi.name.as_str()), (f.start, f.name.as_str()));
            }
        }
        assert_eq!(
            obj.license.as_deref().map(|l| l.contains("GPL")),
            Some(true)
        );
    }
}

#[test]
fn xdp_with_btf_maps() {
    let obj = load("xdp_maps.bpf.o");
    assert_eq!(obj.name, "xdp_maps");
    let [p] = &obj.programs[..] else {
        panic!("one program")
    };
    assert_eq!(p.name, "xdp_count");
    assert_eq!(p.kind, ProgramKind::Xdp);
    assert_eq!(p.prog_type(), 6);
    assert_eq!(p.expected_attach_type, Some(37)); // BPF_XDP
    // llvm-objdump: 42 instructions, 3 of them lddw.
    assert_eq!(p.insns.len(), 45);

    let (ci, counts) = obj.map("counts").expect("counts");
    assert_eq!((ci, counts.map_type, counts.type_name()), (0, 1, "hash"));
    assert_eq!(
        (counts.key_size, counts.value_size, counts.max_entries),
        (4, 8, 1024)
    );
    assert_eq!(counts.flags, 1); // BPF_F_NO_PREALLOC
    assert_eq!(counts.kind, MapKind::Btf);
    let btf = obj.btf.as_ref().expect("BTF");
    assert_eq!(
        btf.describe(counts.btf_key_type_id.expect("key type")),
        "__u32"
    );
    assert_eq!(
        btf.describe(counts.btf_value_type_id.expect("value type")),
        "__u64"
    );

    let (si, stats) = obj.map("stats").expect("stats");
    assert_eq!((si, stats.map_type), (1, 2));
    assert_eq!(
        (stats.key_size, stats.value_size, stats.max_entries),
        (4, 16, 4)
    );
    assert_eq!(stats.pinning, 1); // LIBBPF_PIN_BY_NAME
    assert_eq!(stats.btf_key_type_id, None); // __uint(key_size, …)
    assert_eq!(
        btf.describe(stats.btf_value_type_id.expect("value")),
        "struct stat"
    );

    // llvm-objdump -dr: R_BPF_64_64 counts at slots 12 and 23, stats at 31.
    assert_eq!(lddw_at(&p.insns, 12), (LddwKind::MapIdx, 0));
    assert_eq!(lddw_at(&p.insns, 23), (LddwKind::MapIdx, 0));
    assert_eq!(lddw_at(&p.insns, 31), (LddwKind::MapIdx, 1));
    let slots: Vec<_> = p
        .relocations
        .iter()
        .map(|r| (r.slot, r.symbol.as_str()))
        .collect();
    assert_eq!(slots, [(12, "counts"), (23, "counts"), (31, "stats")]);
    assert_eq!(obj.relocation_count, 3);

    // The line info quotes the source.
    let line = p.line_at(12).expect("line info at the lookup");
    assert_eq!(
        line.to_string(),
        "line 39: val = bpf_map_lookup_elem(&counts, &key);"
    );
    assert!(line.file.ends_with("xdp_maps.bpf.c"));
    assert_eq!(p.line_at(13).map(|l| l.line), Some(39));
}

#[test]
fn socket_filter() {
    let obj = load("socket_filter.bpf.o");
    let p = obj.program("accept_ipv4").expect("program");
    assert_eq!(p.kind, ProgramKind::SocketFilter);
    assert_eq!(p.prog_type(), 1);
    assert_eq!(p.section, "socket");
    assert_eq!(p.insns.len(), 6);
    assert_eq!(p.insns.last(), Some(&Insn::Exit));
    assert_eq!(obj.license.as_deref(), Some("Dual MIT/GPL"));
    assert!(obj.maps.is_empty());
}

#[test]
fn global_data_maps() {
    for file in ["globals.bpf.o", "globals.v4.bpf.o"] {
        let obj = load(file);
        assert_eq!(obj.kernel_version, Some(0x050a00));
        let names: Vec<_> = obj.maps.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, [".data", ".rodata", ".data.custom", ".bss"]);
        let kinds: Vec<_> = obj.maps.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [MapKind::Data, MapKind::Rodata, MapKind::Data, MapKind::Bss]
        );
        for m in &obj.maps {
            assert_eq!(
                (m.map_type, m.key_size, m.max_entries),
                (2, 4, 1),
                "{}",
                m.name
            );
            assert!(m.flags & F_MMAPABLE != 0);
        }
        let data = &obj.maps[0];
        assert_eq!(data.kernel_name, "globals.data");
        // counter = 7, then the static static_val = 5.
        assert_eq!(
            data.initial_data.as_deref(),
            Some(&[7, 0, 0, 0, 5, 0, 0, 0][..])
        );
        let rodata = &obj.maps[1];
        assert_eq!(rodata.kernel_name, "globals.rodata");
        assert!(rodata.frozen && rodata.flags & F_RDONLY_PROG != 0);
        assert_eq!(rodata.value_size, 12);
        assert_eq!(
            rodata.initial_data.as_deref().map(|d| &d[..4]),
            Some(&100u32.to_le_bytes()[..])
        );
        assert_eq!(
            rodata.initial_data.as_deref().map(|d| &d[4..9]),
            Some(&b"hello"[..])
        );
        assert_eq!(obj.maps[2].kernel_name, ".data.custom");
        assert_eq!(
            obj.maps[2].initial_data.as_deref(),
            Some(&42u32.to_le_bytes()[..])
        );
        let bss = &obj.maps[3];
        assert_eq!((bss.value_size, bss.initial_data.as_ref()), (24, None));
        let btf = obj.btf.as_ref().expect("BTF");
        assert_eq!(
            btf.describe(bss.btf_value_type_id.expect("DATASEC")),
            "DATASEC".to_lowercase().replace("datasec", ".bss")
        );

        let p = &obj.programs[0];
        let values: Vec<_> = p
            .relocations
            .iter()
            .map(|r| match r.kind {
                RelocationKind::MapValue { map, offset } => (r.symbol.as_str(), map, offset),
                ref k => panic!("unexpected {k:?}"),
            })
            .collect();
        // counter .data+0; static_val via the section symbol .data+4; greeting .rodata+4;
        // custom_val; total .bss+0; limit .rodata+0; hits .bss+8.
        assert_eq!(
            values,
            [
                ("counter", 0, 0),
                (".data", 0, 4),
                ("greeting", 1, 4),
                ("custom_val", 2, 0),
                ("total", 3, 0),
                ("limit", 1, 0),
                ("hits", 3, 8),
            ]
        );
        for r in &p.relocations {
            let RelocationKind::MapValue { map, offset } = r.kind else {
                unreachable!()
            };
            assert_eq!(
                lddw_at(&p.insns, r.slot),
                (
                    LddwKind::MapIdxValue,
                    map as u64 | (u64::from(offset) << 32)
                )
            );
        }
    }
}

#[test]
fn bpf_to_bpf_calls_are_linked_like_libbpf() {
    for file in ["subprogs.bpf.o", "subprogs.v4.bpf.o"] {
        let obj = load(file);
        assert_eq!(
            obj.programs.len(),
            2,
            "only entry points, not .text functions"
        );
        let p = obj.program("calls").expect("calls");
        assert_eq!(p.kind, ProgramKind::SchedCls);
        let order: Vec<_> = p.functions.iter().map(|f| f.name.as_str()).collect();
        // Depth first, in order of first use: the callback, sum_squares, its callee square,
        // then add_one and global_double.
        assert_eq!(
            order,
            [
                "calls",
                "loop_cb",
                "sum_squares",
                "square",
                "add_one",
                "global_double"
            ]
        );
        let lens: Vec<_> = p.functions.iter().skip(1).map(|f| f.len).collect();
        assert_eq!(lens, [5, 6, 3, 3, 3]); // from the .text symbol sizes
        // Every call and function load lands on the start of the named function.
        let start = |name: &str| {
            p.functions
                .iter()
                .find(|f| f.name == name)
                .expect(name)
                .start
        };
        let mut calls = 0;
        for (slot, insn) in p.insns.iter().enumerate() {
            let target = match *insn {
                Insn::Call(CallTarget::Local(off)) => slot as i64 + 1 + i64::from(off),
                Insn::Lddw {
                    kind: LddwKind::Func,
                    imm,
                    ..
                } => slot as i64 + 1 + i64::from(imm as u32 as i32),
                _ => continue,
            };
            calls += 1;
            let f = p
                .function_at(target as usize)
                .expect("target in a function");
            assert_eq!(
                f.start as i64, target,
                "slot {slot} calls into the middle of {}",
                f.name
            );
        }
        assert_eq!(calls, 6); // callback load, 3 calls in calls(), 2 in sum_squares
        let reloc_targets: Vec<_> = p
            .relocations
            .iter()
            .map(|r| match &r.kind {
                RelocationKind::Call { function } | RelocationKind::FuncAddr { function } => {
                    function.as_str()
                }
                k => panic!("unexpected {k:?}"),
            })
            .collect();
        assert_eq!(
            reloc_targets,
            ["loop_cb", "sum_squares", "add_one", "global_double"]
        );
        let cb = p
            .relocations
            .iter()
            .find(|r| matches!(r.kind, RelocationKind::FuncAddr { .. }))
            .expect("cb");
        assert!(matches!(
            p.insns[cb.slot],
            Insn::Lddw {
                kind: LddwKind::Func,
                ..
            }
        ));
        let Insn::Lddw { imm, .. } = p.insns[cb.slot] else {
            unreachable!()
        };
        assert_eq!(
            cb.slot as i64 + 1 + i64::from(imm as u32 as i32),
            start("loop_cb") as i64
        );

        // The second program links only what it uses.
        let q = obj.program("calls_other").expect("calls_other");
        let order: Vec<_> = q.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(order, ["calls_other", "add_one"]);
        assert_eq!(q.insns.len(), 3 + 3);
        assert_eq!(q.insns[1], Insn::Call(CallTarget::Local(1)));
        // Line info of appended subprograms is re-indexed into the program.
        let decl = q.line_at(3).expect("line info of add_one");
        assert_eq!(
            decl.to_string(),
            "line 16: static __noinline int add_one(int x)"
        );
        assert!(
            q.line_info
                .iter()
                .any(|l| l.slot >= 3 && l.source.contains("return x + 1;"))
        );
        assert_eq!(q.func_info[1].slot, 3);
        assert_eq!(q.func_info[1].name, "add_one");
    }
}

#[test]
fn two_programs_in_one_section() {
    let obj = load("two_progs.bpf.o");
    let names: Vec<_> = obj
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.section.as_str(), p.insns.len()))
        .collect();
    assert_eq!(
        names,
        [
            ("xdp_pass", "xdp", 2),
            ("xdp_drop", "xdp", 7),
            ("trace_open", "kprobe/do_sys_open", 2)
        ]
    );
    assert_eq!(obj.programs[1].section_offset, 2);
    let k = &obj.programs[2];
    assert_eq!((k.kind.clone(), k.prog_type()), (ProgramKind::Kprobe, 2));
    assert_eq!(k.attach_target.as_deref(), Some("do_sys_open"));
}

#[test]
fn legacy_bpf_map_def() {
    let obj = load("legacy_maps.bpf.o");
    let got: Vec<_> = obj
        .maps
        .iter()
        .map(|m| {
            (
                m.name.as_str(),
                m.map_type,
                m.key_size,
                m.value_size,
                m.max_entries,
                m.kind,
                m.section_offset,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("legacy_hash", 1, 4, 8, 256, MapKind::Legacy, 0),
            ("legacy_array", 2, 4, 16, 8, MapKind::Legacy, 20),
        ]
    );
    assert!(obj.maps.iter().all(|m| m.elf_map.is_none()));
    let p = &obj.programs[0];
    assert_eq!(p.insns.len(), 33);
    let maps: Vec<_> = p
        .relocations
        .iter()
        .map(|r| (r.slot, r.kind.clone()))
        .collect();
    assert_eq!(
        maps,
        [
            (7, RelocationKind::Map { map: 0 }),
            (19, RelocationKind::Map { map: 0 }),
            (25, RelocationKind::Map { map: 1 }),
        ]
    );
    assert_eq!(lddw_at(&p.insns, 25), (LddwKind::MapIdx, 1));
}

#[test]
fn iproute2_bpf_elf_map() {
    let obj = load("elf_maps.bpf.o");
    let p = &obj.programs[0];
    assert_eq!(
        (p.name.as_str(), p.kind.clone()),
        ("tc_count", ProgramKind::SchedCls)
    );
    let (_, counts) = obj.map("tc_counts").expect("tc_counts");
    assert_eq!(
        (
            counts.map_type,
            counts.key_size,
            counts.value_size,
            counts.max_entries
        ),
        (2, 4, 8, 64)
    );
    assert_eq!(counts.pinning, 2); // PIN_GLOBAL_NS
    let (oi, outer) = obj.map("outer").expect("outer");
    let (ii, _) = obj.map("inner_proto").expect("inner");
    assert_eq!(oi, 1);
    assert_eq!(outer.map_type, 12);
    let inner = outer.inner.as_ref().expect("inner template by inner_id");
    assert_eq!(
        (inner.name.as_str(), inner.map_type, inner.value_size),
        ("inner_proto", 2, 4)
    );
    assert_eq!(outer.elf_map.map(|f| f.inner_id), Some(42));
    assert_eq!(outer.initial_slots, [(0, SlotTarget::Map(ii))]);
}

#[test]
fn prog_array_initial_values() {
    let obj = load("prog_array.bpf.o");
    let names: Vec<_> = obj.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["tail_0", "tail_2", "entry"]);
    let (_, jt) = obj.map("jump_table").expect("jump_table");
    assert_eq!(
        (
            jt.map_type,
            jt.type_name(),
            jt.key_size,
            jt.value_size,
            jt.max_entries
        ),
        (3, "prog_array", 4, 4, 4)
    );
    assert_eq!(
        jt.initial_slots,
        [(0, SlotTarget::Program(0)), (2, SlotTarget::Program(1))]
    );
    let entry = obj.program("entry").expect("entry");
    assert!(entry.insns.contains(&Insn::Call(CallTarget::Helper(12)))); // bpf_tail_call
}

#[test]
fn map_in_map() {
    let obj = load("map_in_map.bpf.o");
    let names: Vec<_> = obj.maps.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["inner_a", "inner_b", "outer_array", "outer_hash"]);
    let outer = &obj.maps[2];
    assert_eq!(outer.map_type, 12);
    assert_eq!(
        (outer.key_size, outer.value_size, outer.max_entries),
        (4, 4, 2)
    );
    let inner = outer.inner.as_ref().expect("inner definition");
    assert_eq!(inner.name, "outer_array.inner");
    assert_eq!(
        (
            inner.map_type,
            inner.key_size,
            inner.value_size,
            inner.max_entries
        ),
        (2, 4, 8, 8)
    );
    assert_eq!(
        outer.initial_slots,
        [(0, SlotTarget::Map(0)), (1, SlotTarget::Map(1))]
    );
    let hash = &obj.maps[3];
    assert_eq!(hash.map_type, 13);
    let hi = hash.inner.as_ref().expect("anonymous inner definition");
    assert_eq!(
        (hi.map_type, hi.key_size, hi.value_size, hi.max_entries),
        (1, 8, 4, 32)
    );
    assert!(hash.initial_slots.is_empty());
}

#[test]
fn unknown_section_is_unspecified_not_an_error() {
    let obj = load("unknown_section.bpf.o");
    let p = obj.program("custom").expect("custom");
    assert_eq!(p.kind, ProgramKind::Unspecified("my_custom_section".into()));
    assert_eq!(p.prog_type(), 0);
    assert_eq!(
        p.insns,
        [
            Insn::Alu {
                width: waggle_isa::Width::W32,
                op: waggle_isa::AluOp::Mov,
                dst: waggle_isa::Reg::R0,
                src: waggle_isa::Operand::Imm(42),
            },
            Insn::Exit
        ]
    );
    let t = obj.program("on_switch").expect("on_switch");
    assert_eq!(
        (t.kind.clone(), t.attach_target.as_deref()),
        (ProgramKind::Tracepoint, Some("sched/sched_switch"))
    );
}

#[test]
fn unrelocated_programs_match_their_elf_bytes() {
    // A program without relocations is exactly its function's bytes in the section.
    let path = progs_dir().join("two_progs.bpf.o");
    let data = std::fs::read(&path).expect("read");
    let obj = Object::parse(&data).expect("parse");
    let p = obj.program("xdp_drop").expect("xdp_drop");
    let bytes = waggle_isa::encode(&p.insns);
    let hay = data.windows(bytes.len()).any(|w| w == bytes.as_slice());
    assert!(hay, "xdp_drop's encoding appears verbatim in the file");
    assert_eq!(obj.name, "", "parse() without options has no name");
}

#[test]
fn summary_lists_everything() {
    let obj = load("subprogs.bpf.o");
    let s = obj.summary();
    assert_eq!(s.programs.len(), 2);
    assert_eq!(s.programs[0].kind, "sched_cls");
    assert_eq!(s.programs[0].prog_type, 3);
    assert_eq!(s.programs[0].insns, 42);
    assert_eq!(
        s.programs[0].subprograms,
        [
            "loop_cb",
            "sum_squares",
            "square",
            "add_one",
            "global_double"
        ]
    );
    assert_eq!(s.relocations, 5);
    let btf = s.btf.as_ref().expect("btf summary");
    assert_eq!(btf.funcs, 7);
    assert_eq!(s.btf_ext, Some((7, 29, 0)));
    assert!(
        s.sections
            .iter()
            .any(|x| x.name == ".text" && x.kind == waggle_object::SectionKind::Text)
    );
    assert!(
        s.sections
            .iter()
            .any(|x| x.name == "tc" && x.kind == waggle_object::SectionKind::Program)
    );
    let text = s.to_string();
    assert!(
        text.contains("calls loop_cb, sum_squares, square, add_one, global_double"),
        "{text}"
    );
    let m = load("xdp_maps.bpf.o").summary();
    assert_eq!(m.maps[0].type_name, "hash");
    assert!(m.to_string().contains("counts"));
}

#[test]
fn externs_are_left_for_the_loader() {
    let obj = load("externs.bpf.o");
    let p = obj.program("with_externs").expect("program");
    assert_eq!(p.kind, ProgramKind::Tracing);
    assert_eq!(p.prog_type(), 26);
    assert_eq!(p.expected_attach_type, Some(23)); // BPF_TRACE_RAW_TP
    assert_eq!(p.attach_target.as_deref(), Some("sched_switch"));
    let relocs: Vec<_> = p
        .relocations
        .iter()
        .map(|r| (r.slot, r.symbol.as_str(), r.kind.clone()))
        .collect();
    assert_eq!(
        relocs,
        [
            (0, "bpf_rcu_read_lock", RelocationKind::ExternCall),
            (1, "bpf_rcu_read_unlock", RelocationKind::ExternCall),
            (2, "LINUX_KERNEL_VERSION", RelocationKind::ExternVar),
        ]
    );
    let kfunc = Insn::Call(CallTarget::Kfunc {
        btf_id: 0,
        module: 0,
    });
    assert_eq!((p.insns[0], p.insns[1]), (kfunc, kfunc));
    assert_eq!(lddw_at(&p.insns, 2), (LddwKind::Imm, 0));
}
