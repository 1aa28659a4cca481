/* ld_fixture.h - a struct ld for the loader's module tests: default
 * configuration (plus the given environment), the default mapping resolved
 * against made-up field keys, a state file in a temporary directory and a
 * pd_client on the fake batch of pd_fake.h. Kafka messages are built in
 * memory (no broker: nothing here may reach the dead-letter producer).
 * Include after cmocka.h and pd_fake.h.
 */
#ifndef LD_FIXTURE_H
#define LD_FIXTURE_H

#include "ld_calls.h"
#include "ld_internal.h"
#include "mlc_event.h"
#include "mlc_str.h"
#include "pd_fake.h"
#include "pd_mapping.h"

#include <stdlib.h>
#include <unistd.h>

#define FX_MSGS 16

struct ldfx {
    struct mlc_config cfg;
    struct ld_opts o;
    struct ld ld;
    volatile sig_atomic_t stop;
    char dir[64], db[128];
    rd_kafka_message_t msg[FX_MSGS];
    struct mlc_buf payload[FX_MSGS];
    char key[FX_MSGS][96];
    struct item item[FX_MSGS];
    size_t n_msg;
};

/* The field key (40 hex digits) the fixture gives custom field i. */
static inline void fx_field_key(size_t i, char out[41])
{
    snprintf(out, 41, "%040zx", i + 0xabc0);
}

/* Resolves the mapping against fields made from its own create bodies. */
static inline void fx_resolve(struct pd_mapping *map)
{
    cJSON *fields = cJSON_CreateArray();
    struct mlc_err err = {0};
    struct pd_resolve_report rep;

    for (size_t i = 0; i < pd_mapping_custom_count(map); i++) {
        cJSON *b = pd_mapping_field_create_body(map, i), *o;
        char key[41];
        int id = 1;

        assert_non_null(b);
        fx_field_key(i, key);
        cJSON_AddStringToObject(b, "field_code", key);
        cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(b, "options"))
            cJSON_AddNumberToObject(o, "id", id++);
        cJSON_AddItemToArray(fields, b);
    }
    assert_int_equal(pd_mapping_resolve(map, fields, &rep, &err), MLC_OK);
    assert_true(pd_mapping_resolved(map));
    cJSON_Delete(fields);
}

/* env: NULL-terminated "MLC_X=value" strings or NULL. */
static inline struct ldfx *fx_new(char **env, bool dry_run)
{
    struct ldfx *x = calloc(1, sizeof(*x));
    struct pd_client_cfg pc = {0};
    struct mlc_err err = {0};

    assert_non_null(x);
    fake_reset();
    assert_int_equal(mlc_config_load(&x->cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_OK);
    x->o = (struct ld_opts){.command = "run", .dry_run = dry_run, .stop = &x->stop};
    x->o.out = fopen("/dev/null", "w");
    assert_non_null(x->o.out);
    x->ld.cfg = &x->cfg;
    x->ld.o = &x->o;
    x->ld.out = x->o.out;
    x->ld.topic = "customers";
    x->ld.margin_ms = 300 * 1000;
    x->ld.probe_ms = 600 * 1000;
    x->ld.settle_ms = 60 * 1000;
    mlc_backoff_init(&x->ld.backoff, 500, 30000, 300000, 1);
    pc.base_url = "http://pd.test";
    pc.token = "fixture-token";
    pc.concurrency = 4;
    pc.max_attempts = 2;
    pc.audit = ld_calls_on_call;
    pc.audit_ctx = &x->ld;
    pc.stop = &x->stop;
    pc.backoff_base_ms = 100;
    pc.hooks = &HOOKS;
    pd_limits_cfg_defaults(&pc.limits);
    assert_int_equal(pd_client_new(&pc, &x->ld.pd, &err), MLC_OK);
    snprintf(x->dir, sizeof(x->dir), "/tmp/mlc-ldfx-XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->db, sizeof(x->db), "%s/state.db", x->dir);
    assert_int_equal(ld_state_open(x->db, &x->ld.st, &err), MLC_OK);
    assert_int_equal(pd_mapping_default(&x->ld.map, &err), MLC_OK);
    fx_resolve(x->ld.map);
    pd_mapping_identity(x->ld.map, &x->ld.i_num, &x->ld.i_co);
    x->ld.k_num = pd_mapping_custom_key(x->ld.map, x->ld.i_num);
    x->ld.k_co = pd_mapping_custom_key(x->ld.map, x->ld.i_co);
    return x;
}

static inline void fx_free(struct ldfx *x)
{
    char path[160];

    for (size_t i = 0; i < x->n_msg; i++)
        mlc_buf_free(&x->payload[i]);
    free(x->ld.calls);
    ld_state_close(x->ld.st);
    pd_mapping_free(x->ld.map);
    pd_client_free(x->ld.pd);
    mlc_config_free(&x->cfg);
    fclose(x->o.out);
    snprintf(path, sizeof(path), "%s/state.db-wal", x->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/state.db-shm", x->dir);
    unlink(path);
    unlink(x->db);
    rmdir(x->dir);
    free(x);
}

/* A customer as the extractor sends it; status "active" unless given. */
static inline const char *fx_customer(const char *name)
{
    static char buf[512];

    snprintf(buf, sizeof(buf),
             "{\"name\":\"%s\",\"city\":\"San Diego\",\"country\":\"USA\","
             "\"credit_limit\":25000.0,\"currency\":\"USD\",\"status\":\"active\","
             "\"on_hold\":false}",
             name);
    return buf;
}

/* Adds a message carrying an upsert of customer (JSON text), or a missing
 * event when customer is NULL, for COMPANY:number; returns its item. */
static inline struct item *fx_event(struct ldfx *x, const char *company, const char *number,
                                    const char *customer)
{
    struct mlc_event_source src = {"https://erp.example/Sage300WebApi/v1.0/-/", NULL, 1795851612};
    struct mlc_err err = {0};
    cJSON *cust = customer ? cJSON_Parse(customer) : NULL, *ev = NULL;
    size_t i = x->n_msg++;
    rd_kafka_message_t *m = &x->msg[i];

    assert_true(i < FX_MSGS);
    assert_true(!customer || cust);
    assert_int_equal(mlc_event_build(company, number, cust, &src, 1795851613, &ev, &err), MLC_OK);
    mlc_buf_init(&x->payload[i], MLC_EVENT_MAX_BYTES);
    assert_int_equal(mlc_event_encode(ev, &x->payload[i], &err), MLC_OK);
    cJSON_Delete(ev);
    cJSON_Delete(cust);
    snprintf(x->key[i], sizeof(x->key[i]), "%s:%s", company, number);
    memset(m, 0, sizeof(*m));
    m->key = x->key[i];
    m->key_len = strlen(x->key[i]);
    m->payload = x->payload[i].data;
    m->len = x->payload[i].len;
    m->offset = (int64_t)i;
    x->item[i] = (struct item){.msg = m,
                               .partition = m->partition,
                               .offset = m->offset,
                               .key = m->key,
                               .key_len = m->key_len,
                               .value = m->payload,
                               .value_len = m->len};
    return &x->item[i];
}

/* A message whose value is not an event. */
static inline struct item *fx_garbage(struct ldfx *x, const char *key, const char *value)
{
    size_t i = x->n_msg++;
    rd_kafka_message_t *m = &x->msg[i];

    assert_true(i < FX_MSGS);
    mlc_buf_init(&x->payload[i], 4096);
    mlc_buf_puts(&x->payload[i], value);
    snprintf(x->key[i], sizeof(x->key[i]), "%s", key);
    memset(m, 0, sizeof(*m));
    m->key = x->key[i];
    m->key_len = strlen(x->key[i]);
    m->payload = x->payload[i].data;
    m->len = x->payload[i].len;
    m->offset = (int64_t)i;
    x->item[i] = (struct item){.msg = m,
                               .partition = m->partition,
                               .offset = m->offset,
                               .key = m->key,
                               .key_len = m->key_len,
                               .value = m->payload,
                               .value_len = m->len};
    return &x->item[i];
}

/* The id map row of COMPANY:number (found asserted as given). */
static inline struct ld_map_row fx_row(struct ldfx *x, const char *company, const char *number,
                                       bool want_found)
{
    struct ld_map_row row;
    struct mlc_err err = {0};
    bool found = false;

    assert_int_equal(ld_state_map_get(x->ld.st, company, number, &row, &found, &err), MLC_OK);
    assert_int_equal(found, want_found);
    return row;
}

static inline void fx_put(struct ldfx *x, const char *company, const char *number,
                          const struct ld_map_row *row)
{
    struct mlc_err err = {0};

    assert_int_equal(ld_state_begin(x->ld.st, &err), MLC_OK);
    assert_int_equal(ld_state_map_put(x->ld.st, company, number, row, &err), MLC_OK);
    assert_int_equal(ld_state_commit(x->ld.st, &err), MLC_OK);
}

#endif
