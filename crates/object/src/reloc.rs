//! Executable sections: their functions, CO-RE patching, decoding, and the `.rel<section>`
//! relocations that turn symbol references into map indexes, map value offsets and call
//! targets (libbpf's `bpf_program__record_reloc` and `bpf_object__relocate_data`).

use crate::btf::core::{CoreApplier, CoreRelocation};
use crate::btf::ext::BtfExt;
use crate::elf::{ElfFile, Section, Symbol};
use crate::elf::{SHN_LORESERVE, STB_LOCAL, STT_FUNC, STT_NOTYPE, STT_SECTION};
use crate::error::ObjectError;
use crate::maps::{MapKind, MapSpec};
use std::collections::BTreeMap;
use waggle_isa::{CallTarget, Insn, LddwKind, RawInsn};

/// What a relocated instruction refers to.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum RelocationKind {
    /// `lddw` of a map: now `Lddw { kind: MapIdx, imm: map }`.
    Map {
        /// Index into [`crate::Object::maps`].
        map: usize,
    },
    /// `lddw` of global data: now `Lddw { kind: MapIdxValue, imm: map | offset << 32 }`.
    MapValue {
        /// Index into [`crate::Object::maps`].
        map: usize,
        /// Byte offset in the map's value.
        offset: u32,
    },
    /// A BPF-to-BPF call (`Call(Local)`), now pc-relative within the linked program.
    Call {
        /// The called function.
        function: String,
    },
    /// A function address load (`Lddw { kind: Func }`, e.g. a `bpf_loop` callback).
    FuncAddr {
        /// The function.
        function: String,
    },
    /// A call to an `extern` (kfunc) function, left as `Call(Kfunc { btf_id: 0, .. })` for
    /// the loader to resolve by the relocation's symbol name.
    ExternCall,
    /// An `lddw` of an `extern` variable (`__kconfig`, `__ksym`), left unresolved.
    ExternVar,
}

/// One relocation of a program, at a slot of its linked instructions.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Relocation {
    /// The slot.
    pub slot: usize,
    /// The relocation's symbol name (section name for section symbols).
    pub symbol: String,
    /// What it refers to.
    pub kind: RelocationKind,
}

/// A function in an executable section.
#[derive(Clone, Debug)]
pub(crate) struct Func {
    pub name: String,
    /// Index into the list of code sections.
    pub code: usize,
    /// First slot in its section.
    pub start: usize,
    /// Number of slots.
    pub len: usize,
    /// Whether it has a non-local binding.
    pub global: bool,
}

/// A call or address-load target before linking: (code section, slot).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CodeRef {
    pub code: usize,
    pub slot: usize,
}

/// A relocation in section terms.
#[derive(Clone, Debug)]
pub(crate) struct SecReloc {
    pub symbol: String,
    pub kind: RelocationKind,
    /// For calls and function loads: the target.
    pub target: Option<CodeRef>,
}

/// An executable section, CO-RE-patched, decoded and relocated.
#[derive(Debug)]
pub(crate) struct CodeSection {
    pub name: String,
    pub insns: Vec<Insn>,
    pub relocs: BTreeMap<usize, SecReloc>,
    pub core: Vec<CoreRelocation>,
    /// (slot, type id, name).
    pub func_info: Vec<(usize, u32, String)>,
    /// (slot, file, line, column, source).
    pub line_info: Vec<crate::btf::ext::LineInfo>,
}

/// Functions of an executable section, sorted by start; the whole section as one function
/// when it has no function symbols (very old objects).
pub(crate) fn section_functions(
    elf: &ElfFile<'_>,
    sec: &Section<'_>,
    code: usize,
) -> Result<Vec<Func>, ObjectError> {
    let slots = sec.data.len() / 8;
    let mut syms: Vec<&Symbol> = elf
        .symbols
        .iter()
        .filter(|s| s.shndx as usize == sec.index && s.kind == STT_FUNC)
        .collect();
    syms.sort_by_key(|s| s.value);
    syms.dedup_by_key(|s| s.value);
    if syms.is_empty() {
        let name = elf
            .symbols
            .iter()
            .find(|s| {
                s.shndx as usize == sec.index
                    && s.value == 0
                    && s.kind == STT_NOTYPE
                    && s.bind != STB_LOCAL
            })
            .map_or_else(|| sec.name.clone(), |s| s.name.clone());
        return Ok(vec![Func {
            name,
            code,
            start: 0,
            len: slots,
            global: true,
        }]);
    }
    let mut funcs = Vec::with_capacity(syms.len());
    for (i, s) in syms.iter().enumerate() {
        let bad =
            |why: &str| ObjectError::section(&sec.name, format!("function '{}': {why}", s.name));
        if s.value % 8 != 0 || s.size % 8 != 0 {
            return Err(bad("not aligned to instructions"));
        }
        let start = (s.value / 8) as usize;
        let mut end = (s
            .value
            .checked_add(s.size)
            .ok_or_else(|| bad("size overflows"))?
            / 8) as usize;
        if s.size == 0 {
            // Sizeless symbols extend to the next function (old toolchains).
            end = syms.get(i + 1).map_or(slots, |n| (n.value / 8) as usize);
        }
        if end > slots || start >= end {
            return Err(bad("outside its section"));
        }
        funcs.push(Func {
            name: s.name.clone(),
            code,
            start,
            len: end - start,
            global: s.bind != STB_LOCAL,
        });
    }
    Ok(funcs)
}

/// Context shared by all sections' relocation processing.
pub(crate) struct RelocCtx<'e, 'a> {
    pub elf: &'e ElfFile<'a>,
    pub maps: &'e [MapSpec],
    /// ELF section index → map index, for data sections.
    pub data_maps: &'e BTreeMap<usize, usize>,
    /// ELF section indexes of legacy `maps` and `.maps`.
    pub map_sections: &'e [usize],
    /// ELF section index → code section index.
    pub code_of: &'e BTreeMap<usize, usize>,
}

/// Read, patch (CO-RE), decode and relocate one executable section.
pub(crate) fn build_code_section(
    ctx: &RelocCtx<'_, '_>,
    sec: &Section<'_>,
    ext: Option<(&BtfExt, &crate::btf::Btf)>,
    core: Option<&mut CoreApplier<'_>>,
) -> Result<CodeSection, ObjectError> {
    if !sec.data.len().is_multiple_of(8) {
        return Err(ObjectError::section(
            &sec.name,
            format!("size {} is not a multiple of 8", sec.data.len()),
        ));
    }
    let mut raw: Vec<RawInsn> = sec
        .data
        .chunks_exact(8)
        .map(|c| RawInsn::from_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();

    let mut core_out = Vec::new();
    let mut func_info = Vec::new();
    let mut line_info = Vec::new();
    if let Some((ext, btf)) = ext {
        if let Some(applier) = core {
            for group in ext.core_relos.iter().filter(|g| g.section == sec.name) {
                for (index, rec) in group.records.iter().enumerate() {
                    let r = applier
                        .apply(&mut raw, rec)
                        .map_err(|reason| ObjectError::Core {
                            section: sec.name.clone(),
                            slot: (rec.insn_off / 8) as usize,
                            index,
                            reason,
                        })?;
                    core_out.push(r);
                }
            }
        }
        for group in ext.func_info.iter().filter(|g| g.section == sec.name) {
            for rec in &group.records {
                if rec.insn_off % 8 == 0 && ((rec.insn_off / 8) as usize) < raw.len() {
                    let name = btf.name(rec.type_id).to_string();
                    func_info.push(((rec.insn_off / 8) as usize, rec.type_id, name));
                }
            }
        }
        for group in ext.line_info.iter().filter(|g| g.section == sec.name) {
            for rec in &group.records {
                if rec.insn_off % 8 == 0 && ((rec.insn_off / 8) as usize) < raw.len() {
                    line_info.push(crate::btf::ext::LineInfo {
                        slot: (rec.insn_off / 8) as usize,
                        file: btf.string_lossy(rec.file_name_off),
                        line: rec.line,
                        column: rec.column,
                        source: btf.string_lossy(rec.line_off),
                    });
                }
            }
        }
    }

    let mut insns = waggle_isa::decode_raw(&raw).map_err(|e| ObjectError::Decode {
        section: sec.name.clone(),
        slot: e.pc,
        error: e.error,
    })?;

    let mut relocs = BTreeMap::new();
    for rel in ctx.elf.rels_for(sec.index) {
        let slot = (rel.offset / 8) as usize;
        let sym = ctx.elf.symbol(rel.sym);
        let symbol = sym.map_or_else(|| format!("#{}", rel.sym), |s| s.name.clone());
        let fail = |reason: String| ObjectError::Relocation {
            section: sec.name.clone(),
            slot,
            symbol: symbol.clone(),
            reason,
        };
        if rel.offset % 8 != 0 || slot >= insns.len() {
            return Err(fail(format!("invalid offset {}", rel.offset)));
        }
        let sym = sym.ok_or_else(|| fail(format!("symbol index {} out of range", rel.sym)))?;
        let r = relocate(ctx, &mut insns[slot], sym).map_err(fail)?;
        relocs.insert(
            slot,
            SecReloc {
                symbol: symbol.clone(),
                kind: r.0,
                target: r.1,
            },
        );
    }

    Ok(CodeSection {
        name: sec.name.clone(),
        insns,
        relocs,
        core: core_out,
        func_info,
        line_info,
    })
}

/// Rewrite one instruction for its relocation symbol.
fn relocate(
    ctx: &RelocCtx<'_, '_>,
    insn: &mut Insn,
    sym: &Symbol,
) -> Result<(RelocationKind, Option<CodeRef>), String> {
    let shndx = sym.shndx as usize;
    match *insn {
        Insn::Call(target) => {
            if sym.is_extern() {
                *insn = Insn::Call(CallTarget::Kfunc {
                    btf_id: 0,
                    module: 0,
                });
                return Ok((RelocationKind::ExternCall, None));
            }
            let CallTarget::Local(imm) = target else {
                return Err(
                    "call relocation on an instruction that is not a BPF-to-BPF call".into(),
                );
            };
            let code = *ctx.code_of.get(&shndx).ok_or_else(|| {
                format!(
                    "call into section {}, which has no code",
                    ctx.elf.section_name(shndx)
                )
            })?;
            if !sym.value.is_multiple_of(8) {
                return Err(format!("call target offset {} is not aligned", sym.value));
            }
            let slot = (sym.value / 8) as i64 + i64::from(imm) + 1;
            let slot = usize::try_from(slot)
                .map_err(|_| format!("call target slot {slot} is negative"))?;
            Ok((
                RelocationKind::Call {
                    function: String::new(),
                },
                Some(CodeRef { code, slot }),
            ))
        }
        Insn::Lddw {
            dst,
            kind: LddwKind::Imm,
            imm,
        } => {
            if sym.is_extern() {
                return Ok((RelocationKind::ExternVar, None));
            }
            if shndx == 0 || shndx >= SHN_LORESERVE as usize {
                return Err(format!(
                    "symbol in special section {shndx:#x}; forgot to initialize a global variable?"
                ));
            }
            let low = imm as u32 as i32;
            if let Some(&code) = ctx.code_of.get(&shndx) {
                if sym.kind != STT_FUNC && sym.kind != STT_SECTION {
                    return Err("load of a code address that is not a function".into());
                }
                let off = (sym.value as i64).wrapping_add(i64::from(low));
                if off % 8 != 0 || off < 0 {
                    return Err(format!(
                        "function address offset {off} is not a valid instruction"
                    ));
                }
                *insn = Insn::Lddw {
                    dst,
                    kind: LddwKind::Func,
                    imm,
                };
                let slot = (off / 8) as usize;
                return Ok((
                    RelocationKind::FuncAddr {
                        function: String::new(),
                    },
                    Some(CodeRef { code, slot }),
                ));
            }
            if ctx.map_sections.contains(&shndx) {
                let map = ctx
                    .maps
                    .iter()
                    .position(|m| {
                        matches!(m.kind, MapKind::Legacy | MapKind::Btf)
                            && m.section_offset == sym.value
                            && ctx.elf.section(shndx).is_some_and(|s| s.name == m.section)
                    })
                    .ok_or_else(|| {
                        format!(
                            "no map at offset {} of {}",
                            sym.value,
                            ctx.elf.section_name(shndx)
                        )
                    })?;
                *insn = Insn::Lddw {
                    dst,
                    kind: LddwKind::MapIdx,
                    imm: map as u64,
                };
                return Ok((RelocationKind::Map { map }, None));
            }
            if let Some(&map) = ctx.data_maps.get(&shndx) {
                // libbpf: insn[1].imm = insn[0].imm + sym->st_value.
                let offset = i64::from(low).wrapping_add(sym.value as i64) as u32;
                *insn = Insn::Lddw {
                    dst,
                    kind: LddwKind::MapIdxValue,
                    imm: map as u64 | (u64::from(offset) << 32),
                };
                return Ok((RelocationKind::MapValue { map, offset }, None));
            }
            Err(format!(
                "bad data relocation against section {}",
                ctx.elf.section_name(shndx)
            ))
        }
        Insn::Lddw { kind, .. } => Err(format!("lddw already has kind {kind:?}")),
        _ => Err("relocation on an instruction that is neither lddw nor call".into()),
    }
}
