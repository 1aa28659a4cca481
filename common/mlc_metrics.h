/* mlc_metrics.h - Prometheus metrics registry and the /metrics + /healthz server.
 *
 * A registry holds metric families (counters, gauges, fixed-bucket
 * histograms), each with an optional fixed list of label names. A family
 * holds one series per distinct tuple of label values, created on first use.
 * mlc_metrics_render() writes the whole registry in the Prometheus text
 * exposition format 0.0.4: families in registration order, series in
 * creation order, "# HELP" and "# TYPE" lines, label values escaped
 * (\\, \" and \n) and HELP text escaped (\\ and \n).
 *
 * Names are validated when a family is registered: metric names match
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and must not
 * start with "__"; histograms may not use the label "le"; a name may be
 * registered once. By convention counter names end in "_total" and carry a
 * unit suffix ("_seconds", "_bytes") where one applies.
 *
 * Threads: every function is thread-safe. Updates lock the family's mutex
 * (a few hundred nanoseconds); rendering locks one family at a time, so a
 * scrape never blocks the workers for long. Families and series are never
 * removed before mlc_metrics_free().
 *
 * Cardinality: a family holds at most MLC_METRICS_MAX_SERIES series; updates
 * that would create more are dropped (one warning per family). Label values
 * must come from small, fixed sets (HTTP status, outcome), never from data
 * such as customer numbers.
 *
 * Ownership: the registry owns its families (struct mlc_metric handles stay
 * valid until mlc_metrics_free) and copies every name, help text and label
 * value it is given.
 */
#ifndef MLC_METRICS_H
#define MLC_METRICS_H

#include "mlc_buf.h"
#include "mlc_err.h"

#include <stdbool.h>
#include <stddef.h>

#define MLC_METRICS_MAX_LABELS  8
#define MLC_METRICS_MAX_SERIES  1000
#define MLC_METRICS_MAX_BUCKETS 32
/* Content-Type of /metrics (the Prometheus text format 0.0.4). */
#define MLC_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* mlc_metrics_http_cfg.port: listen on an ephemeral port (tests). */
#define MLC_METRICS_PORT_EPHEMERAL (-1)

struct mlc_metrics;
struct mlc_metric;
struct mlc_metrics_server;

struct mlc_metrics *mlc_metrics_new(void);
/* Frees the registry and every family in it. NULL is ignored. Stop the server
 * that renders it first. */
void mlc_metrics_free(struct mlc_metrics *m);

/* Registers a family. labels: comma-separated label names ("status,op"), or
 * NULL / "" for none. A family without labels has its single series from the
 * start (value 0), so it is exported before its first update. *out is
 * borrowed from the registry. MLC_PERM for an invalid or duplicate name. */
mlc_rc mlc_metrics_counter(struct mlc_metrics *m, const char *name, const char *help,
                           const char *labels, struct mlc_metric **out, struct mlc_err *err);
mlc_rc mlc_metrics_gauge(struct mlc_metrics *m, const char *name, const char *help,
                         const char *labels, struct mlc_metric **out, struct mlc_err *err);
/* bounds: the upper bounds of the buckets, strictly increasing and finite
 * (1 to MLC_METRICS_MAX_BUCKETS); the +Inf bucket is implied. */
mlc_rc mlc_metrics_histogram(struct mlc_metrics *m, const char *name, const char *help,
                             const char *labels, const double *bounds, size_t nbounds,
                             struct mlc_metric **out, struct mlc_err *err);

/* Updates. lv holds one value per label name of the family, in order (NULL
 * when the family has none), e.g. mlc_metrics_inc(calls, (const char *[]){"429"}).
 * A NULL metric is ignored, so optional metrics need no checks at call sites.
 * Misuse (wrong metric type, NULL label value, negative counter increment,
 * NaN) is ignored with a warning: metrics never stop a worker. */
void mlc_metrics_inc(struct mlc_metric *c, const char *const *lv);
/* Counter: adds v >= 0. Gauge: adds v (any sign). */
void mlc_metrics_add(struct mlc_metric *c, const char *const *lv, double v);
/* Gauge only. */
void mlc_metrics_set(struct mlc_metric *g, const char *const *lv, double v);
/* Histogram only. */
void mlc_metrics_observe(struct mlc_metric *h, const char *const *lv, double v);
/* Current value of a counter or gauge series (0 when the series does not
 * exist yet); for a histogram, its count. For tests and health decisions. */
double mlc_metrics_value(struct mlc_metric *c, const char *const *lv);

/* Called at the start of every render, before any family is locked, so that
 * derived gauges (ages, lags) are computed when scraped. fn may call the
 * update functions; it must not call mlc_metrics_render. One hook per
 * registry; NULL removes it. */
typedef void (*mlc_metrics_collect_fn)(struct mlc_metrics *m, void *ctx);
void mlc_metrics_on_collect(struct mlc_metrics *m, mlc_metrics_collect_fn fn, void *ctx);

/* Appends the exposition text to out (the caller's buffer and its cap).
 * MLC_PERM when the cap is reached (out then holds a prefix). */
mlc_rc mlc_metrics_render(struct mlc_metrics *m, struct mlc_buf *out, struct mlc_err *err);

/* Writes v as the exposition format spells floats: integers without a
 * fraction, "+Inf", "-Inf", "NaN", otherwise the shortest text that reads
 * back as the same double. */
void mlc_metrics_format_value(double v, char *out, size_t outsz);

/* Health decision, called on every GET /healthz from the server's thread
 * (so it must be thread-safe). Returns true when healthy; when unhealthy it
 * writes a one-line reason into reason (reasonsz > 0). */
typedef bool (*mlc_metrics_health_fn)(void *ctx, char *reason, size_t reasonsz);

struct mlc_metrics_http_cfg {
    /* IPv4 or IPv6 literal to bind; NULL or "" = 0.0.0.0 (every interface,
     * what a container needs so that the engine can publish the port). */
    const char *bind;
    /* 1..65535; 0 = off (start returns MLC_OK and *out = NULL);
     * MLC_METRICS_PORT_EPHEMERAL = a free port (see mlc_metrics_server_port). */
    int port;
    /* NULL: always healthy. */
    mlc_metrics_health_fn health;
    void *health_ctx;
};

/* Starts an HTTP server (libmicrohttpd, one internal thread) that answers
 *   GET|HEAD /metrics  200, MLC_METRICS_CONTENT_TYPE, mlc_metrics_render()
 *   GET|HEAD /healthz  200 "ok\n" or 503 "<reason>\n" (text/plain)
 *   any other path     404; any other method 405
 * m is borrowed and must outlive the server. MLC_FATAL when the address is
 * invalid or the port cannot be bound (the message names both). */
mlc_rc mlc_metrics_server_start(struct mlc_metrics *m, const struct mlc_metrics_http_cfg *cfg,
                                struct mlc_metrics_server **out, struct mlc_err *err);
/* Starts the server a worker runs: address and port from MLC_METRICS_BIND and
 * MLC_METRICS_PORT (port 0 = off: *out stays NULL), health from fn/ctx, and
 * logs the port at info. Same errors as mlc_metrics_server_start. */
struct mlc_config;
mlc_rc mlc_metrics_serve_configured(struct mlc_metrics *m, const struct mlc_config *cfg,
                                    mlc_metrics_health_fn fn, void *ctx,
                                    struct mlc_metrics_server **out, struct mlc_err *err);
/* The port actually bound. */
int mlc_metrics_server_port(const struct mlc_metrics_server *s);
/* Stops the server (waits for requests in flight) and frees it. NULL ignored. */
void mlc_metrics_server_stop(struct mlc_metrics_server *s);

#endif
