"""import_tflite: a TensorFlow Lite model as a netfile.Model (docs/import.md).

read(path, name) -> (Model, warnings). The first subgraph is translated
operator by operator, in the file's execution order: NHWC activations become
cnnc's CxHxW tensors with `layout=hwc` on the input (the caller's buffer is
the model's own), OHWI and 1HWO weights become cnnc's [out, in/groups, kH, kW],
fused activations become the layer after, and an int8 model keeps its own
quantization: every layer states its output tensor's scale and zero point,
weights stay int8 with their per-channel scales and biases stay int32.
Anything the importer cannot translate exactly raises netfile.ImportError_
naming the operator (index, type, output tensor).
"""

import re

import numpy as np

import netfile
import tflite_fb

# Fused activations (schema: ActivationFunctionType) as cnnc layers.
_FUSED = {0: None, 1: "relu", 2: "hardtanh", 3: "relu6"}
_FUSED_NAMES = {4: "TANH", 5: "SIGN_BIT"}

# Inputs each operator must have (more are optional, like a conv's bias).
_ARITY = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "ADD": 2, "MEAN": 2, "PAD": 2,
          "PADV2": 2, "MUL": 2, "RESIZE_NEAREST_NEIGHBOR": 2, "RESIZE_BILINEAR": 2, "TRANSPOSE_CONV": 3}

# Operators cnnc has only in float: refused up front in an int8 model.
_FLOAT_ONLY = {"RESIZE_BILINEAR", "TRANSPOSE_CONV"}

# Elementwise operators with one input, as cnnc ops.
_UNARY = {"RELU": "relu", "RELU6": "relu6", "LOGISTIC": "sigmoid", "TANH": "tanh",
          "HARD_SWISH": "hardswish", "LEAKY_RELU": "leakyrelu", "RELU_N1_TO_1": "hardtanh"}

# The TensorFlow op whose name a layer takes, by operator: the tensor names
# TFLite writes are ';'-joined lists of the fused TF ops ("model/conv2d/BiasAdd;
# model/conv2d/Conv2D;..."), and the matching one names the Keras layer.
_NAME_HINTS = {"CONV_2D": r"Conv2D|BiasAdd|convolution", "DEPTHWISE_CONV_2D": r"depthwise|BiasAdd",
               "FULLY_CONNECTED": r"MatMul|BiasAdd|Tensordot", "ADD": r"add|Add",
               "AVERAGE_POOL_2D": r"AvgPool", "MAX_POOL_2D": r"MaxPool", "MEAN": r"Mean"}


class Importer:
    """State of one import: the graph, the model being written, and per
    tensor index the cnnc layer holding it (`names`), its CxHxW shape,
    a pending PAD and, after a flatten, the shape before it."""

    def __init__(self, graph, path, name):
        self.g, self.path = graph, path
        self.model = netfile.Model(name)
        self.warnings = []
        self.names, self.shapes, self.pads, self.flat_from = {}, {}, {}, {}
        self.taken = set()
        self.quantized = self.hybrid_warned = self.float_io = False
        self.prefix = _common_prefix(graph)
        self.consumers = {}
        for op in graph.operators:
            for t in op.inputs:
                self.consumers.setdefault(t, []).append(op)

    # ---- diagnostics ----

    def where(self, op):
        """The operator as messages name it: index, type, output tensor."""
        out = self.g.tensors[op.outputs[0]].name.split(";")[0] if op.outputs else ""
        return "operator %d %s -> '%s'" % (op.index, op.op, out)

    def fail(self, op, msg):
        """Raises the import error for `op`."""
        raise netfile.ImportError_("%s: %s" % (self.where(op), msg))

    def check_arity(self, op):
        """op must have one output and the inputs its kernel reads (a
        damaged file may have fewer)."""
        need = _ARITY.get(op.op, 1)
        if len(op.outputs) != 1:
            self.fail(op, "has %d outputs; cnnc's layers have one" % len(op.outputs))
        if len(op.inputs) < need or any(i < 0 for i in op.inputs[:need]):
            self.fail(op, "has %d inputs; %s takes %d" % (len(op.inputs), op.op, need))

    # ---- tensors ----

    def tensor(self, i):
        """Tensor i of the graph."""
        return self.g.tensors[i]

    def const(self, op, k, what):
        """Input k of `op` as a constant array (an error when it is computed)."""
        if k >= len(op.inputs) or op.inputs[k] < 0:
            self.fail(op, "has no %s input" % what)
        t = self.tensor(op.inputs[k])
        if t.data is None:
            self.fail(op, "%s '%s' is computed at run time; cnnc needs it constant" % (what, t.name))
        return t

    def chw(self, op, t):
        """A TFLite activation shape (batch 1) as cnnc's (C, H, W)."""
        s = list(t.shape)
        if not s or s[0] != 1:
            self.fail(op, "tensor '%s' has shape %s; only batch 1 is supported" % (t.name, s))
        if len(s) == 4:
            return (s[3], s[1], s[2])
        if len(s) == 2:
            return (s[1], 1, 1)
        self.fail(op, "tensor '%s' has shape %s; cnnc takes NHWC or [1, N] tensors" % (t.name, s))

    def source(self, op, k=0):
        """The layer name of op's input k."""
        i = op.inputs[k]
        if i not in self.names:
            t = self.tensor(i)
            if t.data is not None:
                self.fail(op, "input %d '%s' is a constant; cnnc takes constants only as weights" % (k, t.name))
            self.fail(op, "input %d '%s' is not produced by any operator before it" % (k, t.name))
        return self.names[i]

    def qkeys(self, op, t):
        """scale= and zero_point= of tensor t, for a layer of an int8 model."""
        if not self.quantized:
            return []
        if t.type != "INT8" or t.scale is None or len(t.scale) != 1:
            self.fail(op, "tensor '%s' is %s%s; an int8 model needs int8 tensors with one scale"
                      % (t.name, t.type, "" if t.scale is None else " with %d scales" % len(t.scale)))
        return [("scale", netfile.fmt_float(t.scale[0])), ("zero_point", str(int(t.zero_point[0])))]

    def same_quant(self, a, b):
        """Whether tensors a and b have the same quantization (or none)."""
        if not self.quantized:
            return True
        if a.scale is None or b.scale is None or len(a.scale) != 1 or len(b.scale) != 1:
            return a.scale is None and b.scale is None
        return (np.float32(a.scale[0]) == np.float32(b.scale[0])
                and int(a.zero_point[0]) == int(b.zero_point[0]))

    # ---- layers ----

    def layer_name(self, op, t, hint=None):
        """A layer name from tensor t's name: the ';'-joined TF op matching
        the operator's hint, without its last component (the TF op) and the
        model-wide prefix, so that Keras layer names show through."""
        return netfile.identifier(self.base_name(op, t, hint), self.taken)

    def base_name(self, op, t, hint=None):
        """The text layer_name makes a name of."""
        parts = [p for p in t.name.split(";") if p] or [""]
        pick = parts[0]
        if hint:
            for p in parts:
                last = p.rsplit("/", 1)[-1]
                if re.search(hint, last):
                    pick = p
                    break
        base = pick.rsplit("/", 1)[0] if "/" in pick else pick
        if self.prefix and base.startswith(self.prefix):
            base = base[len(self.prefix):]
        if not base or base == "model":
            base = "%s_%d" % (op.op.lower(), op.index)
        return base

    def emit(self, op, cop, keys, inputs, t, hint=None, name=None):
        """Appends layer `cop` for op's output tensor t; returns its name."""
        name = name or self.layer_name(op, t, hint)
        first = t.name.split(";")[0]
        comment = "op %d %s -> '%s'" % (op.index, op.op, first if len(first) < 70 else first[:67] + "...")
        self.model.layers.append(netfile.Layer(cop, name, keys, inputs, comment))
        return name

    def produce(self, op, cop, keys, inputs, shape, hint=None, fused=0):
        """Emits the layer of op's first output with its quantization, then
        the fused activation (which takes the layer's params, TFLite's
        clamp); maps the output tensor to the last layer emitted. Returns
        the first layer's name, which its weights take."""
        t = self.tensor(op.outputs[0])
        main = name = self.emit(op, cop, keys + self.qkeys(op, t), inputs, t, hint)
        act = self.fused(op, fused)
        if act:
            first = t.name.split(";")[0]
            own = self.base_name(op, t)
            if re.search(r"/(Relu|Relu6|relu|clip_by_value|Minimum)$", first) and \
                    netfile.identifier(own, set()) not in self.taken:  # a Keras Activation layer
                aname = self.layer_name(op, t)
            else:
                aname = netfile.identifier(name + "." + act, self.taken)
            name = self.emit(op, act, [], [name], t, name=aname)
        self.names[op.outputs[0]] = name
        self.shapes[op.outputs[0]] = shape
        return main

    def fused(self, op, code):
        """The cnnc op of a fused activation, or None."""
        if code in _FUSED:
            return _FUSED[code]
        self.fail(op, "fused activation %s is not supported" % _FUSED_NAMES.get(code, code))

    def alias(self, op, k=0):
        """op's output is its input k under another name (a reshape that
        changes nothing cnnc sees, a QUANTIZE at the input)."""
        self.names[op.outputs[0]] = self.names[op.inputs[k]]
        self.shapes[op.outputs[0]] = self.shapes[op.inputs[k]]
        if op.inputs[k] in self.flat_from:
            self.flat_from[op.outputs[0]] = self.flat_from[op.inputs[k]]

    def check_out_shape(self, op, shape):
        """op's output tensor must have the shape cnnc computes."""
        want = self.chw(op, self.tensor(op.outputs[0]))
        if tuple(want) != tuple(shape):
            self.fail(op, "output shape %s, but cnnc computes %s (CxHxW) from its inputs"
                      % ("x".join(map(str, want)), "x".join(map(str, shape))))

    # ---- weights ----

    def weights(self, op, lname, w, b, layout):
        """Stores a conv's or linear's weights under `lname`; `layout` turns
        the TFLite array into cnnc's order."""
        wt = self.tensor(w)
        arr = layout(wt.data)
        if not self.quantized and wt.type == "INT8" and wt.scale is not None:
            if len(wt.scale) not in (1, arr.shape[0]) or np.any(wt.zero_point != 0):
                self.fail(op, "weights '%s' have asymmetric or mismatched quantization" % wt.name)
            if not self.hybrid_warned:
                self.warnings.append(
                    "warning: %s: weights '%s' are int8 in a float model (dynamic-range quantization); "
                    "they are dequantized to float32, so the code computes in float where TFLite's hybrid "
                    "kernels also quantize the activations: outputs differ by that rounding" % (self.where(op), wt.name))
                self.hybrid_warned = True
            scale = np.array(wt.scale, dtype=np.float32).reshape((-1,) + (1,) * (arr.ndim - 1))
            self.model.tensors[lname + ".weight"] = np.ascontiguousarray(arr.astype(np.float32) * scale)
        elif self.quantized:
            if wt.type != "INT8":
                self.fail(op, "weights '%s' are %s in an int8 model (hybrid models are not supported)"
                          % (wt.name, wt.type))
            if wt.scale is None:
                self.fail(op, "weights '%s' have no quantization" % wt.name)
            if np.any(wt.zero_point != 0):
                self.fail(op, "weights '%s' have a non-zero zero point; TFLite int8 weights are symmetric"
                          % wt.name)
            if len(wt.scale) not in (1, arr.shape[0]):
                self.fail(op, "weights '%s' have %d scales for %d output channels"
                          % (wt.name, len(wt.scale), arr.shape[0]))
            want_dim = 3 if op.op == "DEPTHWISE_CONV_2D" else 0
            if len(wt.scale) > 1 and wt.qdim != want_dim:
                self.fail(op, "weights '%s' are quantized along dimension %d; TFLite's kernels take %d"
                          % (wt.name, wt.qdim, want_dim))
            self.model.tensors[lname + ".weight"] = np.ascontiguousarray(arr, dtype=np.int8)
            self.model.tensors[lname + ".weight_scale"] = np.array(wt.scale, dtype=np.float32)
        else:
            self.model.tensors[lname + ".weight"] = np.ascontiguousarray(self.real(op, wt, arr))
        if b is not None:
            bt = self.tensor(b)
            if self.quantized:
                if bt.type != "INT32":
                    self.fail(op, "bias '%s' is %s; int8 kernels take int32 biases" % (bt.name, bt.type))
                self.model.tensors[lname + ".bias"] = np.array(bt.data, dtype=np.int32).reshape(-1)
            else:
                self.model.tensors[lname + ".bias"] = self.real(op, bt, bt.data).reshape(-1)

    def real(self, op, t, arr):
        """A float model's constant as float32 (float16 ones widened)."""
        if t.type not in ("FLOAT32", "FLOAT16"):
            self.fail(op, "constant '%s' is %s in a float model" % (t.name, t.type))
        return np.asarray(arr, dtype=np.float32)

    def bias_input(self, op, k, cout):
        """Input k of op as its bias tensor index, or None when absent."""
        if k >= len(op.inputs) or op.inputs[k] < 0:
            return None
        t = self.const(op, k, "bias")
        if t.data.size != cout:
            self.fail(op, "bias '%s' has %d values for %d output channels" % (t.name, t.data.size, cout))
        return op.inputs[k]

    # ---- padding ----

    def padding(self, op, cin_shape, kernel, stride, dilation, pad_code):
        """The padding key of a conv or pool: TFLite's SAME or VALID, plus a
        PAD folded into it (explicit top,bottom,left,right then)."""
        extra = self.pads.get(op.inputs[0])
        kind = "same" if pad_code == 0 else "valid"
        if extra is None:
            return kind
        (_, h, w) = cin_shape
        t, b, l, r = extra
        if kind == "same":
            st, sb = _same(h + t + b, kernel[0], stride[0], dilation[0])
            sl, sr = _same(w + l + r, kernel[1], stride[1], dilation[1])
            t, b, l, r = t + st, b + sb, l + sl, r + sr
        return "%d,%d,%d,%d" % (t, b, l, r)

    # ---- operators ----

    def op_conv(self, op, depthwise):
        """CONV_2D and DEPTHWISE_CONV_2D as conv2d."""
        o = op.options
        src = self.source(op)
        cin, h, w = self.shapes[op.inputs[0]]
        wt = self.const(op, 1, "filter")
        if wt.data.ndim != 4:
            self.fail(op, "filter '%s' has shape %s; expected 4 dimensions" % (wt.name, wt.shape))
        if depthwise:
            _, kh, kw, cout = wt.data.shape
            if cout % cin:
                self.fail(op, "%d output channels are not a multiple of %d input channels" % (cout, cin))
            groups = cin
            layout = lambda a: a.transpose(3, 0, 1, 2)  # 1HWO -> O,1,H,W
        else:
            cout, kh, kw, ci = wt.data.shape
            if ci == 0 or cin % ci:
                self.fail(op, "filter has %d input channels for a %d-channel input" % (ci, cin))
            groups = cin // ci
            layout = lambda a: a.transpose(0, 3, 1, 2)  # OHWI -> O,I,H,W
        stride, dil = (o["stride_h"], o["stride_w"]), (o["dilation_h_factor"], o["dilation_w_factor"])
        if min(stride + dil) < 1:
            self.fail(op, "stride %dx%d and dilation %dx%d must be positive" % (stride + dil))
        pad = self.padding(op, (cin, h, w), (kh, kw), stride, dil, o["padding"])
        bias = self.bias_input(op, 2, cout)
        keys = [("out", str(cout)), ("kernel", _hw(kh, kw)), ("stride", _hw(*stride)), ("padding", pad)]
        if dil != (1, 1):
            keys.append(("dilation", _hw(*dil)))
        if groups != 1:
            keys.append(("groups", str(groups)))
        if bias is None:
            keys.append(("bias", "false"))
        shape = (cout,) + _out_hw((h, w), (kh, kw), stride, dil, pad)
        lname = self.produce(op, "conv2d", keys, [src], shape, _NAME_HINTS[op.op], o["fused_activation_function"])
        self.weights(op, lname, op.inputs[1], bias, layout)

    def op_fc(self, op):
        """FULLY_CONNECTED as linear, after a flatten when its input has a
        spatial size; the weight columns reordered from TFLite's HWC
        flattening to cnnc's CHW one."""
        o = op.options
        if o["weights_format"] != 0:
            self.fail(op, "shuffled weights (weights_format %d) are not supported" % o["weights_format"])
        src = self.source(op)
        c, h, w = self.shapes[op.inputs[0]]
        before = self.flat_from.get(op.inputs[0])
        if (h, w) != (1, 1):
            src = self.emit(op, "flatten", [], [src], self.tensor(op.inputs[0]),
                            name=netfile.identifier(src + ".flatten", self.taken))
            before, c = (c, h, w), c * h * w
        wt = self.const(op, 1, "weights")
        if wt.data.ndim != 2 or wt.data.shape[1] != c:
            self.fail(op, "weights '%s' have shape %s for %d inputs" % (wt.name, list(wt.shape), c))
        cout = wt.data.shape[0]

        def layout(a):
            if before is None or before[1:] == (1, 1):
                return a
            bc, bh, bw = before
            return a.reshape(cout, bh, bw, bc).transpose(0, 3, 1, 2).reshape(cout, -1)

        bias = self.bias_input(op, 2, cout)
        keys = [("out", str(cout))] + ([("bias", "false")] if bias is None else [])
        lname = self.produce(op, "linear", keys, [src], (cout, 1, 1), _NAME_HINTS[op.op],
                             o["fused_activation_function"])
        self.weights(op, lname, op.inputs[1], bias, layout)

    def op_pool(self, op):
        """AVERAGE_POOL_2D and MAX_POOL_2D: padded cells are not counted in
        an average nor win a max, as in TFLite."""
        o = op.options
        src = self.source(op)
        shape_in = self.shapes[op.inputs[0]]
        k, s = (o["filter_height"], o["filter_width"]), (o["stride_h"], o["stride_w"])
        if min(k + s) < 1:
            self.fail(op, "filter %dx%d and stride %dx%d must be positive" % (k + s))
        if op.inputs[0] in self.pads:
            self.fail(op, "a PAD before a pool is not supported (it would count padded cells)")
        keys = [("kernel", _hw(*k)), ("stride", _hw(*s)), ("padding", "same" if o["padding"] == 0 else "valid")]
        avg = op.op == "AVERAGE_POOL_2D"
        if avg and o["padding"] == 0:
            keys.append(("count_include_pad", "false"))
        if not self.same_quant(self.tensor(op.inputs[0]), self.tensor(op.outputs[0])):
            self.fail(op, "the output's quantization differs from the input's; TFLite requires them equal")
        shape = (shape_in[0],) + _out_hw(shape_in[1:], k, s, (1, 1), keys[2][1])
        return self.produce(op, "avgpool2d" if avg else "maxpool2d", keys, [src], shape,
                            _NAME_HINTS[op.op], o["fused_activation_function"])

    def op_mean(self, op):
        """MEAN over H and W (axes 1,2 of NHWC) as mean."""
        src = self.source(op)
        axes = sorted(int(a) % 4 for a in self.const(op, 1, "axis").data.reshape(-1))
        if axes != [1, 2]:
            self.fail(op, "mean over axes %s; cnnc's mean is over H and W (axes 1, 2)" % axes)
        c = self.shapes[op.inputs[0]][0]
        return self.produce(op, "mean", [], [src], (c, 1, 1), _NAME_HINTS["MEAN"])

    def op_add(self, op):
        """ADD of two tensors of the same shape."""
        a, b = self.source(op, 0), self.source(op, 1)
        sa, sb = self.shapes[op.inputs[0]], self.shapes[op.inputs[1]]
        if sa != sb:
            self.fail(op, "adds %s and %s; cnnc adds tensors of the same shape (no broadcasting)"
                      % ("x".join(map(str, sa)), "x".join(map(str, sb))))
        return self.produce(op, "add", [], [a, b], sa, _NAME_HINTS["ADD"], op.options["fused_activation_function"])

    def op_concat(self, op):
        """CONCATENATION along channels."""
        srcs = [self.source(op, k) for k in range(len(op.inputs))]
        shapes = [self.shapes[i] for i in op.inputs]
        rank = len(self.tensor(op.outputs[0]).shape)
        if rank not in (2, 4) or op.options["axis"] % rank != rank - 1:
            self.fail(op, "concatenates along axis %d; cnnc concatenates channels (axis %d)"
                      % (op.options["axis"], rank - 1))
        if len({s[1:] for s in shapes}) != 1:
            self.fail(op, "inputs differ in height or width")
        out = self.tensor(op.outputs[0])
        for i in op.inputs:
            if not self.same_quant(self.tensor(i), out):
                self.fail(op, "input '%s' has other params than the output; TFLite's int8 CONCATENATION "
                          "requires them equal" % self.tensor(i).name)
        shape = (sum(s[0] for s in shapes),) + shapes[0][1:]
        return self.produce(op, "concat", [], srcs, shape, None, op.options["fused_activation_function"])

    def op_unary(self, op):
        """An elementwise activation; in an int8 model with its own output
        params (TFLite's tables and requantizing clamps)."""
        src = self.source(op)
        keys = []
        if op.op == "LEAKY_RELU":
            keys.append(("slope", netfile.fmt_float(op.options["alpha"])))
        return self.produce(op, _UNARY[op.op], keys, [src], self.shapes[op.inputs[0]])

    def op_softmax(self, op):
        """SOFTMAX over channels, beta 1."""
        if op.options["beta"] != 1.0:
            self.fail(op, "beta %g; cnnc's softmax has beta 1" % op.options["beta"])
        src = self.source(op)
        return self.produce(op, "softmax", [], [src], self.shapes[op.inputs[0]])

    def op_reshape(self, op):
        """RESHAPE and SQUEEZE where they flatten [1,H,W,C] to [1,N] (a
        flatten) or drop unit dimensions (nothing)."""
        src = self.source(op)
        cin = self.shapes[op.inputs[0]]
        out = self.tensor(op.outputs[0])
        dims = [d for d in out.shape]
        n = int(np.prod(cin))
        if not self.same_quant(self.tensor(op.inputs[0]), out):
            self.fail(op, "the output's quantization differs from the input's")
        if len(dims) == 4 and dims[0] == 1 and tuple((dims[3], dims[1], dims[2])) == tuple(cin):
            return self.alias(op)
        if not (dims and dims[0] == 1 and int(np.prod(dims)) == n and sum(d != 1 for d in dims[1:]) <= 1):
            self.fail(op, "reshapes %s to %s; cnnc takes reshapes that flatten"
                      % ("x".join(map(str, cin)), dims))
        if cin[1:] == (1, 1):
            return self.alias(op)
        if op.outputs[0] in self.g.outputs and len(self.consumers.get(op.outputs[0], [])) == 0:
            # an output: the spatial tensor written in the input's HWC order is
            # TFLite's flattened one, where cnnc's flatten would be CHW
            return self.alias(op)
        name = self.emit(op, "flatten", [], [src], out, name=self.layer_name(op, out))
        self.names[op.outputs[0]] = name
        self.shapes[op.outputs[0]] = (n, 1, 1)
        self.flat_from[op.outputs[0]] = cin

    def op_pad(self, op):
        """PAD and PADV2 (with the zero value) folded into the conv that
        reads them; elsewhere not supported."""
        pads = self.const(op, 1, "paddings").data.reshape(-1, 2).astype(int)
        if len(pads) != 4 or pads[0].any() or pads[3].any():
            self.fail(op, "pads %s; cnnc pads height and width only" % pads.tolist())
        if pads.min() < 0:
            self.fail(op, "negative padding")
        tin, tout = self.tensor(op.inputs[0]), self.tensor(op.outputs[0])
        if not self.same_quant(tin, tout):
            self.fail(op, "the output's quantization differs from the input's")
        users = self.consumers.get(op.outputs[0], [])
        if not users or any(u.op not in ("CONV_2D", "DEPTHWISE_CONV_2D") or u.inputs[0] != op.outputs[0]
                            for u in users) or op.outputs[0] in self.g.outputs:
            # read by something else than convolutions: a pad layer of its own
            value = 0.0
            if op.op == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
                v = self.const(op, 2, "constant value").data.reshape(-1)[0]
                value = float(tin.scale[0]) * (int(v) - int(tin.zero_point[0])) if self.quantized else float(v)
            c, h, w = self.shapes[op.inputs[0]]
            t, b, l, r = (int(pads[1][0]), int(pads[1][1]), int(pads[2][0]), int(pads[2][1]))
            keys = [("padding", "%d,%d,%d,%d" % (t, b, l, r))]
            if value != 0.0:
                keys.append(("value", netfile.fmt_float(value)))
            self.produce(op, "pad", keys, [self.source(op)], (c, h + t + b, w + l + r))
            return
        self.source(op)
        self.alias(op)
        c, h, w = self.shapes[op.inputs[0]]
        if op.op == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
            v = self.const(op, 2, "constant value").data.reshape(-1)[0]
            zero = int(tin.zero_point[0]) if self.quantized else 0.0
            if v != zero:
                self.fail(op, "pads a convolution's input with %s; cnnc pads convolutions with zero" % v)
        self.pads[op.outputs[0]] = (pads[1][0], pads[1][1], pads[2][0], pads[2][1])
        self.shapes[op.outputs[0]] = self.shapes[op.inputs[0]]

    def op_mul(self, op):
        """MUL of two tensors of one shape, or of a [1,1,1,C] gate and a
        [1,H,W,C] tensor (squeeze-excitation)."""
        a, b = self.source(op, 0), self.source(op, 1)
        sa, sb = self.shapes[op.inputs[0]], self.shapes[op.inputs[1]]
        if sa != sb and not (sa[0] == sb[0] and (sa[1:] == (1, 1) or sb[1:] == (1, 1))):
            self.fail(op, "multiplies %s and %s; cnnc multiplies equal shapes or a Cx1x1 gate"
                      % ("x".join(map(str, sa)), "x".join(map(str, sb))))
        shape = sa if sa[1:] != (1, 1) else sb
        return self.produce(op, "mul", [], [a, b], shape, r"mul|Mul", op.options["fused_activation_function"])

    def op_resize(self, op):
        """RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR by whole factors as
        upsample: nearest without align_corners (TFLite's source index is
        then PyTorch's floor(i / factor)), bilinear with half-pixel centres
        (PyTorch's align_corners=false) or align_corners."""
        src = self.source(op)
        c, h, w = self.shapes[op.inputs[0]]
        size = [int(v) for v in self.const(op, 1, "size").data.reshape(-1)]
        if len(size) != 2 or size[0] % h or size[1] % w or size[0] < h or size[1] < w:
            self.fail(op, "resizes %dx%d to %s; cnnc upsamples by whole factors" % (h, w, "x".join(map(str, size))))
        fh, fw = size[0] // h, size[1] // w
        o = op.options
        keys = [("factor", _hw(fh, fw))]
        if op.op == "RESIZE_NEAREST_NEIGHBOR":
            if o["align_corners"]:
                self.fail(op, "align_corners rounds the source index; cnnc's nearest upsample takes floor(i / factor)")
        else:
            if o["align_corners"] == o["half_pixel_centers"]:
                self.fail(op, "bilinear resize with align_corners=%s and half_pixel_centers=%s; cnnc takes one of "
                          "them (PyTorch's align_corners=true, or false)" % (o["align_corners"], o["half_pixel_centers"]))
            keys += [("mode", "bilinear")] + ([("align_corners", "true")] if o["align_corners"] else [])
        return self.produce(op, "upsample", keys, [src], (c, size[0], size[1]), r"resize|Resize|upsampl")

    def op_transpose_conv(self, op):
        """TRANSPOSE_CONV (inputs: output shape, OHWI filter, input, bias)
        as convtranspose2d: the full transposed convolution cropped to the
        output shape TFLite is given, by its SAME or VALID padding."""
        o = op.options
        src = self.source(op, 2)
        cin, h, w = self.shapes[op.inputs[2]]
        oshape = [int(v) for v in self.const(op, 0, "output shape").data.reshape(-1)]
        wt = self.const(op, 1, "filter")
        if len(oshape) != 4 or wt.data.ndim != 4 or wt.data.shape[3] != cin:
            self.fail(op, "filter %s and output shape %s do not fit a %d-channel input" % (wt.shape, oshape, cin))
        cout, kh, kw, _ = wt.data.shape
        s = (o["stride_h"], o["stride_w"])
        if min(s) < 1:
            self.fail(op, "stride %dx%d must be positive" % s)
        crop, extra = [], []
        for n, k, st, out in ((h, kh, s[0], oshape[1]), (w, kw, s[1], oshape[2])):
            total = max((n - 1) * st + k - out, 0) if o["padding"] == 0 else 0
            lo = total // 2
            full = (n - 1) * st + k
            hi = full - lo - out
            crop += [lo, max(hi, 0)]
            extra.append(max(-hi, 0))
        keys = [("out", str(cout)), ("kernel", _hw(kh, kw)), ("stride", _hw(*s)),
                ("padding", "%d,%d,%d,%d" % tuple(crop))]
        if extra != [0, 0]:
            keys.append(("output_padding", _hw(*extra)))
        bias = self.bias_input(op, 3, cout)
        if bias is None:
            keys.append(("bias", "false"))
        fused = o["fused_activation_function"]
        lname = self.produce(op, "convtranspose2d", keys, [src], (cout, oshape[1], oshape[2]),
                             r"conv2d_transpose|Conv2DBackpropInput|BiasAdd", fused)
        self.weights(op, lname, op.inputs[1], bias, lambda a: a.transpose(3, 0, 1, 2))  # OHWI -> I,O,H,W

    def op_quantize(self, op):
        """QUANTIZE of the float input: the model takes float
        (`dtype=float32`) and quantizes it with these params."""
        if op.inputs[0] not in self.g.inputs or self.tensor(op.inputs[0]).type != "FLOAT32":
            self.fail(op, "requantizing inside the model is not supported; only QUANTIZE of the float input")
        t = self.tensor(op.outputs[0])
        self.model.input_keys = [("dtype", "float32")] + self.qkeys(op, t) + \
            [kv for kv in self.model.input_keys if kv[0] == "layout"]
        self.float_io = True
        self.alias(op)

    def op_dequantize(self, op):
        """DEQUANTIZE of a graph output (float outputs), or of a float16
        constant (widened here)."""
        t = self.tensor(op.inputs[0])
        if t.data is not None:
            out = self.tensor(op.outputs[0])
            out.data = np.asarray(t.data, dtype=np.float32)
            out.type = "FLOAT32"
            return
        if op.outputs[0] not in self.g.outputs or not self.float_io:
            self.fail(op, "only DEQUANTIZE of an output of a model with a QUANTIZEd float input is supported")
        self.alias(op)

    def run(self):
        """Translates the graph; returns (Model, warnings)."""
        g, m = self.g, self.model
        if g.subgraphs > 1:  # control flow (WHILE, IF) or a second signature: not a plain CNN
            raise netfile.ImportError_("the model has %d subgraphs; cnnc takes one" % g.subgraphs)
        if len(g.inputs) != 1:
            raise netfile.ImportError_("the model has %d inputs; cnnc takes one" % len(g.inputs))
        t = self.tensor(g.inputs[0])
        if t.type not in ("FLOAT32", "INT8"):
            hint = " (convert with inference_input_type=tf.int8, or float)" if t.type == "UINT8" else ""
            raise netfile.ImportError_("input '%s' is %s; cnnc takes float32 or int8 models%s" % (t.name, t.type, hint))
        for op in g.operators:
            self.check_arity(op)
        self.quantized = t.type == "INT8" or any(
            op.op == "QUANTIZE" and op.inputs[0] == g.inputs[0] for op in g.operators)
        s = list(t.shape)
        if len(s) not in (2, 4) or s[0] != 1 or min(s) < 1:
            raise netfile.ImportError_("input '%s' has shape %s; cnnc takes [1,H,W,C] or [1,N]" % (t.name, s))
        m.input_name = netfile.identifier(_strip(t.name, self.prefix) or "x", self.taken)
        m.input_shape = (s[3], s[1], s[2]) if len(s) == 4 else (s[1], 1, 1)
        if len(s) == 4:
            m.input_keys.append(("layout", "hwc"))
        if t.type == "INT8":
            if t.scale is None or len(t.scale) != 1:
                raise netfile.ImportError_("input '%s' is int8 without one scale and zero point" % t.name)
            m.input_keys += [("scale", netfile.fmt_float(t.scale[0])), ("zero_point", str(int(t.zero_point[0])))]
        self.names[g.inputs[0]] = m.input_name
        self.shapes[g.inputs[0]] = m.input_shape
        handlers = {"CONV_2D": lambda op: self.op_conv(op, False),
                    "DEPTHWISE_CONV_2D": lambda op: self.op_conv(op, True),
                    "FULLY_CONNECTED": self.op_fc, "AVERAGE_POOL_2D": self.op_pool,
                    "MAX_POOL_2D": self.op_pool, "MEAN": self.op_mean, "ADD": self.op_add,
                    "CONCATENATION": self.op_concat, "SOFTMAX": self.op_softmax,
                    "RESHAPE": self.op_reshape, "SQUEEZE": self.op_reshape, "PAD": self.op_pad,
                    "PADV2": self.op_pad, "QUANTIZE": self.op_quantize, "DEQUANTIZE": self.op_dequantize,
                    "MUL": self.op_mul, "RESIZE_NEAREST_NEIGHBOR": self.op_resize,
                    "RESIZE_BILINEAR": self.op_resize, "TRANSPOSE_CONV": self.op_transpose_conv}
        for op in _UNARY:
            handlers[op] = self.op_unary
        for op in g.operators:
            h = handlers.get(op.op)
            if h is not None and self.quantized and op.op in _FLOAT_ONLY:
                self.fail(op, "cnnc has %s only in float code so far; this model is int8" % op.op)
            if h is None:
                self.fail(op, "not supported by cnnc (it takes %s)" % ", ".join(sorted(handlers)))
            h(op)
            if op.outputs[0] in self.shapes and op.op not in ("PAD", "PADV2", "QUANTIZE", "DEQUANTIZE"):
                if op.op not in ("RESHAPE", "SQUEEZE", "FULLY_CONNECTED"):
                    self.check_out_shape(op, self.shapes[op.outputs[0]])
        for i in g.outputs:
            if i not in self.names or self.names[i] == m.input_name:
                raise netfile.ImportError_("output '%s' is not computed by an operator" % self.tensor(i).name)
        m.outputs = [self.names[i] for i in g.outputs]
        if not m.layers:
            raise netfile.ImportError_("the model has no operator cnnc can compile")
        kind = "int8" if self.quantized else "float32"
        if self.hybrid_warned:
            kind += " (hybrid: int8 conv weights dequantized to float32 here; TFLite's hybrid kernels" \
                    " also quantize activations, so its outputs differ by that rounding)"
        m.notes = ["imported by tools/cnnc_import.py from %s" % self.path.rsplit("/", 1)[-1],
                   "TensorFlow Lite schema %d, %d operators, %s%s" % (
                       g.version, len(g.operators), kind,
                       " with float input and outputs (QUANTIZE/DEQUANTIZE at the edges)" if self.float_io else "")]
        return m, self.warnings


def _same(n, k, s, d):
    """TFLite's SAME padding (before, after) along an axis of size n."""
    out = (n + s - 1) // s
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def _out_hw(hw, k, s, d, pad):
    """Output (H, W) of a window op under padding key `pad`, as TFLite
    sizes it (SAME: ceil(n/s); VALID: ceil((n - d(k-1)) / s))."""
    if pad == "same":
        return tuple((n + st - 1) // st for n, st in zip(hw, s))
    if pad == "valid":
        lo = hi = (0, 0)
    else:
        t, b, l, r = map(int, pad.split(","))
        lo, hi = (t, l), (b, r)
    return tuple((n + a + z - dd * (kk - 1) - 1) // st + 1 for n, a, z, kk, st, dd in zip(hw, lo, hi, k, s, d))


def _hw(h, w):
    """A spatial value as the language spells it."""
    return str(h) if h == w else "%dx%d" % (h, w)


def _strip(name, prefix):
    """A tensor name's first TF op, without the model-wide prefix."""
    first = name.split(";")[0]
    return first[len(prefix):] if prefix and first.startswith(prefix) else first


def _common_prefix(g):
    """The leading 'model/' that every computed tensor's name shares
    (Keras writes the model's name there), or ''."""
    heads = set()
    for op in g.operators:
        for i in op.outputs:
            n = g.tensors[i].name.split(";")[0]
            if "/" in n:
                heads.add(n.split("/", 1)[0] + "/")
    return heads.pop() if len(heads) == 1 else ""


def read(path, name):
    """The model in `path` as (netfile.Model, warnings)."""
    try:
        g = tflite_fb.read(path)
    except tflite_fb.FormatError as e:
        raise netfile.ImportError_(str(e))
    return Importer(g, path, name).run()


def read_bytes(buf, label, name):
    """The model in the bytes buf, as read() (the damage tests use it)."""
    try:
        g = tflite_fb.parse(buf, label)
    except tflite_fb.FormatError as e:
        raise netfile.ImportError_(str(e))
    return Importer(g, label, name).run()
