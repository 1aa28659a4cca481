/* mlc_kafka_offsets.c - offsets and watermarks of a group and topic: high
 * watermarks, the drain check, synchronous commits and resetting a group's
 * committed offsets with a temporary consumer (see mlc_kafka.h).
 */
#include "mlc_kafka.h"
#include "mlc_time.h"

#include "mlc_backoff.h"
#include "mlc_kafka_int.h"
#include "mlc_log.h"

/* Partitions of topic from the cluster metadata, offsets unset. */
static mlc_rc topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms,
                               rd_kafka_topic_partition_list_t **out, struct mlc_err *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt;
    rd_kafka_resp_err_t e;
    mlc_rc rc;

    *out = NULL;
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt)
        return mlc_err_set(err, MLC_FATAL, "kafka topic %s: %s", topic,
                           rd_kafka_err2str(rd_kafka_last_error()));
    e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    if (e) {
        rc = mlc_err_set(err, MLC_RETRY, "kafka metadata of %s: %s", topic, rd_kafka_err2str(e));
        goto out;
    }
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1) {
        rc = mlc_err_set(err, MLC_FATAL, "kafka metadata of %s: %s", topic,
                         rd_kafka_err2str(md->topic_cnt == 1 && md->topics[0].err
                                              ? md->topics[0].err
                                              : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
        goto out;
    }
    *out = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(*out, topic, md->topics[0].partitions[i].id);
    rc = MLC_OK;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* Fills ->offset with the low or high watermark of each partition. */
static mlc_rc fill_watermarks(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, bool high,
                              int timeout_ms, struct mlc_err *err)
{
    for (int i = 0; i < l->cnt; i++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
            rk, l->elems[i].topic, l->elems[i].partition, &lo, &hi, timeout_ms);
        if (e)
            return mlc_err_set(err, MLC_RETRY, "kafka watermarks of %s [%d]: %s", l->elems[i].topic,
                               (int)l->elems[i].partition, rd_kafka_err2str(e));
        l->elems[i].offset = high ? hi : lo;
    }
    return MLC_OK;
}

mlc_rc mlc_kafka_consumer_high_watermarks(struct mlc_kafka_consumer *c, const char *topic,
                                          int timeout_ms, rd_kafka_topic_partition_list_t **out,
                                          struct mlc_err *err)
{
    mlc_rc rc;

    rc = topic_partitions(c->rk, topic, timeout_ms, out, err);
    if (rc == MLC_OK)
        rc = fill_watermarks(c->rk, *out, true, timeout_ms, err);
    if (rc != MLC_OK && *out) {
        rd_kafka_topic_partition_list_destroy(*out);
        *out = NULL;
    }
    return rc;
}

mlc_rc mlc_kafka_consumer_drained(struct mlc_kafka_consumer *c,
                                  const rd_kafka_topic_partition_list_t *high, int timeout_ms,
                                  bool *drained, struct mlc_err *err)
{
    rd_kafka_topic_partition_list_t *assigned = NULL, *pos = NULL, *committed = NULL;
    rd_kafka_resp_err_t e;
    mlc_rc rc = MLC_OK;
    int mine = 0;

    *drained = false;
    e = rd_kafka_assignment(c->rk, &assigned);
    if (e) {
        rc = mlc_err_set(err, MLC_RETRY, "kafka assignment: %s", rd_kafka_err2str(e));
        goto out;
    }
    pos = rd_kafka_topic_partition_list_new(assigned->cnt);
    for (int i = 0; i < assigned->cnt; i++) {
        if (rd_kafka_topic_partition_list_find(high, assigned->elems[i].topic,
                                               assigned->elems[i].partition))
            rd_kafka_topic_partition_list_add(pos, assigned->elems[i].topic,
                                              assigned->elems[i].partition);
    }
    if (pos->cnt == 0)
        goto out;
    committed = rd_kafka_topic_partition_list_copy(pos);
    rd_kafka_position(c->rk, pos);
    e = rd_kafka_committed(c->rk, committed, timeout_ms);
    if (e) {
        rc = mlc_err_set(err, MLC_RETRY, "kafka committed offsets: %s", rd_kafka_err2str(e));
        goto out;
    }
    for (int i = 0; i < pos->cnt; i++) {
        const rd_kafka_topic_partition_t *h =
            rd_kafka_topic_partition_list_find(high, pos->elems[i].topic, pos->elems[i].partition);
        int64_t at = pos->elems[i].offset;

        if (at < 0)
            at = committed->elems[i].offset;
        if (at < 0)
            at = 0;
        if (at < h->offset)
            goto out;
        mine++;
    }
    *drained = mine > 0;
out:
    if (assigned)
        rd_kafka_topic_partition_list_destroy(assigned);
    if (pos)
        rd_kafka_topic_partition_list_destroy(pos);
    if (committed)
        rd_kafka_topic_partition_list_destroy(committed);
    return rc;
}

mlc_rc mlc_kafka_consumer_commit_sync(struct mlc_kafka_consumer *c, struct mlc_err *err)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, NULL, 0);

    /* nothing stored since the last commit is not an error */
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        return mlc_err_set(err, MLC_RETRY, "kafka commit: %s", rd_kafka_err2str(e));
    return MLC_OK;
}

mlc_rc mlc_kafka_consumer_commit_offsets(struct mlc_kafka_consumer *c,
                                         const rd_kafka_topic_partition_list_t *offsets,
                                         struct mlc_err *err)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, offsets, 0);

    for (int i = 0; !e && i < offsets->cnt; i++)
        e = offsets->elems[i].err;
    if (e)
        return mlc_err_set(err, MLC_RETRY, "kafka commit offsets: %s", rd_kafka_err2str(e));
    return MLC_OK;
}

static bool holds_all(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *want)
{
    rd_kafka_topic_partition_list_t *have = NULL;
    bool all = true;

    if (rd_kafka_assignment(rk, &have))
        return false;
    for (int i = 0; all && i < want->cnt; i++)
        all = rd_kafka_topic_partition_list_find(have, want->elems[i].topic,
                                                 want->elems[i].partition) != NULL;
    rd_kafka_topic_partition_list_destroy(have);
    return all;
}

mlc_rc mlc_kafka_reset_offsets(const struct mlc_config *cfg, const char *topic,
                               enum mlc_kafka_reset mode, int64_t offset,
                               const rd_kafka_topic_partition_list_t *explicit_offsets,
                               int timeout_ms, struct mlc_err *err)
{
    struct mlc_kafka_consumer *c = NULL;
    rd_kafka_topic_partition_list_t *all = NULL, *l = NULL;
    const char *topics[] = {topic};
    int64_t deadline = mlc_monotonic_ms() + timeout_ms;
    mlc_rc rc;

    rc = mlc_kafka_consumer_new(cfg, topics, 1, NULL, NULL, &c, err);
    if (rc != MLC_OK)
        return rc;
    c->paused = true; /* partitions are paused as they are assigned */
    rc = topic_partitions(c->rk, topic, timeout_ms, &all, err);
    if (rc != MLC_OK)
        goto out;
    while (!holds_all(c->rk, all)) {
        rd_kafka_message_t *m = NULL;

        if (mlc_monotonic_ms() >= deadline) {
            rc = mlc_err_set(err, MLC_RETRY,
                             "kafka reset offsets of %s: group %s did not hand over all %d "
                             "partitions in %d ms (stop its other members first)",
                             topic, mlc_cfg_str(cfg, MLC_CFG_KAFKA_GROUP), all->cnt, timeout_ms);
            goto out;
        }
        rc = mlc_kafka_consumer_poll(c, 100, &m, err);
        mlc_kafka_message_free(m); /* not stored: never committed */
        if (rc != MLC_OK)
            goto out;
    }
    l = rd_kafka_topic_partition_list_new(all->cnt);
    for (int i = 0; i < all->cnt; i++) {
        int32_t part = all->elems[i].partition;
        int64_t lo = 0, hi = 0, want = 0;
        const rd_kafka_topic_partition_t *x = NULL;
        rd_kafka_resp_err_t e;

        if (mode == MLC_KAFKA_RESET_EXPLICIT) {
            x = explicit_offsets ? rd_kafka_topic_partition_list_find(explicit_offsets, topic, part)
                                 : NULL;
            if (!x)
                continue;
        }
        e = rd_kafka_query_watermark_offsets(c->rk, topic, part, &lo, &hi, timeout_ms);
        if (e) {
            rc = mlc_err_set(err, MLC_RETRY, "kafka watermarks of %s [%d]: %s", topic, (int)part,
                             rd_kafka_err2str(e));
            goto out;
        }
        switch (mode) {
        case MLC_KAFKA_RESET_EARLIEST:
            want = lo;
            break;
        case MLC_KAFKA_RESET_LATEST:
            want = hi;
            break;
        case MLC_KAFKA_RESET_OFFSET:
            want = offset;
            break;
        case MLC_KAFKA_RESET_EXPLICIT:
            /* offsets_for_times gives -1 (END) when no message is that new */
            want = x->offset < 0 ? hi : x->offset;
            break;
        }
        want = want < lo ? lo : want > hi ? hi : want;
        rd_kafka_topic_partition_list_add(l, topic, part)->offset = want;
    }
    if (l->cnt)
        rc = mlc_kafka_consumer_commit_offsets(c, l, err);
    if (rc == MLC_OK)
        mlc_info("kafka: committed reset offsets of group %s for %d partition(s) of %s",
                 mlc_cfg_str(cfg, MLC_CFG_KAFKA_GROUP), l->cnt, topic);
out:
    if (all)
        rd_kafka_topic_partition_list_destroy(all);
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    mlc_kafka_consumer_close(c);
    return rc;
}
