/* pdsim_params.c - reading requests: query parameters, JSON bodies, the
 * custom_fields= selection, opaque cursors (pdsim_cursor_*) and offset paging. */
#include "mlc_alloc.h"
#include "pdsim_internal.h"

#include "mlc_str.h"
#include "pdsim_validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- request helpers -------------------------------------------------- */

bool pdsim_param_long(const struct sim_request *req, const char *name, long min, long max,
                      long dflt, long *out, char *msg, size_t msgsz)
{
    const char *v = sim_request_param(req, name);
    if (!v) {
        *out = dflt;
        return true;
    }
    if (!mlc_parse_long(v, min, max, out)) {
        snprintf(msg, msgsz, "Validation failed: %s: Expected an integer from %ld to %ld", name,
                 min, max);
        return false;
    }
    return true;
}

bool pdsim_param_bool(const struct sim_request *req, const char *name, bool *out, char *msg,
                      size_t msgsz)
{
    const char *v = sim_request_param(req, name);
    *out = false;
    if (!v)
        return true;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        return true;
    snprintf(msg, msgsz, "Validation failed: %s: Expected 'boolean'", name);
    return false;
}

cJSON *pdsim_parse_body(const struct sim_request *req)
{
    return cJSON_ParseWithLength(req->body, req->body_len);
}

/* Splits a comma list (copy in buf) into up to max items; returns count or -1 if too many. */
int pdsim_split_list(char *buf, const char **items, int max)
{
    int n = 0;
    char *p = buf;
    while (p && *p) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (*p) {
            if (n == max)
                return -1;
            items[n++] = p;
        }
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

/* custom_fields= selection: <= 15 existing custom field keys. */
bool pdsim_parse_selection(struct pdsim_company *co, const struct sim_request *req, char *buf,
                           size_t bufsz, const char **items, int *n, char *msg, size_t msgsz)
{
    const char *sel = sim_request_param(req, "custom_fields");
    *n = -1;
    if (!sel)
        return true;
    if (!mlc_strlcpy(buf, sel, bufsz)) {
        snprintf(msg, msgsz, "Validation failed: custom_fields: too long");
        return false;
    }
    *n = pdsim_split_list(buf, items, 15);
    if (*n < 0) {
        snprintf(msg, msgsz,
                 "Validation failed: custom_fields: at most 15 custom fields can "
                 "be selected");
        return false;
    }
    for (int i = 0; i < *n; i++) {
        struct pdsim_field *f = pdsim_company_field(co, items[i]);
        if (!f || !f->is_custom || f->deleted) {
            snprintf(msg, msgsz,
                     "Validation failed: custom_fields: Custom field '%s' does not "
                     "exist",
                     items[i]);
            return false;
        }
    }
    return true;
}

/* ---- cursors (base64url, no padding) ---------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *pdsim_cursor_encode(const char *text)
{
    size_t n = strlen(text), o = 0;
    char *out = mlc_xmalloc(n / 3 * 4 + 8);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)text[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)text[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)text[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64[v & 63];
    }
    out[o] = '\0';
    return out;
}

char *pdsim_cursor_decode(const char *cursor)
{
    size_t n = strlen(cursor), o = 0;
    unsigned acc = 0;
    int bits = 0;
    char *out = mlc_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        const char *p = cursor[i] == '+' ? b64 + 62 : cursor[i] == '/' ? b64 + 63 : NULL;
        if (cursor[i] == '=')
            break;
        if (!p)
            p = strchr(b64, cursor[i]);
        if (!p || !cursor[i]) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
    if (memchr(out, '\0', o)) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- offset paging ---------------------------------------------------- */

/* Offset cursors for search and field listings. */
bool pdsim_page_params(const struct sim_request *req, long max_limit, long *limit, long *offset,
                       char *msg, size_t msgsz)
{
    const char *c = sim_request_param(req, "cursor");
    *offset = 0;
    if (!pdsim_param_long(req, "limit", 1, max_limit, 100, limit, msg, msgsz))
        return false;
    if (c) {
        char *text = pdsim_cursor_decode(c);
        cJSON *j = text ? cJSON_Parse(text) : NULL;
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(j, "offset");
        bool ok = pdsim_is_integer(off) && off->valuedouble >= 0;
        if (ok)
            *offset = (long)off->valuedouble;
        free(text);
        cJSON_Delete(j);
        if (!ok) {
            snprintf(msg, msgsz, "Validation failed: cursor: invalid cursor");
            return false;
        }
    }
    return true;
}

void pdsim_add_next_cursor(cJSON *additional, const char *text)
{
    char *cur = text ? pdsim_cursor_encode(text) : NULL;

    cJSON_AddItemToObject(additional, "next_cursor",
                          cur ? cJSON_CreateString(cur) : cJSON_CreateNull());
    free(cur);
}

/* Moves items [offset, offset+limit) of all into a new array; sets next cursor. */
cJSON *pdsim_page_slice(cJSON *all, long limit, long offset, cJSON **additional)
{
    cJSON *out = cJSON_CreateArray();
    long total = cJSON_GetArraySize(all);
    cJSON *add = cJSON_CreateObject();
    for (long i = offset; i < total && i < offset + limit; i++)
        cJSON_AddItemToArray(out, cJSON_DetachItemFromArray(all, (int)offset));
    if (offset + limit < total) {
        char text[64];
        snprintf(text, sizeof(text), "{\"offset\":%ld}", offset + limit);
        pdsim_add_next_cursor(add, text);
    } else {
        pdsim_add_next_cursor(add, NULL);
    }
    *additional = add;
    return out;
}
