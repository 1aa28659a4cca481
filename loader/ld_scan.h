/* ld_scan.h - the identity scan and the id map refresh (ld_scan.c). */
#ifndef LD_SCAN_H
#define LD_SCAN_H

#include "ld_internal.h"

/* Pages GET /api/v2/organizations since since_ms (0: all) and records in the
 * id map every organization that carries both IDs (adoption snapshots,
 * duplicates). MLC_RETRY when Pipedrive refused or failed. */
mlc_rc ld_scan(struct ld *ld, int64_t since_ms, struct mlc_err *err);

/* Full scan when the map is cold (never scanned: new or lost state file),
 * else the organizations updated since the last scan minus the margin. */
mlc_rc ld_refresh_map(struct ld *ld, struct mlc_err *err);

#endif
