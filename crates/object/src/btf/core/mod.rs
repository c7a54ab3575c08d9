//! CO-RE ("compile once, run everywhere") relocations, resolved the way libbpf's
//! `relo_core.c` does and patched into the instructions of an ELF section.
//!
//! Handled: FIELD_BYTE_OFFSET, FIELD_BYTE_SIZE, FIELD_EXISTS, FIELD_SIGNED, FIELD_LSHIFT_U64,
//! FIELD_RSHIFT_U64, TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, ENUMVAL_EXISTS,
//! ENUMVAL_VALUE. Not handled exactly: TYPE_MATCHES is decided with the weaker
//! "compatible" rule of TYPE_EXISTS; candidates come from one target BTF only (no kernel
//! module BTFs); TYPE_ID_TARGET yields an id in that target BTF.

use super::ext::CoreReloRecord;
use super::{Btf, BtfError, BtfKind};
use std::collections::HashMap;
use waggle_isa::RawInsn;

mod calc;
use calc::{calc_relo, patch_insn};

/// libbpf's `BPF_CORE_SPEC_MAX_LEN`.
const SPEC_MAX_LEN: usize = 64;
/// Helper id written into poisoned instructions (libbpf: 0xbad2310, "bad relo").
pub const POISON_HELPER: i32 = 0x0bad_2310;

/// `enum bpf_core_relo_kind`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum CoreReloKind {
    /// Byte offset of a field.
    FieldByteOffset,
    /// Byte size of a field.
    FieldByteSize,
    /// Whether a field exists (1/0).
    FieldExists,
    /// Whether a field is signed (1/0).
    FieldSigned,
    /// Left shift to extract a bitfield from a u64.
    FieldLshiftU64,
    /// Right shift to extract a bitfield from a u64.
    FieldRshiftU64,
    /// The type's id in the local (object) BTF.
    TypeIdLocal,
    /// The type's id in the target BTF.
    TypeIdTarget,
    /// Whether the type exists in the target (1/0).
    TypeExists,
    /// The type's size in the target.
    TypeSize,
    /// Whether an enumerator exists (1/0).
    EnumvalExists,
    /// An enumerator's value in the target.
    EnumvalValue,
    /// Whether the type matches (approximated by TYPE_EXISTS's compatibility rule).
    TypeMatches,
}

impl CoreReloKind {
    /// The kind with number `n`.
    pub fn from_u32(n: u32) -> Option<Self> {
        use CoreReloKind as K;
        Some(match n {
            0 => K::FieldByteOffset,
            1 => K::FieldByteSize,
            2 => K::FieldExists,
            3 => K::FieldSigned,
            4 => K::FieldLshiftU64,
            5 => K::FieldRshiftU64,
            6 => K::TypeIdLocal,
            7 => K::TypeIdTarget,
            8 => K::TypeExists,
            9 => K::TypeSize,
            10 => K::EnumvalExists,
            11 => K::EnumvalValue,
            12 => K::TypeMatches,
            _ => return None,
        })
    }

    fn is_field(self) -> bool {
        use CoreReloKind as K;
        matches!(
            self,
            K::FieldByteOffset
                | K::FieldByteSize
                | K::FieldExists
                | K::FieldSigned
                | K::FieldLshiftU64
                | K::FieldRshiftU64
        )
    }

    fn is_type(self) -> bool {
        use CoreReloKind as K;
        matches!(
            self,
            K::TypeIdLocal | K::TypeIdTarget | K::TypeExists | K::TypeSize | K::TypeMatches
        )
    }

    /// llvm-objdump's name for it (`byte_off`, `field_exists`, …).
    pub fn name(self) -> &'static str {
        use CoreReloKind as K;
        match self {
            K::FieldByteOffset => "byte_off",
            K::FieldByteSize => "byte_sz",
            K::FieldExists => "field_exists",
            K::FieldSigned => "signed",
            K::FieldLshiftU64 => "lshift_u64",
            K::FieldRshiftU64 => "rshift_u64",
            K::TypeIdLocal => "local_type_id",
            K::TypeIdTarget => "target_type_id",
            K::TypeExists => "type_exists",
            K::TypeSize => "type_size",
            K::EnumvalExists => "enumval_exists",
            K::EnumvalValue => "enumval_value",
            K::TypeMatches => "type_matches",
        }
    }
}

/// What applying a CO-RE relocation did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum CoreOutcome {
    /// The instruction's immediate or offset went from `orig` (local BTF) to `new` (target).
    Patched {
        /// Value computed against the local BTF.
        orig: u64,
        /// Value computed against the target BTF, now in the instruction.
        new: u64,
    },
    /// No target matched: the instruction became `call 0xbad2310`, which the verifier rejects
    /// if it is reachable (libbpf's "poisoning").
    Poisoned,
}

/// One applied CO-RE relocation of a program.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CoreRelocation {
    /// The slot (in the linked program once linked; in the ELF section before).
    pub slot: usize,
    /// The relocation kind.
    pub kind: CoreReloKind,
    /// The local root type id.
    pub type_id: u32,
    /// The local root type, described (`struct task_struct`).
    pub type_name: String,
    /// The access spec (`0:1:2`).
    pub access: String,
    /// What was done.
    pub outcome: CoreOutcome,
}

#[derive(Clone, Debug, Default)]
struct Accessor {
    type_id: u32,
    idx: u32,
    /// Member or enumerator name; `None` for array accesses.
    name: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct Spec {
    root_type_id: u32,
    acc: Vec<Accessor>,
    raw_len: usize,
    bit_offset: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Res {
    orig_val: u64,
    new_val: u64,
    poison: bool,
    validate: bool,
    fail_memsz_adjust: bool,
    orig_sz: u32,
    new_sz: u32,
    orig_type_id: u32,
    new_type_id: u32,
}

/// Why a relocation failed (libbpf would fail the load).
type CoreResult<T> = Result<T, String>;

fn btf_err(e: BtfError) -> String {
    e.to_string()
}

/// Applies the CO-RE records of one ELF section to its instructions.
pub(crate) struct CoreApplier<'a> {
    local: &'a Btf,
    target: &'a Btf,
    cands: HashMap<u32, Vec<u32>>,
}

impl<'a> CoreApplier<'a> {
    pub fn new(local: &'a Btf, target: &'a Btf) -> Self {
        CoreApplier {
            local,
            target,
            cands: HashMap::new(),
        }
    }

    /// Resolve `rec` and patch `insns` (slots of its section). `Err` carries the reason.
    pub fn apply(
        &mut self,
        insns: &mut [RawInsn],
        rec: &CoreReloRecord,
    ) -> CoreResult<CoreRelocation> {
        if !rec.insn_off.is_multiple_of(8) {
            return Err(format!(
                "instruction offset {} is not a multiple of 8",
                rec.insn_off
            ));
        }
        let slot = (rec.insn_off / 8) as usize;
        if slot >= insns.len() {
            return Err(format!(
                "instruction offset {} is past the section",
                rec.insn_off
            ));
        }
        let kind = CoreReloKind::from_u32(rec.kind)
            .ok_or_else(|| format!("unknown relocation kind {}", rec.kind))?;
        let access = self
            .local
            .string_at(rec.access_str_off)
            .ok_or_else(|| format!("bad access string offset {}", rec.access_str_off))?
            .to_string();
        let res = self.resolve(rec, kind, &access)?;
        patch_insn(insns, slot, &res)?;
        Ok(CoreRelocation {
            slot,
            kind,
            type_id: rec.type_id,
            type_name: self.local.describe(rec.type_id),
            access,
            outcome: if res.poison {
                CoreOutcome::Poisoned
            } else {
                CoreOutcome::Patched {
                    orig: res.orig_val,
                    new: res.new_val,
                }
            },
        })
    }

    fn resolve(
        &mut self,
        rec: &CoreReloRecord,
        kind: CoreReloKind,
        access: &str,
    ) -> CoreResult<Res> {
        let local = self.local;
        let local_type = local
            .type_by_id(rec.type_id)
            .ok_or_else(|| format!("no local type [{}]", rec.type_id))?;
        let local_spec = parse_spec(local, rec.type_id, kind, access)?;
        if kind == CoreReloKind::TypeIdLocal {
            return Ok(Res {
                orig_val: u64::from(rec.type_id),
                new_val: u64::from(rec.type_id),
                ..Res::default()
            });
        }
        let local_name = local.string_at(local_type.name_off).unwrap_or("");
        if local_name.is_empty() {
            return Err("relocations against anonymous types are not supported".into());
        }
        let cands = match self.cands.get(&rec.type_id) {
            Some(c) => c.clone(),
            None => {
                let c = find_cands(local, rec.type_id, self.target);
                self.cands.insert(rec.type_id, c.clone());
                c
            }
        };
        let mut found: Option<(Res, Spec)> = None;
        for cand in cands {
            let Some(targ_spec) = spec_match(&local_spec, kind, local, self.target, cand)? else {
                continue;
            };
            let res = calc_relo(kind, local, self.target, &local_spec, Some(&targ_spec))?;
            match &found {
                None => found = Some((res, targ_spec)),
                Some((prev, prev_spec)) => {
                    if targ_spec.bit_offset != prev_spec.bit_offset {
                        return Err(format!(
                            "field offset ambiguity: {} != {}",
                            targ_spec.bit_offset, prev_spec.bit_offset
                        ));
                    }
                    if res.poison != prev.poison || res.new_val != prev.new_val {
                        return Err(format!(
                            "relocation decision ambiguity: {} != {}",
                            res.new_val, prev.new_val
                        ));
                    }
                }
            }
        }
        match found {
            Some((res, _)) => Ok(res),
            None => calc_relo(kind, local, self.target, &local_spec, None),
        }
    }
}

/// Length of `name` without a `___flavor` suffix.
fn essential_len(name: &str) -> usize {
    let b = name.as_bytes();
    let n = b.len();
    if n >= 5 {
        for i in (0..=n - 5).rev() {
            if b[i] != b'_'
                && b[i + 1] == b'_'
                && b[i + 2] == b'_'
                && b[i + 3] == b'_'
                && b[i + 4] != b'_'
            {
                return i + 1;
            }
        }
    }
    n
}

fn is_any_enum(k: &BtfKind) -> bool {
    matches!(k, BtfKind::Enum { .. } | BtfKind::Enum64 { .. })
}

fn is_composite(k: &BtfKind) -> bool {
    matches!(k, BtfKind::Struct { .. } | BtfKind::Union { .. })
}

fn kinds_compat(a: &BtfKind, b: &BtfKind) -> bool {
    a.number() == b.number() || (is_any_enum(a) && is_any_enum(b))
}

/// Target types with the same essential name and a compatible kind.
///
/// The target is usually the object's own BTF (no kernel BTF given), standing in for a kernel's,
/// and a kernel's BTF never has `___flavor` names: the object's flavors are its own variants
/// of a kernel type (libbpf-tools' `task_struct___o` for an older layout), so they are not
/// candidates when the real type is there, or a flavor would match itself and its real type
/// at once ("ambiguity").
fn find_cands(local: &Btf, local_id: u32, target: &Btf) -> Vec<u32> {
    let (Some(lt), name) = (local.type_by_id(local_id), local.name(local_id)) else {
        return Vec::new();
    };
    let ess = essential_len(name);
    let ess_name = &name[..ess];
    let cands: Vec<u32> = target
        .types()
        .skip(1)
        .filter(|(id, t)| {
            if !kinds_compat(&t.kind, &lt.kind) {
                return false;
            }
            let tn = target.name(*id);
            !tn.is_empty() && essential_len(tn) == ess && tn.starts_with(ess_name)
        })
        .map(|(id, _)| id)
        .collect();
    // Real types only, unless there is none of that name (then the flavors are all there is
    // to go by). A kernel's BTF has no flavors, so this only matters for the object's own.
    let real: Vec<u32> = cands
        .iter()
        .copied()
        .filter(|&id| target.name(id).len() == ess)
        .collect();
    if real.is_empty() { cands } else { real }
}

/// Parse the local access spec (`bpf_core_parse_spec`).
fn parse_spec(btf: &Btf, type_id: u32, kind: CoreReloKind, access: &str) -> CoreResult<Spec> {
    if access.is_empty() || access.starts_with(':') {
        return Err(format!("invalid access string '{access}'"));
    }
    let mut spec = Spec {
        root_type_id: type_id,
        ..Spec::default()
    };
    if kind.is_type() {
        if access != "0" {
            return Err(format!("type relocation with access string '{access}'"));
        }
        return Ok(spec);
    }
    let mut raw = Vec::new();
    for part in access.split(':') {
        let v: u32 = part
            .parse()
            .map_err(|_| format!("invalid access string '{access}'"))?;
        if raw.len() == SPEC_MAX_LEN {
            return Err("access string too long".into());
        }
        raw.push(v);
    }
    spec.raw_len = raw.len();
    let (mut id, t) = btf.resolved(type_id).map_err(btf_err)?;
    let first = raw[0];
    if matches!(
        kind,
        CoreReloKind::EnumvalExists | CoreReloKind::EnumvalValue
    ) {
        let values = t
            .enum_values()
            .ok_or("enumerator relocation on a non-enum type")?;
        let v = values
            .get(first as usize)
            .filter(|_| raw.len() == 1)
            .ok_or("invalid enumerator access")?;
        spec.acc.push(Accessor {
            type_id: id,
            idx: first,
            name: Some(btf.string_lossy(v.name_off)),
        });
        return Ok(spec);
    }
    if !kind.is_field() {
        return Err("unsupported relocation kind".into());
    }
    spec.acc.push(Accessor {
        type_id: id,
        idx: first,
        name: None,
    });
    let sz = btf.type_size(id).map_err(btf_err)?;
    spec.bit_offset = u64::from(first)
        .checked_mul(sz * 8)
        .ok_or("offset overflow")?;
    for &access_idx in &raw[1..] {
        let (rid, t) = btf.resolved(id).map_err(btf_err)?;
        id = rid;
        if let Some(members) = t.members() {
            let m = members
                .get(access_idx as usize)
                .ok_or_else(|| format!("member index {access_idx} out of range"))?;
            spec.bit_offset = spec.bit_offset.wrapping_add(u64::from(m.bit_offset));
            if m.name_off != 0 {
                let name = btf.string_at(m.name_off).unwrap_or("");
                if name.is_empty() {
                    return Err("member with an empty name".into());
                }
                spec.acc.push(Accessor {
                    type_id: id,
                    idx: access_idx,
                    name: Some(name.to_string()),
                });
            }
            id = m.type_id;
        } else if let BtfKind::Array { elem, nelems, .. } = *t {
            let (eid, _) = btf.resolved(elem).map_err(btf_err)?;
            let flex = is_flex_arr(btf, spec.acc.last(), nelems);
            if !flex && access_idx >= nelems {
                return Err(format!("array index {access_idx} out of range"));
            }
            spec.acc.push(Accessor {
                type_id: eid,
                idx: access_idx,
                name: None,
            });
            id = eid;
            let sz = btf.type_size(eid).map_err(btf_err)?;
            spec.bit_offset = spec
                .bit_offset
                .wrapping_add(u64::from(access_idx).wrapping_mul(sz).wrapping_mul(8));
        } else {
            return Err(format!("access through {} is not possible", t.name()));
        }
    }
    Ok(spec)
}

/// A zero-length array that is the last member of its struct.
fn is_flex_arr(btf: &Btf, acc: Option<&Accessor>, nelems: u32) -> bool {
    let Some(acc) = acc else { return false };
    if acc.name.is_none() || nelems > 0 {
        return false;
    }
    btf.kind(acc.type_id)
        .and_then(BtfKind::members)
        .is_some_and(|m| acc.idx as usize + 1 == m.len())
}

/// Match the local spec against target type `targ_id` (`bpf_core_spec_match`).
fn spec_match(
    local_spec: &Spec,
    kind: CoreReloKind,
    local: &Btf,
    target: &Btf,
    targ_id: u32,
) -> CoreResult<Option<Spec>> {
    let mut ts = Spec {
        root_type_id: targ_id,
        ..Spec::default()
    };
    if kind.is_type() {
        let ok = types_are_compat(local, local_spec.root_type_id, target, targ_id, 32)?;
        return Ok(ok.then_some(ts));
    }
    if matches!(
        kind,
        CoreReloKind::EnumvalExists | CoreReloKind::EnumvalValue
    ) {
        let (tid, t) = target.resolved(targ_id).map_err(btf_err)?;
        let Some(values) = t.enum_values() else {
            return Ok(None);
        };
        let lname = local_spec.acc[0].name.as_deref().unwrap_or("");
        let ess = essential_len(lname);
        for (i, v) in values.iter().enumerate() {
            let tn = target.string_at(v.name_off).unwrap_or("");
            if essential_len(tn) == ess && tn.as_bytes().get(..ess) == lname.as_bytes().get(..ess) {
                ts.acc.push(Accessor {
                    type_id: tid,
                    idx: i as u32,
                    name: Some(tn.to_string()),
                });
                ts.raw_len = 1;
                return Ok(Some(ts));
            }
        }
        return Ok(None);
    }
    let mut targ_id = targ_id;
    for (i, lacc) in local_spec.acc.iter().enumerate() {
        let (tid, tt) = target.resolved(targ_id).map_err(btf_err)?;
        targ_id = tid;
        if lacc.name.is_some() {
            match match_member(local, lacc, target, targ_id, &mut ts)? {
                Some(next) => targ_id = next,
                None => return Ok(None),
            }
        } else {
            if i > 0 {
                let BtfKind::Array { elem, nelems, .. } = *tt else {
                    return Ok(None);
                };
                let flex = is_flex_arr(target, ts.acc.last(), nelems);
                if !flex && lacc.idx >= nelems {
                    return Ok(None);
                }
                targ_id = target.resolve(elem).map_err(btf_err)?;
            }
            if ts.raw_len == SPEC_MAX_LEN {
                return Err("struct/union/array nesting too deep".into());
            }
            ts.acc.push(Accessor {
                type_id: targ_id,
                idx: lacc.idx,
                name: None,
            });
            ts.raw_len += 1;
            let sz = target.type_size(targ_id).map_err(btf_err)?;
            ts.bit_offset = ts
                .bit_offset
                .wrapping_add(u64::from(lacc.idx).wrapping_mul(sz).wrapping_mul(8));
        }
    }
    Ok(Some(ts))
}

/// Find the member named like `lacc` in target composite `targ_id`, descending into
/// anonymous members; returns the member's type id.
fn match_member(
    local: &Btf,
    lacc: &Accessor,
    target: &Btf,
    targ_id: u32,
    spec: &mut Spec,
) -> CoreResult<Option<u32>> {
    let (targ_id, tt) = target.resolved(targ_id).map_err(btf_err)?;
    let Some(members) = tt.members() else {
        return Ok(None);
    };
    let lname = lacc.name.as_deref().unwrap_or("");
    let local_member_type = local
        .kind(lacc.type_id)
        .and_then(BtfKind::members)
        .and_then(|m| m.get(lacc.idx as usize))
        .map(|m| m.type_id)
        .ok_or("bad local accessor")?;
    for (i, m) in members.iter().enumerate() {
        if spec.raw_len == SPEC_MAX_LEN {
            return Err("struct/union/array nesting too deep".into());
        }
        spec.bit_offset = spec.bit_offset.wrapping_add(u64::from(m.bit_offset));
        spec.raw_len += 1;
        let tname = target.string_at(m.name_off).unwrap_or("");
        if tname.is_empty() {
            if let Some(found) = match_member(local, lacc, target, m.type_id, spec)? {
                return Ok(Some(found));
            }
        } else if tname == lname {
            if !fields_are_compat(local, local_member_type, target, m.type_id)? {
                return Ok(None);
            }
            spec.acc.push(Accessor {
                type_id: targ_id,
                idx: i as u32,
                name: Some(tname.to_string()),
            });
            return Ok(Some(m.type_id));
        }
        spec.bit_offset = spec.bit_offset.wrapping_sub(u64::from(m.bit_offset));
        spec.raw_len -= 1;
    }
    Ok(None)
}

/// `bpf_core_fields_are_compat`.
fn fields_are_compat(local: &Btf, mut lid: u32, target: &Btf, mut tid: u32) -> CoreResult<bool> {
    for _ in 0..super::MAX_RESOLVE_DEPTH {
        let (l, lt) = local.resolved(lid).map_err(btf_err)?;
        let (t, tt) = target.resolved(tid).map_err(btf_err)?;
        if is_composite(lt) && is_composite(tt) {
            return Ok(true);
        }
        if !kinds_compat(lt, tt) {
            return Ok(false);
        }
        return Ok(match (lt, tt) {
            (BtfKind::Ptr { .. }, _) | (BtfKind::Float { .. }, _) => true,
            (BtfKind::Fwd { .. } | BtfKind::Enum { .. } | BtfKind::Enum64 { .. }, _) => {
                let (ln, tn) = (local.name(l), target.name(t));
                let (ll, tl) = (essential_len(ln), essential_len(tn));
                ll == 0 || tl == 0 || (ll == tl && ln.get(..ll) == tn.get(..tl))
            }
            (BtfKind::Int { offset: lo, .. }, BtfKind::Int { offset: to, .. }) => {
                *lo == 0 && *to == 0
            }
            (BtfKind::Array { elem: le, .. }, BtfKind::Array { elem: te, .. }) => {
                lid = *le;
                tid = *te;
                continue;
            }
            _ => false,
        });
    }
    Err("type chain too long".into())
}

/// `__bpf_core_types_are_compat`.
fn types_are_compat(local: &Btf, lid: u32, target: &Btf, tid: u32, level: u32) -> CoreResult<bool> {
    let (Some(l0), Some(t0)) = (local.kind(lid), target.kind(tid)) else {
        return Err("bad type id".into());
    };
    if !kinds_compat(l0, t0) {
        return Ok(false);
    }
    let (mut lid, mut tid) = (lid, tid);
    for _ in 0..32 {
        let (_, lt) = local.resolved(lid).map_err(btf_err)?;
        let (_, tt) = target.resolved(tid).map_err(btf_err)?;
        if !kinds_compat(lt, tt) {
            return Ok(false);
        }
        match (lt, tt) {
            (BtfKind::Void, _)
            | (BtfKind::Struct { .. }, _)
            | (BtfKind::Union { .. }, _)
            | (BtfKind::Enum { .. }, _)
            | (BtfKind::Enum64 { .. }, _)
            | (BtfKind::Fwd { .. }, _) => return Ok(true),
            (BtfKind::Int { offset: lo, .. }, BtfKind::Int { offset: to, .. }) => {
                return Ok(*lo == 0 && *to == 0);
            }
            (BtfKind::Ptr { type_id: a }, BtfKind::Ptr { type_id: b }) => {
                lid = *a;
                tid = *b;
            }
            (BtfKind::Array { elem: a, .. }, BtfKind::Array { elem: b, .. }) => {
                lid = *a;
                tid = *b;
            }
            (
                BtfKind::FuncProto {
                    ret: lr,
                    params: lp,
                },
                BtfKind::FuncProto {
                    ret: tr,
                    params: tp,
                },
            ) => {
                if lp.len() != tp.len() {
                    return Ok(false);
                }
                for (a, b) in lp.iter().zip(tp) {
                    if level == 0 {
                        return Err("function prototypes nested too deep".into());
                    }
                    let a = local.resolve(a.type_id).map_err(btf_err)?;
                    let b = target.resolve(b.type_id).map_err(btf_err)?;
                    if !types_are_compat(local, a, target, b, level - 1)? {
                        return Ok(false);
                    }
                }
                lid = *lr;
                tid = *tr;
            }
            _ => return Ok(false),
        }
    }
    Err("type chain too long".into())
}
