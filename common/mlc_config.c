/* mlc_config.c - table-driven configuration, see mlc_config.h. */
#include "mlc_config.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_log.h"
#include "mlc_secret.h"
#include "mlc_str.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define EXTRACTOR       MLC_PROG_EXTRACTOR
#define LOADER          MLC_PROG_LOADER
#define CLI             MLC_PROG_CLI
#define RDKAFKA_PREFIX  "MLC_RDKAFKA_"
#define FILE_SUFFIX     "_FILE"
#define SECRET_FILE_MAX (64 * 1024) /* a token, a password or a key: far below this */

const struct mlc_cfg_def mlc_cfg_defs[MLC_CFG__COUNT] = {
#define MLC_SETTING(id, type, def, min, max, choices, progs, help)                                 \
    {"MLC_" #id, MLC_CFGT_##type, def, min, max, choices, progs, help},
#include "mlc_config_table.h"
#undef MLC_SETTING
};

static const char *prog_word(unsigned prog)
{
    return prog == MLC_PROG_EXTRACTOR ? "extractor" : prog == MLC_PROG_LOADER ? "loader" : "mlc";
}

static int find_setting(const char *name)
{
    for (int i = 0; i < MLC_CFG__COUNT; i++)
        if (!strcmp(mlc_cfg_defs[i].name, name))
            return i;
    return -1;
}

static bool enum_has(const char *choices, const char *v)
{
    size_t n = strlen(v);
    const char *p = choices;

    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n))
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

__attribute__((format(printf, 2, 3))) static void add_warning(struct mlc_config *cfg,
                                                              const char *fmt, ...)
{
    char line[512];
    va_list ap;

    cfg->warnings = mlc_xreallocarray(cfg->warnings, cfg->n_warnings + 1, sizeof(char *));
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    cfg->warnings[cfg->n_warnings++] = mlc_xstrdup(line);
}

/* True when the authority part of an http(s) URL has a user[:password]@. */
static bool url_has_userinfo(const char *url)
{
    const char *auth = strstr(url, "://");
    size_t len;

    if (!auth)
        return false;
    auth += 3;
    len = strcspn(auth, "/?#");
    return memchr(auth, '@', len) != NULL;
}

/* Validates and stores one value. where is "environment" or "file:line". */
static mlc_rc set_value(struct mlc_config *cfg, int id, const char *v, const char *where,
                        struct mlc_err *err)
{
    const struct mlc_cfg_def *d = &mlc_cfg_defs[id];
    char *copy;
    long num = 0;
    bool b;
    char at[128] = "";

    if (strcmp(where, "environment") && strcmp(where, "default"))
        snprintf(at, sizeof(at), "%s: ", where);
    switch (d->type) {
    case MLC_CFGT_INT:
        if (*v && !mlc_parse_long(v, d->min, d->max, &num))
            return mlc_err_set(err, MLC_FATAL, "%s%s: '%.40s' is not an integer in %ld..%ld", at,
                               d->name, v, d->min, d->max);
        break;
    case MLC_CFGT_BOOL:
        if (*v && !mlc_parse_bool(v, &b))
            return mlc_err_set(err, MLC_FATAL, "%s%s: '%.40s' is not true or false", at, d->name,
                               v);
        num = *v ? b : 0;
        break;
    case MLC_CFGT_ENUM:
        if (*v && !enum_has(d->choices, v))
            return mlc_err_set(err, MLC_FATAL, "%s%s: '%.40s' is not one of %s", at, d->name, v,
                               d->choices);
        break;
    case MLC_CFGT_URL:
        /* The value is never echoed: a URL may carry user:password@. */
        if (*v && !mlc_str_startswith(v, "http://") && !mlc_str_startswith(v, "https://"))
            return mlc_err_set(err, MLC_FATAL, "%s%s: not an http:// or https:// URL", at, d->name);
        if (*v && url_has_userinfo(v))
            return mlc_err_set(err, MLC_FATAL,
                               "%s%s: credentials in the URL are not accepted; use the user, "
                               "password or token settings",
                               at, d->name);
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p <= ' ' || *p == 0x7f)
                return mlc_err_set(err, MLC_FATAL,
                                   "%s%s: URL contains a blank or control character", at, d->name);
        break;
    case MLC_CFGT_SECRET:
        if (*v && mlc_str_startswith(v, "enc:") && !mlc_secret_is_encrypted(v))
            return mlc_err_set(err, MLC_FATAL,
                               "%s%s: encrypted values start with enc:v2: (or enc:v1:)", at,
                               d->name);
        break;
    default:
        break;
    }
    if (!*v) /* empty means unset: fall back to the default */
        return MLC_OK;
    copy = mlc_xstrdup(v);
    free(cfg->value[id]);
    cfg->value[id] = copy;
    cfg->num[id] = num;
    mlc_strlcpy(cfg->origin[id], where, sizeof(cfg->origin[id]));
    return MLC_OK;
}

static mlc_rc read_secret_file(const char *name, const char *path, struct mlc_buf *out,
                               struct mlc_err *err);

/* The librdkafka property of MLC_RDKAFKA_<suffix> (SASL_PASSWORD ->
 * sasl.password), a new string. */
static char *rdkafka_key(const char *suffix, size_t len)
{
    char *key = mlc_xstrndup(suffix, len);

    for (char *p = key; *p; p++)
        *p = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
    return key;
}

static void put_rdkafka(struct mlc_config *cfg, char *key, const char *v, bool via_file)
{
    struct mlc_kv *kv = NULL;

    for (size_t i = 0; i < cfg->n_rdkafka && !kv; i++)
        if (!strcmp(cfg->rdkafka[i].key, key))
            kv = &cfg->rdkafka[i];
    if (kv) {
        free(key);
        free(kv->value);
    } else {
        cfg->rdkafka = mlc_xreallocarray(cfg->rdkafka, cfg->n_rdkafka + 1, sizeof(*kv));
        kv = memset(&cfg->rdkafka[cfg->n_rdkafka++], 0, sizeof(*kv));
        kv->key = key;
    }
    kv->value = mlc_xstrdup(v);
    if (via_file)
        kv->via_file = true;
    else if (*v)
        kv->direct = true;
}

/* MLC_RDKAFKA_<PROP>=value, or MLC_RDKAFKA_<PROP>_FILE=path for a property
 * that holds a secret (the compose-secret convention, as for MLC_X_FILE). */
static mlc_rc add_rdkafka(struct mlc_config *cfg, const char *name, const char *v,
                          const char *where, struct mlc_err *err)
{
    const char *suffix = name + strlen(RDKAFKA_PREFIX);
    size_t len = strlen(suffix), fl = strlen(FILE_SUFFIX);
    struct mlc_buf content;
    char *key;
    mlc_rc rc;

    if (!*suffix)
        return mlc_err_set(err, MLC_FATAL, "%s: %s needs a property name after it", where, name);
    if (len > fl && !strcmp(suffix + len - fl, FILE_SUFFIX)) {
        key = rdkafka_key(suffix, len - fl);
        if (mlc_config_rdkafka_is_secret(key)) {
            if (!*v) { /* empty means unset */
                free(key);
                return MLC_OK;
            }
            mlc_buf_init(&content, SECRET_FILE_MAX);
            if ((rc = read_secret_file(name, v, &content, err)) == MLC_OK)
                put_rdkafka(cfg, key, mlc_buf_str(&content), true);
            else
                free(key);
            if (content.data)
                memset(content.data, 0, content.len);
            mlc_buf_free(&content);
            return rc;
        }
        free(key);
    }
    put_rdkafka(cfg, rdkafka_key(suffix, len), v, false);
    return MLC_OK;
}

/* Settings that no longer exist, with what replaced them: one line each
 * instead of "unknown setting". */
static const struct {
    const char *name, *note;
} removed_settings[] = {
    {"MLC_SAGE_NEXTLINK_REBASE",
     "the extractor no longer follows @odata.nextLink: every page is its own keyset query on "
     "MLC_SAGE_URL, so there is nothing to re-base; delete the setting"},
};

/* The secret setting whose _FILE form name is (MLC_PIPEDRIVE_TOKEN_FILE ->
 * MLC_PIPEDRIVE_TOKEN), or -1. */
static int secret_of_file_form(const char *name)
{
    size_t n = strlen(name), s = strlen(FILE_SUFFIX);
    char base[128];
    int id;

    if (n <= s || n - s >= sizeof(base) || strcmp(name + n - s, FILE_SUFFIX))
        return -1;
    memcpy(base, name, n - s);
    base[n - s] = '\0';
    id = find_setting(base);
    return id >= 0 && mlc_cfg_defs[id].type == MLC_CFGT_SECRET ? id : -1;
}

/* Reads a secret from the file its _FILE form names, the convention of
 * Docker and compose secrets: one trailing newline is dropped (editors and
 * `echo` add one), anything else is kept. The message never holds content. */
static mlc_rc read_secret_file(const char *name, const char *path, struct mlc_buf *out,
                               struct mlc_err *err)
{
    FILE *f = fopen(path, "rb");
    char chunk[4096];
    size_t n;
    mlc_rc rc = MLC_OK;

    if (!f)
        return mlc_err_set(err, MLC_FATAL, "%s: cannot read %s: %s", name, path, strerror(errno));
    while (rc == MLC_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (memchr(chunk, '\0', n))
            rc = mlc_err_set(err, MLC_FATAL, "%s: %s holds a nul byte", name, path);
        else if (mlc_buf_append(out, chunk, n) != MLC_OK)
            rc = mlc_err_set(err, MLC_FATAL, "%s: %s is larger than %d bytes", name, path,
                             SECRET_FILE_MAX);
    }
    if (rc == MLC_OK && ferror(f))
        rc = mlc_err_set(err, MLC_FATAL, "%s: cannot read %s: %s", name, path, strerror(errno));
    fclose(f);
    if (rc == MLC_OK && out->len > 0 && out->data[out->len - 1] == '\n')
        out->data[--out->len] = '\0';
    if (rc == MLC_OK && out->len > 0 && out->data[out->len - 1] == '\r')
        out->data[--out->len] = '\0';
    if (rc == MLC_OK && out->len == 0)
        rc = mlc_err_set(err, MLC_FATAL, "%s: %s is empty", name, path);
    return rc;
}

/* MLC_X_FILE=path: the secret MLC_X is read from path. */
static mlc_rc apply_file_form(struct mlc_config *cfg, int id, const char *name, const char *path,
                              const char *where, struct mlc_err *err)
{
    struct mlc_buf content;
    char origin[sizeof(cfg->origin[0])];
    mlc_rc rc;

    if (!*path) /* empty means unset, as for every setting */
        return MLC_OK;
    mlc_buf_init(&content, SECRET_FILE_MAX);
    rc = read_secret_file(name, path, &content, err);
    if (rc == MLC_OK) {
        snprintf(origin, sizeof(origin), "%s (%s)", name, where);
        rc = set_value(cfg, id, mlc_buf_str(&content), origin, err);
    }
    if (rc == MLC_OK)
        cfg->via_file_form[id] = true;
    if (content.data)
        memset(content.data, 0, content.len);
    mlc_buf_free(&content);
    return rc;
}

/* One NAME=value pair from the file or the environment. */
static mlc_rc apply(struct mlc_config *cfg, const char *name, const char *v, const char *where,
                    struct mlc_err *err)
{
    int id;
    mlc_rc rc;

    if (mlc_str_startswith(name, RDKAFKA_PREFIX))
        return add_rdkafka(cfg, name, v, where, err);
    id = find_setting(name);
    if (id < 0 && (id = secret_of_file_form(name)) >= 0)
        return apply_file_form(cfg, id, name, v, where, err);
    for (size_t i = 0; id < 0 && i < ARRAY_SIZE(removed_settings); i++)
        if (!strcmp(name, removed_settings[i].name)) {
            add_warning(cfg, "%s: %s was removed and is ignored: %s", where, name,
                        removed_settings[i].note);
            return MLC_OK;
        }
    if (id < 0) {
        add_warning(cfg, "%s: unknown setting %s ignored (see --help)", where, name);
        return MLC_OK;
    }
    rc = set_value(cfg, id, v, where, err);
    if (rc == MLC_OK && *v && mlc_cfg_defs[id].type == MLC_CFGT_SECRET)
        cfg->set_directly[id] = true;
    return rc;
}

/* Reads one line, '\n' included when present, into line (size > 1) and
 * NUL-terminates it; *len counts every byte read, so a NUL byte inside the
 * line stays detectable (fgets hides it and the value would be cut there).
 * Returns 1 for a line, 0 at end of file, -1 when the line does not fit. */
static int read_line(FILE *f, char *line, size_t size, size_t *len)
{
    size_t n = 0;
    int c = EOF;

    while (n + 1 < size && (c = getc(f)) != EOF) {
        line[n++] = (char)c;
        if (c == '\n')
            break;
    }
    line[n] = '\0';
    *len = n;
    if (n + 1 == size && c != '\n' && (c = getc(f)) != EOF) /* full, and more follows */
        return -1;
    return n > 0 ? 1 : 0;
}

static mlc_rc load_file(struct mlc_config *cfg, const char *path, struct mlc_err *err)
{
    FILE *f = fopen(path, "r");
    char line[4096], where[96];
    size_t len;
    int lineno = 0, got;
    mlc_rc rc = MLC_OK;

    if (!f)
        return mlc_err_set(err, MLC_FATAL, "--config %s: cannot open: %s", path, strerror(errno));
    while (rc == MLC_OK && (got = read_line(f, line, sizeof(line), &len)) != 0) {
        char *s, *eq, *name, *v;
        size_t vlen;

        lineno++;
        snprintf(where, sizeof(where), "%.80s:%d", path, lineno);
        if (got < 0) {
            rc = mlc_err_set(err, MLC_FATAL, "%s: line longer than %zu bytes", where,
                             sizeof(line) - 2);
            break;
        }
        if (memchr(line, '\0', len)) {
            rc = mlc_err_set(err, MLC_FATAL, "%s: line holds a nul byte", where);
            break;
        }
        s = mlc_str_trim(line);
        if (!*s || *s == '#')
            continue;
        if (mlc_str_startswith(s, "export "))
            s = mlc_str_trim(s + 7);
        eq = strchr(s, '=');
        if (!eq) {
            rc = mlc_err_set(err, MLC_FATAL, "%s: expected KEY=VALUE", where);
            break;
        }
        *eq = '\0';
        name = mlc_str_trim(s);
        v = mlc_str_trim(eq + 1);
        vlen = strlen(v);
        if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
            v[vlen - 1] = '\0';
            v++;
        }
        if (!mlc_str_startswith(name, "MLC_")) {
            add_warning(cfg, "%s: unknown setting %s ignored (settings start with MLC_)", where,
                        name);
            continue;
        }
        rc = apply(cfg, name, v, where, err);
    }
    fclose(f);
    return rc;
}

static mlc_rc load_env(struct mlc_config *cfg, char **envp, struct mlc_err *err)
{
    for (char **e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char name[128];
        size_t n;
        mlc_rc rc;

        if (!eq || !mlc_str_startswith(*e, "MLC_") || mlc_str_startswith(*e, "MLC_TEST_"))
            continue;
        n = (size_t)(eq - *e);
        if (n >= sizeof(name))
            continue;
        memcpy(name, *e, n);
        name[n] = '\0';
        rc = apply(cfg, name, eq + 1, "environment", err);
        if (rc != MLC_OK)
            return rc;
    }
    return MLC_OK;
}

static mlc_rc set_defaults(struct mlc_config *cfg, struct mlc_err *err)
{
    for (int i = 0; i < MLC_CFG__COUNT; i++) {
        const struct mlc_cfg_def *d = &mlc_cfg_defs[i];
        const char *tok = strstr(d->def, "<program>");
        char def[256];

        if (tok)
            snprintf(def, sizeof(def), "%.*s%s%s", (int)(tok - d->def), d->def,
                     prog_word(cfg->prog), tok + strlen("<program>"));
        else
            mlc_strlcpy(def, d->def, sizeof(def));
        cfg->value[i] = mlc_xstrdup(def);
        mlc_strlcpy(cfg->origin[i], "default", sizeof(cfg->origin[i]));
        if (d->type == MLC_CFGT_INT && *def && !mlc_parse_long(def, d->min, d->max, &cfg->num[i]))
            return mlc_err_set(err, MLC_FATAL, "%s: bad built-in default", d->name);
        if (d->type == MLC_CFGT_BOOL) {
            bool b = false;
            if (*def && !mlc_parse_bool(def, &b))
                return mlc_err_set(err, MLC_FATAL, "%s: bad built-in default", d->name);
            cfg->num[i] = b;
        }
    }
    return MLC_OK;
}

/* librdkafka properties that hold secrets, from its CONFIGURATION.md:
 * decrypted (enc:v1:) and redacted like SECRET settings. A private key in
 * PEM or an OAuth configuration string is as secret as a password. Names
 * with "password" or "secret" count too, so a property added by a later
 * librdkafka is redacted before anyone adds it here. */
static const char *const rdkafka_secrets[] = {
    "sasl.password",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.config",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl.keystore.password",
};

void mlc_config_rdkafka_setting(const char *key, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "%s", RDKAFKA_PREFIX);

    for (; *key && n + 1 < size; key++)
        out[n++] = *key == '.' ? '_' : (char)toupper((unsigned char)*key);
    if (n < size)
        out[n] = '\0';
}

bool mlc_config_rdkafka_is_secret(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(rdkafka_secrets); i++)
        if (!strcmp(key, rdkafka_secrets[i]))
            return true;
    return strstr(key, "password") || strstr(key, "secret");
}

/* Decrypts *value in place when it is sealed (loading the key once; an
 * enc:v2: value must have been sealed for setting, the name under which it
 * was given) and registers the plain value and its upper-cased form for
 * redaction. */
static mlc_rc resolve_one(const struct mlc_config *cfg, const char *name, const char *setting,
                          char **value, unsigned char *key, bool *have_key, struct mlc_err *err)
{
    char *plain = NULL, *upper;
    size_t n;
    mlc_rc rc;

    if (mlc_secret_is_encrypted(*value)) {
        if (!*have_key) {
            rc = mlc_secret_load_key(cfg->value[MLC_CFG_MASTER_KEY_FILE], key, err);
            if (rc != MLC_OK)
                return mlc_err_prefix(err, "%s needs the master key", name);
            *have_key = true;
        }
        rc = mlc_secret_decrypt(key, setting, *value, &plain, err);
        if (rc != MLC_OK)
            return mlc_err_prefix(err, "%s", name);
        free(*value);
        *value = plain;
    }
    mlc_log_add_secret(*value);
    /* Sized to the secret: a truncated upper form would leave its tail visible. */
    n = strlen(*value) + 1;
    upper = mlc_xmalloc(n);
    mlc_str_upper(upper, *value, n);
    mlc_log_add_secret(upper);
    memset(upper, 0, n);
    free(upper);
    return MLC_OK;
}

/* Decrypts enc:v1: secrets and registers every secret for redaction. */
static mlc_rc resolve_secrets(struct mlc_config *cfg, struct mlc_err *err)
{
    unsigned char key[MLC_SECRET_KEY_LEN];
    bool have_key = false;
    mlc_rc rc = MLC_OK;

    for (int i = 0; i < MLC_CFG__COUNT && rc == MLC_OK; i++) {
        if (mlc_cfg_defs[i].type != MLC_CFGT_SECRET || !*cfg->value[i])
            continue;
        rc = resolve_one(cfg, mlc_cfg_defs[i].name, mlc_cfg_defs[i].name, &cfg->value[i], key,
                         &have_key, err);
    }
    for (size_t i = 0; i < cfg->n_rdkafka && rc == MLC_OK; i++) {
        char name[160], setting[160];

        if (!mlc_config_rdkafka_is_secret(cfg->rdkafka[i].key) || !*cfg->rdkafka[i].value)
            continue;
        snprintf(name, sizeof(name), "rdkafka %s", cfg->rdkafka[i].key);
        mlc_config_rdkafka_setting(cfg->rdkafka[i].key, setting, sizeof(setting));
        rc = resolve_one(cfg, name, setting, &cfg->rdkafka[i].value, key, &have_key, err);
    }
    if (have_key)
        memset(key, 0, sizeof(key));
    return rc;
}

/* A secret given both ways is a mistake the operator must see, not a
 * precedence rule to remember. */
static mlc_rc check_one_form(const struct mlc_config *cfg, struct mlc_err *err)
{
    char name[128];

    for (int i = 0; i < MLC_CFG__COUNT; i++)
        if (cfg->set_directly[i] && cfg->via_file_form[i])
            return mlc_err_set(err, MLC_FATAL, "%s and %s%s are both set: keep one",
                               mlc_cfg_defs[i].name, mlc_cfg_defs[i].name, FILE_SUFFIX);
    for (size_t i = 0; i < cfg->n_rdkafka; i++)
        if (cfg->rdkafka[i].direct && cfg->rdkafka[i].via_file) {
            mlc_config_rdkafka_setting(cfg->rdkafka[i].key, name, sizeof(name));
            return mlc_err_set(err, MLC_FATAL, "%s and %s%s are both set: keep one", name, name,
                               FILE_SUFFIX);
        }
    return MLC_OK;
}

bool mlc_url_is_loopback(const char *url)
{
    const char *host = strstr(url, "://");
    char name[256];
    size_t len;
    struct in_addr a4;

    if (!host)
        return false;
    host += 3;
    if (*host == '[') { /* an IPv6 literal */
        const char *end = strchr(host, ']');

        if (!end || (size_t)(end - host - 1) >= sizeof(name))
            return false;
        memcpy(name, host + 1, (size_t)(end - host - 1));
        name[end - host - 1] = '\0';
        return !strcmp(name, "::1");
    }
    len = strcspn(host, ":/?#");
    if (len == 0 || len >= sizeof(name))
        return false;
    memcpy(name, host, len);
    name[len] = '\0';
    if (!strcasecmp(name, "localhost"))
        return true;
    /* 127.0.0.0/8, written as the dotted quad inet_pton accepts */
    return inet_pton(AF_INET, name, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

bool mlc_config_plaintext_http(const struct mlc_config *cfg)
{
    for (int i = 0; i < MLC_CFG__COUNT; i++) {
        const struct mlc_cfg_def *d = &mlc_cfg_defs[i];

        if (d->type == MLC_CFGT_URL && (d->progs & cfg->prog) &&
            mlc_str_startswith(cfg->value[i], "http://") && !mlc_url_is_loopback(cfg->value[i]))
            return true;
    }
    return false;
}

/* Credentials over http:// only where nothing leaves the machine, unless the
 * operator says the network is trusted (and is then reminded). */
static mlc_rc check_plaintext(struct mlc_config *cfg, struct mlc_err *err)
{
    for (int i = 0; i < MLC_CFG__COUNT; i++) {
        const struct mlc_cfg_def *d = &mlc_cfg_defs[i];

        if (d->type != MLC_CFGT_URL || !(d->progs & cfg->prog) ||
            !mlc_str_startswith(cfg->value[i], "http://") || mlc_url_is_loopback(cfg->value[i]))
            continue;
        if (!cfg->num[MLC_CFG_ALLOW_PLAINTEXT_HTTP])
            return mlc_err_set(err, MLC_FATAL,
                               "%s: http:// would send credentials unencrypted to a host that is "
                               "not this machine; use https:// or set "
                               "MLC_ALLOW_PLAINTEXT_HTTP=true for a trusted network",
                               d->name);
        add_warning(cfg,
                    "%s: plain http:// to a host that is not this machine: credentials travel "
                    "unencrypted (MLC_ALLOW_PLAINTEXT_HTTP=true)",
                    d->name);
    }
    return MLC_OK;
}

mlc_rc mlc_config_load(struct mlc_config *cfg, unsigned prog, const char *file, char **envp,
                       struct mlc_err *err)
{
    mlc_rc rc;

    memset(cfg, 0, sizeof(*cfg));
    cfg->prog = prog;
    rc = set_defaults(cfg, err);
    if (rc == MLC_OK && file)
        rc = load_file(cfg, file, err);
    if (rc == MLC_OK)
        rc = load_env(cfg, envp, err);
    if (rc == MLC_OK)
        rc = check_one_form(cfg, err);
    if (rc == MLC_OK)
        rc = check_plaintext(cfg, err);
    if (rc == MLC_OK)
        rc = resolve_secrets(cfg, err);
    if (rc != MLC_OK)
        mlc_config_free(cfg);
    return rc;
}

void mlc_config_free(struct mlc_config *cfg)
{
    for (int i = 0; i < MLC_CFG__COUNT; i++) {
        if (cfg->value[i] && mlc_cfg_defs[i].type == MLC_CFGT_SECRET)
            memset(cfg->value[i], 0, strlen(cfg->value[i]));
        free(cfg->value[i]);
        cfg->value[i] = NULL;
    }
    for (size_t i = 0; i < cfg->n_rdkafka; i++) {
        if (cfg->rdkafka[i].value && mlc_config_rdkafka_is_secret(cfg->rdkafka[i].key))
            memset(cfg->rdkafka[i].value, 0, strlen(cfg->rdkafka[i].value));
        free(cfg->rdkafka[i].key);
        free(cfg->rdkafka[i].value);
    }
    free(cfg->rdkafka);
    cfg->rdkafka = NULL;
    cfg->n_rdkafka = 0;
    for (size_t i = 0; i < cfg->n_warnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    cfg->warnings = NULL;
    cfg->n_warnings = 0;
}

void mlc_config_setup_logging(const struct mlc_config *cfg, const char *prog_name)
{
    enum mlc_log_level level = MLC_LOG_INFO;
    enum mlc_log_format format = MLC_LOG_TEXT;

    mlc_log_parse_level(mlc_cfg_str(cfg, MLC_CFG_LOG_LEVEL), &level);
    mlc_log_parse_format(mlc_cfg_str(cfg, MLC_CFG_LOG_FORMAT), &format);
    mlc_log_setup(prog_name, level, format);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        mlc_warn("%s", cfg->warnings[i]);
}

const char *mlc_cfg_str(const struct mlc_config *cfg, enum mlc_cfg_id id)
{
    return cfg->value[id] ? cfg->value[id] : "";
}

long mlc_cfg_int(const struct mlc_config *cfg, enum mlc_cfg_id id)
{
    return cfg->num[id];
}

bool mlc_cfg_bool(const struct mlc_config *cfg, enum mlc_cfg_id id)
{
    return cfg->num[id] != 0;
}

bool mlc_cfg_is_set(const struct mlc_config *cfg, enum mlc_cfg_id id)
{
    return cfg->value[id] && cfg->value[id][0];
}

mlc_rc mlc_config_require(const struct mlc_config *cfg, enum mlc_cfg_id id, struct mlc_err *err)
{
    if (mlc_cfg_is_set(cfg, id))
        return MLC_OK;
    return mlc_err_set(err, MLC_FATAL, "%s is not set (%s)", mlc_cfg_defs[id].name,
                       mlc_cfg_defs[id].help);
}

mlc_rc mlc_config_list(const struct mlc_config *cfg, enum mlc_cfg_id id, char ***items, size_t *n,
                       struct mlc_err *err)
{
    char *copy = mlc_xstrdup(mlc_cfg_str(cfg, id));
    char **out = NULL;
    size_t count = 0;
    char *p, *comma;

    for (p = copy; p; p = comma ? comma + 1 : NULL) {
        char *item;

        comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        item = mlc_str_trim(p);
        if (!*item)
            continue;
        out = mlc_xreallocarray(out, count + 1, sizeof(*out));
        out[count++] = mlc_xstrdup(item);
    }
    free(copy);
    *items = out;
    *n = count;
    return MLC_OK;
}

void mlc_config_free_list(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

static const char *type_word(const struct mlc_cfg_def *d)
{
    static const char *words[] = {"string", "secret", "integer", "boolean",
                                  "choice", "list",   "URL",     "path"};
    return words[d->type];
}

void mlc_config_print_help(FILE *out, unsigned prog)
{
    fprintf(out, "Settings (environment variables, or KEY=VALUE lines in --config FILE; the\n"
                 "environment wins; MLC_RDKAFKA_<PROP> passes any librdkafka property):\n");
    for (int i = 0; i < MLC_CFG__COUNT; i++) {
        const struct mlc_cfg_def *d = &mlc_cfg_defs[i];
        char range[64] = "";

        if (!(d->progs & prog))
            continue;
        if (d->type == MLC_CFGT_INT)
            snprintf(range, sizeof(range), " %ld..%ld", d->min, d->max);
        else if (d->type == MLC_CFGT_ENUM)
            snprintf(range, sizeof(range), " %s", d->choices);
        fprintf(out, "  %-26s %s%s%s%s%s\n      %s\n", d->name, type_word(d), range,
                *d->def ? ", default " : "", d->def,
                d->type == MLC_CFGT_SECRET ? " (or " FILE_SUFFIX " form: a file holding it)" : "",
                d->help);
    }
}

/* Writes s with every '|' escaped: a bare '|' splits a Markdown table cell,
 * even inside backticks. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void mlc_config_print_markdown(FILE *out)
{
    fprintf(out,
            "# Configuration\n\n"
            "Generated by `mlc config docs` from `common/mlc_config_table.h`; do not edit.\n\n"
            "Every setting is read from the environment or from `--config FILE` "
            "(`KEY=VALUE` lines, `#` comments, optional quotes); the environment wins. "
            "An empty value means unset. A bad value stops the program with one line naming "
            "the setting (and `file:line`). Unknown `MLC_` names are warned about.\n\n"
            "`MLC_RDKAFKA_<PROP>` passes any librdkafka property through untouched: the "
            "name is lower-cased and `_` becomes `.` (`MLC_RDKAFKA_SECURITY_PROTOCOL=ssl` "
            "sets `security.protocol`).\n\n"
            "Secret settings accept `enc:v2:...` values made by `mlc secret encrypt --setting`, "
            "decrypted with `MLC_MASTER_KEY_FILE`; secrets never reach a log line. Each "
            "secret `MLC_X` may instead be read from a file named by `MLC_X_FILE` (Docker "
            "and compose secrets; one trailing newline is dropped); setting both is an "
            "error. URL settings take `http://` only for loopback hosts unless "
            "`MLC_ALLOW_PLAINTEXT_HTTP=true`.\n\n"
            "These librdkafka properties are secrets like the table's (encrypted, "
            "redacted, with a `MLC_RDKAFKA_<PROP>_FILE` form), as is any property whose "
            "name contains `password` or `secret`:");
    for (size_t i = 0; i < ARRAY_SIZE(rdkafka_secrets); i++)
        fprintf(out, "%s `%s`", i ? "," : "", rdkafka_secrets[i]);
    fprintf(out, ".\n\n"
                 "| setting | type | default | used by | description |\n"
                 "|---|---|---|---|---|\n");
    for (int i = 0; i < MLC_CFG__COUNT; i++) {
        const struct mlc_cfg_def *d = &mlc_cfg_defs[i];

        fprintf(out, "| `%s` | ", d->name);
        if (d->type == MLC_CFGT_INT) {
            fprintf(out, "integer %ld..%ld", d->min, d->max);
        } else if (d->type == MLC_CFGT_ENUM) {
            fputc('`', out);
            md_cell(out, d->choices);
            fputc('`', out);
        } else {
            fputs(type_word(d), out);
        }
        fprintf(out, " | %s%s%s | %s%s%s | ", *d->def ? "`" : "", d->def, *d->def ? "`" : "",
                (d->progs & MLC_PROG_EXTRACTOR) ? "extractor " : "",
                (d->progs & MLC_PROG_LOADER) ? "loader " : "",
                (d->progs & MLC_PROG_CLI) ? "mlc" : "");
        md_cell(out, d->help);
        fputs(" |\n", out);
    }
}
