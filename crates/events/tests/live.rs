//! A live interface end to end: the test makes two network namespaces joined by a veth pair,
//! listens on one end with `LiveSocket` (XDP program `xdp_udp9999` of hooks.bpf.c attached)
//! and sends UDP datagrams from the other; the program's count and the verdicts checked.
//! Skips visibly where namespaces cannot be made (no `ip`, not root). The namespaces (and
//! with them the veth pair) are deleted at the end, whatever happens.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use waggle_events::{LiveSocket, PacketHook};
use waggle_runtime::{Combine, HookSpec, ProgramType, Runtime, xdp_action};

/// Deletes the namespaces when dropped.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let o = Command::new("ip")
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

/// Enter network namespace `ns` on this thread.
fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
}

#[test]
fn veth_frames_fire_the_xdp_program() {
    let id = std::process::id() % 100_000;
    let (na, nb) = (format!("wgl{id}a"), format!("wgl{id}b"));
    let (va, vb) = (format!("wva{id}"), format!("wvb{id}"));
    let guard = Namespaces(vec![na.clone(), nb.clone()]);
    let setup = (|| {
        ip(&["netns", "add", &na])?;
        ip(&["netns", "add", &nb])?;
        ip(&[
            "link", "add", &va, "netns", &na, "type", "veth", "peer", "name", &vb, "netns", &nb,
        ])?;
        ip(&["-n", &na, "addr", "add", "10.199.0.1/24", "dev", &va])?;
        ip(&["-n", &nb, "addr", "add", "10.199.0.2/24", "dev", &vb])?;
        ip(&["-n", &na, "link", "set", &va, "up"])?;
        ip(&["-n", &nb, "link", "set", &vb, "up"])
    })();
    if let Err(e) = setup {
        println!("SKIPPED: cannot make network namespaces and a veth pair here: {e}");
        return;
    }

    let obj = waggle_object::Object::open(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/progs/hooks.bpf.o"),
    )
    .unwrap();
    let rt = Runtime::new();
    let loaded = rt.load_object(&obj, 1).unwrap_or_else(|e| panic!("{e}"));
    let hook = rt
        .hook_create(
            "xdp:veth",
            HookSpec::new(ProgramType::Xdp, Combine::Continue(xdp_action::PASS)),
        )
        .unwrap();
    let link = rt
        .link_create(loaded.program("xdp_udp9999").unwrap(), "xdp:veth", 0)
        .unwrap();

    const N: u64 = 20;
    let stop = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicU64::new(0));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let listener = {
        let (stop, dropped, nb, vb) = (stop.clone(), dropped.clone(), nb.clone(), vb.clone());
        let hook = PacketHook::Xdp(hook.clone());
        std::thread::spawn(move || {
            enter(&nb);
            let sock = LiveSocket::open(&vb).unwrap();
            ready_tx.send(()).unwrap();
            sock.run(
                &hook,
                &stop,
                |_| {},
                |s| dropped.store(s.verdicts[xdp_action::DROP as usize], Ordering::Relaxed),
            )
        })
    };
    ready_rx.recv().unwrap();
    let sender = {
        let na = na.clone();
        std::thread::spawn(move || {
            enter(&na);
            let s = std::net::UdpSocket::bind("10.199.0.1:0").unwrap();
            for i in 0..N {
                s.send_to(format!("datagram {i}").as_bytes(), "10.199.0.2:9999")
                    .unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    sender.join().unwrap();
    // Bounded wait for the frames to be processed; the checks do not depend on the time.
    let deadline = Instant::now() + Duration::from_secs(10);
    while dropped.load(Ordering::Relaxed) < N && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let stats = listener.join().unwrap().unwrap();
    assert_eq!(stats.errors, 0, "{:?}", stats.first_error);
    assert_eq!(stats.verdicts[xdp_action::DROP as usize], N, "{stats:?}");
    let v = rt
        .map_lookup_elem(loaded.map("counts").unwrap(), &13u32.to_ne_bytes())
        .unwrap();
    assert_eq!(u64::from_ne_bytes(v[..8].try_into().unwrap()), N);
    assert!(stats.packets >= N, "ARP and the datagrams: {stats:?}");
    rt.close(link).unwrap();
    loaded.close(&rt);
    drop(guard);
}
