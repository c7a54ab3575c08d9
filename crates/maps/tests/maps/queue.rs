//! Queue and stack semantics (queue_stack_maps.c).

use crate::{create, spec};
use waggle_maps::{MapError, MapType, update::*};

fn val(x: u32) -> [u8; 4] {
    x.to_ne_bytes()
}

#[test]
fn queue_is_fifo() {
    let q = create(spec(MapType::Queue, 0, 4, 3), 1);
    for i in 1..=3 {
        q.push(&val(i), BPF_ANY).unwrap();
    }
    assert_eq!(q.push(&val(4), BPF_ANY), Err(MapError::TooBig));
    let mut out = [0u8; 4];
    q.peek(&mut out).unwrap();
    assert_eq!(out, val(1));
    for i in 1..=3 {
        q.pop(&mut out).unwrap();
        assert_eq!(out, val(i));
    }
    out = [9; 4];
    assert_eq!(q.pop(&mut out), Err(MapError::NotFound));
    assert_eq!(out, [0; 4], "an empty pop zeroes the buffer");
}

#[test]
fn stack_is_lifo() {
    let s = create(spec(MapType::Stack, 0, 4, 3), 1);
    for i in 1..=3 {
        s.prog_push(&val(i), BPF_ANY).unwrap();
    }
    let mut out = [0u8; 4];
    s.prog_peek(&mut out).unwrap();
    assert_eq!(out, val(3));
    for i in (1..=3).rev() {
        s.prog_pop(&mut out).unwrap();
        assert_eq!(out, val(i));
    }
    assert_eq!(s.prog_pop(&mut out), Err(MapError::NotFound));
}

#[test]
fn bpf_exist_overwrites_oldest() {
    let q = create(spec(MapType::Queue, 0, 4, 2), 1);
    let s = create(spec(MapType::Stack, 0, 4, 2), 1);
    for m in [&q, &s] {
        for i in 1..=4 {
            m.push(&val(i), BPF_EXIST).unwrap();
        }
    }
    let mut out = [0u8; 4];
    q.pop(&mut out).unwrap();
    assert_eq!(out, val(3));
    s.pop(&mut out).unwrap();
    assert_eq!(out, val(4));
    s.pop(&mut out).unwrap();
    assert_eq!(out, val(3));
    assert_eq!(s.pop(&mut out), Err(MapError::NotFound));
}

#[test]
fn queue_errors() {
    let q = create(spec(MapType::Queue, 0, 4, 2), 1);
    let mut out = [0u8; 4];
    assert!(matches!(
        q.push(&val(1), BPF_NOEXIST),
        Err(MapError::Invalid(_))
    ));
    assert!(matches!(q.push(&val(1), 4), Err(MapError::Invalid(_))));
    assert!(matches!(q.delete(&[]), Err(MapError::Invalid(_))));
    assert!(matches!(
        q.get_next_key(None, &mut out),
        Err(MapError::Invalid(_))
    ));
    assert!(matches!(
        q.lookup_and_delete(&[], &mut out, 1),
        Err(MapError::Invalid(_))
    ));
    assert!(matches!(
        q.prog_update(&[], &val(1), 0, 0),
        Err(MapError::Invalid(_))
    ));
    assert!(q.lookup_ptr(&[], 0).is_none());
    q.freeze().unwrap();
    assert_eq!(q.push(&val(1), BPF_ANY).unwrap_err().errno(), 1);
    q.prog_push(&val(1), BPF_ANY).unwrap();
    assert_eq!(q.pop(&mut out).unwrap_err().errno(), 1);
    q.peek(&mut out).unwrap();
}

#[test]
fn matches_a_model_over_many_wraps() {
    let q = create(spec(MapType::Queue, 0, 12, 5), 1);
    let s = create(spec(MapType::Stack, 0, 12, 5), 1);
    let mut model: std::collections::VecDeque<[u8; 12]> = Default::default();
    let mut stack_model: Vec<[u8; 12]> = Vec::new();
    let mut out = [0u8; 12];
    for i in 0..2000u32 {
        let mut v = [0u8; 12];
        v[..4].copy_from_slice(&i.to_ne_bytes());
        v[8..].copy_from_slice(&(!i).to_ne_bytes());
        if (i * 7919) % 5 < 3 {
            let r = q.push(&v, BPF_ANY);
            assert_eq!(r.is_ok(), model.len() < 5);
            if r.is_ok() {
                model.push_back(v);
            }
            let r = s.push(&v, BPF_ANY);
            assert_eq!(r.is_ok(), stack_model.len() < 5);
            if r.is_ok() {
                stack_model.push(v);
            }
        } else {
            match model.pop_front() {
                Some(want) => {
                    q.pop(&mut out).unwrap();
                    assert_eq!(out, want);
                }
                None => assert_eq!(q.pop(&mut out), Err(MapError::NotFound)),
            }
            match stack_model.pop() {
                Some(want) => {
                    s.pop(&mut out).unwrap();
                    assert_eq!(out, want);
                }
                None => assert_eq!(s.pop(&mut out), Err(MapError::NotFound)),
            }
        }
    }
}

#[test]
fn program_access_flags() {
    use waggle_maps::flags::{BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG};
    let wo = create(
        spec(MapType::Queue, 0, 4, 2).with_flags(BPF_F_WRONLY_PROG),
        1,
    );
    wo.prog_push(&val(1), BPF_ANY).unwrap();
    let mut out = [0u8; 4];
    assert_eq!(wo.prog_peek(&mut out).unwrap_err().errno(), 1);
    assert_eq!(wo.prog_pop(&mut out).unwrap_err().errno(), 1);
    wo.pop(&mut out).unwrap();
    let ro = create(
        spec(MapType::Stack, 0, 4, 2).with_flags(BPF_F_RDONLY_PROG),
        1,
    );
    assert_eq!(ro.prog_push(&val(1), BPF_ANY).unwrap_err().errno(), 1);
    ro.push(&val(1), BPF_ANY).unwrap();
    ro.prog_peek(&mut out).unwrap();
}

#[test]
fn maps_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<waggle_maps::Map>();
    assert_send_sync::<waggle_maps::ObjectRef>();
    assert_send_sync::<waggle_maps::Storage>();
}
