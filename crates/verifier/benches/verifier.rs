//! Verification time and memory: every corpus program, and generated programs of 1 K to 1 M
//! instructions (straight-line, branchy, bounded loops), next to the Linux verifier's time for
//! the same programs (`BPF_PROG_LOAD` at log level 0, as root; skipped visibly otherwise).
//!
//! - `cargo bench -p waggle-verifier --bench verifier`: divan timings of ours and the
//!   kernel's loads (corpus and generated programs up to 100 K instructions).
//! - `WAGGLE_VERIFIER_REPORT=1 cargo bench -p waggle-verifier --bench verifier`: the tables of
//!   BENCHMARKS.md ("## Verifier"): medians of repeated runs, instructions processed by each
//!   verifier (ours: `Stats::insns_processed`; Linux: `bpf_prog_info.verified_insns`), our
//!   peak heap, and the ratio, for every corpus program and every size up to 1 M.

#[path = "../tests/common/kernel_load.rs"]
mod kernel_load;
#[path = "../tests/common/objects.rs"]
#[allow(dead_code)]
mod objects;
mod peak;

use std::hint::black_box;
use std::time::{Duration, Instant};
use waggle_isa::{Insn, assemble, encode};
use waggle_object::Object;
use waggle_uapi::ProgramType;
use waggle_verifier::{Options, verify};

#[global_allocator]
static ALLOC: peak::Counting = peak::Counting;

/// A program to verify, with what the kernel needs to load it.
struct Case {
    name: String,
    input: objects::Input,
    /// Kernel maps of its object (`None`: the kernel cannot load it here, with why).
    kernel: Result<std::rc::Rc<Vec<Option<std::os::fd::OwnedFd>>>, String>,
}

fn kernel_ok() -> Result<(), String> {
    waggle_kernel::probe()
}

fn corpus_cases() -> Vec<Case> {
    let kernel = kernel_ok();
    let mut out = Vec::new();
    for path in objects::corpus() {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let obj = Object::open(&path).unwrap();
        let fds = match &kernel {
            Ok(()) => kernel_load::object_maps(&obj).map(std::rc::Rc::new),
            Err(e) => Err(e.clone()),
        };
        for p in &obj.programs {
            let input = objects::Input::new(&obj, p);
            let kernel = if kernel_load::needs_btf(input.prog_type)
                || !input.kfuncs.is_empty()
                || kernel_load::has_func(&input.insns)
            {
                Err("needs BTF ids or func_info".into())
            } else {
                fds.clone()
            };
            out.push(Case {
                name: format!("{}:{}", file.trim_end_matches(".bpf.o"), p.name),
                input,
                kernel,
            });
        }
    }
    out
}

/// Program shapes of the scaling benchmark.
const SHAPES: [&str; 3] = ["straight", "branchy", "loops"];
/// Program sizes (slots) of the scaling benchmark.
const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// A generated XDP program of exactly `n` slots.
///
/// - `straight`: ALU instructions on known numbers, no branch.
/// - `branchy`: diamonds on a fresh random number (`call bpf_get_prandom_u32; if r0 > K`),
///   each side writing r6, which the next diamond overwrites (so states merge again).
/// - `loops`: `for (i = 0; i < 4; i++) sum += i;` repeated: every loop runs 4 times.
fn generate(shape: &str, n: usize) -> Vec<Insn> {
    let mut t = String::with_capacity(n * 20);
    t.push_str("mov %r0, 0\nmov %r1, 1\nmov %r2, 2\nmov %r7, 0\n");
    let mut used = 4;
    let tail = 2; // mov %r0, 0; exit
    let (block, len): (&dyn Fn(usize) -> String, usize) = match shape {
        "straight" => (
            &|i| {
                format!(
                    "add %r0, %r1\nxor %r2, %r0\nmov %r3, %r2\nlsh %r3, {}\n",
                    i % 31
                )
            },
            4,
        ),
        "branchy" => (
            &|i| {
                format!(
                    "call 7\njgt %r0, {}, +2\nmov %r6, 1\nja +1\nmov %r6, 2\nmov %r7, %r6\n",
                    i % 1000
                )
            },
            6,
        ),
        _ => (
            &|_| "mov %r1, 0\nadd %r2, %r1\nadd %r1, 1\njlt %r1, 4, -3\n".to_string(),
            4,
        ),
    };
    let mut i = 0;
    while used + len + tail <= n {
        t.push_str(&block(i));
        used += len;
        i += 1;
    }
    while used + tail < n {
        t.push_str("mov %r4, 1\n");
        used += 1;
    }
    t.push_str("mov %r0, 0\nexit\n");
    assemble(&t).expect("generated program assembles")
}

fn generated(shape: &str, n: usize) -> Case {
    let insns = generate(shape, n);
    Case {
        name: format!("{shape}/{n}"),
        input: objects::Input {
            insns,
            maps: Vec::new(),
            lines: Vec::new(),
            kfuncs: Vec::new(),
            prog_type: ProgramType::Xdp,
        },
        kernel: kernel_ok().map(|()| std::rc::Rc::new(Vec::new())),
    }
}

fn ours(c: &Case) -> Result<waggle_verifier::Stats, String> {
    verify(&c.input.program(), &Options::default()).map_err(|r| r.message)
}

/// Load `c` into the kernel; the fd, or the refusal.
fn kernel_load_once(c: &Case, code: &[u8]) -> Result<std::os::fd::OwnedFd, String> {
    waggle_kernel::prog_load(&waggle_kernel::ProgLoad {
        prog_type: c.input.prog_type.as_u32(),
        insns: code,
        license: "GPL",
        name: "bench",
        expected_attach_type: kernel_load::attach_type(c.input.prog_type),
        prog_flags: 0,
    })
    .map_err(|e| {
        let last = e
            .log
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        format!("{}: {last}", e.error)
    })
}

fn kernel_code(c: &Case) -> Result<Vec<u8>, String> {
    let fds = c.kernel.as_ref().map_err(Clone::clone)?;
    Ok(encode(&kernel_load::patch(&c.input.insns, fds)?))
}

fn main() {
    // For profilers: verify one generated program (`shape/size`) or corpus program repeatedly
    // for about 5 s.
    if let Ok(name) = std::env::var("WAGGLE_VERIFIER_PROFILE") {
        let c = if name.contains(':') {
            find(&name)
        } else {
            parse(&name)
        };
        // `WAGGLE_VERIFIER_RUNS=<n>`: exactly n runs instead, for counting instructions
        // (`perf stat -e instructions:u`), which a loaded machine does not disturb.
        if let Some(n) = std::env::var("WAGGLE_VERIFIER_RUNS")
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
        {
            // With `WAGGLE_VERIFIER_MEDIAN=1`, print the median wall time of the n runs (for
            // A/B comparisons of two builds on a busy machine: a median ignores the runs other
            // processes interrupted).
            let mut times = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let t = Instant::now();
                drop(black_box(ours(&c)));
                times.push(t.elapsed());
            }
            if std::env::var_os("WAGGLE_VERIFIER_MEDIAN").is_some() && n > 0 {
                times.sort_unstable();
                println!("{}", us(times[times.len() / 2]));
            }
            return;
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            drop(black_box(ours(&c)));
        }
        return;
    }
    if std::env::var_os("WAGGLE_VERIFIER_REPORT").is_some() {
        report();
        return;
    }
    if let Err(e) = kernel_ok() {
        eprintln!("SKIPPED: kernel benches: {e}");
    }
    divan::main();
}

fn corpus_names() -> Vec<String> {
    corpus_cases().into_iter().map(|c| c.name).collect()
}

fn find(name: &str) -> Case {
    corpus_cases().into_iter().find(|c| c.name == name).unwrap()
}

#[divan::bench(args = corpus_names(), sample_count = 30)]
fn corpus_ours(b: divan::Bencher, name: &str) {
    let c = find(name);
    b.bench_local(|| black_box(ours(&c)));
}

#[divan::bench(args = corpus_names(), sample_count = 10)]
fn corpus_kernel(b: divan::Bencher, name: &str) {
    let c = find(name);
    let Ok(code) = kernel_code(&c) else { return };
    b.bench_local(|| drop(black_box(kernel_load_once(&c, &code))));
}

fn scaling_names() -> Vec<String> {
    SHAPES
        .iter()
        .flat_map(|s| SIZES[..3].iter().map(move |n| format!("{s}/{n}")))
        .collect()
}

fn parse(name: &str) -> Case {
    let (s, n) = name.split_once('/').unwrap();
    generated(s, n.parse().unwrap())
}

#[divan::bench(args = scaling_names(), sample_count = 10)]
fn scaling_ours(b: divan::Bencher, name: &str) {
    let c = parse(name);
    b.bench_local(|| black_box(ours(&c)));
}

#[divan::bench(args = scaling_names(), sample_count = 5)]
fn scaling_kernel(b: divan::Bencher, name: &str) {
    let c = parse(name);
    let Ok(code) = kernel_code(&c) else { return };
    b.bench_local(|| drop(black_box(kernel_load_once(&c, &code))));
}

/// Median wall time of `f` over runs until `budget` is spent (at least 3, at most 101 runs).
fn median(budget: Duration, mut f: impl FnMut()) -> Duration {
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || (start.elapsed() < budget && times.len() < 101) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort_unstable();
    times[times.len() / 2]
}

fn us(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// One table row: ours and the kernel's numbers for `c`.
fn row(c: &Case, budget: Duration) -> String {
    // From an empty buffer pool, so the peak counts every buffer the verification needs.
    waggle_verifier::release_buffers();
    let (res, peak) = peak::peak_during(|| ours(c));
    let ours_t = median(budget, || drop(black_box(ours(c))));
    let ours_col = match &res {
        Ok(s) => format!(
            "accepted | {} | {} | {:.0} KiB",
            s.insns_processed,
            us(ours_t),
            peak as f64 / 1024.0
        ),
        Err(m) => format!(
            "refused ({m}) | - | {} | {:.0} KiB",
            us(ours_t),
            peak as f64 / 1024.0
        ),
    };
    let kernel_col = match kernel_code(c) {
        Err(e) => format!("n/a ({e}) | - | - | -"),
        Ok(code) => match kernel_load_once(c, &code) {
            Ok(fd) => {
                let vi = waggle_kernel::prog_verified_insns(&fd)
                    .map_or_else(|e| e.to_string(), |v| v.to_string());
                drop(fd);
                let kt = median(budget, || drop(black_box(kernel_load_once(c, &code))));
                let ratio = kt.as_secs_f64() / ours_t.as_secs_f64();
                format!("accepted | {vi} | {} | **{ratio:.1}x**", us(kt))
            }
            Err(e) => {
                let kt = median(budget, || drop(black_box(kernel_load_once(c, &code))));
                let ratio = kt.as_secs_f64() / ours_t.as_secs_f64();
                format!("refused ({e}) | - | {} | {ratio:.1}x", us(kt))
            }
        },
    };
    format!(
        "| {} | {} | {ours_col} | {kernel_col} |",
        c.name,
        c.input.insns.len()
    )
}

fn report() {
    if let Err(e) = kernel_ok() {
        println!("SKIPPED: kernel columns: {e}");
    }
    let budget = Duration::from_millis(300);
    println!(
        "| program | slots | ours | ours processed | ours time | ours peak heap | Linux | Linux verified_insns | Linux time | Linux / ours |"
    );
    println!("|---|---:|---|---:|---:|---:|---|---:|---:|---:|");
    // `WAGGLE_VERIFIER_REPORT=<text>`: only the rows whose name contains it.
    let only = std::env::var("WAGGLE_VERIFIER_REPORT").unwrap_or_default();
    let only = if only == "1" { String::new() } else { only };
    for c in corpus_cases()
        .into_iter()
        .filter(|c| c.name.contains(&only))
    {
        println!("{}", row(&c, budget));
    }
    println!();
    println!(
        "| shape/size | slots | ours | ours processed | ours time | ours peak heap | Linux | Linux verified_insns | Linux time | Linux / ours |"
    );
    println!("|---|---:|---|---:|---:|---:|---|---:|---:|---:|");
    for s in SHAPES {
        for n in SIZES {
            if format!("{s}/{n}").contains(&only) {
                println!("{}", row(&generated(s, n), Duration::from_millis(1000)));
            }
        }
    }
}
