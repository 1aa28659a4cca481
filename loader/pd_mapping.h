/* pd_mapping.h - event fields -> Pipedrive organization body (MLC_MAPPING).
 *
 * The mapping file format is schemas/mapping.v1.json, explained in
 * docs/mapping.md; the built-in default is schemas/mapping.default.json.
 *
 * Life cycle:
 *   1. pd_mapping_parse() / pd_mapping_load_file() / pd_mapping_default():
 *      strict parse; the first problem fails with one line naming its JSON
 *      path ("mapping $.custom_fields[2].source.field: unknown event field
 *      \"cty\"").
 *   2. pd_mapping_resolve() with GET /api/v2/organizationFields: each custom
 *      field's display name -> its 40-char field_code, enum labels -> option
 *      ids. Missing fields and options are reported (create them with
 *      pd_mapping_field_create_body() / pd_mapping_missing_options_body(),
 *      list the fields again and resolve again). Two fields with the same
 *      name, or a type mismatch, are MLC_FATAL: never guess.
 *   3. pd_mapping_apply(): (event, resolved mapping) -> v2 organization body.
 *   4. pd_mapping_diff(): last applied body + new body -> PATCH body of the
 *      changed fields only (address whole), or no change; pd_mapping_hash()
 *      for the "unchanged payload costs no call" check; a human diff for
 *      --dry-run.
 *
 * Event fields available to a mapping: company, customer_number, op (from
 * the event envelope), the keys of its "customer" object and, for v2 events,
 * of its "credit" object (docs/events.md). A custom field whose source reads
 * a credit key is left out of the body of an event without a credit object
 * (v1: absent, not cleared; ADR 0008 decision 4).
 *
 * Ownership: a struct pd_mapping is allocated by the parse functions and
 * released with pd_mapping_free(). Every cJSON ** output is new and owned by
 * the caller (cJSON_Delete). Inputs are borrowed.
 */
#ifndef PD_MAPPING_H
#define PD_MAPPING_H

#include "mlc_buf.h"
#include "mlc_err.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct pd_mapping;

#define PD_MAPPING_MAX_BYTES (256 * 1024)

/* Parses mapping JSON text. MLC_FATAL (a bad mapping is bad configuration). */
mlc_rc pd_mapping_parse(const char *json, struct pd_mapping **out, struct mlc_err *err);
/* Reads and parses a file (at most PD_MAPPING_MAX_BYTES). */
mlc_rc pd_mapping_load_file(const char *path, struct pd_mapping **out, struct mlc_err *err);
/* The built-in default mapping (identical to schemas/mapping.default.json). */
mlc_rc pd_mapping_default(struct pd_mapping **out, struct mlc_err *err);
/* Its JSON text (static). */
const char *pd_mapping_default_json(void);
void pd_mapping_free(struct pd_mapping *m);

/* Custom fields of the mapping, in file order. */
size_t pd_mapping_custom_count(const struct pd_mapping *m);
const char *pd_mapping_custom_name(const struct pd_mapping *m, size_t i);
const char *pd_mapping_custom_type(const struct pd_mapping *m, size_t i);
/* 40-char field_code after resolution, or NULL. */
const char *pd_mapping_custom_key(const struct pd_mapping *m, size_t i);
/* Index of the custom field named name, or -1. */
long pd_mapping_custom_find(const struct pd_mapping *m, const char *name);
/* Indexes of the custom fields that carry the identity ("identity" in the
 * file: Sage 300 Customer ID and Sage 300 Company by default). */
void pd_mapping_identity(const struct pd_mapping *m, size_t *customer_number_field,
                         size_t *company_field);

struct pd_resolve_report {
    size_t missing_fields;  /* custom fields absent from Pipedrive */
    size_t missing_options; /* enum labels absent from an existing field */
    char text[512];         /* "missing fields: A, B; missing options: C/On hold" */
};

/* Resolves against the organization fields: `fields` is the array of field
 * objects (field_name, field_code, field_type, options, is_custom_field) or
 * a whole response {"data": [...]}. Can be called again after creating what
 * was missing; earlier results are replaced. MLC_OK with counts in rep
 * (nullable) when nothing conflicts; MLC_FATAL on duplicate names, a type
 * mismatch, duplicate option labels or a malformed field list. */
mlc_rc pd_mapping_resolve(struct pd_mapping *m, const cJSON *fields, struct pd_resolve_report *rep,
                          struct mlc_err *err);
/* True when every custom field and every enum option has been resolved. */
bool pd_mapping_resolved(const struct pd_mapping *m);
/* True when field i has been found (its options may still be missing). */
bool pd_mapping_field_resolved(const struct pd_mapping *m, size_t i);
/* POST /api/v2/organizationFields body for field i:
 * {"field_name","field_type"[,"options":[{"label"}...]]}. */
cJSON *pd_mapping_field_create_body(const struct pd_mapping *m, size_t i);
/* POST /api/v2/organizationFields/{code}/options body for the options of
 * resolved enum field i that Pipedrive lacks; NULL when none. */
cJSON *pd_mapping_missing_options_body(const struct pd_mapping *m, size_t i);

/* Address parts that are absent: left out of the (always whole) address
 * object by default, which Pipedrive treats as null (docs/pipedrive-api.md) and which
 * keeps bodies valid against the v2 spec, where neither the address nor its
 * parts are nullable; an update whose address.value is absent then leaves
 * the address alone. on: send them as explicit nulls, and "address": null on
 * update when address.value is absent [I]. */
void pd_mapping_set_address_nulls(struct pd_mapping *m, bool on);

/* The longest address.value Pipedrive takes, in characters (default
 * PD_ADDRESS_VALUE_MAX; 0 keeps the default). A longer joined value is cut
 * at a character boundary, trailing separators dropped: safe, because the
 * parts (street, city, postal code, ...) travel in their own subfields and
 * the same record always gives the same cut. Any other text Pipedrive
 * finds too long is refused by it and dead-lettered, never cut. */
#define PD_ADDRESS_VALUE_MAX 255
void pd_mapping_set_address_max(struct pd_mapping *m, size_t chars);

enum pd_apply_mode {
    PD_APPLY_CREATE, /* POST: absent values are left out */
    PD_APPLY_UPDATE, /* PATCH: absent values are null (cleared) */
};

/* What the loader knows of one event. customer is the event's "customer"
 * object (borrowed; NULL for op "missing"); credit its "credit" object (v2
 * upserts; NULL for v1 events, which do not carry it). */
struct pd_event_view {
    const char *company;
    const char *customer_number;
    const char *op; /* "upsert" or "missing" */
    const cJSON *customer;
    const cJSON *credit;
};

/* Builds the v2 organization body. For op "missing" the body sets only the
 * custom fields marked on_missing (Customer Status by default). MLC_PERM
 * when an upsert event lacks the name (or another required value);
 * MLC_FATAL when the mapping is not resolved. */
mlc_rc pd_mapping_apply(const struct pd_mapping *m, const struct pd_event_view *ev,
                        enum pd_apply_mode mode, cJSON **body, struct mlc_err *err);

/* Canonical JSON: object keys sorted by byte order, no whitespace, numbers
 * as integers when integral (|x| < 2^53) else the shortest %.17g form that
 * reads back equal, strings escaped as JSON requires (non-ASCII kept as
 * UTF-8). Appends to out. */
mlc_rc pd_mapping_canonical(const cJSON *json, struct mlc_buf *out, struct mlc_err *err);
/* SHA-256 of the canonical JSON as 64 lower-case hex digits + NUL. */
mlc_rc pd_mapping_hash(const cJSON *json, char hex[65], struct mlc_err *err);

/* PATCH body with what differs between last (the last applied body, may be
 * NULL: everything differs) and next: changed top-level fields, changed
 * custom fields, the address whole when any subfield changed. A key absent
 * on one side and null on the other is no change; keys only in last are
 * left alone (nothing is cleared by omission). *patch is NULL when nothing
 * changed. When text is not NULL, appends one line per change,
 * "  <field>: <old> -> <new>\n", custom fields by their display names when m
 * is given. */
mlc_rc pd_mapping_diff(const struct pd_mapping *m, const cJSON *last, const cJSON *next,
                       cJSON **patch, struct mlc_buf *text, struct mlc_err *err);

#endif
