/* testutil.h: what the cmocka suites share: compiling a model from a
 * string in-process, with its diagnostics captured as text. */
#ifndef CNNC_TESTUTIL_H
#define CNNC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cnnc.h"

/* One compilation: the net (NULL when there were errors before
 * analysis could start), and everything printed, in source order. */
typedef struct Compiled {
    Mem mem;
    Diag diag;
    Net *net;
    char *messages; /* diagnostics as the user would see them */
    size_t messages_len;
    int errors, warnings;
} Compiled;

/* Parses, builds, analyses and (without errors) plans src, named "t.net". */
Compiled *tu_compile(const char *src);
void tu_free(Compiled *c);
/* The layer of that name; fails the test if there is none. */
Layer *tu_layer(Compiled *c, const char *name);
/* Reads a whole file; fails the test if it cannot. */
char *tu_read_file(const char *path, size_t *len);
/* Runs a shell command; returns its exit status and (if out) its stdout. */
int tu_run(const char *cmd, char **out);
/* False in make test's sanitized pass (tests/unit/test_asan.c): builds
 * for other CPUs, emulator runs and other compilers' passes check only
 * what cnnc wrote, which the plain pass has checked already, and no
 * sanitizer sees into them. Suites skip those tests there. */
bool tu_cross_checks(void);
/* A reset handler for qemu's mps2-an386 (Cortex-M4F) as C source: turns
 * the FPU on, then newlib's semihosting start-up, which gives printf and
 * the exit status. */
extern const char tu_m4_boot_src[];
/* Writes a C program that runs NAME_run (from header) on input.bin and
 * compares each output with expected.bin under the tolerance of
 * docs/references.md, printing the worst ratio to it per output and
 * exiting 1 beyond it (2 when the files are short). */
void tu_write_harness(const char *path, const char *header, const char *name, int noutputs);
/* Runs cmd; fails the test with its output unless the status is want.
 * The output is the caller's to free. */
char *tu_run_expect(const char *cmd, int want);

#endif
