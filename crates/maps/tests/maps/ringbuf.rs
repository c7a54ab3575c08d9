//! Ring buffer semantics (ringbuf.c) and the consumer API.

use crate::{create, spec};
use std::sync::Arc;
use std::time::{Duration, Instant};
use waggle_maps::ringbuf::*;
use waggle_maps::{Map, MapError, MapType};

fn rb_map(size: u32) -> Map {
    create(spec(MapType::Ringbuf, 0, 0, size), 1)
}

fn write(p: std::ptr::NonNull<u8>, data: &[u8]) {
    // SAFETY: `p` is a reserved sample of at least `data.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p.as_ptr(), data.len()) };
}

#[test]
fn reserve_submit_discard_and_header_layout() {
    let m = rb_map(4096);
    let rb = m.as_ringbuf().unwrap();
    let a = rb.reserve(5, 0).unwrap();
    write(a, b"hello");
    let st = rb.storage();
    let hdr = waggle_maps::ringbuf::DATA_OFF;
    let len = st.u32_at(hdr).load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(len, 5 | BPF_RINGBUF_BUSY_BIT);
    assert_eq!(rb.query(BPF_RB_PROD_POS), 16);
    // A busy record blocks consumption of everything after it.
    let b = rb.reserve(3, 0).unwrap();
    write(b, b"xyz");
    rb.submit(b, 0).unwrap();
    assert_eq!(rb.consume(|_| panic!("nothing yet")), 0);
    rb.submit(a, 0).unwrap();
    assert_eq!(st.u32_at(hdr).load(std::sync::atomic::Ordering::Relaxed), 5);
    let c = rb.reserve(4, 0).unwrap();
    rb.discard(c, 0).unwrap();
    assert!(matches!(rb.submit(c, 0), Err(MapError::Invalid(_))));
    let mut got = Vec::new();
    assert_eq!(rb.consume(|s| got.push(s.to_vec())), 2);
    assert_eq!(got, vec![b"hello".to_vec(), b"xyz".to_vec()]);
    assert_eq!(rb.query(BPF_RB_AVAIL_DATA), 0);
    assert_eq!(rb.query(BPF_RB_CONS_POS), 16 + 16 + 16);
    assert_eq!(rb.query(BPF_RB_RING_SIZE), 4096);
    assert_eq!(rb.query(99), 0);
}

#[test]
fn reserve_limits() {
    let m = rb_map(4096);
    let rb = m.as_ringbuf().unwrap();
    assert!(rb.reserve(8, 1).is_none(), "flags must be 0");
    assert!(rb.reserve(4096, 0).is_none(), "larger than the ring");
    // At most size - 8 bytes can be outstanding.
    let big = rb.reserve(4096 - 16, 0).unwrap();
    assert!(rb.reserve(1, 0).is_none());
    rb.submit(big, BPF_RB_NO_WAKEUP).unwrap();
    assert_eq!(rb.output(&[1; 8], 0), Err(MapError::TryAgain));
    assert_eq!(rb.consume(|s| assert_eq!(s.len(), 4096 - 16)), 1);
    rb.output(&[1; 8], 0).unwrap();
    assert!(matches!(rb.output(&[1; 8], 4), Err(MapError::Invalid(_))));
}

#[test]
fn records_never_split_at_the_end() {
    let m = rb_map(4096);
    let rb = m.as_ringbuf().unwrap();
    let mut expected = 0u32;
    for i in 0..2000u32 {
        let len = 1 + (i * 37) % 300;
        let data: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
        if rb.output(&data, 0).is_err() {
            rb.consume(|s| {
                let l = 1 + (expected * 37) % 300;
                assert_eq!(s.len() as u32, l);
                assert!(
                    s.iter()
                        .enumerate()
                        .all(|(j, &b)| b == (expected + j as u32) as u8)
                );
                expected += 1;
            });
            rb.output(&data, 0).unwrap();
        }
    }
    rb.consume(|_| expected += 1);
    assert_eq!(expected, 2000);
}

#[test]
fn map_ops_not_supported() {
    let m = rb_map(4096);
    let mut buf = [0u8; 4];
    assert_eq!(m.lookup(&[], &mut buf), Err(MapError::NotSupported));
    assert_eq!(m.update(&[], &buf, 0), Err(MapError::NotSupported));
    assert_eq!(m.delete(&[]), Err(MapError::NotSupported));
    assert_eq!(m.get_next_key(None, &mut buf), Err(MapError::NotSupported));
    assert!(m.lookup_ptr(&[], 0).is_none());
}

#[test]
fn wait_wakes_on_submit_and_times_out() {
    let m = Arc::new(rb_map(8192));
    let rb = m.as_ringbuf().unwrap();
    let t = Instant::now();
    assert!(!rb.wait(Duration::from_millis(30)));
    assert!(t.elapsed() >= Duration::from_millis(30));
    let m2 = m.clone();
    let producer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        m2.as_ringbuf().unwrap().output(b"wake", 0).unwrap();
    });
    let t = Instant::now();
    let mut got = Vec::new();
    let n = rb.poll(Duration::from_secs(10), |s| got.push(s.to_vec()));
    assert!(t.elapsed() < Duration::from_secs(5));
    producer.join().unwrap();
    assert_eq!(n, 1);
    assert_eq!(got, vec![b"wake".to_vec()]);
}

#[test]
fn no_wakeup_does_not_wake_but_force_does() {
    let m = Arc::new(rb_map(8192));
    let m2 = m.clone();
    let producer = std::thread::spawn(move || {
        let rb = m2.as_ringbuf().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        rb.output(b"quiet", BPF_RB_NO_WAKEUP).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // The consumer is behind (the quiet record is unread): only FORCE wakes it.
        rb.output(b"loud", BPF_RB_FORCE_WAKEUP).unwrap();
    });
    let rb = m.as_ringbuf().unwrap();
    let t = Instant::now();
    assert!(rb.wait(Duration::from_secs(10)));
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "woken by a NO_WAKEUP record"
    );
    let mut got = Vec::new();
    rb.consume(|s| got.push(s.to_vec()));
    assert_eq!(got, vec![b"quiet".to_vec(), b"loud".to_vec()]);
    producer.join().unwrap();
}
