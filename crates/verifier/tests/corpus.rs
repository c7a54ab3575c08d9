//! Every program of the project's corpus (`tests/progs/*.bpf.o`) must verify, but those the
//! kernel refuses too.

mod common;

use common::objects::{Input, corpus};
use waggle_object::Object;
use waggle_verifier::{Options, verify};

/// Corpus programs the Linux verifier refuses too, with the fragment of our message.
pub const EXPECTED_REFUSALS: &[(&str, &str, &str)] = &[
    // Compiled against its own BTF, `ctx->len` is at offset 4, inside the 8 bytes of common
    // fields a tracepoint program may not read (`tp_prog_is_valid_access`); the object is
    // meant to be relocated against tests/progs/core_target.btf.
    (
        "core.bpf.o",
        "core_prog",
        "invalid bpf_context access off=4 size=4",
    ),
    (
        "core.v4.bpf.o",
        "core_prog",
        "invalid bpf_context access off=4 size=4",
    ),
    // Refused on purpose: reads a map value without checking it against NULL.
    (
        "verifier_null.bpf.o",
        "count_null",
        "R0 may be NULL at insn 7 (line 20: `return *val > 100 ? XDP_DROP : XDP_PASS;`): r0 is what bpf_map_lookup_elem returned at insn 6 (line 19: `val = bpf_map_lookup_elem(&counts, &key);`), NULL when there is nothing; compare it with NULL before reading *(u64 *)(r0 + 0)",
    ),
];

/// Every corpus program is accepted (but the few the kernel refuses too); the stats are
/// printed.
#[test]
fn corpus_programs_verify() {
    let mut failures = Vec::new();
    let mut count = 0;
    let mut locks = 0;
    for path in corpus() {
        let obj = Object::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for p in &obj.programs {
            let input = Input::new(&obj, p);
            locks += input
                .maps
                .iter()
                .filter(|m| m.spin_lock_off.is_some())
                .count();
            let prog = input.program();
            let prog_type = input.prog_type;
            count += 1;
            let name = format!("{file}:{}", p.name);
            let expected = EXPECTED_REFUSALS
                .iter()
                .find(|(f, n, _)| *f == file && *n == p.name);
            let result = verify(&prog, &Options::default());
            match (expected, result) {
                (Some((_, _, frag)), Err(r)) if r.message.contains(frag) => {
                    println!("{name}: refused as the kernel does: {}", r.message);
                }
                (Some(_), Err(r)) => failures.push(format!("{name}: wrong refusal {}", r.message)),
                (Some(_), Ok(_)) => {
                    failures.push(format!("{name}: accepted, the kernel refuses it"))
                }
                (None, Ok(s)) => println!(
                    "{name} ({prog_type}): {} insns, {} processed, {} states, peak {}, stack {:?}, {:?}",
                    p.insns.len(),
                    s.insns_processed,
                    s.states_kept,
                    s.peak_states,
                    s.max_stack_depth,
                    s.duration
                ),
                (None, Err(r)) => {
                    println!("{name} ({prog_type}): REFUSED {}", r.message);
                    failures.push(format!("{name}: {}", r.message));
                }
            }
        }
    }
    assert!(count > 20, "only {count} corpus programs found");
    assert!(failures.is_empty(), "refused:\n{}", failures.join("\n"));
    assert!(locks > 0, "no map with a spin lock found through BTF");
}
