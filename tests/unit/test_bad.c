/* test_bad.c: damaged and hostile input (tests/bad, see its README.md).
 * Each case NAME has a golden NAME.err: cnnc is run on it as a user would,
 * with -o and -MD, and must print exactly that on stderr, exit 1 and leave
 * the output files as they were: the test creates them first and checks
 * every byte afterwards, and that nothing else appeared beside them. A
 * second run into an empty directory must create nothing, and print no
 * report. Cases whose weights only deserve a warning (NAME.status holds 0)
 * must write their output instead.
 *
 * The model is NAME.net, or weights.net for the damaged weights files; the
 * weights are NAME.safetensors when it exists (else --init=zeros); NAME.args
 * replaces both. CNNC_UPDATE_GOLDEN=1 writes the .err files (for review). */
#include "testutil.h"

#include <dirent.h>
#include <sys/stat.h>

#define BAD "tests/bad"
#define OUT "build/tests/bad"

/* One case, as the cmocka state of its test. */
typedef struct Case {
    char name[128];
    char args[1024]; /* model and weights, as given to cnnc */
    int status;      /* expected exit status */
} Case;

/* Whether a path exists. */
static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A whole file, or NULL when it does not exist. */
static char *slurp(const char *path, size_t *len)
{
    if (!exists(path))
        return NULL;
    return tu_read_file(path, len);
}

/* Writes text to path, failing the test if it cannot. */
static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Names in dir other than those listed: leftovers such as temporaries. */
static void assert_only(const char *dir, const char *const *names, int n)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        bool listed = false;
        for (int i = 0; i < n; i++)
            listed |= strcmp(e->d_name, names[i]) == 0;
        if (!listed)
            fail_msg("%s: cnnc left '%s' behind", dir, e->d_name);
    }
    closedir(d);
}

/* Compares stderr with the golden, or writes the golden in update mode. */
static void check_golden(const Case *c, const char *err, size_t len)
{
    char golden[512];
    snprintf(golden, sizeof golden, BAD "/%s.err", c->name);
    const char *update = getenv("CNNC_UPDATE_GOLDEN");
    if (update && *update == '1') {
        FILE *f = fopen(golden, "wb");
        assert_non_null(f);
        fwrite(err, 1, len, f);
        fclose(f);
        return;
    }
    size_t glen;
    char *want = tu_read_file(golden, &glen);
    if (glen != len || memcmp(want, err, len) != 0)
        fail_msg("%s: stderr differs from %s\n--- expected\n%s--- got\n%s", c->name, golden, want, err);
    free(want);
}

/* The outputs as they stood before, byte for byte. */
static const char *const sentinel[3] = {"/* a good build, not to be lost */\n", "#define GOOD_BUILD 1\n",
                                        "good.c good.h: earlier.net\n"};
static const char *const outputs[3] = {"out.c", "out.h", "out.d"};

static void test_bad_case(void **state)
{
    const Case *c = *state;
    char dir[256], path[512], cmd[2048];
    snprintf(dir, sizeof dir, OUT "/%s", c->name);
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s/fresh", dir, dir);
    assert_int_equal(tu_run(cmd, NULL), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, outputs[i]);
        spit(path, sentinel[i]);
    }

    /* over existing outputs */
    snprintf(cmd, sizeof cmd, "build/cnnc %s -o %s/out.c -MD 2>%s/stderr >%s/stdout; echo $?", c->args, dir, dir, dir);
    char *out = NULL;
    tu_run(cmd, &out);
    int status = atoi(out);
    free(out);
    size_t len;
    snprintf(path, sizeof path, "%s/stderr", dir);
    char *err = tu_read_file(path, &len);
    if (status != c->status)
        fail_msg("%s: exit status %d, expected %d\n%s", c->name, status, c->status, err);
    check_golden(c, err, len);
    free(err);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, outputs[i]);
        char *now = slurp(path, &len);
        assert_non_null(now);
        bool same = strcmp(now, sentinel[i]) == 0;
        if (c->status != 0 && !same)
            fail_msg("%s: cnnc failed but changed %s", c->name, path);
        if (c->status == 0 && same)
            fail_msg("%s: cnnc succeeded but did not write %s", c->name, path);
        free(now);
    }
    const char *listed[] = {"out.c", "out.h", "out.d", "stderr", "stdout", "fresh"};
    assert_only(dir, listed, 6);
    if (c->status == 0)
        return;
    snprintf(path, sizeof path, "%s/stdout", dir);
    char *report = tu_read_file(path, &len);
    assert_int_equal(len, 0);
    free(report);

    /* into an empty directory, with a report asked for: nothing at all */
    snprintf(cmd, sizeof cmd, "build/cnnc %s --report=json -o %s/fresh/new.c -MD 2>/dev/null; echo $?", c->args, dir);
    char *stdout_text = NULL;
    tu_run(cmd, &stdout_text);
    if (atoi(stdout_text) != c->status || strchr(stdout_text, '{'))
        fail_msg("%s: second run printed a report or exited otherwise:\n%s", c->name, stdout_text);
    free(stdout_text);
    snprintf(path, sizeof path, "%s/fresh", dir);
    assert_only(path, NULL, 0);
}

/* The good weights the damaged ones come from bind and generate: the
 * damage is what the cases test, not the model. */
static void test_bad_control_good_weights(void **state)
{
    (void)state;
    char *out = NULL;
    int status = tu_run("mkdir -p " OUT " && build/cnnc " BAD "/weights.net -w " BAD
                        "/weights.safetensors -o " OUT "/control.c 2>&1",
                        &out);
    if (status != 0 || *out)
        fail_msg("good weights: status %d\n%s", status, out);
    free(out);
}

/* Runs a shell command; returns its status, with stdout and stderr in *out. */
static int sh(const char *cmd, char **out)
{
    char full[2048];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    return tu_run(full, out);
}

/* Runs cmd, which must exit with status and say `says` somewhere. */
static void expect(const char *cmd, int status, const char *says)
{
    char *out = NULL;
    int got = sh(cmd, &out);
    if (got != status || !strstr(out, says))
        fail_msg("%s\nexit %d (expected %d), output:\n%s(expected to contain: %s)", cmd, got, status, out, says);
    free(out);
}

/* Spells out a command line of test_bad_usage_errors, where {m}, {o} and
 * {w} stand for the model, the output directory and the weights, to keep
 * the table readable. */
static void expand_args(char *out, size_t size, const char *args)
{
    static const char *const names[][2] = {
        {"{m}", "models/lenet5.net"}, {"{o}", OUT "/usage"}, {"{w}", BAD "/weights.safetensors"}};
    size_t o = 0;
    out[0] = '\0';
    for (const char *a = args; *a && o + 1 < size; o = strlen(out)) {
        const char *with = NULL;
        for (size_t k = 0; k < 3 && !with; k++)
            if (strncmp(a, names[k][0], 3) == 0)
                with = names[k][1];
        if (with) {
            snprintf(out + o, size - o, "%s", with);
            a += 3;
        } else {
            out[o] = *a++;
            out[o + 1] = '\0';
        }
    }
}

/* Every mistake on the command line gets exit status 2, a message that
 * says what to give instead, and writes nothing. */
static void test_bad_usage_errors(void **state)
{
    (void)state;
    static const struct {
        const char *args, *says;
    } cases[] = {
        {"", "no model given"},
        {"{m}", "nothing to do for 'models/lenet5.net': give -o FILE.c, --report or --check"},
        {"{m} -o", "-o needs a file name"},
        {"{m} -w", "-w needs a file name"},
        {"{m} -o {o}/m.c -MF", "-MF needs a file name"},
        {"{m} --calibrate", "--calibrate needs a file name"},
        {"{m} --tune=fast --check", "unknown --tune value 'fast'; use --tune=mcu or --tune=host"},
        {"{m} --check --quantize=int8", "--quantize=int8 needs --calibrate FILE (raw float32 inputs)"},
        {"{m} --check --calibrate=x.bin", "--calibrate needs --quantize=int8"},
        {"{m} --check --quantize=int8 --calibrate x.bin",
         "--quantize=int8 needs weights: give -w FILE.safetensors, or --init=zeros|random[:SEED]"},
        {"{m} --check --int8-io", "--int8-io needs --quantize=int8"},
        {"{m} -o {o}/m.c -w {w} --init=zeros", "give either -w or --init, not both"},
        {"{m} --check -MD", "-MD and -MF need -o"},
        {"{m} -o {o}/m.c", "-o needs weights: give -w FILE.safetensors, or --init=zeros|random[:SEED] to try a model"},
        {"{m} -o {o}/m.c --init=ones", "bad --init value 'ones'; use zeros, random or random:SEED"},
    };
    assert_int_equal(sh("rm -rf " OUT "/usage && mkdir -p " OUT "/usage", NULL), 0);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char args[512], cmd[1024], says[512];
        expand_args(args, sizeof args, cases[k].args);
        snprintf(cmd, sizeof cmd, "build/cnnc %s", args);
        snprintf(says, sizeof says, "cnnc: error: %s\nusage: cnnc [options] MODEL.net (try 'cnnc --help')\n",
                 cases[k].says);
        expect(cmd, 2, says);
    }
    /* a seed that is not a number is found later, as the weights are made */
    expect("build/cnnc models/lenet5.net -o " OUT "/usage/m.c --init=random:x", 1,
           "random:x: error: bad --init value; use zeros, random or random:SEED\n");
    assert_only(OUT "/usage", NULL, 0);
}

/* -o names the header's path too: refused before anything is written. */
static void test_bad_output_would_be_its_own_header(void **state)
{
    (void)state;
    assert_int_equal(sh("rm -rf " OUT "/self && mkdir -p " OUT "/self && echo keep >" OUT "/self/m.h", NULL), 0);
    expect("build/cnnc models/lenet5.net --init=zeros -o " OUT "/self/m.h", 2,
           "cnnc: error: '" OUT "/self/m.h' would be written twice; -o FILE.c also writes FILE.h");
    expect("build/cnnc models/lenet5.net --init=zeros -o " OUT "/self/m.c -MF " OUT "/self/m.c", 2, "written twice");
    char *now = tu_read_file(OUT "/self/m.h", NULL);
    assert_string_equal(now, "keep\n");
    free(now);
    const char *listed[] = {"m.h"};
    assert_only(OUT "/self", listed, 1);
}

/* -o over an input (the model, the weights) is refused. */
static void test_bad_output_over_an_input(void **state)
{
    (void)state;
    assert_int_equal(sh("rm -rf " OUT "/over && mkdir -p " OUT "/over && cp " BAD "/weights.net " BAD
                        "/weights.safetensors " OUT "/over/",
                        NULL),
                     0);
    expect("build/cnnc " OUT "/over/weights.net --init=zeros -o " OUT "/over/weights.net", 2,
           "writing '" OUT "/over/weights.net' would overwrite an input; choose another -o");
    expect("build/cnnc " OUT "/over/weights.net -w " OUT "/over/weights.safetensors -o " OUT "/over/x.c -MF " OUT
           "/over/weights.safetensors",
           2, "would overwrite an input");
    assert_int_equal(sh("cmp " OUT "/over/weights.net " BAD "/weights.net && cmp " OUT "/over/weights.safetensors " BAD
                        "/weights.safetensors",
                        NULL),
                     0);
}

/* A header path that is a directory would make the rename of the header
 * fail after the .c was replaced: refused before writing anything. */
static void test_bad_header_path_is_a_directory(void **state)
{
    (void)state;
    assert_int_equal(sh("rm -rf " OUT "/dir && mkdir -p " OUT "/dir/out.h && echo keep >" OUT "/dir/out.c", NULL), 0);
    expect("build/cnnc models/lenet5.net --init=zeros -o " OUT "/dir/out.c", 1,
           OUT "/dir/out.h: error: cannot write: Is a directory");
    char *now = tu_read_file(OUT "/dir/out.c", NULL);
    assert_string_equal(now, "keep\n");
    free(now);
    const char *listed[] = {"out.c", "out.h"};
    assert_only(OUT "/dir", listed, 2);
}

/* An output directory that does not exist: one message, nothing made. */
static void test_bad_output_directory_missing(void **state)
{
    (void)state;
    expect("build/cnnc models/lenet5.net --init=zeros -o " OUT "/no/such/dir/out.c", 1,
           OUT "/no/such/dir/out.c: error: cannot write: No such file or directory");
    assert_false(exists(OUT "/no"));
}

/* A report that cannot be written is an error, not a silent success. */
static void test_bad_report_to_a_full_disk(void **state)
{
    (void)state;
    expect("(build/cnnc models/lenet5.net --report=json >/dev/full)", 1,
           "cnnc: error: cannot write the report: No space left on device");
}

/* The disk fills up while the C is written (a 64 KiB file size limit
 * stands in for it): an error, and the good build stays whole. */
static void test_bad_disk_full_while_writing(void **state)
{
    (void)state;
    assert_int_equal(sh("rm -rf " OUT "/full && mkdir -p " OUT "/full && echo keep >" OUT "/full/m.c && echo keep >" OUT
                        "/full/m.h",
                        NULL),
                     0);
    expect("bash -c \"trap '' XFSZ; ulimit -f 64; build/cnnc models/lenet5.net --init=zeros -o " OUT "/full/m.c\"", 1,
           OUT "/full/m.c: error: cannot write: File too large");
    assert_int_equal(sh("cmp -s " OUT "/full/m.c " OUT "/full/m.h && grep -qx keep " OUT "/full/m.c", NULL), 0);
    const char *listed[] = {"m.c", "m.h"};
    assert_only(OUT "/full", listed, 2);
}

/* Generated files are as readable as any the user creates (mkstemp's are
 * private until cnnc says otherwise). */
static void test_bad_outputs_keep_the_umask(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(sh("rm -rf " OUT "/mode && mkdir -p " OUT "/mode && (umask 022 && build/cnnc models/lenet5.net "
                        "--init=zeros -o " OUT "/mode/m.c -MD) && stat -c %a " OUT "/mode/m.c " OUT "/mode/m.h " OUT
                        "/mode/m.d",
                        &out),
                     0);
    assert_string_equal(out, "644\n644\n644\n");
    free(out);
}

/* Every case has its golden and its model; no golden lies about. */
static void test_bad_corpus_complete(void **state)
{
    const Case *cases = *state;
    (void)cases;
    DIR *d = opendir(BAD);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        char stem[256], other[512];
        if (n > 4 && strcmp(e->d_name + n - 4, ".net") == 0 && strcmp(e->d_name, "weights.net") != 0) {
            snprintf(stem, sizeof stem, "%.*s", (int)(n - 4), e->d_name);
            snprintf(other, sizeof other, BAD "/%s.err", stem);
            if (!exists(other))
                fail_msg("%s/%s has no golden %s", BAD, e->d_name, other);
        }
        if (n > 12 && strcmp(e->d_name + n - 12, ".safetensors") == 0 &&
            strcmp(e->d_name, "weights.safetensors") != 0) {
            snprintf(stem, sizeof stem, "%.*s", (int)(n - 12), e->d_name);
            snprintf(other, sizeof other, BAD "/%s.err", stem);
            if (!exists(other))
                fail_msg("%s/%s has no golden %s", BAD, e->d_name, other);
        }
    }
    closedir(d);
}

/* Reads NAME.args, NAME.status and which files exist into a case. */
static void describe(Case *c, const char *name)
{
    char path[300];
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(path, sizeof path, BAD "/%s.args", name);
    char *args = slurp(path, NULL);
    if (args) {
        args[strcspn(args, "\n")] = '\0';
        snprintf(c->args, sizeof c->args, "%s", args);
        free(args);
    } else {
        char model[300], weights[310];
        snprintf(path, sizeof path, BAD "/%s.net", name);
        snprintf(model, sizeof model, "%s", exists(path) ? path : BAD "/weights.net");
        snprintf(path, sizeof path, BAD "/%s.safetensors", name);
        if (exists(path))
            snprintf(weights, sizeof weights, "-w %s", path);
        else
            snprintf(weights, sizeof weights, "--init=zeros");
        snprintf(c->args, sizeof c->args, "%s %s", model, weights);
    }
    snprintf(path, sizeof path, BAD "/%s.status", name);
    char *status = slurp(path, NULL);
    c->status = status ? atoi(status) : 1;
    free(status);
}

static int case_order(const void *a, const void *b)
{
    return strcmp(((const Case *)a)->name, ((const Case *)b)->name);
}

int main(void)
{
    DIR *d = opendir(BAD);
    if (!d) {
        fprintf(stderr, "run from the repository root: no %s\n", BAD);
        return 1;
    }
    Case *cases = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".err") != 0)
            continue;
        cases = realloc(cases, (n + 1) * sizeof *cases);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(len - 4), e->d_name);
        describe(&cases[n++], name);
    }
    closedir(d);
    if (getenv("CNNC_UPDATE_GOLDEN")) {
        /* new cases: a .net or .safetensors without its golden yet */
        d = opendir(BAD);
        for (struct dirent *e; d && (e = readdir(d));) {
            size_t len = strlen(e->d_name);
            size_t ext = len > 4 && strcmp(e->d_name + len - 4, ".net") == 0 ? 4
                         : len > 12 && strcmp(e->d_name + len - 12, ".safetensors") == 0 ? 12
                         : len > 5 && strcmp(e->d_name + len - 5, ".args") == 0 ? 5 : 0;
            char name[128], golden[300];
            snprintf(name, sizeof name, "%.*s", (int)(len - ext), e->d_name);
            snprintf(golden, sizeof golden, BAD "/%s.err", name);
            if (!ext || strcmp(name, "weights") == 0 || exists(golden))
                continue;
            bool dup = false;
            for (size_t i = 0; i < n; i++)
                dup |= strcmp(cases[i].name, name) == 0;
            if (dup)
                continue;
            cases = realloc(cases, (n + 1) * sizeof *cases);
            describe(&cases[n++], name);
        }
        if (d)
            closedir(d);
    }
    qsort(cases, n, sizeof *cases, case_order);
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_bad_usage_errors),
        cmocka_unit_test(test_bad_output_would_be_its_own_header),
        cmocka_unit_test(test_bad_output_over_an_input),
        cmocka_unit_test(test_bad_header_path_is_a_directory),
        cmocka_unit_test(test_bad_output_directory_missing),
        cmocka_unit_test(test_bad_report_to_a_full_disk),
        cmocka_unit_test(test_bad_disk_full_while_writing),
        cmocka_unit_test(test_bad_outputs_keep_the_umask),
    };
    size_t nfixed = sizeof fixed / sizeof fixed[0];
    struct CMUnitTest *tests = calloc(n + 2 + nfixed, sizeof *tests);
    char (*names)[160] = calloc(n, sizeof *names);
    tests[0] = (struct CMUnitTest){"test_bad_control_good_weights", test_bad_control_good_weights, NULL, NULL, NULL};
    tests[1] = (struct CMUnitTest){"test_bad_corpus_complete", test_bad_corpus_complete, NULL, NULL, cases};
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "test_bad_%s", cases[i].name);
        tests[i + 2] = (struct CMUnitTest){names[i], test_bad_case, NULL, NULL, &cases[i]};
    }
    memcpy(tests + n + 2, fixed, sizeof fixed);
    int failed = _cmocka_run_group_tests("bad", tests, n + 2 + nfixed, NULL, NULL);
    free(tests);
    free(names);
    free(cases);
    return failed;
}
