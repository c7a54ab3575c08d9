//! `probe_read*`: "kernel" and "user" memory are the memory the run may access; a bad
//! address is not a run failure but `-EFAULT` with the destination zeroed, as in the kernel.

use super::{Body, Env, neg};
use waggle_uapi::errno;
use waggle_vm::{HelperContext, HelperError};

pub(super) static HELPERS: &[(u32, Body)] = &[
    (4, probe_read),
    (45, probe_read_str),
    (112, probe_read),
    (113, probe_read),
    (114, probe_read_str),
    (115, probe_read_str),
];

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
