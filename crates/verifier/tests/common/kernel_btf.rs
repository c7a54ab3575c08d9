//! The kernel's `struct bpf_map` layout from its BTF (`/sys/kernel/btf/vmlinux`), for reads
//! through a map pointer (the same walk as `waggle verify`'s).

use waggle_object::{Btf, BtfKind};
use waggle_verifier::{BpfMapField, BpfMapStruct};

/// The running kernel's BTF, or why it is not available.
pub fn vmlinux() -> Result<Btf, String> {
    Btf::from_file("/sys/kernel/btf/vmlinux").map_err(|e| format!("/sys/kernel/btf/vmlinux: {e}"))
}

/// `struct bpf_map` flattened into its leaf fields, if `btf` has it.
pub fn bpf_map_struct(btf: &Btf) -> Option<BpfMapStruct> {
    let id = btf.find_by_name("bpf_map", 4)?;
    let BtfKind::Struct { size, .. } = btf.kind(id)? else {
        return None;
    };
    let mut fields = Vec::new();
    flatten(btf, id, 0, "", &mut fields, 0);
    Some(BpfMapStruct {
        size: *size,
        fields,
    })
}

fn flatten(btf: &Btf, id: u32, base: u32, name: &str, out: &mut Vec<BpfMapField>, depth: u32) {
    let Ok((rid, kind)) = btf.resolved(id) else {
        return;
    };
    if depth > 16 {
        return;
    }
    match kind {
        BtfKind::Struct { members, .. } | BtfKind::Union { members, .. } => {
            for m in members {
                let n = btf.string_lossy(m.name_off);
                let n = if n.is_empty() { name.to_owned() } else { n };
                flatten(btf, m.type_id, base + m.bit_offset / 8, &n, out, depth + 1);
            }
        }
        BtfKind::Ptr { .. } => out.push(BpfMapField {
            name: name.to_owned(),
            off: base,
            size: 8,
            pointer: true,
        }),
        BtfKind::Array { elem, nelems, .. } => {
            let esize = btf.type_size(*elem).unwrap_or(0) as u32;
            match btf.resolved(*elem) {
                Ok((_, BtfKind::Int { .. } | BtfKind::Enum { .. } | BtfKind::Enum64 { .. })) => out
                    .push(BpfMapField {
                        name: name.to_owned(),
                        off: base,
                        size: esize * nelems,
                        pointer: false,
                    }),
                _ => {
                    for i in 0..(*nelems).min(64) {
                        flatten(btf, *elem, base + i * esize, name, out, depth + 1);
                    }
                }
            }
        }
        _ => {
            if let Ok(size) = btf.type_size(rid)
                && size > 0
            {
                out.push(BpfMapField {
                    name: name.to_owned(),
                    off: base,
                    size: size as u32,
                    pointer: false,
                });
            }
        }
    }
}

/// The layout the table cases use, fixed so that they do not depend on the host: the first
/// fields of Linux 6.18's `struct bpf_map` (296 bytes), the only ones the cases read. (The
/// kernel differential test uses the running kernel's own layout.)
pub fn table_bpf_map_struct() -> BpfMapStruct {
    let f = |name: &str, off, size, pointer| BpfMapField {
        name: name.into(),
        off,
        size,
        pointer,
    };
    BpfMapStruct {
        size: 296,
        fields: vec![
            f("sha", 0, 32, false),
            f("excl", 32, 4, false),
            f("ops", 40, 8, true),
            f("inner_map_meta", 48, 8, true),
            f("security", 56, 8, true),
            f("map_type", 64, 4, false),
            f("key_size", 68, 4, false),
            f("value_size", 72, 4, false),
            f("max_entries", 76, 4, false),
            f("map_extra", 80, 8, false),
        ],
    }
}

/// `BTF_KIND_TYPEDEF`.
const KIND_TYPEDEF: u8 = 8;
/// `BTF_KIND_FUNC`.
const KIND_FUNC: u8 = 12;

/// What a BTF-typed program's section asks the kernel to attach to, as libbpf resolves it:
/// (`attach_btf_id` in vmlinux, `expected_attach_type`, `prog_flags`). `Ok(None)`: the section
/// needs no attach target.
pub fn attach(btf: &Btf, section: &str) -> Result<Option<(u32, u32, u32)>, String> {
    const BPF_F_SLEEPABLE: u32 = 1 << 4;
    let Some((kind, name)) = section.split_once('/') else {
        return Ok(None);
    };
    let (base, flags) = match kind.strip_suffix(".s") {
        Some(b) => (b, BPF_F_SLEEPABLE),
        None => (kind, 0),
    };
    let (type_name, btf_kind, attach_type) = match base {
        "tp_btf" => (format!("btf_trace_{name}"), KIND_TYPEDEF, 23), // BPF_TRACE_RAW_TP
        "fentry" => (name.to_owned(), KIND_FUNC, 24),                // BPF_TRACE_FENTRY
        "fexit" => (name.to_owned(), KIND_FUNC, 25),                 // BPF_TRACE_FEXIT
        "fmod_ret" => (name.to_owned(), KIND_FUNC, 26),              // BPF_MODIFY_RETURN
        "lsm" => (format!("bpf_lsm_{name}"), KIND_FUNC, 27),         // BPF_LSM_MAC
        "iter" => (format!("bpf_iter_{name}"), KIND_FUNC, 28),       // BPF_TRACE_ITER
        _ => return Ok(None),
    };
    let id = btf
        .find_by_name(&type_name, btf_kind)
        .ok_or_else(|| format!("{type_name} not in the kernel BTF"))?;
    Ok(Some((id, attach_type, flags)))
}

/// The vmlinux BTF id of kfunc `name` (a `FUNC`), which a kfunc call's `imm` holds.
pub fn kfunc_id(btf: &Btf, name: &str) -> Option<u32> {
    btf.find_by_name(name, KIND_FUNC)
}
