/* plan.c: where each tensor lives while the network runs. Tensors share
 * a buffer when an elementwise op overwrites its input in place; buffers
 * whose lifetimes do not overlap share arena bytes. The network's input
 * and outputs live in the caller's memory and cost the arena nothing. */
#include "cnnc.h"

#include <stdlib.h>
#include <string.h>

/* The state of one planning: the buffers and what lives when. */
typedef struct Planner {
    Mem *mem;
    Net *net;
    int *output_of; /* buffer -> output index, or -1 */
} Planner;

/* An op that may write over its input: single-input elementwise ops and
 * flatten, when nothing reads the input afterwards and the input is not
 * the caller's (the input is const, an output must survive). */
static bool in_place(const Layer *l)
{
    if (!((ir_ops[l->op].flags & OPF_ELEMENTWISE) || l->op == OP_FLATTEN))
        return false;
    const Layer *src = l->in[0];
    return src->buf >= 0 && !src->is_output && src->users[src->nusers - 1] == l;
}

static int output_index(const Net *net, const Layer *l)
{
    for (int k = 0; k < net->noutputs; k++)
        if (net->outputs[k] == l)
            return k;
    return -1;
}

/* Gives every tensor a buffer and every buffer its live steps. */
static void assign_buffers(Planner *p)
{
    Net *net = p->net;
    int n = net->nlayers;
    net->buf_bytes = mem_array(p->mem, (size_t)n, sizeof *net->buf_bytes);
    net->buf_first = mem_array(p->mem, (size_t)n, sizeof *net->buf_first);
    net->buf_last = mem_array(p->mem, (size_t)n, sizeof *net->buf_last);
    net->buf_offset = mem_array(p->mem, (size_t)n, sizeof *net->buf_offset);
    p->output_of = mem_array(p->mem, (size_t)n, sizeof *p->output_of);
    net->input->buf = BUF_INPUT;
    for (int i = 1; i < n; i++) {
        Layer *l = net->layers[i];
        int k = output_index(net, l);
        int b;
        if (in_place(l)) {
            b = l->in[0]->buf;
        } else {
            b = net->nbufs++;
            net->buf_first[b] = i;
            net->buf_bytes[b] = ir_bytes(l->shape);
            p->output_of[b] = -1;
        }
        if (k >= 0)
            p->output_of[b] = k;
        int last = l->nusers ? l->users[l->nusers - 1]->index : i;
        if (last > net->buf_last[b])
            net->buf_last[b] = last;
        l->buf = b;
    }
    /* A buffer holding an output is the caller's output array. */
    for (int i = 1; i < n; i++) {
        Layer *l = net->layers[i];
        if (l->buf >= 0 && p->output_of[l->buf] >= 0)
            l->buf = BUF_OUTPUT(p->output_of[l->buf]);
    }
}

/* The most arena bytes live at any one step: no placement can do better. */
static int64_t live_bound(const Planner *p)
{
    const Net *net = p->net;
    int64_t *delta = calloc((size_t)net->nlayers + 1, sizeof *delta);
    if (!delta)
        die("out of memory");
    for (int b = 0; b < net->nbufs; b++) {
        if (p->output_of[b] >= 0)
            continue;
        delta[net->buf_first[b]] += net->buf_bytes[b];
        delta[net->buf_last[b] + 1] -= net->buf_bytes[b];
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

/* Places each buffer at the lowest offset free throughout its lifetime.
 * Only buffers live at the same steps are compared, so a long chain of
 * layers costs linear time. */
static int64_t place_buffers(Planner *p)
{
    Net *net = p->net;
    int nb = net->nbufs;
    Placing *order = calloc((size_t)nb + 1, sizeof *order);
    Step *steps = calloc((size_t)net->nlayers, sizeof *steps);
    int *seen = calloc((size_t)nb + 1, sizeof *seen);
    Span *near = calloc((size_t)nb + 1, sizeof *near);
    if (!order || !steps || !seen || !near)
        die("out of memory");
    int n = 0;
    for (int b = 0; b < nb; b++)
        if (p->output_of[b] < 0)
            order[n++] = (Placing){net->buf_bytes[b], net->buf_first[b], b};
    qsort(order, (size_t)n, sizeof *order, placing_order);
    int64_t top = 0;
    for (int i = 0; i < n; i++) {
        int b = order[i].id, nnear = 0;
        for (int t = net->buf_first[b]; t <= net->buf_last[b]; t++)
            for (int j = 0; j < steps[t].n; j++) {
                int o = steps[t].ids[j];
                if (seen[o] != i + 1) {
                    seen[o] = i + 1;
                    near[nnear++] = (Span){net->buf_offset[o], net->buf_offset[o] + net->buf_bytes[o]};
                }
            }
        qsort(near, (size_t)nnear, sizeof *near, span_order);
        int64_t at = 0;
        for (int j = 0; j < nnear && near[j].lo < at + net->buf_bytes[b]; j++)
            if (near[j].hi > at)
                at = near[j].hi;
        net->buf_offset[b] = at;
        if (at + net->buf_bytes[b] > top)
            top = at + net->buf_bytes[b];
        for (int t = net->buf_first[b]; t <= net->buf_last[b]; t++)
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
    Planner p = {.mem = m, .net = net};
    assign_buffers(&p);
    net->bound_bytes = live_bound(&p);
    net->arena_bytes = place_buffers(&p);
}
