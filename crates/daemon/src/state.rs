//! `--state DIR`: pinned maps and programs saved on clean shutdown and restored on start.
//!
//! One file, `DIR/pinned-maps.bin`, postcard-encoded:
//! - pinned programs, as the objects they were loaded from (the ELF bytes and object name, the
//!   daemon keeps them while the object's programs or maps live) with each pinned program's
//!   name and pin paths: restoring loads the object again (verified again) and re-pins them;
//! - pinned maps: path, attributes with their flags, entries, frozen state. A map of a saved
//!   object is restored into that object's freshly loaded map (so the restored programs use
//!   it); other maps are created anew. Read-only (`BPF_F_RDONLY`) and frozen maps are filled
//!   through the map implementation, which user-space updates could not do, and then frozen
//!   again.
//!
//! Links are not saved: attaching is the client's decision after a restart.

use crate::server::{Shared, register_btf};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use waggle_runtime::{Info, LoadedObject, MapCreate, Object, Runtime};

const FILE: &str = "pinned-maps.bin";
/// Format of the file; a file of another format is refused rather than misread.
const FORMAT: u32 = 4;

/// An object loaded through the daemon, kept to be saved with its pinned programs.
pub(crate) struct ObjRecord {
    name: String,
    elf: Arc<[u8]>,
    programs: Vec<(String, Weak<waggle_runtime::Program>)>,
    maps: Vec<(String, Weak<waggle_runtime::Map>)>,
}

impl ObjRecord {
    fn alive(&self) -> bool {
        self.programs.iter().any(|(_, p)| p.strong_count() > 0)
            || self.maps.iter().any(|(_, m)| m.strong_count() > 0)
    }
}

/// The objects loaded through the daemon whose programs or maps still live.
pub(crate) type Objects = Arc<Mutex<Vec<ObjRecord>>>;

/// Remembers an object just loaded (dropping records of objects now gone entirely).
pub(crate) fn record_object(
    rt: &Runtime,
    objects: &Objects,
    name: &str,
    elf: Vec<u8>,
    loaded: &LoadedObject,
) {
    let rec = ObjRecord {
        name: name.to_string(),
        elf: elf.into(),
        programs: loaded
            .programs
            .iter()
            .filter_map(|(n, h)| Some((n.clone(), Arc::downgrade(&rt.program(*h).ok()?))))
            .collect(),
        maps: loaded
            .maps
            .iter()
            .filter_map(|(n, h)| Some((n.clone(), Arc::downgrade(&rt.map(*h).ok()?))))
            .collect(),
    };
    let mut all = objects.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(ObjRecord::alive);
    all.push(rec);
}

#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    objects: Vec<SavedObject>,
    maps: Vec<SavedMap>,
}

#[derive(Serialize, Deserialize)]
struct SavedObject {
    name: String,
    elf: Vec<u8>,
    /// Pinned programs: (program name, pin path).
    programs: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct SavedMap {
    path: String,
    /// The saved object (index) and map name this map was loaded as.
    owner: Option<(u32, String)>,
    name: String,
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
    map_extra: u64,
    spin_lock_off: Option<u32>,
    timer_off: Option<u32>,
    frozen: bool,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Saves every pinned map and program of `rt` into `dir`.
pub fn save(rt: &Runtime, objects: &Objects, dir: &Path) -> io::Result<()> {
    let records = objects.lock().unwrap_or_else(|e| e.into_inner());
    let mut saved = Saved {
        format: FORMAT,
        objects: Vec::new(),
        maps: Vec::new(),
    };
    // Index in `saved.objects` of each record saved so far.
    let mut saved_idx: Vec<Option<u32>> = vec![None; records.len()];
    let pins = rt.pins();
    // Programs first, so that maps can name the saved object they belong to.
    for path in &pins {
        let Ok(h) = rt.obj_get(path) else { continue };
        if let Ok(Object::Program(p)) = rt.object(h) {
            let found = records.iter().enumerate().find_map(|(i, r)| {
                r.programs
                    .iter()
                    .find(|(_, w)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&p)))
                    .map(|(n, _)| (i, n.clone()))
            });
            match found {
                Some((i, name)) => {
                    let idx = *saved_idx[i].get_or_insert_with(|| {
                        saved.objects.push(SavedObject {
                            name: records[i].name.clone(),
                            elf: records[i].elf.to_vec(),
                            programs: Vec::new(),
                        });
                        saved.objects.len() as u32 - 1
                    });
                    saved.objects[idx as usize]
                        .programs
                        .push((name, path.clone()));
                }
                None => eprintln!(
                    "waggle daemon: {path}: program {} not saved (not loaded from an object)",
                    p.name
                ),
            }
        }
        let _ = rt.close(h);
    }
    for path in pins {
        let Ok(h) = rt.obj_get(&path) else { continue };
        if let Ok(Info::Map(m)) = rt.obj_get_info(h)
            && let Ok(entries) = rt.map_dump(h)
            && let Ok(map) = rt.map(h)
        {
            let owner = records.iter().enumerate().find_map(|(i, r)| {
                let idx = saved_idx[i]?;
                r.maps
                    .iter()
                    .find(|(_, w)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&map)))
                    .map(|(n, _)| (idx, n.clone()))
            });
            let spec = map.inner.spec();
            saved.maps.push(SavedMap {
                path,
                owner,
                name: m.name,
                map_type: m.map_type,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                flags: m.map_flags,
                map_extra: spec.map_extra,
                spin_lock_off: spec.spin_lock_off,
                timer_off: spec.timer_off,
                frozen: m.frozen,
                entries,
            });
        }
        let _ = rt.close(h);
    }
    drop(records);
    std::fs::create_dir_all(dir)?;
    let bytes = postcard::to_stdvec(&saved).map_err(io::Error::other)?;
    let tmp = dir.join(format!("{FILE}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, dir.join(FILE))
}

/// Reloads and re-pins the programs and maps saved in `dir` (nothing to do if there is no
/// state file). What cannot be restored is reported on stderr and skipped.
pub(crate) fn restore(rt: &Runtime, shared: &Shared, dir: &Path) -> io::Result<()> {
    let bytes = match std::fs::read(dir.join(FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let file = dir.join(FILE);
    // The format word comes first: check it before decoding the rest.
    let format = postcard::take_from_bytes::<u32>(&bytes).map(|(f, _)| f);
    if format != Ok(FORMAT) {
        return Err(bad(format!(
            "{}: not a state file of format {FORMAT}",
            file.display()
        )));
    }
    let saved: Saved =
        postcard::from_bytes(&bytes).map_err(|e| bad(format!("{}: {e}", file.display())))?;
    let mut loaded: Vec<Option<LoadedObject>> = Vec::new();
    for o in saved.objects {
        let opts = waggle_object::ParseOptions {
            name: &o.name,
            target_btf: None,
        };
        let obj = match waggle_object::Object::parse_with(&o.elf, &opts) {
            Ok(obj) => obj,
            Err(e) => {
                eprintln!("waggle daemon: restoring object {}: {e}", o.name);
                loaded.push(None);
                continue;
            }
        };
        let l = match rt.load_object(&obj, 0) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("waggle daemon: restoring object {}: {}", o.name, e.error);
                loaded.push(None);
                continue;
            }
        };
        for (name, path) in &o.programs {
            match l.program(name).map(|h| rt.obj_pin(h, path)) {
                Some(Ok(())) => {}
                Some(Err(e)) => eprintln!("waggle daemon: restoring {path}: {e}"),
                None => eprintln!("waggle daemon: restoring {path}: no program {name}"),
            }
        }
        register_btf(rt, &shared.btfs, obj.btf, &l.maps);
        record_object(rt, &shared.objects, &o.name, o.elf, &l);
        loaded.push(Some(l));
    }
    for m in saved.maps {
        // A map of a reloaded object: the programs use that one.
        let owned = m
            .owner
            .as_ref()
            .and_then(|(i, name)| loaded.get(*i as usize)?.as_ref()?.map(name));
        let h = match owned {
            Some(h) => h,
            None => {
                let Some(t) = waggle_maps::MapType::from_u32(m.map_type) else {
                    continue;
                };
                let mut spec =
                    waggle_maps::MapSpec::new(t, m.key_size, m.value_size, m.max_entries)
                        .with_flags(m.flags);
                spec.map_extra = m.map_extra;
                spec.spin_lock_off = m.spin_lock_off;
                spec.timer_off = m.timer_off;
                match rt.map_create(&MapCreate::new(spec, m.name.clone())) {
                    Ok(h) => h,
                    Err(e) => {
                        eprintln!("waggle daemon: restoring {}: {e}", m.path);
                        continue;
                    }
                }
            }
        };
        if let Ok(map) = rt.map(h) {
            for (k, v) in &m.entries {
                if let Err(e) = fill(&map.inner, k, v) {
                    eprintln!("waggle daemon: restoring {}: an entry: {e}", m.path);
                }
            }
            if m.frozen && !map.inner.is_frozen() {
                let _ = map.inner.freeze();
            }
        }
        if let Err(e) = rt.obj_pin(h, &m.path) {
            eprintln!("waggle daemon: restoring {}: {e}", m.path);
        }
        if owned.is_none() {
            let _ = rt.close(h);
        }
    }
    for l in loaded.into_iter().flatten() {
        l.close(rt);
    }
    Ok(())
}

/// Stores one saved entry, bypassing the user-space write checks (`BPF_F_RDONLY`): restoring
/// is the daemon putting back what was there, not a client writing.
fn fill(map: &waggle_maps::Map, k: &[u8], v: &[u8]) -> waggle_maps::Result<()> {
    use waggle_maps::MapKind;
    match map.kind() {
        MapKind::Array(a) => a.update(k, v, 0),
        MapKind::Hash(h) => h.update(k, v, 0),
        MapKind::LpmTrie(t) => t.update(k, v, 0),
        _ => map.update(k, v, 0),
    }
}
