"""import_onnx: an ONNX model (Debian's python3-onnx) to a netfile.Model.

read(path, name) -> (Model, warnings). The graph is walked in its (sorted)
node order. Constant subgraphs (Constant, Shape of a static tensor, Gather,
Unsqueeze, Concat, ... as torch.onnx writes for x.view(x.size(0), -1)) are
evaluated with numpy; every other node becomes one .net layer, an alias
(Identity, a Reshape that changes nothing) or a pending value that its
reader absorbs (a Pad into the Conv or pool after it, an Add of a constant
into the MatMul before it). Anything else is an error naming the
node (index, name, op type, output tensor); then nothing is written.
docs/onnx.md has the op table.
"""

import os
import warnings

import numpy as np

import netfile

try:
    import onnx
    from onnx import numpy_helper
except ImportError as e:  # reported by cnnc_import.py with the Debian package names
    raise ImportError("ONNX is needed: %s" % e)

OPSET_MIN, OPSET_MAX = 7, 17
# Folded constants larger than this are refused (a damaged file's huge shape).
MAX_CONST = 1 << 24

# TensorProto data types the importer reads, as numpy.
_NP = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
       9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}
_TYPE_NAMES = {0: "undefined", 1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32",
               7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "double", 12: "uint32",
               13: "uint64", 14: "complex64", 15: "complex128", 16: "bfloat16"}


class NodeError(Exception):
    """This node cannot be imported; the message says why."""


class Act:
    """An activation: the .net layer (or input) that holds it and its ONNX
    shape (batch first, always 1)."""

    def __init__(self, layer, shape):
        self.layer, self.shape = layer, list(shape)


class Padded:
    """A Pad's output, waiting for the Conv or pool that reads it; any
    other reader gets it as a layer of its own (made once: done)."""

    def __init__(self, act, pads, mode, value, index, node):
        self.act, self.pads, self.mode, self.value = act, pads, mode, value
        self.index, self.node, self.done = index, node, None


class Bad:
    """The output of a node that failed (its error is already counted)."""


def _chw(shape):
    """cnnc's CxHxW of an ONNX activation shape."""
    if len(shape) == 4:
        return tuple(shape[1:])
    if len(shape) == 2:
        return (shape[1], 1, 1)
    raise NodeError("a rank-%d activation has no CxHxW form" % len(shape))


def _attrs(node):
    """The node's attributes as Python values."""
    out = {}
    for a in node.attribute:
        out[a.name] = onnx.helper.get_attribute_value(a)
    return out


def _spatial(v):
    """'3' or '3x5'."""
    return str(v[0]) if v[0] == v[1] else "%dx%d" % (v[0], v[1])


def _pads_text(t, b, l, r):
    """padding= of the language: N, HxW or top,bottom,left,right."""
    if t == b and l == r:
        return str(t) if t == l else "%dx%d" % (t, l)
    return "%d,%d,%d,%d" % (t, b, l, r)


def _window_out(n, k, s, d, lo, hi, ceil):
    """Output size along an axis as ONNX computes it; with ceil_mode, also
    PyTorch's (the last window must start inside the input or the low pad),
    which is what cnnc computes: they must agree."""
    span = n + lo + hi - (d * (k - 1) + 1)
    if span < 0:
        raise NodeError("the window (%d, dilation %d) is larger than the padded input (%d)" % (k, d, n + lo + hi))
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    torch_out = out - 1 if (out - 1) * s >= n + lo else out
    if torch_out != out:
        raise NodeError("ceil_mode: the last window starts in the padding (ONNX counts it, cnnc does not)")
    return out


class Reader:
    """One import: the graph's values, the model being built, the errors."""

    def __init__(self, proto, name, source):
        self.proto, self.g, self.source = proto, proto.graph, source
        self.model = netfile.Model(name)
        self.values, self.taken, self.errors, self.warnings = {}, set(), [], []
        self.consumers = {}
        self.opset = 0
        self.bias_of = {}  # layer name -> a MatMul's bias-less Layer, which an Add after it may complete

    # --- values ---------------------------------------------------------

    def const(self, name, what):
        """The constant a node input must be."""
        v = self.values.get(name)
        if isinstance(v, np.ndarray):
            return v
        raise NodeError("%s '%s' must be a constant (an initializer or folded), not computed" % (what, name))

    def opt_const(self, node, i, what):
        """Input i as a constant, or None when absent or empty."""
        if i >= len(node.input) or node.input[i] == "":
            return None
        return self.const(node.input[i], what)

    def act(self, name, what="input"):
        """The activation a node input must be."""
        v = self.values.get(name)
        if isinstance(v, Act):
            return v
        if isinstance(v, Padded):
            return self.pad_layer(v)
        if isinstance(v, np.ndarray):
            raise NodeError("%s '%s' is a constant; cnnc computes this op only on activations" % (what, name))
        raise unreachable_value(name)

    def layer(self, node, index, op, keys, inputs, shape, base=None):
        """Appends a .net layer for node; returns its Act."""
        name = netfile.identifier(base or _module_path(node.name) or node.name or node.output[0], self.taken)
        comment = "node %d%s (%s -> '%s')" % (index, " '%s'" % node.name if node.name else "", node.op_type,
                                              node.output[0])
        layer = netfile.Layer(op, name, keys, [a.layer for a in inputs], comment)
        self.model.layers.append(layer)
        return Act(name, shape), layer

    def weight_base(self, node, name):
        """A layer name from a weight initializer named like a state_dict key
        ('features.0.weight' -> 'features.0'), else from the node."""
        if name.endswith(".weight") and len(name) > 7:
            return name[:-7]
        return None

    def note_pad(self, v, layer):
        """Names the Pad a Conv or pool took as its padding in its comment."""
        if v is not None:
            layer.comment += "; padding from node %d (Pad -> '%s')" % (v.index, v.node.output[0])

    def tensor(self, layer, key, a):
        """Stores a float32 weight as LAYER.key."""
        self.model.tensors["%s.%s" % (layer.name, key)] = np.ascontiguousarray(a, dtype=np.float32)

    # --- the graph ------------------------------------------------------

    def run(self):
        g = self.g
        for imp in self.proto.opset_import:
            if imp.domain in ("", "ai.onnx"):
                self.opset = imp.version
        if self.opset == 0:
            raise netfile.ImportError_("%s: no opset of the default ONNX domain is imported" % self.source)
        if self.opset < OPSET_MIN:
            self.warnings.append("warning: %s: opset %d is older than %d; its ops are read with opset %d's rules "
                                 "(docs/onnx.md)" % (self.source, self.opset, OPSET_MIN, OPSET_MIN))
        if self.opset > OPSET_MAX:
            self.warnings.append("warning: %s: opset %d is newer than %d; its ops are read with opset %d's rules"
                                 % (self.source, self.opset, OPSET_MAX, OPSET_MAX))
        for t in g.initializer:
            self.values[t.name] = self.initializer(t)
        for t in g.sparse_initializer:
            raise netfile.ImportError_("sparse initializer '%s' is not supported" % t.values.name)
        self.graph_input()
        for n in g.node:
            for i in n.input:
                self.consumers[i] = self.consumers.get(i, 0) + 1
        for o in g.output:
            self.consumers[o.name] = self.consumers.get(o.name, 0) + 1
        for index, node in enumerate(g.node):
            try:
                try:
                    self.node(index, node)
                except (TypeError, ValueError, IndexError, KeyError, OverflowError, AttributeError,
                        ZeroDivisionError, MemoryError) as e:  # attributes of the wrong type or size
                    raise NodeError("malformed node: %s" % str(e).split("\n")[0])
            except NodeError as e:
                self.errors.append("node %d%s (%s -> '%s'): %s" % (
                    index, " '%s'" % node.name if node.name else "", node.op_type,
                    node.output[0] if node.output else "", e))
                for o in node.output:
                    self.values[o] = Bad()
        self.graph_outputs()
        if self.errors:
            raise netfile.ImportError_(*self.errors)
        if not self.model.layers:
            raise netfile.ImportError_("%s: the graph computes nothing from its input" % self.source)
        return self.model

    def initializer(self, t):
        """An initializer as numpy (float16 and double weights as float32)."""
        if t.data_location == onnx.TensorProto.EXTERNAL:
            raise netfile.ImportError_("initializer '%s' is stored in an external file; only models with "
                                       "their weights inside are read" % t.name)
        if t.data_type not in _NP:
            raise netfile.ImportError_("initializer '%s' has dtype %s, which is not supported"
                                       % (t.name, _TYPE_NAMES.get(t.data_type, str(t.data_type))))
        n = 1
        for d in t.dims:
            if d < 0:
                raise netfile.ImportError_("initializer '%s' has a negative dimension" % t.name)
            n *= d
        if n > MAX_CONST * 4:
            raise netfile.ImportError_("initializer '%s' has %d elements, too many" % (t.name, n))
        try:
            a = numpy_helper.to_array(t)
        except Exception as e:  # a damaged tensor: wrong byte count, bad data
            raise netfile.ImportError_("initializer '%s' cannot be read: %s" % (t.name, str(e).split("\n")[0]))
        if a.size != n:
            raise netfile.ImportError_("initializer '%s' holds %d values, its shape %d" % (t.name, a.size, n))
        if a.dtype in (np.float16, np.float64):
            a = a.astype(np.float32)
        return a

    def graph_input(self):
        """The one input: float, [1,C,H,W] or [1,N], every dimension known."""
        inits = set(t.name for t in self.g.initializer)
        ins = [i for i in self.g.input if i.name not in inits]
        if len(ins) != 1:
            raise netfile.ImportError_("%s: the graph has %d inputs (%s); cnnc models take exactly one"
                                       % (self.source, len(ins), ", ".join("'%s'" % i.name for i in ins)))
        i = ins[0]
        tt = i.type.tensor_type
        if not i.type.HasField("tensor_type"):
            raise netfile.ImportError_("input '%s' is not a tensor" % i.name)
        if tt.elem_type != onnx.TensorProto.FLOAT:
            raise netfile.ImportError_("input '%s' has dtype %s; only float inputs are read"
                                       % (i.name, _TYPE_NAMES.get(tt.elem_type, str(tt.elem_type))))
        if not tt.HasField("shape"):
            raise netfile.ImportError_("input '%s' has no shape; cnnc needs static shapes" % i.name)
        shape = []
        for k, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(d.dim_value)
            elif d.HasField("dim_param"):
                raise netfile.ImportError_("input '%s' dimension %d is '%s' (dynamic); cnnc needs static shapes"
                                           % (i.name, k, d.dim_param))
            else:
                raise netfile.ImportError_("input '%s' dimension %d is unknown; cnnc needs static shapes"
                                           % (i.name, k))
        if len(shape) not in (2, 4):
            raise netfile.ImportError_("input '%s' has shape %s; cnnc reads NCHW (or N x features) inputs"
                                       % (i.name, "x".join(map(str, shape))))
        if shape[0] != 1:
            raise netfile.ImportError_("input '%s' has batch %d; cnnc models take one input at a time (batch 1)"
                                       % (i.name, shape[0]))
        if any(d > 1 << 20 for d in shape):
            raise netfile.ImportError_("input '%s' has shape %s, too large" % (i.name, "x".join(map(str, shape))))
        m = self.model
        m.input_name = netfile.identifier(i.name, self.taken)
        m.input_shape = _chw(shape)
        self.values[i.name] = Act(m.input_name, shape)

    def graph_outputs(self):
        """The model's outputs: layers, in the graph's order."""
        names = []
        for o in self.g.output:
            v = self.values.get(o.name)
            if isinstance(v, Bad):
                continue
            if isinstance(v, Act) and v.layer != self.model.input_name:
                names.append(v.layer)
            elif isinstance(v, Act):
                self.errors.append("output '%s' is the input itself; cnnc models compute something" % o.name)
            elif isinstance(v, Padded):
                try:
                    names.append(self.pad_layer(v).layer)
                except NodeError as e:
                    self.errors.append("node %d%s (Pad -> '%s'): %s" % (
                        v.index, " '%s'" % v.node.name if v.node.name else "", v.node.output[0], e))
            elif isinstance(v, np.ndarray):
                self.errors.append("output '%s' is a constant; cnnc outputs are computed from the input" % o.name)
            else:
                self.errors.append("output '%s' is not computed by any node" % o.name)
        if len(set(names)) != len(names):
            self.errors.append("two graph outputs are the same tensor; cnnc outputs are distinct layers")
        self.model.outputs = names

    def node(self, index, node):
        """Imports one node."""
        if node.domain not in ("", "ai.onnx"):
            raise NodeError("ops of domain '%s' are not supported" % node.domain)
        for i in node.input:
            if i == "":
                continue
            v = self.values.get(i)
            if v is None:
                raise NodeError("input '%s' is computed by no node before it (the graph must be sorted)" % i)
            if isinstance(v, Bad):
                for o in node.output:
                    self.values[o] = Bad()
                return
        a = _attrs(node)
        op = node.op_type
        present = [i for i in node.input if i != ""]
        if op in FOLD and all(isinstance(self.values[i], np.ndarray) for i in present):
            outs = FOLD[op](self, node, a)
            for o, v in zip(node.output, outs):
                v = np.asarray(v)
                if v.size > MAX_CONST:
                    raise NodeError("folds to a constant of %d values, too many" % v.size)
                self.values[o] = v
            return
        if op == "Shape":
            x = self.values[node.input[0]]
            if isinstance(x, Padded):
                t, b, l, r = x.pads
                shape = [1, x.act.shape[1], x.act.shape[2] + t + b, x.act.shape[3] + l + r]
            else:
                shape = x.shape
            start, end = a.get("start", 0), a.get("end", len(shape))
            self.values[node.output[0]] = np.array(shape, dtype=np.int64)[start:end]
            return
        handler = Reader.OPS.get(op)
        if handler is None and op in FOLD:
            raise NodeError("%s is supported only on constants (folded), not on the input's data" % op)
        if handler is None:
            raise NodeError("%s is not supported (supported: %s; on constants also %s)"
                            % (op, ", ".join(sorted(Reader.OPS)), ", ".join(sorted(set(FOLD) - set(Reader.OPS)))))
        used = [o for o in node.output[1:] if o and self.consumers.get(o)]
        if used:
            raise NodeError("output '%s' is used; only the first output of %s is imported" % (used[0], op))
        self.values[node.output[0]] = handler(self, index, node, a)

    # --- ops ------------------------------------------------------------

    def elementwise(op, **fixed):
        """An op that maps to one elementwise .net op."""

        def handle(self, index, node, a):
            x = self.act(node.input[0])
            _chw(x.shape)
            keys = [(k, netfile.fmt_float(a.get(ak, dv))) for k, (ak, dv) in fixed.items()]
            return self.layer(node, index, op, keys, [x], x.shape)[0]

        return handle

    def clip(self, index, node, a):
        """Clip to [0,6] is relu6, to [0,inf) relu, other bounds hardtanh."""
        x = self.act(node.input[0])
        if self.opset < 11:
            lo, hi = a.get("min", -3.4028234663852886e38), a.get("max", 3.4028234663852886e38)
        else:
            lo = self.opt_const(node, 1, "min")
            hi = self.opt_const(node, 2, "max")
            lo = -np.inf if lo is None else float(np.asarray(lo).reshape(-1)[0])
            hi = np.inf if hi is None else float(np.asarray(hi).reshape(-1)[0])
        if lo == 0 and hi == 6:
            return self.layer(node, index, "relu6", [], [x], x.shape)[0]
        if lo == 0 and hi >= 3.4028234663852886e38:
            return self.layer(node, index, "relu", [], [x], x.shape)[0]
        if lo <= -3.4028234663852886e38 and hi >= 3.4028234663852886e38:  # no bounds: the identity
            return self.layer(node, index, "dropout", [("p", "0.0")], [x], x.shape)[0]
        if not lo <= hi:
            raise NodeError("Clip to [%g, %g]: min above max" % (lo, hi))
        big = 3.4028234663852886e38  # an open side: the largest float32
        keys = [("min", netfile.fmt_float(max(lo, -big))), ("max", netfile.fmt_float(min(hi, big)))]
        return self.layer(node, index, "hardtanh", keys, [x], x.shape)[0]

    def prelu(self, index, node, a):
        """PRelu with one slope or one per channel (nn.PReLU): prelu."""
        x = self.act(node.input[0])
        _chw(x.shape)
        slope = np.asarray(self.const(node.input[1], "slope"), dtype=np.float32)
        c = x.shape[1]
        # numpy broadcasting aligns the slope's last axis with W: per channel
        # is [C,1,1] or [1,C,1,1] (what torch.onnx writes for nn.PReLU(C))
        if slope.size == 1:
            n = 1
        elif len(x.shape) == 4 and tuple(slope.shape) in ((c, 1, 1), (1, c, 1, 1)):
            n = c
        elif len(x.shape) == 2 and tuple(slope.shape) in ((c,), (1, c)):
            n = c
        else:
            raise NodeError("slope of shape %s: only one slope or one per channel is supported"
                            % "x".join(map(str, slope.shape)))
        out, layer = self.layer(node, index, "prelu", [("num_parameters", str(n))], [x], x.shape)
        self.tensor(layer, "weight", slope.reshape(-1))
        return out

    def resize(self, index, node, a):
        """Resize (opset 11+) by whole factors over H and W: nearest as
        torch.onnx writes nn.Upsample (asymmetric with floor, or half-pixel
        with rounding, which give the same source pixels for whole factors),
        linear with half-pixel centres (PyTorch's align_corners=false) or
        align_corners."""
        x = self.act(node.input[0])
        if len(x.shape) != 4:
            raise NodeError("Resize of a rank-%d tensor; cnnc resizes NCHW" % len(x.shape))
        if self.opset < 11:
            raise NodeError("Resize before opset 11 is not supported")
        text = lambda k, d: (a.get(k, d).decode() if isinstance(a.get(k, d), bytes) else a.get(k, d))
        mode, ctm = text("mode", "nearest"), text("coordinate_transformation_mode", "half_pixel")
        nearest = text("nearest_mode", "round_prefer_floor")
        scales, sizes = self.opt_const(node, 2, "scales"), self.opt_const(node, 3, "sizes")
        n, c, h, w = x.shape
        if sizes is not None and np.asarray(sizes).size:
            out = [int(v) for v in np.asarray(sizes).reshape(-1)]
        elif scales is not None and np.asarray(scales).size == 4:
            sc = [float(v) for v in np.asarray(scales).reshape(-1)]
            out = [int(np.floor(d * f)) for d, f in zip(x.shape, sc)]
            if any(abs(d * f - o) > 1e-6 for d, f, o in zip(x.shape, sc, out)):
                raise NodeError("scales %s: cnnc resizes by whole factors" % sc)
        else:
            raise NodeError("Resize needs constant scales or sizes")
        if len(out) != 4 or out[:2] != [n, c] or out[2] % h or out[3] % w or out[2] < h or out[3] < w:
            raise NodeError("resizes %s to %s; cnnc upsamples H and W by whole factors"
                            % ("x".join(map(str, x.shape)), "x".join(map(str, out))))
        fh, fw = out[2] // h, out[3] // w
        if (fh, fw) == (1, 1):
            return x
        keys = [("factor", str(fh) if fh == fw else "%dx%d" % (fh, fw))]
        if mode == "nearest":
            ok = (ctm == "asymmetric" and nearest == "floor") or \
                 (ctm in ("half_pixel", "pytorch_half_pixel") and nearest in ("round_prefer_floor", "round_prefer_ceil"))
            if not ok:
                raise NodeError("nearest Resize with %s and nearest_mode %s picks other source pixels than "
                                "floor(i / factor)" % (ctm, nearest))
        elif mode == "linear":
            if ctm in ("half_pixel", "pytorch_half_pixel"):
                keys.append(("mode", "bilinear"))
            elif ctm == "align_corners":
                keys += [("mode", "bilinear"), ("align_corners", "true")]
            else:
                raise NodeError("linear Resize with %s coordinates is not supported" % ctm)
        else:
            raise NodeError("Resize mode '%s' is not supported (nearest and linear are)" % mode)
        return self.layer(node, index, "upsample", keys, [x], out)[0]

    def softmax(self, index, node, a):
        """Softmax over the channels (cnnc's, per pixel): opset 13's single
        axis, or older opsets' flattening from the axis on, when what they
        reduce over is the channels (other reduced dims of size 1)."""
        x = self.act(node.input[0])
        r = len(x.shape)
        axis = a.get("axis", -1 if self.opset >= 13 else 1)
        if not -r <= axis < r:
            raise NodeError("axis %d is out of range for a rank-%d tensor" % (axis, r))
        axis %= r
        dims = [axis] if self.opset >= 13 else list(range(axis, r))
        others = [d for d in dims if d != 1 and x.shape[d] != 1]
        if 1 not in dims or others:
            raise NodeError("softmax over dimension%s %s of %s is not over the channels, which cnnc's is"
                            % ("s" if len(dims) > 1 else "", ",".join(map(str, dims)),
                               "x".join(map(str, x.shape))))
        return self.layer(node, index, "softmax", [], [x], x.shape)[0]

    def padded_input(self, node, absorbs):
        """What a Conv or pool reads: (activation, [t,b,l,r] it adds to its
        own padding, the Pad that gives them or None). A Pad before it that
        absorbs(pad) refuses is made a layer of its own (pad_layer)."""
        v = self.values[node.input[0]]
        if isinstance(v, Padded) and absorbs(v):
            return v.act, v.pads, v
        return self.act(node.input[0]), [0, 0, 0, 0], None

    @staticmethod
    def own_pads(a):
        """Whether a Conv or pool pads by itself (auto_pad SAME or pads)."""
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        return auto.startswith("SAME") or any(a.get("pads", []))

    def window(self, node, a, x, k, extra, pool):
        """Strides, dilations and [t,b,l,r] pads of a Conv or pool (auto_pad
        resolved on x's shape, the pads of a Pad before it added), and the
        output H and W."""
        if len(x.shape) != 4:
            raise NodeError("input has shape %s; 2-D %s needs NCHW" % ("x".join(map(str, x.shape)), node.op_type))
        s = list(a.get("strides", [1, 1]))
        d = list(a.get("dilations", [1, 1]))
        if len(k) != 2 or len(s) != 2 or len(d) != 2:
            raise NodeError("only 2-D windows are supported")
        if min(k + s + d) < 1:
            raise NodeError("kernel, strides and dilations must be positive")
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        hw = x.shape[2:]
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = []  # on the size after a Pad before it
            for n, kk, ss, dd in zip([hw[0] + extra[0] + extra[1], hw[1] + extra[2] + extra[3]], k, s, d):
                out = -(-n // ss)
                total = max((out - 1) * ss + dd * (kk - 1) + 1 - n, 0)
                small = total // 2
                pads.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
            t, b, l, r = pads[0][0], pads[0][1], pads[1][0], pads[1][1]
        elif auto in ("VALID", "NOTSET"):
            p = list(a.get("pads", [0, 0, 0, 0])) if auto == "NOTSET" else [0, 0, 0, 0]
            if len(p) != 4:
                raise NodeError("pads has %d values, not 4" % len(p))
            t, l, b, r = p
        else:
            raise NodeError("auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID" % auto)
        if min(t, b, l, r) < 0:
            raise NodeError("negative pads are not supported")
        t, b, l, r = t + extra[0], b + extra[1], l + extra[2], r + extra[3]
        ceil = bool(a.get("ceil_mode", 0)) and pool
        oh = _window_out(hw[0], k[0], s[0], d[0], t, b, ceil)
        ow = _window_out(hw[1], k[1], s[1], d[1], l, r, ceil)
        return s, d, [t, b, l, r], oh, ow

    def conv(self, index, node, a):
        """Conv: conv2d with its weights; a reflect or edge Pad before it
        is padding_mode, a constant-zero one more padding."""
        x, extra, pad = self.padded_input(node, lambda v: (v.mode == "constant" and v.value == 0) or
                                          (v.mode != "constant" and not self.own_pads(a)))
        w = self.const(node.input[1], "weight")
        if w.ndim != 4:
            raise NodeError("weight has rank %d; only 2-D convolutions are supported" % w.ndim)
        if w.dtype != np.float32:
            raise NodeError("weight has dtype %s; float weights only" % w.dtype)
        g = a.get("group", 1)
        k = list(a.get("kernel_shape", w.shape[2:]))
        if k != list(w.shape[2:]):
            raise NodeError("kernel_shape %s differs from the weight's %s" % (k, list(w.shape[2:])))
        if g < 1 or x.shape[1] % g or w.shape[0] % g or w.shape[1] * g != x.shape[1]:
            raise NodeError("weight %s does not fit %d input channels in %d groups"
                            % ("x".join(map(str, w.shape)), x.shape[1], g))
        s, d, p, oh, ow = self.window(node, a, x, k, extra, False)
        b = self.opt_const(node, 2, "bias")
        keys = [("out", str(w.shape[0])), ("kernel", _spatial(k))]
        if s != [1, 1]:
            keys.append(("stride", _spatial(s)))
        if any(p):
            keys.append(("padding", _pads_text(*p)))
        if d != [1, 1]:
            keys.append(("dilation", _spatial(d)))
        if g != 1:
            keys.append(("groups", str(g)))
        if b is None:
            keys.append(("bias", "false"))
        if pad and pad.mode != "constant":
            keys.append(("padding_mode", "reflect" if pad.mode == "reflect" else "replicate"))
        out, layer = self.layer(node, index, "conv2d", keys, [x], [1, w.shape[0], oh, ow],
                                self.weight_base(node, node.input[1]))
        self.note_pad(pad, layer)
        self.tensor(layer, "weight", w)
        if b is not None:
            if b.size != w.shape[0]:
                raise NodeError("bias has %d values for %d output channels" % (b.size, w.shape[0]))
            self.tensor(layer, "bias", b.reshape(-1))
        return out

    def pool(self, index, node, a):
        """MaxPool and AveragePool: maxpool2d and avgpool2d."""
        avg = node.op_type == "AveragePool"
        if "kernel_shape" not in a:
            raise NodeError("kernel_shape is required")
        k = list(a["kernel_shape"])
        if len(k) != 2:
            raise NodeError("only 2-D windows are supported")

        # Padding a pool takes: zeros counted as cells (avg), cells that
        # never win (max); within half the kernel with its own.
        def absorbs(v):
            if v.mode != "constant" or v.value != (0 if avg else -np.inf):
                return False
            if avg and self.own_pads(a) and not a.get("count_include_pad", 0):
                return False
            p = self.window(node, a, v.act, k, v.pads, True)[2]
            return max(p[0], p[1]) <= k[0] // 2 and max(p[2], p[3]) <= k[1] // 2

        x, extra, pad = self.padded_input(node, absorbs)
        if avg and list(a.get("dilations", [1, 1])) != [1, 1]:
            raise NodeError("AveragePool with dilations has no .net form")
        if a.get("storage_order", 0) and len(node.output) > 1:
            raise NodeError("storage_order 1 is not supported")
        s, d, p, oh, ow = self.window(node, a, x, k, extra, True)
        wide = max(p[0], p[1]) > k[0] // 2 or max(p[2], p[3]) > k[1] // 2
        if wide and avg and a.get("count_include_pad", 0):
            # counted zeros: the same as pooling a zero-padded copy
            x = self.pad_layer(Padded(x, p, "constant", 0.0, index, node),
                               "its padding (more than half the kernel) as a pad layer")
            p, extra, wide = [0, 0, 0, 0], [0, 0, 0, 0], False
        if wide:
            raise NodeError("pads %s are more than half the kernel %s, which cnnc (as PyTorch) rejects"
                            % (_pads_text(*p), _spatial(k)))
        keys = [("kernel", _spatial(k)), ("stride", _spatial(s))]
        if any(p):
            keys.append(("padding", _pads_text(*p)))
        if d != [1, 1]:
            keys.append(("dilation", _spatial(d)))
        if a.get("ceil_mode", 0):
            keys.append(("ceil_mode", "true"))
        if avg and any(p):
            include = bool(a.get("count_include_pad", 0)) or any(extra)
            keys.append(("count_include_pad", "true" if include else "false"))
        out, layer = self.layer(node, index, "avgpool2d" if avg else "maxpool2d", keys, [x],
                                [1, x.shape[1], oh, ow])
        self.note_pad(pad, layer)
        return out

    def global_pool(self, index, node, a):
        """GlobalAveragePool and GlobalMaxPool."""
        x = self.act(node.input[0])
        if len(x.shape) != 4:
            raise NodeError("input has shape %s, not NCHW" % "x".join(map(str, x.shape)))
        op = "globalavgpool2d" if node.op_type == "GlobalAveragePool" else "globalmaxpool2d"
        return self.layer(node, index, op, [], [x], [1, x.shape[1], 1, 1])[0]

    def reduce_mean(self, index, node, a):
        """ReduceMean over H and W is globalavgpool2d (x.mean((2, 3)) too)."""
        x = self.act(node.input[0])
        axes = a.get("axes")
        if axes is None and len(node.input) > 1:
            axes = list(self.const(node.input[1], "axes").reshape(-1))
        axes = sorted(int(v) % len(x.shape) for v in (axes or []))
        if len(x.shape) != 4 or axes != [2, 3]:
            raise NodeError("only ReduceMean over H and W (axes 2,3) is supported")
        shape = [1, x.shape[1], 1, 1] if a.get("keepdims", 1) else [1, x.shape[1]]
        return self.layer(node, index, "globalavgpool2d", [], [x], shape)[0]

    def batchnorm(self, index, node, a):
        """BatchNormalization in inference form: batchnorm2d with its
        statistics (of NCHW, or of [1,N] as Nx1x1: BatchNorm1d)."""
        x = self.act(node.input[0])
        _chw(x.shape)
        if a.get("training_mode", 0) or (self.opset < 7 and not a.get("is_test", 0)):
            raise NodeError("training mode (batch statistics) is not supported")
        if not a.get("spatial", 1):
            raise NodeError("spatial 0 is not supported")
        c = x.shape[1]
        ts = [self.const(node.input[i], what) for i, what in
              ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance"))]
        for t, what in zip(ts, ("scale", "bias", "mean", "variance")):
            if t.size != c:
                raise NodeError("%s has %d values for %d channels" % (what, t.size, c))
        out, layer = self.layer(node, index, "batchnorm2d", [("eps", netfile.fmt_float(a.get("epsilon", 1e-5)))],
                                [x], x.shape, self.weight_base(node, node.input[1]))
        for key, t in zip(("weight", "bias", "running_mean", "running_var"), ts):
            self.tensor(layer, key, t.reshape(-1))
        return out

    def features(self, x):
        """The feature count of a [1,N] (or [1,N,1,1]) linear input."""
        if len(x.shape) == 2 or (len(x.shape) == 4 and x.shape[2:] == [1, 1]):
            return x.shape[1]
        raise NodeError("input has shape %s; a linear layer reads [1, N] (Flatten before it)"
                        % "x".join(map(str, x.shape)))

    def gemm(self, index, node, a):
        """Gemm with A the activation: linear, alpha and beta folded into
        the weights and bias, B as [out, in] (transB=1) or transposed."""
        x = self.act(node.input[0], "A")
        if a.get("transA", 0):
            raise NodeError("transA=1 is not supported")
        if len(x.shape) != 2:
            raise NodeError("A has shape %s, not [1, N]" % "x".join(map(str, x.shape)))
        k = x.shape[1]
        w = self.const(node.input[1], "B")
        if w.ndim != 2:
            raise NodeError("B has rank %d, not 2" % w.ndim)
        w = w if a.get("transB", 0) else w.T
        if w.shape[1] != k:
            raise NodeError("B %s does not fit A's %d features" % ("x".join(map(str, w.shape)), k))
        w = w * np.float32(a.get("alpha", 1.0))
        c = self.opt_const(node, 2, "C")
        n = w.shape[0]
        keys = [("out", str(n))]
        if c is not None:
            if c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1):
                raise NodeError("C of shape %s does not broadcast to [1, %d]" % ("x".join(map(str, c.shape)), n))
            c = np.broadcast_to(c.reshape(-1), (n,)) * np.float32(a.get("beta", 1.0))
        else:
            keys.append(("bias", "false"))
        out, layer = self.layer(node, index, "linear", keys, [x], [1, n], self.weight_base(node, node.input[1]))
        self.tensor(layer, "weight", w)
        if c is not None:
            self.tensor(layer, "bias", c)
        return out

    def matmul(self, index, node, a):
        """MatMul of a [1,K] activation by a constant [K,N]: linear without
        bias, until an Add of a constant [N] after it gives one."""
        x = self.act(node.input[0], "A")
        if len(x.shape) != 2:
            raise NodeError("A has shape %s, not [1, N]" % "x".join(map(str, x.shape)))
        w = self.const(node.input[1], "B")
        if w.ndim != 2 or w.shape[0] != x.shape[1]:
            raise NodeError("B %s does not fit A's %d features" % ("x".join(map(str, w.shape)), x.shape[1]))
        out, layer = self.layer(node, index, "linear", [("out", str(w.shape[1])), ("bias", "false")], [x],
                                [1, w.shape[1]], self.weight_base(node, node.input[1]))
        self.tensor(layer, "weight", w.T)
        if self.consumers.get(node.output[0], 0) == 1:
            self.bias_of[out.layer] = layer
        return out

    def add(self, index, node, a):
        """Add of two activations of one shape (and Sum of several): add; an
        Add of a constant to a bias-less MatMul that only it reads: its bias."""
        vals = [self.values[i] for i in node.input]
        consts = [v for v in vals if isinstance(v, np.ndarray)]
        if node.op_type == "Add" and len(consts) == 1 and len(vals) == 2:
            x = self.act(node.input[0] if vals[1] is consts[0] else node.input[1])
            layer = self.bias_of.pop(x.layer, None)
            if layer is None or consts[0].size != x.shape[-1]:
                return self.affine(index, node, x, None, self.per_channel(x, consts[0]))
            layer.keys = [kv for kv in layer.keys if kv[0] != "bias"]
            layer.comment += "; bias from node %d (Add -> '%s')" % (index, node.output[0])
            self.tensor(layer, "bias", consts[0].reshape(-1))
            return Act(x.layer, x.shape)
        acts = [self.act(i) for i in node.input]
        if len(acts) == 1:
            return acts[0]
        for y in acts[1:]:
            if y.shape != acts[0].shape:
                raise NodeError("adds %s and %s; cnnc adds tensors of one shape (no broadcasting)"
                                % ("x".join(map(str, acts[0].shape)), "x".join(map(str, y.shape))))
        _chw(acts[0].shape)
        return self.layer(node, index, "add", [], acts, acts[0].shape)[0]

    def per_channel(self, x, c):
        """A constant that broadcasts to x along the channels only, as one
        float32 value per channel."""
        shape = [1] * (len(x.shape) - c.ndim) + list(c.shape)
        if c.ndim > len(x.shape) or any(d != 1 for i, d in enumerate(shape) if i != 1) or \
                shape[1] not in (1, x.shape[1]):
            raise NodeError("a constant of shape %s with %s: only one value, or one per channel, is supported"
                            % ("x".join(map(str, c.shape)) or "scalar", "x".join(map(str, x.shape))))
        return np.broadcast_to(c.astype(np.float32).reshape(-1), (x.shape[1],)).copy()

    def affine(self, index, node, x, scale, shift):
        """x * scale + shift per channel (Mul, Add, Sub, Div by constants):
        a depthwise 1x1 conv2d, exact for Mul, Add and Sub (one product by
        1 or one sum with 0 in each value)."""
        _chw(x.shape)
        c = x.shape[1]
        keys = [("out", str(c)), ("kernel", "1"), ("groups", str(c))]
        if shift is None:
            keys.append(("bias", "false"))
        out, layer = self.layer(node, index, "conv2d", keys, [x], x.shape)
        layer.comment += "; as a depthwise 1x1 conv2d"
        self.tensor(layer, "weight", (np.ones(c, np.float32) if scale is None else scale).reshape(c, 1, 1, 1))
        if shift is not None:
            self.tensor(layer, "bias", shift)
        return out

    def arith(self, index, node, a):
        """Mul, Sub and Div of an activation by a constant (one value or one
        per channel): affine. Mul of x by HardSigmoid(x) with PyTorch's
        alpha 1/6 and beta 1/2 (torch.onnx's Hardswish before opset 14):
        that hardsigmoid made a hardswish; other products of two activations:
        mul."""
        op = node.op_type
        vals = [self.values[i] for i in node.input[:2]]
        if len(vals) != 2:
            raise NodeError("%s takes two inputs" % op)
        k = [isinstance(v, np.ndarray) for v in vals]
        if op == "Mul" and not any(k):
            return self.hardswish(index, node) or self.product(index, node)
        if all(k) or not any(k):
            raise unreachable_value("arith operands")
        x = self.act(node.input[1 if k[0] else 0])
        c = self.per_channel(x, vals[0] if k[0] else vals[1])
        if op == "Mul":
            return self.affine(index, node, x, c, None)
        if op == "Sub":
            return self.affine(index, node, x, -np.ones_like(c) if k[0] else None, c if k[0] else -c)
        if k[0]:
            raise NodeError("a constant divided by an activation is not supported")
        return self.affine(index, node, x, (1 / c.astype(np.float64)).astype(np.float32), None)

    def hardswish(self, index, node):
        """x * HardSigmoid(x) (alpha 1/6, beta 1/2): hardswish."""
        xs = [self.act(i) for i in node.input[:2]]
        for i in (0, 1):
            h = next((l for l in self.model.layers if l.name == xs[i].layer), None)
            if h is None or h.op != "hardsigmoid" or h.inputs != [xs[1 - i].layer] or \
                    self.consumers.get(node.input[i]) != 1:
                continue
            alpha, beta = (float(dict(h.keys)[key]) for key in ("alpha", "beta"))
            if abs(alpha - 1 / 6) < 1e-6 and beta == 0.5:
                h.op, h.keys = "hardswish", []
                h.comment += "; with node %d (Mul -> '%s'): x * hardsigmoid(x)" % (index, node.output[0])
                return Act(h.name, xs[i].shape)
        return None

    def product(self, index, node):
        """Mul of two activations: mul, for equal shapes or a [1,C,1,1]
        gate times a [1,C,H,W] tensor (squeeze-excitation)."""
        xs = [self.act(i) for i in node.input[:2]]
        a, b = (_chw(x.shape) for x in xs)
        if a != b and not (a[0] == b[0] and (a[1:] == (1, 1) or b[1:] == (1, 1))):
            raise NodeError("Mul of %s by %s: cnnc multiplies equal shapes or a Cx1x1 gate by a CxHxW tensor"
                            % tuple("x".join(map(str, x.shape)) for x in xs))
        shape = xs[0].shape if a[1:] != (1, 1) else xs[1].shape
        return self.layer(node, index, "mul", [], xs, shape)[0]

    def concat(self, index, node, a):
        """Concat along the channels."""
        acts = [self.act(i) for i in node.input]
        r = len(acts[0].shape)
        axis = a.get("axis", 1)
        if not -r <= axis < r or axis % r != 1:
            raise NodeError("axis %d is not the channel axis; cnnc concatenates channels" % axis)
        for y in acts[1:]:
            if len(y.shape) != r or y.shape[2:] != acts[0].shape[2:]:
                raise NodeError("concatenates %s and %s, whose other dimensions differ"
                                % ("x".join(map(str, acts[0].shape)), "x".join(map(str, y.shape))))
        shape = list(acts[0].shape)
        shape[1] = sum(y.shape[1] for y in acts)
        if len(acts) == 1:
            return acts[0]
        return self.layer(node, index, "concat", [], acts, shape)[0]

    def reshaped(self, index, node, x, shape):
        """x seen with a new shape: itself when cnnc's CxHxW is the same,
        flatten when it goes from CxHxW to [1, N], else an error."""
        n = int(np.prod(x.shape))
        if int(np.prod(shape)) != n:
            raise unreachable_value("reshape count")
        if len(shape) in (2, 4) and shape[0] == 1 and _chw(shape) == _chw(x.shape):
            return Act(x.layer, shape)
        if list(shape) == [1, n] or list(shape) == [1, n, 1, 1]:
            return self.layer(node, index, "flatten", [], [x], shape)[0]
        raise NodeError("reshapes %s to %s, which is not a flatten" % ("x".join(map(str, x.shape)),
                                                                     "x".join(map(str, shape))))

    def flatten(self, index, node, a):
        """Flatten from axis 1 (or 0): flatten."""
        x = self.act(node.input[0])
        r = len(x.shape)
        axis = a.get("axis", 1)
        if not -r <= axis <= r:
            raise NodeError("axis %d is out of range" % axis)
        axis = axis + r if axis < 0 else axis
        shape = [int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:]))]
        return self.reshaped(index, node, x, shape)

    def reshape(self, index, node, a):
        """Reshape (shape as an attribute before opset 5, an input since)."""
        x = self.act(node.input[0])
        if len(node.input) > 1:
            shape = self.const(node.input[1], "shape")
        else:
            shape = np.array(a.get("shape", []), dtype=np.int64)
        return self.reshaped(index, node, x, _reshape_dims(x.shape, shape, a.get("allowzero", 0)))

    def squeeze(self, index, node, a):
        """Squeeze/Unsqueeze of an activation that keep cnnc's CxHxW."""
        x = self.act(node.input[0])
        axes = a.get("axes")
        if axes is None and len(node.input) > 1:
            axes = [int(v) for v in self.const(node.input[1], "axes").reshape(-1)]
        shape = _squeeze(x.shape, axes) if node.op_type == "Squeeze" else _unsqueeze(x.shape, axes)
        if len(shape) not in (2, 4) or shape[0] != 1:
            raise NodeError("gives shape %s, which cnnc cannot hold" % "x".join(map(str, shape)))
        return self.reshaped(index, node, x, shape)

    def identity(self, index, node, a):
        """Identity: the same tensor (a dropout layer when that would make
        a graph output the input itself). Dropout in inference: dropout,
        with its ratio."""
        v = self.values[node.input[0]]
        if node.op_type == "Identity":
            if isinstance(v, Padded):
                return v
            x = self.act(node.input[0])
            outputs = set(o.name for o in self.g.output)
            if x.layer != self.model.input_name or node.output[0] not in outputs:
                return x
            return self.layer(node, index, "dropout", [("p", "0.0")], [x], x.shape)[0]
        if self.opset < 7 and not a.get("is_test", 0):
            raise NodeError("is_test 0 (training mode) is not supported")
        tm = self.opt_const(node, 2, "training_mode")
        if tm is not None and bool(np.asarray(tm).reshape(-1)[0]):
            raise NodeError("training_mode true is not supported")
        ratio = self.opt_const(node, 1, "ratio") if self.opset >= 12 else None
        ratio = a.get("ratio", 0.5) if ratio is None else float(np.asarray(ratio).reshape(-1)[0])
        x = self.act(node.input[0])
        return self.layer(node, index, "dropout", [("p", netfile.fmt_float(ratio))], [x], x.shape)[0]

    def pad(self, index, node, a):
        """Pad of H and W: kept for the Conv or pool that reads it."""
        x = self.act(node.input[0])
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if self.opset < 11:
            pads = list(a.get("pads", a.get("paddings", [])))
            value = a.get("value", 0.0)
        else:
            pads = [int(v) for v in self.const(node.input[1], "pads").reshape(-1)]
            cv = self.opt_const(node, 2, "constant_value")
            value = 0.0 if cv is None else float(np.asarray(cv).reshape(-1)[0])
            if len(node.input) > 3 and node.input[3]:
                axes = [int(v) % len(x.shape) for v in self.const(node.input[3], "axes").reshape(-1)]
                full = [0] * (2 * len(x.shape))
                for i, ax in enumerate(axes):
                    full[ax], full[ax + len(x.shape)] = pads[i], pads[i + len(axes)]
                pads = full
        if len(x.shape) != 4 or len(pads) != 8:
            raise NodeError("only Pad of NCHW tensors (8 pads) is supported")
        if pads[0] or pads[1] or pads[4] or pads[5]:
            raise NodeError("pads the batch or the channels; cnnc pads only H and W")
        if min(pads) < 0:
            raise NodeError("negative pads (cropping) are not supported")
        if mode not in ("constant", "reflect", "edge"):
            raise NodeError("mode '%s' is not supported" % mode)
        return Padded(x, [pads[2], pads[6], pads[3], pads[7]], mode, value, index, node)

    def pad_layer(self, v, note="as a pad layer"):
        """A Pad no Conv or pool absorbs: cnnc's pad layer (constant with
        its value, reflect, or edge as replicate)."""
        if v.done:
            return v.done
        keys = [("padding", _pads_text(*v.pads))]
        if v.mode != "constant":
            keys.append(("mode", "reflect" if v.mode == "reflect" else "replicate"))
        elif v.value != 0:
            keys.append(("value", netfile.fmt_float(v.value)))
        c = v.act.shape[1]
        t, b, l, r = v.pads
        shape = [1, c, v.act.shape[2] + t + b, v.act.shape[3] + l + r]
        out, layer = self.layer(v.node, v.index, "pad", keys, [v.act], shape)
        layer.comment += "; " + note
        v.done = out
        return out

    OPS = {
        "Relu": elementwise("relu"), "Sigmoid": elementwise("sigmoid"), "Tanh": elementwise("tanh"),
        "HardSwish": elementwise("hardswish"), "Elu": elementwise("elu", alpha=("alpha", 1.0)),
        "PRelu": prelu, "Resize": resize,
        "LeakyRelu": elementwise("leakyrelu", slope=("alpha", 0.01)),
        "HardSigmoid": elementwise("hardsigmoid", alpha=("alpha", 0.2), beta=("beta", 0.5)),
        "Clip": clip, "Softmax": softmax, "Conv": conv, "MaxPool": pool, "AveragePool": pool,
        "GlobalAveragePool": global_pool, "GlobalMaxPool": global_pool, "ReduceMean": reduce_mean,
        "BatchNormalization": batchnorm, "Gemm": gemm, "MatMul": matmul, "Add": add, "Sum": add,
        "Mul": arith, "Sub": arith, "Div": arith,
        "Concat": concat, "Flatten": flatten, "Reshape": reshape, "Squeeze": squeeze, "Unsqueeze": squeeze,
        "Identity": identity, "Dropout": identity, "Pad": pad,
    }


def _module_path(name):
    """The PyTorch module path in a torch.onnx node name ('/layer1/layer1.0/
    conv1/Conv' -> 'layer1.0.conv1'), or None for other names."""
    if not name.startswith("/") or name.count("/") < 2:
        return None
    path = ""
    for seg in name.strip("/").split("/")[:-1]:
        path = seg if path and seg.startswith(path + ".") else (path + "." + seg if path else seg)
    return path


def unreachable_value(what):
    """An importer bug (cnnc_import reports a traceback: exit 1 is wrong)."""
    return AssertionError("import_onnx: internal error: %s" % what)


def _reshape_dims(src, shape, allowzero):
    """Reshape's target: 0 copies the input's dimension (unless allowzero),
    one -1 takes what is left."""
    shape = [int(v) for v in np.asarray(shape).reshape(-1)]
    out = []
    for i, v in enumerate(shape):
        if v == 0 and not allowzero:
            if i >= len(src):
                raise NodeError("shape %s copies dimension %d, which the input lacks" % (shape, i))
            v = src[i]
        out.append(v)
    n = int(np.prod(src))
    if out.count(-1) > 1 or any(v < -1 for v in out):
        raise NodeError("shape %s is not a valid Reshape target" % shape)
    if -1 in out:
        rest = int(np.prod([v for v in out if v != -1]))
        if rest == 0 or n % rest:
            raise NodeError("shape %s does not fit %d values" % (shape, n))
        out[out.index(-1)] = n // rest
    if int(np.prod(out)) != n:
        raise NodeError("shape %s does not hold %d values" % (shape, n))
    return out


def _squeeze(shape, axes):
    """Squeeze's output shape."""
    r = len(shape)
    if axes is None:
        return [d for d in shape if d != 1]
    axes = set(int(a) % r for a in axes)
    if any(shape[a] != 1 for a in axes):
        raise NodeError("squeezes a dimension that is not 1")
    return [d for i, d in enumerate(shape) if i not in axes]


def _unsqueeze(shape, axes):
    """Unsqueeze's output shape."""
    if axes is None:
        raise NodeError("Unsqueeze without axes")
    r = len(shape) + len(axes)
    axes = sorted(int(a) % r for a in axes)
    out, it = [], iter(shape)
    for i in range(r):
        out.append(1 if i in axes else next(it))
    return out


# --- constant folding: numpy versions of the ops torch.onnx uses on shapes --

def _in(r, node, i, default=None):
    """Input i of a folded node, or default when absent."""
    if i >= len(node.input) or node.input[i] == "":
        return default
    return r.values[node.input[i]]


def _fold_constant(r, node, a):
    if "value" in a:
        return [numpy_helper.to_array(a["value"])]
    for key, dt in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                    ("value_ints", np.int64)):
        if key in a:
            return [np.array(a[key], dtype=dt)]
    raise NodeError("Constant without a value (or a sparse or string one) is not supported")


def _fold_axes(r, node, a, i):
    """axes: an attribute before opset 13, an input since."""
    if "axes" in a:
        return list(a["axes"])
    v = _in(r, node, i)
    return None if v is None else [int(x) for x in v.reshape(-1)]


def _fold_slice(r, node, a):
    x = _in(r, node, 0)
    if r.opset < 10:
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        starts, ends = _in(r, node, 1), _in(r, node, 2)
        axes, steps = _in(r, node, 3), _in(r, node, 4)
    starts, ends = [int(v) for v in np.reshape(starts, -1)], [int(v) for v in np.reshape(ends, -1)]
    axes = list(range(len(starts))) if axes is None else [int(v) for v in np.reshape(axes, -1)]
    steps = [1] * len(starts) if steps is None else [int(v) for v in np.reshape(steps, -1)]
    idx = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise NodeError("Slice step 0")
        idx[ax % x.ndim] = slice(max(min(s, 1 << 62), -(1 << 62)), max(min(e, 1 << 62), -(1 << 62)), st)
    return [x[tuple(idx)]]


def _fold_cast(r, node, a):
    to = a.get("to")
    if to not in _NP:
        raise NodeError("Cast to %s is not folded" % _TYPE_NAMES.get(to, to))
    return [_in(r, node, 0).astype(_NP[to])]


def _fold_binary(fn):
    def fold(r, node, a):
        x, y = _in(r, node, 0), _in(r, node, 1)
        if np.issubdtype(x.dtype, np.integer) and fn is np.true_divide:
            return [np.trunc(np.true_divide(x, y)).astype(x.dtype)]
        return [fn(x, y).astype(np.result_type(x, y))]
    return fold


def _fold_const_of_shape(r, node, a):
    shape = [int(v) for v in _in(r, node, 0).reshape(-1)]
    if any(v < 0 for v in shape) or int(np.prod(shape)) > MAX_CONST:
        raise NodeError("ConstantOfShape %s is too large" % shape)
    value = numpy_helper.to_array(a["value"]).reshape(-1) if "value" in a else np.zeros(1, np.float32)
    return [np.full(shape, value[0], dtype=value.dtype)]


def _fold_range(r, node, a):
    start, limit, delta = (_in(r, node, i).reshape(-1)[0] for i in range(3))
    if delta == 0 or abs((limit - start) / delta) > MAX_CONST:
        raise NodeError("Range is too large")
    return [np.arange(start, limit, delta, dtype=np.result_type(start, limit, delta))]


def _fold_reshape(r, node, a):
    x = _in(r, node, 0)
    shape = _in(r, node, 1) if len(node.input) > 1 else a.get("shape")
    return [x.reshape(_reshape_dims(list(x.shape), shape, a.get("allowzero", 0)))]


def _fold_squeeze(r, node, a):
    x = _in(r, node, 0)
    return [x.reshape(_squeeze(list(x.shape), _fold_axes(r, node, a, 1)))]


def _fold_unsqueeze(r, node, a):
    x = _in(r, node, 0)
    return [x.reshape(_unsqueeze(list(x.shape), _fold_axes(r, node, a, 1)))]


def _fold_gather(r, node, a):
    x, i = _in(r, node, 0), _in(r, node, 1)
    axis = a.get("axis", 0)
    if not -x.ndim <= axis < x.ndim or np.any(i >= x.shape[axis]) or np.any(i < -x.shape[axis]):
        raise NodeError("Gather index out of range")
    return [np.take(x, i, axis=axis)]


def _fold_concat(r, node, a):
    xs = [r.values[i] for i in node.input if i]
    axis = a.get("axis", 0)
    try:
        return [np.concatenate(xs, axis=axis)]
    except (ValueError, np.AxisError) as e:
        raise NodeError("Concat of constants: %s" % e)


def _fold_shape(r, node, a):
    x = _in(r, node, 0)
    start, end = a.get("start", 0), a.get("end", x.ndim)
    return [np.array(x.shape, dtype=np.int64)[start:end]]


FOLD = {
    "Constant": _fold_constant, "Identity": lambda r, n, a: [_in(r, n, 0)],
    "Shape": _fold_shape, "Size": lambda r, n, a: [np.array(_in(r, n, 0).size, dtype=np.int64)],
    "Gather": _fold_gather, "Unsqueeze": _fold_unsqueeze, "Squeeze": _fold_squeeze, "Concat": _fold_concat,
    "Cast": _fold_cast, "Reshape": _fold_reshape, "Slice": _fold_slice,
    "Transpose": lambda r, n, a: [np.transpose(_in(r, n, 0), a.get("perm"))],
    "Flatten": lambda r, n, a: [_in(r, n, 0).reshape(int(np.prod(_in(r, n, 0).shape[:a.get("axis", 1)])), -1)],
    "Add": _fold_binary(np.add), "Sub": _fold_binary(np.subtract), "Mul": _fold_binary(np.multiply),
    "Div": _fold_binary(np.true_divide), "ConstantOfShape": _fold_const_of_shape, "Range": _fold_range,
}


def _names_are_text(proto):
    """Whether every name the reader uses decoded as text (protobuf's
    Python code leaves bytes where a damaged file has invalid UTF-8)."""
    g = proto.graph
    texts = [proto.producer_name, proto.producer_version, g.name]
    texts += [o.domain for o in proto.opset_import]
    for n in g.node:
        texts += [n.name, n.op_type, n.domain] + list(n.input) + list(n.output)
        texts += [a.name for a in n.attribute]
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        texts.append(vi.name)
        if vi.type.HasField("tensor_type"):
            texts += [d.dim_param for d in vi.type.tensor_type.shape.dim]
    texts += [t.name for t in g.initializer]
    return all(isinstance(t, str) for t in texts)


def read(path, name):
    """The ONNX file at path as a netfile.Model named name, and warnings."""
    source = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise netfile.ImportError_("cannot read %s: %s" % (path, e.strerror or e))
    proto = onnx.ModelProto()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # protobuf warns of data it could not convert
            proto.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError and friends: a damaged file
        raise netfile.ImportError_("%s is not an ONNX model (%s)" % (source, str(e).split("\n")[0] or
                                                                    type(e).__name__))
    if not proto.HasField("graph") or not proto.graph.node:
        raise netfile.ImportError_("%s is not an ONNX model (no graph or no nodes)" % source)
    if not _names_are_text(proto):
        raise netfile.ImportError_("%s is damaged: a name or attribute is not UTF-8 text" % source)
    r = Reader(proto, name, source)
    try:
        model = r.run()
    except RecursionError:
        raise netfile.ImportError_("%s: the model is nested too deeply" % source)
    producer = proto.producer_name + (" " + proto.producer_version if proto.producer_version else "")
    model.notes = ["Imported from %s by tools/cnnc_import.py (docs/onnx.md)." % source,
                   "ONNX opset %d, IR version %d%s. ONNX is NCHW: the input is CxHxW, batch 1."
                   % (r.opset, proto.ir_version, ", made by " + producer if producer.strip() else "")]
    return model, r.warnings
