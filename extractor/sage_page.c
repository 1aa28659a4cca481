/* sage_page.c - OData page envelope checks and the nextLink check; see sage_page.h. */
#include "sage_page.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Splits an absolute http(s) URL (or a scheme-relative "//host/...") into
 * its authority [*auth, *rest) and the rest (path, query, fragment). */
static bool split_origin(const char *url, const char **auth, const char **rest)
{
    if (strncasecmp(url, "http://", 7) == 0)
        *auth = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        *auth = url + 8;
    else if (url[0] == '/' && url[1] == '/')
        *auth = url + 2;
    else
        return false;
    *rest = *auth + strcspn(*auth, "/?#");
    return *rest > *auth;
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

/* Where "/Sage300WebApi/" starts within the first n bytes of path, or NULL. */
static const char *app_segment(const char *path, size_t n)
{
    static const char app[] = "/Sage300WebApi/";
    const size_t alen = sizeof(app) - 1;

    for (size_t i = 0; i + alen <= n; i++)
        if (strncasecmp(path + i, app, alen) == 0)
            return path + i;
    return NULL;
}

mlc_rc sage_next_link_check(const char *link, const struct sage_page_opts *opts,
                            struct mlc_err *err)
{
    const char *res_auth, *res_rest, *link_auth, *link_rest, *a, *b;
    size_t n, res_len, link_len, alen, blen;
    char shown[128];

    if (!opts || !opts->resource_url || strncmp(opts->resource_url, "//", 2) == 0 ||
        !split_origin(opts->resource_url, &res_auth, &res_rest))
        return mlc_err_set(err, MLC_FATAL, "page: no valid resource url to check nextLink on");
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

    if (split_origin(link, &link_auth, &link_rest)) {
        if (memchr(link_auth, '@', (size_t)(link_rest - link_auth)))
            return mlc_err_set(err, MLC_FATAL,
                               "page: refusing @odata.nextLink with credentials in its host");
    } else if (link[0] == '/') {
        link_rest = link;
    } else {
        return mlc_err_set(err, MLC_FATAL,
                           "page: refusing @odata.nextLink that is neither an http(s) url "
                           "nor an absolute path: %s",
                           safe(link, 64, shown, sizeof(shown)));
    }
    res_len = strcspn(res_rest, "?#");
    link_len = strcspn(link_rest, "?#");
    /* Compare from the application segment on: a proxy may add a prefix. */
    a = app_segment(link_rest, link_len);
    b = app_segment(res_rest, res_len);
    if (a && b) {
        alen = link_len - (size_t)(a - link_rest);
        blen = res_len - (size_t)(b - res_rest);
    } else {
        a = link_rest;
        alen = link_len;
        b = res_rest;
        blen = res_len;
    }
    if (alen != blen || strncasecmp(a, b, alen) != 0)
        return mlc_err_set(err, MLC_FATAL,
                           "page: @odata.nextLink names another resource: path %s, expected "
                           "%.*s (a proxy routing to another application or company?)",
                           safe(link_rest, link_len, shown, sizeof(shown)), (int)res_len, res_rest);
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
        if ((rc = sage_next_link_check(link->valuestring, opts, err)) != MLC_OK) {
            memset(out, 0, sizeof(*out));
            return rc;
        }
        out->has_next = true;
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
    memset(p, 0, sizeof(*p));
}
