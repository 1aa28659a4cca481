/* mlc devbroker: placeholder until the dev broker lands. */
#include "mlc_cli.h"

#include <stdio.h>

int mlc_cmd_devbroker(struct mlc_app *app)
{
    fputs("mlc: devbroker is not implemented yet\n", stderr);
    return 2;
}
