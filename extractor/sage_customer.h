/* sage_customer.h - one Sage 300 ARCustomers record -> the event's canonical customer.
 *
 * The rules (docs/events.md):
 *   - strings are trimmed of ASCII blanks at both ends (Sage pads fixed-width
 *     fields); an empty or null string becomes an ABSENT key, never "" or null;
 *     every string must be valid UTF-8 and at most MLC_EVENT_MAX_STRING bytes
 *     after trimming, otherwise the record is refused;
 *   - Status "Active"/"Inactive" -> "active"/"inactive"; OnHold "Yes"/"No" (or a
 *     JSON boolean) -> true/false (member names compared case-insensitively);
 *     CreditLimitCustomerCurrency must be a JSON number; these three are
 *     required;
 *   - dates ("YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]") keep their
 *     calendar date as written, never converted between time zones; null or ""
 *     is absent;
 *   - terms_description comes from the caller's ARTerms table (absent when the
 *     code is unknown); unknown Sage properties are ignored;
 *   - CustomerNumber is kept exactly as Sage sends it (not trimmed) and must
 *     satisfy mlc_event_number_valid;
 *   - the credit picture (event v2's "credit"): BalanceDueInCustomerCurrency,
 *     AmountPastDue (numbers, |x| < 1e15) and NumberOfOpenDocuments (a whole
 *     number 0-9999) are required once any of the three is in the record;
 *     DateOfLastInvoice/DateOfLastReceipt are dates (null: absent);
 *     credit_used_pct is computed (mlc_event_credit_used_pct). A record with
 *     none of the three has no credit object (read without them).
 *
 * Errors: a bad record gives MLC_PERM with one line naming the customer (when
 * known) and the Sage property, e.g. "customer 1100: CreditLimitCustomerCurrency:
 * expected a number"; the caller audits it and skips the record.
 */
#ifndef SAGE_CUSTOMER_H
#define SAGE_CUSTOMER_H

#include "mlc_err.h"
#include "mlc_event.h"

#include <cjson/cJSON.h>
#include <stddef.h>

/* The Sage properties the extractor maps, for $select (CustomerNumber first). */
extern const char *const sage_customer_properties[];
extern const size_t sage_customer_property_count;

/* ---- payment terms (ARTerms) ---- */

#define SAGE_TERMS_MAX 10000 /* codes per company; more is refused as bad data */

struct sage_terms; /* code -> description table; opaque */

/* Never NULL. Free with sage_terms_free (NULL is fine). */
struct sage_terms *sage_terms_new(void);
void sage_terms_free(struct sage_terms *t);

/* Adds or replaces code (trimmed, non-empty) -> description (trimmed; NULL or
 * empty means "no description"). Both copied. MLC_PERM on bad or oversize
 * input or when the table is full. */
mlc_rc sage_terms_add(struct sage_terms *t, const char *code, const char *description,
                      struct mlc_err *err);

/* Adds one ARTerms record ({"TermsCode": ..., "Description": ...}). */
mlc_rc sage_terms_add_record(struct sage_terms *t, const cJSON *rec, struct mlc_err *err);

/* Description of code (compared after trimming) or NULL; borrowed from t. */
const char *sage_terms_lookup(const struct sage_terms *t, const char *code);
size_t sage_terms_count(const struct sage_terms *t);

/* ---- customers ---- */

struct sage_customer {
    char number[MLC_EVENT_MAX_NUMBER + 1]; /* CustomerNumber as Sage sent it */
    char last_maintained[11];              /* DateLastMaintained as YYYY-MM-DD, "" if null */
    cJSON *customer;                       /* owned: the canonical "customer" object */
    cJSON *credit; /* owned: the "credit" object of event v2; NULL when the record had none */
};

/* Normalises rec (borrowed) into out, looking terms up in terms (may be
 * NULL: no descriptions). On failure out is zeroed; out->number still holds
 * the customer number when it was readable, so the caller can audit it. Free
 * with sage_customer_free. */
mlc_rc sage_customer_normalize(const cJSON *rec, const struct sage_terms *terms,
                               struct sage_customer *out, struct mlc_err *err);
void sage_customer_free(struct sage_customer *c);

/* Parses a Sage date into "YYYY-MM-DD" without any time-zone conversion.
 * False when s is not one of the accepted forms or not a real date. */
bool sage_date_parse(const char *s, char out[11]);

#endif
