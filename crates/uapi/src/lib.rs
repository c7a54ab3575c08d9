//! The Linux kernel's BPF ABI as data.
//!
//! This crate is the lowest layer shared by Waggle's verifier and runtime: it
//! holds what `include/uapi/linux/bpf.h` and the kernel's helper prototypes
//! (`struct bpf_func_proto`) say, as plain Rust values, with no behaviour
//! beyond lookups and simple access checks.
//!
//! - [`ProgramType`], [`AttachType`], [`MapType`]: the kernel's numbering and
//!   the names bpftool/libbpf print.
//! - [`errno`]: the error numbers `bpf()` and helpers return.
//! - [`verdict`]: names of program return values (XDP, TC, SK_*).
//! - [`helpers`]: every kernel helper (ids 1..=211) with argument and return
//!   kinds, and [`helper_allowed`] approximating each program type's
//!   `get_func_proto`.
//! - [`kfuncs`]: the kernel functions Waggle knows by name, with the numbers its loader
//!   gives them in place of kernel BTF ids.
//! - [`context`](mod@context): context struct layouts and access rules per
//!   program type (`__sk_buff`, `xdp_md`, `pt_regs`, …), from the kernel's
//!   `*_is_valid_access` functions.
//!
//! ```
//! use waggle_uapi::{ArgKind, ProgramType, RetKind, context, helper, helper_allowed};
//!
//! let reserve = helper(131).unwrap();
//! assert_eq!(reserve.name, "ringbuf_reserve");
//! assert_eq!(reserve.ret, RetKind::PtrToRingbufMemOrNull);
//! assert_eq!(reserve.args[1], ArgKind::ConstAllocSizeOrZero);
//! assert!(helper_allowed(ProgramType::Xdp, 44)); // xdp_adjust_head
//! let skb = context(ProgramType::SchedCls).unwrap();
//! assert_eq!(skb.field("data").unwrap().offset, 76);
//! ```
//!
//! Kernel reference: the uapi numbering follows Linux 6.x `bpf.h` (up to
//! `BPF_PROG_TYPE_NETFILTER`, `BPF_MAP_TYPE_ARENA`, helper 211
//! `cgrp_storage_delete`).

use thiserror::Error;

/// Defines a `#[repr(u32)]` enum of kernel constants with its name table.
///
/// Generates `from_u32`, `as_u32`, `name`, `ALL`, `Display` and `FromStr`
/// so every numbered kernel enum behaves the same way.
macro_rules! kernel_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $kind:literal, $prefix:literal {
            $($var:ident = $num:literal => $s:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        $vis enum $name {
            $(
                #[doc = concat!("`", $prefix, "` `", $s, "` = ", stringify!($num), ".")]
                $var = $num,
            )*
        }

        impl $name {
            /// Every value, in kernel numbering order.
            pub const ALL: &'static [$name] = &[$($name::$var),*];

            /// The value with kernel number `n`, if the kernel defines one.
            pub const fn from_u32(n: u32) -> Option<Self> {
                match n {
                    $($num => Some($name::$var),)*
                    _ => None,
                }
            }

            /// The kernel number.
            pub const fn as_u32(self) -> u32 {
                self as u32
            }

            /// The kernel name in lower case, as bpftool and libbpf print it.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$var => $s,)*
                }
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl core::str::FromStr for $name {
            type Err = crate::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$var),)*
                    _ => Err(crate::UnknownName { kind: $kind, name: s.to_owned() }),
                }
            }
        }

        impl TryFrom<u32> for $name {
            type Error = u32;

            fn try_from(n: u32) -> Result<Self, u32> {
                Self::from_u32(n).ok_or(n)
            }
        }
    };
}

pub mod context;
pub mod errno;
pub mod helpers;
pub mod kfuncs;
mod map_type;
mod prog_type;
pub mod verdict;

pub use context::{AccessModel, ContextLayout, CtxAccessError, CtxField, CtxFieldKind, context};
pub use helpers::{
    ArgKind, Caps, HELPERS, HelperProto, RetKind, helper, helper_allowed, helper_allowed_with,
    helper_by_name,
};
pub use kfuncs::{KFUNC_HELPER_BASE, Kfunc, kfunc, kfunc_by_name};
pub use map_type::MapType;
pub use prog_type::{AttachType, ProgramType};
pub use verdict::verdict_name;

/// A name that is not one of the kernel's names for that kind of value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {kind} name `{name}`")]
pub struct UnknownName {
    /// What was being parsed ("program type", "map type", "attach type").
    pub kind: &'static str,
    /// The rejected input.
    pub name: String,
}
