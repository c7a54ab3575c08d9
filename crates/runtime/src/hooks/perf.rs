//! Perf events: `struct bpf_perf_event_data`, the context of `perf_event` programs, as a
//! sampling timer fires them (the kernel's `perf_event_overflow` path runs them with the
//! interrupted registers and the sample period).

use crate::hook::Hook;
use waggle_vm::VmError;

/// `struct bpf_perf_event_data` on x86-64: `struct pt_regs` (21 registers), `sample_period`,
/// `addr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PerfEventData {
    /// `struct pt_regs` (r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di,
    /// orig_ax, ip, cs, flags, sp, ss): what was interrupted. User-space timers interrupt
    /// nothing, so event sources leave it zero or put their own values in it.
    pub regs: [u64; 21],
    /// Events per sample (nanoseconds between firings for a timer).
    pub sample_period: u64,
    /// The sampled data address (0 for timers).
    pub addr: u64,
}

impl PerfEventData {
    /// Index of `ip` in `regs`.
    pub const IP: usize = 16;
    /// Index of `sp` in `regs`.
    pub const SP: usize = 19;
}

/// Fire a `perf_event` hook with `data` as the (read-only) context; the last program's
/// return value (the kernel ignores it).
pub fn fire_perf_event(hook: &Hook, data: &PerfEventData) -> Result<u64, VmError> {
    let mut copy = *data;
    super::fire_bytes(hook, bytemuck::bytes_of_mut(&mut copy), false, 0)
}
