#!/usr/bin/python3
"""damage: the TFLite importer on damaged copies of a model, in process.

usage: damage.py MODEL.tflite [--flips N] [--seed S]

Tries the file cut at every offset, N random single-byte changes per byte
position class (every offset once, with a random value, plus N more at
random places), and every 32-bit word in turn replaced by a huge count and
by an offset past the end. Each must either import or raise the importer's
own error (netfile.ImportError_: exit 1 with a message); anything else (an
exception that would be a traceback, a hang past --timeout seconds) is a
failure, printed with the damage that caused it. Exit status 0 when there
was none.
"""

import argparse
import os
import signal
import struct
import sys
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import import_tflite  # noqa: E402
import netfile  # noqa: E402


class Hang(Exception):
    """The import took longer than the timeout."""


def _alarm(signum, frame):
    raise Hang()


def attempt(buf, what, timeout):
    """None when buf imports or is refused cleanly, else the failure text."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        import_tflite.read_bytes(bytes(buf), "damaged.tflite", "m")
        return None
    except netfile.ImportError_:
        return None
    except Hang:
        return "%s: no answer in %d s" % (what, timeout)
    except Exception:  # noqa: BLE001 -- anything else would reach the user as a traceback
        return "%s:\n%s" % (what, "".join(traceback.format_exc().splitlines(True)[-3:]))
    finally:
        signal.alarm(0)


def variants(data, flips, rng):
    """(description, damaged bytes) pairs."""
    for n in range(len(data)):
        yield "cut at %d" % n, data[:n]
    for k in range(len(data)):
        b = bytearray(data)
        b[k] = (b[k] + 1 + int(rng.integers(0, 255))) % 256
        yield "byte %d changed to %d" % (k, b[k]), b
    for _ in range(flips):
        b = bytearray(data)
        k = int(rng.integers(0, len(data)))
        b[k] ^= 1 << int(rng.integers(0, 8))
        yield "bit flipped at %d" % k, b
    for k in range(0, len(data) - 3, 4):
        for value, name in ((0x7FFFFFF0, "a huge count"), (len(data) + 4096, "an offset past the end")):
            b = bytearray(data)
            struct.pack_into("<I", b, k, value)
            yield "word at %d set to %s" % (k, name), b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--flips", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=10)
    args = ap.parse_args()
    data = open(args.model, "rb").read()
    rng = np.random.default_rng(args.seed)
    tried, failures, imported = 0, [], 0
    for what, buf in variants(data, args.flips, rng):
        tried += 1
        f = attempt(buf, what, args.timeout)
        if f:
            failures.append(f)
    for f in failures[:40]:
        print("FAIL " + f)
    print("%s: %d damaged copies, %d failures (tracebacks or hangs)" % (os.path.basename(args.model), tried,
                                                                      len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
