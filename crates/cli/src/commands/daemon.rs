//! `waggle daemon` and what the daemon's client commands (`prog`, `map`, `pin`, `ringbuf`,
//! `link`) share: finding and connecting to the daemon, naming objects, JSON output.

use super::{Failure, failed, usage};
use std::path::PathBuf;
use waggle_daemon::Client;
use waggle_daemon::proto::{ObjInfo, WireHandle};

/// `waggle daemon` options.
#[derive(clap::Args)]
pub struct DaemonArgs {
    /// Socket path [default: $XDG_RUNTIME_DIR/waggle.sock, else /run/waggle/waggle.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// A group (name or gid) whose members may load and attach too (socket mode 0660).
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Let every user connect (socket mode 0666); users not privileged may only read maps.
    #[arg(long)]
    pub public: bool,
    /// Save pinned maps here on shutdown and restore them on start.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

/// Options every client command takes.
#[derive(clap::Args)]
pub struct ClientArgs {
    /// The daemon's socket [default: $WAGGLE_SOCKET, else the daemon's default].
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ClientArgs {
    /// Connects to the daemon.
    pub fn connect(&self) -> Result<Client, Failure> {
        Client::connect(waggle_daemon::client_socket_path(self.socket.clone())).map_err(failed)
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(a: DaemonArgs) -> Result<(), Failure> {
    let group = a.group.as_deref().map(resolve_group).transpose()?;
    waggle_daemon::server::run(waggle_daemon::Config {
        socket: a.socket,
        group,
        public: a.public,
        state_dir: a.state,
    })
    .map_err(|e| failed(format!("daemon: {e}")))
}

/// A group name (looked up in /etc/group) or a numeric gid.
fn resolve_group(g: &str) -> Result<u32, Failure> {
    if let Ok(n) = g.parse() {
        return Ok(n);
    }
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    groups
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(g)).then(|| f.nth(1).and_then(|id| id.parse().ok()))?
        })
        .ok_or_else(|| usage(format!("--group: no group named {g}")))
}

/// Turns a client error into a failure (exit code 1).
pub fn fail(e: waggle_daemon::ClientError) -> Failure {
    failed(e)
}

/// Opens a handle to a map or program named by `ID` (a number), a pin path (`/...`), or
/// `name:NAME` (maps only: the first map of that name).
pub fn open(c: &mut Client, what: &str, prog: bool) -> Result<WireHandle, Failure> {
    if let Ok(id) = what.trim_start_matches("id:").parse::<u32>() {
        return if prog {
            c.prog_by_id(id)
        } else {
            c.map_by_id(id)
        }
        .map_err(fail);
    }
    if let Some(name) = what.strip_prefix("name:") {
        let ids = if prog { c.prog_ids() } else { c.map_ids() }.map_err(fail)?;
        for id in ids {
            let h = if prog {
                c.prog_by_id(id)
            } else {
                c.map_by_id(id)
            };
            let Ok(h) = h else { continue };
            match c.info(h).map_err(fail)? {
                ObjInfo::Map { name: n, .. } | ObjInfo::Program { name: n, .. } if n == name => {
                    return Ok(h);
                }
                _ => c.close(h).map_err(fail)?,
            }
        }
        return Err(failed(format!("no {} named {name}", kind(prog))));
    }
    if what.starts_with('/') {
        return c.get_pinned(what).map_err(fail);
    }
    Err(usage(format!(
        "{what}: name a {} by id (N), pin path (/...) or name:NAME",
        kind(prog)
    )))
}

fn kind(prog: bool) -> &'static str {
    if prog { "program" } else { "map" }
}

/// Prints a JSON value on one line.
pub fn print_json(v: &serde_json::Value) -> Result<(), Failure> {
    super::emit(&format!("{v}\n"))
}
