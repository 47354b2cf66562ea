#!/usr/bin/env bash
# The one script that runs the CUDA checks and benchmarks on a GPU machine (docs/cuda.md).
#
#   tools/gpu_suite.sh build    # here, on the build machine: the test binaries and `cari`,
#                               # stripped, into target/gpu-suite/ (carry that path)
#   tools/gpu_suite.sh run      # on the GPU machine: every CUDA test on cuda:0, the
#                               # benchmarks on cuda:0 and PyTorch's on the same shapes
#                               # (tools/bench_pytorch.py --device cuda); results under $OUT
#
# The GPU machine has no Rust: it runs the binaries built here (both x86-64 Linux).
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE=target/gpu-suite
TESTS=(cuda nvrtc_compile)
BENCHES=(conv2d train_step)

# The path of the executable of `cargo test --release --test NAME` (`executable test NAME`)
# or of `cargo bench --bench NAME` (`executable bench NAME`).
executable() {
    local profile=()
    [ "$1" = test ] && profile=(--release)
    cargo "$1" "${profile[@]}" --no-run "--$1" "$2" --message-format=json 2>/dev/null | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$2"
}

build() {
    rm -rf "$SUITE" && mkdir -p "$SUITE"
    export CARGO_PROFILE_RELEASE_DEBUG=0
    cargo build --release --bin cari
    cp target/release/cari "$SUITE/"
    for t in "${TESTS[@]}"; do cp "$(executable test "$t")" "$SUITE/$t"; done
    for b in "${BENCHES[@]}"; do cp "$(executable bench "$b")" "$SUITE/bench_$b"; done
    strip "$SUITE"/*
    du -sh "$SUITE"
}

run() {
    : "${OUT:?set OUT to the results folder}"
    # NVRTC and the driver from the machine's CUDA installation.
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
        [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    done
    export CARI_TEST_CUDA=1 CARI_KERNEL_CACHE="$OUT/kernel-cache"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true
    declare -A status
    for t in "${TESTS[@]}"; do
        if timeout 300 "$SUITE/$t" --test-threads=1 >"$OUT/$t.txt" 2>&1; then status[$t]=pass; else status[$t]="FAIL ($?)"; fi
    done
    for dev in cpu cuda; do
        timeout 120 "$SUITE/cari" train --device "$dev" --steps 5 --batch 32 --image-size 160 \
            >"$OUT/train-$dev.txt" 2>&1 || echo "train on $dev failed: see train-$dev.txt"
    done
    # Short criterion runs on the GPU (every pass synchronised), then PyTorch on the same shapes.
    for b in "${BENCHES[@]}"; do
        CARI_BENCH_DEVICE=cuda:0 timeout 240 "$SUITE/bench_$b" --bench --warm-up-time 1 --measurement-time 2 \
            >"$OUT/bench_$b.txt" 2>&1 || echo "bench $b failed: see bench_$b.txt"
    done
    timeout 240 python3 tools/bench_pytorch.py --device cuda --convs --json "$OUT/pytorch.json" \
        >"$OUT/pytorch.txt" 2>&1 || echo "PyTorch baseline failed: see pytorch.txt"
    echo "| suite | result |"
    echo "|---|---|"
    for t in "${TESTS[@]}"; do echo "| $t | ${status[$t]} |"; done
    for dev in cpu cuda; do echo "| train $dev | $(tail -n 1 "$OUT/train-$dev.txt") |"; done
}

case "${1:-}" in
build) build ;;
run) run ;;
*) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
