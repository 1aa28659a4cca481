/* ld_util.h - small helpers every loader module may use: JSON members,
 * times, URL escaping, the canonical text of a body. A leaf: it knows no
 * other loader module and no struct ld.
 */
#ifndef LD_UTIL_H
#define LD_UTIL_H

#include "mlc_err.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Percent-escapes in into out (unreserved characters and ',' are kept);
 * stops early rather than overflow outsz. */
void ld_url_escape(const char *in, char *out, size_t outsz);

/* The escaped next_cursor of a v2 list answer, or "" at the end. */
void ld_next_cursor(const cJSON *answer, char *out, size_t outsz);

/* ms since the epoch as "YYYY-MM-DDTHH:MM:SSZ" (UTC). */
void ld_rfc3339(int64_t ms, char out[32]);

/* The canonical text of j (pd_mapping_canonical); the caller frees it.
 * NULL on failure (err filled where the mapping says why). */
char *ld_canonical(const cJSON *j, struct mlc_err *err);

/* What an organization snapshot snap holds of the keys body next would
 * write (top-level keys and custom fields), as a new object to diff next
 * against (the caller deletes it). */
cJSON *ld_project(const cJSON *snap, const cJSON *next);

/* The string member k of object o (nullable), or NULL; borrowed from o. */
const char *ld_json_str(const cJSON *o, const char *k);

#endif
