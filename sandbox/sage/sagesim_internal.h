/* sagesim_internal.h - what the modules of the Sage 300 sandbox's HTTP surface
 * share. Not an API for callers outside sandbox/sage/: they use
 * sagesim_routes.h.
 *
 * Modules: sagesim_routes (the Web API handler: application path, auth,
 * Content-Type, company and resource routing; Sage error bodies),
 * sagesim_resources (the ARCustomers, ARTerms handlers and the OData
 * envelope: context, nextLink, keys), sagesim_control (the /_sim/ control
 * API and the option parsers its settings share with main.c).
 *
 * Every handler runs under the core's mutex (sim_core.h), so none of them
 * locks app. Ownership: app, req and co are borrowed for the call; what a
 * handler puts into res is owned by res.
 */
#ifndef SAGESIM_INTERNAL_H
#define SAGESIM_INTERNAL_H

#include "mlc_buf.h"
#include "sagesim_data.h"
#include "sagesim_routes.h"
#include "sim_core.h"

#include <stdbool.h>
#include <stddef.h>

#define MAX_SEGS 12

/* A request path split at '/'; raw and dec are owned (sagesim_segs_free). */
struct segs {
    char *raw[MAX_SEGS]; /* as sent */
    char *dec[MAX_SEGS]; /* percent-decoded */
    size_t n;
};

/* Splits "/a/b/c" into segments (the leading '/' gives no segment); false
 * when there are more than MAX_SEGS or memory ran out. s is always left
 * for sagesim_segs_free. */
bool sagesim_segs_split(const char *raw_path, struct segs *s);
void sagesim_segs_free(struct segs *s);

/* Appends url with the bytes that could break a JSON string or are not
 * allowed in a URL (", \\, controls, space, non-ASCII) percent-encoded. */
mlc_rc sagesim_put_safe_url(struct mlc_buf *b, const char *url);

/* The resource handlers sagesim_handle dispatches to once path, auth,
 * Content-Type, company and method passed. ctxbase is the service root path
 * as sent ("/Sage300WebApi/v1.0/-/COMPANY/AR/", URL-safe) for
 * @odata.context; keytext is the "(...)" after the entity set name, or NULL
 * for the collection. */
void sagesim_serve_customers_list(struct sagesim_app *app, const struct sim_request *req,
                                  struct sim_response *res, const struct sagesim_company *co,
                                  const char *ctxbase);
void sagesim_serve_customer_by_key(struct sagesim_app *app, const struct sim_request *req,
                                   struct sim_response *res, const struct sagesim_company *co,
                                   const char *ctxbase, const char *keytext);
void sagesim_serve_terms(struct sagesim_app *app, const struct sim_request *req,
                         struct sim_response *res, const char *ctxbase, const char *keytext);

#endif
