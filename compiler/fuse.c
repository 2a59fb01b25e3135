/* fuse.c: which layers run together. A conv followed by its batchnorm,
 * activation, pool and residual add is one loop nest: the conv's output
 * is never written out, which saves both memory traffic and arena. The
 * groups decided here are what plan() allocates and emit() writes. */
#include "cnnc.h"

/* Ops whose kernel ends in a per-value store an epilogue can extend. */
static bool can_host(const Layer *h)
{
    return h->op != OP_INPUT && h->op != OP_SOFTMAX && h->op != OP_FLATTEN;
}

/* Elementwise ops that run on each stored value. Softmax mixes channels. */
static bool per_value(const Layer *l)
{
    return (ir_ops[l->op].flags & OPF_ELEMENTWISE) && l->op != OP_SOFTMAX;
}

/* Members a group may have: each nests one more call in the store's
 * expression, and a chain of 10,000 relus must not become one expression
 * (quadratic to build, deeper than C compilers nest). Real groups have
 * about five. */
enum { FUSE_MAX_MEMBERS = 16 };

/* Whether the group hosted by g has room for one more member. */
static bool has_room(const Layer *g)
{
    int n = 1;
    for (const Layer *m = g->next_fused; m && n < FUSE_MAX_MEMBERS; m = m->next_fused)
        n++;
    return n < FUSE_MAX_MEMBERS;
}

/* The group whose stored value is src, if nothing else reads it. */
static Layer *open_group(const Layer *src)
{
    Layer *g = src->host;
    if (!g || g->tail != src || src->nusers != 1 || src->is_output || !can_host(g) || !has_room(g))
        return NULL;
    return g;
}

/* A pool the conv can reduce into as it goes: disjoint windows covering
 * only real conv outputs, so each conv value is computed once. */
static bool reducible_pool(const Layer *p)
{
    bool kind = p->op == OP_MAXPOOL2D || p->op == OP_MINPOOL2D || p->op == OP_AVGPOOL2D || p->op == OP_SUMPOOL2D;
    if (!kind)
        return false;
    for (int k = 0; k < 4; k++)
        if (p->pad[k])
            return false;
    Shape in = p->in[0]->shape;
    /* each window's values are held in registers while it is reduced */
    if (p->kernel[0] * p->kernel[1] > 9)
        return false;
    return p->stride[0] == p->kernel[0] && p->stride[1] == p->kernel[1] && p->dilation[0] == 1 &&
           p->dilation[1] == 1 && p->shape.h * p->kernel[0] <= in.h && p->shape.w * p->kernel[1] <= in.w;
}

/* The host l joins, or NULL; sets *residual for a fused add. */
static Layer *join_target(Layer *l, bool enabled, Layer **residual)
{
    if (l->fold_into)
        return l->fold_into->host;
    if (!enabled)
        return NULL;
    if (l->op == OP_ADD && l->nin == 2) {
        for (int k = 1; k >= 0; k--) {
            Layer *g = open_group(l->in[k]);
            Layer *other = l->in[1 - k];
            if (g && g->op == OP_CONV2D && !g->pool && !g->residual && other != l->in[k]) {
                *residual = other;
                return g;
            }
        }
        return NULL;
    }
    if (l->nin != 1)
        return NULL;
    Layer *g = open_group(l->in[0]);
    if (!g)
        return NULL;
    if (per_value(l))
        return l->op == OP_BATCHNORM2D && g->shape.c != l->shape.c ? NULL : g;
    if (g->op == OP_CONV2D && !g->pool && !g->residual && reducible_pool(l))
        return g;
    return NULL;
}

void fuse(Net *net, bool enabled)
{
    for (int i = 1; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        l->host = l->tail = l;
        l->next_fused = NULL;
        Layer *residual = NULL;
        Layer *g = join_target(l, enabled, &residual);
        if (!g)
            continue;
        l->host = g;
        g->tail->next_fused = l;
        g->tail = l;
        if (residual)
            g->residual = residual;
        else if (!per_value(l))
            g->pool = l;
    }
}
