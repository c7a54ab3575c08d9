//! `BPF_MAP_TYPE_ARRAY` and `BPF_MAP_TYPE_PERCPU_ARRAY` (kernel/bpf/arraymap.c).
//!
//! Every element exists from creation; values are zeroed. Element `i` lives at
//! `i * stride` (per-CPU: `(i * ncpus + cpu) * stride`) with `stride = round_up(value_size, 8)`,
//! so a plain array's storage is exactly the kernel's mmap-able value area
//! (`BPF_F_MMAPABLE`): the storage is a memfd of its own ([`crate::Map::shared_memory`]),
//! page aligned and zero-filled, so a process that maps it finds element `i` at byte
//! `i * stride` (per-CPU: CPU `c`'s copy at `(i * ncpus + c) * stride`) with no round trip.
//! Values holding a `bpf_spin_lock` keep the lock word in place (at the value's lock offset).

use crate::ReleaseHook;
use crate::error::{MapError, Result};
use crate::spec::{MapSpec, MapType, update::*};
use crate::storage::{Fields, Storage};
use std::ptr::NonNull;

/// An array or per-CPU array map.
#[derive(Debug)]
pub struct ArrayMap {
    storage: Storage,
    max_entries: u32,
    value_size: usize,
    stride: usize,
    ncpus: u32,
    percpu: bool,
    fields: Fields,
    /// Called with an element's value when an update overwrites a value holding a timer.
    pub(crate) release_hook: std::sync::OnceLock<ReleaseHook>,
}

/// The index a 4-byte array key names (host byte order, as the kernel reads `*(u32 *)key`).
pub(crate) fn array_index(key: &[u8]) -> Result<u32> {
    let k: [u8; 4] = key
        .try_into()
        .map_err(|_| MapError::Invalid("array keys are 4 bytes"))?;
    Ok(u32::from_ne_bytes(k))
}

/// `array_map_get_next_key`: absent or out-of-range key gives 0, the last index `ENOENT`.
pub(crate) fn array_next_key(max_entries: u32, key: Option<&[u8]>, out: &mut [u8]) -> Result<()> {
    let idx = match key {
        Some(k) => array_index(k)?,
        None => u32::MAX,
    };
    if out.len() != 4 {
        return Err(MapError::Invalid("array keys are 4 bytes"));
    }
    let next = if idx >= max_entries {
        0
    } else if idx == max_entries - 1 {
        return Err(MapError::NotFound);
    } else {
        idx + 1
    };
    out.copy_from_slice(&next.to_ne_bytes());
    Ok(())
}

impl ArrayMap {
    /// Allocates the array described by a validated `spec`, for `ncpus` possible CPUs.
    pub(crate) fn new(spec: &MapSpec, ncpus: u32) -> Result<ArrayMap> {
        let percpu = spec.map_type == MapType::PercpuArray;
        let stride = spec.value_size_aligned();
        let per_elem = if percpu {
            stride * ncpus as usize
        } else {
            stride
        };
        let bytes = per_elem
            .checked_mul(spec.max_entries as usize)
            .ok_or(MapError::NoMemory)?;
        Ok(ArrayMap {
            storage: Storage::new_shared("waggle-array", bytes)?,
            max_entries: spec.max_entries,
            value_size: spec.value_size as usize,
            stride,
            ncpus,
            percpu,
            fields: spec.fields(),
            release_hook: std::sync::OnceLock::new(),
        })
    }

    /// The storage holding all values.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    fn offset(&self, idx: u32, cpu: u32) -> usize {
        if self.percpu {
            (idx as usize * self.ncpus as usize + cpu as usize) * self.stride
        } else {
            idx as usize * self.stride
        }
    }

    /// Program lookup: the address of element `key` (this CPU's copy for per-CPU arrays).
    #[inline]
    pub fn lookup_ptr(&self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        let idx = array_index(key).ok()?;
        if idx >= self.max_entries || (self.percpu && cpu >= self.ncpus) {
            return None;
        }
        Some(
            self.storage
                .ptr_at(self.offset(idx, if self.percpu { cpu } else { 0 })),
        )
    }

    /// User-space lookup: copies the value (all CPUs' values, each padded to 8, if per-CPU).
    pub fn lookup(&self, key: &[u8], out: &mut [u8], flags: u64) -> Result<()> {
        let idx = array_index(key)?;
        if idx >= self.max_entries {
            return Err(MapError::NotFound);
        }
        if self.percpu {
            if out.len() != self.stride * self.ncpus as usize {
                return Err(MapError::Invalid("per-CPU value buffer size"));
            }
            self.storage.read(self.offset(idx, 0), out);
            return Ok(());
        }
        if out.len() != self.value_size {
            return Err(MapError::Invalid("value buffer size"));
        }
        let locked = flags & BPF_F_LOCK != 0;
        self.storage
            .read_map_value(self.offset(idx, 0), out, self.fields, locked);
        Ok(())
    }

    /// User-space update (`bpf_percpu_array_update` for per-CPU arrays).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        if !self.percpu {
            return self.update_one(key, value, flags, 0);
        }
        if flags > BPF_EXIST {
            return Err(MapError::Invalid("unknown update flags"));
        }
        let idx = array_index(key)?;
        if value.len() != self.stride * self.ncpus as usize {
            return Err(MapError::Invalid("per-CPU value buffer size"));
        }
        if idx >= self.max_entries {
            return Err(MapError::TooBig);
        }
        if flags == BPF_NOEXIST {
            return Err(MapError::Exists);
        }
        self.storage.write(self.offset(idx, 0), value);
        Ok(())
    }

    /// Program update (`array_map_update_elem`): per-CPU arrays update this CPU's copy.
    pub fn prog_update(&self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> Result<()> {
        if self.percpu && cpu >= self.ncpus {
            return Err(MapError::Invalid("cpu out of range"));
        }
        self.update_one(key, value, flags, cpu)
    }

    fn update_one(&self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> Result<()> {
        if flags & !BPF_F_LOCK > BPF_EXIST {
            return Err(MapError::Invalid("unknown update flags"));
        }
        let idx = array_index(key)?;
        if value.len() != self.value_size {
            return Err(MapError::Invalid("value size"));
        }
        if idx >= self.max_entries {
            return Err(MapError::TooBig);
        }
        if flags & BPF_NOEXIST != 0 {
            return Err(MapError::Exists);
        }
        let locked = flags & BPF_F_LOCK != 0;
        if locked && self.fields.lock.is_none() {
            return Err(MapError::Invalid(
                "BPF_F_LOCK without a bpf_spin_lock in the value",
            ));
        }
        let off = self.offset(idx, if self.percpu { cpu } else { 0 });
        self.storage
            .write_map_value(off, value, self.fields, locked && !self.percpu);
        // array_map_update_elem(): the overwritten value's timer is freed after the copy.
        if self.fields.timer.is_some()
            && let Some(h) = self.release_hook.get()
        {
            (h.0)(self.storage.ptr_at(off));
        }
        Ok(())
    }

    /// The index (as a key) of the element whose value is at `value`.
    pub(crate) fn key_of_value(&self, value: NonNull<u8>) -> Option<Vec<u8>> {
        let off = self.storage.offset_of(value.as_ptr())?;
        let per_elem = if self.percpu {
            self.stride * self.ncpus as usize
        } else {
            self.stride
        };
        let idx = u32::try_from(off / per_elem).ok()?;
        (idx < self.max_entries && off % per_elem == 0).then(|| idx.to_ne_bytes().to_vec())
    }

    /// `map_lookup_percpu_elem`: CPU `cpu`'s copy of element `key` (per-CPU arrays only).
    pub fn lookup_percpu_ptr(&self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        if !self.percpu {
            return None;
        }
        self.lookup_ptr(key, cpu)
    }

    /// Array iteration, as the kernel does it.
    pub fn get_next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<()> {
        array_next_key(self.max_entries, key, out)
    }

    /// Bytes allocated for the map.
    pub fn memory_usage(&self) -> usize {
        self.storage.len() + std::mem::size_of::<Self>()
    }
}
