/* safetensors.c - strict safetensors reader with its own minimal JSON parser, and an F32 writer.
 *
 * Weight files come from users and the internet, so nothing in them is trusted: the header length,
 * every shape and every offset are checked (with overflow-checked arithmetic) before any byte of
 * data is touched, and every defect gets its own message naming the tensor. All multi-byte values
 * are assembled byte by byte, so the host's byte order does not matter. */
#include "safetensors.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(float) == 4, "float must be IEEE-754 binary32");

#if defined(__GNUC__)
#define ST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ST_PRINTF(a, b)
#endif

/* Deep nesting is never legitimate here and would otherwise let a header exhaust the stack. */
#define JSON_MAX_DEPTH 64
/* Bounds the parse tree (40 bytes a value) for hostile headers; a real header has about ten
   values per tensor, so this allows some 100,000 tensors. */
#define JSON_MAX_VALUES (1u << 20)
/* Longest tensor name or token echoed in a message, so a hostile header cannot flood the terminal. */
#define SHOW_MAX 80

static size_t utf8_bad_at(const unsigned char *s, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* Messages                                                                                    */

/* Every error goes through here so a NULL or empty err buffer is always safe. */
ST_PRINTF(3, 4)
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Names and tokens from the file may hold quotes, control bytes or megabytes of text; show them
   escaped and truncated (at a character boundary) so messages stay one readable line. */
static const char *show(char *out, size_t outlen, const char *s, size_t len)
{
    size_t o = 0, i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        char piece[8];
        size_t plen, step = 1, ulen = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
            piece[0] = (char)c;
            plen = 1;
        } else if (c >= 0xc2 && c <= 0xf4 && ulen <= len - i
                   && utf8_bad_at((const unsigned char *)s + i, ulen) == ulen) {
            /* whole UTF-8 characters are kept; anything else is escaped below */
            memcpy(piece, s + i, ulen);
            plen = step = ulen;
        } else {
            snprintf(piece, sizeof piece, "\\x%02x", c);
            plen = 4;
        }
        if (o + plen + 4 > outlen || o + plen > SHOW_MAX) {
            if (o + 4 <= outlen) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(out + o, piece, plen);
        o += plen;
        i += step;
    }
    out[o] = '\0';
    return out;
}

/* strerror's text, lowercased to match the house style of messages. */
static const char *sys_msg(int errnum, char *buf, size_t buflen)
{
    snprintf(buf, buflen, "%s", strerror(errnum));
    if (buf[0] >= 'A' && buf[0] <= 'Z')
        buf[0] = (char)(buf[0] - 'A' + 'a');
    return buf;
}

/* ------------------------------------------------------------------------------------------ */
/* Overflow-checked arithmetic                                                                 */

/* Products of shapes and sizes come from the file and may wrap; refuse instead. */
static int mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

/* Growing arrays double their capacity; this keeps the byte count from wrapping. */
static void *grow(void *p, size_t *cap, size_t elem)
{
    size_t ncap = *cap ? *cap * 2 : 8;
    void *np;
    if (ncap < *cap || ncap > SIZE_MAX / elem)
        return NULL;
    np = realloc(p, ncap * elem);
    if (np)
        *cap = ncap;
    return np;
}

/* Little-endian loads built from bytes, so a big-endian host reads the same values. */
static uint64_t load_u64le(const unsigned char *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* See load_u64le. */
static uint32_t load_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* See load_u64le. */
static uint16_t load_u16le(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* ------------------------------------------------------------------------------------------ */
/* UTF-8                                                                                       */

/* Offset of the first byte that is not well-formed UTF-8 (overlong forms, surrogates and code
   points past U+10FFFF included), or n: JSON text must be UTF-8 and names end up in C sources. */
static size_t utf8_bad_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len, k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2; cp = c & 0x1f; min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3; cp = c & 0x0f; min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4; cp = c & 0x07; min = 0x10000;
        } else {
            return i;
        }
        if (len > n - i)
            return i;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += len;
    }
    return n;
}

/* Appends code point cp as UTF-8; \u escapes are decoded so names compare as the user wrote them. */
static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ------------------------------------------------------------------------------------------ */
/* Minimal strict JSON (RFC 8259): the whole grammar is parsed so that a well-formed header with
   the wrong content gets a message about the content, not a syntax error.                     */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } JKind;

typedef struct JStr {
    char *s;      /* decoded, NUL-terminated (may also contain NUL from \u0000) */
    size_t len;
} JStr;

typedef struct JVal JVal;
/* Kept small (40 bytes on LP64) because a header can hold millions of values. */
struct JVal {
    unsigned char kind;    /* JKind */
    unsigned char is_int;  /* J_NUM: no fraction or exponent */
    unsigned char neg;     /* J_NUM: written with '-' */
    unsigned char big;     /* J_NUM: integer magnitude beyond UINT64_MAX */
    union {
        JStr str;          /* J_STR */
        struct {           /* J_NUM */
            const char *text; /* raw token in the header, for messages */
            size_t tlen;
            uint64_t mag;     /* magnitude when is_int && !big */
        };
        struct {           /* J_ARR, J_OBJ */
            JVal *items;      /* elements / member values */
            JStr *keys;       /* J_OBJ member names, parallel to items */
            size_t n, cap;
        };
    };
};

typedef struct JParser {
    const unsigned char *s;
    size_t n, i;
    size_t nvalues;
    int depth;
    char *err;
    size_t errlen;
} JParser;

static int j_value(JParser *p, JVal *v);

/* One place builds syntax messages so they all carry the byte offset inside the header. */
static int j_fail(JParser *p, const char *what)
{
    set_err(p->err, p->errlen, "header is not valid json: %s at byte %zu", what, p->i);
    return -1;
}

/* JSON's four whitespace characters; the format pads headers with spaces. */
static void j_ws(JParser *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n'
                           || p->s[p->i] == '\r'))
        p->i++;
}

/* Frees what a (possibly half-built) value owns; depth is bounded by JSON_MAX_DEPTH. */
static void j_free(JVal *v)
{
    size_t k;
    if (v->kind == J_STR) {
        free(v->str.s);
    } else if (v->kind == J_ARR || v->kind == J_OBJ) {
        for (k = 0; k < v->n; k++) {
            j_free(&v->items[k]);
            if (v->keys)
                free(v->keys[k].s);
        }
        free(v->items);
        free(v->keys);
    }
}

/* Value of one hex digit, or -1. */
static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The four hex digits after "\u" at p->i; leaves p->i after them. */
static int j_hex4(JParser *p, uint32_t *out)
{
    uint32_t v = 0;
    int k;
    if (p->n - p->i < 4)
        return j_fail(p, "truncated \\u escape");
    for (k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i]);
        if (h < 0)
            return j_fail(p, "bad hex digit in \\u escape");
        v = v << 4 | (uint32_t)h;
        p->i++;
    }
    *out = v;
    return 0;
}

/* A string at p->i (on the opening quote). Decoded text is never longer than its source, so the
   buffer is sized from the raw span found first. */
static int j_string(JParser *p, JStr *out)
{
    size_t start = ++p->i, end = start, o = 0;
    char *buf;
    while (end < p->n && p->s[end] != '"')
        end += (p->s[end] == '\\') ? 2 : 1;
    if (end >= p->n) {
        p->i = p->n;
        return j_fail(p, "unterminated string");
    }
    buf = malloc(end - start + 1);
    if (!buf) {
        set_err(p->err, p->errlen, "out of memory");
        return -1;
    }
    while (p->i < end) {
        unsigned char c = p->s[p->i];
        if (c < 0x20) {
            free(buf);
            return j_fail(p, "control character in string");
        }
        if (c != '\\') {
            buf[o++] = (char)c;
            p->i++;
            continue;
        }
        p->i++;
        c = p->s[p->i++];
        switch (c) {
        case '"': buf[o++] = '"'; break;
        case '\\': buf[o++] = '\\'; break;
        case '/': buf[o++] = '/'; break;
        case 'b': buf[o++] = '\b'; break;
        case 'f': buf[o++] = '\f'; break;
        case 'n': buf[o++] = '\n'; break;
        case 'r': buf[o++] = '\r'; break;
        case 't': buf[o++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (j_hex4(p, &cp) < 0) {
                free(buf);
                return -1;
            }
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                p->i -= 6;
                free(buf);
                return j_fail(p, "lone surrogate in \\u escape");
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                size_t at = p->i - 6;
                if (p->n - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                    p->i = at;
                    free(buf);
                    return j_fail(p, "lone surrogate in \\u escape");
                }
                p->i += 2;
                if (j_hex4(p, &lo) < 0) {
                    free(buf);
                    return -1;
                }
                if (lo < 0xdc00 || lo > 0xdfff) {
                    p->i = at;
                    free(buf);
                    return j_fail(p, "lone surrogate in \\u escape");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            o += utf8_put(buf + o, cp);
            break;
        }
        default:
            p->i -= 2;
            free(buf);
            return j_fail(p, "invalid escape in string");
        }
    }
    p->i = end + 1;
    buf[o] = '\0';
    out->s = buf;
    out->len = o;
    return 0;
}

/* A number, kept exact when it is an integer: shapes and offsets must not pass through double. */
static int j_number(JParser *p, JVal *v)
{
    size_t start = p->i;
    v->kind = J_NUM;
    v->is_int = 1;
    if (p->s[p->i] == '-') {
        v->neg = 1;
        p->i++;
    }
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
        return j_fail(p, "invalid number");
    if (p->s[p->i] == '0') {
        p->i++;
        if (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            return j_fail(p, "leading zero in number");
    } else {
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
            unsigned d = (unsigned)(p->s[p->i] - '0');
            if (v->mag > (UINT64_MAX - d) / 10)
                v->big = 1;
            else
                v->mag = v->mag * 10 + d;
            p->i++;
        }
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        v->is_int = 0;
        p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
            return j_fail(p, "digit expected after '.'");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        v->is_int = 0;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
            return j_fail(p, "digit expected in exponent");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    }
    v->text = (const char *)p->s + start;
    v->tlen = p->i - start;
    return 0;
}

/* true, false or null spelled out in full. */
static int j_literal(JParser *p, JVal *v, const char *word, JKind kind)
{
    size_t len = strlen(word);
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0)
        return j_fail(p, "invalid literal");
    v->kind = kind;
    p->i += len;
    return 0;
}

/* Appends a zeroed slot to an array or object (keys too for objects). */
static JVal *j_push(JParser *p, JVal *v)
{
    if (++p->nvalues > JSON_MAX_VALUES) {
        set_err(p->err, p->errlen, "header has more than %u json values", JSON_MAX_VALUES);
        return NULL;
    }
    if (v->n == v->cap) {
        size_t cap = v->cap, kcap = v->cap;
        JVal *items = grow(v->items, &cap, sizeof *items);
        if (!items) {
            set_err(p->err, p->errlen, "out of memory");
            return NULL;
        }
        v->items = items;
        if (v->kind == J_OBJ) {
            JStr *keys = grow(v->keys, &kcap, sizeof *keys);
            if (!keys) {
                set_err(p->err, p->errlen, "out of memory");
                return NULL;
            }
            v->keys = keys;
        }
        v->cap = cap;
    }
    memset(&v->items[v->n], 0, sizeof v->items[v->n]);
    if (v->kind == J_OBJ)
        memset(&v->keys[v->n], 0, sizeof v->keys[v->n]);
    return &v->items[v->n++];
}

/* Shared by arrays and objects: both nest, and nesting is bounded. */
static int j_enter(JParser *p)
{
    if (++p->depth > JSON_MAX_DEPTH)
        return j_fail(p, "nesting deeper than 64 levels");
    p->i++;
    j_ws(p);
    return 0;
}

/* An array at p->i (on '['). */
static int j_array(JParser *p, JVal *v)
{
    v->kind = J_ARR;
    if (j_enter(p) < 0)
        return -1;
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        p->depth--;
        return 0;
    }
    for (;;) {
        JVal *item = j_push(p, v);
        if (!item || j_value(p, item) < 0)
            return -1;
        j_ws(p);
        if (p->i >= p->n)
            return j_fail(p, "unexpected end of header");
        if (p->s[p->i] == ']')
            break;
        if (p->s[p->i] != ',')
            return j_fail(p, "expected ',' or ']'");
        p->i++;
        j_ws(p);
    }
    p->i++;
    p->depth--;
    return 0;
}

/* An object at p->i (on '{'); members stay in file order, duplicates are judged by the caller. */
static int j_object(JParser *p, JVal *v)
{
    v->kind = J_OBJ;
    if (j_enter(p) < 0)
        return -1;
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        p->depth--;
        return 0;
    }
    for (;;) {
        JVal *item;
        if (p->i >= p->n)
            return j_fail(p, "unexpected end of header");
        if (p->s[p->i] != '"')
            return j_fail(p, "expected a string key");
        item = j_push(p, v);
        if (!item || j_string(p, &v->keys[v->n - 1]) < 0)
            return -1;
        j_ws(p);
        if (p->i >= p->n)
            return j_fail(p, "unexpected end of header");
        if (p->s[p->i] != ':')
            return j_fail(p, "expected ':'");
        p->i++;
        j_ws(p);
        if (j_value(p, item) < 0)
            return -1;
        j_ws(p);
        if (p->i >= p->n)
            return j_fail(p, "unexpected end of header");
        if (p->s[p->i] == '}')
            break;
        if (p->s[p->i] != ',')
            return j_fail(p, "expected ',' or '}'");
        p->i++;
        j_ws(p);
    }
    p->i++;
    p->depth--;
    return 0;
}

/* Any value at p->i (whitespace already skipped). */
static int j_value(JParser *p, JVal *v)
{
    unsigned char c;
    if (p->i >= p->n)
        return j_fail(p, "unexpected end of header");
    c = p->s[p->i];
    switch (c) {
    case '{': return j_object(p, v);
    case '[': return j_array(p, v);
    case '"': v->kind = J_STR; return j_string(p, &v->str);
    case 't': return j_literal(p, v, "true", J_BOOL);
    case 'f': return j_literal(p, v, "false", J_BOOL);
    case 'n': return j_literal(p, v, "null", J_NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return j_number(p, v);
        return j_fail(p, "unexpected character");
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Dtypes                                                                                      */

typedef struct DtypeInfo {
    const char *name;
    StDtype dtype;
    int bits;
} DtypeInfo;

/* Every dtype the reference implementation knows: the rarer ones load (so a file holding them is
   not "damaged") but cannot be converted. */
static const DtypeInfo dtype_table[] = {
    { "F32", ST_F32, 32 },       { "F16", ST_F16, 16 },        { "BF16", ST_BF16, 16 },
    { "F64", ST_F64, 64 },       { "I8", ST_I8, 8 },           { "U8", ST_U8, 8 },
    { "I16", ST_I16, 16 },       { "I32", ST_I32, 32 },        { "I64", ST_I64, 64 },
    { "BOOL", ST_BOOL, 8 },      { "U16", ST_OTHER, 16 },      { "U32", ST_OTHER, 32 },
    { "U64", ST_OTHER, 64 },     { "F8_E5M2", ST_OTHER, 8 },   { "F8_E4M3", ST_OTHER, 8 },
    { "F8_E8M0", ST_OTHER, 8 },  { "F6_E2M3", ST_OTHER, 6 },   { "F6_E3M2", ST_OTHER, 6 },
    { "F4", ST_OTHER, 4 },       { "C64", ST_OTHER, 64 },
};

/* Table entry for a dtype name as spelled in a header (case matters, as in the reference). */
static const DtypeInfo *dtype_lookup(const JStr *s)
{
    size_t k;
    for (k = 0; k < sizeof dtype_table / sizeof dtype_table[0]; k++)
        if (strlen(dtype_table[k].name) == s->len && memcmp(dtype_table[k].name, s->s, s->len) == 0)
            return &dtype_table[k];
    return NULL;
}

int st_dtype_size(StDtype dtype)
{
    switch (dtype) {
    case ST_F32: case ST_I32: return 4;
    case ST_F16: case ST_BF16: case ST_I16: return 2;
    case ST_F64: case ST_I64: return 8;
    case ST_I8: case ST_U8: case ST_BOOL: return 1;
    default: return 0;
    }
}

int st_dtype_convertible(StDtype dtype)
{
    return dtype == ST_F32 || dtype == ST_F16 || dtype == ST_BF16;
}

/* ------------------------------------------------------------------------------------------ */
/* Validation                                                                                  */

/* What the checks share: where messages go and the tensor being checked, already escaped. */
typedef struct Check {
    char *err;
    size_t errlen;
    char name[SHOW_MAX + 8];
} Check;

/* Ways a JSON value can fail to be a non-negative integer; each gets its own message. */
typedef enum { U_OK, U_NOTNUM, U_NOTINT, U_NEG, U_BIG } UintStatus;

/* Classifies v as a count or offset. "-0" is accepted as 0, as serde_json does. */
static UintStatus j_uint(const JVal *v, uint64_t *out)
{
    if (v->kind != J_NUM)
        return U_NOTNUM;
    if (!v->is_int)
        return U_NOTINT;
    if (v->neg && (v->big || v->mag != 0))
        return U_NEG;
    if (v->big || v->mag > (uint64_t)INT64_MAX)
        return U_BIG;
    *out = v->mag;
    return U_OK;
}

/* Element idx of a shape or data_offsets array as a non-negative integer, or a message. */
static int check_uint(Check *c, const char *field, size_t idx, const JVal *v, uint64_t *out)
{
    char tok[SHOW_MAX + 8] = "";
    UintStatus st = j_uint(v, out);
    if (st == U_OK)
        return 0;
    if (v->kind == J_NUM)
        show(tok, sizeof tok, v->text, v->tlen);
    switch (st) {
    case U_NOTNUM:
        set_err(c->err, c->errlen, "tensor '%s': %s[%zu] is not a number", c->name, field, idx);
        break;
    case U_NOTINT:
        set_err(c->err, c->errlen, "tensor '%s': %s[%zu] is not an integer (%s)", c->name, field,
                idx, tok);
        break;
    case U_NEG:
        set_err(c->err, c->errlen, "tensor '%s': %s[%zu] is negative (%s)", c->name, field, idx,
                tok);
        break;
    default:
        set_err(c->err, c->errlen, "tensor '%s': %s[%zu] is too large (%s)", c->name, field, idx,
                tok);
        break;
    }
    return -1;
}

/* "[2, 3, 5]" for messages. */
static const char *shape_text(char *out, size_t outlen, const StTensor *t)
{
    size_t o = 0;
    int k;
    o += (size_t)snprintf(out, outlen, "[");
    for (k = 0; k < t->ndim && o < outlen; k++)
        o += (size_t)snprintf(out + o, outlen - o, "%s%lld", k ? ", " : "", (long long)t->shape[k]);
    if (o < outlen)
        snprintf(out + o, outlen - o, "]");
    return out;
}

/* The dtype member: a string naming a known dtype. */
static int check_dtype(Check *c, const JVal *v, StTensor *t, const DtypeInfo **info)
{
    char tok[SHOW_MAX + 8];
    if (v->kind != J_STR) {
        set_err(c->err, c->errlen, "tensor '%s': dtype is not a string", c->name);
        return -1;
    }
    *info = dtype_lookup(&v->str);
    if (!*info) {
        set_err(c->err, c->errlen, "tensor '%s': unknown dtype '%s'", c->name,
                show(tok, sizeof tok, v->str.s, v->str.len));
        return -1;
    }
    t->dtype = (*info)->dtype;
    t->dtype_name = (*info)->name;
    return 0;
}

/* The shape member, and the byte size it implies; a product that would wrap is refused. */
static int check_shape(Check *c, const JVal *v, StTensor *t, const DtypeInfo *info, uint64_t *bytes)
{
    char shp[256];
    uint64_t numel = 1, bits;
    size_t k;
    int zero = 0;
    if (v->kind != J_ARR) {
        set_err(c->err, c->errlen, "tensor '%s': shape is not an array", c->name);
        return -1;
    }
    if (v->n > ST_MAX_DIMS) {
        set_err(c->err, c->errlen, "tensor '%s': shape has %zu dimensions, at most %d are supported",
                c->name, v->n, ST_MAX_DIMS);
        return -1;
    }
    t->ndim = (int)v->n;
    for (k = 0; k < v->n; k++) {
        uint64_t d;
        if (check_uint(c, "shape", k, &v->items[k], &d) < 0)
            return -1;
        t->shape[k] = (int64_t)d;
    }
    /* zeros are skipped so that the verdict does not depend on where the zero is, and so that
       products of the other dimensions, which later code may form, cannot wrap either */
    for (k = 0; k < v->n; k++) {
        if (t->shape[k] == 0) {
            zero = 1;
        } else if (mul_u64(numel, (uint64_t)t->shape[k], &numel) < 0
                   || numel > (uint64_t)INT64_MAX) {
            set_err(c->err, c->errlen, "tensor '%s': shape %s has too many elements", c->name,
                    shape_text(shp, sizeof shp, t));
            return -1;
        }
    }
    if (zero)
        numel = 0;
    if (mul_u64(numel, (uint64_t)info->bits, &bits) < 0) {
        set_err(c->err, c->errlen, "tensor '%s': shape %s of %s is too large in bytes", c->name,
                shape_text(shp, sizeof shp, t), info->name);
        return -1;
    }
    if (bits % 8 != 0) {
        set_err(c->err, c->errlen, "tensor '%s': %llu %s elements do not fill whole bytes", c->name,
                (unsigned long long)numel, info->name);
        return -1;
    }
    *bytes = bits / 8;
    return 0;
}

/* The data_offsets member against the data buffer's length and the size the shape needs. */
static int check_offsets(Check *c, const JVal *v, StTensor *t, const DtypeInfo *info,
                         uint64_t bytes, uint64_t datalen)
{
    char shp[256];
    uint64_t be[2];
    size_t k;
    if (v->kind != J_ARR) {
        set_err(c->err, c->errlen, "tensor '%s': data_offsets is not an array", c->name);
        return -1;
    }
    if (v->n != 2) {
        set_err(c->err, c->errlen, "tensor '%s': data_offsets is not [begin, end] (%zu %s)",
                c->name, v->n, v->n == 1 ? "entry" : "entries");
        return -1;
    }
    for (k = 0; k < 2; k++)
        if (check_uint(c, "data_offsets", k, &v->items[k], &be[k]) < 0)
            return -1;
    if (be[0] > be[1]) {
        set_err(c->err, c->errlen, "tensor '%s': data_offsets [%llu, %llu] begin is after end",
                c->name, (unsigned long long)be[0], (unsigned long long)be[1]);
        return -1;
    }
    if (be[1] > datalen) {
        set_err(c->err, c->errlen,
                "tensor '%s': data_offsets [%llu, %llu] end beyond the data (%llu bytes)", c->name,
                (unsigned long long)be[0], (unsigned long long)be[1], (unsigned long long)datalen);
        return -1;
    }
    if (be[1] - be[0] != bytes) {
        set_err(c->err, c->errlen,
                "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s shape %s needs %llu",
                c->name, (unsigned long long)be[0], (unsigned long long)be[1],
                (unsigned long long)(be[1] - be[0]), info->name, shape_text(shp, sizeof shp, t),
                (unsigned long long)bytes);
        return -1;
    }
    t->begin = be[0];
    t->end = be[1];
    return 0;
}

/* Finds the three members of a tensor entry (their indexes go in idx); unknown and repeated keys
   are errors because a strict reader should not guess which of two dtypes was meant. */
static int entry_members(Check *c, const JVal *e, int idx[3])
{
    static const char *const known[3] = { "dtype", "shape", "data_offsets" };
    char tok[SHOW_MAX + 8];
    size_t m;
    int k;
    idx[0] = idx[1] = idx[2] = -1;
    for (m = 0; m < e->n; m++) {
        const JStr *key = &e->keys[m];
        for (k = 0; k < 3; k++)
            if (strlen(known[k]) == key->len && memcmp(known[k], key->s, key->len) == 0)
                break;
        if (k == 3) {
            set_err(c->err, c->errlen, "tensor '%s': unknown key '%s'", c->name,
                    show(tok, sizeof tok, key->s, key->len));
            return -1;
        }
        if (idx[k] >= 0) {
            set_err(c->err, c->errlen, "tensor '%s': duplicate key '%s'", c->name, known[k]);
            return -1;
        }
        idx[k] = (int)m;
    }
    for (k = 0; k < 3; k++) {
        if (idx[k] < 0) {
            set_err(c->err, c->errlen, "tensor '%s': missing %s", c->name, known[k]);
            return -1;
        }
    }
    return 0;
}

/* One tensor entry: fills t with relative offsets. */
static int check_entry(Check *c, const JStr *key, const JVal *e, StTensor *t, uint64_t datalen)
{
    const DtypeInfo *info = NULL;
    uint64_t bytes = 0;
    int idx[3];
    if (memchr(key->s, '\0', key->len)) {
        set_err(c->err, c->errlen, "tensor name '%s' contains a nul character", c->name);
        return -1;
    }
    if (e->kind != J_OBJ) {
        set_err(c->err, c->errlen, "tensor '%s': entry is not an object", c->name);
        return -1;
    }
    if (entry_members(c, e, idx) < 0 || check_dtype(c, &e->items[idx[0]], t, &info) < 0
        || check_shape(c, &e->items[idx[1]], t, info, &bytes) < 0
        || check_offsets(c, &e->items[idx[2]], t, info, bytes, datalen) < 0)
        return -1;
    t->name = malloc(key->len + 1);
    if (!t->name) {
        set_err(c->err, c->errlen, "out of memory");
        return -1;
    }
    memcpy(t->name, key->s, key->len + 1);
    return 0;
}

/* Orders strings by bytes, then length, so equal ones sort next to each other. */
static int cmp_jstr(const void *a, const void *b)
{
    const JStr *x = *(const JStr *const *)a, *y = *(const JStr *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->s, y->s, n);
    if (r != 0)
        return r;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* First repeated key of an object in sorted order, or NULL; sorting keeps hostile headers with
   millions of keys from taking quadratic time. */
static const JStr *find_duplicate(const JVal *obj, int *oom)
{
    const JStr **sorted;
    const JStr *dup = NULL;
    size_t k;
    *oom = 0;
    if (obj->n < 2)
        return NULL;
    sorted = malloc(obj->n * sizeof *sorted);
    if (!sorted) {
        *oom = 1;
        return NULL;
    }
    for (k = 0; k < obj->n; k++)
        sorted[k] = &obj->keys[k];
    qsort(sorted, obj->n, sizeof *sorted, cmp_jstr);
    for (k = 1; k < obj->n && !dup; k++)
        if (cmp_jstr(&sorted[k - 1], &sorted[k]) == 0)
            dup = sorted[k];
    free(sorted);
    return dup;
}

/* Whether a key is the reserved metadata key. */
static int is_metadata_key(const JStr *key)
{
    return key->len == 12 && memcmp(key->s, "__metadata__", 12) == 0;
}

/* The optional "__metadata__" map: strings to strings, copied into f. */
static int check_metadata(Check *c, const JVal *m, StFile *f)
{
    char tok[SHOW_MAX + 8];
    const JStr *dup;
    int oom;
    size_t k;
    if (m->kind != J_OBJ) {
        set_err(c->err, c->errlen, "__metadata__ is not an object");
        return -1;
    }
    dup = find_duplicate(m, &oom);
    if (oom || dup) {
        if (oom)
            set_err(c->err, c->errlen, "out of memory");
        else
            set_err(c->err, c->errlen, "duplicate __metadata__ key '%s'",
                    show(tok, sizeof tok, dup->s, dup->len));
        return -1;
    }
    if (m->n > (size_t)INT_MAX) {
        set_err(c->err, c->errlen, "__metadata__ has too many keys");
        return -1;
    }
    f->meta_keys = calloc(m->n ? m->n : 1, sizeof *f->meta_keys);
    f->meta_values = calloc(m->n ? m->n : 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values) {
        set_err(c->err, c->errlen, "out of memory");
        return -1;
    }
    for (k = 0; k < m->n; k++) {
        const JStr *key = &m->keys[k];
        const JVal *v = &m->items[k];
        show(tok, sizeof tok, key->s, key->len);
        if (v->kind != J_STR) {
            set_err(c->err, c->errlen, "__metadata__ value for '%s' is not a string", tok);
            return -1;
        }
        if (memchr(key->s, '\0', key->len) || memchr(v->str.s, '\0', v->str.len)) {
            set_err(c->err, c->errlen, "__metadata__ entry '%s' contains a nul character", tok);
            return -1;
        }
        f->meta_keys[k] = malloc(key->len + 1);
        f->meta_values[k] = malloc(v->str.len + 1);
        f->nmeta = (int)k + 1;
        if (!f->meta_keys[k] || !f->meta_values[k]) {
            set_err(c->err, c->errlen, "out of memory");
            return -1;
        }
        memcpy(f->meta_keys[k], key->s, key->len + 1);
        memcpy(f->meta_values[k], v->str.s, v->str.len + 1);
    }
    return 0;
}

/* Orders tensors by data range, then by header position, for the coverage walk. */
static int cmp_range(const void *a, const void *b)
{
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Message for data bytes [from, to) that no tensor claims; prev is the tensor before them. */
static void hole_err(Check *c, uint64_t from, uint64_t to, const StTensor *prev)
{
    char a[SHOW_MAX + 8];
    if (prev)
        set_err(c->err, c->errlen,
                "data bytes [%llu, %llu) after tensor '%s' are not covered by any tensor",
                (unsigned long long)from, (unsigned long long)to,
                show(a, sizeof a, prev->name, strlen(prev->name)));
    else
        set_err(c->err, c->errlen, "data bytes [%llu, %llu) are not covered by any tensor",
                (unsigned long long)from, (unsigned long long)to);
}

/* The format requires the tensors to tile the data buffer exactly: no two share a byte (so a
   writer cannot alias weights) and no byte is unaccounted for (so no polyglot payloads). */
static int check_coverage(Check *c, StFile *f, uint64_t datalen)
{
    char a[SHOW_MAX + 8], b[SHOW_MAX + 8];
    const StTensor **sorted = NULL, *prev = NULL;
    uint64_t pos = 0;
    int k;
    if (f->ntensors > 0) {
        sorted = malloc((size_t)f->ntensors * sizeof *sorted);
        if (!sorted) {
            set_err(c->err, c->errlen, "out of memory");
            return -1;
        }
        for (k = 0; k < f->ntensors; k++)
            sorted[k] = &f->tensors[k];
        qsort(sorted, (size_t)f->ntensors, sizeof *sorted, cmp_range);
    }
    for (k = 0; k < f->ntensors; k++) {
        const StTensor *t = sorted[k];
        if (t->begin < pos) {
            /* sorted by begin, so the previous tensor is the one that reaches past t->begin */
            set_err(c->err, c->errlen,
                    "tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]",
                    show(a, sizeof a, t->name, strlen(t->name)), (unsigned long long)t->begin,
                    (unsigned long long)t->end, show(b, sizeof b, prev->name, strlen(prev->name)),
                    (unsigned long long)prev->begin, (unsigned long long)prev->end);
            free(sorted);
            return -1;
        }
        if (t->begin > pos) {
            hole_err(c, pos, t->begin, prev);
            free(sorted);
            return -1;
        }
        pos = t->end;
        prev = t;
    }
    free(sorted);
    if (pos != datalen) {
        hole_err(c, pos, datalen, prev);
        return -1;
    }
    return 0;
}

/* Everything after the JSON parse: names, entries, metadata, then the layout of the data. */
static int check_header(Check *c, const JVal *root, StFile *f, uint64_t data_start)
{
    uint64_t datalen = f->size - data_start;
    const JStr *dup;
    size_t m, count = 0;
    int oom, k;
    dup = find_duplicate(root, &oom);
    if (oom) {
        set_err(c->err, c->errlen, "out of memory");
        return -1;
    }
    if (dup) {
        show(c->name, sizeof c->name, dup->s, dup->len);
        if (is_metadata_key(dup))
            set_err(c->err, c->errlen, "duplicate __metadata__");
        else
            set_err(c->err, c->errlen, "duplicate tensor name '%s'", c->name);
        return -1;
    }
    for (m = 0; m < root->n; m++)
        count += !is_metadata_key(&root->keys[m]);
    if (count > (size_t)INT_MAX) {
        set_err(c->err, c->errlen, "too many tensors (%zu)", count);
        return -1;
    }
    f->tensors = calloc(count ? count : 1, sizeof *f->tensors);
    if (!f->tensors) {
        set_err(c->err, c->errlen, "out of memory");
        return -1;
    }
    for (m = 0; m < root->n; m++) {
        const JStr *key = &root->keys[m];
        if (is_metadata_key(key)) {
            if (check_metadata(c, &root->items[m], f) < 0)
                return -1;
            continue;
        }
        show(c->name, sizeof c->name, key->s, key->len);
        if (check_entry(c, key, &root->items[m], &f->tensors[f->ntensors], datalen) < 0)
            return -1;
        f->ntensors++;
    }
    if (check_coverage(c, f, datalen) < 0)
        return -1;
    for (k = 0; k < f->ntensors; k++) {
        f->tensors[k].begin += data_start;
        f->tensors[k].end += data_start;
    }
    return 0;
}

/* Validates f->data (owned by f) and fills in the tensors; f is freed on error. */
static StFile *parse_file(StFile *f, char *err, size_t errlen)
{
    Check c;
    JParser p;
    JVal root;
    uint64_t hlen;
    size_t bad;
    memset(&c, 0, sizeof c);
    c.err = err;
    c.errlen = errlen;
    if (f->size < 8) {
        set_err(err, errlen, "file is %zu bytes, too short for the 8-byte header length", f->size);
        goto fail;
    }
    hlen = load_u64le(f->data);
    if (hlen > ST_MAX_HEADER) {
        set_err(err, errlen, "header length %llu is absurd (the limit is %u bytes)",
                (unsigned long long)hlen, ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > f->size - 8) {
        set_err(err, errlen, "header length %llu is beyond the end of the file (%zu bytes)",
                (unsigned long long)hlen, f->size);
        goto fail;
    }
    if (hlen == 0) {
        set_err(err, errlen, "header is empty");
        goto fail;
    }
    if (f->data[8] != '{') {
        set_err(err, errlen, "header is not a json object (it must start with '{')");
        goto fail;
    }
    bad = utf8_bad_at(f->data + 8, (size_t)hlen);
    if (bad != (size_t)hlen) {
        set_err(err, errlen, "header is not valid utf-8 (byte %zu)", bad);
        goto fail;
    }
    memset(&p, 0, sizeof p);
    memset(&root, 0, sizeof root);
    p.s = f->data + 8;
    p.n = (size_t)hlen;
    p.err = err;
    p.errlen = errlen;
    if (j_value(&p, &root) < 0) {
        j_free(&root);
        goto fail;
    }
    j_ws(&p);
    if (p.i != p.n) {
        j_fail(&p, "unexpected bytes after the object (padding must be spaces)");
        j_free(&root);
        goto fail;
    }
    if (check_header(&c, &root, f, 8 + hlen) < 0) {
        j_free(&root);
        goto fail;
    }
    j_free(&root);
    return f;
fail:
    st_free(f);
    return NULL;
}

/* A fresh StFile owning data; data is freed if this fails. */
static StFile *new_file(const char *name, unsigned char *data, size_t size, char *err,
                        size_t errlen)
{
    StFile *f = calloc(1, sizeof *f);
    const char *nm = name ? name : "";
    if (f)
        f->path = malloc(strlen(nm) + 1);
    if (!f || !f->path) {
        free(f);
        free(data);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(f->path, nm, strlen(nm) + 1);
    f->data = data;
    f->size = size;
    return f;
}

StFile *st_load_mem(const char *name, const unsigned char *bytes, size_t size, char *err,
                    size_t errlen)
{
    unsigned char *copy = malloc(size ? size : 1);
    StFile *f;
    if (!copy) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    if (size)
        memcpy(copy, bytes, size);
    f = new_file(name, copy, size, err, errlen);
    return f ? parse_file(f, err, errlen) : NULL;
}

/* Reads a whole stream; growing a buffer works for pipes and files alike. */
static unsigned char *read_all(FILE *fp, size_t *size, char *err, size_t errlen)
{
    char sys[128];
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        size_t got;
        if (n == cap) {
            unsigned char *nb;
            if (cap == 0)
                cap = 32768; /* grow doubles it: the first read asks for 64 KiB */
            nb = grow(buf, &cap, 1);
            if (!nb) {
                free(buf);
                set_err(err, errlen, "out of memory");
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            if (ferror(fp)) {
                free(buf);
                set_err(err, errlen, "cannot read: %s", sys_msg(errno, sys, sizeof sys));
                return NULL;
            }
            break;
        }
    }
    *size = n;
    return buf;
}

StFile *st_load(const char *path, char *err, size_t errlen)
{
    char sys[128];
    unsigned char *data;
    size_t size = 0;
    StFile *f;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        set_err(err, errlen, "cannot open: %s", sys_msg(errno, sys, sizeof sys));
        return NULL;
    }
    data = read_all(fp, &size, err, errlen);
    fclose(fp);
    if (!data)
        return NULL;
    f = new_file(path, data, size, err, errlen);
    return f ? parse_file(f, err, errlen) : NULL;
}

const StTensor *st_find(const StFile *f, const char *name)
{
    int k;
    if (!f || !name)
        return NULL;
    for (k = 0; k < f->ntensors; k++)
        if (strcmp(f->tensors[k].name, name) == 0)
            return &f->tensors[k];
    return NULL;
}

const char *st_meta(const StFile *f, const char *key)
{
    int k;
    if (!f || !key)
        return NULL;
    for (k = 0; k < f->nmeta; k++)
        if (strcmp(f->meta_keys[k], key) == 0)
            return f->meta_values[k];
    return NULL;
}

int64_t st_numel(const StTensor *t)
{
    int64_t n = 1;
    int k;
    for (k = 0; k < t->ndim; k++)
        if (t->shape[k] == 0)
            return 0;
    for (k = 0; k < t->ndim; k++)
        n *= t->shape[k]; /* cannot overflow: the loader checked the product of non-zero dims */
    return n;
}

void st_free(StFile *f)
{
    int k;
    if (!f)
        return;
    if (f->tensors)
        for (k = 0; k < f->ntensors; k++)
            free(f->tensors[k].name);
    for (k = 0; k < f->nmeta; k++) {
        free(f->meta_keys[k]);
        free(f->meta_values[k]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->tensors);
    free(f->data);
    free(f->path);
    free(f);
}

/* ------------------------------------------------------------------------------------------ */
/* Conversion                                                                                  */

/* IEEE binary16 to binary32 bit patterns: exact for every input, subnormals are renormalised
   and NaN payloads kept, so no floating-point operation (or rounding mode) is involved. */
static uint32_t f16_to_f32_bits(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t shift = 0;
    if (exp == 0x1f)
        return sign | 0x7f800000u | man << 13;
    if (exp != 0)
        return sign | (exp + 112) << 23 | man << 13;
    if (man == 0)
        return sign;
    while (!(man & 0x400u)) {
        man <<= 1;
        shift++;
    }
    return sign | (113 - shift) << 23 | (man & 0x3ffu) << 13;
}

int64_t st_to_f32(const StFile *f, const StTensor *t, float *out)
{
    const unsigned char *p;
    int64_t n, k, nonfinite = 0;
    uint64_t need;
    int size;
    if (!f || !t || !st_dtype_convertible(t->dtype))
        return -1;
    n = st_numel(t);
    size = st_dtype_size(t->dtype);
    /* a tensor from another file, or altered by the caller, must not read out of bounds */
    if (n < 0 || mul_u64((uint64_t)n, (uint64_t)size, &need) < 0 || t->begin > t->end
        || t->end > f->size || t->end - t->begin != need)
        return -1;
    if (n > 0 && !out)
        return -1;
    p = f->data + t->begin;
    for (k = 0; k < n; k++) {
        uint32_t bits;
        if (t->dtype == ST_F32)
            bits = load_u32le(p + 4 * k);
        else if (t->dtype == ST_F16)
            bits = f16_to_f32_bits(load_u16le(p + 2 * k));
        else
            bits = (uint32_t)load_u16le(p + 2 * k) << 16;
        nonfinite += (bits & 0x7f800000u) == 0x7f800000u;
        memcpy(&out[k], &bits, sizeof bits);
    }
    return nonfinite;
}

/* ------------------------------------------------------------------------------------------ */
/* Writer                                                                                      */

/* A growing text buffer; the first allocation failure sticks so callers check once. */
typedef struct Buf {
    char *s;
    size_t n, cap;
    int oom;
} Buf;

/* Appends len bytes. */
static void buf_put(Buf *b, const char *s, size_t len)
{
    while (!b->oom && b->cap - b->n < len + 1) {
        char *ns = grow(b->s, &b->cap, 1);
        if (!ns)
            b->oom = 1;
        else
            b->s = ns;
    }
    if (b->oom)
        return;
    memcpy(b->s + b->n, s, len);
    b->n += len;
    b->s[b->n] = '\0';
}

/* Appends a NUL-terminated string. */
static void buf_str(Buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* Appends formatted text (short pieces only: numbers and fixed words). */
ST_PRINTF(2, 3)
static void buf_printf(Buf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    int len;
    va_start(ap, fmt);
    len = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof tmp)
        b->oom = 1;
    else
        buf_put(b, tmp, (size_t)len);
}

/* A name as a JSON string: quotes, backslashes and control bytes escaped, UTF-8 kept as is. */
static void buf_json_string(Buf *b, const char *s)
{
    buf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            buf_put(b, esc, 2);
        } else if (c < 0x20) {
            buf_printf(b, "\\u%04x", c);
        } else {
            buf_put(b, (const char *)&c, 1);
        }
    }
    buf_put(b, "\"", 1);
}

/* Checks the writer's arguments and returns each tensor's byte size in bytes[]. */
static int write_check(int n, const char *const *names, const int *ndims,
                       const int64_t (*shapes)[8], const float *const *datas, uint64_t *bytes,
                       char *err, size_t errlen)
{
    char a[SHOW_MAX + 8];
    int i, j, k;
    for (i = 0; i < n; i++) {
        uint64_t numel = 1;
        int zero = 0;
        if (!names[i]) {
            set_err(err, errlen, "tensor %d has no name", i);
            return -1;
        }
        show(a, sizeof a, names[i], strlen(names[i]));
        if (utf8_bad_at((const unsigned char *)names[i], strlen(names[i])) != strlen(names[i])) {
            set_err(err, errlen, "tensor name '%s' is not valid utf-8", a);
            return -1;
        }
        if (strcmp(names[i], "__metadata__") == 0) {
            set_err(err, errlen, "tensor name '__metadata__' is reserved");
            return -1;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                set_err(err, errlen, "duplicate tensor name '%s'", a);
                return -1;
            }
        }
        if (ndims[i] < 0 || ndims[i] > ST_MAX_DIMS) {
            set_err(err, errlen, "tensor '%s': %d dimensions, expected 0 to %d", a, ndims[i],
                    ST_MAX_DIMS);
            return -1;
        }
        for (k = 0; k < ndims[i]; k++) {
            if (shapes[i][k] < 0) {
                set_err(err, errlen, "tensor '%s': shape[%d] is negative", a, k);
                return -1;
            }
        }
        /* the reader's rule (see check_shape): non-zero dimensions must multiply without wrapping */
        for (k = 0; k < ndims[i]; k++) {
            if (shapes[i][k] == 0)
                zero = 1;
            else if (mul_u64(numel, (uint64_t)shapes[i][k], &numel) < 0
                     || numel > (uint64_t)INT64_MAX / 4) {
                set_err(err, errlen, "tensor '%s': shape has too many elements", a);
                return -1;
            }
        }
        if (zero)
            numel = 0;
        if (numel > 0 && !datas[i]) {
            set_err(err, errlen, "tensor '%s': no data", a);
            return -1;
        }
        bytes[i] = numel * 4;
    }
    return 0;
}

/* The header text, padded with spaces so the data starts 8-byte aligned. */
static int write_header(Buf *b, int n, const char *const *names, const int *ndims,
                        const int64_t (*shapes)[8], const uint64_t *bytes, char *err, size_t errlen)
{
    uint64_t off = 0;
    int i, k;
    buf_put(b, "{", 1);
    for (i = 0; i < n; i++) {
        if (i)
            buf_put(b, ",", 1);
        buf_json_string(b, names[i]);
        buf_str(b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (k = 0; k < ndims[i]; k++)
            buf_printf(b, "%s%lld", k ? "," : "", (long long)shapes[i][k]);
        if (off > UINT64_MAX - bytes[i]) {
            set_err(err, errlen, "tensors are too large in total");
            return -1;
        }
        buf_printf(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                   (unsigned long long)(off + bytes[i]));
        off += bytes[i];
    }
    buf_put(b, "}", 1);
    while (!b->oom && (8 + b->n) % 8 != 0)
        buf_put(b, " ", 1);
    if (b->oom) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Writes the data of one tensor in little-endian order through a small staging buffer. */
static int write_floats(FILE *fp, const float *data, uint64_t count)
{
    unsigned char chunk[4096];
    uint64_t k;
    size_t o = 0;
    for (k = 0; k < count; k++) {
        uint32_t bits;
        memcpy(&bits, &data[k], sizeof bits);
        chunk[o++] = (unsigned char)bits;
        chunk[o++] = (unsigned char)(bits >> 8);
        chunk[o++] = (unsigned char)(bits >> 16);
        chunk[o++] = (unsigned char)(bits >> 24);
        if (o == sizeof chunk) {
            if (fwrite(chunk, 1, o, fp) != o)
                return -1;
            o = 0;
        }
    }
    return fwrite(chunk, 1, o, fp) == o ? 0 : -1;
}

int st_write_f32(const char *path, int n, const char *const *names, const int *ndims,
                 const int64_t (*shapes)[8], const float *const *datas, char *err, size_t errlen)
{
    char sys[128];
    unsigned char len8[8];
    uint64_t *bytes = NULL;
    Buf b = { NULL, 0, 0, 0 };
    FILE *fp;
    int i, rc = -1;
    if (!path || n < 0 || (n > 0 && (!names || !ndims || !shapes || !datas))) {
        set_err(err, errlen, "invalid arguments");
        return -1;
    }
    bytes = calloc(n ? (size_t)n : 1, sizeof *bytes);
    if (!bytes) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    if (write_check(n, names, ndims, shapes, datas, bytes, err, errlen) < 0
        || write_header(&b, n, names, ndims, shapes, bytes, err, errlen) < 0)
        goto done;
    for (i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)b.n >> (8 * i));
    fp = fopen(path, "wb");
    if (!fp) {
        set_err(err, errlen, "cannot create: %s", sys_msg(errno, sys, sizeof sys));
        goto done;
    }
    rc = 0;
    if (fwrite(len8, 1, 8, fp) != 8 || fwrite(b.s, 1, b.n, fp) != b.n)
        rc = -1;
    for (i = 0; i < n && rc == 0; i++)
        rc = write_floats(fp, datas[i], bytes[i] / 4);
    if (fclose(fp) != 0)
        rc = -1;
    if (rc < 0) {
        set_err(err, errlen, "cannot write: %s", sys_msg(errno, sys, sizeof sys));
        remove(path);
    }
done:
    free(bytes);
    free(b.s);
    return rc;
}
