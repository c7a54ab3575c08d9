//! Loading an ELF object, as libbpf's `bpf_object__load` does: create its maps (global data
//! initialised, `.rodata` frozen), load each program with the object's maps as its
//! `fd_array`, then fill prog array and map-in-map slots.

use crate::error::Error;
use crate::load::{LoadError, ProgLoad};
use crate::runtime::{MapCreate, Runtime};
use crate::table::Handle;
use waggle_isa::{CallTarget, Insn, LddwKind};
use waggle_object::{Btf, BtfKind, Object, RelocationKind, SlotTarget};
use waggle_uapi::{ProgramType, errno};

/// Handles to everything an object created, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadedObject {
    /// The object's maps, in its order.
    pub maps: Vec<(String, Handle)>,
    /// The object's programs, in its order.
    pub programs: Vec<(String, Handle)>,
}

impl LoadedObject {
    /// The handle of program `name`.
    pub fn program(&self, name: &str) -> Option<Handle> {
        self.programs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| *h)
    }

    /// The handle of map `name`.
    pub fn map(&self, name: &str) -> Option<Handle> {
        self.maps.iter().find(|(n, _)| n == name).map(|(_, h)| *h)
    }

    /// Close every handle (objects still held elsewhere, by pins or links, live on).
    pub fn close(self, runtime: &Runtime) {
        for (_, h) in self.programs.into_iter().chain(self.maps) {
            let _ = runtime.close(h);
        }
    }
}

fn plain(error: Error) -> LoadError {
    LoadError {
        error,
        log: String::new(),
    }
}

impl Runtime {
    /// Create the maps of `object` and load all its programs (all or nothing: on failure,
    /// what was created is closed again).
    pub fn load_object(&self, object: &Object, log_level: u32) -> Result<LoadedObject, LoadError> {
        let mut loaded = LoadedObject::default();
        match self.load_into(object, log_level, &mut loaded) {
            Ok(()) => Ok(loaded),
            Err(e) => {
                loaded.close(self);
                Err(e)
            }
        }
    }

    fn load_into(
        &self,
        object: &Object,
        log_level: u32,
        loaded: &mut LoadedObject,
    ) -> Result<(), LoadError> {
        for spec in &object.maps {
            let map_type = waggle_maps::MapType::from_u32(spec.map_type).ok_or_else(|| {
                plain(Error::invalid(format!(
                    "map {}: unknown map type {}",
                    spec.name, spec.map_type
                )))
            })?;
            let mut s = waggle_maps::MapSpec::new(
                map_type,
                spec.key_size,
                spec.value_size,
                spec.max_entries,
            )
            .with_flags(spec.flags)
            .with_map_extra(spec.map_extra)
            .with_libbpf_defaults();
            if map_type == waggle_maps::MapType::Array && spec.section.starts_with('.') {
                // Global data: no flags the loader adds (libbpf adds BPF_F_MMAPABLE, which the
                // user-space storage does not need).
                s.flags &= !waggle_maps::flags::BPF_F_MMAPABLE;
            }
            // The value's `struct bpf_spin_lock`, from BTF as Linux finds it: without it the
            // verifier refuses bpf_spin_lock on this map.
            if let (Some(btf), Some(v)) = (&object.btf, spec.btf_value_type_id) {
                if let Some(off) = special_field_off(btf, v, "bpf_spin_lock") {
                    s = s.with_spin_lock(off);
                }
                // Likewise its `struct bpf_timer`: without it the bpf_timer_* helpers are
                // refused on this map.
                if let Some(off) = special_field_off(btf, v, "bpf_timer") {
                    s = s.with_timer(off);
                }
            }
            let mut attr = MapCreate::new(s, spec.name.clone());
            attr.btf_key_type_id = spec.btf_key_type_id.unwrap_or(0);
            attr.btf_value_type_id = spec.btf_value_type_id.unwrap_or(0);
            attr.inner_map = spec.inner.as_ref().and_then(|i| {
                let t = waggle_maps::MapType::from_u32(i.map_type)?;
                Some(
                    waggle_maps::MapSpec::new(t, i.key_size, i.value_size, i.max_entries)
                        .with_flags(i.flags),
                )
            });
            let h = self.map_create(&attr).map_err(|e| {
                plain(Error::new(
                    e.errno,
                    format!("map {}: {}", spec.name, e.message),
                ))
            })?;
            loaded.maps.push((spec.name.clone(), h));
            if let Some(data) = &spec.initial_data {
                self.map_update_elem(h, &0u32.to_ne_bytes(), data, 0)
                    .map_err(plain)?;
            }
            if spec.frozen {
                self.map_freeze(h).map_err(plain)?;
            }
        }
        self.fill_slots(object, loaded, false)?;
        let kconfig = self.create_kconfig(object, loaded)?;
        let fd_array: Vec<Handle> = loaded.maps.iter().map(|(_, h)| *h).collect();
        for p in &object.programs {
            let prog_type = ProgramType::from_u32(p.prog_type()).unwrap_or(ProgramType::Unspec);
            let mut insns = p.insns.clone();
            if let Some((map_idx, names)) = &kconfig {
                point_externs_at_kconfig(p, &mut insns, *map_idx, names);
            }
            resolve_kfuncs(p, &mut insns);
            let attr = ProgLoad {
                prog_type,
                name: p.name.clone(),
                insns,
                license: object.license.clone().unwrap_or_default(),
                fd_array: fd_array.clone(),
                log_level,
                line_info: p.line_info.clone(),
                skip_verifier: false,
            };
            let h = self.prog_load(&attr).map_err(|mut e| {
                e.error.message = format!("program {}: {}", p.name, e.error.message);
                e
            })?;
            loaded.programs.push((p.name.clone(), h));
        }
        self.fill_slots(object, loaded, true)?;
        Ok(())
    }

    /// libbpf's `.kconfig` map: the object's `__kconfig` extern variables, 8 bytes each (in
    /// order of first use), read-only for programs and frozen. Returns its index among the
    /// object's maps and the externs' names; `None` when there are none.
    fn create_kconfig(
        &self,
        object: &Object,
        loaded: &mut LoadedObject,
    ) -> Result<Option<(usize, Vec<String>)>, LoadError> {
        let Some((names, value)) = kconfig_map(object) else {
            return Ok(None);
        };
        let spec = waggle_maps::MapSpec::new(waggle_maps::MapType::Array, 4, value.len() as u32, 1)
            .with_flags(waggle_maps::flags::BPF_F_RDONLY_PROG);
        let h = self
            .map_create(&MapCreate::new(spec, ".kconfig".to_string()))
            .map_err(plain)?;
        loaded.maps.push((".kconfig".to_string(), h));
        self.map_update_elem(h, &0u32.to_ne_bytes(), &value, 0)
            .map_err(plain)?;
        self.map_freeze(h).map_err(plain)?;
        Ok(Some((loaded.maps.len() - 1, names)))
    }

    /// Store the initial entries of prog arrays (`programs`) or of maps of maps (not
    /// `programs`: before the programs load, so the verifier sees what the outer maps hold).
    fn fill_slots(
        &self,
        object: &Object,
        loaded: &LoadedObject,
        programs: bool,
    ) -> Result<(), LoadError> {
        for (i, spec) in object.maps.iter().enumerate() {
            for (slot, target) in &spec.initial_slots {
                let value = match target {
                    SlotTarget::Program(j) if programs => loaded.programs.get(*j).map(|(_, h)| *h),
                    SlotTarget::Map(j) if !programs => loaded.maps.get(*j).map(|(_, h)| *h),
                    _ => continue,
                };
                let value = value.ok_or_else(|| {
                    plain(Error::new(
                        errno::EINVAL,
                        format!("map {}: bad slot target", spec.name),
                    ))
                })?;
                self.map_update_elem(
                    loaded.maps[i].1,
                    &slot.to_ne_bytes(),
                    &value.0.to_ne_bytes(),
                    0,
                )
                .map_err(plain)?;
            }
        }
        Ok(())
    }
}

/// Points each `lddw` of a `__kconfig` extern at its 8 bytes in the `.kconfig` map.
/// Give each call of a known kfunc its number (as libbpf gives the kernel's BTF id); calls of
/// unknown kfuncs stay at 0, which PROG_LOAD refuses.
fn resolve_kfuncs(p: &waggle_object::Program, insns: &mut [Insn]) {
    for r in &p.relocations {
        if r.kind != RelocationKind::ExternCall {
            continue;
        }
        if let (Some(k), Some(Insn::Call(CallTarget::Kfunc { btf_id, .. }))) =
            (waggle_uapi::kfunc_by_name(&r.symbol), insns.get_mut(r.slot))
        {
            *btf_id = k.id as i32;
        }
    }
}

fn point_externs_at_kconfig(
    p: &waggle_object::Program,
    insns: &mut [Insn],
    map_idx: usize,
    names: &[String],
) {
    for r in p
        .relocations
        .iter()
        .filter(|r| r.kind == RelocationKind::ExternVar)
    {
        let Some(i) = names.iter().position(|n| *n == r.symbol) else {
            continue;
        };
        if let Some(Insn::Lddw { dst, .. }) = insns.get(r.slot).copied() {
            insns[r.slot] = Insn::Lddw {
                dst,
                kind: LddwKind::MapIdxValue,
                imm: map_idx as u64 | ((8 * i as u64) << 32),
            };
        }
    }
}

/// libbpf's `.kconfig` map of `object`: its `__kconfig` externs' names in order of first use,
/// and the map's one value (each extern's [`kconfig_value`], 8 bytes little-endian, in that
/// order). `None` when the object has no such extern.
pub fn kconfig_map(object: &Object) -> Option<(Vec<String>, Vec<u8>)> {
    let mut names: Vec<String> = Vec::new();
    for r in object.programs.iter().flat_map(|p| &p.relocations) {
        if r.kind == RelocationKind::ExternVar && !names.contains(&r.symbol) {
            names.push(r.symbol.clone());
        }
    }
    if names.is_empty() {
        return None;
    }
    let value = names
        .iter()
        .flat_map(|n| kconfig_value(n).to_le_bytes())
        .collect();
    Some((names, value))
}

/// The value libbpf gives a `__kconfig` extern on this machine: the running kernel's version
/// (`KERNEL_VERSION(a, b, c)`), its syscall wrappers (x86-64 kernels since 4.17 have them, so
/// `BPF_KSYSCALL` programs read arguments through the inner `pt_regs`), BPF cookies; `CONFIG_*`
/// options are not read (0, as libbpf gives a `__weak` extern it cannot find).
pub fn kconfig_value(name: &str) -> u64 {
    match name {
        "LINUX_KERNEL_VERSION" => std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| kernel_version(&r))
            .unwrap_or(0),
        "LINUX_HAS_SYSCALL_WRAPPER" => u64::from(cfg!(target_arch = "x86_64")),
        "LINUX_HAS_BPF_COOKIE" => 1,
        _ => 0,
    }
}

/// `KERNEL_VERSION(a, b, c)` of a release string such as `6.18.44-generic`.
fn kernel_version(release: &str) -> u64 {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b.min(255) << 8) | c.min(255)
}

/// The offset of a top-level member of BTF type `value` that is a struct named `name`
/// (`bpf_spin_lock`, `bpf_timer`), if any.
fn special_field_off(btf: &Btf, value: u32, name: &str) -> Option<u32> {
    let (_, BtfKind::Struct { members, .. }) = btf.resolved(value).ok()? else {
        return None;
    };
    members.iter().find_map(|m| {
        let (id, kind) = btf.resolved(m.type_id).ok()?;
        (matches!(kind, BtfKind::Struct { .. }) && btf.name(id) == name).then_some(m.bit_offset / 8)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn kernel_versions() {
        assert_eq!(super::kernel_version("6.18.44-fc-v669\n"), 0x06122c);
        assert_eq!(super::kernel_version("5.4.300"), 0x0504ff);
        assert_eq!(super::kernel_version("garbage"), 0);
    }
}
