/* ld_match.c - matching customers to hand-typed organizations, see ld_match.h. */
#include "ld_match.h"
#include "mlc_alloc.h"
#include "mlc_str.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ASCII spelling of U+00C0..U+017F (Latin-1 Supplement and Latin Extended-A),
 * "" for the two signs in that range (U+00D7, U+00F7), which separate words. */
static const char *fold_latin(unsigned cp)
{
    static const char *const latin1[64] = {
        "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
        "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "ss",
        "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
        "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y"};
    static const struct {
        unsigned first, last;
        const char *ascii;
    } ext_a[] = {
        {0x100, 0x105, "a"}, {0x106, 0x10d, "c"},  {0x10e, 0x111, "d"}, {0x112, 0x11b, "e"},
        {0x11c, 0x123, "g"}, {0x124, 0x127, "h"},  {0x128, 0x131, "i"}, {0x132, 0x133, "ij"},
        {0x134, 0x135, "j"}, {0x136, 0x138, "k"},  {0x139, 0x142, "l"}, {0x143, 0x14b, "n"},
        {0x14c, 0x151, "o"}, {0x152, 0x153, "oe"}, {0x154, 0x159, "r"}, {0x15a, 0x161, "s"},
        {0x162, 0x167, "t"}, {0x168, 0x173, "u"},  {0x174, 0x175, "w"}, {0x176, 0x178, "y"},
        {0x179, 0x17e, "z"}, {0x17f, 0x17f, "s"},
    };

    if (cp >= 0xc0 && cp <= 0xff)
        return latin1[cp - 0xc0];
    for (size_t i = 0; i < ARRAY_SIZE(ext_a); i++)
        if (cp >= ext_a[i].first && cp <= ext_a[i].last)
            return ext_a[i].ascii;
    return NULL;
}

/* The output of ld_match_normalize while it is written: words separated by
 * one space, a space only ever written before the next word's first byte. */
struct words {
    char *out;
    size_t size, len;
    bool gap; /* a separator was seen since the last byte */
};

static void put(struct words *w, const char *s, size_t n)
{
    if (w->gap && w->len > 0 && w->len + 1 < w->size)
        w->out[w->len++] = ' ';
    w->gap = false;
    for (size_t i = 0; i < n && w->len + 1 < w->size; i++)
        w->out[w->len++] = s[i];
}

/* Length of the UTF-8 sequence led by c (1 for a stray continuation byte). */
static size_t seq_len(unsigned char c)
{
    return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/* Splits name into words (see ld_match.h, rule 1, without the suffixes). */
static void split_words(const char *name, struct words *w)
{
    const unsigned char *p = (const unsigned char *)name;

    while (*p) {
        if (isalnum(*p)) {
            char c = (char)tolower(*p);
            put(w, &c, 1);
            p++;
        } else if (*p == '.' || *p == '\'') {
            p++; /* joins: "S.A." is "SA", "O'Brien" is "OBrien" */
        } else if (*p == '&') {
            w->gap = true;
            put(w, "and", 3);
            w->gap = true;
            p++;
        } else if (*p < 0x80) {
            w->gap = true; /* blanks, other punctuation, control bytes */
            p++;
        } else {
            size_t n = seq_len(*p), k = 1;

            while (k < n && (p[k] & 0xc0) == 0x80)
                k++;
            if (k == 2 && n == 2) {
                const char *ascii = fold_latin(((p[0] & 0x1fu) << 6) | (p[1] & 0x3fu));

                if (ascii && *ascii)
                    put(w, ascii, strlen(ascii));
                else if (ascii)
                    w->gap = true;
                else
                    put(w, (const char *)p, 2);
            } else if (k == 3 && n == 3 && p[0] == 0xe2 && p[1] == 0x80 &&
                       (p[2] == 0x98 || p[2] == 0x99)) {
                /* typographic apostrophes join like ' */
            } else {
                put(w, (const char *)p, k); /* other scripts: kept as they are */
            }
            p += k;
        }
    }
    w->out[w->len] = '\0';
}

static bool is_suffix(const struct ld_match_rules *r, const char *word, size_t n)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (strlen(r->suffixes[i]) == n && !memcmp(r->suffixes[i], word, n))
            return true;
    return false;
}

size_t ld_match_normalize(const struct ld_match_rules *r, const char *name, char *out, size_t outsz)
{
    struct words w = {out, outsz, 0, false};

    if (outsz == 0)
        return 0;
    split_words(name ? name : "", &w);
    /* Legal forms come last ("Acme Pty Ltd"): drop them while a word remains. */
    for (;;) {
        char *last = strrchr(out, ' ');

        if (!last || !is_suffix(r, last + 1, strlen(last + 1)))
            break;
        *last = '\0';
        w.len = (size_t)(last - out);
    }
    return w.len;
}

mlc_rc ld_match_rules_init(struct ld_match_rules *r, const char *csv, struct mlc_err *err)
{
    const char *p = csv ? csv : "";
    mlc_rc rc = MLC_OK;

    memset(r, 0, sizeof(*r));
    while (*p && rc == MLC_OK) {
        size_t n = strcspn(p, ",");
        char item[128], norm[128];

        snprintf(item, sizeof(item), "%.*s", (int)(n < sizeof(item) ? n : sizeof(item) - 1), p);
        p += n + (p[n] == ',');
        if (!*mlc_str_trim(item))
            continue;
        if (ld_match_normalize(NULL, item, norm, sizeof(norm)) == 0 || strchr(norm, ' ')) {
            rc = mlc_err_set(err, MLC_PERM,
                             "MLC_MATCH_SUFFIXES: \"%.40s\" is not one word of letters", item);
            break;
        }
        r->suffixes = mlc_xreallocarray(r->suffixes, r->n + 1, sizeof(*r->suffixes));
        r->suffixes[r->n++] = mlc_xstrdup(norm);
    }
    if (rc != MLC_OK)
        ld_match_rules_free(r);
    return rc;
}

void ld_match_rules_free(struct ld_match_rules *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->suffixes[i]);
    free(r->suffixes);
    memset(r, 0, sizeof(*r));
}

const char *ld_match_verdict_name(enum ld_match_verdict v)
{
    static const char *const names[] = {
        [LD_MATCH_NONE] = "none", [LD_MATCH_ONE] = "matched", [LD_MATCH_AMBIGUOUS] = "ambiguous"};

    return (unsigned)v < ARRAY_SIZE(names) ? names[v] : "none";
}

struct entry {
    char name[LD_MATCH_NAME_MAX];
    char postal[32];
    char city[128];
    int64_t id;
};

struct ld_match_index {
    const struct ld_match_rules *rules;
    struct entry *e; /* unclaimed organizations with a name, sorted by name */
    size_t n;
};

/* Postal codes compare without case and blanks ("sw1a 1aa" = "SW1A1AA"). */
static void postal_key(const char *in, char *out, size_t outsz)
{
    size_t n = 0;

    for (; in && *in && n + 1 < outsz; in++)
        if (!isspace((unsigned char)*in))
            out[n++] = (char)toupper((unsigned char)*in);
    out[n] = '\0';
}

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : (x->id > y->id) - (x->id < y->id);
}

struct ld_match_index *ld_match_index_new(const struct ld_match_rules *r,
                                          const struct ld_match_org *orgs, size_t n)
{
    struct ld_match_index *ix = mlc_xcalloc(1, sizeof(*ix));

    if (n)
        ix->e = mlc_xcalloc(n, sizeof(*ix->e));
    ix->rules = r;
    for (size_t i = 0; i < n; i++) {
        struct entry *e = &ix->e[ix->n];

        if (orgs[i].claimed || !orgs[i].name ||
            ld_match_normalize(r, orgs[i].name, e->name, sizeof(e->name)) == 0)
            continue;
        postal_key(orgs[i].postal_code, e->postal, sizeof(e->postal));
        ld_match_normalize(NULL, orgs[i].city, e->city, sizeof(e->city));
        e->id = orgs[i].id;
        ix->n++;
    }
    qsort(ix->e, ix->n, sizeof(*ix->e), entry_cmp);
    return ix;
}

void ld_match_index_free(struct ld_match_index *ix)
{
    if (!ix)
        return;
    free(ix->e);
    free(ix);
}

static const char *postal_of(const struct entry *e)
{
    return e->postal;
}

static const char *city_of(const struct entry *e)
{
    return e->city;
}

/* Keeps the candidates whose field equals want when at least one does;
 * returns how many are left (n when want is empty or none has it). */
static size_t narrow(const struct entry **cand, size_t n, const char *want,
                     const char *(*field)(const struct entry *))
{
    size_t k = 0;

    if (!*want)
        return n;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(field(cand[i]), want))
            cand[k++] = cand[i];
    return k ? k : n;
}

void ld_match_find(const struct ld_match_index *ix, const struct ld_match_customer *c,
                   struct ld_match_result *res)
{
    struct entry key;
    const struct entry *cand[LD_MATCH_MAX_IDS * 4];
    size_t lo = 0, hi = ix->n, n = 0, total = 0;
    char postal[32], city[128];

    memset(res, 0, sizeof(*res));
    if (ld_match_normalize(ix->rules, c->name, key.name, sizeof(key.name)) == 0)
        return;
    while (lo < hi) { /* first entry with this name */
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(ix->e[mid].name, key.name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < ix->n && !strcmp(ix->e[i].name, key.name); i++, total++)
        if (n < ARRAY_SIZE(cand))
            cand[n++] = &ix->e[i];
    if (total == 0)
        return;
    if (total > 1 && total <= ARRAY_SIZE(cand)) {
        /* ties: the postal code, then the city, each only if it leaves one */
        postal_key(c->postal_code, postal, sizeof(postal));
        ld_match_normalize(NULL, c->city, city, sizeof(city));
        n = narrow(cand, n, postal, postal_of);
        if (n > 1)
            n = narrow(cand, n, city, city_of);
        if (n == 1)
            total = 1;
    }
    res->verdict = total == 1 ? LD_MATCH_ONE : LD_MATCH_AMBIGUOUS;
    for (size_t i = 0; i < n && res->n_ids < LD_MATCH_MAX_IDS; i++)
        res->ids[res->n_ids++] = cand[i]->id;
    for (size_t i = 1; i < res->n_ids; i++) /* ascending: stable output */
        for (size_t j = i; j > 0 && res->ids[j - 1] > res->ids[j]; j--) {
            int64_t t = res->ids[j];

            res->ids[j] = res->ids[j - 1];
            res->ids[j - 1] = t;
        }
}

static int id_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

void ld_match_all(const struct ld_match_index *ix, const struct ld_match_customer *customers,
                  size_t n, struct ld_match_result *res)
{
    int64_t *taken = n ? mlc_xcalloc(n, sizeof(*taken)) : NULL;
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        ld_match_find(ix, &customers[i], &res[i]);
        if (res[i].verdict == LD_MATCH_ONE)
            taken[k++] = res[i].ids[0];
    }
    qsort(taken, k, sizeof(*taken), id_cmp);
    /* rule 3: an organization two customers match goes to neither */
    for (size_t i = 0; i < n; i++) {
        int64_t *hit;

        if (res[i].verdict != LD_MATCH_ONE)
            continue;
        hit = bsearch(&res[i].ids[0], taken, k, sizeof(*taken), id_cmp);
        if ((hit > taken && hit[-1] == *hit) || (hit + 1 < taken + k && hit[1] == *hit))
            res[i].verdict = LD_MATCH_AMBIGUOUS;
    }
    free(taken);
}
