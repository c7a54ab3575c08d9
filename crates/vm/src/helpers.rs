//! The helper registry: functions a program calls by the kernel's helper ids.
//!
//! Helpers are shared closures (`Arc<HelperFn>`) so that a runtime can register closures that
//! capture its state (maps, clocks) and every engine, the interpreter now and a JIT later,
//! calls the same functions. They reach run memory only through [`HelperContext`], with the
//! same region checks as the program's own loads and stores.

use crate::memory::{MemoryMut, Region};
use std::any::Any;
use std::ffi::c_void;
use std::fmt;
use std::sync::Arc;

/// Largest helper id a registry accepts (exclusive). The kernel's ids are below 256; the
/// bound keeps the id-indexed table small.
pub const MAX_HELPER_ID: u32 = 1 << 16;

/// A helper: gets the run's memory and r1..=r5, returns r0.
pub type HelperFn =
    dyn Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync;

/// A helper as a plain function that verified JIT code calls directly:
/// `r0 = f(r1, r2, r3, r4, r5, data)`, arguments in registers (r1..=r5 are already where the
/// C calling convention wants them: the call moves nothing but `data`), no context, no
/// unwinding guard (see [`NativeHelper`]).
pub type NativeFn =
    unsafe extern "C" fn(r1: u64, r2: u64, r3: u64, r4: u64, r5: u64, data: *const c_void) -> u64;

/// The direct form of a helper, for verified code ([`Helpers::register_native`]): a
/// [`NativeFn`] and the data it receives as its last argument (the address of the value in
/// `data`, kept alive as long as the registry).
///
/// Verified JIT code calls it with a plain `call`, instead of going through Rust with a
/// [`HelperContext`], `catch_unwind` and an `Arc<dyn Fn>`. The function:
/// - may rely on its arguments having passed the verifier's checks of the helper's
///   prototype (e.g. a pointer to `key_size` readable bytes): it is only called by code
///   compiled with [`Jit::new_verified`](crate::Jit::new_verified), whose caller promises
///   that;
/// - must not unwind (a panic aborts the process) and cannot end the run or report an
///   error: it returns r0;
/// - must behave as the generic form registered with it, which the interpreter and checked
///   code call.
#[derive(Clone)]
pub struct NativeHelper {
    f: NativeFn,
    data: Arc<dyn Any + Send + Sync>,
}

impl NativeHelper {
    /// `f`, called with the address of `data`'s value (`Arc::as_ptr`) as its last argument.
    pub fn new(f: NativeFn, data: Arc<dyn Any + Send + Sync>) -> NativeHelper {
        NativeHelper { f, data }
    }

    /// The function's address.
    pub(crate) fn fn_addr(&self) -> usize {
        self.f as usize
    }

    /// The last argument: the address of the data's value.
    pub(crate) fn data_addr(&self) -> usize {
        Arc::as_ptr(&self.data).cast::<()>() as usize
    }
}

impl fmt::Debug for NativeHelper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NativeHelper({:#x})", self.fn_addr())
    }
}

/// How a helper call ends other than by returning r0.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HelperError {
    /// Stop the whole program now, successfully, with this r0 (e.g. a `tail_call` that does
    /// not return, or the conformance suite's unwind helper).
    #[error("program exit with r0 = {0:#x}")]
    Exit(u64),
    /// A memory access through [`HelperContext`] outside the run's regions.
    #[error("out-of-bounds {} of {len} bytes at {addr:#x}", if *write { "write" } else { "read" })]
    MemoryAccess {
        /// The first address.
        addr: u64,
        /// Bytes accessed.
        len: u64,
        /// Whether it was a write.
        write: bool,
    },
    /// Any other failure; the run stops with [`VmError::Helper`](crate::VmError::Helper).
    #[error("{0}")]
    Failed(String),
}

impl HelperError {
    /// A [`HelperError::Failed`] with this message.
    pub fn failed(message: impl fmt::Display) -> HelperError {
        HelperError::Failed(message.to_string())
    }
}

/// What a helper may do with the run that called it.
pub struct HelperContext<'c> {
    access: Access<'c>,
}

/// How a helper reaches the run: a plain view of its memory, or (from the interpreter) the
/// whole run, which also lets it call BPF functions of the program (callbacks).
enum Access<'c> {
    View(MemoryMut<'c>),
    Host(&'c mut (dyn Host + 'c)),
}

/// The run as an engine that supports callbacks hands it to its helpers.
pub(crate) trait Host {
    /// See [`HelperContext::read`].
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]>;
    /// See [`HelperContext::write`].
    fn write(&mut self, addr: u64, data: &[u8]) -> Option<()>;
    /// See [`HelperContext::add_region`].
    fn add_region(&mut self, region: Region<'static>);
    /// See [`HelperContext::call_function`].
    fn call_function(&mut self, func: u64, args: [u64; 5]) -> Result<u64, HelperError>;
}

impl<'c> HelperContext<'c> {
    /// A context over `mem` only: [`HelperContext::call_function`] fails.
    pub(crate) fn new(mem: MemoryMut<'c>) -> HelperContext<'c> {
        HelperContext {
            access: Access::View(mem),
        }
    }

    /// A context over a whole run that can call back into the program.
    pub(crate) fn with_host(host: &'c mut (dyn Host + 'c)) -> HelperContext<'c> {
        HelperContext {
            access: Access::Host(host),
        }
    }

    /// The `len` bytes at `addr`, if one region of the run holds them all.
    pub fn read(&self, addr: u64, len: usize) -> Result<&[u8], HelperError> {
        let r = match &self.access {
            Access::View(m) => m.read(addr, len),
            Access::Host(h) => h.read(addr, len),
        };
        r.ok_or(HelperError::MemoryAccess {
            addr,
            len: len as u64,
            write: false,
        })
    }

    /// Copy `out.len()` bytes at `addr` into `out`.
    pub fn read_into(&self, addr: u64, out: &mut [u8]) -> Result<(), HelperError> {
        out.copy_from_slice(self.read(addr, out.len())?);
        Ok(())
    }

    /// Copy `data` to `addr`, if one writable region of the run holds all of it; otherwise
    /// write nothing.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), HelperError> {
        let r = match &mut self.access {
            Access::View(m) => m.write(addr, data),
            Access::Host(h) => h.write(addr, data),
        };
        r.ok_or(HelperError::MemoryAccess {
            addr,
            len: data.len() as u64,
            write: true,
        })
    }

    /// Let the program access `region` for the rest of this run, e.g. a map value whose
    /// address the helper returns. Memory owned by the runtime is wrapped with the unsafe
    /// [`Region::from_raw`]; adding the same region twice keeps one copy.
    pub fn add_region(&mut self, region: Region<'static>) {
        match &mut self.access {
            Access::View(m) => m.add_region(region),
            Access::Host(h) => h.add_region(region),
        }
    }

    /// Call the BPF function `func` of the running program (a value the program loaded with
    /// `lddw` of kind `Func`, as `bpf_loop` and `bpf_for_each_map_elem` receive their
    /// callbacks) with r1..=r5 = `args`, as a nested BPF-to-BPF call: a new stack frame
    /// (counted against the eight-frame limit), the same memory; returns its r0.
    ///
    /// Fails if `func` is not a function of the program, if the frames are exhausted, if the
    /// function fails, or if the engine does not support callbacks.
    pub fn call_function(&mut self, func: u64, args: [u64; 5]) -> Result<u64, HelperError> {
        match &mut self.access {
            Access::View(_) => Err(HelperError::failed(
                "this engine cannot call BPF functions from helpers",
            )),
            Access::Host(h) => h.call_function(func, args),
        }
    }
}

/// Helpers by id, the kernel's numbering (`BPF_FUNC_map_lookup_elem` = 1, ...).
///
/// Cloning is cheap (the functions are shared).
#[derive(Clone, Default)]
pub struct Helpers {
    table: Vec<Option<Arc<HelperFn>>>,
    /// Direct forms, by id (a subset of `table`'s ids).
    native: Vec<Option<NativeHelper>>,
}

impl Helpers {
    /// An empty registry.
    pub fn new() -> Helpers {
        Helpers::default()
    }

    /// Register `f` as helper `id`, replacing any previous one.
    ///
    /// # Panics
    ///
    /// If `id >= MAX_HELPER_ID`.
    pub fn register<F>(&mut self, id: u32, f: F) -> &mut Helpers
    where
        F: Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync + 'static,
    {
        self.register_arc(id, Arc::new(f))
    }

    /// Register a shared helper as `id`, replacing any previous one.
    ///
    /// # Panics
    ///
    /// If `id >= MAX_HELPER_ID`.
    pub fn register_arc(&mut self, id: u32, f: Arc<HelperFn>) -> &mut Helpers {
        assert!(
            id < MAX_HELPER_ID,
            "helper id {id} is not below {MAX_HELPER_ID}"
        );
        let i = id as usize;
        if self.table.len() <= i {
            self.table.resize(i + 1, None);
        }
        self.table[i] = Some(f);
        if let Some(n) = self.native.get_mut(i) {
            *n = None;
        }
        self
    }

    /// Register helper `id` in two forms: `f` for the interpreter and checked code, and
    /// `native`, the same helper as a plain function for verified JIT code (see
    /// [`NativeHelper`]), replacing any previous registration.
    ///
    /// # Panics
    ///
    /// If `id >= MAX_HELPER_ID`.
    pub fn register_native<F>(&mut self, id: u32, f: F, native: NativeHelper) -> &mut Helpers
    where
        F: Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync + 'static,
    {
        self.register(id, f);
        let i = id as usize;
        if self.native.len() <= i {
            self.native.resize(i + 1, None);
        }
        self.native[i] = Some(native);
        self
    }

    /// The direct form of helper `id`, if it has one.
    pub fn native(&self, id: u32) -> Option<&NativeHelper> {
        self.native.get(id as usize)?.as_ref()
    }

    /// Register a helper that needs no memory access and cannot fail: `r0 = f(r1, .., r5)`
    /// (the shape of rbpf's helpers).
    ///
    /// # Panics
    ///
    /// If `id >= MAX_HELPER_ID`.
    pub fn register_fn<F>(&mut self, id: u32, f: F) -> &mut Helpers
    where
        F: Fn(u64, u64, u64, u64, u64) -> u64 + Send + Sync + 'static,
    {
        self.register(id, move |_, [a, b, c, d, e]| Ok(f(a, b, c, d, e)))
    }

    /// [`Helpers::register`], by value, for building a registry in one expression.
    ///
    /// # Panics
    ///
    /// If `id >= MAX_HELPER_ID`.
    pub fn with<F>(mut self, id: u32, f: F) -> Helpers
    where
        F: Fn(&mut HelperContext<'_>, [u64; 5]) -> Result<u64, HelperError> + Send + Sync + 'static,
    {
        self.register(id, f);
        self
    }

    /// Remove helper `id`; returns it if it was registered.
    pub fn remove(&mut self, id: u32) -> Option<Arc<HelperFn>> {
        if let Some(n) = self.native.get_mut(id as usize) {
            *n = None;
        }
        self.table.get_mut(id as usize)?.take()
    }

    /// Helper `id`, if registered.
    #[inline]
    pub fn get(&self, id: u32) -> Option<&Arc<HelperFn>> {
        self.table.get(id as usize)?.as_ref()
    }

    /// Whether helper `id` is registered.
    pub fn contains(&self, id: u32) -> bool {
        self.get(id).is_some()
    }

    /// The registered ids, ascending.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.table
            .iter()
            .enumerate()
            .filter(|(_, f)| f.is_some())
            .map(|(i, _)| i as u32)
    }
}

impl fmt::Debug for Helpers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.ids()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry() {
        let mut h = Helpers::new().with(1, |_, a| Ok(a[0] + 1));
        h.register(7, |_, _| Err(HelperError::failed("nope")));
        h.register_fn(9, |a, b, c, d, e| a + b + c + d + e);
        assert!(h.contains(1) && h.contains(7));
        assert!(!h.contains(0) && !h.contains(2) && !h.contains(u32::MAX));
        assert_eq!(h.ids().collect::<Vec<_>>(), [1, 7, 9]);
        assert_eq!(format!("{h:?}"), "{1, 7, 9}");
        assert!(h.remove(7).is_some());
        assert!(h.remove(7).is_none());
        assert!(h.remove(1000).is_none());
        assert_eq!(h.ids().collect::<Vec<_>>(), [1, 9]);
    }

    #[test]
    #[should_panic(expected = "not below")]
    fn huge_id_panics() {
        Helpers::new().register(MAX_HELPER_ID, |_, _| Ok(0));
    }
}
