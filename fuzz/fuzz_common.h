/* fuzz_common.h: what the libFuzzer targets share. A target must never
 * see cnnc exit or crash, so every check here aborts with a message: the
 * fuzzer then keeps the input as a finding. */
#ifndef CNNC_FUZZ_COMMON_H
#define CNNC_FUZZ_COMMON_H

#include "cnnc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Above these the targets skip code generation: a model the fuzzer made
 * with millions of weights tells us nothing new and only slows it down. */
#define FUZZ_MAX_WEIGHT_FLOATS (1 << 16)
#define FUZZ_MAX_LAYERS 2000

/* An invariant of the compiler failed: report and abort, so libFuzzer
 * records the input. */
#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "fuzz: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, \
                    #cond);                                                              \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* The kind of diagnostic a line of stderr starts ("error", "warning",
 * "note"), or NULL for quoted source and carets, which start with a blank. */
static inline const char *fuzz_line_kind(const char *line, size_t len)
{
    static const char *const kinds[] = {"error", "warning", "note"};
    if (len == 0 || line[0] == ' ')
        return NULL;
    for (size_t j = 0; j + 2 < len; j++) {
        if (line[j] != ':' || line[j + 1] != ' ')
            continue;
        for (int k = 0; k < 3; k++) {
            size_t n = strlen(kinds[k]);
            if (j + 2 + n < len && memcmp(line + j + 2, kinds[k], n) == 0 && line[j + 2 + n] == ':')
                return kinds[k];
        }
    }
    return NULL;
}

/* Counts the diagnostics of one kind in captured stderr: every error the
 * compiler counted must have been shown to the user. */
static inline int fuzz_count_kind(const char *text, size_t len, const char *kind)
{
    int n = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *k = fuzz_line_kind(text + i, end - i);
        n += k && strcmp(k, kind) == 0;
        i = end + 1;
    }
    return n;
}

/* Parens and braces of generated C, outside comments, must pair up: a
 * line cut short by a fixed buffer shows up here. */
static inline void fuzz_check_balanced(const char *text, size_t len)
{
    long paren = 0, brace = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '/' && i + 1 < len && text[i + 1] == '*') {
            const char *end = NULL;
            for (size_t j = i + 2; j + 1 < len && !end; j++)
                if (text[j] == '*' && text[j + 1] == '/')
                    end = text + j;
            FUZZ_CHECK(end != NULL); /* an unterminated comment */
            i = (size_t)(end - text) + 1;
            continue;
        }
        paren += (text[i] == '(') - (text[i] == ')');
        brace += (text[i] == '{') - (text[i] == '}');
        FUZZ_CHECK(paren >= 0 && brace >= 0);
    }
    FUZZ_CHECK(paren == 0 && brace == 0);
}

/* What a successful analysis promises the back end; checked after every
 * model that compiles. */
static inline void fuzz_check_net(const Net *net)
{
    FUZZ_CHECK(net && net->input && net->nlayers >= 2 && net->noutputs >= 1);
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        FUZZ_CHECK(l->ok && l->index == i);
        FUZZ_CHECK(l->shape.c >= 1 && l->shape.h >= 1 && l->shape.w >= 1);
        FUZZ_CHECK(l->params >= 0 && l->macs >= 0);
        for (int j = 0; j < l->nin; j++)
            FUZZ_CHECK(l->in[j]->index < i);
    }
    FUZZ_CHECK(net->bound_bytes >= 0 && net->arena_bytes >= 0);
    if (net->nbufs > FUZZ_MAX_LAYERS)
        return;
    /* Buffers some layer still names live in the arena (the others became
     * the caller's outputs): inside it, aligned, and never sharing bytes
     * with a buffer live at the same step. */
    bool arena[FUZZ_MAX_LAYERS] = {false};
    for (int i = 1; i < net->nlayers; i++)
        if (net->layers[i]->buf >= 0)
            arena[net->layers[i]->buf] = true;
    for (int a = 0; a < net->nbufs; a++) {
        if (!arena[a])
            continue;
        FUZZ_CHECK(net->buf_offset[a] >= 0 && net->buf_offset[a] % 4 == 0);
        FUZZ_CHECK(net->buf_first[a] <= net->buf_last[a] && net->buf_last[a] < net->nlayers);
        FUZZ_CHECK(net->buf_offset[a] + net->buf_bytes[a] <= net->arena_bytes);
        for (int b = a + 1; b < net->nbufs; b++) {
            if (!arena[b])
                continue;
            bool live = net->buf_first[a] <= net->buf_last[b] && net->buf_first[b] <= net->buf_last[a];
            bool apart = net->buf_offset[a] + net->buf_bytes[a] <= net->buf_offset[b] ||
                         net->buf_offset[b] + net->buf_bytes[b] <= net->buf_offset[a];
            FUZZ_CHECK(!live || apart);
        }
    }
}

/* One compilation, as main.c runs it, with stderr captured. */
typedef struct FuzzRun {
    Mem mem;
    Diag diag;
    FILE *err;
    char *text;
    size_t len;
    Net *net; /* set when the model compiled without errors */
} FuzzRun;

/* Front end, analysis and plan over src; false when the model has errors. */
static inline bool fuzz_compile(FuzzRun *r, const char *src, size_t len)
{
    memset(r, 0, sizeof *r);
    r->err = open_memstream(&r->text, &r->len);
    FUZZ_CHECK(r->err != NULL);
    diag_init(&r->diag, "fuzz.net", src, len, r->err);
    Stmt *stmts = parse_source(&r->mem, &r->diag, src, len);
    Net *net = ir_build(&r->mem, &r->diag, stmts);
    analyze(net, &r->diag);
    if (r->diag.errors)
        return false;
    if (!stmts)
        return false; /* main.c reports the empty file itself */
    fuse(net, true);
    plan(&r->mem, net);
    fuzz_check_net(net);
    r->net = net;
    return true;
}

/* Whether the compiled model is small enough to generate code for. */
static inline bool fuzz_small(const Net *net)
{
    return net->nlayers <= FUZZ_MAX_LAYERS && net->weight_bytes / 4 <= FUZZ_MAX_WEIGHT_FLOATS &&
           net->params <= FUZZ_MAX_WEIGHT_FLOATS;
}

/* Generates C into memory and checks its shape; errors are allowed (sizes
 * the generated C cannot index), silence about them is not. */
static inline void fuzz_emit(FuzzRun *r)
{
    char *c = NULL, *h = NULL;
    size_t clen = 0, hlen = 0;
    FILE *cf = open_memstream(&c, &clen), *hf = open_memstream(&h, &hlen);
    FUZZ_CHECK(cf && hf);
    char *argv[] = {"cnnc", NULL};
    /* every unroll mode, chosen by the input so that a finding replays */
    static const int64_t budgets[3] = {0, 64, 4096};
    EmitOptions eo = {.argc = 1, .argv = argv, .weights_note = "fuzz", .header_name = "fuzz.h",
                      .unroll_budget = budgets[r->diag.srclen % 3]};
    int errors = r->diag.errors;
    emit_c(&r->mem, &r->diag, r->net, &eo, cf, hf);
    fclose(cf);
    fclose(hf);
    if (r->diag.errors == errors) {
        fuzz_check_balanced(c, clen);
        fuzz_check_balanced(h, hlen);
    }
    free(c);
    free(h);
}

/* Prints what is held, checks every counted diagnostic was printed, and
 * releases the compilation. */
static inline void fuzz_finish(FuzzRun *r)
{
    diag_flush(&r->diag);
    fclose(r->err);
    FUZZ_CHECK(fuzz_count_kind(r->text, r->len, "error") == r->diag.errors);
    FUZZ_CHECK(fuzz_count_kind(r->text, r->len, "warning") == r->diag.warnings);
    free(r->text);
    mem_free(&r->mem);
}

#endif
