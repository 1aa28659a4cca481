/* sim_core.c - shared HTTP core of the sandbox servers, see sim_core.h. */
#include "sim_core.h"

#include "mlc_log.h"
#include "mlc_str.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define SIM_MAX_CONTROLS 32
#define SIM_TARGET_MAX   1024

struct sim_control {
    char method[16]; /* "" = any */
    char path[128];
    sim_handler_fn fn;
};

struct sim_fault {
    enum sim_fault_kind kind;
    int status;
    cJSON *body; /* owned, may be NULL */
    long delay_ms;
    long count; /* remaining firings, -1 unlimited */
    long after; /* matching requests to let through first */
    double probability;
    uint64_t rng;
    long seed;
    char path[256];
    char method[16];
    long fired;
    struct sim_fault *next;
};

struct sim_counter {
    char name[128];
    int status; /* route counters: status; named counters: 0 */
    long value;
};

struct sim_log_entry {
    char time[32];
    char method[16];
    char target[SIM_TARGET_MAX];
    char route[64];
    char fault[16];
    int status;
    double duration_ms;
};

struct sim_server {
    struct MHD_Daemon *daemon;
    int port;
    char base_url[64];
    struct sim_config cfg;
    pthread_mutex_t app_lock;
    pthread_mutex_t stat_lock; /* counters and log */
    pthread_mutex_t fault_lock;
    atomic_bool stopping;

    struct sim_control controls[SIM_MAX_CONTROLS];
    size_t ncontrols;

    struct sim_fault *faults; /* in insertion order */

    struct sim_counter *routes;
    size_t nroutes, routes_cap;
    struct sim_counter *named;
    size_t nnamed, named_cap;
    long total;

    struct sim_log_entry *log;
    size_t log_cap, log_head, log_len;
};

/* Per-request state, created by the URI log callback (so it sees the raw URI). */
struct sim_conn_req {
    char *uri;
    struct mlc_buf body;
    bool started;
    bool too_big;
    struct timespec t0;
};

/* ---- small helpers ---------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *sim_url_decode(const char *src, size_t n, bool plus_is_space)
{
    char *out = malloc(n + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%' && i + 2 < n) {
            int h = hexval((unsigned char)src[i + 1]);
            int l = hexval((unsigned char)src[i + 2]);
            if (h >= 0 && l >= 0) {
                out[o++] = (char)(h * 16 + l);
                i += 2;
                continue;
            }
        }
        out[o++] = (plus_is_space && c == '+') ? ' ' : c;
    }
    out[o] = '\0';
    return out;
}

mlc_rc sim_escape_data_string(struct mlc_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            mlc_rc rc = mlc_buf_append(b, p, 1);
            if (rc != MLC_OK)
                return rc;
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            mlc_rc rc = mlc_buf_append(b, e, 3);
            if (rc != MLC_OK)
                return rc;
        }
    }
    return MLC_OK;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1000.0 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64: deterministic for a given seed */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
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

/* ---- request accessors ------------------------------------------------ */

const char *sim_request_param(const struct sim_request *req, const char *name)
{
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].name, name) == 0)
            return req->params[i].value;
    return NULL;
}

size_t sim_request_param_count(const struct sim_request *req, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].name, name) == 0)
            n++;
    return n;
}

const char *sim_request_header(const struct sim_request *req, const char *name)
{
    if (!req->conn)
        return NULL;
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_HEADER_KIND, name);
}

/* ---- responses -------------------------------------------------------- */

static void response_reset_body(struct sim_response *res)
{
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
}

void sim_response_json(struct sim_response *res, int status, cJSON *doc)
{
    response_reset_body(res);
    res->status = status;
    mlc_strlcpy(res->content_type, "application/json", sizeof res->content_type);
    if (doc) {
        res->body = cJSON_PrintUnformatted(doc);
        cJSON_Delete(doc);
    } else {
        res->body = strdup("null");
    }
    res->body_len = res->body ? strlen(res->body) : 0;
}

void sim_response_text(struct sim_response *res, int status, const char *content_type,
                       const char *text)
{
    response_reset_body(res);
    res->status = status;
    mlc_strlcpy(res->content_type, content_type, sizeof res->content_type);
    res->body = strdup(text ? text : "");
    res->body_len = res->body ? strlen(res->body) : 0;
}

void sim_response_raw(struct sim_response *res, int status, const char *content_type, char *data,
                      size_t len)
{
    response_reset_body(res);
    res->status = status;
    mlc_strlcpy(res->content_type, content_type, sizeof res->content_type);
    res->body = data;
    res->body_len = data ? len : 0;
}

void sim_response_header(struct sim_response *res, const char *name, const char *value)
{
    if (res->nheaders >= SIM_MAX_HEADERS)
        return;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return;
    }
    res->headers[res->nheaders].name = n;
    res->headers[res->nheaders].value = v;
    res->nheaders++;
}

void sim_response_route(struct sim_response *res, const char *route)
{
    mlc_strlcpy(res->route, route, sizeof res->route);
}

static void response_free(struct sim_response *res)
{
    free(res->body);
    for (size_t i = 0; i < res->nheaders; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    memset(res, 0, sizeof *res);
}

/* ---- counters and log ------------------------------------------------- */

static struct sim_counter *counter_slot(struct sim_counter **arr, size_t *n, size_t *cap,
                                        const char *name, int status)
{
    for (size_t i = 0; i < *n; i++)
        if ((*arr)[i].status == status && strcmp((*arr)[i].name, name) == 0)
            return &(*arr)[i];
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        struct sim_counter *na = realloc(*arr, nc * sizeof *na);
        if (!na)
            return NULL;
        *arr = na;
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
    struct sim_counter *c = counter_slot(&srv->named, &srv->nnamed, &srv->named_cap, name, 0);
    if (c)
        c->value += delta;
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
        if (name && strcasecmp(name, "api_token") == 0 && eq) {
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

static void record(struct sim_server *srv, const char *method, const char *target,
                   const char *route, const char *fault, int status, double ms)
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    pthread_mutex_lock(&srv->stat_lock);
    srv->total++;
    struct sim_counter *c =
        counter_slot(&srv->routes, &srv->nroutes, &srv->routes_cap, route, status);
    if (c)
        c->value++;
    size_t idx = (srv->log_head + srv->log_len) % srv->log_cap;
    if (srv->log_len == srv->log_cap)
        srv->log_head = (srv->log_head + 1) % srv->log_cap;
    else
        srv->log_len++;
    struct sim_log_entry *e = &srv->log[idx];
    snprintf(e->time, sizeof e->time, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000L);
    mlc_strlcpy(e->method, method, sizeof e->method);
    redact_target(target, e->target, sizeof e->target);
    mlc_strlcpy(e->route, route, sizeof e->route);
    mlc_strlcpy(e->fault, fault ? fault : "", sizeof e->fault);
    e->status = status;
    e->duration_ms = ms;
    pthread_mutex_unlock(&srv->stat_lock);
}

/* ---- faults ----------------------------------------------------------- */

static const char *const fault_names[] = {"status",   "delay",     "hang",
                                          "truncate", "malformed", "reset"};

static void fault_free(struct sim_fault *f)
{
    if (f) {
        cJSON_Delete(f->body);
        free(f);
    }
}

bool sim_fault_add_json(struct sim_server *srv, const cJSON *obj, char *msg, size_t msgsz)
{
    struct sim_fault *f = NULL;
    if (!cJSON_IsObject(obj)) {
        snprintf(msg, msgsz, "fault must be a JSON object");
        return false;
    }
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    if (!cJSON_IsString(kind)) {
        snprintf(msg, msgsz, "fault needs \"kind\"");
        return false;
    }
    f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(msg, msgsz, "out of memory");
        return false;
    }
    size_t k;
    for (k = 0; k < sizeof fault_names / sizeof fault_names[0]; k++)
        if (strcmp(kind->valuestring, fault_names[k]) == 0)
            break;
    if (k == sizeof fault_names / sizeof fault_names[0]) {
        snprintf(msg, msgsz, "unknown fault kind '%s'", kind->valuestring);
        goto fail;
    }
    f->kind = (enum sim_fault_kind)k;
    f->status = 500;
    f->delay_ms = f->kind == SIM_FAULT_HANG ? 60000 : 1000;
    f->probability = 1.0;
    f->seed = 1;
    const cJSON *it;
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "status"))) {
        if (!cJSON_IsNumber(it) || it->valueint < 100 || it->valueint > 599) {
            snprintf(msg, msgsz, "\"status\" must be an HTTP status");
            goto fail;
        }
        f->status = it->valueint;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "body")))
        f->body = cJSON_Duplicate(it, 1);
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "delay_ms"))) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 3600000) {
            snprintf(msg, msgsz, "\"delay_ms\" must be 0..3600000");
            goto fail;
        }
        f->delay_ms = (long)it->valuedouble;
    }
    const cJSON *prob = cJSON_GetObjectItemCaseSensitive(obj, "probability");
    if (prob) {
        if (!cJSON_IsNumber(prob) || prob->valuedouble < 0 || prob->valuedouble > 1) {
            snprintf(msg, msgsz, "\"probability\" must be in [0,1]");
            goto fail;
        }
        f->probability = prob->valuedouble;
    }
    f->count = prob ? -1 : 1;
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "count"))) {
        if (!cJSON_IsNumber(it) || it->valuedouble < -1 || it->valuedouble == 0) {
            snprintf(msg, msgsz, "\"count\" must be a positive number or -1");
            goto fail;
        }
        f->count = (long)it->valuedouble;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "after"))) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0) {
            snprintf(msg, msgsz, "\"after\" must be >= 0");
            goto fail;
        }
        f->after = (long)it->valuedouble;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "seed"))) {
        if (!cJSON_IsNumber(it)) {
            snprintf(msg, msgsz, "\"seed\" must be a number");
            goto fail;
        }
        f->seed = (long)it->valuedouble;
    }
    f->rng = (uint64_t)f->seed;
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "path"))) {
        if (!cJSON_IsString(it) || !mlc_strlcpy(f->path, it->valuestring, sizeof f->path)) {
            snprintf(msg, msgsz, "\"path\" must be a string under 256 bytes");
            goto fail;
        }
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(obj, "method"))) {
        if (!cJSON_IsString(it) || !mlc_strlcpy(f->method, it->valuestring, sizeof f->method)) {
            snprintf(msg, msgsz, "\"method\" must be a short string");
            goto fail;
        }
    }
    pthread_mutex_lock(&srv->fault_lock);
    struct sim_fault **tail = &srv->faults;
    while (*tail)
        tail = &(*tail)->next;
    *tail = f;
    pthread_mutex_unlock(&srv->fault_lock);
    return true;
fail:
    fault_free(f);
    return false;
}

void sim_fault_clear(struct sim_server *srv)
{
    pthread_mutex_lock(&srv->fault_lock);
    struct sim_fault *f = srv->faults;
    srv->faults = NULL;
    pthread_mutex_unlock(&srv->fault_lock);
    while (f) {
        struct sim_fault *n = f->next;
        fault_free(f);
        f = n;
    }
}

static bool fault_matches(const struct sim_fault *f, const char *method, const char *path)
{
    if (f->method[0] && strcasecmp(f->method, method) != 0)
        return false;
    if (!f->path[0])
        return true;
    if (strpbrk(f->path, "*?["))
        return fnmatch(f->path, path, 0) == 0;
    return strstr(path, f->path) != NULL;
}

/* Picks the fault for this request (copying what the caller needs), or
 * returns false. Exhausted faults are removed. */
static bool fault_pick(struct sim_server *srv, const char *method, const char *path,
                       struct sim_fault *out)
{
    bool hit = false;
    pthread_mutex_lock(&srv->fault_lock);
    for (struct sim_fault **pp = &srv->faults; *pp; pp = &(*pp)->next) {
        struct sim_fault *f = *pp;
        if (!fault_matches(f, method, path))
            continue;
        if (f->after > 0) {
            f->after--;
            continue;
        }
        if (f->probability < 1.0) {
            double r = (double)(rng_next(&f->rng) >> 11) / 9007199254740992.0;
            if (r >= f->probability)
                continue;
        }
        f->fired++;
        *out = *f;
        out->body = f->body ? cJSON_Duplicate(f->body, 1) : NULL;
        out->next = NULL;
        if (f->count > 0 && --f->count == 0) {
            *pp = f->next;
            fault_free(f);
        }
        hit = true;
        break;
    }
    pthread_mutex_unlock(&srv->fault_lock);
    return hit;
}

static cJSON *faults_json(struct sim_server *srv)
{
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&srv->fault_lock);
    for (struct sim_fault *f = srv->faults; f; f = f->next) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", fault_names[f->kind]);
        if (f->kind == SIM_FAULT_STATUS)
            cJSON_AddNumberToObject(o, "status", f->status);
        if (f->body)
            cJSON_AddItemToObject(o, "body", cJSON_Duplicate(f->body, 1));
        if (f->kind == SIM_FAULT_DELAY || f->kind == SIM_FAULT_HANG)
            cJSON_AddNumberToObject(o, "delay_ms", (double)f->delay_ms);
        cJSON_AddNumberToObject(o, "count", (double)f->count);
        cJSON_AddNumberToObject(o, "after", (double)f->after);
        cJSON_AddNumberToObject(o, "probability", f->probability);
        cJSON_AddNumberToObject(o, "seed", (double)f->seed);
        if (f->path[0])
            cJSON_AddStringToObject(o, "path", f->path);
        if (f->method[0])
            cJSON_AddStringToObject(o, "method", f->method);
        cJSON_AddNumberToObject(o, "fired", (double)f->fired);
        cJSON_AddItemToArray(arr, o);
    }
    pthread_mutex_unlock(&srv->fault_lock);
    return arr;
}

/* ---- built-in control API -------------------------------------------- */

static void error_json(struct sim_response *res, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    sim_response_json(res, status, o);
}

static bool builtin_control(struct sim_server *srv, const struct sim_request *req,
                            struct sim_response *res)
{
    const char *m = req->method;
    if (strcmp(req->path, "/_sim/faults") == 0) {
        if (strcmp(m, "GET") == 0) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToObject(o, "faults", faults_json(srv));
            sim_response_json(res, 200, o);
        } else if (strcmp(m, "DELETE") == 0) {
            sim_fault_clear(srv);
            sim_response_json(res, 200, cJSON_CreateObject());
        } else if (strcmp(m, "POST") == 0) {
            char msg[256];
            cJSON *doc = cJSON_ParseWithLength(req->body, req->body_len);
            bool ok = true;
            if (cJSON_IsArray(doc)) {
                const cJSON *it;
                cJSON_ArrayForEach(it, doc)
                {
                    if (!(ok = sim_fault_add_json(srv, it, msg, sizeof msg)))
                        break;
                }
            } else {
                ok = sim_fault_add_json(srv, doc, msg, sizeof msg);
            }
            cJSON_Delete(doc);
            if (ok) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddItemToObject(o, "faults", faults_json(srv));
                sim_response_json(res, 201, o);
            } else {
                error_json(res, 400, msg);
            }
        } else {
            error_json(res, 405, "method not allowed");
        }
        return true;
    }
    if (strcmp(req->path, "/_sim/counters") == 0 && strcmp(m, "GET") == 0) {
        cJSON *o = cJSON_CreateObject(), *routes = cJSON_CreateObject(),
              *named = cJSON_CreateObject();
        pthread_mutex_lock(&srv->stat_lock);
        cJSON_AddNumberToObject(o, "total", (double)srv->total);
        for (size_t i = 0; i < srv->nroutes; i++) {
            cJSON *r = cJSON_GetObjectItemCaseSensitive(routes, srv->routes[i].name);
            if (!r)
                r = cJSON_AddObjectToObject(routes, srv->routes[i].name);
            char st[16];
            snprintf(st, sizeof st, "%d", srv->routes[i].status);
            cJSON_AddNumberToObject(r, st, (double)srv->routes[i].value);
        }
        for (size_t i = 0; i < srv->nnamed; i++)
            cJSON_AddNumberToObject(named, srv->named[i].name, (double)srv->named[i].value);
        pthread_mutex_unlock(&srv->stat_lock);
        cJSON_AddItemToObject(o, "routes", routes);
        cJSON_AddItemToObject(o, "counters", named);
        sim_response_json(res, 200, o);
        return true;
    }
    if (strcmp(req->path, "/_sim/requests") == 0) {
        if (strcmp(m, "DELETE") == 0) {
            pthread_mutex_lock(&srv->stat_lock);
            srv->log_head = srv->log_len = 0;
            pthread_mutex_unlock(&srv->stat_lock);
            sim_response_json(res, 200, cJSON_CreateObject());
            return true;
        }
        if (strcmp(m, "GET") == 0) {
            cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "requests");
            pthread_mutex_lock(&srv->stat_lock);
            for (size_t i = 0; i < srv->log_len; i++) {
                const struct sim_log_entry *e = &srv->log[(srv->log_head + i) % srv->log_cap];
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "time", e->time);
                cJSON_AddStringToObject(r, "method", e->method);
                cJSON_AddStringToObject(r, "target", e->target);
                cJSON_AddNumberToObject(r, "status", e->status);
                cJSON_AddNumberToObject(r, "duration_ms", e->duration_ms);
                cJSON_AddStringToObject(r, "route", e->route);
                if (e->fault[0])
                    cJSON_AddStringToObject(r, "fault", e->fault);
                cJSON_AddItemToArray(arr, r);
            }
            pthread_mutex_unlock(&srv->stat_lock);
            sim_response_json(res, 200, o);
            return true;
        }
    }
    return false;
}

/* ---- MHD plumbing ----------------------------------------------------- */

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct sim_server *srv = cls;
    struct sim_conn_req *cr = calloc(1, sizeof *cr);
    if (!cr)
        return NULL;
    cr->uri = strdup(uri ? uri : "/");
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
            char *name = sim_url_decode(p, nlen, true);
            char *value = eq ? sim_url_decode(eq + 1, len - nlen - 1, true) : strdup("");
            if (name && value) {
                params[*nparams].name = name;
                params[*nparams].value = value;
                (*nparams)++;
            } else {
                free(name);
                free(value);
            }
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
        struct trunc_state *t = malloc(sizeof *t);
        if (!t)
            return MHD_NO;
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
    raw_path = strndup(cr->uri, plen);
    path = sim_url_decode(cr->uri, plen, false);
    if (!raw_path || !path) {
        ret = MHD_NO;
        goto out;
    }
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
        error_json(&res, 413, "request body too large");
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
        if (!done && !builtin_control(srv, &req, &res))
            error_json(&res, 404, "no such control route");
        ret = queue(conn, &res, false);
        goto out; /* control traffic is neither counted nor logged */
    }

    have_fault = fault_pick(srv, method, path, &fault);
    if (have_fault) {
        fault_name = fault_names[fault.kind];
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
    record(srv, method, cr->uri, res.route, fault_name, res.status, ms_between(&cr->t0, &t1));
}
out:
    for (size_t i = 0; i < req.nparams; i++) {
        free(params[i].name);
        free(params[i].value);
    }
    cJSON_Delete(fault.body);
    response_free(&res);
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
    srv = calloc(1, sizeof *srv);
    if (!srv)
        return mlc_err_set(err, MLC_FATAL, "sim: out of memory");
    srv->cfg = *cfg;
    if (!srv->cfg.max_body)
        srv->cfg.max_body = 8u << 20;
    srv->log_cap = cfg->log_capacity ? cfg->log_capacity : 1000;
    srv->log = calloc(srv->log_cap, sizeof *srv->log);
    if (!srv->log) {
        rc = mlc_err_set(err, MLC_FATAL, "sim: out of memory");
        goto out;
    }
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

bool sim_server_add_control(struct sim_server *srv, const char *method, const char *path,
                            sim_handler_fn fn)
{
    if (srv->ncontrols >= SIM_MAX_CONTROLS || !path || strncmp(path, "/_sim/", 6) != 0 || !fn)
        return false;
    struct sim_control *c = &srv->controls[srv->ncontrols];
    mlc_strlcpy(c->method, method ? method : "", sizeof c->method);
    if (!mlc_strlcpy(c->path, path, sizeof c->path))
        return false;
    c->fn = fn;
    srv->ncontrols++;
    return true;
}

/* ---- main loop helper ------------------------------------------------- */

static volatile sig_atomic_t sim_stop_flag;

static void on_stop_signal(int sig)
{
    (void)sig;
    sim_stop_flag = 1;
}

void sim_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool sim_stop_requested(void)
{
    return sim_stop_flag != 0;
}

int sim_run_until_signal(const char *first_line)
{
    sim_signals_install();
    printf("%s\n", first_line);
    fflush(stdout);
    while (!sim_stop_flag) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}
