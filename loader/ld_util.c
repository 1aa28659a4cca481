/* ld_util.c - small helpers every loader module may use (a leaf: it uses no
 * other loader module but the mapping's canonical form).
 */
#include "ld_util.h"

#include "ld_outcome.h"

#include "mlc_buf.h"
#include "pd_mapping.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void ld_url_escape(const char *in, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *in && o + 4 < outsz; in++) {
        unsigned char ch = (unsigned char)*in;

        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == ',') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

/* The escaped next_cursor of a v2 list answer, or "" at the end. */
void ld_next_cursor(const cJSON *answer, char *out, size_t outsz)
{
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(answer, "additional_data"), "next_cursor");

    if (cJSON_IsString(next) && next->valuestring[0])
        ld_url_escape(next->valuestring, out, outsz);
    else
        out[0] = '\0';
}

void ld_rfc3339(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *ld_canonical(const cJSON *j, struct mlc_err *err)
{
    struct mlc_buf b;

    mlc_buf_init(&b, 1u << 20);
    if (pd_mapping_canonical(j, &b, err) != MLC_OK) {
        mlc_buf_free(&b);
        return NULL;
    }
    if (!b.data && mlc_buf_puts(&b, "") != MLC_OK) {
        mlc_buf_free(&b);
        return NULL;
    }
    return mlc_buf_steal(&b);
}

const char *ld_json_str(const cJSON *o, const char *k)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *const outcome_names[LD_OUT__COUNT] = {
    [LD_OUT_CREATED] = "created",
    [LD_OUT_UPDATED] = "updated",
    [LD_OUT_UNCHANGED] = "unchanged",
    [LD_OUT_ADOPTED] = "adopted",
    [LD_OUT_DLQ] = "dlq",
    [LD_OUT_DELETED_IN_CRM] = "deleted_in_crm",
    [LD_OUT_DUPLICATE] = "duplicate",
    [LD_OUT_DRY_RUN] = "dry_run",
};

const char *ld_outcome_name(enum ld_outcome o)
{
    return (unsigned)o < LD_OUT__COUNT ? outcome_names[o] : "?";
}

cJSON *ld_project(const cJSON *snap, const cJSON *next)
{
    cJSON *last = cJSON_CreateObject();
    const cJSON *it;

    cJSON_ArrayForEach(it, next)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(snap, it->string);

        if (!strcmp(it->string, "custom_fields") && cJSON_IsObject(it)) {
            cJSON *cf = cJSON_AddObjectToObject(last, "custom_fields");
            const cJSON *c;

            cJSON_ArrayForEach(c, it)
            {
                const cJSON *sv =
                    cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, c->string) : NULL;

                if (sv)
                    cJSON_AddItemToObject(cf, c->string, cJSON_Duplicate(sv, 1));
            }
        } else if (v) {
            cJSON_AddItemToObject(last, it->string, cJSON_Duplicate(v, 1));
        }
    }
    return last;
}

bool ld_json_id(const cJSON *v, int64_t *out)
{
    double d;

    if (!cJSON_IsNumber(v))
        return false;
    d = v->valuedouble;
    if (!(d >= 1 && d <= 9007199254740992.0) || d != (double)(int64_t)d)
        return false;
    *out = (int64_t)d;
    return true;
}
