/* test_export.c: tools/cnnc_export.py, from PyTorch to .net and safetensors.
 * Each test runs the exporter as users do, then cnnc on what it wrote. The
 * small models (tests/export/models.py) are compiled to C, which must give
 * PyTorch's outputs within the e2e tolerance,
 *   |got - exp| <= 1e-5 * max(|exp|, 0.1 * max|exp over the output|);
 * torchvision's must count sum(p.numel()) parameters and hold the
 * state_dict's tensors. tests/export/check.py computes what PyTorch says,
 * apart from the exporter. PyTorch is optional: without it at
 * /usr/bin/python3 (or without torchvision) the tests are skipped. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>

/* Debian's python3-torch lives there; another interpreter may be tried
 * with -DEXPORT_PYTHON='"..."'. */
#ifndef EXPORT_PYTHON
#define EXPORT_PYTHON "/usr/bin/python3"
#endif
#define PY EXPORT_PYTHON
/* No __pycache__ left in tests/export. */
#define RUNPY "PYTHONDONTWRITEBYTECODE=1 " PY
#define EXPORT RUNPY " tools/cnnc_export.py"
#define CHECK RUNPY " tests/export/check.py"
#define OUT "build/export"
#define REF OUT "/ref"
#define STRICT "-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror"

/* What the machine has, found once for the whole suite. */
typedef struct Env {
    bool torch, torchvision;
    char where[3][512]; /* FILE:LINE of nn.Softplus, models.MyBlock, nn.LSTM */
} Env;

/* Runs cmd (stderr joined to stdout); fails the test with the output
 * unless it exits with want. The output is the caller's to free. */
static char *run_expect(const char *cmd, int want)
{
    char full[4096], *out = NULL;
    snprintf(full, sizeof full, "(%s) 2>&1", cmd);
    int status = tu_run(full, &out);
    if (status != want)
        fail_msg("exit status %d, not %d, from\n  %s\n%s", status, want, cmd, out ? out : "");
    return out;
}

/* Skips the test, saying why, when PyTorch (or torchvision) is absent. */
static const Env *need(void **state, bool torchvision)
{
    const Env *env = *state;
    if (!env->torch || (torchvision && !env->torchvision)) {
        print_message("skipped: no %s at " PY "\n", env->torch ? "torchvision" : "PyTorch");
        skip();
    }
    return env;
}

/* Byte-for-byte equality of two files. */
static bool same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    bool same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* cnnc compiles DIR/NAME.net with its weights, gcc builds it with the
 * strict flags, and it must reproduce PyTorch's outputs for the case. */
static void expect_pytorch_outputs(const char *dir, const char *name, int noutputs, const char *ref)
{
    char path[512], header[300], cmd[4096];
    snprintf(path, sizeof path, "%s/harness.c", dir);
    snprintf(header, sizeof header, "%s.h", name);
    tu_write_harness(path, header, name, noutputs);
    snprintf(cmd, sizeof cmd,
             "build/cnnc %s/%s.net -w %s/%s.safetensors -o %s/%s.c && "
             "cc " STRICT " -O1 -Iruntime -I%s %s/harness.c %s/%s.c runtime/cnnc_rt.c -lm -o %s/run && "
             "%s/run %s/input.bin %s/expected.bin",
             dir, name, dir, name, dir, name, dir, dir, dir, name, dir, dir, ref, ref);
    char *log = run_expect(cmd, 0);
    print_message("%s", log);
    free(log);
}

/* The source of an exported model. */
static char *read_net(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.net", dir, name);
    return tu_read_file(path, NULL);
}

static void test_export_mnist_checkpoint_matches_pytorch(void **state)
{
    need(state, false);
    /* A whole module saved with torch.save(model); its class must import. */
    free(run_expect("rm -rf " OUT "/mnist && PYTHONPATH=tests/export " EXPORT " " REF "/mnist/model.pt 1x28x28 "
                    "--name mnist -o " OUT "/mnist",
                    0));
    char *net = read_net(OUT "/mnist", "mnist");
    /* One chain: no from=, no output line; view(x.size(0), -1) is flatten. */
    assert_non_null(strstr(net, "network mnist\n"));
    assert_non_null(strstr(net, "\ninput "));
    assert_non_null(strstr(net, "\nflatten "));
    assert_null(strstr(net, "from="));
    assert_null(strstr(net, "\noutput"));
    free(net);
    expect_pytorch_outputs(OUT "/mnist", "mnist", 1, REF "/mnist");
}

static void test_export_digits_equals_trained_model(void **state)
{
    need(state, false);
    /* tools/train_digits.py's class with models/digits.safetensors loaded:
     * the same model as models/digits.net, the same bytes of weights. */
    free(run_expect("rm -rf " OUT "/digits && " EXPORT " tests/export/models.py:Digits 1x8x8 "
                    "-w models/digits.safetensors -o " OUT "/digits",
                    0));
    free(run_expect(CHECK " same-net " OUT "/digits/digits.net models/digits.net", 0));
    assert_true(same_file(OUT "/digits/digits.safetensors", "models/digits.safetensors"));
    expect_pytorch_outputs(OUT "/digits", "digits", 1, REF "/digits");
}

static void test_export_functional_residual_concat_matches_pytorch(void **state)
{
    need(state, false);
    /* A state_dict and the class it belongs to. */
    free(run_expect("rm -rf " OUT "/mixed && " EXPORT " tests/export/models.py:Mixed 3x12x12 "
                    "-w " REF "/mixed/state.pt --name mixed -o " OUT "/mixed",
                    0));
    char *net = read_net(OUT "/mixed", "mixed");
    /* Names inside a submodule follow its path; the three outputs are listed. */
    assert_non_null(strstr(net, "block.add "));
    assert_non_null(strstr(net, "\noutput head softmax_1 globalavgpool2d_1\n"));
    free(net);
    expect_pytorch_outputs(OUT "/mixed", "mixed", 3, REF "/mixed");
}

/* A 1-D keyword spotter (Conv1d, BatchNorm1d, pools, SE gate) from a CxL input. */
static void test_export_keyword_spotter_1d_matches_pytorch(void **state)
{
    need(state, false);
    free(run_expect("rm -rf " OUT "/kws && " EXPORT " tests/export/models.py:KeywordSpotter 40x49 "
                    "-w " REF "/kws/state.pt --name kws -o " OUT "/kws",
                    0));
    char *net = read_net(OUT "/kws", "kws");
    assert_non_null(strstr(net, "input  "));
    assert_non_null(strstr(net, " 40x49"));
    assert_non_null(strstr(net, "conv1d"));
    assert_non_null(strstr(net, "batchnorm1d"));
    assert_non_null(strstr(net, "padding=2,2") || strstr(net, "padding=2 "));
    free(net);
    expect_pytorch_outputs(OUT "/kws", "kws", 1, REF "/kws");
}

/* A U-Net: transposed conv, bilinear upsample, zero pad, pixel shuffle, skip concats. */
static void test_export_unet_matches_pytorch(void **state)
{
    need(state, false);
    free(run_expect("rm -rf " OUT "/unet && " EXPORT " tests/export/models.py:TinyUNet 3x16x16 "
                    "-w " REF "/unet/state.pt --name unet -o " OUT "/unet",
                    0));
    char *net = read_net(OUT "/unet", "unet");
    assert_non_null(strstr(net, "convtranspose2d up2"));
    assert_non_null(strstr(net, "upsample"));
    assert_non_null(strstr(net, "pixelshuffle"));
    free(net);
    expect_pytorch_outputs(OUT "/unet", "unet", 1, REF "/unet");
}

static void test_export_pools_matches_pytorch_and_is_deterministic(void **state)
{
    need(state, false);
    /* Built from the class with the default seed, twice: the same bytes. */
    char *log = run_expect("rm -rf " OUT "/pools " OUT "/pools2 && " EXPORT " 'tests/export/models.py:Pools()' "
                           "4x16x13 -o " OUT "/pools && " EXPORT " 'tests/export/models.py:Pools()' 4x16x13 -o " OUT
                           "/pools2",
                           0);
    /* fc is called twice: its weights are written for each call. */
    assert_non_null(strstr(log, "warning: the .net holds 616 parameters, the model 491"));
    free(log);
    assert_true(same_file(OUT "/pools/pools.net", OUT "/pools2/pools.net"));
    assert_true(same_file(OUT "/pools/pools.safetensors", OUT "/pools2/pools.safetensors"));
    expect_pytorch_outputs(OUT "/pools", "pools", 2, REF "/pools");
}

/* Exports torchvision's FACTORY(weights=None) as NAME and has check.py
 * compare it with PyTorch and models/NAME.net; then frees the disk. */
static void torchvision_model(void **state, const char *factory, const char *name)
{
    need(state, true);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, EXPORT " 'torchvision.models:%s(weights=None)' 3x224x224 --name %s -o " OUT "/tv",
             factory, name);
    free(run_expect(cmd, 0));
    snprintf(cmd, sizeof cmd, CHECK " torchvision %s " OUT "/tv %s", factory, name);
    char *log = run_expect(cmd, 0);
    print_message("%s", log);
    free(log);
    snprintf(cmd, sizeof cmd, "rm -f " OUT "/tv/%s.safetensors", name);
    free(run_expect(cmd, 0));
}

static void test_export_resnet18_counts_and_weights(void **state)
{
    torchvision_model(state, "resnet18", "resnet18");
}

static void test_export_mobilenetv2_counts_and_weights(void **state)
{
    torchvision_model(state, "mobilenet_v2", "mobilenetv2");
}

static void test_export_alexnet_counts_and_weights(void **state)
{
    torchvision_model(state, "alexnet", "alexnet");
}

/* Exports torchvision's FACTORY(weights=None) with randomized batchnorms
 * on a CxHxW input: parameters sum(p.numel()), tensors the state_dict's,
 * and the generated C gives PyTorch's outputs within the e2e tolerance. */
static void torchvision_run(void **state, const char *factory, const char *name, const char *shape)
{
    need(state, true);
    char cmd[1024], ref[300];
    snprintf(cmd, sizeof cmd, CHECK " torchvision-ref %s " OUT "/tv %s %s", factory, name, shape);
    free(run_expect(cmd, 0));
    snprintf(cmd, sizeof cmd,
             EXPORT " 'torchvision.models:%s(weights=None)' %s -w " OUT "/tv/%s_state.pt --name %s -o " OUT "/tv",
             factory, shape, name, name);
    free(run_expect(cmd, 0));
    snprintf(cmd, sizeof cmd, CHECK " torchvision %s " OUT "/tv %s", factory, name);
    char *log = run_expect(cmd, 0);
    print_message("%s", log);
    free(log);
    snprintf(ref, sizeof ref, OUT "/tv/%s_ref", name);
    expect_pytorch_outputs(OUT "/tv", name, 1, ref);
    snprintf(cmd, sizeof cmd, "rm -f " OUT "/tv/%s.safetensors " OUT "/tv/%s_state.pt " OUT "/tv/%s.c " OUT "/tv/run",
             name, name, name);
    free(run_expect(cmd, 0));
}

/* Squeeze-excitation (hardsigmoid gate), hardswish. */
static void test_export_mobilenet_v3_small_matches_pytorch(void **state)
{
    torchvision_run(state, "mobilenet_v3_small", "mobilenet_v3_small", "3x96x96");
}

/* SiLU, squeeze-excitation (sigmoid gate), stochastic depth. */
static void test_export_efficientnet_b0_matches_pytorch(void **state)
{
    torchvision_run(state, "efficientnet_b0", "efficientnet_b0", "3x64x64");
}

static void test_export_unsupported_names_module_and_writes_nothing(void **state)
{
    const Env *env = need(state, false);
    /* An older export stands in the directory: it must stay untouched. */
    free(run_expect("rm -rf " OUT "/unsupported && mkdir -p " OUT "/unsupported && "
                    "echo old > " OUT "/unsupported/unsupported.net",
                    0));
    char *log = run_expect(EXPORT " tests/export/models.py:Unsupported 1x8x8 -o " OUT "/unsupported", 1);
    char want[700];
    snprintf(want, sizeof want, "error: body.2 (nn.Softplus, defined at %s): Softplus has no .net equivalent; called at "
             "tests/export/models.py:", env->where[0]);
    if (!strstr(log, want))
        fail_msg("no '%s' in\n%s", want, log);
    snprintf(want, sizeof want, "error: blocks.1 (models.MyBlock, defined at %s): F.softplus has no .net equivalent",
             env->where[1]);
    if (!strstr(log, want))
        fail_msg("no '%s' in\n%s", want, log);
    snprintf(want, sizeof want, "error: rnn (nn.LSTM, defined at %s): LSTM has no .net equivalent", env->where[2]);
    if (!strstr(log, want))
        fail_msg("no '%s' in\n%s", want, log);
    free(log);
    DIR *d = opendir(OUT "/unsupported");
    assert_non_null(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    assert_int_equal(entries, 1);
    char *old = tu_read_file(OUT "/unsupported/unsupported.net", NULL);
    assert_string_equal(old, "old\n");
    free(old);
}

static void test_export_bad_command_lines_exit_2_and_bad_weights_1(void **state)
{
    need(state, false);
    free(run_expect("rm -rf " OUT "/usage", 0));
    char *log = run_expect(EXPORT " tests/export/models.py:MnistNet 1x28x28x1 -o " OUT "/usage", 2);
    assert_non_null(strstr(log, "error: the input shape must be CxHxW"));
    free(log);
    log = run_expect(EXPORT " no_such_package.models:Net 1x8x8 -o " OUT "/usage", 2);
    assert_non_null(strstr(log, "error: no module named 'no_such_package.models'"));
    free(log);
    /* The weights of another model: a model problem, named. */
    log = run_expect(EXPORT " tests/export/models.py:MnistNet 1x28x28 -w models/digits.safetensors -o " OUT "/usage",
                     1);
    assert_non_null(strstr(log, "error: models/digits.safetensors lacks conv.weight, conv.bias"));
    assert_non_null(strstr(log, "error: models/digits.safetensors has tensors the model does not: conv1.weight"));
    free(log);
    struct stat st;
    assert_int_equal(stat(OUT "/usage", &st), -1);
    assert_int_equal(errno, ENOENT);
}

/* Finds out what the machine has and has check.py write the references. */
static int setup(void **state)
{
    static Env env;
    *state = &env;
    mkdir("build", 0777);
    mkdir(OUT, 0777);
    char *log = NULL;
    int status = tu_run(CHECK " prepare " REF " 2>&1", &log);
    if (status == 77 || status == 126 || status == 127) { /* no torch; no python at all */
        fprintf(stderr, "test_export: no PyTorch at " PY ": the exporter tests are skipped\n");
        free(log);
        return 0;
    }
    if (status != 0) {
        fprintf(stderr, "test_export: tests/export/check.py prepare failed:\n%s", log);
        free(log);
        return -1;
    }
    env.torch = true;
    env.torchvision = strstr(log, "torchvision: yes") != NULL;
    if (!env.torchvision)
        fprintf(stderr, "test_export: no torchvision at " PY ": its models are skipped\n");
    free(log);
    FILE *f = fopen(REF "/where.txt", "r");
    if (!f)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (!fgets(env.where[i], sizeof env.where[i], f))
            env.where[i][0] = '\0';
        env.where[i][strcspn(env.where[i], "\n")] = '\0';
    }
    fclose(f);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_mnist_checkpoint_matches_pytorch),
        cmocka_unit_test(test_export_digits_equals_trained_model),
        cmocka_unit_test(test_export_functional_residual_concat_matches_pytorch),
        cmocka_unit_test(test_export_pools_matches_pytorch_and_is_deterministic),
        cmocka_unit_test(test_export_keyword_spotter_1d_matches_pytorch),
        cmocka_unit_test(test_export_unet_matches_pytorch),
        cmocka_unit_test(test_export_resnet18_counts_and_weights),
        cmocka_unit_test(test_export_mobilenetv2_counts_and_weights),
        cmocka_unit_test(test_export_mobilenet_v3_small_matches_pytorch),
        cmocka_unit_test(test_export_efficientnet_b0_matches_pytorch),
        cmocka_unit_test(test_export_alexnet_counts_and_weights),
        cmocka_unit_test(test_export_unsupported_names_module_and_writes_nothing),
        cmocka_unit_test(test_export_bad_command_lines_exit_2_and_bad_weights_1),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
