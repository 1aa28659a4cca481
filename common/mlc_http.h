/* mlc_http.h - the HTTP client of ml-connector (a thin libcurl wrapper).
 *
 * Global state: mlc_http_global_init() calls curl_global_init() and must be
 * called once by main() before any thread starts and before any other
 * mlc_http_ function; mlc_http_global_cleanup() once at exit. Both are
 * idempotent (counted), so tests may call them freely.
 *
 * A struct mlc_http_client keeps ONE curl easy handle for its lifetime, so
 * sequential requests to the same host reuse the connection (keep-alive).
 * A client is not thread-safe: use one per thread.
 *
 * Classification (docs/adr/0003-http-classification.md), one place only:
 *   2xx                                        -> MLC_OK
 *   transport errors (DNS, connect, reset, timeout, cut body), 408, 429, 5xx
 *                                              -> MLC_RETRY
 *   any other status (4xx, 1xx/3xx left over) and a body over the cap
 *                                              -> MLC_PERM
 * The status (0 when no response arrived) is in err->status and resp->status.
 * Callers for whom 401/403 mean "credentials refused" upgrade them with
 * mlc_http_auth_fatal().
 *
 * Error messages: "GET http://host/path?...: HTTP 503". The query string is
 * never shown (Pipedrive carries api_token there) nor any user:password@
 * part, and the whole line goes through mlc_redact(). Request headers (and so
 * Authorization) never appear in messages or logs.
 */
#ifndef MLC_HTTP_H
#define MLC_HTTP_H

#include "mlc_backoff.h"
#include "mlc_buf.h"
#include "mlc_err.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

enum mlc_http_method { MLC_HTTP_GET = 0, MLC_HTTP_POST, MLC_HTTP_PATCH, MLC_HTTP_DELETE };

/* "GET", "POST", "PATCH", "DELETE". */
const char *mlc_http_method_name(enum mlc_http_method m);

struct mlc_http_opts {
    long connect_timeout_ms; /* default 10000 */
    long timeout_ms;         /* whole transfer, default 30000 */
    size_t max_body;         /* response body cap in bytes, default 1 MiB */
    bool insecure;           /* skip TLS peer and host verification (never in production) */
    const char *ca_file;     /* PEM bundle to trust instead of the system one; NULL = system */
    const char *user_agent;  /* NULL = "ml-connector/<version>" */
    const char *user;        /* HTTP Basic user; NULL = no auth */
    const char *password;    /* HTTP Basic password (registered with mlc_log_add_secret) */
};

/* Fills defaults; callers then override fields. All strings are borrowed
 * only until mlc_http_client_new / mlc_http_batch_new returns (copied). */
void mlc_http_opts_default(struct mlc_http_opts *o);

/* With a body and no Content-Type among headers, curl sends
 * "application/x-www-form-urlencoded": pass "Content-Type: application/json".
 * POST and PATCH always send a body (empty when body is NULL); DELETE only
 * when body is not NULL; GET never. Redirects are not followed. */
struct mlc_http_request {
    enum mlc_http_method method;
    const char *url;            /* borrowed */
    const char *const *headers; /* "Name: value" lines, NULL-terminated, nullable, borrowed */
    const char *body;           /* request body (POST/PATCH/DELETE), nullable, borrowed */
    size_t body_len;            /* bytes of body */
};

/* Owned by the caller: init once, perform any number of times (each perform
 * resets it), free once. */
struct mlc_http_response {
    long status;         /* HTTP status of the final response, 0 if none */
    struct mlc_buf body; /* capped at opts.max_body */
    struct mlc_buf hdrs; /* captured headers as "name\0value\0" pairs */
    long num_connects;   /* new connections this transfer opened (0 = reused) */
    double total_s;      /* transfer time */
};

void mlc_http_response_init(struct mlc_http_response *r);
void mlc_http_response_free(struct mlc_http_response *r);

/* Case-insensitive lookup of a response header ("retry-after",
 * "x-ratelimit-remaining", "content-type", ...). The first occurrence wins;
 * value is trimmed. Borrowed from r; NULL when absent. */
const char *mlc_http_response_header(const struct mlc_http_response *r, const char *name);

mlc_rc mlc_http_global_init(struct mlc_err *err);
void mlc_http_global_cleanup(void);

struct mlc_http_client;

/* *out is owned by the caller: mlc_http_client_free(). */
mlc_rc mlc_http_client_new(const struct mlc_http_opts *o, struct mlc_http_client **out,
                           struct mlc_err *err);
void mlc_http_client_free(struct mlc_http_client *c);

/* One request. resp must have been initialised; it is reset first. */
mlc_rc mlc_http_perform(struct mlc_http_client *c, const struct mlc_http_request *req,
                        struct mlc_http_response *resp, struct mlc_err *err);

/* Status -> rc per the table above (status 0, no response, -> MLC_RETRY). */
mlc_rc mlc_http_classify_status(long status);

/* True for 401 and 403. */
bool mlc_http_is_auth_failure(long status);

/* For callers whose credentials are fixed (Sage, Pipedrive): when err->status
 * is 401/403 turns rc into MLC_FATAL (also in err); otherwise returns rc. */
mlc_rc mlc_http_auth_fatal(mlc_rc rc, struct mlc_err *err);

/* Retry policy of mlc_http_perform_retry. */
struct mlc_http_retry {
    unsigned max_attempts;       /* total tries including the first, >= 1 */
    struct mlc_backoff *backoff; /* borrowed; its PRNG advances */
    volatile sig_atomic_t *stop; /* nullable; non-zero stops before the next try */
    /* Nullable; default mlc_backoff_sleep_ms. Returns false when interrupted. */
    bool (*sleep_ms)(void *ctx, long ms, volatile sig_atomic_t *stop);
    void *sleep_ctx;
};

/* Performs req up to max_attempts times while the outcome is MLC_RETRY,
 * sleeping mlc_backoff_delay_ms() between tries (at least Retry-After when
 * the server sent one). Each retry is logged at warn with method, redacted
 * URL and reason. Returns the last outcome; when stopped, MLC_RETRY with
 * "interrupted" appended. */
mlc_rc mlc_http_perform_retry(struct mlc_http_client *c, const struct mlc_http_request *req,
                              struct mlc_http_response *resp, const struct mlc_http_retry *rp,
                              struct mlc_err *err);

/* Batch: up to `slots` requests in flight at once on one curl multi handle.
 * Each slot keeps its easy handle across batches (the multi handle's
 * connection cache gives keep-alive). Not thread-safe. */
struct mlc_http_batch;

mlc_rc mlc_http_batch_new(const struct mlc_http_opts *o, unsigned slots,
                          struct mlc_http_batch **out, struct mlc_err *err);
void mlc_http_batch_free(struct mlc_http_batch *b);

/* Runs reqs[0..n) (any n; at most `slots` concurrently). resps[i] (initialised
 * by the caller), rcs[i] and errs[i] (nullable array) receive each outcome,
 * classified as by mlc_http_perform. stop (nullable) aborts unfinished
 * requests with MLC_RETRY "interrupted". Returns MLC_OK when every request
 * ran to an outcome, MLC_RETRY when stopped, MLC_FATAL when curl itself
 * failed. */
mlc_rc mlc_http_batch_perform(struct mlc_http_batch *b, const struct mlc_http_request *reqs,
                              size_t n, struct mlc_http_response *resps, mlc_rc *rcs,
                              struct mlc_err *errs, volatile sig_atomic_t *stop,
                              struct mlc_err *err);

#endif
