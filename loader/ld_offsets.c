/* ld_offsets.c - offset resets by position or time (see ld_offsets.h). */
#include "ld_offsets.h"
#include "mlc_backoff.h"

#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_str.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

#define PROBE_TIMEOUT_MS 10000

static bool digits(const char *s, size_t n, long min, long max, long *out)
{
    char b[8];

    if (n >= sizeof(b))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    memcpy(b, s, n);
    b[n] = '\0';
    return mlc_parse_long(b, min, max, out);
}

bool ld_parse_time(const char *s, int64_t *ms)
{
    long y, mo, d, h = 0, mi = 0, se = 0, frac = 0, oh = 0, om = 0;
    int sign = 0;
    struct tm tm = {0};
    const char *p = s;
    time_t t;

    if (!digits(p, 4, 1970, 9999, &y) || p[4] != '-' || !digits(p + 5, 2, 1, 12, &mo) ||
        p[7] != '-' || !digits(p + 8, 2, 1, 31, &d))
        return false;
    p += 10;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (!digits(p + 1, 2, 0, 23, &h) || p[3] != ':' || !digits(p + 4, 2, 0, 59, &mi))
            return false;
        p += 6;
        if (*p == ':') {
            if (!digits(p + 1, 2, 0, 60, &se))
                return false;
            p += 3;
            if (*p == '.') {
                int nd = 0;

                p++;
                while (isdigit((unsigned char)*p)) {
                    if (nd < 3)
                        frac = frac * 10 + (*p - '0');
                    nd++;
                    p++;
                }
                if (nd == 0)
                    return false;
                for (; nd < 3; nd++)
                    frac *= 10;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            sign = *p == '+' ? 1 : -1;
            if (!digits(p + 1, 2, 0, 23, &oh) || p[3] != ':' || !digits(p + 4, 2, 0, 59, &om))
                return false;
            p += 6;
        }
    }
    if (*p)
        return false;
    tm.tm_year = (int)y - 1900;
    tm.tm_mon = (int)mo - 1;
    tm.tm_mday = (int)d;
    tm.tm_hour = (int)h;
    tm.tm_min = (int)mi;
    tm.tm_sec = (int)se;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    t -= sign * (oh * 3600 + om * 60);
    *ms = (int64_t)t * 1000 + frac;
    return true;
}

/* Timestamp of the message at offset off of partition p (or the next one
 * that exists). MLC_RETRY when none arrives in time. */
static mlc_rc probe(rd_kafka_t *rk, const char *topic, int32_t p, int64_t off, int64_t *ts,
                    struct mlc_err *err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    int64_t deadline;

    mlc_rc rc = MLC_RETRY;
    rd_kafka_resp_err_t e;

    rd_kafka_topic_partition_list_add(l, topic, p)->offset = off;
    e = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return mlc_err_set(err, MLC_RETRY, "kafka assign %s[%d]@%lld: %s", topic, (int)p,
                           (long long)off, rd_kafka_err2str(e));
    deadline = mlc_monotonic_ms() + PROBE_TIMEOUT_MS;
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        rd_kafka_timestamp_type_t tt;

        if (m) {
            bool ours = !m->err && m->partition == p && m->offset >= off;

            if (ours)
                *ts = rd_kafka_message_timestamp(m, &tt);
            rd_kafka_message_destroy(m);
            if (ours) {
                rc = MLC_OK;
                break;
            }
        }
        if (mlc_monotonic_ms() > deadline) {
            mlc_err_set(err, MLC_RETRY, "kafka: no message at %s[%d]@%lld within %d ms", topic,
                        (int)p, (long long)off, PROBE_TIMEOUT_MS);
            break;
        }
    }
    rd_kafka_assign(rk, NULL);
    return rc;
}

/* First offset in [lo, hi) whose timestamp is >= ts, or hi. */
static mlc_rc bsearch_time(rd_kafka_t *rk, const char *topic, int32_t p, int64_t lo, int64_t hi,
                           int64_t ts, int64_t *out, int *probes, struct mlc_err *err)
{
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, t = 0;
        mlc_rc rc = probe(rk, topic, p, mid, &t, err);

        if (rc != MLC_OK)
            return rc;
        (*probes)++;
        if (t >= ts)
            hi = mid;
        else
            lo = mid + 1;
    }
    *out = lo;
    return MLC_OK;
}

static mlc_rc by_time(const struct mlc_config *cfg, const char *topic, int64_t ts,
                      rd_kafka_topic_partition_list_t **out, struct mlc_err *err)
{
    struct mlc_kafka_consumer *c = NULL;
    rd_kafka_topic_partition_list_t *l = NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = NULL;
    rd_kafka_t *rk;
    rd_kafka_resp_err_t e;
    mlc_rc rc;

    *out = NULL;
    if ((rc = mlc_kafka_consumer_new(cfg, NULL, 0, NULL, NULL, &c, err)) != MLC_OK)
        return rc;
    rk = mlc_kafka_consumer_handle(c);
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        rc = mlc_err_set(err, MLC_RETRY, "kafka: metadata of %s: %s", topic,
                         rd_kafka_err2str(e               ? e
                                          : md->topic_cnt ? md->topics[0].err
                                                          : e));
        goto out;
    }
    l = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id)->offset = ts;
    e = rd_kafka_offsets_for_times(rk, l, 10000);
    if (e)
        mlc_info("kafka: offsets for times not answered (%s): searching message timestamps",
                 rd_kafka_err2str(e));
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &l->elems[i];
        int64_t low = 0, high = 0, found = 0, last_ts = 0;
        int probes = 0;

        if (rd_kafka_query_watermark_offsets(rk, topic, tp->partition, &low, &high, 10000)) {
            rc = mlc_err_set(err, MLC_RETRY, "kafka: watermarks of %s[%d]", topic,
                             (int)tp->partition);
            goto out;
        }
        if (!e && !tp->err && tp->offset >= 0) {
            mlc_info("kafka: %s[%d]: the broker's offset for the time is %lld", topic,
                     (int)tp->partition, (long long)tp->offset);
            continue;
        }
        if (low >= high) {
            tp->offset = high;
            tp->err = RD_KAFKA_RESP_ERR_NO_ERROR;
            continue;
        }
        /* -1 (END) means "every message is older" on a real broker, and
         * "cannot tell" on the mock: the newest message's time says which */
        if ((rc = probe(rk, topic, tp->partition, high - 1, &last_ts, err)) != MLC_OK)
            goto out;
        if (last_ts < ts) {
            tp->offset = high;
            mlc_info("kafka: %s[%d]: every message is older than the time: end offset %lld", topic,
                     (int)tp->partition, (long long)high);
        } else {
            mlc_info("kafka: %s[%d]: the broker cannot look offsets up by time: searching "
                     "message timestamps",
                     topic, (int)tp->partition);
            if ((rc = bsearch_time(rk, topic, tp->partition, low, high - 1, ts, &found, &probes,
                                   err)) != MLC_OK)
                goto out;
            tp->offset = found;
            mlc_info("kafka: %s[%d]: first offset at or after the time is %lld (%d probes)", topic,
                     (int)tp->partition, (long long)tp->offset, probes + 1);
        }
        tp->err = RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    *out = l;
    l = NULL;
    rc = MLC_OK;
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    mlc_kafka_consumer_close(c);
    return rc;
}

mlc_rc ld_offsets_reset(const struct mlc_config *cfg, const char *topic, const char *spec,
                        FILE *out, struct mlc_err *err)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    int64_t ts = 0;
    mlc_rc rc;

    if (!strcmp(spec, "earliest")) {
        rc = mlc_kafka_reset_offsets(cfg, topic, MLC_KAFKA_RESET_EARLIEST, 0, NULL, 60000, err);
    } else if (!strcmp(spec, "latest")) {
        rc = mlc_kafka_reset_offsets(cfg, topic, MLC_KAFKA_RESET_LATEST, 0, NULL, 60000, err);
    } else if (ld_parse_time(spec, &ts)) {
        if ((rc = by_time(cfg, topic, ts, &l, err)) != MLC_OK)
            return rc;
        rc = mlc_kafka_reset_offsets(cfg, topic, MLC_KAFKA_RESET_EXPLICIT, 0, l, 60000, err);
        if (rc == MLC_OK && out)
            for (int i = 0; i < l->cnt; i++)
                fprintf(out, "reset %s[%d] to offset %lld\n", topic, (int)l->elems[i].partition,
                        (long long)l->elems[i].offset);
        rd_kafka_topic_partition_list_destroy(l);
        l = NULL;
    } else {
        return mlc_err_set(err, MLC_FATAL,
                           "--reset-offsets: expected earliest, latest or an ISO 8601 time "
                           "(2026-11-28T07:40:00Z), got \"%s\"",
                           spec);
    }
    if (rc == MLC_OK) {
        mlc_info("group %s: offsets of %s reset to %s", mlc_cfg_str(cfg, MLC_CFG_KAFKA_GROUP),
                 topic, spec);
        if (out && (!strcmp(spec, "earliest") || !strcmp(spec, "latest")))
            fprintf(out, "reset %s to %s\n", topic, spec);
    }
    return rc;
}
