//! Soundness oracle: random well-formed programs over the `__sk_buff` context, the stack and a
//! map, verified; each accepted one runs in waggle_vm's checked interpreter on random inputs.
//! An out-of-bounds access, a misaligned atomic, a call too deep or an exhausted instruction
//! budget in an accepted program is a verifier bug.
//!
//! Bounded to `WAGGLE_SOUNDNESS_SECS` seconds (default 20); `WAGGLE_SOUNDNESS_SEED` picks the
//! sequence; `WAGGLE_SOUNDNESS_WHY=1` prints each refusal (to tune the generator).
//!
//! Every other program is verified unprivileged (no uninitialised stack reads allowed); those
//! accepted also run twice with the stack poisoned by two complementary patterns, and must
//! write the same results (see `run_poisoned`): a read of uninitialised stack that affects
//! anything the program writes is a finding. Checked once by hand: letting unprivileged loads
//! read uninitialised stack gives 5 findings in 10 s.
//! Checked once by hand: loosening the map value bound by 4 bytes makes it report findings
//! within a second.

use std::time::{Duration, Instant};
use waggle_isa::{Insn, LddwKind, assemble};
use waggle_uapi::{CtxFieldKind, MapType, ProgramType, context};
use waggle_verifier::{MapDesc, Options, Program, verify};
use waggle_vm::{HelperError, Helpers, Interpreter, Region, RunConfig, VmError};

/// xorshift64*: small, deterministic per seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const VALUE_SIZE: usize = 16;
const ENTRIES: usize = 4;
const SIZES: &[(&str, i64)] = &[("b", 1), ("h", 2), ("w", 4), ("dw", 8)];

/// Registers the body plays with: r0, r2..r5 (clobbered by calls), r8, r9.
fn reg(rng: &mut Rng) -> &'static str {
    ["%r0", "%r2", "%r3", "%r4", "%r5", "%r8", "%r9"][rng.below(7) as usize]
}

fn imm(rng: &mut Rng) -> i64 {
    match rng.below(4) {
        0 => rng.below(16) as i64,
        1 => rng.below(256) as i64 - 128,
        2 => (rng.next() as i32) as i64,
        _ => [0, 1, 4, 7, 8, 15, 16, 31, 32, 63, 64, 255][rng.below(12) as usize],
    }
}

/// One random program: prologue (every register set), body of snippets, exit.
fn program(rng: &mut Rng, ctx: &[(i64, &'static str)]) -> String {
    let mut s = String::from("mov %r6, %r1\nmov %r7, 0\n");
    for r in ["%r0", "%r2", "%r3", "%r4", "%r5", "%r8", "%r9"] {
        if rng.below(2) == 0 {
            s += &format!("mov {r}, {}\n", imm(rng));
        } else {
            let (off, sz) = ctx[rng.below(ctx.len() as u64) as usize];
            s += &format!("ldx{sz} {r}, [%r6+{off}]\n");
        }
    }
    if rng.below(2) == 0 {
        for off in (8..=64).step_by(8) {
            s += &format!("stdw [%r10-{off}], {}\n", imm(rng));
        }
    }
    if rng.below(4) != 0 {
        let key = rng.below(ENTRIES as u64 + 1);
        s += &format!(
            "stw [%r10-4], {key}\nmov %r2, %r10\nadd %r2, -4\nlddw map_idx %r1, 0\ncall 1\nmov %r7, %r0\njne %r7, 0, +2\nmov %r0, 0\nexit\n"
        );
        for r in ["%r0", "%r2", "%r3", "%r4", "%r5"] {
            s += &format!("mov {r}, {}\n", imm(rng));
        }
    }
    let n = 3 + rng.below(20);
    let mut label = 0;
    let mut pending: Vec<(u64, String)> = Vec::new();
    for i in 0..n {
        while let Some(pos) = pending.iter().position(|(at, _)| *at == i) {
            let (_, l) = pending.remove(pos);
            s += &format!("{l}:\n");
        }
        let (a, b) = (reg(rng), reg(rng));
        let (sz, bytes) = SIZES[rng.below(4) as usize];
        match rng.below(12) {
            0 => match rng.below(4) {
                0 => s += &format!("mov {a}, {}\n", imm(rng)),
                // Copies link registers: a later jump's bounds must reach only true copies.
                1 => s += &format!("mov {a}, {b}\n"),
                // A copy plus or minus a constant stays linked, with that offset.
                2 => {
                    let op = rng.pick(&["add", "sub", "add32", "sub32"]);
                    let c = rng.below(40) as i64 - 20;
                    s += &format!("mov {a}, {b}\n{op} {a}, {c}\n");
                }
                _ => {
                    let op = rng.pick(&["mov32", "movsx864", "movsx1664", "movsx832"]);
                    s += &format!("{op} {a}, {b}\n");
                }
            },
            1 => {
                let op = rng.pick(&[
                    "add", "sub", "and", "or", "xor", "mul", "mod", "div", "lsh", "rsh", "arsh",
                ]);
                let w = if rng.below(3) == 0 { "32" } else { "" };
                let src = if rng.below(2) == 0 {
                    b.to_string()
                } else if matches!(op, "lsh" | "rsh" | "arsh") {
                    rng.below(if w.is_empty() { 64 } else { 32 }).to_string()
                } else {
                    imm(rng).to_string()
                };
                s += &format!("{op}{w} {a}, {src}\n");
            }
            2 => {
                // Mostly readable scalar fields; sometimes any offset (must be refused or safe).
                if rng.below(8) == 0 {
                    let off = bytes * rng.below(200 / bytes as u64) as i64;
                    s += &format!("ldx{sz} {a}, [%r6+{off}]\n");
                } else {
                    let (off, sz) = ctx[rng.below(ctx.len() as u64) as usize];
                    s += &format!("ldx{sz} {a}, [%r6+{off}]\n");
                }
            }
            3 => {
                let off = bytes * (1 + rng.below(64 / bytes as u64) as i64);
                s += &format!("stx{sz} [%r10-{off}], {a}\n");
            }
            4 => {
                let off = bytes * (1 + rng.below(64 / bytes as u64) as i64);
                s += &format!("ldx{sz} {a}, [%r10-{off}]\n");
            }
            5 => {
                let key = rng.below(ENTRIES as u64 + 2);
                // Zero bytes or a narrow constant spill make a constant key (the lookup then
                // returns a value that is never NULL when the key is in range); an 8-byte
                // spill does not.
                let (st, at) = match rng.below(3) {
                    0 => ("stw", 4),
                    1 => ("stw", 8),
                    _ => ("stdw", 8),
                };
                s += &format!(
                    "{st} [%r10-{at}], {key}\nmov %r2, %r10\nadd %r2, -{at}\nlddw map_idx %r1, 0\ncall 1\nmov %r7, %r0\n"
                );
                // Registers r1-r5 are dead after the call: set the ones the body uses again.
                for r in ["%r2", "%r3", "%r4", "%r5"] {
                    s += &format!("mov {r}, {}\n", imm(rng));
                }
                if rng.below(4) != 0 {
                    label += 1;
                    s += &format!("jeq %r7, 0, l{label}\n");
                    pending.push((i + 1 + rng.below(4), format!("l{label}")));
                }
            }
            6 => {
                // Mostly in bounds and aligned; sometimes past the end or misaligned.
                let off = if rng.below(4) == 0 {
                    rng.below(VALUE_SIZE as u64 + 4) as i64
                } else {
                    bytes * rng.below(VALUE_SIZE as u64 / bytes as u64) as i64
                };
                if rng.below(2) == 0 {
                    s += &format!("ldx{sz} {a}, [%r7+{off}]\n");
                } else {
                    s += &format!("stx{sz} [%r7+{off}], {a}\n");
                }
            }
            7 => s += &format!("mov %r1, %r7\nadd %r1, {a}\nldx{sz} {b}, [%r1]\n"),
            8 => s += &format!("and {a}, {}\n", rng.below(32)),
            9 => {
                let op = rng.pick(&[
                    "jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jslt", "jset",
                ]);
                let w = if rng.below(4) == 0 { "32" } else { "" };
                let src = if rng.below(2) == 0 {
                    b.to_string()
                } else {
                    imm(rng).to_string()
                };
                label += 1;
                s += &format!("{op}{w} {a}, {src}, l{label}\n");
                pending.push((i + 1 + rng.below(4), format!("l{label}")));
            }
            10 => {
                label += 1;
                let bound = 1 + rng.below(8);
                s += &format!("mov %r9, 0\nl{label}:\nadd %r9, 1\njlt %r9, {bound}, l{label}\n");
            }
            _ => {
                let off = 8 * (1 + rng.below(8) as i64);
                s += &format!("stdw [%r10-{off}], 0\nmov {a}, 1\nlock add [%r10-{off}], {a}\n");
            }
        }
    }
    for (_, l) in pending {
        s += &format!("{l}:\n");
    }
    s += "mov %r0, 0\nexit\n";
    s
}

/// Run an accepted program on random inputs; `Err` describes a finding.
fn run(insns: &[Insn], rng: &mut Rng, ctx_size: usize) -> Result<(), String> {
    for _ in 0..3 {
        let mut values = vec![0u8; VALUE_SIZE * ENTRIES];
        values.iter_mut().for_each(|b| *b = rng.next() as u8);
        let mut ctx = vec![0u8; ctx_size];
        ctx.iter_mut().for_each(|b| *b = rng.next() as u8);
        run_once(insns, &mut ctx, &mut values)?;
    }
    Ok(())
}

/// One run of `insns` over `ctx` and the map's `values` (the lookup helper returns pointers
/// into `values`, so the same buffers give the same addresses in every run).
fn run_once(insns: &[Insn], ctx: &mut [u8], values: &mut [u8]) -> Result<(), String> {
    let base = values.as_ptr() as u64;
    let helpers = Helpers::new().with(1, move |hc, a| {
        let key = hc.read(a[1], 4)?;
        let k = u32::from_ne_bytes(key.try_into().map_err(|_| HelperError::failed("key"))?);
        Ok(if (k as usize) < ENTRIES {
            base + k as u64 * VALUE_SIZE as u64
        } else {
            0
        })
    });
    // The map reference becomes a token the helper ignores, as a loader would patch it.
    let patched: Vec<Insn> = insns
        .iter()
        .map(|i| match *i {
            Insn::Lddw {
                dst,
                kind: LddwKind::MapIdx,
                ..
            } => Insn::Lddw {
                dst,
                kind: LddwKind::Imm,
                imm: 0x1000,
            },
            other => other,
        })
        .collect();
    let vm = Interpreter::new(&patched, helpers).map_err(|e| format!("prepare: {e}"))?;
    let ctx_addr = ctx.as_ptr() as u64;
    let regions = [Region::writable(ctx), Region::writable(values)];
    let cfg = RunConfig {
        args: [ctx_addr, 0, 0, 0, 0],
        regions: &regions,
        packet: None,
        max_insns: Some(1_000_000),
    };
    match vm.run(&cfg) {
        Ok(_) => Ok(()),
        Err(
            e @ (VmError::MemoryAccess { .. }
            | VmError::MisalignedAtomic { .. }
            | VmError::CallDepthExceeded { .. }
            | VmError::BudgetExceeded { .. }),
        ) => Err(e.to_string()),
        Err(e) => Err(format!("unexpected run error: {e}")),
    }
}

/// Whether an accepted unprivileged program reads stack bytes it never wrote, seen through
/// their effect: the program runs twice on the same inputs, after a prologue that fills the
/// whole stack with a pattern and then with its complement, and its exit stores r0, r2-r5,
/// r8 and r9 into the context. Everything it writes (context, map values) must be the same
/// both times; a difference means a value came from uninitialised stack. (The interpreter
/// zeroes the stack, so a plain run cannot see such reads.)
fn run_poisoned(text: &str, rng: &mut Rng, ctx_size: usize) -> Result<(), String> {
    const END: &str = "mov %r0, 0\nexit\n";
    let body = text
        .strip_suffix(END)
        .ok_or("generator: unexpected program end")?;
    let pattern = rng.next() as i32;
    let mut versions = Vec::new();
    for fill in [pattern, !pattern] {
        let mut t = String::new();
        for off in (8..=512).step_by(8) {
            t += &format!("stdw [%r10-{off}], {fill}\n");
        }
        t += body;
        for (i, r) in ["%r0", "%r2", "%r3", "%r4", "%r5", "%r8", "%r9"]
            .iter()
            .enumerate()
        {
            t += &format!("stxdw [%r6+{}], {r}\n", 8 * i);
        }
        t += END;
        versions.push(assemble(&t).map_err(|e| format!("instrumented program: {e}"))?);
    }
    let mut values0 = vec![0u8; VALUE_SIZE * ENTRIES];
    values0.iter_mut().for_each(|b| *b = rng.next() as u8);
    let mut ctx0 = vec![0u8; ctx_size];
    ctx0.iter_mut().for_each(|b| *b = rng.next() as u8);
    let (mut ctx, mut values) = (ctx0.clone(), values0.clone());
    let mut outputs = Vec::new();
    for insns in &versions {
        ctx.copy_from_slice(&ctx0);
        values.copy_from_slice(&values0);
        run_once(insns, &mut ctx, &mut values)?;
        outputs.push((ctx.clone(), values.clone()));
    }
    if outputs[0] != outputs[1] {
        return Err(format!(
            "the program's results depend on uninitialised stack (stack filled with {pattern:#x} \
             then {:#x}: context or map values differ)",
            !pattern
        ));
    }
    Ok(())
}

#[test]
fn accepted_programs_run_safely() {
    let secs: u64 = std::env::var("WAGGLE_SOUNDNESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("WAGGLE_SOUNDNESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0001);
    let layout = context(ProgramType::SocketFilter).expect("__sk_buff");
    let ctx_size = layout.size as usize;
    // Readable scalar fields: (offset, size suffix).
    let mut fields = Vec::new();
    for &(sz, bytes) in SIZES {
        for off in (0..layout.size as i64).step_by(bytes as usize) {
            if layout.check_access(off, bytes as u32, false) == Ok(CtxFieldKind::Scalar) {
                fields.push((off, sz));
            }
        }
    }
    assert!(!fields.is_empty());
    let maps = [MapDesc::new(
        MapType::Array,
        4,
        VALUE_SIZE as u32,
        ENTRIES as u32,
        0,
    )];
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut tried, mut accepted, mut accepted_unpriv) = (0u64, 0u64, 0u64);
    let mut findings = Vec::new();
    while Instant::now() < deadline && findings.len() < 5 {
        let text = program(&mut rng, &fields);
        let insns = assemble(&text).unwrap_or_else(|e| panic!("generator: {e}\n{text}"));
        tried += 1;
        let prog = Program {
            insns: &insns,
            prog_type: ProgramType::SocketFilter,
            maps: &maps,
            line_info: &[],
            kfuncs: &[],
        };
        // Every other program is verified as an unprivileged load, where reads of
        // uninitialised stack must be refused (and are checked for by `run_poisoned`).
        let unpriv = tried % 2 == 0;
        let opts = Options {
            complexity_limit: 100_000,
            ..Options::with_privileges(!unpriv)
        };
        if let Err(r) = verify(&prog, &opts) {
            if std::env::var("WAGGLE_SOUNDNESS_WHY").is_ok() {
                let m: String = r
                    .message
                    .split(" at insn")
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_ascii_digit())
                    .collect();
                println!("why: {m}");
            }
            continue;
        }
        accepted += 1;
        let mut outcome = run(&insns, &mut rng, ctx_size);
        if unpriv && outcome.is_ok() {
            accepted_unpriv += 1;
            outcome = run_poisoned(&text, &mut rng, ctx_size);
        }
        if let Err(e) = outcome {
            let mode = if unpriv { "unprivileged" } else { "privileged" };
            findings.push(format!("{mode}: {e}\n{text}"));
        }
    }
    println!(
        "soundness: seed {seed:#x}, {secs} s: {tried} programs tried (half unprivileged), {accepted} accepted ({accepted_unpriv} unprivileged, checked for uninitialised stack reads), {} findings",
        findings.len()
    );
    assert!(
        findings.is_empty(),
        "verifier bugs:\n{}",
        findings.join("\n---\n")
    );
    assert!(
        tried < 50 || accepted * 20 >= tried,
        "only {accepted} of {tried} programs accepted: the generator is not exercising the verifier"
    );
}
