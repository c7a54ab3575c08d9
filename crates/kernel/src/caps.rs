//! Loading as a loader with `CAP_BPF` but without `CAP_PERFMON` and `CAP_SYS_ADMIN`: Linux
//! then verifies with `bpf_capable` but without `allow_ptr_leaks`, `allow_uninit_stack` and
//! the Spectre bypasses, its "unprivileged" rules as far as `unprivileged_bpf_disabled` lets
//! anything without `CAP_BPF` load at all. Capabilities belong to a thread, so the work runs
//! on a fresh thread whose capabilities are dropped; the caller's stay as they were, and no
//! sysctl is touched.

use std::io;

/// `CAP_SYS_ADMIN`.
const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_PERFMON`.
const CAP_PERFMON: u32 = 38;
/// `_LINUX_CAPABILITY_VERSION_3`.
const VERSION_3: u32 = 0x2008_0522;

/// `capget`/`capset` on the calling thread: (effective, permitted, inheritable) × 2 words.
#[cfg(target_os = "linux")]
fn caps(set: Option<&[u32; 6]>) -> io::Result<[u32; 6]> {
    let mut header = [VERSION_3, 0u32];
    let mut data = set.copied().unwrap_or([0; 6]);
    let nr = if set.is_some() {
        libc::SYS_capset
    } else {
        libc::SYS_capget
    };
    // SAFETY: `header` is a valid `struct __user_cap_header_struct` (version 3, pid 0 = this
    // thread) and `data` two `struct __user_cap_data_struct` (three u32 each), as version 3
    // requires; both live across the call, and capget writes only into `data`.
    let r = unsafe { libc::syscall(nr, header.as_mut_ptr(), data.as_mut_ptr()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(data)
    }
}

#[cfg(not(target_os = "linux"))]
fn caps(_set: Option<&[u32; 6]>) -> io::Result<[u32; 6]> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "capabilities exist only on Linux",
    ))
}

/// Run `f` on a new thread that has dropped `CAP_PERFMON` and `CAP_SYS_ADMIN` (effective and
/// permitted, so it cannot take them back). `CAP_BPF` must be held, or Linux refuses `bpf()`
/// while `unprivileged_bpf_disabled` is set; `CAP_NET_ADMIN` is kept, since the verifier never
/// looks at it and networking program types need it to load. File descriptors are shared by
/// every thread, so what `f` creates outlives it.
pub fn without_perfmon<T: Send>(f: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut c = caps(None)?;
            for cap in [CAP_SYS_ADMIN, CAP_PERFMON] {
                let (word, bit) = ((cap / 32) as usize * 3, 1u32 << (cap % 32));
                c[word] &= !bit; // effective
                c[word + 1] &= !bit; // permitted
            }
            caps(Some(&c))?;
            Ok(f())
        })
        .join()
        .map_err(|_| io::Error::other("the thread without CAP_PERFMON panicked"))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_is_per_thread() {
        let Ok(before) = caps(None) else {
            eprintln!("SKIPPED: capget refused here");
            return;
        };
        match without_perfmon(|| caps(None)) {
            Ok(Ok(inner)) => {
                let bit = 1u32 << (CAP_SYS_ADMIN % 32);
                assert_eq!(inner[0] & bit, 0, "CAP_SYS_ADMIN still effective");
                assert_eq!(inner[3] & (1 << (CAP_PERFMON % 32)), 0);
            }
            other => eprintln!("SKIPPED: capset refused here: {other:?}"),
        }
        assert_eq!(
            caps(None).unwrap(),
            before,
            "the caller's capabilities changed"
        );
    }
}
