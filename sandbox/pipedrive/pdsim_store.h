/* pdsim_store.h - the Pipedrive sandbox's data: companies, tokens, fields, organizations.
 *
 * A company holds its API tokens (each with its rate-limit state), its user
 * (GET /v1/users/me), its organization fields and its organizations. Custom
 * field keys are random 40-character hex strings generated per company, as in
 * Pipedrive; the system fields `name` and `address` are always present.
 * Organizations are kept as their API v2 JSON object (cJSON), sorted by id;
 * DELETE only marks them deleted (is_deleted) as Pipedrive does.
 *
 * The whole state can be dumped to and loaded from JSON:
 *   {"companies":[{"id":1,"name":"…","domain":"…","user":{"id":1,"name":"…","email":"…"},
 *                  "tokens":["…"],
 *                  "fields":[{"id":12,"key":"<40 hex>","name":"…","field_type":"varchar",
 *                             "options":[{"id":1,"label":"…"}]|null,"is_deleted":false}],
 *                  "currencies":["USD","EUR",…],
 *                  "organizations":[{<v2 organization object>}]}]}
 * On load, missing ids and keys are generated, system fields are added, a
 * company without "currencies" gets the store's default list, and
 * organizations are taken as given (seeded "foreign" data is not validated).
 *
 * Ownership: the store owns everything reachable from it; pointers returned
 * by lookups stay valid until the next change of the same array (add, load).
 * Not thread-safe: the HTTP core serialises handler calls.
 */
#ifndef PDSIM_STORE_H
#define PDSIM_STORE_H

#include "mlc_err.h"
#include "pdsim_limits.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define PDSIM_KEY_HEX 40

struct pdsim_field {
    long id;       /* v1 numeric id */
    char key[48];  /* 40 hex chars for custom fields; "name", "address" for system fields */
    char *name;    /* display name (not unique) */
    char type[16]; /* varchar, varchar_auto, text, double, monetary, date, daterange, time,
                      timerange, set, enum, user, org, people, phone, address */
    bool is_custom;
    bool deleted;
    cJSON *options;     /* [{"id":n,"label":"…"}] for enum/set, else NULL */
    long long add_time; /* epoch seconds */
};

struct pdsim_org {
    long id;
    cJSON *doc; /* v2 object; custom_fields holds only non-null values */
    bool deleted;
    long long add_time;      /* epoch seconds */
    long long update_time;   /* epoch seconds */
    long long indexed_at_ms; /* search finds it from then on */
};

struct pdsim_token {
    char *token;
    struct pdsim_token_state *limits;
};

struct pdsim_company {
    long id;
    char *name;
    char *domain;
    long user_id;
    char *user_name;
    char *user_email;
    struct pdsim_token *tokens;
    size_t ntokens;
    struct pdsim_field *fields;
    size_t nfields;
    struct pdsim_org *orgs; /* sorted by id */
    size_t norgs;
    size_t caporgs;
    long next_org_id;
    long next_field_id;
    long next_option_id;
    struct pdsim_daily daily;
    char **currencies; /* codes a monetary value may carry (the company's currencies) */
    size_t ncurrencies;
};

#define PDSIM_CURRENCIES_DEFAULT "USD,EUR,GBP,CAD,CHF"
#define PDSIM_CURRENCIES_MAX     1024 /* bytes of a comma list of currency codes */
#define PDSIM_CURRENCY_CODE_MAX  15   /* characters of one code */

struct pdsim_store {
    struct pdsim_company *companies;
    size_t ncompanies;
    /* the currencies of a company added or loaded without its own list
     * (--currencies); kept by pdsim_store_free and pdsim_store_load */
    char currencies_default[PDSIM_CURRENCIES_MAX];
};

void pdsim_store_init(struct pdsim_store *st);
void pdsim_store_free(struct pdsim_store *st);

/* The subfields of the v2 address object, in Pipedrive's order. */
#define PDSIM_ADDRESS_SUBFIELDS 10
extern const char *const pdsim_address_subfields[PDSIM_ADDRESS_SUBFIELDS];

/* Adds a company with the system fields; returns it (owned by st) or NULL. */
struct pdsim_company *pdsim_store_add_company(struct pdsim_store *st, long id, const char *name,
                                              const char *domain, struct mlc_err *err);
/* Adds a token to a company unless the company already has it. */
void pdsim_company_add_token(struct pdsim_company *co, const char *token);
/* Finds the company and token entry of an API token; false when unknown. */
bool pdsim_store_find_token(struct pdsim_store *st, const char *token, struct pdsim_company **co,
                            struct pdsim_token **tok);

/* Field by key (including deleted ones), or NULL. */
struct pdsim_field *pdsim_company_field(struct pdsim_company *co, const char *key);
/* Adds a custom field with a fresh random key. labels: NULL or an array of
 * strings or {"label":…} objects (option ids are assigned). Returns the field. */
struct pdsim_field *pdsim_company_add_field(struct pdsim_company *co, const char *name,
                                            const char *type, const cJSON *labels, long long now_s,
                                            struct mlc_err *err);
/* True for the 16 documented custom field types. */
bool pdsim_field_type_valid(const char *type);
/* Option {id,label} of an enum/set field, or NULL. */
const cJSON *pdsim_field_option(const struct pdsim_field *f, long id);

/* True for a currency code: 1 to 15 ASCII letters or digits. */
bool pdsim_currency_code_valid(const char *code);
/* True when csv is a comma list of 1 to 64 valid codes; else a message. */
bool pdsim_currency_list_valid(const char *csv, char *msg, size_t msgsz);
/* Replaces the company's currencies with those of the comma list csv
 * (validated with pdsim_currency_list_valid). */
mlc_rc pdsim_company_set_currencies(struct pdsim_company *co, const char *csv, struct mlc_err *err);
/* True when code is one of the company's currencies (exact match). */
bool pdsim_company_has_currency(const struct pdsim_company *co, const char *code);

/* Marks a custom field deleted and removes its values from every
 * organization, as Pipedrive does (a new field gets a new key). */
void pdsim_field_delete(struct pdsim_company *co, struct pdsim_field *f);
/* Option changes of an enum/set field from bodies validated by
 * pdsim_validate_options_*; each returns the options added, updated or
 * deleted ([{id,label}], caller frees). Deleting options also removes them from organization
 * values (a set left empty is cleared). */
cJSON *pdsim_field_add_options(struct pdsim_company *co, struct pdsim_field *f, const cJSON *body);
cJSON *pdsim_field_update_options(struct pdsim_field *f, const cJSON *body);
cJSON *pdsim_field_delete_options(struct pdsim_company *co, struct pdsim_field *f,
                                  const cJSON *body);

/* Organization by id (deleted ones too), or NULL. */
struct pdsim_org *pdsim_company_org(struct pdsim_company *co, long id);
/* Creates an organization from a validated v2 body. */
struct pdsim_org *pdsim_company_create_org(struct pdsim_company *co, const cJSON *body,
                                           long long now_ms, long index_delay_ms,
                                           struct mlc_err *err);
/* Applies a validated v2 PATCH body: present members replace, address is
 * replaced whole (omitted subfields null), custom_fields are merged (null clears). */
mlc_rc pdsim_org_apply(struct pdsim_org *org, const cJSON *body, long long now_s,
                       struct mlc_err *err);
/* Marks deleted; update_time becomes the delete time. */
void pdsim_org_delete(struct pdsim_org *org, long long now_s);
/* The v2 response object (caller frees). selection: NULL for every custom
 * field of the company, else the keys to return. */
cJSON *pdsim_org_render(const struct pdsim_company *co, const struct pdsim_org *org,
                        const char *const *selection, size_t nselection);
/* A custom field value of an org (borrowed), or NULL when unset. */
const cJSON *pdsim_org_custom(const struct pdsim_org *org, const char *key);
/* The org name (borrowed), "" when missing. */
const char *pdsim_org_name(const struct pdsim_org *org);

/* The field objects in the v2 and v1 shapes (caller frees). */
cJSON *pdsim_field_render_v2(const struct pdsim_field *f);
cJSON *pdsim_field_render_v1(const struct pdsim_field *f);

/* Whole state as JSON (caller frees). */
cJSON *pdsim_store_dump(const struct pdsim_store *st);
/* Replaces the state with doc. On error the store is left unchanged. */
mlc_rc pdsim_store_load(struct pdsim_store *st, const cJSON *doc, long long now_ms,
                        struct mlc_err *err);

/* RFC 3339 UTC "2026-11-28T07:48:22Z" into buf (>= 21 bytes). */
void pdsim_time_format(long long epoch_s, char *buf, size_t bufsz);
/* Parses "YYYY-MM-DDTHH:MM:SSZ" (or "+00:00"-style offsets); no fractions. */
bool pdsim_time_parse(const char *s, long long *epoch_s);

#endif
