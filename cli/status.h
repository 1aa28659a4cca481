/* status.h - what the outputs of `mlc status` share (private to cli/).
 *
 * cmd_status.c gathers the facts into one cJSON document (the --json
 * output); the text and the HTML (--html FILE) are two renderings of it.
 */
#ifndef MLC_CLI_STATUS_H
#define MLC_CLI_STATUS_H

#include "mlc_err.h"

#include <cjson/cJSON.h>

/* doc's string / number member key, or NULL / dflt when absent. */
const char *status_str(const cJSON *o, const char *key);
double status_num(const cJSON *o, const char *key, double dflt);

/* Writes doc as one self-contained HTML page (inline CSS and SVG, no
 * external asset, nothing fetched) to path, replacing it atomically. */
mlc_rc status_write_html(const cJSON *doc, const char *path, struct mlc_err *err);

#endif
