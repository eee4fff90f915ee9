#!/usr/bin/env python3
"""Writes engine/tests/data/gguf_dequant_ref.bin: blocks of the GGUF quantized types with the
values gguf-py's reference dequantizer gives for them, for the Rust decoders' unit test.

Dev-only. Needs `pip install gguf numpy` (gguf 0.19). Record layout, repeated, little-endian:
u32 ggml type id, u32 byte count, the block bytes, u32 value count, the f32 values.
Cases per type: random blocks with random finite scales, subnormal, zero, negative, ±65504
scales and an all-zero block.
"""
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

# (type, block bytes, [(byte offset of an f16 scale field)])
TYPES = [
    (T.Q8_0, 34, [0]),
    (T.Q4_0, 18, [0]),
    (T.Q4_K, 144, [0, 2]),
    (T.Q5_K, 176, [0, 2]),
    (T.Q6_K, 210, [208]),
]
SCALES = [None, None, None, 6.0e-8, 1.0e-6, 0.0, -0.75, 65504.0, -65504.0, "zero-block"]


def main(out: Path) -> None:
    rng = np.random.default_rng(19)
    records = []
    for ty, size, fields in TYPES:
        for s in SCALES:
            block = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
            if s == "zero-block":
                block = bytearray(size)
            for at in fields:
                v = rng.normal(0, 0.01) if s is None else s
                if s != "zero-block":
                    block[at : at + 2] = np.float16(v).tobytes()
            data = np.frombuffer(bytes(block), dtype=np.uint8)
            vals = dequantize(data, ty).astype(np.float32).ravel()
            records.append(struct.pack("<II", int(ty), size) + bytes(block)
                           + struct.pack("<I", len(vals)) + vals.tobytes())
    out.write_bytes(b"".join(records))
    print(f"{out}: {len(records)} blocks, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("engine/tests/data/gguf_dequant_ref.bin"))
