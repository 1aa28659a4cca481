/* sagesim_data.h - ARCustomers records, companies and the data generator of the Sage 300 sandbox.
 *
 * The field table lists every ARCustomers property of the AR $metadata in
 * metadata order with its type (Sage 300 v1.0: dates are Edm.DateTimeOffset,
 * option fields are enums rendered as member-name strings). A customer is one
 * allocation holding a cell per field plus its strings; records are immutable
 * once built: a change builds a new record and replaces the old one.
 *
 * Cells: strings are pointers into the record (NULL = JSON null); decimals are
 * int64 scaled by 10^5 (rendered with the field's scale, 25000.000);
 * integers and booleans are int64; enums are the member index; dates are
 * days since 1970-01-01 or SAGESIM_NULL_DATE; CustomerOptionalFieldValues is
 * the JSON text of the array (never NULL).
 *
 * A company keeps its customers sorted by CustomerNumber (byte-wise), so key
 * lookups and keyset scans (CustomerNumber gt 'X') are binary searches.
 *
 * Not thread-safe: the sandbox calls it under the core's app mutex.
 */
#ifndef SAGESIM_DATA_H
#define SAGESIM_DATA_H

#include "sagesim_filter.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SAGESIM_NFIELDS       156
#define SAGESIM_NULL_DATE     INT64_MIN
#define SAGESIM_DEC_SCALE     100000
#define SAGESIM_CUSTOMER_TYPE "Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.Customer"

struct sagesim_field {
    const char *name;
    enum sagesim_ftype type;
    int maxlen;  /* strings: maximum characters */
    int scale;   /* decimals: digits after the point when rendered */
    int enumset; /* enums: index for sagesim_enum_members */
};

extern const struct sagesim_field sagesim_fields[SAGESIM_NFIELDS];

/* Field index of a property name (case-sensitive), or -1. */
int sagesim_field_index(const char *name);
/* Member names of an enum set (borrowed, static). */
const char *const *sagesim_enum_members(int enumset, size_t *n);
/* The filter schema of ARCustomers. */
const struct sagesim_schema *sagesim_customer_schema(void);

/* Indexes used by the code. */
enum {
    SAGESIM_F_CUSTOMERNUMBER = 0,
};
extern int sagesim_f_datelastmaintained, sagesim_f_numoptfields, sagesim_f_optfields;

union sagesim_cell {
    const char *s;
    int64_t i;
};

struct sagesim_customer {
    union sagesim_cell v[SAGESIM_NFIELDS];
    /* strings follow in the same allocation */
};

/* Builds a record from cells whose strings are borrowed: the result owns
 * copies (free() it). */
struct sagesim_customer *sagesim_customer_pack(const union sagesim_cell *cells);

/* Default cells of a new customer (key ""), strings static. */
void sagesim_customer_defaults(union sagesim_cell *cells);

/* Builds a new record from base (or defaults when NULL) with the properties
 * of obj merged in (JSON merge of top-level properties; "@odata.*" members are
 * ignored). Checks names, JSON types, lengths, enum members and dates. Returns
 * NULL and a one-line message on a bad object. Caller frees the result.
 * NumberOfOptionalFields follows the CustomerOptionalFieldValues array. */
struct sagesim_customer *sagesim_customer_merge(const struct sagesim_customer *base,
                                                const cJSON *obj, char *msg, size_t msgsz);

/* Getter for sagesim_filter_eval (ctx unused). */
void sagesim_customer_get(const void *ctx, const void *rec, int field, struct sagesim_value *out);

struct sagesim_company {
    char code[16];
    struct sagesim_customer **cust; /* owned, sorted by CustomerNumber */
    size_t n, cap;
};

struct sagesim_store {
    struct sagesim_company *co; /* owned */
    size_t nco;
    int64_t today; /* days since epoch */
};

void sagesim_store_init(struct sagesim_store *st, int64_t today);
void sagesim_store_free(struct sagesim_store *st);
/* Finds a company (case-insensitive code), or NULL. */
struct sagesim_company *sagesim_store_company(struct sagesim_store *st, const char *code);
/* Adds a company (upper-cased) unless it exists; returns it, NULL on a bad code.
 * Adding a company may move the others: earlier company pointers are invalid
 * afterwards (look them up again). */
struct sagesim_company *sagesim_store_add_company(struct sagesim_store *st, const char *code);

/* First index whose key is >= key (or > key when !incl). */
size_t sagesim_company_lower_bound(const struct sagesim_company *co, const char *key, bool incl);
/* The customer with that key, or NULL. */
struct sagesim_customer *sagesim_company_find(const struct sagesim_company *co, const char *key);
/* Inserts or replaces (takes ownership of c). */
void sagesim_company_put(struct sagesim_company *co, struct sagesim_customer *c);
/* Removes and frees; false when absent. */
bool sagesim_company_delete(struct sagesim_company *co, const char *key);

/* Appends n generated customers to co (deterministic for seed and code):
 * realistic and awkward values (apostrophes, ampersands, non-ASCII names and
 * cities, empty address lines, null dates, maximum-length fields, keys with
 * spaces, ', &, / and #), DateLastMaintained spread over the two years
 * before st->today. Keys already in co are skipped, never replaced. false
 * when the key space (index 999,999) is exhausted. */
bool sagesim_generate(struct sagesim_store *st, struct sagesim_company *co, long n, uint64_t seed);

/* Loads {"CO":[customer, ...], ...} into the store (companies created as
 * needed). false with a message on a bad file. */
bool sagesim_load_json(struct sagesim_store *st, const char *path, char *msg, size_t msgsz);

/* ARTerms: the terms codes every company has. */
struct sagesim_terms {
    const char *code;
    const char *description;
    int due_days;
    int disc_days;
    int disc_pct;
};
extern const struct sagesim_terms sagesim_terms[];
extern const size_t sagesim_nterms;

/* Parses YYYY-MM-DD into days; false when invalid. */
bool sagesim_parse_date(const char *s, int64_t *days);

#endif
