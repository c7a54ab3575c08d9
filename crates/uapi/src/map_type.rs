//! `enum bpf_map_type`.

kernel_enum! {
    /// A BPF map type (`enum bpf_map_type`), kernel numbering.
    pub enum MapType: "map type", "BPF_MAP_TYPE_*" {
        Unspec = 0 => "unspec",
        Hash = 1 => "hash",
        Array = 2 => "array",
        ProgArray = 3 => "prog_array",
        PerfEventArray = 4 => "perf_event_array",
        PercpuHash = 5 => "percpu_hash",
        PercpuArray = 6 => "percpu_array",
        StackTrace = 7 => "stack_trace",
        CgroupArray = 8 => "cgroup_array",
        LruHash = 9 => "lru_hash",
        LruPercpuHash = 10 => "lru_percpu_hash",
        LpmTrie = 11 => "lpm_trie",
        ArrayOfMaps = 12 => "array_of_maps",
        HashOfMaps = 13 => "hash_of_maps",
        Devmap = 14 => "devmap",
        Sockmap = 15 => "sockmap",
        Cpumap = 16 => "cpumap",
        Xskmap = 17 => "xskmap",
        Sockhash = 18 => "sockhash",
        CgroupStorage = 19 => "cgroup_storage",
        ReuseportSockarray = 20 => "reuseport_sockarray",
        PercpuCgroupStorage = 21 => "percpu_cgroup_storage",
        Queue = 22 => "queue",
        Stack = 23 => "stack",
        SkStorage = 24 => "sk_storage",
        DevmapHash = 25 => "devmap_hash",
        StructOps = 26 => "struct_ops",
        Ringbuf = 27 => "ringbuf",
        InodeStorage = 28 => "inode_storage",
        TaskStorage = 29 => "task_storage",
        BloomFilter = 30 => "bloom_filter",
        UserRingbuf = 31 => "user_ringbuf",
        CgrpStorage = 32 => "cgrp_storage",
        Arena = 33 => "arena",
    }
}

impl MapType {
    /// Whether values are per CPU (user space sees one value per possible CPU).
    pub const fn is_percpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuHash
                | MapType::PercpuArray
                | MapType::LruPercpuHash
                | MapType::PercpuCgroupStorage
        )
    }

    /// Whether values are themselves maps (map-in-map outer maps).
    pub const fn is_map_in_map(self) -> bool {
        matches!(self, MapType::ArrayOfMaps | MapType::HashOfMaps)
    }

    /// Whether the map has no keys (queue, stack, bloom filter: push/pop/peek).
    pub const fn is_keyless(self) -> bool {
        matches!(self, MapType::Queue | MapType::Stack | MapType::BloomFilter)
    }
}
