//! Executable memory and the crossings between Rust and generated code: the only `unsafe`
//! code of the JIT.
//!
//! Code is assembled into a `Vec`, copied into an anonymous mapping while it is read+write,
//! then the mapping is made read+execute (never both writable and executable). When the
//! [`Code`] is dropped, its mapping is made read+write again (not executable) and kept in a
//! small process-wide pool for the next program of the same size class (mapping, first-touch
//! page faults and unmapping cost a small program more than compiling it); beyond the pool's
//! bound it is unmapped. A reused mapping's bytes past the new code are overwritten with
//! `int3`, so no stale code of another program stays executable.

use super::ctx::{Core, Ctx};
use super::trampolines;
use dynasmrt::ExecutableBuffer;
use dynasmrt::mmap::MutableBuffer;
use std::ffi::c_void;
use std::sync::Mutex;

/// The native entry point: takes the run context, returns r0 (meaningful when the context
/// records no error).
type Entry = extern "sysv64" fn(*mut c_void) -> u64;

/// The lean-path entry point: the `Core` context and r1..=r5; returns r0.
type LeanEntry = extern "sysv64" fn(*mut c_void, u64, u64, u64, u64, u64) -> u64;

/// A slow path or helper call: takes the run context, returns 0 to continue.
pub(crate) type Trampoline = extern "sysv64" fn(*mut c_void) -> u32;

/// Machine code of one program, read+execute.
#[derive(Debug)]
pub(crate) struct Code {
    /// Always `Some` until dropped (then handed to the pool).
    buf: Option<ExecutableBuffer>,
    /// Address of the first byte of `buf` (the entry point), kept apart so that a call needs
    /// no look through the `Option`.
    entry: usize,
}

/// Mappings of up to this size are pooled when freed.
const POOL_MAX_MAPPING: usize = 4 << 20;
/// At most this many bytes of mappings are kept in the pool.
const POOL_MAX_BYTES: usize = 8 << 20;

/// Freed mappings, read+write (never executable while here), with their total size.
static POOL: Mutex<(Vec<MutableBuffer>, usize)> = Mutex::new((Vec::new(), 0));

/// The mapping size for `len` bytes of code: a power of two from one page, so that freed
/// mappings fit later programs of similar size.
fn size_class(len: usize) -> usize {
    len.max(1).next_power_of_two().max(4096)
}

/// A read+write mapping of `size_class(len)` bytes: a pooled one if any, else a new one.
fn take_mapping(len: usize) -> std::io::Result<MutableBuffer> {
    let size = size_class(len);
    if size <= POOL_MAX_MAPPING {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = pool.0.iter().position(|b| b.size() == size) {
            let buf = pool.0.swap_remove(i);
            pool.1 -= size;
            return Ok(buf);
        }
    }
    MutableBuffer::new(size)
}

/// Give a freed program's mapping back: made read+write (no longer executable), then pooled
/// if there is room, else unmapped.
fn put_mapping(buf: ExecutableBuffer) {
    let size = buf.size();
    if size > POOL_MAX_MAPPING {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if pool.1 + size > POOL_MAX_BYTES {
        return;
    }
    // A mapping that cannot be made writable is simply unmapped (dropped).
    if let Ok(buf) = buf.make_mut() {
        pool.1 += size;
        pool.0.push(buf);
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            put_mapping(buf);
        }
    }
}

impl Code {
    /// Map `bytes` executable. They must be the output of `emit::compile`, whose entry point is
    /// at offset 0.
    pub(crate) fn new(bytes: &[u8]) -> std::io::Result<Code> {
        let mut buf = take_mapping(bytes.len())?;
        // A reused mapping still holds its previous program's code up to its old length:
        // whatever the new code does not overwrite becomes `int3`.
        let old = buf.len();
        buf.set_len(old.max(bytes.len()));
        buf[..bytes.len()].copy_from_slice(bytes);
        buf[bytes.len()..].fill(0xcc);
        buf.set_len(bytes.len());
        let buf = buf.make_exec()?;
        Ok(Code {
            entry: buf.as_ptr().expose_provenance(),
            buf: Some(buf),
        })
    }

    fn buf(&self) -> &ExecutableBuffer {
        match &self.buf {
            Some(buf) => buf,
            None => unreachable!("a Code's buffer is taken only when it is dropped"),
        }
    }

    /// Size of the machine code in bytes.
    pub(crate) fn len(&self) -> usize {
        self.buf().len()
    }

    /// The machine code.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.buf()
    }

    /// Run the code with `ctx`; returns r0.
    pub(crate) fn call(&self, ctx: &mut Ctx<'_, '_>) -> u64 {
        let ptr = std::ptr::with_exposed_provenance::<u8>(self.entry);
        // SAFETY: `entry` is the first byte of `buf`, which holds code produced by
        // `emit::compile` (the only caller of `new`), whose offset 0 is a function with the `Entry` ABI: it saves and restores every
        // callee-saved register, keeps the stack balanced (error exits reload `rsp` from the
        // context) and returns r0 in `rax`. The buffer lives as long as `self`.
        let entry: Entry = unsafe { std::mem::transmute::<*const u8, Entry>(ptr) };
        // The generated code reads and writes `ctx` only through this pointer and only while
        // this call lasts; the trampolines it calls get the same pointer back (see `ctx_of`).
        entry((ctx as *mut Ctx<'_, '_>).cast::<c_void>())
    }
}

impl Code {
    /// Run lean-path code (compiled with `Mode::lean`: it never calls into Rust, reserves its
    /// own stack and takes r1..=r5 in registers) with only `core`; returns r0.
    #[inline(always)]
    pub(crate) fn call_lean(&self, core: &mut Core, a: [u64; 5]) -> u64 {
        let ptr = std::ptr::with_exposed_provenance::<u8>(self.entry);
        // SAFETY: `entry` is the first byte of `buf` (alive as long as `self`). `Code` of a
        // `Jit` whose `lean()` is true was compiled with `Mode::lean`: its offset 0 is a function with the `LeanEntry` ABI that keeps callee-saved registers
        // and the stack balanced like `Entry` code, and reads and writes only the fields of
        // `Core` through its first argument (`Core` is laid out as `Head`'s first fields).
        let entry: LeanEntry = unsafe { std::mem::transmute::<*const u8, LeanEntry>(ptr) };
        entry(
            (core as *mut Core).cast::<c_void>(),
            a[0],
            a[1],
            a[2],
            a[3],
            a[4],
        )
    }
}

/// The context a trampoline was called with.
///
/// # Safety
///
/// `ctx` must be the pointer `Code::call` passed to generated code, during that call.
unsafe fn ctx_of<'a>(ctx: *mut c_void) -> &'a mut Ctx<'a, 'a> {
    // SAFETY: per the contract, `ctx` points to the live `Ctx` that `Code::call` borrows
    // mutably for the whole native call; generated code does not touch it while Rust runs,
    // and no other reference to it exists meanwhile.
    unsafe { &mut *ctx.cast::<Ctx<'a, 'a>>() }
}

/// Shim of [`trampolines::memory`].
pub(crate) extern "sysv64" fn memory(ctx: *mut c_void) -> u32 {
    // SAFETY: only generated code calls this, with the context pointer of its run.
    trampolines::memory(unsafe { ctx_of(ctx) })
}

/// Shim of [`trampolines::helper`].
pub(crate) extern "sysv64" fn helper(ctx: *mut c_void) -> u32 {
    // SAFETY: only generated code calls this, with the context pointer of its run.
    trampolines::helper(unsafe { ctx_of(ctx) })
}

/// Shim of [`trampolines::callx`].
pub(crate) extern "sysv64" fn callx(ctx: *mut c_void) -> u32 {
    // SAFETY: only generated code calls this, with the context pointer of its run.
    trampolines::callx(unsafe { ctx_of(ctx) })
}

/// Shim of [`trampolines::packet`].
pub(crate) extern "sysv64" fn packet(ctx: *mut c_void) -> u32 {
    // SAFETY: only generated code calls this, with the context pointer of its run.
    trampolines::packet(unsafe { ctx_of(ctx) })
}

/// What [`helper_direct`] returns, in `rax:rdx`: r0, and non-zero to stop the run.
#[repr(C)]
pub(crate) struct DirectRet {
    r0: u64,
    stop: u64,
}

/// A helper call with r1..=r5 in registers (verified mode): `helper_direct(ctx, r1, .., r5)`.
pub(crate) type Direct = extern "sysv64" fn(*mut c_void, u64, u64, u64, u64, u64) -> DirectRet;

/// Shim of [`trampolines::helper_direct`].
pub(crate) extern "sysv64" fn helper_direct(
    ctx: *mut c_void,
    a: u64,
    b: u64,
    c: u64,
    d: u64,
    e: u64,
) -> DirectRet {
    // SAFETY: only generated code calls this, with the context pointer of its run.
    let (r0, stop) = trampolines::helper_direct(unsafe { ctx_of(ctx) }, [a, b, c, d, e]);
    DirectRet {
        r0,
        stop: u64::from(stop),
    }
}
