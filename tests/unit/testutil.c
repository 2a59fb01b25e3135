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
