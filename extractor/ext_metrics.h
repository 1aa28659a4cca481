/* ext_metrics.h - the extractor's Prometheus metrics and health (docs/operations.md,
 * "Metrics and health").
 *
 * One registry per process; the /metrics + /healthz server runs when
 * MLC_METRICS_PORT is not 0 (bound to MLC_METRICS_BIND). The recording
 * functions are thread-safe and accept NULL (metrics off), so call sites need
 * no checks.
 *
 * Health: unhealthy (503) when the last finished cycle of any company failed;
 * the reason names the company and the cycle's error. An interrupted cycle
 * (shutdown) does not count as failed. Healthy before the first cycle.
 *
 * Ownership: ext_metrics_new() allocates, ext_metrics_free() stops the server
 * and releases everything. Strings passed in are copied.
 */
#ifndef EXT_METRICS_H
#define EXT_METRICS_H
#include "ext_state.h"
#include "mlc_config.h"
#include "mlc_err.h"
#include "mlc_metrics.h"

struct ext_metrics;

/* Creates the registry and, when MLC_METRICS_PORT is set, starts the server.
 * MLC_FATAL when the port cannot be bound. */
mlc_rc ext_metrics_new(const struct mlc_config *cfg, struct ext_metrics **out, struct mlc_err *err);
void ext_metrics_free(struct ext_metrics *m);
/* The registry (borrowed; tests). */
struct mlc_metrics *ext_metrics_registry(struct ext_metrics *m);

/* One HTTP response from Sage (status 0: no response, a transport error). */
void ext_metrics_sage_response(void *m, long status);
/* One failed delivery report. */
void ext_metrics_delivery_failed(struct ext_metrics *m);
/* A cycle of company ended: result "ok" | "failed" | "interrupted"; error
 * (nullable) is the failure; st the records it handled. */
void ext_metrics_cycle(struct ext_metrics *m, const char *company, const char *result,
                       const struct ext_cycle_stats *st, double seconds,
                       const struct mlc_err *error);
/* The /healthz reason class of a failed cycle of company: sage_auth,
 * sage_unreachable, sage_refused, kafka_down, state_error or cycle_failed. */
const char *ext_health_class(const char *company, const struct mlc_err *error);
/* The health decision (mlc_metrics_health_fn). */
bool ext_metrics_healthy(void *m, char *reason, size_t reasonsz);

#endif
