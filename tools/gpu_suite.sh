#!/usr/bin/env bash
# The one script that runs the CUDA checks and benchmarks on a GPU machine (docs/cuda.md).
#
#   tools/gpu_suite.sh build    # here, on the build machine: the test binaries and `cari`,
#                               # stripped, into target/gpu-suite/ (carry that path)
#   tools/gpu_suite.sh run      # on the GPU machine, in one device call of under 8 minutes:
#                               # every CUDA test on cuda:0, a training run, the whole
#                               # step's timing and profile, the conv benchmarks on cuda:0
#                               # and PyTorch's on the same shapes (tools/bench_pytorch.py
#                               # --device cuda); results under $OUT, a table on stdout
#
# The GPU machine has no Rust: it runs the binaries built here (both x86-64 Linux).
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE=target/gpu-suite
TESTS=(cuda nvrtc_compile)
BENCHES=(conv2d)

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

# Every step on the GPU machine within one device call: the whole run stops by DEADLINE
# seconds (7.5 minutes, under the 8 a call may take), each step bounded by its own share
# and by what is left; a step with under 15 s left is skipped and says so.
DEADLINE=450

# `timed SECONDS NAME CMD…`: runs CMD with a timeout of min(SECONDS, time left), output to
# $OUT/NAME.txt; records pass, FAIL (exit code), timeout or skipped in status[NAME].
timed() {
    local share=$1 name=$2
    shift 2
    local left=$((DEADLINE - SECONDS))
    if [ "$left" -lt 15 ]; then
        status[$name]="skipped (${left}s left)"
        return
    fi
    local limit=$((share < left ? share : left))
    if timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1; then
        status[$name]=pass
    else
        local rc=$?
        if [ "$rc" = 124 ]; then status[$name]="timeout (${limit}s)"; else status[$name]="FAIL ($rc)"; fi
    fi
}

run() {
    : "${OUT:?set OUT to the results folder}"
    SECONDS=0
    # NVRTC and the driver from the machine's CUDA installation.
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
        [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    done
    export CARI_TEST_CUDA=1 CARI_KERNEL_CACHE="$OUT/kernel-cache"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true
    declare -gA status
    local order=(nvrtc_compile cuda train train-graphs bench-step conv2d pytorch)
    # Kernels compile first (and fill the cache every later step uses); then every CUDA
    # test (parity on cuda:0 beside the emulator, graphs included); a short training run, and
    # the same with step graphs; the whole step's timing and profile at full size (also
    # replayed as graphs); the conv kernels; PyTorch on the same shapes.
    timed 60 nvrtc_compile "$SUITE/nvrtc_compile" --test-threads=1
    timed 120 cuda "$SUITE/cuda" --test-threads=4
    timed 60 train "$SUITE/cari" train --device cuda --steps 5 --batch 32 --image-size 160 --out "$OUT/run"
    # The same run with each step replayed as a CUDA graph must write the same checkpoint.
    timed 45 train-graphs bash -c "'$SUITE/cari' train --device cuda --steps 5 --batch 32 --image-size 160 \
        --step-graphs --out '$OUT/run-graphs' && cmp '$OUT/run/checkpoint.safetensors' '$OUT/run-graphs/checkpoint.safetensors'"
    timed 60 bench-step "$SUITE/cari" bench --device cuda --image-size 160 --batch 90 --identities 20 \
        --steps 5 --warmup 6 --profile
    CARI_BENCH_DEVICE=cuda:0 timed 90 conv2d "$SUITE/bench_conv2d" --bench --warm-up-time 0.5 --measurement-time 1
    timed 90 pytorch python3 tools/bench_pytorch.py --device cuda --cudnn-benchmark --convs --json "$OUT/pytorch.json"
    echo "| step | result |"
    echo "|---|---|"
    for name in "${order[@]}"; do echo "| $name | ${status[$name]:-not run} |"; done
    echo "total: ${SECONDS}s of ${DEADLINE}s"
}

case "${1:-}" in
build) build ;;
run) run ;;
*) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
