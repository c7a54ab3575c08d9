//! Time, randomness, CPU and trace helpers.

use super::{Body, Env};
use crate::run_state::current_cpu;
use std::sync::OnceLock;
use std::time::Instant;
use waggle_vm::{HelperContext, HelperError};

pub(super) static HELPERS: &[(u32, Body)] = &[
    (5, ktime_get_ns),
    (6, trace_printk),
    (7, get_prandom_u32),
    (8, get_smp_processor_id),
    (42, get_numa_node_id),
    (118, jiffies64),
    (125, ktime_get_ns),
    (160, ktime_get_ns),
];

/// Monotonic nanoseconds since the first call in this process (like CLOCK_MONOTONIC's
/// arbitrary epoch).
pub(crate) fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// `u64 bpf_ktime_get_ns(void)` (also `_boot_ns` and `_coarse_ns`).
fn ktime_get_ns(_: &Env, _: &mut HelperContext<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    Ok(now_ns())
}

/// `u64 bpf_jiffies64(void)`: ticks of a 250 Hz clock (CONFIG_HZ=250, Debian's).
fn jiffies64(_: &Env, _: &mut HelperContext<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    Ok(now_ns() / 4_000_000)
}

/// `u32 bpf_get_prandom_u32(void)`: a per-thread xorshift generator.
fn get_prandom_u32(_: &Env, _: &mut HelperContext<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    Ok(prandom_u32())
}

/// The next number of this thread's xorshift generator, in the low 32 bits.
pub(super) fn prandom_u32() -> u64 {
    use std::cell::Cell;
    thread_local!(static STATE: Cell<u64> = Cell::new(now_ns() | 1));
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x >> 32
    })
}

/// `u32 bpf_get_smp_processor_id(void)`.
fn get_smp_processor_id(
    _: &Env,
    _: &mut HelperContext<'_>,
    _: [u64; 5],
) -> Result<u64, HelperError> {
    Ok(current_cpu().into())
}

/// `long bpf_get_numa_node_id(void)`: one node.
fn get_numa_node_id(_: &Env, _: &mut HelperContext<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    Ok(0)
}

/// `long bpf_trace_printk(fmt, fmt_size, arg1, arg2, arg3)`: the kernel's restricted printf
/// (`%d %i %u %x %ld %lu %lx %lld %llu %llx %p %s %c %%`, at most three arguments) to the
/// trace pipe. Returns the number of bytes written.
fn trace_printk(env: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let size = a[1] as usize;
    if size == 0 || size > 1024 {
        return Ok(super::neg(waggle_uapi::errno::EINVAL));
    }
    let raw = ctx.read(a[0], size)?.to_vec();
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let fmt = String::from_utf8_lossy(&raw[..end]).into_owned();
    let line = format_printk(ctx, &fmt, &a[2..5])?;
    let n = line.len() as u64;
    env.trace.push(line.trim_end_matches('\n').to_string());
    Ok(n)
}

/// Format a `bpf_trace_printk`/`bpf_snprintf` style string.
pub(crate) fn format_printk(
    ctx: &HelperContext<'_>,
    fmt: &str,
    args: &[u64],
) -> Result<String, HelperError> {
    let mut out = String::new();
    let mut args = args.iter().copied();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            spec.push(n);
            chars.next();
            if n.is_ascii_alphabetic() && n != 'l' && n != 'h' || n == '%' {
                break;
            }
        }
        let conv = spec.chars().last().unwrap_or('%');
        if conv == '%' {
            out.push('%');
            continue;
        }
        let v = args
            .next()
            .ok_or_else(|| HelperError::failed("trace_printk: more conversions than arguments"))?;
        let long = spec.contains('l');
        match conv {
            'd' | 'i' if long => out.push_str(&(v as i64).to_string()),
            'd' | 'i' => out.push_str(&(v as i32).to_string()),
            'u' if long => out.push_str(&v.to_string()),
            'u' => out.push_str(&(v as u32).to_string()),
            'x' if long => out.push_str(&format!("{v:x}")),
            'x' => out.push_str(&format!("{:x}", v as u32)),
            'X' => out.push_str(&format!("{v:X}")),
            'p' => out.push_str(&format!("0x{v:x}")),
            'c' => out.push(char::from(v as u8)),
            's' => {
                let mut s = Vec::new();
                let mut addr = v;
                while s.len() < 256 {
                    let b = ctx.read(addr, 1)?[0];
                    if b == 0 {
                        break;
                    }
                    s.push(b);
                    addr += 1;
                }
                out.push_str(&String::from_utf8_lossy(&s));
            }
            _ => {
                return Err(HelperError::failed(format!(
                    "trace_printk: unsupported conversion %{spec}"
                )));
            }
        }
    }
    Ok(out)
}
