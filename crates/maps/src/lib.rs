//! BPF maps with Linux kernel semantics, for Waggle's user-space runtime.
//!
//! [`Map::create`] checks a [`MapSpec`] as `BPF_MAP_CREATE` does and allocates the map. A map
//! has two faces:
//!
//! - **User space** (the `bpf(2)` commands): [`Map::lookup`], [`Map::update`], [`Map::delete`],
//!   [`Map::get_next_key`], [`Map::lookup_and_delete`], [`Map::freeze`]; values are copied,
//!   per-CPU values come as `round_up(value_size, 8) * ncpus` bytes, and the access rules of
//!   `BPF_F_RDONLY`/`BPF_F_WRONLY` and freezing apply.
//! - **Programs** (the helpers): [`Map::lookup_ptr`] returns the address of the value in the
//!   map's storage, valid while the map lives (programs read and write it in place, as in the
//!   kernel); [`Map::prog_update`], [`Map::prog_delete`], [`Map::prog_push`] and friends honour
//!   `BPF_F_RDONLY_PROG`/`BPF_F_WRONLY_PROG`. Per-CPU maps take the caller's CPU index.
//!
//! Errors are [`MapError`]s carrying the kernel's errno. Array, hash and ring buffer data live
//! in flat [`Storage`] regions with no pointers inside, each in a memfd of its own
//! ([`Map::shared_memory`], [`shm`]) that other processes can map.
//! [`allocated_bytes`] counts the bytes all maps hold.
//!
//! ```
//! use waggle_maps::{Map, MapSpec, MapType, MapError, update::*};
//!
//! let map = Map::create(&MapSpec::new(MapType::Hash, 4, 8, 2)).unwrap();
//! map.update(&1u32.to_ne_bytes(), &7u64.to_ne_bytes(), BPF_NOEXIST).unwrap();
//! let mut v = [0u8; 8];
//! map.lookup(&1u32.to_ne_bytes(), &mut v).unwrap();
//! assert_eq!(u64::from_ne_bytes(v), 7);
//! assert_eq!(map.update(&1u32.to_ne_bytes(), &v, BPF_NOEXIST), Err(MapError::Exists));
//! ```

#![deny(unsafe_code)]

pub mod array;
pub mod bloom;
mod error;
pub mod hash;
pub mod lpm;
pub mod perf;
pub mod queue;
pub mod refs;
#[allow(unsafe_code)]
pub mod ringbuf;
#[allow(unsafe_code)]
pub mod shm;
mod spec;
#[allow(unsafe_code)]
mod storage;

pub use array::ArrayMap;
pub use bloom::BloomFilter;
pub use error::{MapError, Result};
pub use hash::HashMap;
pub use lpm::LpmTrie;
pub use perf::{PerfEventArray, PerfRecord};
pub use queue::QueueStack;
pub use refs::{ObjectRef, RefArray, RefHash, RefResolver};
pub use ringbuf::RingBuf;
pub use spec::{KMALLOC_MAX_SIZE, MapSpec, MapType, PAGE_SIZE, PCPU_MIN_UNIT_SIZE, flags, update};
pub use storage::{
    BPF_TIMER_SIZE, Fields, STORAGE_ALIGN, Storage, allocated_bytes, bpf_spin_lock, bpf_spin_unlock,
};

use flags::*;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use update::BPF_F_LOCK;

static POSSIBLE_CPUS: AtomicU32 = AtomicU32::new(0);

/// Number of possible CPUs per-CPU maps are sized for: the configured count, else
/// `std::thread::available_parallelism()`.
pub fn possible_cpus() -> u32 {
    match POSSIBLE_CPUS.load(Ordering::Relaxed) {
        0 => {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
            // First caller wins, so every map agrees unless configured explicitly.
            match POSSIBLE_CPUS.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => n,
                Err(cur) => cur,
            }
        }
        n => n,
    }
}

/// Sets the possible-CPU count for maps created from now on (existing maps keep theirs).
pub fn set_possible_cpus(n: u32) {
    POSSIBLE_CPUS.store(n.max(1), Ordering::Relaxed);
}

/// Options of [`Map::create_with`].
#[derive(Clone, Default)]
pub struct MapOptions {
    /// CPUs to size per-CPU values for (default: [`possible_cpus`]).
    pub ncpus: Option<u32>,
    /// Resolves the handles user space stores into prog arrays and map-in-map maps.
    pub resolver: Option<Arc<dyn RefResolver>>,
}

impl std::fmt::Debug for MapOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapOptions")
            .field("ncpus", &self.ncpus)
            .field("resolver", &self.resolver.is_some())
            .finish()
    }
}

/// What a map calls when an element's value is released with its special fields (the
/// kernel's `bpf_obj_free_fields`): a hash element deleted, replaced or evicted, an array
/// element overwritten. The argument is the value's address in the map's storage. The hook
/// runs with the element's bucket locked: it must not use the map.
#[derive(Clone)]
pub struct ReleaseHook(pub Arc<dyn Fn(NonNull<u8>) + Send + Sync>);

impl std::fmt::Debug for ReleaseHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReleaseHook")
    }
}

/// The implementation behind a [`Map`], by family; reach it for type-specific operations
/// (ring buffer reserve/consume, perf buffers, tail-call slots).
#[derive(Debug)]
pub enum MapKind {
    /// `ARRAY`, `PERCPU_ARRAY`.
    Array(ArrayMap),
    /// `HASH`, `PERCPU_HASH`, `LRU_HASH`, `LRU_PERCPU_HASH`.
    Hash(HashMap),
    /// `RINGBUF`.
    RingBuf(RingBuf),
    /// `PERF_EVENT_ARRAY`.
    PerfEventArray(PerfEventArray),
    /// `QUEUE`, `STACK`.
    QueueStack(QueueStack),
    /// `LPM_TRIE`.
    LpmTrie(LpmTrie),
    /// `BLOOM_FILTER`.
    Bloom(BloomFilter),
    /// `PROG_ARRAY`, `ARRAY_OF_MAPS`.
    RefArray(RefArray),
    /// `HASH_OF_MAPS`.
    RefHash(RefHash),
}

/// A BPF map. `Send + Sync`: share it (e.g. in an `Arc`) between programs and user space.
pub struct Map {
    spec: MapSpec,
    ncpus: u32,
    frozen: AtomicBool,
    resolver: Option<Arc<dyn RefResolver>>,
    kind: MapKind,
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map")
            .field("spec", &self.spec)
            .field("ncpus", &self.ncpus)
            .field("frozen", &self.is_frozen())
            .field("kind", &self.kind)
            .finish()
    }
}

const NOT_READABLE: MapError = MapError::PermissionDenied("map is write-only for user space");
const NOT_WRITABLE: MapError = MapError::PermissionDenied("map is read-only or frozen");
const PROG_NOT_WRITABLE: MapError = MapError::PermissionDenied("map is read-only for programs");

impl Map {
    /// Creates a map, with the kernel's checks and errors (`EINVAL`, `E2BIG`, `ENOMEM`, ...).
    pub fn create(spec: &MapSpec) -> Result<Map> {
        Map::create_with(spec, &MapOptions::default())
    }

    /// Creates a map with explicit options.
    pub fn create_with(spec: &MapSpec, opts: &MapOptions) -> Result<Map> {
        spec.validate()?;
        let mut spec = spec.clone();
        if matches!(spec.map_type, MapType::Devmap | MapType::DevmapHash) {
            // dev_map_init_map(): programs only read device maps.
            spec.flags |= flags::BPF_F_RDONLY_PROG;
        }
        let spec = &spec;
        let ncpus = opts.ncpus.unwrap_or_else(possible_cpus).max(1);
        let kind = match spec.map_type {
            MapType::Array | MapType::PercpuArray => MapKind::Array(ArrayMap::new(spec, ncpus)?),
            MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
                MapKind::Hash(HashMap::new(spec, ncpus)?)
            }
            // A device map holds `struct bpf_devmap_val`s (ifindex, program): in user space,
            // an array or a hash of them; a cgroup array holds the cgroup handles it was given.
            MapType::Devmap | MapType::CgroupArray => MapKind::Array(ArrayMap::new(spec, ncpus)?),
            MapType::DevmapHash => MapKind::Hash(HashMap::new(spec, ncpus)?),
            // Stack ids to stacks; a user-space runtime records no kernel stacks, so it stays
            // as user space fills it (bpf_get_stackid has nothing to store).
            MapType::StackTrace => MapKind::Hash(HashMap::new(spec, ncpus)?),
            MapType::Ringbuf => MapKind::RingBuf(RingBuf::new(spec)?),
            MapType::PerfEventArray => MapKind::PerfEventArray(PerfEventArray::new(spec)?),
            MapType::Queue | MapType::Stack => MapKind::QueueStack(QueueStack::new(spec)?),
            MapType::LpmTrie => MapKind::LpmTrie(LpmTrie::new(spec)),
            MapType::BloomFilter => MapKind::Bloom(BloomFilter::new(spec)?),
            MapType::ProgArray | MapType::ArrayOfMaps => MapKind::RefArray(RefArray::new(spec)?),
            MapType::HashOfMaps => MapKind::RefHash(RefHash::new(spec)),
            _ => return Err(MapError::NotSupported),
        };
        Ok(Map {
            spec: spec.clone(),
            ncpus,
            frozen: AtomicBool::new(false),
            resolver: opts.resolver.clone(),
            kind,
        })
    }

    /// Install the hook called when an element holding a `bpf_timer` is released (see
    /// [`ReleaseHook`]); only arrays and hash maps with a timer in their values call it.
    /// Returns false if a hook was already installed or the map cannot hold timers.
    pub fn set_release_hook(&self, hook: ReleaseHook) -> bool {
        if self.spec.timer_off.is_none() {
            return false;
        }
        match &self.kind {
            MapKind::Array(m) => m.release_hook.set(hook).is_ok(),
            MapKind::Hash(m) => m.release_hook.set(hook).is_ok(),
            _ => false,
        }
    }

    /// The key of the element whose value is at `value` (as [`Map::lookup_ptr`] returned it),
    /// for arrays and hash maps: what a timer callback gets as its key.
    pub fn key_of_value(&self, value: NonNull<u8>) -> Option<Vec<u8>> {
        match &self.kind {
            MapKind::Array(m) => m.key_of_value(value),
            MapKind::Hash(m) => m.key_of_value(value),
            _ => None,
        }
    }

    /// The attributes the map was created with.
    pub fn spec(&self) -> &MapSpec {
        &self.spec
    }

    /// The map type.
    pub fn map_type(&self) -> MapType {
        self.spec.map_type
    }

    /// The implementation, for type-specific operations.
    pub fn kind(&self) -> &MapKind {
        &self.kind
    }

    /// The ring buffer, if this is one.
    pub fn as_ringbuf(&self) -> Option<&RingBuf> {
        match &self.kind {
            MapKind::RingBuf(r) => Some(r),
            _ => None,
        }
    }

    /// The perf event array, if this is one.
    pub fn as_perf_event_array(&self) -> Option<&PerfEventArray> {
        match &self.kind {
            MapKind::PerfEventArray(p) => Some(p),
            _ => None,
        }
    }

    /// The memfd holding this map's storage, for maps kept in shared memory (array, per-CPU
    /// array, the hash maps, ring buffer), and the length to map. See [`array`] and
    /// [`ringbuf`] for the layouts another process can read without asking.
    pub fn shared_memory(&self) -> Option<(std::os::fd::BorrowedFd<'_>, usize)> {
        let st = match &self.kind {
            MapKind::Array(m) => m.storage(),
            MapKind::Hash(m) => m.storage(),
            MapKind::RingBuf(m) => m.storage(),
            _ => return None,
        };
        st.shared_fd().map(|fd| (fd, st.len()))
    }

    /// The CPUs per-CPU values are sized for.
    pub fn ncpus(&self) -> u32 {
        self.ncpus
    }

    /// Bytes of a value as user space passes it (per-CPU: `round_up(value_size, 8) * ncpus`).
    pub fn user_value_size(&self) -> usize {
        if self.spec.map_type.is_percpu() {
            self.spec.value_size_aligned() * self.ncpus as usize
        } else {
            self.spec.value_size as usize
        }
    }

    /// Bytes allocated for this map (its storage and bookkeeping).
    pub fn memory_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.kind {
                MapKind::Array(m) => m.memory_usage(),
                MapKind::Hash(m) => m.memory_usage(),
                MapKind::RingBuf(m) => m.memory_usage(),
                MapKind::PerfEventArray(m) => m.memory_usage(),
                MapKind::QueueStack(m) => m.memory_usage(),
                MapKind::LpmTrie(m) => m.memory_usage(),
                MapKind::Bloom(m) => m.memory_usage(),
                MapKind::RefArray(m) => m.memory_usage(),
                MapKind::RefHash(m) => m.memory_usage(),
            }
    }

    fn can_read(&self) -> Result<()> {
        if self.spec.flags & BPF_F_WRONLY != 0 {
            return Err(NOT_READABLE);
        }
        Ok(())
    }

    /// User-space write permission: `map_get_sys_perms` drops write access once frozen.
    fn can_write(&self) -> Result<()> {
        if self.spec.flags & BPF_F_RDONLY != 0 || self.is_frozen() {
            return Err(NOT_WRITABLE);
        }
        Ok(())
    }

    fn check_lock_flag(&self, flags: u64) -> Result<()> {
        if flags & !BPF_F_LOCK != 0 {
            return Err(MapError::Invalid("unknown flags"));
        }
        if flags & BPF_F_LOCK != 0 && self.spec.spin_lock_off.is_none() {
            return Err(MapError::Invalid(
                "BPF_F_LOCK without a bpf_spin_lock in the value",
            ));
        }
        Ok(())
    }

    // ---- user space (bpf(2) commands) ----

    /// `BPF_MAP_LOOKUP_ELEM` without flags: copies the value for `key` into `out`.
    pub fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<()> {
        self.lookup_with_flags(key, out, 0)
    }

    /// `BPF_MAP_LOOKUP_ELEM`: `flags` may be `BPF_F_LOCK`. Queues, stacks and bloom filters
    /// peek (their key is empty); object-reference maps return the object's id.
    pub fn lookup_with_flags(&self, key: &[u8], out: &mut [u8], flags: u64) -> Result<()> {
        self.can_read()?;
        self.check_lock_flag(flags)?;
        match &self.kind {
            MapKind::Array(m) => m.lookup(key, out, flags),
            MapKind::Hash(m) => m.lookup(key, out, flags),
            MapKind::QueueStack(m) => m.get_value(out, false),
            MapKind::Bloom(m) => m.peek(out),
            MapKind::LpmTrie(m) => m.lookup(key, out),
            MapKind::RefArray(m) => write_id(out, m.lookup_id(key)?),
            MapKind::RefHash(m) => write_id(out, m.lookup_id(key)?),
            MapKind::RingBuf(_) | MapKind::PerfEventArray(_) => Err(MapError::NotSupported),
        }
    }

    /// `BPF_MAP_UPDATE_ELEM` with `BPF_ANY`/`BPF_NOEXIST`/`BPF_EXIST` (+ `BPF_F_LOCK`).
    /// Queues, stacks and bloom filters push `value`; object-reference maps resolve the 4-byte
    /// handle through the [`RefResolver`] given at creation (`EBADF` without one); perf event
    /// arrays open a buffer for CPU `key`.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        self.can_write()?;
        if flags & BPF_F_LOCK != 0 && self.spec.spin_lock_off.is_none() {
            return Err(MapError::Invalid(
                "BPF_F_LOCK without a bpf_spin_lock in the value",
            ));
        }
        match &self.kind {
            MapKind::Array(m) => m.update(key, value, flags),
            MapKind::Hash(m) => m.update(key, value, flags),
            MapKind::QueueStack(m) => m.push(value, flags),
            MapKind::Bloom(m) => m.push(value, flags),
            MapKind::LpmTrie(m) => m.update(key, value, flags),
            MapKind::RefArray(_) | MapKind::RefHash(_) => {
                let handle = refs::ref_handle(value)?;
                let obj = self
                    .resolver
                    .as_ref()
                    .ok_or(MapError::BadHandle)?
                    .resolve(&self.spec, handle)?;
                self.store_ref(key, obj, flags)
            }
            MapKind::PerfEventArray(m) => {
                if flags != update::BPF_ANY {
                    return Err(MapError::Invalid("fd array updates take BPF_ANY"));
                }
                refs::ref_handle(value)?;
                let idx = array::array_index(key)?;
                m.open(idx, idx, perf::DEFAULT_PERF_BUFFER_BYTES)
            }
            MapKind::RingBuf(_) => Err(MapError::NotSupported),
        }
    }

    /// Stores an already resolved object reference (the runtime's path for prog arrays and
    /// map-in-map maps), with the user-space permission checks of an update.
    pub fn update_ref(&self, key: &[u8], obj: ObjectRef, flags: u64) -> Result<()> {
        self.can_write()?;
        self.store_ref(key, obj, flags)
    }

    fn store_ref(&self, key: &[u8], obj: ObjectRef, flags: u64) -> Result<()> {
        match &self.kind {
            MapKind::RefArray(m) => m.set(key, obj, flags),
            MapKind::RefHash(m) => m.set(key, obj, flags),
            _ => Err(MapError::Invalid("not an object-reference map")),
        }
    }

    /// `BPF_MAP_DELETE_ELEM`.
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        self.can_write()?;
        self.delete_impl(key)
    }

    fn delete_impl(&self, key: &[u8]) -> Result<()> {
        match &self.kind {
            MapKind::Array(_) | MapKind::QueueStack(_) => {
                Err(MapError::Invalid("elements of this map cannot be deleted"))
            }
            MapKind::Hash(m) => m.delete(key),
            MapKind::LpmTrie(m) => m.delete(key),
            MapKind::Bloom(_) => Err(MapError::OpNotSupported),
            MapKind::RefArray(m) => m.delete(key),
            MapKind::RefHash(m) => m.delete(key),
            MapKind::PerfEventArray(m) => m.close(array::array_index(key)?),
            MapKind::RingBuf(_) => Err(MapError::NotSupported),
        }
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key` in the map's order (`None`, or a key not in
    /// a hash map, gives the first key); `ENOENT` after the last.
    pub fn get_next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<()> {
        self.can_read()?;
        match &self.kind {
            MapKind::Array(m) => m.get_next_key(key, out),
            MapKind::Hash(m) => m.get_next_key(key, out),
            MapKind::LpmTrie(m) => m.get_next_key(key, out),
            MapKind::RefArray(m) => m.get_next_key(key, out),
            MapKind::RefHash(m) => m.get_next_key(key, out),
            MapKind::PerfEventArray(_) => array::array_next_key(self.spec.max_entries, key, out),
            MapKind::QueueStack(_) => Err(MapError::Invalid("queues and stacks have no keys")),
            MapKind::Bloom(_) => Err(MapError::OpNotSupported),
            MapKind::RingBuf(_) => Err(MapError::NotSupported),
        }
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: hash maps (with `BPF_F_LOCK` allowed) and queues and
    /// stacks (pop, no flags); `ENOTSUPP` elsewhere.
    pub fn lookup_and_delete(&self, key: &[u8], out: &mut [u8], flags: u64) -> Result<()> {
        if flags != 0 && matches!(self.kind, MapKind::QueueStack(_)) {
            return Err(MapError::Invalid("queue/stack pop takes no flags"));
        }
        self.check_lock_flag(flags)?;
        self.can_read()?;
        self.can_write()?;
        match &self.kind {
            MapKind::Hash(m) => m.lookup_and_delete(key, out, flags),
            MapKind::QueueStack(m) => m.get_value(out, true),
            _ => Err(MapError::NotSupported),
        }
    }

    /// `BPF_MAP_FREEZE`: user space may no longer write (`EPERM` afterwards); programs still
    /// may unless `BPF_F_RDONLY_PROG`. `EBUSY` if already frozen, `EPERM` for a read-only
    /// map, `ENOTSUPP` for values with a spin lock or a timer.
    pub fn freeze(&self) -> Result<()> {
        if !self.spec.fields().is_empty() {
            return Err(MapError::NotSupported);
        }
        if self.spec.flags & BPF_F_RDONLY != 0 {
            return Err(NOT_WRITABLE);
        }
        self.frozen
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|_| MapError::Busy)
    }

    /// Whether the map was frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    /// User-space push (`BPF_MAP_UPDATE_ELEM` with no key) for queues, stacks, bloom filters.
    pub fn push(&self, value: &[u8], flags: u64) -> Result<()> {
        self.update(&[], value, flags)
    }

    /// User-space pop (`BPF_MAP_LOOKUP_AND_DELETE_ELEM` with no key) for queues and stacks.
    pub fn pop(&self, out: &mut [u8]) -> Result<()> {
        self.lookup_and_delete(&[], out, 0)
    }

    /// User-space peek (`BPF_MAP_LOOKUP_ELEM` with no key) for queues, stacks, bloom filters.
    pub fn peek(&self, out: &mut [u8]) -> Result<()> {
        self.lookup(&[], out)
    }

    /// Releases every object reference held by a prog array or map-in-map map (what the
    /// kernel does when the last user reference to a prog array goes away).
    pub fn clear_refs(&self) {
        match &self.kind {
            MapKind::RefArray(m) => m.clear(),
            MapKind::RefHash(m) => m.clear(),
            _ => {}
        }
    }

    // ---- programs (helpers) ----

    /// `bpf_map_lookup_elem` from a program on CPU `cpu`: the address of the value (this
    /// CPU's copy for per-CPU maps), valid while the map lives. `None` if absent or if the map
    /// type has no addressable values (queues, ring buffers, object-reference maps). Given even
    /// for `BPF_F_WRONLY_PROG` maps, whose values programs may write but (by the verifier's
    /// rules) not read; a hash element's address stays valid after the element is deleted, and
    /// may then be reused by a later insert, as with the kernel's preallocated maps.
    #[inline]
    pub fn lookup_ptr(&self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        match &self.kind {
            MapKind::Array(m) => m.lookup_ptr(key, cpu),
            MapKind::Hash(m) => m.lookup_ptr(key, cpu),
            MapKind::LpmTrie(m) => m.lookup_ptr(key),
            _ => None,
        }
    }

    /// `bpf_map_lookup_percpu_elem`: CPU `cpu`'s copy in a per-CPU map.
    pub fn lookup_percpu_ptr(&self, key: &[u8], cpu: u32) -> Option<NonNull<u8>> {
        match &self.kind {
            MapKind::Array(m) => m.lookup_percpu_ptr(key, cpu),
            MapKind::Hash(m) => m.lookup_percpu_ptr(key, cpu),
            _ => None,
        }
    }

    /// The object a program reaches through a prog array (tail call) or map-in-map slot.
    #[inline]
    pub fn lookup_ref(&self, key: &[u8]) -> Option<ObjectRef> {
        match &self.kind {
            MapKind::RefArray(m) => m.get(key),
            MapKind::RefHash(m) => m.get(key),
            _ => None,
        }
    }

    fn prog_can_write(&self) -> Result<()> {
        if self.spec.flags & BPF_F_RDONLY_PROG != 0 {
            return Err(PROG_NOT_WRITABLE);
        }
        Ok(())
    }

    /// `bpf_map_update_elem` from a program on CPU `cpu` (`value` is `value_size` bytes; a
    /// per-CPU map updates this CPU's copy). Ignores freezing, honours `BPF_F_RDONLY_PROG`.
    pub fn prog_update(&self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> Result<()> {
        self.prog_can_write()?;
        match &self.kind {
            MapKind::Array(m) => m.prog_update(key, value, flags, cpu),
            MapKind::Hash(m) => m.prog_update(key, value, flags, cpu),
            MapKind::LpmTrie(m) => m.update(key, value, flags),
            MapKind::QueueStack(_) | MapKind::Bloom(_) => {
                Err(MapError::Invalid("use bpf_map_push_elem"))
            }
            _ => Err(MapError::NotSupported),
        }
    }

    /// `bpf_map_delete_elem` from a program.
    pub fn prog_delete(&self, key: &[u8]) -> Result<()> {
        self.prog_can_write()?;
        match &self.kind {
            MapKind::Hash(_) | MapKind::LpmTrie(_) | MapKind::Array(_) | MapKind::Bloom(_) => {
                self.delete_impl(key)
            }
            MapKind::QueueStack(_) => Err(MapError::Invalid("use bpf_map_pop_elem")),
            _ => Err(MapError::NotSupported),
        }
    }

    /// `bpf_map_push_elem` (queue, stack, bloom filter).
    pub fn prog_push(&self, value: &[u8], flags: u64) -> Result<()> {
        self.prog_can_write()?;
        match &self.kind {
            MapKind::QueueStack(m) => m.push(value, flags),
            MapKind::Bloom(m) => m.push(value, flags),
            _ => Err(MapError::NotSupported),
        }
    }

    fn prog_can_read(&self) -> Result<()> {
        if self.spec.flags & BPF_F_WRONLY_PROG != 0 {
            return Err(MapError::PermissionDenied("map is write-only for programs"));
        }
        Ok(())
    }

    /// `bpf_map_pop_elem` (queue, stack).
    pub fn prog_pop(&self, out: &mut [u8]) -> Result<()> {
        self.prog_can_read()?;
        self.prog_can_write()?;
        match &self.kind {
            MapKind::QueueStack(m) => m.get_value(out, true),
            MapKind::Bloom(_) => Err(MapError::OpNotSupported),
            _ => Err(MapError::NotSupported),
        }
    }

    /// `bpf_map_peek_elem` (queue, stack: copies the next value; bloom filter: `value` is the
    /// candidate, `ENOENT` if certainly absent).
    pub fn prog_peek(&self, value: &mut [u8]) -> Result<()> {
        self.prog_can_read()?;
        match &self.kind {
            MapKind::QueueStack(m) => m.get_value(value, false),
            MapKind::Bloom(m) => m.peek(value),
            _ => Err(MapError::NotSupported),
        }
    }

    /// `bpf_for_each_map_elem` from a program on CPU `cpu`: calls `f(key, value address)`
    /// for each element until it returns `true`; returns the number of calls. Arrays and hash
    /// maps only (as in the kernel), else `EINVAL`.
    pub fn for_each(&self, cpu: u32, mut f: impl FnMut(&[u8], NonNull<u8>) -> bool) -> Result<u32> {
        match &self.kind {
            MapKind::Array(m) => {
                let mut n = 0;
                for i in 0..self.spec.max_entries {
                    let key = i.to_ne_bytes();
                    let Some(p) = m.lookup_ptr(&key, cpu) else {
                        break;
                    };
                    n += 1;
                    if f(&key, p) {
                        break;
                    }
                }
                Ok(n)
            }
            MapKind::Hash(m) => Ok(m.for_each(cpu, f)),
            _ => Err(MapError::Invalid("bpf_for_each_map_elem on this map type")),
        }
    }
}

fn write_id(out: &mut [u8], id: u32) -> Result<()> {
    let out: &mut [u8; 4] = out
        .try_into()
        .map_err(|_| MapError::Invalid("object-reference values are 4 bytes"))?;
    *out = id.to_ne_bytes();
    Ok(())
}
