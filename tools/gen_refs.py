#!/usr/bin/python3
"""Writes the PyTorch reference data for cnnc's end-to-end tests.

For every tests/ref/cases/*.net and every model in MODELS below, writes
tests/ref/<case>/ with model.net, weights.safetensors, input.bin (float32 LE,
CHW), expected.bin (float32 LE, outputs concatenated in `output` order) and
meta.json. Expected values are computed in float64 from the stored weights and
input, then rounded once to float32. Deterministic: rerunning gives
byte-identical files. See docs/references.md.

    /usr/bin/python3 tools/gen_refs.py            # regenerate everything
    /usr/bin/python3 tools/gen_refs.py --list     # print the case table
    /usr/bin/python3 tools/gen_refs.py --only a,b # regenerate cases a and b only
"""

import glob
import json
import os
import shutil
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import net2torch as n2t  # noqa: E402

# Microcontroller-sized models from models/. Columns: name, .net path relative
# to the repository, input (a (lo, hi) uniform range, or "digits" for the first
# held-out scikit-learn digit as in tools/train_digits.py), weights (None for
# seeded random ones, else a safetensors path), skip (a reason, or None).
# A missing .net file is skipped with a message. The big ImageNet models in
# models/ (alexnet, vgg16, resnet18, mobilenetv2: 3.5M-138M parameters) are
# left out on purpose: their weights would not fit the repository.
MODELS = [
    # name              path                          input         weights                      skip
    ("lenet5",          "models/lenet5.net",          (-1.0, 1.0),  None,                        None),
    ("dscnn",           "models/dscnn.net",           (-1.0, 1.0),  None,                        None),
    ("resnet8",         "models/resnet8.net",         (-1.0, 1.0),  None,                        None),
    ("vww_mobilenetv1", "models/vww_mobilenetv1.net", (-1.0, 1.0),  None,                        None),
    ("ad_autoencoder",  "models/ad_autoencoder.net",  (-1.0, 1.0),  None,                        None),
    ("digits",          "models/digits.net",          "digits",     "models/digits.safetensors", None),
]

# Cases that also get F16 and BF16 weight variants (<case>_f16, <case>_bf16).
VARIANTS = {
    "conv_basic": ("F16", "BF16"),
    "linear_flatten": ("F16", "BF16"),
    "mixed_small_cnn": ("F16", "BF16"),
}

# Tolerance tests should use, copied into every meta.json (docs/references.md):
# |got - exp| <= rel * max(|exp|, floor * max|exp| over that output).
# tests/ref/selfcheck.py checks that float32 runs stay within half of it.
TOLERANCE = {"rel": 1e-5, "floor": 0.1}
# Ten Dense+BatchNorm layers amplify float32 rounding: a float32 run is ~8 ulp
# of the output's largest value away, so near-zero outputs need the full floor.
TOLERANCE_OVERRIDES = {"ad_autoencoder": {"rel": 1e-5, "floor": 1.0}}

SIZE_BUDGET = 3_400_000   # bytes for all of tests/ref, warn above
GENERATOR = "tools/gen_refs.py"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REF = os.path.join(ROOT, "tests", "ref")


def directives(text):
    """`#@ key=value` comment lines: per-case settings invisible to cnnc."""
    out = {}
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#@"):
            for tok in s[2:].split():
                k, v = tok.split("=", 1)
                out[k] = v
    return out


def describe(text):
    """The first comment line of a case: what it covers."""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#") and not s.startswith("#@"):
            return s.lstrip("# ").strip()
    return ""


def seed_of(name):
    """A per-case seed that does not change when cases are added or removed."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def make_input(shape, seed, spec):
    """The case's input: uniform float32 in [lo, hi) from its own stream, or a
    real held-out digit. Returns (array, description for meta.json)."""
    if spec == "digits":
        return digits_input(shape)
    lo, hi = spec
    rng = np.random.Generator(np.random.PCG64(seed + 1))
    x = lo + (hi - lo) * rng.random(int(np.prod(shape)))
    return x.astype(np.float32).reshape(shape), {"range": [lo, hi]}


def digits_input(shape):
    """First test image of tools/train_digits.py's split, scaled to [0, 1]."""
    from sklearn.datasets import load_digits
    d = load_digits()
    perm = np.random.RandomState(0).permutation(len(d.target))
    i = int(perm[-360])
    x = (d.images[i].astype(np.float32) / np.float32(16.0)).reshape(shape)
    return x, {"dataset": "sklearn load_digits", "index": i,
               "label": int(d.target[i])}


def write_case(job, net, dtype, base_sd):
    """Writes one reference directory; returns (dirname, size in bytes)."""
    name = job["name"]
    dirname = name if dtype == "F32" else "%s_%s" % (name, dtype.lower())
    d = os.path.join(REF, dirname)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    sd = base_sd if dtype == "F32" else n2t.round_to(base_sd, dtype)
    x, xdesc = make_input(net.input_shape, job["seed"], job["input"])
    outs = n2t.run(net, sd, x.astype(np.float64))
    expected = np.concatenate([o.ravel() for o in outs]).astype("<f4")
    if not np.all(np.isfinite(expected)):
        raise SystemExit("%s: non-finite expected values" % dirname)
    with open(os.path.join(d, "model.net"), "w") as f:
        f.write(job["text"])
    n2t.write_safetensors(os.path.join(d, "weights.safetensors"), sd, dtype)
    x.astype("<f4").tofile(os.path.join(d, "input.bin"))
    expected.tofile(os.path.join(d, "expected.bin"))
    # The stored file must read back to exactly the weights we computed with.
    back = n2t.read_safetensors(os.path.join(d, "weights.safetensors"))
    assert set(back) == set(sd) and all(np.array_equal(back[k], sd[k]) for k in sd)
    meta = {
        "case": dirname,
        "network": net.name,
        "source": os.path.relpath(job["path"], ROOT),
        "generator": GENERATOR,
        "input": dict({"name": net.input_name, "shape": list(net.input_shape)}, **xdesc),
        "outputs": [{"name": n, "shape": list(net.shapes[n]),
                     "max_abs": float(np.max(np.abs(o)).astype(np.float32))}
                    for n, o in zip(net.outputs, outs)],
        "weights": {"file": "weights.safetensors", "dtype": dtype,
                    "tensors": len(sd),
                    "source": job["weights"] or "random seed %d" % job["seed"]},
        "seed": job["seed"],
        "tolerance": TOLERANCE_OVERRIDES.get(name, TOLERANCE),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))
    return dirname, size


def jobs():
    """Every reference to make: the cases, then the models that exist."""
    out = []
    for path in sorted(glob.glob(os.path.join(REF, "cases", "*.net"))):
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            text = f.read()
        spec = directives(text).get("input", "-1,1")
        lo, hi = (float(v) for v in spec.split(","))
        out.append({"name": name, "path": path, "text": text, "input": (lo, hi),
                    "weights": None, "desc": describe(text)})
    for name, rel, spec, weights, skip in MODELS:
        path = os.path.join(ROOT, rel)
        if skip:
            print("skip %s: %s" % (name, skip))
            continue
        if not os.path.exists(path):
            print("skip %s: %s does not exist" % (name, rel))
            continue
        with open(path) as f:
            text = f.read()
        out.append({"name": name, "path": path, "text": text, "input": spec,
                    "weights": weights, "desc": describe(text)})
    for j in out:
        j["seed"] = seed_of(j["name"])
    return out


def main(argv):
    # One thread: the float64 sums then happen in one fixed order.
    torch.set_num_threads(1)
    todo = jobs()
    if "--list" in argv:
        for j in todo:
            print("| `%s` | %s |" % (j["name"], j["desc"]))
        return 0
    only = None
    if "--only" in argv:
        only = set(argv[argv.index("--only") + 1].split(","))
        todo = [j for j in todo if j["name"] in only]
    made, total = set(), 0
    for job in todo:
        net = n2t.parse_net(job["text"], os.path.relpath(job["path"], ROOT))
        if job["weights"]:
            sd = n2t.read_safetensors(os.path.join(ROOT, job["weights"]))
        else:
            sd = n2t.random_state_dict(net, job["seed"])
        for dtype in ("F32",) + VARIANTS.get(job["name"], ()):
            dirname, size = write_case(job, net, dtype, sd)
            made.add(dirname)
            total += size
            print("%-28s %-5s %9d B" % (dirname, dtype, size))
    # Remove references whose case is gone (only directories we generated).
    for d in ([] if only else sorted(os.listdir(REF))):
        meta = os.path.join(REF, d, "meta.json")
        if d not in made and os.path.exists(meta):
            with open(meta) as f:
                if json.load(f).get("generator") == GENERATOR:
                    print("remove stale %s" % d)
                    shutil.rmtree(os.path.join(REF, d))
    print("%d references, %d bytes" % (len(made), total))
    if total > SIZE_BUDGET:
        print("warning: over the %d byte budget" % SIZE_BUDGET)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
