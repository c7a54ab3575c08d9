//! `waggle link`: links in the daemon. Attaching to hooks is not available yet, so these
//! verbs say so cleanly.

use super::daemon::ClientArgs;
use super::{Failure, usage};

/// `waggle link` and its verbs.
#[derive(clap::Args)]
pub struct LinkCmd {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    verb: LinkVerb,
}

#[derive(clap::Subcommand)]
enum LinkVerb {
    /// List links.
    List,
    /// Detach a link.
    Detach {
        /// The link.
        link: String,
    },
}

/// Runs `waggle link VERB`.
pub fn run(cmd: LinkCmd) -> Result<(), Failure> {
    let _ = (&cmd.client.socket, cmd.client.json);
    match cmd.verb {
        LinkVerb::List | LinkVerb::Detach { .. } => Err(usage(
            "link: attaching programs to hooks is not available in the daemon yet",
        )),
    }
}
