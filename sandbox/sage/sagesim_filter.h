/* sagesim_filter.h - OData v4 $filter parser and evaluator for the Sage 300 sandbox.
 *
 * Parses the subset a Sage 300 Web API (ASP.NET Web API OData 5.9 / ODataLib
 * 6.15) accepts on ARCustomers, with ODataLib's precedence: primary and
 * functions, then unary `not`, then the comparisons (eq ne gt ge lt le, left
 * associative), then `and`, then `or`; parentheses group.
 *
 * Literals: 'strings' with '' escaping, integers, decimals (1000.00, 99.99m,
 * suffixes m M d D f F l L accepted), true, false, null, and DateTimeOffset
 * literals 2024-03-18T00:00:00Z (also with +hh:mm offsets, fractional
 * seconds, or no zone at all, which is read as UTC). Date-only literals
 * (2024-03-18) are Edm.Date and are refused against DateTimeOffset properties,
 * as the real server refuses them; v3 forms (datetime'...') are syntax errors.
 * Functions: startswith, endswith, contains (-> bool), length (-> number).
 * substringof and anything else fail as unknown functions.
 *
 * Types are checked at parse time: an unknown property yields ODataLib's
 * "Could not find a property named 'X' on type 'T'." (an unquoted string
 * literal is a property name, so it fails the same way), incompatible operands
 * yield "A binary operator with incompatible types was detected. ...", and an
 * enum compared to a string that is not one of its member names fails.
 * Every parse error is meant for a 400 InvalidParameters answer.
 *
 * Semantics: strings compare ordinally (byte-wise, case-sensitive); enums
 * compare by member position; dates compare as instants (a record date is
 * midnight UTC); numbers compare as doubles (exact for decimals with up to
 * 15 significant digits). Any comparison with a null operand other than
 * eq/ne is false; eq null is true only for null; functions of null are false
 * (length(null) is null).
 *
 * Limits: at most SAGESIM_FILTER_MAX_NODES tree nodes (ASP.NET OData's
 * default MaxNodeCount is 100; Sage's setting is unknown, inferred) and
 * SAGESIM_FILTER_MAX_DEPTH levels of parentheses and `not`, so hostile input
 * cannot exhaust the stack.
 *
 * Ownership: sagesim_filter_parse returns a tree the caller frees with
 * sagesim_filter_free. The schema must outlive the tree. Evaluation is
 * read-only and thread-safe.
 */
#ifndef SAGESIM_FILTER_H
#define SAGESIM_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SAGESIM_FILTER_MAX_NODES 100
#define SAGESIM_FILTER_MAX_DEPTH 64

enum sagesim_ftype {
    SAGESIM_FT_STRING,
    SAGESIM_FT_DECIMAL,
    SAGESIM_FT_INT32,
    SAGESIM_FT_INT64,
    SAGESIM_FT_BOOL,
    SAGESIM_FT_DATE, /* Edm.DateTimeOffset holding a date */
    SAGESIM_FT_ENUM,
    SAGESIM_FT_COLLECTION, /* not usable in $filter */
};

/* What the filter knows about the entity type. */
struct sagesim_schema {
    const char *type_name; /* e.g. Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.Customer */
    /* Returns the field index (>= 0) and fills type (and for enums the member
     * names, borrowed) for a property name; -1 when there is no such property. */
    int (*lookup)(const void *ctx, const char *name, enum sagesim_ftype *type,
                  const char *const **members, size_t *nmembers);
    const void *ctx;
};

enum sagesim_vkind {
    SAGESIM_V_NULL,
    SAGESIM_V_BOOL,
    SAGESIM_V_NUM,
    SAGESIM_V_STR,
    SAGESIM_V_DATE,
    SAGESIM_V_ENUM,
};

/* A record's value as handed to the evaluator (strings borrowed). */
struct sagesim_value {
    enum sagesim_vkind kind;
    bool b;
    double num;
    const char *s;
    int64_t us; /* dates: microseconds since 1970-01-01T00:00:00Z */
    int e;      /* enums: member index */
};

/* Fills out with field `field` of record rec. */
typedef void (*sagesim_getter)(const void *ctx, const void *rec, int field,
                               struct sagesim_value *out);

struct sagesim_filter;

/* Parses text. On success returns 0 and *out; on failure returns -1 with a
 * one-line message in msg (the text a real server would put in the error's
 * "value") and *out NULL. */
int sagesim_filter_parse(const char *text, const struct sagesim_schema *schema,
                         struct sagesim_filter **out, char *msg, size_t msgsz);
void sagesim_filter_free(struct sagesim_filter *f);

/* True when the record passes the filter. */
bool sagesim_filter_eval(const struct sagesim_filter *f, sagesim_getter get, const void *ctx,
                         const void *rec);

/* Bounds on the string field `field` implied by the top-level conjunction
 * (comparisons of that field with string literals joined by `and` only, in
 * either operand order). Unset bounds stay NULL. Borrowed strings, valid while
 * f lives. Used to start scans of key-sorted data at the right place; the
 * filter must still be evaluated on every candidate. */
void sagesim_filter_key_range(const struct sagesim_filter *f, int field, const char **lo,
                              bool *lo_incl, const char **hi, bool *hi_incl);

/* Parses an OData v4 DateTimeOffset literal (see above) into microseconds
 * since the epoch; false when it is not one. */
bool sagesim_parse_datetime(const char *s, size_t n, int64_t *us);

/* Days since 1970-01-01 for a civil date (proleptic Gregorian), and back. */
int64_t sagesim_days_from_civil(int y, int m, int d);
void sagesim_civil_from_days(int64_t days, int *y, int *m, int *d);

#endif
