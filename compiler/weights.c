/* weights.c: binds trained tensors to layers. Names and layouts are
 * PyTorch's state_dict (NAME.weight, NAME.bias, NAME.running_mean,
 * NAME.running_var), so a model saved from PyTorch loads unchanged.
 * Everything is checked before use: a wrong file must never become
 * wrong numbers in firmware. */
#include "cnnc.h"
#include "safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const bn_suffix[4] = {"weight", "bias", "running_mean", "running_var"};

int weights_count(const Layer *l)
{
    switch (l->op) {
    case OP_CONV2D:
    case OP_CONVTRANSPOSE2D:
    case OP_LINEAR: return l->bias ? 2 : 1;
    case OP_BATCHNORM2D: return 4;
    case OP_PRELU: return 1;
    default: return 0;
    }
}

const char *weights_suffix(const Layer *l, int i)
{
    return l->op == OP_BATCHNORM2D ? bn_suffix[i] : i ? "bias" : "weight";
}

/* The PyTorch shape of tensor i; returns its number of dimensions. */
static int expected_shape(const Layer *l, int i, int64_t shape[4])
{
    const Shape in = l->in[0]->shape;
    if (l->op == OP_BATCHNORM2D || i == 1) {
        shape[0] = l->shape.c;
        return 1;
    }
    if (l->op == OP_CONVTRANSPOSE2D) {
        shape[0] = in.c; /* nn.ConvTranspose2d: [in, out/groups, kH, kW] */
        shape[1] = l->out / l->groups;
        shape[2] = l->kernel[0];
        shape[3] = l->kernel[1];
        return 4;
    }
    if (l->op == OP_PRELU) {
        shape[0] = l->num_parameters; /* nn.PReLU(num_parameters).weight */
        return 1;
    }
    if (l->op == OP_LINEAR) {
        shape[0] = l->out;
        shape[1] = in.c;
        return 2;
    }
    if (l->one_d) { /* nn.Conv1d: [out, in/groups, K] */
        shape[0] = l->out;
        shape[1] = in.c / l->groups;
        shape[2] = l->kernel[1];
        return 3;
    }
    shape[0] = l->out;
    shape[1] = in.c / l->groups;
    shape[2] = l->kernel[0];
    shape[3] = l->kernel[1];
    return 4;
}

int64_t weights_numel(const Layer *l, int i)
{
    int64_t shape[4], n = 1;
    int nd = expected_shape(l, i, shape);
    for (int k = 0; k < nd; k++)
        n *= shape[k];
    return n;
}

static void shape_text(char *buf, size_t len, const int64_t *shape, int nd)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int k = 0; k < nd && o < len; k++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", k ? ", " : "", (long long)shape[k]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

/* Finds, checks and converts one tensor; false after reporting. */
static bool load_tensor(Mem *m, Diag *d, const StFile *f, Layer *l, int i, bool *used)
{
    const char *path = f->path;
    char name[512];
    snprintf(name, sizeof name, "%s.%s", l->name, weights_suffix(l, i));
    int64_t want[4];
    int nd = expected_shape(l, i, want);
    char wtext[96], gtext[160];
    shape_text(wtext, sizeof wtext, want, nd);
    const StTensor *t = st_find(f, name);
    if (!t) {
        diag_file_error(d, path, "tensor '%s' is missing; %s '%s' (line %d) needs %s of shape %s", name,
                        ir_op_name(l->op), l->name, l->loc.line, weights_suffix(l, i), wtext);
        return false;
    }
    used[t - f->tensors] = true;
    if (!st_dtype_convertible(t->dtype)) {
        diag_file_error(d, path, "tensor '%s' has dtype %s; cnnc reads F32, F16 and BF16", name, t->dtype_name);
        return false;
    }
    bool same = t->ndim == nd;
    for (int k = 0; same && k < nd; k++)
        same = t->shape[k] == want[k];
    if (!same) {
        shape_text(gtext, sizeof gtext, t->shape, t->ndim);
        diag_file_error(d, path, "tensor '%s' has shape %s, but %s '%s' (line %d) needs %s", name, gtext,
                        ir_op_name(l->op), l->name, l->loc.line, wtext);
        return false;
    }
    l->tensor[i] = mem_array(m, (size_t)st_numel(t), sizeof(float));
    int64_t bad = st_to_f32(f, t, l->tensor[i]);
    if (bad > 0)
        diag_file_warning(d, path, "tensor '%s' holds %lld NaN or infinite value%s", name, (long long)bad,
                          bad == 1 ? "" : "s");
    return true;
}

/* Element i of a little-endian tensor, as the int32 it holds. */
static int32_t le_int(const unsigned char *p, int size, int64_t i)
{
    p += i * size;
    if (size == 1)
        return (int8_t)p[0];
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

/* One tensor of an int8 model, of exactly this dtype and one of the
 * shapes [want] or [alt] (alt_nd 0 for none), copied out as int8, int32 or
 * float; NULL after reporting. *n receives the element count. */
static void *load_raw(Mem *m, Diag *d, const StFile *f, const Layer *l, const char *suffix, StDtype dtype,
                      const int64_t *want, int nd, const int64_t *alt, int alt_nd, int64_t *n, bool *used)
{
    static const char *const dtype_names[] = {[ST_I8] = "I8", [ST_I32] = "I32", [ST_F32] = "F32"};
    char name[512], wtext[200], atext[96], gtext[160];
    snprintf(name, sizeof name, "%s.%s", l->name, suffix);
    shape_text(wtext, sizeof wtext, want, nd);
    if (alt_nd) {
        shape_text(atext, sizeof atext, alt, alt_nd);
        size_t o = strlen(wtext);
        snprintf(wtext + o, sizeof wtext - o, " or %s", atext);
    }
    const StTensor *t = st_find(f, name);
    if (!t) {
        diag_file_error(d, f->path, "tensor '%s' is missing; int8 %s '%s' (line %d) needs %s %s of shape %s", name,
                        ir_op_name(l->op), l->name, l->loc.line, dtype_names[dtype], suffix, wtext);
        return NULL;
    }
    used[t - f->tensors] = true;
    if (t->dtype != dtype) {
        diag_file_error(d, f->path, "tensor '%s' has dtype %s, but %s '%s' (line %d) of an int8 model needs %s", name,
                        t->dtype_name, ir_op_name(l->op), l->name, l->loc.line, dtype_names[dtype]);
        return NULL;
    }
    bool same = t->ndim == nd, other = alt_nd && t->ndim == alt_nd;
    for (int k = 0; same && k < nd; k++)
        same = t->shape[k] == want[k];
    for (int k = 0; other && k < alt_nd; k++)
        other = t->shape[k] == alt[k];
    if (!same && !other) {
        shape_text(gtext, sizeof gtext, t->shape, t->ndim);
        diag_file_error(d, f->path, "tensor '%s' has shape %s, but %s '%s' (line %d) needs %s", name, gtext,
                        ir_op_name(l->op), l->name, l->loc.line, wtext);
        return NULL;
    }
    *n = st_numel(t);
    const unsigned char *p = f->data + t->begin;
    if (dtype == ST_F32) {
        float *v = mem_array(m, (size_t)*n, sizeof *v);
        st_to_f32(f, t, v);
        return v;
    }
    if (dtype == ST_I8) {
        int8_t *v = mem_array(m, (size_t)*n, sizeof *v);
        for (int64_t i = 0; i < *n; i++)
            v[i] = (int8_t)le_int(p, 1, i);
        return v;
    }
    int32_t *v = mem_array(m, (size_t)*n, sizeof *v);
    for (int64_t i = 0; i < *n; i++)
        v[i] = le_int(p, 4, i);
    return v;
}

/* An int8 model's conv or linear: int8 weights, their float scales (per
 * output channel or one) and int32 biases. */
static void load_int8(Mem *m, Diag *d, const StFile *f, Layer *l, bool *used)
{
    int64_t want[4], one[1] = {1}, chans[1] = {l->out}, n;
    int nd = expected_shape(l, 0, want);
    l->qweight = load_raw(m, d, f, l, "weight", ST_I8, want, nd, NULL, 0, &n, used);
    l->qwscale = load_raw(m, d, f, l, "weight_scale", ST_F32, chans, 1, one, 1, &l->nqwscale, used);
    if (l->bias)
        l->qbias = load_raw(m, d, f, l, "bias", ST_I32, chans, 1, NULL, 0, &n, used);
    for (int64_t c = 0; l->qwscale && c < l->nqwscale; c++)
        if (!(l->qwscale[c] >= 0.0f) || !isfinite(l->qwscale[c])) {
            diag_file_error(d, f->path, "tensor '%s.weight_scale' holds %g at [%lld]; scales are finite and not negative",
                            l->name, (double)l->qwscale[c], (long long)c);
            return;
        }
}

/* Tensors nobody reads are probably a naming mistake; PyTorch's
 * bookkeeping counters are not. */
static void warn_unused(Diag *d, const StFile *f, const bool *used)
{
    for (int i = 0; i < f->ntensors; i++) {
        const char *name = f->tensors[i].name;
        size_t n = strlen(name), suffix = strlen(".num_batches_tracked");
        if (used[i] || (n > suffix && strcmp(name + n - suffix, ".num_batches_tracked") == 0))
            continue;
        diag_file_warning(d, f->path, "tensor '%s' is not used by any layer", name);
    }
}

bool weights_load(Mem *m, Diag *d, Net *net, const char *path)
{
    char err[512];
    StFile *f = st_load(path, err, sizeof err);
    if (!f) {
        diag_file_error(d, path, "%s", err);
        return false;
    }
    bool *used = calloc((size_t)f->ntensors + 1, sizeof *used);
    if (!used)
        die("out of memory");
    int errors = d->errors;
    for (int i = 1; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        if (net->quantized && (l->op == OP_CONV2D || l->op == OP_LINEAR))
            load_int8(m, d, f, l, used);
        else
            for (int k = 0; k < weights_count(l); k++)
                load_tensor(m, d, f, l, k, used);
    }
    if (d->errors == errors)
        warn_unused(d, f, used);
    free(used);
    st_free(f);
    return d->errors == errors;
}

/* splitmix64: a tiny, well-mixed generator, so --init=random:SEED gives
 * the same weights on every machine. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [-bound, bound], as PyTorch's default (Kaiming-uniform) init. */
static float uniform(uint64_t *state, double bound)
{
    double u = (double)(next_random(state) >> 11) / 9007199254740992.0; /* [0, 1) */
    return (float)((2 * u - 1) * bound);
}

/* Placeholder int8 weights: uniform in -127..127 with one scale per
 * channel that gives PyTorch's default range, and zero biases. */
static void init_int8(Mem *m, Layer *l, bool zeros, uint64_t *state)
{
    int64_t n = weights_numel(l, 0), fan_in = n / l->out;
    l->qweight = mem_array(m, (size_t)n, sizeof *l->qweight);
    for (int64_t j = 0; j < n && !zeros; j++)
        l->qweight[j] = (int8_t)lround(uniform(state, 127.0));
    l->nqwscale = l->out;
    l->qwscale = mem_array(m, (size_t)l->out, sizeof *l->qwscale);
    for (int64_t c = 0; c < l->out; c++)
        l->qwscale[c] = (float)(1.0 / sqrt((double)fan_in) / 127.0);
    if (l->bias)
        l->qbias = mem_array(m, (size_t)l->out, sizeof *l->qbias);
}

bool weights_init(Mem *m, Net *net, const char *spec)
{
    bool zeros = strcmp(spec, "zeros") == 0;
    uint64_t state = 0;
    if (!zeros) {
        if (strncmp(spec, "random", 6) != 0 || (spec[6] && spec[6] != ':'))
            return false;
        if (spec[6] == ':') {
            char *end;
            state = strtoull(spec + 7, &end, 10);
            if (!spec[7] || *end)
                return false;
        }
    }
    for (int i = 1; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        if (net->quantized && (l->op == OP_CONV2D || l->op == OP_LINEAR)) {
            init_int8(m, l, zeros, &state);
            continue;
        }
        for (int k = 0; k < weights_count(l); k++) {
            int64_t n = weights_numel(l, k);
            float *t = l->tensor[k] = mem_array(m, (size_t)n, sizeof(float));
            if (l->op == OP_BATCHNORM2D) {
                /* PyTorch's fresh batchnorm: the identity */
                for (int64_t j = 0; j < n; j++)
                    t[j] = k == 0 || k == 3 ? 1.0f : 0.0f;
                continue;
            }
            if (l->op == OP_PRELU) {
                /* PyTorch's fresh PReLU: every slope 0.25 */
                for (int64_t j = 0; j < n; j++)
                    t[j] = 0.25f;
                continue;
            }
            int64_t fan_in = weights_numel(l, 0) / l->out;
            double bound = 1.0 / sqrt((double)fan_in);
            for (int64_t j = 0; j < n && !zeros; j++)
                t[j] = uniform(&state, bound);
        }
    }
    return true;
}

/* The conv's weights and bias with a batchnorm after it folded in:
 * w' = w * g / sqrt(var + eps), b' = (b - mean) * g / sqrt(var + eps) + beta,
 * computed in double so the only rounding is the final one. Both back
 * ends start from these, so float and int8 agree on the folded values. */
void weights_folded(Mem *m, const Layer *l, const Layer *bn, float **w, float **b)
{
    int64_t nw = weights_numel(l, 0), per = nw / l->out;
    *w = l->tensor[0];
    *b = l->bias ? l->tensor[1] : NULL;
    if (!bn)
        return;
    float *fw = mem_array(m, (size_t)nw, sizeof *fw);
    float *fb = mem_array(m, (size_t)l->out, sizeof *fb);
    for (int64_t oc = 0; oc < l->out; oc++) {
        double scale = (double)bn->tensor[0][oc] / sqrt((double)bn->tensor[3][oc] + bn->eps);
        for (int64_t k = 0; k < per; k++)
            fw[oc * per + k] = (float)((double)l->tensor[0][oc * per + k] * scale);
        double bias = l->bias ? (double)l->tensor[1][oc] : 0.0;
        fb[oc] = (float)((bias - (double)bn->tensor[2][oc]) * scale + (double)bn->tensor[1][oc]);
    }
    *w = fw;
    *b = fb;
}
