/* fuzz_pd_response.c - libFuzzer target for what the loader reads from
 * Pipedrive answers, through the loader's public headers only:
 *   - rate-limit headers and bodies: pd_resp_info_header/_body and the pacer
 *     fed with them (loader/pd_limits.h);
 *   - organization field lists: pd_mapping_resolve of the default mapping
 *     (loader/pd_mapping.h).
 * Organization list pages and error bodies have their own target,
 * fuzz_pd_page.c.
 *
 * Input: byte 0 bit 0 picks the part.
 *
 * Bit 0 clear, a script of lines driving one pd_limits (plan from byte 0
 * bits 1-2, reserve 20 %, daily budget 1000 when bit 3 is set):
 *   "+N"            the clock advances N ms (N < 10^8);
 *   "S N"           op N % PD_OP__COUNT is sent when the pacer allows it;
 *   "R N"           an answer with status N begins;
 *   "Name: value"   one of its headers;
 *   "B text"        its body;
 *   "."             it ends: pd_limits_on_response.
 * Properties: a header a number is parsed from (plain decimal, within
 * +-10^9) is recorded with that value; the 429 classification follows its
 * rule; the verdict follows the status (BLOCKED only for a 403 HTML answer,
 * PAUSE/RETRY only for a 429 of that kind, OK otherwise), a RETRY waits
 * 1 ms..60 s plus jitter, a PAUSE resumes later than now, at most a day
 * past Retry-After; the effective limit is at least 1; a send delay is >= 0,
 * -1 exactly when blocked; a pause resumes in the future.
 *
 * Bit 0 set: the rest is the organizationFields answer (or its data array).
 * Properties: MLC_OK or MLC_FATAL with a message; on MLC_OK the report's
 * counts agree with what is resolved (pd_mapping_resolved exactly when
 * nothing is missing), every resolved field has a key, a field not found
 * has none, every key is the 40-character field_code the header promises,
 * and only a resolved field may need an options body.
 */
#include "fuzz_common.h"

#include "mlc_alloc.h"
#include "pd_limits.h"
#include "pd_mapping.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <strings.h>

#define T0 1795851612000LL /* 2026-11-27, an ordinary day */

static const char *const num_headers[] = {
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-daily-ratelimit-token-limit",
    "x-daily-ratelimit-token-remaining",
    "retry-after",
};

/* The header's value as the doc promises to read it: a plain decimal. */
static bool plain_decimal(const char *v, long *out)
{
    const char *p = v;
    long n = 0;
    int digits = 0;
    bool neg = false;

    while (*p == ' ')
        p++;
    if (*p == '-') {
        neg = true;
        p++;
    }
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (digits == 9)
            return false;
        n = n * 10 + (*p - '0');
    }
    if (!digits || *p)
        return false;
    *out = neg ? -n : n;
    return true;
}

static void check_header(const struct pd_resp_info *r, const char *name, const char *value)
{
    const long *got[] = {&r->limit,       &r->remaining,       &r->reset_s,
                         &r->daily_limit, &r->daily_remaining, &r->retry_after_s};
    const bool *has[] = {&r->has_limit,       &r->has_remaining,       &r->has_reset,
                         &r->has_daily_limit, &r->has_daily_remaining, &r->has_retry_after};
    long v;

    if (!plain_decimal(value, &v) || value[0] == ' ')
        return;
    for (size_t i = 0; i < ARRAY_SIZE(num_headers); i++)
        if (strcasecmp(name, num_headers[i]) == 0)
            FUZZ_CHECK(*has[i] && *got[i] == v, "%s: %s read as %ld", name, value, *got[i]);
}

static void check_outcome(struct pd_limits *l, const struct pd_resp_info *r, struct pd_outcome o,
                          int64_t now, int jitter)
{
    enum pd_429_kind kind = pd_limits_classify_429(r);
    bool daily = (r->has_daily_remaining && r->daily_remaining <= 0) || r->daily_text ||
                 (r->has_retry_after && r->retry_after_s > 10);

    FUZZ_CHECK((kind == PD_429_DAILY) == daily, "429 classified %d", (int)kind);
    if (r->status == 403 && r->html) {
        FUZZ_CHECK(o.verdict == PD_V_BLOCKED && pd_limits_blocked(l), "403 html not blocked");
        return;
    }
    if (r->status != 429) {
        FUZZ_CHECK(o.verdict == PD_V_OK, "status %d gave verdict %d", r->status, (int)o.verdict);
        return;
    }
    if (daily) {
        FUZZ_CHECK(o.verdict == PD_V_PAUSE, "daily 429 gave verdict %d", (int)o.verdict);
        FUZZ_CHECK(o.resume_at_ms > now, "pause resumes at %lld, now %lld",
                   (long long)o.resume_at_ms, (long long)now);
        FUZZ_CHECK(o.resume_at_ms <= now + 86400000LL ||
                       (r->has_retry_after && o.resume_at_ms == now + r->retry_after_s * 1000LL),
                   "pause of %lld ms", (long long)(o.resume_at_ms - now));
    } else {
        FUZZ_CHECK(o.verdict == PD_V_RETRY, "burst 429 gave verdict %d", (int)o.verdict);
        FUZZ_CHECK(o.wait_ms >= 0 && o.wait_ms <= 60000 + jitter, "retry after %lld ms",
                   (long long)o.wait_ms);
    }
}

static void run_limits(unsigned opts, const char *s)
{
    struct pd_limits_cfg cfg;
    struct pd_limits *l = malloc(sizeof(*l));
    struct pd_resp_info r;
    struct pd_outcome o;
    bool in_resp = false;
    int64_t now = T0, d, resume;
    char line[512], *sep;
    long n;

    FUZZ_CHECK(l, "malloc");
    pd_limits_cfg_defaults(&cfg);
    cfg.plan = (enum pd_plan)((opts >> 1) & 3);
    cfg.daily_budget = opts & 8 ? 1000 : 0;
    cfg.seed = 7;
    pd_limits_init(l, &cfg, now);
    pd_resp_info_init(&r, 200);
    while (*s) {
        size_t len = strcspn(s, "\n");
        size_t cp = len < sizeof(line) - 1 ? len : sizeof(line) - 1;

        memcpy(line, s, cp);
        line[cp] = '\0';
        s += len + (s[len] == '\n');
        if (line[0] == '+' && plain_decimal(line + 1, &n) && n >= 0 && n < 100000000) {
            now += n;
        } else if (line[0] == 'S' && line[1] == ' ' && plain_decimal(line + 2, &n)) {
            enum pd_op op = (enum pd_op)((n < 0 ? -n : n) % PD_OP__COUNT);

            d = pd_limits_next_send_delay(l, now, op);
            FUZZ_CHECK(d >= 0 || (d == -1 && pd_limits_blocked(l)), "send delay %lld",
                       (long long)d);
            if (d == 0)
                pd_limits_on_send(l, now, op);
        } else if (line[0] == 'R' && line[1] == ' ' && plain_decimal(line + 2, &n)) {
            pd_resp_info_init(&r, (int)(n % 1000));
            in_resp = true;
        } else if (in_resp && line[0] == 'B' && line[1] == ' ') {
            pd_resp_info_body(&r, line + 2, strlen(line + 2));
        } else if (in_resp && line[0] == '.' && !line[1]) {
            o = pd_limits_on_response(l, now, &r);
            snprintf(line, sizeof(line), "status %d: wait %lld ms, resume at +%lld ms", r.status,
                     (long long)o.wait_ms, (long long)(o.resume_at_ms ? o.resume_at_ms - now : 0));
            fuzz_report("verdict", (int)o.verdict, line);
            check_outcome(l, &r, o, now, cfg.jitter_ms > 0 ? cfg.jitter_ms : 500);
            in_resp = false;
        } else if (in_resp && (sep = strchr(line, ':')) != NULL) {
            *sep = '\0';
            pd_resp_info_header(&r, line, sep[1] == ' ' ? sep + 2 : sep + 1);
            check_header(&r, line, sep[1] == ' ' ? sep + 2 : sep + 1);
        }
        FUZZ_CHECK(pd_limits_effective(l) >= 1, "effective limit %d", pd_limits_effective(l));
        if (pd_limits_should_pause(l, now, &resume))
            FUZZ_CHECK(resume > now || (resume == -1 && pd_limits_blocked(l)),
                       "pause resumes at %lld, now %lld", (long long)resume, (long long)now);
    }
    free(l);
}

static void run_fields(const char *json, size_t len)
{
    struct pd_mapping *m = NULL;
    struct pd_resolve_report rep;
    struct mlc_err err = {0};
    size_t missing = 0;
    cJSON *fields;
    mlc_rc rc;

    fields = cJSON_ParseWithLength(json, len);
    if (!fields)
        return;
    FUZZ_CHECK(pd_mapping_default(&m, &err) == MLC_OK, "default mapping: %s", err.msg);
    rc = pd_mapping_resolve(m, fields, &rep, &err);
    fuzz_report("resolve", rc, err.msg);
    if (rc != MLC_OK) {
        FUZZ_CHECK(rc == MLC_FATAL && err.msg[0], "resolve rc %d: %s", (int)rc, err.msg);
    } else {
        for (size_t i = 0; i < pd_mapping_custom_count(m); i++) {
            const char *key = pd_mapping_custom_key(m, i);
            cJSON *body = pd_mapping_missing_options_body(m, i);

            if (pd_mapping_field_resolved(m, i)) {
                FUZZ_CHECK(key && strlen(key) == 40, "field %zu resolved with key %s", i, key);
            } else {
                missing++;
                FUZZ_CHECK(!key, "field %zu not found but keyed %s", i, key);
                FUZZ_CHECK(!body, "options body for a field not found");
            }
            cJSON_Delete(body);
        }
        FUZZ_CHECK(missing == rep.missing_fields, "report says %zu missing, %zu are",
                   rep.missing_fields, missing);
        FUZZ_CHECK(pd_mapping_resolved(m) == (rep.missing_fields == 0 && rep.missing_options == 0),
                   "resolved() disagrees with the report: %s", rep.text);
    }
    pd_mapping_free(m);
    cJSON_Delete(fields);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;

    if (size < 1)
        return 0;
    if (data[0] & 1) {
        run_fields((const char *)data + 1, size - 1);
        return 0;
    }
    s = malloc(size);
    FUZZ_CHECK(s, "malloc");
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    run_limits(data[0], s);
    free(s);
    return 0;
}
