/* pd_limits.h - client-side pacing and token budget for Pipedrive (pure logic).
 *
 * Nothing here sleeps, reads a clock or does I/O: the caller passes the time
 * (now_ms, milliseconds since the Unix epoch, CLOCK_REALTIME; the daily reset
 * time is computed from it) and feeds back what it sent and what came back.
 * One struct pd_limits per API token; not thread-safe (the caller serialises).
 *
 * Pacing (burst limit, reference pipedrive-api.md §7): Pipedrive counts
 * requests per token in a rolling window (2 s). The pacer keeps the send
 * times of the last window and allows a send only when fewer than
 * (limit - margin) went out in it, and never sooner than window/(limit -
 * margin) after the previous send, so requests are spread over the window
 * rather than sent in bursts. The limit is the plan's until a response
 * carries x-ratelimit-limit; x-ratelimit-remaining/-reset then also cap what
 * is sent until the server's window resets. Search operations also pass a
 * separate 10-per-2-s bucket (every plan).
 *
 * Daily budget: taken from x-daily-ratelimit-token-limit/-remaining when a
 * response carries them (the sends charged since then are subtracted);
 * otherwise estimated as cfg.daily_budget minus the costs charged since the
 * last reset (unknown when daily_budget is 0: no pause by estimate). When the
 * remaining budget falls below reserve_pct % of the limit, or after a daily
 * 429, pd_limits_should_pause() says so and until when: Retry-After of the
 * daily 429, else the next configured reset time (reset_utc_minute).
 *
 * Ownership: all structs are plain values; nothing is allocated.
 */
#ifndef PD_LIMITS_H
#define PD_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The operations the loader uses; costs are the x-token-cost of the specs. */
enum pd_op {
    PD_OP_LIST_ORGS = 0,     /* GET  /api/v2/organizations            10 */
    PD_OP_GET_ORG,           /* GET  /api/v2/organizations/{id}        1 */
    PD_OP_CREATE_ORG,        /* POST /api/v2/organizations             5 */
    PD_OP_PATCH_ORG,         /* PATCH /api/v2/organizations/{id}       5 */
    PD_OP_SEARCH_ORGS,       /* GET  /api/v2/organizations/search     20 (search) */
    PD_OP_ITEM_SEARCH_FIELD, /* GET  /api/v2/itemSearch/field         20 (search) */
    PD_OP_LIST_ORG_FIELDS,   /* GET  /api/v2/organizationFields       10 */
    PD_OP_CREATE_ORG_FIELD,  /* POST /api/v2/organizationFields        5 */
    PD_OP_USERS_ME,          /* GET  /v1/users/me                      2 */
    PD_OP__COUNT
};

int pd_op_cost(enum pd_op op);
bool pd_op_is_search(enum pd_op op);
const char *pd_op_name(enum pd_op op);

enum pd_plan { PD_PLAN_LITE = 0, PD_PLAN_GROWTH, PD_PLAN_PREMIUM, PD_PLAN_ULTIMATE };

/* "lite|growth|premium|ultimate" (MLC_PIPEDRIVE_PLAN); false when unknown. */
bool pd_plan_parse(const char *s, enum pd_plan *out);
/* API-token burst limit per 2 s: 20, 40, 100, 120. */
int pd_plan_burst(enum pd_plan plan);

#define PD_LIMITS_MAX_WINDOW_SENDS 1024 /* ring size; limits above are clamped */

struct pd_limits_cfg {
    enum pd_plan plan;
    long daily_budget;    /* MLC_PIPEDRIVE_DAILY_BUDGET; 0 = unknown */
    int reserve_pct;      /* MLC_PIPEDRIVE_RESERVE_PCT, 0..95 */
    int margin;           /* requests kept back per window; <0 = default max(1, limit/40) */
    int search_limit;     /* search requests per window; 0 = 10 */
    int window_ms;        /* 0 = 2000 */
    int reset_utc_minute; /* minute of the UTC day the daily budget resets [I]; default 0 */
    int jitter_ms;        /* upper bound of the random jitter added to 429 waits; 0 = 500 */
    uint32_t seed;        /* jitter PRNG seed (tests fix it) */
};

/* Fills cfg with the defaults (growth, no budget, 20 %, default margin). */
void pd_limits_cfg_defaults(struct pd_limits_cfg *cfg);

/* What a response said; fill with pd_resp_info_header() per header line. */
struct pd_resp_info {
    int status;
    bool has_limit, has_remaining, has_reset, has_daily_limit, has_daily_remaining, has_retry_after;
    long limit, remaining, reset_s, daily_limit, daily_remaining, retry_after_s;
    bool html;       /* content-type text/html, or the body starts with '<' */
    bool daily_text; /* body mentions "daily request budget" */
};

void pd_resp_info_init(struct pd_resp_info *r, int status);
/* Records one header (name case-insensitive, value as received; unknown or
 * unparsable headers are ignored). */
void pd_resp_info_header(struct pd_resp_info *r, const char *name, const char *value);
/* Looks at the first bytes of the body (may be NULL). */
void pd_resp_info_body(struct pd_resp_info *r, const char *body, size_t len);

enum pd_429_kind { PD_429_BURST = 0, PD_429_DAILY };
/* Reference §7 "Telling them apart" [I]: daily when daily remaining <= 0,
 * Retry-After > 10 s, or the "daily request budget" text; else burst. */
enum pd_429_kind pd_limits_classify_429(const struct pd_resp_info *r);

enum pd_verdict {
    PD_V_OK = 0,  /* not a limit response */
    PD_V_RETRY,   /* burst 429: retry the same request after wait_ms */
    PD_V_PAUSE,   /* daily 429: pause consumption until resume_at_ms */
    PD_V_BLOCKED, /* 403 HTML (Cloudflare): stop sending altogether */
};

struct pd_outcome {
    enum pd_verdict verdict;
    int64_t wait_ms;      /* PD_V_RETRY */
    int64_t resume_at_ms; /* PD_V_PAUSE */
};

struct pd_limits {
    struct pd_limits_cfg cfg;
    int burst_limit; /* plan's, or learnt from x-ratelimit-limit */
    bool burst_learnt;
    int window_ms;
    int64_t sends[PD_LIMITS_MAX_WINDOW_SENDS]; /* ring of send times */
    size_t n_sends, head;
    int64_t search_sends[64];
    size_t n_search, search_head;
    int64_t last_send_ms;
    bool any_send;
    /* server view of the burst window */
    bool hdr_burst;
    long hdr_remaining;
    int64_t hdr_reset_at_ms;
    int64_t hold_until_ms; /* after a burst 429 */
    int consecutive_429;
    /* daily budget */
    bool daily_from_hdr;
    long daily_limit, daily_remaining_hdr, spent_since_hdr, spent_today;
    int64_t day_reset_at_ms; /* next reset on the configured clock */
    bool daily_paused;
    int64_t resume_at_ms;
    bool paused_by_429;    /* the pause came from a daily 429, not the reserve */
    long remaining_at_429; /* x-daily-ratelimit-token-remaining of that 429; -1 unknown */
    bool blocked;
    uint32_t rng;
};

void pd_limits_init(struct pd_limits *l, const struct pd_limits_cfg *cfg, int64_t now_ms);

/* Effective requests allowed per window (limit - margin, at least 1). */
int pd_limits_effective(const struct pd_limits *l);

/* Milliseconds to wait before sending op (0: send now). Includes a pause
 * (until the resume time) and a hold after a burst 429. -1 when blocked. */
int64_t pd_limits_next_send_delay(struct pd_limits *l, int64_t now_ms, enum pd_op op);

/* Records that op was sent at now_ms and charges its cost to the budget. */
void pd_limits_on_send(struct pd_limits *l, int64_t now_ms, enum pd_op op);

/* Learns from a response (any status) and says what to do. A 2xx answer
 * (a budget probe) ends a daily pause unless it shows the budget no larger
 * than at the daily 429 (no new day yet: resuming would only meet the next
 * 429); pd_limits_should_pause() then applies the reserve again. */
struct pd_outcome pd_limits_on_response(struct pd_limits *l, int64_t now_ms,
                                        const struct pd_resp_info *r);

/* True when consumption should pause: after a daily 429 or when the
 * remaining budget is below reserve_pct % of the limit; *resume_at_ms (may
 * be NULL) gets when to try again. Past that time the day's counters are
 * reset and it returns false. Also true (resume -1) when blocked. */
bool pd_limits_should_pause(struct pd_limits *l, int64_t now_ms, int64_t *resume_at_ms);

/* Remaining daily tokens as known or estimated; -1 when unknown. */
long pd_limits_daily_remaining(const struct pd_limits *l);

bool pd_limits_blocked(const struct pd_limits *l);

/* The fields above are pd_limits.c's; other modules read them through these. */

/* A daily 429 (or the reserve) paused sending until the reset. */
bool pd_limits_daily_paused(const struct pd_limits *l);
/* The pause came from a daily 429, not from the reserve. */
bool pd_limits_paused_by_429(const struct pd_limits *l);
/* x-ratelimit-remaining as last seen, or -1 when no answer carried it. */
long pd_limits_burst_remaining(const struct pd_limits *l);
/* The burst limit in force (the plan's, or learnt from x-ratelimit-limit). */
int pd_limits_burst_limit(const struct pd_limits *l);
/* No send before this time (ms since the epoch) after a burst 429; 0 none. */
int64_t pd_limits_hold_until(const struct pd_limits *l);
/* The daily budget in force (x-daily-ratelimit-limit as last seen, else
 * MLC_PIPEDRIVE_DAILY_BUDGET); 0 when unknown. */
long pd_limits_daily_limit(const struct pd_limits *l);
/* MLC_PIPEDRIVE_RESERVE_PCT as configured. */
int pd_limits_reserve_pct(const struct pd_limits *l);
/* When the last call was sent (ms, the pacer's clock); 0 before the first. */
int64_t pd_limits_last_send_ms(const struct pd_limits *l);
/* Our sends in the current burst window. */
size_t pd_limits_window_sends(const struct pd_limits *l);

#endif
