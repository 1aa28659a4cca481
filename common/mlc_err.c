/* mlc_err.c - error records, see mlc_err.h. */
#include "mlc_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

mlc_rc mlc_err_set(struct mlc_err *err, mlc_rc rc, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return rc;
    err->rc = rc;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    /* One line: a newline in server text would break log parsing. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return rc;
}

mlc_rc mlc_err_prefix(struct mlc_err *err, const char *fmt, ...)
{
    char ctx[256];
    char old[sizeof(err->msg)];
    va_list ap;

    if (!err)
        return MLC_FATAL;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", ctx, old);
    return err->rc;
}

void mlc_err_clear(struct mlc_err *err)
{
    if (!err)
        return;
    err->rc = MLC_OK;
    err->status = 0;
    err->msg[0] = '\0';
}
