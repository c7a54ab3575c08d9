//! The real kernel's `bpf()` system call, as the reference Waggle is compared against.
//!
//! Only what differential tests need: create maps, load programs, `BPF_PROG_TEST_RUN`, read
//! and write map elements. Every kernel object lives in an [`OwnedFd`], so dropping it unloads
//! it: nothing is ever pinned or left loaded. Where `bpf()` is refused (no root, seccomp,
//! another OS), [`probe`] says why, and tests skip visibly.
//!
//! The attribute unions are written field by field at the offsets of `union bpf_attr` in
//! `include/uapi/linux/bpf.h`, into a zeroed buffer, so that no struct layout is guessed.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub mod btf;
pub mod caps;
mod sys;

/// `bpf()` commands used here (`enum bpf_cmd`).
mod cmd {
    pub const MAP_CREATE: u32 = 0;
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const MAP_UPDATE_ELEM: u32 = 2;
    pub const MAP_DELETE_ELEM: u32 = 3;
    pub const MAP_GET_NEXT_KEY: u32 = 4;
    pub const PROG_LOAD: u32 = 5;
    pub const PROG_TEST_RUN: u32 = 10;
    pub const BTF_LOAD: u32 = 18;
    pub const OBJ_GET_INFO_BY_FD: u32 = 15;
    pub const MAP_FREEZE: u32 = 22;
    pub const MAP_LOOKUP_BATCH: u32 = 24;
    pub const MAP_LOOKUP_AND_DELETE_BATCH: u32 = 25;
    pub const MAP_UPDATE_BATCH: u32 = 26;
    pub const MAP_DELETE_BATCH: u32 = 27;
}

/// A zeroed `union bpf_attr`, filled field by field.
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Attr {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Attr {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn ptr<T>(&mut self, off: usize, p: *const T) -> &mut Attr {
        self.u64(off, p as usize as u64)
    }
    fn name(&mut self, off: usize, name: &str) -> &mut Attr {
        // BPF_OBJ_NAME_LEN is 16 with the NUL; the kernel accepts [A-Za-z0-9_.].
        let clean: Vec<u8> = name
            .bytes()
            .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
            .take(15)
            .collect();
        self.0[off..off + clean.len()].copy_from_slice(&clean);
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes([
            self.0[off],
            self.0[off + 1],
            self.0[off + 2],
            self.0[off + 3],
        ])
    }
    fn call(&mut self, cmd: u32) -> io::Result<i64> {
        sys::bpf(cmd, &mut self.0)
    }
    fn call_fd(&mut self, cmd: u32) -> io::Result<OwnedFd> {
        let fd = self.call(cmd)?;
        let fd = i32::try_from(fd).map_err(|_| io::Error::other("bpf() returned a bad fd"))?;
        // SAFETY: a successful MAP_CREATE/PROG_LOAD returns a new file descriptor that
        // nothing else owns; OwnedFd takes ownership and closes it on drop.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

fn fd_u32(fd: &OwnedFd) -> u32 {
    fd.as_raw_fd() as u32
}

/// Whether `bpf()` can be used here: creates and drops a one-element array map.
pub fn probe() -> Result<(), String> {
    let spec = MapCreate {
        map_type: 2,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..MapCreate::default()
    };
    map_create(&spec)
        .map(drop)
        .map_err(|e| format!("bpf() refused: {e}"))
}

/// `BPF_MAP_CREATE` arguments.
#[derive(Clone, Debug, Default)]
pub struct MapCreate {
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub map_flags: u32,
    /// Inner map template for map-in-map types.
    pub inner_map_fd: Option<u32>,
    /// Name (truncated to 15 characters of `[A-Za-z0-9_.]`).
    pub name: String,
    /// `map_extra` (bloom filter hash count, …).
    pub map_extra: u64,
}

/// The BTF describing a map's key and value (see [`map_create_btf`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct MapBtf {
    /// BTF object (from [`btf_load`]).
    pub btf_fd: u32,
    /// BTF id of the key type (0: none).
    pub key_type_id: u32,
    /// BTF id of the value type (0: none).
    pub value_type_id: u32,
}

/// Create a map.
pub fn map_create(spec: &MapCreate) -> io::Result<OwnedFd> {
    map_create_btf(spec, None)
}

/// Create a map whose key and value BTF describes (`btf_fd`, `btf_key_type_id`,
/// `btf_value_type_id`), as libbpf does for BTF-defined maps; spin locks and timers need it.
pub fn map_create_btf(spec: &MapCreate, btf: Option<&MapBtf>) -> io::Result<OwnedFd> {
    let b = btf.copied().unwrap_or_default();
    let mut a = Attr::new();
    a.u32(0, spec.map_type)
        .u32(4, spec.key_size)
        .u32(8, spec.value_size)
        .u32(12, spec.max_entries)
        .u32(16, spec.map_flags)
        .u32(20, spec.inner_map_fd.unwrap_or(0))
        .name(28, &spec.name)
        .u32(48, b.btf_fd)
        .u32(52, b.key_type_id)
        .u32(56, b.value_type_id)
        .u64(64, spec.map_extra);
    a.call_fd(cmd::MAP_CREATE)
}

fn elem(cmd: u32, map: &OwnedFd, key: *const u8, value: *const u8, flags: u64) -> io::Result<i64> {
    let mut a = Attr::new();
    a.u32(0, fd_u32(map))
        .ptr(8, key)
        .ptr(16, value)
        .u64(24, flags);
    a.call(cmd)
}

/// Look up `key`; `Ok(None)` when absent. `value_size` is the map's value size (times the
/// number of possible CPUs, rounded to 8, for per-CPU maps).
pub fn map_lookup(map: &OwnedFd, key: &[u8], value_size: usize) -> io::Result<Option<Vec<u8>>> {
    let mut value = vec![0u8; value_size];
    match elem(
        cmd::MAP_LOOKUP_ELEM,
        map,
        key.as_ptr(),
        value.as_mut_ptr(),
        0,
    ) {
        Ok(_) => Ok(Some(value)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Update `key` with `value` under `flags` (`BPF_ANY` = 0, `BPF_NOEXIST` = 1, `BPF_EXIST` = 2).
pub fn map_update(map: &OwnedFd, key: &[u8], value: &[u8], flags: u64) -> io::Result<()> {
    elem(
        cmd::MAP_UPDATE_ELEM,
        map,
        key.as_ptr(),
        value.as_ptr(),
        flags,
    )
    .map(drop)
}

/// Delete `key`.
pub fn map_delete(map: &OwnedFd, key: &[u8]) -> io::Result<()> {
    elem(cmd::MAP_DELETE_ELEM, map, key.as_ptr(), std::ptr::null(), 0).map(drop)
}

/// The key after `key` (the first key when `None`); `Ok(None)` at the end.
pub fn map_get_next_key(
    map: &OwnedFd,
    key: Option<&[u8]>,
    key_size: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut next = vec![0u8; key_size];
    let k = key.map_or(std::ptr::null(), <[u8]>::as_ptr);
    match elem(cmd::MAP_GET_NEXT_KEY, map, k, next.as_mut_ptr(), 0) {
        Ok(_) => Ok(Some(next)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every key of a map, in the kernel's iteration order.
pub fn map_keys(map: &OwnedFd, key_size: usize) -> io::Result<Vec<Vec<u8>>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    while let Some(k) = map_get_next_key(map, keys.last().map(Vec::as_slice), key_size)? {
        keys.push(k);
        if keys.len() > 10_000_000 {
            return Err(io::Error::other("map iteration does not end"));
        }
    }
    Ok(keys)
}

/// Freeze a map: user space can no longer write it.
pub fn map_freeze(map: &OwnedFd) -> io::Result<()> {
    let mut a = Attr::new();
    a.u32(0, fd_u32(map));
    a.call(cmd::MAP_FREEZE).map(drop)
}

/// What a batch command did (each batch function takes `flags` = (`elem_flags`, `flags`)): `attr.batch.count` on return, and the call's error (a lookup
/// that reaches the end fails with `ENOENT` yet returns elements).
#[derive(Debug)]
pub struct Batch {
    /// Elements processed.
    pub count: u32,
    /// The error `bpf()` returned, if any.
    pub error: Option<io::Error>,
}

/// `attr.batch` (`flags` = (elem_flags, flags)): in_batch 0, out_batch 8, keys 16, values 24, count 32, map_fd 36,
/// elem_flags 40, flags 48.
#[allow(clippy::too_many_arguments)]
fn batch(
    cmd: u32,
    map: &OwnedFd,
    in_batch: *const u8,
    out_batch: *mut u8,
    keys: *const u8,
    values: *const u8,
    count: u32,
    (elem_flags, flags): (u64, u64),
) -> Batch {
    let mut a = Attr::new();
    a.ptr(0, in_batch)
        .ptr(8, out_batch)
        .ptr(16, keys)
        .ptr(24, values)
        .u32(32, count)
        .u32(36, fd_u32(map))
        .u64(40, elem_flags)
        .u64(48, flags);
    let error = a.call(cmd).err();
    Batch {
        count: a.get_u32(32),
        error,
    }
}

/// Buffer sizes of a batch call, checked before the kernel reads or writes them.
#[derive(Clone, Copy, Debug)]
pub struct BatchSizes {
    /// The map's key size.
    pub key_size: usize,
    /// Bytes per value (per-CPU maps: every possible CPU's value, each rounded up to 8).
    pub value_size: usize,
}

impl BatchSizes {
    /// The kernel's cursor is 4 bytes (hash tables) or a key (the others).
    fn cursor(&self) -> usize {
        self.key_size.max(4)
    }

    fn check(&self, count: u32, keys: usize, values: Option<usize>) -> io::Result<()> {
        let n = count as usize;
        let fits = |len: usize, each: usize| each.checked_mul(n).is_some_and(|need| need <= len);
        if fits(keys, self.key_size) && values.is_none_or(|v| fits(v, self.value_size)) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffers smaller than count elements",
            ))
        }
    }
}

fn refused(e: io::Error) -> Batch {
    Batch {
        count: 0,
        error: Some(e),
    }
}

/// `BPF_MAP_LOOKUP_BATCH` (or `LOOKUP_AND_DELETE_BATCH` when `delete`): up to `count`
/// elements after cursor `in_batch` (from the start when `None`) into `keys` and `values`,
/// the next cursor into `out_batch`. Buffers too small for what the kernel may read or write
/// are refused (`InvalidInput`) without calling it.
#[allow(clippy::too_many_arguments)]
pub fn map_lookup_batch(
    map: &OwnedFd,
    delete: bool,
    sizes: BatchSizes,
    in_batch: Option<&[u8]>,
    out_batch: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    count: u32,
    flags: (u64, u64),
) -> Batch {
    let cursors_fit =
        out_batch.len() >= sizes.cursor() && in_batch.is_none_or(|b| b.len() >= sizes.cursor());
    if let Err(e) = sizes.check(count, keys.len(), Some(values.len())) {
        return refused(e);
    }
    if !cursors_fit {
        return refused(io::Error::new(
            io::ErrorKind::InvalidInput,
            "batch cursors must hold a key and at least 4 bytes",
        ));
    }
    let cmd = if delete {
        cmd::MAP_LOOKUP_AND_DELETE_BATCH
    } else {
        cmd::MAP_LOOKUP_BATCH
    };
    batch(
        cmd,
        map,
        in_batch.map_or(std::ptr::null(), <[u8]>::as_ptr),
        out_batch.as_mut_ptr(),
        keys.as_mut_ptr(),
        values.as_mut_ptr(),
        count,
        flags,
    )
}

/// `BPF_MAP_UPDATE_BATCH`: the first `count` keys and values of the buffers.
pub fn map_update_batch(
    map: &OwnedFd,
    sizes: BatchSizes,
    keys: &[u8],
    values: &[u8],
    count: u32,
    flags: (u64, u64),
) -> Batch {
    if let Err(e) = sizes.check(count, keys.len(), Some(values.len())) {
        return refused(e);
    }
    batch(
        cmd::MAP_UPDATE_BATCH,
        map,
        std::ptr::null(),
        std::ptr::null_mut(),
        keys.as_ptr(),
        values.as_ptr(),
        count,
        flags,
    )
}

/// `BPF_MAP_DELETE_BATCH`: the first `count` keys of `keys`.
pub fn map_delete_batch(
    map: &OwnedFd,
    sizes: BatchSizes,
    keys: &[u8],
    count: u32,
    flags: (u64, u64),
) -> Batch {
    if let Err(e) = sizes.check(count, keys.len(), None) {
        return refused(e);
    }
    batch(
        cmd::MAP_DELETE_BATCH,
        map,
        std::ptr::null(),
        std::ptr::null_mut(),
        keys.as_ptr(),
        std::ptr::null(),
        count,
        flags,
    )
}

/// `BPF_PROG_LOAD` arguments.
#[derive(Clone, Debug, Default)]
pub struct ProgLoad<'a> {
    /// `BPF_PROG_TYPE_*`.
    pub prog_type: u32,
    /// Raw little-endian bytecode, with map references already resolved to map fds.
    pub insns: &'a [u8],
    /// License string (`"GPL"` for GPL-only helpers).
    pub license: &'a str,
    /// Name (truncated to 15 characters).
    pub name: &'a str,
    /// `expected_attach_type`.
    pub expected_attach_type: u32,
    /// `prog_flags` (`BPF_F_*`).
    pub prog_flags: u32,
}

/// A program the kernel refused, with its verifier log.
#[derive(Debug)]
pub struct LoadError {
    /// The error of the `bpf()` call.
    pub error: io::Error,
    /// The verifier log (level 1).
    pub log: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if !self.log.is_empty() {
            write!(f, "\nverifier log:\n{}", self.log)?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// BTF for a program load: the object's BTF and the program's function and line info.
#[derive(Clone, Debug, Default)]
pub struct ProgBtf<'a> {
    /// The BTF object (from [`btf_load`]).
    pub btf_fd: u32,
    /// `struct bpf_func_info` records: (instruction index, `FUNC` type id), sorted, the
    /// first at 0.
    pub func_info: &'a [[u32; 2]],
    /// `struct bpf_line_info` records: (instruction index, file name offset, line text
    /// offset, line << 10 | column); may be empty.
    pub line_info: &'a [[u32; 4]],
}

/// Load (and verify) a program. On refusal, loads again with a log to say why.
pub fn prog_load(p: &ProgLoad<'_>) -> Result<OwnedFd, LoadError> {
    prog_load_full(p, None, 0)
}

/// Load a program with BTF (`prog_btf_fd`, `func_info`, `line_info`), as libbpf does for
/// objects that carry BTF.
pub fn prog_load_btf(p: &ProgLoad<'_>, btf: Option<&ProgBtf<'_>>) -> Result<OwnedFd, LoadError> {
    prog_load_full(p, btf, 0)
}

/// [`prog_load`] with `attach_btf_id`: the vmlinux BTF type a tracing program attaches to
/// (`btf_trace_NAME` for `tp_btf`, `bpf_iter_NAME` for iterators, the function for
/// fentry/fexit), which types its context.
pub fn prog_load_attach(p: &ProgLoad<'_>, attach_btf_id: u32) -> Result<OwnedFd, LoadError> {
    prog_load_full(p, None, attach_btf_id)
}

/// [`prog_load`] with both optional BTF and `attach_btf_id` (0: none).
pub fn prog_load_ext(
    p: &ProgLoad<'_>,
    btf: Option<&ProgBtf<'_>>,
    attach_btf_id: u32,
) -> Result<OwnedFd, LoadError> {
    prog_load_full(p, btf, attach_btf_id)
}

/// Load code that has no BTF of its own (assembled), as [`prog_load_ext`], giving it the BTF
/// of [`btf::func_btf`] when it has more than one subprogram: Linux needs `func_info` before
/// it accepts callbacks (`lddw func`).
pub fn prog_load_funcs(p: &ProgLoad<'_>, attach_btf_id: u32) -> Result<OwnedFd, LoadError> {
    let starts = btf::subprog_starts(p.insns);
    if starts.len() < 2 {
        return prog_load_full(p, None, attach_btf_id);
    }
    let (raw, func_info) = btf::func_btf(&starts);
    let fd = btf_load(&raw)?;
    let b = ProgBtf {
        btf_fd: fd_u32(&fd),
        func_info: &func_info,
        line_info: &[],
    };
    // The BTF object is dropped (closed) after the load; the program keeps its own reference.
    prog_load_full(p, Some(&b), attach_btf_id)
}

fn prog_load_full(
    p: &ProgLoad<'_>,
    btf: Option<&ProgBtf<'_>>,
    attach_btf_id: u32,
) -> Result<OwnedFd, LoadError> {
    let license = format!("{}\0", p.license);
    let load = |log: &mut [u8], level: u32| {
        let mut a = Attr::new();
        a.u32(0, p.prog_type)
            .u32(4, (p.insns.len() / 8) as u32)
            .ptr(8, p.insns.as_ptr())
            .ptr(16, license.as_ptr())
            .u32(24, level)
            .u32(28, log.len() as u32)
            // An empty log must be NULL: a non-NULL buffer of size 0 is EINVAL.
            .ptr(
                32,
                if log.is_empty() {
                    std::ptr::null_mut()
                } else {
                    log.as_mut_ptr()
                },
            )
            .u32(44, p.prog_flags)
            .name(48, p.name)
            .u32(68, p.expected_attach_type)
            .u32(108, attach_btf_id);
        if let Some(b) = btf {
            a.u32(72, b.btf_fd);
            if !b.func_info.is_empty() {
                a.u32(76, 8)
                    .ptr(80, b.func_info.as_ptr())
                    .u32(88, b.func_info.len() as u32);
            }
            if !b.line_info.is_empty() {
                a.u32(92, 16)
                    .ptr(96, b.line_info.as_ptr())
                    .u32(104, b.line_info.len() as u32);
            }
        }
        a.call_fd(cmd::PROG_LOAD)
    };
    match load(&mut [], 0) {
        Ok(fd) => Ok(fd),
        Err(error) => {
            let mut log = vec![0u8; 1 << 20];
            let _ = load(&mut log, 1);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err(LoadError {
                error,
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
            })
        }
    }
}

/// `BPF_BTF_LOAD`: load raw BTF (see [`btf::object_btf`]); on refusal, the kernel's log.
pub fn btf_load(btf: &[u8]) -> Result<OwnedFd, LoadError> {
    let load = |log: &mut [u8], level: u32| {
        let mut a = Attr::new();
        a.ptr(0, btf.as_ptr())
            .ptr(
                8,
                if log.is_empty() {
                    std::ptr::null_mut()
                } else {
                    log.as_mut_ptr()
                },
            )
            .u32(16, btf.len() as u32)
            .u32(20, log.len() as u32)
            .u32(24, level);
        a.call_fd(cmd::BTF_LOAD)
    };
    match load(&mut [], 0) {
        Ok(fd) => Ok(fd),
        Err(error) => {
            let mut log = vec![0u8; 1 << 16];
            let _ = load(&mut log, 1);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err(LoadError {
                error,
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
            })
        }
    }
}

/// The instructions the kernel's verifier processed for a loaded program
/// (`bpf_prog_info.verified_insns`, Linux 5.16+), by `BPF_OBJ_GET_INFO_BY_FD`.
pub fn prog_verified_insns(prog: &OwnedFd) -> io::Result<u32> {
    // struct bpf_prog_info is 232 bytes; verified_insns is the u32 at byte 216.
    let mut info = [0u8; 232];
    let mut a = Attr::new();
    a.u32(0, fd_u32(prog))
        .u32(4, info.len() as u32)
        .ptr(8, info.as_mut_ptr());
    a.call(cmd::OBJ_GET_INFO_BY_FD)?;
    let len = a.get_u32(4) as usize;
    if len < 220 {
        return Err(io::Error::other("kernel too old for verified_insns"));
    }
    Ok(u32::from_ne_bytes([
        info[216], info[217], info[218], info[219],
    ]))
}

/// `BPF_PROG_TEST_RUN` arguments.
#[derive(Clone, Debug, Default)]
pub struct TestRun<'a> {
    /// Packet or data handed to the program.
    pub data_in: &'a [u8],
    /// Room for the data as the program left it (0: not wanted).
    pub data_size_out: usize,
    /// Context handed to the program (e.g. a `struct __sk_buff`), if any.
    pub ctx_in: Option<&'a [u8]>,
    /// Room for the context as the program left it (0: not wanted).
    pub ctx_size_out: usize,
    /// Runs (the kernel reports the average duration).
    pub repeat: u32,
    /// `BPF_F_TEST_*` flags.
    pub flags: u32,
}

/// What `BPF_PROG_TEST_RUN` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRunResult {
    /// The program's return value (32 bits, as the kernel reports it).
    pub retval: u32,
    /// The data after the run (as long as the kernel says it is).
    pub data_out: Vec<u8>,
    /// The context after the run.
    pub ctx_out: Vec<u8>,
    /// Average nanoseconds per run.
    pub duration_ns: u32,
}

/// Run a loaded program on test input.
pub fn prog_test_run(prog: &OwnedFd, t: &TestRun<'_>) -> io::Result<TestRunResult> {
    let mut data_out = vec![0u8; t.data_size_out];
    let mut ctx_out = vec![0u8; t.ctx_size_out];
    let (ctx_ptr, ctx_len) = t
        .ctx_in
        .map_or((std::ptr::null(), 0), |c| (c.as_ptr(), c.len()));
    let mut a = Attr::new();
    a.u32(0, fd_u32(prog))
        .u32(8, t.data_in.len() as u32)
        .u32(12, data_out.len() as u32)
        .ptr(16, t.data_in.as_ptr())
        .ptr(
            24,
            if data_out.is_empty() {
                std::ptr::null()
            } else {
                data_out.as_mut_ptr()
            },
        )
        .u32(32, t.repeat)
        .u32(40, ctx_len as u32)
        .u32(44, ctx_out.len() as u32)
        .ptr(48, ctx_ptr)
        .ptr(
            56,
            if ctx_out.is_empty() {
                std::ptr::null()
            } else {
                ctx_out.as_mut_ptr()
            },
        )
        .u32(64, t.flags);
    a.call(cmd::PROG_TEST_RUN)?;
    data_out.truncate(a.get_u32(12) as usize);
    ctx_out.truncate(a.get_u32(44) as usize);
    Ok(TestRunResult {
        retval: a.get_u32(4),
        data_out,
        ctx_out,
        duration_ns: a.get_u32(36),
    })
}
