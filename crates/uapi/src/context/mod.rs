//! Context layouts: what r1 points to at program entry, per program type,
//! and which accesses the kernel's `*_is_valid_access` functions allow.
//!
//! Offsets are those of `include/uapi/linux/bpf.h` (checked by compiling the
//! headers with `offsetof`). Access rules follow `net/core/filter.c`
//! (`bpf_skb_is_valid_access`, `sk_filter_is_valid_access`,
//! `tc_cls_act_is_valid_access`, `xdp_is_valid_access`, …) and
//! `kernel/trace/bpf_trace.c` (`kprobe_prog_is_valid_access`,
//! `tp_prog_is_valid_access`, `pe_prog_is_valid_access`,
//! `bpf_tracing_ctx_access`).
//!
//! Simplifications (towards allowing, as for helpers): a loader with CAP_BPF
//! is assumed (cgroup_skb `data`/`data_end`, `tstamp` writes); the expected
//! attach type is ignored, so fields valid for *some* attach type are valid
//! (xdp `egress_ifindex`, bpf_sock `src_*`, bpf_sock_addr `user_ip4` vs
//! `user_ip6`, `msg_src_ip*`); tracing/LSM programs, whose context is typed
//! by BTF, get the raw `u64 args[]` layout of raw tracepoints.

mod others;
mod skb;

use crate::ProgramType;
use thiserror::Error;

/// What a context field holds, i.e. the register type a load produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtxFieldKind {
    /// A number.
    Scalar,
    /// Start of packet data (`PTR_TO_PACKET`).
    PacketData,
    /// One past the end of packet data (`PTR_TO_PACKET_END`).
    PacketEnd,
    /// Start of packet metadata, before `data` (`PTR_TO_PACKET_META`).
    PacketMeta,
    /// `struct bpf_sock *` that may be NULL (`__sk_buff.sk`, `PTR_TO_SOCK_COMMON_OR_NULL`).
    PtrToSockCommonOrNull,
    /// A full socket, never NULL (`bpf_sock_addr.sk`, `sk_msg_md.sk`).
    PtrToSocket,
    /// A full socket or NULL (`bpf_sock_ops.sk`).
    PtrToSocketOrNull,
    /// `struct bpf_flow_keys *` (flow dissector, `PTR_TO_FLOW_KEYS`).
    FlowKeys,
}

/// One field of a context struct with its access rights for one program type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtxField {
    /// Field name as in `bpf.h` (array elements as `name[i]`).
    pub name: &'static str,
    /// Byte offset in the struct.
    pub offset: u32,
    /// Size in bytes (the "default" access size).
    pub size: u32,
    /// What a load of the whole field yields.
    pub kind: CtxFieldKind,
    /// The program type may read it.
    pub read: bool,
    /// The program type may write it (always with an access of `size` bytes,
    /// unless `any_size`).
    pub write: bool,
    /// Reads narrower than `size` (1, 2, … bytes, naturally aligned) are
    /// allowed (`bpf_ctx_narrow_access_ok`).
    pub narrow_read_ok: bool,
    /// Any naturally aligned access of 1, 2, 4 or 8 bytes inside the field is
    /// allowed, for reads and (if `write`) writes: `__sk_buff.cb[]`.
    pub any_size: bool,
}

/// How accesses outside the listed fields are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessModel {
    /// Only the listed fields, with their flags.
    Fields,
    /// Any naturally aligned read in `[start, size)`, no writes (pt_regs,
    /// tracepoint records, raw tracepoint args). Fields are informative.
    AlignedReadOnly {
        /// First readable offset (tracepoints hide 8 bytes of header).
        start: u32,
    },
    /// No context struct: Waggle's plain type, r1 = pointer to the data
    /// (readable and writable, length r2), r2 = length.
    Plain,
}

/// A context struct as a program type sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextLayout {
    /// C name of the struct (`"__sk_buff"`, `"xdp_md"`, …).
    pub name: &'static str,
    /// `sizeof` the struct; accesses at or beyond it are refused.
    pub size: u32,
    /// Fields, sorted by offset, not overlapping.
    pub fields: &'static [CtxField],
    /// How accesses are judged.
    pub access: AccessModel,
    /// `(start, len)` byte ranges where 8-byte aligned accesses spanning two
    /// 4-byte elements are allowed (`bpf_ctx_wide_access_ok`: `user_ip6`,
    /// `msg_src_ip6`), with the rights of the elements.
    pub wide: &'static [(u32, u32)],
}

/// Why a context access is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CtxAccessError {
    /// Offset negative or access extends past the struct.
    #[error("offset {off} size {size} is outside the {limit}-byte context")]
    OutOfBounds {
        /// Requested offset.
        off: i64,
        /// Requested size.
        size: u32,
        /// Size of the context.
        limit: u32,
    },
    /// Offset not a multiple of the access size.
    #[error("misaligned context access: offset {off} size {size}")]
    Misaligned {
        /// Requested offset.
        off: i64,
        /// Requested size.
        size: u32,
    },
    /// No field at that offset (padding).
    #[error("no context field at offset {off}")]
    NoField {
        /// Requested offset.
        off: i64,
    },
    /// Field exists but this program type may not read it.
    #[error("field `{field}` is not readable by this program type")]
    NotReadable {
        /// Field name.
        field: &'static str,
    },
    /// Field exists but this program type may not write it.
    #[error("field `{field}` is not writable by this program type")]
    NotWritable {
        /// Field name.
        field: &'static str,
    },
    /// Access size not allowed for the field.
    #[error("field `{field}` cannot be accessed with size {size}")]
    BadSize {
        /// Field name.
        field: &'static str,
        /// Requested size.
        size: u32,
    },
    /// The program type has no context struct (plain type).
    #[error("this program type has no context struct")]
    NoContext,
}

impl ContextLayout {
    /// The field containing byte `off`.
    pub fn field_at(&self, off: u32) -> Option<&'static CtxField> {
        self.fields
            .iter()
            .find(|f| off >= f.offset && off < f.offset + f.size)
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&'static CtxField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Judges a load (`write == false`) or store of `size` bytes at `off`,
    /// returning what the load yields.
    pub fn check_access(
        &self,
        off: i64,
        size: u32,
        write: bool,
    ) -> Result<CtxFieldKind, CtxAccessError> {
        if self.access == AccessModel::Plain {
            return Err(CtxAccessError::NoContext);
        }
        let oob = CtxAccessError::OutOfBounds {
            off,
            size,
            limit: self.size,
        };
        if !matches!(size, 1 | 2 | 4 | 8) || off < 0 || off + i64::from(size) > i64::from(self.size)
        {
            return Err(oob);
        }
        if off % i64::from(size) != 0 {
            return Err(CtxAccessError::Misaligned { off, size });
        }
        let uoff = off as u32; // in [0, self.size) by the bounds check
        if let AccessModel::AlignedReadOnly { start } = self.access {
            if uoff < start {
                return Err(oob);
            }
            if write {
                let field = self.field_at(uoff).map_or("context", |f| f.name);
                return Err(CtxAccessError::NotWritable { field });
            }
            return Ok(CtxFieldKind::Scalar);
        }
        if size == 8
            && self
                .wide
                .iter()
                .any(|&(s, l)| uoff >= s && uoff + 8 <= s + l)
        {
            return self.check_wide(uoff, write);
        }
        let f = self.field_at(uoff).ok_or(CtxAccessError::NoField { off })?;
        if uoff + size > f.offset + f.size {
            return Err(CtxAccessError::BadSize {
                field: f.name,
                size,
            });
        }
        if write {
            if !f.write {
                return Err(CtxAccessError::NotWritable { field: f.name });
            }
            if size != f.size && !f.any_size {
                return Err(CtxAccessError::BadSize {
                    field: f.name,
                    size,
                });
            }
            return Ok(f.kind);
        }
        if !f.read {
            return Err(CtxAccessError::NotReadable { field: f.name });
        }
        if size == f.size || f.any_size || (f.narrow_read_ok && f.kind == CtxFieldKind::Scalar) {
            Ok(f.kind)
        } else {
            Err(CtxAccessError::BadSize {
                field: f.name,
                size,
            })
        }
    }

    fn check_wide(&self, off: u32, write: bool) -> Result<CtxFieldKind, CtxAccessError> {
        for part in [off, off + 4] {
            let f = self.field_at(part).ok_or(CtxAccessError::NoField {
                off: i64::from(part),
            })?;
            if write && !f.write {
                return Err(CtxAccessError::NotWritable { field: f.name });
            }
            if !write && !f.read {
                return Err(CtxAccessError::NotReadable { field: f.name });
            }
        }
        Ok(CtxFieldKind::Scalar)
    }
}

/// Default size of a tracepoint record the runtime builds for PROG_TEST_RUN
/// when none is configured; the verifier allows the kernel's full
/// `PERF_MAX_TRACE_SIZE` (see [`context`](fn@context) for `tracepoint`).
pub const TRACEPOINT_DEFAULT_SIZE: u32 = 64;

/// The context layout of a program type, or `None` for types whose context
/// is not modelled yet (cgroup_device, cgroup_sysctl, cgroup_sockopt,
/// sk_reuseport, sk_lookup, lirc_mode2, struct_ops, ext, syscall, netfilter).
///
/// [`ProgramType::PLAIN`] (`unspec`) yields a layout with
/// [`AccessModel::Plain`]: no struct, r1 = data, r2 = length.
pub fn context(prog_type: ProgramType) -> Option<&'static ContextLayout> {
    use ProgramType as P;
    Some(match prog_type {
        P::Unspec => &others::PLAIN,
        P::SocketFilter => &skb::SOCKET_FILTER,
        P::SchedCls | P::SchedAct => &skb::SCHED_CLS,
        P::CgroupSkb => &skb::CGROUP_SKB,
        P::SkSkb => &skb::SK_SKB,
        P::LwtIn | P::LwtOut | P::LwtXmit | P::LwtSeg6local => &skb::LWT,
        P::FlowDissector => &skb::FLOW_DISSECTOR,
        P::Xdp => &others::XDP_MD,
        P::Kprobe => &others::PT_REGS,
        P::Tracepoint => &others::TRACEPOINT,
        P::RawTracepoint | P::RawTracepointWritable | P::Tracing | P::Lsm => &others::RAW_TP_ARGS,
        P::PerfEvent => &others::PERF_EVENT_DATA,
        P::CgroupSock => &others::BPF_SOCK,
        P::CgroupSockAddr => &others::BPF_SOCK_ADDR,
        P::SockOps => &others::BPF_SOCK_OPS,
        P::SkMsg => &others::SK_MSG_MD,
        _ => return None,
    })
}
