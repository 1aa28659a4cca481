/* sim_core.h - shared HTTP core of the sandbox servers (mlc-sage-sim, mlc-pipedrive-sim).
 *
 * A sandbox is an app handler plugged into a libmicrohttpd daemon bound to
 * 127.0.0.1. The core adds what every sandbox needs for tests:
 *
 *   - request plumbing: method, decoded path, raw target, query parameters in
 *     their original order (decoded), headers (case-insensitive), body
 *     (accumulated up to a cap; larger bodies get 413);
 *   - fault injection (status, delay, hang, truncate, malformed, reset) for
 *     the next N matching requests or with a seeded probability, optionally
 *     only for a method and/or a path pattern;
 *   - counters per route and status, plus named counters bumped by the app;
 *   - a request log ring buffer without credentials (no header is stored and
 *     the values of api_token query parameters are replaced by "REDACTED");
 *   - a control API under /_sim/ that never reaches the app handler:
 *       POST   /_sim/faults     add a fault (JSON, see sim_fault_parse below)
 *       GET    /_sim/faults     list active faults
 *       DELETE /_sim/faults     remove every fault
 *       GET    /_sim/counters   {"total":N,"routes":{"r":{"200":n}},"counters":{...}}
 *       GET    /_sim/requests   {"requests":[{"time","method","target","status",
 *                                 "duration_ms","route","fault"}]}, oldest first
 *       DELETE /_sim/requests   clears the log
 *     plus routes the app registers with sim_server_add_control().
 *
 * Threading: the daemon runs one thread per connection, so several requests
 * are served at once and a delayed or hanging request never blocks others.
 * The core serialises every app and control handler call with one mutex
 * (handlers need no locking of their own for data they share only with other
 * handlers). Fault delays and hangs are slept outside that mutex. Counters,
 * the log and the fault list have their own locks. sim_counter_add() may be
 * called from handlers (or anywhere).
 *
 * Ownership: the request and everything it points to is borrowed for the
 * duration of the handler call. The response owns what is put into it
 * (sim_response_json consumes the cJSON, sim_response_raw takes the buffer).
 */
#ifndef SIM_CORE_H
#define SIM_CORE_H

#include "mlc_buf.h"
#include "mlc_err.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_PARAMS  64
#define SIM_MAX_HEADERS 16

struct sim_param {
    char *name;  /* decoded ('+' is a space, %XX decoded) */
    char *value; /* decoded; "" when the parameter had no '=' */
};

struct sim_request {
    const char *method;       /* "GET", ... */
    const char *path;         /* percent-decoded path, no query */
    const char *raw_path;     /* path exactly as sent (still percent-encoded) */
    const char *raw_target;   /* path + '?' + query exactly as sent */
    const char *raw_query;    /* query exactly as sent, without '?'; "" if none */
    struct sim_param *params; /* query parameters, in request order */
    size_t nparams;
    const char *body; /* NUL-terminated; "" when no body */
    size_t body_len;
    bool has_body; /* the request carried a body (even empty) */
    void *conn;    /* internal: the MHD connection */
};

/* First query parameter named name (decoded), or NULL. */
const char *sim_request_param(const struct sim_request *req, const char *name);
/* Number of query parameters named name. */
size_t sim_request_param_count(const struct sim_request *req, const char *name);
/* Header value (case-insensitive name), or NULL. */
const char *sim_request_header(const struct sim_request *req, const char *name);

struct sim_header {
    char *name;
    char *value;
};

struct sim_response {
    int status; /* default 200 */
    char *body; /* owned; may be NULL for an empty body */
    size_t body_len;
    char content_type[96];
    struct sim_header headers[SIM_MAX_HEADERS];
    size_t nheaders;
    char route[64]; /* counter/log label chosen by the app, e.g. "ARCustomers.list" */
};

/* Sets status and a JSON body from doc (consumed, may be NULL for "null"),
 * content type "application/json". */
void sim_response_json(struct sim_response *res, int status, cJSON *doc);
/* Sets status and a copy of text with the given content type. */
void sim_response_text(struct sim_response *res, int status, const char *content_type,
                       const char *text);
/* Sets status and takes ownership of data (malloc'd, len bytes). */
void sim_response_raw(struct sim_response *res, int status, const char *content_type, char *data,
                      size_t len);
/* Adds a response header (copied). Ignored beyond SIM_MAX_HEADERS. */
void sim_response_header(struct sim_response *res, const char *name, const char *value);
/* Sets the route label used by counters and the request log. */
void sim_response_route(struct sim_response *res, const char *route);

struct sim_server;

/* The app handler: fill res from req. Called with the core's app mutex held. */
typedef void (*sim_handler_fn)(void *ctx, const struct sim_request *req, struct sim_response *res);
/* Optional: default body for an injected status fault without a "body"
 * (e.g. Sage's error object for 429). Return a new cJSON or NULL (empty). */
typedef cJSON *(*sim_fault_body_fn)(void *ctx, int status);

struct sim_config {
    int port;                     /* 0 picks a free port */
    size_t max_body;              /* request body cap; 0 means 8 MiB */
    size_t log_capacity;          /* request log entries kept; 0 means 1000 */
    sim_handler_fn handler;       /* required */
    sim_fault_body_fn fault_body; /* optional */
    void *ctx;                    /* passed to handler, fault_body, control handlers */
};

/* Starts the daemon on 127.0.0.1. *out is freed with sim_server_stop. */
mlc_rc sim_server_start(const struct sim_config *cfg, struct sim_server **out, struct mlc_err *err);
/* Stops the daemon (wakes hanging requests) and frees everything. NULL-safe. */
void sim_server_stop(struct sim_server *srv);
/* The bound port. */
int sim_server_port(const struct sim_server *srv);
/* "http://127.0.0.1:PORT" (borrowed). */
const char *sim_server_base_url(const struct sim_server *srv);

/* Registers an app control route: requests whose method equals method (or
 * any method when method is NULL) and whose decoded path equals path (or
 * starts with path when path ends with '/') go to fn instead of the app
 * handler. path must start with "/_sim/". Call before traffic arrives.
 * Returns false when the table is full. */
bool sim_server_add_control(struct sim_server *srv, const char *method, const char *path,
                            sim_handler_fn fn);

/* Adds delta to the named counter (created at 0). Thread-safe. */
void sim_counter_add(struct sim_server *srv, const char *name, long delta);
/* Current value of a named counter (0 when unknown). */
long sim_counter_get(struct sim_server *srv, const char *name);

/* Fault kinds. */
enum sim_fault_kind {
    SIM_FAULT_STATUS,    /* answer `status` with `body` (or the app's default) */
    SIM_FAULT_DELAY,     /* sleep delay_ms, then answer normally */
    SIM_FAULT_HANG,      /* no answer for delay_ms (default 60 s), then close */
    SIM_FAULT_TRUNCATE,  /* announce the full length, send half of the body, close */
    SIM_FAULT_MALFORMED, /* 200 with an invalid JSON body */
    SIM_FAULT_RESET,     /* close the connection without any answer */
};

/* Parses a fault object and adds it. JSON members:
 *   "kind": "status"|"delay"|"hang"|"truncate"|"malformed"|"reset" (required)
 *   "status": int (status kind; default 500), "body": any JSON (status kind)
 *   "delay_ms": int (delay; hang: how long to hold, default 60000)
 *   "count": int (fire for the next N matching requests; default 1 unless
 *            "probability" is given, then unlimited; -1 unlimited)
 *   "after": int (let the first N matching requests through first; default 0)
 *   "probability": number in [0,1] (default 1), "seed": int (default 1)
 *   "path": pattern matched against the decoded path: a glob (fnmatch) when it
 *           holds * ? or [, else a substring
 *   "method": "GET"... (default any)
 * Faults never apply to /_sim/ requests. The first matching fault wins.
 * Returns false (and a message in msg) on a bad object. */
bool sim_fault_add_json(struct sim_server *srv, const cJSON *obj, char *msg, size_t msgsz);
/* Removes every fault. */
void sim_fault_clear(struct sim_server *srv);

/* Base-URL-printing main loop for sandbox programs: prints `first_line` and a
 * newline on stdout, flushes, then blocks until SIGTERM or SIGINT. Returns 0.
 * Installs the handlers itself (see sim_signals_install). */
int sim_run_until_signal(const char *first_line);
/* Installs the SIGTERM/SIGINT handlers (and ignores SIGPIPE) early, e.g. at
 * the top of main before a slow start-up, so a stop request that arrives
 * before sim_run_until_signal still ends the program with status 0.
 * Idempotent. */
void sim_signals_install(void);

/* Percent-decodes src (n bytes) into a new string; plus_is_space turns '+'
 * into ' ' (query strings). Invalid escapes are kept literally. Caller frees. */
char *sim_url_decode(const char *src, size_t n, bool plus_is_space);
/* Appends s escaped like .NET Uri.EscapeDataString (RFC 3986 unreserved kept,
 * everything else %XX upper-case) to b. */
mlc_rc sim_escape_data_string(struct mlc_buf *b, const char *s);

#endif
