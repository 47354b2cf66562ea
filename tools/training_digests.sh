#!/usr/bin/env bash
# Usage: training_digests.sh CARI_BINARY OUTDIR: short training runs (every strategy family, optimizer,
# resume, warm start with branch init, the CUDA emulation, the default network) and the sha256 of
# each checkpoint's tensor data. Two binaries that print the same lines train bit for bit alike.
set -euo pipefail
B=$1; O=$2; mkdir -p $O
T="--image-size 75 --width-divisor 16 --batch 8 --quiet --identities 6 --synth-photos 4 --synth-caricatures 4"
$B train $T --steps 30 --out $O/a
$B train $T --steps 20 --strategy uncertainty --optimizer adam --weight-decay 0.0005 --out $O/b
$B train $T --steps 15 --strategy fixed:0.5,0.3,0.2 --optimizer sgd --reference-gradient-path --out $O/c
$B train $T --steps 25 --resume $O/c/checkpoint.safetensors --out $O/c2
$B train $T --steps 10 --warm-start $O/a/checkpoint.safetensors --init-branches-from-verification --out $O/d
$B train $T --steps 3 --device cuda-emu --out $O/e
$B train --steps 10 --quiet --out $O/f
for r in a b c c2 d e f; do echo "$r $(python3 "$(dirname "$0")/tensor_data_sha256.py" $O/$r/checkpoint.safetensors)"; done
