/* tflm.c: TensorFlow Lite Micro's reference int8 arithmetic for the ops
 * whose kernels are more than a requantization: LOGISTIC, TANH,
 * HARD_SWISH, LEAKY_RELU, the requantizing RELUs, QUANTIZE, SOFTMAX and
 * MEAN. Elementwise ops become 256-entry tables, each entry the integer
 * algorithm of TFLM's kernel run on that input value; softmax and mean
 * become the constants of runtime/cnnc_q8.h's TFLM kernels.
 *
 * Each function reproduces one TFLM Prepare (the kernel's
 * *_common.cc / *.cc in tensorflow/lite/micro/kernels) and its kernel
 * (tensorflow/lite/kernels/internal/reference): float arithmetic where
 * TFLM's is float, double where it is double. The fixed point is
 * gemmlowp's (fixedpoint/fixedpoint.h) on runtime/cnnc_q8.h's primitives,
 * so tables and kernels share one implementation of SRDHM and
 * RoundingDivideByPOT. QuantizeMultiplier is quant.c's.
 *
 * Where TFLM is undefined (a C++ shift by a negative amount, 1 << 31) or
 * would abort (TFLITE_CHECK), the functions return a message instead; for
 * the parameters any converter writes they all succeed. */
#include "tflm.h"

#include "cnnc.h"

#include "../runtime/cnnc_q8.h"

#include <math.h>

enum { Q_MIN = -128, Q_MAX = 127 };

/* ---- gemmlowp's fixed-point functions ---- */

/* exp_on_interval_between_negative_one_quarter_and_0_excl: e^a for a in
 * [-1/4, 0) (Q0.31), a Taylor expansion around -1/8. */
static int32_t exp_quarter(int32_t a)
{
    const int32_t e_minus_one_eighth = 1895147668, one_third = 715827883;
    int32_t x = a + ((int32_t)1 << 28);
    int32_t x2 = cnnc_q_srdhm(x, x), x3 = cnnc_q_srdhm(x2, x), x4 = cnnc_q_srdhm(x2, x2);
    int32_t x4_over_4 = cnnc_q_rdbpot(x4, 2);
    int32_t poly = cnnc_q_rdbpot(cnnc_q_srdhm(x4_over_4 + x3, one_third) + x2, 1);
    return e_minus_one_eighth + cnnc_q_srdhm(e_minus_one_eighth, x + poly);
}

/* gemmlowp's exp_on_negative_values: e^(a mod 1/4 - 1/4) by exp_quarter,
 * then one multiply by e^(-2^k) per bit k of the remainder (the barrel
 * shifter), 0 below -32 and exactly 1 at 0. */
int32_t tflm_exp_on_negative_values(int32_t a, int integer_bits)
{
    static const int32_t exp_minus_pot[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    if (integer_bits < 0 || integer_bits > 29)
        unreachable();
    int frac = 31 - integer_bits;
    int32_t quarter = (int32_t)1 << (frac - 2);
    int32_t mod_minus_quarter = (a & (quarter - 1)) - quarter;
    int32_t rescaled = integer_bits ? cnnc_q_sat_shl(mod_minus_quarter, integer_bits) : mod_minus_quarter;
    int32_t result = exp_quarter(rescaled);
    int32_t remainder = mod_minus_quarter - a;
    for (int k = -2; k <= 4; k++)
        if (integer_bits > k && (remainder & ((int32_t)1 << (frac + k))))
            result = cnnc_q_srdhm(result, exp_minus_pot[k + 2]);
    if (integer_bits > 5 && a < -((int32_t)1 << (36 - integer_bits)))
        result = 0;
    return a == 0 ? INT32_MAX : result;
}

/* gemmlowp's logistic on Q4.27: 1 / (1 + e^-|a|), mirrored for a < 0. */
int32_t tflm_logistic_q4(int32_t a)
{
    if (a == 0)
        return (int32_t)1 << 30;
    int32_t positive = cnnc_q_one_over_one_plus_x(tflm_exp_on_negative_values(a > 0 ? -a : a, 4));
    return a > 0 ? positive : INT32_MAX - positive;
}

/* gemmlowp's tanh on Q4.27: (1 - e^-2|a|) / (1 + e^-2|a|), odd. The
 * doubling is gemmlowp's ExactMulByPot<1>: the same raw value read as
 * Q5.26. */
int32_t tflm_tanh_q4(int32_t a)
{
    if (a == 0)
        return 0;
    int32_t e = tflm_exp_on_negative_values(a < 0 ? a : -a, 5);
    /* one_minus_x_over_one_plus_x_for_x_in_0_1 */
    int32_t t = cnnc_q_sat_shl(cnnc_q_newton_inverse(cnnc_q_half_sum(e, INT32_MAX)) - ((int32_t)1 << 29), 2);
    return a < 0 ? (int32_t)(0u - (uint32_t)t) : t;
}

/* ---- parameters ---- */

/* Why a tensor's params cannot be TFLite's int8 ones, or NULL. */
static const char *check_tensor(float scale, int32_t zp)
{
    if (!(scale > 0.0f) || isinf(scale))
        return "scale must be positive and finite";
    if (zp < Q_MIN || zp > Q_MAX)
        return "zero point outside -128..127";
    return NULL;
}

/* The first problem of an input and an output tensor's params. */
static const char *check_pair(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp)
{
    const char *msg = check_tensor(in_scale, in_zp);
    return msg ? msg : check_tensor(out_scale, out_zp);
}

/* quant.c's QuantizeMultiplier, and whether MultiplyByQuantizedMultiplier
 * can apply it: a left shift past 30 overflows TFLM's x * (1 << shift). */
static bool multiplier(double m, int32_t *mult, int32_t *shift)
{
    quant_multiplier(m, mult, shift);
    return *shift <= 30;
}

/* TFLite's CalculateInputRadius(integer_bits, left_shift, 31): the largest
 * |x - zero point| whose rescaled value stays inside the fixed-point range
 * (floor of (2^ib - 1) * 2^(31 - ib) / 2^shift, in double). */
static int32_t input_radius(int integer_bits, int shift)
{
    double r = floor(ldexp((double)((1 << integer_bits) - 1) * (double)(1LL << (31 - integer_bits)), -shift));
    return r >= 2147483647.0 ? INT32_MAX : (int32_t)r;
}

/* v within [lo, hi]. */
static int32_t clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* zp + (int32_t)roundf(f / scale), saturated: TFLite's quantized
 * activation bound (CalculateReluOpData), without the cast's undefined
 * behaviour for huge f. */
static int32_t activation_bound(float f, float scale, int32_t zp)
{
    float q = roundf(f / scale);
    if (q >= 2147483520.0f) /* the largest float below 2^31 */
        return INT32_MAX;
    if (q <= -2147483648.0f)
        return INT32_MIN;
    int64_t v = (int64_t)zp + (int64_t)q;
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

/* The table of y = clamp(out_zp + MultiplyByQuantizedMultiplier(x - in_zp,
 * mult, shift), lo, hi), with the (neg_mult, neg_shift) multiplier for
 * x < in_zp: TFLM's Requantize, ReluQuantized and QuantizeLeakyRelu. */
static void requant_lut(int32_t in_zp, int32_t mult, int32_t shift, int32_t neg_mult, int32_t neg_shift,
                        int32_t out_zp, int32_t lo, int32_t hi, int8_t lut[256])
{
    for (int32_t x = Q_MIN; x <= Q_MAX; x++) {
        int32_t d = x - in_zp;
        int32_t y = d >= 0 ? cnnc_q_requant(d, mult, shift) : cnnc_q_requant(d, neg_mult, neg_shift);
        lut[x - Q_MIN] = (int8_t)clamp32(out_zp + y, lo, hi);
    }
}

/* ---- tables ---- */

/* LOGISTIC and TANH (logistic_common.cc, tanh.cc; integer_ops/logistic.h,
 * tanh.h): the input rescaled to Q4.27 by frexp's multiplier of
 * scale * 2^27 (not QuantizeMultiplier: no rounding-up fix), inputs
 * beyond the radius saturated, gemmlowp's function, rounded to 1/256 with
 * zero point -128 (logistic) or to 1/128 with zero point 0 (tanh). */
static const char *sigmoid_lut(float in_scale, int32_t in_zp, bool tanh_op, int8_t lut[256])
{
    const char *msg = check_tensor(in_scale, in_zp);
    if (msg)
        return msg;
    int shift;
    double q = frexp((double)in_scale * (double)(1 << 27), &shift);
    if (shift < -31)
        return "input scale too small for 32-bit rescaling";
    int64_t fixed = (int64_t)round(q * 2147483648.0);
    if (fixed >= INT64_C(1) << 31) /* a float scale has 24 bits: q * 2^31 is an integer */
        unreachable();
    int32_t mult = (int32_t)fixed, radius = input_radius(4, shift);
    for (int32_t x = Q_MIN; x <= Q_MAX; x++) {
        int32_t d = x - in_zp, y;
        if (d <= -radius) {
            y = Q_MIN;
        } else if (d >= radius) {
            y = Q_MAX;
        } else {
            /* |d| < radius keeps d * 2^shift inside int32 */
            int32_t q4 = cnnc_q_requant(d, mult, shift);
            y = tanh_op ? cnnc_q_rdbpot(tflm_tanh_q4(q4), 24) : cnnc_q_rdbpot(tflm_logistic_q4(q4), 23) - 128;
            y = clamp32(y, Q_MIN, Q_MAX);
        }
        lut[x - Q_MIN] = (int8_t)y;
    }
    return NULL;
}

/* TFLM's LOGISTIC (LogisticPrepare, reference_integer_ops::Logistic). */
const char *tflm_lut_logistic(float in_scale, int32_t in_zp, int8_t lut[256])
{
    return sigmoid_lut(in_scale, in_zp, false, lut);
}

/* TFLM's TANH (TanhPrepare, reference_integer_ops::Tanh). */
const char *tflm_lut_tanh(float in_scale, int32_t in_zp, int8_t lut[256])
{
    return sigmoid_lut(in_scale, in_zp, true, lut);
}

/* x as int16_t, wrapping: what a C++ conversion to int16_t does on every
 * compiler TFLM runs on. */
static int16_t wrap16(int32_t x)
{
    uint32_t u = (uint32_t)x & 0xffffu;
    return (int16_t)(u >= 0x8000u ? (int32_t)u - 0x10000 : (int32_t)u);
}

/* gemmlowp's SaturatingRoundingDoublingHighMul for int16. */
static int16_t srdhm16(int16_t a, int16_t b)
{
    if (a == INT16_MIN && b == INT16_MIN)
        return INT16_MAX;
    int32_t ab = (int32_t)a * b;
    int32_t nudge = ab >= 0 ? (1 << 14) : 1 - (1 << 14);
    return (int16_t)((ab + nudge) / (1 << 15));
}

/* TFLite's SaturatingDoublingHighMul (hard_swish.h): as srdhm16 but
 * truncating towards zero. */
static int16_t sdhm16(int16_t a, int16_t b)
{
    if (a == INT16_MIN && b == INT16_MIN)
        return INT16_MAX;
    return (int16_t)(((int32_t)a * b) / (1 << 15));
}

/* TFLite's SaturatingLeftShift (hard_swish.h): value * 2^amount saturated
 * to int16. */
static int16_t sat_shl16(int16_t value, int amount)
{
    int64_t r = (int64_t)value * ((int64_t)1 << amount);
    return (int16_t)(r > INT16_MAX ? INT16_MAX : r < INT16_MIN ? INT16_MIN : r);
}

/* gemmlowp's RoundingDivideByPOT on int16, with its int16 mask (for an
 * exponent of 16 or more the mask's low 16 bits are all ones). */
static int16_t rdbpot16(int16_t x, int exponent)
{
    int16_t mask = wrap16((int32_t)(((int64_t)1 << exponent) - 1));
    int16_t remainder = wrap16(x & mask);
    int16_t threshold = wrap16(cnnc_q_asr(mask, 1) + (x < 0 ? 1 : 0));
    return wrap16(cnnc_q_asr(x, exponent) + (remainder > threshold ? 1 : 0));
}

/* TFLite's DownScaleInt32ToInt16Multiplier: a Q31 multiplier rounded to Q15. */
static int16_t downscale16(int32_t m)
{
    if (m >= INT32_MAX - (1 << 15))
        return INT16_MAX;
    return (int16_t)((m + (1 << 15)) >> 16);
}

/* TFLM's HARD_SWISH (HardSwishPrepare, reference_ops::HardSwish): x on a
 * 2^7 finer input scale, times a "relu-ish" factor in [0, 1] from x on the
 * scale where 3.0 is 32768, all in int16 fixed point. Prepare divides in
 * float and requires the output multiplier below 1. */
const char *tflm_lut_hard_swish(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t lut[256])
{
    const char *msg = check_pair(in_scale, in_zp, out_scale, out_zp);
    if (msg)
        return msg;
    const float hires_input_scale = (1.0f / 128.0f) * in_scale;
    const float reluish_scale = 3.0f / 32768.0f;
    const float out_ratio = hires_input_scale / out_scale, reluish_ratio = hires_input_scale / reluish_scale;
    int32_t out_mult, out_exp, reluish_mult, reluish_exp;
    quant_multiplier((double)out_ratio, &out_mult, &out_exp);
    quant_multiplier((double)reluish_ratio, &reluish_mult, &reluish_exp);
    if (out_exp > 0)
        return "hard_swish output scale below 1/128 of the input scale";
    if (reluish_exp > 31)
        return "hard_swish input scale too large";
    int16_t out_mult16 = downscale16(out_mult), reluish_mult16 = downscale16(reluish_mult);
    for (int32_t x = Q_MIN; x <= Q_MAX; x++) {
        int16_t hires = wrap16((x - in_zp) * 128);
        int16_t preshift_output = srdhm16(hires, out_mult16);
        int16_t reluish = hires;
        if (reluish_exp > 0)
            reluish = sat_shl16(reluish, reluish_exp - 1);
        reluish = srdhm16(reluish, reluish_mult16);
        if (reluish_exp > 0)
            reluish = sat_shl16(reluish, 1);
        if (reluish_exp < 0)
            reluish = rdbpot16(reluish, -reluish_exp);
        reluish = wrap16((reluish + (1 << 15)) >> 1);
        int16_t y = rdbpot16(sdhm16(reluish, preshift_output), -out_exp);
        y = wrap16(y + out_zp);
        lut[x - Q_MIN] = (int8_t)clamp32(y, Q_MIN, Q_MAX);
    }
    return NULL;
}

/* TFLM's LEAKY_RELU (CalculateOpDataLeakyRelu, QuantizeLeakyRelu): one
 * requantization for x >= zero point, one with alpha below; both
 * multipliers computed in float (scale * alpha / scale, scale / scale). */
const char *tflm_lut_leaky_relu(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, float alpha,
                                int8_t lut[256])
{
    const char *msg = check_pair(in_scale, in_zp, out_scale, out_zp);
    if (msg)
        return msg;
    if (!isfinite(alpha))
        return "alpha must be finite";
    const float scaled_alpha = in_scale * alpha;
    const float alpha_ratio = scaled_alpha / out_scale, identity_ratio = in_scale / out_scale;
    int32_t alpha_mult, alpha_shift, identity_mult, identity_shift;
    if (!multiplier((double)alpha_ratio, &alpha_mult, &alpha_shift) ||
        !multiplier((double)identity_ratio, &identity_mult, &identity_shift))
        return "leaky_relu rescales by 2^30 or more";
    requant_lut(in_zp, identity_mult, identity_shift, alpha_mult, alpha_shift, out_zp, Q_MIN, Q_MAX, lut);
    return NULL;
}

/* TFLM's CalculateReluOpData and ReluQuantized for the real range
 * [lo, hi]: requantized by in / out scale (in double), clamped to the
 * range's quantized bounds (zp + roundf(bound / out scale)). */
const char *tflm_lut_relu_range(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, float lo, float hi,
                                int8_t lut[256])
{
    const char *msg = check_pair(in_scale, in_zp, out_scale, out_zp);
    if (msg)
        return msg;
    if (isnan(lo) || isnan(hi) || !(lo <= hi))
        return "activation range must be an interval";
    int32_t mult, shift;
    if (!multiplier((double)in_scale / (double)out_scale, &mult, &shift))
        return "relu rescales by 2^30 or more";
    int32_t qlo = isinf(lo) ? Q_MIN : clamp32(activation_bound(lo, out_scale, out_zp), Q_MIN, Q_MAX);
    int32_t qhi = isinf(hi) ? Q_MAX : clamp32(activation_bound(hi, out_scale, out_zp), Q_MIN, Q_MAX);
    requant_lut(in_zp, mult, shift, mult, shift, out_zp, qlo, qhi, lut);
    return NULL;
}

/* TFLM's RELU (ReluPrepare, ReluQuantized): [0, inf). */
const char *tflm_lut_relu(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t lut[256])
{
    return tflm_lut_relu_range(in_scale, in_zp, out_scale, out_zp, 0.0f, INFINITY, lut);
}

/* RELU6 as TFLite's QuantizedReluX(0, 6) requantizes it. TFLM's own RELU6
 * kernel clamps in the input's domain, to [zp, zp + round(6 / scale)] of
 * the input, and ignores the output's params; with equal params (the
 * converter's choice) the two agree byte for byte (test_tflm checks it
 * over many scales), and only this one means what the output params say
 * when they differ. */
const char *tflm_lut_relu6(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t lut[256])
{
    return tflm_lut_relu_range(in_scale, in_zp, out_scale, out_zp, 0.0f, 6.0f, lut);
}

/* RELU_N1_TO_1 as TFLite's QuantizedReluX(-1, 1) (TFLM has no kernel). */
const char *tflm_lut_relu_n1_to_1(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t lut[256])
{
    return tflm_lut_relu_range(in_scale, in_zp, out_scale, out_zp, -1.0f, 1.0f, lut);
}

/* TFLM's QUANTIZE from int8 to int8 (PrepareQuantizeReference,
 * reference_ops::Requantize): in / out scale in double. */
const char *tflm_lut_quantize(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t lut[256])
{
    const char *msg = check_pair(in_scale, in_zp, out_scale, out_zp);
    if (msg)
        return msg;
    int32_t mult, shift;
    if (!multiplier((double)in_scale / (double)out_scale, &mult, &shift))
        return "quantize rescales by 2^30 or more";
    requant_lut(in_zp, mult, shift, mult, shift, out_zp, Q_MIN, Q_MAX, lut);
    return NULL;
}

/* ---- kernel constants ---- */

/* TFLM's SOFTMAX for int8 (CalculateSoftmaxParams: PreprocessSoftmaxScaling
 * with 5 integer bits, CalculateInputRadius) and the exp of every input
 * difference the kernel can meet, x - max = -d: the difference times
 * 2^left_shift, SRDHM by the multiplier (MultiplyByQuantizedMultiplier-
 * GreaterThanOne) read as Q5.26, exp_on_negative_values. */
const char *tflm_softmax(float in_scale, float beta, TflmSoftmax *sm)
{
    const char *msg = check_tensor(in_scale, 0);
    if (msg)
        return msg;
    if (!(beta > 0.0f) || isinf(beta))
        return "beta must be positive and finite";
    double real = (double)beta * (double)in_scale * (double)(1 << 26);
    if (real > 2147483647.0)
        real = 2147483647.0;
    if (!(real > 1.0)) /* TFLM's QuantizeMultiplierGreaterThanOne check */
        return "softmax beta * input scale below 2^-26";
    int32_t mult, shift;
    quant_multiplier(real, &mult, &shift);
    sm->input_multiplier = mult;
    sm->input_left_shift = shift;
    sm->diff_min = -input_radius(5, shift);
    for (int32_t d = 0; d < 256; d++) {
        if (-d < sm->diff_min) {
            sm->exp_lut[d] = 0;
            continue;
        }
        /* d <= radius keeps d * 2^shift below 31 * 2^26 */
        int32_t scaled = (int32_t)(0u - ((uint32_t)d << shift));
        sm->exp_lut[d] = tflm_exp_on_negative_values(cnnc_q_srdhm(scaled, mult), 5);
    }
    return NULL;
}

/* TFLM's MEAN for int8 (PrepareMeanOrSumHelper, QuantizedMeanOrSum):
 * QuantizeMultiplier of in / out scale (double), 1 / count folded into it
 * as an integer division after a left shift by floor(log2 count) (at most
 * 32 and 31 + shift). The unfolded multiplier is reference_integer_ops::
 * Mean's, which rescales the sum first and divides after: the TFLite
 * interpreter's kernel for a 4-D MEAN over H, W with keep_dims, and older
 * TFLM releases' (current TFLM and CMSIS-NN's arm_mean_s8 fold). count is
 * limited so that the int32 sum of the values cannot overflow. */
const char *tflm_mean(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int64_t count, TflmMean *m)
{
    const char *msg = check_pair(in_scale, in_zp, out_scale, out_zp);
    if (msg)
        return msg;
    if (count < 1)
        return "mean over no values";
    if (count > (INT64_C(1) << 24) - 1)
        return "mean over more than 16777215 values overflows its 32-bit sum";
    int32_t mult, shift;
    quant_multiplier((double)in_scale / (double)out_scale, &mult, &shift);
    int s = 0;
    while ((INT64_C(2) << s) <= count)
        s++; /* floor(log2 count) = 63 - CountLeadingZeros(count) */
    s = s < 32 ? s : 32;
    s = s < 31 + shift ? s : 31 + shift;
    int32_t folded = (int32_t)(((int64_t)mult << s) / count);
    if (shift > 30)
        return "mean rescales by 2^30 or more";
    m->count = (int32_t)count;
    m->bias = (int32_t)(-(int64_t)in_zp * count); /* |zp * count| < 2^31 */
    m->multiplier = folded;
    m->shift = shift - s;
    m->rescale_multiplier = mult;
    m->rescale_shift = shift;
    m->input_zero_point = in_zp;
    m->output_zero_point = out_zp;
    return NULL;
}
