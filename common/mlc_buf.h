/* mlc_buf.h - growable byte buffer with a hard size cap.
 *
 * Every buffer that holds data from outside (HTTP bodies, JSON, log lines)
 * declares how large it may grow, as curl's dynbuf does: an append past the
 * cap fails with MLC_PERM and leaves the buffer as it was. The content is
 * always NUL-terminated (the terminator is not counted in len nor against
 * max), so text can be read with mlc_buf_str().
 *
 * Ownership: the buffer owns data; mlc_buf_free() releases it. mlc_buf_steal()
 * hands the allocation to the caller (free() it) and empties the buffer.
 */
#ifndef MLC_BUF_H
#define MLC_BUF_H

#include "mlc_err.h"

#include <stdarg.h>
#include <stddef.h>

struct mlc_buf {
    char *data;
    size_t len; /* bytes in use, excluding the terminator */
    size_t cap; /* bytes allocated */
    size_t max; /* hard cap on len */
};

void mlc_buf_init(struct mlc_buf *b, size_t max);
void mlc_buf_free(struct mlc_buf *b);
/* Empties the buffer and keeps the allocation for reuse. */
void mlc_buf_reset(struct mlc_buf *b);

/* MLC_PERM when the cap would be exceeded (an allocation failure aborts). */
mlc_rc mlc_buf_append(struct mlc_buf *b, const void *p, size_t n);
mlc_rc mlc_buf_puts(struct mlc_buf *b, const char *s);
mlc_rc mlc_buf_printf(struct mlc_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
mlc_rc mlc_buf_vprintf(struct mlc_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Never NULL: "" for an empty buffer. Borrowed; valid until the next change. */
const char *mlc_buf_str(const struct mlc_buf *b);
/* Returns the NUL-terminated content (caller frees) and empties the buffer;
 * NULL when empty and never allocated. */
char *mlc_buf_steal(struct mlc_buf *b);

#endif
