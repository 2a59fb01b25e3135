/* test_fuzz.c: the libFuzzer targets of fuzz/ (built by mk/robust.mk, with
 * ASan and UBSan) in make test. First every input that ever found a bug
 * (fuzz/regressions/TARGET) is run once, each on its own; then the three
 * targets get their smoke run at once, through `fuzz/run.sh --smoke`.
 * CI runs this on a clean clone and a failure blocks landing, so the smoke
 * is reproducible: a fixed seed and number of executions, from the seeds
 * made of the repository's files and the regressions alone (never the
 * corpus longer runs grew in build/), about 20 s each here. Random and
 * long runs are `make fuzz`'s. A finding fails the target's test and names
 * the file that reproduces it. */
#include "testutil.h"

#include <unistd.h>

#define LOGS "build/fuzz/logs"

static const char *const targets[] = {"net", "safetensors", "weights"};

/* Counts the lines of log that start with prefix: libFuzzer prints one
 * such line per input it ran. */
static int count_lines(const char *log, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *line = log; line; line = strchr(line, '\n')) {
        line += *line == '\n';
        n += strncmp(line, prefix, len) == 0;
    }
    return n;
}

/* Runs every file of fuzz/regressions/<target> once: a target given files
 * rather than a directory runs each as it is, without mutating. */
static void replay(const char *target)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "build/fuzz/fuzz_%s fuzz/regressions/%s/* 2>&1", target, target);
    char *log = NULL;
    int status = tu_run(cmd, &log);
    if (status != 0)
        fail_msg("a fuzz regression came back (%s):\n%s", cmd, log);
    int ran = count_lines(log, "Executed ");
    print_message("fuzz_%s: %d regression inputs replayed\n", target, ran);
    assert_true(ran >= 1);
    free(log);
}

/* The smoke output of one target (.out: its line; .status: its exit). */
static void smoke_path(char *path, size_t size, const char *target, const char *ext)
{
    snprintf(path, size, LOGS "/smoke-%d-%s.%s", (int)getpid(), target, ext);
}

/* Runs the three smokes at once (each single-threaded: two cores, three
 * processes, about 20 s in all); each into its own files, named by our pid
 * since two make test may run at once. */
static int smoke_all(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "mkdir -p " LOGS " && for t in net safetensors weights; do "
             "(bash fuzz/run.sh --smoke $t >" LOGS "/smoke-%d-$t.out 2>&1; "
             "echo $? >" LOGS "/smoke-%d-$t.status) & done; wait",
             (int)getpid(), (int)getpid());
    return tu_run(cmd, NULL) == 0 ? 0 : -1;
}

/* The smoke run of one target: its line of figures, and no finding. */
static void smoke(const char *target)
{
    char out_path[256], status_path[256];
    smoke_path(out_path, sizeof out_path, target, "out");
    smoke_path(status_path, sizeof status_path, target, "status");
    char *out = tu_read_file(out_path, NULL);
    char *status = tu_read_file(status_path, NULL);
    print_message("%s", out);
    int rc = atoi(status);
    unlink(out_path);
    unlink(status_path);
    if (rc != 0)
        fail_msg("fuzz_%s found a bug (see above and " LOGS "/smoke-%s.log)", target, target);
    free(out);
    free(status);
}

static void test_fuzz_net_regressions(void **state)
{
    (void)state;
    replay(targets[0]);
}

static void test_fuzz_safetensors_regressions(void **state)
{
    (void)state;
    replay(targets[1]);
}

static void test_fuzz_weights_regressions(void **state)
{
    (void)state;
    replay(targets[2]);
}

static void test_fuzz_net_smoke(void **state)
{
    (void)state;
    smoke(targets[0]);
}

static void test_fuzz_safetensors_smoke(void **state)
{
    (void)state;
    smoke(targets[1]);
}

static void test_fuzz_weights_smoke(void **state)
{
    (void)state;
    smoke(targets[2]);
}

int main(void)
{
    const struct CMUnitTest replays[] = {
        cmocka_unit_test(test_fuzz_net_regressions),
        cmocka_unit_test(test_fuzz_safetensors_regressions),
        cmocka_unit_test(test_fuzz_weights_regressions),
    };
    const struct CMUnitTest smokes[] = {
        cmocka_unit_test(test_fuzz_net_smoke),
        cmocka_unit_test(test_fuzz_safetensors_smoke),
        cmocka_unit_test(test_fuzz_weights_smoke),
    };
    int failed = cmocka_run_group_tests_name("fuzz regressions", replays, NULL, NULL);
    return failed + cmocka_run_group_tests_name("fuzz smoke", smokes, smoke_all, NULL);
}
