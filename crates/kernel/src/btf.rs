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

/// The first instruction of every subprogram of raw bytecode, as the kernel finds them: 0, the
/// target of every `call local` (`src_reg` 1) and of every `lddw func` (`src_reg` 4).
pub fn subprog_starts(code: &[u8]) -> Vec<u32> {
    let mut starts = vec![0u32];
    for (pc, insn) in code.chunks_exact(8).enumerate() {
        let (op, src) = (insn[0], insn[1] >> 4);
        let imm = i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
        if (op == 0x85 && src == 1) || (op == 0x18 && src == 4) {
            let target = pc as i64 + 1 + i64::from(imm);
            if let Ok(t) = u32::try_from(target) {
                starts.push(t);
            }
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// Raw BTF types, appended one by one, and the string section they name.
#[derive(Default)]
pub struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    count: u32,
}

impl Builder {
    /// An empty builder (string 0 is the empty name).
    pub fn new() -> Builder {
        Builder {
            types: Vec::new(),
            strings: vec![0],
            count: 0,
        }
    }

    fn name(&mut self, name: &str) -> u32 {
        if name.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        off
    }

    fn push(&mut self, words: &[u32]) -> u32 {
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.count += 1;
        self.count
    }

    /// `BTF_KIND_INT` of `size` bytes; returns its id.
    pub fn int(&mut self, name: &str, size: u32, signed: bool) -> u32 {
        let n = self.name(name);
        self.push(&[n, 1 << 24, size, (u32::from(signed) << 24) | (size * 8)])
    }

    /// `BTF_KIND_STRUCT` of `size` bytes with `members` (name, type id, byte offset).
    pub fn structure(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        let n = self.name(name);
        let mut words = vec![n, (4 << 24) | members.len() as u32, size];
        for &(m, ty, off) in members {
            let mn = self.name(m);
            words.extend([mn, ty, off * 8]);
        }
        self.push(&words)
    }

    /// `BTF_KIND_FUNC_PROTO` returning `ret` with unnamed parameters of types `params`.
    pub fn func_proto(&mut self, ret: u32, params: &[u32]) -> u32 {
        let mut words = vec![0, (13 << 24) | params.len() as u32, ret];
        for &p in params {
            words.extend([0, p]);
        }
        self.push(&words)
    }

    /// `BTF_KIND_FUNC` `name` of prototype `proto`, static linkage.
    pub fn func(&mut self, name: &str, proto: u32) -> u32 {
        let n = self.name(name);
        self.push(&[n, 12 << 24, proto])
    }

    /// The raw BTF (header, types, strings), for [`crate::btf_load`].
    pub fn finish(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.types.len() + self.strings.len());
        out.extend_from_slice(&0xeb9f_u16.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for w in [
            24,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strings.len() as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// BTF for assembled code without any: one static `FUNC` (`int f(void)`-like) per
/// subprogram, and the `func_info` records naming them, which Linux needs before it accepts
/// `lddw func` (callbacks). `starts` comes from [`subprog_starts`].
pub fn func_btf(starts: &[u32]) -> (Vec<u8>, Vec<[u32; 2]>) {
    let mut b = Builder::new();
    let int = b.int("int", 4, true);
    let proto = b.func_proto(int, &[]);
    let info = starts
        .iter()
        .enumerate()
        .map(|(i, &s)| [s, b.func(&format!("f{i}"), proto)])
        .collect();
    (b.finish(), info)
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
        assert_eq!(subprog_starts(&[0xff; 13]), vec![0]);
    }

    #[test]
    fn subprograms_are_found_and_named() {
        // call local +1; exit; lddw func r1, -4 (back to 0); exit
        let mut code = Vec::new();
        code.extend([0x85, 0x10, 0, 0, 1, 0, 0, 0]);
        code.extend([0x95, 0, 0, 0, 0, 0, 0, 0]);
        code.extend([0x18, 0x41, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
        code.extend([0, 0, 0, 0, 0, 0, 0, 0]);
        code.extend([0x95, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(subprog_starts(&code), vec![0, 1, 2]);
        let (btf, info) = func_btf(&[0, 2]);
        assert_eq!(info, vec![[0, 3], [2, 4]]);
        assert_eq!(u16_at(&btf, 0), Some(0xeb9f));
        assert!(line_strings(&btf, "f0", "f1").is_some());
    }
}
