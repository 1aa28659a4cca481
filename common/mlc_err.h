/* mlc_err.h - the one error convention of ml-connector.
 *
 * Every fallible function returns an mlc_rc. On failure it writes one
 * human-readable line into a caller-supplied struct mlc_err (which may be
 * NULL when the caller does not care). The code tells the caller what to do;
 * the message tells the operator what happened:
 *
 *   MLC_OK     done.
 *   MLC_RETRY  transient (transport error, timeout, 408, 429, 5xx, SQLITE_BUSY):
 *              the same input may succeed later; nothing was committed.
 *   MLC_PERM   permanent for this input (malformed record, 4xx validation):
 *              record it (audit, DLQ) and move on to the next input.
 *   MLC_FATAL  the process cannot go on (bad configuration, credentials
 *              refused, disk full): stop, commit nothing further.
 *
 * Messages follow git's style: lower case, no full stop, what failed first
 * ("sage GET .../ARCustomers: HTTP 401 Unauthorized"). They never contain a
 * secret: callers pass URLs without credentials and never format a password.
 * Only main() exits.
 */
#ifndef MLC_ERR_H
#define MLC_ERR_H

#include <stddef.h>

typedef enum mlc_rc {
    MLC_OK = 0,
    MLC_RETRY = 1,
    MLC_PERM = 2,
    MLC_FATAL = 3,
} mlc_rc;

struct mlc_err {
    mlc_rc rc;
    int status;    /* protocol status behind the error (HTTP status), or 0 */
    char msg[512]; /* one line, NUL-terminated, truncated if longer */
};

/* Records rc and a formatted message in err (if not NULL); returns rc so that
 * callers can write `return mlc_err_set(err, MLC_PERM, "...", ...);`. */
mlc_rc mlc_err_set(struct mlc_err *err, mlc_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "<context>: " to err->msg, keeping rc and status; returns err->rc
 * (or MLC_FATAL when err is NULL, since the caller lost the detail anyway). */
mlc_rc mlc_err_prefix(struct mlc_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears err to MLC_OK with an empty message. */
void mlc_err_clear(struct mlc_err *err);

#endif
