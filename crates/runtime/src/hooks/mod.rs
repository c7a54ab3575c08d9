//! Contexts of the hooks event sources fire: each builds its program type's context as the
//! kernel does for that attach point and fires a [`Hook`](crate::Hook).
//!
//! - [`app`]: application hooks (the embedding API): a `#[repr(C)]` struct of the
//!   application's is the context of plain programs.
//! - [`packet`]: XDP (`struct xdp_md` over a frame with headroom) and socket filters
//!   (`struct __sk_buff`, the return value truncating the packet).
//! - [`perf`]: perf events (`struct bpf_perf_event_data`), fired by timers.
//! - [`bytes`](fire_bytes): any context given as bytes (tracepoint records, raw args).

pub mod app;
pub mod packet;
pub mod perf;
pub(crate) mod rcu;

use crate::hook::Hook;
use waggle_vm::{Region, VmError};

/// Fire `hook` with `ctx` as every program's context (r1 = its address, r2 = its length),
/// writable or not; the programs' combined result (see [`crate::Combine`]), `default` when
/// none is attached.
pub fn fire_bytes(
    hook: &Hook,
    ctx: &mut [u8],
    writable: bool,
    default: u64,
) -> Result<u64, VmError> {
    let len = ctx.len() as u64;
    hook.dispatch(default, |p| {
        let region = if writable {
            Region::writable(&mut *ctx)
        } else {
            Region::readonly(&*ctx)
        };
        let r1 = region.addr();
        p.run([r1, len, 0, 0, 0], [region])
    })
}
