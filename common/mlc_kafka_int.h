/* mlc_kafka_int.h - what the mlc_kafka_*.c files share; private to them.
 *
 * mlc_kafka.h is the module's API; this header holds what its files need
 * from one another so that each job can live in its own file:
 *   mlc_kafka.c           librdkafka configuration from struct mlc_config,
 *                         librdkafka's log, the monotonic clock,
 *                         mlc_kafka_wait_destroyed, mlc_kafka_parse_err;
 *   mlc_kafka_producer.c  the idempotent producer and its delivery reports;
 *   mlc_kafka_consumer.c  the group consumer: rebalance, poll, done,
 *                         pause/resume, close;
 *   mlc_kafka_offsets.c   watermarks, the drain check, commits and
 *                         mlc_kafka_reset_offsets.
 * Nothing outside common/mlc_kafka*.c includes it.
 */
#ifndef MLC_KAFKA_INT_H
#define MLC_KAFKA_INT_H

#include "mlc_kafka.h"

#include <stdbool.h>
#include <stdint.h>

/* A consumer (mlc_kafka_consumer_new). mlc_kafka_reset_offsets sets paused
 * before any partition is assigned so that the rebalance callback pauses
 * them all. */
struct mlc_kafka_consumer {
    rd_kafka_t *rk;
    mlc_kafka_rebalance_fn rebalance_cb;
    void *ctx;
    bool paused;
};

/* ---- mlc_kafka.c: configuration, log, clock */

/* Sets key=value on conf; a value librdkafka refuses gives MLC_FATAL with
 * one line naming setting (the name the operator knows it by). */
mlc_rc mlc_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                          const char *setting, struct mlc_err *err);

/* bootstrap.servers from MLC_KAFKA_BROKERS (when set), then every
 * MLC_RDKAFKA_<PROP> of cfg untouched. The caller sets what the guarantees
 * of mlc_kafka.h depend on afterwards, so that those win. */
mlc_rc mlc_kafka_conf_from_config(const struct mlc_config *cfg, rd_kafka_conf_t *conf,
                                  struct mlc_err *err);

/* librdkafka's log callback: syslog levels to mlc_error/warn/info/debug. */
void mlc_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

#endif
