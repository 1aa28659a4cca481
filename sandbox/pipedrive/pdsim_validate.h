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

/* Length limits, in UTF-8 code points (docs/pipedrive-api.md, Validation
 * limits). varchar, varchar_auto and phone values are limited to 255 by the
 * spec and not configurable; the others are undocumented or only roughly
 * documented, so the sandbox takes them from switches. */
#define PDSIM_VARCHAR_MAX         255   /* doc: "up to 255 characters" */
#define PDSIM_OPTIONS_MAX         10000 /* doc: options per enum/set field */
#define PDSIM_NAME_MAX_DEFAULT    255   /* inferred: `name` is a varchar system field */
#define PDSIM_ADDRESS_MAX_DEFAULT 255   /* inferred: address value and each subfield */
#define PDSIM_TEXT_MAX_DEFAULT    65535 /* doc says "up to 65k"; the exact count inferred */

struct pdsim_rules {
    long max_name;    /* organization name */
    long max_address; /* address value and each subfield (organization and custom) */
    long max_text;    /* text custom fields */
};

/* The defaults above. */
void pdsim_rules_default(struct pdsim_rules *r);

/* pdsim_validate_org with the default rules. */
bool pdsim_validate_org(struct pdsim_company *co, const cJSON *body, bool create, char *msg,
                        size_t msgsz);
/* The same with rules r; monetary currencies must be among co's
 * (pdsim_company_has_currency). */
bool pdsim_validate_org_rules(struct pdsim_company *co, const struct pdsim_rules *r,
                              const cJSON *body, bool create, char *msg, size_t msgsz);
/* One custom-field value (not null) against its field's type, with the
 * default rules and no currency check. */
bool pdsim_validate_custom_value(const struct pdsim_field *f, const cJSON *v, char *msg,
                                 size_t msgsz);
/* The same with rules r and, when co is not NULL, co's currencies. */
bool pdsim_validate_custom_value_rules(const struct pdsim_company *co, const struct pdsim_rules *r,
                                       const struct pdsim_field *f, const cJSON *v, char *msg,
                                       size_t msgsz);
/* PATCH /api/v2/organizationFields/{field_code}: at least one member;
 * field_name 1-255 characters (custom fields only), ui_visibility,
 * important_fields, required_fields objects; nothing else (field_type and
 * field_code cannot change). */
bool pdsim_validate_field_patch(const struct pdsim_field *f, const cJSON *body, char *msg,
                                size_t msgsz);
/* The bodies of .../{field_code}/options (f must be an enum or set field):
 * a non-empty array of {label} (add: 1-255 characters, at most 10,000
 * options in all), {id, label} (update) or {id} (delete), each id an
 * existing option of f and named once. */
bool pdsim_validate_options_add(const struct pdsim_field *f, const cJSON *body, char *msg,
                                size_t msgsz);
bool pdsim_validate_options_update(const struct pdsim_field *f, const cJSON *body, char *msg,
                                   size_t msgsz);
bool pdsim_validate_options_delete(const struct pdsim_field *f, const cJSON *body, char *msg,
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
