/* pdsim_validate.h - Pipedrive API v2 request strictness (reference §3, §5, §8).
 *
 * Each function returns true when the body is acceptable; otherwise false
 * with the `error` text of the 400 answer in msg, e.g.
 *   "Validation failed: name: is required"
 *   "Parameter 'dcf558aac1ae4e8c4f849ba5e668430d8df9be12' is not allowed for this request"
 * (the HTTP layer adds "code":"ERR_SCHEMA_VALIDATION_FAILED").
 *
 * Organization rules: the body is an object; `name` (non-empty string) is
 * required on create; known members only (a custom field hash or any other
 * unknown name at the top level is refused, naming it); integers must be JSON
 * integers (no strings, no fractions); visible_to in {1,3,5,7}; label_ids an
 * array of integers; address an object with a string `value` and only known
 * string subfields; add_time (create only) RFC 3339; website/linkedin string
 * or null; industry/annual_revenue/employee_count integer or null;
 * custom_fields an object whose keys are existing, non-deleted custom fields
 * and whose values match the field type (null clears; `[]` for a set field is
 * refused).
 */
#ifndef PDSIM_VALIDATE_H
#define PDSIM_VALIDATE_H

#include "pdsim_store.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

bool pdsim_validate_org(struct pdsim_company *co, const cJSON *body, bool create, char *msg,
                        size_t msgsz);
/* One custom-field value (not null) against its field's type. */
bool pdsim_validate_custom_value(const struct pdsim_field *f, const cJSON *v, char *msg,
                                 size_t msgsz);
/* POST /api/v2/organizationFields: field_name 1-255 chars, field_type one of
 * the 16 types, options [{label}] required (non-empty) for enum/set, optional
 * ui_visibility/important_fields/required_fields objects, nothing else. */
bool pdsim_validate_field_v2(const cJSON *body, char *msg, size_t msgsz);
/* POST /v1/organizationFields: name and field_type required, options for
 * enum/set (strings or {label}); other members ignored, as v1 does. */
bool pdsim_validate_field_v1(const cJSON *body, char *msg, size_t msgsz);

/* Helpers shared with the routes. */
bool pdsim_is_integer(const cJSON *v);
/* Length in UTF-8 code points. */
size_t pdsim_utf8_len(const char *s);
/* 40 lower- or upper-case hex characters. */
bool pdsim_looks_like_hash(const char *s);

#endif
