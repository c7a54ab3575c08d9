//! The Foundation benchmarks: eleven workloads, each run natively (plain Rust), on Waggle's
//! interpreter, on Waggle's JIT (checked mode: bounds checks and the instruction budget
//! counter are in the code) and on the `rbpf` crate's interpreter, in the same run.
//!
//! `native` is plain Rust (`-O`, LLVM); `native_c` is the same workload in C compiled with
//! `gcc -O2` (`crates/bench-native`), the baseline issue 5 states its ratios against.
//!
//! Run: `cargo bench -p waggle-vm --bench interpreter` (or `scripts/bench-report.py`, which runs
//! this and prints the Markdown table of BENCHMARKS.md). Bench names are
//! `workload::<name>::{native, native_c, waggle_interpreter, waggle_jit, rbpf_interpreter}`.
//!
//! Before timing, every bench checks that Waggle and rbpf return the native r0 (and leave the
//! same memory), so a wrong interpreter cannot post a time.
//!
//! Versions (dev-dependencies of waggle-vm):
//! - `rbpf = "0.4.1"`: the newest release (edition 2024, builds with Rust 1.95). Its interpreter
//!   handles the v1/v2 ALU/ALU64/JMP classes, JMP32, `mod32`/`div32`, byte swaps `le`/`be`,
//!   helper and local calls. It rejects `bswap` (0xd7), `gotol` (0x06), sign-extending loads and
//!   atomics, and silently runs v4 `sdiv`/`smod`/`movsx` as their unsigned/plain forms (it
//!   ignores the offset field), so the workloads keep to the common subset. `EbpfVmRaw` passes
//!   the memory pointer in r1 but no length in r2: no workload reads r2.
//! - `divan = "0.1.21"`: the newest release (MSRV 1.80).

use divan::Bencher;
use std::hint::black_box;
use waggle_isa::Insn;
use waggle_vm::{Helpers, Interpreter, Jit};

mod workloads;

use workloads::Workload;

fn main() {
    eprintln!(
        "native_c rows: gcc -O2 ({})",
        waggle_bench_native::CC_VERSION
    );
    // Fail fast: every workload must agree on every engine before anything is timed (each bench
    // checks its own workload again before timing, so a filtered run is checked too).
    for w in workloads::ALL {
        prepare(w);
    }
    divan::main();
}

/// A workload ready to run: its program as Waggle instructions and as rbpf bytecode, its memory
/// input, and the native result.
struct Prepared {
    insns: Vec<Insn>,
    bytecode: Vec<u8>,
    memory: Vec<u8>,
}

/// Waggle's helper registry for the workloads: id 1 is `r0 = r1 + 1`, with a direct form
/// for verified code, as the runtime registers its hot helpers.
fn waggle_helpers() -> Helpers {
    let mut helpers = Helpers::new();
    helpers.register_native(
        workloads::HELPER_ID,
        |_, [a, b, c, d, e]| Ok(workloads::helper_inc(a, b, c, d, e)),
        waggle_vm::NativeHelper::new(helper_inc_native, std::sync::Arc::new(())),
    );
    helpers
}

/// The direct form of `helper_inc`: the same body, so that one BPF call is one native call
/// as in rbpf's JIT (which calls `helper_inc` itself); calling `helper_inc` from here would
/// add a second call.
unsafe extern "C" fn helper_inc_native(
    r1: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: *const std::ffi::c_void,
) -> u64 {
    r1.wrapping_add(1)
}

fn rbpf_vm(bytecode: &[u8]) -> rbpf::EbpfVmRaw<'_> {
    let mut vm = rbpf::EbpfVmRaw::new(Some(bytecode)).expect("rbpf accepts the program");
    vm.register_helper(workloads::HELPER_ID, workloads::helper_inc)
        .expect("rbpf registers the helper");
    vm
}

/// Assembles the workload and checks that both interpreters compute what the native version
/// does: the same r0 and the same memory afterwards.
fn prepare(w: &Workload) -> Prepared {
    let insns = waggle_isa::asm::assemble(w.source)
        .unwrap_or_else(|e| panic!("{}: assembler error: {e}", w.name));
    let bytecode = waggle_isa::encode(&insns);
    let memory = (w.memory)();

    let mut native_mem = memory.clone();
    let expected = (w.native)(&mut native_mem);

    let mut c_mem = memory.clone();
    // SAFETY: the region is the workload's own input, as long as its C version reads and
    // writes (the same sizes as the Rust version, which checks them).
    let got = unsafe { (w.c)(c_mem.as_mut_ptr(), c_mem.len()) };
    assert_eq!(
        got, expected,
        "{}: C (gcc -O2) r0 differs from Rust",
        w.name
    );
    assert!(c_mem == native_mem, "{}: C memory differs", w.name);

    let vm = Interpreter::new(&insns, waggle_helpers())
        .unwrap_or_else(|e| panic!("{}: waggle rejects the program: {e}", w.name));
    let mut waggle_mem = memory.clone();
    let got = vm
        .run_on(&mut waggle_mem)
        .unwrap_or_else(|e| panic!("{}: waggle run failed: {e}", w.name));
    assert_eq!(got, expected, "{}: waggle r0 differs from native", w.name);
    assert!(
        waggle_mem == native_mem,
        "{}: waggle memory differs",
        w.name
    );

    let jit = Jit::new(&insns, waggle_helpers())
        .unwrap_or_else(|e| panic!("{}: the JIT rejects the program: {e}", w.name));
    let mut jit_mem = memory.clone();
    let got = jit
        .run_on(&mut jit_mem)
        .unwrap_or_else(|e| panic!("{}: JIT run failed: {e}", w.name));
    assert_eq!(got, expected, "{}: JIT r0 differs from native", w.name);
    assert!(jit_mem == native_mem, "{}: JIT memory differs", w.name);

    let rbpf = rbpf_vm(&bytecode);
    let mut rbpf_mem = memory.clone();
    let got = rbpf
        .execute_program(&mut rbpf_mem)
        .unwrap_or_else(|e| panic!("{}: rbpf run failed: {e}", w.name));
    assert_eq!(got, expected, "{}: rbpf r0 differs from native", w.name);
    assert!(rbpf_mem == native_mem, "{}: rbpf memory differs", w.name);

    drop(rbpf);
    Prepared {
        insns,
        bytecode,
        memory,
    }
}

fn bench_native(bencher: Bencher, w: &Workload) {
    let mut memory = prepare(w).memory;
    // An indirect call, as invoking a compiled program would be: black_box keeps the function
    // out of line and its input opaque.
    let native = black_box(w.native);
    bencher.bench_local(|| native(black_box(&mut memory)));
}

/// The C version (`gcc -O2`, issue 5's baseline), through a function pointer like the Rust one.
fn bench_native_c(bencher: Bencher, w: &Workload) {
    let mut memory = prepare(w).memory;
    let c = black_box(w.c);
    bencher.bench_local(|| {
        let m = black_box(&mut memory);
        // SAFETY: as in `prepare`, which ran it on this memory.
        unsafe { c(m.as_mut_ptr(), m.len()) }
    });
}

fn bench_waggle(bencher: Bencher, w: &Workload) {
    let Prepared {
        insns, mut memory, ..
    } = prepare(w);
    let vm = Interpreter::new(&insns, waggle_helpers()).expect("checked in prepare");
    bencher.bench_local(|| {
        vm.run_on(black_box(&mut memory))
            .expect("checked in prepare")
    });
}

fn bench_jit(bencher: Bencher, w: &Workload) {
    let Prepared {
        insns, mut memory, ..
    } = prepare(w);
    let jit = Jit::new(&insns, waggle_helpers()).expect("checked in prepare");
    bencher.bench_local(|| {
        jit.run_on(black_box(&mut memory))
            .expect("checked in prepare")
    });
}

fn bench_jit_verified(bencher: Bencher, w: &Workload) {
    let Prepared {
        insns, mut memory, ..
    } = prepare(w);
    // SAFETY: `prepare` ran the program on this memory on the interpreter (checked): it stays
    // in bounds and terminates, and every run here starts from the same memory contents
    // except what the program itself wrote (the workloads only write where they read).
    let jit = unsafe { Jit::new_verified(&insns, waggle_helpers()) }.expect("checked in prepare");
    bencher.bench_local(|| {
        jit.run_on(black_box(&mut memory))
            .expect("checked in prepare")
    });
}

fn bench_rbpf_jit(bencher: Bencher, w: &Workload) {
    let Prepared {
        bytecode,
        mut memory,
        ..
    } = prepare(w);
    let mut vm = rbpf_vm(&bytecode);
    vm.jit_compile().expect("rbpf compiles the program");
    // SAFETY: rbpf's JIT has no bounds checks; `prepare` ran this program on rbpf's (checked)
    // interpreter over this memory, so it stays in bounds.
    let check = unsafe { vm.execute_program_jit(&mut memory.clone()) };
    let mut native_mem = memory.clone();
    assert_eq!(
        check.expect("rbpf JIT run"),
        (w.native)(&mut native_mem),
        "{}: rbpf JIT differs from native",
        w.name
    );
    bencher.bench_local(|| {
        // SAFETY: as above.
        unsafe { vm.execute_program_jit(black_box(&mut memory)) }.expect("checked above")
    });
}

fn bench_rbpf(bencher: Bencher, w: &Workload) {
    let Prepared {
        bytecode,
        mut memory,
        ..
    } = prepare(w);
    let vm = rbpf_vm(&bytecode);
    bencher.bench_local(|| {
        vm.execute_program(black_box(&mut memory))
            .expect("checked in prepare")
    });
}

macro_rules! bench_workload {
    ($module:ident, $workload:path) => {
        /// One workload on each engine.
        mod $module {
            use super::super::*;

            #[divan::bench]
            fn native(bencher: Bencher) {
                bench_native(bencher, &$workload);
            }

            #[divan::bench]
            fn native_c(bencher: Bencher) {
                bench_native_c(bencher, &$workload);
            }

            #[divan::bench]
            fn waggle_interpreter(bencher: Bencher) {
                bench_waggle(bencher, &$workload);
            }

            #[divan::bench]
            fn waggle_jit(bencher: Bencher) {
                bench_jit(bencher, &$workload);
            }

            #[divan::bench]
            fn waggle_jit_verified(bencher: Bencher) {
                bench_jit_verified(bencher, &$workload);
            }

            #[divan::bench]
            fn rbpf_interpreter(bencher: Bencher) {
                bench_rbpf(bencher, &$workload);
            }

            #[divan::bench]
            fn rbpf_jit(bencher: Bencher) {
                bench_rbpf_jit(bencher, &$workload);
            }
        }
    };
}

/// The workloads, one module each.
mod workload {
    bench_workload!(call_overhead, workloads::CALL_OVERHEAD);
    bench_workload!(fibonacci, workloads::FIBONACCI);
    bench_workload!(log2, workloads::LOG2);
    bench_workload!(popcount, workloads::POPCOUNT);
    bench_workload!(switch64, workloads::SWITCH64);
    bench_workload!(linear_search, workloads::LINEAR_SEARCH);
    bench_workload!(prime, workloads::PRIME);
    bench_workload!(checksum, workloads::CHECKSUM);
    bench_workload!(memcpy, workloads::MEMCPY);
    bench_workload!(strcmp, workloads::STRCMP);
    bench_workload!(helper_calls, workloads::HELPER_CALLS);
}

/// A valid program of exactly `n` slots (n >= 2): a repeating mix of ALU, stack stores and
/// loads and short forward jumps, then `exit`. rbpf accepts it too.
fn compile_program(n: usize) -> Vec<Insn> {
    use waggle_isa::{AluOp, JmpOp, Operand, Reg, Size, Width};
    let r = |i: u8| Reg::new(i).expect("register");
    let mut p = Vec::with_capacity(n);
    while p.len() < n - 1 {
        let k = p.len();
        let left = n - 1 - k;
        p.push(match k % 8 {
            0 => Insn::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: r(0),
                src: Operand::Imm(k as i32),
            },
            1 => Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: r(0),
                src: Operand::Reg(r(1)),
            },
            2 => Insn::Alu {
                width: Width::W32,
                op: AluOp::Xor,
                dst: r(2),
                src: Operand::Imm(0x55),
            },
            3 => Insn::Alu {
                width: Width::W64,
                op: AluOp::Lsh,
                dst: r(3),
                src: Operand::Imm(3),
            },
            4 => Insn::Store {
                size: Size::DW,
                dst: r(10),
                off: -8,
                src: Operand::Reg(r(0)),
            },
            5 => Insn::Load {
                size: Size::DW,
                signed: false,
                dst: r(4),
                src: r(10),
                off: -8,
            },
            6 if left > 2 => Insn::Jump {
                width: Width::W64,
                op: JmpOp::Jeq,
                dst: r(4),
                src: Operand::Imm(7),
                off: 1,
            },
            _ => Insn::Alu {
                width: Width::W64,
                op: AluOp::Mul,
                dst: r(5),
                src: Operand::Imm(3),
            },
        });
    }
    p.push(Insn::Exit);
    p
}

/// Compile time: `Jit::new` (validation, preparation and code generation; what loading a
/// program costs) per program size, and rbpf's `jit_compile` on the same programs.
mod compile {
    use super::*;

    const SIZES: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];

    #[divan::bench(args = SIZES)]
    fn waggle_jit(bencher: Bencher, n: usize) {
        let p = compile_program(n);
        bencher
            .counter(divan::counter::ItemsCount::new(n))
            .bench_local(|| Jit::new(black_box(&p), Helpers::new()).expect("compiles"));
    }

    #[divan::bench(args = SIZES)]
    fn waggle_jit_verified(bencher: Bencher, n: usize) {
        let p = compile_program(n);
        bencher
            .counter(divan::counter::ItemsCount::new(n))
            .bench_local(|| {
                // SAFETY: compiled only, never run.
                unsafe { Jit::new_verified(black_box(&p), Helpers::new()) }.expect("compiles")
            });
    }

    /// rbpf's JIT writes into one fixed 4 KiB page: programs of 1,000 slots and more do not
    /// fit (it panics), so it is measured on the small sizes only.
    #[divan::bench(args = [10, 100])]
    fn rbpf_jit(bencher: Bencher, n: usize) {
        let bytecode = waggle_isa::encode(&compile_program(n));
        bencher
            .counter(divan::counter::ItemsCount::new(n))
            .bench_local(|| {
                let mut vm =
                    rbpf::EbpfVmRaw::new(Some(black_box(&bytecode))).expect("rbpf accepts");
                vm.jit_compile().expect("rbpf compiles");
                vm
            });
    }
}
