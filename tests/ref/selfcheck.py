#!/usr/bin/python3
"""Checks the oracle (tools/net2torch.py) and the references it wrote.

    /usr/bin/python3 tests/ref/selfcheck.py

1. pools: net2torch's general pooling (any padding, ceil_mode overhang done
   by explicit padding) against PyTorch's own F.max_pool2d / F.avg_pool2d over
   a sweep of sizes, kernels, strides, paddings, dilations, ceil_mode and
   count_include_pad, wherever PyTorch accepts the parameters;
2. convs: F.pad-then-conv against nn.Conv2d(padding_mode=...) and against
   PyTorch's padding='same' (stride 1);
3. every `padding=same` layer in the cases and models has the output size
   ceil(in/stride) and the padding formula of language.md;
4. an independent numpy interpreter (direct loops from language.md, no torch)
   reproduces every expected.bin;
5. hand-built PyTorch models (LeNet-5, digits, ResNet-8, the AD autoencoder
   with BatchNorm1d) agree with net2torch on the stored weights and input;
6. F16/BF16 rounding agrees with torch's own conversions;
7. float32 runs (PyTorch's, and a C-like one: batchnorm folded, sequential
   accumulation) land within half of each case's tolerance of expected.bin.
Exits non-zero on any failure.
"""

import glob
import itertools
import json
import math
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import net2torch as n2t  # noqa: E402

FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("FAIL", msg)


# ---------------------------------------------------------------------------
# 1. pools against PyTorch's own operators
# ---------------------------------------------------------------------------

def pool_net(op, h, w, k, s, p, d, ceil, cip):
    """A one-layer .net text for the pool sweep."""
    extra = ""
    if op in ("maxpool2d", "minpool2d"):
        extra += " dilation=%d" % d
    if op == "avgpool2d":
        extra += " count_include_pad=%s" % ("true" if cip else "false")
    return ("network t\ninput x 2x%dx%d\n%s p kernel=%d stride=%d padding=%d "
            "ceil_mode=%s%s\n" % (h, w, op, k, s, p, "true" if ceil else "false", extra))


def native_pool(op, x, k, s, p, d, ceil, cip):
    if op == "maxpool2d":
        return F.max_pool2d(x, k, s, p, d, ceil_mode=ceil)
    if op == "minpool2d":
        return -F.max_pool2d(-x, k, s, p, d, ceil_mode=ceil)
    if op == "avgpool2d":
        return F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=cip)
    return F.avg_pool2d(x, k, s, p, ceil_mode=ceil, divisor_override=1)


def check_pools():
    torch.manual_seed(0)
    n = 0
    for op in ("maxpool2d", "minpool2d", "avgpool2d", "sumpool2d"):
        dils = (1, 2) if op in ("maxpool2d", "minpool2d") else (1,)
        cips = (True, False) if op == "avgpool2d" else (True,)
        for h, k, s, d, ceil, cip in itertools.product(range(1, 9), range(1, 5), range(1, 5),
                                                       dils, (False, True), cips):
            for p in range(0, k // 2 + 1):
                w = h + 1
                if d * (k - 1) + 1 > h + 2 * p:
                    # PyTorch's ceil_mode accepts a window larger than the
                    # padded input; language.md calls that an error.
                    continue
                x = torch.randn(1, 2, h, w, dtype=torch.float64) - (2.0 if op == "maxpool2d" else 0.0)
                try:
                    ref = native_pool(op, x, k, s, p, d, ceil, cip)
                except RuntimeError:
                    ref = None
                if ref is not None and min(ref.shape[2:]) < 1:
                    ref = None
                try:
                    net = n2t.parse_net(pool_net(op, h, w, k, s, p, d, ceil, cip))
                    got = n2t.build_module(net)(x)[0]
                except n2t.NetError:
                    got = None
                tag = "%s h=%d k=%d s=%d p=%d d=%d ceil=%s cip=%s" % (op, h, k, s, p, d, ceil, cip)
                if ref is None and got is None:
                    continue
                if ref is None or got is None:
                    fail("pool %s: torch %s, net2torch %s" % (tag, ref is not None, got is not None))
                    continue
                n += 1
                if ref.shape != got.shape:
                    fail("pool %s: shape %s vs %s" % (tag, tuple(ref.shape), tuple(got.shape)))
                elif not torch.allclose(ref, got, rtol=1e-12, atol=1e-12):
                    fail("pool %s: values differ by %g" % (tag, (ref - got).abs().max()))
    print("pools: %d configurations agree with F.max_pool2d/F.avg_pool2d" % n)


# ---------------------------------------------------------------------------
# 2. convs against nn.Conv2d
# ---------------------------------------------------------------------------

def check_convs():
    torch.manual_seed(1)
    n = 0
    for mode, h, w, k, s, p, d, g in itertools.product(
            ("zeros", "reflect", "replicate", "circular"), (3, 6), (4, 7), (1, 2, 3),
            (1, 2), (0, 1, 2), (1, 2), (1, 2)):
        if mode == "reflect" and p >= min(h, w):
            continue
        text = ("network t\ninput x 4x%dx%d\nconv2d c out=6 kernel=%d stride=%d padding=%d "
                "dilation=%d groups=%d padding_mode=%s\n" % (h, w, k, s, p, d, g, mode))
        try:
            net = n2t.parse_net(text)
        except n2t.NetError:
            continue
        ref = nn.Conv2d(4, 6, k, s, p, d, g, True, mode).double()
        mine = n2t.build_module(net)
        mine.c.load_state_dict(ref.state_dict())
        x = torch.randn(1, 4, h, w, dtype=torch.float64)
        a, b = ref(x), mine(x)[0]
        n += 1
        if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-12, atol=1e-12):
            fail("conv %s" % text.splitlines()[-1])
    # padding='same' (stride 1) is PyTorch's own for odd and even kernels.
    for kh, kw, dh, dw in itertools.product((1, 2, 3, 4, 5), (1, 2, 3, 4), (1, 2), (1, 3)):
        text = ("network t\ninput x 3x7x8\nconv2d c out=2 kernel=%dx%d dilation=%dx%d "
                "padding=same\n" % (kh, kw, dh, dw))
        net = n2t.parse_net(text)
        ref = nn.Conv2d(3, 2, (kh, kw), 1, "same", (dh, dw)).double()
        mine = n2t.build_module(net)
        mine.c.load_state_dict(ref.state_dict())
        x = torch.randn(1, 3, 7, 8, dtype=torch.float64)
        a, b = ref(x), mine(x)[0]
        n += 1
        if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-12, atol=1e-12):
            fail("conv same %s" % text.splitlines()[-1])
    print("convs: %d configurations agree with nn.Conv2d" % n)


# ---------------------------------------------------------------------------
# 3. padding=same shapes
# ---------------------------------------------------------------------------

def all_nets():
    """(label, Net) for every case and model with a reference directory."""
    out = []
    for d in sorted(glob.glob(os.path.join(HERE, "*", "meta.json"))):
        case = os.path.dirname(d)
        out.append((os.path.basename(case), n2t.load_net(os.path.join(case, "model.net")), case))
    return out


def check_same(nets):
    n = 0
    for label, net, _ in nets:
        for l in net.layers:
            if l.attrs.get("padding") != "same":
                continue
            _, ih, iw = net.shapes[l.inputs[0]]
            k, s = l.attrs["kernel"], l.attrs["stride"]
            dd = l.attrs.get("dilation", (1, 1))
            pads = []
            for i, size in enumerate((ih, iw)):
                o = math.ceil(size / s[i])
                if l.shape[1 + i] != o:
                    fail("%s %s: same gives %d on axis %d, want ceil(%d/%d)=%d"
                         % (label, l.name, l.shape[1 + i], i, size, s[i], o))
                total = max((o - 1) * s[i] + dd[i] * (k[i] - 1) + 1 - size, 0)
                pads += [total // 2, total - total // 2]
            if tuple(pads) != l.pads:
                fail("%s %s: same pads %s, want %s" % (label, l.name, l.pads, pads))
            n += 1
    print("same: %d layers have out = ceil(in/stride) and the language.md padding" % n)


# ---------------------------------------------------------------------------
# 4. a numpy interpreter written straight from language.md
# ---------------------------------------------------------------------------

def np_padded(x, pads, mode):
    """x (C,H,W) padded by (top,bottom,left,right) with the given mode."""
    c, h, w = x.shape
    t, b, l, r = pads

    def src(i, n):
        if 0 <= i < n:
            return i
        if mode == "zeros":
            return None
        if mode == "replicate":
            return min(max(i, 0), n - 1)
        if mode == "circular":
            return i % n
        return -i if i < 0 else 2 * (n - 1) - i     # reflect (edge not repeated)
    out = np.zeros((c, h + t + b, w + l + r))
    for i in range(-t, h + b):
        si = src(i, h)
        for j in range(-l, w + r):
            sj = src(j, w)
            if si is not None and sj is not None:
                out[:, i + t, j + l] = x[:, si, sj]
    return out


def np_conv(x, wt, bias, a, pads):
    (sh, sw), (dh, dw), g = a["stride"], a["dilation"], a["groups"]
    o, cg, kh, kw = wt.shape
    p = np_padded(x, pads, a["padding_mode"])
    oh = (p.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (p.shape[2] - dw * (kw - 1) - 1) // sw + 1
    og = o // g
    y = np.zeros((o, oh, ow))
    for gi in range(g):
        for i in range(kh):
            for j in range(kw):
                patch = p[gi * cg:(gi + 1) * cg,
                          i * dh: i * dh + (oh - 1) * sh + 1: sh,
                          j * dw: j * dw + (ow - 1) * sw + 1: sw]
                y[gi * og:(gi + 1) * og] += np.einsum("oc,chw->ohw", wt[gi * og:(gi + 1) * og, :, i, j], patch)
    if bias is not None:
        y += bias[:, None, None]
    return y


def np_starts(n, lo, hi, k, s, d, ceil):
    """Window start positions (input coordinates) along one axis: every window
    must fit the padded input (floor), or with ceil_mode may hang off the end
    as long as it starts inside the input or the low padding."""
    keff = d * (k - 1) + 1
    starts = []
    o = 0
    while True:
        st = o * s - lo
        fits = st + keff <= n + hi
        if ceil:
            ok = (st < n) and (o * s <= n + lo + hi - keff + s - 1)
        else:
            ok = fits
        if not ok:
            break
        starts.append(st)
        o += 1
    return starts


def np_pool(x, layer):
    a, op = layer.attrs, layer.op
    t, b, l, r = layer.pads
    (kh, kw), (sh, sw) = a["kernel"], a["stride"]
    dh, dw = a.get("dilation", (1, 1))
    c, h, w = x.shape
    rows = np_starts(h, t, b, kh, sh, dh, a["ceil_mode"])
    cols = np_starts(w, l, r, kw, sw, dw, a["ceil_mode"])
    y = np.zeros((c, len(rows), len(cols)))
    for oi, r0 in enumerate(rows):
        rr = [r0 + i * dh for i in range(kh)]
        for oj, c0 in enumerate(cols):
            cc = [c0 + j * dw for j in range(kw)]
            real = [(i, j) for i in rr for j in cc if 0 <= i < h and 0 <= j < w]
            vals = np.array([x[:, i, j] for i, j in real]).reshape(len(real), c)
            if op == "maxpool2d":
                y[:, oi, oj] = vals.max(axis=0) if real else -np.inf
            elif op == "minpool2d":
                y[:, oi, oj] = vals.min(axis=0) if real else np.inf
            else:
                tot = vals.sum(axis=0)
                if op == "sumpool2d":
                    y[:, oi, oj] = tot
                elif a["count_include_pad"]:
                    inside = sum(1 for i in rr for j in cc
                                 if -t <= i < h + b and -l <= j < w + r)
                    y[:, oi, oj] = tot / inside
                else:
                    y[:, oi, oj] = tot / len(real)
    return y


def np_run(net, sd, x):
    env = {net.input_name: x}
    for l in net.layers:
        xs = [env[n] for n in l.inputs]
        v, a = xs[0], l.attrs
        op = l.op
        if op == "conv2d":
            y = np_conv(v, sd[l.name + ".weight"], sd.get(l.name + ".bias"), a, l.pads)
        elif op in ("maxpool2d", "minpool2d", "avgpool2d", "sumpool2d"):
            y = np_pool(v, l)
        elif op == "globalavgpool2d":
            y = v.mean(axis=(1, 2), keepdims=True)
        elif op == "globalmaxpool2d":
            y = v.max(axis=(1, 2), keepdims=True)
        elif op == "linear":
            y = sd[l.name + ".weight"] @ v.reshape(-1)
            if l.name + ".bias" in sd:
                y = y + sd[l.name + ".bias"]
            y = y.reshape(-1, 1, 1)
        elif op == "flatten":
            y = v.reshape(-1, 1, 1)
        elif op == "batchnorm2d":
            g, bb = sd[l.name + ".weight"], sd[l.name + ".bias"]
            m, var = sd[l.name + ".running_mean"], sd[l.name + ".running_var"]
            y = ((v - m[:, None, None]) / np.sqrt(var[:, None, None] + a["eps"])
                 * g[:, None, None] + bb[:, None, None])
        elif op == "relu":
            y = np.maximum(v, 0)
        elif op == "relu6":
            y = np.minimum(np.maximum(v, 0), 6)
        elif op == "sigmoid":
            y = 1 / (1 + np.exp(-v))
        elif op == "tanh":
            y = np.tanh(v)
        elif op == "hardswish":
            y = v * np.minimum(np.maximum(v + 3, 0), 6) / 6
        elif op == "leakyrelu":
            y = np.where(v > 0, v, a["slope"] * v)
        elif op == "softmax":
            e = np.exp(v - v.max(axis=0, keepdims=True))
            y = e / e.sum(axis=0, keepdims=True)
        elif op == "dropout":
            y = v
        elif op == "add":
            y = sum(xs[1:], xs[0])
        elif op == "concat":
            y = np.concatenate(xs, axis=0)
        else:
            raise AssertionError(op)
        if y.shape != l.shape:
            fail("numpy %s %s: shape %s, net2torch says %s" % (net.name, l.name, y.shape, l.shape))
        env[l.name] = y
    return [env[n] for n in net.outputs]


def load_case(case):
    meta = json.load(open(os.path.join(case, "meta.json")))
    sd = {k: v.astype(np.float64) for k, v in
          n2t.read_safetensors(os.path.join(case, "weights.safetensors")).items()}
    x = np.fromfile(os.path.join(case, "input.bin"), "<f4").astype(np.float64)
    exp = np.fromfile(os.path.join(case, "expected.bin"), "<f4")
    return meta, sd, x, exp


def check_numpy(nets):
    worst = 0.0
    for label, net, case in nets:
        meta, sd, x, exp = load_case(case)
        got = np_run(net, sd, x.reshape(net.input_shape))
        got = np.concatenate([g.ravel() for g in got])
        if got.shape != exp.shape:
            fail("numpy %s: %d values, expected.bin has %d" % (label, got.size, exp.size))
            continue
        # float64 vs the float32-rounded reference: within rounding (2^-24
        # relative) plus a hair for summation order.
        err = np.abs(got - exp.astype(np.float64))
        lim = 1e-7 * np.abs(got) + 1e-12 * max(1.0, np.abs(got).max())
        worst = max(worst, float((err / lim).max()))
        if np.any(err > lim):
            fail("numpy %s: differs by %g" % (label, err.max()))
    print("numpy interpreter: %d references reproduced (worst %.2f of float32 rounding)"
          % (len(nets), worst))


# ---------------------------------------------------------------------------
# 5. hand-built models
# ---------------------------------------------------------------------------

class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c3 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.f5, self.f6, self.f7 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.f6(F.relu(self.f5(x))))
        return F.softmax(self.f7(x), dim=1)


class Digits(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


class ResBlock(nn.Module):
    """Keras-style residual block; stride 2 pads (0,1,0,1) by hand (TF SAME)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1 if stride == 1 else 0)
        self.bn1 = nn.BatchNorm2d(cout, eps=1e-3)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        if stride != 1:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride)

    def forward(self, x):
        y = F.pad(x, (0, 1, 0, 1)) if self.stride == 2 else x
        y = F.relu(self.bn1(self.conv1(y)))
        y = self.bn2(self.conv2(y))
        sc = self.shortcut(x) if self.stride != 1 else x
        return F.relu(sc + y)


class ResNet8(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Module()
        self.stem.conv = nn.Conv2d(3, 16, 3, 1, 1)
        self.stem.bn = nn.BatchNorm2d(16, eps=1e-3)
        self.blocks = nn.ModuleList([ResBlock(16, 16, 1), ResBlock(16, 32, 2), ResBlock(32, 64, 2)])
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.stem.bn(self.stem.conv(x)))
        for b in self.blocks:
            x = b(x)
        x = F.avg_pool2d(x, 8).flatten(1)
        return F.softmax(self.fc(x), dim=1)


class AutoEncoder(nn.Module):
    """The Keras Dense/BatchNormalization stack with PyTorch's BatchNorm1d."""

    def __init__(self):
        super().__init__()
        dims = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
        for i in range(10):
            setattr(self, "fc%d" % (i + 1), nn.Linear(dims[i], dims[i + 1]))
            if i < 9:
                setattr(self, "bn%d" % (i + 1), nn.BatchNorm1d(dims[i + 1], eps=1e-3))

    def forward(self, x):
        x = x.flatten(1)
        for i in range(1, 10):
            x = F.relu(getattr(self, "bn%d" % i)(getattr(self, "fc%d" % i)(x)))
        return self.fc10(x)


def check_handbuilt(nets):
    built = {"lenet5": LeNet, "digits": Digits, "resnet8": ResNet8,
             "ad_autoencoder": AutoEncoder}
    done = []
    for label, net, case in nets:
        if label not in built:
            continue
        meta, sd, x, exp = load_case(case)
        m = built[label]().double().eval()
        state = {k: torch.from_numpy(v) for k, v in sd.items()}
        for k, v in m.state_dict().items():
            if k.endswith("num_batches_tracked"):
                state[k] = v
        m.load_state_dict(state, strict=True)
        with torch.no_grad():
            ref = m(torch.from_numpy(x).reshape((1,) + net.input_shape)).reshape(-1).numpy()
        mine = np.concatenate([o.ravel() for o in n2t.run(net, sd, x)])
        if not np.allclose(ref, mine, rtol=1e-12, atol=1e-12):
            fail("hand-built %s differs by %g" % (label, np.abs(ref - mine).max()))
        if not np.allclose(ref.astype(np.float32), exp, rtol=1e-6, atol=0):
            fail("hand-built %s differs from expected.bin" % label)
        if "label" in meta["input"] and int(np.argmax(ref)) != meta["input"]["label"]:
            fail("%s predicts %d, label %d" % (label, np.argmax(ref), meta["input"]["label"]))
        done.append(label)
    print("hand-built models agree: %s" % (", ".join(done) or "none found"))


# ---------------------------------------------------------------------------
# 6. F16 / BF16 rounding
# ---------------------------------------------------------------------------

def check_rounding():
    rng = np.random.default_rng(3)
    a = np.concatenate([rng.standard_normal(20000) * 10.0 ** rng.integers(-8, 6, 20000),
                        [0.0, -0.0, 1.0, 65504.0, 1e-8, 3.0e-5]]).astype(np.float32)
    for dt, tdt in (("F16", torch.float16), ("BF16", torch.bfloat16)):
        if dt == "F16":
            a = a[np.abs(a) <= 65504.0]
        mine = n2t.round_to({"a": a}, dt)["a"]
        ref = torch.from_numpy(a).to(tdt).to(torch.float32).numpy()
        ok = mine == ref
        if not np.all(ok):
            fail("%s rounding differs from torch on %d values" % (dt, (~ok).sum()))
    print("F16/BF16 rounding matches torch")


# ---------------------------------------------------------------------------
# 7. float32 runs against the tolerance
# ---------------------------------------------------------------------------

def within(got, exp, rel, floor):
    """|got-exp| <= rel * max(|exp|, floor * max|exp|) per output; returns the
    worst ratio error / allowed (docs/references.md)."""
    worst = 0.0
    for g, e in zip(got, exp):
        allowed = rel * np.maximum(np.abs(e), floor * np.abs(e).max())
        allowed = np.maximum(allowed, np.finfo(np.float32).tiny)
        worst = max(worst, float((np.abs(g - e) / allowed).max()))
    return worst


def seq_conv32(x, wt, bias, a, pads):
    """float32 conv accumulating one weight at a time, the order a plain C
    loop nest (out, in, kh, kw) uses."""
    (sh, sw), (dh, dw), g = a["stride"], a["dilation"], a["groups"]
    o, cg, kh, kw = wt.shape
    p = np_padded(x, pads, a["padding_mode"]).astype(np.float32)
    oh = (p.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (p.shape[2] - dw * (kw - 1) - 1) // sw + 1
    og = o // g
    y = np.zeros((o, oh, ow), np.float32)
    if bias is not None:
        y += bias[:, None, None]
    for gi, c, i, j in itertools.product(range(g), range(cg), range(kh), range(kw)):
        patch = p[gi * cg + c, i * dh: i * dh + (oh - 1) * sh + 1: sh,
                  j * dw: j * dw + (ow - 1) * sw + 1: sw]
        y[gi * og:(gi + 1) * og] += wt[gi * og:(gi + 1) * og, c, i, j][:, None, None] * patch
    return y


def fold_bn32(net, sd):
    """Folds each batchnorm into the conv/linear before it, in float32, where
    that tensor has no other use: what cnnc's code generator does."""
    sd = {k: v.astype(np.float32) for k, v in sd.items()}
    uses = {}
    for l in net.layers:
        for i in l.inputs:
            uses[i] = uses.get(i, 0) + 1
    folded = set()
    for l in net.layers:
        src = l.inputs[0]
        if l.op != "batchnorm2d" or src == net.input_name:
            continue
        prev = net.layer(src)
        if prev.op not in ("conv2d", "linear") or uses[src] != 1 or src in net.outputs:
            continue
        sc = sd[l.name + ".weight"] / np.sqrt(sd[l.name + ".running_var"] + np.float32(l.attrs["eps"]))
        w = sd[src + ".weight"]
        sd[src + ".weight"] = w * sc.reshape((-1,) + (1,) * (w.ndim - 1))
        b = sd.get(src + ".bias", np.zeros_like(sc))
        sd[src + ".bias"] = (b - sd[l.name + ".running_mean"]) * sc + sd[l.name + ".bias"]
        folded.add(l.name)
    return sd, folded


def seq_run32(net, sd, x):
    """A float32 run shaped like simple generated C: folded batchnorm,
    sequential accumulation; other ops from the numpy interpreter in float32."""
    sd, folded = fold_bn32(net, sd)
    env = {net.input_name: x.astype(np.float32)}
    for l in net.layers:
        v = env[l.inputs[0]]
        if l.name in folded:
            y = v
        elif l.op == "conv2d":
            y = seq_conv32(v, sd[l.name + ".weight"], sd.get(l.name + ".bias"), l.attrs, l.pads)
        elif l.op == "linear":
            w, vv = sd[l.name + ".weight"], v.reshape(-1)
            y = sd.get(l.name + ".bias", np.zeros(w.shape[0], np.float32)).copy()
            for k in range(w.shape[1]):
                y += w[:, k] * vv[k]
            y = y.reshape(-1, 1, 1)
        elif l.op == "add":
            y = env[l.inputs[0]]
            for i in l.inputs[1:]:
                y = y + env[i]
        elif l.op == "concat":
            y = np.concatenate([env[i] for i in l.inputs], 0)
        else:
            one = n2t.Net()
            one.name, one.input_name, one.input_shape = "one", l.inputs[0], v.shape
            one.layers, one.outputs = [l], [l.name]
            y = np_run(one, sd, v)[0]
        env[l.name] = y.astype(np.float32)
    return [env[n].ravel().astype(np.float64) for n in net.outputs]


def check_float32(nets):
    rows = []
    for label, net, case in nets:
        meta, sd, x, exp = load_case(case)
        tol = meta["tolerance"]
        sizes = [int(np.prod(o["shape"])) for o in meta["outputs"]]
        exps = np.split(exp.astype(np.float64), np.cumsum(sizes)[:-1])
        t32 = n2t.run(net, sd, x.astype(np.float32), dtype=torch.float32)
        r1 = within([o.ravel() for o in t32], exps, tol["rel"], tol["floor"])
        r2 = within(seq_run32(net, sd, x.reshape(net.input_shape)), exps, tol["rel"], tol["floor"])
        rows.append((max(r1, r2), r1, r2, label))
    rows.sort(reverse=True)
    print("float32 runs vs expected, error/tolerance (torch, sequential C-like): " +
          ", ".join("%s %.2f %.2f" % (l, a, b) for _, a, b, l in rows[:6]))
    for r, _, _, l in rows:
        if r > 0.5:
            fail("a float32 run of %s uses %.2f of the tolerance" % (l, r))


def main():
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Using padding='same'")
    check_pools()
    check_convs()
    nets = all_nets()
    check_same(nets)
    check_numpy(nets)
    check_handbuilt(nets)
    check_rounding()
    check_float32(nets)
    print("selfcheck: %s" % ("%d failures" % len(FAILS) if FAILS else "ok"))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
