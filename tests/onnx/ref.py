"""ref: a small numpy evaluator of ONNX graphs, for the ops tools/import_onnx.py
reads, written from the ONNX operator specification (not from the importer).
Debian's onnx 1.12 has no onnx.reference and onnxruntime is not packaged, so
the expected outputs of tests/onnx/gen.py come from here; `gen.py selfcheck`
checks this evaluator against ONNX's own conformance data (libonnx-testdata).
Computes in float64; outputs are rounded to float32 at the end.
"""

import itertools

import numpy as np
from onnx import helper, numpy_helper


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


def _pads(a, x, k, s, d):
    """Explicit [h_lo, w_lo, h_hi, w_hi] from pads or auto_pad."""
    auto = _s(a.get("auto_pad", "NOTSET"))
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        p = [0] * 4
        for i in range(2):
            n = x.shape[2 + i]
            out = -(-n // s[i])
            total = max((out - 1) * s[i] + d[i] * (k[i] - 1) + 1 - n, 0)
            lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
            p[i], p[i + 2] = lo, total - lo
        return p
    if auto == "VALID":
        return [0] * 4
    return list(a.get("pads", [0] * 4))


def _windows(x, k, s, d, p, fill, ceil, fill_beyond=None):
    """x [N,C,H,W] padded (fill in the pads, fill_beyond past them for
    ceil_mode), as windows [N,C,OH,OW,kh*kw]."""
    n, c, h, w = x.shape
    out = []
    for i in range(2):
        span = x.shape[2 + i] + p[i] + p[i + 2] - (d[i] * (k[i] - 1) + 1)
        o = (-(-span // s[i]) if ceil else span // s[i]) + 1
        if ceil and (o - 1) * s[i] >= x.shape[2 + i] + p[i]:
            o -= 1
        out.append(o)
    oh, ow = out
    need_h = (oh - 1) * s[0] + d[0] * (k[0] - 1) + 1
    need_w = (ow - 1) * s[1] + d[1] * (k[1] - 1) + 1
    big = np.full((n, c, max(need_h, h + p[0] + p[2]), max(need_w, w + p[1] + p[3])),
                  fill if fill_beyond is None else fill_beyond, dtype=np.float64)
    big[:, :, :h + p[0] + p[2], :w + p[1] + p[3]] = fill
    big[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = x
    cols = []
    for i, j in itertools.product(range(k[0]), range(k[1])):
        cols.append(big[:, :, i * d[0]:i * d[0] + (oh - 1) * s[0] + 1:s[0],
                        j * d[1]:j * d[1] + (ow - 1) * s[1] + 1:s[1]])
    return np.stack(cols, axis=-1)


def conv(x, w, b, a):
    g = a.get("group", 1)
    k = list(w.shape[2:])
    s, d = list(a.get("strides", [1, 1])), list(a.get("dilations", [1, 1]))
    p = _pads(a, x, k, s, d)
    cin = x.shape[1] // g
    mout = w.shape[0] // g
    ys = []
    for gi in range(g):
        win = _windows(x[:, gi * cin:(gi + 1) * cin], k, s, d, p, 0.0, False)  # N,cin,OH,OW,K
        wg = w[gi * mout:(gi + 1) * mout].reshape(mout, cin, -1)
        ys.append(np.einsum("nchwk,mck->nmhw", win, wg))
    y = np.concatenate(ys, axis=1)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


def pool(x, a, avg):
    k = list(a["kernel_shape"])
    s, d = list(a.get("strides", [1, 1])), list(a.get("dilations", [1, 1]))
    p = _pads(a, x, k, s, d)
    ceil = bool(a.get("ceil_mode", 0))
    if not avg:
        return np.nanmax(_windows(x, k, s, d, p, np.nan, ceil), axis=-1)
    fill = 0.0 if a.get("count_include_pad", 0) else np.nan
    return np.nanmean(_windows(x, k, s, d, p, fill, ceil, np.nan), axis=-1)


def softmax(x, axis, opset):
    if opset >= 13:
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    axis %= x.ndim
    shape = x.shape
    x2 = x.reshape(int(np.prod(shape[:axis])), -1)
    e = np.exp(x2 - x2.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).reshape(shape)


def run(model, inputs):
    """Evaluates model on inputs (name -> array); returns the outputs in order."""
    opset = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")])
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env.update(inputs)
    for node in model.graph.node:
        a = _attrs(node)
        xs = [env[i] if i else None for i in node.input]
        x = xs[0] if xs else None
        xf = x.astype(np.float64) if x is not None and x.dtype.kind == "f" else x
        op = node.op_type
        if op == "Conv":
            y = conv(xf, xs[1].astype(np.float64), xs[2] if len(xs) > 2 else None, a)
        elif op in ("MaxPool", "AveragePool"):
            y = pool(xf, a, op == "AveragePool")
        elif op == "GlobalAveragePool":
            y = xf.mean(axis=(2, 3), keepdims=True)
        elif op == "GlobalMaxPool":
            y = xf.max(axis=(2, 3), keepdims=True)
        elif op == "ReduceMean":
            y = xf.mean(axis=tuple(v % xf.ndim for v in a["axes"]), keepdims=bool(a.get("keepdims", 1)))
        elif op == "Gemm":
            A = xf.T if a.get("transA", 0) else xf
            B = xs[1].T if a.get("transB", 0) else xs[1]
            y = a.get("alpha", 1.0) * (A @ B.astype(np.float64))
            if len(xs) > 2 and xs[2] is not None:
                y = y + a.get("beta", 1.0) * xs[2]
        elif op == "MatMul":
            y = xf @ xs[1].astype(np.float64)
        elif op in ("Add", "Sum"):
            y = xs[0]
            for z in xs[1:]:
                y = y + z
        elif op in ("Sub", "Mul", "Div"):
            y = {"Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](xs[0], xs[1])
            if xs[0].dtype.kind == "i":
                y = y.astype(xs[0].dtype)
        elif op == "BatchNormalization":
            shape = (1, -1) + (1,) * (xf.ndim - 2)
            sc, bi, mu, var = (v.reshape(shape).astype(np.float64) for v in xs[1:5])
            y = (xf - mu) / np.sqrt(var + a.get("epsilon", 1e-5)) * sc + bi
        elif op == "Relu":
            y = np.maximum(xf, 0)
        elif op == "Clip":
            if opset < 11:
                lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
            else:
                lo = xs[1] if len(xs) > 1 and xs[1] is not None else -np.inf
                hi = xs[2] if len(xs) > 2 and xs[2] is not None else np.inf
            y = np.minimum(np.maximum(xf, lo), hi)
        elif op == "LeakyRelu":
            y = np.where(xf >= 0, xf, a.get("alpha", 0.01) * xf)
        elif op == "Sigmoid":
            y = 1 / (1 + np.exp(-xf))
        elif op == "Tanh":
            y = np.tanh(xf)
        elif op == "HardSigmoid":
            y = np.clip(a.get("alpha", 0.2) * xf + a.get("beta", 0.5), 0, 1)
        elif op == "HardSwish":
            y = xf * np.clip(xf / 6 + 0.5, 0, 1)
        elif op == "Softmax":
            y = softmax(xf, a.get("axis", -1 if opset >= 13 else 1), opset)
        elif op == "Flatten":
            ax = a.get("axis", 1) % (x.ndim + 1) if a.get("axis", 1) >= 0 else a["axis"] + x.ndim
            y = x.reshape(int(np.prod(x.shape[:ax])), -1)
        elif op == "Reshape":
            shape = [int(v) for v in (xs[1] if len(xs) > 1 else a["shape"])]
            shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
            y = x.reshape(shape)
        elif op == "Concat":
            y = np.concatenate([z for z in xs if z is not None], axis=a["axis"])
        elif op == "Pad":
            if opset < 11:
                pads, value = a["pads"], a.get("value", 0.0)
            else:
                pads = [int(v) for v in xs[1]]
                value = float(xs[2]) if len(xs) > 2 and xs[2] is not None else 0.0
            r = x.ndim
            width = [(pads[i], pads[i + r]) for i in range(r)]
            mode = _s(a.get("mode", "constant"))
            if mode == "constant":
                y = np.pad(xf, width, mode="constant", constant_values=value)
            else:
                y = np.pad(xf, width, mode={"reflect": "reflect", "edge": "edge"}[mode])
        elif op in ("Dropout", "Identity"):
            y = x
        elif op == "Constant":
            y = numpy_helper.to_array(a["value"])
        elif op == "Shape":
            y = np.array(x.shape, dtype=np.int64)
        elif op == "Gather":
            y = np.take(x, xs[1], axis=a.get("axis", 0))
        elif op in ("Unsqueeze", "Squeeze"):
            axes = a["axes"] if "axes" in a else [int(v) for v in xs[1]]
            if op == "Unsqueeze":
                y = x
                for ax in sorted(v % (x.ndim + len(axes)) for v in axes):
                    y = np.expand_dims(y, ax)
            else:
                y = np.squeeze(x, axis=tuple(axes))
        elif op == "Cast":
            y = x.astype({1: np.float32, 6: np.int32, 7: np.int64}[a["to"]])
        else:
            raise NotImplementedError(op)
        env[node.output[0]] = y
    return [np.asarray(env[o.name], dtype=np.float32) for o in model.graph.output]
