//! `BPF_MAP_TYPE_BLOOM_FILTER` (kernel/bpf/bloom_filter.c): push sets `k` bits, peek tests
//! them. Sized like the kernel: `max_entries * k * 7 / 5` bits rounded up to a power of two.

use crate::error::{MapError, Result};
use crate::hash::{hash_bytes, random_seed};
use crate::spec::{MapSpec, flags::BPF_F_ZERO_SEED, update::BPF_ANY};
use crate::storage::Storage;
use std::sync::atomic::Ordering;

/// A bloom filter over fixed-size values.
#[derive(Debug)]
pub struct BloomFilter {
    st: Storage,
    mask: u32,
    nr_hash_funcs: u32,
    seed: u64,
    value_size: usize,
}

impl BloomFilter {
    /// Allocates the filter described by a validated `spec` (`map_extra` = hash functions).
    pub(crate) fn new(spec: &MapSpec) -> Result<BloomFilter> {
        let k = match spec.map_extra as u32 {
            0 => 5,
            k => k,
        };
        let bits = spec
            .max_entries
            .checked_mul(k)
            .and_then(|b| (b / 5).checked_mul(7))
            .filter(|&b| b <= 1 << 31);
        let (bytes, mask) = match bits {
            None => ((u32::MAX as usize).div_ceil(8), u32::MAX),
            Some(b) => {
                let b = if b <= 64 { 64 } else { b.next_power_of_two() };
                (b as usize / 8, b - 1)
            }
        };
        Ok(BloomFilter {
            st: Storage::new(bytes)?,
            mask,
            nr_hash_funcs: k,
            seed: if spec.flags & BPF_F_ZERO_SEED != 0 {
                0
            } else {
                random_seed()
            },
            value_size: spec.value_size as usize,
        })
    }

    fn bit(&self, value: &[u8], i: u32) -> u32 {
        hash_bytes(value, self.seed.wrapping_add(u64::from(i))) as u32 & self.mask
    }

    /// `map_push_elem`: adds `value` (flags must be `BPF_ANY`).
    pub fn push(&self, value: &[u8], flags: u64) -> Result<()> {
        if flags != BPF_ANY {
            return Err(MapError::Invalid("bloom filter push takes BPF_ANY"));
        }
        if value.len() != self.value_size {
            return Err(MapError::Invalid("value size"));
        }
        for i in 0..self.nr_hash_funcs {
            let h = self.bit(value, i);
            self.st
                .u64_at((h / 64) as usize * 8)
                .fetch_or(1 << (h % 64), Ordering::Relaxed);
        }
        Ok(())
    }

    /// `map_peek_elem`: `Ok` if `value` may be present, `ENOENT` if it certainly is not.
    pub fn peek(&self, value: &[u8]) -> Result<()> {
        if value.len() != self.value_size {
            return Err(MapError::Invalid("value size"));
        }
        for i in 0..self.nr_hash_funcs {
            let h = self.bit(value, i);
            let w = self
                .st
                .u64_at((h / 64) as usize * 8)
                .load(Ordering::Relaxed);
            if w & (1 << (h % 64)) == 0 {
                return Err(MapError::NotFound);
            }
        }
        Ok(())
    }

    /// Bytes allocated for the map.
    pub fn memory_usage(&self) -> usize {
        self.st.len() + std::mem::size_of::<Self>()
    }
}
