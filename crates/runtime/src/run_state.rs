//! Per-run state helpers need beyond their arguments: which CPU the run is on (per-CPU maps,
//! `get_smp_processor_id`), like the kernel's per-CPU "current".

use crate::program::Program;
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_CPU: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// The CPU index of this thread: threads are spread over the possible CPUs round-robin.
    static CPU: u32 = NEXT_CPU.fetch_add(1, Ordering::Relaxed) % waggle_maps::possible_cpus();
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// The CPU index the current thread's runs use.
pub fn current_cpu() -> u32 {
    CPU.with(|c| *c)
}

/// Run `f` as `program`'s run on this thread (nesting is counted, for future tail calls).
pub(crate) fn with_current_program<R>(_program: &Program, f: impl FnOnce() -> R) -> R {
    DEPTH.with(|d| d.set(d.get() + 1));
    let r = f();
    DEPTH.with(|d| d.set(d.get() - 1));
    r
}
