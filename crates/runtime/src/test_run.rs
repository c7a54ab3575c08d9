//! `BPF_PROG_TEST_RUN`: user data turned into the program type's context, as the kernel's
//! `bpf_prog_test_run_{xdp,skb,raw_tp}` do, the program run (`repeat` times), and the data
//! and context read back.
//!
//! - plain (`unspec`, Waggle's own type): r1 = the data, r2 = its length.
//! - xdp: the packet sits after 256 bytes of headroom in a 4 KiB frame; r1 = `struct xdp_md`.
//! - socket_filter, sched_cls, sched_act, cgroup_skb, lwt_*, sk_skb: r1 = `struct __sk_buff`
//!   with `len`, `protocol` (from the Ethernet header), `ifindex`, `data`/`data_end` (for the
//!   types that may read them) and `cb` from `ctx_in`; legacy packet loads read the packet.
//! - kprobe, tracepoint, raw_tracepoint, perf_event: r1 = `ctx_in` as given (pt_regs, the
//!   record, the args), zero-filled to the size of the type's context struct; no packet.

use crate::error::{Error, Result};
use crate::memory::LowBuffer;
use crate::runtime::Runtime;
use crate::table::Handle;
use std::time::Instant;
use waggle_uapi::{ProgramType, errno};
use waggle_vm::Region;

/// `BPF_PROG_TEST_RUN` arguments.
#[derive(Clone, Debug, Default)]
pub struct TestRun<'a> {
    /// The data or packet.
    pub data_in: &'a [u8],
    /// The context to start from (fields not given are zero), if any.
    pub ctx_in: Option<&'a [u8]>,
    /// Runs; the reported duration is the average (0 means 1).
    pub repeat: u32,
}

/// What a test run reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRunResult {
    /// r0 of the last run.
    pub retval: u64,
    /// The data or packet as the program left it.
    pub data_out: Vec<u8>,
    /// The context as the program left it.
    pub ctx_out: Vec<u8>,
    /// Average nanoseconds per run.
    pub duration_ns: u64,
}

/// XDP_PACKET_HEADROOM.
const XDP_HEADROOM: usize = 256;
/// One page per frame, as the kernel's test run uses.
const FRAME: usize = 4096;
/// Size of `struct xdp_md`.
const XDP_MD_SIZE: usize = 24;
/// Size of `struct __sk_buff`.
const SKB_SIZE: usize = 192;
const ETH_HLEN: usize = 14;

fn put32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

fn get32(buf: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
}

impl Runtime {
    /// `BPF_PROG_TEST_RUN`.
    pub fn prog_test_run(&self, program: Handle, t: &TestRun<'_>) -> Result<TestRunResult> {
        let p = self.program(program)?;
        let repeat = t.repeat.max(1);
        let fail = |e: waggle_vm::VmError| Error::new(errno::EFAULT, e.to_string());
        let start;
        let mut retval = 0;
        let (mut data_out, ctx_out);
        match p.prog_type {
            ProgramType::Unspec => {
                let mut data = t.data_in.to_vec();
                start = Instant::now();
                for _ in 0..repeat {
                    data.copy_from_slice(t.data_in);
                    let len = data.len() as u64;
                    let regions = if data.is_empty() {
                        vec![]
                    } else {
                        vec![Region::writable(&mut data)]
                    };
                    let r1 = regions.first().map_or(0, Region::addr);
                    retval = p.run([r1, len, 0, 0, 0], regions).map_err(fail)?;
                }
                data_out = data;
                ctx_out = Vec::new();
            }
            ProgramType::Xdp => {
                if t.data_in.len() > FRAME - XDP_HEADROOM - 320 {
                    return Err(Error::new(
                        errno::E2BIG,
                        "packet does not fit one 4 KiB XDP frame",
                    ));
                }
                let mut frame =
                    LowBuffer::new(FRAME).map_err(|e| Error::new(errno::ENOMEM, e.to_string()))?;
                let mut ctx = [0u8; XDP_MD_SIZE];
                start = Instant::now();
                for _ in 0..repeat {
                    let buf = frame.bytes_mut();
                    buf[XDP_HEADROOM..XDP_HEADROOM + t.data_in.len()].copy_from_slice(t.data_in);
                    ctx = [0u8; XDP_MD_SIZE];
                    if let Some(c) = t.ctx_in {
                        let n = c.len().min(XDP_MD_SIZE);
                        ctx[..n].copy_from_slice(&c[..n]);
                    }
                    let data = frame.addr32(XDP_HEADROOM);
                    put32(&mut ctx, 0, data);
                    put32(&mut ctx, 4, data + t.data_in.len() as u32);
                    put32(&mut ctx, 8, data);
                    // The frame's bounds, for the xdp_adjust_* helpers.
                    let xdp = crate::run_state::XdpFrame {
                        start: frame.addr32(0),
                        len: FRAME as u32,
                    };
                    let ctx_region = Region::writable(&mut ctx);
                    let r1 = ctx_region.addr();
                    let regions = vec![ctx_region, Region::writable(frame.bytes_mut())];
                    retval =
                        crate::run_state::with_xdp_frame(xdp, || p.run([r1, 0, 0, 0, 0], regions))
                            .map_err(fail)?;
                }
                let base = frame.addr32(0);
                let (d, e, m) = (
                    get32(&ctx, 0).wrapping_sub(base) as usize,
                    get32(&ctx, 4).wrapping_sub(base) as usize,
                    get32(&ctx, 8).wrapping_sub(base) as usize,
                );
                // As bpf_prog_test_run_xdp: the output starts at the metadata, if any.
                let d = if m <= d { m } else { d };
                let buf = frame.bytes_mut();
                data_out = if d <= e && e <= buf.len() {
                    buf[d..e].to_vec()
                } else {
                    Vec::new()
                };
                ctx_out = ctx.to_vec();
            }
            ProgramType::SocketFilter
            | ProgramType::SchedCls
            | ProgramType::SchedAct
            | ProgramType::CgroupSkb
            | ProgramType::LwtIn
            | ProgramType::LwtOut
            | ProgramType::LwtXmit
            | ProgramType::SkSkb => {
                let l2 = matches!(p.prog_type, ProgramType::SchedCls | ProgramType::SchedAct);
                let mut frame = LowBuffer::new(FRAME.max(t.data_in.len() + 512))
                    .map_err(|e| Error::new(errno::ENOMEM, e.to_string()))?;
                let mut ctx = [0u8; SKB_SIZE];
                start = Instant::now();
                for _ in 0..repeat {
                    let buf = frame.bytes_mut();
                    buf[..t.data_in.len()].copy_from_slice(t.data_in);
                    ctx = [0u8; SKB_SIZE];
                    if let Some(c) = t.ctx_in {
                        let n = c.len().min(SKB_SIZE);
                        ctx[..n].copy_from_slice(&c[..n]);
                    }
                    // Like eth_type_trans: non-L2 types see the packet from the network header.
                    let start_off = if l2 || t.data_in.len() < ETH_HLEN {
                        0
                    } else {
                        ETH_HLEN
                    };
                    let proto = if t.data_in.len() >= ETH_HLEN {
                        u16::from_ne_bytes([t.data_in[12], t.data_in[13]])
                    } else {
                        0
                    };
                    put32(&mut ctx, 0, (t.data_in.len() - start_off) as u32);
                    put32(&mut ctx, 16, u32::from(proto));
                    put32(&mut ctx, 40, 1);
                    let data = frame.addr32(start_off);
                    put32(&mut ctx, 76, data);
                    put32(&mut ctx, 80, frame.addr32(t.data_in.len()));
                    put32(&mut ctx, 140, data);
                    let packet_copy = frame.bytes_mut()[start_off..t.data_in.len()].to_vec();
                    let ctx_region = Region::writable(&mut ctx);
                    let r1 = ctx_region.addr();
                    let regions = vec![ctx_region, Region::writable(frame.bytes_mut())];
                    retval = p
                        .run_with_packet([r1, 0, 0, 0, 0], regions, &packet_copy)
                        .map_err(fail)?;
                }
                data_out = frame.bytes_mut()[..t.data_in.len()].to_vec();
                if !l2 && t.data_in.len() >= ETH_HLEN {
                    // Like bpf_prog_test_run_skb: the header pushed back for non-L2 types
                    // comes back zeroed.
                    data_out[..ETH_HLEN].fill(0);
                }
                ctx_out = ctx.to_vec();
            }
            _ => {
                let mut ctx = t.ctx_in.map(<[u8]>::to_vec).unwrap_or_default();
                let given = ctx.len();
                // The context is at least as big as the type's struct (zero-filled past what
                // was given): the verifier lets a program read all of it, and verified code
                // runs without bounds checks.
                let min = waggle_uapi::context(p.prog_type).map_or(64, |l| l.size as usize);
                if ctx.len() < min.max(64) {
                    ctx.resize(min.max(64), 0);
                }
                start = Instant::now();
                for _ in 0..repeat {
                    let region = Region::writable(&mut ctx);
                    let r1 = region.addr();
                    retval = p.run([r1, 0, 0, 0, 0], vec![region]).map_err(fail)?;
                }
                data_out = Vec::new();
                if given > 0 {
                    ctx.truncate(given);
                }
                ctx_out = ctx;
            }
        }
        let duration_ns = start.elapsed().as_nanos() as u64 / u64::from(repeat);
        Ok(TestRunResult {
            retval,
            data_out,
            ctx_out,
            duration_ns,
        })
    }
}
