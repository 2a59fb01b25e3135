/* validate.c: where int8 accuracy goes. Runs inputs through the float
 * interpreter (interp.c) and the int8 reference (qref.c, what the
 * generated int8 code computes bit for bit) and measures, tensor by
 * tensor, how far the dequantized int8 values are from float: the
 * largest error, the RMSE and the cosine similarity, and for outputs
 * that are class scores how often the top class agrees. Like
 * STM32Cube.AI's validate, but per layer, so a user sees which layer
 * loses the accuracy. */
#include "cnnc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Sums over every value of one tensor and every input. */
typedef struct TensorStats {
    double max_err, sq_err, dot, ff, qq;
    int64_t n;
} TensorStats;

/* What validation gathers, passed to the input reader's callback. */
typedef struct Validation {
    Net *net;
    TensorStats *stats; /* per layer */
    int64_t *top1;      /* per output: inputs whose top class agrees */
    int64_t inputs;
} Validation;

/* Whether output l is a vector of class scores (top-1 is meaningful). */
static bool class_scores(const Layer *l)
{
    return l->shape.c > 1 && l->shape.h == 1 && l->shape.w == 1;
}

/* The index of the largest of n values (the first on ties). */
static int64_t argmax_f(const float *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        best = v[i] > v[best] ? i : best;
    return best;
}

static int64_t argmax_q(const int8_t *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        best = v[i] > v[best] ? i : best;
    return best;
}

/* The layer whose float values l's int8 tensor holds: a kernel with a
 * folded batchnorm or fused relu stores only the last of them. */
static const Layer *held(const Layer *l)
{
    const QuantInfo *qi = l->quant;
    const Layer *h = qi->kind == QK_FUSED ? qi->fused_into : l;
    return h->quant->fused_act ? h->quant->fused_act : h->quant->fused_bn ? h->quant->fused_bn : h;
}

/* One CHW input through both, into the sums. */
static void validate_one(void *ctx, const float *chw)
{
    Validation *v = ctx;
    Net *net = v->net;
    Mem scratch = {0};
    float **f = interp_run(&scratch, net, chw);
    int8_t **q = qref_run(net, chw);
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        TensorStats *t = &v->stats[i];
        int64_t n = l->shape.c * l->shape.h * l->shape.w;
        if (held(l) != l)
            continue;
        for (int64_t k = 0; k < n; k++) {
            double a = f[i][k], b = qref_dequantize(q[i][k], l->quant->out), e = fabs(a - b);
            if (!(e <= t->max_err))
                t->max_err = e; /* NaN sticks: it is worth seeing */
            t->sq_err += e * e;
            t->dot += a * b;
            t->ff += a * a;
            t->qq += b * b;
        }
        t->n += n;
    }
    for (int k = 0; k < net->noutputs; k++) {
        const Layer *l = net->outputs[k];
        if (class_scores(l))
            v->top1[k] += argmax_f(f[l->index], l->shape.c) == argmax_q(q[l->index], l->shape.c);
    }
    qref_free(net, q);
    mem_free(&scratch);
    v->inputs++;
}

/* The cosine of the angle between float and int8, 1 when both are zero. */
static double cosine(const TensorStats *t)
{
    if (t->ff == 0 && t->qq == 0)
        return 1.0;
    if (t->ff == 0 || t->qq == 0)
        return 0.0;
    return t->dot / sqrt(t->ff * t->qq);
}

/* The table: one line per tensor that has its own int8 values, then the outputs' top-1. */
static void print_text(const Validation *v, const char *what, FILE *out)
{
    Net *net = v->net;
    int width = 5;
    for (int i = 0; i < net->nlayers; i++)
        width = (int)strlen(net->layers[i]->name) > width ? (int)strlen(net->layers[i]->name) : width;
    fprintf(out, "int8 against float on %lld input%s (%s):\n", (long long)v->inputs, v->inputs == 1 ? "" : "s", what);
    fprintf(out, "%-*s  %-15s %12s %12s %10s\n", width, "layer", "op", "max |error|", "rmse", "cosine");
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        const TensorStats *t = &v->stats[i];
        if (held(l) != l) {
            fprintf(out, "%-*s  %-15s %12s %12s %10s  (int8 stores only '%s')\n", width, l->name, ir_op_name(l->op), "-",
                    "-", "-", held(l)->name);
            continue;
        }
        fprintf(out, "%-*s  %-15s %12.6g %12.6g %10.6f%s\n", width, l->name, ir_op_name(l->op), t->max_err,
                sqrt(t->sq_err / (double)(t->n ? t->n : 1)), cosine(t), l->is_output ? "  (output)" : "");
    }
    for (int k = 0; k < net->noutputs; k++)
        if (class_scores(net->outputs[k]))
            fprintf(out, "output '%s': top-1 class agrees on %lld of %lld inputs (%.2f%%)\n", net->outputs[k]->name,
                    (long long)v->top1[k], (long long)v->inputs, 100.0 * (double)v->top1[k] / (double)v->inputs);
}

bool validate_int8(Diag *d, Net *net, const char *path, const char *what, FILE *out)
{
    Validation v = {.net = net};
    v.stats = calloc((size_t)net->nlayers, sizeof *v.stats);
    v.top1 = calloc((size_t)net->noutputs + 1, sizeof *v.top1);
    if (!v.stats || !v.top1)
        die("out of memory");
    bool ok = quant_each_input(d, path, "validation data", net, validate_one, &v);
    if (ok)
        print_text(&v, what, out);
    free(v.stats);
    free(v.top1);
    return ok;
}
