//! The runtime's map object: a `waggle_maps::Map` with the identity the kernel gives it.

use std::sync::Arc;

/// A map as the runtime holds it: storage and semantics from `waggle_maps`, plus id and name.
#[derive(Debug)]
pub struct Map {
    /// Unique id for the runtime's life (`MAP_GET_NEXT_ID`).
    pub id: u32,
    /// Name given at creation (up to 15 characters, like the kernel's).
    pub name: String,
    /// The map itself.
    pub inner: waggle_maps::Map,
    /// BTF type ids of key and value when the loader knew them (for decoding dumps).
    pub btf_key_type_id: u32,
    /// See `btf_key_type_id`.
    pub btf_value_type_id: u32,
    /// For maps of maps: the inner map template given at creation.
    pub inner_map: Option<waggle_maps::MapSpec>,
    /// The timers of its values, when they hold a `struct bpf_timer` (see `timers`).
    pub(crate) timers: Option<Arc<crate::timers::MapTimers>>,
}

impl Map {
    /// A handle or pin now holds this map (Linux's `usercnt`, which timers depend on).
    pub(crate) fn user_ref_taken(&self) {
        if let Some(t) = &self.timers {
            t.user_ref_taken();
        }
    }

    /// A handle or pin of this map went; the last one frees the timers of its values.
    pub(crate) fn user_ref_dropped(&self) {
        if let Some(t) = &self.timers {
            t.user_ref_dropped();
        }
    }

    /// Number of initialised `bpf_timer`s in the map's values.
    pub fn timer_count(&self) -> usize {
        self.timers.as_ref().map_or(0, |t| t.len())
    }

    /// The value a program's `lddw r, map` loads: the map object's address, as in the kernel
    /// (a pointer to `struct bpf_map`). Helpers accept it only if it names one of the calling
    /// program's maps, so it is never dereferenced on trust.
    pub fn token(self: &Arc<Map>) -> u64 {
        Arc::as_ptr(self) as usize as u64
    }
}

/// What `OBJ_GET_INFO_BY_HANDLE` says of a map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapInfo {
    /// Map id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub map_flags: u32,
    /// Whether user-space writes are frozen.
    pub frozen: bool,
    /// Bytes of storage.
    pub memory_bytes: usize,
}

impl Map {
    /// The memfd holding the map's storage and the length to map, for the maps kept in shared
    /// memory (array, per-CPU array, hashes, ring buffer): what a daemon sends its clients.
    pub fn shared_memory(&self) -> Option<(std::os::fd::BorrowedFd<'_>, usize)> {
        self.inner.shared_memory()
    }

    /// This map's info.
    pub fn info(&self) -> MapInfo {
        let spec = self.inner.spec();
        MapInfo {
            id: self.id,
            name: self.name.clone(),
            map_type: spec.map_type.as_u32(),
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: spec.flags,
            frozen: self.inner.is_frozen(),
            memory_bytes: self.inner.memory_usage(),
        }
    }
}
