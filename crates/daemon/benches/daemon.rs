//! Daemon benchmarks: a daemon in this process (its own threads, real Unix socket), clients
//! on the benchmark threads.
//!
//! - `lookup_round_trip`: one `MapLookup` request and reply through the socket.
//! - `array_read_shared`: one array element read through the client's mapping of the memfd.
//! - `hash_lookup_shared`: one hash map lookup through the client's read-only mapping (the
//!   map's own lookup code, seqlock-consistent).
//! - `clients_16x10k`: 16 client threads × 10,000 update/lookup operations; errors counted
//!   (printed; must be zero).
//! - `ringbuf_consume_shared`: consuming 64-byte records through shared memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use waggle_daemon::{Client, Config, Server, ServerHandle, SharedMap};

fn main() {
    divan::main();
    let errors = ERRORS.load(Ordering::Relaxed);
    println!("clients_16x10k: {errors} errors in all samples");
}

static ERRORS: AtomicU64 = AtomicU64::new(0);

struct Fixture {
    daemon: ServerHandle,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let daemon = Server::bind(Config {
            socket: Some(dir.path().join("bench.sock")),
            ..Config::default()
        })
        .unwrap()
        .spawn()
        .unwrap();
        Fixture { daemon, _dir: dir }
    })
}

fn client() -> Client {
    Client::connect(fixture().daemon.path()).unwrap()
}

const ARRAY: u32 = 2;
const HASH: u32 = 1;
const RINGBUF: u32 = 27;

#[divan::bench]
fn lookup_round_trip(bencher: divan::Bencher) {
    let mut c = client();
    let m = c.map_create(HASH, 4, 8, 1024, "bench").unwrap();
    c.map_update(m, &7u32.to_ne_bytes(), &1u64.to_ne_bytes(), 0)
        .unwrap();
    let key = 7u32.to_ne_bytes();
    bencher.bench_local(|| c.map_lookup(m, divan::black_box(&key)).unwrap());
}

#[divan::bench]
fn array_read_shared(bencher: divan::Bencher) {
    let mut c = client();
    let m = c.map_create(ARRAY, 4, 8, 1024, "bench").unwrap();
    c.map_update(m, &9u32.to_ne_bytes(), &99u64.to_ne_bytes(), 0)
        .unwrap();
    let shm: SharedMap = c.map_shm(m).unwrap();
    assert_eq!(shm.array_u64(9, 0), Some(99));
    bencher.bench_local(|| shm.array_u64(divan::black_box(9), 0));
}

#[divan::bench]
fn hash_lookup_shared(bencher: divan::Bencher) {
    let mut c = client();
    let m = c.map_create(HASH, 4, 8, 1024, "bench").unwrap();
    for k in 0..512u32 {
        c.map_update(m, &k.to_ne_bytes(), &u64::from(k).to_ne_bytes(), 0)
            .unwrap();
    }
    let shm: SharedMap = c.map_shm(m).unwrap();
    let mut v = [0u8; 8];
    assert!(shm.hash_lookup(&77u32.to_ne_bytes(), &mut v).unwrap());
    assert_eq!(u64::from_ne_bytes(v), 77);
    let key = 77u32.to_ne_bytes();
    bencher.bench_local(|| {
        shm.hash_lookup(divan::black_box(&key), &mut v).unwrap();
        v
    });
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn clients_16x10k(bencher: divan::Bencher) {
    let mut setup = client();
    let m = setup.map_create(HASH, 4, 8, 4096, "shared").unwrap();
    let path = format!("/bench/{}", std::process::id());
    // Re-running the bench function re-pins: drop an old pin first.
    let _ = setup.unpin(&path);
    setup.pin(m, &path).unwrap();
    let clients: Vec<Mutex<(Client, u32)>> = (0..16)
        .map(|_| {
            let mut c = client();
            let h = c.get_pinned(&path).unwrap();
            Mutex::new((c, h))
        })
        .collect();
    bencher
        .counter(divan::counter::ItemsCount::new(16 * 10_000usize))
        .bench(|| {
            std::thread::scope(|s| {
                for (t, cm) in clients.iter().enumerate() {
                    s.spawn(move || {
                        let mut g = cm.lock().unwrap();
                        let (c, h) = &mut *g;
                        let mut errors = 0;
                        for i in 0..10_000u32 {
                            // Update a key, then look that key up.
                            let k = ((t as u32) * 256 + (i / 2) % 256).to_ne_bytes();
                            let r = if i % 2 == 0 {
                                c.map_update(*h, &k, &u64::from(i).to_ne_bytes(), 0)
                                    .map(drop)
                            } else {
                                c.map_lookup(*h, &k).map(drop)
                            };
                            if let Err(e) = &r
                                && errors == 0
                            {
                                eprintln!("clients_16x10k: first error: {e}");
                            }
                            errors += u64::from(r.is_err());
                        }
                        ERRORS.fetch_add(errors, Ordering::Relaxed);
                    });
                }
            });
        });
    let _ = setup.unpin(&path);
}

#[divan::bench]
fn ringbuf_consume_shared(bencher: divan::Bencher) {
    const BATCH: usize = 256;
    let mut c = client();
    let m = c.map_create(RINGBUF, 0, 0, 1 << 16, "rb").unwrap();
    let waggle_daemon::proto::ObjInfo::Map { id, .. } = c.info(m).unwrap() else {
        unreachable!()
    };
    // The producer: the daemon's own map (as a program's bpf_ringbuf_output would write).
    let rt = fixture().daemon.runtime();
    let h = rt.map_get_handle_by_id(id).unwrap();
    let map = rt.map(h).unwrap();
    rt.close(h).unwrap();
    let shm = c.map_shm(m).unwrap();
    let record = [0xabu8; 64];
    bencher
        .counter(divan::counter::ItemsCount::new(BATCH))
        .with_inputs(|| {
            let rb = map.inner.as_ringbuf().unwrap();
            for _ in 0..BATCH {
                rb.output(&record, 0).unwrap();
            }
        })
        .bench_local_values(|()| {
            let mut bytes = 0;
            let n = shm.ringbuf_consume(|s| bytes += s.len()).unwrap();
            assert_eq!(n, BATCH);
            bytes
        });
}
