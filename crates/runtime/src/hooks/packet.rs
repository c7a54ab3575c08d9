//! Packet hooks: XDP and socket filters over packets an event source hands in (a pcap file,
//! a live interface).
//!
//! - [`XdpRunner`]: the packet is copied into a frame below 4 GiB after
//!   `XDP_PACKET_HEADROOM` (256) bytes, with `sizeof(struct skb_shared_info)` (320) of
//!   tailroom, as a driver's page; r1 = `struct xdp_md`. The programs of the hook run in
//!   attach order on the same frame (each sees what the previous left: adjusted head, meta,
//!   tail) and chain while they return `XDP_PASS`. The frame is reused packet after packet.
//! - [`SkbRunner`]: `struct __sk_buff` as a packet socket's filter sees it: the frame from
//!   its Ethernet header (`len`, `protocol`, `ifindex`, `pkt_type`), legacy packet loads
//!   (`ldabs`/`ldind`) reading it, `data`/`data_end` for the types that may read them; the
//!   return value is the number of bytes to keep (0 drops).

use crate::error::{Error, Result};
use crate::hook::Hook;
use crate::memory::LowBuffer;
use crate::run_state::{self, XdpFrame};
use std::ops::Range;
use waggle_uapi::errno;
use waggle_vm::{Region, VmError};

/// `XDP_PACKET_HEADROOM`.
pub const XDP_HEADROOM: usize = 256;
/// Tailroom kept for `struct skb_shared_info`.
const TAILROOM: usize = 320;
/// One page per frame, as drivers use; larger packets get a larger frame.
const PAGE: usize = 4096;
const XDP_MD_SIZE: usize = 24;
const SKB_SIZE: usize = 192;
const ETH_HLEN: usize = 14;

/// XDP verdicts (`enum xdp_action`).
pub mod xdp_action {
    /// `XDP_ABORTED`: a program error; the packet is dropped.
    pub const ABORTED: u64 = 0;
    /// `XDP_DROP`.
    pub const DROP: u64 = 1;
    /// `XDP_PASS`: on to the network stack.
    pub const PASS: u64 = 2;
    /// `XDP_TX`: back out of the interface it came in on.
    pub const TX: u64 = 3;
    /// `XDP_REDIRECT`: to the target `bpf_redirect*` chose.
    pub const REDIRECT: u64 = 4;
}

/// Where `bpf_redirect`/`bpf_redirect_map` sent a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedirectTarget {
    /// Interface index, or the key in the map.
    pub index: u32,
    /// The map's id, for `bpf_redirect_map`.
    pub map_id: Option<u32>,
    /// The helper's flags.
    pub flags: u64,
}

/// What the XDP programs decided for one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdpOutcome {
    /// The verdict (see [`xdp_action`]); `XDP_ABORTED` when a program's run failed.
    pub verdict: u64,
    /// The packet as the programs left it, as a range of [`XdpRunner::frame`].
    pub data: Range<usize>,
    /// Metadata in front of the packet (`bpf_xdp_adjust_meta`), as a range of the frame.
    pub meta: Range<usize>,
    /// The redirect target, for `XDP_REDIRECT`.
    pub redirect: Option<RedirectTarget>,
    /// The run error that made the verdict `XDP_ABORTED`, if any.
    pub error: Option<VmError>,
}

fn put32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

fn get32(buf: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
}

fn low_buffer(len: usize) -> Result<LowBuffer> {
    LowBuffer::new(len).map_err(|e| Error::new(errno::ENOMEM, e.to_string()))
}

/// Runs an XDP hook packet after packet, reusing one frame.
pub struct XdpRunner {
    frame: LowBuffer,
    frame_len: usize,
}

impl std::fmt::Debug for XdpRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpRunner")
            .field("frame_len", &self.frame_len)
            .finish()
    }
}

impl XdpRunner {
    /// A runner with one page-sized frame.
    pub fn new() -> Result<XdpRunner> {
        Ok(XdpRunner {
            frame: low_buffer(PAGE)?,
            frame_len: PAGE,
        })
    }

    /// The frame (the packet is at [`XdpOutcome::data`] after a run).
    pub fn frame(&mut self) -> &[u8] {
        self.frame.bytes_mut()
    }

    /// Run `hook`'s programs on `packet` received on interface `ifindex`, queue `rx_queue`.
    /// With no program attached the verdict is `XDP_PASS`.
    pub fn run(
        &mut self,
        hook: &Hook,
        packet: &[u8],
        ifindex: u32,
        rx_queue: u32,
    ) -> Result<XdpOutcome> {
        let need = XDP_HEADROOM + packet.len() + TAILROOM;
        if need > self.frame_len {
            let len = need.next_multiple_of(PAGE);
            self.frame = low_buffer(len)?;
            self.frame_len = len;
        }
        let frame = &mut self.frame;
        frame.bytes_mut()[XDP_HEADROOM..XDP_HEADROOM + packet.len()].copy_from_slice(packet);
        let mut ctx = [0u8; XDP_MD_SIZE];
        let data = frame.addr32(XDP_HEADROOM);
        put32(&mut ctx, 0, data);
        put32(&mut ctx, 4, data + packet.len() as u32);
        put32(&mut ctx, 8, data);
        put32(&mut ctx, 12, ifindex);
        put32(&mut ctx, 16, rx_queue);
        let xdp = XdpFrame {
            start: frame.addr32(0),
            len: self.frame_len as u32,
        };
        run_state::set_redirect(None);
        let r = run_state::with_xdp_frame(xdp, || {
            hook.dispatch(xdp_action::PASS, |p| {
                let ctx_region = Region::writable(&mut ctx);
                let r1 = ctx_region.addr();
                p.run(
                    [r1, 0, 0, 0, 0],
                    [ctx_region, Region::writable(frame.bytes_mut())],
                )
            })
        });
        let base = frame.addr32(0);
        let off = |v: u32| v.wrapping_sub(base) as usize;
        let (d, e, m) = (
            off(get32(&ctx, 0)),
            off(get32(&ctx, 4)),
            off(get32(&ctx, 8)),
        );
        let valid = |a: usize, b: usize| a <= b && b <= self.frame_len;
        let data = if valid(d, e) { d..e } else { 0..0 };
        let meta = if valid(m, d) { m..d } else { d..d };
        Ok(match r {
            Ok(verdict) => XdpOutcome {
                verdict,
                data,
                meta,
                redirect: match verdict {
                    xdp_action::REDIRECT => run_state::redirect().map(|r| RedirectTarget {
                        index: r.index,
                        map_id: r.map_id,
                        flags: r.flags,
                    }),
                    _ => None,
                },
                error: None,
            },
            Err(e) => XdpOutcome {
                verdict: xdp_action::ABORTED,
                data,
                meta,
                redirect: None,
                error: Some(e),
            },
        })
    }
}

/// `PACKET_HOST`, `PACKET_BROADCAST`, `PACKET_MULTICAST`, `PACKET_OTHERHOST`.
fn pkt_type(packet: &[u8]) -> u32 {
    match packet.first() {
        Some(_) if packet[..6.min(packet.len())] == [0xff; 6] => 1,
        Some(b) if b & 1 == 1 => 2,
        _ => 0,
    }
}

/// What socket filter programs decided for one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkbOutcome {
    /// Bytes kept: `min(return value, packet length)`; 0 = dropped (also on a run error).
    pub keep: usize,
    /// The programs' combined return value (0 when a run failed).
    pub retval: u64,
    /// The run error, if one stopped the programs.
    pub error: Option<VmError>,
}

/// Runs a socket filter hook packet after packet, reusing one buffer.
pub struct SkbRunner {
    buf: LowBuffer,
    buf_len: usize,
}

impl std::fmt::Debug for SkbRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkbRunner")
            .field("buf_len", &self.buf_len)
            .finish()
    }
}

impl SkbRunner {
    /// A runner with a page-sized buffer.
    pub fn new() -> Result<SkbRunner> {
        Ok(SkbRunner {
            buf: low_buffer(PAGE)?,
            buf_len: PAGE,
        })
    }

    /// Run `hook`'s programs (combined by [`crate::Combine::Min`] for socket filters) on
    /// `packet` received on `ifindex`. With no program attached the whole packet is kept.
    pub fn run(&mut self, hook: &Hook, packet: &[u8], ifindex: u32) -> Result<SkbOutcome> {
        if packet.len() > self.buf_len {
            let len = packet.len().next_multiple_of(PAGE);
            self.buf = low_buffer(len)?;
            self.buf_len = len;
        }
        let buf = &mut self.buf;
        let mut ctx = [0u8; SKB_SIZE];
        let proto = if packet.len() >= ETH_HLEN {
            u16::from_ne_bytes([packet[12], packet[13]])
        } else {
            0
        };
        let r = hook.dispatch(packet.len() as u64, |p| {
            // Each program gets the packet and a fresh context, as each socket's filter would.
            buf.bytes_mut()[..packet.len()].copy_from_slice(packet);
            ctx = [0u8; SKB_SIZE];
            put32(&mut ctx, 0, packet.len() as u32);
            put32(&mut ctx, 4, pkt_type(packet));
            put32(&mut ctx, 16, u32::from(proto));
            put32(&mut ctx, 36, ifindex);
            put32(&mut ctx, 40, ifindex);
            let data = buf.addr32(0);
            put32(&mut ctx, 76, data);
            put32(&mut ctx, 80, data + packet.len() as u32);
            put32(&mut ctx, 140, data);
            let ctx_region = Region::writable(&mut ctx);
            let r1 = ctx_region.addr();
            p.run_with_packet(
                [r1, 0, 0, 0, 0],
                [ctx_region, Region::writable(buf.bytes_mut())],
                packet,
            )
        });
        Ok(match r {
            Ok(retval) => SkbOutcome {
                keep: usize::try_from(retval)
                    .unwrap_or(usize::MAX)
                    .min(packet.len()),
                retval,
                error: None,
            },
            Err(e) => SkbOutcome {
                keep: 0,
                retval: 0,
                error: Some(e),
            },
        })
    }
}
