/* mlc_app.h - what every ml-connector program does before its real work.
 *
 * mlc_app_prologue() is the set-up every program (workers, mlc, the
 * sandboxes) runs first, in one place. mlc_app_start() runs it, then parses the options common to
 * all programs (--config FILE, --help,
 * --version), loads the configuration from the file and the environment,
 * and configures logging. The workers (extractor, loader) then turn core
 * dumps off unless MLC_ALLOW_CORE_DUMPS=true: a core file holds the
 * decrypted Sage password and Pipedrive token. Errors are printed as
 * exactly one line, "<prog>: <message>", redacted, on stderr.
 */
#ifndef MLC_APP_H
#define MLC_APP_H

#include "mlc_config.h"
#include "mlc_err.h"

#include <signal.h>
#include <stdbool.h>

struct mlc_app {
    const char *name;   /* "mlc-extractor" */
    unsigned prog;      /* MLC_PROG_* */
    const char *usage;  /* first lines of --help, before the settings */
    const char *config; /* --config FILE, or NULL */
    int argc;           /* arguments left after the common options */
    char **argv;        /* (argv[0] is the first non-option word, e.g. "once") */
    struct mlc_config cfg;
};

/* The first call of every main(), before anything allocates: names the
 * program in the out-of-memory line and makes cJSON allocate through the
 * aborting wrappers (mlc_alloc.h, ADR 0010), and starts logging at warn in
 * text on stderr until the configuration says otherwise. The locale stays
 * "C" (no program calls setlocale): number formatting, strtod and cJSON's
 * decimal point rely on it. name is borrowed and must outlive the program
 * (a string literal). Signals are not touched: only long-running programs
 * install mlc_app_stop_on_signals(), a one-shot command keeps the default
 * SIGTERM and SIGPIPE. */
void mlc_app_prologue(const char *name);

enum mlc_app_start {
    MLC_APP_RUN,  /* configuration loaded: go on */
    MLC_APP_EXIT, /* --help or --version printed: exit 0 */
    MLC_APP_FAIL, /* one line printed: exit 2 */
};

/* Runs mlc_app_prologue(app->name), fills app from argv (which must outlive
 * app) and loads the configuration from environ. Options after the command word are left in
 * app->argv. */
enum mlc_app_start mlc_app_start(struct mlc_app *app, int argc, char **argv);

/* No core file and no ptrace attach by other users' processes (the process
 * holds decrypted secrets); allow keeps both as the system has them. */
mlc_rc mlc_app_no_core_dumps(bool allow, struct mlc_err *err);

/* Prints "<prog>: <message>" (redacted) on stderr. */
void mlc_app_fail(const struct mlc_app *app, const struct mlc_err *err);

/* Makes SIGTERM and SIGINT set the returned flag (every long loop polls it
 * for a clean stop) and ignores SIGPIPE (a peer closing a socket must fail
 * the write, not kill the process). Call once, before starting threads. */
volatile sig_atomic_t *mlc_app_stop_on_signals(void);

/* Exit status for an mlc_rc: 0 ok, 1 retry/permanent, 2 fatal. */
int mlc_app_exit_code(mlc_rc rc);

void mlc_app_free(struct mlc_app *app);

#endif
