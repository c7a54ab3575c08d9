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
