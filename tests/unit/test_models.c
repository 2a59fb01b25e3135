/* test_models.c: the reference models of models/ against figures cnnc
 * did not produce. tests/golden/model_totals.txt and model_shapes.txt
 * come from tools/model_figures.py (PyTorch modules: torchvision's own
 * classes, hand-written equivalents of LeNet-5 and the MLPerf Tiny
 * models); LeNet-5's 61,706 / 416,520 are the published figures and its
 * 23,520 B bound is stated in generated-c.md. The golden reports in
 * tests/golden/reports/ pin cnnc's exact text and JSON (regenerate with
 * tests/golden/update.sh and review the diff). */
#include "testutil.h"

#include <glob.h>

static Compiled *compile_model(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "models/%s.net", name);
    char *src = tu_read_file(path, NULL);
    Compiled *c = tu_compile(src);
    free(src); /* the net keeps copies of every name */
    if (c->errors)
        fail_msg("%s:\n%s", path, c->messages);
    return c;
}

/* The lines of a golden figures file (name and one or two figures). */
typedef struct Figures {
    char name[64], a[64], b[64];
} Figures;

static int read_figures(const char *path, Figures *out, int max)
{
    char *text = tu_read_file(path, NULL);
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!*line || *line == '#')
            continue;
        assert_true(n < max);
        out[n].b[0] = '\0';
        if (sscanf(line, "%63s %63s %63s", out[n].name, out[n].a, out[n].b) < 2)
            fail_msg("%s: bad line '%s'", path, line);
        n++;
    }
    free(text);
    return n;
}

static void test_models_totals_match_pytorch(void **state)
{
    (void)state;
    Figures f[32];
    int n = read_figures("tests/golden/model_totals.txt", f, 32);
    assert_true(n >= 9);
    for (int i = 0; i < n; i++) {
        Compiled *c = compile_model(f[i].name);
        long long params = atoll(f[i].a), macs = atoll(f[i].b);
        if (c->net->params != params || c->net->macs != macs)
            fail_msg("%s: cnnc counts %lld params %lld MACs, PyTorch %lld %lld", f[i].name,
                     (long long)c->net->params, (long long)c->net->macs, params, macs);
        /* every parameter is stored as one float unless a batchnorm folds */
        assert_true(c->net->weight_bytes <= 4 * c->net->params);
        tu_free(c);
    }
}

static void test_models_output_shapes_match_pytorch(void **state)
{
    (void)state;
    Figures f[32];
    int n = read_figures("tests/golden/model_shapes.txt", f, 32);
    assert_true(n >= 9);
    for (int i = 0; i < n; i++) {
        Compiled *c = compile_model(f[i].name);
        assert_int_equal(c->net->noutputs, 1);
        Shape s = c->net->outputs[0]->shape;
        char got[96];
        snprintf(got, sizeof got, "%lldx%lldx%lld", (long long)s.c, (long long)s.h, (long long)s.w);
        if (strcmp(got, f[i].a) != 0)
            fail_msg("%s: output %s, PyTorch %s", f[i].name, got, f[i].a);
        tu_free(c);
    }
}

static void test_models_lenet5_published_figures(void **state)
{
    (void)state;
    /* language.md's example: 61,706 parameters and 416,520 MACs as
     * published for LeNet-5 with a full C3; generated-c.md: the
     * layer-by-layer bound is 23,520 B; cli.md: arena 6,304 B */
    Compiled *c = compile_model("lenet5");
    assert_int_equal(c->net->params, 61706);
    assert_int_equal(c->net->macs, 416520);
    assert_int_equal(c->net->weight_bytes, 246824); /* cli.md: weights 246,824 B */
    assert_int_equal(c->net->bound_bytes, 23520);
    assert_int_equal(c->net->arena_bytes, 6304); /* cli.md's example, with fusion */
    assert_int_equal(c->net->nlayers, 14);
    assert_int_equal(c->warnings, 0);
    tu_free(c);
}

static void test_models_digits_figures(void **state)
{
    (void)state;
    /* params: the tensors of models/digits.safetensors (its header, read
     * with Python's json module) minus the running statistics:
     * 16 + 16 + 144 + 32 + 4,608 + 10 + 1,280 = 6,106. MACs by hand:
     * conv1 16*8*8*1*9 = 9,216, conv2 32*4*4*16*9 = 73,728, fc 128*10 =
     * 1,280: 84,224. bn1 folds into the bias-free conv1, which gains a
     * bias: weights (144+16 + 4,640 + 1,290) * 4 = 24,360 B */
    Compiled *c = compile_model("digits");
    assert_int_equal(c->net->params, 6106);
    assert_int_equal(c->net->macs, 84224);
    assert_int_equal(c->net->weight_bytes, 24360);
    assert_ptr_equal(tu_layer(c, "bn1")->fold_into, tu_layer(c, "conv1"));
    Shape s = c->net->outputs[0]->shape;
    assert_int_equal(s.c, 10);
    tu_free(c);
}

static void test_models_compile_cleanly(void **state)
{
    (void)state;
    /* every model compiles; the only warnings are ResNet-8's two
     * downsampling adds, whose Keras 'same' paths are centred apart
     * (3x3 stride 2 pads 0 top/1 bottom: start 1; the 1x1 shortcut: 0) */
    glob_t g;
    assert_int_equal(glob("models/*.net", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 10);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *src = tu_read_file(g.gl_pathv[i], NULL);
        Compiled *c = tu_compile(src);
        assert_int_equal(c->errors, 0);
        int want = strstr(g.gl_pathv[i], "/resnet8.net") ? 2 : 0;
        if (c->warnings != want)
            fail_msg("%s: %d warnings:\n%s", g.gl_pathv[i], c->warnings, c->messages);
        tu_free(c);
        free(src);
    }
    globfree(&g);
}

/* Runs cnnc on one model and compares its stdout with a golden file. */
static void compare_report(const char *net, const char *flag, const char *ext)
{
    char name[128], golden[256], cmd[512];
    const char *base = strrchr(net, '/') + 1;
    snprintf(name, sizeof name, "%.*s", (int)(strlen(base) - 4), base);
    snprintf(golden, sizeof golden, "tests/golden/reports/%s.%s", name, ext);
    char *want = tu_read_file(golden, NULL);
    snprintf(cmd, sizeof cmd, "build/cnnc %s %s 2>/dev/null", flag, net);
    char *got = NULL;
    assert_int_equal(tu_run(cmd, &got), 0);
    if (strcmp(got, want) != 0)
        fail_msg("%s differs from '%s' (run tests/golden/update.sh and review the diff)", golden, cmd);
    free(got);
    free(want);
}

static void test_models_golden_reports(void **state)
{
    (void)state;
    glob_t g;
    assert_int_equal(glob("models/*.net", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        compare_report(g.gl_pathv[i], "--report", "txt");
        compare_report(g.gl_pathv[i], "--report=json", "json");
    }
    globfree(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_totals_match_pytorch),
        cmocka_unit_test(test_models_output_shapes_match_pytorch),
        cmocka_unit_test(test_models_lenet5_published_figures),
        cmocka_unit_test(test_models_digits_figures),
        cmocka_unit_test(test_models_compile_cleanly),
        cmocka_unit_test(test_models_golden_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
