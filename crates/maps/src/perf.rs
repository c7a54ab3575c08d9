//! `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: slot `i` holds a per-CPU sample buffer, the stand-in for
//! a perf event opened on CPU `i` and mapped by user space. `bpf_perf_event_output` appends
//! samples; user space drains them with [`PerfEventArray::drain`].

use crate::error::{MapError, Result};
use crate::spec::MapSpec;
use crate::storage::MemCharge;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// `BPF_F_INDEX_MASK`: the slot index part of `bpf_perf_event_output`'s flags.
pub const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;
/// `BPF_F_CURRENT_CPU`: use the calling CPU's slot.
pub const BPF_F_CURRENT_CPU: u64 = BPF_F_INDEX_MASK;
/// `BPF_F_CTXLEN_MASK`: bytes of the skb/xdp context to append (allowed, not interpreted).
pub const BPF_F_CTXLEN_MASK: u64 = 0xfffff << 32;
/// Buffer size given to slots opened by a plain map update (like 8 pages per CPU of libbpf).
pub const DEFAULT_PERF_BUFFER_BYTES: usize = 8 * 4096;

/// What user space reads from a perf buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum PerfRecord<'a> {
    /// A `PERF_RECORD_SAMPLE` raw sample, zero-padded as perf pads it (size + 4 to 8 bytes).
    Sample(&'a [u8]),
    /// `PERF_RECORD_LOST`: that many samples were dropped because the buffer was full.
    Lost(u64),
}

#[derive(Debug)]
struct PerfBuffer {
    cpu: u32,
    capacity: usize,
    used: usize,
    samples: VecDeque<Box<[u8]>>,
    lost: u64,
}

/// A perf event array with in-process sample buffers.
#[derive(Debug)]
pub struct PerfEventArray {
    slots: Box<[Mutex<Option<PerfBuffer>>]>,
    charge: MemCharge,
    notify: Mutex<u64>,
    cv: Condvar,
}

/// Bytes one sample occupies in a perf ring: header (8), raw size (4), data padded to 8.
fn record_bytes(sample_len: usize) -> usize {
    8 + sample_len + 4
}

impl PerfEventArray {
    /// Creates the array described by a validated `spec`; every slot starts empty.
    pub(crate) fn new(spec: &MapSpec) -> Result<PerfEventArray> {
        let n = spec.max_entries as usize;
        let mut slots = Vec::new();
        slots.try_reserve_exact(n).map_err(|_| MapError::NoMemory)?;
        slots.extend((0..n).map(|_| Mutex::new(None)));
        let charge = MemCharge::default();
        charge.set(n * std::mem::size_of::<Mutex<Option<PerfBuffer>>>());
        Ok(PerfEventArray {
            slots: slots.into_boxed_slice(),
            charge,
            notify: Mutex::new(0),
            cv: Condvar::new(),
        })
    }

    fn slot(&self, index: u32) -> Result<std::sync::MutexGuard<'_, Option<PerfBuffer>>> {
        let s = self.slots.get(index as usize).ok_or(MapError::TooBig)?;
        Ok(s.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Opens slot `index` with a buffer of `capacity` bytes for events of CPU `cpu` (what
    /// storing a perf event fd does); replaces and drops any previous buffer.
    pub fn open(&self, index: u32, cpu: u32, capacity: usize) -> Result<()> {
        let mut s = self.slot(index)?;
        if let Some(old) = s.take() {
            self.charge.sub(old.used);
        }
        *s = Some(PerfBuffer {
            cpu,
            capacity,
            used: 0,
            samples: VecDeque::new(),
            lost: 0,
        });
        Ok(())
    }

    /// Closes slot `index` (map delete): `ENOENT` if it was empty.
    pub fn close(&self, index: u32) -> Result<()> {
        let old = self.slot(index)?.take().ok_or(MapError::NotFound)?;
        self.charge.sub(old.used);
        Ok(())
    }

    /// Whether slot `index` holds a buffer.
    pub fn is_open(&self, index: u32) -> bool {
        self.slot(index).is_ok_and(|s| s.is_some())
    }

    /// `bpf_perf_event_output(ctx, map, flags, data, size)` from a program on CPU `cpu`.
    ///
    /// Errors as the kernel: unknown flag bits `EINVAL`, index out of range `E2BIG`, empty
    /// slot `ENOENT`, a slot whose event belongs to another CPU `EOPNOTSUPP`, a full buffer
    /// `ENOSPC` (and the sample is counted as lost).
    pub fn output(&self, cpu: u32, flags: u64, data: &[u8]) -> Result<()> {
        if flags & !(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK) != 0 {
            return Err(MapError::Invalid("unknown perf_event_output flags"));
        }
        let index = match flags & BPF_F_INDEX_MASK {
            BPF_F_CURRENT_CPU => cpu,
            i => i as u32,
        };
        let mut s = self.slot(index)?;
        let buf = s.as_mut().ok_or(MapError::NotFound)?;
        if buf.cpu != cpu {
            return Err(MapError::OpNotSupported);
        }
        let padded = (data.len() + 4).next_multiple_of(8) - 4;
        let need = record_bytes(padded);
        if buf.used + need > buf.capacity {
            buf.lost += 1;
            return Err(MapError::NoSpace);
        }
        let mut sample = vec![0u8; padded];
        sample[..data.len()].copy_from_slice(data);
        buf.samples.push_back(sample.into_boxed_slice());
        buf.used += need;
        self.charge.add(need);
        drop(s);
        let mut g = self.notify.lock().unwrap_or_else(|e| e.into_inner());
        *g = g.wrapping_add(1);
        self.cv.notify_all();
        Ok(())
    }

    /// Hands every pending record of slot `index` to `f`, oldest first (a lost-count record
    /// first if samples were dropped); returns how many records were handed out.
    pub fn drain(&self, index: u32, mut f: impl FnMut(PerfRecord<'_>)) -> Result<usize> {
        let mut s = self.slot(index)?;
        let buf = s.as_mut().ok_or(MapError::NotFound)?;
        let mut n = 0;
        if buf.lost > 0 {
            f(PerfRecord::Lost(buf.lost));
            buf.lost = 0;
            n += 1;
        }
        while let Some(sample) = buf.samples.pop_front() {
            let need = record_bytes(sample.len());
            buf.used -= need;
            self.charge.sub(need);
            f(PerfRecord::Sample(&sample));
            n += 1;
        }
        Ok(n)
    }

    /// Waits until any slot has a sample or `timeout` passes; true if one is pending.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.notify.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let pending = self.slots.iter().any(|s| {
                s.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .is_some_and(|b| !b.samples.is_empty() || b.lost > 0)
            });
            if pending {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self
                .cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Bytes allocated for the map (slots and queued samples).
    pub fn memory_usage(&self) -> usize {
        self.charge.get() + std::mem::size_of::<Self>()
    }
}
