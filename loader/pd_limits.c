/* pd_limits.c - Pipedrive pacing and budget tracking; see pd_limits.h. */
#include "pd_limits.h"

#include "mlc_alloc.h"
#include "mlc_str.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    int cost;
    bool search;
} op_table[PD_OP__COUNT] = {
    [PD_OP_LIST_ORGS] = {"list organizations", 10, false},
    [PD_OP_GET_ORG] = {"get organization", 1, false},
    [PD_OP_CREATE_ORG] = {"create organization", 5, false},
    [PD_OP_PATCH_ORG] = {"update organization", 5, false},
    [PD_OP_SEARCH_ORGS] = {"search organizations", 20, true},
    [PD_OP_ITEM_SEARCH_FIELD] = {"search by field", 20, true},
    [PD_OP_LIST_ORG_FIELDS] = {"list organization fields", 10, false},
    [PD_OP_CREATE_ORG_FIELD] = {"create organization field", 5, false},
    [PD_OP_USERS_ME] = {"get current user", 2, false},
};

int pd_op_cost(enum pd_op op)
{
    return (unsigned)op < PD_OP__COUNT ? op_table[op].cost : 0;
}

bool pd_op_is_search(enum pd_op op)
{
    return (unsigned)op < PD_OP__COUNT && op_table[op].search;
}

const char *pd_op_name(enum pd_op op)
{
    return (unsigned)op < PD_OP__COUNT ? op_table[op].name : "unknown";
}

static const struct {
    const char *name;
    int burst;
} plans[] = {
    [PD_PLAN_LITE] = {"lite", 20},
    [PD_PLAN_GROWTH] = {"growth", 40},
    [PD_PLAN_PREMIUM] = {"premium", 100},
    [PD_PLAN_ULTIMATE] = {"ultimate", 120},
};

bool pd_plan_parse(const char *s, enum pd_plan *out)
{
    for (size_t i = 0; s && i < ARRAY_SIZE(plans); i++) {
        if (strcasecmp(s, plans[i].name) == 0) {
            *out = (enum pd_plan)i;
            return true;
        }
    }
    return false;
}

int pd_plan_burst(enum pd_plan plan)
{
    return (unsigned)plan <= PD_PLAN_ULTIMATE ? plans[plan].burst : 20;
}

void pd_limits_cfg_defaults(struct pd_limits_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->plan = PD_PLAN_GROWTH;
    cfg->reserve_pct = 20;
    cfg->margin = -1;
    cfg->seed = 1;
}

void pd_resp_info_init(struct pd_resp_info *r, int status)
{
    memset(r, 0, sizeof(*r));
    r->status = status;
}

static bool parse_num(const char *v, long *out)
{
    char tmp[32];

    if (!v)
        return false;
    /* Retry-After may carry fractions on some proxies: keep the integer part */
    size_t n = strcspn(v, ".");
    if (n >= sizeof(tmp))
        return false;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    return mlc_parse_long(tmp, -1000000000L, 2000000000L, out);
}

void pd_resp_info_header(struct pd_resp_info *r, const char *name, const char *value)
{
    long v;

    if (!name || !value)
        return;
    if (strcasecmp(name, "content-type") == 0) {
        while (*value == ' ')
            value++;
        if (strncasecmp(value, "text/html", 9) == 0)
            r->html = true;
        return;
    }
    if (!parse_num(value, &v))
        return;
    if (strcasecmp(name, "x-ratelimit-limit") == 0) {
        r->has_limit = true;
        r->limit = v;
    } else if (strcasecmp(name, "x-ratelimit-remaining") == 0) {
        r->has_remaining = true;
        r->remaining = v;
    } else if (strcasecmp(name, "x-ratelimit-reset") == 0) {
        r->has_reset = true;
        r->reset_s = v;
    } else if (strcasecmp(name, "x-daily-ratelimit-token-limit") == 0) {
        r->has_daily_limit = true;
        r->daily_limit = v;
    } else if (strcasecmp(name, "x-daily-ratelimit-token-remaining") == 0) {
        r->has_daily_remaining = true;
        r->daily_remaining = v;
    } else if (strcasecmp(name, "retry-after") == 0) {
        r->has_retry_after = true;
        r->retry_after_s = v;
    }
}

void pd_resp_info_body(struct pd_resp_info *r, const char *body, size_t len)
{
    size_t i = 0;
    static const char needle[] = "daily request budget";

    if (!body)
        return;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i < len && body[i] == '<')
        r->html = true;
    /* bounded search: the body is not NUL-terminated necessarily */
    for (size_t k = 0; len >= sizeof(needle) - 1 && k + sizeof(needle) - 1 <= len; k++) {
        if (strncasecmp(body + k, needle, sizeof(needle) - 1) == 0) {
            r->daily_text = true;
            break;
        }
    }
}

enum pd_429_kind pd_limits_classify_429(const struct pd_resp_info *r)
{
    if (r->has_daily_remaining && r->daily_remaining <= 0)
        return PD_429_DAILY;
    if (r->daily_text)
        return PD_429_DAILY;
    if (r->has_retry_after && r->retry_after_s > 10)
        return PD_429_DAILY;
    return PD_429_BURST;
}

static uint32_t rng_next(struct pd_limits *l)
{
    uint32_t x = l->rng ? l->rng : 0x9e3779b9u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    l->rng = x;
    return x;
}

#define DAY_MS (86400LL * 1000)

static int64_t next_reset_after(const struct pd_limits *l, int64_t now_ms)
{
    int64_t off = (int64_t)l->cfg.reset_utc_minute * 60 * 1000;
    int64_t day_start = ((now_ms - off) / DAY_MS) * DAY_MS + off;

    if (now_ms - off < 0)
        day_start -= DAY_MS;
    return day_start + DAY_MS;
}

void pd_limits_init(struct pd_limits *l, const struct pd_limits_cfg *cfg, int64_t now_ms)
{
    memset(l, 0, sizeof(*l));
    l->cfg = *cfg;
    if (l->cfg.window_ms <= 0)
        l->cfg.window_ms = 2000;
    if (l->cfg.search_limit <= 0)
        l->cfg.search_limit = 10;
    if (l->cfg.jitter_ms <= 0)
        l->cfg.jitter_ms = 500;
    if (l->cfg.reset_utc_minute < 0 || l->cfg.reset_utc_minute >= 1440)
        l->cfg.reset_utc_minute = 0;
    if (l->cfg.reserve_pct < 0)
        l->cfg.reserve_pct = 0;
    l->burst_limit = pd_plan_burst(l->cfg.plan);
    l->window_ms = l->cfg.window_ms;
    l->rng = cfg->seed ? cfg->seed : 1;
    l->daily_limit = cfg->daily_budget > 0 ? cfg->daily_budget : 0;
    l->day_reset_at_ms = next_reset_after(l, now_ms);
}

static int margin_for(const struct pd_limits *l, int limit)
{
    if (l->cfg.margin >= 0)
        return l->cfg.margin;
    return limit / 40 > 1 ? limit / 40 : 1;
}

int pd_limits_effective(const struct pd_limits *l)
{
    int eff = l->burst_limit - margin_for(l, l->burst_limit);

    if (eff > PD_LIMITS_MAX_WINDOW_SENDS)
        eff = PD_LIMITS_MAX_WINDOW_SENDS;
    return eff < 1 ? 1 : eff;
}

static int search_effective(const struct pd_limits *l)
{
    int eff = l->cfg.search_limit - margin_for(l, l->cfg.search_limit);
    int cap = (int)ARRAY_SIZE(l->search_sends);

    if (eff > cap)
        eff = cap;
    return eff < 1 ? 1 : eff;
}

/* Drops ring entries that left the window. */
static void ring_expire(int64_t *ring, size_t cap, size_t *n, size_t *head, int64_t now_ms,
                        int window_ms)
{
    while (*n > 0) {
        size_t oldest = (*head + cap - *n) % cap;
        if (ring[oldest] > now_ms - window_ms)
            break;
        (*n)--;
    }
}

/* The k-th oldest (0-based) of the n sends kept in the ring. */
static int64_t ring_nth_oldest(const int64_t *ring, size_t cap, size_t n, size_t head, size_t k)
{
    return ring[(head + cap - n + k) % cap];
}

static void ring_push(int64_t *ring, size_t cap, size_t *n, size_t *head, int64_t t)
{
    ring[*head] = t;
    *head = (*head + 1) % cap;
    if (*n < cap)
        (*n)++;
}

/* Added to our own window when it shortens a wait the server's whole-second
 * x-ratelimit-reset would impose (network jitter between our clock and the
 * server's). */
#define HDR_SLACK_MS 25

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

long pd_limits_daily_remaining(const struct pd_limits *l)
{
    if (l->daily_from_hdr)
        return l->daily_remaining_hdr - l->spent_since_hdr;
    if (l->daily_limit > 0)
        return l->daily_limit - l->spent_today;
    return -1;
}

static void new_day(struct pd_limits *l, int64_t now_ms)
{
    l->spent_today = 0;
    l->daily_paused = false;
    l->paused_by_429 = false;
    if (l->daily_from_hdr) {
        /* assume the budget refilled; the next response corrects it */
        l->daily_remaining_hdr = l->daily_limit;
        l->spent_since_hdr = 0;
    }
    l->day_reset_at_ms = next_reset_after(l, now_ms);
}

bool pd_limits_should_pause(struct pd_limits *l, int64_t now_ms, int64_t *resume_at_ms)
{
    if (l->blocked) {
        if (resume_at_ms)
            *resume_at_ms = -1;
        return true;
    }
    if (l->daily_paused) {
        if (now_ms < l->resume_at_ms) {
            if (resume_at_ms)
                *resume_at_ms = l->resume_at_ms;
            return true;
        }
        new_day(l, now_ms);
    } else if (now_ms >= l->day_reset_at_ms) {
        new_day(l, now_ms);
    }
    long rem = pd_limits_daily_remaining(l);
    if (rem >= 0 && l->daily_limit > 0 &&
        (long long)rem * 100 < (long long)l->daily_limit * l->cfg.reserve_pct) {
        l->daily_paused = true;
        l->paused_by_429 = false;
        l->resume_at_ms = l->day_reset_at_ms;
        if (resume_at_ms)
            *resume_at_ms = l->resume_at_ms;
        return true;
    }
    return false;
}

bool pd_limits_blocked(const struct pd_limits *l)
{
    return l->blocked;
}

int64_t pd_limits_next_send_delay(struct pd_limits *l, int64_t now_ms, enum pd_op op)
{
    int64_t at = now_ms, resume;
    const size_t cap = PD_LIMITS_MAX_WINDOW_SENDS;
    const size_t scap = ARRAY_SIZE(l->search_sends);

    if (l->blocked)
        return -1;
    if (pd_limits_should_pause(l, now_ms, &resume))
        return resume > now_ms ? resume - now_ms : 0;
    at = max64(at, l->hold_until_ms);

    /* local sliding window */
    ring_expire(l->sends, cap, &l->n_sends, &l->head, now_ms, l->window_ms);
    size_t eff = (size_t)pd_limits_effective(l);
    if (l->n_sends >= eff) {
        int64_t t = ring_nth_oldest(l->sends, cap, l->n_sends, l->head, l->n_sends - eff);
        at = max64(at, t + l->window_ms);
    }
    /* spread: at most one send per window/eff */
    if (l->any_send)
        at = max64(at, l->last_send_ms + l->window_ms / (int64_t)eff);

    /* the server said its window is used up (other clients of the token
     * count too): nothing before its reset */
    if (l->hdr_burst && l->hdr_remaining <= 0 && now_ms < l->hdr_reset_at_ms)
        at = max64(at, l->hdr_reset_at_ms);

    if (pd_op_is_search(op)) {
        ring_expire(l->search_sends, scap, &l->n_search, &l->search_head, now_ms, l->window_ms);
        size_t seff = (size_t)search_effective(l);
        if (l->n_search >= seff) {
            int64_t t = ring_nth_oldest(l->search_sends, scap, l->n_search, l->search_head,
                                        l->n_search - seff);
            at = max64(at, t + l->window_ms);
        }
        if (l->n_search > 0) {
            int64_t last = ring_nth_oldest(l->search_sends, scap, l->n_search, l->search_head,
                                           l->n_search - 1);
            at = max64(at, last + l->window_ms / (int64_t)seff);
        }
    }
    return at - now_ms;
}

void pd_limits_on_send(struct pd_limits *l, int64_t now_ms, enum pd_op op)
{
    const size_t scap = ARRAY_SIZE(l->search_sends);

    ring_push(l->sends, PD_LIMITS_MAX_WINDOW_SENDS, &l->n_sends, &l->head, now_ms);
    if (pd_op_is_search(op))
        ring_push(l->search_sends, scap, &l->n_search, &l->search_head, now_ms);
    l->last_send_ms = now_ms;
    l->any_send = true;
    l->spent_today += pd_op_cost(op);
    if (l->daily_from_hdr)
        l->spent_since_hdr += pd_op_cost(op);
}

struct pd_outcome pd_limits_on_response(struct pd_limits *l, int64_t now_ms,
                                        const struct pd_resp_info *r)
{
    struct pd_outcome o = {PD_V_OK, 0, 0};

    /* learn the burst limit and the server's view of its window */
    if (r->has_limit && r->limit > 0) {
        l->burst_limit =
            r->limit > PD_LIMITS_MAX_WINDOW_SENDS ? PD_LIMITS_MAX_WINDOW_SENDS : (int)r->limit;
        l->burst_learnt = true;
    }
    if (r->has_remaining && r->has_reset) {
        l->hdr_burst = true;
        l->hdr_remaining = r->remaining;
        l->hdr_reset_at_ms = now_ms + (int64_t)(r->reset_s > 0 ? r->reset_s : 0) * 1000;
        if (r->remaining <= 0 && r->status != 429) {
            /* x-ratelimit-reset has whole seconds, so it overstates the wait
             * by up to a second: when our own sends fill the window, the
             * oldest of them leaving it frees the next slot (a 429 caused by
             * other clients of the token is still honoured) */
            const size_t cap = PD_LIMITS_MAX_WINDOW_SENDS;

            ring_expire(l->sends, cap, &l->n_sends, &l->head, now_ms, l->window_ms);
            if (l->n_sends > 0) {
                int64_t free_at = ring_nth_oldest(l->sends, cap, l->n_sends, l->head, 0) +
                                  l->window_ms + HDR_SLACK_MS;

                if (free_at < l->hdr_reset_at_ms)
                    l->hdr_reset_at_ms = free_at;
            }
        }
        /* a reset clearly longer than the window means a longer window;
         * one second more is only the header's rounding up */
        if (r->status != 429 && r->reset_s * 1000 > l->window_ms + 1000 && r->reset_s <= 60)
            l->window_ms = (int)(r->reset_s * 1000);
    }
    if (r->has_daily_limit && r->daily_limit > 0) {
        l->daily_limit = r->daily_limit;
    }
    if (r->has_daily_remaining && l->daily_limit > 0) {
        l->daily_from_hdr = true;
        l->daily_remaining_hdr = r->daily_remaining;
        l->spent_since_hdr = 0;
    }

    if (r->status == 403 && r->html) {
        l->blocked = true;
        o.verdict = PD_V_BLOCKED;
        return o;
    }
    if (r->status != 429) {
        if (r->status >= 200 && r->status < 300) {
            l->consecutive_429 = 0;
            if (l->daily_paused &&
                !(l->paused_by_429 && r->has_daily_remaining && l->remaining_at_429 >= 0 &&
                  r->daily_remaining <= l->remaining_at_429))
                l->daily_paused = false;
        }
        return o;
    }
    if (pd_limits_classify_429(r) == PD_429_DAILY) {
        int64_t resume = r->has_retry_after && r->retry_after_s > 0
                             ? now_ms + (int64_t)r->retry_after_s * 1000
                             : next_reset_after(l, now_ms);
        l->daily_paused = true;
        l->paused_by_429 = true;
        l->remaining_at_429 = r->has_daily_remaining ? r->daily_remaining : -1;
        l->resume_at_ms = resume;
        o.verdict = PD_V_PAUSE;
        o.resume_at_ms = resume;
        return o;
    }
    /* burst: honour the larger of Retry-After and x-ratelimit-reset (2 s
     * when neither), doubled for each further 429 in a row up to a minute */
    int64_t base = 2000;
    if (r->has_retry_after && r->retry_after_s >= 0)
        base = (int64_t)r->retry_after_s * 1000;
    if (r->has_reset && r->reset_s * 1000 > base)
        base = (int64_t)r->reset_s * 1000;
    if (!r->has_retry_after && !r->has_reset)
        base = l->window_ms;
    for (int i = 0; i < l->consecutive_429 && base < 60000; i++)
        base *= 2;
    if (base > 60000)
        base = 60000;
    l->consecutive_429++;
    o.verdict = PD_V_RETRY;
    o.wait_ms = base + (int64_t)(rng_next(l) % (uint32_t)(l->cfg.jitter_ms + 1));
    l->hold_until_ms = max64(l->hold_until_ms, now_ms + o.wait_ms);
    return o;
}

bool pd_limits_daily_paused(const struct pd_limits *l)
{
    return l->daily_paused;
}

bool pd_limits_paused_by_429(const struct pd_limits *l)
{
    return l->paused_by_429;
}

long pd_limits_burst_remaining(const struct pd_limits *l)
{
    return l->hdr_burst ? l->hdr_remaining : -1;
}

int pd_limits_burst_limit(const struct pd_limits *l)
{
    return l->burst_limit;
}

int64_t pd_limits_hold_until(const struct pd_limits *l)
{
    return l->hold_until_ms;
}

size_t pd_limits_window_sends(const struct pd_limits *l)
{
    return l->n_sends;
}

long pd_limits_daily_limit(const struct pd_limits *l)
{
    return l->daily_limit;
}

int pd_limits_reserve_pct(const struct pd_limits *l)
{
    return l->cfg.reserve_pct;
}

int64_t pd_limits_last_send_ms(const struct pd_limits *l)
{
    return l->last_send_ms;
}
