/* pdsim_search.h - Pipedrive's organization search and itemSearch/field matching.
 *
 * GET /api/v2/organizations/search (reference §6):
 *   term: at least 2 characters (1 with exact_match); fields: any of
 *   name,address,custom_fields,notes (default all); exact_match: the whole
 *   value equals the term, NOT case-sensitive; otherwise the term occurs in the
 *   value, not case-sensitive. Only custom fields of the searchable types
 *   (address, varchar, text, varchar_auto, double, monetary, phone) are looked
 *   at. The sandbox keeps no notes, so `notes` never matches.
 * GET /api/v2/itemSearch/field:
 *   term: at least 2 characters (1 with match=exact); match exact (default),
 *   beginning or middle; always case-sensitive; one field (system `name` or
 *   `address`, or a searchable custom field).
 * Case folding is ASCII only (a documented simplification).
 * Organizations that are deleted, or not yet indexed (indexed_at_ms > now),
 * are never found.
 */
#ifndef PDSIM_SEARCH_H
#define PDSIM_SEARCH_H

#include "pdsim_store.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

enum {
    PDSIM_SF_NAME = 1,
    PDSIM_SF_ADDRESS = 2,
    PDSIM_SF_CUSTOM = 4,
    PDSIM_SF_NOTES = 8,
    PDSIM_SF_ALL = 15,
};

enum pdsim_match { PDSIM_MATCH_EXACT = 0, PDSIM_MATCH_BEGINNING, PDSIM_MATCH_MIDDLE };

/* Term length rule: >= 2 code points, >= 1 when exact. */
bool pdsim_search_term_ok(const char *term, bool exact);
/* The custom field types search looks at. */
bool pdsim_search_type_searchable(const char *type);
/* "name,address,custom_fields,notes" -> mask; false on an unknown word. */
bool pdsim_search_parse_fields(const char *s, unsigned *mask);
/* "exact" | "beginning" | "middle"; false otherwise. */
bool pdsim_search_parse_match(const char *s, enum pdsim_match *out);
/* Text of a field value that search compares (buf), false when not searchable. */
bool pdsim_search_value_text(const char *type, const cJSON *v, char *buf, size_t bufsz);

/* Case-insensitive (ASCII) whole-value or substring match. */
bool pdsim_match_ci(const char *value, const char *term, bool exact);
/* Case-sensitive match by mode. */
bool pdsim_match_cs(const char *value, const char *term, enum pdsim_match mode);

/* Every matching organization, id order, as search result items
 * {"result_score":…,"item":{"id","type":"organization","name","address",
 * "visible_to","owner":{"id"},"custom_fields":[…],"notes":[]}}. Caller frees. */
cJSON *pdsim_search_orgs(struct pdsim_company *co, const char *term, bool exact, unsigned mask,
                         long long now_ms);
/* Every organization whose field f matches, id order, as {"id","name"}. Caller frees. */
cJSON *pdsim_search_field(struct pdsim_company *co, const struct pdsim_field *f, const char *term,
                          enum pdsim_match mode, long long now_ms);

#endif
