//! Freed machine code goes back to a process-wide pool of (non-executable) mappings that later
//! programs reuse: programs of many sizes compiled, run and dropped in an interleaved order,
//! on several threads at once, must each still compute their own result.

use waggle_isa::{AluOp, Insn, Operand, Reg, Width};
use waggle_vm::{Helpers, Jit};

/// `r0 = seed; r0 += 1` repeated `n` times; `exit`: returns `seed + n`.
fn counting(seed: i32, n: usize) -> Vec<Insn> {
    let alu = |op, imm| Insn::Alu {
        width: Width::W64,
        op,
        dst: Reg::R0,
        src: Operand::Imm(imm),
    };
    let mut p = vec![alu(AluOp::Mov, seed)];
    p.extend(std::iter::repeat_n(alu(AluOp::Add, 1), n));
    p.push(Insn::Exit);
    p
}

fn churn(thread: i32) {
    let mut live: Vec<(Jit, u64)> = Vec::new();
    for i in 0..300usize {
        // Sizes across several size classes, so that mappings are reused by smaller and
        // larger programs than the ones that had them.
        let n = [1, 7, 60, 300, 1200, 5000][i % 6] + i % 5;
        let seed = thread * 100_000 + i as i32;
        let p = counting(seed, n);
        let jit = if i % 2 == 0 {
            Jit::new(&p, Helpers::new()).expect("compiles")
        } else {
            // SAFETY: straight-line register arithmetic: no memory access, terminates.
            unsafe { Jit::new_verified(&p, Helpers::new()) }.expect("compiles")
        };
        live.push((jit, seed as u64 + n as u64));
        // Drop some programs out of order, keep others alive across later compilations.
        if i % 3 == 0 {
            let (jit, want) = live.swap_remove(i % live.len());
            assert_eq!(jit.run_on(&mut []), Ok(want));
        }
        for (jit, want) in &live {
            assert_eq!(jit.run_on(&mut []), Ok(*want));
        }
        if live.len() > 8 {
            live.remove(0);
        }
    }
}

#[test]
fn reused_code_mappings_run_their_new_program() {
    let threads: Vec<_> = (0..3)
        .map(|t| std::thread::spawn(move || churn(t)))
        .collect();
    for t in threads {
        t.join().expect("no thread panicked");
    }
}
