#!/usr/bin/python3
"""Writes the binary members of tests/bad (see tests/bad/README.md): damaged
safetensors files for tests/bad/weights.net, the good one they start from, and
binary garbage given as a model. Deterministic; run from anywhere:
    python3 tests/bad/make_bad.py
The .err goldens are not written here: tests/unit/test_bad.c writes them when
run with CNNC_UPDATE_GOLDEN=1, for review."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# weights.net: conv2d c out=2 kernel=3 on 1x4x4, flatten, linear f out=3
GOOD = [("c.weight", [2, 1, 3, 3]), ("c.bias", [2]), ("f.weight", [3, 8]), ("f.bias", [3])]


def floats(n, start=0):
    return [((i + start) % 7 - 3) / 4.0 for i in range(n)]


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def header_bytes(header, pad=True):
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    return struct.pack("<Q", len(text)) + text


def build(tensors, dtype="F32", meta=None, values=None):
    """tensors: (name, shape[, dtype]); returns the file's bytes."""
    header, data = {}, b""
    if meta is not None:
        header["__metadata__"] = meta
    for t in tensors:
        name, shape = t[0], t[1]
        dt = t[2] if len(t) > 2 else dtype
        vals = (values or {}).get(name, floats(numel(shape), len(data)))
        if dt == "F32":
            blob = struct.pack("<%df" % len(vals), *vals)
        elif dt == "I32":
            blob = struct.pack("<%di" % len(vals), *[int(v * 4) for v in vals])
        elif dt == "F64":
            blob = struct.pack("<%dd" % len(vals), *vals)
        else:
            raise ValueError(dt)
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    return header_bytes(header) + data


def raw(header_text, data=b""):
    """A file from literal header text: for headers json.dumps would not write."""
    return struct.pack("<Q", len(header_text)) + header_text + data


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    good = build(GOOD, meta={"format": "pt"})
    write("weights.safetensors", good)
    hlen = struct.unpack("<Q", good[:8])[0]
    write("w_empty_file.safetensors", b"")
    write("w_too_short.safetensors", b"\x10\x00\x00")
    write("w_header_beyond_file.safetensors", struct.pack("<Q", 4096) + good[8:200])
    write("w_header_absurd.safetensors", struct.pack("<Q", 1 << 62) + good[8:])
    write("w_truncated_header.safetensors", good[: 8 + hlen // 2])
    write("w_truncated_data.safetensors", good[: len(good) - 10])
    text = good[8 : 8 + hlen].replace(b'"c.bias":', b'"c.bias"', 1)
    write("w_bad_json.safetensors", raw(text, good[8 + hlen :]))
    write("w_not_object.safetensors", raw(b'["c.weight"]    '))
    write("w_not_utf8.safetensors", raw(b'{"c.w\xffight":{}}', b""))
    # offsets: two tensors sharing bytes, one past the data, one backwards, a hole
    body = good[8 + hlen :]
    hdr = json.loads(good[8 : 8 + hlen])
    def with_offsets(name, offs, data=body):
        h = json.loads(json.dumps(hdr))
        h[name]["data_offsets"] = offs
        return header_bytes(h) + data
    w = hdr["c.weight"]["data_offsets"]
    write("w_overlap.safetensors", with_offsets("c.bias", [w[0], w[0] + 8]))
    write("w_offsets_out_of_range.safetensors", with_offsets("f.bias", [len(body) - 12, len(body) + 4096]))
    write("w_offsets_reversed.safetensors", with_offsets("c.bias", [80, 72]))
    write("w_offsets_huge.safetensors", with_offsets("c.bias", [18446744073709551600, 18446744073709551608]))
    write("w_hole.safetensors", with_offsets("f.bias", [hdr["f.bias"]["data_offsets"][0], hdr["f.bias"]["data_offsets"][1]],
                                              body + b"\0" * 8))
    # content: dtype, shape, names
    write("w_wrong_dtype.safetensors", build([("c.weight", [2, 1, 3, 3], "I32")] + GOOD[1:]))
    write("w_f64.safetensors", build([("c.weight", [2, 1, 3, 3], "F64")] + GOOD[1:]))
    h = json.loads(json.dumps(hdr))
    h["c.bias"]["dtype"] = "F99"
    write("w_unknown_dtype.safetensors", header_bytes(h) + body)
    write("w_wrong_shape.safetensors", build([("c.weight", [2, 1, 9])] + GOOD[1:]))
    write("w_transposed.safetensors", build(GOOD[:2] + [("f.weight", [8, 3]), GOOD[3]]))
    write("w_missing_tensor.safetensors", build(GOOD[:3]))
    write("w_misnamed.safetensors", build(GOOD[:3] + [("fc.bias", [3])]))
    h = json.loads(json.dumps(hdr))
    h["c.bias"]["shape"] = [4294967296, 4294967296, 4294967296]
    write("w_shape_overflow.safetensors", header_bytes(h) + body)
    h = json.loads(json.dumps(hdr))
    h["c.bias"]["shape"] = [-2]
    write("w_negative_dim.safetensors", header_bytes(h) + body)
    text = good[8 : 8 + hlen].rstrip(b" ")
    dup = text[:-1] + b',"c.bias":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'
    write("w_duplicate_name.safetensors", raw(dup, body))
    # values: NaN and infinities load, with a warning naming the tensor
    vals = floats(18)
    vals[3], vals[7], vals[11] = float("nan"), float("inf"), float("-inf")
    write("w_nan_inf.safetensors", build(GOOD, values={"c.weight": vals}))
    write("w_unused_tensor.safetensors", build(GOOD + [("extra.weight", [2])]))
    # not a safetensors file at all
    seed, junk = 12345, bytearray()
    for _ in range(512):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        junk.append(seed >> 16 & 0xFF)
    write("w_garbage.safetensors", bytes(junk))
    write("binary_garbage.net", bytes(junk))


if __name__ == "__main__":
    main()
