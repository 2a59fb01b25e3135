#!/usr/bin/python3
"""Reference parameter and MAC totals for the models in models/*.net.

Every model is rebuilt here as a PyTorch nn.Module that owes nothing to cnnc:
torchvision's own classes for AlexNet, VGG-16, ResNet-18 and MobileNetV2, and
hand-written equivalents of LeNet-5 and of the MLPerf Tiny v1.0 Keras
reference models. Totals are counted the way language.md defines them:

  params = sum(p.numel() for p in model.parameters())
  macs   = Conv2d: out_C*out_H*out_W*(in_C/groups)*kH*kW, Linear: in*out,
           measured with forward hooks on a real forward pass.

Outputs (unless --no-write):
  tests/golden/model_totals.txt   "name params macs", name = .net file stem
  tests/golden/model_shapes.txt   "name CxHxW", the model's output shape

It also checks that each models/NAME.net declares exactly the weight tensors
of the reference module's state_dict (names, `out`, `kernel`, `bias`), so a
state_dict saved from these modules loads into the .net unchanged.

Run with Debian's PyTorch: /usr/bin/python3 tools/model_figures.py
"""

import argparse
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Keras' BatchNormalization default; PyTorch's is 1e-5, and the MLPerf models
# were trained in Keras, so their equivalents must use Keras' value.
KERAS_BN_EPS = 1e-3


# ---------------------------------------------------------------------------
# TensorFlow 'same' padding
# ---------------------------------------------------------------------------

# Keras 'same' pads asymmetrically (extra on bottom/right) for stride > 1,
# which PyTorch's padding='same' refuses, so we compute it per input size.
def tf_same_pads(size, kernel, stride, dilation):
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


class TFSameConv2d(nn.Conv2d):
    """Conv2d with Keras padding='same'; state_dict keys stay NAME.weight/bias."""

    def __init__(self, *args, **kwargs):
        kwargs["padding"] = 0
        super().__init__(*args, **kwargs)

    # Padding is applied here, not in the conv, because it depends on the input size.
    def forward(self, x):
        top, bottom = tf_same_pads(x.shape[2], self.kernel_size[0],
                                   self.stride[0], self.dilation[0])
        left, right = tf_same_pads(x.shape[3], self.kernel_size[1],
                                   self.stride[1], self.dilation[1])
        x = F.pad(x, (left, right, top, bottom))
        return self._conv_forward(x, self.weight, self.bias)


# ---------------------------------------------------------------------------
# LeNet-5, as in the example of language.md
# ---------------------------------------------------------------------------

class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.f5 = nn.Linear(400, 120)
        self.f6 = nn.Linear(120, 84)
        self.f7 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.f5(x))
        x = F.relu(self.f6(x))
        return F.softmax(self.f7(x), dim=1)


# ---------------------------------------------------------------------------
# MLPerf Tiny v1.0 reference models (Keras originals in mlcommons/tiny)
# ---------------------------------------------------------------------------

class Stem(nn.Module):
    """Keras Conv2D(padding='same') + BatchNormalization + ReLU."""

    def __init__(self, cin, cout, kernel, stride):
        super().__init__()
        self.conv = TFSameConv2d(cin, cout, kernel, stride=stride)
        self.bn = nn.BatchNorm2d(cout, eps=KERAS_BN_EPS)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class DepthwiseSeparable(nn.Module):
    """Keras DepthwiseConv2D + BN + ReLU, then 1x1 Conv2D + BN + ReLU (biases on)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.dw = TFSameConv2d(cin, cin, 3, stride=stride, groups=cin)
        self.dw_bn = nn.BatchNorm2d(cin, eps=KERAS_BN_EPS)
        self.pw = TFSameConv2d(cin, cout, 1)
        self.pw_bn = nn.BatchNorm2d(cout, eps=KERAS_BN_EPS)

    def forward(self, x):
        x = F.relu(self.dw_bn(self.dw(x)))
        return F.relu(self.pw_bn(self.pw(x)))


class DSCNN(nn.Module):
    """KWS DS-CNN: benchmark/training/keyword_spotting/keras_model.py, 'ds_cnn'.

    Input 49 frames x 10 MFCCs (Keras HWC [49,10,1], here 1x49x10).
    """

    def __init__(self):
        super().__init__()
        self.stem = Stem(1, 64, (10, 4), 2)
        self.blocks = nn.Sequential(*[DepthwiseSeparable(64, 64, 1) for _ in range(4)])
        self.fc = nn.Linear(64, 12)

    def forward(self, x):
        x = self.blocks(self.stem(x))       # dropouts are identities at inference
        # final_pool_size = (int(49/2), int(10/2)) = (24, 5) on a 25x5 map:
        # the last time step is dropped, so this is not a global pool.
        x = F.avg_pool2d(x, (24, 5))
        return F.softmax(self.fc(torch.flatten(x, 1)), dim=1)


class ResBlock(nn.Module):
    """One 'stack' of the EEMBC ResNet-v1: two 3x3 convs, 1x1 conv shortcut on stride 2."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = TFSameConv2d(cin, cout, 3, stride=stride)
        self.bn1 = nn.BatchNorm2d(cout, eps=KERAS_BN_EPS)
        self.conv2 = TFSameConv2d(cout, cout, 3)
        self.bn2 = nn.BatchNorm2d(cout, eps=KERAS_BN_EPS)
        self.shortcut = TFSameConv2d(cin, cout, 1, stride=stride) if stride != 1 else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.shortcut is not None:
            x = self.shortcut(x)
        return F.relu(x + y)


class ResNet8(nn.Module):
    """CIFAR-10 ResNet-8: benchmark/training/image_classification/keras_model.py,
    resnet_v1_eembc() with 16/32/64 filters (the v1.0 reference)."""

    def __init__(self):
        super().__init__()
        self.stem = Stem(3, 16, 3, 1)
        self.blocks = nn.Sequential(ResBlock(16, 16, 1), ResBlock(16, 32, 2),
                                    ResBlock(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.avg_pool2d(self.blocks(self.stem(x)), 8)
        return F.softmax(self.fc(torch.flatten(x, 1)), dim=1)


class VWWMobileNetV1(nn.Module):
    """Visual Wake Words MobileNetV1 alpha=0.25: benchmark/training/
    visual_wake_words/vww_model.py (from Silicon Labs' mobilenet_v1_eembc.py)."""

    # (output channels, stride) of the 13 depthwise separable layers
    LAYERS = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2),
              (128, 1), (128, 1), (128, 1), (128, 1), (128, 1), (256, 2), (256, 1)]

    def __init__(self):
        super().__init__()
        self.stem = Stem(3, 8, 3, 2)
        blocks, cin = [], 8
        for cout, stride in self.LAYERS:
            blocks.append(DepthwiseSeparable(cin, cout, stride))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(256, 2)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = F.avg_pool2d(x, x.shape[2:])     # AveragePooling2D(pool_size=x.shape[1:3])
        return F.softmax(self.fc(torch.flatten(x, 1)), dim=1)


class ADAutoencoder(nn.Module):
    """Anomaly detection FC autoencoder: benchmark/training/anomaly_detection/
    keras_model.py (640-128-128-128-128-8-128-128-128-128-640)."""

    WIDTHS = [128, 128, 128, 128, 8, 128, 128, 128, 128]

    def __init__(self, dim=640):
        super().__init__()
        cin = dim
        for i, cout in enumerate(self.WIDTHS, 1):
            setattr(self, "fc%d" % i, nn.Linear(cin, cout))
            # Keras BatchNormalization on a Dense output normalises each feature,
            # as BatchNorm1d does (and batchnorm2d on Cx1x1 in the .net).
            setattr(self, "bn%d" % i, nn.BatchNorm1d(cout, eps=KERAS_BN_EPS))
            cin = cout
        self.fc10 = nn.Linear(cin, dim)

    def forward(self, x):
        x = torch.flatten(x, 1)
        for i in range(1, len(self.WIDTHS) + 1):
            x = F.relu(getattr(self, "bn%d" % i)(getattr(self, "fc%d" % i)(x)))
        return self.fc10(x)


# ---------------------------------------------------------------------------
# The model list
# ---------------------------------------------------------------------------

def tv(name):
    """A torchvision model, random weights (nothing is downloaded)."""
    return lambda: getattr(torchvision.models, name)(weights=None)


# stem, builder, input CxHxW, published figures to reproduce: exact params,
# and exact MACs or torchvision's "GFLOPS" (giga-MACs rounded to 2 decimals).
# The MLPerf Keras models (published None) have no published PyTorch-style
# figures; for them we print the Keras model.summary() total (params + BN
# moving mean/variance) that docs/models.md reconciles.
MODELS = [
    ("lenet5", LeNet5, (1, 32, 32),
     dict(params=61706, macs=416520, source="language.md")),
    ("alexnet", tv("alexnet"), (3, 224, 224),
     dict(params=61100840, gmacs=0.71, source="torchvision")),
    ("vgg16", tv("vgg16"), (3, 224, 224),
     dict(params=138357544, gmacs=15.47, source="torchvision")),
    ("resnet18", tv("resnet18"), (3, 224, 224),
     dict(params=11689512, gmacs=1.81, source="torchvision")),
    ("mobilenetv2", tv("mobilenet_v2"), (3, 224, 224),
     dict(params=3504872, gmacs=0.30, source="torchvision")),
    ("dscnn", DSCNN, (1, 49, 10), None),
    ("resnet8", ResNet8, (3, 32, 32), None),
    ("vww_mobilenetv1", VWWMobileNetV1, (3, 96, 96), None),
    ("ad_autoencoder", ADAutoencoder, (640, 1, 1), None),
]


# ---------------------------------------------------------------------------
# Counting
# ---------------------------------------------------------------------------

def count(model, shape):
    """Return (params, macs, bn_buffers, output CxHxW) from one forward pass."""
    macs = [0]

    # Conv MACs follow from the output size, which the hook sees after padding.
    def conv_hook(mod, _inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1]
        macs[0] += out.numel() * (mod.in_channels // mod.groups) * k

    def linear_hook(mod, _inp, out):
        macs[0] += out.numel() * mod.in_features

    hooks = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(linear_hook))
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros((1,) + shape))
    for h in hooks:
        h.remove()
    params = sum(p.numel() for p in model.parameters())
    # Keras counts moving mean/variance as (non-trainable) parameters.
    bn_buffers = sum(m.running_mean.numel() + m.running_var.numel()
                     for m in model.modules()
                     if isinstance(m, nn.modules.batchnorm._BatchNorm))
    # cnnc's tensors are CxHxW; a (1, N) result of Linear is Nx1x1 there.
    oshape = tuple(out.shape[1:]) + (1,) * (4 - out.dim())
    return params, macs[0], bn_buffers, oshape


# ---------------------------------------------------------------------------
# .net cross-check
# ---------------------------------------------------------------------------

WEIGHTED = {"conv2d": ("weight", "bias"), "linear": ("weight", "bias"),
            "batchnorm2d": ("weight", "bias", "running_mean", "running_var")}


def net_layers(path):
    """(op, name, keys) of every layer in a .net file, auto-naming as cnnc does."""
    layers, seen = [], {}
    with open(path) as f:
        for line in f:
            toks = line.split("#", 1)[0].split()
            if not toks or toks[0] in ("network", "input", "output"):
                continue
            op = toks[0]
            seen[op] = seen.get(op, 0) + 1
            rest = toks[1:]
            if rest and "=" not in rest[0]:
                name, rest = rest[0], rest[1:]
            else:
                name = "%s_%d" % (op, seen[op])
            keys = dict(t.split("=", 1) for t in rest)
            layers.append((op, name, keys))
    return layers


def dims(text):
    """'3' -> (3, 3), '10x4' -> (10, 4)."""
    parts = [int(p) for p in text.split("x")]
    return tuple(parts * 2) if len(parts) == 1 else tuple(parts)


def check_net(stem, model):
    """Problems (strings) between models/STEM.net and the module's state_dict."""
    path = os.path.join(ROOT, "models", stem + ".net")
    if not os.path.exists(path):
        return ["%s: missing" % path]
    sd = {k: v.shape for k, v in model.state_dict().items()
          if not k.endswith("num_batches_tracked")}
    problems, declared = [], set()
    for op, name, keys in net_layers(path):
        if op not in WEIGHTED:
            continue
        tensors = list(WEIGHTED[op])
        if keys.get("bias") == "false":
            tensors.remove("bias")
        declared.update("%s.%s" % (name, t) for t in tensors)
        w = sd.get(name + ".weight")
        if w is None:
            continue
        if op in ("conv2d", "linear") and int(keys["out"]) != w[0]:
            problems.append("%s: out=%s, reference has %d" % (name, keys["out"], w[0]))
        if op == "conv2d" and dims(keys["kernel"]) != tuple(w[2:]):
            problems.append("%s: kernel=%s, reference has %s"
                            % (name, keys["kernel"], "x".join(map(str, w[2:]))))
    for k in sorted(declared - set(sd)):
        problems.append("%s: declared by the .net, not in the reference" % k)
    for k in sorted(set(sd) - declared):
        problems.append("%s: in the reference, not declared by the .net" % k)
    return problems


# ---------------------------------------------------------------------------

def fmt_shape(shape):
    return "x".join(str(d) for d in shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--golden-dir", default=os.path.join(ROOT, "tests", "golden"))
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--only", nargs="*", help="model stems to run (default all)")
    args = ap.parse_args()

    torch.manual_seed(0)
    rows, failures = [], []
    print("%-16s %12s %15s %11s %8s %12s  %s" % (
        "model", "params", "MACs", "output", "BN bufs", "Keras total", "published"))
    for stem, build, shape, published in MODELS:
        if args.only and stem not in args.only:
            continue
        model = build()
        params, macs, bn_bufs, oshape = count(model, shape)
        rows.append((stem, params, macs, oshape))
        keras = "{:,}".format(params + bn_bufs) if published is None else "-"
        pub = ""
        if published:
            ok = published["params"] == params
            if "macs" in published:
                ok = ok and published["macs"] == macs
            else:
                ok = ok and round(macs / 1e9, 2) == published["gmacs"]
            pub = "%s %s" % (published["source"], "match" if ok else "MISMATCH")
            if not ok:
                failures.append("%s: published figures not reproduced" % stem)
        print("%-16s %12s %15s %11s %8s %12s  %s" % (
            stem, "{:,}".format(params), "{:,}".format(macs), fmt_shape(oshape),
            "{:,}".format(bn_bufs), keras, pub))
        for p in check_net(stem, model):
            failures.append("%s.net: %s" % (stem, p))
        del model

    if not args.no_write:
        os.makedirs(args.golden_dir, exist_ok=True)
        with open(os.path.join(args.golden_dir, "model_totals.txt"), "w") as f:
            for stem, params, macs, _ in rows:
                f.write("%s %d %d\n" % (stem, params, macs))
        with open(os.path.join(args.golden_dir, "model_shapes.txt"), "w") as f:
            for stem, _, _, oshape in rows:
                f.write("%s %s\n" % (stem, fmt_shape(oshape)))
        print("wrote %s/model_totals.txt and model_shapes.txt" % args.golden_dir)

    for msg in failures:
        print("error: " + msg, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
