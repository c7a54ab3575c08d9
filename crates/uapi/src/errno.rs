//! Error numbers returned (negated) by `bpf()` commands and helpers.
//!
//! Values are Linux's generic numbers (`include/uapi/asm-generic/errno*.h`),
//! which x86-64 and arm64 use, plus the kernel-internal `ENOTSUPP` (524)
//! that BPF code leaks to user space.

macro_rules! errnos {
    ($($name:ident = $num:literal, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            pub const $name: i32 = $num;
        )*

        /// The symbolic name of a (positive) error number, e.g. `"ENOENT"`.
        pub const fn errno_name(errno: i32) -> Option<&'static str> {
            match errno {
                $($num => Some(stringify!($name)),)*
                _ => None,
            }
        }

        /// The error number for a symbolic name such as `"EINVAL"`.
        pub fn errno_from_name(name: &str) -> Option<i32> {
            match name {
                $(stringify!($name) => Some($num),)*
                _ => None,
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted.";
    ENOENT = 2, "No such entry (missing key, handle, pin).";
    ESRCH = 3, "No such process.";
    EINTR = 4, "Interrupted.";
    EIO = 5, "I/O error.";
    E2BIG = 7, "Argument too big (index beyond max_entries, map full).";
    ENOEXEC = 8, "Exec format error.";
    EBADF = 9, "Bad file descriptor (handle).";
    EAGAIN = 11, "Try again (ring buffer full, lock contended).";
    ENOMEM = 12, "Out of memory.";
    EACCES = 13, "Permission denied (verifier refusal for unprivileged loads).";
    EFAULT = 14, "Bad address.";
    EBUSY = 16, "Resource busy.";
    EEXIST = 17, "Entry exists (BPF_NOEXIST on an existing key).";
    ENODEV = 19, "No such device.";
    ENOTDIR = 20, "Not a directory.";
    EINVAL = 22, "Invalid argument.";
    EMFILE = 24, "Too many open files (handles).";
    ENOSPC = 28, "No space left (verifier log too small).";
    ERANGE = 34, "Result out of range.";
    EDEADLK = 35, "Deadlock would occur (timer cancelling itself).";
    ENAMETOOLONG = 36, "Name too long.";
    ENOSYS = 38, "Function not implemented.";
    ENOTEMPTY = 39, "Directory not empty.";
    ELOOP = 40, "Too many levels (nesting).";
    ENOMSG = 42, "No message of the desired type.";
    EBADRQC = 56, "Invalid request code (redirect to an unsupported map).";
    ENODATA = 61, "No data available.";
    EPROTO = 71, "Protocol error.";
    EOVERFLOW = 75, "Value too large for defined data type.";
    EOPNOTSUPP = 95, "Operation not supported (user-space visible).";
    EAFNOSUPPORT = 97, "Address family not supported.";
    EADDRNOTAVAIL = 99, "Address not available.";
    ENETUNREACH = 101, "Network unreachable.";
    ENOBUFS = 105, "No buffer space available.";
    ETIMEDOUT = 110, "Timed out.";
    ECANCELED = 125, "Operation canceled.";
    ENOTSUPP = 524, "Operation not supported (kernel-internal, leaks through bpf()).";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(errno_name(ENOENT), Some("ENOENT"));
        assert_eq!(errno_name(ENOTSUPP), Some("ENOTSUPP"));
        assert_eq!(errno_from_name("E2BIG"), Some(7));
        assert_eq!(errno_name(0), None);
        assert_eq!(EOPNOTSUPP, 95);
    }
}
