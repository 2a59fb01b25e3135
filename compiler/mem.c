/* mem.c: one arena per compilation. Everything the passes build lives
 * here and is released at once, so no pass owns or frees anything. */
#include "cnnc.h"

#include <stdlib.h>
#include <string.h>

struct MemBlock {
    MemBlock *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

enum { MEM_BLOCK = 64 * 1024 };

/* Rounds up so every allocation keeps the strictest alignment. */
static size_t mem_round(size_t n)
{
    size_t a = _Alignof(max_align_t);
    if (n > SIZE_MAX - a)
        die("allocation of %zu bytes overflows", n);
    return (n + a - 1) / a * a;
}

void *mem_alloc(Mem *m, size_t size)
{
    size = mem_round(size ? size : 1);
    MemBlock *b = m->blocks;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > MEM_BLOCK ? size : MEM_BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b)
            die("out of memory");
        b->used = 0;
        b->cap = cap;
        b->next = m->blocks;
        m->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

void *mem_array(Mem *m, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        die("allocation of %zu x %zu bytes overflows", count, size);
    return mem_alloc(m, count * size);
}

char *mem_strndup(Mem *m, const char *s, size_t n)
{
    char *p = mem_alloc(m, n + 1);
    memcpy(p, s, n);
    return p;
}

char *mem_strdup(Mem *m, const char *s)
{
    return mem_strndup(m, s, strlen(s));
}

char *mem_printf(Mem *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("bad format '%s'", fmt);
    char *p = mem_alloc(m, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void mem_free(Mem *m)
{
    while (m->blocks) {
        MemBlock *next = m->blocks->next;
        free(m->blocks);
        m->blocks = next;
    }
}
