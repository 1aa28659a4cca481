/* sage_customer.c - ARCustomers record normalisation and the ARTerms table.
 * See sage_customer.h for the rules. */
#include "sage_customer.h"
#include "mlc_alloc.h"

#include "mlc_str.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A Sage field is at most 100 characters; anything far longer is refused
 * before it is copied. */
#define RAW_MAX (64 * 1024)

struct str_map {
    const char *sage;
    const char *event;
};

static const struct str_map string_fields[] = {
    {"CustomerName", "name"},
    {"ShortName", "short_name"},
    {"AddressLine1", "address_line1"},
    {"AddressLine2", "address_line2"},
    {"AddressLine3", "address_line3"},
    {"AddressLine4", "address_line4"},
    {"City", "city"},
    {"StateProvince", "state"},
    {"ZipPostalCode", "postal_code"},
    {"Country", "country"},
    {"PhoneNumber", "phone"},
    {"FaxNumber", "fax"},
    {"Email", "email"},
    {"WebSite", "website"},
    {"ContactName", "contact_name"},
    {"ContactsPhone", "contact_phone"},
    {"ContactsEmail", "contact_email"},
    {"Terms", "terms_code"},
    {"CurrencyCode", "currency"},
    {"GroupCode", "group"},
};

const char *const sage_customer_properties[] = {
    "CustomerNumber",
    "ShortName",
    "GroupCode",
    "Status",
    "InactiveDate",
    "DateLastMaintained",
    "OnHold",
    "CustomerName",
    "AddressLine1",
    "AddressLine2",
    "AddressLine3",
    "AddressLine4",
    "City",
    "StateProvince",
    "ZipPostalCode",
    "Country",
    "ContactName",
    "PhoneNumber",
    "FaxNumber",
    "CurrencyCode",
    "Terms",
    "CreditLimitCustomerCurrency",
    "ContactsEmail",
    "Email",
    "WebSite",
    "ContactsPhone",
    /* the credit picture (event v2's credit object) */
    "BalanceDueInCustomerCurrency",
    "AmountPastDue",
    "NumberOfOpenDocuments",
    "DateOfLastInvoice",
    "DateOfLastReceipt",
};
const size_t sage_customer_property_count = ARRAY_SIZE(sage_customer_properties);

/* ---- helpers ------------------------------------------------------------------------------ */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Trimmed copy of s (caller frees) in *out; *out NULL when empty. */
static void trimmed_copy(const char *s, char **out, size_t *outlen)
{
    size_t n = strlen(s);

    *out = NULL;
    *outlen = 0;
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    while (n > 0 && is_blank(*s)) {
        s++;
        n--;
    }
    if (n == 0)
        return;
    *out = mlc_xstrndup(s, n);
    *outlen = n;
}

static void safe_copy(const char *in, char *out, size_t outsz)
{
    size_t j = 0;

    for (size_t i = 0; in[i] && j + 1 < outsz; i++)
        out[j++] = ((unsigned char)in[i] >= 0x20 && in[i] != 0x7f) ? in[i] : '?';
    out[j] = '\0';
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

bool sage_date_parse(const char *s, char out[11])
{
    const char *t;

    out[0] = '\0';
    if (!s || strlen(s) < 10)
        return false;
    memcpy(out, s, 10);
    out[10] = '\0';
    if (!mlc_event_date_valid(out))
        goto bad;
    t = s + 10;
    if (*t == '\0')
        return true;
    /* THH:MM:SS */
    if (t[0] != 'T' || strlen(t) < 9 || !digits(t + 1, 2) || t[3] != ':' || !digits(t + 4, 2) ||
        t[6] != ':' || !digits(t + 7, 2))
        goto bad;
    if ((t[1] - '0') * 10 + (t[2] - '0') > 23 || (t[4] - '0') * 10 + (t[5] - '0') > 59 ||
        (t[7] - '0') * 10 + (t[8] - '0') > 60)
        goto bad;
    t += 9;
    if (*t == '.') {
        size_t n = 0;
        t++;
        while (isdigit((unsigned char)t[n]))
            n++;
        if (n == 0 || n > 9)
            goto bad;
        t += n;
    }
    if (*t == '\0' || (t[0] == 'Z' && t[1] == '\0'))
        return true;
    /* +HH:MM or -HH:MM: the date is taken as written, never shifted */
    if ((t[0] == '+' || t[0] == '-') && strlen(t) == 6 && digits(t + 1, 2) && t[3] == ':' &&
        digits(t + 4, 2) && (t[1] - '0') * 10 + (t[2] - '0') <= 14 &&
        (t[4] - '0') * 10 + (t[5] - '0') <= 59)
        return true;
bad:
    out[0] = '\0';
    return false;
}

/* ---- terms ----------------------------------------------------------------------------------- */

struct term {
    char *code;
    char *desc; /* NULL: none */
};

struct sage_terms {
    struct term *v;
    size_t n, cap;
};

struct sage_terms *sage_terms_new(void)
{
    return mlc_xcalloc(1, sizeof(struct sage_terms));
}

void sage_terms_free(struct sage_terms *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].code);
        free(t->v[i].desc);
    }
    free(t->v);
    free(t);
}

size_t sage_terms_count(const struct sage_terms *t)
{
    return t ? t->n : 0;
}

/* Index of code, or where it would be inserted (*found false). */
static size_t terms_find(const struct sage_terms *t, const char *code, bool *found)
{
    size_t lo = 0, hi = t->n;

    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->v[mid].code, code);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

mlc_rc sage_terms_add(struct sage_terms *t, const char *code, const char *description,
                      struct mlc_err *err)
{
    char *c = NULL, *d = NULL;
    size_t clen, dlen = 0;
    bool found;
    size_t at;
    mlc_rc rc = MLC_PERM;

    if (!code)
        return mlc_err_set(err, MLC_PERM, "terms: TermsCode: missing");
    if (strlen(code) > RAW_MAX || (description && strlen(description) > RAW_MAX))
        return mlc_err_set(err, MLC_PERM, "terms: value longer than %d bytes", RAW_MAX);
    trimmed_copy(code, &c, &clen);
    if (description)
        trimmed_copy(description, &d, &dlen);
    if (!c) {
        rc = mlc_err_set(err, MLC_PERM, "terms: TermsCode: empty");
        goto out;
    }
    if (clen > MLC_EVENT_MAX_STRING || dlen > MLC_EVENT_MAX_STRING) {
        rc = mlc_err_set(err, MLC_PERM, "terms: value longer than %d bytes", MLC_EVENT_MAX_STRING);
        goto out;
    }
    if (!mlc_utf8_valid(c, clen) || (d && !mlc_utf8_valid(d, dlen))) {
        rc = mlc_err_set(err, MLC_PERM, "terms: value is not valid utf-8");
        goto out;
    }
    at = terms_find(t, c, &found);
    if (found) {
        free(t->v[at].desc);
        t->v[at].desc = d;
        d = NULL;
        rc = MLC_OK;
        goto out;
    }
    if (t->n >= SAGE_TERMS_MAX) {
        rc = mlc_err_set(err, MLC_PERM, "terms: more than %d codes", SAGE_TERMS_MAX);
        goto out;
    }
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;

        t->v = mlc_xreallocarray(t->v, ncap, sizeof(*t->v));
        t->cap = ncap;
    }
    memmove(t->v + at + 1, t->v + at, (t->n - at) * sizeof(*t->v));
    t->v[at].code = c;
    t->v[at].desc = d;
    t->n++;
    return MLC_OK;
out:
    free(c);
    free(d);
    return rc;
}

mlc_rc sage_terms_add_record(struct sage_terms *t, const cJSON *rec, struct mlc_err *err)
{
    const cJSON *code, *desc;

    if (!cJSON_IsObject(rec))
        return mlc_err_set(err, MLC_PERM, "terms: record is not an object");
    code = cJSON_GetObjectItemCaseSensitive(rec, "TermsCode");
    desc = cJSON_GetObjectItemCaseSensitive(rec, "Description");
    if (!code)
        return mlc_err_set(err, MLC_PERM, "terms: TermsCode: missing");
    if (!cJSON_IsString(code))
        return mlc_err_set(err, MLC_PERM, "terms: TermsCode: expected a string");
    if (desc && !cJSON_IsNull(desc) && !cJSON_IsString(desc))
        return mlc_err_set(err, MLC_PERM, "terms: Description: expected a string or null");
    return sage_terms_add(t, code->valuestring, cJSON_IsString(desc) ? desc->valuestring : NULL,
                          err);
}

const char *sage_terms_lookup(const struct sage_terms *t, const char *code)
{
    char *c = NULL;
    size_t clen, at;
    bool found = false;

    if (!t || !code || t->n == 0)
        return NULL;
    trimmed_copy(code, &c, &clen);
    if (!c)
        return NULL;
    at = terms_find(t, c, &found);
    free(c);
    return found ? t->v[at].desc : NULL;
}

/* ---- customers ------------------------------------------------------------------------------- */

/* Reads a required amount property into obj[key]. */
static mlc_rc add_amount(cJSON *obj, const cJSON *rec, const char *sage, const char *key,
                         bool whole, const char *who, struct mlc_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(rec, sage);

    if (!it)
        return mlc_err_set(err, MLC_PERM, "%s: %s: missing", who, sage);
    if (!cJSON_IsNumber(it))
        return mlc_err_set(err, MLC_PERM, "%s: %s: expected a number", who, sage);
    if (!isfinite(it->valuedouble) || fabs(it->valuedouble) >= MLC_EVENT_MAX_AMOUNT)
        return mlc_err_set(err, MLC_PERM, "%s: %s: out of range", who, sage);
    if (whole && (it->valuedouble < 0 || it->valuedouble > MLC_EVENT_MAX_OPEN_DOCS ||
                  it->valuedouble != floor(it->valuedouble)))
        return mlc_err_set(err, MLC_PERM, "%s: %s: expected a whole number 0-%d", who, sage,
                           MLC_EVENT_MAX_OPEN_DOCS);
    cJSON_AddNumberToObject(obj, key, it->valuedouble);
    return MLC_OK;
}

static mlc_rc read_date(const cJSON *rec, const char *sage, char out[11], const char *who,
                        struct mlc_err *err);

/* The credit object of event v2 (docs/events.md) into *out; NULL when the
 * record carries none of the credit properties (read without them). cust is
 * the normalised customer (its credit_limit). */
static mlc_rc read_credit(const cJSON *rec, const cJSON *cust, const char *who, cJSON **out,
                          struct mlc_err *err)
{
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(cust, "credit_limit");
    const cJSON *bal;
    cJSON *cr;
    char date[11];
    double pct;
    mlc_rc rc;

    *out = NULL;
    if (!cJSON_GetObjectItemCaseSensitive(rec, "BalanceDueInCustomerCurrency") &&
        !cJSON_GetObjectItemCaseSensitive(rec, "AmountPastDue") &&
        !cJSON_GetObjectItemCaseSensitive(rec, "NumberOfOpenDocuments"))
        return MLC_OK;
    cr = cJSON_CreateObject();
    if ((rc = add_amount(cr, rec, "BalanceDueInCustomerCurrency", "balance_due", false, who,
                         err)) != MLC_OK ||
        (rc = add_amount(cr, rec, "AmountPastDue", "amount_past_due", false, who, err)) != MLC_OK ||
        (rc = add_amount(cr, rec, "NumberOfOpenDocuments", "open_documents", true, who, err)) !=
            MLC_OK)
        goto fail;
    bal = cJSON_GetObjectItemCaseSensitive(cr, "balance_due");
    if (mlc_event_credit_used_pct(bal->valuedouble, limit ? limit->valuedouble : 0, &pct))
        cJSON_AddNumberToObject(cr, "credit_used_pct", pct);
    if ((rc = read_date(rec, "DateOfLastInvoice", date, who, err)) != MLC_OK)
        goto fail;
    if (date[0])
        cJSON_AddStringToObject(cr, "last_invoice_date", date);
    if ((rc = read_date(rec, "DateOfLastReceipt", date, who, err)) != MLC_OK)
        goto fail;
    if (date[0])
        cJSON_AddStringToObject(cr, "last_receipt_date", date);
    *out = cr;
    return MLC_OK;
fail:
    cJSON_Delete(cr);
    return rc;
}

void sage_customer_free(struct sage_customer *c)
{
    if (!c)
        return;
    cJSON_Delete(c->customer);
    cJSON_Delete(c->credit);
    memset(c, 0, sizeof(*c));
}

/* Adds the normalised string of rec[sage] as cust[key] unless empty. */
static mlc_rc add_string(cJSON *cust, const cJSON *rec, const char *sage, const char *key,
                         const char *who, struct mlc_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(rec, sage);
    char *v = NULL;
    size_t n;
    mlc_rc rc = MLC_OK;

    if (!it || cJSON_IsNull(it))
        return MLC_OK;
    if (!cJSON_IsString(it) || !it->valuestring)
        return mlc_err_set(err, MLC_PERM, "%s: %s: expected a string or null", who, sage);
    if (strlen(it->valuestring) > RAW_MAX)
        return mlc_err_set(err, MLC_PERM, "%s: %s: longer than %d bytes", who, sage,
                           MLC_EVENT_MAX_STRING);
    trimmed_copy(it->valuestring, &v, &n);
    if (!v)
        return MLC_OK;
    if (n > MLC_EVENT_MAX_STRING)
        rc = mlc_err_set(err, MLC_PERM, "%s: %s: longer than %d bytes", who, sage,
                         MLC_EVENT_MAX_STRING);
    else if (!mlc_utf8_valid(v, n))
        rc = mlc_err_set(err, MLC_PERM, "%s: %s: not valid utf-8", who, sage);
    else
        cJSON_AddStringToObject(cust, key, v);
    free(v);
    return rc;
}

/* Reads a date property: absent/null/"" -> out "" ; invalid -> MLC_PERM. */
static mlc_rc read_date(const cJSON *rec, const char *sage, char out[11], const char *who,
                        struct mlc_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(rec, sage);

    out[0] = '\0';
    if (!it || cJSON_IsNull(it))
        return MLC_OK;
    if (!cJSON_IsString(it) || !it->valuestring)
        return mlc_err_set(err, MLC_PERM, "%s: %s: expected a date string or null", who, sage);
    if (it->valuestring[0] == '\0')
        return MLC_OK;
    if (!sage_date_parse(it->valuestring, out))
        return mlc_err_set(err, MLC_PERM, "%s: %s: not a date (YYYY-MM-DD[THH:MM:SS[Z|+HH:MM]])",
                           who, sage);
    return MLC_OK;
}

/* Long because each field of the record is checked in place, in the record's
 * order, so that each error names the Sage 300 field that is wrong. */
/* CustomerNumber into out->number: the one field a record is known by. */
static mlc_rc read_number(const cJSON *rec, struct sage_customer *out, struct mlc_err *err)
{
    const cJSON *num = cJSON_GetObjectItemCaseSensitive(rec, "CustomerNumber");

    if (!num)
        return mlc_err_set(err, MLC_PERM, "record: CustomerNumber: missing");
    if (!cJSON_IsString(num) || !num->valuestring)
        return mlc_err_set(err, MLC_PERM, "record: CustomerNumber: expected a string");
    if (num->valuestring[0] == '\0')
        return mlc_err_set(err, MLC_PERM, "record: CustomerNumber: empty");
    if (!mlc_event_number_valid(num->valuestring))
        return mlc_err_set(err, MLC_PERM,
                           "record: CustomerNumber: invalid (1-%d bytes of utf-8, no control "
                           "characters, not blank)",
                           MLC_EVENT_MAX_NUMBER);
    mlc_strlcpy(out->number, num->valuestring, sizeof(out->number));
    return MLC_OK;
}

static mlc_rc add_credit_limit(const cJSON *rec, cJSON *cust, const char *who, struct mlc_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(rec, "CreditLimitCustomerCurrency");

    if (!it)
        return mlc_err_set(err, MLC_PERM, "%s: CreditLimitCustomerCurrency: missing", who);
    if (!cJSON_IsNumber(it))
        return mlc_err_set(err, MLC_PERM, "%s: CreditLimitCustomerCurrency: expected a number",
                           who);
    if (!isfinite(it->valuedouble) || fabs(it->valuedouble) >= MLC_EVENT_MAX_AMOUNT)
        return mlc_err_set(err, MLC_PERM, "%s: CreditLimitCustomerCurrency: out of range", who);
    cJSON_AddNumberToObject(cust, "credit_limit", it->valuedouble);
    return MLC_OK;
}

static mlc_rc add_status(const cJSON *rec, cJSON *cust, const char *who, struct mlc_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(rec, "Status");

    if (!it)
        return mlc_err_set(err, MLC_PERM, "%s: Status: missing", who);
    if (!cJSON_IsString(it) || !it->valuestring)
        return mlc_err_set(err, MLC_PERM, "%s: Status: expected a string", who);
    if (strcasecmp(it->valuestring, "Active") == 0)
        cJSON_AddStringToObject(cust, "status", "active");
    else if (strcasecmp(it->valuestring, "Inactive") == 0)
        cJSON_AddStringToObject(cust, "status", "inactive");
    else
        return mlc_err_set(err, MLC_PERM, "%s: Status: expected Active or Inactive", who);
    return MLC_OK;
}

static mlc_rc add_on_hold(const cJSON *rec, cJSON *cust, const char *who, struct mlc_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(rec, "OnHold");

    if (!it)
        return mlc_err_set(err, MLC_PERM, "%s: OnHold: missing", who);
    if (cJSON_IsBool(it))
        cJSON_AddBoolToObject(cust, "on_hold", cJSON_IsTrue(it));
    else if (cJSON_IsString(it) && it->valuestring &&
             (strcasecmp(it->valuestring, "Yes") == 0 || strcasecmp(it->valuestring, "No") == 0))
        cJSON_AddBoolToObject(cust, "on_hold", strcasecmp(it->valuestring, "Yes") == 0);
    else
        return mlc_err_set(err, MLC_PERM, "%s: OnHold: expected Yes or No", who);
    return MLC_OK;
}

mlc_rc sage_customer_normalize(const cJSON *rec, const struct sage_terms *terms,
                               struct sage_customer *out, struct mlc_err *err)
{
    const cJSON *it;
    cJSON *cust = NULL;
    char who[MLC_EVENT_MAX_NUMBER + 16], safe[MLC_EVENT_MAX_NUMBER + 1], date[11];
    char keep[sizeof(out->number)];
    const char *desc;
    mlc_rc rc;

    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(rec))
        return mlc_err_set(err, MLC_PERM, "record: expected a json object");
    if ((rc = read_number(rec, out, err)) != MLC_OK)
        return rc;
    safe_copy(out->number, safe, sizeof(safe));
    snprintf(who, sizeof(who), "customer %s", safe);

    cust = cJSON_CreateObject();
    for (size_t i = 0; i < ARRAY_SIZE(string_fields); i++)
        if ((rc = add_string(cust, rec, string_fields[i].sage, string_fields[i].event, who, err)) !=
            MLC_OK)
            goto fail;
    /* terms_description from ARTerms, keyed by the normalised code */
    it = cJSON_GetObjectItemCaseSensitive(cust, "terms_code");
    if (it && (desc = sage_terms_lookup(terms, it->valuestring)))
        cJSON_AddStringToObject(cust, "terms_description", desc);
    if ((rc = add_credit_limit(rec, cust, who, err)) != MLC_OK ||
        (rc = add_status(rec, cust, who, err)) != MLC_OK ||
        (rc = add_on_hold(rec, cust, who, err)) != MLC_OK ||
        (rc = read_date(rec, "InactiveDate", date, who, err)) != MLC_OK)
        goto fail;
    if (date[0])
        cJSON_AddStringToObject(cust, "inactive_date", date);
    if ((rc = read_date(rec, "DateLastMaintained", out->last_maintained, who, err)) != MLC_OK ||
        (rc = read_credit(rec, cust, who, &out->credit, err)) != MLC_OK)
        goto fail;
    out->customer = cust;
    return MLC_OK;
fail:
    /* the number stays, so that the caller can say which record was skipped */
    cJSON_Delete(cust);
    memcpy(keep, out->number, sizeof(keep));
    memset(out, 0, sizeof(*out));
    memcpy(out->number, keep, sizeof(keep));
    return rc;
}
