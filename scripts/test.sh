#!/usr/bin/env bash
# The project's test command (README, .ci/run). Release mode: the conformance and property
# tests execute millions of BPF instructions, and the fuzz-style tests are bounded by count.
# --show-output prints what passing tests print: the suite summaries ("N passed, M failed")
# and the SKIPPED lines of tests that need ../shared, clang or the kernel's bpf().
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --release --locked "$@" -- --show-output
