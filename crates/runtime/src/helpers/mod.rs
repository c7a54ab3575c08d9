//! Helpers: the functions programs call by the kernel's helper ids, with the kernel's
//! argument and return semantics. Their prototypes (for the verifier) are data in
//! `waggle_uapi`; here is what they do in user space.
//!
//! Each program gets its own table of closures over an [`Env`]: its maps (so a map pointer
//! from a register is accepted only if it names one of them) and the runtime's trace pipe.
//! "Kernel memory" reads (`probe_read*`) are checked reads of memory the run may access.
//!
//! By family: `maps` (lookup, update, delete, push/pop/peek), `misc` (time, randomness, CPU,
//! `trace_printk`), `ringbuf` (ring buffer, `perf_event_output`), `probe` (`probe_read*`),
//! `strings` (`strtol`, `strtoul`, `strncmp`, `snprintf`, `csum_diff`), `task` (current
//! task, `get_stack`, `get_func_ip`, `get_attach_cookie`), `packet` (`xdp_adjust_*`,
//! `redirect*`), `control` (`tail_call`, `loop`, `for_each_map_elem`, spin locks), `timer`
//! (`bpf_timer_*`, over `crate::timers`), `dynptr` (dynptr helpers, and the kfuncs, run as
//! helpers `KFUNC_HELPER_BASE + id`). Per-run
//! state they share (tail calls, the XDP frame, reservations, locks) is in `run_state`.

mod control;
mod dynptr;
mod maps;
mod misc;
#[allow(unsafe_code)]
mod native;
mod packet;
mod probe;
mod ringbuf;
mod strings;
mod task;
mod timer;

pub(crate) use control::unlock_word;
pub(crate) use misc::now_ns;

use crate::map::Map;
use crate::runtime::Runtime;
use crate::trace::TracePipe;
use std::sync::Arc;
use waggle_uapi::ProgramType;
use waggle_vm::{HelperContext, HelperError, Helpers, NativeHelper};

/// What a program's helpers may reach.
pub(crate) struct Env {
    pub(crate) maps: Vec<Arc<Map>>,
    /// Inner maps the program reached through a map-in-map lookup: kept alive for the
    /// program's life (the kernel holds them for the RCU section) and accepted as map
    /// arguments from then on.
    pub(crate) inner_maps: std::sync::Mutex<Vec<Arc<Map>>>,
    pub(crate) trace: Arc<TracePipe>,
    /// The program's type (helpers such as `redirect` answer per type).
    pub(crate) prog_type: ProgramType,
    /// The program these helpers belong to, set once it is built (`bpf_timer_set_callback`
    /// takes a reference to it). Weak: the program holds its helpers.
    pub(crate) program: std::sync::OnceLock<std::sync::Weak<crate::program::Program>>,
}

impl Env {
    /// The map named by the token in a register, if it is one of the program's maps.
    pub(crate) fn map(&self, token: u64) -> Result<Arc<Map>, HelperError> {
        if let Some(m) = self.maps.iter().find(|m| m.token() == token) {
            return Ok(m.clone());
        }
        let inner = self.inner_maps.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .iter()
            .find(|m| m.token() == token)
            .cloned()
            .ok_or_else(|| HelperError::failed(format!("{token:#x} is not a map of this program")))
    }

    /// Remember an inner map returned by a map-in-map lookup; returns its token.
    pub(crate) fn reach_inner(&self, map: Arc<Map>) -> u64 {
        let token = map.token();
        let mut inner = self.inner_maps.lock().unwrap_or_else(|e| e.into_inner());
        if !inner.iter().any(|m| Arc::ptr_eq(m, &map)) {
            inner.push(map);
        }
        token
    }
}

/// A helper body: the environment, the run's memory, r1..r5.
pub(crate) type Body = fn(&Env, &mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError>;

/// Every implemented helper: id and body.
fn table() -> impl Iterator<Item = (u32, Body)> {
    [
        maps::HELPERS,
        misc::HELPERS,
        control::HELPERS,
        packet::HELPERS,
        probe::HELPERS,
        ringbuf::HELPERS,
        strings::HELPERS,
        task::HELPERS,
        dynptr::HELPERS,
        timer::HELPERS,
    ]
    .into_iter()
    .flatten()
    .copied()
    .chain(dynptr::kfunc_helpers())
}

/// Whether the runtime implements helper `id`.
pub(crate) fn implemented(id: u32) -> bool {
    table().any(|(i, _)| i == id)
}

/// Whether helper `id` neither reads nor changes the per-run state of `run_state` (only the
/// thread's CPU index): the helpers with direct forms (map lookup/update/delete, clock,
/// random numbers, CPU).
pub(crate) fn stateless(id: u32) -> bool {
    native::NATIVE.iter().any(|(n, _)| *n == id)
}

/// Ids of the helpers the runtime implements.
pub fn implemented_ids() -> Vec<u32> {
    let mut ids: Vec<u32> = table().map(|(i, _)| i).collect();
    ids.sort_unstable();
    ids
}

/// The helper table of a program using `maps`, and the environment its helpers share (to
/// give it the program once built).
pub(crate) fn for_program(
    runtime: &Runtime,
    maps: &[Arc<Map>],
    prog_type: ProgramType,
) -> (Helpers, Arc<Env>) {
    let env = Arc::new(Env {
        maps: maps.to_vec(),
        trace: runtime.trace_pipe().clone(),
        prog_type,
        inner_maps: std::sync::Mutex::new(Vec::new()),
        program: std::sync::OnceLock::new(),
    });
    let mut helpers = Helpers::new();
    for (id, body) in table() {
        let env2 = env.clone();
        let generic = move |ctx: &mut HelperContext<'_>, args| body(&env2, ctx, args);
        match native::NATIVE.iter().find(|(n, _)| *n == id) {
            // The hot helpers also get their direct form, for verified code.
            Some(&(_, f)) => {
                let data: Arc<dyn std::any::Any + Send + Sync> = env.clone();
                helpers.register_native(id, generic, NativeHelper::new(f, data));
            }
            None => {
                helpers.register(id, generic);
            }
        }
    }
    (helpers, env)
}

/// The negative errno a helper returns, as the u64 in r0.
pub(crate) fn neg(errno: i32) -> u64 {
    (-i64::from(errno)) as u64
}
