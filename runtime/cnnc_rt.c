/*
 * cnnc runtime: exp, sigmoid, tanh and softmax for generated code. Freestanding C99; see
 * cnnc_rt.h for the error bounds and docs/runtime.md for how they were measured.
 *
 * Every constant is a float literal (suffix f) so that no double arithmetic, and hence no
 * soft-double helper, ends up in the object on single-precision FPUs.
 */
#include "cnnc_rt.h"

#include <stddef.h>
#include <stdint.h>

#ifdef CNNC_USE_LIBM
#include <math.h>
#endif

#ifndef CNNC_USE_LIBM

/* Float/bits view; a union is the C99-sanctioned way to pun without memcpy. */
typedef union {
    float f;
    uint32_t u;
} cnnc_bits;

/* Builds 2^k for -126 <= k <= 127 straight from the exponent field. */
static float pow2i(int k)
{
    cnnc_bits b;
    b.u = (uint32_t)(k + 127) << 23;
    return b.f;
}

/* +infinity without libm's INFINITY or an overflowing constant expression. */
static float plus_inf(void)
{
    cnnc_bits b;
    b.u = 0x7f800000u;
    return b.f;
}

/* e^x = 2^k * e^r with x = k*ln2 + r, |r| <= ln2/2 (so the polynomial only covers a short
 * interval), then 2^k applied exactly through the exponent field. */
float cnnc_expf(float x)
{
    /* ln2 split so that k * ln2_hi is exact for |k| < 512: its low 9 mantissa bits are 0. */
    const float ln2_hi = 6.93145751953125e-01f;
    const float ln2_lo = 1.428606765330187e-06f;
    const float log2e = 1.44269502162933349609e+00f;
    /* Near-minimax fit of (e^r - 1 - r) / r^2 on |r| <= ln2/2 (runtime/fit_coeffs.py),
     * relative error of the whole polynomial 3.8e-9, far below float rounding. */
    const float e0 = 4.999999404e-01f;
    const float e1 = 1.666652113e-01f;
    const float e2 = 4.166838899e-02f;
    const float e3 = 8.368717507e-03f;
    const float e4 = 1.381459995e-03f;
    float kf, r, p, y;
    int k;

    if (x != x)
        return x + x; /* NaN: quiet it and pass it on */
    if (x > 88.8f)
        return plus_inf(); /* past ln(FLT_MAX) = 88.7228; keeps k <= 128 below */
    if (x < -104.0f)
        return 0.0f; /* below ln(2^-150): rounds to +0; keeps k >= -150 below */

    kf = x * log2e;
    k = (int)(kf < 0.0f ? kf - 0.5f : kf + 0.5f);
    kf = (float)k;
    /* x - k*ln2_hi is exact (Sterbenz), so r carries a single rounding. */
    r = (x - kf * ln2_hi) - kf * ln2_lo;
    /* Adding 1 last keeps the polynomial's own rounding errors below half an ulp. */
    p = r * r * (e0 + r * (e1 + r * (e2 + r * (e3 + r * e4))));
    y = 1.0f + (r + p);

    if (k > 127)
        return y * pow2i(127) * 2.0f; /* 2^128 is not a float; each product is exact or overflows */
    if (k < -126)
        /* 2^k is not a normal float: scale to a normal first (exact), so the step into
         * the subnormal range rounds only once (gradual underflow). */
        return y * pow2i(k + 64) * pow2i(-64);
    return y * pow2i(k);
}

/* Works on |x| and puts the sign bit back, so tanh is odd bit for bit (signed zeros too);
 * an odd polynomial for small |x| where 1 - 2/(e^2|x| + 1) would cancel, the exp form
 * elsewhere, and constant 1 once tanh rounds to 1 in float. */
float cnnc_tanhf(float x)
{
    /* Near-minimax fit of tanh(a) = a + a^3 * P(a^2) on [0, 0.5493] (fit_coeffs.py),
     * relative error 4.5e-9. 0.5493 ~ atanh(1/2): above it 1 - 2/(e^2a + 1) loses no
     * bits since 2/(e^2a + 1) <= 1/2. */
    const float t0 = -3.333331645e-01f;
    const float t1 = 1.333259195e-01f;
    const float t2 = -5.385303870e-02f;
    const float t3 = 2.107490599e-02f;
    const float t4 = -6.279098336e-03f;
    cnnc_bits b;
    uint32_t sign;
    float a, s;

    b.f = x;
    sign = b.u & 0x80000000u;
    b.u ^= sign;
    a = b.f;
    if (a < 0.5493f) {
        s = a * a;
        b.f = a + a * s * (t0 + s * (t1 + s * (t2 + s * (t3 + s * t4))));
    } else if (a > 9.1f) {
        b.f = 1.0f; /* 1 - tanh(9.1) < 2^-25: rounds to 1; also catches infinity */
    } else {
        b.f = 1.0f - 2.0f / (cnnc_expf(2.0f * a) + 1.0f); /* NaN falls through to here */
    }
    b.u |= sign;
    return b.f;
}

#else /* CNNC_USE_LIBM */

/* libm's expf, for users who have libm and prefer it. */
float cnnc_expf(float x)
{
    return expf(x);
}

/* libm's tanhf, for users who have libm and prefer it. */
float cnnc_tanhf(float x)
{
    return tanhf(x);
}

#endif /* CNNC_USE_LIBM */

/* Takes e^-|x| only, so exp never overflows; e/(1+e) for x < 0 keeps small results
 * relatively accurate instead of computing 1 - (something close to 1). */
float cnnc_sigmoidf(float x)
{
    float e;

    if (x >= 0.0f)
        return 1.0f / (1.0f + cnnc_expf(-x));
    e = cnnc_expf(x); /* x < 0 or NaN */
    return e / (1.0f + e);
}

/* Three passes (max, exp and sum, scale) over strided values; subtracting the max
 * bounds every exponential by 1, compensated (Kahan) summation keeps the sum's error at
 * a couple of ulps for any n, and one reciprocal replaces n divisions. */
void cnnc_softmax(float *x, int n, int stride)
{
    float m, sum, comp, inv;
    int i;

    if (n <= 0)
        return;
    m = x[0];
    for (i = 1; i < n; i++) {
        float v = x[(ptrdiff_t)i * stride];
        if (v > m)
            m = v;
    }
    sum = 0.0f;
    comp = 0.0f;
    for (i = 0; i < n; i++) {
        float e = cnnc_expf(x[(ptrdiff_t)i * stride] - m);
        float y = e - comp;
        float t = sum + y;
        x[(ptrdiff_t)i * stride] = e;
        comp = (t - sum) - y; /* the part of y that sum + y lost */
        sum = t;
    }
    inv = 1.0f / sum;
    for (i = 0; i < n; i++)
        x[(ptrdiff_t)i * stride] *= inv;
}

/* erfc(z) by the Chebyshev fit of Numerical Recipes' erfcc (fractional error below
 * 1.2e-7 for every z), in float. Phi(x) = erfc(-x / sqrt 2) / 2 has no cancellation for
 * x < 0, where GELU's result is small, and the fit's exponent stays finite for any x. */
float cnnc_geluf(float x)
{
    float z = x * -0.70710678118654752f;
    float a = z < 0.0f ? -z : z;
    float t = 1.0f / (1.0f + 0.5f * a);
    float p = -1.26551223f +
              t * (1.00002368f +
                   t * (0.37409196f +
                        t * (0.09678418f +
                             t * (-0.18628806f +
                                  t * (0.27886807f +
                                       t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    float erfc_a = t * cnnc_expf(-a * a + p);
    float erfc_z = z >= 0.0f ? erfc_a : 2.0f - erfc_a;
    return 0.5f * x * erfc_z;
}

/* e^x - 1 by its Taylor series where the subtraction would cancel (|x| < 1/4: seven terms,
 * truncation below 2e-9 relative), by cnnc_expf elsewhere. */
float cnnc_eluf(float x, float alpha)
{
    float em1;

    if (x > 0.0f || x != x)
        return x;
    if (x > -0.25f)
        em1 = x * (1.0f + x * (0.5f + x * (1.6666667e-1f + x * (4.1666668e-2f + x * (8.3333333e-3f +
                                                                                     x * (1.3888889e-3f + x * 1.9841270e-4f))))));
    else
        em1 = cnnc_expf(x) - 1.0f;
    return alpha * em1;
}
