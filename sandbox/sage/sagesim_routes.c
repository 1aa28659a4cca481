/* sagesim_routes.c - Sage 300 Web API surface and control API, see sagesim_routes.h. */
#include "sagesim_routes.h"

#include "mlc_buf.h"
#include "mlc_str.h"
#include "sagesim_query.h"
#include "sagesim_render.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SEGS      12
#define PAGE_BODY_MAX ((size_t)1 << 30)
#define ODATA_JSON                                                                                 \
    "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; "    \
    "charset=utf-8"

/* ---- option parsers ---------------------------------------------------- */

bool sagesim_parse_pw_mode(const char *s, enum sagesim_pw_mode *out)
{
    if (strcmp(s, "upper") == 0)
        *out = SAGESIM_PW_UPPER;
    else if (strcmp(s, "exact") == 0)
        *out = SAGESIM_PW_EXACT;
    else
        return false;
    return true;
}

bool sagesim_parse_user_case(const char *s, enum sagesim_user_case *out)
{
    if (strcmp(s, "upper") == 0)
        *out = SAGESIM_USER_UPPER;
    else if (strcmp(s, "fold") == 0)
        *out = SAGESIM_USER_FOLD;
    else
        return false;
    return true;
}

bool sagesim_parse_ct_rule(const char *s, enum sagesim_ct_rule *out)
{
    if (strcmp(s, "all") == 0)
        *out = SAGESIM_CT_ALL;
    else if (strcmp(s, "writes") == 0)
        *out = SAGESIM_CT_WRITES;
    else if (strcmp(s, "off") == 0)
        *out = SAGESIM_CT_OFF;
    else
        return false;
    return true;
}

bool sagesim_parse_unknown_co(const char *s, enum sagesim_unknown_co *out)
{
    if (strcmp(s, "dblink") == 0)
        *out = SAGESIM_UC_DBLINK;
    else if (strcmp(s, "notfound") == 0)
        *out = SAGESIM_UC_NOTFOUND;
    else if (strcmp(s, "unauthorized") == 0)
        *out = SAGESIM_UC_UNAUTHORIZED;
    else
        return false;
    return true;
}

static const char *const pw_names[] = {"upper", "exact"};
static const char *const uc_names[] = {"upper", "fold"};
static const char *const ct_names[] = {"all", "writes", "off"};
static const char *const co_names[] = {"dblink", "notfound", "unauthorized"};

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

/* ---- helpers ----------------------------------------------------------- */

struct segs {
    char *raw[MAX_SEGS]; /* as sent */
    char *dec[MAX_SEGS]; /* percent-decoded */
    size_t n;
};

static void segs_free(struct segs *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->raw[i]);
        free(s->dec[i]);
    }
    s->n = 0;
}

/* Splits "/a/b/c" into segments (the leading '/' gives no segment). */
static bool segs_split(const char *raw_path, struct segs *s)
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
        s->raw[s->n] = strndup(p, n);
        s->dec[s->n] = sim_url_decode(p, n, false);
        if (!s->raw[s->n] || !s->dec[s->n]) {
            s->n++;
            return false;
        }
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

/* Appends url with the bytes that could break a JSON string or are not
 * allowed in a URL (", \\, controls, space, non-ASCII) percent-encoded, so
 * echoed request paths are always safe inside JSON. */
static mlc_rc put_safe_url(struct mlc_buf *b, const char *url)
{
    static const char hex[] = "0123456789ABCDEF";
    mlc_rc rc = MLC_OK;
    for (const unsigned char *p = (const unsigned char *)url; rc == MLC_OK && *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = mlc_buf_append(b, e, 3);
        } else {
            rc = mlc_buf_append(b, p, 1);
        }
    }
    return rc;
}

static bool host_ok(const char *h)
{
    for (const unsigned char *p = (const unsigned char *)h; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr("\"<>\\^`{|}/?#@", *p))
            return false;
    return *h != '\0';
}

/* "http://HOST" of the request (Host header, else the bound address). */
static void origin(const struct sagesim_app *app, const struct sim_request *req, char *out,
                   size_t outsz)
{
    const char *host = sim_request_header(req, "Host");
    if (host && host_ok(host))
        snprintf(out, outsz, "http://%s", host);
    else
        snprintf(out, outsz, "%s", app->srv ? sim_server_base_url(app->srv) : "http://127.0.0.1");
}

/* Parses "('k''ey')", "(CustomerNumber = 'k')" or "(k)" into a new string. */
static char *parse_key(const char *text, const char *keyname)
{
    size_t n = strlen(text);
    if (n < 2 || text[0] != '(' || text[n - 1] != ')')
        return NULL;
    const char *s = text + 1;
    size_t len = n - 2;
    while (len && isspace((unsigned char)*s))
        s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    size_t kn = strlen(keyname);
    if (len > kn && strncmp(s, keyname, kn) == 0) {
        const char *q = s + kn;
        size_t ql = len - kn;
        while (ql && isspace((unsigned char)*q))
            q++, ql--;
        if (ql && *q == '=') {
            q++, ql--;
            while (ql && isspace((unsigned char)*q))
                q++, ql--;
            s = q;
            len = ql;
            if (!len || *s != '\'')
                return NULL; /* named form: string keys are quoted */
        }
    }
    if (len == 0)
        return NULL;
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    if (*s == '\'') {
        size_t i = 1;
        for (;;) {
            if (i >= len) {
                free(out);
                return NULL;
            }
            if (s[i] == '\'') {
                if (i + 1 < len && s[i + 1] == '\'') {
                    out[o++] = '\'';
                    i += 2;
                    continue;
                }
                if (i + 1 != len) {
                    free(out);
                    return NULL;
                }
                break;
            }
            out[o++] = s[i++];
        }
    } else {
        for (size_t i = 0; i < len; i++) {
            if (isspace((unsigned char)s[i]) || s[i] == '\'' || s[i] == '(' || s[i] == ')' ||
                s[i] == ',' || s[i] == '=') {
                free(out);
                return NULL;
            }
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    if (o == 0) {
        free(out);
        return NULL;
    }
    return out;
}

static void odata_ok(struct sim_response *res, struct mlc_buf *b)
{
    size_t len = b->len;
    char *data = mlc_buf_steal(b);
    sim_response_raw(res, 200, ODATA_JSON, data, data ? len : 0);
    sim_response_header(res, "OData-Version", "4.0");
}

/* Appends the nextLink URL (reference §6: GetNextPageLink of ASP.NET OData). */
static mlc_rc next_link(struct mlc_buf *b, const char *org, const struct sim_request *req,
                        long page_size)
{
    long skip = page_size;
    mlc_rc rc = mlc_buf_puts(b, org);
    if (rc == MLC_OK)
        rc = put_safe_url(b, req->raw_path);
    if (rc == MLC_OK)
        rc = mlc_buf_puts(b, "?");
    for (size_t i = 0; rc == MLC_OK && i < req->nparams; i++) {
        const char *k = req->params[i].name, *v = req->params[i].value;
        char num[32];
        long x;
        if (strcmp(k, "$skip") == 0) {
            if (mlc_parse_long(v, 0, 0x7fffffffL, &x))
                skip += x;
            continue;
        }
        if (strcmp(k, "$top") == 0 && mlc_parse_long(v, 0, 0x7fffffffL, &x)) {
            snprintf(num, sizeof num, "%ld", x - page_size);
            v = num;
        }
        if (k[0] == '$') {
            rc = mlc_buf_puts(b, "$");
            if (rc == MLC_OK)
                rc = sim_escape_data_string(b, k + 1);
        } else {
            rc = sim_escape_data_string(b, k);
        }
        if (rc == MLC_OK)
            rc = mlc_buf_puts(b, "=");
        if (rc == MLC_OK)
            rc = sim_escape_data_string(b, v);
        if (rc == MLC_OK)
            rc = mlc_buf_puts(b, "&");
    }
    if (rc == MLC_OK)
        rc = mlc_buf_printf(b, "$skip=%ld", skip);
    return rc;
}

/* ---- resources --------------------------------------------------------- */

static void customers_list(struct sagesim_app *app, const struct sim_request *req,
                           struct sim_response *res, const struct sagesim_company *co,
                           const char *ctxbase)
{
    struct sagesim_query q;
    struct sagesim_page page;
    struct mlc_buf b;
    char msg[512];
    memset(&page, 0, sizeof page);
    mlc_buf_init(&b, PAGE_BODY_MAX);
    sim_response_route(res, "ARCustomers.list");
    if (sagesim_query_parse(req, &q, msg, sizeof msg) < 0) {
        sagesim_error(res, 400, "InvalidParameters", msg);
        return;
    }
    long ps = app->set.page_size;
    if (!sagesim_query_run(co, &q, ps, &page)) {
        sagesim_error(res, 500, "InternalServerError", "out of memory");
        goto out;
    }
    char org[300];
    origin(app, req, org, sizeof org);
    mlc_rc rc = mlc_buf_printf(&b, "{\"@odata.context\":\"%s%s$metadata#ARCustomers", org, ctxbase);
    if (rc == MLC_OK && q.has_select)
        rc = mlc_buf_printf(&b, "(%s)", q.select_list);
    if (rc == MLC_OK)
        rc = mlc_buf_puts(&b, "\",");
    if (rc == MLC_OK && q.count)
        rc = mlc_buf_printf(&b, "\"@odata.count\":%zu,", page.count);
    if (rc == MLC_OK)
        rc = mlc_buf_puts(&b, "\"value\":[");
    for (size_t i = 0; rc == MLC_OK && i < page.nrows; i++) {
        if (i)
            rc = mlc_buf_puts(&b, ",");
        if (rc == MLC_OK)
            rc = sagesim_render_customer(&b, page.rows[i], q.has_select ? q.select : NULL, NULL);
    }
    if (rc == MLC_OK)
        rc = mlc_buf_puts(&b, "]");
    if (rc == MLC_OK && page.truncated) {
        rc = mlc_buf_puts(&b, ",\"@odata.nextLink\":\"");
        if (rc == MLC_OK)
            rc = next_link(&b, org, req, ps);
        if (rc == MLC_OK)
            rc = mlc_buf_puts(&b, "\"");
    }
    if (rc == MLC_OK)
        rc = mlc_buf_puts(&b, "}");
    if (rc != MLC_OK) {
        sagesim_error(res, 500, "InternalServerError", "response too large");
        goto out;
    }
    odata_ok(res, &b);
    if (app->srv) {
        sim_counter_add(app->srv, "customers.rendered", (long)page.nrows);
        sim_counter_add(app->srv, "pages", 1);
    }
out:
    mlc_buf_free(&b);
    sagesim_page_free(&page);
    sagesim_query_free(&q);
}

static void customer_by_key(struct sagesim_app *app, const struct sim_request *req,
                            struct sim_response *res, const struct sagesim_company *co,
                            const char *ctxbase, const char *keytext)
{
    struct sagesim_query q;
    struct mlc_buf b, prefix;
    char msg[512];
    char *key = NULL;
    mlc_buf_init(&b, PAGE_BODY_MAX);
    mlc_buf_init(&prefix, 64 * 1024);
    memset(&q, 0, sizeof q);
    sim_response_route(res, "ARCustomers.key");
    key = parse_key(keytext, "CustomerNumber");
    if (!key) {
        snprintf(msg, sizeof msg, "The key value '%.200s' is not valid for 'ARCustomers'.",
                 keytext);
        sagesim_error(res, 400, "InvalidEntityKey", msg);
        goto out;
    }
    if (sagesim_query_parse(req, &q, msg, sizeof msg) < 0) {
        sagesim_error(res, 400, "InvalidParameters", msg);
        goto out;
    }
    const struct sagesim_customer *c = sagesim_company_find(co, key);
    if (!c) {
        sagesim_error(res, 404, "RecordNotFound",
                      "A Record cannot be found for the specified entity key");
        goto out;
    }
    char org[300];
    origin(app, req, org, sizeof org);
    mlc_rc rc =
        mlc_buf_printf(&prefix, "\"@odata.context\":\"%s%s$metadata#ARCustomers", org, ctxbase);
    if (rc == MLC_OK && q.has_select)
        rc = mlc_buf_printf(&prefix, "(%s)", q.select_list);
    if (rc == MLC_OK)
        rc = mlc_buf_puts(&prefix, "/$entity\",");
    if (rc == MLC_OK)
        rc = sagesim_render_customer(&b, c, q.has_select ? q.select : NULL, mlc_buf_str(&prefix));
    if (rc != MLC_OK) {
        sagesim_error(res, 500, "InternalServerError", "response too large");
        goto out;
    }
    odata_ok(res, &b);
    if (app->srv)
        sim_counter_add(app->srv, "customers.rendered", 1);
out:
    free(key);
    sagesim_query_free(&q);
    mlc_buf_free(&b);
    mlc_buf_free(&prefix);
}

static mlc_rc render_terms(struct mlc_buf *b, const struct sagesim_terms *t, int64_t dlm)
{
    mlc_rc rc = mlc_buf_puts(b, "{\"TermsCode\":");
    if (rc == MLC_OK)
        rc = sagesim_json_string(b, t->code);
    if (rc == MLC_OK)
        rc = mlc_buf_puts(b, ",\"Description\":");
    if (rc == MLC_OK)
        rc = sagesim_json_string(b, t->description);
    if (rc == MLC_OK)
        rc = mlc_buf_puts(b, ",\"Status\":\"Active\",\"InactiveDate\":null,"
                             "\"DateLastMaintained\":");
    if (rc == MLC_OK)
        rc = sagesim_json_date(b, dlm);
    if (rc == MLC_OK)
        rc = mlc_buf_printf(
            b,
            ",\"UsePaymentSchedule\":\"No\",\"CalculationBaseForDiscountwithTax\":\"Excluded\","
            "\"DiscountType\":\"DaysFromInvoiceDate\",\"DueDateType\":\"DaysFromInvoiceDate\","
            "\"NumberOfPayments\":1,\"TotalPercentDue\":100.00000,\"TermsPaymentSchedules\":[{"
            "\"TermsCode\":\"%s\",\"PaymentNumber\":1,\"PercentDue\":100.00000,"
            "\"DiscountPercent\":%d.00000,\"DiscountNumberOfDays\":%d,\"DiscountDayOfMonth\":0,"
            "\"DueNumberOfDays\":%d,\"DueDayOfMonth\":0,\"UpdateOperation\":\"Unspecified\"}]}",
            t->code, t->disc_pct, t->disc_days, t->due_days);
    return rc;
}

static void terms(struct sagesim_app *app, const struct sim_request *req, struct sim_response *res,
                  const char *ctxbase, const char *keytext)
{
    struct mlc_buf b;
    char org[300], *key = NULL;
    int64_t dlm = sagesim_days_from_civil(2020, 1, 6);
    mlc_buf_init(&b, 1 << 20);
    origin(app, req, org, sizeof org);
    mlc_rc rc;
    if (keytext) {
        sim_response_route(res, "ARTerms.key");
        key = parse_key(keytext, "TermsCode");
        if (!key) {
            sagesim_error(res, 400, "InvalidEntityKey",
                          "The key value is not valid for 'ARTerms'.");
            goto out;
        }
        const struct sagesim_terms *t = NULL;
        for (size_t i = 0; i < sagesim_nterms; i++)
            if (strcmp(sagesim_terms[i].code, key) == 0)
                t = &sagesim_terms[i];
        if (!t) {
            sagesim_error(res, 404, "RecordNotFound",
                          "A Record cannot be found for the specified entity key");
            goto out;
        }
        rc = render_terms(&b, t, dlm);
        if (rc == MLC_OK) {
            /* splice the context in after '{' */
            struct mlc_buf o;
            mlc_buf_init(&o, 1 << 20);
            rc = mlc_buf_printf(&o, "{\"@odata.context\":\"%s%s$metadata#ARTerms/$entity\",%s", org,
                                ctxbase, mlc_buf_str(&b) + 1);
            mlc_buf_free(&b);
            b = o;
        }
    } else {
        sim_response_route(res, "ARTerms.list");
        rc = mlc_buf_printf(&b, "{\"@odata.context\":\"%s%s$metadata#ARTerms\",\"value\":[", org,
                            ctxbase);
        for (size_t i = 0; rc == MLC_OK && i < sagesim_nterms; i++) {
            if (i)
                rc = mlc_buf_puts(&b, ",");
            if (rc == MLC_OK)
                rc = render_terms(&b, &sagesim_terms[i], dlm);
        }
        if (rc == MLC_OK)
            rc = mlc_buf_puts(&b, "]}");
    }
    if (rc != MLC_OK) {
        sagesim_error(res, 500, "InternalServerError", "response too large");
        goto out;
    }
    odata_ok(res, &b);
out:
    free(key);
    mlc_buf_free(&b);
}

void sagesim_handle(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct sagesim_app *app = ctx;
    struct segs s;
    char msg[600];
    const struct sagesim_company *co;
    if (!segs_split(req->raw_path, &s) || s.n < 3 || strcasecmp(s.dec[0], "Sage300WebApi") != 0 ||
        strcasecmp(s.dec[1], "v1.0") != 0 || strcmp(s.dec[2], "-") != 0) {
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
            (void)put_safe_url(&cb, s.raw[i]);
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
        terms(app, req, res, ctxbase, keytext);
    } else if (keytext) {
        customer_by_key(app, req, res, co, ctxbase, keytext);
    } else {
        customers_list(app, req, res, co, ctxbase);
    }
out:
    segs_free(&s);
}

/* ---- control API ------------------------------------------------------- */

static struct sagesim_app *ctl_app(void *ctx)
{
    return ctx;
}

static void ctl_error(struct sim_response *res, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    sim_response_json(res, status, o);
}

static void date_string(int64_t days, char *out, size_t outsz)
{
    int y, m, d;
    sagesim_civil_from_days(days, &y, &m, &d);
    snprintf(out, outsz, "%04d-%02d-%02d", y, m, d);
}

static void ctl_today(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct sagesim_app *app = ctl_app(ctx);
    if (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0) {
        cJSON *doc = cJSON_ParseWithLength(req->body, req->body_len);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "today");
        int64_t days;
        bool ok = cJSON_IsString(t) && sagesim_parse_date(t->valuestring, &days);
        cJSON_Delete(doc);
        if (!ok) {
            ctl_error(res, 400, "body must be {\"today\":\"YYYY-MM-DD\"}");
            return;
        }
        app->store.today = days;
    } else if (strcmp(req->method, "GET") != 0) {
        ctl_error(res, 405, "use GET or PUT");
        return;
    }
    char d[16];
    date_string(app->store.today, d, sizeof d);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "today", d);
    sim_response_json(res, 200, o);
}

static cJSON *settings_json(const struct sagesim_app *app)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "page_size", (double)app->set.page_size);
    cJSON_AddStringToObject(o, "password_mode", pw_names[app->set.password_mode]);
    cJSON_AddStringToObject(o, "user_case", uc_names[app->set.user_case]);
    cJSON_AddStringToObject(o, "content_type_rule", ct_names[app->set.content_type_rule]);
    cJSON_AddStringToObject(o, "unknown_company", co_names[app->set.unknown_company]);
    cJSON_AddBoolToObject(o, "allow_admin", app->set.allow_admin);
    return o;
}

static void ctl_settings(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct sagesim_app *app = ctl_app(ctx);
    if (strcmp(req->method, "GET") != 0) {
        struct sagesim_settings ns = app->set;
        cJSON *doc = cJSON_ParseWithLength(req->body, req->body_len);
        const cJSON *it;
        const char *bad = NULL;
        if (!cJSON_IsObject(doc))
            bad = "body must be a JSON object";
        cJSON_ArrayForEach(it, doc)
        {
            if (bad)
                break;
            const char *k = it->string;
            const char *sv = cJSON_IsString(it) ? it->valuestring : "";
            if (strcmp(k, "page_size") == 0) {
                if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > 100000)
                    bad = "page_size must be 1..100000";
                else
                    ns.page_size = (long)it->valuedouble;
            } else if (strcmp(k, "password_mode") == 0) {
                if (!sagesim_parse_pw_mode(sv, &ns.password_mode))
                    bad = "password_mode must be upper or exact";
            } else if (strcmp(k, "user_case") == 0) {
                if (!sagesim_parse_user_case(sv, &ns.user_case))
                    bad = "user_case must be upper or fold";
            } else if (strcmp(k, "content_type_rule") == 0) {
                if (!sagesim_parse_ct_rule(sv, &ns.content_type_rule))
                    bad = "content_type_rule must be all, writes or off";
            } else if (strcmp(k, "unknown_company") == 0) {
                if (!sagesim_parse_unknown_co(sv, &ns.unknown_company))
                    bad = "unknown_company must be dblink, notfound or unauthorized";
            } else if (strcmp(k, "allow_admin") == 0) {
                if (!cJSON_IsBool(it))
                    bad = "allow_admin must be true or false";
                else
                    ns.allow_admin = cJSON_IsTrue(it);
            } else {
                bad = "unknown setting";
            }
        }
        cJSON_Delete(doc);
        if (bad) {
            ctl_error(res, 400, bad);
            return;
        }
        app->set = ns;
    }
    sim_response_json(res, 200, settings_json(app));
}

static void ctl_companies_list(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct sagesim_app *app = ctl_app(ctx);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < app->store.nco; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "code", app->store.co[i].code);
        cJSON_AddNumberToObject(o, "customers", (double)app->store.co[i].n);
        cJSON_AddItemToArray(arr, o);
    }
    sim_response_json(res, 200, arr);
}

static bool param_false(const struct sim_request *req, const char *name)
{
    const char *v = sim_request_param(req, name);
    bool b;
    return v && mlc_parse_bool(v, &b) && !b;
}

static cJSON *customer_json(const struct sagesim_customer *c)
{
    struct mlc_buf b;
    mlc_buf_init(&b, 1 << 24);
    cJSON *o = NULL;
    if (sagesim_render_customer(&b, c, NULL, NULL) == MLC_OK)
        o = cJSON_Parse(mlc_buf_str(&b));
    mlc_buf_free(&b);
    return o;
}

/* Builds base+obj and stamps DateLastMaintained unless told not to. */
static struct sagesim_customer *merged(struct sagesim_app *app, const struct sagesim_customer *base,
                                       const cJSON *obj, bool stamp, char *msg, size_t msgsz)
{
    struct sagesim_customer *c = sagesim_customer_merge(base, obj, msg, msgsz);
    if (c && stamp)
        c->v[sagesim_f_datelastmaintained].i = app->store.today;
    return c;
}

static void ctl_company(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct sagesim_app *app = ctl_app(ctx);
    struct segs s;
    char msg[400] = "";
    cJSON *doc = NULL;
    if (!segs_split(req->raw_path, &s) || s.n < 3) {
        ctl_error(res, 404, "no such control route");
        goto out;
    }
    /* s: _sim companies CO [customers [KEY] | touch] */
    if (s.n == 3) {
        if (strcmp(req->method, "POST") != 0) {
            ctl_error(res, 405, "use POST to create a company");
            goto out;
        }
        if (!sagesim_store_add_company(&app->store, s.dec[2])) {
            ctl_error(res, 400, "company codes are 1-15 letters or digits");
            goto out;
        }
        ctl_companies_list(ctx, req, res);
        res->status = 201;
        goto out;
    }
    struct sagesim_company *co = sagesim_store_company(&app->store, s.dec[2]);
    if (!co) {
        ctl_error(res, 404, "no such company");
        goto out;
    }
    bool stamp = !param_false(req, "stamp");
    if (s.n == 4 && strcmp(s.dec[3], "customers") == 0) {
        if (strcmp(req->method, "POST") != 0) {
            ctl_error(res, 405, "use POST to add customers");
            goto out;
        }
        doc = cJSON_ParseWithLength(req->body, req->body_len);
        if (!doc) {
            ctl_error(res, 400, "body must be JSON");
            goto out;
        }
        bool upsert = sim_request_param(req, "upsert") && !param_false(req, "upsert");
        cJSON *one = NULL;
        const cJSON *list = doc;
        if (cJSON_IsObject(doc)) {
            one = cJSON_CreateArray();
            cJSON_AddItemReferenceToArray(one, doc);
            list = one;
        }
        if (!cJSON_IsArray(list)) {
            ctl_error(res, 400, "body must be a customer object or an array of them");
            goto out;
        }
        /* validate everything first so a bad element adds nothing */
        size_t n = (size_t)cJSON_GetArraySize(list), k = 0;
        struct sagesim_customer **made = calloc(n ? n : 1, sizeof *made);
        const cJSON *it;
        bool ok = made != NULL;
        cJSON_ArrayForEach(it, list)
        {
            if (!ok)
                break;
            made[k] = merged(app, NULL, it, stamp, msg, sizeof msg);
            if (!made[k]) {
                ok = false;
                break;
            }
            if (!upsert && sagesim_company_find(co, made[k]->v[SAGESIM_F_CUSTOMERNUMBER].s)) {
                snprintf(msg, sizeof msg, "customer '%.40s' exists",
                         made[k]->v[SAGESIM_F_CUSTOMERNUMBER].s);
                k++;
                ok = false;
                break;
            }
            k++;
        }
        if (!ok) {
            for (size_t i = 0; i < k; i++)
                free(made[i]);
            free(made);
            cJSON_Delete(one);
            ctl_error(res, strstr(msg, "exists") ? 409 : 400, made ? msg : "out of memory");
            goto out;
        }
        for (size_t i = 0; i < k; i++)
            sagesim_company_put(co, made[i]);
        free(made);
        cJSON_Delete(one);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "added", (double)k);
        cJSON_AddNumberToObject(o, "customers", (double)co->n);
        sim_response_json(res, 201, o);
        goto out;
    }
    if (s.n == 5 && strcmp(s.dec[3], "customers") == 0) {
        const char *key = s.dec[4];
        struct sagesim_customer *c = sagesim_company_find(co, key);
        if (!c) {
            ctl_error(res, 404, "no such customer");
            goto out;
        }
        if (strcmp(req->method, "GET") == 0) {
            sim_response_json(res, 200, customer_json(c));
        } else if (strcmp(req->method, "DELETE") == 0) {
            sagesim_company_delete(co, key);
            sim_response_json(res, 200, cJSON_CreateObject());
        } else if (strcmp(req->method, "PATCH") == 0 || strcmp(req->method, "PUT") == 0) {
            doc = cJSON_ParseWithLength(req->body, req->body_len);
            if (!cJSON_IsObject(doc)) {
                ctl_error(res, 400, "body must be a JSON object");
                goto out;
            }
            const cJSON *kn = cJSON_GetObjectItemCaseSensitive(doc, "CustomerNumber");
            if (kn && (!cJSON_IsString(kn) || strcmp(kn->valuestring, key) != 0)) {
                ctl_error(res, 400, "CustomerNumber cannot change");
                goto out;
            }
            struct sagesim_customer *nc = merged(app, c, doc, stamp, msg, sizeof msg);
            if (!nc) {
                ctl_error(res, 400, msg);
                goto out;
            }
            sagesim_company_put(co, nc);
            sim_response_json(res, 200, customer_json(nc));
        } else {
            ctl_error(res, 405, "use GET, PATCH or DELETE");
        }
        goto out;
    }
    if (s.n == 4 && strcmp(s.dec[3], "touch") == 0 && strcmp(req->method, "POST") == 0) {
        doc = cJSON_ParseWithLength(req->body, req->body_len);
        const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(doc, "count");
        const cJSON *set = cJSON_GetObjectItemCaseSensitive(doc, "set");
        if (!cJSON_IsNumber(cnt) || cnt->valuedouble < 0 || (set && !cJSON_IsObject(set)) ||
            cJSON_GetObjectItemCaseSensitive(set, "CustomerNumber")) {
            ctl_error(res, 400, "body must be {\"count\":N, \"set\":{properties}}");
            goto out;
        }
        size_t want = (size_t)cnt->valuedouble;
        if (want > co->n)
            want = co->n;
        cJSON *empty = cJSON_CreateObject();
        cJSON *keys = cJSON_CreateArray();
        for (size_t j = 0; j < want; j++) {
            size_t idx = j * co->n / want;
            struct sagesim_customer *nc =
                merged(app, co->cust[idx], set ? set : empty, true, msg, sizeof msg);
            if (!nc) {
                cJSON_Delete(empty);
                cJSON_Delete(keys);
                ctl_error(res, 400, msg);
                goto out;
            }
            cJSON_AddItemToArray(keys, cJSON_CreateString(nc->v[SAGESIM_F_CUSTOMERNUMBER].s));
            free(co->cust[idx]);
            co->cust[idx] = nc; /* same key: position unchanged */
        }
        cJSON_Delete(empty);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "touched", keys);
        sim_response_json(res, 200, o);
        goto out;
    }
    ctl_error(res, 404, "no such control route");
out:
    cJSON_Delete(doc);
    segs_free(&s);
}

bool sagesim_register_controls(struct sim_server *srv)
{
    return sim_server_add_control(srv, NULL, "/_sim/today", ctl_today) &&
           sim_server_add_control(srv, NULL, "/_sim/settings", ctl_settings) &&
           sim_server_add_control(srv, "GET", "/_sim/companies", ctl_companies_list) &&
           sim_server_add_control(srv, NULL, "/_sim/companies/", ctl_company);
}
