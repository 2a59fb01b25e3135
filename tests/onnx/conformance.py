#!/usr/bin/python3
"""conformance: ONNX's own backend tests (Debian's libonnx-testdata) through
tools/import_onnx.py, prepared for tests/unit/test_onnx.c.

  conformance.py OUTDIR [DATA]   (DATA: /usr/share/libonnx-testdata/data)

For every test under DATA/{node,pytorch-converted,pytorch-operator} whose
ops the importer reads, writes OUTDIR/TEST/{NAME.net,NAME.safetensors,
input_K.bin,expected_K.bin} and a line of OUTDIR/list.txt:
  run TEST NAME BATCHES OUTPUTS
  refused TEST message          (the importer said no, with this message)
  skipped TEST reason           (an op or input form the language lacks)
How a test is made to fit cnnc's one float NCHW input, batch 1:
- graph inputs after the first are the test's data made initializers
  (weights, bias, Clip bounds, Pad pads, Reshape shapes ...);
- a batch of N is run as N batch-1 runs (the model's batch set to 1), when
  no node mixes samples;
- an all-elementwise graph of rank 1 to 3 gets leading 1s to rank 4 (or
  rank 2 for rank 1), which changes no value.
"""

import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

import import_onnx  # noqa: E402
import netfile  # noqa: E402

ELEMENTWISE = {"Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Clip", "Identity", "Dropout"}
SUPPORTED = set(import_onnx.Reader.OPS) | set(import_onnx.FOLD)
CONST_ONLY = set(import_onnx.FOLD) - set(import_onnx.Reader.OPS) - {"Shape", "Size"}  # static on data too


def per_sample(model, rank):
    """True when no node mixes the samples of a batch."""
    opset = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] + [1])
    for n in model.graph.node:
        a = {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}
        if n.op_type == "Softmax":
            axis = a.get("axis", -1 if opset >= 13 else 1)
            if axis % rank == 0:
                return False
        elif n.op_type in ("Flatten", "Concat"):
            if a.get("axis", 1) % rank == 0:
                return False
        elif n.op_type in ("Reshape", "Gemm", "MatMul", "Squeeze", "Unsqueeze", "Shape", "Gather", "ReduceMean"):
            if n.op_type == "Gemm" and not a.get("transA", 0):
                continue
            if n.op_type == "MatMul" and rank == 2:
                continue
            return False
    return True


def data_nodes(model):
    """The nodes that compute on the data inputs (Shape's output is static)."""
    inits = set(t.name for t in model.graph.initializer)
    live = set(i.name for i in model.graph.input if i.name not in inits)
    out = []
    for n in model.graph.node:
        if any(i in live for i in n.input):
            out.append(n)
            if n.op_type != "Shape":
                live.update(n.output)
    return out


def set_dims(vi, dims):
    """Rewrites a value_info's shape."""
    shape = vi.type.tensor_type.shape
    while len(shape.dim):
        shape.dim.pop()
    for d in dims:
        shape.dim.add().dim_value = d


def resize_outside(m, data_inputs, arrays, shape):
    """Why a Resize of the test is a form the language has no op for (cubic,
    or not an upsampling by whole factors), or None."""
    vals = {vi.name: a for vi, a in zip(data_inputs, arrays)}
    vals.update({t.name: numpy_helper.to_array(t) for t in m.graph.initializer})
    for n in m.graph.node:
        if n.op_type != "Resize":
            continue
        mode = next((a.s.decode() for a in n.attribute if a.name == "mode"), "nearest")
        if mode == "cubic":
            return "cubic Resize (the language upsamples nearest or bilinear)"
        if n.input[0] != data_inputs[0].name:
            continue
        sc = vals.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        sz = vals.get(n.input[3]) if len(n.input) > 3 and n.input[3] else None
        if sz is not None and sz.size:
            out = [float(v) for v in sz.reshape(-1)]
        elif sc is not None and sc.size:
            out = [d * float(f) for d, f in zip(shape, sc.reshape(-1))]
        else:
            continue
        if any(o < d or abs(o / d - round(o / d)) > 1e-6 for o, d in zip(out[2:], shape[2:])):
            return "Resize not by whole factors (the language upsamples by whole factors)"
    return None


def prepare(test_dir, out_dir, name):
    """One test: ('run', batches, outputs) or ('refused'|'skipped', why)."""
    try:
        m = onnx.load(os.path.join(test_dir, "model.onnx"))
    except Exception as e:
        return ("skipped", "model.onnx does not load with this onnx: %s" % str(e).split("\n")[0])
    ops = sorted(set(n.op_type for n in m.graph.node if n.op_type not in SUPPORTED))
    if ops:
        return ("skipped", "op %s not in the language" % ", ".join(ops))
    ops = sorted(set(n.op_type for n in data_nodes(m) if n.op_type in CONST_ONLY))
    if ops:
        return ("skipped", "op %s on the input's data (the importer folds it on constants only)" % ", ".join(ops))
    ds = os.path.join(test_dir, "test_data_set_0")
    inits = set(t.name for t in m.graph.initializer)
    data_inputs = [i for i in m.graph.input if i.name not in inits]
    arrays = []
    for k in range(len(data_inputs)):
        p = os.path.join(ds, "input_%d.pb" % k)
        if not os.path.exists(p):
            return ("skipped", "no input_%d.pb" % k)
        try:
            arrays.append(numpy_helper.to_array(onnx.load_tensor(p)))
        except Exception:
            return ("skipped", "input_%d.pb is not a tensor (a sequence or optional)" % k)
    wants = []
    for k in range(len(m.graph.output)):
        p = os.path.join(ds, "output_%d.pb" % k)
        try:
            wants.append(numpy_helper.to_array(onnx.load_tensor(p)))
        except Exception:
            return ("skipped", "output_%d.pb is not a tensor (a sequence or optional)" % k)
    if not arrays or arrays[0].dtype != np.float32:
        return ("skipped", "the data input is not float32")
    if any(w.dtype != np.float32 for w in wants):
        return ("skipped", "an output is not float32")
    x = arrays[0]
    why = resize_outside(m, data_inputs, arrays, x.shape)
    if why:
        return ("skipped", why)
    # the other inputs become initializers
    for vi, a in zip(data_inputs[1:], arrays[1:]):
        m.graph.initializer.append(numpy_helper.from_array(a, vi.name))
    keep = [vi for vi in m.graph.input if vi.name == data_inputs[0].name or vi.name in inits or
            (m.ir_version < 4 and vi.name in set(v.name for v in data_inputs[1:]))]
    if m.ir_version < 4:  # IR 3 keeps initializers among the inputs: add their shapes
        for vi, a in zip(data_inputs[1:], arrays[1:]):
            set_dims(vi, a.shape)
    del m.graph.input[:]
    m.graph.input.extend(keep)
    xin = m.graph.input[[vi.name for vi in m.graph.input].index(data_inputs[0].name)]
    elementwise = all(n.op_type in ELEMENTWISE for n in m.graph.node)
    if x.ndim in (1, 2, 3) and elementwise:
        shape = [1] * (4 - x.ndim) + list(x.shape) if x.ndim > 1 else [1, x.shape[0]]
        xs, batches = [x.reshape(shape)], 1
        ys = [[w.reshape(-1)] for w in wants]
    elif x.ndim in (2, 4):
        batches = x.shape[0]
        if batches > 1 and not per_sample(m, x.ndim):
            return ("skipped", "batch %d with a node that mixes samples" % batches)
        if any(w.ndim == 0 or w.shape[0] != batches for w in wants):
            return ("skipped", "outputs not batched like the input")
        shape = [1] + list(x.shape[1:])
        xs = [x[i:i + 1] for i in range(batches)]
        ys = [[w[i].reshape(-1) for i in range(batches)] for w in wants]
    else:
        return ("skipped", "rank-%d input" % x.ndim)
    set_dims(xin, shape)
    for o in m.graph.output:
        o.type.tensor_type.ClearField("shape")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    onnx.save(m, path)
    try:
        model, _ = import_onnx.read(path, name)
        netfile.write(model, out_dir, name)
    except netfile.ImportError_ as e:
        if len(data_inputs) > 1 and any("is a constant; cnnc computes this op only on activations" in msg
                                        for msg in e.args):
            return ("skipped", "%d data inputs; cnnc models take one" % len(data_inputs))
        return ("refused", "; ".join(e.args))
    for i in range(batches):
        xs[i].astype("<f4").tofile(os.path.join(out_dir, "input_%d.bin" % i))
        with open(os.path.join(out_dir, "expected_%d.bin" % i), "wb") as f:
            for y in ys:
                f.write(y[i].astype("<f4").tobytes())
    return ("run", batches, len(wants))


def print_skipped(skipped):
    """The skipped tests by reason, one line each; the ops outside the
    language on one line, with how many tests each."""
    ops, by_reason = {}, {}
    for label, why in skipped:
        if why.startswith("op ") and why.endswith(" not in the language"):
            for op in why[3:-len(" not in the language")].split(", "):
                ops[op] = ops.get(op, 0) + 1
        else:
            by_reason.setdefault(why, []).append(label.split("/", 1)[1].replace("test_", "", 1))
    print("skipped, ops outside the language (tests): %s"
          % ", ".join("%s (%d)" % kv for kv in sorted(ops.items())))
    for why, names in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        print("skipped, %s (%d): %s" % (why, len(names), ", ".join(names)))


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[0]
    data = argv[1] if len(argv) > 1 else "/usr/share/libonnx-testdata/data"
    if not os.path.isdir(data):
        print("conformance: no %s (Debian's libonnx-testdata)" % data, file=sys.stderr)
        return 77
    os.makedirs(out, exist_ok=True)
    lines = []
    for group in ("node", "pytorch-converted", "pytorch-operator"):
        root = os.path.join(data, group)
        if not os.path.isdir(root):
            continue
        for t in sorted(os.listdir(root)):
            name = netfile.c_identifier(t)
            r = prepare(os.path.join(root, t), os.path.join(out, group, t), name)
            label = "%s/%s" % (group, t)
            if r[0] == "run":
                lines.append("run %s %s %s %d %d" % (label, os.path.join(out, group, t), name, r[1], r[2]))
            else:
                lines.append("%s %s %s" % (r[0], label, r[1]))
    with open(os.path.join(out, "list.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    counts = {}
    for l in lines:
        counts[l.split()[0]] = counts.get(l.split()[0], 0) + 1
    print_skipped([l.split(" ", 2)[1:] for l in lines if l.startswith("skipped ")])
    print("conformance: %d tests: %d to run, %d refused by the importer, %d skipped"
          % (len(lines), counts.get("run", 0), counts.get("refused", 0), counts.get("skipped", 0)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
