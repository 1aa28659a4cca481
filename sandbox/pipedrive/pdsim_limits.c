/* pdsim_limits.c - rolling burst windows, search window, daily budget, 403 blocks. */
#include "pdsim_limits.h"
#include "mlc_alloc.h"

#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    int burst;
    int multiplier;
} plans[] = {
    [PDSIM_PLAN_LITE] = {"lite", 20, 1},
    [PDSIM_PLAN_GROWTH] = {"growth", 40, 2},
    [PDSIM_PLAN_PREMIUM] = {"premium", 100, 5},
    [PDSIM_PLAN_ULTIMATE] = {"ultimate", 120, 7},
};

bool pdsim_plan_parse(const char *s, enum pdsim_plan *out)
{
    for (size_t i = 0; s && i < ARRAY_SIZE(plans); i++) {
        if (strcasecmp(s, plans[i].name) == 0) {
            *out = (enum pdsim_plan)i;
            return true;
        }
    }
    return false;
}

const char *pdsim_plan_name(enum pdsim_plan plan)
{
    return plans[plan].name;
}

int pdsim_plan_burst(enum pdsim_plan plan)
{
    return plans[plan].burst;
}

long pdsim_plan_daily_budget(enum pdsim_plan plan, long seats)
{
    return 30000L * plans[plan].multiplier * seats;
}

void pdsim_limits_cfg_default(struct pdsim_limits_cfg *cfg, enum pdsim_plan plan, long seats)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->enabled = true;
    cfg->burst = pdsim_plan_burst(plan);
    cfg->search_burst = PDSIM_SEARCH_BURST;
    cfg->daily_budget = pdsim_plan_daily_budget(plan, seats);
    cfg->day_length_s = 86400;
    cfg->reset_offset_s = 0;
    cfg->block_after = 0;
    cfg->block_s = 60;
}

void pdsim_token_state_init(struct pdsim_token_state *st)
{
    memset(st, 0, sizeof(*st));
}

void pdsim_daily_init(struct pdsim_daily *d)
{
    memset(d, 0, sizeof(*d));
}

static long long floor_div(long long a, long long b)
{
    long long q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static long long day_index(const struct pdsim_limits_cfg *cfg, long long now_ms)
{
    long long len_ms = (cfg->day_length_s > 0 ? cfg->day_length_s : 86400) * 1000LL;
    return floor_div(now_ms - cfg->reset_offset_s * 1000LL, len_ms);
}

void pdsim_daily_sync(const struct pdsim_limits_cfg *cfg, struct pdsim_daily *d, long long now_ms)
{
    long long day = day_index(cfg, now_ms);

    if (!d->started || day > d->day) {
        d->day = day;
        d->spent = 0;
        d->started = true;
    }
}

void pdsim_daily_rollover(struct pdsim_daily *d)
{
    d->spent = 0;
}

long pdsim_daily_seconds_to_reset(const struct pdsim_limits_cfg *cfg, long long now_ms)
{
    long long len_ms = (cfg->day_length_s > 0 ? cfg->day_length_s : 86400) * 1000LL;
    long long next = (day_index(cfg, now_ms) + 1) * len_ms + cfg->reset_offset_s * 1000LL;
    long long s = (next - now_ms + 999) / 1000;
    return s < 1 ? 1 : (long)s;
}

/* Drops the timestamps that left the window; returns how many remain. */
static int window_expire(struct pdsim_window *w, long long now_ms)
{
    while (w->n > 0 && w->ts[w->head] <= now_ms - PDSIM_WINDOW_MS) {
        w->head = (w->head + 1) % PDSIM_MAX_BURST;
        w->n--;
    }
    return w->n;
}

static void window_push(struct pdsim_window *w, long long now_ms)
{
    if (w->n == PDSIM_MAX_BURST) { /* cannot happen with limits <= PDSIM_MAX_BURST */
        w->head = (w->head + 1) % PDSIM_MAX_BURST;
        w->n--;
    }
    w->ts[(w->head + w->n) % PDSIM_MAX_BURST] = now_ms;
    w->n++;
}

/* Seconds until the oldest request leaves the window (the window length when empty). */
static int window_reset_s(const struct pdsim_window *w, long long now_ms)
{
    if (w->n == 0)
        return (int)(PDSIM_WINDOW_MS / 1000);
    long long left = w->ts[w->head] + PDSIM_WINDOW_MS - now_ms;
    int s = (int)((left + 999) / 1000);
    return s < 1 ? 1 : s;
}

static int clamp_limit(int v)
{
    if (v < 1)
        return 1;
    return v > PDSIM_MAX_BURST ? PDSIM_MAX_BURST : v;
}

void pdsim_limits_check(const struct pdsim_limits_cfg *cfg, struct pdsim_token_state *st,
                        struct pdsim_daily *daily, bool search, long cost, long long now_ms,
                        struct pdsim_decision *out)
{
    int burst = clamp_limit(cfg->burst);
    int sburst = clamp_limit(cfg->search_burst);
    struct pdsim_window *w = search ? &st->search : &st->burst;
    int limit = search ? sburst : burst;
    int used_burst, used_search;

    memset(out, 0, sizeof(*out));
    pdsim_daily_sync(cfg, daily, now_ms);
    used_burst = window_expire(&st->burst, now_ms);
    used_search = window_expire(&st->search, now_ms);
    out->daily_limit = cfg->daily_budget;
    out->daily_remaining = cfg->daily_budget - daily->spent;
    if (out->daily_remaining < 0)
        out->daily_remaining = 0;
    out->limit = limit;

    if (cfg->enabled) {
        if (st->blocked_until_ms > now_ms) {
            out->verdict = PDSIM_BLOCKED_403;
            goto refused_quietly;
        }
        st->blocked_until_ms = 0;
        if (cfg->block_after > 0 && st->consecutive_429 >= cfg->block_after) {
            st->blocked_until_ms = now_ms + cfg->block_s * 1000LL;
            st->consecutive_429 = 0;
            out->verdict = PDSIM_BLOCKED_403;
            goto refused_quietly;
        }
        if (daily->spent + cost > cfg->daily_budget) {
            out->verdict = PDSIM_DAILY_429;
            out->retry_after_s = pdsim_daily_seconds_to_reset(cfg, now_ms);
            goto refused;
        }
        if (used_burst >= burst) {
            out->verdict = PDSIM_BURST_429;
            out->limit = burst;
            out->remaining = 0;
            out->reset_s = window_reset_s(&st->burst, now_ms);
            out->retry_after_s = out->reset_s;
            goto refused;
        }
        if (search && used_search >= sburst) {
            out->verdict = PDSIM_SEARCH_429;
            out->remaining = 0;
            out->reset_s = window_reset_s(&st->search, now_ms);
            out->retry_after_s = out->reset_s;
            goto refused;
        }
    }

    window_push(&st->burst, now_ms);
    if (search)
        window_push(&st->search, now_ms);
    st->consecutive_429 = 0;
    daily->spent += cost;
    out->verdict = PDSIM_ALLOW;
    out->charged = cost;
    out->remaining = limit - w->n;
    if (out->remaining < 0)
        out->remaining = 0;
    out->reset_s = window_reset_s(w, now_ms);
    out->daily_remaining = cfg->daily_budget - daily->spent;
    if (out->daily_remaining < 0)
        out->daily_remaining = 0;
    return;

refused:
    st->consecutive_429++;
    if (out->verdict == PDSIM_DAILY_429) {
        out->remaining = limit - w->n;
        if (out->remaining < 0)
            out->remaining = 0;
        out->reset_s = window_reset_s(w, now_ms);
    }
    return;
refused_quietly:
    out->remaining = 0;
    out->reset_s = window_reset_s(w, now_ms);
}
