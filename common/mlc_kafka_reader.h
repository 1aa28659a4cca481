/* mlc_kafka_reader.h - read a whole topic once, outside any consumer group.
 *
 * For the operator's commands that look at a topic without taking part in
 * the loaders' group: `mlc dlq` (dead letters) and `mlc-loader match` (every
 * customer on the event topic). Every partition is assigned directly (no
 * group join, so running loaders are never rebalanced), read from its low
 * watermark up to the high watermark seen at start, and nothing is ever
 * committed. Configuration as mlc_kafka.h: MLC_KAFKA_BROKERS, then every
 * MLC_RDKAFKA_* property.
 */
#ifndef MLC_KAFKA_READER_H
#define MLC_KAFKA_READER_H

#include "mlc_config.h"
#include "mlc_err.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

/* Called once per message in offset order within a partition (partitions
 * interleave). The message is borrowed for the call. A return other than
 * MLC_OK stops the read and is returned. */
typedef mlc_rc (*mlc_kafka_read_fn)(void *ctx, const rd_kafka_message_t *m, struct mlc_err *err);

/* Reads topic as above. A topic that does not exist reads as empty
 * (*exists false when exists is not NULL). MLC_RETRY when the brokers cannot
 * be reached or the read does not finish within timeout_ms. */
mlc_rc mlc_kafka_read_topic(const struct mlc_config *cfg, const char *topic, int timeout_ms,
                            mlc_kafka_read_fn fn, void *ctx, bool *exists, struct mlc_err *err);

#endif
