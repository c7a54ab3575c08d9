//! Links: a program attached to a hook. Hooks (event sources) come with the hooks issue; the
//! object, its id and its lifecycle exist now so that detaching and unloading are real.

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
    detached: AtomicBool,
}

impl Link {
    pub(crate) fn new(id: u32, program: Arc<Program>, hook: String, cookie: u64) -> Link {
        Link {
            id,
            program,
            hook,
            cookie,
            detached: AtomicBool::new(false),
        }
    }

    /// Whether `LINK_DETACH` was called: the link stays as an object but no longer fires.
    pub fn is_detached(&self) -> bool {
        self.detached.load(Ordering::Acquire)
    }

    pub(crate) fn detach(&self) {
        self.detached.store(true, Ordering::Release);
    }
}
