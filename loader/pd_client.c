/* pd_client.c - Pipedrive requests: pacing, limits, retries, audit. */
#include "pd_client.h"

#include "mlc_backoff.h"
#include "mlc_buf.h"
#include "mlc_log.h"
#include "mlc_str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PD_MAX_URL 2048

struct pd_client {
    struct pd_client_cfg cfg;
    char *base_url;
    char *token_hdr;
    struct mlc_http_batch *batch;
    struct pd_limits limits;
    struct mlc_backoff backoff;
};

int64_t pd_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    struct pd_client *c = calloc(1, sizeof(*c));
    struct mlc_http_opts o;
    size_t n;
    mlc_rc rc = MLC_FATAL;

    *out = NULL;
    if (!c)
        return mlc_err_set(err, MLC_FATAL, "out of memory");
    c->cfg = *cfg;
    if (c->cfg.concurrency < 1)
        c->cfg.concurrency = 1;
    if (c->cfg.max_attempts < 1)
        c->cfg.max_attempts = 1;
    c->base_url = strdup(cfg->base_url ? cfg->base_url : "");
    n = strlen(cfg->token ? cfg->token : "") + sizeof("x-api-token: ");
    c->token_hdr = malloc(n);
    if (!c->base_url || !c->token_hdr) {
        mlc_err_set(err, MLC_FATAL, "out of memory");
        goto out;
    }
    snprintf(c->token_hdr, n, "x-api-token: %s", cfg->token ? cfg->token : "");
    /* drop a trailing '/' so that paths can start with one */
    n = strlen(c->base_url);
    while (n > 0 && c->base_url[n - 1] == '/')
        c->base_url[--n] = '\0';
    if (cfg->token && !mlc_log_add_secret(cfg->token)) {
        mlc_err_set(err, MLC_FATAL, "out of memory");
        goto out;
    }
    mlc_http_opts_default(&o);
    o.timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
    o.max_body = 16u << 20; /* a 500-organization page with every field */
    if ((rc = mlc_http_batch_new(&o, c->cfg.concurrency, &c->batch, err)) != MLC_OK)
        goto out;
    pd_limits_init(&c->limits, &cfg->limits, pd_now_ms());
    mlc_backoff_init(&c->backoff, cfg->backoff_base_ms > 0 ? cfg->backoff_base_ms : 500, 30000,
                     300000, 0);
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
    return pd_limits_should_pause(&c->limits, pd_now_ms(), resume_ms);
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
        const cJSON *e = call->json ? cJSON_GetObjectItemCaseSensitive(call->json, "error") : NULL;

        call->rc =
            mlc_err_set(&call->err, MLC_PERM, "pipedrive %s %s: HTTP %ld%s%s",
                        mlc_http_method_name(call->method), pd_op_name(call->op), st,
                        cJSON_IsString(e) ? ": " : "", cJSON_IsString(e) ? e->valuestring : "");
        call->err.status = (int)st;
        return false;
    }
    call->rc = MLC_RETRY;
    call->err = *herr;
    call->err.rc = MLC_RETRY;
    return false;
}

mlc_rc pd_client_run(struct pd_client *c, struct pd_call *calls, size_t n, struct mlc_err *err)
{
    size_t cap = c->cfg.concurrency, i;
    size_t *pending = NULL, *sel = NULL;
    unsigned *attempts = NULL;
    struct mlc_http_request *reqs = NULL;
    struct mlc_http_response *resps = NULL;
    mlc_rc *rcs = NULL;
    struct mlc_err *errs = NULL;
    char(*urls)[PD_MAX_URL] = NULL;
    const char *hdrs[4] = {c->token_hdr, "Content-Type: application/json",
                           "Accept: application/json", NULL};
    size_t n_pending = 0;
    mlc_rc rc = MLC_OK;

    if (n == 0)
        return MLC_OK;
    pending = calloc(n, sizeof(*pending));
    sel = calloc(cap, sizeof(*sel));
    attempts = calloc(n, sizeof(*attempts));
    reqs = calloc(cap, sizeof(*reqs));
    resps = calloc(cap, sizeof(*resps));
    rcs = calloc(cap, sizeof(*rcs));
    errs = calloc(cap, sizeof(*errs));
    urls = calloc(cap, sizeof(*urls));
    if (!pending || !sel || !attempts || !reqs || !resps || !rcs || !errs || !urls) {
        rc = mlc_err_set(err, MLC_FATAL, "out of memory");
        goto out;
    }
    for (i = 0; i < cap; i++)
        mlc_http_response_init(&resps[i]);
    for (i = 0; i < n; i++) {
        pd_call_reset(&calls[i]);
        pending[n_pending++] = i;
    }
    while (n_pending > 0) {
        size_t k = 0, j, w;
        int64_t now, delay;

        if (c->cfg.stop && *c->cfg.stop) {
            rc = mlc_err_set(err, MLC_RETRY, "pipedrive: interrupted");
            for (j = 0; j < n_pending; j++) {
                calls[pending[j]].rc = MLC_RETRY;
                mlc_err_set(&calls[pending[j]].err, MLC_RETRY, "interrupted");
            }
            goto out;
        }
        /* admit calls while the pacer lets them go now (at least one) */
        while (k < cap && k < n_pending) {
            struct pd_call *call = &calls[pending[k]];

            now = pd_now_ms();
            if (!call->force && pd_limits_should_pause(&c->limits, now, NULL) &&
                !pd_limits_blocked(&c->limits) && c->limits.daily_paused) {
                /* a daily 429 was seen: nothing more until the reset */
                call->rc = MLC_RETRY;
                mlc_err_set(&call->err, MLC_RETRY, "pipedrive daily budget exhausted");
                memmove(&pending[k], &pending[k + 1], (n_pending - k - 1) * sizeof(*pending));
                n_pending--;
                continue;
            }
            delay = c->cfg.pacing && !call->force
                        ? pd_limits_next_send_delay(&c->limits, now, call->op)
                        : 0;
            if ((!c->cfg.pacing || call->force) && c->limits.hold_until_ms > now)
                delay = c->limits.hold_until_ms - now; /* a burst 429 is honoured anyway */
            if (delay < 0 || pd_limits_blocked(&c->limits)) {
                rc = mlc_err_set(err, MLC_FATAL,
                                 "pipedrive answered with a 403 block page (Cloudflare): stopped "
                                 "sending; wait for the block to lift and lower "
                                 "MLC_PIPEDRIVE_CONCURRENCY");
                goto out;
            }
            if (delay > 500)
                mlc_debug("pipedrive: pacing waits %lld ms before %s", (long long)delay,
                          pd_op_name(call->op));
            if (delay > 0) {
                if (k > 0)
                    break;
                if (!mlc_backoff_sleep_ms((long)delay, c->cfg.stop))
                    break;
                continue;
            }
            pd_limits_on_send(&c->limits, now, call->op);
            call->sent = true;
            if (call->body)
                mlc_debug("pipedrive body: %s %s %s", mlc_http_method_name(call->method),
                          call->path, call->body);
            snprintf(urls[k], PD_MAX_URL, "%s%s", c->base_url, call->path);
            reqs[k] = (struct mlc_http_request){.method = call->method,
                                                .url = urls[k],
                                                .headers = hdrs,
                                                .body = call->body,
                                                .body_len = call->body ? strlen(call->body) : 0};
            sel[k] = pending[k];
            k++;
        }
        if (k == 0)
            continue; /* stopped or everything dropped: the loop head decides */
        rc = mlc_http_batch_perform(c->batch, reqs, k, resps, rcs, errs, c->cfg.stop, err);
        if (rc == MLC_FATAL)
            goto out;
        rc = MLC_OK;
        /* settle the admitted calls; keep the others pending */
        w = 0;
        for (j = 0; j < k; j++) {
            struct pd_call *call = &calls[sel[j]];
            struct pd_resp_info ri;
            struct pd_outcome oc;
            bool again = false;

            fill_info(&ri, &resps[j]);
            oc = pd_limits_on_response(&c->limits, pd_now_ms(), &ri);
            if (ri.has_remaining && ri.remaining <= 0)
                mlc_debug("pipedrive: burst window full (x-ratelimit-remaining 0, reset %ld s, "
                          "%zu of our sends in the window)",
                          ri.reset_s, c->limits.n_sends);
            if (resps[j].status != 0 || rcs[j] != MLC_OK)
                audit(c, call, resps[j].status, resps[j].total_s);
            attempts[sel[j]]++;
            if (oc.verdict == PD_V_BLOCKED) {
                rc = mlc_err_set(err, MLC_FATAL,
                                 "pipedrive %s %s: HTTP 403 block page (Cloudflare): stopped "
                                 "sending; wait for the block to lift",
                                 mlc_http_method_name(call->method), pd_op_name(call->op));
                goto out;
            }
            if (oc.verdict == PD_V_RETRY) {
                mlc_warn("pipedrive %s %s: burst limit (429), sending again in %lld ms",
                         mlc_http_method_name(call->method), pd_op_name(call->op),
                         (long long)oc.wait_ms);
                again = true;
            } else if (oc.verdict == PD_V_PAUSE) {
                call->rc = MLC_RETRY;
                call->status = 429;
                mlc_err_set(&call->err, MLC_RETRY,
                            "pipedrive %s %s: daily token budget exhausted (429)",
                            mlc_http_method_name(call->method), pd_op_name(call->op));
                mlc_warn("%s: pausing until the budget resets", call->err.msg);
            } else if (settle(call, &resps[j], rcs[j], &errs[j], err)) {
                rc = MLC_FATAL;
                goto out;
            } else if (call->rc == MLC_RETRY && idempotent(call->method) &&
                       attempts[sel[j]] < c->cfg.max_attempts && !(c->cfg.stop && *c->cfg.stop)) {
                long ra = -1, d;
                const char *h = mlc_http_response_header(&resps[j], "retry-after");

                if (h)
                    mlc_backoff_parse_retry_after(h, time(NULL), &ra);
                d = mlc_backoff_delay_ms(&c->backoff, attempts[sel[j]] - 1, ra);
                mlc_warn("%s: try %u of %u in %ld ms", call->err.msg, attempts[sel[j]] + 1,
                         c->cfg.max_attempts, d);
                mlc_backoff_sleep_ms(d, c->cfg.stop);
                pd_call_reset(call);
                again = true;
            }
            if (again)
                pending[w++] = sel[j];
        }
        /* calls not admitted this round stay pending, after the retried ones */
        for (j = k; j < n_pending; j++)
            pending[w++] = pending[j];
        n_pending = w;
    }
out:
    if (resps)
        for (i = 0; i < cap; i++)
            mlc_http_response_free(&resps[i]);
    free(pending);
    free(sel);
    free(attempts);
    free(reqs);
    free(resps);
    free(rcs);
    free(errs);
    free(urls);
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
