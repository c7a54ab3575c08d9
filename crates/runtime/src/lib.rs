//! The user-space kernel: Waggle's equivalent of what `bpf(2)` reaches in Linux.
//!
//! - [`Runtime`]: the object table of [`Handle`]s to reference-counted programs, maps and
//!   links, ids, pins, and the command API modelled on `bpf(2)` (`map_create`,
//!   `map_lookup_elem`, …, `prog_load`, `prog_test_run`, `obj_pin`, `obj_get_info`,
//!   `link_create`, `close`), and the batch map commands (`map_lookup_batch`, …).
//! - [`ProgLoad`] and [`Runtime::prog_load`]: map references resolved, structure and helper
//!   use checked (the verifier plugs in here), the engine prepared.
//! - [`Runtime::load_object`]: an ELF object's maps and programs, as libbpf loads them.
//! - [`Runtime::prog_test_run`]: user data turned into each program type's context.
//! - Helpers with the kernel's numbers and semantics; their prototypes are in `waggle_uapi`.
//! - `bpf_timer` (helpers 169 to 172): timers in map values whose `struct bpf_timer` the
//!   loader finds in BTF; armed timers fire on one timer thread per process, which runs the
//!   callback (a subprogram of the program that set it) with r1..r3 = map, key, value on the
//!   interpreter, with the program's helpers. A timer with a callback holds its program; the
//!   timer goes on `bpf_timer_cancel` (program reference only), when its element is deleted,
//!   replaced, evicted or overwritten, and when the map's last handle or pin goes (Linux's
//!   `usercnt`), so closing everything frees everything. Not modelled: sleepable callbacks
//!   (`bpf_timer_set_sleepable_cb`), callbacks of different timers running in parallel, CPU
//!   pinning (`BPF_F_TIMER_CPU_PIN` is accepted and ignored), timers in inner maps of maps.
//!
//! Unloading is reference counting: closing the last handle of an object that no pin, link,
//! program or map slot holds frees it, and freeing a map releases its storage and the
//! objects in its slots.

mod batch;
mod error;
mod helpers;
mod hook;
mod hooks;
mod link;
mod load;
mod loader;
mod map;
mod memory;
mod program;
mod run_state;
mod runtime;
mod table;
mod test_run;
mod timers;
mod trace;
mod verified;

pub use batch::{BatchDone, BatchFlags, LookupBatch};
pub use error::{Error, Result};
pub use helpers::implemented_ids;
pub use hook::{Attached, Combine, Hook, HookSpec};
pub use hooks::app::{AppHook, CtxAccess};
pub use hooks::fire_bytes;
pub use hooks::packet::{
    RedirectTarget, SkbOutcome, SkbRunner, XDP_HEADROOM, XdpOutcome, XdpRunner, xdp_action,
};
pub use hooks::perf::{PerfEventData, fire_perf_event};
pub use link::Link;
pub use load::{LoadError, ProgLoad};
pub use loader::{LoadedObject, kconfig_map, kconfig_value};
pub use map::{Map, MapInfo};
pub use program::{
    Engine, Program, ProgramInfo, StatsGuard, default_engine, enable_stats, set_default_engine,
};
pub use run_state::{CurrentTask, UserMemory, current_cpu, set_current_cpu, with_current_task};
pub use runtime::{Info, MapCreate, Runtime};
pub use table::{Handle, Object};
pub use test_run::{TestRun, TestRunResult};
pub use trace::{TRACE_PIPE_LINES, TracePipe};
pub use waggle_uapi::ProgramType;
