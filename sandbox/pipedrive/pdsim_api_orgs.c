/* pdsim_api_orgs.c - /api/v2/organizations and /api/v2/organizations/{id}:
 * list (filters, sorting, keyset cursors), get, create, update, delete. */
#include "mlc_alloc.h"
#include "pdsim_internal.h"

#include "mlc_str.h"
#include "pdsim_validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void pdsim_api_org_list(struct pdsim *sim, struct pdsim_company *co, const struct sim_request *req,
                        struct sim_response *res)
{
    char msg[PDSIM_MSG_MAX], selbuf[2048], idsbuf[2048];
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

    if (!pdsim_param_long(req, "limit", 1, 500, 100, &limit, msg, sizeof(msg)) ||
        !pdsim_param_long(req, "owner_id", 1, 2147483647L, 0, &owner, msg, sizeof(msg)) ||
        !pdsim_parse_selection(co, req, selbuf, sizeof(selbuf), sel, &nsel, msg, sizeof(msg)))
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
        nids = mlc_strlcpy(idsbuf, v, sizeof(idsbuf)) ? pdsim_split_list(idsbuf, idv, 100) : -1;
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

    arr = mlc_xcalloc(co->norgs + 1, sizeof(*arr));
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
        pdsim_add_next_cursor(add, text);
    } else {
        pdsim_add_next_cursor(add, NULL);
    }
    free(arr);
    pdsim_ok_json(res, data, add);
    return;
invalid:
    pdsim_validation_error(sim, res, msg);
}

void pdsim_api_org_get(struct pdsim *sim, struct pdsim_company *co, struct pdsim_org *org,
                       const struct sim_request *req, struct sim_response *res)
{
    char msg[PDSIM_MSG_MAX], selbuf[2048];
    const char *sel[16];
    int nsel = -1;

    if (org->deleted && sim->opt.deleted_status != 200) {
        pdsim_gone_or_missing(sim, res);
        return;
    }
    if (!pdsim_parse_selection(co, req, selbuf, sizeof(selbuf), sel, &nsel, msg, sizeof(msg))) {
        pdsim_validation_error(sim, res, msg);
        return;
    }
    pdsim_ok_json(
        res, pdsim_org_render(co, org, nsel >= 0 ? sel : NULL, nsel >= 0 ? (size_t)nsel : 0), NULL);
}

void pdsim_api_org_create(struct pdsim *sim, struct pdsim_company *co,
                          const struct sim_request *req, struct sim_response *res)
{
    char msg[PDSIM_MSG_MAX];
    cJSON *body = pdsim_parse_body(req);
    struct mlc_err err = {0};
    struct pdsim_org *org;

    if (!body) {
        pdsim_validation_error(sim, res, "Validation failed: body: invalid JSON");
        return;
    }
    if (!pdsim_validate_org_rules(co, &sim->opt.rules, body, true, msg, sizeof(msg))) {
        pdsim_validation_error(sim, res, msg);
        goto out;
    }
    org = pdsim_company_create_org(co, body, sim->now_ms(), sim->opt.index_delay_ms, &err);
    if (!org)
        pdsim_error_envelope(res, 500, "An internal server error occurred", NULL);
    else
        pdsim_ok_json(res, pdsim_org_render(co, org, NULL, 0), NULL);
out:
    cJSON_Delete(body);
}

void pdsim_api_org_update(struct pdsim *sim, struct pdsim_company *co, struct pdsim_org *org,
                          const struct sim_request *req, struct sim_response *res)
{
    char msg[PDSIM_MSG_MAX];
    cJSON *body;

    if (org->deleted) {
        pdsim_gone_or_missing(sim, res);
        return;
    }
    body = pdsim_parse_body(req);
    if (!body) {
        pdsim_validation_error(sim, res, "Validation failed: body: invalid JSON");
        return;
    }
    if (!pdsim_validate_org_rules(co, &sim->opt.rules, body, false, msg, sizeof(msg)))
        pdsim_validation_error(sim, res, msg);
    else {
        pdsim_org_apply(org, body, sim->now_ms() / 1000, NULL);
        pdsim_ok_json(res, pdsim_org_render(co, org, NULL, 0), NULL);
    }
    cJSON_Delete(body);
}

void pdsim_api_org_delete(struct pdsim *sim, struct pdsim_org *org, struct sim_response *res)
{
    cJSON *data;
    if (org->deleted) {
        pdsim_gone_or_missing(sim, res);
        return;
    }
    pdsim_org_delete(org, sim->now_ms() / 1000);
    data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "id", (double)org->id);
    pdsim_ok_json(res, data, NULL);
}
