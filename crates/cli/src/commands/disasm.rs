//! `waggle disasm FILE`: raw bytecode and assembler text as before; ELF objects (told by
//! their magic, not their extension) per program, with relocations and BTF source lines.

use super::{Failure, emit, is_elf, parse_object, read, usage};
use std::fmt::Write as _;
use std::path::Path;
use waggle_cli::load_program;
use waggle_isa::disasm::{Syntax, disassemble, format_insn};
use waggle_isa::{CallTarget, Insn};
use waggle_object::{Object, Program, RelocationKind};

/// Disassemble `file`. `syntax` defaults to conformance for raw code (re-assemblable, as
/// before) and to LLVM for objects (comparable with `llvm-objdump -d`).
/// With `jited`, each instruction is followed by the x86-64 code the JIT makes for it.
pub fn disasm(
    file: &Path,
    syntax: Option<Syntax>,
    program: Option<&str>,
    jited: bool,
) -> Result<(), Failure> {
    let bytes = read(file)?;
    if !is_elf(&bytes) {
        if program.is_some() {
            return Err(usage(format!(
                "{}: --program needs an ELF object",
                file.display()
            )));
        }
        let insns = load_program(file, &bytes).map_err(usage)?;
        let syntax = syntax.unwrap_or(Syntax::Conformance);
        if jited {
            let mut out = String::new();
            jited_listing(&mut out, &insns, syntax).map_err(usage)?;
            return emit(&out);
        }
        return emit(&disassemble(&insns, syntax));
    }
    let object = parse_object(file, &bytes)?;
    let syntax = syntax.unwrap_or(Syntax::Llvm);
    let programs: Vec<&Program> = match program {
        Some(name) => vec![object.program(name).ok_or_else(|| {
            usage(format!(
                "{}: no program named {name:?} (programs: {})",
                file.display(),
                program_names(&object)
            ))
        })?],
        None => object.programs.iter().collect(),
    };
    if programs.is_empty() {
        return Err(usage(format!(
            "{}: the object has no programs",
            file.display()
        )));
    }
    let mut out = String::new();
    for (i, p) in programs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if jited {
            let _ = writeln!(out, "{} ({}):", p.name, p.section);
            jited_listing(&mut out, &p.insns, syntax)
                .map_err(|e| usage(format!("{}: {}: {e}", file.display(), p.name)))?;
        } else {
            program_listing(&mut out, &object, p, syntax);
        }
    }
    emit(&out)
}

/// The object's program names, for error messages.
pub fn program_names(object: &Object) -> String {
    if object.programs.is_empty() {
        return "none".into();
    }
    let names: Vec<&str> = object.programs.iter().map(|p| p.name.as_str()).collect();
    names.join(", ")
}

/// `name (section):`, then per slot its number, the instruction and notes; a `; line N: …`
/// line wherever the source line changes and a `<function>:` label where a linked
/// subprogram starts.
fn program_listing(out: &mut String, object: &Object, p: &Program, syntax: Syntax) {
    let _ = writeln!(out, "{} ({}):", p.name, p.section);
    let width = p.insns.len().saturating_sub(1).to_string().len().max(4);
    let mut last_line = None;
    for (slot, insn) in p.insns.iter().enumerate() {
        if *insn == Insn::LddwHigh {
            continue;
        }
        if slot > 0
            && let Some(f) = p.functions.iter().find(|f| f.start == slot)
        {
            let _ = writeln!(out, "\n{}:", f.name);
        }
        if let Some(line) = p.line_at(slot) {
            // Records are compared by value: a subprogram's lines may repeat the caller's.
            let key = (line.file.as_str(), line.line, line.source.as_str());
            if last_line != Some(key) {
                last_line = Some(key);
                if !line.source.trim().is_empty() {
                    let _ = writeln!(out, "; {line}");
                }
            }
        }
        // LLVM's `ld_pseudo` has a tab inside; a space keeps the note column aligned.
        let text = format_insn(insn, slot, syntax).replace('\t', " ");
        match note(object, p, slot, insn) {
            Some(n) => {
                let _ = writeln!(out, "{slot:>width$}: {text:<32} ; {n}");
            }
            None => {
                let _ = writeln!(out, "{slot:>width$}: {text}");
            }
        }
    }
}

/// What a slot refers to: its relocation (a map, global data, a called function) or, for a
/// helper call, the helper's name.
fn note(object: &Object, p: &Program, slot: usize, insn: &Insn) -> Option<String> {
    let map_name = |i: usize| {
        object
            .maps
            .get(i)
            .map_or_else(|| format!("#{i}"), |m| m.name.clone())
    };
    if let Some(r) = p.relocations.iter().find(|r| r.slot == slot) {
        return Some(match &r.kind {
            RelocationKind::Map { map } => format!("map {}", map_name(*map)),
            RelocationKind::MapValue { map, offset: 0 } => format!("map {}", map_name(*map)),
            RelocationKind::MapValue { map, offset } => {
                format!("map {} + {offset}", map_name(*map))
            }
            RelocationKind::Call { function } => format!("call {function}"),
            RelocationKind::FuncAddr { function } => format!("&{function}"),
            RelocationKind::ExternCall => format!("extern call {}", r.symbol),
            RelocationKind::ExternVar => format!("extern {}", r.symbol),
        });
    }
    match insn {
        Insn::Call(CallTarget::Helper(id)) => u32::try_from(*id)
            .ok()
            .and_then(waggle_uapi::helper)
            .map(|h| format!("bpf_{}", h.name)),
        // Calls within one section carry no relocation (clang resolves them): name the
        // function the linked target slot belongs to.
        Insn::Call(CallTarget::Local(off)) => {
            let target = (slot as i64).checked_add(1 + i64::from(*off))?;
            let f = p.function_at(usize::try_from(target).ok()?)?;
            Some(format!("call {}", f.name))
        }
        _ => None,
    }
}

/// The program as the JIT compiles it (checked mode, the runtime's): each instruction, then
/// the x86-64 instructions generated for it (offset, bytes, Intel syntax), then the shared
/// out-of-line code (epilogue, error exits, calls into Rust, slow-path stubs).
///
/// The code is only generated, never run, so what only a loader can resolve is stood in for:
/// `lddw` of maps, globals and functions load 0 and every helper id gets a placeholder.
fn jited_listing(out: &mut String, insns: &[Insn], syntax: Syntax) -> Result<(), String> {
    use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
    use waggle_isa::LddwKind;
    use waggle_vm::{HelperError, Helpers, Jit};

    let mut helpers = Helpers::new();
    let code: Vec<Insn> = insns
        .iter()
        .map(|insn| match *insn {
            Insn::Lddw { dst, kind, .. } if kind != LddwKind::Imm => Insn::Lddw {
                dst,
                kind: LddwKind::Imm,
                imm: 0,
            },
            Insn::Call(CallTarget::Helper(id)) => {
                if let Ok(id) = u32::try_from(id)
                    && id < waggle_vm::MAX_HELPER_ID
                {
                    helpers.register(id, |_, _| Err(HelperError::failed("not runnable")));
                }
                *insn
            }
            other => other,
        })
        .collect();
    let jit = Jit::new(&code, helpers).map_err(|e| format!("the JIT refuses the program: {e}"))?;
    let bytes = jit.code();
    let offsets = jit.slot_offsets();
    // The last entry is where the out-of-line code starts.
    let body_end = offsets
        .get(insns.len())
        .map_or(bytes.len(), |&o| o as usize);
    let width = insns.len().saturating_sub(1).to_string().len().max(4);
    let mut formatter = IntelFormatter::new();
    let mut text = String::new();
    let mut machine = |out: &mut String, start: usize, end: usize| {
        let mut decoder =
            Decoder::with_ip(64, &bytes[start..end], start as u64, DecoderOptions::NONE);
        while decoder.can_decode() {
            let ip = decoder.ip() as usize;
            let insn = decoder.decode();
            text.clear();
            formatter.format(&insn, &mut text);
            let raw: String = bytes[ip..ip + insn.len()]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let _ = writeln!(out, "      {ip:6x}:  {raw:<24} {text}");
        }
    };
    let _ = writeln!(out, "; prologue");
    machine(out, 0, offsets.first().map_or(0, |&o| o as usize));
    for (slot, insn) in insns.iter().enumerate() {
        if *insn == Insn::LddwHigh {
            continue;
        }
        // Up to the next slot with code (an `lddw`'s second slot has the same offset).
        let start = offsets[slot] as usize;
        let end = offsets
            .get(slot + 1..)
            .and_then(|rest| rest.iter().find(|&&o| o as usize > start))
            .map_or(body_end, |&o| o as usize);
        let _ = writeln!(
            out,
            "{slot:>width$}: {}",
            format_insn(insn, slot, syntax).replace('\t', " ")
        );
        machine(out, start, end.max(start));
    }
    let _ = writeln!(out, "; out of line: exits, calls into Rust, slow paths");
    machine(out, body_end, bytes.len());
    Ok(())
}
