/* mlc_kafka.c - what the producer and the consumer share (see mlc_kafka.h):
 * the librdkafka configuration from struct mlc_config, librdkafka's log, the
 * monotonic clock, waiting for librdkafka's threads at exit and the error
 * name parser.
 *
 * mlc_kafka_int.h says which file holds what.
 */
#include "mlc_kafka.h"

#include "mlc_kafka_int.h"
#include "mlc_log.h"
#include "mlc_str.h"

#include <stdio.h>
#include <strings.h>
#include <time.h>

/* ------------------------------------------------------------ configuration */

/* "socket.timeout.ms" -> "MLC_RDKAFKA_SOCKET_TIMEOUT_MS". */
static void setting_name(const char *key, char *out, size_t outsz)
{
    char up[200];
    size_t i;

    mlc_str_upper(up, key, sizeof(up));
    for (i = 0; up[i]; i++)
        if (up[i] == '.')
            up[i] = '_';
    snprintf(out, outsz, "MLC_RDKAFKA_%s", up);
}

mlc_rc mlc_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                          const char *setting, struct mlc_err *err)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
        return mlc_err_set(err, MLC_FATAL, "%s: %s", setting, errstr);
    return MLC_OK;
}

/* bootstrap.servers, then MLC_RDKAFKA_* untouched. */
mlc_rc mlc_kafka_conf_from_config(const struct mlc_config *cfg, rd_kafka_conf_t *conf,
                                  struct mlc_err *err)
{
    char setting[256];
    mlc_rc rc;

    if (mlc_cfg_is_set(cfg, MLC_CFG_KAFKA_BROKERS)) {
        rc = mlc_kafka_conf_set(conf, "bootstrap.servers", mlc_cfg_str(cfg, MLC_CFG_KAFKA_BROKERS),
                                "MLC_KAFKA_BROKERS", err);
        if (rc != MLC_OK)
            return rc;
    }
    for (size_t i = 0; i < cfg->n_rdkafka; i++) {
        setting_name(cfg->rdkafka[i].key, setting, sizeof(setting));
        rc = mlc_kafka_conf_set(conf, cfg->rdkafka[i].key, cfg->rdkafka[i].value, setting, err);
        if (rc != MLC_OK)
            return rc;
    }
    return MLC_OK;
}

void mlc_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (level <= 3)
        mlc_error("kafka %s: %s", fac, buf);
    else if (level <= 4)
        mlc_warn("kafka %s: %s", fac, buf);
    else if (level <= 6)
        mlc_info("kafka %s: %s", fac, buf);
    else
        mlc_debug("kafka %s: %s", fac, buf);
}

/* ----------------------------------------------------------------- handles */

mlc_rc mlc_kafka_wait_destroyed(int timeout_ms, struct mlc_err *err)
{
    if (rd_kafka_wait_destroyed(timeout_ms) != 0)
        return mlc_err_set(err, MLC_RETRY, "kafka: handles still alive after %d ms", timeout_ms);
    return MLC_OK;
}

/* ------------------------------------------------------------------- shared */

bool mlc_kafka_parse_err(const char *s, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *descs;
    bool by_number;
    size_t n;
    long v = 0;

    if (!s || !*s)
        return false;
    by_number = mlc_parse_long(s, -1000, 100000, &v);
    if (!by_number && !strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18))
        s += 18;
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++) {
        if (!descs[i].name)
            continue;
        if (by_number ? (long)descs[i].code == v : !strcasecmp(descs[i].name, s)) {
            *out = descs[i].code;
            return true;
        }
    }
    return false;
}
