//! Dynptrs and numeric iterators: the helpers `dynptr_from_mem` (197) to `dynptr_data` (203)
//! and the kfuncs of `waggle_uapi::kfuncs`, run as helpers `KFUNC_HELPER_BASE + id`.
//!
//! A `struct bpf_dynptr` holds, as the kernel's `bpf_dynptr_kern`: the address of the data
//! (8 bytes), the size in the low 24 bits of a word whose bits 28..31 give the kind and bit 31
//! read-only (4 bytes), and an offset into the data (4 bytes). Every access through a dynptr
//! is checked against its size here, and then against the run's memory regions as every
//! helper access is, so a forged dynptr (in a program that skipped the verifier) reaches
//! nothing the run could not. A `struct bpf_iter_num` is the kernel's `{ int cur; int end; }`.

use super::{Body, Env, neg, ringbuf};
use crate::memory::map_region;
use crate::run_state;
use waggle_uapi::{ProgramType, errno, kfunc_by_name};
use waggle_vm::{HelperContext, HelperError};

pub(super) static HELPERS: &[(u32, Body)] = &[
    (197, from_mem),
    (198, ringbuf_reserve_dynptr),
    (199, ringbuf_submit_dynptr),
    (200, ringbuf_discard_dynptr),
    (201, read),
    (202, write),
    (203, data),
];

/// The kfuncs, by name.
pub(super) static KFUNCS: &[(&str, Body)] = &[
    ("bpf_rcu_read_lock", nothing),
    ("bpf_rcu_read_unlock", nothing),
    ("bpf_dynptr_from_xdp", from_xdp),
    ("bpf_dynptr_from_skb", from_skb),
    ("bpf_dynptr_slice", slice),
    ("bpf_dynptr_slice_rdwr", slice_rdwr),
    ("bpf_dynptr_adjust", adjust),
    ("bpf_dynptr_is_null", is_null),
    ("bpf_dynptr_is_rdonly", is_rdonly),
    ("bpf_dynptr_size", size),
    ("bpf_dynptr_clone", clone),
    ("bpf_iter_num_new", iter_new),
    ("bpf_iter_num_next", iter_next),
    ("bpf_iter_num_destroy", iter_destroy),
];

/// The kfunc bodies with their helper ids.
pub(super) fn kfunc_helpers() -> impl Iterator<Item = (u32, Body)> {
    KFUNCS
        .iter()
        .filter_map(|&(name, body)| Some((kfunc_by_name(name)?.helper_id(), body)))
}

/// `enum bpf_dynptr_type`.
const LOCAL: u32 = 1;
const RINGBUF: u32 = 2;
const SKB: u32 = 3;
const XDP: u32 = 4;
/// `DYNPTR_MAX_SIZE`: sizes are 24 bits.
const MAX_SIZE: u64 = (1 << 24) - 1;
const KIND_SHIFT: u32 = 28;
const RDONLY: u32 = 1 << 31;
/// `BPF_MAX_LOOPS`: the most iterations of a numeric iterator.
const MAX_LOOPS: i64 = 8 * 1024 * 1024;

/// A dynptr as stored in the program's `struct bpf_dynptr`.
#[derive(Clone, Copy)]
struct Dynptr {
    data: u64,
    info: u32,
    offset: u32,
}

impl Dynptr {
    const NULL: Dynptr = Dynptr {
        data: 0,
        info: 0,
        offset: 0,
    };

    fn new(data: u64, kind: u32, size: u64, rdonly: bool) -> Dynptr {
        Dynptr {
            data,
            info: (size & MAX_SIZE) as u32 | kind << KIND_SHIFT | if rdonly { RDONLY } else { 0 },
            offset: 0,
        }
    }

    fn load(ctx: &HelperContext<'_>, addr: u64) -> Result<Dynptr, HelperError> {
        let b = ctx.read(addr, 16)?;
        let word = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Ok(Dynptr {
            data: u64::from(word(0)) | u64::from(word(4)) << 32,
            info: word(8),
            offset: word(12),
        })
    }

    fn store(self, ctx: &mut HelperContext<'_>, addr: u64) -> Result<(), HelperError> {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.data.to_ne_bytes());
        b[8..12].copy_from_slice(&self.info.to_ne_bytes());
        b[12..].copy_from_slice(&self.offset.to_ne_bytes());
        ctx.write(addr, &b)
    }

    fn size(self) -> u64 {
        u64::from(self.info) & MAX_SIZE
    }

    fn kind(self) -> u32 {
        (self.info & !RDONLY) >> KIND_SHIFT
    }

    fn rdonly(self) -> bool {
        self.info & RDONLY != 0
    }

    /// The address of `len` bytes at `off`, if they lie inside (`bpf_dynptr_check_off_len`).
    fn at(self, off: u64, len: u64) -> Option<u64> {
        if self.data == 0 || off > self.size() || len > self.size() - off {
            return None;
        }
        Some(
            self.data
                .wrapping_add(u64::from(self.offset))
                .wrapping_add(off),
        )
    }
}

fn nothing(_: &Env, _: &mut HelperContext<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    Ok(0)
}

/// `long bpf_dynptr_from_mem(data, size, flags, ptr)`.
fn from_mem(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (d, r) = if a[2] != 0 {
        (Dynptr::NULL, neg(errno::EINVAL))
    } else if a[1] > MAX_SIZE {
        (Dynptr::NULL, neg(errno::E2BIG))
    } else {
        (Dynptr::new(a[0], LOCAL, a[1], false), 0)
    };
    d.store(ctx, a[3])?;
    Ok(r)
}

/// `long bpf_ringbuf_reserve_dynptr(ringbuf, size, flags, ptr)`: the dynptr is NULL when the
/// record cannot be reserved (it must still be discarded).
fn ringbuf_reserve_dynptr(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let map = env.map(a[0])?;
    let null = |ctx: &mut HelperContext<'_>, e| Dynptr::NULL.store(ctx, a[3]).map(|()| neg(e));
    let Some(rb) = map.inner.as_ringbuf() else {
        return null(ctx, errno::EINVAL);
    };
    if a[2] != 0 {
        return null(ctx, errno::EINVAL);
    }
    if a[1] > MAX_SIZE {
        return null(ctx, errno::E2BIG);
    }
    let Some(p) = rb.reserve(a[1], 0) else {
        return null(ctx, errno::EAGAIN);
    };
    let addr = p.as_ptr() as u64;
    if a[1] > 0 {
        ctx.add_region(map_region(&map, p, a[1] as usize, true));
    }
    run_state::reserved(&map, addr);
    Dynptr::new(addr, RINGBUF, a[1], false).store(ctx, a[3])?;
    Ok(0)
}

fn commit_dynptr(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
    discard: bool,
) -> Result<u64, HelperError> {
    let d = Dynptr::load(ctx, a[0])?;
    if d.data == 0 {
        return Ok(0);
    }
    if d.kind() != RINGBUF {
        return Err(HelperError::failed("not a ring buffer dynptr"));
    }
    ringbuf::commit(env, [d.data, a[1], 0, 0, 0], discard)?;
    Dynptr::NULL.store(ctx, a[0])?;
    Ok(0)
}

/// `void bpf_ringbuf_submit_dynptr(ptr, flags)`.
fn ringbuf_submit_dynptr(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    commit_dynptr(env, ctx, a, false)
}

/// `void bpf_ringbuf_discard_dynptr(ptr, flags)`.
fn ringbuf_discard_dynptr(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    commit_dynptr(env, ctx, a, true)
}

/// `long bpf_dynptr_read(dst, len, src, offset, flags)`: -EINVAL for a NULL dynptr or
/// flags, -E2BIG outside it.
fn read(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = Dynptr::load(ctx, a[2])?;
    if d.data == 0 || a[4] != 0 {
        return Ok(neg(errno::EINVAL));
    }
    let Some(src) = d.at(a[3], a[1]) else {
        return Ok(neg(errno::E2BIG));
    };
    let bytes = ctx.read(src, a[1] as usize)?.to_vec();
    ctx.write(a[0], &bytes)?;
    Ok(0)
}

/// `long bpf_dynptr_write(dst, offset, src, len, flags)`: -EINVAL for a NULL or read-only
/// dynptr, -E2BIG outside it.
fn write(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = Dynptr::load(ctx, a[0])?;
    if d.data == 0 || d.rdonly() || (a[4] != 0 && matches!(d.kind(), LOCAL | RINGBUF)) {
        return Ok(neg(errno::EINVAL));
    }
    let Some(dst) = d.at(a[1], a[3]) else {
        return Ok(neg(errno::E2BIG));
    };
    let bytes = ctx.read(a[2], a[3] as usize)?.to_vec();
    ctx.write(dst, &bytes)?;
    Ok(0)
}

/// `void *bpf_dynptr_data(ptr, offset, len)`: NULL for NULL, read-only, skb and xdp dynptrs
/// and outside the dynptr.
fn data(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = Dynptr::load(ctx, a[0])?;
    if d.rdonly() || !matches!(d.kind(), LOCAL | RINGBUF) {
        return Ok(0);
    }
    Ok(d.at(a[1], a[2]).unwrap_or(0))
}

/// `int bpf_dynptr_from_xdp(xdp_md, flags, ptr)`: the packet from `data` to `data_end`.
fn from_xdp(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let f = ctx.read(a[0], 8)?;
    let (data, end) = (u32_at(f, 0), u32_at(f, 4));
    packet(ctx, a, data, end, XDP, false)
}

/// `int bpf_dynptr_from_skb(skb, flags, ptr)`: `__sk_buff.data` to `data_end`; read-only
/// for the program types that may not write packets.
fn from_skb(env: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let f = ctx.read(a[0].wrapping_add(76), 8)?;
    let (data, end) = (u32_at(f, 0), u32_at(f, 4));
    let rdonly = !matches!(
        env.prog_type,
        ProgramType::SchedCls | ProgramType::SchedAct | ProgramType::LwtXmit | ProgramType::SkSkb
    );
    packet(ctx, a, data, end, SKB, rdonly)
}

fn packet(
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
    data: u64,
    end: u64,
    kind: u32,
    rdonly: bool,
) -> Result<u64, HelperError> {
    if a[1] != 0 || end < data {
        Dynptr::NULL.store(ctx, a[2])?;
        return Ok(neg(errno::EINVAL));
    }
    Dynptr::new(data, kind, end - data, rdonly).store(ctx, a[2])?;
    Ok(0)
}

fn u32_at(f: &[u8], o: usize) -> u64 {
    u64::from(u32::from_ne_bytes([f[o], f[o + 1], f[o + 2], f[o + 3]]))
}

/// `void *bpf_dynptr_slice(ptr, offset, buffer, len)`: a pointer to `len` bytes at `offset`,
/// or NULL outside the dynptr. Waggle's packets are linear, so the data is always pointed to
/// directly and the buffer is never needed.
fn slice(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = Dynptr::load(ctx, a[0])?;
    Ok(d.at(a[1], a[3]).unwrap_or(0))
}

/// `void *bpf_dynptr_slice_rdwr(ptr, offset, buffer, len)`: as `bpf_dynptr_slice`, NULL for a
/// read-only dynptr.
fn slice_rdwr(env: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    if Dynptr::load(ctx, a[0])?.rdonly() {
        return Ok(0);
    }
    slice(env, ctx, a)
}

/// `int bpf_dynptr_adjust(ptr, start, end)`: the dynptr becomes `[start, end)` of itself.
fn adjust(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let mut d = Dynptr::load(ctx, a[0])?;
    let (start, end) = (a[1] & 0xffff_ffff, a[2] & 0xffff_ffff);
    if d.data == 0 {
        return Ok(neg(errno::EINVAL));
    }
    if start > d.size() || end > d.size() {
        return Ok(neg(errno::ERANGE));
    }
    if start > end {
        return Ok(neg(errno::EINVAL));
    }
    d.offset = d.offset.wrapping_add(start as u32);
    d.info = (d.info & !(MAX_SIZE as u32)) | (end - start) as u32;
    d.store(ctx, a[0])?;
    Ok(0)
}

/// `bool bpf_dynptr_is_null(ptr)`.
fn is_null(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    Ok(u64::from(Dynptr::load(ctx, a[0])?.data == 0))
}

/// `bool bpf_dynptr_is_rdonly(ptr)`.
fn is_rdonly(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = Dynptr::load(ctx, a[0])?;
    Ok(u64::from(d.data != 0 && d.rdonly()))
}

/// `__u32 bpf_dynptr_size(ptr)`: (u32)-EINVAL for a NULL dynptr.
fn size(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = Dynptr::load(ctx, a[0])?;
    Ok(if d.data == 0 {
        neg(errno::EINVAL) & 0xffff_ffff
    } else {
        d.size()
    })
}

/// `int bpf_dynptr_clone(ptr, clone)`.
fn clone(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let d = Dynptr::load(ctx, a[0])?;
    if d.data == 0 {
        Dynptr::NULL.store(ctx, a[1])?;
        return Ok(neg(errno::EINVAL));
    }
    d.store(ctx, a[1])?;
    Ok(0)
}

fn iter_store(ctx: &mut HelperContext<'_>, it: u64, cur: i32, end: i32) -> Result<(), HelperError> {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&cur.to_ne_bytes());
    b[4..].copy_from_slice(&end.to_ne_bytes());
    ctx.write(it, &b)
}

/// `int bpf_iter_num_new(it, start, end)`: iterates `start..end`.
fn iter_new(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (start, end) = (a[1] as i32, a[2] as i32);
    if start > end {
        iter_store(ctx, a[0], 0, 0)?;
        return Ok(neg(errno::EINVAL));
    }
    if i64::from(end) - i64::from(start) > MAX_LOOPS {
        iter_store(ctx, a[0], 0, 0)?;
        return Ok(neg(errno::E2BIG));
    }
    iter_store(ctx, a[0], start.wrapping_sub(1), end)?;
    Ok(0)
}

/// `int *bpf_iter_num_next(it)`: the address of the next number (inside the iterator), or
/// NULL at the end.
fn iter_next(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let b = ctx.read(a[0], 8)?;
    let cur = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    let end = i32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
    if i64::from(cur) + 1 >= i64::from(end) {
        iter_store(ctx, a[0], 0, 0)?;
        return Ok(0);
    }
    iter_store(ctx, a[0], cur + 1, end)?;
    Ok(a[0])
}

/// `void bpf_iter_num_destroy(it)`.
fn iter_destroy(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    iter_store(ctx, a[0], 0, 0)?;
    Ok(0)
}
