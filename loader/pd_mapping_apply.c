/* pd_mapping_apply.c - resolving a mapping against Pipedrive's organization
 * fields and applying it to an event; see pd_mapping.h and pd_mapping_int.h. */
#include "pd_mapping_int.h"

#include "mlc_str.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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
    cJSON *b, *opts;

    if (i >= m->n_custom)
        return NULL;
    const struct custom *c = &m->custom[i];
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "field_name", c->name);
    cJSON_AddStringToObject(b, "field_type", c->type_name);
    if (c->ft == FT_ENUM) {
        opts = cJSON_AddArrayToObject(b, "options");
        for (size_t k = 0; k < c->n_options; k++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToArray(opts, o);
            cJSON_AddStringToObject(o, "label", c->options[k]);
        }
    }
    return b;
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
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "label", c->options[k]);
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
    const char *name = pd_mapping_ev_fields[field].name;
    const char *s = NULL;

    if (strcmp(name, "company") == 0)
        s = ev->company;
    else if (strcmp(name, "customer_number") == 0)
        s = ev->customer_number;
    else if (strcmp(name, "op") == 0)
        s = ev->op;
    else {
        const cJSON *obj = pd_mapping_ev_fields[field].credit ? ev->credit : ev->customer;
        const cJSON *j = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
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

/* Appends v as text to b. */
static mlc_rc val_text(const struct val *v, struct mlc_buf *b)
{
    char num[40];

    switch (v->t) {
    case V_STR:
        return mlc_buf_puts(b, v->s);
    case V_NUM:
        pd_mapping_fmt_num(v->d, num, sizeof(num));
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

/* True when s reads a key of the event's credit object. */
static bool uses_credit(const struct source *s)
{
    if (s->kind == SRC_CASES) {
        for (size_t i = 0; i < s->n_cases; i++)
            if (pd_mapping_ev_fields[s->cases[i].field].credit)
                return true;
        return false;
    }
    for (size_t i = 0; i < s->n_fields; i++)
        if (pd_mapping_ev_fields[s->fields[i]].credit)
            return true;
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
        cJSON_AddNumberToObject(out, "value", amount.d);
        cJSON_AddStringToObject(out, "currency", code);
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
    mlc_buf_free(&b);
    return out;
}

/* Adds key = value (or null on update / nothing on create when absent).
 * Takes ownership of value. */
static void put(cJSON *obj, const char *key, cJSON *value, enum pd_apply_mode mode)
{
    if (!value) {
        if (mode == PD_APPLY_CREATE)
            return;
        value = cJSON_CreateNull();
    }
    cJSON_AddItemToObject(obj, key, value);
}

void pd_mapping_set_address_max(struct pd_mapping *m, size_t chars)
{
    m->address_max = chars;
}

/* Cuts s (valid UTF-8) to at most max characters, then drops trailing blanks
 * and the commas of a cut separator. */
static void cut_chars(char *s, size_t max)
{
    size_t chars = 0, i = 0;

    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == max)
            break;
    }
    s[i] = '\0';
    while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == ','))
        s[--i] = '\0';
}

/* address.value within what Pipedrive takes (pd_mapping.h). */
static void fit_address_value(const struct pd_mapping *m, cJSON *value)
{
    size_t max = m->address_max ? m->address_max : PD_ADDRESS_VALUE_MAX;

    if (cJSON_IsString(value) && value->valuestring)
        cut_chars(value->valuestring, max);
}

void pd_mapping_set_address_nulls(struct pd_mapping *m, bool on)
{
    m->address_nulls = on;
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
    b = cJSON_CreateObject();

    if (!missing) {
        if (!(v = eval(&m->name, NULL, ev, &rc)) && rc == MLC_OK) {
            rc = mlc_err_set(err, MLC_PERM, "event %s:%s has no name for the organization",
                             ev->company ? ev->company : "",
                             ev->customer_number ? ev->customer_number : "");
            goto out;
        }
        if (rc != MLC_OK)
            goto too_long;
        put(b, "name", v, mode);
        if (m->has_address) {
            cJSON *addr = NULL, *value = eval(&m->addr[A_VALUE], NULL, ev, &rc);
            if (rc != MLC_OK)
                goto too_long;
            fit_address_value(m, value);
            if (value) {
                /* the whole object: a subfield left out would be set to null */
                addr = cJSON_CreateObject();
                cJSON_AddItemToObject(addr, "value", value);
                for (size_t i = 1; i < A__COUNT; i++) {
                    cJSON *sv = m->has_sub[i] ? eval(&m->addr[i], NULL, ev, &rc) : NULL;
                    if (rc != MLC_OK) {
                        cJSON_Delete(addr);
                        goto too_long;
                    }
                    put(addr, pd_mapping_addr_names[i], sv,
                        m->address_nulls ? PD_APPLY_UPDATE : PD_APPLY_CREATE);
                }
            }
            /* the v2 spec does not let the address (nor its parts) be null */
            put(b, "address", addr, m->address_nulls ? mode : PD_APPLY_CREATE);
        }
        if (m->has_website) {
            v = eval(&m->website, NULL, ev, &rc);
            if (rc != MLC_OK)
                goto too_long;
            put(b, "website", v, mode);
        }
    }
    cf = cJSON_AddObjectToObject(b, "custom_fields");
    for (size_t i = 0; i < m->n_custom; i++) {
        const struct custom *c = &m->custom[i];
        if (missing && !c->on_missing)
            continue;
        if (!ev->credit && uses_credit(&c->src))
            continue; /* a v1 event: the credit fields are absent, not empty */
        v = eval(&c->src, c, ev, &rc);
        if (rc != MLC_OK)
            goto too_long;
        /* a "missing" event updates an existing organization: absent = null */
        put(cf, c->key, v, missing ? PD_APPLY_UPDATE : mode);
    }
    *body = b;
    b = NULL;
    goto out;
too_long: /* eval's text buffer is full */
    rc = mlc_err_set(err, MLC_FATAL,
                     "mapping: a value of the organization body is longer than "
                     "64 KiB");
out:
    cJSON_Delete(b);
    return rc;
}
