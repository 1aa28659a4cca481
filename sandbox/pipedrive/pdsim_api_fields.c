/* pdsim_api_fields.c - organizationFields (v1 and v2: list, create; v2: get,
 * update, delete, options add/update/delete) and GET /v1/users/me. */
#include "mlc_alloc.h"
#include "pdsim_internal.h"

#include "pdsim_validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fields and users ------------------------------------------------- */

void pdsim_api_fields_list(struct pdsim *sim, struct pdsim_company *co,
                           const struct sim_request *req, struct sim_response *res, bool v2)
{
    char msg[PDSIM_MSG_MAX];
    cJSON *all = cJSON_CreateArray();

    for (size_t i = 0; i < co->nfields; i++)
        if (!co->fields[i].deleted)
            cJSON_AddItemToArray(all, v2 ? pdsim_field_render_v2(&co->fields[i])
                                         : pdsim_field_render_v1(&co->fields[i]));
    if (v2) {
        long limit, offset;
        cJSON *add, *page;
        if (!pdsim_page_params(req, 500, &limit, &offset, msg, sizeof(msg))) {
            cJSON_Delete(all);
            pdsim_validation_error(sim, res, msg);
            return;
        }
        page = pdsim_page_slice(all, limit, offset, &add);
        cJSON_Delete(all);
        pdsim_ok_json(res, page, add);
        return;
    }
    long start, limit;
    if (!pdsim_param_long(req, "start", 0, 2147483647L, 0, &start, msg, sizeof(msg)) ||
        !pdsim_param_long(req, "limit", 1, 500, 100, &limit, msg, sizeof(msg))) {
        cJSON_Delete(all);
        pdsim_error_envelope(res, 400, "Bad request", msg);
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
    pdsim_ok_json(res, data, add);
}

void pdsim_api_fields_create(struct pdsim *sim, struct pdsim_company *co,
                             const struct sim_request *req, struct sim_response *res, bool v2)
{
    char msg[PDSIM_MSG_MAX];
    cJSON *body = pdsim_parse_body(req);
    struct mlc_err err = {0};
    struct pdsim_field *f;

    if (!body) {
        if (v2)
            pdsim_validation_error(sim, res, "Validation failed: body: invalid JSON");
        else {
            sim->validation_failures++;
            pdsim_error_envelope(res, 400, "Bad request", "Please check developers.pipedrive.com");
        }
        return;
    }
    if (!(v2 ? pdsim_validate_field_v2(body, msg, sizeof(msg))
             : pdsim_validate_field_v1(body, msg, sizeof(msg)))) {
        if (v2)
            pdsim_validation_error(sim, res, msg);
        else {
            sim->validation_failures++;
            pdsim_error_envelope(res, 400, msg, "Please check developers.pipedrive.com");
        }
        goto out;
    }
    f = pdsim_company_add_field(
        co,
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, v2 ? "field_name" : "name")),
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "field_type")),
        cJSON_GetObjectItemCaseSensitive(body, "options"), sim->now_ms() / 1000, &err);
    if (!f)
        pdsim_error_envelope(res, 500, "An internal server error occurred", NULL);
    else
        pdsim_ok_json(res, v2 ? pdsim_field_render_v2(f) : pdsim_field_render_v1(f), NULL);
out:
    cJSON_Delete(body);
}

/* PATCH: a new display name; the ui/important/required settings are
 * accepted and not kept (the sandbox has no UI). */
static void field_update(struct pdsim *sim, struct pdsim_field *f, const cJSON *body,
                         struct sim_response *res)
{
    char msg[PDSIM_MSG_MAX];
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "field_name"));

    if (!pdsim_validate_field_patch(f, body, msg, sizeof(msg))) {
        pdsim_validation_error(sim, res, msg);
        return;
    }
    if (name) {
        free(f->name);
        f->name = mlc_xstrdup(name);
    }
    pdsim_ok_json(res, pdsim_field_render_v2(f), NULL);
}

static void options_change(struct pdsim *sim, struct pdsim_company *co, enum pdsim_op op,
                           struct pdsim_field *f, const cJSON *body, struct sim_response *res)
{
    char msg[PDSIM_MSG_MAX];
    cJSON *data;
    bool ok = op == PDSIM_OP_FIELD_OPTIONS_ADD
                  ? pdsim_validate_options_add(f, body, msg, sizeof(msg))
              : op == PDSIM_OP_FIELD_OPTIONS_UPDATE
                  ? pdsim_validate_options_update(f, body, msg, sizeof(msg))
                  : pdsim_validate_options_delete(f, body, msg, sizeof(msg));

    if (!ok) {
        pdsim_validation_error(sim, res, msg);
        return;
    }
    data = op == PDSIM_OP_FIELD_OPTIONS_ADD      ? pdsim_field_add_options(co, f, body)
           : op == PDSIM_OP_FIELD_OPTIONS_UPDATE ? pdsim_field_update_options(f, body)
                                                 : pdsim_field_delete_options(co, f, body);
    pdsim_ok_json(res, data, cJSON_CreateNull());
}

void pdsim_api_field_op(struct pdsim *sim, struct pdsim_company *co, enum pdsim_op op,
                        const char *code, const struct sim_request *req, struct sim_response *res)
{
    struct pdsim_field *f = code[0] ? pdsim_company_field(co, code) : NULL;
    cJSON *body = NULL;

    if (!f || f->deleted) {
        pdsim_not_found(res);
        return;
    }
    if (op == PDSIM_OP_FIELD_GET_V2) {
        pdsim_ok_json(res, pdsim_field_render_v2(f), NULL);
        return;
    }
    if (op == PDSIM_OP_FIELD_DELETE_V2) {
        char msg[PDSIM_MSG_MAX];
        if (!f->is_custom) {
            snprintf(msg, sizeof(msg),
                     "Validation failed: field_code: system field '%s' cannot be deleted", f->key);
            pdsim_validation_error(sim, res, msg);
            return;
        }
        pdsim_field_delete(co, f);
        pdsim_ok_json(res, pdsim_field_render_v2(f), NULL);
        return;
    }
    body = pdsim_parse_body(req);
    if (!body) {
        pdsim_validation_error(sim, res, "Validation failed: body: invalid JSON");
        return;
    }
    if (op == PDSIM_OP_FIELD_UPDATE_V2)
        field_update(sim, f, body, res);
    else
        options_change(sim, co, op, f, body, res);
    cJSON_Delete(body);
}

void pdsim_api_users_me(struct pdsim_company *co, struct sim_response *res)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "id", (double)co->user_id);
    cJSON_AddStringToObject(d, "name", co->user_name);
    cJSON_AddStringToObject(d, "email", co->user_email);
    /* the user's default currency is one of the company's: EUR when it has it */
    cJSON_AddStringToObject(
        d, "default_currency",
        pdsim_company_has_currency(co, "EUR") || co->ncurrencies == 0 ? "EUR" : co->currencies[0]);
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
    pdsim_ok_json(res, d, NULL);
}
