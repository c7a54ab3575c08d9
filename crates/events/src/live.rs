//! Packets from a live interface: an `AF_PACKET` socket (`ETH_P_ALL`) bound to one interface
//! in the caller's network namespace, received through a `TPACKET_V3` ring (see `ring`), each
//! incoming frame (outgoing copies skipped, as XDP sees only ingress) fired into an XDP or
//! socket filter hook. XDP_TX sends the frame, as the programs left it, back out of the
//! interface; XDP_REDIRECT is counted (there is no other device to redirect to).

use crate::replay::{PacketHook, ReplayStats};
use crate::ring::{self, RingConfig, RxRing};
use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use waggle_runtime::{SkbRunner, XdpRunner, xdp_action};

/// `PACKET_OUTGOING`: a frame this host sent.
const PACKET_OUTGOING: u8 = 4;
/// How long one wait for a block lasts, so that `run` notices its stop flag.
const POLL_MS: i32 = 100;

/// A packet socket listening on one interface through a receive ring.
#[derive(Debug)]
pub struct LiveSocket {
    // Declared before `fd`: the mapping goes before the socket it belongs to.
    ring: std::sync::Mutex<RxRing>,
    fd: OwnedFd,
    ifindex: u32,
}

fn io(e: nix::errno::Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

impl LiveSocket {
    /// Open a packet socket for interface `iface` (needs `CAP_NET_RAW`) with the default
    /// ring (64 blocks of 128 KiB). The socket belongs to the calling thread's network
    /// namespace.
    pub fn open(iface: &str) -> std::io::Result<LiveSocket> {
        Self::open_with_ring(iface, 1 << 17, 64)
    }

    /// Open a packet socket for `iface` with a ring of `block_nr` blocks of `block_size`
    /// bytes (a multiple of 4096, large enough for the biggest frame).
    pub fn open_with_ring(
        iface: &str,
        block_size: u32,
        block_nr: u32,
    ) -> std::io::Result<LiveSocket> {
        let ifindex = nix::net::if_::if_nametoindex(iface).map_err(io)?;
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::EthAll,
        )
        .map_err(io)?;
        // Older kernels lack it; outgoing frames are then skipped by their type below.
        let _ = ring::ignore_outgoing(fd.as_fd());
        let cfg = RingConfig {
            block_size,
            block_nr,
            ..RingConfig::default()
        };
        // The ring before the bind: frames arrive from the bind on, into the ring.
        let ring = RxRing::new(fd.as_fd(), cfg)?;
        ring::bind(fd.as_fd(), ifindex)?;
        Ok(LiveSocket {
            ring: std::sync::Mutex::new(ring),
            fd,
            ifindex,
        })
    }

    /// The interface's index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Send `frame` (from its Ethernet header) out of the interface, as XDP_TX does. Safe to
    /// call from another thread while `run` receives.
    pub fn send(&self, frame: &[u8]) -> std::io::Result<()> {
        ring::send(self.fd.as_fd(), self.ifindex, frame)
    }

    /// Fire `hook` for every frame received on the interface until `stop` is set; `passed`
    /// gets the frames that pass, as the programs left them. `progress`, if given, is called
    /// with the statistics so far after each block of packets. Frames are handled in arrival
    /// order.
    pub fn run(
        &self,
        hook: &PacketHook,
        stop: &AtomicBool,
        mut passed: impl FnMut(&[u8]),
        mut progress: impl FnMut(&ReplayStats),
    ) -> std::io::Result<ReplayStats> {
        let mut s = ReplayStats::default();
        let start = Instant::now();
        let (mut xdp, mut skb) = (None, None);
        let rt_err = |e: waggle_runtime::Error| std::io::Error::other(e.to_string());
        match hook {
            PacketHook::Xdp(_) => xdp = Some(XdpRunner::new().map_err(rt_err)?),
            PacketHook::SocketFilter(_) => skb = Some(SkbRunner::new().map_err(rt_err)?),
        }
        let mut ring = self
            .ring
            .lock()
            .map_err(|_| std::io::Error::other("ring lock poisoned"))?;
        while !stop.load(Ordering::Relaxed) {
            let handled = ring.with_next_block(|block| -> std::io::Result<()> {
                for f in ring::frames(block) {
                    if f.ifindex != self.ifindex as i32 || f.pkttype == PACKET_OUTGOING {
                        continue;
                    }
                    self.fire(hook, &mut xdp, &mut skb, f.data, &mut s, &mut passed)?;
                }
                Ok(())
            });
            match handled {
                Some(r) => {
                    r?;
                    progress(&s);
                }
                None => {
                    ring::poll_readable(self.fd.as_fd(), POLL_MS)?;
                }
            }
        }
        s.elapsed = start.elapsed();
        Ok(s)
    }

    fn fire(
        &self,
        hook: &PacketHook,
        xdp: &mut Option<XdpRunner>,
        skb: &mut Option<SkbRunner>,
        frame: &[u8],
        s: &mut ReplayStats,
        passed: &mut impl FnMut(&[u8]),
    ) -> std::io::Result<()> {
        let rt_err = |e: waggle_runtime::Error| std::io::Error::other(e.to_string());
        s.packets += 1;
        s.bytes += frame.len() as u64;
        match (hook, xdp, skb) {
            (PacketHook::Xdp(h), Some(r), _) => {
                let out = r.run(h, frame, self.ifindex, 0).map_err(rt_err)?;
                if let Some(e) = &out.error {
                    s.errors += 1;
                    s.first_error.get_or_insert_with(|| e.to_string());
                }
                match out.verdict {
                    v @ 0..=4 => s.verdicts[v as usize] += 1,
                    _ => s.invalid += 1,
                }
                if out.verdict == xdp_action::PASS {
                    let data = &r.frame()[out.data.clone()];
                    s.passed_bytes += data.len() as u64;
                    passed(data);
                } else if out.verdict == xdp_action::TX {
                    let data = &r.frame()[out.data.clone()];
                    if let Err(e) = self.send(data) {
                        s.tx_failed += 1;
                        s.first_error.get_or_insert_with(|| format!("XDP_TX: {e}"));
                    }
                }
            }
            (PacketHook::SocketFilter(h), _, Some(r)) => {
                let out = r.run(h, frame, self.ifindex).map_err(rt_err)?;
                if let Some(e) = &out.error {
                    s.errors += 1;
                    s.first_error.get_or_insert_with(|| e.to_string());
                }
                if out.keep == 0 {
                    s.verdicts[xdp_action::DROP as usize] += 1;
                } else {
                    s.verdicts[xdp_action::PASS as usize] += 1;
                    if out.keep < frame.len() {
                        s.truncated += 1;
                    }
                    s.passed_bytes += out.keep as u64;
                    passed(&frame[..out.keep]);
                }
            }
            _ => {}
        }
        Ok(())
    }
}
