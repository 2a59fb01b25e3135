"""tflite_fb: a TensorFlow Lite flatbuffer read into plain Python objects.

Written by hand from the format's schema (tensorflow/lite/schema/schema.fbs)
with Debian's flatbuffers runtime, rather than with code flatc generates: the
importer needs a few tables, and each field below is read by its slot number
in the schema's table (field k of a table lives at vtable offset 4 + 2k; a
union takes two slots, its type then its value).
"""

import struct

import flatbuffers
import numpy as np
from flatbuffers import number_types as N

# TensorType values (schema: enum TensorType) and their numpy dtypes.
TYPES = {0: ("FLOAT32", np.float32), 1: ("FLOAT16", np.float16), 2: ("INT32", np.int32),
         3: ("UINT8", np.uint8), 4: ("INT64", np.int64), 6: ("BOOL", np.bool_),
         7: ("INT16", np.int16), 9: ("INT8", np.int8), 10: ("FLOAT64", np.float64),
         17: ("INT4", None), 18: ("BFLOAT16", None), 19: ("INT2", None), 20: ("UINT4", None)}

# BuiltinOperator codes the importer knows by name (schema: enum BuiltinOperator).
OPS = {0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
       6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL",
       19: "RELU", 21: "RELU6", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 25: "SOFTMAX", 28: "TANH",
       32: "CUSTOM", 34: "PAD", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 43: "SQUEEZE",
       60: "PADV2", 67: "TRANSPOSE_CONV", 97: "RESIZE_NEAREST_NEIGHBOR", 98: "LEAKY_RELU",
       114: "QUANTIZE", 117: "HARD_SWISH"}

# Options tables by operator: field names in slot order, with their flatbuffers
# scalar kinds and defaults. Slots not listed are not read.
_I, _B, _F = N.Int32Flags, N.Int8Flags, N.Float32Flags
_POOL = [("padding", _B, 0), ("stride_w", _I, 0), ("stride_h", _I, 0), ("filter_width", _I, 0),
         ("filter_height", _I, 0), ("fused_activation_function", _B, 0)]
OPTIONS = {
    "CONV_2D": [("padding", _B, 0), ("stride_w", _I, 0), ("stride_h", _I, 0),
                ("fused_activation_function", _B, 0), ("dilation_w_factor", _I, 1),
                ("dilation_h_factor", _I, 1)],
    "DEPTHWISE_CONV_2D": [("padding", _B, 0), ("stride_w", _I, 0), ("stride_h", _I, 0),
                          ("depth_multiplier", _I, 0), ("fused_activation_function", _B, 0),
                          ("dilation_w_factor", _I, 1), ("dilation_h_factor", _I, 1)],
    "AVERAGE_POOL_2D": _POOL,
    "MAX_POOL_2D": _POOL,
    "FULLY_CONNECTED": [("fused_activation_function", _B, 0), ("weights_format", _B, 0),
                        ("keep_num_dims", N.BoolFlags, False)],
    "SOFTMAX": [("beta", _F, 0.0)],
    "CONCATENATION": [("axis", _I, 0), ("fused_activation_function", _B, 0)],
    "ADD": [("fused_activation_function", _B, 0)],
    "SUB": [("fused_activation_function", _B, 0)],
    "MUL": [("fused_activation_function", _B, 0)],
    "MEAN": [("keep_dims", N.BoolFlags, False)],
    "LEAKY_RELU": [("alpha", _F, 0.0)],
}
# Vector fields of options tables: (name, slot, element kind).
OPTION_VECTORS = {"RESHAPE": [("new_shape", 0, _I)], "SQUEEZE": [("squeeze_dims", 0, _I)]}


class FormatError(Exception):
    """The file is not a readable TFLite flatbuffer."""


class Tensor:
    """One tensor: shape, type name, data (numpy, or None for activations),
    name, and its quantization (scale and zero_point arrays, or None)."""

    def __init__(self, index):
        self.index = index
        self.shape, self.type, self.dtype, self.name = [], "FLOAT32", np.float32, ""
        self.data, self.scale, self.zero_point, self.qdim = None, None, None, 0


class Operator:
    """One operator: its index, builtin name (or 'CUSTOM:code' / 'BUILTIN_n'),
    version, input and output tensor indices (-1 for an absent optional
    input) and its options as a dict."""

    def __init__(self, index, op, version, inputs, outputs, options):
        self.index, self.op, self.version = index, op, version
        self.inputs, self.outputs, self.options = inputs, outputs, options


class Graph:
    """The first subgraph: tensors, operators, input and output indices."""

    def __init__(self):
        self.tensors, self.operators, self.inputs, self.outputs = [], [], [], []
        self.version, self.subgraphs = 0, 0


def _table(buf, pos):
    """A table at absolute position pos."""
    return flatbuffers.table.Table(buf, pos)


def _scalar(t, slot, kind, default):
    """Field `slot` of table t as a scalar, or its default when absent."""
    o = t.Offset(4 + 2 * slot)
    return t.Get(kind, o + t.Pos) if o else default


def _sub(t, slot):
    """Field `slot` of table t as a table, or None."""
    o = t.Offset(4 + 2 * slot)
    return _table(t.Bytes, t.Indirect(o + t.Pos)) if o else None


def _string(t, slot):
    """Field `slot` of table t as text ('' when absent)."""
    o = t.Offset(4 + 2 * slot)
    return t.String(o + t.Pos).decode("utf-8", "replace") if o else ""


def _vector(t, slot, kind):
    """Field `slot` of table t as a numpy vector of scalars (empty when absent)."""
    o = t.Offset(4 + 2 * slot)
    if not o:
        return np.zeros(0, dtype=N.to_numpy_type(kind))
    _check_span(t, o, kind.bytewidth)
    return t.GetVectorAsNumpy(kind, o)


def _check_span(t, o, width):
    """A vector must lie inside the file: a damaged length would otherwise
    make a huge list (a hang) or read past the end."""
    start, n = t.Vector(o), t.VectorLen(o)
    if start + n * width > len(t.Bytes):
        raise FormatError("a vector of %d elements at offset %d runs past the end of the file (%d bytes)"
                          % (n, start, len(t.Bytes)))


def _tables(t, slot):
    """Field `slot` of table t as a list of tables."""
    o = t.Offset(4 + 2 * slot)
    if not o:
        return []
    _check_span(t, o, 4)
    start, n = t.Vector(o), t.VectorLen(o)
    return [_table(t.Bytes, t.Indirect(start + 4 * i)) for i in range(n)]


def _buffer_data(buf, b):
    """The bytes of Buffer table b: inline data, or (for models over 2 GB)
    an offset and size into the file itself."""
    if b is None:
        return b""
    data = _vector(b, 0, N.Uint8Flags)
    if len(data):
        return data.tobytes()
    off, size = _scalar(b, 1, N.Uint64Flags, 0), _scalar(b, 2, N.Uint64Flags, 0)
    if off > 1 and size:
        if off + size > len(buf):
            raise FormatError("buffer at offset %d size %d runs past the end of the file" % (off, size))
        return bytes(buf[off:off + size])
    return b""


def _read_tensor(buf, index, t, buffers):
    """Tensor table t with its data from `buffers` (Buffer tables)."""
    x = Tensor(index)
    x.shape = [int(d) for d in _vector(t, 0, N.Int32Flags)]
    code = _scalar(t, 1, N.Int8Flags, 0)
    x.type, x.dtype = TYPES.get(code, ("TYPE_%d" % code, None))
    x.name = _string(t, 3)
    bi = _scalar(t, 2, N.Uint32Flags, 0)
    if bi >= len(buffers):
        raise FormatError("tensor %d '%s' names buffer %d of %d" % (index, x.name, bi, len(buffers)))
    raw = _buffer_data(buf, buffers[bi]) if bi else b""
    if raw:
        if x.dtype is None:
            raise FormatError("tensor %d '%s' holds data of type %s" % (index, x.name, x.type))
        count = int(np.prod(x.shape)) if x.shape else 1
        if len(raw) != count * np.dtype(x.dtype).itemsize:
            raise FormatError("tensor %d '%s': %d bytes of data for shape %s %s"
                              % (index, x.name, len(raw), x.shape, x.type))
        x.data = np.frombuffer(raw, dtype=np.dtype(x.dtype).newbyteorder("<")).reshape(x.shape)
    q = _sub(t, 4)
    if q is not None:
        scale = _vector(q, 2, N.Float32Flags)
        if len(scale):
            x.scale = np.array(scale, dtype=np.float32)
            zp = _vector(q, 3, N.Int64Flags)
            x.zero_point = np.array(zp if len(zp) else np.zeros(len(scale)), dtype=np.int64)
            x.qdim = _scalar(q, 6, N.Int32Flags, 0)
    return x


def _options(t, op):
    """Operator table t's builtin options for `op`, as a dict with the
    schema's defaults for absent fields."""
    fields, vectors = OPTIONS.get(op, []), OPTION_VECTORS.get(op, [])
    sub = _sub(t, 4)
    opts = {}
    for slot, (name, kind, default) in enumerate(fields):
        opts[name] = _scalar(sub, slot, kind, default) if sub is not None else default
    for name, slot, kind in vectors:
        opts[name] = [int(v) for v in _vector(sub, slot, kind)] if sub is not None else []
    return opts


def read(path):
    """The model in `path` as a Graph (its first subgraph). Raises
    FormatError when the file is not a TFLite flatbuffer."""
    try:
        with open(path, "rb") as f:
            buf = bytearray(f.read())
    except OSError as e:
        raise FormatError("cannot read %s: %s" % (path, e.strerror or e))
    return parse(buf, path)


def parse(buf, label):
    """The model in the bytes buf (named `label` in messages) as a Graph."""
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise FormatError("%s is not a TensorFlow Lite file (no TFL3 identifier)" % label)
    try:
        return _read_model(bytearray(buf))
    except (IndexError, ValueError, TypeError, OverflowError, UnicodeDecodeError, struct.error) as e:
        raise FormatError("%s: damaged flatbuffer (%s)" % (label, e))


def _read_model(buf):
    """Graph from the flatbuffer bytes."""
    root = flatbuffers.encode.Get(N.UOffsetTFlags.packer_type, buf, 0)
    if root >= len(buf):
        raise FormatError("root table offset past the end of the file")
    m = _table(buf, root)
    g = Graph()
    g.version = _scalar(m, 0, N.Uint32Flags, 0)
    codes = []
    for c in _tables(m, 1):
        dep = _scalar(c, 0, N.Int8Flags, 0)
        code = max(dep, _scalar(c, 3, N.Int32Flags, 0))  # newer files keep 127 in the deprecated byte
        name = OPS.get(code, "BUILTIN_%d" % code)
        if code == 32:
            name = "CUSTOM:" + _string(c, 1)
        codes.append((name, _scalar(c, 2, N.Int32Flags, 1)))
    buffers = _tables(m, 4)
    subgraphs = _tables(m, 2)
    g.subgraphs = len(subgraphs)
    if not subgraphs:
        raise FormatError("the model has no subgraph")
    s = subgraphs[0]
    g.tensors = [_read_tensor(buf, i, t, buffers) for i, t in enumerate(_tables(s, 0))]
    g.inputs = [int(i) for i in _vector(s, 1, N.Int32Flags)]
    g.outputs = [int(i) for i in _vector(s, 2, N.Int32Flags)]
    for v in g.inputs + g.outputs:
        if not 0 <= v < len(g.tensors):
            raise FormatError("the subgraph's inputs or outputs name tensor %d of %d" % (v, len(g.tensors)))
    for i, t in enumerate(_tables(s, 3)):
        ci = _scalar(t, 0, N.Uint32Flags, 0)
        if ci >= len(codes):
            raise FormatError("operator %d names operator code %d of %d" % (i, ci, len(codes)))
        name, version = codes[ci]
        ins = [int(v) for v in _vector(t, 1, N.Int32Flags)]
        outs = [int(v) for v in _vector(t, 2, N.Int32Flags)]
        for v in ins + outs:
            if v >= len(g.tensors) or v < -1 or (v == -1 and v in outs):
                raise FormatError("operator %d (%s) names tensor %d of %d" % (i, name, v, len(g.tensors)))
        g.operators.append(Operator(i, name, version, ins, outs, _options(t, name)))
    return g
