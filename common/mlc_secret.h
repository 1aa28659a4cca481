/* mlc_secret.h - secrets at rest: enc:v2:<base64> values, AES-256-GCM.
 *
 * Format: "enc:v2:" + base64(nonce[12] || ciphertext || tag[16]), with the
 * additional data "mlc:v2:" + the setting's name (MLC_PIPEDRIVE_TOKEN), so a
 * value sealed for one setting does not open as another (a token pasted
 * into the password setting fails instead of being sent to Sage). Values of
 * the first format, "enc:v1:" with the additional data "mlc:v1", still open
 * for any setting; `mlc secret reencrypt` turns them into enc:v2. Any change
 * to the value, another key or another setting fails authentication
 * (MLC_FATAL: the configuration is wrong, not the input).
 *
 * The key file holds 32 random bytes in base64 (one line, as written by
 * `mlc secret keygen`). It must be readable by its owner only (0600 or
 * 0400); anything more open is refused with the chmod that fixes it.
 */
#ifndef MLC_SECRET_H
#define MLC_SECRET_H

#include "mlc_err.h"

#include <stdbool.h>
#include <stddef.h>

#define MLC_SECRET_KEY_LEN   32
#define MLC_SECRET_PREFIX    "enc:v2:"
#define MLC_SECRET_PREFIX_V1 "enc:v1:"

bool mlc_secret_is_encrypted(const char *value);

/* Reads and checks a key file (permissions, length). */
mlc_rc mlc_secret_load_key(const char *path, unsigned char key[MLC_SECRET_KEY_LEN],
                           struct mlc_err *err);

/* Fills key with random bytes and writes its base64 form (45 bytes with the
 * NUL) to out. */
mlc_rc mlc_secret_keygen(unsigned char key[MLC_SECRET_KEY_LEN], char *out, size_t outsz,
                         struct mlc_err *err);

/* *out is a new string (caller frees): "enc:v2:..." bound to setting (the
 * full name, MLC_...) for encrypt, the plain text for decrypt (which opens
 * enc:v1: values whatever setting they are given for). Plain text must not
 * contain NUL bytes. */
mlc_rc mlc_secret_encrypt(const unsigned char key[MLC_SECRET_KEY_LEN], const char *setting,
                          const char *plain, char **out, struct mlc_err *err);
mlc_rc mlc_secret_decrypt(const unsigned char key[MLC_SECRET_KEY_LEN], const char *setting,
                          const char *value, char **out, struct mlc_err *err);

/* Standard base64 (with padding). *out is new (caller frees). encode always
 * returns MLC_OK; decode returns MLC_PERM on malformed input. */
mlc_rc mlc_base64_encode(const unsigned char *in, size_t n, char **out);
mlc_rc mlc_base64_decode(const char *in, unsigned char **out, size_t *n);

#endif
