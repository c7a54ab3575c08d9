//! The Rust side of calls out of generated code: the memory slow path, helper calls and
//! legacy packet loads. Each returns 0 to continue, or records the end of the run in
//! `Ctx::outcome` (or `Ctx::panic`) and returns 1; the shims in `code.rs` wrap them as
//! `extern "sysv64"` functions.

use super::ctx::{Ctx, OP_ATOMIC, OP_LOAD_SIGNED, OP_STORE, SIZES};
use crate::error::VmError;
use crate::helpers::{HelperContext, HelperError, HelperFn};
use crate::memory::{AtomicFault, Rmw};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Atomic operations by the index in bits 4..8 of a descriptor: the operation and whether the
/// old value is fetched (the same numbering as the emitter's `atomic_index`).
pub(crate) const ATOMIC_OPS: [(Rmw, bool); 10] = [
    (Rmw::Add, false),
    (Rmw::Or, false),
    (Rmw::And, false),
    (Rmw::Xor, false),
    (Rmw::Add, true),
    (Rmw::Or, true),
    (Rmw::And, true),
    (Rmw::Xor, true),
    (Rmw::Xchg, true),
    (Rmw::CmpXchg, true),
];

fn stop(ctx: &mut Ctx<'_, '_>, outcome: Result<u64, VmError>) -> u32 {
    ctx.outcome = Some(outcome);
    1
}

/// A load, store or atomic the inline check did not grant: done through `Memory`, which
/// checks every region in the interpreter's order and reports the interpreter's errors.
pub(crate) fn memory(ctx: &mut Ctx<'_, '_>) -> u32 {
    ctx.sync_stack();
    let (addr, op, pc) = (ctx.addr, ctx.op, ctx.pc as usize);
    let len = SIZES[(op & 3) as usize];
    let fault = |write| VmError::MemoryAccess {
        pc,
        addr,
        len,
        write,
    };
    let mem = &mut *ctx.mem;
    let result = match op & 0xc {
        OP_STORE => {
            let v = ctx.head.val;
            let done = match len {
                1 => mem.store::<u8>(addr, v as u8),
                2 => mem.store::<u16>(addr, v as u16),
                4 => mem.store::<u32>(addr, v as u32),
                _ => mem.store::<u64>(addr, v),
            };
            done.map(|()| 0).ok_or(fault(true))
        }
        OP_ATOMIC => {
            let Some(&(rmw, _)) = ATOMIC_OPS.get((op >> 4) as usize) else {
                return stop(ctx, Err(VmError::InvalidInstruction { pc }));
            };
            let (v, expected) = (ctx.head.val, ctx.head.saved[0]);
            let old = if len == 8 {
                mem.atomic64(addr, rmw, v, expected)
            } else {
                mem.atomic32(addr, rmw, v as u32, expected as u32)
                    .map(u64::from)
            };
            old.map_err(|e| match e {
                AtomicFault::OutOfBounds => fault(true),
                AtomicFault::Misaligned => VmError::MisalignedAtomic { pc, addr, len },
            })
        }
        class => {
            let signed = class == OP_LOAD_SIGNED;
            let v = match len {
                1 => mem
                    .load::<u8>(addr)
                    .map(|v| if signed { v as i8 as u64 } else { v.into() }),
                2 => mem
                    .load::<u16>(addr)
                    .map(|v| if signed { v as i16 as u64 } else { v.into() }),
                4 => mem
                    .load::<u32>(addr)
                    .map(|v| if signed { v as i32 as u64 } else { v.into() }),
                _ => mem.load::<u64>(addr),
            };
            v.ok_or(fault(false))
        }
    };
    match result {
        Ok(v) => {
            ctx.ret = v;
            0
        }
        Err(e) => stop(ctx, Err(e)),
    }
}

/// Helper `ctx.op` (a direct call: preparation checked it is registered).
pub(crate) fn helper(ctx: &mut Ctx<'_, '_>) -> u32 {
    call_helper(ctx, ctx.op, u64::from(ctx.op))
}

/// `callx`: the helper whose id is in `ctx.val`, as the interpreter resolves it.
pub(crate) fn callx(ctx: &mut Ctx<'_, '_>) -> u32 {
    let target = ctx.val;
    call_helper(ctx, u32::try_from(target).unwrap_or(u32::MAX), target)
}

fn call_helper(ctx: &mut Ctx<'_, '_>, id: u32, target: u64) -> u32 {
    let args = [
        ctx.saved[1],
        ctx.saved[2],
        ctx.saved[3],
        ctx.saved[4],
        ctx.saved[5],
    ];
    call_helper_with(ctx, id, target, args)
}

/// Helper `ctx.op` with r1..=r5 = `args` passed in registers (verified mode: no register
/// is spilled to the context on the way); returns r0 and whether the run stops.
pub(crate) fn helper_direct(ctx: &mut Ctx<'_, '_>, args: [u64; 5]) -> (u64, bool) {
    let id = ctx.op;
    let stopped = call_helper_with(ctx, id, u64::from(id), args) != 0;
    (ctx.ret, stopped)
}

fn call_helper_with(ctx: &mut Ctx<'_, '_>, id: u32, target: u64, args: [u64; 5]) -> u32 {
    let pc = ctx.pc as usize;
    let helpers = ctx.helpers;
    let Some(f) = helpers.get(id) else {
        return stop(ctx, Err(VmError::BadCallTarget { pc, target }));
    };
    ctx.sync_stack();
    let mut hctx = HelperContext::new(ctx.mem.helper_view());
    // A panic must not unwind through generated code: it is carried across and resumed in
    // `Jit::run`, so a panicking helper behaves as under the interpreter.
    let [a, b, c, d, e] = args;
    match catch_unwind(AssertUnwindSafe(|| invoke(&**f, &mut hctx, a, b, c, d, e))) {
        Ok(Ok(r0)) => {
            ctx.ret = r0;
            0
        }
        Ok(Err(HelperError::Exit(r0))) => stop(ctx, Ok(r0)),
        Ok(Err(e)) => stop(
            ctx,
            Err(VmError::Helper {
                pc,
                id,
                message: e.to_string(),
            }),
        ),
        Err(payload) => {
            ctx.panic = Some(payload);
            1
        }
    }
}

/// `f(ctx, [a, b, c, d, e])`, the array built right where the call passes it: copying an
/// array the caller stored as separate words with wider loads stalls on store forwarding.
#[inline(never)]
fn invoke(
    f: &HelperFn,
    ctx: &mut HelperContext<'_>,
    a: u64,
    b: u64,
    c: u64,
    d: u64,
    e: u64,
) -> Result<u64, HelperError> {
    f(ctx, [a, b, c, d, e])
}

/// Legacy `ldabs`/`ldind`: `ctx.op` bytes big-endian at packet offset `ctx.val as u32`.
pub(crate) fn packet(ctx: &mut Ctx<'_, '_>) -> u32 {
    let pc = ctx.pc as usize;
    let Some(packet) = ctx.packet else {
        return stop(ctx, Err(VmError::NoPacket { pc }));
    };
    let off = ctx.val as u32;
    let size = ctx.op as usize;
    let bytes = (off as i32 >= 0)
        .then(|| {
            let start = off as usize;
            packet.get(start..start.checked_add(size)?)
        })
        .flatten();
    match bytes {
        Some(b) => {
            ctx.ret = b.iter().fold(0, |acc, &x| acc << 8 | u64::from(x));
            0
        }
        // Like Linux (and the interpreter): an out-of-bounds packet load ends the run with 0.
        None => stop(ctx, Ok(0)),
    }
}
