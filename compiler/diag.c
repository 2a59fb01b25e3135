/* diag.c: what the user sees when the model is wrong, in the form gcc and
 * clang use so editors and CI logs pick it up: file:line:col: error: msg,
 * then the source line and a caret under the culprit. The phases find
 * problems in their own order; diagnostics are held and printed in
 * source order. Our own bugs go through die() instead, so they are never
 * mistaken for the user's. */
#include "cnnc.h"

#include <stdlib.h>
#include <string.h>

/* One held diagnostic, with the notes that follow it. */
struct DiagEntry {
    Loc loc;
    int seq;
    char *text;
    size_t len;
};

void diag_init(Diag *d, const char *path, const char *src, size_t srclen, FILE *out)
{
    memset(d, 0, sizeof *d);
    d->path = path;
    d->src = src;
    d->srclen = srclen;
    d->out = out;
}

/* Starts a held diagnostic (or, for a note, reopens the last one) and
 * returns a stream to write it to; diag_close() keeps what was written. */
static FILE *diag_open(Diag *d, Loc loc, bool note)
{
    if (!note || d->nentries == 0) {
        if (d->nentries == d->cap) {
            d->cap = d->cap ? 2 * d->cap : 16;
            d->entries = realloc(d->entries, (size_t)d->cap * sizeof *d->entries);
            if (!d->entries)
                die("out of memory");
        }
        d->entries[d->nentries++] = (DiagEntry){loc, d->nentries, NULL, 0};
    }
    d->stream = open_memstream(&d->buf, &d->buflen);
    if (!d->stream)
        die("out of memory");
    return d->stream;
}

static void diag_close(Diag *d)
{
    fclose(d->stream);
    DiagEntry *e = &d->entries[d->nentries - 1];
    char *joined = realloc(e->text, e->len + d->buflen + 1);
    if (!joined)
        die("out of memory");
    memcpy(joined + e->len, d->buf, d->buflen + 1);
    e->text = joined;
    e->len += d->buflen;
    free(d->buf);
    d->buf = NULL;
}

static int entry_order(const void *a, const void *b)
{
    const DiagEntry *x = a, *y = b;
    if (x->loc.line != y->loc.line)
        return x->loc.line < y->loc.line ? -1 : 1;
    if (x->loc.col != y->loc.col)
        return x->loc.col < y->loc.col ? -1 : 1;
    return x->seq - y->seq;
}

void diag_flush(Diag *d)
{
    if (d->nentries > 1)
        qsort(d->entries, (size_t)d->nentries, sizeof *d->entries, entry_order);
    for (int i = 0; i < d->nentries; i++) {
        fwrite(d->entries[i].text, 1, d->entries[i].len, d->out);
        free(d->entries[i].text);
    }
    fflush(d->out);
    free(d->entries);
    d->entries = NULL;
    d->nentries = d->cap = 0;
    free(d->line_start);
    d->line_start = NULL;
    d->nlines = 0;
}

/* Indexes where every line starts, once: a file with a diagnostic on
 * each of its 100,000 lines must not be rescanned for each. */
static void diag_index_lines(Diag *d)
{
    size_t n = 1;
    for (size_t i = 0; i < d->srclen; i++)
        n += d->src[i] == '\n';
    if (n > INT32_MAX)
        n = INT32_MAX;
    d->line_start = malloc(n * sizeof *d->line_start);
    if (!d->line_start)
        die("out of memory");
    d->line_start[0] = 0;
    d->nlines = 1;
    for (size_t i = 0; i < d->srclen && (size_t)d->nlines < n; i++)
        if (d->src[i] == '\n')
            d->line_start[d->nlines++] = i + 1;
}

/* Finds line `line` (1-based) of the source; sets *len to its length. */
static const char *diag_line(Diag *d, int line, size_t *len)
{
    if (!d->line_start)
        diag_index_lines(d);
    const char *end = d->src + d->srclen;
    const char *p = line <= d->nlines ? d->src + d->line_start[line - 1] : end;
    const char *e = line < d->nlines ? d->src + d->line_start[line] - 1 : end;
    if (e > p && e[-1] == '\r')
        e--; /* CRLF */
    *len = (size_t)(e - p);
    return p;
}

/* Longest source line quoted whole; a longer one is shown as this many
 * bytes around the caret, so a megabyte line cannot flood the terminal. */
enum { QUOTE_MAX = 160 };

/* Quotes the source line and underlines loc: a caret, then tildes. Tabs
 * are kept in the indent so the caret lines up however tabs render. */
static void diag_quote(Diag *d, FILE *out, Loc loc)
{
    if (!d->src || loc.line < 1)
        return;
    size_t len;
    const char *s = diag_line(d, loc.line, &len);
    size_t col = loc.col < 1 ? 1 : (size_t)loc.col;
    size_t from = 0, to = len;
    if (len > QUOTE_MAX) {
        from = col - 1 > QUOTE_MAX / 4 ? col - 1 - QUOTE_MAX / 4 : 0;
        to = from + QUOTE_MAX < len ? from + QUOTE_MAX : len;
        from = to - QUOTE_MAX;
    }
    fputs(from > 0 ? " ..." : " ", out);
    for (size_t i = from; i < to; i++) {
        unsigned char c = (unsigned char)s[i];
        fputc(c < 32 && c != '\t' ? '?' : c, out);
    }
    fputs(to < len ? "...\n " : "\n ", out);
    if (from > 0)
        fputs("   ", out);
    for (size_t i = from + 1; i < col; i++)
        fputc(i - 1 < len && s[i - 1] == '\t' ? '\t' : ' ', out);
    fputc('^', out);
    for (size_t i = col + 1; loc.end_col > 0 && i < (size_t)loc.end_col && i - 1 < to; i++)
        fputc('~', out);
    fputc('\n', out);
}

static void diag_emit(Diag *d, Loc loc, const char *kind, const char *fmt, va_list ap)
{
    FILE *out = diag_open(d, loc, strcmp(kind, "note") == 0);
    fprintf(out, "%s:%d:%d: %s: ", d->path, loc.line, loc.col, kind);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    diag_quote(d, out, loc);
    diag_close(d);
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

/* File-level diagnostics sort after the source's (they are about the
 * weights or the output, read later). */
static void diag_file(Diag *d, const char *path, const char *kind, const char *fmt, va_list ap)
{
    FILE *out = diag_open(d, (Loc){INT32_MAX, 0, 0}, false);
    fprintf(out, "%s: %s: ", path, kind);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    diag_close(d);
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
