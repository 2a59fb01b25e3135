#!/usr/bin/python3
"""Train the cnnc demo model on scikit-learn's 8x8 digits and write its artefacts.

Run from anywhere with Debian's PyTorch (python3-torch 1.13) and python3-sklearn:

    /usr/bin/python3 tools/train_digits.py

Writes, relative to the repository root:
    models/digits.net          the model in the .net language
    models/digits.safetensors  its trained weights (F32, PyTorch state_dict names)
    demo/digits_test.bin       the held-out test set plus PyTorch's predictions

Everything is deterministic (fixed seeds, one CPU thread, deterministic
algorithms), so rerunning on the same machine gives byte-identical files.
"""

import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NET_PATH = os.path.join(ROOT, "models", "digits.net")
WEIGHTS_PATH = os.path.join(ROOT, "models", "digits.safetensors")
TEST_PATH = os.path.join(ROOT, "demo", "digits_test.bin")

SEED = 0
N_TEST = 360  # 20% of the 1797 images, rounded up to a round number
EPOCHS = 40
BATCH = 32
LR = 3e-3
WEIGHT_DECAY = 1e-4

# The model, in the .net language. Layer names equal the PyTorch attribute
# names below, so the state_dict keys are the tensor names cnnc looks up.
NET_BODY = """\
network digits

input  x  1x8x8

conv2d      conv1  out=16 kernel=3 padding=1 bias=false
batchnorm2d bn1
relu
maxpool2d   pool1  kernel=2
conv2d      conv2  out=32 kernel=3 padding=1
relu
maxpool2d   pool2  kernel=2
flatten
linear      fc     out=10
"""


class Digits(nn.Module):
    """Same layers, same names and same order as NET_BODY."""

    def __init__(self):
        super().__init__()
        # No conv bias before batchnorm (PyTorch idiom): cnnc's fold makes one.
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16, eps=1e-5)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


def make_deterministic():
    """Fix every source of run-to-run variation we control."""
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def load_split():
    """Digits scaled to [0,1] as float32 NCHW, split by a seeded permutation.

    The permutation comes from numpy's legacy RandomState, whose stream is
    frozen across numpy versions, so the split never changes: the last
    N_TEST indices of the permutation are the test set, the rest train.
    """
    d = load_digits()
    x = (d.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    perm = np.random.RandomState(SEED).permutation(len(y))
    tr, te = perm[:-N_TEST], perm[-N_TEST:]
    return x[tr], y[tr], x[te], y[te]


def train(model, x, y):
    """Adam with a cosine learning rate, shuffled by a seeded generator."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(EPOCHS):
        model.train()
        order = torch.randperm(len(yt), generator=gen)
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            F.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
        sched.step()


def predict(model, x):
    """Eval-mode float32 logits, the reference the C code is checked against."""
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x))


def accuracy(pred, y):
    """Correct count and total."""
    return int((pred == y).sum()), len(y)


def atomic_write(path, data):
    """Write to a temporary file and rename, so a crash never leaves half a file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def safetensors_bytes(state):
    """The safetensors format by hand: u64 LE header size, JSON header, raw LE data."""
    header, blobs, offset = {}, [], 0
    for name, t in state.items():
        if name.endswith("num_batches_tracked"):
            continue
        raw = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("ascii")
    # Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def test_set_bytes(x, y, pred):
    """CNNCDIG1 file: 16-byte header, float32 CHW pixels, u8 labels, u8 predictions."""
    n, pixels = len(y), x[0].size
    head = b"CNNCDIG1" + struct.pack("<II", n, pixels)
    return (head + x.astype("<f4").tobytes()
            + y.astype(np.uint8).tobytes() + pred.astype(np.uint8).tobytes())


def net_text(n_train, n_test, correct, margin):
    """The .net source with a header saying what the model is and how good it is."""
    head = (
        "# digits: a small CNN for scikit-learn's 8x8 handwritten digits (load_digits,\n"
        "# 1797 images, pixels 0..16 scaled to [0,1]). The demo of cnnc: see docs/demo.md.\n"
        "#\n"
        "# Generated by tools/train_digits.py, do not edit: PyTorch %s on CPU, one thread,\n"
        "# seed %d; Adam lr=%g weight_decay=%g, cosine schedule, %d epochs, batch %d.\n"
        "# Split: numpy RandomState(%d) permutation, last %d images held out for test,\n"
        "# %d for training.\n"
        "# Test accuracy (PyTorch, float32, eval mode): %d/%d = %.2f%%\n"
        "# Smallest top-1 minus top-2 logit gap on the test set: %.3f\n"
        "# Weights: models/digits.safetensors (F32, names = PyTorch state_dict keys).\n"
        "\n"
    ) % (torch.__version__.split("a")[0], SEED, LR, WEIGHT_DECAY, EPOCHS, BATCH,
         SEED, n_test, n_train, correct, n_test, 100.0 * correct / n_test, margin)
    return (head + NET_BODY).encode("ascii")


def main():
    make_deterministic()
    xtr, ytr, xte, yte = load_split()
    model = Digits()
    train(model, xtr, ytr)

    tr_correct, tr_n = accuracy(predict(model, xtr).argmax(1).numpy(), ytr)
    logits = predict(model, xte)
    pred = logits.argmax(1).numpy()
    te_correct, te_n = accuracy(pred, yte)
    top2 = logits.topk(2, dim=1).values
    margin = float((top2[:, 0] - top2[:, 1]).min())

    atomic_write(NET_PATH, net_text(tr_n, te_n, te_correct, margin))
    atomic_write(WEIGHTS_PATH, safetensors_bytes(model.state_dict()))
    atomic_write(TEST_PATH, test_set_bytes(xte, yte, pred))

    print("train: %d/%d = %.2f%%" % (tr_correct, tr_n, 100.0 * tr_correct / tr_n))
    print("test:  %d/%d = %.2f%%" % (te_correct, te_n, 100.0 * te_correct / te_n))
    print("smallest test logit margin: %.3f" % margin)
    for p in (NET_PATH, WEIGHTS_PATH, TEST_PATH):
        print("wrote %s (%d bytes)" % (os.path.relpath(p, ROOT), os.path.getsize(p)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
