/* ld_sign.h - the loader's side of signed events (mlc_sign.h): the keys it
 * accepts and the check of one record. A leaf: no struct ld.
 */
#ifndef LD_SIGN_H
#define LD_SIGN_H

#include "mlc_config.h"
#include "mlc_err.h"
#include "mlc_sign.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

/* MLC_EVENT_KEY_FILE and MLC_EVENT_KEY_FILE_PREVIOUS; n == 0: no check. */
struct ld_sign {
    struct mlc_sign_key keys[2];
    size_t n;
};

/* Loads the configured keys and says in one line what is checked. A
 * previous key without a current one is a configuration error. */
mlc_rc ld_sign_load(const struct mlc_config *cfg, struct ld_sign *s, struct mlc_err *err);

/* true when s holds no key or m's signature verifies with one of them;
 * otherwise false with the reason ("signature: mismatch (key id ...)") in
 * reason, for the dead letter. */
bool ld_sign_check(const struct ld_sign *s, const rd_kafka_message_t *m, char *reason,
                   size_t reason_sz);

#endif
