//! Ring buffer and perf event output helpers.

use super::{Body, Env, neg};
use crate::memory::map_region;
use crate::run_state::{self, current_cpu};
use std::ptr::NonNull;
use waggle_uapi::errno;
use waggle_vm::{HelperContext, HelperError};

pub(super) static HELPERS: &[(u32, Body)] = &[
    (25, perf_event_output),
    (130, ringbuf_output),
    (131, ringbuf_reserve),
    (132, ringbuf_submit),
    (133, ringbuf_discard),
    (134, ringbuf_query),
];

/// `long bpf_perf_event_output(ctx, map, flags, data, size)`: appends a sample to the
/// perf buffer of slot `flags & BPF_F_INDEX_MASK` (`BPF_F_CURRENT_CPU`: the run's CPU).
fn perf_event_output(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let map = env.map(a[1])?;
    let Some(perf) = map.inner.as_perf_event_array() else {
        return Ok(neg(errno::EINVAL));
    };
    let data = ctx.read(a[3], a[4] as usize)?;
    Ok(match perf.output(current_cpu(), a[2], data) {
        Ok(()) => 0,
        Err(e) => neg(e.errno()),
    })
}

/// `long bpf_ringbuf_output(ringbuf, data, size, flags)`: copies `data` into a new record.
fn ringbuf_output(env: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = env.map(a[0])?;
    let Some(rb) = map.inner.as_ringbuf() else {
        return Ok(neg(errno::EINVAL));
    };
    let data = ctx.read(a[1], a[2] as usize)?;
    Ok(match rb.output(data, a[3]) {
        Ok(()) => 0,
        Err(e) => neg(e.errno()),
    })
}

/// `void *bpf_ringbuf_reserve(ringbuf, size, flags)`: the sample's address in the ring's
/// data area (accessible for `size` bytes for the rest of the run), or NULL.
fn ringbuf_reserve(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let map = env.map(a[0])?;
    let Some(rb) = map.inner.as_ringbuf() else {
        return Ok(0);
    };
    let Some(p) = rb.reserve(a[1], a[2]) else {
        return Ok(0);
    };
    let addr = p.as_ptr() as u64;
    if a[1] > 0 {
        ctx.add_region(map_region(&map, p, a[1] as usize, true));
    }
    run_state::reserved(&map, addr);
    Ok(addr)
}

pub(super) fn commit(env: &Env, a: [u64; 5], discard: bool) -> Result<u64, HelperError> {
    let what = if discard { "discard" } else { "submit" };
    // Only samples this run reserved (the verifier's reference tracking in the kernel).
    let map = run_state::released(a[0]).ok_or_else(|| {
        HelperError::failed(format!(
            "bpf_ringbuf_{what}: {:#x} is not a sample this run reserved",
            a[0]
        ))
    })?;
    let _ = env;
    let rb = map
        .inner
        .as_ringbuf()
        .ok_or_else(|| HelperError::failed("reservation outside a ring buffer"))?;
    let p =
        NonNull::new(a[0] as usize as *mut u8).ok_or_else(|| HelperError::failed("NULL sample"))?;
    let r = if discard {
        rb.discard(p, a[1])
    } else {
        rb.submit(p, a[1])
    };
    r.map_err(|e| HelperError::failed(format!("bpf_ringbuf_{what}: {e}")))?;
    Ok(0)
}

/// `void bpf_ringbuf_submit(data, flags)` (`BPF_RB_NO_WAKEUP`, `BPF_RB_FORCE_WAKEUP`).
fn ringbuf_submit(env: &Env, _: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    commit(env, a, false)
}

/// `void bpf_ringbuf_discard(data, flags)`.
fn ringbuf_discard(env: &Env, _: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    commit(env, a, true)
}

/// `u64 bpf_ringbuf_query(ringbuf, flags)`: `BPF_RB_AVAIL_DATA`, `_RING_SIZE`, `_CONS_POS`,
/// `_PROD_POS`; 0 for other flags.
fn ringbuf_query(env: &Env, _: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = env.map(a[0])?;
    Ok(map.inner.as_ringbuf().map_or(0, |rb| rb.query(a[1])))
}
