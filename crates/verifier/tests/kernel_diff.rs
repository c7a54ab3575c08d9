//! Differential test against the Linux verifier: every corpus program, every table case the
//! kernel can express and 400 generated programs (loaded by root, then again without
//! `CAP_PERFMON`) get the same accept/refuse verdict from `BPF_PROG_LOAD` as from ours.
//!
//! Real kernel maps are created with the same specs (inner map templates, global data set and
//! frozen, map BTF for spin locks: the object's own, or a small one built for the table) and
//! `lddw map_idx` is patched to their fds. Subprograms get a generated `func_info` BTF (Linux
//! needs it for callbacks); tracing and LSM programs their attach target, and kfunc calls
//! their ids, from `/sys/kernel/btf/vmlinux`. Every map, BTF and program is an `OwnedFd`,
//! closed when dropped: nothing stays loaded or pinned. Skips visibly when `bpf()` is refused.
//!
//! Unprivileged cases are loaded from a thread without `CAP_PERFMON` and `CAP_SYS_ADMIN` but
//! with `CAP_BPF` (the only unprivileged loader `unprivileged_bpf_disabled` lets through) and
//! compared with our [`Options::cap_bpf_only`]. Plain-type cases are compared as socket
//! filters when our verdict on them is the same for both types.
//!
//! Not expressible (skipped, with the reason printed): plain-type cases whose verdict depends
//! on the plain context (no kernel type has it), raw map fds and kfunc ids in assembled cases
//! (Waggle-only forms), maps of maps without an inner map template, out-of-range map indexes,
//! and kernel refusals with an empty log (refused before verification).

mod common;

use common::kernel_btf;
use common::kernel_load::{self, attach_type, needs_btf};
use common::objects::{Input, corpus};
use common::table::{CASES, maps};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use waggle_isa::{CallTarget, Insn, LddwKind, assemble, encode};
use waggle_object::{Btf, Object};
use waggle_uapi::ProgramType;
use waggle_verifier::{MapDesc, Options, Program, verify};

/// Known disagreements, by case or `file:program`, with the reason. Each is checked to still
/// disagree, so the list cannot go stale silently.
const KNOWN: &[(&str, &str)] = &[];

/// Our options for a root loader, as the kernel's: privileged, uninitialised stack readable,
/// `struct bpf_map` readable with this kernel's layout.
fn root_options() -> Options {
    Options {
        bpf_map_struct: kernel_btf::vmlinux()
            .ok()
            .as_ref()
            .and_then(kernel_btf::bpf_map_struct),
        ..Options::with_privileges(true)
    }
}

/// Our options for the table's unprivileged cases, as the kernel's for the loader they are
/// compared with: `CAP_BPF` without `CAP_PERFMON` (see `waggle_kernel::caps`).
fn unpriv_options() -> Options {
    Options {
        bpf_map_struct: root_options().bpf_map_struct,
        ..Options::cap_bpf_only()
    }
}

fn kernel_ok() -> bool {
    match waggle_kernel::probe() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("SKIPPED: kernel differential test: {e}");
            false
        }
    }
}

/// The kernel's verdict: `Some(Ok)` accepted, `Some(Err(log tail))` refused by the verifier,
/// `None` refused before verification (with the error).
fn kernel_verdict(
    prog_type: ProgramType,
    insns: &[Insn],
    maps: &[Option<OwnedFd>],
    name: &str,
) -> Result<Result<(), String>, String> {
    kernel_verdict_attach(prog_type, insns, maps, name, None)
}

/// [`kernel_verdict`] with an attach target (`attach_btf_id`, `expected_attach_type`,
/// `prog_flags`) from [`kernel_btf::attach`].
fn kernel_verdict_attach(
    prog_type: ProgramType,
    insns: &[Insn],
    maps: &[Option<OwnedFd>],
    name: &str,
    attach: Option<(u32, u32, u32)>,
) -> Result<Result<(), String>, String> {
    let patched = kernel_load::patch(insns, maps)?;
    let code = encode(&patched);
    let (btf_id, expected, flags) = attach.unwrap_or((0, attach_type(prog_type), 0));
    let load = waggle_kernel::ProgLoad {
        prog_type: prog_type.as_u32(),
        insns: &code,
        license: "GPL",
        name,
        expected_attach_type: expected,
        prog_flags: flags,
    };
    match waggle_kernel::prog_load_funcs(&load, btf_id) {
        Ok(fd) => {
            drop(fd);
            Ok(Ok(()))
        }
        Err(e) if e.log.trim().is_empty() => Err(e.error.to_string()),
        Err(e) => {
            let tail: Vec<&str> = e.log.lines().rev().take(3).collect();
            Ok(Err(format!("{} ({})", e.error, tail.join(" | "))))
        }
    }
}

/// A table map in the kernel, or why it cannot be made.
fn kernel_table_map(d: &MapDesc) -> Result<OwnedFd, String> {
    if d.map_type.is_map_in_map() && d.inner.is_none() {
        return Err("a map of maps needs an inner map template".into());
    }
    let inner = match d.inner {
        Some(i) => Some(
            waggle_kernel::map_create(&waggle_kernel::MapCreate {
                map_type: i.map_type.as_u32(),
                key_size: i.key_size,
                value_size: i.value_size,
                max_entries: i.max_entries,
                map_flags: i.flags,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let create = waggle_kernel::MapCreate {
        map_type: d.map_type.as_u32(),
        key_size: d.key_size,
        value_size: d.value_size,
        max_entries: d.max_entries,
        map_flags: d.flags,
        inner_map_fd: inner.as_ref().map(|f| f.as_raw_fd() as u32),
        name: "t".into(),
        map_extra: 0,
    };
    match (d.spin_lock_off, d.timer_off) {
        (None, None) => waggle_kernel::map_create(&create).map_err(|e| e.to_string()),
        (lock, timer) => {
            let (raw, key, value) = special_btf(lock, timer, d.key_size, d.value_size)?;
            let btf = waggle_kernel::btf_load(&raw).map_err(|e| e.to_string())?;
            let b = waggle_kernel::MapBtf {
                btf_fd: btf.as_raw_fd() as u32,
                key_type_id: key,
                value_type_id: value,
            };
            // The map keeps its own reference to the BTF object.
            waggle_kernel::map_create_btf(&create, Some(&b)).map_err(|e| e.to_string())
        }
    }
}

/// BTF for a map whose value holds a `struct bpf_spin_lock` at `lock` and/or a
/// `struct bpf_timer` at `timer` (the rest `u32`s), as Linux needs before `bpf_spin_lock` or
/// `bpf_timer_init` on it: (raw BTF, key type id, value type id).
fn special_btf(
    lock: Option<u32>,
    timer: Option<u32>,
    key_size: u32,
    value_size: u32,
) -> Result<(Vec<u8>, u32, u32), String> {
    let fits = |off: u32, align: u32, size: u32| {
        off.is_multiple_of(align) && off.checked_add(size).is_some_and(|e| e <= value_size)
    };
    if key_size != 4
        || !value_size.is_multiple_of(4)
        || lock.is_some_and(|o| !fits(o, 4, 4))
        || timer.is_some_and(|o| !fits(o, 8, 16))
    {
        return Err(format!(
            "no BTF for a spin lock at {lock:?} and a timer at {timer:?} in a {key_size} -> {value_size} map"
        ));
    }
    let mut b = waggle_kernel::btf::Builder::new();
    let u32_id = b.int("unsigned int", 4, false);
    let u64_id = b.int("unsigned long long", 8, false);
    let lock_id = b.structure("bpf_spin_lock", 4, &[("val", u32_id, 0)]);
    let timer_id = b.structure("bpf_timer", 16, &[("a", u64_id, 0), ("b", u64_id, 8)]);
    let mut members: Vec<(String, u32, u32)> = Vec::new();
    let mut at = 0;
    while at < value_size {
        let (ty, size) = if Some(at) == lock {
            (lock_id, 4)
        } else if Some(at) == timer {
            (timer_id, 16)
        } else if timer.is_some_and(|t| at > t && at < t + 16) {
            return Err(format!("a spin lock inside the timer at {timer:?}"));
        } else {
            (u32_id, 4)
        };
        members.push((format!("f{at}"), ty, at));
        at += size;
    }
    let members: Vec<(&str, u32, u32)> = members
        .iter()
        .map(|(n, t, o)| (n.as_str(), *t, *o))
        .collect();
    let value = b.structure("value", value_size, &members);
    Ok((b.finish(), u32_id, value))
}

/// Compare, recording agreement, disagreement or a known disagreement.
fn compare(name: &str, ours: &Result<(), String>, kernel: &Result<(), String>, out: &mut Tally) {
    let agree = ours.is_ok() == kernel.is_ok();
    let known = KNOWN.iter().find(|(n, _)| *n == name);
    match (agree, known) {
        (true, None) => out.agree += 1,
        (true, Some(_)) => out.stale.push(format!(
            "{name}: listed as a known disagreement, but both now agree"
        )),
        (false, Some((_, why))) => {
            println!("{name}: known disagreement: {why}");
            out.known += 1;
        }
        (false, None) => out.disagree.push(format!(
            "{name}: ours {}, Linux {}",
            ours.as_ref()
                .map_or_else(|e| format!("refuses ({e})"), |_| "accepts".into()),
            kernel
                .as_ref()
                .map_or_else(|e| format!("refuses ({e})"), |_| "accepts".into()),
        )),
    }
}

#[derive(Default)]
struct Tally {
    agree: usize,
    known: usize,
    skipped: usize,
    disagree: Vec<String>,
    stale: Vec<String>,
}

/// Our verdict and the kernel's on corpus program `p`, or why they cannot be compared. The
/// plain type is compared as a socket filter when our verdict is the same for both;
/// tracing and LSM programs get their attach target and kfunc calls their ids from the
/// running kernel's BTF; `.kconfig` externs a read-only map (not frozen, so neither verifier
/// knows its values).
#[allow(clippy::type_complexity)]
fn corpus_case(
    obj: &Object,
    p: &waggle_object::Program,
    fds: &mut Vec<Option<OwnedFd>>,
    vmlinux: Option<&Arc<Btf>>,
) -> Result<(Result<(), String>, Result<Result<(), String>, String>), String> {
    let mut input = Input::new(obj, p);
    let mut opts = root_options();
    let mut attach = None;
    if matches!(input.prog_type, ProgramType::Tracing | ProgramType::Lsm)
        || !input.kfuncs.is_empty()
    {
        let btf = vmlinux.ok_or("needs the kernel's BTF, which is not readable here")?;
        opts.kernel_btf = Some(btf.clone());
        opts.attach_to = Some(p.section.clone());
        attach = kernel_btf::attach(btf, &p.section)?;
    }
    if input.prog_type == ProgramType::Unspec {
        let ours = |t| {
            let mut prog = input.program();
            prog.prog_type = t;
            verify(&prog, &opts)
                .map(drop)
                .map_err(|r| (r.pc, r.message))
        };
        if ours(ProgramType::Unspec) != ours(ProgramType::SocketFilter) {
            return Err("its verdict depends on the plain type's context".into());
        }
        input.prog_type = ProgramType::SocketFilter;
    } else if needs_btf(input.prog_type) && attach.is_none() {
        return Err(format!(
            "{} programs need an attach target",
            input.prog_type
        ));
    }
    let ours = verify(&input.program(), &opts)
        .map(drop)
        .map_err(|r| r.message);
    let mut insns = input.insns.clone();
    for (slot, kfunc) in &input.kfuncs {
        let btf = vmlinux.ok_or("kfuncs need the kernel's BTF")?;
        let id = kernel_btf::kfunc_id(btf, kfunc).ok_or(format!("kfunc {kfunc} not in vmlinux"))?;
        insns[*slot] = Insn::Call(CallTarget::Kfunc {
            btf_id: id as i32,
            module: 0,
        });
    }
    // `.kconfig` (and any other map Input adds after the object's) for this program only.
    let base = fds.len();
    for d in &input.maps[base.min(input.maps.len())..] {
        fds.push(Some(kernel_table_map(d)?));
    }
    let kernel = kernel_verdict_attach(input.prog_type, &insns, fds, &p.name, attach);
    fds.truncate(base);
    Ok((ours, kernel))
}

#[test]
fn corpus_verdicts_match_linux() {
    if !kernel_ok() {
        return;
    }
    let mut t = Tally::default();
    let vmlinux = kernel_btf::vmlinux().ok().map(Arc::new);
    for path in corpus() {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let obj = Object::open(&path).unwrap();
        let btf = kernel_load::object_btf(&std::fs::read(&path).unwrap());
        let mut fds = match kernel_load::object_maps_btf(&obj, btf.as_ref()) {
            Ok(fds) => fds,
            Err(e) => {
                println!("{file}: skipped: {e}");
                t.skipped += obj.programs.len();
                continue;
            }
        };
        for p in &obj.programs {
            let name = format!("{file}:{}", p.name);
            match corpus_case(&obj, p, &mut fds, vmlinux.as_ref()) {
                Ok((ours, Ok(kernel))) => compare(&name, &ours, &kernel, &mut t),
                Ok((_, Err(e))) => {
                    println!("{name}: skipped: Linux refuses it before verification: {e}");
                    t.skipped += 1;
                }
                Err(why) => {
                    println!("{name}: skipped: {why}");
                    t.skipped += 1;
                }
            }
        }
        drop(fds);
    }
    println!(
        "corpus: {} agree, {} known disagreements, {} skipped",
        t.agree, t.known, t.skipped
    );
    assert!(
        t.disagree.is_empty(),
        "disagreements:\n{}",
        t.disagree.join("\n")
    );
    assert!(t.stale.is_empty(), "{}", t.stale.join("\n"));
    assert!(t.agree >= 20, "only {} corpus programs compared", t.agree);
}

#[test]
fn table_verdicts_match_linux() {
    if !kernel_ok() {
        return;
    }
    let descs = maps();
    let fds: Vec<Option<OwnedFd>> = descs
        .iter()
        .map(|d| match kernel_table_map(d) {
            Ok(fd) => Some(fd),
            Err(e) => {
                println!("table map {d:?}: not created: {e}");
                None
            }
        })
        .collect();
    let mut t = Tally::default();
    for case in CASES {
        let prog_type: ProgramType = case.prog_type.parse().unwrap();
        let text: String = case
            .asm
            .split(';')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        let insns = assemble(&text).unwrap();
        let opts = if case.unpriv {
            unpriv_options()
        } else {
            root_options()
        };
        // The plain type has no kernel equivalent: compare as socket_filter (no return range, r1 a
        // context) the cases whose verdict and message do not depend on the type in our model.
        let prog_type = if prog_type == ProgramType::Unspec {
            let prog = |t| Program {
                insns: &insns,
                prog_type: t,
                maps: &descs,
                line_info: &[],
                kfuncs: &[],
            };
            let plain = verify(&prog(prog_type), &opts).map(drop);
            let kprobe = verify(&prog(ProgramType::SocketFilter), &opts).map(drop);
            let same = match (&plain, &kprobe) {
                (Ok(()), Ok(())) => true,
                (Err(a), Err(b)) => a.message == b.message && a.pc == b.pc,
                _ => false,
            };
            if !same {
                println!(
                    "{}: skipped: its verdict depends on the plain type's context",
                    case.name
                );
                t.skipped += 1;
                continue;
            }
            ProgramType::SocketFilter
        } else {
            prog_type
        };
        let skip = if needs_btf(prog_type) {
            Some("program type not loadable without BTF ids")
        } else if insns.iter().any(|i| {
            matches!(
                i,
                Insn::Call(CallTarget::Kfunc { .. })
                    | Insn::Lddw {
                        kind: LddwKind::MapFd | LddwKind::MapValue | LddwKind::BtfId,
                        ..
                    }
            )
        }) {
            Some("kfunc or raw fd")
        } else if insns.iter().any(|i| match *i {
            Insn::Lddw {
                kind: LddwKind::MapIdx | LddwKind::MapIdxValue,
                imm,
                ..
            } => fds
                .get((imm & 0xffff_ffff) as usize)
                .is_none_or(Option::is_none),
            _ => false,
        }) {
            Some("uses a map the kernel cannot create here")
        } else {
            None
        };
        if let Some(why) = skip {
            println!("{}: skipped: {why}", case.name);
            t.skipped += 1;
            continue;
        }
        let prog = Program {
            insns: &insns,
            prog_type,
            maps: &descs,
            line_info: &[],
            kfuncs: &[],
        };
        let ours = verify(&prog, &opts).map(drop).map_err(|r| r.message);
        let kernel = if case.unpriv {
            match waggle_kernel::caps::without_perfmon(|| {
                kernel_verdict(prog_type, &insns, &fds, "t")
            }) {
                Ok(v) => v,
                Err(e) => Err(format!("cannot drop CAP_PERFMON: {e}")),
            }
        } else {
            kernel_verdict(prog_type, &insns, &fds, "t")
        };
        match kernel {
            Ok(kernel) => compare(case.name, &ours, &kernel, &mut t),
            Err(e) => {
                println!(
                    "{}: skipped: Linux refuses it before verification: {e}",
                    case.name
                );
                t.skipped += 1;
            }
        }
    }
    drop(fds);
    println!(
        "table: {} agree, {} known disagreements, {} skipped",
        t.agree, t.known, t.skipped
    );
    if !t.disagree.is_empty() {
        println!(
            "DISAGREEMENTS ({}):\n{}",
            t.disagree.len(),
            t.disagree.join("\n")
        );
    }
    assert!(
        t.disagree.is_empty(),
        "{} disagreements (see output)",
        t.disagree.len()
    );
    assert!(t.stale.is_empty(), "{}", t.stale.join("\n"));
}

/// xorshift64*: deterministic per seed, no dependency.
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
    fn imm(&mut self) -> i64 {
        match self.below(3) {
            0 => self.below(17) as i64,
            1 => self.below(512) as i64 - 256,
            _ => (self.next() as i32) as i64,
        }
    }
}

/// A random socket filter over `__sk_buff` fields, the stack and map 0 (array 4 -> 16, 4
/// entries): numbers through every ALU op, branches, bounded loops, a map value indexed by
/// masked numbers (in and out of bounds), stack reads (initialised or not) — the verdicts
/// turn on bounds tracking, branch refinement and null checks.
///
/// Without `loops`, the loop step becomes a plain `mov` (unprivileged loaders refuse nearly
/// every counted loop: it runs away on a speculative path).
fn generated(rng: &mut Rng, loops: bool) -> String {
    const REGS: [&str; 6] = ["%r0", "%r2", "%r3", "%r4", "%r5", "%r8"];
    let mut s = String::from("mov %r6, %r1\n");
    for r in REGS {
        s += &match rng.below(3) {
            0 => format!("mov {r}, {}\n", rng.imm()),
            1 => format!("ldxw {r}, [%r6+{}]\n", 4 * rng.below(10)),
            _ => format!(
                "ldxw {r}, [%r6+{}]\nand {r}, {}\n",
                4 * rng.below(10),
                rng.below(64)
            ),
        };
    }
    // The key: zero bytes, a narrow constant spill (in range or not) or an 8-byte spill
    // (not a constant key for Linux); then the NULL check, sometimes left out: Linux 6.14+
    // needs none for a constant key below max_entries.
    let key = rng.below(6);
    s += &match rng.below(4) {
        0 => "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\n".to_string(),
        1 => format!("stw [%r10-4], {key}\nmov %r2, %r10\nadd %r2, -4\n"),
        2 => format!("stw [%r10-8], {key}\nmov %r2, %r10\nadd %r2, -8\n"),
        _ => format!("stdw [%r10-8], {key}\nmov %r2, %r10\nadd %r2, -8\n"),
    };
    s += "lddw map_idx %r1, 0\ncall 1\nmov %r7, %r0\n";
    if rng.below(3) != 0 {
        s += "jne %r7, 0, +2\nmov %r0, 0\nexit\n";
    }
    // r1-r5 are dead after the call: numbers again, some bounded.
    for r in ["%r0", "%r2", "%r3", "%r4", "%r5"] {
        s += &match rng.below(3) {
            0 => format!("mov {r}, {}\n", rng.imm()),
            1 => format!("ldxw {r}, [%r6+{}]\n", 4 * rng.below(10)),
            _ => format!(
                "ldxw {r}, [%r6+{}]\nand {r}, {}\n",
                4 * rng.below(10),
                rng.below(16)
            ),
        };
    }
    let mut label = 0;
    let mut pending: Vec<(u64, String)> = Vec::new();
    let n = 4 + rng.below(16);
    for i in 0..n {
        while let Some(pos) = pending.iter().position(|(at, _)| *at == i) {
            s += &format!("{}:\n", pending.remove(pos).1);
        }
        let (a, b) = (rng.pick(&REGS), rng.pick(&REGS));
        match rng.below(9) {
            0 | 1 => {
                let op = rng.pick(&[
                    "add", "sub", "and", "or", "xor", "mul", "mod", "div", "lsh", "rsh", "arsh",
                ]);
                let w = if rng.below(3) == 0 { "32" } else { "" };
                let src = if rng.below(2) == 0 {
                    b.to_string()
                } else if matches!(op, "lsh" | "rsh" | "arsh") {
                    rng.below(if w.is_empty() { 64 } else { 32 }).to_string()
                } else {
                    rng.imm().to_string()
                };
                s += &format!("{op}{w} {a}, {src}\n");
            }
            2 => {
                let op = rng.pick(&[
                    "jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle",
                    "jset",
                ]);
                let w = if rng.below(4) == 0 { "32" } else { "" };
                let src = if rng.below(2) == 0 {
                    b.to_string()
                } else {
                    rng.imm().to_string()
                };
                label += 1;
                s += &format!("{op}{w} {a}, {src}, l{label}\n");
                pending.push((i + 1 + rng.below(4), format!("l{label}")));
            }
            3 => s += &format!("and {a}, {}\n", rng.below(32)),
            4 => {
                // The map value at a number's offset: in bounds only if it was bounded.
                let sz = rng.pick(&["b", "h", "w", "dw"]);
                let mask = rng.pick(&["7", "8", "12", "15", "31", "-1"]);
                s += &format!("mov %r1, {a}\nand %r1, {mask}\nadd %r1, %r7\nldx{sz} {b}, [%r1]\n");
            }
            5 => {
                let off = rng.below(20);
                let sz = rng.pick(&["b", "w", "dw"]);
                s += &format!("ldx{sz} {a}, [%r7+{off}]\n");
            }
            6 => {
                let off = 8 * (1 + rng.below(6));
                if rng.below(2) == 0 {
                    s += &format!("stxdw [%r10-{off}], {a}\n");
                } else {
                    s += &format!("ldxdw {a}, [%r10-{off}]\n");
                }
            }
            7 if loops => {
                label += 1;
                let bound = 1 + rng.below(6);
                s += &format!("mov %r9, 0\nl{label}:\nadd %r9, 1\njlt %r9, {bound}, l{label}\n");
            }
            _ => s += &format!("mov {a}, {}\n", rng.imm()),
        }
    }
    for (_, l) in pending {
        s += &format!("{l}:\n");
    }
    s + "exit\n"
}

/// Generated programs (deterministic; `WAGGLE_KDIFF_PROGRAMS` sets how many, default 400)
/// get the same verdict from Linux as from ours, as a socket filter loaded by root, and
/// again loaded with CAP_BPF but without CAP_PERFMON (compared with
/// [`Options::cap_bpf_only`]: Linux then also walks Spectre v1 speculative paths, where
/// bounded loops run away). `WAGGLE_KDIFF_WHY=1` prints each of our refusals (to tune the
/// generator).
#[test]
fn generated_verdicts_match_linux() {
    if !kernel_ok() {
        return;
    }
    let mut failures = Vec::new();
    for unpriv in [false, true] {
        if let Err(e) = generated_mode(unpriv) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("; "));
}

/// [`generated_verdicts_match_linux`] for one kind of loader.
fn generated_mode(unpriv: bool) -> Result<(), String> {
    let mode = if unpriv { "unprivileged" } else { "privileged" };
    let count: u64 = std::env::var("WAGGLE_KDIFF_PROGRAMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let descs = [MapDesc::new(waggle_uapi::MapType::Array, 4, 16, 4, 0)];
    let fds = [Some(kernel_table_map(&descs[0]).expect("array map"))];
    let mut rng = Rng(0x6b64_6966);
    let (mut t, mut accepted) = (Tally::default(), 0);
    for i in 0..count {
        // Unprivileged: loops in one program of four only, so the others get past them.
        let text = generated(&mut rng, !unpriv || i % 4 == 0);
        let insns = assemble(&text).unwrap_or_else(|e| panic!("generator: {e}\n{text}"));
        let prog = Program {
            insns: &insns,
            prog_type: ProgramType::SocketFilter,
            maps: &descs,
            line_info: &[],
            kfuncs: &[],
        };
        let opts = if unpriv {
            unpriv_options()
        } else {
            root_options()
        };
        let ours = verify(&prog, &opts)
            .map(drop)
            .map_err(|r| format!("{} at insn {}", r.message, r.pc));
        accepted += usize::from(ours.is_ok());
        if let (Err(e), true) = (&ours, std::env::var_os("WAGGLE_KDIFF_WHY").is_some()) {
            println!("generated #{i}: ours refuses: {e}");
        }
        let kernel = if unpriv {
            waggle_kernel::caps::without_perfmon(|| {
                kernel_verdict(ProgramType::SocketFilter, &insns, &fds, "g")
            })
            .unwrap()
        } else {
            kernel_verdict(ProgramType::SocketFilter, &insns, &fds, "g")
        };
        match kernel {
            Ok(kernel) => {
                let before = t.disagree.len();
                compare(&format!("generated #{i}"), &ours, &kernel, &mut t);
                if t.disagree.len() > before {
                    t.disagree
                        .last_mut()
                        .unwrap()
                        .push_str(&format!("\n{text}"));
                }
            }
            Err(e) => {
                println!("generated #{i}: skipped: Linux refuses it before verification: {e}");
                t.skipped += 1;
            }
        }
    }
    println!(
        "generated ({mode}): {} agree ({accepted} accepted by ours), {} skipped, {} disagree",
        t.agree,
        t.skipped,
        t.disagree.len()
    );
    for d in t.disagree.iter().take(10) {
        println!("DISAGREEMENT ({mode}) {d}");
    }
    if t.disagree.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{mode}: {} disagreements (see output)",
            t.disagree.len()
        ))
    }
}
