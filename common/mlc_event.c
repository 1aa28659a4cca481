/* mlc_event.c - customer-change events: build, canonical form, hash, decode.
 * See mlc_event.h for the contract. */
#include "mlc_event.h"
#include "mlc_alloc.h"

#include "mlc_str.h"

#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CANON_MAX_DEPTH 8
#define CANON_MAX_KEYS  256

const char *mlc_event_op_name(enum mlc_event_op op)
{
    return op == MLC_EVENT_MISSING ? "missing" : "upsert";
}

const char *mlc_event_schema_name(int version)
{
    return version == 1 ? MLC_EVENT_SCHEMA_V1 : version == 2 ? MLC_EVENT_SCHEMA_V2 : NULL;
}

const char *mlc_event_error_class(const struct mlc_err *err)
{
    return err && strncmp(err->msg, MLC_EVENT_ERR_UNSUPPORTED,
                          sizeof(MLC_EVENT_ERR_UNSUPPORTED) - 1) == 0
               ? MLC_EVENT_CLASS_UNSUPPORTED
               : MLC_EVENT_CLASS_INVALID;
}

bool mlc_event_credit_used_pct(double balance_due, double credit_limit, double *out)
{
    double pct;

    if (!isfinite(balance_due) || !isfinite(credit_limit) || credit_limit <= 0)
        return false;
    pct = balance_due / credit_limit * 100.0;
    if (pct > MLC_EVENT_MAX_PCT)
        pct = MLC_EVENT_MAX_PCT;
    else if (pct < -MLC_EVENT_MAX_PCT)
        pct = -MLC_EVENT_MAX_PCT;
    *out = pct;
    return true;
}

/* ---- small validators ------------------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dm[m - 1];
}

bool mlc_event_date_valid(const char *s)
{
    int y, m, d;

    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) ||
        !all_digits(s + 5, 2) || !all_digits(s + 8, 2))
        return false;
    y = num2(s) * 100 + num2(s + 2);
    m = num2(s + 5);
    d = num2(s + 8);
    return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

/* "YYYY-MM-DDTHH:MM:SSZ" */
static bool timestamp_valid(const char *s)
{
    char date[11];

    if (strlen(s) != 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
        !all_digits(s + 11, 2) || !all_digits(s + 14, 2) || !all_digits(s + 17, 2))
        return false;
    memcpy(date, s, 10);
    date[10] = '\0';
    return mlc_event_date_valid(date) && num2(s + 11) < 24 && num2(s + 14) < 60 &&
           num2(s + 17) < 60;
}

static bool hex_valid(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool mlc_event_company_valid(const char *company)
{
    size_t n = company ? strlen(company) : 0;

    if (n < 1 || n > MLC_EVENT_MAX_COMPANY)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)company[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-')) /* ASCII whatever the locale */
            return false;
    }
    return true;
}

bool mlc_event_number_valid(const char *number)
{
    size_t n = number ? strlen(number) : 0;
    bool blank = true;

    if (n < 1 || n > MLC_EVENT_MAX_NUMBER || !mlc_utf8_valid(number, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)number[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c != ' ')
            blank = false;
    }
    return !blank;
}

/* http(s)://authority[/...], no credentials, no blanks or controls. */
static bool base_url_valid(const char *s)
{
    size_t n = strlen(s), skip;
    const char *auth, *end;

    if (n > MLC_EVENT_MAX_STRING || !mlc_utf8_valid(s, n))
        return false;
    if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return false;
    auth = s + skip;
    end = auth + strcspn(auth, "/?#");
    if (end == auth)
        return false;
    return memchr(auth, '@', (size_t)(end - auth)) == NULL;
}

/* Copies a name from untrusted input into a message-safe form. */
static const char *safe_name(const char *in, char *out, size_t outsz)
{
    size_t j = 0;

    for (size_t i = 0; in[i] && j + 1 < outsz; i++)
        out[j++] = (in[i] >= 0x21 && in[i] <= 0x7e) ? in[i] : '?';
    out[j] = '\0';
    return out;
}

/* ---- canonical JSON and hashing ------------------------------------------------------------ */

static mlc_rc put_string(const char *s, struct mlc_buf *out, struct mlc_err *err)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    const char *run = s;
    mlc_rc rc;

    if (!mlc_utf8_valid(s, n))
        return mlc_err_set(err, MLC_PERM, "canonical json: string is not valid utf-8");
    if ((rc = mlc_buf_append(out, "\"", 1)) != MLC_OK)
        goto fail;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[7];
        size_t elen = 2;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if ((rc = mlc_buf_append(out, run, (size_t)(p - run))) != MLC_OK)
            goto fail;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if ((rc = mlc_buf_append(out, esc, elen)) != MLC_OK)
            goto fail;
        run = p + 1;
    }
    if ((rc = mlc_buf_append(out, run, strlen(run))) != MLC_OK ||
        (rc = mlc_buf_append(out, "\"", 1)) != MLC_OK)
        goto fail;
    return MLC_OK;
fail:
    return mlc_err_set(err, rc, "canonical json: output size cap reached");
}

static int cmp_keys(const void *a, const void *b)
{
    const cJSON *const *x = a;
    const cJSON *const *y = b;

    return strcmp((*x)->string, (*y)->string);
}

static mlc_rc canon(const cJSON *it, struct mlc_buf *out, int depth, struct mlc_err *err)
{
    const cJSON **kids = NULL;
    mlc_rc rc = MLC_OK;
    size_t n = 0, i;
    char num[64];

    if (depth > CANON_MAX_DEPTH)
        return mlc_err_set(err, MLC_PERM, "canonical json: nested deeper than %d", CANON_MAX_DEPTH);
    if (cJSON_IsNull(it)) {
        rc = mlc_buf_puts(out, "null");
    } else if (cJSON_IsTrue(it)) {
        rc = mlc_buf_puts(out, "true");
    } else if (cJSON_IsFalse(it)) {
        rc = mlc_buf_puts(out, "false");
    } else if (cJSON_IsNumber(it)) {
        double v = it->valuedouble;
        if (!isfinite(v) || fabs(v) >= MLC_EVENT_MAX_AMOUNT)
            return mlc_err_set(err, MLC_PERM, "canonical json: number out of range");
        snprintf(num, sizeof(num), "%.3f", v);
        rc = mlc_buf_puts(out, strcmp(num, "-0.000") == 0 ? "0.000" : num);
    } else if (cJSON_IsString(it) && it->valuestring) {
        return put_string(it->valuestring, out, err);
    } else if (cJSON_IsArray(it)) {
        const cJSON *c;
        if ((rc = mlc_buf_puts(out, "[")) != MLC_OK)
            goto out;
        cJSON_ArrayForEach(c, it)
        {
            if (c != it->child && (rc = mlc_buf_puts(out, ",")) != MLC_OK)
                goto out;
            if ((rc = canon(c, out, depth + 1, err)) != MLC_OK)
                return rc;
        }
        rc = mlc_buf_puts(out, "]");
    } else if (cJSON_IsObject(it)) {
        const cJSON *c;
        cJSON_ArrayForEach(c, it) n++;
        if (n > CANON_MAX_KEYS)
            return mlc_err_set(err, MLC_PERM, "canonical json: more than %d keys", CANON_MAX_KEYS);
        if (n > 0)
            kids = mlc_xcalloc(n, sizeof(*kids));
        i = 0;
        cJSON_ArrayForEach(c, it) kids[i++] = c;
        if (n > 1) /* kids is NULL for an empty object: qsort must not see it */
            qsort(kids, n, sizeof(*kids), cmp_keys);
        if ((rc = mlc_buf_puts(out, "{")) != MLC_OK)
            goto out;
        for (i = 0; i < n; i++) {
            if (i > 0 && strcmp(kids[i]->string, kids[i - 1]->string) == 0) {
                char name[65];
                rc = mlc_err_set(err, MLC_PERM, "canonical json: duplicate key %s",
                                 safe_name(kids[i]->string, name, sizeof(name)));
                goto done;
            }
            if ((i > 0 && (rc = mlc_buf_puts(out, ",")) != MLC_OK))
                goto out;
            if ((rc = put_string(kids[i]->string, out, err)) != MLC_OK)
                goto done;
            if ((rc = mlc_buf_puts(out, ":")) != MLC_OK)
                goto out;
            if ((rc = canon(kids[i], out, depth + 1, err)) != MLC_OK)
                goto done;
        }
        rc = mlc_buf_puts(out, "}");
    } else {
        return mlc_err_set(err, MLC_PERM, "canonical json: unsupported value type");
    }
out:
    if (rc != MLC_OK)
        mlc_err_set(err, rc, "canonical json: output size cap reached");
done:
    free(kids);
    return rc;
}

mlc_rc mlc_event_canonical(const cJSON *item, struct mlc_buf *out, struct mlc_err *err)
{
    if (!item)
        return mlc_err_set(err, MLC_PERM, "canonical json: no value");
    return canon(item, out, 0, err);
}

/* OpenSSL 3 looks the algorithm up on every EVP_sha256() digest; fetch it
 * once (it is never freed: one object for the life of the process). */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static mlc_rc sha256_hex(const void *data, size_t n, char *out, size_t hexchars,
                         struct mlc_err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    pthread_once(&sha256_once, sha256_fetch);
    if (!EVP_Digest(data, n, md, &mdlen, sha256_md ? sha256_md : EVP_sha256(), NULL) ||
        mdlen * 2 < hexchars)
        return mlc_err_set(err, MLC_FATAL, "sha-256 failed");
    for (size_t i = 0; i < hexchars / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[hexchars] = '\0';
    return MLC_OK;
}

mlc_rc mlc_event_content_hash(const cJSON *customer, char out[MLC_EVENT_HASH_HEX + 1],
                              struct mlc_err *err)
{
    struct mlc_buf b;
    mlc_rc rc;

    out[0] = '\0';
    if (!customer)
        return sha256_hex("missing", 7, out, MLC_EVENT_HASH_HEX, err);
    mlc_buf_init(&b, MLC_EVENT_MAX_BYTES);
    rc = mlc_event_canonical(customer, &b, err);
    if (rc == MLC_OK)
        rc = sha256_hex(b.data ? b.data : "", b.len, out, MLC_EVENT_HASH_HEX, err);
    mlc_buf_free(&b);
    return rc;
}

mlc_rc mlc_event_content_hash_v2(const cJSON *customer, const cJSON *credit,
                                 char out[MLC_EVENT_HASH_HEX + 1], struct mlc_err *err)
{
    struct mlc_buf b;
    mlc_rc rc;

    out[0] = '\0';
    if (!customer)
        return credit
                   ? mlc_err_set(err, MLC_PERM, "event: credit: must be absent when op is missing")
                   : sha256_hex("missing", 7, out, MLC_EVENT_HASH_HEX, err);
    if (!credit)
        return mlc_err_set(err, MLC_PERM, "event: credit: is required when op is upsert");
    /* The canonical form of {"credit":...,"customer":...}: "credit" sorts first. */
    mlc_buf_init(&b, 2 * MLC_EVENT_MAX_BYTES);
    if ((rc = mlc_buf_puts(&b, "{\"credit\":")) != MLC_OK) {
        rc = mlc_err_set(err, rc, "canonical json: output size cap reached");
        goto out;
    }
    if ((rc = mlc_event_canonical(credit, &b, err)) != MLC_OK)
        goto out;
    if ((rc = mlc_buf_puts(&b, ",\"customer\":")) != MLC_OK) {
        rc = mlc_err_set(err, rc, "canonical json: output size cap reached");
        goto out;
    }
    if ((rc = mlc_event_canonical(customer, &b, err)) != MLC_OK)
        goto out;
    if ((rc = mlc_buf_puts(&b, "}")) != MLC_OK) {
        rc = mlc_err_set(err, rc, "canonical json: output size cap reached");
        goto out;
    }
    rc = sha256_hex(b.data, b.len, out, MLC_EVENT_HASH_HEX, err);
out:
    mlc_buf_free(&b);
    return rc;
}

mlc_rc mlc_event_key(const char *company, const char *number, char *out, size_t outsz,
                     struct mlc_err *err)
{
    if (outsz > 0)
        out[0] = '\0';
    if (!mlc_event_company_valid(company))
        return mlc_err_set(err, MLC_PERM, "event: company: expected 1-%d of [A-Za-z0-9_-]",
                           MLC_EVENT_MAX_COMPANY);
    if (!mlc_event_number_valid(number))
        return mlc_err_set(err, MLC_PERM,
                           "event: customer_number: expected 1-%d bytes of utf-8 without "
                           "control characters, not blank",
                           MLC_EVENT_MAX_NUMBER);
    if ((size_t)snprintf(out, outsz, "%s:%s", company, number) >= outsz)
        return mlc_err_set(err, MLC_PERM, "event: key does not fit in %zu bytes", outsz);
    return MLC_OK;
}

mlc_rc mlc_event_id(const char *company, const char *number, enum mlc_event_op op,
                    const char *content_hash, char out[MLC_EVENT_ID_HEX + 1], struct mlc_err *err)
{
    char buf[MLC_EVENT_MAX_KEY + 16 + MLC_EVENT_HASH_HEX + 1];
    int n;

    out[0] = '\0';
    n = snprintf(buf, sizeof(buf), "%s:%s:%s:%s", company, number, mlc_event_op_name(op),
                 content_hash);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return mlc_err_set(err, MLC_PERM, "event: event_id input too long");
    return sha256_hex(buf, (size_t)n, out, MLC_EVENT_ID_HEX, err);
}

/* ---- validation ------------------------------------------------------------------------------ */

enum vkind { V_STR, V_AMOUNT, V_BOOL, V_STATUS, V_DATE, V_COUNT, V_PCT };

struct vfield {
    const char *name;
    enum vkind kind;
    bool required;
};

static const struct vfield customer_fields[] = {
    {"name", V_STR, false},
    {"short_name", V_STR, false},
    {"address_line1", V_STR, false},
    {"address_line2", V_STR, false},
    {"address_line3", V_STR, false},
    {"address_line4", V_STR, false},
    {"city", V_STR, false},
    {"state", V_STR, false},
    {"postal_code", V_STR, false},
    {"country", V_STR, false},
    {"phone", V_STR, false},
    {"fax", V_STR, false},
    {"email", V_STR, false},
    {"website", V_STR, false},
    {"contact_name", V_STR, false},
    {"contact_phone", V_STR, false},
    {"contact_email", V_STR, false},
    {"terms_code", V_STR, false},
    {"terms_description", V_STR, false},
    {"credit_limit", V_AMOUNT, true},
    {"currency", V_STR, false},
    {"group", V_STR, false},
    {"status", V_STATUS, true},
    {"on_hold", V_BOOL, true},
    {"inactive_date", V_DATE, false},
};

_Static_assert(ARRAY_SIZE(customer_fields) <= 64, "seen mask");

/* v2's credit object; credit_used_pct's presence is checked against the
 * customer's credit limit separately. */
static const struct vfield credit_fields[] = {
    {"balance_due", V_AMOUNT, true},      {"amount_past_due", V_AMOUNT, true},
    {"credit_used_pct", V_PCT, false},    {"open_documents", V_COUNT, true},
    {"last_invoice_date", V_DATE, false}, {"last_receipt_date", V_DATE, false},
};

static const char *const top_keys[] = {
    "schema",     "event_id", "op",     "company", "customer_number", "content_hash",
    "emitted_at", "customer", "source", "credit"}; /* credit last: v1 stops before it */
static const char *const source_keys[] = {"base_url", "last_maintained", "read_at"};

static mlc_rc bad(struct mlc_err *err, const char *path, const char *what)
{
    return mlc_err_set(err, MLC_PERM, "event: %s: %s", path, what);
}

/* "event: <prefix><name>: <what>" */
static mlc_rc bad2(struct mlc_err *err, const char *prefix, const char *name, const char *what)
{
    return mlc_err_set(err, MLC_PERM, "event: %s%s: %s", prefix, name, what);
}

/* Refuses unknown and duplicate keys of obj; names[] lists the allowed ones.
 * found (count entries, may be NULL) receives each allowed key's item. One
 * pass, and messages are formatted only on failure: this runs per event. */
static mlc_rc check_keys(const cJSON *obj, const char *prefix, const void *table, size_t stride,
                         size_t count, const cJSON **found, struct mlc_err *err)
{
#define NAME_AT(i) (*(const char *const *)((const char *)table + (i)*stride))
    uint64_t seen = 0;
    const cJSON *c;
    char name[65];

    cJSON_ArrayForEach(c, obj)
    {
        size_t i;
        for (i = 0; i < count; i++)
            if (c->string[0] == NAME_AT(i)[0] && strcmp(c->string, NAME_AT(i)) == 0)
                break;
        if (i == count)
            return bad2(err, prefix, safe_name(c->string, name, sizeof(name)), "unknown key");
        if (seen & ((uint64_t)1 << i))
            return bad2(err, prefix, NAME_AT(i), "duplicate key");
        seen |= (uint64_t)1 << i;
        if (found)
            found[i] = c;
    }
    return MLC_OK;
#undef NAME_AT
}

static mlc_rc check_string(const cJSON *it, const char *prefix, const char *name,
                           struct mlc_err *err)
{
    size_t n;

    if (!cJSON_IsString(it) || !it->valuestring)
        return bad2(err, prefix, name, "expected a string");
    n = strlen(it->valuestring);
    if (n == 0)
        return bad2(err, prefix, name, "empty string (omit the key instead)");
    if (n > MLC_EVENT_MAX_STRING)
        return mlc_err_set(err, MLC_PERM, "event: %s%s: longer than %d bytes", prefix, name,
                           MLC_EVENT_MAX_STRING);
    if (!mlc_utf8_valid(it->valuestring, n))
        return bad2(err, prefix, name, "not valid utf-8");
    return MLC_OK;
}

/* Checks obj (named what, e.g. "customer") against fields[n]. */
static mlc_rc check_fields(const cJSON *obj, const char *what, const char *pre,
                           const struct vfield *fields, size_t n, struct mlc_err *err)
{
    const cJSON *found[64] = {0};
    mlc_rc rc;

    if (!cJSON_IsObject(obj))
        return bad(err, what, "expected an object");
    if ((rc = check_keys(obj, pre, fields, sizeof(fields[0]), n, found, err)) != MLC_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        const struct vfield *f = &fields[i];
        const cJSON *it = found[i];

        if (!it) {
            if (f->required)
                return bad2(err, pre, f->name, "is required");
            continue;
        }
        switch (f->kind) {
        case V_STR:
            if ((rc = check_string(it, pre, f->name, err)) != MLC_OK)
                return rc;
            break;
        case V_AMOUNT:
            if (!cJSON_IsNumber(it))
                return bad2(err, pre, f->name, "expected a number");
            if (!isfinite(it->valuedouble) || fabs(it->valuedouble) >= MLC_EVENT_MAX_AMOUNT)
                return bad2(err, pre, f->name, "number out of range");
            break;
        case V_BOOL:
            if (!cJSON_IsBool(it))
                return bad2(err, pre, f->name, "expected true or false");
            break;
        case V_STATUS:
            if (!cJSON_IsString(it) || !it->valuestring)
                return bad2(err, pre, f->name, "expected a string");
            if (strcmp(it->valuestring, "active") != 0 && strcmp(it->valuestring, "inactive") != 0)
                return bad2(err, pre, f->name, "expected one of active, inactive");
            break;
        case V_DATE:
            if (!cJSON_IsString(it) || !it->valuestring)
                return bad2(err, pre, f->name, "expected a string");
            if (!mlc_event_date_valid(it->valuestring))
                return bad2(err, pre, f->name, "expected a date YYYY-MM-DD");
            break;
        case V_COUNT:
            if (!cJSON_IsNumber(it))
                return bad2(err, pre, f->name, "expected a number");
            if (!isfinite(it->valuedouble) || it->valuedouble < 0 ||
                it->valuedouble > MLC_EVENT_MAX_OPEN_DOCS ||
                it->valuedouble != floor(it->valuedouble))
                return bad2(err, pre, f->name, "expected a whole number 0-9999");
            break;
        case V_PCT:
            if (!cJSON_IsNumber(it))
                return bad2(err, pre, f->name, "expected a number");
            if (!isfinite(it->valuedouble) || fabs(it->valuedouble) > MLC_EVENT_MAX_PCT)
                return bad2(err, pre, f->name, "number out of range");
            break;
        }
    }
    return MLC_OK;
}

static mlc_rc check_customer(const cJSON *cust, struct mlc_err *err)
{
    return check_fields(cust, "customer", "customer.", customer_fields, ARRAY_SIZE(customer_fields),
                        err);
}

/* v2's credit object of customer cust (already checked). */
static mlc_rc check_credit(const cJSON *credit, const cJSON *cust, struct mlc_err *err)
{
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(cust, "credit_limit");
    const cJSON *pct;
    mlc_rc rc;

    if ((rc = check_fields(credit, "credit", "credit.", credit_fields, ARRAY_SIZE(credit_fields),
                           err)) != MLC_OK)
        return rc;
    pct = cJSON_GetObjectItemCaseSensitive(credit, "credit_used_pct");
    if (limit->valuedouble > 0 && !pct)
        return bad(err, "credit.credit_used_pct", "is required when customer.credit_limit > 0");
    if (limit->valuedouble <= 0 && pct)
        return bad(err, "credit.credit_used_pct",
                   "must be absent when customer.credit_limit is 0 (no limit)");
    return MLC_OK;
}

static const char *get_str(const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* Long because it checks the keys in the schema's order, each naming its own.
 * Checks every rule but the Kafka key; fills the borrowed fields of ev.
 * verify_hashes recomputes content_hash and event_id (decode always does;
 * build and encode trust the values mlc_event_build computed). */
static mlc_rc validate_tree(const cJSON *root, struct mlc_event *ev, bool verify_hashes,
                            struct mlc_err *err)
{
    const cJSON *it, *src;
    char hash[MLC_EVENT_HASH_HEX + 1], id[MLC_EVENT_ID_HEX + 1];
    mlc_rc rc;

    if (!cJSON_IsObject(root))
        return mlc_err_set(err, MLC_PERM, "event: expected a json object");
    /* The version first: it decides which keys exist. */
    it = cJSON_GetObjectItemCaseSensitive(root, "schema");
    if (!it)
        return bad(err, "schema", "is required");
    if (!cJSON_IsString(it) || !it->valuestring)
        return bad(err, "schema", "expected a string");
    if (strcmp(it->valuestring, MLC_EVENT_SCHEMA_V1) == 0) {
        ev->version = 1;
    } else if (strcmp(it->valuestring, MLC_EVENT_SCHEMA_V2) == 0) {
        ev->version = 2;
    } else {
        char name[80];
        return mlc_err_set(err, MLC_PERM,
                           MLC_EVENT_ERR_UNSUPPORTED
                           " \"%s\" (this build reads " MLC_EVENT_SCHEMA_V1
                           " and " MLC_EVENT_SCHEMA_V2 ")",
                           safe_name(it->valuestring, name, sizeof(name)));
    }
    if ((rc = check_keys(root, "", top_keys, sizeof(top_keys[0]),
                         ev->version == 1 ? ARRAY_SIZE(top_keys) - 1 : ARRAY_SIZE(top_keys), NULL,
                         err)) != MLC_OK)
        return rc;
    for (size_t i = 0; i < ARRAY_SIZE(top_keys); i++)
        if (strcmp(top_keys[i], "customer") != 0 && strcmp(top_keys[i], "credit") != 0 &&
            !cJSON_GetObjectItemCaseSensitive(root, top_keys[i]))
            return bad(err, top_keys[i], "is required");

    if (!(ev->event_id = get_str(root, "event_id")) || !hex_valid(ev->event_id, MLC_EVENT_ID_HEX))
        return bad(err, "event_id", "expected 32 lower-case hex characters");
    it = cJSON_GetObjectItemCaseSensitive(root, "op");
    if (!cJSON_IsString(it))
        return bad(err, "op", "expected a string");
    if (strcmp(it->valuestring, "upsert") == 0)
        ev->op = MLC_EVENT_UPSERT;
    else if (strcmp(it->valuestring, "missing") == 0)
        ev->op = MLC_EVENT_MISSING;
    else
        return bad(err, "op", "expected one of upsert, missing");
    if (!(ev->company = get_str(root, "company")) || !mlc_event_company_valid(ev->company))
        return bad(err, "company", "expected 1-32 of [A-Za-z0-9_-]");
    if (!(ev->customer_number = get_str(root, "customer_number")) ||
        !mlc_event_number_valid(ev->customer_number))
        return bad(err, "customer_number",
                   "expected 1-64 bytes of utf-8 without control characters, not blank");
    if (!(ev->content_hash = get_str(root, "content_hash")) ||
        !hex_valid(ev->content_hash, MLC_EVENT_HASH_HEX))
        return bad(err, "content_hash", "expected 64 lower-case hex characters");
    if (!(ev->emitted_at = get_str(root, "emitted_at")) || !timestamp_valid(ev->emitted_at))
        return bad(err, "emitted_at", "expected a utc time YYYY-MM-DDTHH:MM:SSZ");

    it = cJSON_GetObjectItemCaseSensitive(root, "customer");
    if (ev->op == MLC_EVENT_UPSERT) {
        if (!it)
            return bad(err, "customer", "is required when op is upsert");
        if ((rc = check_customer(it, err)) != MLC_OK)
            return rc;
        ev->customer = it;
    } else {
        if (it)
            return bad(err, "customer", "must be absent when op is missing");
        ev->customer = NULL;
    }
    it = cJSON_GetObjectItemCaseSensitive(root, "credit");
    ev->credit = NULL;
    if (ev->version >= 2 && ev->op == MLC_EVENT_UPSERT) {
        if (!it)
            return bad(err, "credit", "is required when op is upsert");
        if ((rc = check_credit(it, ev->customer, err)) != MLC_OK)
            return rc;
        ev->credit = it;
    } else if (it) {
        return bad(err, "credit", "must be absent when op is missing");
    }

    src = cJSON_GetObjectItemCaseSensitive(root, "source");
    if (!cJSON_IsObject(src))
        return bad(err, "source", "expected an object");
    if ((rc = check_keys(src, "source.", source_keys, sizeof(source_keys[0]),
                         ARRAY_SIZE(source_keys), NULL, err)) != MLC_OK)
        return rc;
    it = cJSON_GetObjectItemCaseSensitive(src, "base_url");
    if (!it)
        return bad(err, "source.base_url", "is required");
    if (!cJSON_IsString(it) || !base_url_valid(it->valuestring))
        return bad(err, "source.base_url", "expected an http(s) url without credentials");
    ev->base_url = it->valuestring;
    it = cJSON_GetObjectItemCaseSensitive(src, "last_maintained");
    if (!it)
        return bad(err, "source.last_maintained", "is required (null when unknown)");
    if (cJSON_IsNull(it))
        ev->last_maintained = NULL;
    else if (cJSON_IsString(it) && mlc_event_date_valid(it->valuestring))
        ev->last_maintained = it->valuestring;
    else
        return bad(err, "source.last_maintained", "expected a date YYYY-MM-DD or null");
    if (!(ev->read_at = get_str(src, "read_at")) || !timestamp_valid(ev->read_at))
        return bad(err, "source.read_at", "expected a utc time YYYY-MM-DDTHH:MM:SSZ");

    if (!verify_hashes)
        return MLC_OK;
    rc = ev->version == 1 ? mlc_event_content_hash(ev->customer, hash, err)
                          : mlc_event_content_hash_v2(ev->customer, ev->credit, hash, err);
    if (rc != MLC_OK)
        return rc == MLC_PERM ? mlc_err_prefix(err, "event: customer") : rc;
    if (strcmp(hash, ev->content_hash) != 0)
        return bad(err, "content_hash",
                   ev->version == 1 ? "does not match the canonical customer"
                                    : "does not match the canonical credit and customer");
    if ((rc = mlc_event_id(ev->company, ev->customer_number, ev->op, ev->content_hash, id, err)) !=
        MLC_OK)
        return rc;
    if (strcmp(id, ev->event_id) != 0)
        return bad(err, "event_id", "does not match company, customer_number, op and hash");
    return MLC_OK;
}

/* ---- build, encode, decode ----------------------------------------------------------------- */

static bool format_time(time_t t, char out[21])
{
    struct tm tm;

    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999)
        return false;
    return strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 20;
}

mlc_rc mlc_event_build(const char *company, const char *number, const cJSON *customer,
                       const struct mlc_event_source *src, time_t emitted_at, cJSON **out,
                       struct mlc_err *err)
{
    return mlc_event_build_version(1, company, number, customer, NULL, src, emitted_at, out, err);
}

mlc_rc mlc_event_build_version(int version, const char *company, const char *number,
                               const cJSON *customer, const cJSON *credit,
                               const struct mlc_event_source *src, time_t emitted_at, cJSON **out,
                               struct mlc_err *err)
{
    const char *schema = mlc_event_schema_name(version);
    enum mlc_event_op op = customer ? MLC_EVENT_UPSERT : MLC_EVENT_MISSING;
    char hash[MLC_EVENT_HASH_HEX + 1], id[MLC_EVENT_ID_HEX + 1], key[MLC_EVENT_MAX_KEY + 1];
    char emitted[21], read_at[21];
    cJSON *ev, *s;
    struct mlc_event view = {0};
    mlc_rc rc;

    *out = NULL;
    if (!schema)
        return mlc_err_set(err, MLC_PERM, "event: version %d: expected 1 or 2", version);
    if (version == 1)
        credit = NULL; /* v1 does not carry it */
    if ((rc = mlc_event_key(company, number, key, sizeof(key), err)) != MLC_OK)
        return rc;
    if (customer && !cJSON_IsObject(customer))
        return bad(err, "customer", "expected an object");
    if (version >= 2 && customer && !credit)
        return bad(err, "credit", "is required when op is upsert");
    if (!customer && credit)
        return bad(err, "credit", "must be absent when op is missing");
    if (!src || !src->base_url)
        return bad(err, "source.base_url", "is required");
    if (!format_time(emitted_at, emitted))
        return bad(err, "emitted_at", "time out of range");
    if (!format_time(src->read_at, read_at))
        return bad(err, "source.read_at", "time out of range");
    rc = version == 1 ? mlc_event_content_hash(customer, hash, err)
                      : mlc_event_content_hash_v2(customer, credit, hash, err);
    if (rc != MLC_OK)
        return rc == MLC_PERM ? mlc_err_prefix(err, "event: customer") : rc;
    if ((rc = mlc_event_id(company, number, op, hash, id, err)) != MLC_OK)
        return rc;

    /* Every string below is non-NULL (checked above or a local array), so
     * cJSON can fail here only to allocate, which aborts (ADR 0010). */
    ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "schema", schema);
    cJSON_AddStringToObject(ev, "event_id", id);
    cJSON_AddStringToObject(ev, "op", mlc_event_op_name(op));
    cJSON_AddStringToObject(ev, "company", company);
    cJSON_AddStringToObject(ev, "customer_number", number);
    cJSON_AddStringToObject(ev, "content_hash", hash);
    cJSON_AddStringToObject(ev, "emitted_at", emitted);
    if (customer)
        cJSON_AddItemToObject(ev, "customer", cJSON_Duplicate(customer, 1));
    if (credit)
        cJSON_AddItemToObject(ev, "credit", cJSON_Duplicate(credit, 1));
    s = cJSON_AddObjectToObject(ev, "source");
    cJSON_AddStringToObject(s, "base_url", src->base_url);
    if (src->last_maintained && src->last_maintained[0])
        cJSON_AddStringToObject(s, "last_maintained", src->last_maintained);
    else
        cJSON_AddNullToObject(s, "last_maintained");
    cJSON_AddStringToObject(s, "read_at", read_at);
    if ((rc = validate_tree(ev, &view, false, err)) != MLC_OK) {
        cJSON_Delete(ev);
        return rc;
    }
    *out = ev;
    return MLC_OK;
}

mlc_rc mlc_event_encode(const cJSON *event, struct mlc_buf *out, struct mlc_err *err)
{
    struct mlc_event view = {0};
    mlc_rc rc;

    mlc_buf_reset(out);
    if ((rc = validate_tree(event, &view, false, err)) != MLC_OK)
        return rc;
    if ((rc = mlc_event_canonical(event, out, err)) != MLC_OK)
        return rc;
    if (out->len > MLC_EVENT_MAX_BYTES) {
        rc = mlc_err_set(err, MLC_PERM, "event: encoded size %zu bytes exceeds %d", out->len,
                         MLC_EVENT_MAX_BYTES);
        mlc_buf_reset(out);
    }
    return rc;
}

mlc_rc mlc_event_decode(const char *key, size_t key_len, const char *value, size_t value_len,
                        struct mlc_event *ev, struct mlc_err *err)
{
    char expect[MLC_EVENT_MAX_KEY + 1];
    const char *end = NULL;
    char *copy = NULL;
    cJSON *root = NULL;
    mlc_rc rc = MLC_PERM;

    memset(ev, 0, sizeof(*ev));
    if (!value || value_len == 0) {
        mlc_err_set(err, MLC_PERM, "event: empty value");
        goto out;
    }
    if (value_len > MLC_EVENT_MAX_BYTES) {
        mlc_err_set(err, MLC_PERM, "event: value is %zu bytes, more than %d", value_len,
                    MLC_EVENT_MAX_BYTES);
        goto out;
    }
    if (memchr(value, '\0', value_len)) {
        mlc_err_set(err, MLC_PERM, "event: value contains a nul byte");
        goto out;
    }
    if (!mlc_utf8_valid(value, value_len)) {
        mlc_err_set(err, MLC_PERM, "event: value is not valid utf-8");
        goto out;
    }
    copy = mlc_xmalloc(value_len + 1);
    memcpy(copy, value, value_len);
    copy[value_len] = '\0';
    if (!(root = cJSON_ParseWithOpts(copy, &end, 1))) {
        mlc_err_set(err, MLC_PERM, "event: invalid json near byte %zu",
                    end && end >= copy ? (size_t)(end - copy) : (size_t)0);
        goto out;
    }
    if ((rc = validate_tree(root, ev, true, err)) != MLC_OK)
        goto out;
    if (key) {
        if (mlc_event_key(ev->company, ev->customer_number, expect, sizeof(expect), err) !=
                MLC_OK ||
            key_len != strlen(expect) || memcmp(key, expect, key_len) != 0) {
            rc = mlc_err_set(err, MLC_PERM,
                             "event: kafka key does not equal company:customer_number");
            goto out;
        }
    }
    ev->root = root;
    root = NULL;
    rc = MLC_OK;
out:
    if (rc != MLC_OK)
        memset(ev, 0, sizeof(*ev));
    cJSON_Delete(root);
    free(copy);
    return rc;
}

void mlc_event_free(struct mlc_event *ev)
{
    if (!ev)
        return;
    cJSON_Delete(ev->root);
    memset(ev, 0, sizeof(*ev));
}
