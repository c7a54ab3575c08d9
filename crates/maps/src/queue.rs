//! `BPF_MAP_TYPE_QUEUE` and `BPF_MAP_TYPE_STACK` (kernel/bpf/queue_stack_maps.c).
//!
//! A ring of `max_entries + 1` value slots with `head` (next push) and `tail` (oldest), all in
//! one [`Storage`] region guarded by a spin lock word inside it, as in the kernel.

use crate::error::{MapError, Result};
use crate::spec::{MapSpec, MapType, update::*};
use crate::storage::{Storage, spin_lock, spin_unlock};
use std::sync::atomic::Ordering;

const H_LOCK: usize = 0;
const H_HEAD: usize = 4;
const H_TAIL: usize = 8;
const SLOTS_OFF: usize = 64;

/// A FIFO queue or LIFO stack of fixed-size values.
#[derive(Debug)]
pub struct QueueStack {
    st: Storage,
    stack: bool,
    size: u32,
    value_size: usize,
    stride: usize,
}

/// Holds the map's spin lock; releases it on drop.
struct Locked<'a>(&'a QueueStack);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        spin_unlock(self.0.st.u32_at(H_LOCK));
    }
}

impl QueueStack {
    /// Allocates the queue or stack described by a validated `spec`.
    pub(crate) fn new(spec: &MapSpec) -> Result<QueueStack> {
        let size = spec.max_entries.checked_add(1).ok_or(MapError::TooBig)?;
        let stride = spec.value_size_aligned();
        let bytes = (size as usize)
            .checked_mul(stride)
            .and_then(|b| b.checked_add(SLOTS_OFF))
            .ok_or(MapError::NoMemory)?;
        Ok(QueueStack {
            st: Storage::new(bytes)?,
            stack: spec.map_type == MapType::Stack,
            size,
            value_size: spec.value_size as usize,
            stride,
        })
    }

    fn lock(&self) -> Locked<'_> {
        spin_lock(self.st.u32_at(H_LOCK));
        Locked(self)
    }

    fn get(&self, off: usize) -> u32 {
        self.st.u32_at(off).load(Ordering::Relaxed)
    }

    fn set(&self, off: usize, v: u32) {
        self.st.u32_at(off).store(v, Ordering::Relaxed);
    }

    fn slot(&self, i: u32) -> usize {
        SLOTS_OFF + i as usize * self.stride
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        let _l = self.lock();
        let (h, t) = (self.get(H_HEAD), self.get(H_TAIL));
        ((h + self.size - t) % self.size) as usize
    }

    /// Whether the map holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `map_push_elem`: `BPF_EXIST` overwrites the oldest value when full, else `E2BIG`.
    pub fn push(&self, value: &[u8], flags: u64) -> Result<()> {
        if flags & BPF_NOEXIST != 0 || flags > BPF_EXIST {
            return Err(MapError::Invalid(
                "queue/stack push takes BPF_ANY or BPF_EXIST",
            ));
        }
        if value.len() != self.value_size {
            return Err(MapError::Invalid("value size"));
        }
        let _l = self.lock();
        let head = self.get(H_HEAD);
        let next = if head + 1 >= self.size { 0 } else { head + 1 };
        if next == self.get(H_TAIL) {
            if flags & BPF_EXIST == 0 {
                return Err(MapError::TooBig);
            }
            let t = self.get(H_TAIL) + 1;
            self.set(H_TAIL, if t >= self.size { 0 } else { t });
        }
        self.st.write(self.slot(head), value);
        self.set(H_HEAD, next);
        Ok(())
    }

    /// `map_pop_elem` (`delete`) or `map_peek_elem`: the oldest value for a queue, the newest
    /// for a stack; `ENOENT` (and a zeroed `out`) when empty.
    pub fn get_value(&self, out: &mut [u8], delete: bool) -> Result<()> {
        if out.len() != self.value_size {
            return Err(MapError::Invalid("value size"));
        }
        let _l = self.lock();
        let (head, tail) = (self.get(H_HEAD), self.get(H_TAIL));
        if head == tail {
            out.fill(0);
            return Err(MapError::NotFound);
        }
        if self.stack {
            let idx = if head == 0 { self.size - 1 } else { head - 1 };
            self.st.read(self.slot(idx), out);
            if delete {
                self.set(H_HEAD, idx);
            }
        } else {
            self.st.read(self.slot(tail), out);
            if delete {
                self.set(H_TAIL, if tail + 1 >= self.size { 0 } else { tail + 1 });
            }
        }
        Ok(())
    }

    /// Bytes allocated for the map.
    pub fn memory_usage(&self) -> usize {
        self.st.len() + std::mem::size_of::<Self>()
    }
}
