/* test_weights.c: binding safetensors tensors to layers (weights.c). Every
 * diagnostic a user can meet when their file does not fit their model,
 * in-process with the messages compared whole, and through build/cnnc for
 * the exit status; F16 and BF16 files; placeholder weights (--init). */
#include "testutil.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT "build/tests/weights"

/* conv, batchnorm, linear: every kind of tensor. Lines: c1 4, bn 5, fc 8. */
static const char model_src[] = "network w\n"
                                "input x 2x5x5\n"
                                "# a conv, its batchnorm, a classifier\n"
                                "conv2d c1 out=3 kernel=3\n"
                                "batchnorm2d bn\n"
                                "relu\n"
                                "flatten\n"
                                "linear fc out=4\n";

/* One tensor to write: values are stored in dtype (F32, F16, BF16, or any
 * other name, written as 8-byte zeros per element). */
typedef struct Entry {
    const char *name;
    const char *dtype;
    int ndim;
    int64_t shape[4];
    const float *values; /* NULL: the pattern value(i) */
} Entry;

/* Small multiples of 1/4: exact in every dtype, different per element. */
static float value(int64_t i)
{
    return (float)((i % 7) - 3) * 0.25f;
}

/* Elements of a tensor to write. */
static int64_t entry_numel(const Entry *e)
{
    int64_t n = 1;
    for (int k = 0; k < e->ndim; k++)
        n *= e->shape[k];
    return n;
}

/* Bytes per element as written: unsupported dtypes get 8. */
static int dtype_bytes(const char *dtype)
{
    return !strcmp(dtype, "F32") ? 4 : !strcmp(dtype, "F16") || !strcmp(dtype, "BF16") ? 2 : 8;
}

/* float32 to IEEE half, exact for the values these tests use (and inf/NaN). */
static uint16_t to_half(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    if (isnan(f))
        return 0x7e00;
    if (isinf(f))
        return sign | 0x7c00;
    if (f == 0)
        return sign;
    int e = (int)((u >> 23) & 0xff) - 127 + 15;
    assert_true(e > 0 && e < 31);
    return (uint16_t)(sign | (e << 10) | ((u >> 13) & 0x3ff));
}

/* Writes a safetensors file by hand, so dtypes other than F32 can be made. */
static void write_st(const char *path, const Entry *entries, int n)
{
    char header[8192];
    size_t len = (size_t)snprintf(header, sizeof header, "{");
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const Entry *e = &entries[i];
        uint64_t bytes = (uint64_t)entry_numel(e) * (uint64_t)dtype_bytes(e->dtype);
        len += (size_t)snprintf(header + len, sizeof header - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                                i ? "," : "", e->name, e->dtype);
        for (int k = 0; k < e->ndim; k++)
            len += (size_t)snprintf(header + len, sizeof header - len, "%s%lld", k ? "," : "",
                                    (long long)e->shape[k]);
        len += (size_t)snprintf(header + len, sizeof header - len, "],\"data_offsets\":[%llu,%llu]}",
                                (unsigned long long)offset, (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    len += (size_t)snprintf(header + len, sizeof header - len, "}");
    while (len % 8)
        header[len++] = ' ';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int b = 0; b < 8; b++)
        fputc((int)((len >> (8 * b)) & 0xff), f);
    fwrite(header, 1, len, f);
    for (int i = 0; i < n; i++) {
        const Entry *e = &entries[i];
        for (int64_t j = 0; j < entry_numel(e); j++) {
            float v = e->values ? e->values[j] : value(j);
            uint32_t u;
            memcpy(&u, &v, 4);
            if (!strcmp(e->dtype, "F32")) {
                for (int b = 0; b < 4; b++)
                    fputc((int)((u >> (8 * b)) & 0xff), f);
            } else if (!strcmp(e->dtype, "F16") || !strcmp(e->dtype, "BF16")) {
                uint16_t h = !strcmp(e->dtype, "F16") ? to_half(v) : (uint16_t)(u >> 16);
                fputc(h & 0xff, f);
                fputc(h >> 8, f);
            } else {
                for (int b = 0; b < 8; b++)
                    fputc(0, f);
            }
        }
    }
    fclose(f);
}

/* The tensors model_src needs, all F32 and right. */
static int good_entries(Entry *e)
{
    const Entry all[] = {
        {"c1.weight", "F32", 4, {3, 2, 3, 3}, NULL},
        {"c1.bias", "F32", 1, {3}, NULL},
        {"bn.weight", "F32", 1, {3}, NULL},
        {"bn.bias", "F32", 1, {3}, NULL},
        {"bn.running_mean", "F32", 1, {3}, NULL},
        {"bn.running_var", "F32", 1, {3}, NULL},
        {"fc.weight", "F32", 2, {4, 27}, NULL},
        {"fc.bias", "F32", 1, {4}, NULL},
    };
    memcpy(e, all, sizeof all);
    return (int)(sizeof all / sizeof all[0]);
}

/* The entry of that name, to spoil it. */
static Entry *find_entry(Entry *e, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(e[i].name, name))
            return &e[i];
    fail_msg("no entry %s", name);
    return NULL;
}

/* A load of path into a fresh compilation of src: what it printed. */
typedef struct Load {
    Compiled *c;
    bool ok;
    char *msgs;
    size_t len;
    int errors, warnings;
} Load;

static Load load_src(const char *src, const char *path)
{
    Load r = {.c = tu_compile(src)};
    assert_int_equal(r.c->errors, 0);
    FILE *out = open_memstream(&r.msgs, &r.len);
    assert_non_null(out);
    Diag d;
    diag_init(&d, "t.net", src, strlen(src), out);
    r.ok = weights_load(&r.c->mem, &d, r.c->net, path);
    diag_flush(&d);
    fclose(out);
    r.errors = d.errors;
    r.warnings = d.warnings;
    return r;
}

/* A load into the conv/batchnorm/linear model. */
static Load load(const char *path)
{
    return load_src(model_src, path);
}

static void load_free(Load *r)
{
    tu_free(r->c);
    free(r->msgs);
}

/* Writes entries to OUT/name and loads them into model_src. */
static Load write_and_load(const char *name, const Entry *e, int n, char *path, size_t pathlen)
{
    mkdir("build", 0777);
    mkdir("build/tests", 0777);
    mkdir(OUT, 0777);
    snprintf(path, pathlen, OUT "/%s", name);
    write_st(path, e, n);
    return load(path);
}

static void test_weights_load_f32(void **state)
{
    (void)state;
    Entry e[8];
    int n = good_entries(e);
    char path[256];
    Load r = write_and_load("good.safetensors", e, n, path, sizeof path);
    assert_true(r.ok);
    assert_string_equal(r.msgs, "");
    Layer *fc = tu_layer(r.c, "fc"), *bn = tu_layer(r.c, "bn");
    for (int64_t i = 0; i < 4 * 27; i++)
        assert_true(fc->tensor[0][i] == value(i));
    for (int k = 0; k < 4; k++)
        assert_true(bn->tensor[k][2] == value(2));
    load_free(&r);
}

static void test_weights_load_f16_and_bf16(void **state)
{
    (void)state;
    Entry e[8];
    int n = good_entries(e);
    static const float special[3] = {-0.0f, 65504.0f, 0x1p-14f}; /* signed zero, largest, smallest normal half */
    static const float bspecial[3] = {-0.0f, 0x1p100f, -0x1.fep-120f};
    find_entry(e, n, "c1.weight")->dtype = "F16";
    find_entry(e, n, "c1.bias")->dtype = "F16";
    find_entry(e, n, "c1.bias")->values = special;
    find_entry(e, n, "bn.running_var")->dtype = "BF16";
    find_entry(e, n, "bn.running_var")->values = bspecial;
    find_entry(e, n, "fc.weight")->dtype = "BF16";
    char path[256];
    Load r = write_and_load("mixed.safetensors", e, n, path, sizeof path);
    assert_true(r.ok);
    assert_string_equal(r.msgs, "");
    Layer *c1 = tu_layer(r.c, "c1"), *bn = tu_layer(r.c, "bn"), *fc = tu_layer(r.c, "fc");
    for (int64_t i = 0; i < 54; i++)
        assert_true(c1->tensor[0][i] == value(i));
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(&c1->tensor[1][i], &special[i], 4);
        assert_memory_equal(&bn->tensor[3][i], &bspecial[i], 4);
    }
    for (int64_t i = 0; i < 108; i++)
        assert_true(fc->tensor[0][i] == value(i));
    load_free(&r);
}

static void test_weights_missing_tensor(void **state)
{
    (void)state;
    Entry e[8];
    int n = good_entries(e);
    e[1] = e[--n]; /* no c1.bias */
    char path[256];
    Load r = write_and_load("missing.safetensors", e, n, path, sizeof path);
    assert_false(r.ok);
    assert_int_equal(r.errors, 1);
    assert_string_equal(r.msgs, OUT "/missing.safetensors: error: tensor 'c1.bias' is missing; conv2d 'c1' "
                                    "(line 4) needs bias of shape [3]\n");
    load_free(&r);
}

/* Every missing tensor is named, not just the first. */
static void test_weights_missing_all_reported(void **state)
{
    (void)state;
    char path[256];
    Load r = write_and_load("empty.safetensors", NULL, 0, path, sizeof path);
    assert_false(r.ok);
    assert_int_equal(r.errors, 8);
    assert_non_null(strstr(r.msgs, "tensor 'bn.running_mean' is missing; batchnorm2d 'bn' (line 5) needs "
                                   "running_mean of shape [3]\n"));
    assert_non_null(strstr(r.msgs, "tensor 'fc.weight' is missing; linear 'fc' (line 8) needs weight of shape "
                                   "[4, 27]\n"));
    load_free(&r);
}

static void test_weights_wrong_shape(void **state)
{
    (void)state;
    Entry e[8];
    int n = good_entries(e);
    find_entry(e, n, "fc.weight")->shape[1] = 26;
    Entry *w = find_entry(e, n, "c1.weight"); /* right size, wrong rank: a flattened kernel */
    w->ndim = 2;
    w->shape[1] = 18;
    char path[256];
    Load r = write_and_load("shape.safetensors", e, n, path, sizeof path);
    assert_false(r.ok);
    assert_int_equal(r.errors, 2);
    assert_string_equal(r.msgs,
                        OUT "/shape.safetensors: error: tensor 'c1.weight' has shape [3, 18], but conv2d 'c1' "
                            "(line 4) needs [3, 2, 3, 3]\n" OUT "/shape.safetensors: error: tensor 'fc.weight' has "
                            "shape [4, 26], but linear 'fc' (line 8) needs [4, 27]\n");
    load_free(&r);
}

static void test_weights_unsupported_dtype(void **state)
{
    (void)state;
    Entry e[8];
    int n = good_entries(e);
    find_entry(e, n, "c1.bias")->dtype = "F64";
    find_entry(e, n, "bn.running_var")->dtype = "I64";
    char path[256];
    Load r = write_and_load("dtype.safetensors", e, n, path, sizeof path);
    assert_false(r.ok);
    assert_int_equal(r.errors, 2);
    assert_string_equal(r.msgs, OUT "/dtype.safetensors: error: tensor 'c1.bias' has dtype F64; cnnc reads F32, "
                                    "F16 and BF16\n" OUT "/dtype.safetensors: error: tensor 'bn.running_var' has "
                                    "dtype I64; cnnc reads F32, F16 and BF16\n");
    load_free(&r);
}

/* A tensor nobody reads is probably a misspelt name: a warning, not an
 * error. PyTorch's num_batches_tracked counters are expected and silent. */
static void test_weights_unused_tensor_warns(void **state)
{
    (void)state;
    Entry e[10];
    int n = good_entries(e);
    e[n++] = (Entry){"bn.num_batches_tracked", "I64", 0, {0}, NULL};
    e[n++] = (Entry){"c2.weight", "F32", 1, {5}, NULL};
    char path[256];
    Load r = write_and_load("unused.safetensors", e, n, path, sizeof path);
    assert_true(r.ok);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.warnings, 1);
    assert_string_equal(r.msgs, OUT "/unused.safetensors: warning: tensor 'c2.weight' is not used by any layer\n");
    load_free(&r);
}

/* bias=false: the layer needs no bias, and a bias in the file is unused. */
static void test_weights_bias_false(void **state)
{
    (void)state;
    const char *src = "network w\ninput x 2x5x5\nconv2d c1 out=3 kernel=3 bias=false\n";
    Entry e[2] = {{"c1.weight", "F32", 4, {3, 2, 3, 3}, NULL}, {"c1.bias", "F32", 1, {3}, NULL}};
    char path[256];
    mkdir(OUT, 0777);
    snprintf(path, sizeof path, OUT "/nobias.safetensors");
    write_st(path, e, 2);
    Load r = load_src(src, path);
    assert_true(r.ok);
    assert_string_equal(r.msgs, OUT "/nobias.safetensors: warning: tensor 'c1.bias' is not used by any layer\n");
    assert_null(tu_layer(r.c, "c1")->tensor[1]);
    load_free(&r);
    write_st(path, e, 1);
    r = load_src(src, path);
    assert_true(r.ok);
    assert_string_equal(r.msgs, "");
    load_free(&r);
}

static void test_weights_nonfinite_warns(void **state)
{
    (void)state;
    Entry e[8];
    int n = good_entries(e);
    float w[54], b[3] = {1, INFINITY, 2};
    for (int i = 0; i < 54; i++)
        w[i] = value(i);
    w[5] = NAN;
    w[9] = -INFINITY;
    find_entry(e, n, "c1.weight")->values = w;
    find_entry(e, n, "c1.bias")->values = b;
    find_entry(e, n, "c1.bias")->dtype = "F16"; /* converted inf is still caught */
    char path[256];
    Load r = write_and_load("nan.safetensors", e, n, path, sizeof path);
    assert_true(r.ok);
    assert_int_equal(r.warnings, 2);
    assert_string_equal(r.msgs, OUT "/nan.safetensors: warning: tensor 'c1.weight' holds 2 NaN or infinite "
                                    "values\n" OUT "/nan.safetensors: warning: tensor 'c1.bias' holds 1 NaN or "
                                    "infinite value\n");
    load_free(&r);
}

/* A file that is not safetensors at all, or cut short: the reader's
 * message, prefixed with the path so the user knows which file. */
static void test_weights_damaged_file(void **state)
{
    (void)state;
    Entry e[8];
    int n = good_entries(e);
    char path[256];
    Load r = write_and_load("cut.safetensors", e, n, path, sizeof path);
    assert_true(r.ok);
    load_free(&r);
    size_t len;
    char *bytes = tu_read_file(path, &len);
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, len - 5, f); /* the last tensor's data cut short */
    fclose(f);
    free(bytes);
    r = load(path);
    assert_false(r.ok);
    assert_int_equal(r.errors, 1);
    const char *prefix = OUT "/cut.safetensors: error: ";
    assert_int_equal(strncmp(r.msgs, prefix, strlen(prefix)), 0);
    assert_non_null(strchr(r.msgs + strlen(prefix), '\n'));
    load_free(&r);

    f = fopen(OUT "/text.safetensors", "w");
    fputs("conv2d c1 out=3 kernel=3\n", f);
    fclose(f);
    r = load(OUT "/text.safetensors");
    assert_false(r.ok);
    prefix = OUT "/text.safetensors: error: header length";
    assert_int_equal(strncmp(r.msgs, prefix, strlen(prefix)), 0);
    load_free(&r);

    unlink(OUT "/absent.safetensors");
    r = load(OUT "/absent.safetensors");
    assert_false(r.ok);
    assert_string_equal(r.msgs, OUT "/absent.safetensors: error: cannot open: no such file or directory\n");
    load_free(&r);
}

/* Through the command line: bad weights are exit status 1 with the
 * message on stderr, and no output; warnings alone still succeed. */
static void test_weights_cli_exit_status(void **state)
{
    (void)state;
    mkdir(OUT, 0777);
    FILE *f = fopen(OUT "/w.net", "w");
    fputs(model_src, f);
    fclose(f);
    Entry e[9];
    int n = good_entries(e);
    e[n] = (Entry){"extra", "F32", 1, {1}, NULL};
    write_st(OUT "/warn.safetensors", e, n + 1);
    unlink(OUT "/w.c");
    char *out = NULL;
    int status = tu_run("build/cnnc " OUT "/w.net -w " OUT "/warn.safetensors -o " OUT "/w.c 2>&1", &out);
    assert_int_equal(status, 0);
    assert_string_equal(out, OUT "/warn.safetensors: warning: tensor 'extra' is not used by any layer\n");
    free(out);
    assert_int_equal(access(OUT "/w.c", F_OK), 0);

    unlink(OUT "/w.c");
    unlink(OUT "/w.h");
    find_entry(e, n, "bn.bias")->shape[0] = 4;
    write_st(OUT "/bad.safetensors", e, n);
    status = tu_run("build/cnnc " OUT "/w.net -w " OUT "/bad.safetensors -o " OUT "/w.c 2>&1", &out);
    assert_int_equal(status, 1);
    assert_string_equal(out, OUT "/bad.safetensors: error: tensor 'bn.bias' has shape [4], but batchnorm2d 'bn' "
                                 "(line 5) needs [3]\n");
    free(out);
    assert_int_equal(access(OUT "/w.c", F_OK), -1);
    assert_int_equal(access(OUT "/w.h", F_OK), -1);

    status = tu_run("build/cnnc " OUT "/w.net -w " OUT "/absent.safetensors -o " OUT "/w.c 2>&1", &out);
    assert_int_equal(status, 1);
    assert_non_null(strstr(out, OUT "/absent.safetensors: error: cannot open"));
    free(out);
}

/* --init: zeros, or Kaiming-uniform from a seed, the same on every run;
 * batchnorms start as PyTorch's, the identity. */
static void test_weights_init(void **state)
{
    (void)state;
    Compiled *a = tu_compile(model_src), *b = tu_compile(model_src);
    assert_true(weights_init(&a->mem, a->net, "random:42"));
    assert_true(weights_init(&b->mem, b->net, "random:42"));
    Layer *fa = tu_layer(a, "fc"), *fb = tu_layer(b, "fc"), *bn = tu_layer(a, "bn");
    assert_memory_equal(fa->tensor[0], fb->tensor[0], 4 * 27 * sizeof(float));
    double bound = 1 / sqrt(27.0), most = 0;
    for (int i = 0; i < 4 * 27; i++)
        most = fmax(most, fabs(fa->tensor[0][i]));
    assert_true(most <= bound && most > 0.5 * bound);
    for (int c = 0; c < 3; c++) {
        assert_true(bn->tensor[0][c] == 1 && bn->tensor[1][c] == 0);
        assert_true(bn->tensor[2][c] == 0 && bn->tensor[3][c] == 1);
    }
    assert_true(weights_init(&b->mem, b->net, "random:43"));
    assert_memory_not_equal(fa->tensor[0], fb->tensor[0], 4 * 27 * sizeof(float));
    assert_true(weights_init(&b->mem, b->net, "zeros"));
    for (int i = 0; i < 4 * 27; i++)
        assert_true(fb->tensor[0][i] == 0);
    assert_true(weights_init(&b->mem, b->net, "random"));
    assert_false(weights_init(&b->mem, b->net, "random:"));
    assert_false(weights_init(&b->mem, b->net, "random:x1"));
    assert_false(weights_init(&b->mem, b->net, "randomly"));
    assert_false(weights_init(&b->mem, b->net, "ones"));
    tu_free(a);
    tu_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights_load_f32),
        cmocka_unit_test(test_weights_load_f16_and_bf16),
        cmocka_unit_test(test_weights_missing_tensor),
        cmocka_unit_test(test_weights_missing_all_reported),
        cmocka_unit_test(test_weights_wrong_shape),
        cmocka_unit_test(test_weights_unsupported_dtype),
        cmocka_unit_test(test_weights_unused_tensor_warns),
        cmocka_unit_test(test_weights_bias_false),
        cmocka_unit_test(test_weights_nonfinite_warns),
        cmocka_unit_test(test_weights_damaged_file),
        cmocka_unit_test(test_weights_cli_exit_status),
        cmocka_unit_test(test_weights_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
