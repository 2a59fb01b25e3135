/* ref_main.c: times the plain reference implementation
 * (tests/reference/refimpl.c) on one model for make bench: the same
 * trials as host_main.c, over a net the compiler's front end loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnnc.h"
#include "refimpl.h"

enum { TRIALS = 3 };
static const double MIN_SECONDS = 0.3;

/* Everything one timing needs, kept together rather than in globals. */
typedef struct Bench {
    const Net *net;
    const float *input;
    float **outputs;
} Bench;

/* Monotonic seconds: wall-clock jumps must not show up as speed. */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Seconds per inference over n runs, or a negative value when the
 * reference refuses the net. */
static double trial(const Bench *b, long n)
{
    char err[256];
    double t0 = now();
    for (long i = 0; i < n; i++)
        if (ref_run(b->net, b->input, b->outputs, err, sizeof err) != 0) {
            fprintf(stderr, "reference refuses: %s\n", err);
            return -1;
        }
    return (now() - t0) / (double)n;
}

/* Reads a whole file into memory, NUL-terminated, or NULL. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (s) {
        s[n] = 0;
        *len = (size_t)n;
    }
    return s;
}

/* Parses and analyses the model and loads its weights, as cnnc does
 * before emitting, so the reference sees the same Net. */
static Net *load(Mem *m, Diag *d, const char *src, size_t len, const char *weights)
{
    Net *net = ir_build(m, d, parse_source(m, d, src, len));
    analyze(net, d);
    if (d->errors || !weights_load(m, d, net, weights))
        return NULL;
    return net;
}

/* Product of a shape's dimensions: the floats of a CHW tensor. */
static size_t floats(Shape s)
{
    return (size_t)(ir_bytes(s) / (int64_t)sizeof(float));
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.net WEIGHTS.safetensors INPUT.bin\n", argv[0]);
        return 1;
    }
    size_t len = 0, inlen = 0;
    char *src = slurp(argv[1], &len);
    char *raw = slurp(argv[3], &inlen);
    if (!src || !raw) {
        fprintf(stderr, "cannot read %s\n", src ? argv[3] : argv[1]);
        return 1;
    }
    Mem mem = {0};
    Diag diag;
    diag_init(&diag, argv[1], src, len, stderr);
    Net *net = load(&mem, &diag, src, len, argv[2]);
    diag_flush(&diag);
    if (!net)
        return 1;
    if (inlen < floats(net->input->shape) * sizeof(float)) {
        fprintf(stderr, "%s: too short\n", argv[3]);
        return 1;
    }
    float *input = malloc(inlen);
    memcpy(input, raw, inlen);
    float **outs = calloc((size_t)net->noutputs, sizeof *outs);
    for (int k = 0; k < net->noutputs; k++)
        outs[k] = malloc(floats(net->outputs[k]->shape) * sizeof(float));
    Bench b = {net, input, outs};
    if (trial(&b, 1) < 0)
        return 1;
    long n = 1;
    while (trial(&b, n) * (double)n < MIN_SECONDS)
        n *= 2;
    double best = trial(&b, n);
    for (int t = 1; t < TRIALS; t++) {
        double s = trial(&b, n);
        if (s < best)
            best = s;
    }
    double sum = 0;
    for (size_t i = 0; i < floats(net->outputs[0]->shape); i++)
        sum += outs[0][i];
    printf("ns %.1f runs %ld checksum %.6g\n", best * 1e9, n, sum);
    for (int k = 0; k < net->noutputs; k++)
        free(outs[k]);
    free(outs);
    free(input);
    free(raw);
    free(src);
    mem_free(&mem);
    return 0;
}
