//! The object parser on arbitrary bytes: never panic, and whatever parses summarises,
//! validates and re-encodes without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use waggle_object::Object;

fuzz_target!(|data: &[u8]| {
    if let Ok(obj) = Object::parse(data) {
        let _ = obj.summary().to_string();
        for p in &obj.programs {
            let _ = waggle_isa::validate(&p.insns);
            let _ = waggle_isa::encode(&p.insns);
            let _ = p.line_at(p.insns.len() / 2);
        }
    }
});
