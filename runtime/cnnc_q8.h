/*
 * cnnc runtime, int8: the integer primitives of quantized inference, as static inline
 * functions so that generated code pays only for what it uses.
 *
 * The arithmetic is TensorFlow Lite's (gemmlowp's) and CMSIS-NN's, so results match theirs
 * bit for bit for the same parameters:
 *
 *   real value        = scale * (q - zero_point)
 *   requantization    = RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(
 *                           acc * 2^max(shift, 0), mult), max(-shift, 0))
 *                       with (mult, shift) from TFLite's QuantizeMultiplier:
 *                       real multiplier = mult * 2^(shift - 31)
 *
 * Rounding: cnnc_q_srdhm rounds half up (towards +infinity: gemmlowp's nudge), cnnc_q_rdbpot
 * rounds half away from zero. Both are exactly gemmlowp's (TFLite's default double rounding,
 * not its optional TFLITE_SINGLE_ROUNDING).
 *
 * Plain C99, freestanding: only <stdint.h>. No signed overflow and no shift of a negative
 * number (the arithmetic shifts are written so that they are defined). Converting an
 * out-of-range uint32_t to int32_t wraps on every compiler cnnc targets (gcc and clang
 * define it); SMLAD wraps the same way.
 *
 * With __ARM_FEATURE_DSP (Cortex-M4, M7, M33 with DSP...), cnnc_q_smlad, cnnc_q_sxtb16,
 * cnnc_q_sxtab16, cnnc_q_sadd16, cnnc_q_smlabt, cnnc_q_smlatb, cnnc_q_smmlar, cnnc_q_ssat8 and the PKH helpers
 * are single instructions (ACLE intrinsics, or inline asm where <arm_acle.h> lacks them);
 * elsewhere, portable C that gives the same bits. cnnc_q_requant2 is cnnc_q_output_rs in one
 * rounding multiply, for accumulators the kernels keep doubled (see its conditions).
 *
 * The kernels (parameters from compiler/quant.c's QuantInfo; x is the input's int8 value and
 * zx its zero point, zy the output's, [lo, hi] the output clamp act_min..act_max; every sum
 * in int32):
 *
 *   input      y = cnnc_q_quantize(x, scale, zy)                  (float x)
 *   output     f = cnnc_q_dequantize(y, scale, zy)                (float f)
 *   conv       acc = bias[c] + sum over the window's taps of w * (x - zx), a zeros-padded tap
 *              adding nothing (reflect/replicate/circular taps read the folded cell);
 *              y = cnnc_q_output(acc, mult[c], shift[c], zy, lo, hi). Where every tap is
 *              inside, acc = (bias[c] - zx * wsum[c]) + sum of w * x.
 *   linear     the same over [out][in] weights.
 *   affine     (batchnorm not folded) acc = bias[c] + weight[c] * (x - zx), then as conv.
 *   max/min    y = the largest/smallest x of the window's cells inside the input (the params
 *              are the input's), zy if there is none. Global: the whole plane.
 *   avg        s = sum of the window's x inside the input, plus zx for each padded cell of
 *              the window clipped to the padded input when count_include_pad; d = that
 *              clipped window size, else the cells inside; y = cnnc_q_div_round(s, d)
 *              (params are the input's). Global: d = H * W.
 *   sum pool   acc = sum of (x - zx) inside; y = cnnc_q_output(acc, out_mult, out_shift,...)
 *   add        acc = sum over inputs i of cnnc_q_add_term(x_i, z_i, 20, in_mult[i],
 *              in_shift[i]); y = cnnc_q_output(acc, out_mult, out_shift, zy, lo, hi)
 *   concat     input i copied if its params are the output's, else
 *              y = cnnc_q_output(x - z_i, in_mult[i], in_shift[i], zy, -128, 127)
 *   relu(6)    y = cnnc_q_clamp(x, lo, hi) where not fused into the producer's clamp
 *   sigmoid, tanh, hardswish, leakyrelu (and a relu that rescales)
 *              y = lut[x + 128]: TFLM's integer kernel evaluated by the compiler for each of
 *              the 256 inputs (compiler/tflm.c); hardsigmoid, which TFLite lacks:
 *              quantize(f(dequantize(x)))
 *   softmax    cnnc_q_softmax_tflm below; output scale 1/256, zero point -128
 *   mean       (imported models) cnnc_q_mean below, TFLM's MEAN
 */
#ifndef CNNC_Q8_H
#define CNNC_Q8_H

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#define CNNC_Q_ACLE 1
#elif defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
#define CNNC_Q_ASM 1
#endif

/* Generated kernels write their innermost loops as Thumb-2 assembly on DSP cores when
 * optimizing: compilers spill the eight accumulators of a 4x2 block otherwise. Unoptimized
 * builds keep the C (the frame pointer leaves too few registers for the assembly). */
#if defined(__ARM_FEATURE_DSP) && defined(__thumb2__) && defined(__GNUC__) && defined(__OPTIMIZE__)
#define CNNC_Q_KERNEL_ASM 1
#endif

/* Kernels with such assembly stay functions of their own: their blocks take 14 registers, which
 * the compiler finds in a small function but not always once it is inlined into a larger one. */
#ifdef CNNC_Q_KERNEL_ASM
#define CNNC_Q_KERNEL __attribute__((noinline))
#else
#define CNNC_Q_KERNEL
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* x >> n, rounding towards minus infinity also for negative x (what every compiler does for
 * >>, but which C leaves to the implementation). n in 0..31. */
static inline int32_t cnnc_q_asr(int32_t x, int n)
{
    return x >= 0 ? x >> n : ~(~x >> n);
}

/* gemmlowp's SaturatingRoundingDoublingHighMul: the high 32 bits of 2*a*b, rounded half up;
 * the one overflowing case, INT32_MIN * INT32_MIN, saturates to INT32_MAX. */
static inline int32_t cnnc_q_srdhm(int32_t a, int32_t b)
{
    int64_t n;
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    /* gemmlowp's (ab + nudge) / 2^31 truncated, with nudge 2^30 or 1 - 2^30 by the sign of ab,
     * is floor((ab + 2^30) / 2^31) either way: one add and one shift (SMULL, ADDS, ADC, and the
     * extraction on Cortex-M) instead of a sign-dependent nudge and division. */
    n = (int64_t)a * (int64_t)b + ((int64_t)1 << 30);
    return (int32_t)(n >= 0 ? n >> 31 : ~(~n >> 31));
}

/* gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded to nearest, half away from zero.
 * exponent in 0..31. */
static inline int32_t cnnc_q_rdbpot(int32_t x, int exponent)
{
    int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return cnnc_q_asr(x, exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite's MultiplyByQuantizedMultiplier: acc * mult * 2^(shift - 31), rounded twice as TFLite
 * does. shift in -31..30 (what QuantizeMultiplier gives for the multipliers cnnc makes). */
static inline int32_t cnnc_q_requant(int32_t acc, int32_t mult, int32_t shift)
{
    int left = shift > 0 ? (int)shift : 0;
    int right = shift > 0 ? 0 : (int)-shift;
    return cnnc_q_rdbpot(cnnc_q_srdhm((int32_t)((uint32_t)acc << left), mult), right);
}

/* min(max(v, lo), hi). */
static inline int32_t cnnc_q_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* The int8 nearest v: saturation to -128..127. */
static inline int8_t cnnc_q_sat8(int32_t v)
{
    return (int8_t)cnnc_q_clamp(v, -128, 127);
}

/* The end of every requantizing kernel: rescale, add the output zero point, clamp to the
 * (activation-narrowed) output range, which lies within -128..127. */
static inline int8_t cnnc_q_output(int32_t acc, int32_t mult, int32_t shift, int32_t zero_point,
                                   int32_t act_min, int32_t act_max)
{
    return (int8_t)cnnc_q_clamp(cnnc_q_requant(acc, mult, shift) + zero_point, act_min, act_max);
}

/* cnnc_q_output for a shift known to be to the right, given as rshift = -shift in 0..31:
 * the same bits without the left-shift branch. */
static inline int8_t cnnc_q_output_rs(int32_t acc, int32_t mult, int32_t rshift, int32_t zero_point,
                                      int32_t act_min, int32_t act_max)
{
    return (int8_t)cnnc_q_clamp(cnnc_q_rdbpot(cnnc_q_srdhm(acc, mult), (int)rshift) + zero_point, act_min, act_max);
}

/* TFLite's average pooling division: sum / count rounded half away from zero. count > 0. */
static inline int32_t cnnc_q_div_round(int32_t sum, int32_t count)
{
    return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

/* One input of TFLite's Add: (x - zero_point) * 2^left_shift brought to the common scale. */
static inline int32_t cnnc_q_add_term(int8_t x, int32_t zero_point, int left_shift, int32_t mult, int32_t shift)
{
    return cnnc_q_requant(((int32_t)x - zero_point) * ((int32_t)1 << left_shift), mult, shift);
}

/* TFLite's float-to-int8 quantization: round(x / scale) + zero_point (half away from zero),
 * saturated. NaN gives -128. No libm. */
static inline int8_t cnnc_q_quantize(float x, float scale, int32_t zero_point)
{
    float r = x / scale;
    int32_t t;
    float frac;
    if (!(r >= -256.0f))
        r = -256.0f; /* also NaN */
    if (r > 256.0f)
        r = 256.0f;
    t = (int32_t)r; /* towards zero; exact below 2^23 */
    frac = r - (float)t;
    t += frac >= 0.5f ? 1 : (frac <= -0.5f ? -1 : 0);
    return cnnc_q_sat8(t + zero_point);
}

/* TFLite's dequantization, scale * (q - zero_point): one rounding, as in TFLite's double
 * product rounded to float. */
static inline float cnnc_q_dequantize(int8_t q, float scale, int32_t zero_point)
{
    return scale * (float)((int32_t)q - zero_point);
}

/* ---- packed pairs: two int16 in one word, low half first ---- */

/* The signed 16-bit half of a word: 0 low, 1 high. */
static inline int32_t cnnc_q_half(uint32_t x, int which)
{
    uint32_t h = which ? x >> 16 : x & 0xffffu;
    return (int32_t)h - (h >= 0x8000u ? 0x10000 : 0);
}

/* Two int16 values as one word, lo in the low half. */
static inline uint32_t cnnc_q_pack16(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xffffu) | ((uint32_t)hi & 0xffffu) << 16;
}

/* Four int8 from memory (any alignment) as one word, p[0] in the low byte. gcc and clang
 * merge the byte loads into one load where unaligned loads are allowed (Cortex-M3 and up). */
static inline uint32_t cnnc_q_read4(const int8_t *p)
{
    return (uint32_t)(uint8_t)p[0] | (uint32_t)(uint8_t)p[1] << 8 | (uint32_t)(uint8_t)p[2] << 16 |
           (uint32_t)(uint8_t)p[3] << 24;
}

/* Two int16 from memory (any alignment) as one word, p[0] in the low half: one load where
 * unaligned loads are allowed, as cnnc_q_read4. */
static inline uint32_t cnnc_q_read2(const int16_t *p)
{
    return (uint32_t)(uint16_t)p[0] | (uint32_t)(uint16_t)p[1] << 16;
}

/* SXTB16: bytes 0 and 2 of x, sign-extended into the two halves. */
static inline uint32_t cnnc_q_sxtb16(uint32_t x)
{
#if defined(CNNC_Q_ACLE)
    return (uint32_t)__sxtb16((int32_t)x);
#elif defined(CNNC_Q_ASM)
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
#else
    uint32_t b0 = x & 0xffu, b2 = (x >> 16) & 0xffu;
    return (b0 | (b0 & 0x80u ? 0xff00u : 0u)) | (b2 | (b2 & 0x80u ? 0xff00u : 0u)) << 16;
#endif
}

/* SXTB16 with ROR #8: bytes 1 and 3 of x, sign-extended into the two halves. With
 * cnnc_q_sxtb16 this unpacks four int8 into two pairs: (b0, b2) and (b1, b3). */
static inline uint32_t cnnc_q_sxtb16_ror8(uint32_t x)
{
#if defined(CNNC_Q_ACLE) || defined(CNNC_Q_ASM)
    uint32_t r; /* one instruction: gcc does not fold the rotate into the intrinsic */
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
#else
    return cnnc_q_sxtb16(x >> 8 | x << 24);
#endif
}

/* SXTAB16: acc's halves plus bytes 0 and 2 of x, sign-extended, each wrapping in 16 bits:
 * sums of int8 in one instruction per two values. */
static inline uint32_t cnnc_q_sxtab16(uint32_t acc, uint32_t x)
{
#if defined(CNNC_Q_ACLE) || defined(CNNC_Q_ASM)
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(acc), "r"(x));
    return r;
#else
    uint32_t b = cnnc_q_sxtb16(x);
    return ((acc + b) & 0xffffu) | (((acc >> 16) + (b >> 16)) & 0xffffu) << 16;
#endif
}

/* SXTAB16 with ROR #8: acc's halves plus bytes 1 and 3 of x, as cnnc_q_sxtab16. */
static inline uint32_t cnnc_q_sxtab16_ror8(uint32_t acc, uint32_t x)
{
#if defined(CNNC_Q_ACLE) || defined(CNNC_Q_ASM)
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
#else
    return cnnc_q_sxtab16(acc, x >> 8 | x << 24);
#endif
}

/* SADD16: the two halves added independently, each wrapping in 16 bits. */
static inline uint32_t cnnc_q_sadd16(uint32_t a, uint32_t b)
{
#if defined(CNNC_Q_ACLE)
    return (uint32_t)__sadd16((int32_t)a, (int32_t)b);
#elif defined(CNNC_Q_ASM)
    uint32_t r;
    __asm__("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return ((a + b) & 0xffffu) | (((a >> 16) + (b >> 16)) & 0xffffu) << 16;
#endif
}

/* SMLAD: acc + lo(x)*lo(y) + hi(x)*hi(y) over signed 16-bit halves, wrapping in 32 bits:
 * two multiply-accumulates in one instruction on a DSP core. */
static inline int32_t cnnc_q_smlad(uint32_t x, uint32_t y, int32_t acc)
{
#if defined(CNNC_Q_ACLE)
    return __smlad((int32_t)x, (int32_t)y, acc);
#elif defined(CNNC_Q_ASM)
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
    return r;
#else
    uint32_t lo = (uint32_t)(cnnc_q_half(x, 0) * cnnc_q_half(y, 0));
    uint32_t hi = (uint32_t)(cnnc_q_half(x, 1) * cnnc_q_half(y, 1));
    return (int32_t)((uint32_t)acc + lo + hi);
#endif
}

/* SMLABT: acc + lo(x) * hi(y) over signed 16-bit halves, wrapping in 32 bits. */
static inline int32_t cnnc_q_smlabt(uint32_t x, uint32_t y, int32_t acc)
{
#if defined(CNNC_Q_ACLE) || defined(CNNC_Q_ASM)
    int32_t r;
    __asm__("smlabt %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
    return r;
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(cnnc_q_half(x, 0) * cnnc_q_half(y, 1)));
#endif
}

/* SMLATB: acc + hi(x) * lo(y) over signed 16-bit halves, wrapping in 32 bits. */
static inline int32_t cnnc_q_smlatb(uint32_t x, uint32_t y, int32_t acc)
{
#if defined(CNNC_Q_ACLE) || defined(CNNC_Q_ASM)
    int32_t r;
    __asm__("smlatb %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
    return r;
#else
    return (int32_t)((uint32_t)acc + (uint32_t)(cnnc_q_half(x, 1) * cnnc_q_half(y, 0)));
#endif
}

/* acc + sum of a[i] * b[i] for i in 0..3: four int8 products in two SMLADs. */
static inline int32_t cnnc_q_dot4(int32_t acc, const int8_t *a, const int8_t *b)
{
    uint32_t x = cnnc_q_read4(a), y = cnnc_q_read4(b);
    acc = cnnc_q_smlad(cnnc_q_sxtb16(x), cnnc_q_sxtb16(y), acc);
    return cnnc_q_smlad(cnnc_q_sxtb16_ror8(x), cnnc_q_sxtb16_ror8(y), acc);
}

/* acc + sum of w[i] * (x[i] + offset) for i in 0..3, offset = -input zero point (in
 * -127..128, so x + offset fits a half): CMSIS-NN's inner step, the offset added to both
 * halves with one SADD16. */
static inline int32_t cnnc_q_dot4_offset(int32_t acc, const int8_t *w, const int8_t *x, int32_t offset)
{
    uint32_t wv = cnnc_q_read4(w), xv = cnnc_q_read4(x), off = cnnc_q_pack16(offset, offset);
    acc = cnnc_q_smlad(cnnc_q_sxtb16(wv), cnnc_q_sadd16(cnnc_q_sxtb16(xv), off), acc);
    return cnnc_q_smlad(cnnc_q_sxtb16_ror8(wv), cnnc_q_sadd16(cnnc_q_sxtb16_ror8(xv), off), acc);
}

/* PKHBT with LSL 16: the low halves of a and b, a's low. */
static inline uint32_t cnnc_q_pkhbt16(uint32_t a, uint32_t b)
{
#if defined(CNNC_Q_ACLE) || defined(CNNC_Q_ASM)
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (a & 0xffffu) | b << 16;
#endif
}

/* PKHTB with ASR 16: the high halves of b and a, b's low. */
static inline uint32_t cnnc_q_pkhtb16(uint32_t a, uint32_t b)
{
#if defined(CNNC_Q_ACLE) || defined(CNNC_Q_ASM)
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (a & 0xffff0000u) | b >> 16;
#endif
}

/* Words (a[i], b[i]) for i = 0..3 into q[0..3]: two channels' int8 values at four positions
 * as int16 pairs, for the plane convs. One load per channel, SXTB16 to split it, and halfword
 * packing (PKHBT, PKHTB) on DSP cores. */
static inline void cnnc_q_pair4(const int8_t *a, const int8_t *b, uint32_t *q)
{
    uint32_t x = cnnc_q_read4(a), y = cnnc_q_read4(b);
    uint32_t x02 = cnnc_q_sxtb16(x), x13 = cnnc_q_sxtb16_ror8(x);
    uint32_t y02 = cnnc_q_sxtb16(y), y13 = cnnc_q_sxtb16_ror8(y);
    q[0] = cnnc_q_pkhbt16(x02, y02);
    q[1] = cnnc_q_pkhbt16(x13, y13);
    q[2] = cnnc_q_pkhtb16(y02, x02);
    q[3] = cnnc_q_pkhtb16(y13, x13);
}

/* cnnc_q_pair4 with every value doubled, (2 a[i], 2 b[i]): the gathered blocks of the pointwise
 * convs, whose weights come from flash unexpanded while cnnc_q_requant2 wants doubled sums. */
static inline void cnnc_q_pair4x2(const int8_t *a, const int8_t *b, uint32_t *q)
{
    uint32_t x = cnnc_q_read4(a), y = cnnc_q_read4(b);
    uint32_t x02 = cnnc_q_sxtb16(x), x13 = cnnc_q_sxtb16_ror8(x);
    uint32_t y02 = cnnc_q_sxtb16(y), y13 = cnnc_q_sxtb16_ror8(y);
    x02 = cnnc_q_sadd16(x02, x02);
    x13 = cnnc_q_sadd16(x13, x13);
    y02 = cnnc_q_sadd16(y02, y02);
    y13 = cnnc_q_sadd16(y13, y13);
    q[0] = cnnc_q_pkhbt16(x02, y02);
    q[1] = cnnc_q_pkhbt16(x13, y13);
    q[2] = cnnc_q_pkhtb16(y02, x02);
    q[3] = cnnc_q_pkhtb16(y13, x13);
}

/* Words (s[0], s[1]) and (s[2], s[3]) into d[0], d[1]: four int8 values widened to int16
 * pairs, for the depthwise kernels' padded planes. */
static inline void cnnc_q_widen4(const int8_t *s, uint32_t *d)
{
    uint32_t x = cnnc_q_read4(s), x02 = cnnc_q_sxtb16(x), x13 = cnnc_q_sxtb16_ror8(x);
    d[0] = cnnc_q_pkhbt16(x02, x13);
    d[1] = cnnc_q_pkhtb16(x13, x02);
}

/* SMMLAR: acc + the high word of a * b, rounded (ties up): (acc * 2^32 + a * b + 2^31) >> 32.
 * Callers keep the exact result within int32 (the hardware wraps where C would overflow). */
static inline int32_t cnnc_q_smmlar(int32_t a, int32_t b, int32_t acc)
{
#if defined(CNNC_Q_ACLE) || defined(CNNC_Q_ASM)
    int32_t r; /* not in ACLE */
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
#else
    int64_t n = (int64_t)a * (int64_t)b + (int64_t)acc * 4294967296LL + 2147483648LL;
    return (int32_t)(n >= 0 ? n / 4294967296LL : -((-n + 4294967295LL) / 4294967296LL));
#endif
}

/* SSAT #8: v saturated to -128..127 in one instruction on DSP cores. */
static inline int32_t cnnc_q_ssat8(int32_t v)
{
#if defined(CNNC_Q_ACLE) || defined(CNNC_Q_ASM)
    int32_t r; /* ACLE's __ssat is unsigned in some versions of newlib */
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(v));
    return r;
#else
    return cnnc_q_clamp(v, -128, 127);
#endif
}

/* The requantization of a doubled accumulator a2 = 2 * acc in one rounding high multiply:
 * cnnc_q_requant(acc, mult, -rshift) + zero_point, with ra = 2^(rshift-1) + zero_point *
 * 2^rshift. Exact (both of gemmlowp's roundings) when mult > 2^30 (then srdhm(acc, mult) < 0
 * exactly when acc < 0), rshift in 1..30 and |acc| + |ra| < 2^30 (compiler/emit_q8.c checks):
 * srdhm's rounding is SMMLAR's, rdbpot's half (less one for negatives) is folded into ra, and
 * floor(floor(v / 2^32) / 2^rshift) is floor(v / 2^(32 + rshift)). */
static inline int32_t cnnc_q_requant2(int32_t a2, int32_t mult, int32_t ra, int32_t rshift)
{
    return cnnc_q_asr(cnnc_q_smmlar(a2, mult, ra + cnnc_q_asr(a2, 31)), (int)rshift);
}

#ifdef __cplusplus
}
#endif

#endif /* CNNC_Q8_H */

/* ==== TFLM-exact kernels ======================================================================
 *
 * TensorFlow Lite Micro's reference int8 kernels whose arithmetic is not a plain requantization,
 * reproduced bit for bit (gemmlowp's fixed point, TFLite's default double rounding). Their
 * constants come from compiler/tflm.c, which evaluates TFLM's Prepare from the tensors' float32
 * scales and zero points as the .tflite file stores them; tests/unit/test_tflm.c checks both
 * against TFLite's and TFLM's own kernel tests. Fixed-point notation: Qm.n is an int32 holding
 * real * 2^n with m integer bits (gemmlowp's FixedPoint<int32_t, m>); Q0.31 holds [-1, 1).
 *
 *   softmax    (SOFTMAX, beta and the input scale in TflmSoftmax; output 1/256, zero point -128)
 *              top = max x_i; e_i = exp_lut[top - x_i], exp(scaled (x_i - top)) in Q0.31 (0
 *              where x_i - top < diff_min: TFLM drops those);
 *              sum = sum of RoundingDivideByPOT(e_i, 12) (Q12.19);
 *              r = GetReciprocal(sum, 12, &bits) = 1/(1 + x) of the sum normalized to [1, 2),
 *                  x = (sum << clz(sum)) - 2^31 in Q0.31, bits = 12 - clz(sum);
 *              y_i = min(RoundingDivideByPOT(SRDHM(r, e_i), bits + 23) - 128, 127).
 *              Exact while sum < 2^28, so always for n < 512 (each e_i adds at most 2^19);
 *              beyond, TFLM's TFLITE_CHECK on the exponent fires; here it stops at 31.
 *   mean       (MEAN over H, W; TflmMean) acc = bias + sum of the n values x[k * stride],
 *              bias = -input zero point * n;
 *              y = cnnc_q_output(acc, mult, shift, out zero point, -128, 127), where (mult,
 *              shift) is QuantizeMultiplier(in_scale / out_scale) with 1/n folded in as TFLM's
 *              QuantizedMeanOrSum does: s = min(floor(log2 n), 32, 31 + shift),
 *              mult = (mult << s) / n, shift -= s.
 *   mean, rescaled first
 *              (reference_integer_ops::Mean: the TFLite interpreter's kernel for a 4-D MEAN over
 *              H, W with keep_dims, and older TFLM releases'; TflmMean.rescale_*)
 *              acc = cnnc_q_requant(sum of (x[k * stride] - input zero point), mult, shift),
 *              (mult, shift) = QuantizeMultiplier(in_scale / out_scale) unfolded;
 *              y = clamp(cnnc_q_div_round(acc, n) + out zero point, -128, 127).
 *
 * gemmlowp's helpers: cnnc_q_sat_shl (SaturatingRoundingMultiplyByPOT, positive exponent),
 * cnnc_q_half_sum (RoundingHalfSum), cnnc_q_newton_inverse (the Newton-Raphson division both
 * one_over_one_plus_x_for_x_in_0_1 and one_minus_x_over_one_plus_x_for_x_in_0_1 run),
 * cnnc_q_one_over_one_plus_x, cnnc_q_reciprocal (TFLite's GetReciprocal) and cnnc_q_clz32
 * (CountLeadingZeros). No run-time division (halving is a shift), no libm.
 */
#ifndef CNNC_Q8_TFLM_H
#define CNNC_Q8_TFLM_H

#ifdef __cplusplus
extern "C" {
#endif

/* TFLite's CountLeadingZeros for uint32: 32 for 0 (CLZ on Cortex-M3 and up). */
static inline int cnnc_q_clz32(uint32_t x)
{
#if defined(__GNUC__)
    return x ? __builtin_clz((unsigned)x) : 32;
#else
    int n = 0;
    if (!x)
        return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

/* gemmlowp's SaturatingRoundingMultiplyByPOT<e> for e in 1..30: x * 2^e, saturated to int32 the
 * way gemmlowp does (beyond +-(2^(31-e) - 1)). */
static inline int32_t cnnc_q_sat_shl(int32_t x, int e)
{
    int32_t threshold = (int32_t)(((uint32_t)1 << (31 - e)) - 1u);
    if (x > threshold)
        return INT32_MAX;
    if (x < -threshold)
        return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* gemmlowp's RoundingHalfSum: (a + b) / 2 rounded half away from zero, in 64 bits. */
static inline int32_t cnnc_q_half_sum(int32_t a, int32_t b)
{
    int64_t s = (int64_t)a + (int64_t)b;
    int64_t t = s >= 0 ? s + 1 : s - 1;
    return (int32_t)(t >= 0 ? t / 2 : -(-t / 2)); /* truncating, as C++'s (sum + sign) / 2 */
}

/* The Newton-Raphson division of gemmlowp's one_over_one_plus_x_for_x_in_0_1 and
 * one_minus_x_over_one_plus_x_for_x_in_0_1: 1 / d in Q2.29 for a half denominator d in
 * [1/2, 1] (Q0.31), from 48/17 - 32/17 d and three steps x += x (1 - d x). */
static inline int32_t cnnc_q_newton_inverse(int32_t half_denominator)
{
    const int32_t c48_over_17 = 1515870810, c_neg32_over_17 = -1010580540, one = (int32_t)1 << 29;
    int32_t x = c48_over_17 + cnnc_q_srdhm(half_denominator, c_neg32_over_17);
    int i;
    for (i = 0; i < 3; i++) {
        int32_t one_minus_dx = one - cnnc_q_srdhm(half_denominator, x);
        x += cnnc_q_sat_shl(cnnc_q_srdhm(x, one_minus_dx), 2);
    }
    return x;
}

/* gemmlowp's one_over_one_plus_x_for_x_in_0_1: 1 / (1 + a) in Q0.31 for a in [0, 1) (Q0.31). */
static inline int32_t cnnc_q_one_over_one_plus_x(int32_t a)
{
    return cnnc_q_sat_shl(cnnc_q_newton_inverse(cnnc_q_half_sum(a, INT32_MAX)), 1);
}

/* TFLite's GetReciprocal: for x > 0 with x_integer_digits integer bits, 1/x as the Q0.31 value
 * r and *num_bits_over_unit = b such that 1/x = r * 2^-b. */
static inline int32_t cnnc_q_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit)
{
    int headroom_plus_one = cnnc_q_clz32((uint32_t)x);
    uint32_t shifted = headroom_plus_one < 32 ? (uint32_t)x << headroom_plus_one : 0u;
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    return cnnc_q_one_over_one_plus_x((int32_t)(shifted - 0x80000000u));
}

/* TFLM's int8 softmax (reference_ops::Softmax, int8 in and out) of x[0], x[stride], ...,
 * x[(n-1)*stride] into y (may be x), with compiler/tflm.c's exp_lut (TflmSoftmax.exp_lut). */
static inline void cnnc_q_softmax_tflm(const int8_t *x, int8_t *y, int n, int stride, const int32_t *exp_lut)
{
    int32_t top = -128, recip, q;
    uint32_t sum = 0;
    int bits, exponent, i;
    if (n <= 0)
        return;
    for (i = 0; i < n; i++)
        top = x[i * stride] > top ? x[i * stride] : top;
    for (i = 0; i < n; i++)
        sum += (uint32_t)cnnc_q_rdbpot(exp_lut[top - x[i * stride]], 12);
    recip = cnnc_q_reciprocal((int32_t)sum, 12, &bits);
    exponent = bits + 31 - 8;
    exponent = exponent < 0 ? 0 : (exponent > 31 ? 31 : exponent);
    for (i = 0; i < n; i++) {
        q = cnnc_q_rdbpot(cnnc_q_srdhm(recip, exp_lut[top - x[i * stride]]), exponent) - 128;
        y[i * stride] = (int8_t)(q > 127 ? 127 : q);
    }
}

/* TFLM's int8 MEAN (reference_ops::QuantizedMeanOrSum) of the n values x[0], x[stride], ...,
 * with compiler/tflm.c's constants (TflmMean: bias, multiplier, shift, output zero point). */
static inline int8_t cnnc_q_mean(const int8_t *x, int32_t n, int32_t stride, int32_t bias, int32_t mult,
                                 int32_t shift, int32_t zero_point)
{
    int32_t sum = 0, i; /* n < 2^24 (tflm.c checks): no overflow */
    for (i = 0; i < n; i++)
        sum += x[i * stride];
    /* the bias added wrapping, as TFLM's int64 difference cast to int32 */
    return cnnc_q_output((int32_t)((uint32_t)sum + (uint32_t)bias), mult, shift, zero_point, -128, 127);
}

/* reference_integer_ops::Mean of the n values x[0], x[stride], ...: the differences from the input
 * zero point summed, rescaled by TflmMean.rescale_multiplier / rescale_shift, then divided by n
 * rounding half away from zero (one division per output). */
static inline int8_t cnnc_q_mean_rescale_first(const int8_t *x, int32_t n, int32_t stride, int32_t in_zero_point,
                                               int32_t mult, int32_t shift, int32_t zero_point)
{
    int32_t sum = 0, i; /* n < 2^24: no overflow */
    for (i = 0; i < n; i++)
        sum += x[i * stride] - in_zero_point;
    return (int8_t)cnnc_q_clamp(cnnc_q_div_round(cnnc_q_requant(sum, mult, shift), n) + zero_point, -128, 127);
}

#ifdef __cplusplus
}
#endif

#endif /* CNNC_Q8_TFLM_H */
