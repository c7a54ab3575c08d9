//! `waggle ringbuf read MAP`: prints a ring buffer's records as they come, consuming them
//! through shared memory (no round trip per record) when this client may write the consumer
//! position, else through the daemon. Waiting for records blocks on the ring buffer's
//! notification eventfd (or in the daemon), never polls.

use super::daemon::{ClientArgs, fail, open, print_json};
use super::{Failure, emit, hex_compact};
use serde_json::json;
use std::time::{Duration, Instant};

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
    let limit = count.unwrap_or(u64::MAX);
    let idle_limit = idle_timeout_ms.map(Duration::from_millis);
    let mut idle_since = Instant::now();
    let print = |s: &[u8]| -> Result<(), Failure> {
        if json {
            print_json(&json!({ "len": s.len(), "data": hex_compact(s) }))
        } else {
            emit(&format!("{}\n", waggle_cli::to_hex(s)))
        }
    };
    while seen < limit {
        let mut records = Vec::new();
        // How long to wait for the next record: until the idle timeout, else a while (the
        // loop goes round again; nothing is polled meanwhile).
        let wait = idle_limit
            .map_or(Duration::from_secs(1), |t| {
                t.saturating_sub(idle_since.elapsed())
            })
            .min(Duration::from_secs(1));
        let got = match &shm {
            Some(s) => {
                let mut n = s
                    .ringbuf_consume(|r| records.push(r.to_vec()))
                    .map_err(fail)?;
                // Nothing yet: sleep on the ring buffer's eventfd until a producer commits.
                if n == 0 && s.ringbuf_wait(wait).map_err(fail)? {
                    n = s
                        .ringbuf_consume(|r| records.push(r.to_vec()))
                        .map_err(fail)?;
                }
                n
            }
            None => {
                // The daemon waits for the first record on its side.
                records = c
                    .ringbuf_consume(h, wait.as_millis() as u32)
                    .map_err(fail)?;
                records.len()
            }
        };
        for r in records.iter().take((limit - seen) as usize) {
            print(r)?;
        }
        seen += got as u64;
        if got > 0 {
            idle_since = Instant::now();
        } else if idle_limit.is_some_and(|t| idle_since.elapsed() >= t) {
            break;
        }
    }
    Ok(())
}
