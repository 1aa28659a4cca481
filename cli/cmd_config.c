/* mlc config docs: prints docs/configuration.md from the settings table. */
#include "mlc_cli.h"

#include <stdio.h>
#include <string.h>

int mlc_cmd_config(struct mlc_app *app)
{
    if (app->argc == 2 && !strcmp(app->argv[1], "docs")) {
        mlc_config_print_markdown(stdout);
        return 0;
    }
    fputs("mlc: usage: mlc config docs\n", stderr);
    return 2;
}
