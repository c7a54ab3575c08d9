//! A `TPACKET_V3` receive ring on an `AF_PACKET` socket (`packet(7)`,
//! Documentation/networking/packet_mmap.rst): the kernel fills fixed-size blocks of a shared
//! mapping with frames and hands each block over by setting `TP_STATUS_USER` in its header; we
//! walk the block's `tpacket3_hdr` frames and give it back with `TP_STATUS_KERNEL`. One `poll`
//! per block instead of one `recvfrom` (and one copy) per packet.
//!
//! The only `unsafe` of the crate lives here: the mapping, the block status words shared with
//! the kernel, and the `libc` socket calls `nix` does not wrap for packet sockets. Walking a
//! block is safe code over a byte slice, bounds-checked, so a malformed block ends the walk
//! rather than reading outside it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// Block status bit: the block belongs to user space.
const TP_STATUS_USER: u32 = 1;
/// Offset of `hdr.bh1.block_status` in `struct tpacket_block_desc`.
const BLOCK_STATUS: usize = 8;
/// Offset of `hdr.bh1.num_pkts`.
const BLOCK_NUM_PKTS: usize = 12;
/// Offset of `hdr.bh1.offset_to_first_pkt`.
const BLOCK_FIRST: usize = 16;
/// `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`: where the `sockaddr_ll` follows a frame header.
const SLL_OFFSET: usize = 48;
/// `TPACKET_V3` of `enum tpacket_versions`.
const TPACKET_V3: libc::c_int = 2;

/// Ring geometry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RingConfig {
    /// Bytes per block (a multiple of the page size).
    pub block_size: u32,
    /// Number of blocks.
    pub block_nr: u32,
    /// Milliseconds after which the kernel hands over a block that is not full.
    pub retire_ms: u32,
}

impl Default for RingConfig {
    fn default() -> Self {
        // 64 blocks of 128 KiB: 8 MiB, enough for some thousand full-size frames in flight.
        RingConfig {
            block_size: 1 << 17,
            block_nr: 64,
            retire_ms: 10,
        }
    }
}

/// One received frame of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    /// The captured bytes (from the Ethernet header).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub len: u32,
    /// `sll_ifindex`: the interface it arrived on.
    pub ifindex: i32,
    /// `sll_pkttype` (`PACKET_HOST`, `PACKET_OUTGOING`, ...).
    pub pkttype: u8,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

/// The frames of one block, in arrival order: `num_pkts` `tpacket3_hdr`s from
/// `offset_to_first_pkt`, each linked by `tp_next_offset`. Stops at the first header that does
/// not fit in the block.
pub(crate) fn frames(block: &[u8]) -> impl Iterator<Item = Frame<'_>> {
    let n = u32_at(block, BLOCK_NUM_PKTS).unwrap_or(0);
    let mut off = u32_at(block, BLOCK_FIRST).map_or(usize::MAX, |o| o as usize);
    (0..n).map_while(move |_| {
        let h = block.get(off..)?;
        let next = u32_at(h, 0)? as usize;
        let snaplen = u32_at(h, 12)? as usize;
        let len = u32_at(h, 16)?;
        let mac = u16_at(h, 24)? as usize;
        let ifindex = u32_at(h, SLL_OFFSET + 4)? as i32;
        let pkttype = *h.get(SLL_OFFSET + 10)?;
        let data = h.get(mac..mac.checked_add(snaplen)?)?;
        // The last frame has no successor; a zero link elsewhere would loop, so it ends too.
        off = if next == 0 {
            usize::MAX
        } else {
            off.checked_add(next)?
        };
        Some(Frame {
            data,
            len,
            ifindex,
            pkttype,
        })
    })
}

/// Map a libc return value to an `io::Result`.
fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn setsockopt<T>(fd: BorrowedFd<'_>, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live `T` and the length passed is its size; the kernel only reads it.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
}

fn link_addr(ifindex: u32) -> libc::sockaddr_ll {
    // SAFETY: `sockaddr_ll` is plain integers, for which all-zero is a valid value.
    let mut a: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    a.sll_family = libc::AF_PACKET as u16;
    a.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    a.sll_ifindex = ifindex as i32;
    a
}

/// Bind packet socket `fd` to interface `ifindex` (all protocols), so that the ring receives
/// only that interface's frames.
pub(crate) fn bind(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    let a = link_addr(ifindex);
    // SAFETY: `a` is a live `sockaddr_ll` and the length passed is its size.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&a as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
}

/// Ask the kernel not to deliver this host's outgoing frames to `fd` (Linux ≥ 4.20; older
/// kernels refuse, and the caller filters on `pkttype` anyway).
pub(crate) fn ignore_outgoing(fd: BorrowedFd<'_>) -> io::Result<()> {
    setsockopt(fd, libc::PACKET_IGNORE_OUTGOING, &1 as &libc::c_int)
}

/// Send `frame` (from its Ethernet header) out of interface `ifindex` through packet socket
/// `fd`, as XDP_TX does.
pub(crate) fn send(fd: BorrowedFd<'_>, ifindex: u32, frame: &[u8]) -> io::Result<()> {
    let a = link_addr(ifindex);
    // SAFETY: `frame` is a live slice of the length passed, `a` a live `sockaddr_ll` of the
    // size passed; the kernel only reads both.
    let r = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&a as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Wait up to `timeout_ms` for `fd` to be readable (a block handed over). `Ok(false)` on
/// timeout or interruption.
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN | libc::POLLERR,
        revents: 0,
    };
    // SAFETY: `p` is one live `pollfd`, and one is the count passed.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(r > 0)
}

/// A `TPACKET_V3` receive ring mapped from a packet socket. It must not outlive the socket
/// (the owner keeps both and drops the ring first).
#[derive(Debug)]
pub(crate) struct RxRing {
    map: NonNull<u8>,
    block_size: usize,
    block_nr: usize,
    /// The block to look at next: the kernel fills blocks in order.
    next: usize,
}

// SAFETY: the mapping is owned by the ring (nothing else refers to it in this process), and
// all access to it goes through `&mut self`.
unsafe impl Send for RxRing {}

impl RxRing {
    /// Switch packet socket `fd` to `TPACKET_V3`, set up its receive ring and map it.
    pub(crate) fn new(fd: BorrowedFd<'_>, cfg: RingConfig) -> io::Result<RxRing> {
        let page = 4096u32;
        if cfg.block_size == 0 || !cfg.block_size.is_multiple_of(page) || cfg.block_nr == 0 {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        setsockopt(fd, libc::PACKET_VERSION, &TPACKET_V3)?;
        // Frame size and count are ignored by V3 except for a sanity check: frames must fit
        // in blocks, and frame_nr = blocks * frames per block.
        let frame_size = 2048u32;
        let req = libc::tpacket_req3 {
            tp_block_size: cfg.block_size,
            tp_block_nr: cfg.block_nr,
            tp_frame_size: frame_size,
            tp_frame_nr: cfg.block_size / frame_size * cfg.block_nr,
            tp_retire_blk_tov: cfg.retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(fd, libc::PACKET_RX_RING, &req)?;
        let len = cfg.block_size as usize * cfg.block_nr as usize;
        // SAFETY: a fresh shared mapping of the socket's ring, of exactly the ring's size, at
        // an address the kernel chooses; nothing else in this process refers to it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map = NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(RxRing {
            map,
            block_size: cfg.block_size as usize,
            block_nr: cfg.block_nr as usize,
            next: 0,
        })
    }

    fn status(&self, block: usize) -> &AtomicU32 {
        // SAFETY: `block < block_nr`, so the word lies inside the mapping (block headers are
        // at page-aligned block starts, the status word at offset 8, 4-aligned); the kernel
        // and we access it only atomically, and the mapping lives as long as `self`.
        unsafe {
            AtomicU32::from_ptr(
                self.map
                    .as_ptr()
                    .add(block * self.block_size + BLOCK_STATUS)
                    .cast(),
            )
        }
    }

    /// Call `f` with the next block if the kernel has handed it over, then give it back.
    /// Returns whether there was one.
    pub(crate) fn with_next_block<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let i = self.next;
        // Acquire: the frames the kernel wrote before handing the block over are visible.
        if self.status(i).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
            return None;
        }
        // SAFETY: the block is inside the mapping, and while its status says user the kernel
        // does not write to it; the slice ends before we hand it back below.
        let block = unsafe {
            std::slice::from_raw_parts(self.map.as_ptr().add(i * self.block_size), self.block_size)
        };
        let r = f(block);
        // Release: our reads of the block are done before the kernel may refill it.
        self.status(i)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.next = (i + 1) % self.block_nr;
        Some(r)
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, of this length, unmapped once; no slice of it
        // outlives `with_next_block`.
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), self.block_size * self.block_nr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block as the kernel lays it out: header, then frames linked by `tp_next_offset`.
    fn block(frames: &[(&[u8], u8)]) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4].copy_from_slice(&(frames.len() as u32).to_ne_bytes());
        let first = 48usize;
        b[BLOCK_FIRST..BLOCK_FIRST + 4].copy_from_slice(&(first as u32).to_ne_bytes());
        let mut off = first;
        for (i, (data, pkttype)) in frames.iter().enumerate() {
            let mac = 80usize;
            let size = (mac + data.len()).next_multiple_of(16);
            let next = if i + 1 == frames.len() { 0 } else { size };
            let h = &mut b[off..];
            h[0..4].copy_from_slice(&(next as u32).to_ne_bytes());
            h[12..16].copy_from_slice(&(data.len() as u32).to_ne_bytes());
            h[16..20].copy_from_slice(&(data.len() as u32 + 4).to_ne_bytes());
            h[24..26].copy_from_slice(&(mac as u16).to_ne_bytes());
            h[SLL_OFFSET + 4..SLL_OFFSET + 8].copy_from_slice(&7i32.to_ne_bytes());
            h[SLL_OFFSET + 10] = *pkttype;
            h[mac..mac + data.len()].copy_from_slice(data);
            off += size;
        }
        b
    }

    #[test]
    fn walks_frames_in_order() {
        let b = block(&[(b"first frame", 0), (b"second", 4), (b"third one!", 1)]);
        let got: Vec<_> = frames(&b).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].data, b"first frame");
        assert_eq!(got[1].data, b"second");
        assert_eq!(got[2].data, b"third one!");
        assert_eq!(got[1].pkttype, 4);
        assert_eq!(got[2].len, 14);
        assert!(got.iter().all(|f| f.ifindex == 7));
    }

    #[test]
    fn malformed_blocks_end_the_walk() {
        let mut b = block(&[(b"aaaa", 0), (b"bbbb", 0)]);
        // A count larger than the frames: stops after the last one (its link is 0).
        b[BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4].copy_from_slice(&9u32.to_ne_bytes());
        assert_eq!(frames(&b).count(), 2);
        // A snap length past the block's end: that frame and the rest are not given.
        let snap = 48 + 12;
        b[snap..snap + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(frames(&b).count(), 0);
        // A first-frame offset outside the block.
        let mut c = block(&[(b"x", 0)]);
        c[BLOCK_FIRST..BLOCK_FIRST + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(frames(&c).count(), 0);
        assert_eq!(frames(&[0u8; 10]).count(), 0);
    }

    #[test]
    fn geometry_is_checked_before_any_system_call() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = std::os::fd::AsFd::as_fd(&sock);
        for cfg in [
            RingConfig {
                block_size: 1000,
                ..RingConfig::default()
            },
            RingConfig {
                block_nr: 0,
                ..RingConfig::default()
            },
        ] {
            let e = RxRing::new(fd, cfg).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        }
    }
}
