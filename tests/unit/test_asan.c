/* test_asan.c: the sanitized pass of make test. The other suites again,
 * built with -fsanitize=address,undefined (build/asan/tests, mk/robust.mk)
 * and run from build/asan/root: a shadow of the repository whose build/cnnc
 * is the compiler built the same way, so suites that shell out to
 * build/cnnc run it sanitized, and whose build/ keeps their scratch files
 * apart from the plain pass. cc and gcc on PATH add -fsanitize=undefined
 * to whatever C the suites build: the generated code of tests/ref
 * (test_e2e), of the oracle's random models, of the self-tests. A
 * sanitizer report fails the suite it happened in, and its first lines are
 * shown. The suites run two at a time (the machine has two cores); each
 * test below reports one. */
#include "testutil.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#define ASAN "build/asan"
#define ROOT ASAN "/root"

/* Suites left out: this one, the fuzz smoke (its targets are sanitized
 * already) and valgrind's (valgrind cannot watch ASan); and, for the ten
 * minutes make test may take, the two whose time goes elsewhere: building
 * for other CPUs with cross compilers no sanitizer reaches (test_target)
 * and Python: PyTorch (test_export), the importers' numpy references
 * (test_tflite, test_onnx). They pass sanitized too (docs/robustness.md);
 * mk/robust.mk's ROB_NOT_ASAN names the same. */
static const char *const skipped[] = {"test_asan", "test_fuzz", "test_memcheck", "test_target", "test_export",
                                     "test_tflite", "test_onnx"};

/* Suites started first: the longest, so that the two at a time end
 * together rather than one of them alone at the end. */
static const char *const long_suites[] = {"test_emit", "test_e2e", "test_q8", "test_oracle", "test_quant"};

/* One suite to rerun, as the cmocka state of its test. */
typedef struct Suite {
    char name[128];
    char repo[PATH_MAX]; /* absolute path of the repository */
} Suite;

/* Appends to list, space-separated, the suites that are (or are not) long. */
static void list_suites(char *list, size_t size, const Suite *suites, bool long_ones)
{
    for (const Suite *s = suites; s->name[0]; s++) {
        bool is_long = false;
        for (size_t k = 0; k < sizeof long_suites / sizeof long_suites[0]; k++)
            is_long |= strcmp(s->name, long_suites[k]) == 0;
        size_t o = strlen(list);
        if (is_long == long_ones)
            snprintf(list + o, size - o, "%s ", s->name);
    }
}

/* Links every top-level entry of the repository into ROOT except build/,
 * which ROOT has of its own with build/cnnc the sanitized compiler; then
 * runs every suite, longest first and two at a time, each into LOGS/NAME.log,
 * .status and .ms (its wall time), LOGS being ROOT/build/asan-logs/PID:
 * make test may run twice at once. */
static int run_all(void **state)
{
    Suite *suites = *state;
    char repo[PATH_MAX];
    snprintf(repo, sizeof repo, "%s", suites[0].repo);
    char setup[1024];
    snprintf(setup, sizeof setup,
             "mkdir -p " ROOT "/build/tests " ROOT "/build/asan-logs/%d && "
             "for e in $(ls -A); do case $e in build|.git) ;; *) "
             "[ -L " ROOT "/$e ] || rm -rf " ROOT "/$e; ln -sfn ../../../$e " ROOT "/$e ;; esac; "
             "done && ln -sfn ../../cnnc " ROOT "/build/cnnc",
             (int)getpid());
    if (tu_run(setup, NULL) != 0)
        return -1;
    char list[1 << 14] = "";
    list_suites(list, sizeof list, suites, true);
    list_suites(list, sizeof list, suites, false);
    /* halt on the first report, with a stack; leaks count as findings */
    char cmd[sizeof list + 4 * PATH_MAX];
    snprintf(cmd, sizeof cmd,
             "cd " ROOT " && printf '%%s\\n' %s | PATH='%s/" ASAN "/bin':\"$PATH\" ROBUST_TIME_SCALE=4 CNNC_SANITIZED_PASS=1 "
             "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "
             "xargs -P2 -n1 sh -c 'L=build/asan-logs/%d/$1; b=$(date +%%s%%N); "
             "\"%s/" ASAN "/tests/$1\" >$L.log 2>&1; echo $? >$L.status; "
             "echo $(( ($(date +%%s%%N) - b) / 1000000 )) >$L.ms' sh",
             list, repo, (int)getpid(), repo);
    return tu_run(cmd, NULL) == 0 ? 0 : -1;
}

/* The lines of a log worth showing: sanitizer reports and cmocka failures. */
static void show_findings(const char *name, const char *log)
{
    static const char *const marks[] = {"ERROR: ", "runtime error", "SUMMARY", "FAILED", "    #", "exited with"};
    int shown = 0;
    for (const char *line = log; *line && shown < 40;) {
        size_t len = strcspn(line, "\n");
        char text[512];
        snprintf(text, sizeof text, "%.*s", (int)len, line);
        for (size_t k = 0; k < sizeof marks / sizeof marks[0]; k++)
            if (strstr(text, marks[k])) {
                print_error("%s: %s\n", name, text);
                shown++;
                break;
            }
        line += len + (line[len] == '\n');
    }
}

static void test_asan_suite(void **state)
{
    const Suite *s = *state;
    char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/" ASAN "/tests/%s", s->repo, s->name);
    if (access(path, X_OK) != 0)
        fail_msg("%s is missing: make test builds it (mk/robust.mk)", path);
    snprintf(path, sizeof path, ROOT "/build/asan-logs/%d/%s.status", (int)getpid(), s->name);
    char *status = tu_read_file(path, NULL);
    snprintf(path, sizeof path, ROOT "/build/asan-logs/%d/%s.log", (int)getpid(), s->name);
    char *log = tu_read_file(path, NULL);
    const char *passed = NULL;
    for (const char *p = log; (p = strstr(p, "[  PASSED  ] ")); p++)
        passed = p;
    snprintf(path, sizeof path, ROOT "/build/asan-logs/%d/%s.ms", (int)getpid(), s->name);
    char *ms = tu_read_file(path, NULL);
    if (passed)
        print_message("%s: %.*s in %.1f s\n", s->name, (int)strcspn(passed + 13, ".\n"), passed + 13,
                      atoi(ms) / 1000.0);
    free(ms);
    if (atoi(status) != 0) {
        show_findings(s->name, log);
        fail_msg("%s failed under the sanitizers (exit %d); its log: %s", s->name, atoi(status), path);
    }
    free(status);
    free(log);
}

/* The cc of the pass really sanitizes: signed overflow in a program it
 * builds stops the program with UBSan's report. */
static void test_asan_generated_c_is_sanitized(void **state)
{
    (void)state;
    char *log = NULL;
    int status = tu_run("cd " ROOT " && PATH=\"$PWD/../bin\":\"$PATH\" && mkdir -p build/canary && "
                        "printf 'int main(int argc, char **argv)\\n{\\n    int x = 0x7fffffff;\\n    (void)argv;\\n"
                        "    return x + argc;\\n}\\n' >build/canary/ub.c && "
                        "cc -O0 build/canary/ub.c -o build/canary/ub && ./build/canary/ub 2>&1",
                        &log);
    if (status == 0 || !strstr(log, "runtime error: signed integer overflow"))
        fail_msg("cc in the sanitized pass does not add UBSan (exit %d):\n%s", status, log);
    free(log);
}

static int suite_order(const void *a, const void *b)
{
    return strcmp(((const Suite *)a)->name, ((const Suite *)b)->name);
}

int main(void)
{
    DIR *d = opendir("tests/unit");
    char repo[PATH_MAX];
    if (!d || !getcwd(repo, sizeof repo)) {
        fprintf(stderr, "run from the repository root: no tests/unit\n");
        return 1;
    }
    Suite *suites = calloc(1, sizeof *suites); /* ends with an empty name */
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "test_", 5) != 0 || len < 3 || strcmp(e->d_name + len - 2, ".c") != 0)
            continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(len - 2), e->d_name);
        bool skip = false;
        for (size_t k = 0; k < sizeof skipped / sizeof skipped[0]; k++)
            skip |= strcmp(name, skipped[k]) == 0;
        if (skip)
            continue;
        suites = realloc(suites, (n + 2) * sizeof *suites);
        snprintf(suites[n].name, sizeof suites[n].name, "%s", name);
        snprintf(suites[n].repo, sizeof suites[n].repo, "%s", repo);
        suites[++n].name[0] = '\0';
    }
    closedir(d);
    qsort(suites, n, sizeof *suites, suite_order);
    struct CMUnitTest *tests = calloc(n + 1, sizeof *tests);
    char (*names)[160] = calloc(n, sizeof *names);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "test_asan_%s", suites[i].name + 5);
        tests[i] = (struct CMUnitTest){names[i], test_asan_suite, NULL, NULL, &suites[i]};
    }
    tests[n++] = (struct CMUnitTest){"test_asan_generated_c_is_sanitized", test_asan_generated_c_is_sanitized, NULL,
                                     NULL, NULL};
    void *group = suites;
    if (run_all(&group) != 0) {
        fprintf(stderr, "test_asan: cannot run the suites from " ROOT "\n");
        return 1;
    }
    int failed = _cmocka_run_group_tests("asan", tests, n, NULL, NULL);
    if (!failed) {
        char rm[256];
        snprintf(rm, sizeof rm, "rm -rf " ROOT "/build/asan-logs/%d", (int)getpid());
        system(rm);
    }
    free(tests);
    free(names);
    free(suites);
    return failed;
}
