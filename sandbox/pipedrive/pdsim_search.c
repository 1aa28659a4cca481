/* pdsim_search.c - organization search and itemSearch/field matching rules. */
#include "pdsim_search.h"
#include "mlc_alloc.h"

#include "pdsim_validate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

bool pdsim_search_term_ok(const char *term, bool exact)
{
    size_t n = pdsim_utf8_len(term);
    return term && n >= (exact ? 1u : 2u);
}

bool pdsim_search_type_searchable(const char *type)
{
    static const char *const s[] = {"address", "varchar",  "text", "varchar_auto",
                                    "double",  "monetary", "phone"};
    for (size_t i = 0; type && i < ARRAY_SIZE(s); i++)
        if (strcmp(type, s[i]) == 0)
            return true;
    return false;
}

bool pdsim_search_parse_fields(const char *s, unsigned *mask)
{
    static const struct {
        const char *word;
        unsigned bit;
    } words[] = {{"name", PDSIM_SF_NAME},
                 {"address", PDSIM_SF_ADDRESS},
                 {"custom_fields", PDSIM_SF_CUSTOM},
                 {"notes", PDSIM_SF_NOTES}};
    const char *p = s;

    *mask = 0;
    if (!s || !*s) {
        *mask = PDSIM_SF_ALL;
        return true;
    }
    while (*p) {
        size_t len = strcspn(p, ",");
        bool found = false;
        for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
            if (strlen(words[i].word) == len && strncmp(p, words[i].word, len) == 0) {
                *mask |= words[i].bit;
                found = true;
            }
        }
        if (!found)
            return false;
        p += len;
        if (*p == ',')
            p++;
    }
    return *mask != 0;
}

bool pdsim_search_parse_match(const char *s, enum pdsim_match *out)
{
    if (!s || strcmp(s, "exact") == 0)
        *out = PDSIM_MATCH_EXACT;
    else if (strcmp(s, "beginning") == 0)
        *out = PDSIM_MATCH_BEGINNING;
    else if (strcmp(s, "middle") == 0)
        *out = PDSIM_MATCH_MIDDLE;
    else
        return false;
    return true;
}

bool pdsim_search_value_text(const char *type, const cJSON *v, char *buf, size_t bufsz)
{
    if (!v || cJSON_IsNull(v))
        return false;
    if (strcmp(type, "double") == 0 || strcmp(type, "monetary") == 0) {
        const cJSON *n = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "value") : v;
        if (!cJSON_IsNumber(n))
            return false;
        snprintf(buf, bufsz, "%.15g", n->valuedouble);
        return true;
    }
    if (strcmp(type, "address") == 0) {
        const char *s = cJSON_IsObject(v)
                            ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "value"))
                            : cJSON_GetStringValue(v);
        if (!s)
            return false;
        snprintf(buf, bufsz, "%s", s);
        return true;
    }
    if (pdsim_search_type_searchable(type) && cJSON_IsString(v)) {
        snprintf(buf, bufsz, "%s", v->valuestring);
        return true;
    }
    return false;
}

bool pdsim_match_ci(const char *value, const char *term, bool exact)
{
    if (!value || !term)
        return false;
    return exact ? strcasecmp(value, term) == 0 : strcasestr(value, term) != NULL;
}

bool pdsim_match_cs(const char *value, const char *term, enum pdsim_match mode)
{
    if (!value || !term)
        return false;
    switch (mode) {
    case PDSIM_MATCH_EXACT:
        return strcmp(value, term) == 0;
    case PDSIM_MATCH_BEGINNING:
        return strncmp(value, term, strlen(term)) == 0;
    case PDSIM_MATCH_MIDDLE:
        return strstr(value, term) != NULL;
    }
    return false;
}

static bool findable(const struct pdsim_org *org, long long now_ms)
{
    return !org->deleted && org->indexed_at_ms <= now_ms;
}

static const char *org_address_value(const struct pdsim_org *org)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(org->doc, "address");
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "value"));
}

cJSON *pdsim_search_orgs(struct pdsim_company *co, const char *term, bool exact, unsigned mask,
                         long long now_ms)
{
    cJSON *items = cJSON_CreateArray();
    char text[4096];

    for (size_t i = 0; items && i < co->norgs; i++) {
        const struct pdsim_org *org = &co->orgs[i];
        bool hit = false, name_hit = false;
        cJSON *matched;

        if (!findable(org, now_ms))
            continue;
        matched = cJSON_CreateArray();
        if ((mask & PDSIM_SF_NAME) && pdsim_match_ci(pdsim_org_name(org), term, exact))
            hit = name_hit = true;
        if ((mask & PDSIM_SF_ADDRESS) && pdsim_match_ci(org_address_value(org), term, exact))
            hit = true;
        for (size_t f = 0; (mask & PDSIM_SF_CUSTOM) && f < co->nfields; f++) {
            const struct pdsim_field *fd = &co->fields[f];
            if (!fd->is_custom || fd->deleted || !pdsim_search_type_searchable(fd->type))
                continue;
            if (pdsim_search_value_text(fd->type, pdsim_org_custom(org, fd->key), text,
                                        sizeof(text)) &&
                pdsim_match_ci(text, term, exact)) {
                hit = true;
                cJSON_AddItemToArray(matched, cJSON_CreateString(text));
            }
        }
        if (!hit) {
            cJSON_Delete(matched);
            continue;
        }
        cJSON *res = cJSON_CreateObject();
        cJSON *item = cJSON_CreateObject();
        const cJSON *vt = cJSON_GetObjectItemCaseSensitive(org->doc, "visible_to");
        const cJSON *owner = cJSON_GetObjectItemCaseSensitive(org->doc, "owner_id");
        const char *addr = org_address_value(org);
        cJSON_AddNumberToObject(res, "result_score", name_hit ? 1.0 : 0.5);
        cJSON_AddItemToObject(res, "item", item);
        cJSON_AddNumberToObject(item, "id", (double)org->id);
        cJSON_AddStringToObject(item, "type", "organization");
        cJSON_AddStringToObject(item, "name", pdsim_org_name(org));
        cJSON_AddItemToObject(item, "address",
                              addr ? cJSON_CreateString(addr) : cJSON_CreateNull());
        cJSON_AddItemToObject(item, "visible_to",
                              vt ? cJSON_Duplicate(vt, true) : cJSON_CreateNull());
        cJSON *ow = cJSON_AddObjectToObject(item, "owner");
        cJSON_AddItemToObject(ow, "id", owner ? cJSON_Duplicate(owner, true) : cJSON_CreateNull());
        cJSON_AddItemToObject(item, "custom_fields", matched);
        cJSON_AddItemToObject(item, "notes", cJSON_CreateArray());
        cJSON_AddItemToArray(items, res);
    }
    return items;
}

cJSON *pdsim_search_field(struct pdsim_company *co, const struct pdsim_field *f, const char *term,
                          enum pdsim_match mode, long long now_ms)
{
    cJSON *out = cJSON_CreateArray();
    char text[4096];

    for (size_t i = 0; out && i < co->norgs; i++) {
        const struct pdsim_org *org = &co->orgs[i];
        const char *value = NULL;
        if (!findable(org, now_ms))
            continue;
        if (strcmp(f->key, "name") == 0) {
            value = pdsim_org_name(org);
        } else if (strcmp(f->key, "address") == 0) {
            value = org_address_value(org);
        } else if (pdsim_search_value_text(f->type, pdsim_org_custom(org, f->key), text,
                                           sizeof(text))) {
            value = text;
        }
        if (!pdsim_match_cs(value, term, mode))
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double)org->id);
        cJSON_AddStringToObject(o, "name", pdsim_org_name(org));
        cJSON_AddItemToArray(out, o);
    }
    return out;
}
