/* mlc_buf.c - bounded growable buffer, see mlc_buf.h. */
#include "mlc_buf.h"
#include "mlc_alloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mlc_buf_init(struct mlc_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void mlc_buf_free(struct mlc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void mlc_buf_reset(struct mlc_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static mlc_rc buf_reserve(struct mlc_buf *b, size_t extra)
{
    size_t need, cap;

    if (extra > b->max - b->len)
        return MLC_PERM;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return MLC_OK;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    b->data = mlc_xrealloc(b->data, cap);
    b->cap = cap;
    return MLC_OK;
}

mlc_rc mlc_buf_append(struct mlc_buf *b, const void *p, size_t n)
{
    mlc_rc rc = buf_reserve(b, n);

    if (rc != MLC_OK)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return MLC_OK;
}

mlc_rc mlc_buf_puts(struct mlc_buf *b, const char *s)
{
    return mlc_buf_append(b, s, strlen(s));
}

mlc_rc mlc_buf_vprintf(struct mlc_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    mlc_rc rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return MLC_PERM;
    rc = buf_reserve(b, (size_t)n);
    if (rc != MLC_OK)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return MLC_OK;
}

mlc_rc mlc_buf_printf(struct mlc_buf *b, const char *fmt, ...)
{
    va_list ap;
    mlc_rc rc;

    va_start(ap, fmt);
    rc = mlc_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *mlc_buf_str(const struct mlc_buf *b)
{
    return b->data ? b->data : "";
}

char *mlc_buf_steal(struct mlc_buf *b)
{
    char *p = b->data;

    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
