/* mlc_metrics.c - Prometheus registry, text exposition 0.0.4, /metrics and /healthz. */
#include "mlc_metrics.h"
#include "mlc_alloc.h"

#include "mlc_config.h"
#include "mlc_log.h"
#include "mlc_str.h"

#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct series {
    struct series *next;
    char **lv; /* one value per label name */
    double value;
    uint64_t *buckets; /* histogram: per-bucket (non-cumulative) counts, nbounds + 1 */
    uint64_t count;
    double sum;
};

struct mlc_metric {
    struct mlc_metric *next;
    struct mlc_metrics *reg;
    enum metric_type type;
    char *name;
    char *help;
    size_t nlabels;
    char *labels[MLC_METRICS_MAX_LABELS];
    double *bounds;
    size_t nbounds;
    pthread_mutex_t lock;
    struct series *first, *last;
    size_t nseries;
    bool warned;
};

struct mlc_metrics {
    pthread_mutex_t lock; /* the family list and the collect hook */
    struct mlc_metric *first, *last;
    mlc_metrics_collect_fn collect;
    void *collect_ctx;
};

static const char *type_name(enum metric_type t)
{
    switch (t) {
    case METRIC_COUNTER:
        return "counter";
    case METRIC_GAUGE:
        return "gauge";
    default:
        return "histogram";
    }
}

struct mlc_metrics *mlc_metrics_new(void)
{
    struct mlc_metrics *m = mlc_xcalloc(1, sizeof(*m));

    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        m = NULL;
    }
    return m;
}

static void series_free(struct series *s, size_t nlabels)
{
    for (size_t i = 0; s->lv && i < nlabels; i++)
        free(s->lv[i]);
    free(s->lv);
    free(s->buckets);
    free(s);
}

static void metric_free(struct mlc_metric *f)
{
    struct series *s = f->first;

    while (s) {
        struct series *next = s->next;
        series_free(s, f->nlabels);
        s = next;
    }
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f->bounds);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void mlc_metrics_free(struct mlc_metrics *m)
{
    if (!m)
        return;
    struct mlc_metric *f = m->first;
    while (f) {
        struct mlc_metric *next = f->next;
        metric_free(f);
        f = next;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static bool valid_name(const char *s, bool colon)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* Splits "a,b" into f->labels; validates each. */
static mlc_rc parse_labels(struct mlc_metric *f, const char *labels, struct mlc_err *err)
{
    const char *p = labels;

    if (!labels || !*labels)
        return MLC_OK;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char name[128];

        if (f->nlabels == MLC_METRICS_MAX_LABELS)
            return mlc_err_set(err, MLC_PERM, "metric %s: more than %d labels", f->name,
                               MLC_METRICS_MAX_LABELS);
        if (n == 0 || n >= sizeof(name))
            return mlc_err_set(err, MLC_PERM, "metric %s: empty or overlong label name", f->name);
        memcpy(name, p, n);
        name[n] = '\0';
        if (!valid_name(name, false) || mlc_str_startswith(name, "__"))
            return mlc_err_set(err, MLC_PERM, "metric %s: invalid label name '%s'", f->name, name);
        if (f->type == METRIC_HISTOGRAM && !strcmp(name, "le"))
            return mlc_err_set(err, MLC_PERM, "metric %s: histograms may not use label 'le'",
                               f->name);
        for (size_t i = 0; i < f->nlabels; i++)
            if (!strcmp(f->labels[i], name))
                return mlc_err_set(err, MLC_PERM, "metric %s: label '%s' given twice", f->name,
                                   name);
        f->labels[f->nlabels++] = mlc_xstrdup(name);
        if (!comma)
            return MLC_OK;
        p = comma + 1;
    }
}

static struct series *series_new(struct mlc_metric *f, const char *const *lv)
{
    struct series *s = mlc_xcalloc(1, sizeof(*s));

    if (f->nlabels) {
        s->lv = mlc_xcalloc(f->nlabels, sizeof(char *));
        for (size_t i = 0; i < f->nlabels; i++)
            s->lv[i] = mlc_xstrdup(lv[i]);
    }
    if (f->type == METRIC_HISTOGRAM)
        s->buckets = mlc_xcalloc(f->nbounds + 1, sizeof(uint64_t));
    return s;
}

static void series_append(struct mlc_metric *f, struct series *s)
{
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    f->nseries++;
}

static mlc_rc add_family(struct mlc_metrics *m, enum metric_type type, const char *name,
                         const char *help, const char *labels, const double *bounds, size_t nbounds,
                         struct mlc_metric **out, struct mlc_err *err)
{
    struct mlc_metric *f = NULL;
    mlc_rc rc = MLC_OK;
    bool locked = false;

    if (out)
        *out = NULL;
    if (!m || !out)
        return mlc_err_set(err, MLC_PERM, "metrics: no registry or output handle");
    if (!valid_name(name, true))
        return mlc_err_set(err, MLC_PERM, "metric name '%s' is invalid", name ? name : "");
    f = mlc_xcalloc(1, sizeof(*f));
    if (pthread_mutex_init(&f->lock, NULL) != 0) {
        free(f);
        return mlc_err_set(err, MLC_FATAL, "metric %s: cannot create its mutex", name);
    }
    f->reg = m;
    f->type = type;
    f->name = mlc_xstrdup(name);
    f->help = mlc_xstrdup(help ? help : "");
    rc = parse_labels(f, labels, err);
    if (rc != MLC_OK)
        goto out;
    if (type == METRIC_HISTOGRAM) {
        if (!bounds || nbounds == 0 || nbounds > MLC_METRICS_MAX_BUCKETS) {
            rc = mlc_err_set(err, MLC_PERM, "metric %s: needs 1 to %d bucket bounds", name,
                             MLC_METRICS_MAX_BUCKETS);
            goto out;
        }
        for (size_t i = 0; i < nbounds; i++) {
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
                rc = mlc_err_set(err, MLC_PERM,
                                 "metric %s: bucket bounds must be finite and increasing", name);
                goto out;
            }
        }
        f->bounds = mlc_xcalloc(nbounds, sizeof(double));
        memcpy(f->bounds, bounds, nbounds * sizeof(double));
        f->nbounds = nbounds;
    }
    if (f->nlabels == 0)
        series_append(f, series_new(f, NULL));
    pthread_mutex_lock(&m->lock);
    locked = true;
    for (struct mlc_metric *o = m->first; o; o = o->next) {
        if (!strcmp(o->name, name)) {
            rc = mlc_err_set(err, MLC_PERM, "metric %s is registered twice", name);
            goto out;
        }
    }
    if (m->last)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    *out = f;
    f = NULL;
out:
    if (locked)
        pthread_mutex_unlock(&m->lock);
    if (f)
        metric_free(f);
    return rc;
}

mlc_rc mlc_metrics_counter(struct mlc_metrics *m, const char *name, const char *help,
                           const char *labels, struct mlc_metric **out, struct mlc_err *err)
{
    return add_family(m, METRIC_COUNTER, name, help, labels, NULL, 0, out, err);
}

mlc_rc mlc_metrics_gauge(struct mlc_metrics *m, const char *name, const char *help,
                         const char *labels, struct mlc_metric **out, struct mlc_err *err)
{
    return add_family(m, METRIC_GAUGE, name, help, labels, NULL, 0, out, err);
}

mlc_rc mlc_metrics_histogram(struct mlc_metrics *m, const char *name, const char *help,
                             const char *labels, const double *bounds, size_t nbounds,
                             struct mlc_metric **out, struct mlc_err *err)
{
    return add_family(m, METRIC_HISTOGRAM, name, help, labels, bounds, nbounds, out, err);
}

/* Finds (or, with create, makes) the series for lv; f->lock held. */
static struct series *find_series(struct mlc_metric *f, const char *const *lv, bool create)
{
    struct series *s;

    for (s = f->first; s; s = s->next) {
        size_t i = 0;
        while (i < f->nlabels && !strcmp(s->lv[i], lv[i]))
            i++;
        if (i == f->nlabels)
            return s;
    }
    if (!create)
        return NULL;
    if (f->nseries >= MLC_METRICS_MAX_SERIES) {
        if (!f->warned)
            mlc_warn("metric %s: more than %d series, dropping new label values", f->name,
                     MLC_METRICS_MAX_SERIES);
        f->warned = true;
        return NULL;
    }
    s = series_new(f, lv);
    series_append(f, s);
    return s;
}

static bool labels_ok(struct mlc_metric *f, const char *const *lv)
{
    if (f->nlabels == 0)
        return true;
    if (!lv)
        goto bad;
    for (size_t i = 0; i < f->nlabels; i++)
        if (!lv[i])
            goto bad;
    return true;
bad:
    mlc_warn("metric %s: update without a value for every label, ignored", f->name);
    return false;
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static void update(struct mlc_metric *f, const char *const *lv, double v, enum op op)
{
    if (!f)
        return;
    if (isnan(v) || (op == OP_ADD && f->type == METRIC_COUNTER && v < 0) ||
        (op == OP_ADD && f->type == METRIC_HISTOGRAM) ||
        (op == OP_SET && f->type != METRIC_GAUGE) ||
        (op == OP_OBSERVE && f->type != METRIC_HISTOGRAM)) {
        mlc_warn("metric %s: invalid update of a %s, ignored", f->name, type_name(f->type));
        return;
    }
    if (!labels_ok(f, lv))
        return;
    pthread_mutex_lock(&f->lock);
    struct series *s = find_series(f, lv, true);
    if (s) {
        if (op == OP_ADD) {
            s->value += v;
        } else if (op == OP_SET) {
            s->value = v;
        } else {
            size_t b = 0;
            while (b < f->nbounds && v > f->bounds[b])
                b++;
            s->buckets[b]++;
            s->count++;
            s->sum += v;
        }
    }
    pthread_mutex_unlock(&f->lock);
}

void mlc_metrics_inc(struct mlc_metric *c, const char *const *lv)
{
    update(c, lv, 1.0, OP_ADD);
}

void mlc_metrics_add(struct mlc_metric *c, const char *const *lv, double v)
{
    update(c, lv, v, OP_ADD);
}

void mlc_metrics_set(struct mlc_metric *g, const char *const *lv, double v)
{
    update(g, lv, v, OP_SET);
}

void mlc_metrics_observe(struct mlc_metric *h, const char *const *lv, double v)
{
    update(h, lv, v, OP_OBSERVE);
}

double mlc_metrics_value(struct mlc_metric *c, const char *const *lv)
{
    double v = 0;

    if (!c || !labels_ok(c, lv))
        return 0;
    pthread_mutex_lock(&c->lock);
    struct series *s = find_series(c, lv, false);
    if (s)
        v = c->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&c->lock);
    return v;
}

void mlc_metrics_on_collect(struct mlc_metrics *m, mlc_metrics_collect_fn fn, void *ctx)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->collect = fn;
    m->collect_ctx = ctx;
    pthread_mutex_unlock(&m->lock);
}

void mlc_metrics_format_value(double v, char *out, size_t outsz)
{
    if (isnan(v)) {
        snprintf(out, outsz, "NaN");
    } else if (isinf(v)) {
        snprintf(out, outsz, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, outsz, "%.0f", v);
    } else {
        /* The shortest %g spelling that reads back as the same double. */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(out, outsz, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

/* text with \ and newline escaped, plus " when quoted (label values). */
static mlc_rc put_escaped(struct mlc_buf *b, const char *s, bool quoted)
{
    mlc_rc rc = MLC_OK;
    const char *run = s;

    for (const char *p = s;; p++) {
        const char *esc = NULL;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '\n')
            esc = "\\n";
        else if (quoted && *p == '"')
            esc = "\\\"";
        if (!esc && *p)
            continue;
        rc = mlc_buf_append(b, run, (size_t)(p - run));
        if (rc == MLC_OK && esc)
            rc = mlc_buf_puts(b, esc);
        if (rc != MLC_OK || !*p)
            return rc;
        run = p + 1;
    }
}

/* name{l1="v1",...[,le="x"]} value\n */
static mlc_rc put_sample(struct mlc_buf *b, const struct mlc_metric *f, const char *suffix,
                         const struct series *s, const char *le, double v)
{
    char num[64];
    mlc_rc rc = mlc_buf_printf(b, "%s%s", f->name, suffix);
    bool any = f->nlabels > 0 || le;

    if (rc == MLC_OK && any)
        rc = mlc_buf_puts(b, "{");
    for (size_t i = 0; rc == MLC_OK && i < f->nlabels; i++) {
        rc = mlc_buf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
        if (rc == MLC_OK)
            rc = put_escaped(b, s->lv[i], true);
        if (rc == MLC_OK)
            rc = mlc_buf_puts(b, "\"");
    }
    if (rc == MLC_OK && le)
        rc = mlc_buf_printf(b, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    if (rc == MLC_OK && any)
        rc = mlc_buf_puts(b, "}");
    mlc_metrics_format_value(v, num, sizeof(num));
    if (rc == MLC_OK)
        rc = mlc_buf_printf(b, " %s\n", num);
    return rc;
}

static mlc_rc render_family(struct mlc_metric *f, struct mlc_buf *b)
{
    mlc_rc rc = mlc_buf_printf(b, "# HELP %s ", f->name);

    if (rc == MLC_OK)
        rc = put_escaped(b, f->help, false);
    if (rc == MLC_OK)
        rc = mlc_buf_printf(b, "\n# TYPE %s %s\n", f->name, type_name(f->type));
    pthread_mutex_lock(&f->lock);
    for (const struct series *s = f->first; rc == MLC_OK && s; s = s->next) {
        if (f->type != METRIC_HISTOGRAM) {
            rc = put_sample(b, f, "", s, NULL, s->value);
            continue;
        }
        uint64_t cum = 0;
        char le[64];
        for (size_t i = 0; rc == MLC_OK && i <= f->nbounds; i++) {
            cum += s->buckets[i];
            if (i < f->nbounds)
                mlc_metrics_format_value(f->bounds[i], le, sizeof(le));
            else
                mlc_strlcpy(le, "+Inf", sizeof(le));
            rc = put_sample(b, f, "_bucket", s, le, (double)cum);
        }
        if (rc == MLC_OK)
            rc = put_sample(b, f, "_sum", s, NULL, s->sum);
        if (rc == MLC_OK)
            rc = put_sample(b, f, "_count", s, NULL, (double)s->count);
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

mlc_rc mlc_metrics_render(struct mlc_metrics *m, struct mlc_buf *out, struct mlc_err *err)
{
    mlc_metrics_collect_fn fn;
    void *ctx;
    struct mlc_metric *f;
    mlc_rc rc = MLC_OK;

    pthread_mutex_lock(&m->lock);
    fn = m->collect;
    ctx = m->collect_ctx;
    pthread_mutex_unlock(&m->lock);
    if (fn)
        fn(m, ctx);
    /* Families are only ever appended, never removed, so the list can be
     * walked without holding the registry lock while a family renders. */
    pthread_mutex_lock(&m->lock);
    f = m->first;
    pthread_mutex_unlock(&m->lock);
    while (f && rc == MLC_OK) {
        rc = render_family(f, out);
        pthread_mutex_lock(&m->lock); /* registration appends under this lock */
        f = f->next;
        pthread_mutex_unlock(&m->lock);
    }
    if (rc != MLC_OK)
        return mlc_err_set(err, rc, "metrics: exposition larger than %zu bytes", out->max);
    return MLC_OK;
}

/* ---- HTTP server ---- */

struct mlc_metrics_server {
    struct MHD_Daemon *daemon;
    struct mlc_metrics *reg;
    mlc_metrics_health_fn health;
    void *health_ctx;
    int port;
};

#define METRICS_BODY_MAX (8u * 1024 * 1024)

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
                             char *body, size_t len, bool owned)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body ? body : (void *)"", owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (!r) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result serve_metrics(struct mlc_metrics_server *srv, struct MHD_Connection *conn)
{
    struct mlc_buf b;
    struct mlc_err err = {0};
    size_t len;

    mlc_buf_init(&b, METRICS_BODY_MAX);
    if (mlc_metrics_render(srv->reg, &b, &err) != MLC_OK) {
        mlc_warn("%s", err.msg);
        mlc_buf_free(&b);
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
                     (char *)"metrics too large\n", 18, false);
    }
    len = b.len;
    return reply(conn, MHD_HTTP_OK, MLC_METRICS_CONTENT_TYPE, mlc_buf_steal(&b), len, true);
}

static enum MHD_Result serve_health(struct mlc_metrics_server *srv, struct MHD_Connection *conn)
{
    char reason[512] = "";
    char body[sizeof(reason) + 2];
    bool ok = srv->health ? srv->health(srv->health_ctx, reason, sizeof(reason)) : true;

    if (ok)
        return reply(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", (char *)"ok\n", 3, false);
    reason[sizeof(reason) - 1] = '\0';
    for (char *p = reason; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    snprintf(body, sizeof(body), "%s\n", reason[0] ? reason : "unhealthy");
    return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", body,
                 strlen(body), false);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    struct mlc_metrics_server *srv = cls;
    static int first_call_marker;

    /* The first call only announces the request; answering from the second
     * lets libmicrohttpd read (and discard) any body first. */
    if (*con_cls == NULL) {
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                     (char *)"method not allowed\n", 19, false);
    if (!strcmp(url, "/metrics"))
        return serve_metrics(srv, conn);
    if (!strcmp(url, "/healthz"))
        return serve_health(srv, conn);
    return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", (char *)"not found\n", 10,
                 false);
}

mlc_rc mlc_metrics_server_start(struct mlc_metrics *m, const struct mlc_metrics_http_cfg *cfg,
                                struct mlc_metrics_server **out, struct mlc_err *err)
{
    struct mlc_metrics_server *srv = NULL;
    struct sockaddr_storage ss;
    const char *bind_addr = cfg && cfg->bind && *cfg->bind ? cfg->bind : "0.0.0.0";
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    uint16_t port;
    mlc_rc rc = MLC_OK;

    *out = NULL;
    if (!m || !cfg)
        return mlc_err_set(err, MLC_FATAL, "metrics server: no registry or configuration");
    if (cfg->port == 0)
        return MLC_OK;
    if (cfg->port != MLC_METRICS_PORT_EPHEMERAL && (cfg->port < 1 || cfg->port > 65535))
        return mlc_err_set(err, MLC_FATAL, "metrics server: port %d out of range", cfg->port);
    port = cfg->port == MLC_METRICS_PORT_EPHEMERAL ? 0 : (uint16_t)cfg->port;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, bind_addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, bind_addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        flags |= MHD_USE_IPv6;
    } else {
        return mlc_err_set(err, MLC_FATAL,
                           "metrics server: bind address '%s' is not an IPv4 or IPv6 literal",
                           bind_addr);
    }
    srv = mlc_xcalloc(1, sizeof(*srv));
    srv->reg = m;
    srv->health = cfg->health;
    srv->health_ctx = cfg->health_ctx;
    srv->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, access_cb, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)32, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
    if (!srv->daemon) {
        rc = mlc_err_set(err, MLC_FATAL, "metrics server: cannot listen on %s port %d", bind_addr,
                         (int)port);
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? (int)info->port : (int)port;
    mlc_info("metrics and health on http://%s%s%s:%d/metrics and /healthz",
             (flags & MHD_USE_IPv6) ? "[" : "", bind_addr, (flags & MHD_USE_IPv6) ? "]" : "",
             srv->port);
    *out = srv;
    srv = NULL;
out:
    free(srv);
    return rc;
}

int mlc_metrics_server_port(const struct mlc_metrics_server *s)
{
    return s ? s->port : 0;
}

void mlc_metrics_server_stop(struct mlc_metrics_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    free(s);
}

mlc_rc mlc_metrics_serve_configured(struct mlc_metrics *m, const struct mlc_config *cfg,
                                    mlc_metrics_health_fn fn, void *ctx,
                                    struct mlc_metrics_server **out, struct mlc_err *err)
{
    struct mlc_metrics_http_cfg hc = {0};
    struct mlc_metric *risk = NULL;
    mlc_rc rc;

    /* Settings that weaken security show on every scrape, so an alert
     * reminds for as long as they stay on (the log says so once, at start). */
    rc = mlc_metrics_gauge(m, "mlc_insecure_setting",
                           "1 while a setting that weakens security is on: "
                           "MLC_ALLOW_PLAINTEXT_HTTP with an http:// URL to another host, "
                           "MLC_SAGE_INSECURE (TLS certificates not verified).",
                           "setting", &risk, err);
    if (rc != MLC_OK)
        return rc;
    mlc_metrics_set(risk, (const char *[]){"MLC_ALLOW_PLAINTEXT_HTTP"},
                    mlc_config_plaintext_http(cfg) ? 1 : 0);
    if (cfg->prog & MLC_PROG_EXTRACTOR)
        mlc_metrics_set(risk, (const char *[]){"MLC_SAGE_INSECURE"},
                        mlc_cfg_bool(cfg, MLC_CFG_SAGE_INSECURE) ? 1 : 0);
    hc.bind = mlc_cfg_str(cfg, MLC_CFG_METRICS_BIND);
    hc.port = (int)mlc_cfg_int(cfg, MLC_CFG_METRICS_PORT);
    hc.health = fn;
    hc.health_ctx = ctx;
    rc = mlc_metrics_server_start(m, &hc, out, err);
    if (rc == MLC_OK && *out)
        mlc_info("metrics: /metrics and /healthz on port %d", mlc_metrics_server_port(*out));
    return rc;
}
