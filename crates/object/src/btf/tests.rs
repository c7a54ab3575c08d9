//! Parsing of hand-built raw BTF: every kind, sizes, resolution, and malformed input.
use super::*;

/// Raw BTF from type words and a string section.
fn raw(types: &[u32], strings: &[u8]) -> Vec<u8> {
    let tlen = types.len() as u32 * 4;
    let mut v = Vec::new();
    v.extend_from_slice(&0xeb9fu16.to_le_bytes());
    v.extend_from_slice(&[1, 0]);
    for w in [24, 0, tlen, tlen, strings.len() as u32] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    for w in types {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.extend_from_slice(strings);
    v
}

const fn info(kind: u32, vlen: u32) -> u32 {
    (kind << 24) | vlen
}

#[test]
fn sizes_and_resolution() {
    // [1] int "int" 4; [2] typedef "t" -> 1; [3] const -> 2; [4] array of 3 x 5;
    // [5] ptr -> 4; [6] struct "s" size 16 { a: 1 @0 }.
    let strings = b"\0int\0t\0s\0a\0";
    #[rustfmt::skip]
    let types = [
        1, info(1, 0), 4, 32,
        5, info(8, 0), 1,
        0, info(10, 0), 2,
        0, info(3, 0), 0, 3, 1, 5,
        0, info(2, 0), 4,
        7, info(4, 1), 16, 9, 1, 0,
    ];
    let btf = Btf::parse(&raw(&types, strings)).expect("parse");
    assert_eq!(btf.len(), 7);
    assert_eq!(btf.resolve(3).ok(), Some(1));
    assert_eq!(btf.type_size(3).ok(), Some(4));
    assert_eq!(btf.type_size(4).ok(), Some(20));
    assert_eq!(btf.type_size(5).ok(), Some(8));
    assert_eq!(btf.type_size(6).ok(), Some(16));
    assert_eq!(btf.name(2), "t");
    assert_eq!(btf.describe(6), "struct s");
    assert!(matches!(btf.type_size(0), Err(BtfError::NoSize { .. })));
}

#[test]
fn loops_are_errors_not_hangs() {
    // [1] typedef -> 2; [2] const -> 1.
    let btf = Btf::parse(&raw(&[0, info(8, 0), 2, 0, info(10, 0), 1], b"\0")).expect("parse");
    assert!(matches!(btf.resolve(1), Err(BtfError::Loop(1))));
    assert!(matches!(btf.type_size(2), Err(BtfError::Loop(2))));
    // [1] array of itself.
    let btf = Btf::parse(&raw(&[0, info(3, 0), 0, 1, 1, 2], b"\0")).expect("parse");
    assert!(matches!(
        btf.type_size(1),
        Err(BtfError::Loop(_) | BtfError::TooBig(_))
    ));
}

#[test]
fn malformed() {
    let ok = raw(&[0, info(2, 0), 0], b"\0");
    assert!(Btf::parse(&ok).is_ok());
    assert!(matches!(Btf::parse(&ok[..10]), Err(BtfError::Header(_))));
    let mut be = ok.clone();
    be.swap(0, 1);
    assert!(
        Btf::parse(&be)
            .unwrap_err()
            .to_string()
            .contains("big-endian")
    );
    // Reference to a type that does not exist.
    assert!(matches!(
        Btf::parse(&raw(&[0, info(2, 0), 9], b"\0")),
        Err(BtfError::BadTypeRef {
            id: 1,
            target: 9,
            ..
        })
    ));
    // A struct claiming 65535 members in 12 bytes.
    assert!(matches!(
        Btf::parse(&raw(&[0, info(4, 0xffff), 4], b"\0")),
        Err(BtfError::Truncated { id: 1, .. })
    ));
    // Name offset past the strings.
    assert!(matches!(
        Btf::parse(&raw(&[100, info(2, 0), 0], b"\0")),
        Err(BtfError::BadString { .. })
    ));
    // Unknown kind.
    assert!(matches!(
        Btf::parse(&raw(&[0, info(31, 0), 0], b"\0")),
        Err(BtfError::UnknownKind { kind: 31, .. })
    ));
    // Section lengths beyond the data.
    let mut long = ok.clone();
    long[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(Btf::parse(&long), Err(BtfError::Header(_))));
    // Array element count overflow.
    #[rustfmt::skip]
    let big = raw(
        &[
            0, info(1, 0), 8, 64,
            0, info(3, 0), 0, 1, 1, u32::MAX,
            0, info(3, 0), 0, 2, 1, u32::MAX,
        ],
        b"\0",
    );
    let btf = Btf::parse(&big).expect("parse");
    assert!(matches!(btf.type_size(3), Err(BtfError::TooBig(3))));
}

#[test]
fn every_kind_parses() {
    // INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC,
    // FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64.
    let strings = b"\0x\0";
    #[rustfmt::skip]
    let types = [
        1, info(1, 0), 4, (1 << 24) | 32,                  // 1 int x, signed
        0, info(2, 0), 1,                                  // 2 ptr
        0, info(3, 0), 0, 1, 1, 2,                         // 3 array
        1, info(4, 1) | (1 << 31), 4, 1, 1, (3 << 24) | 5, // 4 struct, 3-bit field at 5
        1, info(5, 1), 4, 1, 1, 0,                         // 5 union
        1, info(6, 1), 4, 1, u32::MAX,                     // 6 enum x = -1
        1, info(7, 0) | (1 << 31), 0,                      // 7 fwd union
        1, info(8, 0), 1,                                  // 8 typedef
        0, info(9, 0), 1,                                  // 9 volatile
        0, info(10, 0), 1,                                 // 10 const
        0, info(11, 0), 2,                                 // 11 restrict
        1, info(12, 1), 13,                                // 12 func, global
        0, info(13, 1), 1, 1, 1,                           // 13 func proto
        1, info(14, 0), 1, 1,                              // 14 var
        1, info(15, 1), 4, 14, 0, 4,                       // 15 datasec
        1, info(16, 0), 8,                                 // 16 float
        1, info(17, 0), 4, u32::MAX,                       // 17 decl tag on 4, whole type
        1, info(18, 0), 2,                                 // 18 type tag
        1, info(19, 1), 8, 1, 1, 2,                        // 19 enum64 x = 2 << 32 | 1
    ];
    let btf = Btf::parse(&raw(&types, strings)).expect("parse");
    let kinds: Vec<u8> = btf.types().skip(1).map(|(_, t)| t.kind.number()).collect();
    assert_eq!(kinds, (1..=19).collect::<Vec<u8>>());
    let BtfKind::Struct { members, .. } = btf.kind(4).unwrap() else {
        panic!()
    };
    assert_eq!((members[0].bit_offset, members[0].bitfield_size), (5, 3));
    assert_eq!(
        btf.kind(6).unwrap().enum_values().unwrap()[0].value,
        u64::MAX
    );
    assert_eq!(
        btf.kind(19).unwrap().enum_values().unwrap()[0].value,
        (2 << 32) | 1
    );
    assert!(matches!(btf.kind(7), Some(BtfKind::Fwd { union: true })));
    assert!(matches!(
        btf.kind(17),
        Some(BtfKind::DeclTag {
            type_id: 4,
            component_idx: -1
        })
    ));
    assert_eq!(btf.type_size(14).ok(), Some(4));
    assert_eq!(btf.type_size(16).ok(), Some(8));
    assert_eq!(btf.resolve(18).ok(), Some(2));
    assert_eq!(btf.summary().funcs, 1);
}
