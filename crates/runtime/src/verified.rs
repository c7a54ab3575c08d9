//! The trust boundary of the verified JIT: compiling a program without runtime checks, and
//! deciding, run by run, whether the memory a run is given is what the verifier assumed.
//!
//! The verifier proves a program's accesses safe *for a context of its program type*: r1
//! points to a context of the layout's size (for plain programs, of the size it proved it
//! uses), and pointers inside that context (`xdp_md.data`, `__sk_buff.data_end`, ...) delimit
//! memory the program may use. The kernel builds contexts itself; here [`Program::run`] is a
//! safe public function anyone may call with any arguments, so [`CtxCheck`] checks those
//! assumptions before each run on verified code (a few compares) and the run falls back to
//! the checked engine when they do not hold (a context that is too short, a packet outside
//! the run's regions, a non-NULL socket pointer). See the module docs of `program.rs` for
//! the whole list of what verified code relies on.
//!
//! [`Program::run`]: crate::Program::run

use waggle_isa::Insn;
use waggle_uapi::{AccessModel, CtxFieldKind, ProgramType};
use waggle_vm::{Helpers, Jit, Region};

/// Compile `insns`, which the verifier accepted for `prog_type`, without runtime checks.
/// `None` when the JIT cannot run the program (callbacks, other architectures).
pub(crate) fn compile(insns: &[Insn], helpers: Helpers) -> Option<Jit> {
    // SAFETY: the loader calls this only for programs the verifier accepted (never for
    // `ProgLoad::skip_verifier`), so every access is proved to stay inside the context, the
    // stack frames, map values, global data and packets the verifier tracked, and every run
    // terminates. Each run of the result goes through `CtxCheck::trusts` first, which makes
    // sure the context and packet the run is given are the ones that proof assumed; helpers
    // keep checking their own accesses against the run's regions.
    unsafe { Jit::new_verified(insns, helpers) }.ok()
}

/// What a run must give a verified program for the verifier's proof to hold: precomputed
/// at load from the program type's context layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CtxCheck {
    /// Never trust a run (context holds pointers the runtime cannot vouch for, or the type's
    /// context is not modelled): always the checked engine.
    never: bool,
    /// Bytes the context region must have.
    min_len: usize,
    /// Whether the context region must be writable.
    writable: bool,
    /// Packet pointers in the context: offsets of `data`, `data_end`, `data_meta` (if any)
    /// and the field width (4 or 8).
    packet: Option<(u32, u32, Option<u32>, u32)>,
    /// A pointer field that must be NULL (`__sk_buff.sk`): offset and width.
    null: Option<(u32, u32)>,
}

impl CtxCheck {
    /// The check for a program of `prog_type` that the verifier saw use `ctx_end` bytes of a
    /// plain context (writing it if `ctx_writes`).
    pub(crate) fn new(prog_type: ProgramType, ctx_end: u32, ctx_writes: bool) -> CtxCheck {
        let never = CtxCheck {
            never: true,
            min_len: 0,
            writable: false,
            packet: None,
            null: None,
        };
        let Some(layout) = waggle_uapi::context(prog_type) else {
            return never;
        };
        if layout.access == AccessModel::Plain {
            return CtxCheck {
                never: false,
                min_len: ctx_end as usize,
                writable: ctx_writes,
                packet: None,
                null: None,
            };
        }
        let mut check = CtxCheck {
            never: false,
            min_len: layout.size as usize,
            writable: layout.fields.iter().any(|f| f.write),
            packet: None,
            null: None,
        };
        let (mut data, mut end, mut meta, mut width) = (None, None, None, 4);
        for f in layout.fields.iter().filter(|f| f.read) {
            match f.kind {
                CtxFieldKind::Scalar => {}
                CtxFieldKind::PacketData => (data, width) = (Some(f.offset), f.size),
                CtxFieldKind::PacketEnd => end = Some(f.offset),
                CtxFieldKind::PacketMeta => meta = Some(f.offset),
                CtxFieldKind::PtrToSockCommonOrNull if check.null.is_none() => {
                    check.null = Some((f.offset, f.size));
                }
                _ => return never,
            }
        }
        match (data, end) {
            (Some(d), Some(e)) => check.packet = Some((d, e, meta, width)),
            (None, None) if meta.is_none() => {}
            _ => return never,
        }
        check
    }

    /// Whether a run with r1..=r5 = `args` over `regions` gives the program what the
    /// verifier assumed: r1 is the first region, long enough (and writable if needed), and
    /// the packet the context points to lies inside one writable region.
    #[inline]
    pub(crate) fn trusts(&self, args: &[u64; 5], regions: &[Region<'_>]) -> bool {
        if self.never {
            return false;
        }
        let Some(ctx) = regions.first() else {
            return self.min_len == 0 && self.packet.is_none() && self.null.is_none();
        };
        if ctx.addr() != args[0]
            || ctx.len() < self.min_len
            || (self.writable && !ctx.is_writable())
        {
            return false;
        }
        if let Some((off, width)) = self.null
            && field(ctx, off, width) != Some(0)
        {
            return false;
        }
        let Some((d, e, m, width)) = self.packet else {
            return true;
        };
        let (Some(data), Some(end)) = (field(ctx, d, width), field(ctx, e, width)) else {
            return false;
        };
        let start = match m {
            Some(m) => match field(ctx, m, width) {
                Some(meta) if meta <= data => meta,
                _ => return false,
            },
            None => data,
        };
        start <= data
            && data <= end
            && regions[1..]
                .iter()
                .any(|r| r.is_writable() && r.addr() <= start && end <= r.addr() + r.len() as u64)
    }
}

/// The `width`-byte field at `off` of the context, zero-extended.
// Fixed-size copies: a variable-length one was a `memcpy` call whose narrow stores the wide
// load after it could not forward from (a stall, three times per XDP packet).
#[inline]
fn field(ctx: &Region<'_>, off: u32, width: u32) -> Option<u64> {
    if width == 8 {
        let mut b = [0u8; 8];
        ctx.copy_out(off as usize, &mut b)
            .then(|| u64::from_le_bytes(b))
    } else {
        let mut b = [0u8; 4];
        ctx.copy_out(off as usize, &mut b)
            .then(|| u64::from(u32::from_le_bytes(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_context_must_be_long_enough_and_writable_if_written() {
        let c = CtxCheck::new(ProgramType::PLAIN, 8, true);
        let mut buf = [0u8; 16];
        let addr = buf.as_ptr() as u64;
        assert!(c.trusts(&[addr, 16, 0, 0, 0], &[Region::writable(&mut buf)]));
        assert!(!c.trusts(&[addr + 1, 16, 0, 0, 0], &[Region::writable(&mut buf)]));
        assert!(!c.trusts(&[addr, 0, 0, 0, 0], &[Region::readonly(&buf)]));
        assert!(!c.trusts(&[addr, 0, 0, 0, 0], &[Region::writable(&mut buf[..4])]));
        assert!(!c.trusts(&[addr, 0, 0, 0, 0], &[]));
        let none = CtxCheck::new(ProgramType::PLAIN, 0, false);
        assert!(none.trusts(&[0; 5], &[]));
    }

    #[test]
    fn xdp_packet_must_lie_in_a_writable_region() {
        let c = CtxCheck::new(ProgramType::Xdp, 0, false);
        let Ok(mut frame) = crate::memory::LowBuffer::new(256) else {
            eprintln!("skipped: no memory below 4 GiB (MAP_32BIT) on this platform");
            return;
        };
        let base = u64::from(frame.addr32(0));
        let mut md = [0u8; 24];
        let put = |md: &mut [u8; 24], off: usize, v: u64| {
            md[off..off + 4].copy_from_slice(&(v as u32).to_le_bytes());
        };
        put(&mut md, 0, base + 64);
        put(&mut md, 4, base + 128);
        put(&mut md, 8, base + 60);
        let md_addr = md.as_ptr() as u64;
        let run = |md: &mut [u8; 24], frame: &mut [u8]| {
            c.trusts(
                &[md_addr, 0, 0, 0, 0],
                &[Region::writable(md), Region::writable(frame)],
            )
        };
        assert!(run(&mut md, frame.bytes_mut()));
        // data_end past the frame.
        put(&mut md, 4, base + 8192);
        assert!(!run(&mut md, frame.bytes_mut()));
        // data_meta after data.
        put(&mut md, 4, base + 128);
        put(&mut md, 8, base + 65);
        assert!(!run(&mut md, frame.bytes_mut()));
        put(&mut md, 8, base + 60);
        assert!(run(&mut md, frame.bytes_mut()));
        // A read-only frame, no frame, a context that is too short.
        assert!(!c.trusts(
            &[md_addr, 0, 0, 0, 0],
            &[
                Region::writable(&mut md),
                Region::readonly(frame.bytes_mut())
            ],
        ));
        assert!(!c.trusts(&[md_addr, 0, 0, 0, 0], &[Region::writable(&mut md)]));
        assert!(!c.trusts(
            &[md_addr, 0, 0, 0, 0],
            &[
                Region::writable(&mut md[..8]),
                Region::writable(frame.bytes_mut())
            ],
        ));
    }

    #[test]
    fn skb_socket_pointer_must_be_null() {
        let c = CtxCheck::new(ProgramType::SocketFilter, 0, false);
        let mut ctx = [0u8; 192];
        let addr = ctx.as_ptr() as u64;
        // The socket pointer is checked before the packet.
        ctx[168] = 1;
        assert!(!c.trusts(&[addr, 0, 0, 0, 0], &[Region::writable(&mut ctx)]));
    }
}
