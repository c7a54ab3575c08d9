//! `--state DIR`: pinned maps' contents saved on clean shutdown and restored on start.
//!
//! One file, `DIR/pinned-maps.bin`: a postcard-encoded list of maps (path, attributes with
//! their flags, entries, frozen state). Read-only (`BPF_F_RDONLY`) and frozen maps are filled
//! through the map implementation, which user-space updates could not do, and then frozen
//! again. Programs are not saved (they are reloaded from their objects).

use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;
use waggle_runtime::{Info, MapCreate, Runtime};

const FILE: &str = "pinned-maps.bin";
/// Format of the file; a file of another format is refused rather than misread.
const FORMAT: u32 = 2;

#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    maps: Vec<SavedMap>,
}

#[derive(Serialize, Deserialize)]
struct SavedMap {
    path: String,
    name: String,
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
    map_extra: u64,
    spin_lock_off: Option<u32>,
    frozen: bool,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Saves every pinned map of `rt` into `dir`.
pub fn save(rt: &Runtime, dir: &Path) -> io::Result<()> {
    let mut saved = Vec::new();
    for path in rt.pins() {
        let Ok(h) = rt.obj_get(&path) else { continue };
        if let Ok(Info::Map(m)) = rt.obj_get_info(h)
            && let Ok(entries) = rt.map_dump(h)
            && let Ok(map) = rt.map(h)
        {
            let spec = map.inner.spec();
            saved.push(SavedMap {
                path,
                name: m.name,
                map_type: m.map_type,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                flags: m.map_flags,
                map_extra: spec.map_extra,
                spin_lock_off: spec.spin_lock_off,
                frozen: m.frozen,
                entries,
            });
        }
        let _ = rt.close(h);
    }
    std::fs::create_dir_all(dir)?;
    let saved = Saved {
        format: FORMAT,
        maps: saved,
    };
    let bytes = postcard::to_stdvec(&saved).map_err(io::Error::other)?;
    let tmp = dir.join(format!("{FILE}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, dir.join(FILE))
}

/// Recreates and pins the maps saved in `dir` (nothing to do if there is no state file).
/// A map that cannot be recreated is reported on stderr and skipped.
pub fn restore(rt: &Runtime, dir: &Path) -> io::Result<()> {
    let bytes = match std::fs::read(dir.join(FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let saved: Saved = postcard::from_bytes(&bytes)
        .map_err(|e| bad(format!("{}: {e}", dir.join(FILE).display())))?;
    if saved.format != FORMAT {
        return Err(bad(format!(
            "{}: state format {} (this daemon reads {FORMAT})",
            dir.join(FILE).display(),
            saved.format
        )));
    }
    for m in saved.maps {
        let Some(t) = waggle_maps::MapType::from_u32(m.map_type) else {
            continue;
        };
        let mut spec = waggle_maps::MapSpec::new(t, m.key_size, m.value_size, m.max_entries)
            .with_flags(m.flags);
        spec.map_extra = m.map_extra;
        spec.spin_lock_off = m.spin_lock_off;
        let h = match rt.map_create(&MapCreate::new(spec, m.name)) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("waggle daemon: restoring {}: {e}", m.path);
                continue;
            }
        };
        if let Ok(map) = rt.map(h) {
            for (k, v) in &m.entries {
                if let Err(e) = fill(&map.inner, k, v) {
                    eprintln!("waggle daemon: restoring {}: an entry: {e}", m.path);
                }
            }
            if m.frozen {
                let _ = map.inner.freeze();
            }
        }
        if let Err(e) = rt.obj_pin(h, &m.path) {
            eprintln!("waggle daemon: restoring {}: {e}", m.path);
        }
        let _ = rt.close(h);
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
