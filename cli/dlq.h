/* dlq.h - the dead-letter topic as `mlc dlq` sees it (private to cli/).
 *
 * dlq_read() reads the whole dead-letter topic once (mlc_kafka_reader: no
 * group, nothing committed) into memory; each entry keeps the original key,
 * value and headers and the facts the loader added (docs/loader.md, the
 * mlc.* headers). dlq_replay_* record in the tool's own SQLite file which
 * dead letters were re-produced, so a second replay of the same selection
 * does nothing unless asked.
 *
 * Ownership: a struct dlq_set owns its entries and every string in them
 * (dlq_set_free). A struct dlq_log is opened and closed by its functions.
 */
#ifndef MLC_CLI_DLQ_H
#define MLC_CLI_DLQ_H

#include "mlc_config.h"
#include "mlc_err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dlq_header {
    char *name;
    char *value; /* NUL-terminated copy; NULL for a null header */
    size_t len;
};

struct dlq_entry {
    int32_t partition; /* in the dead-letter topic */
    int64_t offset;
    char *key;   /* NUL-terminated copy, "" when none */
    char *value; /* NUL-terminated copy of the event as the loader got it */
    size_t value_len;
    struct dlq_header *h;
    size_t n_h;
    /* from the loader's headers ("" when absent) */
    const char *cls, *error, *orig_topic, *failed_at;
    int32_t orig_partition; /* -1 when absent */
    int64_t orig_offset;    /* -1 when absent */
    bool replayed;          /* filled by dlq_log_mark */
};

struct dlq_set {
    struct dlq_entry *e;
    size_t n;
};

/* The dead-letter topic's entries in (partition, offset) order. A topic that
 * does not exist yet is an empty set. */
mlc_rc dlq_read(const struct mlc_config *cfg, const char *topic, struct dlq_set *set,
                struct mlc_err *err);
void dlq_set_free(struct dlq_set *set);

/* Headers the loader adds when it dead-letters an event; a replay drops
 * them (and an earlier replay mark) and keeps every other header, the
 * signature included. */
bool dlq_header_is_ours(const char *name);

struct dlq_log;

/* The replay record (path created if missing). */
mlc_rc dlq_log_open(const char *path, struct dlq_log **out, struct mlc_err *err);
void dlq_log_close(struct dlq_log *log);
/* Sets ->replayed of every entry of set that the log holds. */
mlc_rc dlq_log_mark(struct dlq_log *log, const char *dlq_topic, struct dlq_set *set,
                    struct mlc_err *err);
/* Records that e (of dlq_topic) was re-produced to topic. */
mlc_rc dlq_log_add(struct dlq_log *log, const char *dlq_topic, const struct dlq_entry *e,
                   const char *topic, struct mlc_err *err);

#endif
