/* mlc-sage-sim - a Sage 300 Web API (v1.0, AR) simulator for tests, demos and benchmarks.
 *
 * Prints its base URL up to and including "/-/" as the first line of stdout,
 * then serves until SIGTERM or SIGINT (exit 0). See docs/sandboxes.md.
 */
#include "mlc_alloc.h"
#include "mlc_app.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "sagesim_data.h"
#include "sagesim_routes.h"
#include "sim_core.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: mlc-sage-sim [options]\n"
    "\n"
    "A Sage 300 Web API v1.0 simulator serving\n"
    "  http://127.0.0.1:PORT/Sage300WebApi/v1.0/-/{COMPANY}/AR/{ARCustomers,ARTerms,$metadata}\n"
    "The first line of stdout is the base URL up to and including /-/.\n"
    "\n"
    "  --port N                 listen port on 127.0.0.1 (0 = pick a free port; default 0)\n"
    "  --company CODE           a company database ID (repeatable; default SAMINC)\n"
    "  --user U                 Web API user ID (stored upper-case; default WEBAPI)\n"
    "  --password P             its password (default WEBAPI)\n"
    "  --password-mode M        upper: stored password is upper-case (legacy, before\n"
    "                           2022.2 or complex passwords off); exact: case-sensitive\n"
    "                           (complex passwords, 2023+). Default upper\n"
    "  --user-case M            upper: the user ID must be sent upper-case; fold: any case\n"
    "                           (inferred; default upper)\n"
    "  --allow-admin            let ADMIN in (AllowWebApiAccessForAdmin=true); default 403\n"
    "  --page-size N            server page size (Web.config PageSize; default 100)\n"
    "  --public-base URL        build @odata.nextLink and @odata.context on URL\n"
    "                           (scheme://host[:port][/prefix]) instead of the request's\n"
    "                           Host, as a server behind a reverse proxy or load balancer\n"
    "                           does with its own internal name (default: the Host header)\n"
    "  --customers N            generate N customers per company (default 0)\n"
    "  --seed S                 generator seed (default 1)\n"
    "  --data FILE              load customers from {\"CO\":[customer,...]} JSON\n"
    "  --today YYYY-MM-DD       the date stamped into DateLastMaintained (default: UTC today)\n"
    "  --content-type-rule R    all: 500 when a request lacks Content-Type: application/json\n"
    "                           (as documented); writes: only POST/PUT/PATCH; off. Default all\n"
    "  --unknown-company A      dblink (500 DBLinkError), notfound (404 ResourceNotFound) or\n"
    "                           unauthorized (401); inferred, default dblink\n"
    "  --log-capacity N         request log entries kept for /_sim/requests (default 1000)\n"
    "  --help                   this text\n";

static int fail(const char *msg, const char *arg)
{
    fprintf(stderr, "mlc-sage-sim: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"company", required_argument, NULL, 'c'},
        {"user", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'w'},
        {"password-mode", required_argument, NULL, 'm'},
        {"public-base", required_argument, NULL, 'B'},
        {"user-case", required_argument, NULL, 'U'},
        {"allow-admin", no_argument, NULL, 'A'},
        {"page-size", required_argument, NULL, 's'},
        {"customers", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 'S'},
        {"data", required_argument, NULL, 'd'},
        {"today", required_argument, NULL, 't'},
        {"content-type-rule", required_argument, NULL, 'C'},
        {"unknown-company", required_argument, NULL, 'K'},
        {"log-capacity", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct sagesim_app app;
    struct sim_server *srv = NULL;
    struct mlc_err err;
    const char *companies[32];
    size_t ncompanies = 0;
    const char *data = NULL;
    long port = 0, customers = 0, seed = 1, log_capacity = 1000;
    int64_t today;
    int rc = 0, c;

    mlc_app_prologue("mlc-sage-sim");
    sim_signals_install(); /* a stop during a long start-up still exits 0 */
    mlc_log_setup("mlc-sage-sim", MLC_LOG_INFO, MLC_LOG_TEXT);
    {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        today = sagesim_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    }
    memset(&app, 0, sizeof app);
    app.set.page_size = 100;
    app.set.password_mode = SAGESIM_PW_UPPER;
    app.set.user_case = SAGESIM_USER_UPPER;
    app.set.content_type_rule = SAGESIM_CT_ALL;
    app.set.unknown_company = SAGESIM_UC_DBLINK;
    mlc_strlcpy(app.set.user, "WEBAPI", sizeof app.set.user);
    mlc_strlcpy(app.set.password, "WEBAPI", sizeof app.set.password);

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (!mlc_parse_long(optarg, 0, 65535, &port))
                return fail("--port must be 0..65535", optarg);
            break;
        case 'c':
            if (ncompanies == ARRAY_SIZE(companies))
                return fail("too many --company options", NULL);
            companies[ncompanies++] = optarg;
            break;
        case 'u':
            if (!*optarg || !mlc_str_upper(app.set.user, optarg, sizeof app.set.user) ||
                strchr(optarg, ':'))
                return fail("--user must be a non-empty user ID without ':'", NULL);
            break;
        case 'w':
            if (!mlc_strlcpy(app.set.password, optarg, sizeof app.set.password))
                return fail("--password is too long", NULL);
            break;
        case 'm':
            if (!sagesim_parse_pw_mode(optarg, &app.set.password_mode))
                return fail("--password-mode must be upper or exact", optarg);
            break;
        case 'B':
            if (!sagesim_parse_public_base(optarg, app.set.public_base, sizeof app.set.public_base))
                return fail("--public-base must be an http(s) url without query, quotes or blanks",
                            optarg);
            break;
        case 'U':
            if (!sagesim_parse_user_case(optarg, &app.set.user_case))
                return fail("--user-case must be upper or fold", optarg);
            break;
        case 'A':
            app.set.allow_admin = true;
            break;
        case 's':
            if (!mlc_parse_long(optarg, 1, 100000, &app.set.page_size))
                return fail("--page-size must be 1..100000", optarg);
            break;
        case 'n':
            if (!mlc_parse_long(optarg, 0, 999999, &customers))
                return fail("--customers must be 0..999999", optarg);
            break;
        case 'S':
            if (!mlc_parse_long(optarg, 0, 0x7fffffffL, &seed))
                return fail("--seed must be a non-negative integer", optarg);
            break;
        case 'd':
            data = optarg;
            break;
        case 't':
            if (!sagesim_parse_date(optarg, &today) || strlen(optarg) != 10)
                return fail("--today must be YYYY-MM-DD", optarg);
            break;
        case 'C':
            if (!sagesim_parse_ct_rule(optarg, &app.set.content_type_rule))
                return fail("--content-type-rule must be all, writes or off", optarg);
            break;
        case 'K':
            if (!sagesim_parse_unknown_co(optarg, &app.set.unknown_company))
                return fail("--unknown-company must be dblink, notfound or unauthorized", optarg);
            break;
        case 'L':
            if (!mlc_parse_long(optarg, 1, 1000000, &log_capacity))
                return fail("--log-capacity must be 1..1000000", optarg);
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc)
        return fail("unexpected argument", argv[optind]);

    sagesim_store_init(&app.store, today);
    if (ncompanies == 0 && !data)
        companies[ncompanies++] = "SAMINC";
    for (size_t i = 0; i < ncompanies; i++) {
        struct sagesim_company *co = sagesim_store_add_company(&app.store, companies[i]);
        if (!co) {
            rc = fail("--company must be 1-15 letters or digits", companies[i]);
            goto out;
        }
    }
    if (data) {
        char msg[512];
        if (!sagesim_load_json(&app.store, data, msg, sizeof msg)) {
            rc = fail(msg, NULL);
            goto out;
        }
    }
    for (size_t i = 0; customers > 0 && i < app.store.nco; i++) {
        if (!sagesim_generate(&app.store, &app.store.co[i], customers, (uint64_t)seed)) {
            rc = fail("no customer numbers left to generate (index 999,999 reached)", NULL);
            goto out;
        }
    }

    struct sim_config cfg = {0};
    cfg.port = (int)port;
    cfg.handler = sagesim_handle;
    cfg.fault_body = sagesim_fault_body;
    cfg.ctx = &app;
    cfg.log_capacity = (size_t)log_capacity;
    if (sim_server_start(&cfg, &srv, &err) != MLC_OK) {
        rc = fail(err.msg, NULL);
        goto out;
    }
    app.srv = srv;
    if (!sagesim_register_controls(srv)) {
        rc = fail("cannot register control routes", NULL);
        goto out;
    }
    for (size_t i = 0; i < app.store.nco; i++)
        mlc_info("company %s: %zu customers", app.store.co[i].code, app.store.co[i].n);
    char first[128];
    snprintf(first, sizeof first, "%s/Sage300WebApi/v1.0/-/", sim_server_base_url(srv));
    rc = sim_run_until_signal(first);
out:
    sim_server_stop(srv);
    sagesim_store_free(&app.store);
    return rc;
}
