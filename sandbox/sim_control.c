/* sim_control.c - the /_sim/ control API: the table of app control routes
 * (sim_server_add_control) and the built-in routes for faults, counters and
 * the request log, plus the {"error": ...} answer the core also uses.
 */
#include "sim_internal.h"

#include "mlc_str.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- built-in control API -------------------------------------------- */

void sim_error_json(struct sim_response *res, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    sim_response_json(res, status, o);
}

bool sim_builtin_control(struct sim_server *srv, const struct sim_request *req,
                         struct sim_response *res)
{
    const char *m = req->method;
    if (strcmp(req->path, "/_sim/faults") == 0) {
        if (strcmp(m, "GET") == 0) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToObject(o, "faults", sim_faults_json(srv));
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
                cJSON_AddItemToObject(o, "faults", sim_faults_json(srv));
                sim_response_json(res, 201, o);
            } else {
                sim_error_json(res, 400, msg);
            }
        } else {
            sim_error_json(res, 405, "method not allowed");
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

/* ---- app control routes ---------------------------------------------- */

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
