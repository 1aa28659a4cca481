/* sagesim_render.h - JSON and EDMX output of the Sage 300 sandbox.
 *
 * Customers are written straight into a bounded buffer (no cJSON tree per
 * record) so a page of 1,000 full records costs one pass over the fields.
 * Output follows Sage 300 v1.0: every property in metadata order, decimals as
 * numbers with the field's scale (25000.000), enums as member names, dates as
 * "YYYY-MM-DDT00:00:00Z" or null, strings as UTF-8 with JSON escapes only
 * where JSON needs them (like Json.NET).
 */
#ifndef SAGESIM_RENDER_H
#define SAGESIM_RENDER_H

#include "mlc_buf.h"
#include "sagesim_data.h"

#include <stdbool.h>

/* Appends s as a JSON string literal (with quotes). */
mlc_rc sagesim_json_string(struct mlc_buf *b, const char *s);
/* Appends "YYYY-MM-DDT00:00:00Z" (quoted) or null. */
mlc_rc sagesim_json_date(struct mlc_buf *b, int64_t days);

/* Appends one customer object. select: NULL for every property, else an
 * array of SAGESIM_NFIELDS flags. prefix: text written right after '{'
 * (e.g. "\"@odata.context\":\"...\","), or NULL. */
mlc_rc sagesim_render_customer(struct mlc_buf *b, const struct sagesim_customer *c,
                               const bool *select, const char *prefix);

/* Appends the AR $metadata document (EDMX 4.0) naming ARCustomers and ARTerms. */
mlc_rc sagesim_render_metadata(struct mlc_buf *b);

#endif
