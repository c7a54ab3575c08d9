//! Errors of object parsing: every malformed input ends here, never in a panic.

use crate::btf::BtfError;

/// Why a BPF ELF object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path given.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The input is not an ELF file, or its headers are inconsistent.
    #[error("malformed ELF: {0}")]
    Elf(String),
    /// The ELF file is not a 64-bit little-endian BPF relocatable object.
    #[error("not a BPF object: {0}")]
    NotBpf(String),
    /// The object is big-endian (`-target bpfeb`); only little-endian objects are supported.
    #[error("big-endian BPF objects (bpfeb) are not supported; rebuild with -target bpf or bpfel")]
    BigEndian,
    /// A section's contents are inconsistent.
    #[error("section {section}: {reason}")]
    Section {
        /// The section name (or `#index` when it has none).
        section: String,
        /// What is wrong.
        reason: String,
    },
    /// An instruction in a program section could not be decoded.
    #[error("section {section}: insn {slot}: {error}")]
    Decode {
        /// The section name.
        section: String,
        /// The slot index within the section.
        slot: usize,
        /// What the decoder found.
        error: waggle_isa::DecodeError,
    },
    /// A relocation could not be applied.
    #[error("section {section}: insn {slot}: relocation against '{symbol}': {reason}")]
    Relocation {
        /// The section the relocated instruction is in.
        section: String,
        /// The slot index within the section.
        slot: usize,
        /// The relocation's symbol name.
        symbol: String,
        /// What is wrong.
        reason: String,
    },
    /// A map definition is invalid.
    #[error("map '{map}': {reason}")]
    Map {
        /// The map's name.
        map: String,
        /// What is wrong.
        reason: String,
    },
    /// Linking a program with its subprograms failed.
    #[error("program '{program}': {reason}")]
    Link {
        /// The program's name.
        program: String,
        /// What is wrong.
        reason: String,
    },
    /// The `.BTF` section (or a target BTF) is malformed.
    #[error("BTF: {0}")]
    Btf(#[from] BtfError),
    /// The `.BTF.ext` section is malformed.
    #[error("BTF.ext: {0}")]
    BtfExt(String),
    /// A CO-RE relocation could not be applied.
    #[error("section {section}: insn {slot}: CO-RE relocation #{index}: {reason}")]
    Core {
        /// The section the relocated instruction is in.
        section: String,
        /// The slot index within the section.
        slot: usize,
        /// The relocation's index within that section's records.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The object is larger than this loader accepts.
    #[error("object too large: {0}")]
    TooLarge(String),
}

impl ObjectError {
    pub(crate) fn section(section: impl Into<String>, reason: impl Into<String>) -> Self {
        ObjectError::Section {
            section: section.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn map(map: impl Into<String>, reason: impl Into<String>) -> Self {
        ObjectError::Map {
            map: map.into(),
            reason: reason.into(),
        }
    }
}

impl From<object::read::Error> for ObjectError {
    fn from(e: object::read::Error) -> Self {
        ObjectError::Elf(e.to_string())
    }
}
