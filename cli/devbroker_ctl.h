/* devbroker_ctl.h - the HTTP control channel of `mlc devbroker`.
 *
 * A libmicrohttpd server on 127.0.0.1 (port 0) that lets reliability tests
 * inject faults into the librdkafka mock cluster:
 *
 *   POST   /brokers/{id}/down         take a broker down (data is kept)
 *   POST   /brokers/{id}/up           bring it back
 *   POST   /brokers/{id}/rtt          {"ms":N}  add N ms round-trip time
 *   POST   /errors                    {"api":"Produce"|number, "count":N,
 *                                      "error":"NAME"|number}: the next N
 *                                      requests of that API fail with error
 *   DELETE /errors                    forget every pushed error (all APIs)
 *   GET    /status                    {"bootstrap":..., "brokers":[...], "topics":[...]}
 *
 * Replies are JSON: {"ok":true} or {"error":"..."} with 400/404/405.
 */
#ifndef DEVBROKER_CTL_H
#define DEVBROKER_CTL_H

#include "mlc_err.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdbool.h>

#define DEVBROKER_MAX_BROKERS 16
#define DEVBROKER_MAX_TOPICS  32

struct devbroker_topic {
    char name[250];
    int partitions;
};

/* State shared between the main thread and the HTTP thread (under mtx). */
struct devbroker {
    rd_kafka_mock_cluster_t *mock;
    const char *bootstrap; /* borrowed from the mock */
    int n_brokers;
    bool up[DEVBROKER_MAX_BROKERS + 1]; /* by broker id 1..n */
    int rtt_ms[DEVBROKER_MAX_BROKERS + 1];
    struct devbroker_topic topics[DEVBROKER_MAX_TOPICS];
    int n_topics;
    pthread_mutex_t mtx;
};

struct devbroker_ctl;

/* Starts the control server on 127.0.0.1:0 serving db (borrowed; must
 * outlive the server). *port receives the bound port. */
mlc_rc devbroker_ctl_start(struct devbroker *db, struct devbroker_ctl **out, int *port,
                           struct mlc_err *err);
void devbroker_ctl_stop(struct devbroker_ctl *ctl);

/* Kafka protocol ApiKey by name ("Produce", "fetch", "InitProducerId", ...)
 * or number; -1 when unknown. */
int devbroker_api_key(const char *name);

#endif
