//! Packets from a live interface: an `AF_PACKET` raw socket (`ETH_P_ALL`) in the caller's
//! network namespace, each frame received on the interface (outgoing copies skipped, as XDP
//! sees only ingress) fired into an XDP or socket filter hook. One `recvfrom` per packet;
//! a `TPACKET_V3` ring would save the copies and system calls (not done yet).

use crate::replay::{PacketHook, ReplayStats};
use nix::sys::socket::{
    AddressFamily, LinkAddr, SockFlag, SockProtocol, SockType, recvfrom, setsockopt, socket,
    sockopt,
};
use nix::sys::time::TimeVal;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use waggle_runtime::{SkbRunner, XdpRunner, xdp_action};

/// `PACKET_OUTGOING`: a frame this host sent.
const PACKET_OUTGOING: u8 = 4;

/// A packet socket listening on one interface.
#[derive(Debug)]
pub struct LiveSocket {
    fd: OwnedFd,
    ifindex: u32,
}

fn io(e: nix::errno::Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

impl LiveSocket {
    /// Open a packet socket for interface `iface` (needs `CAP_NET_RAW`). The socket belongs
    /// to the calling thread's network namespace.
    pub fn open(iface: &str) -> std::io::Result<LiveSocket> {
        let ifindex = nix::net::if_::if_nametoindex(iface).map_err(io)?;
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::EthAll,
        )
        .map_err(io)?;
        // A receive timeout, so that `run` notices its stop flag.
        setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 100_000)).map_err(io)?;
        Ok(LiveSocket { fd, ifindex })
    }

    /// The interface's index.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Fire `hook` for every frame received on the interface until `stop` is set; `passed`
    /// gets the frames that pass, as the programs left them. `progress`, if given, is called
    /// with the statistics so far after each packet.
    pub fn run(
        &self,
        hook: &PacketHook,
        stop: &AtomicBool,
        mut passed: impl FnMut(&[u8]),
        mut progress: impl FnMut(&ReplayStats),
    ) -> std::io::Result<ReplayStats> {
        let mut s = ReplayStats::default();
        let start = Instant::now();
        let mut buf = vec![0u8; 65536];
        let (mut xdp, mut skb) = (None, None);
        let rt_err = |e: waggle_runtime::Error| std::io::Error::other(e.to_string());
        match hook {
            PacketHook::Xdp(_) => xdp = Some(XdpRunner::new().map_err(rt_err)?),
            PacketHook::SocketFilter(_) => skb = Some(SkbRunner::new().map_err(rt_err)?),
        }
        while !stop.load(Ordering::Relaxed) {
            let (n, from) = match recvfrom::<LinkAddr>(self.fd.as_raw_fd(), &mut buf) {
                Ok(r) => r,
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(io(e)),
            };
            let Some(from) = from else { continue };
            if from.ifindex() != self.ifindex as usize || from.pkttype() == PACKET_OUTGOING {
                continue;
            }
            let frame = &buf[..n];
            s.packets += 1;
            s.bytes += n as u64;
            match (hook, &mut xdp, &mut skb) {
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
                        if out.keep < n {
                            s.truncated += 1;
                        }
                        s.passed_bytes += out.keep as u64;
                        passed(&frame[..out.keep]);
                    }
                }
                _ => {}
            }
            progress(&s);
        }
        s.elapsed = start.elapsed();
        Ok(s)
    }
}
