/* pd_client.h - requests to the Pipedrive API with pacing, budget and retries.
 *
 * Every request carries the token in the x-api-token header (never in the
 * URL; the token is registered with the log redaction), JSON bodies, and
 * goes through pd_limits: pd_limits_next_send_delay() before it is sent
 * (unless pacing is off), pd_limits_on_response() after. What a response
 * means:
 *   2xx                      MLC_OK, body parsed into call->json
 *   burst 429                waits (Retry-After / x-ratelimit-reset + jitter,
 *                            kept by pd_limits) and sends the call again
 *   daily 429                MLC_RETRY for the call, pd_client_paused() true
 *                            until the reset (the caller pauses consumption)
 *   403 HTML block page      MLC_FATAL for the whole run: stop sending
 *   401, 402                 MLC_FATAL (token refused / payment required)
 *   404, 410                 MLC_PERM with call->status (deleted in the CRM)
 *   other 4xx                MLC_PERM (400 validation -> DLQ)
 *   5xx, 408, timeouts       GET and PATCH are retried with backoff up to
 *                            max_attempts, then MLC_RETRY; a POST is never
 *                            resent here (it may have succeeded): MLC_RETRY
 *                            at once, the caller looks the customer up first.
 *
 * Up to `concurrency` calls of one pd_client_run() are in flight together
 * (curl multi); the caller guarantees they concern different customers.
 * Each call that reached Pipedrive is reported to the audit callback
 * (method, path without any secret, status, tokens charged, duration).
 *
 * Ownership: pd_client_new() allocates, pd_client_free() releases. A struct
 * pd_call is the caller's; body is borrowed during pd_client_run(), json is
 * new (pd_call_reset() or cJSON_Delete frees it).
 */
#ifndef PD_CLIENT_H
#define PD_CLIENT_H

#include "mlc_err.h"
#include "mlc_http.h"
#include "pd_limits.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define PD_PATH_MAX 1024

#define PD_TIMEOUT_DEFAULT_MS 30000 /* a request's time limit when timeout_ms is 0 */

struct pd_call {
    /* in */
    enum pd_op op;
    enum mlc_http_method method;
    char path[PD_PATH_MAX]; /* "/api/v2/organizations/7?x=y": never a token */
    const char *body;       /* JSON text or NULL (borrowed) */
    void *tag;              /* caller's, passed to the audit callback */
    bool force;             /* a budget probe: sent even while paused (never paced) */
    /* out */
    mlc_rc rc;
    long status;
    bool sent;   /* the request went out at least once (else it was refused here) */
    cJSON *json; /* parsed response body (2xx and JSON error bodies), or NULL */
    struct mlc_err err;
};

/* Clears the outputs (frees json) so that the call can be run again. */
void pd_call_reset(struct pd_call *call);

typedef void (*pd_audit_fn)(void *ctx, const struct pd_call *call, long status, int tokens,
                            long duration_ms);

/* Replacements of the clock, the sleep and the batch for tests (each
 * nullable: the real one). now_ms: ms since the epoch; sleep_ms: false when
 * interrupted by *stop; perform: as mlc_http_batch_perform(). */
struct pd_client_hooks {
    int64_t (*now_ms)(void *ctx);
    bool (*sleep_ms)(void *ctx, long ms, volatile sig_atomic_t *stop);
    mlc_rc (*perform)(void *ctx, const struct mlc_http_request *reqs, size_t n,
                      struct mlc_http_response *resps, mlc_rc *rcs, struct mlc_err *errs,
                      volatile sig_atomic_t *stop, struct mlc_err *err);
    void *ctx;
    uint64_t seed; /* backoff jitter seed (0: from the clock) */
};

struct pd_client_cfg {
    const char *base_url; /* "https://x.pipedrive.com" (no trailing path) */
    const char *token;
    long timeout_ms;
    unsigned concurrency; /* >= 1 */
    bool pacing;
    unsigned max_attempts; /* tries of an idempotent call on 5xx/timeouts, >= 1 */
    struct pd_limits_cfg limits;
    pd_audit_fn audit; /* nullable */
    void *audit_ctx;
    volatile sig_atomic_t *stop; /* nullable: non-zero interrupts waits */
    long backoff_base_ms;        /* 0 = 500 */
    bool log_bodies;             /* request bodies at debug: they hold customer personal data */
    const struct pd_client_hooks *hooks; /* nullable: tests only (borrowed) */
};

struct pd_client;

mlc_rc pd_client_new(const struct pd_client_cfg *cfg, struct pd_client **out, struct mlc_err *err);
void pd_client_free(struct pd_client *c);

/* Runs calls[0..n) to an outcome each (call->rc). A GET or PATCH waiting
 * for its retry time does not hold back the other calls. Returns MLC_FATAL (err says
 * why: block page, token refused, curl failure) when nothing more may be
 * sent, MLC_RETRY when interrupted by *stop, else MLC_OK. */
mlc_rc pd_client_run(struct pd_client *c, struct pd_call *calls, size_t n, struct mlc_err *err);

/* One call: pd_client_run() of one, returning the call's rc (or the run's
 * when that is worse), err filled. */
mlc_rc pd_client_call1(struct pd_client *c, struct pd_call *call, struct mlc_err *err);

/* True while the daily budget is exhausted or under the reserve; *resume_ms
 * (nullable) receives when to try again (ms since the epoch, -1 blocked). */
bool pd_client_paused(struct pd_client *c, int64_t *resume_ms);

struct pd_limits *pd_client_limits(struct pd_client *c);

/* Pipedrive's error text of an answer body (nullable): "error", and
 * "error_info" in brackets when there is one, on one line (control
 * characters become blanks), cut at a character boundary to fit outsz.
 * "" when the body says nothing. */
#define PD_ERROR_TEXT_MAX 400
void pd_error_text(const cJSON *body, char *out, size_t outsz);

#endif
