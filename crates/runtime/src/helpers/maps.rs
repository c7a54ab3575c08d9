//! Map helpers: lookup, update, delete, push/pop/peek, per-CPU lookup.

use super::{Body, Env, neg};
use crate::map::Map;
use crate::memory::map_region;
use crate::run_state::current_cpu;
use waggle_vm::{HelperContext, HelperError};

pub(super) static HELPERS: &[(u32, Body)] = &[
    (1, map_lookup_elem),
    (2, map_update_elem),
    (3, map_delete_elem),
    (87, map_push_elem),
    (88, map_pop_elem),
    (89, map_peek_elem),
    (195, map_lookup_percpu_elem),
];

fn key(env: &Env, ctx: &HelperContext<'_>, map: u64, key: u64) -> Result<Vec<u8>, HelperError> {
    let size = env.map(map)?.inner.spec().key_size as usize;
    Ok(ctx.read(key, size)?.to_vec())
}

fn lookup_on(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
    cpu: u32,
) -> Result<u64, HelperError> {
    let k = key(env, ctx, a[0], a[1])?;
    let map = env.map(a[0])?;
    if matches!(
        map.inner.spec().map_type,
        waggle_maps::MapType::ArrayOfMaps | waggle_maps::MapType::HashOfMaps
    ) {
        // Map-in-map: the value is the inner map itself (its token, as the kernel returns
        // the inner `struct bpf_map *`), usable as a map argument from then on.
        return Ok(
            match map.inner.lookup_ref(&k).and_then(|r| r.downcast::<Map>()) {
                Some(inner) => env.reach_inner(inner),
                None => 0,
            },
        );
    }
    let Some(ptr) = map.inner.lookup_ptr(&k, cpu) else {
        return Ok(0);
    };
    let spec = map.inner.spec();
    let writable = spec.flags & waggle_maps::flags::BPF_F_RDONLY_PROG == 0;
    // The value stays reachable for the rest of the run, like the kernel's map value pointer.
    ctx.add_region(map_region(&map, ptr, spec.value_size as usize, writable));
    Ok(ptr.as_ptr() as u64)
}

/// `void *bpf_map_lookup_elem(map, key)`: the value's address, or NULL.
fn map_lookup_elem(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    lookup_on(env, ctx, a, current_cpu())
}

/// `void *bpf_map_lookup_percpu_elem(map, key, cpu)`.
fn map_lookup_percpu_elem(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let cpu = a[2] as u32;
    if cpu >= waggle_maps::possible_cpus() {
        return Ok(0);
    }
    let k = key(env, ctx, a[0], a[1])?;
    let map = env.map(a[0])?;
    let Some(ptr) = map.inner.lookup_percpu_ptr(&k, cpu) else {
        return Ok(0);
    };
    let spec = map.inner.spec();
    ctx.add_region(map_region(&map, ptr, spec.value_size as usize, true));
    Ok(ptr.as_ptr() as u64)
}

/// `long bpf_map_update_elem(map, key, value, flags)`.
fn map_update_elem(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let k = key(env, ctx, a[0], a[1])?;
    let map = env.map(a[0])?;
    let value = ctx
        .read(a[2], map.inner.spec().value_size as usize)?
        .to_vec();
    Ok(
        match map.inner.prog_update(&k, &value, a[3], current_cpu()) {
            Ok(()) => 0,
            Err(e) => neg(e.errno()),
        },
    )
}

/// `long bpf_map_delete_elem(map, key)`.
fn map_delete_elem(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let k = key(env, ctx, a[0], a[1])?;
    Ok(match env.map(a[0])?.inner.prog_delete(&k) {
        Ok(()) => 0,
        Err(e) => neg(e.errno()),
    })
}

/// `long bpf_map_push_elem(map, value, flags)`.
fn map_push_elem(env: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    let map = env.map(a[0])?;
    let value = ctx
        .read(a[1], map.inner.spec().value_size as usize)?
        .to_vec();
    Ok(match map.inner.prog_push(&value, a[2]) {
        Ok(()) => 0,
        Err(e) => neg(e.errno()),
    })
}

fn pop_or_peek(
    env: &Env,
    ctx: &mut HelperContext<'_>,
    a: [u64; 5],
    pop: bool,
) -> Result<u64, HelperError> {
    let map = env.map(a[0])?;
    let mut value = vec![0u8; map.inner.spec().value_size as usize];
    if map.inner.spec().map_type == waggle_maps::MapType::BloomFilter {
        // A bloom filter's peek tests the value the program points to; it writes nothing.
        ctx.read_into(a[1], &mut value)?;
        return Ok(match map.inner.prog_peek(&mut value) {
            Ok(()) => 0,
            Err(e) => neg(e.errno()),
        });
    }
    let r = if pop {
        map.inner.prog_pop(&mut value)
    } else {
        map.inner.prog_peek(&mut value)
    };
    match r {
        Ok(()) => {
            ctx.write(a[1], &value)?;
            Ok(0)
        }
        Err(e) => Ok(neg(e.errno())),
    }
}

/// `long bpf_map_pop_elem(map, value)`.
fn map_pop_elem(env: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    pop_or_peek(env, ctx, a, true)
}

/// `long bpf_map_peek_elem(map, value)`.
fn map_peek_elem(env: &Env, ctx: &mut HelperContext<'_>, a: [u64; 5]) -> Result<u64, HelperError> {
    pop_or_peek(env, ctx, a, false)
}
