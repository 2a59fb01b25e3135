/* test_quant.c: int8 quantization. The fixed-point primitives of
 * runtime/cnnc_q8.h against wide-integer definitions and TFLite's own
 * test values; quant.c's parameters (QuantizeMultiplier, activation and
 * per-channel weight params, bias, calibration files) against values
 * computed by hand; the float interpreter against PyTorch on tests/ref;
 * and the int8 reference (compiler/qref.c) against the float results.
 *
 * The reference is included whole so that every build of the suites
 * (plain, sanitized, coverage) links it without rules of its own. */
#include "testutil.h"

#include <math.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnc_q8.h"
#include "tflm.h"

/* v mod 2^32 as int32: what SMLAD and TFLite's int32 sums give. */
static int32_t wrap32(int64_t v)
{
    uint32_t u = (uint32_t)((uint64_t)v & 0xffffffffu);
    return u > INT32_MAX ? (int32_t)((int64_t)u - ((int64_t)1 << 32)) : (int32_t)u;
}

/* An input coordinate folded back inside [0, n) as the padding mode says;
 * -1 for zeros padding. */
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
    return -1;
}

#define STRICT "-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror"
#define M4 "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"

/* ---- helpers ---- */

/* splitmix64: reproducible random inputs. */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Random int32s biased towards the edges where rounding and saturation live. */
static int32_t edgy(uint64_t *s)
{
    static const int32_t special[] = {0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1,
                                      1 << 30, -(1 << 30), (1 << 30) + 1, -(1 << 30) - 1, 1 << 15, -(1 << 15)};
    uint64_t r = next(s);
    switch (r % 4) {
    case 0: return special[(r >> 8) % (sizeof special / sizeof *special)];
    case 1: return (int32_t)(int16_t)(r >> 16);
    default: return (int32_t)(uint32_t)(r >> 32);
    }
}

/* A compiled model with its own diagnostics stream for the later phases. */
typedef struct Model {
    Compiled *c;
    Diag d;
    FILE *out;
    char *msgs;
    size_t len;
} Model;

static Model *model_open(const char *src)
{
    Model *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->c = tu_compile(src);
    if (m->c->errors)
        fail_msg("model does not compile:\n%s", m->c->messages);
    m->out = open_memstream(&m->msgs, &m->len);
    diag_init(&m->d, "t.net", src, strlen(src), m->out);
    return m;
}

/* Everything reported so far, as text. */
static const char *model_messages(Model *m)
{
    diag_flush(&m->d);
    fflush(m->out);
    return m->msgs ? m->msgs : "";
}

static void model_close(Model *m)
{
    fclose(m->out);
    free(m->msgs);
    tu_free(m->c);
    free(m);
}

static Layer *layer(Model *m, const char *name)
{
    return tu_layer(m->c, name);
}

static void set(float *t, const float *v, int n)
{
    memcpy(t, v, (size_t)n * sizeof *t);
}

static int64_t numel(Shape s)
{
    return s.c * s.h * s.w;
}

/* ---- QuantizeMultiplier: TFLite's own test values ---- */

static void expect_multiplier(double m, int32_t mult, int32_t shift)
{
    int32_t gm, gs;
    quant_multiplier(m, &gm, &gs);
    if (gm != mult || gs != shift)
        fail_msg("quant_multiplier(%.17g) = (%d, %d), want (%d, %d)", m, gm, gs, mult, shift);
}

static void test_quant_multiplier_tflite_values(void **state)
{
    (void)state;
    expect_multiplier(0.0, 0, 0);
    expect_multiplier(0.125, 1073741824, -2);
    expect_multiplier(0.25, 1073741824, -1);
    expect_multiplier(0.5, 1073741824, 0);
    expect_multiplier(0.75, 1610612736, 0);
    expect_multiplier(1.0, 1073741824, 1);
    expect_multiplier(1.25, 1342177280, 1);
    expect_multiplier(1.75, 1879048192, 1);
    expect_multiplier(2.0, 1073741824, 2);
    expect_multiplier(4.0, 1073741824, 3);
    expect_multiplier(-0.5, -1073741824, 0);
    expect_multiplier(-4.0, -1073741824, 3);
    expect_multiplier(0.50 - 5e-9, 2147483627, -1);
    expect_multiplier(1 - 1e-9, 2147483646, 0);
    expect_multiplier(2 - 1e-9, 2147483647, 1);
}

/* Just below a power of two the Q31 mantissa rounds up to 2^31, which does
 * not fit: TFLite halves it and bumps the exponent. */
static void test_quant_multiplier_rounds_up_to_next_power(void **state)
{
    (void)state;
    expect_multiplier(0.50 - 1e-10, 1073741824, 0);
    expect_multiplier(1 - 1e-15, 1073741824, 1);
    expect_multiplier(2 - 1e-11, 1073741824, 2);
    expect_multiplier(nextafter(1.0, 0.0), 1073741824, 1);
}

/* Below 2^-32 the multiplier is flushed to zero (shift would pass -31). */
static void test_quant_multiplier_tiny_flushes_to_zero(void **state)
{
    (void)state;
    expect_multiplier(ldexp(1.0, -31), 1073741824, -30);
    expect_multiplier(ldexp(1.0, -32), 1073741824, -31);
    expect_multiplier(ldexp(0.99f, -32), 0, 0);
    expect_multiplier(ldexp(1.0, -33), 0, 0);
    expect_multiplier(1e-10, 0, 0);
    expect_multiplier(5e-324, 0, 0);
}

/* TFLite's MultiplyByQuantizedMultiplier tests, through our requant. */
static int32_t quant_and_multiply(int32_t x, double m)
{
    int32_t mult, shift;
    quant_multiplier(m, &mult, &shift);
    int32_t got = cnnc_q_requant(x, mult, shift);
    assert_int_equal(got, qref_requant(x, mult, shift));
    return got;
}

static void test_quant_requant_tflite_values(void **state)
{
    (void)state;
    assert_int_equal(quant_and_multiply(0, 0.1), 0);
    assert_int_equal(quant_and_multiply(1, 0), 0);
    assert_int_equal(quant_and_multiply(10000, 0.00097656), 10);
    assert_int_equal(quant_and_multiply(10000, -0.00097656), -10);
    assert_int_equal(quant_and_multiply(-10000, 0.00097656), -10);
    assert_int_equal(quant_and_multiply(-10000, -0.00097656), 10);
    assert_int_equal(quant_and_multiply(INT32_MIN, 0.00001), -21475);
    assert_int_equal(quant_and_multiply(INT32_MIN, -0.00001), 21475);
    assert_int_equal(quant_and_multiply(INT32_MAX, 0.00001), 21475);
    assert_int_equal(quant_and_multiply(INT32_MAX, -0.00001), -21475);
    /* the largest x and multiplier: TFLite's expected value is the rounded exact product */
    int32_t expected = (int32_t)round((double)INT32_MAX * INT32_MAX / (double)(1LL << 34));
    assert_int_equal(cnnc_q_requant(INT32_MAX, INT32_MAX, -3), expected);
    assert_int_equal(cnnc_q_requant(-INT32_MAX, INT32_MAX, -3), -expected);
}

/* ---- the primitives against their definitions ---- */

static void test_quant_srdhm_edges(void **state)
{
    (void)state;
    assert_int_equal(cnnc_q_srdhm(INT32_MIN, INT32_MIN), INT32_MAX); /* the one saturation */
    assert_int_equal(qref_srdhm(INT32_MIN, INT32_MIN), INT32_MAX);
    assert_int_equal(cnnc_q_srdhm(INT32_MIN, INT32_MAX), -INT32_MAX);
    assert_int_equal(cnnc_q_srdhm(INT32_MAX, INT32_MAX), INT32_MAX - 1);
    assert_int_equal(cnnc_q_srdhm(INT32_MIN, 1 << 30), -(1 << 30));
    /* ties: 2ab/2^32 = +-0.5, +-1.5 round half up (gemmlowp's nudge) */
    assert_int_equal(cnnc_q_srdhm(1, 1 << 30), 1);
    assert_int_equal(cnnc_q_srdhm(-1, 1 << 30), 0);
    assert_int_equal(cnnc_q_srdhm(3, 1 << 30), 2);
    assert_int_equal(cnnc_q_srdhm(-3, 1 << 30), -1);
    assert_int_equal(cnnc_q_srdhm(1, (1 << 30) - 1), 0);
    assert_int_equal(cnnc_q_srdhm(-1, (1 << 30) + 1), -1);
    for (int32_t a = -8; a <= 8; a++)
        for (int32_t b = (1 << 30) - 4; b <= (1 << 30) + 4; b++)
            assert_int_equal(cnnc_q_srdhm(a, b), qref_srdhm(a, b));
}

static void test_quant_srdhm_random(void **state)
{
    (void)state;
    uint64_t s = 1;
    for (int i = 0; i < 2000000; i++) {
        int32_t a = edgy(&s), b = edgy(&s);
        int32_t got = cnnc_q_srdhm(a, b), want = qref_srdhm(a, b);
        if (got != want)
            fail_msg("srdhm(%d, %d) = %d, want %d", a, b, got, want);
    }
}

static void test_quant_rdbpot_edges(void **state)
{
    (void)state;
    /* ties go away from zero, for both signs */
    assert_int_equal(cnnc_q_rdbpot(1, 1), 1);
    assert_int_equal(cnnc_q_rdbpot(-1, 1), -1);
    assert_int_equal(cnnc_q_rdbpot(3, 1), 2);
    assert_int_equal(cnnc_q_rdbpot(-3, 1), -2);
    assert_int_equal(cnnc_q_rdbpot(-5, 2), -1);
    assert_int_equal(cnnc_q_rdbpot(-6, 2), -2);
    assert_int_equal(cnnc_q_rdbpot(-7, 2), -2);
    assert_int_equal(cnnc_q_rdbpot(12, 3), 2);
    assert_int_equal(cnnc_q_rdbpot(-12, 3), -2);
    assert_int_equal(cnnc_q_rdbpot(-11, 3), -1);
    assert_int_equal(cnnc_q_rdbpot(7, 0), 7);
    assert_int_equal(cnnc_q_rdbpot(INT32_MIN, 31), -1);
    assert_int_equal(cnnc_q_rdbpot(INT32_MAX, 31), 1);
    assert_int_equal(cnnc_q_rdbpot(INT32_MIN, 0), INT32_MIN);
    assert_int_equal(cnnc_q_rdbpot(-(1 << 30), 31), -1);  /* -0.5 */
    assert_int_equal(cnnc_q_rdbpot((1 << 30) - 1, 31), 0);
    for (int e = 0; e <= 31; e++)
        for (int32_t x = -70; x <= 70; x++)
            assert_int_equal(cnnc_q_rdbpot(x, e), qref_rdbpot(x, e));
}

static void test_quant_rdbpot_random(void **state)
{
    (void)state;
    uint64_t s = 2;
    for (int i = 0; i < 2000000; i++) {
        int32_t x = edgy(&s);
        int e = (int)(next(&s) % 32);
        int32_t got = cnnc_q_rdbpot(x, e), want = qref_rdbpot(x, e);
        if (got != want)
            fail_msg("rdbpot(%d, %d) = %d, want %d", x, e, got, want);
    }
}

static void test_quant_requant_random(void **state)
{
    (void)state;
    uint64_t s = 3;
    for (int i = 0; i < 2000000; i++) {
        int32_t acc = edgy(&s);
        int32_t mult = (int32_t)((1u << 30) + (uint32_t)(next(&s) % (1u << 30)));
        int32_t shift = (int32_t)(next(&s) % 40) - 31; /* -31..8 */
        if (i % 7 == 0)
            mult = INT32_MAX;
        int32_t got = cnnc_q_requant(acc, mult, shift), want = qref_requant(acc, mult, shift);
        if (got != want)
            fail_msg("requant(%d, %d, %d) = %d, want %d", acc, mult, shift, got, want);
    }
}

/* The requantized value is the exact product rounded twice: within half a
 * unit, plus half a unit of the high product (2^shift units), plus the
 * multiplier's own rounding (2^-31 relative). */
static void test_quant_requant_close_to_real(void **state)
{
    (void)state;
    uint64_t s = 4;
    for (int i = 0; i < 200000; i++) {
        int32_t acc = (int32_t)(next(&s) % 2000001) - 1000000;
        double m = ldexp(0.5 + 0.5 * (double)(next(&s) >> 11) / 9007199254740992.0, -(int)(next(&s) % 20));
        int32_t mult, shift;
        quant_multiplier(m, &mult, &shift);
        double exact = acc * m, bound = 0.5 + ldexp(0.5, shift) + ldexp(fabs(exact), -30);
        double err = fabs(cnnc_q_requant(acc, mult, shift) - exact);
        if (!(err <= bound))
            fail_msg("requant(%d, %.17g) is off by %.6g, more than %.6g", acc, m, err, bound);
    }
}

static void test_quant_div_round(void **state)
{
    (void)state;
    assert_int_equal(cnnc_q_div_round(3, 2), 2);
    assert_int_equal(cnnc_q_div_round(-3, 2), -2);
    assert_int_equal(cnnc_q_div_round(-1, 2), -1);
    assert_int_equal(cnnc_q_div_round(1, 3), 0);
    assert_int_equal(cnnc_q_div_round(-2, 3), -1);
    assert_int_equal(cnnc_q_div_round(0, 9), 0);
    for (int32_t n = 1; n <= 50; n++)
        for (int32_t sum = -128 * 50; sum <= 127 * 50; sum += 7)
            assert_int_equal(cnnc_q_div_round(sum, n), qref_div_round(sum, n));
}

/* Float to int8 without libm equals roundf's (ties away), and saturates. */
static void test_quant_quantize_matches_roundf(void **state)
{
    (void)state;
    uint64_t s = 5;
    QParams ps[] = {{0.0078431377f, -1}, {1.0f / 256, -128}, {0.1f, 5}, {3.0f, 127}, {1e-6f, 0}};
    for (size_t k = 0; k < sizeof ps / sizeof *ps; k++) {
        QParams p = ps[k];
        for (int i = 0; i < 100000; i++) {
            float x;
            if (i % 3 == 0) /* exact ties of x / scale */
                x = ((float)((int)(next(&s) % 600) - 300) + 0.5f) * p.scale;
            else
                x = (float)(((double)(next(&s) >> 11) / 9007199254740992.0 - 0.5) * 400.0) * p.scale;
            int8_t got = cnnc_q_quantize(x, p.scale, p.zero_point), want = qref_quantize(x, p);
            if (got != want)
                fail_msg("quantize(%.9g, %.9g, %d) = %d, want %d", x, p.scale, p.zero_point, got, want);
        }
    }
    assert_int_equal(cnnc_q_quantize(1e30f, 0.1f, 0), 127);
    assert_int_equal(cnnc_q_quantize(-1e30f, 0.1f, 0), -128);
    assert_int_equal(cnnc_q_quantize(NAN, 0.1f, 0), -128);
    assert_int_equal(cnnc_q_quantize(0.25f, 0.5f, 0), 1);   /* 0.5 away from zero */
    assert_int_equal(cnnc_q_quantize(-0.25f, 0.5f, 0), -1);
    for (int q = -128; q <= 127; q++) {
        float got = cnnc_q_dequantize((int8_t)q, 0.0123f, -7);
        assert_true(got == qref_dequantize((int8_t)q, (QParams){0.0123f, -7}));
    }
}

/* The portable SXTB16 / SADD16 / SMLAD do what the instructions do. */
static void test_quant_packed_ops_portable(void **state)
{
    (void)state;
    uint64_t s = 6;
    for (int i = 0; i < 200000; i++) {
        uint32_t x = (uint32_t)next(&s), y = (uint32_t)next(&s);
        int32_t acc = edgy(&s);
        int8_t b[4] = {(int8_t)x, (int8_t)(x >> 8), (int8_t)(x >> 16), (int8_t)(x >> 24)};
        uint32_t e = cnnc_q_sxtb16(x), o = cnnc_q_sxtb16_ror8(x);
        assert_int_equal(cnnc_q_half(e, 0), b[0]);
        assert_int_equal(cnnc_q_half(e, 1), b[2]);
        assert_int_equal(cnnc_q_half(o, 0), b[1]);
        assert_int_equal(cnnc_q_half(o, 1), b[3]);
        uint32_t sum = cnnc_q_sadd16(x, y);
        assert_int_equal(cnnc_q_half(sum, 0), (int16_t)(uint16_t)(x + y));
        assert_int_equal(cnnc_q_half(sum, 1), (int16_t)(uint16_t)((x >> 16) + (y >> 16)));
        int64_t mac = (int64_t)acc + (int64_t)(int16_t)x * (int16_t)y + (int64_t)(int16_t)(x >> 16) * (int16_t)(y >> 16);
        assert_int_equal(cnnc_q_smlad(x, y, acc), wrap32(mac));
        assert_int_equal(cnnc_q_read4(b), x);
        int8_t w[4] = {(int8_t)y, (int8_t)(y >> 8), (int8_t)(y >> 16), (int8_t)(y >> 24)};
        int32_t off = (int32_t)(next(&s) % 256) - 127;
        int64_t dot = acc, doto = acc;
        for (int k = 0; k < 4; k++) {
            dot += b[k] * w[k];
            doto += w[k] * (b[k] + off);
        }
        assert_int_equal(cnnc_q_dot4(acc, b, w), wrap32(dot));
        assert_int_equal(cnnc_q_dot4_offset(acc, w, b, off), wrap32(doto));
    }
}

/* A program that folds every primitive over a fixed pseudo-random sweep
 * into one checksum: the same source built for the host (portable C) and
 * for Cortex-M4 (DSP instructions) must print the same number. */
static const char q8_sweep_src[] =
    "#include <stdint.h>\n#include <stdio.h>\n#include \"cnnc_q8.h\"\n"
    "static uint32_t rnd(uint32_t *s)\n{\n    *s ^= *s << 13;\n    *s ^= *s >> 17;\n    *s ^= *s << 5;\n"
    "    return *s;\n}\n"
    "int main(void)\n{\n    uint32_t s = 2463534242u, h = 0;\n    int8_t a[4], b[4];\n    int i, k;\n"
    "    for (i = 0; i < 200000; i++) {\n        uint32_t x = rnd(&s), y = rnd(&s);\n"
    "        int32_t acc = (int32_t)rnd(&s);\n"
    "        for (k = 0; k < 4; k++) {\n            a[k] = (int8_t)(x >> (8 * k));\n"
    "            b[k] = (int8_t)(y >> (8 * k));\n        }\n"
    "        h = h * 31u + (uint32_t)cnnc_q_smlad(x, y, acc);\n"
    "        h = h * 31u + cnnc_q_sxtb16(x) + cnnc_q_sxtb16_ror8(y) + cnnc_q_sadd16(x, y);\n"
    "        h = h * 31u + (uint32_t)cnnc_q_dot4(acc, a, b);\n"
    "        h = h * 31u + (uint32_t)cnnc_q_dot4_offset(acc, a, b, (int32_t)(x % 256u) - 127);\n"
    "        h = h * 31u + (uint32_t)cnnc_q_requant(acc >> (x % 24u), (int32_t)(y | 0x40000000u) & INT32_MAX,\n"
    "                                              (int32_t)(x % 32u) - 31);\n"
    "        h = h * 31u + (uint32_t)cnnc_q_srdhm((int32_t)x, (int32_t)y);\n"
    "    }\n    printf(\"%08lx\\n\", (unsigned long)h);\n    return 0;\n}\n";

static bool have(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return tu_run(cmd, NULL) == 0;
}

/* A directory of this process's own under build/quant, so that two runs of
 * the suite (plain and sanitized) never share files. */
static const char *scratch(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "build/quant/%ld", (long)getpid());
        mkdir("build", 0777);
        mkdir("build/quant", 0777);
        mkdir(dir, 0777);
    }
    return dir;
}

static void scratch_remove(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", scratch());
    tu_run(cmd, NULL);
}

static void write_text(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", scratch(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs a command with %1$s standing for the scratch directory; returns its
 * status and output. */
static int run_in(char **out, const char *fmt)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, scratch());
    return tu_run(cmd, out);
}

/* The header builds warning-free with the strict flags of generated code
 * for the host (gcc, clang), Cortex-M4 (DSP instructions chosen), Cortex-M0
 * and freestanding RV32, and the Cortex-M4 object uses SMLAD and SXTB16. */
static void test_quant_q8_builds_for_targets(void **state)
{
    (void)state;
    write_text("sweep.c", q8_sweep_src);
    char *out = NULL;
    if (run_in(&out, "cc " STRICT " -Wconversion -O2 -Iruntime %1$s/sweep.c -o %1$s/sweep 2>&1"))
        fail_msg("host build: %s", out);
    free(out);
    if (have("clang")) {
        if (run_in(&out, "clang " STRICT " -Wconversion -O2 -Iruntime -c %1$s/sweep.c -o %1$s/sweep_clang.o 2>&1"))
            fail_msg("clang build: %s", out);
        free(out);
    }
    if (have("arm-none-eabi-gcc")) {
        if (run_in(&out, "arm-none-eabi-gcc " STRICT " -Wconversion " M4 " -O2 -Iruntime -c %1$s/sweep.c "
                         "-o %1$s/sweep_m4.o 2>&1 && arm-none-eabi-objdump -d %1$s/sweep_m4.o"))
            fail_msg("cortex-m4 build: %s", out);
        assert_non_null(strstr(out, "smlad"));
        assert_non_null(strstr(out, "sxtb16"));
        assert_non_null(strstr(out, "sadd16"));
        free(out);
        if (run_in(&out, "arm-none-eabi-gcc " STRICT " -Wconversion -mcpu=cortex-m0 -mthumb -O2 -Iruntime -c "
                         "%1$s/sweep.c -o %1$s/sweep_m0.o 2>&1 && arm-none-eabi-objdump -d %1$s/sweep_m0.o"))
            fail_msg("cortex-m0 build: %s", out);
        assert_null(strstr(out, "smlad"));
        free(out);
    }
    if (have("riscv64-unknown-elf-gcc")) {
        write_text("q8_only.c", "#include \"cnnc_q8.h\"\nint32_t f(int32_t a, int32_t m, int32_t s);\n"
                                "int32_t f(int32_t a, int32_t m, int32_t s)\n{\n"
                                "    return cnnc_q_requant(a, m, s);\n}\n");
        if (run_in(&out, "riscv64-unknown-elf-gcc " STRICT " -march=rv32imac -mabi=ilp32 -ffreestanding -nostdlib "
                         "-O2 -Iruntime -c %1$s/q8_only.c -o %1$s/q8_rv32.o 2>&1"))
            fail_msg("rv32 build: %s", out);
        free(out);
    }
}

/* The sweep gives the same checksum on the host (portable C) and on an
 * emulated Cortex-M4 with each variant: ACLE intrinsics, inline asm (as
 * without ACLE's SIMD32 macro) and portable C (as without DSP). */
static void test_quant_q8_dsp_matches_portable_on_qemu(void **state)
{
    (void)state;
    if (!have("arm-none-eabi-gcc") || !have("qemu-system-arm") ||
        tu_run("test -f \"$(arm-none-eabi-gcc -print-file-name=rdimon.specs)\"", NULL) != 0)
        skip();
    write_text("sweep.c", q8_sweep_src);
    write_text("boot.c", tu_m4_boot_src);
    char *host = NULL, *out = NULL;
    if (run_in(&host, "cc -O2 -Iruntime %1$s/sweep.c -o %1$s/sweep 2>&1 && %1$s/sweep"))
        fail_msg("host sweep: %s", host);
    const char *variants[] = {"", "-U__ARM_FEATURE_SIMD32", "-U__ARM_FEATURE_SIMD32 -U__ARM_FEATURE_DSP"};
    for (size_t k = 0; k < sizeof variants / sizeof *variants; k++) {
        char fmt[1024];
        snprintf(fmt, sizeof fmt,
                 "arm-none-eabi-gcc " M4 " -O2 %s --specs=rdimon.specs -Iruntime %%1$s/boot.c %%1$s/sweep.c "
                 "-Wl,--section-start=.vectors=0x0 -o %%1$s/sweep.elf 2>&1 && "
                 "timeout 60 qemu-system-arm -M mps2-an386 -nographic -semihosting -kernel %%1$s/sweep.elf 2>&1",
                 variants[k]);
        if (run_in(&out, fmt))
            fail_msg("cortex-m4 sweep '%s': %s", variants[k], out);
        if (strcmp(out, host) != 0)
            fail_msg("cortex-m4 sweep '%s' gives %s, the host %s", variants[k], out, host);
        free(out);
    }
    free(host);
}

/* ---- activation params ---- */

static void expect_params(float min, float max, float scale, int32_t zp)
{
    QParams p = quant_params(min, max);
    if (p.zero_point != zp || fabsf(p.scale - scale) > 1e-7f * scale)
        fail_msg("quant_params(%g, %g) = (%.9g, %d), want (%.9g, %d)", min, max, p.scale, p.zero_point, scale, zp);
}

static void test_quant_params_hand_computed(void **state)
{
    (void)state;
    expect_params(-1.0f, 1.0f, 2.0f / 255, -1);  /* zero point -0.5 rounds away from zero */
    expect_params(0.0f, 6.0f, 6.0f / 255, -128);
    expect_params(2.0f, 5.0f, 5.0f / 255, -128);  /* range widened to include 0 */
    expect_params(-3.0f, -1.0f, 3.0f / 255, 127);
    expect_params(-1.0f, 2.0f, 3.0f / 255, -43);
    expect_params(-2.55f, 0.0f, 0.01f, 127);
    expect_params(0.0f, 0.0f, 1.0f, -128);        /* all zero: MLIR's scale 1 */
    expect_params(-10.0f, 0.0f, 10.0f / 255, 127);
    /* the real zero is exactly representable: it quantizes to the zero point */
    QParams p = quant_params(-0.37f, 4.1f);
    assert_int_equal(quant_value(p, 0.0f), p.zero_point);
    assert_int_equal(quant_value(p, 1e9f), 127);
    assert_int_equal(quant_value(p, -1e9f), -128);
}

/* ---- calibration on a hand-sized net ---- */

static const char small_net[] = "network small\n"
                                "input x 1x1x2\n"
                                "conv2d c out=2 kernel=1\n"
                                "relu r\n";

static Model *small_model(void)
{
    Model *m = model_open(small_net);
    assert_true(weights_init(&m->c->mem, m->c->net, "zeros"));
    Layer *c = layer(m, "c");
    set(c->tensor[0], (float[]){0.5f, -0.25f}, 2);
    set(c->tensor[1], (float[]){0.1f, 0.0f}, 2);
    return m;
}

static void test_quant_calibrate_small_net(void **state)
{
    (void)state;
    Model *m = small_model();
    const float inputs[] = {1.0f, -1.0f, 0.5f, 2.0f};
    assert_true(quant_calibrate_data(&m->c->mem, &m->d, m->c->net, inputs, 2));
    const QuantInfo *x = layer(m, "x")->quant, *c = layer(m, "c")->quant, *r = layer(m, "r")->quant;
    /* input: range [-1, 2] */
    assert_int_equal(x->kind, QK_QUANTIZE);
    assert_true(x->min == -1.0f && x->max == 2.0f);
    assert_float_equal(x->out.scale, 3.0f / 255, 1e-9);
    assert_int_equal(x->out.zero_point, -43);
    /* conv outputs: ch0 0.5x+0.1 in {0.6, -0.4, 0.35, 1.1}, ch1 -0.25x in {-0.25, 0.25, -0.125, -0.5};
     * the relu is fused, so the conv stores the relu's range [0, 1.1] */
    assert_float_equal(c->min, -0.5f, 1e-7);
    assert_float_equal(c->max, 1.1f, 1e-7);
    assert_int_equal(c->kind, QK_CONV);
    assert_int_equal(r->kind, QK_FUSED);
    assert_ptr_equal(r->fused_into, layer(m, "c"));
    assert_ptr_equal(c->fused_act, layer(m, "r"));
    assert_float_equal(c->out.scale, 1.1f / 255, 1e-9);
    assert_int_equal(c->out.zero_point, -128);
    assert_int_equal(c->act_min, -128);
    assert_int_equal(c->act_max, 127);
    assert_true(r->out.scale == c->out.scale && r->out.zero_point == c->out.zero_point);
    /* weights: one per channel, each its channel's max, so +-127 */
    assert_int_equal(c->nchan, 2);
    assert_int_equal(c->weight[0], 127);
    assert_int_equal(c->weight[1], -127);
    assert_float_equal(c->weight_scale[0], 0.5f / 127, 1e-10);
    assert_float_equal(c->weight_scale[1], 0.25f / 127, 1e-10);
    assert_int_equal(c->wsum[0], 127);
    assert_int_equal(c->wsum[1], -127);
    /* bias 0.1 / (3/255 * 0.5/127) = 0.1 * 85 * 254 */
    assert_int_equal(c->bias[0], 2159);
    assert_int_equal(c->bias[1], 0);
    /* multiplier (3/255)(0.5/127)/(1.1/255) = 1.5/139.7 = 0.01073... = 0.687 * 2^-6 */
    assert_int_equal(c->shift[0], -6);
    assert_true(fabs(c->mult[0] / (1.5 / 139.7 * 64 * 2147483648.0) - 1) < 1e-6); /* float scales */
    assert_int_equal(c->shift[1], -7);
    assert_true(fabs(c->mult[1] / (0.75 / 139.7 * 128 * 2147483648.0) - 1) < 1e-6);
    model_close(m);
}

/* The int8 net computes what the float one does, to a unit or so. */
static void test_quant_small_net_runs_close_to_float(void **state)
{
    (void)state;
    Model *m = small_model();
    const float inputs[] = {1.0f, -1.0f, 0.5f, 2.0f};
    assert_true(quant_calibrate_data(&m->c->mem, &m->d, m->c->net, inputs, 2));
    Layer *r = layer(m, "r");
    for (int k = 0; k < 2; k++) {
        Mem tmp = {0};
        float **f = interp_run(&tmp, m->c->net, inputs + 2 * k);
        int8_t **q = qref_run(m->c->net, inputs + 2 * k);
        for (int i = 0; i < 4; i++) {
            float got = qref_dequantize(q[r->index][i], r->quant->out);
            assert_true(fabsf(got - f[r->index][i]) <= 1.5f * r->quant->out.scale);
        }
        qref_free(m->c->net, q);
        mem_free(&tmp);
    }
    model_close(m);
}

/* Per channel: max|w| / 127; an all-zero channel without bias keeps scale 0
 * (multiplier 0); a zero channel with a bias gets the range
 * AdjustWeightsForBiasScale gives so that the bias fits in half of int32. */
static void test_quant_weight_scales_per_channel(void **state)
{
    (void)state;
    Model *m = model_open("network w\ninput x 2x1x1\nconv2d c out=3 kernel=1\n");
    assert_true(weights_init(&m->c->mem, m->c->net, "zeros"));
    Layer *cl = layer(m, "c");
    set(cl->tensor[0], (float[]){0.3f, -1.27f, 0.0f, 0.0f, 0.0f, 0.0f}, 6);
    set(cl->tensor[1], (float[]){0.5f, 0.0f, 2.0f}, 3);
    const float inputs[] = {-1.0f, 1.0f};
    assert_true(quant_calibrate_data(&m->c->mem, &m->d, m->c->net, inputs, 1));
    const QuantInfo *c = cl->quant;
    float in_scale = layer(m, "x")->quant->out.scale;
    assert_float_equal(in_scale, 2.0f / 255, 1e-9);
    assert_float_equal(c->weight_scale[0], 0.01f, 1e-9);
    assert_int_equal(c->weight[0], 30);
    assert_int_equal(c->weight[1], -127);
    assert_int_equal(c->bias[0], (int32_t)lroundf(0.5f / (in_scale * 0.01f)));
    assert_true(c->weight_scale[1] == 0.0f);
    assert_int_equal(c->weight[2], 0);
    assert_int_equal(c->bias[1], 0);
    assert_int_equal(c->mult[1], 0);
    assert_int_equal(c->shift[1], 0);
    double want = 2.0 * 2.0 / INT32_MAX * (double)(127.0f / in_scale) / 127;
    assert_true(fabs(c->weight_scale[2] - want) <= 1e-6 * want);
    assert_true(labs((long)c->bias[2] - INT32_MAX / 2) <= 2);
    model_close(m);
}

/* The params each kind of op gets: moved or compared values keep their
 * input's, sigmoid/tanh/softmax TFLite's fixed ones, relu alone clamps. */
static void test_quant_op_kinds_and_params(void **state)
{
    (void)state;
    Model *m = model_open("network k\ninput x 2x4x4\n"
                          "conv2d c out=2 kernel=1\n"
                          "maxpool2d mp kernel=2\n"
                          "relu r\n"
                          "relu6 r6\n"
                          "avgpool2d ap kernel=2 from=c\n"
                          "batchnorm2d bn\n"
                          "sigmoid sg from=x\n"
                          "tanh th from=x\n"
                          "concat cat from=sg,th\n"
                          "dropout d\n"
                          "conv2d c2 out=2 kernel=1 from=x\n"
                          "batchnorm2d bn2\n"
                          "relu6 r2\n"
                          "hardswish hs from=x\n"
                          "globalavgpool2d g from=hs\n"
                          "flatten f\n"
                          "softmax sm\n"
                          "output r6 ap d r2 sm\n");
    assert_true(weights_init(&m->c->mem, m->c->net, "random:7"));
    float in[32];
    for (int i = 0; i < 32; i++)
        in[i] = (float)i / 4 - 4;
    assert_true(quant_calibrate_data(&m->c->mem, &m->d, m->c->net, in, 1));
    const QuantInfo *c = layer(m, "c")->quant, *mp = layer(m, "mp")->quant, *r = layer(m, "r")->quant;
    const QuantInfo *r6 = layer(m, "r6")->quant, *bn = layer(m, "bn")->quant, *cat = layer(m, "cat")->quant;
    assert_int_equal(c->kind, QK_CONV);
    assert_null(c->fused_act); /* two users: no fusion */
    assert_int_equal(mp->kind, QK_MAXPOOL);
    assert_true(mp->out.scale == c->out.scale && mp->out.zero_point == c->out.zero_point);
    assert_int_equal(r->kind, QK_CLAMP);
    assert_true(r->out.scale == c->out.scale);
    assert_int_equal(r->act_min, c->out.zero_point);
    assert_int_equal(r->act_max, 127);
    assert_int_equal(r6->kind, QK_CLAMP);
    assert_int_equal(r6->act_min, c->out.zero_point);
    assert_int_equal(r6->act_max, quant_value(c->out, 6.0f));
    assert_int_equal(layer(m, "ap")->quant->kind, QK_AVGPOOL);
    assert_int_equal(bn->kind, QK_AFFINE); /* after a pool: not folded */
    assert_int_equal(bn->nchan, 2);
    assert_int_equal(abs(bn->weight[0]), 127);
    assert_int_equal(layer(m, "sg")->quant->kind, QK_LUT);
    assert_true(layer(m, "sg")->quant->out.scale == 1.0f / 256 && layer(m, "sg")->quant->out.zero_point == -128);
    assert_true(layer(m, "th")->quant->out.scale == 1.0f / 128 && layer(m, "th")->quant->out.zero_point == 0);
    assert_int_equal(cat->kind, QK_CONCAT);
    assert_int_equal(cat->nin, 2);
    assert_int_equal(layer(m, "d")->quant->kind, QK_IDENTITY);
    const QuantInfo *c2 = layer(m, "c2")->quant, *bn2 = layer(m, "bn2")->quant, *r2 = layer(m, "r2")->quant;
    assert_int_equal(bn2->kind, QK_FUSED);
    assert_int_equal(r2->kind, QK_FUSED);
    assert_ptr_equal(c2->fused_bn, layer(m, "bn2"));
    assert_ptr_equal(c2->fused_act, layer(m, "r2"));
    assert_int_equal(c2->out.zero_point, -128); /* relu6's range starts at 0 */
    assert_int_equal(c2->act_max, quant_value(c2->out, 6.0f));
    assert_int_equal(layer(m, "g")->quant->kind, QK_AVGPOOL);
    const QuantInfo *sm = layer(m, "sm")->quant;
    assert_int_equal(sm->kind, QK_SOFTMAX);
    assert_true(sm->out.scale == 1.0f / 256 && sm->out.zero_point == -128);
    assert_int_equal(sm->exp_lut[0], INT32_MAX); /* TFLM's e^0 in Q0.31 */
    model_close(m);
}

/* Each table entry is TFLM's integer kernel's result (tflm.c), within one
 * step of quantize(f(dequantize(x))), and softmax lands within one step
 * of the float softmax of the dequantized inputs. */
static void test_quant_lut_and_softmax(void **state)
{
    (void)state;
    Model *m = model_open("network s\ninput x 10x1x1\nsigmoid sg\nsoftmax sm from=x\nleakyrelu lr from=x\n"
                          "output sg sm lr\n");
    float in[10];
    for (int i = 0; i < 10; i++)
        in[i] = (float)i * 1.3f - 6.0f;
    assert_true(quant_calibrate_data(&m->c->mem, &m->d, m->c->net, in, 1));
    Layer *x = layer(m, "x"), *sg = layer(m, "sg"), *sm = layer(m, "sm"), *lr = layer(m, "lr");
    for (int v = -128; v <= 127; v++) {
        float f = x->quant->out.scale * (float)(v - x->quant->out.zero_point);
        assert_true(abs(sg->quant->lut[v + 128] - qref_quantize((float)(1 / (1 + exp(-f))), sg->quant->out)) <= 1);
        assert_true(abs(lr->quant->lut[v + 128] - qref_quantize(f < 0 ? f * 0.01f : f, lr->quant->out)) <= 1);
    }
    int8_t want_sg[256], want_lr[256];
    QParams xp = x->quant->out, o = lr->quant->out;
    assert_null(tflm_lut_logistic(xp.scale, xp.zero_point, want_sg));
    assert_null(tflm_lut_leaky_relu(xp.scale, xp.zero_point, o.scale, o.zero_point, 0.01f, want_lr));
    assert_memory_equal(sg->quant->lut, want_sg, 256);
    assert_memory_equal(lr->quant->lut, want_lr, 256);
    uint64_t s = 9;
    for (int trial = 0; trial < 2000; trial++) {
        float vals[10];
        for (int i = 0; i < 10; i++)
            vals[i] = (float)((double)(next(&s) >> 11) / 9007199254740992.0 * 14 - 6);
        int8_t **q = qref_run(m->c->net, vals);
        double sum = 0, top = -1e30;
        for (int i = 0; i < 10; i++)
            top = fmax(top, qref_dequantize(q[0][i], x->quant->out));
        for (int i = 0; i < 10; i++)
            sum += exp(qref_dequantize(q[0][i], x->quant->out) - top);
        for (int i = 0; i < 10; i++) {
            double want = exp(qref_dequantize(q[0][i], x->quant->out) - top) / sum * 256 - 128;
            assert_true(fabs(q[sm->index][i] - want) <= 1.0);
        }
        qref_free(m->c->net, q);
    }
    model_close(m);
}

/* ---- calibration files ---- */

static void write_floats(const char *path, const float *v, size_t n, size_t extra_bytes)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(v, sizeof *v, n, f);
    for (size_t i = 0; i < extra_bytes; i++)
        fputc(0, f);
    fclose(f);
}

static void test_quant_calibration_file_errors(void **state)
{
    (void)state;
    const float v[] = {1.0f, -1.0f, 0.5f, 2.0f};
    char path[128], missing[128];
    snprintf(path, sizeof path, "%s/calib.bin", scratch());
    snprintf(missing, sizeof missing, "%s/no-such-file.bin", scratch());
    struct {
        size_t n, extra;
        const char *want;
    } cases[] = {
        {0, 0, "calibration data is empty; it needs at least one 1x1x2 float32 input"},
        {1, 0, "holds 4 bytes, not a whole number of 1x1x2 float32 inputs (8 bytes each"},
        {4, 3, "holds 19 bytes"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        Model *m = small_model();
        write_floats(path, v, cases[k].n, cases[k].extra);
        assert_false(quant_calibrate(&m->c->mem, &m->d, m->c->net, path));
        const char *msgs = model_messages(m);
        if (!strstr(msgs, cases[k].want) || !strstr(msgs, "calib.bin: error: "))
            fail_msg("case %zu: got '%s'", k, msgs);
        assert_null(layer(m, "c")->quant);
        model_close(m);
    }
    Model *m = small_model();
    assert_false(quant_calibrate(&m->c->mem, &m->d, m->c->net, missing));
    assert_non_null(strstr(model_messages(m), "cannot open calibration data: No such file or directory"));
    model_close(m);
    /* a good file gives what the same inputs in memory give */
    m = small_model();
    write_floats(path, v, 4, 0);
    assert_true(quant_calibrate(&m->c->mem, &m->d, m->c->net, path));
    assert_int_equal(layer(m, "x")->quant->out.zero_point, -43);
    assert_int_equal(layer(m, "c")->quant->bias[0], 2159);
    model_close(m);
}

static void test_quant_calibration_rejects_nonfinite(void **state)
{
    (void)state;
    Model *m = small_model();
    const float inputs[] = {1.0f, 2.0f, INFINITY, 0.0f};
    assert_false(quant_calibrate_data(&m->c->mem, &m->d, m->c->net, inputs, 2));
    assert_non_null(strstr(model_messages(m), "calibration input 2 makes 'x' NaN or infinite"));
    model_close(m);
}

static void test_quant_report_table(void **state)
{
    (void)state;
    Model *m = small_model();
    const float inputs[] = {1.0f, -1.0f, 0.5f, 2.0f};
    assert_true(quant_calibrate_data(&m->c->mem, &m->d, m->c->net, inputs, 2));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    quant_report(m->c->net, f);
    fclose(f);
    assert_non_null(strstr(text, "layer"));
    assert_non_null(strstr(text, "zp"));
    assert_non_null(strstr(text, "\nx      input           quantize  0.011764706      -43  [-1, 2]                   -128..127\n"));
    assert_non_null(strstr(text, "\nc      conv2d          conv      0.0043137255    -128  [-0.5, 1.1]"));
    assert_non_null(strstr(text, "w 0.00197..0.00394 +r\n"));
    assert_non_null(strstr(text, "\nr      relu            fused     0.0043137255    -128  [0, 1.1]"));
    assert_non_null(strstr(text, "int8 constants 26 B"));
    assert_non_null(strstr(text, "in c"));
    free(text);
    model_close(m);
}

/* ---- the reference cases of tests/ref ---- */

typedef struct RefCase {
    char dir[300];
    Model *m;
    float *input, *expected;
    size_t nexpected;
} RefCase;

/* Loads tests/ref/<name>: model, weights, input, expected outputs. */
static bool ref_open(RefCase *rc, const char *name)
{
    snprintf(rc->dir, sizeof rc->dir, "tests/ref/%s", name);
    char path[400];
    struct stat st;
    snprintf(path, sizeof path, "%s/expected.bin", rc->dir);
    if (name[0] == '.' || stat(path, &st) != 0)
        return false;
    size_t len;
    rc->expected = (float *)tu_read_file(path, &len);
    rc->nexpected = len / sizeof(float);
    snprintf(path, sizeof path, "%s/input.bin", rc->dir);
    rc->input = (float *)tu_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/model.net", rc->dir);
    char *src = tu_read_file(path, NULL);
    rc->m = model_open(src);
    free(src);
    snprintf(path, sizeof path, "%s/weights.safetensors", rc->dir);
    if (!weights_load(&rc->m->c->mem, &rc->m->d, rc->m->c->net, path))
        fail_msg("%s: %s", path, model_messages(rc->m));
    return true;
}

static void ref_close(RefCase *rc)
{
    model_close(rc->m);
    free(rc->input);
    free(rc->expected);
}

/* Runs fn on every case of tests/ref, in name order. */
static int each_ref(void (*fn)(RefCase *, void *), void *arg)
{
    struct dirent **names;
    int n = scandir("tests/ref", &names, NULL, alphasort);
    assert_true(n > 0);
    int done = 0;
    for (int i = 0; i < n; i++) {
        RefCase rc = {0};
        if (ref_open(&rc, names[i]->d_name)) {
            fn(&rc, arg);
            ref_close(&rc);
            done++;
        }
        free(names[i]);
    }
    free(names);
    return done;
}

/* Worst |got - exp| as a fraction of test_e2e.c's tolerance,
 * 1e-5 * max(|exp|, 0.1 * max|exp|). */
static double worst_ratio(const float *got, const float *exp, int64_t n)
{
    double peak = 0, w = 0;
    for (int64_t i = 0; i < n; i++)
        peak = fmax(peak, fabs(exp[i]));
    for (int64_t i = 0; i < n; i++) {
        double allowed = fmax(1e-5 * fmax(fabs(exp[i]), 0.1 * peak), 1e-38);
        double r = isfinite(got[i]) ? fabs((double)got[i] - exp[i]) / allowed : INFINITY;
        if (!(r <= w))
            w = r;
    }
    return w;
}

static void interp_case(RefCase *rc, void *arg)
{
    (void)arg;
    Net *net = rc->m->c->net;
    Mem tmp = {0};
    float **t = interp_run(&tmp, net, rc->input);
    size_t off = 0;
    for (int k = 0; k < net->noutputs; k++) {
        const Layer *o = net->outputs[k];
        int64_t n = numel(o->shape);
        assert_true(off + (size_t)n <= rc->nexpected);
        double w = worst_ratio(t[o->index], rc->expected + off, n);
        if (!(w <= 1.0))
            fail_msg("%s: output '%s' off by %.3g of the tolerance", rc->dir, o->name, w);
        off += (size_t)n;
    }
    assert_int_equal(off, rc->nexpected);
    mem_free(&tmp);
}

/* The float interpreter equals PyTorch (float64 references) within 1e-5. */
static void test_quant_interp_matches_pytorch(void **state)
{
    (void)state;
    assert_true(each_ref(interp_case, NULL) >= 100);
}

/* ---- the documented kernels, written with runtime/cnnc_q8.h ---- */

/* Conv as a code generator would write it from cnnc_q8.h's recipe: the
 * zero point folded into the bias where the whole window is inside, taps
 * checked one by one elsewhere. */
static void rt_conv(const Layer *l, const int8_t *x, int8_t *y)
{
    const QuantInfo *qi = l->quant;
    Shape in = l->in[0]->shape;
    int32_t zx = l->in[0]->quant->out.zero_point;
    int64_t cin = in.c / l->groups, cout = l->out / l->groups, kh = l->kernel[0], kw = l->kernel[1];
    for (int64_t oc = 0; oc < l->out; oc++)
        for (int64_t oy = 0; oy < l->shape.h; oy++)
            for (int64_t ox = 0; ox < l->shape.w; ox++) {
                int64_t y0 = oy * l->stride[0] - l->pad[0], x0 = ox * l->stride[1] - l->pad[2];
                bool inside = y0 >= 0 && x0 >= 0 && y0 + (kh - 1) * l->dilation[0] < in.h &&
                              x0 + (kw - 1) * l->dilation[1] < in.w;
                int32_t acc = inside ? qi->bias[oc] - zx * qi->wsum[oc] : qi->bias[oc];
                for (int64_t ic = 0; ic < cin; ic++)
                    for (int64_t ky = 0; ky < kh; ky++)
                        for (int64_t kx = 0; kx < kw; kx++) {
                            int64_t iy = fold(l->pad_mode, y0 + ky * l->dilation[0], in.h);
                            int64_t ix = fold(l->pad_mode, x0 + kx * l->dilation[1], in.w);
                            if (iy < 0 || ix < 0)
                                continue;
                            int32_t v = x[((oc / cout * cin + ic) * in.h + iy) * in.w + ix];
                            acc += qi->weight[((oc * cin + ic) * kh + ky) * kw + kx] * (inside ? v : v - zx);
                        }
                y[(oc * l->shape.h + oy) * l->shape.w + ox] =
                    cnnc_q_output(acc, qi->mult[oc], qi->shift[oc], qi->out.zero_point, qi->act_min, qi->act_max);
            }
}

/* Linear four weights at a time with the SMLAD helper, the rest one by one. */
static void rt_linear(const Layer *l, const int8_t *x, int8_t *y)
{
    const QuantInfo *qi = l->quant;
    int64_t n = l->in[0]->shape.c;
    int32_t zx = l->in[0]->quant->out.zero_point;
    for (int64_t o = 0; o < l->out; o++) {
        const int8_t *w = qi->weight + o * n;
        int32_t acc = qi->bias[o];
        int64_t i = 0;
        for (; i + 4 <= n; i += 4)
            acc = cnnc_q_dot4_offset(acc, w + i, x + i, -zx);
        for (; i < n; i++)
            acc += w[i] * (x[i] - zx);
        y[o] = cnnc_q_output(acc, qi->mult[o], qi->shift[o], qi->out.zero_point, qi->act_min, qi->act_max);
    }
}

static void rt_pool(const Layer *l, const int8_t *x, int8_t *y)
{
    const QuantInfo *qi = l->quant;
    Shape in = l->in[0]->shape;
    bool global = l->op == OP_GLOBALAVGPOOL2D || l->op == OP_GLOBALMAXPOOL2D || l->op == OP_MEAN;
    int64_t kh = global ? in.h : l->kernel[0], kw = global ? in.w : l->kernel[1];
    int32_t zx = l->in[0]->quant->out.zero_point;
    for (int64_t c = 0; c < in.c; c++)
        for (int64_t oy = 0; oy < l->shape.h; oy++)
            for (int64_t ox = 0; ox < l->shape.w; ox++) {
                int64_t y0 = global ? 0 : oy * l->stride[0] - l->pad[0];
                int64_t x0 = global ? 0 : ox * l->stride[1] - l->pad[2];
                int64_t dy = global ? 1 : l->dilation[0], dx = global ? 1 : l->dilation[1];
                int32_t acc = qi->kind == QK_MAXPOOL ? -129 : qi->kind == QK_MINPOOL ? 128 : 0, n = 0;
                for (int64_t ky = 0; ky < kh; ky++)
                    for (int64_t kx = 0; kx < kw; kx++) {
                        int64_t iy = y0 + ky * dy, ix = x0 + kx * dx;
                        if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w)
                            continue;
                        int32_t v = x[(c * in.h + iy) * in.w + ix];
                        if (qi->kind == QK_MAXPOOL)
                            acc = v > acc ? v : acc;
                        else if (qi->kind == QK_MINPOOL)
                            acc = v < acc ? v : acc;
                        else
                            acc += qi->kind == QK_SUMPOOL ? v - zx : v;
                        n++;
                    }
                int32_t out;
                if (qi->kind == QK_SUMPOOL) {
                    out = cnnc_q_output(acc, qi->out_mult, qi->out_shift, qi->out.zero_point, qi->act_min,
                                        qi->act_max);
                } else if (qi->kind == QK_AVGPOOL) {
                    int32_t d = n;
                    if (l->op == OP_AVGPOOL2D && l->count_include_pad) {
                        int64_t y1 = y0 + kh < in.h + l->pad[1] ? y0 + kh : in.h + l->pad[1];
                        int64_t x1 = x0 + kw < in.w + l->pad[3] ? x0 + kw : in.w + l->pad[3];
                        d = (int32_t)((y1 - y0) * (x1 - x0));
                        acc += (d - n) * zx;
                    }
                    out = cnnc_q_clamp(cnnc_q_div_round(acc, d), qi->act_min, qi->act_max);
                } else {
                    out = n ? acc : qi->out.zero_point;
                }
                y[(c * l->shape.h + oy) * l->shape.w + ox] = (int8_t)out;
            }
}

/* One layer computed from the reference's tensors of its inputs with the
 * runtime helpers; false for kinds with nothing to compute. */
static bool rt_layer(const Layer *l, int8_t **t, int8_t *y)
{
    const QuantInfo *qi = l->quant;
    const int8_t *x = l->nin ? t[l->in[0]->index] : NULL;
    int64_t n = numel(l->shape), hw = l->shape.h * l->shape.w;
    switch (qi->kind) {
    case QK_CONV: rt_conv(l, x, y); return true;
    case QK_LINEAR: rt_linear(l, x, y); return true;
    case QK_AFFINE:
        for (int64_t i = 0; i < n; i++) {
            int64_t c = i / hw;
            int32_t acc = qi->bias[c] + qi->weight[c] * (x[i] - l->in[0]->quant->out.zero_point);
            y[i] = cnnc_q_output(acc, qi->mult[c], qi->shift[c], qi->out.zero_point, qi->act_min, qi->act_max);
        }
        return true;
    case QK_MAXPOOL:
    case QK_MINPOOL:
    case QK_AVGPOOL:
    case QK_SUMPOOL: rt_pool(l, x, y); return true;
    case QK_ADD:
        for (int64_t i = 0; i < n; i++) {
            int32_t acc = 0;
            for (int k = 0; k < l->nin; k++)
                acc += cnnc_q_add_term(t[l->in[k]->index][i], l->in[k]->quant->out.zero_point, qi->left_shift,
                                       qi->in_mult[k], qi->in_shift[k]);
            y[i] = cnnc_q_output(acc, qi->out_mult, qi->out_shift, qi->out.zero_point, qi->act_min, qi->act_max);
        }
        return true;
    case QK_CONCAT: {
        int64_t off = 0;
        for (int k = 0; k < l->nin; k++) {
            const Layer *src = l->in[k];
            for (int64_t i = 0; i < numel(src->shape); i++) {
                int8_t v = t[src->index][i];
                y[off + i] = qi->in_requant[k] ? cnnc_q_output(v - src->quant->out.zero_point, qi->in_mult[k],
                                                               qi->in_shift[k], qi->out.zero_point, -128, 127)
                                               : v;
            }
            off += numel(src->shape);
        }
        return true;
    }
    case QK_CLAMP:
        for (int64_t i = 0; i < n; i++)
            y[i] = (int8_t)cnnc_q_clamp(x[i], qi->act_min, qi->act_max);
        return true;
    case QK_LUT:
        for (int64_t i = 0; i < n; i++)
            y[i] = qi->lut[x[i] + 128];
        return true;
    case QK_SOFTMAX:
        for (int64_t p = 0; p < hw; p++)
            cnnc_q_softmax_tflm(x + p, y + p, (int)l->shape.c, (int)hw, qi->exp_lut);
        return true;
    case QK_MEAN:
        for (int64_t c = 0, ihw = l->in[0]->shape.h * l->in[0]->shape.w; c < l->shape.c; c++)
            y[c] = cnnc_q_mean(x + c * ihw, (int32_t)ihw, 1, qi->mean_bias, qi->out_mult, qi->out_shift,
                               qi->out.zero_point);
        return true;
    case QK_QUANTIZE:
    case QK_IDENTITY:
    case QK_MUL: /* no runtime helper: qref and the generated code alone (test_q8) */
    case QK_GATHER:
    case QK_FUSED: return false;
    }
    return false;
}

/* Whether the net has an op with no int8 form yet (quantizing it is refused). */
static bool float_only(const Net *net)
{
    for (int i = 0; i < net->nlayers; i++)
        if (!quant_has_int8(net->layers[i]))
            return true;
    return false;
}

/* Layers computed and checked so far. */
typedef struct KernelTally {
    int layers;
} KernelTally;

static void kernels_case(RefCase *rc, void *arg)
{
    KernelTally *tally = arg;
    Net *net = rc->m->c->net;
    if (float_only(net))
        return;
    if (!quant_calibrate_data(&rc->m->c->mem, &rc->m->d, net, rc->input, 1))
        fail_msg("%s: %s", rc->dir, model_messages(rc->m));
    int8_t **t = qref_run(net, rc->input);
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        int64_t n = numel(l->shape);
        int8_t *y = malloc((size_t)n);
        if (rt_layer(l, t, y)) {
            for (int64_t k = 0; k < n; k++)
                if (y[k] != t[i][k])
                    fail_msg("%s: layer '%s' value %lld: runtime kernel %d, reference %d", rc->dir, l->name,
                             (long long)k, y[k], t[i][k]);
            tally->layers++;
        }
        free(y);
    }
    qref_free(net, t);
}

/* The kernels of cnnc_q8.h's opening comment, written with its helpers,
 * equal the reference bit for bit on every layer of every reference case. */
static void test_quant_runtime_kernels_match_reference(void **state)
{
    (void)state;
    KernelTally tally = {0};
    assert_true(each_ref(kernels_case, &tally) >= 100);
    if (tally.layers < 250)
        fail_msg("only %d layers checked", tally.layers);
}

/* What the int8 results of the reference cases look like. */
typedef struct Drift {
    int cases;
    double worst;
    char worst_case[400];
} Drift;

/* Calibrates on the case's input and a few scaled copies, runs the int8
 * reference and compares each output, dequantized, with the float one,
 * in units of the output's range. */
static void int8_case(RefCase *rc, void *arg)
{
    Drift *dr = arg;
    Net *net = rc->m->c->net;
    if (float_only(net))
        return;
    int64_t n = numel(net->input->shape);
    float *calib = malloc((size_t)(3 * n) * sizeof *calib);
    for (int64_t i = 0; i < n; i++) {
        calib[i] = rc->input[i];
        calib[n + i] = rc->input[i] * 0.5f;
        calib[2 * n + i] = -rc->input[(i * 7 + 3) % n];
    }
    if (!quant_calibrate_data(&rc->m->c->mem, &rc->m->d, net, calib, 3))
        fail_msg("%s: %s", rc->dir, model_messages(rc->m));
    Mem tmp = {0};
    float **f = interp_run(&tmp, net, rc->input);
    int8_t **q = qref_run(net, rc->input);
    for (int k = 0; k < net->noutputs; k++) {
        const Layer *o = net->outputs[k];
        float lo = 0, hi = 0;
        for (int64_t i = 0; i < numel(o->shape); i++) {
            lo = fminf(lo, f[o->index][i]);
            hi = fmaxf(hi, f[o->index][i]);
        }
        double range = fmax(hi - lo, 1e-6), worst = 0;
        for (int64_t i = 0; i < numel(o->shape); i++)
            worst = fmax(worst, fabs(qref_dequantize(q[o->index][i], o->quant->out) - f[o->index][i]) / range);
        if (getenv("CNNC_QUANT_VERBOSE"))
            printf("%-40s %-12s %.4f of range, scale %.4g\n", rc->dir, o->name, worst, o->quant->out.scale / range);
        if (worst > dr->worst) {
            dr->worst = worst;
            snprintf(dr->worst_case, sizeof dr->worst_case, "%.300s (%.60s)", rc->dir, o->name);
        }
        if (!(worst <= 0.1))
            fail_msg("%s: int8 output '%s' is off by %.3g of its range", rc->dir, o->name, worst);
    }
    qref_free(net, q);
    mem_free(&tmp);
    free(calib);
    dr->cases++;
}

/* Every reference model quantizes, and its int8 outputs stay within 10% of
 * the output's range of the float ones (most are within a few steps).
 * CNNC_QUANT_VERBOSE=1 prints each output's figure. */
static void test_quant_ref_cases_int8_close_to_float(void **state)
{
    (void)state;
    Drift dr = {0};
    each_ref(int8_case, &dr);
    assert_true(dr.cases >= 100);
    printf("int8 vs float over %d cases: worst %.3g of the output range, in %s\n", dr.cases, dr.worst,
           dr.worst_case);
}

/* The trained digits model in int8 predicts as PyTorch does. */
static void test_quant_digits_agrees_with_pytorch(void **state)
{
    (void)state;
    size_t len;
    unsigned char *data = (unsigned char *)tu_read_file("demo/digits_test.bin", &len);
    assert_memory_equal(data, "CNNCDIG1", 8);
    uint32_t count, pixels;
    memcpy(&count, data + 8, 4);
    memcpy(&pixels, data + 12, 4);
    assert_int_equal(len, 16 + (size_t)count * (pixels * 4 + 2));
    const float *images = (const float *)(data + 16);
    const unsigned char *labels = data + 16 + (size_t)count * pixels * 4, *torch = labels + count;
    char *src = tu_read_file("models/digits.net", NULL);
    Model *m = model_open(src);
    free(src);
    assert_true(weights_load(&m->c->mem, &m->d, m->c->net, "models/digits.safetensors"));
    /* calibrate on the first 100 images, predict all */
    assert_true(quant_calibrate_data(&m->c->mem, &m->d, m->c->net, images, 100));
    const Layer *out = m->c->net->outputs[0];
    int agree = 0, correct = 0;
    for (uint32_t k = 0; k < count; k++) {
        int8_t **q = qref_run(m->c->net, images + (size_t)k * pixels);
        int best = 0;
        for (int i = 1; i < out->shape.c; i++)
            best = q[out->index][i] > q[out->index][best] ? i : best;
        agree += best == torch[k];
        correct += best == labels[k];
        qref_free(m->c->net, q);
    }
    printf("digits int8: %d/%u correct, %d/%u agree with PyTorch\n", correct, count, agree, count);
    assert_true(agree >= (int)count - 3);
    model_close(m);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quant_multiplier_tflite_values),
        cmocka_unit_test(test_quant_multiplier_rounds_up_to_next_power),
        cmocka_unit_test(test_quant_multiplier_tiny_flushes_to_zero),
        cmocka_unit_test(test_quant_requant_tflite_values),
        cmocka_unit_test(test_quant_srdhm_edges),
        cmocka_unit_test(test_quant_srdhm_random),
        cmocka_unit_test(test_quant_rdbpot_edges),
        cmocka_unit_test(test_quant_rdbpot_random),
        cmocka_unit_test(test_quant_requant_random),
        cmocka_unit_test(test_quant_requant_close_to_real),
        cmocka_unit_test(test_quant_div_round),
        cmocka_unit_test(test_quant_quantize_matches_roundf),
        cmocka_unit_test(test_quant_packed_ops_portable),
        cmocka_unit_test(test_quant_q8_builds_for_targets),
        cmocka_unit_test(test_quant_q8_dsp_matches_portable_on_qemu),
        cmocka_unit_test(test_quant_params_hand_computed),
        cmocka_unit_test(test_quant_calibrate_small_net),
        cmocka_unit_test(test_quant_small_net_runs_close_to_float),
        cmocka_unit_test(test_quant_weight_scales_per_channel),
        cmocka_unit_test(test_quant_op_kinds_and_params),
        cmocka_unit_test(test_quant_lut_and_softmax),
        cmocka_unit_test(test_quant_calibration_file_errors),
        cmocka_unit_test(test_quant_calibration_rejects_nonfinite),
        cmocka_unit_test(test_quant_report_table),
        cmocka_unit_test(test_quant_interp_matches_pytorch),
        cmocka_unit_test(test_quant_runtime_kernels_match_reference),
        cmocka_unit_test(test_quant_ref_cases_int8_close_to_float),
        cmocka_unit_test(test_quant_digits_agrees_with_pytorch),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    scratch_remove();
    return failed;
}
