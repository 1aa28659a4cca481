/* ld_orgs.c - organizations as Pipedrive lists them (see ld_orgs.h). */
#include "ld_orgs.h"

#include "ld_util.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "pd_client.h"
#include "pd_mapping.h"

#include <stdio.h>
#include <string.h>

#define SCAN_PAGE     500
#define MAX_SCAN_KEYS 15 /* custom_fields selection limit of the list */

/* ------------------------------------------------------------- snapshots */

/* The part of an organization the mapping can write: name, address (without
 * the computed formatted_address), website and the custom fields. */
cJSON *ld_org_snapshot(const cJSON *org)
{
    static const char *const keys[] = {"name", "address", "website", "custom_fields"};
    cJSON *s = cJSON_CreateObject();

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(org, keys[i]);
        cJSON *d;

        if (!v)
            continue;
        d = cJSON_Duplicate(v, 1);
        if (!strcmp(keys[i], "address") && cJSON_IsObject(d)) {
            /* a null subfield is an absent one (the body never sends nulls) */
            cJSON *sub = d->child, *nx;

            cJSON_DeleteItemFromObjectCaseSensitive(d, "formatted_address");
            for (sub = d->child; sub; sub = nx) {
                nx = sub->next;
                if (cJSON_IsNull(sub))
                    cJSON_Delete(cJSON_DetachItemViaPointer(d, sub));
            }
        }
        cJSON_AddItemToObject(s, keys[i], d);
    }
    return s;
}

/* The custom_fields selection: the identity fields, and the other mapped
 * custom fields while they fit the 15-key selection. */
static mlc_rc scan_keys(struct ld *ld, struct mlc_buf *keys, struct mlc_err *err)
{
    size_t nc = pd_mapping_custom_count(ld->map);
    mlc_rc rc = mlc_buf_printf(keys, "%s,%s", ld->k_num, ld->k_co);

    if (nc <= MAX_SCAN_KEYS)
        for (size_t i = 0; i < nc && rc == MLC_OK; i++)
            if (i != ld->i_num && i != ld->i_co)
                rc = mlc_buf_printf(keys, ",%s", pd_mapping_custom_key(ld->map, i));
    if (rc != MLC_OK)
        return mlc_err_set(err, MLC_FATAL,
                           "scanning organizations: the custom field keys do not fit a request");
    return MLC_OK;
}

/* Asks one page (since and cursor escaped, "" for none) and hands every
 * organization on it to on_org; cursor (PD_PATH_MAX) becomes the next
 * page's, "" after the last. */
static mlc_rc scan_page(struct ld *ld, const char *keys, const char *since, char *cursor,
                        ld_org_fn on_org, void *ctx, struct mlc_err *err)
{
    struct pd_call call = {.op = PD_OP_LIST_ORGS, .method = MLC_HTTP_GET};
    const cJSON *org;
    mlc_rc rc = MLC_OK;
    int n = snprintf(call.path, sizeof(call.path),
                     "/api/v2/organizations?limit=%d&custom_fields=%s%s%s%s%s", SCAN_PAGE, keys,
                     since[0] ? "&updated_since=" : "", since, cursor[0] ? "&cursor=" : "", cursor);

    if (n < 0 || (size_t)n >= sizeof(call.path))
        /* a cut cursor would page wrongly or be refused on every try */
        return mlc_err_set(err, MLC_FATAL,
                           "scanning organizations: the request path (%d bytes with the "
                           "cursor) exceeds %zu bytes",
                           n, sizeof(call.path) - 1);
    rc = pd_client_call1(ld->pd, &call, err);
    if (rc != MLC_OK) {
        pd_call_reset(&call);
        mlc_err_prefix(err, "scanning organizations");
        /* e.g. a 400 for updated_since: try again later, loudly */
        return rc == MLC_PERM ? MLC_RETRY : rc;
    }
    cJSON_ArrayForEach(org, cJSON_GetObjectItemCaseSensitive(call.json, "data"))
    {
        if ((rc = on_org(ctx, org, err)) != MLC_OK)
            break;
    }
    if (rc == MLC_OK)
        ld_next_cursor(call.json, cursor, PD_PATH_MAX);
    pd_call_reset(&call);
    return rc;
}

mlc_rc ld_scan_orgs(struct ld *ld, int64_t since_ms, ld_org_fn on_org, void *ctx, size_t *pages,
                    struct mlc_err *err)
{
    struct mlc_buf keys;
    char cursor[PD_PATH_MAX] = "", since[64] = "";
    mlc_rc rc;

    *pages = 0;
    mlc_buf_init(&keys, 4096);
    if ((rc = scan_keys(ld, &keys, err)) != MLC_OK)
        goto out;
    if (since_ms > 0) {
        char t[32];

        ld_rfc3339(since_ms, t);
        ld_url_escape(t, since, sizeof(since));
    }
    do {
        if ((rc = scan_page(ld, mlc_buf_str(&keys), since, cursor, on_org, ctx, err)) != MLC_OK)
            goto out;
        (*pages)++;
    } while (cursor[0]);
out:
    mlc_buf_free(&keys);
    return rc;
}
