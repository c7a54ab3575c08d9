//! BTF-typed kernel pointers (the kernel's `PTR_TO_BTF_ID`), following Linux's
//! `btf_ctx_access`, `btf_struct_walk` and `check_ptr_to_btf_access`:
//! - the context of `tp_btf`, `fentry`/`fexit`/`fmod_ret`, `lsm` and `iter` programs holds the
//!   attach target's arguments, 8 bytes each, typed by the kernel BTF: integers are numbers,
//!   pointers to structs are `PTR_TO_BTF_ID` of the struct;
//! - a load through such a pointer resolves the field at its offset (nested structs, unions
//!   and arrays): numbers give unknown scalars, pointers to structs give new (untrusted)
//!   `PTR_TO_BTF_ID`s, padding and loads across fields are refused;
//! - such pointers are read-only, need a constant offset, and need no NULL check (the kernel
//!   turns faulting loads into zeros with its exception table; that is also why the runtime
//!   never loads these programs: user space has no such table).

use crate::explore::{Env, Fail, VResult};
use crate::scalar::Scalar;
use crate::state::{BtfTrust, Ptr, PtrKind, Value};
use waggle_object::{Btf, BtfKind};
use waggle_uapi::{HelperProto, ProgramType};

/// `BTF_KIND_STRUCT`, `BTF_KIND_TYPEDEF`, `BTF_KIND_FUNC`.
const KIND_STRUCT: u8 = 4;
const KIND_TYPEDEF: u8 = 8;
const KIND_FUNC: u8 = 12;
/// The kernel's `MAX_BPF_FUNC_ARGS`: the tracing context has room for 12 arguments.
const MAX_ARGS: i64 = 12;
/// Nesting of structs a field walk follows at most (real kernel structs nest a few levels).
const MAX_DEPTH: usize = 32;

/// What one 8-byte slot of a BTF-typed tracing context holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtxArg {
    /// A number (integer, enum, struct by value, pointer to void or to a number).
    Scalar,
    /// A pointer to a kernel struct or union.
    Ptr {
        /// The struct or union type id (resolved).
        type_id: u32,
        /// What the kernel vouches for.
        trust: BtfTrust,
        /// Whether it may be NULL and must be checked (iterator context fields).
        maybe_null: bool,
    },
    /// An argument the kernel refuses to give (why, as Linux logs it).
    Refused(String),
}

/// The kernel BTF facts one verification needs, computed once.
#[derive(Debug, Default)]
pub struct BtfEnv {
    /// The context's arguments (`None`: not a BTF-typed tracing program, or no kernel BTF),
    /// or why the attach target cannot be found.
    pub ctx: Option<Result<Vec<CtxArg>, String>>,
    /// `struct task_struct` in the kernel BTF (`bpf_get_current_task_btf`'s result).
    pub task_struct: Option<u32>,
    /// LSM programs (`lsm/HOOK`): the return values the hook allows (Linux's
    /// `bpf_lsm_get_retval_range`: 0 or 1 for hooks returning bool, `-MAX_ERRNO..=0` for
    /// those returning int; `None` for void hooks).
    pub lsm_ret: Option<(i64, i64)>,
}

impl BtfEnv {
    /// The facts for a program of type `prog_type` attached to `attach` (section name).
    pub fn new(btf: Option<&Btf>, prog_type: ProgramType, attach: Option<&str>) -> BtfEnv {
        let Some(btf) = btf else {
            return BtfEnv::default();
        };
        let ctx = match (prog_type, attach) {
            (ProgramType::Tracing | ProgramType::Lsm, Some(a)) => ctx_args(btf, a),
            _ => None,
        };
        BtfEnv {
            ctx,
            task_struct: btf.find_by_name("task_struct", KIND_STRUCT),
            lsm_ret: match (prog_type, attach) {
                (ProgramType::Lsm, Some(a)) => lsm_ret(btf, a),
                _ => None,
            },
        }
    }
}

/// The arguments of attach target `attach` (`tp_btf/NAME`, `fentry/FUNC`, …), or `None` when
/// the section is no BTF-typed attach point.
fn ctx_args(btf: &Btf, attach: &str) -> Option<Result<Vec<CtxArg>, String>> {
    let (kind, name) = attach.split_once('/')?;
    let kind = kind.strip_suffix(".s").unwrap_or(kind);
    let not_found = |what: String| format!("{what} not found in the kernel BTF");
    let proto = |func: &str| -> Result<(Vec<u32>, u32), String> {
        let Some(id) = btf.find_by_name(func, KIND_FUNC) else {
            return Err(not_found(format!("function {func}")));
        };
        match btf.kind(id) {
            Some(BtfKind::Func { proto, .. }) => func_proto(btf, *proto),
            _ => Err(not_found(format!("function {func}"))),
        }
    };
    let (params, ret, trust) = match kind {
        "tp_btf" => {
            let tname = format!("btf_trace_{name}");
            let Some(id) = btf.find_by_name(&tname, KIND_TYPEDEF) else {
                return Some(Err(not_found(format!("tracepoint {name} ({tname})"))));
            };
            // A pointer to a prototype whose first argument is the tracepoint's `void *`.
            let p = match btf.resolved(id) {
                Ok((_, BtfKind::Ptr { type_id })) => func_proto(btf, *type_id),
                _ => Err(format!("{tname} is not a pointer to a function prototype")),
            };
            match p {
                Ok((params, _)) => (
                    params.into_iter().skip(1).collect(),
                    None,
                    BtfTrust::Trusted,
                ),
                Err(e) => return Some(Err(e)),
            }
        }
        "fentry" => match proto(name) {
            Ok((params, _)) => (params, None, BtfTrust::Plain),
            Err(e) => return Some(Err(e)),
        },
        "fexit" | "fmod_ret" => match proto(name) {
            Ok((params, ret)) => (params, Some(ret), BtfTrust::Plain),
            Err(e) => return Some(Err(e)),
        },
        "lsm" | "lsm_cgroup" => match proto(&format!("bpf_lsm_{name}")) {
            Ok((params, ret)) => (params, Some(ret), BtfTrust::Trusted),
            Err(e) => return Some(Err(e)),
        },
        "iter" => return Some(iter_args(btf, name)),
        _ => return None,
    };
    let mut args: Vec<CtxArg> = params
        .iter()
        .enumerate()
        .map(|(i, &t)| classify(btf, name, i, t, trust, false))
        .collect();
    if let Some(ret) = ret {
        args.push(if ret == 0 {
            CtxArg::Refused(format!("func '{name}' returns void"))
        } else {
            classify(btf, name, args.len(), ret, BtfTrust::Plain, false)
        });
    }
    Some(Ok(args))
}

/// The return range of LSM hook `lsm/NAME` (`lsm.s/`; not `lsm_cgroup/`, whose programs
/// return 0 or 1 by other rules not modelled here).
fn lsm_ret(btf: &Btf, attach: &str) -> Option<(i64, i64)> {
    const MAX_ERRNO: i64 = 4095;
    let (kind, name) = attach.split_once('/')?;
    if kind != "lsm" && kind != "lsm.s" {
        return None;
    }
    let id = btf.find_by_name(&format!("bpf_lsm_{name}"), KIND_FUNC)?;
    let Some(BtfKind::Func { proto, .. }) = btf.kind(id) else {
        return None;
    };
    let (_, ret) = func_proto(btf, *proto).ok()?;
    match btf.resolved(ret).ok()? {
        (_, BtfKind::Void) => None,
        // BTF_INT_BOOL.
        (_, BtfKind::Int { encoding, .. }) if encoding & 4 != 0 => Some((0, 1)),
        _ => Some((-MAX_ERRNO, 0)),
    }
}

/// The parameter types (without a trailing `...`) and return type of prototype `id`.
fn func_proto(btf: &Btf, id: u32) -> Result<(Vec<u32>, u32), String> {
    match btf.resolved(id) {
        Ok((_, BtfKind::FuncProto { ret, params })) => Ok((
            params
                .iter()
                .filter(|p| p.type_id != 0)
                .map(|p| p.type_id)
                .collect(),
            *ret,
        )),
        _ => Err(format!("type [{id}] is not a function prototype")),
    }
}

/// An iterator's context: the fields of `struct bpf_iter__NAME` (`meta` first, then the
/// objects, which Linux gives as `PTR_TO_BTF_ID_OR_NULL`).
fn iter_args(btf: &Btf, name: &str) -> Result<Vec<CtxArg>, String> {
    let sname = format!("bpf_iter__{name}");
    let members = btf
        .find_by_name(&sname, KIND_STRUCT)
        .and_then(|id| btf.kind(id))
        .and_then(|k| k.members())
        .ok_or_else(|| format!("iterator {name} (struct {sname}) not found in the kernel BTF"))?;
    Ok(members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            classify(
                btf,
                &sname,
                i,
                md_ptr(btf, m.type_id),
                BtfTrust::Trusted,
                i > 0,
            )
        })
        .collect())
}

/// The pointer inside an iterator context field: each is `__bpf_md_ptr(type, name)`, a
/// union holding the pointer (8 bytes on every architecture).
fn md_ptr(btf: &Btf, t: u32) -> u32 {
    match btf.resolved(t) {
        Ok((_, BtfKind::Union { members, .. })) if members.len() == 1 => members[0].type_id,
        _ => t,
    }
}

/// Linux's `btf_ctx_access` for argument `i` of type `t`.
fn classify(btf: &Btf, func: &str, i: usize, t: u32, trust: BtfTrust, maybe_null: bool) -> CtxArg {
    let Ok((_, kind)) = btf.resolved(t) else {
        return CtxArg::Refused(format!("func '{func}' arg{i}: bad type [{t}]"));
    };
    match kind {
        BtfKind::Int { .. }
        | BtfKind::Enum { .. }
        | BtfKind::Enum64 { .. }
        | BtfKind::Struct { .. }
        | BtfKind::Union { .. } => CtxArg::Scalar,
        BtfKind::Ptr { type_id } => match btf.resolved(*type_id) {
            Ok((_, BtfKind::Void | BtfKind::Int { .. })) => CtxArg::Scalar,
            Ok((sid, BtfKind::Struct { .. } | BtfKind::Union { .. })) => CtxArg::Ptr {
                type_id: sid,
                trust,
                maybe_null,
            },
            Ok((_, k)) => CtxArg::Refused(format!(
                "func '{func}' arg{i} type {} is not a struct",
                k.name()
            )),
            Err(_) => CtxArg::Refused(format!("func '{func}' arg{i}: bad type [{type_id}]")),
        },
        k => CtxArg::Refused(format!(
            "func '{func}' arg{i} has type {}. Only pointer access is allowed",
            k.name()
        )),
    }
}

/// What a load through a `PTR_TO_BTF_ID` gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// A number.
    Scalar,
    /// A pointer to the struct or union of this id, read from a field the kernel lists as
    /// trusted when its parent is (`BTF_TYPE_SAFE_TRUSTED`, the few modelled here).
    Ptr(u32, bool),
}

/// Pointer fields that stay trusted when read through a trusted pointer (a subset of Linux's
/// `BTF_TYPE_SAFE_TRUSTED` lists).
const SAFE_TRUSTED: &[(&str, &str)] = &[
    ("bpf_iter_meta", "seq"),
    ("linux_binprm", "file"),
    ("file", "f_inode"),
    ("dentry", "d_inode"),
    ("socket", "sk"),
];

/// Linux's `btf_struct_walk`: the field of struct `type_id` that `[off, off + size)` reads.
pub fn walk(btf: &Btf, type_id: u32, off: u32, size: u32) -> Result<Walk, String> {
    let mut t = type_id;
    let mut off = off;
    // The innermost named struct: fields of anonymous unions (`__bpf_md_ptr`) belong to it.
    let mut named = "";
    'again: for _ in 0..MAX_DEPTH {
        let (tid, kind) = btf.resolved(t).map_err(|e| e.to_string())?;
        let tname = btf.name(tid);
        if !tname.is_empty() {
            named = tname;
        }
        let (tsize, members) = match kind {
            BtfKind::Struct { size, members } | BtfKind::Union { size, members } => {
                (*size, members)
            }
            k => return Err(format!("type {tname} is a {}, not a struct", k.name())),
        };
        if u64::from(off) + u64::from(size) > u64::from(tsize) {
            return Err(format!(
                "access beyond struct {tname} at off {off} size {size}"
            ));
        }
        for m in members {
            let mut moff = m.bit_offset / 8;
            // Sums in u64: a malformed `--btf` file may hold any offsets and sizes.
            let end_access = u64::from(off) + u64::from(size);
            if end_access <= u64::from(moff) {
                break;
            }
            if m.bitfield_size != 0 {
                // Bitfields are read whole or together with neighbours, as numbers.
                let end = (u64::from(m.bit_offset) + u64::from(m.bitfield_size)).div_ceil(8);
                if off <= moff && end <= end_access {
                    return Ok(Walk::Scalar);
                }
                continue;
            }
            if off < moff {
                break;
            }
            let Ok((mut mid, mut mkind)) = btf.resolved(m.type_id) else {
                continue;
            };
            let Ok(msize) = btf.type_size(mid) else {
                continue;
            };
            let mut msize = msize as u32;
            if off >= moff.saturating_add(msize) {
                continue;
            }
            // The whole member's end: numbers may be read across the elements of an array
            // (Linux's `mtrue_end`, "an array of int as a scratch space").
            let mtrue_end = u64::from(moff) + u64::from(msize);
            // An array: the element the offset falls in (arrays of arrays too).
            for _ in 0..MAX_DEPTH {
                let BtfKind::Array { elem, .. } = mkind else {
                    break;
                };
                let Ok((eid, ekind)) = btf.resolved(*elem) else {
                    break;
                };
                let esize = btf.type_size(eid).unwrap_or(0) as u32;
                if esize == 0 {
                    break;
                }
                moff += (off - moff) / esize * esize;
                msize = esize;
                (mid, mkind) = (eid, ekind);
            }
            let mname = btf.string_lossy(m.name_off);
            match mkind {
                BtfKind::Struct { .. } | BtfKind::Union { .. } => {
                    off -= moff;
                    t = mid;
                    continue 'again;
                }
                BtfKind::Ptr { type_id } => {
                    if off != moff || end_access > u64::from(moff) + u64::from(msize) {
                        return Err(format!(
                            "cannot access ptr member {mname} with moff {moff} in struct {tname} with off {off} size {size}"
                        ));
                    }
                    return Ok(match btf.resolved(*type_id) {
                        Ok((sid, BtfKind::Struct { .. } | BtfKind::Union { .. })) if size == 8 => {
                            let safe = SAFE_TRUSTED.contains(&(named, mname.as_str()));
                            Walk::Ptr(sid, safe)
                        }
                        _ => Walk::Scalar,
                    });
                }
                _ => {
                    if end_access > mtrue_end {
                        return Err(format!(
                            "access beyond the end of member {mname} (mend:{mtrue_end}) in struct {tname} with off {off} size {size}"
                        ));
                    }
                    return Ok(Walk::Scalar);
                }
            }
        }
        return Err(format!("struct {tname} doesn't have field at offset {off}"));
    }
    Err(format!("struct [{type_id}] nests too deeply"))
}

impl Env<'_> {
    /// A load from a BTF-typed tracing context or through a `PTR_TO_BTF_ID`: `Some` value,
    /// or `None` when `p` is neither (the caller's rules apply).
    pub fn btf_load(
        &mut self,
        p: &Ptr,
        r: usize,
        off: i64,
        size: u64,
        unknown: Scalar,
    ) -> VResult<Option<Value>> {
        match p.kind {
            PtrKind::Ctx => match &self.btf.ctx {
                Some(Ok(args)) => {
                    let args = args.clone();
                    self.btf_ctx_load(&args, p, r, off, size, unknown).map(Some)
                }
                Some(Err(e)) => Err(Fail::new(
                    format!("invalid bpf_context access off={off} size={size}"),
                    format!("the program's attach target: {e}"),
                )),
                None => Ok(None),
            },
            PtrKind::BtfId { type_id, .. } => self
                .btf_field_load(p, type_id, r, off, size, unknown)
                .map(Some),
            _ => Ok(None),
        }
    }

    fn btf_ctx_load(
        &mut self,
        args: &[CtxArg],
        p: &Ptr,
        r: usize,
        off: i64,
        size: u64,
        unknown: Scalar,
    ) -> VResult<Value> {
        if p.off != 0 || p.var.const_value() != Some(0) {
            return Err(Fail::new(
                format!(
                    "dereference of modified ctx ptr R{r} off={} disallowed",
                    p.off
                ),
                "read the arguments through the original context pointer",
            ));
        }
        let bad = |why: String| {
            Fail::new(
                format!("invalid bpf_context access off={off} size={size}"),
                why,
            )
        };
        if !(0..8 * MAX_ARGS).contains(&off) || off % size as i64 != 0 {
            return Err(bad(format!(
                "the context is {MAX_ARGS} 8-byte arguments, read at multiples of the size"
            )));
        }
        let i = (off / 8) as usize;
        match args.get(i) {
            // Counted from 1, as Linux's log says it.
            None => Err(bad(format!(
                "the attach target doesn't have {}-th argument",
                i + 1
            ))),
            Some(CtxArg::Refused(why)) => Err(bad(why.clone())),
            Some(CtxArg::Scalar) => Ok(Value::Scalar(unknown)),
            Some(CtxArg::Ptr { .. }) if size != 8 || off % 8 != 0 => Ok(Value::Scalar(unknown)),
            Some(&CtxArg::Ptr {
                type_id,
                trust,
                maybe_null,
            }) => {
                let mut q = Ptr::new(PtrKind::BtfId { type_id, trust });
                if maybe_null {
                    q.maybe_null = true;
                    q.id = self.fresh_id();
                }
                Ok(Value::Ptr(q))
            }
        }
    }

    fn btf_field_load(
        &mut self,
        p: &Ptr,
        type_id: u32,
        r: usize,
        off: i64,
        size: u64,
        unknown: Scalar,
    ) -> VResult<Value> {
        let btf = self
            .opts
            .kernel_btf
            .as_ref()
            .ok_or_else(|| Fail::bare("BTF pointer without kernel BTF"))?;
        let tname = btf.name(type_id);
        let total = p.off + off;
        if total < 0 {
            return Err(Fail::new(
                format!("R{r} is ptr_{tname} invalid negative access: off={total}"),
                "kernel struct fields are at non-negative offsets",
            ));
        }
        if p.var.const_value() != Some(0) {
            return Err(Fail::new(
                format!(
                    "R{r} is ptr_{tname} invalid variable offset: off={total}, var_off={}",
                    p.var
                ),
                "fields of kernel structs are read at constant offsets",
            ));
        }
        let total = u32::try_from(total).unwrap_or(u32::MAX);
        match walk(btf, type_id, total, size as u32) {
            Ok(Walk::Scalar) => Ok(Value::Scalar(unknown)),
            // Fields are read with the kernel's exception table: untrusted, but not NULL-checked.
            // Linux's check_ptr_to_btf_access: through a trusted pointer, listed fields stay
            // trusted; others are RCU or plain pointers in non-sleepable programs (always in
            // an RCU read section), untrusted in sleepable ones; through a plain pointer,
            // plain ("old compat"); through an untrusted one, untrusted.
            Ok(Walk::Ptr(sid, safe)) => {
                let parent = match p.kind {
                    PtrKind::BtfId { trust, .. } => trust,
                    _ => BtfTrust::Untrusted,
                };
                let trust = match parent {
                    BtfTrust::Trusted if safe => BtfTrust::Trusted,
                    BtfTrust::Trusted if !self.sleepable() => BtfTrust::Plain,
                    BtfTrust::Plain => BtfTrust::Plain,
                    _ => BtfTrust::Untrusted,
                };
                Ok(Value::Ptr(Ptr::new(PtrKind::BtfId {
                    type_id: sid,
                    trust,
                })))
            }
            Err(e) => Err(Fail::new(
                e,
                format!("read a field of struct {tname} whole, at its offset"),
            )),
        }
    }

    /// Whether the program is sleepable (`.s` sections: `fentry.s/`, `lsm.s/`, `iter.s/`).
    fn sleepable(&self) -> bool {
        self.opts
            .attach_to
            .as_deref()
            .and_then(|a| a.split_once('/'))
            .is_some_and(|(k, _)| k.ends_with(".s"))
    }

    /// `bpf_get_current_task_btf`'s result: a trusted `struct task_struct` pointer.
    pub fn current_task_btf(&self) -> VResult<Value> {
        match self.btf.task_struct {
            Some(type_id) => Ok(Value::Ptr(Ptr::new(PtrKind::BtfId {
                type_id,
                trust: BtfTrust::Trusted,
            }))),
            None => Err(Fail::new(
                "bpf_get_current_task_btf needs the kernel BTF",
                "its result is typed by the kernel BTF's struct task_struct: give the kernel BTF \
                 (/sys/kernel/btf/vmlinux, or `waggle verify --btf FILE`)",
            )),
        }
    }

    /// A helper's `ARG_PTR_TO_BTF_ID(_OR_NULL)` argument in `r`: a trusted or plain (not
    /// untrusted) kernel object of the struct the helper names, unmoved (Linux's
    /// `check_reg_type` with `btf_ptr_types` and `check_func_arg_reg_off`).
    pub fn btf_helper_arg(
        &self,
        r: usize,
        v: &Value,
        or_null: bool,
        proto: &HelperProto,
    ) -> VResult<()> {
        let want = match proto.id {
            126 | 127 => "seq_file",
            141 | 156 | 157 => "task_struct",
            _ => {
                return Err(Fail::new(
                    format!("{} kernel object arguments not supported", proto.c_name()),
                    "only seq_printf, seq_write, get_task_stack and task_storage_get/delete                      take kernel objects here",
                ));
            }
        };
        let expected = "ptr_, trusted_ptr_, rcu_ptr_";
        match v {
            Value::Scalar(s) if or_null && s.const_value() == Some(0) => Ok(()),
            Value::Ptr(p) => {
                let PtrKind::BtfId { type_id, trust } = p.kind else {
                    return Err(Fail::new(
                        format!("R{r} type={} expected={expected}", p.kind.name()),
                        format!("{} takes a struct {want} pointer", proto.c_name()),
                    ));
                };
                if p.maybe_null {
                    return Err(Fail::new(
                        format!("Possibly NULL pointer passed to helper arg{}", r - 1),
                        format!("compare r{r} with NULL first"),
                    ));
                }
                if trust == BtfTrust::Untrusted {
                    return Err(Fail::new(
                        format!("R{r} type=untrusted_ptr_ expected={expected}"),
                        "pointers read from kernel struct fields are untrusted: pass a program                          argument or bpf_get_current_task_btf()",
                    ));
                }
                if p.off != 0 || p.var.const_value() != Some(0) {
                    return Err(Fail::new(
                        format!(
                            "dereference of modified ptr_ ptr R{r} off={} disallowed",
                            p.off
                        ),
                        "pass the object's own pointer",
                    ));
                }
                let name = self
                    .opts
                    .kernel_btf
                    .as_ref()
                    .map_or("", |b| b.name(type_id));
                if name != want {
                    return Err(Fail::new(
                        format!("R{r} is of type {name} but {want} is expected"),
                        format!("{} takes a struct {want} pointer", proto.c_name()),
                    ));
                }
                Ok(())
            }
            _ => Err(Fail::new(
                format!("R{r} type=scalar expected={expected}"),
                format!("{} takes a struct {want} pointer", proto.c_name()),
            )),
        }
    }

    /// The return values the program may give at exit (`check_return_code`): iterators
    /// (`iter/…`) return 0 or 1, LSM programs what their hook allows; other types by
    /// [`crate::exec::return_range`].
    pub fn exit_range(&self) -> Option<(i64, i64)> {
        let iter = self.prog_type == ProgramType::Tracing
            && self
                .opts
                .attach_to
                .as_deref()
                .is_some_and(|a| a.starts_with("iter/") || a.starts_with("iter.s/"));
        if iter {
            Some((0, 1))
        } else if let Some(r) = self.btf.lsm_ret {
            Some(r)
        } else {
            crate::exec::return_range(self.prog_type)
        }
    }

    /// Whether a comparison of `p` with NULL may go both ways although `p` is not marked
    /// maybe-NULL: only trusted kernel pointers are known not to be (Linux's `reg_not_null`).
    pub fn btf_may_be_zero(p: &Ptr) -> bool {
        matches!(p.kind, PtrKind::BtfId { trust, .. } if trust != BtfTrust::Trusted)
    }

    /// The hint for a dereference of a number, naming the missing kernel BTF when the program
    /// type's arguments are BTF-typed pointers.
    pub fn btf_scalar_hint(&self, r: u8) -> Option<String> {
        (matches!(self.prog_type, ProgramType::Tracing | ProgramType::Lsm)
            && self.opts.kernel_btf.is_none())
        .then(|| {
            format!(
                "r{r} holds a number: without the kernel BTF (/sys/kernel/btf/vmlinux, or \
                 `waggle verify --btf FILE`, not given) the arguments of BTF-typed tracing \
                 programs are plain numbers"
            )
        })
    }
}
