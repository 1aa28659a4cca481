/* pdsim_ops.c - the operation table (costs from the OpenAPI specs' x-token-cost). */
#include "pdsim_ops.h"

static const struct pdsim_op_info ops[PDSIM_OP_COUNT] = {
    [PDSIM_OP_ORG_LIST] = {"organizations.list", "GET", "/api/v2/organizations", "v2.yaml",
                           "/organizations", 10, false},
    [PDSIM_OP_ORG_CREATE] = {"organizations.create", "POST", "/api/v2/organizations", "v2.yaml",
                             "/organizations", 5, false},
    [PDSIM_OP_ORG_GET] = {"organizations.get", "GET", "/api/v2/organizations/{id}", "v2.yaml",
                          "/organizations/{id}", 1, false},
    [PDSIM_OP_ORG_UPDATE] = {"organizations.update", "PATCH", "/api/v2/organizations/{id}",
                             "v2.yaml", "/organizations/{id}", 5, false},
    [PDSIM_OP_ORG_DELETE] = {"organizations.delete", "DELETE", "/api/v2/organizations/{id}",
                             "v2.yaml", "/organizations/{id}", 3, false},
    [PDSIM_OP_ORG_SEARCH] = {"organizations.search", "GET", "/api/v2/organizations/search",
                             "v2.yaml", "/organizations/search", 20, true},
    [PDSIM_OP_ITEM_SEARCH_FIELD] = {"itemSearch.field", "GET", "/api/v2/itemSearch/field",
                                    "v2.yaml", "/itemSearch/field", 20, true},
    [PDSIM_OP_FIELDS_LIST_V2] = {"organizationFields.list.v2", "GET", "/api/v2/organizationFields",
                                 "v2.yaml", "/organizationFields", 10, false},
    [PDSIM_OP_FIELDS_CREATE_V2] = {"organizationFields.create.v2", "POST",
                                   "/api/v2/organizationFields", "v2.yaml", "/organizationFields",
                                   5, false},
    [PDSIM_OP_FIELDS_LIST_V1] = {"organizationFields.list.v1", "GET", "/v1/organizationFields",
                                 "v1.yaml", "/organizationFields", 20, false},
    [PDSIM_OP_FIELDS_CREATE_V1] = {"organizationFields.create.v1", "POST", "/v1/organizationFields",
                                   "v1.yaml", "/organizationFields", 10, false},
    [PDSIM_OP_USERS_ME] = {"users.me", "GET", "/v1/users/me", "v1.yaml", "/users/me", 2, false},
    [PDSIM_OP_FIELD_GET_V2] = {"organizationFields.get.v2", "GET",
                               "/api/v2/organizationFields/{field_code}", "v2.yaml",
                               "/organizationFields/{field_code}", 1, false},
    [PDSIM_OP_FIELD_UPDATE_V2] = {"organizationFields.update.v2", "PATCH",
                                  "/api/v2/organizationFields/{field_code}", "v2.yaml",
                                  "/organizationFields/{field_code}", 5, false},
    [PDSIM_OP_FIELD_DELETE_V2] = {"organizationFields.delete.v2", "DELETE",
                                  "/api/v2/organizationFields/{field_code}", "v2.yaml",
                                  "/organizationFields/{field_code}", 3, false},
    [PDSIM_OP_FIELD_OPTIONS_ADD] = {"organizationFields.options.add", "POST",
                                    "/api/v2/organizationFields/{field_code}/options", "v2.yaml",
                                    "/organizationFields/{field_code}/options", 5, false},
    [PDSIM_OP_FIELD_OPTIONS_UPDATE] = {"organizationFields.options.update", "PATCH",
                                       "/api/v2/organizationFields/{field_code}/options", "v2.yaml",
                                       "/organizationFields/{field_code}/options", 5, false},
    [PDSIM_OP_FIELD_OPTIONS_DELETE] = {"organizationFields.options.delete", "DELETE",
                                       "/api/v2/organizationFields/{field_code}/options", "v2.yaml",
                                       "/organizationFields/{field_code}/options", 3, false},
};

const struct pdsim_op_info *pdsim_op_info(enum pdsim_op op)
{
    if ((int)op < 0 || op >= PDSIM_OP_COUNT)
        return &ops[0];
    return &ops[op];
}
