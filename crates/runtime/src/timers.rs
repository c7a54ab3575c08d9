//! `bpf_timer`: timers living in map values, armed by programs, whose callbacks (subprograms
//! of the program that set them) run later on the runtime's timer thread, as Linux's
//! `bpf_hrtimer`s do (kernel/bpf/helpers.c).
//!
//! - **Where a timer lives.** A map whose value type has a `struct bpf_timer` member (found
//!   in BTF by the loader, `MapSpec::timer_off`) gets a [`MapTimers`]: the initialised timers
//!   of its elements, keyed by the address of the element's value. The 16 bytes of the field
//!   itself stay zero (user space reads zeros there and its updates skip them, as Linux's
//!   `copy_map_value` does; programs may not touch them: the verifier refuses it).
//! - **Lifetime.** A timer with a callback holds a reference to the program (Linux's
//!   `bpf_prog_inc` in `bpf_timer_set_callback`), so the program outlives its handles while a
//!   timer may still call it. The reference goes when the timer is cancelled
//!   (`bpf_timer_cancel`), when its element is deleted, replaced, evicted or overwritten (the
//!   map's release hook, Linux's `bpf_obj_free_fields`), and when the map loses its last user
//!   reference (handles and pins; Linux's `map_release_uref`), which breaks the cycle
//!   program → map → timer → program, so closing everything frees everything. Without user
//!   references `bpf_timer_init` and `bpf_timer_set_callback` return `-EPERM`, as in Linux.
//! - **Firing.** One thread per process (`waggle-timers`, started with the first armed timer)
//!   keeps the armed timers ordered by deadline and runs each due callback with
//!   r1 = the map, r2 = the key (a read-only copy), r3 = the value, on the interpreter (the
//!   engine of every program with callbacks) through [`Program::run_callback`], with the
//!   program's helpers and per-run rules. Callbacks run one at a time; their r0 is ignored
//!   (the verifier proved it is 0).
//! - **Clocks.** `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME` are `bpf_ktime_get_ns`'s clock (the
//!   process's monotonic clock), `CLOCK_REALTIME` the system's wall clock; `BPF_F_TIMER_ABS`
//!   deadlines are read on the timer's clock. `BPF_F_TIMER_CPU_PIN` is accepted and has no
//!   effect (there is one timer thread).

use crate::map::Map;
use crate::program::Program;
use std::cell::Cell;
use std::collections::{BinaryHeap, HashMap};
use std::ptr::NonNull;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use waggle_vm::Region;

/// `CLOCK_REALTIME`.
pub(crate) const CLOCK_REALTIME: u64 = 0;
/// `CLOCK_MONOTONIC`.
pub(crate) const CLOCK_MONOTONIC: u64 = 1;
/// `CLOCK_BOOTTIME`.
pub(crate) const CLOCK_BOOTTIME: u64 = 7;
/// `MAX_CLOCKS`: `bpf_timer_init` flags at or above it are refused.
pub(crate) const MAX_CLOCKS: u64 = 16;
/// `BPF_F_TIMER_ABS`: the expiry is an absolute time on the timer's clock.
pub(crate) const BPF_F_TIMER_ABS: u64 = 1;
/// `BPF_F_TIMER_CPU_PIN`: run the callback on the arming CPU (no effect here).
pub(crate) const BPF_F_TIMER_CPU_PIN: u64 = 2;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Callbacks run outside every lock here, so a poisoned lock only means a panic elsewhere.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The timers of one map's values, and whether user space still holds the map.
#[derive(Debug)]
pub(crate) struct MapTimers {
    /// Offset of the `struct bpf_timer` in the value.
    pub(crate) timer_off: u32,
    state: Mutex<TimersState>,
}

#[derive(Debug, Default)]
struct TimersState {
    /// Handles and pins holding the map (Linux's `map->usercnt`).
    user_refs: usize,
    /// Initialised timers by the address of their element's value.
    timers: HashMap<usize, Arc<Timer>>,
}

/// One initialised timer (Linux's `struct bpf_hrtimer`).
#[derive(Debug)]
pub(crate) struct Timer {
    /// The map holding it (weak: the map's own [`MapTimers`] holds the timer).
    map: Weak<Map>,
    /// Address of the element's value.
    value: usize,
    /// The clock given to `bpf_timer_init`.
    clock: u64,
    inner: Mutex<TimerInner>,
    /// Signalled when a running callback ends (a cancel from another thread waits for it).
    idle: Condvar,
}

#[derive(Debug, Default)]
struct TimerInner {
    /// The program and the slot of the callback (`bpf_timer_set_callback`).
    callback: Option<(Arc<Program>, u32)>,
    /// The generation of the pending expiry, if armed; each start takes a new generation so
    /// older entries in the thread's queue are ignored.
    armed: Option<u64>,
    generation: u64,
    /// Whether the callback is running now (on the timer thread).
    running: bool,
}

impl MapTimers {
    /// The timers of a map whose values hold a `bpf_timer` at `timer_off`.
    pub(crate) fn new(timer_off: u32) -> MapTimers {
        MapTimers {
            timer_off,
            state: Mutex::new(TimersState::default()),
        }
    }

    /// A handle or pin now holds the map.
    pub(crate) fn user_ref_taken(&self) {
        lock(&self.state).user_refs += 1;
    }

    /// A handle or pin of the map went; the last one frees every timer
    /// (`bpf_map_put_uref` → `map_release_uref`).
    pub(crate) fn user_ref_dropped(&self) {
        let drained: Vec<Arc<Timer>> = {
            let mut st = lock(&self.state);
            st.user_refs = st.user_refs.saturating_sub(1);
            if st.user_refs > 0 {
                return;
            }
            st.timers.drain().map(|(_, t)| t).collect()
        };
        for t in drained {
            t.cancel_and_free();
        }
    }

    /// The element whose value is at `value` was released (`bpf_obj_free_fields`): its
    /// timer is cancelled and freed.
    pub(crate) fn value_released(&self, value: NonNull<u8>) {
        let t = lock(&self.state).timers.remove(&(value.as_ptr() as usize));
        if let Some(t) = t {
            t.cancel_and_free();
        }
    }

    /// The timer of the value at `value`, if initialised.
    fn get(&self, value: usize) -> Option<Arc<Timer>> {
        lock(&self.state).timers.get(&value).cloned()
    }

    /// Whether user space holds the map.
    fn held_by_user(&self) -> bool {
        lock(&self.state).user_refs > 0
    }

    /// Number of initialised timers (for tests and info).
    pub(crate) fn len(&self) -> usize {
        lock(&self.state).timers.len()
    }
}

/// Timer helper results that are not plain numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerErr {
    /// `-EINVAL`.
    Inval,
    /// `-EBUSY`.
    Busy,
    /// `-EPERM`.
    Perm,
    /// `-EDEADLK`.
    Deadlock,
}

/// `bpf_timer_init(timer, map, flags)` on the value at `value` of `map`.
pub(crate) fn init(map: &Arc<Map>, value: usize, flags: u64) -> Result<(), TimerErr> {
    let clock = flags & (MAX_CLOCKS - 1);
    if flags >= MAX_CLOCKS || !matches!(clock, CLOCK_MONOTONIC | CLOCK_REALTIME | CLOCK_BOOTTIME) {
        return Err(TimerErr::Inval);
    }
    let Some(timers) = &map.timers else {
        return Err(TimerErr::Inval);
    };
    let mut st = lock(&timers.state);
    if st.timers.contains_key(&value) {
        return Err(TimerErr::Busy);
    }
    // Maps with timers must be held by user space or pinned: otherwise nothing would ever
    // free the timer (Linux checks `map->usercnt` here too).
    if st.user_refs == 0 {
        return Err(TimerErr::Perm);
    }
    st.timers.insert(
        value,
        Arc::new(Timer {
            map: Arc::downgrade(map),
            value,
            clock,
            inner: Mutex::new(TimerInner::default()),
            idle: Condvar::new(),
        }),
    );
    Ok(())
}

/// `bpf_timer_set_callback(timer, callback_fn)`: `program`'s function at `slot`.
pub(crate) fn set_callback(
    timers: &MapTimers,
    value: usize,
    program: Arc<Program>,
    slot: u32,
) -> Result<(), TimerErr> {
    let t = timers.get(value).ok_or(TimerErr::Inval)?;
    if !timers.held_by_user() {
        return Err(TimerErr::Perm);
    }
    // The previous program's reference (if another one) is dropped after the lock.
    let _prev = lock(&t.inner).callback.replace((program, slot));
    Ok(())
}

/// `bpf_timer_start(timer, nsecs, flags)`.
pub(crate) fn start(
    timers: &MapTimers,
    value: usize,
    nsecs: u64,
    flags: u64,
) -> Result<(), TimerErr> {
    if flags & !(BPF_F_TIMER_ABS | BPF_F_TIMER_CPU_PIN) != 0 {
        return Err(TimerErr::Inval);
    }
    let t = timers.get(value).ok_or(TimerErr::Inval)?;
    let now = Instant::now();
    let delay = if flags & BPF_F_TIMER_ABS != 0 {
        nsecs.saturating_sub(clock_now(t.clock))
    } else {
        nsecs
    };
    let deadline = now
        .checked_add(Duration::from_nanos(delay))
        .unwrap_or(now + Duration::from_secs(1 << 40));
    let generation = {
        let mut inner = lock(&t.inner);
        if inner.callback.is_none() {
            return Err(TimerErr::Inval);
        }
        inner.generation += 1;
        inner.armed = Some(inner.generation);
        inner.generation
    };
    scheduler().push(deadline, Arc::downgrade(&t), generation);
    Ok(())
}

/// `bpf_timer_cancel(timer)`: 1 if it was armed, 0 if not; waits for a callback running on
/// the timer thread to end; `-EDEADLK` from the timer's own callback. The callback's program
/// reference is dropped (set a callback again before the next start).
pub(crate) fn cancel(timers: &MapTimers, value: usize) -> Result<u64, TimerErr> {
    let t = timers.get(value).ok_or(TimerErr::Inval)?;
    if RUNNING.with(Cell::get) == Arc::as_ptr(&t) as usize {
        return Err(TimerErr::Deadlock);
    }
    let (was_armed, prev) = {
        let mut inner = lock(&t.inner);
        if !on_timer_thread() {
            while inner.running {
                inner = t.idle.wait(inner).unwrap_or_else(|e| e.into_inner());
            }
        }
        (inner.armed.take().is_some(), inner.callback.take())
    };
    drop(prev);
    Ok(u64::from(was_armed))
}

impl Timer {
    /// Disarm and drop the callback's program reference (the timer is already out of its
    /// map's table). A callback running now finishes; the program it runs is held by that run.
    fn cancel_and_free(&self) {
        let prev = {
            let mut inner = lock(&self.inner);
            inner.armed = None;
            inner.callback.take()
        };
        drop(prev);
    }

    /// Run the callback if `generation` is still the armed one.
    fn fire(self: &Arc<Timer>, generation: u64) {
        let (program, slot) = {
            let mut inner = lock(&self.inner);
            if inner.armed != Some(generation) {
                return;
            }
            inner.armed = None;
            let Some((p, s)) = inner.callback.clone() else {
                return;
            };
            inner.running = true;
            (p, s)
        };
        if let Some(map) = self.map.upgrade() {
            run_callback(self, &map, &program, slot);
        }
        lock(&self.inner).running = false;
        self.idle.notify_all();
    }
}

/// Run `program`'s callback at `slot` with r1 = the map, r2 = the key, r3 = the value.
fn run_callback(timer: &Arc<Timer>, map: &Arc<Map>, program: &Arc<Program>, slot: u32) {
    let Some(value) = NonNull::new(timer.value as *mut u8) else {
        return;
    };
    let Some(key) = map.inner.key_of_value(value) else {
        return;
    };
    let spec = map.inner.spec();
    let writable = spec.flags & waggle_maps::flags::BPF_F_RDONLY_PROG == 0;
    let value_region = crate::memory::map_region(map, value, spec.value_size as usize, writable);
    let regions = [value_region, Region::readonly(&key)];
    let args = [map.token(), key.as_ptr() as u64, timer.value as u64, 0, 0];
    RUNNING.with(|r| r.set(Arc::as_ptr(timer) as usize));
    let r = program.run_callback(slot, args, &regions);
    RUNNING.with(|r| r.set(0));
    if let Err(e) = r {
        // The kernel's callbacks cannot fail; here a failure is an engine error worth seeing.
        program_error(program, slot, &e.to_string());
    }
}

fn program_error(program: &Program, slot: u32, message: &str) {
    eprintln!(
        "waggle: timer callback at slot {slot} of program {} failed: {message}",
        program.name
    );
}

/// The current time on `clock`, in nanoseconds, as programs read it.
fn clock_now(clock: u64) -> u64 {
    match clock {
        CLOCK_REALTIME => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        _ => crate::helpers::now_ns(),
    }
}

thread_local! {
    /// The timer whose callback this thread runs now (its address), for `-EDEADLK`.
    static RUNNING: Cell<usize> = const { Cell::new(0) };
    /// Whether this thread is the timer thread.
    static TIMER_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn on_timer_thread() -> bool {
    TIMER_THREAD.with(Cell::get)
}

/// An armed expiry in the timer thread's queue.
struct Entry {
    deadline: Instant,
    seq: u64,
    timer: Weak<Timer>,
    generation: u64,
}

impl Entry {
    /// Whether the entry may still fire: its timer lives and is armed for this generation.
    fn live(&self) -> bool {
        self.timer
            .upgrade()
            .is_some_and(|t| lock(&t.inner).armed == Some(self.generation))
    }
}

impl PartialEq for Entry {
    fn eq(&self, o: &Entry) -> bool {
        (self.deadline, self.seq) == (o.deadline, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Entry) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, o: &Entry) -> std::cmp::Ordering {
        (o.deadline, o.seq).cmp(&(self.deadline, self.seq))
    }
}

/// The process's timer thread and its queue. Entries hold timers weakly: a freed timer's
/// entries are skipped, and the queue keeps no object alive.
struct Scheduler {
    queue: Mutex<Queue>,
    wake: Condvar,
}

struct Queue {
    heap: BinaryHeap<Entry>,
    /// The last entry's sequence number (ties between equal deadlines go in arming order).
    seq: u64,
    /// Queue length at which stale entries (timers freed, cancelled or re-armed since) are
    /// dropped: a program re-arming a far timer over and over must not grow the queue.
    compact_at: usize,
}

/// The smallest queue length worth compacting.
const COMPACT_MIN: usize = 1024;

fn scheduler() -> &'static Scheduler {
    static S: OnceLock<&'static Scheduler> = OnceLock::new();
    S.get_or_init(|| {
        let s: &'static Scheduler = Box::leak(Box::new(Scheduler {
            queue: Mutex::new(Queue {
                heap: BinaryHeap::new(),
                seq: 0,
                compact_at: COMPACT_MIN,
            }),
            wake: Condvar::new(),
        }));
        // If the thread cannot start, armed timers never fire (as if never due).
        let _ = std::thread::Builder::new()
            .name("waggle-timers".into())
            .spawn(move || s.run());
        s
    })
}

impl Scheduler {
    fn push(&self, deadline: Instant, timer: Weak<Timer>, generation: u64) {
        let mut q = lock(&self.queue);
        q.seq += 1;
        let seq = q.seq;
        q.heap.push(Entry {
            deadline,
            seq,
            timer,
            generation,
        });
        if q.heap.len() >= q.compact_at {
            q.heap.retain(Entry::live);
            q.compact_at = (2 * q.heap.len()).max(COMPACT_MIN);
        }
        self.wake.notify_one();
    }

    fn run(&self) {
        TIMER_THREAD.with(|t| t.set(true));
        // Linux's default 50 us timer slack would delay every expiry by up to that much;
        // hrtimers are precise, so this thread asks for 1 ns (best effort).
        let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
        let mut q = lock(&self.queue);
        loop {
            let now = Instant::now();
            match q.heap.peek() {
                None => q = self.wake.wait(q).unwrap_or_else(|e| e.into_inner()),
                Some(e) if e.deadline > now => {
                    let d = e.deadline - now;
                    q = self
                        .wake
                        .wait_timeout(q, d)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                Some(_) => {
                    let Some(e) = q.heap.pop() else { continue };
                    drop(q);
                    if let Some(t) = e.timer.upgrade() {
                        t.fire(e.generation);
                    }
                    q = lock(&self.queue);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    /// Re-arming a far timer again and again leaves one live entry per timer, not one per
    /// start: stale entries are dropped as the queue grows.
    #[test]
    fn queue_drops_stale_entries() {
        let s = Scheduler {
            queue: Mutex::new(Queue {
                heap: BinaryHeap::new(),
                seq: 0,
                compact_at: COMPACT_MIN,
            }),
            wake: Condvar::new(),
        };
        let t = Arc::new(Timer {
            map: Weak::new(),
            value: 0,
            clock: CLOCK_MONOTONIC,
            inner: Mutex::new(TimerInner::default()),
            idle: Condvar::new(),
        });
        for _ in 0..10 * COMPACT_MIN {
            let generation = {
                let mut inner = lock(&t.inner);
                inner.generation += 1;
                inner.armed = Some(inner.generation);
                inner.generation
            };
            s.push(far(), Arc::downgrade(&t), generation);
        }
        let q = lock(&s.queue);
        assert!(q.heap.len() < COMPACT_MIN, "{} entries", q.heap.len());
        assert_eq!(q.heap.iter().filter(|e| e.live()).count(), 1);
    }
}
