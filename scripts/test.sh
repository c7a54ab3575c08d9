#!/usr/bin/env bash
# The project's test command (README, .ci/run). Release mode: the conformance and property
# tests execute millions of BPF instructions, and the fuzz-style tests are bounded by count.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --release --locked "$@"
