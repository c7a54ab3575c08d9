//! Map keys, values and ring buffer records for `waggle attach`: decoded with the object's BTF
//! when it describes them (integers in decimal, enums by name, `char` arrays as strings,
//! structs as `{field: value}`), else hex; and log2 histograms for histogram-shaped maps, as
//! bpftrace and the libbpf tools print them.

use std::fmt::Write as _;
use waggle_object::{Btf, BtfKind};

/// `BTF_INT_SIGNED`, `BTF_INT_CHAR`, `BTF_INT_BOOL`.
const INT_SIGNED: u8 = 1;
const INT_CHAR: u8 = 2;
const INT_BOOL: u8 = 4;
/// Nesting bound: BTF from an object is untrusted and may be cyclic.
const MAX_DEPTH: u32 = 16;

fn uint(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(b)
}

fn sint(bytes: &[u8]) -> i64 {
    let n = bytes.len().min(8);
    if n == 0 {
        return 0;
    }
    let shift = 64 - 8 * n as u32;
    ((uint(bytes) << shift) as i64) >> shift
}

/// `bytes` as BTF type `id` describes them, or `None` if BTF cannot describe them (unknown
/// type, size mismatch, a pointer).
pub fn decode(btf: &Btf, id: u32, bytes: &[u8]) -> Option<String> {
    let mut out = String::new();
    write_value(btf, id, bytes, &mut out, 0).then_some(out)
}

fn write_value(btf: &Btf, id: u32, bytes: &[u8], out: &mut String, depth: u32) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let Ok((id, kind)) = btf.resolved(id) else {
        return false;
    };
    match kind {
        BtfKind::Int { size, encoding, .. } => {
            let size = *size as usize;
            if bytes.len() < size || size > 8 {
                return false;
            }
            let b = &bytes[..size];
            if encoding & INT_BOOL != 0 {
                out.push_str(if uint(b) != 0 { "true" } else { "false" });
            } else if encoding & INT_SIGNED != 0 {
                let _ = write!(out, "{}", sint(b));
            } else {
                let _ = write!(out, "{}", uint(b));
            }
            true
        }
        BtfKind::Enum { size, values, .. } | BtfKind::Enum64 { size, values, .. } => {
            let size = *size as usize;
            if bytes.len() < size || size > 8 {
                return false;
            }
            let v = uint(&bytes[..size]);
            let mask = if size >= 8 {
                u64::MAX
            } else {
                (1u64 << (8 * size)) - 1
            };
            match values.iter().find(|e| e.value & mask == v) {
                Some(e) => out.push_str(&btf.string_lossy(e.name_off)),
                None => {
                    let _ = write!(out, "{v}");
                }
            }
            true
        }
        BtfKind::Array { elem, nelems, .. } => {
            let Ok(esize) = btf.type_size(*elem) else {
                return false;
            };
            let esize = esize as usize;
            let n = *nelems as usize;
            if esize == 0 || bytes.len() < esize.saturating_mul(n) {
                return false;
            }
            let is_char = matches!(
                btf.resolved(*elem),
                Ok((_, BtfKind::Int { size: 1, encoding, .. })) if encoding & INT_CHAR != 0
                    || btf.name(*elem) == "char"
            ) || btf.name(*elem) == "char";
            if is_char {
                let s = &bytes[..n];
                let end = s.iter().position(|&c| c == 0).unwrap_or(n);
                let _ = write!(out, "{:?}", String::from_utf8_lossy(&s[..end]));
                return true;
            }
            out.push('[');
            for i in 0..n {
                if i > 0 {
                    out.push_str(", ");
                }
                if !write_value(btf, *elem, &bytes[i * esize..], out, depth + 1) {
                    return false;
                }
            }
            out.push(']');
            true
        }
        BtfKind::Struct { size, members } | BtfKind::Union { size, members } => {
            if bytes.len() < *size as usize {
                return false;
            }
            out.push('{');
            for (i, m) in members.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let name = btf.string_lossy(m.name_off);
                if !name.is_empty() {
                    let _ = write!(out, "{name}: ");
                }
                let off = (m.bit_offset / 8) as usize;
                if m.bitfield_size != 0 {
                    let raw = uint(&bytes[off..bytes.len().min(off + 8)]);
                    let v = (raw >> (m.bit_offset % 8)) & ((1u64 << m.bitfield_size.min(63)) - 1);
                    let _ = write!(out, "{v}");
                    continue;
                }
                if off > bytes.len() || !write_value(btf, m.type_id, &bytes[off..], out, depth + 1)
                {
                    return false;
                }
            }
            out.push('}');
            let _ = id;
            true
        }
        BtfKind::Float { size } => {
            match (*size, bytes) {
                (4, [a, b, c, d, ..]) => {
                    let _ = write!(out, "{}", f32::from_le_bytes([*a, *b, *c, *d]));
                }
                (8, b) if b.len() >= 8 => {
                    let _ = write!(
                        out,
                        "{}",
                        f64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]))
                    );
                }
                _ => return false,
            }
            true
        }
        _ => false,
    }
}

/// The type id of the struct named `name`, if BTF has one.
pub fn struct_named(btf: &Btf, name: &str) -> Option<u32> {
    btf.find_by_name(name, 4)
}

/// Whether a map looks like a log2 histogram: its name says so (`hist`), its keys are
/// 4- or 8-byte slot numbers and its values 8-byte counts.
pub fn is_histogram(name: &str, key_size: u32, value_size: u32) -> bool {
    name.contains("hist") && matches!(key_size, 4 | 8) && value_size == 8
}

/// A log2 histogram from (slot, count) pairs: slot `i` counts values in `[2^i, 2^(i+1))`
/// (slot 0 also holds 0), printed as the libbpf tools' `print_log2_hist` does.
pub fn log2_histogram(slots: &[(u64, u64)], indent: &str) -> String {
    let mut out = String::new();
    let max_slot = slots.iter().filter(|(_, c)| *c > 0).map(|(s, _)| *s).max();
    let Some(max_slot) = max_slot else {
        let _ = writeln!(out, "{indent}(empty)");
        return out;
    };
    let max_slot = max_slot.min(63);
    let count = |i: u64| -> u64 { slots.iter().filter(|(s, _)| *s == i).map(|(_, c)| *c).sum() };
    let min_slot = slots
        .iter()
        .filter(|(_, c)| *c > 0)
        .map(|(s, _)| *s)
        .min()
        .unwrap_or(0)
        .min(max_slot);
    let max_count = (min_slot..=max_slot).map(count).max().unwrap_or(0).max(1);
    const WIDTH: u64 = 40;
    // From the first non-empty slot, as bpftrace prints them.
    for i in min_slot..=max_slot {
        let low = if i == 0 { 0 } else { 1u64 << i };
        let high = if i == 63 {
            u64::MAX
        } else {
            (1u64 << (i + 1)) - 1
        };
        let c = count(i);
        let stars = (c * WIDTH).div_ceil(max_count) as usize;
        let _ = writeln!(
            out,
            "{indent}{low:>10} -> {high:<10} : {c:<8} |{:<w$}|",
            "*".repeat(stars),
            w = WIDTH as usize
        );
    }
    out
}

/// The slot number a histogram key holds.
pub fn slot_of(key: &[u8]) -> u64 {
    uint(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_rows_and_bars() {
        let h = log2_histogram(&[(0, 1), (2, 4), (3, 2)], "");
        let rows: Vec<&str> = h.lines().collect();
        assert_eq!(rows.len(), 4);
        assert!(rows[0].contains(" 0 -> 1 "), "{h}");
        let later = log2_histogram(&[(9, 0), (3, 1), (4, 1)], "");
        assert_eq!(later.lines().count(), 2, "{later}");
        assert!(later.starts_with("         8 -> 15 "), "{later}");
        assert!(rows[2].contains(" 4 -> 7 "), "{h}");
        assert_eq!(rows[2].matches('*').count(), 40);
        assert_eq!(rows[3].matches('*').count(), 20);
        assert_eq!(rows[1].matches('*').count(), 0);
        assert!(log2_histogram(&[], "").contains("empty"));
    }

    #[test]
    fn signed_and_unsigned_ints() {
        assert_eq!(sint(&[0xff, 0xff]), -1);
        assert_eq!(uint(&[0xff, 0xff]), 65535);
        assert_eq!(sint(&[]), 0);
    }
}
