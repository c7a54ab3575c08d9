//! Replaying a [`Capture`] into a packet hook: XDP (verdicts counted, the frame as the
//! programs left it passed on) or a socket filter (the return value truncates, 0 drops).

use crate::capture::{Capture, Packet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use waggle_runtime::{Hook, SkbRunner, XdpRunner, xdp_action};

/// The hook a replay fires, by the kind of its programs.
#[derive(Clone, Debug)]
pub enum PacketHook {
    /// XDP programs (`struct xdp_md`), chained while they return `XDP_PASS`.
    Xdp(Arc<Hook>),
    /// Socket filters (`struct __sk_buff` from the Ethernet header, as on a packet socket).
    SocketFilter(Arc<Hook>),
}

/// How to replay.
#[derive(Clone, Copy, Debug, Default)]
pub struct Replay<'a> {
    /// Keep the recorded pace (sleep between packets as the timestamps say) instead of going
    /// as fast as possible.
    pub pace: bool,
    /// `ingress_ifindex` the programs see.
    pub ifindex: u32,
    /// Stops the replay early when set (Ctrl-C).
    pub stop: Option<&'a AtomicBool>,
    /// Packets done so far, updated as the replay goes (for a progress bar).
    pub progress: Option<&'a AtomicUsize>,
}

/// What a replay saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Packets fired.
    pub packets: u64,
    /// Their captured bytes.
    pub bytes: u64,
    /// XDP: packets per verdict, indexed by `enum xdp_action` (ABORTED, DROP, PASS, TX,
    /// REDIRECT). Socket filter: DROP and PASS only.
    pub verdicts: [u64; 5],
    /// XDP return values outside `enum xdp_action` (the kernel warns and drops them).
    pub invalid: u64,
    /// Runs that failed (counted as ABORTED, or as dropped for socket filters).
    pub errors: u64,
    /// Live XDP: XDP_TX frames that could not be sent back out of the interface.
    pub tx_failed: u64,
    /// Socket filter: packets kept but truncated.
    pub truncated: u64,
    /// Bytes of the packets passed on, as the programs left them.
    pub passed_bytes: u64,
    /// The first run error, for the report.
    pub first_error: Option<String>,
    /// Wall time of the replay.
    pub elapsed: Duration,
}

impl ReplayStats {
    /// Packets per second over the replay.
    pub fn packets_per_second(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.packets as f64 / s
        } else {
            0.0
        }
    }
}

/// Fire `hook` once per packet of `capture`; `passed` gets each packet that goes on to the
/// stack (XDP_PASS, or kept by the socket filter) as the programs left it.
pub fn replay(
    hook: &PacketHook,
    capture: &Capture,
    opts: &Replay<'_>,
    mut passed: impl FnMut(Packet<'_>, &[u8]),
) -> Result<ReplayStats, waggle_runtime::Error> {
    let mut s = ReplayStats::default();
    let start = Instant::now();
    let first_ts = capture.get(0).map_or(0, |p| p.ts_ns);
    let mut xdp = None;
    let mut skb = None;
    match hook {
        PacketHook::Xdp(_) => xdp = Some(XdpRunner::new()?),
        PacketHook::SocketFilter(_) => skb = Some(SkbRunner::new()?),
    }
    for (i, p) in capture.packets().enumerate() {
        if i % 256 == 0 {
            if opts.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                break;
            }
            if let Some(pr) = opts.progress {
                pr.store(i, Ordering::Relaxed);
            }
        }
        if opts.pace {
            let due = Duration::from_nanos(p.ts_ns.saturating_sub(first_ts));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        s.packets += 1;
        s.bytes += p.data.len() as u64;
        match (hook, &mut xdp, &mut skb) {
            (PacketHook::Xdp(h), Some(runner), _) => {
                let out = runner.run(h, p.data, opts.ifindex, 0)?;
                if let Some(e) = &out.error {
                    s.errors += 1;
                    s.first_error.get_or_insert_with(|| e.to_string());
                }
                match out.verdict {
                    v @ 0..=4 => s.verdicts[v as usize] += 1,
                    _ => s.invalid += 1,
                }
                if out.verdict == xdp_action::PASS {
                    let data = &runner.frame()[out.data.clone()];
                    s.passed_bytes += data.len() as u64;
                    passed(p, data);
                }
            }
            (PacketHook::SocketFilter(h), _, Some(runner)) => {
                let out = runner.run(h, p.data, opts.ifindex)?;
                if let Some(e) = &out.error {
                    s.errors += 1;
                    s.first_error.get_or_insert_with(|| e.to_string());
                }
                if out.keep == 0 {
                    s.verdicts[xdp_action::DROP as usize] += 1;
                } else {
                    s.verdicts[xdp_action::PASS as usize] += 1;
                    if out.keep < p.data.len() {
                        s.truncated += 1;
                    }
                    s.passed_bytes += out.keep as u64;
                    passed(p, &p.data[..out.keep]);
                }
            }
            _ => {}
        }
    }
    if let Some(pr) = opts.progress {
        pr.store(s.packets as usize, Ordering::Relaxed);
    }
    s.elapsed = start.elapsed();
    Ok(s)
}
