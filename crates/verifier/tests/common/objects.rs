//! Corpus objects as verifier input: maps from the object's definitions (inner maps, spin
//! lock offsets from BTF, `.rodata` read-only), `__kconfig` externs in a `.kconfig` map as
//! libbpf places them, line info and kfunc names.

use std::path::{Path, PathBuf};
use waggle_isa::{Insn, LddwKind};
use waggle_object::{Btf, BtfKind, MapSpec, Object, Program, RelocationKind};
use waggle_uapi::{MapType, ProgramType};
use waggle_verifier::{BPF_F_RDONLY_PROG, InnerMap, MapDesc};

/// Every `tests/progs/*.bpf.o`, sorted.
pub fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/progs exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    out.sort();
    out
}

/// The offset of a top-level member of BTF type `value` that is the struct `name`
/// (`bpf_spin_lock`, `bpf_timer`), if any.
pub fn struct_member_off(btf: &Btf, value: u32, name: &str) -> Option<u32> {
    let (_, BtfKind::Struct { members, .. }) = btf.resolved(value).ok()? else {
        return None;
    };
    members.iter().find_map(|m| {
        let (id, kind) = btf.resolved(m.type_id).ok()?;
        (matches!(kind, BtfKind::Struct { .. }) && btf.name(id) == name).then_some(m.bit_offset / 8)
    })
}

fn map_type(n: u32) -> MapType {
    MapType::from_u32(n).unwrap_or(MapType::Unspec)
}

/// What the verifier knows about one map of `obj`.
pub fn desc(obj: &Object, spec: &MapSpec) -> MapDesc {
    let mut d = MapDesc::new(
        map_type(spec.map_type),
        spec.key_size,
        spec.value_size,
        spec.max_entries,
        spec.flags,
    );
    // libbpf freezes .rodata after writing it and creates it read-only for programs.
    if spec.frozen {
        d.flags |= BPF_F_RDONLY_PROG;
    }
    if let (Some(btf), Some(v)) = (&obj.btf, spec.btf_value_type_id) {
        d.spin_lock_off = struct_member_off(btf, v, "bpf_spin_lock");
        d.timer_off = struct_member_off(btf, v, "bpf_timer");
    }
    d.inner = spec.inner.as_ref().map(|i| InnerMap {
        map_type: map_type(i.map_type),
        key_size: i.key_size,
        value_size: i.value_size,
        max_entries: i.max_entries,
        flags: i.flags,
    });
    d
}

/// The number of `__kconfig` externs `p` reads.
pub fn kconfig_count(p: &Program) -> usize {
    let mut names: Vec<&str> = p
        .relocations
        .iter()
        .filter(|r| r.kind == RelocationKind::ExternVar)
        .map(|r| r.symbol.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names.len()
}

/// What libbpf does with `__kconfig` externs: one read-only `.kconfig` array map holding them
/// all (8 bytes each here), the `lddw`s pointing into its value at map index `idx`.
pub fn resolve_kconfig(p: &Program, idx: usize) -> Vec<Insn> {
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
                imm: idx as u64 | ((8 * i as u64) << 32),
            };
        }
    }
    insns
}

/// Everything `waggle_verifier::Program` borrows, for program `p` of `obj`.
pub struct Input {
    /// Instructions, externs resolved.
    pub insns: Vec<Insn>,
    /// The object's maps, then `.kconfig` if the program reads externs.
    pub maps: Vec<MapDesc>,
    /// `line N: \`source\``, by slot.
    pub lines: Vec<(usize, String)>,
    /// kfunc names by slot.
    pub kfuncs: Vec<(usize, String)>,
    /// The program type its section implies.
    pub prog_type: ProgramType,
}

impl Input {
    /// The verifier's input for program `p` of `obj`.
    pub fn new(obj: &Object, p: &Program) -> Input {
        let mut maps: Vec<MapDesc> = obj.maps.iter().map(|m| desc(obj, m)).collect();
        let n = kconfig_count(p);
        let insns = resolve_kconfig(p, maps.len());
        if n > 0 {
            maps.push(MapDesc::new(
                MapType::Array,
                4,
                8 * n as u32,
                1,
                BPF_F_RDONLY_PROG,
            ));
        }
        Input {
            insns,
            maps,
            lines: p
                .line_info
                .iter()
                .map(|l| (l.slot, format!("line {}: `{}`", l.line, l.source.trim())))
                .collect(),
            kfuncs: p
                .relocations
                .iter()
                .filter(|r| r.kind == RelocationKind::ExternCall)
                .map(|r| (r.slot, r.symbol.clone()))
                .collect(),
            prog_type: ProgramType::from_u32(p.prog_type()).unwrap_or(ProgramType::Unspec),
        }
    }

    /// The verifier's view.
    pub fn program(&self) -> waggle_verifier::Program<'_> {
        waggle_verifier::Program {
            insns: &self.insns,
            prog_type: self.prog_type,
            maps: &self.maps,
            line_info: &self.lines,
            kfuncs: &self.kfuncs,
        }
    }
}
