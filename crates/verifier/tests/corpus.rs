//! Every program of the project's corpus (`tests/progs/*.bpf.o`) must verify.

use std::path::{Path, PathBuf};
use waggle_isa::{Insn, LddwKind};
use waggle_object::{Btf, BtfKind, MapSpec, Object, RelocationKind};
use waggle_uapi::{MapType, ProgramType};
use waggle_verifier::{MapDesc, Options, Program, verify};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/progs exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    out.sort();
    out
}

fn desc(obj: &Object, spec: &MapSpec) -> MapDesc {
    let t = |n| MapType::from_u32(n).unwrap_or(MapType::Unspec);
    let mut d = MapDesc::new(
        t(spec.map_type),
        spec.key_size,
        spec.value_size,
        spec.max_entries,
        spec.flags,
    );
    // libbpf freezes .rodata after writing it: programs may only read it.
    if spec.frozen {
        d.flags |= waggle_verifier::BPF_F_RDONLY_PROG;
    }
    if let (Some(btf), Some(v)) = (&obj.btf, spec.btf_value_type_id) {
        d.spin_lock_off = spin_lock_off(btf, v);
    }
    if let Some(inner) = &spec.inner {
        d.inner = Some(waggle_verifier::InnerMap {
            map_type: t(inner.map_type),
            key_size: inner.key_size,
            value_size: inner.value_size,
            max_entries: inner.max_entries,
            flags: inner.flags,
        });
    }
    d
}

/// Corpus programs the Linux verifier refuses too, with the fragment of our message.
const EXPECTED_REFUSALS: &[(&str, &str, &str)] = &[
    // Compiled against its own BTF, `ctx->len` is at offset 4, inside the 8 bytes of common
    // fields a tracepoint program may not read (`tp_prog_is_valid_access`); the object is
    // meant to be relocated against tests/progs/core_target.btf.
    (
        "core.bpf.o",
        "core_prog",
        "invalid bpf_context access off=4 size=4",
    ),
    (
        "core.v4.bpf.o",
        "core_prog",
        "invalid bpf_context access off=4 size=4",
    ),
    // Refused on purpose: reads a map value without checking it against NULL.
    (
        "verifier_null.bpf.o",
        "count_null",
        "R0 may be NULL at insn 7 (line 20: `return *val > 100 ? XDP_DROP : XDP_PASS;`): compare it with NULL before reading *(u64 *)(r0 + 0)",
    ),
];

/// The offset of a top-level `struct bpf_spin_lock` member of BTF type `value`, if any.
fn spin_lock_off(btf: &Btf, value: u32) -> Option<u32> {
    let (_, BtfKind::Struct { members, .. }) = btf.resolved(value).ok()? else {
        return None;
    };
    members.iter().find_map(|m| {
        let (id, kind) = btf.resolved(m.type_id).ok()?;
        (matches!(kind, BtfKind::Struct { .. }) && btf.name(id) == "bpf_spin_lock")
            .then_some(m.bit_offset / 8)
    })
}

/// What libbpf does with `__kconfig` externs: one read-only `.kconfig` array map holding them
/// all (8 bytes each here), the `lddw`s pointing into its value.
fn resolve_kconfig(p: &waggle_object::Program, maps: &mut Vec<MapDesc>) -> Vec<Insn> {
    let mut insns = p.insns.clone();
    let mut names: Vec<&str> = Vec::new();
    for r in &p.relocations {
        if r.kind != RelocationKind::ExternVar {
            continue;
        }
        let i = names
            .iter()
            .position(|n| *n == r.symbol)
            .unwrap_or_else(|| {
                names.push(&r.symbol);
                names.len() - 1
            });
        if let Insn::Lddw { dst, .. } = insns[r.slot] {
            insns[r.slot] = Insn::Lddw {
                dst,
                kind: LddwKind::MapIdxValue,
                imm: maps.len() as u64 | ((8 * i as u64) << 32),
            };
        }
    }
    if !names.is_empty() {
        maps.push(MapDesc::new(
            MapType::Array,
            4,
            8 * names.len() as u32,
            1,
            waggle_verifier::BPF_F_RDONLY_PROG,
        ));
    }
    insns
}

/// Every corpus program is accepted (but the few the kernel refuses too); the stats are
/// printed.
#[test]
fn corpus_programs_verify() {
    let mut failures = Vec::new();
    let mut count = 0;
    let mut locks = 0;
    for path in corpus() {
        let obj = match Object::open(&path) {
            Ok(o) => o,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        for p in &obj.programs {
            let mut maps: Vec<MapDesc> = obj.maps.iter().map(|m| desc(&obj, m)).collect();
            locks += maps.iter().filter(|m| m.spin_lock_off.is_some()).count();
            let insns = resolve_kconfig(p, &mut maps);
            let prog_type = ProgramType::from_u32(p.prog_type()).unwrap_or(ProgramType::Unspec);
            let lines: Vec<(usize, String)> = p
                .line_info
                .iter()
                .map(|l| (l.slot, format!("line {}: `{}`", l.line, l.source.trim())))
                .collect();
            let kfuncs: Vec<(usize, String)> = p
                .relocations
                .iter()
                .filter(|r| r.kind == RelocationKind::ExternCall)
                .map(|r| (r.slot, r.symbol.clone()))
                .collect();
            let prog = Program {
                insns: &insns,
                prog_type,
                maps: &maps,
                line_info: &lines,
                kfuncs: &kfuncs,
            };
            count += 1;
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let name = format!("{file}:{}", p.name);
            let expected = EXPECTED_REFUSALS
                .iter()
                .find(|(f, n, _)| *f == file && *n == p.name);
            if let Some((_, _, frag)) = expected {
                match verify(&prog, &Options::default()) {
                    Err(r) if r.message.contains(frag) => {
                        println!("{name}: refused as the kernel does: {}", r.message);
                    }
                    Err(r) => failures.push(format!("{name}: wrong refusal {}", r.message)),
                    Ok(_) => failures.push(format!("{name}: accepted, the kernel refuses it")),
                }
                continue;
            }
            match verify(&prog, &Options::default()) {
                Ok(s) => println!(
                    "{name} ({prog_type}): {} insns, {} processed, {} states, peak {}, stack {:?}, {:?}",
                    p.insns.len(),
                    s.insns_processed,
                    s.states_kept,
                    s.peak_states,
                    s.max_stack_depth,
                    s.duration
                ),
                Err(r) => {
                    println!("{name} ({prog_type}): REFUSED {}", r.message);
                    failures.push(format!("{name}: {}", r.message));
                }
            }
        }
    }
    assert!(count > 20, "only {count} corpus programs found");
    assert!(failures.is_empty(), "refused:\n{}", failures.join("\n"));
    assert!(locks > 0, "no map with a spin lock found through BTF");
}
