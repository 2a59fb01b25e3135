/*
 * Unit tests for the cnnc runtime (runtime/cnnc_rt.c): error bounds against double-precision
 * libm, special values, symmetry, and softmax stability and stride handling.
 *
 * The bounds asserted here are the ones documented in runtime/cnnc_rt.h. By default the
 * exp/sigmoid/tanh sweeps sample the float range (under a second); with CNNC_RT_EXHAUSTIVE=1
 * in the environment they visit every one of the 2^32 floats (about a minute) and print the
 * measured maxima, which is how the documented figures were obtained.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cnnc_rt.h"

/* Documented bounds (cnnc_rt.h); with libm the platform's own accuracy applies instead. */
#ifndef CNNC_USE_LIBM
#define EXP_MAX_ULP 1.01
#define EXP_MAX_REL 9e-8
#else
#define EXP_MAX_ULP 2.0
#define EXP_MAX_REL 2.4e-7
#endif
#define SIGMOID_MAX_REL 2e-7
#define TANH_MAX_REL 2e-7
#define SOFTMAX_MAX_REL 3e-7

/* Worst errors seen by one sweep, and where. */
typedef struct {
    double max_ulp;
    double max_rel;
    float worst_x;
    uint64_t count;
} rt_err;

/* Reinterprets bits without aliasing trouble. */
static float f_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Gives the bits so tests can compare signed zeros and NaNs exactly. */
static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Spacing of floats at |ref| (2^-149 in the subnormal range): the unit errors are told in. */
static double ulp_at(double ref)
{
    int e;

    ref = fabs(ref);
    if (ref < FLT_MIN)
        return ldexp(1.0, -149);
    (void)frexp(ref, &e);
    return ldexp(1.0, e - 24);
}

/* Folds one result into the running maxima. */
static void err_add(rt_err *s, float x, float got, double ref)
{
    double d = fabs((double)got - ref);
    double u = d / ulp_at(ref);
    double r = ref != 0.0 ? d / fabs(ref) : d;

    if (u > s->max_ulp) {
        s->max_ulp = u;
        s->worst_x = x;
    }
    if (r > s->max_rel)
        s->max_rel = r;
    s->count++;
}

/* Set when CNNC_RT_EXHAUSTIVE=1 asks for the full 2^32 sweeps. */
static int exhaustive(void)
{
    const char *v = getenv("CNNC_RT_EXHAUSTIVE");
    return v != NULL && strcmp(v, "1") == 0;
}

/* Prints a sweep's result so a failing or exhaustive run shows the measured figures. */
static void err_print(const char *what, const rt_err *s)
{
    print_message("%s: %llu inputs, max %.3f ulp, max rel %.3e (worst at x = %.9g)\n", what,
                  (unsigned long long)s->count, s->max_ulp, s->max_rel, (double)s->worst_x);
}

/* Evaluates cnnc_expf against exp() for inputs whose bit patterns run from lo to hi
 * (inclusive, one sign) in the given step. */
static void exp_sweep(rt_err *s, uint32_t lo, uint32_t hi, uint32_t step)
{
    uint64_t u;

    for (u = lo; u <= hi; u += step) {
        float x = f_from_bits((uint32_t)u);
        err_add(s, x, cnnc_expf(x), exp((double)x));
    }
}

/* The error bound over every input whose result is normal: [-87.33, 88.72]. */
static void test_runtime_expf_bound(void **state)
{
    /* 0x42b17217 is the largest float with a finite e^x, 0xc2aeac4f the most negative
     * with a normal e^x. */
    const uint32_t pos_hi = 0x42b17217u, neg_hi = 0xc2aeac4fu;
    uint32_t step = exhaustive() ? 1u : 127u;
    rt_err s = {0};

    (void)state;
    exp_sweep(&s, 0u, pos_hi, step);
    exp_sweep(&s, 0x80000000u, neg_hi, step);
    if (!exhaustive()) {
        /* Dense near 0: every float with |x| in [1/4, 1/2), where the reduced argument
         * reaches both ends of its interval (at k = 0 and k = +-1). */
        exp_sweep(&s, 0x3e800000u, 0x3effffffu, 1u);
        exp_sweep(&s, 0xbe800000u, 0xbeffffffu, 1u);
    }
    err_print("expf", &s);
    assert_true(s.max_ulp <= EXP_MAX_ULP);
    assert_true(s.max_rel <= EXP_MAX_REL);
}

/* Gradual underflow: subnormal results off by at most one subnormal step. */
static void test_runtime_expf_subnormal(void **state)
{
    uint32_t step = exhaustive() ? 1u : 7u;
    rt_err s = {0};
    uint64_t u;

    (void)state;
    /* From the first input with a subnormal result down to -104. */
    for (u = 0xc2aeac50u; u <= 0xc2d00000u; u += step) {
        float x = f_from_bits((uint32_t)u);
        err_add(&s, x, cnnc_expf(x), exp((double)x));
    }
    err_print("expf subnormal", &s);
    assert_true(s.max_ulp <= 1.0);
}

/* exp of zeros, infinities, NaN, and both sides of the overflow and underflow edges. */
static void test_runtime_expf_special_values(void **state)
{
    float inf = f_from_bits(0x7f800000u);
    float nan = f_from_bits(0x7fc00000u);

    (void)state;
    assert_true(cnnc_expf(0.0f) == 1.0f);
    assert_true(cnnc_expf(-0.0f) == 1.0f);
    assert_true(cnnc_expf(inf) == inf);
    assert_int_equal(bits_of(cnnc_expf(-inf)), 0u);
    assert_true(isnan(cnnc_expf(nan)));
    assert_true(isnan(cnnc_expf(-nan)));
    assert_true(cnnc_expf(1.0f) == (float)exp(1.0));
    /* Overflow: the last finite input, the first infinite one, and far beyond. */
    assert_true(isfinite(cnnc_expf(f_from_bits(0x42b17217u))));
    assert_true(cnnc_expf(f_from_bits(0x42b17218u)) == inf);
    assert_true(cnnc_expf(88.8f) == inf && cnnc_expf(1e30f) == inf);
    /* Underflow: the smallest subnormal appears and then rounds to +0. */
    assert_true(cnnc_expf(-103.97f) == f_from_bits(1u));
    assert_true(cnnc_expf(-103.973f) == 0.0f);
    assert_int_equal(bits_of(cnnc_expf(-1e30f)), 0u);
    /* The normal/subnormal edge. */
    assert_true(cnnc_expf(f_from_bits(0xc2aeac4fu)) >= FLT_MIN);
    assert_true(cnnc_expf(f_from_bits(0xc2aeac50u)) < FLT_MIN);
}

/* Sigmoid against double, where its result is normal (x > -87.3). */
static void test_runtime_sigmoidf_bound(void **state)
{
    uint32_t step = exhaustive() ? 1u : 211u;
    rt_err s = {0};
    uint64_t u;

    (void)state;
    for (u = 0; u <= 0x7f800000u; u += step) {
        float x = f_from_bits((uint32_t)u);
        err_add(&s, x, cnnc_sigmoidf(x), 1.0 / (1.0 + exp(-(double)x)));
    }
    for (u = 0x80000000u; u <= 0xc2ae0000u; u += step) {
        float x = f_from_bits((uint32_t)u);
        err_add(&s, x, cnnc_sigmoidf(x), 1.0 / (1.0 + exp(-(double)x)));
    }
    err_print("sigmoidf", &s);
    assert_true(s.max_rel <= SIGMOID_MAX_REL);
}

/* sigmoid(-x) = 1 - sigmoid(x) to float rounding, exact values at 0 and the infinities. */
static void test_runtime_sigmoidf_symmetry_and_limits(void **state)
{
    float inf = f_from_bits(0x7f800000u);
    float x;

    (void)state;
    for (x = -30.0f; x <= 30.0f; x += 0.01f) {
        float a = cnnc_sigmoidf(x), b = cnnc_sigmoidf(-x);
        assert_true(fabsf(a + b - 1.0f) <= 2.0f * FLT_EPSILON);
    }
    assert_true(cnnc_sigmoidf(0.0f) == 0.5f);
    assert_true(cnnc_sigmoidf(-0.0f) == 0.5f);
    assert_true(cnnc_sigmoidf(inf) == 1.0f);
    assert_true(cnnc_sigmoidf(-inf) == 0.0f);
    assert_true(cnnc_sigmoidf(100.0f) == 1.0f);
    assert_true(cnnc_sigmoidf(-200.0f) == 0.0f);
    assert_true(isnan(cnnc_sigmoidf(f_from_bits(0x7fc00000u))));
}

/* tanh against double over all magnitudes, relative error, including tiny inputs. */
static void test_runtime_tanhf_bound(void **state)
{
    uint32_t step = exhaustive() ? 1u : 211u;
    rt_err s = {0};
    uint64_t u;

    (void)state;
    /* Positive side only: odd symmetry is exact (checked below). */
    for (u = 1; u <= 0x7f800000u; u += step) {
        float x = f_from_bits((uint32_t)u);
        err_add(&s, x, cnnc_tanhf(x), tanh((double)x));
    }
    if (!exhaustive()) {
        /* Dense across the switch from polynomial to exp form at 0.5493. */
        for (u = 0x3f000000u; u <= 0x3f200000u; u++) {
            float x = f_from_bits((uint32_t)u);
            err_add(&s, x, cnnc_tanhf(x), tanh((double)x));
        }
    }
    err_print("tanhf", &s);
    assert_true(s.max_rel <= TANH_MAX_REL);
}

/* Odd symmetry bit for bit, signed zero, tiny inputs unchanged, saturation, NaN. */
static void test_runtime_tanhf_symmetry_and_limits(void **state)
{
    float inf = f_from_bits(0x7f800000u);
    uint64_t u;

    (void)state;
    for (u = 0; u < 0x7f800000u; u += 9973u) {
        float x = f_from_bits((uint32_t)u);
        assert_int_equal(bits_of(cnnc_tanhf(-x)), bits_of(cnnc_tanhf(x)) ^ 0x80000000u);
    }
    assert_int_equal(bits_of(cnnc_tanhf(0.0f)), 0u);
    assert_int_equal(bits_of(cnnc_tanhf(-0.0f)), 0x80000000u);
    assert_true(cnnc_tanhf(1e-30f) == 1e-30f);
    assert_true(cnnc_tanhf(f_from_bits(1u)) == f_from_bits(1u));
    assert_true(fabs(cnnc_tanhf(1e-4f) - tanh((double)1e-4f)) <= TANH_MAX_REL * 1e-4);
    assert_true(cnnc_tanhf(inf) == 1.0f && cnnc_tanhf(-inf) == -1.0f);
    assert_true(cnnc_tanhf(10.0f) == 1.0f && cnnc_tanhf(1e30f) == 1.0f);
    assert_true(isnan(cnnc_tanhf(f_from_bits(0x7fc00000u))));
}

/* Softmax of n strided values in double, from the float differences x - max as PyTorch
 * forms them (their rounding is inherent to float softmax, not the runtime's error). */
static void softmax_ref(const float *x, int n, int stride, double *out)
{
    float m = x[0];
    double sum = 0.0;
    int i;

    for (i = 1; i < n; i++)
        if (x[i * stride] > m)
            m = x[i * stride];
    for (i = 0; i < n; i++) {
        out[i] = exp((double)(x[i * stride] - m));
        sum += out[i];
    }
    for (i = 0; i < n; i++)
        out[i] /= sum;
}

/* Outputs match the exact softmax and sum to 1, across sizes and input scales. */
static void test_runtime_softmax_sums_to_one(void **state)
{
    static float x[1000];
    static double ref[1000];
    const int sizes[] = {1, 2, 3, 10, 100, 1000};
    unsigned seed = 12345u;
    double worst = 0.0;
    size_t t;
    int i;

    (void)state;
    for (t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int n = sizes[t];
        double sum = 0.0;
        for (i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            x[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 40.0f;
        }
        softmax_ref(x, n, 1, ref);
        cnnc_softmax(x, n, 1);
        for (i = 0; i < n; i++) {
            double rel = fabs(x[i] - ref[i]) / ref[i];
            if (rel > worst)
                worst = rel;
            sum += x[i];
        }
        assert_true(fabs(sum - 1.0) <= 1e-6);
    }
    print_message("softmax: max rel %.3e\n", worst);
    assert_true(worst <= SOFTMAX_MAX_REL);
}

/* Large inputs do not overflow: the max is subtracted first. */
static void test_runtime_softmax_large_inputs_stable(void **state)
{
    float x[3] = {1000.0f, 1001.0f, -1000.0f};
    float y[4] = {88.0f, 89.0f, 1e30f, 1e30f};

    (void)state;
    cnnc_softmax(x, 3, 1);
    assert_true(fabs(x[0] - 0.2689414213699951) <= 1e-7);
    assert_true(fabs(x[1] - 0.7310585786300049) <= 1e-7);
    assert_true(x[2] == 0.0f);
    cnnc_softmax(y, 4, 1);
    assert_true(y[0] == 0.0f && y[1] == 0.0f && y[2] == 0.5f && y[3] == 0.5f);
}

/* Softmax over the channels of a CHW tensor, one pixel at a time, touches only its pixel. */
static void test_runtime_softmax_stride(void **state)
{
    enum { C = 4, HW = 3 };
    float t[C * HW];
    double ref[C];
    int c, p;

    (void)state;
    for (c = 0; c < C; c++)
        for (p = 0; p < HW; p++)
            t[c * HW + p] = (float)(c * (p + 1)) - 2.0f * (float)p;
    for (p = 0; p < HW; p++) {
        float before[C * HW];
        memcpy(before, t, sizeof t);
        softmax_ref(t + p, C, HW, ref);
        cnnc_softmax(t + p, C, HW);
        for (c = 0; c < C; c++) {
            int q;
            assert_true(fabs(t[c * HW + p] - ref[c]) <= SOFTMAX_MAX_REL * ref[c]);
            for (q = 0; q < HW; q++)
                if (q != p)
                    assert_int_equal(bits_of(t[c * HW + q]), bits_of(before[c * HW + q]));
        }
    }
}

/* n <= 0 is a no-op, n = 1 gives 1, equal inputs give equal shares, NaN spreads. */
static void test_runtime_softmax_edge_cases(void **state)
{
    float one[1] = {-123.0f};
    float same[5] = {7.0f, 7.0f, 7.0f, 7.0f, 7.0f};
    float untouched[2] = {3.0f, 4.0f};
    float withnan[3] = {1.0f, 0.0f, 2.0f};
    int i;

    (void)state;
    cnnc_softmax(untouched, 0, 1);
    cnnc_softmax(untouched, -1, 1);
    assert_true(untouched[0] == 3.0f && untouched[1] == 4.0f);
    cnnc_softmax(one, 1, 1);
    assert_true(one[0] == 1.0f);
    cnnc_softmax(same, 5, 1);
    for (i = 0; i < 5; i++)
        assert_true(fabsf(same[i] - 0.2f) <= 1e-7f);
    withnan[1] = f_from_bits(0x7fc00000u);
    cnnc_softmax(withnan, 3, 1);
    for (i = 0; i < 3; i++)
        assert_true(isnan(withnan[i]));
}

/* The inline piecewise activations: PyTorch's formulas, NaN passing through. */
/* GELU (erf and tanh forms) against double precision: relative error at
 * most 7e-7 for x >= -2 (normal results), absolute at most 3e-8 below,
 * where |gelu| < 0.05 and the float exponent's rounding dominates; ELU
 * (alpha 1) relative at most 2e-7, near 0 too. */
static void test_runtime_gelu_elu_bounds(void **state)
{
    uint32_t step = exhaustive() ? 1u : 211u;
    double rg = 0, rt = 0, ag = 0, at = 0, re = 0;
    (void)state;
    for (uint64_t u = 0; u <= 0xffffffffu; u += step) {
        float x = f_from_bits((uint32_t)u);
        if (x != x || isinf(x))
            continue;
        double ex = 0.5 * (double)x * erfc(-(double)x / sqrt(2.0));
        double t = 0.7978845608028654 * ((double)x + 0.044715 * (double)x * x * x);
        double et = 0.5 * (double)x * (1 + tanh(t));
        double g = cnnc_geluf(x), gt = cnnc_gelu_tanhf(x);
        if (x >= -2 && fabsf(x) >= 1e-37f) {
            rg = fmax(rg, fabs(g - ex) / fabs(ex));
            rt = fmax(rt, fabs(gt - et) / fabs(et));
        } else if (x < -2) {
            ag = fmax(ag, fabs(g - ex));
            at = fmax(at, fabs(gt - et));
        }
        if (x < 0 && x > -87) {
            double ee = expm1((double)x);
            re = fmax(re, fabs(cnnc_eluf(x, 1.0f) - ee) / fabs(ee));
        }
    }
    print_message("geluf rel %.3g abs %.3g, gelu_tanhf rel %.3g abs %.3g, eluf rel %.3g\n", rg, ag, rt, at, re);
    assert_true(rg <= 7e-7 && rt <= 7e-7);
    assert_true(ag <= 3e-8 && at <= 3e-8);
    assert_true(re <= 2e-7);
    /* the positive side of elu is x itself, NaN passes through, alpha scales */
    assert_true(cnnc_eluf(2.5f, 0.3f) == 2.5f);
    assert_true(cnnc_eluf(NAN, 1.0f) != cnnc_eluf(NAN, 1.0f));
    assert_true(fabs(cnnc_eluf(-1.0f, 0.5f) - 0.5 * expm1(-1.0)) < 1e-7);
    assert_true(cnnc_geluf(0.0f) == 0.0f && cnnc_gelu_tanhf(0.0f) == 0.0f);
}

/* SiLU, hardtanh and PReLU: their formulas, NaN through. */
static void test_runtime_silu_hardtanh_prelu(void **state)
{
    (void)state;
    for (float x = -20.0f; x <= 20.0f; x += 0.37f) {
        double es = (double)x / (1.0 + exp(-(double)x));
        assert_true(fabs(cnnc_siluf(x) - es) <= 3e-7 * fabs(es) + 1e-30);
        assert_true(cnnc_hardtanhf(x, -1.0f, 2.0f) == (x < -1.0f ? -1.0f : x > 2.0f ? 2.0f : x));
        assert_true(cnnc_preluf(x, 0.25f) == (x < 0 ? x * 0.25f : x));
    }
    assert_true(cnnc_hardtanhf(NAN, -1.0f, 1.0f) != cnnc_hardtanhf(NAN, -1.0f, 1.0f));
    assert_true(cnnc_preluf(NAN, 0.25f) != cnnc_preluf(NAN, 0.25f));
}

static void test_runtime_piecewise_activations(void **state)
{
    float nan = f_from_bits(0x7fc00000u);
    float x;

    (void)state;
    assert_true(cnnc_reluf(-2.0f) == 0.0f && cnnc_reluf(2.5f) == 2.5f);
    assert_true(cnnc_relu6f(-1.0f) == 0.0f && cnnc_relu6f(3.0f) == 3.0f);
    assert_true(cnnc_relu6f(7.0f) == 6.0f);
    assert_true(cnnc_leakyreluf(-2.0f, 0.01f) == -0.02f && cnnc_leakyreluf(2.0f, 0.01f) == 2.0f);
    assert_true(cnnc_hardswishf(-3.0f) == 0.0f && cnnc_hardswishf(-4.0f) == 0.0f);
    assert_true(cnnc_hardswishf(3.0f) == 3.0f && cnnc_hardswishf(10.0f) == 10.0f);
    for (x = -4.0f; x <= 4.0f; x += 0.001f) {
        double c = fmin(fmax((double)x + 3.0, 0.0), 6.0);
        double ref = (double)x * c / 6.0;
        assert_true(fabs(cnnc_hardswishf(x) - ref) <= 2.5e-7 * fabs(ref) + 1e-30);
    }
    assert_true(isnan(cnnc_reluf(nan)) && isnan(cnnc_relu6f(nan)));
    assert_true(isnan(cnnc_hardswishf(nan)) && isnan(cnnc_leakyreluf(nan, 0.1f)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runtime_expf_bound),
        cmocka_unit_test(test_runtime_expf_subnormal),
        cmocka_unit_test(test_runtime_expf_special_values),
        cmocka_unit_test(test_runtime_sigmoidf_bound),
        cmocka_unit_test(test_runtime_sigmoidf_symmetry_and_limits),
        cmocka_unit_test(test_runtime_tanhf_bound),
        cmocka_unit_test(test_runtime_tanhf_symmetry_and_limits),
        cmocka_unit_test(test_runtime_softmax_sums_to_one),
        cmocka_unit_test(test_runtime_softmax_large_inputs_stable),
        cmocka_unit_test(test_runtime_softmax_stride),
        cmocka_unit_test(test_runtime_softmax_edge_cases),
        cmocka_unit_test(test_runtime_piecewise_activations),
        cmocka_unit_test(test_runtime_gelu_elu_bounds),
        cmocka_unit_test(test_runtime_silu_hardtanh_prelu),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
