//! Timers: a `perf_event` hook fired every period on each CPU, standing in for the kernel's
//! sampling perf events (`perf_event_open` with a period, one event per CPU). Each CPU is a
//! thread whose runs report that CPU (`bpf_get_smp_processor_id`, per-CPU maps); the context
//! is `struct bpf_perf_event_data` with `sample_period` = the period in nanoseconds (a
//! `cpu-clock` event counts nanoseconds) and `regs.ip`/`regs.sp` zero: nothing was
//! interrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use waggle_runtime::{Hook, PerfEventData, fire_perf_event, set_current_cpu};

/// Timer settings.
#[derive(Clone, Debug)]
pub struct Timer {
    /// Time between firings on one CPU.
    pub period: Duration,
    /// The CPUs to fire on (indices below the possible CPUs).
    pub cpus: Vec<u32>,
    /// Stop after this long (`None`: until `stop` is set).
    pub duration: Option<Duration>,
}

/// What a timer run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimerStats {
    /// Firings per CPU, in the order of [`Timer::cpus`].
    pub fires: Vec<u64>,
    /// Runs that failed.
    pub errors: u64,
    /// The first run error.
    pub first_error: Option<String>,
}

/// Fire `hook` every `timer.period` on each CPU until `timer.duration` passes or `stop` is
/// set. Missed periods (a slow program, a busy machine) are skipped, not caught up, as a
/// hrtimer forwarded past `now` does.
pub fn run(hook: &Arc<Hook>, timer: &Timer, stop: &Arc<AtomicBool>) -> TimerStats {
    let start = Instant::now();
    let period = timer.period.max(Duration::from_micros(10));
    let threads: Vec<_> = timer
        .cpus
        .iter()
        .map(|&cpu| {
            let hook = hook.clone();
            let stop = stop.clone();
            let duration = timer.duration;
            std::thread::spawn(move || {
                set_current_cpu(cpu);
                let data = PerfEventData {
                    regs: [0; 21],
                    sample_period: period.as_nanos() as u64,
                    addr: 0,
                };
                let (mut fires, mut errors, mut first_error) = (0u64, 0u64, None);
                let mut next = start + period;
                loop {
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep((next - now).min(Duration::from_millis(50)));
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        continue;
                    }
                    if stop.load(Ordering::Relaxed)
                        || duration.is_some_and(|d| now.duration_since(start) >= d)
                    {
                        break;
                    }
                    if let Err(e) = fire_perf_event(&hook, &data) {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                    fires += 1;
                    next += period;
                    let now = Instant::now();
                    if next < now {
                        let behind = (now - next).as_nanos() / period.as_nanos();
                        next += period * (behind as u32 + 1);
                    }
                }
                (fires, errors, first_error)
            })
        })
        .collect();
    let mut s = TimerStats::default();
    for t in threads {
        let (f, e, fe) = t
            .join()
            .unwrap_or((0, 1, Some("timer thread panicked".into())));
        s.fires.push(f);
        s.errors += e;
        if s.first_error.is_none() {
            s.first_error = fe;
        }
    }
    s
}
