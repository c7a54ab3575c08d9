//! Denser forms of common templates: `mov`+`add` pairs as one `lea`, short backward jumps,
//! and loads and stores with the shortest addressing form (dynasm encodes a register chosen
//! at run time with the longest one: a SIB byte and a 32-bit displacement, even for `[reg]`).

use super::{Emitter, Insn};
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, dynasm};
use waggle_isa::{AluOp, Operand, Size, Width};

/// x86 condition codes (the low nibble of `jcc`).
pub(super) mod cc {
    pub(crate) const B: u8 = 0x2;
    pub(crate) const AE: u8 = 0x3;
    pub(crate) const E: u8 = 0x4;
    pub(crate) const NE: u8 = 0x5;
    pub(crate) const BE: u8 = 0x6;
    pub(crate) const A: u8 = 0x7;
    pub(crate) const L: u8 = 0xc;
    pub(crate) const GE: u8 = 0xd;
    pub(crate) const LE: u8 = 0xe;
    pub(crate) const G: u8 = 0xf;
}

/// `modrm_mem` flags: a `66` operand-size prefix.
const P66: u8 = 1;
/// `modrm_mem` flags: REX.W (64-bit operand).
const W: u8 = 2;
/// `modrm_mem` flags: a REX prefix even if no bit is set (byte registers spl..dil).
const REX: u8 = 4;

/// `jmp`, in the place of a condition code.
pub(super) const ALWAYS: u8 = 0x10;

impl Emitter {
    /// `mov a, b` followed by `add a, c` / `add a, imm` / `sub a, imm` (same width, the second
    /// not a jump target) as one `lea a, [b + c]` / `lea a, [b + imm]`: one instruction, no
    /// dependency on `a`. Emits both slots and returns true, or emits nothing and returns
    /// false. Not with blinding (the immediate would appear in the code).
    pub(super) fn lea_pair(&mut self, pc: usize, insns: &[Insn]) -> bool {
        if self.blind.is_some() {
            return false;
        }
        let (
            Some(&Insn::Alu {
                width,
                op: AluOp::Mov,
                dst: a,
                src: Operand::Reg(b),
            }),
            Some(&Insn::Alu {
                width: width2,
                op,
                dst: a2,
                src,
            }),
        ) = (insns.get(pc), insns.get(pc + 1))
        else {
            return false;
        };
        if a == b || a2 != a || width2 != width || self.targets.get(pc + 1) != Some(&false) {
            return false;
        }
        let w64 = width == Width::W64;
        let (a, b) = (super::x86(a), super::x86(b));
        // `add a, a` after `mov a, b` adds b to itself.
        let index = |c| if c == a { b } else { c };
        let first = insns[pc];
        match (op, src) {
            (AluOp::Add, Operand::Reg(c)) => {
                let c = index(super::x86(c));
                self.header(pc, first);
                match w64 {
                    true => asm!(self.ops ; lea Rq(a), [Rq(b) + Rq(c)]),
                    false => asm!(self.ops ; lea Rd(a), [Rq(b) + Rq(c)]),
                }
            }
            (AluOp::Add, Operand::Imm(i)) | (AluOp::Sub, Operand::Imm(i)) => {
                let Some(d) = (if op == AluOp::Add {
                    Some(i)
                } else {
                    i.checked_neg()
                }) else {
                    return false;
                };
                self.header(pc, first);
                match w64 {
                    true => asm!(self.ops ; lea Rq(a), [Rq(b) + d]),
                    false => asm!(self.ops ; lea Rd(a), [Rq(b) + d]),
                }
            }
            _ => return false,
        }
        // The second slot starts (and is) where the next code starts; `lea` sets no flags.
        self.header(pc + 1, insns[pc + 1]);
        true
    }

    /// A conditional (or, with [`ALWAYS`], unconditional) jump to slot `slot` at `t`: the
    /// 2-byte form when the target is already emitted and within reach, else the 32-bit one.
    pub(super) fn jcc(&mut self, cond: u8, t: DynamicLabel, slot: Option<usize>, pc: usize) {
        if let Some(s) = slot
            && s <= pc
        {
            let here = self.ops.offset().0 as i64;
            let rel = i64::from(self.offsets[s]) - (here + 2);
            if let Ok(rel) = i8::try_from(rel) {
                let op = if cond == ALWAYS { 0xeb } else { 0x70 | cond };
                self.ops.extend([op, rel as u8]);
                return;
            }
        }
        match cond {
            ALWAYS => asm!(self.ops ; jmp =>t),
            cc::B => asm!(self.ops ; jb =>t),
            cc::AE => asm!(self.ops ; jae =>t),
            cc::E => asm!(self.ops ; je =>t),
            cc::NE => asm!(self.ops ; jne =>t),
            cc::BE => asm!(self.ops ; jbe =>t),
            cc::A => asm!(self.ops ; ja =>t),
            cc::L => asm!(self.ops ; jl =>t),
            cc::GE => asm!(self.ops ; jge =>t),
            cc::LE => asm!(self.ops ; jle =>t),
            _ => asm!(self.ops ; jg =>t),
        }
    }

    /// `op reg, [base + disp]` (or `op [base + disp], reg`) with the shortest encoding:
    /// optional `66` prefix, REX when needed (`force_rex` for byte registers spl..dil), the
    /// opcode bytes, ModRM with no, an 8-bit or a 32-bit displacement, SIB for rsp/r12.
    fn modrm_mem(&mut self, flags: u8, opcode: &[u8], reg: u8, base: u8, disp: i32) {
        let (p66, w, force_rex) = (flags & P66 != 0, flags & W != 0, flags & REX != 0);
        let mut buf = [0u8; 16];
        let mut n = 0;
        let mut push = |b: u8| {
            buf[n] = b;
            n += 1;
        };
        if p66 {
            push(0x66);
        }
        let rex = 0x40 | (u8::from(w) << 3) | ((reg >> 3) << 2) | (base >> 3);
        if rex != 0x40 || force_rex {
            push(rex);
        }
        for &b in opcode {
            push(b);
        }
        let (md, disp_len) = if disp == 0 && base & 7 != 5 {
            (0u8, 0)
        } else if i8::try_from(disp).is_ok() {
            (1, 1)
        } else {
            (2, 4)
        };
        push((md << 6) | ((reg & 7) << 3) | (base & 7));
        if base & 7 == 4 {
            push(0x24);
        }
        for &b in &disp.to_le_bytes()[..disp_len] {
            push(b);
        }
        self.ops.extend(buf[..n].iter().copied());
    }

    /// A load into `d` from `[base + disp]` (zero- or sign-extending as BPF says).
    pub(super) fn load_short(&mut self, size: Size, signed: bool, d: u8, base: u8, disp: i32) {
        match (size, signed) {
            (Size::B, false) => self.modrm_mem(0, &[0x0f, 0xb6], d, base, disp),
            (Size::H, false) => self.modrm_mem(0, &[0x0f, 0xb7], d, base, disp),
            (Size::W, false) => self.modrm_mem(0, &[0x8b], d, base, disp),
            (Size::DW, _) => self.modrm_mem(W, &[0x8b], d, base, disp),
            (Size::B, true) => self.modrm_mem(W, &[0x0f, 0xbe], d, base, disp),
            (Size::H, true) => self.modrm_mem(W, &[0x0f, 0xbf], d, base, disp),
            (Size::W, true) => self.modrm_mem(W, &[0x63], d, base, disp),
        }
    }

    /// A store of register `s` to `[base + disp]`.
    pub(super) fn store_short(&mut self, size: Size, s: u8, base: u8, disp: i32) {
        match size {
            // spl, bpl, sil and dil need a REX prefix (without one they are ah..bh).
            Size::B => self.modrm_mem(
                if (4..8).contains(&s) { REX } else { 0 },
                &[0x88],
                s,
                base,
                disp,
            ),
            Size::H => self.modrm_mem(P66, &[0x89], s, base, disp),
            Size::W => self.modrm_mem(0, &[0x89], s, base, disp),
            Size::DW => self.modrm_mem(W, &[0x89], s, base, disp),
        }
    }

    /// A store of immediate `i` (truncated to the size) to `[base + disp]`.
    pub(super) fn store_imm_short(&mut self, size: Size, i: i32, base: u8, disp: i32) {
        match size {
            Size::B => {
                self.modrm_mem(0, &[0xc6], 0, base, disp);
                self.ops.push(i as u8);
            }
            Size::H => {
                self.modrm_mem(P66, &[0xc7], 0, base, disp);
                self.ops.extend((i as u16).to_le_bytes());
            }
            Size::W | Size::DW => {
                self.modrm_mem(if size == Size::DW { W } else { 0 }, &[0xc7], 0, base, disp);
                self.ops.extend(i.to_le_bytes());
            }
        }
    }
}
