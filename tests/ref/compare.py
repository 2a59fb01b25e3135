#!/usr/bin/env python3
"""Compares a run's output with a reference (docs/references.md).

    compare.py tests/ref/CASE GOT.bin

GOT.bin holds the outputs as float32 little-endian, concatenated in the
model's `output` order, exactly like CASE/expected.bin. Each output passes when
every value satisfies |got - exp| <= rel * max(|exp|, floor * max|exp|), with
rel and floor from CASE/meta.json. Prints one line per output; exit status 0
when all pass, 1 otherwise. Needs only the standard library.
"""

import json
import math
import os
import struct
import sys


def floats(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % 4:
        raise SystemExit("%s: size %d is not a multiple of 4" % (path, len(data)))
    return struct.unpack("<%df" % (len(data) // 4), data)


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    case, got_path = argv[1], argv[2]
    with open(os.path.join(case, "meta.json")) as f:
        meta = json.load(f)
    exp = floats(os.path.join(case, "expected.bin"))
    got = floats(got_path)
    if len(got) != len(exp):
        print("%s: %d values, expected %d" % (meta["case"], len(got), len(exp)))
        return 1
    rel, floor = meta["tolerance"]["rel"], meta["tolerance"]["floor"]
    ok, at = True, 0
    for out in meta["outputs"]:
        n = 1
        for d in out["shape"]:
            n *= d
        e, g = exp[at:at + n], got[at:at + n]
        scale = floor * max(abs(v) for v in e)
        worst, where = 0.0, 0
        for i, (gv, ev) in enumerate(zip(g, e)):
            allowed = max(rel * max(abs(ev), scale), 1e-38)
            r = abs(gv - ev) / allowed if math.isfinite(gv) else math.inf
            if r > worst:
                worst, where = r, i
        c, h, w = out["shape"]
        idx = (where // (h * w), where // w % h, where % w)
        status = "ok" if worst <= 1.0 else "FAIL"
        print("%s %s: %s, worst %.3g of tolerance at %s (got %.9g, expected %.9g)"
              % (meta["case"], out["name"], status, worst, idx, g[where], e[where]))
        ok = ok and worst <= 1.0
        at += n
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
