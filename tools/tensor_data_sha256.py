#!/usr/bin/env python3
"""sha256 of a safetensors file's tensor data (the bytes after its JSON header), with the byte and tensor counts:

    tensor_data_sha256.py PATH

Two checkpoints with the same digest hold the same tensors bit for bit, whatever their metadata."""
import hashlib, json, struct, sys
path = sys.argv[1]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
print("data", hashlib.sha256(data).hexdigest(), len(data), "bytes", len([k for k in header if k != "__metadata__"]), "tensors")
