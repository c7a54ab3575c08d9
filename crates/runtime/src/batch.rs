//! The batch map commands: `BPF_MAP_LOOKUP_BATCH`, `BPF_MAP_LOOKUP_AND_DELETE_BATCH`,
//! `BPF_MAP_UPDATE_BATCH`, `BPF_MAP_DELETE_BATCH` (kernel/bpf/syscall.c `generic_map_*_batch`,
//! kernel/bpf/hashtab.c `__htab_map_lookup_and_delete_batch`).
//!
//! As in the kernel: `elem_flags` must be at most `BPF_F_LOCK`, and `flags` 0 for hash
//! table lookups (`EINVAL`; the generic commands ignore `flags`);
//! a count of 0 does nothing; values are `value_size` bytes, or every possible CPU's value
//! (each rounded up to 8 bytes) for per-CPU maps; lookups return `ENOENT` with the elements
//! found when the walk reaches the end; updates and deletes stop at the first failing element
//! and report how many were done; map types without the operation give `ENOTSUPP` (524, the
//! kernel-internal errno `bpf()` leaks). Arrays, per-CPU arrays and LPM tries support lookup,
//! update and delete batches (arrays refuse each delete with `EINVAL`, as their delete does);
//! the four hash types support all four.
//!
//! The batch cursor (`in_batch`/`out_batch`) is opaque to callers, as in the kernel. Here it
//! is always the last key returned (`key_size` bytes), the generic cursor; the kernel's hash
//! tables use a bucket index instead. The difference shows only at the edges: the kernel's
//! hash lookups return whole buckets (fewer elements than asked, or `ENOSPC` when the first
//! bucket does not fit), and a cursor whose key was deleted meanwhile restarts the walk here.
//! For hash tables a lookup that returns the last elements also reports `ENOENT`, as the
//! kernel's bucket walk does; arrays report it on the next call, as `generic_map_lookup_batch`
//! does.

use crate::error::{Error, Result};
use crate::map::Map;
use crate::runtime::Runtime;
use crate::table::Handle;
use std::sync::Arc;
use waggle_maps::MapType;
use waggle_uapi::errno;

/// `BPF_F_LOCK`, the only element flag batches accept.
const BPF_F_LOCK: u64 = 4;
/// `MAP_LOOKUP_RETRIES` of `generic_map_lookup_batch`: how often a key that vanished between
/// `get_next_key` and the lookup is skipped before giving up with `EINTR`.
const LOOKUP_RETRIES: u32 = 3;

/// The flags of a batch command (`attr.batch.elem_flags`, `attr.batch.flags`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchFlags {
    /// Per element: 0 or `BPF_F_LOCK` (4).
    pub elem_flags: u64,
    /// Must be 0 for hash table lookups; ignored elsewhere, as in the kernel.
    pub flags: u64,
}

/// What a lookup batch returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookupBatch {
    /// Elements returned (`attr.batch.count` on return).
    pub count: u32,
    /// Their keys, `key_size` bytes each.
    pub keys: Vec<u8>,
    /// Their values, [`Map::user_value_size`](waggle_maps::Map::user_value_size) bytes each.
    pub values: Vec<u8>,
    /// The cursor to pass as `in_batch` to continue (`None` when nothing was returned, as
    /// the kernel then leaves `out_batch` alone).
    pub out_batch: Option<Vec<u8>>,
    /// The walk reached the end: `bpf()` returns `ENOENT` along with these elements.
    pub end: bool,
}

impl LookupBatch {
    /// The errno `bpf()` returns with this result: `ENOENT` at the end, else 0.
    pub fn errno(&self) -> i32 {
        if self.end { errno::ENOENT } else { 0 }
    }
}

/// What an update or delete batch did: `count` elements, then `error` stopped it (if any).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchDone {
    /// Elements updated or deleted (`attr.batch.count` on return).
    pub count: u32,
    /// The failure of element `count`, which ended the batch.
    pub error: Option<Error>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Lookup,
    LookupAndDelete,
    Update,
    Delete,
}

fn is_hash(t: MapType) -> bool {
    matches!(
        t,
        MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash
    )
}

/// Whether the kernel's map ops for `t` have this batch operation.
fn supported(t: MapType, op: Op) -> bool {
    let array_like = matches!(t, MapType::Array | MapType::PercpuArray);
    match op {
        Op::Lookup | Op::Update => is_hash(t) || array_like || t == MapType::LpmTrie,
        Op::LookupAndDelete => is_hash(t),
        Op::Delete => is_hash(t) || t == MapType::LpmTrie,
    }
}

fn enotsupp(m: &Map, what: &str) -> Error {
    Error::new(
        errno::ENOTSUPP,
        format!(
            "{what} is not supported for {:?} maps",
            m.inner.spec().map_type
        ),
    )
}

impl Runtime {
    fn batch_map(&self, map: Handle, op: Op, f: BatchFlags) -> Result<Arc<Map>> {
        let m = self.map(map)?;
        if f.elem_flags & !BPF_F_LOCK != 0 {
            return Err(Error::invalid("element flags must be 0 or BPF_F_LOCK"));
        }
        // Only the hash tables' lookups check `flags` (the generic commands ignore it).
        let lookup = matches!(op, Op::Lookup | Op::LookupAndDelete);
        if f.flags != 0 && lookup && is_hash(m.inner.spec().map_type) {
            return Err(Error::invalid("batch flags must be 0"));
        }
        if f.elem_flags & BPF_F_LOCK != 0 && m.inner.spec().spin_lock_off.is_none() {
            return Err(Error::invalid(
                "BPF_F_LOCK without a bpf_spin_lock in the value",
            ));
        }
        if !supported(m.inner.spec().map_type, op) {
            let name = match op {
                Op::Lookup => "BPF_MAP_LOOKUP_BATCH",
                Op::LookupAndDelete => "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
                Op::Update => "BPF_MAP_UPDATE_BATCH",
                Op::Delete => "BPF_MAP_DELETE_BATCH",
            };
            return Err(enotsupp(&m, name));
        }
        // bpf_map_do_batch: writing commands need a writable map (frozen ones are not).
        if op != Op::Lookup && m.inner.is_frozen() {
            return Err(Error::new(errno::EPERM, "the map is frozen"));
        }
        Ok(m)
    }

    /// `BPF_MAP_LOOKUP_BATCH`: up to `count` elements after cursor `in_batch` (from the
    /// first when `None`). See the module documentation for the cursor.
    pub fn map_lookup_batch(
        &self,
        map: Handle,
        in_batch: Option<&[u8]>,
        count: u32,
        flags: BatchFlags,
    ) -> Result<LookupBatch> {
        let m = self.batch_map(map, Op::Lookup, flags)?;
        lookup(&m, in_batch, count, flags.elem_flags, false)
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_BATCH` (hash tables): like [`Runtime::map_lookup_batch`],
    /// and the elements returned are deleted.
    pub fn map_lookup_and_delete_batch(
        &self,
        map: Handle,
        in_batch: Option<&[u8]>,
        count: u32,
        flags: BatchFlags,
    ) -> Result<LookupBatch> {
        let m = self.batch_map(map, Op::LookupAndDelete, flags)?;
        lookup(&m, in_batch, count, flags.elem_flags, true)
    }

    /// `BPF_MAP_UPDATE_BATCH`: `keys[i]` set to `values[i]` (as `BPF_ANY`, with `BPF_F_LOCK`
    /// if given) for the first `count` elements of the two buffers, stopping at the first
    /// failure. Buffers shorter than `count` elements: `EFAULT`, as unreadable user memory.
    pub fn map_update_batch(
        &self,
        map: Handle,
        keys: &[u8],
        values: &[u8],
        count: u32,
        flags: BatchFlags,
    ) -> Result<BatchDone> {
        let m = self.batch_map(map, Op::Update, flags)?;
        let (ks, vs) = (m.inner.spec().key_size as usize, m.inner.user_value_size());
        let mut done = BatchDone::default();
        for i in 0..count as usize {
            let (Some(k), Some(v)) = (
                keys.get(i * ks..(i + 1) * ks),
                values.get(i * vs..(i + 1) * vs),
            ) else {
                done.error = Some(Error::new(errno::EFAULT, "keys or values too short"));
                break;
            };
            if let Err(e) = m.inner.update(k, v, flags.elem_flags) {
                done.error = Some(e.into());
                break;
            }
            done.count += 1;
        }
        Ok(done)
    }

    /// `BPF_MAP_DELETE_BATCH`: the first `count` keys of `keys` deleted, stopping at the
    /// first failure (`ENOENT` for a key not there).
    pub fn map_delete_batch(
        &self,
        map: Handle,
        keys: &[u8],
        count: u32,
        flags: BatchFlags,
    ) -> Result<BatchDone> {
        let m = self.batch_map(map, Op::Delete, flags)?;
        let ks = m.inner.spec().key_size as usize;
        let mut done = BatchDone::default();
        for i in 0..count as usize {
            let Some(k) = keys.get(i * ks..(i + 1) * ks) else {
                done.error = Some(Error::new(errno::EFAULT, "keys too short"));
                break;
            };
            if let Err(e) = m.inner.delete(k) {
                done.error = Some(e.into());
                break;
            }
            done.count += 1;
        }
        Ok(done)
    }
}

fn lookup(
    m: &Map,
    in_batch: Option<&[u8]>,
    count: u32,
    elem_flags: u64,
    delete: bool,
) -> Result<LookupBatch> {
    let mut out = LookupBatch::default();
    if count == 0 {
        return Ok(out);
    }
    let ks = m.inner.spec().key_size as usize;
    let vs = m.inner.user_value_size();
    if in_batch.is_some_and(|b| b.len() != ks) {
        return Err(Error::invalid(
            "in_batch must be a cursor this map returned",
        ));
    }
    let mut prev: Option<Vec<u8>> = in_batch.map(<[u8]>::to_vec);
    let mut key = vec![0u8; ks];
    let mut value = vec![0u8; vs];
    let mut retries = LOOKUP_RETRIES;
    while out.count < count {
        match m.inner.get_next_key(prev.as_deref(), &mut key) {
            Ok(()) => {}
            Err(e) if e.errno() == errno::ENOENT => {
                out.end = true;
                break;
            }
            Err(e) => return Err(e.into()),
        }
        match m.inner.lookup_with_flags(&key, &mut value, elem_flags) {
            Ok(()) => {}
            // Deleted between the two steps: look again from the same cursor.
            Err(e) if e.errno() == errno::ENOENT => {
                if retries == 0 {
                    return Err(Error::new(
                        errno::EINTR,
                        "elements kept vanishing during the walk",
                    ));
                }
                retries -= 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        out.keys.extend_from_slice(&key);
        out.values.extend_from_slice(&value);
        out.count += 1;
        retries = LOOKUP_RETRIES;
        prev = Some(key.clone());
    }
    // The hash tables' bucket walk goes on to the end when everything left fit.
    if !out.end && is_hash(m.inner.spec().map_type) {
        let mut next = vec![0u8; ks];
        if let Err(e) = m.inner.get_next_key(prev.as_deref(), &mut next) {
            out.end = e.errno() == errno::ENOENT;
        }
    }
    if delete {
        for k in out.keys.chunks_exact(ks) {
            // Gone meanwhile is fine: it was returned, and it is not there any more.
            match m.inner.delete(k) {
                Ok(()) => {}
                Err(e) if e.errno() == errno::ENOENT => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    if out.count > 0 {
        out.out_batch = prev;
    }
    Ok(out)
}
