//! The runtime's `unsafe`: handing map storage and packet buffers to the engines as regions,
//! and allocating packet buffers below 4 GiB.
//!
//! Context fields such as `xdp_md.data` are 32 bits wide; the kernel's verifier rewrites the
//! loads to fetch 64-bit pointers. Until Waggle's verifier does the same, packet buffers are
//! placed in the low 4 GiB of the address space (`MAP_32BIT`), so that a 32-bit context field
//! holds the real address and the program's `ldxw` yields a pointer both engines can use.

use std::ptr::NonNull;
use std::sync::Arc;
use waggle_vm::Region;

/// A region over `len` bytes at `ptr` inside `owner`'s storage.
///
/// The region is `'static` because helpers' regions outlive any borrow; soundness rests on
/// `owner` outliving every run that uses the region: callers keep the owning map in the
/// program (or in the run) for at least as long as the run.
pub(crate) fn map_region<T: ?Sized>(
    _owner: &Arc<T>,
    ptr: NonNull<u8>,
    len: usize,
    writable: bool,
) -> Region<'static> {
    // SAFETY: `ptr..ptr+len` lies inside storage owned by `_owner` (the map returned this
    // pointer for an element of that size), which is allocated once at creation and never
    // moved or freed while the map lives; the program holds the map for its whole life, so the
    // memory stays valid for every run. Concurrent access by other runs is the same data race
    // the kernel allows for map values (programs use atomics where it matters).
    unsafe { Region::from_raw(ptr.as_ptr(), len, writable) }
}

/// A zeroed, page-aligned buffer in the low 4 GiB of the address space, for packets.
pub(crate) struct LowBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer is plain memory owned by this value; nothing else holds the pointer
// except regions of runs that borrow the buffer.
unsafe impl Send for LowBuffer {}

impl LowBuffer {
    /// Map `len` zeroed bytes below 4 GiB.
    pub(crate) fn new(len: usize) -> std::io::Result<LowBuffer> {
        let len = len.max(1).next_multiple_of(4096);
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        {
            // SAFETY: an anonymous private mapping with no address hint has no preconditions;
            // the result is checked before use.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            let ptr = NonNull::new(p.cast::<u8>())
                .ok_or_else(|| std::io::Error::other("mmap returned NULL"))?;
            Ok(LowBuffer { ptr, len })
        }
        #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
        {
            let _ = len;
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "packet buffers below 4 GiB need Linux on x86-64",
            ))
        }
    }

    /// The buffer's bytes.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is a live, writable mapping of `len` bytes owned by `self`, and the
        // `&mut self` borrow makes this the only access for the slice's lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The address of byte `off`, as a 32-bit context field holds it.
    pub(crate) fn addr32(&self, off: usize) -> u32 {
        (self.ptr.as_ptr() as usize + off) as u32
    }
}

impl Drop for LowBuffer {
    fn drop(&mut self) {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        // SAFETY: `ptr`/`len` are exactly the mapping created in `new`, unmapped once here;
        // no region of it outlives `self` (runs borrow the buffer).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}
