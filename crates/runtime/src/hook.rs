//! Hooks: the attach points events fire. A [`Hook`] has a name, the program types it accepts
//! (which decide the context its programs see) and a rule for combining several programs'
//! return values. `LINK_CREATE` ([`Runtime::link_create`]) attaches a program to a hook by
//! name; the hook runs its programs in attach order each time its event source fires it.
//!
//! The attached list is an immutable snapshot swapped atomically (`hooks::rcu`, an RCU-like
//! cell): a firing reads the current snapshot and runs it to the end, so attaching or
//! detaching never interrupts a run in progress, and the programs of a snapshot (with their
//! maps) stay alive until every run using it ends (the detaching thread waits for them, as
//! `synchronize_rcu` does). Firing takes no lock and makes no atomic read-modify-write.

use crate::error::{Error, Result};
use crate::hooks::rcu::{Rcu, ReadGuard};
use crate::program::Program;
use crate::run_state::{self, EventInfo};
use crate::runtime::Runtime;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use waggle_uapi::{ProgramType, errno};
use waggle_vm::VmError;

/// How a hook combines the return values of its programs (they run in attach order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    /// Every program runs; the result is the last one's (tracing hooks: perf events,
    /// tracepoints, where the kernel ignores the value).
    All,
    /// Programs run while they return `value`; the first other value stops the chain and is
    /// the result, else the result is `value`. Like libxdp's multi-program dispatcher with
    /// `XDP_PASS` (`Continue(2)`), and like an allow/deny chain with 0 meaning "no
    /// objection" (`Continue(0)`: the first non-zero answer wins).
    Continue(u64),
    /// Every program runs until one returns 0; the result is the smallest value (socket
    /// filters: each return value truncates the packet, 0 drops it).
    Min,
}

/// What a hook is: the program types it accepts and how it combines their results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookSpec {
    /// Program types that may attach (`LINK_CREATE` refuses others with `EINVAL`).
    pub prog_types: Vec<ProgramType>,
    /// How the programs' return values combine.
    pub combine: Combine,
    /// For plain programs: the context the hook passes (bytes, writable). `LINK_CREATE`
    /// refuses a program that the verifier saw read past it (`EINVAL`) or write a read-only
    /// one (`EACCES`). `None`: the program type defines the context.
    pub plain_ctx: Option<(u32, bool)>,
}

impl HookSpec {
    /// A hook for programs of one type.
    pub fn new(prog_type: ProgramType, combine: Combine) -> HookSpec {
        HookSpec {
            prog_types: vec![prog_type],
            combine,
            plain_ctx: None,
        }
    }
}

/// One program attached to a hook: what a firing runs.
#[derive(Clone, Debug)]
pub struct Attached {
    /// The link's id.
    pub link_id: u32,
    /// The program.
    pub program: Arc<Program>,
    /// The link's cookie (`bpf_get_attach_cookie`).
    pub cookie: u64,
}

/// What a firing sees: the attached programs, and what the fast path of application hooks
/// needs, worked out once per attach or detach rather than per event.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    list: Arc<Vec<Attached>>,
    /// At least one program is attached and every one may run on lean verified code straight
    /// from the hook's plain context: it has lean code ([`Program::lean_jit`]) and the
    /// context the hook passes (`HookSpec::plain_ctx`) covers what the verifier saw it use.
    lean: bool,
    /// `lean` with exactly one program (the straight-line case).
    single_lean: bool,
}

impl Snapshot {
    fn new(spec: &HookSpec, list: Vec<Attached>) -> Snapshot {
        let lean = match spec.plain_ctx {
            Some((size, writable)) => {
                !list.is_empty()
                    && list.iter().all(|a| {
                        a.program.lean_jit().is_some()
                            && a.program
                                .ctx_use
                                .is_some_and(|u| u.end <= size && (writable || !u.writes))
                    })
            }
            None => false,
        };
        Snapshot {
            single_lean: lean && list.len() == 1,
            list: Arc::new(list),
            lean,
        }
    }

    /// The attached programs, when every one may run on lean code from the hook's context.
    #[inline(always)]
    pub(crate) fn lean(&self) -> Option<&[Attached]> {
        if self.lean { Some(&self.list) } else { None }
    }

    /// The one attached program, when it may run on lean code from the hook's context.
    #[inline(always)]
    pub(crate) fn single_lean(&self) -> Option<&Program> {
        if self.single_lean {
            self.list.first().map(|a| &*a.program)
        } else {
            None
        }
    }
}

/// An attach point.
#[derive(Debug)]
pub struct Hook {
    name: String,
    spec: HookSpec,
    attached: Rcu<Snapshot>,
    /// Serialises writers (attach, detach); readers never take it.
    writer: Mutex<()>,
}

impl Hook {
    fn new(name: String, spec: HookSpec) -> Hook {
        Hook {
            name,
            spec,
            attached: Rcu::new(Snapshot::default()),
            writer: Mutex::new(()),
        }
    }

    /// The hook's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the hook accepts.
    pub fn spec(&self) -> &HookSpec {
        &self.spec
    }

    /// The programs attached now, in attach order (a snapshot).
    pub fn attached(&self) -> Arc<Vec<Attached>> {
        self.attached.read().get().list.clone()
    }

    /// Whether any program is attached.
    pub fn is_empty(&self) -> bool {
        self.attached.read().get().list.is_empty()
    }

    /// The current snapshot, for a firing.
    #[inline(always)]
    pub(crate) fn snapshot(&self) -> ReadGuard<'_, Snapshot> {
        self.attached.read()
    }

    fn update(&self, f: impl FnOnce(&mut Vec<Attached>)) {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut list = Vec::clone(&self.attached.read().get().list);
        f(&mut list);
        self.attached
            .store(Arc::new(Snapshot::new(&self.spec, list)));
    }

    pub(crate) fn add(&self, a: Attached) {
        self.update(|l| l.push(a));
    }

    pub(crate) fn remove(&self, link_id: u32) {
        let attached = self
            .attached
            .read()
            .get()
            .list
            .iter()
            .any(|a| a.link_id == link_id);
        if attached {
            self.update(|l| l.retain(|a| a.link_id != link_id));
        }
    }

    /// Fire the hook: run every attached program in attach order through `run` (which builds
    /// the context and calls [`Program::run`]), each with its link's cookie as the event's
    /// attach cookie, combining the results by the hook's [`Combine`]. With no program
    /// attached the result is `default`. A program's run error stops the chain.
    pub fn dispatch(
        &self,
        default: u64,
        mut run: impl FnMut(&Program) -> std::result::Result<u64, VmError>,
    ) -> std::result::Result<u64, VmError> {
        let snapshot = self.attached.read();
        let list = &snapshot.get().list;
        if list.is_empty() {
            return Ok(default);
        }
        let mut result = self.spec.combine.start(default);
        for a in list.iter() {
            // Only helpers read the event's identity.
            let r = if a.program.calls_helpers() {
                run_state::set_event(EventInfo {
                    attach_cookie: a.cookie,
                    func_ip: 0,
                });
                let r = run(&a.program);
                run_state::set_event(EventInfo::default());
                r
            } else {
                run(&a.program)
            };
            match self.spec.combine.step(result, r?) {
                ControlFlow::Continue(v) => result = v,
                ControlFlow::Break(v) => return Ok(v),
            }
        }
        Ok(result)
    }

    /// Run `list` (a snapshot's [`Snapshot::lean`] programs) on lean code with r1..=r5 =
    /// `args`, combining as [`Hook::dispatch`] does. The caller vouches for the context as
    /// [`Program::run_lean_trusted`] requires, for every program of the list.
    pub(crate) fn dispatch_lean(
        &self,
        list: &[Attached],
        args: [u64; 5],
    ) -> std::result::Result<u64, Box<VmError>> {
        let mut result = self.spec.combine.start(0);
        for a in list {
            let Some(jit) = a.program.lean_jit() else {
                // `Snapshot::new` let only lean programs in.
                return Err(Box::new(VmError::InvalidInstruction { pc: 0 }));
            };
            match self
                .spec
                .combine
                .step(result, Program::run_lean_trusted(jit, args)?)
            {
                ControlFlow::Continue(v) => result = v,
                ControlFlow::Break(v) => return Ok(v),
            }
        }
        Ok(result)
    }
}

impl Combine {
    /// The result before any program ran (`default` for `All`; never the answer when at
    /// least one program runs, except through `Continue`'s value).
    #[inline(always)]
    fn start(self, default: u64) -> u64 {
        match self {
            Combine::Continue(v) => v,
            Combine::Min => u64::MAX,
            Combine::All => default,
        }
    }

    /// Fold one program's value `r` into `result`: `Break` ends the chain with the answer.
    #[inline(always)]
    fn step(self, result: u64, r: u64) -> ControlFlow<u64, u64> {
        match self {
            Combine::All => ControlFlow::Continue(r),
            Combine::Continue(v) if r != v => ControlFlow::Break(r),
            Combine::Continue(_) => ControlFlow::Continue(result),
            Combine::Min if r == 0 => ControlFlow::Break(0),
            Combine::Min => ControlFlow::Continue(result.min(r)),
        }
    }
}

impl Runtime {
    /// Create the hook `name` (`EEXIST` if there is one).
    pub fn hook_create(&self, name: &str, spec: HookSpec) -> Result<Arc<Hook>> {
        let mut hooks = self.hooks();
        if hooks.contains_key(name) {
            return Err(Error::new(
                errno::EEXIST,
                format!("hook {name} already exists"),
            ));
        }
        let hook = Arc::new(Hook::new(name.to_string(), spec));
        hooks.insert(name.to_string(), hook.clone());
        Ok(hook)
    }

    /// The hook `name`, if it exists.
    pub fn hook(&self, name: &str) -> Option<Arc<Hook>> {
        self.hooks().get(name).cloned()
    }

    /// Names of the hooks, sorted.
    pub fn hook_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.hooks().keys().cloned().collect();
        v.sort();
        v
    }

    /// Remove the hook `name` from the namespace: it can no longer be attached to by name.
    /// Links already attached keep it (and fire with it) until they are closed.
    pub fn hook_remove(&self, name: &str) -> Result<()> {
        self.hooks()
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| Error::not_found(format!("no hook named {name}")))
    }
}
