//! BTF type records (`struct btf_type` and the data that follows each kind) and their
//! decoding from the type section.

use super::BtfError;

/// `BTF_INT_SIGNED`.
pub const INT_SIGNED: u8 = 1;
/// `BTF_INT_CHAR`.
pub const INT_CHAR: u8 = 2;
/// `BTF_INT_BOOL`.
pub const INT_BOOL: u8 = 4;

/// `BTF_VAR_STATIC`.
pub const VAR_STATIC: u32 = 0;
/// `BTF_VAR_GLOBAL_ALLOCATED`.
pub const VAR_GLOBAL_ALLOCATED: u32 = 1;
/// `BTF_VAR_GLOBAL_EXTERN`.
pub const VAR_GLOBAL_EXTERN: u32 = 2;

/// One type of a BTF type section. Id 0 is `void` and has no record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BtfType {
    /// Offset of its name in the string section (0 = anonymous).
    pub name_off: u32,
    /// What it is.
    pub kind: BtfKind,
}

/// A struct or union member.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BtfMember {
    /// Name offset (0 = anonymous embedded struct/union).
    pub name_off: u32,
    /// Member type id.
    pub type_id: u32,
    /// Offset from the start of the aggregate, in bits.
    pub bit_offset: u32,
    /// Bitfield width in bits; 0 when not a bitfield (or not encoded as one).
    pub bitfield_size: u32,
}

/// An enumerator; `value` is sign-extended from 32 bits for `ENUM` (as libbpf reads it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BtfEnumValue {
    /// Name offset.
    pub name_off: u32,
    /// Value.
    pub value: u64,
}

/// A function parameter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BtfParam {
    /// Name offset (0 in prototypes without names).
    pub name_off: u32,
    /// Type id (0 with name 0 in last place means `...`).
    pub type_id: u32,
}

/// A variable (or function) placed in a data section.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BtfVarSecinfo {
    /// The `VAR` (or `FUNC`) type id.
    pub type_id: u32,
    /// Byte offset in the section.
    pub offset: u32,
    /// Byte size.
    pub size: u32,
}

/// The kind-specific part of a BTF type (`BTF_KIND_*`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum BtfKind {
    /// Id 0.
    Void,
    /// `INT` (1).
    Int {
        /// Size in bytes.
        size: u32,
        /// `BTF_INT_SIGNED | BTF_INT_CHAR | BTF_INT_BOOL`.
        encoding: u8,
        /// Bit offset (legacy bitfield integers; 0 otherwise).
        offset: u8,
        /// Number of bits.
        bits: u8,
    },
    /// `PTR` (2).
    Ptr {
        /// Pointee type.
        type_id: u32,
    },
    /// `ARRAY` (3).
    Array {
        /// Element type.
        elem: u32,
        /// Index type.
        index: u32,
        /// Number of elements.
        nelems: u32,
    },
    /// `STRUCT` (4).
    Struct {
        /// Size in bytes.
        size: u32,
        /// Members.
        members: Vec<BtfMember>,
    },
    /// `UNION` (5).
    Union {
        /// Size in bytes.
        size: u32,
        /// Members.
        members: Vec<BtfMember>,
    },
    /// `ENUM` (6).
    Enum {
        /// Size in bytes.
        size: u32,
        /// Whether the values are signed (the kind flag).
        signed: bool,
        /// Enumerators.
        values: Vec<BtfEnumValue>,
    },
    /// `FWD` (7).
    Fwd {
        /// Forward-declared union (else struct).
        union: bool,
    },
    /// `TYPEDEF` (8).
    Typedef {
        /// Aliased type.
        type_id: u32,
    },
    /// `VOLATILE` (9).
    Volatile {
        /// Qualified type.
        type_id: u32,
    },
    /// `CONST` (10).
    Const {
        /// Qualified type.
        type_id: u32,
    },
    /// `RESTRICT` (11).
    Restrict {
        /// Qualified type.
        type_id: u32,
    },
    /// `FUNC` (12).
    Func {
        /// Its `FUNC_PROTO`.
        proto: u32,
        /// `BTF_FUNC_STATIC` (0), `GLOBAL` (1) or `EXTERN` (2).
        linkage: u32,
    },
    /// `FUNC_PROTO` (13).
    FuncProto {
        /// Return type.
        ret: u32,
        /// Parameters.
        params: Vec<BtfParam>,
    },
    /// `VAR` (14).
    Var {
        /// Variable type.
        type_id: u32,
        /// `BTF_VAR_STATIC`, `GLOBAL_ALLOCATED` or `GLOBAL_EXTERN`.
        linkage: u32,
    },
    /// `DATASEC` (15).
    Datasec {
        /// Section size in bytes (0 in clang output until the loader fixes it up).
        size: u32,
        /// Variables in it.
        vars: Vec<BtfVarSecinfo>,
    },
    /// `FLOAT` (16).
    Float {
        /// Size in bytes.
        size: u32,
    },
    /// `DECL_TAG` (17).
    DeclTag {
        /// Tagged type.
        type_id: u32,
        /// Member/parameter index, or -1 for the type itself.
        component_idx: i32,
    },
    /// `TYPE_TAG` (18).
    TypeTag {
        /// Tagged type.
        type_id: u32,
    },
    /// `ENUM64` (19).
    Enum64 {
        /// Size in bytes.
        size: u32,
        /// Whether the values are signed (the kind flag).
        signed: bool,
        /// Enumerators.
        values: Vec<BtfEnumValue>,
    },
}

impl BtfKind {
    /// The `BTF_KIND_*` number.
    pub fn number(&self) -> u8 {
        match self {
            BtfKind::Void => 0,
            BtfKind::Int { .. } => 1,
            BtfKind::Ptr { .. } => 2,
            BtfKind::Array { .. } => 3,
            BtfKind::Struct { .. } => 4,
            BtfKind::Union { .. } => 5,
            BtfKind::Enum { .. } => 6,
            BtfKind::Fwd { .. } => 7,
            BtfKind::Typedef { .. } => 8,
            BtfKind::Volatile { .. } => 9,
            BtfKind::Const { .. } => 10,
            BtfKind::Restrict { .. } => 11,
            BtfKind::Func { .. } => 12,
            BtfKind::FuncProto { .. } => 13,
            BtfKind::Var { .. } => 14,
            BtfKind::Datasec { .. } => 15,
            BtfKind::Float { .. } => 16,
            BtfKind::DeclTag { .. } => 17,
            BtfKind::TypeTag { .. } => 18,
            BtfKind::Enum64 { .. } => 19,
        }
    }

    /// The kind's name as bpftool prints it (`STRUCT`, `PTR`, …).
    pub fn name(&self) -> &'static str {
        const NAMES: [&str; 20] = [
            "UNKN",
            "INT",
            "PTR",
            "ARRAY",
            "STRUCT",
            "UNION",
            "ENUM",
            "FWD",
            "TYPEDEF",
            "VOLATILE",
            "CONST",
            "RESTRICT",
            "FUNC",
            "FUNC_PROTO",
            "VAR",
            "DATASEC",
            "FLOAT",
            "DECL_TAG",
            "TYPE_TAG",
            "ENUM64",
        ];
        NAMES[usize::from(self.number())]
    }

    /// Whether it is a qualifier or typedef that [`super::Btf::resolve`] skips.
    pub fn is_modifier(&self) -> bool {
        matches!(
            self,
            BtfKind::Typedef { .. }
                | BtfKind::Volatile { .. }
                | BtfKind::Const { .. }
                | BtfKind::Restrict { .. }
                | BtfKind::TypeTag { .. }
        )
    }

    /// The type a modifier, pointer, var or tag refers to.
    pub fn referenced(&self) -> Option<u32> {
        match *self {
            BtfKind::Ptr { type_id }
            | BtfKind::Typedef { type_id }
            | BtfKind::Volatile { type_id }
            | BtfKind::Const { type_id }
            | BtfKind::Restrict { type_id }
            | BtfKind::TypeTag { type_id }
            | BtfKind::Var { type_id, .. }
            | BtfKind::DeclTag { type_id, .. } => Some(type_id),
            BtfKind::Func { proto, .. } => Some(proto),
            _ => None,
        }
    }

    /// Struct or union members.
    pub fn members(&self) -> Option<&[BtfMember]> {
        match self {
            BtfKind::Struct { members, .. } | BtfKind::Union { members, .. } => Some(members),
            _ => None,
        }
    }

    /// Enumerators of `ENUM` or `ENUM64`.
    pub fn enum_values(&self) -> Option<&[BtfEnumValue]> {
        match self {
            BtfKind::Enum { values, .. } | BtfKind::Enum64 { values, .. } => Some(values),
            _ => None,
        }
    }

    /// Every type id this record refers to (for range checks).
    pub(crate) fn all_refs(&self) -> Vec<u32> {
        match self {
            BtfKind::Array { elem, index, .. } => vec![*elem, *index],
            BtfKind::Struct { members, .. } | BtfKind::Union { members, .. } => {
                members.iter().map(|m| m.type_id).collect()
            }
            BtfKind::FuncProto { ret, params } => std::iter::once(*ret)
                .chain(params.iter().map(|p| p.type_id))
                .collect(),
            BtfKind::Datasec { vars, .. } => vars.iter().map(|v| v.type_id).collect(),
            k => k.referenced().into_iter().collect(),
        }
    }
}

/// A little-endian reader over a byte slice that never panics.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        if end > self.data.len() {
            return None;
        }
        self.pos = end;
        Some(())
    }

    pub fn u32(&mut self) -> Option<u32> {
        let end = self.pos.checked_add(4)?;
        let b = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Decode the type section into records (index 0 = void).
pub(crate) fn parse_types(data: &[u8]) -> Result<Vec<BtfType>, BtfError> {
    // Each record is at least 12 bytes: this bounds the allocation by the input size.
    let mut types = Vec::with_capacity(data.len() / 12 + 1);
    types.push(BtfType {
        name_off: 0,
        kind: BtfKind::Void,
    });
    let mut r = Reader::new(data);
    while r.remaining() > 0 {
        let id = types.len();
        let at = r.pos();
        let trunc = || BtfError::Truncated { id, offset: at };
        let name_off = r.u32().ok_or_else(trunc)?;
        let info = r.u32().ok_or_else(trunc)?;
        let size_or_type = r.u32().ok_or_else(trunc)?;
        let vlen = (info & 0xffff) as usize;
        let kind_no = ((info >> 24) & 0x1f) as u8;
        let kflag = info >> 31 != 0;
        // Every vlen entry takes at least 8 bytes: refuse counts the data cannot hold
        // before allocating for them.
        if vlen.saturating_mul(8) > r.remaining() {
            return Err(trunc());
        }
        let kind = match kind_no {
            1 => {
                let v = r.u32().ok_or_else(trunc)?;
                BtfKind::Int {
                    size: size_or_type,
                    encoding: ((v >> 24) & 0x0f) as u8,
                    offset: ((v >> 16) & 0xff) as u8,
                    bits: (v & 0xff) as u8,
                }
            }
            2 => BtfKind::Ptr {
                type_id: size_or_type,
            },
            3 => BtfKind::Array {
                elem: r.u32().ok_or_else(trunc)?,
                index: r.u32().ok_or_else(trunc)?,
                nelems: r.u32().ok_or_else(trunc)?,
            },
            4 | 5 => {
                let mut members = Vec::with_capacity(vlen);
                for _ in 0..vlen {
                    let name_off = r.u32().ok_or_else(trunc)?;
                    let type_id = r.u32().ok_or_else(trunc)?;
                    let offset = r.u32().ok_or_else(trunc)?;
                    // With the kind flag, the offset packs the bitfield size in its top byte.
                    let (bit_offset, bitfield_size) = if kflag {
                        (offset & 0x00ff_ffff, offset >> 24)
                    } else {
                        (offset, 0)
                    };
                    members.push(BtfMember {
                        name_off,
                        type_id,
                        bit_offset,
                        bitfield_size,
                    });
                }
                if kind_no == 4 {
                    BtfKind::Struct {
                        size: size_or_type,
                        members,
                    }
                } else {
                    BtfKind::Union {
                        size: size_or_type,
                        members,
                    }
                }
            }
            6 => {
                let mut values = Vec::with_capacity(vlen);
                for _ in 0..vlen {
                    let name_off = r.u32().ok_or_else(trunc)?;
                    let v = r.u32().ok_or_else(trunc)?;
                    values.push(BtfEnumValue {
                        name_off,
                        value: v as i32 as i64 as u64,
                    });
                }
                BtfKind::Enum {
                    size: size_or_type,
                    signed: kflag,
                    values,
                }
            }
            7 => BtfKind::Fwd { union: kflag },
            8 => BtfKind::Typedef {
                type_id: size_or_type,
            },
            9 => BtfKind::Volatile {
                type_id: size_or_type,
            },
            10 => BtfKind::Const {
                type_id: size_or_type,
            },
            11 => BtfKind::Restrict {
                type_id: size_or_type,
            },
            12 => BtfKind::Func {
                proto: size_or_type,
                linkage: vlen as u32,
            },
            13 => {
                let mut params = Vec::with_capacity(vlen);
                for _ in 0..vlen {
                    params.push(BtfParam {
                        name_off: r.u32().ok_or_else(trunc)?,
                        type_id: r.u32().ok_or_else(trunc)?,
                    });
                }
                BtfKind::FuncProto {
                    ret: size_or_type,
                    params,
                }
            }
            14 => BtfKind::Var {
                type_id: size_or_type,
                linkage: r.u32().ok_or_else(trunc)?,
            },
            15 => {
                let mut vars = Vec::with_capacity(vlen);
                for _ in 0..vlen {
                    vars.push(BtfVarSecinfo {
                        type_id: r.u32().ok_or_else(trunc)?,
                        offset: r.u32().ok_or_else(trunc)?,
                        size: r.u32().ok_or_else(trunc)?,
                    });
                }
                BtfKind::Datasec {
                    size: size_or_type,
                    vars,
                }
            }
            16 => BtfKind::Float { size: size_or_type },
            17 => BtfKind::DeclTag {
                type_id: size_or_type,
                component_idx: r.u32().ok_or_else(trunc)? as i32,
            },
            18 => BtfKind::TypeTag {
                type_id: size_or_type,
            },
            19 => {
                let mut values = Vec::with_capacity(vlen);
                for _ in 0..vlen {
                    let name_off = r.u32().ok_or_else(trunc)?;
                    let lo = r.u32().ok_or_else(trunc)?;
                    let hi = r.u32().ok_or_else(trunc)?;
                    values.push(BtfEnumValue {
                        name_off,
                        value: u64::from(lo) | (u64::from(hi) << 32),
                    });
                }
                BtfKind::Enum64 {
                    size: size_or_type,
                    signed: kflag,
                    values,
                }
            }
            k => return Err(BtfError::UnknownKind { id, kind: k }),
        };
        types.push(BtfType { name_off, kind });
    }
    Ok(types)
}
