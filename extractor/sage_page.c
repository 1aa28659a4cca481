/* sage_page.c - OData page envelope checks and nextLink re-basing; see sage_page.h. */
#include "sage_page.h"

#include "mlc_buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Splits an absolute http(s) URL into scheme+authority and the rest. */
static bool split_origin(const char *url, size_t *origin_len, const char **rest)
{
    size_t skip;
    const char *auth;

    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    auth = url + skip;
    *rest = auth + strcspn(auth, "/?#");
    *origin_len = (size_t)(*rest - url);
    return *rest > auth;
}

/* Message-safe copy of at most n bytes of untrusted text. */
static const char *safe(const char *s, size_t n, char *out, size_t outsz)
{
    size_t j = 0;

    for (size_t i = 0; i < n && s[i] && j + 1 < outsz; i++)
        out[j++] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[j] = '\0';
    return out;
}

mlc_rc sage_next_link_rebase(const char *link, const struct sage_page_opts *opts, char **out,
                             struct mlc_err *err)
{
    const char *res_rest, *link_rest, *q;
    size_t res_olen, link_olen = 0, n, path_len, res_path_len;
    struct mlc_buf b;
    char shown[128];
    mlc_rc rc;

    *out = NULL;
    if (!opts || !opts->resource_url || !split_origin(opts->resource_url, &res_olen, &res_rest))
        return mlc_err_set(err, MLC_FATAL, "page: no valid resource url to re-base nextLink on");
    res_path_len = strcspn(res_rest, "?#");
    n = strlen(link);
    if (n == 0)
        return mlc_err_set(err, MLC_RETRY, "page: @odata.nextLink is empty");
    if (n > SAGE_LINK_MAX)
        return mlc_err_set(err, MLC_RETRY, "page: @odata.nextLink longer than %d bytes",
                           SAGE_LINK_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)link[i] <= 0x20 || (unsigned char)link[i] >= 0x7f)
            return mlc_err_set(err, MLC_RETRY,
                               "page: @odata.nextLink holds a blank, control or non-ascii byte");

    if (link[0] == '/') {
        if (link[1] == '/')
            return mlc_err_set(err, MLC_FATAL,
                               "page: refusing scheme-relative @odata.nextLink to %s",
                               safe(link, 64, shown, sizeof(shown)));
        link_rest = link;
    } else if (split_origin(link, &link_olen, &link_rest)) {
        const char *auth = strstr(link, "://") + 3;
        if (memchr(auth, '@', (size_t)(link_rest - auth)))
            return mlc_err_set(err, MLC_FATAL,
                               "page: refusing @odata.nextLink with credentials in its host");
        if (opts->no_rebase &&
            (link_olen != res_olen || strncasecmp(link, opts->resource_url, res_olen) != 0))
            return mlc_err_set(err, MLC_FATAL,
                               "page: refusing @odata.nextLink to another host (%s), "
                               "expected %.*s",
                               safe(link, link_olen, shown, sizeof(shown)), (int)res_olen,
                               opts->resource_url);
    } else {
        return mlc_err_set(err, MLC_FATAL,
                           "page: refusing @odata.nextLink that is neither an http(s) url "
                           "nor an absolute path: %s",
                           safe(link, 64, shown, sizeof(shown)));
    }

    if (strchr(link_rest, '#'))
        return mlc_err_set(err, MLC_FATAL, "page: refusing @odata.nextLink with a fragment");
    path_len = strcspn(link_rest, "?");
    if (path_len != res_path_len || strncasecmp(link_rest, res_rest, path_len) != 0)
        return mlc_err_set(err, MLC_FATAL,
                           "page: refusing @odata.nextLink outside the requested resource: "
                           "path %s, expected %.*s",
                           safe(link_rest, path_len, shown, sizeof(shown)), (int)res_path_len,
                           res_rest);
    q = link_rest + path_len; /* "" or "?..." */

    mlc_buf_init(&b, SAGE_LINK_MAX + strlen(opts->resource_url) + 1);
    if ((rc = mlc_buf_append(&b, opts->resource_url, res_olen + res_path_len)) != MLC_OK ||
        (rc = mlc_buf_puts(&b, q)) != MLC_OK) {
        mlc_buf_free(&b);
        return mlc_err_set(err, rc, "page: @odata.nextLink: %s",
                           rc == MLC_FATAL ? "out of memory" : "too long");
    }
    if (opts->request_url && strcmp(mlc_buf_str(&b), opts->request_url) == 0) {
        mlc_buf_free(&b);
        return mlc_err_set(err, MLC_FATAL,
                           "page: refusing @odata.nextLink that repeats the request (loop)");
    }
    *out = mlc_buf_steal(&b);
    if (!*out)
        return mlc_err_set(err, MLC_FATAL, "page: out of memory");
    return MLC_OK;
}

mlc_rc sage_page_from_json(const cJSON *root, const struct sage_page_opts *opts,
                           struct sage_page *out, struct mlc_err *err)
{
    const cJSON *value, *it, *link, *count;
    size_t max = opts && opts->max_records ? opts->max_records : SAGE_PAGE_MAX_RECORDS;
    size_t i = 0;
    mlc_rc rc;

    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(root))
        return mlc_err_set(err, MLC_RETRY, "page: expected a json object");
    value = cJSON_GetObjectItemCaseSensitive(root, "value");
    if (!value) {
        if (cJSON_GetObjectItemCaseSensitive(root, "error"))
            return mlc_err_set(err, MLC_RETRY, "page: server sent an error object, no \"value\"");
        return mlc_err_set(err, MLC_RETRY, "page: no \"value\" array");
    }
    if (!cJSON_IsArray(value))
        return mlc_err_set(err, MLC_RETRY, "page: \"value\" is not an array");
    cJSON_ArrayForEach(it, value)
    {
        if (!cJSON_IsObject(it))
            return mlc_err_set(err, MLC_RETRY, "page: value[%zu] is not an object", i);
        if (++i > max)
            return mlc_err_set(err, MLC_RETRY, "page: more than %zu records", max);
    }

    count = cJSON_GetObjectItemCaseSensitive(root, "@odata.count");
    if (count) {
        double d = -1;
        if (cJSON_IsNumber(count)) {
            d = count->valuedouble;
        } else if (cJSON_IsString(count) && count->valuestring[0] &&
                   strspn(count->valuestring, "0123456789") == strlen(count->valuestring) &&
                   strlen(count->valuestring) <= 15) {
            d = strtod(count->valuestring, NULL);
        }
        if (!(d >= 0 && d <= 9e15 && floor(d) == d))
            return mlc_err_set(err, MLC_RETRY, "page: @odata.count is not a non-negative integer");
        out->has_total = true;
        out->total = (long long)d;
    }

    link = cJSON_GetObjectItemCaseSensitive(root, "@odata.nextLink");
    if (link) {
        if (!cJSON_IsString(link) || !link->valuestring)
            return mlc_err_set(err, MLC_RETRY, "page: @odata.nextLink is not a string");
        if ((rc = sage_next_link_rebase(link->valuestring, opts, &out->next_url, err)) != MLC_OK) {
            memset(out, 0, sizeof(*out));
            return rc;
        }
    }
    out->records = value;
    out->count = i;
    return MLC_OK;
}

mlc_rc sage_page_parse(const char *body, size_t len, const struct sage_page_opts *opts,
                       struct sage_page *out, struct mlc_err *err)
{
    const char *end = NULL;
    cJSON *root;
    mlc_rc rc;

    memset(out, 0, sizeof(*out));
    if (!body || len == 0)
        return mlc_err_set(err, MLC_RETRY, "page: empty body");
    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return mlc_err_set(err, MLC_RETRY, "page: invalid json near byte %zu of %zu%s", at, len,
                           at >= len ? " (truncated body)" : "");
    }
    for (const char *p = end; p && p < body + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(root);
            return mlc_err_set(err, MLC_RETRY, "page: trailing data after the json at byte %zu",
                               (size_t)(p - body));
        }
    if ((rc = sage_page_from_json(root, opts, out, err)) != MLC_OK) {
        cJSON_Delete(root);
        return rc;
    }
    out->root = root;
    return MLC_OK;
}

void sage_page_free(struct sage_page *p)
{
    if (!p)
        return;
    cJSON_Delete(p->root);
    free(p->next_url);
    memset(p, 0, sizeof(*p));
}
