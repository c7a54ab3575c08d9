//! Helper prototypes: the kernel's `struct bpf_func_proto` as data.
//!
//! Every helper of `___BPF_FUNC_MAPPER` (ids 1..=211) has a [`HelperProto`]
//! in [`HELPERS`], indexed by id - 1. Argument and return kinds use the
//! kernel's `enum bpf_arg_type` / `enum bpf_return_type` vocabulary with the
//! type flags (`MEM_RDONLY`, `MEM_UNINIT`, `PTR_MAYBE_NULL`, `OBJ_RELEASE`)
//! folded into distinct variants, so a checker can `match` on one value.
//!
//! Where the kernel has several prototypes for one helper id depending on
//! the program type (e.g. `perf_event_output` for tracepoints vs. skb
//! programs, `get_socket_cookie` taking a context or a BTF socket), the
//! table holds the prototype the program types with a context pointer use;
//! the variants differ only in what the context argument points to.
//!
//! [`HelperProto::confirmed`] tells whether the prototype was checked against
//! the kernel source (`kernel/bpf/helpers.c`, `ringbuf.c`, `bpf_iter.c`,
//! `kernel/trace/bpf_trace.c`, `net/core/filter.c`) while writing the table;
//! the others come from the helper documentation in `bpf.h` and the
//! kernel's prototypes as remembered, and may differ in a flag.

mod allowed;
mod table;

pub use allowed::{Caps, helper_allowed, helper_allowed_with};
pub use table::HELPERS;

/// What a helper returns in r0 (`enum bpf_return_type` with its flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetKind {
    /// `RET_INTEGER`: a scalar.
    Integer,
    /// `RET_VOID`: r0 is undefined after the call.
    Void,
    /// `RET_PTR_TO_MAP_VALUE`: a map value of the map passed as argument,
    /// never NULL (`get_local_storage`).
    PtrToMapValue,
    /// `RET_PTR_TO_MAP_VALUE_OR_NULL`: a map value of the map argument, or NULL.
    PtrToMapValueOrNull,
    /// `RET_PTR_TO_SOCKET_OR_NULL`: a full socket, or NULL.
    PtrToSocketOrNull,
    /// `RET_PTR_TO_TCP_SOCK_OR_NULL`: a `struct bpf_tcp_sock`, or NULL.
    PtrToTcpSockOrNull,
    /// `RET_PTR_TO_SOCK_COMMON_OR_NULL`: a `struct bpf_sock` (common part), or NULL.
    PtrToSockCommonOrNull,
    /// `RET_PTR_TO_RINGBUF_MEM_OR_NULL`: writable ring-buffer memory whose size
    /// is the helper's [`ArgKind::ConstAllocSizeOrZero`] argument, or NULL
    /// (`ringbuf_reserve`). A reference the program must release.
    PtrToRingbufMemOrNull,
    /// `RET_PTR_TO_DYNPTR_MEM_OR_NULL`: memory inside a dynptr of the size
    /// given by the [`ArgKind::ConstAllocSizeOrZero`] argument, or NULL.
    PtrToDynptrMemOrNull,
    /// `RET_PTR_TO_MEM_OR_BTF_ID | MEM_RDONLY`: a typed per-CPU kernel
    /// variable, read-only (`this_cpu_ptr`).
    PtrToMemOrBtfId,
    /// `RET_PTR_TO_MEM_OR_BTF_ID | PTR_MAYBE_NULL | MEM_RDONLY`: as
    /// [`RetKind::PtrToMemOrBtfId`], or NULL (`per_cpu_ptr`).
    PtrToMemOrBtfIdOrNull,
    /// `RET_PTR_TO_BTF_ID`: a kernel object of a BTF type, never NULL.
    PtrToBtfId,
    /// `RET_PTR_TO_BTF_ID_OR_NULL`: a kernel object of a BTF type, or NULL.
    PtrToBtfIdOrNull,
    /// `RET_PTR_TO_BTF_ID_TRUSTED`: a trusted kernel object (`get_current_task_btf`).
    PtrToBtfIdTrusted,
}

impl RetKind {
    /// Whether the returned pointer may be NULL and must be checked before use.
    pub const fn may_be_null(self) -> bool {
        matches!(
            self,
            RetKind::PtrToMapValueOrNull
                | RetKind::PtrToSocketOrNull
                | RetKind::PtrToTcpSockOrNull
                | RetKind::PtrToSockCommonOrNull
                | RetKind::PtrToRingbufMemOrNull
                | RetKind::PtrToDynptrMemOrNull
                | RetKind::PtrToMemOrBtfIdOrNull
                | RetKind::PtrToBtfIdOrNull
        )
    }

    /// Whether r0 is a pointer (anything but an integer or void).
    pub const fn is_pointer(self) -> bool {
        !matches!(self, RetKind::Integer | RetKind::Void)
    }
}

/// What a helper argument must be (`enum bpf_arg_type` with its flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// `ARG_DONTCARE`: the argument is not used.
    DontCare,
    /// `ARG_ANYTHING`: any initialised value (scalar or, privileged, pointer).
    Anything,
    /// `ARG_CONST_MAP_PTR`: a map loaded with `lddw` (a constant map pointer).
    ConstMapPtr,
    /// `ARG_PTR_TO_MAP_KEY`: initialised memory of the map's key size.
    PtrToMapKey,
    /// `ARG_PTR_TO_MAP_VALUE`: initialised memory of the map's value size.
    PtrToMapValue,
    /// `ARG_PTR_TO_MAP_VALUE | MEM_UNINIT | MEM_WRITE`: memory of the map's
    /// value size the helper fills (`map_pop_elem`, `map_peek_elem`).
    PtrToUninitMapValue,
    /// `ARG_PTR_TO_MAP_VALUE_OR_NULL`: as [`ArgKind::PtrToMapValue`], or NULL
    /// (`sk_storage_get`'s initial value).
    PtrToMapValueOrNull,
    /// `ARG_PTR_TO_MEM | MEM_RDONLY`: initialised memory (stack, packet, map
    /// value, …) the helper only reads; its size is the next argument.
    PtrToMem,
    /// `ARG_PTR_TO_MEM | PTR_MAYBE_NULL | MEM_RDONLY`: as [`ArgKind::PtrToMem`],
    /// or NULL (then the size must be 0).
    PtrToMemOrNull,
    /// `ARG_PTR_TO_MEM` without `MEM_RDONLY`: initialised, writable memory the
    /// helper may read and write; its size is the next argument.
    PtrToWritableMem,
    /// `ARG_PTR_TO_MEM_OR_NULL` (writable): as [`ArgKind::PtrToWritableMem`], or NULL.
    PtrToWritableMemOrNull,
    /// `ARG_PTR_TO_UNINIT_MEM`: writable memory, possibly uninitialised, that
    /// the helper fills; its size is the next argument.
    PtrToUninitMem,
    /// `ARG_PTR_TO_FIXED_SIZE_MEM` with a size in the prototype (`arg_size`):
    /// initialised memory of exactly that many bytes.
    PtrToFixedSizeMem(u32),
    /// `ARG_CONST_SIZE`: size of the preceding memory argument, known bounds, > 0.
    ConstSize,
    /// `ARG_CONST_SIZE_OR_ZERO`: as [`ArgKind::ConstSize`], 0 allowed.
    ConstSizeOrZero,
    /// `ARG_CONST_ALLOC_SIZE_OR_ZERO`: a constant giving the size of memory the
    /// helper returns (`ringbuf_reserve`, `dynptr_data`).
    ConstAllocSizeOrZero,
    /// `ARG_PTR_TO_CTX`: the program's context pointer, unmodified.
    PtrToCtx,
    /// `ARG_PTR_TO_CTX_OR_NULL`: the context pointer or NULL.
    PtrToCtxOrNull,
    /// `ARG_PTR_TO_STACK`: a pointer into the program's stack.
    PtrToStack,
    /// `ARG_PTR_TO_STACK_OR_NULL`: a stack pointer or NULL (callback context).
    PtrToStackOrNull,
    /// `ARG_PTR_TO_LONG` / fixed-size 8-byte aligned writable memory the
    /// helper stores a 64-bit result into (`strtol`, `get_func_arg`).
    PtrToLong,
    /// `ARG_PTR_TO_INT` / fixed-size 4-byte aligned writable memory the
    /// helper reads and writes (`check_mtu`'s `mtu_len`).
    PtrToInt,
    /// `ARG_PTR_TO_CONST_STR`: a NUL-terminated string in a read-only map.
    PtrToConstStr,
    /// `ARG_PTR_TO_FUNC`: a callback, a subprogram address (`ld_imm64` src=4).
    PtrToFunc,
    /// `ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE`: a ring-buffer record from
    /// `ringbuf_reserve`, at offset 0; releases the reference.
    PtrToRingbufMem,
    /// `ARG_PTR_TO_SPIN_LOCK`: the `struct bpf_spin_lock` inside a map value.
    PtrToSpinLock,
    /// `ARG_PTR_TO_TIMER`: the `struct bpf_timer` inside a map value.
    PtrToTimer,
    /// `ARG_PTR_TO_BTF_ID`: a kernel object of the prototype's BTF type.
    PtrToBtfId,
    /// `ARG_PTR_TO_BTF_ID_OR_NULL`: as [`ArgKind::PtrToBtfId`], or NULL.
    PtrToBtfIdOrNull,
    /// `ARG_PTR_TO_BTF_ID_OR_NULL | OBJ_RELEASE`: a referenced kernel object or
    /// NULL whose reference the helper takes over (`kptr_xchg`).
    PtrToBtfIdOrNullRelease,
    /// `ARG_KPTR_XCHG_DEST`: a kptr field inside a map value.
    KptrXchgDest,
    /// `ARG_PTR_TO_PERCPU_BTF_ID`: a per-CPU kernel variable (`ksym`).
    PtrToPercpuBtfId,
    /// `ARG_PTR_TO_BTF_ID_SOCK_COMMON`: any socket pointer (context socket,
    /// looked-up socket, BTF socket).
    PtrToBtfIdSockCommon,
    /// `ARG_PTR_TO_BTF_ID_SOCK_COMMON | PTR_MAYBE_NULL`: as above, or NULL.
    PtrToBtfIdSockCommonOrNull,
    /// `ARG_PTR_TO_BTF_ID_SOCK_COMMON | OBJ_RELEASE`: a socket reference from a
    /// lookup helper, released by the call (`sk_release`).
    PtrToSockCommonRelease,
    /// `ARG_PTR_TO_SOCK_COMMON`: a `struct bpf_sock` pointer (common fields).
    PtrToSockCommon,
    /// `ARG_PTR_TO_SOCKET`: a full socket.
    PtrToSocket,
    /// `ARG_PTR_TO_DYNPTR | MEM_RDONLY`: an initialised dynptr on the stack.
    PtrToDynptr,
    /// `ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_LOCAL | MEM_UNINIT`: stack slots the
    /// helper initialises as a local dynptr.
    PtrToUninitLocalDynptr,
    /// `ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_RINGBUF | MEM_UNINIT`: stack slots the
    /// helper initialises as a ring-buffer dynptr (acquires a reference).
    PtrToUninitRingbufDynptr,
    /// `ARG_PTR_TO_DYNPTR | DYNPTR_TYPE_RINGBUF | OBJ_RELEASE`: a ring-buffer
    /// dynptr, released by the call.
    PtrToRingbufDynptrRelease,
}

impl ArgKind {
    /// Whether the call releases the reference held by this argument.
    pub const fn releases_reference(self) -> bool {
        matches!(
            self,
            ArgKind::PtrToRingbufMem
                | ArgKind::PtrToSockCommonRelease
                | ArgKind::PtrToRingbufDynptrRelease
                | ArgKind::PtrToBtfIdOrNullRelease
        )
    }

    /// Whether this is a size argument describing the preceding memory argument.
    pub const fn is_size(self) -> bool {
        matches!(self, ArgKind::ConstSize | ArgKind::ConstSizeOrZero)
    }

    /// Whether this is a memory argument whose size is the next argument.
    pub const fn is_sized_mem(self) -> bool {
        matches!(
            self,
            ArgKind::PtrToMem
                | ArgKind::PtrToMemOrNull
                | ArgKind::PtrToWritableMem
                | ArgKind::PtrToWritableMemOrNull
                | ArgKind::PtrToUninitMem
        )
    }

    /// Whether NULL (a known zero scalar) is accepted.
    pub const fn accepts_null(self) -> bool {
        matches!(
            self,
            ArgKind::PtrToMapValueOrNull
                | ArgKind::PtrToMemOrNull
                | ArgKind::PtrToWritableMemOrNull
                | ArgKind::PtrToCtxOrNull
                | ArgKind::PtrToStackOrNull
                | ArgKind::PtrToBtfIdOrNull
                | ArgKind::PtrToBtfIdOrNullRelease
                | ArgKind::PtrToBtfIdSockCommonOrNull
        )
    }

    /// Whether the helper may write through this pointer argument.
    pub const fn is_written(self) -> bool {
        matches!(
            self,
            ArgKind::PtrToUninitMapValue
                | ArgKind::PtrToWritableMem
                | ArgKind::PtrToWritableMemOrNull
                | ArgKind::PtrToUninitMem
                | ArgKind::PtrToLong
                | ArgKind::PtrToInt
                | ArgKind::PtrToUninitLocalDynptr
                | ArgKind::PtrToUninitRingbufDynptr
        )
    }
}

/// One helper's prototype (the kernel's `struct bpf_func_proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelperProto {
    /// `BPF_FUNC_*` number, the `imm` of `call`.
    pub id: u32,
    /// Name without the `bpf_` prefix, as in `___BPF_FUNC_MAPPER`.
    pub name: &'static str,
    /// Return kind.
    pub ret: RetKind,
    /// Kinds of r1..r5; [`ArgKind::DontCare`] after the last used one.
    pub args: [ArgKind; 5],
    /// Only GPL-compatible programs may call it (`gpl_only`).
    pub gpl_only: bool,
    /// Only sleepable programs may call it (`might_sleep`); never under a lock.
    pub might_sleep: bool,
    /// Memory arguments may point into the packet (`pkt_access`).
    pub pkt_access: bool,
    /// The returned pointer or initialised dynptr is a reference the program
    /// must release (`is_acquire_function` in the verifier).
    pub acquires_ref: bool,
    /// The call may move packet data, invalidating packet pointers
    /// (`bpf_helper_changes_pkt_data`).
    pub changes_pkt_data: bool,
    /// The prototype was checked against kernel source while writing the table.
    pub confirmed: bool,
}

impl HelperProto {
    /// A prototype with no flags; `args` beyond the slice are `DontCare`.
    pub(crate) const fn new(id: u32, name: &'static str, ret: RetKind, args: &[ArgKind]) -> Self {
        let mut a = [ArgKind::DontCare; 5];
        let mut i = 0;
        while i < args.len() {
            a[i] = args[i];
            i += 1;
        }
        HelperProto {
            id,
            name,
            ret,
            args: a,
            gpl_only: false,
            might_sleep: false,
            pkt_access: false,
            acquires_ref: false,
            changes_pkt_data: false,
            confirmed: false,
        }
    }

    pub(crate) const fn gpl(mut self) -> Self {
        self.gpl_only = true;
        self
    }

    pub(crate) const fn sleep(mut self) -> Self {
        self.might_sleep = true;
        self
    }

    pub(crate) const fn pkt(mut self) -> Self {
        self.pkt_access = true;
        self
    }

    pub(crate) const fn acq(mut self) -> Self {
        self.acquires_ref = true;
        self
    }

    pub(crate) const fn chg(mut self) -> Self {
        self.changes_pkt_data = true;
        self
    }

    /// Marks the prototype as checked against kernel source.
    pub(crate) const fn k(mut self) -> Self {
        self.confirmed = true;
        self
    }

    /// Number of arguments used (index of the first `DontCare`).
    pub fn arg_count(&self) -> usize {
        self.args
            .iter()
            .position(|a| *a == ArgKind::DontCare)
            .unwrap_or(5)
    }

    /// Index (0-based, r1 = 0) of the argument whose reference the call releases.
    pub fn release_arg(&self) -> Option<usize> {
        self.args.iter().position(|a| a.releases_reference())
    }

    /// The full C name, e.g. `bpf_map_lookup_elem`.
    pub fn c_name(&self) -> String {
        format!("bpf_{}", self.name)
    }
}

/// The prototype of helper `id`, or `None` for 0 and unknown ids.
pub fn helper(id: u32) -> Option<&'static HelperProto> {
    let idx = usize::try_from(id).ok()?.checked_sub(1)?;
    HELPERS.get(idx)
}

/// The prototype of the helper named `name`, with or without the `bpf_` prefix.
pub fn helper_by_name(name: &str) -> Option<&'static HelperProto> {
    let name = name.strip_prefix("bpf_").unwrap_or(name);
    HELPERS.iter().find(|h| h.name == name)
}

/// Highest helper id the table knows.
pub fn max_helper_id() -> u32 {
    HELPERS.last().map_or(0, |h| h.id)
}
