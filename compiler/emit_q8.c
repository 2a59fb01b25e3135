/* emit_q8.c: the int8 back end. It writes the float back end's API
 * (NAME_run and NAME_run_arena over float input and outputs) around int8
 * inference: the input is quantized at the edge, every layer runs one of
 * runtime/cnnc_q8.h's kernels on int8 tensors with the constants of
 * Layer.quant (compiler/quant.c), and the outputs are dequantized.
 *
 * The kernels are loops with constant bounds, one static function per
 * stored tensor, checked against the formulas at the top of cnnc_q8.h
 * (compiler/qref.c is the oracle). Folded batchnorms and fused relus cost
 * nothing (their layer's clamp); flatten and dropout rename their input's
 * buffer. Tensors share one arena of int8 buffers placed by liveness.
 *
 * Where the instructions go on a Cortex-M4 (qemu counts instructions, so
 * LDRD and SMLAD count one each): convs without groups run as blocks of
 * 4 positions x 2 output channels, 8 accumulators, over int16 pairs of
 * the window (a padded plane of channel pairs, or a gathered block) and
 * the weights expanded at run time to doubled int16 pairs: per pair of
 * taps one LDRD of weights, two LDRDs of window words and 8 SMLADs, 11
 * instructions for 16 MACs. Accumulating doubled values lets one SMMLAR
 * do both of TFLite's roundings (cnnc_q_requant2: 5 instructions per
 * output with the store). 3-wide depthwise convs share each loaded pair
 * between neighbouring outputs (SMLAD plus SMLABT/SMLATB, 2 instructions
 * per 3 MACs). On DSP cores, when optimizing, these inner blocks are
 * written as Thumb-2 assembly (CNNC_Q_KERNEL_ASM), portable C otherwise;
 * their scratch (planes, gathered blocks, expanded weights) lives in the
 * arena, placed in the gaps the step's tensors leave and sized to fit
 * them: planes in narrower bands, gathered-block convs reading their
 * int8 weights from flash (LDR and two SXTB16 per input pair) where
 * there is no room to expand them. Depthwise row kernels and pointwise
 * convs may write their output over their input (in place). */
#include "cnnc.h"

#include "../runtime/cnnc_q8.h" /* the add tables hold exactly what the runtime would compute */

#include <stdlib.h>
#include <string.h>

/* The state of one emission. */
typedef struct Q8 {
    Mem *mem;
    Diag *diag;
    Net *net;
    const EmitOptions *opt;
    const char *calibration;
    bool int8_io;       /* int8 input and outputs: the caller's buffers, no conversion */
    FILE *out;
    int indent;
    const char **cname; /* per layer: C-safe unique name */
    int64_t *offset;    /* per layer: arena offset of the tensor it stores, -1 when it stores none */
    int64_t *scratch;   /* per layer: arena offset of its kernel's scratch words, -1 when none */
    int *last;          /* per layer: the last step that reads its tensor */
    int *direct;        /* per layer: the output (of --int8-io) its kernel writes in place, or -1 */
    int64_t arena;      /* bytes */
    Q8Plan *plan;       /* the figures, counted as the code is written */
    int at;             /* the layer whose constants are being written */
    int64_t *band;      /* per layer: bytes a plane conv's padded plane may take (PG_BAND_BYTES, or less to fit) */
    bool *lean;         /* per layer: a gathered-block conv reads its weights from flash (no room to expand them) */
    int *partner;       /* per layer: the input whose bytes its kernel may overwrite as it goes, or -1 */
    bool *inplace;      /* per layer: its tensor was placed over its partner's */
} Q8;

/* Prints one line at the current indent; '{' at the end opens a block and
 * '}' at the start closes one, so callers never count tabs. */
PRINTF(2, 3) static void emit(Q8 *e, const char *fmt, ...)
{
    if (fmt[0] == '}')
        e->indent--;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *line = malloc((size_t)n + 1);
    if (!line)
        die("out of memory");
    va_start(ap, fmt);
    vsnprintf(line, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (n > 0)
        fprintf(e->out, "%*s%s\n", 4 * e->indent, "", line);
    else
        fputc('\n', e->out);
    if (n > 0 && line[n - 1] == '{')
        e->indent++;
    free(line);
}

/* A float literal that reads back to exactly the same float: the scales
 * must be the ones the reference used, bit for bit. */
static const char *flit(Q8 *e, float v)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%.9g", (double)v);
    if (!strpbrk(buf, ".e"))
        strcat(buf, ".0");
    return mem_printf(e->mem, "%sf", buf);
}

/* Values in a tensor, which is also its int8 bytes. */
static int64_t numel(Shape s)
{
    return s.c * s.h * s.w;
}

/* ---- tensors and the arena ---- */

/* The layer whose buffer holds l's tensor: fused layers live in their
 * host's, flatten and dropout in their input's. */
static const Layer *owner(const Layer *l)
{
    for (;;) {
        if (l->quant->kind == QK_FUSED)
            l = l->quant->fused_into;
        else if (l->quant->kind == QK_IDENTITY)
            l = l->in[0];
        else
            return l;
    }
}

/* A plane conv's padded plane holds bands of output rows within this
 * many bytes at most (its weights are expanded again per band); less
 * where the arena has no room for that much. */
#define PG_BAND_BYTES 20480

/* A placed buffer, for first-fit placement. */
typedef struct Slot {
    int64_t at, size;
} Slot;

/* By offset, so the first gap that fits can be found in one pass. */
static int slot_order(const void *a, const void *b)
{
    const Slot *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

static bool plane_conv(Q8 *e, const Layer *l);
static bool dw3_conv(Q8 *e, const Layer *l);
static int64_t plane_words(const Layer *l, int64_t band, bool lean);
static int64_t dw3_words(const Layer *l);
static bool plane_banded(const Layer *l);
static bool plane_blocks_disjoint(const Layer *l);
static void emit_plane_constants(Q8 *e, const Layer *l);

/* The scratch bytes of layer i's kernel with its plane's band limit. */
static int64_t scratch_bytes(Q8 *e, int i)
{
    const Layer *l = e->net->layers[i];
    return 4 * (plane_conv(e, l) ? plane_words(l, e->band[i], e->lean[i]) : dw3_words(l));
}

/* The lowest word-aligned place of size bytes free of every tensor alive
 * during step i (its inputs and its output). */
static int64_t lowest_gap(Q8 *e, Slot *busy, int i, int64_t size)
{
    Net *net = e->net;
    int nbusy = 0;
    for (int j = 0; j <= i; j++)
        if (e->offset[j] >= 0 && e->last[j] >= i)
            busy[nbusy++] = (Slot){e->offset[j], numel(net->layers[j]->shape)};
    qsort(busy, (size_t)nbusy, sizeof *busy, slot_order);
    int64_t at = 0;
    for (int j = 0; j < nbusy; j++) {
        if (busy[j].at >= at + size)
            break;
        if (busy[j].at + busy[j].size > at)
            at = (busy[j].at + busy[j].size + 3) / 4 * 4;
    }
    return at;
}

/* Scratch of the plane convs: the lowest gap free during the step. A
 * banded plane takes the most rows that fit below the arena the tensors
 * need (halving its band, down to one row of outputs), and a gathered
 * block its padded copy of the input only where that fits (border
 * windows check their taps instead), so that scratch costs RAM only
 * where nothing smaller will do. */
static void place_scratch(Q8 *e, Slot *busy)
{
    Net *net = e->net;
    int n = net->nlayers;
    e->scratch = mem_array(e->mem, (size_t)n, sizeof *e->scratch);
    for (int i = 0; i < n; i++)
        e->band[i] = PG_BAND_BYTES, e->lean[i] = false;
    for (int i = 0; i < n; i++) {
        const Layer *l = net->layers[i];
        e->scratch[i] = -1;
        if (owner(l) != l || i == 0 || (!plane_conv(e, l) && !dw3_conv(e, l)))
            continue;
        if (plane_conv(e, l) && plane_banded(l))
            for (; e->band[i] > 64; e->band[i] /= 2) {
                int64_t size = scratch_bytes(e, i);
                if (lowest_gap(e, busy, i, size) + size <= e->arena)
                    break;
            }
        else if (plane_conv(e, l)) /* a gathered block: expanded weights, then the padded copy, where they fit */
            for (int k = 0; k < 2; k++) {
                int64_t size = scratch_bytes(e, i);
                if (lowest_gap(e, busy, i, size) + size <= e->arena)
                    break;
                if (k == 0)
                    e->lean[i] = true;
                else
                    e->band[i] = 0;
            }
        int64_t size = scratch_bytes(e, i), at = lowest_gap(e, busy, i, size);
        e->scratch[i] = at;
        e->arena = at + size > e->arena ? at + size : e->arena;
    }
}

/* Whether the caller's side of tensor l is HWC and differs from CHW. Until
 * the kernels index HWC themselves, such an input is copied into the arena
 * in CHW order and such an output written back in HWC order. */
static bool hwc_spatial(const Q8 *e, const Layer *l)
{
    return e->net->hwc && l->shape.c > 1 && l->shape.h * l->shape.w > 1;
}

/* The plan's arena figures: each layer's tensor and scratch, and the
 * most tensor bytes live at one step. */
static void plan_figures(Q8 *e)
{
    Net *net = e->net;
    int n = net->nlayers;
    Q8Plan *p = e->plan;
    p->arena = e->arena;
    p->bound = 0;
    for (int i = 0; i < n; i++) {
        const Layer *l = net->layers[i];
        p->at[i] = e->offset[i];
        p->tensor[i] = e->offset[i] >= 0 ? numel(l->shape) : 0;
        p->scratch[i] = 0;
        if (e->scratch[i] >= 0)
            p->scratch[i] = scratch_bytes(e, i);
        int64_t live = 0;
        for (int j = 0; j <= i; j++)
            if (e->offset[j] >= 0 && e->last[j] >= i)
                live += numel(net->layers[j]->shape);
        if (e->inplace[i]) { /* its input's bytes become its own */
            int64_t a = numel(l->shape), b = numel(net->layers[e->partner[i]]->shape);
            live -= a < b ? a : b;
        }
        p->bound = live > p->bound ? live : p->bound;
    }
}

/* With --int8-io, the layers whose kernel writes an output straight into
 * the caller's buffer (CHW outputs; one output per stored tensor; not the
 * input itself): no arena bytes and no copy. */
static void mark_direct(Q8 *e)
{
    Net *net = e->net;
    e->direct = mem_array(e->mem, (size_t)net->nlayers, sizeof *e->direct);
    for (int i = 0; i < net->nlayers; i++)
        e->direct[i] = -1;
    if (!e->int8_io)
        return;
    for (int k = 0; k < net->noutputs; k++) {
        int o = owner(net->outputs[k])->index;
        if (o > 0 && e->direct[o] < 0 && !hwc_spatial(e, net->outputs[k]))
            e->direct[o] = k;
    }
}

/* Whether the tensors layers i and j store are alive at one step. */
static bool overlap(const Q8 *e, int i, int j)
{
    return i <= e->last[j] && j <= e->last[i];
}

/* Layer indices by stored tensor size, largest first (ties in schedule
 * order): an insertion sort, the nets are small. */
static void order_by_size(Q8 *e, int *order, int n)
{
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i;
        int64_t sv = numel(e->net->layers[v]->shape);
        while (j > 0 && numel(e->net->layers[order[j - 1]]->shape) < sv)
            order[j] = order[j - 1], j--;
        order[j] = v;
    }
}

/* Whether conv l's kernel may write its output over its input: a
 * depthwise row kernel copies each channel into its padded plane before
 * writing that channel (and no later channel's input lies below), a
 * pointwise conv (1x1, stride 1, no padding) gathers a block of positions
 * for every channel before writing those positions, its blocks disjoint
 * (or the overlapping last one run first, writing only its new
 * positions). */
static bool may_overwrite_input(Q8 *e, const Layer *l)
{
    Shape in = l->in[0]->shape, o = l->shape;
    if (l->quant->kind != QK_CONV || owner(l) != l)
        return false;
    if (plane_conv(e, l))
        return l->kernel[0] == 1 && l->kernel[1] == 1 && l->stride[0] == 1 && l->stride[1] == 1 && l->pad[0] == 0 &&
               l->pad[1] == 0 && l->pad[2] == 0 && l->pad[3] == 0 && o.h == in.h && o.w == in.w &&
               plane_blocks_disjoint(l);
    return dw3_conv(e, l) && o.c == in.c && o.h * o.w <= in.h * in.w;
}

/* The partners: each layer whose kernel may overwrite its input, with the
 * input's tensor (in the arena, read by nothing after this step). */
static void find_partners(Q8 *e)
{
    Net *net = e->net;
    int n = net->nlayers;
    e->partner = mem_array(e->mem, (size_t)n, sizeof *e->partner);
    e->inplace = mem_array(e->mem, (size_t)n, sizeof *e->inplace);
    for (int i = 0; i < n; i++) {
        const Layer *l = net->layers[i];
        e->partner[i] = -1;
        if (i == 0 || owner(l) != l || l->nin != 1 || e->direct[i] >= 0 || !may_overwrite_input(e, l))
            continue;
        int j = owner(l->in[0])->index;
        if ((j == 0 && e->int8_io && !hwc_spatial(e, net->layers[0])) || e->direct[j] >= 0 || e->last[j] != i)
            continue;
        e->partner[i] = j;
    }
}

/* Whether tensor i fits at `at` beside every placed tensor alive with it
 * but its partner (whose bytes it may take over). */
static bool fits_at(Q8 *e, int i, int partner, int64_t at)
{
    int64_t size = numel(e->net->layers[i]->shape);
    for (int j = 0; j < e->net->nlayers; j++)
        if (j != i && j != partner && e->offset[j] >= 0 && overlap(e, i, j) &&
            e->offset[j] < at + size && at < e->offset[j] + numel(e->net->layers[j]->shape))
            return false;
    return true;
}

/* Tensors in the given order, each at the lowest place free of every
 * placed tensor whose life overlaps its own (over its partner's, in
 * place, where that fits); e->arena their extent. */
static void place_tensors(Q8 *e, const int *order, Slot *busy)
{
    Net *net = e->net;
    int n = net->nlayers;
    e->arena = 0;
    for (int i = 0; i < n; i++)
        e->offset[i] = -1, e->inplace[i] = false;
    for (int k = 0; k < n; k++) {
        int i = order[k];
        const Layer *l = net->layers[i];
        if (owner(l) != l || (i == 0 && e->int8_io && !hwc_spatial(e, l)) || e->direct[i] >= 0)
            continue; /* int8 input is read where the caller keeps it, int8 outputs written there */
        /* over a partner placed already: i's input, or a layer whose input i is */
        int mate = -1;
        for (int j = -1; j < n && mate < 0; j++) {
            int m = j < 0 ? e->partner[i] : e->partner[j] == i ? j : -1;
            if (m >= 0 && e->offset[m] >= 0 && fits_at(e, i, m, e->offset[m]))
                mate = m;
        }
        if (mate >= 0) {
            e->offset[i] = e->offset[mate];
            e->inplace[e->partner[i] == mate ? i : mate] = true;
            int64_t end = e->offset[i] + numel(l->shape);
            e->arena = end > e->arena ? end : e->arena;
            continue;
        }
        int nbusy = 0;
        for (int j = 0; j < n; j++)
            if (e->offset[j] >= 0 && overlap(e, i, j))
                busy[nbusy++] = (Slot){e->offset[j], numel(net->layers[j]->shape)};
        qsort(busy, (size_t)nbusy, sizeof *busy, slot_order);
        int64_t at = 0, size = numel(l->shape);
        for (int j = 0; j < nbusy; j++) {
            if (busy[j].at >= at + size)
                break;
            if (busy[j].at + busy[j].size > at)
                at = busy[j].at + busy[j].size;
        }
        e->offset[i] = at;
        e->arena = at + size > e->arena ? at + size : e->arena;
    }
}

/* Offsets by liveness: a tensor lives from the step that writes it to the
 * last step that reads it (the end for outputs), and takes the lowest
 * place free of every tensor whose life overlaps its own, placed in
 * schedule order and again largest first (as TFLM's greedy planner),
 * the kernels' scratch then in the gaps; the smaller arena is kept.
 * Reader and writer of one step share bytes only where the kernel allows
 * it (may_overwrite_input: depthwise and pointwise convs in place);
 * otherwise kernels need not care about aliasing. */
static void place(Q8 *e)
{
    Net *net = e->net;
    int n = net->nlayers;
    int *last = mem_array(e->mem, (size_t)n, sizeof *last);
    e->offset = mem_array(e->mem, (size_t)n, sizeof *e->offset);
    for (int i = 0; i < n; i++)
        last[i] = i;
    for (int i = 0; i < n; i++) {
        const Layer *l = net->layers[i];
        if (owner(l) != l)
            continue;
        for (int k = 0; k < l->nin; k++) {
            int o = owner(l->in[k])->index;
            last[o] = last[o] > i ? last[o] : i;
        }
    }
    for (int k = 0; k < net->noutputs; k++)
        last[owner(net->outputs[k])->index] = n;
    mark_direct(e);
    e->last = last;
    find_partners(e);
    e->band = mem_array(e->mem, (size_t)n, sizeof *e->band);
    e->lean = mem_array(e->mem, (size_t)n, sizeof *e->lean);
    Slot *busy = mem_array(e->mem, (size_t)n, sizeof *busy);
    int *order = mem_array(e->mem, (size_t)n, sizeof *order);
    /* in schedule order, then largest first, with and without in place: the smallest arena wins */
    int64_t best = -1, *offset = NULL, *scratch = NULL, *band = NULL;
    bool *lean = NULL, *inplace = NULL;
    int *partner = e->partner, *none = mem_array(e->mem, (size_t)n, sizeof *none);
    for (int i = 0; i < n; i++)
        none[i] = -1;
    for (int pass = 0; pass < 4; pass++) {
        for (int i = 0; i < n; i++)
            order[i] = i;
        if (pass % 2 == 1)
            order_by_size(e, order, n);
        e->partner = pass < 2 ? partner : none; /* in place can pin a tensor where another order does better */
        e->offset = mem_array(e->mem, (size_t)n, sizeof *e->offset);
        place_tensors(e, order, busy);
        place_scratch(e, busy);
        if (best < 0 || e->arena < best) {
            best = e->arena;
            offset = e->offset, scratch = e->scratch, band = mem_array(e->mem, (size_t)n, sizeof *band);
            memcpy(band, e->band, (size_t)n * sizeof *band);
            lean = mem_array(e->mem, (size_t)n, sizeof *lean);
            memcpy(lean, e->lean, (size_t)n * sizeof *lean);
            inplace = mem_array(e->mem, (size_t)n, sizeof *inplace);
            memcpy(inplace, e->inplace, (size_t)n * sizeof *inplace);
        }
    }
    e->arena = best, e->offset = offset, e->scratch = scratch, e->band = band, e->lean = lean, e->inplace = inplace;
    e->partner = partner;
    plan_figures(e);
}

/* Where tensor l lives while the network runs. */
static const char *output_name(Q8 *e, int k);

static const char *where(Q8 *e, const Layer *l)
{
    if (e->direct[owner(l)->index] >= 0)
        return output_name(e, e->direct[owner(l)->index]);
    if (e->offset[owner(l)->index] < 0)
        return "input";
    return mem_printf(e->mem, "a + %lld", (long long)e->offset[owner(l)->index]);
}

/* ---- names and constants ---- */

/* Layer names made C-safe, with the layer's index appended so that
 * 'features.0' and 'features_0' stay apart. */
static void make_names(Q8 *e)
{
    Net *net = e->net;
    e->cname = mem_array(e->mem, (size_t)net->nlayers, sizeof *e->cname);
    for (int i = 0; i < net->nlayers; i++) {
        char buf[64];
        size_t n = 0;
        for (const char *s = net->layers[i]->name; *s && n + 1 < sizeof buf; s++)
            buf[n++] = (char)((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ? *s
                                                                                                           : '_');
        buf[n] = '\0';
        e->cname[i] = mem_printf(e->mem, "%s_%d", buf, i);
    }
}

/* Counts a table's flash bytes under its kind, read off the name's
 * prefix (w_ weights; b_, bq_, bz_ biases; lut_, exp_, tN_ tables; k_
 * per channel {bias, multiplier, rounding, shift}: a quarter biases; the
 * rest multipliers and shifts). */
static void count_table(Q8 *e, const char *type, const char *name, int64_t n)
{
    int64_t bytes = n * (strcmp(type, "int8_t") == 0 ? 1 : 4);
    Q8Plan *p = e->plan;
    if (strncmp(name, "w_", 2) == 0)
        p->weights += bytes;
    else if (name[0] == 'b' && (name[1] == '_' || ((name[1] == 'q' || name[1] == 'z') && name[2] == '_')))
        p->biases += bytes;
    else if (strncmp(name, "k_", 2) == 0) {
        p->biases += bytes / 4;
        p->multipliers += bytes - bytes / 4;
    } else if (strncmp(name, "lut_", 4) == 0 || strncmp(name, "exp_", 4) == 0 ||
             (name[0] == 't' && name[1] >= '0' && name[1] <= '9'))
        p->tables += bytes;
    else
        p->multipliers += bytes;
    p->constants[e->at] += bytes;
}

/* A table of integers, sixteen to a line. */
static void emit_ints(Q8 *e, const char *type, const char *name, const int64_t *v, int64_t n)
{
    count_table(e, type, name, n);
    emit(e, "static const %s %s[%lld] = {", type, name, (long long)n);
    char line[512];
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        o += (size_t)snprintf(line + o, sizeof line - o, "%lld%s%s", (long long)v[i], type[0] == 'u' ? "u" : "",
                              i + 1 < n ? "," : "");
        if ((i + 1) % 16 == 0 || i + 1 == n) {
            emit(e, "%s", line);
            o = 0;
        } else
            o += (size_t)snprintf(line + o, sizeof line - o, " ");
    }
    emit(e, "};");
}

/* Weights and lookup tables: one byte each in flash. */
static void emit_i8(Q8 *e, const char *name, const int8_t *v, int64_t n)
{
    int64_t *w = mem_array(e->mem, (size_t)n, sizeof *w);
    for (int64_t i = 0; i < n; i++)
        w[i] = v[i];
    emit_ints(e, "int8_t", name, w, n);
}

/* Biases, multipliers and shifts. */
static void emit_i32(Q8 *e, const char *name, const int32_t *v, int64_t n)
{
    int64_t *w = mem_array(e->mem, (size_t)n, sizeof *w);
    for (int64_t i = 0; i < n; i++)
        w[i] = v[i];
    emit_ints(e, "int32_t", name, w, n);
}

/* The input's zero point of layer l's k-th input. */
static int32_t in_zp(const Layer *l, int k)
{
    return l->in[k]->quant->out.zero_point;
}

/* Output coordinates [*lo, *hi) along axis a whose whole window lies
 * inside the input: there, no tap needs a bounds check. */
static void interior(const Layer *l, int a, int64_t *lo, int64_t *hi)
{
    int64_t n = a ? l->in[0]->shape.w : l->in[0]->shape.h, out = a ? l->shape.w : l->shape.h;
    int64_t pad = l->pad[2 * a], span = (l->kernel[a] - 1) * l->dilation[a];
    *lo = *hi = 0;
    for (int64_t o = 0; o < out; o++)
        if (o * l->stride[a] - pad >= 0 && o * l->stride[a] - pad + span < n) {
            if (*hi == 0)
                *lo = o;
            *hi = o + 1;
        }
}

/* Whether a conv has outputs with every tap inside, and how many of its
 * outputs do not. */
static bool has_interior(const Layer *l, bool *all)
{
    int64_t ylo, yhi, xlo, xhi;
    interior(l, 0, &ylo, &yhi);
    interior(l, 1, &xlo, &xhi);
    *all = ylo == 0 && yhi == l->shape.h && xlo == 0 && xhi == l->shape.w;
    return yhi > ylo && xhi > xlo;
}

/* bias[c] - zx * wsum[c]: where every tap is inside, the input zero
 * point folds into the bias. false when some channel's would not fit
 * int32 (the interior then subtracts zx per tap, as the border does). */
static bool folded_bias(const Layer *l, int64_t *v)
{
    const QuantInfo *qi = l->quant;
    for (int64_t c = 0; c < qi->nchan; c++) {
        v[c] = (int64_t)qi->bias[c] - (int64_t)in_zp(l, 0) * qi->wsum[c];
        if (v[c] < -INT32_MAX || v[c] > INT32_MAX)
            return false;
    }
    return true;
}

static bool dw_conv(const Layer *l);
static bool dw3_conv(Q8 *e, const Layer *l);
static void emit_dw3_constants(Q8 *e, const Layer *l);
static void emit_add_constants(Q8 *e, const Layer *l);
static bool linear4(const Layer *l);

/* Whether every channel's shift is a right shift (multipliers below one,
 * the usual case): the kernels then call the requantization without the
 * left-shift branch, with a table of right shifts. */
static bool right_shifts(const Layer *l)
{
    for (int64_t c = 0; c < l->quant->nchan; c++)
        if (l->quant->shift[c] > 0)
            return false;
    return true;
}

/* The per-channel shift table: s_ as QuantInfo has it, or r_ = -shift
 * when every shift is to the right. */
static void emit_shifts(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    const char *c = e->cname[l->index];
    if (!right_shifts(l)) {
        emit_i32(e, mem_printf(e->mem, "s_%s", c), qi->shift, qi->nchan);
        return;
    }
    int64_t *r = mem_array(e->mem, (size_t)qi->nchan, sizeof *r);
    for (int64_t k = 0; k < qi->nchan; k++)
        r[k] = -(int64_t)qi->shift[k];
    emit_ints(e, "int32_t", mem_printf(e->mem, "r_%s", c), r, qi->nchan);
}

/* ---- convs as dual-MAC matrix products ---- */

/* Output channels per block of the packed kernel: each loaded pair of
 * window values is reused across them. */
#define GEMM_OCB 2

/* Convs without groups run as products of packed int16 pairs (SMLAD on
 * DSP cores): the window of two output positions is gathered once, then
 * reused across every output channel. */
static bool gemm_conv(const Layer *l)
{
    return l->quant->kind == QK_CONV && l->groups == 1;
}

/* Taps of one window (the reduction length), and that rounded up to pairs. */
static int64_t gemm_k(const Layer *l)
{
    return l->in[0]->shape.c * l->kernel[0] * l->kernel[1];
}

/* Whether the gathered window holds raw x (the input zero point then in
 * the bias, padded taps holding zx) rather than x - zx. */
static bool gemm_folded(Q8 *e, const Layer *l)
{
    return folded_bias(l, mem_array(e->mem, (size_t)l->quant->nchan, sizeof(int64_t)));
}

/* Weights as int16 pairs along the window, blocked GEMM_OCB channels at a
 * time ([block][pair][channel], zero-padded), so that the kernel walks
 * them with one pointer; the bias padded alike. */
static void emit_gemm_constants(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    const char *c = e->cname[l->index];
    int64_t k = gemm_k(l), k2 = (k + 1) / 2, cout = qi->nchan, coutp = (cout + GEMM_OCB - 1) / GEMM_OCB * GEMM_OCB;
    int64_t *wq = mem_array(e->mem, (size_t)(coutp * 2 * k2), sizeof *wq);
    for (int64_t oc = 0; oc < coutp; oc++)
        for (int64_t j = 0; j < k2; j++) {
            int64_t at = (((oc / GEMM_OCB) * k2 + j) * (GEMM_OCB / 2) + oc % GEMM_OCB / 2) * 4 + oc % 2;
            wq[at] = oc < cout ? qi->weight[oc * k + 2 * j] : 0;
            wq[at + 2] = oc < cout && 2 * j + 1 < k ? qi->weight[oc * k + 2 * j + 1] : 0;
        }
    emit(e, "/* %s: int8 weights, bytes (c, c+1, c, c+1) of two taps so that SXTB16 splits them into pairs; "
            "%d channels per block; per-channel scales in the multipliers */",
         cw_comment_safe(e->mem, l->name), GEMM_OCB);
    emit_ints(e, "int8_t", mem_printf(e->mem, "w_%s", c), wq, coutp * 2 * k2);
    int64_t *bq = mem_array(e->mem, (size_t)coutp, sizeof *bq);
    bool folded = gemm_folded(e, l);
    for (int64_t oc = 0; oc < coutp; oc++)
        bq[oc] = oc >= cout ? 0 : folded ? (int64_t)qi->bias[oc] - (int64_t)in_zp(l, 0) * qi->wsum[oc] : qi->bias[oc];
    emit_ints(e, "int32_t", mem_printf(e->mem, "bq_%s", c), bq, coutp);
    emit_i32(e, mem_printf(e->mem, "m_%s", c), qi->mult, qi->nchan);
    emit_shifts(e, l);
}

/* Each kernel's tables: int8 weights (1 byte each), int32 biases and the
 * per-channel multipliers and shifts; lookup tables for the others. */
static void emit_constants(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    const char *c = e->cname[l->index];
    if (qi->kind == QK_CONV || qi->kind == QK_LINEAR || qi->kind == QK_AFFINE) {
        int64_t nw = qi->kind == QK_AFFINE ? qi->nchan
                     : qi->kind == QK_LINEAR ? qi->nchan * l->in[0]->shape.c
                                             : weights_numel(l, 0);
        if (plane_conv(e, l)) {
            emit_plane_constants(e, l);
            return;
        }
        if (dw3_conv(e, l) || linear4(l)) {
            emit_dw3_constants(e, l);
            return;
        }
        if (gemm_conv(l)) {
            emit_gemm_constants(e, l);
            return;
        }
        emit(e, "/* %s: int8 weights, per-channel scales folded into the multipliers */",
             cw_comment_safe(e->mem, l->name));
        emit_i8(e, mem_printf(e->mem, "w_%s", c), qi->weight, nw);
        /* a conv whose every output is interior needs only the folded bias */
        bool all = false;
        int64_t *bz = mem_array(e->mem, (size_t)qi->nchan, sizeof *bz);
        bool folded = qi->kind == QK_CONV && has_interior(l, &all) && folded_bias(l, bz);
        if (!(folded && (all || dw_conv(l)))) /* the depthwise fast path pads with zx: bz only */
            emit_i32(e, mem_printf(e->mem, "b_%s", c), qi->bias, qi->nchan);
        if (folded)
            emit_ints(e, "int32_t", mem_printf(e->mem, "bz_%s", c), bz, qi->nchan);
        emit_i32(e, mem_printf(e->mem, "m_%s", c), qi->mult, qi->nchan);
        emit_shifts(e, l);
    } else if (qi->kind == QK_ADD && l->nin <= 4) {
        emit_add_constants(e, l);
    } else if (qi->kind == QK_LUT) {
        emit(e, "/* %s: y = lut[x + 128] */", cw_comment_safe(e->mem, l->name));
        emit_i8(e, mem_printf(e->mem, "lut_%s", c), qi->lut, 256);
    } else if (qi->kind == QK_SOFTMAX) {
        emit(e, "/* %s: TFLM's exp of the rescaled max - x, in Q0.31 */", cw_comment_safe(e->mem, l->name));
        emit_i32(e, mem_printf(e->mem, "exp_%s", c), qi->exp_lut, 256);
    }
}

/* ---- kernels ---- */

/* " - zp" as it reads best: " - 5", " + 128", nothing for 0. */
static const char *minus(Q8 *e, int32_t zp)
{
    if (zp == 0)
        return "";
    return zp < 0 ? mem_printf(e->mem, " + %d", (int)-zp) : mem_printf(e->mem, " - %d", (int)zp);
}

/* The statement bringing coordinate v inside [0, n) as the padding mode
 * says, or skipping the tap for zeros (a padded zero adds nothing). */
static void emit_fold(Q8 *e, PadMode mode, const char *v, int64_t n)
{
    long long ln = (long long)n;
    switch (mode) {
    case PM_ZEROS: emit(e, "if (%s < 0 || %s >= %lld) continue;", v, v, ln); return;
    case PM_REFLECT:
        emit(e, "%s = %s < 0 ? -%s : %s >= %lld ? %lld - %s : %s;", v, v, v, v, ln, 2 * ln - 2, v, v);
        return;
    case PM_REPLICATE: emit(e, "%s = %s < 0 ? 0 : %s >= %lld ? %lld : %s;", v, v, v, ln, ln - 1, v); return;
    case PM_CIRCULAR:
        emit(e, "%s = %s < 0 ? %s + %lld : %s >= %lld ? %s - %lld : %s;", v, v, v, ln, v, ln, v, ln, v);
        return;
    }
}

/* The requantizing store of a kernel with per-channel constants. */
static const char *channel_out(Q8 *e, const Layer *l, const char *acc, const char *ch)
{
    const QuantInfo *qi = l->quant;
    const char *c = e->cname[l->index];
    bool r = right_shifts(l);
    return mem_printf(e->mem, "cnnc_q_output%s(%s, m_%s[%s], %s_%s[%s], %d, %d, %d)", r ? "_rs" : "", acc, c, ch,
                      r ? "r" : "s", c, ch, (int)qi->out.zero_point, (int)qi->act_min, (int)qi->act_max);
}

/* The interior's sum: no checks, the input zero point in the bias. */
static void conv_interior(Q8 *e, const Layer *l, bool folded)
{
    Shape in = l->in[0]->shape;
    const char *c = e->cname[l->index];
    long long cin = in.c / l->groups, kh = l->kernel[0], kw = l->kernel[1];
    emit(e, "const int8_t *xp = xg + (oy * %lld - %lld) * %lld + (ox * %lld - %lld);", (long long)l->stride[0],
         (long long)l->pad[0], (long long)in.w, (long long)l->stride[1], (long long)l->pad[2]);
    emit(e, "acc = %s_%s[oc];", folded ? "bz" : "b", c);
    emit(e, "for (ic = 0; ic < %lld; ic++)", cin);
    emit(e, "    for (ky = 0; ky < %lld; ky++)", kh);
    emit(e, "        for (kx = 0; kx < %lld; kx++)", kw);
    emit(e,
         "            acc += (int32_t)wc[(ic * %lld + ky) * %lld + kx] * "
         "((int32_t)xp[(ic * %lld + ky * %lld) * %lld + kx * %lld]%s);",
         kh, kw, (long long)in.h, (long long)l->dilation[0], (long long)in.w, (long long)l->dilation[1],
         folded ? "" : minus(e, in_zp(l, 0)));
}

/* The border's sum: each tap checked (zeros) or folded inside (the other modes). */
static void conv_border(Q8 *e, const Layer *l)
{
    Shape in = l->in[0]->shape;
    const char *c = e->cname[l->index];
    long long cin = in.c / l->groups, kh = l->kernel[0], kw = l->kernel[1];
    emit(e, "acc = b_%s[oc];", c);
    emit(e, "for (ic = 0; ic < %lld; ic++) {", cin);
    emit(e, "for (ky = 0; ky < %lld; ky++) {", kh);
    emit(e, "iy = oy * %lld - %lld + ky * %lld;", (long long)l->stride[0], (long long)l->pad[0],
         (long long)l->dilation[0]);
    emit_fold(e, l->pad_mode, "iy", in.h);
    emit(e, "for (kx = 0; kx < %lld; kx++) {", kw);
    emit(e, "ix = ox * %lld - %lld + kx * %lld;", (long long)l->stride[1], (long long)l->pad[2],
         (long long)l->dilation[1]);
    emit_fold(e, l->pad_mode, "ix", in.w);
    emit(e, "acc += (int32_t)wc[(ic * %lld + ky) * %lld + kx] * ((int32_t)xg[(ic * %lld + iy) * %lld + ix]%s);", kh,
         kw, (long long)in.h, (long long)in.w, minus(e, in_zp(l, 0)));
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
}

/* The gather of one output position's window into col, tap order
 * [ic][ky][kx] as the weights: x (folded) or x - zx, padded taps zx or 0,
 * the other padding modes reading the folded cell. Interior windows copy
 * without checks. */
static void emit_gather(Q8 *e, const Layer *l)
{
    Shape in = l->in[0]->shape;
    const char *c = e->cname[l->index];
    long long cin = in.c, kh = l->kernel[0], kw = l->kernel[1], H = in.h, W = in.w;
    long long sy = l->stride[0], sx = l->stride[1], dy = l->dilation[0], dx = l->dilation[1];
    long long pt = l->pad[0], pl = l->pad[2];
    bool folded = gemm_folded(e, l), all, inner = has_interior(l, &all);
    int32_t zx = in_zp(l, 0);
    const char *sub = folded ? "" : minus(e, zx);
    int64_t ylo, yhi, xlo, xhi;
    interior(l, 0, &ylo, &yhi);
    interior(l, 1, &xlo, &xhi);
    emit(e, "/* %s: one window, gathered as int16 */", cw_comment_safe(e->mem, l->name));
    emit(e, "static void gather_%s(const int8_t *x, int oy, int ox, int16_t *col)", c);
    emit(e, "{");
    emit(e, "int ic, ky, kx%s;", all ? "" : ", iy, ix");
    if (inner) {
        if (!all)
            emit(e, "if (oy >= %lld && oy < %lld && ox >= %lld && ox < %lld) {", (long long)ylo, (long long)yhi,
                 (long long)xlo, (long long)xhi);
        emit(e, "const int8_t *xp = x + (oy * %lld - %lld) * %lld + (ox * %lld - %lld);", sy, pt, W, sx, pl);
        emit(e, "for (ic = 0; ic < %lld; ic++)", cin);
        emit(e, "    for (ky = 0; ky < %lld; ky++)", kh);
        emit(e, "        for (kx = 0; kx < %lld; kx++)", kw);
        emit(e, "            col[(ic * %lld + ky) * %lld + kx] = (int16_t)((int32_t)xp[(ic * %lld + ky * %lld) * %lld + kx * %lld]%s);",
             kh, kw, H, dy, W, dx, sub);
        if (all) {
            emit(e, "(void)oy;");
            emit(e, "(void)ox;");
        }
        if (!all) {
            emit(e, "return;");
            emit(e, "}");
        }
    }
    if (!all) {
        emit(e, "for (ic = 0; ic < %lld; ic++) {", cin);
        emit(e, "for (ky = 0; ky < %lld; ky++) {", kh);
        emit(e, "iy = oy * %lld - %lld + ky * %lld;", sy, pt, dy);
        emit(e, "for (kx = 0; kx < %lld; kx++) {", kw);
        emit(e, "ix = ox * %lld - %lld + kx * %lld;", sx, pl, dx);
        const char *dst = mem_printf(e->mem, "col[(ic * %lld + ky) * %lld + kx]", kh, kw);
        const char *src = mem_printf(e->mem, "(int16_t)((int32_t)x[(ic * %lld + iy) * %lld + ix]%s)", H, W, sub);
        if (l->pad_mode == PM_ZEROS) {
            emit(e, "%s = iy < 0 || iy >= %lld || ix < 0 || ix >= %lld ? %d : %s;", dst, H, W, folded ? (int)zx : 0,
                 src);
        } else {
            emit_fold(e, l->pad_mode, "iy", in.h);
            emit_fold(e, l->pad_mode, "ix", in.w);
            emit(e, "%s = %s;", dst, src);
        }
        emit(e, "}");
        emit(e, "}");
        emit(e, "}");
    }
    emit(e, "}");
    emit(e, "%s", "");
}

/* Inner-loop unrolling of the packed product: the largest of 8, 4, 2, 1
 * dividing the pairs. */
static int64_t gemm_unroll(int64_t k2)
{
    for (int64_t u = 8; u > 1; u /= 2)
        if (k2 % u == 0)
            return u;
    return 1;
}

/* Conv without groups: per pair of output positions, both windows
 * gathered as int16, then GEMM_OCB channels at a time each loaded pair of
 * window values meets one weight pair per channel in a dual MAC; one
 * requantization per output. An odd last position repeats the one before. */
static void emit_conv_gemm(Q8 *e, const Layer *l)
{
    Shape o = l->shape;
    const char *c = e->cname[l->index];
    int64_t k = gemm_k(l), k2 = (k + 1) / 2, kp = 2 * k2, cout = o.c,
            coutp = (cout + GEMM_OCB - 1) / GEMM_OCB * GEMM_OCB, hw = o.h * o.w, u = gemm_unroll(k2);
    emit(e, "int16_t col[%lld];", (long long)(2 * kp));
    emit(e, "int p, p1, oc, j;");
    emit(e, "uint32_t c0, c1, wb, wv;");
    emit(e, "const int8_t *wr;");
    char *decl = mem_strdup(e->mem, "int32_t ");
    for (int i = 0; i < GEMM_OCB; i++)
        decl = mem_printf(e->mem, "%sa%d0, a%d1%s", decl, i, i, i + 1 < GEMM_OCB ? ", " : ";");
    emit(e, "%s", decl);
    if (kp > k) {
        emit(e, "col[%lld] = 0;", (long long)k);
        emit(e, "col[%lld] = 0;", (long long)(kp + k));
    }
    emit(e, "for (p = 0; p < %lld; p += 2) {", (long long)hw);
    emit(e, "p1 = p + 1 < %lld ? p + 1 : p;", (long long)hw);
    emit(e, "gather_%s(x, p / %lld, p %% %lld, col);", c, (long long)o.w, (long long)o.w);
    emit(e, "gather_%s(x, p1 / %lld, p1 %% %lld, col + %lld);", c, (long long)o.w, (long long)o.w, (long long)kp);
    emit(e, "wr = w_%s;", c);
    emit(e, "for (oc = 0; oc < %lld; oc += %d) {", (long long)coutp, GEMM_OCB);
    for (int i = 0; i < GEMM_OCB; i++)
        emit(e, "a%d0 = a%d1 = bq_%s[oc + %d];", i, i, c, i);
    emit(e, "for (j = 0; j < %lld; j += %lld) {", (long long)kp, (long long)(2 * u));
    for (int64_t t = 0; t < u; t++) {
        emit(e, "c0 = cnnc_q_read2(col + j + %lld);", (long long)(2 * t));
        emit(e, "c1 = cnnc_q_read2(col + %lld + j);", (long long)(kp + 2 * t));
        for (int i = 0; i < GEMM_OCB; i++) {
            if (i % 2 == 0) {
                emit(e, "wb = cnnc_q_read4(wr + %lld);", (long long)(t * GEMM_OCB + i) * 2);
                emit(e, "wv = cnnc_q_sxtb16(wb);");
            } else
                emit(e, "wv = cnnc_q_sxtb16_ror8(wb);");
            emit(e, "a%d0 = cnnc_q_smlad(c0, wv, a%d0);", i, i);
            emit(e, "a%d1 = cnnc_q_smlad(c1, wv, a%d1);", i, i);
        }
    }
    emit(e, "wr += %lld;", (long long)(u * GEMM_OCB * 2));
    emit(e, "}");
    for (int i = 0; i < GEMM_OCB; i++) {
        bool guard = i > 0 && coutp != cout;
        const char *ch = i ? mem_printf(e->mem, "oc + %d", i) : "oc";
        if (guard)
            emit(e, "if (oc + %d < %lld) {", i, (long long)cout);
        emit(e, "y[(%s) * %lld + p] = %s;", ch, (long long)hw, channel_out(e, l, mem_printf(e->mem, "a%d0", i), ch));
        emit(e, "y[(%s) * %lld + p1] = %s;", ch, (long long)hw, channel_out(e, l, mem_printf(e->mem, "a%d1", i), ch));
        if (guard)
            emit(e, "}");
    }
    emit(e, "}");
    emit(e, "}");
}

/* ---- convs as dual MACs over a plane of packed channel pairs ---- */

/* Output positions per block of the plane kernel (with two output
 * channels: 8 accumulators, two window words and two weight pairs, which
 * is what a Cortex-M's 14 free registers hold without spilling). */
#define PG_POS 4

/* The packed plane may take this much of the arena; larger convs keep
 * the per-window gather. */
#define PG_MAX_BYTES 65536


/* Words of constants ahead of a fused channel pair's weights: both
 * doubled biases, each channel's multiplier, ra and shift, the output
 * pointer, one spare. */
#define PG_CONSTS 10

/* Where a plane conv's window words live. Two layouts of int16 pairs:
 *
 * plane: the input copied once into words holding two channels (x[2c],
 * x[2c+1]), padded, the x axis split by stride phase, so that every tap
 * of a row of outputs reads consecutive words. Convs with an even number
 * of input channels and rows of outputs long enough to fill blocks; the
 * loop runs per pair of output channels, then over the blocks.
 *
 * gather: per block of positions, its windows' values in weight order
 * [ic][ky][kx] paired two by two, [pair][position]: 1x1 kernels (the
 * pairs are channel pairs), single-channel inputs (pairs along kx) and
 * narrow outputs. The loop runs per block, then over every pair of
 * output channels, whose weights are all expanded first. */
typedef struct Plane {
    bool flat;          /* gather layout */
    int64_t cin2, taps; /* plane: channel pairs and kh * kw; gather: window pairs and 1 */
    int64_t band;       /* plane: output rows per band (the plane holds one band's input rows) */
    int64_t hq, sx, wq; /* plane rows (of a band), x phases, words per phase row */
    int64_t plane;      /* words per channel pair (gather: per block) */
    int64_t pos;        /* positions per block: PG_POS, fewer on narrow outputs */
    int64_t rows, len;  /* outputs as rows x len (gather: 1 x H*W) */
    int64_t nblk;       /* blocks per row; the last one overlaps its neighbour */
    int64_t wx_at;      /* scratch word where the expanded weights start */
    bool fused;         /* gather: one assembly block per block and channel pair, requantization included */
    bool lean;          /* gather: weights read from flash, the block doubled (else expanded into scratch, doubled) */
    int64_t cbw;        /* gather: expanded words per channel pair (constants when fused, then weights) */
    bool padded;        /* gather: from a padded int8 copy of the input (some window leaves it) */
    int64_t hp, wp;     /* the copy's rows and columns: input row iy is copy row iy + pad top */
    int64_t xp_at;      /* scratch word where the copy starts */
    int64_t words;      /* scratch words: the plane's or block's, the weights', the copy's */
} Plane;

/* The plane geometry of conv l. */
static Plane plane_of(const Layer *l, int64_t band_bytes, bool lean)
{
    Plane p = {0};
    Shape o = l->shape;
    int64_t cin = l->in[0]->shape.c, k = cin * l->kernel[0] * l->kernel[1], cb = (l->quant->nchan + 1) / 2;
    bool one = l->kernel[0] == 1 && l->kernel[1] == 1;
    p.flat = one || cin % 2 || (o.w % PG_POS && o.w < 4 * PG_POS);
    p.cin2 = p.flat ? (k + 1) / 2 : cin / 2;
    p.taps = p.flat ? 1 : l->kernel[0] * l->kernel[1];
    p.rows = p.flat ? 1 : o.h;
    p.len = p.flat ? o.h * o.w : o.w;
    p.pos = p.len < PG_POS ? p.len : PG_POS;
    p.nblk = (p.len + p.pos - 1) / p.pos;
    if (p.flat) {
        bool all;
        p.plane = p.cin2 * p.pos;
        p.fused = p.cin2 <= 63 && l->quant->nchan % 2 == 0 && l->quant->act_min == -128 &&
                  l->quant->act_max == 127 && o.h * o.w + PG_POS <= 4096;
        p.lean = lean;
        if (lean) {
            /* the block, then (fused) the output and constants pointers the assembly reads */
            p.words = p.plane + (p.fused ? 2 : 0);
            p.cbw = p.cin2; /* weight words per channel pair, in flash */
        } else {
            /* the block, then per channel pair its expanded weights (after its constants when fused) */
            p.words = p.plane;
            p.wx_at = p.words;
            p.cbw = 2 * p.cin2 + (p.fused ? PG_CONSTS : 0);
            p.words += cb * p.cbw;
        }
        p.padded = band_bytes > 0 && !(has_interior(l, &all) && all); /* 0: no room for the copy */
        if (p.padded) {
            p.hp = (o.h - 1) * l->stride[0] + (l->kernel[0] - 1) * l->dilation[0] + 1;
            p.wp = (o.w - 1) * l->stride[1] + (l->kernel[1] - 1) * l->dilation[1] + 1;
            p.xp_at = p.words;
            p.words += (cin * p.hp * p.wp + 3) / 4;
        }
    } else {
        p.sx = l->stride[1];
        p.wq = o.w + (l->kernel[1] - 1) * l->dilation[1] / p.sx;
        for (p.band = o.h; p.band > 1; p.band--) /* the most rows within band_bytes */
            if (4 * p.cin2 * (((p.band - 1) * l->stride[0] + (l->kernel[0] - 1) * l->dilation[0] + 1) * p.sx * p.wq) <=
                band_bytes)
                break;
        p.hq = (p.band - 1) * l->stride[0] + (l->kernel[0] - 1) * l->dilation[0] + 1;
        p.plane = p.hq * p.sx * p.wq;
        p.words = p.cin2 * p.plane;
        p.wx_at = p.words;
        p.words += 2 * p.cin2 * p.taps;
    }
    return p;
}

/* The scratch words of plane conv l. */
static int64_t plane_words(const Layer *l, int64_t band, bool lean)
{
    return plane_of(l, band, lean).words;
}

/* Whether a gathered-block conv writes each output position once: its
 * blocks do not overlap, or the overlapping last one computes only its
 * new positions (fused). */
static bool plane_blocks_disjoint(const Layer *l)
{
    Plane p = plane_of(l, PG_BAND_BYTES, true);
    return p.flat && (p.fused || p.len % p.pos == 0 || p.nblk == 1);
}

/* Whether conv l's scratch is a padded plane in bands of rows (rather than a gathered block). */
static bool plane_banded(const Layer *l)
{
    return !plane_of(l, PG_BAND_BYTES, false).flat;
}

/* Sum of |w| over channel c's taps, for bounding its accumulator. */
static int64_t abs_wsum(const Layer *l, int64_t c)
{
    int64_t n = weights_numel(l, 0) / l->quant->nchan, s = 0;
    for (int64_t i = 0; i < n; i++)
        s += l->quant->weight[c * n + i] < 0 ? -l->quant->weight[c * n + i] : l->quant->weight[c * n + i];
    return s;
}

/* The bias a kernel starts from: with zx folded in (windows of raw x,
 * padded taps holding zx) or not (windows of x - zx, padded taps 0). */
static int64_t used_bias(const Layer *l, int64_t c, bool folded)
{
    const QuantInfo *qi = l->quant;
    return folded ? (int64_t)qi->bias[c] - (int64_t)in_zp(l, 0) * qi->wsum[c] : qi->bias[c];
}

/* cnnc_q_requant2's ra for channel c: 2^(e-1) + zy * 2^e. */
static int64_t requant2_ra(const Layer *l, int64_t c)
{
    int64_t r = -(int64_t)l->quant->shift[c];
    return ((int64_t)1 << (r - 1)) + (int64_t)l->quant->out.zero_point * ((int64_t)1 << r);
}

/* Whether every channel meets cnnc_q_requant2's conditions (multiplier
 * above 2^30, right shift 1..30, |acc| + |ra| < 2^30 for any input), so
 * that the kernel may accumulate doubled values and requantize in four
 * instructions: the usual case for trained weights. */
static bool requant2_ok(const Layer *l, bool folded)
{
    const QuantInfo *qi = l->quant;
    int64_t xmax = folded ? 128 : 255;
    for (int64_t c = 0; c < qi->nchan; c++) {
        if (qi->mult[c] <= (INT64_C(1) << 30) || qi->shift[c] > -1 || qi->shift[c] < -30)
            return false;
        int64_t b = used_bias(l, c, folded), ra = requant2_ra(l, c);
        int64_t bound = (b < 0 ? -b : b) + abs_wsum(l, c) * xmax + (ra < 0 ? -ra : ra) + 2;
        if (bound >= (INT64_C(1) << 29))
            return false;
    }
    return true;
}

/* Convs without groups and with constants cnnc_q_requant2 can use take
 * the plane kernel when its scratch stays modest. */
static bool plane_conv(Q8 *e, const Layer *l)
{
    return l->quant->kind == QK_CONV && l->groups == 1 && plane_of(l, PG_BAND_BYTES, true).words * 4 <= PG_MAX_BYTES &&
           requant2_ok(l, gemm_folded(e, l));
}

/* Weights [channel pair][input pair][tap] as four bytes (c, c+1 of input
 * 2i, then of 2i+1): SXTB16 gives channel c's pair and SXTB16 ROR 8
 * channel c+1's. Per channel {2 * bias, mult, ra, rshift} in one table. */
static void emit_plane_constants(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    const char *c = e->cname[l->index];
    Plane p = plane_of(l, PG_BAND_BYTES, true);
    int64_t cin = l->in[0]->shape.c, cout = qi->nchan, cb = (cout + 1) / 2;
    int64_t n = cb * p.cin2 * p.taps * 4;
    int64_t *w = mem_array(e->mem, (size_t)n, sizeof *w);
    int64_t kall = cin * l->kernel[0] * l->kernel[1];
    for (int64_t b = 0; b < cb; b++)
        for (int64_t i = 0; i < p.cin2; i++)
            for (int64_t t = 0; t < p.taps; t++)
                for (int64_t k = 0; k < 4; k++) {
                    /* the weight's index in [ic][ky][kx], kall when it pairs with nothing */
                    int64_t oc = 2 * b + k % 2, f = p.flat ? 2 * i + k / 2 : (2 * i + k / 2) * p.taps + t;
                    w[((b * p.cin2 + i) * p.taps + t) * 4 + k] = oc < cout && f < kall ? qi->weight[oc * kall + f] : 0;
                }
    emit(e, "/* %s: int8 weights, per pair of channels and of inputs four bytes that SXTB16 splits into the "
            "channels' pairs; per-channel scales in the multipliers */",
         cw_comment_safe(e->mem, l->name));
    if (p.flat) { /* read from flash as words: byte k of a word is bits 8k..8k+7 of its value */
        int64_t *word = mem_array(e->mem, (size_t)(n / 4), sizeof *word);
        for (int64_t i = 0; i < n / 4; i++)
            word[i] = (int64_t)((uint32_t)(uint8_t)w[4 * i] | (uint32_t)(uint8_t)w[4 * i + 1] << 8 |
                                (uint32_t)(uint8_t)w[4 * i + 2] << 16 | (uint32_t)(uint8_t)w[4 * i + 3] << 24);
        emit_ints(e, "uint32_t", mem_printf(e->mem, "w_%s", c), word, n / 4);
    } else
        emit_ints(e, "int8_t", mem_printf(e->mem, "w_%s", c), w, n);
    bool folded = gemm_folded(e, l);
    int64_t *k = mem_array(e->mem, (size_t)(8 * cb), sizeof *k);
    for (int64_t oc = 0; oc < 2 * cb; oc++) {
        bool real = oc < cout;
        k[4 * oc] = real ? 2 * used_bias(l, oc, folded) : 0;
        k[4 * oc + 1] = real ? qi->mult[oc] : INT32_MAX;
        k[4 * oc + 2] = real ? requant2_ra(l, oc) : 0;
        k[4 * oc + 3] = real ? -(int64_t)qi->shift[oc] : 1;
    }
    emit(e, "/* %s: per channel 2 * bias, multiplier, rounding and zero point, right shift */",
         cw_comment_safe(e->mem, l->name));
    emit_ints(e, "int32_t", mem_printf(e->mem, "k_%s", c), k, 8 * cb);
}

/* One plane word from input cells at a and a + H*W (the channel pair),
 * less zx when it is not folded into the bias; 0 for a missing channel. */
static const char *plane_word(Q8 *e, const Layer *l, const char *a, bool pair, bool folded)
{
    const char *sub = folded ? "" : minus(e, in_zp(l, 0));
    long long hw = (long long)(l->in[0]->shape.h * l->in[0]->shape.w);
    const char *lo = mem_printf(e->mem, "(int32_t)x[%s]%s", a, sub);
    const char *hi = pair ? mem_printf(e->mem, "(int32_t)x[%s + %lld]%s", a, hw, sub) : "0";
    return mem_printf(e->mem, "cnnc_q_pack16(%s, %s)", lo, hi);
}

/* Whether a gathered block is filled four words at a time (cnnc_q_pair4)
 * or the plane four cells at a time: zx folded, zeros padding, stride 1
 * along x; a 1x1 kernel also without padding or vertical stride. */
static bool plane_fill_fast(Q8 *e, const Layer *l, const Plane *p)
{
    if (!gemm_folded(e, l) || l->pad_mode != PM_ZEROS || l->stride[1] != 1)
        return false;
    if (!p->flat)
        return true;
    return p->pos == PG_POS && l->kernel[0] == 1 && l->kernel[1] == 1 && l->stride[0] == 1 && l->pad[0] == 0 &&
           l->pad[1] == 0 && l->pad[2] == 0 && l->pad[3] == 0;
}

/* The value of tap f (index in [ic][ky][kx]) of the window at iy, ix as
 * the gather reads it: bounds checked (zeros) or folded inside. */
static void emit_gather_tap(Q8 *e, const Layer *l, const char *f, const char *dst)
{
    Shape in = l->in[0]->shape;
    long long H = in.h, W = in.w, kh = l->kernel[0], kw = l->kernel[1];
    bool folded = gemm_folded(e, l);
    f = mem_printf(e->mem, "(%s)", f);
    emit(e, "yy = iy + %s / %lld %% %lld * %lld;", f, kw, kh, (long long)l->dilation[0]);
    emit(e, "xx = ix + %s %% %lld * %lld;", f, kw, (long long)l->dilation[1]);
    const char *src = mem_printf(e->mem, "(int32_t)x[%s / %lld * %lld + yy * %lld + xx]%s", f, kh * kw, H * W, W,
                                 folded ? "" : minus(e, in_zp(l, 0)));
    if (l->pad_mode == PM_ZEROS) {
        emit(e, "%s = yy < 0 || yy >= %lld || xx < 0 || xx >= %lld ? %d : %s;", dst, H, W,
             folded ? (int)in_zp(l, 0) : 0, src);
    } else {
        emit_fold(e, l->pad_mode, "yy", in.h);
        emit_fold(e, l->pad_mode, "xx", in.w);
        emit(e, "%s = %s;", dst, src);
    }
}

/* The padded int8 copy of the input for the gather: zx (or, for the
 * other padding modes, the folded cell) around the input's cells. */
static void emit_gather_copy(Q8 *e, const Layer *l, const Plane *p)
{
    Shape in = l->in[0]->shape;
    long long H = in.h, W = in.w, cin = in.c, hp = (long long)p->hp, wpp = (long long)p->wp;
    long long pt = l->pad[0], pl = l->pad[2];
    emit(e, "xc = (int8_t *)(void *)(q + %lld);", (long long)p->xp_at);
    if (l->pad_mode != PM_ZEROS) {
        emit(e, "for (i = 0; i < %lld; i++) {", cin * hp * wpp);
        emit(e, "iy = i / %lld %% %lld - %lld;", wpp, hp, pt);
        emit(e, "ix = i %% %lld - %lld;", wpp, pl);
        emit_fold(e, l->pad_mode, "iy", in.h);
        emit_fold(e, l->pad_mode, "ix", in.w);
        emit(e, "xc[i] = x[i / %lld * %lld + iy * %lld + ix];", hp * wpp, H * W, W);
        emit(e, "}");
        return;
    }
    long long y0 = pt < 0 ? -pt : 0, y1 = hp - pt < H ? hp - pt : H;
    long long x0 = pl < 0 ? -pl : 0, x1 = wpp - pl < W ? wpp - pl : W;
    emit(e, "for (i = 0; i < %lld; i++)", cin * hp * wpp);
    emit(e, "    xc[i] = %d;", (int)in_zp(l, 0));
    emit(e, "for (j = 0; j < %lld; j++)", cin);
    emit(e, "    for (iy = %lld; iy < %lld; iy++)", y0, y1);
    emit(e, "        for (ix = %lld; ix < %lld; ix++)", x0, x1);
    emit(e, "            xc[(j * %lld + iy + %lld) * %lld + ix + %lld] = x[(j * %lld + iy) * %lld + ix];", hp, pt, wpp, pl,
         H, W);
}

/* The gather of block start..start+pos-1 into q, [pair][position], each
 * value doubled (the weights come unexpanded from flash, so the doubling
 * cnnc_q_requant2 wants is done once here for every output channel): four
 * words at a time for plain 1x1 convs, else per position its window,
 * straight-line where the whole window is inside. */
static void emit_gather_fill(Q8 *e, const Layer *l, const Plane *p)
{
    Shape in = l->in[0]->shape;
    long long H = in.h, W = in.w, hw = H * W, cin = in.c, kh = l->kernel[0], kw = l->kernel[1];
    long long sy = l->stride[0], sx = l->stride[1], dy = l->dilation[0], dx = l->dilation[1];
    long long pos = (long long)p->pos, k = cin * kh * kw, k2 = (long long)p->cin2;
    bool folded = gemm_folded(e, l);
    const char *d2 = p->lean ? "2 * " : ""; /* lean: the doubling the expanded weights would carry */
    if (plane_fill_fast(e, l, p)) {
        long long full = cin / 2;
        emit(e, "for (j = 0; j < %lld; j++)", full);
        emit(e, "    cnnc_q_pair4%s(x + 2 * j * %lld + start, x + (2 * j + 1) * %lld + start, q + j * 4);", p->lean ? "x2" : "", hw, hw);
        if (cin % 2) {
            emit(e, "for (i = 0; i < 4; i++)");
            emit(e, "    q[%lld + i] = cnnc_q_pack16(%sx[%lld + start + i], 0);", full * 4, d2, 2 * full * hw);
        }
        return;
    }
    if (p->padded) {
        /* every window inside the copy: straight-line, or a loop over the pairs */
        long long hp = (long long)p->hp, wpp = (long long)p->wp;
        const char *sub = folded ? "" : minus(e, in_zp(l, 0));
        emit(e, "for (i = 0; i < %lld; i++) {", pos);
        emit(e, "xs = (start + i) / %lld * %lld + (start + i) %% %lld * %lld;", (long long)l->shape.w, sy * wpp,
             (long long)l->shape.w, sx);
        emit(e, "qw = q + i;");
        if (k2 <= 128) {
            for (long long j = 0; j < k2; j++) {
                long long f0 = 2 * j, f1 = 2 * j + 1;
                long long o0 = f0 / (kh * kw) * hp * wpp + f0 / kw % kh * dy * wpp + f0 % kw * dx;
                long long o1 = f1 / (kh * kw) * hp * wpp + f1 / kw % kh * dy * wpp + f1 % kw * dx;
                const char *hi = f1 < k ? mem_printf(e->mem, "%s((int32_t)xc[xs + %lld]%s)", d2, o1, sub) : "0";
                emit(e, "qw[%lld] = cnnc_q_pack16(%s((int32_t)xc[xs + %lld]%s), %s);", j * pos, d2, o0, sub, hi);
            }
        } else {
            const char *tap = "xc[xs + (%s) / %lld * %lld + (%s) / %lld %% %lld * %lld + (%s) %% %lld * %lld]";
            emit(e, "for (j = 0; j < %lld; j++)", k / 2);
            emit(e, "    qw[j * %lld] = cnnc_q_pack16(%s((int32_t)%s%s), %s((int32_t)%s%s));", pos, d2,
                 mem_printf(e->mem, tap, "2 * j", kh * kw, hp * wpp, "2 * j", kw, kh, dy * wpp, "2 * j", kw, dx), sub,
                 d2,
                 mem_printf(e->mem, tap, "2 * j + 1", kh * kw, hp * wpp, "2 * j + 1", kw, kh, dy * wpp, "2 * j + 1", kw,
                            dx),
                 sub);
            if (k % 2)
                emit(e, "qw[%lld] = cnnc_q_pack16(%s((int32_t)%s%s), 0);", k / 2 * pos, d2,
                     mem_printf(e->mem, tap, "2 * j", kh * kw, hp * wpp, "2 * j", kw, kh, dy * wpp, "2 * j", kw, dx),
                     sub);
        }
        emit(e, "}");
        return;
    }
    emit(e, "for (i = 0; i < %lld; i++) {", pos);
    emit(e, "iy = (start + i) / %lld * %lld - %lld;", (long long)l->shape.w, sy, (long long)l->pad[0]);
    emit(e, "ix = (start + i) %% %lld * %lld - %lld;", (long long)l->shape.w, sx, (long long)l->pad[2]);
    emit(e, "qw = q + i;");
    if (k2 <= 128) {
        emit(e, "if (iy >= 0 && iy < %lld && ix >= 0 && ix < %lld) {", H - (kh - 1) * dy, W - (kw - 1) * dx);
        emit(e, "xs = iy * %lld + ix;", W);
        const char *sub = folded ? "" : minus(e, in_zp(l, 0));
        for (long long j = 0; j < k2; j++) {
            long long f0 = 2 * j, f1 = 2 * j + 1;
            long long o0 = f0 / (kh * kw) * hw + f0 / kw % kh * dy * W + f0 % kw * dx;
            long long o1 = f1 / (kh * kw) * hw + f1 / kw % kh * dy * W + f1 % kw * dx;
            const char *hi = f1 < k ? mem_printf(e->mem, "%s((int32_t)x[xs + %lld]%s)", d2, o1, sub) : "0";
            emit(e, "qw[%lld] = cnnc_q_pack16(%s((int32_t)x[xs + %lld]%s), %s);", j * pos, d2, o0, sub, hi);
        }
        emit(e, "continue;");
        emit(e, "}");
    }
    emit(e, "for (j = 0; j < %lld; j++) {", k / 2);
    emit_gather_tap(e, l, "2 * j", "v");
    emit_gather_tap(e, l, "2 * j + 1", "lo");
    emit(e, "qw[j * %lld] = cnnc_q_pack16(%sv, %slo);", pos, d2, d2);
    emit(e, "}");
    if (k % 2) {
        emit(e, "j = %lld;", k / 2);
        emit_gather_tap(e, l, "2 * j", "v");
        emit(e, "qw[j * %lld] = cnnc_q_pack16(%sv, 0);", pos, d2);
    }
    emit(e, "}");
}

/* The plane's fill (an even number of input channels): padded words
 * first where there are any, then each input cell's word where a tap
 * reads it (four at a time where plane_fill_fast allows); reflect,
 * replicate and circular padding read the folded cell for every word
 * instead. */
static void emit_plane_fill(Q8 *e, const Layer *l, const Plane *p)
{
    Shape in = l->in[0]->shape;
    long long H = in.h, W = in.w, hw = H * W, cin = in.c;
    long long sx = l->stride[1], pt = l->pad[0], pl = l->pad[2];
    bool folded = gemm_folded(e, l), fast = plane_fill_fast(e, l, p);
    int32_t pad = folded ? in_zp(l, 0) : 0;
    const char *padw = mem_printf(e->mem, "cnnc_q_pack16(%d, %d)", (int)pad, (int)pad);
    long long full = cin / 2; /* pairs with both channels */
    long long hq = (long long)p->hq, wq = (long long)p->wq, plane = (long long)p->plane;
    long long sy = l->stride[0], by = (long long)p->band * sy; /* input rows per band */
    if (l->pad_mode != PM_ZEROS) {
        emit(e, "for (i = 0; i < %lld; i++) {", hq * sx * wq);
        emit(e, "iy = bd * %lld + i / %lld - %lld;", by, sx * wq, pt);
        emit(e, "ix = i %% %lld * %lld + i / %lld %% %lld - %lld;", wq, sx, wq, sx, pl);
        emit_fold(e, l->pad_mode, "iy", in.h);
        emit_fold(e, l->pad_mode, "ix", in.w);
        emit(e, "xs = iy * %lld + ix;", W);
        emit(e, "for (j = 0; j < %lld; j++)", full);
        emit(e, "    q[j * %lld + i] = %s;", plane,
             plane_word(e, l, mem_printf(e->mem, "2 * j * %lld + xs", hw), true, folded));
        emit(e, "}");
        return;
    }
    /* the columns of the input that some word holds; rows by band */
    long long x0 = pl < 0 ? -pl : 0, x1 = sx * wq - pl < W ? sx * wq - pl : W;
    bool bands = p->band < l->shape.h;
    if (bands || pt > 0 || pl > 0 || hq - pt > H || x1 - x0 < sx * wq) {
        emit(e, "for (i = 0; i < %lld; i++)", (long long)(p->cin2 * p->plane));
        emit(e, "    q[i] = %s;", padw);
    }
    emit(e, "for (j = 0; j < %lld; j++)", full);
    emit(e, "    for (i = 0; i < %lld; i++) {", hq);
    emit(e, "iy = bd * %lld + i - %lld;", by, pt);
    emit(e, "if (iy < 0 || iy >= %lld)", H);
    emit(e, "    continue;");
    if (fast) {
        emit(e, "xs = 2 * j * %lld + iy * %lld;", hw, W);
        emit(e, "qw = q + j * %lld + i * %lld + %lld;", plane, wq, pl);
        emit(e, "for (ix = %lld; ix + 4 <= %lld; ix += 4)", x0, x1);
        emit(e, "    cnnc_q_pair4(x + xs + ix, x + xs + %lld + ix, qw + ix);", hw);
        emit(e, "for (; ix < %lld; ix++)", x1);
        emit(e, "    qw[ix] = cnnc_q_pack16(x[xs + ix], x[xs + %lld + ix]);", hw);
        emit(e, "}");
        return;
    }
    emit(e, "for (ix = %lld; ix < %lld; ix++)", x0, x1);
    const char *dst = sx == 1 ? mem_printf(e->mem, "i * %lld + ix + %lld", wq, pl)
                              : mem_printf(e->mem, "(i * %lld + (ix + %lld) %% %lld) * %lld + (ix + %lld) / %lld", sx, pl,
                                           sx, wq, pl, sx);
    emit(e, "    q[j * %lld + %s] = %s;", plane, dst,
         plane_word(e, l, mem_printf(e->mem, "2 * j * %lld + iy * %lld + ix", hw, W), true, folded));
    emit(e, "}");
}

/* The unroll of the pair loop: for a gathered block all of it up to 63
 * pairs (no loop), else its largest divisor up to 63; for a plane the
 * largest of 8, 4, 2, 1 dividing the pairs that keeps the body within
 * eight taps. */
static int64_t plane_unroll(const Plane *p)
{
    if (p->flat) /* the largest divisor of the pairs within LDRD's reach */
        for (int64_t u = p->cin2 < 63 ? p->cin2 : 63; u > 1; u--)
            if (p->cin2 % u == 0)
                return u;
    for (int64_t u = 8; u > 1; u /= 2)
        if (p->cin2 % u == 0 && u * p->taps <= 8)
            return u;
    return 1;
}

/* The word offset, from the block's pointer, of the window words of
 * input pair v (of an unrolled step) and tap t. */
static long long plane_offset(const Layer *l, const Plane *p, long long v, long long t)
{
    long long kw = l->kernel[1], ky = t / kw, kx = t % kw, sx = p->sx, dy = l->dilation[0], dx = l->dilation[1];
    if (p->flat)
        return v * p->pos;
    return v * p->plane + ((ky * dy) * sx + (kx * dx) % sx) * p->wq + (kx * dx) / sx;
}

/* Whether every load of the unrolled step takes an immediate offset
 * (LDRD reaches 1020 bytes). */
static bool plane_asm_fits(const Layer *l, const Plane *p, long long u)
{
    for (long long v = 0; v < u; v++)
        for (long long t = 0; t < p->taps; t++)
            if (4 * (plane_offset(l, p, v, t) + p->pos) > 1020 || 8 * (v * p->taps + t) > 1016)
                return false;
    return true;
}

/* The step as Thumb-2 assembly (CNNC_Q_KERNEL_ASM): per tap one LDRD of
 * both channels' weight pairs, one LDRD per two positions, one SMLAD per
 * position and channel; the eight accumulators stay in registers. */
static void emit_plane_asm(Q8 *e, const Layer *l, const Plane *p, long long u)
{
    long long pos = p->pos;
    fprintf(e->out, "#ifdef CNNC_Q_KERNEL_ASM\n");
    emit(e, "__asm__(");
    for (long long v = 0; v < u; v++)
        for (long long t = 0; t < p->taps; t++) {
            long long off = plane_offset(l, p, v, t);
            if (p->lean) { /* the weights' int8 word from flash, split into both channels' pairs */
                emit(e, "    \"ldr %%[w1], [%%[wp], #%lld]\\n\\t\"", 4 * (v * p->taps + t));
                emit(e, "    \"sxtb16 %%[w0], %%[w1]\\n\\t\"");
                emit(e, "    \"sxtb16 %%[w1], %%[w1], ror #8\\n\\t\"");
            } else
                emit(e, "    \"ldrd %%[w0], %%[w1], [%%[wp], #%lld]\\n\\t\"", 8 * (v * p->taps + t));
            for (long long i = 0; i < pos; i += 2) {
                if (i + 1 < pos)
                    emit(e, "    \"ldrd %%[x0], %%[x1], [%%[qp], #%lld]\\n\\t\"", 4 * (off + i));
                else
                    emit(e, "    \"ldr %%[x0], [%%[qp], #%lld]\\n\\t\"", 4 * (off + i));
                for (long long d = i; d < i + 2 && d < pos; d++) {
                    emit(e, "    \"smlad %%[a0%lld], %%[x%lld], %%[w0], %%[a0%lld]\\n\\t\"", d, d - i, d);
                    emit(e, "    \"smlad %%[a1%lld], %%[x%lld], %%[w1], %%[a1%lld]\\n\\t\"", d, d - i, d);
                }
            }
        }
    char *outs = mem_strdup(e->mem, "    :");
    for (int ch = 0; ch < 2; ch++)
        for (long long i = 0; i < p->pos; i++)
            outs = mem_printf(e->mem, "%s [a%d%lld] \"+r\"(a%d%lld),", outs, ch, i, ch, i);
    emit(e, "%s", outs);
    /* a flash pointer as an input alone leaves gcc -O1 without registers; in-out it finds them */
    if (p->lean) {
        emit(e, "      [w0] \"=&r\"(w0), [w1] \"=&r\"(w1), [x0] \"=&r\"(x0), [x1] \"=&r\"(x1), [wp] \"+r\"(wp)");
        emit(e, "    : [qp] \"r\"(qp)");
    } else {
        emit(e, "      [w0] \"=&r\"(w0), [w1] \"=&r\"(w1), [x0] \"=&r\"(x0), [x1] \"=&r\"(x1)");
        emit(e, "    : [qp] \"r\"(qp), [wp] \"r\"(wp)");
    }
    emit(e, "    : \"memory\");");
}

/* The stores of n outputs of one channel (accumulators acc[i] holding
 * 2 * acc, destinations yo + off[i], constants in m, r, s): as assembly
 * where the output spans all of int8 (five instructions each; compilers
 * otherwise merge the byte stores through extra registers), else C. */
static void emit_requant(Q8 *e, const Layer *l, const char **acc, const long long *off, int n, bool use_asm)
{
    const QuantInfo *qi = l->quant;
    bool sat = qi->act_min == -128 && qi->act_max == 127, fits = use_asm;
    for (int i = 0; i < n; i++)
        fits = fits && off[i] >= 0 && off[i] < 4096;
    if (sat && fits) {
        fprintf(e->out, "#ifdef CNNC_Q_KERNEL_ASM\n");
        emit(e, "__asm__ volatile(");
        for (int i = 0; i < n; i++) {
            emit(e, "    \"add %%[t], %%[r], %%[a%d], asr #31\\n\\t\"", i);
            emit(e, "    \"smmlar %%[t], %%[a%d], %%[m], %%[t]\\n\\t\"", i);
            emit(e, "    \"asr %%[t], %%[t], %%[s]\\n\\t\"");
            emit(e, "    \"ssat %%[t], #8, %%[t]\\n\\t\"");
            emit(e, "    \"strb %%[t], [%%[yo], #%lld]\\n\\t\"", off[i]);
        }
        char *ins = mem_strdup(e->mem, "    : [t] \"=&r\"(t)\n            :");
        for (int i = 0; i < n; i++)
            ins = mem_printf(e->mem, "%s [a%d] \"r\"(%s),", ins, i, acc[i]);
        emit(e, "%s [m] \"r\"(m), [r] \"r\"(r), [s] \"r\"(s), [yo] \"r\"(yo)", ins);
        emit(e, "    : \"memory\");");
        fprintf(e->out, "#else\n");
    }
    for (int i = 0; i < n; i++) {
        const char *v = mem_printf(e->mem, "cnnc_q_requant2(%s, m, r, s)", acc[i]);
        emit(e, "yo[%lld] = (int8_t)%s;", off[i],
             sat ? mem_printf(e->mem, "cnnc_q_ssat8(%s)", v)
                 : mem_printf(e->mem, "cnnc_q_clamp(%s, %d, %d)", v, (int)qi->act_min, (int)qi->act_max));
    }
    if (sat && fits)
        fprintf(e->out, "#endif\n");
}

/* The tail the fused assembly blocks share: for each of the two channels,
 * its multiplier and rounding term (LDRD at wp + at + stride * ch) and
 * its shift (at + 8 + stride * ch) requantize accumulators a<ch><i>
 * into bytes at qp + ch * hw + i; then the accumulators' output operands. */
static void emit_asm_requant_stores(Q8 *e, int at, int stride, long long first, long long pos, long long hw)
{
    for (int ch = 0; ch < 2; ch++) {
        emit(e, "    \"ldrd %%[w0], %%[w1], [%%[wp], #%d]\\n\\t\"", at + stride * ch);
        emit(e, "    \"ldr %%[x0], [%%[wp], #%d]\\n\\t\"", at + 8 + stride * ch);
        for (long long i = first; i < pos; i++) {
            emit(e, "    \"add %%[x1], %%[w1], %%[a%d%lld], asr #31\\n\\t\"", ch, i);
            emit(e, "    \"smmlar %%[x1], %%[a%d%lld], %%[w0], %%[x1]\\n\\t\"", ch, i);
            emit(e, "    \"asr %%[x1], %%[x1], %%[x0]\\n\\t\"");
            emit(e, "    \"ssat %%[x1], #8, %%[x1]\\n\\t\"");
            emit(e, "    \"strb %%[x1], [%%[qp], #%lld]\\n\\t\"", ch * hw + i);
        }
    }
    char *outs = mem_strdup(e->mem, "    :");
    for (int ch = 0; ch < 2; ch++)
        for (long long i = first; i < pos; i++)
            outs = mem_printf(e->mem, "%s [a%d%lld] \"=&r\"(a%d%lld),", outs, ch, i, ch, i);
    emit(e, "%s", outs);
}

/* emit_fused_asm where the arena has room for the expanded weights: the
 * constants and doubled weight pairs the C code expanded into scratch
 * (one LDRD per input pair for both channels), the output pointer left
 * among the constants. */
static void emit_fused_asm_fast(Q8 *e, const Layer *l, const Plane *p, long long first)
{
    long long hw = (long long)(l->shape.h * l->shape.w), pos = (long long)p->pos;
    fprintf(e->out, "#ifdef CNNC_Q_KERNEL_ASM\n");
    emit(e, "wx[cb * %lld + 8] = (uint32_t)(uintptr_t)yo;", (long long)p->cbw);
    emit(e, "__asm__ volatile(");
    /* the biases into each even position's accumulators; the first
     * pair's MACs of the odd one after it start from them (before the
     * even one's own), which saves copying them */
    for (long long i = first; i < pos; i += 2)
        emit(e, "    \"ldrd %%[a0%lld], %%[a1%lld], [%%[wp]]\\n\\t\"", i, i);
    for (long long v = 0; v < (long long)p->cin2; v++) {
        emit(e, "    \"ldrd %%[w0], %%[w1], [%%[wp], #%lld]\\n\\t\"", 4 * PG_CONSTS + 8 * v);
        for (long long i = first; i < pos; i += 2) {
            if (i + 1 < pos)
                emit(e, "    \"ldrd %%[x0], %%[x1], [%%[qp], #%lld]\\n\\t\"", 4 * (v * pos + i));
            else
                emit(e, "    \"ldr %%[x0], [%%[qp], #%lld]\\n\\t\"", 4 * (v * pos + i));
            for (long long k = 0; k < 2 && i + k < pos; k++) {
                long long d = v == 0 && i + 1 < pos ? i + 1 - k : i + k, src = v == 0 ? i : d;
                emit(e, "    \"smlad %%[a0%lld], %%[x%lld], %%[w0], %%[a0%lld]\\n\\t\"", d, d - i, src);
                emit(e, "    \"smlad %%[a1%lld], %%[x%lld], %%[w1], %%[a1%lld]\\n\\t\"", d, d - i, src);
            }
        }
    }
    /* requantization: qp the output pointer, w0 multiplier, w1 ra, x0 shift, x1 scratch */
    emit(e, "    \"ldr %%[qp], [%%[wp], #32]\\n\\t\"");
    emit_asm_requant_stores(e, 8, 12, first, pos, hw);
    emit(e, "      [w0] \"=&r\"(w0), [w1] \"=&r\"(w1), [x0] \"=&r\"(x0), [x1] \"=&r\"(x1), [qp] \"+r\"(qp)");
    emit(e, "    : [wp] \"r\"(wp)");
    emit(e, "    : \"memory\");");
}


/* A gathered block for one pair of output channels in one assembly
 * block (CNNC_Q_KERNEL_ASM): the accumulators from the doubled biases,
 * every pair's dual MACs with the weights read from flash (one LDR and
 * two SXTB16 per input pair, for both channels), then each output's
 * rounding multiply and store. The block holds doubled values, so the
 * sums come out doubled as cnnc_q_requant2 wants; the constants (k_, per
 * channel {2 * bias, multiplier, ra, shift}) and output pointers are the
 * two words the C code left after the block. */
static void emit_fused_asm(Q8 *e, const Layer *l, const Plane *p, long long first)
{
    long long hw = (long long)(l->shape.h * l->shape.w), pos = (long long)p->pos, pl = 4 * (long long)p->plane;
    fprintf(e->out, "#ifdef CNNC_Q_KERNEL_ASM\n");
    emit(e, "q[%lld] = (uint32_t)(uintptr_t)yo;", (long long)p->plane);
    emit(e, "q[%lld] = (uint32_t)(uintptr_t)k;", (long long)p->plane + 1);
    emit(e, "__asm__ volatile(");
    /* the biases into each even position's accumulators; the first
     * pair's MACs of the odd one after it start from them (before the
     * even one's own), which saves copying them */
    emit(e, "    \"ldr %%[x0], [%%[qp], #%lld]\\n\\t\"", pl + 4);
    for (long long i = first; i < pos; i += 2) {
        emit(e, "    \"ldr %%[a0%lld], [%%[x0]]\\n\\t\"", i);
        emit(e, "    \"ldr %%[a1%lld], [%%[x0], #16]\\n\\t\"", i);
    }
    for (long long v = 0; v < (long long)p->cin2; v++) {
        emit(e, "    \"ldr %%[w1], [%%[wp], #%lld]\\n\\t\"", 4 * v);
        emit(e, "    \"sxtb16 %%[w0], %%[w1]\\n\\t\"");
        emit(e, "    \"sxtb16 %%[w1], %%[w1], ror #8\\n\\t\"");
        for (long long i = first; i < pos; i += 2) {
            if (i + 1 < pos)
                emit(e, "    \"ldrd %%[x0], %%[x1], [%%[qp], #%lld]\\n\\t\"", 4 * (v * pos + i));
            else
                emit(e, "    \"ldr %%[x0], [%%[qp], #%lld]\\n\\t\"", 4 * (v * pos + i));
            for (long long k = 0; k < 2 && i + k < pos; k++) {
                long long d = v == 0 && i + 1 < pos ? i + 1 - k : i + k, src = v == 0 ? i : d;
                emit(e, "    \"smlad %%[a0%lld], %%[x%lld], %%[w0], %%[a0%lld]\\n\\t\"", d, d - i, src);
                emit(e, "    \"smlad %%[a1%lld], %%[x%lld], %%[w1], %%[a1%lld]\\n\\t\"", d, d - i, src);
            }
        }
    }
    /* requantization: wp the constants, qp the output pointer, w0 multiplier, w1 ra, x0 shift, x1 scratch */
    emit(e, "    \"ldr %%[wp], [%%[qp], #%lld]\\n\\t\"", pl + 4);
    emit(e, "    \"ldr %%[qp], [%%[qp], #%lld]\\n\\t\"", pl);
    emit_asm_requant_stores(e, 4, 16, first, pos, hw);
    emit(e, "      [w0] \"=&r\"(w0), [w1] \"=&r\"(w1), [x0] \"=&r\"(x0), [x1] \"=&r\"(x1), [qp] \"+r\"(qp), "
            "[wp] \"+r\"(wp)");
    emit(e, "    :");
    emit(e, "    : \"memory\");");
}

/* One block of positions for one pair of output channels (qp, wp and k
 * set): the accumulators start at the doubled bias, each tap's weight
 * pairs meet the block's window words in dual MACs, then one rounding
 * multiply per output into yo. */
static void emit_plane_block(Q8 *e, const Layer *l, const Plane *p, long long first)
{
    const QuantInfo *qi = l->quant;
    long long hw = (long long)(l->shape.h * l->shape.w), pos = (long long)p->pos, taps = (long long)p->taps;
    long long u = (long long)plane_unroll(p);
    bool asm_ok = plane_asm_fits(l, p, u);
    if (p->fused) {
        if (p->lean)
            emit_fused_asm(e, l, p, first);
        else
            emit_fused_asm_fast(e, l, p, first);
        fprintf(e->out, "#else\n");
    }
    for (int ch = 0; ch < 2; ch++) {
        char *line = mem_strdup(e->mem, "");
        for (long long i = 0; i < pos; i++)
            line = mem_printf(e->mem, "%sa%d%lld = ", line, ch, i);
        emit(e, "%sk[%d];", line, 4 * ch);
    }
    bool loop = u < (long long)p->cin2;
    if (loop)
        emit(e, "for (j = 0; j < %lld; j += %lld) {", (long long)p->cin2, u);
    if (asm_ok && !p->fused) {
        emit_plane_asm(e, l, p, u);
        fprintf(e->out, "#else\n");
    }
    for (long long v = 0; v < u; v++)
        for (long long t = 0; t < taps; t++) {
            long long off = plane_offset(l, p, v, t);
            if (p->lean) {
                emit(e, "wb = wp[%lld];", v * taps + t);
                emit(e, "w0 = cnnc_q_sxtb16(wb);");
                emit(e, "w1 = cnnc_q_sxtb16_ror8(wb);");
            } else {
                long long wo = p->fused ? PG_CONSTS : 0;
                emit(e, "w0 = wp[%lld];", wo + 2 * (v * taps + t));
                emit(e, "w1 = wp[%lld];", wo + 2 * (v * taps + t) + 1);
            }
            for (long long i = 0; i < pos; i += 2) {
                emit(e, "x0 = qp[%lld];", off + i);
                if (i + 1 < pos)
                    emit(e, "x1 = qp[%lld];", off + i + 1);
                for (long long d = i; d < i + 2 && d < pos; d++) {
                    emit(e, "a0%lld = cnnc_q_smlad(x%lld, w0, a0%lld);", d, d - i, d);
                    emit(e, "a1%lld = cnnc_q_smlad(x%lld, w1, a1%lld);", d, d - i, d);
                }
            }
        }
    if (asm_ok && !p->fused)
        fprintf(e->out, "#endif\n");
    if (loop) {
        emit(e, "qp += %lld;", u * (long long)(p->flat ? pos : p->plane));
        emit(e, "wp += %lld;", u * taps * (p->lean ? 1 : 2));
        emit(e, "}");
    }
    for (int ch = 0; ch < 2; ch++) {
        bool guard = ch == 1 && qi->nchan % 2;
        if (guard)
            emit(e, "if (cb < %lld) {", (long long)(qi->nchan / 2));
        emit(e, "m = k[%d];", 4 * ch + 1);
        emit(e, "r = k[%d];", 4 * ch + 2);
        emit(e, "s = k[%d];", 4 * ch + 3);
        const char *acc[PG_POS];
        long long off[PG_POS];
        for (long long i = 0; i < pos; i++) {
            acc[i] = mem_printf(e->mem, "a%d%lld", ch, i);
            off[i] = ch * hw + i;
        }
        /* a last block overlapping its neighbour stores only its new positions, as the assembly */
        emit_requant(e, l, acc + first, off + first, (int)(pos - first), !p->fused);
        if (guard)
            emit(e, "}");
    }
    if (p->fused)
        fprintf(e->out, "#endif\n");
}

/* Expanded weights: n words from word first of the packed int8 table, as doubled int16
 * pairs (the accumulators then hold 2 * acc for cnnc_q_requant2), both
 * channels' pairs of a tap side by side. */
static void emit_plane_weights(Q8 *e, const Layer *l, const char *first, const char *n, bool words)
{
    emit(e, "for (j = 0; j < %s; j++) {", n);
    if (words) /* the gathered-block convs' table holds the four bytes as one word */
        emit(e, "wb = w_%s[%s + j];", e->cname[l->index], first);
    else
        emit(e, "wb = cnnc_q_read4(w_%s + (%s + j) * 4);", e->cname[l->index], first);
    emit(e, "w0 = cnnc_q_sxtb16(wb);");
    emit(e, "w1 = cnnc_q_sxtb16_ror8(wb);");
    emit(e, "wx[2 * j] = cnnc_q_sadd16(w0, w0);");
    emit(e, "wx[2 * j + 1] = cnnc_q_sadd16(w1, w1);");
    emit(e, "}");
}

/* The conv: plane layout per pair of output channels, then over rows and
 * blocks; gather layout per block, then over pairs of output channels. */
static void emit_conv_plane(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    const char *c = e->cname[l->index];
    Shape o = l->shape;
    Plane p = plane_of(l, e->band[l->index], e->lean[l->index]);
    long long hw = (long long)(o.h * o.w), pos = (long long)p.pos, len = (long long)p.len;
    long long nw = (long long)(p.cin2 * p.taps), ncb = (long long)((qi->nchan + 1) / 2);
    emit(e, "const uint32_t *qp, *wp;");
    emit(e, "const int32_t *k;");
    emit(e, "int8_t *yo;");
    emit(e, "uint32_t *wx = q + %lld, *qw, wb, w0, w1, x0, x1;", (long long)p.wx_at);
    char *decl = mem_strdup(e->mem, "int32_t m, r, s, t, v, lo");
    for (int ch = 0; ch < 2; ch++)
        for (long long i = 0; i < pos; i++)
            decl = mem_printf(e->mem, "%s, a%d%lld", decl, ch, i);
    emit(e, "%s;", decl);
    emit(e, "int bd, cb, row, b, j, i, iy, ix, yy, xx, xs, start;");
    const char *unused[] = {"qw", "xs", "i", "iy", "ix", "yy", "xx", "row", "v", "lo", "x1", "t", "m", "r", "s", "bd",
                            "j", "wb"};
    for (size_t i = 0; i < sizeof unused / sizeof *unused; i++)
        emit(e, "(void)%s;", unused[i]);
    emit(e, "int8_t *xc;");
    if (p.flat && p.padded)
        emit_gather_copy(e, l, &p);
    else
        emit(e, "xc = 0;");
    emit(e, "(void)xc;");
    if (p.flat && p.lean)
        emit(e, "(void)wx;");
    if (p.flat && !p.lean) {
        emit(e, "for (cb = 0; cb < %lld; cb++) {", ncb);
        emit(e, "wx = q + %lld + cb * %lld;", (long long)p.wx_at, (long long)p.cbw);
        if (p.fused) {
            emit(e, "k = k_%s + cb * 8;", c);
            const int from[PG_CONSTS - 2] = {0, 4, 1, 2, 3, 5, 6, 7};
            for (int i = 0; i < PG_CONSTS - 2; i++)
                emit(e, "wx[%d] = (uint32_t)k[%d];", i, from[i]);
            emit(e, "wx += %d;", PG_CONSTS);
        }
        emit_plane_weights(e, l, mem_printf(e->mem, "cb * %lld", nw), mem_printf(e->mem, "%lld", nw), true);
        emit(e, "}");
        emit(e, "wx = q + %lld;", (long long)p.wx_at);
    }
    if (p.flat) {
        /* a fused last block that overlaps its neighbour computes only its new positions */
        long long rem = len % pos, tail = p.fused && rem && p.nblk > 1;
        bool first_tail = e->inplace[l->index]; /* its positions are read before any block writes them */
        for (long long k = 0; k <= tail; k++) {
            long long part = first_tail ? tail - k : k;
            if (part) {
                emit(e, "{");
                emit(e, "start = %lld;", len - pos);
            } else {
                emit(e, "for (b = 0; b < %lld; b++) {", (long long)p.nblk - tail);
                emit(e, "start = b * %lld < %lld ? b * %lld : %lld;", pos, len - pos, pos, len - pos);
            }
            emit_gather_fill(e, l, &p);
            emit(e, "for (cb = 0; cb < %lld; cb++) {", ncb);
            emit(e, "k = k_%s + cb * 8;", c);
            emit(e, "qp = q;");
            if (p.lean)
                emit(e, "wp = w_%s + cb * %lld;", c, (long long)p.cbw);
            else
                emit(e, "wp = wx + cb * %lld;", (long long)p.cbw);
            emit(e, "yo = y + cb * %lld + start;", 2 * hw);
            emit_plane_block(e, l, &p, part ? pos - rem : 0);
            emit(e, "}");
            emit(e, "}");
        }
        return;
    }
    long long band = (long long)p.band;
    emit(e, "for (bd = 0; bd < %lld; bd++) {", (o.h + band - 1) / band);
    emit_plane_fill(e, l, &p);
    emit(e, "for (cb = 0; cb < %lld; cb++) {", ncb);
    emit(e, "k = k_%s + cb * 8;", c);
    emit_plane_weights(e, l, mem_printf(e->mem, "cb * %lld", nw), mem_printf(e->mem, "%lld", nw), false);
    emit(e, "for (row = bd * %lld; row < %s; row++) {", band,
         o.h % band ? mem_printf(e->mem, "(bd * %lld + %lld < %lld ? bd * %lld + %lld : %lld)", band, band,
                                 (long long)o.h, band, band, (long long)o.h)
                    : mem_printf(e->mem, "bd * %lld + %lld", band, band));
    emit(e, "for (b = 0; b < %lld; b++) {", (long long)p.nblk);
    emit(e, "start = b * %lld < %lld ? b * %lld : %lld;", pos, len - pos, pos, len - pos);
    emit(e, "qp = q + (row - bd * %lld) * %lld + start;", band, (long long)(l->stride[0] * p.sx * p.wq));
    emit(e, "wp = wx;");
    emit(e, "yo = y + cb * %lld + row * %lld + start;", 2 * hw, (long long)o.w);
    emit_plane_block(e, l, &p, 0);
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
}

/* The depthwise fast path's padded plane, in int16 cells: bounded so that
 * it stays a modest stack buffer on a microcontroller. */
#define DW_PLANE_MAX 2048

/* Rows and columns of the padded input plane a depthwise conv reads. */
static void dw_plane(const Layer *l, int64_t *hp, int64_t *wp)
{
    *hp = (l->shape.h - 1) * l->stride[0] + l->kernel[0];
    *wp = (l->shape.w - 1) * l->stride[1] + l->kernel[1];
}

/* Depthwise convs (one input channel per output channel) with zeros
 * padding and no dilation take the fast path: the channel's plane copied
 * once into a zero-point-padded int16 buffer, so every window is interior
 * and each pair of adjacent taps is one dual MAC. */
static bool dw_conv(const Layer *l)
{
    int64_t hp, wp;
    dw_plane(l, &hp, &wp);
    return l->quant->kind == QK_CONV && l->groups > 1 && l->groups == l->in[0]->shape.c && l->out == l->groups &&
           l->pad_mode == PM_ZEROS && l->dilation[0] == 1 && l->dilation[1] == 1 && l->pad[0] >= 0 &&
           l->pad[2] >= 0 && hp * wp + 1 <= DW_PLANE_MAX;
}

/* Depthwise: per channel, the plane into the padded buffer (its border,
 * zx or 0, written once for all channels), the kernel's rows as int16
 * pairs (an odd last tap paired with 0), then per output one SMLAD per
 * pair and one requantization. */
static void emit_conv_dw(Q8 *e, const Layer *l)
{
    Shape in = l->in[0]->shape, o = l->shape;
    const char *c = e->cname[l->index];
    int64_t hp, wp;
    dw_plane(l, &hp, &wp);
    long long kh = l->kernel[0], kw = l->kernel[1], kw2 = (kw + 1) / 2, pt = l->pad[0], pl = l->pad[2];
    long long rows = in.h < hp - pt ? in.h : hp - pt, cols = in.w < wp - pl ? in.w : wp - pl;
    bool all, folded = has_interior(l, &all) &&
                       folded_bias(l, mem_array(e->mem, (size_t)l->quant->nchan, sizeof(int64_t)));
    int32_t zx = in_zp(l, 0);
    emit(e, "int16_t pl[%lld];", (long long)(hp * wp + 1));
    emit(e, "uint32_t wv[%lld];", kh * kw2);
    emit(e, "int c, i, iy, ix, oy, ox;");
    emit(e, "int32_t acc;");
    emit(e, "const int16_t *rp;");
    emit(e, "const int8_t *xc, *wc;");
    emit(e, "for (i = 0; i < %lld; i++)", (long long)(hp * wp + 1));
    emit(e, "    pl[i] = %d;", folded ? (int)zx : 0);
    emit(e, "for (c = 0; c < %lld; c++) {", (long long)o.c);
    emit(e, "xc = x + c * %lld;", (long long)(in.h * in.w));
    emit(e, "for (iy = 0; iy < %lld; iy++)", rows);
    emit(e, "    for (ix = 0; ix < %lld; ix++)", cols);
    emit(e, "        pl[(iy + %lld) * %lld + ix + %lld] = (int16_t)((int32_t)xc[iy * %lld + ix]%s);", pt, (long long)wp,
         pl, (long long)in.w, folded ? "" : minus(e, zx));
    emit(e, "wc = w_%s + c * %lld;", c, kh * kw);
    for (long long ky = 0; ky < kh; ky++)
        for (long long j = 0; j < kw2; j++) {
            if (2 * j + 1 < kw)
                emit(e, "wv[%lld] = cnnc_q_pack16(wc[%lld], wc[%lld]);", ky * kw2 + j, ky * kw + 2 * j,
                     ky * kw + 2 * j + 1);
            else
                emit(e, "wv[%lld] = cnnc_q_pack16(wc[%lld], 0);", ky * kw2 + j, ky * kw + 2 * j);
        }
    emit(e, "for (oy = 0; oy < %lld; oy++) {", (long long)o.h);
    emit(e, "for (ox = 0; ox < %lld; ox++) {", (long long)o.w);
    emit(e, "rp = pl + oy * %lld + ox * %lld;", (long long)(l->stride[0] * wp), (long long)l->stride[1]);
    emit(e, "acc = %s_%s[c];", folded ? "bz" : "b", c);
    for (long long ky = 0; ky < kh; ky++)
        for (long long j = 0; j < kw2; j++)
            emit(e, "acc = cnnc_q_smlad(cnnc_q_read2(rp + %lld), wv[%lld], acc);", ky * (long long)wp + 2 * j,
                 ky * kw2 + j);
    emit(e, "y[(c * %lld + oy) * %lld + ox] = %s;", (long long)o.h, (long long)o.w, channel_out(e, l, "acc", "c"));
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
}

/* ---- depthwise 3-wide kernels as dual MACs on aligned pairs ---- */

/* Outputs per block of the row kernel: whole rows up to DW3_ROW, else
 * blocks of four on rows of even length. */
#define DW3_ROW 5

/* The row kernel's geometry: outputs per block (whole rows up to
 * DW3_ROW, four otherwise), blocks per row, words per padded row, rows of
 * the padded plane, and scratch words (the plane, then the kernel's
 * weight words and constants). */
typedef struct Dw3 {
    int64_t pos, nb, wr, hp, words;
} Dw3;

/* The row kernel's geometry of depthwise conv l. */
static Dw3 dw3_of(const Layer *l)
{
    Dw3 g;
    int64_t w = l->shape.w, sx = l->stride[1];
    int64_t row = sx == 1 ? DW3_ROW : DW3_ROW - 1; /* stride 2 reads one word more per block */
    g.pos = w <= row ? w : 4;
    g.nb = w <= row ? 1 : (w + 3) / 4;
    g.wr = sx == 1 ? (w <= row ? (w + 3) / 2 : (w + 2) / 2) : w + 1;
    g.hp = (l->shape.h - 1) * l->stride[0] + l->kernel[0];
    g.words = g.hp * g.wr + 2 * l->kernel[0] + 4;
    return g;
}

/* Whether depthwise conv l takes the row kernel: kernel width 3, x
 * stride 1 or 2, zeros padding, no dilation, zx folded,
 * cnnc_q_requant2's constants; with stride 1, rows that split into
 * aligned blocks. */
static bool dw3_conv(Q8 *e, const Layer *l)
{
    bool all;
    Shape o = l->shape;
    if (l->quant->kind != QK_CONV || l->groups <= 1 || l->groups != l->in[0]->shape.c || l->out != l->groups ||
        l->pad_mode != PM_ZEROS || l->dilation[0] != 1 || l->dilation[1] != 1 || l->pad[0] < 0 || l->pad[2] < 0 ||
        l->kernel[1] != 3 || l->stride[1] > 2 || !has_interior(l, &all) ||
        !folded_bias(l, mem_array(e->mem, (size_t)l->quant->nchan, sizeof(int64_t))) || !requant2_ok(l, true))
        return false;
    Dw3 g = dw3_of(l);
    if (l->stride[1] == 1 && o.w > DW3_ROW && o.w % 2)
        return false;
    return g.wr <= 64 && 4 * (g.hp * g.wr) <= 1020 * 64 && 4 * g.words <= PG_MAX_BYTES &&
           4 * ((l->kernel[0] - 1) * g.wr + g.pos + 1) <= 1020;
}

/* The scratch words of depthwise conv l's row kernel. */
static int64_t dw3_words(const Layer *l)
{
    return dw3_of(l).words;
}

/* Weights as they are and per channel {2 * bias, mult, ra, rshift}: the
 * depthwise row kernel and the four-channel linear kernel. */
static void emit_dw3_constants(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    const char *c = e->cname[l->index];
    emit(e, "/* %s: int8 weights, per-channel scales in the multipliers */", cw_comment_safe(e->mem, l->name));
    emit_i8(e, mem_printf(e->mem, "w_%s", c), qi->weight, weights_numel(l, 0));
    int64_t *k = mem_array(e->mem, (size_t)(4 * qi->nchan), sizeof *k);
    for (int64_t ch = 0; ch < qi->nchan; ch++) {
        k[4 * ch] = 2 * used_bias(l, ch, true);
        k[4 * ch + 1] = qi->mult[ch];
        k[4 * ch + 2] = requant2_ra(l, ch);
        k[4 * ch + 3] = -(int64_t)qi->shift[ch];
    }
    emit(e, "/* %s: per channel 2 * bias, multiplier, rounding and zero point, right shift */",
         cw_comment_safe(e->mem, l->name));
    emit_ints(e, "int32_t", mem_printf(e->mem, "k_%s", c), k, 4 * qi->nchan);
}

/* The row kernel's assembly (CNNC_Q_KERNEL_ASM) for one block: the
 * accumulators from the doubled bias, per kernel row its window words and
 * both weight words in LDRDs, per output an SMLAD and an SMLABT or
 * SMLATB, then each output's requantization and store. wv holds the
 * channel's weight words, then bias, multiplier, ra and shift. */
static void emit_dw3_asm(Q8 *e, int64_t kh, int64_t pos, int64_t wr, int64_t sx)
{
    int64_t n = sx == 1 ? (pos + 3) / 2 : pos + 1;
    long long kb = 8 * kh; /* byte offset of the constants in wv */
    fprintf(e->out, "#ifdef CNNC_Q_KERNEL_ASM\n");
    emit(e, "__asm__ volatile(");
    emit(e, "    \"ldr %%[a0], [%%[wv], #%lld]\\n\\t\"", kb);
    for (int64_t ky = 0; ky < kh; ky++) {
        emit(e, "    \"ldrd %%[w0], %%[w1], [%%[wv], #%lld]\\n\\t\"", (long long)(8 * ky));
        for (int64_t i = 0; i < n; i += 2) {
            if (i + 1 < n)
                emit(e, "    \"ldrd %%[d%lld], %%[d%lld], [%%[rp], #%lld]\\n\\t\"", (long long)i, (long long)i + 1,
                     (long long)(4 * (ky * wr + i)));
            else
                emit(e, "    \"ldr %%[d%lld], [%%[rp], #%lld]\\n\\t\"", (long long)i, (long long)(4 * (ky * wr + i)));
        }
        /* the first row's first MACs start from the bias in a0 (a0's own
         * last), which saves a copy of it per output */
        for (int64_t k = 0; k < pos; k++) {
            long long d = ky == 0 ? (k + 1) % pos : k, m = sx == 1 ? d / 2 : d, src = ky == 0 ? 0 : d;
            if (sx == 2 || d % 2 == 0)
                emit(e, "    \"smlad %%[a%lld], %%[d%lld], %%[w0], %%[a%lld]\\n\\t\"", d, m, src);
            else
                emit(e, "    \"smlatb %%[a%lld], %%[d%lld], %%[w0], %%[a%lld]\\n\\t\"", d, m, src);
        }
        for (int64_t d = 0; d < pos; d++) {
            long long m = sx == 1 ? d / 2 : d;
            if (sx == 2 || d % 2 == 0)
                emit(e, "    \"smlabt %%[a%lld], %%[d%lld], %%[w1], %%[a%lld]\\n\\t\"", (long long)d, m + 1, (long long)d);
            else
                emit(e, "    \"smlad %%[a%lld], %%[d%lld], %%[w1], %%[a%lld]\\n\\t\"", (long long)d, m + 1, (long long)d);
        }
    }
    /* requantization: w0 multiplier, w1 ra, d0 shift, d1 scratch */
    emit(e, "    \"ldrd %%[w0], %%[w1], [%%[wv], #%lld]\\n\\t\"", kb + 4);
    emit(e, "    \"ldr %%[d0], [%%[wv], #%lld]\\n\\t\"", kb + 12);
    for (int64_t d = 0; d < pos; d++) {
        emit(e, "    \"add %%[d1], %%[w1], %%[a%lld], asr #31\\n\\t\"", (long long)d);
        emit(e, "    \"smmlar %%[d1], %%[a%lld], %%[w0], %%[d1]\\n\\t\"", (long long)d);
        emit(e, "    \"asr %%[d1], %%[d1], %%[d0]\\n\\t\"");
        emit(e, "    \"ssat %%[d1], #8, %%[d1]\\n\\t\"");
        emit(e, "    \"strb %%[d1], [%%[yo], #%lld]\\n\\t\"", (long long)d);
    }
    char *outs = mem_strdup(e->mem, "    :");
    for (int64_t d = 0; d < pos; d++)
        outs = mem_printf(e->mem, "%s [a%lld] \"=&r\"(a%lld),", outs, (long long)d, (long long)d);
    for (int64_t i = 0; i < n; i++)
        outs = mem_printf(e->mem, "%s [d%lld] \"=&r\"(d%lld),", outs, (long long)i, (long long)i);
    emit(e, "%s", outs);
    emit(e, "      [w0] \"=&r\"(w0), [w1] \"=&r\"(w1)");
    emit(e, "    : [rp] \"r\"(rp), [wv] \"r\"(wv), [yo] \"r\"(yo)");
    emit(e, "    : \"memory\");");
}

/* Depthwise, 3 wide, stride 1: per channel the plane copied into a
 * zx-padded buffer of int16 pairs (its border written once), the
 * kernel's rows as doubled pairs (w0, w1) and (w1, w2); per block of
 * outputs along a row, output d's three taps of a kernel row are one
 * SMLAD on the aligned pair at d and one single MAC on the next pair's
 * half (even d), or the mirror (odd d): two instructions per three MACs,
 * each loaded word shared by two or three outputs. */
static void emit_conv_dw3(Q8 *e, const Layer *l)
{
    const char *c = e->cname[l->index];
    Shape in = l->in[0]->shape, o = l->shape;
    Dw3 g = dw3_of(l);
    long long pos = (long long)g.pos, wr = (long long)g.wr, hp = (long long)g.hp, nb = (long long)g.nb;
    long long kh = l->kernel[0], pt = l->pad[0], pl = l->pad[2], sx = l->stride[1], sy = l->stride[0];
    long long n = sx == 1 ? (pos + 3) / 2 : pos + 1, W = in.w, H = in.h;
    int zx = (int)in_zp(l, 0);
    emit(e, "uint32_t *pw = q, *wv = q + %lld, w0, w1;", hp * wr);
    char *decl = mem_strdup(e->mem, "uint32_t d0");
    for (long long i = 1; i < n; i++)
        decl = mem_printf(e->mem, "%s, d%lld", decl, i);
    emit(e, "%s;", decl);
    decl = mem_strdup(e->mem, "int32_t m, r, s, t, a0");
    for (long long d = 1; d < pos; d++)
        decl = mem_printf(e->mem, "%s, a%lld", decl, d);
    emit(e, "%s;", decl);
    emit(e, "const uint32_t *rp;");
    emit(e, "const int8_t *xr, *wc;");
    emit(e, "const int32_t *k;");
    emit(e, "int8_t *yo;");
    emit(e, "int c, i, oy, b, start;");
    emit(e, "(void)b;");
    emit(e, "(void)t;");
    emit(e, "for (i = 0; i < %lld; i++)", hp * (long long)wr);
    emit(e, "    pw[i] = cnnc_q_pack16(%d, %d);", zx, zx);
    emit(e, "for (c = 0; c < %lld; c++) {", (long long)o.c);
    /* input rows that land in the buffer */
    long long y0 = pt < 0 ? -pt : 0, y1 = H < hp - pt ? H : hp - pt;
    /* rows a few at a time: the loop's own instructions were a third of the copy's */
    long long ur = 1;
    for (long long f = 5; f > 1; f--)
        if (y1 > y0 && (y1 - y0) % f == 0) {
            ur = f;
            break;
        }
    emit(e, "for (i = %lld; i < %lld; i += %lld) {", y0, y1, ur);
    for (long long r = 0; r < ur; r++) {
        emit(e, "xr = x + c * %lld + (i + %lld) * %lld;", H * W, r, W);
        for (long long j = 0; j < wr; j++) {
            long long c0 = 2 * j - pl, c1 = 2 * j + 1 - pl;
            bool in0 = c0 >= 0 && c0 < W, in1 = c1 >= 0 && c1 < W;
            if (!in0 && !in1)
                continue;
            if (c0 >= 0 && c0 + 3 < W && j + 1 < wr) {
                emit(e, "cnnc_q_widen4(xr + %lld, pw + (i + %lld) * %lld + %lld);", c0, pt + r, (long long)wr, j);
                j++;
                continue;
            }
            emit(e, "pw[(i + %lld) * %lld + %lld] = cnnc_q_pack16(%s, %s);", pt + r, (long long)wr, j,
                 in0 ? mem_printf(e->mem, "xr[%lld]", c0) : mem_printf(e->mem, "%d", zx),
                 in1 ? mem_printf(e->mem, "xr[%lld]", c1) : mem_printf(e->mem, "%d", zx));
        }
    }
    emit(e, "}");
    emit(e, "wc = w_%s + c * %lld;", c, kh * 3);
    for (long long ky = 0; ky < kh; ky++) {
        emit(e, "wv[%lld] = cnnc_q_pack16(2 * wc[%lld], 2 * wc[%lld]);", 2 * ky, 3 * ky, 3 * ky + 1);
        emit(e, "wv[%lld] = cnnc_q_pack16(2 * wc[%lld], 2 * wc[%lld]);", 2 * ky + 1, 3 * ky + 1, 3 * ky + 2);
    }
    emit(e, "k = k_%s + c * 4;", c);
    emit(e, "m = k[1];");
    emit(e, "r = k[2];");
    emit(e, "s = k[3];");
    for (int i = 0; i < 4; i++)
        emit(e, "wv[%lld] = (uint32_t)k[%d];", 2 * kh + i, i);
    emit(e, "(void)m;");
    emit(e, "(void)r;");
    emit(e, "(void)s;");
    emit(e, "for (oy = 0; oy < %lld; oy++) {", (long long)o.h);
    if (nb > 1) {
        emit(e, "for (b = 0; b < %lld; b++) {", nb);
        emit(e, "start = b * 4 < %lld ? b * 4 : %lld;", (long long)o.w - 4, (long long)o.w - 4);
    } else
        emit(e, "start = 0;");
    emit(e, "rp = pw + oy * %lld + start%s;", sy * wr, sx == 1 ? " / 2" : "");
    emit(e, "yo = y + (c * %lld + oy) * %lld + start;", (long long)o.h, (long long)o.w);
    bool sat = l->quant->act_min == -128 && l->quant->act_max == 127;
    if (sat) {
        emit_dw3_asm(e, kh, pos, wr, sx);
        fprintf(e->out, "#else\n");
    }
    char *line = mem_strdup(e->mem, "");
    for (long long d = 0; d < pos; d++)
        line = mem_printf(e->mem, "%sa%lld = ", line, d);
    emit(e, "%sk[0];", line);
    for (long long ky = 0; ky < kh; ky++) {
        emit(e, "w0 = wv[%lld];", 2 * ky);
        emit(e, "w1 = wv[%lld];", 2 * ky + 1);
        for (long long i = 0; i < n; i++)
            emit(e, "d%lld = rp[%lld];", i, ky * (long long)wr + i);
        for (long long d = 0; d < pos; d++) {
            long long mm = sx == 1 ? d / 2 : d;
            if (sx == 2 || d % 2 == 0)
                emit(e, "a%lld = cnnc_q_smlabt(d%lld, w1, cnnc_q_smlad(d%lld, w0, a%lld));", d, mm + 1, mm, d);
            else
                emit(e, "a%lld = cnnc_q_smlad(d%lld, w1, cnnc_q_smlatb(d%lld, w0, a%lld));", d, mm + 1, mm, d);
        }
    }
    const char *acc[DW3_ROW];
    long long off[DW3_ROW];
    for (long long d = 0; d < pos; d++) {
        acc[d] = mem_printf(e->mem, "a%lld", d);
        off[d] = d;
    }
    emit_requant(e, l, acc, off, (int)pos, false);
    if (sat)
        fprintf(e->out, "#endif\n");
    if (nb > 1)
        emit(e, "}");
    emit(e, "}");
    emit(e, "}");
}

/* Conv, any groups, dilation and padding mode: acc = bias + sum of
 * w * (x - zx) over the taps inside (or folded inside). Outputs whose
 * window is wholly inside skip the checks and fold zx into the bias. */
static void emit_conv(Q8 *e, const Layer *l)
{
    Shape in = l->in[0]->shape, o = l->shape;
    const char *c = e->cname[l->index];
    long long cin = in.c / l->groups, cout = l->out / l->groups, kh = l->kernel[0], kw = l->kernel[1];
    bool all, inner = has_interior(l, &all);
    int64_t ylo, yhi, xlo, xhi;
    interior(l, 0, &ylo, &yhi);
    interior(l, 1, &xlo, &xhi);
    bool folded = inner && folded_bias(l, mem_array(e->mem, (size_t)l->quant->nchan, sizeof(int64_t)));
    emit(e, "int oc, oy, ox, ic, ky, kx%s;", all ? "" : ", iy, ix");
    emit(e, "int32_t acc;");
    emit(e, "for (oc = 0; oc < %lld; oc++) {", (long long)o.c);
    emit(e, "const int8_t *xg = x + (oc / %lld) * %lld;", cout, cin * (long long)(in.h * in.w));
    emit(e, "const int8_t *wc = w_%s + oc * %lld;", c, cin * kh * kw);
    emit(e, "for (oy = 0; oy < %lld; oy++) {", (long long)o.h);
    emit(e, "for (ox = 0; ox < %lld; ox++) {", (long long)o.w);
    if (all) {
        conv_interior(e, l, folded);
    } else if (inner) {
        emit(e, "if (oy >= %lld && oy < %lld && ox >= %lld && ox < %lld) {", (long long)ylo, (long long)yhi,
             (long long)xlo, (long long)xhi);
        conv_interior(e, l, folded);
        emit(e, "} else {");
        conv_border(e, l);
        emit(e, "}");
    } else {
        conv_border(e, l);
    }
    emit(e, "y[(oc * %lld + oy) * %lld + ox] = %s;", (long long)o.h, (long long)o.w, channel_out(e, l, "acc", "oc"));
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
}

/* Whether a linear layer takes the four-channel kernel: zx folded into
 * the bias and cnnc_q_requant2's constants. */
static bool linear4(const Layer *l)
{
    return l->quant->kind == QK_LINEAR && requant2_ok(l, true);
}

/* Linear, four output channels at a time: each word of four inputs is
 * split by SXTB16 and doubled once (SADD16), then meets each channel's
 * weight word in two SMLADs; zx folded into the doubled bias, one
 * rounding multiply per output. */
static void emit_linear4(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    const char *c = e->cname[l->index];
    long long n = (long long)l->in[0]->shape.c, n4 = n / 4 * 4, out = (long long)l->out;
    bool sat = qi->act_min == -128 && qi->act_max == 127;
    emit(e, "int o, i;");
    emit(e, "uint32_t xv, x02, x13, wv;");
    emit(e, "int32_t a0, a1, a2, a3;");
    emit(e, "const int8_t *wo;");
    for (int four = 1; four >= 0; four--) {
        int nc = four ? 4 : 1;
        if (four && out < 4)
            continue;
        if (!four && out % 4 == 0)
            break;
        if (four)
            emit(e, "for (o = 0; o < %lld; o += 4) {", out / 4 * 4);
        else
            emit(e, "for (o = %lld; o < %lld; o++) {", out / 4 * 4, out);
        emit(e, "wo = w_%s + o * %lld;", c, n);
        for (int ch = 0; ch < nc; ch++)
            emit(e, "a%d = k_%s[(o + %d) * 4];", ch, c, ch);
        emit(e, "for (i = 0; i < %lld; i += 4) {", n4);
        emit(e, "xv = cnnc_q_read4(x + i);");
        emit(e, "x02 = cnnc_q_sxtb16(xv);");
        emit(e, "x13 = cnnc_q_sxtb16_ror8(xv);");
        emit(e, "x02 = cnnc_q_sadd16(x02, x02);");
        emit(e, "x13 = cnnc_q_sadd16(x13, x13);");
        for (int ch = 0; ch < nc; ch++) {
            emit(e, "wv = cnnc_q_read4(wo + %lld + i);", ch * n);
            emit(e, "a%d = cnnc_q_smlad(x02, cnnc_q_sxtb16(wv), a%d);", ch, ch);
            emit(e, "a%d = cnnc_q_smlad(x13, cnnc_q_sxtb16_ror8(wv), a%d);", ch, ch);
        }
        emit(e, "}");
        if (n4 < n) {
            emit(e, "for (i = %lld; i < %lld; i++) {", n4, n);
            for (int ch = 0; ch < nc; ch++)
                emit(e, "a%d += 2 * (int32_t)x[i] * (int32_t)wo[%lld + i];", ch, ch * n);
            emit(e, "}");
        }
        for (int ch = 0; ch < nc; ch++) {
            const char *v = mem_printf(e->mem, "cnnc_q_requant2(a%d, k_%s[(o + %d) * 4 + 1], k_%s[(o + %d) * 4 + 2], "
                                               "k_%s[(o + %d) * 4 + 3])",
                                       ch, c, ch, c, ch, c, ch);
            emit(e, "y[o + %d] = (int8_t)%s;", ch,
                 sat ? mem_printf(e->mem, "cnnc_q_ssat8(%s)", v)
                     : mem_printf(e->mem, "cnnc_q_clamp(%s, %d, %d)", v, (int)qi->act_min, (int)qi->act_max));
        }
        emit(e, "}");
    }
    emit(e, "(void)a1;");
    emit(e, "(void)a2;");
    emit(e, "(void)a3;");
}

/* Linear: four multiply-adds at a time with the dual-MAC helper (SMLAD
 * on DSP cores), the input offset added to both halves at once. */
static void emit_linear(Q8 *e, const Layer *l)
{
    const char *c = e->cname[l->index];
    long long n = (long long)l->in[0]->shape.c, n4 = n / 4 * 4;
    int zx = (int)in_zp(l, 0);
    emit(e, "int o, i;");
    emit(e, "int32_t acc;");
    emit(e, "for (o = 0; o < %lld; o++) {", (long long)l->out);
    emit(e, "const int8_t *wo = w_%s + o * %lld;", c, n);
    emit(e, "acc = b_%s[o];", c);
    emit(e, "for (i = 0; i < %lld; i += 4)", n4);
    emit(e, "    acc = cnnc_q_dot4_offset(acc, wo + i, x + i, %d);", -zx);
    if (n4 < n) {
        emit(e, "for (i = %lld; i < %lld; i++)", n4, n);
        emit(e, "    acc += (int32_t)wo[i] * ((int32_t)x[i]%s);", minus(e, zx));
    }
    emit(e, "y[o] = %s;", channel_out(e, l, "acc", "o"));
    emit(e, "}");
}

/* Batchnorm left unfolded: one weight and bias per channel. */
static void emit_affine(Q8 *e, const Layer *l)
{
    const char *c = e->cname[l->index];
    long long hw = (long long)(l->shape.h * l->shape.w);
    emit(e, "int ch, i;");
    emit(e, "for (ch = 0; ch < %lld; ch++)", (long long)l->shape.c);
    emit(e, "    for (i = 0; i < %lld; i++)", hw);
    emit(e, "        y[ch * %lld + i] = %s;", hw,
         channel_out(e, l,
                     mem_printf(e->mem, "b_%s[ch] + (int32_t)w_%s[ch] * ((int32_t)x[ch * %lld + i]%s)", c, c, hw,
                                minus(e, in_zp(l, 0))),
                     "ch"));
}

/* Average pooling to 1x1 over whole rows (a global one, or a window of
 * the first rows): the window's n values of each plane, consecutive,
 * summed four at a time (one load and two SXTAB16 into 16-bit lanes on
 * DSP cores, the lanes added at the end; long windows one load, two
 * SXTB16 and two SMLADs), then divided rounding half away from zero. */
static void emit_global_avg(Q8 *e, const Layer *l, long long n)
{
    const QuantInfo *qi = l->quant;
    long long hw = (long long)(l->in[0]->shape.h * l->in[0]->shape.w), n4 = n / 4 * 4;
    emit(e, "int c, i;");
    emit(e, "int32_t sum;");
    emit(e, "uint32_t v, s02, s13;");
    emit(e, "const int8_t *xc;");
    emit(e, "for (c = 0; c < %lld; c++) {", (long long)l->shape.c);
    emit(e, "xc = x + c * %lld;", hw);
    emit(e, "sum = 0;");
    if (n4 <= 4 * 256) {
        /* 16-bit lanes (SXTAB16) hold the sum of up to 256 int8 each; unrolled
         * so that the loop's own instructions do not outnumber the sums' */
        long long u = 1, words = n4 / 4;
        for (long long f = 8; f > 1; f--)
            if (words % f == 0) {
                u = f;
                break;
            }
        emit(e, "s02 = s13 = 0;");
        emit(e, "for (i = 0; i < %lld; i += %lld) {", n4, 4 * u);
        for (long long k = 0; k < u; k++) {
            emit(e, "v = cnnc_q_read4(xc + i + %lld);", 4 * k);
            emit(e, "s02 = cnnc_q_sxtab16(s02, v);");
            emit(e, "s13 = cnnc_q_sxtab16_ror8(s13, v);");
        }
        emit(e, "}");
        emit(e, "sum = cnnc_q_smlad(s02, 0x00010001u, cnnc_q_smlad(s13, 0x00010001u, 0));");
    } else {
        emit(e, "for (i = 0; i < %lld; i += 4) {", n4);
        emit(e, "v = cnnc_q_read4(xc + i);");
        emit(e, "sum = cnnc_q_smlad(cnnc_q_sxtb16(v), 0x00010001u, sum);");
        emit(e, "sum = cnnc_q_smlad(cnnc_q_sxtb16_ror8(v), 0x00010001u, sum);");
        emit(e, "}");
        emit(e, "(void)s02;");
        emit(e, "(void)s13;");
    }
    if (n4 < n) {
        emit(e, "for (i = %lld; i < %lld; i++)", n4, n);
        emit(e, "    sum += xc[i];");
    }
    const char *v = mem_printf(e->mem, "cnnc_q_div_round(sum, %lld)", n);
    if (qi->act_min > -128 || qi->act_max < 127)
        v = mem_printf(e->mem, "cnnc_q_clamp(%s, %d, %d)", v, (int)qi->act_min, (int)qi->act_max);
    emit(e, "y[c] = (int8_t)%s;", v);
    emit(e, "}");
    emit(e, "(void)v;");
}

/* An imported mean: TFLM's MEAN of each channel's plane. */
static void emit_mean(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    long long hw = (long long)(l->in[0]->shape.h * l->in[0]->shape.w);
    emit(e, "int c;");
    emit(e, "for (c = 0; c < %lld; c++)", (long long)l->shape.c);
    emit(e, "    y[c] = cnnc_q_mean(x + c * %lld, %lld, 1, %ld, %ld, %ld, %d);", hw, hw, (long)qi->mean_bias,
         (long)qi->out_mult, (long)qi->out_shift, (int)qi->out.zero_point);
}

/* Window pools (a global one's window is the whole plane): max and min
 * compare int8 values, avg divides the sum rounding half away from zero,
 * sum requantizes the sum of (x - zx). Cells outside are skipped. */
static void emit_pool(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    Shape in = l->in[0]->shape, o = l->shape;
    bool global = l->op == OP_GLOBALAVGPOOL2D || l->op == OP_GLOBALMAXPOOL2D || l->op == OP_MEAN;
    long long kh = global ? in.h : l->kernel[0], kw = global ? in.w : l->kernel[1];
    long long sy = global ? 1 : l->stride[0], sx = global ? 1 : l->stride[1];
    long long dy = global ? 1 : l->dilation[0], dx = global ? 1 : l->dilation[1];
    long long pt = global ? 0 : l->pad[0], pb = global ? 0 : l->pad[1], pl = global ? 0 : l->pad[2],
              pr = global ? 0 : l->pad[3];
    bool cmp = qi->kind == QK_MAXPOOL || qi->kind == QK_MINPOOL;
    bool incl = qi->kind == QK_AVGPOOL && l->op == OP_AVGPOOL2D && l->count_include_pad;
    int zx = (int)in_zp(l, 0), zy = (int)qi->out.zero_point, lo = (int)qi->act_min, hi = (int)qi->act_max;
    if (qi->kind == QK_AVGPOOL && o.h == 1 && o.w == 1 && kw == in.w && kh <= in.h && pt == 0 && pb == 0 &&
        pl == 0 && pr == 0) {
        emit_global_avg(e, l, kh * kw);
        return;
    }
    emit(e, "int c, oy, ox, ky, kx, iy, ix%s;", qi->kind == QK_SUMPOOL ? "" : ", n");
    emit(e, "int32_t %s;", cmp ? "v, best" : incl ? "sum, count, y1, x1" : "sum");
    emit(e, "for (c = 0; c < %lld; c++) {", (long long)o.c);
    emit(e, "for (oy = 0; oy < %lld; oy++) {", (long long)o.h);
    emit(e, "for (ox = 0; ox < %lld; ox++) {", (long long)o.w);
    if (qi->kind != QK_SUMPOOL)
        emit(e, "n = 0;");
    emit(e, "%s = 0;", cmp ? "best" : "sum");
    emit(e, "for (ky = 0; ky < %lld; ky++) {", kh);
    emit(e, "iy = oy * %lld - %lld + ky * %lld;", sy, pt, dy);
    emit(e, "if (iy < 0 || iy >= %lld) continue;", (long long)in.h);
    emit(e, "for (kx = 0; kx < %lld; kx++) {", kw);
    emit(e, "ix = ox * %lld - %lld + kx * %lld;", sx, pl, dx);
    emit(e, "if (ix < 0 || ix >= %lld) continue;", (long long)in.w);
    const char *xv = mem_printf(e->mem, "x[(c * %lld + iy) * %lld + ix]", (long long)in.h, (long long)in.w);
    if (cmp) {
        emit(e, "v = %s;", xv);
        emit(e, "if (n == 0 || v %s best) best = v;", qi->kind == QK_MAXPOOL ? ">" : "<");
        emit(e, "n++;");
    } else if (qi->kind == QK_SUMPOOL) {
        emit(e, "sum += (int32_t)%s%s;", xv, minus(e, zx));
    } else {
        emit(e, "sum += %s;", xv);
        emit(e, "n++;");
    }
    emit(e, "}");
    emit(e, "}");
    const char *dst = mem_printf(e->mem, "y[(c * %lld + oy) * %lld + ox]", (long long)o.h, (long long)o.w);
    bool narrowed = lo > -128 || hi < 127;
    if (cmp) {
        const char *v = mem_printf(e->mem, "(n ? best : %d)", zy);
        if (narrowed)
            v = mem_printf(e->mem, "cnnc_q_clamp(%s, %d, %d)", v, lo, hi);
        emit(e, "%s = (int8_t)%s;", dst, v);
    } else if (qi->kind == QK_SUMPOOL) {
        emit(e, "%s = cnnc_q_output(sum, %d, %d, %d, %d, %d);", dst, (int)qi->out_mult, (int)qi->out_shift, zy, lo,
             hi);
    } else {
        const char *d = "n";
        if (incl) {
            emit(e, "y1 = oy * %lld - %lld + %lld < %lld ? oy * %lld - %lld + %lld : %lld;", sy, pt, kh,
                 (long long)in.h + pb, sy, pt, kh, (long long)in.h + pb);
            emit(e, "x1 = ox * %lld - %lld + %lld < %lld ? ox * %lld - %lld + %lld : %lld;", sx, pl, kw,
                 (long long)in.w + pr, sx, pl, kw, (long long)in.w + pr);
            emit(e, "count = (y1 - (oy * %lld - %lld)) * (x1 - (ox * %lld - %lld));", sy, pt, sx, pl);
            emit(e, "sum += (count - n) * %d;", zx);
            d = "count";
        }
        const char *v = mem_printf(e->mem, "(%s ? cnnc_q_div_round(sum, %s) : %d)", d, d, zy);
        if (narrowed)
            v = mem_printf(e->mem, "cnnc_q_clamp(%s, %d, %d)", v, lo, hi);
        emit(e, "%s = (int8_t)%s;", dst, v);
    }
    emit(e, "}");
    emit(e, "}");
    emit(e, "}");
}

/* Whether an add requantizes with cnnc_q_requant2 from doubled table
 * values: multiplier above 2^30, right shift 1..30, and the sum of the
 * largest terms and ra below 2^29. */
static bool add_requant2(const Layer *l)
{
    const QuantInfo *qi = l->quant;
    if (qi->out_mult <= (INT64_C(1) << 30) || qi->out_shift > -1 || qi->out_shift < -30)
        return false;
    int64_t r = -(int64_t)qi->out_shift, bound = 2;
    bound += ((int64_t)1 << (r - 1)) + 128 * ((int64_t)1 << r);
    for (int k = 0; k < l->nin; k++) {
        int64_t top = 0;
        for (int v = -128; v < 128; v++) {
            int64_t a = cnnc_q_add_term((int8_t)v, in_zp(l, k), qi->left_shift, qi->in_mult[k], qi->in_shift[k]);
            top = a < 0 ? (-a > top ? -a : top) : (a > top ? a : top);
        }
        bound += top;
    }
    return bound < (INT64_C(1) << 29);
}

/* Each input's term of an add as a table over its 256 values (doubled
 * when add_requant2 holds), computed with the runtime's own function. */
static void emit_add_constants(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    bool twice = add_requant2(l);
    int64_t v[256];
    emit(e, "/* %s: each input's rescaled term by its value + 128%s */", cw_comment_safe(e->mem, l->name),
         twice ? ", doubled" : "");
    for (int k = 0; k < l->nin; k++) {
        for (int i = 0; i < 256; i++)
            v[i] = (twice ? 2 : 1) * (int64_t)cnnc_q_add_term((int8_t)(i - 128), in_zp(l, k), qi->left_shift,
                                                               qi->in_mult[k], qi->in_shift[k]);
        emit_ints(e, "int32_t", mem_printf(e->mem, "t%d_%s", k, e->cname[l->index]), v, 256);
    }
}

/* TFLite's Add: each input's (x - z) << 20 at the common scale (a table
 * lookup), summed, requantized. */
static void emit_add(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    const char *c = e->cname[l->index];
    if (l->nin <= 4) {
        bool twice = add_requant2(l), sat = qi->act_min == -128 && qi->act_max == 127;
        emit(e, "int i;");
        emit(e, "int32_t acc;");
        emit(e, "for (i = 0; i < %lld; i++) {", (long long)numel(l->shape));
        for (int k = 0; k < l->nin; k++)
            emit(e, "acc %s t%d_%s[x%d[i] + 128];", k ? "+=" : "=", k, c, k);
        if (twice) {
            int64_t r = -(int64_t)qi->out_shift;
            const char *v = mem_printf(e->mem, "cnnc_q_requant2(acc, %d, %lld, %lld)", (int)qi->out_mult,
                                       (long long)(((int64_t)1 << (r - 1)) + qi->out.zero_point * ((int64_t)1 << r)),
                                       (long long)r);
            emit(e, "y[i] = (int8_t)%s;",
                 sat ? mem_printf(e->mem, "cnnc_q_ssat8(%s)", v)
                     : mem_printf(e->mem, "cnnc_q_clamp(%s, %d, %d)", v, (int)qi->act_min, (int)qi->act_max));
        } else
            emit(e, "y[i] = cnnc_q_output(acc, %d, %d, %d, %d, %d);", (int)qi->out_mult, (int)qi->out_shift,
                 (int)qi->out.zero_point, (int)qi->act_min, (int)qi->act_max);
        emit(e, "}");
        return;
    }
    emit(e, "int i;");
    emit(e, "int32_t acc;");
    emit(e, "for (i = 0; i < %lld; i++) {", (long long)numel(l->shape));
    for (int k = 0; k < l->nin; k++)
        emit(e, "acc %s cnnc_q_add_term(x%d[i], %d, %d, %d, %d);", k ? "+=" : "=", k, (int)in_zp(l, k),
             qi->left_shift, (int)qi->in_mult[k], (int)qi->in_shift[k]);
    emit(e, "y[i] = cnnc_q_output(acc, %d, %d, %d, %d, %d);", (int)qi->out_mult, (int)qi->out_shift,
         (int)qi->out.zero_point, (int)qi->act_min, (int)qi->act_max);
    emit(e, "}");
}

/* Inputs one after the other (CHW: along channels), requantized where
 * their params differ from the output's. */
static void emit_concat(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    int64_t off = 0;
    emit(e, "int i;");
    for (int k = 0; k < l->nin; k++) {
        long long n = (long long)numel(l->in[k]->shape);
        emit(e, "for (i = 0; i < %lld; i++)", n);
        if (qi->in_requant[k])
            emit(e, "    y[%lld + i] = cnnc_q_output((int32_t)x%d[i]%s, %d, %d, %d, -128, 127);", (long long)off, k,
                 minus(e, in_zp(l, k)), (int)qi->in_mult[k], (int)qi->in_shift[k], (int)qi->out.zero_point);
        else
            emit(e, "    y[%lld + i] = x%d[i];", (long long)off, k);
        off += n;
    }
}

/* TFLite's MUL: the product of the two offset inputs, requantized; a
 * Cx1x1 input (squeeze-excitation's gate) is read once per channel. */
static void emit_mul(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    long long hw = (long long)(l->shape.h * l->shape.w);
    const char *v[2];
    for (int k = 0; k < 2; k++) {
        Shape s = l->in[k]->shape;
        v[k] = mem_printf(e->mem, "((int32_t)x%d[%s]%s)", k, s.h * s.w == l->shape.h * l->shape.w ? "i" : "c",
                          minus(e, in_zp(l, k)));
    }
    emit(e, "int c, i;");
    emit(e, "for (c = 0; c < %lld; c++)", (long long)l->shape.c);
    emit(e, "    for (i = c * %lld; i < (c + 1) * %lld; i++)", hw, hw);
    emit(e, "        y[i] = cnnc_q_output(%s * %s, %d, %d, %d, %d, %d);", v[0], v[1], (int)qi->out_mult,
         (int)qi->out_shift, (int)qi->out.zero_point, (int)qi->act_min, (int)qi->act_max);
}

/* pad, nearest upsample, pixelshuffle: each output cell copies the input
 * cell it comes from (the params are the input's), or pad_q. */
static void emit_move(Q8 *e, const Layer *l)
{
    Shape in = l->in[0]->shape, s = l->shape;
    long long ih = (long long)in.h, iw = (long long)in.w;
    emit(e, "int c, oy, ox;");
    emit(e, "for (c = 0; c < %lld; c++)", (long long)s.c);
    emit(e, "    for (oy = 0; oy < %lld; oy++)", (long long)s.h);
    emit(e, "        for (ox = 0; ox < %lld; ox++) {", (long long)s.w);
    const char *idx = mem_printf(e->mem, "(c * %lld + oy) * %lld + ox", (long long)s.h, (long long)s.w);
    if (l->op == OP_UPSAMPLE) {
        emit(e, "y[%s] = x[(c * %lld + oy / %lld) * %lld + ox / %lld];", idx, ih, (long long)l->factor[0], iw,
             (long long)l->factor[1]);
    } else if (l->op == OP_PIXELSHUFFLE) {
        long long r = (long long)l->factor[0];
        emit(e, "y[%s] = x[((c * %lld + oy %% %lld * %lld + ox %% %lld) * %lld + oy / %lld) * %lld + ox / %lld];", idx,
             r * r, r, r, r, ih, r, iw, r);
    } else {
        emit(e, "int iy = oy - %lld, ix = ox - %lld;", (long long)l->pad[0], (long long)l->pad[2]);
        switch (l->pad_mode) {
        case PM_REFLECT:
            emit(e, "iy = iy < 0 ? -iy : (iy >= %lld ? %lld - iy : iy);", ih, 2 * (ih - 1));
            emit(e, "ix = ix < 0 ? -ix : (ix >= %lld ? %lld - ix : ix);", iw, 2 * (iw - 1));
            break;
        case PM_REPLICATE:
            emit(e, "iy = iy < 0 ? 0 : (iy >= %lld ? %lld : iy);", ih, ih - 1);
            emit(e, "ix = ix < 0 ? 0 : (ix >= %lld ? %lld : ix);", iw, iw - 1);
            break;
        case PM_CIRCULAR:
            emit(e, "iy = iy < 0 ? iy + %lld : (iy >= %lld ? iy - %lld : iy);", ih, ih, ih);
            emit(e, "ix = ix < 0 ? ix + %lld : (ix >= %lld ? ix - %lld : ix);", iw, iw, iw);
            break;
        case PM_ZEROS:
            emit(e, "if (iy < 0 || iy >= %lld || ix < 0 || ix >= %lld) {", ih, iw);
            emit(e, "y[%s] = %d;", idx, (int)l->quant->pad_q);
            emit(e, "continue;");
            emit(e, "}");
            break;
        }
        emit(e, "y[%s] = x[(c * %lld + iy) * %lld + ix];", idx, ih, iw);
    }
    emit(e, "}");
}

/* Relu, relu6 that could not fuse, the table ops and softmax. */
static void emit_elementwise(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    const char *c = e->cname[l->index];
    if (qi->kind == QK_SOFTMAX) {
        long long hw = (long long)(l->shape.h * l->shape.w);
        emit(e, "int p;");
        emit(e, "for (p = 0; p < %lld; p++)", hw);
        emit(e, "    cnnc_q_softmax_tflm(x + p, y + p, %lld, %lld, exp_%s);", (long long)l->shape.c, hw, c);
        return;
    }
    emit(e, "int i;");
    emit(e, "for (i = 0; i < %lld; i++)", (long long)numel(l->shape));
    if (qi->kind == QK_LUT)
        emit(e, "    y[i] = lut_%s[x[i] + 128];", c);
    else
        emit(e, "    y[i] = (int8_t)cnnc_q_clamp(x[i], %d, %d);", (int)qi->act_min, (int)qi->act_max);
}

/* One static function per stored tensor. */
static void emit_layer(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    const char *c = e->cname[l->index];
    Shape s = l->shape;
    emit(e, "/* %s: %s -> %lldx%lldx%lld, int8 scale %s zero point %d */", cw_comment_safe(e->mem, l->name),
         ir_op_name(l->op), (long long)s.c, (long long)s.h, (long long)s.w, flit(e, qi->out.scale),
         (int)qi->out.zero_point);
    bool multi = qi->kind == QK_ADD || qi->kind == QK_CONCAT || qi->kind == QK_MUL;
    char *params = mem_strdup(e->mem, "");
    for (int k = 0; k < (multi ? l->nin : 1); k++)
        params = mem_printf(e->mem, "%sconst int8_t *x%s, ", params, multi ? mem_printf(e->mem, "%d", k) : "");
    bool plane = plane_conv(e, l);
    if (gemm_conv(l) && !plane)
        emit_gather(e, l);
    bool dw3 = !plane && dw3_conv(e, l);
    emit(e, "static %svoid layer_%s(%sint8_t *y%s)", plane || dw3 ? "CNNC_Q_KERNEL " : "", c, params,
         plane || dw3 ? ", uint32_t *q" : "");
    emit(e, "{");
    switch (qi->kind) {
    case QK_CONV:
        if (plane)
            emit_conv_plane(e, l);
        else if (gemm_conv(l))
            emit_conv_gemm(e, l);
        else if (dw3_conv(e, l))
            emit_conv_dw3(e, l);
        else if (dw_conv(l))
            emit_conv_dw(e, l);
        else
            emit_conv(e, l);
        break;
    case QK_LINEAR:
        if (linear4(l))
            emit_linear4(e, l);
        else
            emit_linear(e, l);
        break;
    case QK_AFFINE: emit_affine(e, l); break;
    case QK_MAXPOOL:
    case QK_MINPOOL:
    case QK_AVGPOOL:
    case QK_SUMPOOL: emit_pool(e, l); break;
    case QK_ADD: emit_add(e, l); break;
    case QK_CONCAT: emit_concat(e, l); break;
    case QK_CLAMP:
    case QK_LUT:
    case QK_SOFTMAX: emit_elementwise(e, l); break;
    case QK_MEAN: emit_mean(e, l); break;
    case QK_MUL: emit_mul(e, l); break;
    case QK_GATHER: emit_move(e, l); break;
    case QK_QUANTIZE:
    case QK_IDENTITY:
    case QK_FUSED: unreachable();
    }
    emit(e, "}");
    emit(e, "%s", "");
}

/* ---- entry points ---- */

/* The type of the input and outputs the caller passes. */
static const char *io_type(const Q8 *e)
{
    return e->int8_io ? "int8_t" : "float";
}

/* The k-th output parameter: "output" when there is only one. */
static const char *output_name(Q8 *e, int k)
{
    return e->net->noutputs == 1 ? "output" : mem_printf(e->mem, "output%d", k);
}

/* ", float *output0, ..." for the prototypes and definitions alike. */
static const char *output_params(Q8 *e)
{
    char *s = mem_strdup(e->mem, "");
    for (int k = 0; k < e->net->noutputs; k++)
        s = mem_printf(e->mem, "%s, %s *%s", s, io_type(e), output_name(e, k));
    return s;
}

/* Quantize the input, run each kernel in schedule order, dequantize the outputs. */
static void emit_entry(Q8 *e)
{
    Net *net = e->net;
    const char *up = cw_upper(e->mem, net->name);
    const char *outs = output_params(e);
    const QuantInfo *iq = net->input->quant;
    emit(e, "void %s_run_arena(const %s *input%s, void *arena)", net->name, io_type(e), outs);
    emit(e, "{");
    emit(e, "int8_t *a = (int8_t *)arena;");
    bool loops = !e->int8_io || hwc_spatial(e, net->input); /* whether a copy at the edges needs i */
    for (int k = 0; k < net->noutputs; k++)
        loops = loops || e->direct[owner(net->outputs[k])->index] != k;
    if (loops)
        emit(e, "int i;");
    Shape is = net->input->shape;
    const char *from = hwc_spatial(e, net->input)
                           ? mem_printf(e->mem, "input[(i %% %lld) * %lld + i / %lld]", (long long)(is.h * is.w),
                                        (long long)is.c, (long long)(is.h * is.w))
                           : "input[i]";
    if (!e->int8_io || hwc_spatial(e, net->input))
        emit(e, "for (i = 0; i < %lld; i++)", (long long)numel(is));
    if (!e->int8_io)
        emit(e, "    a[%lld + i] = cnnc_q_quantize(%s, %s, %d);", (long long)e->offset[0], from,
             flit(e, iq->out.scale), (int)iq->out.zero_point);
    else if (hwc_spatial(e, net->input))
        emit(e, "    a[%lld + i] = %s;", (long long)e->offset[0], from);
    for (int i = 1; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        if (owner(l) != l)
            continue;
        bool multi = l->quant->kind == QK_ADD || l->quant->kind == QK_CONCAT || l->quant->kind == QK_MUL;
        char *args = mem_strdup(e->mem, "");
        for (int k = 0; k < (multi ? l->nin : 1); k++)
            args = mem_printf(e->mem, "%s%s, ", args, where(e, l->in[k]));
        const char *q = e->scratch[i] < 0 ? ""
                        : mem_printf(e->mem, ", (uint32_t *)(void *)(a + %lld)", (long long)e->scratch[i]);
        emit(e, "layer_%s(%s%s%s);", e->cname[i], args, where(e, l), q);
    }
    for (int k = 0; k < net->noutputs; k++) {
        const Layer *l = net->outputs[k];
        Shape os = l->shape;
        const char *to = hwc_spatial(e, l) ? mem_printf(e->mem, "%s[(i %% %lld) * %lld + i / %lld]", output_name(e, k),
                                                        (long long)(os.h * os.w), (long long)os.c,
                                                        (long long)(os.h * os.w))
                                           : mem_printf(e->mem, "%s[i]", output_name(e, k));
        if (e->direct[owner(l)->index] == k)
            continue; /* its kernel wrote it there */
        emit(e, "for (i = 0; i < %lld; i++)", (long long)numel(os));
        if (e->int8_io)
            emit(e, "    %s = (%s)[i];", to, where(e, l));
        else
            emit(e, "    %s = cnnc_q_dequantize((%s)[i], %s_OUTPUT%d_SCALE, %s_OUTPUT%d_ZERO_POINT);", to,
                 where(e, l), up, k, up, k);
    }
    if (e->arena == 0)
        emit(e, "(void)a;");
    emit(e, "}");
    emit(e, "%s", "");
    emit(e, "/* The arena of %s_run; %s_run_arena takes the caller's instead. */", net->name, net->name);
    emit(e, "static uint32_t %s_arena[%s_ARENA_BYTES >= 4 ? (%s_ARENA_BYTES + 3) / 4 : 1];", net->name, up, up);
    emit(e, "%s", "");
    emit(e, "void %s_run(const %s *input%s)", net->name, io_type(e), outs);
    emit(e, "{");
    char *args = mem_strdup(e->mem, "input");
    for (int k = 0; k < net->noutputs; k++)
        args = mem_printf(e->mem, "%s, %s", args, output_name(e, k));
    emit(e, "%s_run_arena(%s, %s_arena);", net->name, args, net->name);
    emit(e, "}");
}

/* The float back end's header, plus each edge tensor's int8 params. */
static void emit_header(Q8 *e, const char *path)
{
    Net *net = e->net;
    const char *up = cw_upper(e->mem, net->name);
    Shape in = net->input->shape;
    emit(e, "/* Generated by cnnc %s from %s: network %s, int8. Do not edit. */", CNNC_VERSION, path, net->name);
    emit(e, "#ifndef %s_H", up);
    emit(e, "#define %s_H", up);
    emit(e, "%s", "");
    if (e->int8_io) {
        emit(e, "#include <stdint.h>");
        emit(e, "%s", "");
        emit(e, "/* input '%s', int8 %s: real value = SCALE * (q - ZERO_POINT) */",
             cw_comment_safe(e->mem, net->input->name), net->hwc ? "HWC" : "CHW");
    } else
        emit(e, "/* input '%s', float32 %s, quantized to int8 inside */", cw_comment_safe(e->mem, net->input->name),
             net->hwc ? "HWC" : "CHW");
    emit(e, "#define %s_INPUT_C %lld", up, (long long)in.c);
    emit(e, "#define %s_INPUT_H %lld", up, (long long)in.h);
    emit(e, "#define %s_INPUT_W %lld", up, (long long)in.w);
    emit(e, "#define %s_INPUT_SIZE %lld", up, (long long)numel(in));
    emit(e, "#define %s_INPUT_SCALE %s", up, flit(e, net->input->quant->out.scale));
    emit(e, "#define %s_INPUT_ZERO_POINT %d", up, (int)net->input->quant->out.zero_point);
    for (int k = 0; k < net->noutputs; k++) {
        const Layer *l = net->outputs[k];
        emit(e, "/* output %d: '%s', %s, %s */", k, cw_comment_safe(e->mem, l->name), cw_shape(e->mem, l->shape),
             e->int8_io ? "int8" : "dequantized from int8");
        emit(e, "#define %s_OUTPUT%d_C %lld", up, k, (long long)l->shape.c);
        emit(e, "#define %s_OUTPUT%d_H %lld", up, k, (long long)l->shape.h);
        emit(e, "#define %s_OUTPUT%d_W %lld", up, k, (long long)l->shape.w);
        emit(e, "#define %s_OUTPUT%d_SIZE %lld", up, k, (long long)numel(l->shape));
        emit(e, "#define %s_OUTPUT%d_SCALE %s", up, k, flit(e, l->quant->out.scale));
        emit(e, "#define %s_OUTPUT%d_ZERO_POINT %d", up, k, (int)l->quant->out.zero_point);
    }
    emit(e, "#define %s_OUTPUT_C %s_OUTPUT0_C", up, up);
    emit(e, "#define %s_OUTPUT_H %s_OUTPUT0_H", up, up);
    emit(e, "#define %s_OUTPUT_W %s_OUTPUT0_W", up, up);
    emit(e, "#define %s_OUTPUT_SIZE %s_OUTPUT0_SIZE", up, up);
    emit(e, "#define %s_OUTPUT_SCALE %s_OUTPUT0_SCALE", up, up);
    emit(e, "#define %s_OUTPUT_ZERO_POINT %s_OUTPUT0_ZERO_POINT", up, up);
    emit(e, "/* scratch RAM for the int8 activations and the kernels' scratch, in bytes */");
    emit(e, "#define %s_ARENA_BYTES %lld", up, (long long)e->arena);
    const Q8Plan *p = e->plan;
    emit(e, "/* flash for the int8 constants, in bytes: weights, int32 biases, multipliers and shifts, tables */");
    emit(e, "#define %s_CONST_BYTES %lld", up, (long long)q8_constant_bytes(p));
    emit(e, "#define %s_CONST_WEIGHT_BYTES %lld", up, (long long)p->weights);
    emit(e, "#define %s_CONST_BIAS_BYTES %lld", up, (long long)p->biases);
    emit(e, "#define %s_CONST_MULT_BYTES %lld", up, (long long)p->multipliers);
    emit(e, "#define %s_CONST_TABLE_BYTES %lld", up, (long long)p->tables);
    emit(e, "%s", "");
    emit(e, "#ifdef __cplusplus");
    emit(e, "extern \"C\" {");
    emit(e, "#endif");
    emit(e, "%s", "");
    const char *outs = output_params(e);
    emit(e, "/* Runs the network on one %s %s input. Uses an internal static arena. */", net->hwc ? "HWC" : "CHW",
         e->int8_io ? "int8" : "float32");
    emit(e, "void %s_run(const %s *input%s);", net->name, io_type(e), outs);
    emit(e, "%s", "");
    emit(e, "/* Same, with scratch memory from the caller (%s_ARENA_BYTES, 4-byte aligned): re-entrant. */", up);
    emit(e, "void %s_run_arena(const %s *input%s, void *arena);", net->name, io_type(e), outs);
    emit(e, "%s", "");
    emit(e, "#ifdef __cplusplus");
    emit(e, "}");
    emit(e, "#endif");
    emit(e, "%s", "");
    emit(e, "#endif");
}

/* The banner: what produced this file, and every tensor's int8 params. */
static void emit_banner(Q8 *e, const char *path)
{
    emit(e, "/* Generated by cnnc %s (int8). Do not edit: regenerate from the model instead.", CNNC_VERSION);
    emit(e, " *");
    char *cmd = "";
    for (int i = 0; i < e->opt->argc; i++)
        cmd = mem_printf(e->mem, "%s%s%s", cmd, i ? " " : "", e->opt->argv[i]);
    emit(e, " * command:     %s", cw_comment_safe(e->mem, cmd));
    emit(e, " * source:      %s (network %s)", path, e->net->name);
    emit(e, " * weights:     %s", cw_comment_safe(e->mem, e->opt->weights_note ? e->opt->weights_note : "?"));
    emit(e, " * calibration: %s", cw_comment_safe(e->mem, e->calibration ? e->calibration : "?"));
    emit(e, " *");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        die("out of memory");
    quant_report(e->net, f);
    fclose(f);
    for (char *line = text, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = '\0';
        emit(e, " * %s", cw_comment_safe(e->mem, line));
    }
    free(text);
    emit(e, " */");
}

/* A plan with its per-layer arrays, zeroed. */
static Q8Plan *plan_new(Mem *m, int n)
{
    Q8Plan *p = mem_array(m, 1, sizeof *p);
    *p = (Q8Plan){0};
    p->tensor = mem_array(m, (size_t)n, sizeof *p->tensor);
    p->at = mem_array(m, (size_t)n, sizeof *p->at);
    p->scratch = mem_array(m, (size_t)n, sizeof *p->scratch);
    p->constants = mem_array(m, (size_t)n, sizeof *p->constants);
    for (int i = 0; i < n; i++)
        p->tensor[i] = p->scratch[i] = p->constants[i] = 0, p->at[i] = -1;
    return p;
}

int64_t q8_constant_bytes(const Q8Plan *p)
{
    return p->weights + p->biases + p->multipliers + p->tables;
}

/* The constants, kernels and entry points: written first (to count the
 * constants the header states), then placed after the banner. */
static void emit_body(Q8 *e)
{
    Net *net = e->net;
    for (int i = 1; i < net->nlayers; i++) {
        e->at = i;
        emit_constants(e, net->layers[i]);
    }
    emit(e, "%s", "");
    for (int i = 1; i < net->nlayers; i++)
        if (owner(net->layers[i]) == net->layers[i])
            emit_layer(e, net->layers[i]);
    emit_entry(e);
}

/* Plans and writes the body into memory; the plan in net->q8. NULL
 * (after reporting) when the net cannot be emitted. */
static char *emit_plan_body(Q8 *e, size_t *len)
{
    if (!emit_fits(e->diag, e->net))
        return NULL;
    for (int i = 0; i < e->net->nlayers; i++)
        if (!e->net->layers[i]->quant)
            die("internal error: emitting int8 code for '%s' before quant_calibrate", e->net->layers[i]->name);
    e->plan = plan_new(e->mem, e->net->nlayers);
    make_names(e);
    place(e);
    char *text = NULL;
    e->out = open_memstream(&text, len);
    if (!e->out)
        die("out of memory");
    emit_body(e);
    if (fclose(e->out) != 0)
        die("out of memory");
    e->net->q8 = e->plan;
    return text;
}

const Q8Plan *emit_q8_plan(Mem *m, Diag *d, Net *net, const EmitOptions *opt, bool int8_io)
{
    Q8 e = {.mem = m, .diag = d, .net = net, .opt = opt, .int8_io = int8_io};
    size_t len;
    char *text = emit_plan_body(&e, &len);
    free(text);
    return text ? e.plan : NULL;
}

/* The header first, so that the C file can name its macros. */
void emit_q8_c(Mem *m, Diag *d, Net *net, const EmitOptions *opt, const char *calibration, bool int8_io,
               FILE *c_out, FILE *h_out)
{
    Q8 e = {.mem = m, .diag = d, .net = net, .opt = opt, .calibration = calibration, .int8_io = int8_io};
    size_t len;
    char *body = emit_plan_body(&e, &len);
    if (!body)
        return;
    const char *path = cw_comment_safe(m, d->path);

    e.out = h_out;
    emit_header(&e, path);

    e.out = c_out;
    emit_banner(&e, path);
    emit(&e, "#include \"%s\"", opt->header_name);
    emit(&e, "#include \"cnnc_q8.h\"");
    emit(&e, "%s", "");
    fwrite(body, 1, len, c_out);
    free(body);
}

Q8Arena emit_q8_arena(Mem *m, Net *net, bool int8_io)
{
    Q8 e = {.mem = m, .net = net, .int8_io = int8_io};
    e.plan = plan_new(m, net->nlayers);
    place(&e);
    Q8Arena qa = {e.offset, e.scratch, mem_array(m, (size_t)net->nlayers, sizeof(int64_t)), e.last, e.arena};
    for (int i = 0; i < net->nlayers; i++)
        qa.scratch_bytes[i] = e.plan->scratch[i];
    return qa;
}
