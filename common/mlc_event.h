/* mlc_event.h - the customer-change event (schemas sage300.customer-change.v1
 * and .v2; docs/adr/0008-event-versions-and-rolling-upgrades.md).
 *
 * The contract between mlc-extractor and mlc-loader, described for people in
 * docs/events.md and for machines in schemas/customer-change.v1.json and
 * schemas/customer-change.v2.json. v2 is v1 plus a "credit" object (the AR
 * credit picture) next to "customer" on upserts. The
 * extractor builds and encodes events here; the loader decodes and validates
 * them here, so both sides apply one set of rules.
 *
 * Kafka key:   "COMPANY:CustomerNumber" (mlc_event_key).
 * Kafka value: canonical JSON (mlc_event_encode) of an object with exactly the
 *              keys schema, event_id, op, company, customer_number,
 *              content_hash, emitted_at, customer (op=upsert only),
 *              credit (v2 and op=upsert only), source.
 *
 * Canonical JSON (used for the content hash and for the wire form):
 *   - object keys sorted by byte order (strcmp), no whitespace at all;
 *   - strings escaped as cJSON prints them: \" \\ \b \f \n \r \t, other
 *     bytes below 0x20 as \u00xx (lower-case hex), everything else raw UTF-8;
 *   - numbers in fixed notation with exactly three decimals ("25000.000"),
 *     "-0.000" written "0.000"; only finite numbers with |x| < 1e15 (Sage's
 *     credit limit is a BCD 10.3, so three decimals lose nothing);
 *   - true, false, null as literals; duplicate keys are refused.
 *
 * content_hash = lower-case hex SHA-256 of the canonical JSON of "customer"
 * (v1) or of the object {"credit": credit, "customer": customer} (v2), so it
 * covers everything the loader may write; for op=missing: of the 7 bytes
 * "missing" in both versions.
 * event_id = first 16 bytes (32 hex chars) of SHA-256 of
 * "COMPANY:NUMBER:op:content_hash". Equal content gives an equal id, so a
 * replayed event is recognisably the same event.
 *
 * Validation (mlc_event_decode, and mlc_event_build/encode on their own
 * output) is strict: unknown keys are refused at every level because the
 * schema name carries the version (a new field means a new schema name, not a
 * silently ignored one). Failures are MLC_PERM with one line such as
 * "event: customer.credit_limit: expected a number".
 */
#ifndef MLC_EVENT_H
#define MLC_EVENT_H

#include "mlc_buf.h"
#include "mlc_err.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define MLC_EVENT_SCHEMA_V1     "sage300.customer-change.v1"
#define MLC_EVENT_SCHEMA_V2     "sage300.customer-change.v2"
#define MLC_EVENT_VERSION_MAX   2     /* the newest version this build reads and writes */
#define MLC_EVENT_MAX_BYTES     16384 /* whole encoded value */
#define MLC_EVENT_MAX_STRING    1024  /* bytes of any string after normalisation */
#define MLC_EVENT_MAX_COMPANY   32    /* [A-Za-z0-9_-]{1,32} */
#define MLC_EVENT_MAX_NUMBER    64    /* customer_number, characters and bytes */
#define MLC_EVENT_MAX_KEY       (MLC_EVENT_MAX_COMPANY + 1 + MLC_EVENT_MAX_NUMBER)
#define MLC_EVENT_HASH_HEX      64
#define MLC_EVENT_ID_HEX        32
#define MLC_EVENT_MAX_AMOUNT    1e15 /* |credit_limit|, |balance_due|... must stay below */
#define MLC_EVENT_MAX_OPEN_DOCS 9999 /* credit.open_documents: Sage's BCD 4.0 count */
#define MLC_EVENT_MAX_PCT       1e6  /* credit.credit_used_pct is clamped to +-this */

/* The start of the message mlc_event_decode gives for a schema name it does
 * not know ("event: schema: unsupported version \"...\" ..."), and the
 * dead-letter class that goes with it (ADR 0008 decision 3). */
#define MLC_EVENT_ERR_UNSUPPORTED   "event: schema: unsupported version"
#define MLC_EVENT_CLASS_UNSUPPORTED "unsupported_version"
#define MLC_EVENT_CLASS_INVALID     "invalid_event"

/* The dead-letter class of a decode failure: MLC_EVENT_CLASS_UNSUPPORTED when
 * err is the unknown-version message, MLC_EVENT_CLASS_INVALID otherwise. */
const char *mlc_event_error_class(const struct mlc_err *err);

/* Schema name of version 1 or 2, NULL for any other. */
const char *mlc_event_schema_name(int version);

/* credit_used_pct of a customer: 100 * balance_due / credit_limit, clamped to
 * [-MLC_EVENT_MAX_PCT, MLC_EVENT_MAX_PCT]. False (no value: the key is
 * absent) when credit_limit is not above zero ("no limit") or an input is not
 * finite. */
bool mlc_event_credit_used_pct(double balance_due, double credit_limit, double *out);

enum mlc_event_op { MLC_EVENT_UPSERT = 0, MLC_EVENT_MISSING = 1 };

/* "upsert" or "missing". */
const char *mlc_event_op_name(enum mlc_event_op op);

/* Where the record came from; every pointer is borrowed for the call. */
struct mlc_event_source {
    const char *base_url;        /* configured MLC_SAGE_URL, http(s), no credentials */
    const char *last_maintained; /* "YYYY-MM-DD"; NULL or "" for null */
    time_t read_at;              /* when the page holding the record was read */
};

/* True when s is exactly "YYYY-MM-DD" and a real Gregorian date (year >= 1). */
bool mlc_event_date_valid(const char *s);

/* True when company is [A-Za-z0-9_-]{1,32} (no ':' so the key splits). */
bool mlc_event_company_valid(const char *company);

/* True when number is a valid customer_number: 1..64 bytes of valid UTF-8, no
 * control character (U+0000-U+001F, U+007F), not blank-only. Spaces, quotes
 * and ':' are allowed and kept exactly as Sage has them. */
bool mlc_event_number_valid(const char *number);

/* Writes "COMPANY:NUMBER" into out (size outsz); MLC_PERM when either part is
 * invalid or the key does not fit. */
mlc_rc mlc_event_key(const char *company, const char *number, char *out, size_t outsz,
                     struct mlc_err *err);

/* Appends the canonical JSON of item to out (see above). MLC_PERM on a
 * non-finite or too large number, a duplicate key, invalid UTF-8 or when out's
 * cap is reached. */
mlc_rc mlc_event_canonical(const cJSON *item, struct mlc_buf *out, struct mlc_err *err);

/* v1 content_hash of a customer object (canonical form, SHA-256, hex), or of
 * "missing" when customer is NULL. out receives 64 hex chars and a NUL. Also
 * the plain SHA-256 of the canonical form of any object (the extractor's
 * balance hash is this of the credit object). */
mlc_rc mlc_event_content_hash(const cJSON *customer, char out[MLC_EVENT_HASH_HEX + 1],
                              struct mlc_err *err);

/* v2 content_hash: SHA-256 of the canonical {"credit":credit,"customer":customer},
 * or of "missing" when customer is NULL (credit must then be NULL too). */
mlc_rc mlc_event_content_hash_v2(const cJSON *customer, const cJSON *credit,
                                 char out[MLC_EVENT_HASH_HEX + 1], struct mlc_err *err);

/* event_id from the key parts, op and content_hash. out: 32 hex chars + NUL. */
mlc_rc mlc_event_id(const char *company, const char *number, enum mlc_event_op op,
                    const char *content_hash, char out[MLC_EVENT_ID_HEX + 1], struct mlc_err *err);

/* Builds a complete event: op=upsert with a deep copy of customer (the
 * normalised object of sage_customer_normalize), or op=missing when customer
 * is NULL. Computes content_hash and event_id and validates the result with
 * the decoder's rules, so the extractor never emits what the loader would
 * refuse. On success *out is a new cJSON tree the caller frees with
 * cJSON_Delete; on failure *out is NULL. MLC_PERM names the offending field. */
mlc_rc mlc_event_build(const char *company, const char *number, const cJSON *customer,
                       const struct mlc_event_source *src, time_t emitted_at, cJSON **out,
                       struct mlc_err *err);

/* The same for a chosen version: 1 builds a v1 event exactly like
 * mlc_event_build (credit is ignored: v1 does not carry it); 2 builds a v2
 * event, where an upsert needs credit (the object of
 * sage_customer_normalize) and a missing event has none. Any other version is
 * MLC_PERM. */
mlc_rc mlc_event_build_version(int version, const char *company, const char *number,
                               const cJSON *customer, const cJSON *credit,
                               const struct mlc_event_source *src, time_t emitted_at, cJSON **out,
                               struct mlc_err *err);

/* Validates event and writes its canonical JSON into out (reset first).
 * MLC_PERM when invalid or larger than MLC_EVENT_MAX_BYTES. */
mlc_rc mlc_event_encode(const cJSON *event, struct mlc_buf *out, struct mlc_err *err);

/* A decoded event. Every pointer except root is borrowed from root. */
struct mlc_event {
    cJSON *root; /* owned; released by mlc_event_free */
    int version; /* 1 or 2, from the schema name */
    enum mlc_event_op op;
    const char *event_id;
    const char *company;
    const char *customer_number;
    const char *content_hash;
    const char *emitted_at;
    const cJSON *customer; /* NULL for op=missing */
    const cJSON *credit;   /* v2 upserts; NULL for v1 (absent: leave the credit fields alone) */
    const char *base_url;
    const char *last_maintained; /* NULL when the event has null */
    const char *read_at;
};

/* Decodes and validates one Kafka message for the loader: size cap, valid
 * UTF-8 without NUL, JSON, the schema rules above, key == company ":"
 * customer_number (byte for byte), and content_hash/event_id recomputed. key
 * may be NULL (key_len 0) to skip the key check (tools replaying a value).
 * Accepts every version this build reads (v1, v2); another schema name is
 * MLC_PERM starting with MLC_EVENT_ERR_UNSUPPORTED and naming it.
 * MLC_PERM with "event: <path>: <what>" on any failure (send it to the DLQ
 * with that reason, class mlc_event_error_class()). On success fill *ev;
 * release it with mlc_event_free. On failure *ev is zeroed. */
mlc_rc mlc_event_decode(const char *key, size_t key_len, const char *value, size_t value_len,
                        struct mlc_event *ev, struct mlc_err *err);

/* Releases ev->root and zeroes ev; NULL and zeroed events are fine. */
void mlc_event_free(struct mlc_event *ev);

#endif
