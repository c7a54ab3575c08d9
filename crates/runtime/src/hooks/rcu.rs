//! A read-mostly shared value for hooks' attached lists, read without any atomic
//! read-modify-write, like the kernel's RCU: a firing reads the current snapshot inside a
//! read-side section; attaching or detaching swaps in a new snapshot and waits until no
//! section that may still see the old one is running, then frees it. Readers never wait.
//!
//! # How it works
//!
//! Each thread that reads has a slot with a counter, odd while the thread is inside a
//! section (nested sections do not touch it). Entering stores `counter + 1`, then loads the
//! pointer; leaving stores `counter + 2` (release). A writer swaps the pointer, then, for
//! every slot whose counter is odd, waits until it changes: a section that began before the
//! swap has ended. Sections that began after the swap see the new pointer.
//!
//! That needs the reader's counter store ordered before its pointer load (store-load
//! order, which x86 does not keep without a fence). Readers skip that fence: the writer
//! issues `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which runs a full barrier on every
//! CPU running a thread of this process, so each reader either stored its counter before
//! that barrier (the writer sees it odd and waits) or loads the pointer after it (and gets
//! the new one): the asymmetric fence of Linux's `sys_membarrier` and liburcu. Where
//! `membarrier` is not available, readers use a `SeqCst` fence instead (decided once, before
//! the first value exists).
//!
//! A writer that is itself inside a section (never the case for hooks today, but a helper
//! could one day detach a link) does not wait for its own thread: the old value is dropped
//! when that thread's outermost section ends.
//!
//! Slots are never freed (a 64-byte slot per thread alive at once): a thread's slot is
//! given back when it exits and reused by the next new thread.

#![allow(unsafe_code)]

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering, compiler_fence, fence};
use std::sync::{Arc, Mutex, Once};

/// Whether writers issue `membarrier` (so readers need only a compiler fence).
static LIGHT: AtomicBool = AtomicBool::new(false);
static INIT: Once = Once::new();
/// Every slot ever made (in use or free).
static SLOTS: Mutex<Vec<&'static Slot>> = Mutex::new(Vec::new());

/// One thread's read-side state.
#[repr(align(64))]
#[derive(Default)]
struct Slot {
    /// Odd while the owning thread is inside a section. Written only by the owner.
    counter: AtomicU64,
    /// Owned by a live thread.
    in_use: AtomicBool,
    /// The owner has values to drop when its outermost section ends.
    deferred: AtomicBool,
}

thread_local! {
    /// This thread's slot (no destructor: usable even while the thread's other
    /// thread-locals are destroyed).
    static SLOT: Cell<Option<&'static Slot>> = const { Cell::new(None) };
    /// Gives the slot back when the thread exits.
    static RELEASE: Release = const { Release(Cell::new(None)) };
    /// Old values this thread replaced while inside a section.
    static DEFERRED: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

struct Release(Cell<Option<&'static Slot>>);

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            SLOT.with(|s| s.set(None));
            // No section is open: the thread is past every frame that could hold one.
            slot.in_use.store(false, Ordering::Release);
        }
    }
}

/// `membarrier(2)` commands (linux/membarrier.h).
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

fn membarrier(cmd: libc::c_long) -> bool {
    // SAFETY: `membarrier` takes two integers and touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_long) == 0 }
}

/// Decide once whether writers can use `membarrier`.
fn init() {
    INIT.call_once(|| {
        let ok = cfg!(target_os = "linux")
            && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)
            && membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
        LIGHT.store(ok, Ordering::Relaxed);
    });
}

/// This thread's slot, claimed on first use.
#[inline(always)]
fn slot() -> &'static Slot {
    match SLOT.with(Cell::get) {
        Some(s) => s,
        None => register(),
    }
}

#[cold]
fn register() -> &'static Slot {
    let mut slots = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    let free = slots.iter().copied().find(|s| {
        s.in_use
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    });
    let slot = free.unwrap_or_else(|| {
        let s: &'static Slot = Box::leak(Box::default());
        s.in_use.store(true, Ordering::Relaxed);
        slots.push(s);
        s
    });
    drop(slots);
    SLOT.with(|s| s.set(Some(slot)));
    // Fails only while the thread is being torn down: then the slot is never given back.
    let _ = RELEASE.try_with(|r| r.0.set(Some(slot)));
    slot
}

/// A read-side section: while it lives, no value read in it is freed.
pub(crate) struct Section {
    slot: &'static Slot,
    outer: bool,
    /// Ends on the thread that began it.
    _not_send: PhantomData<*const ()>,
}

impl Section {
    #[inline(always)]
    fn enter() -> Section {
        let slot = slot();
        let c = slot.counter.load(Ordering::Relaxed);
        let outer = c & 1 == 0;
        if outer {
            slot.counter.store(c + 1, Ordering::Relaxed);
            if LIGHT.load(Ordering::Relaxed) {
                // The writer's membarrier orders this store before our later loads.
                compiler_fence(Ordering::SeqCst);
            } else {
                fence(Ordering::SeqCst);
            }
        }
        Section {
            slot,
            outer,
            _not_send: PhantomData,
        }
    }
}

impl Drop for Section {
    #[inline(always)]
    fn drop(&mut self) {
        if self.outer {
            let c = self.slot.counter.load(Ordering::Relaxed);
            // Release: every read of the section happens before a writer sees it ended.
            self.slot.counter.store(c + 1, Ordering::Release);
            if self.slot.deferred.load(Ordering::Relaxed) {
                drop_deferred(self.slot);
            }
        }
    }
}

#[cold]
fn drop_deferred(slot: &Slot) {
    slot.deferred.store(false, Ordering::Relaxed);
    let old = DEFERRED.with(|d| std::mem::take(&mut *d.borrow_mut()));
    drop(old);
}

/// Wait until every section that was open on another thread when this is called has
/// ended; `own` (this thread's slot, if it is inside a section) is not waited for.
fn synchronize(own: Option<&'static Slot>) {
    fence(Ordering::SeqCst);
    if LIGHT.load(Ordering::Relaxed) && !membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) {
        // Registered at init and checked then: failing now would be a kernel bug, and
        // freeing without it could free what a reader is using.
        panic!("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration");
    }
    let slots: Vec<&'static Slot> = SLOTS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for s in slots {
        if own.is_some_and(|o| std::ptr::eq(o, s)) {
            continue;
        }
        let c = s.counter.load(Ordering::Acquire);
        if c & 1 == 0 {
            continue;
        }
        let mut spins = 0u32;
        while s.counter.load(Ordering::Acquire) == c {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                // The reader was likely preempted inside its section: let it run.
                std::thread::sleep(std::time::Duration::from_micros(20));
            }
        }
    }
}

/// A shared `Arc<T>` that firings read without atomic read-modify-writes and writers
/// replace (see the module docs).
pub(crate) struct Rcu<T> {
    /// From `Arc::into_raw`: this holds one strong count.
    ptr: AtomicPtr<T>,
    _owns: PhantomData<Arc<T>>,
}

impl<T: std::fmt::Debug + Send + Sync + 'static> std::fmt::Debug for Rcu<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.read().get().fmt(f)
    }
}

/// A value read from an [`Rcu`], valid while the guard lives.
pub(crate) struct ReadGuard<'a, T> {
    value: &'a T,
    _section: Section,
}

impl<T> ReadGuard<'_, T> {
    /// The value.
    #[inline(always)]
    pub(crate) fn get(&self) -> &T {
        self.value
    }
}

impl<T: Send + Sync + 'static> Rcu<T> {
    /// A new shared value.
    pub(crate) fn new(value: T) -> Rcu<T> {
        init();
        Rcu {
            ptr: AtomicPtr::new(Arc::into_raw(Arc::new(value)).cast_mut()),
            _owns: PhantomData,
        }
    }

    /// The current value, for the guard's life.
    #[inline(always)]
    pub(crate) fn read(&self) -> ReadGuard<'_, T> {
        let section = Section::enter();
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: `p` came from `Arc::into_raw` and was current after our section began
        // (see the module docs); a writer that swaps it out waits for this section to end
        // (or, on this thread, defers the drop past it) before giving up its count, so the
        // value lives at least as long as the guard, which borrows `self` and holds the
        // section.
        let value = unsafe { &*p };
        ReadGuard {
            value,
            _section: section,
        }
    }

    /// Replace the value; returns once no reader can still see the old one (which is then
    /// dropped, unless this thread is itself reading: then when its outermost section ends).
    pub(crate) fn store(&self, value: Arc<T>) {
        let old = self
            .ptr
            .swap(Arc::into_raw(value).cast_mut(), Ordering::SeqCst);
        // SAFETY: `old` was the current pointer, from `Arc::into_raw`; the count it
        // carried is ours now that it is swapped out. Readers still using it hold no count,
        // so it is not dropped before `synchronize` below.
        let old = unsafe { Arc::from_raw(old) };
        let me = slot();
        let inside = me.counter.load(Ordering::Relaxed) & 1 == 1;
        synchronize(inside.then_some(me));
        if inside {
            DEFERRED.with(|d| d.borrow_mut().push(Box::new(old)));
            me.deferred.store(true, Ordering::Relaxed);
        } else {
            drop(old);
        }
    }
}

impl<T> Drop for Rcu<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no guard borrows this value any more; the pointer holds the
        // count `new`/`store` gave it.
        drop(unsafe { Arc::from_raw(*self.ptr.get_mut()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts live values, to see when old ones are dropped; a dropped value's number is
    /// overwritten with 1 first (no multiple of 7), so a reader still using it notices.
    struct Tracked(Arc<AtomicUsize>, AtomicU64);
    impl Tracked {
        fn value(&self) -> u64 {
            self.1.load(Ordering::SeqCst)
        }
    }
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.1.store(1, Ordering::SeqCst);
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    fn tracked(live: &Arc<AtomicUsize>, v: u64) -> Arc<Tracked> {
        live.fetch_add(1, Ordering::SeqCst);
        Arc::new(Tracked(live.clone(), AtomicU64::new(v)))
    }

    #[test]
    fn store_drops_the_old_value_once_readers_are_done() {
        let live = Arc::new(AtomicUsize::new(0));
        live.fetch_add(1, Ordering::SeqCst);
        let rcu = Rcu::new(Tracked(live.clone(), AtomicU64::new(0)));
        assert_eq!(rcu.read().get().value(), 0);
        rcu.store(tracked(&live, 1));
        assert_eq!(live.load(Ordering::SeqCst), 1, "old value dropped at once");
        rcu.store(tracked(&live, 2));
        assert_eq!(rcu.read().get().value(), 2);
        assert_eq!(live.load(Ordering::SeqCst), 1);
        drop(rcu);
        assert_eq!(live.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_writer_inside_a_section_defers_the_drop() {
        let live = Arc::new(AtomicUsize::new(0));
        let rcu = Rcu::new(Tracked(live.clone(), AtomicU64::new(0)));
        live.fetch_add(1, Ordering::SeqCst);
        {
            let g = rcu.read();
            let inner = rcu.read();
            rcu.store(tracked(&live, 1));
            assert_eq!(g.get().value(), 0, "still readable");
            drop(inner);
            assert_eq!(g.get().value(), 0, "the outer section still holds it");
            assert_eq!(live.load(Ordering::SeqCst), 2);
        }
        assert_eq!(
            live.load(Ordering::SeqCst),
            1,
            "dropped when the section ended"
        );
    }

    /// A writer returns only after a section open on another thread when it swapped has
    /// ended, and the old value is dropped then, not before.
    #[test]
    fn store_waits_for_a_section_in_progress() {
        let live = Arc::new(AtomicUsize::new(1));
        let rcu = Arc::new(Rcu::new(Tracked(live.clone(), AtomicU64::new(7))));
        let ending = Arc::new(AtomicBool::new(false));
        let (inside_tx, inside_rx) = std::sync::mpsc::channel();
        let reader = {
            let (rcu, ending, live) = (rcu.clone(), ending.clone(), live.clone());
            std::thread::spawn(move || {
                let g = rcu.read();
                inside_tx.send(()).unwrap();
                // Give the writer time to swap and start waiting.
                std::thread::sleep(std::time::Duration::from_millis(50));
                assert_eq!(g.get().value(), 7, "still the old value, not dropped");
                assert_eq!(live.load(Ordering::SeqCst), 2, "old and new both alive");
                ending.store(true, Ordering::SeqCst);
            })
        };
        inside_rx.recv().unwrap();
        rcu.store(tracked(&live, 14));
        assert!(
            ending.load(Ordering::SeqCst),
            "store returned before the reader's section ended"
        );
        assert_eq!(live.load(Ordering::SeqCst), 1, "old value dropped after it");
        reader.join().unwrap();
    }

    /// A thread's slot goes back when it exits: short-lived readers do not grow the list.
    #[test]
    fn slots_of_exited_threads_are_reused() {
        let rcu = Arc::new(Rcu::new(5u64));
        let run = |rcu: &Arc<Rcu<u64>>| {
            let rcu = rcu.clone();
            std::thread::spawn(move || *rcu.read().get())
                .join()
                .unwrap()
        };
        assert_eq!(run(&rcu), 5);
        let before = SLOTS.lock().unwrap().len();
        for _ in 0..20 {
            assert_eq!(run(&rcu), 5);
        }
        // Other tests of this binary may hold a few slots at the same time.
        assert!(SLOTS.lock().unwrap().len() <= before + 4);
    }

    /// Readers on other threads always see a live value (each value checks a canary) while a
    /// writer keeps replacing it; every replaced value is dropped.
    #[test]
    fn concurrent_readers_never_see_a_freed_value() {
        let live = Arc::new(AtomicUsize::new(0));
        live.fetch_add(1, Ordering::SeqCst);
        let rcu = Arc::new(Rcu::new(Tracked(live.clone(), AtomicU64::new(7))));
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..1)
            .map(|_| {
                let (rcu, stop, reads) = (rcu.clone(), stop.clone(), reads.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let g = rcu.read();
                        let v = g.get().value();
                        // Spin a little inside the section so writers overlap with it.
                        for _ in 0..50 {
                            std::hint::spin_loop();
                        }
                        assert_eq!(v % 7, 0, "read a dropped value");
                        assert_eq!(g.get().value(), v, "value dropped while read");
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // Keep writing until the readers have run alongside for a while (on a loaded
        // machine they may start late).
        let mut i = 1;
        while i < 200 || reads.load(Ordering::Relaxed) < 2_000 {
            rcu.store(tracked(&live, 7 * i));
            i += 1;
        }
        stop.store(true, Ordering::Relaxed);
        for t in readers {
            t.join().unwrap();
        }
        assert_eq!(
            live.load(Ordering::SeqCst),
            1,
            "only the current value is left"
        );
    }
}
