//! The `bpf_timer_*` helpers (169 to 172); the timers themselves are in `crate::timers`.
//!
//! A timer argument is the address of the `struct bpf_timer` field of a map value: it is
//! accepted only if it is exactly that field of an element of one of the program's maps
//! whose values hold a timer (the verifier proved it; the check keeps a wrong proof from
//! reaching another map's timers).

use super::{Body, Env, neg};
use crate::map::Map;
use crate::timers::{self, MapTimers, TimerErr};
use std::ptr::NonNull;
use std::sync::Arc;
use waggle_uapi::errno;
use waggle_vm::{HelperContext, HelperError};

pub(super) static HELPERS: &[(u32, Body)] = &[
    (169, timer_init),
    (170, timer_set_callback),
    (171, timer_start),
    (172, timer_cancel),
];

/// The tag of function pointers the interpreter gives `lddw` of kind `Func`
/// (`waggle_vm`'s `FUNC_PTR_TAG`): the low 32 bits are the function's first slot.
const FUNC_PTR_TAG: u64 = 0xbf5f_0000_0000_0000;

/// The map and element value whose timer field is at `addr`.
fn timer_at(env: &Env, addr: u64) -> Result<(Arc<Map>, usize), HelperError> {
    let inner = env.inner_maps.lock().unwrap_or_else(|e| e.into_inner());
    env.maps
        .iter()
        .chain(inner.iter())
        .find_map(|m| {
            let timers = m.timers.as_ref()?;
            let value = (addr as usize).checked_sub(timers.timer_off as usize)?;
            m.inner.key_of_value(NonNull::new(value as *mut u8)?)?;
            Some((m.clone(), value))
        })
        .ok_or_else(|| HelperError::failed(format!("{addr:#x} is not a struct bpf_timer")))
}

fn timers_of(map: &Map) -> &MapTimers {
    map.timers.as_deref().expect("timer_at found timers")
}

fn ret(r: Result<u64, TimerErr>) -> u64 {
    match r {
        Ok(v) => v,
        Err(TimerErr::Inval) => neg(errno::EINVAL),
        Err(TimerErr::Busy) => neg(errno::EBUSY),
        Err(TimerErr::Perm) => neg(errno::EPERM),
        Err(TimerErr::Deadlock) => neg(errno::EDEADLK),
    }
}

/// `long bpf_timer_init(struct bpf_timer *timer, struct bpf_map *map, u64 flags)`.
fn timer_init(env: &Env, _: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (map, value) = timer_at(env, a[0])?;
    let given = env.map(a[1])?;
    if !Arc::ptr_eq(&map, &given) {
        return Err(HelperError::failed(
            "bpf_timer_init: the timer is not in a value of that map",
        ));
    }
    Ok(ret(timers::init(&map, value, a[2]).map(|()| 0)))
}

/// `long bpf_timer_set_callback(struct bpf_timer *timer, void *callback_fn)`.
fn timer_set_callback(
    env: &Env,
    _: &mut HelperContext<'_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let (map, value) = timer_at(env, a[0])?;
    let program = env
        .program
        .get()
        .and_then(std::sync::Weak::upgrade)
        .ok_or_else(|| HelperError::failed("bpf_timer_set_callback: no calling program"))?;
    let slot = u32::try_from(a[1] ^ FUNC_PTR_TAG)
        .ok()
        .filter(|&s| program.is_function(s))
        .ok_or_else(|| {
            HelperError::failed(format!("{:#x} is not a function of this program", a[1]))
        })?;
    Ok(ret(timers::set_callback(
        timers_of(&map),
        value,
        program,
        slot,
    )
    .map(|()| 0)))
}

/// `long bpf_timer_start(struct bpf_timer *timer, u64 nsecs, u64 flags)`.
fn timer_start(env: &Env, _: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (map, value) = timer_at(env, a[0])?;
    Ok(ret(
        timers::start(timers_of(&map), value, a[1], a[2]).map(|()| 0)
    ))
}

/// `long bpf_timer_cancel(struct bpf_timer *timer)`.
fn timer_cancel(env: &Env, _: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let (map, value) = timer_at(env, a[0])?;
    Ok(ret(timers::cancel(timers_of(&map), value)))
}
