//! `waggle pin`: the daemon's pin namespace.

use super::daemon::{ClientArgs, fail, print_json};
use super::{Failure, emit};
use serde_json::json;

/// `waggle pin` and its verbs.
#[derive(clap::Args)]
pub struct PinCmd {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    verb: PinVerb,
}

#[derive(clap::Subcommand)]
enum PinVerb {
    /// List pinned paths.
    List,
    /// Remove a pin (the object is freed when nothing else holds it).
    Rm {
        /// The pin path.
        path: String,
    },
}

/// Runs `waggle pin VERB`.
pub fn run(cmd: PinCmd) -> Result<(), Failure> {
    let mut c = cmd.client.connect()?;
    match cmd.verb {
        PinVerb::List => {
            let pins = c.pins().map_err(fail)?;
            if cmd.client.json {
                print_json(&json!(pins))
            } else {
                emit(&pins.iter().map(|p| format!("{p}\n")).collect::<String>())
            }
        }
        PinVerb::Rm { path } => {
            c.unpin(&path).map_err(fail)?;
            if cmd.client.json {
                print_json(&json!({ "unpinned": path }))
            } else {
                Ok(())
            }
        }
    }
}
