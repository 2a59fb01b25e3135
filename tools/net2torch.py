#!/usr/bin/python3
"""PyTorch oracle for the `.net` model language (shared/spec/language.md).

An independent, deliberately small reader of `.net` files that builds a torch
nn.Module computing what language.md specifies, with PyTorch semantics. It is
the reference cnnc's generated C is checked against, so it shares no code with
the compiler and favours obviously-correct over fast.

Library use:
    net = parse_net(text, filename)          # Net: layers with resolved shapes
    model = build_module(net)                # nn.Module, float64 by default
    sd = random_state_dict(net, seed)        # {name: float32 np.ndarray}
    sd = read_safetensors(path)              # {name: float32 np.ndarray}
    write_safetensors(path, sd, dtype="F32") # F32 | F16 | BF16
    outs = run(net, sd, x_chw)               # list of np.ndarray (CHW), float64

Command line:
    net2torch.py MODEL.net [-w W.safetensors | --seed N] [-i input.bin] [-o out.bin]
prints each layer's shape and, with -i, runs the model.
"""

import argparse
import json
import math
import re
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
INT = re.compile(r"^[0-9]+$")
FLOAT = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
DIMS = re.compile(r"^[0-9]+(x[0-9]+)+$")

PAD_KEYWORDS = ("same", "valid")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

# key -> (kind, default); kind names how the value is parsed.
_SPATIAL = {"kernel": ("pair", None), "stride": ("pair", "kernel"),
            "padding": ("padding", 0)}
OPS = {
    "conv2d": {"out": ("int", None), "kernel": ("pair", None),
               "stride": ("pair", 1), "padding": ("padding", 0),
               "dilation": ("pair", 1), "groups": ("int", 1),
               "bias": ("bool", True), "padding_mode": ("mode", "zeros")},
    "maxpool2d": dict(_SPATIAL, dilation=("pair", 1), ceil_mode=("bool", False)),
    "minpool2d": dict(_SPATIAL, dilation=("pair", 1), ceil_mode=("bool", False)),
    "avgpool2d": dict(_SPATIAL, ceil_mode=("bool", False),
                      count_include_pad=("bool", True)),
    "sumpool2d": dict(_SPATIAL, ceil_mode=("bool", False)),
    "globalavgpool2d": {},
    "globalmaxpool2d": {},
    "mean": {},
    "linear": {"out": ("int", None), "bias": ("bool", True)},
    "flatten": {},
    "batchnorm2d": {"eps": ("float", 1e-5)},
    "relu": {}, "relu6": {}, "sigmoid": {}, "tanh": {}, "hardswish": {},
    "leakyrelu": {"slope": ("float", 0.01)},
    "hardsigmoid": {"alpha": ("float", 1.0 / 6.0), "beta": ("float", 0.5)},
    "softmax": {},
    "dropout": {"p": ("float", 0.5)},
    "add": {},
    "concat": {},
    "mul": {},
    "silu": {},
    "gelu": {"approximate": ("approximate", "none")},
    "elu": {"alpha": ("float", 1.0)},
    "prelu": {"num_parameters": ("int", 1)},
    "hardtanh": {"min": ("float", -1.0), "max": ("float", 1.0)},
    "pad": {"padding": ("padding", None), "mode": ("padmode", "constant"), "value": ("float", 0.0)},
    "upsample": {"factor": ("pair", None), "mode": ("upmode", "nearest"),
                 "align_corners": ("bool", False)},
    "pixelshuffle": {"factor": ("int", None)},
    "convtranspose2d": {"out": ("int", None), "kernel": ("pair", None), "stride": ("pair", 1),
                        "padding": ("padding", 0), "output_padding": ("pair", 0),
                        "dilation": ("pair", 1), "groups": ("int", 1), "bias": ("bool", True)},
}
# 1-D ops: their 2-D op along W of a (C, 1, L) view; the module uses
# torch's own 1-D layers (nn.Conv1d, nn.BatchNorm1d) so names and weight
# shapes are PyTorch's.
ONE_D = {"conv1d": "conv2d", "maxpool1d": "maxpool2d", "minpool1d": "minpool2d",
         "avgpool1d": "avgpool2d", "sumpool1d": "sumpool2d", "batchnorm1d": "batchnorm2d",
         "globalavgpool1d": "globalavgpool2d", "globalmaxpool1d": "globalmaxpool2d"}
for _k, _v in ONE_D.items():
    OPS[_k] = OPS[_v]
MULTI_INPUT = ("add", "concat", "mul")
REQUIRED = {op: [k for k, (_, d) in keys.items() if d is None]
            for op, keys in OPS.items()}


class NetError(Exception):
    """A problem in a .net file, reported as file:line: message."""


class Layer:
    """One statement of the model: an op, its inputs and resolved attributes."""

    def __init__(self, name, op, inputs, attrs, line):
        self.name, self.op, self.inputs = name, op, inputs
        self.attrs, self.line = attrs, line
        self.shape = None      # (C, H, W) of the output
        self.pads = None       # (top, bottom, left, right) for convs/pools

    def __repr__(self):
        return "Layer(%s %s %s <- %s)" % (self.op, self.name, self.shape, self.inputs)


class Net:
    """A parsed model: name, input, layers in source order, outputs."""

    def __init__(self):
        self.name = None
        self.input_name = None
        self.input_shape = None
        self.one_d = False     # the input is CxL
        self.layers = []
        self.outputs = []
        self.shapes = {}       # tensor name -> (C, H, W)

    def layer(self, name):
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(name)


def _parse_int(s, err):
    if not INT.match(s):
        err("expected an integer, got '%s'" % s)
    return int(s)


def _parse_value(kind, s, err):
    """Turns the text after `key=` into a Python value of the given kind."""
    if kind == "int":
        return _parse_int(s, err)
    if kind == "float":
        if not FLOAT.match(s):
            err("expected a number, got '%s'" % s)
        return float(s)
    if kind == "bool":
        if s not in ("true", "false"):
            err("expected true or false, got '%s'" % s)
        return s == "true"
    if kind == "padmode":
        if s not in ("constant", "reflect", "replicate", "circular"):
            err("expected constant, reflect, replicate or circular, got '%s'" % s)
        return s
    if kind == "upmode":
        if s not in ("nearest", "bilinear"):
            err("expected nearest or bilinear, got '%s'" % s)
        return s
    if kind == "approximate":
        if s not in ("none", "tanh"):
            err("expected none or tanh, got '%s'" % s)
        return s
    if kind == "mode":
        if s not in PADDING_MODES:
            err("expected one of %s, got '%s'" % (", ".join(PADDING_MODES), s))
        return s
    if kind == "pair":
        if INT.match(s):
            return (int(s), int(s))
        if DIMS.match(s) and s.count("x") == 1:
            h, w = s.split("x")
            return (int(h), int(w))
        err("expected N or HxW, got '%s'" % s)
    if kind == "padding":
        if s in PAD_KEYWORDS:
            return s
        if "," in s:
            parts = s.split(",")
            if len(parts) != 4:
                err("asymmetric padding needs top,bottom,left,right, got '%s'" % s)
            return tuple(_parse_int(p, err) for p in parts)
        h, w = _parse_value("pair", s, err)
        return (h, h, w, w)
    raise AssertionError(kind)


def _resolve_pads(pad, in_hw, kernel, stride, dilation):
    """Returns (top, bottom, left, right) for a padding value, `same` included."""
    if pad == "valid":
        return (0, 0, 0, 0)
    if pad != "same":
        return tuple(pad)
    out = []
    for n, k, s, d in zip(in_hw, kernel, stride, dilation):
        o = -(-n // s)
        total = max((o - 1) * s + d * (k - 1) + 1 - n, 0)
        out += [total // 2, total - total // 2]
    return tuple(out)


def _pool_out(n, lo, hi, k, s, d, ceil_mode):
    """One axis of PyTorch's pooling_output_shape, with asymmetric padding."""
    span = n + lo + hi - d * (k - 1) - 1
    # Python's floor division: under ceil_mode a window larger than a short
    # input still gives one output when it overhangs by less than a stride.
    o = (-(-span // s) if ceil_mode else span // s) + 1
    # PyTorch: the last window must start inside the input or the left padding.
    if ceil_mode and (o - 1) * s >= n + lo:
        o -= 1
    return o


def parse_net(text, filename="<net>"):
    """Parses .net source into a Net with every tensor's shape resolved."""
    net = Net()
    counts = {}
    prev = None            # name of the previous statement's tensor
    for lineno, raw in enumerate(text.splitlines(), 1):
        def err(msg, lineno=lineno):
            raise NetError("%s:%d: error: %s" % (filename, lineno, msg))
        toks = raw.split("#", 1)[0].split()
        if not toks:
            continue
        kw = toks[0]
        if net.name is None and kw != "network":
            err("the first statement must be 'network NAME'")
        if kw == "network":
            if net.name is not None:
                err("'network' given twice")
            if len(toks) != 2 or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", toks[1]):
                err("'network' takes one C identifier")
            net.name = toks[1]
            continue
        if kw == "input":
            if net.input_name is not None:
                err("only one 'input' is allowed")
            if len(toks) == 3:
                name, dims = toks[1], toks[2]
            elif len(toks) == 2:
                name, dims = "input", toks[1]   # spec is silent: we call it 'input'
            else:
                err("'input' takes [NAME] CxHxW")
            if not IDENT.match(name):
                err("bad name '%s'" % name)
            if not DIMS.match(dims) or dims.count("x") not in (1, 2):
                err("input shape must be CxHxW or CxL, got '%s'" % dims)
            net.one_d = dims.count("x") == 1
            shape = tuple(int(v) for v in dims.split("x"))
            if min(shape) < 1:
                err("input dimensions must be positive")
            net.input_name, net.input_shape = name, shape
            net.shapes[name] = shape
            prev = name
            continue
        if kw == "output":
            if len(toks) < 2:
                err("'output' needs at least one name")
            if net.outputs:
                err("'output' given twice")
            for n in toks[1:]:
                if n not in net.shapes:
                    err("output '%s' names nothing before it" % n)
            net.outputs = list(toks[1:])
            continue
        if kw not in OPS:
            err("unknown op '%s'" % kw)
        if net.input_name is None:
            err("layers must come after 'input'")
        op = kw
        counts[op] = counts.get(op, 0) + 1
        rest = toks[1:]
        name = None
        if rest and "=" not in rest[0]:
            name = rest[0]
            rest = rest[1:]
            if not IDENT.match(name):
                err("bad name '%s'" % name)
        if name is None:
            # Spec: `<op>_<n>`, n counting that op from 1. We count every
            # statement of the op, named or not (see docs/references.md).
            name = "%s_%d" % (op, counts[op])
        if name in net.shapes:
            err("name '%s' used twice" % name)
        attrs = {}
        inputs = None
        for t in rest:
            if "=" not in t:
                err("expected key=value, got '%s'" % t)
            k, v = t.split("=", 1)
            if k == "from":
                srcs = v.split(",")
                for s in srcs:
                    if s not in net.shapes:
                        err("from= names '%s', which is not defined before it" % s)
                inputs = srcs
                continue
            if k not in OPS[op]:
                err("unknown key '%s' for %s" % (k, op))
            if k in attrs:
                err("key '%s' given twice" % k)
            kind = OPS[op][k][0]
            if op in ONE_D and kind in ("pair", "padding"):
                if kind == "pair" or "," not in v:
                    if v not in PAD_KEYWORDS and not INT.match(v):
                        err("%s takes one number for %s" % (op, k))
                    attrs[k] = _parse_value(kind, v, err)
                    if kind == "pair":
                        attrs[k] = (1, attrs[k][1])
                    elif attrs[k] not in PAD_KEYWORDS:
                        attrs[k] = (0, 0) + tuple(attrs[k][2:])
                else:
                    lr = v.split(",")
                    if len(lr) != 2:
                        err("%s padding takes left,right" % op)
                    attrs[k] = (0, 0) + tuple(_parse_int(p, err) for p in lr)
                continue
            attrs[k] = _parse_value(kind, v, err)
        for k in REQUIRED[op]:
            if k not in attrs:
                err("%s needs %s=" % (op, k))
        for k, (_, d) in OPS[op].items():
            if k not in attrs:
                attrs[k] = attrs["kernel"] if d == "kernel" else d
                if OPS[op][k][0] == "pair" and isinstance(attrs[k], int):
                    attrs[k] = (1, attrs[k]) if op in ONE_D else (attrs[k], attrs[k])
                if k == "padding" and attrs[k] == 0:
                    attrs[k] = (0, 0, 0, 0)
        if inputs is None:
            inputs = [prev]
        if op in MULTI_INPUT:
            if len(inputs) < 2:
                err("%s needs from=A,B[,...]" % op)
            if op == "mul" and len(inputs) != 2:
                err("mul takes two inputs")
        elif len(inputs) != 1:
            err("%s takes one input" % op)
        if op in ONE_D and not net.one_d:
            err("%s needs a CxL input" % op)
        if net.one_d and op in ("conv2d", "maxpool2d", "minpool2d", "avgpool2d", "sumpool2d",
                                "convtranspose2d", "upsample", "pixelshuffle", "pad"):
            err("%s in a 1-D network is not supported by this oracle" % op)
        layer = Layer(name, op, inputs, attrs, lineno)
        _infer_shape(net, layer, err)
        net.layers.append(layer)
        net.shapes[name] = layer.shape
        prev = name
    if net.name is None:
        raise NetError("%s: error: empty model" % filename)
    if not net.layers:
        raise NetError("%s: error: no layers" % filename)
    if not net.outputs:
        net.outputs = [net.layers[-1].name]
    return net


def _infer_shape(net, layer, err):
    """Computes layer.shape (and pads) from its inputs, as PyTorch would."""
    op, a = ONE_D.get(layer.op, layer.op), layer.attrs
    ins = [(s[0], 1, s[1]) if len(s) == 2 else s for s in (net.shapes[n] for n in layer.inputs)]
    c, h, w = ins[0]
    _infer_shape2d(net, layer, op, a, ins, c, h, w, err)
    layer.shape3 = layer.shape
    if net.one_d:
        if layer.shape[1] != 1:
            err("a 1-D network's tensors are CxL")
        layer.shape = (layer.shape[0], layer.shape[2])


def _infer_shape2d(net, layer, op, a, ins, c, h, w, err):
    """_infer_shape on (C, H, W) shapes; 1-D ops as their 2-D op."""
    if op == "conv2d":
        kh, kw = a["kernel"]
        sh, sw = a["stride"]
        dh, dw = a["dilation"]
        g = a["groups"]
        if min(kh, kw, sh, sw, dh, dw, g, a["out"]) < 1:
            err("conv2d values must be positive")
        if c % g or a["out"] % g:
            err("groups=%d must divide in (%d) and out (%d) channels" % (g, c, a["out"]))
        p = _resolve_pads(a["padding"], (h, w), (kh, kw), (sh, sw), (dh, dw))
        t, b, l, r = p
        if a["padding_mode"] == "reflect" and (max(t, b) >= h or max(l, r) >= w):
            err("reflect padding must be smaller than the input")
        if a["padding_mode"] == "circular" and (max(t, b) > h or max(l, r) > w):
            err("circular padding must not exceed the input")
        oh = (h + t + b - dh * (kh - 1) - 1)
        ow = (w + l + r - dw * (kw - 1) - 1)
        if oh < 0 or ow < 0:
            err("kernel does not fit the padded input")
        layer.pads = p
        layer.shape = (a["out"], oh // sh + 1, ow // sw + 1)
    elif op in ("maxpool2d", "minpool2d", "avgpool2d", "sumpool2d"):
        kh, kw = a["kernel"]
        sh, sw = a["stride"]
        dh, dw = a.get("dilation", (1, 1))
        p = _resolve_pads(a["padding"], (h, w), (kh, kw), (sh, sw), (dh, dw))
        t, b, l, r = p
        oh = _pool_out(h, t, b, kh, sh, dh, a["ceil_mode"])
        ow = _pool_out(w, l, r, kw, sw, dw, a["ceil_mode"])
        if oh < 1 or ow < 1:
            err("kernel does not fit the padded input")
        layer.pads = p
        layer.shape = (c, oh, ow)
    elif op in ("globalavgpool2d", "globalmaxpool2d", "mean"):
        layer.shape = (c, 1, 1)
    elif op == "linear":
        if h != 1 or w != 1:
            err("linear needs an Nx1x1 input, got %dx%dx%d: add 'flatten'" % (c, h, w))
        layer.shape = (a["out"], 1, 1)
    elif op == "flatten":
        layer.shape = (c * h * w, 1, 1)
    elif op == "add":
        for s in ins:
            if s != ins[0]:
                err("add: shapes differ: %s vs %s" % (ins[0], s))
        layer.shape = ins[0]
    elif op == "mul":
        a, b = ins
        if a == b or b == (a[0], 1, 1):
            layer.shape = a
        elif a == (b[0], 1, 1):
            layer.shape = b
        else:
            err("mul: shapes %s and %s do not broadcast per channel" % (a, b))
    elif op == "pad":
        p = a["padding"]
        if p in PAD_KEYWORDS:
            err("pad takes explicit numbers")
        t, b, l, r = p
        for n, lo, hi in ((h, t, b), (w, l, r)):
            if a["mode"] == "reflect" and max(lo, hi) >= n:
                err("reflect padding must be smaller than the input")
            if a["mode"] == "circular" and max(lo, hi) > n:
                err("circular padding must not exceed the input")
        layer.pads = p
        layer.shape = (c, h + t + b, w + l + r)
    elif op == "upsample":
        if a["align_corners"] and a["mode"] != "bilinear":
            err("align_corners is for bilinear")
        fh, fw = a["factor"]
        layer.shape = (c, h * fh, w * fw)
    elif op == "convtranspose2d":
        p = a["padding"]
        if p in PAD_KEYWORDS:
            err("convtranspose2d takes explicit padding")
        if c % a["groups"] or a["out"] % a["groups"]:
            err("groups must divide in and out channels")
        t, b, l, r = p
        out = []
        for n, k, s, d, op_, lo, hi in zip((h, w), a["kernel"], a["stride"], a["dilation"],
                                           a["output_padding"], (t, l), (b, r)):
            if op_ >= s and op_ >= d:
                err("output_padding must be smaller than stride or dilation")
            out.append((n - 1) * s - lo - hi + d * (k - 1) + op_ + 1)
        if min(out) < 1:
            err("no output left")
        layer.pads = p
        layer.shape = (a["out"], out[0], out[1])
    elif op == "pixelshuffle":
        f = a["factor"]
        if f < 1 or c % (f * f):
            err("pixelshuffle factor must divide the channels twice")
        layer.shape = (c // (f * f), h * f, w * f)
    elif op == "prelu":
        if a["num_parameters"] not in (1, c):
            err("prelu: num_parameters must be 1 or %d" % c)
        layer.shape = ins[0]
    elif op == "concat":
        for s in ins:
            if s[1:] != ins[0][1:]:
                err("concat: H and W differ: %s vs %s" % (ins[0], s))
        layer.shape = (sum(s[0] for s in ins), h, w)
    else:
        layer.shape = ins[0]


# ---------------------------------------------------------------------------
# The torch module
# ---------------------------------------------------------------------------

def _fpad(pads):
    """(top, bottom, left, right) -> F.pad's (left, right, top, bottom)."""
    t, b, l, r = pads
    return (l, r, t, b)


def _window_pads(layer, in_hw):
    """Padding that makes a padding-0, floor-mode pool give exactly layer.shape.

    Low sides keep the declared padding; the high side becomes whatever the
    last window needs: more than declared when a ceil_mode window hangs off the
    edge, less (a crop) when floor mode drops trailing cells.
    """
    t, b, l, r = layer.pads
    (kh, kw), (sh, sw) = layer.attrs["kernel"], layer.attrs["stride"]
    dh, dw = layer.attrs.get("dilation", (1, 1))
    _, oh, ow = layer.shape3
    need_h = (oh - 1) * sh + dh * (kh - 1) + 1
    need_w = (ow - 1) * sw + dw * (kw - 1) + 1
    return (t, need_h - in_hw[0] - t, l, need_w - in_hw[1] - l)


def _sum_pool(x, k, s):
    """Plain window sums (no padding, floor mode)."""
    return F.avg_pool2d(x, k, s, 0, ceil_mode=False, count_include_pad=True,
                        divisor_override=1)


class NetModule(nn.Module):
    """Runs a Net. Layers with weights are real nn.Conv2d/Linear/BatchNorm2d
    registered under their .net names (dots make nested modules), so
    state_dict() keys are the language's tensor names."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        for layer in net.layers:
            mod = self._make(layer)
            if mod is not None:
                self._register(layer.name, mod)

    def _make(self, layer):
        a = layer.attrs
        cin = self.net.shapes[layer.inputs[0]][0]
        if layer.op == "conv1d":
            return nn.Conv1d(cin, a["out"], a["kernel"][1], a["stride"][1], 0, a["dilation"][1],
                             a["groups"], a["bias"])
        if layer.op == "batchnorm1d":
            return nn.BatchNorm1d(cin, eps=a["eps"])
        if layer.op == "conv2d":
            # Padding is applied by F.pad in forward so every form and mode
            # goes through the same, padding-0 convolution.
            return nn.Conv2d(cin, a["out"], a["kernel"], a["stride"], 0,
                             a["dilation"], a["groups"], a["bias"])
        if layer.op == "linear":
            return nn.Linear(cin, a["out"], a["bias"])
        if layer.op == "convtranspose2d":
            # padding 0: forward crops each side (asymmetric padding too)
            return nn.ConvTranspose2d(cin, a["out"], a["kernel"], a["stride"], 0, a["output_padding"],
                                      a["groups"], a["bias"], a["dilation"])
        if layer.op == "batchnorm2d":
            return nn.BatchNorm2d(cin, eps=a["eps"])
        if layer.op == "prelu":
            return nn.PReLU(a["num_parameters"])
        return None

    def _register(self, dotted, mod):
        parent = self
        parts = dotted.split(".")
        for p in parts[:-1]:
            if p not in parent._modules:
                parent.add_module(p, nn.Module())
            parent = parent._modules[p]
        parent.add_module(parts[-1], mod)

    def _get(self, dotted):
        m = self
        for p in dotted.split("."):
            m = m._modules[p]
        return m

    def _pool(self, layer, x, op=None):
        a = layer.attrs
        op = op or layer.op
        k, s = a["kernel"], a["stride"]
        pads = _window_pads(layer, x.shape[2:])
        if op in ("maxpool2d", "minpool2d"):
            d = a["dilation"]
            sign = 1.0 if op == "maxpool2d" else -1.0
            # Padded cells are -inf so they never win (minpool: max of -x).
            xp = F.pad(sign * x, _fpad(pads), value=-math.inf)
            y = F.max_pool2d(xp, k, s, 0, d, ceil_mode=False)
            return sign * y
        sums = _sum_pool(F.pad(x, _fpad(pads), value=0.0), k, s)
        if op == "sumpool2d":
            return sums
        # PyTorch's divisor: with count_include_pad the window cells inside
        # input+declared padding (not the ceil_mode overhang); else real cells.
        ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
        t, b, l, r = layer.pads
        if a["count_include_pad"]:
            m = F.pad(ones, (l, r, t, b), value=1.0)
            extra = (pads[3] - r, pads[1] - b)
            m = F.pad(m, (0, extra[0], 0, extra[1]), value=0.0)
        else:
            m = F.pad(ones, _fpad(pads), value=0.0)
        count = _sum_pool(m, k, s)
        return sums / count

    def forward(self, x):
        env = {self.net.input_name: x}
        for layer in self.net.layers:
            xs = [env[n] for n in layer.inputs]
            y = self._layer_forward(layer, xs)
            assert tuple(y.shape[1:]) == layer.shape, (layer, tuple(y.shape))
            env[layer.name] = y
        return tuple(env[n] for n in self.net.outputs)

    def _layer_forward(self, layer, xs):
        op, a, x = layer.op, layer.attrs, xs[0]
        if self.net.one_d:
            return self._layer_forward_1d(layer, xs)
        return self._layer_forward_2d(layer, xs)

    def _layer_forward_1d(self, layer, xs):
        """A 1-D network's layer on (N, C, L) tensors: torch's 1-D modules,
        pools as their 2-D form on an (N, C, 1, L) view."""
        op, a, x = layer.op, layer.attrs, xs[0]
        if op == "conv1d":
            mode = a["padding_mode"]
            mode = "constant" if mode == "zeros" else mode
            if any(layer.pads):
                x = F.pad(x, layer.pads[2:], mode=mode)
            return self._get(layer.name)(x)
        if op in ("maxpool1d", "minpool1d", "avgpool1d", "sumpool1d"):
            return self._pool(layer, x.unsqueeze(2), ONE_D[op]).squeeze(2)
        if op in ("globalavgpool1d", "globalavgpool2d", "mean"):
            return x.mean(dim=2, keepdim=True)
        if op in ("globalmaxpool1d", "globalmaxpool2d"):
            return x.amax(dim=2, keepdim=True)
        if op == "linear":
            y = self._get(layer.name)(x.reshape(x.shape[0], -1))
            return y.reshape(y.shape[0], -1, 1)
        if op == "flatten":
            return x.reshape(x.shape[0], -1, 1)
        if op == "batchnorm1d":
            return self._get(layer.name)(x)
        if op == "batchnorm2d":
            return self._get(layer.name)(x.unsqueeze(2)).squeeze(2)
        return self._layer_forward_2d(layer, xs)

    def _layer_forward_2d(self, layer, xs):
        op, a, x = layer.op, layer.attrs, xs[0]
        if op == "conv2d":
            mode = a["padding_mode"]
            mode = "constant" if mode == "zeros" else mode
            if any(layer.pads):
                x = F.pad(x, _fpad(layer.pads), mode=mode)
            return self._get(layer.name)(x)
        if op in ("maxpool2d", "minpool2d", "avgpool2d", "sumpool2d"):
            return self._pool(layer, x)
        if op in ("globalavgpool2d", "mean"):
            return x.mean(dim=(2, 3), keepdim=True)
        if op == "globalmaxpool2d":
            return x.amax(dim=(2, 3), keepdim=True)
        if op == "linear":
            y = self._get(layer.name)(x.reshape(x.shape[0], -1))
            return y.reshape(y.shape[0], -1, 1, 1)
        if op == "flatten":
            return x.reshape(x.shape[0], -1, 1, 1)
        if op == "batchnorm2d":
            return self._get(layer.name)(x)
        if op == "relu":
            return F.relu(x)
        if op == "relu6":
            return F.relu6(x)
        if op == "sigmoid":
            return torch.sigmoid(x)
        if op == "tanh":
            return torch.tanh(x)
        if op == "hardswish":
            return F.hardswish(x)
        if op == "leakyrelu":
            return F.leaky_relu(x, a["slope"])
        if op == "hardsigmoid":
            return torch.clamp(a["alpha"] * x + a["beta"], 0.0, 1.0)
        if op == "softmax":
            return F.softmax(x, dim=1)
        if op == "dropout":
            return x
        if op == "add":
            y = xs[0]
            for t in xs[1:]:
                y = y + t
            return y
        if op == "concat":
            return torch.cat(xs, dim=1)
        if op == "mul":
            return xs[0] * xs[1]     # PyTorch broadcasting: (1,C,1,1) * (1,C,H,W)
        if op == "silu":
            return F.silu(x)
        if op == "gelu":
            return F.gelu(x, approximate=a["approximate"])
        if op == "elu":
            return F.elu(x, a["alpha"])
        if op == "prelu":
            return self._get(layer.name)(x)
        if op == "hardtanh":
            return F.hardtanh(x, a["min"], a["max"])
        if op == "pad":
            if a["mode"] == "constant":
                return F.pad(x, _fpad(layer.pads), value=a["value"])
            return F.pad(x, _fpad(layer.pads), mode=a["mode"])
        if op == "upsample":
            sf = tuple(float(f) for f in a["factor"])
            if a["mode"] == "nearest":
                return F.interpolate(x, scale_factor=sf, mode="nearest")
            return F.interpolate(x, scale_factor=sf, mode="bilinear", align_corners=a["align_corners"])
        if op == "pixelshuffle":
            return F.pixel_shuffle(x, a["factor"])
        if op == "convtranspose2d":
            y = self._get(layer.name)(x)
            t, b, l, r = layer.pads
            return y[:, :, t:y.shape[2] - b, l:y.shape[3] - r]
        raise AssertionError(op)


def build_module(net, dtype=torch.float64):
    """An eval-mode NetModule in the given dtype (float64 for references)."""
    return NetModule(net).to(dtype).eval()


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------

def tensor_specs(net):
    """[(name, shape)] of every tensor the model reads, in layer order."""
    out = []
    for layer in net.layers:
        a = layer.attrs
        cin = net.shapes[layer.inputs[0]][0]
        n = layer.name
        if layer.op == "conv1d":
            out.append((n + ".weight", (a["out"], cin // a["groups"], a["kernel"][1])))
            if a["bias"]:
                out.append((n + ".bias", (a["out"],)))
        elif layer.op == "conv2d":
            kh, kw = a["kernel"]
            out.append((n + ".weight", (a["out"], cin // a["groups"], kh, kw)))
            if a["bias"]:
                out.append((n + ".bias", (a["out"],)))
        elif layer.op == "linear":
            out.append((n + ".weight", (a["out"], cin)))
            if a["bias"]:
                out.append((n + ".bias", (a["out"],)))
        elif layer.op in ("batchnorm2d", "batchnorm1d"):
            for t in ("weight", "bias", "running_mean", "running_var"):
                out.append(("%s.%s" % (n, t), (cin,)))
        elif layer.op == "prelu":
            out.append((n + ".weight", (a["num_parameters"],)))
        elif layer.op == "convtranspose2d":
            kh, kw = a["kernel"]
            out.append((n + ".weight", (cin, a["out"] // a["groups"], kh, kw)))
            if a["bias"]:
                out.append((n + ".bias", (a["out"],)))
    return out


def random_state_dict(net, seed):
    """Deterministic float32 weights that keep activations O(1).

    Conv/linear weights are He-uniform (bound sqrt(6/fan_in)), biases
    U(-0.5, 0.5); batchnorm gets weight U(0.5, 1.5), bias and running_mean
    U(-0.5, 0.5), running_var U(0.5, 2). Only numpy's PCG64 stream is used,
    so the values do not depend on the torch version.
    """
    rng = np.random.Generator(np.random.PCG64(seed))

    def uni(lo, hi, shape):
        return (lo + (hi - lo) * rng.random(shape)).astype(np.float32)

    sd = {}
    for name, shape in tensor_specs(net):
        kind = name.rsplit(".", 1)[1]
        if kind == "weight" and len(shape) in (2, 3, 4):
            fan_in = int(np.prod(shape[1:]))
            b = math.sqrt(6.0 / fan_in)
            sd[name] = uni(-b, b, shape)
        elif kind == "weight":
            sd[name] = uni(0.5, 1.5, shape)
        elif kind == "running_var":
            sd[name] = uni(0.5, 2.0, shape)
        else:
            sd[name] = uni(-0.5, 0.5, shape)
    return sd


def round_to(sd, dtype):
    """The float32 values a reader gets back after storing sd as dtype."""
    return {k: _decode(_encode(v, dtype), dtype, v.shape) for k, v in sd.items()}


def _encode(a, dtype):
    """float32 array -> little-endian bytes in the safetensors dtype."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        if np.any(np.abs(a) > 65504.0):
            raise ValueError("value beyond the F16 range")
        return a.astype("<f2").tobytes()
    if dtype == "BF16":
        # Round to nearest even on the upper 16 bits (NaN not expected).
        u = a.view(np.uint32).astype(np.uint64)
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        return u.astype("<u2").tobytes()
    raise ValueError("unsupported dtype %s" % dtype)


def _decode(buf, dtype, shape):
    """Little-endian bytes of a safetensors dtype -> float32 array."""
    if dtype == "F32":
        a = np.frombuffer(buf, "<f4")
    elif dtype == "F16":
        a = np.frombuffer(buf, "<f2").astype(np.float32)
    elif dtype == "BF16":
        a = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32)
    elif dtype == "F64":
        a = np.frombuffer(buf, "<f8").astype(np.float32)
    else:
        raise ValueError("unsupported dtype %s" % dtype)
    return a.reshape(shape).astype(np.float32)


_SIZES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8}


def write_safetensors(path, sd, dtype="F32", metadata=None):
    """Writes {name: array} as safetensors: u64 LE header length, JSON header
    (tensors sorted by name, padded with spaces to 8 bytes), raw LE data."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, off = [], 0
    for name in sorted(sd):
        b = _encode(sd[name], dtype)
        header[name] = {"dtype": dtype, "shape": [int(d) for d in sd[name].shape],
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Reads a safetensors file into {name: float32 array}, checking offsets."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: too short" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("%s: header runs past the end" % path)
    header = json.loads(data[8:8 + n].decode())
    body = data[8 + n:]
    sd = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt, shape = info["dtype"], tuple(info["shape"])
        b, e = info["data_offsets"]
        if dt not in _SIZES or e - b != _SIZES[dt] * int(np.prod(shape)) or e > len(body):
            raise ValueError("%s: tensor %s is damaged" % (path, name))
        sd[name] = _decode(body[b:e], dt, shape)
    return sd


def load_weights(model, net, sd):
    """Copies {name: array} into the module, checking names and shapes."""
    state = {}
    for name, shape in tensor_specs(net):
        if name not in sd:
            raise KeyError("missing tensor %s %s" % (name, shape))
        if tuple(sd[name].shape) != tuple(shape):
            raise ValueError("tensor %s has shape %s, expected %s"
                             % (name, tuple(sd[name].shape), shape))
        state[name] = torch.from_numpy(np.asarray(sd[name], dtype=np.float64))
    own = model.state_dict()
    for k in own:
        if k.endswith("num_batches_tracked"):
            state[k] = own[k]
    model.load_state_dict(state, strict=True)
    return model


def run(net, sd, x, dtype=torch.float64):
    """Runs the model on one CHW input; returns the outputs as numpy (CHW)."""
    model = load_weights(build_module(net, dtype), net, sd)
    xt = torch.from_numpy(np.asarray(x, dtype=np.float64).reshape((1,) + net.input_shape))
    with torch.no_grad():
        ys = model(xt.to(dtype))
    return [y[0].to(torch.float64).numpy() for y in ys]


def load_net(path):
    """Parses a .net file from disk."""
    with open(path) as f:
        return parse_net(f.read(), path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("-w", "--weights")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-i", "--input")
    ap.add_argument("-o", "--output")
    args = ap.parse_args(argv)
    try:
        net = load_net(args.model)
    except NetError as e:
        print(e, file=sys.stderr)
        return 1
    print("network %s  input %s %s" % (net.name, net.input_name, "x".join(map(str, net.input_shape))))
    for l in net.layers:
        print("  %-16s %-16s %-12s pads=%s" % (l.name, l.op, "x".join(map(str, l.shape)), l.pads))
    print("outputs:", " ".join(net.outputs))
    if args.input:
        sd = read_safetensors(args.weights) if args.weights else random_state_dict(net, args.seed)
        x = np.fromfile(args.input, "<f4")
        outs = run(net, sd, x)
        flat = np.concatenate([o.ravel() for o in outs]).astype("<f4")
        if args.output:
            flat.tofile(args.output)
        else:
            print(flat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
