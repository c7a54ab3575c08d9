//! `waggle run OBJ.o`: load an object into a fresh runtime, run one program through
//! PROG_TEST_RUN, and show its verdict, time per run, changed data and every map afterwards.

use super::disasm::program_names;
use super::{Failure, emit, failed, hex_compact, hex_dump, open_object, read, usage};
use std::fmt::Write as _;
use std::path::PathBuf;
use waggle_object::{MapKind, Object, SlotTarget};
use waggle_runtime::{LoadError, Runtime, TestRun};
use waggle_uapi::{ProgramType, verdict_name};

/// Where the program's input data comes from.
pub enum DataSource {
    /// No data (an empty packet).
    None,
    /// A file's bytes.
    File(PathBuf),
    /// Bytes given as hex on the command line.
    Hex(String),
    /// The `packet`-th packet (1-based) of a pcap or pcapng file.
    Pcap {
        /// The capture file.
        file: PathBuf,
        /// 1-based packet number.
        packet: usize,
    },
}

/// Everything `waggle run` was asked to do.
pub struct RunArgs {
    /// The object file.
    pub file: PathBuf,
    /// The program to run (default: the first).
    pub program: Option<String>,
    /// The input data.
    pub data: DataSource,
    /// A context file (`xdp_md`, `__sk_buff`, `pt_regs`, …) to start from.
    pub ctx: Option<PathBuf>,
    /// Runs; the time shown is the average.
    pub repeat: u32,
    /// One JSON object instead of text.
    pub json: bool,
}

/// A map's keys and values, as `map_dump` returns them.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// One map's contents after the run.
struct MapDump {
    name: String,
    type_name: String,
    key_size: u32,
    value_size: u32,
    global_data: bool,
    /// An array kind (array, per-CPU array), which has every index whether written or not.
    array: bool,
    /// Values hold one slot per CPU.
    per_cpu: bool,
    /// The entries, or why they could not be read (ring buffers, prog arrays, …).
    entries: Result<Entries, String>,
}

/// Run the program and print the report.
pub fn run(args: &RunArgs) -> Result<(), Failure> {
    let object = open_object(&args.file)?;
    let data = input_data(&args.data)?;
    let ctx = args.ctx.as_deref().map(read).transpose()?;
    let index = match &args.program {
        Some(name) => object
            .programs
            .iter()
            .position(|p| &p.name == name)
            .ok_or_else(|| {
                usage(format!(
                    "{}: no program named {name:?} (programs: {})",
                    args.file.display(),
                    program_names(&object)
                ))
            })?,
        None if object.programs.is_empty() => {
            return Err(usage(format!(
                "{}: the object has no programs",
                args.file.display()
            )));
        }
        None => 0,
    };
    let program = &object.programs[index];

    let runtime = Runtime::new();
    let refused = |e: LoadError| {
        let mut m = format!("{}: load refused: {}", args.file.display(), e.error);
        if !e.log.trim().is_empty() {
            let _ = write!(m, "\nlog:\n{}", e.log.trim_end());
        }
        failed(m)
    };
    // Log level 1 so that a refusal comes with the loader's log, as `bpftool prog load -d`.
    let (loaded, index) = match runtime.load_object(&object, 1) {
        Ok(loaded) => (loaded, index),
        // Another program the runtime cannot load yet should not keep this one from running:
        // retry with only this one, as libbpf does with autoload turned off for the others.
        Err(e) if object.programs.len() > 1 => {
            let only = only_program(&object, index);
            let loaded = runtime.load_object(&only, 1).map_err(refused)?;
            eprintln!(
                "waggle: note: loading every program failed ({}); loaded only {}",
                e.error, program.name
            );
            (loaded, 0)
        }
        Err(e) => return Err(refused(e)),
    };
    let handle = loaded.programs[index].1;
    let result = runtime
        .prog_test_run(
            handle,
            &TestRun {
                data_in: &data,
                ctx_in: ctx.as_deref(),
                repeat: args.repeat.max(1),
            },
        )
        .map_err(|e| {
            failed(format!(
                "{}: {}: run failed: {e}",
                args.file.display(),
                program.name
            ))
        });
    let result = match result {
        Ok(r) => r,
        Err(f) => {
            loaded.close(&runtime);
            return Err(f);
        }
    };
    let prog_type = ProgramType::from_u32(program.prog_type()).unwrap_or(ProgramType::Unspec);
    let report = Report {
        object: args.file.display().to_string(),
        program: program.name.clone(),
        section: program.section.clone(),
        kind: program.kind.name().to_string(),
        prog_type,
        retval: result.retval,
        repeat: args.repeat.max(1),
        duration_ns: result.duration_ns,
        data_in: data,
        data_out: result.data_out,
        maps: dump_maps(&runtime, &object, &loaded.maps),
        trace: runtime.trace_pipe().drain(),
    };
    loaded.close(&runtime);
    if args.json {
        let text = serde_json::to_string_pretty(&report.json())
            .map_err(|e| failed(format!("JSON output: {e}")))?;
        emit(&format!("{text}\n"))
    } else {
        emit(&report.text())
    }
}

/// What a run found, rendered as text or JSON.
struct Report {
    object: String,
    program: String,
    section: String,
    kind: String,
    prog_type: ProgramType,
    retval: u64,
    repeat: u32,
    duration_ns: u64,
    data_in: Vec<u8>,
    data_out: Vec<u8>,
    maps: Vec<MapDump>,
    trace: Vec<String>,
}

impl Report {
    /// The readable form: verdict, time, data if changed, trace lines, map tables.
    fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "program {} ({}, {})",
            self.program, self.section, self.kind
        );
        let retval = match verdict_name(self.prog_type, self.retval) {
            // TC verdicts are signed (`TC_ACT_UNSPEC` is -1); the others small and unsigned.
            Some(name)
                if matches!(
                    self.prog_type,
                    ProgramType::SchedCls | ProgramType::SchedAct
                ) =>
            {
                format!("{name} ({})", self.retval as u32 as i32)
            }
            Some(name) => format!("{name} ({})", self.retval),
            None => format!("{} ({:#x})", self.retval, self.retval),
        };
        let _ = writeln!(out, "return: {retval}");
        let _ = writeln!(
            out,
            "time: {} ns per run (average of {} run{})",
            self.duration_ns,
            self.repeat,
            if self.repeat == 1 { "" } else { "s" }
        );
        if self.data_out != self.data_in {
            let _ = writeln!(
                out,
                "data after the run ({} bytes, was {}):",
                self.data_out.len(),
                self.data_in.len()
            );
            out.push_str(&hex_dump(&self.data_out, "  "));
        } else {
            let _ = writeln!(out, "data: unchanged ({} bytes)", self.data_in.len());
        }
        for line in &self.trace {
            let _ = writeln!(out, "trace: {line}");
        }
        for m in &self.maps {
            write_map(&mut out, m);
        }
        out
    }

    /// Everything as one JSON object; bytes as contiguous hex, every map element listed.
    fn json(&self) -> serde_json::Value {
        let maps: Vec<serde_json::Value> = self.maps.iter().map(map_json).collect();
        serde_json::json!({
            "object": self.object,
            "program": self.program,
            "section": self.section,
            "type": self.kind,
            "retval": self.retval,
            "verdict": verdict_name(self.prog_type, self.retval),
            "repeat": self.repeat,
            "duration_ns": self.duration_ns,
            "data_in": hex_compact(&self.data_in),
            "data_changed": self.data_out != self.data_in,
            "data_out": hex_compact(&self.data_out),
            "maps": maps,
            "trace": self.trace,
        })
    }
}

/// One map as JSON: its shape and its entries (per-CPU values also split by CPU), or the
/// error that kept it from being read.
fn map_json(m: &MapDump) -> serde_json::Value {
    let mut v = serde_json::json!({
        "name": m.name,
        "type": m.type_name,
        "key_size": m.key_size,
        "value_size": m.value_size,
        "global_data": m.global_data,
    });
    match &m.entries {
        Ok(entries) => {
            v["entries"] = entries
                .iter()
                .map(|(k, val)| {
                    let mut e = serde_json::json!({
                        "key": hex_compact(k),
                        "value": hex_compact(val),
                    });
                    if m.per_cpu {
                        e["per_cpu"] = per_cpu_values(m, val)
                            .iter()
                            .map(|c| hex_compact(c))
                            .collect();
                    }
                    e
                })
                .collect();
        }
        Err(e) => v["error"] = e.as_str().into(),
    }
    v
}

/// `object` with only its program `index` (prog array slots of the others dropped).
fn only_program(object: &Object, index: usize) -> Object {
    let mut only = object.clone();
    only.programs = vec![object.programs[index].clone()];
    for m in &mut only.maps {
        m.initial_slots.retain_mut(|(_, target)| match target {
            SlotTarget::Program(j) if *j == index => {
                *j = 0;
                true
            }
            SlotTarget::Program(_) => false,
            SlotTarget::Map(_) => true,
        });
    }
    only
}

/// The program's input bytes.
fn input_data(source: &DataSource) -> Result<Vec<u8>, Failure> {
    match source {
        DataSource::None => Ok(Vec::new()),
        DataSource::File(p) => read(p),
        DataSource::Hex(h) => {
            waggle_cli::parse_hex_bytes(h).map_err(|e| usage(format!("--data-hex: {e}")))
        }
        DataSource::Pcap { file, packet } => {
            let bytes = read(file)?;
            pcap_packet(&bytes, *packet).map_err(|e| usage(format!("{}: {e}", file.display())))
        }
    }
}

/// The `n`-th packet (1-based) of a pcap or pcapng capture, as captured (`caplen` bytes).
pub fn pcap_packet(bytes: &[u8], n: usize) -> Result<Vec<u8>, String> {
    use pcap_parser::traits::PcapNGPacketBlock;
    use pcap_parser::{Block, LegacyPcapSlice, PcapBlockOwned, PcapNGSlice};
    if n == 0 {
        return Err("packets are numbered from 1".into());
    }
    let mut seen = 0usize;
    let mut take = |block: PcapBlockOwned<'_>| -> Option<Vec<u8>> {
        let data = match &block {
            PcapBlockOwned::Legacy(b) => b.data,
            PcapBlockOwned::NG(Block::EnhancedPacket(b)) => b.packet_data(),
            PcapBlockOwned::NG(Block::SimplePacket(b)) => b.packet_data(),
            _ => return None,
        };
        seen += 1;
        (seen == n).then(|| data.to_vec())
    };
    let bad = |e: String| format!("not a valid pcap or pcapng file: {e}");
    // pcapng starts with a section header block; anything else must be a pcap header.
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let blocks = PcapNGSlice::from_slice(bytes).map_err(|e| bad(format!("{e:?}")))?;
        for block in blocks {
            let block = block.map_err(|e| bad(format!("{e:?}")))?;
            if let Some(p) = take(block) {
                return Ok(p);
            }
        }
    } else {
        let blocks = LegacyPcapSlice::from_slice(bytes).map_err(|e| bad(format!("{e:?}")))?;
        for block in blocks {
            let block = block.map_err(|e| bad(format!("{e:?}")))?;
            if let Some(p) = take(block) {
                return Ok(p);
            }
        }
    }
    Err(format!("packet {n} requested, the capture has {seen}"))
}

/// Every map's entries; a map that cannot be iterated from user space keeps its error.
fn dump_maps(
    runtime: &Runtime,
    object: &Object,
    handles: &[(String, waggle_runtime::Handle)],
) -> Vec<MapDump> {
    object
        .maps
        .iter()
        .zip(handles)
        .map(|(spec, (_, h))| MapDump {
            name: spec.name.clone(),
            type_name: spec.type_name().to_string(),
            key_size: spec.key_size,
            value_size: spec.value_size,
            global_data: matches!(spec.kind, MapKind::Data | MapKind::Rodata | MapKind::Bss),
            array: matches!(spec.type_name(), "array" | "percpu_array"),
            per_cpu: spec.type_name().contains("percpu"),
            entries: match spec.type_name() {
                "queue" | "stack" => pop_all(runtime, *h, spec.max_entries),
                _ => runtime.map_dump(*h),
            }
            .map_err(|e| e.message),
        })
        .collect()
}

/// A queue's or stack's values in pop order, with empty keys. Popping empties the map, which
/// is harmless: the runtime is dropped right after the dump.
fn pop_all(
    runtime: &Runtime,
    map: waggle_runtime::Handle,
    max_entries: u32,
) -> waggle_runtime::Result<Entries> {
    let mut out = Vec::new();
    for _ in 0..max_entries {
        match runtime.map_lookup_and_delete_elem(map, &[]) {
            Ok(v) => out.push((Vec::new(), v)),
            Err(e) if e.errno == waggle_uapi::errno::ENOENT => break,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A per-CPU value split into its CPUs' values: one slot per CPU, each rounded up to 8 bytes
/// as the kernel lays them out for user space.
fn per_cpu_values<'a>(m: &MapDump, value: &'a [u8]) -> Vec<&'a [u8]> {
    let size = m.value_size as usize;
    let slot = size.next_multiple_of(8);
    if slot == 0 {
        return vec![value];
    }
    value
        .chunks(slot)
        .map(|c| &c[..c.len().min(size)])
        .collect()
}

/// A value for display; per-CPU values as each CPU's, split with ` | `.
fn value_text(m: &MapDump, value: &[u8]) -> String {
    if !m.per_cpu {
        return waggle_cli::to_hex(value);
    }
    let cpus: Vec<String> = per_cpu_values(m, value)
        .into_iter()
        .map(waggle_cli::to_hex)
        .collect();
    cpus.join(" | ")
}

/// A map as text: global data as a hex dump of its one value, other maps as a key/value
/// table in hex.
fn write_map(out: &mut String, m: &MapDump) {
    let entries = match &m.entries {
        Ok(e) => e,
        Err(e) => {
            let _ = writeln!(out, "map {} ({}): cannot dump: {e}", m.name, m.type_name);
            return;
        }
    };
    if m.key_size == 0 {
        // Queues and stacks: values only, in the order a program would pop them.
        let _ = writeln!(
            out,
            "map {} ({}, value {} bytes, {} value{}, in pop order):",
            m.name,
            m.type_name,
            m.value_size,
            entries.len(),
            if entries.len() == 1 { "" } else { "s" }
        );
        for (_, value) in entries {
            let _ = writeln!(out, "  {}", waggle_cli::to_hex(value));
        }
        return;
    }
    if m.global_data {
        let _ = writeln!(out, "map {} (global data, {} bytes):", m.name, m.value_size);
        for (_, value) in entries {
            out.push_str(&hex_dump(value, "  "));
        }
        return;
    }
    let _ = writeln!(
        out,
        "map {} ({}, key {} bytes, value {} bytes, {} entr{}):",
        m.name,
        m.type_name,
        m.key_size,
        m.value_size,
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" }
    );
    if entries.is_empty() {
        return;
    }
    // Arrays always hold every index: their all-zero (untouched) elements are only counted,
    // so the ones the program wrote stand out. `--json` lists everything.
    let shown: Vec<&(Vec<u8>, Vec<u8>)> = if m.array {
        entries
            .iter()
            .filter(|(_, v)| v.iter().any(|&b| b != 0))
            .collect()
    } else {
        entries.iter().collect()
    };
    let keys: Vec<String> = shown.iter().map(|(k, _)| waggle_cli::to_hex(k)).collect();
    let width = keys.iter().map(String::len).max().unwrap_or(0).max(3);
    if !shown.is_empty() {
        let _ = writeln!(out, "  {:<width$}  value", "key");
    }
    for (key, (_, value)) in keys.iter().zip(&shown) {
        let _ = writeln!(out, "  {key:<width$}  {}", value_text(m, value));
    }
    let hidden = entries.len() - shown.len();
    if hidden > 0 {
        let _ = writeln!(
            out,
            "  ({hidden} all-zero element{} not shown)",
            if hidden == 1 { "" } else { "s" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn corpus(name: &str) -> Object {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/progs")
            .join(name);
        Object::open(path).unwrap()
    }

    #[test]
    fn only_program_keeps_its_own_slots() {
        let object = corpus("prog_array.bpf.o");
        let index = object
            .programs
            .iter()
            .position(|p| p.name == "tail_2")
            .unwrap();
        let only = only_program(&object, index);
        assert_eq!(only.programs.len(), 1);
        assert_eq!(only.programs[0].name, "tail_2");
        assert_eq!(only.maps.len(), object.maps.len());
        for m in &only.maps {
            for (_, target) in &m.initial_slots {
                assert!(matches!(
                    target,
                    SlotTarget::Program(0) | SlotTarget::Map(_)
                ));
            }
        }
        let runtime = Runtime::new();
        let loaded = runtime.load_object(&only, 1).unwrap();
        assert_eq!(loaded.programs.len(), 1);
    }

    #[test]
    fn changed_data_is_dumped() {
        let report = Report {
            object: "x.o".into(),
            program: "p".into(),
            section: "tc".into(),
            kind: "sched_cls".into(),
            prog_type: ProgramType::SchedCls,
            retval: u64::from(u32::MAX),
            repeat: 2,
            duration_ns: 7,
            data_in: vec![1, 2, 3],
            data_out: vec![1, 9, 3, 4],
            maps: Vec::new(),
            trace: vec!["hi".into()],
        };
        assert_eq!(
            report.text(),
            "program p (tc, sched_cls)\nreturn: TC_ACT_UNSPEC (-1)\n\
             time: 7 ns per run (average of 2 runs)\n\
             data after the run (4 bytes, was 3):\n  0000: 01 09 03 04\ntrace: hi\n"
        );
        let v = report.json();
        assert_eq!(v["verdict"], "TC_ACT_UNSPEC");
        assert_eq!(v["data_changed"], true);
        assert_eq!(v["data_out"], "01090304");
    }

    #[test]
    fn per_cpu_split() {
        let m = MapDump {
            name: "m".into(),
            type_name: "percpu_array".into(),
            key_size: 4,
            value_size: 4,
            global_data: false,
            array: true,
            per_cpu: true,
            entries: Ok(Vec::new()),
        };
        let value = [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(value_text(&m, &value), "01 00 00 00 | 02 00 00 00");
    }

    #[test]
    fn pcap_errors() {
        assert!(pcap_packet(b"", 1).is_err());
        assert!(pcap_packet(&[0xd4, 0xc3, 0xb2], 1).is_err());
        assert!(pcap_packet(&[0u8; 64], 1).is_err());
        assert!(pcap_packet(&[0x0a, 0x0d, 0x0d, 0x0a, 1, 2], 1).is_err());
        assert_eq!(
            pcap_packet(&[0u8; 4], 0).unwrap_err(),
            "packets are numbered from 1"
        );
    }
}
