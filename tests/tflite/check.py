#!/usr/bin/python3
"""check: a TFLite model through the importer, cnnc and the C compiler,
against tflite_ref (and, with --armnn, Arm NN's reference backend).

usage: check.py MODEL.tflite --build BUILD --work DIR [--inputs N] [--seed S]
                [--all-tensors] [--armnn] [--inputs-file F]

Imports the model, compiles it with BUILD/cnnc, builds the generated C with
runtime/ and a harness that runs it on N random inputs (or the raw inputs in
F), and compares every output (with --all-tensors: every tensor the model
computes, made outputs of the .net) with the reference. int8 tensors of the
operators tflite_ref computes exactly must be equal byte for byte; others
(and float ones) within their tolerance: one step for int8, 1e-5 relative to
the largest value for float. Prints one line per tensor and a summary;
exit status 0 when everything matched, 1 otherwise, 2 when a step failed.
"""

import argparse
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)

import import_tflite  # noqa: E402
import netfile  # noqa: E402
import tflite_fb  # noqa: E402
import tflite_ref  # noqa: E402

CFLAGS = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror"]


def harness(name, ctype, n_out):
    """C that runs NAME_run on every input in argv[1] (argv[3] of them) and
    appends the outputs to argv[2]."""
    up = name.upper()
    outs = "".join("static %s out%d[%s_OUTPUT%d_SIZE];\n" % (ctype, k, up, k) for k in range(n_out))
    call = ", ".join(["input"] + ["out%d" % k for k in range(n_out)])
    writes = "".join("        fwrite(out%d, sizeof out%d, 1, o);\n" % (k, k) for k in range(n_out))
    return ("#include <stdio.h>\n#include <stdlib.h>\n#include <stdint.h>\n#include \"%s.h\"\n\n"
            "static %s input[%s_INPUT_SIZE];\n%s\n"
            "int main(int argc, char **argv)\n{\n"
            "    FILE *i = argc == 4 ? fopen(argv[1], \"rb\") : NULL, *o = i ? fopen(argv[2], \"wb\") : NULL;\n"
            "    if (!o)\n        return 2;\n"
            "    for (long n = atol(argv[3]); n > 0; n--) {\n"
            "        if (fread(input, sizeof input, 1, i) != 1)\n            return 2;\n"
            "        %s_run(%s);\n%s    }\n"
            "    return fclose(o) != 0;\n}\n") % (name, ctype, up, outs, name, call, writes)


def step(cmd):
    """Runs a command; exits 2 with its output when it fails."""
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        print("failed: %s\n%s" % (" ".join(cmd), r.stdout))
        sys.exit(2)
    return r.stdout


def random_inputs(t, n, rng):
    """n random inputs for input tensor t, in its dtype."""
    shape = [n] + list(t.shape[1:])
    if t.type == "INT8":
        return rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def compare(got, want, exact, quant):
    """(ok, text) for one tensor over all inputs."""
    if quant:
        d = np.abs(got.astype(np.int32) - want.astype(np.int32))
        bad = int((d > 0).sum())
        ok = bad == 0 if exact else int(d.max()) <= 1
        return ok, "%d of %d bytes differ (max %d)%s" % (bad, d.size, int(d.max()), "" if exact else ", 1 allowed")
    peak = max(float(np.abs(want).max()), 1e-30)
    err = float(np.abs(got.astype(np.float64) - want).max()) / peak
    return err <= 1e-5, "max error %.3g of the largest value (1e-5 allowed)" % err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--inputs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--inputs-file")
    ap.add_argument("--all-tensors", action="store_true")
    ap.add_argument("--armnn", action="store_true")
    ap.add_argument("--cc", default="cc")
    args = ap.parse_args()

    os.makedirs(args.work, exist_ok=True)
    name = netfile.c_identifier(os.path.splitext(os.path.basename(args.model))[0])
    g = tflite_fb.read(args.model)
    imp = import_tflite.Importer(g, args.model, name)
    model, _ = imp.run()
    checked = list(g.outputs)
    if args.all_tensors and any(op.op == "QUANTIZE" for op in g.operators):
        print("--all-tensors ignored: the model's interface is float, its tensors int8")
        args.all_tensors = False
    if args.all_tensors:
        seen = set()
        checked = []
        for op in g.operators:
            i = op.outputs[0]
            n = imp.names.get(i)
            if n and n != model.input_name and n not in seen and op.op not in ("PAD", "PADV2", "QUANTIZE") \
                    and g.tensors[i].data is None:
                seen.add(n)
                checked.append(i)
        for i in g.outputs:
            if i not in checked and imp.names[i] not in seen:
                checked.append(i)
        model.outputs = [imp.names[i] for i in checked]
    netfile.write(model, args.work, name)
    base = os.path.join(args.work, name)
    step([os.path.join(args.build, "cnnc"), base + ".net", "-w", base + ".safetensors", "-o", base + ".c"])
    header = open(base + ".h").read()
    quant_io = re.search(r"_run\(const int8_t", header) is not None
    ctype = "int8_t" if quant_io else "float"
    with open(base + "_main.c", "w") as f:
        f.write(harness(name, ctype, len(checked)))
    exe = base + "_run"
    rt = sorted(os.path.join(ROOT, "runtime", p) for p in os.listdir(os.path.join(ROOT, "runtime")) if p.endswith(".c"))
    step([args.cc] + CFLAGS + ["-I", args.work, "-I", os.path.join(ROOT, "runtime"), base + "_main.c", base + ".c"]
         + rt + ["-lm", "-o", exe])

    tin = g.tensors[g.inputs[0]]
    if args.inputs_file:
        xs = np.fromfile(args.inputs_file, dtype=tin.dtype).reshape([-1] + list(tin.shape[1:]))
    else:
        xs = random_inputs(tin, args.inputs, np.random.default_rng(args.seed))
    xs.tofile(base + "_in.bin")
    step([exe, base + "_in.bin", base + "_out.bin", str(len(xs))])
    raw = np.fromfile(base + "_out.bin", dtype=np.int8 if quant_io else np.float32)

    sizes = [int(np.prod(g.tensors[i].shape)) for i in checked]
    per = sum(sizes)
    if raw.size != per * len(xs):
        print("output file holds %d values, expected %d" % (raw.size, per * len(xs)))
        return 2
    raw = raw.reshape(len(xs), per)
    producers = {op.outputs[0]: op for op in g.operators}
    got, off = {}, 0
    for i, n in zip(checked, sizes):
        got[i] = raw[:, off:off + n]
        off += n
    # cnnc's flatten is CHW where TFLite's RESHAPE is HWC: such tensors are
    # not compared (the layer reading them is, and the reference gets its own)
    flat = {i for i in checked if imp.shapes.get(i) and i in imp.flat_from}
    refs = []
    for k, x in enumerate(xs):
        given = None
        if args.all_tensors:  # each operator from cnnc's inputs: checked on its own
            given = {i: got[i][k].reshape(g.tensors[i].shape) for i in checked if i not in flat}
        refs.append(tflite_ref.Ref(g).run(x[None], given))
    ok_all = True
    for i in checked:
        t, producer = g.tensors[i], producers[i]
        if i in flat:
            print("--   op %2d %-18s %-40s not compared: cnnc flattens CHW" % (producer.index, producer.op,
                                                                             imp.names[i][:40]))
            continue
        want = np.stack([r[i].reshape(-1) for r in refs])
        quant = t.type == "INT8"
        exact = producer.op in tflite_ref.EXACT and (args.all_tensors or exact_chain(g, producers, i))
        ok, text = compare(got[i], want, exact, quant)
        if not exact and not args.all_tensors and quant:
            ok, text = True, text.replace(", 1 allowed", "; not exact upstream: not judged")
        ok_all &= ok
        print("%-4s op %2d %-18s %-40s %s" % ("ok" if ok else "BAD", producer.index, producer.op,
                                              imp.names[i][:40], text))
    if args.armnn:
        ok_all &= armnn_check(args.model, g, xs, raw[:, per - sizes[-1]:] if not args.all_tensors else None)
    print("%s: %d inputs, %d tensors compared: %s" % (os.path.basename(args.model), len(xs), len(checked),
                                                      "all match" if ok_all else "MISMATCH"))
    return 0 if ok_all else 1


def exact_chain(g, producers, i):
    """Whether every operator that tensor i depends on is one tflite_ref
    computes exactly."""
    op = producers.get(i)
    if op is None:
        return True
    return op.op in tflite_ref.EXACT and all(exact_chain(g, producers, k) for k in op.inputs)


def armnn_check(path, g, xs, last):
    """The outputs against Arm NN's CpuRef (an independent TFLite reader):
    int8 within one step (its requantization rounds once), float 1e-5."""
    try:
        import pyarmnn as ann
    except ImportError:
        print("skip armnn: python3-pyarmnn is not installed")
        return True
    if last is None or len(g.outputs) != 1:
        print("skip armnn: only for one output, without --all-tensors")
        return True
    try:
        return armnn_run(ann, path, g, xs, last)
    except RuntimeError as e:  # Arm NN 20.08 refuses some valid files (a conv without bias)
        print("skip armnn: it cannot run this model: %s" % str(e).split(" at ")[0])
        return True


def armnn_outputs(ann, path, xs):
    """The model's (one) output for each input in xs under Arm NN's CpuRef,
    stacked; tests/tflite/armnn_ops.py uses it too."""
    parser = ann.ITfLiteParser()
    net = parser.CreateNetworkFromBinaryFile(path)
    rt = ann.IRuntime(ann.CreationOptions())
    opt, _ = ann.Optimize(net, [ann.BackendId("CpuRef")], rt.GetDeviceSpec(), ann.OptimizerOptions())
    nid, _ = rt.LoadNetwork(opt)
    binfo = parser.GetNetworkInputBindingInfo(0, parser.GetSubgraphInputTensorNames(0)[0])
    oinfo = parser.GetNetworkOutputBindingInfo(0, parser.GetSubgraphOutputTensorNames(0)[0])
    outs = []
    for x in xs:
        outputs = ann.make_output_tensors([oinfo])
        rt.EnqueueWorkload(nid, ann.make_input_tensors([binfo], [x[None]]), outputs)
        outs.append(ann.workload_tensors_to_ndarray(outputs)[0].reshape(-1))
    return np.stack(outs)


def armnn_run(ann, path, g, xs, last):
    """Runs the model under Arm NN's CpuRef and compares the output."""
    want = armnn_outputs(ann, path, xs)
    quant = g.tensors[g.outputs[-1]].type == "INT8"
    if quant:
        ok, text = compare(last.astype(np.int8), want.astype(np.int8), False, True)
    else:
        ok, text = compare(last, want, False, False)
    print("%-4s armnn CpuRef output: %s" % ("ok" if ok else "BAD", text))
    return ok


if __name__ == "__main__":
    sys.exit(main())
