#!/usr/bin/python3
"""Times PyTorch eager on one reference model for make bench.

usage: torch_time.py MODEL WEIGHTS.safetensors INPUT.bin CxHxW
Batch 1, one thread, eval mode, no_grad; the same trials as host_main.c
(repeat until 0.3 s, best of 3). Prints "ns N runs R checksum S", or
"skip REASON" when PyTorch or the model's module is missing.
"""

import os
import struct
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN_SECONDS = 0.3
TRIALS = 3


def build(name):
    """The PyTorch module equivalent to tests/ref/NAME/model.net."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    if name == "digits":
        import train_digits  # needs sklearn at import time
        return train_digits.Digits()
    import model_figures as mf
    classes = {"lenet5": mf.LeNet5, "dscnn": mf.DSCNN, "resnet8": mf.ResNet8,
               "vww_mobilenetv1": mf.VWWMobileNetV1}
    return classes[name]()


def trial(model, x, n):
    """Seconds per inference over n runs."""
    t0 = time.perf_counter()
    for _ in range(n):
        model(x)
    return (time.perf_counter() - t0) / n


def main():
    name, weights, inpath, shape = sys.argv[1:5]
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import torch
        from cnnc_export import read_safetensors
        model = build(name)
    except ImportError as e:
        print("skip %s" % e)
        return 0
    torch.set_num_threads(1)
    model.load_state_dict({k: v.float() for k, v in read_safetensors(weights).items()})
    model.eval()
    with open(inpath, "rb") as f:
        raw = f.read()
    dims = [int(d) for d in shape.split("x")]
    count = 1
    for d in dims:
        count *= d
    x = torch.tensor(struct.unpack("<%df" % count, raw[:4 * count])).reshape(1, *dims)
    with torch.no_grad():
        y = model(x)
        n = 1
        while trial(model, x, n) * n < MIN_SECONDS:
            n *= 2
        best = min(trial(model, x, n) for _ in range(TRIALS))
    print("ns %.1f runs %d checksum %.6g" % (best * 1e9, n, float(y.sum())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
