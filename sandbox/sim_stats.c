/* sim_stats.c - counters per route and status, named counters bumped by the
 * app, and the request log ring buffer with api_token values redacted. All of
 * it under the server's stat_lock (sim_internal.h).
 */
#include "mlc_alloc.h"
#include "mlc_time.h"
#include "sim_internal.h"

#include "mlc_str.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static struct sim_counter *counter_slot(struct sim_counter **arr, size_t *n, size_t *cap,
                                        const char *name, int status)
{
    for (size_t i = 0; i < *n; i++)
        if ((*arr)[i].status == status && strcmp((*arr)[i].name, name) == 0)
            return &(*arr)[i];
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        *arr = mlc_xreallocarray(*arr, nc, sizeof **arr);
        *cap = nc;
    }
    struct sim_counter *c = &(*arr)[(*n)++];
    mlc_strlcpy(c->name, name, sizeof c->name);
    c->status = status;
    c->value = 0;
    return c;
}

void sim_counter_add(struct sim_server *srv, const char *name, long delta)
{
    pthread_mutex_lock(&srv->stat_lock);
    counter_slot(&srv->named, &srv->nnamed, &srv->named_cap, name, 0)->value += delta;
    pthread_mutex_unlock(&srv->stat_lock);
}

long sim_counter_get(struct sim_server *srv, const char *name)
{
    long v = 0;
    pthread_mutex_lock(&srv->stat_lock);
    for (size_t i = 0; i < srv->nnamed; i++)
        if (strcmp(srv->named[i].name, name) == 0)
            v = srv->named[i].value;
    pthread_mutex_unlock(&srv->stat_lock);
    return v;
}

/* Copies target into out with api_token values replaced by REDACTED. */
static void redact_target(const char *target, char *out, size_t outsz)
{
    struct mlc_buf b;
    mlc_buf_init(&b, outsz - 1);
    const char *q = strchr(target, '?');
    if (!q) {
        mlc_strlcpy(out, target, outsz);
        return;
    }
    (void)mlc_buf_append(&b, target, (size_t)(q - target) + 1);
    const char *p = q + 1;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : len;
        char *name = sim_url_decode(p, nlen, true);
        if (strcasecmp(name, "api_token") == 0 && eq) {
            (void)mlc_buf_append(&b, p, nlen + 1);
            (void)mlc_buf_puts(&b, "REDACTED");
        } else {
            (void)mlc_buf_append(&b, p, len);
        }
        free(name);
        if (!amp)
            break;
        (void)mlc_buf_puts(&b, "&");
        p = amp + 1;
    }
    mlc_strlcpy(out, mlc_buf_str(&b), outsz);
    mlc_buf_free(&b);
}

void sim_record(struct sim_server *srv, const char *method, const char *target, const char *route,
                const char *fault, int status, double ms)
{
    int64_t now_ms = mlc_realtime_ms();
    time_t now = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    pthread_mutex_lock(&srv->stat_lock);
    srv->total++;
    counter_slot(&srv->routes, &srv->nroutes, &srv->routes_cap, route, status)->value++;
    size_t idx = (srv->log_head + srv->log_len) % srv->log_cap;
    if (srv->log_len == srv->log_cap)
        srv->log_head = (srv->log_head + 1) % srv->log_cap;
    else
        srv->log_len++;
    struct sim_log_entry *e = &srv->log[idx];
    snprintf(e->time, sizeof e->time, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(now_ms % 1000));
    mlc_strlcpy(e->method, method, sizeof e->method);
    redact_target(target, e->target, sizeof e->target);
    mlc_strlcpy(e->route, route, sizeof e->route);
    mlc_strlcpy(e->fault, fault ? fault : "", sizeof e->fault);
    e->status = status;
    e->duration_ms = ms;
    pthread_mutex_unlock(&srv->stat_lock);
}
