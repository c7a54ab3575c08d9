//! `waggle inspect`: a plain-data summary of an object, printable as a table
//! (`Display`) or, with the `serde` feature, serialisable as JSON.

use crate::Object;
use crate::btf::BtfSummary;
use crate::elf as consts;
use crate::elf::ElfFile;
use crate::maps::{self, MapKind};
use std::collections::BTreeMap;
use std::fmt;

/// What a section holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum SectionKind {
    /// Program code (a `SEC()` section).
    Program,
    /// `.text`: subprograms.
    Text,
    /// Map definitions (`maps` or `.maps`).
    Maps,
    /// Global data (`.data*`, `.rodata*`, `.bss*`).
    Data,
    /// `license`.
    License,
    /// `version`.
    Version,
    /// `.BTF`.
    Btf,
    /// `.BTF.ext`.
    BtfExt,
    /// Relocations (`SHT_REL`).
    Relocations,
    /// The symbol table.
    Symbols,
    /// A string table.
    Strings,
    /// DWARF debug information.
    Debug,
    /// Anything else.
    Other,
}

/// One ELF section.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SectionSummary {
    /// Section index.
    pub index: usize,
    /// Name.
    pub name: String,
    /// What it holds.
    pub kind: SectionKind,
    /// Size in bytes.
    pub size: u64,
}

/// One program.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ProgramSummary {
    /// Name.
    pub name: String,
    /// ELF section.
    pub section: String,
    /// Kind name (`xdp`, `sched_cls`, … `unspec`).
    pub kind: String,
    /// `bpf_prog_type` number.
    pub prog_type: u32,
    /// Attach target, if any.
    pub attach_target: Option<String>,
    /// Linked instruction slots.
    pub insns: usize,
    /// Names of the subprograms linked in.
    pub subprograms: Vec<String>,
    /// Relocations applied.
    pub relocations: usize,
    /// Line-info records.
    pub line_info: usize,
    /// CO-RE relocations applied.
    pub core_relocations: usize,
}

/// One map.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MapSummary {
    /// Name.
    pub name: String,
    /// `BPF_MAP_TYPE_*` number.
    pub map_type: u32,
    /// Type name (`hash`, `array`, …).
    pub type_name: String,
    /// Key size.
    pub key_size: u32,
    /// Value size.
    pub value_size: u32,
    /// Max entries.
    pub max_entries: u32,
    /// Flags.
    pub flags: u32,
    /// Where it was defined.
    pub kind: MapKind,
    /// Inner map type, for map-in-maps.
    pub inner_type: Option<String>,
    /// Number of initial slots (prog arrays, map-in-maps).
    pub initial_slots: usize,
}

/// Everything `waggle inspect` shows.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ObjectSummary {
    /// Object name.
    pub name: String,
    /// License string.
    pub license: Option<String>,
    /// Kernel version.
    pub kernel_version: Option<u32>,
    /// Sections.
    pub sections: Vec<SectionSummary>,
    /// Programs.
    pub programs: Vec<ProgramSummary>,
    /// Maps.
    pub maps: Vec<MapSummary>,
    /// ELF relocation entries in code and `.maps`.
    pub relocations: usize,
    /// BTF counts, if the object has BTF.
    pub btf: Option<BtfSummary>,
    /// `.BTF.ext` counts (func info, line info, CO-RE), if present.
    pub btf_ext: Option<(usize, usize, usize)>,
}

impl Object {
    /// A plain-data summary.
    pub fn summary(&self) -> ObjectSummary {
        ObjectSummary {
            name: self.name.clone(),
            license: self.license.clone(),
            kernel_version: self.kernel_version,
            sections: self.sections.clone(),
            programs: self
                .programs
                .iter()
                .map(|p| ProgramSummary {
                    name: p.name.clone(),
                    section: p.section.clone(),
                    kind: p.kind.name().to_string(),
                    prog_type: p.prog_type(),
                    attach_target: p.attach_target.clone(),
                    insns: p.insns.len(),
                    subprograms: p.functions.iter().skip(1).map(|f| f.name.clone()).collect(),
                    relocations: p.relocations.len(),
                    line_info: p.line_info.len(),
                    core_relocations: p.core_relocations.len(),
                })
                .collect(),
            maps: self
                .maps
                .iter()
                .map(|m| MapSummary {
                    name: m.name.clone(),
                    map_type: m.map_type,
                    type_name: m.type_name().to_string(),
                    key_size: m.key_size,
                    value_size: m.value_size,
                    max_entries: m.max_entries,
                    flags: m.flags,
                    kind: m.kind,
                    inner_type: m.inner.as_ref().map(|i| i.type_name().to_string()),
                    initial_slots: m.initial_slots.len(),
                })
                .collect(),
            relocations: self.relocation_count,
            btf: self.btf.as_ref().map(crate::Btf::summary),
            btf_ext: self.btf_ext.as_ref().map(|e| {
                (
                    e.func_info_count(),
                    e.line_info_count(),
                    e.core_relo_count(),
                )
            }),
        }
    }
}

impl fmt::Display for ObjectSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.name.is_empty() {
            writeln!(f, "object: {}", self.name)?;
        }
        if let Some(l) = &self.license {
            writeln!(f, "license: {l}")?;
        }
        if let Some(v) = self.kernel_version {
            writeln!(f, "kernel version: {v:#x}")?;
        }
        writeln!(f, "programs:")?;
        for p in &self.programs {
            write!(
                f,
                "  {:<24} {:<16} section {:<28} {:>6} insns",
                p.name, p.kind, p.section, p.insns
            )?;
            if !p.subprograms.is_empty() {
                write!(f, "  calls {}", p.subprograms.join(", "))?;
            }
            writeln!(f)?;
        }
        writeln!(f, "maps:")?;
        for m in &self.maps {
            write!(
                f,
                "  {:<24} {:<16} key {:>4}  value {:>6}  max_entries {:>8}  flags {:#x}",
                m.name, m.type_name, m.key_size, m.value_size, m.max_entries, m.flags
            )?;
            if let Some(t) = &m.inner_type {
                write!(f, "  inner {t}")?;
            }
            writeln!(f)?;
        }
        writeln!(f, "relocations: {}", self.relocations)?;
        if let Some(b) = &self.btf {
            writeln!(
                f,
                "BTF: {} types ({} funcs, {} structs/unions), {} bytes of strings",
                b.types, b.funcs, b.structs, b.strings_len
            )?;
        }
        if let Some((fi, li, core)) = self.btf_ext {
            writeln!(
                f,
                "BTF.ext: {fi} func info, {li} line info, {core} CO-RE relocations"
            )?;
        }
        writeln!(f, "sections:")?;
        for s in &self.sections {
            writeln!(
                f,
                "  [{:>2}] {:<32} {:<12} {:>8} bytes",
                s.index,
                s.name,
                format!("{:?}", s.kind),
                s.size
            )?;
        }
        Ok(())
    }
}

/// Classify every section.
pub(crate) fn sections(
    elf: &ElfFile<'_>,
    code_of: &BTreeMap<usize, usize>,
    map_sections: &[usize],
) -> Vec<SectionSummary> {
    elf.sections
        .iter()
        .skip(1)
        .map(|s| {
            let kind = if code_of.contains_key(&s.index) {
                if s.name == ".text" {
                    SectionKind::Text
                } else {
                    SectionKind::Program
                }
            } else if map_sections.contains(&s.index) {
                SectionKind::Maps
            } else if maps::data_section_kind(s).is_some() {
                SectionKind::Data
            } else {
                match (s.name.as_str(), s.sh_type) {
                    ("license", _) => SectionKind::License,
                    ("version", _) => SectionKind::Version,
                    (".BTF", _) => SectionKind::Btf,
                    (".BTF.ext", _) => SectionKind::BtfExt,
                    (_, consts::SHT_REL | consts::SHT_RELA) => SectionKind::Relocations,
                    (_, consts::SHT_SYMTAB) => SectionKind::Symbols,
                    (_, consts::SHT_STRTAB) => SectionKind::Strings,
                    (n, _) if n.starts_with(".debug") => SectionKind::Debug,
                    _ => SectionKind::Other,
                }
            };
            SectionSummary {
                index: s.index,
                name: s.name.clone(),
                kind,
                size: s.size,
            }
        })
        .collect()
}
