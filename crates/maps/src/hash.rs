//! The hash maps: `HASH`, `PERCPU_HASH`, `LRU_HASH`, `LRU_PERCPU_HASH` (kernel/bpf/hashtab.c).
//!
//! Layout of the one [`Storage`] region (all links are `u32` element indices, never pointers):
//!
//! ```text
//! 0    header: free-list head (u64: ABA tag << 32 | index), live count, LRU clock hand,
//!      bump count (elements handed out at least once); index 0 means none, so a zeroed
//!      region is an empty table
//! 64   buckets: n_buckets x { seq: u32, head: u32 }   (n_buckets = roundup_pow_of_two(max))
//! ..   elements: pool x { next, hash, state, lru_ref: u32; key (padded to 8); value(s) }
//! ```
//!
//! Writers take their bucket's sequence lock; lookups read the chain without writing shared
//! memory and retry if the bucket's sequence moved. Replaced and deleted elements go back to a
//! lock-free free list; their memory stays valid, so a program's pointer to a deleted value
//! stays dereferenceable, as with the kernel's preallocated maps. Like the kernel, a plain hash
//! map has `ncpus` spare elements so that updating an existing key installs a new element
//! (readers see the old or the new value, never a mix) even when the map is full.

use crate::error::{MapError, Result};
use crate::spec::{MapSpec, MapType, flags::BPF_F_ZERO_SEED, update::*};
use crate::storage::{Storage, seq_lock, seq_read_begin, seq_read_retry, seq_try_lock};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Element indices start at 1, so zeroed memory means "no element" everywhere.
const NIL: u32 = 0;
const H_FREE: usize = 0;
const H_COUNT: usize = 8;
const H_CLOCK: usize = 12;
const H_BUMP: usize = 16;
const BUCKETS_OFF: usize = 64;
const E_NEXT: usize = 0;
const E_HASH: usize = 4;
const E_STATE: usize = 8;
const E_REF: usize = 12;
const E_KEY: usize = 16;
const LINKED: u32 = 1;

/// `a * b` folded to 64 bits (high half xor low half): one multiply that mixes every input
/// bit into the low bits used for the bucket index.
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A seeded 64-bit hash of `data`, word at a time (keys are stored padded to 8 bytes).
#[inline]
pub(crate) fn hash_bytes(data: &[u8], seed: u64) -> u64 {
    const K1: u64 = 0x9e37_79b9_7f4a_7c15;
    const K2: u64 = 0xd6e8_feb8_6659_fd93;
    let mut h = seed ^ data.len() as u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
        h = fold_mul(h ^ w, K1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = fold_mul(h ^ u64::from_le_bytes(w), K1);
    }
    fold_mul(h, K2)
}

/// A random seed per map, as `get_random_u32()` gives the kernel's `hashrnd`.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5741_4747_4c45);
    h.finish()
}

/// Where an update's value comes from.
#[derive(Clone, Copy)]
enum Src<'a> {
    /// User space or a non-per-CPU program update: the value (or all CPUs' values).
    All(&'a [u8]),
    /// A program's per-CPU update: this CPU's value only.
    Cpu(&'a [u8], u32),
}

/// A hash, per-CPU hash, LRU hash or LRU per-CPU hash map.
#[derive(Debug)]
pub struct HashMap {
    st: Storage,
    lru: bool,
    percpu: bool,
    key_size: usize,
    value_size: usize,
    val_stride: usize,
    ncpus: u32,
    mask: u32,
    elems_off: usize,
    elem_size: usize,
    value_off: usize,
    pool: u32,
    max_entries: u32,
    seed: u64,
    lock_off: Option<u32>,
}

impl HashMap {
    /// Allocates the table described by a validated `spec`, for `ncpus` possible CPUs.
    pub(crate) fn new(spec: &MapSpec, ncpus: u32) -> Result<HashMap> {
        let lru = matches!(spec.map_type, MapType::LruHash | MapType::LruPercpuHash);
        let percpu = spec.map_type.is_percpu();
        let n_buckets = spec.max_entries.next_power_of_two();
        let key_stride = crate::spec::round_up8(spec.key_size as usize);
        let val_stride = spec.value_size_aligned();
        let values = if percpu {
            val_stride * ncpus as usize
        } else {
            val_stride
        };
        let elem_size = E_KEY + key_stride + values;
        // Spare elements let an update of an existing key swap in a fresh element.
        let spare = if lru || percpu { 0 } else { ncpus };
        let pool = spec
            .max_entries
            .checked_add(spare)
            .ok_or(MapError::TooBig)?;
        let elems_off = BUCKETS_OFF + n_buckets as usize * 8;
        let bytes = (pool as usize)
            .checked_mul(elem_size)
            .and_then(|b| b.checked_add(elems_off))
            .ok_or(MapError::NoMemory)?;
        let st = Storage::new(bytes)?;
        Ok(HashMap {
            st,
            lru,
            percpu,
            key_size: spec.key_size as usize,
            value_size: spec.value_size as usize,
            val_stride,
            ncpus,
            mask: n_buckets - 1,
            elems_off,
            elem_size,
            value_off: E_KEY + key_stride,
            pool,
            max_entries: spec.max_entries,
            seed: if spec.flags & BPF_F_ZERO_SEED != 0 {
                0
            } else {
                random_seed()
            },
            lock_off: spec.spin_lock_off,
        })
    }

    /// The storage holding buckets and elements.
    pub fn storage(&self) -> &Storage {
        &self.st
    }

    /// Number of elements in the map now.
    pub fn len(&self) -> usize {
        self.u32(H_COUNT).load(Ordering::Relaxed) as usize
    }

    /// Whether the map has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes allocated for the map.
    pub fn memory_usage(&self) -> usize {
        self.st.len() + std::mem::size_of::<Self>()
    }

    /// The size of a user-space value: `value_size`, or `round_up(value_size, 8) * ncpus`.
    pub fn user_value_size(&self) -> usize {
        if self.percpu {
            self.val_stride * self.ncpus as usize
        } else {
            self.value_size
        }
    }

    #[inline]
    fn u32(&self, off: usize) -> &AtomicU32 {
        self.st.u32_at(off)
    }

    #[inline]
    fn seq(&self, b: u32) -> &AtomicU32 {
        self.u32(BUCKETS_OFF + b as usize * 8)
    }

    #[inline]
    fn head(&self, b: u32) -> &AtomicU32 {
        self.u32(BUCKETS_OFF + b as usize * 8 + 4)
    }

    #[inline]
    fn elem(&self, idx: u32) -> usize {
        self.elems_off + (idx as usize - 1) * self.elem_size
    }

    #[inline]
    fn value_at(&self, idx: u32, cpu: u32) -> usize {
        self.elem(idx) + self.value_off + cpu as usize * self.val_stride
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u32 {
        hash_bytes(key, self.seed) as u32
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() != self.key_size {
            return Err(MapError::Invalid("key size"));
        }
        Ok(())
    }

    /// Walks bucket `b` for `key`. Under the bucket lock the answer is exact; in a read section
    /// it is only valid if the section does not need a retry.
    #[inline]
    fn find_raw(&self, b: u32, h: u32, key: &[u8]) -> Option<u32> {
        let mut idx = self.head(b).load(Ordering::Acquire);
        let mut steps = 0u32;
        while idx != NIL {
            // A torn walk (elements moved meanwhile) can wander; the retry check catches it.
            if idx > self.pool || steps > self.pool {
                return None;
            }
            let e = self.elem(idx);
            if self.u32(e + E_HASH).load(Ordering::Relaxed) == h && self.st.key_eq(e + E_KEY, key) {
                return Some(idx);
            }
            idx = self.u32(e + E_NEXT).load(Ordering::Relaxed);
            steps += 1;
        }
        None
    }

    /// Lock-free lookup of `key`'s element index.
    #[inline]
    fn find(&self, key: &[u8]) -> Option<u32> {
        let h = self.hash(key);
        let b = h & self.mask;
        let seq = self.seq(b);
        loop {
            let s = seq_read_begin(seq);
            let r = self.find_raw(b, h, key);
            if !seq_read_retry(seq, s) {
                return r;
            }
        }
    }

    /// Program lookup: the address of the value (this CPU's copy for per-CPU maps). LRU maps
    /// mark the element referenced, as `bpf_lru_node_set_ref` does.
    #[inline]
    pub fn lookup_ptr(&self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        if key.len() != self.key_size || (self.percpu && cpu >= self.ncpus) {
            return None;
        }
        let idx = self.find(key)?;
        if self.lru {
            let r = self.u32(self.elem(idx) + E_REF);
            // Only write when needed, so hot lookups do not bounce the cache line.
            if r.load(Ordering::Relaxed) == 0 {
                r.store(1, Ordering::Relaxed);
            }
        }
        let cpu = if self.percpu { cpu } else { 0 };
        Some(self.st.ptr_at(self.value_at(idx, cpu)))
    }

    /// `map_lookup_percpu_elem`: CPU `cpu`'s copy (per-CPU maps only).
    pub fn lookup_percpu_ptr(&self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        if !self.percpu {
            return None;
        }
        self.lookup_ptr(key, cpu)
    }

    /// User-space lookup: copies the value out (all CPUs' for per-CPU maps). It does not mark
    /// LRU elements, like the kernel's `_sys` lookup.
    pub fn lookup(&self, key: &[u8], out: &mut [u8], flags: u64) -> Result<()> {
        self.check_key(key)?;
        if out.len() != self.user_value_size() {
            return Err(MapError::Invalid("value buffer size"));
        }
        let locked = flags & BPF_F_LOCK != 0;
        let h = self.hash(key);
        let b = h & self.mask;
        if locked {
            let _g = seq_lock(self.seq(b));
            let idx = self.find_raw(b, h, key).ok_or(MapError::NotFound)?;
            self.st
                .read_map_value(self.value_at(idx, 0), out, self.lock_off, true);
            return Ok(());
        }
        let seq = self.seq(b);
        loop {
            let s = seq_read_begin(seq);
            let found = self.find_raw(b, h, key);
            if let Some(idx) = found {
                self.read_value(idx, out);
            }
            if !seq_read_retry(seq, s) {
                return found.map(|_| ()).ok_or(MapError::NotFound);
            }
        }
    }

    fn read_value(&self, idx: u32, out: &mut [u8]) {
        if self.percpu {
            self.st.read(self.value_at(idx, 0), out);
        } else {
            self.st
                .read_map_value(self.value_at(idx, 0), out, self.lock_off, false);
        }
    }

    /// User-space update: `value` is `value_size` bytes, or every CPU's value for per-CPU maps.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        if value.len() != self.user_value_size() {
            return Err(MapError::Invalid("value size"));
        }
        self.update_impl(key, Src::All(value), flags)
    }

    /// Program update (`bpf_map_update_elem`): per-CPU maps set this CPU's value, and a new
    /// element's other CPUs start zeroed (`pcpu_init_value`).
    pub fn prog_update(&self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> Result<()> {
        if value.len() != self.value_size {
            return Err(MapError::Invalid("value size"));
        }
        if self.percpu {
            if cpu >= self.ncpus {
                return Err(MapError::Invalid("cpu out of range"));
            }
            self.update_impl(key, Src::Cpu(value, cpu), flags)
        } else {
            self.update_impl(key, Src::All(value), flags)
        }
    }

    fn update_impl(&self, key: &[u8], src: Src<'_>, flags: u64) -> Result<()> {
        self.check_key(key)?;
        let locked = flags & BPF_F_LOCK != 0;
        if self.lru || self.percpu {
            if flags > BPF_EXIST {
                return Err(MapError::Invalid("unknown update flags"));
            }
        } else {
            if flags & !BPF_F_LOCK > BPF_EXIST {
                return Err(MapError::Invalid("unknown update flags"));
            }
            if locked && self.lock_off.is_none() {
                return Err(MapError::Invalid(
                    "BPF_F_LOCK without a bpf_spin_lock in the value",
                ));
            }
        }
        let op = flags & !BPF_F_LOCK;
        let h = self.hash(key);
        let b = h & self.mask;
        let _g = seq_lock(self.seq(b));
        let old = self.find_raw(b, h, key);
        match (old, op) {
            (Some(_), BPF_NOEXIST) => return Err(MapError::Exists),
            (None, BPF_EXIST) => return Err(MapError::NotFound),
            _ => {}
        }
        if let Some(o) = old {
            // Per-CPU values and BPF_F_LOCK updates are done in place, as in the kernel.
            let fresh = if self.percpu || locked {
                None
            } else {
                self.pop_free()
            };
            match fresh {
                None => {
                    self.write_value(o, src, false, locked);
                    if self.lru {
                        self.u32(self.elem(o) + E_REF).store(1, Ordering::Relaxed);
                    }
                }
                Some(n) => {
                    self.init_elem(n, key, h, src);
                    if self.lru {
                        self.u32(self.elem(n) + E_REF).store(1, Ordering::Relaxed);
                    }
                    // New element first in the chain, so lookups find it before the old one.
                    self.link(b, n);
                    self.unlink(b, o);
                    self.release(o);
                }
            }
            return Ok(());
        }
        let n = self.alloc_new(b)?;
        self.init_elem(n, key, h, src);
        self.link(b, n);
        Ok(())
    }

    /// Writes a value into element `idx` (`fresh`: zero the other CPUs of a per-CPU element).
    fn write_value(&self, idx: u32, src: Src<'_>, fresh: bool, locked: bool) {
        match src {
            Src::All(v) if self.percpu => self.st.write(self.value_at(idx, 0), v),
            Src::All(v) => self
                .st
                .write_map_value(self.value_at(idx, 0), v, self.lock_off, locked),
            Src::Cpu(v, cpu) => {
                if fresh {
                    for c in 0..self.ncpus {
                        if c != cpu {
                            self.st.zero(self.value_at(idx, c), self.val_stride);
                        }
                    }
                }
                self.st.write(self.value_at(idx, cpu), v);
            }
        }
    }

    fn init_elem(&self, n: u32, key: &[u8], h: u32, src: Src<'_>) {
        let e = self.elem(n);
        self.st.write(e + E_KEY, key);
        self.u32(e + E_HASH).store(h, Ordering::Relaxed);
        self.u32(e + E_REF).store(0, Ordering::Relaxed);
        if self.lock_off.is_some() {
            // A reused element's lock word may hold garbage from a program: start unlocked.
            self.st.zero(self.value_at(n, 0), self.val_stride);
        }
        self.write_value(n, src, true, false);
        self.u32(e + E_STATE).store(LINKED, Ordering::Relaxed);
    }

    /// An element for a new key: counts against `max_entries` (`E2BIG` when full); LRU maps
    /// evict instead (`ENOMEM` if nothing can be evicted).
    fn alloc_new(&self, held: u32) -> Result<u32> {
        let count = self.u32(H_COUNT);
        if self.lru {
            let n = self
                .pop_free()
                .or_else(|| self.evict(held))
                .ok_or(MapError::NoMemory)?;
            count.fetch_add(1, Ordering::Relaxed);
            return Ok(n);
        }
        if count.fetch_add(1, Ordering::Relaxed) >= self.max_entries {
            count.fetch_sub(1, Ordering::Relaxed);
            return Err(MapError::TooBig);
        }
        let mut spins = 0;
        // Empty only while other updates hold spares for replacements; they finish soon. The
        // bound only guards against a broken invariant turning into a hang.
        while spins < 1 << 20 {
            if let Some(n) = self.pop_free() {
                return Ok(n);
            }
            crate::storage::backoff(&mut spins);
        }
        count.fetch_sub(1, Ordering::Relaxed);
        Err(MapError::TooBig)
    }

    /// Marks an unlinked element free and returns it to the free list.
    fn release(&self, idx: u32) {
        self.u32(self.elem(idx) + E_STATE)
            .store(0, Ordering::Relaxed);
        self.push_free(idx);
    }

    fn link(&self, b: u32, n: u32) {
        let head = self.head(b);
        self.u32(self.elem(n) + E_NEXT)
            .store(head.load(Ordering::Relaxed), Ordering::Relaxed);
        head.store(n, Ordering::Release);
    }

    /// Removes `idx` from bucket `b`'s chain (bucket lock held); false if it is not there.
    fn unlink(&self, b: u32, idx: u32) -> bool {
        let next = self.u32(self.elem(idx) + E_NEXT).load(Ordering::Relaxed);
        let mut link = self.head(b);
        let mut steps = 0;
        loop {
            let cur = link.load(Ordering::Relaxed);
            if cur == NIL || steps > self.pool {
                return false;
            }
            if cur == idx {
                link.store(next, Ordering::Release);
                return true;
            }
            link = self.u32(self.elem(cur) + E_NEXT);
            steps += 1;
        }
    }

    /// Pops a free element: the lock-free free list first, then never-used elements.
    fn pop_free(&self) -> Option<u32> {
        let head = self.st.u64_at(H_FREE);
        let mut cur = head.load(Ordering::Acquire);
        loop {
            let idx = cur as u32;
            if idx == NIL {
                break;
            }
            let next = self.u32(self.elem(idx) + E_NEXT).load(Ordering::Relaxed);
            // The tag in the high half changes on every push and pop, which defeats ABA.
            let new = (cur & !0xffff_ffff).wrapping_add(1 << 32) | u64::from(next);
            match head.compare_exchange_weak(cur, new, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => return Some(idx),
                Err(c) => cur = c,
            }
        }
        let bump = self.u32(H_BUMP);
        let mut b = bump.load(Ordering::Relaxed);
        while b < self.pool {
            match bump.compare_exchange_weak(b, b + 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(b + 1),
                Err(x) => b = x,
            }
        }
        None
    }

    fn push_free(&self, idx: u32) {
        let head: &AtomicU64 = self.st.u64_at(H_FREE);
        let next = self.u32(self.elem(idx) + E_NEXT);
        let mut cur = head.load(Ordering::Relaxed);
        loop {
            next.store(cur as u32, Ordering::Relaxed);
            let new = (cur & !0xffff_ffff).wrapping_add(1 << 32) | u64::from(idx);
            match head.compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(c) => cur = c,
            }
        }
    }

    /// Second-chance ("clock") eviction, the approximation of LRU the kernel's active/inactive
    /// lists also make: referenced elements lose their mark and survive one more round.
    /// `held` is the bucket whose lock the caller holds; other buckets are only try-locked,
    /// so eviction never waits while holding a lock.
    fn evict(&self, held: u32) -> Option<u32> {
        let used = self.u32(H_BUMP).load(Ordering::Relaxed).min(self.pool);
        if used == 0 {
            return None;
        }
        let hand = self.u32(H_CLOCK);
        for _ in 0..2 * u64::from(used) + 64 {
            let i = hand.fetch_add(1, Ordering::Relaxed) % used + 1;
            let e = self.elem(i);
            if self.u32(e + E_STATE).load(Ordering::Relaxed) != LINKED {
                continue;
            }
            let r = self.u32(e + E_REF);
            if r.load(Ordering::Relaxed) != 0 {
                r.store(0, Ordering::Relaxed);
                continue;
            }
            let h = self.u32(e + E_HASH).load(Ordering::Relaxed);
            let vb = h & self.mask;
            let guard = if vb == held {
                None
            } else {
                match seq_try_lock(self.seq(vb)) {
                    Some(g) => Some(g),
                    None => continue,
                }
            };
            let still = self.u32(e + E_STATE).load(Ordering::Relaxed) == LINKED
                && self.u32(e + E_HASH).load(Ordering::Relaxed) == h;
            if still && self.unlink(vb, i) {
                self.u32(e + E_STATE).store(0, Ordering::Relaxed);
                self.u32(H_COUNT).fetch_sub(1, Ordering::Relaxed);
                drop(guard);
                return Some(i);
            }
        }
        None
    }

    /// Deletes `key` (`ENOENT` if absent).
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        self.check_key(key)?;
        let h = self.hash(key);
        let b = h & self.mask;
        let _g = seq_lock(self.seq(b));
        let idx = self.find_raw(b, h, key).ok_or(MapError::NotFound)?;
        self.unlink(b, idx);
        self.u32(H_COUNT).fetch_sub(1, Ordering::Relaxed);
        self.release(idx);
        Ok(())
    }

    /// Copies the value out and deletes the element, atomically with respect to other writers.
    pub fn lookup_and_delete(&self, key: &[u8], out: &mut [u8], flags: u64) -> Result<()> {
        self.check_key(key)?;
        if out.len() != self.user_value_size() {
            return Err(MapError::Invalid("value buffer size"));
        }
        let locked = flags & BPF_F_LOCK != 0;
        let h = self.hash(key);
        let b = h & self.mask;
        let _g = seq_lock(self.seq(b));
        let idx = self.find_raw(b, h, key).ok_or(MapError::NotFound)?;
        if self.percpu {
            self.st.read(self.value_at(idx, 0), out);
        } else {
            self.st
                .read_map_value(self.value_at(idx, 0), out, self.lock_off, locked);
        }
        self.unlink(b, idx);
        self.u32(H_COUNT).fetch_sub(1, Ordering::Relaxed);
        self.release(idx);
        Ok(())
    }

    /// `htab_map_get_next_key`: the next key in bucket order; a missing or absent key restarts
    /// from the first element; after the last, `ENOENT`.
    pub fn get_next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<()> {
        if out.len() != self.key_size {
            return Err(MapError::Invalid("key size"));
        }
        let mut start = 0;
        if let Some(k) = key {
            self.check_key(k)?;
            let h = self.hash(k);
            let b = h & self.mask;
            let seq = self.seq(b);
            loop {
                let s = seq_read_begin(seq);
                let mut next = None;
                if let Some(idx) = self.find_raw(b, h, k) {
                    let n = self.u32(self.elem(idx) + E_NEXT).load(Ordering::Relaxed);
                    if n != NIL && n <= self.pool {
                        self.st.read(self.elem(n) + E_KEY, out);
                        next = Some(true);
                    } else {
                        next = Some(false);
                    }
                }
                if seq_read_retry(seq, s) {
                    continue;
                }
                match next {
                    Some(true) => return Ok(()),
                    Some(false) => start = b + 1,
                    None => start = 0,
                }
                break;
            }
        }
        for b in start..=self.mask {
            if self.head(b).load(Ordering::Relaxed) == NIL {
                continue;
            }
            let seq = self.seq(b);
            loop {
                let s = seq_read_begin(seq);
                let first = self.head(b).load(Ordering::Acquire);
                if first != NIL && first <= self.pool {
                    self.st.read(self.elem(first) + E_KEY, out);
                }
                if !seq_read_retry(seq, s) {
                    if first != NIL {
                        return Ok(());
                    }
                    break;
                }
            }
        }
        Err(MapError::NotFound)
    }

    /// Calls `f(key, value address)` for each element (this CPU's copy for per-CPU maps), in
    /// bucket order, until it returns `true`; returns how many elements it was called for.
    /// `f` may update or delete elements (`bpf_for_each_map_elem`).
    pub fn for_each(&self, cpu: u32, mut f: impl FnMut(&[u8], NonNull<u8>) -> bool) -> u32 {
        let cpu = if self.percpu {
            cpu.min(self.ncpus - 1)
        } else {
            0
        };
        let mut key = vec![0u8; self.key_size];
        let mut batch: Vec<u32> = Vec::new();
        let mut n = 0;
        for b in 0..=self.mask {
            if self.head(b).load(Ordering::Relaxed) == NIL {
                continue;
            }
            // Snapshot the chain first: `f` may change it.
            let seq = self.seq(b);
            loop {
                batch.clear();
                let s = seq_read_begin(seq);
                let mut idx = self.head(b).load(Ordering::Acquire);
                while idx != NIL && idx <= self.pool && batch.len() <= self.pool as usize {
                    batch.push(idx);
                    idx = self.u32(self.elem(idx) + E_NEXT).load(Ordering::Relaxed);
                }
                if !seq_read_retry(seq, s) {
                    break;
                }
            }
            for &idx in &batch {
                let e = self.elem(idx);
                if self.u32(e + E_STATE).load(Ordering::Relaxed) != LINKED {
                    continue;
                }
                self.st.read(e + E_KEY, &mut key);
                n += 1;
                if f(&key, self.st.ptr_at(self.value_at(idx, cpu))) {
                    return n;
                }
            }
        }
        n
    }
}
