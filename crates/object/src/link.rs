//! Linking a program with the functions it calls, as libbpf's `bpf_object__reloc_code` does:
//! each function used is appended once after the program's own code, in the order calls are
//! first met (depth first), and every `Call(Local)` and `Lddw { kind: Func }` is rewritten to
//! the pc-relative offset of its target in the linked program. Func info, line info,
//! relocations and CO-RE records are re-indexed to the linked slots.

use crate::btf::core::CoreRelocation;
use crate::btf::ext::{FuncInfo, LineInfo};
use crate::error::ObjectError;
use crate::reloc::{CodeRef, CodeSection, Func, Relocation, RelocationKind};
use std::collections::HashMap;
use waggle_isa::{CallTarget, Insn, LddwKind, MAX_INSNS};

/// A function placed in a linked program.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LinkedFunction {
    /// The function's name.
    pub name: String,
    /// Its first slot in the linked program.
    pub start: usize,
    /// Its number of slots.
    pub len: usize,
    /// The ELF section it came from.
    pub section: String,
}

/// The output of linking one program.
pub(crate) struct Linked {
    pub insns: Vec<Insn>,
    pub functions: Vec<LinkedFunction>,
    pub relocations: Vec<Relocation>,
    pub func_info: Vec<FuncInfo>,
    pub line_info: Vec<LineInfo>,
    pub core: Vec<CoreRelocation>,
}

/// All functions of all code sections, with lookup by position.
pub(crate) struct Code<'a> {
    pub sections: &'a [CodeSection],
    pub funcs: &'a [Func],
}

impl Code<'_> {
    /// The function containing slot `r.slot` of code section `r.code` (functions are sorted
    /// by section, then start).
    fn function_at(&self, r: CodeRef) -> Option<usize> {
        let i = self
            .funcs
            .partition_point(|f| (f.code, f.start) <= (r.code, r.slot));
        let f = self.funcs.get(i.checked_sub(1)?)?;
        (f.code == r.code && r.slot < f.start + f.len).then(|| i - 1)
    }

    /// Append function `f` to `insns`; returns its first slot.
    fn place(
        &self,
        f: usize,
        insns: &mut Vec<Insn>,
        placed: &mut HashMap<usize, usize>,
        order: &mut Vec<(usize, usize)>,
    ) -> Result<usize, String> {
        let func = &self.funcs[f];
        let sec = &self.sections[func.code];
        let code = sec
            .insns
            .get(func.start..func.start + func.len)
            .ok_or_else(|| format!("function '{}' is outside its section", func.name))?;
        if insns.len() + code.len() > MAX_INSNS {
            return Err(format!("linked program exceeds {MAX_INSNS} instructions"));
        }
        let base = insns.len();
        insns.extend_from_slice(code);
        placed.insert(f, base);
        order.push((f, base));
        Ok(base)
    }

    /// Link the program whose entry is function `main`.
    pub fn link(&self, main: usize) -> Result<Linked, ObjectError> {
        let mf = &self.funcs[main];
        let fail = |reason: String| ObjectError::Link {
            program: mf.name.clone(),
            reason,
        };
        let mut insns: Vec<Insn> = Vec::new();
        let mut placed: HashMap<usize, usize> = HashMap::new();
        let mut order: Vec<(usize, usize)> = Vec::new();
        self.place(main, &mut insns, &mut placed, &mut order)
            .map_err(fail)?;

        // Depth-first, like libbpf's recursion, but with an explicit stack so that deep
        // call chains in hostile input cannot overflow ours.
        let mut stack: Vec<(usize, usize, usize)> = vec![(main, 0, 0)];
        while let Some(top) = stack.last_mut() {
            let (f, base, i) = *top;
            let func = &self.funcs[f];
            if i >= func.len {
                stack.pop();
                continue;
            }
            top.2 += 1;
            let sec = &self.sections[func.code];
            let sec_slot = func.start + i;
            let insn = insns[base + i];
            let target = match insn {
                Insn::Call(CallTarget::Local(imm)) => match sec.relocs.get(&sec_slot) {
                    Some(r) => r.target,
                    None => {
                        // A call without relocation stays within its section.
                        let t = sec_slot as i64 + 1 + i64::from(imm);
                        let slot = usize::try_from(t).map_err(|_| {
                            fail(format!(
                                "insn {}: call target {t} is before its section",
                                base + i
                            ))
                        })?;
                        Some(CodeRef {
                            code: func.code,
                            slot,
                        })
                    }
                },
                Insn::Lddw {
                    kind: LddwKind::Func,
                    ..
                } => {
                    let r = sec.relocs.get(&sec_slot).and_then(|r| r.target);
                    if r.is_none() {
                        return Err(fail(format!(
                            "insn {}: function address load without relocation",
                            base + i
                        )));
                    }
                    r
                }
                _ => None,
            };
            let Some(target) = target else { continue };
            let tf = self.function_at(target).ok_or_else(|| {
                fail(format!(
                    "insn {}: target insn {} of section {} is not in any function",
                    base + i,
                    target.slot,
                    self.sections
                        .get(target.code)
                        .map_or("?", |s| s.name.as_str())
                ))
            })?;
            let tbase = match placed.get(&tf) {
                Some(&b) => b,
                None => {
                    let b = self
                        .place(tf, &mut insns, &mut placed, &mut order)
                        .map_err(fail)?;
                    stack.push((tf, b, 0));
                    b
                }
            };
            let dest = tbase + (target.slot - self.funcs[tf].start);
            let rel = dest as i64 - (base + i) as i64 - 1;
            let rel = i32::try_from(rel).map_err(|_| fail("call offset out of range".into()))?;
            insns[base + i] = match insn {
                Insn::Lddw { dst, imm, .. } => Insn::Lddw {
                    dst,
                    kind: LddwKind::Func,
                    imm: (imm & 0xffff_ffff_0000_0000) | u64::from(rel as u32),
                },
                _ => Insn::Call(CallTarget::Local(rel)),
            };
        }

        let mut out = Linked {
            insns,
            functions: Vec::new(),
            relocations: Vec::new(),
            func_info: Vec::new(),
            line_info: Vec::new(),
            core: Vec::new(),
        };
        for &(f, base) in &order {
            let func = &self.funcs[f];
            let sec = &self.sections[func.code];
            let range = func.start..func.start + func.len;
            let map_slot = |s: usize| base + (s - func.start);
            out.functions.push(LinkedFunction {
                name: func.name.clone(),
                start: base,
                len: func.len,
                section: sec.name.clone(),
            });
            for (&s, r) in sec.relocs.range(range.clone()) {
                let mut kind = r.kind.clone();
                let target_name = r
                    .target
                    .and_then(|t| self.function_at(t))
                    .map(|t| self.funcs[t].name.clone())
                    .unwrap_or_default();
                match &mut kind {
                    RelocationKind::Call { function } | RelocationKind::FuncAddr { function } => {
                        *function = target_name;
                    }
                    _ => {}
                }
                out.relocations.push(Relocation {
                    slot: map_slot(s),
                    symbol: r.symbol.clone(),
                    kind,
                });
            }
            for (s, type_id, name) in &sec.func_info {
                if range.contains(s) {
                    out.func_info.push(FuncInfo {
                        slot: map_slot(*s),
                        type_id: *type_id,
                        name: name.clone(),
                    });
                }
            }
            for l in sec.line_info.iter().filter(|l| range.contains(&l.slot)) {
                out.line_info.push(LineInfo {
                    slot: map_slot(l.slot),
                    ..l.clone()
                });
            }
            for c in sec.core.iter().filter(|c| range.contains(&c.slot)) {
                out.core.push(CoreRelocation {
                    slot: map_slot(c.slot),
                    ..c.clone()
                });
            }
        }
        out.func_info.sort_by_key(|f| f.slot);
        out.line_info.sort_by_key(|l| l.slot);
        out.relocations.sort_by_key(|r| r.slot);
        out.core.sort_by_key(|c| c.slot);
        Ok(out)
    }
}
