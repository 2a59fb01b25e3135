#!/usr/bin/python3
"""make_models: the small TFLite models tests/unit/test_tflite.c imports.

usage: /usr/bin/python3 tests/tflite/make_models.py [OUTDIR [BADDIR]]
       (default tests/tflite/models and tests/tflite/bad)

Each model is described once in float (random weights from a fixed seed) and
written twice: NAME_float.tflite, and NAME_int8.tflite quantized as the TFLite
converter does it: per-channel symmetric int8 weights (per-tensor for
FULLY_CONNECTED), int32 biases at input scale times weight scale, activation
params from the float model's ranges over random inputs, TFLite's fixed
params for LOGISTIC, TANH and SOFTMAX, and pools, reshapes and pads keeping
their input's. Written with Debian's flatbuffers runtime by schema slot, as
tools/tflite_fb.py reads it; the files are committed, so the tests need no
Python to exist, only to check.
"""

import os
import sys

import flatbuffers
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import tflite_ref  # noqa: E402
import tflite_fb  # noqa: E402

CODES = {v: k for k, v in tflite_fb.OPS.items()}
# BuiltinOptions union members (1-based) and their fields' slots.
OPTION_TYPE = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 2, "AVERAGE_POOL_2D": 5, "MAX_POOL_2D": 5,
               "FULLY_CONNECTED": 8, "SOFTMAX": 9, "CONCATENATION": 10, "ADD": 11, "RESHAPE": 17,
               "MUL": 21, "PAD": 22, "MEAN": 27, "SUB": 28, "SQUEEZE": 30, "LEAKY_RELU": 75}
TYPE_CODE = {"FLOAT32": 0, "INT32": 2, "INT8": 9}


class Net:
    """A float model being described: tensors (shape, name, data), operators
    (op, inputs, outputs, options dict), the input and the outputs."""

    def __init__(self, name, seed):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.tensors, self.ops, self.inputs, self.outputs = [], [], [], []
        self.old_opcodes = False

    def t(self, shape, name, data=None):
        """A new tensor; returns its index."""
        self.tensors.append({"shape": list(shape), "name": name, "data": data})
        return len(self.tensors) - 1

    def input(self, shape):
        i = self.t(shape, "input")
        self.inputs.append(i)
        return i

    def shape(self, i):
        return self.tensors[i]["shape"]

    def op(self, op, ins, out_shape, opts=None, name=None):
        """Appends an operator with one new output tensor; returns it."""
        # Keras-style names: model/layer/TF op, ';'-joined when ops fused
        o = self.t(out_shape, name or "%s/%s_%d/%s" % (self.name, op.lower(), len(self.ops), op.title().replace("_", "")))
        self.ops.append({"op": op, "inputs": ins, "outputs": [o], "options": opts or {}})
        return o

    def _window(self, x, k, s, d, padding):
        _, h, w, _ = self.shape(x)
        if padding == "SAME":
            return (h + s[0] - 1) // s[0], (w + s[1] - 1) // s[1]
        return (h - d[0] * (k[0] - 1) - 1) // s[0] + 1, (w - d[1] * (k[1] - 1) - 1) // s[1] + 1

    def conv(self, x, cout, k, s=(1, 1), padding="SAME", act=0, d=(1, 1), bias=True, name=None):
        cin = self.shape(x)[3]
        w = self.t([cout, k[0], k[1], cin], "w", self.rng.normal(0, 1 / np.sqrt(cin * k[0] * k[1]),
                                                                 (cout, k[0], k[1], cin)).astype(np.float32))
        b = self.t([cout], "b", self.rng.normal(0, 0.1, cout).astype(np.float32)) if bias else -1
        oh, ow = self._window(x, k, s, d, padding)
        return self.op("CONV_2D", [x, w, b], [1, oh, ow, cout],
                       {"padding": 0 if padding == "SAME" else 1, "stride_w": s[1], "stride_h": s[0],
                        "fused_activation_function": act, "dilation_w_factor": d[1], "dilation_h_factor": d[0]},
                       name=name)

    def dwconv(self, x, mult, k, s=(1, 1), padding="SAME", act=0, d=(1, 1)):
        cin = self.shape(x)[3]
        w = self.t([1, k[0], k[1], cin * mult], "dw", self.rng.normal(0, 1 / np.sqrt(k[0] * k[1]),
                                                                      (1, k[0], k[1], cin * mult)).astype(np.float32))
        b = self.t([cin * mult], "db", self.rng.normal(0, 0.1, cin * mult).astype(np.float32))
        oh, ow = self._window(x, k, s, d, padding)
        return self.op("DEPTHWISE_CONV_2D", [x, w, b], [1, oh, ow, cin * mult],
                       {"padding": 0 if padding == "SAME" else 1, "stride_w": s[1], "stride_h": s[0],
                        "depth_multiplier": mult, "fused_activation_function": act,
                        "dilation_w_factor": d[1], "dilation_h_factor": d[0]})

    def fc(self, x, cout, act=0):
        n = int(np.prod(self.shape(x)[1:]))
        w = self.t([cout, n], "fw", self.rng.normal(0, 1 / np.sqrt(n), (cout, n)).astype(np.float32))
        b = self.t([cout], "fb", self.rng.normal(0, 0.1, cout).astype(np.float32))
        return self.op("FULLY_CONNECTED", [x, w, b], [1, cout], {"fused_activation_function": act})

    def pool(self, op, x, k, s, padding="SAME", act=0):
        oh, ow = self._window(x, k, s, (1, 1), padding)
        return self.op(op, [x], [1, oh, ow, self.shape(x)[3]],
                       {"padding": 0 if padding == "SAME" else 1, "stride_w": s[1], "stride_h": s[0],
                        "filter_width": k[1], "filter_height": k[0], "fused_activation_function": act})

    def pad(self, x, t, b, l, r):
        p = self.t([4, 2], "pads", np.array([[0, 0], [t, b], [l, r], [0, 0]], dtype=np.int32))
        n, h, w, c = self.shape(x)
        return self.op("PAD", [x, p], [n, h + t + b, w + l + r, c])

    def reshape(self, x, shape):
        s = self.t([len(shape)], "shape", np.array(shape, dtype=np.int32))
        return self.op("RESHAPE", [x, s], shape, {"new_shape": shape})

    def mean(self, x, keep):
        a = self.t([2], "axes", np.array([1, 2], dtype=np.int32))
        c = self.shape(x)[3]
        return self.op("MEAN", [x, a], [1, 1, 1, c] if keep else [1, c], {"keep_dims": keep})

    def unary(self, op, x, **opts):
        return self.op(op, [x], self.shape(x), opts)

    def add(self, a, b, act=0):
        return self.op("ADD", [a, b], self.shape(a), {"fused_activation_function": act})

    def concat(self, xs):
        s = list(self.shape(xs[0]))
        s[-1] = sum(self.shape(x)[-1] for x in xs)
        return self.op("CONCATENATION", xs, s, {"axis": -1, "fused_activation_function": 0})


# ---- the models ----

def m_convnet(n):
    """conv SAME stride 2 + relu, depthwise x2 VALID + relu6, 1x1 conv, a
    flatten of a 3x4 map (TFLite's HWC order), fully connected, softmax."""
    x = n.input([1, 9, 11, 3])
    y = n.conv(x, 4, (3, 3), (2, 2), "SAME", act=1, name="convnet/conv1/Relu;convnet/conv1/BiasAdd;convnet/conv1/Conv2D")
    y = n.dwconv(y, 2, (3, 3), (1, 1), "VALID", act=3)
    y = n.conv(y, 5, (1, 1), bias=False)
    y = n.reshape(y, [1, int(np.prod(n.shape(y)[1:]))])
    y = n.fc(y, 6)
    n.outputs = [n.unary("SOFTMAX", y, beta=1.0)]


def m_pools(n):
    """PAD folded into a dilated VALID conv, max and average pools with SAME
    padding (the average counts only real cells), a concat of both, MEAN
    with keep_dims, a squeeze to [1,C], a dense layer with fused relu6."""
    x = n.input([1, 10, 10, 2])
    y = n.pad(x, 1, 2, 0, 1)
    y = n.conv(y, 3, (3, 3), (1, 1), "VALID", d=(2, 2), act=1)
    a = n.pool("MAX_POOL_2D", y, (3, 3), (2, 2), "SAME")
    b = n.pool("AVERAGE_POOL_2D", y, (3, 3), (2, 2), "SAME")
    y = n.concat([a, b])
    y = n.mean(y, True)
    y = n.reshape(y, [1, n.shape(y)[3]])
    n.outputs = [n.fc(y, 4, act=3)]


def m_acts(n):
    """Activations as their own operators, a residual ADD, a strided
    depthwise conv, two outputs (one spatial, written HWC)."""
    x = n.input([1, 8, 6, 4])
    a = n.conv(x, 4, (3, 3))
    s = n.unary("LOGISTIC", a)
    t = n.unary("TANH", n.conv(x, 4, (1, 1)))
    y = n.add(s, t, act=0)
    y = n.unary("HARD_SWISH", y)
    y = n.unary("LEAKY_RELU", y, alpha=0.2)
    y = n.unary("RELU", n.conv(y, 6, (3, 3), (1, 2)))
    y = n.unary("RELU6", y)
    y = n.dwconv(y, 1, (3, 3), (2, 2), "SAME")
    n.outputs = [y, n.fc(y, 3, act=1)]
    n.old_opcodes = True


def m_edges(n):
    """A small classifier whose int8 file takes and returns float: QUANTIZE
    of the input and DEQUANTIZE of the output around the int8 graph."""
    x = n.input([1, 6, 6, 2])
    y = n.conv(x, 3, (3, 3), (2, 2), act=1)
    y = n.pool("AVERAGE_POOL_2D", y, (3, 3), (3, 3), "VALID")
    y = n.reshape(y, [1, 3])
    n.outputs = [n.fc(y, 4)]
    n.float_edges = True


def m_dense(n):
    """A [1, N] input through fully connected layers (an autoencoder's shape)."""
    x = n.input([1, 20])
    y = n.fc(x, 16, act=1)
    y = n.fc(y, 8)
    n.outputs = [n.fc(y, 20)]


def m_flatout(n):
    """An output flattened from a conv's 4x3 map: TFLite's HWC order, which
    cnnc's HWC output gives as it is, without a flatten."""
    x = n.input([1, 4, 3, 2])
    c = n.conv(x, 5, (3, 3), act=3)
    n.outputs = [n.reshape(c, [1, 60])]


MODELS = {"convnet": m_convnet, "dense": m_dense, "flatout": m_flatout, "pools": m_pools, "acts": m_acts, "edges": m_edges}


def b_mul(n):
    """MUL (squeeze-excitation's gate): not an operator cnnc takes yet."""
    x = n.input([1, 4, 4, 2])
    y = n.conv(x, 2, (1, 1))
    n.outputs = [n.op("MUL", [x, y], [1, 4, 4, 2], {"fused_activation_function": 0})]


def b_batch(n):
    """A batch of 2 images."""
    x = n.input([2, 4, 4, 2])
    n.outputs = [n.conv(x, 2, (1, 1))]


def b_padpool(n):
    """PAD before a max pool (TFLite would pool over the padded zeros)."""
    x = n.input([1, 4, 4, 2])
    y = n.pad(x, 1, 1, 1, 1)
    n.outputs = [n.pool("MAX_POOL_2D", y, (2, 2), (2, 2), "VALID")]


def b_broadcast(n):
    """ADD of a [1,4,4,2] and a [1,1,1,2] tensor (broadcasting)."""
    x = n.input([1, 4, 4, 2])
    m = n.mean(x, True)
    n.outputs = [n.add(x, m)]


# Models the importer must refuse, each with a message naming the operator.
BAD = {"mul": b_mul, "batch": b_batch, "padpool": b_padpool, "broadcast": b_broadcast}


def with_edges(n, q):
    """n with a float input QUANTIZEd into it and its outputs DEQUANTIZEd."""
    e = Net(n.name, 0)
    e.tensors, e.old_opcodes = list(n.tensors), n.old_opcodes
    fin = e.t(n.shape(n.inputs[0]), "input_float")
    e.inputs = [fin]
    e.ops = [{"op": "QUANTIZE", "inputs": [fin], "outputs": [n.inputs[0]], "options": {}}] + list(n.ops)
    e.outputs = []
    for o in n.outputs:
        f = e.t(n.shape(o), "output_float")
        e.ops.append({"op": "DEQUANTIZE", "inputs": [o], "outputs": [f], "options": {}})
        e.outputs.append(f)
    return e


# ---- quantization ----

def ranges(n, path, count=16):
    """(min, max) of every computed tensor of the float model in path."""
    g = tflite_fb.read(path)
    lo, hi = {}, {}
    rng = np.random.default_rng(7)
    for _ in range(count):
        x = rng.uniform(-1, 1, size=g.tensors[g.inputs[0]].shape).astype(np.float32)
        vals = tflite_ref.Ref(g).run(x)
        for i, v in vals.items():
            if g.tensors[i].data is None:
                lo[i] = min(lo.get(i, 0.0), float(v.min()))
                hi[i] = max(hi.get(i, 0.0), float(v.max()))
    return lo, hi


def act_params(lo, hi):
    """Asymmetric int8 params covering [lo, hi] (with 0 inside)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = np.float32(max(hi - lo, 1e-6) / 255.0)
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return scale, zp


def quantize(n, lo, hi):
    """Per tensor (dtype name, data, scales, zero points, quantized dim)."""
    q = {}
    for i in n.inputs + [o for op in n.ops for o in op["outputs"]]:
        q[i] = ("INT8", None) + tuple(np.array([v]) for v in act_params(lo.get(i, -1.0), hi.get(i, 1.0))) + (0,)
    for op in n.ops:  # ops whose output keeps the input's params, or TFLite's fixed ones
        out = op["outputs"][0]
        if op["op"] in ("MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "PAD", "SQUEEZE", "CONCATENATION"):
            q[out] = q[op["inputs"][0]]
        elif op["op"] in ("LOGISTIC", "SOFTMAX"):
            q[out] = ("INT8", None, np.array([np.float32(1 / 256)]), np.array([-128]), 0)
        elif op["op"] == "TANH":
            q[out] = ("INT8", None, np.array([np.float32(1 / 128)]), np.array([0]), 0)
    for op in n.ops:
        if op["op"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        _, wi, bi = op["inputs"]
        w = n.tensors[wi]["data"]
        if op["op"] == "FULLY_CONNECTED":
            ws = np.array([np.abs(w).max() / 127], dtype=np.float32)
            wq = np.round(w / ws[0]).astype(np.int8)
            qdim = 0
        elif op["op"] == "CONV_2D":
            ws = (np.abs(w).reshape(w.shape[0], -1).max(axis=1) / 127).astype(np.float32)
            wq = np.round(w / ws[:, None, None, None]).astype(np.int8)
            qdim = 0
        else:
            ws = (np.abs(w).reshape(-1, w.shape[3]).max(axis=0) / 127).astype(np.float32)
            wq = np.round(w / ws[None, None, None, :]).astype(np.int8)
            qdim = 3
        q[wi] = ("INT8", wq, ws, np.zeros(len(ws), dtype=np.int64), qdim)
        if bi >= 0:
            s_in = q[op["inputs"][0]][2][0]
            bs = (np.float64(s_in) * ws.astype(np.float64))
            bq = np.round(n.tensors[bi]["data"] / bs).astype(np.int32)
            q[bi] = ("INT32", bq, bs.astype(np.float32), np.zeros(len(bs), dtype=np.int64), 0)
    return q


# ---- the flatbuffer ----

def _vec(b, kind, values):
    """A vector of scalars; returns its offset."""
    arr = np.asarray(values, dtype=flatbuffers.number_types.to_numpy_type(kind))
    return b.CreateNumpyVector(arr)


def _table_vec(b, offsets):
    b.StartVector(4, len(offsets), 4)
    for o in reversed(offsets):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def write(n, q, path):
    """The model as a TFLite flatbuffer: float when q is None, else int8."""
    N = flatbuffers.number_types
    b = flatbuffers.Builder(1024)
    datas = [None]
    tensor_offs = []
    for i, t in enumerate(n.tensors):
        data, ttype, quant = t["data"], "FLOAT32", None
        if data is not None and data.dtype == np.int32:
            ttype = "INT32"
        if q is not None and i in q:
            ttype, qdata, scales, zps, qdim = q[i]
            if qdata is not None:
                data = qdata
            quant = (scales, zps, qdim)
        buf = 0
        if data is not None:
            datas.append(np.ascontiguousarray(data).tobytes())
            buf = len(datas) - 1
        name = b.CreateString(t["name"])
        shape = _vec(b, N.Int32Flags, t["shape"])
        qoff = None
        if quant is not None:
            so = _vec(b, N.Float32Flags, quant[0])
            zo = _vec(b, N.Int64Flags, quant[1])
            b.StartObject(7)
            b.PrependUOffsetTRelativeSlot(2, so, 0)
            b.PrependUOffsetTRelativeSlot(3, zo, 0)
            b.PrependInt32Slot(6, quant[2], 0)
            qoff = b.EndObject()
        b.StartObject(5)
        b.PrependUOffsetTRelativeSlot(0, shape, 0)
        b.PrependInt8Slot(1, TYPE_CODE[ttype], 0)
        b.PrependUint32Slot(2, buf, 0)
        b.PrependUOffsetTRelativeSlot(3, name, 0)
        if qoff is not None:
            b.PrependUOffsetTRelativeSlot(4, qoff, 0)
        tensor_offs.append(b.EndObject())
    codes = []
    op_offs = []
    for op in n.ops:
        if op["op"] not in codes:
            codes.append(op["op"])
        fields = tflite_fb.OPTIONS.get(op["op"], [])
        vectors = tflite_fb.OPTION_VECTORS.get(op["op"], [])
        opt = None
        if op["op"] in OPTION_TYPE:
            vec_offs = {name: _vec(b, kind, op["options"].get(name, [])) for name, _, kind in vectors}
            b.StartObject(max([len(fields)] + [s + 1 for _, s, _ in vectors]))
            for slot, (name, kind, default) in enumerate(fields):
                v = op["options"].get(name, default)
                b.PrependSlot(kind, slot, v, default)
            for name, slot, _ in vectors:
                b.PrependUOffsetTRelativeSlot(slot, vec_offs[name], 0)
            opt = b.EndObject()
        ins = _vec(b, N.Int32Flags, op["inputs"])
        outs = _vec(b, N.Int32Flags, op["outputs"])
        b.StartObject(5)
        b.PrependUint32Slot(0, codes.index(op["op"]), 0)
        b.PrependUOffsetTRelativeSlot(1, ins, 0)
        b.PrependUOffsetTRelativeSlot(2, outs, 0)
        if opt is not None:
            b.PrependUint8Slot(3, OPTION_TYPE[op["op"]], 0)
            b.PrependUOffsetTRelativeSlot(4, opt, 0)
        op_offs.append(b.EndObject())
    tv, ov = _table_vec(b, tensor_offs), _table_vec(b, op_offs)
    iv, outv = _vec(b, N.Int32Flags, n.inputs), _vec(b, N.Int32Flags, n.outputs)
    sname = b.CreateString("main")
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, tv, 0)
    b.PrependUOffsetTRelativeSlot(1, iv, 0)
    b.PrependUOffsetTRelativeSlot(2, outv, 0)
    b.PrependUOffsetTRelativeSlot(3, ov, 0)
    b.PrependUOffsetTRelativeSlot(4, sname, 0)
    sub = b.EndObject()
    code_offs = []
    for c in codes:
        b.StartObject(4)
        code = CODES[c]
        b.PrependInt8Slot(0, min(code, 127), 0)
        if not n.old_opcodes:  # old files have only the deprecated byte
            b.PrependInt32Slot(3, code, 0)
        b.PrependInt32Slot(2, 2 if q is not None else 1, 1)
        code_offs.append(b.EndObject())
    buf_offs = []
    for d in datas:
        if d is None:
            b.StartObject(1)
            buf_offs.append(b.EndObject())
            continue
        b.StartVector(1, len(d), 16)
        b.head = b.head - len(d)
        b.Bytes[b.head:b.head + len(d)] = d
        dv = b.EndVector()
        b.StartObject(1)
        b.PrependUOffsetTRelativeSlot(0, dv, 0)
        buf_offs.append(b.EndObject())
    cv, bv = _table_vec(b, code_offs), _table_vec(b, buf_offs)
    sv = _table_vec(b, [sub])
    desc = b.CreateString("cnnc test model %s" % n.name)
    b.StartObject(5)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(1, cv, 0)
    b.PrependUOffsetTRelativeSlot(2, sv, 0)
    b.PrependUOffsetTRelativeSlot(3, desc, 0)
    b.PrependUOffsetTRelativeSlot(4, bv, 0)
    root = b.EndObject()
    b.Finish(root, file_identifier=b"TFL3")
    with open(path, "wb") as f:
        f.write(b.Output())


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "models")
    os.makedirs(out, exist_ok=True)
    for name, fn in MODELS.items():
        n = Net(name, seed=sum(map(ord, name)))
        fn(n)
        fpath = os.path.join(out, name + "_float.tflite")
        write(n, None, fpath)
        lo, hi = ranges(n, fpath)
        q = quantize(n, lo, hi)
        write(with_edges(n, q) if getattr(n, "float_edges", False) else n, q,
              os.path.join(out, name + "_int8.tflite"))
        print("wrote %s_float.tflite and %s_int8.tflite" % (name, name))
    bad = os.path.join(out, "..", "bad") if len(sys.argv) < 3 else sys.argv[2]
    os.makedirs(bad, exist_ok=True)
    for name, fn in BAD.items():
        n = Net(name, seed=sum(map(ord, name)))
        fn(n)
        write(n, None, os.path.join(bad, name + ".tflite"))
        print("wrote bad/%s.tflite" % name)


if __name__ == "__main__":
    main()
