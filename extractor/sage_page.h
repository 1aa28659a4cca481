/* sage_page.h - one OData v4 page of a Sage 300 collection (ARCustomers, ARTerms).
 *
 * A page is {"@odata.context": ..., "@odata.count": N?, "value": [ {...}, ... ],
 * "@odata.nextLink": "..."?}. The parser checks the envelope only; records are
 * checked one by one by sage_customer_normalize.
 *
 * Error classes (the caller retries MLC_RETRY with backoff and, if it
 * persists, ends the cycle without moving the watermark):
 *   MLC_RETRY  malformed page: invalid or truncated JSON, not an object, no
 *              "value" array, an item that is not an object, more records than
 *              the cap, "@odata.count" not a non-negative integer (a numeric
 *              string, as 2016 servers sent, is accepted), "@odata.nextLink" not
 *              a non-empty string, too long, or holding blanks/control bytes.
 *              Flaky IIS servers truncate bodies; the same request may succeed.
 *   MLC_FATAL  a nextLink that names another resource than the one
 *              requested (a proxy routing to the wrong application, company
 *              or entity set), credentials in its host, or a link that is
 *              neither an http(s) URL nor a path. Retrying cannot help; the
 *              operator must look.
 *
 * The nextLink is never followed (docs/sage300-api.md, server paging: its format is the
 * framework's, never seen from a live server, and its host is the one IIS
 * saw, an internal name behind a proxy or load balancer). It only says that
 * more rows follow; the caller continues with its own keyset query on the
 * configured URL, so credentials only ever go there. The check: the link's
 * path from "/Sage300WebApi/" on (case-insensitive, as IIS compares) must
 * equal the requested resource's; scheme, host, port and any path prefix
 * before it may differ. When either path lacks "/Sage300WebApi/" (a proxy
 * that renames the application), the whole paths must be equal.
 */
#ifndef SAGE_PAGE_H
#define SAGE_PAGE_H

#include "mlc_err.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define SAGE_PAGE_MAX_RECORDS 10000 /* default cap on records per page */
#define SAGE_LINK_MAX         8192  /* bytes of a nextLink */

struct sage_page_opts {
    const char *resource_url; /* configured resource, no query: e.g.
                                 https://erp/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers */
    size_t max_records;       /* 0: SAGE_PAGE_MAX_RECORDS */
};

struct sage_page {
    cJSON *root;          /* owned when made by sage_page_parse; NULL from sage_page_from_json */
    const cJSON *records; /* the "value" array, borrowed from the page's root */
    size_t count;         /* items in records */
    bool has_next;        /* a valid "@odata.nextLink" came: the server has more rows */
    bool has_total;       /* "@odata.count" was present */
    long long total;      /* its value */
};

/* Checks a parsed page (root borrowed: keep it alive while using out). */
mlc_rc sage_page_from_json(const cJSON *root, const struct sage_page_opts *opts,
                           struct sage_page *out, struct mlc_err *err);

/* Parses body (len bytes, need not be NUL-terminated) and checks it; out owns
 * the tree. */
mlc_rc sage_page_parse(const char *body, size_t len, const struct sage_page_opts *opts,
                       struct sage_page *out, struct mlc_err *err);

/* Releases what out owns and zeroes it. */
void sage_page_free(struct sage_page *p);

/* The nextLink check on its own (classes as above). */
mlc_rc sage_next_link_check(const char *link, const struct sage_page_opts *opts,
                            struct mlc_err *err);

#endif
