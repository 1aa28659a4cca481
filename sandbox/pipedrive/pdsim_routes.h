/* pdsim_routes.h - the HTTP layer of mlc-pipedrive-sim on top of sim_core.
 *
 * pdsim_handle() is the sim_core app handler: it routes /api/v2/... and
 * /v1/... (also /api/v1/...) requests, authenticates them (x-api-token header
 * or api_token query), applies the rate limits (pdsim_limits) with each
 * operation's token cost (pdsim_ops), sets the rate-limit headers, and serves
 * the operation from the store (pdsim_store, pdsim_validate, pdsim_search).
 *
 * Control routes registered by pdsim_register_controls():
 *   GET  /_sim/state      the whole state (pdsim_store_dump)
 *   PUT  /_sim/state      replace it (POST also accepted); --token tokens stay valid
 *   GET  /_sim/stats      operations (count, tokens), tokens spent (total, per company
 *                         today), 429s (burst/search/daily), 403s, 401s,
 *                         validation failures, and the cost table
 *   DELETE /_sim/stats    zero the statistics
 *   POST /_sim/rollover   start a new "day" now for every company (budgets refill)
 *   POST /_sim/unblock    lift every Cloudflare block and forget 429 streaks
 *   POST /_sim/block      {"after": N, "seconds": S}: let N more API requests
 *                         through, then block the token of the next one for S
 *                         seconds (a Cloudflare block at a known moment, so a
 *                         test does not depend on provoking 429 streaks)
 *   GET  /_sim/currencies the currencies of every company
 *   PUT  /_sim/currencies {"currencies":[…],"company_id":N} replaces them (POST
 *                         too; without company_id, for every company)
 *
 * Thread-safety: every function here is called with sim_core's app mutex held
 * (handlers) or before the server starts (init, register).
 *
 * The implementation is split into pdsim_routes.c, pdsim_envelope.c,
 * pdsim_params.c, pdsim_api_*.c and pdsim_control.c; pdsim_internal.h says
 * which holds what.
 */
#ifndef PDSIM_ROUTES_H
#define PDSIM_ROUTES_H

#include "pdsim_limits.h"
#include "pdsim_ops.h"
#include "pdsim_store.h"
#include "pdsim_validate.h"
#include "sim_core.h"

#include <stdbool.h>

enum pdsim_header {
    PDSIM_H_LIMIT = 0,    /* x-ratelimit-limit */
    PDSIM_H_REMAINING,    /* x-ratelimit-remaining */
    PDSIM_H_RESET,        /* x-ratelimit-reset */
    PDSIM_H_DAILY_LIMIT,  /* x-daily-ratelimit-token-limit */
    PDSIM_H_DAILY_REMAIN, /* x-daily-ratelimit-token-remaining */
    PDSIM_H_COUNT
};

struct pdsim_options {
    enum pdsim_plan plan;
    long seats;
    long daily_budget;   /* 0: 30,000 x multiplier x seats */
    bool no_limits;      /* never 429/403; headers and costs still computed */
    long day_length_s;   /* default 86400 */
    long reset_offset_s; /* the day starts this many seconds after 00:00 UTC */
    int deleted_status;  /* GET of a deleted org: 404 (default), 410 or 200 */
    long index_delay_ms; /* search finds new organizations only after this */
    bool omit_header[PDSIM_H_COUNT];
    long block_after;         /* 0: never; else 403 after this many 429s in a row */
    long block_s;             /* block duration (default 60) */
    struct pdsim_rules rules; /* length limits (pdsim_rules_default) */
    /* currencies of a company that has no list of its own (comma list,
     * checked with pdsim_currency_list_valid; default PDSIM_CURRENCIES_DEFAULT) */
    char currencies[PDSIM_CURRENCIES_MAX];
};

struct pdsim_op_stats {
    long count;
    long tokens;
};

struct pdsim {
    struct pdsim_options opt;
    struct pdsim_limits_cfg limits;
    struct pdsim_store store;
    char **cli_tokens; /* --token values, re-added to company 0 after a state load */
    size_t ncli_tokens;
    long long (*now_ms)(void); /* clock (injectable for tests) */
    struct pdsim_op_stats ops[PDSIM_OP_COUNT];
    long tokens_spent;
    long n429_burst, n429_search, n429_daily, n403, n401, validation_failures;
    long block_countdown; /* /_sim/block: requests still let through; -1 = none armed */
    long block_armed_s;   /* how long that block lasts */
};

/* Default options: growth, 1 seat, limits on, one-day days at 00:00 UTC, 404. */
void pdsim_options_default(struct pdsim_options *opt);
/* Sets up sim with one company holding tokens (or state when not NULL,
 * which must have at least one company). The tokens are copied. */
mlc_rc pdsim_init(struct pdsim *sim, const struct pdsim_options *opt, const char *const *tokens,
                  size_t ntokens, const cJSON *state, struct mlc_err *err);
void pdsim_free(struct pdsim *sim);

/* sim_core handler and fault-body callbacks (ctx is the struct pdsim). */
void pdsim_handle(void *ctx, const struct sim_request *req, struct sim_response *res);
cJSON *pdsim_fault_body(void *ctx, int status);
/* Registers the /_sim/ routes listed above. */
bool pdsim_register_controls(struct pdsim *sim, struct sim_server *srv);

/* Opaque cursors: base64url of text (caller frees); decode returns NULL on junk. */
char *pdsim_cursor_encode(const char *text);
char *pdsim_cursor_decode(const char *cursor);

#endif
