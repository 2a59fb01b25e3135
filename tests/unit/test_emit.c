/* test_emit.c: the C back end as a firmware engineer meets it
 * (docs/generated-c.md): byte-identical output, the banner, the header's
 * macros and prototypes, one commented function per layer, all-or-nothing
 * writes and make dependency files, every --unroll setting giving right
 * numbers, _run_arena within exactly NAME_ARENA_BYTES (under ASan), no
 * heap, stdio or mutable globals, and warning-free builds with clang, for
 * Cortex-M4 and freestanding RISC-V.
 *
 * The cases of tests/ref (model, weights, input, PyTorch's output) are
 * generated once, in the group setup, into build/tests/emit/ref. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#define STRICT "-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror"
#define OUT "build/tests/emit"
#define REF OUT "/ref"
#define MAX_CASES 256

/* One tests/ref case, generated with the default settings. */
typedef struct RefCase {
    char name[64];    /* directory under tests/ref */
    char net[64];     /* network name */
    int noutputs;
    bool unique;      /* first case of its network name: may be linked with the others */
} RefCase;

typedef struct Suite {
    RefCase cases[MAX_CASES];
    int n;
} Suite;

/* ---- helpers ---- */

/* Runs a shell command built like printf; returns its status, output in *out if given. */
static int sh(char **out, const char *fmt, ...) PRINTF(2, 3);
static int sh(char **out, const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    return tu_run(cmd, out);
}

/* Runs a command that must succeed; fails the test with its output otherwise. */
#define must(...)                                                                                                 \
    do {                                                                                                          \
        char *must_out = NULL;                                                                                    \
        int must_status = sh(&must_out, __VA_ARGS__);                                                             \
        if (must_status != 0)                                                                                     \
            fail_msg("status %d:\n%s", must_status, must_out);                                                    \
        free(must_out);                                                                                           \
    } while (0)

/* Writes a small file the test needs (a model, a Makefile). */
static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Whether a compiler is installed: a test of a missing one is skipped,
 * as other compilers are in the sanitized pass (see tu_cross_checks). */
static bool have(const char *tool)
{
    return tu_cross_checks() && sh(NULL, "command -v %s >/dev/null 2>&1", tool) == 0;
}

/* The network name as the header's macros spell it. */
static void upper(char *dst, const char *src, size_t cap)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (char)(src[i] >= 'a' && src[i] <= 'z' ? src[i] - 32 : src[i]);
    dst[i] = '\0';
}

/* Byte for byte. */
static bool file_equal(const char *a, const char *b)
{
    size_t la, lb;
    char *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
    bool same = la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

/* Compiles a model file in-process, for what the generated code should say. */
static Compiled *compile_file(const char *path)
{
    char *src = tu_read_file(path, NULL);
    Compiled *c = tu_compile(src);
    free(src);
    if (c->errors)
        fail_msg("%s:\n%s", path, c->messages);
    return c;
}

/* Sources of the unique ref cases, space separated, for one compiler run. */
static char *case_sources(const Suite *s, const char *dir, bool only_unique)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    for (int i = 0; i < s->n; i++)
        if (s->cases[i].unique || !only_unique)
            fprintf(f, " %s/%s.c", dir, s->cases[i].name);
    fclose(f);
    return buf;
}

/* Compiles each source (space separated) to dir/NAME.o with cc_flags,
 * two compilers at a time; fails with their messages if any fails. */
static void compile_each(const char *cc_flags, const char *dir, const char *sources)
{
    mkdir(dir, 0777);
    must("printf '%%s\\n'%s | xargs -P2 -I{} sh -c '%s -c {} -o %s/$(basename {} .c).o' 2>&1", sources, cc_flags,
         dir);
}

/* ---- the group: every ref case generated once ---- */

/* Cases in name order, so runs are alike. */
static int case_order(const void *a, const void *b)
{
    return strcmp(((const RefCase *)a)->name, ((const RefCase *)b)->name);
}

/* Reads "network NAME" and the number of outputs of a model file. */
static void case_info(RefCase *c)
{
    char path[256];
    snprintf(path, sizeof path, "tests/ref/%s/model.net", c->name);
    Compiled *comp = compile_file(path);
    snprintf(c->net, sizeof c->net, "%s", comp->net->name);
    c->noutputs = comp->net->noutputs;
    tu_free(comp);
}

/* Lists the ref cases and generates each once, two cnnc at a time. */
static int setup(void **state)
{
    Suite *s = calloc(1, sizeof *s);
    DIR *d = opendir("tests/ref");
    if (!s || !d)
        return -1;
    for (struct dirent *ent; (ent = readdir(d)) && s->n < MAX_CASES;) {
        char probe[512];
        struct stat st;
        snprintf(probe, sizeof probe, "tests/ref/%s/expected.bin", ent->d_name);
        if (ent->d_name[0] != '.' && stat(probe, &st) == 0 && strlen(ent->d_name) < 64)
            snprintf(s->cases[s->n++].name, 64, "%s", ent->d_name);
    }
    closedir(d);
    qsort(s->cases, (size_t)s->n, sizeof s->cases[0], case_order);
    mkdir("build", 0777);
    mkdir("build/tests", 0777);
    mkdir(OUT, 0777);
    mkdir(REF, 0777);
    for (int i = 0; i < s->n; i++) {
        case_info(&s->cases[i]);
        s->cases[i].unique = true;
        for (int j = 0; j < i; j++)
            if (!strcmp(s->cases[j].net, s->cases[i].net))
                s->cases[i].unique = false;
    }
    char *log = NULL;
    int status = tu_run("ls tests/ref | while read n; do [ -f tests/ref/$n/expected.bin ] && echo $n; done | "
                        "xargs -P2 -I{} sh -c 'build/cnnc tests/ref/{}/model.net -w tests/ref/{}/weights.safetensors "
                        "-o " REF "/{}.c || echo FAILED {}' 2>&1",
                        &log);
    if (status != 0 || strstr(log, "FAILED")) {
        fprintf(stderr, "cannot generate the ref cases:\n%s\n", log);
        free(log);
        return -1;
    }
    free(log);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* ---- determinism and the banner ---- */

/* Same inputs, byte-identical .c and .h: firmware builds must be reproducible. */
static void test_emit_deterministic(void **state)
{
    (void)state;
    static const char *const runs[][2] = {
        {"tests/ref/mixed_inception/model.net", "-w tests/ref/mixed_inception/weights.safetensors"},
        {"models/resnet8.net", "--init=random:5"},
        {"models/dscnn.net", "--init=random:7 --unroll=full"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        must("build/cnnc %s %s -o " OUT "/det.c 2>&1 && cp " OUT "/det.c " OUT "/det1.c && cp " OUT "/det.h " OUT
             "/det1.h && build/cnnc %s %s -o " OUT "/det.c 2>&1",
             runs[i][0], runs[i][1], runs[i][0], runs[i][1]);
        assert_true(file_equal(OUT "/det.c", OUT "/det1.c"));
        assert_true(file_equal(OUT "/det.h", OUT "/det1.h"));
    }
}

/* The banner comment before any code: version, command, source, weights, the report. */
static void test_emit_banner(void **state)
{
    (void)state;
    must("build/cnnc models/lenet5.net --init=random:1 -o " OUT "/banner.c 2>&1");
    char *c = tu_read_file(OUT "/banner.c", NULL);
    char *end = strstr(c, "*/");
    assert_non_null(end);
    assert_true(end < strstr(c, "#include"));
    *end = '\0'; /* c is now the banner only */
    assert_int_equal(strncmp(c, "/* Generated by cnnc " CNNC_VERSION, strlen("/* Generated by cnnc " CNNC_VERSION)),
                     0);
    assert_non_null(strstr(c, " * command: build/cnnc models/lenet5.net --init=random:1 -o " OUT "/banner.c\n"));
    assert_non_null(strstr(c, " * source:  models/lenet5.net (network lenet5)\n"));
    assert_non_null(strstr(c, "--init=random:1: placeholder values, not trained weights"));
    /* the report, line for line */
    char *report = NULL;
    assert_int_equal(sh(&report, "build/cnnc models/lenet5.net --report"), 0);
    int lines = 0;
    for (char *line = strtok(report, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        /* the report's last lines weigh other options (--no-fuse,
         * --unroll): they belong to the command line, not the file */
        if (strncmp(line, "fusion ", 7) == 0 || strncmp(line, "unroll ", 7) == 0)
            continue;
        char want[512];
        snprintf(want, sizeof want, " * %s\n", line);
        if (!strstr(c, want))
            fail_msg("the banner lacks the report line '%s':\n%s", line, c);
    }
    assert_true(lines >= 16);
    assert_non_null(strstr(c, " * arena "));
    free(report);
    free(c);

    must("build/cnnc tests/ref/conv_basic/model.net -w tests/ref/conv_basic/weights.safetensors -o " OUT
         "/banner2.c 2>&1");
    c = tu_read_file(OUT "/banner2.c", NULL);
    assert_non_null(strstr(c, " * weights: tests/ref/conv_basic/weights.safetensors\n"));
    assert_null(strstr(c, "placeholder"));
    free(c);
}

/* ---- the header ---- */

/* A translation unit that checks macro values at compile time and the
 * prototypes' exact types through function pointers (-Werror). */
static void check_header(const char *header_dir, const char *header, const char *checks)
{
    char path[256];
    snprintf(path, sizeof path, OUT "/check_%s", header);
    char *p = strrchr(path, '.');
    strcpy(p, ".c");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#include \"%s\"\n#include \"%s\" /* the guard allows twice */\n\n%s\n", header, header, checks);
    fclose(f);
    must("cc " STRICT " -I%s -c %s -o " OUT "/check.o 2>&1", header_dir, path);
    if (have("g++"))
        must("g++ -Wall -Wextra -Werror -fsyntax-only -x c++ -I%s %s 2>&1", header_dir, path);
}

static void test_emit_header_one_output(void **state)
{
    (void)state;
    must("build/cnnc models/lenet5.net --init=zeros -o " OUT "/lenet.c 2>&1");
    Compiled *c = compile_file("models/lenet5.net");
    char checks[2048];
    snprintf(checks, sizeof checks,
             "#define CHECK(name, cond) typedef char name[(cond) ? 1 : -1]\n"
             "CHECK(in_c, LENET5_INPUT_C == 1);\nCHECK(in_h, LENET5_INPUT_H == 32);\n"
             "CHECK(in_w, LENET5_INPUT_W == 32);\nCHECK(in_size, LENET5_INPUT_SIZE == 1024);\n"
             "CHECK(out_size, LENET5_OUTPUT_SIZE == 10);\nCHECK(out_c, LENET5_OUTPUT_C == 10);\n"
             "CHECK(out_hw, LENET5_OUTPUT_H == 1 && LENET5_OUTPUT_W == 1);\n"
             "CHECK(arena, LENET5_ARENA_BYTES == %lld);\n"
             "void (*run)(const float *, float *) = lenet5_run;\n"
             "void (*run_arena)(const float *, float *, void *) = lenet5_run_arena;\n",
             (long long)c->net->arena_bytes);
    check_header(OUT, "lenet.h", checks);
    char *h = tu_read_file(OUT "/lenet.h", NULL);
    assert_non_null(strstr(h, "void lenet5_run(const float *input, float *output);"));
    assert_non_null(strstr(h, "void lenet5_run_arena(const float *input, float *output, void *arena);"));
    free(h);
    tu_free(c);
}

/* output c a: one pointer per output, in the order the model names them. */
static void test_emit_header_several_outputs(void **state)
{
    (void)state;
    must("build/cnnc tests/ref/outputs_order/model.net --init=zeros -o " OUT "/order.c 2>&1");
    const char *checks = "#define CHECK(name, cond) typedef char name[(cond) ? 1 : -1]\n"
                         "CHECK(o0, OUTPUTS_ORDER_OUTPUT0_C == 2 && OUTPUTS_ORDER_OUTPUT0_SIZE == 50);\n"
                         "CHECK(o1, OUTPUTS_ORDER_OUTPUT1_C == 3 && OUTPUTS_ORDER_OUTPUT1_H == 3 && "
                         "OUTPUTS_ORDER_OUTPUT1_SIZE == 27);\n"
                         "CHECK(in, OUTPUTS_ORDER_INPUT_SIZE == 50);\n"
                         "void (*run)(const float *, float *, float *) = outputs_order_run;\n"
                         "void (*run_arena)(const float *, float *, float *, void *) = outputs_order_run_arena;\n";
    check_header(OUT, "order.h", checks);
    char *h = tu_read_file(OUT "/order.h", NULL);
    assert_non_null(strstr(h, "void outputs_order_run(const float *input, float *output0, float *output1);"));
    free(h);
}

/* ---- the code ---- */

/* Each layer's static function is headed by a comment naming its layer
 * and file:line, its helpers by one naming the layer; every layer that
 * computes anything is named by a layer function's heading. */
static void test_emit_layer_functions(void **state)
{
    const Suite *s = *state;
    int checked = 0;
    for (int i = 0; i < s->n; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/ref/%s/model.net", s->cases[i].name);
        Compiled *comp = compile_file(path);
        snprintf(path, sizeof path, REF "/%s.c", s->cases[i].name);
        char *code = tu_read_file(path, NULL);
        char *heads = NULL; /* every function's heading comment */
        size_t hlen = 0;
        FILE *hf = open_memstream(&heads, &hlen);
        int functions = 0;
        for (char *fn = code; (fn = strstr(fn, "\nstatic void ")); fn++) {
            char *prev = fn - 1;
            while (prev > code && *prev != '\n')
                prev--;
            char comment[512];
            snprintf(comment, sizeof comment, "%.*s", (int)(fn - prev), prev);
            if (!strstr(comment, "/*") || !strstr(comment, "*/"))
                fail_msg("%s: function without a heading comment:%.80s", path, fn);
            /* "NAME: op ..., FILE:LINE" */
            char name[128];
            assert_int_equal(sscanf(comment, "\n/* %127[^:]:", name), 1);
            Layer *l = ir_find(comp->net, name);
            if (!l)
                fail_msg("%s: heading names no layer: %s", path, comment);
            if (strncmp(fn, "\nstatic void layer_", 19) != 0)
                continue; /* a helper of that layer's function (a border kernel...) */
            char where[320];
            snprintf(where, sizeof where, "tests/ref/%s/model.net:%d", s->cases[i].name, l->loc.line);
            if (!strstr(comment, where))
                fail_msg("%s: heading lacks %s: %s", path, where, comment);
            fputs(comment, hf);
            functions++;
        }
        fclose(hf);
        assert_true(functions > 0);
        for (int k = 1; k < comp->net->nlayers; k++) {
            const Layer *l = comp->net->layers[k];
            if (l->op == OP_FLATTEN || l->op == OP_DROPOUT)
                continue; /* no code: a view of their input */
            char word[140];
            bool found = false;
            for (const char *sep = " :,;"; *sep && !found; sep++) {
                snprintf(word, sizeof word, " %s%c", l->name, *sep);
                found = strstr(heads, word) != NULL;
            }
            if (!found)
                fail_msg("%s: layer '%s' is named by no function heading:\n%s", path, l->name, heads);
        }
        free(heads);
        free(code);
        tu_free(comp);
        checked++;
    }
    assert_true(checked > 50);
}

/* Nothing from the hosted C library in the source (the objects are
 * checked in the Cortex-M4 and RISC-V tests below). */
static void test_emit_no_heap_no_stdio(void **state)
{
    const Suite *s = *state;
    char *sources = case_sources(s, REF, false);
    char *listing = NULL;
    int status = sh(&listing, "grep -n -E '\\<(malloc|calloc|realloc|free|printf|fprintf|puts|fputs|putchar|FILE|stdio)\\>|#include <'%s "
                              REF "/*.h",
                    sources);
    if (status != 1) /* grep: 1 when nothing matched */
        fail_msg("forbidden in generated code:\n%s", listing);
    free(listing);
    free(sources);
}

/* ---- writing files ---- */

/* A failed run leaves the previous good output alone and no temporary
 * files behind. */
static void test_emit_atomic_on_failure(void **state)
{
    (void)state;
    mkdir(OUT "/atomic", 0777);
    write_text(OUT "/bad.net", "network m\ninput x 1x4x4\nconv2d c out=2\n"); /* no kernel */
    must("rm -f " OUT "/atomic/* && build/cnnc tests/ref/conv_basic/model.net -w "
         "tests/ref/conv_basic/weights.safetensors -o " OUT "/atomic/m.c -MD 2>&1 && cp " OUT "/atomic/m.c " OUT
         "/good.c && cp " OUT "/atomic/m.h " OUT "/good.h && cp " OUT "/atomic/m.d " OUT "/good.d");
    const char *bad[] = {
        /* weights that do not fit the model */
        "build/cnnc tests/ref/conv_basic/model.net -w tests/ref/linear_flatten/weights.safetensors",
        /* a damaged weights file */
        "build/cnnc tests/ref/conv_basic/model.net -w tests/ref/conv_basic/model.net",
        /* a model with errors */
        "build/cnnc " OUT "/bad.net --init=zeros",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        int status = sh(&out, "%s -o " OUT "/atomic/m.c -MD 2>&1", bad[i]);
        if (status != 1)
            fail_msg("'%s' gave status %d:\n%s", bad[i], status, out);
        free(out);
        assert_true(file_equal(OUT "/atomic/m.c", OUT "/good.c"));
        assert_true(file_equal(OUT "/atomic/m.h", OUT "/good.h"));
        assert_true(file_equal(OUT "/atomic/m.d", OUT "/good.d"));
        char *listing = NULL;
        sh(&listing, "ls " OUT "/atomic");
        assert_string_equal(listing, "m.c\nm.d\nm.h\n");
        free(listing);
    }
    /* an output directory that does not exist: an error naming it, nothing written */
    char *out = NULL;
    assert_int_equal(sh(&out, "build/cnnc models/lenet5.net --init=zeros -o " OUT "/nowhere/m.c 2>&1"), 1);
    assert_non_null(strstr(out, OUT "/nowhere/m.c: error: cannot write"));
    free(out);
    assert_false(exists(OUT "/nowhere"));
}

/* -MD and -MF: outputs depend on the model and the weights, each of which
 * gets an empty rule (gcc -MP), make's special characters escaped. */
static void test_emit_depfile(void **state)
{
    (void)state;
    mkdir(OUT "/deps", 0777);
    must("build/cnnc tests/ref/conv_basic/model.net -w tests/ref/conv_basic/weights.safetensors -o " OUT
         "/deps/m.c -MD 2>&1");
    char *d = tu_read_file(OUT "/deps/m.d", NULL);
    assert_string_equal(d, OUT "/deps/m.c " OUT "/deps/m.h: tests/ref/conv_basic/model.net "
                               "tests/ref/conv_basic/weights.safetensors\n\ntests/ref/conv_basic/model.net:\n\n"
                               "tests/ref/conv_basic/weights.safetensors:\n");
    free(d);

    must("build/cnnc models/lenet5.net --init=zeros -o " OUT "/deps/l.c -MF " OUT "/deps/custom.dep 2>&1");
    assert_false(exists(OUT "/deps/l.d"));
    d = tu_read_file(OUT "/deps/custom.dep", NULL);
    assert_string_equal(d, OUT "/deps/l.c " OUT "/deps/l.h: models/lenet5.net\n\nmodels/lenet5.net:\n");
    free(d);

    /* spaces, # and $ in names */
    must("mkdir -p '" OUT "/deps/a b' && cp models/lenet5.net '" OUT "/deps/a b/n#1$.net' && build/cnnc '" OUT
         "/deps/a b/n#1$.net' --init=zeros -o '" OUT "/deps/a b/o.c' -MD 2>&1");
    d = tu_read_file(OUT "/deps/a b/o.d", NULL);
    assert_string_equal(d, OUT "/deps/a\\ b/o.c " OUT "/deps/a\\ b/o.h: " OUT "/deps/a\\ b/n\\#1$$.net\n\n" OUT
                               "/deps/a\\ b/n\\#1$$.net:\n");
    free(d);
    /* and make reads it as meant */
    write_text(OUT "/deps/Makefile", "include a\\ b/o.d\nall:\n\t@echo ok\n");
    must("make -s -C " OUT "/deps -f Makefile all 2>&1");
}

/* ---- generated code that runs ---- */

/* A harness that runs each listed case on its input and compares with
 * PyTorch's output (test_e2e.c's tolerance). */
static void write_ref_harness(const char *path, const Suite *s, const char *const *names, int n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#include <math.h>\n#include <stdio.h>\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "#include \"%s.h\"\n", names[i]);
    fprintf(f, "\nstatic int compare(const char *name, const float *got, FILE *ex, int n)\n{\n"
               "    static float want[1 << 20];\n    double peak = 0, w = 0;\n"
               "    if (fread(want, sizeof *want, (size_t)n, ex) != (size_t)n) {\n"
               "        printf(\"%%s: short expected.bin\\n\", name);\n        return 1;\n    }\n"
               "    for (int i = 0; i < n; i++)\n        peak = fabs(want[i]) > peak ? fabs(want[i]) : peak;\n"
               "    for (int i = 0; i < n; i++) {\n"
               "        double scale = fabs(want[i]) > 0.1 * peak ? fabs(want[i]) : 0.1 * peak;\n"
               "        double allowed = 1e-5 * scale > 1e-38 ? 1e-5 * scale : 1e-38;\n"
               "        double r = isfinite(got[i]) ? fabs((double)got[i] - want[i]) / allowed : INFINITY;\n"
               "        w = r > w || r != r ? r : w;\n    }\n"
               "    if (w <= 1.0)\n        return 0;\n"
               "    printf(\"%%s: %%.3g of the tolerance\\n\", name, w);\n    return 1;\n}\n\n"
               "static FILE *open_case(const char *name, const char *file)\n{\n    char path[256];\n"
               "    snprintf(path, sizeof path, \"tests/ref/%%s/%%s\", name, file);\n"
               "    return fopen(path, \"rb\");\n}\n\nint main(void)\n{\n    int bad = 0;\n");
    for (int i = 0; i < n; i++) {
        const RefCase *c = NULL;
        for (int k = 0; k < s->n; k++)
            if (!strcmp(s->cases[k].name, names[i]))
                c = &s->cases[k];
        assert_non_null(c);
        char up[64];
        upper(up, c->net, sizeof up);
        fprintf(f, "    {\n        static float in[%s_INPUT_SIZE]", up);
        for (int k = 0; k < c->noutputs; k++)
            fprintf(f, ", out%d[%s_OUTPUT%d_SIZE]", k, up, k);
        fprintf(f, ";\n        FILE *fi = open_case(\"%s\", \"input.bin\"), *fe = open_case(\"%s\", \"expected.bin\");\n",
                c->name, c->name);
        fprintf(f, "        if (!fi || !fe || fread(in, sizeof *in, %s_INPUT_SIZE, fi) != %s_INPUT_SIZE)\n"
                   "            return 2;\n        %s_run(in", up, up, c->net);
        for (int k = 0; k < c->noutputs; k++)
            fprintf(f, ", out%d", k);
        fprintf(f, ");\n");
        for (int k = 0; k < c->noutputs; k++)
            fprintf(f, "        bad += compare(\"%s\", out%d, fe, %s_OUTPUT%d_SIZE);\n", c->name, k, up, k);
        fprintf(f, "        fclose(fi);\n        fclose(fe);\n    }\n");
    }
    fprintf(f, "    printf(\"%%d bad\\n\", bad);\n    return bad != 0;\n}\n");
    fclose(f);
}

/* --unroll=none, a budget, full and the default all give PyTorch's
 * numbers; none and full give different code. */
static void test_emit_unroll_modes(void **state)
{
    const Suite *s = *state;
    static const char *const names[] = {
        "conv_dilation",      "conv_mode_reflect_asym", "conv_mode_circular_asym", "conv_groups",
        "conv_stride_rect",   "conv_same_s3_dil",       "conv_kernel_full",        "pool_max_ceil_dilation",
        "pool_avg_pad_asym",  "pool_avg_ceil_excl",     "pool_min_pad",            "mixed_inception",
        "lenet5",             "conv_depthwise_mult",    "residual_block",          "conv_pad_asym",
    };
    int n = (int)(sizeof names / sizeof names[0]);
    static const char *const modes[] = {"none", "7", "40", "full"};
    for (int m = 0; m < 4; m++) {
        char dir[128];
        snprintf(dir, sizeof dir, OUT "/unroll_%s", modes[m]);
        mkdir(dir, 0777);
        char sources[4096] = "";
        for (int i = 0; i < n; i++) {
            must("build/cnnc tests/ref/%s/model.net -w tests/ref/%s/weights.safetensors --unroll=%s -o %s/%s.c 2>&1",
                 names[i], names[i], modes[m], dir, names[i]);
            size_t len = strlen(sources);
            snprintf(sources + len, sizeof sources - len, " %s/%s.c", dir, names[i]);
        }
        char harness[160];
        snprintf(harness, sizeof harness, "%s/harness.c", dir);
        write_ref_harness(harness, s, names, n);
        must("cc " STRICT " -O1 -Iruntime -I%s %s%s runtime/cnnc_rt.c -lm -o %s/run 2>&1 && %s/run", dir, harness,
             sources, dir, dir);
    }
    char *none = tu_read_file(OUT "/unroll_none/conv_dilation.c", NULL);
    char *full = tu_read_file(OUT "/unroll_full/conv_dilation.c", NULL);
    assert_true(strlen(full) > strlen(none));
    free(none);
    free(full);
    char *out = NULL;
    assert_int_equal(sh(&out, "build/cnnc models/lenet5.net --init=zeros -o " OUT "/u.c --unroll=some 2>&1"), 2);
    free(out);
}

/* _run_arena with exactly NAME_ARENA_BYTES (at 4-byte but not 8-byte
 * alignment, ending where the allocation ends, filled with NaN) gives
 * _run's output bit for bit, and ASan sees no access beyond it, nor
 * beyond the input or outputs. Every ref case, one program. */
static void test_emit_arena_exact(void **state)
{
    const Suite *s = *state;
    FILE *f = fopen(OUT "/arena.c", "w");
    assert_non_null(f);
    fprintf(f, "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n");
    for (int i = 0; i < s->n; i++)
        if (s->cases[i].unique)
            fprintf(f, "#include \"%s.h\"\n", s->cases[i].name);
    fprintf(f, "\n/* n floats exactly, so ASan catches any access past them. */\n"
               "static float *block(size_t n)\n{\n    float *p = malloc(n * sizeof *p);\n"
               "    if (!p)\n        abort();\n    memset(p, 0xff, n * sizeof *p);\n    return p;\n}\n\n"
               "static float *load_input(const char *name, size_t n)\n{\n    char path[256];\n"
               "    float *p = block(n);\n"
               "    snprintf(path, sizeof path, \"tests/ref/%%s/input.bin\", name);\n"
               "    FILE *f = fopen(path, \"rb\");\n    if (!f || fread(p, sizeof *p, n, f) != n)\n        abort();\n"
               "    fclose(f);\n    return p;\n}\n\n"
               "/* The arena at the end of its allocation, 4 bytes past an 8-byte boundary. */\n"
               "static void *make_arena(size_t bytes, char **base)\n{\n"
               "    *base = malloc(bytes + 4);\n    if (!*base)\n        abort();\n"
               "    memset(*base, 0xff, bytes + 4);\n    return *base + 4;\n}\n\n"
               "int main(void)\n{\n    int bad = 0;\n    char *base;\n");
    for (int i = 0; i < s->n; i++) {
        const RefCase *c = &s->cases[i];
        if (!c->unique)
            continue;
        char up[64];
        upper(up, c->net, sizeof up);
        fprintf(f, "    {\n        float *in = load_input(\"%s\", %s_INPUT_SIZE);\n", c->name, up);
        for (int k = 0; k < c->noutputs; k++)
            fprintf(f, "        float *a%d = block(%s_OUTPUT%d_SIZE), *b%d = block(%s_OUTPUT%d_SIZE);\n", k, up, k, k,
                    up, k);
        fprintf(f, "        void *ar = make_arena(%s_ARENA_BYTES, &base);\n        %s_run(in", up, c->net);
        for (int k = 0; k < c->noutputs; k++)
            fprintf(f, ", a%d", k);
        fprintf(f, ");\n        %s_run_arena(in", c->net);
        for (int k = 0; k < c->noutputs; k++)
            fprintf(f, ", b%d", k);
        fprintf(f, ", ar);\n");
        for (int k = 0; k < c->noutputs; k++) {
            fprintf(f, "        if (memcmp(a%d, b%d, %s_OUTPUT%d_SIZE * sizeof(float))) {\n", k, k, up, k);
            fprintf(f, "            printf(\"%s: output %d differs\\n\");\n            bad++;\n        }\n", c->name, k);
            fprintf(f, "        free(a%d);\n        free(b%d);\n", k, k);
        }
        fprintf(f, "        free(in);\n        free(base);\n    }\n");
    }
    fprintf(f, "    printf(\"%%d differ\\n\", bad);\n    return bad != 0;\n}\n");
    fclose(f);
    /* -O0: ASan sees every access as written, and builds the unrolled
     * kernels several times faster */
    char *sources = case_sources(s, REF, true), all[16384];
    snprintf(all, sizeof all, "%s " OUT "/arena.c runtime/cnnc_rt.c", sources);
    must("rm -rf " OUT "/asan");
    compile_each("cc -std=c99 -O0 -fsanitize=address -Iruntime -I" REF, OUT "/asan", all);
    /* without LD_PRELOAD (stdbuf, for one, sets it): ASan must load first */
    must("cc -fsanitize=address " OUT "/asan/*.o -lm -o " OUT "/arena 2>&1 && env -u LD_PRELOAD " OUT "/arena 2>&1");
    free(sources);
}

/* ---- other compilers and targets ---- */

/* clang, with the strict flags, on every ref case and the runtime. */
static void test_emit_clang_clean(void **state)
{
    const Suite *s = *state;
    if (!have("clang"))
        skip();
    /* clang's warnings come from its front end: no need to generate code */
    char *sources = case_sources(s, REF, false);
    must("clang " STRICT " -O2 -Iruntime -I" REF " -fsyntax-only%s runtime/cnnc_rt.c 2>&1", sources);
    free(sources);
}

/* --tune=host (loops for a vectorizing host compiler): every ref case
 * generated that way is warning free under clang's strict flags too (gcc
 * builds and runs them all in test_e2e), and asking for an unknown
 * tuning is a usage error. */
static void test_emit_host_tune_clean(void **state)
{
    (void)state;
    mkdir(OUT "/host", 0777);
    must("ls tests/ref | while read n; do [ -f tests/ref/$n/expected.bin ] && echo $n; done | "
         "xargs -P2 -I{} sh -c 'build/cnnc tests/ref/{}/model.net -w tests/ref/{}/weights.safetensors --tune=host "
         "-o " OUT "/host/{}.c 2>/dev/null || echo FAILED {}' | grep -c FAILED | grep -qx 0");
    if (have("clang"))
        must("clang " STRICT " -O3 -Iruntime -I" OUT "/host -fsyntax-only " OUT "/host/*.c 2>&1");
    char *log = NULL;
    int status = sh(&log, "build/cnnc --tune=fast models/resnet8.net --check 2>&1");
    assert_int_equal(status, 2);
    assert_non_null(strstr(log, "unknown --tune value 'fast'"));
    free(log);
}

/* Zero-padded convs reducing into a pool (digits): --tune=host runs them
 * as vectorized strips over a padded copy of the band's input rows, not
 * the clipped-loop fallback; the mcu kernel loads their pool windows'
 * inputs without VLDM (runs of 3 on separate rows: pinned registers cost
 * more moves than they save), their weights still with one. */
static void test_emit_padded_pool_kernels(void **state)
{
    (void)state;
    char *log = NULL;
    must("build/cnnc tests/ref/digits/model.net -w tests/ref/digits/weights.safetensors --tune=host -o " OUT
         "/digits_host.c 2>&1");
    assert_int_equal(sh(&log, "grep -c 'float xp\\[' " OUT "/digits_host.c"), 0);
    assert_string_equal(log, "2\n");
    free(log);
    assert_int_not_equal(sh(NULL, "grep -q 'float acc\\[[0-9]*\\]\\[' " OUT "/digits_host.c"), 0);
    must("build/cnnc tests/ref/digits/model.net -w tests/ref/digits/weights.safetensors -o " OUT
         "/digits_mcu.c 2>&1");
    assert_int_not_equal(sh(NULL, "grep -q 'CNNC_LD[0-9](xq' " OUT "/digits_mcu.c"), 0);
    must("grep -q 'CNNC_LD[0-9](wq' " OUT "/digits_mcu.c");
}

/* The reference MCU, Cortex-M4 with its single-precision FPU: warning
 * free, and the objects hold no writable data but the arena and call
 * nothing but the runtime. */
static void test_emit_cortex_m4_clean(void **state)
{
    const Suite *s = *state;
    if (!have("arm-none-eabi-gcc"))
        skip();
    char *sources = case_sources(s, REF, false);
    compile_each("arm-none-eabi-gcc " STRICT " -O2 -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 "
                 "-Iruntime -I" REF,
                 OUT "/m4", sources);
    compile_each("arm-none-eabi-gcc " STRICT " -O2 -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16",
                 OUT "/m4", " runtime/cnnc_rt.c");
    /* no state but the arena: code, constants, and one arena per model */
    char *syms = NULL;
    int status = sh(&syms, "arm-none-eabi-nm " OUT "/m4/*.o | grep -v -E ' [TtRrU] |^$|\\.o:$| b [a-z0-9_]+_arena$'");
    if (status != 1)
        fail_msg("writable data besides the arena:\n%s", syms);
    free(syms);
    /* calls only into the runtime, and the copies gcc may turn loops into */
    status = sh(&syms, "arm-none-eabi-nm -u " OUT "/m4/*.o | grep -v -E ' U (cnnc_|memcpy$|memmove$|memset$)|^$|\\.o:$'");
    if (status != 1)
        fail_msg("generated code calls outside the runtime:\n%s", syms);
    free(syms);
    free(sources);
}

/* Freestanding RISC-V without libc or libm: generated code needs only the
 * runtime, and the runtime needs nothing. */
static void test_emit_riscv_freestanding(void **state)
{
    const Suite *s = *state;
    if (!have("riscv64-unknown-elf-gcc"))
        skip();
    char *sources = case_sources(s, REF, false), all[16384];
    snprintf(all, sizeof all, "%s runtime/cnnc_rt.c", sources);
    compile_each("riscv64-unknown-elf-gcc " STRICT " -O2 -ffreestanding -nostdlib -Iruntime -I" REF, OUT "/rv", all);
    char *syms = NULL;
    int status = sh(&syms, "riscv64-unknown-elf-nm -u " OUT "/rv/*.o | grep -v -E ' U cnnc_|^$|\\.o:$'");
    if (status != 1)
        fail_msg("generated code needs more than the runtime:\n%s", syms);
    free(syms);
    status = sh(&syms, "riscv64-unknown-elf-nm -u " OUT "/rv/cnnc_rt.o");
    assert_int_equal(status, 0);
    if (strstr(syms, " U "))
        fail_msg("the runtime needs:\n%s", syms);
    free(syms);
    free(sources);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emit_deterministic),
        cmocka_unit_test(test_emit_banner),
        cmocka_unit_test(test_emit_header_one_output),
        cmocka_unit_test(test_emit_header_several_outputs),
        cmocka_unit_test(test_emit_layer_functions),
        cmocka_unit_test(test_emit_no_heap_no_stdio),
        cmocka_unit_test(test_emit_atomic_on_failure),
        cmocka_unit_test(test_emit_depfile),
        cmocka_unit_test(test_emit_unroll_modes),
        cmocka_unit_test(test_emit_arena_exact),
        cmocka_unit_test(test_emit_clang_clean),
        cmocka_unit_test(test_emit_host_tune_clean),
        cmocka_unit_test(test_emit_padded_pool_kernels),
        cmocka_unit_test(test_emit_cortex_m4_clean),
        cmocka_unit_test(test_emit_riscv_freestanding),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
