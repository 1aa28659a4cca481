/* ld_adopt.h - MLC_MATCH_EXISTING=name: a customer the loader meets for the
 * first time (no organization carries its IDs) is matched by name, with the
 * rules of `mlc-loader match` (ld_match.h), against the organizations that
 * carry no ID field; a single match is adopted instead of creating a new
 * organization.
 *
 * The listing of those organizations is this replica's cache (ADR 0009):
 * it is taken from the full scan of a cold id map for free, else listed
 * (10 tokens per 500 organizations) when older than MLC_MATCH_MAX_AGE.
 * Correctness never depends on it being current: before a match is
 * adopted, the organization is read again (GET, 1 token) and adopted only
 * when it still exists and still carries neither ID field; what the read
 * returns is the snapshot the usual adoption diff starts from.
 *
 * Ownership: ld_listing_new() allocates (NULL when matching is off),
 * ld_listing_free() releases; the listing copies what it keeps.
 */
#ifndef LD_ADOPT_H
#define LD_ADOPT_H

#include "ld_internal.h"

struct ld_listing;

/* *out NULL when MLC_MATCH_EXISTING is off. MLC_PERM on a bad
 * MLC_MATCH_SUFFIXES (one line naming it). */
mlc_rc ld_listing_new(const struct mlc_config *cfg, struct ld_listing **out, struct mlc_err *err);
void ld_listing_free(struct ld_listing *l);

/* A full scan of every organization feeds the listing: begin, add each
 * organization listed (those without IDs are kept), then commit (the
 * listing dates from started_ms) or abort. All accept NULL (matching off). */
void ld_listing_begin(struct ld_listing *l);
void ld_listing_add(struct ld_listing *l, const struct ld *ld, const cJSON *org);
void ld_listing_commit(struct ld_listing *l, int64_t started_ms);

/* For w (an upsert of a customer without an organization): lists again
 * when the listing is older than MLC_MATCH_MAX_AGE, matches the customer's
 * name and, on a single match still without IDs (read again), fills w->row
 * with its id and snapshot (remote, as a scan would) and w->matched_id.
 * Otherwise leaves w alone: the customer is created as without matching. */
mlc_rc ld_adopt_match(struct ld *ld, struct work *w, struct mlc_err *err);

#endif
