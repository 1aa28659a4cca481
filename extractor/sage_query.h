/* sage_query.h - request URLs and credentials for the Sage 300 Web API.
 *
 * URLs (docs/sage300-api.md: URL layout, OData query options, server paging):
 *   resource  MLC_SAGE_URL + COMPANY + "/AR/ARCustomers" (a '/' is inserted
 *             when MLC_SAGE_URL lacks the trailing one)
 *   customers resource?$filter=...&$orderby=CustomerNumber&$top=N&$select=...
 *             $filter is "DateLastMaintained ge YYYY-MM-DDT00:00:00Z" (incremental),
 *             plus " and CustomerNumber gt '<last>'" (keyset paging; a ' inside the
 *             key is doubled), or only the keyset part (full scan), or absent (first
 *             page of a full scan). Values are percent-encoded like .NET's
 *             Uri.EscapeDataString: every byte except A-Z a-z 0-9 - _ . ~ becomes
 *             %XX (upper-case hex): space %20, ' %27, : %3A, UTF-8 bytes one by one.
 *             $select lists sage_customer_properties joined by literal commas
 *             (plain identifiers, nothing to encode).
 *   terms     MLC_SAGE_URL + COMPANY + "/AR/ARTerms?" + "$filter=TermsCode gt '<last>'&"
 *             (keyset, after a page with a nextLink) + "$orderby=TermsCode&$select=
 *             TermsCode,Description"
 *
 * Configuration mistakes (bad base URL or company, $top out of range, a
 * corrupt watermark) are MLC_FATAL; a keyset value that cannot be a customer
 * number is MLC_PERM. Every function resets out first; out's cap applies.
 *
 * Credentials (docs/sage300-api.md, authentication): the user ID is always sent upper-cased; the
 * password upper-cased (legacy rule) or exactly as configured (complex,
 * case-sensitive passwords of Sage 2023+). MLC_SAGE_PASSWORD_CASE=auto (the
 * default) starts with the legacy rule and lets sage_client switch to the
 * exact form after a 401. Only ASCII letters change case. Never log or
 * format the result; wipe it after use.
 */
#ifndef SAGE_QUERY_H
#define SAGE_QUERY_H

#include "mlc_buf.h"
#include "mlc_err.h"

#include <stdbool.h>

#define SAGE_TOP_MAX      10000
#define SAGE_LOOKBACK_MAX 3650
#define SAGE_USER_MAX     64
#define SAGE_PASSWORD_MAX 256

struct sage_query {
    const char *base_url; /* MLC_SAGE_URL, e.g. https://erp/Sage300WebApi/v1.0/-/ */
    const char *company;  /* e.g. SAMINC */
    const char *since;    /* "YYYY-MM-DD" lower bound on DateLastMaintained; NULL: full scan */
    const char *after;    /* last CustomerNumber of the previous page; NULL: first page */
    long top;             /* $top, 1..SAGE_TOP_MAX */
    bool keys_only;       /* $select=CustomerNumber only (key scans) */
};

/* Appends s percent-encoded as Uri.EscapeDataString does. */
mlc_rc sage_escape(const char *s, struct mlc_buf *out);

/* base_url + company + "/AR/" + resource. */
mlc_rc sage_query_resource_url(const char *base_url, const char *company, const char *resource,
                               struct mlc_buf *out, struct mlc_err *err);

/* The full ARCustomers request URL for q. */
mlc_rc sage_query_customers_url(const struct sage_query *q, struct mlc_buf *out,
                                struct mlc_err *err);

/* The ARTerms request URL; after (nullable): the last TermsCode read (1 to
 * 64 printable ASCII bytes, else MLC_PERM). */
mlc_rc sage_query_terms_url(const char *base_url, const char *company, const char *after,
                            struct mlc_buf *out, struct mlc_err *err);

/* out = watermark ("YYYY-MM-DD") minus lookback_days (0..SAGE_LOOKBACK_MAX)
 * in proleptic Gregorian calendar days: pure date arithmetic, no time zone,
 * no local time. */
mlc_rc sage_query_since(const char *watermark, long lookback_days, char out[11],
                        struct mlc_err *err);

/* How the password goes on the wire. */
enum sage_pw_case {
    SAGE_PW_UPPER, /* upper-cased: the legacy rule */
    SAGE_PW_EXACT, /* as configured */
    SAGE_PW_AUTO,  /* upper first, exact after a 401 (sage_client) */
};

/* "upper", "exact" or "auto" ("" or NULL: auto); false when unknown. */
bool sage_pw_case_parse(const char *s, enum sage_pw_case *out);

/* "upper", "exact" or "auto". */
const char *sage_pw_case_name(enum sage_pw_case m);

struct sage_credentials {
    char user[SAGE_USER_MAX + 1];
    char password[SAGE_PASSWORD_MAX + 1];
};

/* Applies the case rule. password_case is "upper" or "auto" (also when NULL
 * or "": both send the legacy upper-case form) or "exact". MLC_FATAL on an
 * empty user, a ':' in the user, a value too long or an unknown case mode;
 * messages never contain the values. */
mlc_rc sage_credentials_make(const char *user, const char *password, const char *password_case,
                             struct sage_credentials *out, struct mlc_err *err);

/* Overwrites both strings with zeros (not optimised away). */
void sage_credentials_wipe(struct sage_credentials *c);

#endif
