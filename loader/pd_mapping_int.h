/* pd_mapping_int.h - what the pd_mapping_*.c files share; private to them.
 *
 * pd_mapping.h is the module's API; this header holds the parsed mapping's
 * representation so that its three jobs can live in their own files:
 *   pd_mapping_parse.c  strict parse of the mapping JSON, the built-in
 *                       default, pd_mapping_free() and the accessors;
 *   pd_mapping_apply.c  resolution against Pipedrive's organization fields,
 *                       field/option create bodies, event -> body;
 *   pd_mapping_diff.c   canonical JSON, its hash, the PATCH diff.
 * Nothing outside loader/pd_mapping_*.c includes it.
 */
#ifndef PD_MAPPING_INT_H
#define PD_MAPPING_INT_H

#include "pd_mapping.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* ---- event fields --------------------------------------------------- */

enum ev_type { EV_STR, EV_DATE, EV_NUM, EV_BOOL };

/* An event field a mapping may name: pd_mapping_ev_fields[] lists them all
 * (defined in pd_mapping_parse.c); a source refers to one by its index. */
struct ev_field {
    const char *name;
    enum ev_type type;
    bool credit; /* from the event's "credit" object (v2); absent in v1 events */
};

extern const struct ev_field pd_mapping_ev_fields[];

/* ---- the parsed mapping --------------------------------------------- */

/* Which way a source computes its value: the one key its object has in the
 * file ("field", "const", "join", "first_of", "monetary", "cases"). */
enum src_kind { SRC_FIELD, SRC_CONST, SRC_JOIN, SRC_FIRST_OF, SRC_MONETARY, SRC_CASES };

/* One entry of "cases": when event field `field` equals `equals`, the enum
 * custom field takes option `option`. */
struct enum_case {
    int field;     /* pd_mapping_ev_fields index */
    cJSON *equals; /* owned */
    size_t option; /* index into the custom field's options */
};

/* A parsed "source" object: how one body value is computed from an event.
 * Owns sep, default_currency, constant and cases (freed with the mapping). */
struct source {
    enum src_kind kind;
    /* pd_mapping_ev_fields indexes: FIELD 1, JOIN/FIRST_OF n, MONETARY value+currency */
    int fields[16];
    size_t n_fields;
    char *sep;
    char *default_currency;
    cJSON *constant; /* owned */
    struct enum_case *cases;
    size_t n_cases;
};

/* The parts of the organization's address, "value" (the whole address as
 * one line) first. */
enum addr_sub {
    A_VALUE,
    A_STREET_NUMBER,
    A_ROUTE,
    A_SUBPREMISE,
    A_SUBLOCALITY,
    A_LOCALITY,
    A_ADMIN1,
    A_ADMIN2,
    A_COUNTRY,
    A_POSTAL_CODE,
    A__COUNT
};

/* Address subfield names as in the body, indexed by enum addr_sub (defined
 * in pd_mapping_parse.c). */
extern const char *const pd_mapping_addr_names[A__COUNT];

/* Custom field types by how their value is built; the type names the
 * mapping accepts for each are in pd_mapping_parse.c (field_types). */
enum ftype { FT_TEXT, FT_DOUBLE, FT_MONETARY, FT_ENUM, FT_DATE };

/* One entry of "custom_fields". name, type_name, options and option_ids
 * are owned. key and option_ids are filled by pd_mapping_resolve(). */
struct custom {
    char *name;
    char *type_name;
    enum ftype ft;
    bool on_missing;
    struct source src;
    char **options;
    long *option_ids; /* -1 until resolved */
    size_t n_options;
    char key[41];
    bool resolved;
};

/* The parsed mapping (opaque to callers of pd_mapping.h): built by the parse
 * functions, resolved in place by pd_mapping_resolve(), read by apply and
 * diff, released with pd_mapping_free(). */
struct pd_mapping {
    struct source name;
    bool has_website;
    struct source website;
    bool has_address;
    bool has_sub[A__COUNT];
    struct source addr[A__COUNT];
    struct custom *custom;
    size_t n_custom;
    size_t id_field, company_field; /* custom indexes */
    bool address_nulls;             /* send absent address parts as null */
    size_t address_max;             /* characters of address.value; longer is cut */
};

/* Shortest text that reads back as the same double (pd_mapping_diff.c): the
 * canonical JSON number, also the text of a number mapped to a text field. */
void pd_mapping_fmt_num(double d, char *out, size_t n);

#endif
