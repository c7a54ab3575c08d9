//! Map types, flags and the creation-time checks of `BPF_MAP_CREATE`.
//!
//! The numbers are those of `include/uapi/linux/bpf.h`; [`MapSpec::validate`] applies the
//! `map_alloc_check`/`map_alloc` rules of each map type in the kernel's order, so the same bad
//! attributes give the same errno.

use crate::error::{MapError, Result};

/// `BPF_MAP_TYPE_*`, with the kernel's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
#[allow(missing_docs)] // The names are the kernel's; each variant is `BPF_MAP_TYPE_<NAME>`.
pub enum MapType {
    Unspec = 0,
    Hash = 1,
    Array = 2,
    ProgArray = 3,
    PerfEventArray = 4,
    PercpuHash = 5,
    PercpuArray = 6,
    StackTrace = 7,
    CgroupArray = 8,
    LruHash = 9,
    LruPercpuHash = 10,
    LpmTrie = 11,
    ArrayOfMaps = 12,
    HashOfMaps = 13,
    Devmap = 14,
    Sockmap = 15,
    Cpumap = 16,
    Xskmap = 17,
    Sockhash = 18,
    CgroupStorage = 19,
    ReuseportSockarray = 20,
    PercpuCgroupStorage = 21,
    Queue = 22,
    Stack = 23,
    SkStorage = 24,
    DevmapHash = 25,
    StructOps = 26,
    Ringbuf = 27,
    InodeStorage = 28,
    TaskStorage = 29,
    BloomFilter = 30,
    UserRingbuf = 31,
    CgrpStorage = 32,
    Arena = 33,
}

impl MapType {
    const ALL: [MapType; 34] = [
        MapType::Unspec,
        MapType::Hash,
        MapType::Array,
        MapType::ProgArray,
        MapType::PerfEventArray,
        MapType::PercpuHash,
        MapType::PercpuArray,
        MapType::StackTrace,
        MapType::CgroupArray,
        MapType::LruHash,
        MapType::LruPercpuHash,
        MapType::LpmTrie,
        MapType::ArrayOfMaps,
        MapType::HashOfMaps,
        MapType::Devmap,
        MapType::Sockmap,
        MapType::Cpumap,
        MapType::Xskmap,
        MapType::Sockhash,
        MapType::CgroupStorage,
        MapType::ReuseportSockarray,
        MapType::PercpuCgroupStorage,
        MapType::Queue,
        MapType::Stack,
        MapType::SkStorage,
        MapType::DevmapHash,
        MapType::StructOps,
        MapType::Ringbuf,
        MapType::InodeStorage,
        MapType::TaskStorage,
        MapType::BloomFilter,
        MapType::UserRingbuf,
        MapType::CgrpStorage,
        MapType::Arena,
    ];

    /// The map type with kernel number `raw`, if there is one.
    pub fn from_u32(raw: u32) -> Option<MapType> {
        Self::ALL.get(raw as usize).copied()
    }

    /// The kernel number of this map type.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// The kernel's name without prefix, lower case (`"percpu_hash"`), as bpftool prints it.
    pub fn name(self) -> &'static str {
        match self {
            MapType::Unspec => "unspec",
            MapType::Hash => "hash",
            MapType::Array => "array",
            MapType::ProgArray => "prog_array",
            MapType::PerfEventArray => "perf_event_array",
            MapType::PercpuHash => "percpu_hash",
            MapType::PercpuArray => "percpu_array",
            MapType::StackTrace => "stack_trace",
            MapType::CgroupArray => "cgroup_array",
            MapType::LruHash => "lru_hash",
            MapType::LruPercpuHash => "lru_percpu_hash",
            MapType::LpmTrie => "lpm_trie",
            MapType::ArrayOfMaps => "array_of_maps",
            MapType::HashOfMaps => "hash_of_maps",
            MapType::Devmap => "devmap",
            MapType::Sockmap => "sockmap",
            MapType::Cpumap => "cpumap",
            MapType::Xskmap => "xskmap",
            MapType::Sockhash => "sockhash",
            MapType::CgroupStorage => "cgroup_storage",
            MapType::ReuseportSockarray => "reuseport_sockarray",
            MapType::PercpuCgroupStorage => "percpu_cgroup_storage",
            MapType::Queue => "queue",
            MapType::Stack => "stack",
            MapType::SkStorage => "sk_storage",
            MapType::DevmapHash => "devmap_hash",
            MapType::StructOps => "struct_ops",
            MapType::Ringbuf => "ringbuf",
            MapType::InodeStorage => "inode_storage",
            MapType::TaskStorage => "task_storage",
            MapType::BloomFilter => "bloom_filter",
            MapType::UserRingbuf => "user_ringbuf",
            MapType::CgrpStorage => "cgrp_storage",
            MapType::Arena => "arena",
        }
    }

    /// Whether user space sees one value per possible CPU.
    pub fn is_percpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash
        )
    }

    /// Whether this is one of the four hash-table types.
    pub fn is_hash(self) -> bool {
        matches!(
            self,
            MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash
        )
    }

    /// Whether this crate implements the type (the rest are refused with `ENOTSUPP`).
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            MapType::Hash
                | MapType::Array
                | MapType::ProgArray
                | MapType::PerfEventArray
                | MapType::PercpuHash
                | MapType::PercpuArray
                | MapType::LruHash
                | MapType::LruPercpuHash
                | MapType::LpmTrie
                | MapType::ArrayOfMaps
                | MapType::HashOfMaps
                | MapType::Queue
                | MapType::Stack
                | MapType::Ringbuf
                | MapType::BloomFilter
        )
    }
}

/// `map_flags` bits of `BPF_MAP_CREATE` (`BPF_F_*`).
pub mod flags {
    /// Do not preallocate elements (hash: accepted, storage is still preallocated; LPM: required).
    pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
    /// One LRU list per CPU instead of a common one (accepted, one common LRU is used).
    pub const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;
    /// `numa_node` is valid (accepted, ignored).
    pub const BPF_F_NUMA_NODE: u32 = 1 << 2;
    /// The creating handle may only read (user space side).
    pub const BPF_F_RDONLY: u32 = 1 << 3;
    /// The creating handle may only write (user space side).
    pub const BPF_F_WRONLY: u32 = 1 << 4;
    /// Stack trace maps store build ids.
    pub const BPF_F_STACK_BUILD_ID: u32 = 1 << 5;
    /// Use a zero hash seed (deterministic bucket order, for tests).
    pub const BPF_F_ZERO_SEED: u32 = 1 << 6;
    /// Programs may only read the map.
    pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
    /// Programs may only write the map.
    pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;
    /// Clone map from listener for newly accepted socket.
    pub const BPF_F_CLONE: u32 = 1 << 9;
    /// The array may be mapped into user space.
    pub const BPF_F_MMAPABLE: u32 = 1 << 10;
    /// Perf event array elements survive the closing of the map's handle.
    pub const BPF_F_PRESERVE_ELEMS: u32 = 1 << 11;
    /// Inner array map whose max_entries may differ between instances.
    pub const BPF_F_INNER_MAP: u32 = 1 << 12;
    /// The user-space-side access bits.
    pub const BPF_F_ACCESS_MASK: u32 =
        BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG;
}

/// Per-element flags of update, lookup and push (`BPF_ANY`, ...).
pub mod update {
    /// Create a new element or update an existing one.
    pub const BPF_ANY: u64 = 0;
    /// Create a new element only if it did not exist.
    pub const BPF_NOEXIST: u64 = 1;
    /// Update an existing element only (queue/stack push: overwrite the oldest when full).
    pub const BPF_EXIST: u64 = 2;
    /// Copy the value under the value's `bpf_spin_lock`.
    pub const BPF_F_LOCK: u64 = 4;
}

use flags::*;

/// Largest kmalloc allocation with 4 KiB pages (`KMALLOC_MAX_SIZE`, 4 MiB).
pub const KMALLOC_MAX_SIZE: u64 = 4 << 20;
/// Largest per-CPU value (`PCPU_MIN_UNIT_SIZE`).
pub const PCPU_MIN_UNIT_SIZE: u64 = 32 << 10;
/// `sizeof(struct htab_elem)` on 64-bit kernels, used by the hash size limit.
const HTAB_ELEM_SIZE: u64 = 48;
/// Page size used for ring buffer rules.
pub const PAGE_SIZE: u32 = 4096;
/// Smallest and largest `data` part of an LPM trie key (`LPM_DATA_SIZE_MIN/MAX`).
pub const LPM_DATA_SIZE_MIN: u32 = 1;
/// See [`LPM_DATA_SIZE_MIN`].
pub const LPM_DATA_SIZE_MAX: u32 = 256;

const ARRAY_CREATE_FLAG_MASK: u32 =
    BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;
const HTAB_CREATE_FLAG_MASK: u32 =
    BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED;
const QUEUE_STACK_CREATE_FLAG_MASK: u32 = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK;
const LPM_CREATE_FLAG_MASK: u32 = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK;
const BLOOM_CREATE_FLAG_MASK: u32 = BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | BPF_F_ACCESS_MASK;
const RINGBUF_CREATE_FLAG_MASK: u32 = BPF_F_NUMA_NODE;

/// The attributes of `BPF_MAP_CREATE` that shape a map.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MapSpec {
    /// The map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (as programs see it; per-CPU maps show user space more).
    pub value_size: u32,
    /// Capacity: elements, or bytes of data area for a ring buffer.
    pub max_entries: u32,
    /// `BPF_F_*` creation flags.
    pub flags: u32,
    /// `map_extra`: the number of hash functions of a bloom filter (0 means 5); 0 elsewhere.
    pub map_extra: u64,
    /// Offset of a `struct bpf_spin_lock` in the value, from BTF; enables `BPF_F_LOCK`.
    pub spin_lock_off: Option<u32>,
    /// Offset of a `struct bpf_timer` in the value, from BTF; enables the `bpf_timer_*`
    /// helpers on the map's values.
    pub timer_off: Option<u32>,
}

impl MapSpec {
    /// A spec with no flags, no `map_extra` and no spin lock.
    pub fn new(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapSpec {
        MapSpec {
            map_type,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            map_extra: 0,
            spin_lock_off: None,
            timer_off: None,
        }
    }

    /// This spec with `flags` as its creation flags.
    pub fn with_flags(mut self, flags: u32) -> MapSpec {
        self.flags = flags;
        self
    }

    /// This spec with `map_extra` set.
    pub fn with_map_extra(mut self, map_extra: u64) -> MapSpec {
        self.map_extra = map_extra;
        self
    }

    /// This spec as libbpf creates it from an object's definition: a perf event array declared
    /// without max_entries gets one entry per possible CPU (libbpf-tools declare theirs so).
    pub fn with_libbpf_defaults(mut self) -> MapSpec {
        if self.map_type == MapType::PerfEventArray && self.max_entries == 0 {
            self.max_entries = crate::possible_cpus();
        }
        self
    }

    /// This spec with a `bpf_spin_lock` at `off` in the value.
    pub fn with_spin_lock(mut self, off: u32) -> MapSpec {
        self.spin_lock_off = Some(off);
        self
    }

    /// This spec with a `bpf_timer` at `off` in the value.
    pub fn with_timer(mut self, off: u32) -> MapSpec {
        self.timer_off = Some(off);
        self
    }

    /// The value's special fields (lock and timer).
    pub fn fields(&self) -> crate::storage::Fields {
        crate::storage::Fields {
            lock: self.spin_lock_off,
            timer: self.timer_off,
        }
    }

    /// The value size rounded up to 8, the stride of per-CPU values and array elements.
    pub fn value_size_aligned(&self) -> usize {
        round_up8(self.value_size as usize)
    }

    /// Checks the spec as `BPF_MAP_CREATE` does, in the kernel's order of checks.
    pub fn validate(&self) -> Result<()> {
        let f = self.flags;
        // syscall.c map_create(): RDONLY together with WRONLY makes no file mode.
        if f & BPF_F_RDONLY != 0 && f & BPF_F_WRONLY != 0 {
            return Err(MapError::Invalid("BPF_F_RDONLY and BPF_F_WRONLY together"));
        }
        if self.map_extra != 0 && self.map_type != MapType::BloomFilter {
            return Err(MapError::Invalid("map_extra is only for bloom filters"));
        }
        let by_type = match self.map_type {
            MapType::Array | MapType::PercpuArray => self.check_array(),
            MapType::ProgArray | MapType::ArrayOfMaps | MapType::PerfEventArray => {
                self.check_fd_array()
            }
            MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
                self.check_hash()
            }
            MapType::HashOfMaps => {
                if self.value_size != 4 {
                    return Err(MapError::Invalid("map-in-map values are 4-byte handles"));
                }
                self.check_hash()
            }
            MapType::Queue | MapType::Stack => self.check_queue_stack(),
            MapType::LpmTrie => self.check_lpm(),
            MapType::BloomFilter => self.check_bloom(),
            MapType::Ringbuf => self.check_ringbuf(),
            MapType::Devmap | MapType::DevmapHash => self.check_devmap(),
            MapType::StackTrace => self.check_stack_trace(),
            MapType::CgroupArray => self.check_fd_array(),
            MapType::Unspec => Err(MapError::Invalid("map type 0 (unspec)")),
            _ => Err(MapError::NotSupported),
        };
        by_type?;
        // map_check_btf() runs after allocation: the spin lock rules come last.
        if let Some(off) = self.spin_lock_off {
            if off % 4 != 0 || u64::from(off) + 4 > u64::from(self.value_size) {
                return Err(MapError::Invalid(
                    "bpf_spin_lock outside the value or misaligned",
                ));
            }
            if !matches!(self.map_type, MapType::Hash | MapType::Array) {
                return Err(MapError::OpNotSupported);
            }
        }
        // btf_parse_fields(): a timer is 8-aligned, inside the value, apart from the lock;
        // map_check_btf() allows it in hash, LRU hash and array values only.
        if let Some(off) = self.timer_off {
            let end = u64::from(off) + u64::from(crate::storage::BPF_TIMER_SIZE);
            let overlaps = self
                .spin_lock_off
                .is_some_and(|l| u64::from(l) + 4 > u64::from(off) && u64::from(l) < end);
            if off % 8 != 0 || end > u64::from(self.value_size) || overlaps {
                return Err(MapError::Invalid(
                    "bpf_timer outside the value, misaligned or overlapping the lock",
                ));
            }
            if !matches!(
                self.map_type,
                MapType::Hash | MapType::LruHash | MapType::Array
            ) {
                return Err(MapError::OpNotSupported);
            }
        }
        Ok(())
    }

    fn check_array(&self) -> Result<()> {
        let percpu = self.map_type == MapType::PercpuArray;
        if self.max_entries == 0
            || self.key_size != 4
            || self.value_size == 0
            || self.flags & !ARRAY_CREATE_FLAG_MASK != 0
            || !access_ok(self.flags)
            || (percpu && self.flags & BPF_F_NUMA_NODE != 0)
        {
            return Err(MapError::Invalid(
                "array: max_entries 0, key_size != 4, value_size 0 or bad flags",
            ));
        }
        if self.map_type != MapType::Array && self.flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP) != 0 {
            return Err(MapError::Invalid(
                "BPF_F_MMAPABLE/BPF_F_INNER_MAP only for arrays",
            ));
        }
        if self.map_type != MapType::PerfEventArray && self.flags & BPF_F_PRESERVE_ELEMS != 0 {
            return Err(MapError::Invalid(
                "BPF_F_PRESERVE_ELEMS only for perf event arrays",
            ));
        }
        if u64::from(self.value_size) > i32::MAX as u64 {
            return Err(MapError::TooBig);
        }
        if percpu && round_up8(self.value_size as usize) as u64 > PCPU_MIN_UNIT_SIZE {
            return Err(MapError::TooBig);
        }
        Ok(())
    }

    /// devmap.c dev_map_alloc_check(): 4-byte keys, a `struct bpf_devmap_val` of 4 bytes
    /// (ifindex) or 8 (and a program fd).
    fn check_devmap(&self) -> Result<()> {
        const DEV_CREATE_FLAG_MASK: u32 = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY;
        if self.max_entries == 0
            || self.key_size != 4
            || (self.value_size != 4 && self.value_size != 8)
            || self.flags & !DEV_CREATE_FLAG_MASK != 0
        {
            return Err(MapError::Invalid(
                "devmap: max_entries 0, key_size != 4, value_size not 4 or 8, or bad flags",
            ));
        }
        Ok(())
    }

    /// stackmap.c stack_map_alloc(): 4-byte keys, values of 8-byte instruction pointers (or
    /// 32-byte build-id records), at most `perf_event_max_stack` (127) frames.
    fn check_stack_trace(&self) -> Result<()> {
        const STACK_CREATE_FLAG_MASK: u32 =
            BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_STACK_BUILD_ID;
        let elem = if self.flags & BPF_F_STACK_BUILD_ID != 0 {
            32
        } else {
            8
        };
        if self.flags & !STACK_CREATE_FLAG_MASK != 0
            || self.max_entries == 0
            || self.key_size != 4
            || self.value_size < elem
            || !self.value_size.is_multiple_of(elem)
            || self.value_size / elem > 127
        {
            return Err(MapError::Invalid(
                "stack trace: max_entries 0, key_size != 4, bad value_size or flags",
            ));
        }
        Ok(())
    }

    fn check_fd_array(&self) -> Result<()> {
        if self.value_size != 4 {
            return Err(MapError::Invalid("fd array values are 4-byte handles"));
        }
        if self.flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) != 0 {
            return Err(MapError::Invalid("program access flags on a special map"));
        }
        self.check_array()
    }

    fn check_hash(&self) -> Result<()> {
        let t = self.map_type;
        let percpu = matches!(t, MapType::PercpuHash | MapType::LruPercpuHash);
        let lru = matches!(t, MapType::LruHash | MapType::LruPercpuHash);
        let percpu_lru = self.flags & BPF_F_NO_COMMON_LRU != 0;
        let prealloc = self.flags & BPF_F_NO_PREALLOC == 0;
        if self.flags & !HTAB_CREATE_FLAG_MASK != 0 || !access_ok(self.flags) {
            return Err(MapError::Invalid("hash: unknown flags"));
        }
        if !lru && percpu_lru {
            return Err(MapError::Invalid("BPF_F_NO_COMMON_LRU on a non-LRU map"));
        }
        if lru && !prealloc {
            return Err(MapError::NotSupported);
        }
        if self.flags & BPF_F_NUMA_NODE != 0 && (percpu || percpu_lru) {
            return Err(MapError::Invalid("numa node on a per-CPU map"));
        }
        if self.max_entries == 0 || self.key_size == 0 || self.value_size == 0 {
            return Err(MapError::Invalid(
                "hash: zero max_entries, key_size or value_size",
            ));
        }
        if u64::from(self.key_size) + u64::from(self.value_size)
            >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE
        {
            return Err(MapError::TooBig);
        }
        if percpu && round_up8(self.value_size as usize) as u64 > PCPU_MIN_UNIT_SIZE {
            return Err(MapError::TooBig);
        }
        if self.max_entries > 1 << 31 {
            return Err(MapError::TooBig);
        }
        Ok(())
    }

    fn check_queue_stack(&self) -> Result<()> {
        if self.max_entries == 0
            || self.key_size != 0
            || self.value_size == 0
            || self.flags & !QUEUE_STACK_CREATE_FLAG_MASK != 0
            || !access_ok(self.flags)
        {
            return Err(MapError::Invalid(
                "queue/stack: key_size must be 0, value_size and max_entries non-zero",
            ));
        }
        if u64::from(self.value_size) > KMALLOC_MAX_SIZE {
            return Err(MapError::TooBig);
        }
        Ok(())
    }

    fn check_lpm(&self) -> Result<()> {
        let val_max = KMALLOC_MAX_SIZE - u64::from(LPM_DATA_SIZE_MAX) - 24;
        if self.max_entries == 0
            || self.flags & BPF_F_NO_PREALLOC == 0
            || self.flags & !LPM_CREATE_FLAG_MASK != 0
            || !access_ok(self.flags)
            || self.key_size < 4 + LPM_DATA_SIZE_MIN
            || self.key_size > 4 + LPM_DATA_SIZE_MAX
            || self.value_size == 0
            || u64::from(self.value_size) > val_max
        {
            return Err(MapError::Invalid(
                "lpm_trie: needs BPF_F_NO_PREALLOC, key_size 5..=260, value_size > 0",
            ));
        }
        Ok(())
    }

    fn check_bloom(&self) -> Result<()> {
        if u64::from(self.value_size) > KMALLOC_MAX_SIZE {
            return Err(MapError::TooBig);
        }
        if self.key_size != 0
            || self.value_size == 0
            || self.max_entries == 0
            || self.flags & !BLOOM_CREATE_FLAG_MASK != 0
            || !access_ok(self.flags)
            || self.map_extra & !0xf != 0
        {
            return Err(MapError::Invalid(
                "bloom_filter: key_size must be 0, value_size and max_entries non-zero, map_extra <= 15",
            ));
        }
        Ok(())
    }

    fn check_ringbuf(&self) -> Result<()> {
        if self.flags & !RINGBUF_CREATE_FLAG_MASK != 0 {
            return Err(MapError::Invalid("ringbuf: unknown flags"));
        }
        if self.key_size != 0
            || self.value_size != 0
            || !self.max_entries.is_power_of_two()
            || !self.max_entries.is_multiple_of(PAGE_SIZE)
        {
            return Err(MapError::Invalid(
                "ringbuf: key/value size must be 0, max_entries a power-of-2 multiple of the page size",
            ));
        }
        Ok(())
    }
}

/// `bpf_map_flags_access_ok`: programs cannot be both read-only and write-only.
fn access_ok(flags: u32) -> bool {
    flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) != BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG
}

/// `round_up(n, 8)`.
pub(crate) const fn round_up8(n: usize) -> usize {
    (n + 7) & !7
}
