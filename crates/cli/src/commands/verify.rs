//! `waggle verify OBJ.o`: run the verifier on an object's programs without loading them.
//!
//! Maps come from the object's map definitions (the inner map of maps of maps, the spin lock
//! offset from BTF), `__kconfig` externs are placed in a read-only `.kconfig` map as libbpf
//! does, and source lines come from BTF line info. Exit 0: every program accepted; 1: one
//! refused; 2: unusable input (malformed ELF, unknown program or type).

use super::{Failure, emit, failed, open_object, usage};
use serde_json::json;
use std::cell::OnceCell;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use waggle_isa::{Insn, LddwKind};
use waggle_object::{Btf, BtfKind, MapSpec, Object, Program, RelocationKind};
use waggle_uapi::{MapType, ProgramType};
use waggle_verifier::{
    BPF_F_RDONLY_PROG, BpfMapField, BpfMapStruct, InnerMap, MapDesc, Options, Rejection, Stats,
};

/// What `waggle verify` was asked.
pub struct VerifyArgs<'a> {
    /// The object.
    pub file: &'a Path,
    /// Only this program.
    pub program: Option<&'a str>,
    /// Program type overriding the section's (kernel name: `xdp`, `sched_cls`, ...).
    pub prog_type: Option<&'a str>,
    /// 0, 1 or 2.
    pub log_level: u32,
    /// One JSON document instead of text.
    pub json: bool,
    /// Kernel BTF file (default: `/sys/kernel/btf/vmlinux` when present).
    pub btf: Option<&'a Path>,
}

/// Where the running kernel publishes its BTF.
const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Whether verifying `p` needs kernel BTF: BTF-typed tracing arguments, or
/// `bpf_get_current_task_btf` (helper 158).
fn needs_kernel_btf(p: &Program, prog_type: ProgramType) -> bool {
    matches!(prog_type, ProgramType::Tracing | ProgramType::Lsm)
        || p.insns
            .iter()
            .any(|i| matches!(i, Insn::Call(waggle_isa::CallTarget::Helper(158))))
}

/// The offset of a top-level member of BTF type `value` that is the struct `name`
/// (`bpf_spin_lock`, `bpf_timer`), if any.
fn struct_member_off(btf: &Btf, value: u32, name: &str) -> Option<u32> {
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

/// What the verifier knows about one of the object's maps.
fn desc(obj: &Object, spec: &MapSpec) -> MapDesc {
    let mut d = MapDesc::new(
        map_type(spec.map_type),
        spec.key_size,
        spec.value_size,
        spec.max_entries,
        spec.flags,
    );
    // libbpf creates .rodata with BPF_F_RDONLY_PROG and freezes it.
    if spec.frozen {
        d.flags |= BPF_F_RDONLY_PROG;
    }
    d.inner = spec.inner.as_ref().map(|i| InnerMap {
        map_type: map_type(i.map_type),
        key_size: i.key_size,
        value_size: i.value_size,
        max_entries: i.max_entries,
        flags: i.flags,
    });
    if let (Some(btf), Some(v)) = (&obj.btf, spec.btf_value_type_id) {
        d.spin_lock_off = struct_member_off(btf, v, "bpf_spin_lock");
        d.timer_off = struct_member_off(btf, v, "bpf_timer");
    }
    d
}

/// The instructions with `__kconfig` externs pointing into an extra read-only map (8 bytes
/// per extern), as libbpf's `.kconfig` map, and that map's index and contents (this machine's
/// values, as the runtime's loader gives them).
fn resolve_kconfig(p: &Program, maps: &mut Vec<MapDesc>) -> (Vec<Insn>, Option<(u32, Vec<u8>)>) {
    let mut insns = p.insns.clone();
    let mut names: Vec<&str> = Vec::new();
    for r in p
        .relocations
        .iter()
        .filter(|r| r.kind == RelocationKind::ExternVar)
    {
        let i = match names.iter().position(|n| *n == r.symbol) {
            Some(i) => i,
            None => {
                names.push(&r.symbol);
                names.len() - 1
            }
        };
        if let Some(Insn::Lddw { dst, .. }) = insns.get(r.slot).copied() {
            insns[r.slot] = Insn::Lddw {
                dst,
                kind: LddwKind::MapIdxValue,
                imm: maps.len() as u64 | ((8 * i as u64) << 32),
            };
        }
    }
    if names.is_empty() {
        return (insns, None);
    }
    let values = names
        .iter()
        .flat_map(|n| waggle_runtime::kconfig_value(n).to_le_bytes())
        .collect();
    maps.push(MapDesc::new(
        MapType::Array,
        4,
        8 * names.len() as u32,
        1,
        BPF_F_RDONLY_PROG,
    ));
    (insns, Some((maps.len() as u32 - 1, values)))
}

/// One program's verdict.
struct Verdict {
    name: String,
    prog_type: ProgramType,
    insns: usize,
    result: Result<Stats, Box<Rejection>>,
}

/// Why one of the object's maps could not be created, as `BPF_MAP_CREATE` would refuse it
/// (libbpf then loads none of the object's programs). Map types the kernel has but Waggle's
/// maps do not are not judged here.
fn map_creation_error(obj: &Object) -> Option<String> {
    obj.maps.iter().find_map(|m| {
        let t = waggle_maps::MapType::from_u32(m.map_type)?;
        let spec = waggle_maps::MapSpec::new(t, m.key_size, m.value_size, m.max_entries)
            .with_flags(m.flags)
            .with_map_extra(m.map_extra)
            .with_libbpf_defaults();
        match spec.validate() {
            Err(e @ waggle_maps::MapError::Invalid(_)) => Some(format!(
                "map '{}' cannot be created: {e} (BPF_MAP_CREATE: EINVAL), so no program of the object loads",
                m.name
            )),
            _ => None,
        }
    })
}

fn verify_one(
    obj: &Object,
    p: &Program,
    forced: Option<ProgramType>,
    log_level: u32,
    kernel_btf: &dyn Fn() -> Option<Arc<Btf>>,
) -> Verdict {
    let prog_type = forced
        .unwrap_or_else(|| ProgramType::from_u32(p.prog_type()).unwrap_or(ProgramType::Unspec));
    if let Some(message) = map_creation_error(obj) {
        return Verdict {
            name: p.name.clone(),
            prog_type,
            insns: p.insns.len(),
            result: Err(Box::new(Rejection {
                pc: 0,
                line: None,
                log: message.clone(),
                message,
                state: String::new(),
                path: Vec::new(),
            })),
        };
    }
    let mut maps: Vec<MapDesc> = obj.maps.iter().map(|m| desc(obj, m)).collect();
    let (insns, kconfig) = resolve_kconfig(p, &mut maps);
    // Frozen read-only data (`.rodata`, `.kconfig`) reads as the numbers it holds, as in Linux.
    let mut frozen_values: Vec<(u32, Vec<u8>)> = obj
        .maps
        .iter()
        .enumerate()
        .filter(|(_, m)| m.frozen)
        .filter_map(|(i, m)| Some((i as u32, m.initial_data.clone()?)))
        .collect();
    frozen_values.extend(kconfig);
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
    let prog = waggle_verifier::Program {
        insns: &insns,
        prog_type,
        maps: &maps,
        line_info: &lines,
        kfuncs: &kfuncs,
    };
    let mut opts = Options {
        log_level,
        frozen_values,
        ..Options::default()
    };
    if needs_kernel_btf(p, prog_type) {
        opts.kernel_btf = kernel_btf();
        opts.attach_to = Some(p.section.clone());
    }
    let mut result = waggle_verifier::verify(&prog, &opts);
    // Reads of `struct bpf_map` through a map pointer need the running kernel's layout: parse
    // its BTF only for the programs that do it.
    if let Err(r) = &result
        && r.message.contains("invalid mem access 'map_ptr'")
        && let Some(layout) = kernel_bpf_map_struct()
    {
        opts.bpf_map_struct = Some(layout);
        result = waggle_verifier::verify(&prog, &opts);
    }
    Verdict {
        name: p.name.clone(),
        prog_type,
        insns: insns.len(),
        result,
    }
}

/// The running kernel's `struct bpf_map` (from `/sys/kernel/btf/vmlinux`), flattened into its
/// leaf fields as the verifier wants them.
fn kernel_bpf_map_struct() -> Option<BpfMapStruct> {
    let btf = Btf::from_file("/sys/kernel/btf/vmlinux").ok()?;
    let id = btf.find_by_name("bpf_map", 4)?;
    let BtfKind::Struct { size, .. } = btf.kind(id)? else {
        return None;
    };
    let mut fields = Vec::new();
    flatten(&btf, id, 0, "", &mut fields, 0);
    Some(BpfMapStruct {
        size: *size,
        fields,
    })
}

/// The leaf fields of BTF type `id` placed at byte `base`: nested structs and unions give
/// their members, arrays of numbers are one field, other arrays one per element.
fn flatten(btf: &Btf, id: u32, base: u32, name: &str, out: &mut Vec<BpfMapField>, depth: u32) {
    let Ok((rid, kind)) = btf.resolved(id) else {
        return;
    };
    if depth > 16 {
        return;
    }
    let mut push = |off, size, pointer| {
        out.push(BpfMapField {
            name: name.to_owned(),
            off,
            size,
            pointer,
        })
    };
    match kind {
        BtfKind::Struct { members, .. } | BtfKind::Union { members, .. } => {
            for m in members {
                let n = btf.string_lossy(m.name_off);
                let n = if n.is_empty() { name.to_owned() } else { n };
                flatten(btf, m.type_id, base + m.bit_offset / 8, &n, out, depth + 1);
            }
        }
        BtfKind::Ptr { .. } => push(base, 8, true),
        BtfKind::Array { elem, nelems, .. } => {
            let esize = btf.type_size(*elem).unwrap_or(0) as u32;
            match btf.resolved(*elem) {
                Ok((_, BtfKind::Int { .. } | BtfKind::Enum { .. } | BtfKind::Enum64 { .. })) => {
                    push(base, esize.saturating_mul(*nelems), false)
                }
                _ => {
                    for i in 0..(*nelems).min(64) {
                        flatten(btf, *elem, base + i * esize, name, out, depth + 1);
                    }
                }
            }
        }
        _ => {
            if let Ok(size @ 1..) = btf.type_size(rid) {
                push(base, size as u32, false);
            }
        }
    }
}

fn text(v: &Verdict, log_level: u32) -> String {
    let mut out = String::new();
    match &v.result {
        Ok(s) => {
            let _ = writeln!(
                out,
                "{} ({}): accepted: {} insns, {} processed, {} states kept, peak {} states, stack {:?} bytes per subprogram, {:.1} µs",
                v.name,
                v.prog_type,
                v.insns,
                s.insns_processed,
                s.states_kept,
                s.peak_states,
                s.max_stack_depth,
                s.duration.as_secs_f64() * 1e6
            );
            if log_level >= 2 {
                out.push_str(&s.log);
            }
        }
        Err(r) => {
            let _ = writeln!(out, "{} ({}): refused: {}", v.name, v.prog_type, r.message);
            if log_level >= 1 {
                out.push_str(&r.log);
            }
        }
    }
    out
}

fn to_json(v: &Verdict) -> serde_json::Value {
    match &v.result {
        Ok(s) => json!({
            "program": v.name,
            "type": v.prog_type.to_string(),
            "accepted": true,
            "insns": v.insns,
            "insns_processed": s.insns_processed,
            "states_kept": s.states_kept,
            "peak_states": s.peak_states,
            "max_stack_depth": s.max_stack_depth,
            "time_ns": s.duration.as_nanos() as u64,
            "log": s.log,
        }),
        Err(r) => json!({
            "program": v.name,
            "type": v.prog_type.to_string(),
            "accepted": false,
            "insns": v.insns,
            "error": {
                "pc": r.pc,
                "line": r.line,
                "message": r.message,
                "errno": r.errno(),
                "state": r.state,
                "path": r.path,
            },
            "log": r.log,
        }),
    }
}

/// `waggle verify`.
pub fn verify(args: &VerifyArgs<'_>) -> Result<(), Failure> {
    if args.log_level > 2 {
        return Err(usage(format!(
            "--log-level {}: must be 0, 1 or 2",
            args.log_level
        )));
    }
    let forced = match args.prog_type {
        Some(t) => Some(t.parse::<ProgramType>().map_err(|_| {
            usage(format!(
                "--type {t}: unknown program type (kernel names: socket_filter, kprobe, sched_cls, sched_act, tracepoint, xdp, perf_event, cgroup_skb, ...)"
            ))
        })?),
        None => None,
    };
    // The kernel BTF is parsed at most once, and only when a program needs it.
    let given = match args.btf {
        Some(path) => {
            Some(Arc::new(Btf::from_file(path).map_err(|e| {
                usage(format!("--btf {}: {e}", path.display()))
            })?))
        }
        None => None,
    };
    let cached: OnceCell<Option<Arc<Btf>>> = OnceCell::new();
    let kernel_btf = || {
        cached
            .get_or_init(|| {
                given
                    .clone()
                    .or_else(|| Btf::from_file(VMLINUX_BTF).ok().map(Arc::new))
            })
            .clone()
    };
    let obj = open_object(args.file)?;
    let programs: Vec<&Program> = match args.program {
        Some(name) => vec![obj.program(name).ok_or_else(|| {
            let names: Vec<&str> = obj.programs.iter().map(|p| p.name.as_str()).collect();
            usage(format!(
                "{}: no program {name} (programs: {})",
                args.file.display(),
                names.join(", ")
            ))
        })?],
        None => obj.programs.iter().collect(),
    };
    if programs.is_empty() {
        return Err(usage(format!(
            "{}: the object has no programs",
            args.file.display()
        )));
    }
    let verdicts: Vec<Verdict> = programs
        .iter()
        .map(|p| verify_one(&obj, p, forced, args.log_level, &kernel_btf))
        .collect();
    if args.json {
        let doc = json!({
            "file": args.file.display().to_string(),
            "programs": verdicts.iter().map(to_json).collect::<Vec<_>>(),
        });
        emit(&format!("{doc:#}\n"))?;
    } else {
        let out: String = verdicts.iter().map(|v| text(v, args.log_level)).collect();
        emit(&out)?;
    }
    let refused: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.result.is_err())
        .map(|v| v.name.as_str())
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(failed(format!(
            "{}: refused: {}",
            args.file.display(),
            refused.join(", ")
        )))
    }
}
