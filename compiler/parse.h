/* parse.h: what the flex scanner, the bison grammar and parse.c share.
 * Not part of the compiler's interface: only the front end includes it. */
#ifndef CNNC_PARSE_H
#define CNNC_PARSE_H

#include "cnnc.h"

/* All state of one parse; the scanner and parser are reentrant and keep
 * nothing else. */
typedef struct ParseCtx {
    Mem *mem;
    Diag *diag;
    Stmt *first, **tail;
    int line, col;       /* scanner position of the next character */
    bool at_line_start;  /* no token since the last newline: EOF needs no NL */
    bool lex_reported;   /* the scanner already explained the coming error */
    bool syntax_pending; /* a syntax error awaits its explanation */
    int error_line;      /* last line with a reported error: one per line */
    Loc pending_loc;
    char pending_msg[256];
} ParseCtx;

/* Token values: the spelling and where it stands. */
typedef struct Tok {
    const char *text;
    Loc loc;
} Tok;

/* Constructors the grammar's actions call. The _append ones build lists
 * newest first; the statement (or attribute) that owns a list puts it in
 * source order. */
void parse_stmt(ParseCtx *ctx, Stmt *s);
Stmt *parse_network(ParseCtx *ctx, Tok kw, Tok name);
Stmt *parse_input(ParseCtx *ctx, Tok kw, const Tok *name, Value *dims, Attr *attrs);
Stmt *parse_output(ParseCtx *ctx, Tok kw, Value *names);
Stmt *parse_layer(ParseCtx *ctx, Tok op, const Tok *name, Attr *attrs);
Attr *parse_attr(ParseCtx *ctx, Tok key, Value *value);
Attr *parse_attrs_append(Attr *list, Attr *a);
Value *parse_scalar(ParseCtx *ctx, ValKind kind, Tok tok);
Value *parse_list_append(ParseCtx *ctx, Value *list, Value *item);
Value *parse_names_append(Value *list, Value *item);
Stmt *parse_dropped_layer(ParseCtx *ctx, Tok op, const Tok *name);

/* Syntax errors: bison's message is held back until recovery says where
 * the statement went wrong, so a specific explanation can replace it. */
void parse_syntax_error(ParseCtx *ctx, Loc loc, const char *msg);
void parse_explain(ParseCtx *ctx, const char *msg);
void parse_misplaced_key(ParseCtx *ctx, Tok key);
void parse_lex_error(ParseCtx *ctx, Loc loc, const char *fmt, ...) PRINTF(3, 4);

#endif
