//! The run loop: one `match` on the op kind per instruction.

use super::Interpreter;
use super::prepare::{ATOMICS, FUNC_PTR_TAG, Kind as K, Op};
use crate::error::VmError;
use crate::helpers::{HelperContext, HelperError, Host};
use crate::memory::{AtomicFault, MAX_FRAMES, Memory, Region, Rmw};
use waggle_isa::{AluOp, JmpOp};

/// Iterations `may_goto` allows per run before it starts jumping (Linux `BPF_MAX_LOOPS`).
pub const MAY_GOTO_LIMIT: u64 = 8 * 1024 * 1024;

/// What a BPF-to-BPF call saves: the callee-saved registers and where to return.
#[derive(Clone, Copy, Default)]
struct Frame {
    saved: [u64; 4],
    ret: usize,
}

/// Per-run inputs besides memory.
pub(crate) struct RunInputs<'a> {
    pub(crate) args: [u64; 5],
    pub(crate) packet: Option<&'a [u8]>,
    pub(crate) budget: u64,
    /// The slot to start at (0, or a callback's first slot).
    pub(crate) entry: usize,
    /// The call depth whose `exit` ends this execution (0, or a callback's frame).
    pub(crate) base_depth: usize,
}

/// 64-bit arithmetic, RFC 9669 semantics (inlined with a constant `op` at each call site).
#[inline(always)]
fn alu64(op: AluOp, a: u64, b: u64) -> u64 {
    op.eval64(a, b)
}

/// 32-bit arithmetic on the low halves, zero-extended to 64 bits.
#[inline(always)]
fn alu32(op: AluOp, a: u32, b: u32) -> u64 {
    op.eval32(a, b)
}

#[inline(always)]
fn cmp64(op: JmpOp, a: u64, b: u64) -> bool {
    let (sa, sb) = (a as i64, b as i64);
    match op {
        JmpOp::Jeq => a == b,
        JmpOp::Jgt => a > b,
        JmpOp::Jge => a >= b,
        JmpOp::Jset => a & b != 0,
        JmpOp::Jne => a != b,
        JmpOp::Jsgt => sa > sb,
        JmpOp::Jsge => sa >= sb,
        JmpOp::Jlt => a < b,
        JmpOp::Jle => a <= b,
        JmpOp::Jslt => sa < sb,
        JmpOp::Jsle => sa <= sb,
    }
}

#[inline(always)]
fn cmp32(op: JmpOp, a: u32, b: u32) -> bool {
    let (sa, sb) = (a as i32, b as i32);
    match op {
        JmpOp::Jeq => a == b,
        JmpOp::Jgt => a > b,
        JmpOp::Jge => a >= b,
        JmpOp::Jset => a & b != 0,
        JmpOp::Jne => a != b,
        JmpOp::Jsgt => sa > sb,
        JmpOp::Jsge => sa >= sb,
        JmpOp::Jlt => a < b,
        JmpOp::Jle => a <= b,
        JmpOp::Jslt => sa < sb,
        JmpOp::Jsle => sa <= sb,
    }
}

#[cold]
#[inline(never)]
fn access_fault(pc: usize, addr: u64, len: u64, write: bool) -> VmError {
    VmError::MemoryAccess {
        pc,
        addr,
        len,
        write,
    }
}

#[cold]
#[inline(never)]
fn budget_exceeded(pc: usize, executed: u64) -> VmError {
    VmError::BudgetExceeded { pc, executed }
}

/// How a helper call that did not return a value ends the run.
#[cold]
#[inline(never)]
fn helper_end(pc: usize, id: u32, e: HelperError) -> Result<u64, VmError> {
    match e {
        HelperError::Exit(r0) => Ok(r0),
        e => Err(VmError::Helper {
            pc,
            id,
            message: e.to_string(),
        }),
    }
}

/// The address `reg + off` of a memory operand.
#[inline(always)]
fn address(base: u64, off: i32) -> u64 {
    base.wrapping_add(i64::from(off) as u64)
}

/// Load `$t` from `reg[base] + off`, or stop the run.
macro_rules! load {
    ($mem:ident, $reg:ident, $op:ident, $pc:ident, $base:expr, $t:ty) => {{
        let a = address($reg[$base], $op.off);
        match $mem.load::<$t>(a) {
            Some(v) => v,
            None => return Err(access_fault($pc, a, size_of::<$t>() as u64, false)),
        }
    }};
}

/// Store `$v` as `$t` at `reg[dst] + off`, or stop the run.
macro_rules! store {
    ($mem:ident, $reg:ident, $op:ident, $pc:ident, $base:expr, $t:ty, $v:expr) => {{
        let a = address($reg[$base], $op.off);
        if $mem.store::<$t>(a, $v as $t).is_none() {
            return Err(access_fault($pc, a, size_of::<$t>() as u64, true));
        }
    }};
}

impl Interpreter {
    /// Run from slot 0 until the outermost `exit`, or with `NESTED` (a callback) from slot
    /// `inputs.entry` until the `exit` at depth `inputs.base_depth`. With `BUDGET`, at most
    /// `inputs.budget` instructions run; without it the loop does no counting at all. A run
    /// and a callback use separate copies, so the run's is exactly what it was without
    /// callbacks.
    pub(crate) fn execute<const BUDGET: bool, const NESTED: bool>(
        &self,
        mem: &mut Memory<'_>,
        inputs: &RunInputs<'_>,
    ) -> Result<u64, VmError> {
        let ops: &[Op] = &self.ops;
        // 16 entries so that `index & 15` needs no bounds check; r11..r15 are never used.
        let mut reg = [0u64; 16];
        reg[1..6].copy_from_slice(&inputs.args);
        reg[10] = mem.stack.fp();
        // Indexed by call depth 1..=7 (`& 7`: no bounds check); slot 0 is unused.
        let mut frames = [Frame::default(); MAX_FRAMES];
        let mut remaining = inputs.budget;
        let mut loops_left = MAY_GOTO_LIMIT;
        let mut pc = if NESTED { inputs.entry } else { 0 };
        let base_depth = if NESTED { inputs.base_depth } else { 0 };
        loop {
            // A reference, not a copy: fields are loaded straight from the op array.
            let Some(op) = ops.get(pc) else {
                return Err(VmError::InvalidInstruction { pc });
            };
            if BUDGET {
                if remaining == 0 {
                    return Err(budget_exceeded(pc, inputs.budget));
                }
                remaining -= 1;
            }
            let d = usize::from(op.dst & 15);
            let s = usize::from(op.src & 15);
            match op.kind {
                K::Add64Imm => reg[d] = alu64(AluOp::Add, reg[d], op.imm),
                K::Add64Reg => reg[d] = alu64(AluOp::Add, reg[d], reg[s]),
                K::Add32Imm => reg[d] = alu32(AluOp::Add, reg[d] as u32, op.imm as u32),
                K::Add32Reg => reg[d] = alu32(AluOp::Add, reg[d] as u32, reg[s] as u32),
                K::Sub64Imm => reg[d] = alu64(AluOp::Sub, reg[d], op.imm),
                K::Sub64Reg => reg[d] = alu64(AluOp::Sub, reg[d], reg[s]),
                K::Sub32Imm => reg[d] = alu32(AluOp::Sub, reg[d] as u32, op.imm as u32),
                K::Sub32Reg => reg[d] = alu32(AluOp::Sub, reg[d] as u32, reg[s] as u32),
                K::Mul64Imm => reg[d] = alu64(AluOp::Mul, reg[d], op.imm),
                K::Mul64Reg => reg[d] = alu64(AluOp::Mul, reg[d], reg[s]),
                K::Mul32Imm => reg[d] = alu32(AluOp::Mul, reg[d] as u32, op.imm as u32),
                K::Mul32Reg => reg[d] = alu32(AluOp::Mul, reg[d] as u32, reg[s] as u32),
                K::Div64Imm => reg[d] = alu64(AluOp::Div, reg[d], op.imm),
                K::Div64Reg => reg[d] = alu64(AluOp::Div, reg[d], reg[s]),
                K::Div32Imm => reg[d] = alu32(AluOp::Div, reg[d] as u32, op.imm as u32),
                K::Div32Reg => reg[d] = alu32(AluOp::Div, reg[d] as u32, reg[s] as u32),
                K::SDiv64Imm => reg[d] = alu64(AluOp::SDiv, reg[d], op.imm),
                K::SDiv64Reg => reg[d] = alu64(AluOp::SDiv, reg[d], reg[s]),
                K::SDiv32Imm => reg[d] = alu32(AluOp::SDiv, reg[d] as u32, op.imm as u32),
                K::SDiv32Reg => reg[d] = alu32(AluOp::SDiv, reg[d] as u32, reg[s] as u32),
                K::Or64Imm => reg[d] = alu64(AluOp::Or, reg[d], op.imm),
                K::Or64Reg => reg[d] = alu64(AluOp::Or, reg[d], reg[s]),
                K::Or32Imm => reg[d] = alu32(AluOp::Or, reg[d] as u32, op.imm as u32),
                K::Or32Reg => reg[d] = alu32(AluOp::Or, reg[d] as u32, reg[s] as u32),
                K::And64Imm => reg[d] = alu64(AluOp::And, reg[d], op.imm),
                K::And64Reg => reg[d] = alu64(AluOp::And, reg[d], reg[s]),
                K::And32Imm => reg[d] = alu32(AluOp::And, reg[d] as u32, op.imm as u32),
                K::And32Reg => reg[d] = alu32(AluOp::And, reg[d] as u32, reg[s] as u32),
                K::Lsh64Imm => reg[d] = alu64(AluOp::Lsh, reg[d], op.imm),
                K::Lsh64Reg => reg[d] = alu64(AluOp::Lsh, reg[d], reg[s]),
                K::Lsh32Imm => reg[d] = alu32(AluOp::Lsh, reg[d] as u32, op.imm as u32),
                K::Lsh32Reg => reg[d] = alu32(AluOp::Lsh, reg[d] as u32, reg[s] as u32),
                K::Rsh64Imm => reg[d] = alu64(AluOp::Rsh, reg[d], op.imm),
                K::Rsh64Reg => reg[d] = alu64(AluOp::Rsh, reg[d], reg[s]),
                K::Rsh32Imm => reg[d] = alu32(AluOp::Rsh, reg[d] as u32, op.imm as u32),
                K::Rsh32Reg => reg[d] = alu32(AluOp::Rsh, reg[d] as u32, reg[s] as u32),
                K::Mod64Imm => reg[d] = alu64(AluOp::Mod, reg[d], op.imm),
                K::Mod64Reg => reg[d] = alu64(AluOp::Mod, reg[d], reg[s]),
                K::Mod32Imm => reg[d] = alu32(AluOp::Mod, reg[d] as u32, op.imm as u32),
                K::Mod32Reg => reg[d] = alu32(AluOp::Mod, reg[d] as u32, reg[s] as u32),
                K::SMod64Imm => reg[d] = alu64(AluOp::SMod, reg[d], op.imm),
                K::SMod64Reg => reg[d] = alu64(AluOp::SMod, reg[d], reg[s]),
                K::SMod32Imm => reg[d] = alu32(AluOp::SMod, reg[d] as u32, op.imm as u32),
                K::SMod32Reg => reg[d] = alu32(AluOp::SMod, reg[d] as u32, reg[s] as u32),
                K::Xor64Imm => reg[d] = alu64(AluOp::Xor, reg[d], op.imm),
                K::Xor64Reg => reg[d] = alu64(AluOp::Xor, reg[d], reg[s]),
                K::Xor32Imm => reg[d] = alu32(AluOp::Xor, reg[d] as u32, op.imm as u32),
                K::Xor32Reg => reg[d] = alu32(AluOp::Xor, reg[d] as u32, reg[s] as u32),
                K::Mov64Imm => reg[d] = alu64(AluOp::Mov, reg[d], op.imm),
                K::Mov64Reg => reg[d] = alu64(AluOp::Mov, reg[d], reg[s]),
                K::Mov32Imm => reg[d] = alu32(AluOp::Mov, reg[d] as u32, op.imm as u32),
                K::Mov32Reg => reg[d] = alu32(AluOp::Mov, reg[d] as u32, reg[s] as u32),
                K::Arsh64Imm => reg[d] = alu64(AluOp::Arsh, reg[d], op.imm),
                K::Arsh64Reg => reg[d] = alu64(AluOp::Arsh, reg[d], reg[s]),
                K::Arsh32Imm => reg[d] = alu32(AluOp::Arsh, reg[d] as u32, op.imm as u32),
                K::Arsh32Reg => reg[d] = alu32(AluOp::Arsh, reg[d] as u32, reg[s] as u32),
                K::Jeq64Imm => {
                    if cmp64(JmpOp::Jeq, reg[d], op.imm) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jeq64Reg => {
                    if cmp64(JmpOp::Jeq, reg[d], reg[s]) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jeq32Imm => {
                    if cmp32(JmpOp::Jeq, reg[d] as u32, op.imm as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jeq32Reg => {
                    if cmp32(JmpOp::Jeq, reg[d] as u32, reg[s] as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jgt64Imm => {
                    if cmp64(JmpOp::Jgt, reg[d], op.imm) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jgt64Reg => {
                    if cmp64(JmpOp::Jgt, reg[d], reg[s]) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jgt32Imm => {
                    if cmp32(JmpOp::Jgt, reg[d] as u32, op.imm as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jgt32Reg => {
                    if cmp32(JmpOp::Jgt, reg[d] as u32, reg[s] as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jge64Imm => {
                    if cmp64(JmpOp::Jge, reg[d], op.imm) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jge64Reg => {
                    if cmp64(JmpOp::Jge, reg[d], reg[s]) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jge32Imm => {
                    if cmp32(JmpOp::Jge, reg[d] as u32, op.imm as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jge32Reg => {
                    if cmp32(JmpOp::Jge, reg[d] as u32, reg[s] as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jset64Imm => {
                    if cmp64(JmpOp::Jset, reg[d], op.imm) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jset64Reg => {
                    if cmp64(JmpOp::Jset, reg[d], reg[s]) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jset32Imm => {
                    if cmp32(JmpOp::Jset, reg[d] as u32, op.imm as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jset32Reg => {
                    if cmp32(JmpOp::Jset, reg[d] as u32, reg[s] as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jne64Imm => {
                    if cmp64(JmpOp::Jne, reg[d], op.imm) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jne64Reg => {
                    if cmp64(JmpOp::Jne, reg[d], reg[s]) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jne32Imm => {
                    if cmp32(JmpOp::Jne, reg[d] as u32, op.imm as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jne32Reg => {
                    if cmp32(JmpOp::Jne, reg[d] as u32, reg[s] as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jsgt64Imm => {
                    if cmp64(JmpOp::Jsgt, reg[d], op.imm) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jsgt64Reg => {
                    if cmp64(JmpOp::Jsgt, reg[d], reg[s]) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jsgt32Imm => {
                    if cmp32(JmpOp::Jsgt, reg[d] as u32, op.imm as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jsgt32Reg => {
                    if cmp32(JmpOp::Jsgt, reg[d] as u32, reg[s] as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jsge64Imm => {
                    if cmp64(JmpOp::Jsge, reg[d], op.imm) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jsge64Reg => {
                    if cmp64(JmpOp::Jsge, reg[d], reg[s]) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jsge32Imm => {
                    if cmp32(JmpOp::Jsge, reg[d] as u32, op.imm as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jsge32Reg => {
                    if cmp32(JmpOp::Jsge, reg[d] as u32, reg[s] as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jlt64Imm => {
                    if cmp64(JmpOp::Jlt, reg[d], op.imm) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jlt64Reg => {
                    if cmp64(JmpOp::Jlt, reg[d], reg[s]) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jlt32Imm => {
                    if cmp32(JmpOp::Jlt, reg[d] as u32, op.imm as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jlt32Reg => {
                    if cmp32(JmpOp::Jlt, reg[d] as u32, reg[s] as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jle64Imm => {
                    if cmp64(JmpOp::Jle, reg[d], op.imm) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jle64Reg => {
                    if cmp64(JmpOp::Jle, reg[d], reg[s]) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jle32Imm => {
                    if cmp32(JmpOp::Jle, reg[d] as u32, op.imm as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jle32Reg => {
                    if cmp32(JmpOp::Jle, reg[d] as u32, reg[s] as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jslt64Imm => {
                    if cmp64(JmpOp::Jslt, reg[d], op.imm) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jslt64Reg => {
                    if cmp64(JmpOp::Jslt, reg[d], reg[s]) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jslt32Imm => {
                    if cmp32(JmpOp::Jslt, reg[d] as u32, op.imm as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jslt32Reg => {
                    if cmp32(JmpOp::Jslt, reg[d] as u32, reg[s] as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jsle64Imm => {
                    if cmp64(JmpOp::Jsle, reg[d], op.imm) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jsle64Reg => {
                    if cmp64(JmpOp::Jsle, reg[d], reg[s]) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jsle32Imm => {
                    if cmp32(JmpOp::Jsle, reg[d] as u32, op.imm as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::Jsle32Reg => {
                    if cmp32(JmpOp::Jsle, reg[d] as u32, reg[s] as u32) {
                        pc = op.target();
                        continue;
                    }
                }
                K::MovSx8x64 => reg[d] = alu64(AluOp::MovSx8, 0, reg[s]),
                K::MovSx16x64 => reg[d] = alu64(AluOp::MovSx16, 0, reg[s]),
                K::MovSx32x64 => reg[d] = alu64(AluOp::MovSx32, 0, reg[s]),
                K::MovSx8x32 => reg[d] = alu32(AluOp::MovSx8, 0, reg[s] as u32),
                K::MovSx16x32 => reg[d] = alu32(AluOp::MovSx16, 0, reg[s] as u32),
                K::Neg64 => reg[d] = reg[d].wrapping_neg(),
                K::Neg32 => reg[d] = u64::from((reg[d] as u32).wrapping_neg()),
                K::Le16 => reg[d] = u64::from((reg[d] as u16).to_le()),
                K::Le32 => reg[d] = u64::from((reg[d] as u32).to_le()),
                K::Le64 => reg[d] = reg[d].to_le(),
                K::Be16 => reg[d] = u64::from((reg[d] as u16).to_be()),
                K::Be32 => reg[d] = u64::from((reg[d] as u32).to_be()),
                K::Be64 => reg[d] = reg[d].to_be(),
                K::Swap16 => reg[d] = u64::from((reg[d] as u16).swap_bytes()),
                K::Swap32 => reg[d] = u64::from((reg[d] as u32).swap_bytes()),
                K::Swap64 => reg[d] = reg[d].swap_bytes(),
                K::Lddw => {
                    reg[d] = op.imm;
                    pc += 2;
                    continue;
                }
                K::LddwHigh => return Err(VmError::InvalidInstruction { pc }),
                K::LdxB => reg[d] = u64::from(load!(mem, reg, op, pc, s, u8)),
                K::LdxH => reg[d] = u64::from(load!(mem, reg, op, pc, s, u16)),
                K::LdxW => reg[d] = u64::from(load!(mem, reg, op, pc, s, u32)),
                K::LdxDw => reg[d] = load!(mem, reg, op, pc, s, u64),
                K::LdxsB => reg[d] = load!(mem, reg, op, pc, s, u8) as i8 as i64 as u64,
                K::LdxsH => reg[d] = load!(mem, reg, op, pc, s, u16) as i16 as i64 as u64,
                K::LdxsW => reg[d] = load!(mem, reg, op, pc, s, u32) as i32 as i64 as u64,
                K::StB => store!(mem, reg, op, pc, d, u8, op.imm),
                K::StH => store!(mem, reg, op, pc, d, u16, op.imm),
                K::StW => store!(mem, reg, op, pc, d, u32, op.imm),
                K::StDw => store!(mem, reg, op, pc, d, u64, op.imm),
                K::StxB => store!(mem, reg, op, pc, d, u8, reg[s]),
                K::StxH => store!(mem, reg, op, pc, d, u16, reg[s]),
                K::StxW => store!(mem, reg, op, pc, d, u32, reg[s]),
                K::StxDw => store!(mem, reg, op, pc, d, u64, reg[s]),
                K::Atomic32 | K::Atomic64 => atomic(mem, &mut reg, *op, pc)?,
                K::LdAbs | K::LdInd => {
                    let Some(packet) = inputs.packet else {
                        return Err(VmError::NoPacket { pc });
                    };
                    let base = if op.kind == K::LdInd {
                        reg[s] as u32
                    } else {
                        0
                    };
                    match load_packet(packet, base.wrapping_add(op.imm as u32), op.dst) {
                        Some(v) => reg[0] = v,
                        // Like Linux: an out-of-bounds packet load ends the program with 0.
                        None => return Ok(0),
                    }
                }
                K::Ja => {
                    pc = op.target();
                    continue;
                }
                K::CallHelper => {
                    let id = op.imm as u32;
                    match self.call_helper::<BUDGET>(id, mem, &reg, inputs) {
                        Some(Ok(r0)) => reg[0] = r0,
                        Some(Err(e)) => return helper_end(pc, id, e),
                        None => return Err(VmError::BadCallTarget { pc, target: op.imm }),
                    }
                }
                K::Callx => {
                    let target = reg[d];
                    let id = u32::try_from(target).unwrap_or(u32::MAX);
                    match self.call_helper::<BUDGET>(id, mem, &reg, inputs) {
                        Some(Ok(r0)) => reg[0] = r0,
                        Some(Err(e)) => return helper_end(pc, id, e),
                        None => return Err(VmError::BadCallTarget { pc, target }),
                    }
                }
                K::CallLocal => {
                    let Some(fp) = mem.stack.push() else {
                        return Err(VmError::CallDepthExceeded { pc });
                    };
                    frames[mem.stack.depth() & 7] = Frame {
                        saved: [reg[6], reg[7], reg[8], reg[9]],
                        ret: pc + 1,
                    };
                    reg[10] = fp;
                    pc = op.target();
                    continue;
                }
                K::Exit => {
                    let depth = mem.stack.depth();
                    if depth == base_depth {
                        return Ok(reg[0]);
                    }
                    let frame = frames[depth & 7];
                    reg[6..10].copy_from_slice(&frame.saved);
                    reg[10] = mem.stack.pop();
                    pc = frame.ret;
                    continue;
                }
                K::MayGoto => {
                    if loops_left == 0 {
                        pc = op.target();
                        continue;
                    }
                    loops_left -= 1;
                }
            }
            pc += 1;
        }
    }

    /// Call helper `id` with r1..=r5; `None` if it is not registered.
    #[inline(never)]
    fn call_helper<const BUDGET: bool>(
        &self,
        id: u32,
        mem: &mut Memory<'_>,
        reg: &[u64; 16],
        inputs: &RunInputs<'_>,
    ) -> Option<Result<u64, HelperError>> {
        let f = self.helpers.get(id)?;
        let mut run = Run::<BUDGET> {
            vm: self,
            mem,
            inputs,
        };
        let mut ctx = HelperContext::with_host(&mut run);
        Some(f(&mut ctx, [reg[1], reg[2], reg[3], reg[4], reg[5]]))
    }

    /// Run the function at `func` (a [`FUNC_PTR_TAG`] value) as a nested call from a helper:
    /// a new frame, r1..=r5 = `args`, until its `exit`; returns its r0.
    #[cold]
    #[inline(never)]
    fn call_function<const BUDGET: bool>(
        &self,
        mem: &mut Memory<'_>,
        inputs: &RunInputs<'_>,
        func: u64,
        args: [u64; 5],
    ) -> Result<u64, HelperError> {
        let slot = u32::try_from(func ^ FUNC_PTR_TAG)
            .ok()
            .filter(|s| self.funcs.binary_search(s).is_ok())
            .ok_or_else(|| {
                HelperError::failed(format!("{func:#x} is not a function of this program"))
            })?;
        if mem.stack.push().is_none() {
            return Err(HelperError::failed(
                "callback: call depth exceeded (8 frames)",
            ));
        }
        let nested = RunInputs {
            args,
            packet: inputs.packet,
            budget: inputs.budget,
            entry: slot as usize,
            base_depth: mem.stack.depth(),
        };
        let r = self.execute::<BUDGET, true>(mem, &nested);
        mem.stack.pop();
        r.map_err(|e| HelperError::failed(format!("callback at slot {slot}: {e}")))
    }
}

/// A run as its helpers see it: memory plus the ability to call back into the program.
struct Run<'a, 'm, const BUDGET: bool> {
    vm: &'a Interpreter,
    mem: &'a mut Memory<'m>,
    inputs: &'a RunInputs<'a>,
}

impl<const BUDGET: bool> Host for Run<'_, '_, BUDGET> {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.mem.read_bytes(addr, len)
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Option<()> {
        self.mem.helper_view().write(addr, data)
    }

    fn add_region(&mut self, region: Region<'static>) {
        self.mem.helper_view().add_region(region);
    }

    fn call_function(&mut self, func: u64, args: [u64; 5]) -> Result<u64, HelperError> {
        self.vm
            .call_function::<BUDGET>(self.mem, self.inputs, func, args)
    }
}

/// Execute an atomic instruction (`Op::imm` indexes [`ATOMICS`]).
#[inline(never)]
fn atomic(mem: &mut Memory<'_>, reg: &mut [u64; 16], op: Op, pc: usize) -> Result<(), VmError> {
    let (d, s) = (usize::from(op.dst & 15), usize::from(op.src & 15));
    let Some(&(rmw, fetch)) = ATOMICS.get(op.imm as usize) else {
        return Err(VmError::InvalidInstruction { pc });
    };
    let addr = address(reg[d], op.off);
    let wide = op.kind == K::Atomic64;
    let len = if wide { 8 } else { 4 };
    // 32-bit forms operate on the low halves and zero-extend the fetched value.
    let old = if wide {
        mem.atomic64(addr, rmw, reg[s], reg[0])
    } else {
        mem.atomic32(addr, rmw, reg[s] as u32, reg[0] as u32)
            .map(u64::from)
    };
    let old = match old {
        Ok(v) => v,
        Err(AtomicFault::OutOfBounds) => return Err(access_fault(pc, addr, len, true)),
        Err(AtomicFault::Misaligned) => {
            return Err(VmError::MisalignedAtomic { pc, addr, len });
        }
    };
    if rmw == Rmw::CmpXchg {
        reg[0] = old;
    } else if fetch {
        reg[s] = old;
    }
    Ok(())
}

/// A big-endian `size`-byte load at `off` in the packet; negative offsets (Linux's special
/// ancillary areas) and overruns are out of bounds.
#[inline(never)]
fn load_packet(packet: &[u8], off: u32, size: u8) -> Option<u64> {
    if off as i32 >= 0 {
        let start = off as usize;
        let bytes = packet.get(start..start.checked_add(usize::from(size))?)?;
        Some(bytes.iter().fold(0, |acc, &b| acc << 8 | u64::from(b)))
    } else {
        None
    }
}
