//! Interpreter on arbitrary validated bytecode and memory: never panic, never touch memory
//! outside the run's regions (AddressSanitizer would report it), always stop within the budget.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waggle_isa::decode_and_validate;
use waggle_vm::{HelperError, Helpers, Interpreter, Region, RunConfig};

fuzz_target!(|data: &[u8]| {
    // First byte: memory length; then memory; the rest is the program.
    let Some((&mem_len, rest)) = data.split_first() else {
        return;
    };
    let mem_len = usize::from(mem_len).min(rest.len());
    let (mem, code) = rest.split_at(mem_len);
    let code = &code[..code.len() - code.len() % 8];
    let Ok(insns) = decode_and_validate(code) else {
        return;
    };
    // Helper 1 echoes r1; helper 5 is the conformance suite's unwind.
    let helpers = Helpers::new()
        .with(1, |_, a: [u64; 5]| Ok(a[0]))
        .with(5, |_, a: [u64; 5]| {
            if a[0] == 0 {
                Err(HelperError::Exit(0))
            } else {
                Ok(a[0])
            }
        });
    let Ok(interpreter) = Interpreter::new(&insns, helpers) else {
        return;
    };
    let mut mem = mem.to_vec();
    let len = mem.len() as u64;
    let regions = [Region::writable(&mut mem)];
    let config = RunConfig {
        args: [regions[0].addr(), len, 0, 0, 0],
        regions: &regions,
        max_insns: Some(100_000),
        ..RunConfig::default()
    };
    let _ = interpreter.run(&config);
});
