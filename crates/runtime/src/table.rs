//! The object table: handles (like file descriptors) to reference-counted objects, the ids
//! every object gets at creation, and the pin namespace.
//!
//! An object lives while something holds it: a handle, a pin, a link, a program that uses
//! it (for maps) or a prog array slot. Closing the last handle of an object nothing else holds
//! drops it, and dropping frees it (maps release their storage and their references).

use crate::error::{Error, Result};
use crate::link::Link;
use crate::map::Map;
use crate::program::Program;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

/// A handle to an object, valid until closed (the runtime's file descriptor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(pub u32);

impl std::fmt::Display for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Something a handle or a pin refers to.
#[derive(Clone, Debug)]
pub enum Object {
    /// A loaded program.
    Program(Arc<Program>),
    /// A map.
    Map(Arc<Map>),
    /// An attachment of a program to a hook.
    Link(Arc<Link>),
}

impl Object {
    /// "program", "map" or "link".
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Program(_) => "program",
            Object::Map(_) => "map",
            Object::Link(_) => "link",
        }
    }
}

/// Handles, ids and pins. Guarded by one mutex in the runtime: commands are not the hot path
/// (programs reach maps through pointers, not through this table).
#[derive(Debug, Default)]
pub(crate) struct Table {
    /// Index = handle number; `None` = free (the lowest free number is reused, like fds).
    handles: Vec<Option<Object>>,
    pub(crate) pins: BTreeMap<String, Object>,
    pub(crate) programs_by_id: BTreeMap<u32, Weak<Program>>,
    pub(crate) maps_by_id: BTreeMap<u32, Weak<Map>>,
    pub(crate) links_by_id: BTreeMap<u32, Weak<Link>>,
}

impl Table {
    /// Open a new handle to `object`. Handle 0 is never used, so it can mean "none".
    pub(crate) fn open(&mut self, object: Object) -> Handle {
        if self.handles.is_empty() {
            self.handles.push(None);
        }
        let n = match self.handles.iter().skip(1).position(Option::is_none) {
            Some(i) => i + 1,
            None => {
                self.handles.push(None);
                self.handles.len() - 1
            }
        };
        if let Object::Map(m) = &object {
            m.user_ref_taken();
        }
        self.handles[n] = Some(object);
        Handle(n as u32)
    }

    /// The object behind `handle`.
    pub(crate) fn get(&self, handle: Handle) -> Result<&Object> {
        self.handles
            .get(handle.0 as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| Error::bad_handle(handle.0, "object"))
    }

    /// Close `handle`, returning what it held (dropped by the caller, outside the lock, after
    /// [`Map::user_ref_dropped`] for a map).
    pub(crate) fn close(&mut self, handle: Handle) -> Result<Object> {
        self.handles
            .get_mut(handle.0 as usize)
            .and_then(Option::take)
            .ok_or_else(|| Error::bad_handle(handle.0, "object"))
    }

    /// Number of open handles.
    pub(crate) fn open_handles(&self) -> usize {
        self.handles.iter().filter(|h| h.is_some()).count()
    }

    /// Pin `object` at `path` (a user reference, like a handle).
    pub(crate) fn pin(&mut self, path: String, object: Object) {
        if let Object::Map(m) = &object {
            m.user_ref_taken();
        }
        self.pins.insert(path, object);
    }

    /// Forget ids whose objects are gone.
    pub(crate) fn prune(&mut self) {
        self.programs_by_id.retain(|_, w| w.strong_count() > 0);
        self.maps_by_id.retain(|_, w| w.strong_count() > 0);
        self.links_by_id.retain(|_, w| w.strong_count() > 0);
    }
}

impl Drop for Table {
    /// The runtime goes: its handles and pins were the maps' user references.
    fn drop(&mut self) {
        for object in self.handles.iter().flatten().chain(self.pins.values()) {
            if let Object::Map(m) = object {
                m.user_ref_dropped();
            }
        }
    }
}
