#!/usr/bin/python3
"""torch_export: small PyTorch nets exported with torch.onnx, for the importer.

  torch_export.py [DIR]    (DIR: tests/onnx/cases)
  torch_export.py torchvision NAME OPSET FILE.onnx

Writes DIR/torch_NAME/{model.onnx,input.bin,expected.bin,outputs.txt}:
the exports as torch.onnx writes them (folded BatchNorm, Clip for ReLU6,
Shape/Gather/Unsqueeze/Concat/Reshape for x.view(x.size(0), -1)), and
PyTorch's own outputs as the expected ones. Small net at every opset from
7 to 17; a branchy one at 13.
Needs PyTorch (Debian: python3-torch); the files are committed, so the
tests do not.
"""

import io
import os
import sys
import warnings

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


class Small(nn.Module):
    """Conv, BatchNorm, ReLU6, MaxPool, depthwise conv, Hardswish (HardSigmoid
    and Mul before opset 14), GAP, view, Dropout, Linear, Softmax."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU6()
        self.pool = nn.MaxPool2d(2)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.act2 = nn.Hardswish()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.pool(self.act(self.bn(self.conv(x))))
        x = self.gap(self.act2(self.dw(x)))
        x = x.view(x.size(0), -1)
        return torch.softmax(self.fc(self.drop(x)), dim=1)


class Branchy(nn.Module):
    """Residual add, concat, AvgPool with ceil_mode and count_include_pad=False,
    LeakyReLU, Sigmoid, Tanh, dilated strided conv, torch.flatten, two outputs."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(2, 6, 3, padding=1)
        self.a = nn.Conv2d(6, 6, 3, padding=2, dilation=2)
        self.b = nn.Conv2d(6, 4, 1)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.down = nn.Conv2d(10, 5, 3, stride=2, padding=1, bias=False)
        self.fc = nn.Linear(5 * 3 * 3, 4)

    def forward(self, x):
        s = nn.functional.leaky_relu(self.stem(x), 0.1)
        r = torch.sigmoid(self.a(s)) + s
        y = torch.cat([r, torch.tanh(self.b(r))], dim=1)
        y = self.down(self.pool(y))
        return self.fc(torch.flatten(y, 1)), y


class Resample(nn.Module):
    """ELU, per-channel PReLU, nn.Upsample nearest and bilinear (align_corners
    false and true): Resize as torch.onnx writes it."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.PReLU(4)
        nn.init.uniform_(self.act.weight, -0.5, 0.5)  # four different slopes
        self.b = nn.Conv2d(4, 4, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.bi = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.ac = nn.Upsample(scale_factor=3, mode="bilinear", align_corners=True)

    def forward(self, x):
        y = self.act(nn.functional.elu(self.a(x), 0.7))
        y = self.b(self.up(y))
        return self.ac(self.bi(y))


def export(net, shape, opset, outdir, seed):
    """Exports net at opset and writes PyTorch's outputs for a seeded input."""
    torch.manual_seed(seed)
    for m in net.modules():  # statistics worth folding
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        ys = net(x)
    ys = ys if isinstance(ys, tuple) else (ys,)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, x, buf, opset_version=opset, input_names=["input"],
                          output_names=["out%d" % i for i in range(len(ys))], do_constant_folding=True)
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "model.onnx"), "wb") as f:
        f.write(buf.getvalue())
    x.numpy().astype("<f4").tofile(os.path.join(outdir, "input.bin"))
    with open(os.path.join(outdir, "expected.bin"), "wb") as f:
        for y in ys:
            f.write(y.numpy().astype("<f4").tobytes())
    with open(os.path.join(outdir, "outputs.txt"), "w") as f:
        f.write("%d\n" % len(ys))


def torchvision_export(name, opset, path):
    """torchvision's NAME (random weights) exported at opset, for the
    import of a whole published architecture; not committed (megabytes)."""
    import torchvision
    net = getattr(torchvision.models, name)(weights=None).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.zeros(1, 3, 224, 224), path, opset_version=opset)
    print("%s: %d parameters" % (name, sum(p.numel() for p in net.parameters())))
    return 0


def main(argv):
    if len(argv) == 4 and argv[0] == "torchvision":
        return torchvision_export(argv[1], int(argv[2]), argv[3])
    if argv and argv[0] == "resample":  # the resampling cases alone
        out = argv[1] if len(argv) > 1 else os.path.join(HERE, "cases")
        for opset in (11, 13):
            torch.manual_seed(5)
            export(Resample(), (1, 3, 4, 5), opset, os.path.join(out, "torch_resample%d" % opset), 5)
        return 0
    out = argv[0] if argv else os.path.join(HERE, "cases")
    for opset in range(7, 18):
        torch.manual_seed(opset)
        export(Small(), (1, 3, 8, 8), opset, os.path.join(out, "torch_small%d" % opset), opset)
    torch.manual_seed(99)
    export(Branchy(), (1, 2, 10, 9), 13, os.path.join(out, "torch_branchy13"), 99)
    print("torch %s: wrote torch_small7..17, torch_branchy13 in %s" % (torch.__version__, out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
