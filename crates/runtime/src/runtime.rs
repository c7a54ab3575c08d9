//! [`Runtime`]: the user-space kernel and its command API, modelled on `bpf(2)`.

use crate::error::{Error, Result};
use crate::hook::Hook;
use crate::link::Link;
use crate::map::{Map, MapInfo};
use crate::program::{Program, ProgramInfo};
use crate::table::{Handle, Object, Table};
use crate::trace::TracePipe;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use waggle_uapi::errno;

/// The user-space kernel: owns every program, map and link, reached through [`Handle`]s.
///
/// Cheap to clone (clones share one runtime) and safe to use from many threads.
#[derive(Clone, Debug, Default)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    table: Mutex<Table>,
    next_id: AtomicU32,
    trace: Arc<TracePipe>,
    hooks: Mutex<HashMap<String, Arc<Hook>>>,
}

/// `MAP_CREATE` arguments.
#[derive(Clone, Debug)]
pub struct MapCreate {
    /// Type, sizes, flags.
    pub spec: waggle_maps::MapSpec,
    /// Name (truncated to 15 characters).
    pub name: String,
    /// BTF ids of key and value types, when known (0 otherwise).
    pub btf_key_type_id: u32,
    /// See `btf_key_type_id`.
    pub btf_value_type_id: u32,
    /// For maps of maps: what the inner maps look like (the kernel's `inner_map_fd`
    /// template), for the verifier.
    pub inner_map: Option<waggle_maps::MapSpec>,
}

impl MapCreate {
    /// A map of `spec` named `name`.
    pub fn new(spec: waggle_maps::MapSpec, name: impl Into<String>) -> MapCreate {
        MapCreate {
            spec,
            name: name.into(),
            btf_key_type_id: 0,
            btf_value_type_id: 0,
            inner_map: None,
        }
    }
}

/// What `OBJ_GET_INFO_BY_HANDLE` returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Info {
    /// A program's info.
    Program(ProgramInfo),
    /// A map's info.
    Map(MapInfo),
    /// A link's id, program id and hook.
    Link {
        /// Link id.
        id: u32,
        /// Id of the attached program.
        program_id: u32,
        /// Hook name.
        hook: String,
    },
}

fn truncate_name(name: &str) -> String {
    name.chars().take(15).collect()
}

impl Runtime {
    /// A new, empty runtime.
    pub fn new() -> Runtime {
        Runtime::default()
    }

    pub(crate) fn table(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock cannot leave the table half-updated in a way that
        // matters more than losing the runtime, so a poisoned lock is taken over.
        self.inner.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn hooks(&self) -> MutexGuard<'_, HashMap<String, Arc<Hook>>> {
        self.inner.hooks.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn next_id(&self) -> u32 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The `bpf_trace_printk` output of all programs.
    pub fn trace_pipe(&self) -> &Arc<TracePipe> {
        &self.inner.trace
    }

    pub(crate) fn open(&self, object: Object) -> Handle {
        let mut t = self.table();
        match &object {
            Object::Program(p) => {
                t.programs_by_id.insert(p.id, Arc::downgrade(p));
            }
            Object::Map(m) => {
                t.maps_by_id.insert(m.id, Arc::downgrade(m));
            }
            Object::Link(l) => {
                t.links_by_id.insert(l.id, Arc::downgrade(l));
            }
        }
        t.open(object)
    }

    /// The object behind a handle.
    pub fn object(&self, handle: Handle) -> Result<Object> {
        self.table().get(handle).cloned()
    }

    /// The map behind a handle.
    pub fn map(&self, handle: Handle) -> Result<Arc<Map>> {
        match self.object(handle)? {
            Object::Map(m) => Ok(m),
            _ => Err(Error::bad_handle(handle.0, "map")),
        }
    }

    /// The program behind a handle.
    pub fn program(&self, handle: Handle) -> Result<Arc<Program>> {
        match self.object(handle)? {
            Object::Program(p) => Ok(p),
            _ => Err(Error::bad_handle(handle.0, "program")),
        }
    }

    /// `close(fd)`: drop the handle; the object goes when nothing else holds it.
    pub fn close(&self, handle: Handle) -> Result<()> {
        let object = {
            let mut t = self.table();
            let o = t.close(handle)?;
            t.prune();
            o
        };
        if let Object::Map(m) = &object {
            m.user_ref_dropped();
        }
        drop(object);
        self.table().prune();
        Ok(())
    }

    /// Number of open handles.
    pub fn open_handles(&self) -> usize {
        self.table().open_handles()
    }

    /// Number of live objects (programs, maps, links), held by anything.
    pub fn live_objects(&self) -> usize {
        let mut t = self.table();
        t.prune();
        t.programs_by_id.len() + t.maps_by_id.len() + t.links_by_id.len()
    }

    // ---- maps ----

    /// `BPF_MAP_CREATE`.
    pub fn map_create(&self, attr: &MapCreate) -> Result<Handle> {
        let inner = waggle_maps::Map::create(&attr.spec)?;
        // Values with a `struct bpf_timer`: the map tells the timers when an element goes.
        let timers = attr.spec.timer_off.map(|off| {
            let timers = Arc::new(crate::timers::MapTimers::new(off));
            let t = timers.clone();
            inner.set_release_hook(waggle_maps::ReleaseHook(Arc::new(move |value| {
                t.value_released(value)
            })));
            timers
        });
        let map = Arc::new(Map {
            id: self.next_id(),
            name: truncate_name(&attr.name),
            inner,
            btf_key_type_id: attr.btf_key_type_id,
            btf_value_type_id: attr.btf_value_type_id,
            inner_map: attr.inner_map.clone(),
            timers,
        });
        Ok(self.open(Object::Map(map)))
    }

    /// `BPF_MAP_LOOKUP_ELEM`: the value of `key` (all CPUs' values for per-CPU maps).
    pub fn map_lookup_elem(&self, map: Handle, key: &[u8]) -> Result<Vec<u8>> {
        let m = self.map(map)?;
        let mut out = vec![0u8; m.inner.user_value_size()];
        m.inner.lookup(key, &mut out)?;
        Ok(out)
    }

    /// `BPF_MAP_UPDATE_ELEM` with `BPF_ANY`/`BPF_NOEXIST`/`BPF_EXIST` (and `BPF_F_LOCK`).
    pub fn map_update_elem(&self, map: Handle, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        let m = self.map(map)?;
        if holds_objects(m.inner.spec().map_type) {
            return self.map_update_ref(&m, key, value, flags);
        }
        Ok(m.inner.update(key, value, flags)?)
    }

    /// Prog arrays and map-in-map: the value is a handle; the slot holds the object.
    fn map_update_ref(&self, m: &Arc<Map>, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        let raw: [u8; 4] = value
            .try_into()
            .map_err(|_| Error::invalid("value must be a 4-byte handle"))?;
        let h = Handle(u32::from_ne_bytes(raw));
        let obj = self.object(h)?;
        let r = match (m.inner.spec().map_type, obj) {
            (waggle_maps::MapType::ProgArray, Object::Program(p)) => {
                waggle_maps::ObjectRef::new(p.id, p)
            }
            (t, Object::Map(inner)) if t != waggle_maps::MapType::ProgArray => {
                waggle_maps::ObjectRef::new(inner.id, inner)
            }
            _ => return Err(Error::invalid("wrong kind of object for this map")),
        };
        Ok(m.inner.update_ref(key, r, flags)?)
    }

    /// `BPF_MAP_DELETE_ELEM`.
    pub fn map_delete_elem(&self, map: Handle, key: &[u8]) -> Result<()> {
        Ok(self.map(map)?.inner.delete(key)?)
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key`, or the first when `None`; `ENOENT` at the end.
    pub fn map_get_next_key(&self, map: Handle, key: Option<&[u8]>) -> Result<Vec<u8>> {
        let m = self.map(map)?;
        let mut out = vec![0u8; m.inner.spec().key_size as usize];
        m.inner.get_next_key(key, &mut out)?;
        Ok(out)
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (also pop for queues and stacks, with no key).
    pub fn map_lookup_and_delete_elem(&self, map: Handle, key: &[u8]) -> Result<Vec<u8>> {
        let m = self.map(map)?;
        let mut out = vec![0u8; m.inner.user_value_size()];
        m.inner.lookup_and_delete(key, &mut out, 0)?;
        Ok(out)
    }

    /// `BPF_MAP_FREEZE`.
    pub fn map_freeze(&self, map: Handle) -> Result<()> {
        Ok(self.map(map)?.inner.freeze()?)
    }

    /// Every key and value of a map (keys in iteration order), as `bpftool map dump` shows them.
    pub fn map_dump(&self, map: Handle) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let m = self.map(map)?;
        let mut out = Vec::new();
        let mut key: Option<Vec<u8>> = None;
        loop {
            let mut next = vec![0u8; m.inner.spec().key_size as usize];
            match m.inner.get_next_key(key.as_deref(), &mut next) {
                Ok(()) => {}
                Err(e) if e.errno() == errno::ENOENT => break,
                Err(e) => return Err(e.into()),
            }
            let mut value = vec![0u8; m.inner.user_value_size()];
            match m.inner.lookup(&next, &mut value) {
                Ok(()) => out.push((next.clone(), value)),
                Err(e) if e.errno() == errno::ENOENT => {}
                Err(e) => return Err(e.into()),
            }
            if out.len() > m.inner.spec().max_entries as usize + 1 {
                break;
            }
            key = Some(next);
        }
        Ok(out)
    }

    // ---- pins, ids, info ----

    /// `BPF_OBJ_PIN`: the object lives on under `path` until unpinned.
    pub fn obj_pin(&self, handle: Handle, path: &str) -> Result<()> {
        let mut t = self.table();
        let object = t.get(handle)?.clone();
        if t.pins.contains_key(path) {
            return Err(Error::new(
                errno::EEXIST,
                format!("{path} is already pinned"),
            ));
        }
        t.pin(path.to_string(), object);
        Ok(())
    }

    /// `BPF_OBJ_GET`: a new handle to a pinned object.
    pub fn obj_get(&self, path: &str) -> Result<Handle> {
        let object = self
            .table()
            .pins
            .get(path)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("nothing pinned at {path}")))?;
        Ok(self.table().open(object))
    }

    /// Remove a pin (`unlink` of a bpffs path).
    pub fn unpin(&self, path: &str) -> Result<()> {
        let object = self
            .table()
            .pins
            .remove(path)
            .ok_or_else(|| Error::not_found(format!("nothing pinned at {path}")))?;
        if let Object::Map(m) = &object {
            m.user_ref_dropped();
        }
        drop(object);
        self.table().prune();
        Ok(())
    }

    /// Pinned paths.
    pub fn pins(&self) -> Vec<String> {
        self.table().pins.keys().cloned().collect()
    }

    /// `BPF_OBJ_GET_INFO_BY_FD`.
    pub fn obj_get_info(&self, handle: Handle) -> Result<Info> {
        Ok(match self.object(handle)? {
            Object::Program(p) => Info::Program(p.info()),
            Object::Map(m) => Info::Map(m.info()),
            Object::Link(l) => Info::Link {
                id: l.id,
                program_id: l.program.id,
                hook: l.hook.clone(),
            },
        })
    }

    /// `BPF_PROG_GET_NEXT_ID`: the smallest live program id above `start`.
    pub fn prog_get_next_id(&self, start: u32) -> Option<u32> {
        let mut t = self.table();
        t.prune();
        t.programs_by_id
            .range(start + 1..)
            .next()
            .map(|(id, _)| *id)
    }

    /// `BPF_MAP_GET_NEXT_ID`.
    pub fn map_get_next_id(&self, start: u32) -> Option<u32> {
        let mut t = self.table();
        t.prune();
        t.maps_by_id.range(start + 1..).next().map(|(id, _)| *id)
    }

    /// `BPF_PROG_GET_FD_BY_ID`.
    pub fn prog_get_handle_by_id(&self, id: u32) -> Result<Handle> {
        let p = self
            .table()
            .programs_by_id
            .get(&id)
            .and_then(std::sync::Weak::upgrade);
        let p = p.ok_or_else(|| Error::not_found(format!("no program with id {id}")))?;
        Ok(self.table().open(Object::Program(p)))
    }

    /// `BPF_MAP_GET_FD_BY_ID`.
    pub fn map_get_handle_by_id(&self, id: u32) -> Result<Handle> {
        let m = self
            .table()
            .maps_by_id
            .get(&id)
            .and_then(std::sync::Weak::upgrade);
        let m = m.ok_or_else(|| Error::not_found(format!("no map with id {id}")))?;
        Ok(self.table().open(Object::Map(m)))
    }

    /// `BPF_LINK_GET_NEXT_ID`.
    pub fn link_get_next_id(&self, start: u32) -> Option<u32> {
        let mut t = self.table();
        t.prune();
        t.links_by_id.range(start + 1..).next().map(|(id, _)| *id)
    }

    /// `BPF_LINK_GET_FD_BY_ID`.
    pub fn link_get_handle_by_id(&self, id: u32) -> Result<Handle> {
        let l = self
            .table()
            .links_by_id
            .get(&id)
            .and_then(std::sync::Weak::upgrade);
        let l = l.ok_or_else(|| Error::not_found(format!("no link with id {id}")))?;
        Ok(self.table().open(Object::Link(l)))
    }

    // ---- links ----

    /// `BPF_LINK_CREATE`: attach a program to the hook named `hook`, with a cookie. `ENOENT`
    /// if there is no such hook, `EINVAL` if the hook does not take the program's type.
    pub fn link_create(&self, program: Handle, hook: &str, cookie: u64) -> Result<Handle> {
        let p = self.program(program)?;
        let target = self
            .hook(hook)
            .ok_or_else(|| Error::not_found(format!("no hook named {hook}")))?;
        if !target.spec().prog_types.contains(&p.prog_type) {
            return Err(Error::invalid(format!(
                "hook {hook} does not take {} programs",
                p.prog_type.name()
            )));
        }
        if let (Some((size, writable)), Some(used)) = (target.spec().plain_ctx, p.ctx_use) {
            if used.end > size {
                return Err(Error::invalid(format!(
                    "program {} reads its context up to byte {} but hook {hook} passes {size} bytes",
                    p.name, used.end
                )));
            }
            if used.writes && !writable {
                return Err(Error::new(
                    waggle_uapi::errno::EACCES,
                    format!(
                        "program {} writes its context but hook {hook}'s context is read-only",
                        p.name
                    ),
                ));
            }
        }
        let link = Arc::new(Link::attach(self.next_id(), p, target, cookie));
        Ok(self.open(Object::Link(link)))
    }

    /// `BPF_LINK_DETACH`: the link stops firing; the handle stays open until closed.
    pub fn link_detach(&self, link: Handle) -> Result<()> {
        match self.object(link)? {
            Object::Link(l) => {
                l.detach();
                Ok(())
            }
            _ => Err(Error::bad_handle(link.0, "link")),
        }
    }
}

/// Maps whose values are handles to objects (programs or maps).
fn holds_objects(t: waggle_maps::MapType) -> bool {
    matches!(
        t,
        waggle_maps::MapType::ProgArray
            | waggle_maps::MapType::ArrayOfMaps
            | waggle_maps::MapType::HashOfMaps
    )
}
