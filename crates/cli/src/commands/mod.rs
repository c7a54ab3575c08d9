//! The subcommands that work on ELF objects, one module each, and what they share: the
//! failure type that maps to an exit code, reading files, and opening objects.

pub mod attach;
pub mod daemon;
pub mod disasm;
pub mod inspect;
pub mod link;
pub mod map;
pub mod pin;
pub mod prog;
pub mod ringbuf;
pub mod run;
pub mod trace;
pub mod values;
pub mod verify;

use std::path::Path;
use waggle_object::{Object, ParseOptions};

/// A failure and the exit code it maps to: 2 for unusable input, 1 for a failed run.
pub struct Failure {
    /// The process exit code.
    pub code: u8,
    /// What `waggle:` prints on stderr.
    pub message: String,
}

/// Unusable input (bad file, bad flag value): exit code 2.
pub fn usage(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 2,
        message: message.to_string(),
    }
}

/// A run or load that failed on good input: exit code 1.
pub fn failed(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 1,
        message: message.to_string(),
    }
}

/// Read a whole file; any I/O error is unusable input.
pub fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| usage(format!("{}: {e}", path.display())))
}

/// Whether `bytes` start with the ELF magic (how `disasm` tells objects from raw bytecode,
/// whatever the file's extension).
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Parse an ELF object; every parse error is `FILE: reason` with exit code 2.
pub fn open_object(path: &Path) -> Result<Object, Failure> {
    let bytes = read(path)?;
    parse_object(path, &bytes)
}

/// Parse an object already read; named after the file as libbpf names it.
pub fn parse_object(path: &Path, bytes: &[u8]) -> Result<Object, Failure> {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = file.split('.').next().unwrap_or("");
    let opts = ParseOptions {
        name,
        target_btf: None,
    };
    Object::parse_with(bytes, &opts).map_err(|e| usage(format!("{}: {e}", path.display())))
}

/// Write a command's output to stdout. A closed pipe (`waggle disasm x.o | head`) ends the
/// output quietly instead of panicking as `print!` does.
pub fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(failed(format!("writing output: {e}")))
        }
        _ => Ok(()),
    }
}

/// Bytes as contiguous lowercase hex (JSON output: one token per value).
pub fn hex_compact(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hex dump, 16 bytes per line with the offset first, each line indented by `indent`.
pub fn hex_dump(bytes: &[u8], indent: &str) -> String {
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        out.push_str(&format!(
            "{indent}{:04x}: {}\n",
            i * 16,
            waggle_cli::to_hex(chunk)
        ));
    }
    out
}
