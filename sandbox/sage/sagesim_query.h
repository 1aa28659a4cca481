/* sagesim_query.h - OData query options of the Sage 300 sandbox: parse, then run on a company.
 *
 * Options: $filter, $orderby (one or more "Property [asc|desc]"), $top,
 * $skip, $select, $count; $format is accepted and ignored; $expand, $search,
 * $apply, $skiptoken and unknown $-options are refused; each option may
 * appear once (Sage documents this). Parameters without '$' are ignored
 * (custom query options). Errors are messages for 400 InvalidParameters.
 *
 * Execution: when the order is the key order (no $orderby, or CustomerNumber
 * asc/desc) the scan walks the sorted company from the key range the filter
 * implies and stops once the page plus one look-ahead row is found (unless
 * $count=true needs every match); otherwise matches are collected and sorted
 * by the $orderby keys with CustomerNumber as the last key, which is what
 * ASP.NET OData does to keep server paging stable.
 */
#ifndef SAGESIM_QUERY_H
#define SAGESIM_QUERY_H

#include "sagesim_data.h"
#include "sim_core.h"

#include <stdbool.h>
#include <stddef.h>

#define SAGESIM_MAX_ORDER 8

struct sagesim_query {
    struct sagesim_filter *filter; /* owned; NULL = no filter */
    int order_field[SAGESIM_MAX_ORDER];
    bool order_desc[SAGESIM_MAX_ORDER];
    size_t norder;
    bool has_top;
    long top;
    long skip;
    bool count;
    bool has_select;
    bool select[SAGESIM_NFIELDS];
    char *select_list; /* owned: "A,B" as given (trimmed), for @odata.context */
};

/* Parses the options of req. Returns 0, or -1 with the message in msg. */
int sagesim_query_parse(const struct sim_request *req, struct sagesim_query *q, char *msg,
                        size_t msgsz);
void sagesim_query_free(struct sagesim_query *q);

struct sagesim_page {
    struct sagesim_customer **rows; /* owned array of borrowed records */
    size_t nrows;
    size_t count;   /* every match (only when q->count) */
    bool truncated; /* more rows within $top beyond this page: emit a nextLink */
};

/* Runs q on co with the server page size. */
void sagesim_query_run(const struct sagesim_company *co, const struct sagesim_query *q,
                       long page_size, struct sagesim_page *out);
void sagesim_page_free(struct sagesim_page *p);

#endif
