//! Malformed objects give typed errors with clear messages, never panics: targeted
//! corruptions of real objects, and property tests that flip, overwrite and truncate bytes.

use object::read::elf::{FileHeader, SectionHeader};
use object::{LittleEndian as LE, elf};
use proptest::prelude::*;
use waggle_object::{Object, ObjectError};

fn progs_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs")
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(progs_dir().join(file)).expect("read object")
}

/// (file offset, size) of the named section.
fn section_range(data: &[u8], name: &str) -> (usize, usize) {
    let header = elf::FileHeader64::<LE>::parse(data).expect("header");
    let sections = header.sections(LE, data).expect("sections");
    for sh in sections.iter() {
        if sections.section_name(LE, sh).expect("name") == name.as_bytes() {
            return (sh.sh_offset(LE) as usize, sh.sh_size(LE) as usize);
        }
    }
    panic!("no section {name}");
}

fn err(data: &[u8]) -> ObjectError {
    match Object::parse(data) {
        Ok(_) => panic!("parsed a corrupted object"),
        Err(e) => e,
    }
}

#[test]
fn not_an_object() {
    assert!(err(b"").to_string().contains("too short"));
    assert!(
        err(b"\x7fELG and then some more bytes")
            .to_string()
            .contains("bad magic")
    );
    let data = read("xdp_maps.bpf.o");
    assert!(matches!(err(&data[..40]), ObjectError::Elf(_)));
}

#[test]
fn wrong_kind_of_elf() {
    let data = read("xdp_maps.bpf.o");
    let mut x86 = data.clone();
    x86[18..20].copy_from_slice(&62u16.to_le_bytes());
    let e = err(&x86);
    assert!(matches!(e, ObjectError::NotBpf(_)));
    assert_eq!(
        e.to_string(),
        "not a BPF object: e_machine is 62, expected EM_BPF (247)"
    );

    let mut be = data.clone();
    be[5] = 2;
    assert!(matches!(err(&be), ObjectError::BigEndian));

    let mut elf32 = data.clone();
    elf32[4] = 1;
    assert!(matches!(err(&elf32), ObjectError::NotBpf(_)));

    let mut exec = data.clone();
    exec[16] = 2;
    assert!(err(&exec).to_string().contains("ET_REL"));
}

#[test]
fn bad_section_table() {
    let data = read("xdp_maps.bpf.o");
    let mut far = data.clone();
    far[40..48].copy_from_slice(&u64::MAX.to_le_bytes()); // e_shoff
    assert!(matches!(err(&far), ObjectError::Elf(_)));
    let mut many = data.clone();
    many[60..62].copy_from_slice(&u16::MAX.to_le_bytes()); // e_shnum
    assert!(matches!(err(&many), ObjectError::Elf(_)));
    let mut strndx = data.clone();
    strndx[62..64].copy_from_slice(&500u16.to_le_bytes()); // e_shstrndx
    assert!(matches!(err(&strndx), ObjectError::Elf(_)));
}

#[test]
fn bad_relocations_name_section_and_slot() {
    let data = read("xdp_maps.bpf.o");
    let (off, _) = section_range(&data, ".relxdp");
    // Entry 0 relocates slot 12 (r_offset 0x60); point it at slot 0, a load.
    let mut wrong_insn = data.clone();
    wrong_insn[off..off + 8].copy_from_slice(&0u64.to_le_bytes());
    let e = err(&wrong_insn);
    assert!(matches!(e, ObjectError::Relocation { slot: 0, .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "section xdp: insn 0: relocation against 'counts': relocation on an instruction that is neither lddw nor call"
    );
    // Past the section.
    let mut past = data.clone();
    past[off..off + 8].copy_from_slice(&0x10000u64.to_le_bytes());
    assert!(err(&past).to_string().contains("invalid offset"));
    // Misaligned.
    let mut odd = data.clone();
    odd[off..off + 8].copy_from_slice(&0x61u64.to_le_bytes());
    assert!(err(&odd).to_string().contains("invalid offset 97"));
    // Unknown symbol index.
    let mut sym = data.clone();
    sym[off + 12..off + 16].copy_from_slice(&9999u32.to_le_bytes());
    assert!(
        err(&sym)
            .to_string()
            .contains("symbol index 9999 out of range")
    );
}

#[test]
fn bad_btf_is_a_btf_error() {
    let data = read("xdp_maps.bpf.o");
    let (off, _) = section_range(&data, ".BTF");
    let mut magic = data.clone();
    magic[off] ^= 0xff;
    assert!(matches!(err(&magic), ObjectError::Btf(_)));
    let mut type_len = data.clone();
    type_len[off + 12..off + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = err(&type_len);
    assert!(e.to_string().starts_with("BTF: bad header"), "{e}");
    let (ext, _) = section_range(&data, ".BTF.ext");
    let mut ext_len = data.clone();
    ext_len[ext + 12..ext + 16].copy_from_slice(&u32::MAX.to_le_bytes()); // func_info_len
    assert!(matches!(err(&ext_len), ObjectError::BtfExt(_)));
}

#[test]
fn bad_legacy_maps_section() {
    let data = read("legacy_maps.bpf.o");
    // Point the `maps` section's size at 41 bytes: not divisible by its 2 symbols' share.
    let header = elf::FileHeader64::<LE>::parse(&data[..]).expect("header");
    let shoff = header.e_shoff.get(LE) as usize;
    let sections = header.sections(LE, &data[..]).expect("sections");
    let idx = sections
        .iter()
        .position(|sh| sections.section_name(LE, sh).ok() == Some(&b"maps"[..]))
        .expect("maps");
    let size_at = shoff + idx * 64 + 32;
    let mut odd = data.clone();
    odd[size_at..size_at + 8].copy_from_slice(&41u64.to_le_bytes());
    let e = err(&odd);
    assert!(
        e.to_string()
            .contains("cannot determine the map definition size"),
        "{e}"
    );
}

fn corpus() -> Vec<Vec<u8>> {
    [
        "xdp_maps.bpf.o",
        "globals.bpf.o",
        "subprogs.bpf.o",
        "map_in_map.bpf.o",
        "prog_array.bpf.o",
        "legacy_maps.bpf.o",
        "elf_maps.bpf.o",
        "core.bpf.o",
    ]
    .iter()
    .map(|f| read(f))
    .collect()
}

/// Parse and, on success, touch everything a caller would.
fn exercise(data: &[u8]) {
    if let Ok(obj) = Object::parse(data) {
        let _ = obj.summary().to_string();
        for p in &obj.programs {
            let _ = waggle_isa::validate(&p.insns);
            let _ = p.line_at(p.insns.len() / 2);
        }
    }
}

const INTERESTING: [u32; 8] = [0, 1, 7, 8, 0xff, 0x7fff_ffff, 0x8000_0000, u32::MAX];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn flipped_bytes_never_panic(which in 0usize..8, flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8)) {
        let mut data = corpus().swap_remove(which);
        for (i, x) in flips {
            let at = i.index(data.len());
            data[at] ^= x;
        }
        exercise(&data);
    }

    #[test]
    fn overwritten_words_never_panic(which in 0usize..8, words in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..8), 1..4)) {
        let mut data = corpus().swap_remove(which);
        for (i, v) in words {
            let at = i.index(data.len() / 4) * 4;
            data[at..at + 4].copy_from_slice(&INTERESTING[v].to_le_bytes());
        }
        exercise(&data);
    }

    #[test]
    fn truncated_objects_never_panic(which in 0usize..8, cut in any::<prop::sample::Index>()) {
        let data = corpus().swap_remove(which);
        let len = cut.index(data.len());
        exercise(&data[..len]);
    }

    #[test]
    fn corrupted_btf_never_panics(which in 0usize..8, words in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..8), 1..4), ext in any::<bool>()) {
        // Aim at .BTF / .BTF.ext, where counts and offsets are dense.
        let mut data = corpus().swap_remove(which);
        let (off, size) = section_range(&data, if ext { ".BTF.ext" } else { ".BTF" });
        for (i, v) in words {
            let at = off + i.index(size / 4) * 4;
            data[at..at + 4].copy_from_slice(&INTERESTING[v].to_le_bytes());
        }
        exercise(&data);
    }
}
