/* mlc_kafka.c - librdkafka producer and consumer helpers (see mlc_kafka.h). */
#include "mlc_kafka.h"

#include "mlc_log.h"
#include "mlc_str.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct mlc_kafka_producer {
    rd_kafka_t *rk;
    mlc_kafka_dr_fn dr_cb;
    void *ctx;
    volatile int fatal; /* set from librdkafka's error_cb (its thread) */
};

struct mlc_kafka_consumer {
    rd_kafka_t *rk;
    mlc_kafka_rebalance_fn rebalance_cb;
    void *ctx;
    bool paused;
};

/* ------------------------------------------------------------ configuration */

/* "socket.timeout.ms" -> "MLC_RDKAFKA_SOCKET_TIMEOUT_MS". */
static void setting_name(const char *key, char *out, size_t outsz)
{
    char up[200];
    size_t i;

    mlc_str_upper(up, key, sizeof(up));
    for (i = 0; up[i]; i++)
        if (up[i] == '.')
            up[i] = '_';
    snprintf(out, outsz, "MLC_RDKAFKA_%s", up);
}

static mlc_rc conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                       const char *setting, struct mlc_err *err)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return mlc_err_set(err, MLC_FATAL, "%s: %s", setting, errstr);
    return MLC_OK;
}

/* bootstrap.servers, then MLC_RDKAFKA_* untouched. */
static mlc_rc conf_from_config(const struct mlc_config *cfg, rd_kafka_conf_t *conf,
                               struct mlc_err *err)
{
    char setting[256];
    mlc_rc rc;

    if (mlc_cfg_is_set(cfg, MLC_CFG_KAFKA_BROKERS)) {
        rc = conf_set(conf, "bootstrap.servers", mlc_cfg_str(cfg, MLC_CFG_KAFKA_BROKERS),
                      "MLC_KAFKA_BROKERS", err);
        if (rc != MLC_OK)
            return rc;
    }
    for (size_t i = 0; i < cfg->n_rdkafka; i++) {
        setting_name(cfg->rdkafka[i].key, setting, sizeof(setting));
        rc = conf_set(conf, cfg->rdkafka[i].key, cfg->rdkafka[i].value, setting, err);
        if (rc != MLC_OK)
            return rc;
    }
    return MLC_OK;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (level <= 3)
        mlc_error("kafka %s: %s", fac, buf);
    else if (level <= 4)
        mlc_warn("kafka %s: %s", fac, buf);
    else if (level <= 6)
        mlc_info("kafka %s: %s", fac, buf);
    else
        mlc_debug("kafka %s: %s", fac, buf);
}

/* ----------------------------------------------------------------- producer */

static void producer_error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
    struct mlc_kafka_producer *p = opaque;

    if (e == RD_KAFKA_RESP_ERR__FATAL) {
        p->fatal = 1;
        mlc_error("kafka producer fatal error: %s", reason);
        return;
    }
    /* informational: librdkafka recovers by itself */
    mlc_warn("kafka producer: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)e), reason);
}

static void producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct mlc_kafka_producer *p = opaque;
    struct mlc_kafka_dr dr = {
        .err = m->err,
        .errstr = rd_kafka_err2str(m->err),
        .status = rd_kafka_message_status(m),
        .opaque = m->_private,
        .topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "",
        .partition = m->partition,
        .offset = m->offset,
    };

    if (m->err)
        mlc_debug("kafka delivery failed: %s [%d]: %s", dr.topic, (int)dr.partition, dr.errstr);
    p->dr_cb(&dr, p->ctx);
}

mlc_rc mlc_kafka_producer_new(const struct mlc_config *cfg, mlc_kafka_dr_fn dr_cb, void *ctx,
                              struct mlc_kafka_producer **out, struct mlc_err *err)
{
    struct mlc_kafka_producer *p = NULL;
    rd_kafka_conf_t *conf = NULL;
    char errstr[512];
    mlc_rc rc;

    *out = NULL;
    if (!dr_cb)
        return mlc_err_set(err, MLC_FATAL, "kafka producer: no delivery report callback");
    p = calloc(1, sizeof(*p));
    if (!p)
        return mlc_err_set(err, MLC_FATAL, "kafka producer: out of memory");
    p->dr_cb = dr_cb;
    p->ctx = ctx;
    conf = rd_kafka_conf_new();
    rc = conf_from_config(cfg, conf, err);
    if (rc != MLC_OK)
        goto out;
    /* The guarantees of mlc_kafka.h depend on these: they win. */
    rc = conf_set(conf, "enable.idempotence", "true", "enable.idempotence", err);
    if (rc == MLC_OK)
        rc = conf_set(conf, "acks", "all", "acks", err);
    if (rc != MLC_OK)
        goto out;
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, producer_dr_cb);
    rd_kafka_conf_set_error_cb(conf, producer_error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!p->rk) {
        rc = mlc_err_set(err, MLC_FATAL, "kafka producer: %s", errstr);
        goto out; /* conf is still ours */
    }
    conf = NULL; /* owned by rk now */
    *out = p;
    p = NULL;
    rc = MLC_OK;
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    free(p);
    return rc;
}

bool mlc_kafka_producer_fatal(struct mlc_kafka_producer *p, struct mlc_err *err)
{
    char errstr[512];
    rd_kafka_resp_err_t e;

    e = rd_kafka_fatal_error(p->rk, errstr, sizeof(errstr));
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && !p->fatal)
        return false;
    p->fatal = 1;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        mlc_err_set(err, MLC_FATAL, "kafka producer fatal error: %s: %s", rd_kafka_err2name(e),
                    errstr);
    else
        mlc_err_set(err, MLC_FATAL, "kafka producer fatal error");
    return true;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

mlc_rc mlc_kafka_produce(struct mlc_kafka_producer *p, const char *topic, const void *key,
                         size_t key_len, const void *value, size_t value_len,
                         const struct mlc_kafka_header *headers, size_t n_headers, void *opaque,
                         int queue_full_ms, struct mlc_err *err)
{
    int64_t deadline = now_ms() + (queue_full_ms > 0 ? queue_full_ms : 0);
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_resp_err_t e;

    if (mlc_kafka_producer_fatal(p, err))
        return MLC_FATAL;
    for (;;) {
        if (n_headers) {
            hdrs = rd_kafka_headers_new(n_headers);
            for (size_t i = 0; i < n_headers; i++)
                rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value,
                                    headers[i].value ? (ssize_t)headers[i].len : 0);
        }
        e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_KEY((void *)(uintptr_t)key, key_len),
                              RD_KAFKA_V_VALUE((void *)(uintptr_t)value, value_len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                              RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return MLC_OK; /* headers now belong to the message */
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        hdrs = NULL;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        if (now_ms() >= deadline)
            return mlc_err_set(err, MLC_RETRY,
                               "kafka produce to %s: local queue still full after %d ms", topic,
                               queue_full_ms);
        /* Backpressure: serve delivery reports so that the queue drains. */
        rd_kafka_poll(p->rk, 100);
    }
    if (e == RD_KAFKA_RESP_ERR__FATAL && mlc_kafka_producer_fatal(p, err))
        return MLC_FATAL;
    return mlc_err_set(err, MLC_PERM, "kafka produce to %s: %s", topic, rd_kafka_err2str(e));
}

mlc_rc mlc_kafka_producer_poll(struct mlc_kafka_producer *p, int timeout_ms, struct mlc_err *err)
{
    rd_kafka_poll(p->rk, timeout_ms);
    if (mlc_kafka_producer_fatal(p, err))
        return MLC_FATAL;
    return MLC_OK;
}

mlc_rc mlc_kafka_producer_flush(struct mlc_kafka_producer *p, int timeout_ms, int *outstanding,
                                struct mlc_err *err)
{
    int left;

    rd_kafka_flush(p->rk, timeout_ms);
    left = rd_kafka_outq_len(p->rk);
    if (outstanding)
        *outstanding = left;
    if (mlc_kafka_producer_fatal(p, err))
        return MLC_FATAL;
    if (left > 0)
        return mlc_err_set(err, MLC_RETRY, "kafka flush: %d message(s) not delivered after %d ms",
                           left, timeout_ms);
    return MLC_OK;
}

int mlc_kafka_producer_outstanding(const struct mlc_kafka_producer *p)
{
    return rd_kafka_outq_len(p->rk);
}

rd_kafka_t *mlc_kafka_producer_handle(struct mlc_kafka_producer *p)
{
    return p->rk;
}

void mlc_kafka_producer_free(struct mlc_kafka_producer *p)
{
    if (!p)
        return;
    if (p->rk) {
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(p->rk);
    }
    free(p);
}

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
    c = calloc(1, sizeof(*c));
    if (!c)
        return mlc_err_set(err, MLC_FATAL, "kafka consumer: out of memory");
    c->rebalance_cb = rebalance;
    c->ctx = ctx;
    conf = rd_kafka_conf_new();
    /* overridable default first */
    rc = conf_set(conf, "auto.offset.reset", "earliest", "auto.offset.reset", err);
    if (rc != MLC_OK)
        goto out;
    rc = conf_from_config(cfg, conf, err);
    if (rc != MLC_OK)
        goto out;
    rc = mlc_config_require(cfg, MLC_CFG_KAFKA_GROUP, err);
    if (rc == MLC_OK)
        rc = conf_set(conf, "group.id", mlc_cfg_str(cfg, MLC_CFG_KAFKA_GROUP), "MLC_KAFKA_GROUP",
                      err);
    /* at-least-once depends on these */
    if (rc == MLC_OK)
        rc = conf_set(conf, "enable.auto.offset.store", "false", "enable.auto.offset.store", err);
    if (rc == MLC_OK)
        rc = conf_set(conf, "enable.auto.commit", "true", "enable.auto.commit", err);
    if (rc != MLC_OK)
        goto out;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
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
    int64_t deadline = now_ms() + timeout_ms;
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

        if (now_ms() >= deadline) {
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

mlc_rc mlc_kafka_wait_destroyed(int timeout_ms, struct mlc_err *err)
{
    if (rd_kafka_wait_destroyed(timeout_ms) != 0)
        return mlc_err_set(err, MLC_RETRY, "kafka: handles still alive after %d ms", timeout_ms);
    return MLC_OK;
}

/* ------------------------------------------------------------------- shared */

bool mlc_kafka_parse_err(const char *s, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *descs;
    bool by_number;
    size_t n;
    long v = 0;

    if (!s || !*s)
        return false;
    by_number = mlc_parse_long(s, -1000, 100000, &v);
    if (!by_number && !strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18))
        s += 18;
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++) {
        if (!descs[i].name)
            continue;
        if (by_number ? (long)descs[i].code == v : !strcasecmp(descs[i].name, s)) {
            *out = descs[i].code;
            return true;
        }
    }
    return false;
}
