/* sagesim_control.c - the /_sim/ control API of mlc-sage-sim (see
 * sagesim_routes.h): today's date, the settings, companies and their
 * customers; and the parsers of the option values the settings share with
 * main.c's command line.
 */
#include "mlc_alloc.h"
#include "sagesim_internal.h"

#include "mlc_buf.h"
#include "mlc_str.h"
#include "sagesim_filter.h"
#include "sagesim_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

bool sagesim_parse_public_base(const char *s, char *out, size_t outsz)
{
    size_t n, skip;

    if (strncmp(s, "http://", 7) == 0)
        skip = 7;
    else if (strncmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr("\"\\?#<>", *p))
            return false;
    if (!mlc_strlcpy(out, s, outsz))
        return false;
    n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    return out[skip] != '\0' && out[skip] != '/'; /* a host */
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

/* POST /_sim/companies/CO/customers: one customer object or an array; all
 * are validated before any is added (?upsert=true replaces existing ones). */
static void ctl_add_customers(struct sagesim_app *app, struct sagesim_company *co, bool stamp,
                              const struct sim_request *req, struct sim_response *res)
{
    char msg[400] = "";
    cJSON *doc = NULL, *one = NULL;
    struct sagesim_customer **made = NULL;
    size_t n, k = 0;
    const cJSON *list, *it;
    bool ok;

    if (strcmp(req->method, "POST") != 0) {
        ctl_error(res, 405, "use POST to add customers");
        return;
    }
    doc = cJSON_ParseWithLength(req->body, req->body_len);
    if (!doc) {
        ctl_error(res, 400, "body must be JSON");
        return;
    }
    bool upsert = sim_request_param(req, "upsert") && !param_false(req, "upsert");
    list = doc;
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
    n = (size_t)cJSON_GetArraySize(list);
    made = mlc_xcalloc(n ? n : 1, sizeof *made);
    ok = true;
    cJSON_ArrayForEach(it, list)
    {
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
        ctl_error(res, strstr(msg, "exists") ? 409 : 400, msg);
        goto out;
    }
    for (size_t i = 0; i < k; i++)
        sagesim_company_put(co, made[i]);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "added", (double)k);
    cJSON_AddNumberToObject(o, "customers", (double)co->n);
    sim_response_json(res, 201, o);
out:
    free(made);
    cJSON_Delete(one);
    cJSON_Delete(doc);
}

/* GET, PATCH (or PUT) and DELETE /_sim/companies/CO/customers/KEY. */
static void ctl_one_customer(struct sagesim_app *app, struct sagesim_company *co, const char *key,
                             bool stamp, const struct sim_request *req, struct sim_response *res)
{
    struct sagesim_customer *c = sagesim_company_find(co, key);
    char msg[400] = "";
    cJSON *doc = NULL;

    if (!c) {
        ctl_error(res, 404, "no such customer");
        return;
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
out:
    cJSON_Delete(doc);
}

/* Decimal cell f of c as a JSON-ready double. */
static double dec_of(const struct sagesim_customer *c, const char *name)
{
    return (double)c->v[sagesim_field_index(name)].i / SAGESIM_DEC_SCALE;
}

/* POST /_sim/companies/CO/customers/KEY/documents: posts one AR document the
 * way Sage's AR batch posting does, which moves the customer's balance
 * properties and never DateLastMaintained. Body:
 *   {"type":"invoice"|"receipt", "amount":N (0 < N < 10^9),
 *    "date":"YYYY-MM-DD" (default: today), "past_due":true|false (invoices
 *    only: already overdue, counted in AmountPastDue; default false)}
 * invoice: balance (both currencies, rate 1) += N, open documents += 1,
 *          DateOfLastInvoice and LastInvoiceAmount* = the document's;
 * receipt: balance -= N, AmountPastDue -= min(N, past due), open documents
 *          -= 1 (0 once the balance is 0 or less), DateOfLastReceipt and
 *          LastReceipt* = the document's.
 * DateOfLastActivity follows either. Answers the customer as GET does. */
static void ctl_document(struct sagesim_app *app, struct sagesim_company *co, const char *key,
                         const struct sim_request *req, struct sim_response *res)
{
    struct sagesim_customer *c = sagesim_company_find(co, key), *nc;
    cJSON *doc = NULL, *patch = NULL;
    const cJSON *type, *amount, *date, *past;
    char msg[400] = "", day[11];
    double a, bal, pdue, docs;
    int64_t days;
    bool invoice;

    if (!c) {
        ctl_error(res, 404, "no such customer");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        ctl_error(res, 405, "use POST to post a document");
        return;
    }
    doc = cJSON_ParseWithLength(req->body, req->body_len);
    type = cJSON_GetObjectItemCaseSensitive(doc, "type");
    amount = cJSON_GetObjectItemCaseSensitive(doc, "amount");
    date = cJSON_GetObjectItemCaseSensitive(doc, "date");
    past = cJSON_GetObjectItemCaseSensitive(doc, "past_due");
    if (!cJSON_IsObject(doc) || !cJSON_IsString(type) ||
        (strcmp(type->valuestring, "invoice") != 0 && strcmp(type->valuestring, "receipt") != 0)) {
        ctl_error(res, 400, "type must be \"invoice\" or \"receipt\"");
        goto out;
    }
    if (!cJSON_IsNumber(amount) || !(amount->valuedouble > 0) || amount->valuedouble >= 1e9) {
        ctl_error(res, 400, "amount must be a number above 0 and below 1000000000");
        goto out;
    }
    days = app->store.today;
    if (date && (!cJSON_IsString(date) || !sagesim_parse_date(date->valuestring, &days))) {
        ctl_error(res, 400, "date must be YYYY-MM-DD");
        goto out;
    }
    if (past && !cJSON_IsBool(past)) {
        ctl_error(res, 400, "past_due must be true or false");
        goto out;
    }
    invoice = strcmp(type->valuestring, "invoice") == 0;
    if (!invoice && cJSON_IsTrue(past)) {
        ctl_error(res, 400, "past_due applies to invoices only");
        goto out;
    }
    date_string(days, day, sizeof day);
    a = amount->valuedouble;
    bal = dec_of(c, "BalanceDueInCustomerCurrency");
    pdue = dec_of(c, "AmountPastDue");
    docs = (double)c->v[sagesim_field_index("NumberOfOpenDocuments")].i / SAGESIM_DEC_SCALE;
    if (invoice) {
        bal += a;
        docs += 1;
        if (cJSON_IsTrue(past))
            pdue += a;
    } else {
        bal -= a;
        pdue -= a < pdue ? a : pdue;
        docs = bal <= 0 || docs < 1 ? 0 : docs - 1;
    }
    patch = cJSON_CreateObject();
    cJSON_AddNumberToObject(patch, "BalanceDueInCustomerCurrency", bal);
    cJSON_AddNumberToObject(patch, "BalanceDueInFunctionalCurrency", bal);
    cJSON_AddNumberToObject(patch, "AmountPastDue", pdue);
    cJSON_AddNumberToObject(patch, "NumberOfOpenDocuments", docs);
    cJSON_AddStringToObject(patch, invoice ? "DateOfLastInvoice" : "DateOfLastReceipt", day);
    cJSON_AddNumberToObject(
        patch, invoice ? "LastInvoiceAmountCustomerCurrency" : "LastReceiptCustomerCurrency", a);
    cJSON_AddNumberToObject(
        patch, invoice ? "LastInvoiceAmountFunctionalCurrency" : "LastReceiptFunctionalCurrency",
        a);
    cJSON_AddStringToObject(patch, "DateOfLastActivity", day);
    nc = merged(app, c, patch, false, msg, sizeof msg); /* posting never stamps */
    if (!nc) {
        ctl_error(res, 400, msg);
        goto out;
    }
    sagesim_company_put(co, nc);
    sim_response_json(res, 200, customer_json(nc));
out:
    cJSON_Delete(patch);
    cJSON_Delete(doc);
}

/* POST /_sim/companies/CO/touch {"count":N, "set":{...}}: N customers spread
 * over the company get a new stamp (and the properties in set). */
static void ctl_touch(struct sagesim_app *app, struct sagesim_company *co,
                      const struct sim_request *req, struct sim_response *res)
{
    char msg[400] = "";
    cJSON *doc = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(doc, "count");
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(doc, "set");
    cJSON *empty = NULL, *keys = NULL;

    if (!cJSON_IsNumber(cnt) || cnt->valuedouble < 0 || (set && !cJSON_IsObject(set)) ||
        cJSON_GetObjectItemCaseSensitive(set, "CustomerNumber")) {
        ctl_error(res, 400, "body must be {\"count\":N, \"set\":{properties}}");
        goto out;
    }
    size_t want = (size_t)cnt->valuedouble;
    if (want > co->n)
        want = co->n;
    empty = cJSON_CreateObject();
    keys = cJSON_CreateArray();
    for (size_t j = 0; j < want; j++) {
        size_t idx = j * co->n / want;
        struct sagesim_customer *nc =
            merged(app, co->cust[idx], set ? set : empty, true, msg, sizeof msg);
        if (!nc) {
            ctl_error(res, 400, msg);
            goto out;
        }
        cJSON_AddItemToArray(keys, cJSON_CreateString(nc->v[SAGESIM_F_CUSTOMERNUMBER].s));
        free(co->cust[idx]);
        co->cust[idx] = nc; /* same key: position unchanged */
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "touched", keys);
    keys = NULL;
    sim_response_json(res, 200, o);
out:
    cJSON_Delete(keys);
    cJSON_Delete(empty);
    cJSON_Delete(doc);
}

/* /_sim/companies/CO[/customers[/KEY[/documents]] | /touch] */
static void ctl_company(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct sagesim_app *app = ctl_app(ctx);
    struct sagesim_company *co;
    struct segs s;

    if (!sagesim_segs_split(req->raw_path, &s) || s.n < 3) {
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
    co = sagesim_store_company(&app->store, s.dec[2]);
    if (!co) {
        ctl_error(res, 404, "no such company");
        goto out;
    }
    bool stamp = !param_false(req, "stamp");
    if (s.n == 4 && strcmp(s.dec[3], "customers") == 0)
        ctl_add_customers(app, co, stamp, req, res);
    else if (s.n == 5 && strcmp(s.dec[3], "customers") == 0)
        ctl_one_customer(app, co, s.dec[4], stamp, req, res);
    else if (s.n == 6 && strcmp(s.dec[3], "customers") == 0 && strcmp(s.dec[5], "documents") == 0)
        ctl_document(app, co, s.dec[4], req, res);
    else if (s.n == 4 && strcmp(s.dec[3], "touch") == 0 && strcmp(req->method, "POST") == 0)
        ctl_touch(app, co, req, res);
    else
        ctl_error(res, 404, "no such control route");
out:
    sagesim_segs_free(&s);
}

bool sagesim_register_controls(struct sim_server *srv)
{
    return sim_server_add_control(srv, NULL, "/_sim/today", ctl_today) &&
           sim_server_add_control(srv, NULL, "/_sim/settings", ctl_settings) &&
           sim_server_add_control(srv, "GET", "/_sim/companies", ctl_companies_list) &&
           sim_server_add_control(srv, NULL, "/_sim/companies/", ctl_company);
}
