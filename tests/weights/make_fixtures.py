#!/usr/bin/python3
"""Writes tests/weights/fixture.safetensors: a tiny file produced by PyTorch, so the C reader is
checked against real F32/F16/BF16 encodings rather than only against our own writer.

The `safetensors` Python package is not assumed: the format is written by hand (u64 LE header
length, JSON header padded with spaces to 8 bytes, little-endian data). Tensor data is laid out
in a different order from the header on purpose. Run with Debian's PyTorch:
    /usr/bin/python3 tests/weights/make_fixtures.py
tests/unit/test_safetensors.c holds the expected bit patterns; regenerate both together.
"""
import json
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixture.safetensors")


def f32_bytes(t):
    return t.to(torch.float32).contiguous().numpy().astype("<f4").tobytes()


def f16_bytes(t):
    return t.to(torch.float16).contiguous().numpy().astype("<f2").tobytes()


def bf16_bytes(t):
    # numpy has no bfloat16: reinterpret the 16-bit patterns as int16
    return t.to(torch.bfloat16).contiguous().view(torch.int16).numpy().astype("<i2").tobytes()


def main():
    inf, nan = float("inf"), float("nan")
    tensors = [
        # name, dtype, shape, bytes
        ("conv.weight", "F32", [2, 1, 1, 3],
         f32_bytes(torch.tensor([0.5, -1.25, 3.0e38, 2.0 ** -149, -0.0, 100.0]).reshape(2, 1, 1, 3))),
        ("half", "F16", [8],
         f16_bytes(torch.tensor([1.0, -2.0, 65504.0, 2.0 ** -24, 2.0 ** -14, -0.0, inf, nan]))),
        ("brain", "BF16", [2, 3],
         bf16_bytes(torch.tensor([1.0, -3.140625, 2.0 ** -133, (2 - 2 ** -7) * 2.0 ** 127,
                                  -inf, 0.0]).reshape(2, 3))),
        ("steps", "I64", [], torch.tensor(7, dtype=torch.int64).numpy().astype("<i8").tobytes()),
        ("empty", "F32", [0, 3], b""),
    ]
    data_order = ["steps", "brain", "empty", "half", "conv.weight"]
    offsets, blob = {}, b""
    for name in data_order:
        raw = next(t[3] for t in tensors if t[0] == name)
        offsets[name] = [len(blob), len(blob) + len(raw)]
        blob += raw
    header = {"__metadata__": {"format": "pt", "torch": torch.__version__.split("+")[0]}}
    for name, dtype, shape, _ in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": offsets[name]}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    with open(OUT, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob)
    print("wrote %s (%d bytes)" % (OUT, 8 + len(text) + len(blob)))


if __name__ == "__main__":
    main()
