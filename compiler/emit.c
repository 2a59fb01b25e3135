/* emit.c: the C back end. Every shape, stride and offset is a constant
 * in the output, kernel windows are unrolled within a code-size budget,
 * and interiors (no bounds checks) are split from borders. Batchnorm is
 * folded into the conv before it, and elementwise ops that overwrite
 * their producer's output run in that producer's store (its epilogue),
 * so their tensor is never read back.
 *
 * The emitter is driven by the table `kinds` below: for each op, the
 * function that writes its layer function. */
#include "cnnc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The state of one emission. */
typedef struct Emitter {
    Mem *mem;
    Diag *diag;
    Net *net;
    const EmitOptions *opt;
    FILE *out;
    int indent;
    const char *path;       /* the model's path, safe inside a comment */
    const char **cname;     /* per layer: C-safe unique name */
    bool *unroll;           /* per layer: unroll its kernel window */
    bool post;              /* the layer's epilogue after its add runs as a pass of its own */
} Emitter;

/* Prints one line at the current indent. A line ending in '{' opens a
 * block, one starting with '}' closes it, so callers never count tabs. */
PRINTF(2, 3) static void emit(Emitter *e, const char *fmt, ...)
{
    if (fmt[0] == '}')
        e->indent--;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char small[512];
    char *line = n < (int)sizeof small ? small : malloc((size_t)n + 1);
    if (!line)
        die("out of memory");
    va_start(ap, fmt);
    vsnprintf(line, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (n > 0) /* preprocessor lines stay in column 0, as people write them */
        fprintf(e->out, "%*s%s\n", line[0] == '#' ? 0 : 4 * e->indent, "", line);
    else
        fputc('\n', e->out);
    if (n > 0 && line[n - 1] == '{')
        e->indent++;
    if (line != small)
        free(line);
}

/* A float literal that reads back to exactly the same float. */
static const char *flit(float v, char *buf, size_t len)
{
    if (isnan(v))
        return "CNNC_NAN";
    if (isinf(v))
        return v > 0 ? "CNNC_INF" : "(-CNNC_INF)";
    snprintf(buf, len, "%.9g", (double)v);
    if (!strpbrk(buf, ".en"))
        strncat(buf, ".0", len - strlen(buf) - 1);
    strncat(buf, "f", len - strlen(buf) - 1);
    return buf;
}

/* ---- groups ---- */

/* A group whose only effect is to rename its input's buffer. */
static bool is_alias(const Layer *h)
{
    return h->tail == h && (h->op == OP_FLATTEN || h->op == OP_DROPOUT) && h->buf == h->in[0]->buf;
}

/* Whether a host writes its own input's buffer (an in-place elementwise op). */
static bool in_place(const Layer *h)
{
    return h->op != OP_INPUT && h->tail->buf == h->in[0]->buf && h->tail->buf != BUF_NONE;
}

/* Text built piece by piece: parameter and argument lists grow with the
 * inputs and outputs, and rebuilding a string for each item would be
 * quadratic (a 100,000-wide add, 10,000 outputs). */
typedef struct Text {
    FILE *f;
    char *buf;
    size_t len;
} Text;

static FILE *text_open(Text *t)
{
    t->buf = NULL;
    t->len = 0;
    t->f = open_memstream(&t->buf, &t->len);
    if (!t->f)
        die("out of memory");
    return t->f;
}

/* The text, now owned by the emission's Mem. */
static const char *text_done(Emitter *e, Text *t)
{
    fclose(t->f);
    const char *s = mem_strndup(e->mem, t->buf, t->len);
    free(t->buf);
    return s;
}

/* ---- names ---- */

/* C names given so far, by open addressing: each remembers the next
 * suffix to try, so even 100,000 names that share their first 240
 * characters get theirs in linear time. */
typedef struct NameSlot {
    const char *name;
    int next; /* the suffix the next clash with this name tries */
} NameSlot;

typedef struct NameSet {
    NameSlot *slots;
    size_t mask;
} NameSet;

static NameSlot *name_find(NameSet *set, const char *name)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (const char *c = name; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211u;
    size_t i = (size_t)h & set->mask;
    while (set->slots[i].name && strcmp(set->slots[i].name, name) != 0)
        i = (i + 1) & set->mask;
    return &set->slots[i];
}

static void make_names(Emitter *e)
{
    Net *net = e->net;
    NameSet set = {0};
    size_t cap = 16;
    while (cap < 4 * (size_t)net->nlayers)
        cap *= 2;
    set.slots = mem_array(e->mem, cap, sizeof *set.slots);
    set.mask = cap - 1;
    for (int i = 0; i < net->nlayers; i++) {
        char buf[256];
        size_t n = 0;
        for (const char *s = net->layers[i]->name; *s && n + 1 < sizeof buf - 16; s++)
            buf[n++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ? *s
                                                                                                           : '_');
        buf[n] = '\0';
        /* 'features.0' and 'features_0' must not meet as one C name */
        NameSlot *base = name_find(&set, buf);
        const char *name = buf;
        if (base->name) {
            for (int k = base->next ? base->next : 2;; k++) {
                name = mem_printf(e->mem, "%s_%d", buf, k);
                if (!name_find(&set, name)->name) {
                    base->next = k + 1;
                    break;
                }
            }
        }
        NameSlot *slot = name_find(&set, name);
        slot->name = e->cname[i] = name == buf ? mem_strdup(e->mem, buf) : name;
        slot->next = 2;
    }
}

/* ---- weights ---- */

static void emit_array(Emitter *e, const char *name, const char *what, const float *v, int64_t n)
{
    emit(e, "/* %s */", what);
    emit(e, "static const float %s[%lld] = {", name, (long long)n);
    char line[1024], lit[48];
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        o += (size_t)snprintf(line + o, sizeof line - o, "%s%s", flit(v[i], lit, sizeof lit), i + 1 < n ? "," : "");
        if ((i + 1) % 8 == 0 || i + 1 == n) {
            emit(e, "%s", line);
            o = 0;
        } else
            o += (size_t)snprintf(line + o, sizeof line - o, " ");
    }
    emit(e, "};");
}

/* How a conv or linear layer is blocked: OCB output channels at a time,
 * so each input value loaded feeds OCB accumulators, and P output pixels
 * at a time, so each weight loaded feeds P. The weights are stored in
 * that order: [block][in channel][ky][kx][OCB]. */
typedef struct Blocking {
    int64_t ocb, p;
} Blocking;

enum {
    FREGS = 32,    /* single-precision registers of a Cortex-M4F */
    /* of them, kept free for the products of CNNC_FMA's multiply-then-add
     * form on a Cortex-M4F (cnnc_rt.h): without them gcc spills accumulators
     * (ResNet-8: 3.04 modelled cycles/MAC instead of 2.84). The blocking
     * counts them; the kernel's pinning keeps all 32 (LeNet-5: 3.31, 3.13) */
    MAC_TEMPS = 2,
    FBUDGET = FREGS - MAC_TEMPS,
    MAX_LD = 8,    /* the longest CNNC_LDn in cnnc_rt.h */
    MAX_P = 8,     /* output positions a block may hold */
    MAX_SPAN = 4096 /* input columns one block's row may cover */
};

/* The largest divisor of n that is at most cap. */
static int64_t divisor_upto(int64_t n, int64_t cap)
{
    for (int64_t d = cap < n ? cap : n; d > 1; d--)
        if (n % d == 0)
            return d;
    return 1;
}

/* About 24 accumulators: what fits the 32 float registers of a
 * Cortex-M4F beside the values and weights being loaded and the products
 * of the split multiply-add. A conv into a pool keeps 20 / (pool window)
 * channels: with the products beside them, more spill (LeNet-5: 3.79
 * modelled cycles/MAC with 24 / window, 3.13 with 20 or 16; MobileNetV1,
 * whose last pointwise conv reduces into a 3x3 pool: 3.00 with 20, 3.08
 * with 16). */
static Blocking blocking_for(const Layer *l, bool unrolled)
{
    if (!unrolled)
        return (Blocking){1, 1};
    int64_t ocg = l->op == OP_CONV2D ? l->out / l->groups : l->out;
    if (l->op == OP_LINEAR)
        return (Blocking){divisor_upto(ocg, 8), 1};
    const Layer *pool = l->pool;
    if (pool) {
        int64_t p = pool->kernel[0] * pool->kernel[1];
        return (Blocking){divisor_upto(ocg, 20 / p > 0 ? 20 / p : 1), p};
    }
    /* Cortex-M4F instructions per MAC of the unrolled kernel (micro):
     * per kernel row, one FMA per MAC, a VLDM per run of neighbouring
     * inputs (and a pointer step), a VLDM per chunk of weights; per input
     * channel a pointer step and the loop's compare and branch. The
     * accumulators, a row's inputs and one tap's weights must fit the 32
     * float registers. */
    int64_t kw = l->kernel[1], kh = l->kernel[0], reach = (l->kernel[1] - 1) * l->dilation[1];
    /* a row this long is not unrolled for registers anyway (and the
     * bitmap below would be as long as the stride) */
    if ((MAX_P - 1) * l->stride[1] + reach + 1 > MAX_SPAN)
        return (Blocking){1, 1};
    Blocking best = {1, 1};
    double best_cost = 1e30;
    for (int64_t ocb = 1; ocb <= 8; ocb++)
        for (int64_t p = 1; p <= MAX_P; p++) {
            int64_t span = (p - 1) * l->stride[1] + reach + 1, row = span < p * kw ? span : p * kw;
            if (ocg % ocb || ocb * p + row + ocb > FBUDGET)
                continue;
            /* the row's inputs: which offsets of the span are read */
            bool *hit = calloc((size_t)span, sizeof *hit);
            if (!hit)
                die("out of memory");
            for (int64_t q = 0; q < p; q++)
                for (int64_t k = 0; k < kw; k++)
                    hit[q * l->stride[1] + k * l->dilation[1]] = true;
            int64_t loads = 0;
            for (int64_t i = 0; i < span;) {
                int64_t n = 0;
                while (i + n < span && hit[i + n] && n < MAX_LD)
                    n++;
                loads += n >= 2 ? 2 : n;
                i += n ? n : 1;
            }
            free(hit);
            int64_t cap = FBUDGET - row - ocb * p, taps = (cap < MAX_LD ? cap : MAX_LD) / ocb;
            loads += ocb == 1 && taps < 2 ? kw : (kw + taps - 1) / taps;
            double fmas = (double)(ocb * p * kw);
            double cost = ((double)(kh * loads) + 3.0) / (fmas * (double)kh);
            if (cost < best_cost - 1e-9) {
                best = (Blocking){ocb, p};
                best_cost = cost;
            }
        }
    return best;
}

/* ---- host tuning (--tune=host) ---- */

/* Whether any side of conv l is padded. */
static bool any_pad(const Layer *l)
{
    return l->pad[0] || l->pad[1] || l->pad[2] || l->pad[3];
}

/* Whether conv l, reducing into its pool, gets a host kernel of its own
 * (emit_conv_pool_band, see host_band, else emit_conv_host, whose taps
 * are clipped to ranges): zero padding only. Other padding modes
 * keep the mcu kernel, which maps every tap; convs without a pool use
 * the unrolled kernel with the host's blocking and stores. */
static bool host_conv(const Emitter *e, const Layer *l)
{
    return e->opt->tune_host && l->op == OP_CONV2D && l->pool && (!any_pad(l) || l->pad_mode == PM_ZEROS);
}

/* The largest copy of zero-padded input rows (floats) the host's band
 * kernel puts on the stack; a conv reading more keeps emit_conv_host. */
enum { HOST_PAD_MAX = 16384 };

/* The input rows one pooled row of conv l reads: the rows of its
 * band's padded input copy. */
static int64_t band_rows(const Layer *l)
{
    return (l->pool->kernel[0] - 1) * l->stride[0] + (l->kernel[0] - 1) * l->dilation[0] + 1;
}

/* The input columns (padding included) the same band reads. */
static int64_t band_cols(const Layer *l)
{
    return (l->pool->shape.w * l->pool->kernel[1] - 1) * l->stride[1] + (l->kernel[1] - 1) * l->dilation[1] + 1;
}

/* Whether host conv l runs as emit_conv_pool_band (vectorized strips):
 * always when nothing is padded, and when zero padded, as long as the
 * padded copy of a band's input rows stays small. */
static bool host_band(const Emitter *e, const Layer *l)
{
    if (!host_conv(e, l))
        return false;
    int64_t icg = l->in[0]->shape.c / l->groups;
    return !any_pad(l) || icg * band_rows(l) * band_cols(l) <= HOST_PAD_MAX;
}

/* A 1x1 conv that reads exactly the pixel it writes. */
static bool pointwise(const Layer *h)
{
    return h->kernel[0] == 1 && h->kernel[1] == 1 && h->stride[0] == 1 && h->stride[1] == 1 && !h->pad[0] &&
           !h->pad[1] && !h->pad[2] && !h->pad[3];
}

/* The conv columns a pooled conv computes per row: those its pool
 * windows cover. */
static int64_t host_row(const Layer *h)
{
    return h->pool->shape.w * h->pool->kernel[1];
}

/* Rows narrower than a vector vectorize better across the output
 * channels of one position than across positions. */
static bool host_oc_inner(const Layer *h)
{
    int64_t ocg = h->out / h->groups;
    return ocg >= 8 && host_row(h) < 8;
}

/* Host blocking: the channels whose accumulators share each input row
 * (or, across channels, one vector of them). */
static Blocking host_blocking(const Layer *l)
{
    if (l->op == OP_LINEAR) {
        /* many outputs at once: each input's multiply-adds are then
         * independent vectors rather than one chain waiting on itself */
        return (Blocking){divisor_upto(l->out, 256), 1};
    }
    int64_t ocg = l->out / l->groups;
    return (Blocking){divisor_upto(ocg, host_oc_inner(l) ? 16 : 8), 1};
}

static Blocking blocking(const Emitter *e, const Layer *l)
{
    if (e->opt->tune_host && (l->op == OP_LINEAR || (host_conv(e, l) && !host_band(e, l))))
        return host_blocking(l);
    /* the host's vectors: 16 neighbouring positions (one AVX-512
     * register, two AVX2 ones) for each of up to 8 channels */
    if (e->opt->tune_host && l->op == OP_CONV2D)
        return (Blocking){divisor_upto(l->out / l->groups, 8), 16};
    return blocking_for(l, e->unroll[l->index]);
}

/* Reorders [out][per] weights into blocks of ocb outputs: [out/ocb][per][ocb]. */
static float *pack(Emitter *e, const float *w, int64_t out, int64_t per, int64_t ocb)
{
    float *packed = mem_array(e->mem, (size_t)(out * per), sizeof *packed);
    for (int64_t oc = 0; oc < out; oc++)
        for (int64_t k = 0; k < per; k++)
            packed[((oc / ocb) * per + k) * ocb + oc % ocb] = w[oc * per + k];
    return packed;
}

/* The batchnorm folded into conv l, if any. */
static const Layer *folded_bn(const Layer *l)
{
    /* by index: a pointwise conv is emitted through a reshaped copy */
    const Layer *u = l->nusers == 1 ? l->users[0] : NULL;
    return u && u->fold_into && u->fold_into->index == l->index ? u : NULL;
}

static void emit_weights(Emitter *e)
{
    Net *net = e->net;
    for (int i = 1; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        const char *n = e->cname[i];
        char what[512];
        if (l->op == OP_CONV2D || l->op == OP_LINEAR) {
            float *w, *b;
            const Layer *bn = l->op == OP_CONV2D ? folded_bn(l) : NULL;
            weights_folded(e->mem, l, bn, &w, &b);
            Blocking bk = blocking(e, l);
            snprintf(what, sizeof what, "%s.weight, line %d%s%s, in blocks of %lld outputs", l->name, l->loc.line,
                     bn ? ", folded with " : "", bn ? bn->name : "", (long long)bk.ocb);
            int64_t nw = weights_numel(l, 0);
            emit_array(e, mem_printf(e->mem, "%s_w", n), what, pack(e, w, l->out, nw / l->out, bk.ocb), nw);
            if (b) {
                snprintf(what, sizeof what, "%s.bias%s%s", l->name, bn ? ", folded with " : "", bn ? bn->name : "");
                emit_array(e, mem_printf(e->mem, "%s_b", n), what, b, l->out);
            }
        } else if (l->op == OP_CONVTRANSPOSE2D) {
            snprintf(what, sizeof what, "%s.weight, line %d, [in][out/groups][kh][kw] as PyTorch's", l->name,
                     l->loc.line);
            emit_array(e, mem_printf(e->mem, "%s_w", n), what, l->tensor[0], weights_numel(l, 0));
            if (l->bias) {
                snprintf(what, sizeof what, "%s.bias", l->name);
                emit_array(e, mem_printf(e->mem, "%s_b", n), what, l->tensor[1], l->out);
            }
        } else if (l->op == OP_PRELU) {
            snprintf(what, sizeof what, "%s.weight, line %d: the slopes", l->name, l->loc.line);
            emit_array(e, mem_printf(e->mem, "%s_w", n), what, l->tensor[0], l->num_parameters);
        } else if (l->op == OP_BATCHNORM2D && !l->fold_into) {
            int64_t c = l->shape.c;
            float *scale = mem_array(e->mem, (size_t)c, sizeof *scale);
            float *shift = mem_array(e->mem, (size_t)c, sizeof *shift);
            for (int64_t k = 0; k < c; k++) {
                double sc = (double)l->tensor[0][k] / sqrt((double)l->tensor[3][k] + l->eps);
                scale[k] = (float)sc;
                shift[k] = (float)((double)l->tensor[1][k] - (double)l->tensor[2][k] * sc);
            }
            snprintf(what, sizeof what, "%s: weight / sqrt(running_var + eps), line %d", l->name, l->loc.line);
            emit_array(e, mem_printf(e->mem, "%s_scale", n), what, scale, c);
            snprintf(what, sizeof what, "%s: bias - running_mean * scale", l->name);
            emit_array(e, mem_printf(e->mem, "%s_shift", n), what, shift, c);
        }
    }
}

/* ---- stores and epilogues ---- */

/* The expression for elementwise op l applied to v (channel c). */
static const char *apply(Emitter *e, const Layer *l, const char *v, const char *c)
{
    char lit[48];
    switch (l->op) {
    case OP_RELU: return mem_printf(e->mem, "cnnc_reluf(%s)", v);
    case OP_RELU6: return mem_printf(e->mem, "cnnc_relu6f(%s)", v);
    case OP_SIGMOID: return mem_printf(e->mem, "cnnc_sigmoidf(%s)", v);
    case OP_TANH: return mem_printf(e->mem, "cnnc_tanhf(%s)", v);
    case OP_HARDSWISH: return mem_printf(e->mem, "cnnc_hardswishf(%s)", v);
    case OP_HARDSIGMOID: {
        char lit2[48];
        return mem_printf(e->mem, "cnnc_hardsigmoidf(%s, %s, %s)", v, flit((float)l->alpha, lit, sizeof lit),
                          flit((float)l->beta, lit2, sizeof lit2));
    }
    case OP_LEAKYRELU:
        return mem_printf(e->mem, "cnnc_leakyreluf(%s, %s)", v, flit((float)l->slope, lit, sizeof lit));
    case OP_SILU: return mem_printf(e->mem, "cnnc_siluf(%s)", v);
    case OP_GELU: return mem_printf(e->mem, l->gelu_tanh ? "cnnc_gelu_tanhf(%s)" : "cnnc_geluf(%s)", v);
    case OP_ELU: return mem_printf(e->mem, "cnnc_eluf(%s, %s)", v, flit((float)l->alpha, lit, sizeof lit));
    case OP_HARDTANH: {
        char lit2[48];
        return mem_printf(e->mem, "cnnc_hardtanhf(%s, %s, %s)", v, flit((float)l->min_val, lit, sizeof lit),
                          flit((float)l->max_val, lit2, sizeof lit2));
    }
    case OP_PRELU:
        return mem_printf(e->mem, "cnnc_preluf(%s, %s_w[%s])", v, e->cname[l->index],
                          l->num_parameters == 1 ? "0" : c);
    case OP_BATCHNORM2D:
        return mem_printf(e->mem, "(%s) * %s_scale[%s] + %s_shift[%s]", v, e->cname[l->index], c, e->cname[l->index], c);
    case OP_DROPOUT:
    case OP_FLATTEN: return v;
    default: unreachable();
    }
}

/* Which members of an epilogue: all, those up to the fused add (the
 * add included), or those after it. */
typedef enum { EP_ALL, EP_TO_ADD, EP_AFTER_ADD } EpiloguePart;

/* v through the group's members after the host: those before its pool
 * (per conv value) or after it (per pooled value). A fused add reads the
 * residual at the stored position idx. */
static const char *through_part(Emitter *e, const Layer *h, const char *v, const char *c, const char *idx,
                                const char *res, EpiloguePart part)
{
    bool after_pool = false;
    bool past = !h->pool, added = false;
    for (const Layer *m = h->next_fused; m; m = m->next_fused) {
        if (m == h->pool) {
            past = true;
            continue;
        }
        if (past != after_pool && h->pool)
            continue;
        bool wanted = part == EP_ALL || (part == EP_TO_ADD) != added;
        added |= m->op == OP_ADD;
        if (m->fold_into || !wanted)
            continue; /* folded: already in the weights */
        if (m->op == OP_ADD)
            v = mem_printf(e->mem, "%s + %s[%s]", v, res ? res : h->residual_in_place ? "y" : "r", idx);
        else
            v = apply(e, m, v, c);
    }
    return v;
}

/* The whole epilogue: the part before the pool, or after it. */
static const char *through(Emitter *e, const Layer *h, const char *v, const char *c, const char *idx, bool after_pool)
{
    if (!after_pool)
        return through_part(e, h, v, c, idx, NULL, EP_ALL);
    bool past = false;
    for (const Layer *m = h->next_fused; m; m = m->next_fused) {
        if (m == h->pool) {
            past = true;
            continue;
        }
        if ((past || !h->pool) && !m->fold_into)
            v = m->op == OP_ADD ? mem_printf(e->mem, "%s + %s[%s]", v, h->residual_in_place ? "y" : "r", idx)
                                : apply(e, m, v, c);
    }
    return v;
}

/* Stores acc (of channel c) at y[idx], through the host's epilogue. */
static void store(Emitter *e, const Layer *h, const char *idx, const char *acc, const char *c)
{
    if (e->post)
        acc = h->residual ? through_part(e, h, acc, c, idx, NULL, EP_TO_ADD) : acc;
    else
        acc = through(e, h, acc, c, idx, false);
    emit(e, "y[%s] = %s;", idx, acc);
}

/* ---- windows: conv and pools ---- */

/* "v * mul - sub" without the noise of * 1 and - 0. */
static const char *affine(Emitter *e, const char *v, int64_t mul, int64_t sub)
{
    const char *t = mul == 1 ? v : mem_printf(e->mem, "%s * %lld", v, (long long)mul);
    if (sub == 0)
        return t;
    return mem_printf(e->mem, "%s %c %lld", t, sub > 0 ? '-' : '+', (long long)(sub > 0 ? sub : -sub));
}

/* The top-left input pixel of output (oy, ox)'s window, relative to xc. */
static void window_origin(Emitter *e, const Layer *l, int64_t in_w)
{
    emit(e, "const float *p = xc + (%s) * %lld + %s;", affine(e, "oy", l->stride[0], l->pad[0]), (long long)in_w,
         affine(e, "ox", l->stride[1], l->pad[2]));
}

/* The input coordinate of kernel tap k along axis a. */
static void tap_coord(Emitter *e, const Layer *l, int a)
{
    const char *o = a ? "ox" : "oy", *k = a ? "kx" : "ky";
    const char *t = l->dilation[a] == 1 ? k : mem_printf(e->mem, "%s * %lld", k, (long long)l->dilation[a]);
    emit(e, "int %s = %s + %s;", a ? "ix" : "iy", affine(e, o, l->stride[a], l->pad[2 * a]), t);
}

/* Output positions along one axis whose whole window is inside the input. */
static void interior(const Layer *l, int a, int64_t in, int64_t out, int64_t *lo, int64_t *hi)
{
    int64_t pad = l->pad[2 * a], s = l->stride[a], reach = l->dilation[a] * (l->kernel[a] - 1);
    int64_t first = (pad + s - 1) / s;
    int64_t last = in - 1 + pad - reach < 0 ? -1 : (in - 1 + pad - reach) / s;
    *lo = first < out ? first : out;
    *hi = last + 1 < *lo ? *lo : (last + 1 > out ? out : last + 1);
}

/* The statement that maps an input coordinate v along an axis of size n
 * back inside, per padding mode; zeros padding skips the tap instead. */
static void fold_coord(Emitter *e, PadMode mode, const char *v, int64_t n)
{
    switch (mode) {
    case PM_REFLECT: emit(e, "%s = %s < 0 ? -%s : (%s >= %lld ? %lld - %s : %s);", v, v, v, v, (long long)n,
                          (long long)(2 * n - 2), v, v); break;
    case PM_REPLICATE: emit(e, "%s = %s < 0 ? 0 : (%s >= %lld ? %lld : %s);", v, v, v, (long long)n,
                            (long long)(n - 1), v); break;
    case PM_CIRCULAR: emit(e, "%s = %s < 0 ? %s + %lld : (%s >= %lld ? %s - %lld : %s);", v, v, v, (long long)n, v,
                           (long long)n, v, (long long)n, v); break;
    case PM_ZEROS: emit(e, "if (%s < 0 || %s >= %lld) continue;", v, v, (long long)n); break;
    }
}

/* Loops over output rows and columns, calling body for the interior
 * block and border for the rest; each gets oy and ox in scope. */
typedef void WindowBody(Emitter *e, const Layer *l, bool inside);

static void window_loops(Emitter *e, const Layer *l, WindowBody *body)
{
    Shape in = l->in[0]->shape, out = l->shape;
    int64_t y0, y1, x0, x1;
    interior(l, 0, in.h, out.h, &y0, &y1);
    interior(l, 1, in.w, out.w, &x0, &x1);
    if (y0 == y1 || x0 == x1)
        y0 = y1 = x0 = x1 = 0; /* no interior at all: every position is border */
    /* rows above, inside and below the interior */
    int64_t rows[4] = {0, y0, y1, out.h}, cols[4] = {0, x0, x1, out.w};
    for (int r = 0; r < 3; r++) {
        if (rows[r] == rows[r + 1])
            continue;
        emit(e, "for (int oy = %lld; oy < %lld; oy++) {", (long long)rows[r], (long long)rows[r + 1]);
        if (r != 1) {
            emit(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)out.w);
            body(e, l, false);
            emit(e, "}");
        }
        for (int c = 0; c < 3 && r == 1; c++) {
            if (cols[c] == cols[c + 1])
                continue;
            emit(e, "for (int ox = %lld; ox < %lld; ox++) {", (long long)cols[c], (long long)cols[c + 1]);
            body(e, l, c == 1);
            emit(e, "}");
        }
        emit(e, "}");
    }
}

/* The rectangle of a conv group's outputs (conv positions, or pooled
 * ones when it reduces into a pool) that the unrolled kernel computes;
 * empty when nothing is unrolled. */
static void unrolled_region(const Emitter *e, const Layer *h, int64_t r[4])
{
    Shape in = h->in[0]->shape, out = h->shape;
    interior(h, 0, in.h, out.h, &r[0], &r[1]);
    interior(h, 1, in.w, out.w, &r[2], &r[3]);
    if (h->pool) {
        int64_t kph = h->pool->kernel[0], kpw = h->pool->kernel[1];
        r[0] = (r[0] + kph - 1) / kph, r[1] = r[1] / kph, r[2] = (r[2] + kpw - 1) / kpw, r[3] = r[3] / kpw;
    }
    if (!e->unroll[h->index] || r[0] >= r[1] || r[2] >= r[3])
        r[0] = r[1] = r[2] = r[3] = 0;
}

/* The conv's per-position helper: OCB channels of one output position,
 * with every padding rule checked. It serves the border, and the whole
 * layer when nothing is unrolled (the smallest code). */
static void conv_helper(Emitter *e, const Layer *h, Blocking bk)
{
    Shape in = h->in[0]->shape;
    int64_t icg = in.c / h->groups, kh = h->kernel[0], kw = h->kernel[1];
    emit(e, "/* %s: output channels [oc, oc + %lld) at (oy, ox), padding checked */", h->name, (long long)bk.ocb);
    emit(e, "static void %s_at(const float *restrict xg, const float *restrict wb, int oy, int ox, float *restrict acc)",
         e->cname[h->index]);
    emit(e, "{");
    emit(e, "for (int ic = 0; ic < %lld; ic++) {", (long long)icg);
    emit(e, "const float *xc = xg + ic * %lld;", (long long)(in.h * in.w));
    emit(e, "const float *wc = wb + ic * %lld;", (long long)(kh * kw * bk.ocb));
    emit(e, "for (int ky = 0; ky < %lld; ky++) {", (long long)kh);
    tap_coord(e, h, 0);
    fold_coord(e, h->pad_mode, "iy", in.h);
    emit(e, "for (int kx = 0; kx < %lld; kx++) {", (long long)kw);
    tap_coord(e, h, 1);
    fold_coord(e, h->pad_mode, "ix", in.w);
    emit(e, "const float v = xc[iy * %lld + ix];", (long long)in.w);
    emit(e, "const float *wt = wc + (ky * %lld + kx) * %lld;", (long long)kw, (long long)bk.ocb);
    if (bk.ocb == 1)
        emit(e, "acc[0] = CNNC_FMA(v, wt[0], acc[0]);");
    else {
        emit(e, "for (int o = 0; o < %lld; o++) {", (long long)bk.ocb);
        emit(e, "acc[o] = CNNC_FMA(v, wt[o], acc[o]);");
        emit(e, "}");
    }
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
    emit(e, "%s", "");
}

/* One axis of a region of outputs: a loop over interior coordinates,
 * or a single border coordinate known here, whose taps are resolved now
 * (mapped per padding mode, or dropped in zero padding). */
typedef struct Axis {
    bool fixed;
    int64_t at; /* fixed: the conv coordinate of pixel 0 */
} Axis;

enum { MAX_BORDER = 8 }; /* border rows plus columns given their own kernels */
#define NO_TAP INT64_MIN

/* Where tap k of the pixel `delta` positions on along axis a reads:
 * relative to the strip's base when ranged, absolute when fixed. */
static int64_t tap_index(const Layer *h, int a, Axis ax, int64_t delta, int64_t k, int64_t n)
{
    int64_t s = h->stride[a], d = h->dilation[a], pad = h->pad[2 * a];
    if (!ax.fixed)
        return delta * s + k * d;
    int64_t i = (ax.at + delta) * s - pad + k * d;
    if (i >= 0 && i < n)
        return i;
    switch (h->pad_mode) {
    case PM_ZEROS: return NO_TAP;
    case PM_REFLECT: return i < 0 ? -i : 2 * n - 2 - i;
    case PM_REPLICATE: return i < 0 ? 0 : n - 1;
    case PM_CIRCULAR: return i < 0 ? i + n : i - n;
    }
    unreachable();
}

/* Loads the n floats at offset off of the running pointer ptr (now at
 * *at) into s<r>..s<r+n-1>: one CNNC_LDn, a single VLDM on a Cortex-M4F,
 * for three or more; plain indexed loads for fewer, which move nothing
 * (a VLDM of two and its pointer step save nothing, and every pinned
 * register costs the allocator freedom). */
static void load_run(Emitter *e, const char *ptr, int64_t *at, int64_t off, int n, int r, bool pinned)
{
    if (n < 3 || !pinned) {
        for (int k = 0; k < n; k++)
            emit(e, "const float s%d = %s[%lld];", r + k, ptr, (long long)(off + k - *at));
        return;
    }
    if (off != *at)
        emit(e, "%s += %lld;", ptr, (long long)(off - *at));
    Text t;
    FILE *f = text_open(&t);
    for (int k = 0; k < n; k++)
        fprintf(f, ", %d", r + k);
    emit(e, "CNNC_LD%d(%s%s);", n, ptr, text_done(e, &t));
    *at = off + n;
}

/* The distinct input offsets (from the channel's start) that kernel row
 * ky of the npix positions reads, ascending, into row; slot[p * kw + kx]
 * becomes the index in row of what tap kx of pixel p reads, or -1 for a
 * tap in zero padding. Returns how many. */
static int row_inputs(const Layer *h, int npix, const int64_t *dy, const int64_t *dx, Axis ay, Axis ax, int64_t ky,
                      int64_t *row, int *slot)
{
    Shape in = h->in[0]->shape;
    int64_t kw = h->kernel[1];
    int nv = 0;
    for (int p = 0; p < npix; p++)
        for (int64_t kx = 0; kx < kw; kx++) {
            int64_t r = tap_index(h, 0, ay, dy[p], ky, in.h), c = tap_index(h, 1, ax, dx[p], kx, in.w);
            if (r == NO_TAP || c == NO_TAP)
                continue;
            int64_t o = r * in.w + c;
            int j = 0;
            while (j < nv && row[j] != o)
                j++;
            if (j == nv) {
                /* insert in order: runs of neighbours load together */
                for (j = nv; j > 0 && row[j - 1] > o; j--)
                    row[j] = row[j - 1];
                row[j] = o;
                nv++;
            }
        }
    for (int p = 0; p < npix; p++)
        for (int64_t kx = 0; kx < kw; kx++) {
            int64_t r = tap_index(h, 0, ay, dy[p], ky, in.h), c = tap_index(h, 1, ax, dx[p], kx, in.w);
            slot[p * kw + kx] = -1;
            for (int j = 0; r != NO_TAP && c != NO_TAP && j < nv; j++)
                if (row[j] == r * in.w + c)
                    slot[p * kw + kx] = j;
        }
    return nv;
}

/* One input channel of the unrolled kernel (see micro), kernel row by
 * kernel row, from the running pointers xq and wq; then steps them on
 * to the next channel. Returns whether any tap was in range. */
static bool micro_channel(Emitter *e, const Layer *h, Blocking bk, int npix, const int64_t *dy, const int64_t *dx,
                          Axis ay, Axis ax)
{
    Shape in = h->in[0]->shape;
    int64_t icg = in.c / h->groups, kh = h->kernel[0], kw = h->kernel[1], ocb = bk.ocb;
    int64_t *row = mem_array(e->mem, (size_t)(npix * kw), sizeof *row);
    int *slot = mem_array(e->mem, (size_t)(npix * kw), sizeof *slot);
    int64_t xat = 0, wat = 0, accs = ocb * npix;
    bool any = false;
    for (int64_t ky = 0; ky < kh; ky++) {
        int nv = row_inputs(h, npix, dy, dx, ay, ax, ky, row, slot);
        if (nv == 0)
            continue;
        any = true;
        emit(e, "{");
        /* pinned registers only while the accumulators keep theirs, and
         * for a pool window only when every run of its inputs fills a
         * whole CNNC_LDn: a window over several input rows reads short
         * runs, each with its own pointer step, which save fewer
         * instructions than gcc's allocator then spends shuffling the
         * window's accumulators (digits: 1.39 instead of 1.18
         * instructions/MAC, LeNet-5: 1.70 instead of 1.61) */
        int len = 1, shortest = nv;
        for (int j = 1; j <= nv; j++) {
            if (j == nv || row[j] != row[j - 1] + 1) {
                shortest = len < shortest ? len : shortest;
                len = 0;
            }
            len++;
        }
        bool pin = nv + accs < FREGS && (!h->pool || shortest >= MAX_LD);
        for (int j = 0; j < nv;) {
            int n = 1;
            while (j + n < nv && n < MAX_LD && row[j + n] == row[j] + n)
                n++;
            load_run(e, "xq", &xat, row[j], n, j, pin);
            j += n;
        }
        int64_t wfree = FREGS - nv - accs, cap = wfree < MAX_LD ? wfree : MAX_LD;
        for (int64_t kx = 0; kx < kw;) {
            bool used = false;
            for (int p = 0; p < npix; p++)
                used |= slot[p * kw + kx] >= 0;
            if (!used) {
                kx++;
                continue;
            }
            /* neighbouring taps' weights follow each other: load them together */
            int64_t nt = 1;
            for (;; nt++) {
                bool next = kx + nt < kw && (nt + 1) * ocb <= cap;
                for (int p = 0; next && p < npix; p++)
                    next = slot[p * kw + kx + nt] >= 0;
                if (!next)
                    break;
            }
            emit(e, "{");
            load_run(e, "wq", &wat, (ky * kw + kx) * ocb, (int)(nt * ocb), nv, ocb <= cap);
            /* independent multiply-adds in pairs (CNNC_FMA2): on a
             * Cortex-M4F both products, then both sums, so no sum waits
             * (DS-CNN 3.32 modelled cycles/MAC one by one, 2.95 in pairs;
             * LeNet-5's and digits' convs into pools 3.13, 2.39 alone,
             * 3.17, 2.59 in pairs) */
            const char *half = NULL; /* "acc, x, w" of a multiply-add waiting for its pair */
            const char *half_acc = NULL, *half_mul = NULL;
            for (int64_t t = 0; t < nt; t++)
                for (int64_t o = 0; o < ocb; o++) {
                    const char *fmas = "";
                    for (int p = 0; p < npix; p++) {
                        int s = slot[p * kw + kx + t];
                        if (s < 0)
                            continue;
                        const char *acc = mem_printf(e->mem, "a%d_%lld", p, (long long)o);
                        const char *mul = mem_printf(e->mem, "s%d, s%lld", s, (long long)(nv + t * ocb + o));
                        if (h->pool) { /* a pool's window: gcc schedules those better alone (LeNet-5) */
                            fmas = mem_printf(e->mem, "%s%s%s = CNNC_FMA(%s, %s);", fmas, *fmas ? " " : "", acc, mul,
                                              acc);
                            continue;
                        }
                        if (half && !strcmp(half_acc, acc)) {
                            /* the same accumulator: not a pair, the first one alone */
                            fmas = mem_printf(e->mem, "%s%s%s = CNNC_FMA(%s, %s);", fmas, *fmas ? " " : "", half_acc,
                                              half_mul, half_acc);
                            half = NULL;
                        }
                        if (!half) {
                            half = mem_printf(e->mem, "%s, %s", acc, mul);
                            half_acc = acc;
                            half_mul = mul;
                            continue;
                        }
                        fmas = mem_printf(e->mem, "%s%sCNNC_FMA2(%s, %s, %s);", fmas, *fmas ? " " : "", half, acc, mul);
                        half = NULL;
                    }
                    if (*fmas)
                        emit(e, "%s", fmas);
                }
            if (half)
                emit(e, "%s = CNNC_FMA(%s, %s);", half_acc, half_mul, half_acc);
            emit(e, "}");
            kx += nt;
        }
        emit(e, "}");
    }
    if (any && icg > 1) {
        /* on to the next input channel and its weights */
        int64_t hw = in.h * in.w, per = kh * kw * ocb;
        if (xat != hw)
            emit(e, "xq += %lld;", (long long)(hw - xat));
        if (wat != per)
            emit(e, "wq += %lld;", (long long)(per - wat));
    }
    return any;
}

/* The unrolled kernel: OCB channels at npix output positions, pixel p
 * being dy[p], dx[p] conv positions from the region's pixel 0. Each input
 * value a kernel row needs is loaded once and feeds every accumulator
 * that uses it; taps in zero padding are left out. Inputs and weights
 * go through two running pointers so that neighbouring values load with
 * one CNNC_LDn; its registers are numbered here: a kernel row's inputs
 * from s0, its weights after them, the accumulators in what is left. */
static void micro(Emitter *e, const Layer *h, Blocking bk, int npix, const int64_t *dy, const int64_t *dx, Axis ay,
                  Axis ax)
{
    int64_t icg = h->in[0]->shape.c / h->groups, ocb = bk.ocb;
    bool bias = h->bias || folded_bn(h);
    for (int p = 0; p < npix; p++)
        for (int64_t o = 0; o < ocb; o++)
            emit(e, "float a%d_%lld = %s;", p, (long long)o, bias ? mem_printf(e->mem, "bb[%lld]", (long long)o) : "0.0f");
    emit(e, "{");
    emit(e, "const float *xq = xb;");
    emit(e, "const float *wq = wb;");
    /* a 1x1 kernel's body is short: four (or two) input channels per
     * iteration cut the loop's own instructions and the register moves
     * gcc makes between iterations (modelled Cortex-M4 cycles/MAC, DS-CNN:
     * 3.53 one channel, 2.95 two, 2.84 four, 2.84 eight) */
    int reps = h->kernel[0] * h->kernel[1] != 1 ? 1 : icg % 4 == 0 ? 4 : icg % 2 == 0 ? 2 : 1;
    if (icg > 1)
        emit(e, "for (int ic = 0; ic < %lld; ic += %d) {", (long long)icg, reps);
    else
        emit(e, "{");
    bool any = false;
    for (int rep = 0; rep < reps; rep++)
        any |= micro_channel(e, h, bk, npix, dy, dx, ay, ax);
    if (!any)
        emit(e, "(void)xq, (void)wq; /* every tap of these positions is padding */");
    emit(e, "}");
    emit(e, "}");
}

/* The conv coordinate expression of pixel 0 along an axis, and the
 * pointer to the strip's input base. */
static const char *coord(Emitter *e, Axis ax, const char *var)
{
    return ax.fixed ? mem_printf(e->mem, "%lld", (long long)ax.at) : var;
}

static void strip_base(Emitter *e, const Layer *h, Axis ay, Axis ax, const char *oy, const char *ox)
{
    int64_t w = h->in[0]->shape.w;
    const char *r = ay.fixed ? NULL : mem_printf(e->mem, "(%s) * %lld", affine(e, oy, h->stride[0], h->pad[0]), (long long)w);
    const char *c = ax.fixed ? NULL : affine(e, ox, h->stride[1], h->pad[2]);
    emit(e, "const float *xb = xg%s%s%s%s;", r ? " + " : "", r ? r : "", c ? " + " : "", c ? c : "");
}

/* The host's store of npix neighbouring accumulators per channel, from
 * position pos of each channel: gcc vectorizes straight-line code only
 * when nothing in it branches (a relu does: that part of the epilogue
 * runs as a pass of its own, see emit_conv) and it can tell the stores
 * apart (so through a row pointer and constant offsets). */
static void store_row_host(Emitter *e, const Layer *h, Blocking bk, int npix, const char *pos)
{
    long long hw = (long long)(h->shape.h * h->shape.w);
    bool res = h->residual != NULL, in_y = res && h->residual_in_place;
    for (int64_t o = 0; o < bk.ocb; o++) {
        const char *c = mem_printf(e->mem, "oc + %lld", (long long)o);
        emit(e, "{");
        emit(e, "float *yo = y + (oc + %lld) * %lld + %s;", (long long)o, hw, pos);
        if (res && !in_y)
            emit(e, "const float *ro = r + (oc + %lld) * %lld + %s;", (long long)o, hw, pos);
        for (int p = 0; p < npix; p++) {
            const char *acc = mem_printf(e->mem, "a%d_%lld", p, (long long)o), *idx = mem_printf(e->mem, "%d", p);
            emit(e, "yo[%d] = %s;", p,
                 res ? through_part(e, h, acc, c, idx, in_y ? "yo" : "ro", e->post ? EP_TO_ADD : EP_ALL)
                     : e->post ? acc : through(e, h, acc, c, idx, false));
        }
        emit(e, "}");
    }
}

/* Stores the micro kernel's accumulators: pixel p at conv position
 * (oy + dy[p], ox + dx[p]) of channel oc + o. */
static void store_strip(Emitter *e, const Layer *h, Blocking bk, int npix, const int64_t *dy, const int64_t *dx,
                        const char *oy, const char *ox)
{
    Shape out = h->shape;
    bool row = true;
    for (int p = 0; p < npix; p++)
        row &= dy[p] == dy[0] && dx[p] == dx[0] + p;
    if (e->post && row && npix > 1) {
        store_row_host(e, h, bk, npix,
                       mem_printf(e->mem, "(%s + %lld) * %lld + %s + %lld", oy, (long long)dy[0], (long long)out.w, ox,
                                  (long long)dx[0]));
        return;
    }
    for (int64_t o = 0; o < bk.ocb; o++)
        for (int p = 0; p < npix; p++)
            store(e, h,
                  mem_printf(e->mem, "(oc + %lld) * %lld + (%s + %lld) * %lld + %s + %lld", (long long)o,
                             (long long)(out.h * out.w), oy, (long long)dy[p], (long long)out.w, ox, (long long)dx[p]),
                  mem_printf(e->mem, "a%d_%lld", p, (long long)o), mem_printf(e->mem, "oc + %lld", (long long)o));
}

/* One output position through the checked helper, stored at once. */
static void conv_point(Emitter *e, const Layer *h, Blocking bk, const char *oy, const char *ox)
{
    const char *n = e->cname[h->index];
    Shape out = h->shape;
    bool bias = h->bias || folded_bn(h);
    emit(e, "float acc[%lld];", (long long)bk.ocb);
    emit(e, "for (int o = 0; o < %lld; o++) {", (long long)bk.ocb);
    emit(e, "acc[o] = %s;", bias ? "bb[o]" : "0.0f");
    emit(e, "}");
    emit(e, "%s_at(xg, wb, %s, %s, acc);", n, oy, ox);
    emit(e, "for (int o = 0; o < %lld; o++) {", (long long)bk.ocb);
    store(e, h, mem_printf(e->mem, "(oc + o) * %lld + %s * %lld + %s", (long long)(out.h * out.w), oy,
                           (long long)out.w, ox), "acc[o]", "oc + o");
    emit(e, "}");
}

/* The parts of one output axis: each border coordinate on its own, and
 * the interior range [lo, hi) as one loop. */
typedef struct Part {
    Axis axis;
    int64_t lo, hi;
} Part;

static int axis_parts(Part *parts, int64_t lo, int64_t hi, int64_t n)
{
    int np = 0;
    for (int64_t i = 0; i < lo; i++)
        parts[np++] = (Part){{true, i}, i, i + 1};
    if (lo < hi)
        parts[np++] = (Part){{false, 0}, lo, hi};
    for (int64_t i = hi; i < n; i++)
        parts[np++] = (Part){{true, i}, i, i + 1};
    return np;
}

/* How many regions get a kernel of their own; 0 when the border is too
 * wide for that and goes through the checked helper instead. */
static int regions(const Emitter *e, const Layer *h)
{
    int64_t r[4];
    unrolled_region(e, h, r);
    Shape out = h->pool ? h->pool->shape : h->shape;
    int64_t border_rows = r[0] + out.h - r[1], border_cols = r[2] + out.w - r[3];
    if (!e->unroll[h->index] || border_rows + border_cols > MAX_BORDER)
        return 0;
    return (int)((border_rows + 1) * (border_cols + 1));
}

/* The conv's output positions, region by region: strips of P along a
 * ranged axis through the unrolled kernel, or, when the border is not
 * unrolled, one position at a time through the checked helper. */
static void conv_positions(Emitter *e, const Layer *h, Blocking bk)
{
    Shape out = h->shape;
    int64_t r4[4];
    unrolled_region(e, h, r4);
    if (!regions(e, h)) {
        emit(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)out.h);
        emit(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)out.w);
        conv_point(e, h, bk, "oy", "ox");
        emit(e, "}");
        emit(e, "}");
        return;
    }
    Part rows[MAX_BORDER + 1], cols[MAX_BORDER + 1];
    int nr = axis_parts(rows, r4[0], r4[1], out.h), nc = axis_parts(cols, r4[2], r4[3], out.w);
    int64_t *dy = mem_array(e->mem, (size_t)bk.p, sizeof *dy), *dx = mem_array(e->mem, (size_t)bk.p, sizeof *dx);
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nc; j++) {
            Part pr = rows[i], pc = cols[j];
            /* strips run along a ranged axis: columns first, else rows */
            bool along_x = !pc.axis.fixed, along_y = !along_x && !pr.axis.fixed;
            /* a corner is one strip of one position */
            int64_t step = along_x || along_y ? bk.p : 1;
            int64_t len = along_x ? pc.hi - pc.lo : along_y ? pr.hi - pr.lo : 1;
            int64_t full = len / step, left = len % step;
            for (int k = 0; k < 2; k++) {
                int64_t npix = k ? left : step, count = k ? (left ? 1 : 0) : full;
                if (!count)
                    continue;
                for (int64_t p = 0; p < npix; p++) {
                    dy[p] = along_y ? p : 0;
                    dx[p] = along_x ? p : 0;
                }
                int64_t start = (along_x ? pc.lo : pr.lo) + (k ? full * step : 0);
                const char *var = along_x ? "ox" : "oy";
                emit(e, "{");
                if (along_x || along_y) {
                    if (count > 1)
                        emit(e, "for (int %s = %lld; %s < %lld; %s += %lld) {", var, (long long)start, var,
                             (long long)(start + count * npix), var, (long long)npix);
                    else {
                        emit(e, "{");
                        emit(e, "const int %s = %lld;", var, (long long)start);
                    }
                }
                /* the other axis: its loop when ranged */
                Part other = along_x ? pr : pc;
                const char *ovar = along_x ? "oy" : "ox";
                if ((along_x || along_y) && !other.axis.fixed)
                    emit(e, "for (int %s = %lld; %s < %lld; %s++) {", ovar, (long long)other.lo, ovar,
                         (long long)other.hi, ovar);
                else
                    emit(e, "{");
                strip_base(e, h, pr.axis, pc.axis, "oy", "ox");
                micro(e, h, bk, (int)npix, dy, dx, pr.axis, pc.axis);
                store_strip(e, h, bk, (int)npix, dy, dx, coord(e, pr.axis, "oy"), coord(e, pc.axis, "ox"));
                emit(e, "}");
                if (along_x || along_y)
                    emit(e, "}");
                emit(e, "}");
            }
        }
}

/* The pool's reduction of P epilogued conv values, per channel. */
static void reduce_window(Emitter *e, const Layer *h, Blocking bk, int npix, bool border, const char *idx)
{
    const Layer *pool = h->pool;
    const char *better = pool->op == OP_MINPOOL2D ? "<" : ">";
    bool extremum = pool->op == OP_MAXPOOL2D || pool->op == OP_MINPOOL2D;
    for (int64_t o = 0; o < bk.ocb; o++) {
        const char *c = mem_printf(e->mem, "oc + %lld", (long long)o);
        emit(e, "{");
        for (int p = 0; p < npix; p++) {
            const char *acc = border ? mem_printf(e->mem, "acc[%d][%lld]", p, (long long)o)
                                     : mem_printf(e->mem, "a%d_%lld", p, (long long)o);
            const char *v = through(e, h, acc, c, NULL, false);
            if (p == 0)
                emit(e, "float r = %s;", v);
            else if (extremum) {
                emit(e, "const float t%d = %s;", p, v);
                emit(e, "if (t%d %s r) r = t%d;", p, better, p);
            } else
                emit(e, "r += %s;", v);
        }
        if (pool->op == OP_AVGPOOL2D)
            emit(e, "r = r / %d.0f;", npix);
        emit(e, "y[(oc + %lld) * %lld + %s] = %s;", (long long)o, (long long)(pool->shape.h * pool->shape.w), idx,
             through(e, h, "r", c, NULL, true));
        emit(e, "}");
    }
}

/* A conv reducing into its pool: each pooled output's window of conv
 * positions is computed, epilogued and reduced, never stored. */
static void pool_positions(Emitter *e, const Layer *h, Blocking bk)
{
    const Layer *pool = h->pool;
    Shape pout = pool->shape;
    int64_t kph = pool->kernel[0], kpw = pool->kernel[1], npix = kph * kpw;
    int64_t r4[4];
    unrolled_region(e, h, r4);
    const char *idx = mem_printf(e->mem, "py * %lld + px", (long long)pout.w);
    if (!regions(e, h)) {
        /* each conv position of each window through the checked helper */
        bool bias = h->bias || folded_bn(h);
        emit(e, "for (int py = 0; py < %lld; py++) {", (long long)pout.h);
        emit(e, "for (int px = 0; px < %lld; px++) {", (long long)pout.w);
        emit(e, "float acc[%lld][%lld];", (long long)npix, (long long)bk.ocb);
        emit(e, "for (int p = 0; p < %lld; p++) {", (long long)npix);
        emit(e, "for (int o = 0; o < %lld; o++) {", (long long)bk.ocb);
        emit(e, "acc[p][o] = %s;", bias ? "bb[o]" : "0.0f");
        emit(e, "}");
        emit(e, "%s_at(xg, wb, py * %lld + p / %lld, px * %lld + p %% %lld, acc[p]);", e->cname[h->index],
             (long long)kph, (long long)kpw, (long long)kpw, (long long)kpw);
        emit(e, "}");
        reduce_window(e, h, bk, (int)npix, true, idx);
        emit(e, "}");
        emit(e, "}");
        return;
    }
    int64_t *dy = mem_array(e->mem, (size_t)npix, sizeof *dy), *dx = mem_array(e->mem, (size_t)npix, sizeof *dx);
    for (int64_t wy = 0; wy < kph; wy++)
        for (int64_t wx = 0; wx < kpw; wx++) {
            dy[wy * kpw + wx] = wy;
            dx[wy * kpw + wx] = wx;
        }
    Part rows[MAX_BORDER + 1], cols[MAX_BORDER + 1];
    int nr = axis_parts(rows, r4[0], r4[1], pout.h), nc = axis_parts(cols, r4[2], r4[3], pout.w);
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nc; j++) {
            Part pr = rows[i], pc = cols[j];
            emit(e, "for (int py = %lld; py < %lld; py++) {", (long long)pr.lo, (long long)pr.hi);
            emit(e, "for (int px = %lld; px < %lld; px++) {", (long long)pc.lo, (long long)pc.hi);
            Axis ay = {pr.axis.fixed, pr.lo * kph}, ax = {pc.axis.fixed, pc.lo * kpw};
            if (!ay.fixed)
                emit(e, "const int oy = py * %lld;", (long long)kph);
            if (!ax.fixed)
                emit(e, "const int ox = px * %lld;", (long long)kpw);
            strip_base(e, h, ay, ax, "oy", "ox");
            micro(e, h, bk, (int)npix, dy, dx, ay, ax);
            reduce_window(e, h, bk, (int)npix, false, idx);
            emit(e, "}");
            emit(e, "}");
        }
}

/* The element of array arr (acc, band) for channel o and position i of
 * pass wy. */
static const char *host_acc(Emitter *e, const char *arr, bool oc_inner, const char *wy, const char *o, const char *i)
{
    return oc_inner ? mem_printf(e->mem, "%s[%s][%s][%s]", arr, wy, i, o)
                    : mem_printf(e->mem, "%s[%s][%s][%s]", arr, wy, o, i);
}

/* One conv output row's chunk [x0, x0 + xw) into acc[wy]: bias, then
 * every tap as a loop over the positions it reaches (clipped, so zero
 * padding costs nothing), the innermost loop over consecutive positions
 * or consecutive channels: what gcc's vectorizer turns into SIMD. */
static void host_row_chunk(Emitter *e, const Layer *h, Blocking bk, bool oc_inner, int wy, int64_t x0, int64_t xw,
                           int64_t rows)
{
    Shape in = h->in[0]->shape;
    int64_t in_h = in.h, in_w = in.w;
    int64_t icg = in.c / h->groups, kh = h->kernel[0], kw = h->kernel[1], ocb = bk.ocb;
    int64_t s0 = h->stride[0], s1 = h->stride[1], d0 = h->dilation[0], d1 = h->dilation[1];
    bool bias = h->bias || folded_bn(h);
    const char *w = mem_printf(e->mem, "%d", wy);
    emit(e, "for (int o = 0; o < %lld; o++) {", (long long)ocb);
    emit(e, "for (int i = 0; i < %lld; i++) {", (long long)xw);
    emit(e, "%s = %s;", host_acc(e, "acc", oc_inner, w, "o", "i"), bias ? "bb[o]" : "0.0f");
    emit(e, "}");
    emit(e, "}");
    if (icg > 1)
        emit(e, "for (int ic = 0; ic < %lld; ic++) {", (long long)icg);
    else {
        emit(e, "{");
        emit(e, "const int ic = 0;");
    }
    emit(e, "const float *xc = xg + ic * %lld;", (long long)(in_h * in_w));
    emit(e, "const float *wc = wb + ic * %lld;", (long long)(kh * kw * ocb));
    bool any = false;
    for (int64_t ky = 0; ky < kh; ky++) {
        /* the taps of this kernel row that reach some position of the chunk */
        int64_t *lo = mem_array(e->mem, (size_t)kw, sizeof *lo), *hi = mem_array(e->mem, (size_t)kw, sizeof *hi);
        bool row_any = false;
        for (int64_t kx = 0; kx < kw; kx++) {
            for (int64_t i = 0; i < xw; i++) {
                int64_t ix = (x0 + i) * s1 - h->pad[2] + kx * d1;
                if (ix >= 0 && ix < in_w) {
                    if (lo[kx] == hi[kx])
                        lo[kx] = i;
                    hi[kx] = i + 1;
                }
            }
            row_any |= lo[kx] < hi[kx];
        }
        if (!row_any)
            continue;
        any = true;
        /* rows outside the input only where padding can put them */
        int64_t first = -h->pad[0] + ky * d0, last = (rows - 1) * s0 - h->pad[0] + ky * d0;
        bool check = first < 0 || last >= in_h;
        emit(e, "{");
        emit(e, "const int iy = %s;", affine(e, "oy", s0, h->pad[0] - ky * d0));
        if (check)
            emit(e, "if (iy >= 0 && iy < %lld) {", (long long)in_h);
        emit(e, "const float *xr = xc + iy * %lld;", (long long)in_w);
        for (int64_t kx = 0; kx < kw; kx++) {
            if (lo[kx] >= hi[kx])
                continue;
            int64_t off = x0 * s1 - h->pad[2] + kx * d1, tap = (ky * kw + kx) * ocb;
            const char *xi = affine(e, "i", s1, -off);
            if (oc_inner) {
                emit(e, "for (int i = %lld; i < %lld; i++) {", (long long)lo[kx], (long long)hi[kx]);
                emit(e, "const float v = xr[%s];", xi);
                emit(e, "for (int o = 0; o < %lld; o++) {", (long long)ocb);
                emit(e, "%s = CNNC_FMA(v, wc[%lld + o], %s);", host_acc(e, "acc", true, w, "o", "i"), (long long)tap,
                     host_acc(e, "acc", true, w, "o", "i"));
            } else {
                emit(e, "for (int o = 0; o < %lld; o++) {", (long long)ocb);
                emit(e, "const float wt = wc[%lld + o];", (long long)tap);
                emit(e, "for (int i = %lld; i < %lld; i++) {", (long long)lo[kx], (long long)hi[kx]);
                emit(e, "%s = CNNC_FMA(xr[%s], wt, %s);", host_acc(e, "acc", false, w, "o", "i"), xi,
                     host_acc(e, "acc", false, w, "o", "i"));
            }
            emit(e, "}");
            emit(e, "}");
        }
        if (check)
            emit(e, "}");
        emit(e, "}");
    }
    if (!any)
        emit(e, "(void)xc, (void)wc; /* every tap of these positions is padding */");
    emit(e, "}");
}

/* Opens a host conv's loop over blocks of ocb output channels: the
 * block's input group as xname, its weights wb and bias bb. */
static void host_block_open(Emitter *e, const Layer *h, int64_t ocb, const char *xname)
{
    Shape in = h->in[0]->shape;
    int64_t icg = in.c / h->groups, ocg = h->out / h->groups;
    const char *n = e->cname[h->index];
    emit(e, "for (int oc = 0; oc < %lld; oc += %lld) {", (long long)h->out, (long long)ocb);
    if (h->groups == 1)
        emit(e, "const float *%s = x;", xname);
    else
        emit(e, "const float *%s = x + (oc / %lld) * %lld;", xname, (long long)ocg, (long long)(icg * in.h * in.w));
    emit(e, "const float *wb = %s_w + oc * %lld;", n, (long long)(icg * h->kernel[0] * h->kernel[1]));
    if (h->bias || folded_bn(h))
        emit(e, "const float *bb = %s_b + oc;", n);
}

/* The pool windows of pooled row ry, columns [px0, px0 + npx), over the
 * conv values arr[wy] (laid out as host_acc says): each epilogued and
 * reduced as the mcu kernel does, so both tunings round alike. */
static void host_pool_windows(Emitter *e, const Layer *h, const char *arr, bool oc_inner, int64_t ocb, int64_t npx,
                              int64_t px0, const char *ry)
{
    const Layer *pool = h->pool;
    int64_t kph = pool->kernel[0], kpw = pool->kernel[1];
    const char *better = pool->op == OP_MINPOOL2D ? "<" : ">";
    bool extremum = pool->op == OP_MAXPOOL2D || pool->op == OP_MINPOOL2D;
    emit(e, "for (int o = 0; o < %lld; o++) {", (long long)ocb);
    emit(e, "for (int px = 0; px < %lld; px++) {", (long long)npx);
    for (int64_t wy = 0; wy < kph; wy++)
        for (int64_t wx = 0; wx < kpw; wx++) {
            const char *a = host_acc(e, arr, oc_inner, mem_printf(e->mem, "%lld", (long long)wy), "o",
                                     mem_printf(e->mem, "px * %lld + %lld", (long long)kpw, (long long)wx));
            const char *v = through(e, h, a, "oc + o", NULL, false);
            long long t = (long long)(wy * kpw + wx);
            if (t == 0)
                emit(e, "float r = %s;", v);
            else if (extremum) {
                emit(e, "const float t%lld = %s;", t, v);
                emit(e, "if (t%lld %s r) r = t%lld;", t, better, t);
            } else
                emit(e, "r += %s;", v);
        }
    if (pool->op == OP_AVGPOOL2D)
        emit(e, "r = r / %lld.0f;", (long long)(kph * kpw));
    emit(e, "y[(oc + o) * %lld + %s * %lld + %lld + px] = %s;", (long long)(pool->shape.h * pool->shape.w), ry,
         (long long)pool->shape.w, (long long)px0, through(e, h, "r", "oc + o", NULL, true));
    emit(e, "}");
    emit(e, "}");
}

/* Copies the input rows pooled row py reads, for every input channel of
 * the block's group, into xp with the zero padding written out, so the
 * band's strips read them like an unpadded input (see emit_conv_pool_band). */
static void host_pad_rows(Emitter *e, const Layer *h)
{
    Shape in = h->in[0]->shape;
    int64_t icg = in.c / h->groups, rows = band_rows(h), cols = band_cols(h), left = h->pad[2];
    int64_t hi = left + in.w < cols ? left + in.w : cols;
    emit(e, "float xp[%lld][%lld][%lld];", (long long)icg, (long long)rows, (long long)cols);
    emit(e, "for (int ic = 0; ic < %lld; ic++) {", (long long)icg);
    emit(e, "for (int r = 0; r < %lld; r++) {", (long long)rows);
    const char *first = mem_printf(e->mem, "py * %lld + r", (long long)(h->pool->kernel[0] * h->stride[0]));
    emit(e, "const int iy = %s;", affine(e, first, 1, h->pad[0]));
    emit(e, "float *d = xp[ic][r];");
    emit(e, "for (int j = 0; j < %lld; j++) {", (long long)cols);
    emit(e, "d[j] = 0.0f;");
    emit(e, "}");
    emit(e, "if (iy >= 0 && iy < %lld) {", (long long)in.h);
    emit(e, "const float *s = xs + ic * %lld + iy * %lld;", (long long)(in.h * in.w), (long long)in.w);
    emit(e, "for (int j = %lld; j < %lld; j++) {", (long long)left, (long long)hi);
    emit(e, "d[j] = s[%s];", affine(e, "j", 1, left));
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
    emit(e, "const float *xg = xp[0][0];");
}

/* A conv reducing into its pool, for the host: the pool's kph conv rows
 * of a block of channels go through the unrolled kernel in strips along
 * x (which gcc vectorizes, see store_row_host) into a small band on the
 * stack, and each window of the band is then epilogued and reduced. A
 * zero-padded conv first copies the input rows the band reads, padding
 * written out (host_pad_rows): the strips then see an unpadded input
 * (the layer v below), with no tap to leave out and no border kernels. */
static void emit_conv_pool_band(Emitter *e, const Layer *h)
{
    const Layer *pool = h->pool;
    Blocking bk = blocking(e, h);
    int64_t ocb = bk.ocb, kph = pool->kernel[0], width = host_row(h);
    bool padded = any_pad(h);
    Layer v = *h, vin = *h->in[0];
    Layer *vin_list[1] = {&vin};
    if (padded) {
        vin.shape.h = band_rows(h);
        vin.shape.w = band_cols(h);
        v.in = vin_list;
        memset(v.pad, 0, sizeof v.pad);
    }
    host_block_open(e, h, ocb, padded ? "xs" : "xg");
    emit(e, "for (int py = 0; py < %lld; py++) {", (long long)pool->shape.h);
    if (padded)
        host_pad_rows(e, h);
    emit(e, "float band[%lld][%lld][%lld];", (long long)kph, (long long)ocb, (long long)width);
    int64_t *dy = mem_array(e->mem, (size_t)bk.p, sizeof *dy), *dx = mem_array(e->mem, (size_t)bk.p, sizeof *dx);
    for (int64_t p = 0; p < bk.p; p++)
        dx[p] = p;
    Axis ranged = {false, 0};
    for (int64_t wy = 0; wy < kph; wy++)
        for (int64_t x0 = 0; x0 < width; x0 += bk.p) {
            int npix = (int)(width - x0 < bk.p ? width - x0 : bk.p);
            emit(e, "{");
            /* the padded copy starts at the band's first row */
            if (padded)
                emit(e, "const int oy = %lld, ox = %lld;", (long long)wy, (long long)x0);
            else
                emit(e, "const int oy = py * %lld + %lld, ox = %lld;", (long long)kph, (long long)wy, (long long)x0);
            strip_base(e, &v, ranged, ranged, "oy", "ox");
            micro(e, &v, bk, npix, dy, dx, ranged, ranged);
            for (int64_t o = 0; o < ocb; o++) {
                emit(e, "{");
                emit(e, "float *bo = band[%lld][%lld] + %lld;", (long long)wy, (long long)o, (long long)x0);
                for (int p = 0; p < npix; p++)
                    emit(e, "bo[%d] = a%d_%lld;", p, p, (long long)o);
                emit(e, "}");
            }
            emit(e, "}");
        }
    host_pool_windows(e, h, "band", false, ocb, pool->shape.w, 0, "py");
    emit(e, "}");
    emit(e, "}");
}

/* A zero-padded conv reducing into its pool whose padded band would be
 * too large for the stack (see host_band), for the host: blocks of
 * output channels, then the pool's conv rows in chunks, accumulated in a
 * small array (see host_row_chunk) and reduced through the epilogue. */
static void emit_conv_host(Emitter *e, const Layer *h)
{
    Blocking bk = blocking(e, h);
    bool oc_inner = host_oc_inner(h);
    int64_t ocb = bk.ocb;
    const Layer *pool = h->pool;
    int64_t kph = pool->kernel[0], kpw = pool->kernel[1];
    int64_t rows = pool->shape.h, width = host_row(h);
    int64_t chunk = oc_inner ? 16 : 64;
    chunk = chunk / kpw * kpw > 0 ? chunk / kpw * kpw : kpw;
    host_block_open(e, h, ocb, "xg");
    emit(e, "for (int ry = 0; ry < %lld; ry++) {", (long long)rows);
    for (int64_t x0 = 0; x0 < width; x0 += chunk) {
        int64_t xw = width - x0 < chunk ? width - x0 : chunk;
        emit(e, "{");
        if (oc_inner)
            emit(e, "float acc[%lld][%lld][%lld];", (long long)kph, (long long)xw, (long long)ocb);
        else
            emit(e, "float acc[%lld][%lld][%lld];", (long long)kph, (long long)ocb, (long long)xw);
        for (int wy = 0; wy < kph; wy++) {
            emit(e, "{");
            emit(e, "const int oy = ry * %lld + %d;", (long long)kph, wy);
            host_row_chunk(e, h, bk, oc_inner, wy, x0, xw, rows * kph);
            emit(e, "}");
        }
        host_pool_windows(e, h, "acc", oc_inner, ocb, xw / kpw, x0 / kpw, "ry");
        emit(e, "}");
    }
    emit(e, "}");
    emit(e, "}");
}

/* The host's linear layer: one array of accumulators per block of
 * outputs, the inner loop across them over contiguous weights. */
static void emit_linear_host(Emitter *e, const Layer *l)
{
    long long in = (long long)l->in[0]->shape.c;
    const char *n = e->cname[l->index];
    Blocking bk = blocking(e, l);
    emit(e, "for (int oc = 0; oc < %lld; oc += %lld) {", (long long)l->out, (long long)bk.ocb);
    emit(e, "const float *wb = %s_w + oc * %lld;", n, in);
    emit(e, "float acc[%lld];", (long long)bk.ocb);
    emit(e, "for (int o = 0; o < %lld; o++) {", (long long)bk.ocb);
    emit(e, "acc[o] = %s;", l->bias ? mem_printf(e->mem, "%s_b[oc + o]", n) : "0.0f");
    emit(e, "}");
    emit(e, "for (int i = 0; i < %lld; i++) {", in);
    emit(e, "const float v = x[i];");
    emit(e, "const float *wt = wb + i * %lld;", (long long)bk.ocb);
    emit(e, "for (int o = 0; o < %lld; o++) {", (long long)bk.ocb);
    emit(e, "acc[o] = CNNC_FMA(v, wt[o], acc[o]);");
    emit(e, "}");
    emit(e, "}");
    emit(e, "for (int o = 0; o < %lld; o++) {", (long long)bk.ocb);
    store(e, l, "oc + o", "acc[o]", "oc + o");
    emit(e, "}");
    emit(e, "}");
}

static void emit_conv_body(Emitter *e, const Layer *h);

/* A conv group: blocks of output channels, then positions. */
static void emit_conv(Emitter *e, const Layer *h)
{
    if (host_band(e, h)) {
        emit_conv_pool_band(e, h);
        return;
    }
    if (host_conv(e, h)) {
        emit_conv_host(e, h);
        return;
    }
    /* on the host, what follows the add (or everything) runs as one long
     * loop per channel after the conv: gcc vectorizes a relu in a loop,
     * and the conv's stores stay plain */
    Shape out = h->shape;
    /* through_part hands back its operand itself when there is nothing to apply */
    const char *stored = "y[i]";
    const char *rest = through_part(e, h, stored, "c", "i", NULL, h->residual ? EP_AFTER_ADD : EP_ALL);
    e->post = e->opt->tune_host && !h->pool && rest != stored;
    emit_conv_body(e, h);
    if (e->post) {
        emit(e, "for (int c = 0; c < %lld; c++) {", (long long)out.c);
        emit(e, "for (int i = c * %lld; i < (c + 1) * %lld; i++) {", (long long)(out.h * out.w),
             (long long)(out.h * out.w));
        emit(e, "y[i] = %s;", rest);
        emit(e, "}");
        emit(e, "}");
    }
    e->post = false;
}

/* The conv's own loops: blocks of output channels, then positions. */
static void emit_conv_body(Emitter *e, const Layer *h)
{
    Shape in = h->in[0]->shape;
    Blocking bk = blocking(e, h);
    int64_t icg = in.c / h->groups, ocg = h->out / h->groups;
    const char *n = e->cname[h->index];
    emit(e, "for (int oc = 0; oc < %lld; oc += %lld) {", (long long)h->out, (long long)bk.ocb);
    if (h->groups == 1)
        emit(e, "const float *xg = x;");
    else
        emit(e, "const float *xg = x + (oc / %lld) * %lld;", (long long)ocg, (long long)(icg * in.h * in.w));
    emit(e, "const float *wb = %s_w + oc * %lld;", n, (long long)(icg * h->kernel[0] * h->kernel[1]));
    if (h->bias || folded_bn(h))
        emit(e, "const float *bb = %s_b + oc;", n);
    if (h->pool)
        pool_positions(e, h, bk);
    else if (pointwise(h) && e->unroll[h->index]) {
        /* no window: the positions are one long row, so strips never
         * break at the end of an image row */
        Layer flat = *h, src = *h->in[0];
        Layer *flat_in[1] = {&src};
        src.shape = (Shape){in.c, 1, in.h * in.w};
        flat.shape = (Shape){h->shape.c, 1, h->shape.h * h->shape.w};
        flat.in = flat_in;
        conv_positions(e, &flat, bk);
    } else
        conv_positions(e, h, bk);
    emit(e, "}");
}

/* Pool body: the window's max, min, sum or average, PyTorch's way. */
static void pool_body(Emitter *e, const Layer *l, bool inside)
{
    Shape in = l->in[0]->shape;
    bool extremum = l->op == OP_MAXPOOL2D || l->op == OP_MINPOOL2D;
    const char *better = l->op == OP_MAXPOOL2D ? ">" : "<";
    int64_t kh = l->kernel[0], kw = l->kernel[1];
    if (inside && e->unroll[l->index]) {
        window_origin(e, l, in.w);
        for (int64_t ky = 0; ky < kh; ky++)
            for (int64_t kx = 0; kx < kw; kx++) {
                long long off = (long long)(ky * l->dilation[0] * in.w + kx * l->dilation[1]);
                if (ky == 0 && kx == 0)
                    emit(e, "float acc = p[0];");
                else if (extremum)
                    emit(e, "if (p[%lld] %s acc) acc = p[%lld];", off, better, off);
                else
                    emit(e, "acc += p[%lld];", off);
            }
        if (l->op == OP_AVGPOOL2D)
            emit(e, "acc = acc / %lld.0f;", (long long)(kh * kw));
    } else {
        /* Padded cells never win a max or min; averages follow PyTorch's
         * divisor: the window clipped to the padded input, or to the input. */
        emit(e, "float acc = 0.0f;");
        if (extremum)
            emit(e, "int any = 0;");
        else
            emit(e, "int count = 0;");
        emit(e, "for (int ky = 0; ky < %lld; ky++) {", (long long)kh);
        tap_coord(e, l, 0);
        fold_coord(e, PM_ZEROS, "iy", in.h);
        emit(e, "for (int kx = 0; kx < %lld; kx++) {", (long long)kw);
        tap_coord(e, l, 1);
        fold_coord(e, PM_ZEROS, "ix", in.w);
        emit(e, "float v = xc[iy * %lld + ix];", (long long)in.w);
        if (extremum) {
            emit(e, "if (!any || v %s acc) acc = v;", better);
            emit(e, "any = 1;");
        } else {
            emit(e, "acc += v;");
            emit(e, "count++;");
        }
        emit(e, "}");
        emit(e, "}");
        if (l->op == OP_AVGPOOL2D && l->count_include_pad) {
            emit(e, "int y0 = %s, x0 = %s;", affine(e, "oy", l->stride[0], l->pad[0]),
                 affine(e, "ox", l->stride[1], l->pad[2]));
            emit(e, "int y1 = y0 + %lld < %lld ? y0 + %lld : %lld;", (long long)kh, (long long)(in.h + l->pad[1]),
                 (long long)kh, (long long)(in.h + l->pad[1]));
            emit(e, "int x1 = x0 + %lld < %lld ? x0 + %lld : %lld;", (long long)kw, (long long)(in.w + l->pad[3]),
                 (long long)kw, (long long)(in.w + l->pad[3]));
            emit(e, "acc = acc / (float)((y1 - y0) * (x1 - x0));");
        } else if (l->op == OP_AVGPOOL2D) {
            emit(e, "acc = count ? acc / (float)count : 0.0f;");
        } else if (!extremum) {
            emit(e, "(void)count;");
        }
    }
    store(e, l, mem_printf(e->mem, "(c * %lld + oy) * %lld + ox", (long long)l->shape.h, (long long)l->shape.w), "acc",
          "c");
}

static void emit_pool(Emitter *e, const Layer *l)
{
    Shape in = l->in[0]->shape;
    emit(e, "for (int c = 0; c < %lld; c++) {", (long long)in.c);
    emit(e, "const float *xc = x + c * %lld;", (long long)(in.h * in.w));
    window_loops(e, l, pool_body);
    emit(e, "}");
}

/* ---- the other ops ---- */

static void emit_global_pool(Emitter *e, const Layer *l)
{
    Shape in = l->in[0]->shape;
    long long hw = (long long)(in.h * in.w);
    bool avg = l->op != OP_GLOBALMAXPOOL2D;
    emit(e, "for (int c = 0; c < %lld; c++) {", (long long)in.c);
    emit(e, "const float *xc = x + c * %lld;", hw);
    emit(e, "float acc = xc[0];");
    emit(e, "for (int i = 1; i < %lld; i++) {", hw);
    emit(e, avg ? "acc += xc[i];" : "if (xc[i] > acc) acc = xc[i];");
    emit(e, "}");
    if (avg)
        emit(e, "acc = acc / %lld.0f;", hw);
    store(e, l, "c", "acc", "c");
    emit(e, "}");
}

/* Blocks of OCB outputs: each input value loaded feeds OCB accumulators. */
static void emit_linear(Emitter *e, const Layer *l)
{
    if (e->opt->tune_host) {
        emit_linear_host(e, l);
        return;
    }
    long long in = (long long)l->in[0]->shape.c;
    const char *n = e->cname[l->index];
    Blocking bk = blocking(e, l);
    emit(e, "for (int oc = 0; oc < %lld; oc += %lld) {", (long long)l->out, (long long)bk.ocb);
    emit(e, "const float *wb = %s_w + oc * %lld;", n, in);
    for (int64_t o = 0; o < bk.ocb; o++)
        emit(e, "float a%lld = %s;", (long long)o,
             l->bias ? mem_printf(e->mem, "%s_b[oc + %lld]", n, (long long)o) : "0.0f");
    emit(e, "for (int i = 0; i < %lld; i++) {", in);
    emit(e, "const float v = x[i];");
    emit(e, "const float *wt = wb + i * %lld;", (long long)bk.ocb);
    for (int64_t o = 0; o < bk.ocb; o++)
        emit(e, "a%lld = CNNC_FMA(v, wt[%lld], a%lld);", (long long)o, (long long)o, (long long)o);
    emit(e, "}");
    for (int64_t o = 0; o < bk.ocb; o++)
        store(e, l, mem_printf(e->mem, "oc + %lld", (long long)o), mem_printf(e->mem, "a%lld", (long long)o),
              mem_printf(e->mem, "oc + %lld", (long long)o));
    emit(e, "}");
}

/* Elementwise ops, batchnorm and copies: one value at a time. */
static void emit_elementwise(Emitter *e, const Layer *l)
{
    Shape s = l->shape;
    bool inplace = l->buf == l->in[0]->buf;
    const char *src = inplace ? "y" : "x";
    emit(e, "for (int c = 0; c < %lld; c++) {", (long long)s.c);
    emit(e, "for (int i = c * %lld; i < (c + 1) * %lld; i++) {", (long long)(s.h * s.w), (long long)(s.h * s.w));
    store(e, l, "i", apply(e, l, mem_printf(e->mem, "%s[i]", src), "c"), "c");
    emit(e, "}");
    emit(e, "}");
}

static void emit_softmax(Emitter *e, const Layer *l)
{
    Shape s = l->shape;
    long long hw = (long long)(s.h * s.w);
    if (l->buf != l->in[0]->buf) {
        emit(e, "for (int i = 0; i < %lld; i++) {", (long long)s.c * hw);
        emit(e, "y[i] = x[i];");
        emit(e, "}");
    }
    emit(e, "for (int i = 0; i < %lld; i++) {", hw);
    emit(e, "cnnc_softmax(y + i, %lld, %lld);", (long long)s.c, hw);
    emit(e, "}");
}

static void emit_add(Emitter *e, const Layer *l)
{
    Shape s = l->shape;
    /* as long as the inputs are many: a fixed buffer cut the sum short */
    Text t;
    FILE *f = text_open(&t);
    fputs("x0[i]", f);
    for (int k = 1; k < l->nin; k++)
        fprintf(f, " + x%d[i]", k);
    const char *sum = text_done(e, &t);
    emit(e, "for (int c = 0; c < %lld; c++) {", (long long)s.c);
    emit(e, "for (int i = c * %lld; i < (c + 1) * %lld; i++) {", (long long)(s.h * s.w), (long long)(s.h * s.w));
    store(e, l, "i", sum, "c");
    emit(e, "}");
    emit(e, "}");
}

/* mul: elementwise, or each channel's plane times its gate value
 * (squeeze-excitation's Cx1x1 broadcast). */
static void emit_mul(Emitter *e, const Layer *l)
{
    Shape s = l->shape;
    long long hw = (long long)(s.h * s.w);
    const char *v[2];
    for (int k = 0; k < 2; k++) {
        Shape in = l->in[k]->shape;
        v[k] = in.h * in.w == s.h * s.w ? mem_printf(e->mem, "x%d[i]", k) : mem_printf(e->mem, "x%d[c]", k);
    }
    emit(e, "for (int c = 0; c < %lld; c++) {", (long long)s.c);
    emit(e, "for (int i = c * %lld; i < (c + 1) * %lld; i++) {", hw, hw);
    store(e, l, "i", mem_printf(e->mem, "%s * %s", v[0], v[1]), "c");
    emit(e, "}");
    emit(e, "}");
}

/* pad: each output cell reads its folded input cell, or the constant. */
static void emit_pad(Emitter *e, const Layer *l)
{
    Shape in = l->in[0]->shape, o = l->shape;
    char lit[48];
    emit(e, "for (int c = 0; c < %lld; c++) {", (long long)o.c);
    emit(e, "const float *xc = x + c * %lld;", (long long)(in.h * in.w));
    emit(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)o.h);
    emit(e, "int iy = %s;", affine(e, "oy", 1, l->pad[0]));
    if (l->pad_mode != PM_ZEROS)
        fold_coord(e, l->pad_mode, "iy", in.h);
    emit(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)o.w);
    emit(e, "int ix = %s;", affine(e, "ox", 1, l->pad[2]));
    const char *idx = mem_printf(e->mem, "(c * %lld + oy) * %lld + ox", (long long)o.h, (long long)o.w);
    if (l->pad_mode != PM_ZEROS) {
        fold_coord(e, l->pad_mode, "ix", in.w);
        store(e, l, idx, mem_printf(e->mem, "xc[iy * %lld + ix]", (long long)in.w), "c");
    } else {
        store(e, l, idx,
              mem_printf(e->mem, "iy < 0 || iy >= %lld || ix < 0 || ix >= %lld ? %s : xc[iy * %lld + ix]",
                         (long long)in.h, (long long)in.w, flit((float)l->pad_value, lit, sizeof lit),
                         (long long)in.w),
              "c");
    }
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
}

/* One axis of a bilinear upsample as constant tables: the two source
 * indices and the second one's weight per output index, computed as
 * PyTorch's area_pixel_compute_source_index does. */
static void bilinear_tables(Emitter *e, const Layer *l, int a, int64_t in, int64_t out)
{
    Text t0, t1, tw;
    FILE *f0 = text_open(&t0), *f1 = text_open(&t1), *fw = text_open(&tw);
    for (int64_t i = 0; i < out; i++) {
        double src;
        if (l->align_corners)
            src = out > 1 ? (double)i * (double)(in - 1) / (double)(out - 1) : 0.0;
        else {
            src = ((double)i + 0.5) * (double)in / (double)out - 0.5;
            src = src < 0 ? 0 : src;
        }
        int64_t i0 = (int64_t)src, i1 = i0 + (i0 < in - 1);
        char lit[48];
        fprintf(f0, "%s%lld", i ? ", " : "", (long long)i0);
        fprintf(f1, "%s%lld", i ? ", " : "", (long long)i1);
        fprintf(fw, "%s%s", i ? ", " : "", flit((float)(src - (double)i0), lit, sizeof lit));
    }
    const char *ax = a ? "x" : "y";
    emit(e, "static const int %s0[%lld] = {%s};", ax, (long long)out, text_done(e, &t0));
    emit(e, "static const int %s1[%lld] = {%s};", ax, (long long)out, text_done(e, &t1));
    emit(e, "static const float w%s[%lld] = {%s};", ax, (long long)out, text_done(e, &tw));
}

/* upsample: nearest reads input pixel (oy / fy, ox / fx); bilinear blends
 * the four neighbours with PyTorch's weights. */
static void emit_upsample(Emitter *e, const Layer *l)
{
    Shape in = l->in[0]->shape, o = l->shape;
    if (l->bilinear) {
        bilinear_tables(e, l, 0, in.h, o.h);
        bilinear_tables(e, l, 1, in.w, o.w);
    }
    emit(e, "for (int c = 0; c < %lld; c++) {", (long long)o.c);
    emit(e, "const float *xc = x + c * %lld;", (long long)(in.h * in.w));
    emit(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)o.h);
    emit(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)o.w);
    const char *idx = mem_printf(e->mem, "(c * %lld + oy) * %lld + ox", (long long)o.h, (long long)o.w);
    long long w = (long long)in.w;
    if (!l->bilinear) {
        store(e, l, idx,
              mem_printf(e->mem, "xc[(oy / %lld) * %lld + ox / %lld]", (long long)l->factor[0], w,
                         (long long)l->factor[1]),
              "c");
    } else {
        emit(e, "const float *r0 = xc + y0[oy] * %lld, *r1 = xc + y1[oy] * %lld;", w, w);
        emit(e, "float top = (1.0f - wx[ox]) * r0[x0[ox]] + wx[ox] * r0[x1[ox]];");
        emit(e, "float bottom = (1.0f - wx[ox]) * r1[x0[ox]] + wx[ox] * r1[x1[ox]];");
        store(e, l, idx, "(1.0f - wy[oy]) * top + wy[oy] * bottom", "c");
    }
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
}

/* pixelshuffle r: output (c, oy, ox) is input channel c*r*r + (oy%r)*r + ox%r at (oy/r, ox/r). */
static void emit_pixelshuffle(Emitter *e, const Layer *l)
{
    Shape in = l->in[0]->shape, o = l->shape;
    long long r = (long long)l->factor[0], plane = (long long)(in.h * in.w);
    emit(e, "for (int c = 0; c < %lld; c++) {", (long long)o.c);
    emit(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)o.h);
    emit(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)o.w);
    store(e, l, mem_printf(e->mem, "(c * %lld + oy) * %lld + ox", (long long)o.h, (long long)o.w),
          mem_printf(e->mem, "x[(c * %lld + oy %% %lld * %lld + ox %% %lld) * %lld + (oy / %lld) * %lld + ox / %lld]",
                     r * r, r, r, r, plane, r, (long long)in.w, r),
          "c");
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
}

/* The statements that find input coordinate i along axis a for tap k of
 * a transposed conv, or skip the tap: o + pad - k*dilation must be a
 * whole multiple of the stride, inside the input. */
static void transposed_tap(Emitter *e, const Layer *l, int a, int64_t n)
{
    const char *o = a ? "ox" : "oy", *k = a ? "kx" : "ky", *i = a ? "ix" : "iy";
    const char *t = l->dilation[a] == 1 ? k : mem_printf(e->mem, "%s * %lld", k, (long long)l->dilation[a]);
    emit(e, "int t%s = %s - %s;", i, affine(e, o, 1, -l->pad[2 * a]), t);
    if (l->stride[a] == 1) {
        emit(e, "if (t%s < 0 || t%s >= %lld) continue;", i, i, (long long)n);
        emit(e, "int %s = t%s;", i, i);
    } else {
        emit(e, "if (t%s < 0 || t%s %% %lld != 0 || t%s >= %lld) continue;", i, i, (long long)l->stride[a], i,
             (long long)(n * l->stride[a]));
        emit(e, "int %s = t%s / %lld;", i, i, (long long)l->stride[a]);
    }
}

/* convtranspose2d, gathered per output: each output sums the taps whose
 * scatter lands on it, so outputs are written once, through the store. */
static void emit_convtranspose(Emitter *e, const Layer *l)
{
    Shape in = l->in[0]->shape, o = l->shape;
    const char *n = e->cname[l->index];
    long long cin = (long long)(in.c / l->groups), cout = (long long)(l->out / l->groups);
    long long kh = (long long)l->kernel[0], kw = (long long)l->kernel[1], plane = (long long)(in.h * in.w);
    emit(e, "for (int oc = 0; oc < %lld; oc++) {", (long long)l->out);
    emit(e, "const int g = oc / %lld, j = oc %% %lld;", cout, cout);
    emit(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)o.h);
    emit(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)o.w);
    emit(e, "float acc = %s;", l->bias ? mem_printf(e->mem, "%s_b[oc]", n) : "0.0f");
    emit(e, "for (int ky = 0; ky < %lld; ky++) {", kh);
    transposed_tap(e, l, 0, in.h);
    emit(e, "for (int kx = 0; kx < %lld; kx++) {", kw);
    transposed_tap(e, l, 1, in.w);
    emit(e, "for (int ic = g * %lld; ic < (g + 1) * %lld; ic++) {", cin, cin);
    emit(e, "acc = CNNC_FMA(x[ic * %lld + iy * %lld + ix], %s_w[((ic * %lld + j) * %lld + ky) * %lld + kx], acc);",
         plane, (long long)in.w, n, cout, kh, kw);
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
    store(e, l, mem_printf(e->mem, "(oc * %lld + oy) * %lld + ox", (long long)o.h, (long long)o.w), "acc", "oc");
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
}

static void emit_concat(Emitter *e, const Layer *l)
{
    long long hw = (long long)(l->shape.h * l->shape.w), at = 0;
    for (int k = 0; k < l->nin; k++) {
        long long ch = (long long)l->in[k]->shape.c;
        emit(e, "for (int c = %lld; c < %lld; c++) {", at, at + ch);
        emit(e, "for (int i = c * %lld; i < (c + 1) * %lld; i++) {", hw, hw);
        store(e, l, "i", mem_printf(e->mem, "x%d[i - %lld]", k, at * hw), "c");
        emit(e, "}");
        emit(e, "}");
        at += ch;
    }
}

typedef void EmitBody(Emitter *e, const Layer *l);

/* What each op's layer function does. Ops missing here have no code of
 * their own: they are folded, fused, or aliases of their input. */
static EmitBody *const kinds[OP_COUNT] = {
    [OP_CONV2D] = emit_conv,
    [OP_MAXPOOL2D] = emit_pool,
    [OP_MINPOOL2D] = emit_pool,
    [OP_AVGPOOL2D] = emit_pool,
    [OP_SUMPOOL2D] = emit_pool,
    [OP_GLOBALAVGPOOL2D] = emit_global_pool,
    [OP_GLOBALMAXPOOL2D] = emit_global_pool,
    [OP_MEAN] = emit_global_pool,
    [OP_LINEAR] = emit_linear,
    [OP_FLATTEN] = emit_elementwise, /* a copy, when it cannot rename */
    [OP_DROPOUT] = emit_elementwise,
    [OP_BATCHNORM2D] = emit_elementwise,
    [OP_RELU] = emit_elementwise,
    [OP_RELU6] = emit_elementwise,
    [OP_SIGMOID] = emit_elementwise,
    [OP_TANH] = emit_elementwise,
    [OP_HARDSWISH] = emit_elementwise,
    [OP_LEAKYRELU] = emit_elementwise,
    [OP_HARDSIGMOID] = emit_elementwise,
    [OP_SILU] = emit_elementwise,
    [OP_GELU] = emit_elementwise,
    [OP_ELU] = emit_elementwise,
    [OP_PRELU] = emit_elementwise,
    [OP_HARDTANH] = emit_elementwise,
    [OP_MUL] = emit_mul,
    [OP_PAD] = emit_pad,
    [OP_UPSAMPLE] = emit_upsample,
    [OP_PIXELSHUFFLE] = emit_pixelshuffle,
    [OP_CONVTRANSPOSE2D] = emit_convtranspose,
    [OP_SOFTMAX] = emit_softmax,
    [OP_ADD] = emit_add,
    [OP_CONCAT] = emit_concat,
};

/* One static function per group, headed by where it came from. */
static void emit_layer(Emitter *e, const Layer *h)
{
    const char *n = e->cname[h->index];
    const char *members = "";
    for (const Layer *m = h->next_fused; m; m = m->next_fused)
        members = mem_printf(e->mem, "%s%s%s %s", members, *members ? ", " : "; ", m->fold_into ? "folds" : "applies",
                             m->name);
    if (h->op == OP_CONV2D && h->pool)
        members = mem_printf(e->mem, "%s (reduces into %s as it goes)", members, h->pool->name);
    if (h->op == OP_CONV2D && !host_conv(e, h) && !regions(e, h))
        conv_helper(e, h, blocking(e, h));
    emit(e, "/* %s: %s %s -> %s, %s:%d%s */", h->name, ir_op_name(h->op), cw_shape(e->mem, h->in[0]->shape),
         cw_shape(e->mem, h->tail->shape), e->path, h->loc.line, members);
    if (in_place(h))
        emit(e, "static void layer_%s(float *y)", n);
    else if (h->nin == 1 && h->residual && !h->residual_in_place)
        emit(e, "static void layer_%s(const float *restrict x, const float *restrict r, float *restrict y)", n);
    else if (h->nin == 1)
        emit(e, "static void layer_%s(const float *restrict x, float *restrict y)", n);
    else {
        Text t;
        FILE *f = text_open(&t);
        for (int k = 0; k < h->nin; k++)
            fprintf(f, "const float *restrict x%d, ", k);
        emit(e, "static void layer_%s(%sfloat *restrict y)", n, text_done(e, &t));
    }
    emit(e, "{");
    kinds[h->op](e, h);
    emit(e, "}");
    emit(e, "%s", "");
}

/* ---- entry points ---- */

/* The k-th output parameter: "output" when there is only one. */
static const char *output_name(Emitter *e, int k)
{
    return e->net->noutputs == 1 ? "output" : mem_printf(e->mem, "output%d", k);
}

/* The expression for where tensor l lives while the network runs. */
static const char *where(Emitter *e, const Layer *l)
{
    if (l->buf == BUF_INPUT)
        return "input";
    if (l->buf < 0)
        return output_name(e, BUF_OUTPUT_INDEX(l->buf));
    return mem_printf(e->mem, "a + %lld", (long long)(e->net->buf_offset[l->buf] / (int64_t)sizeof(float)));
}

static const char *output_params(Emitter *e)
{
    Text t;
    FILE *f = text_open(&t);
    for (int k = 0; k < e->net->noutputs; k++)
        fprintf(f, ", float *%s", output_name(e, k));
    return text_done(e, &t);
}

/* Copies tensor l between the caller's HWC buffer and its CHW arena
 * buffer: in from the caller (to_chw), or out to it. */
static void emit_reorder(Emitter *e, const Layer *l, const char *src, const char *dst, bool to_chw)
{
    long long hw = (long long)(l->shape.h * l->shape.w), c = (long long)l->shape.c;
    emit(e, "{");
    emit(e, "/* '%s' is HWC on the caller's side, CHW inside */", cw_comment_safe(e->mem, l->name));
    emit(e, "const float *restrict s = %s;", src);
    emit(e, "float *restrict d = %s;", dst);
    emit(e, "for (int p = 0; p < %lld; p++) {", hw);
    emit(e, "for (int c = 0; c < %lld; c++) {", c);
    if (to_chw)
        emit(e, "d[c * %lld + p] = s[p * %lld + c];", hw, c);
    else
        emit(e, "d[p * %lld + c] = s[c * %lld + p];", c, hw);
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
}

static void emit_entry(Emitter *e)
{
    Net *net = e->net;
    const char *outs = output_params(e);
    emit(e, "void %s_run_arena(const float *input%s, void *arena)", net->name, outs);
    emit(e, "{");
    emit(e, "float *a = (float *)arena;");
    if (net->arena_bytes == 0)
        emit(e, "(void)a;");
    if (plan_reordered(net, net->input))
        emit_reorder(e, net->input, "input", where(e, net->input), true);
    for (int i = 1; i < net->nlayers; i++) {
        Layer *l = net->layers[i], *h = l->host;
        if (h->tail != l || is_alias(h))
            continue; /* a group runs when its last layer's inputs are all there */
        Text t;
        FILE *f = text_open(&t);
        if (!in_place(h))
            for (int k = 0; k < h->nin; k++)
                fprintf(f, "%s, ", where(e, h->in[k]));
        if (h->residual && !h->residual_in_place)
            fprintf(f, "%s, ", where(e, h->residual));
        emit(e, "layer_%s(%s%s);", e->cname[h->index], text_done(e, &t), where(e, l));
    }
    for (int k = 0; k < net->noutputs; k++)
        if (plan_reordered(net, net->outputs[k]))
            emit_reorder(e, net->outputs[k], where(e, net->outputs[k]), output_name(e, k), false);
    emit(e, "}");
    emit(e, "%s", "");
    const char *up = cw_upper(e->mem, net->name);
    emit(e, "/* The arena of %s_run; %s_run_arena takes the caller's instead. */", net->name, net->name);
    emit(e, "static float %s_arena[%s_ARENA_BYTES >= 4 ? %s_ARENA_BYTES / 4 : 1];", net->name, up, up);
    emit(e, "%s", "");
    emit(e, "void %s_run(const float *input%s)", net->name, outs);
    emit(e, "{");
    Text t;
    FILE *f = text_open(&t);
    fprintf(f, "%s_run_arena(input", net->name);
    for (int k = 0; k < net->noutputs; k++)
        fprintf(f, ", %s", output_name(e, k));
    emit(e, "%s, %s_arena);", text_done(e, &t), net->name);
    emit(e, "}");
}

static void emit_header(Emitter *e)
{
    Net *net = e->net;
    const char *up = cw_upper(e->mem, net->name);
    Shape in = net->input->shape;
    emit(e, "/* Generated by cnnc %s from %s: network %s. Do not edit. */", CNNC_VERSION, e->path, net->name);
    emit(e, "#ifndef %s_H", up);
    emit(e, "#define %s_H", up);
    emit(e, "%s", "");
    emit(e, "/* input '%s', float32 %s */", net->input->name, net->hwc ? "HWC" : "CHW");
    emit(e, "#define %s_INPUT_C %lld", up, (long long)in.c);
    emit(e, "#define %s_INPUT_H %lld", up, (long long)in.h);
    emit(e, "#define %s_INPUT_W %lld", up, (long long)in.w);
    emit(e, "#define %s_INPUT_SIZE %lld", up, (long long)(in.c * in.h * in.w));
    for (int k = 0; k < net->noutputs; k++) {
        Shape s = net->outputs[k]->shape;
        emit(e, "/* output %d: '%s', %s */", k, net->outputs[k]->name, cw_shape(e->mem, s));
        emit(e, "#define %s_OUTPUT%d_C %lld", up, k, (long long)s.c);
        emit(e, "#define %s_OUTPUT%d_H %lld", up, k, (long long)s.h);
        emit(e, "#define %s_OUTPUT%d_W %lld", up, k, (long long)s.w);
        emit(e, "#define %s_OUTPUT%d_SIZE %lld", up, k, (long long)(s.c * s.h * s.w));
    }
    emit(e, "#define %s_OUTPUT_C %s_OUTPUT0_C", up, up);
    emit(e, "#define %s_OUTPUT_H %s_OUTPUT0_H", up, up);
    emit(e, "#define %s_OUTPUT_W %s_OUTPUT0_W", up, up);
    emit(e, "#define %s_OUTPUT_SIZE %s_OUTPUT0_SIZE", up, up);
    emit(e, "/* scratch RAM for activations, in bytes */");
    emit(e, "#define %s_ARENA_BYTES %lld", up, (long long)net->arena_bytes);
    emit(e, "%s", "");
    emit(e, "#ifdef __cplusplus");
    emit(e, "extern \"C\" {");
    emit(e, "#endif");
    emit(e, "%s", "");
    const char *outs = output_params(e);
    emit(e, "/* Runs the network on one %s float32 input. Uses an internal static arena. */", net->hwc ? "HWC" : "CHW");
    emit(e, "void %s_run(const float *input%s);", net->name, outs);
    emit(e, "%s", "");
    emit(e, "/* Same, with scratch memory from the caller (%s_ARENA_BYTES, 4-byte aligned): re-entrant. */", up);
    emit(e, "void %s_run_arena(const float *input%s, void *arena);", net->name, outs);
    emit(e, "%s", "");
    emit(e, "#ifdef __cplusplus");
    emit(e, "}");
    emit(e, "#endif");
    emit(e, "%s", "");
    emit(e, "#endif");
}

/* The banner: what produced this file and what it holds. */
static void emit_banner(Emitter *e)
{
    emit(e, "/* Generated by cnnc %s. Do not edit: regenerate from the model instead.", CNNC_VERSION);
    emit(e, " *");
    char *cmd = "";
    for (int i = 0; i < e->opt->argc; i++)
        cmd = mem_printf(e->mem, "%s%s%s", cmd, i ? " " : "", e->opt->argv[i]);
    emit(e, " * command: %s", cw_comment_safe(e->mem, cmd));
    emit(e, " * source:  %s (network %s)", e->path, e->net->name);
    emit(e, " * weights: %s", cw_comment_safe(e->mem, e->opt->weights_note));
    emit(e, " *");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        die("out of memory");
    report_text(e->net, f);
    fclose(f);
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = '\0';
        emit(e, " * %s", line);
    }
    free(text);
    emit(e, " */");
}

/* A window layer competing for the unroll budget. */
typedef struct Candidate {
    int64_t work, taps;
    int index;
} Candidate;

/* Most work first; ties in schedule order, so the choice is stable. */
static int candidate_order(const void *a, const void *b)
{
    const Candidate *x = a, *y = b;
    if (x->work != y->work)
        return x->work > y->work ? -1 : 1;
    return x->index - y->index;
}

/* Chooses which windows to unroll: the layers doing the most work first,
 * as long as their unrolled taps fit the budget (--unroll). Exported so
 * that the report tells what the code will contain. */
EmitUnrollPlan emit_unroll_plan(Mem *m, const Net *net, const EmitOptions *opt)
{
    EmitUnrollPlan up = {.unroll = mem_array(m, (size_t)net->nlayers, sizeof *up.unroll)};
    Candidate *c = mem_array(m, (size_t)net->nlayers, sizeof *c);
    int n = 0;
    for (int i = 1; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        if (l->host != l || !(l->op == OP_CONV2D || l->op == OP_LINEAR || (ir_ops[l->op].flags & OPF_WINDOW)))
            continue;
        Blocking bk = blocking_for(l, true);
        int64_t taps = l->op == OP_LINEAR ? bk.ocb : l->kernel[0] * l->kernel[1] * bk.ocb * bk.p;
        c[n++] = (Candidate){l->macs + l->shape.c * l->shape.h * l->shape.w * l->kernel[0] * l->kernel[1], taps, i};
    }
    qsort(c, (size_t)n, sizeof *c, candidate_order);
    up.budget = opt->tune_host ? INT64_MAX : opt->unroll_budget;
    up.candidates = n;
    int64_t budget = up.budget;
    for (int k = 0; k < n; k++) {
        up.all_taps += c[k].taps;
        if (c[k].taps <= budget) {
            up.unroll[c[k].index] = true;
            budget -= c[k].taps;
            up.unrolled++;
            up.taps += c[k].taps;
        }
    }
    return up;
}

/* The emitter's copy of the plan: which windows its kernels unroll. */
static void choose_unroll(Emitter *e)
{
    e->unroll = emit_unroll_plan(e->mem, e->net, e->opt).unroll;
}

/* Windows beyond this (kernel, stride, dilation, padding) are refused:
 * far past any input a microcontroller holds, and the loops and tables
 * of the code generator are sized by them. */
#define MAX_WINDOW 65535

/* Whether a window parameter of l passes MAX_WINDOW; says which if so. */
static bool window_too_large(Diag *d, const Layer *l)
{
    if (!(ir_ops[l->op].flags & OPF_WINDOW))
        return false;
    const struct {
        const char *key;
        const int64_t *v;
        int n;
    } params[] = {{"kernel", l->kernel, 2}, {"stride", l->stride, 2}, {"dilation", l->dilation, 2}, {"padding", l->pad, 4}};
    for (size_t k = 0; k < sizeof params / sizeof *params; k++)
        for (int j = 0; j < params[k].n; j++)
            if (params[k].v[j] > MAX_WINDOW) {
                diag_error(d, l->name_loc, "'%s' has %s %lld: generated code supports windows up to %d", l->name,
                           params[k].key, (long long)params[k].v[j], MAX_WINDOW);
                return true;
            }
    return false;
}

/* Everything the generated C may take for granted must fit an int. */
bool emit_fits(Diag *d, const Net *net)
{
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        if (window_too_large(d, l))
            return false;
        if (l->shape.c * l->shape.h * l->shape.w > INT32_MAX / 4 ||
            (weights_count(l) > 0 && weights_numel(l, 0) > INT32_MAX / 4)) {
            diag_error(d, l->name_loc, "'%s' is too large for generated code (more than 2^29 values)", l->name);
            return false;
        }
    }
    return true;
}

void emit_c(Mem *m, Diag *d, Net *net, const EmitOptions *opt, FILE *c_out, FILE *h_out)
{
    Emitter e = {.mem = m, .diag = d, .net = net, .opt = opt};
    int n = net->nlayers;
    e.cname = mem_array(m, (size_t)n, sizeof *e.cname);
    e.unroll = mem_array(m, (size_t)n, sizeof *e.unroll);
    e.path = cw_comment_safe(m, d->path);
    if (!emit_fits(d, net))
        return;
    make_names(&e);
    choose_unroll(&e);

    e.out = h_out;
    emit_header(&e);

    e.out = c_out;
    emit_banner(&e);
    emit(&e, "#include \"%s\"", opt->header_name);
    emit(&e, "#include \"cnnc_rt.h\"");
    emit(&e, "%s", "");
    emit_weights(&e);
    emit(&e, "%s", "");
    for (int i = 1; i < n; i++)
        if (net->layers[i]->host == net->layers[i] && !is_alias(net->layers[i]))
            emit_layer(&e, net->layers[i]);
    emit_entry(&e);
}
