/* ir.c: gives the parsed statements their meaning. Ops, keys and names
 * are looked up here, values are checked against what each key takes,
 * and the layers are wired into a graph in source order. */
#include "cnnc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define K(k) (1u << (k))

/* An int8 tensor's own params, which any layer of a quantized model may give. */
#define QKEYS (K(KEY_SCALE) | K(KEY_ZERO_POINT))
/* The window keys every pool shares. */
#define POOL_KEYS (K(KEY_KERNEL) | K(KEY_STRIDE) | K(KEY_PADDING) | K(KEY_CEIL_MODE) | K(KEY_FROM) | QKEYS)

/* The op table: what each op is and which keys it takes. Everything
 * that differs between ops in the front end is read from here. */
const OpInfo ir_ops[OP_COUNT] = {
    [OP_INPUT] = {"input", 0, K(KEY_LAYOUT) | K(KEY_DTYPE) | QKEYS, 0},
    [OP_CONV2D] = {"conv2d", OPF_WINDOW,
                   K(KEY_OUT) | K(KEY_KERNEL) | K(KEY_STRIDE) | K(KEY_PADDING) | K(KEY_DILATION) |
                       K(KEY_GROUPS) | K(KEY_BIAS) | K(KEY_PADDING_MODE) | K(KEY_FROM) | QKEYS,
                   K(KEY_OUT) | K(KEY_KERNEL)},
    [OP_MAXPOOL2D] = {"maxpool2d", OPF_WINDOW, POOL_KEYS | K(KEY_DILATION), K(KEY_KERNEL)},
    [OP_MINPOOL2D] = {"minpool2d", OPF_WINDOW, POOL_KEYS | K(KEY_DILATION), K(KEY_KERNEL)},
    [OP_AVGPOOL2D] = {"avgpool2d", OPF_WINDOW, POOL_KEYS | K(KEY_COUNT_INCLUDE_PAD), K(KEY_KERNEL)},
    [OP_SUMPOOL2D] = {"sumpool2d", OPF_WINDOW, POOL_KEYS, K(KEY_KERNEL)},
    [OP_GLOBALAVGPOOL2D] = {"globalavgpool2d", OPF_GLOBAL, K(KEY_FROM) | QKEYS, 0},
    [OP_GLOBALMAXPOOL2D] = {"globalmaxpool2d", OPF_GLOBAL, K(KEY_FROM) | QKEYS, 0},
    [OP_LINEAR] = {"linear", OPF_GLOBAL, K(KEY_OUT) | K(KEY_BIAS) | K(KEY_FROM) | QKEYS, K(KEY_OUT)},
    [OP_FLATTEN] = {"flatten", OPF_GLOBAL, K(KEY_FROM) | QKEYS, 0},
    [OP_BATCHNORM2D] = {"batchnorm2d", OPF_ELEMENTWISE, K(KEY_EPS) | K(KEY_FROM) | QKEYS, 0},
    [OP_RELU] = {"relu", OPF_ELEMENTWISE, K(KEY_FROM) | QKEYS, 0},
    [OP_RELU6] = {"relu6", OPF_ELEMENTWISE, K(KEY_FROM) | QKEYS, 0},
    [OP_SIGMOID] = {"sigmoid", OPF_ELEMENTWISE, K(KEY_FROM) | QKEYS, 0},
    [OP_TANH] = {"tanh", OPF_ELEMENTWISE, K(KEY_FROM) | QKEYS, 0},
    [OP_HARDSWISH] = {"hardswish", OPF_ELEMENTWISE, K(KEY_FROM) | QKEYS, 0},
    [OP_LEAKYRELU] = {"leakyrelu", OPF_ELEMENTWISE, K(KEY_SLOPE) | K(KEY_FROM) | QKEYS, 0},
    /* softmax mixes channels, but per pixel and in place like the rest */
    [OP_SOFTMAX] = {"softmax", OPF_ELEMENTWISE, K(KEY_FROM) | QKEYS, 0},
    [OP_DROPOUT] = {"dropout", OPF_ELEMENTWISE, K(KEY_P) | K(KEY_FROM) | QKEYS, 0},
    [OP_ADD] = {"add", OPF_MULTI, K(KEY_FROM) | QKEYS, K(KEY_FROM)},
    [OP_CONCAT] = {"concat", OPF_MULTI, K(KEY_FROM) | QKEYS, K(KEY_FROM)},
    /* TFLite's MEAN over H and W: globalavgpool2d but for int8 arithmetic */
    [OP_MEAN] = {"mean", OPF_GLOBAL, K(KEY_FROM) | QKEYS, 0},
    [OP_HARDSIGMOID] = {"hardsigmoid", OPF_ELEMENTWISE, K(KEY_ALPHA) | K(KEY_BETA) | K(KEY_FROM) | QKEYS, 0},
    /* two inputs of one shape, or a Cx1x1 gate times CxHxW (squeeze-excitation) */
    [OP_MUL] = {"mul", OPF_MULTI, K(KEY_FROM) | QKEYS, K(KEY_FROM)},
    [OP_SILU] = {"silu", OPF_ELEMENTWISE, K(KEY_FROM) | QKEYS, 0},
    [OP_GELU] = {"gelu", OPF_ELEMENTWISE, K(KEY_APPROXIMATE) | K(KEY_FROM) | QKEYS, 0},
    [OP_ELU] = {"elu", OPF_ELEMENTWISE, K(KEY_ALPHA) | K(KEY_FROM) | QKEYS, 0},
    /* its slopes are a weight, so it is a parameter of the model */
    [OP_PRELU] = {"prelu", OPF_ELEMENTWISE | OPF_FLOAT_ONLY, K(KEY_NUM_PARAMETERS) | K(KEY_FROM), 0},
    [OP_HARDTANH] = {"hardtanh", OPF_ELEMENTWISE, K(KEY_MIN) | K(KEY_MAX) | K(KEY_FROM) | QKEYS, 0},
    /* resampling: F.pad, nn.Upsample, nn.PixelShuffle */
    [OP_PAD] = {"pad", 0, K(KEY_PADDING) | K(KEY_MODE) | K(KEY_VALUE) | K(KEY_FROM) | QKEYS, K(KEY_PADDING)},
    /* int8: nearest only (quant_has_int8) */
    [OP_UPSAMPLE] = {"upsample", 0, K(KEY_FACTOR) | K(KEY_MODE) | K(KEY_ALIGN_CORNERS) | K(KEY_FROM) | QKEYS,
                     K(KEY_FACTOR)},
    [OP_PIXELSHUFFLE] = {"pixelshuffle", 0, K(KEY_FACTOR) | K(KEY_FROM) | QKEYS, K(KEY_FACTOR)},
    /* nn.ConvTranspose2d; padding crops the full output, as PyTorch's */
    [OP_CONVTRANSPOSE2D] = {"convtranspose2d", OPF_FLOAT_ONLY,
                            K(KEY_OUT) | K(KEY_KERNEL) | K(KEY_STRIDE) | K(KEY_PADDING) | K(KEY_OUTPUT_PADDING) |
                                K(KEY_DILATION) | K(KEY_GROUPS) | K(KEY_BIAS) | K(KEY_FROM),
                            K(KEY_OUT) | K(KEY_KERNEL)},
};

/* The forms a value can take. */
typedef enum { FORM_COUNT, FORM_SPATIAL, FORM_PADDING, FORM_BOOL, FORM_NUMBER, FORM_MODE, FORM_NAMES, FORM_INT,
               FORM_WORD } Form;

static const struct {
    const char *name;
    Form form;
    const char *expects; /* for "X expects ..., got ..." */
} keys[KEY_COUNT] = {
    [KEY_OUT] = {"out", FORM_COUNT, "a positive integer"},
    [KEY_KERNEL] = {"kernel", FORM_SPATIAL, "a positive integer or HxW"},
    [KEY_STRIDE] = {"stride", FORM_SPATIAL, "a positive integer or HxW"},
    [KEY_PADDING] = {"padding", FORM_PADDING, "N, HxW, top,bottom,left,right, 'same' or 'valid'"},
    [KEY_DILATION] = {"dilation", FORM_SPATIAL, "a positive integer or HxW"},
    [KEY_GROUPS] = {"groups", FORM_COUNT, "a positive integer"},
    [KEY_BIAS] = {"bias", FORM_BOOL, "true or false"},
    [KEY_PADDING_MODE] = {"padding_mode", FORM_MODE, "zeros, reflect, replicate or circular"},
    [KEY_CEIL_MODE] = {"ceil_mode", FORM_BOOL, "true or false"},
    [KEY_COUNT_INCLUDE_PAD] = {"count_include_pad", FORM_BOOL, "true or false"},
    [KEY_EPS] = {"eps", FORM_NUMBER, "a number"},
    [KEY_SLOPE] = {"slope", FORM_NUMBER, "a number"},
    [KEY_P] = {"p", FORM_NUMBER, "a number"},
    [KEY_FROM] = {"from", FORM_NAMES, "a layer name or names separated by commas"},
    [KEY_SCALE] = {"scale", FORM_NUMBER, "a positive number"},
    [KEY_ZERO_POINT] = {"zero_point", FORM_INT, "an integer from -128 to 127"},
    [KEY_LAYOUT] = {"layout", FORM_WORD, "chw or hwc"},
    [KEY_DTYPE] = {"dtype", FORM_WORD, "int8 or float32"},
    [KEY_ALPHA] = {"alpha", FORM_NUMBER, "a number"},
    [KEY_BETA] = {"beta", FORM_NUMBER, "a number"},
    [KEY_APPROXIMATE] = {"approximate", FORM_WORD, "none or tanh"},
    [KEY_MIN] = {"min", FORM_NUMBER, "a number"},
    [KEY_MAX] = {"max", FORM_NUMBER, "a number"},
    [KEY_NUM_PARAMETERS] = {"num_parameters", FORM_COUNT, "a positive integer"},
    [KEY_MODE] = {"mode", FORM_WORD, "constant, reflect, replicate or circular (pad); nearest or bilinear (upsample)"},
    [KEY_VALUE] = {"value", FORM_NUMBER, "a number"},
    [KEY_FACTOR] = {"factor", FORM_SPATIAL, "a positive integer or HxW"},
    [KEY_ALIGN_CORNERS] = {"align_corners", FORM_BOOL, "true or false"},
    [KEY_OUTPUT_PADDING] = {"output_padding", FORM_SPATIAL, "zero or more, or HxW"},
};

static const char *const pad_modes[] = {"zeros", "reflect", "replicate", "circular"};

/* Names to layers, open addressing: lookups stay O(1) on huge files. */
typedef struct NameTable {
    Layer **slots;
    size_t cap;
} NameTable;

/* The state of one ir_build: the net being built and where errors go. */
typedef struct Builder {
    Mem *mem;
    Diag *diag;
    Net *net;
    NameTable names;
    int op_counts[OP_COUNT];
    int one_d_counts[16]; /* per 1-D spelling */
    const Stmt *output_stmt;
    bool dtype_int8; /* the input said dtype=int8 */
} Builder;

const char *ir_op_name(OpKind op)
{
    return ir_ops[op].name;
}

/* The 1-D ops: each is its 2-D op along W of a Cx1xL tensor (kernel 1xK,
 * no padding along H), so every pass treats it as that op. */
static const struct {
    const char *name;
    OpKind op;
} one_d_ops[] = {
    {"conv1d", OP_CONV2D},
    {"maxpool1d", OP_MAXPOOL2D},
    {"minpool1d", OP_MINPOOL2D},
    {"avgpool1d", OP_AVGPOOL2D},
    {"sumpool1d", OP_SUMPOOL2D},
    {"batchnorm1d", OP_BATCHNORM2D},
    {"globalavgpool1d", OP_GLOBALAVGPOOL2D},
    {"globalmaxpool1d", OP_GLOBALMAXPOOL2D},
};
enum { N_ONE_D = sizeof one_d_ops / sizeof one_d_ops[0] };

const char *ir_layer_op(const Layer *l)
{
    return l->op_word ? l->op_word : ir_op_name(l->op);
}

int64_t ir_bytes(Shape s)
{
    return s.c * s.h * s.w * (int64_t)sizeof(float);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static Layer **name_slot(NameTable *t, const char *name)
{
    size_t i = (size_t)name_hash(name) & (t->cap - 1);
    while (t->slots[i] && strcmp(t->slots[i]->name, name) != 0)
        i = (i + 1) & (t->cap - 1);
    return &t->slots[i];
}

Layer *ir_find(Net *net, const char *name)
{
    for (int i = 0; i < net->nlayers; i++)
        if (strcmp(net->layers[i]->name, name) == 0)
            return net->layers[i];
    return NULL;
}

/* Edit distance, to suggest the op or key the user probably meant. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32)
        return 99;
    size_t row[33];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest of `n` candidates to `word`, if close enough to be a typo. */
static const char *suggest(const char *word, const char *const *cands, int n)
{
    const char *best = NULL;
    size_t bestd = strlen(word) / 3 + 1;
    if (bestd > 3)
        bestd = 3;
    for (int i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        size_t d = edit_distance(word, cands[i]);
        if (d <= bestd && (!best || d < bestd)) {
            best = cands[i];
            bestd = d;
        }
    }
    return best;
}

static bool is_c_identifier(const char *s)
{
    if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
        return false;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* Parses a decimal integer; false when it does not fit in int64. */
static bool parse_int(const char *text, int64_t *out)
{
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (errno == ERANGE || *end)
        return false;
    *out = v;
    return true;
}

/* Splits "1x32x32" into at most max numbers; returns how many, -1 on overflow. */
static int parse_dims(const char *text, int64_t *out, int max)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno == ERANGE)
            return -1;
        if (n < max)
            out[n] = v;
        n++;
        p = *end == 'x' ? end + 1 : end;
    }
    return n;
}

static void value_error(Builder *b, const Value *v, KeyKind key, const char *what)
{
    const char *got = v->kind == VAL_LIST ? "a list" : v->text;
    diag_error(b->diag, v->loc, "%s expects %s, got '%s'%s", keys[key].name, keys[key].expects, got,
               what ? what : "");
}

/* A positive integer or HxW into pair[2]. */
static void read_spatial(Builder *b, const Value *v, KeyKind key, int64_t pair[2], bool allow_zero)
{
    int64_t d[2];
    if (v->kind == VAL_INT) {
        if (!parse_int(v->text, &d[0])) {
            diag_error(b->diag, v->loc, "integer '%s' is too large", v->text);
            return;
        }
        d[1] = d[0];
    } else if (v->kind == VAL_DIMS) {
        int n = parse_dims(v->text, d, 2);
        if (n < 0) {
            diag_error(b->diag, v->loc, "integer in '%s' is too large", v->text);
            return;
        }
        if (n != 2) {
            value_error(b, v, key, "; give one number for both axes or HxW");
            return;
        }
    } else {
        value_error(b, v, key, NULL);
        return;
    }
    if (d[0] < (allow_zero ? 0 : 1) || d[1] < (allow_zero ? 0 : 1)) {
        diag_error(b->diag, v->loc, "%s must be %s, got '%s'", keys[key].name,
                   allow_zero ? "zero or more" : "at least 1", v->text);
        return;
    }
    pair[0] = d[0];
    pair[1] = d[1];
}

/* padding: N, HxW, t,b,l,r, same or valid. */
static void read_padding(Builder *b, Layer *l, const Value *v)
{
    if (v->kind == VAL_WORD && strcmp(v->text, "same") == 0) {
        l->pad_rule = PAD_SAME;
        return;
    }
    if (v->kind == VAL_WORD && strcmp(v->text, "valid") == 0) {
        l->pad_rule = PAD_VALID;
        return;
    }
    if (v->kind == VAL_LIST && l->one_d) {
        /* left,right along L */
        int64_t lr[2];
        int i = 0;
        for (const Value *it = v->items; it && i < 2; it = it->next, i++)
            if (it->kind != VAL_INT || !parse_int(it->text, &lr[i]) || lr[i] < 0) {
                diag_error(b->diag, it->loc, "padding of %s expects left,right: zero or more each, got '%s'",
                           l->op_word, it->text);
                return;
            }
        if (v->nitems != 2) {
            diag_error(b->diag, v->loc, "padding of %s takes 2 numbers left,right, got %d", l->op_word, v->nitems);
            return;
        }
        l->pad[2] = lr[0];
        l->pad[3] = lr[1];
        return;
    }
    if (v->kind == VAL_LIST) {
        if (v->nitems != 4) {
            diag_error(b->diag, v->loc, "padding takes 4 numbers top,bottom,left,right, got %d", v->nitems);
            return;
        }
        int i = 0;
        int64_t pad[4];
        for (const Value *it = v->items; it; it = it->next, i++) {
            if (it->kind != VAL_INT) {
                diag_error(b->diag, it->loc, "padding expects integers in top,bottom,left,right, got '%s'",
                           it->text);
                return;
            }
            if (!parse_int(it->text, &pad[i])) {
                diag_error(b->diag, it->loc, "integer '%s' is too large", it->text);
                return;
            }
            if (pad[i] < 0) {
                diag_error(b->diag, it->loc, "padding must be zero or more, got '%s'", it->text);
                return;
            }
        }
        memcpy(l->pad, pad, sizeof pad);
        return;
    }
    int64_t hw[2] = {-1, -1};
    read_spatial(b, v, KEY_PADDING, hw, true);
    if (hw[0] >= 0) {
        l->pad[0] = l->pad[1] = hw[0];
        l->pad[2] = l->pad[3] = hw[1];
    }
}

static void read_bool(Builder *b, const Value *v, KeyKind key, bool *out)
{
    if (v->kind == VAL_WORD && strcmp(v->text, "true") == 0)
        *out = true;
    else if (v->kind == VAL_WORD && strcmp(v->text, "false") == 0)
        *out = false;
    else
        value_error(b, v, key, NULL);
}

static void read_number(Builder *b, const Value *v, KeyKind key, double *out)
{
    if (v->kind != VAL_INT && v->kind != VAL_FLOAT) {
        value_error(b, v, key, NULL);
        return;
    }
    double d = strtod(v->text, NULL);
    if (!isfinite(d)) {
        diag_error(b->diag, v->loc, "%s '%s' is out of range", keys[key].name, v->text);
        return;
    }
    *out = d;
}

static void read_count(Builder *b, const Value *v, KeyKind key, int64_t *out)
{
    int64_t n;
    if (v->kind != VAL_INT) {
        value_error(b, v, key, NULL);
        return;
    }
    if (!parse_int(v->text, &n)) {
        diag_error(b->diag, v->loc, "integer '%s' is too large", v->text);
        return;
    }
    if (n < 1) {
        diag_error(b->diag, v->loc, "%s must be at least 1, got '%s'", keys[key].name, v->text);
        return;
    }
    *out = n;
}

static void read_mode(Builder *b, const Value *v, Layer *l)
{
    for (int i = 0; v->kind == VAL_WORD && i < 4; i++)
        if (strcmp(v->text, pad_modes[i]) == 0) {
            l->pad_mode = (PadMode)i;
            return;
        }
    value_error(b, v, KEY_PADDING_MODE, NULL);
}

/* mode=: pad's padding (constant is zeros padding with its value) or
 * upsample's interpolation. */
static void read_op_mode(Builder *b, const Value *v, Layer *l)
{
    static const char *const pad_words[] = {"constant", "reflect", "replicate", "circular"};
    bool pad = l->op == OP_PAD;
    for (int i = 0; v->kind == VAL_WORD && pad && i < 4; i++)
        if (strcmp(v->text, pad_words[i]) == 0) {
            l->pad_mode = (PadMode)i;
            return;
        }
    if (!pad && v->kind == VAL_WORD && (strcmp(v->text, "nearest") == 0 || strcmp(v->text, "bilinear") == 0)) {
        l->bilinear = strcmp(v->text, "bilinear") == 0;
        return;
    }
    diag_error(b->diag, v->loc, "mode of %s expects %s, got '%s'", ir_op_name(l->op),
               pad ? "constant, reflect, replicate or circular" : "nearest or bilinear",
               v->kind == VAL_LIST ? "a list" : v->text);
}

/* Resolves one from= name to an earlier layer. */
static Layer *read_source(Builder *b, const Layer *l, const Value *v)
{
    if (v->kind != VAL_WORD) {
        value_error(b, v, KEY_FROM, NULL);
        return NULL;
    }
    Layer *src = *name_slot(&b->names, v->text);
    if (src)
        return src;
    if (strcmp(v->text, l->name) == 0) {
        diag_error(b->diag, v->loc, "layer '%s' cannot read its own output", l->name);
        return NULL;
    }
    diag_error(b->diag, v->loc, "from= names '%s', but no layer of that name comes before '%s'", v->text, l->name);
    return NULL;
}

/* Collects the from= sources; returns false after reporting an error. */
static bool read_from(Builder *b, Layer *l, const Value *v)
{
    int n = v->kind == VAL_LIST ? v->nitems : 1;
    l->in = mem_array(b->mem, (size_t)n, sizeof *l->in);
    l->in_loc = mem_array(b->mem, (size_t)n, sizeof *l->in_loc);
    bool ok = true;
    const Value *it = v->kind == VAL_LIST ? v->items : v;
    for (; it; it = v->kind == VAL_LIST ? it->next : NULL) {
        Layer *src = read_source(b, l, it);
        if (!src) {
            ok = false;
            continue;
        }
        l->in_loc[l->nin] = it->loc;
        l->in[l->nin++] = src;
    }
    bool multi = ir_ops[l->op].flags & OPF_MULTI;
    if (ok && multi && n < 2) {
        diag_error(b->diag, v->loc, "%s needs at least two inputs, as in 'from=a,b'", ir_op_name(l->op));
        return false;
    }
    if (ok && l->op == OP_MUL && n != 2) {
        diag_error(b->diag, v->loc, "mul takes two inputs, as in 'from=x,gate', but from= names %d", n);
        return false;
    }
    if (ok && !multi && n > 1) {
        diag_error(b->diag, v->loc, "%s takes one input, but from= names %d", ir_op_name(l->op), n);
        return false;
    }
    return ok;
}

/* Reads one key=value into the layer. */
static void read_attr(Builder *b, Layer *l, const Attr *a)
{
    int key = -1;
    for (int k = 0; k < KEY_COUNT; k++)
        if (strcmp(a->key, keys[k].name) == 0)
            key = k;
    const OpInfo *info = &ir_ops[l->op];
    if ((key == KEY_LAYOUT || key == KEY_DTYPE) && l->op != OP_INPUT) {
        diag_error(b->diag, a->loc, "%s= describes the caller's buffers: it goes on the input statement, as in "
                   "'input x 3x32x32 %s'", a->key, key == KEY_LAYOUT ? "layout=hwc" : "dtype=float32");
        return;
    }
    if (key < 0 || !(info->keys & K(key))) {
        const char *cands[KEY_COUNT];
        char list[256] = "";
        for (int k = 0; k < KEY_COUNT; k++) {
            cands[k] = info->keys & K(k) ? keys[k].name : NULL;
            if (cands[k] && k != KEY_FROM && !(QKEYS & K(k))) {
                if (*list)
                    strcat(list, ", ");
                strcat(list, keys[k].name);
            }
        }
        const char *s = suggest(a->key, cands, KEY_COUNT);
        if (s)
            diag_error(b->diag, a->loc, "%s has no key '%s'; did you mean '%s'?", info->name, a->key, s);
        else if (*list)
            diag_error(b->diag, a->loc, "%s has no key '%s'; it takes %s", info->name, a->key, list);
        else
            diag_error(b->diag, a->loc, "%s has no key '%s'; it takes none but from=", info->name, a->key);
        return;
    }
    if (l->given & K(key)) {
        diag_error(b->diag, a->loc, "key '%s' given twice", a->key);
        diag_note(b->diag, l->key_loc[key], "first given here");
        return;
    }
    l->given |= K(key);
    l->key_loc[key] = a->loc;
    const Value *v = a->value;
    bool spatial = key == KEY_KERNEL || key == KEY_STRIDE || key == KEY_DILATION || key == KEY_PADDING;
    if (l->one_d && spatial && v->kind == VAL_DIMS) {
        diag_error(b->diag, v->loc, "%s takes one number for %s along L, not HxW", l->op_word, a->key);
        return;
    }
    switch ((KeyKind)key) {
    case KEY_OUT: read_count(b, v, KEY_OUT, &l->out); break;
    case KEY_GROUPS: read_count(b, v, KEY_GROUPS, &l->groups); break;
    case KEY_KERNEL: read_spatial(b, v, KEY_KERNEL, l->kernel, false); break;
    case KEY_STRIDE: read_spatial(b, v, KEY_STRIDE, l->stride, false); break;
    case KEY_DILATION: read_spatial(b, v, KEY_DILATION, l->dilation, false); break;
    case KEY_PADDING: read_padding(b, l, v); break;
    case KEY_BIAS: read_bool(b, v, KEY_BIAS, &l->bias); break;
    case KEY_CEIL_MODE: read_bool(b, v, KEY_CEIL_MODE, &l->ceil_mode); break;
    case KEY_COUNT_INCLUDE_PAD: read_bool(b, v, KEY_COUNT_INCLUDE_PAD, &l->count_include_pad); break;
    case KEY_PADDING_MODE: read_mode(b, v, l); break;
    case KEY_EPS:
        read_number(b, v, KEY_EPS, &l->eps);
        if (l->eps < 0)
            diag_error(b->diag, v->loc, "eps must be zero or more, got '%s'", v->text);
        break;
    case KEY_SLOPE: read_number(b, v, KEY_SLOPE, &l->slope); break;
    case KEY_ALPHA: read_number(b, v, KEY_ALPHA, &l->alpha); break;
    case KEY_BETA: read_number(b, v, KEY_BETA, &l->beta); break;
    case KEY_MIN: read_number(b, v, KEY_MIN, &l->min_val); break;
    case KEY_MAX: read_number(b, v, KEY_MAX, &l->max_val); break;
    case KEY_NUM_PARAMETERS: read_count(b, v, KEY_NUM_PARAMETERS, &l->num_parameters); break;
    case KEY_VALUE: read_number(b, v, KEY_VALUE, &l->pad_value); break;
    case KEY_FACTOR: read_spatial(b, v, KEY_FACTOR, l->factor, false); break;
    case KEY_ALIGN_CORNERS: read_bool(b, v, KEY_ALIGN_CORNERS, &l->align_corners); break;
    case KEY_OUTPUT_PADDING: read_spatial(b, v, KEY_OUTPUT_PADDING, l->out_pad, true); break;
    case KEY_MODE: read_op_mode(b, v, l); break;
    case KEY_APPROXIMATE:
        if (v->kind == VAL_WORD && (strcmp(v->text, "none") == 0 || strcmp(v->text, "tanh") == 0))
            l->gelu_tanh = strcmp(v->text, "tanh") == 0;
        else
            value_error(b, v, KEY_APPROXIMATE, NULL);
        break;
    case KEY_P:
        read_number(b, v, KEY_P, &l->p);
        if (l->p < 0 || l->p > 1)
            diag_error(b->diag, v->loc, "p is a probability between 0 and 1, got '%s'", v->text);
        break;
    case KEY_FROM: break; /* wired by ir_layer once all keys are read */
    case KEY_SCALE: {
        double d = 0;
        read_number(b, v, KEY_SCALE, &d);
        float f = (float)d;
        if (!(f > 0.0f) || !isfinite(f))
            diag_error(b->diag, v->loc, "scale must be a positive number that fits a float, got '%s'", v->text);
        else
            l->qscale = f;
        break;
    }
    case KEY_ZERO_POINT: {
        int64_t z = 0;
        if (v->kind != VAL_INT || !parse_int(v->text, &z) || z < -128 || z > 127)
            value_error(b, v, KEY_ZERO_POINT, NULL);
        else
            l->qzero = (int32_t)z;
        break;
    }
    case KEY_LAYOUT:
        if (v->kind == VAL_WORD && (strcmp(v->text, "chw") == 0 || strcmp(v->text, "hwc") == 0))
            b->net->hwc = strcmp(v->text, "hwc") == 0;
        else
            value_error(b, v, KEY_LAYOUT, NULL);
        break;
    case KEY_DTYPE:
        if (v->kind == VAL_WORD && (strcmp(v->text, "int8") == 0 || strcmp(v->text, "float32") == 0)) {
            b->net->float_io = strcmp(v->text, "float32") == 0;
            b->dtype_int8 = !b->net->float_io;
        } else
            value_error(b, v, KEY_DTYPE, NULL);
        break;
    case KEY_COUNT: unreachable();
    }
}

/* PyTorch's defaults; the stride of a pool defaults to its kernel. */
static void set_defaults(Layer *l)
{
    l->kernel[0] = l->kernel[1] = 1;
    l->stride[0] = l->stride[1] = 1;
    l->dilation[0] = l->dilation[1] = 1;
    l->groups = 1;
    l->bias = true;
    l->count_include_pad = true;
    l->eps = 1e-5;
    l->slope = 0.01;
    l->alpha = 1.0 / 6.0; /* PyTorch's Hardsigmoid */
    l->beta = 0.5;
    l->min_val = -1.0; /* PyTorch's Hardtanh */
    l->max_val = 1.0;
    l->num_parameters = 1;
    l->factor[0] = l->factor[1] = 1;
    l->p = 0.5;
    l->pad_rule = PAD_EXPLICIT;
}

/* The op of a statement; *one_d gets the index of its 1-D spelling, or -1. */
static OpKind lookup_op(Builder *b, const Stmt *s, int *one_d)
{
    const char *cands[OP_COUNT + N_ONE_D];
    *one_d = -1;
    for (int op = 1; op < OP_COUNT; op++) {
        if (strcmp(s->op, ir_ops[op].name) == 0)
            return (OpKind)op;
        cands[op] = ir_ops[op].name;
    }
    for (int i = 0; i < N_ONE_D; i++) {
        if (strcmp(s->op, one_d_ops[i].name) == 0) {
            *one_d = i;
            return one_d_ops[i].op;
        }
        cands[OP_COUNT + i] = one_d_ops[i].name;
    }
    cands[0] = NULL;
    if (s->dropped) /* its line's syntax error is reported already */
        return OP_COUNT;
    const char *hint = suggest(s->op, cands, OP_COUNT + N_ONE_D);
    if (hint)
        diag_error(b->diag, s->loc, "unknown op '%s'; did you mean '%s'?", s->op, hint);
    else
        diag_error(b->diag, s->loc, "unknown op '%s'; see the op table in docs/language.md", s->op);
    return OP_COUNT;
}

/* Appends a layer to the schedule and registers its name, or reports
 * the clash (the first definition keeps the name). */
static void define(Builder *b, Layer *l)
{
    Layer **slot = name_slot(&b->names, l->name);
    if (*slot) {
        diag_error(b->diag, l->name_loc, "name '%s' is already used", l->name);
        diag_note(b->diag, (*slot)->name_loc, "'%s' was defined here", l->name);
    } else
        *slot = l;
    Net *net = b->net;
    net->layers[net->nlayers] = l;
    l->index = net->nlayers++;
}

static Layer *new_layer(Builder *b, OpKind op, Loc loc)
{
    Layer *l = mem_alloc(b->mem, sizeof *l);
    l->op = op;
    l->loc = loc;
    l->name_loc = loc;
    set_defaults(l);
    return l;
}

static void ir_input(Builder *b, const Stmt *s)
{
    Net *net = b->net;
    if (net->input) {
        diag_error(b->diag, s->loc, "a network has one input; this is the second");
        diag_note(b->diag, net->input->loc, "the first is here");
        return;
    }
    if (net->nlayers > 0) {
        diag_error(b->diag, s->loc, "'input' must come before the layers");
        return;
    }
    Layer *l = new_layer(b, OP_INPUT, s->loc);
    l->name = s->name ? s->name : "input";
    l->name_loc = s->name_loc;
    int64_t d[3];
    int n = parse_dims(s->dims->text, d, 3);
    if (n == 2) { /* CxL: a 1-D input, held as Cx1xL */
        d[2] = d[1];
        d[1] = 1;
        net->one_d = true;
    }
    if (n < 0)
        diag_error(b->diag, s->dims->loc, "integer in '%s' is too large", s->dims->text);
    else if (n != 3 && n != 2)
        diag_error(b->diag, s->dims->loc, "input shape must be CxHxW, or CxL for a 1-D network, as in 1x32x32 or "
                   "40x49, got '%s'", s->dims->text);
    else if (d[0] < 1 || d[1] < 1 || d[2] < 1)
        diag_error(b->diag, s->dims->loc, "input sizes must be at least 1, got '%s'", s->dims->text);
    else {
        l->shape = (Shape){d[0], d[1], d[2]};
        l->ok = true;
    }
    for (const Attr *a = s->attrs; a; a = a->next)
        read_attr(b, l, a);
    net->input = l;
    define(b, l);
}

/* A 1-D op's window runs along W: kernel, stride and dilation 1 along
 * H, no padding there (read_attr took one number per key). */
static void one_d_axes(Layer *l)
{
    l->kernel[0] = l->stride[0] = l->dilation[0] = 1;
    l->pad[0] = l->pad[1] = 0;
}

/* scale= and zero_point= go together, and only in a model whose input
 * gives them: that is what makes it an int8 model with its own params. */
static void ir_quant_keys(Builder *b)
{
    Net *net = b->net;
    const Layer *in = net->input;
    net->quantized = in && (in->given & QKEYS);
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        unsigned q = l->given & QKEYS;
        if (q && q != QKEYS) {
            KeyKind have = (q & K(KEY_SCALE)) ? KEY_SCALE : KEY_ZERO_POINT;
            diag_error(b->diag, l->key_loc[have], "%s= needs %s= beside it: an int8 tensor has both", keys[have].name,
                       keys[have == KEY_SCALE ? KEY_ZERO_POINT : KEY_SCALE].name);
        } else if (q && !net->quantized) {
            diag_error(b->diag, l->key_loc[KEY_SCALE],
                       "scale= and zero_point= are for int8 models, whose input gives them too, as in "
                       "'input x 1x28x28 scale=0.0039 zero_point=-128'");
        }
        l->qgiven = q == QKEYS && net->quantized;
    }
    if (in && b->dtype_int8 && !net->quantized)
        diag_error(b->diag, in->key_loc[KEY_DTYPE],
                   "dtype=int8 is for int8 models: give the input's scale= and zero_point= too");
}

/* Wires the layer to its producers: from=, or the statement before. */
static bool wire(Builder *b, Layer *l, const Stmt *s, const Attr *from)
{
    Net *net = b->net;
    if (from)
        return read_from(b, l, from->value);
    if (ir_ops[l->op].required & ~l->given & K(KEY_FROM))
        return false;
    if (!net->input) {
        diag_error(b->diag, s->loc, "layer '%s' comes before 'input'; declare the input first, as in 'input x 1x32x32'",
                   l->name);
        return false;
    }
    l->in = mem_alloc(b->mem, sizeof *l->in);
    l->in_loc = mem_alloc(b->mem, sizeof *l->in_loc);
    l->in[0] = net->layers[net->nlayers - 1];
    l->in_loc[0] = s->loc;
    l->nin = 1;
    return true;
}

static void ir_layer(Builder *b, const Stmt *s)
{
    int errors = b->diag->errors;
    int one_d;
    OpKind op = lookup_op(b, s, &one_d);
    bool known = op != OP_COUNT;
    /* An unknown op still takes its place, so later layers do not
     * silently read the one before it and report a false mismatch. */
    Layer *l = new_layer(b, known ? op : OP_DROPOUT, s->loc);
    if (one_d >= 0) {
        l->one_d = true;
        l->op_word = one_d_ops[one_d].name;
    }
    int n = !known ? 0 : one_d >= 0 ? ++b->one_d_counts[one_d] : ++b->op_counts[op];
    l->name = s->name ? s->name : known ? mem_printf(b->mem, "%s_%d", ir_layer_op(l), n) : s->op;
    l->name_loc = s->name ? s->name_loc : s->loc;
    const Attr *from = NULL;
    for (const Attr *a = s->attrs; a && known; a = a->next) {
        read_attr(b, l, a);
        if (strcmp(a->key, "from") == 0 && !from)
            from = a;
    }
    if (l->one_d)
        one_d_axes(l);
    if (op == OP_ELU && !(l->given & K(KEY_ALPHA)))
        l->alpha = 1.0; /* nn.ELU's; hardsigmoid's alpha defaults otherwise */
    if (op == OP_PIXELSHUFFLE && l->factor[0] != l->factor[1])
        diag_error(b->diag, l->key_loc[KEY_FACTOR], "pixelshuffle takes one factor for both axes, got %lldx%lld",
                   (long long)l->factor[0], (long long)l->factor[1]);
    if ((op == OP_PAD || op == OP_CONVTRANSPOSE2D) && l->pad_rule != PAD_EXPLICIT)
        diag_error(b->diag, l->key_loc[KEY_PADDING], "%s takes N, HxW or top,bottom,left,right, not '%s'", ir_ops[op].name,
                   l->pad_rule == PAD_SAME ? "same" : "valid");
    if (op == OP_UPSAMPLE && l->align_corners && !l->bilinear)
        diag_error(b->diag, l->key_loc[KEY_ALIGN_CORNERS], "align_corners is for mode=bilinear, as in PyTorch");
    if (op == OP_HARDTANH && l->min_val > l->max_val)
        diag_error(b->diag, l->key_loc[l->given & K(KEY_MAX) ? KEY_MAX : KEY_MIN],
                   "hardtanh needs min <= max, got min=%g max=%g", l->min_val, l->max_val);
    bool pool = known && (ir_ops[op].flags & OPF_WINDOW) && op != OP_CONV2D;
    if (known && pool && !(l->given & K(KEY_STRIDE))) {
        l->stride[0] = l->kernel[0]; /* as in PyTorch */
        l->stride[1] = l->kernel[1];
    }
    unsigned missing = known && !s->dropped ? ir_ops[op].required & ~l->given : 0;
    for (int k = 0; k < KEY_COUNT; k++)
        if (missing & K(k))
            diag_error(b->diag, l->name_loc, "%s '%s' needs %s=, as in '%s'", ir_ops[op].name, l->name, keys[k].name,
                       k == KEY_FROM ? "from=a,b" : k == KEY_OUT ? "out=16" : "kernel=3");
    bool wired = wire(b, l, s, from);
    define(b, l);
    /* analyze() skips a layer with errors, and everything downstream. */
    l->broken = !wired || b->diag->errors != errors || s->dropped;
}

static void ir_network(Builder *b, const Stmt *s, bool first)
{
    if (b->net->name) {
        diag_error(b->diag, s->loc, "'network' given twice");
        diag_note(b->diag, b->net->name_loc, "first given here");
        return;
    }
    if (!first)
        diag_error(b->diag, s->loc, "'network NAME' must be the first statement");
    if (!is_c_identifier(s->name))
        diag_error(b->diag, s->name_loc,
                   "network name '%s' must be a C identifier (letters, digits, _): it prefixes every generated symbol",
                   s->name);
    b->net->name = s->name;
    b->net->name_loc = s->name_loc;
}

/* Resolves `output a b ...`, or takes the last layer. */
static void ir_outputs(Builder *b)
{
    Net *net = b->net;
    const Stmt *s = b->output_stmt;
    if (!s) {
        if (net->nlayers > 1) {
            net->outputs = mem_alloc(b->mem, sizeof *net->outputs);
            net->outputs[net->noutputs++] = net->layers[net->nlayers - 1];
        }
        return;
    }
    int n = 0;
    for (const Value *v = s->names; v; v = v->next)
        n++;
    net->outputs = mem_array(b->mem, (size_t)n, sizeof *net->outputs);
    for (const Value *v = s->names; v; v = v->next) {
        Layer *l = *name_slot(&b->names, v->text);
        if (!l)
            diag_error(b->diag, v->loc, "output names '%s', but no layer has that name", v->text);
        else if (l->op == OP_INPUT)
            diag_error(b->diag, v->loc, "the input cannot be an output; add a layer after it");
        else if (l->is_output)
            diag_error(b->diag, v->loc, "'%s' is named twice in output", v->text);
        else {
            l->is_output = true;
            net->outputs[net->noutputs++] = l;
        }
    }
}

/* Records who reads each tensor, and warns about tensors nobody reads. */
static void ir_users(Builder *b)
{
    Net *net = b->net;
    for (int i = 0; i < net->noutputs; i++)
        net->outputs[i]->is_output = true;
    int *counts = mem_array(b->mem, (size_t)net->nlayers, sizeof *counts);
    for (int i = 0; i < net->nlayers; i++)
        for (int j = 0; j < net->layers[i]->nin; j++)
            counts[net->layers[i]->in[j]->index]++;
    for (int i = 0; i < net->nlayers; i++)
        net->layers[i]->users = mem_array(b->mem, (size_t)counts[i], sizeof(Layer *));
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        for (int j = 0; j < l->nin; j++) {
            Layer *src = l->in[j];
            src->users[src->nusers++] = l;
        }
    }
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        if (l->nusers == 0 && !l->is_output && b->diag->errors == 0)
            diag_warning(b->diag, l->name_loc, "the output of '%s' is never used", l->name);
    }
}

Net *ir_build(Mem *m, Diag *d, Stmt *stmts)
{
    Builder b = {.mem = m, .diag = d};
    /* After a syntax error the missing statement is probably the broken
     * line: saying it is missing too would come first and mislead. */
    bool syntax_ok = d->errors == 0;
    Net *net = b.net = mem_alloc(m, sizeof *net);
    size_t n = 0;
    for (Stmt *s = stmts; s; s = s->next)
        n++;
    net->layers = mem_array(m, n + 1, sizeof *net->layers);
    b.names.cap = 16;
    while (b.names.cap < 2 * n + 2)
        b.names.cap *= 2;
    b.names.slots = mem_array(m, b.names.cap, sizeof *b.names.slots);

    for (Stmt *s = stmts; s; s = s->next) {
        switch (s->kind) {
        case STMT_NETWORK: ir_network(&b, s, s == stmts); break;
        case STMT_INPUT: ir_input(&b, s); break;
        case STMT_LAYER: ir_layer(&b, s); break;
        case STMT_OUTPUT:
            if (b.output_stmt) {
                diag_error(d, s->loc, "'output' given twice; list every output in one statement");
                diag_note(d, b.output_stmt->loc, "first given here");
            } else
                b.output_stmt = s;
            break;
        }
    }
    Loc start = stmts ? stmts->loc : (Loc){1, 1, 1};
    if (!net->name) {
        if (syntax_ok)
            diag_error(d, start, "missing 'network NAME' as the first statement");
        net->name = "net";
    }
    if (!net->input) {
        if (syntax_ok)
            diag_error(d, start, "missing 'input [NAME] CxHxW', as in 'input x 1x32x32'");
        return net;
    }
    if (net->nlayers < 2 && syntax_ok)
        diag_error(d, net->input->loc, "the network has no layers after its input");
    ir_quant_keys(&b);
    ir_outputs(&b);
    ir_users(&b);
    return net;
}
