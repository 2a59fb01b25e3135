/* refimpl.c: the reference implementation of the .net ops (see refimpl.h).
 * Everything here favours being obviously right over being fast: sums in
 * double, every tap of every window visited with its bounds checked, each
 * layer's output in its own buffer, batchnorm applied as written. Shapes
 * and resolved padding are recomputed from the spec and compared with the
 * analysis, so a wrong shape cannot slip through as a matching one. */
#include "refimpl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One run: the tensors so far, and where a refusal is explained. */
typedef struct Ref {
    const Net *net;
    float **t; /* per layer index */
    char *err;
    size_t errlen;
    uint64_t jitter; /* generator state; 0: exact operands */
} Ref;

static int refuse(Ref *r, const char *fmt, ...) PRINTF(2, 3);

/* Records why the reference will not run this net. */
static int refuse(Ref *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (r->err && r->errlen)
        vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* An operand as the op reads it: exact, or off by up to 2^-23 relative
 * (splitmix64 picks how far). */
static double operand(Ref *r, double v)
{
    if (!r->jitter)
        return v;
    uint64_t z = (r->jitter += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    double u = (double)(z >> 11) / 9007199254740992.0 * 2 - 1; /* [-1, 1) */
    return v * (1 + u * 0x1p-23);
}

/* Floats in a CHW tensor. */
static int64_t numel(Shape s)
{
    return s.c * s.h * s.w;
}

/* Value at (c, y, x) of a CHW tensor; the caller has checked the bounds. */
static double at(const float *x, Shape s, int64_t c, int64_t y, int64_t xx)
{
    return x[(c * s.h + y) * s.w + xx];
}

/* ---- shapes, from the spec ---- */

/* Keras/TF 'same': out = ceil(in/stride), the smaller half of the padding first. */
static void same_pads(int64_t in, int64_t keff, int64_t stride, int64_t *lo, int64_t *hi)
{
    int64_t out = (in + stride - 1) / stride;
    int64_t total = (out - 1) * stride + keff - in;
    if (total < 0)
        total = 0;
    *lo = total / 2;
    *hi = total - *lo;
}

/* PyTorch's window count along one axis, ceil_mode and its last-window rule included. */
static int64_t window_count(int64_t in, int64_t lo, int64_t hi, int64_t keff, int64_t stride, bool ceil_mode)
{
    int64_t span = in + lo + hi - keff;
    /* under ceil_mode a window up to stride-1 cells past the input still counts */
    if (span < (ceil_mode ? 1 - stride : 0))
        return 0;
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + lo)
        out--;
    return out;
}

/* Dilation as the op sees it: average and sum pools have none. */
static int64_t dilation_of(const Layer *l, int a)
{
    return l->op == OP_AVGPOOL2D || l->op == OP_SUMPOOL2D ? 1 : l->dilation[a];
}

/* The padding the spec gives a windowed layer: top, bottom, left, right. */
static void pads_of(const Layer *l, int64_t pads[4])
{
    Shape in = l->in[0]->shape;
    int64_t ins[2] = {in.h, in.w};
    for (int a = 0; a < 2; a++) {
        int64_t keff = dilation_of(l, a) * (l->kernel[a] - 1) + 1;
        if (l->pad_rule == PAD_SAME)
            same_pads(ins[a], keff, l->stride[a], &pads[2 * a], &pads[2 * a + 1]);
        else if (l->pad_rule == PAD_VALID)
            pads[2 * a] = pads[2 * a + 1] = 0;
        else
            pads[2 * a] = l->pad[2 * a], pads[2 * a + 1] = l->pad[2 * a + 1];
    }
}

/* The output shape the spec gives l; -1 after refusing. */
static int expected_shape(Ref *r, const Layer *l, Shape *out)
{
    Shape in = l->nin ? l->in[0]->shape : l->shape;
    unsigned flags = ir_ops[l->op].flags;
    if (flags & OPF_WINDOW) {
        int64_t pads[4];
        pads_of(l, pads);
        for (int k = 0; k < 4; k++)
            if (pads[k] != l->pad[k])
                return refuse(r, "%s: padding %d is %lld, the spec says %lld", l->name, k, (long long)l->pad[k],
                              (long long)pads[k]);
        int64_t ins[2] = {in.h, in.w}, outs[2];
        for (int a = 0; a < 2; a++) {
            int64_t keff = dilation_of(l, a) * (l->kernel[a] - 1) + 1;
            outs[a] = window_count(ins[a], pads[2 * a], pads[2 * a + 1], keff, l->stride[a],
                                   l->op != OP_CONV2D && l->ceil_mode);
        }
        *out = (Shape){l->op == OP_CONV2D ? l->out : in.c, outs[0], outs[1]};
        return 0;
    }
    switch (l->op) {
    case OP_INPUT: *out = l->shape; return 0;
    case OP_GLOBALAVGPOOL2D:
    case OP_GLOBALMAXPOOL2D:
    case OP_MEAN: *out = (Shape){in.c, 1, 1}; return 0;
    case OP_LINEAR:
        if (in.h != 1 || in.w != 1)
            return refuse(r, "%s: linear on a %lldx%lldx%lld input", l->name, (long long)in.c, (long long)in.h,
                          (long long)in.w);
        *out = (Shape){l->out, 1, 1};
        return 0;
    case OP_FLATTEN: *out = (Shape){numel(in), 1, 1}; return 0;
    case OP_ADD:
        for (int i = 1; i < l->nin; i++) {
            Shape s = l->in[i]->shape;
            if (s.c != in.c || s.h != in.h || s.w != in.w)
                return refuse(r, "%s: add of different shapes", l->name);
        }
        *out = in;
        return 0;
    case OP_PAD:
        *out = (Shape){in.c, in.h + l->pad[0] + l->pad[1], in.w + l->pad[2] + l->pad[3]};
        return 0;
    case OP_CONVTRANSPOSE2D: {
        int64_t ins[2] = {in.h, in.w}, outs[2];
        for (int a = 0; a < 2; a++)
            outs[a] = (ins[a] - 1) * l->stride[a] - l->pad[2 * a] - l->pad[2 * a + 1] +
                      l->dilation[a] * (l->kernel[a] - 1) + l->out_pad[a] + 1;
        *out = (Shape){l->out, outs[0], outs[1]};
        return 0;
    }
    case OP_UPSAMPLE: *out = (Shape){in.c, in.h * l->factor[0], in.w * l->factor[1]}; return 0;
    case OP_PIXELSHUFFLE: {
        int64_t f = l->factor[0];
        if (l->factor[1] != f || in.c % (f * f))
            return refuse(r, "%s: pixelshuffle factor does not divide the channels", l->name);
        *out = (Shape){in.c / (f * f), in.h * f, in.w * f};
        return 0;
    }
    case OP_MUL: {
        Shape b = l->in[1]->shape;
        *out = in.h * in.w >= b.h * b.w ? in : b;
        return 0;
    }
    case OP_CONCAT:
        *out = in;
        for (int i = 1; i < l->nin; i++) {
            Shape s = l->in[i]->shape;
            if (s.h != in.h || s.w != in.w)
                return refuse(r, "%s: concat of different sizes", l->name);
            out->c += s.c;
        }
        return 0;
    default:
        if (flags & OPF_ELEMENTWISE) {
            *out = in;
            return 0;
        }
        return refuse(r, "%s: op %s unknown to the reference", l->name, ir_op_name(l->op));
    }
}

/* ---- windowed ops ---- */

/* Maps a padded coordinate into the input as PyTorch's F.pad does for
 * each mode; false when it reads a zero (zeros mode, outside). */
static bool pad_index(PadMode mode, int64_t i, int64_t n, int64_t *out)
{
    if (i >= 0 && i < n) {
        *out = i;
        return true;
    }
    switch (mode) {
    case PM_ZEROS: return false;
    case PM_REFLECT: *out = i < 0 ? -i : 2 * (n - 1) - i; break;   /* mirror without repeating the edge */
    case PM_REPLICATE: *out = i < 0 ? 0 : n - 1; break;            /* the edge value repeated */
    case PM_CIRCULAR: *out = i < 0 ? i + n : i - n; break;         /* wraps around */
    }
    if (*out < 0 || *out >= n)
        die("reference: padding of mode %d reaches %lld of %lld", (int)mode, (long long)i, (long long)n);
    return true;
}

/* conv2d as torch.nn.Conv2d: out[oc] = bias[oc] + sum over the group's input channels and the taps. */
static int conv2d(Ref *r, const Layer *l, float *y)
{
    const Layer *src = l->in[0];
    const float *x = r->t[src->index];
    Shape in = src->shape, out = l->shape;
    const float *w = l->tensor[0], *b = l->bias ? l->tensor[1] : NULL;
    if (!w || (l->bias && !b))
        return refuse(r, "%s: weights missing", l->name);
    int64_t icg = in.c / l->groups, ocg = l->out / l->groups;
    int64_t kh = l->kernel[0], kw = l->kernel[1];
    for (int64_t oc = 0; oc < out.c; oc++) {
        int64_t g = oc / ocg;
        for (int64_t oy = 0; oy < out.h; oy++)
            for (int64_t ox = 0; ox < out.w; ox++) {
                double acc = b ? operand(r, b[oc]) : 0.0;
                for (int64_t ic = 0; ic < icg; ic++)
                    for (int64_t ky = 0; ky < kh; ky++)
                        for (int64_t kx = 0; kx < kw; kx++) {
                            int64_t iy, ix;
                            if (!pad_index(l->pad_mode, oy * l->stride[0] - l->pad[0] + ky * l->dilation[0], in.h,
                                           &iy) ||
                                !pad_index(l->pad_mode, ox * l->stride[1] - l->pad[2] + kx * l->dilation[1], in.w,
                                           &ix))
                                continue;
                            double wv = operand(r, w[((oc * icg + ic) * kh + ky) * kw + kx]);
                            acc += wv * operand(r, at(x, in, g * icg + ic, iy, ix));
                        }
                y[(oc * out.h + oy) * out.w + ox] = (float)acc;
            }
    }
    return 0;
}

/* max/min/avg/sum pooling. Padded cells never win a max or min; an average
 * divides as torch.nn.AvgPool2d does: with count_include_pad by the cells
 * of the window inside input plus declared padding (a ceil_mode overhang
 * beyond it does not count), otherwise by the input cells only. */
static int pool2d(Ref *r, const Layer *l, float *y)
{
    const Layer *src = l->in[0];
    const float *x = r->t[src->index];
    Shape in = src->shape, out = l->shape;
    int64_t kh = l->kernel[0], kw = l->kernel[1];
    int64_t dh = dilation_of(l, 0), dw = dilation_of(l, 1);
    for (int64_t c = 0; c < out.c; c++)
        for (int64_t oy = 0; oy < out.h; oy++)
            for (int64_t ox = 0; ox < out.w; ox++) {
                double sum = 0, best = 0;
                int64_t real = 0, counted = 0;
                for (int64_t ky = 0; ky < kh; ky++)
                    for (int64_t kx = 0; kx < kw; kx++) {
                        int64_t iy = oy * l->stride[0] - l->pad[0] + ky * dh;
                        int64_t ix = ox * l->stride[1] - l->pad[2] + kx * dw;
                        if (iy < in.h + l->pad[1] && ix < in.w + l->pad[3])
                            counted++; /* inside input + declared padding */
                        if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w)
                            continue;
                        double v = operand(r, at(x, in, c, iy, ix));
                        if (real == 0 || (l->op == OP_MAXPOOL2D ? v > best : v < best))
                            best = v;
                        sum += v;
                        real++;
                    }
                double v;
                switch (l->op) {
                case OP_MAXPOOL2D:
                case OP_MINPOOL2D:
                    if (real == 0)
                        return refuse(r, "%s: window (%lld,%lld) holds only padding", l->name, (long long)oy,
                                      (long long)ox);
                    v = best;
                    break;
                case OP_SUMPOOL2D: v = sum; break;
                default: {
                    int64_t div = l->count_include_pad ? counted : real;
                    if (div == 0)
                        return refuse(r, "%s: window (%lld,%lld) divides by zero", l->name, (long long)oy,
                                      (long long)ox);
                    v = sum / (double)div;
                }
                }
                y[(c * out.h + oy) * out.w + ox] = (float)v;
            }
    return 0;
}

/* ---- the rest ---- */

/* Global pooling: one value per channel over the whole plane. */
static void global_pool(Ref *r, const Layer *l, const float *x, float *y)
{
    Shape in = l->in[0]->shape;
    int64_t n = in.h * in.w;
    for (int64_t c = 0; c < in.c; c++) {
        const float *p = x + c * n;
        double sum = 0, best = p[0];
        for (int64_t i = 0; i < n; i++) {
            sum += operand(r, p[i]);
            if (p[i] > best)
                best = p[i];
        }
        y[c] = (float)(l->op != OP_GLOBALMAXPOOL2D ? sum / (double)n : best);
    }
}

/* torch.nn.Linear: y = W x + b, W of shape [out, in]. */
static int linear(Ref *r, const Layer *l, const float *x, float *y)
{
    int64_t n = numel(l->in[0]->shape);
    const float *w = l->tensor[0], *b = l->bias ? l->tensor[1] : NULL;
    if (!w || (l->bias && !b))
        return refuse(r, "%s: weights missing", l->name);
    for (int64_t o = 0; o < l->out; o++) {
        double acc = b ? operand(r, b[o]) : 0.0;
        for (int64_t i = 0; i < n; i++)
            acc += operand(r, w[o * n + i]) * operand(r, x[i]);
        y[o] = (float)acc;
    }
    return 0;
}

/* Inference batchnorm, unfolded: (x - mean) / sqrt(var + eps) * weight + bias. */
static int batchnorm(Ref *r, const Layer *l, const float *x, float *y)
{
    Shape s = l->shape;
    for (int k = 0; k < 4; k++)
        if (!l->tensor[k])
            return refuse(r, "%s: batchnorm tensors missing", l->name);
    for (int64_t c = 0; c < s.c; c++) {
        double mean = operand(r, l->tensor[2][c]), var = operand(r, l->tensor[3][c]);
        double scale = operand(r, l->tensor[0][c]) / sqrt(var + l->eps), shift = operand(r, l->tensor[1][c]);
        for (int64_t i = 0; i < s.h * s.w; i++) {
            int64_t j = c * s.h * s.w + i;
            y[j] = (float)((operand(r, x[j]) - mean) * scale + shift);
        }
    }
    return 0;
}

/* One value of an elementwise activation, as torch.nn defines it. */
static double activate(const Layer *l, double v)
{
    switch (l->op) {
    case OP_RELU: return v > 0 ? v : 0;
    case OP_RELU6: return v < 0 ? 0 : v > 6 ? 6 : v;
    case OP_SIGMOID: return 1 / (1 + exp(-v));
    case OP_TANH: return tanh(v);
    case OP_HARDSWISH: return v <= -3 ? 0 : v >= 3 ? v : v * (v + 3) / 6;
    case OP_LEAKYRELU: return v >= 0 ? v : v * l->slope;
    case OP_HARDSIGMOID: return fmax(0, fmin(1, l->alpha * v + l->beta));
    case OP_SILU: return v * (1 / (1 + exp(-v)));
    case OP_GELU:
        if (l->gelu_tanh) /* torch.nn.GELU(approximate='tanh') as its documentation writes it */
            return 0.5 * v * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (v + 0.044715 * pow(v, 3))));
        return v * 0.5 * (1 + erf(v / sqrt(2)));
    case OP_ELU: return v > 0 ? v : l->alpha * (exp(v) - 1);
    case OP_HARDTANH: return v > l->max_val ? l->max_val : v < l->min_val ? l->min_val : v;
    case OP_DROPOUT: return v;
    default: unreachable();
    }
}

/* Softmax over channels, separately at each pixel (dim=1 of NCHW). */
static void softmax(Ref *r, const Layer *l, const float *x, float *y)
{
    Shape s = l->shape;
    int64_t plane = s.h * s.w;
    double *v = malloc((size_t)s.c * sizeof *v);
    if (!v)
        die("out of memory");
    for (int64_t i = 0; i < plane; i++) {
        for (int64_t c = 0; c < s.c; c++)
            v[c] = operand(r, x[c * plane + i]);
        double most = v[0], sum = 0;
        for (int64_t c = 1; c < s.c; c++)
            if (v[c] > most)
                most = v[c];
        for (int64_t c = 0; c < s.c; c++)
            sum += exp(v[c] - most);
        for (int64_t c = 0; c < s.c; c++)
            y[c * plane + i] = (float)(exp(v[c] - most) / sum);
    }
    free(v);
}

/* Elementwise sum of every input, in double. */
static void add(Ref *r, const Layer *l, float *y)
{
    int64_t n = numel(l->shape);
    for (int64_t j = 0; j < n; j++) {
        double v = 0;
        for (int i = 0; i < l->nin; i++)
            v += operand(r, r->t[l->in[i]->index][j]);
        y[j] = (float)v;
    }
}

/* Product of the two inputs; a Cx1x1 input is broadcast over H and W,
 * as PyTorch broadcasts x * gate. */
static int mul(Ref *r, const Layer *l, float *y)
{
    Shape s = l->shape;
    int64_t plane = s.h * s.w;
    for (int i = 0; i < 2; i++) {
        Shape in = l->in[i]->shape;
        if (in.c != s.c || !((in.h == s.h && in.w == s.w) || (in.h == 1 && in.w == 1)))
            return refuse(r, "%s: mul of %lldx%lldx%lld into %lldx%lldx%lld", l->name, (long long)in.c,
                          (long long)in.h, (long long)in.w, (long long)s.c, (long long)s.h, (long long)s.w);
    }
    for (int64_t c = 0; c < s.c; c++)
        for (int64_t p = 0; p < plane; p++) {
            double v = 1;
            for (int i = 0; i < 2; i++) {
                Shape in = l->in[i]->shape;
                v *= operand(r, r->t[l->in[i]->index][in.h * in.w == 1 ? c : c * plane + p]);
            }
            y[c * plane + p] = (float)v;
        }
    return 0;
}

/* F.pad(x, (left, right, top, bottom), mode, value): a padded cell reads
 * the input cell pad_index maps it to, or the value. */
static int pad(Ref *r, const Layer *l, const float *x, float *y)
{
    Shape in = l->in[0]->shape, s = l->shape;
    for (int64_t c = 0; c < s.c; c++)
        for (int64_t oy = 0; oy < s.h; oy++)
            for (int64_t ox = 0; ox < s.w; ox++) {
                int64_t iy, ix;
                bool hit = pad_index(l->pad_mode, oy - l->pad[0], in.h, &iy);
                hit = pad_index(l->pad_mode, ox - l->pad[2], in.w, &ix) && hit;
                y[(c * s.h + oy) * s.w + ox] = hit ? (float)operand(r, at(x, in, c, iy, ix)) : (float)l->pad_value;
            }
    return 0;
}

/* The real source coordinate of output index o on an axis scaled from n
 * to m: align_corners maps the corner pixels' centres onto each other,
 * otherwise the pixel areas line up (half-pixel offsets), clamped at 0. */
static double source_coord(bool align_corners, int64_t o, int64_t n, int64_t m)
{
    if (align_corners)
        return m == 1 ? 0 : (double)o * (double)(n - 1) / (double)(m - 1);
    double s = ((double)o + 0.5) * (double)n / (double)m - 0.5;
    return s < 0 ? 0 : s;
}

/* nn.Upsample(scale_factor, mode): nearest copies pixel floor(o / f);
 * bilinear interpolates the two rows and two columns around the source. */
static int upsample(Ref *r, const Layer *l, const float *x, float *y)
{
    Shape in = l->in[0]->shape, s = l->shape;
    for (int64_t c = 0; c < s.c; c++)
        for (int64_t oy = 0; oy < s.h; oy++)
            for (int64_t ox = 0; ox < s.w; ox++) {
                double v;
                if (!l->bilinear) {
                    v = operand(r, at(x, in, c, oy / l->factor[0], ox / l->factor[1]));
                } else {
                    double sy = source_coord(l->align_corners, oy, in.h, s.h);
                    double sx = source_coord(l->align_corners, ox, in.w, s.w);
                    int64_t y0 = (int64_t)floor(sy), x0 = (int64_t)floor(sx);
                    int64_t y1 = y0 + 1 < in.h ? y0 + 1 : y0, x1 = x0 + 1 < in.w ? x0 + 1 : x0;
                    double fy = sy - (double)y0, fx = sx - (double)x0;
                    v = 0;
                    v += (1 - fy) * (1 - fx) * operand(r, at(x, in, c, y0, x0));
                    v += (1 - fy) * fx * operand(r, at(x, in, c, y0, x1));
                    v += fy * (1 - fx) * operand(r, at(x, in, c, y1, x0));
                    v += fy * fx * operand(r, at(x, in, c, y1, x1));
                }
                y[(c * s.h + oy) * s.w + ox] = (float)v;
            }
    return 0;
}

/* nn.PixelShuffle(r): input channel c*r*r + i*r + j becomes the (i, j)
 * sub-pixel of output channel c. */
static void pixelshuffle(const Layer *l, const float *x, float *y)
{
    Shape in = l->in[0]->shape;
    int64_t r = l->factor[0];
    for (int64_t c = 0; c < in.c; c++)
        for (int64_t iy = 0; iy < in.h; iy++)
            for (int64_t ix = 0; ix < in.w; ix++) {
                int64_t oc = c / (r * r), i = c % (r * r) / r, j = c % r;
                y[(oc * in.h * r + iy * r + i) * in.w * r + ix * r + j] = (float)at(x, in, c, iy, ix);
            }
}

/* torch.nn.ConvTranspose2d as the gradient of a conv: every input value
 * scattered through every tap into the full output, in double, then the
 * padding cropped off. */
static int convtranspose2d(Ref *r, const Layer *l, const float *x, float *y)
{
    Shape in = l->in[0]->shape, s = l->shape;
    const float *w = l->tensor[0], *b = l->bias ? l->tensor[1] : NULL;
    if (!w || (l->bias && !b))
        return refuse(r, "%s: weights missing", l->name);
    int64_t icg = in.c / l->groups, ocg = l->out / l->groups, kh = l->kernel[0], kw = l->kernel[1];
    int64_t fh = s.h + l->pad[0] + l->pad[1], fw = s.w + l->pad[2] + l->pad[3];
    double *full = calloc((size_t)(l->out * fh * fw), sizeof *full);
    if (!full)
        die("out of memory");
    for (int64_t ic = 0; ic < in.c; ic++)
        for (int64_t iy = 0; iy < in.h; iy++)
            for (int64_t ix = 0; ix < in.w; ix++) {
                double v = operand(r, at(x, in, ic, iy, ix));
                for (int64_t j = 0; j < ocg; j++)
                    for (int64_t ky = 0; ky < kh; ky++)
                        for (int64_t kx = 0; kx < kw; kx++) {
                            int64_t oc = ic / icg * ocg + j;
                            int64_t fy = iy * l->stride[0] + ky * l->dilation[0];
                            int64_t fx = ix * l->stride[1] + kx * l->dilation[1];
                            if (fy >= fh || fx >= fw)
                                continue; /* only past output_padding's reach: never for valid shapes */
                            full[(oc * fh + fy) * fw + fx] += v * operand(r, w[((ic * ocg + j) * kh + ky) * kw + kx]);
                        }
            }
    for (int64_t oc = 0; oc < l->out; oc++)
        for (int64_t oy = 0; oy < s.h; oy++)
            for (int64_t ox = 0; ox < s.w; ox++)
                y[(oc * s.h + oy) * s.w + ox] =
                    (float)(full[(oc * fh + oy + l->pad[0]) * fw + ox + l->pad[2]] + (b ? operand(r, b[oc]) : 0));
    free(full);
    return 0;
}

/* torch.nn.PReLU: max(0, x) + weight * min(0, x), one weight or one per channel. */
static int prelu(Ref *r, const Layer *l, const float *x, float *y)
{
    Shape s = l->shape;
    if (!l->tensor[0] || (l->num_parameters != 1 && l->num_parameters != s.c))
        return refuse(r, "%s: prelu slopes missing or of the wrong count", l->name);
    int64_t plane = s.h * s.w;
    for (int64_t c = 0; c < s.c; c++) {
        double w = operand(r, l->tensor[0][l->num_parameters == 1 ? 0 : c]);
        for (int64_t p = 0; p < plane; p++) {
            double v = operand(r, x[c * plane + p]);
            y[c * plane + p] = (float)(fmax(0, v) + w * fmin(0, v));
        }
    }
    return 0;
}

/* Inputs stacked along channels, in from= order: CHW makes each a contiguous block. */
static void concat(const Ref *r, const Layer *l, float *y)
{
    for (int i = 0; i < l->nin; i++) {
        int64_t n = numel(l->in[i]->shape);
        memcpy(y, r->t[l->in[i]->index], (size_t)n * sizeof *y);
        y += n;
    }
}

/* Computes layer l into y. */
static int run_layer(Ref *r, const Layer *l, float *y)
{
    const float *x = l->nin ? r->t[l->in[0]->index] : NULL;
    int64_t n = numel(l->shape);
    switch (l->op) {
    case OP_CONV2D: return conv2d(r, l, y);
    case OP_MAXPOOL2D:
    case OP_MINPOOL2D:
    case OP_AVGPOOL2D:
    case OP_SUMPOOL2D: return pool2d(r, l, y);
    case OP_GLOBALAVGPOOL2D:
    case OP_GLOBALMAXPOOL2D:
    case OP_MEAN: global_pool(r, l, x, y); return 0;
    case OP_LINEAR: return linear(r, l, x, y);
    case OP_FLATTEN: memcpy(y, x, (size_t)n * sizeof *y); return 0;
    case OP_BATCHNORM2D: return batchnorm(r, l, x, y);
    case OP_SOFTMAX: softmax(r, l, x, y); return 0;
    case OP_ADD: add(r, l, y); return 0;
    case OP_CONCAT: concat(r, l, y); return 0;
    case OP_MUL: return mul(r, l, y);
    case OP_PAD: return pad(r, l, x, y);
    case OP_CONVTRANSPOSE2D: return convtranspose2d(r, l, x, y);
    case OP_UPSAMPLE: return upsample(r, l, x, y);
    case OP_PIXELSHUFFLE: pixelshuffle(l, x, y); return 0;
    case OP_PRELU: return prelu(r, l, x, y);
    case OP_SILU:
    case OP_GELU:
    case OP_ELU:
    case OP_HARDTANH:
    case OP_RELU:
    case OP_RELU6:
    case OP_SIGMOID:
    case OP_TANH:
    case OP_HARDSWISH:
    case OP_HARDSIGMOID:
    case OP_LEAKYRELU:
    case OP_DROPOUT:
        for (int64_t j = 0; j < n; j++)
            y[j] = (float)activate(l, operand(r, x[j]));
        return 0;
    default: return refuse(r, "%s: op %s unknown to the reference", l->name, ir_op_name(l->op));
    }
}

/* Every layer in schedule order, each into its own buffer. */
static int run_all(const Net *net, const float *input, float **tensors, uint64_t jitter, char *err, size_t errlen)
{
    Ref r = {.net = net, .t = tensors, .err = err, .errlen = errlen, .jitter = jitter};
    for (int i = 0; i < net->nlayers; i++)
        tensors[i] = NULL;
    if (err && errlen)
        err[0] = '\0';
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        if (l->index != i)
            return refuse(&r, "%s: index %d at position %d", l->name, l->index, i);
        Shape want = {0, 0, 0};
        if (expected_shape(&r, l, &want) != 0)
            return -1;
        if (want.c != l->shape.c || want.h != l->shape.h || want.w != l->shape.w)
            return refuse(&r, "%s: shape %lldx%lldx%lld, the spec says %lldx%lldx%lld", l->name,
                          (long long)l->shape.c, (long long)l->shape.h, (long long)l->shape.w, (long long)want.c,
                          (long long)want.h, (long long)want.w);
        if (want.c < 1 || want.h < 1 || want.w < 1)
            return refuse(&r, "%s: empty shape", l->name);
        float *y = tensors[i] = calloc((size_t)numel(want), sizeof *y);
        if (!y)
            return refuse(&r, "%s: out of memory", l->name);
        if (l->op == OP_INPUT)
            memcpy(y, input, (size_t)numel(want) * sizeof *y);
        else if (run_layer(&r, l, y) != 0)
            return -1;
    }
    return 0;
}

int ref_run_all(const Net *net, const float *input, float **tensors, char *err, size_t errlen)
{
    return run_all(net, input, tensors, 0, err, errlen);
}

int ref_run_jittered(const Net *net, const float *input, float **outputs, uint64_t seed, char *err, size_t errlen)
{
    float **t = calloc((size_t)net->nlayers, sizeof *t);
    if (!t)
        return -1;
    int status = run_all(net, input, t, seed, err, errlen);
    for (int k = 0; status == 0 && k < net->noutputs; k++)
        memcpy(outputs[k], t[net->outputs[k]->index], (size_t)numel(net->outputs[k]->shape) * sizeof(float));
    for (int i = 0; i < net->nlayers; i++)
        free(t[i]);
    free(t);
    return status;
}

int ref_run(const Net *net, const float *input, float **outputs, char *err, size_t errlen)
{
    return ref_run_jittered(net, input, outputs, 0, err, errlen);
}
