/* testutil.c: helpers for the cmocka suites. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

Compiled *tu_compile(const char *src)
{
    Compiled *c = calloc(1, sizeof *c);
    assert_non_null(c);
    FILE *out = open_memstream(&c->messages, &c->messages_len);
    assert_non_null(out);
    diag_init(&c->diag, "t.net", src, strlen(src), out);
    Stmt *stmts = parse_source(&c->mem, &c->diag, src, strlen(src));
    c->net = ir_build(&c->mem, &c->diag, stmts);
    analyze(c->net, &c->diag);
    if (c->diag.errors == 0) {
        fuse(c->net, true);
        plan(&c->mem, c->net);
    }
    diag_flush(&c->diag);
    fclose(out);
    c->errors = c->diag.errors;
    c->warnings = c->diag.warnings;
    return c;
}

void tu_free(Compiled *c)
{
    mem_free(&c->mem);
    free(c->messages);
    free(c);
}

Layer *tu_layer(Compiled *c, const char *name)
{
    assert_non_null(c->net);
    Layer *l = ir_find(c->net, name);
    if (!l)
        fail_msg("no layer '%s'", name);
    return l;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

int tu_run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(mem);
    int status = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool tu_cross_checks(void)
{
    const char *pass = getenv("CNNC_SANITIZED_PASS");
    return !pass || !*pass;
}

const char tu_m4_boot_src[] =
    "extern void _start(void);\nvoid reset(void);\n"
    "void reset(void)\n{\n    *(volatile unsigned *)0xE000ED88u |= 0xFu << 20;\n"
    "    __asm__ volatile(\"dsb\\n isb\");\n    _start();\n}\n"
    "__attribute__((section(\".vectors\"), used)) static void (*const vectors[2])(void) = {\n"
    "    (void (*)(void))0x20400000u, reset};\n";

void tu_write_harness(const char *path, const char *header, const char *name, int noutputs)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    char up[128];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof up; i++)
        up[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    up[i] = '\0';
    fprintf(f, "#include <math.h>\n#include <stdio.h>\n#include \"%s\"\n\n", header);
    fprintf(f, "static float input[%s_INPUT_SIZE];\n", up);
    for (int k = 0; k < noutputs; k++)
        fprintf(f, "static float out%d[%s_OUTPUT%d_SIZE], want%d[%s_OUTPUT%d_SIZE];\n", k, up, k, k, up, k);
    fprintf(f, "\n/* Reads n floats; 0 when the file is short. */\n"
               "static int load(FILE *f, float *v, size_t n)\n{\n    return fread(v, sizeof *v, n, f) == n;\n}\n\n"
               "/* Worst |got - exp| as a fraction of the tolerance. */\n"
               "static double worst(const float *got, const float *exp, int n)\n{\n"
               "    double peak = 0, w = 0;\n"
               "    for (int i = 0; i < n; i++)\n        if (fabs(exp[i]) > peak)\n            peak = fabs(exp[i]);\n"
               "    for (int i = 0; i < n; i++) {\n"
               "        double scale = fabs(exp[i]) > 0.1 * peak ? fabs(exp[i]) : 0.1 * peak;\n"
               "        double allowed = 1e-5 * scale > 1e-38 ? 1e-5 * scale : 1e-38;\n"
               "        double r = isfinite(got[i]) ? fabs((double)got[i] - exp[i]) / allowed : INFINITY;\n"
               "        if (!(r <= w))\n            w = r;\n    }\n    return w;\n}\n\n");
    fprintf(f, "int main(int argc, char **argv)\n{\n    (void)argc;\n"
               "    FILE *in = fopen(argv[1], \"rb\"), *ex = fopen(argv[2], \"rb\");\n"
               "    if (!in || !ex || !load(in, input, %s_INPUT_SIZE)) {\n        puts(\"cannot read the case\");\n"
               "        return 2;\n    }\n    %s_run(input",
            up, name);
    for (int k = 0; k < noutputs; k++)
        fprintf(f, ", out%d", k);
    fprintf(f, ");\n    int bad = 0;\n");
    for (int k = 0; k < noutputs; k++)
        fprintf(f, "    if (!load(ex, want%d, %s_OUTPUT%d_SIZE)) {\n        puts(\"short expected.bin\");\n"
                   "        return 2;\n    }\n"
                   "    double w%d = worst(out%d, want%d, %s_OUTPUT%d_SIZE);\n"
                   "    printf(\"output %d: worst %%.3g of tolerance\\n\", w%d);\n    bad |= !(w%d <= 1.0);\n",
                k, up, k, k, k, k, up, k, k, k, k);
    fprintf(f, "    fclose(in);\n    fclose(ex);\n    return bad;\n}\n");
    fclose(f);
}

char *tu_run_expect(const char *cmd, int want)
{
    char *out = NULL;
    int status = tu_run(cmd, &out);
    if (status != want)
        fail_msg("status %d (wanted %d) from:\n%s\n%s", status, want, cmd, out);
    return out;
}
