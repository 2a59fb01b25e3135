"""netfile: what the importers hand to cnnc, written as NAME.net and NAME.safetensors.

tools/cnnc_import.py's readers (TFLite, ONNX) translate a model into a Model of
plain Python objects; write() turns it into the two files cnnc reads, through
temporary files renamed only once both are complete, so that a failed import
leaves nothing behind. The .net language is docs/language.md; the tensors'
names, dtypes and layouts are its Weights section.
"""

import json
import os
import re
import struct
import tempfile

import numpy as np

# safetensors dtype names of the numpy dtypes cnnc reads.
_DTYPES = {np.dtype("float32"): "F32", np.dtype("int8"): "I8", np.dtype("int32"): "I32"}

_C_KEYWORDS = set("""auto break case char const continue default do double else enum extern float for goto
if inline int long register restrict return short signed sizeof static struct switch typedef union unsigned
void volatile while _Bool _Complex _Imaginary""".split())


class ImportError_(Exception):
    """The model cannot be imported (exit 1); args are the messages."""


class Layer:
    """One .net statement: `op name key=value ...  # comment`.

    keys: ordered (key, value text) pairs, values already spelled as the
    language writes them ("3x3", "same", "0,1,0,1", "0.0235294122").
    inputs: names of the producers, or None to read the statement before.
    comment: the source operator, as "op 3 CONV_2D -> 'model/conv2d/Relu'".
    """

    def __init__(self, op, name, keys=(), inputs=None, comment=None):
        self.op, self.name, self.keys = op, name, list(keys)
        self.inputs, self.comment = inputs, comment


class Model:
    """A whole import: the input, the layers in execution order, the outputs
    (names; default the last layer), the tensors by safetensors name (numpy
    arrays of float32, int8 or int32 in cnnc's layouts) and the comment
    lines that open the .net file."""

    def __init__(self, name):
        self.name = name
        self.input_name, self.input_shape, self.input_keys = "input", None, []
        self.layers, self.outputs, self.tensors, self.notes = [], [], {}, []


def identifier(text, taken):
    """A layer name from a source tensor or node name: the characters the
    language allows ([A-Za-z_][A-Za-z0-9_.]*), others as '_', made unique
    in `taken` (a set, updated) with a numeric suffix."""
    s = re.sub(r"[^A-Za-z0-9_.]", "_", text or "")
    s = re.sub(r"_+", "_", s).strip("_.") or "t"
    if not re.match(r"[A-Za-z_]", s):
        s = "t_" + s
    s = s[:60]
    if s in ("network", "input", "output"):
        s += "_"
    name, n = s, 1
    while name in taken:
        n += 1
        name = "%s_%d" % (s, n)
    taken.add(name)
    return name


def c_identifier(text):
    """A network name (a C identifier) from a file stem."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", text)
    if not s or s[0].isdigit():
        s = "net_" + s
    return s + "_net" if s in _C_KEYWORDS else s


def fmt_float(v):
    """A float32 spelled so that it reads back to the same float32."""
    v = float(np.float32(v))
    for digits in range(6, 10):
        s = "%.*g" % (digits, v)
        if float(np.float32(float(s))) == v:
            break
    if not re.search(r"[.en]", s):
        s += ".0"
    return s


def net_text(model):
    """The .net source: comment lines, network, input, one layer a line
    (columns aligned, the source operator in the line's comment), output."""
    rows = []
    prev = model.input_name
    for l in model.layers:
        keys = []
        if l.inputs is not None and list(l.inputs) != [prev]:
            keys.append("from=" + ",".join(l.inputs))
        keys += ["%s=%s" % kv for kv in l.keys]
        rows.append((l.op, l.name, " ".join(keys), l.comment))
        prev = l.name
    wop = max([len(r[0]) for r in rows] + [len("input")])
    wname = min(max([len(r[1]) for r in rows] + [len(model.input_name)]), 40)
    shape = "x".join(str(d) for d in model.input_shape)
    inp = " ".join(["%-*s %-*s %s" % (wop, "input", wname, model.input_name, shape)] +
                   ["%s=%s" % kv for kv in model.input_keys])
    body = ["%-*s %-*s %s" % (wop, op, wname, name, keys) for op, name, keys, _ in rows]
    width = min(max([len(b.rstrip()) for b in body] + [0]), 100)
    lines = ["# " + c if c else "#" for c in model.notes]
    lines += ["", "network %s" % model.name, "", inp, ""]
    for b, r in zip(body, rows):
        b = b.rstrip()
        lines.append("%-*s  # %s" % (width, b, r[3]) if r[3] else b)
    outs = list(model.outputs)
    if outs and outs != [model.layers[-1].name]:
        lines += ["", "output " + " ".join(outs)]
    return "\n".join(lines) + "\n"


def safetensors_bytes(tensors):
    """safetensors: u64 LE header length, a JSON header padded with spaces
    so the data starts 8-byte aligned, raw little-endian data."""
    header, off, blobs = {}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        if a.dtype not in _DTYPES:
            raise ValueError("tensor %s: dtype %s has no safetensors name here" % (name, a.dtype))
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode("ascii")
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write(model, outdir, name=None):
    """Writes DIR/NAME.net and DIR/NAME.safetensors; returns their paths.
    Raises ImportError_ when the directory cannot be written."""
    name = name or model.name
    files = [(".safetensors", safetensors_bytes(model.tensors)), (".net", net_text(model).encode("utf-8"))]
    mask = os.umask(0)
    os.umask(mask)
    temps = []
    try:
        os.makedirs(outdir, exist_ok=True)
        for ext, data in files:
            fd, tmp = tempfile.mkstemp(dir=outdir, prefix=".%s" % name, suffix=ext + ".tmp")
            temps.append((tmp, os.path.join(outdir, name + ext)))
            os.fchmod(fd, 0o666 & ~mask)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        for tmp, final in temps:
            os.replace(tmp, final)
    except OSError as e:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise ImportError_("cannot write to %s: %s" % (outdir, e))
    return [final for _, final in temps]
