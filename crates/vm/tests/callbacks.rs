//! Callbacks: `lddw` of kind `Func` (BPF_PSEUDO_FUNC) and `HelperContext::call_function`.

use waggle_isa::{Insn, LddwKind, asm::assemble};
use waggle_vm::{HelperError, Helpers, Interpreter, Jit, PrepareError, RunConfig, VmError};

/// Assemble `text`, turning `lddw func %rN, LABEL` into a `Func` lddw whose offset is
/// resolved like a local call to `LABEL`.
fn asm(text: &str) -> Vec<Insn> {
    let mut probe = String::new();
    let mut regs = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix("lddw func ") {
            let (reg, label) = rest.split_once(',').expect("lddw func %rN, LABEL");
            probe.push_str(&format!("call local {}\nja +0\n", label.trim()));
            regs.push(reg.trim().to_string());
        } else {
            probe.push_str(line);
            probe.push('\n');
        }
    }
    let p = assemble(&probe).expect("assembles");
    let mut offs = Vec::new();
    for w in p.windows(2) {
        if let (Insn::Call(waggle_isa::CallTarget::Local(off)), Insn::Ja { off: 0, .. }) =
            (w[0], w[1])
        {
            offs.push(off);
        }
    }
    let mut out = String::new();
    let mut k = 0;
    for line in text.lines() {
        if line.trim().starts_with("lddw func ") {
            out.push_str(&format!("lddw func {}, {}\n", regs[k], offs[k]));
            k += 1;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assemble(&out).expect("assembles")
}

/// Helper 1: r0 = f(r2) + f(r3) where f is the function r1 points to.
fn helpers() -> Helpers {
    Helpers::new()
        .with(1, |ctx, a| {
            let x = ctx.call_function(a[0], [a[1], 0, 0, 0, 0])?;
            let y = ctx.call_function(a[0], [a[2], 0, 0, 0, 0])?;
            Ok(x + y)
        })
        .with(2, |ctx, a| ctx.call_function(a[0], [a[1], 0, 0, 0, 0]))
}

const TWICE: &str = "
    mov %r6, 1000
    lddw func %r1, double
    mov %r2, 3
    mov %r3, 4
    call 1
    add %r0, %r6          # callee-saved registers survive the callbacks
    exit
double:
    mov %r6, 7            # clobbers only the callback's r6
    mov %r0, %r1
    lsh %r0, 1
    exit
";

#[test]
fn helper_calls_back_into_the_program() {
    let vm = Interpreter::with_callbacks(&asm(TWICE), helpers()).unwrap();
    assert_eq!(vm.run(&RunConfig::default()), Ok(1014));
    // With an instruction budget too.
    let r = vm.run(&RunConfig {
        max_insns: Some(1000),
        ..RunConfig::default()
    });
    assert_eq!(r, Ok(1014));
}

#[test]
fn callbacks_use_the_callers_stack_and_their_own_frame() {
    let text = "
    stdw [%r10-8], 5
    lddw func %r1, cb
    mov %r2, %r10
    add %r2, -8
    call 2
    ldxdw %r0, [%r10-8]
    exit
cb:
    stdw [%r10-8], 99     # the callback's own frame
    ldxdw %r0, [%r1]
    add %r0, 1
    stxdw [%r1], %r0      # the caller's frame, through the pointer
    exit
";
    let vm = Interpreter::with_callbacks(&asm(text), helpers()).unwrap();
    assert_eq!(vm.run(&RunConfig::default()), Ok(6));
}

#[test]
fn func_lddw_is_refused_without_callbacks_and_by_the_jit() {
    let insns = asm(TWICE);
    assert!(matches!(
        Interpreter::new(&insns, helpers()),
        Err(PrepareError::UnrelocatedLddw {
            kind: LddwKind::Func,
            ..
        })
    ));
    assert!(Jit::new(&insns, helpers()).is_err());
}

#[test]
fn func_lddw_outside_the_program_is_refused() {
    let insns = assemble("lddw func %r1, 100\nmov %r0, 0\nexit").unwrap();
    assert!(matches!(
        Interpreter::with_callbacks(&insns, helpers()),
        Err(PrepareError::Unsupported { .. })
    ));
}

#[test]
fn only_loaded_functions_can_be_called() {
    // r1 holds a made-up function pointer.
    let vm = Interpreter::with_callbacks(
        &asm("lddw %r1, 0xbf5f000000000001\ncall 2\nexit"),
        helpers(),
    )
    .unwrap();
    assert!(matches!(
        vm.run(&RunConfig::default()),
        Err(VmError::Helper { id: 2, .. })
    ));
}

#[test]
fn nested_callbacks_count_against_the_frame_limit() {
    // The callback calls helper 2 with itself: unbounded recursion ends at eight frames.
    let text = "
    lddw func %r1, cb
    call 2
    exit
cb:
    lddw func %r1, cb
    call 2
    exit
";
    let vm = Interpreter::with_callbacks(&asm(text), helpers()).unwrap();
    match vm.run(&RunConfig::default()) {
        Err(VmError::Helper { message, .. }) => {
            assert!(message.contains("call depth"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn engines_without_callbacks_fail_cleanly() {
    // A helper that calls back when the program loaded no function pointer.
    let h = Helpers::new().with(2, |ctx, a| ctx.call_function(a[0], [0; 5]));
    let vm =
        Interpreter::with_callbacks(&assemble("mov %r1, 0\ncall 2\nexit").unwrap(), h).unwrap();
    assert!(vm.run(&RunConfig::default()).is_err());
    let _ = HelperError::Exit(0);
}
