//! BPF ELF objects as `clang -target bpf` writes them, read the way libbpf reads them.
//!
//! [`Object::parse`] turns the bytes of a relocatable EM_BPF little-endian ELF file into:
//! - [`Program`]s: one per function in each executable section, its kind taken from the
//!   section name ([`ProgramKind`], libbpf's `SEC()` conventions), its instructions linked with
//!   every subprogram it calls (appended once each, as libbpf does) and relocated: map
//!   references become `Lddw { kind: MapIdx, imm: map index }`, global data references
//!   `Lddw { kind: MapIdxValue, imm: map index | offset << 32 }`;
//! - [`MapSpec`]s: legacy `maps` definitions, BTF-defined `.maps`, and each global data section
//!   (`.data*`, `.rodata*`, `.bss*`) as a one-element array;
//! - [`Btf`] and `.BTF.ext` information: function and line info per linked program
//!   ([`LineInfo`] quotes the source line), and CO-RE relocations applied against a target BTF
//!   (the object's own BTF unless [`ParseOptions::target_btf`] names another).
//!
//! Malformed input gives an [`ObjectError`]; parsing never panics (it is fuzzed).
//!
//! Differences from libbpf, all on the lenient side: a section name nothing matches gives
//! [`ProgramKind::Unspecified`]; static functions in program sections become programs; an
//! object whose only code is `.text` exposes its global functions as programs; unknown
//! fields of BTF map definitions are ignored; `extern`s (kfuncs, `__kconfig`, `__ksym`) are
//! left for the loader (see [`RelocationKind::ExternCall`]).

pub mod btf;
mod elf;
mod error;
mod link;
pub mod maps;
mod reloc;
pub mod section;
mod summary;

pub use btf::core::{CoreOutcome, CoreReloKind, CoreRelocation};
pub use btf::ext::{BtfExt, FuncInfo, LineInfo};
pub use btf::{Btf, BtfError, BtfKind, BtfSummary};
pub use error::ObjectError;
pub use link::LinkedFunction;
pub use maps::{ElfMapFields, MapKind, MapSpec, SlotTarget, map_type_name};
pub use reloc::{Relocation, RelocationKind};
pub use section::{ProgramKind, ProgramSection, classify};
pub use summary::{MapSummary, ObjectSummary, ProgramSummary, SectionKind, SectionSummary};

use std::collections::BTreeMap;
use waggle_isa::Insn;

/// Total slots all linked programs of one object may hold (linking copies subprograms into
/// every program that calls them, so hostile input could otherwise multiply its size).
const MAX_TOTAL_SLOTS: usize = 16 * 1024 * 1024;

/// A program ready for PROG_LOAD (maps still by index; see [`RelocationKind`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Program {
    /// The function's name.
    pub name: String,
    /// The ELF section it came from.
    pub section: String,
    /// Its kind, from the section name.
    pub kind: ProgramKind,
    /// The part of the section name after `type/` naming what to attach to, if any.
    pub attach_target: Option<String>,
    /// The kernel's `bpf_attach_type` the program expects, if its kind has one.
    pub expected_attach_type: Option<u32>,
    /// Sleepable (`.s` sections, `syscall`).
    pub sleepable: bool,
    /// XDP multi-buffer (`xdp.frags`).
    pub xdp_frags: bool,
    /// The linked, relocated instruction slots.
    pub insns: Vec<Insn>,
    /// Its own function first, then each subprogram appended.
    pub functions: Vec<LinkedFunction>,
    /// Slot offset of its function within its ELF section.
    pub section_offset: usize,
    /// Relocations applied, by linked slot.
    pub relocations: Vec<Relocation>,
    /// BTF function info, by linked slot.
    pub func_info: Vec<FuncInfo>,
    /// BTF line info, by linked slot.
    pub line_info: Vec<LineInfo>,
    /// CO-RE relocations applied, by linked slot.
    pub core_relocations: Vec<CoreRelocation>,
}

impl Program {
    /// The kernel's `bpf_prog_type` number.
    pub fn prog_type(&self) -> u32 {
        self.kind.prog_type()
    }

    /// The source line the instruction at `slot` comes from (the last line-info record at or
    /// before it).
    pub fn line_at(&self, slot: usize) -> Option<&LineInfo> {
        let i = self.line_info.partition_point(|l| l.slot <= slot);
        self.line_info.get(i.checked_sub(1)?)
    }

    /// The function the instruction at `slot` belongs to.
    pub fn function_at(&self, slot: usize) -> Option<&LinkedFunction> {
        self.functions
            .iter()
            .find(|f| f.start <= slot && slot < f.start + f.len)
    }
}

/// Options of [`Object::parse_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ParseOptions<'a> {
    /// The object's name (libbpf: the file name up to its first `.`), used to name global
    /// data maps in the kernel. Empty: those maps are named after their sections.
    pub name: &'a str,
    /// BTF to resolve CO-RE relocations against (e.g. `/sys/kernel/btf/vmlinux`); `None`:
    /// the object's own BTF, which keeps field offsets as compiled.
    pub target_btf: Option<&'a Btf>,
}

/// A parsed BPF object.
#[derive(Clone, Debug)]
pub struct Object {
    /// Its name (see [`ParseOptions::name`]).
    pub name: String,
    /// The `license` section's string.
    pub license: Option<String>,
    /// The `version` section's kernel version.
    pub kernel_version: Option<u32>,
    /// Entry-point programs, by section index then offset (libbpf's order).
    pub programs: Vec<Program>,
    /// Maps: legacy, then BTF-defined, then global data (libbpf's order).
    pub maps: Vec<MapSpec>,
    /// The `.BTF` section.
    pub btf: Option<Btf>,
    /// The `.BTF.ext` section.
    pub btf_ext: Option<BtfExt>,
    /// Every section, for summaries.
    pub sections: Vec<SectionSummary>,
    /// Number of ELF relocation entries in program and `.maps` sections.
    pub relocation_count: usize,
}

impl Object {
    /// Parse an object with default options.
    pub fn parse(data: &[u8]) -> Result<Object, ObjectError> {
        Object::parse_with(data, &ParseOptions::default())
    }

    /// Read and parse a file; the object is named after the file, as libbpf names it.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Object, ObjectError> {
        Object::open_with_target(path, None)
    }

    /// Read and parse a file, resolving CO-RE relocations against `target_btf` if given.
    pub fn open_with_target(
        path: impl AsRef<std::path::Path>,
        target_btf: Option<&Btf>,
    ) -> Result<Object, ObjectError> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|source| ObjectError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = file.split('.').next().unwrap_or("");
        Object::parse_with(&data, &ParseOptions { name, target_btf })
    }

    /// Parse an object.
    pub fn parse_with(data: &[u8], opts: &ParseOptions<'_>) -> Result<Object, ObjectError> {
        parse(data, opts)
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// The map named `name`, with its index.
    pub fn map(&self, name: &str) -> Option<(usize, &MapSpec)> {
        self.maps.iter().enumerate().find(|(_, m)| m.name == name)
    }
}

fn parse(data: &[u8], opts: &ParseOptions<'_>) -> Result<Object, ObjectError> {
    let elf = elf::ElfFile::parse(data)?;

    let license = elf.section_by_name("license").map(|s| {
        let end = s.data.iter().position(|&b| b == 0).unwrap_or(s.data.len());
        String::from_utf8_lossy(&s.data[..end]).into_owned()
    });
    let kernel_version = match elf.section_by_name("version") {
        Some(s) => Some(s.data.try_into().map(u32::from_le_bytes).map_err(|_| {
            ObjectError::section("version", format!("{} bytes, expected 4", s.data.len()))
        })?),
        None => None,
    };

    let mut btf = match elf.section_by_name(".BTF") {
        Some(s) => Some(Btf::parse(s.data)?),
        None => None,
    };
    if let Some(b) = &mut btf {
        // Global variables by name (the first definition wins), for DATASEC fix-ups.
        let mut globals: std::collections::HashMap<&str, (u64, bool)> = Default::default();
        for s in &elf.symbols {
            if s.kind == elf::STT_OBJECT && s.bind != elf::STB_LOCAL {
                let hidden = matches!(s.visibility, elf::STV_HIDDEN | elf::STV_INTERNAL);
                globals.entry(s.name.as_str()).or_insert((s.value, hidden));
            }
        }
        b.fixup_datasecs(
            |name| elf.section_by_name(name).map(|s| s.size),
            |name| globals.get(name).copied(),
        );
    }
    let btf_ext = match (elf.section_by_name(".BTF.ext"), &btf) {
        (Some(s), Some(b)) => Some(BtfExt::parse(s.data, b).map_err(ObjectError::BtfExt)?),
        _ => None,
    };

    // Maps, in libbpf's order.
    let mut maps: Vec<MapSpec> = Vec::new();
    let mut map_sections = Vec::new();
    if let Some(sec) = elf.section_by_name("maps") {
        map_sections.push(sec.index);
        maps.extend(maps::legacy_maps(&elf, sec)?);
    }
    let mut btf_vars = Vec::new();
    let btf_maps_sec = elf.section_by_name(".maps");
    if let Some(sec) = btf_maps_sec {
        map_sections.push(sec.index);
        let b = btf
            .as_ref()
            .ok_or_else(|| ObjectError::section(".maps", "BTF-defined maps need a .BTF section"))?;
        for (m, var) in maps::btf_maps(b, sec)? {
            btf_vars.push((maps.len(), var));
            maps.push(m);
        }
    }
    let mut data_maps = BTreeMap::new();
    for sec in &elf.sections {
        if let Some(kind) = maps::data_section_kind(sec)
            && sec.size > 0
        {
            data_maps.insert(sec.index, maps.len());
            maps.push(maps::data_map(sec, kind, btf.as_ref(), opts.name)?);
        }
    }

    // Code sections and their functions.
    let exec: Vec<&elf::Section<'_>> = elf
        .sections
        .iter()
        .filter(|s| s.is_exec() && !s.data.is_empty())
        .collect();
    let code_of: BTreeMap<usize, usize> =
        exec.iter().enumerate().map(|(i, s)| (s.index, i)).collect();
    let mut funcs = Vec::new();
    for (i, sec) in exec.iter().enumerate() {
        funcs.extend(reloc::section_functions(&elf, sec, i)?);
    }
    let ctx = reloc::RelocCtx {
        elf: &elf,
        maps: &maps,
        data_maps: &data_maps,
        map_sections: &map_sections,
        code_of: &code_of,
    };
    let mut applier = match (&btf, opts.target_btf) {
        (Some(local), Some(target)) => Some(btf::core::CoreApplier::new(local, target)),
        (Some(local), None) => Some(btf::core::CoreApplier::new(local, local)),
        _ => None,
    };
    let ext = btf_ext.as_ref().zip(btf.as_ref());
    let mut code = Vec::with_capacity(exec.len());
    for sec in &exec {
        code.push(reloc::build_code_section(&ctx, sec, ext, applier.as_mut())?);
    }

    // Entry points: functions outside `.text`; or `.text`'s global functions when nothing
    // else has code.
    let is_text = |f: &reloc::Func| code[f.code].name == ".text";
    let mut entries: Vec<usize> = (0..funcs.len()).filter(|&i| !is_text(&funcs[i])).collect();
    if entries.is_empty() {
        entries = (0..funcs.len()).filter(|&i| funcs[i].global).collect();
    }
    let linker = link::Code {
        sections: &code,
        funcs: &funcs,
    };
    let mut programs = Vec::with_capacity(entries.len());
    let mut total = 0usize;
    for &f in &entries {
        let linked = linker.link(f)?;
        total += linked.insns.len();
        if total > MAX_TOTAL_SLOTS {
            return Err(ObjectError::TooLarge(format!(
                "linked programs exceed {MAX_TOTAL_SLOTS} instructions in total"
            )));
        }
        let func = &funcs[f];
        let sec_name = code[func.code].name.clone();
        let class = section::classify(&sec_name);
        programs.push(Program {
            name: func.name.clone(),
            section: sec_name,
            kind: class.kind,
            attach_target: class.attach_target,
            expected_attach_type: class.expected_attach_type,
            sleepable: class.sleepable,
            xdp_frags: class.xdp_frags,
            insns: linked.insns,
            functions: linked.functions,
            section_offset: func.start,
            relocations: linked.relocations,
            func_info: linked.func_info,
            line_info: linked.line_info,
            core_relocations: linked.core,
        });
    }

    if let Some(sec) = btf_maps_sec {
        let find_program = |name: &str, shndx: u32, value: u64| {
            programs.iter().position(|p| {
                p.name == name
                    && elf
                        .section(shndx as usize)
                        .is_some_and(|s| s.name == p.section)
                    && (p.section_offset as u64).checked_mul(8) == Some(value)
            })
        };
        maps::btf_map_slots(&elf, sec, &mut maps, &btf_vars, find_program)?;
    }

    let relocation_count = elf
        .rel_sections
        .iter()
        .filter(|r| {
            code_of.contains_key(&r.target) || Some(r.target) == btf_maps_sec.map(|s| s.index)
        })
        .map(|r| r.rels.len())
        .sum();
    let sections = summary::sections(&elf, &code_of, &map_sections);

    Ok(Object {
        name: opts.name.to_string(),
        license,
        kernel_version,
        programs,
        maps,
        btf,
        btf_ext,
        sections,
        relocation_count,
    })
}
