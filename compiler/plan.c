/* plan.c: where each tensor lives while the network runs. Tensors share
 * a buffer when an elementwise op overwrites its input in place; buffers
 * whose lifetimes do not overlap share arena bytes. The network's input
 * and outputs live in the caller's memory and cost the arena nothing. */
#include "cnnc.h"

#include <stdlib.h>
#include <string.h>

/* The state of one planning. The same walk serves two views: layer by
 * layer (each layer its own step, for the bound the spec defines) and as
 * fused (each group one step, for the arena the code really uses). */
typedef struct Planner {
    Mem *mem;
    Net *net;
    bool fused;
    int *buf;        /* per layer: its buffer in this view */
    int *output_of;  /* per buffer: output index, or -1 */
    int nbufs;
    int64_t *bytes;
    int *first, *last;
    int *last_use;   /* per layer: the last step reading its tensor */
} Planner;

/* The step at which layer l's computation runs. */
static int step_of(const Planner *p, const Layer *l)
{
    return p->fused && l->host ? l->host->tail->index : l->index;
}

/* The last step that reads l's tensor (its own step if none does).
 * Computed once per layer: a tensor with 100,000 readers is asked about
 * by each of them. */
static int compute_last_use(const Planner *p, const Layer *l)
{
    int last = step_of(p, l);
    for (int i = 0; i < l->nusers; i++) {
        int s = step_of(p, l->users[i]);
        if (s > last)
            last = s;
    }
    return last;
}

/* Whether writing at step `at` may overwrite src's buffer: the buffer is
 * the arena's (the input is const, an output must survive) and nothing
 * reads src later. */
static bool reusable(const Planner *p, const Layer *src, int at)
{
    return p->buf[src->index] >= 0 && !src->is_output && p->last_use[src->index] == at;
}

/* The buffer l's stored tensor shares, or -1 for a new one. */
static int shared_buffer(Planner *p, Layer *l)
{
    int at = step_of(p, l);
    Layer *h = p->fused ? l->host : l;
    bool elementwise = (ir_ops[l->op].flags & OPF_ELEMENTWISE) || l->op == OP_FLATTEN;
    if (h == l && elementwise && reusable(p, l->in[0], at))
        return p->buf[l->in[0]->index];
    /* the residual is read at the very position being written, so it may
     * be overwritten, unless the conv also reads it through its window */
    if (p->fused && h->residual && h->residual != h->in[0] && reusable(p, h->residual, at)) {
        h->residual_in_place = true;
        return p->buf[h->residual->index];
    }
    return -1;
}

/* Gives every stored tensor a buffer and every buffer its live steps. */
static void assign_buffers(Planner *p)
{
    Net *net = p->net;
    int n = net->nlayers;
    p->buf = mem_array(p->mem, (size_t)n, sizeof *p->buf);
    p->output_of = mem_array(p->mem, (size_t)n, sizeof *p->output_of);
    p->bytes = mem_array(p->mem, (size_t)n, sizeof *p->bytes);
    p->first = mem_array(p->mem, (size_t)n, sizeof *p->first);
    p->last = mem_array(p->mem, (size_t)n, sizeof *p->last);
    p->last_use = mem_array(p->mem, (size_t)n, sizeof *p->last_use);
    for (int i = 0; i < n; i++)
        p->last_use[i] = compute_last_use(p, net->layers[i]);
    int *output_index = mem_array(p->mem, (size_t)n, sizeof *output_index);
    for (int i = 0; i < n; i++)
        output_index[i] = -1;
    for (int k = 0; k < net->noutputs; k++)
        output_index[net->outputs[k]->index] = k;
    p->buf[0] = BUF_INPUT;
    if (plan_reordered(net, net->input)) {
        p->buf[0] = p->nbufs++;
        p->first[0] = 0;
        p->last[0] = p->last_use[0];
        p->bytes[0] = ir_bytes(net->input->shape);
        p->output_of[0] = -1;
    }
    for (int i = 1; i < n; i++) {
        Layer *l = net->layers[i];
        if (p->fused && l->host->tail != l) {
            p->buf[i] = BUF_NONE;
            continue;
        }
        int b = shared_buffer(p, l);
        if (b < 0) {
            b = p->nbufs++;
            p->first[b] = step_of(p, l);
            p->bytes[b] = ir_bytes(l->shape);
            p->output_of[b] = -1;
        }
        int last = p->last_use[i];
        if (output_index[i] >= 0 && plan_reordered(net, l))
            last = n - 1; /* copied out in HWC order after the last step */
        else if (output_index[i] >= 0)
            p->output_of[b] = output_index[i];
        if (last > p->last[b])
            p->last[b] = last;
        p->buf[i] = b;
    }
    /* A buffer holding an output is the caller's output array. */
    for (int i = 1; i < n; i++)
        if (p->buf[i] >= 0 && p->output_of[p->buf[i]] >= 0)
            p->buf[i] = BUF_OUTPUT(p->output_of[p->buf[i]]);
}

bool plan_reordered(const Net *net, const Layer *l)
{
    return net->hwc && l->shape.c > 1 && l->shape.h * l->shape.w > 1;
}

/* The most arena bytes live at any one step: no placement can do better. */
static int64_t live_bound(const Planner *p)
{
    const Net *net = p->net;
    int64_t *delta = calloc((size_t)net->nlayers + 1, sizeof *delta);
    if (!delta)
        die("out of memory");
    for (int b = 0; b < p->nbufs; b++) {
        if (p->output_of[b] >= 0)
            continue;
        delta[p->first[b]] += p->bytes[b];
        delta[p->last[b] + 1] -= p->bytes[b];
    }
    int64_t live = 0, most = 0;
    for (int t = 0; t < net->nlayers; t++) {
        live += delta[t];
        if (live > most)
            most = live;
    }
    free(delta);
    return most;
}

/* A buffer waiting to be placed, with what orders it. */
typedef struct Placing {
    int64_t bytes;
    int first, id;
} Placing;

/* Largest first, then earliest: the classic greedy for offset packing. */
static int placing_order(const void *a, const void *b)
{
    const Placing *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return x->id - y->id;
}

/* The placed buffers live at one step. */
typedef struct Step {
    int *ids;
    int n, cap;
} Step;

static void step_push(Step *s, int id)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 4;
        s->ids = realloc(s->ids, (size_t)s->cap * sizeof *s->ids);
        if (!s->ids)
            die("out of memory");
    }
    s->ids[s->n++] = id;
}

/* A placed neighbour: where it starts and ends in the arena. */
typedef struct Span {
    int64_t lo, hi;
} Span;

static int span_order(const void *a, const void *b)
{
    const Span *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Steps and neighbours place_buffers may visit while searching for gaps.
 * With thousands of tensors live at once (a 100,000-wide add) the search
 * grows quadratic; past this, the remaining buffers are stacked above all
 * others, which is optimal when everything is live at once anyway. Real
 * models use a few thousand. */
enum { PLACE_BUDGET = 1 << 24 };

/* Places each buffer at the lowest offset free throughout its lifetime.
 * Only buffers live at the same steps are compared, so a long chain of
 * layers costs linear time, and PLACE_BUDGET bounds any other graph. */
static int64_t place_buffers(Planner *p)
{
    Net *net = p->net;
    int nb = p->nbufs;
    Placing *order = calloc((size_t)nb + 1, sizeof *order);
    Step *steps = calloc((size_t)net->nlayers, sizeof *steps);
    int *seen = calloc((size_t)nb + 1, sizeof *seen);
    Span *near = calloc((size_t)nb + 1, sizeof *near);
    if (!order || !steps || !seen || !near)
        die("out of memory");
    int n = 0;
    for (int b = 0; b < nb; b++)
        if (p->output_of[b] < 0)
            order[n++] = (Placing){p->bytes[b], p->first[b], b};
    qsort(order, (size_t)n, sizeof *order, placing_order);
    int64_t top = 0, work = 0;
    for (int i = 0; i < n; i++) {
        int b = order[i].id, nnear = 0;
        if (work > PLACE_BUDGET) {
            net->buf_offset[b] = top;
            top += p->bytes[b];
            continue;
        }
        work += 2 * ((int64_t)p->last[b] - p->first[b] + 1); /* this walk and the pushes */
        for (int t = p->first[b]; t <= p->last[b]; t++) {
            work += steps[t].n;
            for (int j = 0; j < steps[t].n; j++) {
                int o = steps[t].ids[j];
                if (seen[o] != i + 1) {
                    seen[o] = i + 1;
                    near[nnear++] = (Span){net->buf_offset[o], net->buf_offset[o] + p->bytes[o]};
                }
            }
        }
        qsort(near, (size_t)nnear, sizeof *near, span_order);
        int64_t at = 0;
        for (int j = 0; j < nnear && near[j].lo < at + p->bytes[b]; j++)
            if (near[j].hi > at)
                at = near[j].hi;
        net->buf_offset[b] = at;
        if (at + p->bytes[b] > top)
            top = at + p->bytes[b];
        for (int t = p->first[b]; t <= p->last[b]; t++)
            step_push(&steps[t], b);
    }
    for (int t = 0; t < net->nlayers; t++)
        free(steps[t].ids);
    free(steps);
    free(order);
    free(seen);
    free(near);
    return top;
}

void plan(Mem *m, Net *net)
{
    if (net->nlayers > 1 && !net->layers[1]->host)
        die("plan() needs fuse() first");
    Planner layerwise = {.mem = m, .net = net, .fused = false};
    assign_buffers(&layerwise);
    net->bound_bytes = live_bound(&layerwise);

    Planner p = {.mem = m, .net = net, .fused = true};
    for (int i = 1; i < net->nlayers; i++)
        net->layers[i]->residual_in_place = false;
    assign_buffers(&p);
    for (int i = 0; i < net->nlayers; i++)
        net->layers[i]->buf = p.buf[i];
    net->nbufs = p.nbufs;
    net->buf_bytes = p.bytes;
    net->buf_first = p.first;
    net->buf_last = p.last;
    net->buf_offset = mem_array(m, (size_t)p.nbufs + 1, sizeof *net->buf_offset);
    net->arena_bytes = place_buffers(&p);
}
