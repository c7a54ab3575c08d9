//! Errors of the command API: an errno, as `bpf(2)` returns, and a message saying why.

use std::fmt;
use waggle_uapi::errno;

/// A failed command: the kernel's errno for the same failure and a plain message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The positive errno value (`ENOENT`, `EINVAL`, …).
    pub errno: i32,
    /// What went wrong.
    pub message: String,
}

impl Error {
    /// An error with this errno and message.
    pub fn new(errno: i32, message: impl Into<String>) -> Error {
        Error {
            errno,
            message: message.into(),
        }
    }

    /// `EINVAL`.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(errno::EINVAL, message)
    }

    /// `EBADF`: a handle that names nothing, or the wrong kind of object.
    pub fn bad_handle(handle: u32, want: &str) -> Error {
        Error::new(
            errno::EBADF,
            format!("handle {handle} is not an open {want}"),
        )
    }

    /// `ENOENT`.
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(errno::ENOENT, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.message,
            errno::errno_name(self.errno).unwrap_or("errno")
        )?;
        write!(f, " [errno {}]", self.errno)
    }
}

impl std::error::Error for Error {}

impl From<waggle_maps::MapError> for Error {
    fn from(e: waggle_maps::MapError) -> Error {
        Error::new(e.errno(), e.to_string())
    }
}

/// The result of a command.
pub type Result<T, E = Error> = std::result::Result<T, E>;
