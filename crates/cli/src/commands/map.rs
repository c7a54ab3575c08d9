//! `waggle map`: maps in the daemon, as `bpftool map`. Keys and values are hex bytes in the
//! map's (host) byte order, e.g. `waggle map lookup /counts 01 00 00 00`.

use super::daemon::{ClientArgs, fail, open, print_json};
use super::{Failure, emit, hex_compact, usage};
use serde_json::json;
use waggle_daemon::proto::ObjInfo;

/// `waggle map` and its verbs.
#[derive(clap::Args)]
pub struct MapCmd {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    verb: MapVerb,
}

#[derive(clap::Subcommand)]
enum MapVerb {
    /// List maps.
    List,
    /// Show one map (ID, /pin/path or name:NAME).
    Show {
        /// The map.
        map: String,
    },
    /// Every key and value.
    Dump {
        /// The map.
        map: String,
    },
    /// Look a key up.
    Lookup {
        /// The map.
        map: String,
        /// The key, as hex bytes.
        #[arg(required = true, num_args = 1..)]
        key: Vec<String>,
    },
    /// Set a key's value: `update MAP KEY... value VALUE... [any|exist|noexist]`.
    Update {
        /// The map.
        map: String,
        /// Key bytes, the word `value`, value bytes, then optionally the flag word.
        #[arg(required = true, num_args = 3.., allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Delete a key.
    Delete {
        /// The map.
        map: String,
        /// The key, as hex bytes.
        #[arg(required = true, num_args = 1..)]
        key: Vec<String>,
    },
    /// Pin a map at a path.
    Pin {
        /// The map.
        map: String,
        /// The pin path.
        path: String,
    },
}

fn hex(tokens: &[String], what: &str) -> Result<Vec<u8>, Failure> {
    waggle_cli::parse_hex_bytes(&tokens.join(" ")).map_err(|e| usage(format!("{what}: {e}")))
}

/// Runs `waggle map VERB`.
pub fn run(cmd: MapCmd) -> Result<(), Failure> {
    let mut c = cmd.client.connect()?;
    let json = cmd.client.json;
    match cmd.verb {
        MapVerb::List => {
            let mut out = Vec::new();
            for id in c.map_ids().map_err(fail)? {
                let Ok(h) = c.map_by_id(id) else { continue };
                out.push(c.info(h).map_err(fail)?);
                c.close(h).map_err(fail)?;
            }
            show(&out, json)
        }
        MapVerb::Show { map } => {
            let h = open(&mut c, &map, false)?;
            let i = c.info(h).map_err(fail)?;
            show(&[i], json)
        }
        MapVerb::Dump { map } => {
            let h = open(&mut c, &map, false)?;
            // Keys and values shown with their BTF types when the map has BTF.
            let entries = c.map_dump_btf(h).map_err(fail)?;
            if json {
                let v: Vec<_> = entries
                    .iter()
                    .map(|e| {
                        let mut o =
                            json!({ "key": hex_compact(&e.key), "value": hex_compact(&e.value) });
                        if e.key_text.is_some() || e.value_text.is_some() {
                            o["formatted"] = json!({ "key": e.key_text, "value": e.value_text });
                        }
                        o
                    })
                    .collect();
                return print_json(&serde_json::Value::Array(v));
            }
            let mut text = String::new();
            for e in &entries {
                let k = e
                    .key_text
                    .clone()
                    .unwrap_or_else(|| waggle_cli::to_hex(&e.key));
                let v = e
                    .value_text
                    .clone()
                    .unwrap_or_else(|| waggle_cli::to_hex(&e.value));
                text.push_str(&format!("key: {k}  value: {v}\n"));
            }
            text.push_str(&format!("Found {} elements\n", entries.len()));
            emit(&text)
        }
        MapVerb::Lookup { map, key } => {
            let h = open(&mut c, &map, false)?;
            let k = hex(&key, "key")?;
            let v = c.map_lookup(h, &k).map_err(fail)?;
            entry(&k, &v, json)
        }
        MapVerb::Update { map, args } => {
            let h = open(&mut c, &map, false)?;
            let at = args
                .iter()
                .position(|a| a == "value")
                .ok_or_else(|| usage("update: expected KEY... value VALUE..."))?;
            let (key, rest) = args.split_at(at);
            let mut rest = &rest[1..];
            let mut flags = 0;
            if let Some((last, init)) = rest.split_last() {
                let f = match last.as_str() {
                    "any" => Some(0),
                    "noexist" => Some(1),
                    "exist" => Some(2),
                    _ => None,
                };
                if let Some(f) = f {
                    flags = f;
                    rest = init;
                }
            }
            let k = hex(key, "key")?;
            let v = hex(rest, "value")?;
            c.map_update(h, &k, &v, flags).map_err(fail)?;
            done(json)
        }
        MapVerb::Delete { map, key } => {
            let h = open(&mut c, &map, false)?;
            c.map_delete(h, &hex(&key, "key")?).map_err(fail)?;
            done(json)
        }
        MapVerb::Pin { map, path } => {
            let h = open(&mut c, &map, false)?;
            c.pin(h, &path).map_err(fail)?;
            done(json)
        }
    }
}

fn done(json: bool) -> Result<(), Failure> {
    if json { print_json(&json!({})) } else { Ok(()) }
}

fn entry(k: &[u8], v: &[u8], json: bool) -> Result<(), Failure> {
    if json {
        print_json(&json!({ "key": hex_compact(k), "value": hex_compact(v) }))
    } else {
        emit(&format!(
            "key: {}  value: {}\n",
            waggle_cli::to_hex(k),
            waggle_cli::to_hex(v)
        ))
    }
}

fn show(all: &[ObjInfo], json: bool) -> Result<(), Failure> {
    let mut text = String::new();
    let mut list = Vec::new();
    for i in all {
        if let ObjInfo::Map {
            id,
            name,
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags,
            frozen,
            memory_bytes,
            ..
        } = i
        {
            let t = waggle_maps::MapType::from_u32(*map_type).map_or("unknown", |t| t.name());
            list.push(json!({
                "id": id, "type": t, "name": name, "flags": map_flags, "bytes_key": key_size,
                "bytes_value": value_size, "max_entries": max_entries, "bytes_memlock": memory_bytes,
                "frozen": frozen,
            }));
            text.push_str(&format!(
                "{id}: {t}  name {name}  flags {map_flags:#x}\n\tkey {key_size}B  value {value_size}B  max_entries {max_entries}  memlock {memory_bytes}B{}\n",
                if *frozen { "  frozen" } else { "" }
            ));
        }
    }
    if json {
        print_json(&serde_json::Value::Array(list))
    } else {
        emit(&text)
    }
}
