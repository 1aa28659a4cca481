/* Unit tests of mlc_config: sources and precedence, validation messages,
 * librdkafka pass-through, encrypted secrets and their redaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "mlc_alloc.h"
#include "mlc_config.h"
#include "mlc_log.h"
#include "mlc_secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
    char dir[64];
    char conf[128];
    char key[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/mlc-test-config-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->conf, sizeof(f->conf), "%s/mlc.conf", f->dir);
    snprintf(f->key, sizeof(f->key), "%s/mlc.key", f->dir);
    mlc_log_clear_secrets();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    unlink(f->conf);
    unlink(f->key);
    rmdir(f->dir);
    free(f);
    mlc_log_clear_secrets();
    mlc_log_set_stream(NULL);
    mlc_log_setup("test", MLC_LOG_INFO, MLC_LOG_TEXT);
    return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *fp;

    unlink(path);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(path, mode), 0);
}

/* Writes a fresh key file with the given mode; returns the key. */
static void make_key(const struct fx *f, mode_t mode, unsigned char key[MLC_SECRET_KEY_LEN])
{
    char b64[64], line[80];

    assert_int_equal(mlc_secret_keygen(key, b64, sizeof(b64), NULL), MLC_OK);
    snprintf(line, sizeof(line), "%s\n", b64);
    write_file(f->key, line, mode);
}

static void assert_one_line(const struct mlc_err *err)
{
    assert_true(err->msg[0] != '\0');
    assert_null(strchr(err->msg, '\n'));
}

static void defaults_apply(void **state)
{
    struct mlc_config cfg;
    struct mlc_err err = {0};

    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, NULL, NULL, &err), MLC_OK);
    assert_int_equal(mlc_cfg_int(&cfg, MLC_CFG_POLL_INTERVAL), 300);
    assert_int_equal(mlc_cfg_int(&cfg, MLC_CFG_SAGE_PAGE_SIZE), 100);
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_TOPIC), "sage300.customers.v1");
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_STATE_DB), "./mlc-extractor.db");
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_SAGE_PASSWORD_CASE), "auto");
    assert_false(mlc_cfg_bool(&cfg, MLC_CFG_SAGE_INSECURE));
    /* the metrics port is this host's only, unless a deployment widens it */
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_METRICS_BIND), "127.0.0.1");
    assert_false(mlc_cfg_bool(&cfg, MLC_CFG_LOG_BODIES));
    assert_false(mlc_cfg_bool(&cfg, MLC_CFG_ALLOW_CORE_DUMPS));
    assert_false(mlc_cfg_is_set(&cfg, MLC_CFG_SAGE_URL));
    assert_string_equal(cfg.origin[MLC_CFG_TOPIC], "default");
    assert_int_equal(mlc_config_require(&cfg, MLC_CFG_SAGE_URL, &err), MLC_FATAL);
    assert_true(strncmp(err.msg, "MLC_SAGE_URL is not set", 23) == 0);
    assert_int_equal(cfg.n_warnings, 0);
    assert_int_equal(cfg.n_rdkafka, 0);
    mlc_config_free(&cfg);

    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, NULL, &err), MLC_OK);
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_STATE_DB), "./mlc-loader.db");
    mlc_config_free(&cfg);
}

static void file_comments_quotes_export(void **state)
{
    struct fx *f = *state;
    struct mlc_config cfg;
    struct mlc_err err = {0};

    write_file(f->conf,
               "# ml-connector settings\n"
               "   # indented comment\n"
               "\n"
               "MLC_SAGE_URL=https://erp.example/Sage300WebApi/v1.0/-/\n"
               "export MLC_SAGE_USER = \"ADMIN\"\n"
               "MLC_TOPIC='my.topic'\n"
               "  MLC_POLL_INTERVAL = 60  \n"
               "MLC_SAGE_INSECURE=yes\r\n"
               "MLC_SAGE_PASSWORD=\"pa ss # not a comment\"\n"
               "MLC_KAFKA_GROUP=\"unbalanced\n",
               0600);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, f->conf, NULL, &err), MLC_OK);
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_SAGE_URL),
                        "https://erp.example/Sage300WebApi/v1.0/-/");
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_SAGE_USER), "ADMIN");
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_TOPIC), "my.topic");
    assert_int_equal(mlc_cfg_int(&cfg, MLC_CFG_POLL_INTERVAL), 60);
    assert_true(mlc_cfg_bool(&cfg, MLC_CFG_SAGE_INSECURE));
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_SAGE_PASSWORD), "pa ss # not a comment");
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_KAFKA_GROUP), "\"unbalanced");
    assert_non_null(strstr(cfg.origin[MLC_CFG_POLL_INTERVAL], "mlc.conf:7"));
    assert_int_equal(cfg.n_warnings, 0);
    mlc_config_free(&cfg);
}

static void environment_wins_and_empty_means_unset(void **state)
{
    struct fx *f = *state;
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char *env[] = {"MLC_POLL_INTERVAL=120",    "MLC_TOPIC=", "MLC_SAGE_USER=", "PATH=/usr/bin",
                   "MLC_TEST_SRCDIR=/ignored", NULL};

    write_file(f->conf,
               "MLC_POLL_INTERVAL=60\n"
               "MLC_SAGE_USER=FROMFILE\n"
               "MLC_SAGE_PAGE_SIZE=\n",
               0600);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, f->conf, env, &err), MLC_OK);
    assert_int_equal(mlc_cfg_int(&cfg, MLC_CFG_POLL_INTERVAL), 120);
    assert_string_equal(cfg.origin[MLC_CFG_POLL_INTERVAL], "environment");
    /* Empty is unset: the default stays, and an empty variable does not
     * wipe what the file said. */
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_TOPIC), "sage300.customers.v1");
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_SAGE_USER), "FROMFILE");
    assert_int_equal(mlc_cfg_int(&cfg, MLC_CFG_SAGE_PAGE_SIZE), 100);
    assert_int_equal(cfg.n_warnings, 0); /* PATH and MLC_TEST_* are not ours to judge */
    mlc_config_free(&cfg);
}

static void expect_env_error(char *var, const char *name, const char *what)
{
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char *env[] = {var, NULL};
    char prefix[64];

    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, NULL, env, &err), MLC_FATAL);
    assert_one_line(&err);
    snprintf(prefix, sizeof(prefix), "%s: ", name);
    assert_true(strncmp(err.msg, prefix, strlen(prefix)) == 0);
    assert_non_null(strstr(err.msg, what));
    /* The failed load left nothing to free (cfg was freed); a second free is safe. */
    mlc_config_free(&cfg);
}

static void bad_values_name_the_setting(void **state)
{
    expect_env_error("MLC_POLL_INTERVAL=abc", "MLC_POLL_INTERVAL", "not an integer in 1..604800");
    expect_env_error("MLC_POLL_INTERVAL=0", "MLC_POLL_INTERVAL", "1..604800");
    expect_env_error("MLC_POLL_INTERVAL=12s", "MLC_POLL_INTERVAL", "12s");
    expect_env_error("MLC_SAGE_INSECURE=maybe", "MLC_SAGE_INSECURE", "not true or false");
    expect_env_error("MLC_LOG_LEVEL=loud", "MLC_LOG_LEVEL", "error|warn|info|debug");
    expect_env_error("MLC_SAGE_URL=ftp://erp.example/", "MLC_SAGE_URL", "http:// or https://");
    expect_env_error("MLC_SAGE_PASSWORD=enc:v9:AAAA", "MLC_SAGE_PASSWORD", "enc:v2:");
    expect_env_error("MLC_SAGE_URL=https://erp.example/ a", "MLC_SAGE_URL", "blank");
}

/* Credentials belong in their own (secret) settings: a URL carrying them is
 * refused, and the error never echoes the URL, which would print them. */
static void urls_with_credentials_are_refused_without_echo(void **state)
{
    char *bad[] = {"MLC_SAGE_URL=https://webapi:S3cr3tPw@erp.example/Sage300WebApi/v1.0/-/",
                   "MLC_PIPEDRIVE_URL=ftp://u:S3cr3tPw@example/", NULL};

    for (char **v = bad; *v; v++) {
        struct mlc_config cfg;
        struct mlc_err err = {0};
        char *env[] = {*v, NULL};

        assert_int_equal(
            mlc_config_load(&cfg, MLC_PROG_LOADER | MLC_PROG_EXTRACTOR, NULL, env, &err),
            MLC_FATAL);
        assert_one_line(&err);
        assert_null(strstr(err.msg, "S3cr3tPw"));
        mlc_config_free(&cfg);
    }
}

static void bad_file_values_name_file_and_line(void **state)
{
    struct fx *f = *state;
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char want[160];

    write_file(f->conf, "# header\nMLC_TOPIC=t\nMLC_SAGE_PAGE_SIZE=lots\n", 0600);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, f->conf, NULL, &err), MLC_FATAL);
    assert_one_line(&err);
    snprintf(want, sizeof(want), "%s:3: MLC_SAGE_PAGE_SIZE: 'lots'", f->conf);
    assert_true(strncmp(err.msg, want, strlen(want)) == 0);

    write_file(f->conf, "MLC_TOPIC=t\nMLC_POLL_INTERVAL 60\n", 0600);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, f->conf, NULL, &err), MLC_FATAL);
    assert_one_line(&err);
    snprintf(want, sizeof(want), "%s:2: expected KEY=VALUE", f->conf);
    assert_string_equal(err.msg, want);

    unlink(f->conf);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, f->conf, NULL, &err), MLC_FATAL);
    assert_one_line(&err);
    assert_non_null(strstr(err.msg, f->conf));
}

static void write_bytes(const char *path, const char *data, size_t n)
{
    FILE *fp;

    unlink(path);
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
    assert_int_equal(chmod(path, 0600), 0);
}

/* Found by fuzzing (tests/fuzz/fuzz_config.c): fgets hid NUL bytes, so
 * "MLC_SAGE_PASSWORD=abc\0def" on a last line silently loaded "abc", and a
 * NUL mid-file was reported as a line longer than 4094 bytes. */
static void nul_bytes_and_long_lines(void **state)
{
    static const char nul_mid[] = "MLC_TOPIC=a\0b\nMLC_LOG_LEVEL=debug\n";
    static const char nul_last[] = "MLC_TOPIC=t\nMLC_SAGE_PASSWORD=abc\0def";
    struct fx *f = *state;
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char want[160], *text;

    write_bytes(f->conf, nul_mid, sizeof(nul_mid) - 1);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, f->conf, NULL, &err), MLC_FATAL);
    snprintf(want, sizeof(want), "%s:1: line holds a nul byte", f->conf);
    assert_string_equal(err.msg, want);

    write_bytes(f->conf, nul_last, sizeof(nul_last) - 1);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, f->conf, NULL, &err), MLC_FATAL);
    snprintf(want, sizeof(want), "%s:2: line holds a nul byte", f->conf);
    assert_string_equal(err.msg, want);

    /* The limit: 4094 bytes and a newline load, one byte more does not. */
    text = malloc(4200);
    assert_non_null(text);
    memcpy(text, "MLC_TOPIC=", 10);
    memset(text + 10, 'a', 4084);
    memcpy(text + 4094, "\nMLC_POLL_INTERVAL=60\n", 23);
    write_file(f->conf, text, 0600);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, f->conf, NULL, &err), MLC_OK);
    assert_int_equal(strlen(mlc_cfg_str(&cfg, MLC_CFG_TOPIC)), 4084);
    assert_int_equal(mlc_cfg_int(&cfg, MLC_CFG_POLL_INTERVAL), 60);
    mlc_config_free(&cfg);

    memset(text + 10, 'a', 4085);
    memcpy(text + 4095, "\nMLC_POLL_INTERVAL=60\n", 23);
    write_file(f->conf, text, 0600);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, f->conf, NULL, &err), MLC_FATAL);
    snprintf(want, sizeof(want), "%s:1: line longer than 4094 bytes", f->conf);
    assert_string_equal(err.msg, want);
    free(text);
}

static void removed_setting_names_its_replacement(void **state)
{
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char *env[] = {"MLC_SAGE_NEXTLINK_REBASE=false", NULL};

    (void)state;
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, NULL, env, &err), MLC_OK);
    assert_int_equal(cfg.n_warnings, 1);
    assert_non_null(strstr(cfg.warnings[0], "MLC_SAGE_NEXTLINK_REBASE was removed"));
    assert_non_null(strstr(cfg.warnings[0], "keyset query on MLC_SAGE_URL"));
    assert_null(strchr(cfg.warnings[0], '\n'));
    mlc_config_free(&cfg);
}

static void unknown_names_only_warn(void **state)
{
    struct fx *f = *state;
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char *env[] = {"MLC_POLL_INTERVALL=5", NULL};
    char logbuf[4096] = "";
    FILE *log = tmpfile();

    assert_non_null(log);
    write_file(f->conf, "MLC_SAGE_URLS=https://x/\nSAGE_USER=ADMIN\n", 0600);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, f->conf, env, &err), MLC_OK);
    assert_int_equal(cfg.n_warnings, 3);
    assert_non_null(strstr(cfg.warnings[0], "mlc.conf:1: unknown setting MLC_SAGE_URLS"));
    assert_non_null(strstr(cfg.warnings[1], "mlc.conf:2: unknown setting SAGE_USER"));
    assert_non_null(strstr(cfg.warnings[2], "unknown setting MLC_POLL_INTERVALL"));
    assert_int_equal(mlc_cfg_int(&cfg, MLC_CFG_POLL_INTERVAL), 300);
    mlc_log_set_stream(log);
    mlc_config_setup_logging(&cfg, "test-config");
    rewind(log);
    assert_true(fread(logbuf, 1, sizeof(logbuf) - 1, log) > 0);
    assert_non_null(strstr(logbuf, "warn"));
    assert_non_null(strstr(logbuf, "MLC_POLL_INTERVALL"));
    mlc_log_set_stream(NULL);
    fclose(log);
    mlc_config_free(&cfg);
}

static void rdkafka_properties_pass_through(void **state)
{
    struct fx *f = *state;
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char *env[] = {"MLC_RDKAFKA_SECURITY_PROTOCOL=ssl", "MLC_RDKAFKA_SASL_MECHANISM=PLAIN", NULL};

    write_file(f->conf, "MLC_RDKAFKA_SECURITY_PROTOCOL=plaintext\n", 0600);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, f->conf, env, &err), MLC_OK);
    assert_int_equal(cfg.n_rdkafka, 2);
    assert_string_equal(cfg.rdkafka[0].key, "security.protocol");
    assert_string_equal(cfg.rdkafka[0].value, "ssl"); /* the environment wins here too */
    assert_string_equal(cfg.rdkafka[1].key, "sasl.mechanism");
    assert_string_equal(cfg.rdkafka[1].value, "PLAIN");
    assert_int_equal(cfg.n_warnings, 0);
    mlc_config_free(&cfg);
}

/* A private key in PEM or an OAuth configuration string is as secret as a
 * password: redacted from every log line like the secret settings. */
static void rdkafka_secret_properties_are_redacted(void **state)
{
    static const char *const secret[] = {"sasl.password",
                                         "ssl.key.password",
                                         "ssl.key.pem",
                                         "ssl.keystore.password",
                                         "sasl.oauthbearer.config",
                                         "sasl.oauthbearer.client.secret",
                                         "some.new.password",
                                         NULL};
    static const char *const plain[] = {"sasl.username", "ssl.ca.location", "ssl.certificate.pem",
                                        "security.protocol", NULL};
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char *env[] = {"MLC_RDKAFKA_SSL_KEY_PEM=-----BEGIN PRIVATE KEY-----MIIEvQ9xkey",
                   "MLC_RDKAFKA_SASL_OAUTHBEARER_CONFIG=principal=svc clientSecret=oauthS3cret",
                   NULL};
    char out[512];
    FILE *mem;

    for (const char *const *k = secret; *k; k++)
        assert_true(mlc_config_rdkafka_is_secret(*k));
    for (const char *const *k = plain; *k; k++)
        assert_false(mlc_config_rdkafka_is_secret(*k));
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_OK);
    mem = fmemopen(out, sizeof(out), "w");
    assert_non_null(mem);
    mlc_log_set_stream(mem);
    mlc_info("key %s, oauth %s", cfg.rdkafka[0].value, cfg.rdkafka[1].value);
    fclose(mem);
    assert_null(strstr(out, "MIIEvQ9xkey"));
    assert_null(strstr(out, "oauthS3cret"));
    mlc_config_free(&cfg);
}

static void encrypted_secret_needs_private_key_file(void **state)
{
    struct fx *f = *state;
    unsigned char key[MLC_SECRET_KEY_LEN];
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char *sealed = NULL, *sealed_kafka = NULL;
    char tok[700], kafka[700], keyvar[200];
    char *env[] = {tok, kafka, keyvar, NULL};

    make_key(f, 0600, key);
    assert_int_equal(mlc_secret_encrypt(key, "MLC_PIPEDRIVE_TOKEN", "pd-Token-0123", &sealed, NULL),
                     MLC_OK);
    assert_int_equal(
        mlc_secret_encrypt(key, "MLC_RDKAFKA_SASL_PASSWORD", "kafka-Pass-77", &sealed_kafka, NULL),
        MLC_OK);
    snprintf(tok, sizeof(tok), "MLC_PIPEDRIVE_TOKEN=%s", sealed);
    snprintf(kafka, sizeof(kafka), "MLC_RDKAFKA_SASL_PASSWORD=%s", sealed_kafka);
    snprintf(keyvar, sizeof(keyvar), "MLC_MASTER_KEY_FILE=%s", f->key);

    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_OK);
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_PIPEDRIVE_TOKEN), "pd-Token-0123");
    assert_int_equal(cfg.n_rdkafka, 1);
    assert_string_equal(cfg.rdkafka[0].key, "sasl.password");
    assert_string_equal(cfg.rdkafka[0].value, "kafka-Pass-77");
    mlc_config_free(&cfg);

    assert_int_equal(chmod(f->key, 0644), 0);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_FATAL);
    assert_one_line(&err);
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_non_null(strstr(err.msg, "MLC_PIPEDRIVE_TOKEN"));
    assert_null(strstr(err.msg, sealed));

    /* A value sealed with another key is refused, naming the setting. */
    assert_int_equal(chmod(f->key, 0600), 0);
    make_key(f, 0600, key);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_FATAL);
    assert_one_line(&err);
    assert_true(strncmp(err.msg, "MLC_PIPEDRIVE_TOKEN: ", 21) == 0);
    free(sealed);
    free(sealed_kafka);
}

/* An enc:v2: value opens only as the setting it was sealed for: a token
 * pasted into the password setting is refused, naming the setting. */
static void sealed_secret_opens_only_for_its_setting(void **state)
{
    struct fx *f = *state;
    unsigned char key[MLC_SECRET_KEY_LEN];
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char *sealed = NULL;
    char pw[700], keyvar[200];
    char *env[] = {pw, keyvar, NULL};

    make_key(f, 0600, key);
    assert_int_equal(mlc_secret_encrypt(key, "MLC_PIPEDRIVE_TOKEN", "pd-Token-0123", &sealed, NULL),
                     MLC_OK);
    snprintf(pw, sizeof(pw), "MLC_SAGE_PASSWORD=%s", sealed);
    snprintf(keyvar, sizeof(keyvar), "MLC_MASTER_KEY_FILE=%s", f->key);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, NULL, env, &err), MLC_FATAL);
    assert_one_line(&err);
    assert_true(strncmp(err.msg, "MLC_SAGE_PASSWORD: ", 19) == 0);
    assert_non_null(strstr(err.msg, "sealed for another setting"));
    assert_null(strstr(err.msg, "pd-Token-0123"));
    free(sealed);
}

static void list_splits_and_trims(void **state)
{
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char *env[] = {"MLC_SAGE_COMPANIES= SAMINC , SAMLTD,,  ,X ", NULL};
    char **items = NULL;
    size_t n = 0;

    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, NULL, env, &err), MLC_OK);
    assert_int_equal(mlc_config_list(&cfg, MLC_CFG_SAGE_COMPANIES, &items, &n, &err), MLC_OK);
    assert_int_equal(n, 3);
    assert_string_equal(items[0], "SAMINC");
    assert_string_equal(items[1], "SAMLTD");
    assert_string_equal(items[2], "X");
    mlc_config_free_list(items, n);
    assert_int_equal(mlc_config_list(&cfg, MLC_CFG_KAFKA_BROKERS, &items, &n, &err), MLC_OK);
    assert_int_equal(n, 0);
    mlc_config_free_list(items, n);
    mlc_config_free(&cfg);
}

static char *slurp(FILE *fp)
{
    long len;
    char *s;

    fflush(fp);
    len = ftell(fp);
    assert_true(len > 0);
    s = calloc(1, (size_t)len + 1);
    assert_non_null(s);
    rewind(fp);
    assert_int_equal(fread(s, 1, (size_t)len, fp), (size_t)len);
    return s;
}

static int occurrences(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void secrets_never_reach_the_log(void **state)
{
    struct fx *f = *state;
    unsigned char key[MLC_SECRET_KEY_LEN];
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char *sealed = NULL;
    char pw[700], keyvar[200];
    char *env[] = {"MLC_PIPEDRIVE_TOKEN=pdTok3n-abc",
                   pw,
                   keyvar,
                   "MLC_RDKAFKA_SASL_PASSWORD=kafkaPw-q1",
                   "MLC_LOG_LEVEL=debug",
                   NULL};
    const char *leaks[] = {"pdTok3n-abc", "PDTOK3N-ABC", "sage-Pw-9", "SAGE-PW-9",
                           "kafkaPw-q1",  "KAFKAPW-Q1",  "pdTok3n",   "Pw-9"};
    FILE *log = tmpfile();
    char *text;

    assert_non_null(log);
    make_key(f, 0600, key);
    assert_int_equal(mlc_secret_encrypt(key, "MLC_SAGE_PASSWORD", "sage-Pw-9", &sealed, NULL),
                     MLC_OK);
    snprintf(pw, sizeof(pw), "MLC_SAGE_PASSWORD=%s", sealed);
    snprintf(keyvar, sizeof(keyvar), "MLC_MASTER_KEY_FILE=%s", f->key);
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR | MLC_PROG_LOADER, NULL, env, &err),
                     MLC_OK);
    mlc_log_set_stream(log);
    mlc_config_setup_logging(&cfg, "test-config");
    assert_int_equal(mlc_log_threshold, MLC_LOG_DEBUG);

    for (int round = 0; round < 2; round++) {
        if (round == 1)
            mlc_log_setup("test-config", MLC_LOG_DEBUG, MLC_LOG_JSON);
        mlc_debug("sending x-api-token: %s", mlc_cfg_str(&cfg, MLC_CFG_PIPEDRIVE_TOKEN));
        mlc_debug("basic auth ADMIN:%s", "SAGE-PW-9");
        mlc_info("password=%s;", mlc_cfg_str(&cfg, MLC_CFG_SAGE_PASSWORD));
        mlc_warn("kafka said %s and %s", cfg.rdkafka[0].value, "KAFKAPW-Q1");
        mlc_error("upper %s", "PDTOK3N-ABC");
    }
    mlc_log_set_stream(NULL);
    text = slurp(log);
    for (size_t i = 0; i < ARRAY_SIZE(leaks); i++)
        assert_null(strstr(text, leaks[i]));
    assert_int_equal(occurrences(text, "[REDACTED]"), 12);
    assert_int_equal(occurrences(text, "{\"ts\":"), 5);
    assert_non_null(strstr(text, "x-api-token: [REDACTED]"));
    assert_non_null(strstr(text, "\"msg\":\"password=[REDACTED];\""));
    free(text);
    fclose(log);
    free(sealed);
    mlc_config_free(&cfg);
}

/* MLC_X_FILE reads a secret from a file (Docker and compose secrets): the
 * value is the file minus one trailing newline, redacted like any secret. */
static void secrets_read_from_their_file_form(void **state)
{
    struct fx *f = *state;
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char var[160], var2[160], out[512];
    FILE *mem;

    write_file(f->conf, "tok-FromFile-77\n", 0600);
    snprintf(var, sizeof(var), "MLC_PIPEDRIVE_TOKEN_FILE=%s", f->conf);
    {
        char *env[] = {var, NULL};

        assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_OK);
    }
    assert_string_equal(mlc_cfg_str(&cfg, MLC_CFG_PIPEDRIVE_TOKEN), "tok-FromFile-77");
    assert_non_null(strstr(cfg.origin[MLC_CFG_PIPEDRIVE_TOKEN], "MLC_PIPEDRIVE_TOKEN_FILE"));
    mem = fmemopen(out, sizeof(out), "w");
    assert_non_null(mem);
    mlc_log_set_stream(mem);
    mlc_info("token is %s", mlc_cfg_str(&cfg, MLC_CFG_PIPEDRIVE_TOKEN));
    fclose(mem);
    assert_null(strstr(out, "tok-FromFile-77"));
    mlc_config_free(&cfg);

    /* both forms: one line naming both, whichever source each came from */
    snprintf(var2, sizeof(var2), "MLC_PIPEDRIVE_TOKEN=direct-value");
    {
        char *env[] = {var, var2, NULL};

        assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_FATAL);
    }
    assert_one_line(&err);
    assert_string_equal(err.msg,
                        "MLC_PIPEDRIVE_TOKEN and MLC_PIPEDRIVE_TOKEN_FILE are both set: keep one");
    mlc_config_free(&cfg);

    /* a file that cannot be read, or is empty: the setting and the path */
    snprintf(var, sizeof(var), "MLC_SAGE_PASSWORD_FILE=%s/absent", f->dir);
    {
        char *env[] = {var, NULL};

        assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, NULL, env, &err), MLC_FATAL);
    }
    assert_one_line(&err);
    assert_true(strncmp(err.msg, "MLC_SAGE_PASSWORD_FILE: cannot read ", 36) == 0);
    assert_non_null(strstr(err.msg, "/absent"));
    write_file(f->conf, "\n", 0600);
    snprintf(var, sizeof(var), "MLC_SAGE_PASSWORD_FILE=%s", f->conf);
    {
        char *env[] = {var, NULL};

        assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, NULL, env, &err), MLC_FATAL);
    }
    assert_non_null(strstr(err.msg, "is empty"));
    /* a _FILE name of a setting that is not secret stays unknown */
    {
        char *env[] = {"MLC_TOPIC_FILE=/etc/hostname", NULL};

        assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_OK);
        assert_int_equal(cfg.n_warnings, 1);
        mlc_config_free(&cfg);
    }
}

/* MLC_RDKAFKA_<PROP>_FILE for the librdkafka properties that hold secrets:
 * the compose secret of a Kafka password, as for the table's secrets. */
static void rdkafka_secrets_read_from_their_file_form(void **state)
{
    struct fx *f = *state;
    struct mlc_config cfg;
    struct mlc_err err = {0};
    char var[160], out[512];
    FILE *mem;

    write_file(f->conf, "kafka-Pass-0042\n", 0600);
    snprintf(var, sizeof(var), "MLC_RDKAFKA_SASL_PASSWORD_FILE=%s", f->conf);
    {
        char *env[] = {var, "MLC_RDKAFKA_SASL_USERNAME=mlc-loader", NULL};

        assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_OK);
    }
    assert_int_equal(cfg.n_rdkafka, 2);
    for (size_t i = 0; i < cfg.n_rdkafka; i++)
        if (!strcmp(cfg.rdkafka[i].key, "sasl.password"))
            assert_string_equal(cfg.rdkafka[i].value, "kafka-Pass-0042");
        else
            assert_string_equal(cfg.rdkafka[i].key, "sasl.username");
    mem = fmemopen(out, sizeof(out), "w");
    assert_non_null(mem);
    mlc_log_set_stream(mem);
    mlc_info("password is kafka-Pass-0042");
    fclose(mem);
    mlc_log_set_stream(NULL);
    assert_null(strstr(out, "kafka-Pass-0042"));
    mlc_config_free(&cfg);

    /* both forms: one line naming both */
    {
        char *env[] = {var, "MLC_RDKAFKA_SASL_PASSWORD=direct", NULL};

        assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_FATAL);
    }
    assert_string_equal(err.msg, "MLC_RDKAFKA_SASL_PASSWORD and MLC_RDKAFKA_SASL_PASSWORD_FILE "
                                 "are both set: keep one");
    mlc_config_free(&cfg);

    /* a file that cannot be read names the setting and the path */
    snprintf(var, sizeof(var), "MLC_RDKAFKA_SSL_KEY_PEM_FILE=%s/absent", f->dir);
    {
        char *env[] = {var, NULL};

        assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_FATAL);
    }
    assert_true(strncmp(err.msg, "MLC_RDKAFKA_SSL_KEY_PEM_FILE: cannot read ", 42) == 0);
    mlc_config_free(&cfg);
}

static void loopback_urls(void **state)
{
    static const char *const yes[] = {"http://127.0.0.1:8080/x", "http://127.9.8.7/",
                                      "http://localhost/",       "http://LOCALHOST:99",
                                      "http://[::1]:8443/p",     NULL};
    static const char *const no[] = {"http://127.example.com/",
                                     "http://10.0.0.1/",
                                     "http://erp.example/",
                                     "http://[::2]/",
                                     "http://localhost.example.com/",
                                     "http://128.0.0.1/",
                                     "http://",
                                     NULL};

    for (const char *const *u = yes; *u; u++)
        assert_true(mlc_url_is_loopback(*u));
    for (const char *const *u = no; *u; u++)
        assert_false(mlc_url_is_loopback(*u));
}

/* http:// carries the Sage password and the Pipedrive token in clear: only
 * to this machine, unless the operator allows it, and then with a warning. */
static void plaintext_http_only_to_loopback_unless_allowed(void **state)
{
    struct mlc_config cfg;
    struct mlc_err err = {0};

    {
        char *env[] = {"MLC_PIPEDRIVE_URL=http://pipedrive.example", NULL};

        assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_FATAL);
        assert_one_line(&err);
        assert_true(strncmp(err.msg, "MLC_PIPEDRIVE_URL: http:// would send credentials", 49) == 0);
        assert_non_null(strstr(err.msg, "MLC_ALLOW_PLAINTEXT_HTTP=true"));
    }
    {
        char *env[] = {"MLC_SAGE_URL=http://erp.lan/Sage300WebApi/v1.0/-/", NULL};

        assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, NULL, env, &err), MLC_FATAL);
        assert_true(strncmp(err.msg, "MLC_SAGE_URL: ", 14) == 0);
        /* the loader does not read MLC_SAGE_URL, so it is not its concern */
        assert_int_equal(mlc_config_load(&cfg, MLC_PROG_LOADER, NULL, env, &err), MLC_OK);
        assert_false(mlc_config_plaintext_http(&cfg));
        mlc_config_free(&cfg);
    }
    {
        char *env[] = {"MLC_SAGE_URL=http://erp.lan/Sage300WebApi/v1.0/-/",
                       "MLC_ALLOW_PLAINTEXT_HTTP=true", NULL};

        assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, NULL, env, &err), MLC_OK);
        assert_int_equal(cfg.n_warnings, 1);
        assert_non_null(strstr(cfg.warnings[0], "MLC_SAGE_URL: plain http://"));
        assert_true(mlc_config_plaintext_http(&cfg));
        mlc_config_free(&cfg);
    }
    {
        char *env[] = {"MLC_SAGE_URL=http://127.0.0.1:9/Sage300WebApi/v1.0/-/",
                       "MLC_PIPEDRIVE_URL=http://[::1]:9", NULL};

        assert_int_equal(
            mlc_config_load(&cfg, MLC_PROG_EXTRACTOR | MLC_PROG_LOADER, NULL, env, &err), MLC_OK);
        assert_int_equal(cfg.n_warnings, 0);
        assert_false(mlc_config_plaintext_http(&cfg));
        mlc_config_free(&cfg);
    }
}

static void markdown_table_rows_have_five_cells(void **state)
{
    FILE *out = tmpfile();
    char *text, *line, *next;
    int rows = 0;

    assert_non_null(out);
    mlc_config_print_markdown(out);
    text = slurp(out);
    for (line = text; line && *line; line = next) {
        int pipes = 0;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, "| `MLC_", 7) != 0)
            continue;
        rows++;
        for (char *p = line; *p; p++)
            if (*p == '|' && (p == line || p[-1] != '\\'))
                pipes++;
        assert_int_equal(pipes, 6);
    }
    assert_int_equal(rows, MLC_CFG__COUNT);
    free(text);
    fclose(out);
}

static void help_lists_only_the_programs_settings(void **state)
{
    FILE *out = tmpfile();
    char *text;

    assert_non_null(out);
    mlc_config_print_help(out, MLC_PROG_EXTRACTOR);
    text = slurp(out);
    assert_non_null(strstr(text, "MLC_SAGE_URL"));
    assert_non_null(strstr(text, "MLC_POLL_INTERVAL"));
    assert_non_null(strstr(text, "MLC_MASTER_KEY_FILE"));
    assert_null(strstr(text, "MLC_PIPEDRIVE_TOKEN"));
    free(text);
    fclose(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(defaults_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(file_comments_quotes_export, setup, teardown),
        cmocka_unit_test_setup_teardown(environment_wins_and_empty_means_unset, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_values_name_the_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_file_values_name_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(urls_with_credentials_are_refused_without_echo, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(nul_bytes_and_long_lines, setup, teardown),
        cmocka_unit_test(removed_setting_names_its_replacement),
        cmocka_unit_test_setup_teardown(unknown_names_only_warn, setup, teardown),
        cmocka_unit_test_setup_teardown(rdkafka_properties_pass_through, setup, teardown),
        cmocka_unit_test_setup_teardown(encrypted_secret_needs_private_key_file, setup, teardown),
        cmocka_unit_test_setup_teardown(list_splits_and_trims, setup, teardown),
        cmocka_unit_test_setup_teardown(secrets_never_reach_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(markdown_table_rows_have_five_cells, setup, teardown),
        cmocka_unit_test_setup_teardown(help_lists_only_the_programs_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(secrets_read_from_their_file_form, setup, teardown),
        cmocka_unit_test_setup_teardown(rdkafka_secrets_read_from_their_file_form, setup, teardown),
        cmocka_unit_test(loopback_urls),
        cmocka_unit_test_setup_teardown(sealed_secret_opens_only_for_its_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(rdkafka_secret_properties_are_redacted, setup, teardown),
        cmocka_unit_test(plaintext_http_only_to_loopback_unless_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
