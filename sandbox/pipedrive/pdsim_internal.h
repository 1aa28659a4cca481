/* pdsim_internal.h - what the modules of mlc-pipedrive-sim's HTTP layer share.
 * Not an API for callers outside sandbox/pipedrive: they use pdsim_routes.h.
 *
 * The shape of a request (pdsim_handle): route it (path and method to a
 * pdsim_op, 404/405 otherwise), authenticate it (401), arm a /_sim/block if
 * due, check the rate limits with the operation's cost (403 Cloudflare page,
 * 429 burst/search/daily), count it, serve the operation, set the rate-limit
 * headers.
 *
 * Modules:
 *   pdsim_routes      setup (pdsim_init, pdsim_free), routing, auth, limits
 *                     and their headers, dispatch (pdsim_handle)
 *   pdsim_envelope    Pipedrive's JSON envelopes and sim_core's fault bodies
 *   pdsim_params      query parameters, bodies, custom_fields= selections,
 *                     opaque cursors (pdsim_cursor_*) and offset paging
 *   pdsim_api_orgs    /api/v2/organizations[/{id}]: list, get, create,
 *                     update, delete
 *   pdsim_api_search  /api/v2/organizations/search, /api/v2/itemSearch/field
 *   pdsim_api_fields  organizationFields (v1, v2: list, create; v2: get,
 *                     update, delete, options add/update/delete) and /v1/users/me
 *   pdsim_control     the /_sim/ control routes (pdsim_register_controls)
 *
 * Thread-safety: everything here runs with sim_core's app mutex held (or
 * before the server starts), like pdsim_routes.h.
 *
 * Ownership: req and what it points to are borrowed. A handler puts exactly
 * one response into res; the envelope helpers consume the cJSON they are
 * given (as sim_response_json does). msg buffers are the caller's.
 */
#ifndef PDSIM_INTERNAL_H
#define PDSIM_INTERNAL_H
#include "pdsim_routes.h"

#include <stdbool.h>
#include <stddef.h>

#define PDSIM_MSG_MAX 512 /* a validation message */

/* ---- setup (pdsim_routes.c) ----------------------------------------------- */

/* Adds the --token values that are not in the store yet to company 0 (after
 * pdsim_init or a /_sim/state load). */
void pdsim_add_cli_tokens(struct pdsim *sim);

/* ---- envelopes (pdsim_envelope.c) ----------------------------------------- */

/* 200 {"success":true,"data":data,"additional_data":additional}; consumes
 * data (NULL: null) and additional (NULL: left out). */
void pdsim_ok_json(struct sim_response *res, cJSON *data, cJSON *additional);
/* status {"success":false,"error":error,"error_info":info (NULL: the default)}. */
void pdsim_error_envelope(struct sim_response *res, int status, const char *error,
                          const char *info);
/* 400 ERR_SCHEMA_VALIDATION_FAILED with msg; counts a validation failure. */
void pdsim_validation_error(struct pdsim *sim, struct sim_response *res, const char *msg);
/* 404 "Entity was not found". */
void pdsim_not_found(struct sim_response *res);
/* A deleted organization: 410 when --deleted-status is 410, else 404. */
void pdsim_gone_or_missing(struct pdsim *sim, struct sim_response *res);

/* ---- request parameters (pdsim_params.c) ---------------------------------- */

/* The query parameter name as a whole number in [min, max] into *out (dflt
 * when absent); false with a message in msg when it is not one. */
bool pdsim_param_long(const struct sim_request *req, const char *name, long min, long max,
                      long dflt, long *out, char *msg, size_t msgsz);
/* The query parameter name as true/1/false/0 into *out (false when absent). */
bool pdsim_param_bool(const struct sim_request *req, const char *name, bool *out, char *msg,
                      size_t msgsz);
/* The body as JSON (caller deletes), NULL when it is not JSON. */
cJSON *pdsim_parse_body(const struct sim_request *req);
/* Splits the comma list in buf (modified; items point into it) into up to max
 * non-empty items; returns their count, -1 when there are more. */
int pdsim_split_list(char *buf, const char **items, int max);
/* The custom_fields= selection into items (pointing into buf, at most 15);
 * *n is -1 when there is none. False with msg when it is invalid. */
bool pdsim_parse_selection(struct pdsim_company *co, const struct sim_request *req, char *buf,
                           size_t bufsz, const char **items, int *n, char *msg, size_t msgsz);
/* limit= (1..max_limit, default 100) and the offset in an offset cursor. */
bool pdsim_page_params(const struct sim_request *req, long max_limit, long *limit, long *offset,
                       char *msg, size_t msgsz);
/* A new array with items [offset, offset+limit) moved out of all (which the
 * caller still deletes); *additional is a new {"next_cursor": ...}. */
cJSON *pdsim_page_slice(cJSON *all, long limit, long offset, cJSON **additional);

/* Sets additional_data.next_cursor to the opaque cursor of text (NULL: the
 * last page, null). */
void pdsim_add_next_cursor(cJSON *additional, const char *text);

/* ---- operations (pdsim_api_*.c): each answers the request in res --------- */

void pdsim_api_org_list(struct pdsim *sim, struct pdsim_company *co, const struct sim_request *req,
                        struct sim_response *res);
/* org is the one named by {id}, deleted or not. */
void pdsim_api_org_get(struct pdsim *sim, struct pdsim_company *co, struct pdsim_org *org,
                       const struct sim_request *req, struct sim_response *res);
void pdsim_api_org_create(struct pdsim *sim, struct pdsim_company *co,
                          const struct sim_request *req, struct sim_response *res);
void pdsim_api_org_update(struct pdsim *sim, struct pdsim_company *co, struct pdsim_org *org,
                          const struct sim_request *req, struct sim_response *res);
void pdsim_api_org_delete(struct pdsim *sim, struct pdsim_org *org, struct sim_response *res);
void pdsim_api_org_search(struct pdsim *sim, struct pdsim_company *co,
                          const struct sim_request *req, struct sim_response *res);
void pdsim_api_item_search_field(struct pdsim *sim, struct pdsim_company *co,
                                 const struct sim_request *req, struct sim_response *res);
/* v2: /api/v2/organizationFields (cursor paging), else the v1 route (start/limit). */
void pdsim_api_fields_list(struct pdsim *sim, struct pdsim_company *co,
                           const struct sim_request *req, struct sim_response *res, bool v2);
void pdsim_api_fields_create(struct pdsim *sim, struct pdsim_company *co,
                             const struct sim_request *req, struct sim_response *res, bool v2);
/* One organization field by {field_code} (code: "" when it was too long):
 * get, update or delete it, or add, update or delete its options. An
 * unknown or deleted code gets 404. */
void pdsim_api_field_op(struct pdsim *sim, struct pdsim_company *co, enum pdsim_op op,
                        const char *code, const struct sim_request *req, struct sim_response *res);
void pdsim_api_users_me(struct pdsim_company *co, struct sim_response *res);

#endif
