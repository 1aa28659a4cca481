/* mlc_kafka.h - librdkafka producer and consumer helpers (librdkafka 2.0.2).
 *
 * Configuration: both helpers start from the loaded struct mlc_config:
 * MLC_KAFKA_BROKERS -> bootstrap.servers, then every MLC_RDKAFKA_<PROP>
 * value untouched (a value librdkafka refuses fails with one line naming the
 * MLC_RDKAFKA_ setting), then the settings the guarantees below depend on.
 *
 * PRODUCER delivery guarantees
 *   - enable.idempotence=true and acks=all are forced (after MLC_RDKAFKA_*):
 *     librdkafka retries internally without duplicates or reordering within
 *     a partition; the application never retries a produce itself.
 *   - mlc_kafka_produce() only queues a copy of key, value and headers
 *     (RD_KAFKA_MSG_F_COPY). Queued is NOT delivered.
 *   - The delivery callback runs exactly once per queued message, on the
 *     caller's thread, inside mlc_kafka_producer_poll()/_flush()/_produce().
 *     dr->err == RD_KAFKA_RESP_ERR_NO_ERROR means the broker acknowledged the
 *     message with acks=all; anything else means it may or may not be stored
 *     (dr->status says which: NOT_PERSISTED, POSSIBLY_PERSISTED, PERSISTED).
 *     A caller advances a watermark only when every report of its batch has
 *     arrived and all succeeded (count them by opaque); otherwise it resends
 *     the whole batch later and the consumer absorbs the duplicates.
 *   - A fatal error (idempotence broken, RD_KAFKA_RESP_ERR__FATAL) makes every
 *     further call return MLC_FATAL; queued messages are then failed.
 *   - mlc_kafka_producer_free() does not flush: call mlc_kafka_producer_flush()
 *     first and treat outstanding > 0 as "not delivered".
 *
 * CONSUMER at-least-once
 *   - Consumer group MLC_KAFKA_GROUP, enable.auto.offset.store=false,
 *     enable.auto.commit=true, auto.offset.reset=earliest unless
 *     MLC_RDKAFKA_AUTO_OFFSET_RESET says otherwise.
 *   - An offset is stored only by mlc_kafka_consumer_done() (offset + 1), which
 *     the caller calls after the message's side effects are durable; the
 *     background auto-commit and the final close commit stored offsets. A
 *     crash before done() replays the message: side effects must be idempotent.
 *   - The rebalance callback is told about assigned partitions BEFORE any
 *     message of them is returned (refresh per-partition state there) and
 *     about revoked/lost partitions before they are given up.
 *
 * Threads: a producer or consumer is used from one thread at a time.
 */
#ifndef MLC_KAFKA_H
#define MLC_KAFKA_H

#include "mlc_config.h"
#include "mlc_err.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- producer */

/* One delivery report. Pointers are valid only during the callback. */
struct mlc_kafka_dr {
    rd_kafka_resp_err_t err; /* RD_KAFKA_RESP_ERR_NO_ERROR: acknowledged */
    const char *errstr;      /* rd_kafka_err2str(err) */
    rd_kafka_msg_status_t status;
    void *opaque; /* as given to mlc_kafka_produce */
    const char *topic;
    int32_t partition; /* -1 when unknown */
    int64_t offset;    /* -1001 (RD_KAFKA_OFFSET_INVALID) when unknown */
};

typedef void (*mlc_kafka_dr_fn)(const struct mlc_kafka_dr *dr, void *ctx);

/* A message header; value is copied by mlc_kafka_produce (len bytes, may be
 * NULL for a null header). */
struct mlc_kafka_header {
    const char *name;
    const void *value;
    size_t len;
};

struct mlc_kafka_producer;

/* Creates a producer; dr_cb (required) receives every delivery report with
 * ctx. *out is owned by the caller (mlc_kafka_producer_free). MLC_FATAL on a
 * bad configuration. */
mlc_rc mlc_kafka_producer_new(const struct mlc_config *cfg, mlc_kafka_dr_fn dr_cb, void *ctx,
                              struct mlc_kafka_producer **out, struct mlc_err *err);

/* Queues one keyed message (key/value/headers copied; headers may be NULL
 * with n_headers 0). When the local queue is full it serves delivery reports
 * and retries for up to queue_full_ms (>= 0) before returning MLC_RETRY.
 * MLC_FATAL after a fatal producer error or for a topic the credentials may
 * not write (ACLs), MLC_PERM only for a message too large (the one refusal
 * that is the message's own fault), MLC_RETRY for anything else librdkafka
 * refuses at once (unknown topic or partition: the cluster's state). The
 * delivery report follows only when MLC_OK is returned. */
mlc_rc mlc_kafka_produce(struct mlc_kafka_producer *p, const char *topic, const void *key,
                         size_t key_len, const void *value, size_t value_len,
                         const struct mlc_kafka_header *headers, size_t n_headers, void *opaque,
                         int queue_full_ms, struct mlc_err *err);

/* Serves delivery reports for up to timeout_ms; MLC_FATAL after a fatal
 * error, else MLC_OK. Call it often, also while not producing. */
mlc_rc mlc_kafka_producer_poll(struct mlc_kafka_producer *p, int timeout_ms, struct mlc_err *err);

/* Waits up to timeout_ms for every queued message to be delivered (serving
 * their reports). *outstanding (nullable) receives the number of messages not
 * yet reported. MLC_OK when none is left, MLC_RETRY when some are, MLC_FATAL
 * after a fatal error. */
mlc_rc mlc_kafka_producer_flush(struct mlc_kafka_producer *p, int timeout_ms, int *outstanding,
                                struct mlc_err *err);

/* Messages (and other requests) queued but not yet reported. */
int mlc_kafka_producer_outstanding(const struct mlc_kafka_producer *p);

/* True once librdkafka raised a fatal error (the producer is unusable). */
bool mlc_kafka_producer_fatal(struct mlc_kafka_producer *p, struct mlc_err *err);

/* The underlying handle (borrowed; for tests and metrics). */
rd_kafka_t *mlc_kafka_producer_handle(struct mlc_kafka_producer *p);

/* Purges what is still queued (no more reports are served) and destroys the
 * handle. NULL is fine. */
void mlc_kafka_producer_free(struct mlc_kafka_producer *p);

/* ---------------------------------------------------------------- consumer */

enum mlc_kafka_rebalance {
    MLC_KAFKA_ASSIGNED, /* parts become ours; no message of them returned yet */
    MLC_KAFKA_REVOKED,  /* parts are given up (offsets stored so far are committed) */
    MLC_KAFKA_LOST,     /* parts were lost (session timeout): commits may fail */
};

/* parts belongs to librdkafka and is valid only during the call. */
typedef void (*mlc_kafka_rebalance_fn)(enum mlc_kafka_rebalance ev,
                                       const rd_kafka_topic_partition_list_t *parts, void *ctx);

struct mlc_kafka_consumer;

/* Creates a consumer of group MLC_KAFKA_GROUP subscribed to topics[0..n)
 * (n_topics 0: not subscribed, e.g. for mlc_kafka_reset_offsets).
 * rebalance_cb may be NULL. Owned by the caller (mlc_kafka_consumer_close). */
mlc_rc mlc_kafka_consumer_new(const struct mlc_config *cfg, const char *const *topics,
                              size_t n_topics, mlc_kafka_rebalance_fn rebalance_cb, void *ctx,
                              struct mlc_kafka_consumer **out, struct mlc_err *err);

/* Waits up to timeout_ms for one message. MLC_OK with *msg set (owned by the
 * caller: mlc_kafka_message_free) or NULL (nothing yet; informational
 * consumer errors are logged and also give NULL). MLC_FATAL on a fatal error
 * or when the subscribed topic does not exist / is not authorized. */
mlc_rc mlc_kafka_consumer_poll(struct mlc_kafka_consumer *c, int timeout_ms,
                               rd_kafka_message_t **msg, struct mlc_err *err);

/* Marks msg fully handled: stores its offset + 1 for the next commit.
 * MLC_RETRY when its partition is no longer assigned (ERR__STATE: another
 * member owns it now and will replay it). Does not free msg. */
mlc_rc mlc_kafka_consumer_done(struct mlc_kafka_consumer *c, const rd_kafka_message_t *msg,
                               struct mlc_err *err);

void mlc_kafka_message_free(rd_kafka_message_t *msg);

/* Pauses / resumes fetching from every assigned partition; keep calling
 * mlc_kafka_consumer_poll() meanwhile so the group membership stays alive.
 * Partitions assigned while paused are paused too. */
mlc_rc mlc_kafka_consumer_pause(struct mlc_kafka_consumer *c, struct mlc_err *err);
mlc_rc mlc_kafka_consumer_resume(struct mlc_kafka_consumer *c, struct mlc_err *err);
bool mlc_kafka_consumer_paused(const struct mlc_kafka_consumer *c);

/* Every partition of topic with its high watermark (the offset the next
 * message will get) in ->offset, queried from the brokers. *out is a new
 * list: rd_kafka_topic_partition_list_destroy. */
mlc_rc mlc_kafka_consumer_high_watermarks(struct mlc_kafka_consumer *c, const char *topic,
                                          int timeout_ms, rd_kafka_topic_partition_list_t **out,
                                          struct mlc_err *err);

/* For `drain`: *drained is true when at least one partition is assigned
 * and every assigned partition listed in high (from
 * mlc_kafka_consumer_high_watermarks at start) has been read up to its mark:
 * its position, or else the group's committed offset, is >= the mark (an
 * empty partition counts as read). Partitions assigned to other members are
 * their job. */
mlc_rc mlc_kafka_consumer_drained(struct mlc_kafka_consumer *c,
                                  const rd_kafka_topic_partition_list_t *high, int timeout_ms,
                                  bool *drained, struct mlc_err *err);

/* Commits the stored offsets now and waits for the result. */
mlc_rc mlc_kafka_consumer_commit_sync(struct mlc_kafka_consumer *c, struct mlc_err *err);

/* Commits the given absolute offsets (->offset is the next offset to read)
 * and waits. The partitions must be assigned to c (group members only may
 * commit on the librdkafka mock, and it is the safe way on real Kafka too). */
mlc_rc mlc_kafka_consumer_commit_offsets(struct mlc_kafka_consumer *c,
                                         const rd_kafka_topic_partition_list_t *offsets,
                                         struct mlc_err *err);

enum mlc_kafka_reset {
    MLC_KAFKA_RESET_EARLIEST,
    MLC_KAFKA_RESET_LATEST,
    MLC_KAFKA_RESET_OFFSET,   /* the same absolute offset on every partition, clamped */
    MLC_KAFKA_RESET_EXPLICIT, /* the offsets of a given list (e.g. from
                               * rd_kafka_offsets_for_times), clamped */
};

/* Sets the committed offsets of group MLC_KAFKA_GROUP for every partition of
 * topic, before consuming: joins the group with a temporary consumer (all
 * partitions paused, nothing fetched or stored), waits until it holds every
 * partition, computes the offsets (EARLIEST: low watermark, LATEST: high
 * watermark, OFFSET: `offset`, EXPLICIT: the entry of `explicit_offsets` for
 * the partition, partitions missing from it are left alone), clamps them to
 * [low, high], commits them and leaves. MLC_RETRY when another member of the
 * group keeps some partition (stop the loaders first) or on timeout.
 * For a timestamp the caller looks offsets up with rd_kafka_offsets_for_times()
 * on any handle (e.g. mlc_kafka_consumer_handle of an unsubscribed consumer;
 * not implemented by the 2.0.2 mock) and passes them as EXPLICIT. */
mlc_rc mlc_kafka_reset_offsets(const struct mlc_config *cfg, const char *topic,
                               enum mlc_kafka_reset mode, int64_t offset,
                               const rd_kafka_topic_partition_list_t *explicit_offsets,
                               int timeout_ms, struct mlc_err *err);

rd_kafka_t *mlc_kafka_consumer_handle(struct mlc_kafka_consumer *c);

/* rd_kafka_consumer_close (final commit, leave group), destroy, free. NULL
 * is fine. Every message must have been freed before. */
void mlc_kafka_consumer_close(struct mlc_kafka_consumer *c);

/* Waits up to timeout_ms until librdkafka's threads are gone (at exit, for
 * leak checks). MLC_RETRY when some handle is still alive. */
mlc_rc mlc_kafka_wait_destroyed(int timeout_ms, struct mlc_err *err);

/* ------------------------------------------------------------------ shared */

/* Parses a librdkafka error as its name ("NOT_LEADER_FOR_PARTITION",
 * "_TRANSPORT", with or without the RD_KAFKA_RESP_ERR_ prefix, any case) or
 * number. False when unknown. */
bool mlc_kafka_parse_err(const char *s, rd_kafka_resp_err_t *out);

#endif
