/* pdsim_control.c - the /_sim/ control routes (state, stats, rollover,
 * unblock, block, currencies) listed in pdsim_routes.h. */
#include "pdsim_internal.h"

#include <stdio.h>
#include <string.h>

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
    cJSON *doc = pdsim_parse_body(req);
    if (!doc) {
        ctl_error(res, 400, "state: invalid JSON");
        return;
    }
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "companies")) < 1) {
        ctl_error(res, 400, "state: at least one company is needed");
    } else if (pdsim_store_load(&sim->store, doc, sim->now_ms(), &err) != MLC_OK) {
        ctl_error(res, 400, err.msg);
    } else {
        pdsim_add_cli_tokens(sim);
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
        struct pdsim_company *co = &sim->store.companies[i];
        cJSON *c = cJSON_CreateObject();
        /* a reset since the last API request: today's spending is 0 now,
         * not at the next request */
        pdsim_daily_sync(&sim->limits, &co->daily, sim->now_ms());
        cJSON_AddNumberToObject(c, "id", (double)co->id);
        cJSON_AddNumberToObject(c, "daily_budget", (double)sim->limits.daily_budget);
        cJSON_AddNumberToObject(c, "tokens_spent_today", (double)co->daily.spent);
        cJSON *curs = cJSON_AddArrayToObject(c, "currencies");
        for (size_t k = 0; k < co->ncurrencies; k++)
            cJSON_AddItemToArray(curs, cJSON_CreateString(co->currencies[k]));
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
    cJSON *v = cJSON_AddObjectToObject(doc, "validation");
    cJSON_AddNumberToObject(v, "max_name_length", (double)sim->opt.rules.max_name);
    cJSON_AddNumberToObject(v, "max_address_length", (double)sim->opt.rules.max_address);
    cJSON_AddNumberToObject(v, "max_text_length", (double)sim->opt.rules.max_text);
    cJSON_AddNumberToObject(v, "max_varchar_length", PDSIM_VARCHAR_MAX);
    cJSON_AddStringToObject(v, "default_currencies", sim->store.currencies_default);
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
    cJSON *body = req->body_len ? pdsim_parse_body(req) : cJSON_CreateObject();

    if (!cJSON_IsObject(body) || !body_long(body, "after", 0, 100000000, &after) ||
        !body_long(body, "seconds", 1, 86400, &seconds)) {
        cJSON_Delete(body);
        pdsim_error_envelope(res, 400, "block: expected {\"after\": 0.., \"seconds\": 1..86400}",
                             NULL);
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

/* GET: {"companies":[{"id","currencies"}]}; PUT/POST {"currencies":[…],
 * "company_id": N (optional: every company)} replaces the company's
 * currencies (an admin changing them under a running client). */
static void ctl_currencies(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct pdsim *sim = ctx;
    struct mlc_err err = {0};
    char csv[PDSIM_CURRENCIES_MAX], msg[160];
    size_t len = 0;
    long company = 0;
    const cJSON *it;

    if (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0) {
        cJSON *body = pdsim_parse_body(req);
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "currencies");
        bool ok = cJSON_IsArray(arr) && cJSON_GetArraySize(arr) > 0 &&
                  body_long(body, "company_id", 1, 2147483647L, &company);
        csv[0] = '\0';
        cJSON_ArrayForEach(it, arr)
        {
            const char *c = cJSON_GetStringValue(it);
            int w = c ? snprintf(csv + len, sizeof(csv) - len, "%s%s", len ? "," : "", c) : -1;
            if (w < 0 || (size_t)w >= sizeof(csv) - len) {
                ok = false;
                break;
            }
            len += (size_t)w;
        }
        cJSON_Delete(body);
        if (!ok || !pdsim_currency_list_valid(csv, msg, sizeof(msg))) {
            ctl_error(res, 400,
                      "currencies: expected {\"currencies\": [\"USD\", …], \"company_id\": N} "
                      "with codes of 1 to 15 letters or digits");
            return;
        }
        bool found = false;
        for (size_t i = 0; i < sim->store.ncompanies; i++) {
            struct pdsim_company *co = &sim->store.companies[i];
            if (company && co->id != company)
                continue;
            found = true;
            if (pdsim_company_set_currencies(co, csv, &err) != MLC_OK) {
                ctl_error(res, 500, err.msg);
                return;
            }
        }
        if (!found) {
            ctl_error(res, 404, "currencies: no such company");
            return;
        }
    } else if (strcmp(req->method, "GET") != 0) {
        ctl_error(res, 405, "use GET or PUT");
        return;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON *cos = cJSON_AddArrayToObject(doc, "companies");
    for (size_t i = 0; i < sim->store.ncompanies; i++) {
        const struct pdsim_company *co = &sim->store.companies[i];
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "id", (double)co->id);
        cJSON *curs = cJSON_AddArrayToObject(c, "currencies");
        for (size_t k = 0; k < co->ncurrencies; k++)
            cJSON_AddItemToArray(curs, cJSON_CreateString(co->currencies[k]));
        cJSON_AddItemToArray(cos, c);
    }
    sim_response_json(res, 200, doc);
}

bool pdsim_register_controls(struct pdsim *sim, struct sim_server *srv)
{
    (void)sim;
    return sim_server_add_control(srv, NULL, "/_sim/state", ctl_state) &&
           sim_server_add_control(srv, NULL, "/_sim/stats", ctl_stats) &&
           sim_server_add_control(srv, "POST", "/_sim/rollover", ctl_rollover) &&
           sim_server_add_control(srv, "POST", "/_sim/unblock", ctl_unblock) &&
           sim_server_add_control(srv, "POST", "/_sim/block", ctl_block) &&
           sim_server_add_control(srv, NULL, "/_sim/currencies", ctl_currencies);
}
