/* devbroker_ctl.c - HTTP control channel of `mlc devbroker` (see devbroker_ctl.h). */
#include "devbroker_ctl.h"
#include "mlc_alloc.h"

#include "mlc_buf.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_str.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BODY_CAP 4096

struct devbroker_ctl {
    struct MHD_Daemon *mhd;
    struct devbroker *db;
};

/* Per-request upload buffer. */
struct req {
    struct mlc_buf body;
    bool too_big;
};

static const struct {
    const char *name;
    int key;
} api_keys[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"DescribeGroups", 15},
    {"ListGroups", 16},      {"SaslHandshake", 17},
    {"ApiVersions", 18},     {"CreateTopics", 19},
    {"DeleteTopics", 20},    {"DeleteRecords", 21},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

int devbroker_api_key(const char *name)
{
    long v;

    if (!name)
        return -1;
    if (mlc_parse_long(name, 0, 100, &v))
        return (int)v;
    for (size_t i = 0; i < ARRAY_SIZE(api_keys); i++)
        if (!strcasecmp(api_keys[i].name, name))
            return api_keys[i].key;
    return -1;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, cJSON *doc)
{
    char *text = cJSON_PrintUnformatted(doc);
    struct MHD_Response *resp;
    enum MHD_Result r;

    cJSON_Delete(doc);
    if (!text)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    cJSON *doc = cJSON_CreateObject();

    cJSON_AddStringToObject(doc, "error", msg);
    return reply(conn, status, doc);
}

static enum MHD_Result reply_ok(struct MHD_Connection *conn)
{
    cJSON *doc = cJSON_CreateObject();

    cJSON_AddBoolToObject(doc, "ok", 1);
    return reply(conn, MHD_HTTP_OK, doc);
}

static enum MHD_Result status(struct devbroker *db, struct MHD_Connection *conn)
{
    cJSON *doc = cJSON_CreateObject(), *arr;

    pthread_mutex_lock(&db->mtx);
    cJSON_AddStringToObject(doc, "bootstrap", db->bootstrap);
    arr = cJSON_AddArrayToObject(doc, "brokers");
    for (int id = 1; id <= db->n_brokers; id++) {
        cJSON *b = cJSON_CreateObject();

        cJSON_AddNumberToObject(b, "id", id);
        cJSON_AddBoolToObject(b, "up", db->up[id]);
        cJSON_AddNumberToObject(b, "rtt_ms", db->rtt_ms[id]);
        cJSON_AddItemToArray(arr, b);
    }
    arr = cJSON_AddArrayToObject(doc, "topics");
    for (int i = 0; i < db->n_topics; i++) {
        cJSON *t = cJSON_CreateObject();

        cJSON_AddStringToObject(t, "name", db->topics[i].name);
        cJSON_AddNumberToObject(t, "partitions", db->topics[i].partitions);
        cJSON_AddItemToArray(arr, t);
    }
    pthread_mutex_unlock(&db->mtx);
    return reply(conn, MHD_HTTP_OK, doc);
}

/* /brokers/{id}/{down,up,rtt} */
static enum MHD_Result broker_op(struct devbroker *db, struct MHD_Connection *conn,
                                 const char *path, const cJSON *body)
{
    char idtxt[16], op[16];
    const char *slash;
    long id;
    rd_kafka_resp_err_t e;
    const cJSON *ms;

    path += strlen("/brokers/");
    slash = strchr(path, '/');
    if (!slash || (size_t)(slash - path) >= sizeof(idtxt))
        return reply_error(conn, MHD_HTTP_NOT_FOUND, "no such endpoint");
    memcpy(idtxt, path, (size_t)(slash - path));
    idtxt[slash - path] = '\0';
    mlc_strlcpy(op, slash + 1, sizeof(op));
    if (!mlc_parse_long(idtxt, 1, db->n_brokers, &id))
        return reply_error(conn, MHD_HTTP_NOT_FOUND, "no such broker");
    if (!strcmp(op, "down") || !strcmp(op, "up")) {
        bool up = !strcmp(op, "up");

        e = up ? rd_kafka_mock_broker_set_up(db->mock, (int32_t)id)
               : rd_kafka_mock_broker_set_down(db->mock, (int32_t)id);
        if (e)
            return reply_error(conn, MHD_HTTP_BAD_REQUEST, rd_kafka_err2str(e));
        pthread_mutex_lock(&db->mtx);
        db->up[id] = up;
        pthread_mutex_unlock(&db->mtx);
        mlc_info("devbroker: broker %ld %s", id, op);
        return reply_ok(conn);
    }
    if (!strcmp(op, "rtt")) {
        ms = cJSON_GetObjectItemCaseSensitive(body, "ms");
        if (!cJSON_IsNumber(ms) || ms->valuedouble < 0 || ms->valuedouble > 600000)
            return reply_error(conn, MHD_HTTP_BAD_REQUEST, "body must be {\"ms\":N}, 0..600000");
        e = rd_kafka_mock_broker_set_rtt(db->mock, (int32_t)id, ms->valueint);
        if (e)
            return reply_error(conn, MHD_HTTP_BAD_REQUEST, rd_kafka_err2str(e));
        pthread_mutex_lock(&db->mtx);
        db->rtt_ms[id] = ms->valueint;
        pthread_mutex_unlock(&db->mtx);
        mlc_info("devbroker: broker %ld rtt %d ms", id, ms->valueint);
        return reply_ok(conn);
    }
    return reply_error(conn, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

static enum MHD_Result push_errors(struct devbroker *db, struct MHD_Connection *conn,
                                   const cJSON *body)
{
    const cJSON *api = cJSON_GetObjectItemCaseSensitive(body, "api");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(body, "count");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(body, "error");
    rd_kafka_resp_err_t e, *errs;
    char num[32];
    int key;
    size_t n;

    if (cJSON_IsNumber(api)) {
        snprintf(num, sizeof(num), "%d", api->valueint);
        key = devbroker_api_key(num);
    } else {
        key = devbroker_api_key(cJSON_IsString(api) ? api->valuestring : NULL);
    }
    if (key < 0)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "unknown \"api\" (e.g. \"Produce\")");
    if (!cJSON_IsNumber(count) || count->valuedouble < 1 || count->valuedouble > 100000)
        return reply_error(conn, MHD_HTTP_BAD_REQUEST, "\"count\" must be 1..100000");
    if (cJSON_IsNumber(error)) {
        snprintf(num, sizeof(num), "%d", error->valueint);
        if (!mlc_kafka_parse_err(num, &e))
            return reply_error(conn, MHD_HTTP_BAD_REQUEST, "unknown \"error\"");
    } else if (!cJSON_IsString(error) || !mlc_kafka_parse_err(error->valuestring, &e)) {
        return reply_error(conn, MHD_HTTP_BAD_REQUEST,
                           "unknown \"error\" (a rd_kafka_resp_err_t name or number)");
    }
    n = (size_t)count->valueint;
    errs = mlc_xcalloc(n, sizeof(*errs));
    for (size_t i = 0; i < n; i++)
        errs[i] = e;
    rd_kafka_mock_push_request_errors_array(db->mock, (int16_t)key, n, errs);
    free(errs);
    mlc_info("devbroker: next %zu request(s) of api %d fail with %s", n, key, rd_kafka_err2name(e));
    return reply_ok(conn);
}

static enum MHD_Result clear_errors(struct devbroker *db, struct MHD_Connection *conn)
{
    for (int k = 0; k <= 70; k++)
        rd_kafka_mock_clear_request_errors(db->mock, (int16_t)k);
    mlc_info("devbroker: pushed errors cleared");
    return reply_ok(conn);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct devbroker_ctl *ctl = cls;
    struct req *rq = *con_cls;
    cJSON *body = NULL;
    enum MHD_Result r;

    if (!rq) {
        rq = mlc_xcalloc(1, sizeof(*rq));
        mlc_buf_init(&rq->body, BODY_CAP);
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        if (mlc_buf_append(&rq->body, upload, *upload_size) != MLC_OK)
            rq->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->too_big)
        return reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
    if (rq->body.len) {
        body = cJSON_ParseWithLength(mlc_buf_str(&rq->body), rq->body.len);
        if (!body)
            return reply_error(conn, MHD_HTTP_BAD_REQUEST, "body is not JSON");
    }
    if (!strcmp(url, "/status")) {
        r = strcmp(method, "GET") ? reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET")
                                  : status(ctl->db, conn);
    } else if (!strcmp(url, "/errors")) {
        if (!strcmp(method, "POST"))
            r = push_errors(ctl->db, conn, body);
        else if (!strcmp(method, "DELETE"))
            r = clear_errors(ctl->db, conn);
        else
            r = reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST or DELETE");
    } else if (mlc_str_startswith(url, "/brokers/")) {
        r = strcmp(method, "POST") ? reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST")
                                   : broker_op(ctl->db, conn, url, body);
    } else {
        r = reply_error(conn, MHD_HTTP_NOT_FOUND, "no such endpoint");
    }
    cJSON_Delete(body);
    return r;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct req *rq = *con_cls;

    if (rq) {
        mlc_buf_free(&rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

mlc_rc devbroker_ctl_start(struct devbroker *db, struct devbroker_ctl **out, int *port,
                           struct mlc_err *err)
{
    struct devbroker_ctl *ctl;
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;

    *out = NULL;
    ctl = mlc_xcalloc(1, sizeof(*ctl));
    ctl->db = db;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ctl->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                handle, ctl, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!ctl->mhd) {
        free(ctl);
        return mlc_err_set(err, MLC_FATAL, "devbroker control: cannot listen on 127.0.0.1");
    }
    info = MHD_get_daemon_info(ctl->mhd, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : 0;
    *out = ctl;
    return MLC_OK;
}

void devbroker_ctl_stop(struct devbroker_ctl *ctl)
{
    if (!ctl)
        return;
    MHD_stop_daemon(ctl->mhd);
    free(ctl);
}
