/* report.c: the analysis as people read it (aligned text, in the manner
 * of torchinfo, plus receptive fields per axis) and as tools read it
 * (JSON with the schema of docs/cli.md). */
#include "cnnc.h"

#include <string.h>

enum { CELL = 64 };

const char *report_thousands(int64_t n, char *buf, size_t len)
{
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%lld", (long long)(n < 0 ? -n : n));
    size_t o = 0;
    if (n < 0 && o + 1 < len)
        buf[o++] = '-';
    for (int i = 0; i < nd && o + 1 < len; i++) {
        if (i > 0 && (nd - i) % 3 == 0 && o + 1 < len)
            buf[o++] = ',';
        if (o + 1 < len)
            buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* Twice a start, printed as the number itself: 2, 2.5, -0.5. */
static void half(char *buf, size_t len, int64_t start2)
{
    if (start2 % 2 == 0)
        snprintf(buf, len, "%lld", (long long)(start2 / 2));
    else
        snprintf(buf, len, "%s%lld.5", start2 < 0 ? "-" : "", (long long)((start2 < 0 ? -start2 : start2) / 2));
}

/* num/den exactly: an integer, a half (2.5), else the reduced fraction
 * (1/4, -3/8): fields after upsampling have fractional jumps and starts.
 * json gives a JSON number instead of a fraction. */
static void ratio(char *buf, size_t len, int64_t num, int64_t den, bool json)
{
    if (den < 0)
        num = -num, den = -den;
    if (den == 0 || num % den == 0) {
        snprintf(buf, len, "%lld", (long long)(den ? num / den : 0));
        return;
    }
    if ((2 * num) % den == 0) {
        half(buf, len, 2 * num / den);
        return;
    }
    if (json) {
        snprintf(buf, len, "%.17g", (double)num / (double)den);
        return;
    }
    int64_t a = num < 0 ? -num : num, b = den;
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    snprintf(buf, len, "%lld/%lld", (long long)(num / a), (long long)(den / a));
}

/* The cells of one text row: names point into the net, numbers are
 * formatted into buf. */
typedef struct Row {
    const char *cell[8];
    char buf[8][CELL];
} Row;

enum { COL_NAME, COL_OP, COL_SHAPE, COL_PARAMS, COL_MACS, COL_RF, COL_JUMP, COL_START, NCOLS };

static const char *const headers[NCOLS] = {"layer", "op", "output", "params", "MACs", "rf", "jump", "start"};

static bool numeric(int col)
{
    return col == COL_PARAMS || col == COL_MACS;
}

/* "HxW" of two cells, or only W's in a 1-D network (the L axis). */
static void pair_cell(char *cell, const char *h, const char *w, char sep, bool one_d)
{
    if (one_d)
        snprintf(cell, CELL, "%s", w);
    else
        snprintf(cell, CELL, "%s%c%s", h, sep, w);
}

static void layer_row(const Layer *l, Row *r, bool one_d)
{
    for (int c = 0; c < NCOLS; c++)
        r->cell[c] = r->buf[c];
    r->cell[COL_NAME] = l->name;
    r->cell[COL_OP] = ir_layer_op(l);
    if (one_d && l->shape.h == 1)
        snprintf(r->buf[COL_SHAPE], CELL, "%lldx%lld", (long long)l->shape.c, (long long)l->shape.w);
    else
        snprintf(r->buf[COL_SHAPE], CELL, "%lldx%lldx%lld", (long long)l->shape.c, (long long)l->shape.h,
                 (long long)l->shape.w);
    report_thousands(l->params, r->buf[COL_PARAMS], CELL);
    report_thousands(l->macs, r->buf[COL_MACS], CELL);
    char h[32], w[32];
    ratio(h, sizeof h, l->rf[0].size, l->rf[0].den, false);
    ratio(w, sizeof w, l->rf[1].size, l->rf[1].den, false);
    pair_cell(r->buf[COL_RF], h, w, 'x', one_d);
    if (l->rf_global) {
        r->cell[COL_JUMP] = r->cell[COL_START] = "-";
        return;
    }
    ratio(h, sizeof h, l->rf[0].jump, l->rf[0].den, false);
    ratio(w, sizeof w, l->rf[1].jump, l->rf[1].den, false);
    pair_cell(r->buf[COL_JUMP], h, w, 'x', one_d);
    ratio(h, sizeof h, l->rf[0].start2, 2 * l->rf[0].den, false);
    ratio(w, sizeof w, l->rf[1].start2, 2 * l->rf[1].den, false);
    pair_cell(r->buf[COL_START], h, w, ',', one_d);
}

/* Numbers right-aligned, words left-aligned, no trailing blanks. */
static void print_row(FILE *out, const Row *r, const int *width)
{
    int last = NCOLS - 1;
    while (last > 0 && !*r->cell[last])
        last--;
    for (int c = 0; c <= last; c++) {
        const char *sep = c ? "  " : "";
        if (numeric(c))
            fprintf(out, "%s%*s", sep, width[c], r->cell[c]);
        else if (c == last)
            fprintf(out, "%s%s", sep, r->cell[c]);
        else
            fprintf(out, "%s%-*s", sep, width[c], r->cell[c]);
    }
    fputc('\n', out);
}

/* The int8 code's memory, per layer and in total, in place of the float
 * plan's arena line: what the int8 header states. */
static void q8_memory(const Net *net, FILE *out)
{
    const Q8Plan *p = net->q8;
    int width = 5;
    for (int i = 0; i < net->nlayers; i++)
        width = (int)strlen(net->layers[i]->name) > width ? (int)strlen(net->layers[i]->name) : width;
    fprintf(out, "int8 memory of the generated code (bytes; at: offset in the arena)\n");
    fprintf(out, "%-*s  %9s  %9s  %9s  %11s\n", width, "layer", "tensor", "at", "scratch", "constants");
    for (int i = 0; i < net->nlayers; i++) {
        char t[32], a[32], s[32], c[32];
        if (!p->tensor[i] && !p->scratch[i] && !p->constants[i])
            continue;
        fprintf(out, "%-*s  %9s  %9s  %9s  %11s\n", width, net->layers[i]->name, report_thousands(p->tensor[i], t, sizeof t),
                p->at[i] >= 0 ? report_thousands(p->at[i], a, sizeof a) : "-",
                report_thousands(p->scratch[i], s, sizeof s), report_thousands(p->constants[i], c, sizeof c));
    }
    char a[32], b[32], f[32], k[32], w[32], bi[32], m[32], t[32];
    fprintf(out, "arena %s B int8 (tensors live at one step at most %s B; float code %s B)   int8 constants %s B\n",
            report_thousands(p->arena, a, sizeof a), report_thousands(p->bound, b, sizeof b),
            report_thousands(net->arena_bytes, f, sizeof f), report_thousands(q8_constant_bytes(p), k, sizeof k));
    fprintf(out, "int8 constants: weights %s B, biases %s B, multipliers %s B, tables %s B\n",
            report_thousands(p->weights, w, sizeof w), report_thousands(p->biases, bi, sizeof bi),
            report_thousands(p->multipliers, m, sizeof m), report_thousands(p->tables, t, sizeof t));
}

void report_text(Net *net, FILE *out)
{
    int n = net->nlayers;
    Mem m = {0};
    Row *rows = mem_array(&m, (size_t)n + 2, sizeof *rows);
    int width[NCOLS];
    for (int c = 0; c < NCOLS; c++) {
        rows[0].cell[c] = headers[c];
        width[c] = (int)strlen(headers[c]);
    }
    for (int i = 0; i < n; i++)
        layer_row(net->layers[i], &rows[i + 1], net->one_d);
    Row *total = &rows[n + 1];
    for (int c = 0; c < NCOLS; c++)
        total->cell[c] = "";
    total->cell[COL_NAME] = "total";
    total->cell[COL_PARAMS] = report_thousands(net->params, total->buf[COL_PARAMS], CELL);
    total->cell[COL_MACS] = report_thousands(net->macs, total->buf[COL_MACS], CELL);
    for (int i = 1; i <= n + 1; i++)
        for (int c = 0; c < NCOLS; c++)
            if ((int)strlen(rows[i].cell[c]) > width[c])
                width[c] = (int)strlen(rows[i].cell[c]);
    for (int i = 0; i <= n + 1; i++)
        print_row(out, &rows[i], width);
    mem_free(&m);
    if (net->q8) {
        q8_memory(net, out);
        return;
    }
    char a[32], b[32], w[32];
    fprintf(out, "arena %s B (layer-by-layer bound %s B)   weights %s B\n", report_thousands(net->arena_bytes, a, sizeof a),
            report_thousands(net->bound_bytes, b, sizeof b), report_thousands(net->weight_bytes, w, sizeof w));
}

/* The --unroll value the budget stands for, as the user would type it. */
static const char *budget_name(const ReportOptions *ro, int64_t budget, char *buf, size_t len)
{
    if (ro->emit->tune_host)
        return "full (--tune=host)";
    if (budget == 0)
        return "none";
    if (budget == INT64_MAX)
        return "full";
    return report_thousands(budget, buf, len);
}

/* Fusion: how many layers run inside another's loop nest, and the arena
 * the other setting gives, so the cost of --no-fuse is read off here. */
static void fusion_line(const Net *net, const ReportOptions *ro, FILE *out)
{
    int members = 0, groups = 0;
    for (int i = 1; i < net->nlayers; i++) {
        const Layer *l = net->layers[i];
        if (l->host != l)
            members++;
        else if (l->next_fused)
            groups++;
    }
    /* without fusion the only members are batchnorms folded into their conv */
    if (ro->fused)
        fprintf(out, "fusion on: %d layer%s fused into %d group%s", members, members == 1 ? "" : "s", groups,
                groups == 1 ? "" : "s");
    else
        fprintf(out, members ? "fusion off (--no-fuse), %d batchnorm%s folded" : "fusion off (--no-fuse)", members,
                members == 1 ? "" : "s");
    if (ro->other_arena >= 0) {
        char a[32], d[32];
        int64_t delta = ro->other_arena - net->arena_bytes;
        fprintf(out, "; %s: arena %s B (%s%s B)", ro->fused ? "--no-fuse" : "with fusion",
                report_thousands(ro->other_arena, a, sizeof a), delta < 0 ? "" : "+",
                report_thousands(delta, d, sizeof d));
    }
    fputc('\n', out);
}

/* Unrolling: which windows the budget covers and the multiply-add
 * statements that puts in the code, with what none and full would put. */
static void unroll_line(Net *net, const ReportOptions *ro, FILE *out)
{
    if (ro->int8) {
        fputs("unroll: not used by --quantize=int8 (its kernels are fixed)\n", out);
        return;
    }
    Mem m = {0};
    EmitUnrollPlan up = emit_unroll_plan(&m, net, ro->emit);
    char b[32], t[32], f[32];
    fprintf(out, "unroll %s: %d of %d windows unrolled, %s multiply-add statements",
            budget_name(ro, up.budget, b, sizeof b), up.unrolled, up.candidates, report_thousands(up.taps, t, sizeof t));
    bool to_none = up.taps > 0, to_full = up.taps < up.all_taps;
    if (!ro->emit->tune_host && (to_none || to_full))
        fprintf(out, " (--unroll=%s%s%s%s)", to_none ? "none: 0" : "", to_none && to_full ? ", " : "",
                to_full ? "full: " : "", to_full ? report_thousands(up.all_taps, f, sizeof f) : "");
    fputc('\n', out);
    mem_free(&m);
}

void report_tradeoffs(Net *net, const ReportOptions *ro, FILE *out)
{
    fusion_line(net, ro, out);
    unroll_line(net, ro, out);
}

/* A JSON string; names are identifiers, but the format is kept honest. */
static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* num/den as a JSON number. */
static void json_ratio(FILE *out, int64_t num, int64_t den)
{
    char buf[40];
    ratio(buf, sizeof buf, num, den, true);
    fputs(buf, out);
}

/* "[h, w]" of a field quantity, or "[w]" in a 1-D network. */
static void json_field(FILE *out, const Layer *l, bool one_d, int which)
{
    fputc('[', out);
    for (int a = one_d ? 1 : 0; a < 2; a++) {
        const Field *f = &l->rf[a];
        if (a && !one_d)
            fputs(", ", out);
        if (which == 0)
            json_ratio(out, f->size, f->den);
        else if (which == 1)
            json_ratio(out, f->jump, f->den);
        else
            json_ratio(out, f->start2, 2 * f->den);
    }
    fputc(']', out);
}

static void json_layer(FILE *out, const Layer *l, bool one_d)
{
    fputs("    {\"name\": ", out);
    json_string(out, l->name);
    fputs(", \"op\": ", out);
    json_string(out, ir_layer_op(l));
    fprintf(out, ", \"line\": %d, \"inputs\": [", l->loc.line);
    for (int i = 0; i < l->nin; i++) {
        if (i)
            fputs(", ", out);
        json_string(out, l->in[i]->name);
    }
    if (one_d && l->shape.h == 1)
        fprintf(out, "], \"shape\": [%lld, %lld],\n", (long long)l->shape.c, (long long)l->shape.w);
    else
        fprintf(out, "], \"shape\": [%lld, %lld, %lld],\n", (long long)l->shape.c, (long long)l->shape.h,
                (long long)l->shape.w);
    fprintf(out, "     \"params\": %lld, \"macs\": %lld,\n", (long long)l->params, (long long)l->macs);
    fputs("     \"rf\": ", out);
    json_field(out, l, one_d, 0);
    fputs(", ", out);
    if (l->rf_global) {
        fputs("\"jump\": null, \"start\": null", out);
        return;
    }
    fputs("\"jump\": ", out);
    json_field(out, l, one_d, 1);
    fputs(", \"start\": ", out);
    json_field(out, l, one_d, 2);
}

/* A layer's int8 memory, inside its object. */
static void json_q8_layer(FILE *out, const Q8Plan *p, int i)
{
    fprintf(out, ",\n     \"int8\": {\"tensor_bytes\": %lld, \"arena_offset\": ", (long long)p->tensor[i]);
    if (p->at[i] >= 0)
        fprintf(out, "%lld", (long long)p->at[i]);
    else
        fputs("null", out);
    fprintf(out, ", \"scratch_bytes\": %lld, \"constant_bytes\": %lld}", (long long)p->scratch[i],
            (long long)p->constants[i]);
}

void report_json(Net *net, FILE *out)
{
    const Layer *in = net->input;
    fputs("{\n  \"network\": ", out);
    json_string(out, net->name);
    fputs(",\n  \"input\": {\"name\": ", out);
    json_string(out, in->name);
    if (net->one_d)
        fprintf(out, ", \"shape\": [%lld, %lld]},\n  \"layers\": [\n", (long long)in->shape.c, (long long)in->shape.w);
    else
        fprintf(out, ", \"shape\": [%lld, %lld, %lld]},\n  \"layers\": [\n", (long long)in->shape.c,
                (long long)in->shape.h, (long long)in->shape.w);
    for (int i = 1; i < net->nlayers; i++) {
        json_layer(out, net->layers[i], net->one_d);
        if (net->q8)
            json_q8_layer(out, net->q8, i);
        fputs(i + 1 < net->nlayers ? "},\n" : "}\n", out);
    }
    fputs("  ],\n  \"outputs\": [", out);
    for (int i = 0; i < net->noutputs; i++) {
        if (i)
            fputs(", ", out);
        json_string(out, net->outputs[i]->name);
    }
    const Q8Plan *p = net->q8;
    /* under int8 the totals are the int8 code's; the float plan's stay beside them */
    fprintf(out,
            "],\n  \"totals\": {\"params\": %lld, \"macs\": %lld, \"weight_bytes\": %lld,\n"
            "             \"arena_bytes\": %lld, \"arena_lower_bound_bytes\": %lld}",
            (long long)net->params, (long long)net->macs,
            (long long)(p ? q8_constant_bytes(p) : net->weight_bytes), (long long)(p ? p->arena : net->arena_bytes),
            (long long)(p ? p->bound : net->bound_bytes));
    if (p)
        fprintf(out,
                ",\n  \"int8\": {\"arena_bytes\": %lld, \"arena_lower_bound_bytes\": %lld, \"constant_bytes\": %lld,\n"
                "           \"weight_bytes\": %lld, \"bias_bytes\": %lld, \"multiplier_bytes\": %lld, "
                "\"table_bytes\": %lld,\n"
                "           \"float_arena_bytes\": %lld, \"float_weight_bytes\": %lld}",
                (long long)p->arena, (long long)p->bound, (long long)q8_constant_bytes(p), (long long)p->weights,
                (long long)p->biases, (long long)p->multipliers, (long long)p->tables, (long long)net->arena_bytes,
                (long long)net->weight_bytes);
    fputs("\n}\n", out);
}
