//! Map keys and values shown with their BTF types, as `bpftool map dump` does when the map
//! has BTF: integers, chars, bools, enums, arrays, structs and unions in C-like syntax
//! (`{.hits = 1, .sum = 21}`). Anything it cannot decode prints as hex; never panics.

use waggle_object::{Btf, BtfKind};

const MAX_DEPTH: u32 = 16;

/// `bytes` as a value of BTF type `id`, or `None` if the type is unknown or the sizes
/// disagree.
pub fn format(btf: &Btf, id: u32, bytes: &[u8]) -> Option<String> {
    let size = usize::try_from(btf.type_size(id).ok()?).ok()?;
    if size != bytes.len() || id == 0 {
        return None;
    }
    let mut out = String::new();
    value(btf, id, bytes, 0, &mut out)?;
    Some(out)
}

fn int(bytes: &[u8], signed: bool) -> Option<String> {
    let mut w = [0u8; 16];
    w.get_mut(..bytes.len())?.copy_from_slice(bytes);
    let u = u128::from_le_bytes(w);
    if signed && bytes.len() < 16 {
        let shift = 128 - 8 * bytes.len() as u32;
        Some(((u << shift) as i128 >> shift).to_string())
    } else {
        Some(u.to_string())
    }
}

fn value(btf: &Btf, id: u32, bytes: &[u8], depth: u32, out: &mut String) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let (_, kind) = btf.resolved(id).ok()?;
    match kind {
        BtfKind::Int { encoding, bits, .. } => {
            let enc = *encoding;
            if enc & 4 != 0 {
                out.push_str(if bytes.iter().any(|&b| b != 0) {
                    "true"
                } else {
                    "false"
                });
            } else if enc & 2 != 0 && bytes.len() == 1 {
                let c = bytes[0];
                if c.is_ascii_graphic() || c == b' ' {
                    out.push_str(&format!("'{}'", c as char));
                } else {
                    out.push_str(&c.to_string());
                }
            } else {
                let n = (usize::from(*bits).div_ceil(8)).clamp(1, bytes.len());
                out.push_str(&int(&bytes[..n], enc & 1 != 0)?);
            }
        }
        BtfKind::Enum { values, signed, .. } | BtfKind::Enum64 { values, signed, .. } => {
            let v = int(bytes, *signed)?;
            let name = values
                .iter()
                .find(|e| {
                    int(&e.value.to_le_bytes()[..bytes.len().min(8)], *signed).as_ref() == Some(&v)
                })
                .map(|e| btf.string_lossy(e.name_off));
            out.push_str(&name.unwrap_or(v));
        }
        BtfKind::Ptr { .. } => out.push_str(&format!(
            "{:#x}",
            u64::from_le_bytes(bytes.try_into().ok()?)
        )),
        BtfKind::Array { elem, nelems, .. } => {
            let esize = usize::try_from(btf.type_size(*elem).ok()?).ok()?;
            // char arrays as strings, as bpftool prints them.
            if let Ok((
                _,
                BtfKind::Int {
                    encoding, size: 1, ..
                },
            )) = btf.resolved(*elem)
                && encoding & 2 != 0
            {
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                out.push_str(&format!("{:?}", String::from_utf8_lossy(&bytes[..end])));
                return Some(());
            }
            out.push('[');
            for i in 0..*nelems as usize {
                if i > 0 {
                    out.push_str(", ");
                }
                let b = bytes.get(i * esize..(i + 1) * esize)?;
                value(btf, *elem, b, depth + 1, out)?;
            }
            out.push(']');
        }
        BtfKind::Struct { members, .. } | BtfKind::Union { members, .. } => {
            out.push('{');
            for (i, m) in members.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let name = btf.string_lossy(m.name_off);
                if !name.is_empty() {
                    out.push_str(&format!(".{name} = "));
                }
                let msize = usize::try_from(btf.type_size(m.type_id).ok()?).ok()?;
                let off = (m.bit_offset / 8) as usize;
                if m.bitfield_size != 0 || m.bit_offset % 8 != 0 {
                    // Bitfields: the containing bytes, shifted and masked.
                    let mut w = [0u8; 16];
                    let src = bytes.get(off..(off + msize.max(1)).min(bytes.len()))?;
                    w.get_mut(..src.len())?.copy_from_slice(src);
                    let bits = if m.bitfield_size == 0 {
                        8 * msize as u32
                    } else {
                        m.bitfield_size
                    };
                    let v = u128::from_le_bytes(w) >> (m.bit_offset % 8);
                    let mask = if bits >= 128 {
                        u128::MAX
                    } else {
                        (1u128 << bits) - 1
                    };
                    out.push_str(&(v & mask).to_string());
                } else {
                    value(btf, m.type_id, bytes.get(off..off + msize)?, depth + 1, out)?;
                }
            }
            out.push('}');
        }
        BtfKind::Float { .. } => match bytes.len() {
            4 => out.push_str(&f32::from_le_bytes(bytes.try_into().ok()?).to_string()),
            8 => out.push_str(&f64::from_le_bytes(bytes.try_into().ok()?).to_string()),
            _ => return None,
        },
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus_btf(name: &str) -> Btf {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/progs/");
        let elf = std::fs::read(format!("{path}{name}")).unwrap();
        waggle_object::Object::parse(&elf).unwrap().btf.unwrap()
    }

    #[test]
    fn every_type_of_corpus_objects_formats_arbitrary_bytes_without_panicking() {
        for obj in [
            "helpers_callbacks.bpf.o",
            "xdp_parse.bpf.o",
            "globals.bpf.o",
        ] {
            let btf = corpus_btf(obj);
            for (id, _) in btf.types() {
                let Ok(size) = btf.type_size(id) else {
                    continue;
                };
                let size = size.min(4096) as usize;
                for fill in [0u8, 0xff, 0x41] {
                    let _ = format(&btf, id, &vec![fill; size]);
                }
                assert_eq!(format(&btf, id, &vec![0; size + 1]), None, "size mismatch");
            }
        }
    }

    #[test]
    fn struct_values_show_member_names() {
        let btf = corpus_btf("helpers_callbacks.bpf.o");
        let id = btf.find_by_name("counter", 4).expect("struct counter");
        let mut v = vec![0u8; 16];
        v[4..8].copy_from_slice(&3u32.to_le_bytes());
        v[8..16].copy_from_slice(&63u64.to_le_bytes());
        let s = format(&btf, id, &v).unwrap();
        assert!(s.contains(".hits = 3") && s.contains(".sum = 63"), "{s}");
    }
}
