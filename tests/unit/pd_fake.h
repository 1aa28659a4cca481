/* pd_fake.h - a fake clock, sleep and batch for pd_client (pd_client_hooks)
 * shared by the loader's unit tests: requests are answered from a script,
 * time only moves when the client sleeps (or 10 ms per batch). Include
 * after cmocka.h. One fake per test program (F).
 */
#ifndef PD_FAKE_H
#define PD_FAKE_H

#include "mlc_buf.h"
#include "mlc_http.h"
#include "pd_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1795824000000LL /* 2026-11-28T00:00:00Z in ms */

#define MAX_SCRIPT 128
#define MAX_SENT   256

/* One scripted answer: the first unused one whose path matches a request
 * answers it. */
struct answer {
    const char *path;
    long status; /* 0: no answer (timeout) */
    const char *body;
    const char *hdr[3][2];
    bool used;
};

struct sent {
    char path[PD_PATH_MAX];
    char body[4096];
    int64_t at;
    size_t batch;
};

struct fake {
    int64_t now;
    struct answer script[MAX_SCRIPT];
    size_t n_script;
    struct sent sent[MAX_SENT];
    size_t n_sent, n_batches, max_batch;
    size_t n_audit;
    int audit_tokens;
    int64_t slept;
    volatile sig_atomic_t stop;
    bool stop_on_sleep;
};

static struct fake F __attribute__((unused));

/* Empties the fake; time starts at T0. */
static inline void fake_reset(void)
{
    memset(&F, 0, sizeof(F));
    F.now = T0;
}

static inline int64_t fake_now(void *ctx)
{
    return ((struct fake *)ctx)->now;
}

static inline bool fake_sleep(void *ctx, long ms, volatile sig_atomic_t *stop)
{
    struct fake *f = ctx;

    if (f->stop_on_sleep) {
        f->stop = 1;
        return false;
    }
    f->now += ms;
    f->slept += ms;
    return !(stop && *stop);
}

/* A scripted path matches exactly, or as a prefix when it ends with '*'. */
static inline bool path_matches(const char *want, const char *path)
{
    size_t n = strlen(want);

    if (n > 0 && want[n - 1] == '*')
        return !strncmp(want, path, n - 1);
    return !strcmp(want, path);
}

static inline void add_hdr(struct mlc_http_response *r, const char *name, const char *value)
{
    mlc_buf_append(&r->hdrs, name, strlen(name) + 1);
    mlc_buf_append(&r->hdrs, value, strlen(value) + 1);
}

static inline mlc_rc fake_perform(void *ctx, const struct mlc_http_request *reqs, size_t n,
                                  struct mlc_http_response *resps, mlc_rc *rcs,
                                  struct mlc_err *errs, volatile sig_atomic_t *stop,
                                  struct mlc_err *err)
{
    struct fake *f = ctx;

    (void)stop;
    (void)err;
    f->n_batches++;
    if (n > f->max_batch)
        f->max_batch = n;
    for (size_t i = 0; i < n; i++) {
        const char *path = strstr(reqs[i].url, "/api/");
        struct answer *a = NULL;

        if (!path)
            path = strstr(reqs[i].url, "/v1/");
        assert_non_null(path);
        assert_true(f->n_sent < MAX_SENT);
        snprintf(f->sent[f->n_sent].path, sizeof(f->sent[0].path), "%s", path);
        snprintf(f->sent[f->n_sent].body, sizeof(f->sent[0].body), "%s",
                 reqs[i].body ? reqs[i].body : "");
        f->sent[f->n_sent].at = f->now;
        f->sent[f->n_sent].batch = f->n_batches;
        f->n_sent++;
        for (size_t j = 0; j < f->n_script && !a; j++)
            if (!f->script[j].used && path_matches(f->script[j].path, path))
                a = &f->script[j];
        if (!a)
            fail_msg("no scripted answer left for %s", path);
        a->used = true;
        mlc_buf_free(&resps[i].body);
        mlc_buf_init(&resps[i].body, 1u << 20);
        mlc_buf_reset(&resps[i].hdrs);
        resps[i].status = a->status;
        resps[i].total_s = 0.01;
        if (a->body)
            mlc_buf_puts(&resps[i].body, a->body);
        for (size_t h = 0; h < 3 && a->hdr[h][0]; h++)
            add_hdr(&resps[i], a->hdr[h][0], a->hdr[h][1]);
        rcs[i] = mlc_http_classify_status(a->status);
        mlc_err_clear(&errs[i]);
        if (rcs[i] != MLC_OK)
            mlc_err_set(&errs[i], rcs[i], "%s: HTTP %ld", path, a->status);
    }
    f->now += 10; /* the batch takes 10 ms */
    return MLC_OK;
}

static inline void fake_audit(void *ctx, const struct pd_call *call, long status, int tokens,
                              long dur)
{
    struct fake *f = ctx;

    (void)call;
    (void)status;
    (void)dur;
    f->n_audit++;
    f->audit_tokens += tokens;
}

static inline struct answer *script(const char *path, long status, const char *body)
{
    struct answer *a = &F.script[F.n_script++];

    assert_true(F.n_script <= MAX_SCRIPT);
    a->path = path;
    a->status = status;
    a->body = body;
    return a;
}

static const struct pd_client_hooks HOOKS __attribute__((unused)) = {
    .now_ms = fake_now, .sleep_ms = fake_sleep, .perform = fake_perform, .ctx = &F, .seed = 42};

#endif
