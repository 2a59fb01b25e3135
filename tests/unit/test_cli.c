/* test_cli.c: build/cnnc as users and tools run it (cli.md): exit status
 * 0/1/2, diagnostics on stderr only, --check, --help, --version, and the
 * text and JSON reports. The JSON report is parsed here to check that it
 * has exactly the keys of cli.md's schema in the right places. */
#include "testutil.h"

#include <ctype.h>
#include <unistd.h>

/* ---- running cnnc ---- */

/* A scratch directory for models written by the tests and for stderr. */
typedef struct Scratch {
    char dir[64];
} Scratch;

static int scratch_setup(void **state)
{
    Scratch *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    snprintf(s->dir, sizeof s->dir, "/tmp/cnnc_cli_XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    *state = s;
    return 0;
}

static int scratch_teardown(void **state)
{
    Scratch *s = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s->dir);
    int rc = system(cmd);
    free(s);
    return rc == 0 ? 0 : -1;
}

/* Writes a model into the scratch directory; returns its path. */
static const char *write_model(Scratch *s, const char *name, const char *src)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(src, f);
    fclose(f);
    return path;
}

/* What one run of cnnc did. */
typedef struct Run {
    int status;
    char *out, *err;
} Run;

/* Runs build/cnnc with `args` from the repository root. */
static Run cnnc(Scratch *s, const char *args)
{
    char errpath[128], cmd[1024];
    snprintf(errpath, sizeof errpath, "%s/stderr", s->dir);
    snprintf(cmd, sizeof cmd, "build/cnnc %s 2>%s", args, errpath);
    Run r;
    r.status = tu_run(cmd, &r.out);
    r.err = tu_read_file(errpath, NULL);
    return r;
}

static void run_free(Run *r)
{
    free(r->out);
    free(r->err);
}

static void assert_contains(const char *text, const char *needle)
{
    if (!text || !strstr(text, needle))
        fail_msg("expected \"%s\" in:\n%s", needle, text ? text : "(null)");
}

/* ---- a minimal JSON reader: enough to check the report's structure ---- */

typedef enum { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT } JKind;

typedef struct JValue JValue;
struct JValue {
    JKind kind;
    char *text;   /* J_NUMBER: its spelling; J_STRING: its contents */
    char **keys;  /* J_OBJECT */
    JValue **items; /* J_ARRAY items, J_OBJECT values */
    int n;
};

typedef struct JParser {
    const char *p;
    bool failed;
} JParser;

static void j_free(JValue *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++) {
        j_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->text);
    free(v);
}

static void j_space(JParser *j)
{
    while (isspace((unsigned char)*j->p))
        j->p++;
}

static JValue *j_value(JParser *j);

/* A string without escapes other than \" and \\ (all the report needs). */
static char *j_string(JParser *j)
{
    if (*j->p != '"') {
        j->failed = true;
        return NULL;
    }
    const char *start = ++j->p;
    while (*j->p && *j->p != '"')
        j->p += *j->p == '\\' && j->p[1] ? 2 : 1;
    if (*j->p != '"') {
        j->failed = true;
        return NULL;
    }
    char *s = strndup(start, (size_t)(j->p - start));
    j->p++;
    return s;
}

static void j_push(JValue *v, char *key, JValue *item)
{
    v->items = realloc(v->items, (size_t)(v->n + 1) * sizeof *v->items);
    assert_non_null(v->items);
    if (v->kind == J_OBJECT) {
        v->keys = realloc(v->keys, (size_t)(v->n + 1) * sizeof *v->keys);
        assert_non_null(v->keys);
        v->keys[v->n] = key;
    }
    v->items[v->n++] = item;
}

/* An array or object: items separated by commas up to `close`. */
static JValue *j_container(JParser *j, JKind kind, char close)
{
    JValue *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->kind = kind;
    j->p++;
    j_space(j);
    if (*j->p == close) {
        j->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        j_space(j);
        if (kind == J_OBJECT) {
            key = j_string(j);
            j_space(j);
            if (j->failed || *j->p != ':') {
                free(key);
                j->failed = true;
                return v;
            }
            j->p++;
        }
        JValue *item = j_value(j);
        j_push(v, key, item);
        if (j->failed)
            return v;
        j_space(j);
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p == close) {
            j->p++;
            return v;
        }
        j->failed = true;
        return v;
    }
}

static JValue *j_value(JParser *j)
{
    j_space(j);
    if (*j->p == '{')
        return j_container(j, J_OBJECT, '}');
    if (*j->p == '[')
        return j_container(j, J_ARRAY, ']');
    JValue *v = calloc(1, sizeof *v);
    assert_non_null(v);
    if (*j->p == '"') {
        v->kind = J_STRING;
        v->text = j_string(j);
    } else if (strncmp(j->p, "null", 4) == 0) {
        v->kind = J_NULL;
        j->p += 4;
    } else if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "false", 5) == 0) {
        v->kind = J_BOOL;
        j->p += *j->p == 't' ? 4 : 5;
    } else if (*j->p == '-' || isdigit((unsigned char)*j->p)) {
        /* JSON's number grammar: -?int frac? exp? */
        const char *start = j->p;
        if (*j->p == '-')
            j->p++;
        if (!isdigit((unsigned char)*j->p) || (*j->p == '0' && isdigit((unsigned char)j->p[1])))
            j->failed = true;
        while (isdigit((unsigned char)*j->p))
            j->p++;
        if (*j->p == '.') {
            j->p++;
            if (!isdigit((unsigned char)*j->p))
                j->failed = true;
            while (isdigit((unsigned char)*j->p))
                j->p++;
        }
        v->kind = J_NUMBER;
        v->text = strndup(start, (size_t)(j->p - start));
    } else
        j->failed = true;
    return v;
}

/* Parses a whole document; fails the test if it is not valid JSON. */
static JValue *j_parse(const char *text)
{
    JParser j = {text, false};
    JValue *v = j_value(&j);
    j_space(&j);
    if (j.failed || *j.p)
        fail_msg("not JSON near '%.40s' in:\n%s", j.p, text);
    return v;
}

static JValue *j_get(const JValue *obj, const char *key)
{
    assert_int_equal(obj->kind, J_OBJECT);
    for (int i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    fail_msg("no key '%s'", key);
    return NULL;
}

/* The object has exactly these keys, in this order. */
static void assert_keys(const JValue *obj, const char *const *keys, int n, const char *where)
{
    if (obj->kind != J_OBJECT)
        fail_msg("%s is not an object", where);
    bool ok = obj->n == n;
    for (int i = 0; ok && i < n; i++)
        ok = strcmp(obj->keys[i], keys[i]) == 0;
    if (!ok) {
        char got[512] = "";
        for (int i = 0; i < obj->n; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s ", obj->keys[i]);
        fail_msg("%s has keys: %s", where, got);
    }
}

/* An array of n numbers. */
static void assert_numbers(const JValue *v, int n)
{
    assert_int_equal(v->kind, J_ARRAY);
    assert_int_equal(v->n, n);
    for (int i = 0; i < n; i++)
        assert_int_equal(v->items[i]->kind, J_NUMBER);
}

static long long j_int(const JValue *v)
{
    assert_int_equal(v->kind, J_NUMBER);
    return atoll(v->text);
}

/* ---- exit status and streams ---- */

static void test_cli_help(void **state)
{
    Run r = cnnc(*state, "--help");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    assert_true(strncmp(r.out, "usage: cnnc [options] MODEL.net\n", 32) == 0);
    /* every option of cli.md is explained */
    const char *opts[] = {"-o FILE.c", "-w FILE.safetensors", "--init=zeros|random[:SEED]", "--report[=text|json|svg]",
                          "--check", "--unroll=", "-MD", "-MF FILE", "--version", "--help"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        assert_contains(r.out, opts[i]);
    assert_contains(r.out, "exit status: 0 success, 1 errors in the model or weights, 2 usage error");
    run_free(&r);
}

static void test_cli_version(void **state)
{
    Run r = cnnc(*state, "--version");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "cnnc " CNNC_VERSION "\n");
    assert_string_equal(r.err, "");
    run_free(&r);
}

static void test_cli_usage_errors_exit_2(void **state)
{
    static const struct {
        const char *args, *msg;
    } cases[] = {
        {"--frobnicate models/lenet5.net", "cnnc: error: unknown option '--frobnicate'\n"},
        {"--check", "cnnc: error: no model given\n"},
        {"", "cnnc: error: no model given\n"},
        {"--check models/lenet5.net models/digits.net",
         "cnnc: error: more than one model given ('models/digits.net')\n"},
        {"--report=xml models/lenet5.net",
         "cnnc: error: unknown report format 'xml'; use --report=text, --report=json or --report=svg\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Run r = cnnc(*state, cases[i].args);
        if (r.status != 2)
            fail_msg("'cnnc %s' exited %d, expected 2", cases[i].args, r.status);
        assert_contains(r.err, cases[i].msg);
        assert_contains(r.err, "usage: cnnc [options] MODEL.net");
        assert_string_equal(r.out, "");
        run_free(&r);
    }
}

static void test_cli_check_valid_model(void **state)
{
    /* the exit status says the model is valid; nothing on stdout */
    Run r = cnnc(*state, "--check models/lenet5.net");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "");
    run_free(&r);
    /* warnings alone do not fail the check */
    r = cnnc(*state, "--check models/resnet8.net");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "");
    assert_contains(r.err, "models/resnet8.net:41:57: warning: inputs of add 'blocks.1.add' are not aligned");
    run_free(&r);
}

static void test_cli_model_errors_exit_1(void **state)
{
    Scratch *s = *state;
    const char *path = write_model(s, "bad.net", "network n\ninput x 1x8x8\nconv2d c out=4 kernel=9\n"
                                                 "relu r stride=2\nlinear l out=3\n");
    char args[256];
    /* diagnostics on stderr, in source order; no report on stdout */
    const char *flags[] = {"--check", "--report", "--report=json"};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "%s %s", flags[i], path);
        Run r = cnnc(s, args);
        assert_int_equal(r.status, 1);
        assert_string_equal(r.out, "");
        char want[512];
        snprintf(want, sizeof want,
                 "%s:3:16: error: kernel 9x9 does not fit the 1x8x8 input of 'c' padded to 8x8; use a smaller "
                 "kernel or more padding\n"
                 " conv2d c out=4 kernel=9\n"
                 "                ^~~~~~\n"
                 "%s:4:8: error: relu has no key 'stride'; it takes none but from=\n"
                 " relu r stride=2\n"
                 "        ^~~~~~\n",
                 path, path);
        assert_string_equal(r.err, want);
        run_free(&r);
    }
}

static void test_cli_missing_file_exits_1(void **state)
{
    Run r = cnnc(*state, "--check models/no_such_model.net");
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    assert_contains(r.err, "cnnc: error: cannot read 'models/no_such_model.net': No such file or directory\n");
    run_free(&r);
}

static void test_cli_empty_file_exits_1(void **state)
{
    Scratch *s = *state;
    char args[160];
    snprintf(args, sizeof args, "--check %s", write_model(s, "empty.net", ""));
    Run r = cnnc(s, args);
    assert_int_equal(r.status, 1);
    assert_contains(r.err, ":1:1: error: the file is empty; a model starts with 'network NAME'\n");
    run_free(&r);
}

/* ---- the text report ---- */

/* The column where `word` ends in the header line. */
static size_t header_end(const char *header, const char *word)
{
    const char *p = strstr(header, word);
    assert_non_null(p);
    return (size_t)(p - header) + strlen(word);
}

static void test_cli_text_report(void **state)
{
    Run r = cnnc(*state, "--report models/lenet5.net");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    /* rows of cli.md's example, in source order, with thousands separators */
    char *lines[32];
    int n = 0;
    char *save = NULL;
    for (char *l = strtok_r(r.out, "\n", &save); l && n < 32; l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    assert_int_equal(n, 1 + 14 + 4); /* header, input + 13 layers, total, arena, fusion, unroll */
    const char *header = lines[0];
    assert_true(strncmp(header, "layer", 5) == 0);
    const char *cols[] = {"op", "output", "params", "MACs", "rf", "jump", "start"};
    const char *prev = header;
    for (int i = 0; i < 7; i++) {
        const char *p = strstr(prev, cols[i]);
        if (!p)
            fail_msg("header '%s' lacks '%s' in order", header, cols[i]);
        prev = p + strlen(cols[i]);
    }
    /* params and MACs are right-aligned under their headers; words are
     * left-aligned under theirs */
    size_t params_end = header_end(header, "params"), macs_end = header_end(header, "MACs");
    size_t op_at = (size_t)(strstr(header, "op") - header), rf_at = (size_t)(strstr(header, " rf") - header) + 1;
    for (int i = 1; i <= 15; i++) {
        const char *l = lines[i];
        assert_true(strlen(l) >= macs_end);
        assert_true(isdigit((unsigned char)l[params_end - 1]));
        assert_true(l[params_end] == ' ');
        assert_true(isdigit((unsigned char)l[macs_end - 1]));
        if (i < 15) {
            assert_true(l[macs_end] == ' ');
            assert_true(l[op_at - 1] == ' ' && l[op_at] != ' ');
            assert_true(isdigit((unsigned char)l[rf_at]));
        }
        /* no trailing blanks */
        assert_true(l[strlen(l) - 1] != ' ');
    }
    assert_true(strncmp(lines[1], "x ", 2) == 0);
    assert_contains(lines[2], "c1");
    assert_contains(lines[2], "conv2d");
    assert_contains(lines[2], "6x28x28");
    assert_contains(lines[2], " 156 ");
    assert_contains(lines[2], " 117,600 ");
    assert_contains(lines[2], " 5x5 ");
    assert_contains(lines[2], " 2,2");
    assert_contains(lines[4], " 2.5,2.5");  /* s2: a half-integer start */
    assert_true(strncmp(lines[8], "flatten_1 ", 10) == 0);
    assert_true(strcmp(lines[8] + strlen(lines[8]) - 3, "  -") == 0); /* no start after flatten */
    assert_true(strncmp(lines[15], "total ", 6) == 0);
    assert_contains(lines[15], " 61,706 ");
    assert_true(strcmp(lines[15] + strlen(lines[15]) - 7, "416,520") == 0);
    /* cli.md's example line, to the byte */
    assert_string_equal(lines[16], "arena 6,304 B (layer-by-layer bound 23,520 B)   weights 246,824 B");
    /* what --no-fuse and --unroll=none would change */
    assert_true(strncmp(lines[17], "fusion on: ", 11) == 0);
    assert_contains(lines[17], "--no-fuse: arena 23,520 B");
    assert_true(strncmp(lines[18], "unroll 4,096: ", 14) == 0);
    assert_contains(lines[18], "--unroll=none: 0");
    run_free(&r);
    /* --report=text is the same as --report */
    Run t = cnnc(*state, "--report=text models/lenet5.net");
    Run d = cnnc(*state, "--report models/lenet5.net");
    assert_string_equal(t.out, d.out);
    run_free(&t);
    run_free(&d);
}

/* ---- the JSON report ---- */

static const char *const top_keys[] = {"network", "input", "layers", "outputs", "totals"};
static const char *const input_keys[] = {"name", "shape"};
static const char *const layer_keys[] = {"name",   "op",   "line", "inputs", "shape", "params",
                                         "macs", "rf", "jump", "start"};
static const char *const total_keys[] = {"params", "macs", "weight_bytes", "arena_bytes", "arena_lower_bound_bytes"};

/* Checks one report against cli.md's schema; returns the parsed document. */
static JValue *check_schema(const char *text)
{
    JValue *doc = j_parse(text);
    assert_keys(doc, top_keys, 5, "the report");
    assert_int_equal(j_get(doc, "network")->kind, J_STRING);
    JValue *in = j_get(doc, "input");
    assert_keys(in, input_keys, 2, "input");
    assert_int_equal(j_get(in, "name")->kind, J_STRING);
    assert_numbers(j_get(in, "shape"), 3);
    JValue *layers = j_get(doc, "layers");
    assert_int_equal(layers->kind, J_ARRAY);
    for (int i = 0; i < layers->n; i++) {
        JValue *l = layers->items[i];
        assert_keys(l, layer_keys, 10, "a layer");
        assert_int_equal(j_get(l, "name")->kind, J_STRING);
        assert_int_equal(j_get(l, "op")->kind, J_STRING);
        assert_int_equal(j_get(l, "line")->kind, J_NUMBER);
        JValue *ins = j_get(l, "inputs");
        assert_int_equal(ins->kind, J_ARRAY);
        assert_true(ins->n >= 1);
        for (int k = 0; k < ins->n; k++)
            assert_int_equal(ins->items[k]->kind, J_STRING);
        assert_numbers(j_get(l, "shape"), 3);
        assert_int_equal(j_get(l, "params")->kind, J_NUMBER);
        assert_int_equal(j_get(l, "macs")->kind, J_NUMBER);
        assert_numbers(j_get(l, "rf"), 2);
        /* jump and start: both arrays of two numbers, or both null */
        JValue *jump = j_get(l, "jump"), *start = j_get(l, "start");
        if (jump->kind == J_NULL)
            assert_int_equal(start->kind, J_NULL);
        else {
            assert_numbers(jump, 2);
            assert_numbers(start, 2);
        }
    }
    JValue *outs = j_get(doc, "outputs");
    assert_int_equal(outs->kind, J_ARRAY);
    assert_true(outs->n >= 1);
    JValue *totals = j_get(doc, "totals");
    assert_keys(totals, total_keys, 5, "totals");
    for (int i = 0; i < 5; i++)
        assert_int_equal(totals->items[i]->kind, J_NUMBER);
    return doc;
}

static JValue *layer_named(const JValue *doc, const char *name)
{
    const JValue *layers = j_get(doc, "layers");
    for (int i = 0; i < layers->n; i++)
        if (strcmp(j_get(layers->items[i], "name")->text, name) == 0)
            return layers->items[i];
    fail_msg("no layer '%s' in the report", name);
    return NULL;
}

static void test_cli_json_report_lenet(void **state)
{
    Run r = cnnc(*state, "--report=json models/lenet5.net");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    JValue *doc = check_schema(r.out);
    assert_string_equal(j_get(doc, "network")->text, "lenet5");
    JValue *in = j_get(doc, "input");
    assert_string_equal(j_get(in, "name")->text, "x");
    assert_int_equal(j_int(j_get(in, "shape")->items[1]), 32);
    /* every layer of the source, activations included, but not the input */
    JValue *layers = j_get(doc, "layers");
    assert_int_equal(layers->n, 13);
    JValue *c1 = layers->items[0];
    assert_string_equal(j_get(c1, "name")->text, "c1");
    assert_string_equal(j_get(c1, "op")->text, "conv2d");
    assert_int_equal(j_int(j_get(c1, "line")), 15); /* models/lenet5.net has a comment header */
    assert_string_equal(j_get(c1, "inputs")->items[0]->text, "x");
    assert_int_equal(j_int(j_get(c1, "params")), 156);
    assert_int_equal(j_int(j_get(c1, "macs")), 117600);
    assert_int_equal(j_int(j_get(c1, "rf")->items[0]), 5);
    assert_string_equal(j_get(layers->items[1], "name")->text, "relu_1");
    /* s2's start is 2.5: a half-integer JSON number */
    JValue *s2 = layer_named(doc, "s2");
    assert_string_equal(j_get(s2, "start")->items[0]->text, "2.5");
    assert_string_equal(j_get(s2, "start")->items[1]->text, "2.5");
    assert_contains(r.out, "\"start\": [2.5, 2.5]");
    /* after flatten and linear: rf is the input's size, jump/start null */
    const char *global[] = {"flatten_1", "f5", "relu_3", "f7", "softmax_1"};
    for (int i = 0; i < 5; i++) {
        JValue *l = layer_named(doc, global[i]);
        assert_int_equal(j_get(l, "jump")->kind, J_NULL);
        assert_int_equal(j_get(l, "start")->kind, J_NULL);
        assert_int_equal(j_int(j_get(l, "rf")->items[0]), 32);
        assert_int_equal(j_int(j_get(l, "rf")->items[1]), 32);
    }
    JValue *outs = j_get(doc, "outputs");
    assert_int_equal(outs->n, 1);
    assert_string_equal(outs->items[0]->text, "softmax_1");
    JValue *t = j_get(doc, "totals");
    assert_int_equal(j_int(j_get(t, "params")), 61706);
    assert_int_equal(j_int(j_get(t, "macs")), 416520);
    assert_int_equal(j_int(j_get(t, "weight_bytes")), 246824);
    assert_int_equal(j_int(j_get(t, "arena_lower_bound_bytes")), 23520);
    assert_int_equal(j_int(j_get(t, "arena_bytes")), 6304); /* cli.md's example, with fusion */
    j_free(doc);
    run_free(&r);
}

static void test_cli_json_report_branches_and_globals(void **state)
{
    /* global pooling nulls jump/start too; several inputs and outputs are
     * listed in order; a negative half start is a JSON number */
    Scratch *s = *state;
    const char *path = write_model(s, "branches.net",
                                   "network br\n"
                                   "input img 3x9x9\n"
                                   "conv2d a out=4 kernel=2 padding=1\n"
                                   "conv2d b out=4 kernel=1 padding=0,1,0,1 from=img\n"
                                   "concat c from=a,b\n"
                                   "globalavgpool2d g\n"
                                   "globalmaxpool2d h from=c\n"
                                   "add s from=g,h\n"
                                   "output s c\n");
    char args[200];
    snprintf(args, sizeof args, "--report=json %s", path);
    Run r = cnnc(s, args);
    assert_int_equal(r.status, 0);
    JValue *doc = check_schema(r.out);
    assert_string_equal(j_get(j_get(doc, "input"), "name")->text, "img");
    /* a: k2 p1: start (0.5-1) = -0.5; 10x10 */
    JValue *a = layer_named(doc, "a");
    assert_string_equal(j_get(a, "start")->items[0]->text, "-0.5");
    assert_int_equal(j_int(j_get(a, "shape")->items[1]), 10);
    JValue *c = layer_named(doc, "c");
    JValue *cin = j_get(c, "inputs");
    assert_int_equal(cin->n, 2);
    assert_string_equal(cin->items[0]->text, "a");
    assert_string_equal(cin->items[1]->text, "b");
    assert_int_equal(j_int(j_get(c, "shape")->items[0]), 8);
    const char *global[] = {"g", "h", "s"};
    for (int i = 0; i < 3; i++) {
        JValue *l = layer_named(doc, global[i]);
        assert_int_equal(j_get(l, "jump")->kind, J_NULL);
        assert_int_equal(j_int(j_get(l, "rf")->items[0]), 9);
    }
    JValue *outs = j_get(doc, "outputs");
    assert_int_equal(outs->n, 2);
    assert_string_equal(outs->items[0]->text, "s");
    assert_string_equal(outs->items[1]->text, "c");
    /* the concat's warning (starts -0.5 and 0 differ) goes to stderr only */
    assert_contains(r.err, "warning: inputs of concat 'c' are not aligned");
    j_free(doc);
    run_free(&r);
}

static void test_cli_json_report_every_model(void **state)
{
    /* every reference model's report follows the schema */
    const char *models[] = {"lenet5", "alexnet", "vgg16", "resnet18", "mobilenetv2", "dscnn", "resnet8",
                            "vww_mobilenetv1", "ad_autoencoder", "digits"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char args[128];
        snprintf(args, sizeof args, "--report=json models/%s.net", models[i]);
        Run r = cnnc(*state, args);
        assert_int_equal(r.status, 0);
        JValue *doc = check_schema(r.out);
        assert_string_equal(j_get(doc, "network")->text, models[i]);
        j_free(doc);
        run_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_help),
        cmocka_unit_test(test_cli_version),
        cmocka_unit_test(test_cli_usage_errors_exit_2),
        cmocka_unit_test(test_cli_check_valid_model),
        cmocka_unit_test(test_cli_model_errors_exit_1),
        cmocka_unit_test(test_cli_missing_file_exits_1),
        cmocka_unit_test(test_cli_empty_file_exits_1),
        cmocka_unit_test(test_cli_text_report),
        cmocka_unit_test(test_cli_json_report_lenet),
        cmocka_unit_test(test_cli_json_report_branches_and_globals),
        cmocka_unit_test(test_cli_json_report_every_model),
    };
    return cmocka_run_group_tests(tests, scratch_setup, scratch_teardown);
}
