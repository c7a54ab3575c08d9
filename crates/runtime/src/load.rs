//! `BPF_PROG_LOAD`: resolve map references, check structure and helper use, prepare the engine.
//!
//! The pipeline is the kernel's: maps referenced by `lddw` are looked up (by handle for
//! `BPF_PSEUDO_MAP_FD`/`MAP_VALUE`, by index into `fd_array` for `MAP_IDX`/`MAP_IDX_VALUE`)
//! and replaced by the map's address or its value's address; the program is verified by
//! `waggle_verifier` (unless the caller explicitly asks to skip it, for raw test code);
//! then the engine is prepared.

use crate::error::Error;
use crate::helpers;
use crate::map::Map;
use crate::program::{CtxUse, DirectValue, Program};
use crate::runtime::Runtime;
use crate::table::{Handle, Object};
use std::fmt::Write;
use std::sync::Arc;
use waggle_isa::{CallTarget, Insn, LddwKind};
use waggle_uapi::{ProgramType, errno};
use waggle_verifier::{InnerMap, MapDesc};
use waggle_vm::Interpreter;

/// `BPF_PROG_LOAD` arguments.
#[derive(Clone, Debug)]
pub struct ProgLoad {
    /// Program type.
    pub prog_type: ProgramType,
    /// Name (truncated to 15 characters).
    pub name: String,
    /// Instruction slots, `lddw` map references unresolved.
    pub insns: Vec<Insn>,
    /// License (`"GPL"` unlocks GPL-only helpers).
    pub license: String,
    /// Maps referenced by index (`BPF_PSEUDO_MAP_IDX*`), as the kernel's `fd_array`.
    pub fd_array: Vec<Handle>,
    /// 0: no log; 1: the error and what led there; 2: every step.
    pub log_level: u32,
    /// Source lines by slot, when the loader has BTF line info (used in messages).
    pub line_info: Vec<waggle_object::LineInfo>,
    /// Skip the verifier. Only for running raw test code (`waggle exec`), never for programs
    /// from objects: an unverified program can crash the interpreter's checks or loop forever.
    pub skip_verifier: bool,
}

impl Default for ProgLoad {
    fn default() -> ProgLoad {
        ProgLoad {
            prog_type: ProgramType::Unspec,
            name: String::new(),
            insns: Vec::new(),
            license: String::new(),
            fd_array: Vec::new(),
            log_level: 0,
            line_info: Vec::new(),
            skip_verifier: false,
        }
    }
}

/// A refused load: the error and the log (the verifier log of the kernel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// errno and message.
    pub error: Error,
    /// What the loader wrote while checking the program.
    pub log: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)?;
        if !self.log.is_empty() {
            write!(f, "\n{}", self.log.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

fn refuse(errno: i32, message: String, attr: &ProgLoad, pc: Option<usize>) -> LoadError {
    let mut log = String::new();
    if attr.log_level > 0 {
        if let Some(pc) = pc {
            let _ = write!(log, "{pc}: ");
            if let Some(line) = attr.line_info.iter().rev().find(|l| l.slot <= pc) {
                let _ = write!(log, "({line}) ");
            }
        }
        let _ = writeln!(log, "{message}");
    }
    LoadError {
        error: Error::new(errno, message),
        log,
    }
}

impl Runtime {
    /// `BPF_PROG_LOAD`.
    pub fn prog_load(&self, attr: &ProgLoad) -> Result<Handle, LoadError> {
        let ctx_use = if attr.skip_verifier {
            None
        } else {
            let stats = self.verify(attr)?;
            Some(CtxUse {
                end: stats.ctx_end,
                writes: stats.ctx_writes,
            })
        };
        let mut insns = attr.insns.clone();
        let mut maps: Vec<Arc<Map>> = Vec::new();
        let mut direct_values = Vec::new();
        let map_of = |h: Handle, pc| match self.object(h) {
            Ok(Object::Map(m)) => Ok(m),
            _ => Err(refuse(
                errno::EBADF,
                format!("fd {h} is not pointing to valid bpf_map"),
                attr,
                Some(pc),
            )),
        };
        for (pc, slot) in insns.iter_mut().enumerate() {
            let Insn::Lddw { dst, kind, imm } = *slot else {
                continue;
            };
            let lo = imm as u32;
            let off = (imm >> 32) as u32;
            let map = match kind {
                // Function pointers (callbacks) stay as they are: the engine resolves them.
                LddwKind::Imm | LddwKind::Func => continue,
                LddwKind::MapFd | LddwKind::MapValue => map_of(Handle(lo), pc)?,
                LddwKind::MapIdx | LddwKind::MapIdxValue => {
                    let h = attr.fd_array.get(lo as usize).copied().ok_or_else(|| {
                        refuse(
                            errno::EINVAL,
                            format!("map index {lo} is beyond fd_array"),
                            attr,
                            Some(pc),
                        )
                    })?;
                    map_of(h, pc)?
                }
                LddwKind::BtfId => {
                    return Err(refuse(
                        errno::ENOTSUPP,
                        format!("lddw of kind {kind:?} (kernel variables) is not supported yet"),
                        attr,
                        Some(pc),
                    ));
                }
            };
            if !maps.iter().any(|m| Arc::ptr_eq(m, &map)) {
                maps.push(map.clone());
            }
            let value = match kind {
                LddwKind::MapFd | LddwKind::MapIdx => map.token(),
                _ => {
                    let addr = direct_value(&map, off)
                        .map_err(|m| refuse(errno::EINVAL, m, attr, Some(pc)))?;
                    let spec = map.inner.spec();
                    let writable = spec.flags & waggle_maps::flags::BPF_F_RDONLY_PROG == 0;
                    if !direct_values
                        .iter()
                        .any(|v: &DirectValue| Arc::ptr_eq(&v.map, &map))
                    {
                        direct_values.push(DirectValue {
                            map: map.clone(),
                            addr: addr - off as usize,
                            len: spec.value_size as usize,
                            writable,
                        });
                    }
                    addr as u64
                }
            };
            *slot = Insn::Lddw {
                dst,
                kind: LddwKind::Imm,
                imm: value,
            };
        }
        waggle_isa::validate(&insns).map_err(|e| {
            let pc = match e {
                waggle_isa::ValidationError::Decode(s) => Some(s.pc),
                _ => None,
            };
            refuse(errno::EINVAL, e.to_string(), attr, pc)
        })?;
        for (pc, insn) in insns.iter().enumerate() {
            if let Insn::Call(CallTarget::Helper(id)) = *insn {
                let name = waggle_uapi::helper(id as u32).map_or("unknown", |h| h.name);
                if !waggle_uapi::helper_allowed(attr.prog_type, id as u32) {
                    return Err(refuse(
                        errno::EINVAL,
                        format!("program of this type cannot use helper bpf_{name}#{id}"),
                        attr,
                        Some(pc),
                    ));
                }
                if !helpers::implemented(id as u32) {
                    return Err(refuse(
                        errno::ENOTSUPP,
                        format!("helper bpf_{name}#{id} is not available in user space yet"),
                        attr,
                        Some(pc),
                    ));
                }
            }
        }
        // Kfuncs run as helpers (the verifier has checked them by name).
        for (pc, insn) in insns.iter_mut().enumerate() {
            if let Insn::Call(CallTarget::Kfunc { btf_id, .. }) = *insn {
                let k = u32::try_from(btf_id).ok().and_then(waggle_uapi::kfunc);
                let Some(k) = k.filter(|k| helpers::implemented(k.helper_id())) else {
                    return Err(refuse(
                        errno::ENOTSUPP,
                        format!(
                            "kernel function call (btf_id {btf_id}) is not available in user space"
                        ),
                        attr,
                        Some(pc),
                    ));
                };
                *insn = Insn::Call(CallTarget::Helper(k.helper_id() as i32));
            }
        }
        let id = self.next_id();
        let (helper_table, env) = helpers::for_program(self, &maps, attr.prog_type);
        let engine = Interpreter::with_callbacks(&insns, helper_table)
            .map_err(|e| refuse(errno::EINVAL, e.to_string(), attr, None))?;
        let name: String = attr.name.chars().take(15).collect();
        let program = Program::new(
            id,
            name,
            attr.prog_type,
            attr.license.clone(),
            insns,
            maps,
            direct_values,
            engine,
            ctx_use,
        );
        let program = Arc::new(program);
        // Timer callbacks take a reference to the program their helpers belong to.
        let _ = env.program.set(Arc::downgrade(&program));
        Ok(self.open(Object::Program(program)))
    }
}

impl Runtime {
    /// Run the verifier on the program as given: map references become indices into a table
    /// of the maps' descriptions (handles and `fd_array` entries alike).
    fn verify(&self, attr: &ProgLoad) -> Result<waggle_verifier::Stats, LoadError> {
        let mut insns = attr.insns.clone();
        let mut maps: Vec<Arc<Map>> = Vec::new();
        for (pc, slot) in insns.iter_mut().enumerate() {
            let Insn::Lddw { dst, kind, imm } = *slot else {
                continue;
            };
            let lo = imm as u32;
            let handle = match kind {
                LddwKind::MapFd | LddwKind::MapValue => Handle(lo),
                LddwKind::MapIdx | LddwKind::MapIdxValue => match attr.fd_array.get(lo as usize) {
                    Some(h) => *h,
                    None => {
                        return Err(refuse(
                            errno::EINVAL,
                            format!("map index {lo} is beyond fd_array"),
                            attr,
                            Some(pc),
                        ));
                    }
                },
                _ => continue,
            };
            let Ok(Object::Map(map)) = self.object(handle) else {
                return Err(refuse(
                    errno::EBADF,
                    format!("fd {} is not pointing to valid bpf_map", handle.0),
                    attr,
                    Some(pc),
                ));
            };
            let idx = match maps.iter().position(|m| Arc::ptr_eq(m, &map)) {
                Some(i) => i,
                None => {
                    maps.push(map);
                    maps.len() - 1
                }
            };
            let kind = match kind {
                LddwKind::MapFd | LddwKind::MapIdx => LddwKind::MapIdx,
                _ => LddwKind::MapIdxValue,
            };
            *slot = Insn::Lddw {
                dst,
                kind,
                imm: idx as u64 | (imm & 0xffff_ffff_0000_0000),
            };
        }
        let descs: Vec<MapDesc> = maps.iter().map(map_desc).collect();
        let line_info: Vec<(usize, String)> = attr
            .line_info
            .iter()
            .map(|l| (l.slot, format!("line {}: `{}`", l.line, l.source.trim())))
            .collect();
        // Kfunc calls carry the numbers the loader gave them (waggle_uapi::kfuncs).
        let kfuncs: Vec<(usize, String)> = insns
            .iter()
            .enumerate()
            .filter_map(|(pc, i)| match *i {
                Insn::Call(CallTarget::Kfunc { btf_id, .. }) => {
                    let k = waggle_uapi::kfunc(u32::try_from(btf_id).ok()?)?;
                    Some((pc, k.name.to_owned()))
                }
                _ => None,
            })
            .collect();
        let prog = waggle_verifier::Program {
            insns: &insns,
            prog_type: attr.prog_type,
            maps: &descs,
            line_info: &line_info,
            kfuncs: &kfuncs,
        };
        // Loads follow Linux's rules for root (privileged, uninitialised stack readable as
        // unknown numbers): a program here runs in its own process, where an uninitialised
        // read only sees stale bytes of its own stack. No `struct bpf_map` layout is given:
        // a map pointer here is no kernel struct, so reading its fields stays refused.
        let opts = waggle_verifier::Options {
            log_level: attr.log_level,
            frozen_values: frozen_values(&maps),
            ..waggle_verifier::Options::with_privileges(true)
        };
        waggle_verifier::verify(&prog, &opts).map_err(|r| LoadError {
            error: Error::new(r.errno(), r.message.clone()),
            log: r.log.clone(),
        })
    }
}

/// The contents of the one-element arrays that are frozen and read-only for programs
/// (`.rodata`, `.kconfig`): nothing can change them any more, so the verifier may read them as
/// numbers, as Linux does for `bpf_map_is_rdonly()` maps.
fn frozen_values(maps: &[Arc<Map>]) -> Vec<(u32, Vec<u8>)> {
    maps.iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let spec = m.inner.spec();
            if !m.inner.is_frozen()
                || spec.flags & waggle_maps::flags::BPF_F_RDONLY_PROG == 0
                || spec.map_type != waggle_maps::MapType::Array
                || spec.max_entries != 1
            {
                return None;
            }
            let mut value = vec![0u8; spec.value_size as usize];
            m.inner.lookup(&0u32.to_ne_bytes(), &mut value).ok()?;
            Some((i as u32, value))
        })
        .collect()
}

/// What the verifier needs to know about a map.
fn map_desc(map: &Arc<Map>) -> MapDesc {
    let spec = map.inner.spec();
    let mut d = MapDesc::new(
        uapi_map_type(spec.map_type),
        spec.key_size,
        spec.value_size,
        spec.max_entries,
        spec.flags,
    );
    d.spin_lock_off = spec.spin_lock_off;
    d.timer_off = spec.timer_off;
    if d.map_type.is_map_in_map() {
        d.inner = match &map.inner_map {
            Some(s) => Some(InnerMap {
                map_type: uapi_map_type(s.map_type),
                key_size: s.key_size,
                value_size: s.value_size,
                max_entries: s.max_entries,
                flags: s.flags,
            }),
            None => inner_desc(map),
        };
    }
    d
}

/// The same map type in the kernel ABI's enum (both use the kernel's numbers).
fn uapi_map_type(t: waggle_maps::MapType) -> waggle_uapi::MapType {
    waggle_uapi::MapType::from_u32(t.as_u32()).unwrap_or(waggle_uapi::MapType::Unspec)
}

/// The description of the maps a map of maps holds, from the first one in it, when it was
/// created without a template (all inner maps must match it anyway).
fn inner_desc(map: &Arc<Map>) -> Option<InnerMap> {
    let ks = map.inner.spec().key_size as usize;
    let mut key: Option<Vec<u8>> = None;
    for _ in 0..map.inner.spec().max_entries.min(1 << 16) {
        let mut next = vec![0u8; ks];
        map.inner.get_next_key(key.as_deref(), &mut next).ok()?;
        if let Some(inner) = map
            .inner
            .lookup_ref(&next)
            .and_then(|r| r.downcast::<Map>())
        {
            let s = inner.inner.spec();
            return Some(InnerMap {
                map_type: uapi_map_type(s.map_type),
                key_size: s.key_size,
                value_size: s.value_size,
                max_entries: s.max_entries,
                flags: s.flags,
            });
        }
        key = Some(next);
    }
    None
}

/// The address of byte `off` of the single value of a map that allows direct value access
/// (arrays with one or more entries: element 0), as the kernel's `map_direct_value_addr`.
fn direct_value(map: &Arc<Map>, off: u32) -> Result<usize, String> {
    let spec = map.inner.spec();
    if spec.map_type != waggle_maps::MapType::Array {
        return Err(format!(
            "map {} does not allow direct value access",
            map.name
        ));
    }
    if off >= spec.value_size {
        return Err(format!(
            "direct value offset {off} is beyond value size {}",
            spec.value_size
        ));
    }
    let ptr = map
        .inner
        .lookup_ptr(&0u32.to_ne_bytes(), 0)
        .ok_or_else(|| format!("map {} has no element 0", map.name))?;
    Ok(ptr.as_ptr() as usize + off as usize)
}
