//! Helpers end to end: programs assembled, loaded with `prog_load` (maps referenced by
//! handle), run with `prog_test_run`; return values, data, context, map contents and ring
//! buffer records checked.

use waggle_isa::{CallTarget, Insn, asm::assemble};
use waggle_maps::{MapSpec, MapType, PerfRecord};
use waggle_runtime::{Handle, MapCreate, ProgLoad, ProgramType, Runtime, TestRun, TestRunResult};

/// Assemble `text`; `lddw func %rN, LABEL` loads a pointer to the function at `LABEL`.
fn asm(text: &str) -> Vec<Insn> {
    let mut probe = String::new();
    let mut regs = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix("lddw func ") {
            let (reg, label) = rest.split_once(',').expect("lddw func %rN, LABEL");
            probe.push_str(&format!("call local {}\nja +0\n", label.trim()));
            regs.push(reg.trim().to_string());
        } else {
            probe.push_str(line);
            probe.push('\n');
        }
    }
    let p = assemble(&probe).expect("assembles");
    let offs: Vec<i32> = p
        .windows(2)
        .filter_map(|w| match (w[0], w[1]) {
            (Insn::Call(CallTarget::Local(off)), Insn::Ja { off: 0, .. }) => Some(off),
            _ => None,
        })
        .collect();
    let mut out = String::new();
    let mut k = 0;
    for line in text.lines() {
        if line.trim().starts_with("lddw func ") {
            out.push_str(&format!("lddw func {}, {}\n", regs[k], offs[k]));
            k += 1;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assemble(&out).expect("assembles")
}

fn map(rt: &Runtime, spec: MapSpec) -> Handle {
    rt.map_create(&MapCreate::new(spec, "m")).expect("map")
}

/// Load `text`. Programs of Waggle's plain type (r1 = data, r2 = length: no context the
/// verifier can bound) are raw test code and skip the verifier explicitly, as `waggle exec`
/// does; many of them exercise the helpers' own run-time checks on inputs the verifier would
/// refuse. Programs of kernel types are verified.
fn load(rt: &Runtime, prog_type: ProgramType, text: &str) -> Handle {
    rt.prog_load(&ProgLoad {
        prog_type,
        name: "t".into(),
        insns: asm(text),
        license: "GPL".into(),
        log_level: 1,
        skip_verifier: prog_type == ProgramType::PLAIN,
        ..ProgLoad::default()
    })
    .unwrap_or_else(|e| panic!("load: {e}"))
}

fn run(rt: &Runtime, prog: Handle, data: &[u8]) -> TestRunResult {
    rt.prog_test_run(
        prog,
        &TestRun {
            data_in: data,
            ..TestRun::default()
        },
    )
    .expect("test run")
}

fn neg(errno: i64) -> u64 {
    (-errno) as u64
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().unwrap())
}

// ---- ring buffer, perf buffer ----

#[test]
fn ringbuf_reserve_submit_discard_output_query() {
    let rt = Runtime::new();
    let rb = map(&rt, MapSpec::new(MapType::Ringbuf, 0, 0, 4096));
    let p = load(
        &rt,
        ProgramType::Unspec,
        &format!(
            "
    mov %r7, %r1
    lddw map_fd %r1, {rb}
    mov %r2, 16
    mov %r3, 0
    call 131
    jeq %r0, 0, fail
    mov %r6, %r0
    lddw %r1, 0x1122334455667788
    stxdw [%r6], %r1
    stxdw [%r6+8], %r1
    mov %r1, %r6
    mov %r2, 0
    call 132
    lddw map_fd %r1, {rb}
    mov %r2, 8
    mov %r3, 0
    call 131
    jeq %r0, 0, fail
    mov %r1, %r0
    mov %r2, 1
    call 133
    lddw map_fd %r1, {rb}
    mov %r2, %r7
    mov %r3, 4
    mov %r4, 0
    call 130
    jne %r0, 0, fail
    lddw map_fd %r1, {rb}
    mov %r2, 1
    call 134
    stxdw [%r7+8], %r0
    lddw map_fd %r1, {rb}
    mov %r2, 0
    call 134
    exit
fail:
    mov %r0, -1
    exit
"
        ),
    );
    let r = run(&rt, p, &[9, 8, 7, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Records of 16 + 8, 8 + 8 (discarded) and 4 + 8 bytes, each rounded up to 8.
    assert_eq!(r.retval, 24 + 16 + 16);
    assert_eq!(u64_at(&r.data_out, 8), 4096);
    let m = rt.map(rb).unwrap();
    let mut samples = Vec::new();
    m.inner
        .as_ringbuf()
        .unwrap()
        .consume(|s| samples.push(s.to_vec()));
    let mut first = 0x1122334455667788u64.to_ne_bytes().to_vec();
    first.extend_from_slice(&0x1122334455667788u64.to_ne_bytes());
    assert_eq!(samples, vec![first, vec![9, 8, 7, 6]]);
}

#[test]
fn ringbuf_reservations_left_open_are_discarded_and_foreign_pointers_refused() {
    let rt = Runtime::new();
    let rb = map(&rt, MapSpec::new(MapType::Ringbuf, 0, 0, 4096));
    let leak = load(
        &rt,
        ProgramType::Unspec,
        &format!("lddw map_fd %r1, {rb}\nmov %r2, 8\nmov %r3, 0\ncall 131\nmov %r0, 0\nexit"),
    );
    assert_eq!(run(&rt, leak, &[]).retval, 0);
    let out = load(
        &rt,
        ProgramType::Unspec,
        &format!("mov %r2, %r1\nlddw map_fd %r1, {rb}\nmov %r3, 2\nmov %r4, 0\ncall 130\nexit"),
    );
    assert_eq!(run(&rt, out, &[1, 2]).retval, 0);
    let mut samples = Vec::new();
    rt.map(rb)
        .unwrap()
        .inner
        .as_ringbuf()
        .unwrap()
        .consume(|s| samples.push(s.to_vec()));
    assert_eq!(samples, vec![vec![1, 2]]);
    // Submitting memory that is no reservation stops the run.
    let bad = load(
        &rt,
        ProgramType::Unspec,
        "mov %r2, 0\ncall 132\nmov %r0, 0\nexit",
    );
    assert!(rt.prog_test_run(bad, &TestRun::default()).is_err());
    // Bad flags: NULL.
    let flags = load(
        &rt,
        ProgramType::Unspec,
        &format!("lddw map_fd %r1, {rb}\nmov %r2, 8\nmov %r3, 1\ncall 131\nexit"),
    );
    assert_eq!(run(&rt, flags, &[]).retval, 0);
}

#[test]
fn perf_event_output_to_the_current_cpu() {
    let rt = Runtime::new();
    let cpus = waggle_maps::possible_cpus();
    let perf = map(&rt, MapSpec::new(MapType::PerfEventArray, 4, 4, cpus));
    let cpu = waggle_runtime::current_cpu();
    let m = rt.map(perf).unwrap();
    let arr = m.inner.as_perf_event_array().unwrap();
    arr.open(cpu, cpu, 4096).unwrap();
    let p = load(
        &rt,
        ProgramType::Kprobe,
        &format!(
            "
    mov %r6, %r1
    lddw %r1, 0x0807060504030201
    stxdw [%r10-8], %r1
    mov %r1, %r6
    lddw map_fd %r2, {perf}
    lddw %r3, 0xffffffff
    mov %r4, %r10
    add %r4, -8
    mov %r5, 8
    call 25
    exit
"
        ),
    );
    assert_eq!(run(&rt, p, &[]).retval, 0);
    let mut got = Vec::new();
    arr.drain(cpu, |r| {
        if let PerfRecord::Sample(s) = r {
            got.push(s[..8].to_vec());
        }
    })
    .unwrap();
    assert_eq!(got, vec![vec![1, 2, 3, 4, 5, 6, 7, 8]]);
    // An index with no buffer: -ENOENT; bad flags: -EINVAL.
    let other = (cpu + 1) % cpus;
    let q = load(
        &rt,
        ProgramType::Kprobe,
        &format!(
            "stdw [%r10-8], 0\nlddw map_fd %r2, {perf}\nmov %r3, {other}\nmov %r4, %r10\nadd %r4, -8\nmov %r5, 8\ncall 25\nexit"
        ),
    );
    if other != cpu {
        assert_eq!(run(&rt, q, &[]).retval, neg(2));
    }
}

// ---- probe_read ----

#[test]
fn probe_read_copies_or_faults_with_a_zeroed_destination() {
    let rt = Runtime::new();
    let p = load(
        &rt,
        ProgramType::Unspec,
        "
    mov %r6, %r1
    mov %r1, %r10
    add %r1, -16
    mov %r2, 8
    mov %r3, %r6
    call 4
    jne %r0, 0, fail
    ldxdw %r1, [%r10-16]
    stxdw [%r6+8], %r1
    lddw %r1, -1
    stxdw [%r10-16], %r1
    mov %r1, %r10
    add %r1, -16
    mov %r2, 8
    mov %r3, 16
    call 113
    mov %r7, %r0
    ldxdw %r1, [%r10-16]
    stxdw [%r6+16], %r1
    mov %r1, %r10
    add %r1, -16
    mov %r2, 8
    mov %r3, %r6
    call 112
    add %r7, %r0
    mov %r0, %r7
    exit
fail:
    mov %r0, 1
    exit
",
    );
    let mut data = b"abcdefgh".to_vec();
    data.extend_from_slice(&[0xff; 16]);
    let r = run(&rt, p, &data);
    assert_eq!(r.retval, neg(14));
    assert_eq!(&r.data_out[8..16], b"abcdefgh");
    assert_eq!(&r.data_out[16..24], &[0; 8]);
}

#[test]
fn probe_read_str_variants_nul_terminate() {
    let rt = Runtime::new();
    let mut text = String::from("mov %r6, %r1\n");
    // (helper, size, source offset, result slot)
    for (i, (id, size, src)) in [(45, 8, 0), (114, 3, 8), (115, 8, 8), (45, 1, 0)]
        .into_iter()
        .enumerate()
    {
        text.push_str(&format!(
            "mov %r1, %r10\nadd %r1, -16\nstdw [%r10-16], -1\nmov %r2, {size}\nmov %r3, %r6\nadd %r3, {src}\ncall {id}\nstxdw [%r6+{}], %r0\nldxdw %r1, [%r10-16]\nstxdw [%r6+{}], %r1\n",
            16 + 16 * i,
            24 + 16 * i
        ));
    }
    text.push_str("mov %r1, %r10\nadd %r1, -16\nmov %r2, 8\nmov %r3, 4\ncall 114\nexit\n");
    let p = load(&rt, ProgramType::Unspec, &text);
    let mut data = b"hi\0xxxxxhello\0zz".to_vec();
    data.resize(16 + 16 * 4, 0);
    let r = run(&rt, p, &data);
    assert_eq!(r.retval, neg(14));
    let d = &r.data_out;
    assert_eq!(u64_at(d, 16), 3);
    assert_eq!(&d[24..27], b"hi\0");
    assert_eq!(u64_at(d, 32), 3);
    assert_eq!(&d[40..43], b"he\0");
    assert_eq!(u64_at(d, 48), 6);
    assert_eq!(&d[56..62], b"hello\0");
    assert_eq!(u64_at(d, 64), 1);
    assert_eq!(d[72], 0);
}

// ---- strings, checksums ----

/// A program calling helper `id` with r1..r4 given as text, storing r0 at data+off.
fn call_store(id: u32, setup: &str, off: usize) -> String {
    format!("{setup}\ncall {id}\nstxdw [%r6+{off}], %r0\n")
}

#[test]
fn strtol_and_strtoul_follow_the_kernel() {
    let rt = Runtime::new();
    let mut text = String::from("mov %r6, %r1\n");
    let cases = [
        // (helper, length, flags) on "  -0x1fzz"
        (105, 9, 0),
        (106, 9, 0),
        (105, 9, 7),
        (105, 2, 0),
    ];
    for (i, (id, len, flags)) in cases.into_iter().enumerate() {
        let setup = format!(
            "mov %r1, %r6\nmov %r2, {len}\nmov %r3, {flags}\nmov %r4, %r6\nadd %r4, {}",
            64 + 16 * i
        );
        text.push_str(&call_store(id, &setup, 72 + 16 * i));
    }
    // strtoul of "4294967296" (offset 16) with base 10; strtol overflow.
    text.push_str(&call_store(
        106,
        "mov %r1, %r6\nadd %r1, 16\nmov %r2, 10\nmov %r3, 10\nmov %r4, %r6\nadd %r4, 128",
        136,
    ));
    text.push_str(&call_store(
        105,
        "mov %r1, %r6\nadd %r1, 32\nmov %r2, 20\nmov %r3, 0\nmov %r4, %r6\nadd %r4, 144",
        152,
    ));
    text.push_str("mov %r0, 0\nexit\n");
    let p = load(&rt, ProgramType::Unspec, &text);
    let mut data = vec![0u8; 160];
    data[..9].copy_from_slice(b"  -0x1fzz");
    data[16..26].copy_from_slice(b"4294967296");
    data[32..52].copy_from_slice(b"99999999999999999999");
    let d = run(&rt, p, &data).data_out;
    assert_eq!(u64_at(&d, 72), 7);
    assert_eq!(u64_at(&d, 64) as i64, -31);
    assert_eq!(u64_at(&d, 88), neg(22));
    assert_eq!(u64_at(&d, 104), neg(22));
    assert_eq!(u64_at(&d, 120), neg(22));
    assert_eq!(u64_at(&d, 136), 10);
    assert_eq!(u64_at(&d, 128), 1 << 32);
    assert_eq!(u64_at(&d, 152), neg(34));
}

#[test]
fn strncmp_and_snprintf() {
    let rt = Runtime::new();
    let text = format!(
        "mov %r6, %r1\n{}{}{}{}{}exit\n",
        call_store(
            182,
            "mov %r1, %r6\nmov %r2, 3\nmov %r3, %r6\nadd %r3, 8",
            64
        ),
        call_store(
            182,
            "mov %r1, %r6\nmov %r2, 2\nmov %r3, %r6\nadd %r3, 8",
            72
        ),
        // args: [42, &"ok"] on the stack
        "stdw [%r10-16], 42\nmov %r1, %r6\nadd %r1, 24\nstxdw [%r10-8], %r1\n",
        call_store(
            165,
            "mov %r1, %r6\nadd %r1, 32\nmov %r2, 16\nmov %r3, %r6\nadd %r3, 48\nmov %r4, %r10\nadd %r4, -16\nmov %r5, 16",
            80,
        ),
        call_store(
            165,
            "mov %r1, %r6\nadd %r1, 88\nmov %r2, 4\nmov %r3, %r6\nadd %r3, 48\nmov %r4, %r10\nadd %r4, -16\nmov %r5, 12",
            96,
        ),
    );
    let text = text.replacen("exit\n", "mov %r0, 0\nexit\n", 1);
    let p = load(&rt, ProgramType::Unspec, &text);
    let mut data = vec![0u8; 104];
    data[..3].copy_from_slice(b"abc");
    data[8..12].copy_from_slice(b"abd\0");
    data[24..27].copy_from_slice(b"ok\0");
    data[48..60].copy_from_slice(b"x=%d y=%s\0\0\0");
    let d = run(&rt, p, &data).data_out;
    assert_eq!(u64_at(&d, 64) as i64, -1);
    assert_eq!(u64_at(&d, 72), 0);
    assert_eq!(u64_at(&d, 80), 10);
    assert_eq!(&d[32..42], b"x=42 y=ok\0");
    // data_len not a multiple of 8: -EINVAL, nothing written.
    assert_eq!(u64_at(&d, 96), neg(22));
    assert_eq!(&d[88..92], &[0; 4]);
}

#[test]
fn snprintf_truncates_and_reports_the_full_length() {
    let rt = Runtime::new();
    let text = format!(
        "mov %r6, %r1\nstdw [%r10-8], 12345\n{}mov %r0, 0\nexit\n",
        call_store(
            165,
            "mov %r1, %r6\nadd %r1, 16\nmov %r2, 4\nmov %r3, %r6\nmov %r4, %r10\nadd %r4, -8\nmov %r5, 8",
            24,
        ),
    );
    let p = load(&rt, ProgramType::Unspec, &text);
    let mut data = vec![0xaau8; 32];
    data[..8].copy_from_slice(b"n=%u!\0\0\0");
    let d = run(&rt, p, &data).data_out;
    assert_eq!(&d[16..20], b"n=1\0");
    assert_eq!(u64_at(&d, 24), 9);
}

#[test]
fn csum_diff_folds_like_the_kernel() {
    let rt = Runtime::new();
    let p = load(
        &rt,
        ProgramType::Xdp,
        "
    ldxw %r6, [%r1]
    ldxw %r8, [%r1+4]
    mov %r9, %r6
    add %r9, 16
    jgt %r9, %r8, short
    mov %r1, 0
    mov %r2, 0
    mov %r3, %r6
    mov %r4, 4
    mov %r5, 0
    call 28
    mov %r7, %r0
    mov %r1, %r6
    mov %r2, 4
    mov %r3, %r6
    add %r3, 4
    mov %r4, 4
    mov %r5, 0
    call 28
    lsh %r7, 32
    or %r0, %r7
    mov %r1, %r6
    mov %r2, 3
    mov %r3, %r6
    mov %r4, 4
    mov %r5, 0
    call 28
    stxdw [%r6+8], %r0
    mov %r0, %r7
    rsh %r0, 32
    exit
short:
    mov %r0, 0
    exit
",
    );
    let mut data = vec![0u8; 64];
    data[..8].copy_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x79]);
    let r = run(&rt, p, &data);
    assert_eq!(r.retval, 0xac68);
    assert_eq!(u64_at(&r.data_out, 8), neg(22));
    let p2 = load(
        &rt,
        ProgramType::Xdp,
        "ldxw %r6, [%r1]\nldxw %r8, [%r1+4]\nmov %r9, %r6\nadd %r9, 8\njgt %r9, %r8, +8\nmov %r1, %r6\nmov %r2, 4\nmov %r3, %r6\nadd %r3, 4\nmov %r4, 4\nmov %r5, 0\ncall 28\nexit\nmov %r0, 0\nexit",
    );
    assert_eq!(run(&rt, p2, &data).retval, 0x100);
}

// ---- task, tracing ----

fn status_id(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn current_task_helpers_describe_this_process() {
    let rt = Runtime::new();
    let p = load(
        &rt,
        ProgramType::Unspec,
        "
    mov %r6, %r1
    call 14
    stxdw [%r6], %r0
    call 15
    stxdw [%r6+8], %r0
    mov %r1, %r6
    add %r1, 16
    mov %r2, 16
    call 16
    exit
",
    );
    let r = run(&rt, p, &[0xffu8; 32]);
    assert_eq!(r.retval, 0);
    let d = &r.data_out;
    assert_eq!(u64_at(d, 0) >> 32, u64::from(std::process::id()));
    assert_ne!(u64_at(d, 0) as u32, 0);
    assert_eq!(u64_at(d, 8), status_id("Gid:") << 32 | status_id("Uid:"));
    let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
    let comm = comm.trim_end().as_bytes();
    assert_eq!(&d[16..16 + comm.len()], comm);
    assert!(d[16 + comm.len()..32].iter().all(|&b| b == 0));
}

#[test]
fn tracing_helpers_without_an_event() {
    let rt = Runtime::new();
    let p = load(
        &rt,
        ProgramType::Kprobe,
        "
    mov %r6, %r1
    call 173
    mov %r7, %r0
    mov %r1, %r6
    call 174
    add %r7, %r0
    stdw [%r10-8], -1
    mov %r1, %r6
    mov %r2, %r10
    add %r2, -64
    mov %r3, 64
    mov %r4, 0
    call 67
    add %r7, %r0
    ldxdw %r0, [%r10-8]
    add %r7, %r0
    mov %r1, %r6
    mov %r2, %r10
    add %r2, -64
    mov %r3, 64
    mov %r4, 2048
    call 67
    lsh %r0, 32
    or %r0, %r7
    exit
",
    );
    // func_ip 0, cookie 0, no frames, the buffer zeroed; BPF_F_USER_BUILD_ID alone: -EINVAL.
    assert_eq!(run(&rt, p, &[]).retval, neg(22) << 32);
}

// ---- XDP ----

fn xdp_run(rt: &Runtime, text: &str, data: &[u8]) -> TestRunResult {
    let p = load(rt, ProgramType::Xdp, text);
    run(rt, p, data)
}

fn packet() -> Vec<u8> {
    (0..64).collect()
}

#[test]
fn xdp_adjust_head_moves_data() {
    let rt = Runtime::new();
    let grow = xdp_run(&rt, "mov %r2, -4\ncall 44\nexit", &packet());
    assert_eq!(grow.retval, 0);
    assert_eq!(grow.data_out.len(), 68);
    assert_eq!(&grow.data_out[4..], &packet()[..]);
    let shrink = xdp_run(&rt, "mov %r2, 10\ncall 44\nexit", &packet());
    assert_eq!(shrink.retval, 0);
    assert_eq!(shrink.data_out, packet()[10..].to_vec());
    // Into the xdp_frame area, or leaving less than an Ethernet header: -EINVAL.
    for delta in [-300, -217, 51] {
        let r = xdp_run(&rt, &format!("mov %r2, {delta}\ncall 44\nexit"), &packet());
        assert_eq!(r.retval, neg(22), "delta {delta}");
        assert_eq!(r.data_out, packet());
    }
    // The limits themselves are allowed.
    for delta in [-216, 50] {
        let r = xdp_run(&rt, &format!("mov %r2, {delta}\ncall 44\nexit"), &packet());
        assert_eq!(r.retval, 0, "delta {delta}");
    }
}

#[test]
fn xdp_adjust_tail_grows_with_zeroes_and_shrinks() {
    let rt = Runtime::new();
    let grow = xdp_run(&rt, "mov %r2, 10\ncall 65\nexit", &packet());
    assert_eq!(grow.retval, 0);
    assert_eq!(grow.data_out.len(), 74);
    assert_eq!(&grow.data_out[..64], &packet()[..]);
    assert_eq!(&grow.data_out[64..], &[0; 10]);
    let shrink = xdp_run(&rt, "mov %r2, -50\ncall 65\nexit", &packet());
    assert_eq!(shrink.retval, 0);
    assert_eq!(shrink.data_out, packet()[..14].to_vec());
    for delta in [-51, 4096 - 256 - 320 - 64 + 1] {
        let r = xdp_run(&rt, &format!("mov %r2, {delta}\ncall 65\nexit"), &packet());
        assert_eq!(r.retval, neg(22), "delta {delta}");
    }
    let max = xdp_run(
        &rt,
        &format!("mov %r2, {}\ncall 65\nexit", 4096 - 256 - 320 - 64),
        &packet(),
    );
    assert_eq!(max.retval, 0);
    assert_eq!(max.data_out.len(), 4096 - 256 - 320);
}

#[test]
fn xdp_adjust_meta_checks_size_and_alignment() {
    let rt = Runtime::new();
    let ok = xdp_run(&rt, "mov %r2, -8\ncall 54\nexit", &packet());
    assert_eq!(ok.retval, 0);
    let field = |c: &[u8], o: usize| u32::from_ne_bytes(c[o..o + 4].try_into().unwrap());
    assert_eq!(field(&ok.ctx_out, 0) - field(&ok.ctx_out, 8), 8);
    // As the kernel's test run, the output starts at the (zeroed) metadata.
    assert_eq!(ok.data_out, [vec![0; 8], packet()].concat());
    for (delta, errno) in [(-6, 13), (-36, 13), (4, 22), (-220, 22)] {
        let r = xdp_run(&rt, &format!("mov %r2, {delta}\ncall 54\nexit"), &packet());
        assert_eq!(r.retval, neg(errno), "delta {delta}");
    }
    // Metadata moves with the data on adjust_head.
    let both = xdp_run(
        &rt,
        "mov %r6, %r1\nmov %r2, -4\ncall 54\nmov %r1, %r6\nmov %r2, 4\ncall 44\nexit",
        &packet(),
    );
    assert_eq!(both.retval, 0);
    assert_eq!(field(&both.ctx_out, 0) - field(&both.ctx_out, 8), 4);
}

#[test]
fn redirect_and_redirect_map() {
    let rt = Runtime::new();
    assert_eq!(
        xdp_run(&rt, "mov %r1, 3\nmov %r2, 0\ncall 23\nexit", &packet()).retval,
        4
    );
    assert_eq!(
        xdp_run(&rt, "mov %r1, 3\nmov %r2, 1\ncall 23\nexit", &packet()).retval,
        0
    );
    let arr = map(&rt, MapSpec::new(MapType::Array, 4, 4, 4));
    let hash = map(&rt, MapSpec::new(MapType::Hash, 4, 4, 4));
    for (m, key, flags, want) in [
        (arr, 1, 0, 4),
        (arr, 9, 2, 2),
        (hash, 1, 1, 1),
        (hash, 1, 64, 0),
    ] {
        let r = xdp_run(
            &rt,
            &format!("lddw map_fd %r1, {m}\nmov %r2, {key}\nmov %r3, {flags}\ncall 51\nexit"),
            &packet(),
        );
        assert_eq!(r.retval, want, "map {m} key {key} flags {flags}");
    }
}

// ---- spin locks ----

fn lock_prog(m: Handle, body: &str) -> String {
    format!(
        "
    stw [%r10-4], 0
    lddw map_fd %r1, {m}
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, fail
    mov %r7, %r0
{body}
    mov %r0, 0
    exit
fail:
    mov %r0, 1
    exit
"
    )
}

#[test]
fn spin_lock_protects_a_map_value() {
    let rt = Runtime::new();
    let m = map(&rt, MapSpec::new(MapType::Array, 4, 8, 1).with_spin_lock(0));
    let good = load(
        &rt,
        ProgramType::Unspec,
        &lock_prog(
            m,
            "mov %r1, %r7\ncall 93\nldxw %r1, [%r7+4]\nadd %r1, 1\nstxw [%r7+4], %r1\nmov %r1, %r7\ncall 94",
        ),
    );
    let r = rt
        .prog_test_run(
            good,
            &TestRun {
                repeat: 3,
                ..TestRun::default()
            },
        )
        .unwrap();
    assert_eq!(r.retval, 0);
    let v = rt.map_lookup_elem(m, &0u32.to_ne_bytes()).unwrap();
    assert_eq!(&v[4..8], &3u32.to_ne_bytes());
    // Taking a second lock stops the run; a lock left held is released when the run ends.
    let twice = load(
        &rt,
        ProgramType::Unspec,
        &lock_prog(m, "mov %r1, %r7\ncall 93\nmov %r1, %r7\ncall 93"),
    );
    assert!(rt.prog_test_run(twice, &TestRun::default()).is_err());
    let leak = load(
        &rt,
        ProgramType::Unspec,
        &lock_prog(m, "mov %r1, %r7\ncall 93"),
    );
    assert_eq!(run(&rt, leak, &[]).retval, 0);
    assert_eq!(run(&rt, good, &[]).retval, 0);
    let unlock_only = load(
        &rt,
        ProgramType::Unspec,
        &lock_prog(m, "mov %r1, %r7\ncall 94"),
    );
    assert!(rt.prog_test_run(unlock_only, &TestRun::default()).is_err());
    // Not a lock: an address outside map values, or a misaligned one.
    for body in [
        "mov %r1, %r10\nadd %r1, -8\ncall 93",
        "mov %r1, %r7\nadd %r1, 2\ncall 93",
    ] {
        let nolock = load(&rt, ProgramType::Unspec, &lock_prog(m, body));
        assert!(rt.prog_test_run(nolock, &TestRun::default()).is_err());
    }
}

// ---- tail calls ----

#[test]
fn tail_call_chain_runs_the_targets_with_the_same_context() {
    let rt = Runtime::new();
    let pa = map(&rt, MapSpec::new(MapType::ProgArray, 4, 4, 4));
    let last = load(
        &rt,
        ProgramType::Unspec,
        "ldxb %r0, [%r1]\nadd %r0, 100\nexit",
    );
    let middle = load(
        &rt,
        ProgramType::Unspec,
        &format!("lddw map_fd %r2, {pa}\nmov %r3, 2\ncall 12\nmov %r0, 1\nexit"),
    );
    rt.map_update_elem(pa, &1u32.to_ne_bytes(), &middle.0.to_ne_bytes(), 0)
        .unwrap();
    rt.map_update_elem(pa, &2u32.to_ne_bytes(), &last.0.to_ne_bytes(), 0)
        .unwrap();
    let entry = |index: u32| {
        load(
            &rt,
            ProgramType::Unspec,
            &format!("mov %r6, 0\nlddw map_fd %r2, {pa}\nmov %r3, {index}\ncall 12\nexit"),
        )
    };
    assert_eq!(run(&rt, entry(1), &[5]).retval, 105);
    // An empty slot and an index beyond max_entries: the call returns and the program goes on.
    assert_eq!(run(&rt, entry(3), &[5]).retval, neg(2));
    assert_eq!(run(&rt, entry(10), &[5]).retval, neg(7));
    // Not a prog array.
    let arr = map(&rt, MapSpec::new(MapType::Array, 4, 4, 4));
    let wrong = load(
        &rt,
        ProgramType::Unspec,
        &format!("lddw map_fd %r2, {arr}\nmov %r3, 0\ncall 12\nexit"),
    );
    assert_eq!(run(&rt, wrong, &[5]).retval, neg(22));
}

#[test]
fn tail_calls_stop_after_33() {
    let rt = Runtime::new();
    let pa = map(&rt, MapSpec::new(MapType::ProgArray, 4, 4, 1));
    let cnt = map(&rt, MapSpec::new(MapType::Array, 4, 8, 1));
    let p = load(
        &rt,
        ProgramType::Unspec,
        &format!(
            "
    mov %r6, %r1
    stw [%r10-4], 0
    lddw map_fd %r1, {cnt}
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, out
    ldxdw %r1, [%r0]
    add %r1, 1
    stxdw [%r0], %r1
    mov %r1, %r6
    lddw map_fd %r2, {pa}
    mov %r3, 0
    call 12
out:
    exit
"
        ),
    );
    rt.map_update_elem(pa, &0u32.to_ne_bytes(), &p.0.to_ne_bytes(), 0)
        .unwrap();
    assert_eq!(run(&rt, p, &[]).retval, neg(16));
    let v = rt.map_lookup_elem(cnt, &0u32.to_ne_bytes()).unwrap();
    assert_eq!(u64_at(&v, 0), 34);
    // The count starts over with each run.
    assert_eq!(run(&rt, p, &[]).retval, neg(16));
    let v = rt.map_lookup_elem(cnt, &0u32.to_ne_bytes()).unwrap();
    assert_eq!(u64_at(&v, 0), 68);
}

#[test]
fn tail_call_targets_reach_their_own_global_data() {
    let rt = Runtime::new();
    let pa = map(&rt, MapSpec::new(MapType::ProgArray, 4, 4, 1));
    let global = map(&rt, MapSpec::new(MapType::Array, 4, 8, 1));
    rt.map_update_elem(global, &0u32.to_ne_bytes(), &77u64.to_ne_bytes(), 0)
        .unwrap();
    let target = load(
        &rt,
        ProgramType::Unspec,
        &format!("lddw map_value %r1, {global}\nldxdw %r0, [%r1]\nexit"),
    );
    rt.map_update_elem(pa, &0u32.to_ne_bytes(), &target.0.to_ne_bytes(), 0)
        .unwrap();
    let entry = load(
        &rt,
        ProgramType::Unspec,
        &format!("lddw map_fd %r2, {pa}\nmov %r3, 0\ncall 12\nexit"),
    );
    assert_eq!(run(&rt, entry, &[]).retval, 77);
}

// ---- callbacks ----

#[test]
fn bpf_loop_calls_back_until_told_to_stop() {
    let rt = Runtime::new();
    let prog = |n: &str, flags: u32| {
        load(
            &rt,
            ProgramType::Unspec,
            &format!(
                "
    mov %r6, %r1
    stdw [%r10-8], 0
    {n}
    lddw func %r2, cb
    mov %r3, %r10
    add %r3, -8
    mov %r4, {flags}
    call 181
    stxdw [%r6], %r0
    ldxdw %r1, [%r10-8]
    stxdw [%r6+8], %r1
    mov %r0, 0
    exit
cb:
    ldxdw %r3, [%r2]
    add %r3, %r1
    stxdw [%r2], %r3
    mov %r0, 0
    jne %r1, 6, +1
    mov %r0, 1
    exit
"
            ),
        )
    };
    let d = run(&rt, prog("mov %r1, 10", 0), &[0; 16]).data_out;
    assert_eq!((u64_at(&d, 0), u64_at(&d, 8)), (7, 21));
    let d = run(&rt, prog("mov %r1, 4", 0), &[0; 16]).data_out;
    assert_eq!((u64_at(&d, 0), u64_at(&d, 8)), (4, 6));
    let d = run(&rt, prog("mov %r1, 0", 0), &[0; 16]).data_out;
    assert_eq!((u64_at(&d, 0), u64_at(&d, 8)), (0, 0));
    let d = run(&rt, prog("mov %r1, 8388609", 0), &[0; 16]).data_out;
    assert_eq!(u64_at(&d, 0), neg(7));
    let d = run(&rt, prog("mov %r1, 3", 1), &[0; 16]).data_out;
    assert_eq!(u64_at(&d, 0), neg(22));
}

#[test]
fn bpf_loop_runs_up_to_the_kernel_limit() {
    let rt = Runtime::new();
    let p = load(
        &rt,
        ProgramType::Unspec,
        "
    lddw %r1, 8388608
    lddw func %r2, cb
    mov %r3, 0
    mov %r4, 0
    call 181
    exit
cb:
    mov %r0, 0
    exit
",
    );
    assert_eq!(run(&rt, p, &[]).retval, 8_388_608);
}

#[test]
fn bpf_loop_with_a_bad_callback_fails_the_run() {
    let rt = Runtime::new();
    let p = load(
        &rt,
        ProgramType::Unspec,
        "mov %r1, 1\nmov %r2, 5\nmov %r3, 0\nmov %r4, 0\ncall 181\nexit",
    );
    assert!(rt.prog_test_run(p, &TestRun::default()).is_err());
}

fn for_each_prog(m: Handle) -> String {
    format!(
        "
    mov %r6, %r1
    stdw [%r10-8], 0
    lddw map_fd %r1, {m}
    lddw func %r2, cb
    mov %r3, %r10
    add %r3, -8
    mov %r4, 0
    call 164
    stxdw [%r6], %r0
    ldxdw %r1, [%r10-8]
    stxdw [%r6+8], %r1
    mov %r0, 0
    exit
cb:
    ldxdw %r5, [%r3]
    ldxdw %r1, [%r4]
    add %r1, %r5
    stxdw [%r4], %r1
    add %r5, 10
    stxdw [%r3], %r5
    ldxw %r1, [%r2]
    mov %r0, 0
    jne %r1, 2, +1
    mov %r0, 1
    exit
"
    )
}

#[test]
fn for_each_map_elem_over_an_array() {
    let rt = Runtime::new();
    let m = map(&rt, MapSpec::new(MapType::Array, 4, 8, 4));
    for k in 0u32..4 {
        rt.map_update_elem(m, &k.to_ne_bytes(), &u64::from(k + 1).to_ne_bytes(), 0)
            .unwrap();
    }
    let p = load(&rt, ProgramType::Unspec, &for_each_prog(m));
    let d = run(&rt, p, &[0; 16]).data_out;
    // Keys 0, 1, 2 (the callback stops at 2): values 1 + 2 + 3, each then raised by 10.
    assert_eq!((u64_at(&d, 0), u64_at(&d, 8)), (3, 6));
    let values: Vec<u64> = (0u32..4)
        .map(|k| u64_at(&rt.map_lookup_elem(m, &k.to_ne_bytes()).unwrap(), 0))
        .collect();
    assert_eq!(values, [11, 12, 13, 4]);
}

#[test]
fn for_each_map_elem_over_a_hash() {
    let rt = Runtime::new();
    let m = map(&rt, MapSpec::new(MapType::Hash, 4, 8, 8));
    for k in [5u32, 6, 7] {
        rt.map_update_elem(m, &k.to_ne_bytes(), &u64::from(k).to_ne_bytes(), 0)
            .unwrap();
    }
    let p = load(&rt, ProgramType::Unspec, &for_each_prog(m));
    let d = run(&rt, p, &[0; 16]).data_out;
    assert_eq!((u64_at(&d, 0), u64_at(&d, 8)), (3, 18));
    let mut values: Vec<u64> = [5u32, 6, 7]
        .iter()
        .map(|k| u64_at(&rt.map_lookup_elem(m, &k.to_ne_bytes()).unwrap(), 0))
        .collect();
    values.sort_unstable();
    assert_eq!(values, [15, 16, 17]);
    // Flags must be 0; other map types: -EINVAL.
    let q = map(&rt, MapSpec::new(MapType::Queue, 0, 8, 8));
    let p = load(&rt, ProgramType::Unspec, &for_each_prog(q));
    assert_eq!(u64_at(&run(&rt, p, &[0; 16]).data_out, 0), neg(22));
}

#[test]
fn every_issue_3_helper_is_implemented() {
    let ids = waggle_runtime::implemented_ids();
    for id in [
        1, 2, 3, 4, 5, 6, 7, 8, 12, 14, 15, 16, 23, 25, 28, 42, 44, 45, 51, 54, 65, 67, 87, 88, 89,
        93, 94, 105, 106, 112, 113, 114, 115, 118, 125, 130, 131, 132, 133, 134, 160, 164, 165,
        173, 174, 181, 182, 195,
    ] {
        assert!(ids.contains(&id), "helper {id}");
    }
}

// ---- a C program (tests/progs/helpers_callbacks.bpf.c) ----

#[test]
fn corpus_callbacks_spin_lock_ringbuf_and_tail_call() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/progs/helpers_callbacks.bpf.o");
    let obj = waggle_object::Object::open(&path).unwrap();
    let rt = Runtime::new();
    let loaded = rt.load_object(&obj, 1).unwrap_or_else(|e| panic!("{e}"));
    let values = loaded.map("values").unwrap();
    for k in 0u32..8 {
        rt.map_update_elem(values, &k.to_ne_bytes(), &u64::from(k).to_ne_bytes(), 0)
            .unwrap();
    }
    let prog = loaded.program("callbacks").unwrap();
    let r = rt
        .prog_test_run(
            prog,
            &TestRun {
                data_in: &[0; 14],
                repeat: 2,
                ..TestRun::default()
            },
        )
        .unwrap();
    // bpf_loop stops at index 6: 7 calls, sum 21.
    assert_eq!(r.retval, 7);
    let c = rt
        .map_lookup_elem(loaded.map("counters").unwrap(), &0u32.to_ne_bytes())
        .unwrap();
    assert_eq!(u32::from_ne_bytes(c[4..8].try_into().unwrap()), 2);
    assert_eq!(u64_at(&c, 8), 42);
    // Each run added 1 to every value.
    let v = rt.map_lookup_elem(values, &3u32.to_ne_bytes()).unwrap();
    assert_eq!(u64_at(&v, 0), 5);
    let rb = rt.map(loaded.map("events").unwrap()).unwrap();
    let mut events = Vec::new();
    rb.inner
        .as_ringbuf()
        .unwrap()
        .consume(|s| events.push(s.to_vec()));
    assert_eq!(events.len(), 2);
    // loop_sum 21; map_sum 0+..+7 = 28, then 36 after the first run's increments.
    assert_eq!((u64_at(&events[0], 0), u64_at(&events[0], 8)), (21, 28));
    assert_eq!(u64_at(&events[1], 8), 36);
    assert_eq!(&events[0][16..24], &[7, 0, 0, 0, 8, 0, 0, 0]);

    let tail = loaded.program("tail_entry").unwrap();
    assert_eq!(run(&rt, tail, &[0; 14]).retval, 42);
    rt.map_delete_elem(loaded.map("jumps").unwrap(), &1u32.to_ne_bytes())
        .unwrap();
    assert_eq!(run(&rt, tail, &[0; 14]).retval, 7);
    loaded.close(&rt);
}
