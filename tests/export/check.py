#!/usr/bin/python3
"""What tests/unit/test_export.c asks PyTorch, independently of the exporter.

Run from the repository root with Debian's python3-torch:

  check.py prepare DIR
      builds the small test models (tests/export/models.py) and writes, per
      case, DIR/CASE/input.bin and expected.bin (the model run in float64 on
      its float32 weights, outputs concatenated) plus the checkpoint the
      exporter reads: mnist/model.pt (a whole pickled module), mixed/state.pt
      (a state_dict); digits uses models/digits.safetensors, pools the
      exporter's default seed 0. Also DIR/where.txt: where the classes the
      error test names are defined, as the exporter prints it.
  check.py same-net A.net B.net
      the two models compute the same thing: same ops, shapes, parameters,
      MACs and wiring, same names for layers with weights (cnnc --report=json).
  check.py torchvision FACTORY DIR NAME
      DIR/NAME.net and DIR/NAME.safetensors, exported from torchvision's
      FACTORY (weights=None, seed 0): cnnc counts sum(p.numel()) parameters,
      the totals equal models/NAME.net's (when there is one), and every
      tensor is the state_dict's (DIR/NAME_state.pt's when it exists), by
      name and value.
  check.py torchvision-ref FACTORY DIR NAME CxHxW
      builds FACTORY (weights=None, seed 0) with its batchnorms randomized,
      saves the state_dict as DIR/NAME_state.pt for the exporter's -w and
      writes DIR/NAME_ref/input.bin and expected.bin for a CxHxW input.
Exits 1 with a message on any difference, 77 when there is no PyTorch.
"""

import copy
import importlib.util
import inspect
import json
import os
import struct
import subprocess
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
CNNC = "build/cnnc"


def need_torch():
    """Imports PyTorch, numpy and tests/export/models.py, which only some
    commands need (same-net starts fast without them)."""
    global np, torch, models
    try:
        import numpy as np
        import torch
    except ImportError:
        print("check.py: no PyTorch at %s" % sys.executable)
        sys.exit(77)  # the suite skips its tests
    warnings.simplefilter("ignore")  # PyTorch's notes on 'same' padding and the like
    sys.path.insert(0, HERE)
    import models


def fail(msg):
    print("check.py: " + msg)
    sys.exit(1)


def read_safetensors(path):
    """{name: float32 numpy array}, with the format checked strictly."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    if (8 + n) % 8:
        fail("%s: data does not start 8-byte aligned" % path)
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out, end = {}, 0
    for name, info in header.items():
        if info["dtype"] != "F32":
            fail("%s: %s is %s, not F32" % (path, name, info["dtype"]))
        b, e = info["data_offsets"]
        if b != end or e - b != 4 * int(np.prod(info["shape"], dtype=np.int64)):
            fail("%s: %s has bad offsets" % (path, name))
        end = e
        out[name] = np.frombuffer(body[b:e], "<f4").reshape(info["shape"])
    if end != len(body):
        fail("%s: %d stray bytes after the data" % (path, len(body) - end))
    return out


def report(net):
    """cnnc --report=json of a .net file, parsed."""
    r = subprocess.run([CNNC, net, "--report=json"], capture_output=True, text=True)
    if r.returncode != 0:
        fail("cnnc rejects %s:\n%s" % (net, r.stderr))
    return json.loads(r.stdout)


def reference(model, x):
    """Outputs of the model in float64 on its float32 weights, flattened."""
    m = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        ys = m(x.double())
    ys = ys if isinstance(ys, tuple) else (ys,)
    return np.concatenate([y[0].reshape(-1).numpy() for y in ys]).astype("<f4")


def randomize_batchnorm(model, gen):
    """Running statistics and affine terms away from 0 and 1, so that
    batchnorm is tested (fresh ones are the identity)."""
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=gen) - 0.5)


def case(root, name, model, shape, lo=-1.0, hi=1.0):
    """Writes input.bin and expected.bin for one model; returns its dir."""
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    gen = torch.Generator().manual_seed(len(name))
    x = torch.rand((1,) + shape, generator=gen) * (hi - lo) + lo
    x.numpy().astype("<f4").tofile(os.path.join(d, "input.bin"))
    reference(model, x).tofile(os.path.join(d, "expected.bin"))
    return d


def class_site(cls):
    """As the exporter prints it: FILE:LINE, relative below the cwd."""
    path = inspect.getsourcefile(cls)
    rel = os.path.relpath(path)
    return "%s:%d" % (path if rel.startswith("..") else rel, inspect.getsourcelines(cls)[1])


def prepare(root):
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(0)
    mnist = models.MnistNet().eval()
    d = case(root, "mnist", mnist, (1, 28, 28), 0.0, 1.0)
    torch.save(mnist, os.path.join(d, "model.pt"))

    digits = models.Digits().eval()
    sd = {k: torch.from_numpy(v.copy()) for k, v in read_safetensors("models/digits.safetensors").items()}
    digits.load_state_dict(sd, strict=False)
    case(root, "digits", digits, (1, 8, 8), 0.0, 1.0)

    torch.manual_seed(0)
    mixed = models.Mixed()
    with torch.no_grad():
        randomize_batchnorm(mixed, gen)
    mixed.eval()
    d = case(root, "mixed", mixed, (3, 12, 12))
    torch.save(mixed.state_dict(), os.path.join(d, "state.pt"))

    torch.manual_seed(0)  # what the exporter does before building a class
    case(root, "pools", models.Pools().eval(), (4, 16, 13))

    torch.manual_seed(0)
    kws = models.KeywordSpotter()
    with torch.no_grad():
        randomize_batchnorm(kws, gen)
    kws.eval()
    d = case(root, "kws", kws, (40, 49))
    torch.save(kws.state_dict(), os.path.join(d, "state.pt"))

    torch.manual_seed(0)
    unet = models.TinyUNet()
    with torch.no_grad():
        randomize_batchnorm(unet, gen)
    unet.eval()
    d = case(root, "unet", unet, (3, 16, 16))
    torch.save(unet.state_dict(), os.path.join(d, "state.pt"))

    with open(os.path.join(root, "where.txt"), "w") as f:
        for cls in (torch.nn.Softplus, models.MyBlock, torch.nn.LSTM):
            f.write(class_site(cls) + "\n")
    tv = "yes" if importlib.util.find_spec("torchvision") else "no"
    print("prepared 6 cases in %s; torchvision: %s" % (root, tv))


def same_net(a, b):
    ra, rb = report(a), report(b)
    la, lb = ra["layers"], rb["layers"]
    if len(la) != len(lb):
        fail("%s has %d layers, %s %d" % (a, len(la), b, len(lb)))
    ia = {l["name"]: i for i, l in enumerate(la)}
    ib = {l["name"]: i for i, l in enumerate(lb)}
    ia[ra["input"]["name"]] = ib[rb["input"]["name"]] = -1
    for x, y in zip(la, lb):
        for key in ("op", "shape", "params", "macs"):
            if x[key] != y[key]:
                fail("%s vs %s: %s: %r != %r" % (x["name"], y["name"], key, x[key], y[key]))
        if [ia[n] for n in x["inputs"]] != [ib[n] for n in y["inputs"]]:
            fail("%s and %s read different layers" % (x["name"], y["name"]))
        if x["params"] and x["name"] != y["name"]:
            fail("layer with weights named %s, not %s" % (x["name"], y["name"]))
    if ra["totals"] != rb["totals"]:
        fail("totals differ: %r != %r" % (ra["totals"], rb["totals"]))
    print("%s and %s: same %d layers, %d params" % (a, b, len(la), ra["totals"]["params"]))


def check_torchvision(factory, d, name):
    import torchvision
    torch.manual_seed(0)
    model = getattr(torchvision.models, factory)(weights=None)
    params = sum(p.numel() for p in model.parameters())
    net = os.path.join(d, name + ".net")
    r = report(net)
    got = r["totals"]["params"]
    if got != params:
        fail("%s: cnnc counts %d parameters, PyTorch %d" % (net, got, params))
    if os.path.exists(os.path.join("models", name + ".net")):
        ref = report(os.path.join("models", name + ".net"))
        for key in ("params", "macs"):
            if r["totals"][key] != ref["totals"][key]:
                fail("%s: %s %d, models/%s.net %d" % (net, key, r["totals"][key], name, ref["totals"][key]))
    state = os.path.join(d, name + "_state.pt")
    if os.path.exists(state):
        model.load_state_dict(torch.load(state))
    out = [l["shape"] for l in r["layers"] if l["name"] in r["outputs"]]
    if out != [[1000, 1, 1]]:
        fail("%s: output %r" % (net, out))
    st = read_safetensors(os.path.join(d, name + ".safetensors"))
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    if set(st) != set(sd):
        fail("tensor names differ from the state_dict: %s" % sorted(set(st) ^ set(sd))[:5])
    for k, v in sd.items():
        if not np.array_equal(st[k], v.numpy()):
            fail("%s differs from the state_dict's" % k)
    print("%s: %d params = sum(p.numel()), %d MACs%s, %d tensors = state_dict"
          % (name, got, r["totals"]["macs"],
             " as models/%s.net" % name if os.path.exists(os.path.join("models", name + ".net")) else "",
             len(st)))


def torchvision_ref(factory, d, name, shape):
    import torchvision
    torch.manual_seed(0)
    model = getattr(torchvision.models, factory)(weights=None).eval()
    with torch.no_grad():
        randomize_batchnorm(model, torch.Generator().manual_seed(2))
    os.makedirs(d, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(d, name + "_state.pt"))
    case(d, name + "_ref", model, tuple(int(v) for v in shape.split("x")))
    print("%s: state_dict and reference written in %s" % (factory, d))


def main(argv):
    if len(argv) == 3 and argv[1] == "prepare":
        need_torch()
        prepare(argv[2])
    elif len(argv) == 4 and argv[1] == "same-net":
        same_net(argv[2], argv[3])
    elif len(argv) == 6 and argv[1] == "torchvision-ref":
        need_torch()
        torchvision_ref(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) == 5 and argv[1] == "torchvision":
        need_torch()
        check_torchvision(argv[2], argv[3], argv[4])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
