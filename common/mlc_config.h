/* mlc_config.h - table-driven configuration (see mlc_config_table.h).
 *
 * Sources, weakest first: the table's defaults, a --config FILE of
 * KEY=VALUE lines ('#' starts a comment line; values may be quoted), then the
 * environment. An empty value counts as unset. Every value is validated as
 * it is read; the first bad one fails the load with one line naming the
 * setting (and file:line for files). Unknown MLC_ names only warn.
 *
 * MLC_RDKAFKA_<PROP> settings are passed to librdkafka untouched: the name
 * is lower-cased with '_' turned into '.' (MLC_RDKAFKA_SECURITY_PROTOCOL ->
 * security.protocol). No librdkafka property contains '_', so the mapping is
 * unambiguous.
 *
 * Secret settings may hold enc:v2:... values (sealed for that setting by
 * `mlc secret encrypt --setting`; old enc:v1:... values still open),
 * decrypted at load with MLC_MASTER_KEY_FILE; every secret's plain value (and its upper-cased form)
 * is registered with the logger's redaction. Every secret MLC_X may instead
 * be read from a file, MLC_X_FILE=path (Docker and compose secrets); giving
 * both forms is an error.
 *
 * URL settings with http:// are refused unless the host is loopback
 * (localhost, 127.0.0.0/8, [::1]) or MLC_ALLOW_PLAINTEXT_HTTP=true, which
 * leaves a warning instead.
 *
 * Ownership: struct mlc_config owns every string it hands out; they live
 * until mlc_config_free().
 */
#ifndef MLC_CONFIG_H
#define MLC_CONFIG_H

#include "mlc_err.h"

#include <stdbool.h>
#include <stdio.h>

enum mlc_prog {
    MLC_PROG_EXTRACTOR = 1,
    MLC_PROG_LOADER = 2,
    MLC_PROG_CLI = 4,
};

enum mlc_cfg_type {
    MLC_CFGT_STRING,
    MLC_CFGT_SECRET,
    MLC_CFGT_INT,
    MLC_CFGT_BOOL,
    MLC_CFGT_ENUM,
    MLC_CFGT_LIST,
    MLC_CFGT_URL,
    MLC_CFGT_PATH,
};

enum mlc_cfg_id {
#define MLC_SETTING(id, type, def, min, max, choices, progs, help) MLC_CFG_##id,
#include "mlc_config_table.h"
#undef MLC_SETTING
    MLC_CFG__COUNT
};

struct mlc_cfg_def {
    const char *name; /* "MLC_SAGE_URL" */
    enum mlc_cfg_type type;
    const char *def;
    long min, max;
    const char *choices;
    unsigned progs;
    const char *help;
};

struct mlc_kv {
    char *key;
    char *value;
    bool direct, via_file; /* MLC_RDKAFKA_X and/or MLC_RDKAFKA_X_FILE gave it */
};

struct mlc_config {
    unsigned prog;
    char *value[MLC_CFG__COUNT]; /* effective value, "" when unset; secrets decrypted */
    long num[MLC_CFG__COUNT];    /* INT value, or BOOL as 0/1 */
    char origin[MLC_CFG__COUNT][96];
    struct mlc_kv *rdkafka; /* librdkafka properties from MLC_RDKAFKA_* */
    size_t n_rdkafka;
    char **warnings; /* collected during load, logged by mlc_config_log_warnings */
    size_t n_warnings;
    bool set_directly[MLC_CFG__COUNT];  /* a secret given as MLC_X=value */
    bool via_file_form[MLC_CFG__COUNT]; /* a secret read from MLC_X_FILE */
};

extern const struct mlc_cfg_def mlc_cfg_defs[MLC_CFG__COUNT];

/* Loads defaults, then file (may be NULL), then envp (may be NULL: no
 * environment). On failure err holds one line and cfg is freed. */
mlc_rc mlc_config_load(struct mlc_config *cfg, unsigned prog, const char *file, char **envp,
                       struct mlc_err *err);
void mlc_config_free(struct mlc_config *cfg);

/* Configures the logger from MLC_LOG_LEVEL/MLC_LOG_FORMAT and then logs the
 * warnings collected during load. */
void mlc_config_setup_logging(const struct mlc_config *cfg, const char *prog_name);

const char *mlc_cfg_str(const struct mlc_config *cfg, enum mlc_cfg_id id);
long mlc_cfg_int(const struct mlc_config *cfg, enum mlc_cfg_id id);
bool mlc_cfg_bool(const struct mlc_config *cfg, enum mlc_cfg_id id);
bool mlc_cfg_is_set(const struct mlc_config *cfg, enum mlc_cfg_id id);

/* MLC_FATAL with "MLC_X is not set (<help>)" unless the setting has a value. */
mlc_rc mlc_config_require(const struct mlc_config *cfg, enum mlc_cfg_id id, struct mlc_err *err);

/* Splits a LIST setting into trimmed, non-empty items. *items is a new
 * array of new strings; free with mlc_config_free_list. */
mlc_rc mlc_config_list(const struct mlc_config *cfg, enum mlc_cfg_id id, char ***items, size_t *n,
                       struct mlc_err *err);
void mlc_config_free_list(char **items, size_t n);

/* True for http://localhost..., http://127.x.y.z..., http://[::1]...: a
 * request that never leaves the machine. */
bool mlc_url_is_loopback(const char *url);
/* True when a URL setting the program uses is http:// to another host
 * (allowed only by MLC_ALLOW_PLAINTEXT_HTTP): for the hourly reminder,
 * /metrics and `mlc status`. */
bool mlc_config_plaintext_http(const struct mlc_config *cfg);

/* True for a librdkafka property holding a secret (sasl.password,
 * ssl.key.pem, sasl.oauthbearer.config, ...; the list is in mlc_config.c). */
bool mlc_config_rdkafka_is_secret(const char *key);
/* The setting name of a librdkafka property (sasl.password ->
 * MLC_RDKAFKA_SASL_PASSWORD): what an enc:v2: value for it is bound to. */
void mlc_config_rdkafka_setting(const char *key, char *out, size_t size);

/* The settings a program reads, for its --help. */
void mlc_config_print_help(FILE *out, unsigned prog);
/* docs/configuration.md. */
void mlc_config_print_markdown(FILE *out);

#endif
