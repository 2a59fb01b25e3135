"""tflite_ref: TensorFlow Lite's reference kernels in numpy, for the tests.

An interpreter of the operators tools/import_tflite.py takes, written from
the semantics of TFLite's reference kernels (tensorflow/lite/kernels/internal/
reference/), not from cnnc: it reads the flatbuffer with tools/tflite_fb.py,
runs it in NHWC as TFLite does, and returns every tensor, so the tests can
compare cnnc's generated code with it tensor by tensor.

int8: per-channel requantization with TFLite's double rounding
(SaturatingRoundingDoublingHighMul then RoundingDivideByPOT), ADD with its
20-bit left shift and three multipliers, AVERAGE_POOL_2D rounding half away
from zero over the valid cells, activation ranges from the fused activation,
SOFTMAX with gemmlowp's fixed-point exp and reciprocal, as TFLM runs it.
LEAKY_RELU with its two multipliers. LOGISTIC, TANH, HARD_SWISH and MEAN are computed in float and
rounded (`exact` lists what is bit-exact; the others are within a step).
float32: the same operators in float64, rounded to float32 per tensor.
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import tflite_fb  # noqa: E402

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

# Operators whose int8 result here is TFLite's bit for bit.
EXACT = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
         "RESHAPE", "SQUEEZE", "PAD", "PADV2", "CONCATENATION", "RELU", "RELU6", "SOFTMAX", "LEAKY_RELU",
         "QUANTIZE", "DEQUANTIZE"}


# ---- TFLite's integer primitives (int64 numpy arrays) ----

def srdhm(a, b):
    """SaturatingRoundingDoublingHighMul of int32 values."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    v = ab + nudge
    q = np.where(v >= 0, v >> 31, -((-v) >> 31))  # C division truncates toward zero
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def rdbpot(x, e):
    """RoundingDivideByPOT: x / 2^e rounded half away from zero."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(e, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > thr)


def quantize_multiplier(m):
    """QuantizeMultiplier: a double as a Q31 multiplier and a shift."""
    if m == 0:
        return 0, 0
    q, shift = math.frexp(m)
    qf = int(_round_away(q * (1 << 31)))
    if qf == 1 << 31:
        qf //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return qf, shift


def mbqm(x, mult, shift):
    """MultiplyByQuantizedMultiplier (per element multipliers and shifts)."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rdbpot(srdhm(x * (np.int64(1) << left), mult), right)


def _round_away(v):
    """std::round: half away from zero."""
    return math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)


def act_range(code, scale, zp):
    """CalculateActivationRangeQuantized for int8."""
    lo, hi = -128, 127
    if code == 1:
        lo = max(lo, zp + int(_round_away(float(np.float32(0.0) / np.float32(scale)))))
    elif code == 3:
        lo = max(lo, zp)
        hi = min(hi, zp + int(_round_away(float(np.float32(6.0) / np.float32(scale)))))
    elif code == 2:
        lo = max(lo, zp + int(_round_away(float(np.float32(-1.0) / np.float32(scale)))))
        hi = min(hi, zp + int(_round_away(float(np.float32(1.0) / np.float32(scale)))))
    return lo, hi


# ---- gemmlowp fixed point, as TFLite's int8 softmax uses it ----

def _sat_shift_left(x, n):
    """SaturatingRoundingMultiplyByPOT<n> for n > 0 on one int32."""
    v = x << n
    return max(INT32_MIN, min(INT32_MAX, v))


def _mul(a, b):
    """Fixed-point product: SRDHM of the raw values."""
    return int(srdhm(a, b))


def _exp_quarter(a):
    """exp on [-1/4, 0) of a Q0.31 value."""
    constant_term = 1895147668
    one_third = 715827883
    x = a + (1 << 28)
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = int(rdbpot(x4, 2))
    poly = int(rdbpot(_mul(x4_over_4 + x3, one_third) + x2, 1))
    return constant_term + _mul(constant_term, x + poly)


def exp_on_negative_values(a, int_bits):
    """gemmlowp's exp of a non-positive Q(int_bits).(31-int_bits) value, as Q0.31."""
    frac = 31 - int_bits
    quarter = 1 << (frac - 2)
    mod = (a & (quarter - 1)) - quarter
    result = _exp_quarter(_sat_shift_left(mod, int_bits))
    remainder = mod - a
    # exp(-2^e) in Q0.31 for the set bits of the remainder (gemmlowp's barrel shifter)
    for exponent, mult in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                           (2, 39332535), (3, 720401), (4, 242)):
        if int_bits > exponent:
            if remainder & (1 << (frac + exponent)):
                result = _mul(result, mult)
    if int_bits > 5:
        clamp = -(1 << (frac + 5))
        if a < clamp:
            result = 0
    return INT32_MAX if a == 0 else result


def _one_over_one_plus_x(a):
    """1/(1+x) for a Q0.31 x in [0, 1), as Q0.31 (Newton-Raphson, 3 steps)."""
    s = a + INT32_MAX
    half = (s + (1 if s >= 0 else -1)) // 2 if s >= 0 else -((-s + 1) // 2)
    x = 1515870810 + _mul(half, -1010580540)
    for _ in range(3):
        hx = _mul(half, x)
        one_minus = (1 << 29) - hx
        x = x + _sat_shift_left(_mul(x, one_minus), 2)
    return _sat_shift_left(x, 1)


def softmax_int8(x, in_scale, beta=1.0, out_zp=-128):
    """TFLite's reference int8 softmax of one row (output scale 1/256)."""
    scaled_diff_bits = 5
    real = min(beta * in_scale * (1 << (31 - scaled_diff_bits)), float((1 << 31) - 1))
    mult, left = quantize_multiplier(real)
    radius = int(((1 << scaled_diff_bits) - 1) * (1 << (31 - scaled_diff_bits)) / (1 << left))
    diff_min = -radius
    mx = int(x.max())
    exps = {}
    total = 0
    for v in x:
        d = int(v) - mx
        if d >= diff_min:
            rescaled = int(srdhm(d * (1 << left), mult))
            e = exp_on_negative_values(rescaled, scaled_diff_bits)
            exps[d] = e
            total += int(rdbpot(e, 12))
    headroom = 32 - total.bit_length() if total > 0 else 32
    bits_over = 12 - headroom
    shifted = ((total << headroom) - (1 << 31)) & 0xFFFFFFFF
    if shifted >= 1 << 31:
        shifted -= 1 << 32
    scale = _one_over_one_plus_x(shifted)
    out = []
    for v in x:
        d = int(v) - mx
        if d >= diff_min:
            u = int(rdbpot(_mul(scale, exps[d]), bits_over + 31 - 8))
            out.append(max(-128, min(127, u + out_zp)))
        else:
            out.append(-128)
    return np.array(out, dtype=np.int8)


# ---- the interpreter ----

class Ref:
    """Runs graph g on NHWC inputs; `tensors` holds every computed tensor."""

    def __init__(self, g):
        self.g = g

    def q(self, i):
        """Scale and zero point of tensor i."""
        t = self.g.tensors[i]
        return float(t.scale[0]), int(t.zero_point[0])

    def run(self, x, given=None):
        """All tensors (by index) after running on input x (numpy, NHWC).
        With `given` (tensor index -> array), each operator reads those
        values for its inputs instead of its own results: every operator
        is then checked on its own, from the same inputs as the code under
        test."""
        g = self.g
        vals = {i: t.data for i, t in enumerate(g.tensors) if t.data is not None}
        vals[g.inputs[0]] = x
        for op in g.operators:
            fn = getattr(self, "op_" + op.op.lower(), None)
            if fn is None:
                raise NotImplementedError(op.op)
            local = vals
            if given:
                local = dict(vals)
                local.update({i: given[i] for i in op.inputs if i in given})
            vals[op.outputs[0]] = fn(op, local)
        return vals

    def is_q(self, i):
        """Whether tensor i is int8."""
        return self.g.tensors[i].type == "INT8"

    def finish(self, op, acc_or_real, code):
        """Requantized int32 (int8 models) or float result with the fused activation."""
        out = op.outputs[0]
        if self.is_q(out):
            s, zp = self.q(out)
            lo, hi = act_range(code, s, zp)
            return np.clip(acc_or_real, lo, hi).astype(np.int8)
        r = acc_or_real
        if code == 1:
            r = np.maximum(r, 0)
        elif code == 3:
            r = np.clip(r, 0, 6)
        return r.astype(np.float32)

    def _weights(self, i):
        """A weight tensor as float (hybrid int8 weights dequantized)."""
        t = self.g.tensors[i]
        if t.type == "INT8":
            sc = np.array(t.scale, dtype=np.float64).reshape((-1,) + (1,) * (t.data.ndim - 1))
            if len(t.scale) > 1 and t.qdim != 0:
                sc = np.array(t.scale, dtype=np.float64).reshape((1,) * t.qdim + (-1,) + (1,) * (t.data.ndim - t.qdim - 1))
            return t.data.astype(np.float64) * sc
        return t.data.astype(np.float64)

    def _pad_amounts(self, n, k, s, d, same):
        """(before, after, out) along one axis."""
        if same:
            out = (n + s - 1) // s
            total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
            return total // 2, total - total // 2, out
        return 0, 0, (n - d * (k - 1) - 1) // s + 1

    def _windows(self, x, kh, kw, sh, sw, dh, dw, same, fill):
        """x [1,H,W,C] as [OH, OW, kh, kw, C] windows (padding cells = fill)
        and a mask of valid cells [OH, OW, kh, kw]."""
        _, h, w, c = x.shape
        pt, pb, oh = self._pad_amounts(h, kh, sh, dh, same)
        pl, pr, ow = self._pad_amounts(w, kw, sw, dw, same)
        xp = np.full((h + pt + pb, w + pl + pr, c), fill, dtype=x.dtype)
        xp[pt:pt + h, pl:pl + w] = x[0]
        valid = np.zeros((h + pt + pb, w + pl + pr), dtype=bool)
        valid[pt:pt + h, pl:pl + w] = True
        iy = (np.arange(oh) * sh)[:, None] + np.arange(kh)[None, :] * dh
        ix = (np.arange(ow) * sw)[:, None] + np.arange(kw)[None, :] * dw
        win = xp[iy[:, None, :, None], ix[None, :, None, :]]
        mask = valid[iy[:, None, :, None], ix[None, :, None, :]]
        return win, mask, oh, ow

    def _conv(self, op, vals, depthwise):
        o = op.options
        x, wi = vals[op.inputs[0]], op.inputs[1]
        wdata = self.g.tensors[wi].data
        bias = vals.get(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if depthwise:
            _, kh, kw, cout = wdata.shape
        else:
            cout, kh, kw, cin_g = wdata.shape
        quant = self.is_q(op.inputs[0])
        in_zp = self.q(op.inputs[0])[1] if quant else 0
        win, _, oh, ow = self._windows(x, kh, kw, o["stride_h"], o["stride_w"], o["dilation_h_factor"],
                                       o["dilation_w_factor"], o["padding"] == 0, in_zp if quant else 0)
        cin = x.shape[3]
        if quant:
            xv = win.astype(np.int64) - in_zp
            wv = wdata.astype(np.int64)
        else:
            xv = win.astype(np.float64)
            wv = self._weights(wi)
        if depthwise:
            m = cout // cin
            xr = np.repeat(xv, m, axis=4)  # output channel c*m + j reads input c
            acc = np.einsum("abhwc,hwc->abc", xr, wv[0])
        else:
            groups = cin // cin_g
            per = cout // groups
            acc = np.concatenate([np.einsum("abhwi,ohwi->abo", xv[..., gi * cin_g:(gi + 1) * cin_g],
                                            wv[gi * per:(gi + 1) * per]) for gi in range(groups)], axis=2)
        if bias is not None:
            acc = acc + (bias.astype(np.int64) if quant else bias.astype(np.float64))
        code = o["fused_activation_function"]
        if quant:
            s_in = self.q(op.inputs[0])[0]
            s_out, zp_out = self.q(op.outputs[0])
            ws = self.g.tensors[wi].scale
            ws = np.broadcast_to(ws, (cout,))
            mults = [quantize_multiplier(float(np.float32(s_in)) * float(np.float32(w)) / float(np.float32(s_out)))
                     for w in ws]
            mult = np.array([mm for mm, _ in mults], dtype=np.int64)
            sh = np.array([ss for _, ss in mults], dtype=np.int64)
            acc = mbqm(acc, mult, sh) + zp_out
        return self.finish(op, acc[None], code)

    def op_conv_2d(self, op, vals):
        return self._conv(op, vals, False)

    def op_depthwise_conv_2d(self, op, vals):
        return self._conv(op, vals, True)

    def op_fully_connected(self, op, vals):
        x = vals[op.inputs[0]].reshape(-1)
        wi = op.inputs[1]
        w = self.g.tensors[wi].data
        bias = vals.get(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        code = op.options["fused_activation_function"]
        if self.is_q(op.inputs[0]):
            s_in, zp_in = self.q(op.inputs[0])
            s_out, zp_out = self.q(op.outputs[0])
            acc = w.astype(np.int64) @ (x.astype(np.int64) - zp_in)
            if bias is not None:
                acc = acc + bias.astype(np.int64)
            ws = np.broadcast_to(self.g.tensors[wi].scale, (w.shape[0],))
            mults = [quantize_multiplier(float(np.float32(s_in)) * float(np.float32(v)) / float(np.float32(s_out)))
                     for v in ws]
            acc = mbqm(acc, [m for m, _ in mults], [s for _, s in mults]) + zp_out
            return self.finish(op, acc[None], code)
        acc = self._weights(wi) @ x.astype(np.float64)
        if bias is not None:
            acc = acc + bias
        return self.finish(op, acc[None], code)

    def op_add(self, op, vals):
        a, b = vals[op.inputs[0]], vals[op.inputs[1]]
        code = op.options["fused_activation_function"]
        if not self.is_q(op.outputs[0]):
            return self.finish(op, a.astype(np.float64) + b, code)
        (s1, z1), (s2, z2), (so, zo) = self.q(op.inputs[0]), self.q(op.inputs[1]), self.q(op.outputs[0])
        left = 20
        twice = 2 * max(s1, s2)
        m1, e1 = quantize_multiplier(s1 / twice)
        m2, e2 = quantize_multiplier(s2 / twice)
        mo, eo = quantize_multiplier(twice / ((1 << left) * so))
        x1 = mbqm((a.astype(np.int64) - z1) * (1 << left), m1, e1)
        x2 = mbqm((b.astype(np.int64) - z2) * (1 << left), m2, e2)
        return self.finish(op, mbqm(x1 + x2, mo, eo) + zo, code)

    def _pool(self, op, vals, avg):
        o = op.options
        x = vals[op.inputs[0]]
        quant = self.is_q(op.inputs[0])
        win, mask, oh, ow = self._windows(x, o["filter_height"], o["filter_width"], o["stride_h"],
                                          o["stride_w"], 1, 1, o["padding"] == 0, 0)
        m = mask[..., None]
        code = o["fused_activation_function"]
        if avg:
            cnt = m.sum(axis=(2, 3))
            if quant:
                s = np.where(m, win.astype(np.int64), 0).sum(axis=(2, 3))
                r = np.where(s > 0, (s + cnt // 2) // cnt, -((-s + cnt // 2) // cnt))
                return self.finish(op, r[None], code)
            s = np.where(m, win.astype(np.float64), 0).sum(axis=(2, 3))
            return self.finish(op, (s / cnt)[None], code)
        lowest = -128 if quant else -np.inf
        r = np.where(m, win.astype(np.float64 if not quant else np.int64), lowest).max(axis=(2, 3))
        return self.finish(op, r[None], code)

    def op_average_pool_2d(self, op, vals):
        return self._pool(op, vals, True)

    def op_max_pool_2d(self, op, vals):
        return self._pool(op, vals, False)

    def op_reshape(self, op, vals):
        return vals[op.inputs[0]].reshape(self.g.tensors[op.outputs[0]].shape)

    op_squeeze = op_reshape

    def op_pad(self, op, vals):
        x = vals[op.inputs[0]]
        p = self.g.tensors[op.inputs[1]].data.reshape(-1, 2)
        fill = self.q(op.outputs[0])[1] if self.is_q(op.outputs[0]) else 0
        return np.pad(x, [tuple(r) for r in p], constant_values=fill)

    op_padv2 = op_pad

    def op_concatenation(self, op, vals):
        xs = [vals[i] for i in op.inputs]
        code = op.options["fused_activation_function"]
        if not self.is_q(op.outputs[0]):
            return self.finish(op, np.concatenate(xs, axis=op.options["axis"]).astype(np.float64), code)
        so, zo = self.q(op.outputs[0])
        parts = []
        for i, x in zip(op.inputs, xs):
            s, z = self.q(i)
            if s != so or z != zo:  # TFLite's Prepare refuses int8 rescaling
                raise ValueError("int8 CONCATENATION with differing params")
            parts.append(x.astype(np.int64))
        return self.finish(op, np.concatenate(parts, axis=op.options["axis"]), code)

    def op_softmax(self, op, vals):
        x = vals[op.inputs[0]]
        beta = op.options["beta"]
        if self.is_q(op.inputs[0]):
            s_in = self.q(op.inputs[0])[0]
            flat = x.reshape(-1, x.shape[-1])
            return np.stack([softmax_int8(r, s_in, beta) for r in flat]).reshape(x.shape)
        e = np.exp(beta * (x - x.max(axis=-1, keepdims=True)).astype(np.float64))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)

    def _elementwise(self, op, vals, f):
        """Float functions; int8 by dequantize, f, round, clamp."""
        x = vals[op.inputs[0]]
        if not self.is_q(op.inputs[0]):
            return f(x.astype(np.float64)).astype(np.float32)
        s, z = self.q(op.inputs[0])
        so, zo = self.q(op.outputs[0])
        r = f(s * (x.astype(np.float64) - z)) / so + zo
        return np.clip(np.vectorize(_round_away)(r), -128, 127).astype(np.int8)

    def op_relu(self, op, vals):
        return self._elementwise(op, vals, lambda v: np.maximum(v, 0))

    def op_relu6(self, op, vals):
        return self._elementwise(op, vals, lambda v: np.clip(v, 0, 6))

    def op_logistic(self, op, vals):
        return self._elementwise(op, vals, lambda v: 1 / (1 + np.exp(-v)))

    def op_tanh(self, op, vals):
        return self._elementwise(op, vals, np.tanh)

    def op_hard_swish(self, op, vals):
        return self._elementwise(op, vals, lambda v: v * np.clip(v + 3, 0, 6) / 6)

    def op_leaky_relu(self, op, vals):
        """int8: one multiplier for each sign, as TFLite's QuantizeLeakyRelu."""
        a = op.options["alpha"]
        if not self.is_q(op.inputs[0]):
            return self._elementwise(op, vals, lambda v: np.where(v >= 0, v, a * v))
        (s, z), (so, zo) = self.q(op.inputs[0]), self.q(op.outputs[0])
        # the multipliers in float, as TFLite's Prepare computes them
        f32 = np.float32
        mi, si = quantize_multiplier(float(f32(s) / f32(so)))
        ma, sa = quantize_multiplier(float(f32(s) * f32(a) / f32(so)))
        v = vals[op.inputs[0]].astype(np.int64) - z
        r = np.where(v >= 0, mbqm(v, mi, si), mbqm(v, ma, sa)) + zo
        return np.clip(r, -128, 127).astype(np.int8)

    def op_mean(self, op, vals):
        x = vals[op.inputs[0]]
        if not self.is_q(op.inputs[0]):
            return x.astype(np.float64).mean(axis=(1, 2), keepdims=op.options["keep_dims"]).astype(np.float32)
        s, z = self.q(op.inputs[0])
        so, zo = self.q(op.outputs[0])
        r = (s * (x.astype(np.float64) - z)).mean(axis=(1, 2), keepdims=op.options["keep_dims"]) / so + zo
        return np.clip(np.vectorize(_round_away)(r), -128, 127).astype(np.int8)

    def op_quantize(self, op, vals):
        so, zo = self.q(op.outputs[0])
        x = vals[op.inputs[0]].astype(np.float32)
        r = np.vectorize(_round_away)(x / np.float32(so)) + zo
        return np.clip(r, -128, 127).astype(np.int8)

    def op_dequantize(self, op, vals):
        t = self.g.tensors[op.inputs[0]]
        x = vals[op.inputs[0]]
        if t.type == "FLOAT16":
            return x.astype(np.float32)
        s, z = self.q(op.inputs[0])
        return (np.float32(s) * (x.astype(np.int32) - z).astype(np.float32)).astype(np.float32)


def run(path, x):
    """Every tensor of the model in `path` run on x (NHWC, the input's dtype)."""
    g = tflite_fb.read(path)
    return g, Ref(g).run(x)
