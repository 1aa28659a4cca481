/* pd_mapping_diff.c - canonical JSON, its SHA-256 and the PATCH diff of two
 * organization bodies; see pd_mapping.h and pd_mapping_int.h. */
#include "pd_mapping_int.h"

#include "mlc_alloc.h"
#include "mlc_str.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- canonical JSON, hash ------------------------------------------- */

/* Shortest text that reads back as the same double. */
void pd_mapping_fmt_num(double d, char *out, size_t n)
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
        pd_mapping_fmt_num(j->valuedouble, num, sizeof(num));
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
    const cJSON **items = mlc_xcalloc(n ? n : 1, sizeof(*items));
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
    p = cJSON_CreateObject();
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
                if (!pcf)
                    pcf = cJSON_AddObjectToObject(p, "custom_fields");
                cJSON_AddItemToObject(pcf, f->string, cJSON_Duplicate(f, 1));
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
        cJSON_AddItemToObject(p, it->string, cJSON_Duplicate(it, 1));
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
out:
    cJSON_Delete(p);
    return rc;
}
