/* ext_publish.c - producing events and counting delivery reports (see
 * ext_publish.h). */
#include "ext_publish.h"
#include "mlc_time.h"

#include "mlc_backoff.h"
#include "mlc_log.h"
#include "mlc_str.h"

#include <stdint.h>
#include <string.h>

void ext_on_delivery(const struct mlc_kafka_dr *dr, void *ctx)
{
    struct ext_ctx *x = ctx;
    uintptr_t slot = (uintptr_t)dr->opaque;

    /* opaque is 1 + the page slot; anything else is not ours to count. */
    if (slot < 1 || slot > EXT_SLOTS)
        return;
    slot--;
    if (dr->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        x->dr_ok[slot]++;
        return;
    }
    if (!x->dr_failed[slot])
        mlc_strlcpy(x->dr_error[slot], dr->errstr ? dr->errstr : "unknown error",
                    sizeof(x->dr_error[slot]));
    x->dr_failed[slot]++;
    if (dr->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
        dr->err == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED)
        x->dr_denied[slot] = true;
    ext_metrics_delivery_failed(x->metrics);
}

void ext_publish_slot_reset(struct ext_ctx *x, unsigned slot)
{
    x->dr_ok[slot] = x->dr_failed[slot] = 0;
    x->dr_denied[slot] = false;
    x->dr_error[slot][0] = '\0';
}

mlc_rc ext_publish(struct ext_run *c, unsigned slot, const char *number, const cJSON *customer,
                   const cJSON *credit, const char *last_maintained, time_t read_at, char hash[65],
                   struct mlc_err *err)
{
    struct mlc_event_source src = {
        .base_url = c->x->base_url, .last_maintained = last_maintained, .read_at = read_at};
    cJSON *ev = NULL;
    char key[MLC_EVENT_MAX_KEY + 1], sig[MLC_SIGN_VALUE_SZ];
    struct mlc_kafka_header hdr = {MLC_SIGN_HEADER, sig, MLC_SIGN_VALUE_SZ - 1};
    const cJSON *h;
    mlc_rc rc;

    /* mlc_event_build validates the event with the loader's rules, so the
     * canonical form is written directly (mlc_event_encode would validate
     * the same tree a second time); only the size limit is left to check. */
    mlc_buf_reset(&c->value);
    if ((rc = mlc_event_key(c->company, number, key, sizeof(key), err)) != MLC_OK ||
        (rc = mlc_event_build_version(c->x->event_version == 1 ? 1 : 2, c->company, number,
                                      customer, credit, &src, time(NULL), &ev, err)) != MLC_OK ||
        (rc = mlc_event_canonical(ev, &c->value, err)) != MLC_OK)
        goto out;
    if (c->value.len > MLC_EVENT_MAX_BYTES) {
        rc = mlc_err_set(err, MLC_PERM, "event: encoded size %zu bytes exceeds %d", c->value.len,
                         MLC_EVENT_MAX_BYTES);
        goto out;
    }
    h = cJSON_GetObjectItemCaseSensitive(ev, "content_hash");
    if (hash && cJSON_IsString(h))
        mlc_strlcpy(hash, h->valuestring, MLC_EVENT_HASH_HEX + 1);
    if (c->x->sign_key && (rc = mlc_sign_record(c->x->sign_key, key, strlen(key), c->value.data,
                                                c->value.len, sig, err)) != MLC_OK)
        goto out;
    rc = mlc_kafka_produce(c->x->producer, c->x->topic, key, strlen(key), c->value.data,
                           c->value.len, c->x->sign_key ? &hdr : NULL, c->x->sign_key ? 1 : 0,
                           (void *)(uintptr_t)(slot + 1), 30000, err);
    if (rc == MLC_PERM)
        mlc_err_prefix(err, "kafka refused the event");
out:
    cJSON_Delete(ev);
    return rc;
}

mlc_rc ext_publish_wait(struct ext_run *c, unsigned slot, long n, long page_no, struct mlc_err *err)
{
    struct ext_ctx *x = c->x;
    long deadline = mlc_monotonic_ms() + x->flush_timeout_ms;

    while (x->dr_ok[slot] + x->dr_failed[slot] < n) {
        if (mlc_monotonic_ms() > deadline)
            return mlc_err_set(err, MLC_RETRY,
                               "kafka: %ld of %ld events of page %ld not acknowledged within "
                               "%d ms",
                               n - x->dr_ok[slot], n, page_no, x->flush_timeout_ms);
        if (mlc_kafka_producer_poll(x->producer, 20, err) == MLC_FATAL)
            return mlc_err_prefix(err, "kafka");
    }
    if (x->dr_failed[slot] && x->dr_denied[slot])
        /* retrying cannot help, and every other company would fail the same */
        return mlc_err_set(err, MLC_FATAL,
                           "kafka: %ld of %ld events of page %ld not acknowledged: %s (the "
                           "credentials may not write the topic: check the ACLs and "
                           "MLC_RDKAFKA_SASL_USERNAME)",
                           x->dr_failed[slot], n, page_no, x->dr_error[slot]);
    if (x->dr_failed[slot])
        return mlc_err_set(err, MLC_RETRY,
                           "kafka: %ld of %ld events of page %ld not acknowledged: %s",
                           x->dr_failed[slot], n, page_no, x->dr_error[slot]);
    return MLC_OK;
}

void ext_publish_drain(struct ext_run *c)
{
    int left = 0;

    if (mlc_kafka_producer_outstanding(c->x->producer) > 0)
        mlc_kafka_producer_flush(c->x->producer, c->x->flush_timeout_ms, &left, NULL);
    if (left > 0)
        mlc_warn("%s: %d events still unacknowledged; their pages were not committed", c->company,
                 left);
}
