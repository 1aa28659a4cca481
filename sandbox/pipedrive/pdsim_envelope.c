/* pdsim_envelope.c - Pipedrive's JSON envelopes: success, error, validation
 * error, 404/410 for missing or deleted entities, and sim_core's fault bodies. */
#include "pdsim_internal.h"

void pdsim_ok_json(struct sim_response *res, cJSON *data, cJSON *additional)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddTrueToObject(doc, "success");
    cJSON_AddItemToObject(doc, "data", data ? data : cJSON_CreateNull());
    if (additional)
        cJSON_AddItemToObject(doc, "additional_data", additional);
    sim_response_json(res, 200, doc);
}

void pdsim_error_envelope(struct sim_response *res, int status, const char *error, const char *info)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddFalseToObject(doc, "success");
    cJSON_AddStringToObject(doc, "error", error);
    cJSON_AddStringToObject(doc, "error_info",
                            info ? info : "Please check developers.pipedrive.com");
    cJSON_AddNullToObject(doc, "data");
    cJSON_AddNullToObject(doc, "additional_data");
    sim_response_json(res, status, doc);
}

void pdsim_validation_error(struct pdsim *sim, struct sim_response *res, const char *msg)
{
    cJSON *doc = cJSON_CreateObject();
    sim->validation_failures++;
    cJSON_AddFalseToObject(doc, "success");
    cJSON_AddStringToObject(doc, "error", msg);
    cJSON_AddStringToObject(doc, "code", "ERR_SCHEMA_VALIDATION_FAILED");
    cJSON_AddStringToObject(doc, "error_info", "Please check developers.pipedrive.com");
    cJSON_AddNullToObject(doc, "data");
    cJSON_AddNullToObject(doc, "additional_data");
    sim_response_json(res, 400, doc);
}

void pdsim_not_found(struct sim_response *res)
{
    pdsim_error_envelope(res, 404, "Entity was not found", "Object was not found.");
}

void pdsim_gone_or_missing(struct pdsim *sim, struct sim_response *res)
{
    if (sim->opt.deleted_status == 410)
        pdsim_error_envelope(res, 410, "Entity is gone", "Object was deleted.");
    else
        pdsim_not_found(res);
}

cJSON *pdsim_fault_body(void *ctx, int status)
{
    cJSON *doc = cJSON_CreateObject();
    const char *error = status == 429   ? "Request over limit"
                        : status == 503 ? "Service is temporarily unavailable"
                        : status >= 500 ? "An internal server error occurred"
                        : status == 401 ? "unauthorized access"
                                        : "Requested service is not available";
    (void)ctx;
    cJSON_AddFalseToObject(doc, "success");
    cJSON_AddStringToObject(doc, "error", error);
    cJSON_AddNumberToObject(doc, "errorCode", status);
    cJSON_AddStringToObject(doc, "error_info", "Please check developers.pipedrive.com");
    cJSON_AddNullToObject(doc, "data");
    cJSON_AddNullToObject(doc, "additional_data");
    return doc;
}
