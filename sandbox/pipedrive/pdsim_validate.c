/* pdsim_validate.c - v2 strictness for organizations and organization fields. */
#include "pdsim_validate.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool fail(char *msg, size_t msgsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *msg, size_t msgsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msgsz, fmt, ap);
    va_end(ap);
    return false;
}

bool pdsim_is_integer(const cJSON *v)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
           v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9.0e15;
}

size_t pdsim_utf8_len(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

bool pdsim_looks_like_hash(const char *s)
{
    size_t i = 0;
    for (; s && s[i]; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return i == PDSIM_KEY_HEX;
}

static bool is_date(const char *s)
{
    int y, m, d;
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    return y > 0 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static bool is_time(const char *s)
{
    if (!s || strlen(s) != 8 || s[2] != ':' || s[5] != ':')
        return false;
    for (int i = 0; i < 8; i++)
        if (i != 2 && i != 5 && !isdigit((unsigned char)s[i]))
            return false;
    return (s[0] - '0') * 10 + (s[1] - '0') < 24 && (s[3] - '0') < 6 && (s[6] - '0') < 6;
}

void pdsim_rules_default(struct pdsim_rules *r)
{
    r->max_name = PDSIM_NAME_MAX_DEFAULT;
    r->max_address = PDSIM_ADDRESS_MAX_DEFAULT;
    r->max_text = PDSIM_TEXT_MAX_DEFAULT;
}

/* address object: string value required, known string subfields only, each
 * at most max characters. */
static bool check_address(const char *where, const cJSON *v, long max, char *msg, size_t msgsz)
{
    const cJSON *m;
    if (!cJSON_IsObject(v))
        return fail(msg, msgsz, "Validation failed: %s: Expected 'object'", where);
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "value")))
        return fail(msg, msgsz, "Validation failed: %s: 'value' is required and must be a string",
                    where);
    cJSON_ArrayForEach(m, v)
    {
        bool known = false;
        for (size_t i = 0; i < PDSIM_ADDRESS_SUBFIELDS; i++)
            if (strcmp(m->string, pdsim_address_subfields[i]) == 0)
                known = true;
        if (!known)
            return fail(msg, msgsz, "Validation failed: %s: Parameter '%s' is not allowed", where,
                        m->string);
        if (!cJSON_IsString(m))
            return fail(msg, msgsz, "Validation failed: %s.%s: Expected 'string'", where,
                        m->string);
        if (pdsim_utf8_len(m->valuestring) > (size_t)max)
            return fail(msg, msgsz, "Validation failed: %s.%s: must be at most %ld characters long",
                        where, m->string, max);
    }
    return true;
}

static bool check_range(const char *key, const cJSON *v, bool (*ok)(const char *), char *msg,
                        size_t msgsz)
{
    const cJSON *m;
    if (!cJSON_IsObject(v))
        return fail(msg, msgsz,
                    "Validation failed: custom_fields: Expected 'object' as value "
                    "for range custom field '%s'",
                    key);
    cJSON_ArrayForEach(m, v)
    {
        if (strcmp(m->string, "value") != 0 && strcmp(m->string, "until") != 0)
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Parameter '%s' is not "
                        "allowed in custom field '%s'",
                        m->string, key);
        if (!ok(cJSON_GetStringValue(m)))
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Invalid '%s' in custom "
                        "field '%s'",
                        m->string, key);
    }
    if (!cJSON_GetObjectItemCaseSensitive(v, "value") ||
        !cJSON_GetObjectItemCaseSensitive(v, "until"))
        return fail(msg, msgsz,
                    "Validation failed: custom_fields: 'value' and 'until' are "
                    "required for custom field '%s'",
                    key);
    return true;
}

bool pdsim_validate_custom_value(const struct pdsim_field *f, const cJSON *v, char *msg,
                                 size_t msgsz)
{
    struct pdsim_rules r;
    pdsim_rules_default(&r);
    return pdsim_validate_custom_value_rules(NULL, &r, f, v, msg, msgsz);
}

bool pdsim_validate_custom_value_rules(const struct pdsim_company *co, const struct pdsim_rules *r,
                                       const struct pdsim_field *f, const cJSON *v, char *msg,
                                       size_t msgsz)
{
    const char *t = f->type;
    const char *key = f->key;

    if (strcmp(t, "varchar") == 0 || strcmp(t, "varchar_auto") == 0 || strcmp(t, "phone") == 0 ||
        strcmp(t, "text") == 0) {
        if (!cJSON_IsString(v))
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Expected 'string' as "
                        "value for custom field '%s'",
                        key);
        long max = strcmp(t, "text") == 0 ? r->max_text : PDSIM_VARCHAR_MAX;
        if (pdsim_utf8_len(v->valuestring) > (size_t)max)
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Value of custom field "
                        "'%s' is longer than %ld characters",
                        key, max);
        return true;
    }
    if (strcmp(t, "double") == 0) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Expected 'number' as "
                        "value for custom field '%s'",
                        key);
        return true;
    }
    if (strcmp(t, "monetary") == 0) {
        const cJSON *m;
        if (!cJSON_IsObject(v) || !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(v, "value")) ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "currency")))
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Expected '{value: number, "
                        "currency: string}' as value for monetary custom field '%s'",
                        key);
        cJSON_ArrayForEach(m, v)
        {
            if (strcmp(m->string, "value") != 0 && strcmp(m->string, "currency") != 0)
                return fail(msg, msgsz,
                            "Validation failed: custom_fields: Parameter '%s' is not "
                            "allowed in monetary custom field '%s'",
                            m->string, key);
        }
        const char *cur = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "currency"));
        if (co && !pdsim_company_has_currency(co, cur))
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Currency '%.16s' is not a "
                        "currency of the company in monetary custom field '%s'",
                        cur, key);
        return true;
    }
    if (strcmp(t, "enum") == 0) {
        if (!pdsim_is_integer(v))
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Expected 'number' as "
                        "value for single option custom field '%s'",
                        key);
        if (!pdsim_field_option(f, (long)v->valuedouble))
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Option %ld does not "
                        "exist in custom field '%s'",
                        (long)v->valuedouble, key);
        return true;
    }
    if (strcmp(t, "set") == 0) {
        const cJSON *o;
        if (!cJSON_IsArray(v))
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Expected 'array' as value "
                        "for multiple option custom field '%s'",
                        key);
        if (cJSON_GetArraySize(v) == 0)
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Empty array is not "
                        "allowed for multiple option custom field '%s', use null to clear",
                        key);
        cJSON_ArrayForEach(o, v)
        {
            if (!pdsim_is_integer(o))
                return fail(msg, msgsz,
                            "Validation failed: custom_fields: Expected 'number' as "
                            "option of multiple option custom field '%s'",
                            key);
            if (!pdsim_field_option(f, (long)o->valuedouble))
                return fail(msg, msgsz,
                            "Validation failed: custom_fields: Option %ld does not "
                            "exist in custom field '%s'",
                            (long)o->valuedouble, key);
        }
        return true;
    }
    if (strcmp(t, "user") == 0 || strcmp(t, "org") == 0 || strcmp(t, "people") == 0) {
        if (!pdsim_is_integer(v) || v->valuedouble <= 0)
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Expected 'number' (an "
                        "id) as value for custom field '%s'",
                        key);
        return true;
    }
    if (strcmp(t, "date") == 0) {
        if (!is_date(cJSON_GetStringValue(v)))
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Expected 'YYYY-MM-DD' as "
                        "value for date custom field '%s'",
                        key);
        return true;
    }
    if (strcmp(t, "time") == 0) {
        if (!is_time(cJSON_GetStringValue(v)))
            return fail(msg, msgsz,
                        "Validation failed: custom_fields: Expected 'HH:MM:SS' as "
                        "value for time custom field '%s'",
                        key);
        return true;
    }
    if (strcmp(t, "daterange") == 0)
        return check_range(key, v, is_date, msg, msgsz);
    if (strcmp(t, "timerange") == 0)
        return check_range(key, v, is_time, msg, msgsz);
    if (strcmp(t, "address") == 0) {
        char where[64];
        snprintf(where, sizeof(where), "custom_fields.%s", key);
        return check_address(where, v, r->max_address, msg, msgsz);
    }
    return fail(msg, msgsz,
                "Validation failed: custom_fields: custom field '%s' has an "
                "unsupported type",
                key);
}

static bool check_integer(const char *name, const cJSON *v, bool nullable, char *msg, size_t msgsz)
{
    if (nullable && cJSON_IsNull(v))
        return true;
    if (!pdsim_is_integer(v))
        return fail(msg, msgsz, "Validation failed: %s: Expected 'integer'%s", name,
                    cJSON_IsString(v) ? ", got 'string'" : "");
    return true;
}

bool pdsim_validate_org(struct pdsim_company *co, const cJSON *body, bool create, char *msg,
                        size_t msgsz)
{
    struct pdsim_rules r;
    pdsim_rules_default(&r);
    return pdsim_validate_org_rules(co, &r, body, create, msg, msgsz);
}

bool pdsim_validate_org_rules(struct pdsim_company *co, const struct pdsim_rules *r,
                              const cJSON *body, bool create, char *msg, size_t msgsz)
{
    const cJSON *m;

    if (!cJSON_IsObject(body))
        return fail(msg, msgsz, "Validation failed: body: Expected 'object'");
    cJSON_ArrayForEach(m, body)
    {
        const char *n = m->string;
        if (strcmp(n, "name") == 0) {
            if (!cJSON_IsString(m))
                return fail(msg, msgsz, "Validation failed: name: Expected 'string'");
            if (m->valuestring[strspn(m->valuestring, " \t\r\n")] == '\0')
                return fail(msg, msgsz, "Validation failed: name: must not be empty");
            if (pdsim_utf8_len(m->valuestring) > (size_t)r->max_name)
                return fail(msg, msgsz,
                            "Validation failed: name: must be at most %ld characters long",
                            r->max_name);
        } else if (strcmp(n, "owner_id") == 0) {
            if (!check_integer(n, m, false, msg, msgsz))
                return false;
        } else if (strcmp(n, "visible_to") == 0) {
            if (!check_integer(n, m, false, msg, msgsz))
                return false;
            int vt = (int)m->valuedouble;
            if (vt != 1 && vt != 3 && vt != 5 && vt != 7)
                return fail(msg, msgsz, "Validation failed: visible_to: must be one of 1, 3, 5, 7");
        } else if (strcmp(n, "label_ids") == 0) {
            const cJSON *l;
            if (!cJSON_IsArray(m))
                return fail(msg, msgsz, "Validation failed: label_ids: Expected 'array'");
            cJSON_ArrayForEach(l, m)
            {
                if (!pdsim_is_integer(l))
                    return fail(msg, msgsz,
                                "Validation failed: label_ids: Expected 'integer' "
                                "items");
            }
        } else if (strcmp(n, "address") == 0) {
            if (!check_address("address", m, r->max_address, msg, msgsz))
                return false;
        } else if (strcmp(n, "add_time") == 0 && create) {
            long long t;
            if (!cJSON_IsString(m) || !pdsim_time_parse(m->valuestring, &t))
                return fail(msg, msgsz,
                            "Validation failed: add_time: Expected an RFC 3339 "
                            "date-time like 2025-01-01T10:20:00Z");
        } else if (strcmp(n, "website") == 0 || strcmp(n, "linkedin") == 0) {
            if (!cJSON_IsString(m) && !cJSON_IsNull(m))
                return fail(msg, msgsz, "Validation failed: %s: Expected 'string' or null", n);
        } else if (strcmp(n, "industry") == 0 || strcmp(n, "annual_revenue") == 0 ||
                   strcmp(n, "employee_count") == 0) {
            if (!check_integer(n, m, true, msg, msgsz))
                return false;
        } else if (strcmp(n, "custom_fields") == 0) {
            const cJSON *c;
            if (!cJSON_IsObject(m))
                return fail(msg, msgsz, "Validation failed: custom_fields: Expected 'object'");
            cJSON_ArrayForEach(c, m)
            {
                struct pdsim_field *f = pdsim_company_field(co, c->string);
                if (!f || !f->is_custom || f->deleted)
                    return fail(msg, msgsz,
                                "Validation failed: custom_fields: Custom field "
                                "'%s' does not exist",
                                c->string);
                if (!cJSON_IsNull(c) && !pdsim_validate_custom_value_rules(co, r, f, c, msg, msgsz))
                    return false;
            }
        } else {
            return fail(msg, msgsz, "Parameter '%s' is not allowed for this request", n);
        }
    }
    if (create && !cJSON_GetObjectItemCaseSensitive(body, "name"))
        return fail(msg, msgsz, "Validation failed: name: is required");
    return true;
}

static bool check_options(const cJSON *body, const char *type, bool v1, char *msg, size_t msgsz)
{
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(body, "options");
    const cJSON *o;
    bool needs = strcmp(type, "enum") == 0 || strcmp(type, "set") == 0;

    if (!opts || cJSON_IsNull(opts)) {
        if (needs)
            return fail(msg, msgsz, "Validation failed: options: required for field type '%s'",
                        type);
        return true;
    }
    if (!cJSON_IsArray(opts))
        return fail(msg, msgsz, "Validation failed: options: Expected 'array'");
    if (needs && cJSON_GetArraySize(opts) == 0)
        return fail(msg, msgsz, "Validation failed: options: at least one option is required");
    cJSON_ArrayForEach(o, opts)
    {
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(o, "label");
        if (v1 && cJSON_IsString(o))
            continue;
        if (!cJSON_IsObject(o) || !cJSON_IsString(label) || !label->valuestring[0])
            return fail(msg, msgsz,
                        "Validation failed: options: each option needs a 'label' "
                        "string");
    }
    return true;
}

bool pdsim_validate_field_v2(const cJSON *body, char *msg, size_t msgsz)
{
    const cJSON *m, *name, *type;

    if (!cJSON_IsObject(body))
        return fail(msg, msgsz, "Validation failed: body: Expected 'object'");
    cJSON_ArrayForEach(m, body)
    {
        const char *n = m->string;
        if (strcmp(n, "ui_visibility") == 0 || strcmp(n, "important_fields") == 0 ||
            strcmp(n, "required_fields") == 0) {
            if (!cJSON_IsObject(m))
                return fail(msg, msgsz, "Validation failed: %s: Expected 'object'", n);
        } else if (strcmp(n, "field_name") != 0 && strcmp(n, "field_type") != 0 &&
                   strcmp(n, "options") != 0) {
            return fail(msg, msgsz, "Parameter '%s' is not allowed for this request", n);
        }
    }
    name = cJSON_GetObjectItemCaseSensitive(body, "field_name");
    type = cJSON_GetObjectItemCaseSensitive(body, "field_type");
    if (!cJSON_IsString(name) || pdsim_utf8_len(name->valuestring) < 1 ||
        pdsim_utf8_len(name->valuestring) > 255)
        return fail(msg, msgsz, "Validation failed: field_name: required, 1 to 255 characters");
    if (!cJSON_IsString(type) || !pdsim_field_type_valid(type->valuestring))
        return fail(msg, msgsz,
                    "Validation failed: field_type: required, one of varchar, "
                    "varchar_auto, text, double, monetary, date, daterange, time, timerange, "
                    "set, enum, user, org, people, phone, address");
    return check_options(body, type->valuestring, false, msg, msgsz);
}

bool pdsim_validate_field_v1(const cJSON *body, char *msg, size_t msgsz)
{
    const cJSON *name, *type;

    if (!cJSON_IsObject(body))
        return fail(msg, msgsz, "Bad request: expected a JSON object");
    name = cJSON_GetObjectItemCaseSensitive(body, "name");
    type = cJSON_GetObjectItemCaseSensitive(body, "field_type");
    if (!cJSON_IsString(name) || !name->valuestring[0] || pdsim_utf8_len(name->valuestring) > 255)
        return fail(msg, msgsz, "Bad request: name is required");
    if (!cJSON_IsString(type) || !pdsim_field_type_valid(type->valuestring))
        return fail(msg, msgsz, "Bad request: field_type is missing or invalid");
    return check_options(body, type->valuestring, true, msg, msgsz);
}

bool pdsim_validate_field_patch(const struct pdsim_field *f, const cJSON *body, char *msg,
                                size_t msgsz)
{
    const cJSON *m;

    if (!cJSON_IsObject(body))
        return fail(msg, msgsz, "Validation failed: body: Expected 'object'");
    if (!body->child)
        return fail(msg, msgsz, "Validation failed: body: at least one field must be provided");
    cJSON_ArrayForEach(m, body)
    {
        const char *n = m->string;
        if (strcmp(n, "ui_visibility") == 0 || strcmp(n, "important_fields") == 0 ||
            strcmp(n, "required_fields") == 0) {
            if (!cJSON_IsObject(m))
                return fail(msg, msgsz, "Validation failed: %s: Expected 'object'", n);
        } else if (strcmp(n, "field_name") == 0) {
            if (!cJSON_IsString(m) || pdsim_utf8_len(m->valuestring) < 1 ||
                pdsim_utf8_len(m->valuestring) > PDSIM_VARCHAR_MAX)
                return fail(msg, msgsz, "Validation failed: field_name: 1 to 255 characters");
            if (!f->is_custom)
                return fail(msg, msgsz,
                            "Validation failed: field_name: the name of system field '%s' "
                            "cannot be changed",
                            f->key);
        } else {
            return fail(msg, msgsz, "Parameter '%s' is not allowed for this request", n);
        }
    }
    return true;
}

static bool options_field(const struct pdsim_field *f, const cJSON *body, char *msg, size_t msgsz)
{
    if (strcmp(f->type, "enum") != 0 && strcmp(f->type, "set") != 0)
        return fail(msg, msgsz,
                    "Validation failed: field_code: field '%s' of type '%s' has no options", f->key,
                    f->type);
    if (!cJSON_IsArray(body))
        return fail(msg, msgsz, "Validation failed: body: Expected 'array'");
    if (cJSON_GetArraySize(body) == 0)
        return fail(msg, msgsz, "Validation failed: body: at least one option is required");
    return true;
}

/* {members...} only: each item an object holding exactly the named members. */
static bool option_item(const cJSON *o, bool want_id, bool want_label, char *msg, size_t msgsz)
{
    const cJSON *m;
    if (!cJSON_IsObject(o))
        return fail(msg, msgsz, "Validation failed: body: Expected 'object' items");
    cJSON_ArrayForEach(m, o)
    {
        if (!(want_id && strcmp(m->string, "id") == 0) &&
            !(want_label && strcmp(m->string, "label") == 0))
            return fail(msg, msgsz, "Validation failed: body: Parameter '%s' is not allowed",
                        m->string);
    }
    if (want_label) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "label");
        if (!cJSON_IsString(l) || pdsim_utf8_len(l->valuestring) < 1 ||
            pdsim_utf8_len(l->valuestring) > PDSIM_VARCHAR_MAX)
            return fail(msg, msgsz, "Validation failed: label: required, 1 to 255 characters");
    }
    if (want_id && !pdsim_is_integer(cJSON_GetObjectItemCaseSensitive(o, "id")))
        return fail(msg, msgsz, "Validation failed: id: required, Expected 'integer'");
    return true;
}

/* Ids exist in f and are named once. */
static bool option_ids(const struct pdsim_field *f, const cJSON *body, char *msg, size_t msgsz)
{
    const cJSON *o, *p;
    cJSON_ArrayForEach(o, body)
    {
        long id = (long)cJSON_GetObjectItemCaseSensitive(o, "id")->valuedouble;
        if (!pdsim_field_option(f, id))
            return fail(msg, msgsz,
                        "Validation failed: id: Option %ld does not exist in field '%s'", id,
                        f->key);
        for (p = body->child; p != o; p = p->next)
            if ((long)cJSON_GetObjectItemCaseSensitive(p, "id")->valuedouble == id)
                return fail(msg, msgsz, "Validation failed: id: Option %ld is named twice", id);
    }
    return true;
}

/* The body of an option call: an options field, then every item with (or
 * without) an id and a label as the operation wants. */
static bool option_items(const struct pdsim_field *f, const cJSON *body, bool want_id,
                         bool want_label, char *msg, size_t msgsz)
{
    const cJSON *o;
    if (!options_field(f, body, msg, msgsz))
        return false;
    cJSON_ArrayForEach(o, body)
    {
        if (!option_item(o, want_id, want_label, msg, msgsz))
            return false;
    }
    return true;
}

bool pdsim_validate_options_add(const struct pdsim_field *f, const cJSON *body, char *msg,
                                size_t msgsz)
{
    if (!option_items(f, body, false, true, msg, msgsz))
        return false;
    if (cJSON_GetArraySize(f->options) + cJSON_GetArraySize(body) > PDSIM_OPTIONS_MAX)
        return fail(msg, msgsz, "Validation failed: body: a field holds at most %d options",
                    PDSIM_OPTIONS_MAX);
    return true;
}

bool pdsim_validate_options_update(const struct pdsim_field *f, const cJSON *body, char *msg,
                                   size_t msgsz)
{
    return option_items(f, body, true, true, msg, msgsz) && option_ids(f, body, msg, msgsz);
}

bool pdsim_validate_options_delete(const struct pdsim_field *f, const cJSON *body, char *msg,
                                   size_t msgsz)
{
    return option_items(f, body, true, false, msg, msgsz) && option_ids(f, body, msg, msgsz);
}
