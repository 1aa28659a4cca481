/* pd_mapping.c - mapping file, field resolution, body building and diff;
 * see pd_mapping.h and docs/mapping.md. */
#include "pd_mapping.h"

#include "mlc_str.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- event fields --------------------------------------------------- */

enum ev_type { EV_STR, EV_DATE, EV_NUM, EV_BOOL };

static const struct {
    const char *name;
    enum ev_type type;
} ev_fields[] = {
    {"company", EV_STR},
    {"customer_number", EV_STR},
    {"op", EV_STR},
    {"name", EV_STR},
    {"short_name", EV_STR},
    {"address_line1", EV_STR},
    {"address_line2", EV_STR},
    {"address_line3", EV_STR},
    {"address_line4", EV_STR},
    {"city", EV_STR},
    {"state", EV_STR},
    {"postal_code", EV_STR},
    {"country", EV_STR},
    {"phone", EV_STR},
    {"fax", EV_STR},
    {"email", EV_STR},
    {"website", EV_STR},
    {"contact_name", EV_STR},
    {"contact_phone", EV_STR},
    {"contact_email", EV_STR},
    {"terms_code", EV_STR},
    {"terms_description", EV_STR},
    {"credit_limit", EV_NUM},
    {"currency", EV_STR},
    {"group", EV_STR},
    {"status", EV_STR},
    {"on_hold", EV_BOOL},
    {"inactive_date", EV_DATE},
};

static int ev_field_index(const char *name)
{
    for (size_t i = 0; i < sizeof(ev_fields) / sizeof(ev_fields[0]); i++)
        if (strcmp(ev_fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- the parsed mapping --------------------------------------------- */

enum src_kind { SRC_FIELD, SRC_CONST, SRC_JOIN, SRC_FIRST_OF, SRC_MONETARY, SRC_CASES };

struct enum_case {
    int field;     /* ev_fields index */
    cJSON *equals; /* owned */
    size_t option; /* index into the custom field's options */
};

struct source {
    enum src_kind kind;
    int fields[16]; /* ev_fields indexes: FIELD 1, JOIN/FIRST_OF n, MONETARY value+currency */
    size_t n_fields;
    char *sep;
    char *default_currency;
    cJSON *constant; /* owned */
    struct enum_case *cases;
    size_t n_cases;
};

enum addr_sub {
    A_VALUE,
    A_STREET_NUMBER,
    A_ROUTE,
    A_SUBPREMISE,
    A_SUBLOCALITY,
    A_LOCALITY,
    A_ADMIN1,
    A_ADMIN2,
    A_COUNTRY,
    A_POSTAL_CODE,
    A__COUNT
};

static const char *const addr_names[A__COUNT] = {
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

enum ftype { FT_TEXT, FT_DOUBLE, FT_MONETARY, FT_ENUM, FT_DATE };

static const struct {
    const char *name;
    enum ftype ft;
} field_types[] = {
    {"varchar", FT_TEXT},  {"varchar_auto", FT_TEXT}, {"text", FT_TEXT}, {"phone", FT_TEXT},
    {"double", FT_DOUBLE}, {"monetary", FT_MONETARY}, {"enum", FT_ENUM}, {"date", FT_DATE},
};

struct custom {
    char *name;
    char *type_name;
    enum ftype ft;
    bool on_missing;
    struct source src;
    char **options;
    long *option_ids; /* -1 until resolved */
    size_t n_options;
    char key[41];
    bool resolved;
};

struct pd_mapping {
    struct source name;
    bool has_website;
    struct source website;
    bool has_address;
    bool has_sub[A__COUNT];
    struct source addr[A__COUNT];
    struct custom *custom;
    size_t n_custom;
    size_t id_field, company_field; /* custom indexes */
    bool address_nulls;             /* send absent address parts as null */
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

static char *dup_str(const char *s, struct mlc_err *err)
{
    char *d = strdup(s);
    if (!d)
        mlc_err_set(err, MLC_FATAL, "mapping: out of memory");
    return d;
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
    if (n < 1 || n > sizeof(s->fields) / sizeof(s->fields[0]))
        return bad(err, path, "must list 1 to %zu event fields",
                   sizeof(s->fields) / sizeof(s->fields[0]));
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
        enum ev_type et = ev_fields[s->fields[0]].type;
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
        if (!(s->constant = cJSON_Duplicate(v, 1)))
            return mlc_err_set(err, MLC_FATAL, "mapping: out of memory");
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
        if (!(s->sep = dup_str(sep ? sep->valuestring : ", ", err)))
            return MLC_FATAL;
    } else if ((v = cJSON_GetObjectItemCaseSensitive(j, "first_of"))) {
        snprintf(p, sizeof(p), "%s.first_of", path);
        s->kind = SRC_FIRST_OF;
        if ((rc = field_list(v, p, s, err)) != MLC_OK)
            return rc;
    } else if ((v = cJSON_GetObjectItemCaseSensitive(j, "monetary"))) {
        static const char *const mk[] = {"value", "currency", "default_currency", NULL};
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
        if (ev_fields[s->fields[0]].type != EV_NUM)
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
            if (!(s->default_currency = dup_str(dc->valuestring, err)))
                return MLC_FATAL;
        }
    } else {
        static const char *const ck[] = {"field", "equals", "label", NULL};
        const cJSON *it;
        size_t i = 0;
        v = cJSON_GetObjectItemCaseSensitive(j, "cases");
        snprintf(p, sizeof(p), "%s.cases", path);
        s->kind = SRC_CASES;
        if (ft != FT_ENUM)
            return bad(err, p, "only an enum field takes \"cases\"");
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1)
            return bad(err, p, "must be a non-empty array");
        s->cases = calloc((size_t)cJSON_GetArraySize(v), sizeof(*s->cases));
        if (!s->cases)
            return mlc_err_set(err, MLC_FATAL, "mapping: out of memory");
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
            enum ev_type et = ev_fields[ec->field].type;
            if ((et == EV_BOOL && !cJSON_IsBool(eq)) || (et == EV_NUM && !cJSON_IsNumber(eq)) ||
                ((et == EV_STR || et == EV_DATE) && !cJSON_IsString(eq)))
                return bad(err, p, "has the wrong type for event field \"%s\"",
                           ev_fields[ec->field].name);
            if (!(ec->equals = cJSON_Duplicate(eq, 1)))
                return mlc_err_set(err, MLC_FATAL, "mapping: out of memory");
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
    if (!(c->name = dup_str(name->valuestring, err)))
        return MLC_FATAL;

    const cJSON *ft = cJSON_GetObjectItemCaseSensitive(j, "field_type");
    snprintf(p, sizeof(p), "%s.field_type", path);
    if (!ft)
        return bad(err, p, "is required");
    if ((rc = want_string(ft, p, 32, err)))
        return rc;
    bool known = false;
    for (size_t i = 0; i < sizeof(field_types) / sizeof(field_types[0]); i++) {
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
    if (!(c->type_name = dup_str(ft->valuestring, err)))
        return MLC_FATAL;

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
        c->options = calloc(n, sizeof(*c->options));
        c->option_ids = calloc(n, sizeof(*c->option_ids));
        if (!c->options || !c->option_ids)
            return mlc_err_set(err, MLC_FATAL, "mapping: out of memory");
        cJSON_ArrayForEach(it, opts)
        {
            char op[PATH_MAX_LEN];
            snprintf(op, sizeof(op), "%s.options[%zu]", path, c->n_options);
            if ((rc = want_string(it, op, 255, err)))
                return rc;
            for (size_t k = 0; k < c->n_options; k++)
                if (strcmp(c->options[k], it->valuestring) == 0)
                    return bad(err, op, "duplicate option \"%s\"", it->valuestring);
            if (!(c->options[c->n_options] = dup_str(it->valuestring, err)))
                return MLC_FATAL;
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
            akeys[i] = addr_names[i];
        akeys[A__COUNT] = NULL;
        if ((rc = want_object(v, "$.address", err)) ||
            (rc = check_keys(v, "$.address", akeys, err)))
            return rc;
        m->has_address = true;
        if (!cJSON_GetObjectItemCaseSensitive(v, "value"))
            return bad(err, "$.address.value", "is required (Pipedrive needs it)");
        for (size_t i = 0; i < A__COUNT; i++) {
            const cJSON *sv = cJSON_GetObjectItemCaseSensitive(v, addr_names[i]);
            if (!sv)
                continue;
            snprintf(p, sizeof(p), "$.address.%s", addr_names[i]);
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
    m->custom = calloc(n ? n : 1, sizeof(*m->custom));
    if (!m->custom)
        return mlc_err_set(err, MLC_FATAL, "mapping: out of memory");
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
            strcmp(ev_fields[c->src.fields[0]].name, which) != 0)
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
    m = calloc(1, sizeof(*m));
    if (!m) {
        rc = mlc_err_set(err, MLC_FATAL, "mapping: out of memory");
        goto out;
    }
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

/* ---- resolution ------------------------------------------------------ */

static bool is_hex40(const char *s)
{
    if (!s || strlen(s) != 40)
        return false;
    for (int i = 0; i < 40; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void rep_add(struct pd_resolve_report *rep, const char *what, const char *name,
                    const char *label)
{
    size_t len = strlen(rep->text);

    if (len + 1 >= sizeof(rep->text))
        return;
    snprintf(rep->text + len, sizeof(rep->text) - len, "%s%s %s%s%s%s", len ? "; " : "", what, name,
             label ? " (option \"" : "", label ? label : "", label ? "\")" : "");
}

mlc_rc pd_mapping_resolve(struct pd_mapping *m, const cJSON *fields, struct pd_resolve_report *rep,
                          struct mlc_err *err)
{
    struct pd_resolve_report local;
    const cJSON *it;

    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof(*rep));
    if (cJSON_IsObject(fields))
        fields = cJSON_GetObjectItemCaseSensitive(fields, "data");
    if (!cJSON_IsArray(fields))
        return mlc_err_set(err, MLC_FATAL, "organization fields: expected an array");

    for (size_t i = 0; i < m->n_custom; i++) {
        struct custom *c = &m->custom[i];
        const cJSON *match = NULL;

        c->resolved = false;
        c->key[0] = '\0';
        for (size_t k = 0; k < c->n_options; k++)
            c->option_ids[k] = -1;
        cJSON_ArrayForEach(it, fields)
        {
            const cJSON *fname = cJSON_GetObjectItemCaseSensitive(it, "field_name");
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(it, "field_code");
            const cJSON *custom = cJSON_GetObjectItemCaseSensitive(it, "is_custom_field");
            if (!cJSON_IsString(fname) || strcmp(fname->valuestring, c->name) != 0)
                continue;
            /* system fields (name, address, ...) are never mapped as custom */
            if (cJSON_IsFalse(custom))
                continue;
            if (!cJSON_IsString(code) || !is_hex40(code->valuestring))
                return mlc_err_set(err, MLC_FATAL,
                                   "organization field \"%s\": field_code is not a 40-char key",
                                   c->name);
            if (match) {
                const cJSON *c1 = cJSON_GetObjectItemCaseSensitive(match, "field_code");
                return mlc_err_set(err, MLC_FATAL,
                                   "organization field \"%s\" exists twice (%s and %s): rename "
                                   "or delete one in Pipedrive, the loader will not guess",
                                   c->name, c1->valuestring, code->valuestring);
            }
            match = it;
        }
        if (!match) {
            rep->missing_fields++;
            rep_add(rep, "missing field", c->name, NULL);
            continue;
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(match, "field_type");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, c->type_name) != 0)
            return mlc_err_set(err, MLC_FATAL,
                               "organization field \"%s\" is of type %s in Pipedrive but the "
                               "mapping declares %s",
                               c->name, cJSON_IsString(type) ? type->valuestring : "(none)",
                               c->type_name);
        mlc_strlcpy(c->key, cJSON_GetObjectItemCaseSensitive(match, "field_code")->valuestring,
                    sizeof(c->key));
        c->resolved = true;
        if (c->ft != FT_ENUM)
            continue;
        const cJSON *opts = cJSON_GetObjectItemCaseSensitive(match, "options");
        for (size_t k = 0; k < c->n_options; k++) {
            const cJSON *o;
            cJSON_ArrayForEach(o, opts)
            {
                const cJSON *label = cJSON_GetObjectItemCaseSensitive(o, "label");
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
                if (!cJSON_IsString(label) || strcmp(label->valuestring, c->options[k]) != 0)
                    continue;
                if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > 1e15)
                    return mlc_err_set(err, MLC_FATAL,
                                       "organization field \"%s\": option \"%s\" has no id",
                                       c->name, c->options[k]);
                if (c->option_ids[k] >= 0)
                    return mlc_err_set(err, MLC_FATAL,
                                       "organization field \"%s\" has option \"%s\" twice: the "
                                       "loader will not guess",
                                       c->name, c->options[k]);
                c->option_ids[k] = (long)id->valuedouble;
            }
            if (c->option_ids[k] < 0) {
                rep->missing_options++;
                rep_add(rep, "missing option of", c->name, c->options[k]);
            }
        }
    }
    return MLC_OK;
}

bool pd_mapping_field_resolved(const struct pd_mapping *m, size_t i)
{
    return i < m->n_custom && m->custom[i].resolved;
}

bool pd_mapping_resolved(const struct pd_mapping *m)
{
    for (size_t i = 0; i < m->n_custom; i++) {
        if (!m->custom[i].resolved)
            return false;
        for (size_t k = 0; k < m->custom[i].n_options; k++)
            if (m->custom[i].option_ids[k] < 0)
                return false;
    }
    return true;
}

cJSON *pd_mapping_field_create_body(const struct pd_mapping *m, size_t i)
{
    cJSON *b = NULL, *opts;

    if (i >= m->n_custom)
        return NULL;
    const struct custom *c = &m->custom[i];
    if (!(b = cJSON_CreateObject()) || !cJSON_AddStringToObject(b, "field_name", c->name) ||
        !cJSON_AddStringToObject(b, "field_type", c->type_name))
        goto fail;
    if (c->ft == FT_ENUM) {
        if (!(opts = cJSON_AddArrayToObject(b, "options")))
            goto fail;
        for (size_t k = 0; k < c->n_options; k++) {
            cJSON *o = cJSON_CreateObject();
            if (!o || !cJSON_AddItemToArray(opts, o) ||
                !cJSON_AddStringToObject(o, "label", c->options[k]))
                goto fail;
        }
    }
    return b;
fail:
    cJSON_Delete(b);
    return NULL;
}

cJSON *pd_mapping_missing_options_body(const struct pd_mapping *m, size_t i)
{
    cJSON *arr = NULL;

    if (i >= m->n_custom || !m->custom[i].resolved)
        return NULL;
    const struct custom *c = &m->custom[i];
    for (size_t k = 0; k < c->n_options; k++) {
        if (c->option_ids[k] >= 0)
            continue;
        cJSON *o = cJSON_CreateObject();
        if (!arr)
            arr = cJSON_CreateArray();
        if (!o || !arr || !cJSON_AddItemToArray(arr, o) ||
            !cJSON_AddStringToObject(o, "label", c->options[k])) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* ---- applying -------------------------------------------------------- */

struct val {
    enum { V_NONE, V_STR, V_NUM, V_BOOL } t;
    const char *s;
    double d;
    bool b;
};

static struct val ev_value(const struct pd_event_view *ev, int field)
{
    struct val v = {V_NONE, NULL, 0, false};
    const char *name = ev_fields[field].name;
    const char *s = NULL;

    if (strcmp(name, "company") == 0)
        s = ev->company;
    else if (strcmp(name, "customer_number") == 0)
        s = ev->customer_number;
    else if (strcmp(name, "op") == 0)
        s = ev->op;
    else {
        const cJSON *j = ev->customer ? cJSON_GetObjectItemCaseSensitive(ev->customer, name) : NULL;
        if (cJSON_IsString(j))
            s = j->valuestring;
        else if (cJSON_IsNumber(j) && isfinite(j->valuedouble)) {
            v.t = V_NUM;
            v.d = j->valuedouble;
        } else if (cJSON_IsBool(j)) {
            v.t = V_BOOL;
            v.b = cJSON_IsTrue(j);
        }
    }
    if (s && *s) {
        v.t = V_STR;
        v.s = s;
    }
    return v;
}

/* Shortest text that reads back as the same double. */
static void fmt_num(double d, char *out, size_t n)
{
    if (d == floor(d) && fabs(d) < 9007199254740992.0) {
        snprintf(out, n, "%.0f", d);
        if (strcmp(out, "-0") == 0)
            mlc_strlcpy(out, "0", n);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

/* Appends v as text to b. */
static mlc_rc val_text(const struct val *v, struct mlc_buf *b)
{
    char num[40];

    switch (v->t) {
    case V_STR:
        return mlc_buf_puts(b, v->s);
    case V_NUM:
        fmt_num(v->d, num, sizeof(num));
        return mlc_buf_puts(b, num);
    case V_BOOL:
        return mlc_buf_puts(b, v->b ? "true" : "false");
    default:
        return MLC_OK;
    }
}

static bool val_equals(const struct val *v, const cJSON *eq)
{
    if (v->t == V_STR)
        return cJSON_IsString(eq) && strcmp(v->s, eq->valuestring) == 0;
    if (v->t == V_NUM)
        return cJSON_IsNumber(eq) && eq->valuedouble == v->d;
    if (v->t == V_BOOL)
        return cJSON_IsBool(eq) && cJSON_IsTrue(eq) == v->b;
    return false;
}

/* Evaluates a source to a new cJSON value, or NULL when absent (*rc tells
 * a failure apart). */
static cJSON *eval(const struct source *s, const struct custom *c, const struct pd_event_view *ev,
                   mlc_rc *rc)
{
    struct mlc_buf b;
    cJSON *out = NULL;
    struct val v;

    *rc = MLC_OK;
    mlc_buf_init(&b, 64 * 1024);
    switch (s->kind) {
    case SRC_FIELD:
        v = ev_value(ev, s->fields[0]);
        if (v.t == V_NONE)
            break;
        if (c && c->ft == FT_DOUBLE) {
            out = v.t == V_NUM ? cJSON_CreateNumber(v.d) : NULL;
            break;
        }
        if ((*rc = val_text(&v, &b)) == MLC_OK)
            out = cJSON_CreateString(mlc_buf_str(&b));
        break;
    case SRC_CONST:
        if (cJSON_IsNumber(s->constant) && !(c && c->ft == FT_DOUBLE)) {
            v.t = V_NUM;
            v.d = s->constant->valuedouble;
            if ((*rc = val_text(&v, &b)) == MLC_OK)
                out = cJSON_CreateString(mlc_buf_str(&b));
        } else {
            out = cJSON_Duplicate(s->constant, 1);
        }
        break;
    case SRC_JOIN:
        for (size_t i = 0; i < s->n_fields && *rc == MLC_OK; i++) {
            v = ev_value(ev, s->fields[i]);
            if (v.t == V_NONE)
                continue;
            if (b.len > 0)
                *rc = mlc_buf_puts(&b, s->sep);
            if (*rc == MLC_OK)
                *rc = val_text(&v, &b);
        }
        if (*rc == MLC_OK && b.len > 0)
            out = cJSON_CreateString(mlc_buf_str(&b));
        break;
    case SRC_FIRST_OF:
        for (size_t i = 0; i < s->n_fields; i++) {
            v = ev_value(ev, s->fields[i]);
            if (v.t == V_NONE)
                continue;
            if ((*rc = val_text(&v, &b)) == MLC_OK)
                out = cJSON_CreateString(mlc_buf_str(&b));
            break;
        }
        break;
    case SRC_MONETARY: {
        struct val amount = ev_value(ev, s->fields[0]);
        struct val cur = ev_value(ev, s->fields[1]);
        const char *code = cur.t == V_STR ? cur.s : s->default_currency;
        if (amount.t != V_NUM || !code)
            break;
        out = cJSON_CreateObject();
        if (out && (!cJSON_AddNumberToObject(out, "value", amount.d) ||
                    !cJSON_AddStringToObject(out, "currency", code))) {
            cJSON_Delete(out);
            out = NULL;
            *rc = MLC_FATAL;
        }
        break;
    }
    case SRC_CASES:
        for (size_t i = 0; i < s->n_cases; i++) {
            v = ev_value(ev, s->cases[i].field);
            if (val_equals(&v, s->cases[i].equals)) {
                out = cJSON_CreateNumber((double)c->option_ids[s->cases[i].option]);
                break;
            }
        }
        break;
    }
    if (*rc == MLC_OK && !out && b.len > 0 && s->kind != SRC_MONETARY)
        *rc = MLC_FATAL; /* an allocation failed */
    mlc_buf_free(&b);
    return out;
}

/* Adds key = value (or null on update / nothing on create when absent).
 * Takes ownership of value. */
static bool put(cJSON *obj, const char *key, cJSON *value, enum pd_apply_mode mode)
{
    if (!value) {
        if (mode == PD_APPLY_CREATE)
            return true;
        value = cJSON_CreateNull();
        if (!value)
            return false;
    }
    if (!cJSON_AddItemToObject(obj, key, value)) {
        cJSON_Delete(value);
        return false;
    }
    return true;
}

mlc_rc pd_mapping_apply(const struct pd_mapping *m, const struct pd_event_view *ev,
                        enum pd_apply_mode mode, cJSON **body, struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;
    cJSON *b = NULL, *cf, *v;
    bool missing;

    *body = NULL;
    if (!pd_mapping_resolved(m)) {
        rc = mlc_err_set(err, MLC_FATAL, "mapping: custom fields not resolved");
        goto out;
    }
    if (!ev->op || (strcmp(ev->op, "upsert") != 0 && strcmp(ev->op, "missing") != 0)) {
        rc = mlc_err_set(err, MLC_PERM, "event: unknown op \"%s\"", ev->op ? ev->op : "");
        goto out;
    }
    missing = strcmp(ev->op, "missing") == 0;
    if (!missing && !cJSON_IsObject(ev->customer)) {
        rc = mlc_err_set(err, MLC_PERM, "event: upsert without a customer object");
        goto out;
    }
    if (!(b = cJSON_CreateObject()))
        goto oom;

    if (!missing) {
        if (!(v = eval(&m->name, NULL, ev, &rc)) && rc == MLC_OK) {
            rc = mlc_err_set(err, MLC_PERM, "event %s:%s has no name for the organization",
                             ev->company ? ev->company : "",
                             ev->customer_number ? ev->customer_number : "");
            goto out;
        }
        if (rc != MLC_OK || !put(b, "name", v, mode))
            goto oom;
        if (m->has_address) {
            cJSON *addr = NULL, *value = eval(&m->addr[A_VALUE], NULL, ev, &rc);
            if (rc != MLC_OK)
                goto oom;
            if (value) {
                /* the whole object: a subfield left out would be set to null */
                if (!(addr = cJSON_CreateObject()) ||
                    !cJSON_AddItemToObject(addr, "value", value)) {
                    cJSON_Delete(addr);
                    cJSON_Delete(value);
                    goto oom;
                }
                for (size_t i = 1; i < A__COUNT; i++) {
                    cJSON *sv = m->has_sub[i] ? eval(&m->addr[i], NULL, ev, &rc) : NULL;
                    if (rc != MLC_OK ||
                        !put(addr, addr_names[i], sv,
                             m->address_nulls ? PD_APPLY_UPDATE : PD_APPLY_CREATE)) {
                        cJSON_Delete(addr);
                        goto oom;
                    }
                }
            }
            /* the v2 spec does not let the address (nor its parts) be null */
            if (!put(b, "address", addr, m->address_nulls ? mode : PD_APPLY_CREATE))
                goto oom;
        }
        if (m->has_website) {
            v = eval(&m->website, NULL, ev, &rc);
            if (rc != MLC_OK || !put(b, "website", v, mode))
                goto oom;
        }
    }
    if (!(cf = cJSON_AddObjectToObject(b, "custom_fields")))
        goto oom;
    for (size_t i = 0; i < m->n_custom; i++) {
        const struct custom *c = &m->custom[i];
        if (missing && !c->on_missing)
            continue;
        v = eval(&c->src, c, ev, &rc);
        /* a "missing" event updates an existing organization: absent = null */
        if (rc != MLC_OK || !put(cf, c->key, v, missing ? PD_APPLY_UPDATE : mode))
            goto oom;
    }
    *body = b;
    b = NULL;
    goto out;
oom:
    rc = mlc_err_set(err, MLC_FATAL, "mapping: out of memory building the organization body");
out:
    cJSON_Delete(b);
    return rc;
}

/* ---- canonical JSON, hash ------------------------------------------- */

static mlc_rc canon_string(const char *s, struct mlc_buf *out)
{
    mlc_rc rc = mlc_buf_puts(out, "\"");

    for (const unsigned char *p = (const unsigned char *)s; *p && rc == MLC_OK; p++) {
        switch (*p) {
        case '"':
            rc = mlc_buf_puts(out, "\\\"");
            break;
        case '\\':
            rc = mlc_buf_puts(out, "\\\\");
            break;
        case '\n':
            rc = mlc_buf_puts(out, "\\n");
            break;
        case '\r':
            rc = mlc_buf_puts(out, "\\r");
            break;
        case '\t':
            rc = mlc_buf_puts(out, "\\t");
            break;
        case '\b':
            rc = mlc_buf_puts(out, "\\b");
            break;
        case '\f':
            rc = mlc_buf_puts(out, "\\f");
            break;
        default:
            if (*p < 0x20)
                rc = mlc_buf_printf(out, "\\u%04x", *p);
            else
                rc = mlc_buf_append(out, p, 1);
        }
    }
    return rc == MLC_OK ? mlc_buf_puts(out, "\"") : rc;
}

static int cmp_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static mlc_rc canon(const cJSON *j, struct mlc_buf *out, int depth)
{
    char num[40];
    mlc_rc rc = MLC_OK;
    const cJSON *it;

    if (depth > 32)
        return MLC_PERM;
    if (cJSON_IsNull(j))
        return mlc_buf_puts(out, "null");
    if (cJSON_IsTrue(j))
        return mlc_buf_puts(out, "true");
    if (cJSON_IsFalse(j))
        return mlc_buf_puts(out, "false");
    if (cJSON_IsNumber(j)) {
        if (!isfinite(j->valuedouble))
            return MLC_PERM;
        fmt_num(j->valuedouble, num, sizeof(num));
        return mlc_buf_puts(out, num);
    }
    if (cJSON_IsString(j))
        return canon_string(j->valuestring, out);
    if (cJSON_IsArray(j)) {
        size_t i = 0;
        rc = mlc_buf_puts(out, "[");
        cJSON_ArrayForEach(it, j)
        {
            if (rc == MLC_OK && i++)
                rc = mlc_buf_puts(out, ",");
            if (rc == MLC_OK)
                rc = canon(it, out, depth + 1);
        }
        return rc == MLC_OK ? mlc_buf_puts(out, "]") : rc;
    }
    if (!cJSON_IsObject(j))
        return MLC_PERM;
    size_t n = (size_t)cJSON_GetArraySize(j), i = 0;
    const cJSON **items = calloc(n ? n : 1, sizeof(*items));
    if (!items)
        return MLC_FATAL;
    cJSON_ArrayForEach(it, j) items[i++] = it;
    qsort(items, n, sizeof(*items), cmp_keys);
    rc = mlc_buf_puts(out, "{");
    for (i = 0; i < n && rc == MLC_OK; i++) {
        if (i)
            rc = mlc_buf_puts(out, ",");
        if (rc == MLC_OK)
            rc = canon_string(items[i]->string, out);
        if (rc == MLC_OK)
            rc = mlc_buf_puts(out, ":");
        if (rc == MLC_OK)
            rc = canon(items[i], out, depth + 1);
    }
    free(items);
    return rc == MLC_OK ? mlc_buf_puts(out, "}") : rc;
}

mlc_rc pd_mapping_canonical(const cJSON *json, struct mlc_buf *out, struct mlc_err *err)
{
    mlc_rc rc = canon(json, out, 0);
    if (rc != MLC_OK)
        return mlc_err_set(err, rc, "canonical json: too large, too deep or not representable");
    return MLC_OK;
}

mlc_rc pd_mapping_hash(const cJSON *json, char hex[65], struct mlc_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    struct mlc_buf b;
    mlc_rc rc;

    hex[0] = '\0';
    mlc_buf_init(&b, 1024 * 1024);
    if ((rc = pd_mapping_canonical(json, &b, err)) != MLC_OK)
        goto out;
    if (!EVP_Digest(b.data ? b.data : "", b.len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        rc = mlc_err_set(err, MLC_FATAL, "sha-256 failed");
        goto out;
    }
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
out:
    mlc_buf_free(&b);
    return rc;
}

/* ---- diff ------------------------------------------------------------ */

static bool same(const cJSON *a, const cJSON *b)
{
    bool an = !a || cJSON_IsNull(a), bn = !b || cJSON_IsNull(b);
    if (an || bn)
        return an && bn;
    return cJSON_Compare(a, b, 1);
}

static const struct custom *custom_by_key(const struct pd_mapping *m, const char *key)
{
    for (size_t i = 0; m && i < m->n_custom; i++)
        if (m->custom[i].resolved && strcmp(m->custom[i].key, key) == 0)
            return &m->custom[i];
    return NULL;
}

/* One value for the human diff: enum option ids shown as their labels. */
static mlc_rc diff_value(struct mlc_buf *text, const struct custom *c, const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return mlc_buf_puts(text, "(none)");
    if (c && c->ft == FT_ENUM && cJSON_IsNumber(v)) {
        for (size_t k = 0; k < c->n_options; k++)
            if (c->option_ids[k] >= 0 && (double)c->option_ids[k] == v->valuedouble)
                return canon_string(c->options[k], text);
    }
    return canon(v, text, 0);
}

static mlc_rc diff_line(struct mlc_buf *text, const char *label, const struct custom *c,
                        const cJSON *a, const cJSON *b)
{
    mlc_rc rc;

    if (!text)
        return MLC_OK;
    if ((rc = mlc_buf_printf(text, "  %s: ", label)))
        return rc;
    rc = diff_value(text, c, a);
    if (rc == MLC_OK)
        rc = mlc_buf_puts(text, " -> ");
    if (rc == MLC_OK)
        rc = diff_value(text, c, b);
    return rc == MLC_OK ? mlc_buf_puts(text, "\n") : rc;
}

mlc_rc pd_mapping_diff(const struct pd_mapping *m, const cJSON *last, const cJSON *next,
                       cJSON **patch, struct mlc_buf *text, struct mlc_err *err)
{
    mlc_rc rc = MLC_OK;
    cJSON *p = NULL, *pcf = NULL;
    const cJSON *it;
    char label[300];

    *patch = NULL;
    if (!cJSON_IsObject(next) || (last && !cJSON_IsObject(last)))
        return mlc_err_set(err, MLC_FATAL, "diff: bodies must be objects");
    if (!(p = cJSON_CreateObject()))
        goto oom;
    cJSON_ArrayForEach(it, next)
    {
        const cJSON *old = last ? cJSON_GetObjectItemCaseSensitive(last, it->string) : NULL;
        if (strcmp(it->string, "custom_fields") == 0 && cJSON_IsObject(it)) {
            const cJSON *f;
            cJSON_ArrayForEach(f, it)
            {
                const cJSON *of =
                    cJSON_IsObject(old) ? cJSON_GetObjectItemCaseSensitive(old, f->string) : NULL;
                if (same(of, f))
                    continue;
                if (!pcf && !(pcf = cJSON_AddObjectToObject(p, "custom_fields")))
                    goto oom;
                cJSON *dup = cJSON_Duplicate(f, 1);
                if (!dup || !cJSON_AddItemToObject(pcf, f->string, dup)) {
                    cJSON_Delete(dup);
                    goto oom;
                }
                const struct custom *c = custom_by_key(m, f->string);
                snprintf(label, sizeof(label), "custom_fields.%s", c ? c->name : f->string);
                if ((rc = diff_line(text, label, c, of, f)))
                    goto text_full;
            }
            continue;
        }
        /* the address (like every object) is compared and sent whole */
        if (same(old, it))
            continue;
        cJSON *dup = cJSON_Duplicate(it, 1);
        if (!dup || !cJSON_AddItemToObject(p, it->string, dup)) {
            cJSON_Delete(dup);
            goto oom;
        }
        if ((rc = diff_line(text, it->string, NULL, old, it)))
            goto text_full;
    }
    if (p->child) {
        *patch = p;
        p = NULL;
    }
    goto out;
text_full:
    rc = mlc_err_set(err, rc, "diff: text too long");
    goto out;
oom:
    rc = mlc_err_set(err, MLC_FATAL, "diff: out of memory");
out:
    cJSON_Delete(p);
    return rc;
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
    "      ] } }\n"
    "  ]\n"
    "}\n";

void pd_mapping_set_address_nulls(struct pd_mapping *m, bool on)
{
    m->address_nulls = on;
}

const char *pd_mapping_default_json(void)
{
    return default_mapping_json;
}

mlc_rc pd_mapping_default(struct pd_mapping **out, struct mlc_err *err)
{
    return pd_mapping_parse(default_mapping_json, out, err);
}
