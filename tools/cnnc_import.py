#!/usr/bin/python3
"""cnnc_import: a TensorFlow Lite or ONNX model to a cnnc .net file and its weights.

usage: cnnc_import.py MODEL.tflite|MODEL.onnx [-o DIR] [--name NAME]

Writes DIR/NAME.net and DIR/NAME.safetensors (docs/import.md); then
`cnnc DIR/NAME.net -w DIR/NAME.safetensors -o NAME.c` generates the code, with
no other option for an int8 model. NAME defaults to the file's stem made into
a C identifier. Anything that cannot be imported is an error naming the source
operator (index, type, output tensor); then nothing is written.

Exit status: 0 written, 1 the model cannot be imported, 2 usage error.
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netfile  # noqa: E402

TOOL = "cnnc_import"


def sniff(path, head):
    """'tflite' or 'onnx', from the file's first bytes (the extension when
    they say nothing): a flatbuffer with identifier TFL3, or anything else
    named .onnx (protobuf has no magic)."""
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "tflite"
    ext = os.path.splitext(path)[1].lower()
    if ext == ".tflite":
        return "tflite"
    if ext == ".onnx":
        return "onnx"
    return None


def main(argv=None):
    """Command line; exit status 0, 1 (model) or 2 (usage)."""
    ap = argparse.ArgumentParser(
        prog="cnnc_import.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="\n\n".join(__doc__.split("\n\n")[2:-1]),
        epilog="exit status: 0 written, 1 the model cannot be imported, 2 usage error")
    ap.add_argument("model", metavar="MODEL", help="a .tflite or .onnx file")
    ap.add_argument("-o", "--outdir", metavar="DIR", default=".", help="where NAME.net and NAME.safetensors go")
    ap.add_argument("--name", help="network name (a C identifier); default: the file's stem")
    args = ap.parse_args(argv)
    if args.name is not None and (not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", args.name)
                                  or netfile.c_identifier(args.name) != args.name):
        print("%s: error: --name must be a C identifier, got '%s'" % (TOOL, args.name), file=sys.stderr)
        return 2
    try:
        with open(args.model, "rb") as f:
            head = f.read(8)
    except OSError as e:
        print("%s: error: cannot read %s: %s" % (TOOL, args.model, e.strerror or e), file=sys.stderr)
        return 2
    kind = sniff(args.model, head)
    if kind is None:
        print("%s: error: %s is neither a TensorFlow Lite file (no TFL3 identifier) nor named .onnx"
              % (TOOL, args.model), file=sys.stderr)
        return 1
    name = args.name or netfile.c_identifier(os.path.splitext(os.path.basename(args.model))[0])
    try:
        if kind == "tflite":
            import import_tflite as reader
        else:
            import import_onnx as reader
        model, warnings = reader.read(args.model, name)
        for w in warnings:
            print("%s: %s" % (TOOL, w), file=sys.stderr)
        paths = netfile.write(model, args.outdir, name)
    except ImportError as e:  # a Debian package the reader needs
        print("%s: error: %s (Debian: python3-flatbuffers, python3-onnx, python3-numpy)" % (TOOL, e),
              file=sys.stderr)
        return 1
    except netfile.ImportError_ as e:
        for msg in e.args:
            print("%s: error: %s" % (TOOL, msg), file=sys.stderr)
        return 1
    print("wrote %s (%d layers) and %s (%d tensors)"
          % (paths[1], len(model.layers), paths[0], len(model.tensors)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
