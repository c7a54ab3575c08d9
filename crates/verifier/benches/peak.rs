//! A global allocator that counts live heap bytes and remembers the peak, to report the
//! verifier's peak memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

/// The system allocator, counting.
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Counting is on only inside [`peak_during`], so timed runs do not pay for it.
static ON: AtomicBool = AtomicBool::new(false);

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the counters are plain atomics on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's (non-zero size layout).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && ON.load(Relaxed) {
            let size = layout.size() as isize;
            let now = LIVE.fetch_add(size, Relaxed) + size;
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Frees of blocks allocated while counting was off only lower the count: the peak is
        // measured above the count at the start.
        if ON.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
        // SAFETY: `ptr` was allocated by `System` with `layout` (through `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Run `f` and return its result with the most heap bytes live at once during it, above
/// what was live before.
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    ON.store(true, Relaxed);
    let out = f();
    ON.store(false, Relaxed);
    (out, PEAK.load(Relaxed).saturating_sub(base).max(0) as usize)
}
