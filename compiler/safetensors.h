/* safetensors.h - strict reader (and a small F32 writer) for the safetensors weight format.
 *
 * Format (https://huggingface.co/docs/safetensors): an 8-byte little-endian u64 N, then N bytes
 * of UTF-8 JSON that must start with '{' and may be padded at the end with spaces, then the data
 * buffer. The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} with
 * offsets relative to the data buffer, plus an optional "__metadata__" string-to-string map.
 * The reader treats the file as hostile: every number is checked before use, tensors may not
 * overlap, and, as the format requires, they must cover the data buffer exactly (no holes). */
#ifndef CNNC_SAFETENSORS_H
#define CNNC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* Largest header accepted; the reference implementation uses the same limit. */
#define ST_MAX_HEADER 100000000u
/* Most dimensions a tensor may have. */
#define ST_MAX_DIMS 8

typedef enum {
    ST_F32, ST_F16, ST_BF16,
    /* others parsed but unsupported for conversion: */
    ST_F64, ST_I8, ST_U8, ST_I16, ST_I32, ST_I64, ST_BOOL, ST_OTHER
} StDtype;

typedef struct StTensor {
    char *name;              /* decoded UTF-8, never contains NUL */
    StDtype dtype;
    const char *dtype_name;  /* as spelled in the file ("F32", "F8_E4M3", ...), static */
    int ndim;                /* 0 for a scalar */
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;     /* absolute file offsets of the data */
} StTensor;

typedef struct StFile {
    char *path;
    unsigned char *data;     /* the whole file */
    size_t size;
    StTensor *tensors;       /* in header order */
    int ntensors;
    /* "__metadata__", in header order (st_ additions) */
    char **meta_keys;
    char **meta_values;
    int nmeta;
} StFile;

/* Loads and validates the whole file; NULL and a message in err (no trailing newline, lowercase,
   names the tensor where there is one). The path is not part of the message: callers prefix it. */
StFile *st_load(const char *path, char *err, size_t errlen);
/* Same from memory; the bytes are copied, name becomes f->path. */
StFile *st_load_mem(const char *name, const unsigned char *bytes, size_t size, char *err, size_t errlen);
/* The tensor called name, or NULL. */
const StTensor *st_find(const StFile *f, const char *name);
/* Number of elements (1 for a scalar, 0 when a dimension is 0). */
int64_t st_numel(const StTensor *t);
/* Bytes per element; 0 for ST_OTHER, whose size depends on its name (see dtype_name). */
int st_dtype_size(StDtype dtype);
/* Whether st_to_f32 accepts this dtype (F32, F16, BF16). */
int st_dtype_convertible(StDtype dtype);
/* Converts to float32 (F32/F16/BF16, little-endian, exact incl. subnormals/inf/nan); out holds
   st_numel(t) floats. Returns the count of non-finite values found (caller warns), or -1 when the
   dtype cannot be converted. */
int64_t st_to_f32(const StFile *f, const StTensor *t, float *out);
/* Value of a "__metadata__" key, or NULL. */
const char *st_meta(const StFile *f, const char *key);
void st_free(StFile *f);
/* Writes a safetensors file (F32 only), deterministic, tensors in the given order, header padded
   with spaces so the data starts 8-byte aligned. datas[i] may be NULL when the tensor is empty.
   Returns 0, or -1 with a message in err. */
int st_write_f32(const char *path, int n, const char *const *names, const int *ndims,
                 const int64_t (*shapes)[8], const float *const *datas, char *err, size_t errlen);

#endif
