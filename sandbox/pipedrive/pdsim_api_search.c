/* pdsim_api_search.c - GET /api/v2/organizations/search and
 * GET /api/v2/itemSearch/field: parameter checks and paging around pdsim_search. */
#include "pdsim_internal.h"

#include "pdsim_search.h"

#include <stdio.h>
#include <string.h>

/* ---- search ----------------------------------------------------------- */

void pdsim_api_org_search(struct pdsim *sim, struct pdsim_company *co,
                          const struct sim_request *req, struct sim_response *res)
{
    char msg[PDSIM_MSG_MAX];
    const char *term = sim_request_param(req, "term");
    bool exact;
    unsigned mask;
    long limit, offset;
    cJSON *all, *add, *page, *data;

    if (!term) {
        pdsim_validation_error(sim, res, "Validation failed: term: is required");
        return;
    }
    if (!pdsim_param_bool(req, "exact_match", &exact, msg, sizeof(msg)) ||
        !pdsim_page_params(req, 500, &limit, &offset, msg, sizeof(msg))) {
        pdsim_validation_error(sim, res, msg);
        return;
    }
    if (!pdsim_search_term_ok(term, exact)) {
        pdsim_validation_error(sim, res,
                               exact ? "Validation failed: term: must be at least 1 "
                                       "character long"
                                     : "Validation failed: term: must be at least 2 "
                                       "characters long");
        return;
    }
    if (!pdsim_search_parse_fields(sim_request_param(req, "fields"), &mask)) {
        pdsim_validation_error(sim, res,
                               "Validation failed: fields: must be a comma list of address, "
                               "custom_fields, notes, name");
        return;
    }
    all = pdsim_search_orgs(co, term, exact, mask, sim->now_ms());
    page = pdsim_page_slice(all, limit, offset, &add);
    cJSON_Delete(all);
    data = cJSON_CreateObject();
    cJSON_AddItemToObject(data, "items", page);
    pdsim_ok_json(res, data, add);
}

void pdsim_api_item_search_field(struct pdsim *sim, struct pdsim_company *co,
                                 const struct sim_request *req, struct sim_response *res)
{
    char msg[PDSIM_MSG_MAX];
    const char *term = sim_request_param(req, "term");
    const char *entity = sim_request_param(req, "entity_type");
    const char *key = sim_request_param(req, "field");
    enum pdsim_match mode;
    long limit, offset;
    struct pdsim_field *f;
    cJSON *all, *add, *page;

    if (!term || !entity || !key) {
        snprintf(msg, sizeof(msg), "Validation failed: %s: is required",
                 !term     ? "term"
                 : !entity ? "entity_type"
                           : "field");
        pdsim_validation_error(sim, res, msg);
        return;
    }
    if (!pdsim_search_parse_match(sim_request_param(req, "match"), &mode)) {
        pdsim_validation_error(sim, res,
                               "Validation failed: match: must be one of exact, beginning, "
                               "middle");
        return;
    }
    if (!pdsim_page_params(req, 500, &limit, &offset, msg, sizeof(msg))) {
        pdsim_validation_error(sim, res, msg);
        return;
    }
    if (!pdsim_search_term_ok(term, mode == PDSIM_MATCH_EXACT)) {
        pdsim_validation_error(sim, res,
                               mode == PDSIM_MATCH_EXACT
                                   ? "Validation failed: term: must be at least 1 character "
                                     "long"
                                   : "Validation failed: term: must be at least 2 characters "
                                     "long");
        return;
    }
    if (strcmp(entity, "organization") != 0) {
        snprintf(msg, sizeof(msg),
                 "Validation failed: entity_type: the sandbox only serves "
                 "'organization'");
        pdsim_validation_error(sim, res, msg);
        return;
    }
    f = pdsim_company_field(co, key);
    if (!f || f->deleted) {
        snprintf(msg, sizeof(msg), "Validation failed: field: Field '%s' does not exist", key);
        pdsim_validation_error(sim, res, msg);
        return;
    }
    if (f->is_custom && !pdsim_search_type_searchable(f->type)) {
        snprintf(msg, sizeof(msg),
                 "Validation failed: field: Field '%s' of type '%s' is not "
                 "searchable",
                 key, f->type);
        pdsim_validation_error(sim, res, msg);
        return;
    }
    all = pdsim_search_field(co, f, term, mode, sim->now_ms());
    page = pdsim_page_slice(all, limit, offset, &add);
    cJSON_Delete(all);
    pdsim_ok_json(res, page, add);
}
