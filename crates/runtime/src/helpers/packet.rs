//! XDP and redirect helpers. The `xdp_adjust_*` helpers move the 32-bit `data`,
//! `data_meta` and `data_end` fields of the run's `struct xdp_md` (r1) within the frame that
//! `run_state` describes, with the kernel's limits: `sizeof(struct xdp_frame)` (40 bytes) at
//! the frame's start stays reserved, and so does `sizeof(struct skb_shared_info)` (320
//! bytes) at its end.

use super::{Body, Env, neg};
use crate::run_state::{self, Redirect, current_cpu};
use waggle_uapi::{ProgramType, errno};
use waggle_vm::{HelperContext, HelperError};

pub(super) static HELPERS: &[(u32, Body)] = &[
    (23, redirect),
    (26, skb_load_bytes),
    (44, xdp_adjust_head),
    (51, redirect_map),
    (54, xdp_adjust_meta),
    (65, xdp_adjust_tail),
    (188, xdp_get_buff_len),
    (189, xdp_load_bytes),
];

/// `sizeof(struct xdp_frame)`.
const XDP_FRAME_SIZE: i64 = 40;
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))`.
const SHARED_INFO: i64 = 320;
const ETH_HLEN: i64 = 14;
/// `XDP_METADATA_MAX`... the kernel's `xdp_metalen_invalid` bound.
const META_MAX: i64 = 32;
const XDP_ABORTED: u64 = 0;
const XDP_REDIRECT: u64 = 4;
const TC_ACT_SHOT: u64 = 2;
const TC_ACT_REDIRECT: u64 = 7;
/// `BPF_F_INGRESS`.
const BPF_F_INGRESS: u64 = 1;
/// `BPF_F_BROADCAST`, `BPF_F_EXCLUDE_INGRESS`.
const BPF_F_BROADCAST: u64 = 1 << 3;
const BPF_F_EXCLUDE_INGRESS: u64 = 1 << 4;
/// The XDP actions `bpf_redirect_map` may return when the key is missing.
const ACTION_MASK: u64 = 3;

/// `long bpf_skb_load_bytes(skb, offset, to, len)`: `len` bytes at `offset` from the packet
/// data (`__sk_buff.data`, which the runtime fills for every skb type).
fn skb_load_bytes(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let f = ctx.read(a[0].wrapping_add(76), 8)?;
    let (data, end) = (u32_at(f, 0), u32_at(f, 4));
    load_bytes(ctx, data, end, a)
}

/// `long bpf_xdp_load_bytes(xdp_md, offset, buf, len)`: the same from `xdp_md.data`.
fn xdp_load_bytes(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let f = ctx.read(a[0], 8)?;
    let (data, end) = (u32_at(f, 0), u32_at(f, 4));
    load_bytes(ctx, data, end, a)
}

/// `u64 bpf_xdp_get_buff_len(xdp_md)`: `data_end - data` (the runtime's frames have no
/// fragments, so the linear part is the whole packet).
fn xdp_get_buff_len(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let f = ctx.read(a[0], 8)?;
    Ok(u32_at(f, 4).saturating_sub(u32_at(f, 0)))
}

fn u32_at(f: &[u8], o: usize) -> u64 {
    u64::from(u32::from_ne_bytes([f[o], f[o + 1], f[o + 2], f[o + 3]]))
}

/// Copies `a[3]` bytes from `data + a[1]` to `a[2]` when they lie before `end`; otherwise
/// zeroes the destination and fails with `-EFAULT`, as `skb_header_pointer` failing does.
fn load_bytes(
    ctx: &mut HelperContext<'_>,
    data: u64,
    end: u64,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let (off, to, len) = (a[1] as u32 as u64, a[2], a[3] as u32 as usize);
    if data + off + len as u64 > end {
        ctx.write(to, &vec![0u8; len])?;
        return Ok(neg(errno::EFAULT));
    }
    let bytes = ctx.read(data + off, len)?.to_vec();
    ctx.write(to, &bytes)?;
    Ok(0)
}

/// The `xdp_md` fields the helpers move, as signed addresses.
struct Xdp {
    data: i64,
    data_end: i64,
    data_meta: i64,
    start: i64,
    end: i64,
}

fn xdp(ctx: &HelperContext<'_>, md: u64) -> Result<Option<Xdp>, HelperError> {
    let Some(frame) = run_state::xdp_frame() else {
        return Ok(None);
    };
    let f = ctx.read(md, 12)?;
    let field = |o: usize| i64::from(u32::from_ne_bytes([f[o], f[o + 1], f[o + 2], f[o + 3]]));
    Ok(Some(Xdp {
        data: field(0),
        data_end: field(4),
        data_meta: field(8),
        start: i64::from(frame.start),
        end: i64::from(frame.start) + i64::from(frame.len),
    }))
}

fn set(ctx: &mut HelperContext<'_>, md: u64, off: u64, v: i64) -> Result<(), HelperError> {
    ctx.write(md + off, &(v as u32).to_ne_bytes())
}

/// `long bpf_xdp_adjust_head(xdp_md, delta)`.
fn xdp_adjust_head(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let Some(x) = xdp(ctx, a[0])? else {
        return Ok(neg(errno::EOPNOTSUPP));
    };
    let delta = i64::from(a[1] as i32);
    let metalen = if x.data_meta <= x.data {
        x.data - x.data_meta
    } else {
        0
    };
    let data = x.data + delta;
    if data < x.start + XDP_FRAME_SIZE + metalen || data > x.data_end - ETH_HLEN {
        return Ok(neg(errno::EINVAL));
    }
    if metalen > 0 {
        let meta = ctx.read(x.data_meta as u64, metalen as usize)?.to_vec();
        ctx.write((x.data_meta + delta) as u64, &meta)?;
    }
    set(ctx, a[0], 0, data)?;
    set(ctx, a[0], 8, x.data_meta + delta)?;
    Ok(0)
}

/// `long bpf_xdp_adjust_meta(xdp_md, delta)`.
fn xdp_adjust_meta(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let Some(x) = xdp(ctx, a[0])? else {
        return Ok(neg(errno::EOPNOTSUPP));
    };
    if x.data_meta > x.data {
        return Ok(neg(errno::ENOTSUPP));
    }
    let meta = x.data_meta + i64::from(a[1] as i32);
    if meta < x.start + XDP_FRAME_SIZE || meta > x.data {
        return Ok(neg(errno::EINVAL));
    }
    let metalen = x.data - meta;
    if metalen & 3 != 0 || metalen > META_MAX {
        return Ok(neg(errno::EACCES));
    }
    set(ctx, a[0], 8, meta)?;
    Ok(0)
}

/// `long bpf_xdp_adjust_tail(xdp_md, delta)`: grown bytes are zeroed.
fn xdp_adjust_tail(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let Some(x) = xdp(ctx, a[0])? else {
        return Ok(neg(errno::EOPNOTSUPP));
    };
    let delta = i64::from(a[1] as i32);
    let end = x.data_end + delta;
    if end > x.end - SHARED_INFO || end < x.data + ETH_HLEN {
        return Ok(neg(errno::EINVAL));
    }
    if delta > 0 {
        ctx.write(x.data_end as u64, &vec![0u8; delta as usize])?;
    }
    set(ctx, a[0], 4, end)?;
    Ok(0)
}

fn is_xdp(env: &Env) -> bool {
    env.prog_type == ProgramType::Xdp
}

/// `long bpf_redirect(ifindex, flags)`: `XDP_REDIRECT` (XDP, flags must be 0) or
/// `TC_ACT_REDIRECT` (tc, `BPF_F_INGRESS` allowed); the target is recorded for the hook.
fn redirect(env: &Env, _: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (allowed, bad, ok) = if is_xdp(env) {
        (0, XDP_ABORTED, XDP_REDIRECT)
    } else {
        (BPF_F_INGRESS, TC_ACT_SHOT, TC_ACT_REDIRECT)
    };
    if a[1] & !allowed != 0 {
        return Ok(bad);
    }
    run_state::set_redirect(Some(Redirect {
        index: a[0] as u32,
        map_id: None,
        flags: a[1],
    }));
    Ok(ok)
}

/// `long bpf_redirect_map(map, key, flags)`: `XDP_REDIRECT` if `key` is in the map, else the
/// action in the low bits of `flags`.
fn redirect_map(env: &Env, _: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = env.map(a[0])?;
    let flags = a[2];
    if flags & !(ACTION_MASK | BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS) != 0 {
        return Ok(XDP_ABORTED);
    }
    let key = a[1] as u32;
    let spec = map.inner.spec();
    let present = spec.key_size == 4
        && (map
            .inner
            .lookup_ptr(&key.to_ne_bytes(), current_cpu())
            .is_some()
            || map.inner.lookup_ref(&key.to_ne_bytes()).is_some());
    if !present && flags & BPF_F_BROADCAST == 0 {
        run_state::set_redirect(None);
        return Ok(flags & ACTION_MASK);
    }
    run_state::set_redirect(Some(Redirect {
        index: key,
        map_id: Some(map.id),
        flags,
    }));
    Ok(XDP_REDIRECT)
}
