//! The one `unsafe` call: `syscall(SYS_bpf, cmd, attr, size)`.

use std::io;

/// Call `bpf(cmd, attr, sizeof attr)`; the kernel reads and may write `attr`.
#[cfg(target_os = "linux")]
pub(crate) fn bpf(cmd: u32, attr: &mut [u8; 128]) -> io::Result<i64> {
    // SAFETY: `attr` is a valid, writable 128-byte buffer for the duration of the call, and
    // the size passed is its length; every pointer stored in it (keys, values, insns, logs,
    // test data) was taken from a live Rust buffer of the length stored beside it, and those
    // buffers outlive this call (they are borrowed by the caller across it).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr.as_mut_ptr(),
            attr.len(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Not Linux: no `bpf()`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn bpf(_cmd: u32, _attr: &mut [u8; 128]) -> io::Result<i64> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "bpf() exists only on Linux",
    ))
}
