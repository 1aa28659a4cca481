/* sagesim_render.c - JSON and EDMX output of the Sage 300 sandbox, see sagesim_render.h. */
#include "sagesim_render.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

mlc_rc sagesim_json_string(struct mlc_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    mlc_rc rc = mlc_buf_append(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; rc == MLC_OK && *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = mlc_buf_append(b, run, (size_t)(p - run));
        if (rc != MLC_OK)
            break;
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t el = 2;
        switch (c) {
        case '"':
            e[1] = '"';
            break;
        case '\\':
            e[1] = '\\';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            el = 6;
            break;
        }
        rc = mlc_buf_append(b, e, el);
        run = p + 1;
    }
    if (rc == MLC_OK)
        rc = mlc_buf_append(b, run, strlen(run));
    if (rc == MLC_OK)
        rc = mlc_buf_append(b, "\"", 1);
    return rc;
}

/* Writes the decimal digits of v (no sign) ending at end; returns the start. */
static char *utoa_rev(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static void two(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

mlc_rc sagesim_json_date(struct mlc_buf *b, int64_t days)
{
    int y, m, d;
    if (days == SAGESIM_NULL_DATE)
        return mlc_buf_append(b, "null", 4);
    sagesim_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        y = 0;
    char s[] = "\"YYYY-MM-DDT00:00:00Z\"";
    two(s + 1, y / 100);
    two(s + 3, y % 100);
    two(s + 6, m);
    two(s + 9, d);
    return mlc_buf_append(b, s, sizeof s - 1);
}

/* v is scaled by 10^5; writes it with `scale` digits after the point. */
static mlc_rc put_decimal(struct mlc_buf *b, int64_t v, int scale)
{
    char s[48];
    char *end = s + sizeof s, *p;
    uint64_t a = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    uint64_t ip = a / SAGESIM_DEC_SCALE, fp = a % SAGESIM_DEC_SCALE;
    if (scale > 5)
        scale = 5;
    p = end;
    if (scale > 0) {
        for (int i = 5; i > scale; i--)
            fp /= 10;
        for (int i = 0; i < scale; i++) {
            *--p = (char)('0' + fp % 10);
            fp /= 10;
        }
        *--p = '.';
    }
    p = utoa_rev(ip, p);
    if (v < 0)
        *--p = '-';
    return mlc_buf_append(b, p, (size_t)(end - p));
}

static mlc_rc put_int(struct mlc_buf *b, int64_t v)
{
    char s[32];
    char *end = s + sizeof s;
    uint64_t a = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    char *p = utoa_rev(a, end);
    if (v < 0)
        *--p = '-';
    return mlc_buf_append(b, p, (size_t)(end - p));
}

/* ,"Name": for every field, built once (the first field's comma is skipped). */
static char heads[SAGESIM_NFIELDS][64];
static size_t head_len[SAGESIM_NFIELDS];
static pthread_once_t heads_once = PTHREAD_ONCE_INIT;

static void build_heads(void)
{
    for (int i = 0; i < SAGESIM_NFIELDS; i++) {
        int n = snprintf(heads[i], sizeof heads[i], ",\"%s\":", sagesim_fields[i].name);
        head_len[i] = (size_t)n;
    }
}

mlc_rc sagesim_render_customer(struct mlc_buf *b, const struct sagesim_customer *c,
                               const bool *select, const char *prefix)
{
    pthread_once(&heads_once, build_heads);
    mlc_rc rc = mlc_buf_append(b, "{", 1);
    bool first = true;
    if (rc == MLC_OK && prefix)
        rc = mlc_buf_puts(b, prefix);
    for (int i = 0; rc == MLC_OK && i < SAGESIM_NFIELDS; i++) {
        if (select && !select[i])
            continue;
        const struct sagesim_field *f = &sagesim_fields[i];
        rc = mlc_buf_append(b, heads[i] + first, head_len[i] - first);
        first = false;
        if (rc != MLC_OK)
            break;
        const union sagesim_cell *v = &c->v[i];
        switch (f->type) {
        case SAGESIM_FT_STRING:
            rc = v->s ? sagesim_json_string(b, v->s) : mlc_buf_append(b, "null", 4);
            break;
        case SAGESIM_FT_DECIMAL:
            rc = put_decimal(b, v->i, f->scale);
            break;
        case SAGESIM_FT_INT32:
        case SAGESIM_FT_INT64:
            rc = put_int(b, v->i);
            break;
        case SAGESIM_FT_BOOL:
            rc = v->i ? mlc_buf_append(b, "true", 4) : mlc_buf_append(b, "false", 5);
            break;
        case SAGESIM_FT_DATE:
            rc = sagesim_json_date(b, v->i);
            break;
        case SAGESIM_FT_ENUM: {
            size_t n;
            const char *const *m = sagesim_enum_members(f->enumset, &n);
            const char *name = (v->i >= 0 && (size_t)v->i < n) ? m[v->i] : "";
            rc = mlc_buf_append(b, "\"", 1);
            if (rc == MLC_OK)
                rc = mlc_buf_puts(b, name);
            if (rc == MLC_OK)
                rc = mlc_buf_append(b, "\"", 1);
            break;
        }
        case SAGESIM_FT_COLLECTION:
            rc = mlc_buf_puts(b, v->s ? v->s : "[]");
            break;
        }
    }
    if (rc == MLC_OK && prefix && first) {
        /* prefix ends with ','; an empty selection cannot happen, but keep JSON valid */
        if (b->len && b->data[b->len - 1] == ',')
            b->data[--b->len] = '\0';
    }
    if (rc == MLC_OK)
        rc = mlc_buf_append(b, "}", 1);
    return rc;
}

static const char *edm_type(const struct sagesim_field *f, char *buf, size_t bufsz)
{
    switch (f->type) {
    case SAGESIM_FT_STRING:
        return "Edm.String";
    case SAGESIM_FT_DECIMAL:
        return "Edm.Decimal";
    case SAGESIM_FT_INT32:
        return "Edm.Int32";
    case SAGESIM_FT_INT64:
        return "Edm.Int64";
    case SAGESIM_FT_BOOL:
        return "Edm.Boolean";
    case SAGESIM_FT_DATE:
        return "Edm.DateTimeOffset";
    case SAGESIM_FT_ENUM:
        snprintf(buf, bufsz, "Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.%sEnum", f->name);
        return buf;
    case SAGESIM_FT_COLLECTION:
        return "Collection(Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.CustomerOptionalFieldValue)";
    }
    return "Edm.String";
}

mlc_rc sagesim_render_metadata(struct mlc_buf *b)
{
    char tb[160];
    mlc_rc rc = mlc_buf_puts(
        b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
           "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">"
           "<edmx:DataServices>"
           "<Schema Namespace=\"Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models\" "
           "xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">"
           "<EntityType Name=\"Customer\"><Key><PropertyRef Name=\"CustomerNumber\"/></Key>");
    for (int i = 0; rc == MLC_OK && i < SAGESIM_NFIELDS; i++) {
        const struct sagesim_field *f = &sagesim_fields[i];
        bool nullable = f->type == SAGESIM_FT_STRING || f->type == SAGESIM_FT_DATE;
        if (i == SAGESIM_F_CUSTOMERNUMBER)
            nullable = false;
        rc = mlc_buf_printf(b, "<Property Name=\"%s\" Type=\"%s\"%s/>", f->name,
                            edm_type(f, tb, sizeof tb), nullable ? "" : " Nullable=\"false\"");
    }
    if (rc == MLC_OK)
        rc = mlc_buf_puts(
            b,
            "</EntityType>"
            "<ComplexType Name=\"CustomerOptionalFieldValue\">"
            "<Property Name=\"CustomerNumber\" Type=\"Edm.String\"/>"
            "<Property Name=\"OptionalField\" Type=\"Edm.String\"/>"
            "<Property Name=\"Value\" Type=\"Edm.String\"/>"
            "<Property Name=\"CustomerOptionalFieldValueType\" "
            "Type=\"Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.CustomerOptionalFieldValueTypeEnum\" "
            "Nullable=\"false\"/>"
            "<Property Name=\"Length\" Type=\"Edm.Int32\" Nullable=\"false\"/>"
            "<Property Name=\"Decimals\" Type=\"Edm.Int32\" Nullable=\"false\"/>"
            "<Property Name=\"AllowBlank\" Type=\"Edm.Boolean\" Nullable=\"false\"/>"
            "<Property Name=\"Validate\" Type=\"Edm.Boolean\" Nullable=\"false\"/>"
            "<Property Name=\"ValueSet\" "
            "Type=\"Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.ValueSetEnum\" Nullable=\"false\"/>"
            "<Property Name=\"TypedValueFieldIndex\" Type=\"Edm.Int64\" Nullable=\"false\"/>"
            "<Property Name=\"TextValue\" Type=\"Edm.String\"/>"
            "<Property Name=\"AmountValue\" Type=\"Edm.Decimal\" Nullable=\"false\"/>"
            "<Property Name=\"NumberValue\" Type=\"Edm.Decimal\" Nullable=\"false\"/>"
            "<Property Name=\"IntegerValue\" Type=\"Edm.Int64\" Nullable=\"false\"/>"
            "<Property Name=\"YesNoValue\" Type=\"Edm.Boolean\" Nullable=\"false\"/>"
            "<Property Name=\"DateValue\" Type=\"Edm.DateTimeOffset\"/>"
            "<Property Name=\"TimeValue\" Type=\"Edm.DateTimeOffset\"/>"
            "<Property Name=\"OptionalFieldDescription\" Type=\"Edm.String\"/>"
            "<Property Name=\"ValueDescription\" Type=\"Edm.String\"/>"
            "<Property Name=\"UpdateOperation\" "
            "Type=\"Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.UpdateOperationEnum\" "
            "Nullable=\"false\"/>"
            "</ComplexType>"
            "<EntityType Name=\"TermsCode\"><Key><PropertyRef Name=\"TermsCode\"/></Key>"
            "<Property Name=\"TermsCode\" Type=\"Edm.String\" Nullable=\"false\"/>"
            "<Property Name=\"Description\" Type=\"Edm.String\"/>"
            "<Property Name=\"Status\" "
            "Type=\"Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.StatusEnum\" Nullable=\"false\"/>"
            "<Property Name=\"InactiveDate\" Type=\"Edm.DateTimeOffset\"/>"
            "<Property Name=\"DateLastMaintained\" Type=\"Edm.DateTimeOffset\"/>"
            "<Property Name=\"UsePaymentSchedule\" "
            "Type=\"Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.UsePaymentScheduleEnum\" "
            "Nullable=\"false\"/>"
            "<Property Name=\"DueDateType\" "
            "Type=\"Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.DueDateTypeEnum\" "
            "Nullable=\"false\"/>"
            "<Property Name=\"NumberOfPayments\" Type=\"Edm.Decimal\" Nullable=\"false\"/>"
            "</EntityType>");
    /* enum types, one per enum property, members in order */
    for (int i = 0; rc == MLC_OK && i < SAGESIM_NFIELDS; i++) {
        const struct sagesim_field *f = &sagesim_fields[i];
        if (f->type != SAGESIM_FT_ENUM)
            continue;
        size_t n;
        const char *const *m = sagesim_enum_members(f->enumset, &n);
        rc = mlc_buf_printf(b, "<EnumType Name=\"%sEnum\">", f->name);
        for (size_t k = 0; rc == MLC_OK && k < n; k++)
            rc = mlc_buf_printf(b, "<Member Name=\"%s\" Value=\"%zu\"/>", m[k], k);
        if (rc == MLC_OK)
            rc = mlc_buf_puts(b, "</EnumType>");
    }
    if (rc == MLC_OK)
        rc = mlc_buf_puts(
            b, "</Schema>"
               "<Schema Namespace=\"Default\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">"
               "<EntityContainer Name=\"Container\">"
               "<EntitySet Name=\"ARCustomers\" "
               "EntityType=\"Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.Customer\"/>"
               "<EntitySet Name=\"ARTerms\" "
               "EntityType=\"Sage.CA.SBS.ERP.Sage300.AR.WebApi.Models.TermsCode\"/>"
               "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>");
    return rc;
}
