//! Application hooks: the embedding API. An application declares a named hook whose context
//! is one of its own `#[repr(C)]` structs ([`bytemuck::Pod`]: plain bytes, no pointers it
//! would have to trust a program with), attaches programs to it through links like any
//! hook, and fires it from any thread:
//!
//! ```
//! use waggle_runtime::{Combine, CtxAccess, Runtime};
//!
//! #[repr(C)]
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
//! struct Request { uid: u32, port: u32 }
//!
//! let rt = Runtime::new();
//! let hook = rt.app_hook::<Request>("acl", CtxAccess::ReadOnly, Combine::Continue(0)).unwrap();
//! // ... rt.load_object(..), rt.link_create(prog, "acl", 0) ...
//! let verdict = hook.fire(&mut Request { uid: 1000, port: 22 }).unwrap();
//! assert_eq!(verdict, 0); // nothing attached: the chain's "continue" value
//! ```
//!
//! Programs are of the plain type ([`ProgramType::PLAIN`]: any section name libbpf does
//! not know, e.g. `SEC("waggle/acl")`): r1 = the struct's address, r2 = its size. The
//! result combines as the hook's [`Combine`] says: with `Combine::Continue(0)` the programs
//! run in attach order until one returns non-zero, which is the answer (an allow/deny chain
//! where 0 means "no objection"); `Combine::All` runs all and answers the last one's value.
//!
//! # The fast path
//!
//! [`AppHook::fire`] is inlined into the caller. When every attached program runs as lean
//! verified JIT code (no helper that needs the run's regions or per-run state, no tail call:
//! see `Program::lean_jit`) and run statistics are off, `fire` calls that code directly with
//! r1 = the context's address, r2 = its size: no regions, no per-run context check; a lone
//! program straight-line, several in attach order with the hook's combine rule
//! (`Hook::dispatch_lean`). The general path ([`Hook::dispatch`] and `Program::run`) handles
//! everything else. Why skipping `Program::run`'s checks is sound:
//!
//! - **The context check** (`verified::CtxCheck::trusts`) would find exactly what the hook
//!   passes: r1 is the address of a live `T` borrowed mutably for the call, of
//!   `size_of::<T>()` bytes, and the hook's `HookSpec::plain_ctx` is that size and its
//!   writability, fixed when the hook was declared. `LINK_CREATE` refuses a program the
//!   verifier saw read past that size or write a read-only context, and the snapshot
//!   (`hook::Snapshot`) checks it again when it marks a link for the fast path, from the
//!   program's own `ctx_use`. Plain contexts hold no pointers, so there is nothing else to
//!   check.
//! - **Run state, helpers, tail calls**: lean code calls no helper through Rust and only
//!   direct helpers, which are stateless, so it needs no regions, no attach cookie and no
//!   per-run state, and cannot tail-call.
//! - **Several programs, cookies, order**: they run in the snapshot's (attach) order and
//!   combine by the same rule as the general path (`Combine::step`); a lone program's value
//!   is the combined result under every rule. Lean programs cannot read the attach cookie
//!   (`bpf_get_attach_cookie` is not a direct helper), so none is set.
//! - **Statistics**: checked per firing; with statistics on, the general path counts and
//!   times the run.
//! - **Detaching**: the snapshot is read inside an RCU read-side section (`hooks::rcu`), so
//!   the program (and its maps) cannot be freed while the call runs; detaching waits for it.
//! - **Errors**: lean code can still fail (call depth); the error is returned as from
//!   `Program::run`.

use crate::error::Result;
use crate::hook::{Combine, Hook, HookSpec};
use crate::runtime::Runtime;
use std::marker::PhantomData;
use std::sync::Arc;
use waggle_uapi::ProgramType;
use waggle_vm::{Region, VmError};

/// Whether programs may write the context of an application hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtxAccess {
    /// Programs read the context; a store into it is a run error.
    ReadOnly,
    /// Programs may change the context; the caller sees the changes after `fire`.
    Writable,
}

/// An application hook whose context is a `T`. Cheap to clone; fire it from any thread.
#[derive(Debug)]
pub struct AppHook<T> {
    hook: Arc<Hook>,
    access: CtxAccess,
    _ctx: PhantomData<fn(&mut T)>,
}

impl<T> Clone for AppHook<T> {
    fn clone(&self) -> Self {
        AppHook {
            hook: self.hook.clone(),
            access: self.access,
            _ctx: PhantomData,
        }
    }
}

impl<T: bytemuck::Pod> AppHook<T> {
    /// Run the attached programs on `ctx`; their combined return value (the combine rule's
    /// "continue" value, or 0 for `All`/`Min`, when nothing is attached). A program's run
    /// error (e.g. an access outside its memory) stops the chain and is returned.
    // Inlined into the caller with the fast path (see the module docs), so the result stays
    // in registers: returned through memory from an outlined call, the 40-byte `Result` is
    // read back with wide loads right after narrow stores, a store-forwarding stall.
    #[inline(always)]
    pub fn fire(&self, ctx: &mut T) -> std::result::Result<u64, VmError> {
        let snapshot = self.hook.snapshot();
        if let Some(p) = snapshot.get().single_lean()
            && !crate::program::stats_enabled()
            && let Some(jit) = p.lean_jit()
        {
            // One program: its answer is the combined one whatever the rule (`Continue(v)`
            // answers the first value other than v, else v: the program's value either way).
            let addr = std::ptr::from_mut(ctx).addr() as u64;
            let len = std::mem::size_of::<T>() as u64;
            return crate::program::Program::run_lean_trusted(jit, [addr, len, 0, 0, 0]);
        }
        drop(snapshot);
        // Boxed so that both paths hand back the result in registers.
        self.fire_general(ctx).map_err(|e| *e)
    }

    /// Every other firing, out of line: several lean programs (still without regions), or
    /// the general path for programs that need regions or run state, statistics on, no
    /// program.
    #[inline(never)]
    fn fire_general(&self, ctx: &mut T) -> std::result::Result<u64, Box<VmError>> {
        let snapshot = self.hook.snapshot();
        if let Some(list) = snapshot.get().lean()
            && !crate::program::stats_enabled()
        {
            let addr = std::ptr::from_mut(ctx).addr() as u64;
            let args = [addr, std::mem::size_of::<T>() as u64, 0, 0, 0];
            return self.hook.dispatch_lean(list, args);
        }
        drop(snapshot);
        let default = match self.hook.spec().combine {
            Combine::Continue(v) => v,
            Combine::All | Combine::Min => 0,
        };
        let len = std::mem::size_of::<T>() as u64;
        let access = self.access;
        self.hook
            .dispatch(default, |p| {
                let region = match access {
                    CtxAccess::ReadOnly => Region::readonly(bytemuck::bytes_of(&*ctx)),
                    CtxAccess::Writable => Region::writable(bytemuck::bytes_of_mut(&mut *ctx)),
                };
                let r1 = region.addr();
                p.run([r1, len, 0, 0, 0], [region])
            })
            .map_err(Box::new)
    }

    /// The underlying hook (its name, attached programs).
    pub fn hook(&self) -> &Arc<Hook> {
        &self.hook
    }
}

impl Runtime {
    /// Declare the application hook `name` with context `T` (`EEXIST` if the name is taken).
    pub fn app_hook<T: bytemuck::Pod>(
        &self,
        name: &str,
        access: CtxAccess,
        combine: Combine,
    ) -> Result<AppHook<T>> {
        let spec = HookSpec {
            plain_ctx: Some((
                std::mem::size_of::<T>() as u32,
                access == CtxAccess::Writable,
            )),
            ..HookSpec::new(ProgramType::PLAIN, combine)
        };
        let hook = self.hook_create(name, spec)?;
        Ok(AppHook {
            hook,
            access,
            _ctx: PhantomData,
        })
    }
}
