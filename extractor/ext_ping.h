/* ext_ping.h - the `ping` command: checks each company URL, the credentials
 * and the Kafka brokers, printing one line per check on stdout.
 */
#ifndef EXT_PING_H
#define EXT_PING_H
#include "mlc_app.h"

#include <signal.h>
#include <stddef.h>

/* app, stop and companies borrowed. Returns the exit code: 0 when every check
 * passed, 2 when credentials were refused (hints printed), 1 otherwise. Sage
 * requests are not retried. */
int ext_ping(struct mlc_app *app, volatile sig_atomic_t *stop, char **companies,
             size_t n_companies);

#endif
