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
 *   MLC_FATAL  a nextLink that must not be followed: credentials in it, a path
 *              other than the requested resource, a different scheme/host when
 *              re-basing is off, a relative link that is not absolute-path, or
 *              a link that repeats the request (endless loop). Retrying cannot
 *              help and following it could leak credentials to another host;
 *              it is a configuration problem (proxy path rewriting) or a
 *              hostile server, so the operator must look.
 *
 * Re-basing (reference §6): the link's host is the one IIS saw and may be an
 * internal name behind a proxy. With rebase on (the default), only the
 * link's query is kept and put onto the configured resource URL; the link's
 * path must still equal the resource path (compared case-insensitively, as
 * IIS does). With rebase off, the link's scheme and host[:port] must also
 * equal the configured ones.
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
    const char *request_url;  /* the URL this page answered (for loop detection), or NULL */
    bool no_rebase;           /* false (default): re-base; true: refuse other hosts */
    size_t max_records;       /* 0: SAGE_PAGE_MAX_RECORDS */
};

struct sage_page {
    cJSON *root;          /* owned when made by sage_page_parse; NULL from sage_page_from_json */
    const cJSON *records; /* the "value" array, borrowed from the page's root */
    size_t count;         /* items in records */
    char *next_url;       /* owned: re-based absolute URL of the next page, NULL at the end */
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

/* The nextLink rule on its own: *out (caller frees) receives the URL to
 * follow. Classes as above. */
mlc_rc sage_next_link_rebase(const char *link, const struct sage_page_opts *opts, char **out,
                             struct mlc_err *err);

#endif
