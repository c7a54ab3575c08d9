//! Assembler for the text syntax of the BPF conformance suite (the part after `-- asm` in its
//! `.data` files).
//!
//! ```text
//! # r0 = sum of the bytes at [r1, r1 + 4)
//!     mov %r0, 0
//!     mov %r2, 4
//! loop:
//!     ldxb %r3, [%r1]
//!     add %r0, %r3          # comments may follow an instruction
//!     add %r1, 1
//!     sub %r2, 1
//!     jne %r2, 0, loop
//!     exit
//! ```
//!
//! Numbers follow the suite's rules: 32-bit immediates are decimal within `i32` or hex up to
//! `0xffffffff` (reinterpreted as `i32`); offsets are decimal within `i16` or hex up to `0xffff`.
//! Jump targets are labels or explicit `+N`/`-N` slot offsets; as in the suite's own assembler,
//! `exit` names the first `exit` instruction unless a label of that name exists.
//!
//! Extensions beyond the suite, so that every [`Insn`] has a spelling (see [`crate::disasm`]):
//! `ja32`, `may_goto`, `call %rN`/`callx %rN`, `call runtime N[, MODULE]` (kfunc),
//! `lddw map_fd %rN, IMM` (and the other `lddw` kinds), `ldabs{b,h,w} IMM`,
//! `ldind{b,h,w} %rS, IMM`, and `bswap16/32/64` as aliases of `swap16/32/64`.

use crate::insn::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpOp, LddwKind, Operand, PacketMode, Reg, Size,
    Width,
};
use std::collections::HashMap;

/// Why text could not be assembled, with the 1-based position of the offending token.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct AsmError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Assemble conformance-suite text into instruction slots (`lddw` followed by
/// [`Insn::LddwHigh`]); labels resolve to slot indices.
pub fn assemble(text: &str) -> Result<Vec<Insn>, AsmError> {
    let mut insns: Vec<Insn> = Vec::new();
    let mut labels: HashMap<&str, usize> = HashMap::new();
    let mut fixups: Vec<Fixup<'_>> = Vec::new();
    let mut first_exit: Option<usize> = None;

    for (idx, raw) in text.lines().enumerate() {
        let line = Line {
            no: idx + 1,
            text: raw,
        };
        let code = raw.find('#').map_or(raw, |i| &raw[..i]).trim();
        if code.is_empty() {
            continue;
        }
        if code.starts_with("--") {
            // Section headers of `.data` files: the caller must hand over the asm part only.
            return Err(line.err(code, "unexpected `--` section line: not assembler syntax"));
        }
        let mut rest = code;
        let (word, after) = first_word(rest);
        if let Some(name) = word.strip_suffix(':') {
            if !is_ident(name) {
                return Err(line.err(word, format!("invalid label name `{name}`")));
            }
            if labels.insert(name, insns.len()).is_some() {
                return Err(line.err(word, format!("duplicate label `{name}`")));
            }
            rest = after;
            if rest.is_empty() {
                continue;
            }
        }
        let (mnem, body) = first_word(rest);
        let parsed = parse_insn(&line, mnem, body)?;
        if parsed.insn == Insn::Exit && first_exit.is_none() {
            first_exit = Some(insns.len());
        }
        if let Some((label, wide)) = parsed.target {
            fixups.push(Fixup {
                slot: insns.len(),
                label,
                wide,
                line: line.no,
                column: line.column(label),
            });
        }
        insns.push(parsed.insn);
        if let Insn::Lddw { .. } = parsed.insn {
            insns.push(Insn::LddwHigh);
        }
    }

    if insns.is_empty() {
        return Err(AsmError {
            line: 1,
            column: 1,
            message: "no instructions".into(),
        });
    }

    for f in fixups {
        let target = match (labels.get(f.label), first_exit) {
            (Some(&t), _) => t,
            (None, Some(t)) if f.label == "exit" => t,
            _ => return Err(f.err(format!("undefined label `{}`", f.label))),
        };
        let off = target as i64 - f.slot as i64 - 1;
        let fits = if f.wide {
            i32::try_from(off).is_ok()
        } else {
            i16::try_from(off).is_ok()
        };
        if !fits {
            let bits = if f.wide { 32 } else { 16 };
            return Err(f.err(format!(
                "jump to `{}` is out of range: offset {off} does not fit in {bits} bits",
                f.label
            )));
        }
        set_offset(&mut insns[f.slot], off as i32);
    }
    Ok(insns)
}

/// Assemble conformance-suite text straight to little-endian bytecode (see [`assemble`]).
pub fn assemble_bytes(text: &str) -> Result<Vec<u8>, AsmError> {
    assemble(text).map(|insns| crate::encode(&insns))
}

/// One source line, for error positions.
struct Line<'a> {
    no: usize,
    text: &'a str,
}

impl Line<'_> {
    /// 1-based character column of `tok`, which must be a subslice of this line (else 1).
    fn column(&self, tok: &str) -> usize {
        let start = self.text.as_ptr() as usize;
        let at = (tok.as_ptr() as usize)
            .checked_sub(start)
            .filter(|&o| o <= self.text.len() && self.text.is_char_boundary(o))
            .unwrap_or(0);
        self.text[..at].chars().count() + 1
    }

    fn err(&self, tok: &str, message: impl Into<String>) -> AsmError {
        AsmError {
            line: self.no,
            column: self.column(tok),
            message: message.into(),
        }
    }
}

/// A jump whose offset waits for its label to be defined.
struct Fixup<'a> {
    slot: usize,
    label: &'a str,
    /// Whether the offset is 32-bit (`ja32`, `call local`) rather than 16-bit.
    wide: bool,
    line: usize,
    column: usize,
}

impl Fixup<'_> {
    fn err(&self, message: String) -> AsmError {
        AsmError {
            line: self.line,
            column: self.column,
            message,
        }
    }
}

fn set_offset(insn: &mut Insn, off: i32) {
    match insn {
        Insn::Ja { off: o, .. } | Insn::Call(CallTarget::Local(o)) => *o = off,
        Insn::Jump { off: o, .. } | Insn::MayGoto { off: o } => *o = off as i16,
        _ => {}
    }
}

/// An instruction, and the label its offset still refers to (with whether it is 32-bit).
struct Parsed<'a> {
    insn: Insn,
    target: Option<(&'a str, bool)>,
}

impl From<Insn> for Parsed<'_> {
    fn from(insn: Insn) -> Self {
        Parsed { insn, target: None }
    }
}

/// A jump destination as written.
enum Target<'a> {
    Off(i32),
    Label(&'a str),
}

/// Split off the first whitespace-delimited word; the rest is returned without leading space.
fn first_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, &s[s.len()..]),
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Split comma-separated operands, each trimmed; an empty operand is an error.
fn operands<'a>(line: &Line<'_>, body: &'a str) -> Result<Vec<&'a str>, AsmError> {
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    body.split(',')
        .map(|op| {
            let t = op.trim();
            if t.is_empty() {
                Err(line.err(op, "empty operand"))
            } else {
                Ok(t)
            }
        })
        .collect()
}

fn expect_count<'a>(
    line: &Line<'_>,
    mnem: &str,
    body: &'a str,
    n: usize,
) -> Result<Vec<&'a str>, AsmError> {
    let ops = operands(line, body)?;
    if ops.len() != n {
        return Err(line.err(
            mnem,
            format!(
                "invalid number of operands for {mnem}: expected {n}, found {}",
                ops.len()
            ),
        ));
    }
    Ok(ops)
}

const ALU_OPS: [(&str, AluOp); 14] = [
    ("add", AluOp::Add),
    ("sub", AluOp::Sub),
    ("mul", AluOp::Mul),
    ("div", AluOp::Div),
    ("sdiv", AluOp::SDiv),
    ("or", AluOp::Or),
    ("and", AluOp::And),
    ("lsh", AluOp::Lsh),
    ("rsh", AluOp::Rsh),
    ("mod", AluOp::Mod),
    ("smod", AluOp::SMod),
    ("xor", AluOp::Xor),
    ("mov", AluOp::Mov),
    ("arsh", AluOp::Arsh),
];

const JMP_OPS: [(&str, JmpOp); 11] = [
    ("jeq", JmpOp::Jeq),
    ("jgt", JmpOp::Jgt),
    ("jge", JmpOp::Jge),
    ("jset", JmpOp::Jset),
    ("jne", JmpOp::Jne),
    ("jsgt", JmpOp::Jsgt),
    ("jsge", JmpOp::Jsge),
    ("jlt", JmpOp::Jlt),
    ("jle", JmpOp::Jle),
    ("jslt", JmpOp::Jslt),
    ("jsle", JmpOp::Jsle),
];

/// `movsx` mnemonics: source bits then destination width.
const MOVSX: [(&str, AluOp, Width); 5] = [
    ("movsx864", AluOp::MovSx8, Width::W64),
    ("movsx1664", AluOp::MovSx16, Width::W64),
    ("movsx3264", AluOp::MovSx32, Width::W64),
    ("movsx832", AluOp::MovSx8, Width::W32),
    ("movsx1632", AluOp::MovSx16, Width::W32),
];

/// Keywords naming the non-constant `lddw` kinds (`lddw map_fd %r1, 3`).
pub(crate) const LDDW_KINDS: [(&str, LddwKind); 6] = [
    ("map_fd", LddwKind::MapFd),
    ("map_value", LddwKind::MapValue),
    ("btf_id", LddwKind::BtfId),
    ("func", LddwKind::Func),
    ("map_idx", LddwKind::MapIdx),
    ("map_idx_value", LddwKind::MapIdxValue),
];

/// A mnemonic without its `32` suffix, and the width that suffix selects.
fn split_width(m: &str) -> (&str, Width) {
    match m.strip_suffix("32") {
        Some(base) => (base, Width::W32),
        None => (m, Width::W64),
    }
}

fn size_suffix(s: &str) -> Option<Size> {
    Some(match s {
        "b" => Size::B,
        "h" => Size::H,
        "w" => Size::W,
        "dw" => Size::DW,
        _ => return None,
    })
}

fn parse_insn<'a>(line: &Line<'_>, mnem: &'a str, body: &'a str) -> Result<Parsed<'a>, AsmError> {
    let count = |n| expect_count(line, mnem, body, n);
    if mnem == "exit" {
        count(0)?;
        return Ok(Insn::Exit.into());
    }
    if matches!(mnem, "ja" | "ja32" | "may_goto") {
        let ops = count(1)?;
        let wide = mnem == "ja32";
        let target = parse_target(line, ops[0], wide)?;
        let insn = match (mnem, &target) {
            ("may_goto", Target::Off(o)) => Insn::MayGoto { off: *o as i16 },
            ("may_goto", _) => Insn::MayGoto { off: 0 },
            (_, Target::Off(o)) => Insn::Ja {
                off: *o,
                long: wide,
            },
            _ => Insn::Ja { off: 0, long: wide },
        };
        return Ok(with_target(insn, target, wide));
    }
    if mnem == "call" {
        return parse_call(line, mnem, body);
    }
    if mnem == "callx" {
        let ops = count(1)?;
        return Ok(Insn::Callx {
            reg: parse_reg(line, ops[0])?,
        }
        .into());
    }
    if mnem == "lddw" {
        let (word, rest) = first_word(body);
        let (kind, body) = match LDDW_KINDS.iter().find(|(k, _)| *k == word) {
            Some(&(_, kind)) => (kind, rest),
            None => (LddwKind::Imm, body),
        };
        let ops = expect_count(line, mnem, body, 2)?;
        let dst = parse_reg(line, ops[0])?;
        let imm = parse_imm64(line, ops[1])?;
        return Ok(Insn::Lddw { dst, kind, imm }.into());
    }
    if mnem == "lock" {
        return parse_lock(line, mnem, body);
    }
    if let Some(&(_, op, width)) = MOVSX.iter().find(|(m, _, _)| *m == mnem) {
        let ops = count(2)?;
        let dst = parse_reg(line, ops[0])?;
        if !ops[1].starts_with('%') {
            return Err(line.err(ops[1], format!("{mnem} needs a register source")));
        }
        let src = Operand::Reg(parse_reg(line, ops[1])?);
        return Ok(Insn::Alu {
            width,
            op,
            dst,
            src,
        }
        .into());
    }
    if let Some(order_bits) = endian(mnem) {
        let (order, bits) = order_bits;
        let ops = count(1)?;
        let dst = parse_reg(line, ops[0])?;
        return Ok(Insn::Endian { order, bits, dst }.into());
    }
    if let Some(size) = mnem.strip_prefix("ldxs").and_then(size_suffix) {
        if size != Size::DW {
            return parse_load(line, mnem, body, size, true);
        }
    } else if let Some(size) = mnem.strip_prefix("ldx").and_then(size_suffix) {
        return parse_load(line, mnem, body, size, false);
    }
    if let Some(size) = mnem.strip_prefix("stx").and_then(size_suffix) {
        let ops = count(2)?;
        let (dst, off) = parse_mem(line, ops[0])?;
        let src = Operand::Reg(parse_reg(line, ops[1])?);
        return Ok(Insn::Store {
            size,
            dst,
            off,
            src,
        }
        .into());
    }
    if let Some(size) = mnem.strip_prefix("st").and_then(size_suffix) {
        let ops = count(2)?;
        let (dst, off) = parse_mem(line, ops[0])?;
        let src = Operand::Imm(parse_imm32(line, ops[1])?);
        return Ok(Insn::Store {
            size,
            dst,
            off,
            src,
        }
        .into());
    }
    for (prefix, indirect) in [("ldabs", false), ("ldind", true)] {
        let Some(size) = mnem.strip_prefix(prefix).and_then(size_suffix) else {
            continue;
        };
        if size == Size::DW {
            break;
        }
        let ops = count(if indirect { 2 } else { 1 })?;
        let mode = if indirect {
            PacketMode::Ind(parse_reg(line, ops[0])?)
        } else {
            PacketMode::Abs
        };
        let imm = parse_imm32(line, ops[ops.len() - 1])?;
        return Ok(Insn::LoadPacket { size, mode, imm }.into());
    }
    let (base, width) = split_width(mnem);
    if base == "neg" {
        let ops = count(1)?;
        let dst = parse_reg(line, ops[0])?;
        return Ok(Insn::Neg { width, dst }.into());
    }
    if let Some(&(_, op)) = ALU_OPS.iter().find(|(m, _)| *m == base) {
        let ops = count(2)?;
        let dst = parse_reg(line, ops[0])?;
        let src = parse_operand(line, ops[1])?;
        return Ok(Insn::Alu {
            width,
            op,
            dst,
            src,
        }
        .into());
    }
    if let Some(&(_, op)) = JMP_OPS.iter().find(|(m, _)| *m == base) {
        let ops = count(3)?;
        let dst = parse_reg(line, ops[0])?;
        let src = parse_operand(line, ops[1])?;
        let target = parse_target(line, ops[2], false)?;
        let off = match target {
            Target::Off(o) => o as i16,
            Target::Label(_) => 0,
        };
        let insn = Insn::Jump {
            width,
            op,
            dst,
            src,
            off,
        };
        return Ok(with_target(insn, target, false));
    }
    Err(line.err(mnem, format!("invalid mnemonic `{mnem}`")))
}

fn with_target<'a>(insn: Insn, target: Target<'a>, wide: bool) -> Parsed<'a> {
    Parsed {
        insn,
        target: match target {
            Target::Label(l) => Some((l, wide)),
            Target::Off(_) => None,
        },
    }
}

fn endian(m: &str) -> Option<(ByteOrder, u8)> {
    let (order, bits) = if let Some(b) = m.strip_prefix("le") {
        (ByteOrder::ToLe, b)
    } else if let Some(b) = m.strip_prefix("be") {
        (ByteOrder::ToBe, b)
    } else if let Some(b) = m.strip_prefix("swap").or_else(|| m.strip_prefix("bswap")) {
        (ByteOrder::Swap, b)
    } else {
        return None;
    };
    let bits = match bits {
        "16" => 16,
        "32" => 32,
        "64" => 64,
        _ => return None,
    };
    Some((order, bits))
}

fn parse_load<'a>(
    line: &Line<'_>,
    mnem: &str,
    body: &'a str,
    size: Size,
    signed: bool,
) -> Result<Parsed<'a>, AsmError> {
    let ops = expect_count(line, mnem, body, 2)?;
    let dst = parse_reg(line, ops[0])?;
    let (src, off) = parse_mem(line, ops[1])?;
    Ok(Insn::Load {
        size,
        signed,
        dst,
        src,
        off,
    }
    .into())
}

/// `call N`, `call helper N`, `call local TARGET`, `call runtime N[, MODULE]`, `call %rN`.
fn parse_call<'a>(line: &Line<'_>, mnem: &str, body: &'a str) -> Result<Parsed<'a>, AsmError> {
    let (mode, rest) = first_word(body);
    match mode {
        "local" => {
            let ops = expect_count(line, "call local", rest, 1)?;
            let target = parse_target(line, ops[0], true)?;
            let off = match target {
                Target::Off(o) => o,
                Target::Label(_) => 0,
            };
            Ok(with_target(
                Insn::Call(CallTarget::Local(off)),
                target,
                true,
            ))
        }
        "runtime" | "kfunc" => {
            let ops = operands(line, rest)?;
            if !matches!(ops.len(), 1 | 2) {
                return Err(line.err(
                    mnem,
                    format!(
                        "invalid number of operands for call {mode}: expected 1 or 2, found {}",
                        ops.len()
                    ),
                ));
            }
            let btf_id = parse_imm32(line, ops[0])?;
            let module = match ops.get(1) {
                Some(m) => parse_off16(line, m)?,
                None => 0,
            };
            Ok(Insn::Call(CallTarget::Kfunc { btf_id, module }).into())
        }
        _ => {
            let body = if mode == "helper" { rest } else { body };
            let ops = expect_count(line, mnem, body, 1)?;
            if ops[0].starts_with('%') {
                return Ok(Insn::Callx {
                    reg: parse_reg(line, ops[0])?,
                }
                .into());
            }
            Ok(Insn::Call(CallTarget::Helper(parse_imm32(line, ops[0])?)).into())
        }
    }
}

/// `lock [fetch] OP[32] [%rD+OFF], %rS` with OP one of add, or, and, xor, xchg, cmpxchg.
fn parse_lock<'a>(line: &Line<'_>, mnem: &str, body: &'a str) -> Result<Parsed<'a>, AsmError> {
    let count_err = || line.err(mnem, "invalid number of operands for lock");
    let (mut word, mut rest) = first_word(body);
    let fetch = word == "fetch";
    if fetch {
        (word, rest) = first_word(rest);
    }
    if word.is_empty() {
        return Err(count_err());
    }
    let (base, width) = split_width(word);
    let op = match base {
        "add" => AtomicOp::Add { fetch },
        "or" => AtomicOp::Or { fetch },
        "and" => AtomicOp::And { fetch },
        "xor" => AtomicOp::Xor { fetch },
        "xchg" if !fetch => AtomicOp::Xchg,
        "cmpxchg" if !fetch => AtomicOp::CmpXchg,
        "xchg" | "cmpxchg" => {
            return Err(line.err(word, format!("`{base}` always fetches: drop `fetch`")));
        }
        _ => return Err(line.err(word, format!("invalid atomic operation `{word}`"))),
    };
    let ops = operands(line, rest)?;
    if ops.len() != 2 {
        return Err(count_err());
    }
    let (dst, off) = parse_mem(line, ops[0])?;
    let src = parse_reg(line, ops[1])?;
    let size = match width {
        Width::W32 => Size::W,
        Width::W64 => Size::DW,
    };
    Ok(Insn::Atomic {
        size,
        op,
        dst,
        src,
        off,
    }
    .into())
}

fn parse_reg(line: &Line<'_>, tok: &str) -> Result<Reg, AsmError> {
    let bad = || line.err(tok, format!("invalid register `{tok}`"));
    let digits = tok.strip_prefix("%r").ok_or_else(bad)?;
    // Canonical spelling only: no sign, no leading zeros.
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
        || digits.len() > 2
    {
        return Err(bad());
    }
    digits.parse::<u8>().ok().and_then(Reg::new).ok_or_else(bad)
}

fn parse_operand(line: &Line<'_>, tok: &str) -> Result<Operand, AsmError> {
    if tok.starts_with('%') {
        parse_reg(line, tok).map(Operand::Reg)
    } else {
        parse_imm32(line, tok).map(Operand::Imm)
    }
}

/// `[%rN]`, `[%rN+OFF]` or `[%rN-OFF]`.
fn parse_mem(line: &Line<'_>, tok: &str) -> Result<(Reg, i16), AsmError> {
    let inner = tok
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| {
            line.err(
                tok,
                format!("expected a memory operand like [%r1+8], found `{tok}`"),
            )
        })?;
    let inner = inner.trim();
    let Some(at) = inner.find(['+', '-']) else {
        return Ok((parse_reg(line, inner)?, 0));
    };
    let reg = parse_reg(line, inner[..at].trim_end())?;
    let (sign, num) = inner[at..].split_at(1);
    let num = num.trim_start();
    let off = range_check(line, num, sign == "-", num, Range::Off16)?;
    Ok((reg, off as i16))
}

/// Value ranges of the numeric operands.
#[derive(Clone, Copy, PartialEq)]
enum Range {
    /// 32-bit immediate: decimal `i32`, hex up to `0xffffffff` reinterpreted.
    Imm32,
    /// 16-bit offset: decimal `i16`, hex up to `0xffff` reinterpreted.
    Off16,
    /// `lddw` immediate: anything from `-2^63` to `2^64 - 1`.
    Imm64,
    /// Relative jump offsets: exactly `i16`.
    Jump16,
    /// Relative jump offsets of `ja32` and `call local`: exactly `i32`.
    Jump32,
}

/// Parse an unsigned decimal or `0x` hex magnitude; `None` if malformed, `Some(None)` if it
/// overflows 64 bits.
fn parse_magnitude(s: &str) -> Option<(Option<u64>, bool)> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some((u64::from_str_radix(digits, radix).ok(), radix == 16))
}

/// Parse a magnitude with its sign and check it against `range`; returns the value's bits
/// sign-extended into an `i128` (e.g. `0xffffffff` as an `Imm32` gives -1).
fn range_check(
    line: &Line<'_>,
    tok: &str,
    negative: bool,
    digits: &str,
    range: Range,
) -> Result<i128, AsmError> {
    let what = match range {
        Range::Imm32 => "immediate",
        Range::Off16 => "offset",
        Range::Imm64 => "64-bit immediate",
        Range::Jump16 | Range::Jump32 => "jump offset",
    };
    let (mag, hex) =
        parse_magnitude(digits).ok_or_else(|| line.err(tok, format!("invalid {what} `{tok}`")))?;
    let out = || line.err(tok, format!("{what} `{tok}` is out of range"));
    let mag = i128::from(mag.ok_or_else(out)?);
    let value = if negative { -mag } else { mag };
    // Hex spellings may name the unsigned bit pattern; decimals must fit the signed type.
    let (min, max_dec, max_hex, bits) = match range {
        Range::Imm32 => (i32::MIN.into(), i32::MAX.into(), u32::MAX.into(), 32),
        Range::Off16 => (i16::MIN.into(), i16::MAX.into(), u16::MAX.into(), 16),
        Range::Imm64 => (i64::MIN.into(), u64::MAX.into(), u64::MAX.into(), 64),
        Range::Jump16 => (i16::MIN.into(), i16::MAX.into(), i16::MAX.into(), 16),
        Range::Jump32 => (i32::MIN.into(), i32::MAX.into(), i32::MAX.into(), 32),
    };
    let max: i128 = if hex { max_hex } else { max_dec };
    if value < min || value > max {
        return Err(out());
    }
    // Reinterpret an unsigned pattern (e.g. 0xffffffff) as the signed value of `bits` bits.
    let shift = 128 - bits;
    Ok((value << shift) >> shift)
}

fn parse_number(line: &Line<'_>, tok: &str, range: Range) -> Result<i128, AsmError> {
    let (negative, digits) = match tok.as_bytes().first() {
        Some(b'-') => (true, &tok[1..]),
        Some(b'+') => (false, &tok[1..]),
        _ => (false, tok),
    };
    range_check(line, tok, negative, digits, range)
}

fn parse_imm32(line: &Line<'_>, tok: &str) -> Result<i32, AsmError> {
    parse_number(line, tok, Range::Imm32).map(|v| v as i32)
}

fn parse_off16(line: &Line<'_>, tok: &str) -> Result<i16, AsmError> {
    parse_number(line, tok, Range::Off16).map(|v| v as i16)
}

fn parse_imm64(line: &Line<'_>, tok: &str) -> Result<u64, AsmError> {
    parse_number(line, tok, Range::Imm64).map(|v| v as i64 as u64)
}

/// A label, or an explicit `+N`/`-N` offset in slots.
fn parse_target<'a>(line: &Line<'_>, tok: &'a str, wide: bool) -> Result<Target<'a>, AsmError> {
    if tok.starts_with(['+', '-']) {
        let range = if wide { Range::Jump32 } else { Range::Jump16 };
        return parse_number(line, tok, range).map(|v| Target::Off(v as i32));
    }
    if is_ident(tok) {
        return Ok(Target::Label(tok));
    }
    Err(line.err(
        tok,
        format!("expected a label or a relative offset +N/-N, found `{tok}`"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Insn {
        let p = assemble(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        p[0]
    }

    fn refuse(text: &str) -> AsmError {
        assemble(text).expect_err(text)
    }

    const R0: Reg = Reg::R0;
    const R1: Reg = Reg::R1;
    const R10: Reg = Reg::R10;

    #[test]
    fn alu_forms() {
        assert_eq!(
            one("add32 %r0, %r1"),
            Insn::Alu {
                width: Width::W32,
                op: AluOp::Add,
                dst: R0,
                src: Operand::Reg(R1)
            }
        );
        assert_eq!(
            one("mov %r0, -1"),
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: R0,
                src: Operand::Imm(-1)
            }
        );
        assert_eq!(
            one("mov32 %r0, 0xffffffff"),
            Insn::Alu {
                width: Width::W32,
                op: AluOp::Mov,
                dst: R0,
                src: Operand::Imm(-1)
            }
        );
        assert_eq!(
            one("sdiv32 %r0, +5"),
            Insn::Alu {
                width: Width::W32,
                op: AluOp::SDiv,
                dst: R0,
                src: Operand::Imm(5)
            }
        );
        assert_eq!(
            one("movsx3264 %r0, %r1"),
            Insn::Alu {
                width: Width::W64,
                op: AluOp::MovSx32,
                dst: R0,
                src: Operand::Reg(R1)
            }
        );
        assert_eq!(
            one("neg32 %r1"),
            Insn::Neg {
                width: Width::W32,
                dst: R1
            }
        );
        assert_eq!(
            one("bswap16 %r0"),
            Insn::Endian {
                order: ByteOrder::Swap,
                bits: 16,
                dst: R0
            }
        );
        assert_eq!(
            one("be64 %r0"),
            Insn::Endian {
                order: ByteOrder::ToBe,
                bits: 64,
                dst: R0
            }
        );
    }

    #[test]
    fn immediate_ranges() {
        assert_eq!(one("mov32 %r0, -2147483648"), one("mov32 %r0, 0x80000000"));
        assert_eq!(one("mov32 %r0, -0x80000000"), one("mov32 %r0, 0x80000000"));
        assert_eq!(one("mov %r0, 0XABCDEF"), one("mov %r0, 0xabcdef"));
        for bad in [
            "mov32 %r0, 2147483648",
            "mov32 %r0, 0x100000000",
            "mov32 %r0, -2147483649",
            "mov32 %r0, -0x80000001",
            "mov %r0, 99999999999999999999999",
            "mov %r0, 1_000",
            "mov %r0, 0x",
            "mov %r0, --1",
            "ldxb %r0, [%r1+0x10000]",
            "ldxb %r0, [%r1+32768]",
            "ldxb %r0, [%r1-32769]",
        ] {
            let e = refuse(bad);
            assert!(
                e.message.contains("range") || e.message.contains("invalid"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            one("lddw %r0, -1"),
            Insn::Lddw {
                dst: R0,
                kind: LddwKind::Imm,
                imm: u64::MAX
            }
        );
        assert_eq!(one("lddw %r0, 18446744073709551615"), one("lddw %r0, -1"));
        assert!(assemble("lddw %r0, 18446744073709551616").is_err());
        assert!(assemble("lddw %r0, 0x10000000000000000").is_err());
    }

    #[test]
    fn memory_operands() {
        let load = |off| Insn::Load {
            size: Size::B,
            signed: false,
            dst: R0,
            src: R1,
            off,
        };
        assert_eq!(one("ldxb %r0, [%r1]"), load(0));
        assert_eq!(one("ldxb %r0, [%r1+4]"), load(4));
        assert_eq!(one("ldxb %r0, [ %r1 - 0x10 ]"), load(-16));
        assert_eq!(one("ldxb %r0, [%r1+0xffff]"), load(-1));
        assert_eq!(one("ldxb %r0, [%r1-32768]"), load(i16::MIN));
        assert_eq!(
            one("ldxsh %r0, [%r10-2]"),
            Insn::Load {
                size: Size::H,
                signed: true,
                dst: R0,
                src: R10,
                off: -2
            }
        );
        assert_eq!(
            one("stdw [%r10-8], 0x11223344"),
            Insn::Store {
                size: Size::DW,
                dst: R10,
                off: -8,
                src: Operand::Imm(0x11223344)
            }
        );
        assert_eq!(
            one("stxh [%r10], %r1"),
            Insn::Store {
                size: Size::H,
                dst: R10,
                off: 0,
                src: Operand::Reg(R1)
            }
        );
        let e = refuse("ldxb %r0, %r1");
        assert!(e.message.contains("memory operand"), "{e}");
        assert!(assemble("ldxsdw %r0, [%r1]").is_err());
        assert!(assemble("stw [%r1], %r2").is_err());
    }

    #[test]
    fn atomics() {
        let at = |size, op| Insn::Atomic {
            size,
            op,
            dst: R10,
            src: R1,
            off: -8,
        };
        assert_eq!(
            one("lock add [%r10-8], %r1"),
            at(Size::DW, AtomicOp::Add { fetch: false })
        );
        assert_eq!(
            one("lock fetch xor32 [%r10-8], %r1"),
            at(Size::W, AtomicOp::Xor { fetch: true })
        );
        assert_eq!(
            one("lock xchg32 [%r10-8], %r1"),
            at(Size::W, AtomicOp::Xchg)
        );
        assert_eq!(
            one("lock cmpxchg [%r10-8], %r1"),
            at(Size::DW, AtomicOp::CmpXchg)
        );
        for bad in [
            "lock",
            "lock or [%r10-8]",
            "lock fetch",
            "lock add [%r10-8], %r1, %r2",
        ] {
            assert!(
                refuse(bad)
                    .message
                    .contains("invalid number of operands for lock")
            );
        }
        assert!(assemble("lock sub [%r10-8], %r1").is_err());
        assert!(assemble("lock fetch xchg [%r10-8], %r1").is_err());
    }

    #[test]
    fn jumps_and_labels() {
        let p = assemble("start:\nja end\njeq32 %r1, 5, start\nend: exit\n").unwrap();
        assert_eq!(
            p,
            vec![
                Insn::Ja {
                    off: 1,
                    long: false
                },
                Insn::Jump {
                    width: Width::W32,
                    op: JmpOp::Jeq,
                    dst: R1,
                    src: Operand::Imm(5),
                    off: -2
                },
                Insn::Exit,
            ]
        );
        assert_eq!(
            one("ja32 -1\nexit"),
            Insn::Ja {
                off: -1,
                long: true
            }
        );
        assert_eq!(one("may_goto +3"), Insn::MayGoto { off: 3 });
        assert_eq!(
            one("ja +0x10"),
            Insn::Ja {
                off: 16,
                long: false
            }
        );
        // `exit` names the first exit when no such label exists.
        let p = assemble("jne %r0, 0, exit\nmov %r0, 1\nexit\nexit").unwrap();
        assert_eq!(
            p[0],
            Insn::Jump {
                width: Width::W64,
                op: JmpOp::Jne,
                dst: R0,
                src: Operand::Imm(0),
                off: 1
            }
        );
        // Labels count slots, so lddw counts twice.
        let p = assemble("ja l\nlddw %r0, 1\nl:\nexit").unwrap();
        assert_eq!(
            p[0],
            Insn::Ja {
                off: 2,
                long: false
            }
        );
        assert_eq!(p[2], Insn::LddwHigh);
        assert!(refuse("ja +32768\nexit").message.contains("range"));
        assert!(assemble("ja -32768\nexit").is_ok());
        assert!(
            refuse("ja nowhere\nexit")
                .message
                .contains("undefined label")
        );
        assert!(refuse("a:\na:\nexit").message.contains("duplicate label"));
        assert!(assemble("ja 5\nexit").is_err());
        let far = format!("ja far\n{}far: exit\n", "mov %r0, 0\n".repeat(40_000));
        assert!(refuse(&far).message.contains("16 bits"));
        let far32 = far.replacen("ja far", "ja32 far", 1);
        assert_eq!(
            one(&far32),
            Insn::Ja {
                off: 40_000,
                long: true
            }
        );
    }

    #[test]
    fn calls() {
        assert_eq!(one("call 5"), Insn::Call(CallTarget::Helper(5)));
        assert_eq!(one("call helper 0x10"), Insn::Call(CallTarget::Helper(16)));
        assert_eq!(one("call %r2"), Insn::Callx { reg: Reg::R2 });
        assert_eq!(one("callx %r3"), Insn::Callx { reg: Reg::R3 });
        assert_eq!(one("call helper %r3"), Insn::Callx { reg: Reg::R3 });
        assert_eq!(
            one("call runtime 7"),
            Insn::Call(CallTarget::Kfunc {
                btf_id: 7,
                module: 0
            })
        );
        assert_eq!(
            one("call kfunc 7, 2"),
            Insn::Call(CallTarget::Kfunc {
                btf_id: 7,
                module: 2
            })
        );
        let p = assemble("call local f\nexit\nf:\nexit").unwrap();
        assert_eq!(p[0], Insn::Call(CallTarget::Local(1)));
        assert_eq!(one("call local -1"), Insn::Call(CallTarget::Local(-1)));
        assert!(assemble("call").is_err());
        assert!(assemble("call local").is_err());
        assert!(assemble("call foo").is_err());
    }

    #[test]
    fn lddw_and_packets() {
        let p = assemble("lddw %r1, 0x1122334455667788\nexit").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0],
            Insn::Lddw {
                dst: R1,
                kind: LddwKind::Imm,
                imm: 0x1122334455667788
            }
        );
        assert_eq!(
            one("lddw map_idx_value %r1, 3"),
            Insn::Lddw {
                dst: R1,
                kind: LddwKind::MapIdxValue,
                imm: 3
            }
        );
        assert_eq!(
            one("ldabsh 0x10"),
            Insn::LoadPacket {
                size: Size::H,
                mode: PacketMode::Abs,
                imm: 16
            }
        );
        assert_eq!(
            one("ldindw %r1, -4"),
            Insn::LoadPacket {
                size: Size::W,
                mode: PacketMode::Ind(R1),
                imm: -4
            }
        );
        assert!(assemble("ldabsdw 0").is_err());
        assert!(
            refuse("lddw %r0")
                .message
                .contains("invalid number of operands")
        );
    }

    #[test]
    fn errors_carry_positions() {
        let e = refuse("mov %r0, 1\n  or %r0, %r50\nexit");
        assert_eq!((e.line, e.column), (2, 11));
        assert_eq!(e.to_string(), "line 2, column 11: invalid register `%r50`");
        let e = refuse("# c\nldxq %r0, %r1");
        assert_eq!((e.line, e.column), (2, 1));
        assert!(e.message.contains("invalid mnemonic"));
        let e = refuse("-- Unknown directive");
        assert_eq!(e.line, 1);
        let e = refuse("# only a comment\n\n");
        assert_eq!(e.message, "no instructions");
        assert!(refuse("").message.contains("no instructions"));
        for bad in [
            "mov %r11, 1",
            "mov r1, 1",
            "mov %r01, 1",
            "mov %r-1, 1",
            "mov %R1, 1",
        ] {
            assert!(refuse(bad).message.contains("invalid register"), "{bad}");
        }
        assert!(refuse("mov %r0,, 1").message.contains("empty operand"));
        assert!(refuse("1x: exit").message.contains("label"));
    }

    #[test]
    fn comments_and_labels_on_the_same_line() {
        let p = assemble("l: mov %r0, 1 # trailing\n\t# indented comment\nja l # back\n").unwrap();
        assert_eq!(
            p[1],
            Insn::Ja {
                off: -2,
                long: false
            }
        );
    }
}
