/* sagesim_routes.c - the Sage 300 Web API handler of mlc-sage-sim (see
 * sagesim_routes.h): application path, HTTP Basic, Content-Type, company and
 * resource routing in the documented order, and Sage's error bodies. The
 * resources themselves are in sagesim_resources.c, the /_sim/ control API in
 * sagesim_control.c.
 */
#include "mlc_alloc.h"
#include "sagesim_internal.h"

#include "mlc_buf.h"
#include "mlc_str.h"
#include "sagesim_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- errors ----------------------------------------------------------- */

void sagesim_error(struct sim_response *res, int status, const char *code, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON *m = cJSON_AddObjectToObject(e, "message");
    cJSON_AddStringToObject(m, "lang", "en-US");
    cJSON_AddStringToObject(m, "value", message);
    sim_response_json(res, status, o);
    mlc_strlcpy(res->content_type, "application/json; charset=utf-8", sizeof res->content_type);
}

cJSON *sagesim_fault_body(void *ctx, int status)
{
    const char *code = "General", *msg = "An error has occurred.";
    switch (status) {
    case 400:
        code = "InvalidParameters";
        msg = "The request is invalid.";
        break;
    case 401:
        code = "Unauthorized";
        msg = "Authorization has been denied for this request.";
        break;
    case 403:
        code = "Forbidden";
        msg = "Access is denied.";
        break;
    case 404:
        code = "RecordNotFound";
        msg = "A Record cannot be found for the specified entity key";
        break;
    case 405:
        code = "MethodNotAllowed";
        msg = "The requested resource does not support this http method.";
        break;
    case 409:
        code = "RecordDuplicate";
        msg = "The record already exists.";
        break;
    case 429:
        code = "TooManyRequests";
        msg = "The server was flooded with too many concurrent requests.";
        break;
    case 500:
        code = "InternalServerError";
        break;
    default:
        break;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON *m = cJSON_AddObjectToObject(e, "message");
    cJSON_AddStringToObject(m, "lang", "en-US");
    cJSON_AddStringToObject(m, "value", msg);
    return o;
}

/* ---- path segments and HTTP Basic -------------------------------------- */

void sagesim_segs_free(struct segs *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->raw[i]);
        free(s->dec[i]);
    }
    s->n = 0;
}

/* Splits "/a/b/c" into segments (the leading '/' gives no segment). */
bool sagesim_segs_split(const char *raw_path, struct segs *s)
{
    memset(s, 0, sizeof *s);
    const char *p = raw_path;
    if (*p == '/')
        p++;
    while (*p) {
        if (s->n == MAX_SEGS)
            return false;
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        s->raw[s->n] = mlc_xstrndup(p, n);
        s->dec[s->n] = sim_url_decode(p, n, false);
        s->n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    return true;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes base64 (padding optional) into out; false on bad input. */
static bool b64decode(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = in; *p; p++) {
        if (*p == '=') {
            for (; *p; p++)
                if (*p != '=')
                    return false;
            break;
        }
        int v = b64val((unsigned char)*p);
        if (v < 0)
            return false;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= outsz)
                return false;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
    return strlen(out) == o; /* no NUL bytes inside */
}

/* 0 ok, 401 bad or missing credentials, 403 refused user. */
static int check_auth(const struct sagesim_app *app, const struct sim_request *req)
{
    const char *h = sim_request_header(req, "Authorization");
    char dec[512], want_pw[256];
    if (!h || strncasecmp(h, "Basic ", 6) != 0)
        return 401;
    const char *b = h + 6;
    while (*b == ' ')
        b++;
    if (!b64decode(b, dec, sizeof dec))
        return 401;
    char *colon = strchr(dec, ':');
    if (!colon)
        return 401;
    *colon = '\0';
    const char *user = dec, *pw = colon + 1;
    bool user_ok = app->set.user_case == SAGESIM_USER_FOLD ? strcasecmp(user, app->set.user) == 0
                                                           : strcmp(user, app->set.user) == 0;
    if (app->set.password_mode == SAGESIM_PW_UPPER)
        mlc_str_upper(want_pw, app->set.password, sizeof want_pw);
    else
        mlc_strlcpy(want_pw, app->set.password, sizeof want_pw);
    if (!user_ok || strcmp(pw, want_pw) != 0)
        return 401;
    if (strcasecmp(app->set.user, "ADMIN") == 0 && !app->set.allow_admin)
        return 403;
    return 0;
}

/* ---- routing ----------------------------------------------------------- */

void sagesim_handle(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct sagesim_app *app = ctx;
    struct segs s;
    char msg[600];
    const struct sagesim_company *co;
    if (!sagesim_segs_split(req->raw_path, &s) || s.n < 3 ||
        strcasecmp(s.dec[0], "Sage300WebApi") != 0 || strcasecmp(s.dec[1], "v1.0") != 0 ||
        strcmp(s.dec[2], "-") != 0) {
        sim_response_route(res, "notfound");
        snprintf(msg, sizeof msg,
                 "No HTTP resource was found that matches the request URI '%.300s'.", req->path);
        sagesim_error(res, 404, "ResourceNotFound", msg);
        goto out;
    }
    int a = check_auth(app, req);
    if (a) {
        sim_response_route(res, "auth");
        if (a == 401) {
            /* A refused login (what a client's password-form guessing costs). */
            if (app->srv)
                sim_counter_add(app->srv, "failed_logins", 1);
            sagesim_error(res, 401, "Unauthorized",
                          "Authorization has been denied for this request.");
            sim_response_header(res, "WWW-Authenticate", "Basic");
        } else {
            sagesim_error(res, 403, "Forbidden",
                          "The user is not allowed to access the Sage 300 Web API.");
        }
        goto out;
    }
    bool write = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0 &&
                 strcmp(req->method, "DELETE") != 0 && strcmp(req->method, "OPTIONS") != 0;
    if (app->set.content_type_rule == SAGESIM_CT_ALL ||
        (app->set.content_type_rule == SAGESIM_CT_WRITES && write)) {
        const char *ct = sim_request_header(req, "Content-Type");
        if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
            sim_response_route(res, "content_type");
            sagesim_error(res, 500, "InternalServerError", "An error has occurred.");
            goto out;
        }
    }
    if (s.n < 5) {
        sim_response_route(res, "notfound");
        sagesim_error(res, 404, "ResourceNotFound", "The requested resource was not found.");
        goto out;
    }
    co = sagesim_store_company(&app->store, s.dec[3]);
    if (!co) {
        sim_response_route(res, "company");
        snprintf(msg, sizeof msg, "Company '%.40s' does not exist or cannot be opened.", s.dec[3]);
        switch (app->set.unknown_company) {
        case SAGESIM_UC_DBLINK:
            sagesim_error(res, 500, "DBLinkError", msg);
            break;
        case SAGESIM_UC_NOTFOUND:
            sagesim_error(res, 404, "ResourceNotFound", msg);
            break;
        case SAGESIM_UC_UNAUTHORIZED:
            sagesim_error(res, 401, "Unauthorized",
                          "Authorization has been denied for this request.");
            sim_response_header(res, "WWW-Authenticate", "Basic");
            break;
        }
        goto out;
    }
    if (strcasecmp(s.dec[4], "AR") != 0 || s.n != 6) {
        sim_response_route(res, "notfound");
        snprintf(msg, sizeof msg, "The resource '%.300s' cannot be found.", req->path);
        sagesim_error(res, 404, "ResourceNotFound", msg);
        goto out;
    }
    char ctxbase[400];
    {
        struct mlc_buf cb;
        mlc_buf_init(&cb, sizeof ctxbase - 1);
        for (int i = 0; i < 5; i++) {
            if (i == 2)
                continue;
            (void)mlc_buf_puts(&cb, i == 3 ? "/-/" : "/");
            (void)sagesim_put_safe_url(&cb, s.raw[i]);
        }
        (void)mlc_buf_puts(&cb, "/");
        mlc_strlcpy(ctxbase, mlc_buf_str(&cb), sizeof ctxbase);
        mlc_buf_free(&cb);
    }
    const char *r = s.dec[5];
    const char *entity = NULL, *keytext = NULL;
    if (strncmp(r, "ARCustomers", 11) == 0 && (r[11] == '\0' || r[11] == '(')) {
        entity = "ARCustomers";
        keytext = r[11] ? r + 11 : NULL;
    } else if (strncmp(r, "ARTerms", 7) == 0 && (r[7] == '\0' || r[7] == '(')) {
        entity = "ARTerms";
        keytext = r[7] ? r + 7 : NULL;
    } else if (strcmp(r, "$metadata") == 0) {
        entity = "$metadata";
    }
    if (!entity) {
        sim_response_route(res, "notfound");
        snprintf(msg, sizeof msg, "The resource '%.300s' cannot be found.", r);
        sagesim_error(res, 404, "ResourceNotFound", msg);
        goto out;
    }
    if (strcmp(req->method, "GET") != 0) {
        sim_response_route(res, "method");
        snprintf(msg, sizeof msg, "The requested resource does not support http method '%.20s'.",
                 req->method);
        sagesim_error(res, 405, "MethodNotAllowed", msg);
        sim_response_header(res, "Allow", "GET");
        goto out;
    }
    if (strcmp(entity, "$metadata") == 0) {
        struct mlc_buf b;
        mlc_buf_init(&b, 1 << 20);
        sim_response_route(res, "metadata");
        if (sagesim_render_metadata(&b) == MLC_OK) {
            size_t len = b.len;
            char *d = mlc_buf_steal(&b);
            sim_response_raw(res, 200, "application/xml; charset=utf-8", d, d ? len : 0);
            sim_response_header(res, "OData-Version", "4.0");
        } else {
            sagesim_error(res, 500, "InternalServerError", "An error has occurred.");
        }
        mlc_buf_free(&b);
    } else if (strcmp(entity, "ARTerms") == 0) {
        sagesim_serve_terms(app, req, res, ctxbase, keytext);
    } else if (keytext) {
        sagesim_serve_customer_by_key(app, req, res, co, ctxbase, keytext);
    } else {
        sagesim_serve_customers_list(app, req, res, co, ctxbase);
    }
out:
    sagesim_segs_free(&s);
}
