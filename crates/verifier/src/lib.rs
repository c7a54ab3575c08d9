//! Waggle's BPF verifier: proves a program safe before it runs, or explains why it cannot.
//!
//! # Design: kernel-style path exploration with state pruning
//!
//! Two designs were on the table: abstract interpretation over the control-flow graph with
//! widening at loop heads plus a separate termination argument (PREVAIL's approach), or the
//! Linux verifier's symbolic execution of every path with pruning of states already covered.
//! This crate follows Linux, because
//! - it accepts the same programs as the kernel by construction: compilers and programmers
//!   shape their code for that verifier (bounded loops unrolled by exploration, per-path
//!   null checks, packet range proofs), and a widening analysis refuses some of them;
//! - termination needs no extra argument: a loop is accepted only if every path through it
//!   reaches `exit` within the complexity limit, and a state that repeats exactly while it is
//!   still being explored is reported as an infinite loop;
//! - error messages name one concrete path (the slots that led to the refusal), which is what
//!   a C programmer needs to fix the code.
//!
//! The cost is exponential worst cases, bounded by [`Options::complexity_limit`] (instructions
//! processed, 1,000,000 like the kernel); pruning keeps real programs far below it.
//!
//! ## Abstract state
//! Each register is uninitialised, a scalar ([`Scalar`]: a tristate number of known bits plus
//! unsigned/signed 64-bit and 32-bit bounds, kept consistent as `reg_bounds_sync` does), or a
//! pointer ([`state::Ptr`]: context, stack frame, map value (or null), map, packet / packet end
//! / packet meta, ring-buffer record (or null), each with a fixed and a variable offset). Each
//! 512-byte stack frame is tracked per byte (uninitialised / data / zero / spilled) with
//! spilled registers per 8-byte slot. Acquired references (ring-buffer records) are tracked
//! per path.
//!
//! ## Stack bytes, narrow spills, constant array keys
//! Stores to the stack follow Linux's `check_stack_write_fixed_off` (the `stack` module):
//! with `CAP_BPF` ([`Options::bpf_capable`]), a number stored at an 8-aligned offset, from a
//! register or an immediate, of any size, is *spilled*: the slot keeps the whole register in
//! its low bytes (a narrow spill), and a fill of those bytes from the slot start gives the
//! number back, coerced to the load's size. Pointers are spilled with 8-byte stores. Any other
//! store writes data bytes, or *zero bytes* when the value is a known 0; a load of only zero
//! bytes (or of bytes of a spilled 0) gives 0, of anything else an unknown number. Without
//! `CAP_BPF`, numbers are never spilled, as in Linux.
//!
//! `bpf_map_lookup_elem` on an array (or per-CPU array) whose key is a constant on the stack
//! returns a value pointer that is never NULL when the key is below `max_entries` (Linux
//! 6.14+, `get_constant_map_key`): the key bytes are at least `key_size` zero bytes from the
//! key's address to the end of its slot, or exactly `key_size` bytes of a spilled known
//! number (whose whole value is then the key, as Linux reads it). Soundness: an array has
//! every element from 0 to `max_entries - 1` at all times, so the lookup of such a key cannot
//! fail. The bytes the helper reads are the key: zero bytes hold 0; a spilled number `c`
//! with `0 <= c < max_entries <= 2^32` has its low 4 bytes equal to `c` and its high 4 bytes
//! 0, so whichever 4 spill bytes are read hold an index in range. Pruning keeps it sound:
//! a spilled constant covers only the same constant, and zero bytes only zero bytes, so a
//! state whose lookup was proved non-NULL never covers one whose key may differ. Linux elides
//! exactly in these cases, so both verifiers agree whether or not the check is written
//! (table cases `array_lookup_*`, `fill_*`).
//!
//! ## Pruning
//! States are recorded at jump targets, at conditional jumps (before they split, as Linux's
//! `visit_insn` marks them) and at helper calls that call callbacks. A new state that a
//! recorded, fully explored state covers (every register and stack slot at least as general,
//! ids renamed consistently) is not explored again: every concrete execution from it was
//! already proved safe. Recorded states still under exploration (loop heads on the current
//! path) never prune; an exact repetition of one is an infinite loop. A state is recorded only
//! after at least 2 jumps and 4 instructions since the last one while other paths wait to be
//! explored (they may join this one there), and after 2 jumps and 8 instructions, as Linux
//! always does, when none waits or the current path already went through that instruction (a
//! loop, whose iterations rarely prune each other); in programs of one function, recorded
//! states that no pending path can reach any more (every slot from the lowest pending one on,
//! and the targets of backward jumps from there, lie above them) are freed, so large programs
//! reuse that memory.
//!
//! ## Speed
//! A register value is 104 bytes and a frame about 1.2 KB, copied at every branch both ways
//! and at every recorded state: copies take their frame buffer from a per-thread pool that
//! dropped states refill (up to 512 buffers, about 600 KB, kept for the thread's next
//! verification; [`release_buffers`] frees them), as buffers of that size miss the allocator's
//! fast per-size caches. Stacks are shared by copies until one of them writes (shared ones are
//! compared without looking at their bytes), and comparisons rename ids without allocating.
//!
//! ## Precision
//! Linux prunes more by tracking which numbers are *precise*: only numbers whose value decided
//! something (a bound, an offset, a helper's size argument, a branch) are compared by range;
//! the others only need to be numbers in both states (`mark_chain_precision`, backtracking
//! from each use). This crate gets the same effect from a static, conservative analysis done
//! once before exploring (`cfg::registers`, a backward data-flow computed with liveness): a register
//! is *precise* at a slot if some path from there, before overwriting it, uses its value, or a
//! value computed from it, as
//! - an operand of a conditional jump (the outcome may decide which paths exist);
//! - an address register of a load, store or atomic operation, or the value a store may write
//!   to the stack (a spilled number is read back exactly, and stack slots are always compared
//!   in full; a forward may-analysis, `cfg::may_point_to_stack`, tells which address registers
//!   may point into a stack frame: copies of `r10` and arithmetic on them, function arguments,
//!   anything loaded from memory or returned by a BPF function or kfunc; a number stored
//!   through a helper's result, such as a map value, is forgotten and loads back unknown);
//! - an argument of a helper, kfunc or BPF function (`r1`-`r5`), or `callx`'s target;
//! - an operand of a 64-bit `add`/`sub` between registers (either may be a pointer, and then
//!   the number's bounds decide whether the arithmetic is allowed and where it points);
//! - `r0` at `exit`, except at the main function's exits when the program type does not check
//!   return values (other functions return to a caller or helper that uses it);
//! - an operand of any other operation whose result is precise (values flow through `mov`
//!   and the ALU).
//!
//! A fully explored state then covers a new one in which a live register of the innermost
//! frame that is not precise holds any number, as long as both hold numbers. Soundness: take
//! a concrete execution from the new state and the one from a covered state that differs only
//! in those registers. By induction over its steps, the registers where the two differ are
//! never precise at the current slot (a register joins the set only as the result of an
//! operation that is not precise; a precise use of any of them would have made it precise
//! earlier): so both take the same branches, touch the same addresses with the same stored
//! values, pass the same arguments and return the same checked values, with the same register
//! types (they differ only in numbers). The second execution is safe (the recorded state
//! covers it), so the first is. Only non-innermost frames and the stack are compared in full,
//! which is conservative. Exact comparisons (infinite loops, callback convergence) ignore
//! precision, as Linux's do. Table cases `precision_*` check that such numbers still refuse
//! programs when they later decide an access, a jump, a spill, or a return value.
//!
//! ## Linked numbers
//! As in Linux (`sync_linked_regs`), a copy of a number is *linked* to its source by a shared
//! id ([`Scalar::id`]): a 64-bit `mov`, a 32-bit `mov` of a number that fits in 32 bits,
//! a sign-extending `mov` that extends no sign, and (with `CAP_BPF`) a spill to the stack of
//! a number that fits in the store's size; a fill of the whole spill keeps the id (a 4-byte
//! fill of a 4-byte spill links the two, as Linux 6.8+ does). With `CAP_BPF`, a 64-bit
//! `rX += c` or `rX -= c` (a known `c` that fits in an `i32`), or a 32-bit one on a number
//! that fits in 32 bits, keeps a linked `rX` linked, with the offset `c` ([`Scalar::off`];
//! a top bit of the id says which width: Linux's `BPF_ADD_CONST64`/`32`), once: a second
//! constant, or a copy or spill of such a number, starts a new link. Bounds move between
//! numbers linked in different widths never; through a 32-bit link, modulo 2^32. Any other write
//! to a register unlinks it. A conditional jump then gives every number linked to a refined
//! operand, in every frame and spilled slot, the operand's new bounds, moved by the
//! difference of their offsets: clang's `w9 = w1; if w1 < 128 goto ...` bounds w9, and
//! `r3 = r2; r3 += 4; if r3 < 20 goto ...` bounds r2 below 16. Pruning: a recorded state
//! covers a new one only if numbers it links (among those compared) are linked in the new
//! state too, with the same offsets, else the old state's proof could rest on a relation the
//! new one does not have (table cases `linked_pruning_*`, `linked_add_const_*`). A number linked only in the new state is fine: fewer executions. This
//! needs no change to precision: bounds move between linked numbers only at jumps, whose
//! operands are precise, and a number that matters later is precise itself.
//!
//! ## Callbacks, locks, maps of maps
//! - `bpf_loop` and `bpf_for_each_map_elem` callbacks (`lddw func`) are verified as functions
//!   in a frame on top of the caller's, with the arguments the helper passes (index and
//!   context; map, read-only key, value and context) and a return value in `[0, 1]`. Their
//!   exit goes back to the helper call, which may call them again, as the kernel does; that
//!   call site prunes against states still being explored (`calls_callback`), and numbers a
//!   repeated call keeps changing are widened to unknown so the repetition converges.
//! - `bpf_spin_lock`: one lock at a time, released on every path before any exit, no helper
//!   or kfunc calls but `bpf_spin_unlock` while held, the lock inside a map value at the
//!   constant offset [`MapDesc::spin_lock_off`] BTF gave (other loads and stores of those 4
//!   bytes are refused); a map without that BTF has no lock, as in Linux.
//!
//! ## Privileges
//! [`Options::privileged`] and [`Options::allow_uninit_stack`] follow the kernel's rules for
//! CAP_BPF + CAP_PERFMON loaders (bounded loops, pointer leaks and comparisons, reads of
//! uninitialised stack as unknown numbers) or for unprivileged ones; reads of `struct bpf_map`
//! fields through a map pointer need [`Options::bpf_map_struct`], the kernel's layout.
//! - Maps of maps: [`MapDesc::inner`] describes the inner maps; a lookup returns an inner
//!   map pointer or NULL, usable as a map argument once checked.
//! - `bpf_rcu_read_lock`/`bpf_rcu_read_unlock` kfuncs, by name ([`Program::kfuncs`]).
//!
//! ## Spectre v1
//! Without [`Options::bypass_spec_v1`] (loaders without `CAP_PERFMON`), a conditional jump
//! whose outcome is known also sends a *speculative* path down the other side, with the
//! compared registers unknown numbers, as Linux's `sanitize_speculative_path`. A check that
//! fails on a speculative path only ends it (Linux 6.17+ puts a speculation barrier there,
//! and later speculative paths stop at that instruction; stores Spectre v4 sanitising follows
//! with a barrier end them too); the complexity limit and infinite loops still refuse the
//! program, so a counted loop refuses (its last, known comparison jumps back speculatively
//! with an unknown counter). A speculative state never prunes a real one (its exploration may
//! have stopped early); the `spec` module has the details. Pointer arithmetic follows
//! Linux's masking rules for such loaders (the `sanitize` module): only stack and map value
//! pointers move by a register, by an offset of known sign, staying inside their object
//! (stack pointers by constants only), with one masking limit per instruction over all paths;
//! a moved pointer also goes down a speculative path with the offset masked to 0.
//! Privileged verification skips all of it.
//!
//! ## BTF-typed kernel pointers
//! With [`Options::kernel_btf`] and [`Options::attach_to`], the arguments of tp_btf, fentry,
//! fexit, fmod_ret, lsm and iter programs are typed by the kernel BTF, and loads through
//! kernel object pointers (`PTR_TO_BTF_ID`: trusted, plain or untrusted as Linux marks them)
//! resolve the field at the offset; `bpf_get_current_task_btf` returns one, and the helpers
//! taking kernel objects (`seq_write`, `get_task_stack`, `task_storage_get`, ...) accept
//! them. See the `btf_ptr` module. Such programs are for `waggle verify` only: their loads
//! rely on the kernel's exception table, which user space does not have.
//!
//! ## Dynptrs, iterators, may_goto
//! Dynptrs (`bpf_dynptr_from_mem`, the ring-buffer dynptr helpers, `bpf_dynptr_read`,
//! `_write`, `_data`, and the kfuncs `bpf_dynptr_from_xdp`, `_from_skb`, `_slice`,
//! `_slice_rdwr`, `_adjust`, `_is_null`, `_is_rdonly`, `_size`, `_clone`) and the numeric
//! iterator `bpf_iter_num_new/next/destroy` are stack objects tracked slot by slot, as Linux
//! does (the `dynptr` module). `may_goto` (Linux 6.9+) jumps when the program's loop budget is
//! spent: both ways are explored, and a loop through it converges there like an iterator's
//! loop at `bpf_iter_num_next` (states still being explored prune, numbers that keep changing
//! are widened).
//!
//! ## Timers
//! `bpf_timer_init`, `_set_callback`, `_start`, `_cancel` take the `struct bpf_timer` of a map
//! value at the constant offset [`MapDesc::timer_off`] BTF gave (loads and stores of those 16
//! bytes are refused); `bpf_timer_init` needs the map the value belongs to. The callback runs
//! later, on its own: it is verified as a function in a fresh state (its own stack, nothing
//! of the caller's) with the map, the key and the value as arguments, and returns 0, as
//! Linux's `push_async_cb`.
//!
//! ## Not modelled
//! Refused with an explicit message (never silently accepted): other kfuncs, `callx` (Linux
//! refuses it too), other callback-taking helpers, socket pointers and BTF
//! pointers other than the above as helper arguments or results, `lddw` of map file descriptors, map values or BTF ids
//! (verify before relocation, with `map_idx`/`map_idx_value`).

mod alu;
mod branch;
mod btf_ptr;
mod cfg;
mod dynptr;
mod exec;
mod explore;
mod helpers;
mod memory;
mod sanitize;
mod scalar;
mod spec;
mod stack;
pub mod state;
mod timer;
mod tnum;

pub use scalar::Scalar;
pub use tnum::Tnum;

use std::time::Duration;
use waggle_isa::Insn;
use waggle_uapi::{MapType, ProgramType};

/// Map flag `BPF_F_RDONLY_PROG`: programs may read values but not write them (also used for
/// frozen global data such as `.rodata`).
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// Map flag `BPF_F_WRONLY_PROG`: programs may write values but not read them.
pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;

/// What the verifier knows about a map the program references (`lddw map_idx %rN, i`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapDesc {
    /// Kind of map.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub flags: u32,
    /// For map-in-map types: the description of the maps stored in it.
    pub inner: Option<InnerMap>,
    /// Offset of the `struct bpf_spin_lock` in the value, from BTF. `None`: the value has no
    /// lock (or the map no BTF), so `bpf_spin_lock` on it is refused, as Linux does.
    pub spin_lock_off: Option<u32>,
    /// Offset of the `struct bpf_timer` in the value, from BTF. `None`: the value has no
    /// timer (or the map no BTF), so the `bpf_timer_*` helpers refuse it, as in Linux.
    pub timer_off: Option<u32>,
}

impl MapDesc {
    /// A map description without inner map or lock information.
    pub const fn new(
        map_type: MapType,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        flags: u32,
    ) -> MapDesc {
        MapDesc {
            map_type,
            key_size,
            value_size,
            max_entries,
            flags,
            inner: None,
            spin_lock_off: None,
            timer_off: None,
        }
    }
}

/// The description of the maps a map-in-map holds (the kernel's `inner_map_meta`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InnerMap {
    /// Kind of map.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub flags: u32,
}

/// Verification options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// 0: nothing logged; 1: the error with state and path; 2: every instruction with its state.
    pub log_level: u32,
    /// Most instructions processed over all paths before giving up.
    pub complexity_limit: u64,
    /// Whether the loader is privileged (CAP_BPF + CAP_PERFMON): allows bounded loops, pointer
    /// comparisons and pointers stored in maps or returned.
    pub privileged: bool,
    /// Whether reads of stack bytes never written are allowed, giving unknown numbers (the
    /// kernel's `allow_uninit_stack`, true for CAP_PERFMON loaders). When false, every read
    /// of uninitialised stack (by the program or by a helper) is refused.
    pub allow_uninit_stack: bool,
    /// Whether the loader holds `CAP_BPF` (the kernel's `bpf_capable`): bounded loops are
    /// allowed. True whenever [`Options::privileged`] is; [`Options::cap_bpf_only`] is the
    /// loader with `CAP_BPF` but not `CAP_PERFMON`, the only unprivileged one Linux lets load
    /// while `unprivileged_bpf_disabled` is set.
    pub bpf_capable: bool,
    /// Whether Spectre v1 speculative paths go unchecked (Linux's `bypass_spec_v1`: true for
    /// `CAP_PERFMON` loaders). When false, the side of a conditional jump its known outcome
    /// does not take is explored too, as a speculative path (see the crate docs, "Spectre
    /// v1"). [`Options::with_privileges`] and [`Options::cap_bpf_only`] set it to
    /// [`Options::privileged`]; privileged verification never pays for it.
    pub bypass_spec_v1: bool,
    /// The layout of the kernel's `struct bpf_map` (from its BTF), when privileged programs
    /// may read its fields through a map pointer as Linux allows (`map->max_entries`). `None`:
    /// such reads are refused (a user-space runtime's map pointer is no `struct bpf_map`).
    pub bpf_map_struct: Option<BpfMapStruct>,
    /// The running kernel's BTF (`/sys/kernel/btf/vmlinux`): the types of the arguments of
    /// BTF-typed tracing programs and of the kernel objects they read (`PTR_TO_BTF_ID`).
    /// `None`: such arguments are plain numbers that cannot be dereferenced.
    pub kernel_btf: Option<std::sync::Arc<waggle_object::Btf>>,
    /// The program's attach target as its ELF section names it (`tp_btf/sched_switch`,
    /// `fentry/do_unlinkat`, `fexit/…`, `fmod_ret/…`, `lsm/…`, `iter/task`): with
    /// [`Options::kernel_btf`], it gives the context's argument types.
    pub attach_to: Option<String>,
    /// The contents of frozen maps that are read-only for programs (`.rodata`, `.kconfig`), by
    /// map index: loads at constant offsets read known numbers from them, as Linux reads
    /// `bpf_map_is_rdonly()` maps (so `const volatile` settings prune dead branches).
    pub frozen_values: Vec<(u32, Vec<u8>)>,
}

impl Options {
    /// The kernel's rules for a loader with (`true`) or without every BPF capability:
    /// [`Options::privileged`] and [`Options::allow_uninit_stack`] both follow it.
    pub fn with_privileges(privileged: bool) -> Options {
        Options {
            privileged,
            allow_uninit_stack: privileged,
            bpf_capable: privileged,
            bypass_spec_v1: privileged,
            ..Options::default()
        }
    }

    /// A loader with `CAP_BPF` but without `CAP_PERFMON` (Linux: `bpf_capable`, but not
    /// `allow_ptr_leaks` nor `allow_uninit_stack`): loops allowed, pointers kept secret,
    /// uninitialised stack unreadable.
    pub fn cap_bpf_only() -> Options {
        Options {
            bpf_capable: true,
            ..Options::with_privileges(false)
        }
    }
}

impl Default for Options {
    /// A privileged loader (as root), like the kernel's defaults for root.
    fn default() -> Self {
        Options {
            log_level: 0,
            complexity_limit: 1_000_000,
            privileged: true,
            allow_uninit_stack: true,
            bpf_capable: true,
            bypass_spec_v1: true,
            bpf_map_struct: None,
            kernel_btf: None,
            attach_to: None,
            frozen_values: Vec::new(),
        }
    }
}

/// The fields of the kernel's `struct bpf_map` a privileged program may read through a map
/// pointer (`CONST_PTR_TO_MAP`), flattened: nested structs and unions give their members,
/// arrays of numbers are one field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BpfMapStruct {
    /// `sizeof(struct bpf_map)`.
    pub size: u32,
    /// Leaf fields in offset order.
    pub fields: Vec<BpfMapField>,
}

/// One leaf field of [`BpfMapStruct`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpfMapField {
    /// C name (the innermost member's).
    pub name: String,
    /// Byte offset in `struct bpf_map`.
    pub off: u32,
    /// Size in bytes (a whole array for arrays of numbers).
    pub size: u32,
    /// Whether it is a pointer (Linux gives a BTF pointer, which is not modelled here).
    pub pointer: bool,
}

/// A program to verify.
#[derive(Clone, Copy, Debug)]
pub struct Program<'a> {
    /// Instruction slots (`lddw` followed by its second slot).
    pub insns: &'a [Insn],
    /// Program type: context layout, helpers, return values.
    pub prog_type: ProgramType,
    /// Maps referenced by `lddw map_idx`/`map_idx_value` (by index).
    pub maps: &'a [MapDesc],
    /// Source lines by slot, sorted by slot: a line applies to its slot and those after it up to
    /// the next entry. Written as `line 42: source text` (or any text to quote).
    pub line_info: &'a [(usize, String)],
    /// Names of the kernel functions (kfuncs) the `call` at each slot refers to, for calls not
    /// yet resolved to BTF ids.
    pub kfuncs: &'a [(usize, String)],
}

/// Statistics of an accepted program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Instructions processed over all paths.
    pub insns_processed: u64,
    /// States recorded for pruning.
    pub states_kept: u64,
    /// Most states pending or recorded at once.
    pub peak_states: u64,
    /// Stack bytes used by each subprogram (index 0 = main), as the kernel rounds them.
    pub max_stack_depth: Vec<u32>,
    /// Time spent.
    pub duration: Duration,
    /// The verifier log at the requested level (level 2: every instruction with its state).
    pub log: String,
    /// Plain programs only: one past the furthest context byte the program may access (like
    /// the kernel's `max_ctx_offset` for raw tracepoints). Whoever runs the program must give
    /// it a context at least this large; 0 for other program types.
    pub ctx_end: u32,
    /// Plain programs only: whether the program may write its context.
    pub ctx_writes: bool,
}

/// Largest context a plain program may address: application hooks pass `#[repr(C)]` structs.
pub const PLAIN_CTX_MAX: u32 = 4096;

/// Why a program was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    /// The slot where verification failed.
    pub pc: usize,
    /// The source line of that slot, when line info was given.
    pub line: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
    /// Registers and stack at `pc`.
    pub state: String,
    /// The slots executed on the path that led to `pc` (last `MAX_PATH` at most).
    pub path: Vec<usize>,
    /// The verifier log at the requested level.
    pub log: String,
}

impl Rejection {
    /// The errno Linux's `BPF_PROG_LOAD` returns for the same refusal: `E2BIG` (7) for
    /// programs too large or calls too deep, `EINVAL` (22) for malformed programs and broken
    /// rules about calls, locks, references and return values, `EACCES` (13) for unsafe
    /// memory and register use.
    pub fn errno(&self) -> i32 {
        errno_of(&self.message)
    }
}

/// The errno Linux gives a refusal with this message (see [`Rejection::errno`]).
pub(crate) fn errno_of(m: &str) -> i32 {
    {
        const E2BIG: &[&str] = &[
            "BPF program is too large",
            "frames is too deep",
            "more than the limit",
        ];
        const EINVAL: &[&str] = &[
            "unreachable insn",
            "jump out of range",
            "back-edge",
            "last insn",
            "invalid func",
            "cannot use helper",
            "infinite loop detected",
            "invalid shift",
            "recursive call",
            "bpf_spin_unlock",
            "holding a lock",
            "Locking two",
            "should have been in",
            "Unreleased reference",
            "out of range",
            "rcu read",
            "rcu_read_unlock",
            "direct value access",
            "not supported",
            "not allowed for this program type",
            "reference leak",
            "cannot pass map_type",
            "into lddw",
            "lddw",
            "fall through",
            "invalid opcode",
            "function address",
            "callback",
            "program is empty",
            "opcode",
            "jump target",
            "reserved field",
            "byte swap width",
            "truncated",
            "has to have BTF",
            "overwrite referenced dynptr",
            "initialized dynptr",
            "unacquired reference",
            "iter_num as arg",
            "does not allow writes to packet data",
            "dynptr at an offset",
            "has to be at a constant offset",
        ];
        if E2BIG.iter().any(|f| m.contains(f)) {
            7
        } else if EINVAL.iter().any(|f| m.contains(f)) {
            22
        } else {
            13
        }
    }
}

/// Most slots kept in [`Rejection::path`].
pub const MAX_PATH: usize = 4096;

/// Free the memory a thread keeps between verifications (up to about 600 KB of state
/// buffers, reused by its next verification to avoid the allocator's slow path for them).
pub fn release_buffers() {
    state::release_frame_pool();
}

/// Verify `prog`: `Ok` with statistics if it is safe, `Err` with the first problem found.
pub fn verify(prog: &Program<'_>, opts: &Options) -> Result<Stats, Box<Rejection>> {
    explore::run(prog, opts)
}
