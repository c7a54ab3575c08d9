//! Table-driven verifier cases, in the spirit of the kernel's `test_verifier`: assembler text
//! (instructions separated by `;`), program type, expected verdict and message fragment.

use waggle_isa::assemble;
use waggle_uapi::ProgramType;
use waggle_verifier::{BpfMapStruct, MapDesc, Options, Program, verify};

mod common;
use common::kernel_btf::table_bpf_map_struct;
use common::table::{CASES, Case, maps};

/// `None`: must be accepted; `Some(fragment)`: must be refused with a message containing it.
fn run_case(case: &Case, maps: &[MapDesc], layout: &BpfMapStruct) -> Result<(), String> {
    let text: String = case
        .asm
        .split(';')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let insns = assemble(&text).map_err(|e| format!("{}: assembler: {e}\n{text}", case.name))?;
    let prog_type: ProgramType = case.prog_type.parse().map_err(|e| format!("{e}"))?;
    let prog = Program {
        insns: &insns,
        prog_type,
        maps,
        line_info: &[],
        kfuncs: &[],
    };
    let opts = Options {
        log_level: 1,
        complexity_limit: 200_000,
        bpf_map_struct: Some(layout.clone()),
        ..Options::with_privileges(!case.unpriv)
    };
    let got = verify(&prog, &opts);
    match (&case.expect, got) {
        (None, Ok(_)) => Ok(()),
        (None, Err(r)) => Err(format!(
            "{}: expected accept, got: {}\n{}",
            case.name, r.message, r.log
        )),
        (Some(frag), Err(r)) if r.message.contains(frag) => Ok(()),
        (Some(frag), Err(r)) => Err(format!(
            "{}: expected refusal with `{frag}`, got: {}",
            case.name, r.message
        )),
        (Some(frag), Ok(_)) => Err(format!(
            "{}: expected refusal with `{frag}`, got accept",
            case.name
        )),
    }
}

#[test]
fn table() {
    let maps = maps();
    let layout = table_bpf_map_struct();
    let mut failures = Vec::new();
    for case in CASES {
        if let Err(e) = run_case(case, &maps, &layout) {
            failures.push(e);
        }
    }
    let accept = CASES.iter().filter(|c| c.expect.is_none()).count();
    eprintln!(
        "{} cases: {accept} accepting, {} refusing",
        CASES.len(),
        CASES.len() - accept
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn names_are_unique() {
    let mut names: Vec<_> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len());
}

#[test]
fn message_names_line_and_hint() {
    let insns = assemble("stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw map_idx %r1, 0\ncall 1\nldxdw %r0, [%r0]\nexit").unwrap();
    let maps = maps();
    let line_info = vec![
        (0, "int key = 0;".to_owned()),
        (6, "val = *bpf_map_lookup_elem(&counts, &key);".to_owned()),
    ];
    let prog = Program {
        insns: &insns,
        prog_type: ProgramType::Xdp,
        maps: &maps,
        line_info: &line_info,
        kfuncs: &[],
    };
    let r = verify(&prog, &Options::default()).unwrap_err();
    assert_eq!(r.pc, 6);
    assert_eq!(
        r.line.as_deref(),
        Some("val = *bpf_map_lookup_elem(&counts, &key);")
    );
    assert!(
        r.message
            .starts_with("R0 may be NULL at insn 6 (line val = *bpf_map_lookup_elem"),
        "{}",
        r.message
    );
    assert!(
        r.message
            .contains("compare it with NULL before reading *(u64 *)(r0 + 0)"),
        "{}",
        r.message
    );
    assert!(r.state.contains("R0=map_value_or_null"), "{}", r.state);
    assert_eq!(r.path, vec![0, 1, 2, 3, 5, 6]);
}

#[test]
fn stats_and_log_level_2() {
    let insns =
        assemble("mov %r0, 0\nmov %r1, 4\nadd %r0, 1\nsub %r1, 1\njne %r1, 0, -3\nexit").unwrap();
    let prog = Program {
        insns: &insns,
        prog_type: ProgramType::Unspec,
        maps: &[],
        line_info: &[],
        kfuncs: &[],
    };
    let s = verify(&prog, &Options::default()).unwrap();
    assert!(s.insns_processed >= 14, "{s:?}");
    assert_eq!(s.max_stack_depth, vec![32]);
    let bad = assemble("mov %r0, 0\njeq %r0, 0, -1\nexit").unwrap();
    let prog = Program {
        insns: &bad,
        ..prog
    };
    let opts = Options {
        log_level: 2,
        ..Options::default()
    };
    let r = verify(&prog, &opts).unwrap_err();
    assert!(r.log.contains("1: jeq"), "{}", r.log);
    assert!(r.log.contains("infinite loop"), "{}", r.log);
}

#[test]
fn complexity_limit_is_respected() {
    let insns = assemble("mov %r0, 0\nmov %r1, 0\nadd %r1, 1\njlt %r1, 1000, -2\nexit").unwrap();
    let prog = Program {
        insns: &insns,
        prog_type: ProgramType::Unspec,
        maps: &[],
        line_info: &[],
        kfuncs: &[],
    };
    assert!(verify(&prog, &Options::default()).is_ok());
    let opts = Options {
        complexity_limit: 100,
        ..Options::default()
    };
    let r = verify(&prog, &opts).unwrap_err();
    assert!(r.message.contains("too large"), "{}", r.message);
}

/// Forty diamonds in a row, each branching on a fresh unknown and setting a temporary; both are
/// dead at the join. Without pruning this is 2^40 paths; with liveness-aware pruning, linear.
#[test]
fn pruning_makes_diamonds_linear() {
    let mut text = String::new();
    for _ in 0..40 {
        text.push_str("call 7\njgt %r0, 5, +2\nmov %r6, 1\nja +1\nmov %r6, 2\nmov %r7, %r6\n");
    }
    text.push_str("mov %r0, 2\nexit\n");
    let insns = assemble(&text).unwrap();
    let prog = Program {
        insns: &insns,
        prog_type: ProgramType::Xdp,
        maps: &[],
        line_info: &[],
        kfuncs: &[],
    };
    let s = verify(&prog, &Options::default()).unwrap();
    assert!(s.insns_processed < 1_000, "{s:?}");
}

/// Kernel functions known by name (the `__ksym` externs the loader resolves).
#[test]
fn rcu_kfuncs() {
    let run = |asm: &str, names: &[(usize, &str)]| {
        let insns = assemble(asm).unwrap();
        let kfuncs: Vec<(usize, String)> =
            names.iter().map(|(s, n)| (*s, (*n).to_owned())).collect();
        let prog = Program {
            insns: &insns,
            prog_type: ProgramType::Tracing,
            maps: &[],
            line_info: &[],
            kfuncs: &kfuncs,
        };
        verify(&prog, &Options::default()).map_err(|r| r.message)
    };
    let lock = "bpf_rcu_read_lock";
    let unlock = "bpf_rcu_read_unlock";
    let pair = "call kfunc 0\ncall kfunc 0\nmov %r0, 0\nexit";
    assert!(run(pair, &[(0, lock), (1, unlock)]).is_ok());
    let e = run(pair, &[(0, lock), (1, lock)]).unwrap_err();
    assert!(e.contains("nested rcu read lock"), "{e}");
    let e = run(pair, &[(0, unlock), (1, lock)]).unwrap_err();
    assert!(e.contains("unmatched rcu read unlock"), "{e}");
    let e = run("call kfunc 0\nmov %r0, 0\nexit", &[(0, lock)]).unwrap_err();
    assert!(e.contains("bpf_rcu_read_unlock is missing"), "{e}");
    let e = run("call kfunc 0\nmov %r0, 0\nexit", &[(0, "bpf_obj_new_impl")]).unwrap_err();
    assert!(e.contains("bpf_obj_new_impl not supported"), "{e}");
    // r0-r5 are clobbered by the call.
    let e = run(
        "call kfunc 0\ncall kfunc 0\nexit",
        &[(0, lock), (1, unlock)],
    )
    .unwrap_err();
    assert!(e.contains("R0 !read_ok"), "{e}");
}

/// A plain program's stats say how much context it uses, so hooks can refuse it at attach.
#[test]
fn plain_ctx_use_is_reported() {
    let insns = waggle_isa::asm::assemble("ldxw %r0, [%r1+4]\nstdw [%r1+16], 1\nexit").unwrap();
    let prog = waggle_verifier::Program {
        insns: &insns,
        prog_type: ProgramType::Unspec,
        maps: &[],
        line_info: &[],
        kfuncs: &[],
    };
    let stats = waggle_verifier::verify(&prog, &waggle_verifier::Options::default()).unwrap();
    assert_eq!((stats.ctx_end, stats.ctx_writes), (24, true));
    let insns = waggle_isa::asm::assemble("ldxw %r0, [%r1+4]\nexit").unwrap();
    let prog = waggle_verifier::Program {
        insns: &insns,
        ..prog
    };
    let stats = waggle_verifier::verify(&prog, &waggle_verifier::Options::default()).unwrap();
    assert_eq!((stats.ctx_end, stats.ctx_writes), (8, false));
}

/// Without the kernel's `struct bpf_map` layout (a user-space runtime's map pointer is no such
/// struct), reads through a map pointer stay refused, with the reason; with it they follow
/// the layout.
#[test]
fn map_ptr_reads_need_the_layout() {
    let insns = assemble("lddw map_idx %r1, 0\nldxw %r2, [%r1+76]\nmov %r0, 0\nexit").unwrap();
    let maps = maps();
    let prog = Program {
        insns: &insns,
        prog_type: ProgramType::Xdp,
        maps: &maps,
        line_info: &[],
        kfuncs: &[],
    };
    let r = verify(&prog, &Options::default()).unwrap_err();
    assert!(
        r.message.contains("invalid mem access 'map_ptr'"),
        "{}",
        r.message
    );
    assert!(r.message.contains("struct bpf_map layout"), "{}", r.message);
    let with = Options {
        bpf_map_struct: Some(table_bpf_map_struct()),
        ..Options::default()
    };
    assert!(verify(&prog, &with).is_ok());
}

/// Frozen data that programs may only read (`.rodata`, `.kconfig`) reads as the numbers it
/// holds when the loader gives its contents, so a `const volatile` setting prunes the branch
/// it turns off (Linux's `bpf_map_direct_read`); without the contents, or for writable data,
/// both branches are explored.
#[test]
fn frozen_read_only_data_reads_as_constants() {
    // Map 11 is `.rodata` (frozen, read-only); map 3 writable global data. The u32 at offset
    // 4 selects a branch that reads r9, never written.
    let text = |map: u32| {
        format!(
            "lddw map_idx_value %r1, 0x4{map:08x}\nldxw %r2, [%r1]\nmov %r0, 0\njeq %r2, 0, +1\nmov %r0, %r9\nexit"
        )
    };
    let maps = maps();
    let mut rodata = vec![0u8; 16];
    let verify = |map: u32, frozen: Vec<(u32, Vec<u8>)>| {
        let insns = assemble(&text(map)).unwrap();
        let prog = Program {
            insns: &insns,
            prog_type: ProgramType::Xdp,
            maps: &maps,
            line_info: &[],
            kfuncs: &[],
        };
        let opts = waggle_verifier::Options {
            frozen_values: frozen,
            ..waggle_verifier::Options::default()
        };
        waggle_verifier::verify(&prog, &opts).map_err(|r| r.message)
    };
    // Contents known, the selector 0: the read of r9 is dead code.
    verify(11, vec![(11, rodata.clone())]).expect("pruned by the constant");
    // Selector 1: the branch is taken, and refused.
    rodata[4] = 1;
    let e = verify(11, vec![(11, rodata.clone())]).unwrap_err();
    assert!(e.contains("R9 !read_ok"), "{e}");
    // Contents unknown, or the data writable: both ways are explored.
    assert!(verify(11, vec![]).unwrap_err().contains("R9 !read_ok"));
    assert!(
        verify(3, vec![(3, vec![0u8; 16])])
            .unwrap_err()
            .contains("R9 !read_ok")
    );
}

/// Precision: where two paths meet with different numbers that nothing later depends on (each
/// side of a random branch sets r6, then only copies of it are made), the second path is
/// pruned at the join instead of running the rest of the block again.
#[test]
fn imprecise_numbers_prune_at_joins() {
    let mut text = String::from("mov %r6, 0\n");
    for i in 0..50 {
        // The copies first: then the join after each diamond is where a state is recorded
        // (the first prune point after two jumps and eight instructions).
        text += &"mov %r7, %r6\n".repeat(10);
        text += &format!("call 7\njgt %r0, {i}, +2\nmov %r6, 1\nja +1\nmov %r6, 2\n");
    }
    text += "mov %r0, 0\nexit\n";
    let insns = assemble(&text).unwrap();
    let prog = Program {
        insns: &insns,
        prog_type: ProgramType::Xdp,
        maps: &[],
        line_info: &[],
        kfuncs: &[],
    };
    let stats = verify(&prog, &Options::default()).unwrap();
    // Each 15-slot block runs once on the first path and one instruction on the second when
    // it is pruned at the join, against about 15 more without precision.
    assert!(
        stats.insns_processed < insns.len() as u64 * 3 / 2,
        "{} instructions processed for {} slots",
        stats.insns_processed,
        insns.len()
    );
}

/// Spectre v1 paths (loaders without CAP_PERFMON): the side a known comparison does not take
/// is explored speculatively; its errors only end that path, but a loop that runs away there
/// refuses the program, as in Linux 6.17+.
#[test]
fn spectre_v1_speculative_paths() {
    let verdict = |text: &str, opts: &Options| {
        let insns = assemble(&text.replace("; ", "\n")).unwrap();
        let prog = Program {
            insns: &insns,
            prog_type: ProgramType::SocketFilter,
            maps: &[],
            line_info: &[],
            kfuncs: &[],
        };
        verify(&prog, opts).map(drop).map_err(|r| r.message)
    };
    let spec = Options::cap_bpf_only();
    let bypass = Options {
        bypass_spec_v1: true,
        ..Options::cap_bpf_only()
    };
    // The counted loop: its last `jne` is known not taken, and the speculative jump back with
    // an unknown counter never ends.
    let counted = "mov %r0, 0; mov %r1, 10; add %r0, 1; sub %r1, 1; jne %r1, 0, -3; exit";
    let e = verdict(counted, &spec).unwrap_err();
    assert!(
        e.contains("too large") || e.contains("infinite loop"),
        "{e}"
    );
    assert!(verdict(counted, &bypass).is_ok());
    // An unsafe read on the side a known comparison never takes: a barrier, not a refusal.
    let dead = "mov %r1, 1; jeq %r1, 1, +1; ldxdw %r0, [%r9]; mov %r0, 0; exit";
    assert!(verdict(dead, &spec).is_ok());
    // Real paths are still checked in full.
    let live = "mov %r1, 1; jeq %r1, 2, +1; ldxdw %r0, [%r9]; mov %r0, 0; exit";
    assert!(verdict(live, &spec).unwrap_err().contains("R9 !read_ok"));
}
