/* mlc_app.c - common start-up of the programs, see mlc_app.h. */
#include "mlc_app.h"
#include "mlc_alloc.h"
#include "mlc_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

extern char **environ;

static void print_help(const struct mlc_app *app)
{
    fputs(app->usage, stdout);
    fputs("\nCommon options:\n"
          "  --config FILE   read KEY=VALUE settings from FILE (the environment wins)\n"
          "  --help          show this help\n"
          "  --version       show the version\n\n",
          stdout);
    mlc_config_print_help(stdout, app->prog);
}

void mlc_app_prologue(const char *name)
{
    mlc_alloc_set_progname(name);
    mlc_alloc_cjson_hooks();
    mlc_log_setup(name, MLC_LOG_WARN, MLC_LOG_TEXT);
}

enum mlc_app_start mlc_app_start(struct mlc_app *app, int argc, char **argv)
{
    struct mlc_err err = {0};
    int i = 1;

    mlc_app_prologue(app->name);
    app->config = NULL;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_help(app);
            return MLC_APP_EXIT;
        } else if (!strcmp(argv[i], "--version")) {
            printf("%s %s\n", app->name, MLC_VERSION);
            return MLC_APP_EXIT;
        } else if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                mlc_err_set(&err, MLC_FATAL, "--config needs a file name");
                mlc_app_fail(app, &err);
                return MLC_APP_FAIL;
            }
            app->config = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            app->config = argv[i] + 9;
        } else {
            break;
        }
    }
    app->argc = argc - i;
    app->argv = argv + i;
    /* --help after the command word is still a request for help. */
    for (int k = 0; k < app->argc; k++) {
        if (!strcmp(app->argv[k], "--help") || !strcmp(app->argv[k], "-h")) {
            print_help(app);
            return MLC_APP_EXIT;
        }
    }
    if (mlc_config_load(&app->cfg, app->prog, app->config, environ, &err) != MLC_OK) {
        mlc_app_fail(app, &err);
        return MLC_APP_FAIL;
    }
    mlc_config_setup_logging(&app->cfg, app->name);
    if ((app->prog & (MLC_PROG_EXTRACTOR | MLC_PROG_LOADER)) &&
        mlc_app_no_core_dumps(mlc_cfg_bool(&app->cfg, MLC_CFG_ALLOW_CORE_DUMPS), &err) != MLC_OK) {
        mlc_app_fail(app, &err);
        mlc_config_free(&app->cfg);
        return MLC_APP_FAIL;
    }
    return MLC_APP_RUN;
}

mlc_rc mlc_app_no_core_dumps(bool allow, struct mlc_err *err)
{
    struct rlimit none = {0, 0};

    if (allow)
        return MLC_OK;
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return mlc_err_set(err, MLC_FATAL, "cannot turn core dumps off: setrlimit: %s",
                           strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return mlc_err_set(err, MLC_FATAL, "cannot turn core dumps off: prctl: %s",
                           strerror(errno));
    return MLC_OK;
}

void mlc_app_fail(const struct mlc_app *app, const struct mlc_err *err)
{
    char line[sizeof(err->msg) + 64];

    mlc_redact(err->msg, line, sizeof(line));
    fprintf(stderr, "%s: %s\n", app->name, line);
}

int mlc_app_exit_code(mlc_rc rc)
{
    return rc == MLC_OK ? 0 : rc == MLC_FATAL ? 2 : 1;
}

void mlc_app_free(struct mlc_app *app)
{
    mlc_config_free(&app->cfg);
}

static volatile sig_atomic_t stop_flag;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

volatile sig_atomic_t *mlc_app_stop_on_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return &stop_flag;
}
