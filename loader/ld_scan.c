/* ld_scan.c - the identity scan: list organizations with the identity fields
 * and record in the id map which ones carry Sage 300 IDs.
 */
#include "ld_scan.h"

#include "ld_adopt.h"
#include "ld_calls.h"
#include "ld_orgs.h"
#include "ld_state.h"
#include "ld_util.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "mlc_time.h"
#include "pd_client.h"
#include "pd_mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ identity scan */

struct found {
    char *company, *customer;
    int64_t org_id;
    cJSON *snap;
};

static int found_cmp(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    int c = strcmp(x->company, y->company);

    if (!c)
        c = strcmp(x->customer, y->customer);
    if (!c)
        c = x->org_id < y->org_id ? -1 : x->org_id > y->org_id;
    return c;
}

/* True when the organization's current values (snap) are those of the body
 * this replica last applied (payload): the update the scan saw was that
 * write. Any other value means someone else wrote since (another replica, a
 * person): the cached body may not be trusted (ADR 0009). A stored body that
 * does not parse counts as not held. */
static bool holds_what_we_applied(const struct ld *ld, const cJSON *snap, const char *payload)
{
    cJSON *applied = cJSON_Parse(payload), *last = NULL, *patch = NULL;
    bool held = false;

    if (applied) {
        last = ld_project(snap, applied);
        held = pd_mapping_diff(ld->map, last, applied, &patch, NULL, NULL) == MLC_OK && !patch;
    }
    cJSON_Delete(patch);
    cJSON_Delete(last);
    cJSON_Delete(applied);
    return held;
}

/* {"duplicate_ids":[...]}: the organizations that carry one customer's IDs
 * (k found, plus also when it is another one), kept as the row's payload so
 * that `mlc status` can list them. NULL when it cannot be printed. */
static char *duplicate_payload(const struct found *f, size_t k, int64_t also)
{
    cJSON *o = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(o, "duplicate_ids");
    char *text;

    for (size_t i = 0; i < k; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)f[i].org_id));
    if (also)
        cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)also));
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* The id map row of one customer from the k organizations a scan found
 * carrying its IDs. authoritative: the scan saw every such organization (a
 * full scan, or a lookup by the customer's ID); an updated_since scan sees
 * only those changed lately, so it can add duplicates but never end one.
 * row->payload is either old's (shared) or new (the caller frees it). */
static mlc_rc decide_row(const struct ld *ld, const struct found *f, size_t k,
                         const struct ld_map_row *old, bool found, bool authoritative, bool full,
                         struct ld_map_row *row, struct mlc_err *err)
{
    bool was_dup = found && !strcmp(old->state, "duplicate");
    bool other = found && old->org_id && old->org_id != f->org_id &&
                 strcmp(old->state, "deleted_in_crm") != 0 && !(was_dup && authoritative);

    memset(row, 0, sizeof(*row));
    row->org_id = f->org_id;
    if (was_dup && !authoritative && k == 1) {
        *row = *old; /* still a duplicate as far as this scan can tell */
        return MLC_OK;
    }
    if (k > 1 || other) {
        /* two organizations carry this customer's IDs: change none */
        mlc_strlcpy(row->state, "duplicate", sizeof(row->state));
        if (found && old->org_id)
            row->org_id = old->org_id;
        mlc_warn("customer %s:%s: %zu organizations carry its IDs; none will be changed "
                 "until the duplicates are merged in pipedrive",
                 f->company, f->customer, k + (other ? 1 : 0));
        row->payload = duplicate_payload(f, k, other ? old->org_id : 0);
        return row->payload
                   ? MLC_OK
                   : mlc_err_set(err, MLC_FATAL, "customer %s:%s: duplicate list not printable",
                                 f->company, f->customer);
    }
    mlc_strlcpy(row->state, "active", sizeof(row->state));
    if (was_dup)
        mlc_info("customer %s:%s: one organization (%lld) carries its IDs again; syncing it",
                 f->company, f->customer, (long long)f->org_id);
    if (found && !was_dup && old->org_id == f->org_id && !old->remote && old->payload && !full &&
        holds_what_we_applied(ld, f->snap, old->payload)) {
        /* our own write coming back from updated_since: keep what we applied */
        *row = *old;
        row->create_pending_ms = 0;
        return MLC_OK;
    }
    row->payload = ld_canonical(f->snap, err);
    row->remote = true;
    return row->payload ? MLC_OK : MLC_FATAL;
}

/* Applies what a scan found to the id map, in one transaction; scan_ms > 0
 * records it as the last scan (a lookup of one customer is not one). */
static mlc_rc apply_found(struct ld *ld, struct found *f, size_t n, int64_t scan_ms, bool full,
                          bool authoritative, struct mlc_err *err)
{
    mlc_rc rc;
    char ms[32];

    if (n > 1)
        qsort(f, n, sizeof(*f), found_cmp);
    if ((rc = ld_state_begin(ld->st, err)) != MLC_OK)
        return rc;
    for (size_t i = 0; i < n && rc == MLC_OK;) {
        size_t j = i + 1;
        struct ld_map_row row, old;
        bool found = false;

        while (j < n && !strcmp(f[j].company, f[i].company) &&
               !strcmp(f[j].customer, f[i].customer))
            j++;
        if ((rc = ld_state_map_get(ld->st, f[i].company, f[i].customer, &old, &found, err)) !=
            MLC_OK)
            break;
        rc = decide_row(ld, &f[i], j - i, &old, found, authoritative, full, &row, err);
        if (rc == MLC_OK)
            rc = ld_state_map_put(ld->st, f[i].company, f[i].customer, &row, err);
        if (row.payload != old.payload)
            free(row.payload);
        ld_map_row_free(&old);
        i = j;
    }
    snprintf(ms, sizeof(ms), "%lld", (long long)scan_ms);
    if (rc == MLC_OK && scan_ms > 0)
        rc = ld_state_meta_set(ld->st, "last_scan_ms", ms, err);
    if (rc == MLC_OK)
        rc = ld_flush_calls(ld, err);
    if (rc == MLC_OK)
        return ld_state_commit(ld->st, err);
    ld_state_rollback(ld->st);
    return rc;
}

/* What a scan found: the organizations carrying both IDs. */
struct found_list {
    struct found *f;
    size_t n, cap;
};

static void found_list_free(struct found_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->f[i].company);
        free(l->f[i].customer);
        cJSON_Delete(l->f[i].snap);
    }
    free(l->f);
    memset(l, 0, sizeof(*l));
}

static void found_add(struct found_list *l, const char *co, const char *num, int64_t org_id,
                      const cJSON *org)
{
    struct found *x;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;

        l->f = mlc_xreallocarray(l->f, cap, sizeof(*l->f));
        l->cap = cap;
    }
    x = &l->f[l->n++];
    x->company = mlc_xstrdup(co);
    x->customer = mlc_xstrdup(num);
    x->org_id = org_id;
    x->snap = ld_org_snapshot(org);
}

struct identity_scan {
    struct ld *ld;
    struct found_list l;
    size_t total;
    bool listing; /* a full scan also lists the organizations without IDs (ld_adopt) */
};

enum ld_org_kind ld_org_identity(const cJSON *org, const char *k_num, const char *k_co,
                                 const char **company, const char **number, int64_t *id)
{
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(org, "custom_fields");

    *number = ld_json_str(cf, k_num);
    *company = ld_json_str(cf, k_co);
    if (!*number || !*company)
        return LD_ORG_FOREIGN;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(org, "is_deleted")))
        return LD_ORG_DELETED;
    return ld_json_id(cJSON_GetObjectItemCaseSensitive(org, "id"), id) ? LD_ORG_OURS
                                                                       : LD_ORG_BAD_ID;
}

/* Records an organization that carries both IDs (not deleted). */
static mlc_rc record_identity(void *ctx, const cJSON *org, struct mlc_err *err)
{
    struct identity_scan *s = ctx;
    const char *co, *num;
    int64_t oid = 0;

    (void)err;
    s->total++;
    if (s->listing)
        ld_listing_add(s->ld->listing, s->ld, org);
    switch (ld_org_identity(org, s->ld->k_num, s->ld->k_co, &co, &num, &oid)) {
    case LD_ORG_OURS:
        found_add(&s->l, co, num, oid, org);
        break;
    case LD_ORG_BAD_ID:
        mlc_warn("customer %s:%s: an organization carries its IDs but has no valid id; "
                 "ignored",
                 co, num);
        break;
    default: /* not ours (or deleted): never touched */
        break;
    }
    return MLC_OK;
}

/* Pages GET /api/v2/organizations with the identity fields (and the other
 * mapped custom fields while they fit the 15-key selection), since since_ms
 * (0: all), and records every organization that carries both IDs. */
mlc_rc ld_scan(struct ld *ld, int64_t since_ms, struct mlc_err *err)
{
    struct identity_scan s = {.ld = ld, .listing = since_ms == 0 && ld->listing};
    size_t pages = 0;
    int64_t started = mlc_realtime_ms();
    mlc_rc rc;

    if (s.listing)
        ld_listing_begin(ld->listing);
    if ((rc = ld_scan_orgs(ld, since_ms, record_identity, &s, &pages, err)) != MLC_OK)
        goto out;
    rc = apply_found(ld, s.l.f, s.l.n, started, since_ms == 0, since_ms == 0, err);
    if (rc == MLC_OK && s.listing)
        ld_listing_commit(ld->listing, started);
    if (rc == MLC_OK) {
        ld->scan_since_ms = since_ms;
        ld->scan_started_ms = started;
    }
    mlc_info("organization scan%s: %zu page(s), %zu organization(s), %zu with Sage 300 IDs",
             since_ms ? " (updated since last scan)" : "", pages, s.total, s.l.n);
out:
    found_list_free(&s.l);
    if (rc != MLC_OK) {
        struct mlc_err fe = {0};

        if (ld_flush_calls_tx(ld, &fe) != MLC_OK)
            mlc_warn("%s; the call audit rows are written with the next transaction", fe.msg);
    }
    return rc;
}

/* The organizations itemSearch/field lists for the customer number (exact,
 * case-sensitive), then each one read to check both IDs: a lookup that sees
 * every organization carrying the customer's IDs. */
static mlc_rc lookup_ids(struct ld *ld, const char *company, const char *number,
                         struct found_list *l, struct mlc_err *err)
{
    struct pd_call search = {.op = PD_OP_ITEM_SEARCH_FIELD, .method = MLC_HTTP_GET};
    char term[3 * 64 + 1];
    const cJSON *hit;
    mlc_rc rc;

    ld_url_escape(number, term, sizeof(term));
    snprintf(search.path, sizeof(search.path),
             "/api/v2/itemSearch/field?term=%s&entity_type=organization&field=%s&match=exact"
             "&limit=500",
             term, ld->k_num);
    if ((rc = pd_client_call1(ld->pd, &search, err)) != MLC_OK) {
        pd_call_reset(&search);
        return mlc_err_prefix(err, "looking up %s:%s", company, number);
    }
    cJSON_ArrayForEach(hit, cJSON_GetObjectItemCaseSensitive(search.json, "data"))
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(hit, "id");
        struct pd_call get = {.op = PD_OP_GET_ORG, .method = MLC_HTTP_GET};
        const cJSON *org, *cf;
        int64_t oid;

        if (!ld_json_id(id, &oid))
            continue;
        snprintf(get.path, sizeof(get.path), "/api/v2/organizations/%lld", (long long)oid);
        rc = pd_client_call1(ld->pd, &get, err);
        org = cJSON_GetObjectItemCaseSensitive(get.json, "data");
        cf = cJSON_GetObjectItemCaseSensitive(org, "custom_fields");
        if (rc == MLC_PERM && (get.status == 404 || get.status == 410))
            rc = MLC_OK; /* gone meanwhile */
        else if (rc == MLC_OK &&
                 !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(org, "is_deleted")) &&
                 ld_json_str(cf, ld->k_num) && ld_json_str(cf, ld->k_co) &&
                 !strcmp(ld_json_str(cf, ld->k_num), number) &&
                 !strcmp(ld_json_str(cf, ld->k_co), company))
            found_add(l, company, number, oid, org);
        pd_call_reset(&get);
        if (rc != MLC_OK)
            break;
    }
    pd_call_reset(&search);
    return rc;
}

mlc_rc ld_lookup_customer(struct ld *ld, const char *company, const char *number,
                          struct mlc_err *err)
{
    struct found_list l = {0};
    mlc_rc rc = lookup_ids(ld, company, number, &l, err);

    if (rc == MLC_OK && l.n > 0)
        rc = apply_found(ld, l.f, l.n, 0, false, true, err);
    else if (rc == MLC_OK) {
        /* none carries the IDs any more (all deleted): the next event creates one */
        struct ld_map_row row = {0};

        mlc_strlcpy(row.state, "active", sizeof(row.state));
        mlc_info("customer %s:%s: no organization carries its IDs any more", company, number);
        if ((rc = ld_state_begin(ld->st, err)) == MLC_OK &&
            (rc = ld_state_map_put(ld->st, company, number, &row, err)) == MLC_OK &&
            (rc = ld_flush_calls(ld, err)) == MLC_OK)
            rc = ld_state_commit(ld->st, err);
        else if (rc != MLC_OK)
            ld_state_rollback(ld->st);
    }
    found_list_free(&l);
    return rc;
}

/* Full scan when the map is cold (never scanned: new or lost state file),
 * else the organizations updated since the last scan minus the margin. */
mlc_rc ld_refresh_map(struct ld *ld, struct mlc_err *err)
{
    char *v = NULL;
    long long last = 0;
    mlc_rc rc;

    if ((rc = ld_state_meta_get(ld->st, "last_scan_ms", &v, err)) != MLC_OK)
        return rc;
    if (v) {
        long x = 0;

        if (mlc_parse_long(v, 0, 9223372036854775807L, &x))
            last = x;
        free(v);
    }
    if (last == 0)
        mlc_info("id map is cold: scanning every organization once for Sage 300 IDs");
    return ld_scan(ld, last ? (last - ld->margin_ms > 1 ? last - ld->margin_ms : 1) : 0, err);
}
