//! `probe_read*`: "kernel" and "user" memory are the memory the run may access; a bad
//! address is not a run failure but `-EFAULT` with the destination zeroed, as in the kernel.
//! When the event happened in another process (a traced one, see
//! `run_state::with_current_task`), user memory is that process's and `probe_read_user*` read
//! it; the legacy `probe_read*` keep reading the run's memory.

use super::{Body, Env, neg};
use crate::run_state::{self, UserMemory};
use waggle_uapi::errno;
use waggle_vm::{HelperContext, HelperError};

pub(super) static HELPERS: &[(u32, Body)] = &[
    (4, probe_read),
    (45, probe_read_str),
    (112, probe_read_user),
    (113, probe_read),
    (114, probe_read_user_str),
    (115, probe_read_str),
];

/// The current task's memory, when the event happened in another process.
fn task_memory() -> Option<std::sync::Arc<dyn UserMemory>> {
    run_state::current_task()?.memory
}

/// `long bpf_probe_read_user(dst, size, unsafe_ptr)`.
fn probe_read_user(e: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let Some(mem) = task_memory() else {
        return probe_read(e, ctx, a);
    };
    let size = a[1] as u32 as usize;
    let mut buf = vec![0u8; size];
    if mem.read(a[2], &mut buf) {
        ctx.write(a[0], &buf)?;
        Ok(0)
    } else {
        ctx.write(a[0], &vec![0u8; size])?;
        Ok(neg(errno::EFAULT))
    }
}

/// `long bpf_probe_read_user_str(dst, size, unsafe_ptr)`: from the traced process, in
/// chunks that do not cross a page (the string may end just before an unmapped page).
fn probe_read_user_str(
    e: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let Some(mem) = task_memory() else {
        return probe_read_str(e, ctx, a);
    };
    let size = a[1] as u32 as usize;
    if size == 0 {
        return Ok(0);
    }
    let mut out: Vec<u8> = Vec::with_capacity(size);
    let mut addr = a[2];
    while out.len() < size - 1 {
        let to_page = 4096 - (addr % 4096) as usize;
        let n = to_page.min(size - 1 - out.len());
        let mut chunk = vec![0u8; n];
        if !mem.read(addr, &mut chunk) {
            ctx.write(a[0], &vec![0u8; size])?;
            return Ok(neg(errno::EFAULT));
        }
        if let Some(z) = chunk.iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..z]);
            break;
        }
        out.extend_from_slice(&chunk);
        addr = addr.wrapping_add(n as u64);
    }
    out.push(0);
    ctx.write(a[0], &out)?;
    Ok(out.len() as u64)
}

/// `long bpf_probe_read{,_user,_kernel}(dst, size, unsafe_ptr)`.
fn probe_read(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let size = a[1] as u32 as usize;
    match ctx.read(a[2], size) {
        Ok(src) => {
            let data = src.to_vec();
            ctx.write(a[0], &data)?;
            Ok(0)
        }
        Err(_) => {
            ctx.write(a[0], &vec![0u8; size])?;
            Ok(neg(errno::EFAULT))
        }
    }
}

/// `long bpf_probe_read{,_user,_kernel}_str(dst, size, unsafe_ptr)`: copies up to
/// `size - 1` bytes up to a NUL, NUL-terminates, returns the length including the NUL.
fn probe_read_str(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let size = a[1] as u32 as usize;
    if size == 0 {
        return Ok(0);
    }
    let mut out = Vec::with_capacity(size);
    let mut fault = false;
    while out.len() < size - 1 {
        match ctx.read(a[2].wrapping_add(out.len() as u64), 1) {
            Ok(&[0]) => break,
            Ok(b) => out.push(b[0]),
            Err(_) => {
                fault = true;
                break;
            }
        }
    }
    if fault {
        ctx.write(a[0], &vec![0u8; size])?;
        return Ok(neg(errno::EFAULT));
    }
    out.push(0);
    ctx.write(a[0], &out)?;
    Ok(out.len() as u64)
}
