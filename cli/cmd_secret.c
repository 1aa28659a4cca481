/* mlc secret: placeholder until the secret commands land. */
#include "mlc_cli.h"

#include <stdio.h>

int mlc_cmd_secret(struct mlc_app *app)
{
    fputs("mlc: secret is not implemented yet\n", stderr);
    return 2;
}
