/* parse.c: runs the flex scanner and bison parser over a source buffer
 * and holds the constructors their actions call. It builds statements
 * only; no name, op or key is looked up here. */
#include "parse.h"
#include "parser.h"

#include <string.h>

/* flex's reentrant interface, declared by hand so the generated header
 * (which needs YY_EXTRA_TYPE tricks) is not required here. */
typedef void *yyscan_t;
typedef struct yy_buffer_state *YY_BUFFER_STATE;
int cnnc_yylex_init_extra(ParseCtx *extra, yyscan_t *scanner);
YY_BUFFER_STATE cnnc_yy_scan_bytes(const char *bytes, int len, yyscan_t scanner);
int cnnc_yylex_destroy(yyscan_t scanner);

void parse_stmt(ParseCtx *ctx, Stmt *s)
{
    *ctx->tail = s;
    ctx->tail = &s->next;
}

/* A statement of the given kind starting at `at`. */
static Stmt *parse_new_stmt(ParseCtx *ctx, StmtKind kind, Loc at)
{
    Stmt *s = mem_alloc(ctx->mem, sizeof *s);
    s->kind = kind;
    s->loc = at;
    s->name_loc = at;
    return s;
}

Stmt *parse_network(ParseCtx *ctx, Tok kw, Tok name)
{
    Stmt *s = parse_new_stmt(ctx, STMT_NETWORK, kw.loc);
    s->name = name.text;
    s->name_loc = name.loc;
    return s;
}

static Attr *parse_reverse_attrs(Attr *a);

Stmt *parse_input(ParseCtx *ctx, Tok kw, const Tok *name, Value *dims, Attr *attrs)
{
    Stmt *s = parse_new_stmt(ctx, STMT_INPUT, kw.loc);
    if (name) {
        s->name = name->text;
        s->name_loc = name->loc;
    }
    s->dims = dims;
    s->attrs = parse_reverse_attrs(attrs);
    return s;
}

/* The _append constructors prepend, so a statement with 100,000 names
 * or keys costs linear time; the statement's constructor puts its lists
 * back in source order. */
static Value *parse_reverse_values(Value *v)
{
    Value *prev = NULL;
    while (v) {
        Value *next = v->next;
        v->next = prev;
        prev = v;
        v = next;
    }
    return prev;
}

static Attr *parse_reverse_attrs(Attr *a)
{
    Attr *prev = NULL;
    while (a) {
        Attr *next = a->next;
        a->next = prev;
        prev = a;
        a = next;
    }
    return prev;
}

Stmt *parse_output(ParseCtx *ctx, Tok kw, Value *names)
{
    Stmt *s = parse_new_stmt(ctx, STMT_OUTPUT, kw.loc);
    s->names = parse_reverse_values(names);
    return s;
}

Stmt *parse_layer(ParseCtx *ctx, Tok op, const Tok *name, Attr *attrs)
{
    Stmt *s = parse_new_stmt(ctx, STMT_LAYER, op.loc);
    s->op = op.text;
    if (name) {
        s->name = name->text;
        s->name_loc = name->loc;
    }
    s->attrs = parse_reverse_attrs(attrs);
    return s;
}

/* A layer line the parser gave up on still takes its place (and name),
 * so the next layer does not read the one before it and report a
 * mismatch that is not there. */
Stmt *parse_dropped_layer(ParseCtx *ctx, Tok op, const Tok *name)
{
    Stmt *s = parse_layer(ctx, op, name, NULL);
    s->dropped = true;
    return s;
}

Attr *parse_attr(ParseCtx *ctx, Tok key, Value *value)
{
    Attr *a = mem_alloc(ctx->mem, sizeof *a);
    a->key = key.text;
    a->loc = key.loc;
    if (value->kind == VAL_LIST)
        value->items = parse_reverse_values(value->items);
    a->value = value;
    return a;
}

Attr *parse_attrs_append(Attr *list, Attr *a)
{
    a->next = list;
    return a;
}

Value *parse_scalar(ParseCtx *ctx, ValKind kind, Tok tok)
{
    Value *v = mem_alloc(ctx->mem, sizeof *v);
    v->kind = kind;
    v->loc = tok.loc;
    v->text = tok.text;
    return v;
}

/* `a,b,c`: the first comma turns a scalar into a list of scalars. */
Value *parse_list_append(ParseCtx *ctx, Value *list, Value *item)
{
    if (list->kind != VAL_LIST) {
        Value *l = mem_alloc(ctx->mem, sizeof *l);
        l->kind = VAL_LIST;
        l->loc = list->loc;
        l->items = list;
        l->nitems = 1;
        list = l;
    }
    item->next = list->items;
    list->items = item;
    list->nitems++;
    list->loc.end_col = item->loc.end_col;
    return list;
}

Value *parse_names_append(Value *list, Value *item)
{
    item->next = list;
    return item;
}

void parse_lex_error(ParseCtx *ctx, Loc loc, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->lex_reported = true;
    /* the rest of a broken line is noise: its first error says it */
    bool line_reported = loc.line == ctx->error_line || (ctx->syntax_pending && ctx->pending_loc.line == loc.line);
    if (!line_reported)
        diag_error(ctx->diag, loc, "%s", msg);
    ctx->error_line = loc.line;
}

void parse_syntax_error(ParseCtx *ctx, Loc loc, const char *msg)
{
    if (ctx->lex_reported) {
        ctx->lex_reported = false; /* the scanner said it better */
        return;
    }
    if (strncmp(msg, "syntax error, ", 14) == 0)
        msg += 14;
    snprintf(ctx->pending_msg, sizeof ctx->pending_msg, "%s", msg);
    ctx->pending_loc = loc;
    ctx->syntax_pending = true;
}

/* Reports the held-back syntax error: bison's "unexpected X", and the
 * statement's own advice when recovery knows which statement it was. */
void parse_explain(ParseCtx *ctx, const char *advice)
{
    ctx->lex_reported = false;
    if (!ctx->syntax_pending)
        return;
    ctx->syntax_pending = false;
    ctx->error_line = ctx->pending_loc.line;
    if (!advice) {
        diag_error(ctx->diag, ctx->pending_loc, "%s", ctx->pending_msg);
        return;
    }
    char *comma = strstr(ctx->pending_msg, ", expecting");
    if (comma)
        *comma = '\0';
    diag_error(ctx->diag, ctx->pending_loc, "%s; %s", ctx->pending_msg, advice);
}

/* `conv1 = conv2d(...)` and `out=6` alone: a statement that starts with
 * key=, most often someone writing another framework's syntax. */
void parse_misplaced_key(ParseCtx *ctx, Tok key)
{
    bool pending = ctx->syntax_pending;
    ctx->lex_reported = ctx->syntax_pending = false;
    if (!pending) /* the scanner has reported this line already */
        return;
    ctx->error_line = key.loc.line;
    diag_error(ctx->diag, key.loc,
               "a statement cannot start with '%s='; a layer is 'OP [NAME] key=value ...', as in 'conv2d c1 out=6 kernel=5'",
               key.text);
}

Stmt *parse_source(Mem *m, Diag *d, const char *src, size_t len)
{
    ParseCtx ctx = {.mem = m, .diag = d, .line = 1, .col = 1, .at_line_start = true};
    ctx.tail = &ctx.first;
    if (len > (size_t)INT32_MAX - 2) {
        diag_error(d, (Loc){1, 1, 2}, "file too large (%zu bytes)", len);
        return NULL;
    }
    yyscan_t scanner;
    if (cnnc_yylex_init_extra(&ctx, &scanner))
        die("cannot create the scanner");
    cnnc_yy_scan_bytes(src, (int)len, scanner);
    cnnc_yyparse(scanner, &ctx);
    parse_explain(&ctx, NULL); /* an error bison could not recover from */
    cnnc_yylex_destroy(scanner);
    return ctx.first;
}
