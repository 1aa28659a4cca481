/* ld_fields.c - custom-field set-up: list Pipedrive's organization fields,
 * resolve the mapping against them, create what is missing.
 */
#include "ld_fields.h"

#include "ld_calls.h"
#include "ld_util.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "pd_client.h"
#include "pd_mapping.h"

#include <stdio.h>
#include <stdlib.h>

static mlc_rc list_fields(struct ld *ld, cJSON **all, struct mlc_err *err)
{
    char cursor[1024] = "";
    mlc_rc rc = MLC_OK;

    *all = cJSON_CreateArray();
    if (!*all)
        return mlc_err_set(err, MLC_FATAL, "out of memory");
    for (;;) {
        struct pd_call call = {.op = PD_OP_LIST_ORG_FIELDS, .method = MLC_HTTP_GET};
        const cJSON *data, *f;

        snprintf(call.path, sizeof(call.path), "/api/v2/organizationFields?limit=500%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        rc = pd_client_call1(ld->pd, &call, err);
        if (rc != MLC_OK) {
            pd_call_reset(&call);
            mlc_err_prefix(err, "listing organization fields");
            if (rc == MLC_PERM)
                rc = MLC_FATAL;
            break;
        }
        data = cJSON_GetObjectItemCaseSensitive(call.json, "data");
        cJSON_ArrayForEach(f, data) cJSON_AddItemToArray(*all, cJSON_Duplicate(f, 1));
        ld_next_cursor(call.json, cursor, sizeof(cursor));
        pd_call_reset(&call);
        if (!cursor[0])
            break;
    }
    if (rc != MLC_OK) {
        cJSON_Delete(*all);
        *all = NULL;
    }
    return rc;
}

static mlc_rc post_json(struct ld *ld, enum pd_op op, const char *path, cJSON *body,
                        struct mlc_err *err)
{
    struct pd_call call = {.op = op, .method = MLC_HTTP_POST};
    char *text = cJSON_PrintUnformatted(body);
    mlc_rc rc;

    if (!text)
        return mlc_err_set(err, MLC_FATAL, "out of memory");
    mlc_strlcpy(call.path, path, sizeof(call.path));
    call.body = text;
    rc = pd_client_call1(ld->pd, &call, err);
    if (rc == MLC_PERM)
        rc = MLC_FATAL;
    pd_call_reset(&call);
    free(text);
    return rc;
}

/* GET the fields, resolve the mapping, create what is missing (unless
 * create is false), resolve again. */
mlc_rc ld_prepare_fields(struct ld *ld, bool create, struct mlc_err *err)
{
    struct pd_resolve_report rep;
    cJSON *fields = NULL;
    mlc_rc rc;

    if ((rc = list_fields(ld, &fields, err)) != MLC_OK)
        goto out;
    if ((rc = pd_mapping_resolve(ld->map, fields, &rep, err)) != MLC_OK)
        goto out;
    if (rep.missing_fields || rep.missing_options) {
        if (!create) {
            rc = mlc_err_set(err, MLC_FATAL,
                             "pipedrive lacks what the mapping needs (%s); create them with "
                             "`mlc-loader setup` or set MLC_PIPEDRIVE_CREATE_FIELDS=true",
                             rep.text);
            goto out;
        }
        for (size_t i = 0; i < pd_mapping_custom_count(ld->map); i++) {
            cJSON *body = NULL;
            char path[256];

            if (!pd_mapping_field_resolved(ld->map, i)) {
                body = pd_mapping_field_create_body(ld->map, i);
                snprintf(path, sizeof(path), "/api/v2/organizationFields");
                mlc_info("creating organization field \"%s\" (%s)",
                         pd_mapping_custom_name(ld->map, i), pd_mapping_custom_type(ld->map, i));
            } else if ((body = pd_mapping_missing_options_body(ld->map, i)) != NULL) {
                snprintf(path, sizeof(path), "/api/v2/organizationFields/%s/options",
                         pd_mapping_custom_key(ld->map, i));
                mlc_info("adding options to organization field \"%s\"",
                         pd_mapping_custom_name(ld->map, i));
            }
            if (!body)
                continue;
            rc = post_json(ld, PD_OP_CREATE_ORG_FIELD, path, body, err);
            cJSON_Delete(body);
            if (rc != MLC_OK) {
                mlc_err_prefix(err, "creating field \"%s\"", pd_mapping_custom_name(ld->map, i));
                goto out;
            }
        }
        cJSON_Delete(fields);
        fields = NULL;
        if ((rc = list_fields(ld, &fields, err)) != MLC_OK ||
            (rc = pd_mapping_resolve(ld->map, fields, &rep, err)) != MLC_OK)
            goto out;
    }
    if (!pd_mapping_resolved(ld->map)) {
        rc = mlc_err_set(err, MLC_FATAL, "mapping still unresolved after creating fields (%s)",
                         rep.text);
        goto out;
    }
    pd_mapping_identity(ld->map, &ld->i_num, &ld->i_co);
    ld->k_num = pd_mapping_custom_key(ld->map, ld->i_num);
    ld->k_co = pd_mapping_custom_key(ld->map, ld->i_co);
out:
    cJSON_Delete(fields);
    if (ld_flush_calls_tx(ld, rc == MLC_OK ? err : NULL) != MLC_OK && rc == MLC_OK)
        rc = MLC_FATAL;
    return rc;
}
