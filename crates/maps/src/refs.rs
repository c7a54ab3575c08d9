//! Maps whose values are references to other runtime objects: `PROG_ARRAY` (tail calls),
//! `ARRAY_OF_MAPS` and `HASH_OF_MAPS` (kernel/bpf/arraymap.c fd arrays, hashtab.c fd htab).
//!
//! This crate does not know what a program or a handle is: the runtime hands it
//! [`ObjectRef`]s (an id plus a type-erased, reference-counted object) or a [`RefResolver`]
//! that turns the 4-byte handles user space writes into them. Holding an `ObjectRef` in a slot
//! keeps the object alive; deleting the slot or dropping the map releases it.

use crate::array::{array_index, array_next_key};
use crate::error::{MapError, Result};
use crate::spec::{MapSpec, update::*};
use crate::storage::MemCharge;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// A counted reference to a runtime object (a program or a map) stored in a map slot.
#[derive(Clone)]
pub struct ObjectRef {
    id: u32,
    object: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectRef").field("id", &self.id).finish()
    }
}

impl ObjectRef {
    /// A reference to `object`, whose global id (what user-space lookups return) is `id`.
    pub fn new(id: u32, object: Arc<dyn Any + Send + Sync>) -> ObjectRef {
        ObjectRef { id, object }
    }

    /// The object's id (`prog_fd_array_sys_lookup_elem` and friends return it).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The referenced object.
    pub fn object(&self) -> &Arc<dyn Any + Send + Sync> {
        &self.object
    }

    /// The referenced object as a `T`, if it is one.
    pub fn downcast<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.object.clone().downcast::<T>().ok()
    }
}

/// Turns the 4-byte handle that user space stores in an object-reference map into an object
/// reference (`map_fd_get_ptr`): the runtime checks the handle names an object of the right
/// kind and compatible with `map` (`EBADF` for no object, `EINVAL` for a wrong one).
pub trait RefResolver: Send + Sync {
    /// Resolves `handle` for storing in a map described by `map`.
    fn resolve(&self, map: &MapSpec, handle: u32) -> Result<ObjectRef>;
}

pub(crate) fn ref_handle(value: &[u8]) -> Result<u32> {
    let v: [u8; 4] = value
        .try_into()
        .map_err(|_| MapError::Invalid("object-reference values are 4-byte handles"))?;
    Ok(u32::from_ne_bytes(v))
}

/// A `PROG_ARRAY` or `ARRAY_OF_MAPS`: `max_entries` slots of optional references.
#[derive(Debug)]
pub struct RefArray {
    slots: Box<[RwLock<Option<ObjectRef>>]>,
    charge: MemCharge,
}

impl RefArray {
    /// Creates the array described by a validated `spec`; all slots start empty.
    pub(crate) fn new(spec: &MapSpec) -> Result<RefArray> {
        let n = spec.max_entries as usize;
        let mut slots = Vec::new();
        slots.try_reserve_exact(n).map_err(|_| MapError::NoMemory)?;
        slots.extend((0..n).map(|_| RwLock::new(None)));
        let charge = MemCharge::default();
        charge.set(n * std::mem::size_of::<RwLock<Option<ObjectRef>>>());
        Ok(RefArray {
            slots: slots.into_boxed_slice(),
            charge,
        })
    }

    fn slot(&self, key: &[u8]) -> Result<&RwLock<Option<ObjectRef>>> {
        let idx = array_index(key)?;
        self.slots.get(idx as usize).ok_or(MapError::TooBig)
    }

    /// Program side: the object in slot `key` (tail call target, inner map), if any.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<ObjectRef> {
        let idx = array_index(key).ok()?;
        self.get_index(idx)
    }

    /// Program side by index, for `bpf_tail_call(ctx, map, index)`.
    #[inline]
    pub fn get_index(&self, index: u32) -> Option<ObjectRef> {
        let s = self.slots.get(index as usize)?;
        s.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// User-space lookup: the id of the object in the slot (`ENOENT` if empty).
    pub fn lookup_id(&self, key: &[u8]) -> Result<u32> {
        let idx = array_index(key)?;
        let s = self.slots.get(idx as usize).ok_or(MapError::NotFound)?;
        let g = s.read().unwrap_or_else(|e| e.into_inner());
        g.as_ref().map(ObjectRef::id).ok_or(MapError::NotFound)
    }

    /// Stores `obj` in slot `key` (flags must be `BPF_ANY`), releasing the previous one.
    pub fn set(&self, key: &[u8], obj: ObjectRef, flags: u64) -> Result<()> {
        if flags != BPF_ANY {
            return Err(MapError::Invalid("fd array updates take BPF_ANY"));
        }
        let old = self
            .slot(key)?
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .replace(obj);
        drop(old);
        Ok(())
    }

    /// Empties slot `key` (`E2BIG` out of range, `ENOENT` if already empty).
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        let old = self
            .slot(key)?
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        old.map(drop).ok_or(MapError::NotFound)
    }

    /// Releases every reference (`bpf_fd_array_map_clear`).
    pub fn clear(&self) {
        for s in self.slots.iter() {
            s.write().unwrap_or_else(|e| e.into_inner()).take();
        }
    }

    /// Array iteration, as for plain arrays.
    pub fn get_next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<()> {
        array_next_key(self.slots.len() as u32, key, out)
    }

    /// Bytes allocated for the map.
    pub fn memory_usage(&self) -> usize {
        self.charge.get() + std::mem::size_of::<Self>()
    }
}

/// A `HASH_OF_MAPS`: keys of `key_size` bytes mapped to references, at most `max_entries`.
/// Ordered by key bytes, which fixes the `get_next_key` order.
#[derive(Debug)]
pub struct RefHash {
    map: RwLock<BTreeMap<Box<[u8]>, ObjectRef>>,
    key_size: usize,
    max_entries: usize,
    charge: MemCharge,
}

impl RefHash {
    /// Creates the map described by a validated `spec`.
    pub(crate) fn new(spec: &MapSpec) -> RefHash {
        RefHash {
            map: RwLock::new(BTreeMap::new()),
            key_size: spec.key_size as usize,
            max_entries: spec.max_entries as usize,
            charge: MemCharge::default(),
        }
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() != self.key_size {
            return Err(MapError::Invalid("key size"));
        }
        Ok(())
    }

    fn elem_bytes(&self) -> usize {
        self.key_size + std::mem::size_of::<ObjectRef>() + 32
    }

    /// Program side: the referenced object (the inner map), if any.
    pub fn get(&self, key: &[u8]) -> Option<ObjectRef> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// User-space lookup: the id of the referenced object.
    pub fn lookup_id(&self, key: &[u8]) -> Result<u32> {
        self.check_key(key)?;
        self.get(key).map(|o| o.id()).ok_or(MapError::NotFound)
    }

    /// Stores `obj` under `key` with hash-map flag rules (`EEXIST`, `ENOENT`, `E2BIG`).
    pub fn set(&self, key: &[u8], obj: ObjectRef, flags: u64) -> Result<()> {
        self.check_key(key)?;
        if flags > BPF_EXIST {
            return Err(MapError::Invalid("unknown update flags"));
        }
        let mut m = self.map.write().unwrap_or_else(|e| e.into_inner());
        let exists = m.contains_key(key);
        match (exists, flags) {
            (true, BPF_NOEXIST) => return Err(MapError::Exists),
            (false, BPF_EXIST) => return Err(MapError::NotFound),
            (false, _) if m.len() >= self.max_entries => return Err(MapError::TooBig),
            _ => {}
        }
        if !exists {
            self.charge.add(self.elem_bytes());
        }
        let old = m.insert(key.into(), obj);
        drop(m);
        drop(old);
        Ok(())
    }

    /// Removes `key` (`ENOENT` if absent).
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        self.check_key(key)?;
        let old = self
            .map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
            .ok_or(MapError::NotFound)?;
        self.charge.sub(self.elem_bytes());
        drop(old);
        Ok(())
    }

    /// The next key in key order; an absent or missing key gives the first one.
    pub fn get_next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<()> {
        if out.len() != self.key_size {
            return Err(MapError::Invalid("key size"));
        }
        let m = self.map.read().unwrap_or_else(|e| e.into_inner());
        let next = match key {
            Some(k) if m.contains_key(k) => m
                .range::<[u8], _>((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded))
                .next(),
            _ => m.iter().next(),
        };
        let (k, _) = next.ok_or(MapError::NotFound)?;
        out.copy_from_slice(k);
        Ok(())
    }

    /// Releases every reference.
    pub fn clear(&self) {
        let old = std::mem::take(&mut *self.map.write().unwrap_or_else(|e| e.into_inner()));
        self.charge.set(0);
        drop(old);
    }

    /// Bytes allocated for the map.
    pub fn memory_usage(&self) -> usize {
        self.charge.get() + std::mem::size_of::<Self>()
    }
}
