/* quant.c: int8 quantization after TensorFlow Lite (Micro) and CMSIS-NN,
 * so that a model quantized here computes what TFLite's reference int8
 * kernels compute from the same parameters, bit for bit:
 *
 *  - activations: int8 per tensor, asymmetric, from the range measured by
 *    running the float interpreter over calibration inputs, widened to
 *    include 0 (TFLite's GetAsymmetricQuantizationParams);
 *  - weights: int8 per output channel, symmetric, scale max|w| / 127,
 *    values in [-127, 127] (SymmetricPerChannelQuantization), widened
 *    first where the bias would not fit in int32 (AdjustWeightsForBiasScale);
 *  - bias: int32 with scale input_scale * weight_scale[c];
 *  - requantization: QuantizeMultiplier's Q31 multiplier and shift;
 *  - relu/relu6 become the clamp of the layer that produces their input.
 *
 * Float arithmetic follows TFLite's expression by expression (float where
 * it computes in float, double where it does) so the parameters match.
 * runtime/cnnc_q8.h opens with the formula of each kernel. */
#include "cnnc.h"
#include "tflm.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { Q_MIN = -128, Q_MAX = 127, W_MAX = 127, ADD_LEFT_SHIFT = 20 };

/* What one quantization needs at hand. */
typedef struct Quant {
    Mem *m;
    Diag *d;
    Net *net;
} Quant;

/* Values in a tensor of that shape (analyze() keeps it from overflowing). */
static int64_t numel(Shape s)
{
    return s.c * s.h * s.w;
}

QParams quant_params(float min, float max)
{
    const float qmin = (float)Q_MIN, qmax = (float)Q_MAX;
    min = min < 0.0f ? min : 0.0f;
    max = max > 0.0f ? max : 0.0f;
    float scale = (max - min) / (qmax - qmin);
    /* An all-zero tensor: TFLite's converter (MLIR) gives scale 1 and zero
     * point qmin; a scale of 0 would divide by zero in every multiplier. */
    if (!(scale > 0.0f))
        return (QParams){1.0f, Q_MIN};
    float zp_from_min = qmin - min / scale;
    int32_t zp;
    if (zp_from_min < qmin)
        zp = Q_MIN;
    else if (zp_from_min > qmax)
        zp = Q_MAX;
    else
        zp = (int32_t)roundf(zp_from_min);
    return (QParams){scale, zp};
}

void quant_multiplier(double m, int32_t *mult, int32_t *shift)
{
    if (m == 0.0) {
        *mult = 0;
        *shift = 0;
        return;
    }
    int e;
    double q = frexp(m, &e);
    int64_t fixed = (int64_t)round(q * 2147483648.0);
    if (fixed == INT64_C(1) << 31) { /* q rounded up to 1: keep it below 2^31 */
        fixed /= 2;
        e++;
    }
    /* Below 2^-32 every product shifts out entirely: TFLite flushes to 0. */
    if (e < -31) {
        e = 0;
        fixed = 0;
    }
    *mult = (int32_t)fixed;
    *shift = e;
}

/* float to int32 as TFLite's casts, without undefined behaviour: out of
 * range saturates (SafeCast), NaN gives 0. */
static int32_t to_int32(double v)
{
    if (v != v)
        return 0;
    if (v >= 2147483647.0)
        return INT32_MAX;
    if (v <= -2147483648.0)
        return INT32_MIN;
    return (int32_t)v;
}

/* v within [lo, hi], as TFLite's std::min(std::max()). */
static int32_t clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int32_t quant_value(QParams p, float f)
{
    /* TFLite's CalculateActivationRangeQuantized: zp + round(f / scale) */
    int32_t q = to_int32((double)roundf(f / p.scale));
    int64_t v = (int64_t)p.zero_point + q;
    return v < Q_MIN ? Q_MIN : v > Q_MAX ? Q_MAX : (int32_t)v;
}

/* QuantizeMultiplier, and an error when the multiplier needs a left shift
 * past 30 bits, where the int32 product has no room left. */
static void multiplier(Quant *q, const Layer *l, double m, int32_t *mult, int32_t *shift)
{
    quant_multiplier(m, mult, shift);
    if (*shift > 30) {
        diag_error(q->d, l->name_loc,
                   "int8 rescaling of '%s' needs a multiplier of %g, too large for 32-bit requantization; "
                   "its output range is tiny next to its inputs'",
                   l->name, m);
        *mult = 0;
        *shift = 0;
    }
}

/* ---- which kernel computes each layer ---- */

/* Ops whose kernel ends in a requantization, so that a relu after them is
 * only a narrower clamp (TFLite's fused activations). */
static bool takes_activation(const QuantInfo *qi)
{
    return qi->kind == QK_CONV || qi->kind == QK_LINEAR || qi->kind == QK_AFFINE || qi->kind == QK_ADD ||
           qi->kind == QK_SUMPOOL;
}

/* The kernel of each op before fusion; folded batchnorms have none. */
static QKind kind_of(const Layer *l)
{
    switch (l->op) {
    case OP_INPUT: return QK_QUANTIZE;
    case OP_CONV2D: return QK_CONV;
    case OP_LINEAR: return QK_LINEAR;
    case OP_BATCHNORM2D: return l->fold_into ? QK_FUSED : QK_AFFINE;
    case OP_MAXPOOL2D:
    case OP_GLOBALMAXPOOL2D: return QK_MAXPOOL;
    case OP_MINPOOL2D: return QK_MINPOOL;
    case OP_AVGPOOL2D:
    case OP_GLOBALAVGPOOL2D:
    case OP_MEAN: return QK_AVGPOOL;
    case OP_SUMPOOL2D: return QK_SUMPOOL;
    case OP_ADD: return QK_ADD;
    case OP_CONCAT: return QK_CONCAT;
    case OP_RELU:
    case OP_RELU6: return QK_CLAMP;
    case OP_SIGMOID:
    case OP_TANH:
    case OP_HARDSWISH:
    case OP_LEAKYRELU:
    case OP_HARDSIGMOID:
    case OP_SILU:
    case OP_GELU:
    case OP_ELU:
    case OP_HARDTANH: return QK_LUT;
    case OP_SOFTMAX: return QK_SOFTMAX;
    case OP_FLATTEN:
    case OP_DROPOUT: return QK_IDENTITY;
    case OP_MUL: return QK_MUL;
    case OP_PAD:
    case OP_UPSAMPLE: /* nearest: quant_has_int8 refuses bilinear */
    case OP_PIXELSHUFFLE: return QK_GATHER;
    case OP_PRELU: /* OPF_FLOAT_ONLY: refused before quantizing */
    case OP_CONVTRANSPOSE2D:
    case OP_COUNT: break;
    }
    unreachable();
}

/* A relu or relu6 whose input nothing else reads becomes the clamp of the
 * layer that computes that input (through a folded batchnorm). */
static void fuse_activation(Layer *l)
{
    Layer *p = l->in[0];
    Layer *host = p->quant->kind == QK_FUSED ? p->quant->fused_into : p;
    if (p->nusers != 1 || p->is_output || !takes_activation(host->quant) || host->quant->fused_act)
        return;
    l->quant->kind = QK_FUSED;
    l->quant->fused_into = host;
    host->quant->fused_act = l;
}

/* The layer whose range the host's stored tensor has: the last of its group. */
static const Layer *group_tail(const Layer *host)
{
    const QuantInfo *qi = host->quant;
    return qi->fused_act ? qi->fused_act : qi->fused_bn ? qi->fused_bn : host;
}

/* The int8 params of every tensor, in schedule order. Ops that only move
 * or compare values keep their input's params (TFLite's
 * restrict_same_input_output_scale); sigmoid, tanh and softmax have
 * TFLite's fixed output params; the rest take their calibrated range. */
static void choose_params(Layer *l)
{
    QuantInfo *qi = l->quant;
    const QuantInfo *in = l->nin ? l->in[0]->quant : NULL;
    qi->act_min = Q_MIN;
    qi->act_max = Q_MAX;
    switch (qi->kind) {
    case QK_FUSED:
        qi->out = qi->fused_into->quant->out;
        qi->act_min = qi->fused_into->quant->act_min;
        qi->act_max = qi->fused_into->quant->act_max;
        return;
    case QK_MAXPOOL:
    case QK_MINPOOL:
    case QK_AVGPOOL:
    case QK_IDENTITY:
    case QK_GATHER:
    case QK_MEAN: /* only imported models have it; their params come from the model */
        qi->out = in->out;
        return;
    case QK_CLAMP:
        qi->out = in->out;
        qi->act_min = quant_value(qi->out, 0.0f);
        if (l->op == OP_RELU6)
            qi->act_max = quant_value(qi->out, 6.0f);
        return;
    case QK_LUT:
        if (l->op == OP_SIGMOID)
            qi->out = (QParams){1.0f / 256, -128};
        else if (l->op == OP_TANH)
            qi->out = (QParams){1.0f / 128, 0};
        else
            qi->out = quant_params(qi->min, qi->max);
        return;
    case QK_SOFTMAX: qi->out = (QParams){1.0f / 256, -128}; return;
    case QK_QUANTIZE:
    case QK_MUL:
    case QK_CONCAT: qi->out = quant_params(qi->min, qi->max); return;
    case QK_CONV:
    case QK_LINEAR:
    case QK_AFFINE:
    case QK_ADD:
    case QK_SUMPOOL: {
        const Layer *tail = group_tail(l);
        qi->out = quant_params(tail->quant->min, tail->quant->max);
        if (qi->fused_act) {
            qi->act_min = quant_value(qi->out, 0.0f);
            if (qi->fused_act->op == OP_RELU6)
                qi->act_max = quant_value(qi->out, 6.0f);
        }
        return;
    }
    }
    unreachable();
}

/* ---- weights ---- */

/* A conv's or linear's float weights and bias, with a folded batchnorm
 * applied as emit.c applies it (in double, rounded once), so int8 starts
 * from the same floats as the float build. */
static void float_weights(Quant *q, const Layer *l, float **w, float **b)
{
    weights_folded(q->m, l, l->quant->fused_bn, w, b);
}

/* An unfolded batchnorm as one weight and one bias per channel:
 * y = x * g / sqrt(var + eps) + (beta - mean * g / sqrt(var + eps)). */
static void affine_weights(Quant *q, const Layer *l, float **w, float **b)
{
    int64_t c = l->shape.c;
    *w = mem_array(q->m, (size_t)c, sizeof **w);
    *b = mem_array(q->m, (size_t)c, sizeof **b);
    for (int64_t k = 0; k < c; k++) {
        double s = (double)l->tensor[0][k] / sqrt((double)l->tensor[3][k] + l->eps);
        (*w)[k] = (float)s;
        (*b)[k] = (float)((double)l->tensor[1][k] - (double)l->tensor[2][k] * s);
    }
}

/* Per-channel int8 weights, int32 bias and requantization multipliers
 * for a layer computing sum(w * (x - in_zp)) + bias per output channel. */
static void quantize_channels(Quant *q, Layer *l, const float *w, const float *b, int64_t nchan, int64_t per)
{
    QuantInfo *qi = l->quant;
    float in_scale = l->in[0]->quant->out.scale, out_scale = qi->out.scale;
    qi->nchan = nchan;
    qi->weight = mem_array(q->m, (size_t)(nchan * per), sizeof *qi->weight);
    qi->weight_scale = mem_array(q->m, (size_t)nchan, sizeof *qi->weight_scale);
    qi->bias = mem_array(q->m, (size_t)nchan, sizeof *qi->bias);
    qi->wsum = mem_array(q->m, (size_t)nchan, sizeof *qi->wsum);
    qi->mult = mem_array(q->m, (size_t)nchan, sizeof *qi->mult);
    qi->shift = mem_array(q->m, (size_t)nchan, sizeof *qi->shift);
    const double k_scale = (double)INT32_MAX;
    for (int64_t c = 0; c < nchan; c++) {
        const float *wc = w + c * per;
        float lo = wc[0], hi = wc[0];
        for (int64_t k = 1; k < per; k++) {
            lo = wc[k] < lo ? wc[k] : lo;
            hi = wc[k] > hi ? wc[k] : hi;
        }
        /* AdjustWeightsForBiasScale: keep the bias within half of int32 by
         * widening the weight range when it would not fit. */
        float wscale = fmaxf(fabsf(lo), fabsf(hi)) / (float)W_MAX;
        if (b && fabs((double)b[c]) >= 0.5 * in_scale * wscale * k_scale) {
            hi = (float)(2.0 * fabs((double)b[c]) / k_scale * (double)((float)W_MAX / in_scale));
            lo = -hi;
        }
        float half_range = fmaxf(fabsf(lo), fabsf(hi));
        wscale = half_range / (float)W_MAX;
        float inv = half_range == 0.0f ? 0.0f : (float)W_MAX / half_range;
        int32_t sum = 0;
        for (int64_t k = 0; k < per; k++) {
            int32_t v = to_int32((double)roundf(wc[k] * inv));
            v = clamp32(v, -W_MAX, W_MAX);
            qi->weight[c * per + k] = (int8_t)v;
            sum += v;
        }
        qi->weight_scale[c] = wscale;
        qi->wsum[c] = sum;
        /* SymmetricBiasQuantize: b * (float)(1 / scale), rounded, within +-INT32_MAX */
        float bscale = in_scale * wscale;
        float binv = bscale == 0.0f ? 0.0f : (float)(1.0 / (double)bscale);
        int32_t bq = b ? to_int32((double)roundf(b[c] * binv)) : 0;
        qi->bias[c] = bq < -INT32_MAX ? -INT32_MAX : bq;
        multiplier(q, l, (double)in_scale * (double)wscale / (double)out_scale, &qi->mult[c], &qi->shift[c]);
    }
}

/* TFLite's Add: both inputs shifted left by 20 bits and brought to the
 * common scale 2 * max(input scales), summed, then requantized. More than
 * two inputs share the rule (at most 15 fit the int32 sum). */
static void add_constants(Quant *q, Layer *l)
{
    QuantInfo *qi = l->quant;
    float top = 0.0f;
    for (int i = 0; i < l->nin; i++)
        top = fmaxf(top, l->in[i]->quant->out.scale);
    double twice_max = 2 * (double)top;
    qi->nin = l->nin;
    qi->left_shift = ADD_LEFT_SHIFT;
    qi->in_mult = mem_array(q->m, (size_t)l->nin, sizeof *qi->in_mult);
    qi->in_shift = mem_array(q->m, (size_t)l->nin, sizeof *qi->in_shift);
    for (int i = 0; i < l->nin; i++)
        multiplier(q, l, (double)l->in[i]->quant->out.scale / twice_max, &qi->in_mult[i], &qi->in_shift[i]);
    multiplier(q, l, twice_max / ((double)(1 << ADD_LEFT_SHIFT) * (double)qi->out.scale), &qi->out_mult,
               &qi->out_shift);
    if (l->nin > 15)
        diag_error(q->d, l->name_loc, "int8 add '%s' has %d inputs; at most 15 fit its 32-bit sum", l->name, l->nin);
}

/* Concat requantizes each input whose params differ from the output's
 * (TFLite inserts a requantize op there); the others are copied. */
static void concat_constants(Quant *q, Layer *l)
{
    QuantInfo *qi = l->quant;
    qi->nin = l->nin;
    qi->in_mult = mem_array(q->m, (size_t)l->nin, sizeof *qi->in_mult);
    qi->in_shift = mem_array(q->m, (size_t)l->nin, sizeof *qi->in_shift);
    qi->in_requant = mem_array(q->m, (size_t)l->nin, sizeof *qi->in_requant);
    for (int i = 0; i < l->nin; i++) {
        QParams p = l->in[i]->quant->out;
        qi->in_requant[i] = p.scale != qi->out.scale || p.zero_point != qi->out.zero_point;
        multiplier(q, l, (double)p.scale / (double)qi->out.scale, &qi->in_mult[i], &qi->in_shift[i]);
    }
}

/* TFLite's MUL: one multiplier for in0.scale * in1.scale / out.scale. */
static void mul_constants(Quant *q, Layer *l)
{
    QuantInfo *qi = l->quant;
    double real = (double)l->in[0]->quant->out.scale * (double)l->in[1]->quant->out.scale / (double)qi->out.scale;
    multiplier(q, l, real, &qi->out_mult, &qi->out_shift);
}

/* The float function of an elementwise op that goes through a table. */
static double lut_function(const Layer *l, double x)
{
    switch (l->op) {
    case OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case OP_TANH: return tanh(x);
    case OP_HARDSWISH: return x * fmin(fmax(x + 3.0, 0.0), 6.0) / 6.0;
    case OP_LEAKYRELU: return x < 0 ? x * l->slope : x;
    case OP_HARDSIGMOID: return fmin(fmax(l->alpha * x + l->beta, 0.0), 1.0);
    case OP_SILU: return x / (1.0 + exp(-x));
    case OP_GELU:
        if (l->gelu_tanh)
            return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
        return 0.5 * x * erfc(-x / sqrt(2.0));
    case OP_ELU: return x > 0 ? x : l->alpha * expm1(x);
    case OP_HARDTANH: return fmin(fmax(x, l->min_val), l->max_val);
    default: unreachable();
    }
}

/* Every int8 input's output: TFLM's integer kernel evaluated for each
 * (tflm.c) where TFLM has one, else as TFLite's LUTPopulate computes a
 * table: dequantize, apply the function, requantize (in float). */
static void lut_constants(Quant *q, Layer *l)
{
    QuantInfo *qi = l->quant;
    QParams in = l->in[0]->quant->out, out = qi->out;
    float inv = 1.0f / qi->out.scale;
    qi->lut = mem_array(q->m, 256, sizeof *qi->lut);
    const char *why = NULL;
    switch (l->op) {
    case OP_SIGMOID: why = tflm_lut_logistic(in.scale, in.zero_point, qi->lut); break;
    case OP_TANH: why = tflm_lut_tanh(in.scale, in.zero_point, qi->lut); break;
    case OP_HARDSWISH: why = tflm_lut_hard_swish(in.scale, in.zero_point, out.scale, out.zero_point, qi->lut); break;
    case OP_LEAKYRELU:
        why = tflm_lut_leaky_relu(in.scale, in.zero_point, out.scale, out.zero_point, (float)l->slope, qi->lut);
        break;
    case OP_RELU: why = tflm_lut_relu(in.scale, in.zero_point, out.scale, out.zero_point, qi->lut); break;
    case OP_RELU6: why = tflm_lut_relu6(in.scale, in.zero_point, out.scale, out.zero_point, qi->lut); break;
    default: break;
    }
    if (why)
        diag_error(q->d, l->name_loc, "int8 %s '%s': %s", ir_op_name(l->op), l->name, why);
    /* the rest as TFLite's LUTPopulate (its ELU and GELU kernels, and ours) */
    bool generic = l->op == OP_HARDSIGMOID || l->op == OP_SILU || l->op == OP_GELU || l->op == OP_ELU ||
                   l->op == OP_HARDTANH;
    if (!generic)
        return;
    for (int32_t v = Q_MIN; v <= Q_MAX; v++) {
        float x = in.scale * (float)(v - in.zero_point);
        float y = (float)lut_function(l, x);
        float r = roundf(y * inv);
        int32_t q8 = to_int32((double)r + qi->out.zero_point);
        qi->lut[v - Q_MIN] = (int8_t)clamp32(q8, Q_MIN, Q_MAX);
    }
}

/* Softmax as TFLM computes it (beta 1): its exp table by max - x, and a
 * sum that must fit TFLM's Q12.19 accumulator. */
static void softmax_constants(Quant *q, Layer *l)
{
    QuantInfo *qi = l->quant;
    TflmSoftmax sm;
    const char *why = tflm_softmax(l->in[0]->quant->out.scale, 1.0f, &sm);
    if (!why && l->shape.c >= 4096)
        why = "more than 4,095 channels overflow TFLM's 12-integer-bit sum";
    if (why) {
        diag_error(q->d, l->name_loc, "int8 softmax '%s': %s", l->name, why);
        return;
    }
    qi->exp_lut = mem_array(q->m, 256, sizeof *qi->exp_lut);
    memcpy(qi->exp_lut, sm.exp_lut, sizeof sm.exp_lut);
}

/* An imported mean: TFLM's MEAN constants over the H * W values of a channel. */
static void mean_constants(Quant *q, Layer *l)
{
    QuantInfo *qi = l->quant;
    QParams in = l->in[0]->quant->out;
    Shape s = l->in[0]->shape;
    TflmMean m;
    const char *why = tflm_mean(in.scale, in.zero_point, qi->out.scale, qi->out.zero_point, s.h * s.w, &m);
    if (why) {
        diag_error(q->d, l->name_loc, "int8 mean '%s': %s", l->name, why);
        return;
    }
    qi->mean_bias = m.bias;
    qi->out_mult = m.multiplier;
    qi->out_shift = m.shift;
}

/* The constants of one layer's kernel, its input's params being known. */
static void layer_constants(Quant *q, Layer *l)
{
    QuantInfo *qi = l->quant;
    float *w, *b;
    switch (qi->kind) {
    case QK_CONV:
        float_weights(q, l, &w, &b);
        quantize_channels(q, l, w, b, l->out, weights_numel(l, 0) / l->out);
        return;
    case QK_LINEAR:
        float_weights(q, l, &w, &b);
        quantize_channels(q, l, w, b, l->out, l->in[0]->shape.c);
        return;
    case QK_AFFINE:
        affine_weights(q, l, &w, &b);
        quantize_channels(q, l, w, b, l->shape.c, 1);
        return;
    case QK_SUMPOOL:
        multiplier(q, l, (double)l->in[0]->quant->out.scale / (double)qi->out.scale, &qi->out_mult, &qi->out_shift);
        return;
    case QK_ADD: add_constants(q, l); return;
    case QK_CONCAT: concat_constants(q, l); return;
    case QK_MUL: mul_constants(q, l); return;
    case QK_GATHER: qi->pad_q = quant_value(qi->out, (float)l->pad_value); return;
    case QK_LUT: lut_constants(q, l); return;
    case QK_SOFTMAX: softmax_constants(q, l); return;
    default: return;
    }
}

/* Kernels, params and constants for every layer from the calibrated ranges. */
static void quantize_net(Quant *q)
{
    Net *net = q->net;
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        l->quant->kind = kind_of(l);
        if (l->quant->kind == QK_FUSED) {
            l->quant->fused_into = l->fold_into;
            l->fold_into->quant->fused_bn = l;
        }
    }
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        if (l->quant->kind == QK_CLAMP)
            fuse_activation(l);
    }
    for (int i = 0; i < net->nlayers; i++)
        choose_params(net->layers[i]);
    for (int i = 0; i < net->nlayers; i++)
        layer_constants(q, net->layers[i]);
}

/* ---- calibration ---- */

/* Calibration runs the interpreter, so it needs a whole, analysed net. */
bool quant_has_int8(const Layer *l)
{
    return !(ir_ops[l->op].flags & OPF_FLOAT_ONLY) && !(l->op == OP_UPSAMPLE && l->bilinear);
}

/* Ops with no int8 form yet are refused, each with its line. */
static bool int8_ops(Quant *q)
{
    Net *net = q->net;
    int errors = q->d->errors;
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        if (!quant_has_int8(l))
            diag_error(q->d, l->name_loc, "%s '%s'%s has no int8 form yet; compile the model in float (without "
                       "--quantize)", ir_layer_op(l), l->name, l->op == OP_UPSAMPLE ? " with mode=bilinear" : "");
    }
    return q->d->errors == errors;
}

static bool ready(Quant *q)
{
    Net *net = q->net;
    if (!net || !net->input || q->d->errors || !int8_ops(q))
        return false;
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        if (!l->ok)
            return false;
        for (int k = 0; k < weights_count(l); k++)
            if (!l->tensor[k])
                die("internal error: quantizing '%s' before its weights are bound", l->name);
    }
    return true;
}

/* Ranges gathered so far, one input at a time, so that a large calibration
 * set never has to be in memory at once. */
typedef struct Calib {
    Quant q;
    QuantInfo *info; /* per layer: min and max so far */
    int64_t *bad;    /* per layer: the first input (from 1) that made it non-finite */
    int64_t count;
} Calib;

/* Empty ranges (min above max) for every layer, so any value widens them. */
static void calib_begin(Calib *c)
{
    Net *net = c->q.net;
    c->info = mem_array(c->q.m, (size_t)net->nlayers, sizeof *c->info);
    c->bad = mem_array(c->q.m, (size_t)net->nlayers, sizeof *c->bad);
    for (int i = 0; i < net->nlayers; i++) {
        c->info[i].min = INFINITY;
        c->info[i].max = -INFINITY;
    }
}

/* Runs one input through the float interpreter and widens every range. */
static void calib_add(Calib *c, const float *input)
{
    Net *net = c->q.net;
    Mem scratch = {0};
    float **t = interp_run(&scratch, net, input);
    c->count++;
    for (int i = 0; i < net->nlayers; i++) {
        QuantInfo *qi = &c->info[i];
        for (int64_t j = 0; j < numel(net->layers[i]->shape); j++) {
            float v = t[i][j];
            if (!isfinite(v)) {
                c->bad[i] = c->bad[i] ? c->bad[i] : c->count;
                continue;
            }
            qi->min = v < qi->min ? v : qi->min;
            qi->max = v > qi->max ? v : qi->max;
        }
    }
    mem_free(&scratch);
}

/* Hangs the ranges on the layers and quantizes, unless a tensor went
 * non-finite (reported where it first did, not downstream). */
static bool calib_end(Calib *c)
{
    Net *net = c->q.net;
    int errors = c->q.d->errors;
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        if (c->bad[i] && (i == 0 || !c->bad[l->in[0]->index]))
            diag_error(c->q.d, l->name_loc,
                       "calibration input %lld makes '%s' NaN or infinite; int8 needs finite ranges",
                       (long long)c->bad[i], l->name);
    }
    if (c->q.d->errors != errors)
        return false;
    for (int i = 0; i < net->nlayers; i++)
        net->layers[i]->quant = &c->info[i];
    quantize_net(&c->q);
    return c->q.d->errors == errors;
}

bool quant_calibrate_data(Mem *m, Diag *d, Net *net, const float *inputs, int64_t count)
{
    Calib c = {.q = {m, d, net}};
    if (!ready(&c.q))
        return false;
    if (count < 1) {
        diag_error(d, net->input->loc, "int8 calibration needs at least one input");
        return false;
    }
    int64_t n = numel(net->input->shape);
    calib_begin(&c);
    for (int64_t k = 0; k < count; k++)
        calib_add(&c, inputs + k * n);
    return calib_end(&c);
}

/* Decodes one input of raw float32 little-endian values, whatever the
 * host's byte order. */
static void decode_f32le(const unsigned char *p, float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++, p += 4) {
        uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        memcpy(&v[i], &bits, sizeof bits);
    }
}

/* A file of raw float32 inputs as its size says: whole inputs, the count
 * in *count, or an error naming the file and both sizes. */
static bool whole_inputs(Diag *d, const char *path, const char *what, const Net *net, size_t total, int64_t *count)
{
    Shape s = net->input->shape;
    size_t one = (size_t)(s.c * s.h * s.w) * sizeof(float);
    const char *order = net->hwc ? "HWC" : "CHW";
    if (total == 0) {
        diag_file_error(d, path, "%s is empty; it needs at least one %lldx%lldx%lld float32 input", what,
                        (long long)s.c, (long long)s.h, (long long)s.w);
        return false;
    }
    if (total % one) {
        diag_file_error(d, path,
                        "%s holds %zu bytes, not a whole number of %lldx%lldx%lld float32 inputs "
                        "(%zu bytes each, raw %s, concatenated)",
                        what, total, (long long)s.c, (long long)s.h, (long long)s.w, one, order);
        return false;
    }
    *count = (int64_t)(total / one);
    return true;
}

bool quant_check_inputs(Diag *d, const char *path, const char *what, const Net *net)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_file_error(d, path, "cannot open %s: %s", what, strerror(errno));
        return false;
    }
    bool seek = fseek(f, 0, SEEK_END) == 0;
    long size = seek ? ftell(f) : -1;
    fclose(f);
    int64_t count;
    return size < 0 || whole_inputs(d, path, what, net, (size_t)size, &count);
}

bool quant_each_input(Diag *d, const char *path, const char *what, const Net *net,
                      void (*fn)(void *ctx, const float *chw), void *ctx)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_file_error(d, path, "cannot open %s: %s", what, strerror(errno));
        return false;
    }
    Shape s = net->input->shape;
    int64_t n = numel(s), hw = s.h * s.w, count;
    size_t one = (size_t)n * sizeof(float), got, total = 0;
    unsigned char *bytes = malloc(one);
    float *input = malloc(one), *chw = malloc(one);
    if (!bytes || !input || !chw)
        die("out of memory");
    /* a first pass for the size, so nothing is run on a file that is wrong */
    while ((got = fread(bytes, 1, one, f)) > 0)
        total += got;
    bool ok = !ferror(f) && whole_inputs(d, path, what, net, total, &count);
    if (ferror(f))
        diag_file_error(d, path, "cannot read %s", what);
    rewind(f);
    for (int64_t k = 0; ok && k < count; k++) {
        if (fread(bytes, 1, one, f) != one) {
            diag_file_error(d, path, "cannot read %s", what);
            ok = false;
            break;
        }
        decode_f32le(bytes, input, n);
        for (int64_t c = 0; c < s.c; c++) /* the model's layout to the interpreters' CHW */
            for (int64_t p = 0; p < hw; p++)
                chw[c * hw + p] = net->hwc ? input[p * s.c + c] : input[c * hw + p];
        fn(ctx, chw);
    }
    fclose(f);
    free(bytes);
    free(input);
    free(chw);
    return ok;
}

/* calib_add as quant_each_input calls it. */
static void calib_one(void *ctx, const float *chw)
{
    calib_add(ctx, chw);
}

bool quant_calibrate(Mem *m, Diag *d, Net *net, const char *path)
{
    Calib c = {.q = {m, d, net}};
    if (!ready(&c.q))
        return false;
    calib_begin(&c);
    return quant_each_input(d, path, "calibration data", net, calib_one, &c) && calib_end(&c);
}

/* ---- an int8 model's own quantization ---- */

/* The params a layer's tensor has in an imported model: its own when it
 * gives them, else TFLite's fixed ones for sigmoid, tanh and softmax, else
 * its first input's (pools, relu, flatten...). False after reporting a
 * layer that breaks one of TFLite's rules for its op. */
static bool import_params(Quant *q, Layer *l)
{
    QuantInfo *qi = l->quant;
    QParams fixed = {0.0f, 0};
    bool has_fixed = l->op == OP_SIGMOID || l->op == OP_SOFTMAX || l->op == OP_TANH;
    if (has_fixed)
        fixed = l->op == OP_TANH ? (QParams){1.0f / 128, 0} : (QParams){1.0f / 256, -128};
    if (l->qgiven)
        qi->out = (QParams){l->qscale, l->qzero};
    else if (has_fixed)
        qi->out = fixed;
    else if (l->nin)
        qi->out = l->in[0]->quant->out;
    qi->act_min = Q_MIN;
    qi->act_max = Q_MAX;
    if (has_fixed && (qi->out.scale != fixed.scale || qi->out.zero_point != fixed.zero_point)) {
        diag_error(q->d, l->name_loc, "int8 %s '%s' must have scale %g and zero point %d (TFLite's), not %g and %d",
                   ir_op_name(l->op), l->name, (double)fixed.scale, (int)fixed.zero_point, (double)qi->out.scale,
                   (int)qi->out.zero_point);
        return false;
    }
    bool same = qi->kind == QK_MAXPOOL || qi->kind == QK_MINPOOL || qi->kind == QK_AVGPOOL ||
                qi->kind == QK_IDENTITY || qi->kind == QK_CONCAT || qi->kind == QK_GATHER;
    for (int k = 0; same && k < l->nin; k++) {
        QParams in = l->in[k]->quant->out;
        if (in.scale != qi->out.scale || in.zero_point != qi->out.zero_point) {
            diag_error(q->d, l->name_loc,
                       "int8 %s '%s' must keep its input%s scale and zero point (TFLite's rule): '%s' has %g and %d, "
                       "'%s' %g and %d",
                       ir_op_name(l->op), l->name, l->nin > 1 ? "s'" : "'s", l->in[k]->name, (double)in.scale,
                       (int)in.zero_point, l->name, (double)qi->out.scale, (int)qi->out.zero_point);
            return false;
        }
    }
    return true;
}

/* A conv's or linear's stored weights: the constants of its kernel, and
 * the float weights they stand for (for the float interpreter). TFLite's
 * multipliers: in_scale * weight_scale / out_scale in double. */
static void import_weights(Quant *q, Layer *l)
{
    QuantInfo *qi = l->quant;
    int64_t nchan = l->out, per = weights_numel(l, 0) / l->out;
    float in_scale = l->in[0]->quant->out.scale, out_scale = qi->out.scale;
    qi->nchan = nchan;
    qi->weight = l->qweight;
    qi->weight_scale = mem_array(q->m, (size_t)nchan, sizeof *qi->weight_scale);
    qi->bias = l->qbias ? l->qbias : mem_array(q->m, (size_t)nchan, sizeof *qi->bias);
    qi->wsum = mem_array(q->m, (size_t)nchan, sizeof *qi->wsum);
    qi->mult = mem_array(q->m, (size_t)nchan, sizeof *qi->mult);
    qi->shift = mem_array(q->m, (size_t)nchan, sizeof *qi->shift);
    float *w = l->tensor[0] = mem_array(q->m, (size_t)(nchan * per), sizeof(float));
    float *b = l->bias ? (l->tensor[1] = mem_array(q->m, (size_t)nchan, sizeof(float))) : NULL;
    for (int64_t c = 0; c < nchan; c++) {
        float ws = l->qwscale[l->nqwscale == 1 ? 0 : c];
        int32_t sum = 0;
        for (int64_t k = 0; k < per; k++) {
            sum += qi->weight[c * per + k];
            w[c * per + k] = (float)((double)ws * qi->weight[c * per + k]);
        }
        qi->weight_scale[c] = ws;
        qi->wsum[c] = sum;
        if (b)
            b[c] = (float)((double)in_scale * ws * qi->bias[c]);
        multiplier(q, l, (double)in_scale * (double)ws / (double)out_scale, &qi->mult[c], &qi->shift[c]);
    }
}

/* Kinds, params and constants of an imported model, in schedule order. */
static bool import_net(Quant *q)
{
    Net *net = q->net;
    int errors = q->d->errors;
    for (int i = 0; i < net->nlayers && q->d->errors == errors; i++) {
        Layer *l = net->layers[i];
        QuantInfo *qi = l->quant;
        if (l->op == OP_BATCHNORM2D) {
            diag_error(q->d, l->name_loc,
                       "batchnorm2d '%s' has no int8 form of its own; fold it into the conv before quantizing", l->name);
            break;
        }
        qi->kind = l->op == OP_MEAN ? QK_MEAN : kind_of(l);
        if (!import_params(q, l))
            break;
        QParams from = l->nin ? l->in[0]->quant->out : qi->out;
        if (qi->kind == QK_CLAMP && (from.scale != qi->out.scale || from.zero_point != qi->out.zero_point))
            qi->kind = QK_LUT; /* a relu that rescales: TFLM's ReluQuantized, as a table */
        qi->min = qi->out.scale * (float)(Q_MIN - qi->out.zero_point);
        qi->max = qi->out.scale * (float)(Q_MAX - qi->out.zero_point);
        switch (qi->kind) {
        case QK_CONV:
        case QK_LINEAR: import_weights(q, l); break;
        case QK_CLAMP:
            qi->act_min = quant_value(qi->out, 0.0f);
            if (l->op == OP_RELU6)
                qi->act_max = quant_value(qi->out, 6.0f);
            break;
        case QK_MEAN: mean_constants(q, l); break;
        case QK_SUMPOOL:
            multiplier(q, l, (double)l->in[0]->quant->out.scale / (double)qi->out.scale, &qi->out_mult,
                       &qi->out_shift);
            break;
        case QK_ADD: add_constants(q, l); break;
        case QK_CONCAT: concat_constants(q, l); break;
        case QK_MUL: mul_constants(q, l); break;
        case QK_GATHER: qi->pad_q = quant_value(qi->out, (float)l->pad_value); break;
        case QK_LUT: lut_constants(q, l); break;
        case QK_SOFTMAX: softmax_constants(q, l); break;
        default: break;
        }
    }
    if (q->d->errors != errors)
        return false;
    /* relu and relu6 on a requantizing kernel's output: its clamp */
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        if (l->quant->kind == QK_CLAMP) {
            fuse_activation(l);
            if (l->quant->kind == QK_FUSED) {
                QuantInfo *host = l->quant->fused_into->quant;
                host->act_min = l->quant->act_min > host->act_min ? l->quant->act_min : host->act_min;
                host->act_max = l->quant->act_max < host->act_max ? l->quant->act_max : host->act_max;
            }
        }
    }
    return true;
}

bool quant_import(Mem *m, Diag *d, Net *net)
{
    Quant q = {m, d, net};
    if (!net || !net->input || !net->quantized || d->errors || !int8_ops(&q))
        return false;
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        if (!l->ok)
            return false;
        if ((l->op == OP_CONV2D || l->op == OP_LINEAR) && !l->qweight)
            die("internal error: importing '%s' before its int8 weights are bound", l->name);
        l->quant = mem_alloc(m, sizeof *l->quant);
    }
    return import_net(&q);
}

/* ---- report ---- */

static const char *const kind_names[] = {
    [QK_QUANTIZE] = "quantize", [QK_CONV] = "conv",        [QK_LINEAR] = "linear",   [QK_AFFINE] = "affine",
    [QK_MAXPOOL] = "maxpool",   [QK_MINPOOL] = "minpool",  [QK_AVGPOOL] = "avgpool", [QK_SUMPOOL] = "sumpool",
    [QK_ADD] = "add",           [QK_CONCAT] = "concat",    [QK_CLAMP] = "clamp",     [QK_LUT] = "lut",
    [QK_SOFTMAX] = "softmax",   [QK_MEAN] = "mean",        [QK_IDENTITY] = "identity", [QK_FUSED] = "fused",
    [QK_MUL] = "mul",           [QK_GATHER] = "gather",
};

/* Per-channel weight scales as their smallest and largest. */
static void weight_note(const QuantInfo *qi, char *buf, size_t len)
{
    float lo = qi->weight_scale[0], hi = lo;
    for (int64_t c = 1; c < qi->nchan; c++) {
        lo = fminf(lo, qi->weight_scale[c]);
        hi = fmaxf(hi, qi->weight_scale[c]);
    }
    snprintf(buf, len, "w %.3g..%.3g", lo, hi);
}

/* Flash the int8 constants of a layer take: weights, bias, multipliers, tables. */
static int64_t constant_bytes(const Layer *l)
{
    const QuantInfo *qi = l->quant;
    int64_t per = qi->kind == QK_CONV ? weights_numel(l, 0) / l->out : qi->kind == QK_LINEAR ? l->in[0]->shape.c : 1;
    int64_t bytes = qi->nchan * (per + 4 * 3); /* weights, and bias, mult, shift per channel */
    if (qi->lut)
        bytes += 256;
    if (qi->exp_lut)
        bytes += 256 * 4;
    return bytes;
}

void quant_report(Net *net, FILE *out)
{
    int width = 5;
    for (int i = 0; i < net->nlayers; i++)
        width = (int)strlen(net->layers[i]->name) > width ? (int)strlen(net->layers[i]->name) : width;
    fprintf(out, "%-*s  %-15s %-9s %-14s %5s  %-25s %-9s %s\n", width, "layer", "op", "int8", "scale", "zp",
            "range", "clamp", "note");
    int64_t bytes = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        const QuantInfo *qi = l->quant;
        if (!qi)
            continue;
        char range[64], clamp[24], note[160] = "";
        snprintf(range, sizeof range, "[%.6g, %.6g]", qi->min, qi->max);
        snprintf(clamp, sizeof clamp, "%d..%d", (int)qi->act_min, (int)qi->act_max);
        if (qi->kind == QK_FUSED)
            snprintf(note, sizeof note, "in %s", qi->fused_into->name);
        else if (qi->nchan)
            weight_note(qi, note, sizeof note);
        if (qi->fused_bn || qi->fused_act) {
            size_t o = strlen(note);
            snprintf(note + o, sizeof note - o, "%s+%s%s%s", o ? " " : "", qi->fused_bn ? qi->fused_bn->name : "",
                     qi->fused_bn && qi->fused_act ? "+" : "", qi->fused_act ? qi->fused_act->name : "");
        }
        char line[512];
        int n = snprintf(line, sizeof line, "%-*s  %-15s %-9s %-14.8g %5d  %-25s %-9s %s", width, l->name,
                         ir_op_name(l->op), kind_names[qi->kind], qi->out.scale, (int)qi->out.zero_point, range,
                         clamp, note);
        n = n < (int)sizeof line ? n : (int)sizeof line - 1;
        while (n > 0 && line[n - 1] == ' ')
            line[--n] = '\0'; /* no trailing blanks when there is no note */
        fprintf(out, "%s\n", line);
        bytes += constant_bytes(l);
    }
    /* the generated code's count once it is planned: its kernels pack and pad */
    if (net->q8)
        bytes = q8_constant_bytes(net->q8);
    char buf[32];
    fprintf(out, "int8 constants %s B (weights, int32 bias, multipliers, tables)\n",
            report_thousands(bytes, buf, sizeof buf));
}
