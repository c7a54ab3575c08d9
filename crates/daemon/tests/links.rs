//! Links through the daemon: programs attached to event sources the daemon runs (timers, pcap
//! replay), per-connection link handles, pins, `link list` data, sources stopping with their
//! last link; ring-buffer readers woken by the notification eventfd; hash lookups through
//! shared memory; `--state` keeping map flags and frozen state.

use std::path::{Path, PathBuf};
use std::time::Duration;
use waggle_daemon::proto::{AttachSource, ObjInfo};
use waggle_daemon::{Client, Config, Server, ServerHandle};
use waggle_uapi::errno;

fn root(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn start(dir: &tempfile::TempDir) -> ServerHandle {
    Server::bind(Config {
        socket: Some(dir.path().join("waggle.sock")),
        public: true,
        ..Config::default()
    })
    .unwrap()
    .spawn()
    .unwrap()
}

fn load(c: &mut Client, rel: &str) -> waggle_daemon::client::Loaded {
    let elf = std::fs::read(root(rel)).unwrap();
    let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
    c.load_object(name.split('.').next().unwrap(), &elf)
        .unwrap()
}

/// Event sources run on their own threads: wait (bounded) for their effects.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what}: not reached in 10 s");
}

const EVERY_MS: u64 = 2;

#[test]
fn timer_link_fires_until_its_last_holder_goes() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir);
    let mut c = Client::connect(d.path()).unwrap();
    let obj = load(&mut c, "tests/progs/hooks.bpf.o");
    let counts = obj.map("counts").unwrap();
    let tick = obj.program("tick").unwrap();
    let shm = c.map_shm(counts).unwrap();
    let period = AttachSource::Every {
        period_ns: EVERY_MS * 1_000_000,
    };
    let link = c.attach(tick, period.clone(), 0).unwrap();
    // Slot 10 counts runs; slot 11 is the sample period the timer passes.
    wait_until("timer runs", || shm.array_u64(10, 0).unwrap_or(0) >= 3);
    assert_eq!(shm.array_u64(11, 0), Some(EVERY_MS * 1_000_000));
    let hook = format!("perf_event:every:{}ns", EVERY_MS * 1_000_000);
    assert_eq!(d.runtime().hook_names(), vec![hook.clone()]);

    // bpftool-shaped info: the link names its program, hook and the running source.
    let ObjInfo::Program { id: prog_id, .. } = c.info(tick).unwrap() else {
        panic!("not a program")
    };
    let ObjInfo::Link {
        id,
        program_id,
        hook: h,
        detached,
        source,
    } = c.info(link).unwrap()
    else {
        panic!("not a link")
    };
    assert_eq!(
        (program_id, h.as_str(), detached),
        (prog_id, hook.as_str(), false)
    );
    assert!(source.contains("firing every"), "source: {source}");
    assert_eq!(c.link_ids().unwrap(), vec![id]);

    // A second client finds the link by id and pins it; the first closes its handle: the
    // pin keeps the source running.
    let mut other = Client::connect(d.path()).unwrap();
    let l2 = other.link_by_id(id).unwrap();
    other.pin(l2, "/links/tick").unwrap();
    c.close(link).unwrap();
    let before = shm.array_u64(10, 0).unwrap();
    wait_until("still firing while pinned", || {
        shm.array_u64(10, 0).unwrap() > before
    });
    assert_eq!(d.runtime().hook_names(), vec![hook]);

    // Unpinned and closed: the source stops and its hook goes.
    other.unpin("/links/tick").unwrap();
    assert_eq!(d.runtime().hook_names().len(), 1, "other still holds it");
    drop(other);
    wait_until("hook removed", || d.runtime().hook_names().is_empty());
    assert!(c.link_ids().unwrap().is_empty());
}

#[test]
fn a_disconnecting_client_detaches_its_unpinned_links() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir);
    let mut keeper = Client::connect(d.path()).unwrap();
    let obj = load(&mut keeper, "tests/progs/hooks.bpf.o");
    let tick = obj.program("tick").unwrap();
    keeper.pin(tick, "/tick").unwrap();
    {
        let mut c = Client::connect(d.path()).unwrap();
        let p = c.get_pinned("/tick").unwrap();
        c.attach(
            p,
            AttachSource::Every {
                period_ns: 5_000_000,
            },
            0,
        )
        .unwrap();
        assert_eq!(d.runtime().hook_names().len(), 1);
    }
    wait_until("client's link detached", || {
        d.runtime().hook_names().is_empty()
    });
    assert!(keeper.link_ids().unwrap().is_empty());
    // Detaching (not closing) also stops the source; the handle stays until closed.
    let l = keeper
        .attach(
            tick,
            AttachSource::Every {
                period_ns: 5_000_000,
            },
            0,
        )
        .unwrap();
    keeper.link_detach(l).unwrap();
    assert!(d.runtime().hook_names().is_empty());
    assert!(matches!(
        keeper.info(l).unwrap(),
        ObjInfo::Link { detached: true, .. }
    ));
}

#[test]
fn pcap_replay_link_runs_the_program_on_every_packet() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir);
    let mut c = Client::connect(d.path()).unwrap();
    let obj = load(&mut c, "tests/progs/hooks.bpf.o");
    let counts = obj.map("counts").unwrap();
    let xdp = obj.program("xdp_verdict").unwrap();
    let pcap = std::fs::read(root("examples/traffic.pcap")).unwrap();
    let packets = waggle_events::Capture::parse(&pcap).unwrap().len() as u64;
    assert!(packets > 0);
    let shm = c.map_shm(counts).unwrap();
    let verdicts = || (4..9).map(|i| shm.array_u64(i, 0).unwrap()).sum::<u64>();
    let link = c
        .attach(
            xdp,
            AttachSource::Pcap {
                data: pcap,
                pace: false,
            },
            0,
        )
        .unwrap();
    wait_until("every packet seen", || verdicts() == packets);
    let ObjInfo::Link { source, .. } = c.info(link).unwrap() else {
        panic!("not a link")
    };
    wait_until(
        "replay reported",
        || matches!(c.info(link).unwrap(), ObjInfo::Link { source, .. } if source.contains("replayed")),
    );
    assert!(source.contains("pcap"), "source: {source}");
    assert_eq!(verdicts(), packets, "each packet once");
    // Wrong program types and bad captures are refused, with nothing left behind.
    let tick = obj.program("tick").unwrap();
    let e = c
        .attach(
            tick,
            AttachSource::Pcap {
                data: vec![],
                pace: false,
            },
            0,
        )
        .unwrap_err();
    assert_eq!(e.errno(), Some(errno::EINVAL));
    let e = c
        .attach(
            xdp,
            AttachSource::Pcap {
                data: b"not a capture".to_vec(),
                pace: false,
            },
            0,
        )
        .unwrap_err();
    assert_eq!(e.errno(), Some(errno::EINVAL));
    let e = c
        .attach(
            xdp,
            AttachSource::Every {
                period_ns: 1_000_000,
            },
            0,
        )
        .unwrap_err();
    assert_eq!(e.errno(), Some(errno::EINVAL));
    assert_eq!(d.runtime().hook_names().len(), 1, "only the replay's hook");
    c.close(link).unwrap();
    assert!(d.runtime().hook_names().is_empty());
}

#[test]
fn only_loaders_may_attach() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("SKIPPED only_loaders_may_attach: needs root to connect as another uid");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir);
    let mut c = Client::connect(d.path()).unwrap();
    let obj = load(&mut c, "tests/progs/hooks.bpf.o");
    c.pin(obj.program("tick").unwrap(), "/tick").unwrap();
    let path = d.path().to_path_buf();
    // A child that drops to uid 65534 before connecting: read-only.
    let out = std::thread::spawn(move || {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "unprivileged_attach_child", "--nocapture"])
            .env("WAGGLE_TEST_SOCKET", path)
            .output()
            .unwrap()
    })
    .join()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("attach refused: EPERM"), "{text}");
    assert!(d.runtime().hook_names().is_empty());
}

/// The child of [`only_loaders_may_attach`] (does nothing unless `WAGGLE_TEST_SOCKET` is set).
#[test]
fn unprivileged_attach_child() {
    let Some(sock) = std::env::var_os("WAGGLE_TEST_SOCKET") else {
        return;
    };
    rustix::thread::set_thread_uid(rustix::process::Uid::from_raw(65534)).unwrap();
    let mut c = Client::connect(sock).unwrap();
    assert!(!c.privileged());
    let p = c.get_pinned("/tick").unwrap();
    let e = c
        .attach(
            p,
            AttachSource::Every {
                period_ns: 1_000_000,
            },
            0,
        )
        .unwrap_err();
    if e.errno() == Some(errno::EPERM) {
        println!("attach refused: EPERM");
    }
}

#[test]
fn a_committed_record_wakes_a_waiting_shared_memory_reader() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir);
    let mut c = Client::connect(d.path()).unwrap();
    let obj = load(&mut c, "tests/progs/helpers_callbacks.bpf.o");
    let events = obj.map("events").unwrap();
    let prog = obj.program("callbacks").unwrap();
    let mut reader = Client::connect(d.path()).unwrap();
    c.pin(events, "/events").unwrap();
    let h = reader.get_pinned("/events").unwrap();
    let rb = reader.map_shm(h).unwrap();
    assert!(!rb.ringbuf_ready());
    // Nothing comes: a short wait ends empty.
    assert!(!rb.ringbuf_wait(Duration::from_millis(20)).unwrap());
    // One wait, a minute long: the reader sleeps on the eventfd (it does not poll), and the
    // producer's commit ends the wait (the test would otherwise take a minute and fail).
    let waiter = std::thread::spawn(move || {
        let woke = rb.ringbuf_wait(Duration::from_secs(60)).unwrap();
        let mut n = 0;
        rb.ringbuf_consume(|s| {
            assert_eq!(s.len(), 24);
            n += 1;
        })
        .unwrap();
        (woke, n)
    });
    // Let the reader go to sleep first (not needed for correctness: it checks after
    // registering, so an earlier record is seen too).
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(c.prog_test_run(prog, &[0; 14], 1).unwrap().retval, 7);
    let (woke, n) = waiter.join().unwrap();
    assert!(woke, "woken by the commit");
    assert_eq!(n, 1);
}

#[test]
fn timer_records_reach_a_blocking_reader() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir);
    let mut c = Client::connect(d.path()).unwrap();
    let obj = load(&mut c, "tests/progs/hooks.bpf.o");
    let rb = c.map_shm(obj.map("events").unwrap()).unwrap();
    let _link = c
        .attach(
            obj.program("tick_event").unwrap(),
            AttachSource::Every {
                period_ns: 1_000_000,
            },
            0,
        )
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 5 {
        assert!(rb.ringbuf_wait(Duration::from_secs(60)).unwrap());
        rb.ringbuf_consume(|s| got.push(s.to_vec())).unwrap();
    }
    for r in &got {
        assert_eq!(&r[16..20], b"tick", "struct event's tag");
        assert_eq!(u64::from_ne_bytes(r[8..16].try_into().unwrap()), 1_000_000);
    }
}

#[test]
fn hash_lookup_through_shared_memory_sees_program_updates() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir);
    let mut c = Client::connect(d.path()).unwrap();
    let obj = load(&mut c, "tests/progs/xdp_maps.bpf.o");
    let counts = obj.map("counts").unwrap();
    let prog = obj.program("xdp_count").unwrap();
    // A read-only view in another client.
    c.pin(counts, "/counts").unwrap();
    let mut reader = Client::connect(d.path()).unwrap();
    let h = reader.get_pinned("/counts").unwrap();
    let shm = reader.map_shm(h).unwrap();
    assert!(!shm.mapping().writable());
    assert_eq!(shm.hash_value_size(), Some(8));
    let mut v = [0u8; 8];
    assert!(!shm.hash_lookup(&7u32.to_ne_bytes(), &mut v).unwrap());
    // The program counts packets by first byte: keys appear and grow as it runs.
    for round in 1..=3u64 {
        for first in [7u8, 42, 200] {
            let mut pkt = [0u8; 60];
            pkt[0] = first;
            for _ in 0..u64::from(first % 5 + 1) {
                c.prog_test_run(prog, &pkt, 1).unwrap();
            }
        }
        for first in [7u32, 42, 200] {
            assert!(shm.hash_lookup(&first.to_ne_bytes(), &mut v).unwrap());
            let expect = round * u64::from(first % 5 + 1);
            assert_eq!(u64::from_ne_bytes(v), expect, "key {first}");
            // The round trip agrees.
            assert_eq!(
                reader.map_lookup(h, &first.to_ne_bytes()).unwrap(),
                expect.to_ne_bytes()
            );
        }
    }
    assert!(!shm.hash_lookup(&8u32.to_ne_bytes(), &mut v).unwrap());
    assert!(
        shm.hash_lookup(&[0u8; 3], &mut v).is_err(),
        "wrong key size"
    );
    // Deletions are seen too.
    c.map_delete(counts, &42u32.to_ne_bytes()).unwrap();
    assert!(!shm.hash_lookup(&42u32.to_ne_bytes(), &mut v).unwrap());
}

#[test]
fn hash_reads_stay_consistent_under_concurrent_updates() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir);
    let mut c = Client::connect(d.path()).unwrap();
    // 16-byte values whose two halves are always written equal: a torn read would differ.
    let m = c.map_create(1, 4, 16, 64, "pairs").unwrap();
    for k in 0..64u32 {
        c.map_update(m, &k.to_ne_bytes(), &[0u8; 16], 0).unwrap();
    }
    let shm = c.map_shm(m).unwrap();
    c.pin(m, "/pairs").unwrap();
    let writer = {
        let path = d.path().to_path_buf();
        std::thread::spawn(move || {
            let mut w = Client::connect(path).unwrap();
            let m = w.get_pinned("/pairs").unwrap();
            for i in 1..=2000u64 {
                let mut v = [0u8; 16];
                v[..8].copy_from_slice(&i.to_ne_bytes());
                v[8..].copy_from_slice(&i.to_ne_bytes());
                w.map_update(m, &((i % 64) as u32).to_ne_bytes(), &v, 0)
                    .unwrap();
            }
        })
    };
    let mut v = [0u8; 16];
    let mut reads = 0u64;
    while !writer.is_finished() || reads < 1000 {
        let k = (reads % 64) as u32;
        assert!(shm.hash_lookup(&k.to_ne_bytes(), &mut v).unwrap());
        assert_eq!(v[..8], v[8..], "a torn value");
        reads += 1;
    }
    writer.join().unwrap();
}

#[test]
fn state_dir_keeps_flags_and_frozen_state() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        socket: Some(dir.path().join("s.sock")),
        state_dir: Some(dir.path().join("state")),
        ..Config::default()
    };
    const BPF_F_RDONLY: u32 = 1 << 3;
    let d = Server::bind(config.clone()).unwrap().spawn().unwrap();
    let mut c = Client::connect(d.path()).unwrap();
    let ro = c
        .call(&waggle_daemon::proto::Request::MapCreate {
            map_type: 2,
            key_size: 4,
            value_size: 8,
            max_entries: 4,
            flags: BPF_F_RDONLY,
            name: "ro".into(),
        })
        .unwrap();
    let waggle_daemon::proto::Response::Handle(ro) = ro else {
        panic!("no handle")
    };
    c.pin(ro, "/ro").unwrap();
    let frozen = c.map_create(1, 4, 8, 4, "frozen").unwrap();
    c.map_update(frozen, &3u32.to_ne_bytes(), &33u64.to_ne_bytes(), 0)
        .unwrap();
    c.map_freeze(frozen).unwrap();
    c.pin(frozen, "/frozen").unwrap();
    drop(c);
    d.stop().unwrap();

    let d = Server::bind(config).unwrap().spawn().unwrap();
    let mut c = Client::connect(d.path()).unwrap();
    let ro = c.get_pinned("/ro").unwrap();
    let ObjInfo::Map { map_flags, .. } = c.info(ro).unwrap() else {
        panic!("not a map")
    };
    assert_eq!(map_flags & BPF_F_RDONLY, BPF_F_RDONLY, "BPF_F_RDONLY kept");
    assert!(
        c.map_update(ro, &0u32.to_ne_bytes(), &1u64.to_ne_bytes(), 0)
            .is_err()
    );
    let f = c.get_pinned("/frozen").unwrap();
    let ObjInfo::Map { frozen, .. } = c.info(f).unwrap() else {
        panic!("not a map")
    };
    assert!(frozen, "still frozen");
    assert_eq!(
        c.map_lookup(f, &3u32.to_ne_bytes()).unwrap(),
        33u64.to_ne_bytes(),
        "contents restored before freezing"
    );
    assert!(
        c.map_update(f, &3u32.to_ne_bytes(), &1u64.to_ne_bytes(), 0)
            .is_err()
    );
}

#[test]
fn exec_events_link_feeds_a_blocking_ring_buffer_reader() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(&dir);
    let mut c = Client::connect(d.path()).unwrap();
    let obj = load(&mut c, "examples/execsnoop.bpf.o");
    let on_exec = obj.program("on_exec").unwrap();
    let on_exit = obj.program("on_exit").unwrap();
    let link = match c.attach(on_exec, AttachSource::ProcEvents { exit: false }, 0) {
        Ok(l) => l,
        Err(e) => {
            println!("SKIPPED: the daemon cannot listen to the process connector here: {e}");
            return;
        }
    };
    // The second program joins the running listener (one source for both hooks).
    let _exit = c
        .attach(on_exit, AttachSource::ProcEvents { exit: true }, 0)
        .unwrap();
    assert_eq!(d.runtime().hook_names().len(), 2);
    let rb = c.map_shm(obj.map("execs").unwrap()).unwrap();
    let child = std::process::Command::new("sleep")
        .arg("0.1")
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut child = child;
    child.wait().unwrap();
    let mut found = None;
    while found.is_none() {
        assert!(
            rb.ringbuf_wait(Duration::from_secs(30)).unwrap(),
            "no exec record for pid {pid}"
        );
        rb.ringbuf_consume(|r| {
            if u32::from_ne_bytes(r[..4].try_into().unwrap()) == pid {
                found = Some(r[4..20].to_vec());
            }
        })
        .unwrap();
    }
    assert!(found.unwrap().starts_with(b"sleep\0"));
    c.close(link).unwrap();
    assert_eq!(
        d.runtime().hook_names().len(),
        2,
        "the exit link keeps the listener"
    );
    drop(c);
    wait_until("listener stopped", || d.runtime().hook_names().is_empty());
}

/// Deletes network namespaces when dropped.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .status();
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let o = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Moves this thread into network namespace `ns` (threads it starts inherit it).
fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&f),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .unwrap();
}

#[test]
fn iface_link_runs_xdp_on_frames_of_a_veth_in_a_namespace() {
    let id = std::process::id() % 100_000;
    let (na, nb) = (format!("wgd{id}a"), format!("wgd{id}b"));
    let (va, vb) = (format!("wda{id}"), format!("wdb{id}"));
    let _guard = Namespaces(vec![na.clone(), nb.clone()]);
    let setup = (|| {
        ip(&["netns", "add", &na])?;
        ip(&["netns", "add", &nb])?;
        ip(&[
            "link", "add", &va, "netns", &na, "type", "veth", "peer", "name", &vb, "netns", &nb,
        ])?;
        ip(&["-n", &na, "addr", "add", "10.198.0.1/24", "dev", &va])?;
        ip(&["-n", &nb, "addr", "add", "10.198.0.2/24", "dev", &vb])?;
        ip(&["-n", &na, "link", "set", &va, "up"])?;
        ip(&["-n", &nb, "link", "set", &vb, "up"])
    })();
    if let Err(e) = setup {
        println!("SKIPPED: cannot make network namespaces and a veth pair here: {e}");
        return;
    }
    // The daemon runs in namespace B (its threads are started from a thread inside it).
    let dir = tempfile::tempdir().unwrap();
    let d = {
        let (nb, path) = (nb.clone(), dir.path().join("waggle.sock"));
        std::thread::spawn(move || {
            enter(&nb);
            Server::bind(Config {
                socket: Some(path),
                ..Config::default()
            })
            .unwrap()
            .spawn()
            .unwrap()
        })
        .join()
        .unwrap()
    };
    let mut c = Client::connect(d.path()).unwrap();
    let obj = load(&mut c, "tests/progs/hooks.bpf.o");
    let shm = c.map_shm(obj.map("counts").unwrap()).unwrap();
    let e = c
        .attach(
            obj.program("xdp_udp9999").unwrap(),
            AttachSource::Iface {
                name: "no-such-if0".into(),
            },
            0,
        )
        .unwrap_err();
    assert_eq!(e.errno(), Some(errno::ENODEV), "{e}");
    let link = c
        .attach(
            obj.program("xdp_udp9999").unwrap(),
            AttachSource::Iface { name: vb.clone() },
            0,
        )
        .unwrap();
    assert_eq!(d.runtime().hook_names(), vec![format!("xdp:{vb}")]);
    const N: u64 = 20;
    let sender = std::thread::spawn(move || {
        enter(&na);
        let s = std::net::UdpSocket::bind("10.198.0.1:0").unwrap();
        for i in 0..N {
            s.send_to(format!("datagram {i}").as_bytes(), "10.198.0.2:9999")
                .unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    sender.join().unwrap();
    // Slot 13 counts the program's drops of UDP port 9999.
    wait_until("datagrams seen", || shm.array_u64(13, 0) == Some(N));
    c.close(link).unwrap();
    assert!(d.runtime().hook_names().is_empty());
    d.stop().unwrap();
}

#[test]
fn state_dir_reloads_pinned_programs_with_their_pinned_maps() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        socket: Some(dir.path().join("s.sock")),
        state_dir: Some(dir.path().join("state")),
        ..Config::default()
    };
    let d = Server::bind(config.clone()).unwrap().spawn().unwrap();
    let mut c = Client::connect(d.path()).unwrap();
    let obj = load(&mut c, "tests/progs/hooks.bpf.o");
    c.pin(obj.program("tick").unwrap(), "/tick").unwrap();
    let counts = obj.map("counts").unwrap();
    c.map_update(counts, &10u32.to_ne_bytes(), &1000u64.to_ne_bytes(), 0)
        .unwrap();
    c.pin(counts, "/counts").unwrap();
    drop(c);
    d.stop().unwrap();

    let d = Server::bind(config.clone()).unwrap().spawn().unwrap();
    let mut c = Client::connect(d.path()).unwrap();
    let mut pins = c.pins().unwrap();
    pins.sort();
    assert_eq!(pins, vec!["/counts".to_string(), "/tick".to_string()]);
    let tick = c.get_pinned("/tick").unwrap();
    let counts = c.get_pinned("/counts").unwrap();
    let ObjInfo::Program { name, map_ids, .. } = c.info(tick).unwrap() else {
        panic!("not a program")
    };
    let ObjInfo::Map { id: counts_id, .. } = c.info(counts).unwrap() else {
        panic!("not a map")
    };
    assert_eq!(name, "tick");
    assert!(
        map_ids.contains(&counts_id),
        "the program uses the restored map"
    );
    // The restored program runs on the restored map: its count goes on from 1000.
    let shm = c.map_shm(counts).unwrap();
    assert_eq!(shm.array_u64(10, 0), Some(1000));
    let link = c
        .attach(
            tick,
            AttachSource::Every {
                period_ns: 1_000_000,
            },
            0,
        )
        .unwrap();
    wait_until("restored program runs", || {
        shm.array_u64(10, 0).unwrap() > 1000
    });
    c.close(link).unwrap();
    // Saved again on this shutdown: a third start still has both.
    drop(shm);
    drop(c);
    d.stop().unwrap();
    let d = Server::bind(config).unwrap().spawn().unwrap();
    let mut c = Client::connect(d.path()).unwrap();
    assert_eq!(c.pins().unwrap().len(), 2);
    let counts = c.get_pinned("/counts").unwrap();
    let v = c.map_lookup(counts, &10u32.to_ne_bytes()).unwrap();
    assert!(u64::from_ne_bytes(v.try_into().unwrap()) > 1000);
}
