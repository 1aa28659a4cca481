/* ext_publish.h - producing a cycle's events and counting their delivery
 * reports per page slot.
 *
 * Every event is produced with opaque = 1 + its page slot (0..EXT_SLOTS-1);
 * ext_on_delivery, the producer's report callback, counts the report in the
 * slot's ext_ctx.dr_ok / dr_failed (and keeps the first failure's text). The
 * page being prepared and the page waiting for its reports use different
 * slots, so the counters of one never mix with the other's. Reports are
 * served on the thread that polls the producer (the cycle's main thread).
 */
#ifndef EXT_PUBLISH_H
#define EXT_PUBLISH_H
#include "ext_run.h"
#include "mlc_kafka.h"

/* The producer's delivery-report callback; ctx is the struct ext_ctx. */
void ext_on_delivery(const struct mlc_kafka_dr *dr, void *ctx);

/* Zeroes slot's report counters before a page is queued in it. */
void ext_publish_slot_reset(struct ext_ctx *x, unsigned slot);

/* Queues one event of customer number (customer NULL: a `missing` event) in
 * slot, of version c->x->event_version (v2 carries credit, which an upsert
 * then needs; v1 ignores it); hash (nullable, MLC_EVENT_HASH_HEX + 1 bytes)
 * receives the event's content hash. MLC_PERM means this record cannot be
 * published. All arguments borrowed; uses c->value as the encoding buffer. */
mlc_rc ext_publish(struct ext_run *c, unsigned slot, const char *number, const cJSON *customer,
                   const cJSON *credit, const char *last_maintained, time_t read_at, char hash[65],
                   struct mlc_err *err);

/* Waits until every report of the n events queued in slot arrived; MLC_OK
 * only when all succeeded (MLC_RETRY on a failure or after
 * ext_ctx.flush_timeout_ms). Serves reports of the other slot meanwhile. */
mlc_rc ext_publish_wait(struct ext_run *c, unsigned slot, long n, long page_no,
                        struct mlc_err *err);

/* Serves every outstanding report before a cycle ends, so that no report of
 * this cycle is counted in the next one. */
void ext_publish_drain(struct ext_run *c);

#endif
