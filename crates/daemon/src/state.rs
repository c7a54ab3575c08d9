//! `--state DIR`: pinned maps' contents saved on clean shutdown and restored on start.
//!
//! One file, `DIR/pinned-maps.bin`: a postcard-encoded list of maps (path, attributes,
//! entries). Programs are not saved (they are reloaded from their objects).

use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;
use waggle_runtime::{Info, MapCreate, Runtime};

const FILE: &str = "pinned-maps.bin";

#[derive(Serialize, Deserialize)]
struct SavedMap {
    path: String,
    name: String,
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Saves every pinned map of `rt` into `dir`.
pub fn save(rt: &Runtime, dir: &Path) -> io::Result<()> {
    let mut saved = Vec::new();
    for path in rt.pins() {
        let Ok(h) = rt.obj_get(&path) else { continue };
        if let Ok(Info::Map(m)) = rt.obj_get_info(h)
            && let Ok(entries) = rt.map_dump(h)
        {
            saved.push(SavedMap {
                path,
                name: m.name,
                map_type: m.map_type,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                flags: m.map_flags,
                entries,
            });
        }
        let _ = rt.close(h);
    }
    std::fs::create_dir_all(dir)?;
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
    let saved: Vec<SavedMap> =
        postcard::from_bytes(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    for m in saved {
        let Some(t) = waggle_maps::MapType::from_u32(m.map_type) else {
            continue;
        };
        let spec = waggle_maps::MapSpec::new(t, m.key_size, m.value_size, m.max_entries)
            .with_flags(m.flags & !waggle_maps::flags::BPF_F_RDONLY);
        let h = match rt.map_create(&MapCreate::new(spec, m.name)) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("waggle daemon: restoring {}: {e}", m.path);
                continue;
            }
        };
        for (k, v) in &m.entries {
            let _ = rt.map_update_elem(h, k, v, 0);
        }
        if let Err(e) = rt.obj_pin(h, &m.path) {
            eprintln!("waggle daemon: restoring {}: {e}", m.path);
        }
        let _ = rt.close(h);
    }
    Ok(())
}
