/* qref.c: the int8 reference (cnnc.h says what it is for). Each kernel
 * is the scheme's formula applied to one output value at a time. */
#include "cnnc.h"

#include "../runtime/cnnc_q8.h" /* TFLM's softmax and mean only: see softmax() */

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* floor(n / 2^k) for any sign, without relying on >> of negatives. */
static int64_t floor_pow2(int64_t n, int k)
{
    int64_t d = (int64_t)1 << k, q = n / d;
    return (n % d != 0 && n < 0) ? q - 1 : q;
}

int32_t qref_srdhm(int32_t a, int32_t b)
{
    int64_t p = (int64_t)a * b; /* |p| <= 2^62 */
    int64_t r = floor_pow2(p + ((int64_t)1 << 30), 31);
    return r > INT32_MAX ? INT32_MAX : (int32_t)r;
}

int32_t qref_rdbpot(int32_t x, int e)
{
    int64_t mag = x < 0 ? -(int64_t)x : x;
    int64_t r = e == 0 ? mag : (mag + ((int64_t)1 << (e - 1))) >> e;
    return (int32_t)(x < 0 ? -r : r);
}

/* v mod 2^32 as int32, as TFLite's int32 multiplication wraps in practice. */
static int32_t wrap32(int64_t v)
{
    uint32_t u = (uint32_t)((uint64_t)v & 0xffffffffu);
    return u > INT32_MAX ? (int32_t)((int64_t)u - ((int64_t)1 << 32)) : (int32_t)u;
}

int32_t qref_requant(int32_t acc, int32_t mult, int32_t shift)
{
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    return qref_rdbpot(qref_srdhm(wrap32((int64_t)acc * ((int64_t)1 << left)), mult), right);
}

int32_t qref_div_round(int32_t sum, int32_t count)
{
    int64_t mag = sum < 0 ? -(int64_t)sum : sum;
    int64_t r = (2 * mag + count) / (2 * (int64_t)count); /* floor(mag / count + 1/2) */
    return (int32_t)(sum < 0 ? -r : r);
}

/* v within [lo, hi], computed wide so nothing overflows first. */
static int32_t clamp(int64_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : v > hi ? hi : (int32_t)v;
}

int8_t qref_quantize(float x, QParams p)
{
    float r = roundf(x / p.scale);
    if (!(r >= -1000.0f))
        r = -1000.0f;
    if (r > 1000.0f)
        r = 1000.0f;
    return (int8_t)clamp((int64_t)r + p.zero_point, -128, 127);
}

float qref_dequantize(int8_t q, QParams p)
{
    return (float)((double)p.scale * (double)(q - p.zero_point));
}

/* ---- kernels: one output value at a time ---- */

/* The stored value of a requantizing kernel from its int32 accumulator. */
static int8_t finish(const QuantInfo *qi, int32_t acc, int32_t mult, int32_t shift)
{
    return (int8_t)clamp((int64_t)qref_requant(acc, mult, shift) + qi->out.zero_point, qi->act_min, qi->act_max);
}

/* An input coordinate folded back inside [0, n) as the padding mode says;
 * -1 for zeros padding (a cell holding real 0, i.e. the zero point). */
static int64_t fold(PadMode mode, int64_t i, int64_t n)
{
    if (i >= 0 && i < n)
        return i;
    switch (mode) {
    case PM_ZEROS: return -1;
    case PM_REFLECT: return i < 0 ? -i : 2 * n - 2 - i;
    case PM_REPLICATE: return i < 0 ? 0 : n - 1;
    case PM_CIRCULAR: return i < 0 ? i + n : i - n;
    }
    return -1;
}

/* acc = bias + sum of w * (x - in_zp) over the window; padded zeros add nothing. */
static void conv(const Layer *l, const int8_t *x, int8_t *y)
{
    const QuantInfo *qi = l->quant;
    Shape in = l->in[0]->shape;
    int32_t zp = l->in[0]->quant->out.zero_point;
    int64_t cin = in.c / l->groups, cout = l->out / l->groups, kh = l->kernel[0], kw = l->kernel[1];
    for (int64_t oc = 0; oc < l->out; oc++)
        for (int64_t oy = 0; oy < l->shape.h; oy++)
            for (int64_t ox = 0; ox < l->shape.w; ox++) {
                int64_t acc = qi->bias[oc];
                for (int64_t ic = 0; ic < cin; ic++)
                    for (int64_t ky = 0; ky < kh; ky++)
                        for (int64_t kx = 0; kx < kw; kx++) {
                            int64_t iy = fold(l->pad_mode, oy * l->stride[0] - l->pad[0] + ky * l->dilation[0], in.h);
                            int64_t ix = fold(l->pad_mode, ox * l->stride[1] - l->pad[2] + kx * l->dilation[1], in.w);
                            if (iy < 0 || ix < 0)
                                continue;
                            int64_t c = oc / cout * cin + ic;
                            acc += (int64_t)qi->weight[((oc * cin + ic) * kh + ky) * kw + kx] *
                                   (x[(c * in.h + iy) * in.w + ix] - zp);
                        }
                y[(oc * l->shape.h + oy) * l->shape.w + ox] = finish(qi, wrap32(acc), qi->mult[oc], qi->shift[oc]);
            }
}

/* acc = bias + sum of w * (x - in_zp) over the flattened input. */
static void linear(const Layer *l, const int8_t *x, int8_t *y)
{
    const QuantInfo *qi = l->quant;
    int64_t n = l->in[0]->shape.c;
    int32_t zp = l->in[0]->quant->out.zero_point;
    for (int64_t o = 0; o < l->out; o++) {
        int64_t acc = qi->bias[o];
        for (int64_t i = 0; i < n; i++)
            acc += (int64_t)qi->weight[o * n + i] * (x[i] - zp);
        y[o] = finish(qi, wrap32(acc), qi->mult[o], qi->shift[o]);
    }
}

/* Unfolded batchnorm: one weight and bias per channel. */
static void affine(const Layer *l, const int8_t *x, int8_t *y)
{
    const QuantInfo *qi = l->quant;
    int64_t hw = l->shape.h * l->shape.w;
    int32_t zp = l->in[0]->quant->out.zero_point;
    for (int64_t c = 0; c < l->shape.c; c++)
        for (int64_t i = 0; i < hw; i++) {
            int64_t acc = (int64_t)qi->bias[c] + (int64_t)qi->weight[c] * (x[c * hw + i] - zp);
            y[c * hw + i] = finish(qi, wrap32(acc), qi->mult[c], qi->shift[c]);
        }
}

/* Window pools (global ones have the whole input as window). Max and min
 * compare int8 values (same params in and out) and ignore padding; avg
 * sums the int8 values, a padded cell counting as the zero point when
 * count_include_pad, and divides rounding half away from zero; sum
 * requantizes the sum of (x - zp). */
static void pool(const Layer *l, const int8_t *x, int8_t *y)
{
    const QuantInfo *qi = l->quant;
    Shape in = l->in[0]->shape;
    bool global = l->op == OP_GLOBALAVGPOOL2D || l->op == OP_GLOBALMAXPOOL2D || l->op == OP_MEAN;
    int64_t kh = global ? in.h : l->kernel[0], kw = global ? in.w : l->kernel[1];
    int64_t sy = global ? 1 : l->stride[0], sx = global ? 1 : l->stride[1];
    int64_t dy = global ? 1 : l->dilation[0], dx = global ? 1 : l->dilation[1];
    int64_t pt = global ? 0 : l->pad[0], pb = global ? 0 : l->pad[1], pl = global ? 0 : l->pad[2],
            pr = global ? 0 : l->pad[3];
    int32_t zp = l->in[0]->quant->out.zero_point;
    for (int64_t c = 0; c < in.c; c++)
        for (int64_t oy = 0; oy < l->shape.h; oy++)
            for (int64_t ox = 0; ox < l->shape.w; ox++) {
                int64_t y0 = oy * sy - pt, x0 = ox * sx - pl, n = 0, sum = 0;
                int32_t best = 0;
                for (int64_t ky = 0; ky < kh; ky++)
                    for (int64_t kx = 0; kx < kw; kx++) {
                        int64_t iy = y0 + ky * dy, ix = x0 + kx * dx;
                        if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w)
                            continue;
                        int32_t v = x[(c * in.h + iy) * in.w + ix];
                        if (n == 0 || (qi->kind == QK_MAXPOOL ? v > best : v < best))
                            best = v;
                        sum += qi->kind == QK_SUMPOOL ? v - zp : v;
                        n++;
                    }
                int64_t out;
                if (qi->kind == QK_MAXPOOL || qi->kind == QK_MINPOOL) {
                    out = n ? best : qi->out.zero_point;
                } else if (qi->kind == QK_SUMPOOL) {
                    out = (int64_t)qref_requant(wrap32(sum), qi->out_mult, qi->out_shift) + qi->out.zero_point;
                } else {
                    int64_t count = n;
                    if (l->op == OP_AVGPOOL2D && l->count_include_pad) {
                        int64_t y1 = y0 + kh < in.h + pb ? y0 + kh : in.h + pb;
                        int64_t x1 = x0 + kw < in.w + pr ? x0 + kw : in.w + pr;
                        count = (y1 - y0) * (x1 - x0);
                        sum += (count - n) * zp;
                    }
                    out = count ? qref_div_round(wrap32(sum), (int32_t)count) : qi->out.zero_point;
                }
                y[(c * l->shape.h + oy) * l->shape.w + ox] = (int8_t)clamp(out, qi->act_min, qi->act_max);
            }
}

/* TFLite's Add: each input's (x - zp) << 20 rescaled to 2*max(scale), summed, requantized. */
static void add(const Layer *l, int8_t **t, int8_t *y)
{
    const QuantInfo *qi = l->quant;
    int64_t n = l->shape.c * l->shape.h * l->shape.w;
    for (int64_t i = 0; i < n; i++) {
        int64_t sum = 0;
        for (int k = 0; k < l->nin; k++) {
            int32_t v = t[l->in[k]->index][i] - l->in[k]->quant->out.zero_point;
            sum += qref_requant(wrap32((int64_t)v * ((int64_t)1 << qi->left_shift)), qi->in_mult[k], qi->in_shift[k]);
        }
        y[i] = finish(qi, wrap32(sum), qi->out_mult, qi->out_shift);
    }
}

/* Inputs one after the other, requantized to the output's params where theirs differ. */
static void concat(const Layer *l, int8_t **t, int8_t *y)
{
    const QuantInfo *qi = l->quant;
    int64_t off = 0;
    for (int k = 0; k < l->nin; k++) {
        const Layer *src = l->in[k];
        int64_t n = src->shape.c * src->shape.h * src->shape.w;
        for (int64_t i = 0; i < n; i++) {
            int32_t v = t[src->index][i];
            if (qi->in_requant[k])
                v = clamp((int64_t)qref_requant(v - src->quant->out.zero_point, qi->in_mult[k], qi->in_shift[k]) +
                              qi->out.zero_point,
                          -128, 127);
            y[off + i] = (int8_t)v;
        }
        off += n;
    }
}

/* Softmax over channels and an imported mean, as TFLM computes them: the
 * runtime's kernels, which tests/unit/test_tflm.c holds to TFLM's own test
 * vectors (gemmlowp's Newton-Raphson reciprocal is not worth a second
 * transcription here). */
static void softmax(const Layer *l, const int8_t *x, int8_t *y)
{
    int64_t hw = l->shape.h * l->shape.w;
    for (int64_t p = 0; p < hw; p++)
        cnnc_q_softmax_tflm(x + p, y + p, (int)l->shape.c, (int)hw, l->quant->exp_lut);
}

static void mean(const Layer *l, const int8_t *x, int8_t *y)
{
    const QuantInfo *qi = l->quant;
    int64_t hw = l->in[0]->shape.h * l->in[0]->shape.w;
    for (int64_t c = 0; c < l->shape.c; c++)
        y[c] = cnnc_q_mean(x + c * hw, (int32_t)hw, 1, qi->mean_bias, qi->out_mult, qi->out_shift,
                           qi->out.zero_point);
}

/* TFLite's MUL: (a - za) * (b - zb), requantized by sa*sb/so, the
 * output's zero point added, clamped; a Cx1x1 input is read per channel. */
static void mul(const Layer *l, int8_t **t, int8_t *y)
{
    const QuantInfo *qi = l->quant;
    int64_t hw = l->shape.h * l->shape.w;
    const Layer *a = l->in[0], *b = l->in[1];
    bool ga = a->shape.h * a->shape.w != hw, gb = b->shape.h * b->shape.w != hw;
    for (int64_t c = 0; c < l->shape.c; c++)
        for (int64_t i = c * hw; i < (c + 1) * hw; i++) {
            int32_t va = t[a->index][ga ? c : i] - a->quant->out.zero_point;
            int32_t vb = t[b->index][gb ? c : i] - b->quant->out.zero_point;
            int64_t v = (int64_t)qref_requant(va * vb, qi->out_mult, qi->out_shift) + qi->out.zero_point;
            y[i] = (int8_t)clamp(v, qi->act_min, qi->act_max);
        }
}

/* Where padded coordinate i of an axis of n cells reads, per padding
 * mode; -1 for a constant cell. */
static int64_t pad_source(PadMode mode, int64_t i, int64_t n)
{
    if (i >= 0 && i < n)
        return i;
    switch (mode) {
    case PM_ZEROS: return -1;
    case PM_REFLECT: return i < 0 ? -i : 2 * (n - 1) - i;
    case PM_REPLICATE: return i < 0 ? 0 : n - 1;
    case PM_CIRCULAR: return i < 0 ? i + n : i - n;
    }
    abort();
}

/* pad, nearest upsample and pixelshuffle move int8 values unchanged (the
 * output keeps the input's params); a constant pad writes pad_q. */
static void gather(const Layer *l, const int8_t *x, int8_t *y)
{
    Shape in = l->in[0]->shape, s = l->shape;
    for (int64_t c = 0; c < s.c; c++)
        for (int64_t oy = 0; oy < s.h; oy++)
            for (int64_t ox = 0; ox < s.w; ox++) {
                int64_t ic = c, iy, ix;
                if (l->op == OP_PAD) {
                    iy = pad_source(l->pad_mode, oy - l->pad[0], in.h);
                    ix = pad_source(l->pad_mode, ox - l->pad[2], in.w);
                } else if (l->op == OP_UPSAMPLE) {
                    iy = oy / l->factor[0];
                    ix = ox / l->factor[1];
                } else { /* pixelshuffle: sub-pixel (i, j) of channel c from input channel c*r*r + i*r + j */
                    int64_t r = l->factor[0];
                    ic = c * r * r + oy % r * r + ox % r;
                    iy = oy / r;
                    ix = ox / r;
                }
                y[(c * s.h + oy) * s.w + ox] =
                    iy < 0 || ix < 0 ? (int8_t)l->quant->pad_q : x[(ic * in.h + iy) * in.w + ix];
            }
}

/* One layer's int8 output from the tensors before it. */
static void run_layer(const Layer *l, int8_t **t, int8_t *y, int64_t n)
{
    const QuantInfo *qi = l->quant;
    const int8_t *x = l->nin ? t[l->in[0]->index] : NULL;
    switch (qi->kind) {
    case QK_CONV: conv(l, x, y); return;
    case QK_LINEAR: linear(l, x, y); return;
    case QK_AFFINE: affine(l, x, y); return;
    case QK_MAXPOOL:
    case QK_MINPOOL:
    case QK_AVGPOOL:
    case QK_SUMPOOL: pool(l, x, y); return;
    case QK_ADD: add(l, t, y); return;
    case QK_CONCAT: concat(l, t, y); return;
    case QK_MUL: mul(l, t, y); return;
    case QK_GATHER: gather(l, x, y); return;
    case QK_SOFTMAX: softmax(l, x, y); return;
    case QK_MEAN: mean(l, x, y); return;
    case QK_CLAMP:
        for (int64_t i = 0; i < n; i++)
            y[i] = (int8_t)clamp(x[i], qi->act_min, qi->act_max);
        return;
    case QK_LUT:
        for (int64_t i = 0; i < n; i++)
            y[i] = qi->lut[x[i] + 128];
        return;
    case QK_IDENTITY: memcpy(y, x, (size_t)n); return;
    case QK_FUSED: memcpy(y, t[qi->fused_into->index], (size_t)n); return;
    case QK_QUANTIZE: break;
    }
    abort();
}

int8_t **qref_run(const Net *net, const float *input)
{
    int8_t **t = calloc((size_t)net->nlayers, sizeof *t);
    if (!t)
        abort();
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        int64_t n = l->shape.c * l->shape.h * l->shape.w;
        t[i] = malloc((size_t)n);
        if (!t[i])
            abort();
        if (l->quant->kind == QK_QUANTIZE)
            for (int64_t k = 0; k < n; k++)
                t[i][k] = qref_quantize(input[k], l->quant->out);
        else
            run_layer(l, t, t[i], n);
    }
    return t;
}

void qref_free(const Net *net, int8_t **t)
{
    for (int i = 0; i < net->nlayers; i++)
        free(t[i]);
    free(t);
}

void qref_dequantize_tensor(const Layer *l, const int8_t *q, float *out)
{
    int64_t n = l->shape.c * l->shape.h * l->shape.w;
    for (int64_t i = 0; i < n; i++)
        out[i] = qref_dequantize(q[i], l->quant->out);
}
