/* pdsim_limits.h - Pipedrive's rate limits, as a pure module with an injected clock.
 *
 * Three limits apply to every authenticated request (reference §7):
 *   - a rolling 2-second burst window per token, sized by plan
 *     (Lite 20, Growth 40, Premium 100, Ultimate 120);
 *   - a separate rolling 2-second window of 10 for search endpoints;
 *   - a daily token budget per company (30,000 x plan multiplier x seats, or
 *     an explicit value), charged with each operation's x-token-cost and reset
 *     every day_length_s seconds at reset_offset_s past the epoch "midnight".
 * A token that keeps sending after block_after consecutive 429s is blocked
 * with a Cloudflare-style 403 for block_s seconds.
 *
 * Every function takes the current time in milliseconds (any monotonic or
 * wall clock; the caller chooses), so tests drive time by hand. Nothing here
 * allocates except pdsim_window_init; nothing locks (the caller serialises).
 */
#ifndef PDSIM_LIMITS_H
#define PDSIM_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

enum pdsim_plan { PDSIM_PLAN_LITE = 0, PDSIM_PLAN_GROWTH, PDSIM_PLAN_PREMIUM, PDSIM_PLAN_ULTIMATE };

/* "lite", "growth", "premium", "ultimate" (any case). */
bool pdsim_plan_parse(const char *s, enum pdsim_plan *out);
const char *pdsim_plan_name(enum pdsim_plan plan);
/* Burst requests per 2 s for an API token: 20/40/100/120. */
int pdsim_plan_burst(enum pdsim_plan plan);
/* 30,000 x the plan's multiplier (1/2/5/7) x seats. */
long pdsim_plan_daily_budget(enum pdsim_plan plan, long seats);

#define PDSIM_WINDOW_MS    2000L
#define PDSIM_SEARCH_BURST 10
#define PDSIM_MAX_BURST    1024

/* The timestamps of the requests accepted in the current rolling window. */
struct pdsim_window {
    long long ts[PDSIM_MAX_BURST]; /* ring, oldest at head */
    int head;
    int n;
};

struct pdsim_token_state {
    struct pdsim_window burst;
    struct pdsim_window search;
    long consecutive_429;       /* 429s answered since the last accepted request */
    long long blocked_until_ms; /* 403 until then; 0 when not blocked */
};

struct pdsim_daily {
    long spent;    /* tokens charged during `day` */
    long long day; /* index of the current day */
    bool started;  /* day is valid */
};

struct pdsim_limits_cfg {
    bool enabled;        /* false: never refuse (costs are still charged) */
    int burst;           /* requests per window per token */
    int search_burst;    /* search requests per window per token */
    long daily_budget;   /* tokens per day per company */
    long day_length_s;   /* 86400 in production-like runs */
    long reset_offset_s; /* the day starts at this offset from the epoch, mod day length */
    long block_after;    /* 0: never block; else 403 after this many 429s in a row */
    long block_s;        /* how long a block lasts */
};

enum pdsim_verdict {
    PDSIM_ALLOW = 0,
    PDSIM_BURST_429,
    PDSIM_SEARCH_429,
    PDSIM_DAILY_429,
    PDSIM_BLOCKED_403,
};

struct pdsim_decision {
    enum pdsim_verdict verdict;
    int limit;            /* x-ratelimit-limit (the search window's for searches) */
    int remaining;        /* x-ratelimit-remaining after this request */
    int reset_s;          /* x-ratelimit-reset: seconds until the window frees a slot */
    long daily_limit;     /* x-daily-ratelimit-token-limit */
    long daily_remaining; /* x-daily-ratelimit-token-remaining after this request */
    long retry_after_s;   /* Retry-After for 429s */
    long charged;         /* tokens charged (0 unless allowed) */
};

/* Fills cfg with the plan's burst, the search burst, the plan budget for
 * seats, a one-day length, midnight reset, no blocking. */
void pdsim_limits_cfg_default(struct pdsim_limits_cfg *cfg, enum pdsim_plan plan, long seats);

void pdsim_token_state_init(struct pdsim_token_state *st);
void pdsim_daily_init(struct pdsim_daily *d);

/* Rolls the daily state to the day containing now_ms (spent returns to 0
 * when the day changed). */
void pdsim_daily_sync(const struct pdsim_limits_cfg *cfg, struct pdsim_daily *d, long long now_ms);
/* Starts a new day now, whatever the clock says (control API). */
void pdsim_daily_rollover(struct pdsim_daily *d);
/* Seconds until the next scheduled reset (at least 1). */
long pdsim_daily_seconds_to_reset(const struct pdsim_limits_cfg *cfg, long long now_ms);

/* Decides one request of `cost` tokens (search: also subject to the search
 * window) and, when allowed, records it and charges the cost. The order is:
 * blocked (403) -> escalation to a block -> daily budget -> burst -> search. */
void pdsim_limits_check(const struct pdsim_limits_cfg *cfg, struct pdsim_token_state *st,
                        struct pdsim_daily *daily, bool search, long cost, long long now_ms,
                        struct pdsim_decision *out);

#endif
