/* kafka_tool: drives mlc_kafka from integration tests.
 *
 *   kafka_tool produce TOPIC N [KEY_PREFIX] [FLUSH_MS]
 *       produces N keyed messages "PREFIX:%04d" = {"seq":i}; prints
 *       "delivered=D failed=F outstanding=O"; exit 0 only if all delivered.
 *   kafka_tool consume-group TOPIC N [IDLE_MS]
 *       consumes in group MLC_KAFKA_GROUP until N messages arrived or IDLE_MS
 *       (default 5000) passed without one after the assignment; prints
 *       "KEY VALUE" per message, marks each done; exit 0 if N arrived.
 *
 * Configuration comes from the environment (MLC_KAFKA_BROKERS, MLC_RDKAFKA_*).
 */
#include "mlc_config.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_str.h"

#include <stdio.h>
#include <string.h>

extern char **environ;

struct counts {
    int delivered, failed;
};

static void on_dr(const struct mlc_kafka_dr *dr, void *ctx)
{
    struct counts *c = ctx;

    if (dr->err)
        c->failed++;
    else
        c->delivered++;
}

static int produce(const struct mlc_config *cfg, const char *topic, long n, const char *prefix,
                   long flush_ms)
{
    struct mlc_kafka_producer *p = NULL;
    struct counts c = {0};
    struct mlc_err err = {0};
    int left = 0, code = 1;
    mlc_rc rc;

    if (mlc_kafka_producer_new(cfg, on_dr, &c, &p, &err) != MLC_OK)
        goto out;
    for (long i = 0; i < n; i++) {
        char key[128], val[64];
        int kl = snprintf(key, sizeof(key), "%s:%04ld", prefix, i);
        int vl = snprintf(val, sizeof(val), "{\"seq\":%ld}", i);

        if (mlc_kafka_produce(p, topic, key, (size_t)kl, val, (size_t)vl, NULL, 0, NULL, 10000,
                              &err) != MLC_OK)
            goto out;
        mlc_kafka_producer_poll(p, 0, NULL);
    }
    rc = mlc_kafka_producer_flush(p, (int)flush_ms, &left, &err);
    printf("delivered=%d failed=%d outstanding=%d\n", c.delivered, c.failed, left);
    code = rc == MLC_OK && c.delivered == n ? 0 : 1;
    if (rc == MLC_OK)
        mlc_err_clear(&err);
out:
    if (err.msg[0])
        fprintf(stderr, "kafka_tool: %s\n", err.msg);
    mlc_kafka_producer_free(p);
    return code;
}

static void on_rebalance(enum mlc_kafka_rebalance ev, const rd_kafka_topic_partition_list_t *parts,
                         void *ctx)
{
    int *assigned = ctx;

    if (ev == MLC_KAFKA_ASSIGNED)
        *assigned += parts->cnt;
}

static int consume(const struct mlc_config *cfg, const char *topic, long n, long idle_ms)
{
    struct mlc_kafka_consumer *c = NULL;
    struct mlc_err err = {0};
    const char *topics[] = {topic};
    long got = 0, idle = 0, total = 0;
    int assigned = 0, code = 1;

    if (mlc_kafka_consumer_new(cfg, topics, 1, on_rebalance, &assigned, &c, &err) != MLC_OK)
        goto out;
    while (got < n && idle < idle_ms && total < 120000) {
        rd_kafka_message_t *m = NULL;

        if (mlc_kafka_consumer_poll(c, 100, &m, &err) != MLC_OK)
            goto out;
        total += 100;
        if (!m) {
            if (assigned)
                idle += 100;
            continue;
        }
        idle = 0;
        printf("%.*s %.*s\n", (int)m->key_len, (const char *)m->key, (int)m->len,
               (const char *)m->payload);
        got++;
        if (mlc_kafka_consumer_done(c, m, &err) != MLC_OK) {
            mlc_kafka_message_free(m);
            goto out;
        }
        mlc_kafka_message_free(m);
    }
    fflush(stdout);
    code = got == n ? 0 : 1;
out:
    if (err.msg[0])
        fprintf(stderr, "kafka_tool: %s\n", err.msg);
    mlc_kafka_consumer_close(c);
    return code;
}

int main(int argc, char **argv)
{
    struct mlc_config cfg = {0};
    struct mlc_err err = {0};
    long n = 0, opt = 0;
    int code = 2;

    mlc_log_setup("kafka_tool", MLC_LOG_WARN, MLC_LOG_TEXT);
    if (argc < 4 || !mlc_parse_long(argv[3], 0, 1000000, &n)) {
        fputs("usage: kafka_tool produce TOPIC N [KEY_PREFIX] [FLUSH_MS] | consume-group TOPIC N "
              "[IDLE_MS]\n",
              stderr);
        return 2;
    }
    if (mlc_config_load(&cfg, MLC_PROG_EXTRACTOR | MLC_PROG_LOADER, NULL, environ, &err) !=
        MLC_OK) {
        fprintf(stderr, "kafka_tool: %s\n", err.msg);
        return 2;
    }
    if (!strcmp(argv[1], "produce")) {
        if (argc > 5 && !mlc_parse_long(argv[5], 0, 3600000, &opt))
            goto out;
        code = produce(&cfg, argv[2], n, argc > 4 ? argv[4] : "K", argc > 5 ? opt : 30000);
    } else if (!strcmp(argv[1], "consume-group")) {
        if (argc > 4 && !mlc_parse_long(argv[4], 0, 3600000, &opt))
            goto out;
        code = consume(&cfg, argv[2], n, argc > 4 ? opt : 5000);
    }
out:
    mlc_config_free(&cfg);
    mlc_kafka_wait_destroyed(5000, NULL);
    return code;
}
