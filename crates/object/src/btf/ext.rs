//! `.BTF.ext`: per-section function info, line info and CO-RE relocation records.
//!
//! Instruction offsets in the file are bytes from the start of the ELF section; the program
//! types ([`FuncInfo`], [`LineInfo`]) carry slot indexes into a linked program instead.

use super::Btf;
use super::types::Reader;
use std::fmt;

/// A `struct bpf_func_info` record: the function starting at `insn_off` has BTF `FUNC` type
/// `type_id`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FuncInfoRecord {
    /// Byte offset in the ELF section.
    pub insn_off: u32,
    /// `FUNC` type id.
    pub type_id: u32,
}

/// A `struct bpf_line_info` record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LineInfoRecord {
    /// Byte offset in the ELF section.
    pub insn_off: u32,
    /// String offset of the file name.
    pub file_name_off: u32,
    /// String offset of the source line's text.
    pub line_off: u32,
    /// Line number (the upper 22 bits of `line_col`).
    pub line: u32,
    /// Column (the lower 10 bits of `line_col`).
    pub column: u32,
}

/// A `struct bpf_core_relo` record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CoreReloRecord {
    /// Byte offset of the relocated instruction in the ELF section.
    pub insn_off: u32,
    /// The local (object BTF) root type.
    pub type_id: u32,
    /// String offset of the access spec (`"0:1:2"`).
    pub access_str_off: u32,
    /// `enum bpf_core_relo_kind`.
    pub kind: u32,
}

/// Records of one kind for one ELF section.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ExtSection<T> {
    /// The ELF section name.
    pub section: String,
    /// Its records, in file order.
    pub records: Vec<T>,
}

/// The parsed `.BTF.ext` section.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct BtfExt {
    /// Function info per section.
    pub func_info: Vec<ExtSection<FuncInfoRecord>>,
    /// Line info per section.
    pub line_info: Vec<ExtSection<LineInfoRecord>>,
    /// CO-RE relocations per section.
    pub core_relos: Vec<ExtSection<CoreReloRecord>>,
}

/// Function info of a linked program: the function starting at `slot`.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FuncInfo {
    /// Slot index in the linked program.
    pub slot: usize,
    /// `FUNC` type id in the object's BTF.
    pub type_id: u32,
    /// The function's name.
    pub name: String,
}

/// Line info of a linked program: the instructions from `slot` on come from this source line.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LineInfo {
    /// Slot index in the linked program.
    pub slot: usize,
    /// Source file name.
    pub file: String,
    /// Line number (1-based).
    pub line: u32,
    /// Column (1-based; 0 when unknown).
    pub column: u32,
    /// The text of the source line, as clang recorded it (may be empty).
    pub source: String,
}

impl fmt::Display for LineInfo {
    /// `line 42: val = bpf_map_lookup_elem(&counts, &key);`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.source.trim())
    }
}

impl BtfExt {
    /// Parse `.BTF.ext`; section names and strings come from `btf`.
    pub fn parse(data: &[u8], btf: &Btf) -> Result<BtfExt, String> {
        let mut r = Reader::new(data);
        let head = r.u32().ok_or("header truncated")?;
        if head & 0xffff != 0xeb9f {
            return Err(format!("bad magic {:#06x}", head & 0xffff));
        }
        if (head >> 16) & 0xff != 1 {
            return Err(format!("unsupported version {}", (head >> 16) & 0xff));
        }
        let hdr_len = r.u32().ok_or("header truncated")? as usize;
        if hdr_len < 24 || hdr_len > data.len() {
            return Err(format!("header length {hdr_len}"));
        }
        let mut fields = [0u32; 6];
        for (i, f) in fields.iter_mut().enumerate() {
            // The CO-RE pair is optional (older headers are 24 bytes).
            if 8 + 4 * (i + 1) > hdr_len {
                break;
            }
            *f = r.u32().ok_or("header truncated")?;
        }
        let body = &data[hdr_len..];
        let block = |off: u32, len: u32, what: &str| -> Result<&[u8], String> {
            let (off, len) = (off as usize, len as usize);
            off.checked_add(len)
                .and_then(|end| body.get(off..end))
                .ok_or_else(|| format!("{what} {off}+{len} is outside the section"))
        };
        let func = block(fields[0], fields[1], "func_info")?;
        let line = block(fields[2], fields[3], "line_info")?;
        let core = block(fields[4], fields[5], "core_relo")?;
        Ok(BtfExt {
            func_info: parse_block(func, 8, btf, "func_info", |r| {
                Some(FuncInfoRecord {
                    insn_off: r.u32()?,
                    type_id: r.u32()?,
                })
            })?,
            line_info: parse_block(line, 16, btf, "line_info", |r| {
                let insn_off = r.u32()?;
                let file_name_off = r.u32()?;
                let line_off = r.u32()?;
                let line_col = r.u32()?;
                Some(LineInfoRecord {
                    insn_off,
                    file_name_off,
                    line_off,
                    line: line_col >> 10,
                    column: line_col & 0x3ff,
                })
            })?,
            core_relos: parse_block(core, 16, btf, "core_relo", |r| {
                Some(CoreReloRecord {
                    insn_off: r.u32()?,
                    type_id: r.u32()?,
                    access_str_off: r.u32()?,
                    kind: r.u32()?,
                })
            })?,
        })
    }

    /// Number of line-info records.
    pub fn line_info_count(&self) -> usize {
        self.line_info.iter().map(|s| s.records.len()).sum()
    }

    /// Number of func-info records.
    pub fn func_info_count(&self) -> usize {
        self.func_info.iter().map(|s| s.records.len()).sum()
    }

    /// Number of CO-RE relocation records.
    pub fn core_relo_count(&self) -> usize {
        self.core_relos.iter().map(|s| s.records.len()).sum()
    }
}

/// Parse one info block: `u32 rec_size`, then `{sec_name_off, num_info, records…}` groups.
fn parse_block<T>(
    data: &[u8],
    min_rec: usize,
    btf: &Btf,
    what: &str,
    read: impl Fn(&mut Reader<'_>) -> Option<T>,
) -> Result<Vec<ExtSection<T>>, String> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = Reader::new(data);
    let rec_size = r.u32().ok_or_else(|| format!("{what}: truncated"))? as usize;
    if rec_size < min_rec || !rec_size.is_multiple_of(4) {
        return Err(format!("{what}: record size {rec_size}"));
    }
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let at = r.pos();
        let trunc = || format!("{what}: truncated group at byte {at}");
        let name_off = r.u32().ok_or_else(trunc)?;
        let num = r.u32().ok_or_else(trunc)? as usize;
        let bytes = num.checked_mul(rec_size).ok_or_else(trunc)?;
        if bytes > r.remaining() {
            return Err(trunc());
        }
        let section = btf
            .string_at(name_off)
            .ok_or_else(|| format!("{what}: bad section name offset {name_off}"))?
            .to_string();
        let start = r.pos();
        let mut records = Vec::with_capacity(num);
        for i in 0..num {
            // Records may be larger than we know (newer formats): read the known prefix.
            let off = start + i * rec_size;
            let rec = data.get(off..off + rec_size).ok_or_else(trunc)?;
            records.push(read(&mut Reader::new(rec)).ok_or_else(trunc)?);
        }
        r.skip(bytes).ok_or_else(trunc)?;
        out.push(ExtSection { section, records });
    }
    Ok(out)
}
