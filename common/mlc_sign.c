/* mlc_sign.c - HMAC-SHA256 event signatures (see mlc_sign.h). */
#include "mlc_sign.h"
#include "mlc_alloc.h"
#include "mlc_secret.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <stdint.h>
#include <string.h>

#define DOMAIN     "mlc-event-sig-v1"
#define MAC_LEN    32
#define ID_BYTES   8
#define VERSION    "v1:"
#define VERSION_SZ (sizeof(VERSION) - 1)

_Static_assert(MLC_SIGN_KEY_LEN == MLC_SECRET_KEY_LEN, "event keys are master-key files");
_Static_assert(MLC_SIGN_VALUE_SZ == VERSION_SZ + 2 * ID_BYTES + 1 + 2 * MAC_LEN + 1,
               "header value size");

static const char HEX[] = "0123456789abcdef";

const char *mlc_sign_verdict_name(enum mlc_sign_verdict v)
{
    static const char *const names[] = {
        [MLC_SIGN_OK] = "ok",
        [MLC_SIGN_MISSING] = "missing",
        [MLC_SIGN_MALFORMED] = "malformed",
        [MLC_SIGN_UNKNOWN_KEY] = "unknown key",
        [MLC_SIGN_MISMATCH] = "mismatch",
    };

    return (unsigned)v < ARRAY_SIZE(names) ? names[v] : "?";
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[in[i] >> 4];
        out[2 * i + 1] = HEX[in[i] & 15];
    }
}

/* Lowercase hex only: one spelling per signature. */
static bool unhex(const char *in, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *hi = memchr(HEX, in[2 * i], 16), *lo = memchr(HEX, in[2 * i + 1], 16);

        if (!hi || !lo || !in[2 * i] || !in[2 * i + 1])
            return false;
        out[i] = (unsigned char)((hi - HEX) << 4 | (lo - HEX));
    }
    return true;
}

void mlc_sign_key_set(struct mlc_sign_key *k, const unsigned char raw[MLC_SIGN_KEY_LEN])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;

    memcpy(k->key, raw, MLC_SIGN_KEY_LEN);
    /* SHA-256 of 32 bytes cannot fail short of a broken OpenSSL; an id of
     * zeros then matches no signature, which fails closed. */
    if (!EVP_Digest(raw, MLC_SIGN_KEY_LEN, digest, &dlen, EVP_sha256(), NULL))
        memset(digest, 0, sizeof(digest));
    hex(digest, ID_BYTES, k->id);
    k->id[2 * ID_BYTES] = '\0';
}

mlc_rc mlc_sign_key_load(const char *path, struct mlc_sign_key *k, struct mlc_err *err)
{
    unsigned char raw[MLC_SIGN_KEY_LEN];
    mlc_rc rc = mlc_secret_load_key(path, raw, err);

    if (rc == MLC_OK)
        mlc_sign_key_set(k, raw);
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc;
}

static void be32(size_t n, unsigned char out[4])
{
    uint32_t v = (uint32_t)n;

    out[0] = (unsigned char)(v >> 24);
    out[1] = (unsigned char)(v >> 16);
    out[2] = (unsigned char)(v >> 8);
    out[3] = (unsigned char)v;
}

static mlc_rc mac(const struct mlc_sign_key *k, const void *key, size_t key_len, const void *value,
                  size_t value_len, unsigned char out[MAC_LEN], struct mlc_err *err)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    unsigned char klen[4], vlen[4];
    size_t outl = 0;
    mlc_rc rc = MLC_OK;

    be32(key_len, klen);
    be32(value ? value_len : 0, vlen);
    if (!ctx || !EVP_MAC_init(ctx, k->key, MLC_SIGN_KEY_LEN, params) ||
        !EVP_MAC_update(ctx, (const unsigned char *)DOMAIN, sizeof(DOMAIN)) ||
        !EVP_MAC_update(ctx, klen, 4) || (key_len && !EVP_MAC_update(ctx, key, key_len)) ||
        !EVP_MAC_update(ctx, vlen, 4) ||
        (value && value_len && !EVP_MAC_update(ctx, value, value_len)) ||
        !EVP_MAC_final(ctx, out, &outl, MAC_LEN) || outl != MAC_LEN)
        rc = mlc_err_set(err, MLC_FATAL, "event signature: OpenSSL HMAC-SHA256 failed");
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    return rc;
}

mlc_rc mlc_sign_record(const struct mlc_sign_key *k, const void *key, size_t key_len,
                       const void *value, size_t value_len, char out[MLC_SIGN_VALUE_SZ],
                       struct mlc_err *err)
{
    unsigned char m[MAC_LEN];
    mlc_rc rc = mac(k, key, key_len, value, value_len, m, err);
    char *p = out;

    if (rc != MLC_OK)
        return rc;
    memcpy(p, VERSION, VERSION_SZ);
    p += VERSION_SZ;
    memcpy(p, k->id, 2 * ID_BYTES);
    p += 2 * ID_BYTES;
    *p++ = ':';
    hex(m, MAC_LEN, p);
    p[2 * MAC_LEN] = '\0';
    return MLC_OK;
}

enum mlc_sign_verdict mlc_sign_verify(const struct mlc_sign_key *keys, size_t n_keys,
                                      const void *key, size_t key_len, const void *value,
                                      size_t value_len, const void *hdr, size_t hdr_len,
                                      size_t *which)
{
    const char *h = hdr;
    unsigned char want[MAC_LEN], got[MAC_LEN], id[ID_BYTES];

    if (!hdr)
        return MLC_SIGN_MISSING;
    if (hdr_len != MLC_SIGN_VALUE_SZ - 1 || memcmp(h, VERSION, VERSION_SZ) ||
        !unhex(h + VERSION_SZ, ID_BYTES, id) || h[VERSION_SZ + 2 * ID_BYTES] != ':' ||
        !unhex(h + VERSION_SZ + 2 * ID_BYTES + 1, MAC_LEN, got))
        return MLC_SIGN_MALFORMED;
    for (size_t i = 0; i < n_keys; i++) {
        struct mlc_err e = {0};

        if (memcmp(h + VERSION_SZ, keys[i].id, 2 * ID_BYTES))
            continue;
        if (mac(&keys[i], key, key_len, value, value_len, want, &e) != MLC_OK)
            return MLC_SIGN_MISMATCH;
        if (CRYPTO_memcmp(want, got, MAC_LEN))
            return MLC_SIGN_MISMATCH;
        if (which)
            *which = i;
        return MLC_SIGN_OK;
    }
    return MLC_SIGN_UNKNOWN_KEY;
}
