/* parser.y: the .net grammar. Statements are lines; the grammar only
 * knows their shape, and ir.c gives ops, keys and names their meaning,
 * so that an unknown op is reported with the same care as a bad shape. */
%require "3.6"
%define api.pure full
%define api.prefix {cnnc_yy}
%define api.value.type union
%define parse.error detailed
%locations
%expect 0
%param {void *scanner}
%parse-param {ParseCtx *ctx}

%code requires {
#include "parse.h"
}

%code {
int cnnc_yylex(CNNC_YYSTYPE *lval, CNNC_YYLTYPE *lloc, void *scanner);
static void cnnc_yyerror(CNNC_YYLTYPE *lloc, void *scanner, ParseCtx *ctx, const char *msg);
/* The caret goes under the token bison stumbled on. */
#define AT(l) ((Loc){(l).first_line, (l).first_column, (l).last_column})
}

%token <Tok> IDENT "name" KEY "key=" INT "integer" FLOAT "number" DIMS "dimensions"
%token <Tok> NETWORK "network" INPUT "input" OUTPUT "output"
%token NL "end of line" COMMA ","

%nterm <Stmt *> stmt
%nterm <Attr *> attrs
%nterm <Value *> value scalar names word
%nterm <Tok> name

%%

file:
  %empty
| file line
;

line:
  NL
| stmt NL                   { parse_stmt(ctx, $1); }
| error NL                  { parse_explain(ctx, NULL); yyerrok; }
| NETWORK error NL          { parse_explain(ctx, "expected a network name, as in 'network lenet5'"); yyerrok; }
| INPUT error NL            { parse_explain(ctx, "expected 'input [NAME] CxHxW', as in 'input x 1x32x32'"); yyerrok; }
| OUTPUT error NL           { parse_explain(ctx, "expected the names of the tensors to return, as in 'output f7'"); yyerrok; }
| KEY error NL              { parse_misplaced_key(ctx, $1); yyerrok; }
| IDENT name attrs error NL { parse_explain(ctx, "expected key=value after the layer's name, as in 'conv2d c1 out=6 kernel=5'");
                              parse_stmt(ctx, parse_dropped_layer(ctx, $1, &$2)); yyerrok; }
| IDENT attrs error NL      { parse_explain(ctx, "expected a layer name or key=value, as in 'conv2d c1 out=6 kernel=5'");
                              parse_stmt(ctx, parse_dropped_layer(ctx, $1, NULL)); yyerrok; }
;

stmt:
  NETWORK name              { $$ = parse_network(ctx, $1, $2); }
| INPUT DIMS attrs          { $$ = parse_input(ctx, $1, NULL, parse_scalar(ctx, VAL_DIMS, $2), $3); }
| INPUT name DIMS attrs     { $$ = parse_input(ctx, $1, &$2, parse_scalar(ctx, VAL_DIMS, $3), $4); }
| OUTPUT names              { $$ = parse_output(ctx, $1, $2); }
| IDENT attrs               { $$ = parse_layer(ctx, $1, NULL, $2); }
| IDENT name attrs          { $$ = parse_layer(ctx, $1, &$2, $3); }
;

/* Statement words stay usable as names: a layer may be called 'output'. */
name:
  IDENT
| NETWORK
| INPUT
| OUTPUT
;

names:
  word                      { $$ = $1; }
| names word                { $$ = parse_names_append($1, $2); }
;

attrs:
  %empty                    { $$ = NULL; }
| attrs KEY value           { $$ = parse_attrs_append($1, parse_attr(ctx, $2, $3)); }
;

value:
  scalar
| value COMMA scalar        { $$ = parse_list_append(ctx, $1, $3); }
;

scalar:
  INT                       { $$ = parse_scalar(ctx, VAL_INT, $1); }
| FLOAT                     { $$ = parse_scalar(ctx, VAL_FLOAT, $1); }
| DIMS                      { $$ = parse_scalar(ctx, VAL_DIMS, $1); }
| word
;

word:
  name                      { $$ = parse_scalar(ctx, VAL_WORD, $1); }
;

%%

static void cnnc_yyerror(CNNC_YYLTYPE *lloc, void *scanner, ParseCtx *ctx, const char *msg)
{
    (void)scanner;
    parse_syntax_error(ctx, AT(*lloc), msg);
}
