/* pdsim_store.c - companies, tokens, fields and organizations of the Pipedrive sandbox. */
#include "pdsim_store.h"
#include "mlc_alloc.h"

#include "mlc_str.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const field_types[] = {
    "varchar",   "varchar_auto", "text", "double", "monetary", "date",   "daterange", "time",
    "timerange", "set",          "enum", "user",   "org",      "people", "phone",     "address",
};

const char *const pdsim_address_subfields[PDSIM_ADDRESS_SUBFIELDS] = {
    "value",
    "street_number",
    "route",
    "subpremise",
    "sublocality",
    "locality",
    "admin_area_level_1",
    "admin_area_level_2",
    "country",
    "postal_code",
};

bool pdsim_field_type_valid(const char *type)
{
    for (size_t i = 0; type && i < ARRAY_SIZE(field_types); i++)
        if (strcmp(type, field_types[i]) == 0)
            return true;
    return false;
}

void pdsim_time_format(long long epoch_s, char *buf, size_t bufsz)
{
    time_t t = (time_t)epoch_s;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, bufsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bool parse_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool pdsim_time_parse(const char *s, long long *epoch_s)
{
    int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
    struct tm tm;

    if (!s || strlen(s) < 20)
        return false;
    if (!parse_digits(s, 4, &y) || s[4] != '-' || !parse_digits(s + 5, 2, &mo) || s[7] != '-' ||
        !parse_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !parse_digits(s + 11, 2, &h) || s[13] != ':' || !parse_digits(s + 14, 2, &mi) ||
        s[16] != ':' || !parse_digits(s + 17, 2, &se))
        return false;
    if (strcmp(s + 19, "Z") == 0 || strcmp(s + 19, "z") == 0) {
        sign = 0;
    } else if ((s[19] == '+' || s[19] == '-') && strlen(s + 19) == 6 &&
               parse_digits(s + 20, 2, &oh) && s[22] == ':' && parse_digits(s + 23, 2, &om)) {
        sign = s[19] == '+' ? 1 : -1;
    } else {
        return false;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || oh > 23 || om > 59)
        return false;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *epoch_s = (long long)timegm(&tm) - sign * (oh * 3600LL + om * 60LL);
    return true;
}

static void field_free(struct pdsim_field *f)
{
    free(f->name);
    cJSON_Delete(f->options);
    memset(f, 0, sizeof(*f));
}

static void free_currencies(struct pdsim_company *co)
{
    for (size_t i = 0; i < co->ncurrencies; i++)
        free(co->currencies[i]);
    free(co->currencies);
    co->currencies = NULL;
    co->ncurrencies = 0;
}

static void company_free(struct pdsim_company *co)
{
    free_currencies(co);
    free(co->name);
    free(co->domain);
    free(co->user_name);
    free(co->user_email);
    for (size_t i = 0; i < co->ntokens; i++) {
        free(co->tokens[i].token);
        free(co->tokens[i].limits);
    }
    free(co->tokens);
    for (size_t i = 0; i < co->nfields; i++)
        field_free(&co->fields[i]);
    free(co->fields);
    for (size_t i = 0; i < co->norgs; i++)
        cJSON_Delete(co->orgs[i].doc);
    free(co->orgs);
    memset(co, 0, sizeof(*co));
}

void pdsim_store_init(struct pdsim_store *st)
{
    memset(st, 0, sizeof(*st));
    mlc_strlcpy(st->currencies_default, PDSIM_CURRENCIES_DEFAULT, sizeof(st->currencies_default));
}

void pdsim_store_free(struct pdsim_store *st)
{
    for (size_t i = 0; i < st->ncompanies; i++)
        company_free(&st->companies[i]);
    free(st->companies);
    st->companies = NULL;
    st->ncompanies = 0;
}

bool pdsim_currency_code_valid(const char *code)
{
    size_t n = 0;
    for (; code && code[n]; n++)
        if (!isalnum((unsigned char)code[n]) || (unsigned char)code[n] > 127)
            return false;
    return n >= 1 && n <= PDSIM_CURRENCY_CODE_MAX;
}

bool pdsim_currency_list_valid(const char *csv, char *msg, size_t msgsz)
{
    char buf[PDSIM_CURRENCIES_MAX];
    size_t n = 0;

    if (!csv || !mlc_strlcpy(buf, csv, sizeof(buf))) {
        snprintf(msg, msgsz, "expected a comma list of currency codes shorter than %d bytes",
                 PDSIM_CURRENCIES_MAX);
        return false;
    }
    for (char *p = buf, *next; p; p = next) {
        next = strchr(p, ',');
        if (next)
            *next++ = '\0';
        if (!pdsim_currency_code_valid(p)) {
            snprintf(msg, msgsz, "'%.32s' is not a currency code (1 to %d letters or digits)", p,
                     PDSIM_CURRENCY_CODE_MAX);
            return false;
        }
        n++;
    }
    if (n > 64) {
        snprintf(msg, msgsz, "at most 64 currency codes");
        return false;
    }
    return true;
}

mlc_rc pdsim_company_set_currencies(struct pdsim_company *co, const char *csv, struct mlc_err *err)
{
    char buf[PDSIM_CURRENCIES_MAX], msg[128];
    char **list = NULL;
    size_t n = 0;

    if (!pdsim_currency_list_valid(csv, msg, sizeof(msg)))
        return mlc_err_set(err, MLC_PERM, "currencies: %s", msg);
    mlc_strlcpy(buf, csv, sizeof(buf));
    list = mlc_xcalloc(65, sizeof(*list));
    for (char *p = buf, *next; p; p = next) {
        next = strchr(p, ',');
        if (next)
            *next++ = '\0';
        list[n++] = mlc_xstrdup(p);
    }
    free_currencies(co);
    co->currencies = list;
    co->ncurrencies = n;
    return MLC_OK;
}

bool pdsim_company_has_currency(const struct pdsim_company *co, const char *code)
{
    for (size_t i = 0; code && i < co->ncurrencies; i++)
        if (strcmp(co->currencies[i], code) == 0)
            return true;
    return false;
}

static struct pdsim_field *push_field(struct pdsim_company *co)
{
    co->fields = mlc_xreallocarray(co->fields, co->nfields + 1, sizeof(*co->fields));
    memset(&co->fields[co->nfields], 0, sizeof(*co->fields));
    return &co->fields[co->nfields++];
}

static void add_system_field(struct pdsim_company *co, const char *key, const char *name,
                             const char *type)
{
    struct pdsim_field *f = push_field(co);

    f->id = co->next_field_id++;
    mlc_strlcpy(f->key, key, sizeof(f->key));
    mlc_strlcpy(f->type, type, sizeof(f->type));
    f->name = mlc_xstrdup(name);
    f->is_custom = false;
}

static void ensure_system_fields(struct pdsim_company *co)
{
    if (!pdsim_company_field(co, "name"))
        add_system_field(co, "name", "Name", "varchar");
    if (!pdsim_company_field(co, "address"))
        add_system_field(co, "address", "Address", "address");
}

static void company_setup(struct pdsim_company *co, long id, const char *name, const char *domain)
{
    char buf[64];

    co->id = id;
    co->name = mlc_xstrdup(name ? name : "Sandbox Company");
    snprintf(buf, sizeof(buf), "sandbox-%ld", id);
    co->domain = mlc_xstrdup(domain ? domain : buf);
    co->user_id = id;
    co->user_name = mlc_xstrdup("Sandbox User");
    snprintf(buf, sizeof(buf), "user%ld@sandbox.invalid", id);
    co->user_email = mlc_xstrdup(buf);
    co->next_org_id = 1;
    co->next_field_id = 1;
    co->next_option_id = 1;
    pdsim_daily_init(&co->daily);
    ensure_system_fields(co);
}

struct pdsim_company *pdsim_store_add_company(struct pdsim_store *st, long id, const char *name,
                                              const char *domain, struct mlc_err *err)
{
    struct pdsim_company *co;

    st->companies = mlc_xreallocarray(st->companies, st->ncompanies + 1, sizeof(*st->companies));
    co = &st->companies[st->ncompanies];
    memset(co, 0, sizeof(*co));
    st->ncompanies++;
    company_setup(co, id, name, domain);
    if (pdsim_company_set_currencies(co, st->currencies_default, err) != MLC_OK) {
        company_free(co);
        st->ncompanies--;
        return NULL;
    }
    return co;
}

void pdsim_company_add_token(struct pdsim_company *co, const char *token)
{
    for (size_t i = 0; i < co->ntokens; i++)
        if (strcmp(co->tokens[i].token, token) == 0)
            return;
    co->tokens = mlc_xreallocarray(co->tokens, co->ntokens + 1, sizeof(*co->tokens));
    co->tokens[co->ntokens].token = mlc_xstrdup(token);
    co->tokens[co->ntokens].limits = mlc_xcalloc(1, sizeof(struct pdsim_token_state));
    co->ntokens++;
}

bool pdsim_store_find_token(struct pdsim_store *st, const char *token, struct pdsim_company **co,
                            struct pdsim_token **tok)
{
    if (!token || !*token)
        return false;
    for (size_t c = 0; c < st->ncompanies; c++) {
        for (size_t i = 0; i < st->companies[c].ntokens; i++) {
            if (strcmp(st->companies[c].tokens[i].token, token) == 0) {
                *co = &st->companies[c];
                *tok = &st->companies[c].tokens[i];
                return true;
            }
        }
    }
    return false;
}

struct pdsim_field *pdsim_company_field(struct pdsim_company *co, const char *key)
{
    for (size_t i = 0; key && i < co->nfields; i++)
        if (strcmp(co->fields[i].key, key) == 0)
            return &co->fields[i];
    return NULL;
}

static bool random_key(struct pdsim_company *co, char *out)
{
    unsigned char raw[PDSIM_KEY_HEX / 2];
    static const char hex[] = "0123456789abcdef";

    for (int attempt = 0; attempt < 8; attempt++) {
        if (RAND_bytes(raw, sizeof(raw)) != 1)
            return false;
        for (size_t i = 0; i < sizeof(raw); i++) {
            out[2 * i] = hex[raw[i] >> 4];
            out[2 * i + 1] = hex[raw[i] & 15];
        }
        out[PDSIM_KEY_HEX] = '\0';
        if (!pdsim_company_field(co, out))
            return true;
    }
    return false;
}

/* Builds [{id,label}] from labels (strings, {label} or {id,label} objects). */
static cJSON *make_options(struct pdsim_company *co, const cJSON *labels)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *it;

    cJSON_ArrayForEach(it, labels)
    {
        const char *label =
            cJSON_IsString(it)
                ? it->valuestring
                : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "label"));
        const cJSON *idj = cJSON_GetObjectItemCaseSensitive(it, "id");
        long id = cJSON_IsNumber(idj) ? (long)idj->valuedouble : co->next_option_id;
        cJSON *o;

        if (!label)
            continue;
        o = cJSON_CreateObject();
        if (id >= co->next_option_id)
            co->next_option_id = id + 1;
        cJSON_AddNumberToObject(o, "id", (double)id);
        cJSON_AddStringToObject(o, "label", label);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

struct pdsim_field *pdsim_company_add_field(struct pdsim_company *co, const char *name,
                                            const char *type, const cJSON *labels, long long now_s,
                                            struct mlc_err *err)
{
    char key[PDSIM_KEY_HEX + 1];
    struct pdsim_field *f;

    if (!pdsim_field_type_valid(type)) {
        mlc_err_set(err, MLC_PERM, "unknown field type");
        return NULL;
    }
    if (!random_key(co, key)) {
        mlc_err_set(err, MLC_FATAL, "cannot generate a field key");
        return NULL;
    }
    f = push_field(co);
    f->id = co->next_field_id++;
    mlc_strlcpy(f->key, key, sizeof(f->key));
    mlc_strlcpy(f->type, type, sizeof(f->type));
    f->name = mlc_xstrdup(name);
    f->is_custom = true;
    f->add_time = now_s;
    if (strcmp(type, "enum") == 0 || strcmp(type, "set") == 0)
        f->options = make_options(co, labels);
    return f;
}

const cJSON *pdsim_field_option(const struct pdsim_field *f, long id)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, f->options)
    {
        const cJSON *idj = cJSON_GetObjectItemCaseSensitive(o, "id");
        if (cJSON_IsNumber(idj) && (long)idj->valuedouble == id)
            return o;
    }
    return NULL;
}

void pdsim_field_delete(struct pdsim_company *co, struct pdsim_field *f)
{
    f->deleted = true;
    for (size_t i = 0; i < co->norgs; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(co->orgs[i].doc, "custom_fields"), f->key);
}

cJSON *pdsim_field_add_options(struct pdsim_company *co, struct pdsim_field *f, const cJSON *body)
{
    cJSON *added = cJSON_CreateArray(), *opts = f->options ? f->options : cJSON_CreateArray();
    const cJSON *it;
    long next = co->next_option_id;

    /* body was validated: every element has a string label */
    cJSON_ArrayForEach(it, body)
    {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(added, o);
        cJSON_AddNumberToObject(o, "id", (double)next++);
        cJSON_AddStringToObject(
            o, "label", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "label")));
    }
    cJSON *copy = cJSON_Duplicate(added, true);
    while (copy->child)
        cJSON_AddItemToArray(opts, cJSON_DetachItemViaPointer(copy, copy->child));
    cJSON_Delete(copy);
    f->options = opts;
    co->next_option_id = next;
    return added;
}

cJSON *pdsim_field_update_options(struct pdsim_field *f, const cJSON *body)
{
    cJSON *updated = cJSON_CreateArray();
    const cJSON *it;

    cJSON_ArrayForEach(it, body)
    {
        long id = (long)cJSON_GetObjectItemCaseSensitive(it, "id")->valuedouble;
        cJSON *o = (cJSON *)pdsim_field_option(f, id);
        cJSON *label =
            cJSON_CreateString(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "label")));
        if (!o || !label) {
            cJSON_Delete(label);
            continue;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(o, "label", label);
        cJSON_AddItemToArray(updated, cJSON_Duplicate(o, true));
    }
    return updated;
}

/* Removes option id from every organization's value of f. */
static void purge_option(struct pdsim_company *co, const struct pdsim_field *f, long id)
{
    for (size_t i = 0; i < co->norgs; i++) {
        cJSON *cf = cJSON_GetObjectItemCaseSensitive(co->orgs[i].doc, "custom_fields");
        cJSON *v = cJSON_GetObjectItemCaseSensitive(cf, f->key);
        if (cJSON_IsNumber(v) && (long)v->valuedouble == id) {
            cJSON_DeleteItemFromObjectCaseSensitive(cf, f->key);
        } else if (cJSON_IsArray(v)) {
            cJSON *e = v->child;
            while (e) {
                cJSON *next = e->next;
                if (cJSON_IsNumber(e) && (long)e->valuedouble == id)
                    cJSON_Delete(cJSON_DetachItemViaPointer(v, e));
                e = next;
            }
            if (cJSON_GetArraySize(v) == 0)
                cJSON_DeleteItemFromObjectCaseSensitive(cf, f->key);
        }
    }
}

cJSON *pdsim_field_delete_options(struct pdsim_company *co, struct pdsim_field *f,
                                  const cJSON *body)
{
    cJSON *deleted = cJSON_CreateArray();
    const cJSON *it;

    cJSON_ArrayForEach(it, body)
    {
        long id = (long)cJSON_GetObjectItemCaseSensitive(it, "id")->valuedouble;
        cJSON *o = (cJSON *)pdsim_field_option(f, id);
        if (!o)
            continue;
        cJSON_AddItemToArray(deleted, cJSON_DetachItemViaPointer(f->options, o));
        purge_option(co, f, id);
    }
    return deleted;
}

struct pdsim_org *pdsim_company_org(struct pdsim_company *co, long id)
{
    size_t lo = 0, hi = co->norgs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (co->orgs[mid].id == id)
            return &co->orgs[mid];
        if (co->orgs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void set_member(cJSON *obj, const char *name, cJSON *value)
{
    if (!value)
        return;
    if (cJSON_GetObjectItemCaseSensitive(obj, name))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, name, value);
    else
        cJSON_AddItemToObject(obj, name, value);
}

static void set_time(cJSON *doc, const char *name, long long t)
{
    char buf[32];
    pdsim_time_format(t, buf, sizeof(buf));
    set_member(doc, name, cJSON_CreateString(buf));
}

/* The stored address: every subfield present, the omitted ones null. */
static cJSON *full_address(const cJSON *given)
{
    cJSON *a = cJSON_CreateObject();
    for (size_t i = 0; a && i < PDSIM_ADDRESS_SUBFIELDS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(given, pdsim_address_subfields[i]);
        cJSON_AddItemToObject(a, pdsim_address_subfields[i],
                              cJSON_IsString(v) ? cJSON_CreateString(v->valuestring)
                                                : cJSON_CreateNull());
    }
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(given, "value");
    if (a)
        cJSON_AddItemToObject(a, "formatted_address",
                              cJSON_IsString(value) ? cJSON_CreateString(value->valuestring)
                                                    : cJSON_CreateNull());
    return a;
}

mlc_rc pdsim_org_apply(struct pdsim_org *org, const cJSON *body, long long now_s,
                       struct mlc_err *err)
{
    const cJSON *it;
    cJSON *cf = cJSON_GetObjectItemCaseSensitive(org->doc, "custom_fields");

    if (!cJSON_IsObject(cf)) {
        cf = cJSON_CreateObject();
        set_member(org->doc, "custom_fields", cf);
    }
    cJSON_ArrayForEach(it, body)
    {
        if (strcmp(it->string, "custom_fields") == 0) {
            const cJSON *v;
            cJSON_ArrayForEach(v, it)
            {
                cJSON_DeleteItemFromObjectCaseSensitive(cf, v->string);
                if (!cJSON_IsNull(v))
                    cJSON_AddItemToObject(cf, v->string, cJSON_Duplicate(v, true));
            }
        } else if (strcmp(it->string, "address") == 0) {
            set_member(org->doc, "address",
                       cJSON_IsNull(it) ? cJSON_CreateNull() : full_address(it));
        } else if (strcmp(it->string, "add_time") == 0) {
            long long t;
            if (cJSON_IsString(it) && pdsim_time_parse(it->valuestring, &t)) {
                org->add_time = t;
                set_time(org->doc, "add_time", t);
            }
        } else if (strcmp(it->string, "id") != 0 && strcmp(it->string, "is_deleted") != 0 &&
                   strcmp(it->string, "update_time") != 0) {
            set_member(org->doc, it->string, cJSON_Duplicate(it, true));
        }
    }
    org->update_time = now_s;
    set_time(org->doc, "update_time", now_s);
    (void)err; /* nothing can fail once validated; kept for the convention */
    return MLC_OK;
}

static struct pdsim_org *push_org(struct pdsim_company *co, long id)
{
    if (co->norgs == co->caporgs) {
        size_t ncap = co->caporgs ? co->caporgs * 2 : 64;

        co->orgs = mlc_xreallocarray(co->orgs, ncap, sizeof(*co->orgs));
        co->caporgs = ncap;
    }
    /* ids are mostly appended in order; keep the array sorted */
    size_t pos = co->norgs;
    while (pos > 0 && co->orgs[pos - 1].id > id)
        pos--;
    memmove(&co->orgs[pos + 1], &co->orgs[pos], (co->norgs - pos) * sizeof(co->orgs[0]));
    memset(&co->orgs[pos], 0, sizeof(co->orgs[0]));
    co->orgs[pos].id = id;
    co->norgs++;
    return &co->orgs[pos];
}

static cJSON *new_org_doc(long id, long owner)
{
    cJSON *d = cJSON_CreateObject();

    cJSON_AddNumberToObject(d, "id", (double)id);
    cJSON_AddNullToObject(d, "name");
    cJSON_AddNumberToObject(d, "owner_id", (double)owner);
    cJSON_AddNullToObject(d, "add_time");
    cJSON_AddNullToObject(d, "update_time");
    cJSON_AddNullToObject(d, "address");
    cJSON_AddFalseToObject(d, "is_deleted");
    cJSON_AddNumberToObject(d, "visible_to", 3);
    cJSON_AddItemToObject(d, "label_ids", cJSON_CreateArray());
    cJSON_AddNullToObject(d, "website");
    cJSON_AddNullToObject(d, "linkedin");
    cJSON_AddNullToObject(d, "industry");
    cJSON_AddNullToObject(d, "annual_revenue");
    cJSON_AddNullToObject(d, "employee_count");
    cJSON_AddItemToObject(d, "custom_fields", cJSON_CreateObject());
    return d;
}

struct pdsim_org *pdsim_company_create_org(struct pdsim_company *co, const cJSON *body,
                                           long long now_ms, long index_delay_ms,
                                           struct mlc_err *err)
{
    long long now_s = now_ms / 1000;
    cJSON *doc = new_org_doc(co->next_org_id, co->user_id);
    struct pdsim_org *org = push_org(co, co->next_org_id);

    co->next_org_id++;
    org->doc = doc;
    org->add_time = now_s;
    set_time(doc, "add_time", now_s);
    pdsim_org_apply(org, body, now_s, err);
    org->update_time = now_s;
    set_time(doc, "update_time", now_s);
    org->indexed_at_ms = now_ms + index_delay_ms;
    return org;
}

void pdsim_org_delete(struct pdsim_org *org, long long now_s)
{
    org->deleted = true;
    org->update_time = now_s;
    set_member(org->doc, "is_deleted", cJSON_CreateTrue());
    set_time(org->doc, "update_time", now_s);
}

const cJSON *pdsim_org_custom(const struct pdsim_org *org, const char *key)
{
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(org->doc, "custom_fields");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cf, key);
    return cJSON_IsNull(v) ? NULL : v;
}

const char *pdsim_org_name(const struct pdsim_org *org)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(org->doc, "name"));
    return s ? s : "";
}

cJSON *pdsim_org_render(const struct pdsim_company *co, const struct pdsim_org *org,
                        const char *const *selection, size_t nselection)
{
    cJSON *out = cJSON_Duplicate(org->doc, true);
    cJSON *cf = cJSON_CreateObject();

    for (size_t i = 0; i < co->nfields; i++) {
        const struct pdsim_field *f = &co->fields[i];
        bool wanted = selection == NULL;
        if (!f->is_custom || f->deleted)
            continue;
        for (size_t s = 0; selection && s < nselection; s++)
            if (strcmp(selection[s], f->key) == 0)
                wanted = true;
        if (!wanted)
            continue;
        const cJSON *v = pdsim_org_custom(org, f->key);
        cJSON_AddItemToObject(cf, f->key, v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
    }
    set_member(out, "custom_fields", cf);
    return out;
}

cJSON *pdsim_field_render_v2(const struct pdsim_field *f)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "field_name", f->name);
    cJSON_AddStringToObject(o, "field_code", f->key);
    cJSON_AddStringToObject(o, "field_type", f->type);
    cJSON_AddItemToObject(o, "options",
                          f->options ? cJSON_Duplicate(f->options, true) : cJSON_CreateNull());
    if (strcmp(f->type, "address") == 0) {
        cJSON *subs = cJSON_AddArrayToObject(o, "subfields");
        for (size_t i = 0; i <= PDSIM_ADDRESS_SUBFIELDS; i++) {
            const char *code =
                i < PDSIM_ADDRESS_SUBFIELDS ? pdsim_address_subfields[i] : "formatted_address";
            char name[96];
            cJSON *s = cJSON_CreateObject();
            snprintf(name, sizeof(name), "%s of %s", code, f->name);
            cJSON_AddStringToObject(s, "field_code", code);
            cJSON_AddStringToObject(s, "field_name", name);
            cJSON_AddStringToObject(s, "field_type", "varchar");
            cJSON_AddItemToArray(subs, s);
        }
    } else {
        cJSON_AddNullToObject(o, "subfields");
    }
    cJSON_AddBoolToObject(o, "is_custom_field", f->is_custom);
    cJSON_AddFalseToObject(o, "is_optional_response_field");
    return o;
}

static bool type_searchable(const char *type)
{
    static const char *const s[] = {"address", "varchar",  "text", "varchar_auto",
                                    "double",  "monetary", "phone"};
    for (size_t i = 0; i < ARRAY_SIZE(s); i++)
        if (strcmp(type, s[i]) == 0)
            return true;
    return false;
}

cJSON *pdsim_field_render_v1(const struct pdsim_field *f)
{
    char t[32];
    cJSON *o = cJSON_CreateObject();
    struct tm tm;
    time_t tt = (time_t)f->add_time;

    if (!o)
        return NULL;
    gmtime_r(&tt, &tm);
    strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm);
    cJSON_AddNumberToObject(o, "id", (double)f->id);
    cJSON_AddStringToObject(o, "key", f->key);
    cJSON_AddStringToObject(o, "name", f->name);
    cJSON_AddNumberToObject(o, "order_nr", (double)f->id);
    cJSON_AddStringToObject(o, "field_type", f->type);
    cJSON_AddStringToObject(o, "add_time", t);
    cJSON_AddStringToObject(o, "update_time", t);
    cJSON_AddBoolToObject(o, "active_flag", !f->deleted);
    cJSON_AddBoolToObject(o, "edit_flag", f->is_custom);
    cJSON_AddBoolToObject(o, "searchable_flag", type_searchable(f->type));
    cJSON_AddBoolToObject(o, "mandatory_flag", strcmp(f->key, "name") == 0);
    cJSON_AddItemToObject(o, "options",
                          f->options ? cJSON_Duplicate(f->options, true) : cJSON_CreateNull());
    return o;
}

cJSON *pdsim_store_dump(const struct pdsim_store *st)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *cos = cJSON_AddArrayToObject(doc, "companies");

    for (size_t c = 0; cos && c < st->ncompanies; c++) {
        const struct pdsim_company *co = &st->companies[c];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(cos, o);
        cJSON_AddNumberToObject(o, "id", (double)co->id);
        cJSON_AddStringToObject(o, "name", co->name);
        cJSON_AddStringToObject(o, "domain", co->domain);
        cJSON *u = cJSON_AddObjectToObject(o, "user");
        cJSON_AddNumberToObject(u, "id", (double)co->user_id);
        cJSON_AddStringToObject(u, "name", co->user_name);
        cJSON_AddStringToObject(u, "email", co->user_email);
        cJSON *toks = cJSON_AddArrayToObject(o, "tokens");
        for (size_t i = 0; i < co->ntokens; i++)
            cJSON_AddItemToArray(toks, cJSON_CreateString(co->tokens[i].token));
        cJSON_AddNumberToObject(o, "tokens_spent_today", (double)co->daily.spent);
        cJSON *curs = cJSON_AddArrayToObject(o, "currencies");
        for (size_t i = 0; i < co->ncurrencies; i++)
            cJSON_AddItemToArray(curs, cJSON_CreateString(co->currencies[i]));
        cJSON *fs = cJSON_AddArrayToObject(o, "fields");
        for (size_t i = 0; i < co->nfields; i++) {
            const struct pdsim_field *f = &co->fields[i];
            cJSON *fo = cJSON_CreateObject();
            cJSON_AddNumberToObject(fo, "id", (double)f->id);
            cJSON_AddStringToObject(fo, "key", f->key);
            cJSON_AddStringToObject(fo, "name", f->name);
            cJSON_AddStringToObject(fo, "field_type", f->type);
            cJSON_AddBoolToObject(fo, "is_custom", f->is_custom);
            cJSON_AddItemToObject(
                fo, "options", f->options ? cJSON_Duplicate(f->options, true) : cJSON_CreateNull());
            cJSON_AddBoolToObject(fo, "is_deleted", f->deleted);
            cJSON_AddItemToArray(fs, fo);
        }
        cJSON *os = cJSON_AddArrayToObject(o, "organizations");
        for (size_t i = 0; i < co->norgs; i++)
            cJSON_AddItemToArray(os, cJSON_Duplicate(co->orgs[i].doc, true));
    }
    return doc;
}

static long num_or(const cJSON *obj, const char *name, long dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : dflt;
}

/* The "currencies" array of a company in a state document as a comma list
 * into buf (dflt when absent); false when it is not an array of codes. */
static bool state_currencies(const cJSON *j, const char *dflt, char *buf, size_t bufsz)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "currencies"), *it;
    size_t len = 0;

    if (!arr)
        return mlc_strlcpy(buf, dflt, bufsz);
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return false;
    buf[0] = '\0';
    cJSON_ArrayForEach(it, arr)
    {
        if (!pdsim_currency_code_valid(cJSON_GetStringValue(it)))
            return false;
        int w = snprintf(buf + len, bufsz - len, "%s%s", len ? "," : "", it->valuestring);
        if (w < 0 || (size_t)w >= bufsz - len)
            return false;
        len += (size_t)w;
    }
    return true;
}

static mlc_rc load_company(struct pdsim_company *co, const cJSON *j, size_t index, long long now_ms,
                           const char *currencies_default, struct mlc_err *err)
{
    char curbuf[PDSIM_CURRENCIES_MAX];
    const cJSON *it;
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(j, "user");
    long long now_s = now_ms / 1000;
    mlc_rc rc;

    co->id = num_or(j, "id", (long)index + 1);
    co->name = mlc_xstrdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "name"))
                               ?: "Sandbox Company");
    {
        char buf[64];
        snprintf(buf, sizeof(buf), "sandbox-%ld", co->id);
        co->domain =
            mlc_xstrdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "domain")) ?: buf);
        snprintf(buf, sizeof(buf), "user%ld@sandbox.invalid", co->id);
        co->user_email = mlc_xstrdup(
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(user, "email")) ?: buf);
    }
    co->user_id = num_or(user, "id", co->id);
    co->user_name = mlc_xstrdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(user, "name"))
                                    ?: "Sandbox User");
    co->next_org_id = 1;
    co->next_field_id = 1;
    co->next_option_id = 1;
    if (!state_currencies(j, currencies_default, curbuf, sizeof(curbuf)))
        return mlc_err_set(err, MLC_PERM,
                           "companies[%zu].currencies: expected a non-empty array of currency "
                           "codes (1 to %d letters or digits)",
                           index, PDSIM_CURRENCY_CODE_MAX);
    if ((rc = pdsim_company_set_currencies(co, curbuf, err)) != MLC_OK)
        return rc;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "tokens"))
    {
        if (!cJSON_IsString(it))
            return mlc_err_set(err, MLC_PERM, "companies[%zu].tokens: expected strings", index);
        pdsim_company_add_token(co, it->valuestring);
    }
    /* First pass: ids, so generated ones do not collide. */
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "fields"))
    {
        long id = num_or(it, "id", 0);
        if (id >= co->next_field_id)
            co->next_field_id = id + 1;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "fields"))
    {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "field_type"));
        const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "key"));
        const cJSON *opts = cJSON_GetObjectItemCaseSensitive(it, "options");
        struct pdsim_field *f;

        if (!name || !type || !pdsim_field_type_valid(type))
            return mlc_err_set(err, MLC_PERM,
                               "companies[%zu].fields: need name and a valid "
                               "field_type",
                               index);
        if (key && (strcmp(key, "name") == 0 || strcmp(key, "address") == 0)) {
            add_system_field(co, key, name, type);
            continue;
        }
        if (key && pdsim_company_field(co, key))
            return mlc_err_set(err, MLC_PERM, "companies[%zu].fields: duplicate key %s", index,
                               key);
        /* option ids given in the state are kept */
        f = pdsim_company_add_field(co, name, type, opts, now_s, err);
        if (!f)
            return err ? err->rc : MLC_FATAL;
        if (key) {
            if (strlen(key) >= sizeof(f->key))
                return mlc_err_set(err, MLC_PERM, "companies[%zu].fields: key too long", index);
            mlc_strlcpy(f->key, key, sizeof(f->key));
        }
        if (num_or(it, "id", 0) > 0) {
            f->id = num_or(it, "id", 0);
            co->next_field_id--;
        }
        f->deleted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "is_deleted"));
    }
    ensure_system_fields(co);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "organizations"))
    {
        long id = num_or(it, "id", 0);
        if (id >= co->next_org_id)
            co->next_org_id = id + 1;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "organizations"))
    {
        long id = num_or(it, "id", 0);
        long long t;
        const cJSON *m;
        if (!cJSON_IsObject(it))
            return mlc_err_set(err, MLC_PERM, "companies[%zu].organizations: expected objects",
                               index);
        if (id <= 0)
            id = co->next_org_id++;
        if (pdsim_company_org(co, id))
            return mlc_err_set(err, MLC_PERM, "companies[%zu].organizations: duplicate id %ld",
                               index, id);
        struct pdsim_org *org = push_org(co, id);
        cJSON *doc = new_org_doc(id, co->user_id);

        org->doc = doc;
        cJSON_ArrayForEach(m, it)
        {
            if (strcmp(m->string, "id") != 0)
                set_member(doc, m->string, cJSON_Duplicate(m, true));
        }
        if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "custom_fields")))
            set_member(doc, "custom_fields", cJSON_CreateObject());
        org->deleted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "is_deleted"));
        set_member(doc, "is_deleted", cJSON_CreateBool(org->deleted));
        if (pdsim_time_parse(
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "add_time")), &t))
            org->add_time = t;
        else {
            org->add_time = now_s;
            set_time(doc, "add_time", now_s);
        }
        if (pdsim_time_parse(
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "update_time")), &t))
            org->update_time = t;
        else {
            org->update_time = org->add_time;
            set_time(doc, "update_time", org->add_time);
        }
        org->indexed_at_ms = 0;
    }
    return MLC_OK;
}

mlc_rc pdsim_store_load(struct pdsim_store *st, const cJSON *doc, long long now_ms,
                        struct mlc_err *err)
{
    struct pdsim_store fresh;
    const cJSON *cos = cJSON_GetObjectItemCaseSensitive(doc, "companies");
    const cJSON *it;
    size_t i = 0;
    mlc_rc rc = MLC_OK;

    pdsim_store_init(&fresh);
    mlc_strlcpy(fresh.currencies_default, st->currencies_default, sizeof(fresh.currencies_default));
    if (!cJSON_IsArray(cos))
        return mlc_err_set(err, MLC_PERM, "state: expected {\"companies\":[…]}");
    fresh.companies = mlc_xcalloc((size_t)cJSON_GetArraySize(cos) + 1, sizeof(*fresh.companies));
    cJSON_ArrayForEach(it, cos)
    {
        fresh.ncompanies++;
        if ((rc = load_company(&fresh.companies[i], it, i, now_ms, fresh.currencies_default,
                               err)) != MLC_OK)
            goto out;
        i++;
    }
    pdsim_store_free(st);
    *st = fresh;
    return MLC_OK;
out:
    pdsim_store_free(&fresh);
    return rc;
}
