/* sim_fault.c - fault injection: parsing and adding faults (the JSON of
 * POST /_sim/faults), clearing them, picking the fault for a request and
 * listing the active ones. The list is guarded by the server's fault_lock.
 */
#include "mlc_alloc.h"
#include "sim_internal.h"

#include "mlc_str.h"

#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const sim_fault_names[] = {"status", "delay", "hang", "truncate", "malformed", "reset"};

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64: deterministic for a given seed */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

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
    f = mlc_xcalloc(1, sizeof *f);
    size_t k;
    for (k = 0; k < ARRAY_SIZE(sim_fault_names); k++)
        if (strcmp(kind->valuestring, sim_fault_names[k]) == 0)
            break;
    if (k == ARRAY_SIZE(sim_fault_names)) {
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
bool sim_fault_pick(struct sim_server *srv, const char *method, const char *path,
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

cJSON *sim_faults_json(struct sim_server *srv)
{
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&srv->fault_lock);
    for (struct sim_fault *f = srv->faults; f; f = f->next) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kind", sim_fault_names[f->kind]);
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
