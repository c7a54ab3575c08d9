//! Decoder and validator on arbitrary bytes: never panic; whatever decodes re-encodes exactly,
//! and the disassembly of whatever validates assembles back to the same slots.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waggle_isa::{asm, decode, disasm, encode, validate};

fuzz_target!(|data: &[u8]| {
    let usable = data.len() - data.len() % 8;
    if let Ok(insns) = decode(&data[..usable]) {
        assert_eq!(encode(&insns), &data[..usable]);
        if validate(&insns).is_ok() {
            let text = disasm::disassemble(&insns, disasm::Syntax::Conformance);
            let back = asm::assemble(&text).expect("disassembly re-assembles");
            assert_eq!(back, insns);
            let _ = disasm::disassemble(&insns, disasm::Syntax::Llvm);
        }
    }
});
