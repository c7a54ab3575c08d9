//! `waggle ringbuf read MAP`: prints a ring buffer's records as they come, consuming them
//! through shared memory (no round trip per record) when this client may write the consumer
//! position, else through the daemon.

use super::daemon::{ClientArgs, fail, open, print_json};
use super::{Failure, emit, hex_compact};
use serde_json::json;
use std::time::Duration;

/// `waggle ringbuf` and its verbs.
#[derive(clap::Args)]
pub struct RingbufCmd {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    verb: RingbufVerb,
}

#[derive(clap::Subcommand)]
enum RingbufVerb {
    /// Print records as they arrive (follows until interrupted, or `--count`).
    Read {
        /// The ring buffer map (ID, /pin/path or name:NAME).
        map: String,
        /// Stop after this many records.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Stop after this long without a record.
        #[arg(long, value_name = "MS")]
        idle_timeout_ms: Option<u64>,
    },
}

/// Runs `waggle ringbuf VERB`.
pub fn run(cmd: RingbufCmd) -> Result<(), Failure> {
    let mut c = cmd.client.connect()?;
    let json = cmd.client.json;
    let RingbufVerb::Read {
        map,
        count,
        idle_timeout_ms,
    } = cmd.verb;
    let h = open(&mut c, &map, false)?;
    let shm = c
        .map_shm(h)
        .ok()
        .filter(|s| s.mapping().writable())
        .filter(|s| matches!(s.layout(), waggle_daemon::proto::ShmLayout::RingBuf { .. }));
    let mut seen = 0u64;
    let mut idle = Duration::ZERO;
    let limit = count.unwrap_or(u64::MAX);
    let print = |s: &[u8]| -> Result<(), Failure> {
        if json {
            print_json(&json!({ "len": s.len(), "data": hex_compact(s) }))
        } else {
            emit(&format!("{}\n", waggle_cli::to_hex(s)))
        }
    };
    while seen < limit {
        let mut records = Vec::new();
        let got = match &shm {
            Some(s) => s
                .ringbuf_consume(|r| records.push(r.to_vec()))
                .map_err(fail)?,
            None => {
                records = c.ringbuf_consume(h, 100).map_err(fail)?;
                records.len()
            }
        };
        for r in records.iter().take((limit - seen) as usize) {
            print(r)?;
        }
        seen += got as u64;
        if got > 0 {
            idle = Duration::ZERO;
            continue;
        }
        if idle_timeout_ms.is_some_and(|t| idle >= Duration::from_millis(t)) {
            break;
        }
        // Nothing yet: no notification through shared memory, so poll gently.
        let step = Duration::from_millis(if shm.is_some() { 5 } else { 0 });
        std::thread::sleep(step);
        idle += step.max(Duration::from_millis(100) * u32::from(shm.is_none()));
    }
    Ok(())
}
