/* sagesim_resources.c - the AR resources of the Sage 300 sandbox: the
 * ARCustomers collection (query options, paging with @odata.nextLink) and
 * entity, ARTerms, and the OData envelope they share (@odata.context from the
 * request's origin, entity keys, the OData JSON content type).
 */
#include "mlc_alloc.h"
#include "sagesim_internal.h"

#include "mlc_buf.h"
#include "mlc_str.h"
#include "sagesim_filter.h"
#include "sagesim_query.h"
#include "sagesim_render.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_BODY_MAX ((size_t)1 << 30)
#define ODATA_JSON                                                                                 \
    "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; "    \
    "charset=utf-8"

/* ---- OData envelope --------------------------------------------------- */

/* Appends url with the bytes that could break a JSON string or are not
 * allowed in a URL (", \\, controls, space, non-ASCII) percent-encoded, so
 * echoed request paths are always safe inside JSON. */
mlc_rc sagesim_put_safe_url(struct mlc_buf *b, const char *url)
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

/* The origin of links: --public-base, else "http://HOST" of the request (Host
 * header, else the bound address). */
static void origin(const struct sagesim_app *app, const struct sim_request *req, char *out,
                   size_t outsz)
{
    const char *host = sim_request_header(req, "Host");
    if (app->set.public_base[0])
        snprintf(out, outsz, "%s", app->set.public_base);
    else if (host && host_ok(host))
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
    char *out = mlc_xmalloc(len + 1);
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

/* Appends the nextLink URL (docs/sage300-api.md, server paging: GetNextPageLink of ASP.NET OData).
 */
static mlc_rc next_link(struct mlc_buf *b, const char *org, const struct sim_request *req,
                        long page_size)
{
    long skip = page_size;
    mlc_rc rc = mlc_buf_puts(b, org);
    if (rc == MLC_OK)
        rc = sagesim_put_safe_url(b, req->raw_path);
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

void sagesim_serve_customers_list(struct sagesim_app *app, const struct sim_request *req,
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
    sagesim_query_run(co, &q, ps, &page);
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

void sagesim_serve_customer_by_key(struct sagesim_app *app, const struct sim_request *req,
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

void sagesim_serve_terms(struct sagesim_app *app, const struct sim_request *req,
                         struct sim_response *res, const char *ctxbase, const char *keytext)
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
