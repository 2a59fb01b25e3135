/* cwrite.c: small pieces of C text every writer of C needs alike: the
 * float back end (emit.c), the int8 one (emit_q8.c) and the board
 * self-test (selftest.c), so that the names and comments they print
 * cannot drift apart. */
#include "cnnc.h"

#include <string.h>

const char *cw_upper(Mem *m, const char *s)
{
    char *u = mem_strdup(m, s);
    for (char *p = u; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return u;
}

const char *cw_comment_safe(Mem *m, const char *s)
{
    char *t = mem_strdup(m, s);
    for (char *p = t; (p = strstr(p, "*/")); p++)
        *p = '+';
    return t;
}

const char *cw_shape(Mem *m, Shape s)
{
    return mem_printf(m, "%lldx%lldx%lld", (long long)s.c, (long long)s.h, (long long)s.w);
}
