/* ld_offsets.h - `--reset-offsets earliest|latest|ISO8601` for mlc-loader.
 *
 * Moves the committed offsets of group MLC_KAFKA_GROUP on the topic before
 * consuming (stop the other loaders of the group first). A timestamp is
 * looked up with the broker's offset-for-time API
 * (rd_kafka_offsets_for_times), logged per partition as "the broker's
 * offset for the time is N". Only where the broker cannot answer it (the
 * librdkafka mock behind `mlc devbroker` answers END although a newer message
 * exists) is the first offset whose message timestamp is >= the time found
 * by a binary search over message timestamps, one message read per probe
 * (log2(messages) reads per partition), logged as "the broker cannot look
 * offsets up by time". Partitions whose messages are all older go to their
 * end.
 *
 * Timestamps: YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS[.fff]] followed by Z or
 * +HH:MM/-HH:MM (no zone: UTC).
 */
#ifndef LD_OFFSETS_H
#define LD_OFFSETS_H

#include "mlc_config.h"
#include "mlc_err.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Milliseconds since the epoch; false when s is not one of the forms above. */
bool ld_parse_time(const char *s, int64_t *ms);

/* spec: "earliest", "latest" or a timestamp. Prints one line per partition
 * to out (nullable). */
mlc_rc ld_offsets_reset(const struct mlc_config *cfg, const char *topic, const char *spec,
                        FILE *out, struct mlc_err *err);

#endif
