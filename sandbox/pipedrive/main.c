/* mlc-pipedrive-sim - a Pipedrive API v2 sandbox with real rate limits.
 *
 * Prints its base URL (http://127.0.0.1:PORT) as the first stdout line, then
 * serves until SIGTERM/SIGINT. See docs/sandboxes.md and --help.
 */
#include "mlc_alloc.h"
#include "mlc_app.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "pdsim_routes.h"
#include "sim_core.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: mlc-pipedrive-sim [options]\n"
    "\n"
    "A Pipedrive API v2 sandbox: organizations, organization fields, search,\n"
    "users/me, token costs, burst windows, the daily budget and Cloudflare 403s.\n"
    "The first stdout line is the base URL (http://127.0.0.1:PORT).\n"
    "\n"
    "  --port N              listen on 127.0.0.1:N (0, the default, picks a free port)\n"
    "  --token T             accept API token T (repeatable; default: sim-token unless\n"
    "                        --state holds tokens)\n"
    "  --plan P              lite|growth|premium|ultimate (default growth): burst\n"
    "                        20/40/100/120 per 2 s, budget multiplier 1/2/5/7\n"
    "  --seats N             seats for the daily budget (default 1)\n"
    "  --daily-budget N      tokens per day instead of 30000 x multiplier x seats\n"
    "  --no-limits           never answer 429/403 (costs are still counted)\n"
    "  --day-length S        length of a budget \"day\" in seconds (default 86400)\n"
    "  --reset-at HH:MM[:SS] the day starts at this UTC time (default 00:00)\n"
    "  --deleted-status N    answer GET of a deleted organization with 404 (default),\n"
    "                        410, or 200 with is_deleted:true (PATCH/DELETE: 404/410)\n"
    "  --index-delay-ms N    search finds a new organization only N ms after its POST\n"
    "  --omit-header H       never send header H (repeatable): x-ratelimit-limit,\n"
    "                        x-ratelimit-remaining, x-ratelimit-reset,\n"
    "                        x-daily-ratelimit-token-limit,\n"
    "                        x-daily-ratelimit-token-remaining, or all\n"
    "  --block-after N       after N 429s in a row to one token, answer its next\n"
    "                        requests with a Cloudflare 403 HTML page (default 0: never)\n"
    "  --block-seconds S     how long such a block lasts (default 60)\n"
    "  --currencies LIST     the company's currencies, a comma list of codes that a\n"
    "                        monetary value may carry (default USD,EUR,GBP,CAD,CHF)\n"
    "  --max-name-length N   longest organization name accepted (default 255)\n"
    "  --max-address-length N longest address value or subfield (default 255)\n"
    "  --max-text-length N   longest value of a text custom field (default 65535)\n"
    "  --state FILE          load the initial state (JSON, as GET /_sim/state returns)\n"
    "  --log-level L         error|warn|info|debug (default warn)\n"
    "  --help                this text\n"
    "\n"
    "Control API: GET/PUT /_sim/state, GET/DELETE /_sim/stats, POST /_sim/rollover,\n"
    "POST /_sim/unblock, POST /_sim/block, GET/PUT /_sim/currencies, and the core's\n"
    "/_sim/faults, /_sim/counters, /_sim/requests.\n";

static const char *const header_opt[PDSIM_H_COUNT] = {
    "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
    "x-daily-ratelimit-token-limit", "x-daily-ratelimit-token-remaining"};

static bool parse_hms(const char *s, long *out)
{
    long h = 0, m = 0, sec = 0;
    char buf[16];
    char *p, *q;

    if (!mlc_strlcpy(buf, s, sizeof(buf)))
        return false;
    p = strchr(buf, ':');
    if (!p)
        return false;
    *p++ = '\0';
    q = strchr(p, ':');
    if (q)
        *q++ = '\0';
    if (!mlc_parse_long(buf, 0, 23, &h) || !mlc_parse_long(p, 0, 59, &m) ||
        (q && !mlc_parse_long(q, 0, 59, &sec)))
        return false;
    *out = h * 3600 + m * 60 + sec;
    return true;
}

static cJSON *read_json_file(const char *path, char *msg, size_t msgsz)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long len;
    cJSON *doc = NULL;

    if (!f) {
        snprintf(msg, msgsz, "cannot open state file %s", path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        len > 512L * 1024 * 1024) {
        snprintf(msg, msgsz, "cannot read state file %s", path);
        goto out;
    }
    data = mlc_xmalloc((size_t)len + 1);
    if (fread(data, 1, (size_t)len, f) != (size_t)len) {
        snprintf(msg, msgsz, "cannot read state file %s", path);
        goto out;
    }
    doc = cJSON_ParseWithLength(data, (size_t)len);
    if (!doc)
        snprintf(msg, msgsz, "state file %s is not valid JSON", path);
out:
    free(data);
    fclose(f);
    return doc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"token", required_argument, NULL, 't'},
        {"plan", required_argument, NULL, 'P'},
        {"seats", required_argument, NULL, 's'},
        {"daily-budget", required_argument, NULL, 'b'},
        {"no-limits", no_argument, NULL, 'n'},
        {"day-length", required_argument, NULL, 'd'},
        {"reset-at", required_argument, NULL, 'r'},
        {"deleted-status", required_argument, NULL, 'D'},
        {"index-delay-ms", required_argument, NULL, 'i'},
        {"omit-header", required_argument, NULL, 'o'},
        {"block-after", required_argument, NULL, 'B'},
        {"block-seconds", required_argument, NULL, 'S'},
        {"state", required_argument, NULL, 'f'},
        {"currencies", required_argument, NULL, 'C'},
        {"max-name-length", required_argument, NULL, 'N'},
        {"max-address-length", required_argument, NULL, 'A'},
        {"max-text-length", required_argument, NULL, 'T'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct pdsim_options opt;
    struct pdsim sim;
    struct sim_config cfg;
    struct sim_server *srv = NULL;
    struct mlc_err err = {0};
    const char **tokens = mlc_xcalloc((size_t)argc + 1, sizeof(char *));
    size_t ntokens = 0;
    const char *state_path = NULL;
    enum mlc_log_level level = MLC_LOG_WARN;
    cJSON *state = NULL;
    long port = 0, v;
    int c, status = 2;
    char msg[512];
    bool sim_ok = false;

    mlc_app_prologue("mlc-pipedrive-sim");
    pdsim_options_default(&opt);
#define BAD(...)                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "mlc-pipedrive-sim: " __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                                       \
        goto out;                                                                                  \
    } while (0)
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (!mlc_parse_long(optarg, 0, 65535, &port))
                BAD("--port: expected 0..65535, got '%s'", optarg);
            break;
        case 't':
            if (!*optarg)
                BAD("--token: must not be empty");
            tokens[ntokens++] = optarg;
            break;
        case 'P':
            if (!pdsim_plan_parse(optarg, &opt.plan))
                BAD("--plan: expected lite, growth, premium or ultimate, got '%s'", optarg);
            break;
        case 's':
            if (!mlc_parse_long(optarg, 1, 100000, &opt.seats))
                BAD("--seats: expected 1..100000, got '%s'", optarg);
            break;
        case 'b':
            if (!mlc_parse_long(optarg, 1, 2000000000L, &opt.daily_budget))
                BAD("--daily-budget: expected a positive number, got '%s'", optarg);
            break;
        case 'n':
            opt.no_limits = true;
            break;
        case 'd':
            if (!mlc_parse_long(optarg, 1, 10L * 86400, &opt.day_length_s))
                BAD("--day-length: expected 1..864000 seconds, got '%s'", optarg);
            break;
        case 'r':
            if (!parse_hms(optarg, &opt.reset_offset_s))
                BAD("--reset-at: expected HH:MM or HH:MM:SS, got '%s'", optarg);
            break;
        case 'D':
            if (!mlc_parse_long(optarg, 200, 410, &v) || (v != 200 && v != 404 && v != 410))
                BAD("--deleted-status: expected 404, 410 or 200, got '%s'", optarg);
            opt.deleted_status = (int)v;
            break;
        case 'i':
            if (!mlc_parse_long(optarg, 0, 3600000, &opt.index_delay_ms))
                BAD("--index-delay-ms: expected 0..3600000, got '%s'", optarg);
            break;
        case 'o': {
            bool found = false;
            for (int i = 0; i < PDSIM_H_COUNT; i++) {
                if (strcmp(optarg, "all") == 0 || strcmp(optarg, header_opt[i]) == 0) {
                    opt.omit_header[i] = true;
                    found = true;
                }
            }
            if (!found)
                BAD("--omit-header: unknown header '%s' (see --help)", optarg);
            break;
        }
        case 'B':
            if (!mlc_parse_long(optarg, 0, 1000000, &opt.block_after))
                BAD("--block-after: expected a count, got '%s'", optarg);
            break;
        case 'S':
            if (!mlc_parse_long(optarg, 1, 86400, &opt.block_s))
                BAD("--block-seconds: expected 1..86400, got '%s'", optarg);
            break;
        case 'f':
            state_path = optarg;
            break;
        case 'C':
            if (!pdsim_currency_list_valid(optarg, msg, sizeof(msg)))
                BAD("--currencies: %s", msg);
            mlc_strlcpy(opt.currencies, optarg, sizeof(opt.currencies));
            break;
        case 'N':
            if (!mlc_parse_long(optarg, 1, 1000000, &opt.rules.max_name))
                BAD("--max-name-length: expected 1..1000000, got '%s'", optarg);
            break;
        case 'A':
            if (!mlc_parse_long(optarg, 1, 1000000, &opt.rules.max_address))
                BAD("--max-address-length: expected 1..1000000, got '%s'", optarg);
            break;
        case 'T':
            if (!mlc_parse_long(optarg, 1, 10000000, &opt.rules.max_text))
                BAD("--max-text-length: expected 1..10000000, got '%s'", optarg);
            break;
        case 'l':
            if (!mlc_log_parse_level(optarg, &level))
                BAD("--log-level: expected error, warn, info or debug, got '%s'", optarg);
            break;
        case 'h':
            fputs(usage, stdout);
            status = 0;
            goto out;
        default:
            fputs(usage, stderr);
            goto out;
        }
    }
    if (optind < argc)
        BAD("unexpected argument '%s' (see --help)", argv[optind]);
    mlc_log_setup("mlc-pipedrive-sim", level, MLC_LOG_TEXT);
    for (size_t i = 0; i < ntokens; i++)
        mlc_log_add_secret(tokens[i]);
    if (state_path) {
        state = read_json_file(state_path, msg, sizeof(msg));
        if (!state)
            BAD("%s", msg);
    }
    if (ntokens == 0 && !state)
        tokens[ntokens++] = "sim-token";
    if (pdsim_init(&sim, &opt, tokens, ntokens, state, &err) != MLC_OK)
        BAD("%s", err.msg);
    sim_ok = true;
    {
        size_t known = 0;
        for (size_t i = 0; i < sim.store.ncompanies; i++)
            known += sim.store.companies[i].ntokens;
        if (known == 0)
            pdsim_company_add_token(&sim.store.companies[0], "sim-token");
    }

    memset(&cfg, 0, sizeof(cfg));
    cfg.port = (int)port;
    cfg.handler = pdsim_handle;
    cfg.fault_body = pdsim_fault_body;
    cfg.ctx = &sim;
    if (sim_server_start(&cfg, &srv, &err) != MLC_OK)
        BAD("%s", err.msg);
    if (!pdsim_register_controls(&sim, srv))
        BAD("cannot register the control routes");
    mlc_info("serving %s plan, burst %d/2s, daily budget %ld tokens", pdsim_plan_name(opt.plan),
             sim.limits.burst, sim.limits.daily_budget);
    status = sim_run_until_signal(sim_server_base_url(srv));
out:
    sim_server_stop(srv);
    if (sim_ok)
        pdsim_free(&sim);
    cJSON_Delete(state);
    free(tokens);
    return status;
#undef BAD
}
