/* fuzz_safetensors.c: libFuzzer target for the safetensors reader. The
 * input is a weights file. Whatever st_load_mem accepts must be safe to
 * use: every tensor inside the file, its byte size matching its shape,
 * no two tensors sharing bytes, and conversion to float32 in bounds. */
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* See fuzz_common.h: abort so libFuzzer keeps the input. */
#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

/* Orders tensors by where their data starts (empty ones first), to check
 * for overlaps. */
static int by_begin(const void *a, const void *b)
{
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* What the reader promises about a file it accepted. */
static void check_file(const StFile *f)
{
    const StTensor **sorted = calloc((size_t)f->ntensors + 1, sizeof *sorted);
    CHECK(sorted != NULL);
    for (int k = 0; k < f->ntensors; k++) {
        const StTensor *t = &f->tensors[k];
        CHECK(t->begin <= t->end && t->end <= f->size && t->begin >= 8);
        CHECK(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS);
        CHECK(st_find(f, t->name) == t); /* names are unique */
        int64_t n = st_numel(t);
        CHECK(n >= 0);
        int size = st_dtype_size(t->dtype);
        if (size > 0)
            CHECK(t->end - t->begin == (uint64_t)n * (uint64_t)size);
        if (st_dtype_convertible(t->dtype)) {
            float *out = malloc((size_t)n * sizeof *out + 1);
            CHECK(out != NULL);
            int64_t bad = st_to_f32(f, t, out);
            CHECK(bad >= 0 && bad <= n);
            free(out);
        } else {
            CHECK(st_to_f32(f, t, NULL) == -1);
        }
        sorted[k] = t;
    }
    qsort(sorted, (size_t)f->ntensors, sizeof *sorted, by_begin);
    for (int k = 1; k < f->ntensors; k++)
        CHECK(sorted[k - 1]->end <= sorted[k]->begin);
    for (int k = 0; k < f->nmeta; k++)
        CHECK(st_meta(f, f->meta_keys[k]) != NULL);
    free(sorted);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    err[0] = '\0';
    StFile *f = st_load_mem("fuzz.safetensors", data, size, err, sizeof err);
    if (f) {
        check_file(f);
        st_free(f);
    } else {
        /* a refusal always says why, on one line */
        CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
    }
    return 0;
}
