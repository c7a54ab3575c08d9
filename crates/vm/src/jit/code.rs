//! Executable memory and the crossings between Rust and generated code: the only `unsafe`
//! code of the JIT.
//!
//! Code is assembled into a `Vec`, copied into a fresh anonymous mapping while it is
//! read+write, then the mapping is made read+execute (never both writable and executable).
//! It is unmapped when the [`Code`] is dropped.

use super::ctx::{Core, Ctx};
use super::trampolines;
use dynasmrt::mmap::MutableBuffer;
use dynasmrt::{AssemblyOffset, ExecutableBuffer};
use std::ffi::c_void;

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
    buf: ExecutableBuffer,
}

impl Code {
    /// Map `bytes` executable. They must be the output of `emit::compile`, whose entry point is
    /// at offset 0.
    pub(crate) fn new(bytes: &[u8]) -> std::io::Result<Code> {
        let mut buf = MutableBuffer::new(bytes.len().max(1))?;
        buf.set_len(bytes.len());
        buf.copy_from_slice(bytes);
        Ok(Code {
            buf: buf.make_exec()?,
        })
    }

    /// Size of the machine code in bytes.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// The machine code.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Run the code with `ctx`; returns r0.
    pub(crate) fn call(&self, ctx: &mut Ctx<'_, '_>) -> u64 {
        let ptr = self.buf.ptr(AssemblyOffset(0));
        // SAFETY: `buf` holds code produced by `emit::compile` (the only caller of `new`),
        // whose offset 0 is a function with the `Entry` ABI: it saves and restores every
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
        let ptr = self.buf.ptr(AssemblyOffset(0));
        // SAFETY: `Code` of a `Jit` whose `lean()` is true was compiled with `Mode::lean`: its
        // offset 0 is a function with the `LeanEntry` ABI that keeps callee-saved registers
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
