//! An object's BTF made loadable, as libbpf does before `BPF_BTF_LOAD`: clang leaves every
//! `DATASEC` with size 0 and its variables at offset 0; the sizes come from the ELF sections
//! and the offsets from the symbol table. Everything else is passed through; BTF the kernel
//! still refuses (extern variables and functions, which libbpf rewrites) is reported by the
//! load, and callers go on without BTF.

/// `BTF_KIND_VAR`.
const KIND_VAR: u32 = 14;
/// `BTF_KIND_DATASEC`.
const KIND_DATASEC: u32 = 15;

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn cstr(b: &[u8], off: usize) -> Option<&str> {
    let s = b.get(off..)?;
    let end = s.iter().position(|&c| c == 0)?;
    std::str::from_utf8(&s[..end]).ok()
}

/// One ELF section: name, file range, type, link.
struct Section<'a> {
    name: &'a str,
    data: &'a [u8],
    size: u64,
    kind: u32,
    link: u32,
}

/// The sections of a little-endian ELF64 file.
fn sections(elf: &[u8]) -> Option<Vec<Section<'_>>> {
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let shoff = u64_at(elf, 0x28)? as usize;
    let shentsize = u16_at(elf, 0x3a)? as usize;
    let shnum = u16_at(elf, 0x3c)? as usize;
    let shstrndx = u16_at(elf, 0x3e)? as usize;
    let header = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    let raw = |i: usize| -> Option<(u32, u32, u64, u64, u32)> {
        let h = header(i)?;
        Some((
            u32_at(elf, h)?,
            u32_at(elf, h + 4)?,
            u64_at(elf, h + 24)?,
            u64_at(elf, h + 32)?,
            u32_at(elf, h + 40)?,
        ))
    };
    let (_, _, str_off, str_size, _) = raw(shstrndx)?;
    let names = elf.get(str_off as usize..(str_off.checked_add(str_size)?) as usize)?;
    (0..shnum)
        .map(|i| {
            let (name, kind, off, size, link) = raw(i)?;
            // SHT_NOBITS (.bss) has a size but no file data.
            let data = if kind == 8 {
                &[][..]
            } else {
                elf.get(off as usize..(off.checked_add(size)?) as usize)?
            };
            Some(Section {
                name: cstr(names, name as usize)?,
                data,
                size,
                kind,
                link,
            })
        })
        .collect()
}

/// The contents of ELF section `name` (empty for `.bss`-like sections), if the file has it.
pub fn elf_section<'a>(elf: &'a [u8], name: &str) -> Option<&'a [u8]> {
    sections(elf)?
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| s.data)
}

/// The object's `.BTF`, with `DATASEC` sizes and variable offsets filled in as libbpf does.
/// `None` when the object has no BTF or it cannot be read.
pub fn object_btf(elf: &[u8]) -> Option<Vec<u8>> {
    let secs = sections(elf)?;
    let mut btf = secs.iter().find(|s| s.name == ".BTF")?.data.to_vec();
    // Symbols: (name, section index, value).
    let mut symbols: Vec<(&str, usize, u64)> = Vec::new();
    if let Some(symtab) = secs.iter().find(|s| s.kind == 2) {
        let strtab = secs.get(symtab.link as usize)?.data;
        for sym in symtab.data.chunks_exact(24) {
            let name = cstr(strtab, u32_at(sym, 0)? as usize).unwrap_or("");
            symbols.push((name, u16_at(sym, 6)? as usize, u64_at(sym, 8)?));
        }
    }
    let hdr_len = u32_at(&btf, 4)? as usize;
    let type_off = hdr_len + u32_at(&btf, 8)? as usize;
    let type_len = u32_at(&btf, 12)? as usize;
    let str_off = hdr_len + u32_at(&btf, 16)? as usize;
    let str_len = u32_at(&btf, 20)? as usize;
    let strings = btf.get(str_off..str_off.checked_add(str_len)?)?.to_vec();
    // Walk the types once: (kind, name_off, start) of each, id 1 first.
    let mut types: Vec<(u32, u32, usize)> = Vec::new();
    let mut at = type_off;
    let end = type_off.checked_add(type_len)?;
    while at < end {
        let info = u32_at(&btf, at + 4)?;
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        types.push((kind, u32_at(&btf, at)?, at));
        at += 12
            + match kind {
                1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
                3 => 12,                      // ARRAY
                4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
                6 | 13 => 8 * vlen,           // ENUM, FUNC_PROTO
                2 | 7..=12 | 16 | 18 => 0,    // PTR, FWD, modifiers, FUNC, FLOAT, TYPE_TAG
                _ => return None,
            };
    }
    let name = |off: u32| cstr(&strings, off as usize).unwrap_or("");
    for &(kind, name_off, start) in &types {
        if kind != KIND_DATASEC {
            continue;
        }
        let sec_name = name(name_off);
        let Some(idx) = secs.iter().position(|s| s.name == sec_name) else {
            continue;
        };
        let size = u32::try_from(secs[idx].size).ok()?;
        btf[start + 8..start + 12].copy_from_slice(&size.to_le_bytes());
        let vlen = (u32_at(&btf, start + 4)? & 0xffff) as usize;
        for v in 0..vlen {
            let info = start + 12 + 12 * v;
            let var = u32_at(&btf, info)? as usize;
            let Some(&(vk, vname, _)) = var.checked_sub(1).and_then(|i| types.get(i)) else {
                continue;
            };
            if vk != KIND_VAR {
                continue;
            }
            let vname = name(vname);
            if let Some(&(_, _, value)) = symbols
                .iter()
                .find(|(n, shndx, _)| *n == vname && *shndx == idx)
            {
                let off = u32::try_from(value).ok()?;
                btf[info + 4..info + 8].copy_from_slice(&off.to_le_bytes());
            }
        }
    }
    Some(btf)
}

/// The string offsets of a line info record: where `file` and `line` (the source text) are in
/// `btf`'s string section, for `struct bpf_line_info`. `None` when either is missing.
pub fn line_strings(btf: &[u8], file: &str, line: &str) -> Option<(u32, u32)> {
    let hdr_len = u32_at(btf, 4)? as usize;
    let str_off = hdr_len + u32_at(btf, 16)? as usize;
    let str_len = u32_at(btf, 20)? as usize;
    let strings = btf.get(str_off..str_off.checked_add(str_len)?)?;
    let find = |s: &str| -> Option<u32> {
        let mut off = 0usize;
        for part in strings.split(|&b| b == 0) {
            if part == s.as_bytes() {
                return u32::try_from(off).ok();
            }
            off += part.len() + 1;
        }
        None
    };
    Some((find(file)?, find(line)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_input_gives_none() {
        assert!(object_btf(b"").is_none());
        assert!(object_btf(b"\x7fELF\x02\x01\0\0").is_none());
        assert!(object_btf(&[0x7f; 200]).is_none());
        assert!(line_strings(&[1, 2, 3], "a", "b").is_none());
    }
}
