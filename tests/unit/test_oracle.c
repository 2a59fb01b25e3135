/* test_oracle.c: the generated C against a second oracle. Random
 * architectures over every op and option are written as .net text, given
 * placeholder weights (and batchnorms that are not the identity), run
 * through tests/reference/refimpl.c, then compiled by build/cnnc, built by
 * gcc with the strict flags of docs/generated-c.md and -Werror, and run on
 * the same input. Outputs must agree within the tolerance of test_e2e.c:
 *   |got - exp| <= 1e-5 * max(|exp|, 0.1 * max|exp over the output|).
 * The reference itself is first checked against PyTorch on tests/ref.
 *
 * CNNC_ORACLE_COUNT and CNNC_ORACLE_SEED (environment) change how many
 * models are drawn and from which seed, for longer hunts. A failing model
 * is printed as .net text, ready for tests/ref/cases. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

#include "../reference/refimpl.h"
#include "safetensors.h"

#define STRICT "-std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wcast-qual -Werror"
#define OUT_DIR "build/oracle"
#define BATCH 25 /* models per harness program: one gcc run each */

/* ---- shared ---- */

/* splitmix64, so a seed draws the same models on every machine. */
typedef struct Rng {
    uint64_t s;
} Rng;

static uint64_t rng_next(Rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform integer in [lo, hi]. */
static int pick(Rng *r, int lo, int hi)
{
    return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* True percent times in a hundred. */
static bool chance(Rng *r, int percent)
{
    return pick(r, 0, 99) < percent;
}

/* Uniform real in [lo, hi). */
static double uniform(Rng *r, double lo, double hi)
{
    return lo + (hi - lo) * (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

/* Floats in a CHW tensor. */
static int64_t numel(Shape s)
{
    return s.c * s.h * s.w;
}

/* Worst |got - exp| as a fraction of the tolerance (test_e2e.c's formula). */
static double worst_ratio(const float *got, const float *exp, int64_t n, int64_t *where)
{
    double peak = 0, w = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(exp[i]) > peak)
            peak = fabs(exp[i]);
    for (int64_t i = 0; i < n; i++) {
        double scale = fabs(exp[i]) > 0.1 * peak ? fabs(exp[i]) : 0.1 * peak;
        double allowed = 1e-5 * scale > 1e-38 ? 1e-5 * scale : 1e-38;
        double r = isfinite(got[i]) ? fabs((double)got[i] - exp[i]) / allowed : INFINITY;
        if (!(r <= w)) {
            w = r;
            *where = i;
        }
    }
    return w;
}

/* Reads n floats from f; false when short. */
static bool read_floats(FILE *f, float *v, int64_t n)
{
    return fread(v, sizeof *v, (size_t)n, f) == (size_t)n;
}

/* ---- the reference against PyTorch ---- */

/* The reference must agree with PyTorch on every case of tests/ref before
 * its word counts against the generated C. */
static void test_oracle_reference_matches_pytorch(void **state)
{
    (void)state;
    DIR *d = opendir("tests/ref");
    assert_non_null(d);
    int cases = 0, failures = 0;
    for (struct dirent *ent; (ent = readdir(d));) {
        char path[600];
        struct stat st;
        snprintf(path, sizeof path, "tests/ref/%s/expected.bin", ent->d_name);
        if (ent->d_name[0] == '.' || stat(path, &st) != 0)
            continue;
        snprintf(path, sizeof path, "tests/ref/%s/model.net", ent->d_name);
        char *src = tu_read_file(path, NULL);
        Compiled *c = tu_compile(src);
        if (c->errors)
            fail_msg("%s does not compile:\n%s", path, c->messages);
        char *msgs = NULL;
        size_t msglen = 0;
        FILE *out = open_memstream(&msgs, &msglen);
        Diag wd;
        diag_init(&wd, path, src, strlen(src), out);
        snprintf(path, sizeof path, "tests/ref/%s/weights.safetensors", ent->d_name);
        bool loaded = weights_load(&c->mem, &wd, c->net, path);
        diag_flush(&wd);
        fclose(out);
        if (!loaded)
            fail_msg("%s: %s", path, msgs);
        free(msgs);

        Net *net = c->net;
        float *input = malloc((size_t)numel(net->input->shape) * sizeof(float));
        float **outs = calloc((size_t)net->noutputs, sizeof *outs);
        snprintf(path, sizeof path, "tests/ref/%s/input.bin", ent->d_name);
        FILE *in = fopen(path, "rb");
        snprintf(path, sizeof path, "tests/ref/%s/expected.bin", ent->d_name);
        FILE *ex = fopen(path, "rb");
        assert_true(in && ex && read_floats(in, input, numel(net->input->shape)));
        for (int k = 0; k < net->noutputs; k++)
            outs[k] = malloc((size_t)numel(net->outputs[k]->shape) * sizeof(float));
        char err[256];
        if (ref_run(net, input, outs, err, sizeof err) != 0) {
            print_error("%s: the reference refuses: %s\n", ent->d_name, err);
            failures++;
        }
        for (int k = 0; k < net->noutputs && !err[0]; k++) {
            int64_t n = numel(net->outputs[k]->shape), where = 0;
            float *exp = malloc((size_t)n * sizeof *exp);
            assert_true(read_floats(ex, exp, n));
            double w = worst_ratio(outs[k], exp, n, &where);
            if (!(w <= 1.0)) {
                print_error("%s: output %d: reference %.9g, PyTorch %.9g at %lld (%.3g of tolerance)\n",
                            ent->d_name, k, outs[k][where], exp[where], (long long)where, w);
                failures++;
            }
            free(exp);
        }
        fclose(in);
        fclose(ex);
        for (int k = 0; k < net->noutputs; k++)
            free(outs[k]);
        free(outs);
        free(input);
        tu_free(c);
        free(src);
        cases++;
    }
    closedir(d);
    assert_true(cases > 50);
    assert_int_equal(failures, 0);
}

/* ---- drawing architectures ---- */

enum { MAX_TENSORS = 64, TEXT_CAP = 16384, LINE_CAP = 512 };

/* A tensor a later statement may read. */
typedef struct Tensor {
    char name[24];
    Shape s;
    OpKind op;
} Tensor;

/* One model being drawn: its text so far and the tensors it defines. */
typedef struct Gen {
    Rng rng;
    char text[TEXT_CAP];
    size_t len;
    Tensor t[MAX_TENSORS];
    int nt;
    int serial; /* for layer names */
} Gen;

/* Appends to a line being built. */
static void put(char *buf, const char *fmt, ...) PRINTF(2, 3);
static void put(char *buf, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, LINE_CAP - n, fmt, ap);
    va_end(ap);
}

/* A fresh layer name; sometimes dotted, as PyTorch state_dict keys are. */
static void new_name(Gen *g, char *name)
{
    g->serial++;
    if (chance(&g->rng, 15))
        snprintf(name, 24, "blk.%d", g->serial);
    else
        snprintf(name, 24, "l%d", g->serial);
}

/* " from=NAME" unless src is what the statement reads anyway. */
static void put_from(Gen *g, char *line, int src)
{
    if (src != g->nt - 1 || chance(&g->rng, 10))
        put(line, " from=%s", g->t[src].name);
}

/* A spatial value: N, or HxW. */
static void put_pair(Gen *g, char *line, const char *key, int lo, int hi)
{
    if (chance(&g->rng, 30))
        put(line, " %s=%dx%d", key, pick(&g->rng, lo, hi), pick(&g->rng, lo, hi));
    else
        put(line, " %s=%d", key, pick(&g->rng, lo, hi));
}

/* Every padding form; most is the largest explicit value, by axis. */
static void put_padding(Gen *g, char *line, int most_h, int most_w)
{
    int r = pick(&g->rng, 0, 99);
    Rng *q = &g->rng;
    if (r < 25)
        return;
    if (r < 40)
        put(line, " padding=%d", pick(q, 0, most_h < most_w ? most_h : most_w));
    else if (r < 50)
        put(line, " padding=%dx%d", pick(q, 0, most_h), pick(q, 0, most_w));
    else if (r < 70)
        put(line, " padding=%d,%d,%d,%d", pick(q, 0, most_h), pick(q, 0, most_h), pick(q, 0, most_w),
            pick(q, 0, most_w));
    else if (r < 92)
        put(line, " padding=same");
    else
        put(line, " padding=valid");
}

/* conv2d over src, every option drawn. */
static void draw_conv(Gen *g, char *line, const char *name, int src)
{
    Rng *q = &g->rng;
    Shape s = g->t[src].s;
    int64_t groups = 1, out = chance(q, 20) ? pick(q, 9, 16) : pick(q, 1, 8);
    int r = pick(q, 0, 99);
    if (r < 20) { /* depthwise */
        groups = s.c;
        out = s.c * pick(q, 1, 2);
    } else if (r < 35) { /* grouped */
        int divs[16], nd = 0;
        for (int d = 1; d <= s.c && nd < 16; d++)
            if (s.c % d == 0)
                divs[nd++] = d;
        groups = divs[pick(q, 0, nd - 1)];
        out = groups * pick(q, 1, 3);
    }
    put(line, "conv2d %s out=%lld", name, (long long)out);
    put_pair(g, line, "kernel", 1, s.h > 1 || s.w > 1 ? 5 : 1);
    if (chance(q, 35))
        put_pair(g, line, "stride", 1, 3);
    if (chance(q, 20))
        put_pair(g, line, "dilation", 1, 3);
    if (groups > 1 || chance(q, 5))
        put(line, " groups=%lld", (long long)groups);
    put_padding(g, line, 3, 3);
    if (chance(q, 30) && !strstr(line, "padding=valid")) {
        static const char *const modes[] = {"zeros", "reflect", "replicate", "circular"};
        put(line, " padding_mode=%s", modes[pick(q, 0, 3)]);
    }
    if (chance(q, 20))
        put(line, " bias=false");
    put_from(g, line, src);
}

/* A pooling layer over src, every option of its op drawn. */
static void draw_pool(Gen *g, char *line, const char *name, int src)
{
    Rng *q = &g->rng;
    static const char *const ops[] = {"maxpool2d", "minpool2d", "avgpool2d", "sumpool2d"};
    int op = pick(q, 0, 3);
    int kh = pick(q, 1, 4), kw = chance(q, 30) ? pick(q, 1, 4) : kh;
    put(line, "%s %s", ops[op], name);
    if (kh == kw && chance(q, 70))
        put(line, " kernel=%d", kh);
    else
        put(line, " kernel=%dx%d", kh, kw);
    if (chance(q, 50))
        put_pair(g, line, "stride", 1, 3);
    put_padding(g, line, kh / 2, kw / 2);
    if (op < 2 && chance(q, 25))
        put_pair(g, line, "dilation", 1, 2);
    if (chance(q, 35))
        put(line, " ceil_mode=true");
    if (op == 2 && chance(q, 45))
        put(line, " count_include_pad=false");
    put_from(g, line, src);
}

/* An op that keeps the shape of src: an activation, softmax, dropout or batchnorm. */
static void draw_elementwise(Gen *g, char *line, const char *name, int src)
{
    Rng *q = &g->rng;
    static const char *const ops[] = {"relu", "relu6", "sigmoid", "tanh", "hardswish", "leakyrelu",
                                      "softmax", "dropout", "batchnorm2d"};
    int op = pick(q, 0, 8);
    put(line, "%s %s", ops[op], name);
    if (op == 5 && chance(q, 50))
        put(line, " slope=%g", uniform(q, 0.05, 0.5));
    if (op == 7 && chance(q, 50))
        put(line, " p=0.%d", pick(q, 1, 9));
    if (op == 8 && chance(q, 40))
        put(line, " eps=%s", chance(q, 50) ? "1e-3" : "0.1");
    put_from(g, line, src);
}

/* The text with extra lines, compiled; NULL (and the text unchanged) if it has errors. */
static Compiled *try_lines(Gen *g, const char *lines)
{
    size_t n = strlen(lines);
    if (g->len + n + 1 >= TEXT_CAP)
        return NULL;
    memcpy(g->text + g->len, lines, n + 1);
    Compiled *c = tu_compile(g->text);
    if (c->errors) {
        tu_free(c);
        g->text[g->len] = '\0';
        return NULL;
    }
    g->len += n;
    return c;
}

/* Records the tensors the accepted lines defined, with the shapes cnnc gave them. */
static void adopt(Gen *g, Compiled *c, const char *const *names, int n)
{
    for (int i = 0; i < n && g->nt < MAX_TENSORS; i++) {
        Layer *l = ir_find(c->net, names[i]);
        assert_non_null(l);
        Tensor *t = &g->t[g->nt++];
        snprintf(t->name, sizeof t->name, "%s", names[i]);
        t->s = l->shape;
        t->op = l->op;
    }
    tu_free(c);
}

/* Tensors other than avoid with the shape of t (or just its H and W). */
static int same_shaped(const Gen *g, int avoid, bool only_hw, int *found)
{
    Shape s = g->t[avoid].s;
    int n = 0;
    for (int i = 0; i < g->nt; i++) {
        Shape o = g->t[i].s;
        if (i != avoid && o.h == s.h && o.w == s.w && (only_hw || o.c == s.c))
            found[n++] = i;
    }
    return n;
}

/* Tries one step: a layer, or a small group (branch then join, flatten then
 * linear). Returns whether the model grew. */
static bool draw_step(Gen *g)
{
    Rng *q = &g->rng;
    char line[LINE_CAP] = "", line2[LINE_CAP] = "", both[2 * LINE_CAP];
    char name[24], name2[24];
    const char *names[2] = {name, name2};
    int nnames = 1;
    int cur = g->nt - 1;
    int src = chance(q, 20) ? pick(q, 0, g->nt - 1) : cur;
    Shape s = g->t[src].s;
    bool spatial = s.h > 1 || s.w > 1;
    new_name(g, name);
    int r = pick(q, 0, 99);
    if (g->t[cur].op == OP_CONV2D && chance(q, 35)) {
        /* batchnorm right after a conv: folded */
        put(line, "batchnorm2d %s", name);
        put_from(g, line, cur);
    } else if (r < (spatial ? 30 : 8)) {
        draw_conv(g, line, name, src);
    } else if (r < (spatial ? 50 : 12)) {
        if (spatial)
            draw_pool(g, line, name, src);
        else
            draw_elementwise(g, line, name, src);
    } else if (r < (spatial ? 54 : 16)) {
        put(line, "%s %s", chance(q, 50) ? "globalavgpool2d" : "globalmaxpool2d", name);
        put_from(g, line, src);
    } else if (r < (spatial ? 60 : 45)) {
        /* linear, after flatten when the tensor is spatial */
        bool flat = spatial || chance(q, 15);
        if (flat) {
            put(line, "flatten %s", name);
            put_from(g, line, src);
            new_name(g, name2);
            nnames = 2;
        }
        put(line, "%slinear %s out=%d", flat ? "\n" : "", flat ? name2 : name, pick(q, 1, 12));
        if (chance(q, 20))
            put(line, " bias=false");
        if (!flat)
            put_from(g, line, src);
    } else if (r < 82) {
        draw_elementwise(g, line, name, src);
    } else {
        /* add or concat: with an earlier tensor that fits, or a fresh branch */
        bool is_add = chance(q, 55);
        int found[MAX_TENSORS];
        int nf = same_shaped(g, src, !is_add, found);
        const char *other;
        if (nf && chance(q, 60)) {
            other = g->t[found[pick(q, 0, nf - 1)]].name;
        } else {
            /* the branch is named name, the join name2 */
            if (spatial && chance(q, 70)) {
                int k = 2 * pick(q, 0, 2) + 1;
                put(line2, "conv2d %s out=%lld kernel=%d padding=same", name,
                    is_add ? (long long)s.c : (long long)pick(q, 1, 6), k);
                if (chance(q, 30))
                    put(line2, " dilation=2");
                if (chance(q, 30) && k > 1)
                    put(line2, " padding_mode=%s", chance(q, 50) ? "reflect" : "replicate");
            } else if (!is_add && chance(q, 60)) {
                put(line2, "conv2d %s out=%d kernel=1", name, pick(q, 1, 6));
            } else {
                put(line2, "%s %s", chance(q, 50) ? "relu" : "tanh", name);
            }
            put(line2, " from=%s\n", g->t[src].name);
            other = name;
            new_name(g, name2);
            nnames = 2;
        }
        const char *join = nnames == 2 ? name2 : name;
        int extra = chance(q, 20) && nf ? found[pick(q, 0, nf - 1)] : -1;
        if (chance(q, 50))
            put(line, "%s %s from=%s,%s", is_add ? "add" : "concat", join, g->t[src].name, other);
        else
            put(line, "%s %s from=%s,%s", is_add ? "add" : "concat", join, other, g->t[src].name);
        if (extra >= 0)
            put(line, ",%s", g->t[extra].name);
    }
    snprintf(both, sizeof both, "%s%s\n", line2, line);
    Compiled *c = try_lines(g, both);
    if (!c)
        return false;
    adopt(g, c, names, nnames);
    return true;
}

/* Draws model k: a random chain with branches, sometimes several outputs.
 * Returns the compiled model (without errors). */
static Compiled *draw_model(Rng *rng, int k, char *text)
{
    Gen *g = calloc(1, sizeof *g);
    assert_non_null(g);
    g->rng = *rng;
    Rng *q = &g->rng;
    Shape in = {pick(q, 1, 5), pick(q, 3, 18), pick(q, 3, 18)};
    if (chance(q, 10))
        in.h = in.w = 1;
    g->len = (size_t)snprintf(g->text, TEXT_CAP, "# oracle model %d\nnetwork o%d\ninput x %lldx%lldx%lld\n", k, k,
                              (long long)in.c, (long long)in.h, (long long)in.w);
    g->t[0] = (Tensor){"x", in, OP_INPUT};
    g->nt = 1;
    int want = pick(q, 2, 12);
    for (int tries = 0; g->nt - 1 < want && tries < 20 * want; tries++)
        draw_step(g);
    if (g->nt == 1) { /* nothing fitted: one layer that always does */
        Compiled *c = try_lines(g, "relu r\n");
        assert_non_null(c);
        const char *names[1] = {"r"};
        adopt(g, c, names, 1);
    }
    Compiled *c = NULL;
    if (chance(q, 35)) {
        /* several outputs, in a random order, not always the last layer */
        char line[LINE_CAP] = "output";
        int n = pick(q, 1, 3), used[4] = {-1, -1, -1, -1};
        for (int i = 0; i < n; i++) {
            int t = chance(q, 50) ? g->nt - 1 : pick(q, 1, g->nt - 1);
            bool dup = false;
            for (int j = 0; j < i; j++)
                dup |= used[j] == t;
            if (dup)
                continue;
            used[i] = t;
            put(line, " %s", g->t[t].name);
        }
        put(line, "\n");
        c = try_lines(g, line);
    }
    if (!c)
        c = tu_compile(g->text);
    assert_int_equal(c->errors, 0);
    *rng = g->rng;
    memcpy(text, g->text, g->len + 1);
    free(g);
    return c;
}

/* ---- one model through both paths ---- */

/* A drawn model and what the reference said. */
typedef struct Model {
    char text[TEXT_CAP];
    char name[16];
    char unroll[24]; /* the --unroll option it is compiled with, or "" */
    int noutputs;
    bool skipped; /* refused by the reference for a reason that is not a bug */
    int widened;  /* output values whose tolerance ill-conditioning widened */
} Model;

/* Batchnorm statistics and affine terms that make it far from the identity. */
static void randomize_batchnorm(Rng *q, Net *net)
{
    for (int i = 1; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        if (l->op != OP_BATCHNORM2D)
            continue;
        for (int64_t c = 0; c < l->shape.c; c++) {
            l->tensor[0][c] = (float)(uniform(q, 0.5, 1.5) * (chance(q, 20) ? -1 : 1));
            l->tensor[1][c] = (float)uniform(q, -0.5, 0.5);
            l->tensor[2][c] = (float)uniform(q, -0.5, 0.5);
            l->tensor[3][c] = (float)uniform(q, 0.3, 2.0);
        }
    }
}

/* Writes the layers' tensors as PyTorch would save them. */
static void write_weights(const Net *net, const char *path)
{
    int n = 0;
    for (int i = 1; i < net->nlayers; i++)
        n += weights_count(net->layers[i]);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    int *ndims = calloc((size_t)n + 1, sizeof *ndims);
    int64_t(*shapes)[8] = calloc((size_t)n + 1, sizeof *shapes);
    const float **datas = calloc((size_t)n + 1, sizeof *datas);
    char(*buf)[64] = calloc((size_t)n + 1, sizeof *buf);
    int j = 0;
    for (int i = 1; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        for (int k = 0; k < weights_count(l); k++, j++) {
            snprintf(buf[j], sizeof buf[j], "%s.%s", l->name, weights_suffix(l, k));
            names[j] = buf[j];
            datas[j] = l->tensor[k];
            if (l->op == OP_BATCHNORM2D || k == 1) {
                ndims[j] = 1;
                shapes[j][0] = l->shape.c;
            } else if (l->op == OP_LINEAR) {
                ndims[j] = 2;
                shapes[j][0] = l->out;
                shapes[j][1] = numel(l->in[0]->shape);
            } else {
                ndims[j] = 4;
                shapes[j][0] = l->out;
                shapes[j][1] = l->in[0]->shape.c / l->groups;
                shapes[j][2] = l->kernel[0];
                shapes[j][3] = l->kernel[1];
            }
        }
    }
    char err[256];
    if (st_write_f32(path, n, names, ndims, (const int64_t(*)[8])shapes, datas, err, sizeof err) != 0)
        fail_msg("%s: %s", path, err);
    free(names);
    free(ndims);
    free(shapes);
    free(datas);
    free(buf);
}

/* Draws model k, runs the reference and writes DIR/mK.{net,safetensors,bin}
 * (the .bin holds the input, then the expected outputs). */
static void prepare_model(Rng *rng, int k, Model *m)
{
    Compiled *c = draw_model(rng, k, m->text);
    Net *net = c->net;
    snprintf(m->name, sizeof m->name, "o%d", k);
    m->noutputs = net->noutputs;
    /* every unroll setting: the default, none, a small budget, everything */
    int u = pick(rng, 0, 5);
    if (u == 1)
        snprintf(m->unroll, sizeof m->unroll, "--unroll=none");
    else if (u == 2 || u == 3)
        snprintf(m->unroll, sizeof m->unroll, "--unroll=%d", pick(rng, 1, 60));
    else if (u == 4)
        snprintf(m->unroll, sizeof m->unroll, "--unroll=full");
    if (m->unroll[0]) {
        size_t len = strlen(m->text);
        snprintf(m->text + len, sizeof m->text - len, "# compiled with %s\n", m->unroll);
    }
    char spec[48], path[128];
    snprintf(spec, sizeof spec, "random:%llu", (unsigned long long)(rng_next(rng) % 1000000));
    assert_true(weights_init(&c->mem, net, spec));
    randomize_batchnorm(rng, net);

    float *input = malloc((size_t)numel(net->input->shape) * sizeof *input);
    for (int64_t i = 0; i < numel(net->input->shape); i++)
        input[i] = (float)uniform(rng, -1, 1);
    float **outs = calloc((size_t)net->noutputs, sizeof *outs);
    for (int j = 0; j < net->noutputs; j++)
        outs[j] = malloc((size_t)numel(net->outputs[j]->shape) * sizeof(float));
    char err[256];
    if (ref_run(net, input, outs, err, sizeof err) != 0) {
        /* windows of padding alone have no value in PyTorch either */
        if (!strstr(err, "only padding") && !strstr(err, "divides by zero"))
            fail_msg("the reference refuses model %d: %s\n%s", k, err, m->text);
        m->skipped = true;
        if (getenv("CNNC_ORACLE_VERBOSE"))
            fprintf(stderr, "model %d refused: %s\n%s", k, err, m->text);
    }
    /* Where float rounding alone can move an output beyond the formula
     * (sums that cancel), allow ten times what jittered operands moved it. */
    float **slack = calloc((size_t)net->noutputs, sizeof *slack);
    for (int j = 0; j < net->noutputs; j++)
        slack[j] = calloc((size_t)numel(net->outputs[j]->shape), sizeof(float));
    for (int run = 0; run < 2 && !m->skipped; run++) {
        float **jit = calloc((size_t)net->noutputs, sizeof *jit);
        for (int j = 0; j < net->noutputs; j++)
            jit[j] = malloc((size_t)numel(net->outputs[j]->shape) * sizeof(float));
        assert_int_equal(ref_run_jittered(net, input, jit, rng_next(rng) | 1, err, sizeof err), 0);
        for (int j = 0; j < net->noutputs; j++) {
            int64_t n = numel(net->outputs[j]->shape);
            double peak = 0;
            for (int64_t i = 0; i < n; i++) {
                float d = 10 * fabsf(jit[j][i] - outs[j][i]);
                if (d > slack[j][i])
                    slack[j][i] = d;
                peak = fmax(peak, fabs(outs[j][i]));
            }
            for (int64_t i = 0; run == 1 && i < n; i++)
                m->widened += slack[j][i] > 1e-5 * fmax(fabs(outs[j][i]), 0.1 * peak);
            free(jit[j]);
        }
        free(jit);
    }

    snprintf(path, sizeof path, OUT_DIR "/m%d.net", k);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(m->text, f);
    fclose(f);
    snprintf(path, sizeof path, OUT_DIR "/m%d.safetensors", k);
    write_weights(net, path);
    snprintf(path, sizeof path, OUT_DIR "/m%d.opt", k);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", m->unroll);
    fclose(f);
    snprintf(path, sizeof path, OUT_DIR "/m%d.bin", k);
    f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(input, sizeof *input, (size_t)numel(net->input->shape), f);
    for (int j = 0; j < net->noutputs; j++)
        fwrite(outs[j], sizeof(float), (size_t)numel(net->outputs[j]->shape), f);
    for (int j = 0; j < net->noutputs; j++)
        fwrite(slack[j], sizeof(float), (size_t)numel(net->outputs[j]->shape), f);
    fclose(f);
    for (int j = 0; j < net->noutputs; j++) {
        free(outs[j]);
        free(slack[j]);
    }
    free(outs);
    free(slack);
    free(input);
    tu_free(c);
}

/* The harness of models [lo, hi): runs each on its input, prints
 * "FAIL k j ..." for every output beyond tolerance. */
static void write_harness(const char *path, const Model *models, int lo, int hi)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#include <math.h>\n#include <stdio.h>\n");
    for (int k = lo; k < hi; k++)
        if (!models[k].skipped)
            fprintf(f, "#include \"m%d.h\"\n", k);
    fprintf(f, "\n/* Worst |got - exp| as a fraction of the tolerance; where it is. */\n"
               "static double worst(const float *got, const float *exp, const float *slack, int n, int *where)\n{\n"
               "    double peak = 0, w = 0;\n"
               "    for (int i = 0; i < n; i++)\n        if (fabs(exp[i]) > peak)\n            peak = fabs(exp[i]);\n"
               "    for (int i = 0; i < n; i++) {\n"
               "        double scale = fabs(exp[i]) > 0.1 * peak ? fabs(exp[i]) : 0.1 * peak;\n"
               "        double allowed = 1e-5 * scale > 1e-38 ? 1e-5 * scale : 1e-38;\n"
               "        double r;\n"
               "        if (slack[i] > allowed)\n            allowed = slack[i];\n"
               "        r = isfinite(got[i]) ? fabs((double)got[i] - exp[i]) / allowed : INFINITY;\n"
               "        if (!(r <= w)) {\n            w = r;\n            *where = i;\n        }\n    }\n"
               "    return w;\n}\n\n"
               "/* Compares one output; prints and returns 1 beyond the tolerance. */\n"
               "static int check(int k, int j, const float *got, const float *exp, const float *slack, int n)\n{\n"
               "    int at = 0;\n    double w = worst(got, exp, slack, n, &at);\n"
               "    if (w <= 1.0)\n        return 0;\n"
               "    printf(\"FAIL %%d %%d: %%.3g of tolerance; [%%d] got %%.9g expected %%.9g\\n\", k, j, w, at,"
               " got[at], exp[at]);\n    return 1;\n}\n\n"
               "/* Reads n floats; 0 when the file is short. */\n"
               "static int load(FILE *f, float *v, size_t n)\n{\n    return f && fread(v, sizeof *v, n, f) == n;\n}\n");
    for (int k = lo; k < hi; k++) {
        const Model *m = &models[k];
        if (m->skipped)
            continue;
        char up[16];
        snprintf(up, sizeof up, "O%d", k);
        fprintf(f, "\nstatic int run%d(void)\n{\n    static float in[%s_INPUT_SIZE];\n", k, up);
        for (int j = 0; j < m->noutputs; j++)
            fprintf(f, "    static float out%d[%s_OUTPUT%d_SIZE], exp%d[%s_OUTPUT%d_SIZE], slack%d[%s_OUTPUT%d_SIZE];\n", j,
                    up, j, j, up, j, j, up, j);
        fprintf(f, "    int bad = 0;\n    FILE *f = fopen(\"" OUT_DIR "/m%d.bin\", \"rb\");\n", k);
        fprintf(f, "    if (!load(f, in, %s_INPUT_SIZE)", up);
        for (int j = 0; j < m->noutputs; j++)
            fprintf(f, " || !load(f, exp%d, %s_OUTPUT%d_SIZE)", j, up, j);
        for (int j = 0; j < m->noutputs; j++)
            fprintf(f, " || !load(f, slack%d, %s_OUTPUT%d_SIZE)", j, up, j);
        fprintf(f, ") {\n        printf(\"FAIL %d: cannot read its data\\n\");\n        return 1;\n    }\n", k);
        fprintf(f, "    fclose(f);\n    %s_run(in", m->name);
        for (int j = 0; j < m->noutputs; j++)
            fprintf(f, ", out%d", j);
        fprintf(f, ");\n");
        for (int j = 0; j < m->noutputs; j++)
            fprintf(f, "    bad |= check(%d, %d, out%d, exp%d, slack%d, %s_OUTPUT%d_SIZE);\n", k, j, j, j, j, up, j);
        fprintf(f, "    return bad;\n}\n");
    }
    fprintf(f, "\nint main(void)\n{\n    int bad = 0;\n");
    for (int k = lo; k < hi; k++)
        if (!models[k].skipped)
            fprintf(f, "    bad += run%d();\n", k);
    fprintf(f, "    printf(\"%%d failed\\n\", bad);\n    return bad != 0;\n}\n");
    fclose(f);
}

/* A number from the environment, for longer or shorter hunts. */
static int env_int(const char *name, int fallback)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : fallback;
}

/* Shows a failing model as .net text, ready for tests/ref/cases, with
 * the start of what went wrong. */
static void print_model(const Model *models, int k, const char *why)
{
    int lines = 0;
    const char *end = why;
    while (*end && lines < 12)
        lines += *end++ == '\n';
    fprintf(stderr, "---- model %d:\n%.*s%s%s----\n", k, (int)(end - why), why, *end ? "...\n" : "", models[k].text);
    fflush(stderr);
}

/* Runs cmd over 0..n-1 ({} is the number), two at a time; returns the
 * numbers that printed "FAILED k". */
static bool *run_each(int n, const char *cmd)
{
    char *full = NULL, *log = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&full, &len);
    fprintf(f, "seq 0 %d | xargs -P2 -I{} sh -c '%s || echo FAILED {}'", n - 1, cmd);
    fclose(f);
    tu_run(full, &log);
    bool *failed = calloc((size_t)n + 1, sizeof *failed);
    for (char *s = log; (s = strstr(s, "FAILED "));) {
        s += 7;
        int k = atoi(s);
        if (k >= 0 && k < n)
            failed[k] = true;
    }
    free(log);
    free(full);
    return failed;
}

/* Models whose step failed are reported with their log and dropped. */
static int drop_failed(Model *models, int count, const bool *failed, const char *log_fmt)
{
    int failures = 0;
    for (int k = 0; k < count; k++) {
        if (!failed[k] || models[k].skipped)
            continue;
        char path[64];
        snprintf(path, sizeof path, log_fmt, k);
        char *why = tu_read_file(path, NULL);
        print_model(models, k, why);
        free(why);
        models[k].skipped = true;
        failures++;
    }
    return failures;
}

static void test_oracle_random_architectures(void **state)
{
    (void)state;
    /* fewer under sanitizers (the sanitized pass of make test sets the scale) */
    int scale = env_int("ROBUST_TIME_SCALE", 1);
    int count = env_int("CNNC_ORACLE_COUNT", 200 / (scale > 0 ? scale : 1));
    Rng rng = {(uint64_t)env_int("CNNC_ORACLE_SEED", 1)};
    mkdir("build", 0777);
    mkdir(OUT_DIR, 0777);
    Model *models = calloc((size_t)count, sizeof *models);
    assert_non_null(models);
    int skipped = 0, widened = 0, failures = 0;
    for (int k = 0; k < count; k++) {
        prepare_model(&rng, k, &models[k]);
        skipped += models[k].skipped;
        widened += models[k].widened;
    }

    /* cnnc, then gcc with -Werror, on each model on its own */
    bool *failed = run_each(count, "build/cnnc $(cat " OUT_DIR "/m{}.opt) " OUT_DIR "/m{}.net -w " OUT_DIR "/m{}.safetensors -o " OUT_DIR
                                   "/m{}.c > " OUT_DIR "/m{}.log 2>&1");
    failures += drop_failed(models, count, failed, OUT_DIR "/m%d.log");
    free(failed);
    failed = run_each(count, "[ ! -f " OUT_DIR "/m{}.c ] || cc " STRICT " -O1 -Iruntime -c " OUT_DIR "/m{}.c -o " OUT_DIR
                             "/m{}.o > " OUT_DIR "/m{}.log 2>&1");
    failures += drop_failed(models, count, failed, OUT_DIR "/m%d.log");
    free(failed);

    /* one harness per batch of models, linked and run */
    int nbatch = (count + BATCH - 1) / BATCH;
    for (int b = 0; b < nbatch; b++) {
        char path[64];
        int hi = (b + 1) * BATCH < count ? (b + 1) * BATCH : count;
        snprintf(path, sizeof path, OUT_DIR "/h%d.c", b);
        write_harness(path, models, b * BATCH, hi);
        snprintf(path, sizeof path, OUT_DIR "/h%d.objects", b);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        for (int k = b * BATCH; k < hi; k++)
            if (!models[k].skipped)
                fprintf(f, OUT_DIR "/m%d.o\n", k);
        fclose(f);
    }
    failed = run_each(nbatch, "cc " STRICT " -O1 -Iruntime -I" OUT_DIR " " OUT_DIR "/h{}.c $(cat " OUT_DIR
                              "/h{}.objects) runtime/cnnc_rt.c -lm -o " OUT_DIR "/h{} > " OUT_DIR "/h{}.log 2>&1 && "
                              OUT_DIR "/h{} >> " OUT_DIR "/h{}.log 2>&1");
    for (int b = 0; b < nbatch; b++) {
        char path[64];
        snprintf(path, sizeof path, OUT_DIR "/h%d.log", b);
        char *out = tu_read_file(path, NULL);
        bool named = false;
        for (int k = b * BATCH; k < (b + 1) * BATCH && k < count; k++) {
            char tag[32], tag2[32];
            snprintf(tag, sizeof tag, "FAIL %d ", k);
            snprintf(tag2, sizeof tag2, "FAIL %d:", k);
            char *at = strstr(out, tag) ? strstr(out, tag) : strstr(out, tag2);
            if (at) {
                print_model(models, k, at);
                failures++;
                named = true;
            }
        }
        if (failed[b] && !named) {
            print_error("%s:\n%s\n", path, out);
            failures++;
        }
        free(out);
    }
    free(failed);
    print_message("%d models (seed %d), %d refused by the reference as ill-defined, %d output values with "
                  "the tolerance widened for ill-conditioning, %d failing\n",
                  count, env_int("CNNC_ORACLE_SEED", 1), skipped, widened, failures);
    free(models);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle_reference_matches_pytorch),
        cmocka_unit_test(test_oracle_random_architectures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
