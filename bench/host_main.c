/* host_main.c: times one generated model on the host for make bench.
 * Built with the model's object and the runtime; NET and NETU name the
 * model (lowercase and uppercase prefixes). Prints the best time per
 * inference of three trials, each repeated until it lasts MIN_SECONDS. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model.h"

#define P_(a, b) a##b
#define P(a, b) P_(a, b)
#define MODEL_RUN P(NET, _run)
#define MODEL_IN P(NETU, _INPUT_SIZE)
#define MODEL_OUT P(NETU, _OUTPUT_SIZE)

enum { TRIALS = 3 };
static const double MIN_SECONDS = 0.3;

/* Monotonic seconds: wall-clock jumps must not show up as speed. */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Seconds per inference over n runs, so short models are averaged. */
static double trial(const float *in, float *out, long n)
{
    double t0 = now();
    for (long i = 0; i < n; i++)
        MODEL_RUN(in, out);
    return (now() - t0) / (double)n;
}

/* Reads the reference input so timings use real data, not zeros that
 * might take a different path through the arithmetic (denormals). */
static int read_input(const char *path, float *in)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t got = fread(in, sizeof *in, MODEL_IN, f);
    fclose(f);
    return got == MODEL_IN ? 0 : -1;
}

int main(int argc, char **argv)
{
    static float in[MODEL_IN], out[MODEL_OUT];
    if (argc != 2 || read_input(argv[1], in) != 0) {
        fprintf(stderr, "usage: %s INPUT.bin (float32, %d values)\n", argv[0], (int)MODEL_IN);
        return 1;
    }
    MODEL_RUN(in, out); /* warm caches and pages before timing */
    long n = 1;
    while (trial(in, out, n) * (double)n < MIN_SECONDS)
        n *= 2;
    double best = trial(in, out, n);
    for (int t = 1; t < TRIALS; t++) {
        double s = trial(in, out, n);
        if (s < best)
            best = s;
    }
    double sum = 0;
    for (int i = 0; i < MODEL_OUT; i++)
        sum += out[i];
    printf("ns %.1f runs %ld checksum %.6g\n", best * 1e9, n, sum);
    return 0;
}
