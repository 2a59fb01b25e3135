/* test_tflm.c: compiler/tflm.c and the TFLM block of runtime/cnnc_q8.h.
 *
 * Three kinds of evidence that the tables and kernels are TensorFlow Lite
 * Micro's arithmetic:
 *  - golden vectors of TensorFlow's own kernel tests, transcribed with the
 *    file they come from, checked with that test's tolerance (exact where
 *    the test asserts exact int8 outputs);
 *  - an oracle written here from the reference kernels' text, statement by
 *    statement (ref_*: gemmlowp's primitives as gemmlowp writes them, with
 *    its nudge and truncating division, over which Prepare and kernel are
 *    transcribed), compared byte for byte with the tables over thousands
 *    of random tensor params;
 *  - properties: the gemmlowp primitives against wide-integer and double
 *    definitions over their whole domains (sampled where 2^31 is too
 *    many), monotonic and symmetric tables, softmax rows summing to 256,
 *    the float functions within a step, and the runtime block built with
 *    the generated code's strict flags for every target, giving the same
 *    bits on an emulated Cortex-M4 as on the host. */
#include "testutil.h"

#include <math.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnc_q8.h"
#include "tflm.h"

/* ---- helpers ---- */

/* xorshift64*: reproducible random numbers from a nonzero seed. */
static uint64_t next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(0x2545f4914f6cdd1d);
}

/* A uniform double in [0, 1). */
static double uniform(uint64_t *s)
{
    return (double)(next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* A float scale spread log-uniformly over [lo, hi]. */
static float log_uniform(uint64_t *s, double lo, double hi)
{
    return (float)exp(log(lo) + (log(hi) - log(lo)) * uniform(s));
}

/* A zero point in -128..127. */
static int32_t any_zp(uint64_t *s)
{
    return (int32_t)(next(s) % 256) - 128;
}

/* TFLM's test Quantize (micro/test_helpers.h): round(x / scale) + zero
 * point, saturated to int8. */
static int8_t micro_quantize(float x, float scale, int32_t zp)
{
    float r = roundf(x / scale) + (float)zp;
    return (int8_t)(r < -128.0f ? -128 : r > 127.0f ? 127 : (int)r);
}

/* TFLite's SingleOpModel::Quantize (kernels/test_util.h): round(zp + x /
 * scale) in float, saturated. */
static int8_t lite_quantize(float x, float scale, int32_t zp)
{
    float r = roundf((float)zp + x / scale);
    return (int8_t)(r < -128.0f ? -128 : r > 127.0f ? 127 : (int)r);
}

/* TFLite's SingleOpModel::QuantizationParams<int8_t> (kernels/test_util.h),
 * in float as it is written there. */
static void lite_params(float fmin, float fmax, float *scale, int32_t *zp)
{
    const float qmin = -128.0f, qmax = 127.0f;
    *scale = (fmax - fmin) / (qmax - qmin);
    const float from_min = qmin - fmin / *scale, from_max = qmax - fmax / *scale;
    const float err_min = fabsf(qmin) + fabsf(fmin / *scale), err_max = fabsf(qmax) + fabsf(fmax / *scale);
    const float z = err_min < err_max ? from_min : from_max;
    *zp = z < qmin ? -128 : z > qmax ? 127 : (int32_t)roundf(z);
}

/* TFLM's ScaleFromMinMax<int8_t> and ZeroPointFromMinMax<int8_t>
 * (micro/test_helpers.h). */
static float micro_scale(float fmin, float fmax)
{
    return (fmax - fmin) / (float)(127.0 - -128.0);
}

static int32_t micro_zp(float fmin, float fmax)
{
    return -128 + (int32_t)(-fmin / micro_scale(fmin, fmax) + 0.5f);
}

/* The table's value for input x. */
static int8_t at(const int8_t lut[256], int32_t x)
{
    return lut[x + 128];
}

/* Fails unless |got - want| <= tol, naming the case. */
static void expect_near(const char *what, int i, double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("%s[%d]: got %.9g, want %.9g within %g", what, i, got, want, tol);
}

/* ---- the oracle: gemmlowp and TFLite as written in their sources ---- */

/* gemmlowp SaturatingRoundingDoublingHighMul<int32_t>. */
static int32_t ref_srdhm(int32_t a, int32_t b)
{
    bool overflow = a == b && a == INT32_MIN;
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    int32_t high = (int32_t)((ab + nudge) / (INT64_C(1) << 31));
    return overflow ? INT32_MAX : high;
}

/* x / 2^e rounded to nearest, half away from zero, in 64 bits: what
 * gemmlowp's RoundingDivideByPOT computes. */
static int32_t ref_rdbpot(int32_t x, int e)
{
    if (e == 0)
        return x;
    int64_t half = INT64_C(1) << (e - 1), v = x;
    return (int32_t)(v >= 0 ? (v + half) >> e : -((-v + half) >> e));
}

/* gemmlowp's SaturatingRoundingMultiplyByPOT<e> for e > 0: x * 2^e clamped. */
static int32_t ref_sat_shl(int32_t x, int e)
{
    int64_t v = (int64_t)x * (INT64_C(1) << e);
    return (int32_t)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
}

/* gemmlowp's RoundingHalfSum<int32_t>. */
static int32_t ref_half_sum(int32_t a, int32_t b)
{
    int64_t sum = (int64_t)a + (int64_t)b;
    int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* TFLite's CountLeadingZeros<uint32_t>, the loop version. */
static int ref_clz(uint64_t x, int digits)
{
    if (x == 0)
        return digits;
    int n = 0;
    while (x < (UINT64_C(1) << (digits - 1))) {
        x <<= 1;
        n++;
    }
    return n;
}

/* TFLite's QuantizeMultiplier (quantization_util.cc). */
static void ref_quantize_multiplier(double m, int32_t *mult, int *shift)
{
    if (m == 0.0) {
        *mult = 0;
        *shift = 0;
        return;
    }
    double q = frexp(m, shift);
    int64_t q_fixed = (int64_t)round(q * (double)(INT64_C(1) << 31));
    if (q_fixed == (INT64_C(1) << 31)) {
        q_fixed /= 2;
        ++*shift;
    }
    if (*shift < -31) {
        *shift = 0;
        q_fixed = 0;
    }
    *mult = (int32_t)q_fixed;
}

/* TFLite's MultiplyByQuantizedMultiplier (common.cc, double rounding). */
static int32_t ref_mbqm(int32_t x, int32_t mult, int shift)
{
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    return ref_rdbpot(ref_srdhm((int32_t)((int64_t)x * (INT64_C(1) << left)), mult), right);
}

/* TFLite's CalculateInputRadius (quantization_util.cc), for shifts TFLite
 * defines (0..62). */
static int ref_radius(int integer_bits, int left_shift)
{
    double max_rescaled = 1.0 * ((1 << integer_bits) - 1) * (double)(INT64_C(1) << (31 - integer_bits)) /
                          (double)(INT64_C(1) << left_shift);
    return (int)floor(max_rescaled);
}

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl. */
static int32_t ref_exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668, constant_1_over_3 = 715827883;
    int32_t x = a + (1 << 28);
    int32_t x2 = ref_srdhm(x, x);
    int32_t x3 = ref_srdhm(x2, x);
    int32_t x4 = ref_srdhm(x2, x2);
    int32_t x4_over_4 = ref_rdbpot(x4, 2);
    int32_t t = ref_rdbpot(ref_srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1);
    return constant_term + ref_srdhm(constant_term, x + t);
}

/* gemmlowp exp_on_negative_values<int32_t, ib>. */
static int32_t ref_exp_neg(int32_t a, int ib)
{
    const int frac = 31 - ib;
    const int32_t one_quarter = 1 << (frac - 2);
    const int32_t mask = one_quarter - 1;
    int32_t a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
    int32_t rescaled = ib == 0 ? a_mod_quarter_minus_one_quarter : ref_sat_shl(a_mod_quarter_minus_one_quarter, ib);
    int32_t result = ref_exp_quarter(rescaled);
    int32_t remainder = a_mod_quarter_minus_one_quarter - a;
    static const struct { int exponent; int32_t multiplier; } barrel[] = {
        {-2, 1672461947}, {-1, 1302514674}, {0, 790015084}, {1, 290630308}, {2, 39332535}, {3, 720401}, {4, 242}};
    for (size_t k = 0; k < sizeof barrel / sizeof *barrel; k++)
        if (ib > barrel[k].exponent && (remainder & (1 << (frac + barrel[k].exponent))))
            result = ref_srdhm(result, barrel[k].multiplier);
    if (ib > 5 && a < -(1 << (36 - ib)))
        result = 0;
    if (a == 0)
        result = INT32_MAX;
    return result;
}

/* gemmlowp's Newton-Raphson 1 / half_denominator in Q2.29. */
static int32_t ref_newton(int32_t half_denominator)
{
    const int32_t constant_48_over_17 = 1515870810, constant_neg_32_over_17 = -1010580540;
    const int32_t f2_one = 1 << 29;
    int32_t x = constant_48_over_17 + ref_srdhm(half_denominator, constant_neg_32_over_17);
    for (int i = 0; i < 3; i++) {
        int32_t half_denominator_times_x = ref_srdhm(half_denominator, x);
        int32_t one_minus_half_denominator_times_x = f2_one - half_denominator_times_x;
        x = x + ref_sat_shl(ref_srdhm(x, one_minus_half_denominator_times_x), 2);
    }
    return x;
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1. */
static int32_t ref_one_over_one_plus_x(int32_t a)
{
    return ref_sat_shl(ref_newton(ref_half_sum(a, INT32_MAX)), 1);
}

/* gemmlowp one_minus_x_over_one_plus_x_for_x_in_0_1. */
static int32_t ref_one_minus_x_over_one_plus_x(int32_t a)
{
    return ref_sat_shl(ref_newton(ref_half_sum(a, INT32_MAX)) - (1 << 29), 2);
}

/* gemmlowp logistic<int32_t, 4>. */
static int32_t ref_logistic(int32_t a)
{
    int32_t abs_input = a > 0 ? a : -a;
    int32_t result_if_positive = ref_one_over_one_plus_x(ref_exp_neg(-abs_input, 4));
    int32_t result_if_negative = INT32_MAX - result_if_positive;
    return a == 0 ? 1 << 30 : a > 0 ? result_if_positive : result_if_negative;
}

/* gemmlowp tanh<int32_t, 4>. */
static int32_t ref_tanh(int32_t a)
{
    int32_t n = a < 0 ? a : -a;
    int32_t t = ref_one_minus_x_over_one_plus_x(ref_exp_neg(n, 5));
    return a == 0 ? 0 : a < 0 ? -t : t;
}

/* LogisticPrepare / TanhPrepare and reference_integer_ops::Logistic /
 * Tanh for one input. */
static int8_t ref_sigmoid_op(int8_t in, float scale, int32_t zp, bool tanh_op)
{
    const double input_real_multiplier = (double)scale * (double)(1 << (31 - 4));
    int input_left_shift;
    const double q = frexp(input_real_multiplier, &input_left_shift);
    const int32_t input_multiplier = (int32_t)round(q * (double)(INT64_C(1) << 31));
    const int32_t input_range_radius = ref_radius(4, input_left_shift);
    const int32_t input = (int32_t)in - zp;
    if (input <= -input_range_radius)
        return -128;
    if (input >= input_range_radius)
        return 127;
    const int32_t input_in_q4 = ref_mbqm(input, input_multiplier, input_left_shift);
    int32_t out;
    if (tanh_op)
        out = ref_rdbpot(ref_tanh(input_in_q4), 31 - 7);
    else
        out = ref_rdbpot(ref_logistic(input_in_q4), 31 - 8) + -128;
    return (int8_t)(out < -128 ? -128 : out > 127 ? 127 : out);
}

/* TFLite's int16 helpers of reference/hard_swish.h and gemmlowp's int16
 * specializations. */
static int16_t ref_srdhm16(int16_t a, int16_t b)
{
    bool overflow = a == b && a == INT16_MIN;
    int32_t ab = (int32_t)a * (int32_t)b;
    int16_t nudge = (int16_t)(ab >= 0 ? (1 << 14) : (1 - (1 << 14)));
    int16_t high = (int16_t)((ab + nudge) / (1 << 15));
    return overflow ? INT16_MAX : high;
}

static int16_t ref_sdhm16(int16_t a, int16_t b)
{
    bool overflow = a == b && a == INT16_MIN;
    int32_t ab = (int32_t)a * (int32_t)b;
    int16_t high = (int16_t)(ab / (1 << 15));
    return overflow ? INT16_MAX : high;
}

static int16_t ref_sat_shl16(int16_t value, int amount)
{
    int64_t r = (int64_t)value * (1 << amount);
    r = r < INT16_MAX ? r : INT16_MAX;
    r = r > INT16_MIN ? r : INT16_MIN;
    return (int16_t)r;
}

static int16_t ref_rdbpot16(int16_t x, int exponent)
{
    const int16_t mask = (int16_t)((INT64_C(1) << exponent) - 1);
    const int16_t remainder = (int16_t)(x & mask);
    const int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

/* HardSwishPrepare and reference_ops::HardSwish for one input; false
 * where Prepare fails. */
static bool ref_hard_swish(int8_t in, float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t *y)
{
    const float hires_input_scale = (1.0f / 128.0f) * in_scale;
    const float reluish_scale = 3.0f / 32768.0f;
    const double output_multiplier = (double)(hires_input_scale / out_scale);
    int32_t m32;
    int output_exp, reluish_exp;
    ref_quantize_multiplier(output_multiplier, &m32, &output_exp);
    int16_t output_m16 = m32 >= INT32_MAX - (1 << 15) ? INT16_MAX : (int16_t)((m32 + (1 << 15)) >> 16);
    if (output_exp > 0)
        return false;
    const double reluish_multiplier = (double)(hires_input_scale / reluish_scale);
    ref_quantize_multiplier(reluish_multiplier, &m32, &reluish_exp);
    int16_t reluish_m16 = m32 >= INT32_MAX - (1 << 15) ? INT16_MAX : (int16_t)((m32 + (1 << 15)) >> 16);

    const int16_t input_value = (int16_t)(in - in_zp);
    const int16_t input_value_on_hires_input_scale = (int16_t)(input_value * (1 << 7));
    const int16_t input_value_on_preshift_output_scale = ref_srdhm16(input_value_on_hires_input_scale, output_m16);
    int16_t reluish_value = input_value_on_hires_input_scale;
    if (reluish_exp > 0)
        reluish_value = ref_sat_shl16(reluish_value, reluish_exp - 1);
    reluish_value = ref_srdhm16(reluish_value, reluish_m16);
    if (reluish_exp > 0)
        reluish_value = ref_sat_shl16(reluish_value, 1);
    if (reluish_exp < 0)
        reluish_value = ref_rdbpot16(reluish_value, -reluish_exp);
    reluish_value = (int16_t)((reluish_value + (1 << 15)) >> 1);
    const int16_t preshift_output_value = ref_sdhm16(reluish_value, input_value_on_preshift_output_scale);
    int16_t output_value = ref_rdbpot16(preshift_output_value, -output_exp);
    output_value = (int16_t)(output_value + out_zp);
    output_value = output_value < 127 ? output_value : 127;
    output_value = output_value > -128 ? output_value : -128;
    *y = (int8_t)output_value;
    return true;
}

/* CalculateOpDataLeakyRelu and QuantizeLeakyRelu for one input. */
static int8_t ref_leaky_relu(int8_t in, float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, float alpha)
{
    int32_t mult_alpha, mult_identity;
    int shift_alpha, shift_identity;
    ref_quantize_multiplier((double)(in_scale * alpha / out_scale), &mult_alpha, &shift_alpha);
    ref_quantize_multiplier((double)(in_scale / out_scale), &mult_identity, &shift_identity);
    const int32_t input_value = in - in_zp;
    int32_t out = input_value >= 0 ? out_zp + ref_mbqm(input_value, mult_identity, shift_identity)
                                   : out_zp + ref_mbqm(input_value, mult_alpha, shift_alpha);
    return (int8_t)(out < -128 ? -128 : out > 127 ? 127 : out);
}

/* CalculateReluOpData (act_min, act_max) and ReluQuantized for one input. */
static int8_t ref_relu(int8_t in, float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, float act_min,
                       float act_max)
{
    int32_t mult;
    int shift;
    ref_quantize_multiplier((double)in_scale / (double)out_scale, &mult, &shift);
    int32_t qmin = out_zp + (int32_t)roundf(act_min / out_scale);
    qmin = qmin > -128 ? qmin : -128;
    int32_t qmax = 127;
    if (!isinf(act_max)) {
        int32_t b = out_zp + (int32_t)roundf(act_max / out_scale);
        qmax = b < 127 ? b : 127;
    }
    int32_t clamped = out_zp + ref_mbqm((int32_t)in - in_zp, mult, shift);
    clamped = clamped > qmin ? clamped : qmin;
    clamped = clamped < qmax ? clamped : qmax;
    return (int8_t)clamped;
}

/* TFLM's own RELU6 (Relu6Prepare, Relu6Quantized): a clamp in the input's
 * domain, output params unused. */
static int8_t ref_micro_relu6(int8_t in, float in_scale, int32_t in_zp)
{
    int32_t six = (int32_t)roundf(6.0f / in_scale) + in_zp;
    six = six < 127 ? (six > -128 ? six : -128) : 127;
    return (int8_t)(in > six ? six : in < in_zp ? in_zp : in);
}

/* PrepareQuantizeReference and reference_ops::Requantize for one input. */
static int8_t ref_requantize(int8_t in, float in_scale, int32_t in_zp, float out_scale, int32_t out_zp)
{
    int32_t mult;
    int shift;
    ref_quantize_multiplier((double)in_scale / (double)out_scale, &mult, &shift);
    int32_t out = ref_mbqm(in - in_zp, mult, shift) + out_zp;
    return (int8_t)(out > 127 ? 127 : out < -128 ? -128 : out);
}

/* CalculateSoftmaxParams and reference_ops::Softmax (int8) over one row. */
static void ref_softmax(const int8_t *x, int8_t *y, int n, float in_scale, float beta)
{
    const double max_real_multiplier = (double)((INT64_C(1) << 31) - 1);
    double real = (double)beta * (double)in_scale * (double)(1 << (31 - 5));
    real = real < max_real_multiplier ? real : max_real_multiplier;
    int32_t mult;
    int left_shift;
    ref_quantize_multiplier(real, &mult, &left_shift);
    const int diff_min = (int)(-1.0 * ref_radius(5, left_shift));
    int8_t max_in_row = -128;
    for (int c = 0; c < n; c++)
        max_in_row = x[c] > max_in_row ? x[c] : max_in_row;
    int32_t sum_of_exps = 0;
    for (int c = 0; c < n; c++) {
        int32_t input_diff = (int32_t)x[c] - max_in_row;
        if (input_diff >= diff_min) {
            int32_t rescaled = ref_srdhm(input_diff * (1 << left_shift), mult);
            sum_of_exps += ref_rdbpot(ref_exp_neg(rescaled, 5), 12);
        }
    }
    /* GetReciprocal(sum_of_exps, 12, &num_bits_over_unit) */
    int headroom_plus_one = ref_clz((uint32_t)sum_of_exps, 32);
    int num_bits_over_unit = 12 - headroom_plus_one;
    int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (UINT32_C(1) << 31));
    int32_t shifted_scale = ref_one_over_one_plus_x(shifted_sum_minus_one);
    const int exponent = num_bits_over_unit + 31 - 8;
    assert_true(exponent >= 0 && exponent <= 31);
    for (int c = 0; c < n; c++) {
        int32_t input_diff = (int32_t)x[c] - max_in_row;
        if (input_diff >= diff_min) {
            int32_t rescaled = ref_srdhm(input_diff * (1 << left_shift), mult);
            int32_t out = ref_rdbpot(ref_srdhm(shifted_scale, ref_exp_neg(rescaled, 5)), exponent) + -128;
            y[c] = (int8_t)(out > 127 ? 127 : out < -128 ? -128 : out);
        } else {
            y[c] = -128;
        }
    }
}

/* PrepareMeanOrSumHelper and reference_ops::QuantizedMeanOrSum for one
 * output: the mean of n values x[k * stride]. */
static int8_t ref_mean(const int8_t *x, int n, int stride, float in_scale, int32_t in_zp, float out_scale,
                       int32_t out_zp)
{
    int32_t mult;
    int shift;
    ref_quantize_multiplier((double)in_scale / (double)out_scale, &mult, &shift);
    int32_t temp_sum = 0;
    for (int k = 0; k < n; k++)
        temp_sum += x[k * stride];
    const int64_t num_elements_in_axis = n;
    int s = 63 - ref_clz((uint64_t)num_elements_in_axis, 64);
    s = s < 32 ? s : 32;
    s = s < 31 + shift ? s : 31 + shift;
    mult = (int32_t)(((int64_t)mult << s) / num_elements_in_axis);
    shift = shift - s;
    const int32_t shifted_sum = (int32_t)(temp_sum - in_zp * num_elements_in_axis);
    int32_t out = ref_mbqm(shifted_sum, mult, shift) + out_zp;
    return (int8_t)(out < -128 ? -128 : out > 127 ? 127 : out);
}

/* reference_integer_ops::Mean (integer_ops/mean.h) for one output. */
static int8_t ref_mean_rescale_first(const int8_t *x, int n, int stride, float in_scale, int32_t in_zp,
                                     float out_scale, int32_t out_zp)
{
    int32_t mult;
    int shift;
    ref_quantize_multiplier((double)in_scale / (double)out_scale, &mult, &shift);
    int32_t acc = 0;
    for (int k = 0; k < n; k++)
        acc += x[k * stride] - in_zp;
    acc = ref_mbqm(acc, mult, shift);
    acc = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
    acc += out_zp;
    return (int8_t)(acc < -128 ? -128 : acc > 127 ? 127 : acc);
}

/* ---- gemmlowp primitives against wide-integer definitions ---- */

/* cnnc_q8.h's SRDHM and RoundingDivideByPOT are gemmlowp's: on the edges
 * and 2^20 random pairs, every exponent. */
static void test_tflm_srdhm_rdbpot_match_gemmlowp(void **state)
{
    (void)state;
    static const int32_t edges[] = {0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1,
                                    1 << 30, -(1 << 30), (1 << 30) + 1, -(1 << 30) - 1, 1 << 15, -(1 << 15)};
    int ne = (int)(sizeof edges / sizeof *edges);
    for (int i = 0; i < ne; i++)
        for (int j = 0; j < ne; j++)
            assert_int_equal(cnnc_q_srdhm(edges[i], edges[j]), ref_srdhm(edges[i], edges[j]));
    uint64_t s = 1;
    for (int i = 0; i < 1 << 20; i++) {
        int32_t a = (int32_t)(uint32_t)next(&s), b = (int32_t)(uint32_t)next(&s);
        if (i & 1)
            b >>= next(&s) % 31;
        assert_int_equal(cnnc_q_srdhm(a, b), ref_srdhm(a, b));
        int e = (int)(next(&s) % 32);
        assert_int_equal(cnnc_q_rdbpot(a, e), ref_rdbpot(a, e));
    }
    for (int e = 0; e < 32; e++)
        for (int i = 0; i < ne; i++)
            assert_int_equal(cnnc_q_rdbpot(edges[i], e), ref_rdbpot(edges[i], e));
}

/* The saturating shift, the rounding half sum and CountLeadingZeros. */
static void test_tflm_small_primitives(void **state)
{
    (void)state;
    uint64_t s = 2;
    for (int e = 1; e <= 30; e++) {
        int32_t t = (int32_t)((UINT32_C(1) << (31 - e)) - 1);
        const int32_t edges[] = {0, 1, -1, t, -t, t + 1, -t - 1, INT32_MAX, INT32_MIN};
        for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
            assert_int_equal(cnnc_q_sat_shl(edges[i], e), ref_sat_shl(edges[i], e));
        for (int i = 0; i < 20000; i++) {
            int32_t x = (int32_t)(uint32_t)next(&s) >> (next(&s) % 32);
            assert_int_equal(cnnc_q_sat_shl(x, e), ref_sat_shl(x, e));
        }
    }
    assert_int_equal(cnnc_q_half_sum(INT32_MAX, INT32_MAX), INT32_MAX);
    assert_int_equal(cnnc_q_half_sum(INT32_MIN, INT32_MIN), INT32_MIN);
    assert_int_equal(cnnc_q_half_sum(1, 0), 1);
    assert_int_equal(cnnc_q_half_sum(-1, 0), -1);
    assert_int_equal(cnnc_q_half_sum(-3, 0), -2);
    for (int i = 0; i < 1 << 20; i++) {
        int32_t a = (int32_t)(uint32_t)next(&s), b = (int32_t)(uint32_t)next(&s);
        assert_int_equal(cnnc_q_half_sum(a, b), ref_half_sum(a, b));
    }
    assert_int_equal(cnnc_q_clz32(0), 32);
    for (int k = 0; k < 32; k++) {
        assert_int_equal(cnnc_q_clz32(UINT32_C(1) << k), 31 - k);
        assert_int_equal(cnnc_q_clz32((UINT32_C(1) << k) | 1u), 31 - k);
        uint32_t r = (uint32_t)next(&s) | 1u;
        r = k ? (r >> k) | (UINT32_C(1) << (31 - k)) : r | 0x80000000u;
        assert_int_equal(cnnc_q_clz32(r), ref_clz(r, 32));
    }
}

/* 1/(1 + a) over [0, 1): the oracle's composition on every 1031st input and
 * the ends, and within 4e-9 of the real value (measured 3.15e-9: gemmlowp's
 * three Newton steps on Q2.29). */
static void test_tflm_one_over_one_plus_x(void **state)
{
    (void)state;
    double worst = 0;
    for (int64_t a = 0; a <= INT32_MAX; a += a < 4096 || a > INT32_MAX - 4096 ? 1 : 1031) {
        int32_t got = cnnc_q_one_over_one_plus_x((int32_t)a);
        if (got != ref_one_over_one_plus_x((int32_t)a))
            fail_msg("one_over_one_plus_x(%lld) = %d, gemmlowp %d", (long long)a, got,
                     ref_one_over_one_plus_x((int32_t)a));
        double err = fabs(got / 2147483648.0 - 1.0 / (1.0 + (double)a / 2147483648.0));
        worst = err > worst ? err : worst;
    }
    printf("one_over_one_plus_x: worst error %.3g\n", worst);
    assert_true(worst < 6e-9);
}

/* GetReciprocal over every sum a softmax row can have (Q12.19, from one
 * value at the maximum, 2^19, up to 2^28) on every 97th: the oracle's, and
 * r * 2^-bits within 6e-9 relative of 1/sum (measured 4.72e-9). */
static void test_tflm_reciprocal(void **state)
{
    (void)state;
    double worst = 0;
    for (int32_t x = 1 << 19; x < 1 << 28; x += 97) {
        int bits;
        int32_t r = cnnc_q_reciprocal(x, 12, &bits);
        int h = ref_clz((uint32_t)x, 32);
        assert_int_equal(bits, 12 - h);
        assert_int_equal(r, ref_one_over_one_plus_x((int32_t)(((uint32_t)x << h) - 0x80000000u)));
        double got = ldexp(r / 2147483648.0, -bits), want = 1.0 / ldexp(x, -19);
        double err = fabs(got - want) / want;
        worst = err > worst ? err : worst;
    }
    printf("reciprocal: worst relative error %.3g\n", worst);
    assert_true(worst < 6e-9);
}

/* exp_on_negative_values for the integer bits TFLM uses (4: logistic, 5:
 * softmax and tanh): the oracle's on every 211th negative input (10
 * million), and within 3e-7 of e^a (measured 2.3e-7 with 4 integer bits:
 * each barrel-shifter step rounds). */
static void test_tflm_exp_on_negative_values(void **state)
{
    (void)state;
    for (int ib = 4; ib <= 5; ib++) {
        double worst = 0;
        for (int64_t a = 0; a >= INT32_MIN; a -= a > -5000 ? 1 : 211) {
            int32_t got = tflm_exp_on_negative_values((int32_t)a, ib);
            int32_t want = ref_exp_neg((int32_t)a, ib);
            if (got != want)
                fail_msg("exp_on_negative_values(%lld, %d) = %d, gemmlowp %d", (long long)a, ib, got, want);
            double err = fabs(got / 2147483648.0 - exp(ldexp((double)a, -(31 - ib))));
            worst = err > worst ? err : worst;
        }
        printf("exp_on_negative_values, %d integer bits: worst error %.3g\n", ib, worst);
        assert_true(worst < 3e-7);
        assert_int_equal(tflm_exp_on_negative_values(INT32_MIN, ib), ref_exp_neg(INT32_MIN, ib));
    }
    /* more integer bits: the clamp below -32 */
    assert_int_equal(tflm_exp_on_negative_values(-(33 << 24), 7), 0);
    assert_int_equal(tflm_exp_on_negative_values(-(31 << 24), 7), ref_exp_neg(-(31 << 24), 7));
}

/* logistic and tanh on Q4.27: the oracle's on every 2149th input, odd /
 * mirrored exactly as gemmlowp selects, and within 1e-7 (logistic,
 * measured 7.1e-8) and 2e-7 (tanh, 1.4e-7) of the reals. */
static void test_tflm_logistic_tanh_fixed_point(void **state)
{
    (void)state;
    double worst_l = 0, worst_t = 0;
    for (int64_t a = INT32_MIN + 1; a <= INT32_MAX; a += 307 * 7) {
        int32_t l = tflm_logistic_q4((int32_t)a), t = tflm_tanh_q4((int32_t)a);
        if (l != ref_logistic((int32_t)a) || t != ref_tanh((int32_t)a))
            fail_msg("at %lld: logistic %d (gemmlowp %d), tanh %d (gemmlowp %d)", (long long)a, l,
                     ref_logistic((int32_t)a), t, ref_tanh((int32_t)a));
        assert_int_equal(tflm_tanh_q4((int32_t)-a), -t);
        assert_int_equal(tflm_logistic_q4((int32_t)-a), INT32_MAX - l);
        double v = ldexp((double)a, -27);
        worst_l = fmax(worst_l, fabs(l / 2147483648.0 - 1.0 / (1.0 + exp(-v))));
        worst_t = fmax(worst_t, fabs(t / 2147483648.0 - tanh(v)));
    }
    assert_int_equal(tflm_logistic_q4(0), 1 << 30);
    assert_int_equal(tflm_tanh_q4(0), 0);
    printf("logistic worst error %.3g, tanh %.3g\n", worst_l, worst_t);
    assert_true(worst_l < 1e-7 && worst_t < 2e-7);
}

/* ---- tables against the oracle ---- */

/* Random input params, as converters make them: scales from 1e-4 to 10. */
typedef struct Params {
    float in_scale, out_scale;
    int32_t in_zp, out_zp;
} Params;

static Params random_params(uint64_t *s)
{
    Params p = {log_uniform(s, 1e-4, 10.0), log_uniform(s, 1e-4, 10.0), any_zp(s), any_zp(s)};
    return p;
}

/* LOGISTIC and TANH tables equal TFLM's kernel, input by input, for 3000
 * random input params (every input of each). */
static void test_tflm_logistic_tanh_tables_match_kernel(void **state)
{
    (void)state;
    uint64_t s = 3;
    int8_t lut[256];
    for (int k = 0; k < 3000; k++) {
        Params p = random_params(&s);
        for (int op = 0; op < 2; op++) {
            assert_null(op ? tflm_lut_tanh(p.in_scale, p.in_zp, lut) : tflm_lut_logistic(p.in_scale, p.in_zp, lut));
            for (int x = -128; x < 128; x++)
                if (at(lut, x) != ref_sigmoid_op((int8_t)x, p.in_scale, p.in_zp, op))
                    fail_msg("%s scale %.9g zp %d x %d: table %d, kernel %d", op ? "tanh" : "logistic", p.in_scale,
                             p.in_zp, x, at(lut, x), ref_sigmoid_op((int8_t)x, p.in_scale, p.in_zp, op));
        }
    }
    /* the radius edges: a scale of 16 saturates everything (radius 0), and
     * 2^-8 lands the radius right at 240 */
    const float scales[] = {16.0f, 8.0f, 1.0f / 256, 0.0625f, 1e-6f};
    for (size_t i = 0; i < sizeof scales / sizeof *scales; i++)
        for (int op = 0; op < 2; op++) {
            assert_null(op ? tflm_lut_tanh(scales[i], 3, lut) : tflm_lut_logistic(scales[i], 3, lut));
            for (int x = -128; x < 128; x++)
                assert_int_equal(at(lut, x), ref_sigmoid_op((int8_t)x, scales[i], 3, op));
        }
}

/* HARD_SWISH, LEAKY_RELU, the RELUs and QUANTIZE equal TFLM's kernels for
 * 3000 random (in, out) params each. */
static void test_tflm_requantizing_tables_match_kernels(void **state)
{
    (void)state;
    uint64_t s = 4;
    int8_t lut[256];
    int hard_swish_refused = 0;
    for (int k = 0; k < 3000; k++) {
        Params p = random_params(&s);
        float alpha = (float)(uniform(&s) * 2.0 - 0.5);
        const char *msg = tflm_lut_hard_swish(p.in_scale, p.in_zp, p.out_scale, p.out_zp, lut);
        int8_t y;
        for (int x = -128; x < 128; x++) {
            bool ok = ref_hard_swish((int8_t)x, p.in_scale, p.in_zp, p.out_scale, p.out_zp, &y);
            if (ok != !msg)
                fail_msg("hard_swish %g -> %g: Prepare %s, table %s", p.in_scale, p.out_scale, ok ? "ok" : "fails",
                         msg ? msg : "ok");
            if (ok && at(lut, x) != y)
                fail_msg("hard_swish in %.9g %d out %.9g %d x %d: table %d, kernel %d", p.in_scale, p.in_zp,
                         p.out_scale, p.out_zp, x, at(lut, x), y);
        }
        hard_swish_refused += msg != NULL;
        assert_null(tflm_lut_leaky_relu(p.in_scale, p.in_zp, p.out_scale, p.out_zp, alpha, lut));
        for (int x = -128; x < 128; x++)
            assert_int_equal(at(lut, x), ref_leaky_relu((int8_t)x, p.in_scale, p.in_zp, p.out_scale, p.out_zp, alpha));
        assert_null(tflm_lut_relu(p.in_scale, p.in_zp, p.out_scale, p.out_zp, lut));
        for (int x = -128; x < 128; x++)
            assert_int_equal(at(lut, x), ref_relu((int8_t)x, p.in_scale, p.in_zp, p.out_scale, p.out_zp, 0.0f, INFINITY));
        assert_null(tflm_lut_relu6(p.in_scale, p.in_zp, p.out_scale, p.out_zp, lut));
        for (int x = -128; x < 128; x++)
            assert_int_equal(at(lut, x), ref_relu((int8_t)x, p.in_scale, p.in_zp, p.out_scale, p.out_zp, 0.0f, 6.0f));
        assert_null(tflm_lut_relu_n1_to_1(p.in_scale, p.in_zp, p.out_scale, p.out_zp, lut));
        for (int x = -128; x < 128; x++)
            assert_int_equal(at(lut, x), ref_relu((int8_t)x, p.in_scale, p.in_zp, p.out_scale, p.out_zp, -1.0f, 1.0f));
        assert_null(tflm_lut_quantize(p.in_scale, p.in_zp, p.out_scale, p.out_zp, lut));
        for (int x = -128; x < 128; x++)
            assert_int_equal(at(lut, x), ref_requantize((int8_t)x, p.in_scale, p.in_zp, p.out_scale, p.out_zp));
    }
    /* output scales below 1/128 of the input's are what TFLM's Prepare refuses */
    assert_true(hard_swish_refused > 0 && hard_swish_refused < 3000);
}

/* With equal params RELU6 is TFLM's own RELU6 kernel (a clamp in the input
 * domain) byte for byte, and QUANTIZE is the identity. */
static void test_tflm_relu6_equal_params_is_micro_kernel(void **state)
{
    (void)state;
    uint64_t s = 5;
    int8_t lut[256];
    for (int k = 0; k < 5000; k++) {
        float scale = log_uniform(&s, 1e-3, 1.0);
        int32_t zp = any_zp(&s);
        assert_null(tflm_lut_relu6(scale, zp, scale, zp, lut));
        for (int x = -128; x < 128; x++)
            assert_int_equal(at(lut, x), ref_micro_relu6((int8_t)x, scale, zp));
        assert_null(tflm_lut_quantize(scale, zp, scale, zp, lut));
        for (int x = -128; x < 128; x++)
            assert_int_equal(at(lut, x), x);
    }
}

/* SOFTMAX: the kernel with the table equals TFLM's kernel on 20000 random
 * rows of 1 to 300 values, for random input scales and betas. */
static void test_tflm_softmax_matches_kernel(void **state)
{
    (void)state;
    uint64_t s = 6;
    TflmSoftmax sm;
    int8_t x[300], y[300], want[300];
    for (int k = 0; k < 20000; k++) {
        float scale = log_uniform(&s, 1e-3, 1.0), beta = k % 4 ? 1.0f : log_uniform(&s, 0.05, 5.0);
        int n = 1 + (int)(next(&s) % (k % 10 ? 20 : 300));
        int spread = 1 + (int)(next(&s) % 256);
        int8_t base = (int8_t)(next(&s) % 256);
        for (int i = 0; i < n; i++)
            x[i] = next(&s) % 3 == 0 ? base : (int8_t)fmax(-128, base - (int)(next(&s) % (unsigned)spread));
        assert_null(tflm_softmax(scale, beta, &sm));
        cnnc_q_softmax_tflm(x, y, n, 1, sm.exp_lut);
        ref_softmax(x, want, n, scale, beta);
        for (int i = 0; i < n; i++)
            if (y[i] != want[i])
                fail_msg("softmax scale %.9g beta %g n %d: y[%d] %d, kernel %d", scale, beta, n, i, y[i], want[i]);
    }
}

/* MEAN equals TFLM's QuantizedMeanOrSum, and the rescale-first variant
 * reference_integer_ops::Mean, over random planes (1 to 400 values, any
 * stride) and params. */
static void test_tflm_mean_matches_kernel(void **state)
{
    (void)state;
    uint64_t s = 7;
    int8_t x[400 * 3];
    TflmMean m;
    int differ = 0;
    for (int k = 0; k < 20000; k++) {
        Params p = random_params(&s);
        if (k % 3 == 0)
            p.out_scale = p.in_scale * (float)exp(uniform(&s) * 4.0 - 2.0);
        int n = 1 + (int)(next(&s) % 400), stride = 1 + (int)(next(&s) % 3);
        for (int i = 0; i < n * stride; i++)
            x[i] = (int8_t)next(&s);
        assert_null(tflm_mean(p.in_scale, p.in_zp, p.out_scale, p.out_zp, n, &m));
        int8_t got = cnnc_q_mean(x, m.count, stride, m.bias, m.multiplier, m.shift, m.output_zero_point);
        int8_t want = ref_mean(x, n, stride, p.in_scale, p.in_zp, p.out_scale, p.out_zp);
        if (got != want)
            fail_msg("mean of %d (in %.9g %d, out %.9g %d): %d, kernel %d", n, p.in_scale, p.in_zp, p.out_scale,
                     p.out_zp, got, want);
        int8_t folded = got;
        got = cnnc_q_mean_rescale_first(x, m.count, stride, m.input_zero_point, m.rescale_multiplier, m.rescale_shift,
                                        m.output_zero_point);
        differ += got != folded;
        want = ref_mean_rescale_first(x, n, stride, p.in_scale, p.in_zp, p.out_scale, p.out_zp);
        if (got != want)
            fail_msg("rescale-first mean of %d (in %.9g %d, out %.9g %d): %d, kernel %d", n, p.in_scale, p.in_zp,
                     p.out_scale, p.out_zp, got, want);
    }
    printf("mean: the two kernels differ on %d of 20000 random planes\n", differ);
}

/* ---- golden vectors of TensorFlow's kernel tests ---- */

/* tensorflow/lite/kernels/activations_test.cc, QuantizedActivationsOpTest:
 * Softmax4DInt8 asserts exact int8 outputs, Softmax1DInt8 dequantized
 * outputs that are exact multiples of 1/256; Softmax2DInt8's second shape
 * pairs within kQuantizedTolerance. Inputs quantized for [-10, 10], beta
 * 0.1. */
static void test_tflm_softmax_tflite_exact_vectors(void **state)
{
    (void)state;
    float scale;
    int32_t zp;
    lite_params(-10.0f, 10.0f, &scale, &zp);
    const float in[8] = {0, -6, 2, 4, 3, -2, 10, 1};
    int8_t x[8], y[8];
    for (int i = 0; i < 8; i++)
        x[i] = lite_quantize(in[i], scale, zp);
    TflmSoftmax sm;
    assert_null(tflm_softmax(scale, 0.1f, &sm));
    cnnc_q_softmax_tflm(x, y, 4, 1, sm.exp_lut);
    cnnc_q_softmax_tflm(x + 4, y + 4, 4, 1, sm.exp_lut);
    const int8_t want4d[8] = {-68, -95, -54, -38, -70, -93, -12, -81};
    assert_memory_equal(y, want4d, 8);
    /* the same rows with a stride (depth = 0, depth = 1 of a CHW pixel) and in place */
    int8_t strided[8];
    for (int i = 0; i < 4; i++) {
        strided[2 * i] = x[i];
        strided[2 * i + 1] = x[4 + i];
    }
    cnnc_q_softmax_tflm(strided, strided, 4, 2, sm.exp_lut);
    cnnc_q_softmax_tflm(strided + 1, strided + 1, 4, 2, sm.exp_lut);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(strided[2 * i], want4d[i]);
        assert_int_equal(strided[2 * i + 1], want4d[4 + i]);
    }
    /* Softmax1DInt8: 0.09766 0.05469 0.12109 0.14453 0.13281 0.07813 0.26563 0.10938 */
    const int8_t want1d[8] = {25 - 128, 14 - 128, 31 - 128, 37 - 128, 34 - 128, 20 - 128, 68 - 128, 28 - 128};
    cnnc_q_softmax_tflm(x, y, 8, 1, sm.exp_lut);
    assert_memory_equal(y, want1d, 8);
    /* Softmax2DInt8, shape {4, 2} */
    const float want2[8] = {0.645656f, 0.354344f, 0.450166f, 0.549834f, 0.622459f, 0.377541f, 0.710949f, 0.28905f};
    for (int i = 0; i < 4; i++)
        cnnc_q_softmax_tflm(x + 2 * i, y + 2 * i, 2, 1, sm.exp_lut);
    for (int i = 0; i < 8; i++)
        expect_near("softmax {4, 2}", i, (y[i] + 128) / 256.0, want2[i], 2.0 / 256);
}

/* tensorflow/lite/micro/kernels/softmax_test.cc: the int8 cases (input
 * scale 0.1, zero point 0, beta 1, output 1/256 and -128), goldens
 * quantized as the test does, within its tolerance of 1. The 4-D data
 * holds the 3-D case as its first 60 values; rows of 5. */
static const float sm_input_4d[120] = {
    3, 6, -5, 4, -9, -10, -10, -8, 2, 2, 8, -5, -8, 5, -6, -8, 6, 1, -10, -8,      /* n0 c0 */
    7, 6, -10, -4, -5, 2, 7, 9, -9, 7, -4, -2, 8, 2, 2, 3, 6, 6, 2, 4,             /* n0 c1 */
    9, 7, -7, 0, 4, -3, 8, 8, -3, -4, -9, -9, 4, -8, -1, -10, -2, 6, -7, 0,        /* n0 c2 */
    -9, -8, 6, -1, -5, -10, -5, -10, 7, -2, -5, -4, 1, 2, 2, -2, -2, 1, 1, -4,     /* n1 c0 */
    -8, -3, 1, 1, -1, -2, 6, -1, -5, 6, -7, 8, 9, 0, 9, -9, -5, -2, 0, 8,          /* n1 c1 */
    4, 2, -3, 5, 8, -1, 1, -4, -9, 7, 3, -8, 0, 9, -4, 8, -1, 9, -9, 1};           /* n1 c2 */
static const float sm_golden_4d[120] = {
    0.042009463f, 0.843782625f, 0.000014093f, 0.114193561f, 0.000000258f, 0.000003072f, 0.000003072f,
    0.000022699f, 0.499985578f, 0.499985578f, 0.952571219f, 0.000002153f, 0.000000107f, 0.047425728f,
    0.000000792f, 0.000000826f, 0.993305397f, 0.006692839f, 0.000000112f, 0.000000826f, 0.731046347f,
    0.268936922f, 0.000000030f, 0.000012210f, 0.000004492f, 0.000717124f, 0.106430599f, 0.786421666f,
    0.000000012f, 0.106430599f, 0.000006114f, 0.000045174f, 0.995015917f, 0.002466398f, 0.002466398f,
    0.022595176f, 0.453836234f, 0.453836234f, 0.008312301f, 0.061420055f, 0.875505904f, 0.118486839f,
    0.000000099f, 0.000108046f, 0.005899112f, 0.000008351f, 0.499990113f, 0.499990113f, 0.000008351f,
    0.000003072f, 0.000002245f, 0.000002245f, 0.993296627f, 0.000006103f, 0.006692780f, 0.000000112f,
    0.000334520f, 0.997191323f, 0.000002254f, 0.002471790f, 0.000000306f, 0.000000831f, 0.999071142f,
    0.000911035f, 0.000016686f, 0.000000041f, 0.000006143f, 0.000000041f, 0.999870380f, 0.000123394f,
    0.000384554f, 0.001045327f, 0.155140254f, 0.421714933f, 0.421714933f, 0.023637081f, 0.023637081f,
    0.474763454f, 0.474763454f, 0.003198931f, 0.000057299f, 0.008503973f, 0.464301197f, 0.464301197f,
    0.062836334f, 0.000167625f, 0.499684188f, 0.000455653f, 0.000008346f, 0.499684188f, 0.000000048f,
    0.155354299f, 0.422296769f, 0.000052116f, 0.422296769f, 0.000000041f, 0.000002259f, 0.000045383f,
    0.000335334f, 0.999616982f, 0.017107856f, 0.002315297f, 0.000015600f, 0.046503973f, 0.934057274f,
    0.000334516f, 0.002471755f, 0.000016655f, 0.000000112f, 0.997176963f, 0.002472313f, 0.000000041f,
    0.000123089f, 0.997402302f, 0.000002254f, 0.268866557f, 0.000033181f, 0.730855076f, 0.000000011f,
    0.000245175f};

static void test_tflm_softmax_micro_goldens(void **state)
{
    (void)state;
    TflmSoftmax sm;
    assert_null(tflm_softmax(0.1f, 1.0f, &sm));
    const float in1d[5] = {1, 2, 3, 4, 5}, in2d[10] = {1, 2, 3, 4, 5, -1, -2, -3, -4, -5};
    const float g1d[5] = {0.011656231f, 0.031684921f, 0.086128544f, 0.234121657f, 0.636408647f};
    const float g2d[10] = {0.011656231f, 0.031684921f, 0.086128544f, 0.234121657f, 0.636408647f,
                           0.636408647f, 0.234121657f, 0.086128544f, 0.031684921f, 0.011656231f};
    struct { const char *name; const float *in, *golden; int n; } cases[] = {
        {"softmax 1d", in1d, g1d, 5}, {"softmax 2d", in2d, g2d, 10}, {"softmax 4d", sm_input_4d, sm_golden_4d, 120}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int8_t x[120], y[120];
        for (int i = 0; i < cases[c].n; i++)
            x[i] = micro_quantize(cases[c].in[i], 0.1f, 0);
        for (int r = 0; r < cases[c].n; r += 5)
            cnnc_q_softmax_tflm(x + r, y + r, 5, 1, sm.exp_lut);
        for (int i = 0; i < cases[c].n; i++)
            expect_near(cases[c].name, i, y[i], micro_quantize(cases[c].golden[i], 1.0f / 256, -128), 1.0);
    }
}

/* tensorflow/lite/micro/kernels/logistic_test.cc: LogisticQuantizedInt8Basic
 * (input scale 0.1) and ...WideRange (input scale 1, inputs up to 93), zero
 * point 0; goldens quantized with 1/255 and -128 as that test does, within
 * its tolerance of 1. */
static void test_tflm_logistic_micro_goldens(void **state)
{
    (void)state;
    const float basic[10] = {1, 2, 3, 4, 5, -1, -2, -3, -4, -5};
    const float basic_golden[10] = {0.73105858f, 0.88079708f, 0.95257413f, 0.98201379f, 0.99330715f,
                                    0.26894142f, 0.11920292f, 0.04742587f, 0.01798621f, 0.00669285f};
    const float wide[10] = {1, 2, 3, 4, 93, -1, -2, -3, -4, -93};
    const float wide_golden[10] = {0.73105858f, 0.88079708f, 0.95257413f, 0.98201379f, 1.0f,
                                   0.26894142f, 0.11920292f, 0.04742587f, 0.01798621f, 0.0f};
    int8_t lut[256];
    assert_null(tflm_lut_logistic(0.1f, 0, lut));
    for (int i = 0; i < 10; i++)
        expect_near("logistic basic", i, at(lut, micro_quantize(basic[i], 0.1f, 0)),
                    micro_quantize(basic_golden[i], 1.0f / 255, -128), 1.0);
    assert_null(tflm_lut_logistic(1.0f, 0, lut));
    for (int i = 0; i < 10; i++)
        expect_near("logistic wide", i, at(lut, micro_quantize(wide[i], 1.0f, 0)),
                    micro_quantize(wide_golden[i], 1.0f / 255, -128), 1.0);
}

/* tensorflow/lite/micro/kernels/tanh_test.cc, SimpleTestTanhInt8:
 * tanh_input_vec_fp and tanh_output_vec_fp (the arrays are declared with 90
 * entries and list 89, from -8 to 8; the 90th is the zero the declaration
 * leaves, input and golden alike), input scale 16/256, output scale
 * 1.99999955/256, zero points 0, tolerance 2. */
static const float tanh_input[90] = { /* the 90th: 0 */
    -8.0000000000f, -7.8181818182f, -7.6363636364f, -7.4545454545f, -7.2727272727f, -7.0909090909f, -6.9090909091f,
    -6.7272727273f, -6.5454545455f, -6.3636363636f, -6.1818181818f, -6.0000000000f, -5.8181818182f, -5.6363636364f,
    -5.4545454545f, -5.2727272727f, -5.0909090909f, -4.9090909091f, -4.7272727273f, -4.5454545455f, -4.3636363636f,
    -4.1818181818f, -4.0000000000f, -3.8181818182f, -3.6363636364f, -3.4545454545f, -3.2727272727f, -3.0909090909f,
    -2.9090909091f, -2.7272727273f, -2.5454545455f, -2.3636363636f, -2.1818181818f, -2.0000000000f, -1.8181818182f,
    -1.6363636364f, -1.4545454545f, -1.2727272727f, -1.0909090909f, -0.9090909091f, -0.7272727273f, -0.5454545455f,
    -0.3636363636f, -0.1818181818f, 0.0000000000f,  0.1818181818f,  0.3636363636f,  0.5454545455f,  0.7272727273f,
    0.9090909091f,  1.0909090909f,  1.2727272727f,  1.4545454545f,  1.6363636364f,  1.8181818182f,  2.0000000000f,
    2.1818181818f,  2.3636363636f,  2.5454545455f,  2.7272727273f,  2.9090909091f,  3.0909090909f,  3.2727272727f,
    3.4545454545f,  3.6363636364f,  3.8181818182f,  4.0000000000f,  4.1818181818f,  4.3636363636f,  4.5454545455f,
    4.7272727273f,  4.9090909091f,  5.0909090909f,  5.2727272727f,  5.4545454545f,  5.6363636364f,  5.8181818182f,
    6.0000000000f,  6.1818181818f,  6.3636363636f,  6.5454545455f,  6.7272727273f,  6.9090909091f,  7.0909090909f,
    7.2727272727f,  7.4545454545f,  7.6363636364f,  7.8181818182f,  8.0000000000f};
static const float tanh_golden[90] = { /* the 90th: 0 */
    -0.9999997749f, -0.9999996762f, -0.9999995342f, -0.9999993300f, -0.9999990361f, -0.9999986134f, -0.9999980053f,
    -0.9999971306f, -0.9999958722f, -0.9999940619f, -0.9999914578f, -0.9999877117f, -0.9999823226f, -0.9999745703f,
    -0.9999634183f, -0.9999473758f, -0.9999242982f, -0.9998911009f, -0.9998433469f, -0.9997746542f, -0.9996758446f,
    -0.9995337191f, -0.9993292997f, -0.9990353053f, -0.9986125310f, -0.9980046622f, -0.9971308601f, -0.9958751909f,
    -0.9940716137f, -0.9914827859f, -0.9877703933f, -0.9824541388f, -0.9748561217f, -0.9640275801f, -0.9486568273f,
    -0.9269625051f, -0.8965880154f, -0.8545351057f, -0.7972097087f, -0.7206956332f, -0.6213939966f, -0.4971057414f,
    -0.3484130125f, -0.1798408185f, 0.0000000000f,  0.1798408185f,  0.3484130125f,  0.4971057414f,  0.6213939966f,
    0.7206956332f,  0.7972097087f,  0.8545351057f,  0.8965880154f,  0.9269625051f,  0.9486568273f,  0.9640275801f,
    0.9748561217f,  0.9824541388f,  0.9877703933f,  0.9914827859f,  0.9940716137f,  0.9958751909f,  0.9971308601f,
    0.9980046622f,  0.9986125310f,  0.9990353053f,  0.9993292997f,  0.9995337191f,  0.9996758446f,  0.9997746542f,
    0.9998433469f,  0.9998911009f,  0.9999242982f,  0.9999473758f,  0.9999634183f,  0.9999745703f,  0.9999823226f,
    0.9999877117f,  0.9999914578f,  0.9999940619f,  0.9999958722f,  0.9999971306f,  0.9999980053f,  0.9999986134f,
    0.9999990361f,  0.9999993300f,  0.9999995342f,  0.9999996762f,  0.9999997749f};

static void test_tflm_tanh_micro_goldens(void **state)
{
    (void)state;
    int8_t lut[256];
    assert_null(tflm_lut_tanh(16 / 256.f, 0, lut));
    for (int i = 0; i < 90; i++)
        expect_near("tanh", i, at(lut, micro_quantize(tanh_input[i], 16 / 256.f, 0)),
                    micro_quantize(tanh_golden[i], 1.99999955f / 256.f, 0), 2.0);
}

/* tensorflow/lite/kernels/activations_test.cc, SigmoidInt8 and TanhInt8
 * (the "Reference" kernel is TFLM's algorithm): 89 inputs evenly from -10
 * to 10 (sigmoid; input params for [-10, 10]) or -8 to 8 (tanh; [-8,
 * 8 * 127/128] in, [-1, 127/128] out: 1/128 and 0, TFLM's), dequantized
 * outputs within kQuantizedTolerance (2/256) and kTanhTolerance (0.014)
 * of sigmoid and tanh. */
static void test_tflm_sigmoid_tanh_tflite_goldens(void **state)
{
    (void)state;
    int8_t lut[256];
    float scale;
    int32_t zp;
    lite_params(-10.0f, 10.0f, &scale, &zp);
    assert_null(tflm_lut_logistic(scale, zp, lut));
    for (int i = 0; i < 89; i++) {
        float v = -10.0f + 20.0f * (float)i / 88.0f;
        expect_near("sigmoid", i, (at(lut, lite_quantize(v, scale, zp)) + 128) / 256.0, 1.0 / (1.0 + exp(-v)),
                    2.0 / 256);
    }
    lite_params(-8.0f, 8.0f * 127.f / 128.f, &scale, &zp);
    assert_true(scale == 1.0f / 16 && zp == 0);
    assert_null(tflm_lut_tanh(scale, zp, lut));
    for (int i = 0; i < 89; i++) {
        float v = -8.0f + 16.0f * (float)i / 88.0f;
        expect_near("tanh", i, at(lut, lite_quantize(v, scale, zp)) / 128.0, tanh(v), 0.014);
    }
}

/* hard swish in float, as both HardSwish tests write it. */
static float hard_swish_f(float in)
{
    return in * fminf(6.0f, fmaxf(0.0f, in + 3)) * (1.0f / 6.0f);
}

/* tensorflow/lite/micro/kernels/hard_swish_test.cc, SimpleHardSwishTestInt8:
 * every pair of input and output ranges of {0, 1}, {-2, 1}, {-5, 10},
 * {-40, 60} (params by ScaleFromMinMax / ZeroPointFromMinMax), the
 * dequantized output within max(in range, out range) * 1.5/256 of the float
 * function clamped to the output range. The test draws 101 random inputs;
 * here every int8 input. Pairs whose output multiplier is 1 or more are the
 * ones TFLM's Prepare refuses. */
static void test_tflm_hard_swish_micro_goldens(void **state)
{
    (void)state;
    const float ranges[4][2] = {{0.f, 1.f}, {-2.f, 1.f}, {-5.f, 10.f}, {-40.f, 60.f}};
    int8_t lut[256];
    int refused = 0;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            float in_min = ranges[a][0], in_max = ranges[a][1], out_min = ranges[b][0], out_max = ranges[b][1];
            float in_scale = micro_scale(in_min, in_max), out_scale = micro_scale(out_min, out_max);
            int32_t in_zp = micro_zp(in_min, in_max), out_zp = micro_zp(out_min, out_max);
            if (tflm_lut_hard_swish(in_scale, in_zp, out_scale, out_zp, lut)) {
                refused++;
                continue;
            }
            float tol = fmaxf(in_max - in_min, out_max - out_min) * (1.5f / 256.f);
            for (int x = -128; x < 128; x++) {
                float v = in_scale * (float)(x - in_zp);
                float want = fminf(out_max, fmaxf(out_min, hard_swish_f(v)));
                expect_near("hard_swish", x, out_scale * (float)(at(lut, x) - out_zp), want, tol);
            }
        }
    assert_int_equal(refused, 0);
}

/* tensorflow/lite/kernels/activations_test.cc, HardSwishBias (from a
 * MobileNet v3 layer; uint8 there, the same arithmetic shifted by 128 in
 * int8): over the inputs from -3 to 3 the mean error stays within 0.035 of
 * the larger scale (TFLite's reason for SaturatingDoublingHighMul). */
static void test_tflm_hard_swish_bias(void **state)
{
    (void)state;
    const float in_min = -11.654928f, in_max = 25.036512f, out_min = -0.3905796f, out_max = 24.50887f;
    const float in_scale = (in_max - in_min) / 255.0f, out_scale = (out_max - out_min) / 255.0f;
    float s;
    int32_t in_zp, out_zp;
    lite_params(in_min, in_max, &s, &in_zp);
    lite_params(out_min, out_max, &s, &out_zp);
    int8_t lut[256];
    assert_null(tflm_lut_hard_swish(in_scale, in_zp, out_scale, out_zp, lut));
    int lo = (int)roundf(0 + (-3.0f - in_min) / in_scale), hi = (int)roundf(0 + (3.0f - in_min) / in_scale);
    float sum_diff = 0;
    for (int i = lo; i <= hi; i++) {
        float v = in_min + (float)i * in_scale;
        int8_t y = at(lut, lite_quantize(v, in_scale, in_zp));
        sum_diff += out_scale * (float)(y - out_zp) - fminf(out_max, fmaxf(out_min, hard_swish_f(v)));
    }
    float bias = sum_diff / ((float)(hi - lo + 1) * fmaxf(in_scale, out_scale));
    printf("hard_swish bias %.4f over %d inputs\n", bias, hi - lo + 1);
    assert_true(fabsf(bias) <= 0.035f);
}

/* tensorflow/lite/micro/kernels/leaky_relu_test.cc: ...LeakyReluInt8_1
 * (alpha 0.5, scale 0.1, zero point 0, tolerance 2/256) and ...Int8_2
 * (alpha 0.1, params for [-5, 5 * 127/128], tolerance 5 * 2/256), input and
 * output params equal. */
static void test_tflm_leaky_relu_micro_goldens(void **state)
{
    (void)state;
    int8_t lut[256];
    const float in1[6] = {0.0f, 1.0f, 3.0f, 1.0f, -1.0f, -2.0f}, want1[6] = {0.0f, 1.0f, 3.0f, 1.0f, -0.5f, -1.0f};
    assert_null(tflm_lut_leaky_relu(0.1f, 0, 0.1f, 0, 0.5f, lut));
    for (int i = 0; i < 6; i++)
        expect_near("leaky_relu 1", i, 0.1f * at(lut, micro_quantize(in1[i], 0.1f, 0)), want1[i], 2.0 / 256);
    const float in2[25] = {-5.0f, -4.6f, -4.2f, -3.8f, -3.4f, -3.0f, -2.6f, -2.2f, -1.8f, -1.4f, -1.0f, -0.6f, -0.2f,
                           0.2f,  0.6f,  1.0f,  1.4f,  1.8f,  2.2f,  2.6f,  3.0f,  3.4f,  3.8f,  4.2f,  4.6f};
    const float want2[25] = {-0.50f, -0.46f, -0.42f, -0.38f, -0.34f, -0.30f, -0.26f, -0.22f, -0.18f,
                             -0.14f, -0.10f, -0.06f, -0.02f, 0.20f,  0.60f,  1.00f,  1.40f,  1.80f,
                             2.20f,  2.60f,  3.00f,  3.40f,  3.80f,  4.20f,  4.60f};
    float scale = micro_scale(-5.0f, 5.0f * 127.0f / 128.0f);
    int32_t zp = micro_zp(-5.0f, 5.0f * 127.0f / 128.0f);
    assert_null(tflm_lut_leaky_relu(scale, zp, scale, zp, 0.1f, lut));
    for (int i = 0; i < 25; i++)
        expect_near("leaky_relu 2", i, scale * (float)(at(lut, micro_quantize(in2[i], scale, zp)) - zp), want2[i],
                    5 * 2.0 / 256);
}

/* Exact int8 outputs: tensorflow/lite/kernels/activations_test.cc ReluInt8
 * and Relu6Int8 (params for [-8, 8 * 127/128] in and out), and
 * tensorflow/lite/micro/kernels/activations_test.cc SimpleReluTestInt8
 * (0.5, 0) and SimpleRelu6TestInt8 (0.5, 127); Relu1Int8 ([-2, 1]) within
 * kQuantizedTolerance. */
static void test_tflm_relu_exact_vectors(void **state)
{
    (void)state;
    int8_t lut[256];
    float scale;
    int32_t zp;
    lite_params(-8.0f, 8.0f * 127.f / 128.f, &scale, &zp);
    const float relu_in[8] = {0, -6, 2, 4, 3, -2, 7, 1}, relu6_in[8] = {0, -6, 2, 4, 3, -2, 10, 1};
    const int8_t relu_want[8] = {0, 0, 32, 64, 48, 0, 112, 16}, relu6_want[8] = {0, 0, 32, 64, 48, 0, 96, 16};
    assert_null(tflm_lut_relu(scale, zp, scale, zp, lut));
    for (int i = 0; i < 8; i++)
        assert_int_equal(at(lut, lite_quantize(relu_in[i], scale, zp)), relu_want[i]);
    assert_null(tflm_lut_relu6(scale, zp, scale, zp, lut));
    for (int i = 0; i < 8; i++)
        assert_int_equal(at(lut, lite_quantize(relu6_in[i], scale, zp)), relu6_want[i]);

    const float micro_in[10] = {1, 2, 3, 4, 5, -1, -2, -3, -4, -5}, micro_golden[10] = {1, 2, 3, 4, 5, 0, 0, 0, 0, 0};
    assert_null(tflm_lut_relu(0.5f, 0, 0.5f, 0, lut));
    for (int i = 0; i < 10; i++)
        assert_int_equal(at(lut, micro_quantize(micro_in[i], 0.5f, 0)), micro_quantize(micro_golden[i], 0.5f, 0));
    const float micro6_in[10] = {4, 5, 6, 7, 8, -1, -2, -3, -4, -5}, micro6_golden[10] = {4, 5, 6, 6, 6, 0, 0, 0, 0, 0};
    assert_null(tflm_lut_relu6(0.5f, 127, 0.5f, 127, lut));
    for (int i = 0; i < 10; i++)
        assert_int_equal(at(lut, micro_quantize(micro6_in[i], 0.5f, 127)), micro_quantize(micro6_golden[i], 0.5f, 127));

    lite_params(-2.0f, 1.0f, &scale, &zp);
    const float relu1_in[8] = {0.0f, -0.6f, 0.2f, -0.4f, 0.3f, -2.0f, 1.1f, -0.1f};
    const float relu1_want[8] = {0.0f, -0.6f, 0.2f, -0.4f, 0.3f, -1.0f, 1.0f, -0.1f};
    assert_null(tflm_lut_relu_n1_to_1(scale, zp, scale, zp, lut));
    for (int i = 0; i < 8; i++)
        expect_near("relu_n1_to_1", i, scale * (float)(at(lut, lite_quantize(relu1_in[i], scale, zp)) - zp),
                    relu1_want[i], 2.0 / 256);
}

/* tensorflow/lite/micro/kernels/reduce_test.cc, the int8 MEAN cases (in and
 * out 0.5, 0; tolerance 1): MeanInt82DKeepDims {2, 4} over axis 1,
 * MeanInt83DKeepDims {2, 2, 2} over 1, 2, MeanInt84DKeepDims and
 * ...WithoutKeepDims {2, 2, 3, 2} over 1, 2 (H, W of NHWC),
 * ...WithPrecision {2, 2, 3, 1}; and the int16 test
 * ...DifferentScaleAndZeroPoint (out scale 0.7) run in int8. Both
 * variants of the kernel. */
static void test_tflm_mean_micro_goldens(void **state)
{
    (void)state;
    const float data[24] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};
    const float precision[12] = {1.0f, 24.0f, 13.0f, 3.0f, 9.0f, 17.0f, 11.0f, 36.0f, 14.0f, 19.0f, 17.0f, 22.0f};
    struct {
        const char *name;
        const float *in;
        int batches, count, channels; /* NHWC with H * W = count */
        const float golden[4];
        float out_scale;
    } cases[] = {
        {"mean 2d", data, 2, 4, 1, {2.5f, 6.5f}, 0.5f},
        {"mean 3d", data, 1, 4, 2, {4, 5}, 0.5f},
        {"mean 4d", data, 2, 6, 2, {6, 7, 18, 19}, 0.5f},
        {"mean 4d precision", precision, 2, 6, 1, {11.166667f, 19.833334f}, 0.5f},
        {"mean 4d 0.7", data, 2, 6, 2, {6, 7, 18, 19}, 0.7f},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int8_t x[24];
        int total = cases[c].batches * cases[c].count * cases[c].channels;
        for (int i = 0; i < total; i++)
            x[i] = micro_quantize(cases[c].in[i], 0.5f, 0);
        TflmMean m;
        assert_null(tflm_mean(0.5f, 0, cases[c].out_scale, 0, cases[c].count, &m));
        for (int b = 0, k = 0; b < cases[c].batches; b++)
            for (int ch = 0; ch < cases[c].channels; ch++, k++) {
                const int8_t *plane = x + b * cases[c].count * cases[c].channels + ch;
                int8_t want = micro_quantize(cases[c].golden[k], cases[c].out_scale, 0);
                int8_t y = cnnc_q_mean(plane, m.count, cases[c].channels, m.bias, m.multiplier, m.shift,
                                       m.output_zero_point);
                expect_near(cases[c].name, k, y, want, 1.0);
                y = cnnc_q_mean_rescale_first(plane, m.count, cases[c].channels, m.input_zero_point,
                                              m.rescale_multiplier, m.rescale_shift, m.output_zero_point);
                expect_near(cases[c].name, k, y, want, 1.0);
            }
    }
    /* the 4-D means are whole numbers: exact */
    int8_t x[24];
    for (int i = 0; i < 24; i++)
        x[i] = micro_quantize(data[i], 0.5f, 0);
    TflmMean m;
    assert_null(tflm_mean(0.5f, 0, 0.5f, 0, 6, &m));
    assert_int_equal(cnnc_q_mean(x, 6, 2, m.bias, m.multiplier, m.shift, 0), 12);
    assert_int_equal(cnnc_q_mean(x + 13, 6, 2, m.bias, m.multiplier, m.shift, 0), 38);
}

/* ---- properties ---- */

/* LOGISTIC and TANH tables for random scales: non-decreasing, within one
 * step of the real function of the dequantized input, logistic mirrored
 * (y(zp + k) + y(zp - k) = -1 +- 1) and tanh odd (exactly, short of the
 * -128 / 127 saturation). */
static void test_tflm_sigmoid_tables_properties(void **state)
{
    (void)state;
    uint64_t s = 8;
    int8_t l[256], t[256];
    for (int k = 0; k < 2000; k++) {
        float scale = log_uniform(&s, 1e-3, 1.0);
        int32_t zp = any_zp(&s);
        assert_null(tflm_lut_logistic(scale, zp, l));
        assert_null(tflm_lut_tanh(scale, zp, t));
        for (int x = -128; x < 128; x++) {
            double v = scale * (double)(x - zp);
            expect_near("logistic vs float", x, at(l, x), fmin(127, 256.0 / (1.0 + exp(-v)) - 128), 1.0);
            expect_near("tanh vs float", x, at(t, x), fmax(-128, fmin(127, 128.0 * tanh(v))), 1.0);
            if (x > -128) {
                assert_true(at(l, x) >= at(l, x - 1));
                assert_true(at(t, x) >= at(t, x - 1));
            }
            int32_t m = 2 * zp - x;
            if (m >= -128 && m <= 127) {
                int sum = at(l, x) + at(l, m);
                assert_true(sum >= -2 && sum <= 0);
                if (at(t, x) > -128 && at(t, x) < 127 && at(t, m) > -128 && at(t, m) < 127)
                    assert_int_equal(at(t, x), -at(t, m));
            }
        }
        assert_int_equal(at(l, zp), 0);
        assert_int_equal(at(t, zp), 0);
    }
}

/* The requantizing tables near the real function of the dequantized
 * input, clamped to the output's range, for random params: leaky relu, the
 * relus and quantize within 0.75 of a step (TFLite's double rounding: the
 * high multiply rounds to an integer, off by up to a half, before the
 * rounding shift by at least one bit halves that; measured: 0.750), hard
 * swish within a step (measured 0.519: its int16 fixed point). */
static void test_tflm_requantizing_tables_near_float(void **state)
{
    (void)state;
    static const char *const names[5] = {"hard_swish", "leaky_relu", "relu", "relu6", "quantize"};
    uint64_t s = 9;
    int8_t lut[256];
    double worst[5] = {0};
    for (int k = 0; k < 2000; k++) {
        Params p = random_params(&s);
        p.out_scale = p.in_scale * (float)exp(uniform(&s) * 3.0 - 1.0);
        float alpha = (float)uniform(&s);
        double lo = p.out_scale * (-128 - p.out_zp), hi = p.out_scale * (127 - p.out_zp);
        for (int op = 0; op < 5; op++) {
            const char *msg;
            switch (op) {
            case 0: msg = tflm_lut_hard_swish(p.in_scale, p.in_zp, p.out_scale, p.out_zp, lut); break;
            case 1: msg = tflm_lut_leaky_relu(p.in_scale, p.in_zp, p.out_scale, p.out_zp, alpha, lut); break;
            case 2: msg = tflm_lut_relu(p.in_scale, p.in_zp, p.out_scale, p.out_zp, lut); break;
            case 3: msg = tflm_lut_relu6(p.in_scale, p.in_zp, p.out_scale, p.out_zp, lut); break;
            default: msg = tflm_lut_quantize(p.in_scale, p.in_zp, p.out_scale, p.out_zp, lut); break;
            }
            assert_null(msg);
            for (int x = -128; x < 128; x++) {
                double v = p.in_scale * (double)(x - p.in_zp), f;
                switch (op) {
                case 0: f = v * fmin(6, fmax(0, v + 3)) / 6; break;
                case 1: f = v >= 0 ? v : alpha * v; break;
                case 2: f = fmax(v, 0); break;
                case 3: f = fmin(fmax(v, 0), 6); break;
                default: f = v; break;
                }
                f = fmin(hi, fmax(lo, f));
                double err = fabs(p.out_scale * (at(lut, x) - p.out_zp) - f) / p.out_scale;
                double tol = op == 0 ? 1.0 : 0.75 + 1e-6;
                if (!(err <= tol))
                    fail_msg("%s in %.9g %d out %.9g %d alpha %.9g x %d: %d is %.4g steps off", names[op], p.in_scale, p.in_zp,
                             p.out_scale, p.out_zp, alpha, x, at(lut, x), err);
                worst[op] = fmax(worst[op], err);
            }
        }
    }
    printf("worst error in output steps: hard_swish %.3f, leaky_relu %.3f, relu %.3f, relu6 %.3f, quantize %.3f\n",
           worst[0], worst[1], worst[2], worst[3], worst[4]);
}

/* Softmax rows of random values sum to 256 (as int8 + 128) within half a
 * step per value, their largest entry is the largest output, and the exp
 * table falls from exactly 1. */
static void test_tflm_softmax_properties(void **state)
{
    (void)state;
    uint64_t s = 10;
    TflmSoftmax sm;
    int8_t x[64], y[64];
    int worst = 0;
    for (int k = 0; k < 5000; k++) {
        float scale = log_uniform(&s, 1e-2, 0.5);
        int n = 1 + (int)(next(&s) % 64);
        assert_null(tflm_softmax(scale, 1.0f, &sm));
        assert_int_equal(sm.exp_lut[0], INT32_MAX);
        for (int d = 1; d < 256; d++)
            assert_true(sm.exp_lut[d] <= sm.exp_lut[d - 1] && sm.exp_lut[d] >= 0);
        for (int i = 0; i < n; i++)
            x[i] = (int8_t)next(&s);
        cnnc_q_softmax_tflm(x, y, n, 1, sm.exp_lut);
        int sum = 0, top = 0;
        for (int i = 0; i < n; i++) {
            sum += y[i] + 128;
            top = x[i] > x[top] ? i : top;
        }
        for (int i = 0; i < n; i++)
            assert_true(y[i] <= y[top]);
        int err = abs(sum - 256);
        worst = err > worst ? err : worst;
        if (err > (n + 1) / 2 + 1)
            fail_msg("softmax of %d values sums to %d", n, sum);
    }
    printf("softmax rows: sums within %d of 256\n", worst);
    /* one value: probability 1, saturated at 127 */
    int8_t one = 5, out;
    assert_null(tflm_softmax(0.1f, 1.0f, &sm));
    cnnc_q_softmax_tflm(&one, &out, 1, 1, sm.exp_lut);
    assert_int_equal(out, 127);
    cnnc_q_softmax_tflm(&one, &out, 0, 1, sm.exp_lut); /* nothing */
    assert_int_equal(out, 127);
}

/* The constants themselves on hand-computed cases. */
static void test_tflm_constants_hand_computed(void **state)
{
    (void)state;
    TflmSoftmax sm;
    /* 0.1 * 1 * 2^26 = 6710886.4 = 0.8 * 2^23: multiplier round(0.8 * 2^31), shift 23,
     * radius floor(31 * 2^26 / 2^23) = 248 */
    assert_null(tflm_softmax(0.1f, 1.0f, &sm));
    assert_int_equal(sm.input_left_shift, 23);
    assert_int_equal(sm.diff_min, -248);
    assert_true(fabs(sm.input_multiplier / 2147483648.0 - 0.1f * 67108864.0 / 8388608.0) < 1e-9);
    assert_int_equal(sm.exp_lut[249], 0); /* dropped */
    assert_true(fabs(sm.exp_lut[10] / 2147483648.0 - exp(-10 * 0.1f)) < 1e-7);
    TflmMean m;
    /* same params over 6: 2^30 * 4 / 6 with shift 1 - 2 */
    assert_null(tflm_mean(0.5f, -3, 0.5f, 7, 6, &m));
    assert_int_equal(m.count, 6);
    assert_int_equal(m.bias, 18);
    assert_int_equal(m.multiplier, (int32_t)((INT64_C(1) << 32) / 6));
    assert_int_equal(m.shift, -1);
    assert_int_equal(m.rescale_multiplier, 1 << 30);
    assert_int_equal(m.rescale_shift, 1);
    assert_int_equal(m.input_zero_point, -3);
    assert_int_equal(m.output_zero_point, 7);
    /* a large plane and a small ratio: the fold shift stops at 31 + shift (1e-6 = 0.52 * 2^-19) */
    assert_null(tflm_mean(1.0f, 0, 1.0f, 0, 1 << 20, &m));
    assert_int_equal(m.shift, 1 - 20);
    assert_null(tflm_mean(1e-6f, 0, 1.0f, 0, 1 << 20, &m));
    assert_int_equal(m.shift, -31);
}

/* Params TFLM's Prepare refuses, or that cannot be int8 tensors, give a
 * message and leave the output alone. */
static void test_tflm_refusals(void **state)
{
    (void)state;
    int8_t lut[256];
    memset(lut, 0x5a, sizeof lut);
    assert_string_equal(tflm_lut_logistic(0.0f, 0, lut), "scale must be positive and finite");
    assert_string_equal(tflm_lut_tanh(NAN, 0, lut), "scale must be positive and finite");
    assert_string_equal(tflm_lut_relu(0.1f, 128, 0.1f, 0, lut), "zero point outside -128..127");
    assert_string_equal(tflm_lut_quantize(0.1f, 0, INFINITY, 0, lut), "scale must be positive and finite");
    assert_string_equal(tflm_lut_hard_swish(1.0f, 0, 1.0f / 256, 0, lut),
                        "hard_swish output scale below 1/128 of the input scale");
    assert_string_equal(tflm_lut_leaky_relu(0.1f, 0, 0.1f, 0, NAN, lut), "alpha must be finite");
    assert_string_equal(tflm_lut_relu_range(0.1f, 0, 0.1f, 0, 1.0f, -1.0f, lut), "activation range must be an interval");
    assert_string_equal(tflm_lut_quantize(1.0f, 0, 1e-10f, 0, lut), "quantize rescales by 2^30 or more");
    assert_string_equal(tflm_lut_logistic(1e-30f, 0, lut), "input scale too small for 32-bit rescaling");
    for (int i = 0; i < 256; i++)
        assert_int_equal((uint8_t)lut[i], 0x5a);
    TflmSoftmax sm;
    memset(&sm, 0x5a, sizeof sm);
    assert_string_equal(tflm_softmax(1e-9f, 1.0f, &sm), "softmax beta * input scale below 2^-26");
    assert_string_equal(tflm_softmax(0.1f, 0.0f, &sm), "beta must be positive and finite");
    assert_int_equal((uint32_t)sm.diff_min, 0x5a5a5a5au);
    TflmMean m;
    assert_string_equal(tflm_mean(0.1f, 0, 0.1f, 0, 0, &m), "mean over no values");
    assert_string_equal(tflm_mean(0.1f, 0, 0.1f, 0, INT64_C(1) << 24, &m),
                        "mean over more than 16777215 values overflows its 32-bit sum");
    assert_string_equal(tflm_mean(1.0f, 0, 1e-10f, 0, 1, &m), "mean rescales by 2^30 or more");
}

/* ---- the runtime block on the targets ---- */

#define STRICT "-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror -Wconversion"
#define M4 "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"

static bool have(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return tu_run(cmd, NULL) == 0;
}

/* A program over the TFLM block alone: softmax rows and means with tables
 * made here, printing a checksum (no libc beyond printf). */
static char *sweep_source(void)
{
    char *src = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&src, &len);
    TflmSoftmax sm;
    assert_null(tflm_softmax(0.0625f, 1.0f, &sm));
    fprintf(f, "#include <stdio.h>\n#include \"cnnc_q8.h\"\n\nstatic const int32_t exp_lut[256] = {");
    for (int d = 0; d < 256; d++)
        fprintf(f, "%s%ld", d ? ", " : "", (long)sm.exp_lut[d]);
    TflmMean m;
    assert_null(tflm_mean(0.05f, -7, 0.03f, 11, 49, &m));
    fprintf(f, "};\n\nstatic uint32_t rnd(uint32_t *s)\n{\n    *s ^= *s << 13;\n    *s ^= *s >> 17;\n"
               "    *s ^= *s << 5;\n    return *s;\n}\n\n"
               "int main(void)\n{\n    uint32_t s = 2463534242u, h = 0;\n    int8_t x[100], y[100];\n    int k, i;\n"
               "    for (k = 0; k < 2000; k++) {\n        int n = 1 + (int)(rnd(&s) %% 100u);\n"
               "        for (i = 0; i < n; i++)\n            x[i] = (int8_t)rnd(&s);\n"
               "        cnnc_q_softmax_tflm(x, y, n, 1, exp_lut);\n"
               "        for (i = 0; i < n; i++)\n            h = h * 31u + (uint8_t)y[i];\n"
               "        h = h * 31u + (uint8_t)cnnc_q_mean(x, n / 2, 2, %ld, %ld, %ld, %ld);\n    }\n"
               "    printf(\"%%08lx\\n\", (unsigned long)h);\n    return 0;\n}\n",
            (long)m.bias, (long)m.multiplier, (long)m.shift, (long)m.output_zero_point);
    fclose(f);
    return src;
}

/* Runs cmd with %1$s standing for dir; fails with the output unless it
 * exits 0. Returns the output. */
static char *run_in(const char *dir, const char *fmt)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, dir);
    char *out = NULL;
    if (tu_run(cmd, &out) != 0)
        fail_msg("%s:\n%s", cmd, out);
    return out;
}

/* The block builds warning-free with the generated code's flags (and
 * -Wconversion) with gcc and clang, for Cortex-M4, Cortex-M0 and RV32, and
 * gives the host's checksum on an emulated Cortex-M4 (CLZ, SMULL) and an
 * emulated Cortex-M3 (Armv6-M code: libgcc's clz). */
static void test_tflm_runtime_block_on_targets(void **state)
{
    (void)state;
    if (!tu_cross_checks())
        skip();
    char dir[] = "build/tflm-XXXXXX";
    mkdir("build", 0777);
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/sweep.c", dir);
    char *src = sweep_source();
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(src, f);
    fclose(f);
    free(src);
    snprintf(path, sizeof path, "%s/boot.c", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(tu_m4_boot_src, f);
    fclose(f);
    char *host = run_in(dir, "cc " STRICT " -O2 -Iruntime %1$s/sweep.c -o %1$s/sweep 2>&1 && %1$s/sweep");
    if (have("clang"))
        free(run_in(dir, "clang " STRICT " -O2 -Iruntime -c %1$s/sweep.c -o %1$s/sweep_clang.o 2>&1"));
    if (have("riscv64-unknown-elf-gcc")) { /* freestanding: no stdio */
        snprintf(path, sizeof path, "%s/block.c", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("#include \"cnnc_q8.h\"\nint8_t f(int8_t *x, const int32_t *lut);\n"
              "int8_t f(int8_t *x, const int32_t *lut)\n{\n    cnnc_q_softmax_tflm(x, x, 10, 2, lut);\n"
              "    return cnnc_q_mean(x, 9, 3, 100, 1 << 30, -3, 5);\n}\n",
              f);
        fclose(f);
        free(run_in(dir, "riscv64-unknown-elf-gcc " STRICT " -march=rv32imac -mabi=ilp32 -ffreestanding -nostdlib -O2 "
                         "-Iruntime -c %1$s/block.c -o %1$s/block_rv32.o 2>&1"));
    }
    bool qemu = have("arm-none-eabi-gcc") && have("qemu-system-arm") &&
                tu_run("test -f \"$(arm-none-eabi-gcc -print-file-name=rdimon.specs)\"", NULL) == 0;
    if (have("arm-none-eabi-gcc")) {
        free(run_in(dir, "arm-none-eabi-gcc " STRICT " -mcpu=cortex-m0 -mthumb -O2 -Iruntime -c %1$s/sweep.c "
                         "-o %1$s/sweep_m0.o 2>&1"));
        free(run_in(dir, "arm-none-eabi-gcc " STRICT " " M4 " -O2 -Iruntime -c %1$s/sweep.c -o %1$s/sweep_m4.o 2>&1"));
    }
    if (qemu) {
        char *m4 = run_in(dir, "arm-none-eabi-gcc " M4 " -O2 --specs=rdimon.specs -Iruntime %1$s/boot.c %1$s/sweep.c "
                               "-Wl,--section-start=.vectors=0x0 -o %1$s/sweep.elf 2>&1 && timeout 60 "
                               "qemu-system-arm -M mps2-an386 -nographic -semihosting -kernel %1$s/sweep.elf 2>&1");
        assert_string_equal(m4, host);
        free(m4);
        /* no FPU to turn on: the vector table straight to newlib's start-up */
        snprintf(path, sizeof path, "%s/boot_m0.c", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("extern void _start(void);\n__attribute__((section(\".vectors\"), used)) static void (*const "
              "vectors[2])(void) = {\n    (void (*)(void))0x20400000u, _start};\n",
              f);
        fclose(f);
        char *m3 = run_in(dir, "arm-none-eabi-gcc -mcpu=cortex-m0 -mthumb -O2 --specs=rdimon.specs -Iruntime "
                               "%1$s/boot_m0.c %1$s/sweep.c -Wl,--section-start=.vectors=0x0 -o %1$s/sweep_m0.elf 2>&1 "
                               "&& timeout 60 qemu-system-arm -M mps2-an385 -nographic -semihosting "
                               "-kernel %1$s/sweep_m0.elf 2>&1");
        assert_string_equal(m3, host);
        free(m3);
    }
    printf("runtime block checksum %.8s (host%s)\n", host, qemu ? ", Cortex-M4 and Armv6-M on qemu alike" : "");
    free(host);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    tu_run(rm, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tflm_srdhm_rdbpot_match_gemmlowp),
        cmocka_unit_test(test_tflm_small_primitives),
        cmocka_unit_test(test_tflm_one_over_one_plus_x),
        cmocka_unit_test(test_tflm_reciprocal),
        cmocka_unit_test(test_tflm_exp_on_negative_values),
        cmocka_unit_test(test_tflm_logistic_tanh_fixed_point),
        cmocka_unit_test(test_tflm_logistic_tanh_tables_match_kernel),
        cmocka_unit_test(test_tflm_requantizing_tables_match_kernels),
        cmocka_unit_test(test_tflm_relu6_equal_params_is_micro_kernel),
        cmocka_unit_test(test_tflm_softmax_matches_kernel),
        cmocka_unit_test(test_tflm_mean_matches_kernel),
        cmocka_unit_test(test_tflm_softmax_tflite_exact_vectors),
        cmocka_unit_test(test_tflm_softmax_micro_goldens),
        cmocka_unit_test(test_tflm_logistic_micro_goldens),
        cmocka_unit_test(test_tflm_tanh_micro_goldens),
        cmocka_unit_test(test_tflm_sigmoid_tanh_tflite_goldens),
        cmocka_unit_test(test_tflm_hard_swish_micro_goldens),
        cmocka_unit_test(test_tflm_hard_swish_bias),
        cmocka_unit_test(test_tflm_leaky_relu_micro_goldens),
        cmocka_unit_test(test_tflm_relu_exact_vectors),
        cmocka_unit_test(test_tflm_mean_micro_goldens),
        cmocka_unit_test(test_tflm_sigmoid_tables_properties),
        cmocka_unit_test(test_tflm_requantizing_tables_near_float),
        cmocka_unit_test(test_tflm_softmax_properties),
        cmocka_unit_test(test_tflm_constants_hand_computed),
        cmocka_unit_test(test_tflm_refusals),
        cmocka_unit_test(test_tflm_runtime_block_on_targets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
