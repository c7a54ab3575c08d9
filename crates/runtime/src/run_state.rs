//! Per-run state helpers need beyond their arguments, like the kernel's per-CPU "current":
//! which CPU the run is on (per-CPU maps, `get_smp_processor_id`), a pending tail call and
//! the count of tail calls taken, the XDP frame of the run (`xdp_adjust_*`), the redirect
//! target a program chose, the event's identity (attach cookie, function address), and the
//! resources a run must give back when it ends (ring buffer reservations, a held spin lock).
//!
//! Everything is thread-local: a run happens on one thread, from start to end.

use crate::map::Map;
use crate::program::Program;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_CPU: AtomicU32 = AtomicU32::new(0);

/// `MAX_TAIL_CALL_CNT`: tail calls one run may take.
pub(crate) const MAX_TAIL_CALL_CNT: u32 = 33;

/// The frame of an XDP run: where the frame (`data_hard_start`) starts and its size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct XdpFrame {
    /// `data_hard_start` as a 32-bit context field holds it (the frame is below 4 GiB).
    pub(crate) start: u32,
    /// `frame_sz`.
    pub(crate) len: u32,
}

/// Where `bpf_redirect` or `bpf_redirect_map` sent the packet (the kernel's
/// `bpf_redirect_info`), for hooks to act on after the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // read by the hooks of later issues
pub(crate) struct Redirect {
    /// Target interface index, or the key in the map.
    pub(crate) index: u32,
    /// Id of the map for `bpf_redirect_map`.
    pub(crate) map_id: Option<u32>,
    /// The helper's flags.
    pub(crate) flags: u64,
}

/// Identity of the event a run handles; hooks set it per attached program.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EventInfo {
    /// `bpf_get_attach_cookie`: the link's cookie (0 for test runs).
    pub(crate) attach_cookie: u64,
    /// `bpf_get_func_ip`: the traced function's address (0 unless set).
    pub(crate) func_ip: u64,
}

/// Memory of another process (a traced one) that `bpf_probe_read_user*` reads.
pub trait UserMemory: Send + Sync {
    /// Fill `buf` from address `addr`; false if any byte cannot be read.
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool;
}

/// The task an event happened in, when it is not the thread running the program (a traced
/// process's system call): what `bpf_get_current_pid_tgid`, `bpf_get_current_comm` and
/// `bpf_probe_read_user*` describe and read.
#[derive(Clone)]
pub struct CurrentTask {
    /// Thread id (the kernel's pid).
    pub pid: u32,
    /// Process id (the kernel's tgid).
    pub tgid: u32,
    /// `comm`, NUL-padded.
    pub comm: [u8; 16],
    /// The task's memory, for `bpf_probe_read_user*`.
    pub memory: Option<Arc<dyn UserMemory>>,
}

impl std::fmt::Debug for CurrentTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentTask")
            .field("pid", &self.pid)
            .field("tgid", &self.tgid)
            .field("comm", &String::from_utf8_lossy(&self.comm))
            .finish()
    }
}

/// A ring buffer sample reserved by the run and not yet submitted or discarded.
struct Reservation {
    map: Arc<Map>,
    addr: u64,
}

thread_local! {
    /// The CPU index of this thread: threads are spread over the possible CPUs round-robin.
    /// Event sources that run one thread per CPU (timers) set it with [`set_current_cpu`].
    static CPU: Cell<u32> =
        Cell::new(NEXT_CPU.fetch_add(1, Ordering::Relaxed) % waggle_maps::possible_cpus());
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static TAIL_CALLS: Cell<u32> = const { Cell::new(0) };
    static TAIL_TARGET: RefCell<Option<(Arc<Program>, u64)>> = const { RefCell::new(None) };
    static XDP: Cell<Option<XdpFrame>> = const { Cell::new(None) };
    static REDIRECT: Cell<Option<Redirect>> = const { Cell::new(None) };
    static EVENT: Cell<EventInfo> = const {
        Cell::new(EventInfo {
            attach_cookie: 0,
            func_ip: 0,
        })
    };
    static TASK: RefCell<Option<CurrentTask>> = const { RefCell::new(None) };
    static RESERVED: RefCell<Vec<Reservation>> = const { RefCell::new(Vec::new()) };
    /// The spin lock the run holds: its map and the lock word's offset in the map's storage.
    static LOCK: RefCell<Option<(Arc<Map>, usize)>> = const { RefCell::new(None) };
    /// Memory helpers made accessible to the run (as regions) that must outlive it.
    static KEEP: RefCell<Vec<Arc<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// The CPU index the current thread's runs use.
pub fn current_cpu() -> u32 {
    CPU.with(Cell::get)
}

/// Make the current thread's runs happen on CPU `cpu` (taken modulo the possible CPUs), as
/// an event source that runs one thread per CPU does (per-CPU maps,
/// `bpf_get_smp_processor_id`).
pub fn set_current_cpu(cpu: u32) {
    CPU.with(|c| c.set(cpu % waggle_maps::possible_cpus()));
}

/// Run `f` as `program`'s run on this thread. The outermost run starts with no tail call
/// taken and no redirect; when it ends, what the run left held is released as the
/// kernel's verifier would have forced the program to: reserved ring buffer samples are
/// discarded and a held spin lock is unlocked.
pub(crate) fn with_current_program<R>(_program: &Program, f: impl FnOnce() -> R) -> R {
    let outer = DEPTH.with(|d| {
        let v = d.get();
        d.set(v + 1);
        v == 0
    });
    if outer {
        TAIL_CALLS.with(|c| c.set(0));
        REDIRECT.with(|r| r.set(None));
    }
    let r = f();
    DEPTH.with(|d| d.set(d.get() - 1));
    if outer {
        release_run_resources();
    }
    r
}

fn release_run_resources() {
    TAIL_TARGET.with(|t| t.borrow_mut().take());
    let reserved = RESERVED.with(|r| std::mem::take(&mut *r.borrow_mut()));
    for r in reserved {
        if let Some(rb) = r.map.inner.as_ringbuf()
            && let Some(p) = std::ptr::NonNull::new(r.addr as usize as *mut u8)
        {
            let _ = rb.discard(p, 0);
        }
    }
    if let Some((map, off)) = LOCK.with(|l| l.borrow_mut().take()) {
        crate::helpers::unlock_word(&map, off);
    }
    KEEP.with(|k| k.borrow_mut().clear());
}

/// Keep `owner` alive until the outermost run on this thread ends (memory of it is a region
/// of the run).
pub(crate) fn keep_alive(owner: Arc<dyn Any>) {
    KEEP.with(|k| k.borrow_mut().push(owner));
}

/// Ask for a tail call to `target` with r1 = `ctx` once the current program exits; returns
/// false (and asks nothing) when the run has already taken [`MAX_TAIL_CALL_CNT`] tail calls.
pub(crate) fn request_tail_call(target: Arc<Program>, ctx: u64) -> bool {
    let n = TAIL_CALLS.with(Cell::get);
    if n >= MAX_TAIL_CALL_CNT {
        return false;
    }
    TAIL_CALLS.with(|c| c.set(n + 1));
    TAIL_TARGET.with(|t| *t.borrow_mut() = Some((target, ctx)));
    true
}

/// The tail call (target and r1) the program that just ended asked for, if any.
pub(crate) fn take_tail_call() -> Option<(Arc<Program>, u64)> {
    TAIL_TARGET.with(|t| t.borrow_mut().take())
}

/// Run `f` with `frame` as the current XDP frame.
pub(crate) fn with_xdp_frame<R>(frame: XdpFrame, f: impl FnOnce() -> R) -> R {
    let prev = XDP.with(|x| x.replace(Some(frame)));
    let r = f();
    XDP.with(|x| x.set(prev));
    r
}

/// The XDP frame of the current run, if it is an XDP run.
pub(crate) fn xdp_frame() -> Option<XdpFrame> {
    XDP.with(Cell::get)
}

/// Record the redirect target of the current run.
pub(crate) fn set_redirect(r: Option<Redirect>) {
    REDIRECT.with(|c| c.set(r));
}

/// The redirect target the last run on this thread chose, if any.
pub(crate) fn redirect() -> Option<Redirect> {
    REDIRECT.with(Cell::get)
}

/// The identity of the current event.
pub(crate) fn event() -> EventInfo {
    EVENT.with(Cell::get)
}

/// Set the identity of the events of the following runs on this thread.
pub(crate) fn set_event(e: EventInfo) {
    EVENT.with(|c| c.set(e));
}

/// Run `f` with `task` as the current task of the runs it makes on this thread.
pub fn with_current_task<R>(task: CurrentTask, f: impl FnOnce() -> R) -> R {
    let prev = TASK.with(|t| t.borrow_mut().replace(task));
    let r = f();
    TASK.with(|t| *t.borrow_mut() = prev);
    r
}

/// The current task set by [`with_current_task`], if any.
pub(crate) fn current_task() -> Option<CurrentTask> {
    TASK.with(|t| t.borrow().clone())
}

/// Remember a sample the run reserved.
pub(crate) fn reserved(map: &Arc<Map>, addr: u64) {
    RESERVED.with(|r| {
        r.borrow_mut().push(Reservation {
            map: map.clone(),
            addr,
        });
    });
}

/// Forget a sample the run submitted or discarded; the map holding it, if it was reserved
/// by this run.
pub(crate) fn released(addr: u64) -> Option<Arc<Map>> {
    RESERVED.with(|r| {
        let mut r = r.borrow_mut();
        let i = r.iter().position(|x| x.addr == addr)?;
        Some(r.swap_remove(i).map)
    })
}

/// Record the lock the run now holds; false if it already holds one.
pub(crate) fn lock_taken(map: &Arc<Map>, off: usize) -> bool {
    LOCK.with(|l| {
        let mut l = l.borrow_mut();
        if l.is_some() {
            return false;
        }
        *l = Some((map.clone(), off));
        true
    })
}

/// Forget the lock the run held if it is (`map`, `off`); false if it is not the held one.
pub(crate) fn lock_released(map: &Arc<Map>, off: usize) -> bool {
    LOCK.with(|l| {
        let mut l = l.borrow_mut();
        match &*l {
            Some((m, o)) if Arc::ptr_eq(m, map) && *o == off => {
                *l = None;
                true
            }
            _ => false,
        }
    })
}
