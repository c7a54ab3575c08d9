//! Shared memory: one memfd per map, mapped `MAP_SHARED` by the daemon and by its clients.
//!
//! [`SharedRegion`] owns a memfd and the daemon's read-write mapping of it; the memfd is what
//! a daemon hands to clients (SCM_RIGHTS), which map it again with [`Mapping`], read-only or
//! read-write as their permission allows. A memfd is zero-filled and sized exactly for its
//! map (rounded up to whole pages), so there is no global segment to run out of and no second
//! load can wipe the first. All of the `unsafe` of mapping and unmapping is here.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering, fence};

use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

/// The page size memfd mappings are rounded to (4 KiB, as `PAGE_SIZE` in the map specs).
pub const SHM_PAGE: usize = crate::spec::PAGE_SIZE as usize;

/// `len` rounded up to whole pages, at least one; `None` on overflow.
pub fn page_round(len: usize) -> Option<usize> {
    len.max(1).checked_next_multiple_of(SHM_PAGE)
}

/// A memfd of `len` zeroed bytes and this process's read-write mapping of it.
pub struct SharedRegion {
    fd: OwnedFd,
    map: Mapping,
}

impl std::fmt::Debug for SharedRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRegion")
            .field("fd", &self.fd)
            .field("len", &self.map.len)
            .finish()
    }
}

impl SharedRegion {
    /// Creates a memfd named `name` (visible in `/proc/PID/fd` as `memfd:NAME`) of `len` bytes
    /// rounded up to whole pages, and maps it read-write.
    pub fn create(name: &str, len: usize) -> io::Result<SharedRegion> {
        let len = page_round(len).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        let fd = memfd_create(name, MemfdFlags::CLOEXEC)?;
        ftruncate(&fd, len as u64)?;
        let map = Mapping::map(fd.as_fd(), 0, len, true)?;
        Ok(SharedRegion { fd, map })
    }

    /// The memfd, to send to clients.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Start of the mapping (page aligned).
    pub fn ptr(&self) -> NonNull<u8> {
        self.map.ptr
    }

    /// Length of the mapping in bytes (a multiple of the page size).
    pub fn len(&self) -> usize {
        self.map.len
    }

    /// Whether the region is empty (never: at least one page).
    pub fn is_empty(&self) -> bool {
        self.map.len == 0
    }
}

/// One `MAP_SHARED` mapping of a file (a map's memfd), unmapped on drop.
///
/// Another process writes the same pages concurrently, so read it only with atomic or
/// volatile accesses through [`Mapping::ptr`] (see `waggle_daemon`'s shared views).
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: the mapping is plain shared memory owned by this value; it carries no thread
// affinity, and all accesses through it are atomic or volatile (the other side writes too).
unsafe impl Send for Mapping {}
// SAFETY: see `Send`: `&Mapping` only hands out the address.
unsafe impl Sync for Mapping {}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("writable", &self.writable)
            .finish()
    }
}

impl Mapping {
    /// Maps `len` bytes of `fd` from the page-aligned `offset`, read-write if `writable`.
    /// Fails (never panics) on a bad fd, offset or length.
    pub fn map(fd: BorrowedFd<'_>, offset: u64, len: usize, writable: bool) -> io::Result<Mapping> {
        if len == 0 || !offset.is_multiple_of(SHM_PAGE as u64) {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let prot = if writable {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        // SAFETY: a fresh mapping at an address the kernel chooses (null hint) aliases no Rust
        // object; on success it is `len` bytes long and stays valid until `drop` unmaps it.
        let raw = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                prot,
                MapFlags::SHARED,
                fd,
                offset,
            )?
        };
        let ptr = NonNull::new(raw.cast::<u8>())
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        Ok(Mapping { ptr, len, writable })
    }

    /// Start of the mapping.
    pub fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: `map` refuses a zero length).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the mapping was made writable.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// The 8-byte word at the 8-aligned `off` as an atomic, if in bounds.
    #[inline]
    fn word64(&self, off: usize) -> Option<&AtomicU64> {
        if !off.is_multiple_of(8) || off.checked_add(8)? > self.len {
            return None;
        }
        // SAFETY: in bounds and 8-aligned (the base is page aligned); the mapping lives as long
        // as `&self`; the other process also accesses these bytes atomically or as plain
        // stores by programs, which atomics tolerate.
        Some(unsafe { AtomicU64::from_ptr(self.ptr.as_ptr().add(off).cast()) })
    }

    /// Loads (acquire) the 8-byte word at the 8-aligned `off`; `None` if misaligned or out
    /// of bounds.
    #[inline]
    pub fn load_u64(&self, off: usize) -> Option<u64> {
        self.word64(off).map(|w| w.load(Ordering::Acquire))
    }

    /// Loads (acquire) the 4-byte word at the 4-aligned `off`.
    #[inline]
    pub fn load_u32(&self, off: usize) -> Option<u32> {
        if !off.is_multiple_of(4) || off.checked_add(4)? > self.len {
            return None;
        }
        // SAFETY: as in `word64`, for a 4-aligned, in-bounds word.
        let w = unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(off).cast()) };
        Some(w.load(Ordering::Acquire))
    }

    /// Stores (release) `v` at the 8-aligned `off`; false if read-only, misaligned or out of
    /// bounds.
    #[inline]
    pub fn store_u64(&self, off: usize, v: u64) -> bool {
        match self.word64(off) {
            Some(w) if self.writable => {
                w.store(v, Ordering::Release);
                true
            }
            _ => false,
        }
    }

    /// Adds `delta` (wrapping) to the 4-byte word at the 4-aligned `off` (sequentially
    /// consistent, as the ring buffer's waiter count needs); false if read-only, misaligned or
    /// out of bounds.
    pub fn fetch_add_u32(&self, off: usize, delta: u32) -> bool {
        if !self.writable
            || !off.is_multiple_of(4)
            || off.checked_add(4).is_none_or(|e| e > self.len)
        {
            return false;
        }
        // SAFETY: as in `load_u32`, for a 4-aligned, in-bounds word of a writable mapping.
        let w = unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(off).cast()) };
        w.fetch_add(delta, Ordering::SeqCst);
        true
    }

    /// Copies `out.len()` bytes from `off`; false (and `out` untouched) if out of bounds.
    pub fn read(&self, off: usize, out: &mut [u8]) -> bool {
        if off.checked_add(out.len()).is_none_or(|end| end > self.len) {
            return false;
        }
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: in bounds (checked above); byte atomics need no alignment.
            let a = unsafe { AtomicU8::from_ptr(self.ptr.as_ptr().add(off + i)) };
            *b = a.load(Ordering::Relaxed);
        }
        fence(Ordering::Acquire);
        true
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what `mmap` returned, unmapped once; every borrow
        // of the bytes is tied to `&self`, so none outlives this.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(m: &Mapping, off: usize) -> &AtomicU64 {
        assert!(off + 8 <= m.len());
        // SAFETY: in bounds, 8-aligned (page-aligned base), lives as long as `m`.
        unsafe { AtomicU64::from_ptr(m.ptr().as_ptr().add(off).cast()) }
    }

    #[test]
    fn second_mapping_sees_writes_of_the_first() {
        let r = SharedRegion::create("waggle-test", 100).unwrap();
        assert_eq!(r.len(), SHM_PAGE);
        let ro = Mapping::map(r.fd(), 0, r.len(), false).unwrap();
        assert!(!ro.writable());
        // SAFETY: in bounds of the region's own mapping.
        let w = unsafe { AtomicU64::from_ptr(r.ptr().as_ptr().add(64).cast()) };
        assert_eq!(
            word(&ro, 64).load(Ordering::Relaxed),
            0,
            "memfds start zeroed"
        );
        w.store(0xfeed, Ordering::Relaxed);
        assert_eq!(word(&ro, 64).load(Ordering::Relaxed), 0xfeed);
        let rw = Mapping::map(r.fd(), 0, r.len(), true).unwrap();
        assert!(rw.store_u64(8, 7));
        assert!(!ro.store_u64(8, 9), "read-only mappings refuse stores");
        assert_eq!(ro.load_u64(8), Some(7));
        assert_eq!(ro.load_u64(SHM_PAGE), None);
        assert_eq!(ro.load_u64(4), None);
        let mut b = [0u8; 3];
        assert!(ro.read(64, &mut b));
        assert_eq!(b, [0xed, 0xfe, 0]);
        assert!(!ro.read(SHM_PAGE - 1, &mut b));
        assert_eq!(w.fetch_add(0, Ordering::Relaxed), 0xfeed);
        assert_eq!(word(&ro, 8).load(Ordering::Relaxed), 7);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let r = SharedRegion::create("waggle-test", 3 * SHM_PAGE).unwrap();
        assert!(Mapping::map(r.fd(), 1, SHM_PAGE, false).is_err());
        assert!(Mapping::map(r.fd(), 0, 0, false).is_err());
        let tail = Mapping::map(r.fd(), 2 * SHM_PAGE as u64, SHM_PAGE, false).unwrap();
        assert_eq!(tail.len(), SHM_PAGE);
        assert_eq!(page_round(0), Some(SHM_PAGE));
        assert_eq!(page_round(usize::MAX), None);
    }

    #[test]
    fn array_element_i_is_at_i_times_stride_in_another_mapping() {
        use crate::{Map, MapSpec, MapType};
        let map = Map::create(&MapSpec::new(MapType::Array, 4, 12, 1000)).unwrap();
        let (fd, len) = map.shared_memory().expect("arrays live in a memfd");
        assert_eq!(len, (16 * 1000usize).next_multiple_of(SHM_PAGE));
        let ro = Mapping::map(fd, 0, len, false).unwrap();
        let mut v = [0u8; 12];
        v[..8].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        map.update(&777u32.to_ne_bytes(), &v, 0).unwrap();
        assert_eq!(
            word(&ro, 777 * 16).load(Ordering::Relaxed),
            0x1122_3344_5566_7788
        );
        assert_eq!(word(&ro, 776 * 16).load(Ordering::Relaxed), 0);
        let h = Map::create(&MapSpec::new(MapType::Hash, 4, 8, 10)).unwrap();
        assert!(h.shared_memory().is_some());
        let q = Map::create(&MapSpec::new(MapType::Queue, 0, 8, 10)).unwrap();
        assert!(q.shared_memory().is_none());
    }
}
