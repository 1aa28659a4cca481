/* ext_loop.h - the `once` and `run` commands: opens the Sage client, both
 * state connections and the producer, then runs one cycle per company
 * (ext_cycle_run) once, or for run every MLC_POLL_INTERVAL seconds (a full
 * scan when the last one is MLC_FULL_SCAN_INTERVAL old, else a balance
 * refresh when the last one is MLC_SAGE_BALANCE_INTERVAL old) until *stop.
 * want_full / want_balances: `once --full` / `once --balances`.
 *
 * Serves /metrics and /healthz (ext_metrics.h) while it runs when
 * MLC_METRICS_PORT is set; every cycle's result is recorded there.
 *
 * Reads MLC_TEST_CRASH_AFTER_DELIVERY (test hook, see docs/extractor.md).
 * message.timeout.ms defaults to MLC_KAFKA_DELIVERY_TIMEOUT unless an
 * MLC_RDKAFKA_MESSAGE_TIMEOUT_MS passthrough sets it (app->cfg grows a row).
 */
#ifndef EXT_LOOP_H
#define EXT_LOOP_H
#include "mlc_app.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* app, stop and companies borrowed. Returns the exit code (mlc_app_exit_code):
 * once - the worst cycle result (an interrupted run is a retry); run - 0
 * unless a fatal failure ended it. */
int ext_loop(struct mlc_app *app, bool run, bool want_full, bool want_balances, bool force,
             volatile sig_atomic_t *stop, char **companies, size_t n_companies);

#endif
