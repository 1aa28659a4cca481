/* fuzz_config.c - libFuzzer target for the configuration file parser
 * (mlc_config.h: mlc_config_load with --config FILE, no environment).
 *
 * The input is written to a memfd once per run and loaded through
 * /proc/self/fd/N, so nothing touches the disk. The program (which decides
 * the "<program>" defaults) is picked from the input length.
 *
 * Side effects kept bounded: warnings are only collected (never logged; the
 * logger's threshold is set below error anyway), and the secrets each load
 * registers for redaction are forgotten after every input so the registry
 * does not grow without bound. An input may set MLC_MASTER_KEY_FILE to any
 * path; mlc_secret_load_key only reads regular files that others cannot
 * read, without blocking, so at worst an enc:v1: value is refused (the
 * refusal path is what gets exercised: no key file exists in the fuzzing
 * environment at the default path).
 *
 * Properties: MLC_OK or MLC_FATAL with a one-line message; on success every
 * value is a string, INT values are within their declared range, BOOL
 * values are 0 or 1 and LIST values split into trimmed, non-empty items.
 */
#include "fuzz_common.h"

#include "mlc_config.h"
#include "mlc_log.h"

#include <ctype.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int memfd = -1;
static char path[64];

static void check_loaded(const struct mlc_config *cfg)
{
    for (int i = 0; i < MLC_CFG__COUNT; i++) {
        const struct mlc_cfg_def *d = &mlc_cfg_defs[i];

        FUZZ_CHECK(cfg->value[i] != NULL, "%s has no value", d->name);
        if (d->type == MLC_CFGT_INT && cfg->value[i][0])
            FUZZ_CHECK(cfg->num[i] >= d->min && cfg->num[i] <= d->max, "%s = %ld out of range",
                       d->name, cfg->num[i]);
        if (d->type == MLC_CFGT_BOOL)
            FUZZ_CHECK(cfg->num[i] == 0 || cfg->num[i] == 1, "%s = %ld", d->name, cfg->num[i]);
    }
    for (int i = 0; i < MLC_CFG__COUNT; i++) {
        char **items = NULL;
        size_t n = 0;

        if (mlc_cfg_defs[i].type != MLC_CFGT_LIST)
            continue;
        FUZZ_CHECK(mlc_config_list(cfg, (enum mlc_cfg_id)i, &items, &n, NULL) == MLC_OK,
                   "%s does not split", mlc_cfg_defs[i].name);
        for (size_t k = 0; k < n; k++) {
            size_t len = strlen(items[k]);
            FUZZ_CHECK(len > 0 && !isspace((unsigned char)items[k][0]) &&
                           !isspace((unsigned char)items[k][len - 1]) && !strchr(items[k], ','),
                       "%s item \"%s\" not trimmed or empty", mlc_cfg_defs[i].name, items[k]);
        }
        mlc_config_free_list(items, n);
    }
    for (size_t i = 0; i < cfg->n_rdkafka; i++)
        FUZZ_CHECK(cfg->rdkafka[i].key && cfg->rdkafka[i].value, "rdkafka entry %zu", i);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        FUZZ_CHECK(cfg->warnings[i] != NULL, "warning %zu", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned progs[] = {MLC_PROG_EXTRACTOR, MLC_PROG_LOADER, MLC_PROG_CLI};
    struct mlc_config cfg;
    struct mlc_err err = {0};
    mlc_rc rc;

    if (memfd < 0) {
        memfd = memfd_create("mlc-fuzz-config", MFD_CLOEXEC);
        if (memfd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
        mlc_log_threshold = -1; /* nothing is logged per input */
    }
    if (ftruncate(memfd, 0) != 0 || (size && pwrite(memfd, data, size, 0) != (ssize_t)size)) {
        perror("memfd write");
        abort();
    }

    memset(&cfg, 0, sizeof(cfg));
    rc = mlc_config_load(&cfg, progs[size % 3], path, NULL, &err);
    fuzz_report("config", rc, err.msg);
    FUZZ_CHECK(rc == MLC_OK || rc == MLC_FATAL, "rc %d: %s", (int)rc, err.msg);
    if (rc == MLC_OK) {
        check_loaded(&cfg);
        mlc_config_free(&cfg);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0' && !strchr(err.msg, '\n'), "bad message \"%s\"", err.msg);
    }
    mlc_log_clear_secrets();
    return 0;
}
