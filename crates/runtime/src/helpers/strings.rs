//! String and checksum helpers: `strtol`, `strtoul`, `strncmp`, `snprintf`, `csum_diff`.

use super::misc::format_printk;
use super::{Body, Env, neg};
use waggle_uapi::errno;
use waggle_vm::{HelperContext, HelperError};

pub(super) static HELPERS: &[(u32, Body)] = &[
    (28, csum_diff),
    (105, strtol),
    (106, strtoul),
    (165, snprintf),
    (182, strncmp),
];

/// `BPF_STRTOX_BASE_MASK`.
const BASE_MASK: u64 = 0x1f;
/// `MAX_BPF_FUNC_VARARGS`: most arguments `bpf_snprintf` takes.
const MAX_VARARGS: u64 = 12;
/// Longest format string read (the kernel bounds it by the read-only map value).
const MAX_FMT: usize = 1024;

/// The kernel's `isspace` (its Latin-1 table also counts 0xa0).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0)
}

/// `__bpf_strtoull`: (characters consumed, value, negative) or a negative errno.
fn strtoull(buf: &[u8], flags: u64) -> Result<(u64, u64, bool), i32> {
    let mut base = (flags & BASE_MASK) as u32;
    if buf.is_empty() || !matches!(base, 0 | 8 | 10 | 16) || flags & !BASE_MASK != 0 {
        return Err(errno::EINVAL);
    }
    let mut i = buf.iter().take_while(|&&b| is_space(b)).count();
    let negative = buf.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    if i == buf.len() {
        return Err(errno::EINVAL);
    }
    // The kernel copies at most 63 bytes into a NUL-terminated buffer.
    let rest = &buf[i..buf.len().min(i + 63)];
    let nul = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let s = &rest[..nul];
    let at = |k: usize| s.get(k).copied().unwrap_or(0);
    // _parse_integer_fixup_radix
    if base == 0 {
        base = if at(0) == b'0' {
            if at(1).eq_ignore_ascii_case(&b'x') && at(2).is_ascii_hexdigit() {
                16
            } else {
                8
            }
        } else {
            10
        };
    }
    let mut k = 0;
    if base == 16 && at(0) == b'0' && at(1).eq_ignore_ascii_case(&b'x') {
        k = 2;
    }
    let prefix = k;
    // _parse_integer
    let mut value: u64 = 0;
    let mut overflow = false;
    while let Some(d) = (at(k) as char).to_digit(16).filter(|&d| d < base) {
        match value
            .checked_mul(u64::from(base))
            .and_then(|v| v.checked_add(u64::from(d)))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
        k += 1;
    }
    if overflow {
        return Err(errno::ERANGE);
    }
    if k == prefix {
        return Err(errno::EINVAL);
    }
    Ok(((i + k) as u64, value, negative))
}

/// `long bpf_strtol(buf, buf_len, flags, long *res)`.
fn strtol(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let buf = ctx.read(a[0], a[1] as usize)?.to_vec();
    let (n, v, negative) = match strtoull(&buf, a[2]) {
        Ok(r) => r,
        Err(e) => return Ok(neg(e)),
    };
    let v = if negative {
        if (v.wrapping_neg() as i64) > 0 {
            return Ok(neg(errno::ERANGE));
        }
        v.wrapping_neg()
    } else {
        if (v as i64) < 0 {
            return Ok(neg(errno::ERANGE));
        }
        v
    };
    ctx.write(a[3], &v.to_ne_bytes())?;
    Ok(n)
}

/// `long bpf_strtoul(buf, buf_len, flags, unsigned long *res)`.
fn strtoul(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let buf = ctx.read(a[0], a[1] as usize)?.to_vec();
    let (n, v, negative) = match strtoull(&buf, a[2]) {
        Ok(r) => r,
        Err(e) => return Ok(neg(e)),
    };
    if negative {
        return Ok(neg(errno::EINVAL));
    }
    ctx.write(a[3], &v.to_ne_bytes())?;
    Ok(n)
}

/// A NUL-terminated string at `addr`, at most `max` bytes before the NUL.
fn c_string(ctx: &HelperContext<'_>, addr: u64, max: usize) -> Result<Vec<u8>, HelperError> {
    let mut s = Vec::new();
    while s.len() < max {
        let b = ctx.read(addr.wrapping_add(s.len() as u64), 1)?[0];
        if b == 0 {
            return Ok(s);
        }
        s.push(b);
    }
    Err(HelperError::failed(format!(
        "string at {addr:#x} is not NUL-terminated within {max} bytes"
    )))
}

/// `long bpf_strncmp(s1, s1_sz, s2)`: the kernel's `strncmp(s1, s2, s1_sz)` (-1, 0 or 1);
/// `s2` is a read-only NUL-terminated string.
fn strncmp(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let n = a[1] as u32 as usize;
    let s1 = ctx.read(a[0], n)?.to_vec();
    for (i, &c1) in s1.iter().enumerate() {
        let c2 = ctx.read(a[2].wrapping_add(i as u64), 1)?[0];
        if c1 != c2 {
            return Ok(if c1 < c2 { -1i64 as u64 } else { 1 });
        }
        if c1 == 0 {
            break;
        }
    }
    Ok(0)
}

/// `long bpf_snprintf(str, str_size, fmt, data, data_len)`: `fmt` with the u64 arguments in
/// `data`, truncated to `str_size` bytes including the NUL; returns the length the whole
/// output needs, including the NUL.
fn snprintf(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (size, data_len) = (a[1] as u32 as usize, a[4] as u32 as u64);
    if data_len % 8 != 0 || data_len > MAX_VARARGS * 8 {
        return Ok(neg(errno::EINVAL));
    }
    let raw = ctx.read(a[3], data_len as usize)?;
    let args: Vec<u64> = raw
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let fmt = c_string(ctx, a[2], MAX_FMT)?;
    let fmt = String::from_utf8_lossy(&fmt).into_owned();
    let Ok(text) = format_printk(ctx, &fmt, &args) else {
        return Ok(neg(errno::EINVAL));
    };
    if size > 0 {
        let n = text.len().min(size - 1);
        let mut out = text.as_bytes()[..n].to_vec();
        out.push(0);
        ctx.write(a[0], &out)?;
    }
    Ok(text.len() as u64 + 1)
}

/// `csum_partial` as x86-64 computes it: the 32-bit one's-complement sum of the
/// native-endian 32-bit words of `buf` (a multiple of 4 bytes), added to `seed`.
fn csum_partial(buf: &[u8], seed: u32) -> u32 {
    let mut acc = u64::from(seed);
    for w in buf.chunks_exact(4) {
        acc += u64::from(u32::from_ne_bytes(w.try_into().expect("4 bytes")));
    }
    while acc >> 32 != 0 {
        acc = (acc & 0xffff_ffff) + (acc >> 32);
    }
    acc as u32
}

/// `csum_add` (32-bit one's-complement addition).
fn csum_add(a: u32, b: u32) -> u32 {
    let (r, carry) = a.overflowing_add(b);
    r.wrapping_add(u32::from(carry))
}

/// `csum_from32to16`.
fn from32to16(sum: u32) -> u64 {
    let sum = sum.wrapping_add(sum.rotate_left(16));
    u64::from(sum >> 16)
}

/// `s64 bpf_csum_diff(from, from_size, to, to_size, seed)` (Linux 6.12+): the checksum of
/// `to` minus that of `from`, plus `seed`, folded to 16 bits; sizes must be multiples of 4.
fn csum_diff(_: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (from_size, to_size) = (a[1] as u32, a[3] as u32);
    if (from_size | to_size) & 3 != 0 {
        return Ok(neg(errno::EINVAL));
    }
    let seed = a[4] as u32;
    let from = ctx.read(a[0], from_size as usize)?;
    let from_sum = |s| csum_partial(from, s);
    Ok(match (from_size != 0, to_size != 0) {
        (true, true) => {
            let f = from_sum(0);
            let t = csum_partial(ctx.read(a[2], to_size as usize)?, seed);
            from32to16(csum_add(t, !f))
        }
        (false, true) => from32to16(csum_partial(ctx.read(a[2], to_size as usize)?, seed)),
        (true, false) => from32to16(!from_sum(!seed)),
        (false, false) => u64::from(seed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoull_kernel_cases() {
        assert_eq!(strtoull(b"  123abc", 0), Ok((5, 123, false)));
        assert_eq!(strtoull(b"-0x1F", 0), Ok((5, 31, true)));
        assert_eq!(strtoull(b"0x", 16), Err(errno::EINVAL));
        assert_eq!(strtoull(b"017", 0), Ok((3, 15, false)));
        assert_eq!(strtoull(b"0xg", 0), Ok((1, 0, false)));
        assert_eq!(strtoull(b"99999999999999999999", 10), Err(errno::ERANGE));
        assert_eq!(strtoull(b"   ", 10), Err(errno::EINVAL));
        assert_eq!(strtoull(b"12", 7), Err(errno::EINVAL));
        assert_eq!(strtoull(b"12", 1 << 5), Err(errno::EINVAL));
        assert_eq!(strtoull(b"12\0 34", 10), Ok((2, 12, false)));
    }

    #[test]
    fn checksum_folding() {
        assert_eq!(csum_partial(&[0xff; 8], 0), 0xffff_ffff);
        assert_eq!(from32to16(0x0001_ffff), 0x0001);
        assert_eq!(csum_add(0xffff_ffff, 1), 1);
    }
}
