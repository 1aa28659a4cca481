/* ld_metrics.h - the loader's Prometheus metrics and health (docs/operations.md,
 * "Metrics and health").
 *
 * One registry per process; the /metrics + /healthz server runs when
 * MLC_METRICS_PORT is not 0 (bound to MLC_METRICS_BIND). Every function is
 * thread-safe and accepts a NULL ld_metrics (metrics off).
 *
 * Health (/healthz 503 with the first reason that applies):
 *   1. blocked: a 403 block page was seen (the run then stops);
 *   2. paused for the daily budget for longer than expected: now is past
 *      the announced resume time + LD_METRICS_PAUSE_GRACE_S;
 *   3. consuming, and the consumer has not polled for longer than
 *      max.poll.interval.ms (librdkafka's, 300000 unless
 *      MLC_RDKAFKA_MAX_POLL_INTERVAL_MS sets it): the group has dropped it.
 * Otherwise healthy (also before the consumer started).
 *
 * Consumer lag per partition (high watermark - position, from librdkafka's
 * cached watermarks, no broker round trip) is computed on every scrape
 * while a consumer is set.
 *
 * Ownership: ld_metrics_new() allocates, ld_metrics_free() stops the server
 * and frees everything. The consumer handle given to ld_metrics_consumer()
 * is borrowed until ld_metrics_consumer(m, NULL).
 */
#ifndef LD_METRICS_H
#define LD_METRICS_H
#include "mlc_config.h"
#include "mlc_err.h"
#include "mlc_metrics.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#define LD_METRICS_PAUSE_GRACE_S 600

struct ld_metrics;

mlc_rc ld_metrics_new(const struct mlc_config *cfg, struct ld_metrics **out, struct mlc_err *err);
void ld_metrics_free(struct ld_metrics *m);
struct mlc_metrics *ld_metrics_registry(struct ld_metrics *m);

/* The consumer whose lag is exported (NULL before closing it). */
void ld_metrics_consumer(struct ld_metrics *m, rd_kafka_t *rk);
/* The consumer polled now (n messages, 0 or 1). */
void ld_metrics_polled(struct ld_metrics *m, int n);
/* An event's outcome (created, updated, unchanged, adopted, dlq, ...). */
void ld_metrics_outcome(struct ld_metrics *m, const char *outcome);
/* One Pipedrive response: method, op name, status (0: none), tokens charged;
 * daily429: the 429 paused for the daily budget (else a burst 429); blocked:
 * a 403 block page. daily_remaining / burst_remaining: the budget as now
 * known (-1 unknown). */
void ld_metrics_call(struct ld_metrics *m, const char *method, const char *op, long status,
                     int tokens, bool daily429, bool blocked, long daily_remaining,
                     long burst_remaining);
/* Today's spending (mlc_loader_tokens_today{kind}, mlc_loader_429_today):
 * one call of kind (ld_call_kind()) that cost tokens; is429 when answered
 * 429. Both start from 0 at the UTC day change (when the daily budget
 * resets by default), also between calls (on a scrape). */
void ld_metrics_spend(struct ld_metrics *m, const char *kind, int tokens, bool is429);
/* Seeds today's spending from the state file at start (one call per kind). */
void ld_metrics_spend_seed(void *m, const char *kind, int64_t tokens, int64_t status_429);
/* mlc_loader_initial_load_eta_days: days until the customers waiting for
 * an organization are created at the current budget; -1 unknown. */
void ld_metrics_forecast(struct ld_metrics *m, double eta_days);
/* Paused (resume_ms: epoch ms of the announced resume) or resumed. */
void ld_metrics_paused(struct ld_metrics *m, bool paused, int64_t resume_ms);
/* Customers now in the backlog of creates. */
void ld_metrics_backlog(struct ld_metrics *m, int64_t n);
/* The health decision (mlc_metrics_health_fn). */
bool ld_metrics_healthy(void *m, char *reason, size_t reasonsz);

#endif
