//! The ELF layer: sections, symbols and `SHT_REL` relocations of a BPF relocatable object,
//! read through the `object` crate's bounds-checked low-level API.
//!
//! Section contents are borrowed from the input; names are copied (lossily decoded) because
//! they end up in owned output types anyway.

use crate::error::ObjectError;
use object::elf;
use object::read::elf::{FileHeader, Rel as _, SectionHeader as _, Sym as _};
use object::{LittleEndian as LE, SectionIndex};

/// `EM_BPF`.
pub(crate) const EM_BPF: u16 = elf::EM_BPF.0;

// The ELF constants used here as plain integers (the `object` crate wraps them in newtypes),
// so that they can be compared and matched on directly.
pub(crate) const SHT_PROGBITS: u32 = elf::SHT_PROGBITS.0;
pub(crate) const SHT_SYMTAB: u32 = elf::SHT_SYMTAB.0;
pub(crate) const SHT_STRTAB: u32 = elf::SHT_STRTAB.0;
pub(crate) const SHT_RELA: u32 = elf::SHT_RELA.0;
pub(crate) const SHT_NOBITS: u32 = elf::SHT_NOBITS.0;
pub(crate) const SHT_REL: u32 = elf::SHT_REL.0;
const SHF_EXECINSTR: u64 = elf::SHF_EXECINSTR.0;
pub(crate) const STT_NOTYPE: u8 = elf::STT_NOTYPE.0;
pub(crate) const STT_OBJECT: u8 = elf::STT_OBJECT.0;
pub(crate) const STT_FUNC: u8 = elf::STT_FUNC.0;
pub(crate) const STT_SECTION: u8 = elf::STT_SECTION.0;
pub(crate) const STB_LOCAL: u8 = elf::STB_LOCAL.0;
const STB_GLOBAL: u8 = elf::STB_GLOBAL.0;
const STB_WEAK: u8 = elf::STB_WEAK.0;
pub(crate) const STV_INTERNAL: u8 = elf::STV_INTERNAL.0;
pub(crate) const STV_HIDDEN: u8 = elf::STV_HIDDEN.0;
/// First reserved symbol section index (`SHN_LORESERVE`).
pub(crate) const SHN_LORESERVE: u32 = 0xff00;

/// One ELF section.
#[derive(Debug)]
pub(crate) struct Section<'a> {
    /// Its index in the section header table.
    pub index: usize,
    /// Its name (lossily decoded).
    pub name: String,
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_size` (for `SHT_NOBITS`, the size of the zero-filled memory it stands for).
    pub size: u64,
    /// Its bytes in the file (empty for `SHT_NOBITS`).
    pub data: &'a [u8],
}

impl Section<'_> {
    /// Whether it holds instructions (libbpf: `SHT_PROGBITS` with `SHF_EXECINSTR`).
    pub fn is_exec(&self) -> bool {
        self.sh_type == SHT_PROGBITS && self.flags & SHF_EXECINSTR != 0
    }
}

/// One symbol-table entry.
#[derive(Debug, Clone)]
pub(crate) struct Symbol {
    /// Its name; for unnamed `STT_SECTION` symbols, the section's name (as libbpf reports).
    pub name: String,
    /// `st_value`: the offset in its section for relocatable objects.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_shndx` (0 = undefined, >= 0xff00 = special).
    pub shndx: u32,
    /// `STT_*`.
    pub kind: u8,
    /// `STB_*`.
    pub bind: u8,
    /// `STV_*`.
    pub visibility: u8,
}

impl Symbol {
    /// Whether it is an undefined global (an `extern` the loader must resolve).
    pub fn is_extern(&self) -> bool {
        self.shndx == 0 && (self.bind == STB_GLOBAL || self.bind == STB_WEAK)
    }
}

/// One relocation entry of an `SHT_REL` section.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rel {
    /// Byte offset in the target section.
    pub offset: u64,
    /// Symbol index.
    pub sym: u32,
}

/// A relocation section and the section it applies to.
#[derive(Debug)]
pub(crate) struct RelSection {
    /// Index of the section it relocates (`sh_info`).
    pub target: usize,
    /// Its entries.
    pub rels: Vec<Rel>,
}

/// The parsed ELF file.
#[derive(Debug)]
pub(crate) struct ElfFile<'a> {
    /// All sections by index (index 0 is the null section).
    pub sections: Vec<Section<'a>>,
    /// All symbols by index (index 0 is the null symbol).
    pub symbols: Vec<Symbol>,
    /// All `SHT_REL` sections.
    pub rel_sections: Vec<RelSection>,
}

impl<'a> ElfFile<'a> {
    /// Parse and check the headers: ELF64, little-endian, `ET_REL`, `EM_BPF`.
    pub fn parse(data: &'a [u8]) -> Result<Self, ObjectError> {
        let ident = data
            .get(..16)
            .ok_or_else(|| ObjectError::Elf(format!("file is {} bytes, too short", data.len())))?;
        if ident.get(..4) != Some(&elf::ELFMAG[..]) {
            return Err(ObjectError::Elf("not an ELF file (bad magic)".into()));
        }
        if ident.get(5) == Some(&elf::ELFDATA2MSB.0) {
            return Err(ObjectError::BigEndian);
        }
        if ident.get(4) != Some(&elf::ELFCLASS64.0) {
            return Err(ObjectError::NotBpf(
                "32-bit ELF; BPF objects are ELF64".into(),
            ));
        }
        let header = elf::FileHeader64::<LE>::parse(data)?;
        let endian = header.endian()?;
        let machine = header.e_machine(endian).0;
        if machine != EM_BPF {
            return Err(ObjectError::NotBpf(format!(
                "e_machine is {machine}, expected EM_BPF ({EM_BPF})"
            )));
        }
        let e_type = header.e_type(endian).0;
        if e_type != elf::ET_REL.0 {
            return Err(ObjectError::NotBpf(format!(
                "e_type is {e_type}, expected a relocatable object (ET_REL)"
            )));
        }
        let table = header.sections(endian, data)?;

        let mut sections = Vec::with_capacity(table.len());
        for (i, sh) in table.iter().enumerate() {
            let name = table
                .section_name(endian, sh)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .map_err(|_| ObjectError::section(format!("#{i}"), "bad name offset"))?;
            let sec_data = sh.data(endian, data).map_err(|_| {
                ObjectError::section(section_label(&name, i), "offset or size outside the file")
            })?;
            sections.push(Section {
                index: i,
                name,
                sh_type: sh.sh_type(endian).0,
                flags: sh.sh_flags(endian).0,
                size: sh.sh_size(endian),
                data: sec_data,
            });
        }

        let mut symbols = Vec::new();
        let mut symtab_index = None;
        for (i, sh) in table.iter().enumerate() {
            if sh.sh_type(endian) != elf::SHT_SYMTAB {
                continue;
            }
            if symtab_index.is_some() {
                return Err(ObjectError::Elf("more than one symbol table".into()));
            }
            symtab_index = Some(i);
            let symtab = sh
                .symbols(endian, data, &table, SectionIndex(i))?
                .ok_or_else(|| ObjectError::Elf("bad symbol table".into()))?;
            symbols.reserve(symtab.len());
            for (j, sym) in symtab.iter().enumerate() {
                let shndx = u32::from(sym.st_shndx(endian).0);
                let raw_name = symtab
                    .symbol_name(endian, sym)
                    .map_err(|_| ObjectError::Elf(format!("symbol {j}: bad name offset")))?;
                let mut name = String::from_utf8_lossy(raw_name).into_owned();
                if name.is_empty()
                    && sym.st_type() == elf::STT_SECTION
                    && let Some(s) = sections.get(shndx as usize)
                {
                    name.clone_from(&s.name);
                }
                symbols.push(Symbol {
                    name,
                    value: sym.st_value(endian),
                    size: sym.st_size(endian),
                    shndx,
                    kind: sym.st_type().0,
                    bind: sym.st_bind().0,
                    visibility: sym.st_visibility().0,
                });
            }
        }

        let mut rel_sections = Vec::new();
        for (i, sh) in table.iter().enumerate() {
            let Some((rels, link)) = sh.rel(endian, data).map_err(|_| {
                ObjectError::section(
                    section_label(&sections[i].name, i),
                    "relocation entries outside the file",
                )
            })?
            else {
                continue;
            };
            let label = || section_label(&sections[i].name, i);
            if sh.sh_entsize(endian) != 16 {
                return Err(ObjectError::section(
                    label(),
                    format!(
                        "relocation entry size {} (expected 16)",
                        sh.sh_entsize(endian)
                    ),
                ));
            }
            if Some(link.0) != symtab_index {
                return Err(ObjectError::section(
                    label(),
                    "relocations do not use the symbol table",
                ));
            }
            let target = sh.sh_info(endian) as usize;
            if target == 0 || target >= sections.len() {
                return Err(ObjectError::section(
                    label(),
                    format!("relocates section {target}, which does not exist"),
                ));
            }
            let rels = rels
                .iter()
                .map(|r| Rel {
                    offset: r.r_offset(endian),
                    sym: r.r_sym(endian),
                })
                .collect();
            rel_sections.push(RelSection { target, rels });
        }

        Ok(ElfFile {
            sections,
            symbols,
            rel_sections,
        })
    }

    /// The section with index `i`.
    pub fn section(&self, i: usize) -> Option<&Section<'a>> {
        self.sections.get(i)
    }

    /// The first section named `name`.
    pub fn section_by_name(&self, name: &str) -> Option<&Section<'a>> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The relocations that apply to section `target`, if any.
    pub fn rels_for(&self, target: usize) -> &[Rel] {
        self.rel_sections
            .iter()
            .find(|r| r.target == target)
            .map_or(&[], |r| &r.rels)
    }

    /// The symbol with index `i`.
    pub fn symbol(&self, i: u32) -> Option<&Symbol> {
        self.symbols.get(i as usize)
    }

    /// The name of section `i` for messages.
    pub fn section_name(&self, i: usize) -> String {
        match self.sections.get(i) {
            Some(s) => section_label(&s.name, i),
            None => format!("#{i}"),
        }
    }
}

/// A section's name for messages, or `#index` when it has none.
pub(crate) fn section_label(name: &str, index: usize) -> String {
    if name.is_empty() {
        format!("#{index}")
    } else {
        name.to_string()
    }
}
