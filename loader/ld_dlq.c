/* ld_dlq.c - the dead-letter topic: one producer, created on first use, and
 * its delivery reports.
 */
#include "ld_dlq.h"

#include "ld_util.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_time.h"

#include <stdio.h>
#include <string.h>

#define DLQ_PRODUCE_MS  10000 /* a dead letter waits this long for queue room */
#define DLQ_DELIVERY_MS 30000 /* and this long for its delivery report */

void ld_dlq_on_delivery(const struct mlc_kafka_dr *dr, void *ctx)
{
    struct ld *ld = ctx;

    if (dr->err)
        ld->dlq_failed++;
    else
        ld->dlq_ok++;
}

mlc_rc ld_dlq_send(struct ld *ld, const struct item *it, const char *cls, const char *text,
                   struct mlc_err *err)
{
    struct mlc_kafka_header h[64];
    size_t nh = 0;
    rd_kafka_headers_t *orig = NULL;
    char part[16], off[24], at[32], clean[512];
    int left = 0, before_ok, before_failed;
    mlc_rc rc;

    if (!ld->dlq &&
        (rc = mlc_kafka_producer_new(ld->cfg, ld_dlq_on_delivery, ld, &ld->dlq, err)) != MLC_OK)
        return rc;
    if (it->msg && rd_kafka_message_headers(it->msg, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig) {
        const char *name;
        const void *val;
        size_t len;

        for (size_t i = 0; nh < 58 && !rd_kafka_header_get_all(orig, i, &name, &val, &len); i++)
            h[nh++] = (struct mlc_kafka_header){name, val, len};
    } else if (it->sig) {
        /* a backlog row keeps only its signature of the original headers */
        h[nh++] = (struct mlc_kafka_header){MLC_SIGN_HEADER, it->sig, it->sig_len};
    }
    snprintf(part, sizeof(part), "%d", (int)it->partition);
    snprintf(off, sizeof(off), "%lld", (long long)it->offset);
    ld_rfc3339(mlc_realtime_ms(), at);
    mlc_redact(text, clean, sizeof(clean));
    h[nh++] = (struct mlc_kafka_header){"mlc.original.topic", ld->topic, strlen(ld->topic)};
    h[nh++] = (struct mlc_kafka_header){"mlc.original.partition", part, strlen(part)};
    h[nh++] = (struct mlc_kafka_header){"mlc.original.offset", off, strlen(off)};
    h[nh++] = (struct mlc_kafka_header){"mlc.error.class", cls, strlen(cls)};
    h[nh++] = (struct mlc_kafka_header){"mlc.error", clean, strlen(clean)};
    h[nh++] = (struct mlc_kafka_header){"mlc.failed.at", at, strlen(at)};
    before_ok = ld->dlq_ok;
    before_failed = ld->dlq_failed;
    rc = mlc_kafka_produce(ld->dlq, mlc_cfg_str(ld->cfg, MLC_CFG_DLQ_TOPIC), it->key, it->key_len,
                           it->value, it->value_len, h, nh, NULL, DLQ_PRODUCE_MS, err);
    if (rc != MLC_OK)
        return rc == MLC_PERM ? MLC_RETRY : rc;
    rc = mlc_kafka_producer_flush(ld->dlq, DLQ_DELIVERY_MS, &left, err);
    if (rc == MLC_OK && (ld->dlq_failed != before_failed || ld->dlq_ok == before_ok))
        rc = mlc_err_set(err, MLC_RETRY, "dead-letter topic %s: delivery failed",
                         mlc_cfg_str(ld->cfg, MLC_CFG_DLQ_TOPIC));
    return rc;
}
