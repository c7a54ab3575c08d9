//! Bounded fuzzing: random bytes that decode and validate run with a small memory region and
//! a budget. The run must never panic, and must never write outside its regions (checked
//! with guard bytes around them); it may return `Ok` or `Err`.

use proptest::prelude::*;
use waggle_isa::{Insn, RawInsn, decode_and_validate};
use waggle_vm::{HelperError, Helpers, Interpreter, Region, RunConfig};

mod common;
use common::known_opcodes;

const GUARD: u8 = 0xa5;
const PAD: usize = 64;

/// One random slot, biased toward valid instructions with small jump offsets and offsets
/// near the edges of the memory region and the stack.
fn slot(codes: Vec<u8>) -> impl Strategy<Value = [u8; 8]> {
    let code = prop_oneof![40 => prop::sample::select(codes), 1 => any::<u8>()];
    let regno = prop_oneof![40 => 0u8..=10, 1 => 0u8..16];
    let off = prop_oneof![
        4 => -4i16..6,
        2 => prop::sample::select(vec![0i16, 1, 8, 16, 32, -8, -512, -513, -520, 504, 32767, -32768]),
        1 => any::<i16>(),
    ];
    let imm = prop_oneof![
        3 => -8i32..70,
        2 => prop::sample::select(vec![
            0i32, 1, 5, 6, 16, 32, 64, 0x01, 0x41, 0x51, 0xa1, 0xe1, 0xf1, -1, i32::MIN, i32::MAX,
        ]),
        1 => any::<i32>(),
    ];
    (code, regno.clone(), regno, off, imm).prop_map(|(code, dst, src, off, imm)| {
        RawInsn {
            code,
            dst,
            src,
            off,
            imm,
        }
        .to_bytes()
    })
}

/// Make a slot decodable where clearing a field or two does it (most random slots fail only
/// on a reserved field); returns the slot and, for `lddw`, its second slot.
fn repair(raw: RawInsn, next_imm: i32) -> Vec<RawInsn> {
    let high = RawInsn {
        imm: next_imm,
        ..RawInsn::default()
    };
    let candidates = [
        raw,
        RawInsn { src: 0, ..raw },
        RawInsn { off: 0, ..raw },
        RawInsn { imm: 0, ..raw },
        RawInsn {
            src: 0,
            off: 0,
            ..raw
        },
        RawInsn {
            src: 0,
            imm: 0,
            ..raw
        },
        RawInsn {
            off: 0,
            imm: 0,
            ..raw
        },
        RawInsn {
            dst: 0,
            src: 0,
            off: 0,
            ..raw
        },
        RawInsn {
            dst: 0,
            src: 0,
            imm: 0,
            ..raw
        },
    ];
    for mut c in candidates {
        // Validation refuses writes to r10: move most of them to r9 (`imm` serves as the
        // random choice), keeping a few to exercise the rejection.
        if let Ok(insn) = Insn::decode(c, Some(high))
            && insn.written_reg() == Some(waggle_isa::Reg::R10)
            && c.imm % 8 != 0
        {
            if c.dst == 10 {
                c.dst = 9;
            } else {
                c.src = 9;
            }
        }
        if let Ok(insn) = Insn::decode(c, Some(high)) {
            return if matches!(insn, Insn::Lddw { .. }) {
                vec![c, high]
            } else {
                vec![c]
            };
        }
    }
    vec![raw]
}

/// Point jumps that leave the program (or land on an `lddw` second slot) at a slot inside it,
/// derived from their random offset.
fn retarget(raws: &mut [RawInsn]) {
    let len = raws.len() as i64;
    let Ok(insns) = waggle_isa::decode_raw(raws) else {
        return;
    };
    for (pc, insn) in insns.iter().enumerate() {
        let Some(target) = insn.jump_target(pc) else {
            continue;
        };
        let mut t = target.rem_euclid(len);
        if insns[t as usize] == Insn::LddwHigh {
            t -= 1;
        }
        if t == target {
            continue;
        }
        let off = t - pc as i64 - 1;
        // `decode_raw` yields one `Insn` per slot, so `pc` indexes `raws` too.
        match insn {
            Insn::Ja { long: true, .. } | Insn::Call(_) => raws[pc].imm = off as i32,
            _ => raws[pc].off = off as i16,
        }
    }
}

fn program(codes: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        (slot(codes), any::<i32>(), prop::bool::weighted(0.995)),
        1..32,
    )
    .prop_map(|slots| {
        let mut raws = Vec::new();
        for (bytes, next_imm, fix) in slots {
            let raw = RawInsn::from_bytes(bytes);
            // Leave some slots as they came, to exercise rejection too.
            if fix {
                raws.extend(repair(raw, next_imm));
            } else {
                raws.push(raw);
            }
        }
        // End with `exit` so that many programs pass the fall-through check.
        raws.push(RawInsn {
            code: 0x95,
            ..RawInsn::default()
        });
        retarget(&mut raws);
        raws.into_iter().flat_map(RawInsn::to_bytes).collect()
    })
}

fn helpers() -> Helpers {
    Helpers::new()
        .with(1, |_, a| Ok(a[0].wrapping_add(1)))
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
}

/// Run `insns` with a 32-byte writable and a 16-byte read-only region, each between guard
/// bytes; returns whether the run succeeded and asserts the guards are intact.
fn run_guarded(vm: &Interpreter, mem_init: &[u8]) -> bool {
    let mut rw = [GUARD; PAD + 32 + PAD];
    rw[PAD..PAD + 32].copy_from_slice(&mem_init[..32]);
    let ro = {
        let mut v = vec![GUARD; PAD + 16 + PAD];
        v[PAD..PAD + 16].copy_from_slice(&mem_init[32..48]);
        v
    };
    let result = {
        let (_, rest) = rw.split_at_mut(PAD);
        let (rw_mem, _) = rest.split_at_mut(32);
        let regions = [
            Region::writable(rw_mem),
            Region::readonly(&ro[PAD..PAD + 16]),
        ];
        let config = RunConfig {
            args: [regions[0].addr(), 32, regions[1].addr(), 16, 0],
            regions: &regions,
            packet: Some(&mem_init[..20]),
            max_insns: Some(10_000),
        };
        vm.run(&config)
    };
    assert!(
        rw[..PAD].iter().all(|&b| b == GUARD),
        "write below the region"
    );
    assert!(
        rw[PAD + 32..].iter().all(|&b| b == GUARD),
        "write above the region"
    );
    assert!(
        ro[PAD..PAD + 16] == mem_init[32..48],
        "read-only region changed"
    );
    result.is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_validated_programs_never_misbehave(
        code in program(known_opcodes()),
        mem in prop::collection::vec(any::<u8>(), 48),
    ) {
        let Ok(insns) = decode_and_validate(&code) else {
            return Ok(());
        };
        let Ok(vm) = Interpreter::new(&insns, helpers()) else {
            return Ok(());
        };
        run_guarded(&vm, &mem);
    }
}

/// The generator must produce runnable programs often enough for the fuzz test to mean
/// something, and some of them must do real work (succeed, fault, use memory).
#[test]
fn generator_yields_runnable_programs() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = program(known_opcodes());
    let (mut valid, mut ok, mut err) = (0, 0, 0);
    for _ in 0..2000 {
        let code = strategy.new_tree(&mut runner).unwrap().current();
        let Ok(insns) = decode_and_validate(&code) else {
            continue;
        };
        let Ok(vm) = Interpreter::new(&insns, helpers()) else {
            continue;
        };
        valid += 1;
        if run_guarded(&vm, &[7; 48]) {
            ok += 1;
        } else {
            err += 1;
        }
    }
    eprintln!("{valid} runnable of 2000: {ok} ok, {err} err");
    assert!(valid >= 300, "only {valid} of 2000 programs are runnable");
    assert!(ok >= 50 && err >= 50, "ok {ok}, err {err}");
}
