/* test_install.c: `make install` and `make uninstall` (mk/install.mk,
 * mk/install.sh) and the man page. Installs into temporary DESTDIRs
 * under /tmp, checks what is there, builds and runs a model from the
 * installed cnnc and runtime alone (copies of the model and data in
 * another temporary directory, nothing read from the source tree), and
 * checks that uninstall leaves DESTDIR empty. The man page must describe
 * every option --help shows, and nothing --help does not. */
#include "testutil.h"

#include <unistd.h>

#define PREFIX "/usr/local"

/* What install puts under PREFIX (share/cnnc/tools has more when the
 * importers are there). */
static const char *const installed[] = {
    "bin/cnnc",
    "bin/cnnc-import",
    "bin/cnnc-export",
    "share/cnnc/runtime/cnnc_rt.c",
    "share/cnnc/runtime/cnnc_rt.h",
    "share/cnnc/runtime/cnnc_q8.h",
    "share/cnnc/tools/cnnc_import.py",
    "share/cnnc/tools/cnnc_export.py",
    "share/cnnc/tools/netfile.py",
    "share/cnnc/firmware/main.c",
    "share/cnnc/firmware/startup.c",
    "share/cnnc/firmware/mps2_an386.ld",
    "share/cnnc/firmware/CMakeLists.txt",
    "share/man/man1/cnnc.1",
    "lib/cmake/cnnc/cnncConfig.cmake",
    "lib/cmake/cnnc/cnncConfigVersion.cmake",
    "lib/cmake/cnnc/arm-none-eabi.cmake",
};

/* A new empty directory under /tmp, far from the source tree. */
static char *temp_dir(void)
{
    char *d = strdup("/tmp/cnnc-test-install-XXXXXX");
    assert_non_null(d);
    assert_non_null(mkdtemp(d));
    return d;
}

static void remove_dir(char *d)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
    free(d);
}

/* make -o build/cnnc: the suites run after the build, and in the
 * sanitized pass build/cnnc is a link to the sanitized compiler, which
 * make must take as it is rather than rebuild. */
static void install(const char *destdir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "make --no-print-directory -s -o build/cnnc install DESTDIR='%s' PREFIX=" PREFIX " 2>&1", destdir);
    free(tu_run_expect(cmd, 0));
}

/* Whether dir holds nothing at all. */
static bool empty(const char *dir)
{
    char cmd[256], *out = NULL;
    snprintf(cmd, sizeof cmd, "find '%s' -mindepth 1", dir);
    assert_int_equal(tu_run(cmd, &out), 0);
    bool is = out && !*out;
    if (!is)
        print_message("left in %s:\n%s", dir, out ? out : "?");
    free(out);
    return is;
}

static void test_install_puts_everything_in_prefix(void **state)
{
    (void)state;
    char *dest = temp_dir();
    install(dest);
    for (size_t i = 0; i < sizeof installed / sizeof installed[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s" PREFIX "/%s", dest, installed[i]);
        if (access(path, R_OK) != 0)
            fail_msg("install did not write %s", path);
        if (strncmp(installed[i], "bin/", 4) == 0 && access(path, X_OK) != 0)
            fail_msg("%s is not executable", path);
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s" PREFIX "/bin/cnnc' --version", dest);
    char *out = tu_run_expect(cmd, 0);
    assert_string_equal(out, "cnnc " CNNC_VERSION "\n");
    free(out);
    snprintf(cmd, sizeof cmd, "grep -c 'PACKAGE_VERSION \"" CNNC_VERSION "\"' '%s" PREFIX "/lib/cmake/cnnc/cnncConfigVersion.cmake'",
             dest);
    free(tu_run_expect(cmd, 0));
    remove_dir(dest);
}

static void test_install_uninstall_leaves_destdir_empty(void **state)
{
    (void)state;
    char *dest = temp_dir();
    install(dest);
    install(dest); /* a reinstall over it changes nothing uninstall does */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "make --no-print-directory -s -o build/cnnc uninstall DESTDIR='%s' PREFIX=" PREFIX " 2>&1", dest);
    free(tu_run_expect(cmd, 0));
    assert_true(empty(dest));
    /* nothing installed: an error, and nothing touched */
    char *out = tu_run_expect(cmd, 2);
    assert_non_null(strstr(out, "no cnnc installed"));
    free(out);
    assert_true(empty(dest));
    remove_dir(dest);
}

/* Files that were there before install stay after uninstall, and so do
 * the directories holding them. */
static void test_install_uninstall_keeps_what_others_installed(void **state)
{
    (void)state;
    char *dest = temp_dir();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s" PREFIX "/bin' && echo x >'%s" PREFIX "/bin/other'", dest, dest);
    assert_int_equal(system(cmd), 0);
    install(dest);
    snprintf(cmd, sizeof cmd, "make --no-print-directory -s -o build/cnnc uninstall DESTDIR='%s' PREFIX=" PREFIX " 2>&1", dest);
    free(tu_run_expect(cmd, 0));
    snprintf(cmd, sizeof cmd, "cd '%s' && find . | sort | tr '\\n' ' '", dest);
    char *out = tu_run_expect(cmd, 0);
    assert_string_equal(out, ". ./usr ./usr/local ./usr/local/bin ./usr/local/bin/other ");
    free(out);
    remove_dir(dest);
}

/* The installed cnnc and runtime build a model and its self-test with no
 * path into the source tree: the model and data are copies elsewhere. */
static void test_install_builds_a_model_from_the_install(void **state)
{
    (void)state;
    char root[512];
    assert_non_null(getcwd(root, sizeof root));
    char *dest = temp_dir(), *work = temp_dir();
    install(dest);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cp models/digits.net models/digits.safetensors '%s' && cp tests/ref/digits/input.bin "
             "tests/ref/digits/expected.bin '%s'",
             work, work);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && P='%s" PREFIX "' && env -i PATH=/usr/bin:/bin \"$P/bin/cnnc\" digits.net -w digits.safetensors "
             "-o digits.c --emit-test selftest.c --test-input input.bin --test-expected expected.bin 2>&1 && "
             "cc -std=c99 -Wall -Wextra -Werror -O1 -I. -I\"$P/share/cnnc/runtime\" digits.c selftest.c "
             "\"$P/share/cnnc/runtime/cnnc_rt.c\" -lm -o selftest 2>&1 && ./selftest",
             work, dest);
    char *out = tu_run_expect(cmd, 0);
    assert_non_null(strstr(out, "PASS"));
    free(out);
    /* the same, int8 */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && P='%s" PREFIX "' && \"$P/bin/cnnc\" digits.net -w digits.safetensors --quantize=int8 "
             "--calibrate input.bin -o q.c 2>&1 && cc -std=c99 -Wall -Wextra -Werror -O1 -I\"$P/share/cnnc/runtime\" -c q.c",
             work, dest);
    free(tu_run_expect(cmd, 0));
    /* nothing generated names the source tree */
    snprintf(cmd, sizeof cmd, "grep -rlF '%s' '%s' || true", root, work);
    out = tu_run_expect(cmd, 0);
    assert_string_equal(out, "");
    free(out);
    remove_dir(work);
    remove_dir(dest);
}

/* The wrappers run the installed Python tools (when /usr/bin/python3 has
 * what the tools import). */
static void test_install_wrappers_run_the_tools(void **state)
{
    (void)state;
    if (tu_run("/usr/bin/python3 -c 'import numpy' 2>/dev/null", NULL) != 0) {
        print_message("skipped: /usr/bin/python3 without numpy\n");
        skip();
    }
    char *dest = temp_dir();
    install(dest);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd /tmp && '%s" PREFIX "/bin/cnnc-import' --help 2>&1", dest);
    char *out = tu_run_expect(cmd, 0);
    assert_non_null(strstr(out, "usage: cnnc_import.py"));
    free(out);
    snprintf(cmd, sizeof cmd, "cd /tmp && '%s" PREFIX "/bin/cnnc-export' --help 2>&1", dest);
    out = tu_run_expect(cmd, 0);
    assert_non_null(strstr(out, "usage:"));
    free(out);
    /* CNNC_PYTHON picks the interpreter */
    snprintf(cmd, sizeof cmd, "CNNC_PYTHON=/bin/false '%s" PREFIX "/bin/cnnc-import' --help", dest);
    free(tu_run_expect(cmd, 1));
    remove_dir(dest);
}

/* The installed cnnc-import and cnnc read a TFLite model of ../shared
 * (MLPerf Tiny's, when this machine has them) into int8 C, and the
 * picture of it shows the int8 arena of the header. */
static void test_install_imports_a_tflite_model(void **state)
{
    (void)state;
    const char *model = "../shared/models/mlperf-tiny/resnet8_int8.tflite";
    if (access(model, R_OK) != 0 || tu_run("/usr/bin/python3 -c 'import flatbuffers, numpy' 2>/dev/null", NULL) != 0 ||
        access("tools/import_tflite.py", R_OK) != 0) {
        print_message("skipped: no %s, or no TFLite importer, or /usr/bin/python3 without flatbuffers\n", model);
        skip();
    }
    char root[512];
    assert_non_null(getcwd(root, sizeof root));
    char *dest = temp_dir(), *work = temp_dir();
    install(dest);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && P='%s" PREFIX "' && \"$P/bin/cnnc-import\" '%s/%s' -o . 2>&1 && "
             "\"$P/bin/cnnc\" resnet8_int8.net -w resnet8_int8.safetensors -o r8.c --report=svg >r8.svg 2>/dev/null && "
             "cc -std=c99 -Wall -Wextra -Werror -O1 -I\"$P/share/cnnc/runtime\" -c r8.c && "
             "grep -o 'int8 arena: [0-9,]* B' r8.svg && grep '_ARENA_BYTES ' r8.h",
             work, dest, root, model);
    char *out = tu_run_expect(cmd, 0);
    char *a = strstr(out, "int8 arena: "), *h = strstr(out, "_ARENA_BYTES ");
    assert_non_null(a);
    assert_non_null(h);
    char want[64], digits[32];
    snprintf(want, sizeof want, "int8 arena: %s B", report_thousands(atol(h + 13), digits, sizeof digits));
    assert_non_null(strstr(out, want));
    free(out);
    remove_dir(work);
    remove_dir(dest);
}

/* The option names of a text: each "-x" or "--xy" that starts an entry
 * (help: a line "  -opt..."; man: a .B/.BI/.BR line after .TP), cut at
 * '=', '[', a space or a quote. Space-separated, with a space at each end. */
static char *option_names(const char *text, bool man)
{
    size_t cap = strlen(text) + 2, n = 0;
    char *names = calloc(cap + 1, 1);
    assert_non_null(names);
    names[n++] = ' ';
    bool after_tp = false;
    for (const char *line = text; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
        const char *p = NULL;
        if (!man && strncmp(line, "  -", 3) == 0)
            p = line + 2;
        if (man && after_tp && (strncmp(line, ".B ", 3) == 0 || strncmp(line, ".BI ", 4) == 0 || strncmp(line, ".BR ", 4) == 0))
            p = strchr(line, ' ') + 1;
        after_tp = man && strncmp(line, ".TP", 3) == 0;
        if (!p || (man && strncmp(p, "\\-", 2) != 0))
            continue;
        for (; *p && !strchr("=[ \"\n", *p); p++) {
            if (*p == '\\')
                continue; /* troff's \- */
            names[n++] = *p;
        }
        names[n++] = ' ';
    }
    names[n] = '\0';
    return names;
}

static void test_install_man_page_lists_every_help_option(void **state)
{
    (void)state;
    char *help = tu_run_expect("build/cnnc --help", 0);
    size_t len;
    char *man = tu_read_file("docs/cnnc.1", &len);
    char *h = option_names(help, false), *m = option_names(man, true);
    assert_true(strlen(h) > 40); /* the parse found them */
    for (char *p = h + 1; *p; p = strchr(p, ' ') + 1) {
        char opt[64];
        size_t k = (size_t)(strchr(p, ' ') - p);
        snprintf(opt, sizeof opt, " %.*s ", (int)k, p);
        if (!strstr(m, opt))
            fail_msg("cnnc --help shows%sbut docs/cnnc.1 does not describe it (man options:%s)", opt, m);
    }
    for (char *p = m + 1; *p; p = strchr(p, ' ') + 1) {
        char opt[64];
        size_t k = (size_t)(strchr(p, ' ') - p);
        snprintf(opt, sizeof opt, " %.*s ", (int)k, p);
        if (!strstr(h, opt))
            fail_msg("docs/cnnc.1 describes%swhich cnnc --help does not show", opt);
    }
    /* and it is a man page man can format */
    if (tu_run("command -v man >/dev/null", NULL) == 0) {
        char *out = tu_run_expect("MANWIDTH=80 man -l docs/cnnc.1 2>&1", 0);
        assert_non_null(strstr(out, "EXIT STATUS"));
        free(out);
    }
    free(h);
    free(m);
    free(help);
    free(man);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install_puts_everything_in_prefix),
        cmocka_unit_test(test_install_uninstall_leaves_destdir_empty),
        cmocka_unit_test(test_install_uninstall_keeps_what_others_installed),
        cmocka_unit_test(test_install_builds_a_model_from_the_install),
        cmocka_unit_test(test_install_wrappers_run_the_tools),
        cmocka_unit_test(test_install_imports_a_tflite_model),
        cmocka_unit_test(test_install_man_page_lists_every_help_option),
    };
    return cmocka_run_group_tests_name("install", tests, NULL, NULL);
}
