/* ld_adopt.c - matching new customers to organizations without IDs inside
 * the loader (MLC_MATCH_EXISTING=name), see ld_adopt.h.
 */
#include "ld_adopt.h"

#include "ld_match.h"
#include "ld_orgs.h"
#include "ld_state.h"
#include "ld_util.h"
#include "mlc_alloc.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "mlc_time.h"
#include "pd_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An organization without IDs while a listing is built. */
struct lorg {
    int64_t id;
    char *name, *postal, *city;
};

/* An organization a customer of this replica adopted (or is adopting) since
 * the listing was made: another customer matching it gets none of it. */
struct taken {
    int64_t id;
    char key[MLC_EVENT_MAX_KEY + 1];
};

struct ld_listing {
    struct ld_match_rules rules;
    int64_t max_age_ms;
    struct ld_match_index *ix; /* NULL until listed */
    int64_t listed_ms;         /* when the listing in ix started */
    struct lorg *next;         /* the listing being built */
    size_t n_next, cap_next;
    struct taken *taken;
    size_t n_taken, cap_taken;
};

mlc_rc ld_listing_new(const struct mlc_config *cfg, struct ld_listing **out, struct mlc_err *err)
{
    struct ld_listing *l;
    mlc_rc rc;

    *out = NULL;
    if (strcmp(mlc_cfg_str(cfg, MLC_CFG_MATCH_EXISTING), "name") != 0)
        return MLC_OK;
    l = mlc_xcalloc(1, sizeof(*l));
    if ((rc = ld_match_rules_init(&l->rules, mlc_cfg_str(cfg, MLC_CFG_MATCH_SUFFIXES), err)) !=
        MLC_OK) {
        free(l);
        return rc;
    }
    l->max_age_ms = mlc_cfg_int(cfg, MLC_CFG_MATCH_MAX_AGE) * 1000;
    *out = l;
    return MLC_OK;
}

static void next_free(struct ld_listing *l)
{
    for (size_t i = 0; i < l->n_next; i++) {
        free(l->next[i].name);
        free(l->next[i].postal);
        free(l->next[i].city);
    }
    l->n_next = 0;
}

void ld_listing_free(struct ld_listing *l)
{
    if (!l)
        return;
    next_free(l);
    free(l->next);
    free(l->taken);
    ld_match_index_free(l->ix);
    ld_match_rules_free(&l->rules);
    free(l);
}

void ld_listing_begin(struct ld_listing *l)
{
    if (l)
        next_free(l);
}

static char *dup_or_null(const char *s)
{
    return s ? mlc_xstrdup(s) : NULL;
}

void ld_listing_add(struct ld_listing *l, const struct ld *ld, const cJSON *org)
{
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(org, "custom_fields");
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(org, "address");
    const char *num = ld_json_str(cf, ld->k_num), *co = ld_json_str(cf, ld->k_co);
    const char *name = ld_json_str(org, "name");
    struct lorg *o;
    int64_t id;

    if (!l || (num && *num) || (co && *co) || !name ||
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(org, "is_deleted")) ||
        !ld_json_id(cJSON_GetObjectItemCaseSensitive(org, "id"), &id))
        return; /* claimed by a customer, deleted or nameless: never a candidate */
    if (l->n_next == l->cap_next) {
        size_t cap = l->cap_next ? 2 * l->cap_next : 256;

        l->next = mlc_xreallocarray(l->next, cap, sizeof(*l->next));
        l->cap_next = cap;
    }
    o = &l->next[l->n_next++];
    o->id = id;
    o->name = mlc_xstrdup(name);
    o->postal = dup_or_null(ld_json_str(addr, "postal_code"));
    o->city = dup_or_null(ld_json_str(addr, "locality"));
}

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* After a new listing: what was taken and carries IDs now is not in it and
 * needs no entry; what is still listed without IDs (an adoption not written
 * yet, or refused) keeps its owner. */
static void keep_taken_listed(struct ld_listing *l)
{
    int64_t *ids = mlc_xcalloc(l->n_next ? l->n_next : 1, sizeof(*ids));
    size_t w = 0;

    for (size_t i = 0; i < l->n_next; i++)
        ids[i] = l->next[i].id;
    qsort(ids, l->n_next, sizeof(*ids), id_cmp);
    for (size_t i = 0; i < l->n_taken; i++)
        if (bsearch(&l->taken[i].id, ids, l->n_next, sizeof(*ids), id_cmp))
            l->taken[w++] = l->taken[i];
    l->n_taken = w;
    free(ids);
}

void ld_listing_commit(struct ld_listing *l, int64_t started_ms)
{
    struct ld_match_org *orgs;

    if (!l)
        return;
    orgs = mlc_xcalloc(l->n_next ? l->n_next : 1, sizeof(*orgs));
    for (size_t i = 0; i < l->n_next; i++)
        orgs[i] = (struct ld_match_org){l->next[i].id, l->next[i].name, l->next[i].postal,
                                        l->next[i].city, false};
    ld_match_index_free(l->ix);
    l->ix = ld_match_index_new(&l->rules, orgs, l->n_next);
    mlc_info("name matching: %zu organization(s) without Sage 300 IDs listed", l->n_next);
    l->listed_ms = started_ms;
    keep_taken_listed(l);
    free(orgs);
    next_free(l);
}

static mlc_rc add_cb(void *ctx, const cJSON *org, struct mlc_err *err)
{
    struct ld *ld = ctx;

    (void)err;
    ld_listing_add(ld->listing, ld, org);
    return MLC_OK;
}

/* Lists the organizations again when the listing is missing or older than
 * MLC_MATCH_MAX_AGE (10 tokens per 500 organizations). */
static mlc_rc refresh(struct ld *ld, struct mlc_err *err)
{
    struct ld_listing *l = ld->listing;
    int64_t started = mlc_realtime_ms();
    size_t pages = 0;
    mlc_rc rc;

    if (l->ix && started - l->listed_ms <= l->max_age_ms)
        return MLC_OK;
    ld_listing_begin(l);
    rc = ld_scan_orgs(ld, 0, add_cb, ld, &pages, err);
    if (rc == MLC_OK) {
        mlc_info("name matching: listing every organization (%zu page(s), %zu tokens)", pages,
                 pages * 10);
        ld_listing_commit(l, started);
        return MLC_OK;
    }
    next_free(l);
    return rc;
}

/* The customer that took organization id since the listing, or NULL. */
static const char *taken_by(const struct ld_listing *l, int64_t id)
{
    for (size_t i = 0; i < l->n_taken; i++)
        if (l->taken[i].id == id)
            return l->taken[i].key;
    return NULL;
}

static void take(struct ld_listing *l, int64_t id, const char *key)
{
    if (taken_by(l, id))
        return;
    if (l->n_taken == l->cap_taken) {
        size_t cap = l->cap_taken ? 2 * l->cap_taken : 64;

        l->taken = mlc_xreallocarray(l->taken, cap, sizeof(*l->taken));
        l->cap_taken = cap;
    }
    l->taken[l->n_taken].id = id;
    mlc_strlcpy(l->taken[l->n_taken++].key, key, sizeof(l->taken[0].key));
}

/* The matched organization's current state, read again (GET, 1 token):
 * adopted into w->row only when it exists and carries neither ID field. */
static mlc_rc read_and_take(struct ld *ld, struct work *w, int64_t id, const char *key,
                            struct mlc_err *err)
{
    struct pd_call get = {.op = PD_OP_GET_ORG, .method = MLC_HTTP_GET};
    const cJSON *org, *cf;
    cJSON *snap = NULL;
    const char *num, *co;
    mlc_rc rc;

    snprintf(get.path, sizeof(get.path), "/api/v2/organizations/%lld", (long long)id);
    rc = pd_client_call1(ld->pd, &get, err);
    org = cJSON_GetObjectItemCaseSensitive(get.json, "data");
    cf = cJSON_GetObjectItemCaseSensitive(org, "custom_fields");
    num = ld_json_str(cf, ld->k_num);
    co = ld_json_str(cf, ld->k_co);
    if (rc == MLC_PERM) { /* gone (404, 410) or refused: create as without a match */
        mlc_info("customer %s: organization %lld matched by name: %s; creating one", key,
                 (long long)id, err->msg);
        take(ld->listing, id, "");
        rc = MLC_OK;
        goto out;
    }
    if (rc != MLC_OK)
        goto out;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(org, "is_deleted")) || (num && *num) ||
        (co && *co)) {
        mlc_info("customer %s: organization %lld matched by name was deleted or took IDs "
                 "since the listing; creating one",
                 key, (long long)id);
        take(ld->listing, id, "");
        goto out;
    }
    snap = ld_org_snapshot(org);
    ld_map_row_free(&w->row);
    memset(&w->row, 0, sizeof(w->row));
    if (!(w->row.payload = ld_canonical(snap, err))) {
        rc = MLC_FATAL;
        goto out;
    }
    w->row.org_id = id;
    w->row.remote = true;
    mlc_strlcpy(w->row.state, "active", sizeof(w->row.state));
    w->row_found = true;
    w->matched_id = id;
    mlc_info("customer %s: adopting organization %lld \"%s\" (matched by name, no IDs)", key,
             (long long)id, ld_json_str(org, "name") ? ld_json_str(org, "name") : "");
    take(ld->listing, id, key);
out:
    cJSON_Delete(snap);
    pd_call_reset(&get);
    return rc;
}

mlc_rc ld_adopt_match(struct ld *ld, struct work *w, struct mlc_err *err)
{
    struct ld_listing *l = ld->listing;
    struct ld_match_customer c = {0};
    struct ld_match_result res;
    char key[MLC_EVENT_MAX_KEY + 1];
    const char *owner;
    mlc_rc rc;

    if (!l || w->ev.op != MLC_EVENT_UPSERT || !(c.name = ld_json_str(w->ev.customer, "name")))
        return MLC_OK;
    if ((rc = refresh(ld, err)) != MLC_OK)
        return rc;
    c.postal_code = ld_json_str(w->ev.customer, "postal_code");
    c.city = ld_json_str(w->ev.customer, "city");
    snprintf(key, sizeof(key), "%s:%s", w->ev.company, w->ev.customer_number);
    ld_match_find(l->ix, &c, &res);
    if (res.verdict == LD_MATCH_AMBIGUOUS)
        mlc_info("customer %s: its name matches %zu organizations without IDs; creating one", key,
                 res.n_ids);
    if (res.verdict != LD_MATCH_ONE)
        return MLC_OK;
    owner = taken_by(l, res.ids[0]);
    if (owner && !*owner)
        return MLC_OK; /* deleted or given IDs since the listing */
    if (owner && strcmp(owner, key) != 0) {
        /* two customers match it: it goes to neither (ld_round undoes the
         * other's adoption when it is still in this round) */
        mlc_info("customer %s: organization %lld matched by name is matched by another "
                 "customer too; creating one",
                 key, (long long)res.ids[0]);
        w->match_conflict = res.ids[0];
        return MLC_OK;
    }
    return read_and_take(ld, w, res.ids[0], key, err);
}
