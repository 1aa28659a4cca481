/* pdsim_routes.c - routing, auth, limits, headers and the Pipedrive operations. */
#include "pdsim_routes.h"

#include "mlc_str.h"
#include "pdsim_search.h"
#include "pdsim_validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSG_MAX 512

static const char *const header_names[PDSIM_H_COUNT] = {
    "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
    "x-daily-ratelimit-token-limit", "x-daily-ratelimit-token-remaining"};

static const char cloudflare_page[] =
    "<!DOCTYPE html>\n"
    "<!--[if lt IE 7]> <html class=\"no-js ie6 oldie\" lang=\"en-US\"> <![endif]-->\n"
    "<html class=\"no-js\" lang=\"en-US\">\n<head>\n"
    "<title>Attention Required! | Cloudflare</title>\n"
    "<meta charset=\"UTF-8\" />\n</head>\n<body>\n"
    "<div id=\"cf-wrapper\">\n<div id=\"cf-error-details\" class=\"cf-error-details-wrapper\">\n"
    "<h1 data-translate=\"block_headline\">Sorry, you have been blocked</h1>\n"
    "<h2 class=\"cf-subheadline\"><span data-translate=\"unable_to_access\">You are unable to "
    "access</span> pipedrive.com</h2>\n"
    "<p>This website is using a security service to protect itself from online attacks.</p>\n"
    "<p>Cloudflare Ray ID: <strong class=\"font-semibold\">8f3a1c2b4d5e6f70</strong></p>\n"
    "</div>\n</div>\n</body>\n</html>\n";

static long long real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pdsim_options_default(struct pdsim_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->plan = PDSIM_PLAN_GROWTH;
    opt->seats = 1;
    opt->day_length_s = 86400;
    opt->deleted_status = 404;
    opt->block_s = 60;
}

/* ---- cursors (base64url, no padding) ---------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *pdsim_cursor_encode(const char *text)
{
    size_t n = strlen(text), o = 0;
    char *out = malloc(n / 3 * 4 + 8);
    if (!out)
        return NULL;
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
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
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

/* ---- envelopes -------------------------------------------------------- */

static void ok_json(struct sim_response *res, cJSON *data, cJSON *additional)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddTrueToObject(doc, "success");
    cJSON_AddItemToObject(doc, "data", data ? data : cJSON_CreateNull());
    if (additional)
        cJSON_AddItemToObject(doc, "additional_data", additional);
    sim_response_json(res, 200, doc);
}

static void error_envelope(struct sim_response *res, int status, const char *error,
                           const char *info)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddFalseToObject(doc, "success");
    cJSON_AddStringToObject(doc, "error", error);
    cJSON_AddStringToObject(doc, "error_info",
                            info ? info : "Please check developers.pipedrive.com");
    cJSON_AddNullToObject(doc, "data");
    cJSON_AddNullToObject(doc, "additional_data");
    sim_response_json(res, status, doc);
}

static void validation_error(struct pdsim *sim, struct sim_response *res, const char *msg)
{
    cJSON *doc = cJSON_CreateObject();
    sim->validation_failures++;
    cJSON_AddFalseToObject(doc, "success");
    cJSON_AddStringToObject(doc, "error", msg);
    cJSON_AddStringToObject(doc, "code", "ERR_SCHEMA_VALIDATION_FAILED");
    cJSON_AddStringToObject(doc, "error_info", "Please check developers.pipedrive.com");
    cJSON_AddNullToObject(doc, "data");
    cJSON_AddNullToObject(doc, "additional_data");
    sim_response_json(res, 400, doc);
}

static void not_found(struct sim_response *res)
{
    error_envelope(res, 404, "Entity was not found", "Object was not found.");
}

static void gone_or_missing(struct pdsim *sim, struct sim_response *res)
{
    if (sim->opt.deleted_status == 410)
        error_envelope(res, 410, "Entity is gone", "Object was deleted.");
    else
        not_found(res);
}

cJSON *pdsim_fault_body(void *ctx, int status)
{
    cJSON *doc = cJSON_CreateObject();
    const char *error = status == 429   ? "Request over limit"
                        : status >= 500 ? "An internal server error occurred"
                        : status == 503 ? "Service is temporarily unavailable"
                        : status == 401 ? "unauthorized access"
                                        : "Requested service is not available";
    (void)ctx;
    cJSON_AddFalseToObject(doc, "success");
    cJSON_AddStringToObject(doc, "error", error);
    cJSON_AddNumberToObject(doc, "errorCode", status);
    cJSON_AddStringToObject(doc, "error_info", "Please check developers.pipedrive.com");
    cJSON_AddNullToObject(doc, "data");
    cJSON_AddNullToObject(doc, "additional_data");
    return doc;
}

/* ---- setup ------------------------------------------------------------ */

static void apply_limits_cfg(struct pdsim *sim)
{
    pdsim_limits_cfg_default(&sim->limits, sim->opt.plan, sim->opt.seats > 0 ? sim->opt.seats : 1);
    if (sim->opt.daily_budget > 0)
        sim->limits.daily_budget = sim->opt.daily_budget;
    sim->limits.enabled = !sim->opt.no_limits;
    sim->limits.day_length_s = sim->opt.day_length_s > 0 ? sim->opt.day_length_s : 86400;
    sim->limits.reset_offset_s = sim->opt.reset_offset_s;
    sim->limits.block_after = sim->opt.block_after;
    sim->limits.block_s = sim->opt.block_s > 0 ? sim->opt.block_s : 60;
}

static mlc_rc add_cli_tokens(struct pdsim *sim, struct mlc_err *err)
{
    for (size_t i = 0; i < sim->ncli_tokens; i++) {
        struct pdsim_company *co;
        struct pdsim_token *tok;
        if (pdsim_store_find_token(&sim->store, sim->cli_tokens[i], &co, &tok))
            continue;
        mlc_rc rc = pdsim_company_add_token(&sim->store.companies[0], sim->cli_tokens[i], err);
        if (rc != MLC_OK)
            return rc;
    }
    return MLC_OK;
}

mlc_rc pdsim_init(struct pdsim *sim, const struct pdsim_options *opt, const char *const *tokens,
                  size_t ntokens, const cJSON *state, struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;

    memset(sim, 0, sizeof(*sim));
    sim->opt = *opt;
    sim->now_ms = real_now_ms;
    sim->block_countdown = -1;
    apply_limits_cfg(sim);
    pdsim_store_init(&sim->store);
    sim->cli_tokens = calloc(ntokens + 1, sizeof(char *));
    if (!sim->cli_tokens)
        return mlc_err_set(err, MLC_FATAL, "out of memory");
    for (size_t i = 0; i < ntokens; i++) {
        sim->cli_tokens[i] = strdup(tokens[i]);
        if (!sim->cli_tokens[i]) {
            rc = mlc_err_set(err, MLC_FATAL, "out of memory");
            goto out;
        }
        sim->ncli_tokens++;
    }
    if (state) {
        if ((rc = pdsim_store_load(&sim->store, state, sim->now_ms(), err)) != MLC_OK)
            goto out;
        if (sim->store.ncompanies == 0) {
            rc = mlc_err_set(err, MLC_PERM, "state: at least one company is needed");
            goto out;
        }
    } else if (!pdsim_store_add_company(&sim->store, 1, "Sandbox Company", "sandbox", err)) {
        rc = err ? err->rc : MLC_FATAL;
        goto out;
    }
    rc = add_cli_tokens(sim, err);
out:
    if (rc != MLC_OK)
        pdsim_free(sim);
    return rc;
}

void pdsim_free(struct pdsim *sim)
{
    for (size_t i = 0; i < sim->ncli_tokens; i++)
        free(sim->cli_tokens[i]);
    free(sim->cli_tokens);
    pdsim_store_free(&sim->store);
    memset(sim, 0, sizeof(*sim));
}

/* ---- request helpers -------------------------------------------------- */

static bool param_long(const struct sim_request *req, const char *name, long min, long max,
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

static bool param_bool(const struct sim_request *req, const char *name, bool *out, char *msg,
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

/* Parses the id path segment; false when it is not a positive integer. */
static bool path_id(const char *seg, long *id)
{
    return mlc_parse_long(seg, 1, 2147483647L, id) && seg[0] >= '0' && seg[0] <= '9';
}

static cJSON *parse_body(const struct sim_request *req)
{
    return cJSON_ParseWithLength(req->body, req->body_len);
}

/* Splits a comma list (copy in buf) into up to max items; returns count or -1 if too many. */
static int split_list(char *buf, const char **items, int max)
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
static bool parse_selection(struct pdsim_company *co, const struct sim_request *req, char *buf,
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
    *n = split_list(buf, items, 15);
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

/* ---- organizations ---------------------------------------------------- */

struct list_ctx {
    int sort; /* 0 id, 1 update_time, 2 add_time */
    bool desc;
};

static long long sort_key(const struct pdsim_org *o, int sort)
{
    return sort == 1 ? o->update_time : sort == 2 ? o->add_time : o->id;
}

/* True when o comes after the cursor position (key, id) in the listing order. */
static bool after_cursor(const struct pdsim_org *o, long long key, long id,
                         const struct list_ctx *lc)
{
    long long ok = sort_key(o, lc->sort);
    int c = ok < key ? -1 : ok > key ? 1 : (o->id < id ? -1 : o->id > id ? 1 : 0);
    return lc->desc ? c < 0 : c > 0;
}

static int org_ptr_cmp(const void *pa, const void *pb, void *arg)
{
    const struct list_ctx *lc = arg;
    const struct pdsim_org *a = *(const struct pdsim_org *const *)pa;
    const struct pdsim_org *b = *(const struct pdsim_org *const *)pb;
    long long ka = sort_key(a, lc->sort), kb = sort_key(b, lc->sort);
    int c = ka < kb ? -1 : ka > kb ? 1 : (a->id < b->id ? -1 : a->id > b->id ? 1 : 0);
    return lc->desc ? -c : c;
}

static const char *const sort_names[] = {"id", "update_time", "add_time"};

static void org_list(struct pdsim *sim, struct pdsim_company *co, const struct sim_request *req,
                     struct sim_response *res)
{
    char msg[MSG_MAX], selbuf[2048], idsbuf[2048];
    const char *sel[16], *idv[101];
    int nsel = -1, nids = -1;
    long limit, owner = 0;
    long long since = 0, until = 0;
    bool has_since = false, has_until = false;
    struct list_ctx lc = {0, false};
    const char *v;
    long long cur_key = 0;
    long cur_id = 0;
    bool has_cursor = false;
    struct pdsim_org **arr = NULL;
    size_t n = 0;

    if (!param_long(req, "limit", 1, 500, 100, &limit, msg, sizeof(msg)) ||
        !param_long(req, "owner_id", 1, 2147483647L, 0, &owner, msg, sizeof(msg)) ||
        !parse_selection(co, req, selbuf, sizeof(selbuf), sel, &nsel, msg, sizeof(msg)))
        goto invalid;
    if ((v = sim_request_param(req, "updated_since"))) {
        if (!pdsim_time_parse(v, &since)) {
            snprintf(msg, sizeof(msg),
                     "Validation failed: updated_since: Expected an RFC 3339 "
                     "date-time like 2025-01-01T10:20:00Z");
            goto invalid;
        }
        has_since = true;
    }
    if ((v = sim_request_param(req, "updated_until"))) {
        if (!pdsim_time_parse(v, &until)) {
            snprintf(msg, sizeof(msg),
                     "Validation failed: updated_until: Expected an RFC 3339 "
                     "date-time like 2025-01-01T10:20:00Z");
            goto invalid;
        }
        has_until = true;
    }
    if ((v = sim_request_param(req, "sort_by"))) {
        lc.sort = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(v, sort_names[i]) == 0)
                lc.sort = i;
        if (lc.sort < 0) {
            snprintf(msg, sizeof(msg),
                     "Validation failed: sort_by: must be one of id, "
                     "update_time, add_time");
            goto invalid;
        }
    }
    if ((v = sim_request_param(req, "sort_direction"))) {
        if (strcmp(v, "desc") == 0)
            lc.desc = true;
        else if (strcmp(v, "asc") != 0) {
            snprintf(msg, sizeof(msg), "Validation failed: sort_direction: must be asc or desc");
            goto invalid;
        }
    }
    if ((v = sim_request_param(req, "ids")) && !sim_request_param(req, "filter_id")) {
        nids = mlc_strlcpy(idsbuf, v, sizeof(idsbuf)) ? split_list(idsbuf, idv, 100) : -1;
        if (nids < 0) {
            snprintf(msg, sizeof(msg), "Validation failed: ids: at most 100 ids");
            goto invalid;
        }
        for (int i = 0; i < nids; i++) {
            long x;
            if (!mlc_parse_long(idv[i], 1, 2147483647L, &x)) {
                snprintf(msg, sizeof(msg), "Validation failed: ids: Expected integers");
                goto invalid;
            }
        }
    }
    if ((v = sim_request_param(req, "cursor"))) {
        char *text = pdsim_cursor_decode(v);
        cJSON *c = text ? cJSON_Parse(text) : NULL;
        const cJSON *field = cJSON_GetObjectItemCaseSensitive(c, "field");
        const cJSON *fv = cJSON_GetObjectItemCaseSensitive(c, "fieldValue");
        const cJSON *dir = cJSON_GetObjectItemCaseSensitive(c, "sortDirection");
        const cJSON *idj = cJSON_GetObjectItemCaseSensitive(c, "id");
        bool ok = cJSON_IsString(field) && strcmp(field->valuestring, sort_names[lc.sort]) == 0 &&
                  cJSON_IsNumber(fv) && cJSON_IsString(dir) &&
                  strcmp(dir->valuestring, lc.desc ? "desc" : "asc") == 0 && cJSON_IsNumber(idj);
        if (ok) {
            cur_key = (long long)fv->valuedouble;
            cur_id = (long)idj->valuedouble;
            has_cursor = true;
        }
        free(text);
        cJSON_Delete(c);
        if (!ok) {
            snprintf(msg, sizeof(msg), "Validation failed: cursor: invalid cursor");
            goto invalid;
        }
    }

    arr = malloc((co->norgs + 1) * sizeof(*arr));
    if (!arr) {
        error_envelope(res, 500, "An internal server error occurred", NULL);
        return;
    }
    bool natural = lc.sort == 0 && !lc.desc;
    for (size_t i = 0; i < co->norgs; i++) {
        struct pdsim_org *o = &co->orgs[i];
        bool in = !o->deleted;
        if (in && owner) {
            const cJSON *ow = cJSON_GetObjectItemCaseSensitive(o->doc, "owner_id");
            in = cJSON_IsNumber(ow) && (long)ow->valuedouble == owner;
        }
        if (in && has_since)
            in = o->update_time >= since;
        if (in && has_until)
            in = o->update_time < until;
        if (in && nids >= 0) {
            bool found = false;
            for (int k = 0; k < nids && !found; k++) {
                long x = 0;
                mlc_parse_long(idv[k], 1, 2147483647L, &x);
                found = x == o->id;
            }
            in = found;
        }
        if (in && has_cursor)
            in = after_cursor(o, cur_key, cur_id, &lc);
        if (in)
            arr[n++] = o;
        if (natural && n > (size_t)limit)
            break; /* the store is sorted by id: one more than a page is enough */
    }
    if (!natural) {
        qsort_r(arr, n, sizeof(*arr), org_ptr_cmp, &lc);
    }

    cJSON *data = cJSON_CreateArray();
    size_t take = n < (size_t)limit ? n : (size_t)limit;
    for (size_t i = 0; i < take; i++)
        cJSON_AddItemToArray(data, pdsim_org_render(co, arr[i], nsel >= 0 ? sel : NULL,
                                                    nsel >= 0 ? (size_t)nsel : 0));
    cJSON *add = cJSON_CreateObject();
    if (take < n) {
        char text[256];
        const struct pdsim_org *last = arr[take - 1];
        snprintf(text, sizeof(text),
                 "{\"field\":\"%s\",\"fieldValue\":%lld,\"sortDirection\":\"%s\",\"id\":%ld}",
                 sort_names[lc.sort], sort_key(last, lc.sort), lc.desc ? "desc" : "asc", last->id);
        char *cur = pdsim_cursor_encode(text);
        cJSON_AddItemToObject(add, "next_cursor",
                              cur ? cJSON_CreateString(cur) : cJSON_CreateNull());
        free(cur);
    } else {
        cJSON_AddNullToObject(add, "next_cursor");
    }
    free(arr);
    ok_json(res, data, add);
    return;
invalid:
    validation_error(sim, res, msg);
}

static void org_get(struct pdsim *sim, struct pdsim_company *co, struct pdsim_org *org,
                    const struct sim_request *req, struct sim_response *res)
{
    char msg[MSG_MAX], selbuf[2048];
    const char *sel[16];
    int nsel = -1;

    if (org->deleted && sim->opt.deleted_status != 200) {
        gone_or_missing(sim, res);
        return;
    }
    if (!parse_selection(co, req, selbuf, sizeof(selbuf), sel, &nsel, msg, sizeof(msg))) {
        validation_error(sim, res, msg);
        return;
    }
    ok_json(res, pdsim_org_render(co, org, nsel >= 0 ? sel : NULL, nsel >= 0 ? (size_t)nsel : 0),
            NULL);
}

static void org_create(struct pdsim *sim, struct pdsim_company *co, const struct sim_request *req,
                       struct sim_response *res)
{
    char msg[MSG_MAX];
    cJSON *body = parse_body(req);
    struct mlc_err err = {0};
    struct pdsim_org *org;

    if (!body) {
        validation_error(sim, res, "Validation failed: body: invalid JSON");
        return;
    }
    if (!pdsim_validate_org(co, body, true, msg, sizeof(msg))) {
        validation_error(sim, res, msg);
        goto out;
    }
    org = pdsim_company_create_org(co, body, sim->now_ms(), sim->opt.index_delay_ms, &err);
    if (!org)
        error_envelope(res, 500, "An internal server error occurred", NULL);
    else
        ok_json(res, pdsim_org_render(co, org, NULL, 0), NULL);
out:
    cJSON_Delete(body);
}

static void org_update(struct pdsim *sim, struct pdsim_company *co, struct pdsim_org *org,
                       const struct sim_request *req, struct sim_response *res)
{
    char msg[MSG_MAX];
    cJSON *body;

    if (org->deleted) {
        gone_or_missing(sim, res);
        return;
    }
    body = parse_body(req);
    if (!body) {
        validation_error(sim, res, "Validation failed: body: invalid JSON");
        return;
    }
    if (!pdsim_validate_org(co, body, false, msg, sizeof(msg)))
        validation_error(sim, res, msg);
    else {
        pdsim_org_apply(org, body, sim->now_ms() / 1000, NULL);
        ok_json(res, pdsim_org_render(co, org, NULL, 0), NULL);
    }
    cJSON_Delete(body);
}

static void org_delete(struct pdsim *sim, struct pdsim_org *org, struct sim_response *res)
{
    cJSON *data;
    if (org->deleted) {
        gone_or_missing(sim, res);
        return;
    }
    pdsim_org_delete(org, sim->now_ms() / 1000);
    data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "id", (double)org->id);
    ok_json(res, data, NULL);
}

/* ---- search ----------------------------------------------------------- */

/* Offset cursors for search and field listings. */
static bool page_params(const struct sim_request *req, long max_limit, long *limit, long *offset,
                        char *msg, size_t msgsz)
{
    const char *c = sim_request_param(req, "cursor");
    *offset = 0;
    if (!param_long(req, "limit", 1, max_limit, 100, limit, msg, msgsz))
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

/* Moves items [offset, offset+limit) of all into a new array; sets next cursor. */
static cJSON *page_slice(cJSON *all, long limit, long offset, cJSON **additional)
{
    cJSON *out = cJSON_CreateArray();
    long total = cJSON_GetArraySize(all);
    cJSON *add = cJSON_CreateObject();
    for (long i = offset; i < total && i < offset + limit; i++)
        cJSON_AddItemToArray(out, cJSON_DetachItemFromArray(all, (int)offset));
    if (offset + limit < total) {
        char text[64];
        snprintf(text, sizeof(text), "{\"offset\":%ld}", offset + limit);
        char *cur = pdsim_cursor_encode(text);
        cJSON_AddItemToObject(add, "next_cursor",
                              cur ? cJSON_CreateString(cur) : cJSON_CreateNull());
        free(cur);
    } else {
        cJSON_AddNullToObject(add, "next_cursor");
    }
    *additional = add;
    return out;
}

static void org_search(struct pdsim *sim, struct pdsim_company *co, const struct sim_request *req,
                       struct sim_response *res)
{
    char msg[MSG_MAX];
    const char *term = sim_request_param(req, "term");
    bool exact;
    unsigned mask;
    long limit, offset;
    cJSON *all, *add, *page, *data;

    if (!term) {
        validation_error(sim, res, "Validation failed: term: is required");
        return;
    }
    if (!param_bool(req, "exact_match", &exact, msg, sizeof(msg)) ||
        !page_params(req, 500, &limit, &offset, msg, sizeof(msg))) {
        validation_error(sim, res, msg);
        return;
    }
    if (!pdsim_search_term_ok(term, exact)) {
        validation_error(sim, res,
                         exact ? "Validation failed: term: must be at least 1 "
                                 "character long"
                               : "Validation failed: term: must be at least 2 "
                                 "characters long");
        return;
    }
    if (!pdsim_search_parse_fields(sim_request_param(req, "fields"), &mask)) {
        validation_error(sim, res,
                         "Validation failed: fields: must be a comma list of address, "
                         "custom_fields, notes, name");
        return;
    }
    all = pdsim_search_orgs(co, term, exact, mask, sim->now_ms());
    page = page_slice(all, limit, offset, &add);
    cJSON_Delete(all);
    data = cJSON_CreateObject();
    cJSON_AddItemToObject(data, "items", page);
    ok_json(res, data, add);
}

static void item_search_field(struct pdsim *sim, struct pdsim_company *co,
                              const struct sim_request *req, struct sim_response *res)
{
    char msg[MSG_MAX];
    const char *term = sim_request_param(req, "term");
    const char *entity = sim_request_param(req, "entity_type");
    const char *key = sim_request_param(req, "field");
    enum pdsim_match mode;
    long limit, offset;
    struct pdsim_field *f;
    cJSON *all, *add, *page;

    if (!term || !entity || !key) {
        snprintf(msg, sizeof(msg), "Validation failed: %s: is required",
                 !term     ? "term"
                 : !entity ? "entity_type"
                           : "field");
        validation_error(sim, res, msg);
        return;
    }
    if (!pdsim_search_parse_match(sim_request_param(req, "match"), &mode)) {
        validation_error(sim, res,
                         "Validation failed: match: must be one of exact, beginning, "
                         "middle");
        return;
    }
    if (!page_params(req, 500, &limit, &offset, msg, sizeof(msg))) {
        validation_error(sim, res, msg);
        return;
    }
    if (!pdsim_search_term_ok(term, mode == PDSIM_MATCH_EXACT)) {
        validation_error(sim, res,
                         mode == PDSIM_MATCH_EXACT
                             ? "Validation failed: term: must be at least 1 character "
                               "long"
                             : "Validation failed: term: must be at least 2 characters "
                               "long");
        return;
    }
    if (strcmp(entity, "organization") != 0) {
        snprintf(msg, sizeof(msg),
                 "Validation failed: entity_type: the sandbox only serves "
                 "'organization'");
        validation_error(sim, res, msg);
        return;
    }
    f = pdsim_company_field(co, key);
    if (!f || f->deleted) {
        snprintf(msg, sizeof(msg), "Validation failed: field: Field '%s' does not exist", key);
        validation_error(sim, res, msg);
        return;
    }
    if (f->is_custom && !pdsim_search_type_searchable(f->type)) {
        snprintf(msg, sizeof(msg),
                 "Validation failed: field: Field '%s' of type '%s' is not "
                 "searchable",
                 key, f->type);
        validation_error(sim, res, msg);
        return;
    }
    all = pdsim_search_field(co, f, term, mode, sim->now_ms());
    page = page_slice(all, limit, offset, &add);
    cJSON_Delete(all);
    ok_json(res, page, add);
}

/* ---- fields and users ------------------------------------------------- */

static void fields_list(struct pdsim *sim, struct pdsim_company *co, const struct sim_request *req,
                        struct sim_response *res, bool v2)
{
    char msg[MSG_MAX];
    cJSON *all = cJSON_CreateArray();

    for (size_t i = 0; i < co->nfields; i++)
        if (!co->fields[i].deleted)
            cJSON_AddItemToArray(all, v2 ? pdsim_field_render_v2(&co->fields[i])
                                         : pdsim_field_render_v1(&co->fields[i]));
    if (v2) {
        long limit, offset;
        cJSON *add, *page;
        if (!page_params(req, 500, &limit, &offset, msg, sizeof(msg))) {
            cJSON_Delete(all);
            validation_error(sim, res, msg);
            return;
        }
        page = page_slice(all, limit, offset, &add);
        cJSON_Delete(all);
        ok_json(res, page, add);
        return;
    }
    long start, limit;
    if (!param_long(req, "start", 0, 2147483647L, 0, &start, msg, sizeof(msg)) ||
        !param_long(req, "limit", 1, 500, 100, &limit, msg, sizeof(msg))) {
        cJSON_Delete(all);
        error_envelope(res, 400, "Bad request", msg);
        return;
    }
    long total = cJSON_GetArraySize(all);
    cJSON *data = cJSON_CreateArray();
    for (long i = start; i < total && i < start + limit; i++)
        cJSON_AddItemToArray(data, cJSON_DetachItemFromArray(all, (int)start));
    cJSON_Delete(all);
    cJSON *add = cJSON_CreateObject();
    cJSON *pg = cJSON_AddObjectToObject(add, "pagination");
    cJSON_AddNumberToObject(pg, "start", (double)start);
    cJSON_AddNumberToObject(pg, "limit", (double)limit);
    cJSON_AddBoolToObject(pg, "more_items_in_collection", start + limit < total);
    if (start + limit < total)
        cJSON_AddNumberToObject(pg, "next_start", (double)(start + limit));
    ok_json(res, data, add);
}

static void fields_create(struct pdsim *sim, struct pdsim_company *co,
                          const struct sim_request *req, struct sim_response *res, bool v2)
{
    char msg[MSG_MAX];
    cJSON *body = parse_body(req);
    struct mlc_err err = {0};
    struct pdsim_field *f;

    if (!body) {
        if (v2)
            validation_error(sim, res, "Validation failed: body: invalid JSON");
        else {
            sim->validation_failures++;
            error_envelope(res, 400, "Bad request", "Please check developers.pipedrive.com");
        }
        return;
    }
    if (!(v2 ? pdsim_validate_field_v2(body, msg, sizeof(msg))
             : pdsim_validate_field_v1(body, msg, sizeof(msg)))) {
        if (v2)
            validation_error(sim, res, msg);
        else {
            sim->validation_failures++;
            error_envelope(res, 400, msg, "Please check developers.pipedrive.com");
        }
        goto out;
    }
    f = pdsim_company_add_field(
        co,
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, v2 ? "field_name" : "name")),
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "field_type")),
        cJSON_GetObjectItemCaseSensitive(body, "options"), sim->now_ms() / 1000, &err);
    if (!f)
        error_envelope(res, 500, "An internal server error occurred", NULL);
    else
        ok_json(res, v2 ? pdsim_field_render_v2(f) : pdsim_field_render_v1(f), NULL);
out:
    cJSON_Delete(body);
}

static void users_me(struct pdsim_company *co, struct sim_response *res)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "id", (double)co->user_id);
    cJSON_AddStringToObject(d, "name", co->user_name);
    cJSON_AddStringToObject(d, "email", co->user_email);
    cJSON_AddStringToObject(d, "default_currency", "EUR");
    cJSON_AddStringToObject(d, "locale", "en_US");
    cJSON_AddNumberToObject(d, "lang", 1);
    cJSON_AddTrueToObject(d, "activated");
    cJSON_AddTrueToObject(d, "active_flag");
    cJSON_AddTrueToObject(d, "is_you");
    cJSON_AddFalseToObject(d, "is_deleted");
    cJSON_AddStringToObject(d, "timezone_name", "UTC");
    cJSON_AddStringToObject(d, "timezone_offset", "+00:00");
    cJSON_AddNumberToObject(d, "company_id", (double)co->id);
    cJSON_AddStringToObject(d, "company_name", co->name);
    cJSON_AddStringToObject(d, "company_domain", co->domain);
    cJSON_AddStringToObject(d, "company_country", "EE");
    ok_json(res, d, NULL);
}

/* ---- routing ---------------------------------------------------------- */

struct route {
    enum pdsim_op op;
    long id;     /* org id for {id} routes */
    bool bad_id; /* {id} was not a positive integer */
    bool known;  /* the path exists (maybe with another method) */
};

static void route_of(const char *method, const char *path, struct route *r)
{
    const char *rest = NULL;
    bool v2 = false;

    memset(r, 0, sizeof(*r));
    r->op = PDSIM_OP_COUNT;
    if (mlc_str_startswith(path, "/api/v2/")) {
        rest = path + 7;
        v2 = true;
    } else if (mlc_str_startswith(path, "/api/v1/")) {
        rest = path + 7;
    } else if (mlc_str_startswith(path, "/v1/")) {
        rest = path + 3;
    } else {
        return;
    }
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (v2 && strcmp(rest, "/organizations") == 0) {
        r->known = true;
        r->op = get ? PDSIM_OP_ORG_LIST : post ? PDSIM_OP_ORG_CREATE : PDSIM_OP_COUNT;
    } else if (v2 && strcmp(rest, "/organizations/search") == 0) {
        r->known = true;
        r->op = get ? PDSIM_OP_ORG_SEARCH : PDSIM_OP_COUNT;
    } else if (v2 && mlc_str_startswith(rest, "/organizations/") &&
               !strchr(rest + strlen("/organizations/"), '/')) {
        r->known = true;
        r->bad_id = !path_id(rest + strlen("/organizations/"), &r->id);
        r->op = get                             ? PDSIM_OP_ORG_GET
                : strcmp(method, "PATCH") == 0  ? PDSIM_OP_ORG_UPDATE
                : strcmp(method, "DELETE") == 0 ? PDSIM_OP_ORG_DELETE
                                                : PDSIM_OP_COUNT;
    } else if (v2 && strcmp(rest, "/itemSearch/field") == 0) {
        r->known = true;
        r->op = get ? PDSIM_OP_ITEM_SEARCH_FIELD : PDSIM_OP_COUNT;
    } else if (strcmp(rest, "/organizationFields") == 0) {
        r->known = true;
        if (v2)
            r->op = get    ? PDSIM_OP_FIELDS_LIST_V2
                    : post ? PDSIM_OP_FIELDS_CREATE_V2
                           : PDSIM_OP_COUNT;
        else
            r->op = get    ? PDSIM_OP_FIELDS_LIST_V1
                    : post ? PDSIM_OP_FIELDS_CREATE_V1
                           : PDSIM_OP_COUNT;
    } else if (!v2 && strcmp(rest, "/users/me") == 0) {
        r->known = true;
        r->op = get ? PDSIM_OP_USERS_ME : PDSIM_OP_COUNT;
    }
}

static void set_limit_headers(struct pdsim *sim, struct sim_response *res,
                              const struct pdsim_decision *d)
{
    char v[32];
    long vals[PDSIM_H_COUNT] = {d->limit, d->remaining, d->reset_s, d->daily_limit,
                                d->daily_remaining};
    for (int i = 0; i < PDSIM_H_COUNT; i++) {
        if (sim->opt.omit_header[i])
            continue;
        snprintf(v, sizeof(v), "%ld", vals[i]);
        sim_response_header(res, header_names[i], v);
    }
}

static void unauthorized(struct pdsim *sim, struct sim_response *res)
{
    cJSON *doc = cJSON_CreateObject();
    sim->n401++;
    cJSON_AddFalseToObject(doc, "success");
    cJSON_AddStringToObject(doc, "error", "unauthorized access");
    cJSON_AddNumberToObject(doc, "errorCode", 401);
    sim_response_json(res, 401, doc);
    sim_response_route(res, "unauthorized");
}

void pdsim_handle(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct pdsim *sim = ctx;
    struct route r;
    struct pdsim_company *co = NULL;
    struct pdsim_token *tok = NULL;
    struct pdsim_decision d;
    const struct pdsim_op_info *info;
    const char *token;
    char v[32];

    route_of(req->method, req->path, &r);
    if (!r.known) {
        error_envelope(res, 404, "Requested service is not available", NULL);
        sim_response_route(res, "not_found");
        return;
    }
    if (r.op == PDSIM_OP_COUNT) {
        error_envelope(res, 405, "Method not allowed", NULL);
        sim_response_route(res, "method_not_allowed");
        return;
    }
    info = pdsim_op_info(r.op);
    sim_response_route(res, info->name);

    token = sim_request_header(req, "x-api-token");
    if (!token)
        token = sim_request_param(req, "api_token");
    if (!token || !pdsim_store_find_token(&sim->store, token, &co, &tok)) {
        unauthorized(sim, res);
        return;
    }

    if (sim->block_countdown == 0) {
        tok->limits->blocked_until_ms = sim->now_ms() + sim->block_armed_s * 1000LL;
        sim->block_countdown = -1;
    }
    pdsim_limits_check(&sim->limits, tok->limits, &co->daily, info->search, info->cost,
                       sim->now_ms(), &d);
    switch (d.verdict) {
    case PDSIM_BLOCKED_403:
        sim->n403++;
        sim_response_text(res, 403, "text/html; charset=UTF-8", cloudflare_page);
        sim_response_header(res, "server", "cloudflare");
        sim_response_header(res, "cf-ray", "8f3a1c2b4d5e6f70-TLL");
        sim_response_route(res, "cloudflare_block");
        return;
    case PDSIM_DAILY_429: {
        cJSON *doc = cJSON_CreateObject();
        sim->n429_daily++;
        cJSON_AddFalseToObject(doc, "success");
        cJSON_AddStringToObject(doc, "error", "daily request budget exceeded");
        cJSON_AddNumberToObject(doc, "errorCode", 429);
        sim_response_json(res, 429, doc);
        set_limit_headers(sim, res, &d);
        snprintf(v, sizeof(v), "%ld", d.retry_after_s);
        sim_response_header(res, "retry-after", v);
        sim_response_route(res, "rate_limited_daily");
        return;
    }
    case PDSIM_BURST_429:
    case PDSIM_SEARCH_429: {
        cJSON *doc = cJSON_CreateObject();
        bool s = d.verdict == PDSIM_SEARCH_429;
        if (s)
            sim->n429_search++;
        else
            sim->n429_burst++;
        cJSON_AddFalseToObject(doc, "success");
        cJSON_AddStringToObject(
            doc, "error", s ? "Search request rate limit exceeded" : "Request rate limit exceeded");
        cJSON_AddNumberToObject(doc, "errorCode", 429);
        cJSON_AddStringToObject(doc, "error_info", "Please check developers.pipedrive.com");
        cJSON_AddNullToObject(doc, "data");
        cJSON_AddNullToObject(doc, "additional_data");
        sim_response_json(res, 429, doc);
        set_limit_headers(sim, res, &d);
        snprintf(v, sizeof(v), "%ld", d.retry_after_s);
        sim_response_header(res, "retry-after", v);
        sim_response_route(res, s ? "rate_limited_search" : "rate_limited_burst");
        return;
    }
    case PDSIM_ALLOW:
        break;
    }
    if (sim->block_countdown > 0)
        sim->block_countdown--;
    sim->ops[r.op].count++;
    sim->ops[r.op].tokens += d.charged;
    sim->tokens_spent += d.charged;

    if (r.op == PDSIM_OP_ORG_GET || r.op == PDSIM_OP_ORG_UPDATE || r.op == PDSIM_OP_ORG_DELETE) {
        struct pdsim_org *org = r.bad_id ? NULL : pdsim_company_org(co, r.id);
        if (r.bad_id) {
            validation_error(sim, res, "Validation failed: id: Expected 'integer'");
        } else if (!org) {
            not_found(res);
        } else if (r.op == PDSIM_OP_ORG_GET) {
            org_get(sim, co, org, req, res);
        } else if (r.op == PDSIM_OP_ORG_UPDATE) {
            org_update(sim, co, org, req, res);
        } else {
            org_delete(sim, org, res);
        }
    } else {
        switch (r.op) {
        case PDSIM_OP_ORG_LIST:
            org_list(sim, co, req, res);
            break;
        case PDSIM_OP_ORG_CREATE:
            org_create(sim, co, req, res);
            break;
        case PDSIM_OP_ORG_SEARCH:
            org_search(sim, co, req, res);
            break;
        case PDSIM_OP_ITEM_SEARCH_FIELD:
            item_search_field(sim, co, req, res);
            break;
        case PDSIM_OP_FIELDS_LIST_V2:
            fields_list(sim, co, req, res, true);
            break;
        case PDSIM_OP_FIELDS_CREATE_V2:
            fields_create(sim, co, req, res, true);
            break;
        case PDSIM_OP_FIELDS_LIST_V1:
            fields_list(sim, co, req, res, false);
            break;
        case PDSIM_OP_FIELDS_CREATE_V1:
            fields_create(sim, co, req, res, false);
            break;
        case PDSIM_OP_USERS_ME:
            users_me(co, res);
            break;
        default:
            not_found(res);
            break;
        }
    }
    set_limit_headers(sim, res, &d);
}

/* ---- control API ------------------------------------------------------ */

static void ctl_error(struct sim_response *res, int status, const char *msg)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "error", msg);
    sim_response_json(res, status, doc);
}

static void ctl_state(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct pdsim *sim = ctx;
    struct mlc_err err = {0};

    if (strcmp(req->method, "GET") == 0) {
        sim_response_json(res, 200, pdsim_store_dump(&sim->store));
        return;
    }
    if (strcmp(req->method, "PUT") != 0 && strcmp(req->method, "POST") != 0) {
        ctl_error(res, 405, "use GET or PUT");
        return;
    }
    cJSON *doc = parse_body(req);
    if (!doc) {
        ctl_error(res, 400, "state: invalid JSON");
        return;
    }
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "companies")) < 1) {
        ctl_error(res, 400, "state: at least one company is needed");
    } else if (pdsim_store_load(&sim->store, doc, sim->now_ms(), &err) != MLC_OK) {
        ctl_error(res, 400, err.msg);
    } else if (add_cli_tokens(sim, &err) != MLC_OK) {
        ctl_error(res, 500, err.msg);
    } else {
        sim_response_json(res, 200, pdsim_store_dump(&sim->store));
    }
    cJSON_Delete(doc);
}

static void ctl_stats(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct pdsim *sim = ctx;

    if (strcmp(req->method, "DELETE") == 0) {
        memset(sim->ops, 0, sizeof(sim->ops));
        sim->tokens_spent = 0;
        sim->n429_burst = sim->n429_search = sim->n429_daily = sim->n403 = sim->n401 = 0;
        sim->validation_failures = 0;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON *ops = cJSON_AddObjectToObject(doc, "operations");
    cJSON *costs = cJSON_AddArrayToObject(doc, "costs");
    for (int i = 0; i < PDSIM_OP_COUNT; i++) {
        const struct pdsim_op_info *info = pdsim_op_info((enum pdsim_op)i);
        cJSON *o = cJSON_AddObjectToObject(ops, info->name);
        cJSON_AddNumberToObject(o, "count", (double)sim->ops[i].count);
        cJSON_AddNumberToObject(o, "tokens", (double)sim->ops[i].tokens);
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "operation", info->name);
        cJSON_AddStringToObject(c, "method", info->method);
        cJSON_AddStringToObject(c, "path", info->path);
        cJSON_AddStringToObject(c, "spec", info->spec);
        cJSON_AddStringToObject(c, "spec_path", info->spec_path);
        cJSON_AddNumberToObject(c, "cost", info->cost);
        cJSON_AddBoolToObject(c, "search", info->search);
        cJSON_AddItemToArray(costs, c);
    }
    cJSON_AddNumberToObject(doc, "tokens_spent", (double)sim->tokens_spent);
    cJSON *comp = cJSON_AddArrayToObject(doc, "companies");
    for (size_t i = 0; i < sim->store.ncompanies; i++) {
        const struct pdsim_company *co = &sim->store.companies[i];
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "id", (double)co->id);
        cJSON_AddNumberToObject(c, "daily_budget", (double)sim->limits.daily_budget);
        cJSON_AddNumberToObject(c, "tokens_spent_today", (double)co->daily.spent);
        cJSON_AddItemToArray(comp, c);
    }
    cJSON *r = cJSON_AddObjectToObject(doc, "rate_limited_429");
    cJSON_AddNumberToObject(r, "burst", (double)sim->n429_burst);
    cJSON_AddNumberToObject(r, "search", (double)sim->n429_search);
    cJSON_AddNumberToObject(r, "daily", (double)sim->n429_daily);
    cJSON_AddNumberToObject(r, "total",
                            (double)(sim->n429_burst + sim->n429_search + sim->n429_daily));
    cJSON_AddNumberToObject(doc, "blocked_403", (double)sim->n403);
    cJSON_AddNumberToObject(doc, "unauthorized_401", (double)sim->n401);
    cJSON_AddNumberToObject(doc, "validation_failures", (double)sim->validation_failures);
    cJSON *l = cJSON_AddObjectToObject(doc, "limits");
    cJSON_AddBoolToObject(l, "enabled", sim->limits.enabled);
    cJSON_AddNumberToObject(l, "burst", sim->limits.burst);
    cJSON_AddNumberToObject(l, "search_burst", sim->limits.search_burst);
    cJSON_AddNumberToObject(l, "daily_budget", (double)sim->limits.daily_budget);
    cJSON_AddNumberToObject(l, "day_length_s", (double)sim->limits.day_length_s);
    cJSON_AddNumberToObject(l, "seconds_to_reset",
                            (double)pdsim_daily_seconds_to_reset(&sim->limits, sim->now_ms()));
    cJSON_AddNumberToObject(l, "block_after", (double)sim->limits.block_after);
    sim_response_json(res, 200, doc);
}

static void ctl_rollover(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct pdsim *sim = ctx;
    (void)req;
    for (size_t i = 0; i < sim->store.ncompanies; i++)
        pdsim_daily_rollover(&sim->store.companies[i].daily);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddTrueToObject(doc, "rolled_over");
    sim_response_json(res, 200, doc);
}

static void ctl_unblock(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct pdsim *sim = ctx;
    (void)req;
    sim->block_countdown = -1;
    for (size_t c = 0; c < sim->store.ncompanies; c++)
        for (size_t i = 0; i < sim->store.companies[c].ntokens; i++) {
            sim->store.companies[c].tokens[i].limits->blocked_until_ms = 0;
            sim->store.companies[c].tokens[i].limits->consecutive_429 = 0;
        }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddTrueToObject(doc, "unblocked");
    sim_response_json(res, 200, doc);
}

/* Reads a whole number in [lo, hi] from obj[name] into *out (kept when absent). */
static bool body_long(const cJSON *obj, const char *name, long lo, long hi, long *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!it)
        return true;
    if (!cJSON_IsNumber(it) || it->valuedouble != (double)(long)it->valuedouble ||
        it->valuedouble < (double)lo || it->valuedouble > (double)hi)
        return false;
    *out = (long)it->valuedouble;
    return true;
}

static void ctl_block(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct pdsim *sim = ctx;
    long after = 0, seconds = sim->opt.block_s > 0 ? sim->opt.block_s : 60;
    cJSON *body = req->body_len ? parse_body(req) : cJSON_CreateObject();

    if (!cJSON_IsObject(body) || !body_long(body, "after", 0, 100000000, &after) ||
        !body_long(body, "seconds", 1, 86400, &seconds)) {
        cJSON_Delete(body);
        error_envelope(res, 400, "block: expected {\"after\": 0.., \"seconds\": 1..86400}", NULL);
        return;
    }
    cJSON_Delete(body);
    sim->block_countdown = after;
    sim->block_armed_s = seconds;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "after", (double)after);
    cJSON_AddNumberToObject(doc, "seconds", (double)seconds);
    sim_response_json(res, 200, doc);
}

bool pdsim_register_controls(struct pdsim *sim, struct sim_server *srv)
{
    (void)sim;
    return sim_server_add_control(srv, NULL, "/_sim/state", ctl_state) &&
           sim_server_add_control(srv, NULL, "/_sim/stats", ctl_stats) &&
           sim_server_add_control(srv, "POST", "/_sim/rollover", ctl_rollover) &&
           sim_server_add_control(srv, "POST", "/_sim/unblock", ctl_unblock) &&
           sim_server_add_control(srv, "POST", "/_sim/block", ctl_block);
}
