/* pd_client.c - Pipedrive requests: pacing, limits, retries, audit. */
#include "pd_client.h"

#include "mlc_alloc.h"
#include "mlc_backoff.h"
#include "mlc_buf.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "mlc_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PD_MAX_URL 2048

#define PD_BACKOFF_BASE_MS    500         /* first retry delay of a failed GET/PATCH */
#define PD_BACKOFF_CAP_MS     30000       /* longest backoff delay */
#define PD_RETRY_AFTER_MAX_MS 300000      /* longest Retry-After honoured */
#define PD_MAX_BODY           (16u << 20) /* a 500-organization page with every field */

struct pd_client {
    struct pd_client_cfg cfg;
    char *base_url;
    char *token_hdr;
    struct mlc_http_batch *batch;
    struct pd_limits limits;
    struct mlc_backoff backoff;
};

static int64_t now_ms(const struct pd_client *c)
{
    return c->cfg.hooks && c->cfg.hooks->now_ms ? c->cfg.hooks->now_ms(c->cfg.hooks->ctx)
                                                : mlc_realtime_ms();
}

static bool sleep_ms(const struct pd_client *c, long ms)
{
    if (c->cfg.hooks && c->cfg.hooks->sleep_ms)
        return c->cfg.hooks->sleep_ms(c->cfg.hooks->ctx, ms, c->cfg.stop);
    return mlc_backoff_sleep_ms(ms, c->cfg.stop);
}

void pd_call_reset(struct pd_call *call)
{
    cJSON_Delete(call->json);
    call->json = NULL;
    call->rc = MLC_OK;
    call->status = 0;
    call->sent = false;
    mlc_err_clear(&call->err);
}

mlc_rc pd_client_new(const struct pd_client_cfg *cfg, struct pd_client **out, struct mlc_err *err)
{
    struct pd_client *c = mlc_xcalloc(1, sizeof(*c));
    struct mlc_http_opts o;
    size_t n;
    mlc_rc rc;

    *out = NULL;
    c->cfg = *cfg;
    if (c->cfg.concurrency < 1)
        c->cfg.concurrency = 1;
    if (c->cfg.max_attempts < 1)
        c->cfg.max_attempts = 1;
    c->base_url = mlc_xstrdup(cfg->base_url ? cfg->base_url : "");
    n = strlen(cfg->token ? cfg->token : "") + sizeof("x-api-token: ");
    c->token_hdr = mlc_xmalloc(n);
    snprintf(c->token_hdr, n, "x-api-token: %s", cfg->token ? cfg->token : "");
    /* drop a trailing '/' so that paths can start with one */
    n = strlen(c->base_url);
    while (n > 0 && c->base_url[n - 1] == '/')
        c->base_url[--n] = '\0';
    mlc_log_add_secret(cfg->token);
    mlc_http_opts_default(&o);
    o.timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : PD_TIMEOUT_DEFAULT_MS;
    o.max_body = PD_MAX_BODY;
    if ((rc = mlc_http_batch_new(&o, c->cfg.concurrency, &c->batch, err)) != MLC_OK)
        goto out;
    pd_limits_init(&c->limits, &cfg->limits, now_ms(c));
    mlc_backoff_init(&c->backoff,
                     cfg->backoff_base_ms > 0 ? cfg->backoff_base_ms : PD_BACKOFF_BASE_MS,
                     PD_BACKOFF_CAP_MS, PD_RETRY_AFTER_MAX_MS, cfg->hooks ? cfg->hooks->seed : 0);
    *out = c;
    c = NULL;
    rc = MLC_OK;
out:
    pd_client_free(c);
    return rc;
}

void pd_client_free(struct pd_client *c)
{
    if (!c)
        return;
    mlc_http_batch_free(c->batch);
    if (c->token_hdr) {
        memset(c->token_hdr, 0, strlen(c->token_hdr));
        free(c->token_hdr);
    }
    free(c->base_url);
    free(c);
}

struct pd_limits *pd_client_limits(struct pd_client *c)
{
    return &c->limits;
}

bool pd_client_paused(struct pd_client *c, int64_t *resume_ms)
{
    return pd_limits_should_pause(&c->limits, now_ms(c), resume_ms);
}

static void fill_info(struct pd_resp_info *ri, const struct mlc_http_response *r)
{
    const char *p = r->hdrs.data, *end = p ? p + r->hdrs.len : NULL;

    pd_resp_info_init(ri, (int)r->status);
    while (p && p < end) {
        const char *name = p, *value = p + strlen(p) + 1;

        if (value >= end)
            break;
        pd_resp_info_header(ri, name, value);
        p = value + strlen(value) + 1;
    }
    pd_resp_info_body(ri, r->body.data, r->body.len);
}

/* Tokens Pipedrive charges for an answer: none for 401, 403 and 429 (they
 * are refused before the operation runs), the operation's cost otherwise
 * (also for a timeout: we cannot know, so assume the worst). */
static int tokens_charged(enum pd_op op, long status)
{
    if (status == 401 || status == 403 || status == 429)
        return 0;
    return pd_op_cost(op);
}

static bool idempotent(enum mlc_http_method m)
{
    return m != MLC_HTTP_POST;
}

static void audit(struct pd_client *c, const struct pd_call *call, long status, double total_s)
{
    if (c->cfg.audit)
        c->cfg.audit(c->cfg.audit_ctx, call, status, tokens_charged(call->op, status),
                     (long)(total_s * 1000.0 + 0.5));
}

/* Classifies a final (non-limit) answer into call->rc/err. Returns true when
 * the whole run must stop (fatal). */
static bool settle(struct pd_call *call, const struct mlc_http_response *r, mlc_rc http_rc,
                   const struct mlc_err *herr, struct mlc_err *fatal)
{
    long st = r->status;

    call->status = st;
    cJSON_Delete(call->json);
    call->json = r->body.len ? cJSON_ParseWithLength(r->body.data, r->body.len) : NULL;
    if (http_rc == MLC_OK) {
        if (!call->json) {
            call->rc = mlc_err_set(&call->err, MLC_RETRY,
                                   "pipedrive %s %s: HTTP %ld with a body "
                                   "that is not JSON",
                                   mlc_http_method_name(call->method), pd_op_name(call->op), st);
            return false;
        }
        call->rc = MLC_OK;
        return false;
    }
    if (st == 401 || st == 402) {
        call->rc = mlc_err_set(&call->err, MLC_FATAL, "pipedrive %s %s: HTTP %ld %s",
                               mlc_http_method_name(call->method), pd_op_name(call->op), st,
                               st == 401 ? "(the API token was refused: check MLC_PIPEDRIVE_TOKEN)"
                                         : "(payment required: the Pipedrive company's "
                                           "subscription does not allow API use)");
        call->err.status = (int)st;
        *fatal = call->err;
        return true;
    }
    if (http_rc == MLC_PERM) {
        char text[PD_ERROR_TEXT_MAX];

        pd_error_text(call->json, text, sizeof(text));
        call->rc = mlc_err_set(&call->err, MLC_PERM, "pipedrive %s %s: HTTP %ld%s%s",
                               mlc_http_method_name(call->method), pd_op_name(call->op), st,
                               text[0] ? ": " : "", text);
        call->err.status = (int)st;
        return false;
    }
    call->rc = MLC_RETRY;
    call->err = *herr;
    call->err.rc = MLC_RETRY;
    return false;
}

void pd_error_text(const cJSON *body, char *out, size_t outsz)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(body, "error");
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(body, "error_info");
    const char *es = cJSON_IsString(e) ? e->valuestring : "";
    const char *is = cJSON_IsString(info) ? info->valuestring : "";

    if (!outsz)
        return;
    /* each part cut between characters, then the whole, so the line stays
     * valid UTF-8 whatever the server sent */
    snprintf(out, outsz, "%.*s%s%.*s%s", (int)mlc_utf8_cut(es, PD_ERROR_TEXT_MAX / 2), es,
             *es && *is ? " (" : "", (int)mlc_utf8_cut(is, PD_ERROR_TEXT_MAX / 2), is,
             *es && *is ? ")" : "");
    out[mlc_utf8_cut(out, outsz - 1)] = '\0';
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

/* ---------------------------------------------------------------- one run
 *
 * pd_client_run() alternates two steps until every call has an outcome:
 * admit_step() picks the calls that may go out now (at most `concurrency`,
 * in call order, paced by pd_limits) into the batch; the batch runs; then
 * settle_step() classifies each answer: done, send again at once (burst
 * 429), or send again at a retry time (5xx/timeout of a GET or PATCH). A
 * call waiting for its retry time does not hold back the others; when
 * nothing may go out now the run sleeps until the pacer allows the next
 * send or the earliest retry time, whichever comes first.
 */

/* A call of the run. */
struct flight {
    struct pd_call *call;
    unsigned attempts;   /* answers received (or failures) so far */
    int64_t retry_at_ms; /* 0, or not sent again before this time */
    bool done;           /* call->rc is its outcome */
};

/* The batch of one admit/settle cycle: up to `concurrency` requests, laid
 * out as mlc_http_batch_perform() takes them. */
struct batch {
    size_t k;                        /* admitted */
    size_t *flight;                  /* [cap] index into the run's flights */
    struct mlc_http_request *reqs;   /* [cap] */
    struct mlc_http_response *resps; /* [cap] */
    mlc_rc *rcs;                     /* [cap] */
    struct mlc_err *errs;            /* [cap] */
    char (*urls)[PD_MAX_URL];        /* [cap] */
};

struct run {
    struct flight *f;
    size_t n, left; /* calls, calls without an outcome */
    struct batch b;
    const char *hdrs[4];
};

static mlc_rc perform(struct pd_client *c, struct batch *b, struct mlc_err *err)
{
    if (c->cfg.hooks && c->cfg.hooks->perform)
        return c->cfg.hooks->perform(c->cfg.hooks->ctx, b->reqs, b->k, b->resps, b->rcs, b->errs,
                                     c->cfg.stop, err);
    return mlc_http_batch_perform(c->batch, b->reqs, b->k, b->resps, b->rcs, b->errs, c->cfg.stop,
                                  err);
}

static bool stopped(const struct pd_client *c)
{
    return c->cfg.stop && *c->cfg.stop;
}

static void finish(struct run *r, struct flight *fl)
{
    fl->done = true;
    r->left--;
}

static void run_free(struct run *r, size_t cap)
{
    if (r->b.resps)
        for (size_t i = 0; i < cap; i++)
            mlc_http_response_free(&r->b.resps[i]);
    free(r->f);
    free(r->b.flight);
    free(r->b.reqs);
    free(r->b.resps);
    free(r->b.rcs);
    free(r->b.errs);
    free(r->b.urls);
}

static void run_init(struct pd_client *c, struct run *r, struct pd_call *calls, size_t n)
{
    size_t cap = c->cfg.concurrency;

    memset(r, 0, sizeof(*r));
    r->f = mlc_xcalloc(n, sizeof(*r->f));
    r->b.flight = mlc_xcalloc(cap, sizeof(*r->b.flight));
    r->b.reqs = mlc_xcalloc(cap, sizeof(*r->b.reqs));
    r->b.resps = mlc_xcalloc(cap, sizeof(*r->b.resps));
    r->b.rcs = mlc_xcalloc(cap, sizeof(*r->b.rcs));
    r->b.errs = mlc_xcalloc(cap, sizeof(*r->b.errs));
    r->b.urls = mlc_xcalloc(cap, sizeof(*r->b.urls));
    for (size_t i = 0; i < cap; i++)
        mlc_http_response_init(&r->b.resps[i]);
    r->hdrs[0] = c->token_hdr;
    r->hdrs[1] = "Content-Type: application/json";
    r->hdrs[2] = "Accept: application/json";
    r->hdrs[3] = NULL;
    r->n = r->left = n;
    for (size_t i = 0; i < n; i++) {
        pd_call_reset(&calls[i]);
        r->f[i].call = &calls[i];
    }
}

static mlc_rc blocked_fatal(struct mlc_err *err)
{
    return mlc_err_set(err, MLC_FATAL,
                       "pipedrive answered with a 403 block page (Cloudflare): stopped "
                       "sending; wait for the block to lift and lower "
                       "MLC_PIPEDRIVE_CONCURRENCY");
}

/* How long call must wait before it may be sent at now: the pacer's delay
 * (unless pacing is off or the call is a probe; a burst 429's hold is
 * honoured anyway). -1 when blocked. */
static int64_t send_delay(struct pd_client *c, const struct pd_call *call, int64_t now)
{
    int64_t delay =
        c->cfg.pacing && !call->force ? pd_limits_next_send_delay(&c->limits, now, call->op) : 0;

    if ((!c->cfg.pacing || call->force) && pd_limits_hold_until(&c->limits) > now)
        delay = pd_limits_hold_until(&c->limits) - now;
    if (pd_limits_blocked(&c->limits))
        return -1;
    return delay;
}

static void admit(struct pd_client *c, struct run *r, size_t i, int64_t now)
{
    struct batch *b = &r->b;
    struct pd_call *call = r->f[i].call;
    size_t k = b->k++;

    pd_limits_on_send(&c->limits, now, call->op);
    call->sent = true;
    if (call->body && c->cfg.log_bodies)
        mlc_debug("pipedrive body: %s %s %s", mlc_http_method_name(call->method), call->path,
                  call->body);
    snprintf(b->urls[k], PD_MAX_URL, "%s%s", c->base_url, call->path);
    b->reqs[k] = (struct mlc_http_request){.method = call->method,
                                           .url = b->urls[k],
                                           .headers = r->hdrs,
                                           .body = call->body,
                                           .body_len = call->body ? strlen(call->body) : 0};
    b->flight[k] = i;
}

/* Admits, in call order, the calls that may go out now into r->b (b.k of
 * them, at most `concurrency`). A call is not admitted past one the pacer
 * holds back, so calls go out in order; a call before its retry time is
 * passed over. With none admitted, *wait_ms says how long to sleep: until
 * the pacer allows the first waiting call or the earliest retry time.
 * Calls refused by a daily pause get their outcome here. MLC_FATAL when
 * Pipedrive blocked the token. */
static mlc_rc admit_step(struct pd_client *c, struct run *r, int64_t *wait_ms, struct mlc_err *err)
{
    int64_t now = now_ms(c), retry_at = INT64_MAX;
    size_t cap = c->cfg.concurrency;

    r->b.k = 0;
    *wait_ms = 0;
    for (size_t i = 0; i < r->n && r->b.k < cap; i++) {
        struct flight *fl = &r->f[i];
        struct pd_call *call = fl->call;
        int64_t delay;

        if (fl->done)
            continue;
        if (!call->force && pd_limits_should_pause(&c->limits, now, NULL) &&
            !pd_limits_blocked(&c->limits) && pd_limits_daily_paused(&c->limits)) {
            /* a daily 429 was seen: nothing more until the reset */
            call->rc = MLC_RETRY;
            mlc_err_set(&call->err, MLC_RETRY,
                        "not sent: paused for the pipedrive daily budget (the reserve or a "
                        "daily 429)");
            finish(r, fl);
            continue;
        }
        if (fl->retry_at_ms > now) {
            if (fl->retry_at_ms < retry_at)
                retry_at = fl->retry_at_ms;
            continue;
        }
        delay = send_delay(c, call, now);
        if (delay < 0)
            return blocked_fatal(err);
        if (delay > 500)
            mlc_debug("pipedrive: pacing waits %lld ms before %s", (long long)delay,
                      pd_op_name(call->op));
        if (delay > 0) {
            if (r->b.k == 0)
                *wait_ms = delay;
            break;
        }
        admit(c, r, i, now);
        now = now_ms(c);
    }
    if (r->b.k == 0 && retry_at != INT64_MAX && (*wait_ms == 0 || retry_at - now < *wait_ms))
        *wait_ms = retry_at - now > 0 ? retry_at - now : 1;
    return MLC_OK;
}

/* The retry time of a failed idempotent call: backoff from its attempts,
 * at least the answer's Retry-After. */
static int64_t retry_time(struct pd_client *c, const struct flight *fl,
                          const struct mlc_http_response *resp, int64_t now)
{
    long ra = -1, d;
    const char *h = mlc_http_response_header(resp, "retry-after");

    if (h)
        mlc_backoff_parse_retry_after(h, (time_t)(now / 1000), &ra);
    d = mlc_backoff_delay_ms(&c->backoff, fl->attempts - 1, ra);
    mlc_warn("%s: try %u of %u in %ld ms", fl->call->err.msg, fl->attempts + 1, c->cfg.max_attempts,
             d);
    return now + d;
}

/* Learns from the answer in batch slot j. Returns MLC_FATAL (err filled)
 * when nothing more may be sent. */
static mlc_rc settle_one(struct pd_client *c, struct run *r, size_t j, struct mlc_err *err)
{
    struct batch *b = &r->b;
    struct flight *fl = &r->f[b->flight[j]];
    struct pd_call *call = fl->call;
    const struct mlc_http_response *resp = &b->resps[j];
    struct pd_resp_info ri;
    struct pd_outcome oc;
    int64_t now = now_ms(c);

    fill_info(&ri, resp);
    oc = pd_limits_on_response(&c->limits, now, &ri);
    if (ri.has_remaining && ri.remaining <= 0)
        mlc_debug("pipedrive: burst window full (x-ratelimit-remaining 0, reset %ld s, "
                  "%zu of our sends in the window)",
                  ri.reset_s, pd_limits_window_sends(&c->limits));
    if (resp->status != 0 || b->rcs[j] != MLC_OK)
        audit(c, call, resp->status, resp->total_s);
    fl->attempts++;
    if (oc.verdict == PD_V_BLOCKED)
        return mlc_err_set(err, MLC_FATAL,
                           "pipedrive %s %s: HTTP 403 block page (Cloudflare): stopped "
                           "sending; wait for the block to lift",
                           mlc_http_method_name(call->method), pd_op_name(call->op));
    if (oc.verdict == PD_V_RETRY) {
        mlc_warn("pipedrive %s %s: burst limit (429), sending again in %lld ms",
                 mlc_http_method_name(call->method), pd_op_name(call->op), (long long)oc.wait_ms);
        return MLC_OK; /* pd_limits holds every send until the wait is over */
    }
    if (oc.verdict == PD_V_PAUSE) {
        call->rc = MLC_RETRY;
        call->status = 429;
        mlc_err_set(&call->err, MLC_RETRY, "pipedrive %s %s: daily token budget exhausted (429)",
                    mlc_http_method_name(call->method), pd_op_name(call->op));
        mlc_warn("%s: pausing until the budget resets", call->err.msg);
        finish(r, fl);
        return MLC_OK;
    }
    if (settle(call, resp, b->rcs[j], &b->errs[j], err))
        return MLC_FATAL;
    if (call->rc == MLC_RETRY && idempotent(call->method) && fl->attempts < c->cfg.max_attempts &&
        !stopped(c)) {
        fl->retry_at_ms = retry_time(c, fl, resp, now);
        pd_call_reset(call);
        return MLC_OK;
    }
    finish(r, fl);
    return MLC_OK;
}

/* Settles every answer of the batch. */
static mlc_rc settle_step(struct pd_client *c, struct run *r, struct mlc_err *err)
{
    for (size_t j = 0; j < r->b.k; j++) {
        mlc_rc rc = settle_one(c, r, j, err);

        if (rc != MLC_OK)
            return rc;
    }
    return MLC_OK;
}

static void interrupt(struct run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->f[i].done)
            continue;
        r->f[i].call->rc = MLC_RETRY;
        mlc_err_set(&r->f[i].call->err, MLC_RETRY, "interrupted");
    }
}

mlc_rc pd_client_run(struct pd_client *c, struct pd_call *calls, size_t n, struct mlc_err *err)
{
    struct run r;
    mlc_rc rc = MLC_OK;

    if (n == 0)
        return MLC_OK;
    run_init(c, &r, calls, n);
    while (r.left > 0) {
        int64_t wait = 0;

        if (stopped(c)) {
            rc = mlc_err_set(err, MLC_RETRY, "pipedrive: interrupted");
            interrupt(&r);
            goto out;
        }
        if ((rc = admit_step(c, &r, &wait, err)) != MLC_OK)
            goto out;
        if (r.b.k == 0) {
            if (wait > 0)
                sleep_ms(c, (long)wait);
            continue; /* stopped, waited or everything dropped: the loop head decides */
        }
        if ((rc = perform(c, &r.b, err)) == MLC_FATAL)
            goto out;
        if ((rc = settle_step(c, &r, err)) != MLC_OK)
            goto out;
    }
    rc = MLC_OK;
out:
    run_free(&r, c->cfg.concurrency);
    return rc;
}

mlc_rc pd_client_call1(struct pd_client *c, struct pd_call *call, struct mlc_err *err)
{
    mlc_rc rc = pd_client_run(c, call, 1, err);

    if (rc != MLC_OK)
        return rc;
    if (call->rc != MLC_OK && err)
        *err = call->err;
    return call->rc;
}
