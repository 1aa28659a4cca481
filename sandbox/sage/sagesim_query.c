/* sagesim_query.c - OData query options of the Sage 300 sandbox, see sagesim_query.h. */
#include "sagesim_query.h"
#include "mlc_alloc.h"

#include "mlc_buf.h"
#include "mlc_str.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known_options[] = {"$filter", "$orderby", "$top",       "$skip",
                                            "$select", "$count",   "$format",    "$expand",
                                            "$search", "$apply",   "$skiptoken", "$levels"};

static void trim_span(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static int lookup_prop(const char *s, size_t n, char *msg, size_t msgsz)
{
    char name[128];
    if (n >= sizeof name)
        n = sizeof name - 1;
    memcpy(name, s, n);
    name[n] = '\0';
    int f = sagesim_field_index(name);
    if (f < 0)
        snprintf(msg, msgsz, "Could not find a property named '%s' on type '%s'.", name,
                 SAGESIM_CUSTOMER_TYPE);
    return f;
}

static int parse_select(const char *v, struct sagesim_query *q, char *msg, size_t msgsz)
{
    struct mlc_buf list;
    int rc = -1;
    mlc_buf_init(&list, 64 * 1024);
    q->has_select = true;
    const char *p = v;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p;
        trim_span(&s, &n);
        if (n == 0) {
            snprintf(msg, msgsz, "Syntax error at position %zu in '%s'.", (size_t)(p - v), v);
            goto out;
        }
        if (n == 1 && *s == '*') {
            for (int i = 0; i < SAGESIM_NFIELDS; i++)
                q->select[i] = true;
        } else {
            int f = lookup_prop(s, n, msg, msgsz);
            if (f < 0)
                goto out;
            q->select[f] = true;
        }
        if (list.len)
            (void)mlc_buf_puts(&list, ",");
        (void)mlc_buf_append(&list, s, n);
        if (!comma)
            break;
        p = comma + 1;
    }
    q->select_list = mlc_buf_steal(&list);
    rc = 0;
out:
    mlc_buf_free(&list);
    return rc;
}

static int parse_orderby(const char *v, struct sagesim_query *q, char *msg, size_t msgsz)
{
    const char *p = v;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *s = p;
        trim_span(&s, &n);
        size_t plen = 0;
        while (plen < n && !isspace((unsigned char)s[plen]))
            plen++;
        const char *dir = s + plen;
        size_t dlen = n - plen;
        trim_span(&dir, &dlen);
        if (plen == 0 || q->norder == SAGESIM_MAX_ORDER) {
            snprintf(msg, msgsz, "Syntax error at position %zu in '%s'.", (size_t)(p - v), v);
            return -1;
        }
        int f = lookup_prop(s, plen, msg, msgsz);
        if (f < 0)
            return -1;
        if (sagesim_fields[f].type == SAGESIM_FT_COLLECTION) {
            snprintf(msg, msgsz,
                     "The $orderby expression must evaluate to a single value of primitive "
                     "type.");
            return -1;
        }
        bool desc = false;
        if (dlen == 4 && memcmp(dir, "desc", 4) == 0)
            desc = true;
        else if (!(dlen == 0 || (dlen == 3 && memcmp(dir, "asc", 3) == 0))) {
            snprintf(msg, msgsz, "Syntax error at position %zu in '%s'.", (size_t)(dir - v), v);
            return -1;
        }
        q->order_field[q->norder] = f;
        q->order_desc[q->norder] = desc;
        q->norder++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

int sagesim_query_parse(const struct sim_request *req, struct sagesim_query *q, char *msg,
                        size_t msgsz)
{
    memset(q, 0, sizeof *q);
    for (size_t i = 0; i < req->nparams; i++) {
        const char *name = req->params[i].name;
        if (name[0] != '$')
            continue;
        size_t k;
        for (k = 0; k < ARRAY_SIZE(known_options); k++)
            if (strcmp(name, known_options[k]) == 0)
                break;
        if (k == ARRAY_SIZE(known_options)) {
            snprintf(msg, msgsz, "The query parameter '%.60s' is not supported.", name);
            return -1;
        }
        if (sim_request_param_count(req, name) > 1) {
            snprintf(msg, msgsz,
                     "Query option '%s' was specified more than once, but it must be specified "
                     "at most once.",
                     name);
            return -1;
        }
    }
    const char *v;
    if ((v = sim_request_param(req, "$expand")) || (v = sim_request_param(req, "$search")) ||
        (v = sim_request_param(req, "$apply")) || (v = sim_request_param(req, "$levels"))) {
        snprintf(msg, msgsz,
                 "The query specified in the URI is not valid. Only $filter, $select, $orderby, "
                 "$top, $skip and $count are allowed on this resource.");
        return -1;
    }
    if ((v = sim_request_param(req, "$top"))) {
        if (!mlc_parse_long(v, 0, INT_MAX, &q->top)) {
            snprintf(msg, msgsz,
                     "Invalid value '%.40s' for $top query option found. The $top query option "
                     "requires a non-negative integer value.",
                     v);
            return -1;
        }
        q->has_top = true;
    }
    if ((v = sim_request_param(req, "$skip"))) {
        if (!mlc_parse_long(v, 0, INT_MAX, &q->skip)) {
            snprintf(msg, msgsz,
                     "Invalid value '%.40s' for $skip query option found. The $skip query "
                     "option requires a non-negative integer value.",
                     v);
            return -1;
        }
    }
    if ((v = sim_request_param(req, "$count"))) {
        if (strcmp(v, "true") == 0)
            q->count = true;
        else if (strcmp(v, "false") != 0) {
            snprintf(msg, msgsz, "'%.40s' is not a valid count option.", v);
            return -1;
        }
    }
    if ((v = sim_request_param(req, "$select")) && parse_select(v, q, msg, msgsz) < 0)
        goto fail;
    if ((v = sim_request_param(req, "$orderby")) && parse_orderby(v, q, msg, msgsz) < 0)
        goto fail;
    if ((v = sim_request_param(req, "$filter")) &&
        sagesim_filter_parse(v, sagesim_customer_schema(), &q->filter, msg, msgsz) < 0)
        goto fail;
    return 0;
fail:
    sagesim_query_free(q);
    return -1;
}

void sagesim_query_free(struct sagesim_query *q)
{
    sagesim_filter_free(q->filter);
    free(q->select_list);
    memset(q, 0, sizeof *q);
}

void sagesim_page_free(struct sagesim_page *p)
{
    free(p->rows);
    memset(p, 0, sizeof *p);
}

static bool matches(const struct sagesim_query *q, const struct sagesim_customer *c)
{
    return !q->filter || sagesim_filter_eval(q->filter, sagesim_customer_get, NULL, c);
}

static int cmp_field(const struct sagesim_customer *a, const struct sagesim_customer *b, int f)
{
    struct sagesim_value x, y;
    sagesim_customer_get(NULL, a, f, &x);
    sagesim_customer_get(NULL, b, f, &y);
    bool xn = x.kind == SAGESIM_V_NULL, yn = y.kind == SAGESIM_V_NULL;
    if (xn || yn)
        return xn && yn ? 0 : xn ? -1 : 1; /* nulls first, as SQL Server sorts */
    switch (x.kind) {
    case SAGESIM_V_STR:
        return strcmp(x.s, y.s);
    case SAGESIM_V_NUM:
        return x.num < y.num ? -1 : x.num > y.num;
    case SAGESIM_V_DATE:
        return x.us < y.us ? -1 : x.us > y.us;
    case SAGESIM_V_BOOL:
        return (int)x.b - (int)y.b;
    case SAGESIM_V_ENUM:
        return x.e - y.e;
    default:
        return 0;
    }
}

static int cmp_rows(const void *pa, const void *pb, void *arg)
{
    const struct sagesim_query *q = arg;
    const struct sagesim_customer *a = *(struct sagesim_customer *const *)pa;
    const struct sagesim_customer *b = *(struct sagesim_customer *const *)pb;
    for (size_t i = 0; i < q->norder; i++) {
        int c = cmp_field(a, b, q->order_field[i]);
        if (c)
            return q->order_desc[i] ? -c : c;
    }
    return strcmp(a->v[SAGESIM_F_CUSTOMERNUMBER].s, b->v[SAGESIM_F_CUSTOMERNUMBER].s);
}

void sagesim_query_run(const struct sagesim_company *co, const struct sagesim_query *q,
                       long page_size, struct sagesim_page *out)
{
    memset(out, 0, sizeof *out);
    if (page_size < 1)
        page_size = 1;
    size_t want = (size_t)page_size; /* rows on this page at most */
    if (q->has_top && (size_t)q->top < want)
        want = (size_t)q->top;
    bool natural = q->norder == 0 || q->order_field[0] == SAGESIM_F_CUSTOMERNUMBER;
    bool desc = q->norder > 0 && q->order_field[0] == SAGESIM_F_CUSTOMERNUMBER && q->order_desc[0];

    if (natural) {
        size_t start = 0, end = co->n;
        if (q->filter) {
            const char *lo, *hi;
            bool lo_incl, hi_incl;
            sagesim_filter_key_range(q->filter, SAGESIM_F_CUSTOMERNUMBER, &lo, &lo_incl, &hi,
                                     &hi_incl);
            if (lo)
                start = sagesim_company_lower_bound(co, lo, lo_incl);
            if (hi)
                end = sagesim_company_lower_bound(co, hi, !hi_incl);
            if (end < start)
                end = start;
        }
        out->rows = mlc_xcalloc(want ? want : 1, sizeof *out->rows);
        size_t matched = 0;
        bool need_more_check = !q->has_top || (size_t)q->top > (size_t)page_size;
        for (size_t k = start; k < end; k++) {
            size_t idx = desc ? end - 1 - (k - start) : k;
            const struct sagesim_customer *c = co->cust[idx];
            if (!matches(q, c))
                continue;
            matched++;
            if (matched <= (size_t)q->skip)
                continue;
            if (out->nrows < want) {
                out->rows[out->nrows++] = (struct sagesim_customer *)c;
                continue;
            }
            /* a match beyond this page */
            if (need_more_check && out->nrows == (size_t)page_size)
                out->truncated = true;
            if (!q->count && (out->truncated || !need_more_check))
                break;
        }
        out->count = matched;
        return;
    }

    size_t cap = 1024, n = 0;
    struct sagesim_customer **all = mlc_xcalloc(cap, sizeof *all);
    for (size_t i = 0; i < co->n; i++) {
        if (!matches(q, co->cust[i]))
            continue;
        if (n == cap) {
            all = mlc_xreallocarray(all, cap * 2, sizeof *all);
            cap *= 2;
        }
        all[n++] = co->cust[i];
    }
    qsort_r(all, n, sizeof *all, cmp_rows, (void *)q);
    out->count = n;
    size_t avail = n > (size_t)q->skip ? n - (size_t)q->skip : 0;
    size_t within_top = q->has_top && (size_t)q->top < avail ? (size_t)q->top : avail;
    size_t take = within_top < (size_t)page_size ? within_top : (size_t)page_size;
    out->truncated = within_top > (size_t)page_size;
    if (take)
        memmove(all, all + q->skip, take * sizeof *all);
    out->rows = all;
    out->nrows = take;
}
