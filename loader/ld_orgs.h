/* ld_orgs.h - organizations as Pipedrive lists them: the paged list (10
 * tokens per 500) and the part of one the mapping can write. A leaf under
 * the identity scan (ld_scan), the matching by name (ld_adopt, ld_match_cmd):
 * it knows neither.
 */
#ifndef LD_ORGS_H
#define LD_ORGS_H

#include "ld_internal.h"

/* The part of an organization (a list or GET item) the mapping can write:
 * name, address (without formatted_address and null parts), website and
 * the custom fields. New (cJSON_Delete). */
cJSON *ld_org_snapshot(const cJSON *org);

/* Called for every organization a scan lists (borrowed for the call); a
 * return other than MLC_OK stops the scan. */
typedef mlc_rc (*ld_org_fn)(void *ctx, const cJSON *org, struct mlc_err *err);

/* Pages GET /api/v2/organizations (10 tokens per 500) since since_ms (0:
 * all) with the identity fields and, while they fit, the other mapped
 * custom fields, handing each organization to on_org; *pages counts the
 * pages asked. MLC_RETRY when Pipedrive refused or failed. */
mlc_rc ld_scan_orgs(struct ld *ld, int64_t since_ms, ld_org_fn on_org, void *ctx, size_t *pages,
                    struct mlc_err *err);

#endif
