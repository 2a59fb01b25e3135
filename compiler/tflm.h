/* tflm.h: TensorFlow Lite Micro's reference int8 arithmetic, for the ops of
 * imported int8 models whose TFLM kernels are more than a requantization
 * (compiler/tflm.c). Every result is what TFLM's kernel computes for the
 * same tensors, bit for bit: the same Prepare (which products are float,
 * which double), the same gemmlowp fixed point, TFLite's double rounding.
 *
 * Parameters are the tensors' own, as the .tflite file stores them: float32
 * scale, int32 zero point. Each function returns NULL, or a short lowercase
 * message saying why TFLM would refuse (or cannot run) those parameters;
 * nothing is written then.
 *
 * Tables: y = lut[x + 128] for every int8 x.
 *   tflm_lut_logistic      LOGISTIC, TFLM's output params 1/256, -128
 *   tflm_lut_tanh          TANH, TFLM's output params 1/128, 0
 *   tflm_lut_hard_swish    HARD_SWISH
 *   tflm_lut_leaky_relu    LEAKY_RELU (alpha)
 *   tflm_lut_relu          RELU, requantizing (TFLM's ReluQuantized)
 *   tflm_lut_relu6         RELU6, requantizing (see tflm.c on TFLM's RELU6)
 *   tflm_lut_relu_n1_to_1  RELU_N1_TO_1, requantizing
 *   tflm_lut_relu_range    the three above for any real range [lo, hi]
 *   tflm_lut_quantize      QUANTIZE int8 -> int8 (Requantize)
 * Kernel constants, for runtime/cnnc_q8.h's cnnc_q_softmax_tflm,
 * cnnc_q_mean and cnnc_q_mean_rescale_first:
 *   tflm_softmax           SOFTMAX: TflmSoftmax (output 1/256, -128)
 *   tflm_mean              MEAN over H, W: TflmMean (TFLM's QuantizedMeanOrSum, and
 *                          reference_integer_ops::Mean's rescale-first variant)
 * gemmlowp's fixed-point functions the tables evaluate (exported for tests):
 *   tflm_exp_on_negative_values, tflm_logistic_q4, tflm_tanh_q4 */
#ifndef CNNC_TFLM_H
#define CNNC_TFLM_H

#include <stdint.h>

/* SOFTMAX's constants: what TFLM's CalculateSoftmaxParams derives from
 * beta and the input scale, and the table of exp results it computes per
 * input difference. */
typedef struct TflmSoftmax {
    int32_t input_multiplier; /* PreprocessSoftmaxScaling: beta * scale * 2^26 in Q31 */
    int32_t input_left_shift; /* ... and its left shift (>= 1) */
    int32_t diff_min;         /* -CalculateInputRadius(5, left shift): smaller x - max are dropped */
    /* exp_lut[d], d = max - x in 0..255: exp_on_negative_values of the rescaled -d in Q0.31,
     * 0 where -d < diff_min (TFLM leaves those out of the sum and outputs -128) */
    int32_t exp_lut[256];
} TflmSoftmax;

/* MEAN's constants over count values, for TFLM's kernel (QuantizedMeanOrSum:
 * cnnc_q_mean) and for TFLite's rescale-first one (reference_integer_ops::
 * Mean: cnnc_q_mean_rescale_first). */
typedef struct TflmMean {
    int32_t count;              /* values averaged: H * W */
    int32_t bias;               /* -input zero point * count */
    int32_t multiplier;         /* QuantizeMultiplier(in / out scale) with 1 / count folded in */
    int32_t shift;
    int32_t rescale_multiplier; /* QuantizeMultiplier(in / out scale) alone */
    int32_t rescale_shift;
    int32_t input_zero_point;
    int32_t output_zero_point;
} TflmMean;

const char *tflm_lut_logistic(float in_scale, int32_t in_zp, int8_t lut[256]);
const char *tflm_lut_tanh(float in_scale, int32_t in_zp, int8_t lut[256]);
const char *tflm_lut_hard_swish(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t lut[256]);
const char *tflm_lut_leaky_relu(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, float alpha,
                                int8_t lut[256]);
const char *tflm_lut_relu(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t lut[256]);
const char *tflm_lut_relu6(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t lut[256]);
const char *tflm_lut_relu_n1_to_1(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t lut[256]);
/* lo may be -INFINITY and hi INFINITY (no clamp on that side). */
const char *tflm_lut_relu_range(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, float lo, float hi,
                                int8_t lut[256]);
const char *tflm_lut_quantize(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int8_t lut[256]);

const char *tflm_softmax(float in_scale, float beta, TflmSoftmax *sm);
const char *tflm_mean(float in_scale, int32_t in_zp, float out_scale, int32_t out_zp, int64_t count, TflmMean *m);

/* gemmlowp's exp_on_negative_values: e^a in Q0.31 for a <= 0 in Q(integer_bits).(31 -
 * integer_bits), integer_bits in 0..29. */
int32_t tflm_exp_on_negative_values(int32_t a, int integer_bits);
/* gemmlowp's logistic and tanh of a Q4.27 value, in Q0.31. */
int32_t tflm_logistic_q4(int32_t a);
int32_t tflm_tanh_q4(int32_t a);

#endif
