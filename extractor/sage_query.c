/* sage_query.c - Sage 300 request URLs, lookback arithmetic, credentials; see sage_query.h. */
#include "sage_query.h"

#include "mlc_event.h"
#include "mlc_str.h"
#include "sage_customer.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

mlc_rc sage_escape(const char *s, struct mlc_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    mlc_rc rc = MLC_OK;

    for (const unsigned char *p = (const unsigned char *)s; *p && rc == MLC_OK; p++) {
        char enc[3];
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            rc = mlc_buf_append(out, p, 1);
            continue;
        }
        enc[0] = '%';
        enc[1] = hex[*p >> 4];
        enc[2] = hex[*p & 15];
        rc = mlc_buf_append(out, enc, 3);
    }
    return rc;
}

static mlc_rc buf_fail(mlc_rc rc, struct mlc_err *err)
{
    return mlc_err_set(err, rc, "sage url: longer than the buffer cap");
}

static bool base_url_ok(const char *u)
{
    const char *auth, *end;

    if (strncasecmp(u, "http://", 7) == 0)
        auth = u + 7;
    else if (strncasecmp(u, "https://", 8) == 0)
        auth = u + 8;
    else
        return false;
    end = auth + strcspn(auth, "/");
    if (end == auth || memchr(auth, '@', (size_t)(end - auth)))
        return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '?' || *p == '#')
            return false;
    return true;
}

mlc_rc sage_query_resource_url(const char *base_url, const char *company, const char *resource,
                               struct mlc_buf *out, struct mlc_err *err)
{
    size_t n;
    mlc_rc rc;

    mlc_buf_reset(out);
    if (!base_url || !base_url_ok(base_url))
        return mlc_err_set(err, MLC_FATAL,
                           "MLC_SAGE_URL: expected an http(s) url without credentials, query or "
                           "blanks");
    if (!mlc_event_company_valid(company))
        return mlc_err_set(err, MLC_FATAL,
                           "MLC_SAGE_COMPANIES: invalid company id (expected "
                           "1-32 of A-Z a-z 0-9 _ -)");
    n = strlen(base_url);
    if ((rc = mlc_buf_puts(out, base_url)) != MLC_OK ||
        (n > 0 && base_url[n - 1] != '/' && (rc = mlc_buf_puts(out, "/")) != MLC_OK) ||
        (rc = sage_escape(company, out)) != MLC_OK || (rc = mlc_buf_puts(out, "/AR/")) != MLC_OK ||
        (rc = mlc_buf_puts(out, resource)) != MLC_OK)
        return buf_fail(rc, err);
    return MLC_OK;
}

/* "<key> gt 'O''BRIEN'" with the quote doubled. */
static mlc_rc keyset_clause(const char *key, const char *after, struct mlc_buf *f)
{
    mlc_rc rc = mlc_buf_printf(f, "%s gt '", key);

    for (const char *p = after; *p && rc == MLC_OK; p++)
        rc = *p == '\'' ? mlc_buf_puts(f, "''") : mlc_buf_append(f, p, 1);
    if (rc == MLC_OK)
        rc = mlc_buf_puts(f, "'");
    return rc;
}

mlc_rc sage_query_customers_url(const struct sage_query *q, struct mlc_buf *out,
                                struct mlc_err *err)
{
    struct mlc_buf f;
    bool first = true;
    mlc_rc rc;

    if ((rc = sage_query_resource_url(q->base_url, q->company, "ARCustomers", out, err)) != MLC_OK)
        return rc;
    if (q->top < 1 || q->top > SAGE_TOP_MAX)
        return mlc_err_set(err, MLC_FATAL, "sage query: $top %ld outside 1..%d", q->top,
                           SAGE_TOP_MAX);
    if (q->since && !mlc_event_date_valid(q->since))
        return mlc_err_set(err, MLC_FATAL, "sage query: since is not a date YYYY-MM-DD");
    if (q->after && !mlc_event_number_valid(q->after))
        return mlc_err_set(err, MLC_PERM,
                           "sage query: keyset value is not a valid customer "
                           "number");

    mlc_buf_init(&f, 4096);
    rc = MLC_OK;
    if (q->since)
        rc = mlc_buf_printf(&f, "DateLastMaintained ge %sT00:00:00Z", q->since);
    if (rc == MLC_OK && q->since && q->after)
        rc = mlc_buf_puts(&f, " and ");
    if (rc == MLC_OK && q->after)
        rc = keyset_clause("CustomerNumber", q->after, &f);
    if (rc == MLC_OK && f.len > 0) {
        first = false;
        if ((rc = mlc_buf_puts(out, "?$filter=")) == MLC_OK)
            rc = sage_escape(mlc_buf_str(&f), out);
    }
    mlc_buf_free(&f);
    if (rc == MLC_OK)
        rc = mlc_buf_printf(out, "%s$orderby=CustomerNumber&$top=%ld&$select=", first ? "?" : "&",
                            q->top);
    if (q->keys_only) {
        if (rc == MLC_OK)
            rc = mlc_buf_puts(out, "CustomerNumber");
    } else {
        for (size_t i = 0; i < sage_customer_property_count && rc == MLC_OK; i++)
            if ((i == 0 || (rc = mlc_buf_puts(out, ",")) == MLC_OK))
                rc = mlc_buf_puts(out, sage_customer_properties[i]);
    }
    if (rc != MLC_OK) {
        mlc_buf_reset(out);
        return buf_fail(rc, err);
    }
    return MLC_OK;
}

mlc_rc sage_query_terms_url(const char *base_url, const char *company, const char *after,
                            struct mlc_buf *out, struct mlc_err *err)
{
    struct mlc_buf f;
    mlc_rc rc;

    if ((rc = sage_query_resource_url(base_url, company, "ARTerms", out, err)) != MLC_OK)
        return rc;
    if (after) {
        size_t n = strlen(after);
        bool ok = n > 0 && n <= 64;

        for (size_t i = 0; ok && i < n; i++)
            ok = (unsigned char)after[i] >= 0x20 && (unsigned char)after[i] < 0x7f;
        if (!ok) {
            mlc_buf_reset(out);
            return mlc_err_set(err, MLC_PERM, "sage query: keyset value is not a terms code");
        }
    }
    rc = mlc_buf_puts(out, "?");
    if (rc == MLC_OK && after) {
        mlc_buf_init(&f, 512);
        rc = keyset_clause("TermsCode", after, &f);
        if (rc == MLC_OK)
            rc = mlc_buf_puts(out, "$filter=");
        if (rc == MLC_OK)
            rc = sage_escape(mlc_buf_str(&f), out);
        if (rc == MLC_OK)
            rc = mlc_buf_puts(out, "&");
        mlc_buf_free(&f);
    }
    if (rc == MLC_OK)
        rc = mlc_buf_puts(out, "$orderby=TermsCode&$select=TermsCode,Description");
    if (rc != MLC_OK) {
        mlc_buf_reset(out);
        return buf_fail(rc, err);
    }
    return MLC_OK;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static long days_from_civil(long y, long m, long d)
{
    long era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, long *y, long *m, long *d)
{
    long era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

mlc_rc sage_query_since(const char *watermark, long lookback_days, char out[11],
                        struct mlc_err *err)
{
    long y, m, d, z;

    out[0] = '\0';
    if (!mlc_event_date_valid(watermark))
        return mlc_err_set(err, MLC_FATAL, "watermark is not a date YYYY-MM-DD");
    if (lookback_days < 0 || lookback_days > SAGE_LOOKBACK_MAX)
        return mlc_err_set(err, MLC_FATAL, "lookback of %ld days outside 0..%d", lookback_days,
                           SAGE_LOOKBACK_MAX);
    y = (watermark[0] - '0') * 1000 + (watermark[1] - '0') * 100 + (watermark[2] - '0') * 10 +
        (watermark[3] - '0');
    m = (watermark[5] - '0') * 10 + (watermark[6] - '0');
    d = (watermark[8] - '0') * 10 + (watermark[9] - '0');
    z = days_from_civil(y, m, d) - lookback_days;
    civil_from_days(z, &y, &m, &d);
    if (y < 1)
        return mlc_err_set(err, MLC_FATAL, "watermark minus lookback is before year 1");
    snprintf(out, 11, "%04ld-%02ld-%02ld", y, m, d);
    return MLC_OK;
}

bool sage_pw_case_parse(const char *s, enum sage_pw_case *out)
{
    if (!s || !*s || strcmp(s, "auto") == 0)
        *out = SAGE_PW_AUTO;
    else if (strcmp(s, "upper") == 0)
        *out = SAGE_PW_UPPER;
    else if (strcmp(s, "exact") == 0)
        *out = SAGE_PW_EXACT;
    else
        return false;
    return true;
}

const char *sage_pw_case_name(enum sage_pw_case m)
{
    switch (m) {
    case SAGE_PW_UPPER:
        return "upper";
    case SAGE_PW_EXACT:
        return "exact";
    case SAGE_PW_AUTO:
        break;
    }
    return "auto";
}

mlc_rc sage_credentials_make(const char *user, const char *password, const char *password_case,
                             struct sage_credentials *out, struct mlc_err *err)
{
    enum sage_pw_case mode;
    bool exact;
    mlc_rc rc = MLC_FATAL;

    memset(out, 0, sizeof(*out));
    if (!sage_pw_case_parse(password_case, &mode))
        return mlc_err_set(err, MLC_FATAL, "MLC_SAGE_PASSWORD_CASE: expected auto, upper or exact");
    exact = mode == SAGE_PW_EXACT;
    if (!user || !*user) {
        mlc_err_set(err, MLC_FATAL, "MLC_SAGE_USER: empty");
        goto fail;
    }
    if (strchr(user, ':')) {
        mlc_err_set(err, MLC_FATAL, "MLC_SAGE_USER: must not contain ':' (HTTP Basic)");
        goto fail;
    }
    if (!mlc_str_upper(out->user, user, sizeof(out->user))) {
        mlc_err_set(err, MLC_FATAL, "MLC_SAGE_USER: longer than %d bytes", SAGE_USER_MAX);
        goto fail;
    }
    if (!password)
        password = "";
    if (!(exact ? mlc_strlcpy(out->password, password, sizeof(out->password))
                : mlc_str_upper(out->password, password, sizeof(out->password)))) {
        mlc_err_set(err, MLC_FATAL, "MLC_SAGE_PASSWORD: longer than %d bytes", SAGE_PASSWORD_MAX);
        goto fail;
    }
    return MLC_OK;
fail:
    sage_credentials_wipe(out);
    return rc;
}

void sage_credentials_wipe(struct sage_credentials *c)
{
    if (c)
        OPENSSL_cleanse(c, sizeof(*c));
}
