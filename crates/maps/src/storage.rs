//! Flat byte regions that hold map elements, and the locks that live inside them.
//!
//! A [`Storage`] is one zeroed, 64-byte aligned region made when the map is created. All
//! element bytes (keys, values, bucket heads, free lists, ring buffer positions) are reached
//! through it by offset; nothing inside holds a heap pointer, so the same layout works in a
//! shared memory mapping: [`Storage::new_shared`] backs it with a memfd of its own (arrays,
//! hashes, ring buffers), whose fd [`Storage::shared_fd`] hands to other processes.
//!
//! Map code touches the bytes only through atomic loads and stores (relaxed, word-sized),
//! because BPF programs and other threads access the same bytes concurrently; in Rust's memory
//! model only atomics make that defined. Programs themselves write through raw pointers as in
//! the kernel. This module holds most of the crate's `unsafe` code.

use crate::error::{MapError, Result};
use crate::shm::SharedRegion;
use std::alloc::{self, Layout};
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};

/// Bytes currently allocated by all maps of the process.
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

/// Bytes currently allocated by all maps (element storage and bookkeeping) in this process.
///
/// Unloading every map brings this back to its value before they were created.
pub fn allocated_bytes() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// Alignment of every region: a cache line, which also gives the 8-byte alignment maps need.
pub const STORAGE_ALIGN: usize = 64;

/// A charge of heap bytes against [`allocated_bytes`], for the structures that are not a
/// [`Storage`] (trie nodes, perf samples, reference slots). Dropping it returns the bytes.
#[derive(Debug, Default)]
pub(crate) struct MemCharge(AtomicUsize);

impl MemCharge {
    /// Sets the charged amount to `bytes`, adjusting the global counter by the difference.
    pub(crate) fn set(&self, bytes: usize) {
        let old = self.0.swap(bytes, Ordering::Relaxed);
        if bytes >= old {
            ALLOCATED.fetch_add(bytes - old, Ordering::Relaxed);
        } else {
            ALLOCATED.fetch_sub(old - bytes, Ordering::Relaxed);
        }
    }

    /// Adds `bytes` to the charge.
    pub(crate) fn add(&self, bytes: usize) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
        ALLOCATED.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Removes `bytes` from the charge.
    pub(crate) fn sub(&self, bytes: usize) {
        self.0.fetch_sub(bytes, Ordering::Relaxed);
        ALLOCATED.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// The bytes charged now.
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

impl Drop for MemCharge {
    fn drop(&mut self) {
        ALLOCATED.fetch_sub(*self.0.get_mut(), Ordering::Relaxed);
    }
}

/// One flat, zero-initialised, 64-byte aligned region of map memory.
///
/// Offsets given to the word accessors must be 8-byte (or, for `u32`, 4-byte) aligned (checked
/// in debug builds) and in bounds (always checked: out of bounds panics). Either mistake is a
/// bug in the map code, never a user error.
///
/// The bytes come from the heap ([`Storage::new`]) or from a memfd mapped `MAP_SHARED`
/// ([`Storage::new_shared`]); only creation and release differ, since nothing inside is a
/// pointer.
pub struct Storage {
    ptr: NonNull<u8>,
    len: usize,
    /// `None`: a heap allocation of `len` bytes; `Some`: the memfd and its mapping, or
    /// another process's memfd as mapped here.
    shared: Option<Backing>,
}

/// Where a non-heap region's bytes come from.
enum Backing {
    /// A memfd this process created (the map's owner).
    Region(SharedRegion),
    /// A mapping of a memfd received from the owner ([`Storage::from_mapping`]), held to
    /// be unmapped on drop.
    Mapped(#[allow(dead_code)] crate::shm::Mapping),
}

// SAFETY: the region is plain memory owned by this value; all shared access from map code goes
// through atomics, so handing it to or sharing it with other threads is sound.
unsafe impl Send for Storage {}
// SAFETY: see `Send`: `&Storage` only permits atomic access to the bytes.
unsafe impl Sync for Storage {}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

impl Storage {
    /// Allocates `len` zeroed bytes (rounded up to 8, at least 8); `ENOMEM` on failure.
    pub fn new(len: usize) -> Result<Storage> {
        let len = len.max(8).checked_add(7).ok_or(MapError::NoMemory)? & !7;
        let layout = Layout::from_size_align(len, STORAGE_ALIGN).map_err(|_| MapError::NoMemory)?;
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).ok_or(MapError::NoMemory)?;
        ALLOCATED.fetch_add(len, Ordering::Relaxed);
        Ok(Storage {
            ptr,
            len,
            shared: None,
        })
    }

    /// Allocates `len` zeroed bytes in a memfd of their own named `name`, rounded up to whole
    /// pages (the page-aligned start gives element `i` of an array the same offset in every
    /// process that maps it). Falls back to the heap when memfds are unavailable (e.g. out of
    /// file descriptors): the map still works, it just cannot be shared.
    pub fn new_shared(name: &str, len: usize) -> Result<Storage> {
        let Ok(region) = SharedRegion::create(name, len) else {
            return Storage::new(len);
        };
        let (ptr, len) = (region.ptr(), region.len());
        ALLOCATED.fetch_add(len, Ordering::Relaxed);
        Ok(Storage {
            ptr,
            len,
            shared: Some(Backing::Region(region)),
        })
    }

    /// A region over `mapping`, another process's map memory as mapped here (e.g. a hash
    /// map's memfd received from the daemon), so that the map's own read code can run over
    /// it. A read-only mapping must only be read: any store through it faults, so wrap it in
    /// a type that offers reads only (see [`crate::hash::SharedHashView`]).
    pub fn from_mapping(mapping: crate::shm::Mapping) -> Storage {
        let (ptr, len) = (mapping.ptr(), mapping.len());
        ALLOCATED.fetch_add(len, Ordering::Relaxed);
        Storage {
            ptr,
            len,
            shared: Some(Backing::Mapped(mapping)),
        }
    }

    /// The memfd behind the region, if it is shared memory.
    pub fn shared_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.shared {
            Some(Backing::Region(r)) => Some(r.fd()),
            _ => None,
        }
    }

    /// The size of the region in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty (never: regions are at least 8 bytes).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Address of byte `off` (`off == len` allowed, as a one-past-the-end address).
    #[inline]
    pub fn ptr_at(&self, off: usize) -> NonNull<u8> {
        assert!(off <= self.len, "storage offset {off} out of bounds");
        // SAFETY: `off` is within the allocation (or one past its end).
        unsafe { self.ptr.add(off) }
    }

    /// Whether `ptr` points into this region; returns its offset.
    pub fn offset_of(&self, ptr: *const u8) -> Option<usize> {
        let base = self.ptr.as_ptr() as usize;
        let p = ptr as usize;
        (p >= base && p < base + self.len).then(|| p - base)
    }

    /// The whole region as 8-byte atomic words.
    #[inline]
    pub fn words64(&self) -> &[AtomicU64] {
        // SAFETY: the region is 64-byte aligned, `len` is a multiple of 8, it lives as long as
        // `&self`, and map code only accesses it atomically.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast(), self.len / 8) }
    }

    /// The whole region as 4-byte atomic words.
    #[inline]
    pub fn words32(&self) -> &[AtomicU32] {
        // SAFETY: as in `words64`, with 4-byte words.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast(), self.len / 4) }
    }

    /// The 8-byte word at the 8-aligned `off`, as an atomic.
    #[inline]
    pub fn u64_at(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off.is_multiple_of(8), "misaligned u64 offset {off}");
        &self.words64()[off / 8]
    }

    /// The `N` 8-byte words from the 8-aligned `off`, with one bounds check for all of them.
    #[inline]
    pub(crate) fn u64s_at<const N: usize>(&self, off: usize) -> &[AtomicU64; N] {
        debug_assert!(off.is_multiple_of(8), "misaligned u64 offset {off}");
        let words = self.words64();
        match words.get(off / 8..).and_then(|w| w.first_chunk::<N>()) {
            Some(w) => w,
            None => out_of_bounds(off, self.len),
        }
    }

    /// The 8-byte word at `off` without a bounds check, for hot paths whose offsets are in
    /// bounds by construction.
    ///
    /// # Safety
    /// `off` must be 8-aligned and `off + 8 <= self.len()`.
    #[inline(always)]
    pub(crate) unsafe fn u64_unchecked(&self, off: usize) -> &AtomicU64 {
        debug_assert!(
            off.is_multiple_of(8) && off + 8 <= self.len,
            "bad u64 offset {off}"
        );
        // SAFETY: in bounds and aligned (the caller's promise); the region lives as long as
        // `&self` and map code only accesses it atomically.
        unsafe { AtomicU64::from_ptr(self.ptr.as_ptr().add(off).cast()) }
    }

    /// The 4-byte word at `off` without a bounds check.
    ///
    /// # Safety
    /// `off` must be 4-aligned and `off + 4 <= self.len()`.
    #[inline(always)]
    pub(crate) unsafe fn u32_unchecked(&self, off: usize) -> &AtomicU32 {
        debug_assert!(
            off.is_multiple_of(4) && off + 4 <= self.len,
            "bad u32 offset {off}"
        );
        // SAFETY: as in `u64_unchecked`.
        unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(off).cast()) }
    }

    /// Address of byte `off` without a bounds check.
    ///
    /// # Safety
    /// `off <= self.len()`.
    #[inline(always)]
    pub(crate) unsafe fn ptr_unchecked(&self, off: usize) -> NonNull<u8> {
        debug_assert!(off <= self.len, "storage offset {off} out of bounds");
        // SAFETY: within the allocation or one past its end (the caller's promise).
        unsafe { self.ptr.add(off) }
    }

    /// The 4-byte word at the 4-aligned `off`, as an atomic.
    #[inline]
    pub fn u32_at(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off.is_multiple_of(4), "misaligned u32 offset {off}");
        &self.words32()[off / 4]
    }

    /// Copies `out.len()` bytes starting at the 8-aligned `off` into `out`.
    #[inline]
    pub fn read(&self, off: usize, out: &mut [u8]) {
        let mut chunks = out.chunks_exact_mut(8);
        let mut o = off;
        for c in &mut chunks {
            c.copy_from_slice(&self.u64_at(o).load(Ordering::Relaxed).to_le_bytes());
            o += 8;
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let w = self.u64_at(o).load(Ordering::Relaxed).to_le_bytes();
            rest.copy_from_slice(&w[..rest.len()]);
        }
    }

    /// Copies `src` to the 8-aligned `off`; the bytes of a last partial word are zeroed.
    #[inline]
    pub fn write(&self, off: usize, src: &[u8]) {
        let mut chunks = src.chunks_exact(8);
        let mut o = off;
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
            self.u64_at(o).store(w, Ordering::Relaxed);
            o += 8;
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.u64_at(o).store(pad_word(rest), Ordering::Relaxed);
        }
    }

    /// Zeroes `len` bytes (rounded up to 8) from the 8-aligned `off`.
    pub fn zero(&self, off: usize, len: usize) {
        for o in (off..off + len).step_by(8) {
            self.u64_at(o).store(0, Ordering::Relaxed);
        }
    }

    /// Whether the bytes at the 8-aligned `off` equal `key` (padding in storage must be zero).
    #[inline]
    pub fn key_eq(&self, off: usize, key: &[u8]) -> bool {
        let mut chunks = key.chunks_exact(8);
        let mut o = off;
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
            if self.u64_at(o).load(Ordering::Relaxed) != w {
                return false;
            }
            o += 8;
        }
        let rest = chunks.remainder();
        rest.is_empty() || self.u64_at(o).load(Ordering::Relaxed) == pad_word(rest)
    }

    /// Copies a map value out, in 4-byte units so the bytes next to a `bpf_spin_lock` are
    /// accessed at the lock's width; the special fields read as zero, as the kernel's
    /// `check_and_init_map_value` does.
    pub fn read_value_skip_fields(&self, off: usize, out: &mut [u8], fields: Fields) {
        for (i, c) in out.chunks_mut(4).enumerate() {
            let w = if fields.covers(i * 4) {
                0
            } else {
                self.u32_at(off + i * 4).load(Ordering::Relaxed)
            };
            c.copy_from_slice(&w.to_le_bytes()[..c.len()]);
        }
    }

    /// Copies a map value in, in 4-byte units, leaving the special fields untouched
    /// (`copy_map_value` skips them).
    pub fn write_value_skip_fields(&self, off: usize, src: &[u8], fields: Fields) {
        for (i, c) in src.chunks(4).enumerate() {
            if fields.covers(i * 4) {
                continue;
            }
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            self.u32_at(off + i * 4)
                .store(u32::from_le_bytes(w), Ordering::Relaxed);
        }
    }

    /// `copy_map_value` (and `copy_map_value_locked` when `take_lock`): copies a value in,
    /// never overwriting its special fields (`bpf_spin_lock`, `bpf_timer`).
    pub fn write_map_value(&self, off: usize, src: &[u8], fields: Fields, take_lock: bool) {
        if fields.is_empty() {
            return self.write(off, src);
        }
        let lock = fields.lock.filter(|_| take_lock);
        if let Some(l) = lock {
            spin_lock(self.u32_at(off + l as usize));
        }
        self.write_value_skip_fields(off, src, fields);
        if let Some(l) = lock {
            spin_unlock(self.u32_at(off + l as usize));
        }
    }

    /// Copies a value out (under its spin lock when `take_lock`); the special fields read as
    /// zero.
    pub fn read_map_value(&self, off: usize, out: &mut [u8], fields: Fields, take_lock: bool) {
        if fields.is_empty() {
            return self.read(off, out);
        }
        let lock = fields.lock.filter(|_| take_lock);
        if let Some(l) = lock {
            spin_lock(self.u32_at(off + l as usize));
        }
        self.read_value_skip_fields(off, out, fields);
        if let Some(l) = lock {
            spin_unlock(self.u32_at(off + l as usize));
        }
    }

    /// A shared view of `len` bytes at `off`.
    ///
    /// # Safety
    /// No thread may write those bytes while the returned slice lives (the ring buffer hands
    /// out committed records, which producers do not touch until the consumer moves past).
    pub unsafe fn bytes(&self, off: usize, len: usize) -> &[u8] {
        assert!(off.checked_add(len).is_some_and(|end| end <= self.len));
        // SAFETY: in bounds; the caller guarantees no concurrent writes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(off), len) }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        // A shared region or mapping unmaps itself when the field drops.
        if self.shared.is_none() {
            let layout =
                Layout::from_size_align(self.len, STORAGE_ALIGN).expect("layout was valid");
            // SAFETY: allocated in `new` with exactly this layout, freed once.
            unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) };
        }
        ALLOCATED.fetch_sub(self.len, Ordering::Relaxed);
    }
}

/// The special fields of a map value (the kernel's `btf_record`), from BTF: a
/// `bpf_spin_lock` (4 bytes) and a `bpf_timer` (16 bytes). Values are copied in and out
/// around them: user space reads them as zero and never overwrites them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fields {
    /// Offset of the `bpf_spin_lock`.
    pub lock: Option<u32>,
    /// Offset of the `bpf_timer`.
    pub timer: Option<u32>,
}

/// `sizeof(struct bpf_timer)`.
pub const BPF_TIMER_SIZE: u32 = 16;

impl Fields {
    /// Whether the value has no special field.
    pub fn is_empty(&self) -> bool {
        self.lock.is_none() && self.timer.is_none()
    }

    /// Whether byte `off` of the value belongs to a special field.
    pub fn covers(&self, off: usize) -> bool {
        let within = |start: Option<u32>, len: u32| {
            start.is_some_and(|s| off >= s as usize && off < (s + len) as usize)
        };
        within(self.lock, 4) || within(self.timer, BPF_TIMER_SIZE)
    }
}

#[cold]
#[inline(never)]
fn out_of_bounds(off: usize, len: usize) -> ! {
    panic!("storage offset {off} out of bounds ({len} bytes)")
}

/// The little-endian word made of `rest` (< 8 bytes) and zero padding.
#[inline]
fn pad_word(rest: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..rest.len()].copy_from_slice(rest);
    u64::from_le_bytes(w)
}

/// One step of a spin-wait: busy-spin briefly, then yield, since the holder may be preempted
/// (there are often more threads than cores).
#[inline]
pub(crate) fn backoff(spins: &mut u32) {
    if *spins < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
    *spins = spins.saturating_add(1);
}

/// Takes a `bpf_spin_lock`-style lock word (0 free, 1 held).
pub(crate) fn spin_lock(word: &AtomicU32) {
    let mut spins = 0;
    while word
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        backoff(&mut spins);
    }
}

/// Releases a lock word taken by [`spin_lock`].
pub(crate) fn spin_unlock(word: &AtomicU32) {
    word.store(0, Ordering::Release);
}

/// The helper `bpf_spin_lock(lock)`: takes the lock word a program points at.
///
/// # Safety
/// `lock` must be 4-byte aligned and point at a `struct bpf_spin_lock` inside a map value that
/// outlives the call (a pointer obtained from [`crate::Map::lookup_ptr`] plus the lock offset).
pub unsafe fn bpf_spin_lock(lock: NonNull<u8>) {
    // SAFETY: the caller guarantees alignment and validity; map code accesses it atomically.
    spin_lock(unsafe { AtomicU32::from_ptr(lock.as_ptr().cast()) });
}

/// The helper `bpf_spin_unlock(lock)`.
///
/// # Safety
/// As for [`bpf_spin_lock`].
pub unsafe fn bpf_spin_unlock(lock: NonNull<u8>) {
    // SAFETY: the caller guarantees alignment and validity.
    spin_unlock(unsafe { AtomicU32::from_ptr(lock.as_ptr().cast()) });
}

/// A per-bucket sequence lock: even = free, odd = a writer holds it. Writers exclude each
/// other; readers run without writing shared memory and retry if a writer intervened.
pub(crate) struct SeqWriteGuard<'a> {
    seq: &'a AtomicU32,
    value: u32,
}

/// Takes the write side of the sequence lock `seq`.
#[inline]
pub(crate) fn seq_lock(seq: &AtomicU32) -> SeqWriteGuard<'_> {
    let mut spins = 0;
    loop {
        let s = seq.load(Ordering::Relaxed);
        if s & 1 == 0
            && seq
                .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            // Data writes after this must not become visible before the odd sequence.
            fence(Ordering::Release);
            return SeqWriteGuard { seq, value: s + 1 };
        }
        backoff(&mut spins);
    }
}

/// Tries once to take the write side of `seq`.
#[inline]
pub(crate) fn seq_try_lock(seq: &AtomicU32) -> Option<SeqWriteGuard<'_>> {
    let s = seq.load(Ordering::Relaxed);
    if s & 1 == 0
        && seq
            .compare_exchange(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    {
        fence(Ordering::Release);
        return Some(SeqWriteGuard { seq, value: s + 1 });
    }
    None
}

impl Drop for SeqWriteGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.seq
            .store(self.value.wrapping_add(1), Ordering::Release);
    }
}

/// Starts a read section: waits for an even sequence and returns it.
#[inline]
pub(crate) fn seq_read_begin(seq: &AtomicU32) -> u32 {
    let mut spins = 0;
    loop {
        let s = seq.load(Ordering::Acquire);
        if s & 1 == 0 {
            return s;
        }
        backoff(&mut spins);
    }
}

/// Ends a read section: true if a writer ran meanwhile and the reads must be redone.
#[inline]
pub(crate) fn seq_read_retry(seq: &AtomicU32, start: u32) -> bool {
    fence(Ordering::Acquire);
    seq.load(Ordering::Relaxed) != start
}
