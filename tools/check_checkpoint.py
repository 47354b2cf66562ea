#!/usr/bin/env python3
"""Reads a cari checkpoint (or any safetensors file) with Python's `safetensors` and numpy.

    check_checkpoint.py PATH

Prints every tensor's name, dtype and shape and the metadata, then checks what the Rust
reader checks on open (`src/io/checkpoint.rs`): the format tag `cari.format` and, for each
tensor, the checksum stored in `cari.checksums`. Exits 1 when a check fails, 0 otherwise;
a plain safetensors file without the tag is listed and passes.

The checksum, as `src/io/checksum.rs` defines it: with w_k the k-th little-endian 64-bit
word of a tensor's bytes (the last one zero-padded), γ the SplitMix64 increment and mix64
its finaliser, checksum = mix64(len ⊕ Σ_k mix64(w_k ⊕ k·γ)), all arithmetic mod 2^64.
"""

import json
import sys

import numpy as np
from safetensors import safe_open

FORMAT_KEY = "cari.format"
FORMAT = "checkpoint/1"
CHECKSUMS_KEY = "cari.checksums"
GAMMA = np.uint64(0x9E3779B97F4A7C15)


def mix64(z):
    """SplitMix64's finaliser on a uint64 array (numpy wraps array arithmetic mod 2^64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def checksum(data: bytes) -> int:
    words = np.frombuffer(data + b"\0" * (-len(data) % 8), dtype="<u8")
    index = np.arange(len(words), dtype=np.uint64)
    total = mix64(words ^ (index * GAMMA)).sum(dtype=np.uint64)
    return int(mix64(np.array([len(data)], dtype=np.uint64) ^ total)[0])


def short(value: str, width: int = 100) -> str:
    return value if len(value) <= width else value[: width - 3] + "..."


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    path = sys.argv[1]
    problems = []
    with safe_open(path, framework="np") as f:
        metadata = f.metadata() or {}
        names = sorted(f.keys())
        tensors = {name: f.get_tensor(name) for name in names}

    print(f"{path}: {len(names)} tensors, {sum(t.size for t in tensors.values()):,} values")
    for name in names:
        t = tensors[name]
        print(f"  {name:<70} {str(t.dtype):<8} {list(t.shape)}")

    print("metadata:")
    for key in sorted(metadata):
        if key == CHECKSUMS_KEY:
            print(f"  {key} = ({len(json.loads(metadata[key]))} checksums)")
        else:
            print(f"  {key} = {short(metadata[key])}")

    if FORMAT_KEY not in metadata:
        print("not a cari checkpoint (no format tag): nothing to verify")
        return 0
    if metadata[FORMAT_KEY] != FORMAT:
        problems.append(f"format `{metadata[FORMAT_KEY]}`, expected `{FORMAT}`")
    sums = json.loads(metadata.get(CHECKSUMS_KEY, "{}"))
    for name in names:
        t = tensors[name]
        if t.dtype != np.float32:
            problems.append(f"tensor `{name}` is {t.dtype}; a checkpoint holds float32 only")
            continue
        actual = f"{checksum(t.astype('<f4').tobytes()):016x}"
        if name not in sums:
            problems.append(f"tensor `{name}` has no checksum")
        elif sums[name] != actual:
            problems.append(f"tensor `{name}` is corrupt: checksum {actual}, stored {sums[name]}")
    problems += [f"checksum for a missing tensor `{n}`" for n in sums if n not in tensors]

    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    if not problems:
        print(f"format {FORMAT}: all {len(names)} checksums match")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
