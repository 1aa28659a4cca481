/* sagesim_render.c - JSON and EDMX output of the Sage 300 sandbox, see sagesim_render.h. */
#include "sagesim_render.h"

#include <inttypes.h>
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

mlc_rc sagesim_json_date(struct mlc_buf *b, int64_t days)
{
    int y, m, d;
    if (days == SAGESIM_NULL_DATE)
        return mlc_buf_append(b, "null", 4);
    sagesim_civil_from_days(days, &y, &m, &d);
    char s[40];
    int n = snprintf(s, sizeof s, "\"%04d-%02d-%02dT00:00:00Z\"", y, m, d);
    return mlc_buf_append(b, s, (size_t)n);
}

static mlc_rc put_decimal(struct mlc_buf *b, int64_t v, int scale)
{
    char s[48];
    uint64_t a = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    uint64_t ip = a / SAGESIM_DEC_SCALE, fp = a % SAGESIM_DEC_SCALE;
    int n;
    if (scale <= 0) {
        n = snprintf(s, sizeof s, "%s%" PRIu64, v < 0 ? "-" : "", ip);
    } else {
        /* fp has 5 digits; keep the first `scale` */
        char f[8];
        snprintf(f, sizeof f, "%05" PRIu64, fp);
        n = snprintf(s, sizeof s, "%s%" PRIu64 ".%.*s", v < 0 ? "-" : "", ip, scale > 5 ? 5 : scale,
                     f);
    }
    return mlc_buf_append(b, s, (size_t)n);
}

mlc_rc sagesim_render_customer(struct mlc_buf *b, const struct sagesim_customer *c,
                               const bool *select, const char *prefix)
{
    mlc_rc rc = mlc_buf_append(b, "{", 1);
    bool first = true;
    if (rc == MLC_OK && prefix)
        rc = mlc_buf_puts(b, prefix);
    for (int i = 0; rc == MLC_OK && i < SAGESIM_NFIELDS; i++) {
        if (select && !select[i])
            continue;
        const struct sagesim_field *f = &sagesim_fields[i];
        char head[80];
        int hn = snprintf(head, sizeof head, "%s\"%s\":", first ? "" : ",", f->name);
        first = false;
        rc = mlc_buf_append(b, head, (size_t)hn);
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
        case SAGESIM_FT_INT64: {
            char s[32];
            int n = snprintf(s, sizeof s, "%" PRId64, v->i);
            rc = mlc_buf_append(b, s, (size_t)n);
            break;
        }
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
