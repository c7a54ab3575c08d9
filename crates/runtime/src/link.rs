//! Links: a program attached to a [`Hook`]. Creating one adds the program to the hook's
//! attached list (at the end: programs run in attach order); `LINK_DETACH` or dropping the
//! link (closing its last handle, unpinning) removes it. Runs already in progress finish with
//! the snapshot they started with (see [`crate::hook`]).

use crate::hook::{Attached, Hook};
use crate::program::Program;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A program attached to a named hook.
#[derive(Debug)]
pub struct Link {
    /// Unique id.
    pub id: u32,
    /// The attached program (held while the link lives).
    pub program: Arc<Program>,
    /// The hook's name (e.g. `xdp:eth0`, an application hook's name).
    pub hook: String,
    /// The cookie `bpf_get_attach_cookie` returns.
    pub cookie: u64,
    target: Arc<Hook>,
    detached: AtomicBool,
}

impl Link {
    /// Attach `program` to `target` (appended to its attached list).
    pub(crate) fn attach(id: u32, program: Arc<Program>, target: Arc<Hook>, cookie: u64) -> Link {
        target.add(Attached {
            link_id: id,
            program: program.clone(),
            cookie,
        });
        Link {
            id,
            program,
            hook: target.name().to_string(),
            cookie,
            target,
            detached: AtomicBool::new(false),
        }
    }

    /// Whether `LINK_DETACH` was called: the link stays as an object but no longer fires.
    pub fn is_detached(&self) -> bool {
        self.detached.load(Ordering::Acquire)
    }

    pub(crate) fn detach(&self) {
        if !self.detached.swap(true, Ordering::AcqRel) {
            self.target.remove(self.id);
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.detach();
    }
}
