//! Direct forms of the hot helpers for verified JIT code ([`NativeHelper`]): plain
//! `extern "C"` functions taking r1..=r5 and the program's [`Env`], called by a `call` in the
//! generated code, with no `HelperContext`, no `catch_unwind` and no `Arc<dyn Fn>`. They do
//! what the generic forms (`maps.rs`, `misc.rs`) do and must stay in step with them.
//!
//! The `unsafe` here: turning the `data` pointer back into the `Env` (registered with it,
//! kept alive by the helper table the JIT holds), and reading keys and values through
//! pointers the verifier proved valid for the map's key and value sizes (`ARG_PTR_TO_MAP_KEY`,
//! `ARG_PTR_TO_MAP_VALUE`): verified code is the only caller (see `waggle_vm::NativeHelper`).
//! Map arguments are not trusted: the token must name one of the program's maps, as in the
//! generic forms. None of them panics (a panic here would abort: there is no unwinding guard).

use super::{Env, misc, neg};
use crate::map::Map;
use crate::run_state::current_cpu;
use std::ffi::c_void;
use std::sync::Arc;
use waggle_uapi::errno;
use waggle_vm::NativeFn;

/// The helpers with a direct form: id and function.
pub(super) static NATIVE: &[(u32, NativeFn)] = &[
    (1, map_lookup_elem),
    (2, map_update_elem),
    (3, map_delete_elem),
    (5, ktime_get_ns),
    (7, get_prandom_u32),
    (8, get_smp_processor_id),
    (125, ktime_get_ns),
    (160, ktime_get_ns),
];

/// The `Env` a direct helper was registered with.
///
/// # Safety
///
/// `data` must be the data pointer of a `NativeHelper` built in `helpers::for_program`
/// (an `Arc<Env>`'s value), called while the helper table holding it lives.
unsafe fn env<'a>(data: *const c_void) -> &'a Env {
    // SAFETY: per the contract, `data` points to a live `Env` (kept alive by the `Arc` in
    // the `NativeHelper`, which the running program's helper table holds).
    unsafe { &*data.cast::<Env>() }
}

/// `len` bytes at `addr`, copied into `buf` (or a heap buffer when larger): the copy keeps
/// the map from seeing memory it may itself overwrite (a value of the same map).
///
/// # Safety
///
/// `addr` must be valid for reading `len` bytes (the verifier's proof for the argument).
unsafe fn copy_in<'b>(
    addr: u64,
    len: usize,
    buf: &'b mut [u8; 64],
    heap: &'b mut Vec<u8>,
) -> &'b [u8] {
    // SAFETY: per the contract, `len` bytes at `addr` are readable; they are copied at once
    // and no reference to them outlives this call.
    let src = unsafe { std::slice::from_raw_parts(addr as usize as *const u8, len) };
    if len <= buf.len() {
        buf[..len].copy_from_slice(src);
        &buf[..len]
    } else {
        heap.extend_from_slice(src);
        heap
    }
}

/// The map named by `token` when it is one of the program's maps (borrowed), else an inner
/// map the program reached (shared).
fn with_map<R>(env: &Env, token: u64, f: impl FnOnce(&Arc<Map>) -> R) -> Option<R> {
    if let Some(m) = env.maps.iter().find(|m| m.token() == token) {
        return Some(f(m));
    }
    env.map(token).ok().map(|m| f(&m))
}

/// `bpf_map_lookup_elem(map, key)`.
unsafe extern "C" fn map_lookup_elem(
    map: u64,
    key: u64,
    _: u64,
    _: u64,
    _: u64,
    data: *const c_void,
) -> u64 {
    // SAFETY: registered by `for_program` with its `Env`.
    let env = unsafe { env(data) };
    with_map(env, map, |m| {
        let spec = m.inner.spec();
        let (mut buf, mut heap) = ([0u8; 64], Vec::new());
        // SAFETY: `key` points to `key_size` readable bytes (ARG_PTR_TO_MAP_KEY).
        let k = unsafe { copy_in(key, spec.key_size as usize, &mut buf, &mut heap) };
        if matches!(
            spec.map_type,
            waggle_maps::MapType::ArrayOfMaps | waggle_maps::MapType::HashOfMaps
        ) {
            return match m.inner.lookup_ref(k).and_then(|r| r.downcast::<Map>()) {
                Some(inner) => env.reach_inner(inner),
                None => 0,
            };
        }
        m.inner
            .lookup_ptr(k, current_cpu())
            .map_or(0, |p| p.as_ptr() as u64)
    })
    .unwrap_or(0)
}

/// `bpf_map_update_elem(map, key, value, flags)`.
unsafe extern "C" fn map_update_elem(
    map: u64,
    key: u64,
    value: u64,
    flags: u64,
    _: u64,
    data: *const c_void,
) -> u64 {
    // SAFETY: registered by `for_program` with its `Env`.
    let env = unsafe { env(data) };
    with_map(env, map, |m| {
        let spec = m.inner.spec();
        let (mut kb, mut kh) = ([0u8; 64], Vec::new());
        let (mut vb, mut vh) = ([0u8; 64], Vec::new());
        // SAFETY: `key` and `value` point to `key_size` and `value_size` readable bytes
        // (ARG_PTR_TO_MAP_KEY, ARG_PTR_TO_MAP_VALUE).
        let (k, v) = unsafe {
            (
                copy_in(key, spec.key_size as usize, &mut kb, &mut kh),
                copy_in(value, spec.value_size as usize, &mut vb, &mut vh),
            )
        };
        match m.inner.prog_update(k, v, flags, current_cpu()) {
            Ok(()) => 0,
            Err(e) => neg(e.errno()),
        }
    })
    .unwrap_or(neg(errno::EINVAL))
}

/// `bpf_map_delete_elem(map, key)`.
unsafe extern "C" fn map_delete_elem(
    map: u64,
    key: u64,
    _: u64,
    _: u64,
    _: u64,
    data: *const c_void,
) -> u64 {
    // SAFETY: registered by `for_program` with its `Env`.
    let env = unsafe { env(data) };
    with_map(env, map, |m| {
        let (mut buf, mut heap) = ([0u8; 64], Vec::new());
        // SAFETY: `key` points to `key_size` readable bytes (ARG_PTR_TO_MAP_KEY).
        let k = unsafe { copy_in(key, m.inner.spec().key_size as usize, &mut buf, &mut heap) };
        match m.inner.prog_delete(k) {
            Ok(()) => 0,
            Err(e) => neg(e.errno()),
        }
    })
    .unwrap_or(neg(errno::EINVAL))
}

/// `bpf_ktime_get_ns()` (and `_boot_ns`, `_coarse_ns`).
unsafe extern "C" fn ktime_get_ns(_: u64, _: u64, _: u64, _: u64, _: u64, _: *const c_void) -> u64 {
    misc::now_ns()
}

/// `bpf_get_prandom_u32()`.
unsafe extern "C" fn get_prandom_u32(
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: *const c_void,
) -> u64 {
    misc::prandom_u32()
}

/// `bpf_get_smp_processor_id()`.
unsafe extern "C" fn get_smp_processor_id(
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: *const c_void,
) -> u64 {
    current_cpu().into()
}
