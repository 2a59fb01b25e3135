/* analyze.c: what each layer computes, before any code exists. Shapes
 * follow PyTorch's output-size rules, counts follow torchvision/fvcore,
 * and receptive fields follow Araujo et al. (Distill 2019). Every size
 * is checked for overflow, since model files come from anywhere. */
#include "cnnc.h"

#include <string.h>

/* The state of one analysis: where errors go. */
typedef struct Checker {
    Diag *diag;
    Layer *layer; /* being analysed, for overflow messages */
    bool overflow;
} Checker;

/* a*b, or a flagged overflow (reported once per layer). */
static int64_t mul(Checker *c, int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        c->overflow = true;
        return 0;
    }
    return r;
}

static int64_t add(Checker *c, int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        c->overflow = true;
        return 0;
    }
    return r;
}

static const char *shape_str(Shape s, char *buf, size_t len)
{
    snprintf(buf, len, "%lldx%lldx%lld", (long long)s.c, (long long)s.h, (long long)s.w);
    return buf;
}

/* TF/Keras 'same': out = ceil(in/stride), the extra padding at the end. */
static void same_padding(Checker *c, int64_t in, int64_t keff, int64_t stride, int64_t *lo, int64_t *hi)
{
    int64_t out = in / stride + (in % stride != 0);
    int64_t total = add(c, mul(c, out - 1, stride), keff - in);
    if (total < 0)
        total = 0;
    *lo = total / 2;
    *hi = total - *lo;
}

/* One axis of a windowed op: PyTorch's output size, -1 when the window
 * does not fit. ceil_mode rounds the window count up (so a window larger
 * than a short input still gives one output, as PyTorch's pools do) but
 * keeps a last window only if it starts inside the input or the left
 * padding. */
static int64_t window_out(Checker *c, int64_t in, int64_t lo, int64_t hi, int64_t keff, int64_t stride, bool ceil)
{
    int64_t span = add(c, add(c, in, lo), hi);
    int64_t num = span - keff; /* may be negative under ceil_mode */
    if (!ceil)
        return num < 0 ? -1 : num / stride + 1;
    int64_t up = num + stride - 1;
    int64_t out = (up >= 0 ? up / stride : -((-up + stride - 1) / stride)) + 1;
    if (out > 1 && mul(c, out - 1, stride) >= add(c, in, lo))
        out--;
    return out < 1 ? -1 : out;
}

/* Resolves padding, checks the window fits, sets the output's H and W. */
static bool window_shape(Checker *c, Layer *l, Shape in)
{
    int64_t ins[2] = {in.h, in.w}, outs[2];
    for (int a = 0; a < 2; a++) {
        int64_t keff = add(c, mul(c, l->dilation[a], l->kernel[a] - 1), 1);
        int64_t *lo = &l->pad[2 * a], *hi = &l->pad[2 * a + 1];
        if (l->pad_rule == PAD_SAME)
            same_padding(c, ins[a], keff, l->stride[a], lo, hi);
        else if (l->pad_rule == PAD_VALID)
            *lo = *hi = 0;
        outs[a] = window_out(c, ins[a], *lo, *hi, keff, l->stride[a], l->ceil_mode);
        if (c->overflow)
            return false;
        if (outs[a] < 1) {
            char buf[64];
            Loc at = l->given & (1u << KEY_KERNEL) ? l->key_loc[KEY_KERNEL] : l->loc;
            diag_error(c->diag, at,
                       "kernel %lldx%lld%s does not fit the %s input of '%s' padded to %lldx%lld; "
                       "use a smaller kernel or more padding",
                       (long long)l->kernel[0], (long long)l->kernel[1],
                       l->dilation[0] > 1 || l->dilation[1] > 1 ? " (dilated)" : "", shape_str(in, buf, sizeof buf),
                       l->name, (long long)(in.h + l->pad[0] + l->pad[1]), (long long)(in.w + l->pad[2] + l->pad[3]));
            return false;
        }
    }
    /* PyTorch's limit, applied to each side of asymmetric padding too:
     * beyond it a pool could have windows with no input cell at all. */
    bool pool = l->op != OP_CONV2D;
    if (pool && l->pad_rule == PAD_EXPLICIT &&
        (l->pad[0] > l->kernel[0] / 2 || l->pad[1] > l->kernel[0] / 2 || l->pad[2] > l->kernel[1] / 2 ||
         l->pad[3] > l->kernel[1] / 2)) {
        char pads[96];
        if (l->pad[0] == l->pad[1] && l->pad[2] == l->pad[3])
            snprintf(pads, sizeof pads, "%lldx%lld", (long long)l->pad[0], (long long)l->pad[2]);
        else
            snprintf(pads, sizeof pads, "%lld,%lld,%lld,%lld", (long long)l->pad[0], (long long)l->pad[1],
                     (long long)l->pad[2], (long long)l->pad[3]);
        diag_error(c->diag, l->key_loc[KEY_PADDING],
                   "%s padding %s is more than half the kernel %lldx%lld, which PyTorch rejects", ir_op_name(l->op),
                   pads, (long long)l->kernel[0], (long long)l->kernel[1]);
        return false;
    }
    if (l->pad_mode == PM_REFLECT || l->pad_mode == PM_CIRCULAR) {
        bool reflect = l->pad_mode == PM_REFLECT;
        for (int a = 0; a < 2; a++) {
            int64_t most = l->pad[2 * a] > l->pad[2 * a + 1] ? l->pad[2 * a] : l->pad[2 * a + 1];
            if (reflect ? most >= ins[a] : most > ins[a]) {
                diag_error(c->diag, l->key_loc[KEY_PADDING_MODE],
                           "%s padding of %lld needs an input %s than %lld along %s, but '%s' gets %lld",
                           reflect ? "reflect" : "circular", (long long)most, reflect ? "larger" : "no smaller",
                           (long long)most, a ? "W" : "H", l->name, (long long)ins[a]);
                return false;
            }
        }
    }
    l->shape.h = outs[0];
    l->shape.w = outs[1];
    return true;
}

static bool conv_shape(Checker *c, Layer *l, Shape in)
{
    if (in.c % l->groups || l->out % l->groups) {
        diag_error(c->diag, l->key_loc[KEY_GROUPS],
                   "groups=%lld must divide both the input channels (%lld) and out (%lld) of '%s'",
                   (long long)l->groups, (long long)in.c, (long long)l->out, l->name);
        return false;
    }
    if (!window_shape(c, l, in))
        return false;
    l->shape.c = l->out;
    int64_t per_out = mul(c, mul(c, in.c / l->groups, l->kernel[0]), l->kernel[1]);
    l->params = add(c, mul(c, l->out, per_out), l->bias ? l->out : 0);
    l->macs = mul(c, mul(c, mul(c, l->shape.c, l->shape.h), l->shape.w), per_out);
    l->weight_floats = l->params;
    return true;
}

static bool linear_shape(Checker *c, Layer *l, Shape in)
{
    if (in.h != 1 || in.w != 1) {
        char buf[64];
        diag_error(c->diag, l->loc,
                   "linear '%s' needs a flattened input (Nx1x1), but '%s' is %s; add 'flatten' before it", l->name,
                   l->in[0]->name, shape_str(in, buf, sizeof buf));
        return false;
    }
    l->shape = (Shape){l->out, 1, 1};
    l->params = add(c, mul(c, in.c, l->out), l->bias ? l->out : 0);
    l->macs = mul(c, in.c, l->out);
    l->weight_floats = l->params;
    return true;
}

/* add needs equal shapes, concat equal H and W. */
static bool multi_shape(Checker *c, Layer *l)
{
    Shape first = l->in[0]->shape;
    int64_t channels = 0;
    for (int i = 0; i < l->nin; i++) {
        Shape s = l->in[i]->shape;
        bool same = l->op == OP_ADD ? s.c == first.c && s.h == first.h && s.w == first.w
                                    : s.h == first.h && s.w == first.w;
        if (!same) {
            char a[64], b[64];
            diag_error(c->diag, l->in_loc[i], "%s '%s': '%s' is %s but '%s' is %s; %s", ir_op_name(l->op), l->name,
                       l->in[i]->name, shape_str(s, a, sizeof a), l->in[0]->name, shape_str(first, b, sizeof b),
                       l->op == OP_ADD ? "add needs equal shapes" : "concat needs equal H and W");
            return false;
        }
        channels = add(c, channels, s.c);
    }
    l->shape = first;
    if (l->op == OP_CONCAT)
        l->shape.c = channels;
    return true;
}

/* mul: equal shapes, or a Cx1x1 gate of the same channels on either side
 * (squeeze-excitation), broadcast over H and W as PyTorch broadcasts. */
static bool mul_shape(Checker *c, Layer *l)
{
    Shape a = l->in[0]->shape, b = l->in[1]->shape;
    bool same = a.c == b.c && a.h == b.h && a.w == b.w;
    if (same || (b.c == a.c && b.h == 1 && b.w == 1)) {
        l->shape = a;
        return true;
    }
    if (a.c == b.c && a.h == 1 && a.w == 1) {
        l->shape = b;
        return true;
    }
    char sa[64], sb[64];
    diag_error(c->diag, l->in_loc[1],
               "mul '%s': '%s' is %s but '%s' is %s; mul needs equal shapes or a Cx1x1 gate with the same channels",
               l->name, l->in[0]->name, shape_str(a, sa, sizeof sa), l->in[1]->name, shape_str(b, sb, sizeof sb));
    return false;
}

/* The input of a mul that is broadcast over H and W, or NULL. */
static const Layer *mul_gate(const Layer *l)
{
    for (int i = 0; i < 2; i++) {
        Shape s = l->in[i]->shape;
        if (s.h == 1 && s.w == 1 && (l->shape.h != 1 || l->shape.w != 1))
            return l->in[i];
    }
    return NULL;
}

/* pad: the padded size; reflect and circular need an input larger than
 * (reflect) or at least as large as (circular) the padding, as F.pad. */
static bool pad_shape(Checker *c, Layer *l, Shape in)
{
    int64_t ins[2] = {in.h, in.w};
    for (int a = 0; a < 2; a++) {
        int64_t most = l->pad[2 * a] > l->pad[2 * a + 1] ? l->pad[2 * a] : l->pad[2 * a + 1];
        bool reflect = l->pad_mode == PM_REFLECT;
        if ((reflect && most >= ins[a]) || (l->pad_mode == PM_CIRCULAR && most > ins[a])) {
            diag_error(c->diag, l->key_loc[KEY_PADDING],
                       "%s padding of %lld needs an input %s than %lld along %s, but '%s' gets %lld",
                       reflect ? "reflect" : "circular", (long long)most, reflect ? "larger" : "no smaller",
                       (long long)most, a ? "W" : "H", l->name, (long long)ins[a]);
            return false;
        }
    }
    l->shape.h = add(c, add(c, in.h, l->pad[0]), l->pad[1]);
    l->shape.w = add(c, add(c, in.w, l->pad[2]), l->pad[3]);
    return true;
}

/* convtranspose2d: out = (in - 1)*stride - pad_lo - pad_hi + dilation*(kernel - 1)
 * + output_padding + 1 per axis, as nn.ConvTranspose2d. Parameters
 * in * out/groups * kH * kW (+ out); MACs as fvcore counts a transposed
 * conv: every weight once per input pixel. */
static bool convtranspose_shape(Checker *c, Layer *l, Shape in)
{
    if (in.c % l->groups || l->out % l->groups) {
        diag_error(c->diag, l->key_loc[KEY_GROUPS],
                   "groups=%lld must divide both the input channels (%lld) and out (%lld) of '%s'",
                   (long long)l->groups, (long long)in.c, (long long)l->out, l->name);
        return false;
    }
    int64_t ins[2] = {in.h, in.w}, outs[2];
    for (int a = 0; a < 2; a++) {
        if (l->out_pad[a] >= l->stride[a] && l->out_pad[a] >= l->dilation[a]) {
            diag_error(c->diag, l->key_loc[KEY_OUTPUT_PADDING],
                       "output_padding %lld must be smaller than the stride (%lld) or the dilation (%lld), as in "
                       "PyTorch", (long long)l->out_pad[a], (long long)l->stride[a], (long long)l->dilation[a]);
            return false;
        }
        int64_t full = add(c, add(c, mul(c, ins[a] - 1, l->stride[a]), mul(c, l->dilation[a], l->kernel[a] - 1)),
                           add(c, l->out_pad[a], 1));
        outs[a] = full - l->pad[2 * a] - l->pad[2 * a + 1];
        if (c->overflow)
            return false;
        if (outs[a] < 1) {
            diag_error(c->diag, l->key_loc[KEY_PADDING],
                       "padding %lld,%lld leaves no output along %s of '%s' (the full output is %lld)",
                       (long long)l->pad[2 * a], (long long)l->pad[2 * a + 1], a ? "W" : "H", l->name,
                       (long long)full);
            return false;
        }
    }
    l->shape = (Shape){l->out, outs[0], outs[1]};
    int64_t per_in = mul(c, mul(c, l->out / l->groups, l->kernel[0]), l->kernel[1]);
    l->params = add(c, mul(c, in.c, per_in), l->bias ? l->out : 0);
    l->macs = mul(c, mul(c, mul(c, in.c, per_in), in.h), in.w);
    l->weight_floats = l->params;
    return true;
}

/* pixelshuffle r: C*r*r x H x W to C x H*r x W*r, as nn.PixelShuffle. */
static bool pixelshuffle_shape(Checker *c, Layer *l, Shape in)
{
    int64_t r = l->factor[0], rr = mul(c, r, r);
    if (c->overflow)
        return false;
    if (in.c % rr) {
        char buf[64];
        diag_error(c->diag, l->key_loc[KEY_FACTOR],
                   "pixelshuffle factor=%lld needs channels divisible by %lld, but '%s' is %s", (long long)r,
                   (long long)rr, l->in[0]->name, shape_str(in, buf, sizeof buf));
        return false;
    }
    l->shape = (Shape){in.c / rr, mul(c, in.h, r), mul(c, in.w, r)};
    return true;
}

/* The layer's output shape and counts; false after reporting an error. */
static bool layer_shape(Checker *c, Layer *l)
{
    Shape in = l->in[0]->shape;
    l->shape = in;
    if (l->one_d && in.h != 1) {
        char buf[64];
        diag_error(c->diag, l->loc, "%s '%s' needs a CxL input (a 1-D network), but '%s' is %s", ir_layer_op(l),
                   l->name, l->in[0]->name, shape_str(in, buf, sizeof buf));
        return false;
    }
    switch (l->op) {
    case OP_CONV2D: return conv_shape(c, l, in);
    case OP_MAXPOOL2D:
    case OP_MINPOOL2D:
    case OP_AVGPOOL2D:
    case OP_SUMPOOL2D: return window_shape(c, l, in);
    case OP_GLOBALAVGPOOL2D:
    case OP_GLOBALMAXPOOL2D:
    case OP_MEAN: l->shape.h = l->shape.w = 1; return true;
    case OP_LINEAR: return linear_shape(c, l, in);
    case OP_FLATTEN: l->shape = (Shape){mul(c, mul(c, in.c, in.h), in.w), 1, 1}; return true;
    case OP_BATCHNORM2D:
        l->params = 2 * in.c;
        l->weight_floats = 2 * in.c; /* scale and shift, unless folded */
        return true;
    case OP_ADD:
    case OP_CONCAT: return multi_shape(c, l);
    case OP_MUL: return mul_shape(c, l);
    case OP_PAD: return pad_shape(c, l, in);
    case OP_UPSAMPLE:
        l->shape.h = mul(c, in.h, l->factor[0]);
        l->shape.w = mul(c, in.w, l->factor[1]);
        return true;
    case OP_PIXELSHUFFLE: return pixelshuffle_shape(c, l, in);
    case OP_CONVTRANSPOSE2D: return convtranspose_shape(c, l, in);
    case OP_PRELU:
        if (l->num_parameters != 1 && l->num_parameters != in.c) {
            diag_error(c->diag, l->key_loc[KEY_NUM_PARAMETERS],
                       "prelu '%s' has %lld slopes but its input has %lld channels; give num_parameters=1 or %lld",
                       l->name, (long long)l->num_parameters, (long long)in.c, (long long)in.c);
            return false;
        }
        l->params = l->weight_floats = l->num_parameters;
        return true;
    case OP_SILU:
    case OP_GELU:
    case OP_ELU:
    case OP_HARDTANH:
    case OP_RELU:
    case OP_RELU6:
    case OP_SIGMOID:
    case OP_TANH:
    case OP_HARDSWISH:
    case OP_HARDSIGMOID:
    case OP_LEAKYRELU:
    case OP_SOFTMAX:
    case OP_DROPOUT: return true;
    case OP_INPUT:
    case OP_COUNT: break;
    }
    unreachable();
}

static int64_t gcd(int64_t a, int64_t b)
{
    a = a < 0 ? -a : a;
    b = b < 0 ? -b : b;
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The field in lowest terms, so equal fields compare equal. */
static Field reduced(Field f)
{
    int64_t g = gcd(gcd(gcd(f.size, f.jump), f.start2), f.den);
    if (g > 1)
        f = (Field){f.size / g, f.jump / g, f.start2 / g, f.den / g};
    return f;
}

/* A field with f times the denominator, same values: an upsampling
 * layer's output pixels are f per input pixel, so its jump is
 * jump_prev / f, exactly. */
static Field finer(Checker *c, Field p, int64_t f)
{
    return (Field){mul(c, p.size, f), p.jump, mul(c, p.start2, f), mul(c, p.den, f)};
}

/* Fields through the resampling layers, on PyTorch's half-pixel grid:
 * output pixel i of an axis scaled by f sits at input coordinate
 * (i + 0.5)/f - 0.5 (nearest, bilinear, pixelshuffle), or at
 * i*(in - 1)/(out - 1) with align_corners. So jump is the exact grid
 * spacing (jump_prev/f, or jump_prev*(in - 1)/(out - 1)), start the grid
 * position of output 0, and rf grows by the neighbours an output reads:
 * bilinear one more jump_prev (when f > 1). pad only shifts the start by its low side.
 * A transposed conv is the conv recurrence run backwards: outputs
 * jump_prev/stride apart, output 0 at (pad - (k_eff - 1)/2)/stride input
 * steps, each reached from taps spanning (k_eff - 1)/stride input steps. */
static void resample_field(Checker *c, Layer *l)
{
    Shape in = l->in[0]->shape;
    int64_t ins[2] = {in.h, in.w}, outs[2] = {l->shape.h, l->shape.w};
    for (int a = 0; a < 2; a++) {
        Field p = l->in[0]->rf[a];
        int64_t jump_prev = p.jump; /* in units of 1/den */
        if (l->op == OP_PAD) {
            p.start2 = add(c, p.start2, mul(c, mul(c, -2, l->pad[2 * a]), p.jump));
        } else if (l->op == OP_CONVTRANSPOSE2D) {
            int64_t reach = mul(c, l->dilation[a], l->kernel[a] - 1);
            p = finer(c, p, l->stride[a]);
            p.size = add(c, p.size, mul(c, reach, jump_prev));
            p.start2 = add(c, p.start2, mul(c, add(c, mul(c, 2, l->pad[2 * a]), -reach), jump_prev));
        } else if (l->op == OP_UPSAMPLE && l->align_corners) {
            if (outs[a] > 1) { /* output 0 and input 0 coincide */
                int64_t steps = outs[a] - 1;
                p = finer(c, p, steps);
                p.jump = mul(c, jump_prev, ins[a] - 1);
                p.size = add(c, p.size, mul(c, jump_prev, steps));
            }
        } else {
            int64_t f = l->factor[a];
            p = finer(c, p, f);
            p.start2 = add(c, p.start2, mul(c, 1 - f, jump_prev));
            if (l->op == OP_UPSAMPLE && l->bilinear && f > 1)
                p.size = add(c, p.size, mul(c, jump_prev, f));
        }
        l->rf[a] = reduced(p);
    }
}

/* A field's value as a double, for messages. */
static double fv(int64_t v, const Field *f, int two)
{
    return (double)v / (double)(two * f->den);
}

/* Receptive field of the layer's output, from its inputs' fields. */
static void layer_field(Checker *c, Layer *l, Shape net_in)
{
    Diag *d = c->diag;
    const Layer *src = l->in[0];
    /* A squeeze-excitation gate scales each channel by one number: it
     * neither moves nor widens the window, so the field is the gated
     * tensor's (the gate's own global view is not counted). */
    const Layer *gate = l->op == OP_MUL ? mul_gate(l) : NULL;
    if (gate) {
        src = l->in[0] == gate ? l->in[1] : l->in[0];
        l->rf_global = src->rf_global;
        l->rf[0] = src->rf[0];
        l->rf[1] = src->rf[1];
        return;
    }
    bool global = false;
    for (int i = 0; i < l->nin; i++)
        global |= l->in[i]->rf_global;
    if (global || (ir_ops[l->op].flags & OPF_GLOBAL)) {
        l->rf_global = true;
        l->rf[0] = (Field){net_in.h, 0, 0, 1};
        l->rf[1] = (Field){net_in.w, 0, 0, 1};
        return;
    }
    if (ir_ops[l->op].flags & OPF_WINDOW) {
        for (int a = 0; a < 2; a++) {
            Field p = src->rf[a];
            int64_t reach = mul(c, l->dilation[a], l->kernel[a] - 1); /* k_eff - 1 */
            l->rf[a].size = add(c, p.size, mul(c, reach, p.jump));
            l->rf[a].jump = mul(c, p.jump, l->stride[a]);
            l->rf[a].start2 = add(c, p.start2, mul(c, add(c, reach, mul(c, -2, l->pad[2 * a])), p.jump));
            l->rf[a].den = p.den;
            l->rf[a] = reduced(l->rf[a]);
        }
        return;
    }
    if (l->op == OP_PAD || l->op == OP_UPSAMPLE || l->op == OP_PIXELSHUFFLE || l->op == OP_CONVTRANSPOSE2D) {
        resample_field(c, l);
        return;
    }
    if (l->op == OP_ADD || l->op == OP_CONCAT || l->op == OP_MUL) {
        /* The largest field wins; misaligned inputs are worth a warning. */
        for (int a = 0; a < 2; a++) {
            l->rf[a] = src->rf[a];
            for (int i = 1; i < l->nin; i++) {
                Field f = l->in[i]->rf[a], best = l->rf[a];
                if ((double)f.size / (double)f.den > (double)best.size / (double)best.den)
                    l->rf[a] = f;
            }
        }
        for (int i = 1; i < l->nin; i++) {
            const Layer *o = l->in[i];
            const Field *a0 = &o->rf[0], *a1 = &o->rf[1], *b0 = &src->rf[0], *b1 = &src->rf[1];
            if (a0->jump == b0->jump && a1->jump == b1->jump && a0->start2 == b0->start2 &&
                a1->start2 == b1->start2 && a0->den == b0->den && a1->den == b1->den)
                continue;
            diag_warning(d, l->in_loc[i],
                         "inputs of %s '%s' are not aligned: '%s' has jump %gx%g start %g,%g but '%s' has "
                         "jump %gx%g start %g,%g; the receptive field is not centred",
                         ir_op_name(l->op), l->name, o->name, fv(a0->jump, a0, 1), fv(a1->jump, a1, 1),
                         fv(a0->start2, a0, 2), fv(a1->start2, a1, 2), src->name, fv(b0->jump, b0, 1),
                         fv(b1->jump, b1, 1), fv(b0->start2, b0, 2), fv(b1->start2, b1, 2));
            break;
        }
        return;
    }
    l->rf[0] = src->rf[0];
    l->rf[1] = src->rf[1];
}

/* A batchnorm right after a conv that nothing else reads is folded into
 * it: its scale and shift become the conv's weights and bias. */
static void fold_batchnorm(Layer *l)
{
    if (l->op != OP_BATCHNORM2D)
        return;
    Layer *conv = l->in[0];
    if (conv->op != OP_CONV2D || conv->nusers != 1 || conv->is_output)
        return;
    l->fold_into = conv;
    l->weight_floats = conv->bias ? 0 : conv->out; /* a conv without bias gains one */
}

void analyze(Net *net, Diag *d)
{
    Checker c = {.diag = d};
    Layer *input = net->input;
    if (!input || !input->ok)
        return;
    input->rf[0] = input->rf[1] = (Field){1, 1, 0, 1};
    Shape net_in = input->shape;
    if (mul(&c, mul(&c, mul(&c, net_in.c, net_in.h), net_in.w), 4) == 0 && c.overflow) {
        diag_error(d, input->loc, "input size overflows");
        return;
    }
    for (int i = 1; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        bool ready = l->nin > 0 && !l->broken;
        for (int j = 0; j < l->nin; j++)
            ready &= l->in[j]->ok;
        if (!ready)
            continue; /* its error is already reported upstream */
        c.layer = l;
        c.overflow = false;
        bool ok = layer_shape(&c, l);
        if (ok) {
            /* plan() and the emitter may then use bytes unchecked */
            mul(&c, mul(&c, mul(&c, l->shape.c, l->shape.h), l->shape.w), (int64_t)sizeof(float));
            layer_field(&c, l, net_in);
        }
        if (c.overflow) {
            diag_error(d, l->name_loc, "sizes of '%s' overflow 64-bit arithmetic; the model is far too large", l->name);
            ok = false;
        }
        l->ok = ok;
        fold_batchnorm(l);
    }
    /* Totals: overflow here needs absurd but individually valid layers.
     * A layer with errors has said so already and is left out. */
    c.overflow = false;
    int64_t floats = 0;
    for (int i = 0; i < net->nlayers; i++) {
        Layer *l = net->layers[i];
        if (!l->ok)
            continue;
        net->params = add(&c, net->params, l->params);
        net->macs = add(&c, net->macs, l->macs);
        floats = add(&c, floats, l->weight_floats);
    }
    net->weight_bytes = mul(&c, floats, (int64_t)sizeof(float));
    if (c.overflow)
        diag_error(d, net->name_loc, "total parameters or MACs of '%s' overflow 64-bit arithmetic", net->name);
    /* Every sum plan() makes (live bytes, arena offsets) is at most the
     * bytes of all tensors together, so checking that keeps plan() exact. */
    c.overflow = false;
    int64_t tensors = 0;
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i]->ok)
            tensors = add(&c, tensors, ir_bytes(net->layers[i]->shape));
    if (c.overflow)
        diag_error(d, net->name_loc,
                   "activations of '%s' total more bytes than 64-bit arithmetic holds; the model is far too large",
                   net->name);
}
