//! The hash maps: `HASH`, `PERCPU_HASH`, `LRU_HASH`, `LRU_PERCPU_HASH` (kernel/bpf/hashtab.c).
//!
//! Layout of the one [`Storage`] region (all links are `u32` element indices, never pointers):
//!
//! ```text
//! 0    header: free-list head (u64: ABA tag << 32 | index), live count, LRU clock hand,
//!      bump count (elements handed out at least once); index 0 means none, so a zeroed
//!      region is an empty table
//! 64   buckets: n_buckets x 32 bytes { seq: u32, head: u32, slots: 3 x u64 (tag << 32 | index) }
//!      (n_buckets = roundup_pow_of_two(max), twice that for small tables, see
//!      HALF_LOAD_MAX_BYTES); for keys of 5 to 16 bytes, 64 bytes: the same
//!      plus a copy of the keys of the first slots (3 keys of 8 bytes or 2 of 16)
//! ..   elements: pool x { next, hash, state, lru_ref: u32; key (padded to 8); value(s) }
//! ```
//!
//! A bucket's members are the elements in its three slots, then its overflow chain (`head`,
//! linked through `next`). A slot keeps a 32-bit tag next to the element index: the half of
//! the key's 64-bit hash not used for the bucket index or, for keys of at most 4 bytes, the key
//! itself. A lookup picks the candidate from the bucket's cache line without branching on its
//! contents and compares the key there: keys of at most 4 bytes are their tags, keys of 5 to
//! 16 bytes have a copy in the bucket for its first slots, so a hit in those touches one cache
//! line, not two (at 1 M entries each is a cache and TLB miss). Longer keys, and keys in the
//! last slot or the overflow chain, are compared in the element. With at most one element per
//! bucket on average, chains are rare.
//!
//! Writers take their bucket's sequence lock; lookups read the chain without writing shared
//! memory and retry if the bucket's sequence moved. Replaced and deleted elements go back to a
//! lock-free free list; their memory stays valid, so a program's pointer to a deleted value
//! stays dereferenceable, as with the kernel's preallocated maps. Like the kernel, a plain hash
//! map has `ncpus` spare elements so that updating an existing key installs a new element
//! (readers see the old or the new value, never a mix) even when the map is full.
//!
//! A program's lookup (`lookup_ptr`, what `bpf_map_lookup_elem` calls) of a 4-, 8- or 16-byte
//! key is one straight pass over the bucket's line: sequence, slots and key copies loaded, the
//! matching slot picked without branches, the sequence checked again, one well-predicted
//! branch on the outcome; a writer in the bucket, a miss or a key outside the branch-free slots
//! goes to the full walk, out of line. The second sequence read stays although the kernel's
//! RCU lookup has nothing like it: the kernel compares the key in the element, which a reader
//! only reaches through a link that was valid, while here the key is compared in the bucket's
//! copies, which writers rewrite in place. Without the check, a lookup overlapping a delete and
//! an insert in the same slot can read half of each key's copy (both 16-byte keys sharing a
//! word with the one looked up) and return an element that never held that key, or the OR of
//! two indices; and an odd sequence means the line is mid-write. Tests:
//! `lookups_wait_for_a_writer_in_the_bucket` (a lookup meeting a half-written copy),
//! `fast_reads_are_rejected_after_a_writer` (the end of the read section, deterministic) and
//! `lookups_never_mix_concurrent_rewrites` (the torn case under real concurrency, which only
//! hits its window of a few cycles by chance). On x86-64 the check is a load from the line
//! already in the cache and a compare.

use crate::error::{MapError, Result};
use crate::spec::{MapSpec, MapType, flags::BPF_F_ZERO_SEED, update::*};
use crate::storage::{Fields, Storage, seq_lock, seq_read_begin, seq_read_retry, seq_try_lock};
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
/// Bytes per bucket without key copies, and the element slots in it.
const BUCKET_SIZE: usize = 32;
const B_HEAD: usize = 4;
const B_SLOTS: usize = 8;
const NSLOTS: usize = 3;
/// Where a bucket's key copies start, and the bucket size with them (one cache line).
const B_KEYS: usize = 32;
const BUCKET_SIZE_KEYS: usize = 64;
/// Tables whose bucket array is at most this big at half load get it: twice the kernel's
/// `roundup_pow_of_two(max_entries)` buckets. At the kernel's sizing a full table keeps about a
/// tenth of its 16-byte keys outside the slots with key copies (the third slot and the chains)
/// and a fiftieth of its 4- and 8-byte keys in chains; a lookup of one of those takes the
/// out-of-line walk after a mispredicted branch. At half load that is one key in thirty (16
/// bytes) or in three hundred (4 and 8 bytes). Larger tables keep the kernel's sizing:
/// doubling their buckets would cost more memory than their elements do.
const HALF_LOAD_MAX_BYTES: usize = 256 << 10;
const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xd6e8_feb8_6659_fd93;

/// The tag a bucket slot keeps for hash `h`: its high half (for keys of at most 4 bytes, the
/// key itself; see [`HashMap::hash`]). Empty slots have index 0, whatever their tag.
#[inline(always)]
fn tag_of(h: u64) -> u32 {
    (h >> 32) as u32
}

/// A key of at most 4 bytes as a zero-padded little-endian `u32`.
#[inline(always)]
fn small_key(key: &[u8]) -> u32 {
    if let Ok(k) = <[u8; 4]>::try_from(key) {
        return u32::from_le_bytes(k);
    }
    key.iter()
        .take(4)
        .enumerate()
        .fold(0, |w, (i, &b)| w | u32::from(b) << (8 * i))
}

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

/// [`hash_bytes`] with 4-, 8- and 16-byte keys unrolled (the same value, fewer branches).
#[inline(always)]
fn hash_key(key: &[u8], seed: u64) -> u64 {
    if let Ok(k) = <[u8; 4]>::try_from(key) {
        let w = u64::from(u32::from_le_bytes(k));
        return fold_mul(fold_mul(seed ^ 4 ^ w, K1), K2);
    }
    if let Ok(k) = <[u8; 8]>::try_from(key) {
        return fold_mul(fold_mul(seed ^ 8 ^ u64::from_le_bytes(k), K1), K2);
    }
    if let Ok(k) = <[u8; 16]>::try_from(key) {
        let (a, b) = split16(k);
        return hash16(a, b, seed);
    }
    hash_bytes(key, seed)
}

/// [`hash_bytes`] of a 16-byte key given as its two little-endian words.
#[inline(always)]
fn hash16(a: u64, b: u64, seed: u64) -> u64 {
    let h = fold_mul(seed ^ 16 ^ a, K1);
    fold_mul(fold_mul(h ^ b, K1), K2)
}

/// A 16-byte key as two little-endian words.
#[inline(always)]
fn split16(k: [u8; 16]) -> (u64, u64) {
    let v = u128::from_le_bytes(k);
    (v as u64, (v >> 64) as u64)
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
    fields: Fields,
    /// Called with an element's value when an element holding a timer is released.
    pub(crate) release_hook: std::sync::OnceLock<crate::ReleaseHook>,
    /// Keys of at most 4 bytes are their own slot tags: a lookup need not read the element.
    exact_tags: bool,
    /// log2 of the bytes per bucket: [`BUCKET_SIZE`], or [`BUCKET_SIZE_KEYS`] with key copies.
    bucket_shift: u32,
    /// How many of a bucket's first slots have a copy of their key in the bucket (0 to 3).
    bucket_keys: usize,
    /// Bytes per key copy in a bucket (the key padded to 8).
    key_stride: usize,
    /// Which lookup fast path the key size allows.
    fast: FastPath,
}

/// The lookup fast path of a map, fixed by its key size (see [`HashMap::find`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FastPath {
    /// 4-byte keys: the slot tags are the keys.
    Key4,
    /// 8-byte keys: three copies in the bucket.
    Key8,
    /// 16-byte keys: two copies in the bucket.
    Key16,
    /// Other sizes: the general read section.
    Other,
}

impl HashMap {
    /// Allocates the table described by a validated `spec`, for `ncpus` possible CPUs.
    pub(crate) fn new(spec: &MapSpec, ncpus: u32) -> Result<HashMap> {
        let lru = matches!(spec.map_type, MapType::LruHash | MapType::LruPercpuHash);
        let percpu = spec.map_type.is_percpu();
        let key_stride = crate::spec::round_up8(spec.key_size as usize);
        let val_stride = spec.value_size_aligned();
        let values = if percpu {
            val_stride * ncpus as usize
        } else {
            val_stride
        };
        let elem_size = E_KEY + key_stride + values;
        // Keys of 5 to 16 bytes get copies in their bucket's line (see the module docs).
        let bucket_keys = if spec.key_size > 4 && key_stride <= 16 {
            ((BUCKET_SIZE_KEYS - B_KEYS) / key_stride).min(NSLOTS)
        } else {
            0
        };
        let bucket_size = if bucket_keys > 0 {
            BUCKET_SIZE_KEYS
        } else {
            BUCKET_SIZE
        };
        let mut n_buckets = spec.max_entries.next_power_of_two();
        if (n_buckets as usize) * 2 * bucket_size <= HALF_LOAD_MAX_BYTES {
            n_buckets *= 2;
        }
        // Spare elements let an update of an existing key swap in a fresh element.
        let spare = if lru || percpu { 0 } else { ncpus };
        let pool = spec
            .max_entries
            .checked_add(spare)
            .ok_or(MapError::TooBig)?;
        let elems_off = (n_buckets as usize)
            .checked_mul(bucket_size)
            .and_then(|b| b.checked_add(BUCKETS_OFF))
            .ok_or(MapError::NoMemory)?;
        let bytes = (pool as usize)
            .checked_mul(elem_size)
            .and_then(|b| b.checked_add(elems_off))
            .ok_or(MapError::NoMemory)?;
        let st = Storage::new_shared("waggle-hash", bytes)?;
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
            fields: spec.fields(),
            release_hook: std::sync::OnceLock::new(),
            exact_tags: spec.key_size <= 4,
            bucket_shift: bucket_size.trailing_zeros(),
            bucket_keys,
            key_stride,
            fast: match (spec.key_size, bucket_keys) {
                (4, _) => FastPath::Key4,
                (8, 3) => FastPath::Key8,
                (16, 2) => FastPath::Key16,
                _ => FastPath::Other,
            },
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

    /// Offset of bucket `b`.
    #[inline(always)]
    fn bucket(&self, b: u32) -> usize {
        BUCKETS_OFF + ((b as usize) << self.bucket_shift)
    }

    #[inline]
    fn seq(&self, b: u32) -> &AtomicU32 {
        self.u32(self.bucket(b))
    }

    #[inline]
    fn head(&self, b: u32) -> &AtomicU32 {
        self.u32(self.bucket(b) + B_HEAD)
    }

    /// Slot `k` of bucket `b`: `tag << 32 | index`, or 0 when empty.
    #[inline]
    fn slot(&self, b: u32, k: usize) -> &AtomicU64 {
        &self.slots(b)[k]
    }

    /// Bucket `b`'s slots.
    #[inline(always)]
    fn slots(&self, b: u32) -> &[AtomicU64; NSLOTS] {
        self.st.u64s_at(self.bucket(b) + B_SLOTS)
    }

    /// Whether bucket `b` has no member (a racy hint unless the bucket lock is held).
    fn bucket_empty(&self, b: u32) -> bool {
        self.head(b).load(Ordering::Relaxed) == NIL
            && (0..NSLOTS).all(|k| self.slot(b, k).load(Ordering::Relaxed) as u32 == NIL)
    }

    /// Bucket `b`'s members in order: its slots, then its chain (bounded, for torn reads).
    fn members(&self, b: u32) -> Members<'_> {
        Members {
            map: self,
            b,
            slot: 0,
            prev: None,
            steps: 0,
        }
    }

    #[inline]
    fn elem(&self, idx: u32) -> usize {
        self.elems_off + (idx as usize - 1) * self.elem_size
    }

    #[inline]
    fn value_at(&self, idx: u32, cpu: u32) -> usize {
        self.elem(idx) + self.value_off + cpu as usize * self.val_stride
    }

    /// The key's 64-bit hash: the low half picks the bucket and is kept in the element, the
    /// high half is the slot tag; for keys of at most 4 bytes the high half is the key.
    #[inline(always)]
    fn hash(&self, key: &[u8]) -> u64 {
        let h = hash_key(key, self.seed);
        if self.exact_tags {
            (h & 0xffff_ffff) | u64::from(small_key(key)) << 32
        } else {
            h
        }
    }

    /// Whether element `idx`'s key is `key`, with fixed-size fast paths.
    #[inline(always)]
    fn key_matches(&self, idx: u32, key: &[u8]) -> bool {
        let off = self.elem(idx) + E_KEY;
        if let Ok(k) = <[u8; 4]>::try_from(key) {
            let w = self.st.u64_at(off).load(Ordering::Relaxed);
            return w == u64::from(u32::from_le_bytes(k));
        }
        if let Ok(k) = <[u8; 8]>::try_from(key) {
            return self.st.u64_at(off).load(Ordering::Relaxed) == u64::from_le_bytes(k);
        }
        if let Ok(k) = <[u8; 16]>::try_from(key) {
            let (a, b) = split16(k);
            let [w0, w1] = self.st.u64s_at::<2>(off);
            return (w0.load(Ordering::Relaxed) ^ a) | (w1.load(Ordering::Relaxed) ^ b) == 0;
        }
        self.st.key_eq(off, key)
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() != self.key_size {
            return Err(MapError::Invalid("key size"));
        }
        Ok(())
    }

    /// Walks bucket `b` for `key`. Under the bucket lock the answer is exact; in a read section
    /// it is only valid if the section does not need a retry.
    fn find_raw(&self, b: u32, h: u64, key: &[u8]) -> Option<u32> {
        let tag = tag_of(h);
        for k in 0..NSLOTS {
            let s = self.slot(b, k).load(Ordering::Acquire);
            let idx = s as u32;
            if idx != NIL
                && idx <= self.pool
                && (s >> 32) as u32 == tag
                && self.key_matches(idx, key)
            {
                return Some(idx);
            }
        }
        let mut idx = self.head(b).load(Ordering::Acquire);
        let mut steps = 0u32;
        while idx != NIL {
            // A torn walk (elements moved meanwhile) can wander; the retry check catches it.
            if idx > self.pool || steps > self.pool {
                return None;
            }
            let e = self.elem(idx);
            if self.u32(e + E_HASH).load(Ordering::Relaxed) == h as u32
                && self.key_matches(idx, key)
            {
                return Some(idx);
            }
            idx = self.u32(e + E_NEXT).load(Ordering::Relaxed);
            steps += 1;
        }
        None
    }

    /// [`find_raw`](Self::find_raw) for read sections, fast when the key sits in a slot with
    /// a unique tag (nearly always): the candidate is picked from the bucket's line without
    /// branches on it, so the only well-predicted branch waits for the key comparison.
    #[inline(always)]
    fn find_read(&self, b: u32, h: u64, key: &[u8]) -> Option<u32> {
        let tag = tag_of(h);
        let slots = self.slots(b);
        // All-ones when `c`, else zero: selects without branches.
        let ones = |c: bool| u32::from(c).wrapping_neg();
        let pick = |k: usize| {
            let s = slots[k].load(Ordering::Acquire);
            s as u32 & ones((s >> 32) as u32 == tag)
        };
        let (i0, i1, i2) = (pick(0), pick(1), pick(2));
        let idx = i0 | (i1 & ones(i0 == NIL));
        let idx = idx | (i2 & ones(idx == NIL));
        if idx != NIL && idx <= self.pool && self.key_matches(idx, key) {
            return Some(idx);
        }
        self.find_slow(b, h, key)
    }

    /// The full walk, out of line: misses, tag collisions and overflow chains.
    #[cold]
    #[inline(never)]
    fn find_slow(&self, b: u32, h: u64, key: &[u8]) -> Option<u32> {
        self.find_raw(b, h, key)
    }

    /// Lock-free lookup of `key`'s element index. The caller has checked that `key` is
    /// `key_size` bytes.
    ///
    /// Keys of 4, 8 and 16 bytes take a straight-line fast path: one pass over the bucket's
    /// line in a read section, with no loop, no spill-heavy setup and nothing but one
    /// well-predicted branch on the result; anything unusual (a writer in the bucket, a
    /// member outside the first slots, a miss) goes to [`find_cold`](Self::find_cold), out of
    /// line. Other sizes take [`find_general`](Self::find_general).
    #[inline(always)]
    fn find(&self, key: &[u8]) -> Option<u32> {
        match self.fast {
            FastPath::Key16 => {
                if let Ok(k) = <&[u8; 16]>::try_from(key) {
                    return self.find16(k);
                }
            }
            FastPath::Key8 => {
                if let Ok(k) = <&[u8; 8]>::try_from(key) {
                    return self.find8(k);
                }
            }
            FastPath::Key4 => {
                if let Ok(k) = <&[u8; 4]>::try_from(key) {
                    return self.find4(k);
                }
            }
            FastPath::Other => {}
        }
        self.find_general(key)
    }

    /// [`find`](Self::find) for 16-byte keys: both key copies of the bucket compared at once,
    /// the matching slot's index picked without branches.
    #[allow(unsafe_code)]
    #[inline(always)]
    fn find16(&self, key: &[u8; 16]) -> Option<u32> {
        let (a, b) = split16(*key);
        let h = hash16(a, b, self.seed);
        let bo = self.bucket(h as u32 & self.mask);
        // SAFETY: the bucket index is at most `mask`, so its 64 bytes (`bucket_keys == 2`
        // copies of 16 bytes from `B_KEYS`: `FastPath::Key16` is only chosen then) lie in
        // `BUCKETS_OFF..elems_off`, which `new` allocated; all offsets are 8-aligned.
        let (seq, s0, s1, c) = unsafe {
            (
                self.st.u32_unchecked(bo),
                self.st.u64_unchecked(bo + B_SLOTS),
                self.st.u64_unchecked(bo + B_SLOTS + 8),
                [0, 8, 16, 24].map(|o| self.st.u64_unchecked(bo + B_KEYS + o)),
            )
        };
        let s = seq.load(Ordering::Acquire);
        let (w0, w1) = (s0.load(Ordering::Acquire), s1.load(Ordering::Acquire));
        let m0 = (c[0].load(Ordering::Relaxed) ^ a) | (c[1].load(Ordering::Relaxed) ^ b) == 0;
        let m1 = (c[2].load(Ordering::Relaxed) ^ a) | (c[3].load(Ordering::Relaxed) ^ b) == 0;
        // A copy is the whole key, so the tags need no check; an empty slot's stale copy
        // gives index 0.
        let idx = std::hint::select_unpredictable(m0, w0 as u32, NIL)
            | std::hint::select_unpredictable(m1, w1 as u32, NIL);
        self.fast_result(seq, s, idx)
            .or_else(|| self.find_cold(key, h))
    }

    /// [`find`](Self::find) for 8-byte keys: the bucket's three key copies.
    #[allow(unsafe_code)]
    #[inline(always)]
    fn find8(&self, key: &[u8; 8]) -> Option<u32> {
        let k = u64::from_le_bytes(*key);
        let h = fold_mul(fold_mul(self.seed ^ 8 ^ k, K1), K2);
        let bo = self.bucket(h as u32 & self.mask);
        // SAFETY: as in `find16`; `FastPath::Key8` means three 8-byte copies from `B_KEYS`.
        let (seq, w, c) = unsafe {
            (
                self.st.u32_unchecked(bo),
                [0, 8, 16].map(|o| self.st.u64_unchecked(bo + B_SLOTS + o)),
                [0, 8, 16].map(|o| self.st.u64_unchecked(bo + B_KEYS + o)),
            )
        };
        let s = seq.load(Ordering::Acquire);
        let w = w.map(|w| w.load(Ordering::Acquire));
        let pick = |j: usize| {
            std::hint::select_unpredictable(c[j].load(Ordering::Relaxed) == k, w[j] as u32, NIL)
        };
        let idx = pick(0) | pick(1) | pick(2);
        self.fast_result(seq, s, idx)
            .or_else(|| self.find_cold(key, h))
    }

    /// [`find`](Self::find) for 4-byte keys: the slot tags are the keys.
    #[allow(unsafe_code)]
    #[inline(always)]
    fn find4(&self, key: &[u8; 4]) -> Option<u32> {
        let k = u32::from_le_bytes(*key);
        let h = fold_mul(fold_mul(self.seed ^ 4 ^ u64::from(k), K1), K2);
        let h = (h & 0xffff_ffff) | u64::from(k) << 32;
        let bo = self.bucket(h as u32 & self.mask);
        // SAFETY: as in `find16`: the bucket's first 32 bytes lie in the allocation.
        let (seq, w) = unsafe {
            (
                self.st.u32_unchecked(bo),
                [0, 8, 16].map(|o| self.st.u64_unchecked(bo + B_SLOTS + o)),
            )
        };
        let s = seq.load(Ordering::Acquire);
        let w = w.map(|w| w.load(Ordering::Acquire));
        // An empty slot has index 0 whatever its tag, so it never contributes.
        let pick = |w: u64| std::hint::select_unpredictable((w >> 32) as u32 == k, w as u32, NIL);
        let idx = pick(w[0]) | pick(w[1]) | pick(w[2]);
        self.fast_result(seq, s, idx)
            .or_else(|| self.find_cold(key, h))
    }

    /// The end of a fast path's read section: `idx` if it is an element and no writer held
    /// or took the bucket meanwhile (sequence `s` even and unchanged).
    #[inline(always)]
    fn fast_result(&self, seq: &AtomicU32, s: u32, idx: u32) -> Option<u32> {
        // `idx - 1 < pool` is `idx` in `1..=pool`.
        let ok = (s & 1 == 0) & (idx.wrapping_sub(1) < self.pool);
        (ok && !seq_read_retry(seq, s)).then_some(idx)
    }

    /// The full lookup in a read section, out of line (for the fast paths' unusual cases).
    #[cold]
    #[inline(never)]
    fn find_cold(&self, key: &[u8], h: u64) -> Option<u32> {
        let b = h as u32 & self.mask;
        let seq = self.seq(b);
        loop {
            let s = seq_read_begin(seq);
            let r = self.find_raw(b, h, key);
            if !seq_read_retry(seq, s) {
                return r;
            }
        }
    }

    /// [`find`](Self::find) for any key size: [`find_read`](Self::find_read) in a read
    /// section, with the bounds checks that the layout makes redundant left out.
    #[allow(unsafe_code)]
    #[inline(always)]
    fn find_general(&self, key: &[u8]) -> Option<u32> {
        let h = self.hash(key);
        let b = h as u32 & self.mask;
        let tag = tag_of(h);
        let bo = self.bucket(b);
        // SAFETY: `b <= mask`, so the bucket's 32 bytes lie in `BUCKETS_OFF..elems_off`, which
        // `new` allocated; offsets are 8-aligned as the storage is.
        let (seq, slots) = unsafe {
            (
                self.st.u32_unchecked(bo),
                [0, 1, 2].map(|k| self.st.u64_unchecked(bo + B_SLOTS + 8 * k)),
            )
        };
        let ones = |c: bool| u32::from(c).wrapping_neg();
        // The key as the words its bucket copies hold (keys of 5 to 16 bytes, padded).
        let key_words = if self.bucket_keys == 0 {
            (0, 0)
        } else if let Ok(k) = <[u8; 16]>::try_from(key) {
            split16(k)
        } else {
            let mut w = [0u8; 16];
            let n = key.len().min(16);
            w[..n].copy_from_slice(&key[..n]);
            split16(w)
        };
        loop {
            let s = seq_read_begin(seq);
            let w = [0, 1, 2].map(|k| slots[k].load(Ordering::Acquire));
            let hit = if self.bucket_keys == 0 {
                let pick = |w: u64| w as u32 & ones((w >> 32) as u32 == tag);
                let (i0, i1, i2) = (pick(w[0]), pick(w[1]), pick(w[2]));
                let idx = i0 | (i1 & ones(i0 == NIL));
                let idx = idx | (i2 & ones(idx == NIL));
                // `idx - 1 < pool` is `idx` in `1..=pool`. An exact tag is the key (of the
                // right size: callers check it), so the element need not be read.
                (idx.wrapping_sub(1) < self.pool
                    && (self.exact_tags || self.key_matches_fast(self.elem(idx) + E_KEY, key)))
                .then_some(idx)
            } else {
                // Keys with copies in the bucket: compare them all (one cache line) and keep
                // the slot whose key matches, without branches. A key in a slot without
                // a copy (rare) is found by the full walk.
                let (ka, kb) = key_words;
                let word = |k: usize, j: usize| {
                    // SAFETY: `bucket_keys * key_stride <= 32` bytes of copies from `B_KEYS`
                    // lie in the bucket's 64 bytes (see `new`), 8-aligned.
                    unsafe {
                        self.st
                            .u64_unchecked(bo + B_KEYS + k * self.key_stride + 8 * j)
                    }
                    .load(Ordering::Relaxed)
                };
                let copy = |k: usize| {
                    if self.key_stride == 16 {
                        (word(k, 0) ^ ka) | (word(k, 1) ^ kb) == 0
                    } else {
                        word(k, 0) == ka
                    }
                };
                // A copy is the whole key, so the tags need no check; an empty slot's stale
                // copy gives index 0.
                let pick = |c: bool, w: u64| std::hint::select_unpredictable(c, w as u32, NIL);
                let idx = pick(copy(0), w[0]) | pick(copy(1), w[1]);
                let idx = idx | pick(self.bucket_keys > 2 && copy(2), w[2]);
                (idx.wrapping_sub(1) < self.pool).then_some(idx)
            };
            let r = match hit {
                Some(idx) => Some(idx),
                None => self.find_slow(b, h, key),
            };
            if !seq_read_retry(seq, s) {
                return r;
            }
        }
    }

    /// [`key_matches`](Self::key_matches) for the key stored at `off`, unchecked: `off` is
    /// the key of an element in `1..=pool` or a key copy of a bucket `<= mask`.
    #[allow(unsafe_code)]
    #[inline(always)]
    fn key_matches_fast(&self, off: usize, key: &[u8]) -> bool {
        debug_assert!(off >= BUCKETS_OFF && off + self.key_stride <= self.st.len());
        if key.len() != self.key_size {
            return false;
        }
        // An element in `1..=pool` lies inside the storage (see `new`) and its key area holds
        // `round_up(key_size, 8)` bytes from the 8-aligned `off`; so does a bucket's key copy
        // (`bucket_keys * key_stride` bytes from `B_KEYS` fit in its 64 bytes). The key is
        // `key_size` bytes (checked above). That makes the accesses below in bounds.
        if let Ok(k) = <[u8; 4]>::try_from(key) {
            // SAFETY: as above.
            let w = unsafe { self.st.u64_unchecked(off) }.load(Ordering::Relaxed);
            return w == u64::from(u32::from_le_bytes(k));
        }
        if let Ok(k) = <[u8; 8]>::try_from(key) {
            // SAFETY: as above.
            let w = unsafe { self.st.u64_unchecked(off) }.load(Ordering::Relaxed);
            return w == u64::from_le_bytes(k);
        }
        if let Ok(k) = <[u8; 16]>::try_from(key) {
            let (a, b) = split16(k);
            // SAFETY: as above.
            let (w0, w1) = unsafe { (self.st.u64_unchecked(off), self.st.u64_unchecked(off + 8)) };
            return (w0.load(Ordering::Relaxed) ^ a) | (w1.load(Ordering::Relaxed) ^ b) == 0;
        }
        self.st.key_eq(off, key)
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
        // SAFETY: `find` returns indices in `1..=pool`, and `cpu < ncpus` for per-CPU maps
        // (checked above), so the value lies inside element `idx`, inside the storage.
        #[allow(unsafe_code)]
        Some(unsafe { self.st.ptr_unchecked(self.value_at(idx, cpu)) })
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
        let b = h as u32 & self.mask;
        if locked {
            let _g = seq_lock(self.seq(b));
            let idx = self.find_raw(b, h, key).ok_or(MapError::NotFound)?;
            self.st
                .read_map_value(self.value_at(idx, 0), out, self.fields, true);
            return Ok(());
        }
        let seq = self.seq(b);
        loop {
            let s = seq_read_begin(seq);
            let found = self.find_read(b, h, key);
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
                .read_map_value(self.value_at(idx, 0), out, self.fields, false);
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
            if locked && self.fields.lock.is_none() {
                return Err(MapError::Invalid(
                    "BPF_F_LOCK without a bpf_spin_lock in the value",
                ));
            }
        }
        let op = flags & !BPF_F_LOCK;
        let h = self.hash(key);
        let b = h as u32 & self.mask;
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
                    // The new element takes the old one's place in one store.
                    self.replace(b, o, n, h);
                    self.release(o);
                }
            }
            return Ok(());
        }
        let n = self.alloc_new(b)?;
        self.init_elem(n, key, h, src);
        self.link(b, n, h);
        Ok(())
    }

    /// Writes a value into element `idx` (`fresh`: zero the other CPUs of a per-CPU element).
    fn write_value(&self, idx: u32, src: Src<'_>, fresh: bool, locked: bool) {
        match src {
            Src::All(v) if self.percpu => self.st.write(self.value_at(idx, 0), v),
            Src::All(v) => self
                .st
                .write_map_value(self.value_at(idx, 0), v, self.fields, locked),
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

    fn init_elem(&self, n: u32, key: &[u8], h: u64, src: Src<'_>) {
        let e = self.elem(n);
        self.st.write(e + E_KEY, key);
        self.u32(e + E_HASH).store(h as u32, Ordering::Relaxed);
        self.u32(e + E_REF).store(0, Ordering::Relaxed);
        if !self.fields.is_empty() {
            // A reused element's lock word may hold garbage from a program: start unlocked,
            // with no timer (one a program initialised through a pointer it kept to the
            // element after its deletion goes now).
            self.st.zero(self.value_at(n, 0), self.val_stride);
            self.free_fields(n);
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
        self.free_fields(idx);
        self.u32(self.elem(idx) + E_STATE)
            .store(0, Ordering::Relaxed);
        self.push_free(idx);
    }

    /// `bpf_obj_free_fields`: tell the release hook that element `idx`'s timer goes.
    fn free_fields(&self, idx: u32) {
        if self.fields.timer.is_some()
            && let Some(h) = self.release_hook.get()
        {
            (h.0)(self.st.ptr_at(self.value_at(idx, 0)));
        }
    }

    /// The key of the element whose value (CPU 0's, for per-CPU maps) is at `value`.
    pub(crate) fn key_of_value(&self, value: NonNull<u8>) -> Option<Vec<u8>> {
        let off = self.st.offset_of(value.as_ptr())?;
        let rel = off.checked_sub(self.elems_off + self.value_off)?;
        if rel % self.elem_size != 0 {
            return None;
        }
        let idx = u32::try_from(rel / self.elem_size + 1).ok()?;
        if idx > self.pool {
            return None;
        }
        let mut key = vec![0u8; self.key_size];
        self.st.read(self.elem(idx) + E_KEY, &mut key);
        Some(key)
    }

    /// Adds element `n` (hash `h`) to bucket `b`: the first free slot, else the chain's head.
    fn link(&self, b: u32, n: u32, h: u64) {
        let tagged = u64::from(tag_of(h)) << 32 | u64::from(n);
        for k in 0..NSLOTS {
            let s = self.slot(b, k);
            if s.load(Ordering::Relaxed) as u32 == NIL {
                if k < self.bucket_keys {
                    // The copy is written before the slot is (readers retry meanwhile: the
                    // bucket's sequence is odd). A replacement keeps the key, so only here.
                    let (from, to) = (self.elem(n) + E_KEY, self.bucket(b) + B_KEYS);
                    for i in (0..self.key_stride).step_by(8) {
                        let w = self.st.u64_at(from + i).load(Ordering::Relaxed);
                        self.st
                            .u64_at(to + k * self.key_stride + i)
                            .store(w, Ordering::Relaxed);
                    }
                }
                s.store(tagged, Ordering::Release);
                return;
            }
        }
        let head = self.head(b);
        self.u32(self.elem(n) + E_NEXT)
            .store(head.load(Ordering::Relaxed), Ordering::Relaxed);
        head.store(n, Ordering::Release);
    }

    /// Puts element `new` (same key, hash `h`) where `old` is in bucket `b` (lock held).
    fn replace(&self, b: u32, old: u32, new: u32, h: u64) {
        let tagged = u64::from(tag_of(h)) << 32 | u64::from(new);
        for k in 0..NSLOTS {
            let s = self.slot(b, k);
            if s.load(Ordering::Relaxed) as u32 == old {
                s.store(tagged, Ordering::Release);
                return;
            }
        }
        let next = self.u32(self.elem(old) + E_NEXT).load(Ordering::Relaxed);
        self.u32(self.elem(new) + E_NEXT)
            .store(next, Ordering::Relaxed);
        let mut link = self.head(b);
        for _ in 0..=self.pool {
            let cur = link.load(Ordering::Relaxed);
            if cur == NIL {
                break;
            }
            if cur == old {
                link.store(new, Ordering::Release);
                return;
            }
            link = self.u32(self.elem(cur) + E_NEXT);
        }
        // Not reached while the bucket lock is held; keep the map consistent regardless.
        self.link(b, new, h);
    }

    /// Removes `idx` from bucket `b` (bucket lock held); false if it is not there.
    fn unlink(&self, b: u32, idx: u32) -> bool {
        for k in 0..NSLOTS {
            let s = self.slot(b, k);
            if s.load(Ordering::Relaxed) as u32 == idx {
                s.store(0, Ordering::Release);
                return true;
            }
        }
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
                self.free_fields(i);
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
        let b = h as u32 & self.mask;
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
        let b = h as u32 & self.mask;
        let _g = seq_lock(self.seq(b));
        let idx = self.find_raw(b, h, key).ok_or(MapError::NotFound)?;
        if self.percpu {
            self.st.read(self.value_at(idx, 0), out);
        } else {
            self.st
                .read_map_value(self.value_at(idx, 0), out, self.fields, locked);
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
            let b = h as u32 & self.mask;
            let seq = self.seq(b);
            loop {
                let s = seq_read_begin(seq);
                let mut next = None;
                let mut it = self.members(b);
                if it.any(|idx| self.key_matches(idx, k)) {
                    next = Some(match it.next() {
                        Some(n) => {
                            self.st.read(self.elem(n) + E_KEY, out);
                            true
                        }
                        None => false,
                    });
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
            if self.bucket_empty(b) {
                continue;
            }
            let seq = self.seq(b);
            loop {
                let s = seq_read_begin(seq);
                let first = self.members(b).next();
                if let Some(f) = first {
                    self.st.read(self.elem(f) + E_KEY, out);
                }
                if !seq_read_retry(seq, s) {
                    if first.is_some() {
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
            if self.bucket_empty(b) {
                continue;
            }
            // Snapshot the members first: `f` may change them.
            let seq = self.seq(b);
            loop {
                batch.clear();
                let s = seq_read_begin(seq);
                batch.extend(self.members(b));
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

/// The iterator behind [`HashMap::members`].
struct Members<'a> {
    map: &'a HashMap,
    b: u32,
    slot: usize,
    /// The last chain element returned (`None` before the chain).
    prev: Option<u32>,
    steps: u32,
}

impl Iterator for Members<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let m = self.map;
        while self.slot < NSLOTS {
            let idx = m.slot(self.b, self.slot).load(Ordering::Acquire) as u32;
            self.slot += 1;
            if idx != NIL && idx <= m.pool {
                return Some(idx);
            }
        }
        let idx = match self.prev {
            None => m.head(self.b).load(Ordering::Acquire),
            Some(p) => m.u32(m.elem(p) + E_NEXT).load(Ordering::Relaxed),
        };
        // A torn walk can wander; bound it (the caller's retry check discards the result).
        if idx == NIL || idx > m.pool || self.steps > m.pool {
            return None;
        }
        self.steps += 1;
        self.prev = Some(idx);
        Some(idx)
    }
}

#[cfg(test)]
#[path = "hash_tests.rs"]
mod tests;

/// A hash map's table seen through another process's read-only mapping of its memfd: the
/// map's own lookup code over the shared bytes, consistent through the buckets' sequence
/// locks (a reader retries while a writer holds its bucket; it never writes). Only reads are
/// offered, since a store through a read-only mapping would fault.
#[derive(Debug)]
pub struct SharedHashView {
    map: HashMap,
}

impl HashMap {
    /// The hash seed (a [`SharedHashView`] of this map needs it to find buckets).
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl SharedHashView {
    /// A view of the table made by `spec` (with `ncpus` CPUs and hash `seed`, as the owner's
    /// [`HashMap`] has them) over `st`, the mapping of its memfd. `EINVAL` if the mapping is
    /// smaller than that table.
    pub fn new(spec: &MapSpec, ncpus: u32, seed: u64, st: Storage) -> Result<SharedHashView> {
        // The owner's constructor computes the layout; its own zeroed region (a sparse memfd,
        // never touched) is then swapped for the mapping.
        let mut map = HashMap::new(spec, ncpus)?;
        if st.len() < map.st.len() {
            return Err(MapError::Invalid("mapping smaller than the table"));
        }
        map.st = st;
        map.seed = seed;
        Ok(SharedHashView { map })
    }

    /// `BPF_MAP_LOOKUP_ELEM` without locking: copies `key`'s value (every CPU's for per-CPU
    /// maps) into `out`; `ENOENT` if absent.
    pub fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<()> {
        self.map.lookup(key, out, 0)
    }

    /// Bytes of a value as [`Self::lookup`] returns it.
    pub fn value_size(&self) -> usize {
        self.map.user_value_size()
    }

    /// Elements in the map now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map is empty now.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
