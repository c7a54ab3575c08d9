//! The error type of every map operation, each variant tied to the errno the kernel returns.

/// Why a map operation failed, mirroring the errno Linux returns for the same request.
///
/// [`MapError::errno`] gives the (positive) errno value so the command layer can hand it back
/// exactly as `bpf(2)` would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// `ENOENT`: no element for that key, an empty queue, or iteration past the last key.
    #[error("no such element (ENOENT)")]
    NotFound,
    /// `EEXIST`: `BPF_NOEXIST` on a key that is present (or on an array slot, which always is).
    #[error("element already exists (EEXIST)")]
    Exists,
    /// `E2BIG`: the map is full, the index is out of range, or a size is beyond the limit.
    #[error("map full, index out of range or size too big (E2BIG)")]
    TooBig,
    /// `EINVAL`: a malformed request; the text says which rule it broke.
    #[error("invalid argument (EINVAL): {0}")]
    Invalid(&'static str),
    /// `ENOMEM`: the storage could not be allocated, or an LRU map found nothing to evict.
    #[error("out of memory (ENOMEM)")]
    NoMemory,
    /// `EPERM`: a write to a frozen or read-only map, or a read of a write-only one.
    #[error("operation not permitted (EPERM): {0}")]
    PermissionDenied(&'static str),
    /// `ENOSPC`: no room left (a full LPM trie, a full perf buffer, a too small batch).
    #[error("no space left (ENOSPC)")]
    NoSpace,
    /// `EBUSY`: the map is already frozen, or a lock could not be taken.
    #[error("resource busy (EBUSY)")]
    Busy,
    /// `ENOTSUPP` (524, kernel-internal): the map type does not implement this operation.
    #[error("operation not supported by this map type (ENOTSUPP)")]
    NotSupported,
    /// `EOPNOTSUPP` (95): the operation is not supported (bloom filter delete/pop, ...).
    #[error("operation not supported (EOPNOTSUPP)")]
    OpNotSupported,
    /// `EBADF`: a handle stored into an object-reference map does not name a usable object.
    #[error("bad handle (EBADF)")]
    BadHandle,
    /// `EAGAIN`: transient failure, e.g. `bpf_ringbuf_output` found no room.
    #[error("try again (EAGAIN)")]
    TryAgain,
}

impl MapError {
    /// The positive errno value Linux uses for this error (`ENOTSUPP` is 524, as in the kernel).
    pub fn errno(&self) -> i32 {
        match self {
            MapError::NotFound => 2,
            MapError::Exists => 17,
            MapError::TooBig => 7,
            MapError::Invalid(_) => 22,
            MapError::NoMemory => 12,
            MapError::PermissionDenied(_) => 1,
            MapError::NoSpace => 28,
            MapError::Busy => 16,
            MapError::NotSupported => 524,
            MapError::OpNotSupported => 95,
            MapError::BadHandle => 9,
            MapError::TryAgain => 11,
        }
    }
}

/// Result of a map operation.
pub type Result<T, E = MapError> = std::result::Result<T, E>;
