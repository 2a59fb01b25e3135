#!/usr/bin/python3
"""gen: the ONNX importer's test models, built with onnx.helper.

  gen.py write [DIR]    writes DIR/NAME/{model.onnx,input.bin,expected.bin}
                        for every case (DIR: tests/onnx/cases), and the bad
                        models of the diagnostics tests (tests/onnx/bad)
  gen.py selfcheck      checks ref.py against ONNX's conformance data
  gen.py fuzz MODEL     reads every truncation and many byte flips of MODEL
                        with tools/import_onnx.py: each must import or be a
                        model error, never an exception

Expected outputs are ref.py's (numpy, float64, rounded to float32); inputs
are float32 from a seeded generator, so the files are the same each run.
"""

import os
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

import ref  # noqa: E402

# The IR version each opset came with (older readers check it).
IR = {6: 3, 7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8}


class Builder:
    """One model being built: nodes, initializers, a seeded generator."""

    def __init__(self, opset, seed):
        self.opset, self.nodes, self.inits, self.n = opset, [], {}, 0
        self.rng = np.random.default_rng(seed)

    def w(self, name, shape, scale=0.5):
        self.inits[name] = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        return name

    def c(self, name, value, dtype=np.float32):
        self.inits[name] = np.asarray(value, dtype=dtype)
        return name

    def pos(self, name, shape):
        """Positive values (variances)."""
        self.inits[name] = (self.rng.random(shape) + 0.5).astype(np.float32)
        return name

    def op(self, op_type, inputs, out=None, name=None, **attrs):
        self.n += 1
        out = out or "t%d" % self.n
        self.nodes.append(helper.make_node(op_type, inputs, [out], name="%s_%d" % (op_type, self.n) if name is None else name, **attrs))
        return out

    def conv(self, x, cin, cout, k, prefix, bias=True, **attrs):
        ins = [x, self.w(prefix + ".weight", (cout, cin // attrs.get("group", 1), k, k))]
        if bias:
            ins.append(self.w(prefix + ".bias", (cout,), 0.1))
        return self.op("Conv", ins, **attrs)

    def model(self, shape, outputs, name):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
        inputs = [x]
        inits = [numpy_helper.from_array(v, k) for k, v in self.inits.items()]
        if self.opset < 9:  # IR 3: initializers are graph inputs too
            inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
        g = helper.make_graph(self.nodes, name, inputs, outs, initializer=inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)],
                              producer_name="cnnc tests/onnx/gen.py")
        m.ir_version = IR[self.opset]
        return m


# --- the cases: each returns (model, input shape) ----------------------

def conv_group_dilation():
    b = Builder(7, 1)
    y = b.conv("x", 4, 6, 3, "c1", group=2, dilations=[2, 1], strides=[2, 1], pads=[1, 0, 2, 1])
    y = b.op("Relu", [y])
    y = b.conv(y, 6, 12, 3, "dw", group=6, pads=[1, 1, 1, 1])
    y = b.conv(y, 12, 5, 1, "pw", bias=False)
    return b.model([1, 4, 11, 13], [y], "conv_group_dilation"), [1, 4, 11, 13]


def conv_auto_pad():
    b = Builder(11, 2)
    y = b.conv("x", 3, 4, 3, "up", auto_pad="SAME_UPPER", strides=[2, 2])
    y = b.conv(y, 4, 4, 4, "low", auto_pad="SAME_LOWER")
    y = b.op("Relu", [y])
    y = b.conv(y, 4, 3, 2, "valid", auto_pad="VALID", strides=[2, 1])
    return b.model([1, 3, 10, 9], [y], "conv_auto_pad"), [1, 3, 10, 9]


def pools():
    b = Builder(12, 3)
    m1 = b.op("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    m2 = b.op("MaxPool", ["x"], kernel_shape=[2, 2], dilations=[2, 2])
    a1 = b.op("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 0, 1], count_include_pad=1)
    a2 = b.op("AveragePool", ["x"], kernel_shape=[3, 2], pads=[1, 1, 1, 0])
    a3 = b.op("AveragePool", ["x"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    m3 = b.op("MaxPool", ["x"], kernel_shape=[3, 3], auto_pad="SAME_UPPER", strides=[2, 2])
    return b.model([1, 3, 13, 11], [m1, m2, a1, a2, a3, m3], "pools"), [1, 3, 13, 11]


def gemm_head():
    b = Builder(9, 4)
    y = b.op("Relu", [b.conv("x", 3, 8, 3, "conv")])
    y = b.op("GlobalAveragePool", [y])
    y = b.op("Flatten", [y])
    y = b.op("Gemm", [y, b.w("fc.weight", (10, 8)), b.w("fc.bias", (1, 10))], transB=1, alpha=0.5, beta=2.0)
    y = b.op("Softmax", [y], axis=1)
    return b.model([1, 3, 8, 8], [y], "gemm_head"), [1, 3, 8, 8]


def matmul_add():
    b = Builder(13, 5)
    y = b.op("Flatten", ["x"], axis=1)
    y = b.op("MatMul", [y, b.w("W1", (50, 16), 0.2)])
    y = b.op("Add", [y, b.w("B1", (16,), 0.1)])
    y = b.op("Relu", [y])
    y = b.op("BatchNormalization", [y, b.w("bn.weight", (16,)), b.w("bn.bias", (16,)), b.w("bn.mean", (16,)),
                                    b.pos("bn.var", (16,))])
    y = b.op("Gemm", [y, b.w("W2", (16, 7)), b.w("B2", (7,))])
    y = b.op("Softmax", [y])
    return b.model([1, 2, 5, 5], [y], "matmul_add"), [1, 2, 5, 5]


def bn_acts():
    b = Builder(14, 6)
    y = b.conv("x", 4, 6, 3, "c1", pads=[1, 1, 1, 1])
    y = b.op("BatchNormalization", [y, b.w("bn.weight", (6,)), b.w("bn.bias", (6,)), b.w("bn.mean", (6,)),
                                    b.pos("bn.var", (6,))], epsilon=1e-3)
    y = b.op("Clip", [y, b.c("zero", 0.0), b.c("six", 6.0)])
    y = b.op("LeakyRelu", [b.conv(y, 6, 6, 1, "c2")], alpha=0.1)
    y = b.op("HardSigmoid", [y], alpha=0.25, beta=0.4)
    y = b.op("HardSwish", [b.conv(y, 6, 6, 1, "c3", bias=False)])
    y = b.op("Sigmoid", [y])
    y = b.op("Tanh", [b.conv(y, 6, 5, 3, "c4")])
    y = b.op("Clip", [y, "zero"])
    y = b.op("LeakyRelu", [y])
    return b.model([1, 4, 6, 6], [y], "bn_acts"), [1, 4, 6, 6]


def clip_attrs():
    b = Builder(7, 7)
    y = b.op("Clip", [b.conv("x", 3, 4, 3, "c1")], min=0.0, max=6.0)
    y = b.op("BatchNormalization", [y, b.w("bn.weight", (4,)), b.w("bn.bias", (4,)), b.w("bn.mean", (4,)),
                                    b.pos("bn.var", (4,))])
    y = b.op("Dropout", [y], ratio=0.3)
    y = b.op("HardSigmoid", [y])
    return b.model([1, 3, 7, 7], [y], "clip_attrs"), [1, 3, 7, 7]


def residual():
    b = Builder(17, 8)
    a = b.op("Relu", [b.conv("x", 4, 4, 3, "a", pads=[1, 1, 1, 1])])
    c = b.conv(a, 4, 4, 3, "b", pads=[1, 1, 1, 1])
    s = b.op("Add", [c, a])
    s = b.op("Relu", [s])
    d = b.conv(s, 4, 3, 1, "c")
    e = b.op("Sum", [a, s, c])
    cat = b.op("Concat", [d, e], axis=1)
    cat = b.op("Identity", [cat])
    cat = b.op("Dropout", [cat, b.c("ratio", 0.25)])
    g = b.op("GlobalMaxPool", [cat])
    f = b.op("Flatten", [g])
    f = b.op("Gemm", [f, b.w("fc.weight", (5, 7)), b.w("fc.bias", (5,))], transB=1)
    return b.model([1, 4, 8, 8], [f, cat], "residual"), [1, 4, 8, 8]


def pad_fold():
    b = Builder(11, 9)
    p1 = b.op("Pad", ["x", b.c("p1", [0, 0, 1, 2, 0, 0, 2, 1], np.int64)])
    y1 = b.conv(p1, 3, 2, 3, "c1", pads=[1, 1, 1, 1])
    p2 = b.op("Pad", ["x", b.c("p2", [0, 0, 1, 1, 0, 0, 1, 1], np.int64)], mode="reflect")
    y2 = b.conv(p2, 3, 2, 3, "c2")
    p3 = b.op("Pad", ["x", b.c("p3", [0, 0, 2, 0, 0, 0, 0, 1], np.int64)], mode="edge")
    y3 = b.conv(p3, 3, 2, 3, "c3", strides=[2, 2])
    p4 = b.op("Pad", ["x", b.c("p4", [0, 0, 1, 1, 0, 0, 1, 1], np.int64), b.c("zv", 0.0)])
    y4 = b.op("AveragePool", [p4], kernel_shape=[3, 3])
    p5 = b.op("Pad", ["x", "p4", b.c("ninf", -np.inf)])
    y5 = b.op("MaxPool", [p5], kernel_shape=[2, 2], strides=[2, 2])
    return b.model([1, 3, 7, 7], [y1, y2, y3, y4, y5], "pad_fold"), [1, 3, 7, 7]


def pad_fallback():
    """Pads no reader takes as its padding: each a copy layer of its own."""
    b = Builder(13, 13)
    zeros = b.c("p", [0, 0, 1, 1, 0, 0, 1, 1], np.int64)
    y1 = b.op("MaxPool", [b.op("Pad", ["x", zeros])], kernel_shape=[2, 2], strides=[2, 2])
    y2 = b.op("AveragePool", [b.op("Pad", ["x", zeros], mode="reflect")], kernel_shape=[3, 3])
    y3 = b.op("AveragePool", [b.op("Pad", ["x", zeros])], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    wide = b.c("wide", [0, 0, 3, 0, 0, 0, 2, 1], np.int64)
    y4 = b.op("AveragePool", [b.op("Pad", ["x", wide])], kernel_shape=[2, 2], strides=[2, 2])
    y5 = b.conv(b.op("Pad", ["x", zeros], mode="edge"), 3, 2, 3, "c5", pads=[1, 0, 0, 1])
    y6 = b.conv(b.op("Pad", ["x", wide]), 3, 2, 3, "c6", auto_pad="SAME_LOWER", strides=[2, 2])
    y7 = b.op("Relu", [b.op("Pad", ["x", wide], mode="edge")])
    y8 = b.op("AveragePool", ["x"], kernel_shape=[3, 2], pads=[2, 1, 1, 1], count_include_pad=1, strides=[2, 1])
    return b.model([1, 3, 6, 7], [y1, y2, y3, y4, y5, y6, y7, y8], "pad_fallback"), [1, 3, 6, 7]


def arith():
    """Mul, Add, Sub, Div by constants (normalization, scales, biases) and
    x * HardSigmoid(x) as torch.onnx writes Hardswish before opset 14."""
    b = Builder(13, 14)
    y = b.op("Sub", ["x", b.c("mean", [[[0.5]], [[-0.25]], [[0.1]]])])
    y = b.op("Div", [y, b.c("std", [[[[0.9]], [[1.7]], [[0.3]]]])])
    y = b.conv(y, 3, 4, 3, "conv", pads=[1, 1, 1, 1])
    y = b.op("Mul", [b.c("half", 0.5), y])
    y = b.op("Add", [y, b.c("shift", [[[0.25]], [[-1.0]], [[0.5]], [[2.0]]])])
    h = b.op("HardSigmoid", [y], alpha=float(np.float32(1 / 6)), beta=0.5)
    y = b.op("Mul", [y, h])
    y = b.op("Sub", [b.c("one", 1.0), y])
    g = b.op("Flatten", [b.op("GlobalMaxPool", [y])])
    g = b.op("Mul", [g, b.c("gain", [[1.0, -2.0, 0.5, 3.0]])])
    g = b.op("Add", [b.c("bias", [0.1, 0.2, 0.3, 0.4]), g])
    return b.model([1, 3, 5, 6], [y, g], "arith"), [1, 3, 5, 6]


def se_clip():
    """Squeeze-excitation (a gate times the map), a product of two maps,
    Clip to [-1, 1] and with a lower bound only (hardtanh)."""
    b = Builder(13, 15)
    y = b.op("Clip", [b.conv("x", 3, 4, 3, "c1", pads=[1, 1, 1, 1]), b.c("lo", -1.0), b.c("hi", 1.0)])
    g = b.op("Sigmoid", [b.conv(b.op("GlobalAveragePool", [y]), 4, 4, 1, "se")])
    y = b.op("Mul", [g, y])
    y = b.op("Mul", [y, b.conv(y, 4, 4, 1, "c2")])
    y = b.op("Clip", [y, b.c("lo2", 0.25)])
    return b.model([1, 3, 6, 5], [y], "se_clip"), [1, 3, 6, 5]


def pad_attrs():
    b = Builder(8, 10)
    p1 = b.op("Pad", ["x"], pads=[0, 0, 1, 1, 0, 0, 1, 1], mode="reflect")
    y1 = b.op("Relu", [b.conv(p1, 2, 3, 3, "c1")])
    p2 = b.op("Pad", [y1], pads=[0, 0, 0, 1, 0, 0, 1, 0])
    y2 = b.op("AveragePool", [p2], kernel_shape=[4, 4], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1)
    return b.model([1, 2, 6, 6], [y2], "pad_attrs"), [1, 2, 6, 6]


def torch_flatten(opset):
    """x.view(x.size(0), -1) as torch.onnx writes it."""
    def make():
        b = Builder(opset, 11)
        y = b.op("Relu", [b.conv("x", 2, 4, 3, "conv", pads=[1, 1, 1, 1])])
        y = b.op("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
        shape = b.op("Shape", [y])
        zero = b.op("Constant", [], value=numpy_helper.from_array(np.array(0, dtype=np.int64)))
        n = b.op("Gather", [shape, zero], axis=0)
        if opset >= 13:
            n = b.op("Unsqueeze", [n, b.c("axes0", [0], np.int64)])
        else:
            n = b.op("Unsqueeze", [n], axes=[0])
        minus = b.op("Constant", [], value=numpy_helper.from_array(np.array([-1], dtype=np.int64)))
        target = b.op("Concat", [n, minus], axis=0)
        y = b.op("Reshape", [y, target])
        y = b.op("Gemm", [y, b.w("fc.weight", (6, 36)), b.w("fc.bias", (6,))], transB=1)
        return b.model([1, 2, 6, 6], [y], "torch_flatten%d" % opset), [1, 2, 6, 6]
    make.__name__ = "torch_flatten%d" % opset
    return make


def softmax_channels():
    b = Builder(13, 12)
    y = b.op("Softmax", [b.conv("x", 3, 5, 3, "conv")], axis=1)
    g = b.op("ReduceMean", [y], axes=[2, 3], keepdims=1)
    g = b.op("Reshape", [g, b.c("shape", [1, -1], np.int64)])
    h = b.op("ReduceMean", [b.op("Relu", [y])], axes=[-1, -2], keepdims=0)
    return b.model([1, 3, 6, 5], [y, g, h], "softmax_channels"), [1, 3, 6, 5]


def opset_chain(opset):
    """One chain in the forms each opset writes: Pad, Clip, Dropout, Softmax."""
    def make():
        b = Builder(opset, 100 + opset)
        if opset < 11:
            p = b.op("Pad", ["x"], pads=[0, 0, 1, 1, 0, 0, 1, 1])
            y = b.op("Clip", [b.conv(p, 3, 4, 3, "conv")], min=0.0, max=6.0)
        else:
            p = b.op("Pad", ["x", b.c("pads", [0, 0, 1, 1, 0, 0, 1, 1], np.int64)])
            y = b.op("Clip", [b.conv(p, 3, 4, 3, "conv"), b.c("lo", 0.0), b.c("hi", 6.0)])
        if opset >= 14:
            y = b.op("HardSwish", [y])
        y = b.op("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
        if opset < 12:
            y = b.op("Dropout", [y], ratio=0.2)
        else:
            y = b.op("Dropout", [y, b.c("ratio", 0.2)])
        y = b.op("Flatten", [y])
        y = b.op("Gemm", [y, b.w("fc.weight", (5, 36)), b.w("fc.bias", (5,))], transB=1)
        y = b.op("Softmax", [y], axis=1)
        return b.model([1, 3, 6, 6], [y], "opset%d" % opset), [1, 3, 6, 6]
    make.__name__ = "opset%d" % opset
    return make


CASES = [conv_group_dilation, conv_auto_pad, pools, gemm_head, matmul_add, bn_acts, clip_attrs, residual,
         pad_fold, pad_fallback, pad_attrs, arith, se_clip, torch_flatten(9), torch_flatten(13), softmax_channels] + \
        [opset_chain(o) for o in range(7, 18)]


# --- the diagnostics' models --------------------------------------------

def bad_models():
    """name -> model, for the golden diagnostics of tests/unit/test_onnx.c."""
    out = {}
    b = Builder(13, 20)
    y = b.op("Relu", [b.conv("x", 1, 2, 3, "conv")], name="relu1")
    y = b.op("Erf", [y], out="up", name="Erf_3")
    y = b.op("Clip", [y, b.c("lo", -1.0), b.c("hi", 1.0)], out="clipped", name="")
    out["unsupported"] = b.model([1, 1, 8, 8], [y], "unsupported")
    b = Builder(13, 20)
    y = b.op("Relu", ["x"])
    y = b.op("Clip", [y, b.c("lo", 2.0), b.c("hi", 1.0)], out="clipped", name="")
    out["bad_clip"] = b.model([1, 1, 8, 8], [y], "bad_clip")
    b = Builder(13, 21)
    out["dynamic"] = b.model(["N", 1, 8, 8], [b.op("Relu", ["x"])], "dynamic")
    b = Builder(13, 21)
    out["batch2"] = b.model([2, 1, 8, 8], [b.op("Relu", ["x"])], "batch2")
    b = Builder(13, 22)
    y = b.op("Relu", ["x"])
    y = b.op("Reshape", [y, b.c("shape", [1, 4, 16], np.int64)], name="reshape")
    out["not_flatten"] = b.model([1, 1, 8, 8], [y], "not_flatten")
    b = Builder(6, 24)
    out["opset6"] = b.model([1, 2, 3, 3], [b.op("Relu", [b.conv("x", 2, 2, 1, "c")])], "opset6")
    b = Builder(13, 23)
    y = b.op("Relu", [b.conv("x", 1, 1, 1, "c")])
    out["tiny"] = b.model([1, 1, 2, 2], [b.op("Flatten", [y])], "tiny")
    return out


def write(outdir):
    """Writes every case and the bad models."""
    for make in CASES:
        m, shape = make()
        d = os.path.join(outdir, make.__name__)
        os.makedirs(d, exist_ok=True)
        rng = np.random.default_rng(zlib.crc32(make.__name__.encode()))
        x = rng.standard_normal(shape).astype(np.float32)
        ys = ref.run(m, {"x": x})
        onnx.save(m, os.path.join(d, "model.onnx"))
        x.tofile(os.path.join(d, "input.bin"))
        with open(os.path.join(d, "expected.bin"), "wb") as f:
            for y in ys:
                f.write(np.ascontiguousarray(y, dtype="<f4").tobytes())
        with open(os.path.join(d, "outputs.txt"), "w") as f:
            f.write("%d\n" % len(ys))
    bad = os.path.join(HERE, "bad")
    os.makedirs(bad, exist_ok=True)
    for name, m in bad_models().items():
        onnx.save(m, os.path.join(bad, name + ".onnx"))
    with open(os.path.join(bad, "garbage.onnx"), "wb") as f:
        f.write(bytes(range(7, 200, 3)))


def selfcheck(root="/usr/share/libonnx-testdata/data/node"):
    """ref.py against ONNX's conformance outputs, for the node tests it can run."""
    ran = bad = 0
    for t in sorted(os.listdir(root)):
        d = os.path.join(root, t)
        try:
            m = onnx.load(os.path.join(d, "model.onnx"))
        except Exception:
            continue
        ds = os.path.join(d, "test_data_set_0")
        ins = {}
        for i, vi in enumerate(m.graph.input):
            p = os.path.join(ds, "input_%d.pb" % i)
            if os.path.exists(p):
                try:
                    ins[vi.name] = numpy_helper.to_array(onnx.load_tensor(p))
                except Exception:  # a sequence or optional: not ours
                    ins = None
                    break
        if ins is None or any(v.dtype.kind != "f" for v in ins.values()):
            continue
        try:
            ys = ref.run(m, ins)
        except Exception:
            continue
        wants = [numpy_helper.to_array(onnx.load_tensor(os.path.join(ds, "output_%d.pb" % k)))
                 for k in range(len(ys))]
        if any(w.dtype.kind != "f" for w in wants):
            continue
        ran += 1
        for k, (y, want) in enumerate(zip(ys, wants)):
            if want.shape != y.shape or \
                    not np.allclose(y, want, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(want).max(initial=0)))):
                bad += 1
                print("differs: %s output %d" % (t, k))
                break
    print("selfcheck: %d node tests ran, %d differ" % (ran, bad))
    return 1 if bad else 0


def fuzz(path):
    """Every truncation and a sweep of byte flips: model error or success only."""
    import import_onnx
    import netfile
    import tempfile
    data = open(path, "rb").read()
    variants = [data[:n] for n in range(len(data))]
    for i in range(0, len(data)):
        for v in (0xff, 0x80, 0x01):
            variants.append(data[:i] + bytes([data[i] ^ v]) + data[i + 1:])
    ok = errors = 0
    with tempfile.TemporaryDirectory() as td:
        p = os.path.join(td, "m.onnx")
        for v in variants:
            with open(p, "wb") as f:
                f.write(v)
            try:
                model, _ = import_onnx.read(p, "m")
                netfile.net_text(model)
                netfile.safetensors_bytes(model.tensors)
                ok += 1
            except netfile.ImportError_:
                errors += 1
    print("fuzz: %d damaged files: %d imported, %d refused, 0 exceptions" % (len(variants), ok, errors))
    return 0


def main(argv):
    if len(argv) >= 1 and argv[0] == "write":
        write(argv[1] if len(argv) > 1 else os.path.join(HERE, "cases"))
        return 0
    if argv == ["selfcheck"]:
        return selfcheck()
    if len(argv) == 2 and argv[0] == "fuzz":
        return fuzz(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
