/* mlc_kafka_reader.c - read a whole topic outside any group, see mlc_kafka_reader.h. */
#include "mlc_kafka_reader.h"
#include "mlc_alloc.h"
#include "mlc_backoff.h"
#include "mlc_kafka_int.h"
#include "mlc_time.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define READER_POLL_MS 200

/* The partitions of topic and their watermarks; *parts NULL when the topic
 * does not exist. Only partitions holding messages are listed, each with
 * ->offset = low watermark and ->opaque = (void *)(intptr_t)high. */
static mlc_rc plan(rd_kafka_t *rk, const char *topic, int timeout_ms,
                   rd_kafka_topic_partition_list_t **parts, struct mlc_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e;
    mlc_rc rc = MLC_OK;

    *parts = NULL;
    if (!rkt)
        return mlc_err_set(err, MLC_FATAL, "kafka: topic %s: %s", topic,
                           rd_kafka_err2str(rd_kafka_last_error()));
    e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (e) {
        rc = mlc_err_set(err, MLC_RETRY, "kafka: metadata of %s: %s", topic, rd_kafka_err2str(e));
        goto out;
    }
    if (md->topic_cnt != 1 || md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        md->topics[0].partition_cnt == 0)
        goto out; /* no such topic: nothing to read */
    if (md->topics[0].err) {
        rc = mlc_err_set(err, MLC_RETRY, "kafka: topic %s: %s", topic,
                         rd_kafka_err2str(md->topics[0].err));
        goto out;
    }
    *parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt && rc == MLC_OK; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo = 0, hi = 0;

        e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, timeout_ms);
        if (e)
            rc = mlc_err_set(err, MLC_RETRY, "kafka: watermarks of %s [%d]: %s", topic, (int)p,
                             rd_kafka_err2str(e));
        else if (hi > lo) {
            rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(*parts, topic, p);

            tp->offset = lo;
            tp->opaque = (void *)(intptr_t)hi; /* where this read stops */
        }
    }
out:
    if (rc != MLC_OK && *parts) {
        rd_kafka_topic_partition_list_destroy(*parts);
        *parts = NULL;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* How many listed partitions are not yet read up to their high mark. */
static int unfinished(const rd_kafka_topic_partition_list_t *parts, const int64_t *next)
{
    int n = 0;

    for (int i = 0; i < parts->cnt; i++)
        n += next[i] < (int64_t)(intptr_t)parts->elems[i].opaque;
    return n;
}

static mlc_rc consume(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, int timeout_ms,
                      mlc_kafka_read_fn fn, void *ctx, struct mlc_err *err)
{
    int64_t *next = mlc_xcalloc((size_t)parts->cnt + 1, sizeof(*next));
    int64_t deadline = mlc_monotonic_ms() + timeout_ms;
    rd_kafka_resp_err_t e;
    mlc_rc rc = MLC_OK;

    for (int i = 0; i < parts->cnt; i++)
        next[i] = parts->elems[i].offset;
    if ((e = rd_kafka_assign(rk, parts))) {
        free(next);
        return mlc_err_set(err, MLC_RETRY, "kafka: assign: %s", rd_kafka_err2str(e));
    }
    while (rc == MLC_OK && unfinished(parts, next) > 0) {
        rd_kafka_message_t *m;
        int i;

        if (mlc_monotonic_ms() > deadline) {
            rc = mlc_err_set(err, MLC_RETRY, "kafka: %s not read to its end within %d ms",
                             parts->elems[0].topic, timeout_ms);
            break;
        }
        if (!(m = rd_kafka_consumer_poll(rk, READER_POLL_MS)))
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            rc = mlc_err_set(err, MLC_RETRY, "kafka: reading %s: %s", parts->elems[0].topic,
                             rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            break;
        }
        for (i = 0; i < parts->cnt && parts->elems[i].partition != m->partition; i++)
            ;
        if (i < parts->cnt && m->offset < (int64_t)(intptr_t)parts->elems[i].opaque) {
            next[i] = m->offset + 1;
            rc = fn(ctx, m, err);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    free(next);
    return rc;
}

mlc_rc mlc_kafka_read_topic(const struct mlc_config *cfg, const char *topic, int timeout_ms,
                            mlc_kafka_read_fn fn, void *ctx, bool *exists, struct mlc_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_t *rk = NULL;
    char errstr[512];
    mlc_rc rc;

    if (exists)
        *exists = false;
    rc = mlc_kafka_conf_from_config(cfg, conf, err);
    /* a group id librdkafka wants for a consumer; never joined, never committed */
    if (rc == MLC_OK)
        rc = mlc_kafka_conf_set(conf, "group.id", "mlc-reader", "group.id", err);
    if (rc == MLC_OK)
        rc = mlc_kafka_conf_set(conf, "enable.auto.commit", "false", "enable.auto.commit", err);
    if (rc == MLC_OK)
        rc = mlc_kafka_conf_set(conf, "enable.auto.offset.store", "false",
                                "enable.auto.offset.store", err);
    if (rc != MLC_OK) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_log_cb(conf, mlc_kafka_log_cb);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return mlc_err_set(err, MLC_FATAL, "kafka: %s", errstr);
    }
    rc = plan(rk, topic, timeout_ms, &parts, err);
    if (rc == MLC_OK && parts) {
        if (exists)
            *exists = true;
        if (parts->cnt > 0)
            rc = consume(rk, parts, timeout_ms, fn, ctx, err);
    }
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
