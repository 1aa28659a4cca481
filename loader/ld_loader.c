/* ld_loader.c - mlc-loader: start-up, identity, event handling, consumption.
 *
 * Read docs/loader.md first. The shape of the consumption loop:
 *
 *   poll -> carry (messages in arrival order, per partition in offset order)
 *   refresh the id map when partitions were assigned (before any of their
 *   events is handled)
 *   pick a round: the first not-done message of each key (never two of one
 *   customer), at most ROUND_MAX
 *   plan each (decode, map, hash, id map: no call / POST / PATCH / DLQ)
 *   mark outstanding POSTs in the id map (committed), run the calls
 *   (pd_client: MLC_PIPEDRIVE_CONCURRENCY in flight), then ONE transaction
 *   with the id map rows and the audit rows of the round
 *   store offsets in order per partition, up to the first unfinished message
 */
#include "ld_loader.h"

#include "ld_metrics.h"
#include "ld_offsets.h"
#include "ld_state.h"
#include "mlc_backoff.h"
#include "mlc_buf.h"
#include "mlc_event.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "pd_client.h"
#include "pd_mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUND_MAX     256
#define CARRY_MAX     2048
#define SCAN_PAGE     500
#define MAX_SCAN_KEYS 15 /* custom_fields selection limit of the list */

struct call_row {
    char method[8];
    char path[PD_PATH_MAX];
    long status;
    int tokens;
    long duration_ms;
    char company[MLC_EVENT_MAX_COMPANY + 1];
    char customer[MLC_EVENT_MAX_NUMBER * 4 + 1];
    int64_t at_ms;
};

struct item {
    rd_kafka_message_t *msg;
    bool done;
};

enum plan_kind { PLAN_NONE = 0, PLAN_POST, PLAN_PATCH, PLAN_DLQ, PLAN_WAIT };

struct work {
    struct item *it;
    struct mlc_event ev;
    bool decoded;
    enum plan_kind kind;
    const char *outcome;
    char reason[512];
    char err_class[24];
    int64_t org_id;
    bool remote;   /* the map held a scan snapshot (adoption) */
    bool recreate; /* POST replacing an organization deleted in Pipedrive */
    cJSON *next;   /* full body to remember after success */
    char hash[65];
    char *body; /* request body text */
    struct ld_map_row row;
    bool row_found;
    bool write_row; /* store next/hash/org_id after success */
    struct pd_call call;
    bool finished; /* outcome known: audit and mark done */
};

struct ld {
    const struct mlc_config *cfg;
    const struct ld_opts *o;
    FILE *out;
    struct pd_client *pd;
    struct ld_state *st;
    struct pd_mapping *map;
    size_t i_num, i_co;
    const char *k_num, *k_co;
    const char *topic;
    struct mlc_kafka_consumer *cons;
    struct mlc_kafka_producer *dlq;
    int dlq_ok, dlq_failed;
    struct call_row *calls;
    size_t n_calls, cap_calls;
    const char *cur_company, *cur_customer; /* audit context of startup calls */
    struct item carry[CARRY_MAX];
    size_t n_carry;
    bool need_refresh;
    bool any_assigned;
    rd_kafka_topic_partition_list_t *revoked;
    int64_t margin_ms;
    long probe_ms;
    struct mlc_backoff backoff;
    unsigned retry_attempt;
    int64_t retry_at_ms;
    int64_t settle_ms;      /* how long an unanswered POST may still land */
    int64_t defer_until_ms; /* earliest retry of work deferred by plan() */
    /* the last successful scan: organizations updated from since until started
     * are in the map (since 0: all of them) */
    int64_t scan_since_ms, scan_started_ms;
    long n_created, n_updated, n_unchanged, n_adopted, n_dlq, n_deleted, n_duplicate;
    struct ld_metrics *metrics; /* nullable */
};

/* ------------------------------------------------------------------ audit */

static void on_call(void *ctx, const struct pd_call *call, long status, int tokens, long dur)
{
    struct ld *ld = ctx;
    const struct work *w = call->tag;
    struct pd_limits *l = pd_client_limits(ld->pd);
    struct call_row *r;

    ld_metrics_call(ld->metrics, mlc_http_method_name(call->method), pd_op_name(call->op), status,
                    tokens, status == 429 && l->daily_paused, status == 403 && pd_limits_blocked(l),
                    pd_limits_daily_remaining(l), l->hdr_burst ? l->hdr_remaining : -1);

    if (ld->n_calls == ld->cap_calls) {
        size_t cap = ld->cap_calls ? ld->cap_calls * 2 : 64;
        struct call_row *p = realloc(ld->calls, cap * sizeof(*p));

        if (!p) {
            mlc_error("out of memory recording a call audit row");
            return;
        }
        ld->calls = p;
        ld->cap_calls = cap;
    }
    r = &ld->calls[ld->n_calls++];
    memset(r, 0, sizeof(*r));
    mlc_strlcpy(r->method, mlc_http_method_name(call->method), sizeof(r->method));
    mlc_strlcpy(r->path, call->path, sizeof(r->path));
    r->status = status;
    r->tokens = tokens;
    r->duration_ms = dur;
    r->at_ms = pd_now_ms();
    if (w && w->decoded) {
        mlc_strlcpy(r->company, w->ev.company, sizeof(r->company));
        mlc_strlcpy(r->customer, w->ev.customer_number, sizeof(r->customer));
    } else if (!w && ld->cur_company) {
        mlc_strlcpy(r->company, ld->cur_company, sizeof(r->company));
        mlc_strlcpy(r->customer, ld->cur_customer ? ld->cur_customer : "", sizeof(r->customer));
    }
}

/* Writes the collected call rows (inside the caller's transaction). */
static mlc_rc flush_calls(struct ld *ld, struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;

    if (ld->o->dry_run) {
        ld->n_calls = 0;
        return MLC_OK;
    }
    for (size_t i = 0; i < ld->n_calls && rc == MLC_OK; i++) {
        struct call_row *r = &ld->calls[i];

        rc = ld_state_audit_call(ld->st, r->method, r->path, r->status, r->tokens, r->duration_ms,
                                 r->company[0] ? r->company : NULL,
                                 r->company[0] ? r->customer : NULL, r->at_ms, err);
    }
    if (rc == MLC_OK)
        ld->n_calls = 0;
    return rc;
}

/* Stores pending call rows in their own transaction (start-up, scans). */
static mlc_rc flush_calls_tx(struct ld *ld, struct mlc_err *err)
{
    mlc_rc rc;

    if (ld->o->dry_run || ld->n_calls == 0) {
        ld->n_calls = 0;
        return MLC_OK;
    }
    if ((rc = ld_state_begin(ld->st, err)) != MLC_OK)
        return rc;
    if ((rc = flush_calls(ld, err)) == MLC_OK)
        return ld_state_commit(ld->st, err);
    ld_state_rollback(ld->st);
    return rc;
}

/* ------------------------------------------------------------- utilities */

static void url_escape(const char *in, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *in && o + 4 < outsz; in++) {
        unsigned char ch = (unsigned char)*in;

        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == ',') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

/* The escaped next_cursor of a v2 list answer, or "" at the end. */
static void next_cursor(const cJSON *answer, char *out, size_t outsz)
{
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(answer, "additional_data"), "next_cursor");

    if (cJSON_IsString(next) && next->valuestring[0])
        url_escape(next->valuestring, out, outsz);
    else
        out[0] = '\0';
}

static void rfc3339(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static char *canonical(const cJSON *j, struct mlc_err *err)
{
    struct mlc_buf b;

    mlc_buf_init(&b, 1u << 20);
    if (pd_mapping_canonical(j, &b, err) != MLC_OK) {
        mlc_buf_free(&b);
        return NULL;
    }
    if (!b.data && mlc_buf_puts(&b, "") != MLC_OK) {
        mlc_buf_free(&b);
        return NULL;
    }
    return mlc_buf_steal(&b);
}

static const char *json_str(const cJSON *o, const char *k)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The part of an organization the mapping can write: name, address (without
 * the computed formatted_address), website and the custom fields. */
static cJSON *snapshot_of(const cJSON *org)
{
    static const char *const keys[] = {"name", "address", "website", "custom_fields"};
    cJSON *s = cJSON_CreateObject();

    for (size_t i = 0; s && i < sizeof(keys) / sizeof(keys[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(org, keys[i]);
        cJSON *d;

        if (!v)
            continue;
        d = cJSON_Duplicate(v, 1);
        if (!d)
            continue;
        if (!strcmp(keys[i], "address") && cJSON_IsObject(d)) {
            /* a null subfield is an absent one (the body never sends nulls) */
            cJSON *sub = d->child, *nx;

            cJSON_DeleteItemFromObjectCaseSensitive(d, "formatted_address");
            for (sub = d->child; sub; sub = nx) {
                nx = sub->next;
                if (cJSON_IsNull(sub))
                    cJSON_Delete(cJSON_DetachItemViaPointer(d, sub));
            }
        }
        cJSON_AddItemToObject(s, keys[i], d);
    }
    return s;
}

/* What the organization holds of the keys next would write (adoption diff). */
static cJSON *project(const cJSON *snap, const cJSON *next)
{
    cJSON *last = cJSON_CreateObject();
    const cJSON *it;

    cJSON_ArrayForEach(it, next)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(snap, it->string);

        if (!strcmp(it->string, "custom_fields") && cJSON_IsObject(it)) {
            cJSON *cf = cJSON_AddObjectToObject(last, "custom_fields");
            const cJSON *c;

            cJSON_ArrayForEach(c, it)
            {
                const cJSON *sv =
                    cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, c->string) : NULL;

                if (sv && cf)
                    cJSON_AddItemToObject(cf, c->string, cJSON_Duplicate(sv, 1));
            }
        } else if (v) {
            cJSON_AddItemToObject(last, it->string, cJSON_Duplicate(v, 1));
        }
    }
    return last;
}

/* ------------------------------------------------------------ setup: fields */

static mlc_rc list_fields(struct ld *ld, cJSON **all, struct mlc_err *err)
{
    char cursor[1024] = "";
    mlc_rc rc = MLC_OK;

    *all = cJSON_CreateArray();
    if (!*all)
        return mlc_err_set(err, MLC_FATAL, "out of memory");
    for (;;) {
        struct pd_call call = {.op = PD_OP_LIST_ORG_FIELDS, .method = MLC_HTTP_GET};
        const cJSON *data, *f;

        snprintf(call.path, sizeof(call.path), "/api/v2/organizationFields?limit=500%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        rc = pd_client_call1(ld->pd, &call, err);
        if (rc != MLC_OK) {
            pd_call_reset(&call);
            mlc_err_prefix(err, "listing organization fields");
            if (rc == MLC_PERM)
                rc = MLC_FATAL;
            break;
        }
        data = cJSON_GetObjectItemCaseSensitive(call.json, "data");
        cJSON_ArrayForEach(f, data) cJSON_AddItemToArray(*all, cJSON_Duplicate(f, 1));
        next_cursor(call.json, cursor, sizeof(cursor));
        pd_call_reset(&call);
        if (!cursor[0])
            break;
    }
    if (rc != MLC_OK) {
        cJSON_Delete(*all);
        *all = NULL;
    }
    return rc;
}

static mlc_rc post_json(struct ld *ld, enum pd_op op, const char *path, cJSON *body,
                        struct mlc_err *err)
{
    struct pd_call call = {.op = op, .method = MLC_HTTP_POST};
    char *text = cJSON_PrintUnformatted(body);
    mlc_rc rc;

    if (!text)
        return mlc_err_set(err, MLC_FATAL, "out of memory");
    mlc_strlcpy(call.path, path, sizeof(call.path));
    call.body = text;
    rc = pd_client_call1(ld->pd, &call, err);
    if (rc == MLC_PERM)
        rc = MLC_FATAL;
    pd_call_reset(&call);
    free(text);
    return rc;
}

/* GET the fields, resolve the mapping, create what is missing (unless
 * create is false), resolve again. */
static mlc_rc prepare_fields(struct ld *ld, bool create, struct mlc_err *err)
{
    struct pd_resolve_report rep;
    cJSON *fields = NULL;
    mlc_rc rc;

    if ((rc = list_fields(ld, &fields, err)) != MLC_OK)
        goto out;
    if ((rc = pd_mapping_resolve(ld->map, fields, &rep, err)) != MLC_OK)
        goto out;
    if (rep.missing_fields || rep.missing_options) {
        if (!create) {
            rc = mlc_err_set(err, MLC_FATAL,
                             "pipedrive lacks what the mapping needs (%s); create them with "
                             "`mlc-loader setup` or set MLC_PIPEDRIVE_CREATE_FIELDS=true",
                             rep.text);
            goto out;
        }
        for (size_t i = 0; i < pd_mapping_custom_count(ld->map); i++) {
            cJSON *body = NULL;
            char path[256];

            if (!pd_mapping_field_resolved(ld->map, i)) {
                body = pd_mapping_field_create_body(ld->map, i);
                snprintf(path, sizeof(path), "/api/v2/organizationFields");
                mlc_info("creating organization field \"%s\" (%s)",
                         pd_mapping_custom_name(ld->map, i), pd_mapping_custom_type(ld->map, i));
            } else if ((body = pd_mapping_missing_options_body(ld->map, i)) != NULL) {
                snprintf(path, sizeof(path), "/api/v2/organizationFields/%s/options",
                         pd_mapping_custom_key(ld->map, i));
                mlc_info("adding options to organization field \"%s\"",
                         pd_mapping_custom_name(ld->map, i));
            }
            if (!body)
                continue;
            rc = post_json(ld, PD_OP_CREATE_ORG_FIELD, path, body, err);
            cJSON_Delete(body);
            if (rc != MLC_OK) {
                mlc_err_prefix(err, "creating field \"%s\"", pd_mapping_custom_name(ld->map, i));
                goto out;
            }
        }
        cJSON_Delete(fields);
        fields = NULL;
        if ((rc = list_fields(ld, &fields, err)) != MLC_OK ||
            (rc = pd_mapping_resolve(ld->map, fields, &rep, err)) != MLC_OK)
            goto out;
    }
    if (!pd_mapping_resolved(ld->map)) {
        rc = mlc_err_set(err, MLC_FATAL, "mapping still unresolved after creating fields (%s)",
                         rep.text);
        goto out;
    }
    pd_mapping_identity(ld->map, &ld->i_num, &ld->i_co);
    ld->k_num = pd_mapping_custom_key(ld->map, ld->i_num);
    ld->k_co = pd_mapping_custom_key(ld->map, ld->i_co);
out:
    cJSON_Delete(fields);
    if (flush_calls_tx(ld, rc == MLC_OK ? err : NULL) != MLC_OK && rc == MLC_OK)
        rc = MLC_FATAL;
    return rc;
}

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

/* Applies what a scan found to the id map, in one transaction. */
static mlc_rc apply_found(struct ld *ld, struct found *f, size_t n, int64_t scan_ms, bool full,
                          struct mlc_err *err)
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
        memset(&row, 0, sizeof(row));
        if ((rc = ld_state_map_get(ld->st, f[i].company, f[i].customer, &old, &found, err)) !=
            MLC_OK)
            break;
        row.org_id = f[i].org_id;
        if (j - i > 1 || (found && old.org_id && old.org_id != f[i].org_id &&
                          strcmp(old.state, "deleted_in_crm") != 0)) {
            /* two organizations carry this customer's IDs: change none */
            mlc_strlcpy(row.state, "duplicate", sizeof(row.state));
            if (found && old.org_id)
                row.org_id = old.org_id;
            mlc_warn("customer %s:%s: %zu organizations carry its IDs; none will be changed "
                     "until the duplicates are merged in pipedrive",
                     f[i].company, f[i].customer,
                     j - i + (found && old.org_id && old.org_id != f[i].org_id ? 1 : 0));
        } else {
            mlc_strlcpy(row.state, "active", sizeof(row.state));
            if (found && old.org_id == f[i].org_id && !old.remote && old.payload && !full) {
                /* our own write coming back from updated_since: keep what we applied */
                row = old;
                row.payload = old.payload;
                row.create_pending_ms = 0;
            } else {
                row.payload = canonical(f[i].snap, err);
                row.remote = true;
                if (!row.payload) {
                    rc = MLC_FATAL;
                    ld_map_row_free(&old);
                    break;
                }
            }
        }
        rc = ld_state_map_put(ld->st, f[i].company, f[i].customer, &row, err);
        if (row.payload != old.payload)
            free(row.payload);
        ld_map_row_free(&old);
        i = j;
    }
    snprintf(ms, sizeof(ms), "%lld", (long long)scan_ms);
    if (rc == MLC_OK)
        rc = ld_state_meta_set(ld->st, "last_scan_ms", ms, err);
    if (rc == MLC_OK)
        rc = flush_calls(ld, err);
    if (rc == MLC_OK)
        return ld_state_commit(ld->st, err);
    ld_state_rollback(ld->st);
    return rc;
}

/* Pages GET /api/v2/organizations with the identity fields (and the other
 * mapped custom fields while they fit the 15-key selection), since since_ms
 * (0: all), and records every organization that carries both IDs. */
static mlc_rc scan(struct ld *ld, int64_t since_ms, struct mlc_err *err)
{
    struct mlc_buf keys;
    char cursor[1024] = "", since[64] = "";
    struct found *f = NULL;
    size_t n = 0, cap = 0, pages = 0, total = 0;
    int64_t started = pd_now_ms();
    mlc_rc rc = MLC_OK;
    size_t nc = pd_mapping_custom_count(ld->map);

    mlc_buf_init(&keys, 4096);
    mlc_buf_printf(&keys, "%s,%s", ld->k_num, ld->k_co);
    if (nc <= MAX_SCAN_KEYS)
        for (size_t i = 0; i < nc; i++)
            if (i != ld->i_num && i != ld->i_co)
                mlc_buf_printf(&keys, ",%s", pd_mapping_custom_key(ld->map, i));
    if (since_ms > 0) {
        char t[32];

        rfc3339(since_ms, t);
        url_escape(t, since, sizeof(since));
    }
    for (;;) {
        struct pd_call call = {.op = PD_OP_LIST_ORGS, .method = MLC_HTTP_GET};
        const cJSON *data, *org;

        snprintf(call.path, sizeof(call.path),
                 "/api/v2/organizations?limit=%d&custom_fields=%s%s%s%s%s", SCAN_PAGE,
                 mlc_buf_str(&keys), since[0] ? "&updated_since=" : "", since,
                 cursor[0] ? "&cursor=" : "", cursor);
        rc = pd_client_call1(ld->pd, &call, err);
        if (rc != MLC_OK) {
            pd_call_reset(&call);
            mlc_err_prefix(err, "scanning organizations");
            if (rc == MLC_PERM)
                rc = MLC_RETRY; /* e.g. a 400 for updated_since: try again later, loudly */
            goto out;
        }
        pages++;
        data = cJSON_GetObjectItemCaseSensitive(call.json, "data");
        cJSON_ArrayForEach(org, data)
        {
            const cJSON *cf = cJSON_GetObjectItemCaseSensitive(org, "custom_fields");
            const char *num = json_str(cf, ld->k_num), *co = json_str(cf, ld->k_co);
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(org, "id");
            const cJSON *del = cJSON_GetObjectItemCaseSensitive(org, "is_deleted");

            total++;
            if (!num || !co || !cJSON_IsNumber(id) || cJSON_IsTrue(del))
                continue; /* not ours (or deleted): never touched */
            if (n == cap) {
                size_t nc2 = cap ? cap * 2 : 256;
                struct found *p = realloc(f, nc2 * sizeof(*p));

                if (!p) {
                    pd_call_reset(&call);
                    rc = mlc_err_set(err, MLC_FATAL, "out of memory");
                    goto out;
                }
                f = p;
                cap = nc2;
            }
            f[n].company = strdup(co);
            f[n].customer = strdup(num);
            f[n].org_id = (int64_t)id->valuedouble;
            f[n].snap = snapshot_of(org);
            n++;
            if (!f[n - 1].company || !f[n - 1].customer || !f[n - 1].snap) {
                pd_call_reset(&call);
                rc = mlc_err_set(err, MLC_FATAL, "out of memory");
                goto out;
            }
        }
        next_cursor(call.json, cursor, sizeof(cursor));
        pd_call_reset(&call);
        if (!cursor[0])
            break;
    }
    rc = apply_found(ld, f, n, started, since_ms == 0, err);
    if (rc == MLC_OK) {
        ld->scan_since_ms = since_ms;
        ld->scan_started_ms = started;
    }
    mlc_info("organization scan%s: %zu page(s), %zu organization(s), %zu with Sage 300 IDs",
             since_ms ? " (updated since last scan)" : "", pages, total, n);
out:
    for (size_t i = 0; i < n; i++) {
        free(f[i].company);
        free(f[i].customer);
        cJSON_Delete(f[i].snap);
    }
    free(f);
    mlc_buf_free(&keys);
    if (rc != MLC_OK)
        flush_calls_tx(ld, NULL);
    return rc;
}

/* Full scan when the map is cold (never scanned: new or lost state file),
 * else the organizations updated since the last scan minus the margin. */
static mlc_rc refresh_map(struct ld *ld, struct mlc_err *err)
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
    return scan(ld, last ? (last - ld->margin_ms > 1 ? last - ld->margin_ms : 1) : 0, err);
}

/* ------------------------------------------------------------------ DLQ */

static void on_dlq_dr(const struct mlc_kafka_dr *dr, void *ctx)
{
    struct ld *ld = ctx;

    if (dr->err)
        ld->dlq_failed++;
    else
        ld->dlq_ok++;
}

static mlc_rc send_dlq(struct ld *ld, const rd_kafka_message_t *m, const char *cls,
                       const char *text, struct mlc_err *err)
{
    struct mlc_kafka_header h[64];
    size_t nh = 0;
    rd_kafka_headers_t *orig = NULL;
    char part[16], off[24], at[32], clean[512];
    int left = 0, before_ok, before_failed;
    mlc_rc rc;

    if (!ld->dlq && (rc = mlc_kafka_producer_new(ld->cfg, on_dlq_dr, ld, &ld->dlq, err)) != MLC_OK)
        return rc;
    if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig) {
        const char *name;
        const void *val;
        size_t len;

        for (size_t i = 0; nh < 58 && !rd_kafka_header_get_all(orig, i, &name, &val, &len); i++)
            h[nh++] = (struct mlc_kafka_header){name, val, len};
    }
    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%lld", (long long)m->offset);
    rfc3339(pd_now_ms(), at);
    mlc_redact(text, clean, sizeof(clean));
    h[nh++] = (struct mlc_kafka_header){"mlc.original.topic", ld->topic, strlen(ld->topic)};
    h[nh++] = (struct mlc_kafka_header){"mlc.original.partition", part, strlen(part)};
    h[nh++] = (struct mlc_kafka_header){"mlc.original.offset", off, strlen(off)};
    h[nh++] = (struct mlc_kafka_header){"mlc.error.class", cls, strlen(cls)};
    h[nh++] = (struct mlc_kafka_header){"mlc.error", clean, strlen(clean)};
    h[nh++] = (struct mlc_kafka_header){"mlc.failed.at", at, strlen(at)};
    before_ok = ld->dlq_ok;
    before_failed = ld->dlq_failed;
    rc = mlc_kafka_produce(ld->dlq, mlc_cfg_str(ld->cfg, MLC_CFG_DLQ_TOPIC), m->key, m->key_len,
                           m->payload, m->len, h, nh, NULL, 10000, err);
    if (rc != MLC_OK)
        return rc == MLC_PERM ? MLC_RETRY : rc;
    rc = mlc_kafka_producer_flush(ld->dlq, 30000, &left, err);
    if (rc == MLC_OK && (ld->dlq_failed != before_failed || ld->dlq_ok == before_ok))
        rc = mlc_err_set(err, MLC_RETRY, "dead-letter topic %s: delivery failed",
                         mlc_cfg_str(ld->cfg, MLC_CFG_DLQ_TOPIC));
    return rc;
}

/* ------------------------------------------------------------ one round */

static void work_free(struct work *w)
{
    mlc_event_free(&w->ev);
    cJSON_Delete(w->next);
    free(w->body);
    ld_map_row_free(&w->row);
    pd_call_reset(&w->call);
}

static void finish(struct work *w, const char *outcome, int64_t org_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void finish(struct work *w, const char *outcome, int64_t org_id, const char *fmt, ...)
{
    va_list ap;

    w->finished = true;
    w->outcome = outcome;
    w->org_id = org_id;
    w->reason[0] = '\0';
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(w->reason, sizeof(w->reason), fmt, ap);
        va_end(ap);
    }
}

static void to_dlq(struct work *w, const char *cls, const char *text)
{
    w->kind = PLAN_DLQ;
    mlc_strlcpy(w->err_class, cls, sizeof(w->err_class));
    mlc_strlcpy(w->reason, text, sizeof(w->reason));
}

static mlc_rc set_body(struct work *w, const cJSON *b, struct mlc_err *err)
{
    free(w->body);
    w->body = cJSON_PrintUnformatted(b);
    return w->body ? MLC_OK : mlc_err_set(err, MLC_FATAL, "out of memory");
}

/* The full body for the event as the organization should now look: for
 * upsert the mapped body (absent values null); for missing the last known
 * body with the on_missing fields replaced. */
static mlc_rc next_body(struct ld *ld, struct work *w, const cJSON *last, struct mlc_err *err)
{
    struct pd_event_view v = {.company = w->ev.company,
                              .customer_number = w->ev.customer_number,
                              .op = mlc_event_op_name(w->ev.op),
                              .customer = w->ev.customer};
    cJSON *b = NULL;
    mlc_rc rc = pd_mapping_apply(ld->map, &v, PD_APPLY_UPDATE, &b, err);

    if (rc != MLC_OK)
        return rc;
    if (w->ev.op == MLC_EVENT_MISSING) {
        cJSON *merged = last ? cJSON_Duplicate(last, 1) : cJSON_CreateObject();
        const cJSON *c, *cf = cJSON_GetObjectItemCaseSensitive(b, "custom_fields");
        cJSON *mcf;

        if (!merged) {
            cJSON_Delete(b);
            return mlc_err_set(err, MLC_FATAL, "out of memory");
        }
        mcf = cJSON_GetObjectItemCaseSensitive(merged, "custom_fields");
        if (!cJSON_IsObject(mcf)) {
            cJSON_DeleteItemFromObjectCaseSensitive(merged, "custom_fields");
            mcf = cJSON_AddObjectToObject(merged, "custom_fields");
        }
        cJSON_ArrayForEach(c, cf)
        {
            cJSON_DeleteItemFromObjectCaseSensitive(mcf, c->string);
            cJSON_AddItemToObject(mcf, c->string, cJSON_Duplicate(c, 1));
        }
        cJSON_Delete(b);
        b = merged;
    }
    w->next = b;
    return pd_mapping_hash(b, w->hash, err);
}

static mlc_rc plan_create(struct ld *ld, struct work *w, struct mlc_err *err)
{
    struct pd_event_view v = {.company = w->ev.company,
                              .customer_number = w->ev.customer_number,
                              .op = mlc_event_op_name(w->ev.op),
                              .customer = w->ev.customer};
    cJSON *b = NULL;
    mlc_rc rc = pd_mapping_apply(ld->map, &v, PD_APPLY_CREATE, &b, err);

    if (rc != MLC_OK)
        return rc;
    rc = set_body(w, b, err);
    cJSON_Delete(b);
    w->kind = PLAN_POST;
    w->write_row = true;
    w->call.op = PD_OP_CREATE_ORG;
    w->call.method = MLC_HTTP_POST;
    snprintf(w->call.path, sizeof(w->call.path), "/api/v2/organizations");
    return rc;
}

static void dry_print(struct ld *ld, struct work *w, const char *what, const char *diff)
{
    const rd_kafka_message_t *m = w->it->msg;

    fprintf(ld->out, "%s:%d:%lld %s:%s %s%s%s", ld->topic, (int)m->partition, (long long)m->offset,
            w->ev.company ? w->ev.company : "?",
            w->ev.customer_number ? w->ev.customer_number : "?", what, w->reason[0] ? ": " : "",
            w->reason);
    fputc('\n', ld->out);
    if (diff && diff[0])
        fputs(diff, ld->out);
    fflush(ld->out);
}

/* Decides what the event needs. May run an identity lookup (a POST whose
 * answer was lost). Fills w->kind; finished events get their outcome. */
static mlc_rc plan(struct ld *ld, struct work *w, struct mlc_err *err)
{
    const rd_kafka_message_t *m = w->it->msg;
    struct mlc_err e = {0};
    cJSON *last = NULL, *patch = NULL;
    struct mlc_buf diff;
    mlc_rc rc;

    mlc_buf_init(&diff, 64 * 1024);
    rc = mlc_event_decode(m->key, m->key_len, m->payload, m->len, &w->ev, &e);
    if (rc == MLC_FATAL) {
        *err = e;
        goto out;
    }
    if (rc != MLC_OK) {
        to_dlq(w, "invalid_event", e.msg);
        rc = MLC_OK;
        goto out;
    }
    w->decoded = true;
    ld_map_row_free(&w->row);
    if ((rc = ld_state_map_get(ld->st, w->ev.company, w->ev.customer_number, &w->row, &w->row_found,
                               err)) != MLC_OK)
        goto out;
    if (w->row_found && w->row.create_pending_ms && !w->row.org_id && !ld->o->dry_run &&
        pd_now_ms() < w->row.create_pending_ms + ld->settle_ms) {
        /* The unanswered POST may still be queued at Pipedrive: a lookup now
         * could miss an organization that lands a moment later, and the
         * create that follows would duplicate it. Wait until it must have
         * landed or failed (twice the request timeout), then look. */
        int64_t ready = w->row.create_pending_ms + ld->settle_ms;

        mlc_info("customer %s:%s: an earlier create got no answer; looking it up in %lld ms",
                 w->ev.company, w->ev.customer_number, (long long)(ready - pd_now_ms()));
        if (ready > ld->defer_until_ms)
            ld->defer_until_ms = ready;
        w->kind = PLAN_WAIT;
        goto out;
    }
    if (w->row_found && w->row.create_pending_ms && !w->row.org_id) {
        /* a POST for this customer may have succeeded without us hearing the
         * answer: look at what changed since, never create twice */
        int64_t since = w->row.create_pending_ms - ld->margin_ms;

        if (since < 1)
            since = 1;
        /* one scan serves every lost create it spans (a round often holds
         * several): each costs list tokens, and the daily budget is finite */
        if (ld->scan_since_ms > since ||
            ld->scan_started_ms < w->row.create_pending_ms + ld->settle_ms) {
            mlc_info("customer %s:%s: an earlier create got no answer; looking it up first",
                     w->ev.company, w->ev.customer_number);
            if ((rc = scan(ld, since, err)) != MLC_OK)
                goto out;
        }
        ld_map_row_free(&w->row);
        if ((rc = ld_state_map_get(ld->st, w->ev.company, w->ev.customer_number, &w->row,
                                   &w->row_found, err)) != MLC_OK)
            goto out;
        if (w->row_found && w->row.create_pending_ms && !w->row.org_id && !ld->o->dry_run) {
            if ((rc = ld_state_begin(ld->st, err)) != MLC_OK)
                goto out;
            rc = ld_state_map_pending(ld->st, w->ev.company, w->ev.customer_number, 0, err);
            if (rc == MLC_OK)
                rc = ld_state_commit(ld->st, err);
            else
                ld_state_rollback(ld->st);
            if (rc != MLC_OK)
                goto out;
            w->row.create_pending_ms = 0;
        }
    }
    if (w->row_found && !strcmp(w->row.state, "duplicate")) {
        finish(w, "duplicate", w->row.org_id,
               "several organizations carry this customer's IDs; none changed");
        goto out;
    }
    if (w->row_found && !strcmp(w->row.state, "deleted_in_crm") && !w->recreate) {
        if (strcmp(mlc_cfg_str(ld->cfg, MLC_CFG_ON_CRM_DELETED), "recreate") != 0) {
            finish(w, "deleted_in_crm", w->row.org_id,
                   "organization was deleted in pipedrive; left deleted (MLC_ON_CRM_DELETED=skip)");
            goto out;
        }
        w->recreate = true;
    }
    if (w->row_found && w->row.org_id && !w->recreate) {
        if (w->row.payload) {
            last = cJSON_Parse(w->row.payload);
            if (!last) {
                rc = mlc_err_set(err, MLC_FATAL, "state db: stored payload of %s:%s is not JSON",
                                 w->ev.company, w->ev.customer_number);
                goto out;
            }
        }
        w->remote = w->row.remote;
        rc = next_body(ld, w, last, &e);
        if (rc == MLC_PERM) {
            to_dlq(w, "mapping", e.msg);
            rc = MLC_OK;
            goto out;
        }
        if (rc != MLC_OK) {
            *err = e;
            goto out;
        }
        if (!w->remote && w->row.hash[0] && !strcmp(w->row.hash, w->hash)) {
            finish(w, "unchanged", w->row.org_id, NULL);
            goto out;
        }
        if (w->remote && w->ev.op == MLC_EVENT_UPSERT) {
            cJSON *p = project(last, w->next);

            cJSON_Delete(last);
            last = p;
        }
        if ((rc = pd_mapping_diff(ld->map, last, w->next, &patch, &diff, err)) != MLC_OK)
            goto out;
        w->org_id = w->row.org_id;
        w->write_row = true;
        if (!patch) {
            finish(w, w->remote ? "adopted" : "unchanged", w->row.org_id,
                   w->remote ? "organization already up to date" : NULL);
            goto out;
        }
        if ((rc = set_body(w, patch, err)) != MLC_OK)
            goto out;
        w->kind = PLAN_PATCH;
        w->call.op = PD_OP_PATCH_ORG;
        w->call.method = MLC_HTTP_PATCH;
        snprintf(w->call.path, sizeof(w->call.path), "/api/v2/organizations/%lld",
                 (long long)w->row.org_id);
        if (ld->o->dry_run) {
            char what[96];

            snprintf(what, sizeof(what), "would %s organization %lld",
                     w->remote ? "adopt and update" : "update", (long long)w->row.org_id);
            dry_print(ld, w, what, mlc_buf_str(&diff));
            finish(w, "dry_run", w->row.org_id, NULL);
        }
        goto out;
    }
    /* not in Pipedrive (or deleted there and to be recreated) */
    if (w->ev.op == MLC_EVENT_MISSING) {
        finish(w, "unchanged", 0, "missing in sage 300 and no organization to mark");
        if (ld->o->dry_run)
            dry_print(ld, w, "would skip", NULL);
        goto out;
    }
    rc = next_body(ld, w, NULL, &e);
    if (rc == MLC_OK)
        rc = plan_create(ld, w, &e);
    if (rc == MLC_PERM) {
        to_dlq(w, "mapping", e.msg);
        rc = MLC_OK;
        goto out;
    }
    if (rc != MLC_OK) {
        *err = e;
        goto out;
    }
    if (ld->o->dry_run) {
        cJSON *p = NULL;

        pd_mapping_diff(ld->map, NULL, w->next, &p, &diff, NULL);
        cJSON_Delete(p);
        dry_print(ld, w, "would create organization", mlc_buf_str(&diff));
        finish(w, "dry_run", 0, NULL);
    }
out:
    if (rc == MLC_OK && w->kind == PLAN_DLQ && ld->o->dry_run) {
        dry_print(ld, w, "would send to the dead-letter topic", NULL);
        finish(w, "dry_run", 0, "%s", w->reason);
        w->kind = PLAN_NONE;
    } else if (rc == MLC_OK && ld->o->dry_run && w->finished && strcmp(w->outcome, "dry_run")) {
        char what[64];

        snprintf(what, sizeof(what), "would skip (%s)", w->outcome);
        dry_print(ld, w, what, NULL);
    }
    cJSON_Delete(last);
    cJSON_Delete(patch);
    mlc_buf_free(&diff);
    return rc;
}

/* Learns from the answer of a work's call. */
static mlc_rc settle_work(struct ld *ld, struct work *w, bool *again, bool *retry,
                          struct mlc_err *err)
{
    const struct pd_call *c = &w->call;
    const cJSON *data = c->json ? cJSON_GetObjectItemCaseSensitive(c->json, "data") : NULL;
    bool deleted = false;

    if (c->rc == MLC_OK) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(data, "id");

        if (w->kind == PLAN_POST) {
            if (!cJSON_IsNumber(id) || id->valuedouble < 1) {
                /* it may exist now: the pending mark makes the retry look first */
                *retry = true;
                mlc_warn("customer %s:%s: create answered without an organization id",
                         w->ev.company, w->ev.customer_number);
                return MLC_OK;
            }
            finish(w, "created", (int64_t)id->valuedouble,
                   w->recreate ? "recreated: the earlier organization was deleted in pipedrive"
                               : NULL);
            return MLC_OK;
        }
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "is_deleted")))
            deleted = true;
        else {
            finish(w, w->remote ? "adopted" : "updated", w->org_id, NULL);
            return MLC_OK;
        }
    }
    if (w->kind == PLAN_PATCH && c->rc == MLC_PERM && (c->status == 404 || c->status == 410))
        deleted = true;
    if (deleted) {
        if (!strcmp(mlc_cfg_str(ld->cfg, MLC_CFG_ON_CRM_DELETED), "recreate")) {
            mlc_info("customer %s:%s: organization %lld was deleted in pipedrive; recreating it",
                     w->ev.company, w->ev.customer_number, (long long)w->org_id);
            w->recreate = true;
            pd_call_reset(&w->call);
            *again = true;
            return plan_create(ld, w, err);
        }
        finish(w, "deleted_in_crm", w->org_id,
               "organization was deleted in pipedrive (HTTP %ld); left deleted", c->status);
        mlc_strlcpy(w->row.state, "deleted_in_crm", sizeof(w->row.state));
        return MLC_OK;
    }
    if (c->rc == MLC_PERM) {
        to_dlq(w, c->status == 400 ? "validation" : "rejected", c->err.msg);
        return MLC_OK;
    }
    *retry = true; /* 5xx, timeout, daily budget: not done, offset not stored */
    mlc_warn("customer %s:%s: %s; will try again", w->ev.company, w->ev.customer_number,
             c->err.msg);
    return MLC_OK;
}

static void count(struct ld *ld, const char *outcome)
{
    if (!strcmp(outcome, "created"))
        ld->n_created++;
    else if (!strcmp(outcome, "updated"))
        ld->n_updated++;
    else if (!strcmp(outcome, "adopted"))
        ld->n_adopted++;
    else if (!strcmp(outcome, "dlq"))
        ld->n_dlq++;
    else if (!strcmp(outcome, "deleted_in_crm"))
        ld->n_deleted++;
    else if (!strcmp(outcome, "duplicate"))
        ld->n_duplicate++;
    else
        ld->n_unchanged++;
}

/* Map rows and audit rows of a round, in one transaction. */
static mlc_rc store_round(struct ld *ld, struct work *ws, size_t n, struct mlc_err *err)
{
    mlc_rc rc;

    if (ld->o->dry_run) {
        ld->n_calls = 0;
        return MLC_OK;
    }
    if ((rc = ld_state_begin(ld->st, err)) != MLC_OK)
        return rc;
    for (size_t i = 0; i < n && rc == MLC_OK; i++) {
        struct work *w = &ws[i];
        const rd_kafka_message_t *m = w->it->msg;
        struct ld_event_audit a = {.topic = ld->topic,
                                   .partition = m->partition,
                                   .offset = m->offset,
                                   .company = w->decoded ? w->ev.company : NULL,
                                   .customer = w->decoded ? w->ev.customer_number : NULL,
                                   .event_id = w->decoded ? w->ev.event_id : NULL,
                                   .outcome = w->outcome,
                                   .org_id = w->org_id,
                                   .reason = w->reason[0] ? w->reason : NULL};

        if (!w->finished && w->kind == PLAN_POST && w->call.rc == MLC_RETRY &&
            (!w->call.sent || w->call.status == 429)) {
            /* never sent, or refused by the rate limiter before Pipedrive
             * looked at it: nothing was created, no lookup needed */
            rc = ld_state_map_pending(ld->st, w->ev.company, w->ev.customer_number, 0, err);
            continue;
        }
        if (!w->finished && w->kind == PLAN_POST && w->call.rc == MLC_RETRY &&
            w->call.status == 0) {
            /* no answer to this create: the settle time before its lookup
             * counts from now, when we gave up, not from the round start */
            rc = ld_state_map_pending(ld->st, w->ev.company, w->ev.customer_number, pd_now_ms(),
                                      err);
            continue;
        }
        if (!w->finished)
            continue;
        if (w->write_row && (!strcmp(w->outcome, "created") || !strcmp(w->outcome, "updated") ||
                             !strcmp(w->outcome, "adopted") || !strcmp(w->outcome, "unchanged"))) {
            struct ld_map_row row = {.org_id = w->org_id};
            char *payload = canonical(w->next, err);

            if (!payload) {
                rc = MLC_FATAL;
                break;
            }
            mlc_strlcpy(row.state, "active", sizeof(row.state));
            mlc_strlcpy(row.hash, w->hash, sizeof(row.hash));
            row.payload = payload;
            row.remote = w->remote && w->ev.op == MLC_EVENT_MISSING;
            if (row.remote)
                row.hash[0] = '\0';
            rc = ld_state_map_put(ld->st, w->ev.company, w->ev.customer_number, &row, err);
            free(payload);
        } else if (!strcmp(w->outcome, "deleted_in_crm") && w->row_found &&
                   !strcmp(w->row.state, "deleted_in_crm")) {
            w->row.create_pending_ms = 0;
            rc = ld_state_map_put(ld->st, w->ev.company, w->ev.customer_number, &w->row, err);
        }
        if (rc == MLC_OK)
            rc = ld_state_audit_event(ld->st, &a, err);
    }
    if (rc == MLC_OK)
        rc = flush_calls(ld, err);
    if (rc == MLC_OK) {
        long rem = pd_limits_daily_remaining(pd_client_limits(ld->pd));
        char v[32];

        snprintf(v, sizeof(v), "%ld", rem);
        rc = ld_state_meta_set(ld->st, "daily_remaining", v, err);
    }
    if (rc == MLC_OK) { /* for `mlc status`: the burst window as last seen */
        const struct pd_limits *l = pd_client_limits(ld->pd);
        char v[64];

        snprintf(v, sizeof(v), "%ld/%d", l->hdr_burst ? l->hdr_remaining : -1L, l->burst_limit);
        rc = ld_state_meta_set(ld->st, "burst_remaining", v, err);
    }
    if (rc == MLC_OK)
        return ld_state_commit(ld->st, err);
    ld_state_rollback(ld->st);
    return rc;
}

/* Marks (before the POSTs go out) every create of the round as pending. */
static mlc_rc mark_pending(struct ld *ld, struct work *ws, size_t n, struct mlc_err *err)
{
    bool any = false;
    mlc_rc rc = MLC_OK;

    if (ld->o->dry_run)
        return MLC_OK;
    for (size_t i = 0; i < n; i++)
        any |= ws[i].kind == PLAN_POST && !ws[i].finished && !ws[i].call.json;
    if (!any)
        return MLC_OK;
    if ((rc = ld_state_begin(ld->st, err)) != MLC_OK)
        return rc;
    for (size_t i = 0; i < n && rc == MLC_OK; i++)
        if (ws[i].kind == PLAN_POST && !ws[i].finished)
            rc = ld_state_map_pending(ld->st, ws[i].ev.company, ws[i].ev.customer_number,
                                      pd_now_ms(), err);
    if (rc == MLC_OK)
        return ld_state_commit(ld->st, err);
    ld_state_rollback(ld->st);
    return rc;
}

/* Handles the messages of one round (different customers). *retry is set
 * when some could not be finished now (their offsets are not stored). */
static mlc_rc run_round(struct ld *ld, struct item **items, size_t n, bool *retry,
                        struct mlc_err *err)
{
    struct work *ws = calloc(n, sizeof(*ws));
    struct pd_call *calls = calloc(n, sizeof(*calls));
    size_t *idx = calloc(n, sizeof(*idx));
    mlc_rc rc = MLC_OK, run_rc = MLC_OK;
    struct mlc_err run_err = {0};

    *retry = false;
    if (!ws || !calls || !idx) {
        rc = mlc_err_set(err, MLC_FATAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && rc == MLC_OK; i++) {
        ws[i].it = items[i];
        rc = plan(ld, &ws[i], err);
        if (ws[i].kind == PLAN_WAIT)
            *retry = true; /* deferred: its offset is not stored */
    }
    if (rc != MLC_OK)
        goto out;
    for (int pass = 0; pass < 2 && run_rc == MLC_OK; pass++) {
        size_t k = 0;
        bool again = false;

        if ((rc = mark_pending(ld, ws, n, err)) != MLC_OK)
            goto out;
        for (size_t i = 0; i < n; i++) {
            if (ws[i].finished || (ws[i].kind != PLAN_POST && ws[i].kind != PLAN_PATCH))
                continue;
            calls[k] = ws[i].call;
            calls[k].body = ws[i].body;
            calls[k].tag = &ws[i];
            idx[k++] = i;
        }
        if (k == 0)
            break;
        run_rc = pd_client_run(ld->pd, calls, k, &run_err);
        for (size_t j = 0; j < k; j++) {
            struct work *w = &ws[idx[j]];

            w->call = calls[j];
            calls[j].json = NULL;
            if (run_rc != MLC_OK && w->call.rc == MLC_OK && !w->call.json) {
                *retry = true; /* never sent or interrupted */
                continue;
            }
            if (run_rc == MLC_FATAL && w->call.rc != MLC_OK)
                continue;
            if ((rc = settle_work(ld, w, &again, retry, err)) != MLC_OK)
                goto out;
        }
        if (!again)
            break;
    }
    /* dead letters: delivered before the offset moves */
    for (size_t i = 0; i < n && rc == MLC_OK; i++) {
        struct work *w = &ws[i];
        struct mlc_err e = {0};
        mlc_rc r;

        if (w->kind != PLAN_DLQ || w->finished)
            continue;
        r = send_dlq(ld, w->it->msg, w->err_class, w->reason, &e);
        if (r == MLC_OK) {
            char reason[512];

            mlc_warn("%s:%d:%lld sent to the dead-letter topic: %s", ld->topic,
                     (int)w->it->msg->partition, (long long)w->it->msg->offset, w->reason);
            mlc_strlcpy(reason, w->reason, sizeof(reason));
            finish(w, "dlq", 0, "%s: %s", w->err_class, reason);
        } else if (r == MLC_FATAL) {
            rc = r;
            *err = e;
        } else {
            mlc_warn("%s", e.msg);
            *retry = true;
        }
    }
    {
        struct mlc_err se = {0};
        mlc_rc src = store_round(ld, ws, n, &se);

        if (src != MLC_OK) {
            if (rc == MLC_OK)
                *err = se;
            rc = rc == MLC_OK ? src : rc;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (ws[i].finished) {
            ws[i].it->done = true;
            count(ld, ws[i].outcome);
            ld_metrics_outcome(ld->metrics, ws[i].outcome);
            mlc_debug("%s:%d:%lld %s", ld->topic, (int)ws[i].it->msg->partition,
                      (long long)ws[i].it->msg->offset, ws[i].outcome);
        }
    if (rc == MLC_OK && run_rc != MLC_OK) {
        rc = run_rc;
        *err = run_err;
    }
out:
    if (ws)
        for (size_t i = 0; i < n; i++)
            work_free(&ws[i]);
    free(ws);
    free(calls);
    free(idx);
    return rc;
}

/* --------------------------------------------------------------- consume */

static bool same_tp(const rd_kafka_message_t *m, const rd_kafka_topic_partition_list_t *l)
{
    const char *t = rd_kafka_topic_name(m->rkt);

    for (int i = 0; l && i < l->cnt; i++)
        if (l->elems[i].partition == m->partition && !strcmp(l->elems[i].topic, t))
            return true;
    return false;
}

static void on_rebalance(enum mlc_kafka_rebalance ev, const rd_kafka_topic_partition_list_t *parts,
                         void *ctx)
{
    struct ld *ld = ctx;

    if (ev == MLC_KAFKA_ASSIGNED) {
        if (parts->cnt > 0) {
            ld->need_refresh = true;
            ld->any_assigned = true;
        }
        return;
    }
    if (!ld->revoked)
        ld->revoked = rd_kafka_topic_partition_list_new(parts->cnt > 0 ? parts->cnt : 1);
    for (int i = 0; i < parts->cnt; i++)
        rd_kafka_topic_partition_list_add(ld->revoked, parts->elems[i].topic,
                                          parts->elems[i].partition);
}

/* Forgets the messages of partitions given up: their new owner replays them
 * from the committed offset (side effects done here are found again through
 * the id map refresh and are idempotent). */
static void purge_revoked(struct ld *ld)
{
    size_t w = 0;

    if (!ld->revoked)
        return;
    for (size_t i = 0; i < ld->n_carry; i++) {
        if (same_tp(ld->carry[i].msg, ld->revoked))
            mlc_kafka_message_free(ld->carry[i].msg);
        else
            ld->carry[w++] = ld->carry[i];
    }
    ld->n_carry = w;
    rd_kafka_topic_partition_list_destroy(ld->revoked);
    ld->revoked = NULL;
}

/* Stores the offsets of finished messages, per partition in order, up to
 * the first unfinished message of that partition. */
static mlc_rc store_offsets(struct ld *ld, struct mlc_err *err)
{
    int32_t blocked[256];
    size_t nb = 0, w = 0;
    mlc_rc rc = MLC_OK;

    for (size_t i = 0; i < ld->n_carry; i++) {
        struct item *it = &ld->carry[i];
        bool is_blocked = false;

        for (size_t b = 0; b < nb; b++)
            is_blocked |= blocked[b] == it->msg->partition;
        if (it->done && !is_blocked) {
            if (!ld->o->dry_run) {
                struct mlc_err e = {0};
                mlc_rc r = mlc_kafka_consumer_done(ld->cons, it->msg, &e);

                if (r == MLC_FATAL) {
                    *err = e;
                    rc = r;
                }
            }
            mlc_kafka_message_free(it->msg);
            continue;
        }
        if (!it->done && !is_blocked && nb < sizeof(blocked) / sizeof(blocked[0]))
            blocked[nb++] = it->msg->partition;
        ld->carry[w++] = *it;
    }
    ld->n_carry = w;
    return rc;
}

static bool key_eq(const rd_kafka_message_t *a, const rd_kafka_message_t *b)
{
    return a->key_len == b->key_len && (a->key_len == 0 || !memcmp(a->key, b->key, a->key_len));
}

/* The round: the first unfinished message of each customer, in order. */
static size_t pick_round(struct ld *ld, struct item **out)
{
    size_t n = 0, seen = 0;

    for (size_t i = 0; i < ld->n_carry && n < ROUND_MAX && seen < 512; i++) {
        struct item *it = &ld->carry[i];
        bool busy = false;

        if (it->done)
            continue;
        seen++;
        for (size_t j = 0; j < i && !busy; j++)
            busy = !ld->carry[j].done && key_eq(ld->carry[j].msg, it->msg);
        if (!busy)
            out[n++] = it;
    }
    return n;
}

/* While paused for the budget: a cheap probe now and then re-reads the
 * budget headers, so an early reset (or a sandbox day) ends the pause. */
static void probe_budget(struct ld *ld)
{
    struct pd_call call = {.op = PD_OP_USERS_ME, .method = MLC_HTTP_GET, .force = true};
    struct pd_limits *l = pd_client_limits(ld->pd);
    struct mlc_err e = {0};

    if (l->blocked)
        return;
    snprintf(call.path, sizeof(call.path), "/v1/users/me");
    /* its answer ends the pause or not (pd_limits_on_response) */
    pd_client_call1(ld->pd, &call, &e);
    pd_call_reset(&call);
    flush_calls_tx(ld, NULL);
}

static mlc_rc consume(struct ld *ld, bool drain, struct mlc_err *err)
{
    const char *topics[1] = {ld->topic};
    rd_kafka_topic_partition_list_t *high = NULL;
    struct item *round[ROUND_MAX];
    int64_t next_probe = 0;
    mlc_rc rc;

    rc = mlc_kafka_consumer_new(ld->cfg, topics, 1, on_rebalance, ld, &ld->cons, err);
    if (rc != MLC_OK)
        return rc;
    ld_metrics_consumer(ld->metrics, mlc_kafka_consumer_handle(ld->cons));
    if (drain &&
        (rc = mlc_kafka_consumer_high_watermarks(ld->cons, ld->topic, 10000, &high, err)) != MLC_OK)
        goto out;
    mlc_info("%s: consuming %s in group %s%s", ld->o->command, ld->topic,
             mlc_cfg_str(ld->cfg, MLC_CFG_KAFKA_GROUP), ld->o->dry_run ? " (dry run)" : "");
    while (!*ld->o->stop) {
        int64_t now = pd_now_ms(), resume = 0;
        bool got = false;
        size_t n;

        if (ld->need_refresh) {
            ld->need_refresh = false;
            rc = refresh_map(ld, err);
            if (rc == MLC_FATAL)
                goto out;
            if (rc != MLC_OK) {
                mlc_warn("%s; trying again", err->msg);
                ld->need_refresh = true;
                mlc_backoff_sleep_ms(mlc_backoff_delay_ms(&ld->backoff, ld->retry_attempt++, -1),
                                     ld->o->stop);
                continue;
            }
        }
        if (pd_client_paused(ld->pd, &resume)) {
            if (resume < 0) {
                rc = mlc_err_set(err, MLC_FATAL,
                                 "pipedrive blocked this token (403 block page): stopped");
                goto out;
            }
            if (!mlc_kafka_consumer_paused(ld->cons)) {
                time_t rs = (time_t)(resume / 1000);
                struct tm tm;

                gmtime_r(&rs, &tm);
                mlc_warn("daily token budget below the reserve (%ld tokens left): consumption "
                         "paused until %02d:%02d:%02d UTC",
                         pd_limits_daily_remaining(pd_client_limits(ld->pd)), tm.tm_hour, tm.tm_min,
                         tm.tm_sec);
                if ((rc = mlc_kafka_consumer_pause(ld->cons, err)) != MLC_OK)
                    goto out;
                ld_metrics_paused(ld->metrics, true, "daily token budget below the reserve",
                                  resume);
                next_probe = now + ld->probe_ms;
            }
            if (now >= next_probe) {
                probe_budget(ld);
                next_probe = now + ld->probe_ms;
            }
        } else if (mlc_kafka_consumer_paused(ld->cons)) {
            mlc_info("daily token budget available again (%ld tokens left): resuming",
                     pd_limits_daily_remaining(pd_client_limits(ld->pd)));
            if ((rc = mlc_kafka_consumer_resume(ld->cons, err)) != MLC_OK)
                goto out;
            ld_metrics_paused(ld->metrics, false, NULL, 0);
        }
        /* fill the carry; stay in the group while paused or waiting */
        for (int k = 0; k < ROUND_MAX && ld->n_carry < CARRY_MAX; k++) {
            rd_kafka_message_t *m = NULL;
            bool idle =
                ld->n_carry == 0 || mlc_kafka_consumer_paused(ld->cons) || ld->retry_at_ms > now;

            rc = mlc_kafka_consumer_poll(ld->cons, k == 0 && idle ? 200 : 0, &m, err);
            if (rc != MLC_OK)
                goto out;
            ld_metrics_polled(ld->metrics, m ? 1 : 0);
            purge_revoked(ld);
            if (!m)
                break;
            got = true;
            ld->carry[ld->n_carry++] = (struct item){.msg = m};
            if (ld->need_refresh)
                break;
        }
        if (ld->need_refresh || mlc_kafka_consumer_paused(ld->cons) || *ld->o->stop)
            continue;
        if (ld->retry_at_ms > pd_now_ms())
            continue;
        n = pick_round(ld, round);
        if (n > 0) {
            bool retry = false;

            rc = run_round(ld, round, n, &retry, err);
            if (rc == MLC_FATAL)
                goto out;
            if (rc == MLC_RETRY) {
                mlc_warn("%s", err->msg);
                retry = true;
            }
            if ((rc = store_offsets(ld, err)) != MLC_OK)
                goto out;
            if (retry) {
                long d = mlc_backoff_delay_ms(&ld->backoff, ld->retry_attempt++, -1);

                ld->retry_at_ms = pd_now_ms() + d;
                if (ld->defer_until_ms > ld->retry_at_ms)
                    ld->retry_at_ms = ld->defer_until_ms;
                ld->defer_until_ms = 0;
            } else {
                ld->retry_attempt = 0;
                ld->retry_at_ms = 0;
            }
            continue;
        }
        if (drain && !got && ld->n_carry == 0 && ld->any_assigned) {
            bool drained = false;

            if ((rc = mlc_kafka_consumer_drained(ld->cons, high, 5000, &drained, err)) != MLC_OK)
                goto out;
            if (drained) {
                if (!ld->o->dry_run &&
                    (rc = mlc_kafka_consumer_commit_sync(ld->cons, err)) != MLC_OK)
                    goto out;
                rc = MLC_OK;
                goto out;
            }
        }
    }
    rc = drain ? mlc_err_set(err, MLC_RETRY, "drain: stopped before reaching the end offsets")
               : MLC_OK;
out:
    for (size_t i = 0; i < ld->n_carry; i++)
        mlc_kafka_message_free(ld->carry[i].msg);
    ld->n_carry = 0;
    if (high)
        rd_kafka_topic_partition_list_destroy(high);
    ld_metrics_consumer(ld->metrics, NULL);
    mlc_kafka_consumer_close(ld->cons); /* may call on_rebalance (revoke) */
    ld->cons = NULL;
    if (ld->revoked) {
        rd_kafka_topic_partition_list_destroy(ld->revoked);
        ld->revoked = NULL;
    }
    mlc_info("%s: created %ld, updated %ld, adopted %ld, unchanged %ld, dead-lettered %ld, "
             "deleted in pipedrive %ld, duplicates %ld",
             ld->o->command, ld->n_created, ld->n_updated, ld->n_adopted, ld->n_unchanged,
             ld->n_dlq, ld->n_deleted, ld->n_duplicate);
    return rc;
}

/* ----------------------------------------------------------- ping, setup */

static mlc_rc ping(struct ld *ld, struct mlc_err *err)
{
    struct pd_call call = {.op = PD_OP_USERS_ME, .method = MLC_HTTP_GET};
    struct mlc_kafka_producer *p = NULL;
    const struct rd_kafka_metadata *md = NULL;
    const cJSON *d;
    rd_kafka_resp_err_t e;
    mlc_rc rc;

    snprintf(call.path, sizeof(call.path), "/v1/users/me");
    rc = pd_client_call1(ld->pd, &call, err);
    if (rc != MLC_OK) {
        pd_call_reset(&call);
        return mlc_err_prefix(err, "pipedrive");
    }
    d = cJSON_GetObjectItemCaseSensitive(call.json, "data");
    fprintf(ld->out, "pipedrive: ok: user %s <%s>, company %s, domain %s\n",
            json_str(d, "name") ? json_str(d, "name") : "?",
            json_str(d, "email") ? json_str(d, "email") : "?",
            json_str(d, "company_name") ? json_str(d, "company_name") : "?",
            json_str(d, "company_domain") ? json_str(d, "company_domain") : "?");
    pd_call_reset(&call);
    if ((rc = mlc_kafka_producer_new(ld->cfg, on_dlq_dr, ld, &p, err)) != MLC_OK)
        return mlc_err_prefix(err, "kafka");
    e = rd_kafka_metadata(mlc_kafka_producer_handle(p), 1, NULL, &md, 10000);
    if (e) {
        rc = mlc_err_set(err, MLC_RETRY, "kafka: metadata from %s: %s",
                         mlc_cfg_str(ld->cfg, MLC_CFG_KAFKA_BROKERS), rd_kafka_err2str(e));
        goto out;
    }
    fprintf(ld->out, "kafka: ok: %d broker(s)", md->broker_cnt);
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, ld->topic))
            fprintf(ld->out, ", topic %s with %d partition(s)", ld->topic,
                    md->topics[i].partition_cnt);
    fputc('\n', ld->out);
    rc = MLC_OK;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    mlc_kafka_producer_free(p);
    return rc;
}

static mlc_rc setup(struct ld *ld, struct mlc_err *err)
{
    mlc_rc rc = prepare_fields(ld, !ld->o->dry_run, err);

    if (rc != MLC_OK)
        return rc;
    for (size_t i = 0; i < pd_mapping_custom_count(ld->map); i++)
        fprintf(ld->out, "%s -> %s\n", pd_mapping_custom_name(ld->map, i),
                pd_mapping_custom_key(ld->map, i));
    return MLC_OK;
}

/* ------------------------------------------------------------------ main */

static bool parse_hhmm(const char *s, int *minute)
{
    long h = -1, m = -1;
    char hb[3] = {0}, mb[3] = {0};

    if (strlen(s) != 5 || s[2] != ':')
        return false;
    memcpy(hb, s, 2);
    memcpy(mb, s + 3, 2);
    if (!mlc_parse_long(hb, 0, 23, &h) || !mlc_parse_long(mb, 0, 59, &m))
        return false;
    *minute = (int)(h * 60 + m);
    return true;
}

mlc_rc ld_main(const struct mlc_config *cfg, const struct ld_opts *o, struct mlc_err *err)
{
    struct ld ld = {.cfg = cfg, .o = o, .out = o->out ? o->out : stdout};
    struct pd_client_cfg pc = {0};
    const char *cmd = o->command;
    bool consuming = !strcmp(cmd, "drain") || !strcmp(cmd, "run");
    mlc_rc rc;

    ld.topic = mlc_cfg_str(cfg, MLC_CFG_TOPIC);
    ld.margin_ms = mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_SCAN_MARGIN) * 1000;
    ld.probe_ms = mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_PAUSE_PROBE) * 1000;
    mlc_backoff_init(&ld.backoff, 500, 30000, 300000, 0);
    if (!consuming && strcmp(cmd, "ping") && strcmp(cmd, "setup"))
        return mlc_err_set(err, MLC_FATAL, "unknown command '%s' (drain, run, ping or setup)", cmd);
    if (o->reset_offsets && !consuming)
        return mlc_err_set(err, MLC_FATAL, "--reset-offsets only goes with drain or run");
    if (o->reset_offsets && o->dry_run)
        return mlc_err_set(err, MLC_FATAL,
                           "--reset-offsets moves the group's offsets, which --dry-run never does");
    if ((rc = mlc_config_require(cfg, MLC_CFG_PIPEDRIVE_TOKEN, err)) != MLC_OK)
        return rc;
    if ((consuming || !strcmp(cmd, "ping")) &&
        (rc = mlc_config_require(cfg, MLC_CFG_KAFKA_BROKERS, err)) != MLC_OK)
        return rc;
    pc.base_url = mlc_cfg_str(cfg, MLC_CFG_PIPEDRIVE_URL);
    pc.token = mlc_cfg_str(cfg, MLC_CFG_PIPEDRIVE_TOKEN);
    pc.timeout_ms = mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_TIMEOUT);
    ld.settle_ms = 2 * (int64_t)(pc.timeout_ms > 0 ? pc.timeout_ms : 30000);
    pc.concurrency = (unsigned)mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_CONCURRENCY);
    pc.pacing = mlc_cfg_bool(cfg, MLC_CFG_PIPEDRIVE_PACING);
    pc.max_attempts = 5;
    pc.audit = on_call;
    pc.audit_ctx = &ld;
    pc.stop = o->stop;
    pd_limits_cfg_defaults(&pc.limits);
    if (!pd_plan_parse(mlc_cfg_str(cfg, MLC_CFG_PIPEDRIVE_PLAN), &pc.limits.plan))
        return mlc_err_set(err, MLC_FATAL, "MLC_PIPEDRIVE_PLAN: unknown plan");
    pc.limits.daily_budget = mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_DAILY_BUDGET);
    pc.limits.reserve_pct = (int)mlc_cfg_int(cfg, MLC_CFG_PIPEDRIVE_RESERVE_PCT);
    pc.limits.seed = (uint32_t)pd_now_ms() ^ (uint32_t)getpid();
    if (!parse_hhmm(mlc_cfg_str(cfg, MLC_CFG_PIPEDRIVE_RESET_AT), &pc.limits.reset_utc_minute))
        return mlc_err_set(err, MLC_FATAL,
                           "MLC_PIPEDRIVE_RESET_AT: expected HH:MM (UTC), got \"%s\"",
                           mlc_cfg_str(cfg, MLC_CFG_PIPEDRIVE_RESET_AT));
    if ((rc = pd_client_new(&pc, &ld.pd, err)) != MLC_OK)
        return rc;
    if (!strcmp(cmd, "ping")) {
        rc = ping(&ld, err);
        goto out;
    }
    if (mlc_cfg_is_set(cfg, MLC_CFG_MAPPING))
        rc = pd_mapping_load_file(mlc_cfg_str(cfg, MLC_CFG_MAPPING), &ld.map, err);
    else
        rc = pd_mapping_default(&ld.map, err);
    if (rc != MLC_OK)
        goto out;
    rc = o->dry_run ? ld_state_open_copy(mlc_cfg_str(cfg, MLC_CFG_STATE_DB), &ld.st, err)
                    : ld_state_open(mlc_cfg_str(cfg, MLC_CFG_STATE_DB), &ld.st, err);
    if (rc != MLC_OK)
        goto out;
    if (!strcmp(cmd, "setup")) {
        rc = setup(&ld, err);
        goto out;
    }
    if (o->reset_offsets &&
        (rc = ld_offsets_reset(cfg, ld.topic, o->reset_offsets, ld.out, err)) != MLC_OK)
        goto out;
    if ((rc = ld_metrics_new(cfg, &ld.metrics, err)) != MLC_OK)
        goto out;
    if ((rc = prepare_fields(&ld, !o->dry_run && mlc_cfg_bool(cfg, MLC_CFG_PIPEDRIVE_CREATE_FIELDS),
                             err)) != MLC_OK)
        goto out;
    rc = consume(&ld, !strcmp(cmd, "drain"), err);
out:
    if (ld.dlq) {
        int left = 0;

        mlc_kafka_producer_flush(ld.dlq, 10000, &left, NULL);
        mlc_kafka_producer_free(ld.dlq);
    }
    free(ld.calls);
    ld_state_close(ld.st);
    pd_mapping_free(ld.map);
    pd_client_free(ld.pd);
    ld_metrics_free(ld.metrics);
    return rc;
}
