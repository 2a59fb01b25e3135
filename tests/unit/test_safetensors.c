/* test_safetensors.c - cmocka tests for the safetensors reader and writer.
 *
 * Most inputs are built in memory: tests write headers with single quotes (q() turns them into
 * double quotes) so the JSON stays readable. Run from the repository root, or define
 * ST_TEST_WEIGHTS to the tests/weights directory, for the PyTorch-written fixture. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"

#ifndef ST_TEST_WEIGHTS
#define ST_TEST_WEIGHTS "tests/weights"
#endif

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                     */

typedef struct Bytes {
    unsigned char *p;
    size_t n;
} Bytes;

/* A header written with single quotes, turned into JSON (tests never need a literal '). */
static char *q(const char *s)
{
    char *out = strdup(s);
    char *c;
    assert_non_null(out);
    for (c = out; *c; c++)
        if (*c == '\'')
            *c = '"';
    return out;
}

/* Little-endian u64 into 8 bytes, as the format stores the header length. */
static void put_u64le(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A file from an explicit header length, header bytes and data (data NULL: a byte pattern). */
static Bytes raw_file(uint64_t hlen, const char *hdr, size_t hdrlen, const void *data,
                      size_t datalen)
{
    Bytes b;
    size_t k;
    b.n = 8 + hdrlen + datalen;
    b.p = malloc(b.n ? b.n : 1);
    assert_non_null(b.p);
    put_u64le(b.p, hlen);
    memcpy(b.p + 8, hdr, hdrlen);
    for (k = 0; k < datalen; k++)
        b.p[8 + hdrlen + k] = data ? ((const unsigned char *)data)[k] : (unsigned char)(k * 7 + 1);
    return b;
}

/* A well-framed file around a single-quoted header. */
static Bytes file_q(const char *qjson, const void *data, size_t datalen)
{
    char *json = q(qjson);
    Bytes b = raw_file(strlen(json), json, strlen(json), data, datalen);
    free(json);
    return b;
}

/* Loads b (and frees it); the load must succeed. */
static StFile *load_ok(Bytes b)
{
    char err[512] = "";
    StFile *f = st_load_mem("mem", b.p, b.n, err, sizeof err);
    free(b.p);
    if (!f)
        fail_msg("unexpected error: %s", err);
    return f;
}

/* Loads b (and frees it); the load must fail with exactly msg. */
static void load_err(Bytes b, const char *msg)
{
    char err[512] = "";
    StFile *f = st_load_mem("mem", b.p, b.n, err, sizeof err);
    free(b.p);
    if (f) {
        st_free(f);
        fail_msg("loaded, but expected: %s", msg);
    }
    assert_string_equal(err, msg);
}

/* A single-quoted header with datalen pattern bytes must fail with msg. */
static void json_err(const char *qjson, size_t datalen, const char *msg)
{
    load_err(file_q(qjson, NULL, datalen), msg);
}

/* Float bit pattern, the only exact way to compare -0, NaN payloads and subnormals. */
static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Inverse of bits_of. */
static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* A private directory for files written by a test. */
typedef struct TmpDir {
    char dir[64];
    char path[128];
} TmpDir;

/* Creates the directory. */
static void tmp_make(TmpDir *t)
{
    strcpy(t->dir, "/tmp/test_safetensors_XXXXXX");
    assert_non_null(mkdtemp(t->dir));
}

/* Path of a file inside it. */
static const char *tmp_file(TmpDir *t, const char *leaf)
{
    snprintf(t->path, sizeof t->path, "%s/%s", t->dir, leaf);
    return t->path;
}

/* Removes the listed files and the directory. */
static void tmp_clean(TmpDir *t, const char *const *leaves, int n)
{
    int i;
    for (i = 0; i < n; i++)
        unlink(tmp_file(t, leaves[i]));
    assert_int_equal(rmdir(t->dir), 0);
}

/* Whole file into memory. */
static Bytes read_whole(const char *path)
{
    Bytes b = { NULL, 0 };
    FILE *fp = fopen(path, "rb");
    long len;
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    len = ftell(fp);
    assert_true(len >= 0);
    rewind(fp);
    b.n = (size_t)len;
    b.p = malloc(b.n ? b.n : 1);
    assert_non_null(b.p);
    assert_int_equal(fread(b.p, 1, b.n, fp), b.n);
    fclose(fp);
    return b;
}

/* An F16 or BF16 tensor "t" of n 16-bit patterns, converted to float through the reader. */
static int64_t convert16(const char *dtype, const uint16_t *h, size_t n, float *out)
{
    char hdr[160];
    unsigned char *data = malloc(2 * n);
    StFile *f;
    int64_t rc;
    size_t k;
    assert_non_null(data);
    for (k = 0; k < n; k++) {
        data[2 * k] = (unsigned char)h[k];
        data[2 * k + 1] = (unsigned char)(h[k] >> 8);
    }
    snprintf(hdr, sizeof hdr, "{'t':{'dtype':'%s','shape':[%zu],'data_offsets':[0,%zu]}}", dtype,
             n, 2 * n);
    f = load_ok(file_q(hdr, data, 2 * n));
    free(data);
    assert_int_equal(f->tensors[0].dtype, strcmp(dtype, "F16") == 0 ? ST_F16 : ST_BF16);
    rc = st_to_f32(f, &f->tensors[0], out);
    st_free(f);
    return rc;
}

/* 2^e as a float, built by exact doubling/halving rather than libm. */
static double pow2(int e)
{
    double v = 1.0;
    for (; e > 0; e--)
        v *= 2.0;
    for (; e < 0; e++)
        v *= 0.5;
    return v;
}

/* binary16 decoded arithmetically from its definition, independently of the reader's bit
   manipulation; NaNs keep sign and payload. */
static uint32_t ref_f16(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v;
    if (e == 0x1f && m != 0)
        return (uint32_t)sign << 31 | 0x7f800000u | (uint32_t)m << 13;
    if (e == 0x1f)
        v = INFINITY;
    else if (e == 0)
        v = (float)(m * pow2(-24));
    else
        v = (float)((1024 + m) * pow2(e - 25));
    return bits_of(sign ? -v : v);
}

/* ------------------------------------------------------------------------------------------ */
/* Valid files                                                                                 */

/* st_write_f32 then st_load gives back names, shapes, order and bit-exact values. */
static void test_safetensors_round_trip(void **state)
{
    static const char *const names[] = { "c1.weight", "c1.bias", "scalar", "empty", "special" };
    static const int ndims[] = { 4, 1, 0, 2, 1 };
    static const int64_t shapes[][8] = { { 2, 1, 3, 3 }, { 2 }, { 0 }, { 0, 4 }, { 6 } };
    float w[18], b[2] = { 0.5f, -0.25f }, s = 42.0f, sp[6];
    const float *datas[5];
    char err[256] = "";
    TmpDir td;
    StFile *f;
    float out[18];
    uint64_t pos;
    int k;
    (void)state;
    for (k = 0; k < 18; k++)
        w[k] = (float)k * 0.25f - 1.0f;
    sp[0] = float_of(0x80000000u); /* -0 */
    sp[1] = float_of(0x00000001u); /* smallest subnormal */
    sp[2] = INFINITY;
    sp[3] = -INFINITY;
    sp[4] = float_of(0x7fc12345u); /* NaN with a payload */
    sp[5] = 3.4028234663852886e38f;
    datas[0] = w; datas[1] = b; datas[2] = &s; datas[3] = NULL; datas[4] = sp;
    tmp_make(&td);
    assert_int_equal(st_write_f32(tmp_file(&td, "rt.safetensors"), 5, names, ndims, shapes, datas,
                                  err, sizeof err), 0);
    f = st_load(td.path, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    assert_string_equal(f->path, td.path);
    assert_int_equal(f->ntensors, 5);
    assert_int_equal(f->nmeta, 0);
    pos = f->size - (18 + 2 + 1 + 0 + 6) * 4; /* data follows the header, in the given order */
    assert_int_equal(pos % 8, 0);
    for (k = 0; k < 5; k++) {
        const StTensor *t = &f->tensors[k];
        assert_string_equal(t->name, names[k]);
        assert_ptr_equal(st_find(f, names[k]), t);
        assert_int_equal(t->dtype, ST_F32);
        assert_string_equal(t->dtype_name, "F32");
        assert_int_equal(t->ndim, ndims[k]);
        assert_memory_equal(t->shape, shapes[k], (size_t)ndims[k] * sizeof(int64_t));
        assert_int_equal(t->begin, pos);
        assert_int_equal(t->end - t->begin, (uint64_t)st_numel(t) * 4);
        pos = t->end;
    }
    assert_int_equal(pos, f->size);
    assert_int_equal(st_numel(&f->tensors[2]), 1);
    assert_int_equal(st_numel(&f->tensors[3]), 0);
    assert_int_equal(st_to_f32(f, &f->tensors[0], out), 0);
    assert_memory_equal(out, w, sizeof w);
    assert_int_equal(st_to_f32(f, &f->tensors[1], out), 0);
    assert_memory_equal(out, b, sizeof b);
    assert_int_equal(st_to_f32(f, &f->tensors[2], out), 0);
    assert_true(out[0] == 42.0f);
    assert_int_equal(st_to_f32(f, &f->tensors[3], NULL), 0);
    assert_int_equal(st_to_f32(f, &f->tensors[4], out), 3);
    for (k = 0; k < 6; k++)
        assert_int_equal(bits_of(out[k]), bits_of(sp[k]));
    assert_null(st_find(f, "missing"));
    assert_null(st_find(f, "c1"));
    st_free(f);
    tmp_clean(&td, (const char *const[]){ "rt.safetensors" }, 1);
}

/* The writer's bytes are exactly the format: LE length, compact JSON padded with spaces to an
   8-byte boundary, LE floats; and writing twice gives the same file. */
static void test_safetensors_write_exact_bytes(void **state)
{
    static const char *const names[] = { "a", "b" };
    static const int ndims[] = { 1, 2 };
    static const int64_t shapes[][8] = { { 2 }, { 1, 1 } };
    static const float a[] = { 1.0f, -2.0f }, bv[] = { 0.5f };
    static const unsigned char data[] = { 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0, 0x3f };
    const float *datas[] = { a, bv };
    char *json = q("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
                   "'b':{'dtype':'F32','shape':[1,1],'data_offsets':[8,12]}}");
    char err[256];
    size_t hlen = strlen(json), padded = hlen;
    TmpDir td;
    Bytes one, two;
    (void)state;
    while ((8 + padded) % 8)
        padded++;
    tmp_make(&td);
    assert_int_equal(st_write_f32(tmp_file(&td, "1"), 2, names, ndims, shapes, datas, err,
                                  sizeof err), 0);
    one = read_whole(td.path);
    assert_int_equal(st_write_f32(tmp_file(&td, "2"), 2, names, ndims, shapes, datas, err,
                                  sizeof err), 0);
    two = read_whole(td.path);
    assert_int_equal(one.n, 8 + padded + sizeof data);
    assert_int_equal(one.p[0], padded & 0xff);
    assert_int_equal(one.p[1], padded >> 8);
    assert_memory_equal(one.p + 2, "\0\0\0\0\0\0", 6);
    assert_memory_equal(one.p + 8, json, hlen);
    for (size_t k = hlen; k < padded; k++)
        assert_int_equal(one.p[8 + k], ' ');
    assert_memory_equal(one.p + 8 + padded, data, sizeof data);
    assert_int_equal(two.n, one.n);
    assert_memory_equal(two.p, one.p, one.n);
    free(one.p);
    free(two.p);
    free(json);
    tmp_clean(&td, (const char *const[]){ "1", "2" }, 2);
}

/* An empty file list is a valid file: "{}" plus padding. */
static void test_safetensors_write_empty(void **state)
{
    char err[256];
    TmpDir td;
    StFile *f;
    (void)state;
    tmp_make(&td);
    assert_int_equal(st_write_f32(tmp_file(&td, "e"), 0, NULL, NULL, NULL, NULL, err, sizeof err),
                     0);
    f = st_load(td.path, err, sizeof err);
    assert_non_null(f);
    assert_int_equal(f->ntensors, 0);
    assert_int_equal(f->size, 16);
    st_free(f);
    tmp_clean(&td, (const char *const[]){ "e" }, 1);
}

/* Names with quotes, backslashes, control and non-ASCII characters survive the round trip. */
static void test_safetensors_write_escapes_names(void **state)
{
    static const char *const names[] = { "q\"b\\s\n\x01t", "caf\xc3\xa9.w" };
    static const int ndims[] = { 1, 1 };
    static const int64_t shapes[][8] = { { 1 }, { 1 } };
    static const float v0[] = { 1.0f }, v1[] = { 2.0f };
    const float *datas[] = { v0, v1 };
    char err[256];
    TmpDir td;
    StFile *f;
    (void)state;
    tmp_make(&td);
    assert_int_equal(st_write_f32(tmp_file(&td, "n"), 2, names, ndims, shapes, datas, err,
                                  sizeof err), 0);
    f = st_load(td.path, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    assert_string_equal(f->tensors[0].name, names[0]);
    assert_string_equal(f->tensors[1].name, names[1]);
    st_free(f);
    tmp_clean(&td, (const char *const[]){ "n" }, 1);
}

/* The writer refuses arguments that would make a damaged or ambiguous file. */
static void test_safetensors_write_errors(void **state)
{
    static const float v[] = { 1.0f, 2.0f };
    const float *datas[] = { v, v };
    const float *nodata[] = { NULL };
    int64_t shapes[2][8] = { { 2 }, { 2 } };
    int ndims[] = { 1, 1 };
    char err[256];
    TmpDir td;
    (void)state;
    tmp_make(&td);
    tmp_file(&td, "w");
    assert_int_equal(st_write_f32(td.path, 2, (const char *const[]){ "a", "a" }, ndims,
                                  (const int64_t(*)[8])shapes, datas, err, sizeof err), -1);
    assert_string_equal(err, "duplicate tensor name 'a'");
    assert_int_equal(st_write_f32(td.path, 1, (const char *const[]){ "__metadata__" }, ndims,
                                  (const int64_t(*)[8])shapes, datas, err, sizeof err), -1);
    assert_string_equal(err, "tensor name '__metadata__' is reserved");
    assert_int_equal(st_write_f32(td.path, 1, (const char *const[]){ "a\xff" }, ndims,
                                  (const int64_t(*)[8])shapes, datas, err, sizeof err), -1);
    assert_string_equal(err, "tensor name 'a\\xff' is not valid utf-8");
    assert_int_equal(st_write_f32(td.path, 1, (const char *const[]){ "a" }, ndims,
                                  (const int64_t(*)[8])shapes, nodata, err, sizeof err), -1);
    assert_string_equal(err, "tensor 'a': no data");
    shapes[0][0] = -1;
    assert_int_equal(st_write_f32(td.path, 1, (const char *const[]){ "a" }, ndims,
                                  (const int64_t(*)[8])shapes, datas, err, sizeof err), -1);
    assert_string_equal(err, "tensor 'a': shape[0] is negative");
    shapes[0][0] = 2;
    ndims[0] = 9;
    assert_int_equal(st_write_f32(td.path, 1, (const char *const[]){ "a" }, ndims,
                                  (const int64_t(*)[8])shapes, datas, err, sizeof err), -1);
    assert_string_equal(err, "tensor 'a': 9 dimensions, expected 0 to 8");
    ndims[0] = 2;
    shapes[0][0] = INT64_MAX;
    shapes[0][1] = 2;
    assert_int_equal(st_write_f32(td.path, 1, (const char *const[]){ "a" }, ndims,
                                  (const int64_t(*)[8])shapes, datas, err, sizeof err), -1);
    assert_string_equal(err, "tensor 'a': shape has too many elements");
    assert_int_equal(access(td.path, F_OK), -1); /* nothing was written */
    ndims[0] = 1;
    shapes[0][0] = 2;
    assert_int_equal(st_write_f32("/nonexistent-dir/x.safetensors", 1,
                                  (const char *const[]){ "a" }, ndims,
                                  (const int64_t(*)[8])shapes, datas, err, sizeof err), -1);
    assert_string_equal(err, "cannot create: no such file or directory");
    tmp_clean(&td, NULL, 0);
}

/* F16 specials convert exactly: zeros, subnormals, the largest finite, infinities, NaN. */
static void test_safetensors_f16_specials(void **state)
{
    static const uint16_t h[] = { 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000,
                                  0x0000, 0x7c00, 0xfc00, 0x7e00, 0x8001, 0x3555 };
    static const uint32_t want[] = { 0x3f800000, 0xc0000000, 0x477fe000, 0x33800000,
                                     0x387fc000, 0x38800000, 0x80000000, 0x00000000,
                                     0x7f800000, 0xff800000, 0x7fc00000, 0xb3800000,
                                     0x3eaaa000 };
    float out[13];
    size_t k;
    (void)state;
    assert_int_equal(convert16("F16", h, 13, out), 3);
    for (k = 0; k < 13; k++)
        assert_int_equal(bits_of(out[k]), want[k]);
    assert_true(out[0] == 1.0f);
    assert_true(out[2] == 65504.0f);
    assert_true(out[3] == (float)pow2(-24));
    assert_true(out[6] == 0.0f && signbit(out[6]));
    assert_true(isinf(out[9]) && out[9] < 0);
    assert_true(isnan(out[10]));
}

/* Every one of the 65536 F16 patterns matches its arithmetic definition bit for bit. */
static void test_safetensors_f16_exhaustive(void **state)
{
    uint16_t *h = malloc(65536 * sizeof *h);
    float *out = malloc(65536 * sizeof *out);
    uint32_t k;
    (void)state;
    assert_non_null(h);
    assert_non_null(out);
    for (k = 0; k < 65536; k++)
        h[k] = (uint16_t)k;
    assert_int_equal(convert16("F16", h, 65536, out), 2048); /* exponent 31: 2 x 1024 */
    for (k = 0; k < 65536; k++)
        if (bits_of(out[k]) != ref_f16((uint16_t)k))
            fail_msg("f16 0x%04x gave 0x%08x, want 0x%08x", (unsigned)k, bits_of(out[k]),
                     ref_f16((uint16_t)k));
    free(h);
    free(out);
}

/* BF16 is the top half of binary32: exact, including subnormals, NaN payloads and -0. */
static void test_safetensors_bf16_specials(void **state)
{
    static const uint16_t h[] = { 0x3f80, 0xc049, 0x0001, 0x7f7f, 0xff80, 0x8000, 0x7fc1, 0x0080 };
    float out[8];
    uint16_t *all = malloc(65536 * sizeof *all);
    float *allout = malloc(65536 * sizeof *allout);
    uint32_t k;
    (void)state;
    assert_int_equal(convert16("BF16", h, 8, out), 2);
    assert_true(out[0] == 1.0f);
    assert_true(out[1] == -3.140625f);
    assert_true(out[2] == (float)pow2(-133));
    assert_true(out[3] == (float)((2.0 - pow2(-7)) * pow2(127)));
    assert_true(isinf(out[4]) && out[4] < 0);
    assert_true(out[5] == 0.0f && signbit(out[5]));
    assert_int_equal(bits_of(out[6]), 0x7fc10000u);
    assert_true(out[7] == (float)pow2(-126));
    assert_non_null(all);
    assert_non_null(allout);
    for (k = 0; k < 65536; k++)
        all[k] = (uint16_t)k;
    assert_int_equal(convert16("BF16", all, 65536, allout), 256); /* 2 signs x 128 */
    for (k = 0; k < 65536; k++)
        assert_int_equal(bits_of(allout[k]), k << 16);
    free(all);
    free(allout);
}

/* F32 data is read little-endian byte by byte; non-finite values are counted. */
static void test_safetensors_f32_little_endian(void **state)
{
    static const unsigned char data[] = { 0x00, 0x00, 0x80, 0x3f, 0x01, 0x00, 0x00, 0x00,
                                          0x00, 0x00, 0xc0, 0x7f, 0x00, 0x00, 0x80, 0xff,
                                          0xdb, 0x0f, 0x49, 0x40 };
    float out[5];
    StFile *f;
    (void)state;
    f = load_ok(file_q("{'t':{'dtype':'F32','shape':[5],'data_offsets':[0,20]}}", data, 20));
    assert_int_equal(st_to_f32(f, &f->tensors[0], out), 2);
    assert_true(out[0] == 1.0f);
    assert_int_equal(bits_of(out[1]), 1);
    assert_true(isnan(out[2]));
    assert_true(isinf(out[3]) && out[3] < 0);
    assert_int_equal(bits_of(out[4]), 0x40490fdbu);
    st_free(f);
}

/* Other dtypes load (the file is not damaged) but are refused by the converter. */
static void test_safetensors_other_dtypes(void **state)
{
    static const struct { const char *name; StDtype dtype; int size; } cases[] = {
        { "F64", ST_F64, 8 }, { "I8", ST_I8, 1 },    { "U8", ST_U8, 1 },
        { "I16", ST_I16, 2 }, { "I32", ST_I32, 4 },  { "I64", ST_I64, 8 },
        { "BOOL", ST_BOOL, 1 }, { "U16", ST_OTHER, 2 }, { "U32", ST_OTHER, 4 },
        { "U64", ST_OTHER, 8 }, { "F8_E4M3", ST_OTHER, 1 }, { "F8_E5M2", ST_OTHER, 1 },
        { "C64", ST_OTHER, 8 },
    };
    char hdr[160];
    float out[4];
    size_t k;
    (void)state;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        StFile *f;
        snprintf(hdr, sizeof hdr, "{'t':{'dtype':'%s','shape':[2],'data_offsets':[0,%d]}}",
                 cases[k].name, 2 * cases[k].size);
        f = load_ok(file_q(hdr, NULL, (size_t)(2 * cases[k].size)));
        assert_int_equal(f->tensors[0].dtype, cases[k].dtype);
        assert_string_equal(f->tensors[0].dtype_name, cases[k].name);
        assert_false(st_dtype_convertible(cases[k].dtype));
        assert_int_equal(st_to_f32(f, &f->tensors[0], out), -1);
        if (cases[k].dtype != ST_OTHER)
            assert_int_equal(st_dtype_size(cases[k].dtype), cases[k].size);
        st_free(f);
    }
    /* sub-byte types: 4 F4 values fill 2 bytes */
    st_free(load_ok(file_q("{'t':{'dtype':'F4','shape':[4],'data_offsets':[0,2]}}", NULL, 2)));
    st_free(load_ok(file_q("{'t':{'dtype':'F6_E2M3','shape':[4],'data_offsets':[0,3]}}", NULL, 3)));
    assert_true(st_dtype_convertible(ST_F32) && st_dtype_convertible(ST_F16)
                && st_dtype_convertible(ST_BF16));
    assert_int_equal(st_dtype_size(ST_F32), 4);
    assert_int_equal(st_dtype_size(ST_BF16), 2);
}

/* "__metadata__" is read in order and is not a tensor. */
static void test_safetensors_metadata(void **state)
{
    StFile *f;
    (void)state;
    f = load_ok(file_q("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
                       "'__metadata__':{'format':'pt','note':'caf\\u00e9 \\'x\\''}}", NULL, 4));
    assert_int_equal(f->ntensors, 1);
    assert_int_equal(f->nmeta, 2);
    assert_string_equal(f->meta_keys[0], "format");
    assert_string_equal(st_meta(f, "format"), "pt");
    assert_string_equal(st_meta(f, "note"), "caf\xc3\xa9 \"x\"");
    assert_null(st_meta(f, "missing"));
    assert_null(st_find(f, "__metadata__"));
    st_free(f);
    f = load_ok(file_q("{'__metadata__':{}}", NULL, 0));
    assert_int_equal(f->ntensors, 0);
    assert_int_equal(f->nmeta, 0);
    st_free(f);
}

/* No tensors and no data is a valid (if useless) file. */
static void test_safetensors_empty_object(void **state)
{
    StFile *f;
    (void)state;
    f = load_ok(file_q("{}", NULL, 0));
    assert_int_equal(f->ntensors, 0);
    assert_null(st_find(f, "a"));
    st_free(f);
}

/* Space padding after the object, and JSON whitespace between tokens, are accepted. */
static void test_safetensors_whitespace_and_padding(void **state)
{
    StFile *f;
    (void)state;
    f = load_ok(file_q("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}       ", NULL, 4));
    assert_int_equal(f->ntensors, 1);
    assert_int_equal(f->tensors[0].begin, f->size - 4);
    st_free(f);
    f = load_ok(file_q("{\n\t'a' : {\r\n 'dtype' : 'F32' , 'shape' : [ 1 ] ,"
                       " 'data_offsets' : [ 0 , 4 ] } \n} \n", NULL, 4));
    assert_int_equal(f->ntensors, 1);
    st_free(f);
}

/* Empty tensors take no bytes, may share an offset with others, and scalars have one element. */
static void test_safetensors_zero_sized_and_scalar(void **state)
{
    StFile *f;
    (void)state;
    f = load_ok(file_q("{'z0':{'dtype':'F32','shape':[0],'data_offsets':[0,0]},"
                       "'s':{'dtype':'F32','shape':[],'data_offsets':[0,4]},"
                       "'z1':{'dtype':'F16','shape':[3,0,2],'data_offsets':[4,4]},"
                       "'z2':{'dtype':'BF16','shape':[-0],'data_offsets':[4,4]},"
                       "'t':{'dtype':'F16','shape':[1],'data_offsets':[4,6]}}", NULL, 6));
    assert_int_equal(f->ntensors, 5);
    assert_int_equal(st_numel(&f->tensors[0]), 0);
    assert_int_equal(f->tensors[1].ndim, 0);
    assert_int_equal(st_numel(&f->tensors[1]), 1);
    assert_int_equal(st_numel(&f->tensors[2]), 0);
    assert_int_equal(f->tensors[3].shape[0], 0);
    assert_int_equal(st_to_f32(f, &f->tensors[2], NULL), 0);
    st_free(f);
    /* a zero dimension makes the tensor empty however large the others are, if they fit */
    f = load_ok(file_q("{'z':{'dtype':'F64','shape':[9223372036854775807,0],"
                       "'data_offsets':[0,0]}}", NULL, 0));
    assert_int_equal(st_numel(&f->tensors[0]), 0);
    st_free(f);
}

/* String escapes, \u and surrogate pairs included, decode to UTF-8 names. */
static void test_safetensors_json_escapes(void **state)
{
    StFile *f;
    (void)state;
    f = load_ok(file_q("{'a\\u00e9\\ud83d\\ude00\\n\\'\\\\\\/\\b\\f\\r\\t\\u20AC':"
                       "{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
                       "'raw\xc3\xa9':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", NULL, 8));
    assert_string_equal(f->tensors[0].name,
                        "a\xc3\xa9\xf0\x9f\x98\x80\n\"\\/\b\f\r\t\xe2\x82\xac");
    assert_non_null(st_find(f, "raw\xc3\xa9"));
    st_free(f);
}

/* A file written by PyTorch (tests/weights/make_fixtures.py) reads back bit-exactly. */
static void test_safetensors_pytorch_fixture(void **state)
{
    static const uint32_t conv[] = { 0x3f000000, 0xbfa00000, 0x7f61b1e6, 0x00000001,
                                     0x80000000, 0x42c80000 };
    static const uint32_t half[] = { 0x3f800000, 0xc0000000, 0x477fe000, 0x33800000,
                                     0x38800000, 0x80000000, 0x7f800000, 0x7fc00000 };
    static const uint32_t brain[] = { 0x3f800000, 0xc0490000, 0x00010000, 0x7f7f0000,
                                      0xff800000, 0x00000000 };
    static const int64_t conv_shape[] = { 2, 1, 1, 3 };
    char err[256];
    float out[8];
    const StTensor *t;
    StFile *f;
    int k;
    (void)state;
    f = st_load(ST_TEST_WEIGHTS "/fixture.safetensors", err, sizeof err);
    if (!f)
        fail_msg("%s: %s", ST_TEST_WEIGHTS "/fixture.safetensors", err);
    assert_int_equal(f->ntensors, 5);
    assert_string_equal(st_meta(f, "format"), "pt");
    t = st_find(f, "conv.weight");
    assert_non_null(t);
    assert_int_equal(t->ndim, 4);
    assert_memory_equal(t->shape, conv_shape, sizeof conv_shape);
    assert_int_equal(st_to_f32(f, t, out), 0);
    for (k = 0; k < 6; k++)
        assert_int_equal(bits_of(out[k]), conv[k]);
    t = st_find(f, "half");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F16);
    assert_int_equal(st_to_f32(f, t, out), 2);
    for (k = 0; k < 8; k++)
        assert_int_equal(bits_of(out[k]), half[k]);
    t = st_find(f, "brain");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_BF16);
    assert_int_equal(st_to_f32(f, t, out), 1);
    for (k = 0; k < 6; k++)
        assert_int_equal(bits_of(out[k]), brain[k]);
    t = st_find(f, "steps");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_I64);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(f->data[t->begin], 7);
    t = st_find(f, "empty");
    assert_non_null(t);
    assert_int_equal(st_numel(t), 0);
    assert_int_equal(t->begin, t->end);
    st_free(f);
}

/* ------------------------------------------------------------------------------------------ */
/* Damaged files: every defect has its own message                                             */

/* Too short to hold the header length. */
static void test_safetensors_error_short_file(void **state)
{
    (void)state;
    load_err((Bytes){ calloc(1, 1), 0 }, "file is 0 bytes, too short for the 8-byte header length");
    load_err((Bytes){ calloc(7, 1), 7 }, "file is 7 bytes, too short for the 8-byte header length");
}

/* Header length past the end of the file, absurdly large, or zero. */
static void test_safetensors_error_header_length(void **state)
{
    (void)state;
    load_err(raw_file(100, "{}", 2, NULL, 10),
             "header length 100 is beyond the end of the file (20 bytes)");
    load_err(raw_file(3, "{}", 2, NULL, 0),
             "header length 3 is beyond the end of the file (10 bytes)");
    load_err(raw_file(UINT64_C(1) << 63, "{}", 2, NULL, 0),
             "header length 9223372036854775808 is absurd (the limit is 100000000 bytes)");
    load_err(raw_file(UINT64_MAX, "{}", 2, NULL, 0),
             "header length 18446744073709551615 is absurd (the limit is 100000000 bytes)");
    load_err(raw_file(100000001, "{}", 2, NULL, 0),
             "header length 100000001 is absurd (the limit is 100000000 bytes)");
    load_err(raw_file(0, "", 0, NULL, 4), "header is empty");
}

/* The header must be a JSON object, starting right away with '{'. */
static void test_safetensors_error_header_not_object(void **state)
{
    (void)state;
    json_err("[]", 0, "header is not a json object (it must start with '{')");
    json_err(" {}", 0, "header is not a json object (it must start with '{')");
    json_err("'a'", 0, "header is not a json object (it must start with '{')");
}

/* Malformed UTF-8 anywhere in the header. */
static void test_safetensors_error_bad_utf8(void **state)
{
    static const struct { const char *hdr; size_t len; const char *msg; } cases[] = {
        { "{\"\xc0\x80\":1}", 7, "header is not valid utf-8 (byte 2)" },        /* overlong */
        { "{\"a\x80\":1}", 7, "header is not valid utf-8 (byte 3)" },          /* stray continuation */
        { "{\"\xed\xa0\x80\":1}", 8, "header is not valid utf-8 (byte 2)" },    /* surrogate */
        { "{\"\xf4\x90\x80\x80\":1}", 9, "header is not valid utf-8 (byte 2)" }, /* > U+10FFFF */
        { "{\"\xe2\x82\":1}", 7, "header is not valid utf-8 (byte 2)" },        /* cut short */
        { "{\"\xe2", 3, "header is not valid utf-8 (byte 2)" },                 /* at the end */
        { "{\"\xff\":1}", 6, "header is not valid utf-8 (byte 2)" },
        { "{\"\xe0\x9f\xbf\":1}", 8, "header is not valid utf-8 (byte 2)" },    /* overlong 3 */
        { "{\"\xf0\x8f\xbf\xbf\":1}", 9, "header is not valid utf-8 (byte 2)" }, /* overlong 4 */
    };
    size_t k;
    (void)state;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++)
        load_err(raw_file(cases[k].len, cases[k].hdr, cases[k].len, NULL, 0), cases[k].msg);
}

/* JSON syntax errors, each with what was wrong and where. */
static void test_safetensors_error_bad_json(void **state)
{
    static const struct { const char *qjson; const char *msg; } cases[] = {
        { "{'a' 1}", "header is not valid json: expected ':' at byte 5" },
        { "{'a':{'dtype':'F32',}}", "header is not valid json: expected a string key at byte 20" },
        { "{'a':1", "header is not valid json: unexpected end of header at byte 6" },
        { "{'a':", "header is not valid json: unexpected end of header at byte 5" },
        { "{'a", "header is not valid json: unterminated string at byte 3" },
        { "{'a\\x':1}", "header is not valid json: invalid escape in string at byte 3" },
        { "{'a':01}", "header is not valid json: leading zero in number at byte 6" },
        { "{'a':-}", "header is not valid json: invalid number at byte 6" },
        { "{'a':1.}", "header is not valid json: digit expected after '.' at byte 7" },
        { "{'a':1e}", "header is not valid json: digit expected in exponent at byte 7" },
        { "{'a':+1}", "header is not valid json: unexpected character at byte 5" },
        { "{'a':tru}", "header is not valid json: invalid literal at byte 5" },
        { "{'a':NaN}", "header is not valid json: unexpected character at byte 5" },
        { "{'a':x}", "header is not valid json: unexpected character at byte 5" },
        { "{'a\tb':1}", "header is not valid json: control character in string at byte 3" },
        { "{'\\ud800':1}", "header is not valid json: lone surrogate in \\u escape at byte 2" },
        { "{'\\udc00':1}", "header is not valid json: lone surrogate in \\u escape at byte 2" },
        { "{'\\ud800\\u0041':1}",
          "header is not valid json: lone surrogate in \\u escape at byte 2" },
        { "{'\\u12g4':1}", "header is not valid json: bad hex digit in \\u escape at byte 6" },
        { "{'\\u12'}", "header is not valid json: bad hex digit in \\u escape at byte 6" },
        { "{}x", "header is not valid json: unexpected bytes after the object (padding must be"
                 " spaces) at byte 2" },
        { "{}{}", "header is not valid json: unexpected bytes after the object (padding must be"
                  " spaces) at byte 2" },
        { "{'a':1 'b':2}", "header is not valid json: expected ',' or '}' at byte 7" },
        { "{'a':[1 2]}", "header is not valid json: expected ',' or ']' at byte 8" },
        { "{'a':[1,]}", "header is not valid json: unexpected character at byte 8" },
        { "{a:1}", "header is not valid json: expected a string key at byte 1" },
        { "{\xc3\xa9:1}", "header is not valid json: expected a string key at byte 1" },
        { "{,}", "header is not valid json: expected a string key at byte 1" },
    };
    size_t k;
    (void)state;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++)
        json_err(cases[k].qjson, 0, cases[k].msg);
    /* NUL padding is not whitespace (the reference implementation refuses it too) */
    load_err(raw_file(4, "{}\0\0", 4, NULL, 0),
             "header is not valid json: unexpected bytes after the object (padding must be"
             " spaces) at byte 2");
}

/* Nesting is bounded so a header cannot exhaust the stack. */
static void test_safetensors_error_deep_nesting(void **state)
{
    char hdr[400] = "{'a':";
    (void)state;
    memset(hdr + 5, '[', 300);
    hdr[305] = '\0';
    json_err(hdr, 0, "header is not valid json: nesting deeper than 64 levels at byte 68");
}

/* The number of JSON values is bounded so a header cannot make the parse tree huge. */
static void test_safetensors_error_too_many_values(void **state)
{
    size_t n = (size_t)1 << 20, k;
    char *hdr = malloc(2 * n + 16);
    (void)state;
    assert_non_null(hdr);
    strcpy(hdr, "{'a':[");
    for (k = 0; k <= n; k++)
        memcpy(hdr + 6 + 2 * k, "0,", 2);
    strcpy(hdr + 6 + 2 * n + 1, "]}");
    json_err(hdr, 0, "header has more than 1048576 json values");
    free(hdr);
}

/* An entry that is not an object, or lacks one of its three members. */
static void test_safetensors_error_entry_shape(void **state)
{
    (void)state;
    json_err("{'a':[1]}", 0, "tensor 'a': entry is not an object");
    json_err("{'a':'F32'}", 0, "tensor 'a': entry is not an object");
    json_err("{'a':{'shape':[1],'data_offsets':[0,4]}}", 4, "tensor 'a': missing dtype");
    json_err("{'a':{'dtype':'F32','data_offsets':[0,4]}}", 4, "tensor 'a': missing shape");
    json_err("{'a':{'dtype':'F32','shape':[1]}}", 4, "tensor 'a': missing data_offsets");
    json_err("{'a':{}}", 0, "tensor 'a': missing dtype");
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4],'extra':1}}", 4,
             "tensor 'a': unknown key 'extra'");
    json_err("{'a':{'dtype':'F32','shape':[1],'dtype':'F16','data_offsets':[0,4]}}", 4,
             "tensor 'a': duplicate key 'dtype'");
}

/* Members with the wrong JSON type. */
static void test_safetensors_error_wrong_types(void **state)
{
    (void)state;
    json_err("{'a':{'dtype':32,'shape':[1],'data_offsets':[0,4]}}", 4,
             "tensor 'a': dtype is not a string");
    json_err("{'a':{'dtype':'F32','shape':'1','data_offsets':[0,4]}}", 4,
             "tensor 'a': shape is not an array");
    json_err("{'a':{'dtype':'F32','shape':{},'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape is not an array");
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':{'b':0}}}", 4,
             "tensor 'a': data_offsets is not an array");
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[4]}}", 4,
             "tensor 'a': data_offsets is not [begin, end] (1 entry)");
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4,8]}}", 8,
             "tensor 'a': data_offsets is not [begin, end] (3 entries)");
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[]}}", 0,
             "tensor 'a': data_offsets is not [begin, end] (0 entries)");
}

/* Dtype names are exact and case-sensitive. */
static void test_safetensors_error_unknown_dtype(void **state)
{
    (void)state;
    json_err("{'a':{'dtype':'F33','shape':[1],'data_offsets':[0,4]}}", 4,
             "tensor 'a': unknown dtype 'F33'");
    json_err("{'a':{'dtype':'f32','shape':[1],'data_offsets':[0,4]}}", 4,
             "tensor 'a': unknown dtype 'f32'");
    json_err("{'a':{'dtype':'','shape':[1],'data_offsets':[0,4]}}", 4,
             "tensor 'a': unknown dtype ''");
}

/* Shape entries must be non-negative integers that fit, at most 8 of them. */
static void test_safetensors_error_bad_shape(void **state)
{
    (void)state;
    json_err("{'a':{'dtype':'F32','shape':[2,-3],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape[1] is negative (-3)");
    json_err("{'a':{'dtype':'F32','shape':[2.5],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape[0] is not an integer (2.5)");
    json_err("{'a':{'dtype':'F32','shape':[1e2],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape[0] is not an integer (1e2)");
    json_err("{'a':{'dtype':'F32','shape':[-1.5],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape[0] is not an integer (-1.5)");
    json_err("{'a':{'dtype':'F32','shape':['2'],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape[0] is not a number");
    json_err("{'a':{'dtype':'F32','shape':[null],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape[0] is not a number");
    json_err("{'a':{'dtype':'F32','shape':[[1]],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape[0] is not a number");
    json_err("{'a':{'dtype':'F32','shape':[99999999999999999999],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape[0] is too large (99999999999999999999)");
    json_err("{'a':{'dtype':'F32','shape':[9223372036854775808],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape[0] is too large (9223372036854775808)");
    json_err("{'a':{'dtype':'F32','shape':[-99999999999999999999],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape[0] is negative (-99999999999999999999)");
    json_err("{'a':{'dtype':'F32','shape':[1,1,1,1,1,1,1,1,1],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape has 9 dimensions, at most 8 are supported");
}

/* Element and byte counts that do not fit in 64 bits are refused, not wrapped. */
static void test_safetensors_error_shape_overflow(void **state)
{
    (void)state;
    json_err("{'a':{'dtype':'F32','shape':[4294967296,4294967296],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape [4294967296, 4294967296] has too many elements");
    json_err("{'a':{'dtype':'F32','shape':[3037000500,3037000500],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape [3037000500, 3037000500] has too many elements");
    json_err("{'a':{'dtype':'F32','shape':[0,4294967296,4294967296],'data_offsets':[0,0]}}", 0,
             "tensor 'a': shape [0, 4294967296, 4294967296] has too many elements");
    json_err("{'a':{'dtype':'F32','shape':[4294967296,4294967296,0],'data_offsets':[0,0]}}", 0,
             "tensor 'a': shape [4294967296, 4294967296, 0] has too many elements");
    json_err("{'a':{'dtype':'F32','shape':[4611686018427387904],'data_offsets':[0,4]}}", 4,
             "tensor 'a': shape [4611686018427387904] of F32 is too large in bytes");
    json_err("{'a':{'dtype':'F4','shape':[3],'data_offsets':[0,2]}}", 2,
             "tensor 'a': 3 F4 elements do not fill whole bytes");
}

/* data_offsets must be two non-negative integers with begin <= end. */
static void test_safetensors_error_bad_offsets(void **state)
{
    (void)state;
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0.0,4]}}", 4,
             "tensor 'a': data_offsets[0] is not an integer (0.0)");
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[-1,4]}}", 4,
             "tensor 'a': data_offsets[0] is negative (-1)");
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,'4']}}", 4,
             "tensor 'a': data_offsets[1] is not a number");
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,18446744073709551616]}}", 4,
             "tensor 'a': data_offsets[1] is too large (18446744073709551616)");
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[8,4]}}", 8,
             "tensor 'a': data_offsets [8, 4] begin is after end");
}

/* A range past the end of the data, in the wording the compiler shows users. */
static void test_safetensors_error_end_beyond_data(void **state)
{
    (void)state;
    json_err("{'c1.weight':{'dtype':'F32','shape':[25],'data_offsets':[0,100]}}", 96,
             "tensor 'c1.weight': data_offsets [0, 100] end beyond the data (96 bytes)");
    json_err("{'b':{'dtype':'F32','shape':[],'data_offsets':[9223372036854775807,"
             "9223372036854775807]}}", 0,
             "tensor 'b': data_offsets [9223372036854775807, 9223372036854775807] end beyond the"
             " data (0 bytes)");
}

/* The byte range must match dtype size times element count. */
static void test_safetensors_error_size_mismatch(void **state)
{
    (void)state;
    json_err("{'a':{'dtype':'F32','shape':[2,2],'data_offsets':[0,12]}}", 12,
             "tensor 'a': data_offsets [0, 12] hold 12 bytes, but F32 shape [2, 2] needs 16");
    json_err("{'a':{'dtype':'BF16','shape':[],'data_offsets':[0,4]}}", 4,
             "tensor 'a': data_offsets [0, 4] hold 4 bytes, but BF16 shape [] needs 2");
    json_err("{'a':{'dtype':'F16','shape':[0],'data_offsets':[0,2]}}", 2,
             "tensor 'a': data_offsets [0, 2] hold 2 bytes, but F16 shape [0] needs 0");
}

/* No two tensors may share a byte, whatever their order in the header. */
static void test_safetensors_error_overlap(void **state)
{
    (void)state;
    json_err("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
             "'b':{'dtype':'F32','shape':[2],'data_offsets':[4,12]}}", 12,
             "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
    json_err("{'b':{'dtype':'F32','shape':[2],'data_offsets':[4,12]},"
             "'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 12,
             "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
    json_err("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
             "'b':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 8,
             "tensor 'b': data_offsets [0, 8] overlap tensor 'a' [0, 8]");
    json_err("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
             "'z':{'dtype':'F32','shape':[0],'data_offsets':[4,4]}}", 8,
             "tensor 'z': data_offsets [4, 4] overlap tensor 'a' [0, 8]");
}

/* The format requires the data buffer to be fully indexed: no holes before, between or after. */
static void test_safetensors_error_uncovered_bytes(void **state)
{
    (void)state;
    json_err("{'a':{'dtype':'F32','shape':[2],'data_offsets':[4,12]}}", 12,
             "data bytes [0, 4) are not covered by any tensor");
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
             "'b':{'dtype':'F32','shape':[1],'data_offsets':[8,12]}}", 12,
             "data bytes [4, 8) after tensor 'a' are not covered by any tensor");
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 9,
             "data bytes [4, 9) after tensor 'a' are not covered by any tensor");
    json_err("{}", 4, "data bytes [0, 4) are not covered by any tensor");
    json_err("{'z':{'dtype':'F32','shape':[0],'data_offsets':[0,0]}}", 1,
             "data bytes [0, 1) after tensor 'z' are not covered by any tensor");
}

/* A name used twice is refused (JSON parsers would silently keep one of them). */
static void test_safetensors_error_duplicate_names(void **state)
{
    (void)state;
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
             "'b':{'dtype':'F32','shape':[1],'data_offsets':[4,8]},"
             "'a':{'dtype':'F32','shape':[1],'data_offsets':[8,12]}}", 12,
             "duplicate tensor name 'a'");
    json_err("{'\\u0061':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
             "'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", 8,
             "duplicate tensor name 'a'");
    json_err("{'__metadata__':{},'__metadata__':{}}", 0, "duplicate __metadata__");
}

/* "__metadata__" must map strings to strings. */
static void test_safetensors_error_bad_metadata(void **state)
{
    (void)state;
    json_err("{'__metadata__':['pt']}", 0, "__metadata__ is not an object");
    json_err("{'__metadata__':{'format':'pt','epoch':3}}", 0,
             "__metadata__ value for 'epoch' is not a string");
    json_err("{'__metadata__':{'k':'1','k':'2'}}", 0, "duplicate __metadata__ key 'k'");
    json_err("{'__metadata__':{'k':'a\\u0000b'}}", 0,
             "__metadata__ entry 'k' contains a nul character");
}

/* Names become C strings and C identifiers later, so an embedded NUL is refused; odd
   characters and very long names are shown escaped and cut in messages. */
static void test_safetensors_error_names_in_messages(void **state)
{
    char hdr[600], msg[300];
    (void)state;
    json_err("{'a\\u0000b':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4,
             "tensor name 'a\\x00b' contains a nul character");
    json_err("{'it\\u0027s\\n':{'dtype':'X','shape':[1],'data_offsets':[0,4]}}", 4,
             "tensor 'it\\x27s\\x0a': unknown dtype 'X'");
    json_err("{'caf\xc3\xa9':{'dtype':'X','shape':[1],'data_offsets':[0,4]}}", 4,
             "tensor 'caf\xc3\xa9': unknown dtype 'X'");
    snprintf(hdr, sizeof hdr, "{'%0300d':{'dtype':'X','shape':[1],'data_offsets':[0,4]}}", 0);
    snprintf(msg, sizeof msg, "tensor '%080d...': unknown dtype 'X'", 0);
    json_err(hdr, 4, msg);
}

/* The first failing entry in header order is the one reported. */
static void test_safetensors_error_first_in_header_order(void **state)
{
    (void)state;
    json_err("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
             "'b':{'dtype':'F99','shape':[1],'data_offsets':[4,8]},"
             "'c':{'dtype':'F32','shape':[-1],'data_offsets':[8,12]}}", 12,
             "tensor 'b': unknown dtype 'F99'");
}

/* Files that cannot be opened or read. */
static void test_safetensors_error_io(void **state)
{
    char err[256];
    TmpDir td;
    (void)state;
    assert_null(st_load("/nonexistent-dir/none.safetensors", err, sizeof err));
    assert_string_equal(err, "cannot open: no such file or directory");
    tmp_make(&td);
    assert_null(st_load(td.dir, err, sizeof err));
    assert_string_equal(err, "cannot read: is a directory");
    tmp_clean(&td, NULL, 0);
}

/* A NULL or tiny message buffer is safe. */
static void test_safetensors_error_buffer_limits(void **state)
{
    char small[8];
    Bytes b = raw_file(0, "", 0, NULL, 4);
    (void)state;
    assert_null(st_load_mem("m", b.p, b.n, NULL, 0));
    assert_null(st_load_mem("m", b.p, b.n, small, 0));
    assert_null(st_load_mem("m", b.p, b.n, small, sizeof small));
    assert_string_equal(small, "header ");
    free(b.p);
}

/* Every truncation and many single-byte corruptions of a valid file either load into a
   consistent file or fail with a one-line lowercase message; ASan/valgrind watch the reads. */
static void test_safetensors_corruption_never_crashes(void **state)
{
    static const unsigned char flips[] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff };
    Bytes base = file_q("{'__metadata__':{'format':'pt'},"
                        "'w':{'dtype':'F16','shape':[2,3],'data_offsets':[0,12]},"
                        "'b':{'dtype':'BF16','shape':[2],'data_offsets':[12,16]},"
                        "'s':{'dtype':'F32','shape':[],'data_offsets':[16,20]}}    ", NULL, 20);
    unsigned char *buf = malloc(base.n);
    float out[64];
    size_t len, pos, fl;
    int loaded = 0, refused = 0;
    (void)state;
    assert_non_null(buf);
    for (len = 0; len <= base.n; len++) {
        for (pos = 0; pos <= len; pos++) {
            for (fl = 0; fl < sizeof flips; fl++) {
                char err[256] = "";
                StFile *f;
                int k;
                memcpy(buf, base.p, len);
                if (pos < len)
                    buf[pos] ^= flips[fl];
                else if (fl > 0)
                    break; /* the plain truncation needs one run only */
                if (len < base.n && pos < len)
                    continue; /* corruptions only on the full file, truncations unflipped */
                f = st_load_mem("fuzz", buf, len, err, sizeof err);
                if (!f) {
                    refused++;
                    assert_true(err[0] != '\0');
                    assert_null(strchr(err, '\n'));
                    assert_false(err[0] >= 'A' && err[0] <= 'Z');
                    continue;
                }
                loaded++;
                for (k = 0; k < f->ntensors; k++) {
                    const StTensor *t = &f->tensors[k];
                    assert_true(t->begin <= t->end && t->end <= f->size);
                    if (st_dtype_convertible(t->dtype) && st_numel(t) <= 64)
                        assert_true(st_to_f32(f, t, out) >= 0);
                }
                st_free(f);
            }
        }
    }
    assert_true(loaded > 0);
    assert_true(refused > 1000);
    free(buf);
    free(base.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safetensors_round_trip),
        cmocka_unit_test(test_safetensors_write_exact_bytes),
        cmocka_unit_test(test_safetensors_write_empty),
        cmocka_unit_test(test_safetensors_write_escapes_names),
        cmocka_unit_test(test_safetensors_write_errors),
        cmocka_unit_test(test_safetensors_f16_specials),
        cmocka_unit_test(test_safetensors_f16_exhaustive),
        cmocka_unit_test(test_safetensors_bf16_specials),
        cmocka_unit_test(test_safetensors_f32_little_endian),
        cmocka_unit_test(test_safetensors_other_dtypes),
        cmocka_unit_test(test_safetensors_metadata),
        cmocka_unit_test(test_safetensors_empty_object),
        cmocka_unit_test(test_safetensors_whitespace_and_padding),
        cmocka_unit_test(test_safetensors_zero_sized_and_scalar),
        cmocka_unit_test(test_safetensors_json_escapes),
        cmocka_unit_test(test_safetensors_pytorch_fixture),
        cmocka_unit_test(test_safetensors_error_short_file),
        cmocka_unit_test(test_safetensors_error_header_length),
        cmocka_unit_test(test_safetensors_error_header_not_object),
        cmocka_unit_test(test_safetensors_error_bad_utf8),
        cmocka_unit_test(test_safetensors_error_bad_json),
        cmocka_unit_test(test_safetensors_error_deep_nesting),
        cmocka_unit_test(test_safetensors_error_too_many_values),
        cmocka_unit_test(test_safetensors_error_entry_shape),
        cmocka_unit_test(test_safetensors_error_wrong_types),
        cmocka_unit_test(test_safetensors_error_unknown_dtype),
        cmocka_unit_test(test_safetensors_error_bad_shape),
        cmocka_unit_test(test_safetensors_error_shape_overflow),
        cmocka_unit_test(test_safetensors_error_bad_offsets),
        cmocka_unit_test(test_safetensors_error_end_beyond_data),
        cmocka_unit_test(test_safetensors_error_size_mismatch),
        cmocka_unit_test(test_safetensors_error_overlap),
        cmocka_unit_test(test_safetensors_error_uncovered_bytes),
        cmocka_unit_test(test_safetensors_error_duplicate_names),
        cmocka_unit_test(test_safetensors_error_bad_metadata),
        cmocka_unit_test(test_safetensors_error_names_in_messages),
        cmocka_unit_test(test_safetensors_error_first_in_header_order),
        cmocka_unit_test(test_safetensors_error_io),
        cmocka_unit_test(test_safetensors_error_buffer_limits),
        cmocka_unit_test(test_safetensors_corruption_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
