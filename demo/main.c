/* cnnc demo: run the generated digits classifier on the held-out test set and
 * check it against PyTorch.
 *
 * Usage: digits_demo demo/digits_test.bin
 *
 * The test file (written by tools/train_digits.py) is
 *   "CNNCDIG1", u32 LE count, u32 LE pixels per image (= DIGITS_INPUT_SIZE),
 *   count * pixels float32 LE (CHW, scaled as in training),
 *   count u8 labels, count u8 PyTorch predictions.
 * Prints the accuracy of the generated C, PyTorch's stored accuracy and how
 * many predictions agree; exits 1 unless every prediction agrees. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digits.h"

#define DEMO_MAGIC "CNNCDIG1"
#define DEMO_HEADER_BYTES 16u
/* More images than this means a damaged count, not a bigger test set. */
#define DEMO_MAX_IMAGES 1000000u

/* The parsed test file; pointers alias into the loaded bytes. */
struct demo_set {
    unsigned char *bytes;
    uint32_t count;
    const unsigned char *pixels; /* count * DIGITS_INPUT_SIZE float32 LE */
    const unsigned char *labels;
    const unsigned char *torch_pred;
};

/* Decode by bytes so the demo reads the file the same on any host byte order. */
static uint32_t demo_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Same reason as demo_u32le; memcpy reinterprets the bits without aliasing trouble. */
static float demo_f32le(const unsigned char *p)
{
    uint32_t bits = demo_u32le(p);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Slurp the whole file: it is small, and knowing its size lets us check it exactly. */
static unsigned char *demo_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0;

    if (!f) {
        perror(path);
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            unsigned char *grown;
            cap = cap ? cap * 2 : 65536;
            grown = realloc(buf, cap);
            if (!grown) {
                fprintf(stderr, "%s: out of memory\n", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "%s: read error\n", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *size = len;
    return buf;
}

/* Reject anything but a test set made for this very network, saying why. */
static int demo_parse(const char *path, unsigned char *bytes, size_t size, struct demo_set *set)
{
    uint32_t count, pixels, i;
    size_t want;

    if (size < DEMO_HEADER_BYTES || memcmp(bytes, DEMO_MAGIC, 8) != 0) {
        fprintf(stderr, "%s: not a digits test file (no %s header)\n", path, DEMO_MAGIC);
        return -1;
    }
    count = demo_u32le(bytes + 8);
    pixels = demo_u32le(bytes + 12);
    if (pixels != DIGITS_INPUT_SIZE) {
        fprintf(stderr, "%s: images have %lu pixels but the network takes %lu\n", path,
                (unsigned long)pixels, (unsigned long)DIGITS_INPUT_SIZE);
        return -1;
    }
    if (count == 0 || count > DEMO_MAX_IMAGES) {
        fprintf(stderr, "%s: bad image count %lu\n", path, (unsigned long)count);
        return -1;
    }
    want = DEMO_HEADER_BYTES + (size_t)count * (pixels * 4u + 2u);
    if (size != want) {
        fprintf(stderr, "%s: file is %lu bytes, expected %lu for %lu images\n", path,
                (unsigned long)size, (unsigned long)want, (unsigned long)count);
        return -1;
    }
    set->bytes = bytes;
    set->count = count;
    set->pixels = bytes + DEMO_HEADER_BYTES;
    set->labels = set->pixels + (size_t)count * pixels * 4u;
    set->torch_pred = set->labels + count;
    for (i = 0; i < count; i++) {
        if (set->labels[i] >= DIGITS_OUTPUT_SIZE || set->torch_pred[i] >= DIGITS_OUTPUT_SIZE) {
            fprintf(stderr, "%s: image %lu: class out of range (label %u, pytorch %u)\n", path,
                    (unsigned long)i, set->labels[i], set->torch_pred[i]);
            return -1;
        }
    }
    return 0;
}

/* First maximum wins, as torch.argmax does, so exact ties resolve alike. */
static unsigned demo_argmax(const float *v, unsigned n)
{
    unsigned i, best = 0;
    for (i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* Percent of total, guarded so an empty count cannot divide by zero. */
static double demo_percent(uint32_t part, uint32_t total)
{
    return total ? 100.0 * part / total : 0.0;
}

/* Run every image through the generated code and tally against labels and PyTorch. */
static int demo_evaluate(const struct demo_set *set)
{
    float input[DIGITS_INPUT_SIZE];
    float output[DIGITS_OUTPUT_SIZE];
    uint32_t i, c_ok = 0, torch_ok = 0, agree = 0;

    for (i = 0; i < set->count; i++) {
        const unsigned char *img = set->pixels + (size_t)i * DIGITS_INPUT_SIZE * 4u;
        unsigned j, pred;
        for (j = 0; j < DIGITS_INPUT_SIZE; j++)
            input[j] = demo_f32le(img + 4u * j);
        digits_run(input, output);
        pred = demo_argmax(output, DIGITS_OUTPUT_SIZE);
        c_ok += pred == set->labels[i];
        torch_ok += set->torch_pred[i] == set->labels[i];
        if (pred == set->torch_pred[i])
            agree++;
        else
            fprintf(stderr, "image %lu: label %u, cnnc %u, pytorch %u\n", (unsigned long)i,
                    set->labels[i], pred, set->torch_pred[i]);
    }
    printf("cnnc:    %lu/%lu = %.2f%%\n", (unsigned long)c_ok, (unsigned long)set->count,
           demo_percent(c_ok, set->count));
    printf("pytorch: %lu/%lu = %.2f%%\n", (unsigned long)torch_ok, (unsigned long)set->count,
           demo_percent(torch_ok, set->count));
    printf("agree:   %lu/%lu\n", (unsigned long)agree, (unsigned long)set->count);
    return agree == set->count ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct demo_set set;
    unsigned char *bytes;
    size_t size = 0;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s digits_test.bin\n", argc > 0 ? argv[0] : "digits_demo");
        return 1;
    }
    bytes = demo_read_file(argv[1], &size);
    if (!bytes)
        return 1;
    if (demo_parse(argv[1], bytes, size, &set) != 0) {
        free(bytes);
        return 1;
    }
    rc = demo_evaluate(&set);
    if (rc != 0)
        fprintf(stderr, "%s: cnnc and pytorch disagree\n", argv[0]);
    free(bytes);
    return rc;
}
