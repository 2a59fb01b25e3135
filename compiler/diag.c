/* diag.c: what the user sees when the model is wrong, in the form gcc and
 * clang use so editors and CI logs pick it up: file:line:col: error: msg,
 * then the source line and a caret under the culprit. Our own bugs go
 * through die() instead, so they are never mistaken for the user's. */
#include "cnnc.h"

#include <stdlib.h>

void diag_init(Diag *d, const char *path, const char *src, size_t srclen, FILE *out)
{
    d->path = path;
    d->src = src;
    d->srclen = srclen;
    d->out = out;
    d->errors = d->warnings = 0;
}

/* Finds line `line` (1-based) of the source; sets *len to its length. */
static const char *diag_line(const Diag *d, int line, size_t *len)
{
    const char *p = d->src, *end = d->src + d->srclen;
    for (int l = 1; l < line && p < end; p++)
        if (*p == '\n')
            l++;
    const char *e = p;
    while (e < end && *e != '\n' && *e != '\r')
        e++;
    *len = (size_t)(e - p);
    return p;
}

/* Quotes the source line and underlines loc: a caret, then tildes. Tabs
 * are kept in the indent so the caret lines up however tabs render. */
static void diag_quote(const Diag *d, Loc loc)
{
    if (!d->src || loc.line < 1)
        return;
    size_t len;
    const char *s = diag_line(d, loc.line, &len);
    fputc(' ', d->out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        fputc(c < 32 && c != '\t' ? '?' : c, d->out);
    }
    fputs("\n ", d->out);
    int col = loc.col < 1 ? 1 : loc.col;
    for (int i = 1; i < col; i++)
        fputc((size_t)(i - 1) < len && s[i - 1] == '\t' ? '\t' : ' ', d->out);
    fputc('^', d->out);
    for (int i = col + 1; i < loc.end_col && (size_t)(i - 1) < len; i++)
        fputc('~', d->out);
    fputc('\n', d->out);
}

static void diag_emit(Diag *d, Loc loc, const char *kind, const char *fmt, va_list ap)
{
    fprintf(d->out, "%s:%d:%d: %s: ", d->path, loc.line, loc.col, kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    diag_quote(d, loc);
}

void diag_error(Diag *d, Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_emit(d, loc, "error", fmt, ap);
    va_end(ap);
    d->errors++;
}

void diag_warning(Diag *d, Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_emit(d, loc, "warning", fmt, ap);
    va_end(ap);
    d->warnings++;
}

void diag_note(Diag *d, Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_emit(d, loc, "note", fmt, ap);
    va_end(ap);
}

static void diag_file(Diag *d, const char *path, const char *kind, const char *fmt, va_list ap)
{
    fprintf(d->out, "%s: %s: ", path, kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
}

void diag_file_error(Diag *d, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_file(d, path, "error", fmt, ap);
    va_end(ap);
    d->errors++;
}

void diag_file_warning(Diag *d, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_file(d, path, "warning", fmt, ap);
    va_end(ap);
    d->warnings++;
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cnnc: internal error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nplease report this as a bug\n", stderr);
    va_end(ap);
    exit(3);
}
