/* pdsim_ops.h - the operations the Pipedrive sandbox serves and their token costs.
 *
 * Costs are the x-token-cost values of Pipedrive's v2 and v1 OpenAPI specs
 * (tests/data/pipedrive/; tests/integration/test_pipedrive_sim.py reads them and checks
 * this table against what the sandbox charges). Paths are as the sandbox
 * serves them, with {id} standing for a path segment.
 */
#ifndef PDSIM_OPS_H
#define PDSIM_OPS_H

#include <stdbool.h>

enum pdsim_op {
    PDSIM_OP_ORG_LIST = 0,
    PDSIM_OP_ORG_CREATE,
    PDSIM_OP_ORG_GET,
    PDSIM_OP_ORG_UPDATE,
    PDSIM_OP_ORG_DELETE,
    PDSIM_OP_ORG_SEARCH,
    PDSIM_OP_ITEM_SEARCH_FIELD,
    PDSIM_OP_FIELDS_LIST_V2,
    PDSIM_OP_FIELDS_CREATE_V2,
    PDSIM_OP_FIELDS_LIST_V1,
    PDSIM_OP_FIELDS_CREATE_V1,
    PDSIM_OP_USERS_ME,
    PDSIM_OP_FIELD_GET_V2,         /* GET /api/v2/organizationFields/{field_code} */
    PDSIM_OP_FIELD_UPDATE_V2,      /* PATCH, the same path */
    PDSIM_OP_FIELD_DELETE_V2,      /* DELETE, the same path */
    PDSIM_OP_FIELD_OPTIONS_ADD,    /* POST .../{field_code}/options */
    PDSIM_OP_FIELD_OPTIONS_UPDATE, /* PATCH, the same path */
    PDSIM_OP_FIELD_OPTIONS_DELETE, /* DELETE, the same path */
    PDSIM_OP_COUNT
};

struct pdsim_op_info {
    const char *name;      /* counter and log label, e.g. "organizations.list" */
    const char *method;    /* "GET", ... */
    const char *path;      /* served path, e.g. "/api/v2/organizations/{id}" */
    const char *spec;      /* "v2.yaml" or "v1.yaml" */
    const char *spec_path; /* path in the spec, e.g. "/organizations/{id}" */
    int cost;              /* x-token-cost */
    bool search;           /* subject to the 10 per 2 s search window */
};

/* Never NULL for a valid op. */
const struct pdsim_op_info *pdsim_op_info(enum pdsim_op op);

#endif
