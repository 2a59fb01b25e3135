/* test_parse.c: the front end. Every statement, op, key and value form of
 * language.md must parse into the statements parse.c builds, and ir.c
 * must give them the meaning the spec states. Expected values are the
 * spec's own words (defaults, auto-names) or the source text itself. */
#include "testutil.h"

/* One parse with its diagnostics kept in memory. */
typedef struct Parsed {
    Mem mem;
    Diag diag;
    Stmt *stmts;
    char *messages;
    size_t len;
} Parsed;

static Parsed *parse(const char *src)
{
    Parsed *p = calloc(1, sizeof *p);
    assert_non_null(p);
    FILE *out = open_memstream(&p->messages, &p->len);
    assert_non_null(out);
    diag_init(&p->diag, "t.net", src, strlen(src), out);
    p->stmts = parse_source(&p->mem, &p->diag, src, strlen(src));
    diag_flush(&p->diag);
    fclose(out);
    return p;
}

static void parsed_free(Parsed *p)
{
    mem_free(&p->mem);
    free(p->messages);
    free(p);
}

static int count_stmts(const Stmt *s)
{
    int n = 0;
    for (; s; s = s->next)
        n++;
    return n;
}

/* The n-th statement (0-based); fails the test when there are fewer. */
static const Stmt *nth(const Parsed *p, int n)
{
    const Stmt *s = p->stmts;
    for (int i = 0; i < n && s; i++)
        s = s->next;
    if (!s)
        fail_msg("no statement %d", n);
    return s;
}

/* The value of key `key` in a layer statement. */
static const Value *attr(const Stmt *s, const char *key)
{
    for (const Attr *a = s->attrs; a; a = a->next)
        if (strcmp(a->key, key) == 0)
            return a->value;
    fail_msg("no key '%s'", key);
    return NULL;
}

static void assert_contains(const char *text, const char *needle)
{
    if (!text || !strstr(text, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, text ? text : "(null)");
}

static void assert_loc(Loc loc, int line, int col, int end_col)
{
    assert_int_equal(loc.line, line);
    assert_int_equal(loc.col, col);
    assert_int_equal(loc.end_col, end_col);
}

/* A model that compiles without errors; fails the test otherwise. */
static Compiled *compile_ok(const char *src)
{
    Compiled *c = tu_compile(src);
    if (c->errors)
        fail_msg("unexpected errors:\n%s", c->messages);
    return c;
}

/* language.md's whole-file example, verbatim. */
static const char lenet_src[] =
    "# LeNet-5 (LeCun et al., 1998) with ReLU and max pooling\n"
    "network lenet5\n"
    "\n"
    "input  x   1x32x32              # channels x height x width, float32\n"
    "\n"
    "conv2d    c1  out=6  kernel=5    # stride=1 padding=0 dilation=1 groups=1 bias=true\n"
    "relu\n"
    "maxpool2d s2  kernel=2           # stride defaults to kernel, as in PyTorch\n"
    "conv2d    c3  out=16 kernel=5\n"
    "relu\n"
    "maxpool2d s4  kernel=2\n"
    "flatten\n"
    "linear    f5  out=120\n"
    "relu\n"
    "linear    f6  out=84\n"
    "relu\n"
    "linear    f7  out=10\n"
    "softmax\n";

static void test_parse_spec_example_statements(void **state)
{
    (void)state;
    Parsed *p = parse(lenet_src);
    assert_int_equal(p->diag.errors, 0);
    /* network, input and 13 layers; comments and blank lines leave nothing */
    assert_int_equal(count_stmts(p->stmts), 15);
    const Stmt *s = nth(p, 0);
    assert_int_equal(s->kind, STMT_NETWORK);
    assert_string_equal(s->name, "lenet5");
    assert_loc(s->loc, 2, 1, 8);
    assert_loc(s->name_loc, 2, 9, 15);
    s = nth(p, 1);
    assert_int_equal(s->kind, STMT_INPUT);
    assert_string_equal(s->name, "x");
    assert_int_equal(s->dims->kind, VAL_DIMS);
    assert_string_equal(s->dims->text, "1x32x32");
    assert_loc(s->dims->loc, 4, 12, 19);
    s = nth(p, 2);
    assert_int_equal(s->kind, STMT_LAYER);
    assert_string_equal(s->op, "conv2d");
    assert_string_equal(s->name, "c1");
    assert_loc(s->loc, 6, 1, 7);
    assert_loc(s->name_loc, 6, 11, 13);
    assert_string_equal(attr(s, "out")->text, "6");
    assert_string_equal(attr(s, "kernel")->text, "5");
    s = nth(p, 3);
    assert_string_equal(s->op, "relu");
    assert_null(s->name);
    assert_null(s->attrs);
    const char *ops[] = {"conv2d", "relu", "maxpool2d", "conv2d", "relu", "maxpool2d", "flatten",
                         "linear", "relu", "linear", "relu", "linear", "softmax"};
    for (int i = 0; i < 13; i++)
        assert_string_equal(nth(p, 2 + i)->op, ops[i]);
    parsed_free(p);
}

static void test_parse_comments_blank_lines_and_line_ends(void **state)
{
    (void)state;
    /* blank lines, blank-only lines, comment-only lines, a comment after
     * a statement, CRLF endings and a last line without a newline */
    const char src[] = "\n"
                       "# heading\n"
                       "network n   # trailing\r\n"
                       "   \t \n"
                       "\t# indented comment\n"
                       "input x 1x4x4\r\n"
                       "\r\n"
                       "relu r#no space before the comment\n"
                       "relu\tlast";
    Parsed *p = parse(src);
    assert_int_equal(p->diag.errors, 0);
    assert_int_equal(count_stmts(p->stmts), 4);
    assert_int_equal(nth(p, 0)->loc.line, 3);
    assert_int_equal(nth(p, 1)->loc.line, 6);
    assert_string_equal(nth(p, 2)->name, "r");
    assert_int_equal(nth(p, 2)->loc.line, 8);
    assert_string_equal(nth(p, 3)->name, "last");
    assert_loc(nth(p, 3)->name_loc, 9, 6, 10);
    parsed_free(p);
}

static void test_parse_empty_and_comment_only_sources(void **state)
{
    (void)state;
    Parsed *p = parse("");
    assert_null(p->stmts);
    assert_int_equal(p->diag.errors, 0);
    parsed_free(p);
    p = parse("# nothing here\n\n   \n");
    assert_null(p->stmts);
    assert_int_equal(p->diag.errors, 0);
    parsed_free(p);
}

static void test_parse_value_kinds(void **state)
{
    (void)state;
    const char src[] = "network n\n"
                       "input x 1x8x8\n"
                       "conv2d c out=6 kernel=3x5 padding=1,2,0,3 bias=false padding_mode=reflect\n"
                       "batchnorm2d b eps=1e-5\n"
                       "maxpool2d m kernel=2 padding=same\n"
                       "avgpool2d a kernel=2 padding=valid\n";
    Parsed *p = parse(src);
    assert_int_equal(p->diag.errors, 0);
    const Stmt *c = nth(p, 2);
    const Value *v = attr(c, "out");
    assert_int_equal(v->kind, VAL_INT);
    assert_loc(v->loc, 3, 14, 15);
    v = attr(c, "kernel");
    assert_int_equal(v->kind, VAL_DIMS);
    assert_string_equal(v->text, "3x5");
    assert_loc(v->loc, 3, 23, 26);
    v = attr(c, "padding");
    assert_int_equal(v->kind, VAL_LIST);
    assert_int_equal(v->nitems, 4);
    /* the list spans all four numbers; each item keeps its own place */
    assert_loc(v->loc, 3, 35, 42);
    const char *items[] = {"1", "2", "0", "3"};
    int i = 0;
    for (const Value *it = v->items; it; it = it->next, i++) {
        assert_int_equal(it->kind, VAL_INT);
        assert_string_equal(it->text, items[i]);
        assert_int_equal(it->loc.col, 35 + 2 * i);
    }
    assert_int_equal(i, 4);
    assert_int_equal(attr(c, "bias")->kind, VAL_WORD);
    assert_string_equal(attr(c, "bias")->text, "false");
    assert_string_equal(attr(c, "padding_mode")->text, "reflect");
    /* the key's location covers the word before '=' */
    assert_loc(c->attrs->loc, 3, 10, 13);
    v = attr(nth(p, 3), "eps");
    assert_int_equal(v->kind, VAL_FLOAT);
    assert_string_equal(v->text, "1e-5");
    assert_int_equal(attr(nth(p, 4), "padding")->kind, VAL_WORD);
    assert_string_equal(attr(nth(p, 4), "padding")->text, "same");
    assert_string_equal(attr(nth(p, 5), "padding")->text, "valid");
    parsed_free(p);
}

static void test_parse_number_forms(void **state)
{
    (void)state;
    /* language.md: decimal integers, and decimal or exponent floats */
    const char src[] = "leakyrelu a=1e-5 b=0.01 c=.5 d=5. e=1E+3 f=-0.5 g=-2 h=2e3 i=0 j=2.5e-1\n";
    Parsed *p = parse(src);
    assert_int_equal(p->diag.errors, 0);
    const Stmt *s = nth(p, 0);
    const struct {
        const char *key, *text;
        ValKind kind;
    } want[] = {{"a", "1e-5", VAL_FLOAT}, {"b", "0.01", VAL_FLOAT}, {"c", ".5", VAL_FLOAT},
                {"d", "5.", VAL_FLOAT},   {"e", "1E+3", VAL_FLOAT}, {"f", "-0.5", VAL_FLOAT},
                {"g", "-2", VAL_INT},     {"h", "2e3", VAL_FLOAT},  {"i", "0", VAL_INT},
                {"j", "2.5e-1", VAL_FLOAT}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const Value *v = attr(s, want[i].key);
        assert_string_equal(v->text, want[i].text);
        assert_int_equal(v->kind, want[i].kind);
    }
    parsed_free(p);
}

static void test_parse_dims_forms(void **state)
{
    (void)state;
    /* CxHxW and HxW: integers joined by x, no spaces */
    Parsed *p = parse("input 3x224x224\nconv2d c kernel=3x5 stride=1x2 dilation=2x1 padding=0x3\n");
    assert_int_equal(p->diag.errors, 0);
    assert_null(nth(p, 0)->name);
    assert_string_equal(nth(p, 0)->dims->text, "3x224x224");
    const Stmt *c = nth(p, 1);
    const char *keys[] = {"kernel", "stride", "dilation", "padding"};
    const char *texts[] = {"3x5", "1x2", "2x1", "0x3"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(attr(c, keys[i])->kind, VAL_DIMS);
        assert_string_equal(attr(c, keys[i])->text, texts[i]);
    }
    parsed_free(p);
}

static void test_parse_from_lists(void **state)
{
    (void)state;
    const char src[] = "add a from=b1b,stem_r\n"
                       "concat c from=x, y ,z\n"
                       "relu r from=a\n";
    Parsed *p = parse(src);
    assert_int_equal(p->diag.errors, 0);
    const Value *v = attr(nth(p, 0), "from");
    assert_int_equal(v->kind, VAL_LIST);
    assert_int_equal(v->nitems, 2);
    assert_string_equal(v->items->text, "b1b");
    assert_int_equal(v->items->kind, VAL_WORD);
    assert_string_equal(v->items->next->text, "stem_r");
    assert_loc(v->items->next->loc, 1, 16, 22);
    /* blanks around commas are allowed */
    v = attr(nth(p, 1), "from");
    assert_int_equal(v->nitems, 3);
    assert_string_equal(v->items->next->next->text, "z");
    v = attr(nth(p, 2), "from");
    assert_int_equal(v->kind, VAL_WORD);
    assert_string_equal(v->text, "a");
    parsed_free(p);
}

static void test_parse_dotted_names(void **state)
{
    (void)state;
    /* PyTorch state_dict keys such as features.0 */
    const char src[] = "conv2d features.0 out=64 kernel=3\n"
                       "add layer1.0.add from=layer1.0.bn2,features.0\n"
                       "output layer1.0.add features.0\n";
    Parsed *p = parse(src);
    assert_int_equal(p->diag.errors, 0);
    assert_string_equal(nth(p, 0)->name, "features.0");
    assert_loc(nth(p, 0)->name_loc, 1, 8, 18);
    const Value *v = attr(nth(p, 1), "from");
    assert_string_equal(v->items->text, "layer1.0.bn2");
    assert_string_equal(v->items->next->text, "features.0");
    const Stmt *o = nth(p, 2);
    assert_int_equal(o->kind, STMT_OUTPUT);
    assert_string_equal(o->names->text, "layer1.0.add");
    assert_string_equal(o->names->next->text, "features.0");
    assert_null(o->names->next->next);
    parsed_free(p);
}

static void test_parse_statement_words_as_names(void **state)
{
    (void)state;
    /* a layer may be called 'output' or 'input', and output may name it */
    const char src[] = "network n\ninput x 1x4x4\nrelu output\nrelu input from=output\nrelu network\n"
                       "output output input network\n";
    Compiled *c = compile_ok(src);
    assert_int_equal(tu_layer(c, "output")->op, OP_RELU);
    assert_ptr_equal(tu_layer(c, "input")->in[0], tu_layer(c, "output"));
    assert_int_equal(c->net->noutputs, 3);
    assert_string_equal(c->net->outputs[0]->name, "output");
    assert_string_equal(c->net->outputs[2]->name, "network");
    tu_free(c);
}

static void test_parse_key_spacing(void **state)
{
    (void)state;
    /* blanks may stand before and after '=' and between tokens */
    Compiled *c = compile_ok("network n\ninput x 1x8x8\nconv2d\tc  out =6 kernel= 3\t stride\t=2\n");
    Layer *l = tu_layer(c, "c");
    assert_int_equal(l->out, 6);
    assert_int_equal(l->kernel[0], 3);
    assert_int_equal(l->stride[1], 2);
    assert_loc(l->key_loc[KEY_OUT], 3, 11, 14);
    tu_free(c);
}

static void test_parse_output_statement(void **state)
{
    (void)state;
    Parsed *p = parse("output a b.c d\n");
    const Stmt *s = nth(p, 0);
    assert_int_equal(s->kind, STMT_OUTPUT);
    int n = 0;
    const char *names[] = {"a", "b.c", "d"};
    for (const Value *v = s->names; v; v = v->next, n++)
        assert_string_equal(v->text, names[n]);
    assert_int_equal(n, 3);
    parsed_free(p);
}

static void test_parse_recovers_after_syntax_errors(void **state)
{
    (void)state;
    /* a broken line is reported once; a broken layer line keeps its
     * place and name (dropped), and the lines after it parse */
    const char src[] = "network n\n"
                       "conv2d c1 c2 out=4\n"
                       "input x 1x4x4\n"
                       "relu r @ # $\n"
                       "relu s\n";
    Parsed *p = parse(src);
    assert_int_equal(p->diag.errors, 2);
    assert_int_equal(count_stmts(p->stmts), 5);
    assert_true(nth(p, 1)->dropped);
    assert_string_equal(nth(p, 1)->name, "c1");
    assert_true(nth(p, 3)->dropped);
    assert_string_equal(nth(p, 3)->name, "r");
    assert_false(nth(p, 4)->dropped);
    assert_string_equal(nth(p, 4)->name, "s");
    assert_contains(p->messages, "t.net:2:11: error: unexpected name; expected key=value after the layer's name");
    assert_contains(p->messages, "t.net:4:8: error: unexpected character '@'");
    parsed_free(p);
}

static void test_parse_one_error_per_line(void **state)
{
    (void)state;
    /* the first error of a line says it; what follows on it is noise */
    const char src[] = "relu a=1.2.3 b=3n c=@\n"
                       "conv2d c1 c2 @ ( )\n"
                       "relu d=( ) e=1.2.3\n";
    Parsed *p = parse(src);
    assert_int_equal(p->diag.errors, 3);
    assert_contains(p->messages, "t.net:1:8: error: malformed number '1.2.3'");
    assert_contains(p->messages, "t.net:2:11: error: unexpected name");
    assert_contains(p->messages, "t.net:3:8: error: unexpected character '('");
    parsed_free(p);
}

static void test_parse_misplaced_key(void **state)
{
    (void)state;
    /* other frameworks' syntax, and a key= left on a line of its own */
    const char src[] = "c1 = conv2d(x, out=16, kernel=3)\n"
                       "out=3\n"
                       "x = (\n";
    Parsed *p = parse(src);
    assert_int_equal(p->diag.errors, 3);
    assert_contains(p->messages, "t.net:1:1: error: a statement cannot start with 'c1='; a layer is 'OP [NAME] key=value ...'");
    assert_contains(p->messages, "t.net:2:1: error: a statement cannot start with 'out='");
    assert_contains(p->messages, "t.net:3:5: error: unexpected character '('");
    assert_int_equal(count_stmts(p->stmts), 0);
    parsed_free(p);
}

static void test_parse_lexical_errors(void **state)
{
    (void)state;
    const char src[] = "relu a=1.2.3\n"
                       "relu b=3n\n"
                       "relu c=\xff\n"
                       "relu d=1e5x\n"
                       "9lives\n";
    Parsed *p = parse(src);
    assert_int_equal(p->diag.errors, 5);
    assert_contains(p->messages, "t.net:1:8: error: malformed number '1.2.3'; numbers are like 3, 0.5, 1e-5");
    assert_contains(p->messages, "t.net:2:8: error: malformed number '3n'");
    assert_contains(p->messages, "t.net:3:8: error: unexpected byte 0xff; a .net file is plain text");
    assert_contains(p->messages, "t.net:4:8: error: malformed number '1e5x'");
    assert_contains(p->messages, "t.net:5:1: error: malformed number '9lives'");
    parsed_free(p);
}

/* Every op of language.md's table by its name, with only its required keys. */
static void test_parse_every_op(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        OpKind op;
    } ops[] = {
        {"conv2d l out=4 kernel=1", OP_CONV2D},
        {"maxpool2d l kernel=1", OP_MAXPOOL2D},
        {"minpool2d l kernel=1", OP_MINPOOL2D},
        {"avgpool2d l kernel=1", OP_AVGPOOL2D},
        {"sumpool2d l kernel=1", OP_SUMPOOL2D},
        {"globalavgpool2d l", OP_GLOBALAVGPOOL2D},
        {"globalmaxpool2d l", OP_GLOBALMAXPOOL2D},
        {"batchnorm2d l", OP_BATCHNORM2D},
        {"relu l", OP_RELU},
        {"relu6 l", OP_RELU6},
        {"sigmoid l", OP_SIGMOID},
        {"tanh l", OP_TANH},
        {"hardswish l", OP_HARDSWISH},
        {"leakyrelu l", OP_LEAKYRELU},
        {"softmax l", OP_SOFTMAX},
        {"dropout l", OP_DROPOUT},
        {"flatten l", OP_FLATTEN},
        {"add l from=x,x", OP_ADD},
        {"concat l from=x,x", OP_CONCAT},
        {"mul l from=x,x", OP_MUL},
        {"silu l", OP_SILU},
        {"gelu l", OP_GELU},
        {"elu l", OP_ELU},
        {"prelu l", OP_PRELU},
        {"hardtanh l", OP_HARDTANH},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        char src[128];
        snprintf(src, sizeof src, "network n\ninput x 2x3x3\n%s\n", ops[i].line);
        Compiled *c = compile_ok(src);
        assert_int_equal(tu_layer(c, "l")->op, ops[i].op);
        assert_string_equal(ir_op_name(ops[i].op), strtok(src + strlen("network n\ninput x 2x3x3\n"), " "));
        tu_free(c);
    }
    /* linear needs a flattened input */
    Compiled *c = compile_ok("network n\ninput x 8x1x1\nlinear l out=2\n");
    assert_int_equal(tu_layer(c, "l")->op, OP_LINEAR);
    tu_free(c);
}

static void test_parse_conv_keys(void **state)
{
    (void)state;
    const char src[] = "network n\ninput x 4x16x16\n"
                       "conv2d a out=8 kernel=3 stride=2 padding=1 dilation=2 groups=2 bias=false "
                       "padding_mode=circular from=x\n"
                       "conv2d b out=8 kernel=3x5 stride=1x2 padding=1x2 dilation=2x1 from=x\n"
                       "conv2d c out=8 kernel=3 padding=1,2,0,3 padding_mode=replicate from=x\n"
                       "conv2d d out=8 kernel=3 padding=same padding_mode=reflect from=x\n"
                       "conv2d e out=8 kernel=3 padding=valid padding_mode=zeros from=x\n"
                       "concat f from=a,b\n";
    Compiled *c = tu_compile(src);
    /* b, c, d, e have different shapes from a; only the keys matter here */
    Layer *a = tu_layer(c, "a");
    assert_int_equal(a->out, 8);
    assert_int_equal(a->kernel[0], 3);
    assert_int_equal(a->kernel[1], 3);
    assert_int_equal(a->stride[0], 2);
    assert_int_equal(a->stride[1], 2);
    assert_int_equal(a->pad_rule, PAD_EXPLICIT);
    for (int i = 0; i < 4; i++)
        assert_int_equal(a->pad[i], 1);
    assert_int_equal(a->dilation[0], 2);
    assert_int_equal(a->dilation[1], 2);
    assert_int_equal(a->groups, 2);
    assert_false(a->bias);
    assert_int_equal(a->pad_mode, PM_CIRCULAR);
    Layer *b = tu_layer(c, "b");
    assert_int_equal(b->kernel[0], 3);
    assert_int_equal(b->kernel[1], 5);
    assert_int_equal(b->stride[0], 1);
    assert_int_equal(b->stride[1], 2);
    assert_int_equal(b->pad[0], 1); /* HxW: H pair, then W pair */
    assert_int_equal(b->pad[1], 1);
    assert_int_equal(b->pad[2], 2);
    assert_int_equal(b->pad[3], 2);
    assert_int_equal(b->dilation[0], 2);
    assert_int_equal(b->dilation[1], 1);
    Layer *l = tu_layer(c, "c");
    /* top,bottom,left,right */
    assert_int_equal(l->pad[0], 1);
    assert_int_equal(l->pad[1], 2);
    assert_int_equal(l->pad[2], 0);
    assert_int_equal(l->pad[3], 3);
    assert_int_equal(l->pad_mode, PM_REPLICATE);
    assert_int_equal(tu_layer(c, "d")->pad_rule, PAD_SAME);
    assert_int_equal(tu_layer(c, "d")->pad_mode, PM_REFLECT);
    assert_int_equal(tu_layer(c, "e")->pad_rule, PAD_VALID);
    assert_int_equal(tu_layer(c, "e")->pad_mode, PM_ZEROS);
    /* the only error is the concat of mismatched shapes */
    assert_int_equal(c->errors, 1);
    assert_contains(c->messages, "concat needs equal H and W");
    tu_free(c);
}

static void test_parse_conv_defaults(void **state)
{
    (void)state;
    /* language.md: stride=1 padding=0 dilation=1 groups=1 bias=true padding_mode=zeros */
    Compiled *c = compile_ok("network n\ninput x 1x8x8\nconv2d c out=2 kernel=3\n");
    Layer *l = tu_layer(c, "c");
    assert_int_equal(l->stride[0], 1);
    assert_int_equal(l->stride[1], 1);
    assert_int_equal(l->dilation[0], 1);
    assert_int_equal(l->dilation[1], 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(l->pad[i], 0);
    assert_int_equal(l->pad_rule, PAD_EXPLICIT);
    assert_int_equal(l->groups, 1);
    assert_true(l->bias);
    assert_int_equal(l->pad_mode, PM_ZEROS);
    assert_int_equal(l->given, (1u << KEY_OUT) | (1u << KEY_KERNEL));
    tu_free(c);
}

static void test_parse_pool_keys_and_defaults(void **state)
{
    (void)state;
    const char src[] = "network n\ninput x 1x12x12\n"
                       "maxpool2d a kernel=2 from=x\n"
                       "maxpool2d b kernel=2x3 from=x\n"
                       "maxpool2d c kernel=3 stride=1 padding=1 dilation=2 ceil_mode=true from=x\n"
                       "minpool2d d kernel=2 ceil_mode=false from=x\n"
                       "avgpool2d e kernel=3 stride=2 padding=1 ceil_mode=true count_include_pad=false from=x\n"
                       "avgpool2d f kernel=2 from=x\n"
                       "sumpool2d g kernel=2 stride=1 padding=same from=x\n"
                       "output a b c d e f g\n";
    Compiled *c = compile_ok(src);
    /* stride defaults to kernel, as in PyTorch, also for HxW */
    Layer *l = tu_layer(c, "a");
    assert_int_equal(l->stride[0], 2);
    assert_int_equal(l->stride[1], 2);
    assert_false(l->ceil_mode);
    l = tu_layer(c, "b");
    assert_int_equal(l->stride[0], 2);
    assert_int_equal(l->stride[1], 3);
    l = tu_layer(c, "c");
    assert_int_equal(l->stride[0], 1);
    assert_int_equal(l->dilation[1], 2);
    assert_true(l->ceil_mode);
    assert_false(tu_layer(c, "d")->ceil_mode);
    l = tu_layer(c, "e");
    assert_true(l->ceil_mode);
    assert_false(l->count_include_pad);
    assert_true(tu_layer(c, "f")->count_include_pad); /* default true */
    assert_int_equal(tu_layer(c, "g")->pad_rule, PAD_SAME);
    assert_int_equal(tu_layer(c, "g")->stride[0], 1);
    tu_free(c);
}

static void test_parse_scalar_keys(void **state)
{
    (void)state;
    const char src[] = "network n\ninput x 2x4x4\n"
                       "batchnorm2d a\n"
                       "batchnorm2d b eps=1e-3\n"
                       "leakyrelu c\n"
                       "leakyrelu d slope=0.2\n"
                       "dropout e\n"
                       "dropout f p=0.25\n"
                       "dropout g p=1\n"
                       "linear h out=3 bias=false from=x\n"
                       "output g\n";
    Compiled *c = tu_compile(src);
    /* h reads an unflattened tensor: that error is not this test's concern */
    assert_true(tu_layer(c, "a")->eps == 1e-5);
    assert_true(tu_layer(c, "b")->eps == 1e-3);
    assert_true(tu_layer(c, "c")->slope == 0.01);
    assert_true(tu_layer(c, "d")->slope == 0.2);
    assert_true(tu_layer(c, "e")->p == 0.5);
    assert_true(tu_layer(c, "f")->p == 0.25);
    assert_true(tu_layer(c, "g")->p == 1.0); /* an integer is a number too */
    assert_int_equal(tu_layer(c, "h")->out, 3);
    assert_false(tu_layer(c, "h")->bias);
    assert_int_equal(c->errors, 1);
    tu_free(c);
}

static void test_parse_auto_names(void **state)
{
    (void)state;
    /* <op>_<n>, n counting that op from 1 (language.md: relu_3). cnnc
     * counts every layer of the op, named or not: the spec does not say
     * whether named layers count; the lenet5 example has none. */
    const char src[] = "network n\ninput 1x8x8\nrelu\nconv2d out=1 kernel=1\nrelu\nrelu mine\nrelu\ndropout\n";
    Compiled *c = compile_ok(src);
    const char *names[] = {"input", "relu_1", "conv2d_1", "relu_2", "mine", "relu_4", "dropout_1"};
    assert_int_equal(c->net->nlayers, 7);
    for (int i = 0; i < 7; i++)
        assert_string_equal(c->net->layers[i]->name, names[i]);
    /* an unnamed input is called 'input' */
    assert_ptr_equal(c->net->input, c->net->layers[0]);
    tu_free(c);
}

static void test_parse_wiring_previous_and_from(void **state)
{
    (void)state;
    /* language.md's residual example */
    const char src[] = "network n\ninput x 3x8x8\n"
                       "conv2d  stem   out=16 kernel=3 padding=1\n"
                       "relu    stem_r\n"
                       "conv2d  b1a    out=16 kernel=3 padding=1\n"
                       "relu\n"
                       "conv2d  b1b    out=16 kernel=3 padding=1\n"
                       "add     b1     from=b1b,stem_r\n"
                       "relu\n";
    Compiled *c = compile_ok(src);
    Layer *stem_r = tu_layer(c, "stem_r"), *b1 = tu_layer(c, "b1");
    assert_ptr_equal(tu_layer(c, "stem")->in[0], tu_layer(c, "x"));
    assert_ptr_equal(tu_layer(c, "b1a")->in[0], stem_r);
    assert_ptr_equal(tu_layer(c, "b1b")->in[0], tu_layer(c, "relu_2"));
    assert_int_equal(b1->nin, 2);
    assert_ptr_equal(b1->in[0], tu_layer(c, "b1b"));
    assert_ptr_equal(b1->in[1], stem_r);
    assert_loc(b1->in_loc[1], 8, 25, 31);
    /* stem_r feeds b1a and the add, in schedule order */
    assert_int_equal(stem_r->nusers, 2);
    assert_ptr_equal(stem_r->users[0], tu_layer(c, "b1a"));
    assert_ptr_equal(stem_r->users[1], b1);
    /* the default output is the last layer */
    assert_int_equal(c->net->noutputs, 1);
    assert_string_equal(c->net->outputs[0]->name, "relu_3");
    assert_true(c->net->outputs[0]->is_output);
    assert_int_equal(c->warnings, 0);
    tu_free(c);
}

static void test_parse_multi_input_from(void **state)
{
    (void)state;
    /* from= with three names, one of them used twice */
    Compiled *c = compile_ok("network n\ninput x 2x4x4\nrelu a\nrelu b from=x\nconcat c from=a,b,a\n"
                             "add d from=c,c,c\n");
    Layer *l = tu_layer(c, "c");
    assert_int_equal(l->nin, 3);
    assert_ptr_equal(l->in[2], tu_layer(c, "a"));
    assert_int_equal(tu_layer(c, "d")->nin, 3);
    tu_free(c);
}

static void test_parse_explicit_outputs(void **state)
{
    (void)state;
    Compiled *c = compile_ok("network n\ninput x 1x4x4\nrelu a\nrelu b\nsigmoid c from=a\noutput c b\n");
    assert_int_equal(c->net->noutputs, 2);
    assert_string_equal(c->net->outputs[0]->name, "c"); /* in the order given */
    assert_string_equal(c->net->outputs[1]->name, "b");
    assert_true(tu_layer(c, "b")->is_output);
    assert_false(tu_layer(c, "a")->is_output);
    tu_free(c);
}

static void test_parse_unused_tensor_warning(void **state)
{
    (void)state;
    /* a tensor nobody reads and that is not an output is worth a warning */
    Compiled *c = tu_compile("network n\ninput x 1x4x4\nrelu a\nrelu b from=x\n");
    assert_int_equal(c->errors, 0);
    assert_int_equal(c->warnings, 1);
    assert_contains(c->messages, "t.net:3:6: warning: the output of 'a' is never used");
    tu_free(c);
}

static void test_parse_layer_locations(void **state)
{
    (void)state;
    Compiled *c = compile_ok("network n\ninput x 1x4x4\n  relu   r\nrelu\n");
    Layer *r = tu_layer(c, "r");
    assert_loc(r->loc, 3, 3, 7);
    assert_loc(r->name_loc, 3, 10, 11);
    /* unnamed: the name's place is the op word */
    Layer *u = tu_layer(c, "relu_2");
    assert_loc(u->name_loc, 4, 1, 5);
    assert_loc(u->in_loc[0], 4, 1, 5);
    tu_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_spec_example_statements),
        cmocka_unit_test(test_parse_comments_blank_lines_and_line_ends),
        cmocka_unit_test(test_parse_empty_and_comment_only_sources),
        cmocka_unit_test(test_parse_value_kinds),
        cmocka_unit_test(test_parse_number_forms),
        cmocka_unit_test(test_parse_dims_forms),
        cmocka_unit_test(test_parse_from_lists),
        cmocka_unit_test(test_parse_dotted_names),
        cmocka_unit_test(test_parse_statement_words_as_names),
        cmocka_unit_test(test_parse_key_spacing),
        cmocka_unit_test(test_parse_output_statement),
        cmocka_unit_test(test_parse_recovers_after_syntax_errors),
        cmocka_unit_test(test_parse_one_error_per_line),
        cmocka_unit_test(test_parse_misplaced_key),
        cmocka_unit_test(test_parse_lexical_errors),
        cmocka_unit_test(test_parse_every_op),
        cmocka_unit_test(test_parse_conv_keys),
        cmocka_unit_test(test_parse_conv_defaults),
        cmocka_unit_test(test_parse_pool_keys_and_defaults),
        cmocka_unit_test(test_parse_scalar_keys),
        cmocka_unit_test(test_parse_auto_names),
        cmocka_unit_test(test_parse_wiring_previous_and_from),
        cmocka_unit_test(test_parse_multi_input_from),
        cmocka_unit_test(test_parse_explicit_outputs),
        cmocka_unit_test(test_parse_unused_tensor_warning),
        cmocka_unit_test(test_parse_layer_locations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
