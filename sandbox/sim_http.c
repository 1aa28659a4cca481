/* sim_http.c - requests and responses of the sandbox core: URL decoding and
 * .NET-style escaping, the request accessors and the response builders (see
 * sim_core.h), and sim_response_free for the server (sim_internal.h).
 */
#include "mlc_alloc.h"
#include "sim_internal.h"

#include "mlc_str.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

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
    char *out = mlc_xmalloc(n + 1);
    size_t o = 0;
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
        res->body = mlc_xstrdup("null");
    }
    res->body_len = res->body ? strlen(res->body) : 0;
}

void sim_response_text(struct sim_response *res, int status, const char *content_type,
                       const char *text)
{
    response_reset_body(res);
    res->status = status;
    mlc_strlcpy(res->content_type, content_type, sizeof res->content_type);
    res->body = mlc_xstrdup(text ? text : "");
    res->body_len = strlen(res->body);
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
    res->headers[res->nheaders].name = mlc_xstrdup(name);
    res->headers[res->nheaders].value = mlc_xstrdup(value);
    res->nheaders++;
}

void sim_response_route(struct sim_response *res, const char *route)
{
    mlc_strlcpy(res->route, route, sizeof res->route);
}

void sim_response_free(struct sim_response *res)
{
    free(res->body);
    for (size_t i = 0; i < res->nheaders; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    memset(res, 0, sizeof *res);
}
