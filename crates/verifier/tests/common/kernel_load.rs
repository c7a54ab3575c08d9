//! Loading programs into the real kernel (`bpf()`), shared by the differential test and the
//! benchmarks: maps created from an object's specs, `lddw map_idx` patched to their fds.
//! Every map and program is an `OwnedFd`, closed when dropped: nothing stays loaded.

use std::os::fd::{AsRawFd, OwnedFd};
use waggle_isa::{Insn, LddwKind};
use waggle_object::{MapSpec, Object, SlotTarget};
use waggle_uapi::ProgramType;

/// `expected_attach_type` the kernel requires for some types (`bpf_prog_load_check_attach`).
pub fn attach_type(t: ProgramType) -> u32 {
    match t {
        ProgramType::CgroupSockAddr => 10, // BPF_CGROUP_INET4_CONNECT
        ProgramType::CgroupSockopt => 22,  // BPF_CGROUP_SETSOCKOPT
        ProgramType::SkLookup => 36,       // BPF_SK_LOOKUP
        _ => 0,
    }
}

/// Whether the program takes a function's address (`lddw func`): Linux then needs BTF
/// func_info, which the kernel wrapper does not pass.
pub fn has_func(insns: &[Insn]) -> bool {
    insns.iter().any(|i| {
        matches!(
            i,
            Insn::Lddw {
                kind: LddwKind::Func,
                ..
            }
        )
    })
}

/// Types whose programs need kernel BTF ids to load.
pub fn needs_btf(t: ProgramType) -> bool {
    matches!(
        t,
        ProgramType::Unspec
            | ProgramType::Tracing
            | ProgramType::Lsm
            | ProgramType::Ext
            | ProgramType::StructOps
            | ProgramType::Syscall
            | ProgramType::Netfilter
    )
}

/// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
const PERF_EVENT_ARRAY: u32 = 4;

/// The number of possible CPUs (`/sys/devices/system/cpu/possible`, e.g. `0-3`), as libbpf
/// counts them; 1 when unreadable.
fn possible_cpus() -> u32 {
    let Ok(s) = std::fs::read_to_string("/sys/devices/system/cpu/possible") else {
        return 1;
    };
    s.trim()
        .split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => {
                b.parse::<u32>().unwrap_or(0) + 1
                    - a.parse::<u32>().unwrap_or(0).min(b.parse().unwrap_or(0))
            }
            None => 1,
        })
        .sum::<u32>()
        .max(1)
}

fn kernel_map(spec: &MapSpec, btf: Option<&OwnedFd>) -> Result<OwnedFd, String> {
    let inner = match &spec.inner {
        Some(i) => Some(kernel_map(i, btf)?),
        None => None,
    };
    let create = waggle_kernel::MapCreate {
        map_type: spec.map_type,
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries: if spec.map_type == PERF_EVENT_ARRAY && spec.max_entries == 0 {
            // libbpf sizes an unsized perf event array to the possible CPUs.
            possible_cpus()
        } else {
            spec.max_entries
        },
        map_flags: spec.flags,
        inner_map_fd: inner.as_ref().map(|f| f.as_raw_fd() as u32),
        name: spec.kernel_name.clone(),
        map_extra: spec.map_extra,
    };
    // Key and value BTF as libbpf gives it (spin locks and timers need it); like libbpf, try
    // again without when the kernel refuses it for this map type.
    if let (Some(fd), Some(key), Some(value)) = (btf, spec.btf_key_type_id, spec.btf_value_type_id)
    {
        let b = waggle_kernel::MapBtf {
            btf_fd: fd.as_raw_fd() as u32,
            key_type_id: key,
            value_type_id: value,
        };
        if let Ok(map) = waggle_kernel::map_create_btf(&create, Some(&b)) {
            return Ok(map);
        }
    }
    waggle_kernel::map_create(&create).map_err(|e| format!("map {}: {e}", spec.name))
}

/// The object's BTF loaded into the kernel (see `waggle_kernel::btf::object_btf`), for map
/// key/value types; `None` when it has none or Linux refuses it.
#[allow(dead_code)] // benches/verifier.rs includes this file but loads without BTF
pub fn object_btf(elf: &[u8]) -> Option<OwnedFd> {
    waggle_kernel::btf_load(&waggle_kernel::btf::object_btf(elf)?).ok()
}

/// The kernel maps of `obj`, as libbpf makes them: global data set (and frozen when
/// read-only), map-in-map slots filled. `Err`: a map the kernel cannot create here.
pub fn object_maps(obj: &Object) -> Result<Vec<Option<OwnedFd>>, String> {
    object_maps_btf(obj, None)
}

/// [`object_maps`] with the object's BTF (from [`object_btf`]) for map key/value types.
pub fn object_maps_btf(
    obj: &Object,
    btf: Option<&OwnedFd>,
) -> Result<Vec<Option<OwnedFd>>, String> {
    let mut fds: Vec<Option<OwnedFd>> = Vec::new();
    for spec in &obj.maps {
        let fd = kernel_map(spec, btf)?;
        if let Some(data) = &spec.initial_data {
            waggle_kernel::map_update(&fd, &0u32.to_ne_bytes(), data, 0)
                .map_err(|e| format!("map {}: initial data: {e}", spec.name))?;
        }
        if spec.frozen {
            waggle_kernel::map_freeze(&fd).map_err(|e| format!("map {}: {e}", spec.name))?;
        }
        fds.push(Some(fd));
    }
    // Map-in-map slots: the kernel needs nothing more to verify, but fill them as libbpf.
    for (i, spec) in obj.maps.iter().enumerate() {
        for (slot, target) in &spec.initial_slots {
            if let SlotTarget::Map(j) = target
                && let (Some(Some(outer)), Some(Some(inner))) = (fds.get(i), fds.get(*j))
            {
                let v = (inner.as_raw_fd() as u32).to_ne_bytes();
                waggle_kernel::map_update(outer, &slot.to_ne_bytes(), &v, 0)
                    .map_err(|e| format!("map {}: slot {slot}: {e}", spec.name))?;
            }
        }
    }
    Ok(fds)
}

/// `insns` with `lddw map_idx`/`map_idx_value` turned into the kernel's map fd forms.
pub fn patch(insns: &[Insn], maps: &[Option<OwnedFd>]) -> Result<Vec<Insn>, String> {
    let mut patched = Vec::with_capacity(insns.len());
    for insn in insns {
        patched.push(match *insn {
            Insn::Lddw { dst, kind, imm }
                if matches!(kind, LddwKind::MapIdx | LddwKind::MapIdxValue) =>
            {
                let fd = maps
                    .get((imm & 0xffff_ffff) as usize)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| format!("map {} not created", imm & 0xffff_ffff))?;
                let fd = fd.as_raw_fd() as u32 as u64;
                let kind = if kind == LddwKind::MapIdx {
                    LddwKind::MapFd
                } else {
                    LddwKind::MapValue
                };
                Insn::Lddw {
                    dst,
                    kind,
                    imm: fd | (imm >> 32) << 32,
                }
            }
            other => other,
        });
    }
    Ok(patched)
}
