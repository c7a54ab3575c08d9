//! Map definitions: legacy `maps` sections (libbpf's `struct bpf_map_def`, iproute2's
//! `struct bpf_elf_map`), BTF-defined `.maps`, and global data sections as one-element arrays.

use crate::btf::{Btf, BtfKind, types::VAR_GLOBAL_ALLOCATED, types::VAR_STATIC};
use crate::elf::{ElfFile, Section};
use crate::elf::{SHT_NOBITS, SHT_PROGBITS, STT_SECTION};
use crate::error::ObjectError;

/// `BPF_MAP_TYPE_PROG_ARRAY`.
pub const MAP_TYPE_PROG_ARRAY: u32 = 3;
/// `BPF_MAP_TYPE_ARRAY`.
pub const MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
pub const MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
/// `BPF_MAP_TYPE_HASH_OF_MAPS`.
pub const MAP_TYPE_HASH_OF_MAPS: u32 = 13;
/// `BPF_F_RDONLY_PROG`: programs may only read the map.
pub const F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_MMAPABLE`.
pub const F_MMAPABLE: u32 = 1 << 10;
/// The kernel's limit on map names (`BPF_OBJ_NAME_LEN`, including the NUL).
pub const OBJ_NAME_LEN: usize = 16;

/// Where a map's definition came from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum MapKind {
    /// A legacy `maps` section definition.
    Legacy,
    /// A BTF-defined map in `.maps`.
    Btf,
    /// A writable global data section (`.data`, `.data.*`).
    Data,
    /// A read-only global data section (`.rodata`, `.rodata.*`): frozen after its contents are
    /// set, and read-only for programs.
    Rodata,
    /// A zero-filled global data section (`.bss`, `.bss.*`).
    Bss,
}

/// What an initial slot of a prog array or map-in-map holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum SlotTarget {
    /// The program at this index of [`crate::Object::programs`].
    Program(usize),
    /// The map at this index of [`crate::Object::maps`].
    Map(usize),
}

/// The extra fields of iproute2's `struct bpf_elf_map`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ElfMapFields {
    /// `id`: how map-in-map definitions refer to this one.
    pub id: u32,
    /// `inner_id`: for a map-in-map, the `id` of its inner map's definition.
    pub inner_id: u32,
    /// `inner_idx`: for an inner map, its slot in the outer map (`u32::MAX` = none).
    pub inner_idx: u32,
}

/// A map the object declares, ready for MAP_CREATE.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MapSpec {
    /// Its name: the variable name for declared maps; the ELF section name (`.data`,
    /// `.rodata.str1.1`) for global data.
    pub name: String,
    /// The name libbpf gives it in the kernel: at most 15 characters; for global data, the
    /// object name's prefix plus the section name (`xdp_coun.rodata`), or just the section
    /// name for `.data.*`/`.rodata.*`.
    pub kernel_name: String,
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// `max_entries`.
    pub max_entries: u32,
    /// `map_flags` (`BPF_F_*`).
    pub flags: u32,
    /// NUMA node (with `BPF_F_NUMA_NODE`).
    pub numa_node: u32,
    /// `map_extra` (bloom filter hash count, arena address).
    pub map_extra: u64,
    /// Pinning: libbpf's `LIBBPF_PIN_BY_NAME` = 1; iproute2's `PIN_OBJECT_NS` = 1,
    /// `PIN_GLOBAL_NS` = 2; 0 = not pinned.
    pub pinning: u32,
    /// The inner map's definition, for map-in-map types.
    pub inner: Option<Box<MapSpec>>,
    /// Initial contents of the single value of a global data map (`None` for `.bss`, which
    /// is zero-filled, and for other maps).
    pub initial_data: Option<Vec<u8>>,
    /// Initial `(index, target)` entries of prog arrays and map-in-maps (BTF `values`, or
    /// iproute2 `inner_idx`).
    pub initial_slots: Vec<(u32, SlotTarget)>,
    /// BTF id of the key type, if known.
    pub btf_key_type_id: Option<u32>,
    /// BTF id of the value type (for global data, its `DATASEC`), if known.
    pub btf_value_type_id: Option<u32>,
    /// Where the definition came from.
    pub kind: MapKind,
    /// The ELF section of the definition.
    pub section: String,
    /// Byte offset of the definition in that section.
    pub section_offset: u64,
    /// Whether user space must freeze the map after setting its initial contents.
    pub frozen: bool,
    /// iproute2 fields, for legacy definitions large enough to have them.
    pub elf_map: Option<ElfMapFields>,
}

impl MapSpec {
    fn new(name: String, kind: MapKind, section: &str, offset: u64) -> Self {
        MapSpec {
            kernel_name: truncate_name(&name),
            name,
            map_type: 0,
            key_size: 0,
            value_size: 0,
            max_entries: 0,
            flags: 0,
            numa_node: 0,
            map_extra: 0,
            pinning: 0,
            inner: None,
            initial_data: None,
            initial_slots: Vec::new(),
            btf_key_type_id: None,
            btf_value_type_id: None,
            kind,
            section: section.to_string(),
            section_offset: offset,
            frozen: false,
            elf_map: None,
        }
    }

    /// The kernel's name for its type (`hash`, `array`, …).
    pub fn type_name(&self) -> &'static str {
        map_type_name(self.map_type)
    }
}

/// bpftool's name for `BPF_MAP_TYPE_*` number `t` (`unknown` past the known ones).
pub fn map_type_name(t: u32) -> &'static str {
    const NAMES: [&str; 34] = [
        "unspec",
        "hash",
        "array",
        "prog_array",
        "perf_event_array",
        "percpu_hash",
        "percpu_array",
        "stack_trace",
        "cgroup_array",
        "lru_hash",
        "lru_percpu_hash",
        "lpm_trie",
        "array_of_maps",
        "hash_of_maps",
        "devmap",
        "sockmap",
        "cpumap",
        "xskmap",
        "sockhash",
        "cgroup_storage",
        "reuseport_sockarray",
        "percpu_cgroup_storage",
        "queue",
        "stack",
        "sk_storage",
        "devmap_hash",
        "struct_ops",
        "ringbuf",
        "inode_storage",
        "task_storage",
        "bloom_filter",
        "user_ringbuf",
        "cgrp_storage",
        "arena",
    ];
    NAMES.get(t as usize).copied().unwrap_or("unknown")
}

fn is_map_in_map(t: u32) -> bool {
    t == MAP_TYPE_ARRAY_OF_MAPS || t == MAP_TYPE_HASH_OF_MAPS
}

/// A name cut to what the kernel accepts.
fn truncate_name(name: &str) -> String {
    name.chars().take(OBJ_NAME_LEN - 1).collect()
}

fn u32_at(data: &[u8], off: usize) -> u32 {
    data.get(off..off + 4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Maps of a legacy `maps` section: the section is divided equally among its symbols.
pub(crate) fn legacy_maps(
    elf: &ElfFile<'_>,
    sec: &Section<'_>,
) -> Result<Vec<MapSpec>, ObjectError> {
    let syms: Vec<_> = elf
        .symbols
        .iter()
        .filter(|s| s.shndx as usize == sec.index && s.kind != STT_SECTION)
        .collect();
    if syms.is_empty() {
        return Ok(Vec::new());
    }
    let size = sec.data.len();
    if size == 0 || !size.is_multiple_of(syms.len()) {
        return Err(ObjectError::section(
            &sec.name,
            format!(
                "cannot determine the map definition size: {size} bytes for {} maps",
                syms.len()
            ),
        ));
    }
    let def_size = size / syms.len();
    if def_size < 16 {
        return Err(ObjectError::section(
            &sec.name,
            format!("map definitions of {def_size} bytes are too small"),
        ));
    }
    let mut maps = Vec::with_capacity(syms.len());
    for sym in syms {
        let def = usize::try_from(sym.value)
            .ok()
            .and_then(|start| sec.data.get(start..start.checked_add(def_size)?))
            .ok_or_else(|| ObjectError::map(&sym.name, "definition runs past the maps section"))?;
        let mut m = MapSpec::new(sym.name.clone(), MapKind::Legacy, &sec.name, sym.value);
        m.map_type = u32_at(def, 0);
        m.key_size = u32_at(def, 4);
        m.value_size = u32_at(def, 8);
        m.max_entries = u32_at(def, 12);
        m.flags = u32_at(def, 16);
        // Beyond libbpf's five fields, iproute2's struct bpf_elf_map: id, pinning,
        // inner_id, inner_idx.
        if def_size >= 28 {
            m.pinning = u32_at(def, 24);
            m.elf_map = Some(ElfMapFields {
                id: u32_at(def, 20),
                inner_id: if def_size >= 32 { u32_at(def, 28) } else { 0 },
                inner_idx: if def_size >= 36 {
                    u32_at(def, 32)
                } else {
                    u32::MAX
                },
            });
        }
        maps.push(m);
    }
    // iproute2 map-in-map: the outer names its inner template by id; templates with an
    // inner_idx are placed in that slot of the outer map.
    let templates: Vec<(u32, MapSpec, usize)> = maps
        .iter()
        .enumerate()
        .filter_map(|(i, m)| Some((m.elf_map?.id, m.clone(), i)).filter(|t| t.0 != 0))
        .collect();
    for m in &mut maps {
        let Some(fields) = m.elf_map.filter(|f| f.inner_id != 0) else {
            continue;
        };
        if !is_map_in_map(m.map_type) {
            continue;
        }
        for (id, tmpl, idx) in &templates {
            if *id == fields.inner_id {
                if m.inner.is_none() {
                    m.inner = Some(Box::new(tmpl.clone()));
                }
                let slot = tmpl.elf_map.map_or(u32::MAX, |f| f.inner_idx);
                if slot != u32::MAX {
                    m.initial_slots.push((slot, SlotTarget::Map(*idx)));
                }
            }
        }
    }
    Ok(maps)
}

/// Position of a BTF map's variable in `.maps`, for `.rel.maps` (initial `values`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BtfMapVar {
    pub offset: u64,
    pub size: u64,
    /// Byte offset of the `values` member, if it is the definition's last member.
    pub values_off: Option<u64>,
}

/// Maps of the `.maps` section, described by its BTF `DATASEC`.
pub(crate) fn btf_maps(
    btf: &Btf,
    sec: &Section<'_>,
) -> Result<Vec<(MapSpec, BtfMapVar)>, ObjectError> {
    let Some(ds_id) = btf.find_by_name(".maps", 15) else {
        return Err(ObjectError::section(".maps", "no BTF DATASEC describes it"));
    };
    let Some(BtfKind::Datasec { vars, .. }) = btf.kind(ds_id) else {
        return Err(ObjectError::section(".maps", "bad DATASEC"));
    };
    let mut out = Vec::with_capacity(vars.len());
    for vi in vars {
        let name = btf.name(vi.type_id).to_string();
        if name.is_empty() {
            return Err(ObjectError::section(".maps", "map variable without a name"));
        }
        let Some(BtfKind::Var { type_id, linkage }) = btf.kind(vi.type_id) else {
            return Err(ObjectError::map(&name, "DATASEC entry is not a variable"));
        };
        if u64::from(vi.offset) + u64::from(vi.size) > sec.size {
            return Err(ObjectError::map(
                &name,
                "BTF data is corrupted (past the section)",
            ));
        }
        if *linkage != VAR_GLOBAL_ALLOCATED {
            return Err(ObjectError::map(
                &name,
                format!("unsupported linkage {linkage} (maps must be global)"),
            ));
        }
        let (def_id, def) = btf.resolved(*type_id)?;
        let BtfKind::Struct { size, members } = def else {
            return Err(ObjectError::map(&name, "definition is not a struct"));
        };
        if *size > vi.size {
            return Err(ObjectError::map(
                &name,
                "definition larger than its variable",
            ));
        }
        let mut m = MapSpec::new(name.clone(), MapKind::Btf, &sec.name, u64::from(vi.offset));
        let inner = parse_btf_def(btf, def_id, &mut m, false)?;
        if let Some(mut inner) = inner {
            inner.name = format!("{name}.inner");
            inner.kernel_name = truncate_name(&inner.name);
            inner.section = sec.name.clone();
            m.inner = Some(Box::new(inner));
        }
        let values_off = members
            .last()
            .filter(|l| btf.string_at(l.name_off) == Some("values"))
            .map(|l| u64::from(l.bit_offset / 8));
        out.push((
            m,
            BtfMapVar {
                offset: u64::from(vi.offset),
                size: u64::from(vi.size),
                values_off,
            },
        ));
    }
    Ok(out)
}

/// Read `__uint(name, N)`: a pointer to an array of N elements.
fn field_int(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<u32, ObjectError> {
    let (_, t) = btf.resolved(type_id)?;
    let BtfKind::Ptr { type_id: arr } = *t else {
        return Err(ObjectError::map(
            map,
            format!("attr '{field}': expected PTR, got {}", t.name()),
        ));
    };
    match btf.kind(arr) {
        Some(BtfKind::Array { nelems, .. }) => Ok(*nelems),
        Some(k) => Err(ObjectError::map(
            map,
            format!("attr '{field}': expected ARRAY, got {}", k.name()),
        )),
        None => Err(ObjectError::map(
            map,
            format!("attr '{field}': type [{arr}] not found"),
        )),
    }
}

/// Read a 64-bit attribute: `__uint` or `__ulong` (a pointer to a one-value enum).
fn field_long(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<u64, ObjectError> {
    let (_, t) = btf.resolved(type_id)?;
    if let BtfKind::Ptr { type_id: inner } = *t
        && let Some(v) = btf
            .kind(inner)
            .and_then(BtfKind::enum_values)
            .filter(|v| v.len() == 1)
    {
        return Ok(v[0].value);
    }
    field_int(btf, map, field, type_id).map(u64::from)
}

/// Read `__type(key|value, T)`: a pointer to T; returns (size, T).
fn field_type(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<(u32, u32), ObjectError> {
    let Some(BtfKind::Ptr { type_id: t }) = btf.kind(type_id) else {
        return Err(ObjectError::map(map, format!("{field} spec is not a PTR")));
    };
    let size = btf
        .type_size(*t)
        .map_err(|e| ObjectError::map(map, format!("can't determine {field} size: {e}")))?;
    Ok((size as u32, *t))
}

/// `parse_btf_map_def`: fill `m` from the definition struct; returns the inner definition.
fn parse_btf_def(
    btf: &Btf,
    def_id: u32,
    m: &mut MapSpec,
    is_inner: bool,
) -> Result<Option<MapSpec>, ObjectError> {
    let name = m.name.clone();
    let members = btf.kind(def_id).and_then(BtfKind::members).unwrap_or(&[]);
    let mut inner = None;
    for (i, mem) in members.iter().enumerate() {
        let field = btf.string_at(mem.name_off).unwrap_or("");
        if field.is_empty() {
            return Err(ObjectError::map(&name, format!("invalid field #{i}")));
        }
        match field {
            "type" => m.map_type = field_int(btf, &name, field, mem.type_id)?,
            "max_entries" => m.max_entries = field_int(btf, &name, field, mem.type_id)?,
            "map_flags" => m.flags = field_int(btf, &name, field, mem.type_id)?,
            "numa_node" => m.numa_node = field_int(btf, &name, field, mem.type_id)?,
            "key_size" | "value_size" => {
                let sz = field_int(btf, &name, field, mem.type_id)?;
                let slot = if field == "key_size" {
                    &mut m.key_size
                } else {
                    &mut m.value_size
                };
                if *slot != 0 && *slot != sz {
                    return Err(ObjectError::map(
                        &name,
                        format!("conflicting {field} {} != {sz}", *slot),
                    ));
                }
                *slot = sz;
            }
            "key" | "value" => {
                let (sz, t) = field_type(btf, &name, field, mem.type_id)?;
                let (slot, id) = if field == "key" {
                    (&mut m.key_size, &mut m.btf_key_type_id)
                } else {
                    (&mut m.value_size, &mut m.btf_value_type_id)
                };
                if *slot != 0 && *slot != sz {
                    return Err(ObjectError::map(
                        &name,
                        format!("conflicting {field} size {} != {sz}", *slot),
                    ));
                }
                *slot = sz;
                *id = Some(t);
            }
            "values" => {
                let is_prog_array = m.map_type == MAP_TYPE_PROG_ARRAY;
                if is_inner {
                    return Err(ObjectError::map(
                        &name,
                        "multi-level inner maps are not supported",
                    ));
                }
                if i + 1 != members.len() {
                    return Err(ObjectError::map(&name, "'values' must be the last member"));
                }
                if !is_map_in_map(m.map_type) && !is_prog_array {
                    return Err(ObjectError::map(
                        &name,
                        "'values' needs a map-in-map or prog array",
                    ));
                }
                if m.value_size != 0 && m.value_size != 4 {
                    return Err(ObjectError::map(
                        &name,
                        format!("conflicting value size {} != 4", m.value_size),
                    ));
                }
                m.value_size = 4;
                let Some(BtfKind::Array {
                    elem, nelems: 0, ..
                }) = btf.kind(mem.type_id)
                else {
                    return Err(ObjectError::map(
                        &name,
                        "'values' is not a zero-sized array",
                    ));
                };
                let (_, p) = btf.resolved(*elem)?;
                let BtfKind::Ptr { type_id: pointee } = *p else {
                    return Err(ObjectError::map(
                        &name,
                        format!("'values' element is {}, not PTR", p.name()),
                    ));
                };
                let (inner_id, inner_t) = btf.resolved(pointee)?;
                if is_prog_array {
                    if !matches!(inner_t, BtfKind::FuncProto { .. }) {
                        return Err(ObjectError::map(
                            &name,
                            "prog array 'values' must point to functions",
                        ));
                    }
                    continue;
                }
                if !matches!(inner_t, BtfKind::Struct { .. }) {
                    return Err(ObjectError::map(
                        &name,
                        "inner map definition is not a struct",
                    ));
                }
                let mut im = MapSpec::new(format!("{name}.inner"), MapKind::Btf, "", 0);
                parse_btf_def(btf, inner_id, &mut im, true)?;
                inner = Some(im);
            }
            "pinning" => {
                if is_inner {
                    return Err(ObjectError::map(&name, "an inner map cannot be pinned"));
                }
                let v = field_int(btf, &name, field, mem.type_id)?;
                if v > 1 {
                    return Err(ObjectError::map(
                        &name,
                        format!("invalid pinning value {v}"),
                    ));
                }
                m.pinning = v;
            }
            "map_extra" => m.map_extra = field_long(btf, &name, field, mem.type_id)?,
            // libbpf (strict) rejects unknown fields; ignoring them keeps newer objects usable.
            _ => {}
        }
    }
    if m.map_type == 0 {
        return Err(ObjectError::map(&name, "map type isn't specified"));
    }
    Ok(inner)
}

/// Resolve `.rel.maps`: initial `values` of prog arrays and map-in-maps. `maps` are all maps
/// so far (BTF ones carry their `.maps` positions); `programs` maps a program symbol
/// (section, offset, name) to its index.
pub(crate) fn btf_map_slots(
    elf: &ElfFile<'_>,
    maps_sec: &Section<'_>,
    maps: &mut [MapSpec],
    vars: &[(usize, BtfMapVar)],
    find_program: impl Fn(&str, u32, u64) -> Option<usize>,
) -> Result<(), ObjectError> {
    for rel in elf.rels_for(maps_sec.index) {
        let sym = elf.symbol(rel.sym).ok_or_else(|| {
            ObjectError::section(
                ".rel.maps",
                format!("symbol index {} out of range", rel.sym),
            )
        })?;
        let Some(&(map_idx, var)) = vars.iter().find(|(_, v)| {
            v.offset <= rel.offset && rel.offset.saturating_add(8) <= v.offset + v.size
        }) else {
            return Err(ObjectError::section(
                ".rel.maps",
                format!("no map at offset {} for '{}'", rel.offset, sym.name),
            ));
        };
        let map = &maps[map_idx];
        let mname = map.name.clone();
        let target = if is_map_in_map(map.map_type) {
            if sym.shndx as usize != maps_sec.index {
                return Err(ObjectError::map(
                    &mname,
                    format!("'{}' isn't a BTF-defined map", sym.name),
                ));
            }
            if map.map_type == MAP_TYPE_HASH_OF_MAPS && map.key_size != 4 {
                return Err(ObjectError::map(
                    &mname,
                    "hash-of-maps with initial values must have 4-byte keys",
                ));
            }
            let t = maps
                .iter()
                .position(|m| m.name == sym.name)
                .ok_or_else(|| {
                    ObjectError::map(
                        &mname,
                        format!("'{}' isn't a valid map reference", sym.name),
                    )
                })?;
            SlotTarget::Map(t)
        } else if map.map_type == MAP_TYPE_PROG_ARRAY {
            let t = find_program(&sym.name, sym.shndx, sym.value).ok_or_else(|| {
                ObjectError::map(
                    &mname,
                    format!("'{}' isn't an entry-point program", sym.name),
                )
            })?;
            SlotTarget::Program(t)
        } else {
            return Err(ObjectError::map(
                &mname,
                "initial values need a prog array or map-in-map",
            ));
        };
        let values_off = var
            .values_off
            .ok_or_else(|| ObjectError::map(&mname, "relocation but no 'values' member"))?;
        let moff = (rel.offset - var.offset)
            .checked_sub(values_off)
            .ok_or_else(|| ObjectError::map(&mname, "relocation before 'values'"))?;
        if moff % 8 != 0 {
            return Err(ObjectError::map(&mname, "misaligned 'values' relocation"));
        }
        let slot =
            u32::try_from(moff / 8).map_err(|_| ObjectError::map(&mname, "slot out of range"))?;
        maps[map_idx].initial_slots.push((slot, target));
    }
    Ok(())
}

/// Whether `name` is a global data section libbpf turns into a map, and which kind.
pub(crate) fn data_section_kind(sec: &Section<'_>) -> Option<MapKind> {
    let n = sec.name.as_str();
    let matches =
        |base: &str| n == base || n.strip_prefix(base).is_some_and(|r| r.starts_with('.'));
    if sec.sh_type == SHT_PROGBITS && matches(".data") {
        Some(MapKind::Data)
    } else if sec.sh_type == SHT_PROGBITS && matches(".rodata") {
        Some(MapKind::Rodata)
    } else if sec.sh_type == SHT_NOBITS && matches(".bss") {
        Some(MapKind::Bss)
    } else {
        None
    }
}

/// libbpf's `internal_map_name`.
pub(crate) fn internal_map_name(obj_name: &str, sec_name: &str) -> String {
    let sfx_len = sec_name.len().clamp(7, OBJ_NAME_LEN - 1);
    // Custom `.data.foo` sections get no object prefix: the name would not fit.
    let pfx_len = if sec_name.get(1..).is_some_and(|r| r.contains('.')) {
        0
    } else {
        (OBJ_NAME_LEN - sfx_len - 1).min(obj_name.len())
    };
    let name: String = obj_name
        .chars()
        .take(pfx_len)
        .chain(sec_name.chars().take(sfx_len))
        .take(OBJ_NAME_LEN - 1)
        .collect();
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A global data section as a one-element array map.
pub(crate) fn data_map(
    sec: &Section<'_>,
    kind: MapKind,
    btf: Option<&Btf>,
    obj_name: &str,
) -> Result<MapSpec, ObjectError> {
    let mut m = MapSpec::new(sec.name.clone(), kind, &sec.name, 0);
    m.kernel_name = internal_map_name(obj_name, &sec.name);
    m.map_type = MAP_TYPE_ARRAY;
    m.key_size = 4;
    m.value_size = u32::try_from(sec.size).map_err(|_| {
        ObjectError::section(
            &sec.name,
            format!("size {} is too large for a map value", sec.size),
        )
    })?;
    m.max_entries = 1;
    if kind == MapKind::Rodata {
        m.flags |= F_RDONLY_PROG;
        m.frozen = true;
    }
    if kind != MapKind::Bss {
        m.initial_data = Some(sec.data.to_vec());
    }
    if let Some(btf) = btf
        && let Some(id) = btf.find_by_name(&sec.name, 15)
    {
        m.btf_value_type_id = Some(id);
        // libbpf's map_is_mmapable: some variable is not static.
        if let Some(BtfKind::Datasec { vars, .. }) = btf.kind(id) {
            let shared = vars.iter().any(|v| {
                    matches!(btf.kind(v.type_id), Some(BtfKind::Var { linkage, .. }) if *linkage != VAR_STATIC)
                });
            if shared {
                m.flags |= F_MMAPABLE;
            }
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libbpf_internal_names() {
        assert_eq!(
            internal_map_name("my_object_name", ".rodata"),
            "my_objec.rodata"
        );
        assert_eq!(internal_map_name("my_object_name", ".bss"), "my_objec.bss");
        assert_eq!(internal_map_name("obj", ".data"), "obj.data");
        assert_eq!(internal_map_name("obj", ".rodata.str1.1"), ".rodata.str1.1");
        assert_eq!(
            internal_map_name("obj", ".data.a_very_long_name"),
            ".data.a_very_lo"
        );
        assert_eq!(internal_map_name("x-y", ".data"), "x_y.data");
    }

    #[test]
    fn type_names() {
        assert_eq!(map_type_name(1), "hash");
        assert_eq!(map_type_name(27), "ringbuf");
        assert_eq!(map_type_name(999), "unknown");
    }
}
