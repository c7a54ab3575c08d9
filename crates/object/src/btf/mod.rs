//! BTF: the type information clang emits in `.BTF` (and the kernel exposes as raw BTF in
//! `/sys/kernel/btf/vmlinux`), `.BTF.ext` line/function info, and CO-RE relocations.
//!
//! Parsing checks every offset, count and type reference against the data, so lookups
//! afterwards cannot go out of range; chains of typedefs/qualifiers/arrays are followed at most
//! [`MAX_RESOLVE_DEPTH`] steps, so loops give [`BtfError::Loop`] instead of hanging.

pub mod core;
pub mod ext;
pub mod types;

pub use types::{BtfEnumValue, BtfKind, BtfMember, BtfParam, BtfType, BtfVarSecinfo};

use types::Reader;

/// `BTF_MAGIC` as it reads in little-endian.
const MAGIC: u16 = 0xeb9f;
/// How many typedef/qualifier/array links are followed (libbpf's `MAX_RESOLVE_DEPTH`).
pub const MAX_RESOLVE_DEPTH: usize = 32;

/// Why BTF data could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// A BTF file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path given.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The header is missing, has the wrong magic or version, or its sections lie outside
    /// the data.
    #[error("bad header: {0}")]
    Header(String),
    /// A type record runs past the end of the type section.
    #[error("type [{id}] at byte {offset} is truncated")]
    Truncated {
        /// The type id being read.
        id: usize,
        /// Its byte offset in the type section.
        offset: usize,
    },
    /// A type record has a kind this parser does not know.
    #[error("type [{id}] has unknown kind {kind}")]
    UnknownKind {
        /// The type id.
        id: usize,
        /// The kind number.
        kind: u8,
    },
    /// A type refers to a type id that does not exist.
    #[error("type [{id}] refers to type [{target}], but there are only {count} types")]
    BadTypeRef {
        /// The referring type.
        id: u32,
        /// The missing type.
        target: u32,
        /// Number of types (ids 0..count).
        count: usize,
    },
    /// A name offset is outside the string section.
    #[error("type [{id}]: name offset {offset} is outside the string section")]
    BadString {
        /// The type id.
        id: u32,
        /// The offset.
        offset: u32,
    },
    /// No type has this id.
    #[error("no type [{0}]")]
    NoType(u32),
    /// Following typedefs, qualifiers or arrays did not end within [`MAX_RESOLVE_DEPTH`] steps.
    #[error("type [{0}]: reference chain too long (a loop?)")]
    Loop(u32),
    /// The type has no size (void, function, forward declaration…).
    #[error("type [{id}] ({kind}) has no size")]
    NoSize {
        /// The type id.
        id: u32,
        /// Its kind name.
        kind: &'static str,
    },
    /// A size computation overflowed 32 bits (as libbpf's E2BIG).
    #[error("type [{0}]: size overflows 32 bits")]
    TooBig(u32),
}

/// Parsed BTF: types by id (0 = void) and the string section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Btf {
    types: Vec<BtfType>,
    strings: Vec<u8>,
}

/// Counts for `waggle inspect`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BtfSummary {
    /// Number of types (not counting void).
    pub types: usize,
    /// Size of the string section in bytes.
    pub strings_len: usize,
    /// Number of `FUNC` types.
    pub funcs: usize,
    /// Number of `STRUCT` and `UNION` types.
    pub structs: usize,
    /// `DATASEC` names.
    pub datasecs: Vec<String>,
}

impl Btf {
    /// Parse raw BTF (the contents of a `.BTF` section or of `/sys/kernel/btf/vmlinux`).
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        let mut r = Reader::new(data);
        let head = r
            .u32()
            .ok_or_else(|| BtfError::Header(format!("only {} bytes", data.len())))?;
        let magic = (head & 0xffff) as u16;
        if magic == MAGIC.swap_bytes() {
            return Err(BtfError::Header("big-endian BTF is not supported".into()));
        }
        if magic != MAGIC {
            return Err(BtfError::Header(format!("bad magic {magic:#06x}")));
        }
        let version = (head >> 16) & 0xff;
        if version != 1 {
            return Err(BtfError::Header(format!("unsupported version {version}")));
        }
        let short = || BtfError::Header("header truncated".into());
        let hdr_len = r.u32().ok_or_else(short)? as usize;
        let type_off = r.u32().ok_or_else(short)? as usize;
        let type_len = r.u32().ok_or_else(short)? as usize;
        let str_off = r.u32().ok_or_else(short)? as usize;
        let str_len = r.u32().ok_or_else(short)? as usize;
        if hdr_len < 24 || hdr_len > data.len() {
            return Err(BtfError::Header(format!("header length {hdr_len}")));
        }
        let body = &data[hdr_len..];
        let section = |off: usize, len: usize, what: &str| {
            off.checked_add(len)
                .and_then(|end| body.get(off..end))
                .ok_or_else(|| {
                    BtfError::Header(format!(
                        "{what} section {off}+{len} is outside the {} bytes of data",
                        body.len()
                    ))
                })
        };
        if !type_off.is_multiple_of(4) {
            return Err(BtfError::Header(format!(
                "type section offset {type_off} is not aligned"
            )));
        }
        let type_data = section(type_off, type_len, "type")?;
        let strings = section(str_off, str_len, "string")?;
        if strings.first().is_some_and(|&b| b != 0) || strings.last().is_some_and(|&b| b != 0) {
            return Err(BtfError::Header(
                "string section must start and end with NUL".into(),
            ));
        }
        let types = types::parse_types(type_data)?;
        let btf = Btf {
            types,
            strings: strings.to_vec(),
        };
        btf.check()?;
        Ok(btf)
    }

    /// Read and parse a raw BTF file (e.g. `/sys/kernel/btf/vmlinux`).
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Btf, BtfError> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Btf::parse(&data)
    }

    /// Check type references and name offsets.
    fn check(&self) -> Result<(), BtfError> {
        let count = self.types.len();
        for (id, t) in self.types.iter().enumerate() {
            let id = id as u32;
            if t.name_off as usize >= self.strings.len().max(1) {
                return Err(BtfError::BadString {
                    id,
                    offset: t.name_off,
                });
            }
            for target in t.kind.all_refs() {
                if target as usize >= count {
                    return Err(BtfError::BadTypeRef { id, target, count });
                }
            }
        }
        Ok(())
    }

    /// Number of type ids, including void (valid ids are `0..len()`).
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether there are no types besides void.
    pub fn is_empty(&self) -> bool {
        self.types.len() <= 1
    }

    /// The type with id `id` (0 is void).
    pub fn type_by_id(&self, id: u32) -> Option<&BtfType> {
        self.types.get(id as usize)
    }

    /// The kind of type `id`.
    pub fn kind(&self, id: u32) -> Option<&BtfKind> {
        self.type_by_id(id).map(|t| &t.kind)
    }

    /// All types with their ids, void first.
    pub fn types(&self) -> impl Iterator<Item = (u32, &BtfType)> {
        self.types.iter().enumerate().map(|(i, t)| (i as u32, t))
    }

    /// The NUL-terminated string at `offset` in the string section, if valid UTF-8.
    pub fn string_at(&self, offset: u32) -> Option<&str> {
        let rest = self.strings.get(offset as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    }

    /// The string at `offset`, lossily decoded ("" when out of range).
    pub fn string_lossy(&self, offset: u32) -> String {
        let Some(rest) = self.strings.get(offset as usize..) else {
            return String::new();
        };
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        String::from_utf8_lossy(&rest[..end]).into_owned()
    }

    /// The name of type `id` ("" when anonymous or unknown).
    pub fn name(&self, id: u32) -> &str {
        self.type_by_id(id)
            .and_then(|t| self.string_at(t.name_off))
            .unwrap_or("")
    }

    /// Skip typedefs and qualifiers (`const`, `volatile`, `restrict`, type tags) from `id`.
    pub fn resolve(&self, id: u32) -> Result<u32, BtfError> {
        let mut cur = id;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            let t = self.type_by_id(cur).ok_or(BtfError::NoType(cur))?;
            if !t.kind.is_modifier() {
                return Ok(cur);
            }
            cur = t.kind.referenced().unwrap_or(0);
        }
        Err(BtfError::Loop(id))
    }

    /// The resolved type of `id` with its id (see [`Btf::resolve`]).
    pub fn resolved(&self, id: u32) -> Result<(u32, &BtfKind), BtfError> {
        let r = self.resolve(id)?;
        Ok((r, self.kind(r).ok_or(BtfError::NoType(r))?))
    }

    /// The size in bytes of a value of type `id`, as libbpf's `btf__resolve_size` computes it
    /// (pointers are 8 bytes; arrays multiply; variables and modifiers are followed).
    pub fn type_size(&self, id: u32) -> Result<u64, BtfError> {
        let mut nelems: u64 = 1;
        let mut cur = id;
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.type_by_id(cur).ok_or(BtfError::NoType(cur))?;
            let size = match &t.kind {
                BtfKind::Int { size, .. }
                | BtfKind::Struct { size, .. }
                | BtfKind::Union { size, .. }
                | BtfKind::Enum { size, .. }
                | BtfKind::Enum64 { size, .. }
                | BtfKind::Datasec { size, .. }
                | BtfKind::Float { size } => u64::from(*size),
                BtfKind::Ptr { .. } => 8,
                BtfKind::Typedef { type_id }
                | BtfKind::Volatile { type_id }
                | BtfKind::Const { type_id }
                | BtfKind::Restrict { type_id }
                | BtfKind::Var { type_id, .. }
                | BtfKind::DeclTag { type_id, .. }
                | BtfKind::TypeTag { type_id } => {
                    cur = *type_id;
                    continue;
                }
                BtfKind::Array {
                    elem, nelems: n, ..
                } => {
                    nelems = nelems
                        .checked_mul(u64::from(*n))
                        .filter(|&v| v <= u64::from(u32::MAX))
                        .ok_or(BtfError::TooBig(id))?;
                    cur = *elem;
                    continue;
                }
                k => {
                    return Err(BtfError::NoSize {
                        id: cur,
                        kind: k.name(),
                    });
                }
            };
            return nelems
                .checked_mul(size)
                .filter(|&v| v <= u64::from(u32::MAX))
                .ok_or(BtfError::TooBig(id));
        }
        Err(BtfError::Loop(id))
    }

    /// The first type named `name` whose kind number is `kind` (`BTF_KIND_*`).
    pub fn find_by_name(&self, name: &str, kind: u8) -> Option<u32> {
        self.types()
            .find(|(_, t)| t.kind.number() == kind && self.string_at(t.name_off) == Some(name))
            .map(|(id, _)| id)
    }

    /// A short description of type `id` for messages: `struct foo`, `int`, `ptr`, …
    pub fn describe(&self, id: u32) -> String {
        let Some(t) = self.type_by_id(id) else {
            return format!("[{id}]?");
        };
        let name = self.name(id);
        let kind = match t.kind {
            BtfKind::Void => return "void".into(),
            BtfKind::Struct { .. } => "struct",
            BtfKind::Union { .. } => "union",
            BtfKind::Enum { .. } | BtfKind::Enum64 { .. } => "enum",
            BtfKind::Fwd { union } => {
                if union {
                    "union"
                } else {
                    "struct"
                }
            }
            _ if !name.is_empty() => return name.to_string(),
            ref k => return k.name().to_ascii_lowercase(),
        };
        if name.is_empty() {
            format!("{kind} (anon)")
        } else {
            format!("{kind} {name}")
        }
    }

    /// Counts for a summary.
    pub fn summary(&self) -> BtfSummary {
        let mut s = BtfSummary {
            types: self.types.len().saturating_sub(1),
            strings_len: self.strings.len(),
            ..BtfSummary::default()
        };
        for (id, t) in self.types() {
            match t.kind {
                BtfKind::Func { .. } => s.funcs += 1,
                BtfKind::Struct { .. } | BtfKind::Union { .. } => s.structs += 1,
                BtfKind::Datasec { .. } => s.datasecs.push(self.name(id).to_string()),
                _ => {}
            }
        }
        s
    }

    /// Fill in what clang leaves for the loader (libbpf's `btf_fixup_datasec`): a `DATASEC`
    /// of size 0 gets its ELF section's size and its variables the offsets of their ELF
    /// symbols; global variables with hidden visibility become static.
    pub(crate) fn fixup_datasecs(
        &mut self,
        section_size: impl Fn(&str) -> Option<u64>,
        symbol: impl Fn(&str) -> Option<(u64, bool)>,
    ) {
        for i in 0..self.types.len() {
            let (size, vars) = match &self.types[i].kind {
                BtfKind::Datasec { size, vars } => (*size, vars.clone()),
                _ => continue,
            };
            let sec_name = self.string_lossy(self.types[i].name_off);
            if sec_name == ".kconfig" || sec_name == ".ksyms" {
                continue;
            }
            let mut new_size = size;
            let fix_offsets = size == 0;
            if fix_offsets {
                match section_size(&sec_name).and_then(|s| u32::try_from(s).ok()) {
                    Some(s) if s > 0 => new_size = s,
                    _ => continue,
                }
            }
            let mut new_vars = vars;
            for v in &mut new_vars {
                let Some(BtfKind::Var { linkage, .. }) = self.kind(v.type_id).cloned() else {
                    continue;
                };
                if linkage == types::VAR_STATIC || linkage == types::VAR_GLOBAL_EXTERN {
                    continue;
                }
                let var_name = self.name(v.type_id).to_string();
                let Some((value, hidden)) = symbol(&var_name) else {
                    continue;
                };
                if fix_offsets {
                    v.offset = u32::try_from(value).unwrap_or(u32::MAX);
                }
                if hidden
                    && let Some(BtfKind::Var { linkage, .. }) =
                        self.types.get_mut(v.type_id as usize).map(|t| &mut t.kind)
                {
                    *linkage = types::VAR_STATIC;
                }
            }
            self.types[i].kind = BtfKind::Datasec {
                size: new_size,
                vars: new_vars,
            };
        }
    }
}

#[cfg(test)]
mod tests;
