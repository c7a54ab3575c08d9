//! Embedding Waggle in an application: the application declares a hook named `connect` whose
//! context is its own `#[repr(C)]` struct, loads `acl.bpf.o` (a policy written in C),
//! attaches its program to the hook, and asks the hook from several threads whether each
//! request may go on. The program counts requests per uid in a map the application reads.
//!
//! Run: `cargo run --release -p waggle-example-embed`.

use std::collections::BTreeMap;
use waggle_runtime::{AppHook, Combine, CtxAccess, Runtime};

/// The application's request, exactly as `struct conn` in `acl.bpf.c`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Conn {
    uid: u32,
    port: u16,
    flags: u16,
    bytes: u64,
}

/// The policy object, built by `scripts/build-progs.sh` from `acl.bpf.c`.
const ACL: &[u8] = include_bytes!("../acl.bpf.o");

/// What a run of the example found.
#[derive(Debug, Default, PartialEq, Eq)]
struct Summary {
    allowed: u64,
    denied: u64,
    /// Requests per uid, read from the program's `per_uid` map.
    per_uid: BTreeMap<u32, u64>,
}

/// The request number `i`: uids 0..4, ports among 22, 23, 80, 8080.
fn request(i: u64) -> Conn {
    Conn {
        uid: (i % 4) as u32,
        port: [22, 23, 80, 8080][(i / 4 % 4) as usize],
        flags: 0,
        bytes: i,
    }
}

/// Load the policy, attach it, fire `per_thread` requests from each of `threads` threads.
fn run(threads: u64, per_thread: u64) -> Result<Summary, String> {
    let rt = Runtime::new();
    // Requests are allowed unless a program says otherwise: the first non-zero answer wins.
    let hook: AppHook<Conn> = rt
        .app_hook("connect", CtxAccess::ReadOnly, Combine::Continue(0))
        .map_err(|e| e.to_string())?;
    let object = waggle_object::Object::parse(ACL).map_err(|e| e.to_string())?;
    let loaded = rt.load_object(&object, 1).map_err(|e| e.to_string())?;
    let prog = loaded.program("check_conn").ok_or("no check_conn")?;
    let link = rt
        .link_create(prog, "connect", 0)
        .map_err(|e| e.to_string())?;

    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let hook = hook.clone();
            std::thread::spawn(move || {
                let (mut allowed, mut denied) = (0, 0);
                for i in 0..per_thread {
                    let mut c = request(t * per_thread + i);
                    match hook.fire(&mut c) {
                        Ok(0) => allowed += 1,
                        Ok(_) => denied += 1,
                        Err(e) => panic!("policy failed: {e}"),
                    }
                }
                (allowed, denied)
            })
        })
        .collect();
    let mut s = Summary::default();
    for w in workers {
        let (a, d) = w.join().map_err(|_| "a worker panicked")?;
        s.allowed += a;
        s.denied += d;
    }
    let map = loaded.map("per_uid").ok_or("no per_uid map")?;
    for (k, v) in rt.map_dump(map).map_err(|e| e.to_string())? {
        let uid = u32::from_ne_bytes(k[..4].try_into().map_err(|_| "bad key")?);
        let n = u64::from_ne_bytes(v[..8].try_into().map_err(|_| "bad value")?);
        s.per_uid.insert(uid, n);
    }
    // Detach and unload: closing the link's and the object's handles frees everything.
    rt.close(link).map_err(|e| e.to_string())?;
    loaded.close(&rt);
    Ok(s)
}

fn main() {
    match run(4, 10_000) {
        Ok(s) => {
            println!("allowed {}, denied {}", s.allowed, s.denied);
            for (uid, n) in &s.per_uid {
                println!("uid {uid}: {n} requests");
            }
        }
        Err(e) => {
            eprintln!("embed example: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_decides_and_counts_like_the_rust_model() {
        let (threads, per_thread) = (3, 500);
        let s = run(threads, per_thread).unwrap();
        let mut want = Summary::default();
        for i in 0..threads * per_thread {
            let c = request(i);
            if c.port == 23 || (c.port < 1024 && c.uid != 0) {
                want.denied += 1;
            } else {
                want.allowed += 1;
            }
            *want.per_uid.entry(c.uid).or_default() += 1;
        }
        assert_eq!(s, want);
        assert!(s.denied > 0 && s.allowed > 0);
    }
}
