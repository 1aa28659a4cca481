/* mlc_cli.h - subcommands of the `mlc` operator tool.
 *
 * Each subcommand lives in its own file (cmd_<name>.c) and has the
 * signature of mlc_cmd_fn: it receives the started app (configuration
 * loaded, app->argv[0] is the subcommand word) and returns the exit status.
 */
#ifndef MLC_CLI_H
#define MLC_CLI_H

#include "mlc_app.h"

#include <stdbool.h>

typedef int (*mlc_cmd_fn)(struct mlc_app *app);

int mlc_cmd_devbroker(struct mlc_app *app);
int mlc_cmd_secret(struct mlc_app *app);
int mlc_cmd_config(struct mlc_app *app);
int mlc_cmd_audit(struct mlc_app *app);
int mlc_cmd_status(struct mlc_app *app);
int mlc_cmd_dlq(struct mlc_app *app);

/* "YYYY-MM-DD[THH:MM[:SS[.fff]]][Z]" (UTC) -> "YYYY-MM-DDTHH:MM:SS" in out; a
 * bare date or minute is widened to its first (until false) or last second.
 * False when v is not of that form. */
bool mlc_cli_parse_time(const char *v, bool until, char out[20]);

#endif
