//! Run memory: the regions a run may touch, and every `unsafe` access to them.
//!
//! Registers hold real host addresses. Each access is checked against, in this order: the
//! active stack frames, the caller's regions, and regions that helpers added during the run.
//! Only after a check succeeds is a pointer formed, always from the pointer of the region that
//! contains the access (never from the integer address), so provenance is preserved.
//!
//! This module is the only place in the crate with `unsafe` code.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Bytes of stack per frame (the kernel's `MAX_BPF_STACK`).
pub const STACK_FRAME_SIZE: usize = 512;
/// Most frames active at once: the program's own and up to seven nested calls (the kernel's
/// `MAX_CALL_FRAMES`).
pub const MAX_FRAMES: usize = 8;
const STACK_SIZE: usize = STACK_FRAME_SIZE * MAX_FRAMES;

/// A block of host memory a run may access: read-only or read-write.
///
/// Regions are built safely from borrowed slices, which they borrow for `'a`, or, for memory
/// whose lifetime the borrow checker cannot see (map values of a runtime), with the unsafe
/// [`Region::from_raw`].
#[derive(Debug)]
pub struct Region<'a> {
    ptr: *mut u8,
    len: usize,
    writable: bool,
    _borrow: PhantomData<&'a mut [u8]>,
}

// SAFETY: a `Region` is a `&'a [u8]` or a `&'a mut [u8]` in disguise (or, through `from_raw`,
// whatever its creator promised to treat like one), both of which are `Send`. It is not `Sync`:
// two threads running with the same `&RunConfig` would otherwise write to one region at once.
unsafe impl Send for Region<'_> {}

impl<'a> Region<'a> {
    /// A region the program may read but not write.
    pub fn readonly(bytes: &'a [u8]) -> Region<'a> {
        Region {
            // Never written through: `writable` is false.
            ptr: bytes.as_ptr().cast_mut(),
            len: bytes.len(),
            writable: false,
            _borrow: PhantomData,
        }
    }

    /// A region the program may read and write.
    pub fn writable(bytes: &'a mut [u8]) -> Region<'a> {
        Region {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            writable: true,
            _borrow: PhantomData,
        }
    }

    /// A region over `len` bytes of host memory at `addr`.
    ///
    /// # Safety
    ///
    /// For the whole lifetime `'a` (and at least until every run given this region has ended):
    /// the `len` bytes at `addr` must be allocated and initialised, `addr + len` must not wrap
    /// and `len` must not exceed `isize::MAX`; nothing else may write them while a run reads
    /// them, and, if `writable`, nothing else may read or write them while a run may write them
    /// — except with atomic operations, where the program uses atomic instructions too.
    pub unsafe fn from_raw(addr: *mut u8, len: usize, writable: bool) -> Region<'a> {
        Region {
            ptr: addr,
            len,
            writable,
            _borrow: PhantomData,
        }
    }

    /// The host address of the first byte, as the program sees it in a register.
    pub fn addr(&self) -> u64 {
        self.ptr.addr() as u64
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no bytes (no access can fall inside it).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the program may write it.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// A pointer to `len` bytes at `addr` if they lie inside this region (and it is writable,
    /// for a write). Correct when `addr + len` wraps around: `off < self.len` and
    /// `len <= self.len - off` bound the access inside the region without any addition.
    #[inline(always)]
    fn locate(&self, addr: u64, len: u64, write: bool) -> Option<*mut u8> {
        let off = addr.wrapping_sub(self.addr());
        let size = self.len as u64;
        if off < size && len <= size - off && (self.writable || !write) {
            Some(self.ptr.wrapping_add(off as usize))
        } else {
            None
        }
    }

    /// The same region, borrowed from this one (to collect regions of different origins
    /// into one list for a run).
    pub fn reborrow(&self) -> Region<'_> {
        Region {
            ptr: self.ptr,
            len: self.len,
            writable: self.writable,
            _borrow: PhantomData,
        }
    }

    /// Copy `out.len()` bytes at offset `off` of the region into `out`; false (and nothing
    /// copied) if they are not all inside it. For a caller that must look at memory it is
    /// about to hand to a run (e.g. pointers inside a context) without keeping a borrow.
    pub fn copy_out(&self, off: usize, out: &mut [u8]) -> bool {
        let Some(p) = self.locate(
            self.addr().wrapping_add(off as u64),
            out.len() as u64,
            false,
        ) else {
            return false;
        };
        // SAFETY: `locate` granted `out.len()` bytes inside the region, which its constructor
        // guarantees are allocated and initialised for `'a`; `out` is a distinct `&mut`
        // buffer, so the ranges cannot overlap (a region's bytes are never a live `&mut`
        // elsewhere while the region exists). The copy holds no borrow past this call.
        unsafe { std::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
        true
    }

    fn same_as(&self, other: &Region<'_>) -> bool {
        self.ptr == other.ptr && self.len == other.len && self.writable == other.writable
    }
}

/// Storage for all eight stack frames; lives in the frame of the Rust function running the
/// program. It starts uninitialised: [`Stack`] zeroes each frame before it first becomes
/// reachable, so a run that makes no calls pays for 512 bytes of zeroing, not 4 KiB.
/// Aligned like the kernel's stack, so that r10 and aligned offsets from it suit atomics.
#[repr(C, align(64))]
pub(crate) struct StackBuf(MaybeUninit<[u8; STACK_SIZE]>);

impl StackBuf {
    /// Uninitialised storage (costs nothing).
    pub(crate) fn new() -> StackBuf {
        StackBuf(MaybeUninit::uninit())
    }
}

/// The active part of the stack. Frame `d` occupies the 512 bytes below
/// `top - d * 512`, so frames 0..=depth form one contiguous range and one range check covers
/// every active frame (a callee may use a pointer into its caller's frame).
///
/// Invariant (kept by `set_depth`, the only writer of `depth`): frames 0..`ready` are
/// initialised and `depth < ready <= MAX_FRAMES`, so every byte `locate` grants is initialised.
pub(crate) struct Stack<'r> {
    /// Start of the whole buffer; every stack pointer is derived from it.
    base: *mut u8,
    /// Lowest active byte, as an address and as a pointer.
    lo: u64,
    lo_ptr: *mut u8,
    /// Number of active bytes, `(depth + 1) * 512`.
    len: u64,
    depth: usize,
    ready: usize,
    _buf: PhantomData<&'r mut StackBuf>,
}

impl<'r> Stack<'r> {
    /// A stack with frame 0 active and zeroed.
    pub(crate) fn new(buf: &'r mut StackBuf) -> Stack<'r> {
        let base = buf.0.as_mut_ptr().cast::<u8>();
        let mut stack = Stack {
            base,
            lo: 0,
            lo_ptr: base,
            len: 0,
            depth: 0,
            ready: 0,
            _buf: PhantomData,
        };
        stack.set_depth(0);
        stack
    }

    /// Zero every frame up to and including `depth` not zeroed yet (the invariant that makes
    /// the active frames initialised).
    fn zero_frames_to(&mut self, depth: usize) {
        let depth = depth.min(MAX_FRAMES - 1);
        while self.ready <= depth {
            let start = STACK_SIZE - (self.ready + 1) * STACK_FRAME_SIZE;
            // SAFETY: `ready <= depth < MAX_FRAMES`, so `start..start + 512` lies inside the
            // 4 KiB buffer `base` points to, which `_buf` borrows mutably for 'r.
            unsafe { self.base.add(start).write_bytes(0, STACK_FRAME_SIZE) };
            self.ready += 1;
        }
    }

    /// Make frames 0..=depth the active ones, zeroing any not zeroed yet.
    fn set_depth(&mut self, depth: usize) {
        let depth = depth.min(MAX_FRAMES - 1);
        self.zero_frames_to(depth);
        self.depth = depth;
        let active = (depth + 1) * STACK_FRAME_SIZE;
        self.len = active as u64;
        self.lo_ptr = self.base.wrapping_add(STACK_SIZE - active);
        self.lo = self.lo_ptr.addr() as u64;
    }

    /// The frame pointer (r10) of frame `depth`: one past its highest byte.
    fn frame_top(&self, depth: usize) -> u64 {
        (self.base.addr() + STACK_SIZE - depth * STACK_FRAME_SIZE) as u64
    }

    /// The current frame's r10.
    pub(crate) fn fp(&self) -> u64 {
        self.frame_top(self.depth)
    }

    /// Number of frames entered by calls (0 in the program's own frame).
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Enter a new frame; returns its r10, or `None` when all eight frames are in use.
    ///
    /// A frame is zeroed the first time a run reaches it. When a run re-enters it, it holds
    /// bytes the same run wrote earlier: never host memory, and (as in the kernel, whose
    /// verifier forbids reading uninitialised stack) the program must not rely on them.
    #[inline]
    pub(crate) fn push(&mut self) -> Option<u64> {
        let depth = self.depth + 1;
        if depth >= MAX_FRAMES {
            return None;
        }
        self.set_depth(depth);
        Some(self.fp())
    }

    /// Leave the current frame; returns the caller's r10. In frame 0 this does nothing.
    #[inline]
    pub(crate) fn pop(&mut self) -> u64 {
        self.set_depth(self.depth.saturating_sub(1));
        self.fp()
    }

    #[inline(always)]
    fn locate(&self, addr: u64, len: u64) -> Option<*mut u8> {
        let off = addr.wrapping_sub(self.lo);
        if off < self.len && len <= self.len - off {
            Some(self.lo_ptr.wrapping_add(off as usize))
        } else {
            None
        }
    }
}

/// Why an atomic access failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum AtomicFault {
    /// Outside every writable region.
    OutOfBounds,
    /// Not aligned to its size.
    Misaligned,
}

/// The read-modify-write operation of an atomic instruction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Rmw {
    Add,
    Or,
    And,
    Xor,
    Xchg,
    /// Compare with the given expected value, store on equality.
    CmpXchg,
}

/// Integer types the program loads and stores.
pub(crate) trait Scalar: Copy + sealed::Sealed {
    /// Size in bytes.
    const SIZE: u64;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

impl Scalar for u8 {
    const SIZE: u64 = 1;
}
impl Scalar for u16 {
    const SIZE: u64 = 2;
}
impl Scalar for u32 {
    const SIZE: u64 = 4;
}
impl Scalar for u64 {
    const SIZE: u64 = 8;
}

/// Find `len` bytes at `addr` in the stack, then the caller's regions, then helper regions.
#[inline(always)]
fn locate(
    stack: &Stack<'_>,
    regions: &[Region<'_>],
    extra: &[Region<'static>],
    addr: u64,
    len: u64,
    write: bool,
) -> Option<*mut u8> {
    if let Some(p) = stack.locate(addr, len) {
        return Some(p);
    }
    for r in regions {
        if let Some(p) = r.locate(addr, len, write) {
            return Some(p);
        }
    }
    locate_extra(extra, addr, len, write)
}

#[inline(never)]
fn locate_extra(extra: &[Region<'static>], addr: u64, len: u64, write: bool) -> Option<*mut u8> {
    extra.iter().find_map(|r| r.locate(addr, len, write))
}

/// Everything one run may touch. Lives in the Rust frame of the run.
pub(crate) struct Memory<'r> {
    pub(crate) stack: Stack<'r>,
    regions: &'r [Region<'r>],
    extra: Vec<Region<'static>>,
}

impl<'r> Memory<'r> {
    /// The run's memory: the stack in `buf` (frame 0 zeroed) and the caller's `regions`.
    pub(crate) fn new(buf: &'r mut StackBuf, regions: &'r [Region<'r>]) -> Memory<'r> {
        Memory {
            stack: Stack::new(buf),
            regions,
            extra: Vec::new(),
        }
    }

    #[inline(always)]
    fn locate(&self, addr: u64, len: u64, write: bool) -> Option<*mut u8> {
        locate(&self.stack, self.regions, &self.extra, addr, len, write)
    }

    /// Read a `T` at `addr`, or `None` if it is not inside a region.
    #[inline(always)]
    pub(crate) fn load<T: Scalar>(&self, addr: u64) -> Option<T> {
        let p = self.locate(addr, T::SIZE, false)?;
        // SAFETY: `locate` returned a pointer to `T::SIZE` bytes inside one region: the active
        // (initialised) stack frames, a borrowed slice, or memory whose creator promised it is
        // readable (`Region::from_raw`). Any bit pattern is a valid `T`; unaligned is allowed.
        Some(unsafe { p.cast::<T>().read_unaligned() })
    }

    /// Write `value` at `addr`; `None` (and nothing written) if it is not inside a writable
    /// region.
    #[inline(always)]
    pub(crate) fn store<T: Scalar>(&mut self, addr: u64, value: T) -> Option<()> {
        let p = self.locate(addr, T::SIZE, true)?;
        // SAFETY: as in `load`, and the region is writable: the stack, a `&mut` slice, or raw
        // memory its creator declared writable. `&mut self` rules out live `&[u8]` handed out
        // by `HelperContext::read`.
        unsafe { p.cast::<T>().write_unaligned(value) };
        Some(())
    }

    /// Atomically apply `op` to the 32-bit word at `addr`; returns the old value.
    pub(crate) fn atomic32(
        &mut self,
        addr: u64,
        op: Rmw,
        value: u32,
        expected: u32,
    ) -> Result<u32, AtomicFault> {
        let p = self.locate(addr, 4, true).ok_or(AtomicFault::OutOfBounds)?;
        if !addr.is_multiple_of(4) {
            return Err(AtomicFault::Misaligned);
        }
        // SAFETY: `p` points to 4 writable bytes inside a region (see `store`), and is 4-byte
        // aligned because its address equals `addr`. The run is single-threaded; memory shared
        // with other threads is only reachable through `Region::from_raw`, whose contract
        // allows concurrent access only with atomics.
        let a = unsafe { AtomicU32::from_ptr(p.cast::<u32>()) };
        let order = Ordering::SeqCst;
        Ok(match op {
            Rmw::Add => a.fetch_add(value, order),
            Rmw::Or => a.fetch_or(value, order),
            Rmw::And => a.fetch_and(value, order),
            Rmw::Xor => a.fetch_xor(value, order),
            Rmw::Xchg => a.swap(value, order),
            Rmw::CmpXchg => match a.compare_exchange(expected, value, order, order) {
                Ok(v) | Err(v) => v,
            },
        })
    }

    /// Atomically apply `op` to the 64-bit word at `addr`; returns the old value.
    pub(crate) fn atomic64(
        &mut self,
        addr: u64,
        op: Rmw,
        value: u64,
        expected: u64,
    ) -> Result<u64, AtomicFault> {
        let p = self.locate(addr, 8, true).ok_or(AtomicFault::OutOfBounds)?;
        if !addr.is_multiple_of(8) {
            return Err(AtomicFault::Misaligned);
        }
        // SAFETY: as in `atomic32`, with 8 bytes, 8-byte aligned (the alignment of
        // `AtomicU64` on every target that has it).
        let a = unsafe { AtomicU64::from_ptr(p.cast::<u64>()) };
        let order = Ordering::SeqCst;
        Ok(match op {
            Rmw::Add => a.fetch_add(value, order),
            Rmw::Or => a.fetch_or(value, order),
            Rmw::And => a.fetch_and(value, order),
            Rmw::Xor => a.fetch_xor(value, order),
            Rmw::Xchg => a.swap(value, order),
            Rmw::CmpXchg => match a.compare_exchange(expected, value, order, order) {
                Ok(v) | Err(v) => v,
            },
        })
    }

    /// The `len` bytes at `addr`, if one region holds them all (a helper's read when it
    /// holds the whole run memory, to be able to call back into the program).
    pub(crate) fn read_bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        if len == 0 {
            return Some(&[]);
        }
        let p = self.locate(addr, len as u64, false)?;
        // SAFETY: as in `MemoryMut::read`: `p` points to `len` initialised, readable bytes of
        // one region, and the slice borrows `self`, so no store or call can run while it lives.
        Some(unsafe { std::slice::from_raw_parts(p, len) })
    }

    /// The view a helper gets for the duration of its call.
    pub(crate) fn helper_view(&mut self) -> MemoryMut<'_> {
        MemoryMut {
            stack: &self.stack,
            regions: self.regions,
            extra: &mut self.extra,
        }
    }
}

/// A helper's access to run memory: the same regions and checks as the program's.
pub(crate) struct MemoryMut<'c> {
    stack: &'c Stack<'c>,
    regions: &'c [Region<'c>],
    extra: &'c mut Vec<Region<'static>>,
}

impl MemoryMut<'_> {
    fn locate(&self, addr: u64, len: usize, write: bool) -> Option<*mut u8> {
        locate(
            self.stack,
            self.regions,
            self.extra,
            addr,
            len as u64,
            write,
        )
    }

    /// The `len` bytes at `addr`, if one region holds them all.
    pub(crate) fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        if len == 0 {
            return Some(&[]);
        }
        let p = self.locate(addr, len, false)?;
        // SAFETY: `p` points to `len` initialised, readable bytes of one region (see
        // `Memory::load`); `len` fits the region, so it is at most `isize::MAX`. The slice
        // borrows `self`, so the run cannot write through `write` (it takes `&mut self`) or
        // run program instructions while it lives.
        Some(unsafe { std::slice::from_raw_parts(p, len) })
    }

    /// Copy `data` to `addr`, if one writable region holds all of it.
    pub(crate) fn write(&mut self, addr: u64, data: &[u8]) -> Option<()> {
        if data.is_empty() {
            return Some(());
        }
        let p = self.locate(addr, data.len(), true)?;
        // SAFETY: `p` points to `data.len()` writable bytes of one region (see
        // `Memory::store`). `data` is a Rust slice the helper holds, so it cannot be a slice
        // `read` returned (that would borrow `self`, which `&mut self` excludes); if it is
        // other memory overlapping the region, `copy` handles overlap.
        unsafe { std::ptr::copy(data.as_ptr(), p, data.len()) };
        Some(())
    }

    /// Make `region` accessible for the rest of the run (an identical region is kept once).
    pub(crate) fn add_region(&mut self, region: Region<'static>) {
        if !self.extra.iter().any(|r| r.same_as(&region)) {
            self.extra.push(region);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem_with<'r>(buf: &'r mut StackBuf, regions: &'r [Region<'r>]) -> Memory<'r> {
        Memory::new(buf, regions)
    }

    #[test]
    fn frame_zero_is_zeroed_and_bounded() {
        let mut buf = StackBuf::new();
        let mut m = mem_with(&mut buf, &[]);
        let fp = m.stack.fp();
        assert_eq!(fp % 16, 0);
        for i in 1..=512u64 {
            assert_eq!(m.load::<u8>(fp - i), Some(0), "byte fp-{i}");
        }
        assert_eq!(m.load::<u8>(fp), None, "one past the top");
        assert_eq!(m.load::<u8>(fp - 513), None, "one below the frame");
        assert_eq!(m.load::<u64>(fp - 8), Some(0));
        assert_eq!(m.load::<u64>(fp - 7), None, "straddles the top");
        assert_eq!(m.load::<u64>(fp - 512), Some(0));
        assert_eq!(m.load::<u64>(fp - 513), None, "straddles the bottom");
        assert_eq!(m.store::<u64>(fp - 8, 0x1122_3344_5566_7788), Some(()));
        assert_eq!(m.load::<u32>(fp - 8), Some(0x5566_7788));
        assert_eq!(m.store::<u16>(fp - 1, 1), None);
        assert_eq!(m.store::<u8>(fp, 1), None);
    }

    #[test]
    fn frames_push_pop_zero_and_widen() {
        let mut buf = StackBuf::new();
        let mut m = mem_with(&mut buf, &[]);
        let fp0 = m.stack.fp();
        m.store::<u8>(fp0 - 1, 7).unwrap();
        let fp1 = m.stack.push().unwrap();
        assert_eq!(fp1, fp0 - 512);
        assert_eq!(m.stack.depth(), 1);
        // The callee reaches its own (zeroed) frame and the caller's.
        assert_eq!(m.load::<u8>(fp1 - 512), Some(0));
        assert_eq!(m.load::<u8>(fp1 - 513), None);
        assert_eq!(m.load::<u8>(fp0 - 1), Some(7));
        m.store::<u8>(fp1 - 1, 9).unwrap();
        assert_eq!(m.stack.pop(), fp0);
        assert_eq!(m.load::<u8>(fp1 - 1), None, "the callee frame is gone");
        // Re-entering keeps the run's own bytes (never host memory).
        m.stack.push().unwrap();
        assert_eq!(m.load::<u8>(fp1 - 1), Some(9));
        for _ in 2..MAX_FRAMES {
            assert!(m.stack.push().is_some());
        }
        assert_eq!(m.stack.depth(), MAX_FRAMES - 1);
        assert_eq!(m.stack.push(), None, "a ninth frame");
        let lowest = m.stack.fp() - 512;
        assert_eq!(m.load::<u64>(lowest), Some(0));
        assert_eq!(m.load::<u64>(fp0 - 8), Some(7 << 56));
        for _ in 0..MAX_FRAMES + 2 {
            m.stack.pop();
        }
        assert_eq!(m.stack.fp(), fp0);
        assert_eq!(m.load::<u8>(fp0 - 513), None);
    }

    #[test]
    fn region_boundaries() {
        let mut bytes = [0u8; 16];
        let mut buf = StackBuf::new();
        let region = [Region::writable(&mut bytes)];
        let start = region[0].addr();
        let mut m = mem_with(&mut buf, &region);
        assert_eq!(m.store::<u8>(start + 15, 0xaa), Some(()), "last byte");
        assert_eq!(m.load::<u8>(start + 15), Some(0xaa));
        assert_eq!(m.load::<u8>(start + 16), None, "one past the end");
        assert_eq!(
            m.load::<u8>(start.wrapping_sub(1)),
            None,
            "one before the start"
        );
        assert_eq!(m.load::<u64>(start + 8), Some(0xaa << 56));
        assert_eq!(m.load::<u64>(start + 9), None, "straddles the end");
        assert_eq!(m.store::<u64>(start + 9, 1), None);
        assert_eq!(
            m.load::<u64>(start.wrapping_sub(4)),
            None,
            "straddles the start"
        );
        assert_eq!(m.load::<u32>(start), Some(0));
        drop(m);
        assert_eq!(bytes[15], 0xaa);
        assert_eq!(bytes[..15], [0; 15]);
    }

    /// A region over made-up addresses, only for the bounds arithmetic of `locate` (which
    /// never dereferences).
    fn fake_region(addr: usize, len: usize) -> Region<'static> {
        // SAFETY: the region is never handed to a run, and `locate` only computes addresses.
        unsafe { Region::from_raw(std::ptr::without_provenance_mut(addr), len, true) }
    }

    #[test]
    fn wrap_around_is_refused() {
        // At the very top of the address space: the last byte is in, anything that wraps is
        // out.
        let top = fake_region(usize::MAX - 15, 16);
        let end = u64::MAX;
        assert!(top.locate(end, 1, true).is_some(), "last byte");
        assert!(top.locate(end - 7, 8, true).is_some());
        assert!(
            top.locate(end - 6, 8, true).is_none(),
            "addr + len wraps to 1"
        );
        assert!(top.locate(end, 2, false).is_none(), "addr + len wraps to 1");
        assert!(
            top.locate(end - 16, 1, false).is_none(),
            "one before the start"
        );
        // Near address 0: an access starting near the top whose end wraps into the region.
        let low = fake_region(8, 16);
        assert!(low.locate(u64::MAX - 1, 16, false).is_none(), "wraps to 14");
        assert!(low.locate(u64::MAX, 10, false).is_none(), "wraps to 9");
        assert!(low.locate(8, 16, false).is_some());
        assert!(low.locate(8, 17, false).is_none());
        assert!(low.locate(23, 1, false).is_some());
        assert!(low.locate(24, 1, false).is_none(), "one past the end");
        assert!(low.locate(9, u64::MAX, false).is_none(), "huge length");
        // Through `Memory`, with a real region and the stack.
        let bytes = [1u8; 8];
        let mut buf = StackBuf::new();
        let region = [Region::readonly(&bytes)];
        let m = mem_with(&mut buf, &region);
        for addr in [u64::MAX, u64::MAX - 3, u64::MAX - 6] {
            assert_eq!(m.load::<u64>(addr), None, "{addr:#x}");
        }
        let start = region[0].addr();
        assert_eq!(m.load::<u64>(start), Some(0x0101_0101_0101_0101));
        assert_eq!(m.load::<u64>(start.wrapping_sub(u64::MAX)), None);
    }

    #[test]
    fn readonly_and_empty_regions() {
        let ro = [5u8; 4];
        let empty: [u8; 0] = [];
        let mut buf = StackBuf::new();
        let regions = [Region::readonly(&ro), Region::readonly(&empty)];
        let (ro_addr, empty_addr) = (regions[0].addr(), regions[1].addr());
        let mut m = mem_with(&mut buf, &regions);
        assert_eq!(m.load::<u32>(ro_addr), Some(0x0505_0505));
        assert_eq!(m.store::<u8>(ro_addr, 1), None, "read-only");
        assert_eq!(
            m.atomic32(ro_addr, Rmw::Add, 1, 0),
            Err(AtomicFault::OutOfBounds)
        );
        assert!(regions[1].is_empty());
        if empty_addr != ro_addr {
            assert_eq!(m.load::<u8>(empty_addr), None, "zero-length region");
        }
        assert!(
            Region::readonly(&empty)
                .locate(empty_addr, 0, false)
                .is_none()
        );
        assert_eq!(ro, [5; 4]);
    }

    #[repr(align(8))]
    struct Aligned([u8; 16]);

    #[test]
    fn atomics() {
        let mut words = Aligned([0; 16]);
        let mut buf = StackBuf::new();
        let regions = [Region::writable(&mut words.0)];
        let a = regions[0].addr();
        let mut m = mem_with(&mut buf, &regions);
        assert_eq!(m.atomic64(a, Rmw::Add, 5, 0), Ok(0));
        assert_eq!(m.atomic64(a, Rmw::Xchg, 9, 0), Ok(5));
        assert_eq!(m.atomic64(a, Rmw::CmpXchg, 1, 8), Ok(9), "no swap");
        assert_eq!(m.load::<u64>(a), Some(9));
        assert_eq!(m.atomic64(a, Rmw::CmpXchg, 1, 9), Ok(9), "swap");
        assert_eq!(m.load::<u64>(a), Some(1));
        assert_eq!(m.atomic32(a + 8, Rmw::Or, 0xf0, 0), Ok(0));
        assert_eq!(m.atomic32(a + 8, Rmw::And, 0x30, 0), Ok(0xf0));
        assert_eq!(m.atomic32(a + 8, Rmw::Xor, 0xff, 0), Ok(0x30));
        assert_eq!(m.load::<u32>(a + 8), Some(0xcf));
        assert_eq!(
            m.atomic32(a + 2, Rmw::Add, 1, 0),
            Err(AtomicFault::Misaligned)
        );
        assert_eq!(
            m.atomic64(a + 4, Rmw::Add, 1, 0),
            Err(AtomicFault::Misaligned)
        );
        assert_eq!(
            m.atomic64(a + 16, Rmw::Add, 1, 0),
            Err(AtomicFault::OutOfBounds)
        );
        assert_eq!(
            m.atomic32(a + 14, Rmw::Add, 1, 0),
            Err(AtomicFault::OutOfBounds)
        );
        let fp = m.stack.fp();
        assert_eq!(m.atomic64(fp - 8, Rmw::Add, 3, 0), Ok(0));
        assert_eq!(m.load::<u64>(fp - 8), Some(3));
        assert_eq!(
            m.atomic64(fp, Rmw::Add, 3, 0),
            Err(AtomicFault::OutOfBounds)
        );
        drop(m);
        assert_eq!(words.0[..8], 1u64.to_le_bytes());
    }

    #[test]
    fn helper_view_reads_writes_and_adds_regions() {
        let mut bytes = [0u8; 8];
        let ro = [3u8; 4];
        let mut buf = StackBuf::new();
        let regions = [Region::writable(&mut bytes), Region::readonly(&ro)];
        let (a, r) = (regions[0].addr(), regions[1].addr());
        let mut m = mem_with(&mut buf, &regions);
        let fp = m.stack.fp();
        {
            let mut v = m.helper_view();
            assert_eq!(v.write(a + 4, &[1, 2, 3, 4]), Some(()));
            assert_eq!(v.write(a + 5, &[1, 2, 3, 4]), None, "one past the end");
            assert_eq!(v.write(r, &[1]), None, "read-only");
            assert_eq!(
                v.write(a + 100, &[]),
                Some(()),
                "empty write touches nothing"
            );
            assert_eq!(v.read(a + 4, 4), Some(&[1, 2, 3, 4][..]));
            assert_eq!(v.read(r, 4), Some(&[3; 4][..]));
            assert_eq!(v.read(r, 5), None);
            assert_eq!(v.read(fp - 512, 512).map(<[u8]>::len), Some(512));
            assert_eq!(v.read(fp - 512, 513), None);
            let leaked: &'static mut [u8] = Box::leak(vec![7u8; 3].into_boxed_slice());
            let extra = Region::writable(leaked);
            let e = extra.addr();
            v.add_region(extra);
            assert_eq!(v.read(e, 3), Some(&[7, 7, 7][..]));
        }
        let e = m.extra[0].addr();
        assert_eq!(m.load::<u8>(e + 2), Some(7));
        assert_eq!(m.store::<u8>(e + 3, 7), None);
        drop(m);
        assert_eq!(bytes, [0, 0, 0, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn from_raw_region() {
        let mut bytes = vec![0u8; 32];
        let p = bytes.as_mut_ptr();
        // SAFETY: `bytes` outlives the region and is not used while it lives.
        let region = unsafe { Region::from_raw(p.wrapping_add(8), 8, true) };
        let a = region.addr();
        let mut buf = StackBuf::new();
        let regions = [region];
        let mut m = mem_with(&mut buf, &regions);
        assert_eq!(m.store::<u64>(a, u64::MAX), Some(()));
        assert_eq!(m.store::<u8>(a - 1, 1), None);
        assert_eq!(m.store::<u8>(a + 8, 1), None);
        drop(m);
        assert_eq!(bytes[8..16], [0xff; 8]);
        assert_eq!(bytes[7], 0);
        assert_eq!(bytes[16], 0);
    }
}
