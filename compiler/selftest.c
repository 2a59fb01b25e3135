/* selftest.c: the self-test a user flashes first. From golden inputs and
 * the outputs the framework gave for them (raw float32 files), writes a
 * C file that runs the network on the board, compares within the
 * tolerance of the reference tests and prints PASS or FAIL with the
 * largest error. The file needs no stdio: its only output goes through
 * a macro the user can point at a UART. */
#include "cnnc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The tolerance of tests/ref: |got - exp| <= rel * max(|exp|, 0.1 * peak). */
#define ST_DEFAULT_TOLERANCE 1e-5

const char st_usage[] =
    "  --emit-test FILE.c        also write a self-test for the board: runs the model on\n"
    "                            golden data and prints PASS or FAIL (needs -o)\n"
    "  --test-input FILE         its input(s): raw float32 little-endian, CHW, samples\n"
    "                            one after another\n"
    "  --test-expected FILE      the expected outputs, float32 LE, per sample the outputs\n"
    "                            in declaration order\n"
    "  --test-tolerance=REL      relative tolerance of the self-test (default 1e-5)\n";

/* The self-test options and the name each is spelled with. */
typedef struct StOption {
    const char *flag;
    size_t field; /* offset of the const char * in SelftestOptions */
} StOption;

static const StOption st_options[] = {
    {"--emit-test", offsetof(SelftestOptions, path)},
    {"--test-input", offsetof(SelftestOptions, input)},
    {"--test-expected", offsetof(SelftestOptions, expected)},
};

/* The table entry for arg ("--flag", "--flag=VALUE"), or NULL. */
static const StOption *find_option(const char *arg)
{
    for (size_t k = 0; k < sizeof st_options / sizeof st_options[0]; k++) {
        size_t n = strlen(st_options[k].flag);
        if (strncmp(arg, st_options[k].flag, n) == 0 && (arg[n] == '\0' || arg[n] == '='))
            return &st_options[k];
    }
    return NULL;
}

bool st_is_option(const char *arg)
{
    return find_option(arg) || strncmp(arg, "--test-tolerance", 16) == 0;
}

/* Records a usage error for main to print; always false. */
static bool usage(SelftestOptions *so, const char *msg, const char *arg)
{
    snprintf(so->error, sizeof so->error, msg, arg);
    return false;
}

bool st_parse_option(SelftestOptions *so, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const StOption *opt = find_option(arg);
    if (!opt) {
        const char *v = strncmp(arg, "--test-tolerance=", 17) == 0 ? arg + 17 : "";
        char *end;
        errno = 0;
        double t = strtod(v, &end);
        if (!*v || *end || errno || !(t > 0.0 && t < 1.0))
            return usage(so, "bad --test-tolerance value '%s'; use a relative error such as 1e-5", v);
        so->tolerance = t;
        return true;
    }
    const char *value = arg + strlen(opt->flag);
    if (*value == '=')
        value++;
    else if (*i + 1 < argc)
        value = argv[++*i];
    if (!*value)
        return usage(so, "%s needs a file name", opt->flag);
    *(const char **)((char *)so + opt->field) = value;
    return true;
}

bool st_check_options(SelftestOptions *so, const char *output)
{
    if (!so->path && (so->input || so->expected || so->tolerance > 0))
        return usage(so, "%s", "--test-input, --test-expected and --test-tolerance need --emit-test FILE.c");
    if (!so->path)
        return true;
    if (!output)
        return usage(so, "%s", "--emit-test needs -o: the self-test includes the generated header");
    /* a .c name cannot be the header or the dependency file it would overwrite */
    size_t n = strlen(so->path);
    if (n < 3 || strcmp(so->path + n - 2, ".c") != 0)
        return usage(so, "--emit-test needs a file name ending in .c, not '%s'", so->path);
    if (strcmp(so->path, output) == 0)
        return usage(so, "--emit-test and -o both name '%s'", so->path);
    if (!so->input || !so->expected)
        return usage(so, "%s", "--emit-test needs --test-input FILE and --test-expected FILE");
    return true;
}

/* ---- reading the golden data ---- */

/* A file of float32 values. */
typedef struct Floats {
    float *v;
    int64_t n;
} Floats;

/* Reads a raw little-endian float32 file whatever the host's byte order;
 * false (reported) if it cannot be read or holds something not finite,
 * which a C initializer could not spell. */
static bool read_floats(Mem *m, Diag *d, const char *path, Floats *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_file_error(d, path, "cannot read: %s", strerror(errno));
        return false;
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) {
            unsigned char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    bool failed = ferror(f);
    fclose(f);
    if (!buf)
        die("out of memory reading '%s'", path);
    if (failed || len % 4 != 0 || len == 0) {
        if (failed)
            diag_file_error(d, path, "cannot read: %s", strerror(EIO));
        else
            diag_file_error(d, path, "%zu bytes is not a whole number of float32 values", len);
        free(buf);
        return false;
    }
    out->n = (int64_t)(len / 4);
    out->v = mem_array(m, (size_t)out->n, sizeof *out->v);
    bool ok = true;
    for (int64_t i = 0; i < out->n && ok; i++) {
        const unsigned char *b = buf + 4 * i;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&out->v[i], &u, sizeof u);
        if (!isfinite(out->v[i])) {
            diag_file_error(d, path, "value %lld is not a finite number", (long long)i);
            ok = false;
        }
    }
    free(buf);
    return ok;
}

/* The number of floats of all the network's outputs together. */
static int64_t output_floats(const Net *net)
{
    int64_t n = 0;
    for (int k = 0; k < net->noutputs; k++)
        n += net->outputs[k]->shape.c * net->outputs[k]->shape.h * net->outputs[k]->shape.w;
    return n;
}

/* Checks the files hold the same whole number of samples; that number, or 0. */
static int64_t count_samples(Diag *d, const Net *net, const SelftestOptions *so, const Floats *in, const Floats *exp)
{
    Shape s = net->input->shape;
    int64_t per_in = s.c * s.h * s.w, per_out = output_floats(net);
    if (in->n % per_in != 0) {
        diag_file_error(d, so->input, "%lld floats is not a whole number of %lldx%lldx%lld inputs (%lld floats each)",
                        (long long)in->n, (long long)s.c, (long long)s.h, (long long)s.w, (long long)per_in);
        return 0;
    }
    int64_t samples = in->n / per_in;
    if (exp->n != samples * per_out) {
        diag_file_error(d, so->expected,
                        "%lld floats, but %lld sample%s of %lld output value%s each need %lld",
                        (long long)exp->n, (long long)samples, samples == 1 ? "" : "s", (long long)per_out,
                        per_out == 1 ? "" : "s", (long long)(samples * per_out));
        return 0;
    }
    return samples;
}

/* ---- writing the C file ---- */

/* A float literal that reads back as the same float (finite only). */
static const char *literal(float v, char *buf, size_t len)
{
    snprintf(buf, len, "%.9g", (double)v);
    if (!strpbrk(buf, ".e"))
        strncat(buf, ".0", len - strlen(buf) - 1);
    strncat(buf, "f", len - strlen(buf) - 1);
    return buf;
}

/* An initialised array of n floats, eight to a line. */
static void write_array(FILE *out, const char *decl, const float *v, int64_t n)
{
    fprintf(out, "%s[%lld] = {\n", decl, (long long)n);
    char lit[48];
    for (int64_t i = 0; i < n; i++)
        fprintf(out, "%s%s%s", i % 8 ? " " : "    ", literal(v[i], lit, sizeof lit),
                i + 1 == n ? "\n" : (i % 8 == 7 ? ",\n" : ","));
    fputs("};\n", out);
}

/* The target-side helpers: number formatting without printf, and the
 * comparison. Only float arithmetic, so no double helpers on an FPU
 * that has single precision only. */
static const char st_helpers[] =
    "/* Appends s; returns the new end. */\n"
    "static char *st_put(char *p, const char *s)\n"
    "{\n"
    "    while (*s)\n"
    "        *p++ = *s++;\n"
    "    *p = '\\0';\n"
    "    return p;\n"
    "}\n"
    "\n"
    "/* Appends n in decimal. */\n"
    "static char *st_put_uint(char *p, unsigned long n)\n"
    "{\n"
    "    char digits[24];\n"
    "    int k = 0;\n"
    "    do {\n"
    "        digits[k++] = (char)('0' + n % 10);\n"
    "        n /= 10;\n"
    "    } while (n);\n"
    "    while (k)\n"
    "        *p++ = digits[--k];\n"
    "    *p = '\\0';\n"
    "    return p;\n"
    "}\n"
    "\n"
    "/* Appends v in 8 hex digits. */\n"
    "static char *st_put_hex(char *p, uint32_t v)\n"
    "{\n"
    "    int shift;\n"
    "    for (shift = 28; shift >= 0; shift -= 4)\n"
    "        *p++ = \"0123456789abcdef\"[(v >> shift) & 0xfu];\n"
    "    *p = '\\0';\n"
    "    return p;\n"
    "}\n"
    "\n"
    "/* Appends v as 1.23e-05 (three digits are plenty for an error), in float\n"
    " * arithmetic only so that no printf or double support is needed. */\n"
    "static char *st_put_float(char *p, float v)\n"
    "{\n"
    "    int e = 0, n;\n"
    "    if (v != v)\n"
    "        return st_put(p, \"nan\");\n"
    "    if (v < 0.0f) {\n"
    "        *p++ = '-';\n"
    "        v = -v;\n"
    "    }\n"
    "    if (v > 3.40282347e38f)\n"
    "        return st_put(p, \"inf\");\n"
    "    if (v == 0.0f)\n"
    "        return st_put(p, \"0\");\n"
    "    while (v >= 10.0f) {\n"
    "        v /= 10.0f;\n"
    "        e++;\n"
    "    }\n"
    "    while (v < 1.0f) {\n"
    "        v *= 10.0f;\n"
    "        e--;\n"
    "    }\n"
    "    n = (int)(v * 100.0f + 0.5f);\n"
    "    if (n >= 1000) {\n"
    "        n = 100;\n"
    "        e++;\n"
    "    }\n"
    "    *p++ = (char)('0' + n / 100);\n"
    "    *p++ = '.';\n"
    "    *p++ = (char)('0' + n / 10 % 10);\n"
    "    *p++ = (char)('0' + n % 10);\n"
    "    *p++ = 'e';\n"
    "    *p++ = e < 0 ? '-' : '+';\n"
    "    e = e < 0 ? -e : e;\n"
    "    *p++ = (char)('0' + e / 10);\n"
    "    *p++ = (char)('0' + e % 10);\n"
    "    *p = '\\0';\n"
    "    return p;\n"
    "}\n"
    "\n"
    "/* The worst value seen: the one furthest outside (or least inside) the tolerance. */\n"
    "typedef struct st_worst {\n"
    "    float ratio, error, got, expected; /* ratio: error / what is allowed */\n"
    "    int sample, output;\n"
    "    long index;\n"
    "    long bad; /* values outside the tolerance */\n"
    "    uint32_t checksum; /* FNV-1a of every output's bits, to compare builds */\n"
    "} st_worst;\n"
    "\n"
    "/* |x|, with NaN kept. */\n"
    "static float st_abs(float x)\n"
    "{\n"
    "    return x < 0.0f ? -x : x;\n"
    "}\n"
    "\n"
    "/* The bits of a float, through a union (no memcpy). */\n"
    "static uint32_t st_bits(float x)\n"
    "{\n"
    "    union {\n"
    "        float f;\n"
    "        uint32_t u;\n"
    "    } b;\n"
    "    b.f = x;\n"
    "    return b.u;\n"
    "}\n"
    "\n"
    "#ifdef CNNC_TEST_DUMP\n"
    "/* Prints the bits of every value of one output, eight to a line after\n"
    " * \"dump SAMPLE OUTPUT\", so that a test can compare builds (board\n"
    " * against host) value by value. */\n"
    "static void st_dump(const float *v, long n, int sample, int output)\n"
    "{\n"
    "    char line[128], *p = line;\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        if (i % 8 == 0) {\n"
    "            p = st_put(line, \"dump \");\n"
    "            p = st_put_uint(p, (unsigned long)sample);\n"
    "            p = st_put(p, \" \");\n"
    "            p = st_put_uint(p, (unsigned long)output);\n"
    "        }\n"
    "        p = st_put(p, \" \");\n"
    "        p = st_put_hex(p, st_bits(v[i]));\n"
    "        if (i % 8 == 7 || i + 1 == n) {\n"
    "            st_put(p, \"\\n\");\n"
    "            CNNC_TEST_PUTS(line);\n"
    "        }\n"
    "    }\n"
    "}\n"
    "#endif\n"
    "\n"
    "/* Compares one output of one sample: each value may be off by\n"
    " * tolerance * max(|expected|, 0.1 * the output's largest |expected|). */\n"
    "static void st_compare(const float *got, const float *expected, long n, float tolerance, int sample, int output,\n"
    "                       st_worst *w)\n"
    "{\n"
    "    float peak = 0.0f;\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++)\n"
    "        if (st_abs(expected[i]) > peak)\n"
    "            peak = st_abs(expected[i]);\n"
    "    for (i = 0; i < n; i++) {\n"
    "        float scale = st_abs(expected[i]) > 0.1f * peak ? st_abs(expected[i]) : 0.1f * peak;\n"
    "        float allowed = tolerance * scale > 1e-37f ? tolerance * scale : 1e-37f;\n"
    "        float error = st_abs(got[i] - expected[i]);\n"
    "        float ratio = error <= 3.40282347e38f ? error / allowed : 3.40282347e38f; /* NaN, inf: worst */\n"
    "        uint32_t bits = st_bits(got[i]);\n"
    "        int byte;\n"
    "        for (byte = 0; byte < 4; byte++)\n"
    "            w->checksum = (w->checksum ^ ((bits >> (8 * byte)) & 0xffu)) * 16777619u;\n"
    "        if (!(error <= allowed))\n"
    "            w->bad++;\n"
    "        if (ratio > w->ratio || (w->index < 0)) {\n"
    "            w->ratio = ratio;\n"
    "            w->error = error;\n"
    "            w->got = got[i];\n"
    "            w->expected = expected[i];\n"
    "            w->sample = sample;\n"
    "            w->output = output;\n"
    "            w->index = i;\n"
    "        }\n"
    "    }\n"
    "}\n"
    "\n";

/* The comment at the top: what the file checks and how to build it. */
static void write_banner(Mem *m, FILE *out, const Net *net, const SelftestOptions *so, int64_t samples,
                         double tolerance)
{
    fprintf(out, "/* Self-test of network %s, generated by cnnc %s. Do not edit.\n", net->name, CNNC_VERSION);
    fprintf(out, " *\n");
    fprintf(out, " * input:     %s (%lld sample%s)\n", cw_comment_safe(m, so->input), (long long)samples,
            samples == 1 ? "" : "s");
    fprintf(out, " * expected:  %s\n", cw_comment_safe(m, so->expected));
    fprintf(out, " * tolerance: |got - expected| <= %g * max(|expected|, 0.1 * max |expected| of the output)\n",
            tolerance);
    fprintf(out, " *\n");
    fprintf(out, " * Runs %s_run on each golden input, compares every output value and\n", net->name);
    fprintf(out, " * prints the largest error; the last line is PASS or FAIL, and\n");
    fprintf(out, " * %s_selftest() returns 0 or 1 (main() returns it too).\n", net->name);
    fprintf(out, " *\n");
    fprintf(out, " * Text goes out through CNNC_TEST_PUTS: fputs to stdout unless you\n");
    fprintf(out, " * define it to the name of your own void f(const char *s) that writes s\n");
    fprintf(out, " * as is (e.g. -DCNNC_TEST_PUTS=uart_puts); then no stdio is needed.\n");
    fprintf(out, " * Define CNNC_TEST_NO_MAIN to call %s_selftest() from your own main().\n", net->name);
    fprintf(out, " */\n");
}

/* The entry: runs every sample, compares, prints the verdict. */
static void write_selftest(FILE *out, const Net *net, int64_t samples, double tolerance)
{
    const char *n = net->name;
    Shape in = net->input->shape;
    int64_t per_in = in.c * in.h * in.w, per_out = output_floats(net);
    fprintf(out, "int %s_selftest(void)\n{\n", n);
    fprintf(out, "    st_worst w = {0.0f, 0.0f, 0.0f, 0.0f, 0, 0, -1, 0, 2166136261u};\n");
    fprintf(out, "    char line[160], *p;\n");
    fprintf(out, "    int s;\n");
    fprintf(out, "    for (s = 0; s < %lld; s++) {\n", (long long)samples);
    fprintf(out, "        const float *expected = %s_test_expected + (long)s * %lld;\n", n, (long long)per_out);
    fprintf(out, "        %s_run(%s_test_input + (long)s * %lld", n, n, (long long)per_in);
    int64_t at = 0;
    for (int k = 0; k < net->noutputs; k++) {
        Shape s = net->outputs[k]->shape;
        fprintf(out, ", %s_test_output + %lld", n, (long long)at);
        at += s.c * s.h * s.w;
    }
    fprintf(out, ");\n");
    at = 0;
    for (int k = 0; k < net->noutputs; k++) {
        Shape s = net->outputs[k]->shape;
        long long size = (long long)(s.c * s.h * s.w);
        fprintf(out, "        st_compare(%s_test_output + %lld, expected + %lld, %lld, %.9gf, s, %d, &w);\n", n,
                (long long)at, (long long)at, size, tolerance, k);
        fprintf(out, "#ifdef CNNC_TEST_DUMP\n        st_dump(%s_test_output + %lld, %lld, s, %d);\n#endif\n", n,
                (long long)at, size, k);
        at += s.c * s.h * s.w;
    }
    fprintf(out, "    }\n");
    fprintf(out, "    p = st_put(line, \"%s self-test: \");\n", n);
    fprintf(out, "    p = st_put_uint(p, %lldu);\n", (long long)samples);
    fprintf(out, "    st_put(p, \" sample%s, %lld output value%s each\\n\");\n", samples == 1 ? "" : "s",
            (long long)per_out, per_out == 1 ? "" : "s");
    fprintf(out, "    CNNC_TEST_PUTS(line);\n");
    fprintf(out, "    p = st_put(line, \"largest error \");\n");
    fprintf(out, "    p = st_put_float(p, w.error);\n");
    fprintf(out, "    p = st_put(p, \" = \");\n");
    fprintf(out, "    p = st_put_float(p, w.ratio);\n");
    fprintf(out, "    p = st_put(p, \" of the tolerance, at sample \");\n");
    fprintf(out, "    p = st_put_uint(p, (unsigned long)w.sample);\n");
    fprintf(out, "    p = st_put(p, \" output \");\n");
    fprintf(out, "    p = st_put_uint(p, (unsigned long)w.output);\n");
    fprintf(out, "    p = st_put(p, \" [\");\n");
    fprintf(out, "    p = st_put_uint(p, (unsigned long)w.index);\n");
    fprintf(out, "    st_put(p, \"]\\n\");\n");
    fprintf(out, "    CNNC_TEST_PUTS(line);\n");
    fprintf(out, "    if (w.bad) {\n");
    fprintf(out, "        p = st_put(line, \"got \");\n");
    fprintf(out, "        p = st_put_float(p, w.got);\n");
    fprintf(out, "        p = st_put(p, \", expected \");\n");
    fprintf(out, "        p = st_put_float(p, w.expected);\n");
    fprintf(out, "        p = st_put(p, \"; \");\n");
    fprintf(out, "        p = st_put_uint(p, (unsigned long)w.bad);\n");
    fprintf(out, "        st_put(p, \" value(s) outside the tolerance\\n\");\n");
    fprintf(out, "        CNNC_TEST_PUTS(line);\n");
    fprintf(out, "    }\n");
    fprintf(out, "    p = st_put(line, \"checksum \");\n");
    fprintf(out, "    p = st_put_hex(p, w.checksum);\n");
    fprintf(out, "    st_put(p, \"\\n\");\n");
    fprintf(out, "    CNNC_TEST_PUTS(line);\n");
    fprintf(out, "    CNNC_TEST_PUTS(w.bad ? \"FAIL\\n\" : \"PASS\\n\");\n");
    fprintf(out, "    return w.bad ? 1 : 0;\n");
    fprintf(out, "}\n");
}

void st_emit(Mem *m, Diag *d, Net *net, const SelftestOptions *so, const char *header_name, FILE *out)
{
    Floats in, exp;
    bool ok_in = read_floats(m, d, so->input, &in);
    if (!read_floats(m, d, so->expected, &exp) || !ok_in)
        return;
    int64_t samples = count_samples(d, net, so, &in, &exp);
    if (!samples)
        return;
    double tolerance = so->tolerance > 0 ? so->tolerance : ST_DEFAULT_TOLERANCE;
    const char *n = net->name, *up = cw_upper(m, net->name);
    Shape s = net->input->shape;
    int64_t per_in = s.c * s.h * s.w, per_out = output_floats(net);

    write_banner(m, out, net, so, samples, tolerance);
    fprintf(out, "#include <stdint.h>\n\n#include \"%s\"\n\n", header_name);
    fprintf(out, "#ifdef CNNC_TEST_PUTS\nvoid CNNC_TEST_PUTS(const char *s);\n#else\n#include <stdio.h>\n"
                 "#define CNNC_TEST_PUTS(s) fputs((s), stdout)\n#endif\n\n");
    fprintf(out, "/* A header from another version of the model fails here, not at run time. */\n");
    fprintf(out, "typedef char %s_test_matches_header[%s_INPUT_SIZE == %lld", n, up, (long long)per_in);
    for (int k = 0; k < net->noutputs; k++) {
        Shape o = net->outputs[k]->shape;
        fprintf(out, " && %s_OUTPUT%d_SIZE == %lld", up, k, (long long)(o.c * o.h * o.w));
    }
    fprintf(out, " ? 1 : -1];\n\n");
    fprintf(out, "/* golden input%s, CHW, one after another */\n", samples == 1 ? "" : "s");
    write_array(out, mem_printf(m, "static const float %s_test_input", n), in.v, in.n);
    fprintf(out, "\n/* the expected outputs of each sample:");
    for (int k = 0; k < net->noutputs; k++) {
        Shape o = net->outputs[k]->shape;
        fprintf(out, "%s '%s' (%lld)", k ? "," : "", cw_comment_safe(m, net->outputs[k]->name),
                (long long)(o.c * o.h * o.w));
    }
    fprintf(out, " */\n");
    write_array(out, mem_printf(m, "static const float %s_test_expected", n), exp.v, exp.n);
    fprintf(out, "\n/* what the network gives for one sample, outputs one after another */\n");
    fprintf(out, "static float %s_test_output[%lld];\n\n", n, (long long)per_out);
    fputs(st_helpers, out);
    fprintf(out, "int %s_selftest(void);\n\n", n);
    write_selftest(out, net, samples, tolerance);
    fprintf(out, "\n#ifndef CNNC_TEST_NO_MAIN\nint main(void)\n{\n    return %s_selftest();\n}\n#endif\n", n);
}
