//! `waggle inspect OBJ.o [--json]`: what an object holds, without loading it.

use super::{Failure, emit, failed, open_object};
use std::path::Path;

/// Print the object's summary: the table of `ObjectSummary`'s `Display`, or its JSON.
pub fn inspect(file: &Path, json: bool) -> Result<(), Failure> {
    let summary = open_object(file)?.summary();
    if json {
        let text = serde_json::to_string_pretty(&summary)
            .map_err(|e| failed(format!("{}: JSON output: {e}", file.display())))?;
        emit(&format!("{text}\n"))
    } else {
        emit(&summary.to_string())
    }
}
