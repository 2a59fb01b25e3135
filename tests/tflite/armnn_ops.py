#!/usr/bin/python3
"""armnn_ops: where Arm NN's reference backend differs from TFLite's int8
kernels, operator by operator.

usage: armnn_ops.py [--inputs N] [--work DIR]

Builds one-operator int8 models (tests/tflite/make_models.py's writer and
converter-style quantization), runs each under Arm NN's CpuRef and under
tests/tflite/tflite_ref.py on the same random inputs, and prints per
operator how many output bytes differ and by how much. The table in
docs/import.md comes from it. Needs python3-pyarmnn; exit 0 unless a run fails.
"""

import argparse
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import check  # noqa: E402
import make_models as mm  # noqa: E402
import tflite_fb  # noqa: E402
import tflite_ref  # noqa: E402


def cases():
    """(label, builder) of the one-operator models."""
    def conv(n):
        n.outputs = [n.conv(n.input([1, 8, 8, 4]), 6, (3, 3), (1, 1), "SAME")]

    def conv_valid(n):
        n.outputs = [n.conv(n.input([1, 8, 8, 4]), 6, (3, 3), (2, 2), "VALID", act=1)]

    def dw(n):
        n.outputs = [n.dwconv(n.input([1, 8, 8, 4]), 2, (3, 3))]

    def fc(n):
        n.outputs = [n.fc(n.input([1, 32]), 10)]

    def add(n):
        x = n.input([1, 6, 6, 4])
        n.outputs = [n.add(n.conv(x, 4, (1, 1)), n.conv(x, 4, (3, 3)))]

    def avg_same(n):
        n.outputs = [n.pool("AVERAGE_POOL_2D", n.input([1, 7, 7, 3]), (3, 3), (2, 2), "SAME")]

    def avg_valid(n):
        n.outputs = [n.pool("AVERAGE_POOL_2D", n.input([1, 8, 8, 3]), (2, 2), (2, 2), "VALID")]

    def maxp(n):
        n.outputs = [n.pool("MAX_POOL_2D", n.input([1, 7, 7, 3]), (3, 3), (2, 2), "SAME")]

    def pad(n):
        n.outputs = [n.pad(n.input([1, 5, 5, 2]), 1, 1, 1, 1)]

    def softmax(n):
        n.outputs = [n.unary("SOFTMAX", n.fc(n.input([1, 16]), 10), beta=1.0)]

    def unary(op, **opts):
        def f(n):
            n.outputs = [n.unary(op, n.input([1, 6, 6, 4]), **opts)]
        return f

    def mean(n):
        n.outputs = [n.mean(n.input([1, 6, 6, 4]), True)]

    return [("CONV_2D SAME", conv), ("CONV_2D VALID stride 2 + RELU", conv_valid),
            ("DEPTHWISE_CONV_2D x2", dw), ("FULLY_CONNECTED", fc), ("ADD (of two convs)", add),
            ("AVERAGE_POOL_2D SAME", avg_same), ("AVERAGE_POOL_2D VALID", avg_valid),
            ("MAX_POOL_2D SAME", maxp), ("PAD", pad), ("SOFTMAX (after FC)", softmax),
            ("LOGISTIC", unary("LOGISTIC")), ("TANH", unary("TANH")),
            ("HARD_SWISH", unary("HARD_SWISH")),
            ("LEAKY_RELU 0.2", unary("LEAKY_RELU", alpha=0.2)),
            ("RELU6", unary("RELU6")), ("MEAN over H,W", mean)]


def armnn(path, xs):
    """Outputs of the model in path under Arm NN's CpuRef, as int8."""
    import pyarmnn as ann
    return check.armnn_outputs(ann, path, xs).astype(np.int8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=50)
    ap.add_argument("--work", default=tempfile.mkdtemp(prefix="armnn_ops."))
    args = ap.parse_args()
    print("%-30s %9s %9s %5s" % ("operator (int8)", "bytes", "differ", "max"))
    for label, fn in cases():
        n = mm.Net(label.split()[0].lower(), seed=sum(map(ord, label)))
        fn(n)
        fpath = os.path.join(args.work, "f.tflite")
        mm.write(n, None, fpath)
        lo, hi = mm.ranges(n, fpath)
        qpath = os.path.join(args.work, "q.tflite")
        mm.write(n, mm.quantize(n, lo, hi), qpath)
        g = tflite_fb.read(qpath)
        rng = np.random.default_rng(3)
        xs = rng.integers(-128, 128, size=[args.inputs] + g.tensors[g.inputs[0]].shape[1:]).astype(np.int8)
        want = np.stack([tflite_ref.Ref(g).run(x[None])[g.outputs[0]].reshape(-1) for x in xs])
        try:
            got = armnn(qpath, xs)
        except RuntimeError as e:
            print("%-30s Arm NN refuses it: %s" % (label, str(e).split(" at ")[0][:80]))
            continue
        d = np.abs(got.astype(np.int32) - want.astype(np.int32))
        print("%-30s %9d %9d %5d" % (label, d.size, int((d > 0).sum()), int(d.max())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
