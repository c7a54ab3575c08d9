//! `BPF_MAP_TYPE_RINGBUF` (kernel/bpf/ringbuf.c): a multi-producer, single-consumer ring of
//! variable-length records with the kernel's layout, so a later shared mapping can be read by
//! a libbpf-style consumer:
//!
//! ```text
//! 0      consumer page: consumer_pos (u64, written by the consumer); at 64, the number of
//!        consumers in other processes waiting on the notification eventfd (u32)
//! 4096   producer page: producer_pos (u64), pending_pos (u64), producer lock (u32)
//! 8192   data: max_entries bytes of records
//! ```
//!
//! Each record is an 8-byte header `{ u32 len; u32 pg_off; }` (`len` carries
//! `BPF_RINGBUF_BUSY_BIT` while reserved and `BPF_RINGBUF_DISCARD_BIT` when discarded) followed
//! by the sample, padded to 8 bytes. The kernel maps the data area twice so a record may wrap;
//! a heap region cannot, so a record that would cross the end is preceded by a discarded filler
//! record up to the end, which consumers already skip. Positions only grow; offsets are
//! `pos & (max_entries - 1)`.
//!
//! The region is a memfd of its own ([`crate::Map::shared_memory`]): a consumer in another
//! process maps the consumer page read-write and the rest read-only, as libbpf maps the
//! kernel's ring buffer, and consumes records by reading `producer_pos` (acquire), the record
//! headers (acquire) and advancing `consumer_pos` (release), with no round trip.
//!
//! Waiting without polling: the kernel's ring buffer fd is epoll-able, its producers waking
//! the consumer on commit (unless `BPF_RB_NO_WAKEUP`; always with `BPF_RB_FORCE_WAKEUP`).
//! Here an eventfd ([`RingBuf::notify_fd`]) plays that part for other processes: a consumer
//! adds itself to the waiter count at [`CONSUMER_WAITERS_OFF`], checks for data once more and
//! polls the eventfd; a committing producer that would wake signals the eventfd only when the
//! count is non-zero, so the producer's fast path stays one extra load.

use crate::error::{MapError, Result};
use crate::spec::{MapSpec, PAGE_SIZE};
use crate::storage::{Storage, spin_lock, spin_unlock};
use rustix::event::{EventfdFlags, eventfd};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// `BPF_RINGBUF_BUSY_BIT`: the record is reserved, not yet committed.
pub const BPF_RINGBUF_BUSY_BIT: u32 = 1 << 31;
/// `BPF_RINGBUF_DISCARD_BIT`: the record was discarded; consumers skip it.
pub const BPF_RINGBUF_DISCARD_BIT: u32 = 1 << 30;
/// `BPF_RINGBUF_HDR_SZ`: size of a record header.
pub const BPF_RINGBUF_HDR_SZ: u32 = 8;
/// `BPF_RB_NO_WAKEUP`: do not wake the consumer for this record.
pub const BPF_RB_NO_WAKEUP: u64 = 1;
/// `BPF_RB_FORCE_WAKEUP`: wake the consumer even if it is behind.
pub const BPF_RB_FORCE_WAKEUP: u64 = 2;
/// `bpf_ringbuf_query` flag: bytes not yet consumed.
pub const BPF_RB_AVAIL_DATA: u64 = 0;
/// `bpf_ringbuf_query` flag: size of the data area.
pub const BPF_RB_RING_SIZE: u64 = 1;
/// `bpf_ringbuf_query` flag: consumer position.
pub const BPF_RB_CONS_POS: u64 = 2;
/// `bpf_ringbuf_query` flag: producer position.
pub const BPF_RB_PROD_POS: u64 = 3;
/// Largest sample `bpf_ringbuf_reserve` accepts (`RINGBUF_MAX_RECORD_SZ`).
pub const RINGBUF_MAX_RECORD_SZ: u64 = (u32::MAX / 4) as u64;

/// Offset of `consumer_pos` in the region.
pub const CONSUMER_POS_OFF: usize = 0;
/// Offset of the count of other processes' consumers waiting on [`RingBuf::notify_fd`]
/// (`u32`, in the consumer page, which such consumers map writable).
pub const CONSUMER_WAITERS_OFF: usize = 64;
/// Offset of `producer_pos` in the region.
pub const PRODUCER_POS_OFF: usize = PAGE_SIZE as usize;
const PENDING_POS_OFF: usize = PRODUCER_POS_OFF + 8;
const LOCK_OFF: usize = PRODUCER_POS_OFF + 16;
/// Offset of the data area in the region.
pub const DATA_OFF: usize = 2 * PAGE_SIZE as usize;

const LEN_MASK: u32 = !(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);

/// A BPF ring buffer.
#[derive(Debug)]
pub struct RingBuf {
    st: Storage,
    size: u64,
    mask: u64,
    consumer: Mutex<()>,
    notify: Mutex<u64>,
    cv: Condvar,
    waiters: AtomicU32,
    /// Signalled when a commit would wake and another process's consumer waits.
    event_fd: Option<OwnedFd>,
}

fn rec_len(len: u32) -> u64 {
    u64::from((len & LEN_MASK) + BPF_RINGBUF_HDR_SZ).next_multiple_of(8)
}

impl RingBuf {
    /// Allocates the ring buffer described by a validated `spec` (`max_entries` data bytes).
    pub(crate) fn new(spec: &MapSpec) -> Result<RingBuf> {
        let size = u64::from(spec.max_entries);
        Ok(RingBuf {
            st: Storage::new_shared("waggle-ringbuf", DATA_OFF + size as usize)?,
            size,
            mask: size - 1,
            consumer: Mutex::new(()),
            notify: Mutex::new(0),
            cv: Condvar::new(),
            waiters: AtomicU32::new(0),
            // Without an eventfd (out of fds) the ring still works; remote consumers poll.
            event_fd: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).ok(),
        })
    }

    /// The eventfd signalled when a record is committed while another process's consumer
    /// waits (see the module documentation), to hand to such consumers.
    pub fn notify_fd(&self) -> Option<BorrowedFd<'_>> {
        self.event_fd.as_ref().map(AsFd::as_fd)
    }

    /// The region holding positions and records (the kernel's mmap layout).
    pub fn storage(&self) -> &Storage {
        &self.st
    }

    fn pos(&self, off: usize) -> &AtomicU64 {
        self.st.u64_at(off)
    }

    fn hdr_len(&self, data_off: u64) -> &AtomicU32 {
        self.st.u32_at(DATA_OFF + data_off as usize)
    }

    /// Whether `ptr` points into this ring buffer's data area (to find the map of a sample
    /// passed to `bpf_ringbuf_submit`, which names no map).
    pub fn contains(&self, ptr: *const u8) -> bool {
        self.st.offset_of(ptr).is_some_and(|o| o >= DATA_OFF)
    }

    /// `bpf_ringbuf_reserve`: room for a `size`-byte sample, or `None` (bad flags, too big,
    /// or not enough free space). The sample must then be submitted or discarded.
    pub fn reserve(&self, size: u64, flags: u64) -> Option<NonNull<u8>> {
        if flags != 0 || size > RINGBUF_MAX_RECORD_SZ {
            return None;
        }
        let len = (size + u64::from(BPF_RINGBUF_HDR_SZ)).next_multiple_of(8);
        if len > self.size {
            return None;
        }
        let cons = self.pos(CONSUMER_POS_OFF).load(Ordering::Acquire);
        let lock = self.st.u32_at(LOCK_OFF);
        spin_lock(lock);
        let prod = self.pos(PRODUCER_POS_OFF).load(Ordering::Relaxed);
        // Move pending_pos past committed records: space still held by a busy record must not
        // be handed out again even when the consumer skipped ahead of it.
        let mut pend = self.pos(PENDING_POS_OFF).load(Ordering::Relaxed);
        while pend < prod {
            let l = self.hdr_len(pend & self.mask).load(Ordering::Acquire);
            if l & BPF_RINGBUF_BUSY_BIT != 0 {
                break;
            }
            pend += rec_len(l);
        }
        self.pos(PENDING_POS_OFF).store(pend, Ordering::Relaxed);
        let off = prod & self.mask;
        let tail = self.size - off;
        let total = if len > tail { tail + len } else { len };
        let new_prod = prod + total;
        if new_prod - cons > self.mask || new_prod - pend > self.mask {
            spin_unlock(lock);
            return None;
        }
        let rec_off = if len > tail {
            // Filler up to the end of the data area, already committed and discarded.
            self.write_hdr(
                off,
                (tail as u32 - BPF_RINGBUF_HDR_SZ) | BPF_RINGBUF_DISCARD_BIT,
            );
            0
        } else {
            off
        };
        self.write_hdr(rec_off, size as u32 | BPF_RINGBUF_BUSY_BIT);
        self.pos(PRODUCER_POS_OFF)
            .store(new_prod, Ordering::Release);
        spin_unlock(lock);
        Some(self.st.ptr_at(DATA_OFF + rec_off as usize + 8))
    }

    fn write_hdr(&self, data_off: u64, len: u32) {
        let at = DATA_OFF + data_off as usize;
        // pg_off: the header's page offset in the region, as the kernel records it.
        self.st
            .u32_at(at + 4)
            .store((at / PAGE_SIZE as usize) as u32, Ordering::Relaxed);
        self.st.u32_at(at).store(len, Ordering::Relaxed);
    }

    /// `bpf_ringbuf_submit`: commits a reserved sample.
    pub fn submit(&self, sample: NonNull<u8>, flags: u64) -> Result<()> {
        self.commit(sample, flags, false)
    }

    /// `bpf_ringbuf_discard`: releases a reserved sample unseen by the consumer.
    pub fn discard(&self, sample: NonNull<u8>, flags: u64) -> Result<()> {
        self.commit(sample, flags, true)
    }

    fn commit(&self, sample: NonNull<u8>, flags: u64, discard: bool) -> Result<()> {
        let off = self
            .st
            .offset_of(sample.as_ptr())
            .filter(|&o| o >= DATA_OFF + 8 && (o - DATA_OFF).is_multiple_of(8))
            .ok_or(MapError::Invalid("not a sample of this ring buffer"))?;
        let rec_pos = (off - 8 - DATA_OFF) as u64;
        let hdr = self.hdr_len(rec_pos);
        let l = hdr.load(Ordering::Relaxed);
        if l & BPF_RINGBUF_BUSY_BIT == 0 {
            return Err(MapError::Invalid("sample already committed"));
        }
        let mut new = l ^ BPF_RINGBUF_BUSY_BIT;
        if discard {
            new |= BPF_RINGBUF_DISCARD_BIT;
        }
        // Release: the program's writes to the sample become visible with the header.
        hdr.swap(new, Ordering::AcqRel);
        let cons = self.pos(CONSUMER_POS_OFF).load(Ordering::Acquire) & self.mask;
        // Wake if the consumer waits at this record; at offset 0 it may wait at a filler.
        let caught_up = cons == rec_pos || rec_pos == 0;
        if flags & BPF_RB_FORCE_WAKEUP != 0 || (caught_up && flags & BPF_RB_NO_WAKEUP == 0) {
            self.wake();
        }
        Ok(())
    }

    /// `bpf_ringbuf_output`: copies `data` into a new record (`EAGAIN` if there is no room).
    pub fn output(&self, data: &[u8], flags: u64) -> Result<()> {
        if flags & !(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP) != 0 {
            return Err(MapError::Invalid("unknown ringbuf output flags"));
        }
        let p = self
            .reserve(data.len() as u64, 0)
            .ok_or(MapError::TryAgain)?;
        let off = self
            .st
            .offset_of(p.as_ptr())
            .expect("reserved in this region");
        self.st.write(off, data);
        self.submit(p, flags)
    }

    /// `bpf_ringbuf_query`.
    pub fn query(&self, flags: u64) -> u64 {
        let cons = self.pos(CONSUMER_POS_OFF).load(Ordering::Acquire);
        let prod = self.pos(PRODUCER_POS_OFF).load(Ordering::Acquire);
        match flags {
            BPF_RB_AVAIL_DATA => prod.saturating_sub(cons),
            BPF_RB_RING_SIZE => self.size,
            BPF_RB_CONS_POS => cons,
            BPF_RB_PROD_POS => prod,
            _ => 0,
        }
    }

    /// Consumes every committed record in order, calling `f` with each non-discarded sample;
    /// stops at the first record still reserved. Returns the number of samples seen.
    /// Consumers are serialised (the ring has one consumer position).
    pub fn consume(&self, mut f: impl FnMut(&[u8])) -> usize {
        let _c = self.consumer.lock().unwrap_or_else(|e| e.into_inner());
        let cons_pos = self.pos(CONSUMER_POS_OFF);
        let mut cons = cons_pos.load(Ordering::Acquire);
        let mut n = 0;
        loop {
            let prod = self.pos(PRODUCER_POS_OFF).load(Ordering::Acquire);
            if cons >= prod {
                return n;
            }
            while cons < prod {
                let at = cons & self.mask;
                let l = self.hdr_len(at).load(Ordering::Acquire);
                if l & BPF_RINGBUF_BUSY_BIT != 0 {
                    return n;
                }
                if l & BPF_RINGBUF_DISCARD_BIT == 0 {
                    let start = DATA_OFF + at as usize + 8;
                    // SAFETY: the record is committed (acquire load of its header), and no
                    // producer reuses its bytes before consumer_pos moves past it, below.
                    let sample = unsafe { self.st.bytes(start, (l & LEN_MASK) as usize) };
                    f(sample);
                    n += 1;
                }
                cons += rec_len(l);
                cons_pos.store(cons, Ordering::Release);
            }
        }
    }

    /// Whether a committed record waits at the consumer position.
    pub fn has_data(&self) -> bool {
        let cons = self.pos(CONSUMER_POS_OFF).load(Ordering::Acquire);
        let prod = self.pos(PRODUCER_POS_OFF).load(Ordering::Acquire);
        cons < prod
            && self.hdr_len(cons & self.mask).load(Ordering::SeqCst) & BPF_RINGBUF_BUSY_BIT == 0
    }

    fn wake(&self) {
        // Pairs with the fence in `wait`: either the waiter sees the committed header or we
        // see the waiter.
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let mut g = self.notify.lock().unwrap_or_else(|e| e.into_inner());
            *g = g.wrapping_add(1);
            self.cv.notify_all();
        }
        if let Some(fd) = &self.event_fd
            && self.st.u32_at(CONSUMER_WAITERS_OFF).load(Ordering::SeqCst) > 0
        {
            // EAGAIN (the counter is saturated) still leaves the eventfd readable.
            let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
        }
    }

    /// Blocks until a record can be consumed or `timeout` passes; true if data is there.
    /// Records submitted with `BPF_RB_NO_WAKEUP` do not end the wait early.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.notify.lock().unwrap_or_else(|e| e.into_inner());
        self.waiters.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let ready = loop {
            if self.has_data() {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            g = self
                .cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        drop(g);
        ready
    }

    /// `ring_buffer__poll`: consumes what is there, or waits up to `timeout` for more and
    /// consumes it. Returns the number of samples seen.
    pub fn poll(&self, timeout: Duration, mut f: impl FnMut(&[u8])) -> usize {
        let n = self.consume(&mut f);
        if n > 0 || !self.wait(timeout) {
            return n;
        }
        self.consume(f)
    }

    /// Bytes allocated for the map.
    pub fn memory_usage(&self) -> usize {
        self.st.len() + std::mem::size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::Mapping;
    use crate::{Map, MapSpec, MapType};

    fn readable(fd: BorrowedFd<'_>) -> bool {
        let mut b = [0u8; 8];
        rustix::io::read(fd, &mut b).is_ok()
    }

    #[test]
    fn eventfd_is_signalled_only_while_a_remote_consumer_waits() {
        let map = Map::create(&MapSpec::new(MapType::Ringbuf, 0, 0, 4096)).unwrap();
        let rb = map.as_ringbuf().unwrap();
        let (fd, len) = map.shared_memory().unwrap();
        let m = Mapping::map(fd, 0, len, true).unwrap();
        let efd = rb.notify_fd().expect("eventfd");
        rb.output(&[1; 8], 0).unwrap();
        assert!(!readable(efd), "nobody waits: no signal");
        rb.consume(|_| {});
        assert!(m.fetch_add_u32(CONSUMER_WAITERS_OFF, 1));
        rb.output(&[2; 8], BPF_RB_NO_WAKEUP).unwrap();
        assert!(!readable(efd), "BPF_RB_NO_WAKEUP does not signal");
        rb.output(&[3; 8], BPF_RB_FORCE_WAKEUP).unwrap();
        assert!(readable(efd), "BPF_RB_FORCE_WAKEUP signals");
        rb.consume(|_| {});
        rb.output(&[4; 8], 0).unwrap();
        assert!(readable(efd), "a caught-up consumer is woken");
        assert!(m.fetch_add_u32(CONSUMER_WAITERS_OFF, u32::MAX));
        rb.consume(|_| {});
        rb.output(&[5; 8], 0).unwrap();
        assert!(!readable(efd), "the waiter left: no signal");
    }
}
