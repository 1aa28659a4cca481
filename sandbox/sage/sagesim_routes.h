/* sagesim_routes.h - the Sage 300 Web API surface and the /_sim/ control API of mlc-sage-sim.
 *
 * Serves /Sage300WebApi/v1.0/-/{COMPANY}/AR/{ARCustomers | ARCustomers('key') |
 * ARCustomers(CustomerNumber='key') | ARTerms | ARTerms('code') | $metadata}
 * ("Sage300WebApi", "v1.0" and "AR" match case-insensitively, like IIS and
 * ASP.NET routing; entity set names are case-sensitive, like OData).
 *
 * Checks, in this order: application path (404 ResourceNotFound), HTTP Basic
 * (401 Unauthorized + WWW-Authenticate: Basic; ADMIN without allow_admin:
 * 403 Forbidden), Content-Type (500 InternalServerError when missing and the
 * rule demands it), company (configurable answer), resource, method (405),
 * query options (400 InvalidParameters), key (400 InvalidEntityKey, 404
 * RecordNotFound).
 *
 * Every refused login (401 from the credential check) adds 1 to the named
 * counter failed_logins, read at GET /_sim/counters ("counters").
 *
 * Control API (registered on the core; JSON in and out, no auth):
 *   GET  /_sim/today                      {"today":"YYYY-MM-DD"}
 *   PUT  /_sim/today                      body {"today":"YYYY-MM-DD"}
 *   GET  /_sim/settings, PATCH /_sim/settings   page_size, password_mode,
 *        user_case, content_type_rule, unknown_company, allow_admin
 *   GET  /_sim/companies                  [{"code":..,"customers":n}]
 *   POST /_sim/companies/{CO}             create an empty company
 *   POST /_sim/companies/{CO}/customers   add one object or an array; 409 if a
 *        key exists; DateLastMaintained = today unless ?stamp=false
 *   GET|PATCH|DELETE /_sim/companies/{CO}/customers/{KEY}  (KEY percent-encoded)
 *        PATCH merges the given properties and stamps DateLastMaintained
 *        with today unless ?stamp=false
 *   POST /_sim/companies/{CO}/touch       {"count":N,"set":{...}}: change N
 *        customers spread over the key range, stamping today
 *
 * Implemented in sagesim_routes.c (routing, auth, error bodies),
 * sagesim_resources.c (ARCustomers, ARTerms) and sagesim_control.c (control
 * API, option parsers); what they share is in sagesim_internal.h.
 */
#ifndef SAGESIM_ROUTES_H
#define SAGESIM_ROUTES_H

#include "sagesim_data.h"
#include "sim_core.h"

enum sagesim_pw_mode { SAGESIM_PW_UPPER, SAGESIM_PW_EXACT };
enum sagesim_user_case { SAGESIM_USER_UPPER, SAGESIM_USER_FOLD };
enum sagesim_ct_rule { SAGESIM_CT_ALL, SAGESIM_CT_WRITES, SAGESIM_CT_OFF };
enum sagesim_unknown_co { SAGESIM_UC_DBLINK, SAGESIM_UC_NOTFOUND, SAGESIM_UC_UNAUTHORIZED };

struct sagesim_settings {
    long page_size;
    enum sagesim_pw_mode password_mode;
    enum sagesim_user_case user_case;
    enum sagesim_ct_rule content_type_rule;
    enum sagesim_unknown_co unknown_company;
    bool allow_admin;
    char user[64];         /* stored upper-case */
    char password[256];    /* as configured; upper mode compares with its upper-case form */
    char public_base[256]; /* "" or scheme://host[:port][/prefix], no trailing '/': the
                              origin of nextLinks and contexts (a server behind a proxy) */
};

struct sagesim_app {
    struct sagesim_store store;
    struct sagesim_settings set;
    struct sim_server *srv; /* set after sim_server_start */
};

/* Parsers for the option values ("upper", "exact", ...); false when unknown. */
bool sagesim_parse_pw_mode(const char *s, enum sagesim_pw_mode *out);
bool sagesim_parse_user_case(const char *s, enum sagesim_user_case *out);
bool sagesim_parse_ct_rule(const char *s, enum sagesim_ct_rule *out);
bool sagesim_parse_unknown_co(const char *s, enum sagesim_unknown_co *out);
/* Checks an http(s) URL for --public-base and copies it without its
 * trailing '/' into out (size outsz); false when unusable. */
bool sagesim_parse_public_base(const char *s, char *out, size_t outsz);

/* The app handler (ctx is struct sagesim_app *). */
void sagesim_handle(void *ctx, const struct sim_request *req, struct sim_response *res);
/* Sage error body for injected status faults. */
cJSON *sagesim_fault_body(void *ctx, int status);
/* Registers the control routes above. */
bool sagesim_register_controls(struct sim_server *srv);

/* Appends Sage's error object to res. */
void sagesim_error(struct sim_response *res, int status, const char *code, const char *message);

#endif
