//! The verifier never panics: on every conformance-suite program, and on random validated ones.

use proptest::prelude::*;
use std::path::Path;
use waggle_isa::{
    AluOp, CallTarget, Insn, JmpOp, LddwKind, Operand, Reg, Size, Width, assemble, validate,
};
use waggle_uapi::{MapType, ProgramType};
use waggle_verifier::{MapDesc, Options, Program, verify};

fn asm_section(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("--") {
            inside = t == "-- asm";
            continue;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    (!out.trim().is_empty()).then_some(out)
}

#[test]
fn conformance_programs_never_panic() {
    let dir = Path::new("/work/shared/conformance/tests");
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!("SKIPPED: {} not found", dir.display());
        return;
    };
    let (mut accepted, mut refused, mut skipped) = (0, 0, 0);
    let opts = Options {
        complexity_limit: 100_000,
        ..Options::default()
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "data") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let Some(asm) = asm_section(&text) else {
            skipped += 1;
            continue;
        };
        let Ok(insns) = assemble(&asm) else {
            skipped += 1;
            continue;
        };
        let prog = Program {
            insns: &insns,
            prog_type: ProgramType::Unspec,
            maps: &[],
            line_info: &[],
            kfuncs: &[],
        };
        match verify(&prog, &opts) {
            Ok(_) => accepted += 1,
            Err(_) => refused += 1,
        }
    }
    eprintln!("conformance: {accepted} accepted, {refused} refused, {skipped} skipped");
    assert!(accepted > 0);
}

fn maps() -> Vec<MapDesc> {
    vec![
        MapDesc::new(MapType::Array, 4, 16, 4, 0),
        MapDesc::new(MapType::Ringbuf, 0, 0, 4096, 0),
    ]
}

fn reg() -> impl Strategy<Value = Reg> {
    (0u8..11).prop_map(|n| Reg::new(n).expect("0..=10"))
}

fn wreg() -> impl Strategy<Value = Reg> {
    (0u8..10).prop_map(|n| Reg::new(n).expect("0..=9"))
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        reg().prop_map(Operand::Reg),
        prop_oneof![-16i32..64, any::<i32>()].prop_map(Operand::Imm)
    ]
}

fn insn() -> impl Strategy<Value = Insn> {
    use AluOp as A;
    let alu_ops = prop::sample::select(vec![
        A::Add,
        A::Sub,
        A::Mul,
        A::Div,
        A::SDiv,
        A::Mod,
        A::SMod,
        A::Or,
        A::And,
        A::Lsh,
        A::Rsh,
        A::Xor,
        A::Mov,
        A::MovSx8,
        A::MovSx16,
        A::MovSx32,
        A::Arsh,
    ]);
    let jmp_ops = prop::sample::select(vec![
        JmpOp::Jeq,
        JmpOp::Jgt,
        JmpOp::Jge,
        JmpOp::Jset,
        JmpOp::Jne,
        JmpOp::Jsgt,
        JmpOp::Jsge,
        JmpOp::Jlt,
        JmpOp::Jle,
        JmpOp::Jslt,
        JmpOp::Jsle,
    ]);
    let width = prop_oneof![Just(Width::W32), Just(Width::W64)];
    let size = prop::sample::select(vec![Size::B, Size::H, Size::W, Size::DW]);
    let off = (-10i16..6).prop_map(|o| o * 4);
    prop_oneof![
        4 => (width.clone(), alu_ops, wreg(), operand())
            .prop_map(|(width, op, dst, src)| Insn::Alu { width, op, dst, src }),
        2 => (width.clone(), jmp_ops, reg(), operand(), -6i16..6)
            .prop_map(|(width, op, dst, src, off)| Insn::Jump { width, op, dst, src, off }),
        2 => (size.clone(), any::<bool>(), wreg(), reg(), off.clone())
            .prop_map(|(size, signed, dst, src, off)| Insn::Load { size, signed, dst, src, off }),
        2 => (size, reg(), off, operand())
            .prop_map(|(size, dst, off, src)| Insn::Store { size, dst, off, src }),
        1 => prop::sample::select(vec![1, 2, 3, 4, 5, 6, 7, 12, 16, 44, 130, 131, 132, 133])
            .prop_map(|id| Insn::Call(CallTarget::Helper(id))),
        1 => (wreg(), 0u64..3, prop_oneof![Just(LddwKind::Imm), Just(LddwKind::MapIdx), Just(LddwKind::MapIdxValue)])
            .prop_map(|(dst, imm, kind)| Insn::Lddw { dst, kind, imm }),
        1 => Just(Insn::Exit),
        1 => (wreg(),).prop_map(|(dst,)| Insn::Neg { width: Width::W64, dst }),
    ]
}

fn program() -> impl Strategy<Value = Vec<Insn>> {
    prop::collection::vec(insn(), 1..40).prop_filter_map("invalid program", |list| {
        let mut insns = Vec::new();
        for i in list {
            insns.push(i);
            if let Insn::Lddw { .. } = i {
                insns.push(Insn::LddwHigh);
            }
        }
        insns.push(Insn::Exit);
        let len = insns.len() as i64;
        for (pc, insn) in insns.iter_mut().enumerate() {
            if let Insn::Jump { off, .. } = insn {
                let t = (pc as i64 + 1 + i64::from(*off)).clamp(0, len - 1);
                *off = (t - pc as i64 - 1) as i16;
            }
        }
        validate(&insns).ok()?;
        Some(insns)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics(insns in program(), ty in 0usize..4, unpriv in any::<bool>()) {
        let prog_type = [ProgramType::Unspec, ProgramType::Xdp, ProgramType::SchedCls, ProgramType::Kprobe][ty];
        let maps = maps();
        let prog = Program { insns: &insns, prog_type, maps: &maps, line_info: &[], kfuncs: &[] };
        let opts = Options { complexity_limit: 20_000, log_level: 2, ..Options::with_privileges(!unpriv) };
        let _ = verify(&prog, &opts);
    }
}
