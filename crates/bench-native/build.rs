//! Compiles `workloads.c` with `gcc -O2` (issue 5's native baseline), exactly that level; the
//! `cc` crate adds only its usual code-generation flags (`-ffunction-sections`,
//! `-fdata-sections`, `-fPIC`, `-m64`, debug info), which do not change the loops.
//!
//! Plus `-falign-functions=64`, placement only: with gcc's default 16-byte function alignment,
//! where the linker happens to put each function relative to 64-byte lines changed the C
//! times by up to 2.6x between two builds of the bench (fibonacci 27 or 51 ns, switch64 0.55
//! or 1.43 µs) as unrelated code moved. Aligned to 64, each function's loops sit where gcc
//! put them relative to the function start in every build.

fn main() {
    println!("cargo:rerun-if-changed=workloads.c");
    let version = std::process::Command::new("gcc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=WAGGLE_BENCH_CC_VERSION={version}");
    let mut build = cc::Build::new();
    if version != "unknown" {
        build.compiler("gcc");
    } else {
        // No gcc: the C compiler Rust links with (the bench reports "unknown" as the version,
        // so its numbers are not taken for gcc's).
        println!("cargo:warning=gcc not found: the C baseline is built with the default compiler");
    }
    build
        .file("workloads.c")
        .opt_level(2)
        .flag("-falign-functions=64")
        .warnings(true)
        .compile("waggle_bench_workloads");
}
