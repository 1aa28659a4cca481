/* pdsim_routes.c - setup (pdsim_init/free), routing, auth, the rate limits and
 * their headers, and the dispatch of an allowed request to its operation
 * (pdsim_handle). The operations live in pdsim_api_*.c, the /_sim/ routes in
 * pdsim_control.c (see pdsim_internal.h). */
#include "mlc_alloc.h"
#include "mlc_time.h"
#include "pdsim_internal.h"

#include "mlc_str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- setup ------------------------------------------------------------ */

static long long real_now_ms(void)
{
    return (long long)mlc_realtime_ms();
}

void pdsim_options_default(struct pdsim_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->plan = PDSIM_PLAN_GROWTH;
    opt->seats = 1;
    opt->day_length_s = 86400;
    opt->deleted_status = 404;
    opt->block_s = 60;
    pdsim_rules_default(&opt->rules);
    mlc_strlcpy(opt->currencies, PDSIM_CURRENCIES_DEFAULT, sizeof(opt->currencies));
}

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

void pdsim_add_cli_tokens(struct pdsim *sim)
{
    for (size_t i = 0; i < sim->ncli_tokens; i++) {
        struct pdsim_company *co;
        struct pdsim_token *tok;
        if (pdsim_store_find_token(&sim->store, sim->cli_tokens[i], &co, &tok))
            continue;
        pdsim_company_add_token(&sim->store.companies[0], sim->cli_tokens[i]);
    }
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
    if (opt->currencies[0]) {
        char msg[128];
        if (!pdsim_currency_list_valid(opt->currencies, msg, sizeof(msg))) {
            rc = mlc_err_set(err, MLC_PERM, "currencies: %s", msg);
            goto out;
        }
        mlc_strlcpy(sim->store.currencies_default, opt->currencies,
                    sizeof(sim->store.currencies_default));
    }
    sim->cli_tokens = mlc_xcalloc(ntokens + 1, sizeof(char *));
    for (size_t i = 0; i < ntokens; i++)
        sim->cli_tokens[sim->ncli_tokens++] = mlc_xstrdup(tokens[i]);
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
    pdsim_add_cli_tokens(sim);
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

/* ---- routing ---------------------------------------------------------- */

struct route {
    enum pdsim_op op;
    long id;       /* org id for {id} routes */
    bool bad_id;   /* {id} was not a positive integer */
    bool known;    /* the path exists (maybe with another method) */
    char code[64]; /* {field_code} of organizationFields routes ("" when too long) */
};

/* Parses the id path segment; false when it is not a positive integer. */
static bool path_id(const char *seg, long *id)
{
    return mlc_parse_long(seg, 1, 2147483647L, id) && seg[0] >= '0' && seg[0] <= '9';
}

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
    } else if (v2 && mlc_str_startswith(rest, "/organizationFields/")) {
        const char *seg = rest + strlen("/organizationFields/");
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        bool patch = strcmp(method, "PATCH") == 0, del = strcmp(method, "DELETE") == 0;
        if (len == 0 || (slash && strcmp(slash, "/options") != 0))
            return;
        r->known = true;
        if (len < sizeof(r->code)) {
            memcpy(r->code, seg, len);
            r->code[len] = '\0';
        }
        if (slash)
            r->op = post    ? PDSIM_OP_FIELD_OPTIONS_ADD
                    : patch ? PDSIM_OP_FIELD_OPTIONS_UPDATE
                    : del   ? PDSIM_OP_FIELD_OPTIONS_DELETE
                            : PDSIM_OP_COUNT;
        else
            r->op = get     ? PDSIM_OP_FIELD_GET_V2
                    : patch ? PDSIM_OP_FIELD_UPDATE_V2
                    : del   ? PDSIM_OP_FIELD_DELETE_V2
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
        pdsim_error_envelope(res, 404, "Requested service is not available", NULL);
        sim_response_route(res, "not_found");
        return;
    }
    if (r.op == PDSIM_OP_COUNT) {
        pdsim_error_envelope(res, 405, "Method not allowed", NULL);
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
            pdsim_validation_error(sim, res, "Validation failed: id: Expected 'integer'");
        } else if (!org) {
            pdsim_not_found(res);
        } else if (r.op == PDSIM_OP_ORG_GET) {
            pdsim_api_org_get(sim, co, org, req, res);
        } else if (r.op == PDSIM_OP_ORG_UPDATE) {
            pdsim_api_org_update(sim, co, org, req, res);
        } else {
            pdsim_api_org_delete(sim, org, res);
        }
    } else {
        switch (r.op) {
        case PDSIM_OP_ORG_LIST:
            pdsim_api_org_list(sim, co, req, res);
            break;
        case PDSIM_OP_ORG_CREATE:
            pdsim_api_org_create(sim, co, req, res);
            break;
        case PDSIM_OP_ORG_SEARCH:
            pdsim_api_org_search(sim, co, req, res);
            break;
        case PDSIM_OP_ITEM_SEARCH_FIELD:
            pdsim_api_item_search_field(sim, co, req, res);
            break;
        case PDSIM_OP_FIELDS_LIST_V2:
            pdsim_api_fields_list(sim, co, req, res, true);
            break;
        case PDSIM_OP_FIELDS_CREATE_V2:
            pdsim_api_fields_create(sim, co, req, res, true);
            break;
        case PDSIM_OP_FIELDS_LIST_V1:
            pdsim_api_fields_list(sim, co, req, res, false);
            break;
        case PDSIM_OP_FIELDS_CREATE_V1:
            pdsim_api_fields_create(sim, co, req, res, false);
            break;
        case PDSIM_OP_USERS_ME:
            pdsim_api_users_me(co, res);
            break;
        case PDSIM_OP_FIELD_GET_V2:
        case PDSIM_OP_FIELD_UPDATE_V2:
        case PDSIM_OP_FIELD_DELETE_V2:
        case PDSIM_OP_FIELD_OPTIONS_ADD:
        case PDSIM_OP_FIELD_OPTIONS_UPDATE:
        case PDSIM_OP_FIELD_OPTIONS_DELETE:
            pdsim_api_field_op(sim, co, r.op, r.code, req, res);
            break;
        default:
            pdsim_not_found(res);
            break;
        }
    }
    set_limit_headers(sim, res, &d);
}
