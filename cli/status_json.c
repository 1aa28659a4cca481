/* status_json.c - reading the facts of `mlc status` (see status.h): a leaf
 * both renderings, the text of cmd_status.c and the page of status_html.c,
 * read through, so neither depends on the other. */
#include "status.h"

const char *status_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double status_num(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}
