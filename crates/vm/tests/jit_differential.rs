//! Differential testing of the JIT against the interpreter (the reference semantics): random
//! validated programs with random memory run on both engines, which must agree on r0, on the
//! memory afterwards (regions and the guard bytes around them) and on the error (kind, slot,
//! length and direction of a faulting access; not the address, since the two runs' stacks
//! live at different host addresses).
//!
//! Programs are generated as typed instructions biased toward the edges the JIT handles
//! specially: shift counts in any register (r4 is `rcx`), division by 0 and -1, INT_MIN,
//! 32-bit zero-extension, accesses near region and frame edges, read-only first regions,
//! atomics with r0 as operand, calls, helpers that add regions, packet loads. r10 is only ever
//! a base address, never a value, so results do not depend on where the stack is.

use proptest::prelude::*;
use std::cell::Cell;
use waggle_isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, LddwKind, Operand, PacketMode, RawInsn, Reg,
    Size, Width,
};
use waggle_vm::{HelperError, Helpers, Interpreter, Jit, Region, RunConfig, VmError};

mod common;
use common::{ALU_OPS, JMP_OPS, known_opcodes};

const GUARD: u8 = 0xa5;
const PAD: usize = 16;
const RW: usize = 32;
const RO: usize = 16;
const EXTRA: usize = 16;
const BUDGET: u64 = 5_000;

thread_local! {
    /// A per-thread buffer that helper 7 adds as a region (the same address for both runs).
    static EXTRA_BUF: Cell<*mut u8> = Cell::new(Box::leak(Box::new([0u8; EXTRA])).as_mut_ptr());
}

fn extra_buf() -> *mut u8 {
    EXTRA_BUF.with(Cell::get)
}

fn helpers() -> Helpers {
    Helpers::new()
        .with(1, |_, a| Ok(a[0].wrapping_add(a[4])))
        .with(5, |_, a| {
            if a[0] == 0 {
                Err(HelperError::Exit(0))
            } else {
                Ok(a[0])
            }
        })
        // Reads (at most 64 bytes) and writes through the context.
        .with(6, |ctx, a| {
            let len = (a[1] % 64) as usize;
            let sum = ctx.read(a[0], len)?.iter().map(|&b| u64::from(b)).sum();
            ctx.write(a[2], &[0x5a; 4])?;
            Ok(sum)
        })
        // Adds this thread's extra buffer as a region and returns its address.
        .with(7, |ctx, _| {
            let p = extra_buf();
            // SAFETY: the buffer is leaked (lives forever), used by one thread only, and
            // nothing else touches it while a run that may access it is in progress.
            ctx.add_region(unsafe { Region::from_raw(p, EXTRA, true) });
            Ok(p as u64)
        })
        .with(8, |_, _| Err(HelperError::failed("helper 8 always fails")))
}

/// Takes bounded choices out of one random word.
struct Pick(u64);

impl Pick {
    fn take(&mut self, n: u64) -> u64 {
        let v = self.0 % n;
        self.0 /= n;
        v
    }

    fn of<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.take(items.len() as u64) as usize]
    }
}

const SPECIAL32: [i32; 16] = [
    0,
    1,
    -1,
    2,
    7,
    8,
    16,
    31,
    32,
    33,
    63,
    64,
    i32::MIN,
    i32::MAX,
    0x7f,
    -0x80,
];

const SPECIAL64: [u64; 12] = [
    0,
    1,
    u64::MAX,
    i64::MIN as u64,
    i64::MAX as u64,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0xffff_ffff_8000_0000,
    0x80,
    0x8000,
    63,
];

fn imm32(p: &mut Pick, w: u64) -> i32 {
    match p.take(4) {
        0 | 1 => (w % 11) as i32 - 5,
        2 => SPECIAL32[(w % 16) as usize],
        _ => w as i32,
    }
}

fn imm64(p: &mut Pick, w: u64) -> u64 {
    match p.take(3) {
        0 => SPECIAL64[(w % 12) as usize],
        1 => (w % 9).wrapping_sub(4),
        _ => w,
    }
}

fn reg(n: u64) -> Reg {
    Reg::new(n as u8).expect("register")
}

/// A value register, r0..=r9.
fn vreg(p: &mut Pick) -> Reg {
    reg(p.take(10))
}

/// A base register and offset: mostly the first region (r1), the second (r3) or the stack
/// (r10) near their edges, sometimes anything.
fn address(p: &mut Pick, w: u64) -> (Reg, i16) {
    let small = (w % 64) as i16;
    match p.take(10) {
        0..=3 => (Reg::R1, small % 40 - 4),
        4 => (Reg::R3, small % 24 - 4),
        5..=8 => (
            Reg::R10,
            p.of(&[-512, -520, -516, -8, -4, -1, 0, -256, -504, -511, -9]) + (small % 3),
        ),
        _ => (vreg(p), (w >> 8) as i16),
    }
}

fn operand(p: &mut Pick, w: u64) -> Operand {
    if p.take(2) == 0 {
        Operand::Reg(vreg(p))
    } else {
        Operand::Imm(imm32(p, w))
    }
}

const ATOMIC_OPS: [AtomicOp; 10] = [
    AtomicOp::Add { fetch: false },
    AtomicOp::Or { fetch: false },
    AtomicOp::And { fetch: false },
    AtomicOp::Xor { fetch: false },
    AtomicOp::Add { fetch: true },
    AtomicOp::Or { fetch: true },
    AtomicOp::And { fetch: true },
    AtomicOp::Xor { fetch: true },
    AtomicOp::Xchg,
    AtomicOp::CmpXchg,
];

/// Jumps get a placeholder offset and their target choice; resolved once slots are known.
enum Item {
    Plain(Insn),
    Wide(Insn),
    Branch(Insn, u64),
}

fn item(words: [u64; 4]) -> Item {
    let [w0, w1, w2, w3] = words;
    let mut p = Pick(w0);
    let width = if p.take(2) == 0 {
        Width::W64
    } else {
        Width::W32
    };
    let size = p.of(&[Size::B, Size::H, Size::W, Size::DW]);
    match p.take(100) {
        0..30 => {
            let mut op = p.of(&ALU_OPS);
            let mut src = operand(&mut p, w1);
            let mut width = width;
            if matches!(op, AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32) {
                src = Operand::Reg(vreg(&mut p));
                if op == AluOp::MovSx32 {
                    width = Width::W64;
                }
            }
            if p.take(8) == 0 {
                op = p.of(&[AluOp::Lsh, AluOp::Rsh, AluOp::Arsh]);
                src = Operand::Reg(p.of(&[Reg::R4, Reg::R0, Reg::R3]));
            }
            Item::Plain(Insn::Alu {
                width,
                op,
                dst: vreg(&mut p),
                src,
            })
        }
        30..32 => Item::Plain(Insn::Neg {
            width,
            dst: vreg(&mut p),
        }),
        32..36 => Item::Plain(Insn::Endian {
            order: p.of(&[ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap]),
            bits: p.of(&[16, 32, 64]),
            dst: vreg(&mut p),
        }),
        36..41 => Item::Wide(Insn::Lddw {
            dst: vreg(&mut p),
            kind: LddwKind::Imm,
            imm: imm64(&mut p, w1),
        }),
        41..51 => {
            let (src, off) = address(&mut p, w2);
            Item::Plain(Insn::Load {
                size,
                signed: size != Size::DW && p.take(3) == 0,
                dst: vreg(&mut p),
                src,
                off,
            })
        }
        51..61 => {
            let (dst, off) = address(&mut p, w2);
            Item::Plain(Insn::Store {
                size,
                dst,
                off,
                src: operand(&mut p, w1),
            })
        }
        61..69 => {
            let (dst, off) = address(&mut p, w2);
            Item::Plain(Insn::Atomic {
                size: if p.take(2) == 0 { Size::W } else { Size::DW },
                op: p.of(&ATOMIC_OPS),
                dst,
                src: vreg(&mut p),
                off,
            })
        }
        69..81 => Item::Branch(
            Insn::Jump {
                width,
                op: p.of(&JMP_OPS),
                dst: vreg(&mut p),
                src: operand(&mut p, w1),
                off: 0,
            },
            w3,
        ),
        81..84 => Item::Branch(
            Insn::Ja {
                off: 0,
                long: p.take(2) == 0,
            },
            w3,
        ),
        84..88 => Item::Plain(Insn::Call(CallTarget::Helper(p.of(&[1, 5, 6, 7, 7, 8])))),
        88..89 => Item::Plain(Insn::Callx { reg: vreg(&mut p) }),
        89..92 => Item::Branch(Insn::Call(CallTarget::Local(0)), w3),
        92..96 => Item::Plain(Insn::Exit),
        96..97 => Item::Branch(Insn::MayGoto { off: 0 }, w3),
        _ => Item::Plain(Insn::LoadPacket {
            size: p.of(&[Size::B, Size::H, Size::W]),
            mode: if p.take(2) == 0 {
                PacketMode::Abs
            } else {
                PacketMode::Ind(vreg(&mut p))
            },
            imm: imm32(&mut p, w1) % 24,
        }),
    }
}

/// Lay the items out in slots, resolve jump targets (mostly forward), end with `exit`.
fn build(items: Vec<[u64; 4]>) -> Vec<Insn> {
    let items: Vec<Item> = items.into_iter().map(item).collect();
    let mut slots = Vec::new();
    let mut branches = Vec::new();
    for it in items {
        match it {
            Item::Plain(i) => slots.push(i),
            Item::Wide(i) => slots.extend([i, Insn::LddwHigh]),
            Item::Branch(i, w) => {
                branches.push((slots.len(), w));
                slots.push(i);
            }
        }
    }
    slots.push(Insn::Exit);
    let len = slots.len() as u64;
    for (pc, w) in branches {
        let mut p = Pick(w);
        let forward = p.take(3) != 0;
        let mut t = if forward {
            pc as u64 + 1 + p.take(len - pc as u64 - 1)
        } else {
            p.take(len)
        };
        if slots[t as usize] == Insn::LddwHigh {
            t -= 1;
        }
        let off = t as i64 - pc as i64 - 1;
        slots[pc] = match slots[pc] {
            Insn::Jump {
                width,
                op,
                dst,
                src,
                ..
            } => Insn::Jump {
                width,
                op,
                dst,
                src,
                off: off as i16,
            },
            Insn::Ja { long, .. } => Insn::Ja {
                off: off as i32,
                long,
            },
            Insn::Call(_) => Insn::Call(CallTarget::Local(off as i32)),
            _ => Insn::MayGoto { off: off as i16 },
        };
    }
    slots
}

/// What one run leaves behind: the normalised result and every byte it may have touched.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    result: Result<u64, String>,
    rw: Vec<u8>,
    extra: Vec<u8>,
}

/// The error without the address of a faulting access (stack addresses differ per engine).
fn normalise(e: VmError) -> String {
    match e {
        VmError::MemoryAccess { pc, len, write, .. } => {
            format!("MemoryAccess {{ pc: {pc}, len: {len}, write: {write} }}")
        }
        VmError::MisalignedAtomic { pc, len, .. } => {
            format!("MisalignedAtomic {{ pc: {pc}, len: {len} }}")
        }
        e => format!("{e:?}"),
    }
}

struct Setup<'a> {
    mem: &'a [u8],
    ro_first: bool,
    packet: bool,
    /// The instruction budget of the run.
    budget: u64,
}

/// Run on one engine with fresh copies of the memory in `rw`/`ro` (the same buffers, hence
/// the same addresses, for both engines).
fn run_one(
    run: &dyn Fn(&RunConfig<'_>) -> Result<u64, VmError>,
    s: &Setup<'_>,
    rw: &mut [u8; PAD + RW + PAD],
    ro: &mut [u8; PAD + RO + PAD],
) -> Outcome {
    rw.fill(GUARD);
    rw[PAD..PAD + RW].copy_from_slice(&s.mem[..RW]);
    ro.fill(GUARD);
    ro[PAD..PAD + RO].copy_from_slice(&s.mem[RW..RW + RO]);
    let extra = extra_buf();
    // SAFETY: this thread's leaked buffer; no run is in progress.
    unsafe { std::slice::from_raw_parts_mut(extra, EXTRA) }.copy_from_slice(&s.mem[..EXTRA]);
    let result = {
        let (_, rest) = rw.split_at_mut(PAD);
        let rw_mem = &mut rest[..RW];
        let ro_mem = &ro[PAD..PAD + RO];
        let (a, b) = (Region::writable(rw_mem), Region::readonly(ro_mem));
        let regions = if s.ro_first { [b, a] } else { [a, b] };
        let config = RunConfig {
            args: [
                regions[0].addr(),
                regions[0].len() as u64,
                regions[1].addr(),
                regions[1].len() as u64,
                0,
            ],
            regions: &regions,
            packet: s.packet.then(|| &s.mem[..20]),
            max_insns: Some(s.budget),
        };
        run(&config)
    };
    // SAFETY: as above; the run has ended.
    let extra_bytes = unsafe { std::slice::from_raw_parts(extra, EXTRA) }.to_vec();
    assert_eq!(
        &ro[PAD..PAD + RO],
        &s.mem[RW..RW + RO],
        "read-only region changed"
    );
    Outcome {
        result: result.map_err(normalise),
        rw: rw.to_vec(),
        extra: extra_bytes,
    }
}

/// Prepare on both engines (they must agree on refusal), run on both, compare.
fn check(insns: &[Insn], s: &Setup<'_>) -> Option<Outcome> {
    let vm = Interpreter::new(insns, helpers());
    let jit = Jit::new(insns, helpers());
    match (&vm, &jit) {
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "different preparation errors");
            return None;
        }
        (Ok(_), Ok(_)) => {}
        _ => panic!(
            "only one engine accepts the program: {:?} / {:?}",
            vm.as_ref().err(),
            jit.as_ref().err()
        ),
    }
    let (vm, jit) = (vm.ok()?, jit.ok()?);
    // On the heap, far from either engine's stack frames: a wild offset from r1 must not land
    // in one engine's stack and not the other's (their stacks are at different addresses).
    let mut rw = Box::new([0u8; PAD + RW + PAD]);
    let mut ro = Box::new([0u8; PAD + RO + PAD]);
    let want = run_one(&|c| vm.run(c), s, &mut rw, &mut ro);
    let got = run_one(&|c| jit.run(c), s, &mut rw, &mut ro);
    assert_eq!(
        got, want,
        "JIT (left) and interpreter (right) disagree on {insns:#?}"
    );
    Some(want)
}

fn programs() -> impl Strategy<Value = Vec<Insn>> {
    prop::collection::vec(any::<[u64; 4]>(), 1..40).prop_map(build)
}

/// Whether `insn` uses r10's value other than as a load/store/atomic base: such programs could
/// observe where the stack is, which differs between the engines' runs.
fn reads_r10_value(insn: &Insn) -> bool {
    let r10 = |r: Reg| r == Reg::R10;
    let op = |o: Operand| o == Operand::Reg(Reg::R10);
    match *insn {
        Insn::Alu { src, .. } => op(src),
        Insn::Jump { dst, src, .. } => r10(dst) || op(src),
        Insn::Store { src, .. } => op(src),
        Insn::Atomic { src, .. } => r10(src),
        Insn::Callx { reg } => r10(reg),
        Insn::LoadPacket {
            mode: PacketMode::Ind(r),
            ..
        } => r10(r),
        _ => false,
    }
}

/// Raw slots with random fields (biased toward decodable opcodes and small offsets), the
/// undecodable ones dropped, jumps pointed inside the program; `None` unless the result
/// validates and keeps r10 a base register only.
fn raw_program(slots: Vec<(u8, u8, u8, i16, i32, i32)>) -> Option<Vec<Insn>> {
    let mut raws = Vec::new();
    for (code, dst, src, off, imm, next) in slots {
        let raw = RawInsn {
            code,
            dst,
            src,
            off,
            imm,
        };
        let high = RawInsn {
            imm: next,
            ..RawInsn::default()
        };
        match Insn::decode(raw, Some(high)) {
            Ok(Insn::Lddw { .. }) => raws.extend([raw, high]),
            Ok(_) => raws.push(raw),
            Err(_) => {}
        }
    }
    raws.push(RawInsn {
        code: 0x95,
        ..RawInsn::default()
    });
    let insns = waggle_isa::decode_raw(&raws).ok()?;
    let len = insns.len() as i64;
    for (pc, insn) in insns.iter().enumerate() {
        let Some(target) = insn.jump_target(pc) else {
            continue;
        };
        let mut t = target.rem_euclid(len);
        if insns[t as usize] == Insn::LddwHigh {
            t -= 1;
        }
        let off = t - pc as i64 - 1;
        match insn {
            Insn::Ja { long: true, .. } | Insn::Call(_) => raws[pc].imm = off as i32,
            _ => raws[pc].off = off as i16,
        }
    }
    let insns = waggle_isa::decode_raw(&raws).ok()?;
    waggle_isa::validate(&insns).ok()?;
    (!insns.iter().any(reads_r10_value)).then_some(insns)
}

fn raw_programs() -> impl Strategy<Value = Option<Vec<Insn>>> {
    let code = prop_oneof![20 => prop::sample::select(known_opcodes()), 1 => any::<u8>()];
    let regno = prop_oneof![20 => 0u8..=10, 1 => 0u8..16];
    let off = prop_oneof![
        4 => -6i16..40,
        2 => prop::sample::select(vec![-8i16, -512, -513, -520, -1, 504, 32767, -32768]),
        1 => any::<i16>(),
    ];
    let imm = prop_oneof![
        3 => -8i32..70,
        2 => prop::sample::select(vec![0i32, 1, 5, 6, 7, 16, 32, 64, 0x41, 0xe1, 0xf1, -1, i32::MIN]),
        1 => any::<i32>(),
    ];
    prop::collection::vec((code, regno.clone(), regno, off, imm, any::<i32>()), 1..32)
        .prop_map(raw_program)
}

/// Mostly the large budget; often a small one, so that it runs out anywhere in a program
/// (the JIT's checked mode counts whole straight-line blocks at once).
fn budgets() -> impl Strategy<Value = u64> {
    prop_oneof![2 => Just(BUDGET), 1 => 0u64..48]
}

proptest! {
    // 2,000 cases in CI (a fraction of a second); `JIT_DIFF_CASES=N` for a long run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("JIT_DIFF_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn jit_agrees_with_the_interpreter(
        insns in programs(),
        mem in prop::collection::vec(any::<u8>(), RW + RO),
        ro_first in prop::bool::weighted(0.2),
        packet in prop::bool::weighted(0.8),
        budget in budgets(),
    ) {
        check(&insns, &Setup { mem: &mem, ro_first, packet, budget });
    }

    /// Raw random encodings (the fuzz generator's approach), for field combinations the typed
    /// generator does not think of.
    #[test]
    fn jit_agrees_with_the_interpreter_on_raw_programs(
        insns in raw_programs(),
        mem in prop::collection::vec(any::<u8>(), RW + RO),
        ro_first in prop::bool::weighted(0.2),
        budget in budgets(),
    ) {
        if let Some(insns) = insns {
            check(&insns, &Setup { mem: &mem, ro_first, packet: true, budget });
        }
    }
}

/// The generator must produce programs that do real work on both engines: some succeed,
/// some fault, some run out of budget.
#[test]
fn generator_reaches_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = programs();
    let (mut ok, mut fault, mut budget, mut other) = (0, 0, 0, 0);
    let mut kinds = std::collections::BTreeMap::new();
    let mem: Vec<u8> = (0..(RW + RO) as u8).collect();
    for _ in 0..500 {
        let insns = strategy.new_tree(&mut runner).unwrap().current();
        let setup = Setup {
            mem: &mem,
            ro_first: false,
            packet: true,
            budget: BUDGET,
        };
        match check(&insns, &setup).map(|o| o.result) {
            Some(Ok(_)) => ok += 1,
            Some(Err(e)) if e.starts_with("MemoryAccess") => fault += 1,
            Some(Err(e)) if e.starts_with("BudgetExceeded") => budget += 1,
            o => {
                other += 1;
                let kind = match o {
                    Some(Err(e)) => e.split([' ', '{']).next().unwrap_or("").to_string(),
                    _ => "refused".to_string(),
                };
                *kinds.entry(kind).or_insert(0) += 1;
            }
        }
    }
    eprintln!("ok {ok}, faults {fault}, budget {budget}, other {other}: {kinds:?}");
    assert!(
        ok >= 50 && fault >= 50 && budget >= 5,
        "ok {ok}, faults {fault}, budget {budget}"
    );
    let raw = raw_programs();
    let runnable = (0..500)
        .filter_map(|_| raw.new_tree(&mut runner).unwrap().current())
        .filter(|insns| Jit::new(insns, helpers()).is_ok())
        .count();
    eprintln!("raw: {runnable} of 500 runnable");
    assert!(
        runnable >= 100,
        "only {runnable} of 500 raw programs are runnable"
    );
}

/// The budget running out at every possible instruction: each generated program run with
/// every budget from 0 to 63 on both engines (same error, same slot, same memory effects).
#[test]
fn budget_runs_out_at_the_same_slot_for_every_budget() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = programs();
    let mem: Vec<u8> = (0..(RW + RO) as u8).collect();
    let mut exhausted = 0;
    for _ in 0..150 {
        let insns = strategy.new_tree(&mut runner).unwrap().current();
        for budget in 0..64 {
            let setup = Setup {
                mem: &mem,
                ro_first: false,
                packet: true,
                budget,
            };
            if let Some(Err(e)) = check(&insns, &setup).map(|o| o.result)
                && e.starts_with("BudgetExceeded")
            {
                exhausted += 1;
            }
        }
    }
    assert!(exhausted >= 500, "only {exhausted} runs ran out of budget");
}
