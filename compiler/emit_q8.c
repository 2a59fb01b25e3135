/* emit_q8.c: the int8 back end. It writes the float back end's API
 * (NAME_run and NAME_run_arena over float input and outputs) around int8
 * inference: the input is quantized at the edge, every layer runs one of
 * runtime/cnnc_q8.h's kernels on int8 tensors with the constants of
 * Layer.quant (compiler/quant.c), and the outputs are dequantized.
 *
 * The kernels are plain loops with constant bounds, one static function
 * per stored tensor, so that the generated code is easy to check against
 * the formulas at the top of cnnc_q8.h (tests/quantref is the oracle).
 * Folded batchnorms and fused relus cost nothing (their layer's clamp);
 * flatten and dropout rename their input's buffer. Tensors share one
 * arena of int8 buffers placed by liveness. */
#include "cnnc.h"

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
    int64_t arena;      /* bytes */
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

/* s with every comment closer broken up, for quoting user text in comments. */
static const char *comment_safe(Mem *m, const char *s)
{
    char *t = mem_strdup(m, s);
    for (char *p = t; (p = strstr(p, "*/")); p++)
        *p = '+';
    return t;
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

/* Offsets by liveness: a tensor lives from the step that writes it to the
 * last step that reads it (the end for outputs), and takes the lowest
 * place free of every tensor whose life overlaps its own. Reader and
 * writer of one step never share bytes, so kernels need not care about
 * aliasing. */
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
    Slot *busy = mem_array(e->mem, (size_t)n, sizeof *busy);
    e->arena = 0;
    for (int i = 0; i < n; i++) {
        const Layer *l = net->layers[i];
        e->offset[i] = -1;
        if (owner(l) != l || (i == 0 && e->int8_io))
            continue; /* int8 input is read where the caller keeps it */
        int nbusy = 0;
        for (int j = 0; j < i; j++)
            if (e->offset[j] >= 0 && last[j] >= i)
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

/* Where tensor l lives while the network runs. */
static const char *where(Q8 *e, const Layer *l)
{
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

/* A table of integers, sixteen to a line. */
static void emit_ints(Q8 *e, const char *type, const char *name, const int64_t *v, int64_t n)
{
    emit(e, "static const %s %s[%lld] = {", type, name, (long long)n);
    char line[512];
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        o += (size_t)snprintf(line + o, sizeof line - o, "%lld%s", (long long)v[i], i + 1 < n ? "," : "");
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

/* Softmax's exp table, whose entries use all 32 bits. */
static void emit_u32(Q8 *e, const char *name, const uint32_t *v, int64_t n)
{
    int64_t *w = mem_array(e->mem, (size_t)n, sizeof *w);
    for (int64_t i = 0; i < n; i++)
        w[i] = v[i];
    emit_ints(e, "uint32_t", name, w, n);
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
        emit_shifts(e, l);
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
         comment_safe(e->mem, l->name), GEMM_OCB);
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
        if (gemm_conv(l)) {
            emit_gemm_constants(e, l);
            return;
        }
        emit(e, "/* %s: int8 weights, per-channel scales folded into the multipliers */",
             comment_safe(e->mem, l->name));
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
    } else if (qi->kind == QK_LUT) {
        emit(e, "/* %s: y = lut[x + 128] */", comment_safe(e->mem, l->name));
        emit_i8(e, mem_printf(e->mem, "lut_%s", c), qi->lut, 256);
    } else if (qi->kind == QK_SOFTMAX) {
        emit(e, "/* %s: e^(-scale * d) with %d fraction bits */", comment_safe(e->mem, l->name), qi->exp_bits);
        emit_u32(e, mem_printf(e->mem, "exp_%s", c), qi->exp_lut, 256);
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
    emit(e, "/* %s: one window, gathered as int16 */", comment_safe(e->mem, l->name));
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

/* Window pools (a global one's window is the whole plane): max and min
 * compare int8 values, avg divides the sum rounding half away from zero,
 * sum requantizes the sum of (x - zx). Cells outside are skipped. */
static void emit_pool(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    Shape in = l->in[0]->shape, o = l->shape;
    bool global = l->op == OP_GLOBALAVGPOOL2D || l->op == OP_GLOBALMAXPOOL2D;
    long long kh = global ? in.h : l->kernel[0], kw = global ? in.w : l->kernel[1];
    long long sy = global ? 1 : l->stride[0], sx = global ? 1 : l->stride[1];
    long long dy = global ? 1 : l->dilation[0], dx = global ? 1 : l->dilation[1];
    long long pt = global ? 0 : l->pad[0], pb = global ? 0 : l->pad[1], pl = global ? 0 : l->pad[2],
              pr = global ? 0 : l->pad[3];
    bool cmp = qi->kind == QK_MAXPOOL || qi->kind == QK_MINPOOL;
    bool incl = qi->kind == QK_AVGPOOL && l->op == OP_AVGPOOL2D && l->count_include_pad;
    int zx = (int)in_zp(l, 0), zy = (int)qi->out.zero_point, lo = (int)qi->act_min, hi = (int)qi->act_max;
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

/* TFLite's Add: each input's (x - z) << 20 at the common scale, summed, requantized. */
static void emit_add(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
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

/* Relu, relu6 that could not fuse, the table ops and softmax. */
static void emit_elementwise(Q8 *e, const Layer *l)
{
    const QuantInfo *qi = l->quant;
    const char *c = e->cname[l->index];
    if (qi->kind == QK_SOFTMAX) {
        long long hw = (long long)(l->shape.h * l->shape.w);
        emit(e, "int p;");
        emit(e, "for (p = 0; p < %lld; p++)", hw);
        emit(e, "    cnnc_q_softmax(x + p, y + p, %lld, %lld, exp_%s);", (long long)l->shape.c, hw, c);
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
    emit(e, "/* %s: %s -> %lldx%lldx%lld, int8 scale %s zero point %d */", comment_safe(e->mem, l->name),
         ir_op_name(l->op), (long long)s.c, (long long)s.h, (long long)s.w, flit(e, qi->out.scale),
         (int)qi->out.zero_point);
    bool multi = qi->kind == QK_ADD || qi->kind == QK_CONCAT;
    char *params = mem_strdup(e->mem, "");
    for (int k = 0; k < (multi ? l->nin : 1); k++)
        params = mem_printf(e->mem, "%sconst int8_t *x%s, ", params, multi ? mem_printf(e->mem, "%d", k) : "");
    if (gemm_conv(l))
        emit_gather(e, l);
    emit(e, "static void layer_%s(%sint8_t *y)", c, params);
    emit(e, "{");
    switch (qi->kind) {
    case QK_CONV:
        if (gemm_conv(l))
            emit_conv_gemm(e, l);
        else if (dw_conv(l))
            emit_conv_dw(e, l);
        else
            emit_conv(e, l);
        break;
    case QK_LINEAR: emit_linear(e, l); break;
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
    case QK_QUANTIZE:
    case QK_IDENTITY:
    case QK_FUSED: unreachable();
    }
    emit(e, "}");
    emit(e, "%s", "");
}

/* ---- entry points ---- */

/* The macros' prefix: the network name in capitals, as emit.c makes it. */
static const char *upper(Mem *m, const char *s)
{
    char *u = mem_strdup(m, s);
    for (char *p = u; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return u;
}

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
    const char *up = upper(e->mem, net->name);
    const char *outs = output_params(e);
    const QuantInfo *iq = net->input->quant;
    emit(e, "void %s_run_arena(const %s *input%s, void *arena)", net->name, io_type(e), outs);
    emit(e, "{");
    emit(e, "int8_t *a = (int8_t *)arena;");
    emit(e, "int i;");
    if (!e->int8_io) {
        emit(e, "for (i = 0; i < %lld; i++)", (long long)numel(net->input->shape));
        emit(e, "    a[%lld + i] = cnnc_q_quantize(input[i], %s, %d);", (long long)e->offset[0],
             flit(e, iq->out.scale), (int)iq->out.zero_point);
    }
    for (int i = 1; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        if (owner(l) != l)
            continue;
        bool multi = l->quant->kind == QK_ADD || l->quant->kind == QK_CONCAT;
        char *args = mem_strdup(e->mem, "");
        for (int k = 0; k < (multi ? l->nin : 1); k++)
            args = mem_printf(e->mem, "%s%s, ", args, where(e, l->in[k]));
        emit(e, "layer_%s(%s%s);", e->cname[i], args, where(e, l));
    }
    for (int k = 0; k < net->noutputs; k++) {
        const Layer *l = net->outputs[k];
        emit(e, "for (i = 0; i < %lld; i++)", (long long)numel(l->shape));
        if (e->int8_io)
            emit(e, "    %s[i] = (%s)[i];", output_name(e, k), where(e, l));
        else
            emit(e, "    %s[i] = cnnc_q_dequantize((%s)[i], %s_OUTPUT%d_SCALE, %s_OUTPUT%d_ZERO_POINT);",
                 output_name(e, k), where(e, l), up, k, up, k);
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

/* CxHxW, as the reports write shapes. */
static const char *shape_text(Mem *m, Shape s)
{
    return mem_printf(m, "%lldx%lldx%lld", (long long)s.c, (long long)s.h, (long long)s.w);
}

/* The float back end's header, plus each edge tensor's int8 params. */
static void emit_header(Q8 *e, const char *path)
{
    Net *net = e->net;
    const char *up = upper(e->mem, net->name);
    Shape in = net->input->shape;
    emit(e, "/* Generated by cnnc %s from %s: network %s, int8. Do not edit. */", CNNC_VERSION, path, net->name);
    emit(e, "#ifndef %s_H", up);
    emit(e, "#define %s_H", up);
    emit(e, "%s", "");
    if (e->int8_io) {
        emit(e, "#include <stdint.h>");
        emit(e, "%s", "");
        emit(e, "/* input '%s', int8 CHW: real value = SCALE * (q - ZERO_POINT) */",
             comment_safe(e->mem, net->input->name));
    } else
        emit(e, "/* input '%s', float32 CHW, quantized to int8 inside */", comment_safe(e->mem, net->input->name));
    emit(e, "#define %s_INPUT_C %lld", up, (long long)in.c);
    emit(e, "#define %s_INPUT_H %lld", up, (long long)in.h);
    emit(e, "#define %s_INPUT_W %lld", up, (long long)in.w);
    emit(e, "#define %s_INPUT_SIZE %lld", up, (long long)numel(in));
    emit(e, "#define %s_INPUT_SCALE %s", up, flit(e, net->input->quant->out.scale));
    emit(e, "#define %s_INPUT_ZERO_POINT %d", up, (int)net->input->quant->out.zero_point);
    for (int k = 0; k < net->noutputs; k++) {
        const Layer *l = net->outputs[k];
        emit(e, "/* output %d: '%s', %s, %s */", k, comment_safe(e->mem, l->name), shape_text(e->mem, l->shape),
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
    emit(e, "/* scratch RAM for the int8 activations, in bytes */");
    emit(e, "#define %s_ARENA_BYTES %lld", up, (long long)e->arena);
    emit(e, "%s", "");
    emit(e, "#ifdef __cplusplus");
    emit(e, "extern \"C\" {");
    emit(e, "#endif");
    emit(e, "%s", "");
    const char *outs = output_params(e);
    emit(e, "/* Runs the network on one CHW %s input. Uses an internal static arena. */",
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
    emit(e, " * command:     %s", comment_safe(e->mem, cmd));
    emit(e, " * source:      %s (network %s)", path, e->net->name);
    emit(e, " * weights:     %s", comment_safe(e->mem, e->opt->weights_note ? e->opt->weights_note : "?"));
    emit(e, " * calibration: %s", comment_safe(e->mem, e->calibration ? e->calibration : "?"));
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
        emit(e, " * %s", comment_safe(e->mem, line));
    }
    free(text);
    emit(e, " */");
}

/* The header first, so that the C file can name its macros. */
void emit_q8_c(Mem *m, Diag *d, Net *net, const EmitOptions *opt, const char *calibration, bool int8_io,
               FILE *c_out, FILE *h_out)
{
    Q8 e = {.mem = m, .diag = d, .net = net, .opt = opt, .calibration = calibration, .int8_io = int8_io};
    if (!emit_fits(d, net))
        return;
    for (int i = 0; i < net->nlayers; i++)
        if (!net->layers[i]->quant)
            die("internal error: emitting int8 code for '%s' before quant_calibrate", net->layers[i]->name);
    const char *path = comment_safe(m, d->path);
    make_names(&e);
    place(&e);

    e.out = h_out;
    emit_header(&e, path);

    e.out = c_out;
    emit_banner(&e, path);
    emit(&e, "#include \"%s\"", opt->header_name);
    emit(&e, "#include \"cnnc_q8.h\"");
    emit(&e, "%s", "");
    for (int i = 1; i < net->nlayers; i++)
        emit_constants(&e, net->layers[i]);
    emit(&e, "%s", "");
    for (int i = 1; i < net->nlayers; i++)
        if (owner(net->layers[i]) == net->layers[i])
            emit_layer(&e, net->layers[i]);
    emit_entry(&e);
}
