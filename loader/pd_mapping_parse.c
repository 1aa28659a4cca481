/* pd_mapping_parse.c - the mapping file: strict parse, the built-in default,
 * accessors; see pd_mapping.h, pd_mapping_int.h and docs/mapping.md. */
#include "pd_mapping_int.h"

#include "mlc_alloc.h"
#include "mlc_str.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- event fields --------------------------------------------------- */

const struct ev_field pd_mapping_ev_fields[] = {
    {"company", EV_STR, false},
    {"customer_number", EV_STR, false},
    {"op", EV_STR, false},
    {"name", EV_STR, false},
    {"short_name", EV_STR, false},
    {"address_line1", EV_STR, false},
    {"address_line2", EV_STR, false},
    {"address_line3", EV_STR, false},
    {"address_line4", EV_STR, false},
    {"city", EV_STR, false},
    {"state", EV_STR, false},
    {"postal_code", EV_STR, false},
    {"country", EV_STR, false},
    {"phone", EV_STR, false},
    {"fax", EV_STR, false},
    {"email", EV_STR, false},
    {"website", EV_STR, false},
    {"contact_name", EV_STR, false},
    {"contact_phone", EV_STR, false},
    {"contact_email", EV_STR, false},
    {"terms_code", EV_STR, false},
    {"terms_description", EV_STR, false},
    {"credit_limit", EV_NUM, false},
    {"currency", EV_STR, false},
    {"group", EV_STR, false},
    {"status", EV_STR, false},
    {"on_hold", EV_BOOL, false},
    {"inactive_date", EV_DATE, false},
    /* the credit picture (event v2's "credit"; docs/events.md) */
    {"balance_due", EV_NUM, true},
    {"amount_past_due", EV_NUM, true},
    {"credit_used_pct", EV_NUM, true},
    {"open_documents", EV_NUM, true},
    {"last_invoice_date", EV_DATE, true},
    {"last_receipt_date", EV_DATE, true},
};

static int ev_field_index(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(pd_mapping_ev_fields); i++)
        if (strcmp(pd_mapping_ev_fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- the parsed mapping --------------------------------------------- */

const char *const pd_mapping_addr_names[A__COUNT] = {
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

static const struct {
    const char *name;
    enum ftype ft;
} field_types[] = {
    {"varchar", FT_TEXT},  {"varchar_auto", FT_TEXT}, {"text", FT_TEXT}, {"phone", FT_TEXT},
    {"double", FT_DOUBLE}, {"monetary", FT_MONETARY}, {"enum", FT_ENUM}, {"date", FT_DATE},
};

static void source_free(struct source *s)
{
    free(s->sep);
    free(s->default_currency);
    cJSON_Delete(s->constant);
    for (size_t i = 0; i < s->n_cases; i++)
        cJSON_Delete(s->cases[i].equals);
    free(s->cases);
    memset(s, 0, sizeof(*s));
}

void pd_mapping_free(struct pd_mapping *m)
{
    if (!m)
        return;
    source_free(&m->name);
    source_free(&m->website);
    for (size_t i = 0; i < A__COUNT; i++)
        source_free(&m->addr[i]);
    for (size_t i = 0; i < m->n_custom; i++) {
        struct custom *c = &m->custom[i];
        free(c->name);
        free(c->type_name);
        source_free(&c->src);
        for (size_t k = 0; k < c->n_options; k++)
            free(c->options[k]);
        free(c->options);
        free(c->option_ids);
    }
    free(m->custom);
    free(m);
}

/* ---- strict parsing -------------------------------------------------- */

#define PATH_MAX_LEN 192

static mlc_rc bad(struct mlc_err *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static mlc_rc bad(struct mlc_err *err, const char *path, const char *fmt, ...)
{
    char what[320];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mlc_err_set(err, MLC_FATAL, "mapping %s: %s", path, what);
}

/* Every key of obj must be in allowed (NULL-terminated). */
static mlc_rc check_keys(const cJSON *obj, const char *path, const char *const *allowed,
                         struct mlc_err *err)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, obj)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            if (it->string && strcmp(it->string, allowed[i]) == 0)
                ok = true;
        if (!ok)
            return bad(err, path, "unknown key \"%s\"", it->string ? it->string : "");
    }
    return MLC_OK;
}

static mlc_rc want_object(const cJSON *j, const char *path, struct mlc_err *err)
{
    return cJSON_IsObject(j) ? MLC_OK : bad(err, path, "must be an object");
}

static mlc_rc want_string(const cJSON *j, const char *path, size_t maxlen, struct mlc_err *err)
{
    if (!cJSON_IsString(j) || !j->valuestring)
        return bad(err, path, "must be a string");
    size_t n = strlen(j->valuestring);
    if (n == 0)
        return bad(err, path, "must not be empty");
    if (n > maxlen)
        return bad(err, path, "longer than %zu bytes", maxlen);
    if (!mlc_utf8_valid(j->valuestring, n))
        return bad(err, path, "is not valid UTF-8");
    return MLC_OK;
}

static mlc_rc event_field(const cJSON *j, const char *path, int *out, struct mlc_err *err)
{
    mlc_rc rc = want_string(j, path, 64, err);
    if (rc != MLC_OK)
        return rc;
    *out = ev_field_index(j->valuestring);
    if (*out < 0)
        return bad(err, path, "unknown event field \"%s\"", j->valuestring);
    return MLC_OK;
}

static bool is_date(const char *s)
{
    /* YYYY-MM-DD */
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    return true;
}

/* Parses a field list ("join", "first_of"). */
static mlc_rc field_list(const cJSON *arr, const char *path, struct source *s, struct mlc_err *err)
{
    char p[PATH_MAX_LEN];
    const cJSON *it;
    size_t i = 0;

    if (!cJSON_IsArray(arr))
        return bad(err, path, "must be an array of event field names");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n < 1 || n > ARRAY_SIZE(s->fields))
        return bad(err, path, "must list 1 to %zu event fields", ARRAY_SIZE(s->fields));
    cJSON_ArrayForEach(it, arr)
    {
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        mlc_rc rc = event_field(it, p, &s->fields[i], err);
        if (rc != MLC_OK)
            return rc;
        i++;
    }
    s->n_fields = n;
    return MLC_OK;
}

/* A "monetary" source: {"value": numeric event field, "currency": event
 * field, "default_currency": code when the event has none}. */
static mlc_rc parse_monetary(const cJSON *v, const char *path, struct source *s,
                             struct mlc_err *err)
{
    static const char *const mk[] = {"value", "currency", "default_currency", NULL};
    char p[PATH_MAX_LEN];
    mlc_rc rc;

    snprintf(p, sizeof(p), "%s.monetary", path);
    s->kind = SRC_MONETARY;
    if ((rc = want_object(v, p, err)) || (rc = check_keys(v, p, mk, err)))
        return rc;
    snprintf(p, sizeof(p), "%s.monetary.value", path);
    const cJSON *mv = cJSON_GetObjectItemCaseSensitive(v, "value");
    if (!mv)
        return bad(err, p, "is required");
    if ((rc = event_field(mv, p, &s->fields[0], err)))
        return rc;
    if (pd_mapping_ev_fields[s->fields[0]].type != EV_NUM)
        return bad(err, p, "must be a numeric event field");
    snprintf(p, sizeof(p), "%s.monetary.currency", path);
    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(v, "currency");
    if (!mc)
        return bad(err, p, "is required");
    if ((rc = event_field(mc, p, &s->fields[1], err)))
        return rc;
    s->n_fields = 2;
    const cJSON *dc = cJSON_GetObjectItemCaseSensitive(v, "default_currency");
    if (dc) {
        snprintf(p, sizeof(p), "%s.monetary.default_currency", path);
        if ((rc = want_string(dc, p, 3, err)))
            return rc;
        s->default_currency = mlc_xstrdup(dc->valuestring);
    }
    return MLC_OK;
}

/* A "cases" source of enum field c: [{"field", "equals", "label"}...], the
 * first case whose event field equals its value gives its option. */
static mlc_rc parse_cases(const cJSON *v, const char *path, enum ftype ft, const struct custom *c,
                          struct source *s, struct mlc_err *err)
{
    static const char *const ck[] = {"field", "equals", "label", NULL};
    char p[PATH_MAX_LEN];
    const cJSON *it;
    size_t i = 0;
    mlc_rc rc;

    snprintf(p, sizeof(p), "%s.cases", path);
    s->kind = SRC_CASES;
    if (ft != FT_ENUM)
        return bad(err, p, "only an enum field takes \"cases\"");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1)
        return bad(err, p, "must be a non-empty array");
    s->cases = mlc_xcalloc((size_t)cJSON_GetArraySize(v), sizeof(*s->cases));
    cJSON_ArrayForEach(it, v)
    {
        struct enum_case *ec = &s->cases[i];
        char cp[PATH_MAX_LEN];
        snprintf(cp, sizeof(cp), "%s.cases[%zu]", path, i);
        s->n_cases = ++i;
        if ((rc = want_object(it, cp, err)) || (rc = check_keys(it, cp, ck, err)))
            return rc;
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(it, "field");
        const cJSON *eq = cJSON_GetObjectItemCaseSensitive(it, "equals");
        const cJSON *lb = cJSON_GetObjectItemCaseSensitive(it, "label");
        snprintf(p, sizeof(p), "%s.field", cp);
        if (!f)
            return bad(err, p, "is required");
        if ((rc = event_field(f, p, &ec->field, err)))
            return rc;
        snprintf(p, sizeof(p), "%s.equals", cp);
        if (!eq)
            return bad(err, p, "is required");
        enum ev_type et = pd_mapping_ev_fields[ec->field].type;
        if ((et == EV_BOOL && !cJSON_IsBool(eq)) || (et == EV_NUM && !cJSON_IsNumber(eq)) ||
            ((et == EV_STR || et == EV_DATE) && !cJSON_IsString(eq)))
            return bad(err, p, "has the wrong type for event field \"%s\"",
                       pd_mapping_ev_fields[ec->field].name);
        ec->equals = cJSON_Duplicate(eq, 1);
        snprintf(p, sizeof(p), "%s.label", cp);
        if (!lb)
            return bad(err, p, "is required");
        if ((rc = want_string(lb, p, 255, err)))
            return rc;
        bool known = false;
        for (size_t k = 0; c && k < c->n_options; k++) {
            if (strcmp(c->options[k], lb->valuestring) == 0) {
                ec->option = k;
                known = true;
            }
        }
        if (!known)
            return bad(err, p, "\"%s\" is not one of the field's options", lb->valuestring);
    }
    return MLC_OK;
}

/* The kinds of value a source may produce for a target. */
static mlc_rc parse_source(const cJSON *j, const char *path, enum ftype ft, struct custom *c,
                           struct source *s, struct mlc_err *err)
{
    static const char *const kinds[] = {"field",    "const",    "join",  "separator",
                                        "first_of", "monetary", "cases", NULL};
    char p[PATH_MAX_LEN];
    mlc_rc rc;
    int found = 0;

    if ((rc = want_object(j, path, err)) != MLC_OK || (rc = check_keys(j, path, kinds, err)))
        return rc;
    for (size_t i = 0; kinds[i]; i++)
        if (strcmp(kinds[i], "separator") != 0 && cJSON_GetObjectItemCaseSensitive(j, kinds[i]))
            found++;
    if (found != 1)
        return bad(err, path,
                   "needs exactly one of \"field\", \"const\", \"join\", \"first_of\", "
                   "\"monetary\", \"cases\"");
    const cJSON *sep = cJSON_GetObjectItemCaseSensitive(j, "separator");
    const cJSON *v;
    if (sep && !cJSON_GetObjectItemCaseSensitive(j, "join"))
        return bad(err, path, "\"separator\" only goes with \"join\"");

    if ((v = cJSON_GetObjectItemCaseSensitive(j, "field"))) {
        snprintf(p, sizeof(p), "%s.field", path);
        s->kind = SRC_FIELD;
        s->n_fields = 1;
        if ((rc = event_field(v, p, &s->fields[0], err)) != MLC_OK)
            return rc;
        enum ev_type et = pd_mapping_ev_fields[s->fields[0]].type;
        if (ft == FT_DOUBLE && et != EV_NUM)
            return bad(err, p, "a double field needs a numeric event field");
        if (ft == FT_DATE && et != EV_DATE)
            return bad(err, p, "a date field needs a date event field");
    } else if ((v = cJSON_GetObjectItemCaseSensitive(j, "const"))) {
        snprintf(p, sizeof(p), "%s.const", path);
        s->kind = SRC_CONST;
        if (ft == FT_DOUBLE) {
            if (!cJSON_IsNumber(v))
                return bad(err, p, "must be a number for a double field");
        } else if (ft == FT_DATE) {
            if (!cJSON_IsString(v) || !is_date(v->valuestring))
                return bad(err, p, "must be a YYYY-MM-DD string for a date field");
        } else if (cJSON_IsNumber(v)) {
            /* text from a number constant: kept as a number, printed as text */
        } else if ((rc = want_string(v, p, 1024, err)) != MLC_OK) {
            return rc;
        }
        s->constant = cJSON_Duplicate(v, 1);
    } else if ((v = cJSON_GetObjectItemCaseSensitive(j, "join"))) {
        snprintf(p, sizeof(p), "%s.join", path);
        s->kind = SRC_JOIN;
        if ((rc = field_list(v, p, s, err)) != MLC_OK)
            return rc;
        if (sep) {
            snprintf(p, sizeof(p), "%s.separator", path);
            if (!cJSON_IsString(sep) || strlen(sep->valuestring) > 16)
                return bad(err, p, "must be a string of at most 16 bytes");
        }
        s->sep = mlc_xstrdup(sep ? sep->valuestring : ", ");
    } else if ((v = cJSON_GetObjectItemCaseSensitive(j, "first_of"))) {
        snprintf(p, sizeof(p), "%s.first_of", path);
        s->kind = SRC_FIRST_OF;
        if ((rc = field_list(v, p, s, err)) != MLC_OK)
            return rc;
    } else if ((v = cJSON_GetObjectItemCaseSensitive(j, "monetary"))) {
        if ((rc = parse_monetary(v, path, s, err)) != MLC_OK)
            return rc;
    } else if ((rc = parse_cases(cJSON_GetObjectItemCaseSensitive(j, "cases"), path, ft, c, s,
                                 err)) != MLC_OK) {
        return rc;
    }
    if (s->kind == SRC_MONETARY && ft != FT_MONETARY)
        return bad(err, path, "\"monetary\" only goes with a monetary field");
    if (ft == FT_MONETARY && s->kind != SRC_MONETARY)
        return bad(err, path, "a monetary field needs a \"monetary\" source");
    if (ft == FT_ENUM && s->kind != SRC_CASES)
        return bad(err, path, "an enum field needs a \"cases\" source");
    if ((ft == FT_DOUBLE || ft == FT_DATE) && s->kind != SRC_FIELD && s->kind != SRC_CONST)
        return bad(err, path, "a %s field takes only \"field\" or \"const\"",
                   ft == FT_DOUBLE ? "double" : "date");
    return MLC_OK;
}

static mlc_rc parse_custom(const cJSON *j, const char *path, struct custom *c, struct mlc_err *err)
{
    static const char *const keys[] = {"name",    "field_type", "source",
                                       "options", "on_missing", NULL};
    char p[PATH_MAX_LEN];
    mlc_rc rc;

    if ((rc = want_object(j, path, err)) || (rc = check_keys(j, path, keys, err)))
        return rc;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    snprintf(p, sizeof(p), "%s.name", path);
    if (!name)
        return bad(err, p, "is required");
    if ((rc = want_string(name, p, 255, err)))
        return rc;
    c->name = mlc_xstrdup(name->valuestring);

    const cJSON *ft = cJSON_GetObjectItemCaseSensitive(j, "field_type");
    snprintf(p, sizeof(p), "%s.field_type", path);
    if (!ft)
        return bad(err, p, "is required");
    if ((rc = want_string(ft, p, 32, err)))
        return rc;
    bool known = false;
    for (size_t i = 0; i < ARRAY_SIZE(field_types); i++) {
        if (strcmp(field_types[i].name, ft->valuestring) == 0) {
            c->ft = field_types[i].ft;
            known = true;
        }
    }
    if (!known)
        return bad(err, p,
                   "unsupported field type \"%s\" (varchar, varchar_auto, text, phone, double, "
                   "monetary, enum, date)",
                   ft->valuestring);
    c->type_name = mlc_xstrdup(ft->valuestring);

    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(j, "options");
    snprintf(p, sizeof(p), "%s.options", path);
    if (opts && c->ft != FT_ENUM)
        return bad(err, p, "only an enum field has options");
    if (c->ft == FT_ENUM) {
        const cJSON *it;
        if (!opts)
            return bad(err, p, "is required for an enum field");
        if (!cJSON_IsArray(opts) || cJSON_GetArraySize(opts) < 1 || cJSON_GetArraySize(opts) > 1000)
            return bad(err, p, "must be an array of 1 to 1000 labels");
        size_t n = (size_t)cJSON_GetArraySize(opts);
        c->options = mlc_xcalloc(n, sizeof(*c->options));
        c->option_ids = mlc_xcalloc(n, sizeof(*c->option_ids));
        cJSON_ArrayForEach(it, opts)
        {
            char op[PATH_MAX_LEN];
            snprintf(op, sizeof(op), "%s.options[%zu]", path, c->n_options);
            if ((rc = want_string(it, op, 255, err)))
                return rc;
            for (size_t k = 0; k < c->n_options; k++)
                if (strcmp(c->options[k], it->valuestring) == 0)
                    return bad(err, op, "duplicate option \"%s\"", it->valuestring);
            c->options[c->n_options] = mlc_xstrdup(it->valuestring);
            c->option_ids[c->n_options++] = -1;
        }
    }

    const cJSON *om = cJSON_GetObjectItemCaseSensitive(j, "on_missing");
    if (om) {
        snprintf(p, sizeof(p), "%s.on_missing", path);
        if (!cJSON_IsBool(om))
            return bad(err, p, "must be true or false");
        c->on_missing = cJSON_IsTrue(om);
    }

    const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source");
    snprintf(p, sizeof(p), "%s.source", path);
    if (!src)
        return bad(err, p, "is required");
    return parse_source(src, p, c->ft, c, &c->src, err);
}

/* Long because it walks the root members in the schema's order, one short
 * check each, so an error names the first wrong member as the schema does. */
static mlc_rc parse_root(const cJSON *root, struct pd_mapping *m, struct mlc_err *err)
{
    static const char *const keys[] = {"$schema", "version", "identity",      "name",
                                       "address", "website", "custom_fields", NULL};
    static const char *const id_keys[] = {"customer_number", "company", NULL};
    char p[PATH_MAX_LEN];
    mlc_rc rc;
    const cJSON *v, *it;

    if ((rc = want_object(root, "$", err)) || (rc = check_keys(root, "$", keys, err)))
        return rc;
    v = cJSON_GetObjectItemCaseSensitive(root, "$schema");
    if (v && !cJSON_IsString(v))
        return bad(err, "$.$schema", "must be a string");
    v = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!v)
        return bad(err, "$.version", "is required");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1)
        return bad(err, "$.version", "must be 1");

    v = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (!v)
        return bad(err, "$.name", "is required");
    if ((rc = parse_source(v, "$.name", FT_TEXT, NULL, &m->name, err)))
        return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "website"))) {
        m->has_website = true;
        if ((rc = parse_source(v, "$.website", FT_TEXT, NULL, &m->website, err)))
            return rc;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "address"))) {
        static const char *akeys[A__COUNT + 1];
        for (size_t i = 0; i < A__COUNT; i++)
            akeys[i] = pd_mapping_addr_names[i];
        akeys[A__COUNT] = NULL;
        if ((rc = want_object(v, "$.address", err)) ||
            (rc = check_keys(v, "$.address", akeys, err)))
            return rc;
        m->has_address = true;
        if (!cJSON_GetObjectItemCaseSensitive(v, "value"))
            return bad(err, "$.address.value", "is required (Pipedrive needs it)");
        for (size_t i = 0; i < A__COUNT; i++) {
            const cJSON *sv = cJSON_GetObjectItemCaseSensitive(v, pd_mapping_addr_names[i]);
            if (!sv)
                continue;
            snprintf(p, sizeof(p), "$.address.%s", pd_mapping_addr_names[i]);
            m->has_sub[i] = true;
            if ((rc = parse_source(sv, p, FT_TEXT, NULL, &m->addr[i], err)))
                return rc;
        }
    }

    v = cJSON_GetObjectItemCaseSensitive(root, "custom_fields");
    if (!v)
        return bad(err, "$.custom_fields", "is required");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 200)
        return bad(err, "$.custom_fields", "must be an array of at most 200 fields");
    size_t n = (size_t)cJSON_GetArraySize(v);
    m->custom = mlc_xcalloc(n ? n : 1, sizeof(*m->custom));
    cJSON_ArrayForEach(it, v)
    {
        size_t i = m->n_custom++;
        snprintf(p, sizeof(p), "$.custom_fields[%zu]", i);
        if ((rc = parse_custom(it, p, &m->custom[i], err)))
            return rc;
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->custom[k].name, m->custom[i].name) == 0)
                return bad(err, p, "custom field \"%s\" is mapped twice", m->custom[i].name);
    }

    v = cJSON_GetObjectItemCaseSensitive(root, "identity");
    if (!v)
        return bad(err, "$.identity", "is required");
    if ((rc = want_object(v, "$.identity", err)) ||
        (rc = check_keys(v, "$.identity", id_keys, err)))
        return rc;
    for (int k = 0; k < 2; k++) {
        const char *which = id_keys[k];
        const cJSON *iv = cJSON_GetObjectItemCaseSensitive(v, which);
        snprintf(p, sizeof(p), "$.identity.%s", which);
        if (!iv)
            return bad(err, p, "is required");
        if ((rc = want_string(iv, p, 255, err)))
            return rc;
        long idx = pd_mapping_custom_find(m, iv->valuestring);
        if (idx < 0)
            return bad(err, p, "\"%s\" is not one of the custom fields", iv->valuestring);
        const struct custom *c = &m->custom[idx];
        if (c->ft != FT_TEXT || c->src.kind != SRC_FIELD ||
            strcmp(pd_mapping_ev_fields[c->src.fields[0]].name, which) != 0)
            return bad(err, p, "\"%s\" must be a text field with source {\"field\": \"%s\"}",
                       iv->valuestring, which);
        if (k == 0)
            m->id_field = (size_t)idx;
        else
            m->company_field = (size_t)idx;
    }
    return MLC_OK;
}

mlc_rc pd_mapping_parse(const char *json, struct pd_mapping **out, struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;
    cJSON *root = NULL;
    struct pd_mapping *m = NULL;

    *out = NULL;
    if (!json || strlen(json) > PD_MAPPING_MAX_BYTES) {
        rc = mlc_err_set(err, MLC_FATAL, "mapping: empty or larger than %d bytes",
                         PD_MAPPING_MAX_BYTES);
        goto out;
    }
    root = cJSON_Parse(json);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= json ? (size_t)(at - json) : 0;
        rc = mlc_err_set(err, MLC_FATAL, "mapping: not valid JSON near byte %zu", off);
        goto out;
    }
    m = mlc_xcalloc(1, sizeof(*m));
    if ((rc = parse_root(root, m, err)) != MLC_OK)
        goto out;
    *out = m;
    m = NULL;
out:
    pd_mapping_free(m);
    cJSON_Delete(root);
    return rc;
}

mlc_rc pd_mapping_load_file(const char *path, struct pd_mapping **out, struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;
    struct mlc_buf b;
    FILE *f = NULL;
    char chunk[4096];
    size_t n;

    *out = NULL;
    mlc_buf_init(&b, PD_MAPPING_MAX_BYTES);
    f = fopen(path, "rb");
    if (!f) {
        rc = mlc_err_set(err, MLC_FATAL, "mapping %s: %s", path, strerror(errno));
        goto out;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (memchr(chunk, '\0', n)) {
            rc = mlc_err_set(err, MLC_FATAL, "mapping %s: contains a NUL byte", path);
            goto out;
        }
        if (mlc_buf_append(&b, chunk, n) != MLC_OK) {
            rc = mlc_err_set(err, MLC_FATAL, "mapping %s: larger than %d bytes", path,
                             PD_MAPPING_MAX_BYTES);
            goto out;
        }
    }
    if (ferror(f)) {
        rc = mlc_err_set(err, MLC_FATAL, "mapping %s: read error", path);
        goto out;
    }
    if ((rc = pd_mapping_parse(mlc_buf_str(&b), out, err)) != MLC_OK)
        mlc_err_prefix(err, "%s", path);
out:
    if (f)
        fclose(f);
    mlc_buf_free(&b);
    return rc;
}

size_t pd_mapping_custom_count(const struct pd_mapping *m)
{
    return m->n_custom;
}

const char *pd_mapping_custom_name(const struct pd_mapping *m, size_t i)
{
    return i < m->n_custom ? m->custom[i].name : NULL;
}

const char *pd_mapping_custom_type(const struct pd_mapping *m, size_t i)
{
    return i < m->n_custom ? m->custom[i].type_name : NULL;
}

const char *pd_mapping_custom_key(const struct pd_mapping *m, size_t i)
{
    return i < m->n_custom && m->custom[i].resolved ? m->custom[i].key : NULL;
}

long pd_mapping_custom_find(const struct pd_mapping *m, const char *name)
{
    for (size_t i = 0; i < m->n_custom; i++)
        if (m->custom[i].name && strcmp(m->custom[i].name, name) == 0)
            return (long)i;
    return -1;
}

void pd_mapping_identity(const struct pd_mapping *m, size_t *customer_number_field,
                         size_t *company_field)
{
    *customer_number_field = m->id_field;
    *company_field = m->company_field;
}

/* ---- the built-in default ------------------------------------------ */

static const char default_mapping_json[] =
    "{\n"
    "  \"$schema\": \"mapping.v1.json\",\n"
    "  \"version\": 1,\n"
    "  \"identity\": {\n"
    "    \"customer_number\": \"Sage 300 Customer ID\",\n"
    "    \"company\": \"Sage 300 Company\"\n"
    "  },\n"
    "  \"name\": { \"field\": \"name\" },\n"
    "  \"address\": {\n"
    "    \"value\": {\n"
    "      \"join\": [\"address_line1\", \"address_line2\", \"address_line3\", \"address_line4\",\n"
    "               \"city\", \"state\", \"postal_code\", \"country\"],\n"
    "      \"separator\": \", \"\n"
    "    },\n"
    "    \"route\": { \"field\": \"address_line1\" },\n"
    "    \"locality\": { \"field\": \"city\" },\n"
    "    \"admin_area_level_1\": { \"field\": \"state\" },\n"
    "    \"postal_code\": { \"field\": \"postal_code\" },\n"
    "    \"country\": { \"field\": \"country\" }\n"
    "  },\n"
    "  \"custom_fields\": [\n"
    "    { \"name\": \"Sage 300 Customer ID\", \"field_type\": \"varchar\",\n"
    "      \"source\": { \"field\": \"customer_number\" } },\n"
    "    { \"name\": \"Sage 300 Company\", \"field_type\": \"varchar\",\n"
    "      \"source\": { \"field\": \"company\" } },\n"
    "    { \"name\": \"Payment Terms\", \"field_type\": \"varchar\",\n"
    "      \"source\": { \"first_of\": [\"terms_description\", \"terms_code\"] } },\n"
    "    { \"name\": \"Credit Limit\", \"field_type\": \"monetary\",\n"
    "      \"source\": { \"monetary\": { \"value\": \"credit_limit\", \"currency\": \"currency\" } "
    "} },\n"
    "    { \"name\": \"Phone\", \"field_type\": \"phone\", \"source\": { \"field\": \"phone\" } "
    "},\n"
    "    { \"name\": \"Email\", \"field_type\": \"varchar\", \"source\": { \"field\": \"email\" } "
    "},\n"
    "    { \"name\": \"Contact Name\", \"field_type\": \"varchar\", \"source\": { \"field\": "
    "\"contact_name\" } },\n"
    "    { \"name\": \"Customer Status\", \"field_type\": \"enum\",\n"
    "      \"options\": [\"Active\", \"Inactive\", \"On hold\", \"Missing in Sage 300\"],\n"
    "      \"on_missing\": true,\n"
    "      \"source\": { \"cases\": [\n"
    "        { \"field\": \"op\", \"equals\": \"missing\", \"label\": \"Missing in Sage 300\" },\n"
    "        { \"field\": \"on_hold\", \"equals\": true, \"label\": \"On hold\" },\n"
    "        { \"field\": \"status\", \"equals\": \"active\", \"label\": \"Active\" },\n"
    "        { \"field\": \"status\", \"equals\": \"inactive\", \"label\": \"Inactive\" }\n"
    "      ] } },\n"
    "    { \"name\": \"Balance Due\", \"field_type\": \"monetary\",\n"
    "      \"source\": { \"monetary\": { \"value\": \"balance_due\", \"currency\": \"currency\" } "
    "} },\n"
    "    { \"name\": \"Amount Past Due\", \"field_type\": \"monetary\",\n"
    "      \"source\": { \"monetary\": { \"value\": \"amount_past_due\", \"currency\": "
    "\"currency\" } } },\n"
    "    { \"name\": \"Credit Used %\", \"field_type\": \"double\",\n"
    "      \"source\": { \"field\": \"credit_used_pct\" } },\n"
    "    { \"name\": \"Open Documents\", \"field_type\": \"double\",\n"
    "      \"source\": { \"field\": \"open_documents\" } },\n"
    "    { \"name\": \"Last Invoice Date\", \"field_type\": \"date\",\n"
    "      \"source\": { \"field\": \"last_invoice_date\" } },\n"
    "    { \"name\": \"Last Receipt Date\", \"field_type\": \"date\",\n"
    "      \"source\": { \"field\": \"last_receipt_date\" } }\n"
    "  ]\n"
    "}\n";

const char *pd_mapping_default_json(void)
{
    return default_mapping_json;
}

mlc_rc pd_mapping_default(struct pd_mapping **out, struct mlc_err *err)
{
    return pd_mapping_parse(default_mapping_json, out, err);
}
