/* mlc_sign.h - signed customer-change events: HMAC-SHA256 in a Kafka header.
 *
 * Anyone who can write to the event topic could otherwise make the loader
 * write anything into Pipedrive. With MLC_EVENT_KEY_FILE set, the extractor
 * signs each record's key and value and the loader verifies the signature
 * before it acts (docs/events.md, "Signatures", is the contract for other
 * producers, with a test vector).
 *
 * The bytes signed are
 *
 *     "mlc-event-sig-v1" 0x00  be32(len(key))  key  be32(len(value))  value
 *
 * (a null value counts as empty). Length prefixes keep the key/value
 * boundary unambiguous; the topic, partition, timestamp and the other
 * headers are not signed, so headers added later (a dead-letter reason, a
 * replay mark) leave the signature valid and a replayed dead letter keeps
 * its original one.
 *
 * The header MLC_SIGN_HEADER carries "v1:<key id>:<mac>": the key id is the
 * first 8 bytes of SHA-256 of the key, the mac the 32-byte HMAC, both in
 * lowercase hex. The key id lets a loader that holds a current and a
 * previous key (rotation without downtime) pick the right one, and tells
 * an operator which key signed a record without revealing it.
 *
 * Keys are files in the master key's format (32 random bytes in base64, one
 * line, mode 0600 or 0400; `mlc secret keygen --out FILE` writes one).
 * Nothing here allocates or logs; a key never leaves its struct.
 */
#ifndef MLC_SIGN_H
#define MLC_SIGN_H

#include "mlc_err.h"

#include <stdbool.h>
#include <stddef.h>

#define MLC_SIGN_HEADER    "mlc.signature"
#define MLC_SIGN_KEY_LEN   32
#define MLC_SIGN_KEY_ID_SZ 17 /* 16 hex digits and NUL */
/* "v1:" + 16 + ":" + 64 and NUL */
#define MLC_SIGN_VALUE_SZ 85

struct mlc_sign_key {
    unsigned char key[MLC_SIGN_KEY_LEN];
    char id[MLC_SIGN_KEY_ID_SZ];
};

/* What a verification found. Every value but OK means "do not act on the
 * record"; the names are the ones logged and put in dead-letter headers. */
enum mlc_sign_verdict {
    MLC_SIGN_OK,
    MLC_SIGN_MISSING,     /* no MLC_SIGN_HEADER */
    MLC_SIGN_MALFORMED,   /* not "v1:<16 hex>:<64 hex>" */
    MLC_SIGN_UNKNOWN_KEY, /* signed with a key this process does not hold */
    MLC_SIGN_MISMATCH,    /* the key id is known, the mac is wrong */
};

const char *mlc_sign_verdict_name(enum mlc_sign_verdict v);

/* Reads a key file (checks as mlc_secret_load_key) and derives its id. */
mlc_rc mlc_sign_key_load(const char *path, struct mlc_sign_key *k, struct mlc_err *err);

/* The key id and key from raw bytes (tests, and keys already in memory). */
void mlc_sign_key_set(struct mlc_sign_key *k, const unsigned char raw[MLC_SIGN_KEY_LEN]);

/* Writes the header value for (key, value) to out. MLC_FATAL only when
 * OpenSSL itself fails. */
mlc_rc mlc_sign_record(const struct mlc_sign_key *k, const void *key, size_t key_len,
                       const void *value, size_t value_len, char out[MLC_SIGN_VALUE_SZ],
                       struct mlc_err *err);

/* Checks hdr (the bytes of the record's last MLC_SIGN_HEADER, not
 * NUL-terminated; NULL when it has none) against keys[0..n_keys). *which (nullable) is the
 * index of the key that verified. The comparison is constant-time. */
enum mlc_sign_verdict mlc_sign_verify(const struct mlc_sign_key *keys, size_t n_keys,
                                      const void *key, size_t key_len, const void *value,
                                      size_t value_len, const void *hdr, size_t hdr_len,
                                      size_t *which);

#endif
