#!/usr/bin/env bash
# Rebuild the committed BPF object corpus (tests/progs/*.bpf.o) and the examples
# (examples/*.bpf.o, examples/*/*.bpf.o) from their C sources.
# The .o files are committed so that `cargo test` needs no clang; run this after editing a .c.
#   x.bpf.c -> x.bpf.o (-mcpu=v3), and x.v4.bpf.o (-mcpu=v4) for the sources listed in V4;
#   x.btf.c -> x.btf: raw BTF (the format of /sys/kernel/btf/vmlinux), a CO-RE target;
#   verifier_gaps/x.bpf.c -> verifier_gaps/x.bpf.o (-mcpu=v3).
set -euo pipefail
cd "$(dirname "$0")/../tests/progs"

CLANG="${CLANG:-clang-19}"
OBJCOPY="${OBJCOPY:-llvm-objcopy-19}"
if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "SKIPPED: $CLANG not found; tests/progs/*.bpf.o left as committed" >&2
    exit 0
fi

V4="globals subprogs core xdp_parse socket_count"
CFLAGS=(-O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -Wall -Wno-unused-variable)

for src in *.bpf.c; do
    base="${src%.bpf.c}"
    "$CLANG" "${CFLAGS[@]}" -mcpu=v3 -c "$src" -o "$base.bpf.o"
    echo "built $base.bpf.o"
    for v in $V4; do
        if [ "$v" = "$base" ]; then
            "$CLANG" "${CFLAGS[@]}" -mcpu=v4 -c "$src" -o "$base.v4.bpf.o"
            echo "built $base.v4.bpf.o"
        fi
    done
done

# tests/progs/btf: programs reading kernel structs, built against the running kernel's
# vmlinux.h (generated here with bpftool, never committed); kept out of tests/progs itself so
# the corpus scans (which run without kernel BTF) do not see them. Without bpftool or
# /sys/kernel/btf/vmlinux their .o stay as committed.
VMLINUX_DIR="$(mktemp -d)"
trap 'rm -rf "$VMLINUX_DIR"' EXIT
if bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$VMLINUX_DIR/vmlinux.h" 2>/dev/null; then
    for src in btf/*.bpf.c; do
        "$CLANG" "${CFLAGS[@]}" -I"$VMLINUX_DIR" -mcpu=v3 -c "$src" -o "${src%.c}.o"
        echo "built ${src%.c}.o"
    done
else
    echo "SKIPPED: no bpftool or /sys/kernel/btf/vmlinux: tests/progs/btf/*.bpf.o left as committed" >&2
fi

for src in *.btf.c; do
    base="${src%.btf.c}"
    "$CLANG" "${CFLAGS[@]}" -c "$src" -o "$base.btf.tmp.o"
    "$OBJCOPY" --dump-section ".BTF=$base.btf" "$base.btf.tmp.o"
    rm -f "$base.btf.tmp.o"
    echo "built $base.btf"
done

# Programs our verifier does not accept yet (see verifier_gaps/README.md) and objects Linux
# cannot load (unloadable/README.md): -mcpu=v3.
for src in verifier_gaps/*.bpf.c unloadable/*.bpf.c; do
    [ -e "$src" ] || continue
    "$CLANG" "${CFLAGS[@]}" -mcpu=v3 -c "$src" -o "${src%.bpf.c}.bpf.o"
    echo "built ${src%.bpf.c}.bpf.o"
done

# The examples: plain -mcpu=v3 objects next to their sources.
cd ../../examples
for src in *.bpf.c */*.bpf.c; do
    [ -e "$src" ] || continue
    "$CLANG" "${CFLAGS[@]}" -mcpu=v3 -c "$src" -o "${src%.bpf.c}.bpf.o"
    echo "built examples/${src%.bpf.c}.bpf.o"
done
