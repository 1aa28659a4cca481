/* ld_match_cmd.c - `mlc-loader match [--apply] [--json]`: links customers to
 * organizations that sales typed in before the connector (see ld_match.h
 * for the rules, docs/loader.md for the costs).
 *
 * 1. Every customer on the event topic, read from its beginning outside the
 *    group (mlc_kafka_reader: no offset is committed); the latest event of a
 *    key wins, a customer reported missing in Sage is left out.
 * 2. Every organization, listed once (ld_scan_orgs: 10 tokens per 500). One
 *    that carries either ID field already belongs to a customer: it is never
 *    a candidate, and a customer whose IDs it carries is "linked" already.
 * 3. ld_match_all decides; one line per unlinked customer and totals.
 * 4. --apply writes the two ID fields, and nothing else, on each
 *    unambiguous match (a PATCH, 5 tokens); the next sync adopts the
 *    organization with its usual diff. Without --apply nothing is written.
 */
#include "ld_match_cmd.h"
#include "ld_calls.h"
#include "ld_match.h"
#include "ld_orgs.h"
#include "ld_util.h"
#include "mlc_alloc.h"
#include "mlc_event.h"
#include "mlc_kafka_reader.h"
#include "mlc_log.h"
#include "pd_client.h"
#include "pd_mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MATCH_READ_TIMEOUT_MS 120000
#define MATCH_LIST_TOKENS     10 /* per page of 500 (x-token-cost of the list) */
#define MATCH_PATCH_TOKENS    5

struct cust {
    char *key;  /* COMPANY:NUMBER */
    size_t seq; /* order read: the latest event of a key wins */
    char *company, *number, *name, *postal, *city;
    bool missing; /* the latest event says the customer is gone from Sage */
};

struct org {
    int64_t id;
    char *name, *postal, *city;
    bool claimed;
};

struct matching {
    struct ld *ld;
    struct cust *c;
    size_t nc, capc;
    struct org *o;
    size_t no, capo;
    char **linked; /* keys of customers some organization carries */
    size_t nl, capl;
};

static char *dup_or_null(const char *s)
{
    return s ? mlc_xstrdup(s) : NULL;
}

static void cust_free(struct cust *c)
{
    free(c->key);
    free(c->company);
    free(c->number);
    free(c->name);
    free(c->postal);
    free(c->city);
}

static int cust_cmp(const void *a, const void *b)
{
    const struct cust *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sorts by key and keeps each key's latest event (the topic keeps a key's
 * events in order in one partition, and they are read in that order). */
static void latest_per_key(struct matching *x)
{
    size_t w = 0;

    qsort(x->c, x->nc, sizeof(*x->c), cust_cmp);
    for (size_t i = 0; i < x->nc; i++) {
        if (i + 1 < x->nc && !strcmp(x->c[i].key, x->c[i + 1].key)) {
            cust_free(&x->c[i]);
            continue;
        }
        x->c[w++] = x->c[i];
    }
    x->nc = w;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Step 1: every valid event, in the order read (latest_per_key keeps one). */
static mlc_rc on_event(void *ctx, const rd_kafka_message_t *m, struct mlc_err *err)
{
    struct matching *x = ctx;
    struct mlc_event ev = {0};
    struct mlc_err e = {0};
    struct cust *c;
    char key[MLC_EVENT_MAX_KEY + 1];

    (void)err;
    /* the loader dead-letters these; a forged record must not claim an
     * organization here either */
    if (!ld_sign_check(&x->ld->sign, m, e.msg, sizeof(e.msg)) ||
        mlc_event_decode(m->key, m->key ? m->key_len : 0, m->payload, m->payload ? m->len : 0, &ev,
                         &e) != MLC_OK)
        return MLC_OK;
    snprintf(key, sizeof(key), "%s:%s", ev.company, ev.customer_number);
    if (x->nc == x->capc) {
        size_t cap = x->capc ? 2 * x->capc : 1024;

        x->c = mlc_xreallocarray(x->c, cap, sizeof(*x->c));
        x->capc = cap;
    }
    c = memset(&x->c[x->nc], 0, sizeof(*c));
    c->seq = x->nc++;
    c->key = mlc_xstrdup(key);
    c->company = mlc_xstrdup(ev.company);
    c->number = mlc_xstrdup(ev.customer_number);
    c->missing = ev.op != MLC_EVENT_UPSERT;
    c->name = dup_or_null(ld_json_str(ev.customer, "name"));
    c->postal = dup_or_null(ld_json_str(ev.customer, "postal_code"));
    c->city = dup_or_null(ld_json_str(ev.customer, "city"));
    mlc_event_free(&ev);
    return MLC_OK;
}

/* Step 2: every organization, and the customers already linked to one. */
static mlc_rc on_org(void *ctx, const cJSON *org, struct mlc_err *err)
{
    struct matching *x = ctx;
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(org, "custom_fields");
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(org, "address");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(org, "id");
    const char *num = ld_json_str(cf, x->ld->k_num), *co = ld_json_str(cf, x->ld->k_co);
    struct org *o;
    int64_t oid;

    (void)err;
    if (!ld_json_id(id, &oid) || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(org, "is_deleted")))
        return MLC_OK;
    if (x->no == x->capo) {
        size_t cap = x->capo ? 2 * x->capo : 1024;

        x->o = mlc_xreallocarray(x->o, cap, sizeof(*x->o));
        x->capo = cap;
    }
    o = memset(&x->o[x->no++], 0, sizeof(*o));
    o->id = oid;
    o->claimed = (num && *num) || (co && *co);
    o->name = dup_or_null(ld_json_str(org, "name"));
    o->postal = dup_or_null(ld_json_str(addr, "postal_code"));
    o->city = dup_or_null(ld_json_str(addr, "locality"));
    if (num && co) {
        char key[MLC_EVENT_MAX_KEY + 1];

        snprintf(key, sizeof(key), "%s:%s", co, num);
        if (x->nl == x->capl) {
            size_t cap = x->capl ? 2 * x->capl : 1024;

            x->linked = mlc_xreallocarray(x->linked, cap, sizeof(*x->linked));
            x->capl = cap;
        }
        x->linked[x->nl++] = mlc_xstrdup(key);
    }
    return MLC_OK;
}

static int org_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct org *)a)->id, y = ((const struct org *)b)->id;

    return (x > y) - (x < y);
}

/* x->o is sorted by id (decide): one lookup per printed match, not a pass
 * over every organization (100,000 customers x 20,000 organizations). */
static const struct org *org_by_id(const struct matching *x, int64_t id)
{
    struct org key = {.id = id};

    return bsearch(&key, x->o, x->no, sizeof(*x->o), org_cmp);
}

/* Step 4: the two ID fields on each matched organization. */
static mlc_rc apply_links(struct matching *x, const struct ld_match_result *res, const size_t *who,
                          size_t n, size_t *linked, struct mlc_err *err)
{
    struct pd_call *calls = mlc_xcalloc(n ? n : 1, sizeof(*calls));
    char **bodies = mlc_xcalloc(n ? n : 1, sizeof(*bodies));
    size_t k = 0;
    mlc_rc rc = MLC_OK;

    *linked = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cust *c = &x->c[who[i]];
        cJSON *b, *cf;

        if (res[i].verdict != LD_MATCH_ONE)
            continue;
        b = cJSON_CreateObject();
        cf = cJSON_AddObjectToObject(b, "custom_fields");
        cJSON_AddStringToObject(cf, x->ld->k_num, c->number);
        cJSON_AddStringToObject(cf, x->ld->k_co, c->company);
        bodies[k] = cJSON_PrintUnformatted(b);
        cJSON_Delete(b);
        if (!bodies[k]) {
            rc =
                mlc_err_set(err, MLC_FATAL, "match: customer %s: PATCH body not printable", c->key);
            goto out;
        }
        calls[k].op = PD_OP_PATCH_ORG;
        calls[k].method = MLC_HTTP_PATCH;
        snprintf(calls[k].path, sizeof(calls[k].path), "/api/v2/organizations/%lld",
                 (long long)res[i].ids[0]);
        calls[k].body = bodies[k];
        k++;
    }
    if (k == 0)
        goto out;
    rc = pd_client_run(x->ld->pd, calls, k, err);
    for (size_t i = 0; i < k; i++) {
        if (calls[i].rc == MLC_OK)
            (*linked)++;
        else
            mlc_warn("match: %s: %s", calls[i].path, calls[i].err.msg);
    }
out:
    for (size_t i = 0; i < k; i++)
        pd_call_reset(&calls[i]);
    for (size_t i = 0; i < n; i++)
        cJSON_free(bodies[i]);
    free(bodies);
    free(calls);
    return rc;
}

static void print_result(FILE *out, cJSON *arr, const struct cust *c, const struct matching *x,
                         const struct ld_match_result *r)
{
    const struct org *o = r->verdict == LD_MATCH_ONE ? org_by_id(x, r->ids[0]) : NULL;

    if (arr) {
        cJSON *j = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(j, "ids");

        cJSON_AddStringToObject(j, "customer", c->key);
        cJSON_AddStringToObject(j, "result", ld_match_verdict_name(r->verdict));
        for (size_t i = 0; i < r->n_ids; i++)
            cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)r->ids[i]));
        if (o && o->name)
            cJSON_AddStringToObject(j, "organization", o->name);
        cJSON_AddItemToArray(arr, j);
        return;
    }
    fprintf(out, "%s ", c->key);
    if (r->verdict == LD_MATCH_ONE) {
        fprintf(out, "matched %lld \"%s\"\n", (long long)r->ids[0], o && o->name ? o->name : "");
    } else if (r->verdict == LD_MATCH_AMBIGUOUS) {
        fputs("ambiguous", out);
        for (size_t i = 0; i < r->n_ids; i++)
            fprintf(out, "%s%lld", i ? "," : " ", (long long)r->ids[i]);
        fputc('\n', out);
    } else {
        fputs("none\n", out);
    }
}

/* Steps 3 and 4 over the customers no organization carries yet. */
static mlc_rc decide(struct matching *x, const struct ld_match_rules *rules, bool apply, bool json,
                     size_t pages, struct mlc_err *err)
{
    struct ld_match_org *orgs = mlc_xcalloc(x->no ? x->no : 1, sizeof(*orgs));
    struct ld_match_customer *mc = mlc_xcalloc(x->nc ? x->nc : 1, sizeof(*mc));
    struct ld_match_result *res = mlc_xcalloc(x->nc ? x->nc : 1, sizeof(*res));
    size_t *who = mlc_xcalloc(x->nc ? x->nc : 1, sizeof(*who));
    struct ld_match_index *ix;
    size_t n = 0, already = 0, gone = 0, count[3] = {0, 0, 0}, linked = 0;
    cJSON *doc = json ? cJSON_CreateObject() : NULL;
    cJSON *arr = doc ? cJSON_AddArrayToObject(doc, "customers") : NULL;
    mlc_rc rc = MLC_OK;

    for (size_t i = 0; i < x->no; i++)
        orgs[i] = (struct ld_match_org){x->o[i].id, x->o[i].name, x->o[i].postal, x->o[i].city,
                                        x->o[i].claimed};
    qsort(x->linked, x->nl, sizeof(*x->linked), str_cmp);
    qsort(x->o, x->no, sizeof(*x->o), org_cmp);
    latest_per_key(x);
    for (size_t i = 0; i < x->nc; i++) {
        const char *k = x->c[i].key;

        if (x->c[i].missing || !x->c[i].name) {
            gone++;
        } else if (bsearch(&k, x->linked, x->nl, sizeof(*x->linked), str_cmp)) {
            already++;
        } else {
            mc[n] = (struct ld_match_customer){x->c[i].name, x->c[i].postal, x->c[i].city};
            who[n++] = i;
        }
    }
    ix = ld_match_index_new(rules, orgs, x->no);
    ld_match_all(ix, mc, n, res);
    for (size_t i = 0; i < n; i++) {
        count[res[i].verdict]++;
        print_result(x->ld->out, arr, &x->c[who[i]], x, &res[i]);
    }
    if (apply && (rc = apply_links(x, res, who, n, &linked, err)) != MLC_OK)
        goto out;
    if (doc) {
        cJSON *t = cJSON_AddObjectToObject(doc, "totals");
        char *text;

        cJSON_AddNumberToObject(t, "matched", (double)count[LD_MATCH_ONE]);
        cJSON_AddNumberToObject(t, "ambiguous", (double)count[LD_MATCH_AMBIGUOUS]);
        cJSON_AddNumberToObject(t, "none", (double)count[LD_MATCH_NONE]);
        cJSON_AddNumberToObject(t, "already_linked", (double)already);
        cJSON_AddNumberToObject(t, "missing_in_sage", (double)gone);
        cJSON_AddNumberToObject(t, "organizations", (double)x->no);
        cJSON_AddNumberToObject(t, "listing_tokens", (double)(pages * MATCH_LIST_TOKENS));
        cJSON_AddNumberToObject(t, "apply_tokens",
                                (double)(count[LD_MATCH_ONE] * MATCH_PATCH_TOKENS));
        cJSON_AddNumberToObject(t, "linked", (double)linked);
        text = cJSON_PrintUnformatted(doc);
        fprintf(x->ld->out, "%s\n", text ? text : "{}");
        cJSON_free(text);
    } else {
        fprintf(x->ld->out,
                "matched %zu, ambiguous %zu, none %zu; already linked %zu, missing in Sage %zu; "
                "%zu organizations listed for %zu tokens\n",
                count[LD_MATCH_ONE], count[LD_MATCH_AMBIGUOUS], count[LD_MATCH_NONE], already, gone,
                x->no, pages * MATCH_LIST_TOKENS);
        if (apply)
            fprintf(x->ld->out,
                    "linked %zu organization(s) (%zu tokens); the next sync adopts "
                    "them\n",
                    linked, linked * MATCH_PATCH_TOKENS);
        else
            fprintf(x->ld->out,
                    "--apply would write the two ID fields on the %zu matched organization(s): "
                    "%zu tokens\n",
                    count[LD_MATCH_ONE], count[LD_MATCH_ONE] * MATCH_PATCH_TOKENS);
    }
out:
    ld_match_index_free(ix);
    cJSON_Delete(doc);
    free(orgs);
    free(mc);
    free(res);
    free(who);
    return rc;
}

mlc_rc ld_match_command(struct ld *ld, bool apply, bool json, struct mlc_err *err)
{
    struct matching x = {.ld = ld};
    struct ld_match_rules rules;
    size_t pages = 0;
    mlc_rc rc;

    if ((rc = ld_match_rules_init(&rules, mlc_cfg_str(ld->cfg, MLC_CFG_MATCH_SUFFIXES), err)) !=
        MLC_OK)
        return rc;
    rc = mlc_kafka_read_topic(ld->cfg, ld->topic, MATCH_READ_TIMEOUT_MS, on_event, &x, NULL, err);
    if (rc == MLC_OK)
        rc = ld_scan_orgs(ld, 0, on_org, &x, &pages, err);
    if (rc == MLC_OK)
        rc = decide(&x, &rules, apply, json, pages, err);
    if (ld_flush_calls_tx(ld, NULL) != MLC_OK)
        mlc_warn("match: the call audit could not be written");
    for (size_t i = 0; i < x.nc; i++)
        cust_free(&x.c[i]);
    for (size_t i = 0; i < x.no; i++) {
        free(x.o[i].name);
        free(x.o[i].postal);
        free(x.o[i].city);
    }
    for (size_t i = 0; i < x.nl; i++)
        free(x.linked[i]);
    free(x.c);
    free(x.o);
    free(x.linked);
    ld_match_rules_free(&rules);
    return rc;
}
