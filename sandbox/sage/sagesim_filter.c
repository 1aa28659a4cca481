/* sagesim_filter.c - OData v4 $filter parser and evaluator, see sagesim_filter.h. */
#include "sagesim_filter.h"
#include "mlc_alloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- dates ------------------------------------------------------------ */

int64_t sagesim_days_from_civil(int y, int m, int d)
{
    /* Howard Hinnant's days_from_civil */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void sagesim_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t dd = doy - (153 * mp + 2) / 5 + 1;
    int64_t mm = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (mm <= 2));
    *m = (int)mm;
    *d = (int)dd;
}

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool valid_ymd(int y, int m, int d)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    return true;
}

bool sagesim_parse_datetime(const char *s, size_t n, int64_t *us)
{
    int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 0;
    int64_t frac = 0;
    size_t i;
    if (n < 16 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' ||
        !digits(s + 14, 2, &mi))
        return false;
    i = 16;
    if (i < n && s[i] == ':') {
        if (i + 3 > n || !digits(s + i + 1, 2, &sec))
            return false;
        i += 3;
        if (i < n && s[i] == '.') {
            size_t j = i + 1;
            while (j < n && isdigit((unsigned char)s[j]))
                j++;
            if (j == i + 1 || j - i - 1 > 7)
                return false;
            for (size_t k = 0; k < 6; k++)
                frac = frac * 10 + (i + 1 + k < j ? s[i + 1 + k] - '0' : 0);
            i = j;
        }
    }
    if (i < n) {
        if (s[i] == 'Z' && i + 1 == n) {
            i++;
        } else if ((s[i] == '+' || s[i] == '-') && i + 6 == n && s[i + 3] == ':' &&
                   digits(s + i + 1, 2, &oh) && digits(s + i + 4, 2, &om)) {
            sign = s[i] == '+' ? 1 : -1;
            i = n;
        } else {
            return false;
        }
    }
    if (!valid_ymd(y, mo, d) || h > 23 || mi > 59 || sec > 59 || oh > 14 || om > 59)
        return false;
    *us = (sagesim_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
           sign * (oh * 3600 + om * 60)) *
              1000000 +
          frac;
    return true;
}

/* ---- tree ------------------------------------------------------------- */

enum node_kind { N_OR, N_AND, N_NOT, N_CMP, N_PROP, N_LIT, N_FUNC };
enum cmp_op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE };
enum func_id { F_STARTSWITH, F_ENDSWITH, F_CONTAINS, F_LENGTH };

/* static types */
enum stype { T_NULL, T_BOOL, T_NUM, T_STR, T_DATE, T_DATEONLY, T_ENUM, T_COLL };

struct node {
    enum node_kind kind;
    enum cmp_op op;
    enum func_id func;
    enum stype type;
    struct node *a, *b; /* children / function arguments */
    int field;          /* N_PROP */
    enum sagesim_ftype ftype;
    const char *const *members; /* N_PROP of enum type */
    size_t nmembers;
    const char *edm;          /* Edm type name for messages */
    struct sagesim_value lit; /* N_LIT; lit.s owned */
    size_t pos;
};

struct sagesim_filter {
    struct node *root;
};

static void node_free(struct node *n)
{
    if (!n)
        return;
    node_free(n->a);
    node_free(n->b);
    if (n->kind == N_LIT && n->lit.kind == SAGESIM_V_STR)
        free((char *)n->lit.s);
    free(n);
}

void sagesim_filter_free(struct sagesim_filter *f)
{
    if (f) {
        node_free(f->root);
        free(f);
    }
}

/* ---- lexer ------------------------------------------------------------ */

enum tok_kind {
    TK_END,
    TK_LPAREN,
    TK_RPAREN,
    TK_COMMA,
    TK_IDENT,
    TK_STRING,
    TK_NUMBER,
    TK_DATETIME,
    TK_DATE,
};

struct parser {
    const char *src;
    size_t len;
    size_t pos;
    /* current token */
    enum tok_kind tk;
    size_t tstart, tlen;
    char *tstr; /* TK_STRING: unescaped value (owned until taken) */
    const struct sagesim_schema *schema;
    char *msg;
    size_t msgsz;
    bool failed;
    size_t nodes; /* created so far, against SAGESIM_FILTER_MAX_NODES */
    int depth;    /* recursion depth of parse_or/parse_unary */
};

__attribute__((format(printf, 2, 3))) static void fail(struct parser *p, const char *fmt, ...)
{
    va_list ap;
    if (p->failed)
        return;
    p->failed = true;
    va_start(ap, fmt);
    vsnprintf(p->msg, p->msgsz, fmt, ap);
    va_end(ap);
}

static void fail_syntax(struct parser *p, size_t pos)
{
    char num[32];
    snprintf(num, sizeof num, "%zu", pos);
    fail(p, "Syntax error at position %s in '%s'.", num, p->src);
}

static bool is_ident_start(int c)
{
    return isalpha(c) || c == '_';
}

static bool is_ident(int c)
{
    return isalnum(c) || c == '_';
}

static void next(struct parser *p)
{
    free(p->tstr);
    p->tstr = NULL;
    while (p->pos < p->len && isspace((unsigned char)p->src[p->pos]))
        p->pos++;
    p->tstart = p->pos;
    if (p->pos >= p->len) {
        p->tk = TK_END;
        p->tlen = 0;
        return;
    }
    const char *s = p->src;
    char c = s[p->pos];
    if (c == '(' || c == ')' || c == ',') {
        p->tk = c == '(' ? TK_LPAREN : c == ')' ? TK_RPAREN : TK_COMMA;
        p->pos++;
        p->tlen = 1;
        return;
    }
    if (c == '\'') {
        size_t i = p->pos + 1, o = 0;
        char *out = mlc_xmalloc(p->len - p->pos + 1);
        for (;;) {
            if (i >= p->len) {
                char num[32];
                free(out);
                snprintf(num, sizeof num, "%zu", p->pos);
                fail(p, "There is an unterminated string literal at position %s in '%s'.", num,
                     p->src);
                p->tk = TK_END;
                return;
            }
            if (s[i] == '\'') {
                if (i + 1 < p->len && s[i + 1] == '\'') {
                    out[o++] = '\'';
                    i += 2;
                    continue;
                }
                i++;
                break;
            }
            out[o++] = s[i++];
        }
        out[o] = '\0';
        p->tstr = out;
        p->tk = TK_STRING;
        p->tlen = i - p->pos;
        p->pos = i;
        return;
    }
    if (isdigit((unsigned char)c) ||
        (c == '-' && p->pos + 1 < p->len && isdigit((unsigned char)s[p->pos + 1]))) {
        size_t i = p->pos;
        /* date / datetime: dddd-dd-dd[Thh:mm...] */
        if (p->len - i >= 10 && isdigit((unsigned char)s[i]) && s[i + 4] == '-' &&
            s[i + 7] == '-') {
            size_t j = i;
            while (j < p->len && (isalnum((unsigned char)s[j]) || s[j] == '-' || s[j] == ':' ||
                                  s[j] == '.' || s[j] == '+'))
                j++;
            p->tk = (j - i > 10) ? TK_DATETIME : TK_DATE;
            p->tlen = j - i;
            p->pos = j;
            return;
        }
        if (s[i] == '-')
            i++;
        while (i < p->len && isdigit((unsigned char)s[i]))
            i++;
        if (i < p->len && s[i] == '.') {
            i++;
            while (i < p->len && isdigit((unsigned char)s[i]))
                i++;
        }
        if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
            size_t j = i + 1;
            if (j < p->len && (s[j] == '+' || s[j] == '-'))
                j++;
            if (j < p->len && isdigit((unsigned char)s[j])) {
                i = j;
                while (i < p->len && isdigit((unsigned char)s[i]))
                    i++;
            }
        }
        if (i < p->len && strchr("mMdDfFlL", s[i]))
            i++;
        p->tk = TK_NUMBER;
        p->tlen = i - p->pos;
        p->pos = i;
        return;
    }
    if (is_ident_start((unsigned char)c)) {
        size_t i = p->pos;
        while (i < p->len && is_ident((unsigned char)s[i]))
            i++;
        p->tk = TK_IDENT;
        p->tlen = i - p->pos;
        p->pos = i;
        return;
    }
    fail_syntax(p, p->pos);
    p->tk = TK_END;
}

static bool tok_is(const struct parser *p, const char *word)
{
    return p->tk == TK_IDENT && strlen(word) == p->tlen &&
           memcmp(p->src + p->tstart, word, p->tlen) == 0;
}

static struct node *new_node(struct parser *p, enum node_kind k)
{
    if (++p->nodes > SAGESIM_FILTER_MAX_NODES) {
        fail(p,
             "The node count limit of '%d' has been exceeded. To increase the limit, set the "
             "'MaxNodeCount' property on EnableQueryAttribute or ODataValidationSettings.",
             SAGESIM_FILTER_MAX_NODES);
        return NULL;
    }
    struct node *n = mlc_xcalloc(1, sizeof *n);
    n->kind = k;
    n->pos = p->tstart;
    return n;
}

static const char *type_edm(const struct node *n)
{
    if (n->edm)
        return n->edm;
    switch (n->type) {
    case T_NULL:
        return "<null>";
    case T_BOOL:
        return "Edm.Boolean";
    case T_NUM:
        return "Edm.Int32";
    case T_STR:
        return "Edm.String";
    case T_DATE:
        return "Edm.DateTimeOffset";
    case T_DATEONLY:
        return "Edm.Date";
    case T_ENUM:
        return "Edm.Enum";
    case T_COLL:
        return "Collection";
    }
    return "?";
}

static struct node *parse_or(struct parser *p);

static const char *const op_names[] = {
    "Equal", "NotEqual", "GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual"};

static struct node *parse_function(struct parser *p, const char *name, size_t pos)
{
    struct node *n = NULL, *args[2] = {NULL, NULL};
    int nargs = 0, want;
    enum func_id id;
    if (strcmp(name, "startswith") == 0)
        id = F_STARTSWITH, want = 2;
    else if (strcmp(name, "endswith") == 0)
        id = F_ENDSWITH, want = 2;
    else if (strcmp(name, "contains") == 0)
        id = F_CONTAINS, want = 2;
    else if (strcmp(name, "length") == 0)
        id = F_LENGTH, want = 1;
    else {
        fail(p,
             "An unknown function with name '%s' was found. This may also be a function "
             "import or a key lookup on a navigation property, which is not allowed.%s",
             name, "");
        return NULL;
    }
    next(p); /* past '(' */
    for (;;) {
        if (nargs == 2) {
            fail_syntax(p, p->tstart);
            goto fail;
        }
        args[nargs] = parse_or(p);
        if (!args[nargs])
            goto fail;
        nargs++;
        if (p->tk == TK_COMMA) {
            next(p);
            continue;
        }
        if (p->tk == TK_RPAREN) {
            next(p);
            break;
        }
        fail_syntax(p, p->tstart);
        goto fail;
    }
    if (nargs != want) {
        fail(p,
             "No function signature for the function with name '%s' matches the specified "
             "arguments.%s",
             name, "");
        goto fail;
    }
    for (int i = 0; i < nargs; i++) {
        if (args[i]->type != T_STR && args[i]->type != T_NULL) {
            fail(p,
                 "No function signature for the function with name '%s' matches the "
                 "specified arguments.%s",
                 name, "");
            goto fail;
        }
    }
    n = new_node(p, N_FUNC);
    if (!n)
        goto fail;
    n->pos = pos;
    n->func = id;
    n->a = args[0];
    n->b = args[1];
    n->type = id == F_LENGTH ? T_NUM : T_BOOL;
    return n;
fail:
    node_free(args[0]);
    node_free(args[1]);
    return NULL;
}

static struct node *parse_primary(struct parser *p)
{
    struct node *n = NULL;
    if (p->failed)
        return NULL;
    switch (p->tk) {
    case TK_LPAREN: {
        next(p);
        n = parse_or(p);
        if (!n)
            return NULL;
        if (p->tk != TK_RPAREN) {
            fail_syntax(p, p->tstart);
            node_free(n);
            return NULL;
        }
        next(p);
        return n;
    }
    case TK_STRING:
        n = new_node(p, N_LIT);
        if (!n)
            return NULL;
        n->type = T_STR;
        n->lit.kind = SAGESIM_V_STR;
        n->lit.s = p->tstr;
        p->tstr = NULL;
        next(p);
        return n;
    case TK_NUMBER: {
        char buf[64];
        size_t l = p->tlen;
        if (l >= sizeof buf) {
            fail_syntax(p, p->tstart);
            return NULL;
        }
        memcpy(buf, p->src + p->tstart, l);
        buf[l] = '\0';
        if (strchr("mMdDfFlL", buf[l - 1]))
            buf[--l] = '\0';
        char *end;
        errno = 0;
        double v = strtod(buf, &end);
        if (*end || errno || l == 0 || buf[l - 1] == '.') {
            fail_syntax(p, p->tstart);
            return NULL;
        }
        n = new_node(p, N_LIT);
        if (!n)
            return NULL;
        n->type = T_NUM;
        n->lit.kind = SAGESIM_V_NUM;
        n->lit.num = v;
        n->edm = strchr(buf, '.') ? "Edm.Decimal" : "Edm.Int32";
        next(p);
        return n;
    }
    case TK_DATETIME: {
        int64_t us;
        if (!sagesim_parse_datetime(p->src + p->tstart, p->tlen, &us)) {
            fail_syntax(p, p->tstart);
            return NULL;
        }
        n = new_node(p, N_LIT);
        if (!n)
            return NULL;
        n->type = T_DATE;
        n->lit.kind = SAGESIM_V_DATE;
        n->lit.us = us;
        next(p);
        return n;
    }
    case TK_DATE: {
        int y, m, d;
        const char *s = p->src + p->tstart;
        if (p->tlen != 10 || !digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d) ||
            !valid_ymd(y, m, d)) {
            fail_syntax(p, p->tstart);
            return NULL;
        }
        n = new_node(p, N_LIT);
        if (!n)
            return NULL;
        n->type = T_DATEONLY;
        n->lit.kind = SAGESIM_V_DATE;
        n->lit.us = sagesim_days_from_civil(y, m, d) * 86400 * 1000000;
        next(p);
        return n;
    }
    case TK_IDENT: {
        char name[128];
        size_t pos = p->tstart;
        if (p->tlen >= sizeof name) {
            fail_syntax(p, p->tstart);
            return NULL;
        }
        memcpy(name, p->src + p->tstart, p->tlen);
        name[p->tlen] = '\0';
        if (strcmp(name, "true") == 0 || strcmp(name, "false") == 0 || strcmp(name, "null") == 0) {
            n = new_node(p, N_LIT);
            if (!n)
                return NULL;
            if (name[0] == 'n') {
                n->type = T_NULL;
                n->lit.kind = SAGESIM_V_NULL;
            } else {
                n->type = T_BOOL;
                n->lit.kind = SAGESIM_V_BOOL;
                n->lit.b = name[0] == 't';
            }
            next(p);
            return n;
        }
        next(p);
        if (p->failed)
            return NULL;
        if (p->tk == TK_LPAREN)
            return parse_function(p, name, pos);
        if (p->tk == TK_STRING &&
            (strcmp(name, "datetime") == 0 || strcmp(name, "datetimeoffset") == 0 ||
             strcmp(name, "guid") == 0)) {
            /* v3 typed literals are not OData v4 */
            fail_syntax(p, pos);
            return NULL;
        }
        enum sagesim_ftype ft;
        const char *const *members = NULL;
        size_t nmembers = 0;
        int field = p->schema->lookup(p->schema->ctx, name, &ft, &members, &nmembers);
        if (field < 0) {
            fail(p, "Could not find a property named '%s' on type '%s'.", name,
                 p->schema->type_name);
            return NULL;
        }
        n = new_node(p, N_PROP);
        if (!n)
            return NULL;
        n->pos = pos;
        n->field = field;
        n->ftype = ft;
        n->members = members;
        n->nmembers = nmembers;
        switch (ft) {
        case SAGESIM_FT_STRING:
            n->type = T_STR;
            n->edm = "Edm.String";
            break;
        case SAGESIM_FT_DECIMAL:
            n->type = T_NUM;
            n->edm = "Edm.Decimal";
            break;
        case SAGESIM_FT_INT32:
            n->type = T_NUM;
            n->edm = "Edm.Int32";
            break;
        case SAGESIM_FT_INT64:
            n->type = T_NUM;
            n->edm = "Edm.Int64";
            break;
        case SAGESIM_FT_BOOL:
            n->type = T_BOOL;
            n->edm = "Edm.Boolean";
            break;
        case SAGESIM_FT_DATE:
            n->type = T_DATE;
            n->edm = "Edm.DateTimeOffset";
            break;
        case SAGESIM_FT_ENUM:
            n->type = T_ENUM;
            n->edm = "Edm.Enum";
            break;
        case SAGESIM_FT_COLLECTION:
            n->type = T_COLL;
            n->edm = "Collection";
            break;
        }
        return n;
    }
    default:
        fail_syntax(p, p->tstart);
        return NULL;
    }
}

static struct node *parse_unary(struct parser *p)
{
    if (tok_is(p, "not")) {
        if (p->depth + 1 > SAGESIM_FILTER_MAX_DEPTH) {
            fail(p, "The query is nested too deeply (more than %d levels).",
                 SAGESIM_FILTER_MAX_DEPTH);
            return NULL;
        }
        size_t pos = p->tstart;
        next(p);
        p->depth++;
        struct node *a = parse_unary(p);
        p->depth--;
        if (!a)
            return NULL;
        if (a->type != T_BOOL && a->type != T_NULL) {
            fail(p,
                 "A unary operator with an incompatible type was detected. Found operand "
                 "type '%s' for operator kind 'Not'.%s",
                 type_edm(a), "");
            node_free(a);
            return NULL;
        }
        struct node *n = new_node(p, N_NOT);
        if (!n) {
            node_free(a);
            return NULL;
        }
        n->pos = pos;
        n->a = a;
        n->type = T_BOOL;
        return n;
    }
    return parse_primary(p);
}

/* Resolves 'Member' literals against an enum property; checks operand types. */
static bool check_cmp(struct parser *p, struct node *n)
{
    struct node *a = n->a, *b = n->b;
    struct node *e = a->type == T_ENUM ? a : b->type == T_ENUM ? b : NULL;
    struct node *o = e == a ? b : a;
    if (e && o->type == T_STR && o->kind == N_LIT) {
        for (size_t i = 0; i < e->nmembers; i++) {
            if (strcmp(e->members[i], o->lit.s) == 0) {
                free((char *)o->lit.s);
                o->lit.s = NULL;
                o->lit.kind = SAGESIM_V_ENUM;
                o->lit.e = (int)i;
                o->type = T_ENUM;
                return true;
            }
        }
        fail(p, "The string '%s' is not a valid enumeration type constant.%s", o->lit.s, "");
        return false;
    }
    bool ok;
    if (a->type == T_NULL || b->type == T_NULL)
        ok = a->type != T_COLL && b->type != T_COLL;
    else if (a->type == T_ENUM && b->type == T_ENUM)
        ok = a->kind != N_PROP || b->kind != N_PROP || a->members == b->members;
    else
        ok = a->type == b->type && a->type != T_COLL && a->type != T_DATEONLY;
    if (!ok) {
        char both[160];
        snprintf(both, sizeof both, "'%s' and '%s'", type_edm(a), type_edm(b));
        fail(p,
             "A binary operator with incompatible types was detected. Found operand types %s "
             "for operator kind '%s'.",
             both, op_names[n->op]);
        return false;
    }
    return true;
}

static struct node *parse_cmp(struct parser *p)
{
    static const char *const words[] = {"eq", "ne", "gt", "ge", "lt", "le"};
    struct node *left = parse_unary(p);
    while (left && !p->failed) {
        int op = -1;
        for (int i = 0; i < 6; i++)
            if (tok_is(p, words[i]))
                op = i;
        if (op < 0)
            break;
        size_t pos = p->tstart;
        next(p);
        struct node *right = parse_unary(p);
        if (!right) {
            node_free(left);
            return NULL;
        }
        struct node *n = new_node(p, N_CMP);
        if (!n) {
            node_free(left);
            node_free(right);
            return NULL;
        }
        n->pos = pos;
        n->op = (enum cmp_op)op;
        n->a = left;
        n->b = right;
        n->type = T_BOOL;
        if (!check_cmp(p, n)) {
            node_free(n);
            return NULL;
        }
        left = n;
    }
    return left;
}

static struct node *parse_logic(struct parser *p, bool is_or)
{
    struct node *left = is_or ? parse_logic(p, false) : parse_cmp(p);
    while (left && !p->failed && tok_is(p, is_or ? "or" : "and")) {
        next(p);
        struct node *right = is_or ? parse_logic(p, false) : parse_cmp(p);
        if (!right) {
            node_free(left);
            return NULL;
        }
        for (int i = 0; i < 2; i++) {
            struct node *x = i ? right : left;
            if (x->type != T_BOOL && x->type != T_NULL) {
                char both[160];
                snprintf(both, sizeof both, "'%s' and '%s'", type_edm(left), type_edm(right));
                fail(p,
                     "A binary operator with incompatible types was detected. Found operand "
                     "types %s for operator kind '%s'.",
                     both, is_or ? "OrElse" : "AndAlso");
                node_free(left);
                node_free(right);
                return NULL;
            }
        }
        struct node *n = new_node(p, is_or ? N_OR : N_AND);
        if (!n) {
            node_free(left);
            node_free(right);
            return NULL;
        }
        n->a = left;
        n->b = right;
        n->type = T_BOOL;
        left = n;
    }
    return left;
}

static struct node *parse_or(struct parser *p)
{
    if (++p->depth > SAGESIM_FILTER_MAX_DEPTH) {
        fail(p, "The query is nested too deeply (more than %d levels).", SAGESIM_FILTER_MAX_DEPTH);
        return NULL;
    }
    struct node *n = parse_logic(p, true);
    p->depth--;
    return n;
}

int sagesim_filter_parse(const char *text, const struct sagesim_schema *schema,
                         struct sagesim_filter **out, char *msg, size_t msgsz)
{
    struct parser p;
    struct node *root = NULL;
    memset(&p, 0, sizeof p);
    *out = NULL;
    p.src = text;
    p.len = strlen(text);
    p.schema = schema;
    p.msg = msg;
    p.msgsz = msgsz;
    if (msgsz)
        msg[0] = '\0';
    next(&p);
    if (p.tk == TK_END && !p.failed) {
        fail(&p, "The $filter expression is empty.%s%s", "", "");
        goto out;
    }
    root = parse_or(&p);
    if (!root)
        goto out;
    if (!p.failed && p.tk != TK_END)
        fail_syntax(&p, p.tstart);
    if (!p.failed && root->type != T_BOOL)
        fail(&p, "The $filter expression must evaluate to a single boolean value.%s%s", "", "");
    if (p.failed)
        goto out;
    *out = mlc_xcalloc(1, sizeof **out);
    (*out)->root = root;
    root = NULL;
out:
    free(p.tstr);
    node_free(root);
    if (p.failed && !msg[0])
        snprintf(msg, msgsz, "invalid $filter");
    return *out ? 0 : -1;
}

/* ---- evaluation ------------------------------------------------------- */

static void eval_value(const struct node *n, sagesim_getter get, const void *ctx, const void *rec,
                       struct sagesim_value *v);

static bool eval_bool(const struct node *n, sagesim_getter get, const void *ctx, const void *rec)
{
    struct sagesim_value v;
    eval_value(n, get, ctx, rec, &v);
    return v.kind == SAGESIM_V_BOOL && v.b;
}

static int cmp_values(const struct sagesim_value *a, const struct sagesim_value *b)
{
    switch (a->kind) {
    case SAGESIM_V_BOOL:
        return (int)a->b - (int)b->b;
    case SAGESIM_V_NUM:
        return a->num < b->num ? -1 : a->num > b->num ? 1 : 0;
    case SAGESIM_V_STR:
        return strcmp(a->s, b->s);
    case SAGESIM_V_DATE:
        return a->us < b->us ? -1 : a->us > b->us ? 1 : 0;
    case SAGESIM_V_ENUM:
        return a->e - b->e;
    default:
        return 0;
    }
}

static void eval_value(const struct node *n, sagesim_getter get, const void *ctx, const void *rec,
                       struct sagesim_value *v)
{
    memset(v, 0, sizeof *v);
    switch (n->kind) {
    case N_LIT:
        *v = n->lit;
        return;
    case N_PROP:
        get(ctx, rec, n->field, v);
        return;
    case N_NOT: {
        struct sagesim_value x;
        eval_value(n->a, get, ctx, rec, &x);
        if (x.kind == SAGESIM_V_BOOL) {
            v->kind = SAGESIM_V_BOOL;
            v->b = !x.b;
        }
        return;
    }
    case N_AND:
        v->kind = SAGESIM_V_BOOL;
        v->b = eval_bool(n->a, get, ctx, rec) && eval_bool(n->b, get, ctx, rec);
        return;
    case N_OR:
        v->kind = SAGESIM_V_BOOL;
        v->b = eval_bool(n->a, get, ctx, rec) || eval_bool(n->b, get, ctx, rec);
        return;
    case N_CMP: {
        struct sagesim_value a, b;
        eval_value(n->a, get, ctx, rec, &a);
        eval_value(n->b, get, ctx, rec, &b);
        v->kind = SAGESIM_V_BOOL;
        bool an = a.kind == SAGESIM_V_NULL, bn = b.kind == SAGESIM_V_NULL;
        if (an || bn) {
            if (n->op == OP_EQ)
                v->b = an && bn;
            else if (n->op == OP_NE)
                v->b = an != bn;
            else
                v->b = false;
            return;
        }
        int c = cmp_values(&a, &b);
        switch (n->op) {
        case OP_EQ:
            v->b = c == 0;
            break;
        case OP_NE:
            v->b = c != 0;
            break;
        case OP_GT:
            v->b = c > 0;
            break;
        case OP_GE:
            v->b = c >= 0;
            break;
        case OP_LT:
            v->b = c < 0;
            break;
        case OP_LE:
            v->b = c <= 0;
            break;
        }
        return;
    }
    case N_FUNC: {
        struct sagesim_value a, b;
        eval_value(n->a, get, ctx, rec, &a);
        if (n->func == F_LENGTH) {
            if (a.kind == SAGESIM_V_STR) {
                /* characters, not bytes: count UTF-8 lead bytes */
                size_t k = 0;
                for (const unsigned char *s = (const unsigned char *)a.s; *s; s++)
                    k += (*s & 0xC0) != 0x80;
                v->kind = SAGESIM_V_NUM;
                v->num = (double)k;
            }
            return;
        }
        eval_value(n->b, get, ctx, rec, &b);
        v->kind = SAGESIM_V_BOOL;
        if (a.kind != SAGESIM_V_STR || b.kind != SAGESIM_V_STR)
            return;
        size_t la = strlen(a.s), lb = strlen(b.s);
        switch (n->func) {
        case F_STARTSWITH:
            v->b = la >= lb && memcmp(a.s, b.s, lb) == 0;
            break;
        case F_ENDSWITH:
            v->b = la >= lb && memcmp(a.s + la - lb, b.s, lb) == 0;
            break;
        case F_CONTAINS:
            v->b = strstr(a.s, b.s) != NULL;
            break;
        default:
            break;
        }
        return;
    }
    }
}

bool sagesim_filter_eval(const struct sagesim_filter *f, sagesim_getter get, const void *ctx,
                         const void *rec)
{
    return eval_bool(f->root, get, ctx, rec);
}

static void key_range(const struct node *n, int field, const char **lo, bool *lo_incl,
                      const char **hi, bool *hi_incl)
{
    if (n->kind == N_AND) {
        key_range(n->a, field, lo, lo_incl, hi, hi_incl);
        key_range(n->b, field, lo, lo_incl, hi, hi_incl);
        return;
    }
    if (n->kind != N_CMP)
        return;
    const struct node *prop = n->a, *lit = n->b;
    enum cmp_op op = n->op;
    if (!(prop->kind == N_PROP && lit->kind == N_LIT)) {
        prop = n->b;
        lit = n->a;
        /* 'x' lt Key  ==  Key gt 'x' */
        static const enum cmp_op flip[] = {OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE};
        op = flip[op];
    }
    if (prop->kind != N_PROP || lit->kind != N_LIT || prop->field != field ||
        lit->lit.kind != SAGESIM_V_STR)
        return;
    const char *s = lit->lit.s;
    bool set_lo = op == OP_EQ || op == OP_GT || op == OP_GE;
    bool set_hi = op == OP_EQ || op == OP_LT || op == OP_LE;
    bool incl_lo = op != OP_GT, incl_hi = op != OP_LT;
    if (set_lo) {
        int c = *lo ? strcmp(s, *lo) : 1;
        if (c > 0 || (c == 0 && !incl_lo)) {
            *lo = s;
            *lo_incl = incl_lo;
        }
    }
    if (set_hi) {
        int c = *hi ? strcmp(s, *hi) : -1;
        if (c < 0 || (c == 0 && !incl_hi)) {
            *hi = s;
            *hi_incl = incl_hi;
        }
    }
}

void sagesim_filter_key_range(const struct sagesim_filter *f, int field, const char **lo,
                              bool *lo_incl, const char **hi, bool *hi_incl)
{
    *lo = *hi = NULL;
    *lo_incl = *hi_incl = true;
    key_range(f->root, field, lo, lo_incl, hi, hi_incl);
}
