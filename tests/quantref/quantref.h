/* quantref.h: a plain, slow, obviously correct reference of cnnc's int8
 * inference, written from the quantization scheme (TFLite /
 * CMSIS-NN arithmetic) rather than from runtime/cnnc_q8.h or any back end.
 * The fixed-point primitives are computed from their definitions in wide
 * integers; every kernel walks its window cell by cell with bounds checks.
 * Parameters come from Layer.quant (compiler/quant.c). It is the oracle
 * that generated int8 code must equal bit for bit. Test code only. */
#ifndef CNNC_QUANTREF_H
#define CNNC_QUANTREF_H

#include <stdint.h>

#include "cnnc.h"

/* floor((2*a*b + 2^31) / 2^32): the high half of the doubled product,
 * rounded half up, saturated (only INT32_MIN * INT32_MIN overflows). */
int32_t qr_srdhm(int32_t a, int32_t b);
/* x / 2^e rounded to nearest, half away from zero; e in 0..31. */
int32_t qr_rdbpot(int32_t x, int e);
/* acc * 2^max(shift,0) (wrapping in 32 bits), then srdhm by mult, then
 * rdbpot by max(-shift,0): TFLite's MultiplyByQuantizedMultiplier. */
int32_t qr_requant(int32_t acc, int32_t mult, int32_t shift);
/* sum / count rounded half away from zero (TFLite's average pool). */
int32_t qr_div_round(int32_t sum, int32_t count);
/* TFLite's AffineQuantize: round(x / scale) + zp with libm's roundf, saturated. */
int8_t qr_quantize(float x, QParams p);
/* TFLite's Dequantize: scale * (q - zp) in double, rounded to float. */
float qr_dequantize(int8_t q, QParams p);

/* Runs the quantized net (quant_calibrate done) on a float input: returns
 * every layer's int8 tensor, by Layer.index (malloc'd; qr_free). A layer
 * of kind QK_FUSED holds the tensor of the layer that computes it. */
int8_t **qr_run(const Net *net, const float *input);
void qr_free(const Net *net, int8_t **t);
/* Layer l's int8 tensor back to float, by its params. */
void qr_dequantize_tensor(const Layer *l, const int8_t *q, float *out);

#endif
