//! Property tests: encode/decode and assemble/disassemble are exact inverses on valid programs;
//! the decoder and assembler never panic on arbitrary input.

use proptest::prelude::*;
use proptest::sample::Index;
use waggle_isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpOp, LddwKind, Operand, PacketMode, Reg, Size,
    Syntax, Width, assemble, decode, disassemble, encode,
};

fn reg() -> impl Strategy<Value = Reg> {
    (0u8..=10).prop_map(|n| Reg::new(n).expect("0..=10 is a register"))
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![Just(Size::B), Just(Size::H), Just(Size::W), Just(Size::DW)]
}

/// Immediates biased towards the edges of the ranges the text syntax treats specially.
fn imm() -> impl Strategy<Value = i32> {
    prop_oneof![
        -12i32..=12,
        Just(i32::MIN),
        Just(i32::MAX),
        Just(-1),
        any::<i32>()
    ]
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![reg().prop_map(Operand::Reg), imm().prop_map(Operand::Imm)]
}

fn alu_op() -> impl Strategy<Value = AluOp> {
    use AluOp::*;
    proptest::sample::select(vec![
        Add, Sub, Mul, Div, SDiv, Or, And, Lsh, Rsh, Mod, SMod, Xor, Mov, Arsh,
    ])
}

fn jmp_op() -> impl Strategy<Value = JmpOp> {
    use JmpOp::*;
    proptest::sample::select(vec![
        Jeq, Jgt, Jge, Jset, Jne, Jsgt, Jsge, Jlt, Jle, Jslt, Jsle,
    ])
}

fn atomic_op() -> impl Strategy<Value = AtomicOp> {
    prop_oneof![
        any::<bool>().prop_map(|fetch| AtomicOp::Add { fetch }),
        any::<bool>().prop_map(|fetch| AtomicOp::Or { fetch }),
        any::<bool>().prop_map(|fetch| AtomicOp::And { fetch }),
        any::<bool>().prop_map(|fetch| AtomicOp::Xor { fetch }),
        Just(AtomicOp::Xchg),
        Just(AtomicOp::CmpXchg),
    ]
}

fn lddw_kind() -> impl Strategy<Value = LddwKind> {
    (0u8..=6).prop_map(|s| LddwKind::from_src(s).expect("0..=6 is a kind"))
}

/// Every instruction that is not a jump, with valid field combinations only.
fn straight() -> impl Strategy<Value = Insn> {
    let movsx = (reg(), reg()).prop_flat_map(|(dst, src)| {
        prop_oneof![
            (
                width(),
                prop_oneof![Just(AluOp::MovSx8), Just(AluOp::MovSx16)]
            )
                .prop_map(move |(width, op)| Insn::Alu {
                    width,
                    op,
                    dst,
                    src: Operand::Reg(src)
                }),
            Just(Insn::Alu {
                width: Width::W64,
                op: AluOp::MovSx32,
                dst,
                src: Operand::Reg(src)
            }),
        ]
    });
    prop_oneof![
        4 => (width(), alu_op(), reg(), operand())
            .prop_map(|(width, op, dst, src)| Insn::Alu { width, op, dst, src }),
        1 => movsx,
        1 => (width(), reg()).prop_map(|(width, dst)| Insn::Neg { width, dst }),
        1 => (
            prop_oneof![Just(ByteOrder::ToLe), Just(ByteOrder::ToBe), Just(ByteOrder::Swap)],
            prop_oneof![Just(16u8), Just(32), Just(64)],
            reg()
        )
            .prop_map(|(order, bits, dst)| Insn::Endian { order, bits, dst }),
        1 => (reg(), lddw_kind(), any::<u64>())
            .prop_map(|(dst, kind, imm)| Insn::Lddw { dst, kind, imm }),
        2 => (size(), any::<bool>(), reg(), reg(), any::<i16>()).prop_map(
            |(size, signed, dst, src, off)| Insn::Load {
                size,
                signed: signed && size != Size::DW,
                dst,
                src,
                off
            }
        ),
        2 => (size(), reg(), any::<i16>(), operand())
            .prop_map(|(size, dst, off, src)| Insn::Store { size, dst, off, src }),
        1 => (
            prop_oneof![Just(Size::W), Just(Size::DW)],
            atomic_op(),
            reg(),
            reg(),
            any::<i16>()
        )
            .prop_map(|(size, op, dst, src, off)| Insn::Atomic { size, op, dst, src, off }),
        1 => (
            prop_oneof![Just(Size::B), Just(Size::H), Just(Size::W)],
            prop_oneof![Just(PacketMode::Abs), reg().prop_map(PacketMode::Ind)],
            imm()
        )
            .prop_map(|(size, mode, imm)| Insn::LoadPacket { size, mode, imm }),
        1 => imm().prop_map(|id| Insn::Call(CallTarget::Helper(id))),
        1 => (imm(), prop_oneof![Just(0i16), any::<i16>()])
            .prop_map(|(btf_id, module)| Insn::Call(CallTarget::Kfunc { btf_id, module })),
        1 => reg().prop_map(|reg| Insn::Callx { reg }),
        1 => Just(Insn::Exit),
    ]
}

/// Jumps with a placeholder offset, filled in once the program's layout is known.
fn branch() -> impl Strategy<Value = Insn> {
    prop_oneof![
        any::<bool>().prop_map(|long| Insn::Ja { off: 0, long }),
        (width(), jmp_op(), reg(), operand()).prop_map(|(width, op, dst, src)| Insn::Jump {
            width,
            op,
            dst,
            src,
            off: 0
        }),
        Just(Insn::MayGoto { off: 0 }),
        Just(Insn::Call(CallTarget::Local(0))),
    ]
}

fn set_offset(insn: &mut Insn, off: i32) {
    match insn {
        Insn::Ja { off: o, .. } | Insn::Call(CallTarget::Local(o)) => *o = off,
        Insn::Jump { off: o, .. } | Insn::MayGoto { off: o } => {
            *o = i16::try_from(off).expect("programs are short")
        }
        _ => unreachable!("only jumps get offsets"),
    }
}

/// A valid program: every variant, `lddw` followed by its second slot, jumps landing on
/// instruction starts inside the program, `exit` last.
fn program() -> impl Strategy<Value = Vec<Insn>> {
    let item = prop_oneof![
        3 => straight().prop_map(|i| (i, None)),
        1 => (branch(), any::<Index>()).prop_map(|(i, t)| (i, Some(t))),
    ];
    prop::collection::vec(item, 0..48).prop_map(|items| {
        let mut slots = Vec::new();
        let mut branches = Vec::new();
        for (insn, target) in items {
            if let Some(t) = target {
                branches.push((slots.len(), t));
            }
            slots.push(insn);
            if let Insn::Lddw { .. } = insn {
                slots.push(Insn::LddwHigh);
            }
        }
        slots.push(Insn::Exit);
        let starts: Vec<usize> = (0..slots.len())
            .filter(|&i| slots[i] != Insn::LddwHigh)
            .collect();
        for (pc, t) in branches {
            let target = *t.get(&starts);
            set_offset(&mut slots[pc], target as i32 - pc as i32 - 1);
        }
        slots
    })
}

/// One decodable jump with any offset its encoding can hold.
fn wild_branch() -> impl Strategy<Value = Insn> {
    prop_oneof![
        any::<i16>().prop_map(|off| Insn::Ja {
            off: off.into(),
            long: false
        }),
        any::<i32>().prop_map(|off| Insn::Ja { off, long: true }),
        (width(), jmp_op(), reg(), operand(), any::<i16>()).prop_map(
            |(width, op, dst, src, off)| Insn::Jump {
                width,
                op,
                dst,
                src,
                off
            }
        ),
        any::<i16>().prop_map(|off| Insn::MayGoto { off }),
        any::<i32>().prop_map(|off| Insn::Call(CallTarget::Local(off))),
    ]
}

/// Raw slots that often decode: valid one-slot encodings, some with one byte changed, and
/// random slots whose fields are often zero.
fn plausible_slot() -> impl Strategy<Value = [u8; 8]> {
    let valid = prop_oneof![straight(), wild_branch()]
        .prop_filter("one slot", |i| !matches!(i, Insn::Lddw { .. }))
        .prop_map(|i| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&encode(&[i]));
            b
        });
    let mutated = (valid.clone(), 0usize..8, any::<u8>()).prop_map(|(mut b, at, v)| {
        b[at] = v;
        b
    });
    let maybe = |s: BoxedStrategy<u64>| prop_oneof![Just(0u64), s];
    let sparse = (
        any::<u8>(),
        prop_oneof![0u8..=0xaa, any::<u8>()],
        maybe(any::<u16>().prop_map(u64::from).boxed()),
        maybe(prop_oneof![0u64..=64, any::<u32>().prop_map(u64::from)].boxed()),
    )
        .prop_map(|(code, regs, off, imm)| {
            let mut b = [0u8; 8];
            b[0] = code;
            b[1] = regs;
            b[2..4].copy_from_slice(&(off as u16).to_le_bytes());
            b[4..].copy_from_slice(&(imm as u32).to_le_bytes());
            b
        });
    prop_oneof![valid, mutated, sparse]
}

/// Sixteen bytes: two plausible slots, or an `lddw` with perhaps one byte changed.
fn plausible_pair() -> impl Strategy<Value = Vec<u8>> {
    let lddw = (reg(), lddw_kind(), any::<u64>(), 0usize..24, any::<u8>()).prop_map(
        |(dst, kind, imm, at, v)| {
            let mut b = encode(&[Insn::Lddw { dst, kind, imm }, Insn::LddwHigh]);
            if let Some(byte) = b.get_mut(at) {
                *byte = v;
            }
            b
        },
    );
    let two = (plausible_slot(), plausible_slot()).prop_map(|(a, b)| [a, b].concat());
    prop_oneof![lddw, two]
}

/// Text mixing the assembler's vocabulary with junk.
fn asm_text() -> impl Strategy<Value = String> {
    let words = proptest::sample::select(vec![
        "mov",
        "mov32",
        "add",
        "sdiv32",
        "neg",
        "movsx832",
        "movsx3264",
        "le16",
        "be64",
        "swap32",
        "bswap16",
        "lddw",
        "map_fd",
        "ldxb",
        "ldxsw",
        "ldxdw",
        "stw",
        "stxdw",
        "lock",
        "fetch",
        "add32",
        "xchg",
        "cmpxchg32",
        "ja",
        "ja32",
        "jeq",
        "jsle32",
        "may_goto",
        "call",
        "local",
        "helper",
        "runtime",
        "callx",
        "exit",
        "ldabsh",
        "ldindw",
        "%r0",
        "%r1",
        "%r10",
        "%r11",
        "%r",
        "[",
        "]",
        "[%r1+4]",
        "[%r10-8]",
        "[%r2]",
        "+",
        "-",
        ",",
        ", ",
        " ",
        " ",
        "\n",
        "\n",
        "#",
        ":",
        "l:",
        "l",
        "exit:",
        "+1",
        "-1",
        "0x",
        "0xffffffff",
        "-0x80000000",
        "2147483648",
        "--",
        "\t",
    ]);
    let piece = prop_oneof![
        6 => words.prop_map(str::to_owned),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| format!("{n:#x}")),
        1 => "\\PC{0,4}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Lines that are each a plausible instruction, so that many texts do assemble.
fn asm_lines() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        (reg_text(), num_text()).prop_map(|(r, n)| format!("mov {r}, {n}")),
        (reg_text(), reg_text()).prop_map(|(a, b)| format!("add32 {a}, {b}")),
        (reg_text(), reg_text(), num_text()).prop_map(|(a, b, n)| format!("ldxh {a}, [{b}+{n}]")),
        (reg_text(), num_text()).prop_map(|(a, n)| format!("stdw [{a}-8], {n}")),
        (reg_text(), num_text()).prop_map(|(r, n)| format!("jne {r}, {n}, l")),
        (reg_text(), num_text()).prop_map(|(r, n)| format!("jge32 {r}, {n}, {n}")),
        num_text().prop_map(|n| format!("lddw %r1, {n}")),
        num_text().prop_map(|n| format!("call {n}")),
        Just("l:".to_owned()),
        Just("ja l".to_owned()),
        Just("ja32 exit".to_owned()),
        Just("call local l".to_owned()),
        Just("lock fetch or32 [%r10-4], %r2".to_owned()),
        Just("exit".to_owned()),
    ];
    prop::collection::vec(line, 1..12).prop_map(|v| v.join("\n"))
}

fn reg_text() -> impl Strategy<Value = String> {
    (0u8..=12).prop_map(|n| format!("%r{n}"))
}

fn num_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i32>().prop_map(|n| n.to_string()),
        any::<u32>().prop_map(|n| format!("{n:#x}")),
        any::<i64>().prop_map(|n| n.to_string()),
        (-3i32..=3).prop_map(|n| format!("{n:+}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_inverts_encode(p in program()) {
        prop_assert_eq!(decode(&encode(&p)), Ok(p));
    }

    #[test]
    fn conformance_text_reassembles(p in program()) {
        let text = disassemble(&p, Syntax::Conformance);
        prop_assert_eq!(assemble(&text), Ok(p), "{}", text);
    }

    #[test]
    fn generated_programs_validate_their_jumps(p in program()) {
        // Only r10 writes can make these programs invalid; everything structural is sound.
        match waggle_isa::validate(&p) {
            Ok(()) | Err(waggle_isa::ValidationError::WriteToR10 { .. }) => {}
            Err(e) => prop_assert!(false, "{e}"),
        }
        prop_assert!(!disassemble(&p, Syntax::Llvm).is_empty());
    }

    #[test]
    fn any_jump_offset_round_trips(insn in wild_branch()) {
        let p = vec![insn, Insn::Exit];
        prop_assert_eq!(decode(&encode(&p)), Ok(p.clone()));
        let text = disassemble(&p, Syntax::Conformance);
        prop_assert_eq!(assemble(&text), Ok(p), "{}", text);
    }

    #[test]
    fn decode_never_panics_and_reencodes(
        bytes in prop_oneof![any::<[u8; 8]>(), plausible_slot()]
    ) {
        if let Ok(insns) = decode(&bytes) {
            // Eight bytes can never hold an lddw, so this is always one plain slot.
            prop_assert_eq!(insns.len(), 1);
            prop_assert_eq!(encode(&insns), bytes.to_vec());
            let text = disassemble(&insns, Syntax::Conformance);
            prop_assert_eq!(assemble(&text), Ok(insns), "{}", text);
        }
    }

    #[test]
    fn decode_of_two_slots_reencodes(bytes in plausible_pair()) {
        if let Ok(insns) = decode(&bytes) {
            prop_assert_eq!(encode(&insns), bytes);
        }
    }

    #[test]
    fn assemble_never_panics(text in asm_text()) {
        if let Ok(p) = assemble(&text) {
            let again = disassemble(&p, Syntax::Conformance);
            prop_assert_eq!(assemble(&again), Ok(p), "{}", again);
        }
    }

    #[test]
    fn assembled_lines_round_trip(text in asm_lines()) {
        if let Ok(p) = assemble(&text) {
            prop_assert_eq!(decode(&encode(&p)), Ok(p.clone()));
            let again = disassemble(&p, Syntax::Conformance);
            prop_assert_eq!(assemble(&again), Ok(p), "{}", again);
        }
    }
}

#[test]
fn generators_reach_every_variant() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let p = program().new_tree(&mut runner).expect("tree").current();
        for insn in p {
            seen.insert(std::mem::discriminant(&insn));
        }
    }
    // Alu, Neg, Endian, Lddw, LddwHigh, Load, Store, Atomic, LoadPacket, Ja, Jump, Call,
    // Callx, Exit, MayGoto.
    assert_eq!(seen.len(), 15);
}

#[test]
fn assembled_line_texts_often_assemble() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let ok = (0..300)
        .filter(|_| assemble(&asm_lines().new_tree(&mut runner).expect("tree").current()).is_ok())
        .count();
    // The property above is only meaningful if a fair share of its inputs assemble.
    assert!(ok > 30, "only {ok} of 300 assembled");
}

#[test]
fn plausible_slots_often_decode() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let ok = (0..1000)
        .filter(|_| {
            decode(
                &plausible_slot()
                    .new_tree(&mut runner)
                    .expect("tree")
                    .current(),
            )
            .is_ok()
        })
        .count();
    println!("plausible slots decoded: {ok}/1000");
    // The decode properties are only meaningful if a fair share of their inputs decode.
    assert!(ok > 300, "only {ok} of 1000 decoded");
}
