/* sim_internal.h - what the modules of the sandbox HTTP core share. Not an
 * API for callers outside sim_core: the sandboxes use sim_core.h.
 *
 * The shape of a request (access_cb in sim_core.c): the body is accumulated
 * up to the cap (413 beyond it); a /_sim/ path goes to an app control route
 * or a built-in one and is neither counted nor logged; otherwise the first
 * matching fault may answer instead of the app, delay it or spoil its
 * answer; the app handler fills the response; the response is queued and
 * the request counted and logged.
 *
 * Modules:
 *   sim_core     the daemon: start, stop, MHD callbacks, request dispatch
 *   sim_http     URL decoding/escaping, request accessors, response builders
 *   sim_control  app control route table, built-in /_sim/ routes
 *   sim_fault    fault parsing, matching and picking, the fault list
 *   sim_stats    route and named counters, the request log (redacted)
 *   sim_signal   the main loop of sandbox programs (stop signals)
 *
 * Locking (struct sim_server): app_lock serialises every app handler and
 * control handler call; stat_lock guards routes, named, total and the log;
 * fault_lock guards the fault list. controls is written only before traffic
 * arrives (sim_server_add_control) and read under app_lock. stopping is set
 * by sim_server_stop to wake sleeping fault delays and hangs.
 *
 * Ownership: struct sim_server is owned by the caller of sim_server_start
 * and freed by sim_server_stop, which also frees the faults, counters and
 * log. A struct sim_fault owns its body; the copy sim_fault_pick hands out
 * owns a duplicate of it (the caller deletes it).
 */
#ifndef SIM_INTERNAL_H
#define SIM_INTERNAL_H
#include "sim_core.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_CONTROLS 32
#define SIM_TARGET_MAX   1024

/* An app control route (sim_server_add_control). */
struct sim_control {
    char method[16]; /* "" = any */
    char path[128];
    sim_handler_fn fn;
};

/* One fault (sim_fault_add_json), kept in srv->faults in insertion order. */
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

/* A route counter (name: the route label, one per status) or a named one. */
struct sim_counter {
    char name[128];
    int status; /* route counters: status; named counters: 0 */
    long value;
};

/* One request in the log ring buffer (target already redacted). */
struct sim_log_entry {
    char time[32];
    char method[16];
    char target[SIM_TARGET_MAX];
    char route[64];
    char fault[16];
    int status;
    double duration_ms;
};

/* The server (sim_core.h); see Locking and Ownership above. */
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

/* ---- sim_http.c: responses */

/* Frees what res owns (body, headers) and zeroes it. */
void sim_response_free(struct sim_response *res);

/* ---- sim_stats.c: counters and log */

/* Counts the request under route and status and appends it to the log
 * (target redacted; fault is the fault kind's name or NULL; ms its
 * duration). Takes stat_lock. */
void sim_record(struct sim_server *srv, const char *method, const char *target, const char *route,
                const char *fault, int status, double ms);

/* ---- sim_fault.c: faults */

/* Names of the fault kinds, indexed by enum sim_fault_kind. */
extern const char *const sim_fault_names[];

/* Picks the first fault matching method and path (after its "after" and
 * probability allow it) and copies it into *out, with a duplicate of its
 * body (the caller deletes out->body); exhausted faults are removed. False
 * when none fires. Takes fault_lock. */
bool sim_fault_pick(struct sim_server *srv, const char *method, const char *path,
                    struct sim_fault *out);

/* The active faults as a new JSON array (caller deletes). Takes fault_lock. */
cJSON *sim_faults_json(struct sim_server *srv);

/* ---- sim_control.c: the control API */

/* Sets res to status with the body {"error": msg}. */
void sim_error_json(struct sim_response *res, int status, const char *msg);

/* Serves the built-in /_sim/ routes (faults, counters, requests). False
 * when req is not one of them. */
bool sim_builtin_control(struct sim_server *srv, const struct sim_request *req,
                         struct sim_response *res);

#endif
