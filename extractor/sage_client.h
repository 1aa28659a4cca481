/* sage_client.h - the Sage 300 Web API client of the extractor (GET only).
 *
 * Every request carries HTTP Basic (user ID upper-cased, password per
 * MLC_SAGE_PASSWORD_CASE, see sage_query.h and "Password form" below), "Accept: application/json"
 * and "Content-Type: application/json" (Sage answers 500 without it). TLS is verified unless
 * MLC_SAGE_INSECURE=true (then a loud warning is logged once), MLC_SAGE_CA_FILE replaces the system
 * CAs, and MLC_SAGE_TIMEOUT / MLC_SAGE_CONNECT_TIMEOUT bound each try. The password, the
 * upper-cased password and the base64 Basic header value are registered with the logger's redaction
 * (mlc_http does it when the client is created).
 *
 * Outcomes of sage_client_get_page (one page, parsed and checked):
 *   MLC_OK     *page filled (caller frees with sage_page_free)
 *   MLC_RETRY  a 5xx/408/429, a timeout or transport error, or a malformed
 *              page persisted through 1 + MLC_SAGE_RETRIES tries (exponential
 *              backoff with full jitter, at least Retry-After), or *stop
 *              became non-zero ("interrupted")
 *   MLC_PERM   another 4xx (e.g. 400 InvalidParameters, 404): a bug or a
 *              configuration mistake; the cycle fails
 *   MLC_FATAL  401/403 (message says what to check: the upper-case rule and
 *              MLC_SAGE_PASSWORD_CASE, the Web API security right per module,
 *              ADMIN blocked unless AllowWebApiAccessForAdmin), a nextLink
 *              naming another resource (sage_page.h)
 * Messages read "sage GET <url without query>: HTTP 500: InternalServerError:
 * <Sage's message>" (Sage error bodies {"error":{"code","message":{"value"}}}
 * are decoded), never with credentials, always redacted.
 *
 * Password form (MLC_SAGE_PASSWORD_CASE=auto, the default): the client
 * sends the legacy upper-cased form first, or the form the caller prefers
 * (sage_client_prefer_form: the one the state file recorded). On a 401 it
 * switches to the other form and repeats the request at once, not counted
 * as a retry; it does so at most once per client (process), so a process
 * start costs at most one failed login when the password is right, and a
 * known form none. A password without lower-case letters has one form only:
 * no second try. A 401 with the other form too is MLC_FATAL as usual (a
 * wrong password thus costs two failed logins per start). The caller records the form
 * that worked (sage_client_accepted_form). upper and exact send one form
 * only.
 *
 * Ownership: sage_client_new returns a client freed by sage_client_free. The
 * client copies what it needs from the configuration. Not thread-safe.
 */
#ifndef SAGE_CLIENT_H
#define SAGE_CLIENT_H
#include "mlc_config.h"
#include "mlc_err.h"
#include "mlc_http.h"
#include "sage_page.h"
#include "sage_query.h"
#include <signal.h>
#include <stdbool.h>

struct sage_client;

/* Reads MLC_SAGE_URL, MLC_SAGE_USER, MLC_SAGE_PASSWORD(_CASE), MLC_SAGE_CA_FILE,
 * MLC_SAGE_INSECURE, MLC_SAGE_TIMEOUT, MLC_SAGE_CONNECT_TIMEOUT,
 * MLC_SAGE_RETRIES and MLC_SAGE_PAGE_SIZE (body cap).
 * stop (nullable, borrowed) interrupts backoff sleeps. MLC_FATAL on missing
 * or unusable settings. */
mlc_rc sage_client_new(const struct mlc_config *cfg, volatile sig_atomic_t *stop,
                       struct sage_client **out, struct mlc_err *err);
void sage_client_free(struct sage_client *c);

/* auto only: send form (SAGE_PW_UPPER or SAGE_PW_EXACT) first from now on;
 * no-op otherwise. MLC_FATAL when the HTTP client cannot be rebuilt. */
mlc_rc sage_client_prefer_form(struct sage_client *c, enum sage_pw_case form, struct mlc_err *err);

/* *form receives the form now sent (upper or exact); true once a response
 * other than 401 answered it (the login worked). */
bool sage_client_accepted_form(const struct sage_client *c, enum sage_pw_case *form);

/* The configured MLC_SAGE_PASSWORD_CASE. */
enum sage_pw_case sage_client_wanted_form(const struct sage_client *c);

/* Overrides the number of retries (ping uses 0) and the backoff base (tests). */
void sage_client_set_retries(struct sage_client *c, unsigned retries);

/* GETs url (borrowed) and parses it as a page of resource_url (the resource
 * without query, to check the nextLink against). Outcomes above. On success
 * *page owns its tree. url is always built by the caller on the configured
 * MLC_SAGE_URL: no URL from a response is ever requested. */
mlc_rc sage_client_get_page(struct sage_client *c, const char *url, const char *resource_url,
                            struct sage_page *page, struct mlc_err *err);

/* Calls fn(ctx, status) after every HTTP attempt (status 0: no response),
 * from the calling thread; for metrics. fn NULL: none. */
void sage_client_set_observer(struct sage_client *c, void (*fn)(void *ctx, long status), void *ctx);

/* The status of the last response (0 when none). */
long sage_client_last_status(const struct sage_client *c);

/* Decodes a Sage error body into "Code: message" (into out, size outsz);
 * false when body is not Sage's error shape. Exposed for tests. */
bool sage_error_decode(const char *body, size_t len, char *out, size_t outsz);

/* The operator hint for a 401 or 403 (static text). */
const char *sage_auth_hint(long status);

#endif
