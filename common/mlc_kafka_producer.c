/* mlc_kafka_producer.c - the idempotent producer: its configuration,
 * delivery reports, fatal errors, produce with backpressure, poll, flush
 * and free (see the PRODUCER part of mlc_kafka.h).
 */
#include "mlc_alloc.h"
#include "mlc_kafka.h"
#include "mlc_time.h"

#include "mlc_backoff.h"
#include "mlc_kafka_int.h"
#include "mlc_log.h"

#include <stdint.h>
#include <stdlib.h>

struct mlc_kafka_producer {
    rd_kafka_t *rk;
    mlc_kafka_dr_fn dr_cb;
    void *ctx;
    volatile int fatal; /* set from librdkafka's error_cb (its thread) */
};

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
    p = mlc_xcalloc(1, sizeof(*p));
    p->dr_cb = dr_cb;
    p->ctx = ctx;
    conf = rd_kafka_conf_new();
    rc = mlc_kafka_conf_from_config(cfg, conf, err);
    if (rc != MLC_OK)
        goto out;
    /* The guarantees of mlc_kafka.h depend on these: they win. */
    rc = mlc_kafka_conf_set(conf, "enable.idempotence", "true", "enable.idempotence", err);
    if (rc == MLC_OK)
        rc = mlc_kafka_conf_set(conf, "acks", "all", "acks", err);
    if (rc != MLC_OK)
        goto out;
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, producer_dr_cb);
    rd_kafka_conf_set_error_cb(conf, producer_error_cb);
    rd_kafka_conf_set_log_cb(conf, mlc_kafka_log_cb);
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

/* Why librdkafka refused to queue a message at once. Only a message that is
 * too large is the message's own fault (MLC_PERM: the caller may skip it);
 * a topic the credentials may not write is the configuration's (MLC_FATAL);
 * anything else is the cluster's state (MLC_RETRY). A caller must never
 * skip a customer because of the cluster. */
static mlc_rc refused(const char *topic, rd_kafka_resp_err_t e, struct mlc_err *err)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return mlc_err_set(err, MLC_PERM, "kafka produce to %s: %s", topic, rd_kafka_err2str(e));
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        return mlc_err_set(err, MLC_FATAL,
                           "kafka produce to %s: %s (the credentials may not write it: check "
                           "the ACLs and MLC_RDKAFKA_SASL_USERNAME)",
                           topic, rd_kafka_err2str(e));
    default:
        return mlc_err_set(err, MLC_RETRY, "kafka produce to %s: %s", topic, rd_kafka_err2str(e));
    }
}

mlc_rc mlc_kafka_produce(struct mlc_kafka_producer *p, const char *topic, const void *key,
                         size_t key_len, const void *value, size_t value_len,
                         const struct mlc_kafka_header *headers, size_t n_headers, void *opaque,
                         int queue_full_ms, struct mlc_err *err)
{
    int64_t deadline = mlc_monotonic_ms() + (queue_full_ms > 0 ? queue_full_ms : 0);
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
        if (mlc_monotonic_ms() >= deadline)
            return mlc_err_set(err, MLC_RETRY,
                               "kafka produce to %s: local queue still full after %d ms", topic,
                               queue_full_ms);
        /* Backpressure: serve delivery reports so that the queue drains. */
        rd_kafka_poll(p->rk, 100);
    }
    if (e == RD_KAFKA_RESP_ERR__FATAL && mlc_kafka_producer_fatal(p, err))
        return MLC_FATAL;
    return refused(topic, e, err);
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
