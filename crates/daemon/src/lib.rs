//! The Waggle daemon: the user-space kernel as a long-running process that other processes
//! load programs into and read maps from, as they would with `bpf(2)`.
//!
//! - [`server`]: `waggle daemon` — a [`waggle_runtime::Runtime`] behind a Unix socket (tokio),
//!   per-connection handles closed on disconnect, global pins, SO_PEERCRED permissions,
//!   SIGTERM shutdown, optional `--state` for pinned maps and programs.
//! - [`sources`]: the event sources links attach to (live interface, timers, process events,
//!   pcap replay), run by the daemon while a link holds them.
//! - [`proto`]: the versioned, length-prefixed protocol (see `docs/protocol.md`).
//! - [`client`]: the blocking client library, including [`client::SharedMap`]: a map's memfd
//!   received over the socket (SCM_RIGHTS) and mapped, for array reads, hash lookups and
//!   ring-buffer consumption with no round trip, and ring-buffer waits on an eventfd.

mod btf_fmt;
pub mod client;
pub mod fdpass;
pub mod proto;
pub mod server;
pub mod sources;
mod state;

pub use client::{Client, ClientError, SharedMap};
pub use server::{Config, Server, ServerHandle};

use std::path::PathBuf;

/// The daemon's default socket: `$XDG_RUNTIME_DIR/waggle.sock`, else
/// `/run/waggle/waggle.sock`.
pub fn default_socket_path() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("waggle.sock"),
        _ => PathBuf::from("/run/waggle/waggle.sock"),
    }
}

/// Where a client looks for the daemon: `explicit` (`--socket`), else `$WAGGLE_SOCKET`, else
/// [`default_socket_path`].
pub fn client_socket_path(explicit: Option<PathBuf>) -> PathBuf {
    explicit
        .or_else(|| {
            std::env::var_os("WAGGLE_SOCKET")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(default_socket_path)
}
