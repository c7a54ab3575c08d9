//! The daemon end to end: each test starts its own daemon on a temporary socket and talks to
//! it through the client library (threads and child processes), or raw bytes.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;
use waggle_daemon::proto::{self, ObjInfo, Request, Response};
use waggle_daemon::{Client, Config, Server, ServerHandle};
use waggle_uapi::errno;

const ARRAY: u32 = 2;
const HASH: u32 = 1;

fn progs(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/progs")
        .join(name)
}

fn start(dir: &tempfile::TempDir, public: bool) -> ServerHandle {
    Server::bind(Config {
        socket: Some(dir.path().join("waggle.sock")),
        public,
        ..Config::default()
    })
    .unwrap()
    .spawn()
    .unwrap()
}

fn load(c: &mut Client, file: &str) -> waggle_daemon::client::Loaded {
    let elf = std::fs::read(progs(file)).unwrap();
    c.load_object(file.split('.').next().unwrap(), &elf)
        .unwrap()
}

#[test]
fn socket_is_owner_only_and_handles_are_per_connection() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir, false);
    let mode = std::fs::metadata(d.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let mut a = Client::connect(d.path()).unwrap();
    assert!(a.privileged(), "the daemon's owner may load");
    let m = a.map_create(HASH, 4, 8, 16, "counts").unwrap();
    a.map_update(m, &1u32.to_ne_bytes(), &99u64.to_ne_bytes(), 0)
        .unwrap();
    assert_eq!(
        a.map_lookup(m, &1u32.to_ne_bytes()).unwrap(),
        99u64.to_ne_bytes()
    );

    // B's handle numbers are its own: A's handle means nothing on B's connection.
    let mut b = Client::connect(d.path()).unwrap();
    let e = b.map_lookup(m, &1u32.to_ne_bytes()).unwrap_err();
    assert_eq!(e.errno(), Some(errno::EBADF));

    // Pins are global.
    a.pin(m, "/counts").unwrap();
    let bm = b.get_pinned("/counts").unwrap();
    assert_eq!(
        b.map_lookup(bm, &1u32.to_ne_bytes()).unwrap(),
        99u64.to_ne_bytes()
    );
    let unpinned = a.map_create(ARRAY, 4, 8, 4, "scratch").unwrap();
    let ObjInfo::Map { id, .. } = a.info(unpinned).unwrap() else {
        panic!("not a map")
    };
    assert_eq!(d.runtime().live_objects(), 2);

    // A disconnects: its unpinned map goes, the pinned one stays (B and the pin hold it).
    drop(a);
    wait_until(|| d.runtime().live_objects() == 1);
    assert!(!b.map_ids().unwrap().contains(&id));
    b.unpin("/counts").unwrap();
    assert_eq!(
        b.map_lookup(bm, &1u32.to_ne_bytes()).unwrap(),
        99u64.to_ne_bytes()
    );
    b.close(bm).unwrap();
    assert_eq!(d.runtime().live_objects(), 0);
    assert_eq!(d.runtime().open_handles(), 0);
    d.stop().unwrap();
    assert!(!dir.path().join("waggle.sock").exists(), "socket removed");
}

/// Disconnect cleanup runs on the daemon's threads: wait (bounded) for it.
fn wait_until(mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("condition not reached in 5 s");
}

#[test]
fn shared_memory_reader_sees_program_updates() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir, false);
    let mut c = Client::connect(d.path()).unwrap();
    let obj = load(&mut c, "socket_count.bpf.o");
    let stats = obj.map("sock_stats").unwrap();
    let prog = obj.program("socket_count").unwrap();
    // Another client (a reader) maps the array; no round trips for its reads.
    let mut reader = Client::connect(d.path()).unwrap();
    c.pin(stats, "/stats").unwrap();
    let rm = reader.get_pinned("/stats").unwrap();
    let shm = reader.map_shm(rm).unwrap();
    assert_eq!(shm.array_u64(0, 0), Some(0));
    let packet = [0u8; 64];
    let mut runs = 0;
    for repeat in [1, 5, 20] {
        c.prog_test_run(prog, &packet, repeat).unwrap();
        runs += u64::from(repeat);
        assert_eq!(shm.array_u64(0, 0), Some(runs), "packets counted");
        // Bytes counted (skb->len): the shared view agrees with a lookup through the daemon.
        let bytes = c.map_lookup(stats, &1u32.to_ne_bytes()).unwrap();
        assert_eq!(
            shm.array_u64(1, 0),
            Some(u64::from_ne_bytes(bytes[..8].try_into().unwrap()))
        );
    }
    let mut v = [0u8; 8];
    assert!(shm.array_value(0, 0, &mut v));
    assert_eq!(u64::from_ne_bytes(v), runs);
    assert_eq!(shm.array_u64(4, 0), None, "index out of range");
    // The round trip agrees.
    assert_eq!(
        c.map_lookup(stats, &0u32.to_ne_bytes()).unwrap(),
        runs.to_ne_bytes()
    );
}

#[test]
fn ring_buffer_records_are_consumed_through_shared_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir, false);
    let mut c = Client::connect(d.path()).unwrap();
    let obj = load(&mut c, "helpers_callbacks.bpf.o");
    let events = obj.map("events").unwrap();
    let prog = obj.program("callbacks").unwrap();
    let rb = c.map_shm(events).unwrap();
    let mut seen = Vec::new();
    assert_eq!(rb.ringbuf_consume(|s| seen.push(s.to_vec())).unwrap(), 0);
    // 24-byte records in a 4096-byte ring: several rounds wrap around the end.
    let mut total = 0;
    for round in 0..20 {
        let n = 1 + round % 7;
        for _ in 0..n {
            assert_eq!(c.prog_test_run(prog, &[0; 14], 1).unwrap().retval, 7);
        }
        let got = rb.ringbuf_consume(|s| seen.push(s.to_vec())).unwrap();
        assert_eq!(got, n as usize);
        total += n;
    }
    assert_eq!(seen.len(), total as usize);
    for s in &seen {
        assert_eq!(s.len(), 24);
        assert_eq!(
            u64::from_ne_bytes(s[..8].try_into().unwrap()),
            21,
            "loop sum"
        );
        assert_eq!(
            u32::from_ne_bytes(s[16..20].try_into().unwrap()),
            7,
            "loops"
        );
    }
    // The daemon-side consumer sees nothing left: the shared consumer position moved.
    assert!(c.ringbuf_consume(events, 0).unwrap().is_empty());
}

#[test]
fn concurrent_clients_load_update_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir, false);
    let path = d.path().to_path_buf();
    let mut setup = Client::connect(&path).unwrap();
    let shared = setup.map_create(HASH, 4, 8, 2048, "shared").unwrap();
    setup.pin(shared, "/shared").unwrap();
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(&path).unwrap();
                let obj = load(&mut c, "socket_count.bpf.o");
                let stats = obj.map("sock_stats").unwrap();
                let prog = obj.program("socket_count").unwrap();
                let m = c.get_pinned("/shared").unwrap();
                for i in 0..200u32 {
                    let k = (t * 1000 + i).to_ne_bytes();
                    c.map_update(m, &k, &u64::from(i).to_ne_bytes(), 0).unwrap();
                    assert_eq!(c.map_lookup(m, &k).unwrap(), u64::from(i).to_ne_bytes());
                }
                c.prog_test_run(prog, &[0; 64], 10).unwrap();
                // Each client's object is its own: its counter saw only its own runs.
                assert_eq!(
                    c.map_lookup(stats, &0u32.to_ne_bytes()).unwrap(),
                    10u64.to_ne_bytes()
                );
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(setup.map_dump(shared).unwrap().len(), 8 * 200);
    drop(setup);
    // Only the pinned map is left once every client is gone.
    wait_until(|| d.runtime().live_objects() == 1);
}

#[test]
fn malformed_requests_get_errors_and_disturb_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir, false);
    let mut good = Client::connect(d.path()).unwrap();
    let m = good.map_create(ARRAY, 4, 8, 4, "a").unwrap();

    let mut raw = UnixStream::connect(d.path()).unwrap();
    let reply = |raw: &mut UnixStream| -> Response {
        let mut p = [0u8; 4];
        raw.read_exact(&mut p).unwrap();
        let mut body = vec![0u8; proto::frame_len(p).unwrap()];
        raw.read_exact(&mut body).unwrap();
        proto::decode(&body).unwrap()
    };
    let mut seed = 0x1234_5678_9abc_def0u64;
    for i in 0..200 {
        // Random bodies in valid frames: each gets a reply; the connection stays usable.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 40) as usize;
        let mut body: Vec<u8> = proto::VERSION.to_le_bytes().to_vec();
        body.extend((0..len).map(|j| (seed >> (j % 8 * 8)) as u8 ^ i as u8));
        let mut frame = (body.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&body);
        raw.write_all(&frame).unwrap();
        let _ = reply(&mut raw);
    }
    raw.write_all(&proto::encode(&Request::Pins)).unwrap();
    assert!(matches!(reply(&mut raw), Response::Pins(_)));
    // Wrong version: an error, then the daemon hangs up.
    let mut frame = proto::encode(&Request::Pins);
    frame[4] = 0xee;
    raw.write_all(&frame).unwrap();
    assert!(matches!(reply(&mut raw), Response::Error { errno, .. } if errno == errno::EPROTO));
    let mut rest = Vec::new();
    assert_eq!(raw.read_to_end(&mut rest).unwrap(), 0);
    // An absurd length: an error and a hang-up, no allocation.
    let mut raw = UnixStream::connect(d.path()).unwrap();
    raw.write_all(&u32::MAX.to_le_bytes()).unwrap();
    assert!(matches!(reply(&mut raw), Response::Error { .. }));
    // A client that sends half a frame and vanishes.
    let mut raw = UnixStream::connect(d.path()).unwrap();
    raw.write_all(&[100, 0, 0, 0, 1]).unwrap();
    drop(raw);
    // Bad arguments are errors too.
    let e = good.map_create(999, 4, 8, 4, "x").unwrap_err();
    assert_eq!(e.errno(), Some(errno::EINVAL));
    assert!(good.load_object("junk", b"\x7fELF garbage").is_err());
    // The well-behaved client never noticed.
    good.map_update(m, &0u32.to_ne_bytes(), &5u64.to_ne_bytes(), 0)
        .unwrap();
    assert_eq!(
        good.map_lookup(m, &0u32.to_ne_bytes()).unwrap(),
        5u64.to_ne_bytes()
    );
}

#[test]
fn state_dir_keeps_pinned_maps_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = Config {
        socket: Some(dir.path().join("s.sock")),
        state_dir: Some(state.clone()),
        ..Config::default()
    };
    let d = Server::bind(config.clone()).unwrap().spawn().unwrap();
    let mut c = Client::connect(d.path()).unwrap();
    let m = c.map_create(HASH, 4, 8, 8, "kept").unwrap();
    c.map_update(m, &7u32.to_ne_bytes(), &70u64.to_ne_bytes(), 0)
        .unwrap();
    c.pin(m, "/kept").unwrap();
    let gone = c.map_create(HASH, 4, 8, 8, "gone").unwrap();
    c.map_update(gone, &1u32.to_ne_bytes(), &1u64.to_ne_bytes(), 0)
        .unwrap();
    drop(c);
    d.stop().unwrap();

    let d = Server::bind(config).unwrap().spawn().unwrap();
    let mut c = Client::connect(d.path()).unwrap();
    assert_eq!(c.pins().unwrap(), vec!["/kept".to_string()]);
    let m = c.get_pinned("/kept").unwrap();
    assert_eq!(
        c.map_lookup(m, &7u32.to_ne_bytes()).unwrap(),
        70u64.to_ne_bytes()
    );
    assert_eq!(
        c.map_ids().unwrap().len(),
        1,
        "unpinned maps were not saved"
    );
}

/// Roles a child process plays, by re-running this test binary with `WAGGLE_TEST_CHILD` set
/// (without it this test does nothing).
#[test]
fn child_role() {
    let Ok(role) = std::env::var("WAGGLE_TEST_CHILD") else {
        return;
    };
    let sock = std::env::var("WAGGLE_SOCKET").unwrap();
    let mut c = Client::connect(&sock).unwrap();
    match role.as_str() {
        // Loads an object, creates a map of its own, pins one map, then works until killed.
        "holder" => {
            let obj = load(&mut c, "socket_count.bpf.o");
            let tag = std::process::id();
            c.pin(obj.map("sock_stats").unwrap(), &format!("/held/{tag}"))
                .unwrap();
            let mine = c.map_create(HASH, 4, 8, 64, "mine").unwrap();
            println!("CHILD-READY");
            std::io::stdout().flush().unwrap();
            let prog = obj.program("socket_count").unwrap();
            for i in 0u32.. {
                let scratch = load(&mut c, "xdp_maps.bpf.o");
                c.map_update(mine, &(i % 64).to_ne_bytes(), &1u64.to_ne_bytes(), 0)
                    .unwrap();
                c.prog_test_run(prog, &[0; 64], 1).unwrap();
                for (_, h) in scratch.maps.iter().chain(&scratch.programs) {
                    c.close(*h).unwrap();
                }
            }
        }
        // An unprivileged client: reads succeed, everything else is refused.
        "reader" => {
            assert!(!c.privileged());
            // Refused before the object is even parsed (and this uid may not read the corpus).
            let e = c.load_object("socket_count", b"\x7fELF").unwrap_err();
            assert_eq!(e.errno(), Some(errno::EPERM), "{e}");
            let e = c.map_create(ARRAY, 4, 8, 1, "x").unwrap_err();
            assert_eq!(e.errno(), Some(errno::EPERM));
            let m = c.get_pinned("/public").unwrap();
            assert_eq!(
                c.map_lookup(m, &3u32.to_ne_bytes()).unwrap(),
                33u64.to_ne_bytes()
            );
            let e = c
                .map_update(m, &3u32.to_ne_bytes(), &0u64.to_ne_bytes(), 0)
                .unwrap_err();
            assert_eq!(e.errno(), Some(errno::EPERM));
            assert_eq!(c.unpin("/public").unwrap_err().errno(), Some(errno::EPERM));
            let shm = c.map_shm(m).unwrap();
            assert!(!shm.mapping().writable());
            assert_eq!(shm.array_u64(3, 0), Some(33));
            assert!(!shm.mapping().store_u64(24, 0));
            println!("reader ok");
        }
        r => panic!("unknown role {r}"),
    }
}

fn child(role: &str, socket: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env("WAGGLE_TEST_CHILD", role)
        .env("WAGGLE_SOCKET", socket)
        .stdout(std::process::Stdio::piped());
    cmd
}

#[test]
fn killed_clients_lose_nothing_pinned_or_held_by_others() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir, false);
    let mut c = Client::connect(d.path()).unwrap();
    let keep = c.map_create(HASH, 4, 8, 16, "keep").unwrap();
    c.map_update(keep, &1u32.to_ne_bytes(), &11u64.to_ne_bytes(), 0)
        .unwrap();
    let before = d.runtime().live_objects();
    let mut seed = u64::from(std::process::id()) | 1;
    for round in 0..4 {
        let mut ch = child("holder", d.path()).spawn().unwrap();
        // Keep the pipe open until the child is dead: the test harness in it writes there.
        let mut out = std::io::BufReader::new(ch.stdout.take().unwrap());
        let mut line = String::new();
        // The harness prints `test child_role ... ` first, on the same line.
        while !line.trim_end().ends_with("CHILD-READY") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "child did not start");
        }
        // This client holds the child's program: it must survive the child.
        let prog_id = *c.prog_ids().unwrap().first().unwrap();
        let prog = c.prog_by_id(prog_id).unwrap();
        // Kill it at some point of its load/update/run/close loop.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 40));
        ch.kill().unwrap();
        ch.wait().unwrap();
        drop(out);
        let pin = format!("/held/{}", ch.id());
        // The pinned map and the program (with its maps) stay; the child's own map and any
        // object it was in the middle of loading go.
        wait_until(|| d.runtime().live_objects() == before + 4 + round);
        let held = c.get_pinned(&pin).unwrap();
        assert!(c.map_lookup(held, &0u32.to_ne_bytes()).is_ok());
        c.close(held).unwrap();
        assert_eq!(c.prog_test_run(prog, &[0; 64], 1).unwrap().retval, 0);
        c.close(prog).unwrap();
        // Now only the pinned map is left of the child's objects.
        assert_eq!(d.runtime().live_objects(), before + 1 + round);
    }
    assert_eq!(
        c.map_lookup(keep, &1u32.to_ne_bytes()).unwrap(),
        11u64.to_ne_bytes()
    );
    for p in c.pins().unwrap() {
        c.unpin(&p).unwrap();
    }
    assert_eq!(d.runtime().live_objects(), before);
}

#[test]
fn unprivileged_clients_may_only_read() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    if !rustix::process::geteuid().is_root() {
        eprintln!(
            "SKIPPED unprivileged_clients_may_only_read: needs root to run a child as nobody"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = start(&dir, true);
    let mut c = Client::connect(d.path()).unwrap();
    let m = c.map_create(ARRAY, 4, 8, 8, "public").unwrap();
    c.map_update(m, &3u32.to_ne_bytes(), &33u64.to_ne_bytes(), 0)
        .unwrap();
    c.pin(m, "/public").unwrap();
    let out = match child("reader", d.path()).uid(65534).gid(65534).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!(
                "SKIPPED unprivileged_clients_may_only_read: uid 65534 cannot run this test \
                 binary here ({e})"
            );
            return;
        }
        Err(e) => panic!("running the reader child: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("reader ok"),
        "reader child failed: {stdout}"
    );
    // Nothing it tried changed anything.
    assert_eq!(c.pins().unwrap(), vec!["/public".to_string()]);
    assert_eq!(
        c.map_lookup(m, &3u32.to_ne_bytes()).unwrap(),
        33u64.to_ne_bytes()
    );
}

#[test]
fn per_cpu_array_copies_sit_at_fixed_offsets_in_shared_memory() {
    const PERCPU_ARRAY: u32 = 6;
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir, false);
    let mut c = Client::connect(d.path()).unwrap();
    let m = c.map_create(PERCPU_ARRAY, 4, 4, 10, "pcpu").unwrap();
    let ObjInfo::Map { ncpus, .. } = c.info(m).unwrap() else {
        panic!("not a map")
    };
    // User space passes every CPU's value, each padded to 8 bytes.
    let mut value = Vec::new();
    for cpu in 0..ncpus {
        value.extend_from_slice(&(100 + cpu).to_ne_bytes());
        value.extend_from_slice(&[0; 4]);
    }
    c.map_update(m, &7u32.to_ne_bytes(), &value, 0).unwrap();
    let shm = c.map_shm(m).unwrap();
    for cpu in 0..ncpus {
        let mut v = [0u8; 4];
        assert!(shm.array_value(7, cpu, &mut v));
        assert_eq!(u32::from_ne_bytes(v), 100 + cpu);
        assert!(shm.array_value(6, cpu, &mut v));
        assert_eq!(v, [0; 4]);
    }
    let mut v = [0u8; 4];
    assert!(!shm.array_value(7, ncpus, &mut v), "no such CPU");
    assert!(!shm.array_value(10, 0, &mut v), "no such element");
    // Hashes are shared too, but read through the daemon; queues are not shared.
    let h = c.map_create(HASH, 4, 8, 4, "h").unwrap();
    let hs = c.map_shm(h).unwrap();
    assert!(
        !hs.mapping().writable(),
        "hash layouts are the daemon's: read-only"
    );
    assert!(
        shm.mapping().writable(),
        "arrays are writable for privileged clients"
    );
    let q = c.map_create(22, 0, 8, 4, "q").unwrap();
    assert_eq!(c.map_shm(q).unwrap_err().errno(), Some(errno::EOPNOTSUPP));
}
