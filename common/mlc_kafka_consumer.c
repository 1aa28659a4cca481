/* mlc_kafka_consumer.c - the at-least-once group consumer: its
 * configuration, the rebalance callback, poll, storing offsets (done),
 * pause/resume, the handle and close (see the CONSUMER part of mlc_kafka.h).
 */
#include "mlc_alloc.h"
#include "mlc_kafka.h"

#include "mlc_kafka_int.h"
#include "mlc_log.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------- consumer */

static void notify(struct mlc_kafka_consumer *c, enum mlc_kafka_rebalance ev,
                   const rd_kafka_topic_partition_list_t *parts)
{
    if (c->rebalance_cb)
        c->rebalance_cb(ev, parts, c->ctx);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct mlc_kafka_consumer *c = opaque;
    bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t ae = RD_KAFKA_RESP_ERR_NO_ERROR;

    switch (e) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        mlc_info("kafka: %d partition(s) assigned (%s)", parts->cnt,
                 coop ? "cooperative" : "eager");
        /* the caller refreshes its state before any message of them arrives */
        notify(c, MLC_KAFKA_ASSIGNED, parts);
        if (coop)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            ae = rd_kafka_assign(rk, parts);
        if (!error && !ae && c->paused)
            rd_kafka_pause_partitions(rk, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        mlc_info("kafka: %d partition(s) %s (%s)", parts->cnt,
                 rd_kafka_assignment_lost(rk) ? "lost" : "revoked", coop ? "cooperative" : "eager");
        notify(c, rd_kafka_assignment_lost(rk) ? MLC_KAFKA_LOST : MLC_KAFKA_REVOKED, parts);
        if (coop)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            ae = rd_kafka_assign(rk, NULL);
        break;
    default:
        mlc_error("kafka rebalance failed: %s", rd_kafka_err2str(e));
        notify(c, MLC_KAFKA_REVOKED, parts);
        if (coop)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            ae = rd_kafka_assign(rk, NULL);
        break;
    }
    if (error) {
        mlc_error("kafka rebalance: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (ae) {
        mlc_error("kafka rebalance: %s", rd_kafka_err2str(ae));
    }
}

static void consumer_error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
    if (e == RD_KAFKA_RESP_ERR__FATAL)
        mlc_error("kafka consumer fatal error: %s", reason);
    else
        mlc_warn("kafka consumer: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)e), reason);
}

mlc_rc mlc_kafka_consumer_new(const struct mlc_config *cfg, const char *const *topics,
                              size_t n_topics, mlc_kafka_rebalance_fn rebalance, void *ctx,
                              struct mlc_kafka_consumer **out, struct mlc_err *err)
{
    struct mlc_kafka_consumer *c = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    rd_kafka_resp_err_t e;
    char errstr[512];
    mlc_rc rc;

    *out = NULL;
    c = mlc_xcalloc(1, sizeof(*c));
    c->rebalance_cb = rebalance;
    c->ctx = ctx;
    conf = rd_kafka_conf_new();
    /* overridable default first */
    rc = mlc_kafka_conf_set(conf, "auto.offset.reset", "earliest", "auto.offset.reset", err);
    if (rc != MLC_OK)
        goto out;
    rc = mlc_kafka_conf_from_config(cfg, conf, err);
    if (rc != MLC_OK)
        goto out;
    rc = mlc_config_require(cfg, MLC_CFG_KAFKA_GROUP, err);
    if (rc == MLC_OK)
        rc = mlc_kafka_conf_set(conf, "group.id", mlc_cfg_str(cfg, MLC_CFG_KAFKA_GROUP),
                                "MLC_KAFKA_GROUP", err);
    /* at-least-once depends on these */
    if (rc == MLC_OK)
        rc = mlc_kafka_conf_set(conf, "enable.auto.offset.store", "false",
                                "enable.auto.offset.store", err);
    if (rc == MLC_OK)
        rc = mlc_kafka_conf_set(conf, "enable.auto.commit", "true", "enable.auto.commit", err);
    if (rc != MLC_OK)
        goto out;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
    rd_kafka_conf_set_log_cb(conf, mlc_kafka_log_cb);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!c->rk) {
        rc = mlc_err_set(err, MLC_FATAL, "kafka consumer: %s", errstr);
        goto out;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(c->rk);
    if (n_topics) {
        subs = rd_kafka_topic_partition_list_new((int)n_topics);
        for (size_t i = 0; i < n_topics; i++)
            rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
        e = rd_kafka_subscribe(c->rk, subs);
        if (e) {
            rc = mlc_err_set(err, MLC_FATAL, "kafka subscribe to %s: %s", topics[0],
                             rd_kafka_err2str(e));
            goto out;
        }
    }
    *out = c;
    c = NULL;
    rc = MLC_OK;
out:
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (c) {
        if (c->rk)
            rd_kafka_destroy(c->rk);
        free(c);
    }
    return rc;
}

mlc_rc mlc_kafka_consumer_poll(struct mlc_kafka_consumer *c, int timeout_ms,
                               rd_kafka_message_t **msg, struct mlc_err *err)
{
    rd_kafka_message_t *m;
    char errstr[512];
    rd_kafka_resp_err_t fe;
    mlc_rc rc = MLC_OK;

    *msg = NULL;
    m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (!m)
        goto check;
    if (!m->err) {
        *msg = m;
        return MLC_OK;
    }
    switch (m->err) {
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
        break;
    case RD_KAFKA_RESP_ERR__FATAL:
        break; /* reported below */
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
        rc = mlc_err_set(err, MLC_FATAL, "kafka consume %s: %s",
                         m->rkt ? rd_kafka_topic_name(m->rkt) : "", rd_kafka_message_errstr(m));
        break;
    default:
        mlc_warn("kafka consumer: %s", rd_kafka_message_errstr(m));
        break;
    }
    rd_kafka_message_destroy(m);
check:
    if (rc == MLC_OK) {
        fe = rd_kafka_fatal_error(c->rk, errstr, sizeof(errstr));
        if (fe)
            rc = mlc_err_set(err, MLC_FATAL, "kafka consumer fatal error: %s: %s",
                             rd_kafka_err2name(fe), errstr);
    }
    return rc;
}

mlc_rc mlc_kafka_consumer_done(struct mlc_kafka_consumer *c, const rd_kafka_message_t *msg,
                               struct mlc_err *err)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t e;

    /* rd_kafka_offset_store_message() only exists since 1.9/2.0 with a
     * non-const signature; offsets_store with offset+1 is equivalent. */
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(msg->rkt), msg->partition)->offset =
        msg->offset + 1;
    e = rd_kafka_offsets_store(c->rk, l);
    if (!e)
        e = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (e == RD_KAFKA_RESP_ERR__STATE)
        return mlc_err_set(
            err, MLC_RETRY, "kafka store offset %s [%d] %lld: partition no longer assigned",
            rd_kafka_topic_name(msg->rkt), (int)msg->partition, (long long)msg->offset);
    if (e)
        return mlc_err_set(err, MLC_RETRY, "kafka store offset %s [%d]: %s",
                           rd_kafka_topic_name(msg->rkt), (int)msg->partition, rd_kafka_err2str(e));
    return MLC_OK;
}

void mlc_kafka_message_free(rd_kafka_message_t *msg)
{
    if (msg)
        rd_kafka_message_destroy(msg);
}

static mlc_rc pause_resume(struct mlc_kafka_consumer *c, bool pause, struct mlc_err *err)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t e;

    e = rd_kafka_assignment(c->rk, &parts);
    if (!e)
        e = pause ? rd_kafka_pause_partitions(c->rk, parts)
                  : rd_kafka_resume_partitions(c->rk, parts);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (e)
        return mlc_err_set(err, MLC_RETRY, "kafka %s: %s", pause ? "pause" : "resume",
                           rd_kafka_err2str(e));
    c->paused = pause;
    return MLC_OK;
}

mlc_rc mlc_kafka_consumer_pause(struct mlc_kafka_consumer *c, struct mlc_err *err)
{
    return pause_resume(c, true, err);
}

mlc_rc mlc_kafka_consumer_resume(struct mlc_kafka_consumer *c, struct mlc_err *err)
{
    return pause_resume(c, false, err);
}

bool mlc_kafka_consumer_paused(const struct mlc_kafka_consumer *c)
{
    return c->paused;
}

rd_kafka_t *mlc_kafka_consumer_handle(struct mlc_kafka_consumer *c)
{
    return c->rk;
}

void mlc_kafka_consumer_close(struct mlc_kafka_consumer *c)
{
    rd_kafka_resp_err_t e;

    if (!c)
        return;
    if (c->rk) {
        e = rd_kafka_consumer_close(c->rk);
        if (e)
            mlc_warn("kafka consumer close: %s", rd_kafka_err2str(e));
        rd_kafka_destroy(c->rk);
    }
    free(c);
}
