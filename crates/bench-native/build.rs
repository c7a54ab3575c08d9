//! Compiles `workloads.c` with `gcc -O2` (issue 5's native baseline), exactly that level; the
//! `cc` crate adds only its usual code-generation flags (`-ffunction-sections`,
//! `-fdata-sections`, `-fPIC`, `-m64`, debug info), which do not change the loops.

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
    cc::Build::new()
        .compiler("gcc")
        .file("workloads.c")
        .opt_level(2)
        .warnings(true)
        .compile("waggle_bench_workloads");
}
