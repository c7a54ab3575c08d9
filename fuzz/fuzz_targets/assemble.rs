//! Assembler on arbitrary text: never panic; whatever assembles survives a disassembly round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waggle_isa::{asm, disasm};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(insns) = asm::assemble(text) {
        let again = disasm::disassemble(&insns, disasm::Syntax::Conformance);
        assert_eq!(
            asm::assemble(&again).expect("disassembly re-assembles"),
            insns
        );
    }
});
