/* interp.c: the analysed graph run directly, in float, one layer at a
 * time, so that quantization can measure the range of every tensor. It
 * follows PyTorch (and docs/language.md) op by op and shares nothing with
 * the back end: no folding, no fusion, no shared buffers. Sums are taken
 * in double, so the tensors are close to exact and calibration does not
 * depend on a summation order. */
#include "cnnc.h"

#include <math.h>
#include <string.h>

/* The tensor being read: its values and shape. */
typedef struct Tensor {
    const float *v;
    Shape s;
} Tensor;

/* Value at (c, y, x) of a CHW tensor. */
static double at(Tensor t, int64_t c, int64_t y, int64_t x)
{
    return t.v[(c * t.s.h + y) * t.s.w + x];
}

/* Maps a coordinate outside [0, n) back inside as the padding mode says;
 * -1 for zeros padding, whose cells hold 0. analyze() keeps the padding
 * within what each mode can fold (reflect < n, circular <= n). */
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
    unreachable();
}

/* PyTorch's Conv2d: groups, dilation and every padding mode, cell by cell. */
static void conv2d(const Layer *l, Tensor x, float *y)
{
    const float *w = l->tensor[0], *b = l->bias ? l->tensor[1] : NULL;
    int64_t cin = x.s.c / l->groups, cout = l->out / l->groups;
    int64_t kh = l->kernel[0], kw = l->kernel[1];
    for (int64_t oc = 0; oc < l->out; oc++) {
        int64_t first = oc / cout * cin; /* the group's first input channel */
        for (int64_t oy = 0; oy < l->shape.h; oy++)
            for (int64_t ox = 0; ox < l->shape.w; ox++) {
                double acc = b ? b[oc] : 0.0;
                for (int64_t ic = 0; ic < cin; ic++)
                    for (int64_t ky = 0; ky < kh; ky++) {
                        int64_t iy = fold(l->pad_mode, oy * l->stride[0] - l->pad[0] + ky * l->dilation[0], x.s.h);
                        if (iy < 0)
                            continue;
                        for (int64_t kx = 0; kx < kw; kx++) {
                            int64_t ix =
                                fold(l->pad_mode, ox * l->stride[1] - l->pad[2] + kx * l->dilation[1], x.s.w);
                            if (ix < 0)
                                continue;
                            acc += (double)w[((oc * cin + ic) * kh + ky) * kw + kx] * at(x, first + ic, iy, ix);
                        }
                    }
                y[(oc * l->shape.h + oy) * l->shape.w + ox] = (float)acc;
            }
    }
}

/* Max, min, avg and sum pooling. Padded cells never win a max or min;
 * avg divides as PyTorch: by the window clipped to the padded input with
 * count_include_pad, else by the input cells it covers. */
static void pool2d(const Layer *l, Tensor x, float *y)
{
    int64_t kh = l->kernel[0], kw = l->kernel[1];
    for (int64_t c = 0; c < x.s.c; c++)
        for (int64_t oy = 0; oy < l->shape.h; oy++)
            for (int64_t ox = 0; ox < l->shape.w; ox++) {
                int64_t y0 = oy * l->stride[0] - l->pad[0], x0 = ox * l->stride[1] - l->pad[2];
                double acc = 0.0;
                int64_t count = 0;
                for (int64_t ky = 0; ky < kh; ky++)
                    for (int64_t kx = 0; kx < kw; kx++) {
                        int64_t iy = y0 + ky * l->dilation[0], ix = x0 + kx * l->dilation[1];
                        if (iy < 0 || iy >= x.s.h || ix < 0 || ix >= x.s.w)
                            continue;
                        double v = at(x, c, iy, ix);
                        if (l->op == OP_MAXPOOL2D)
                            acc = count == 0 || v > acc ? v : acc;
                        else if (l->op == OP_MINPOOL2D)
                            acc = count == 0 || v < acc ? v : acc;
                        else
                            acc += v;
                        count++;
                    }
                if (l->op == OP_AVGPOOL2D && l->count_include_pad) {
                    int64_t y1 = y0 + kh < x.s.h + l->pad[1] ? y0 + kh : x.s.h + l->pad[1];
                    int64_t x1 = x0 + kw < x.s.w + l->pad[3] ? x0 + kw : x.s.w + l->pad[3];
                    acc /= (double)((y1 - y0) * (x1 - x0));
                } else if (l->op == OP_AVGPOOL2D && count > 0) {
                    acc /= (double)count;
                }
                y[(c * l->shape.h + oy) * l->shape.w + ox] = (float)acc;
            }
}

/* Mean or max of each channel's whole plane. */
static void global_pool(const Layer *l, Tensor x, float *y)
{
    int64_t hw = x.s.h * x.s.w;
    for (int64_t c = 0; c < x.s.c; c++) {
        const float *p = x.v + c * hw;
        double acc = p[0];
        for (int64_t i = 1; i < hw; i++)
            acc = l->op != OP_GLOBALMAXPOOL2D ? acc + p[i] : (p[i] > acc ? p[i] : acc);
        y[c] = (float)(l->op != OP_GLOBALMAXPOOL2D ? acc / (double)hw : acc);
    }
}

/* y = W x + b over the flattened input (weights [out][in] as PyTorch). */
static void linear(const Layer *l, Tensor x, float *y)
{
    const float *w = l->tensor[0], *b = l->bias ? l->tensor[1] : NULL;
    for (int64_t o = 0; o < l->out; o++) {
        double acc = b ? b[o] : 0.0;
        for (int64_t i = 0; i < x.s.c; i++)
            acc += (double)w[o * x.s.c + i] * x.v[i];
        y[o] = (float)acc;
    }
}

/* Inference batchnorm from the running statistics, never folded here. */
static void batchnorm(const Layer *l, Tensor x, float *y)
{
    int64_t hw = x.s.h * x.s.w;
    for (int64_t c = 0; c < x.s.c; c++) {
        double inv = 1.0 / sqrt((double)l->tensor[3][c] + l->eps);
        double g = l->tensor[0][c], b = l->tensor[1][c], mean = l->tensor[2][c];
        for (int64_t i = 0; i < hw; i++)
            y[c * hw + i] = (float)(((double)x.v[c * hw + i] - mean) * inv * g + b);
    }
}

/* One value of an elementwise op; NaN passes through as in PyTorch. */
static double elementwise(const Layer *l, double v)
{
    switch (l->op) {
    case OP_RELU: return v < 0 ? 0.0 : v;
    case OP_RELU6: return v < 0 ? 0.0 : v > 6 ? 6.0 : v;
    case OP_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case OP_TANH: return tanh(v);
    case OP_HARDSWISH: return v * (v + 3 < 0 ? 0.0 : v + 3 > 6 ? 6.0 : v + 3) / 6.0;
    case OP_LEAKYRELU: return v < 0 ? v * l->slope : v;
    case OP_HARDSIGMOID: {
        double t = l->alpha * v + l->beta;
        return v != v ? v : t < 0 ? 0.0 : t > 1 ? 1.0 : t;
    }
    case OP_SILU: return v / (1.0 + exp(-v));
    case OP_GELU:
        if (l->gelu_tanh)
            return 0.5 * v * (1.0 + tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)));
        return 0.5 * v * erfc(-v / sqrt(2.0));
    case OP_ELU: return v > 0 ? v : l->alpha * expm1(v);
    case OP_HARDTANH: return v < l->min_val ? l->min_val : v > l->max_val ? l->max_val : v;
    default: return v; /* dropout at inference, flatten */
    }
}

/* Softmax over the channels of each pixel, the maximum taken out first. */
static void softmax(Tensor x, float *y)
{
    int64_t hw = x.s.h * x.s.w;
    for (int64_t p = 0; p < hw; p++) {
        double top = x.v[p], sum = 0.0;
        for (int64_t c = 1; c < x.s.c; c++)
            top = x.v[c * hw + p] > top ? x.v[c * hw + p] : top;
        for (int64_t c = 0; c < x.s.c; c++)
            sum += exp((double)x.v[c * hw + p] - top);
        for (int64_t c = 0; c < x.s.c; c++)
            y[c * hw + p] = (float)(exp((double)x.v[c * hw + p] - top) / sum);
    }
}

/* PReLU: x below zero times its channel's slope (or the one slope). */
static void prelu(const Layer *l, Tensor x, float *y)
{
    int64_t hw = x.s.h * x.s.w;
    for (int64_t c = 0; c < x.s.c; c++) {
        double w = l->tensor[0][l->num_parameters == 1 ? 0 : c];
        for (int64_t i = c * hw; i < (c + 1) * hw; i++)
            y[i] = x.v[i] < 0 ? (float)(w * x.v[i]) : x.v[i];
    }
}

/* mul: elementwise, or a Cx1x1 gate broadcast over each channel's plane. */
static void mul(const Layer *l, float **t, float *y)
{
    const float *a = t[l->in[0]->index], *b = t[l->in[1]->index];
    Shape sa = l->in[0]->shape, sb = l->in[1]->shape;
    int64_t hw = l->shape.h * l->shape.w;
    for (int64_t c = 0; c < l->shape.c; c++)
        for (int64_t i = c * hw; i < (c + 1) * hw; i++) {
            double va = sa.h * sa.w == hw ? a[i] : a[c], vb = sb.h * sb.w == hw ? b[i] : b[c];
            y[i] = (float)(va * vb);
        }
}

/* F.pad: every mode folds the coordinate back; constant fills with value. */
static void pad(const Layer *l, Tensor x, float *y)
{
    Shape o = l->shape;
    for (int64_t c = 0; c < o.c; c++)
        for (int64_t oy = 0; oy < o.h; oy++)
            for (int64_t ox = 0; ox < o.w; ox++) {
                int64_t iy = fold(l->pad_mode, oy - l->pad[0], x.s.h), ix = fold(l->pad_mode, ox - l->pad[2], x.s.w);
                y[(c * o.h + oy) * o.w + ox] = iy < 0 || ix < 0 ? (float)l->pad_value : (float)at(x, c, iy, ix);
            }
}

/* Where output index i of an upsampled axis reads (PyTorch's
 * area_pixel_compute_source_index): i0, i1 and the weight of i1. */
static void bilinear_source(const Layer *l, int64_t i, int64_t in, int64_t out, int64_t *i0, int64_t *i1, double *w1)
{
    double src;
    if (l->align_corners)
        src = out > 1 ? (double)i * (double)(in - 1) / (double)(out - 1) : 0.0;
    else {
        src = ((double)i + 0.5) * (double)in / (double)out - 0.5;
        src = src < 0 ? 0 : src;
    }
    *i0 = (int64_t)src;
    *i1 = *i0 + (*i0 < in - 1);
    *w1 = src - (double)*i0;
}

/* nn.Upsample: nearest (input pixel floor(i / factor)) or bilinear. */
static void upsample(const Layer *l, Tensor x, float *y)
{
    Shape o = l->shape;
    for (int64_t c = 0; c < o.c; c++)
        for (int64_t oy = 0; oy < o.h; oy++)
            for (int64_t ox = 0; ox < o.w; ox++) {
                double v;
                if (!l->bilinear)
                    v = at(x, c, oy / l->factor[0], ox / l->factor[1]);
                else {
                    int64_t y0, y1, x0, x1;
                    double wy, wx;
                    bilinear_source(l, oy, x.s.h, o.h, &y0, &y1, &wy);
                    bilinear_source(l, ox, x.s.w, o.w, &x0, &x1, &wx);
                    v = (1 - wy) * ((1 - wx) * at(x, c, y0, x0) + wx * at(x, c, y0, x1)) +
                        wy * ((1 - wx) * at(x, c, y1, x0) + wx * at(x, c, y1, x1));
                }
                y[(c * o.h + oy) * o.w + ox] = (float)v;
            }
}

/* nn.PixelShuffle(r): out[c][y*r + i][x*r + j] = in[c*r*r + i*r + j][y][x]. */
static void pixelshuffle(const Layer *l, Tensor x, float *y)
{
    Shape o = l->shape;
    int64_t r = l->factor[0];
    for (int64_t c = 0; c < o.c; c++)
        for (int64_t oy = 0; oy < o.h; oy++)
            for (int64_t ox = 0; ox < o.w; ox++)
                y[(c * o.h + oy) * o.w + ox] = (float)at(x, c * r * r + oy % r * r + ox % r, oy / r, ox / r);
}

/* nn.ConvTranspose2d, gathered: output (oy, ox) takes tap (ky, kx) of
 * input (iy, ix) when oy + pad_top - ky*dilation = iy*stride. */
static void convtranspose2d(const Layer *l, Tensor x, float *y)
{
    const float *w = l->tensor[0], *b = l->bias ? l->tensor[1] : NULL;
    int64_t cin = x.s.c / l->groups, cout = l->out / l->groups, kh = l->kernel[0], kw = l->kernel[1];
    for (int64_t oc = 0; oc < l->out; oc++) {
        int64_t g = oc / cout;
        for (int64_t oy = 0; oy < l->shape.h; oy++)
            for (int64_t ox = 0; ox < l->shape.w; ox++) {
                double acc = b ? b[oc] : 0.0;
                for (int64_t ic = g * cin; ic < (g + 1) * cin; ic++)
                    for (int64_t ky = 0; ky < kh; ky++) {
                        int64_t ty = oy + l->pad[0] - ky * l->dilation[0];
                        if (ty < 0 || ty % l->stride[0] || ty / l->stride[0] >= x.s.h)
                            continue;
                        for (int64_t kx = 0; kx < kw; kx++) {
                            int64_t tx = ox + l->pad[2] - kx * l->dilation[1];
                            if (tx < 0 || tx % l->stride[1] || tx / l->stride[1] >= x.s.w)
                                continue;
                            acc += (double)w[((ic * cout + oc % cout) * kh + ky) * kw + kx] *
                                   at(x, ic, ty / l->stride[0], tx / l->stride[1]);
                        }
                    }
                y[(oc * l->shape.h + oy) * l->shape.w + ox] = (float)acc;
            }
    }
}

/* Values in a tensor of that shape (analyze() keeps it from overflowing). */
static int64_t numel(Shape s)
{
    return s.c * s.h * s.w;
}

/* add sums its inputs; concat stacks them along channels (CHW makes that
 * one input after the other). */
static void multi(const Layer *l, float **t, float *y)
{
    int64_t n = numel(l->shape), off = 0;
    if (l->op == OP_ADD) {
        for (int64_t i = 0; i < n; i++) {
            double acc = 0.0;
            for (int k = 0; k < l->nin; k++)
                acc += t[l->in[k]->index][i];
            y[i] = (float)acc;
        }
        return;
    }
    for (int k = 0; k < l->nin; k++) {
        int64_t part = numel(l->in[k]->shape);
        memcpy(y + off, t[l->in[k]->index], (size_t)part * sizeof *y);
        off += part;
    }
}

/* The layer's output from its inputs' tensors. */
static void run_layer(const Layer *l, float **t, float *y)
{
    Tensor x = {t[l->in[0]->index], l->in[0]->shape};
    for (int k = 0; k < weights_count(l); k++)
        if (!l->tensor[k])
            die("internal error: interp_run on '%s' without weights", l->name);
    switch (l->op) {
    case OP_CONV2D: conv2d(l, x, y); return;
    case OP_MAXPOOL2D:
    case OP_MINPOOL2D:
    case OP_AVGPOOL2D:
    case OP_SUMPOOL2D: pool2d(l, x, y); return;
    case OP_GLOBALAVGPOOL2D:
    case OP_GLOBALMAXPOOL2D:
    case OP_MEAN: global_pool(l, x, y); return;
    case OP_LINEAR: linear(l, x, y); return;
    case OP_BATCHNORM2D: batchnorm(l, x, y); return;
    case OP_SOFTMAX: softmax(x, y); return;
    case OP_ADD:
    case OP_CONCAT: multi(l, t, y); return;
    case OP_MUL: mul(l, t, y); return;
    case OP_PAD: pad(l, x, y); return;
    case OP_UPSAMPLE: upsample(l, x, y); return;
    case OP_PIXELSHUFFLE: pixelshuffle(l, x, y); return;
    case OP_CONVTRANSPOSE2D: convtranspose2d(l, x, y); return;
    case OP_PRELU: prelu(l, x, y); return;
    case OP_SILU:
    case OP_GELU:
    case OP_ELU:
    case OP_HARDTANH:
    case OP_FLATTEN:
    case OP_DROPOUT:
    case OP_RELU:
    case OP_RELU6:
    case OP_SIGMOID:
    case OP_TANH:
    case OP_HARDSWISH:
    case OP_HARDSIGMOID:
    case OP_LEAKYRELU:
        for (int64_t i = 0; i < numel(x.s); i++)
            y[i] = (float)elementwise(l, x.v[i]);
        return;
    case OP_INPUT:
    case OP_COUNT: break;
    }
    unreachable();
}

float **interp_run(Mem *m, const Net *net, const float *input)
{
    float **t = mem_array(m, (size_t)net->nlayers, sizeof *t);
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        if (!l->ok)
            die("internal error: interp_run on '%s', which did not analyse", l->name);
        t[i] = mem_array(m, (size_t)numel(l->shape), sizeof **t);
        if (l->op == OP_INPUT)
            memcpy(t[i], input, (size_t)numel(l->shape) * sizeof **t);
        else
            run_layer(l, t, t[i]);
    }
    return t;
}
