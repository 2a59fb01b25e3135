/* svg.c: the report as a picture (--report=svg). Three panels, drawn
 * from what analyze(), fuse() and plan() (or the int8 back end's
 * placement) already computed:
 *   the layer graph: a box per layer (name, op, shape, params, MACs) in
 *     columns read top to bottom, left to right, wrapped so that a
 *     150-layer network fits 1600 px; every input edge a line, so
 *     branches and merges show; fused groups shaded alike;
 *   the arena timeline: a bar per buffer, from the step that writes it
 *     to the last that reads it, at its arena offset; fused groups
 *     shaded; the step with the most live bytes marked with its bytes
 *     and the layers alive there;
 *   the receptive field of the last feature map drawn over the input:
 *     the centres of its positions (start, jump) and the windows (size)
 *     of its first and middle positions.
 * No JavaScript and no CSS: attributes only, so every renderer agrees. */
#include "cnnc.h"

#include <stdlib.h>
#include <string.h>

enum {
    MAX_WIDTH = 1600, /* what the picture must fit */
    MIN_WIDTH = 960,  /* so a small model's timeline is still readable */
    MARGIN = 16,
    BOX_W = 172,
    BOX_H = 44,
    COL_GAP = 24, /* room for the skip edges beside a column */
    ROW_GAP = 14,
    MAX_COLS = 8,
    MIN_ROWS = 6,
    TIMELINE_H = 240,
    AXIS_W = 80,
    RF_BOX = 300,
};

/* Fills of fused groups, alternating so that neighbours differ. */
static const char *const group_fill[2] = {"#dbeafe", "#dcfce7"};
/* Bars of the timeline, by buffer. */
static const char *const bar_fill[8] = {"#60a5fa", "#f59e0b", "#34d399", "#f472b6",
                                        "#a78bfa", "#f87171", "#2dd4bf", "#facc15"};

/* One arena buffer as the timeline draws it. */
typedef struct Bar {
    int64_t offset, bytes;
    int first, last;   /* schedule steps, inclusive */
    const Layer *holder; /* the layer whose tensor it holds first, for labels */
    bool scratch;      /* int8 kernel scratch, live during one step */
    int buf;           /* plan()'s buffer id; -1 for the int8 back end's (one tensor each) */
} Bar;

/* The state of one picture. */
typedef struct Svg {
    Mem *mem;
    const Net *net;
    FILE *out;
    int width;
    int rows, cols;  /* of the layer graph */
    Bar *bars;
    int nbars;
    int64_t arena;
    const char *arena_kind; /* "float32" or "int8" */
    const char *arena_note; /* why an int8 model shows the float plan, or "" */
    int *group, *group_end; /* find_groups() */
} Svg;

/* Text content or an attribute value: layer names are identifiers, but
 * the output stays well-formed XML whatever a name holds. */
static void put_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                fputc(*s, out);
        }
    }
}

/* A line of text at x, y. anchor is "start", "middle" or "end". */
static void text_at(Svg *s, double x, double y, int size, const char *anchor, const char *weight, const char *str)
{
    fprintf(s->out, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\"%s%s%s>", x, y, size, anchor,
            weight ? " font-weight=\"" : "", weight ? weight : "", weight ? "\"" : "");
    put_text(s->out, str);
    fputs("</text>\n", s->out);
}

static const char *thousands(Svg *s, int64_t n)
{
    char buf[32];
    return mem_strdup(s->mem, report_thousands(n, buf, sizeof buf));
}

/* The groups drawn shaded: per layer the index of its group's first
 * layer, -1 alone; group_end per first layer, its last. The float back
 * end's are fuse()'s; the int8 back end's, the layers whose tensor one
 * kernel computes (a folded batchnorm, a relu in the clamp). */
static void find_groups(Svg *s, bool int8)
{
    const Net *net = s->net;
    int n = net->nlayers;
    s->group = mem_array(s->mem, (size_t)n, sizeof *s->group);
    s->group_end = mem_array(s->mem, (size_t)n, sizeof *s->group_end);
    for (int i = 0; i < n; i++) {
        const Layer *l = net->layers[i], *head = l;
        if (int8 && l->quant && l->quant->kind == QK_FUSED)
            head = l->quant->fused_into;
        else if (!int8 && l->host)
            head = l->host;
        s->group[i] = head->index;
        s->group_end[i] = i;
        if (head != l)
            s->group_end[head->index] = i;
    }
    for (int i = 0; i < n; i++)
        if (s->group[i] == i && s->group_end[i] == i)
            s->group[i] = -1;
}

/* ---- the layer graph ---- */

static double box_x(const Svg *s, int i)
{
    return MARGIN + (i / s->rows) * (BOX_W + COL_GAP);
}

static double box_y(const Svg *s, int top, int i)
{
    return top + (i % s->rows) * (BOX_H + ROW_GAP);
}

/* Rows per column: enough columns to fit the width, never a column so
 * short that a small model becomes one wide row. */
static void graph_layout(Svg *s)
{
    int n = s->net->nlayers;
    s->rows = (n + MAX_COLS - 1) / MAX_COLS;
    if (s->rows < MIN_ROWS)
        s->rows = n < MIN_ROWS ? n : MIN_ROWS;
    s->cols = (n + s->rows - 1) / s->rows;
    int w = 2 * MARGIN + s->cols * BOX_W + (s->cols - 1) * COL_GAP;
    s->width = w < MIN_WIDTH ? MIN_WIDTH : w > MAX_WIDTH ? MAX_WIDTH : w;
}

/* One input edge: straight down to the next box of the column, otherwise
 * a curve out of the producer's right side into the consumer's (same
 * column: a bulge into the gap; a later column: across). */
static void edge(Svg *s, int top, int from, int to)
{
    double fx = box_x(s, from), fy = box_y(s, top, from), tx = box_x(s, to), ty = box_y(s, top, to);
    int fc = from / s->rows, tc = to / s->rows;
    if (fc == tc && to == from + 1) {
        fprintf(s->out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", fx + BOX_W / 2.0, fy + BOX_H,
                tx + BOX_W / 2.0, ty);
        return;
    }
    double y1 = fy + BOX_H / 2.0 + 6, y2 = ty + BOX_H / 2.0 - 6;
    if (fc == tc) {
        int span = to - from;
        double bulge = fx + BOX_W + 4 + (span < 8 ? span : 8) * 2;
        fprintf(s->out, "<path d=\"M%.1f %.1f C%.1f %.1f %.1f %.1f %.1f %.1f\"/>\n", fx + BOX_W, y1, bulge, y1, bulge,
                y2, fx + BOX_W, y2);
        return;
    }
    double mid = (fx + BOX_W + tx) / 2.0;
    fprintf(s->out, "<path d=\"M%.1f %.1f C%.1f %.1f %.1f %.1f %.1f %.1f\"/>\n", fx + BOX_W, y1, mid, y1, mid, y2, tx,
            y2);
}

/* A layer's box: name, op and shape, params and MACs; its group's fill. */
static void box(Svg *s, int top, const Layer *l, int *group_no)
{
    double x = box_x(s, l->index), y = box_y(s, top, l->index);
    const char *fill = "#ffffff";
    if (s->group[l->index] >= 0) {
        if (s->group[l->index] == l->index)
            ++*group_no;
        fill = group_fill[*group_no % 2];
    }
    fprintf(s->out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" rx=\"4\" fill=\"%s\" stroke=\"#334155\"%s/>\n",
            x, y, BOX_W, BOX_H, fill, l->is_output ? " stroke-width=\"2.5\"" : "");
    text_at(s, x + 6, y + 13, 11, "start", "bold", l->name);
    text_at(s, x + 6, y + 26, 10, "start", NULL, mem_printf(s->mem, "%s  %s", ir_layer_op(l), cw_shape(s->mem, l->shape)));
    if (l->index > 0) {
        const char *counts = mem_printf(s->mem, "%s params  %s MACs", thousands(s, l->params), thousands(s, l->macs));
        text_at(s, x + 6, y + 39, strlen(counts) > 29 ? 9 : 10, "start", NULL, counts);
    }
    else
        text_at(s, x + 6, y + 39, 10, "start", NULL, "input");
}

/* Draws the graph below top; returns where the next panel starts. */
static int graph_panel(Svg *s, int top)
{
    const Net *net = s->net;
    text_at(s, MARGIN, top + 14, 14, "start", "bold",
            mem_printf(s->mem, "layers: %d (read down the columns; shaded alike: one fused group; thick: an output)",
                       net->nlayers - 1));
    top += 26;
    fputs("<g id=\"edges\" fill=\"none\" stroke=\"#64748b\" stroke-width=\"1.2\">\n", s->out);
    for (int i = 1; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        for (int k = 0; k < l->nin; k++)
            edge(s, top, l->in[k]->index, i);
    }
    fputs("</g>\n", s->out);
    int group_no = 0;
    for (int i = 0; i < net->nlayers; i++)
        box(s, top, net->layers[i], &group_no);
    return top + s->rows * (BOX_H + ROW_GAP) + 10;
}

/* ---- the arena ---- */

/* The layer whose tensor bar b holds at step t: the latest written
 * into its buffer by then (an elementwise op overwrites its input). */
static const Layer *holder_at(const Svg *s, const Bar *b, int t)
{
    const Layer *h = b->holder;
    for (int i = 0; i < s->net->nlayers && b->buf >= 0; i++) {
        const Layer *l = s->net->layers[i];
        int step = l->host ? l->host->tail->index : 0;
        if (l->buf == b->buf && step <= t)
            h = l;
    }
    return h;
}

/* The float plan's buffers: those of plan() that live in the arena (an
 * output's buffer is the caller's array and holds no layer). */
static void float_bars(Svg *s)
{
    const Net *net = s->net;
    s->bars = mem_array(s->mem, (size_t)net->nbufs + 1, sizeof *s->bars);
    for (int b = 0; b < net->nbufs; b++) {
        const Layer *holder = NULL;
        for (int i = 0; i < net->nlayers && !holder; i++)
            if (net->layers[i]->buf == b)
                holder = net->layers[i];
        if (holder)
            s->bars[s->nbars++] = (Bar){net->buf_offset[b], net->buf_bytes[b], net->buf_first[b], net->buf_last[b],
                                        holder, false, b};
    }
    s->arena = net->arena_bytes;
    s->arena_kind = "float32";
}

/* The int8 back end's placement: a tensor per stored layer, scratch for
 * the kernels that take it. */
static void int8_bars(Svg *s, bool int8_io)
{
    const Net *net = s->net;
    Q8Arena qa = emit_q8_arena(s->mem, (Net *)net, int8_io);
    s->bars = mem_array(s->mem, 2 * (size_t)net->nlayers, sizeof *s->bars);
    for (int i = 0; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        int last = qa.last[i] >= net->nlayers ? net->nlayers - 1 : qa.last[i];
        if (qa.offset[i] >= 0)
            s->bars[s->nbars++] = (Bar){qa.offset[i], l->shape.c * l->shape.h * l->shape.w, i, last, l, false, -1};
        if (qa.scratch[i] >= 0)
            s->bars[s->nbars++] = (Bar){qa.scratch[i], qa.scratch_bytes[i], i, i, l, true, -1};
    }
    s->arena = qa.bytes;
    s->arena_kind = "int8";
}

/* Draws the timeline; returns where the next panel starts. */
static int arena_panel(Svg *s, int top)
{
    const Net *net = s->net;
    int steps = net->nlayers;
    double x0 = MARGIN + AXIS_W, pw = s->width - x0 - MARGIN, sx = pw / steps;
    double y0 = top + 40, ph = TIMELINE_H;
    double scale = s->arena > 0 ? ph / (double)s->arena : 0;
    text_at(s, MARGIN, top + 14, 14, "start", "bold",
            mem_printf(s->mem, "%s arena: %s B, %d buffers over %d schedule steps (shaded: fused groups%s)",
                       s->arena_kind, thousands(s, s->arena), s->nbars, steps, s->arena_note));

    /* live bytes per step, for the peak */
    int64_t *live = mem_array(s->mem, (size_t)steps, sizeof *live);
    for (int b = 0; b < s->nbars; b++)
        for (int t = s->bars[b].first; t <= s->bars[b].last && t < steps; t++)
            live[t] += s->bars[b].bytes;
    int peak = 0;
    for (int t = 1; t < steps; t++)
        if (live[t] > live[peak])
            peak = t;

    fprintf(s->out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f8fafc\" stroke=\"#94a3b8\"/>\n",
            x0, y0, pw, ph);
    /* the groups' steps, in the graph's fills */
    int group_no = 0;
    for (int i = 1; i < net->nlayers; i++) {
        if (s->group[i] == i)
            fprintf(s->out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x0 + i * sx,
                    y0, (s->group_end[i] - i + 1) * sx, ph, group_fill[++group_no % 2]);
    }
    fputs("<g id=\"buffers\" stroke=\"#1e293b\" stroke-width=\"0.5\">\n", s->out);
    for (int b = 0; b < s->nbars; b++) {
        const Bar *r = &s->bars[b];
        double h = r->bytes * scale;
        fprintf(s->out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"%s><title>", x0 + r->first * sx,
                y0 + ph - (r->offset * scale) - h, (r->last - r->first + 1) * sx, h > 0.5 ? h : 0.5,
                r->scratch ? "#cbd5e1" : bar_fill[b % 8], r->scratch ? " fill-opacity=\"0.8\"" : "");
        put_text(s->out, mem_printf(s->mem, "%s%s: %s B at offset %s, steps %d-%d", r->scratch ? "scratch of " : "",
                                    r->holder->name, thousands(s, r->bytes), thousands(s, r->offset), r->first, r->last));
        fputs("</title></rect>\n", s->out);
    }
    fputs("</g>\n", s->out);
    /* the names of the bars there is room to write them in */
    for (int b = 0; b < s->nbars; b++) {
        const Bar *r = &s->bars[b];
        double w = (r->last - r->first + 1) * sx, h = r->bytes * scale;
        const char *name = r->scratch ? "scratch" : r->holder->name;
        if (h >= 13 && w >= 6.0 * (double)strlen(name) + 6)
            text_at(s, x0 + r->first * sx + 3, y0 + ph - r->offset * scale - h + 11, 9, "start", NULL, name);
    }

    /* axes: bytes on the left, steps below */
    text_at(s, x0 - 6, y0 + 4, 10, "end", NULL, mem_printf(s->mem, "%s B", thousands(s, s->arena)));
    text_at(s, x0 - 6, y0 + ph, 10, "end", NULL, "0");
    int tick = steps <= 20 ? 1 : steps <= 60 ? 5 : steps <= 200 ? 10 : 50;
    for (int t = 0; t < steps; t += tick)
        text_at(s, x0 + (t + 0.5) * sx, y0 + ph + 12, 9, "middle", NULL, mem_printf(s->mem, "%d", t));
    text_at(s, x0 + pw / 2, y0 + ph + 26, 10, "middle", NULL, "schedule step (layer index)");

    /* the peak: a line through the step, its bytes and who is alive */
    double px = x0 + (peak + 0.5) * sx;
    fprintf(s->out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dc2626\" stroke-width=\"2\" "
                    "stroke-dasharray=\"5 3\"/>\n",
            px, y0 - 4, px, y0 + ph);
    const char *alive = "";
    int nalive = 0;
    for (int b = 0; b < s->nbars; b++) {
        const Bar *r = &s->bars[b];
        if (r->first > peak || r->last < peak)
            continue;
        const char *name = r->scratch ? mem_printf(s->mem, "scratch of %s", r->holder->name)
                                      : holder_at(s, r, peak)->name;
        if (nalive < 12)
            alive = mem_printf(s->mem, "%s%s%s (%s B)", alive, nalive ? ", " : "", name, thousands(s, r->bytes));
        nalive++;
    }
    if (nalive > 12)
        alive = mem_printf(s->mem, "%s and %d more", alive, nalive - 12);
    text_at(s, MARGIN, top + 32, 11, "start", NULL,
            mem_printf(s->mem, "peak %s B live at step %d (%s); alive: %s", thousands(s, live[peak]), peak,
                       net->layers[peak]->name, nalive ? alive : "nothing"));
    return (int)(y0 + ph + 40);
}

/* ---- the receptive field ---- */

/* The last layer whose output still has positions: more than one if
 * any has (a final 1x1 pool shows a single dot). */
static const Layer *last_feature_map(const Net *net)
{
    const Layer *one = NULL;
    for (int i = net->nlayers - 1; i > 0; i--) {
        const Layer *l = net->layers[i];
        if (l->rf_global || !l->ok)
            continue;
        if (l->shape.h * l->shape.w > 1)
            return l;
        if (!one)
            one = l;
    }
    return one ? one : net->input;
}

/* Input pixels to picture coordinates: pixel (r, c) is centred at
 * (x(c), y(r)), k px a pixel. */
typedef struct View {
    double ox, oy, k;
} View;

static double vx(const View *v, double c)
{
    return v->ox + c * v->k;
}

static double vy(const View *v, double r)
{
    return v->oy + r * v->k;
}

/* A field along one axis in input pixels: Field's fractions (after
 * upsampling, den > 1) as numbers. */
typedef struct FieldPx {
    double size, jump, start;
} FieldPx;

static FieldPx field_px(Field f)
{
    return (FieldPx){(double)f.size / (double)f.den, (double)f.jump / (double)f.den,
                     (double)f.start2 / (2.0 * (double)f.den)};
}

/* The window of the output position centred at input pixel (r, c). */
static void window(Svg *s, const View *v, const FieldPx *f, double r, double c, const char *style)
{
    fprintf(s->out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" %s/>\n",
            vx(v, c - (f[1].size - 1) / 2.0 - 0.5), vy(v, r - (f[0].size - 1) / 2.0 - 0.5), f[1].size * v->k,
            f[0].size * v->k, style);
}

/* Draws the field over the input; returns where the picture ends. */
static int field_panel(Svg *s, int top)
{
    const Net *net = s->net;
    const Layer *l = last_feature_map(net);
    Shape in = net->input->shape, o = l->shape;
    const FieldPx f[2] = {field_px(l->rf[0]), field_px(l->rf[1])}; /* H, W */
    text_at(s, MARGIN, top + 14, 14, "start", "bold",
            mem_printf(s->mem, "receptive field of %s (%s) over the input %s", l->name, cw_shape(s->mem, o),
                       cw_shape(s->mem, in)));
    text_at(s, MARGIN, top + 32, 11, "start", NULL,
            mem_printf(s->mem, "size %.10gx%.10g, jump %.10gx%.10g, start %.10g,%.10g (input pixels; dots: the centres of its "
                       "%lldx%lld positions; boxes: the windows of the first and the middle one)",
                       f[0].size, f[1].size, f[0].jump, f[1].jump, f[0].start, f[1].start, (long long)o.h,
                       (long long)o.w));
    top += 44;

    /* per axis, in input pixels: the first and middle centres, and what to
     * show: the input and every window, which padding takes beyond it */
    const int64_t dims[2] = {in.h, in.w}, pos[2] = {o.h, o.w};
    double first[2], mid[2], lo[2], hi[2];
    for (int a = 0; a < 2; a++) {
        double reach = (f[a].size - 1) / 2.0 + 0.5;
        first[a] = f[a].start;
        mid[a] = first[a] + (double)(pos[a] / 2) * (double)f[a].jump;
        double last = first[a] + (double)(pos[a] - 1) * (double)f[a].jump;
        lo[a] = first[a] - reach < -0.5 ? first[a] - reach : -0.5;
        hi[a] = last + reach > dims[a] - 0.5 ? last + reach : dims[a] - 0.5;
    }
    double span = hi[0] - lo[0] > hi[1] - lo[1] ? hi[0] - lo[0] : hi[1] - lo[1];
    View v = {0, 0, RF_BOX / span};
    v.ox = MARGIN + 20 - lo[1] * v.k;
    v.oy = top - lo[0] * v.k;

    fprintf(s->out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f1f5f9\" stroke=\"#475569\"/>\n",
            vx(&v, -0.5), vy(&v, -0.5), in.w * v.k, in.h * v.k);
    if (v.k >= 4 && in.h <= 128 && in.w <= 128) { /* the pixel grid, when it is visible */
        fputs("<g stroke=\"#cbd5e1\" stroke-width=\"0.5\">\n", s->out);
        for (int64_t r = 1; r < in.h; r++)
            fprintf(s->out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", vx(&v, -0.5), vy(&v, r - 0.5),
                    vx(&v, in.w - 0.5), vy(&v, r - 0.5));
        for (int64_t c = 1; c < in.w; c++)
            fprintf(s->out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", vx(&v, c - 0.5), vy(&v, -0.5),
                    vx(&v, c - 0.5), vy(&v, in.h - 0.5));
        fputs("</g>\n", s->out);
    }
    window(s, &v, f, first[0], first[1],
           "fill=\"none\" stroke=\"#2563eb\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"");
    window(s, &v, f, mid[0], mid[1], "fill=\"#f97316\" fill-opacity=\"0.15\" stroke=\"#ea580c\" stroke-width=\"2\"");
    /* at most 64 centres a side: a bigger map is sampled evenly */
    int64_t step_h = pos[0] > 64 ? (pos[0] + 63) / 64 : 1, step_w = pos[1] > 64 ? (pos[1] + 63) / 64 : 1;
    double dot = v.k * (f[0].jump < f[1].jump ? f[0].jump : f[1].jump) / 4;
    dot = dot < 1 ? 1 : dot > 4 ? 4 : dot;
    fputs("<g fill=\"#1d4ed8\">\n", s->out);
    for (int64_t i = 0; i < pos[0]; i += step_h)
        for (int64_t j = 0; j < pos[1]; j += step_w)
            fprintf(s->out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"/>\n", vx(&v, first[1] + (double)(j * f[1].jump)),
                    vy(&v, first[0] + (double)(i * f[0].jump)), dot);
    fputs("</g>\n", s->out);
    return top + RF_BOX + MARGIN + 8;
}

void svg_report(Mem *m, const Net *net, const SvgOptions *so, FILE *out)
{
    Svg s = {.mem = m, .net = net};
    graph_layout(&s);
    bool int8 = so->int8 && net->nlayers > 1 && net->layers[1]->quant;
    if (int8)
        int8_bars(&s, so->int8_io);
    else
        float_bars(&s);
    s.arena_note = so->int8 && !int8 ? "; an int8 model: with -o and -w, the int8 back end's arena" : "";
    find_groups(&s, int8);
    /* panels are drawn into memory first: the height is known at the end */
    char *body = NULL;
    size_t len = 0;
    s.out = open_memstream(&body, &len);
    if (!s.out)
        die("out of memory");
    text_at(&s, MARGIN, 24, 18, "start", "bold",
            mem_printf(m, "%s: %s params, %s MACs, weights %s B, %s arena %s B", net->name, thousands(&s, net->params),
                       thousands(&s, net->macs), thousands(&s, net->weight_bytes), s.arena_kind,
                       thousands(&s, s.arena)));
    int y = graph_panel(&s, 40);
    y = arena_panel(&s, y);
    y = field_panel(&s, y);
    if (fclose(s.out) != 0)
        die("out of memory");
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\" fill=\"#0f172a\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
            s.width, y, s.width, y);
    fwrite(body, 1, len, out);
    fputs("</svg>\n", out);
    free(body);
}
