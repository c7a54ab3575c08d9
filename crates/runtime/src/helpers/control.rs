//! Control-flow helpers: tail calls, callbacks (`bpf_loop`, `bpf_for_each_map_elem`) and
//! spin locks.
//!
//! - `tail_call` asks `run_state` for a tail call and ends the program
//!   ([`HelperError::Exit`]); [`Program`]'s run loop then runs the target with r1 = the
//!   context given to `tail_call` (the program's own, in practice).
//!   A failed tail call returns a negative errno and the program goes on (`-EINVAL`: not a
//!   prog array, `-E2BIG`: index out of range, `-ENOENT`: empty slot, `-EBUSY`: the run
//!   already took `MAX_TAIL_CALL_CNT` (33) tail calls). A tail call from inside a callback
//!   only ends the callback (the kernel's verifier refuses such programs).
//! - Callbacks run as nested BPF-to-BPF calls through [`HelperContext::call_function`].
//! - `spin_lock` takes the `bpf_spin_lock` word (4-aligned) in an array or hash map value the
//!   run may access (the verifier's BTF check of the lock's place is not done); a run holds
//!   at most one lock (as the verifier requires) and one still held when the run ends is
//!   released.

use super::{Body, Env, neg};
use crate::map::Map;
use crate::memory::map_region;
use crate::program::Program;
use crate::run_state::{self, current_cpu};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use waggle_maps::{MapKind, MapType, Storage};
use waggle_uapi::errno;
use waggle_vm::{HelperContext, HelperError};

pub(super) static HELPERS: &[(u32, Body)] = &[
    (12, tail_call),
    (93, spin_lock),
    (94, spin_unlock),
    (164, for_each_map_elem),
    (181, bpf_loop),
];

/// `BPF_MAX_LOOPS`: most iterations of `bpf_loop`.
const BPF_MAX_LOOPS: u64 = 8 * 1024 * 1024;

/// `long bpf_tail_call(ctx, prog_array, index)`.
fn tail_call(env: &Env, _: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = env.map(a[1])?;
    let spec = map.inner.spec();
    if spec.map_type != MapType::ProgArray {
        return Ok(neg(errno::EINVAL));
    }
    let index = a[2] as u32;
    if index >= spec.max_entries {
        return Ok(neg(errno::E2BIG));
    }
    let Some(target) = map
        .inner
        .lookup_ref(&index.to_ne_bytes())
        .and_then(|r| r.downcast::<Program>())
    else {
        return Ok(neg(errno::ENOENT));
    };
    if !run_state::request_tail_call(target, a[0]) {
        return Ok(neg(errno::EBUSY));
    }
    Err(HelperError::Exit(0))
}

/// `long bpf_loop(nr_loops, callback_fn, callback_ctx, flags)`: calls
/// `callback_fn(index, callback_ctx)` until it returns non-zero; returns the number of calls.
fn bpf_loop(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let n = u64::from(a[0] as u32);
    if a[3] != 0 {
        return Ok(neg(errno::EINVAL));
    }
    if n > BPF_MAX_LOOPS {
        return Ok(neg(errno::E2BIG));
    }
    for i in 0..n {
        if ctx.call_function(a[1], [i, a[2], 0, 0, 0])? != 0 {
            return Ok(i + 1);
        }
    }
    Ok(n)
}

/// `long bpf_for_each_map_elem(map, callback_fn, callback_ctx, flags)`: calls
/// `callback_fn(map, &key, &value, callback_ctx)` for each element (arrays and hash maps)
/// until it returns non-zero; returns the number of calls. The key is a read-only copy.
fn for_each_map_elem(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let map = env.map(a[0])?;
    if a[3] != 0 {
        return Ok(neg(errno::EINVAL));
    }
    let spec = map.inner.spec();
    let (key_size, value_size) = (spec.key_size as usize, spec.value_size as usize);
    let writable = spec.flags & waggle_maps::flags::BPF_F_RDONLY_PROG == 0;
    // The key the callback sees: a buffer kept alive until the run ends (its region lasts
    // as long as the run).
    let key_buf: Arc<[AtomicU8]> = (0..key_size.max(1)).map(|_| AtomicU8::new(0)).collect();
    let key_ptr = NonNull::new(Arc::as_ptr(&key_buf) as *const AtomicU8 as *mut u8)
        .expect("Arc data is never null");
    ctx.add_region(map_region(&key_buf, key_ptr, key_size.max(1), false));
    run_state::keep_alive(Arc::new(key_buf.clone()));
    let mut failure = None;
    let r = map.inner.for_each(current_cpu(), |key, value| {
        for (slot, &b) in key_buf.iter().zip(key) {
            slot.store(b, Ordering::Relaxed);
        }
        ctx.add_region(map_region(&map, value, value_size, writable));
        let args = [
            map.token(),
            key_ptr.as_ptr() as u64,
            value.as_ptr() as u64,
            a[2],
            0,
        ];
        match ctx.call_function(a[1], args) {
            Ok(r0) => r0 != 0,
            Err(e) => {
                failure = Some(e);
                true
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(match r {
        Ok(n) => u64::from(n),
        Err(e) => neg(e.errno()),
    })
}

/// The storage of a map whose values may hold a `bpf_spin_lock`. The map need not declare
/// the lock's offset (loaders without BTF value types do not know it); when it does, user
/// space's `BPF_F_LOCK` operations take the same word.
fn lockable_storage(map: &Map) -> Option<&Storage> {
    match map.inner.kind() {
        MapKind::Array(m) => Some(m.storage()),
        MapKind::Hash(m) => Some(m.storage()),
        _ => None,
    }
}

/// The map and storage offset of the lock word at `addr`.
fn lock_at<'e>(
    env: &'e Env,
    ctx: &HelperContext<'_>,
    addr: u64,
) -> Result<(&'e Arc<Map>, usize), HelperError> {
    // The program must be able to reach the lock (a map value it looked up).
    ctx.read(addr, 4)?;
    env.maps
        .iter()
        .find_map(|m| {
            let off = lockable_storage(m)?.offset_of(addr as usize as *const u8)?;
            (off.is_multiple_of(4)).then_some((m, off))
        })
        .ok_or_else(|| HelperError::failed(format!("{addr:#x} is not a bpf_spin_lock")))
}

fn lock_word(map: &Map, off: usize) -> &AtomicU32 {
    lockable_storage(map)
        .expect("checked by lock_at")
        .u32_at(off)
}

/// Release the lock word at `off` in `map`'s storage.
pub(crate) fn unlock_word(map: &Arc<Map>, off: usize) {
    if let Some(st) = lockable_storage(map) {
        st.u32_at(off).store(0, Ordering::Release);
    }
}

/// `long bpf_spin_lock(struct bpf_spin_lock *lock)`.
fn spin_lock(env: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (map, off) = lock_at(env, ctx, a[0])?;
    if !run_state::lock_taken(map, off) {
        return Err(HelperError::failed(
            "bpf_spin_lock: the program already holds a lock",
        ));
    }
    let word = lock_word(map, off);
    let mut spins = 0u32;
    while word
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        spins += 1;
        if spins < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    Ok(0)
}

/// `long bpf_spin_unlock(struct bpf_spin_lock *lock)`.
fn spin_unlock(env: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (map, off) = lock_at(env, ctx, a[0])?;
    if !run_state::lock_released(map, off) {
        return Err(HelperError::failed(
            "bpf_spin_unlock: the program does not hold this lock",
        ));
    }
    lock_word(map, off).store(0, Ordering::Release);
    Ok(0)
}
