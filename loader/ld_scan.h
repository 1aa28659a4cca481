/* ld_scan.h - the identity scan and the id map refresh (ld_scan.c). */
#ifndef LD_SCAN_H
#define LD_SCAN_H

#include "ld_internal.h"
#include "ld_orgs.h"

/* What a listed organization's ID fields say (keys k_num, k_co: the custom
 * field keys of the customer number and the company). */
enum ld_org_kind {
    LD_ORG_FOREIGN, /* not both IDs: not ours, never touched */
    LD_ORG_DELETED, /* both IDs, but deleted in Pipedrive */
    LD_ORG_BAD_ID,  /* both IDs, but no usable id (ld_json_id) */
    LD_ORG_OURS,    /* both IDs and an id: *id set */
};

/* Classifies org; *company and *number (borrowed from org) are set unless
 * the organization is foreign. Anything may be missing or of the wrong type
 * in org: it is Pipedrive's answer. */
enum ld_org_kind ld_org_identity(const cJSON *org, const char *k_num, const char *k_co,
                                 const char **company, const char **number, int64_t *id);

/* Pages GET /api/v2/organizations since since_ms (0: all) and records in the
 * id map every organization that carries both IDs (adoption snapshots,
 * duplicates). MLC_RETRY when Pipedrive refused or failed. */
mlc_rc ld_scan(struct ld *ld, int64_t since_ms, struct mlc_err *err);

/* Looks one customer up by its IDs (itemSearch/field on the customer
 * number, 20 tokens, then a GET of each hit, 1 token) and records what it
 * found as an authoritative answer: exactly one organization ends a
 * duplicate state, none clears the row so that the next event creates one. */
mlc_rc ld_lookup_customer(struct ld *ld, const char *company, const char *number,
                          struct mlc_err *err);

/* Full scan when the map is cold (never scanned: new or lost state file),
 * else the organizations updated since the last scan minus the margin. */
mlc_rc ld_refresh_map(struct ld *ld, struct mlc_err *err);

#endif
