//! Computing a CO-RE relocation's values (`bpf_core_calc_relo`) and patching the
//! instruction (`bpf_core_patch_insn`).

use super::{CoreReloKind, CoreResult, POISON_HELPER, Res, Spec, btf_err};
use crate::btf::{Btf, BtfKind};
use waggle_isa::RawInsn;

/// `bpf_core_calc_relo`: the value against the local spec and against the target (if any).
pub(super) fn calc_relo(
    kind: CoreReloKind,
    local: &Btf,
    target: &Btf,
    ls: &Spec,
    ts: Option<&Spec>,
) -> CoreResult<Res> {
    let mut res = Res {
        validate: true,
        ..Res::default()
    };
    let poisoned = |mut r: Res| {
        r.poison = true;
        Ok(r)
    };
    if kind.is_field() {
        let (orig, orig_sz, orig_tid, validate) = match field_relo(kind, local, Some(ls))? {
            Some(v) => v,
            None => return poisoned(res),
        };
        res.orig_val = orig;
        res.orig_sz = orig_sz;
        res.orig_type_id = orig_tid;
        res.validate = validate;
        let Some((new, new_sz, new_tid, _)) = field_relo(kind, target, ts)? else {
            return poisoned(res);
        };
        res.new_val = new;
        res.new_sz = new_sz;
        res.new_type_id = new_tid;
        if res.orig_sz != res.new_sz {
            // Only zero-extending loads stay correct at another size: pointers and
            // unsigned integers.
            let lk = local.kind(res.orig_type_id);
            let tk = target.kind(res.new_type_id);
            let unsigned = |k: Option<&BtfKind>| matches!(k, Some(BtfKind::Int { encoding, .. }) if encoding & crate::btf::types::INT_SIGNED == 0);
            let ok = (matches!(lk, Some(BtfKind::Ptr { .. }))
                && matches!(tk, Some(BtfKind::Ptr { .. })))
                || (unsigned(lk) && unsigned(tk));
            res.fail_memsz_adjust = !ok;
        }
    } else if kind.is_type() {
        res.orig_val = type_relo(kind, local, Some(ls))?;
        if kind == CoreReloKind::TypeIdTarget && ts.is_none() {
            // libbpf: a missing target gives 0 for type-based relocations.
            res.new_val = 0;
        } else {
            res.new_val = type_relo(kind, target, ts)?;
        }
        if kind == CoreReloKind::TypeIdTarget {
            res.validate = false;
        }
    } else {
        res.orig_val = enum_relo(kind, local, Some(ls))?.ok_or("bad local enumerator")?;
        match enum_relo(kind, target, ts)? {
            Some(v) => res.new_val = v,
            None => return poisoned(res),
        }
    }
    Ok(res)
}

/// Field value, memory size, field type id and whether to validate; `None` = poison.
fn field_relo(
    kind: CoreReloKind,
    btf: &Btf,
    spec: Option<&Spec>,
) -> CoreResult<Option<(u64, u32, u32, bool)>> {
    if kind == CoreReloKind::FieldExists {
        return Ok(Some((u64::from(spec.is_some()), 0, 0, true)));
    }
    let Some(spec) = spec else { return Ok(None) };
    let acc = spec.acc.last().ok_or("empty spec")?;
    let size32 = |v: u64| u32::try_from(v).map_err(|_| "size overflow".to_string());
    if acc.name.is_none() {
        let sz = size32(btf.type_size(acc.type_id).map_err(btf_err)?)?;
        return match kind {
            CoreReloKind::FieldByteOffset => Ok(Some((spec.bit_offset / 8, sz, acc.type_id, true))),
            CoreReloKind::FieldByteSize => Ok(Some((u64::from(sz), 0, 0, true))),
            _ => Err("relocation kind cannot be applied to an array access".into()),
        };
    }
    let members = btf
        .kind(acc.type_id)
        .and_then(BtfKind::members)
        .ok_or("accessor is not a struct member")?;
    let m = members.get(acc.idx as usize).ok_or("bad member index")?;
    let (field_tid, mt) = btf.resolved(m.type_id).map_err(btf_err)?;
    let bit_off = spec.bit_offset;
    let mut bit_sz = u64::from(m.bitfield_size);
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz);
    if bitfield {
        let mut sz = u64::from(match mt {
            BtfKind::Int { size, .. }
            | BtfKind::Enum { size, .. }
            | BtfKind::Enum64 { size, .. } => *size,
            _ => return Err("bitfield of a non-integer type".into()),
        });
        if sz == 0 {
            return Err("bitfield of size 0".into());
        }
        let end = bit_off
            .checked_add(bit_sz)
            .ok_or("bitfield offset overflow")?;
        let mut off = bit_off / 8 / sz * sz;
        while end - off * 8 > sz * 8 {
            if sz >= 8 {
                return Err("bitfield cannot be read with a 64-bit load".into());
            }
            sz *= 2;
            off = bit_off / 8 / sz * sz;
        }
        byte_off = off;
        byte_sz = sz;
    } else {
        byte_sz = btf.type_size(field_tid).map_err(btf_err)?;
        byte_off = bit_off / 8;
        bit_sz = byte_sz.wrapping_mul(8);
    }
    let validate = !bitfield;
    Ok(Some(match kind {
        CoreReloKind::FieldByteOffset => {
            if bitfield {
                (byte_off, 0, 0, validate)
            } else {
                // Loads and stores use the element size of arrays.
                let mut elem = field_tid;
                for _ in 0..crate::btf::MAX_RESOLVE_DEPTH {
                    match btf.resolved(elem).map_err(btf_err)? {
                        (_, BtfKind::Array { elem: e, .. }) => elem = *e,
                        (id, _) => {
                            elem = id;
                            break;
                        }
                    }
                }
                let sz = size32(btf.type_size(elem).map_err(btf_err)?)?;
                (byte_off, sz, field_tid, validate)
            }
        }
        CoreReloKind::FieldByteSize => (byte_sz, 0, 0, validate),
        CoreReloKind::FieldSigned => {
            let signed = match mt {
                BtfKind::Enum { signed, .. } | BtfKind::Enum64 { signed, .. } => *signed,
                BtfKind::Int { encoding, .. } => encoding & crate::btf::types::INT_SIGNED != 0,
                _ => false,
            };
            (u64::from(signed), 0, 0, true)
        }
        CoreReloKind::FieldLshiftU64 => (
            64u64.wrapping_sub(
                bit_off
                    .wrapping_add(bit_sz)
                    .wrapping_sub(byte_off.wrapping_mul(8)),
            ),
            0,
            0,
            validate,
        ),
        CoreReloKind::FieldRshiftU64 => (64u64.wrapping_sub(bit_sz), 0, 0, true),
        _ => return Err("unsupported field relocation".into()),
    }))
}

fn type_relo(kind: CoreReloKind, btf: &Btf, spec: Option<&Spec>) -> CoreResult<u64> {
    let Some(spec) = spec else { return Ok(0) };
    Ok(match kind {
        CoreReloKind::TypeIdTarget | CoreReloKind::TypeIdLocal => u64::from(spec.root_type_id),
        CoreReloKind::TypeExists | CoreReloKind::TypeMatches => 1,
        CoreReloKind::TypeSize => btf.type_size(spec.root_type_id).map_err(btf_err)?,
        _ => return Err("unsupported type relocation".into()),
    })
}

/// Enumerator value; `None` = poison.
fn enum_relo(kind: CoreReloKind, btf: &Btf, spec: Option<&Spec>) -> CoreResult<Option<u64>> {
    match kind {
        CoreReloKind::EnumvalExists => Ok(Some(u64::from(spec.is_some()))),
        CoreReloKind::EnumvalValue => {
            let Some(spec) = spec else { return Ok(None) };
            let acc = spec.acc.first().ok_or("empty spec")?;
            let v = btf
                .kind(acc.type_id)
                .and_then(BtfKind::enum_values)
                .and_then(|v| v.get(acc.idx as usize))
                .ok_or("bad enumerator")?;
            Ok(Some(v.value))
        }
        _ => Err("unsupported enumerator relocation".into()),
    }
}

fn poison(insn: &mut RawInsn) {
    *insn = RawInsn {
        code: 0x85,
        imm: POISON_HELPER,
        ..RawInsn::default()
    };
}

/// `bpf_core_patch_insn`.
pub(super) fn patch_insn(insns: &mut [RawInsn], slot: usize, res: &Res) -> CoreResult<()> {
    let is_ldimm64 = |i: &RawInsn| i.code == 0x18;
    let insn = insns[slot];
    let class = insn.code & 0x07;
    let poison_all = |insns: &mut [RawInsn]| {
        if is_ldimm64(&insns[slot])
            && let Some(next) = insns.get_mut(slot + 1)
        {
            poison(next);
        }
        poison(&mut insns[slot]);
    };
    if res.poison {
        poison_all(insns);
        return Ok(());
    }
    let (orig, new) = (res.orig_val, res.new_val);
    match class {
        // ALU, ALU64 with an immediate.
        0x04 | 0x07 => {
            if insn.code & 0x08 != 0 {
                return Err("ALU instruction with a register source".into());
            }
            if res.validate && insn.imm as i64 as u64 != orig {
                return Err(format!(
                    "unexpected instruction immediate {} (expected {orig})",
                    insn.imm
                ));
            }
            insns[slot].imm = new as i32;
        }
        // LDX, ST, STX.
        0x01..=0x03 => {
            if res.validate && insn.off as i64 as u64 != orig {
                return Err(format!(
                    "unexpected instruction offset {} (expected {orig})",
                    insn.off
                ));
            }
            if new > i16::MAX as u64 {
                return Err(format!("offset {new} does not fit the instruction"));
            }
            if res.fail_memsz_adjust {
                poison_all(insns);
                return Ok(());
            }
            insns[slot].off = new as i16;
            if res.new_sz != res.orig_sz {
                let cur = match insn.code & 0x18 {
                    0x00 => 4,
                    0x08 => 2,
                    0x10 => 1,
                    _ => 8,
                };
                if cur != res.orig_sz {
                    return Err(format!(
                        "unexpected memory size {cur} (expected {})",
                        res.orig_sz
                    ));
                }
                let bits = match res.new_sz {
                    4 => 0x00,
                    2 => 0x08,
                    1 => 0x10,
                    8 => 0x18,
                    s => return Err(format!("cannot access {s} bytes with one instruction")),
                };
                insns[slot].code = (insn.code & !0x18) | bits;
            }
        }
        // LD: only lddw with a plain immediate.
        0x00 => {
            let next = insns.get(slot + 1).copied().unwrap_or(RawInsn {
                code: 0xff,
                ..RawInsn::default()
            });
            if !is_ldimm64(&insn)
                || insn.src != 0
                || insn.off != 0
                || next.code != 0
                || next.dst != 0
                || next.src != 0
                || next.off != 0
            {
                return Err("lddw has an unexpected form".into());
            }
            let imm = u64::from(insn.imm as u32) | (u64::from(next.imm as u32) << 32);
            if res.validate && imm != orig {
                return Err(format!("unexpected lddw value {imm} (expected {orig})"));
            }
            insns[slot].imm = new as u32 as i32;
            insns[slot + 1].imm = (new >> 32) as u32 as i32;
        }
        _ => {
            return Err(format!(
                "cannot relocate instruction with opcode {:#04x}",
                insn.code
            ));
        }
    }
    Ok(())
}
