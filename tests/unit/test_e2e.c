/* test_e2e.c: the generated C against PyTorch. For every reference case
 * in tests/ref (made by tools/gen_refs.py), cnnc compiles the model with
 * its weights, gcc builds the result with the strict flags of
 * docs/generated-c.md and -Werror, and the program's output must equal
 * PyTorch's within the tolerance of docs/references.md. Every case runs
 * once per code variant: the default (microcontroller) tuning,
 * --tune=host built the way the host is meant to build it (-O3
 * -march=native, so its vectorized loops run), --unroll=none (the
 * size-minded loops) and --no-fuse (every layer's output in memory):
 *   |got - exp| <= 1e-5 * max(|exp|, 0.1 * max|exp over the output|). */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#define STRICT "-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror"

/* One reference case, as the cmocka state of its test. */
typedef struct Case {
    char name[256];
    char dir[300];
    const char *variant; /* the name's prefix and the build directory's */
    const char *cnnc;    /* extra cnnc options */
    const char *cflags;  /* optimization options for cc */
} Case;

/* The code variants every case is compiled in. */
static const struct {
    const char *variant, *cnnc, *cflags;
} variants[] = {
    {"", "", "-O1"},
    {"host_", "--tune=host", "-O3 -march=native"},
    {"none_", "--unroll=none", "-O1"},
    /* -O0: the unfused code is as large as the default, and what is
     * checked here is the numbers, not gcc's optimizer */
    {"nofuse_", "--no-fuse", "-O0"},
};

static void test_e2e_case(void **state)
{
    const Case *c = *state;
    char path[512], cmd[4096];
    snprintf(path, sizeof path, "%s/model.net", c->dir);
    char *src = tu_read_file(path, NULL);
    Compiled *comp = tu_compile(src);
    if (comp->errors)
        fail_msg("%s does not compile:\n%s", path, comp->messages);
    char out[320];
    snprintf(out, sizeof out, "build/e2e/%s%s", c->variant, c->name);
    mkdir("build/e2e", 0777);
    mkdir(out, 0777);
    snprintf(path, sizeof path, "%s/harness.c", out);
    tu_write_harness(path, "model.h", comp->net->name, comp->net->noutputs);
    char *log = NULL;
    /* the sanitized pass generates every variant with the sanitized cnnc,
     * but builds and runs only the default one: the host tuning's -O3
     * builds take minutes there and check nothing the plain pass does not */
    bool build = c->variant[0] == '\0' || tu_cross_checks();
    snprintf(cmd, sizeof cmd,
             "build/cnnc %s/model.net -w %s/weights.safetensors %s -o %s/model.c 2>&1 && "
             "%s cc " STRICT " %s -Iruntime -I%s %s/harness.c %s/model.c runtime/cnnc_rt.c -lm -o %s/run 2>&1 && "
             "%s/run %s/input.bin %s/expected.bin 2>&1",
             c->dir, c->dir, c->cnnc, out, build ? "" : "exit 0;", c->cflags, out, out, out, out, out, c->dir,
             c->dir);
    int status = tu_run(cmd, &log);
    if (status != 0)
        fail_msg("%s: status %d\n%s", c->name, status, log);
    free(log);
    tu_free(comp);
    free(src);
}

/* A zero-padded conv into a pool whose padded input band is too wide for
 * the stack of --tune=host's strips (more than 64 kB), so the host code
 * takes its clipped-loop kernel instead: no reference case is that wide,
 * so the default tuning's output, placeholder weights and all, is the
 * expected one here. */
static void test_e2e_host_wide_pool_fallback(void **state)
{
    (void)state;
    const char *dir = "build/e2e/host_wide_pool";
    const char *net_src = "network widepool\n"
                          "input x 8x4x520\n"
                          "conv2d c out=8 kernel=3 padding=1\n"
                          "relu\n"
                          "maxpool2d p kernel=2\n";
    char path[256], cmd[4096];
    mkdir("build/e2e", 0777);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/model.net", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(net_src, f);
    fclose(f);
    /* a smooth input with both signs, so the relu and the pool matter */
    snprintf(path, sizeof path, "%s/input.bin", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 8 * 4 * 520; i++) {
        float v = (float)sin(0.37 * i) + 0.25f * (float)((i * 7) % 5 - 2);
        fwrite(&v, sizeof v, 1, f);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/dump.c", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("#include <stdio.h>\n#include \"model.h\"\n\n"
          "static float input[WIDEPOOL_INPUT_SIZE], out[WIDEPOOL_OUTPUT0_SIZE];\n\n"
          "int main(int argc, char **argv)\n{\n    (void)argc;\n"
          "    FILE *in = fopen(argv[1], \"rb\"), *o = fopen(argv[2], \"wb\");\n"
          "    if (!in || !o || fread(input, sizeof *input, WIDEPOOL_INPUT_SIZE, in) != WIDEPOOL_INPUT_SIZE)\n"
          "        return 2;\n"
          "    widepool_run(input, out);\n"
          "    fwrite(out, sizeof *out, WIDEPOOL_OUTPUT0_SIZE, o);\n"
          "    fclose(in);\n    return fclose(o) != 0;\n}\n",
          f);
    fclose(f);
    snprintf(path, sizeof path, "%s/model.net", dir);
    char *src = tu_read_file(path, NULL);
    Compiled *comp = tu_compile(src);
    if (comp->errors)
        fail_msg("widepool does not compile:\n%s", comp->messages);
    snprintf(path, sizeof path, "%s/harness.c", dir);
    tu_write_harness(path, "model.h", comp->net->name, comp->net->noutputs);
    char *log = NULL;
    snprintf(cmd, sizeof cmd,
             "D=%s && build/cnnc $D/model.net --init=random:7 -o $D/model.c 2>&1 && "
             "cc " STRICT " -O1 -Iruntime -I$D $D/dump.c $D/model.c runtime/cnnc_rt.c -lm -o $D/dump 2>&1 && "
             "$D/dump $D/input.bin $D/expected.bin && "
             "build/cnnc $D/model.net --init=random:7 --tune=host -o $D/model.c 2>&1 && "
             "grep -q 'float acc\\[2\\]\\[' $D/model.c && ! grep -q 'float xp\\[' $D/model.c && "
             "cc " STRICT " -O3 -march=native -Iruntime -I$D $D/harness.c $D/model.c runtime/cnnc_rt.c -lm -o $D/run "
             "2>&1 && $D/run $D/input.bin $D/expected.bin 2>&1",
             dir);
    int status = tu_run(cmd, &log);
    if (status != 0)
        fail_msg("widepool: status %d\n%s", status, log);
    free(log);
    tu_free(comp);
    free(src);
}

/* By variant, then by name: the default variant's cases first. */
static int case_order(const void *a, const void *b)
{
    const Case *x = a, *y = b;
    int v = strcmp(x->variant, y->variant);
    return v ? v : strcmp(x->name, y->name);
}

int main(void)
{
    DIR *d = opendir("tests/ref");
    if (!d) {
        fprintf(stderr, "run from the repository root: no tests/ref\n");
        return 1;
    }
    Case *cases = NULL;
    size_t n = 0;
    for (struct dirent *ent; (ent = readdir(d));) {
        char probe[512];
        struct stat st;
        snprintf(probe, sizeof probe, "tests/ref/%s/expected.bin", ent->d_name);
        if (ent->d_name[0] == '.' || stat(probe, &st) != 0)
            continue;
        for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
            cases = realloc(cases, (n + 1) * sizeof *cases);
            snprintf(cases[n].name, sizeof cases[n].name, "%s", ent->d_name);
            snprintf(cases[n].dir, sizeof cases[n].dir, "tests/ref/%s", ent->d_name);
            cases[n].variant = variants[v].variant;
            cases[n].cnnc = variants[v].cnnc;
            cases[n].cflags = variants[v].cflags;
            n++;
        }
    }
    closedir(d);
    qsort(cases, n, sizeof *cases, case_order);
    struct CMUnitTest *tests = calloc(n + 1, sizeof *tests);
    char (*names)[280] = calloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "test_e2e_%s%s", cases[i].variant, cases[i].name);
        tests[i] = (struct CMUnitTest){names[i], test_e2e_case, NULL, NULL, &cases[i]};
    }
    tests[n] = (struct CMUnitTest){"test_e2e_host_wide_pool_fallback", test_e2e_host_wide_pool_fallback, NULL, NULL,
                                   NULL};
    int failed = _cmocka_run_group_tests("e2e", tests, n + 1, NULL, NULL);
    free(tests);
    free(names);
    free(cases);
    return failed;
}
