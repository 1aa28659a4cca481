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
        return mlc_err_set(err, MLC_FATAL, "%s: request body not printable", path);
    mlc_strlcpy(call.path, path, sizeof(call.path));
    call.body = text;
    rc = pd_client_call1(ld->pd, &call, err);
    if (rc == MLC_PERM)
        rc = MLC_FATAL;
    pd_call_reset(&call);
    free(text);
    return rc;
}

/* Creates every custom field and enum option the last resolve found
 * missing (5 tokens each). */
static mlc_rc create_missing(struct ld *ld, struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;

    for (size_t i = 0; i < pd_mapping_custom_count(ld->map) && rc == MLC_OK; i++) {
        cJSON *body = NULL;
        char path[256];

        if (!pd_mapping_field_resolved(ld->map, i)) {
            body = pd_mapping_field_create_body(ld->map, i);
            snprintf(path, sizeof(path), "/api/v2/organizationFields");
            mlc_info("creating organization field \"%s\" (%s)", pd_mapping_custom_name(ld->map, i),
                     pd_mapping_custom_type(ld->map, i));
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
        if (rc != MLC_OK)
            mlc_err_prefix(err, "creating field \"%s\"", pd_mapping_custom_name(ld->map, i));
    }
    return rc;
}

/* Lists the fields and resolves the mapping; when something is missing,
 * creates it (create) and lists and resolves again. *lacking (size lsz)
 * names what is still missing, "" when nothing is. */
static mlc_rc resolve(struct ld *ld, bool create, char *lacking, size_t lsz, struct mlc_err *err)
{
    struct pd_resolve_report rep;
    cJSON *fields = NULL;
    mlc_rc rc;

    lacking[0] = '\0';
    if ((rc = list_fields(ld, &fields, err)) != MLC_OK ||
        (rc = pd_mapping_resolve(ld->map, fields, &rep, err)) != MLC_OK)
        goto out;
    if ((rep.missing_fields || rep.missing_options) && create) {
        cJSON_Delete(fields);
        fields = NULL;
        if ((rc = create_missing(ld, err)) != MLC_OK ||
            (rc = list_fields(ld, &fields, err)) != MLC_OK ||
            (rc = pd_mapping_resolve(ld->map, fields, &rep, err)) != MLC_OK)
            goto out;
    }
    if (!pd_mapping_resolved(ld->map))
        mlc_strlcpy(lacking, rep.text[0] ? rep.text : "unresolved fields", lsz);
    if (!lacking[0]) {
        pd_mapping_identity(ld->map, &ld->i_num, &ld->i_co);
        ld->k_num = pd_mapping_custom_key(ld->map, ld->i_num);
        ld->k_co = pd_mapping_custom_key(ld->map, ld->i_co);
    }
out:
    cJSON_Delete(fields);
    return rc;
}

/* GET the fields, resolve the mapping, create what is missing (unless
 * create is false), resolve again. */
mlc_rc ld_prepare_fields(struct ld *ld, bool create, struct mlc_err *err)
{
    char lacking[512];
    mlc_rc rc = resolve(ld, create, lacking, sizeof(lacking), err);

    if (rc == MLC_OK && lacking[0])
        rc = mlc_err_set(err, MLC_FATAL,
                         create ? "mapping still unresolved after creating fields (%s)"
                                : "pipedrive lacks what the mapping needs (%s); create them with "
                                  "`mlc-loader setup` or set MLC_PIPEDRIVE_CREATE_FIELDS=true",
                         lacking);
    if (ld_flush_calls_tx(ld, rc == MLC_OK ? err : NULL) != MLC_OK && rc == MLC_OK)
        rc = MLC_FATAL;
    return rc;
}

mlc_rc ld_recover_fields(struct ld *ld, bool create, char *lacking, size_t lsz, struct mlc_err *err)
{
    mlc_info("pipedrive refused a write naming custom fields: re-reading the organization "
             "fields once");
    return resolve(ld, create, lacking, lsz, err);
}
