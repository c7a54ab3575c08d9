//! CO-RE relocations of `tests/progs/core.bpf.o`: against its own BTF (offsets stay as
//! compiled; `___flavor`s resolve to the real type), against `core_target.btf` (a "kernel" with other layouts), and against BTF that
//! lacks the types (existence checks give 0, accesses are poisoned as libbpf does).

use waggle_isa::{CallTarget, Insn, Operand, Size};
use waggle_object::btf::core::POISON_HELPER;
use waggle_object::{Btf, CoreOutcome, CoreReloKind, Object, ParseOptions};

fn progs_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs")
}

fn core_bytes(file: &str) -> Vec<u8> {
    std::fs::read(progs_dir().join(file)).expect("read core object")
}

/// (slot, kind, access, outcome) of every CO-RE relocation of the program.
fn relocs(obj: &Object) -> Vec<(usize, CoreReloKind, String, CoreOutcome)> {
    obj.programs[0]
        .core_relocations
        .iter()
        .map(|c| (c.slot, c.kind, c.access.clone(), c.outcome))
        .collect()
}

fn imm_of(insn: &Insn) -> i64 {
    match *insn {
        Insn::Alu {
            src: Operand::Imm(i),
            ..
        } => i.into(),
        Insn::Lddw { imm, .. } => imm as i64,
        ref other => panic!("no immediate in {other:?}"),
    }
}

#[test]
fn against_own_btf_values_stay_as_compiled() {
    for file in ["core.bpf.o", "core.v4.bpf.o"] {
        let data = core_bytes(file);
        let obj = Object::parse(&data).expect("parse");
        let p = &obj.programs[0];
        assert_eq!(p.name, "core_prog");
        let r = relocs(&obj);
        // As llvm-objdump -dr lists them.
        let kinds: Vec<_> = r.iter().map(|x| (x.1, x.2.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (CoreReloKind::FieldByteOffset, "0:2:1"),
                (CoreReloKind::FieldByteOffset, "0:3"),
                (CoreReloKind::FieldByteOffset, "0:0"),
                (CoreReloKind::FieldByteOffset, "0:1"),
                (CoreReloKind::FieldByteOffset, "0:4:2"),
                (CoreReloKind::FieldExists, "0:1"),
                (CoreReloKind::TypeExists, "0"),
                (CoreReloKind::EnumvalValue, "1"),
                (CoreReloKind::TypeSize, "0"),
            ]
        );
        for (slot, kind, access, outcome) in &r {
            let CoreOutcome::Patched { orig, new } = *outcome else {
                panic!("{kind:?} {access} poisoned");
            };
            // `core_ctx___old` is a flavor: it resolves to the real `core_ctx`, which has no
            // `legacy_len` (as against a kernel without it).
            if *kind != CoreReloKind::FieldExists {
                assert_eq!(orig, new, "{kind:?} {access} at {slot}");
            }
        }
        let news: Vec<_> = r
            .iter()
            .map(|x| match x.3 {
                CoreOutcome::Patched { new, .. } => new,
                CoreOutcome::Poisoned => u64::MAX,
            })
            .collect();
        assert_eq!(news, [16, 24, 0, 4, 40, 0, 1, 7, 16]);
        assert_eq!(r[0].0, 1);
        assert_eq!(
            obj.programs[0].core_relocations[0].type_name,
            "struct core_ctx"
        );
        // Parsing with the object's own BTF given explicitly is the same.
        let btf = obj.btf.clone().expect("btf");
        let again = Object::parse_with(
            &data,
            &ParseOptions {
                name: "",
                target_btf: Some(&btf),
            },
        )
        .expect("parse");
        assert_eq!(again.programs[0].insns, obj.programs[0].insns);
    }
}

#[test]
fn against_another_kernel_layout() {
    let target = Btf::from_file(progs_dir().join("core_target.btf")).expect("target BTF");
    assert_eq!(
        target
            .type_size(target.find_by_name("core_ctx", 4).expect("core_ctx"))
            .ok(),
        Some(64)
    );
    let data = core_bytes("core.bpf.o");
    let local = Object::parse(&data).expect("local");
    let obj = Object::parse_with(
        &data,
        &ParseOptions {
            name: "core",
            target_btf: Some(&target),
        },
    )
    .expect("parse");
    let p = &obj.programs[0];
    let news: Vec<_> = relocs(&obj)
        .iter()
        .map(|x| match x.3 {
            CoreOutcome::Patched { new, .. } => new,
            CoreOutcome::Poisoned => u64::MAX,
        })
        .collect();
    // inner.b at 40, next at 32, core_inner.a at 8, len at 0 (now 8 bytes), arr[2] at
    // 12 + 8, legacy_len exists in the target's core_ctx, CORE_BUSY = 9, sizeof = 16.
    assert_eq!(news, [40, 32, 8, 0, 20, 1, 1, 9, 16]);
    assert_eq!(imm_of(&p.insns[1]), 40);
    assert_eq!(imm_of(&p.insns[8]), 32);
    assert_eq!(imm_of(&p.insns[16]), 8);
    assert_eq!(imm_of(&p.insns[36]), 9);
    // `ctx->len` was a 4-byte load at offset 4: now an 8-byte load at 0 (unsigned, so the
    // size may change, as libbpf allows).
    let (
        Insn::Load {
            size: s0, off: o0, ..
        },
        Insn::Load {
            size: s1, off: o1, ..
        },
    ) = (local.programs[0].insns[25], p.insns[25])
    else {
        panic!("loads");
    };
    assert_eq!((s0, o0), (Size::W, 4));
    assert_eq!((s1, o1), (Size::DW, 0));
    let Insn::Load { off, size, .. } = p.insns[27] else {
        panic!("load arr[2]")
    };
    assert_eq!((off, size), (20, Size::W));
    waggle_isa::validate(&p.insns).expect("still valid");
}

#[test]
fn missing_types_poison_accesses_and_zero_existence_checks() {
    // socket_filter.bpf.o's BTF has none of core.bpf.c's types.
    let other = Object::open(progs_dir().join("socket_filter.bpf.o")).expect("other");
    let target = other.btf.expect("btf");
    let data = core_bytes("core.bpf.o");
    let obj = Object::parse_with(
        &data,
        &ParseOptions {
            name: "",
            target_btf: Some(&target),
        },
    )
    .expect("parse");
    let p = &obj.programs[0];
    let outcomes: Vec<_> = relocs(&obj).into_iter().map(|x| (x.1, x.3)).collect();
    use CoreOutcome::{Patched, Poisoned};
    use CoreReloKind as K;
    assert_eq!(
        outcomes,
        [
            (K::FieldByteOffset, Poisoned),
            (K::FieldByteOffset, Poisoned),
            (K::FieldByteOffset, Poisoned),
            (K::FieldByteOffset, Poisoned),
            (K::FieldByteOffset, Poisoned),
            (K::FieldExists, Patched { orig: 1, new: 0 }),
            (K::TypeExists, Patched { orig: 1, new: 0 }),
            (K::EnumvalValue, Poisoned),
            (K::TypeSize, Patched { orig: 16, new: 0 }),
        ]
    );
    let poison = Insn::Call(CallTarget::Helper(POISON_HELPER));
    assert_eq!(p.insns[1], poison);
    // A poisoned lddw poisons both of its slots.
    assert_eq!((p.insns[36], p.insns[37]), (poison, poison));
    assert_eq!(imm_of(&p.insns[29]), 0);
    waggle_isa::validate(&p.insns).expect("poisoned programs stay structurally valid");
}

#[test]
fn btf_queries() {
    let obj = Object::parse(&core_bytes("core.bpf.o")).expect("parse");
    let btf = obj.btf.as_ref().expect("btf");
    let ctx = btf.find_by_name("core_ctx", 4).expect("struct core_ctx");
    assert_eq!(btf.type_size(ctx).ok(), Some(48));
    assert_eq!(btf.name(ctx), "core_ctx");
    let ptr = btf.find_by_name("core_prog", 12).expect("FUNC core_prog");
    assert_eq!(btf.kind(ptr).map(|k| k.name()), Some("FUNC"));
    let e = btf.find_by_name("core_state", 6).expect("enum");
    let vals = btf.kind(e).and_then(|k| k.enum_values()).expect("values");
    assert_eq!(btf.string_at(vals[1].name_off), Some("CORE_BUSY"));
    assert_eq!(vals[1].value, 7);
    let summary = btf.summary();
    assert_eq!(summary.types, 18);
    assert_eq!(summary.datasecs, ["license"]);
    let ext = obj.btf_ext.as_ref().expect("ext");
    assert_eq!(ext.core_relo_count(), 9);
}

/// The byte offset of member `field` of struct `name` in `btf` (direct members only).
fn member_offset(btf: &Btf, name: &str, field: &str) -> u64 {
    let id = btf.find_by_name(name, 4).expect("struct");
    let members = btf.kind(id).and_then(|k| k.members()).expect("members");
    let m = members
        .iter()
        .find(|m| btf.string_at(m.name_off) == Some(field))
        .expect("member");
    u64::from(m.bit_offset / 8)
}

#[test]
fn against_the_running_kernel_if_it_has_btf() {
    let path = "/sys/kernel/btf/vmlinux";
    let vmlinux = match Btf::from_file(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("SKIPPED: no usable {path}: {e}");
            return;
        }
    };
    assert!(vmlinux.len() > 10_000);
    let data = core_bytes("core_kernel.bpf.o");
    let obj = Object::parse_with(
        &data,
        &ParseOptions {
            name: "",
            target_btf: Some(&vmlinux),
        },
    )
    .expect("parse");
    let news: Vec<_> = relocs(&obj)
        .iter()
        .map(|x| match x.3 {
            CoreOutcome::Patched { new, .. } => new,
            CoreOutcome::Poisoned => panic!("{} poisoned against vmlinux", x.2),
        })
        .collect();
    let expect = [
        member_offset(&vmlinux, "task_struct", "pid"),
        member_offset(&vmlinux, "task_struct", "real_parent"),
        member_offset(&vmlinux, "task_struct", "tgid"),
    ];
    assert_eq!(news, expect);
    assert!(
        expect.iter().all(|&o| o > 64),
        "task_struct fields are deep in the struct"
    );
    // Locally the offsets are those of the three-field stand-in.
    let local = Object::parse(&data).expect("parse");
    let orig: Vec<_> = relocs(&local).iter().map(|x| x.3).collect();
    assert_eq!(
        orig,
        [
            CoreOutcome::Patched { orig: 0, new: 0 },
            CoreOutcome::Patched { orig: 8, new: 8 },
            CoreOutcome::Patched { orig: 4, new: 4 },
        ]
    );
}

/// libbpf-tools' `core_fixes.bpf.h` pattern (`tests/progs/core_flavor.bpf.c`): a `___flavor`
/// resolved against the object's own BTF matches the real type only, not itself too (that
/// used to fail the whole object with "field offset ambiguity").
#[test]
fn flavors_resolve_to_the_real_type_of_the_own_btf() {
    let data = core_bytes("core_flavor.bpf.o");
    let obj = Object::parse(&data).expect("a flavor is not ambiguous");
    let r = relocs(&obj);
    let got: Vec<_> = r
        .iter()
        .map(|x| match x.3 {
            CoreOutcome::Patched { orig, new } => (x.1, orig, new),
            CoreOutcome::Poisoned => panic!("{:?} {} poisoned", x.1, x.2),
        })
        .collect();
    assert_eq!(
        got,
        [
            // t->pid: `struct task` as compiled.
            (CoreReloKind::FieldByteOffset, 8, 8),
            // bpf_core_field_exists(o->state), then o->state: offset 0 in `task___old`,
            // 12 in the real `struct task`.
            (CoreReloKind::FieldExists, 1, 1),
            (CoreReloKind::FieldByteOffset, 0, 12),
        ]
    );
}
