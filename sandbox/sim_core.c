/* sim_core.c - the sandbox HTTP server (see sim_core.h): the libmicrohttpd
 * daemon's start and stop, its callbacks, and the dispatch of one request
 * (body cap, control routes, faults, app handler, counters and log).
 *
 * sim_internal.h says which file holds the rest.
 */
#include "sim_core.h"
#include "mlc_alloc.h"

#include "sim_internal.h"

#include "mlc_str.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Per-request state, created by the URI log callback (so it sees the raw URI). */
struct sim_conn_req {
    char *uri;
    struct mlc_buf body;
    bool started;
    bool too_big;
    struct timespec t0;
};

static double ms_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1000.0 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* Sleeps ms milliseconds in slices, returning early when the server stops. */
static void sleep_ms_interruptible(struct sim_server *srv, long ms)
{
    while (ms > 0 && !atomic_load(&srv->stopping)) {
        long slice = ms > 50 ? 50 : ms;
        struct timespec ts = {slice / 1000, (slice % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

/* ---- MHD plumbing ----------------------------------------------------- */

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct sim_server *srv = cls;
    struct sim_conn_req *cr = mlc_xcalloc(1, sizeof *cr);
    cr->uri = mlc_xstrdup(uri ? uri : "/");
    mlc_buf_init(&cr->body, srv->cfg.max_body);
    clock_gettime(CLOCK_MONOTONIC, &cr->t0);
    return cr;
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct sim_conn_req *cr = *con_cls;
    if (cr) {
        free(cr->uri);
        mlc_buf_free(&cr->body);
        free(cr);
        *con_cls = NULL;
    }
}

struct trunc_state {
    char *data;
    size_t cut;
};

static ssize_t trunc_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct trunc_state *t = cls;
    if (pos >= t->cut)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = t->cut - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, t->data + pos, n);
    return (ssize_t)n;
}

static void trunc_free(void *cls)
{
    struct trunc_state *t = cls;
    free(t->data);
    free(t);
}

static void parse_params(const char *q, struct sim_param *params, size_t *nparams)
{
    *nparams = 0;
    const char *p = q;
    while (*p && *nparams < SIM_MAX_PARAMS) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq ? (size_t)(eq - p) : len;
            params[*nparams].name = sim_url_decode(p, nlen, true);
            params[*nparams].value =
                eq ? sim_url_decode(eq + 1, len - nlen - 1, true) : mlc_xstrdup("");
            (*nparams)++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct sim_response *res, bool truncate)
{
    struct MHD_Response *r;
    if (truncate && res->body_len > 0) {
        struct trunc_state *t = mlc_xmalloc(sizeof *t);
        t->data = res->body;
        t->cut = res->body_len / 2;
        res->body = NULL;
        r = MHD_create_response_from_callback(res->body_len, 16384, trunc_reader, t, trunc_free);
        if (!r) {
            trunc_free(t);
            return MHD_NO;
        }
    } else {
        r = MHD_create_response_from_buffer(res->body_len, res->body ? res->body : (void *)"",
                                            res->body ? MHD_RESPMEM_MUST_FREE
                                                      : MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        res->body = NULL; /* now owned by MHD */
    }
    if (res->content_type[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    for (size_t i = 0; i < res->nheaders; i++)
        MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)res->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct sim_server *srv = cls;
    struct sim_conn_req *cr = *con_cls;
    if (!cr)
        return MHD_NO;
    if (!cr->started) {
        cr->started = true;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!cr->too_big && mlc_buf_append(&cr->body, upload_data, *upload_data_size) != MLC_OK)
            cr->too_big = true;
        *upload_data_size = 0;
        return MHD_YES;
    }

    struct sim_request req;
    struct sim_response res;
    struct sim_param params[SIM_MAX_PARAMS];
    struct sim_fault fault;
    bool have_fault = false, truncate = false;
    enum MHD_Result ret = MHD_YES;
    const char *fault_name = NULL;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    memset(&fault, 0, sizeof fault);
    res.status = 200;

    char *raw_path = NULL, *path = NULL;
    const char *qm = strchr(cr->uri, '?');
    size_t plen = qm ? (size_t)(qm - cr->uri) : strlen(cr->uri);
    raw_path = mlc_xstrndup(cr->uri, plen);
    path = sim_url_decode(cr->uri, plen, false);
    req.method = method;
    req.path = path;
    req.raw_path = raw_path;
    req.raw_target = cr->uri;
    req.raw_query = qm ? qm + 1 : "";
    parse_params(req.raw_query, params, &req.nparams);
    req.params = params;
    req.body = mlc_buf_str(&cr->body);
    req.body_len = cr->body.len;
    req.has_body = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH) != NULL ||
                   MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
    req.conn = conn;

    if (cr->too_big) {
        sim_error_json(&res, 413, "request body too large");
        sim_response_route(&res, "too_large");
        goto send;
    }

    if (strncmp(path, "/_sim/", 6) == 0) {
        bool done = false;
        pthread_mutex_lock(&srv->app_lock);
        for (size_t i = 0; i < srv->ncontrols && !done; i++) {
            const struct sim_control *c = &srv->controls[i];
            size_t cl = strlen(c->path);
            bool pm = c->path[cl - 1] == '/' ? strncmp(path, c->path, cl) == 0
                                             : strcmp(path, c->path) == 0;
            if (pm && (!c->method[0] || strcmp(c->method, method) == 0)) {
                c->fn(srv->cfg.ctx, &req, &res);
                done = true;
            }
        }
        pthread_mutex_unlock(&srv->app_lock);
        if (!done && !sim_builtin_control(srv, &req, &res))
            sim_error_json(&res, 404, "no such control route");
        ret = queue(conn, &res, false);
        goto out; /* control traffic is neither counted nor logged */
    }

    have_fault = sim_fault_pick(srv, method, path, &fault);
    if (have_fault) {
        fault_name = sim_fault_names[fault.kind];
        switch (fault.kind) {
        case SIM_FAULT_RESET:
            ret = MHD_NO;
            res.status = 0;
            sim_response_route(&res, "fault");
            goto log;
        case SIM_FAULT_HANG:
            sleep_ms_interruptible(srv, fault.delay_ms);
            ret = MHD_NO;
            res.status = 0;
            sim_response_route(&res, "fault");
            goto log;
        case SIM_FAULT_DELAY:
            sleep_ms_interruptible(srv, fault.delay_ms);
            break;
        case SIM_FAULT_STATUS: {
            cJSON *body = fault.body;
            fault.body = NULL;
            if (!body && srv->cfg.fault_body)
                body = srv->cfg.fault_body(srv->cfg.ctx, fault.status);
            if (body)
                sim_response_json(&res, fault.status, body);
            else
                sim_response_text(&res, fault.status, "text/plain", "");
            sim_response_route(&res, "fault");
            goto send;
        }
        case SIM_FAULT_MALFORMED:
            sim_response_text(&res, 200, "application/json; charset=utf-8",
                              "{\"value\":[{\"broken\": tru, \"@odata\"");
            sim_response_route(&res, "fault");
            goto send;
        case SIM_FAULT_TRUNCATE:
            truncate = true;
            break;
        }
    }

    pthread_mutex_lock(&srv->app_lock);
    srv->cfg.handler(srv->cfg.ctx, &req, &res);
    pthread_mutex_unlock(&srv->app_lock);
    if (!res.route[0])
        sim_response_route(&res, "other");

send:
    ret = queue(conn, &res, truncate);
log : {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sim_record(srv, method, cr->uri, res.route, fault_name, res.status, ms_between(&cr->t0, &t1));
}
out:
    for (size_t i = 0; i < req.nparams; i++) {
        free(params[i].name);
        free(params[i].value);
    }
    cJSON_Delete(fault.body);
    sim_response_free(&res);
    free(raw_path);
    free(path);
    return ret;
}

/* ---- lifecycle -------------------------------------------------------- */

mlc_rc sim_server_start(const struct sim_config *cfg, struct sim_server **out, struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;
    struct sim_server *srv = NULL;
    *out = NULL;
    if (!cfg->handler || cfg->port < 0 || cfg->port > 65535)
        return mlc_err_set(err, MLC_FATAL, "sim: bad server configuration");
    srv = mlc_xcalloc(1, sizeof *srv);
    srv->cfg = *cfg;
    if (!srv->cfg.max_body)
        srv->cfg.max_body = 8u << 20;
    srv->log_cap = cfg->log_capacity ? cfg->log_capacity : 1000;
    srv->log = mlc_xcalloc(srv->log_cap, sizeof *srv->log);
    pthread_mutex_init(&srv->app_lock, NULL);
    pthread_mutex_init(&srv->stat_lock, NULL);
    pthread_mutex_init(&srv->fault_lock, NULL);
    atomic_init(&srv->stopping, false);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    srv->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD, (uint16_t)cfg->port, NULL,
        NULL, access_cb, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, srv, MHD_OPTION_NOTIFY_COMPLETED, completed_cb,
        srv, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)256,
        MHD_OPTION_END);
    if (!srv->daemon) {
        rc = mlc_err_set(err, MLC_FATAL, "sim: cannot listen on 127.0.0.1:%d", cfg->port);
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : cfg->port;
    snprintf(srv->base_url, sizeof srv->base_url, "http://127.0.0.1:%d", srv->port);
    *out = srv;
    srv = NULL;
out:
    if (srv) {
        free(srv->log);
        free(srv);
    }
    return rc;
}

void sim_server_stop(struct sim_server *srv)
{
    if (!srv)
        return;
    atomic_store(&srv->stopping, true);
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    sim_fault_clear(srv);
    pthread_mutex_destroy(&srv->app_lock);
    pthread_mutex_destroy(&srv->stat_lock);
    pthread_mutex_destroy(&srv->fault_lock);
    free(srv->routes);
    free(srv->named);
    free(srv->log);
    free(srv);
}

int sim_server_port(const struct sim_server *srv)
{
    return srv->port;
}

const char *sim_server_base_url(const struct sim_server *srv)
{
    return srv->base_url;
}
