/* fuzz_secret.c - libFuzzer target for mlc_secret_decrypt (common/mlc_secret.h):
 * enc:v2: and enc:v1: values opened with a fixed key.
 *
 * Input: byte 0 picks the setting the value is opened for (bits 0-2, from
 * settings[] below, including NULL, "" and a name too long for the additional
 * data) and the mode (bit 3); the rest, up to its first NUL, is
 *   - mode 0: the configured value, handed to mlc_secret_decrypt;
 *   - mode 1: a plain text, sealed with mlc_secret_encrypt for the setting and
 *     then opened again (the round trip).
 *
 * Properties checked besides memory errors and UB:
 *   - decrypt gives MLC_OK only for a value that really is sealed with this
 *     key for this setting (enc:v2:, additional data "mlc:v2:" + setting) or
 *     with this key at all (enc:v1:, "mlc:v1"): the harness re-checks every
 *     success with its own AES-256-GCM (OpenSSL EVP) on its own base64
 *     decoding, and the plain text returned must be exactly what that opens;
 *   - on failure: MLC_FATAL with a one-line message, *out left NULL (no plain
 *     text, authenticated or not, reaches the caller), and the message does
 *     not echo the value;
 *   - round trip: what encrypt seals for setting S opens for S to the same
 *     plain text, does not open for another setting, and stops opening
 *     when one character of its base64 is changed, including the bits of a
 *     padded last character that carry no data.
 */
#include "fuzz_common.h"

#include "mlc_secret.h"

#include <openssl/evp.h>
#include <string.h>

static const unsigned char key[MLC_SECRET_KEY_LEN] = {
    0x6d, 0x6c, 0x63, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x30, 0x31, 0x32,
    0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
}; /* "mlc-fuzz-key-0123456789abcdefghi", also used to make the seeds */

static const char long_name[] =
    "MLC_"
    "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
    "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";

static const char *const settings[8] = {
    "MLC_SAGE_PASSWORD",
    "MLC_PIPEDRIVE_TOKEN",
    "MLC_KAFKA_SASL_PASSWORD",
    "MLC_SAGE_USER",
    NULL,
    "",
    long_name,
    "MLC_SAGE_PASSWORD",
};

/* Independent opening: base64 (strict, with padding) + AES-256-GCM. Returns
 * the plain length, or -1 when the value does not authenticate. */
static int reference_open(const char *b64, const char *aad, unsigned char *plain, size_t cap)
{
    size_t len = strlen(b64), n;
    unsigned char *blob;
    EVP_CIPHER_CTX *ctx;
    int out = -1, l1 = 0, l2 = 0;

    if (len == 0 || len % 4 != 0)
        return -1;
    blob = malloc(len / 4 * 3 + 1);
    FUZZ_CHECK(blob, "malloc");
    l1 = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)len);
    if (l1 < 0)
        goto out;
    n = (size_t)l1;
    if (b64[len - 1] == '=')
        n--;
    if (b64[len - 2] == '=')
        n--;
    if (n < 12 + 16 || n - 28 > cap)
        goto out;
    ctx = EVP_CIPHER_CTX_new();
    FUZZ_CHECK(ctx, "EVP_CIPHER_CTX_new");
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
        EVP_DecryptInit_ex(ctx, NULL, NULL, key, blob) == 1 &&
        EVP_DecryptUpdate(ctx, NULL, &l1, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
        EVP_DecryptUpdate(ctx, plain, &l1, blob + 12, (int)(n - 28)) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, blob + n - 16) == 1 &&
        EVP_DecryptFinal_ex(ctx, plain + l1, &l2) == 1)
        out = l1 + l2;
    EVP_CIPHER_CTX_free(ctx);
out:
    free(blob);
    return out;
}

static void check_failure(const char *setting, mlc_rc rc, const char *out,
                          const struct mlc_err *err, const char *value)
{
    FUZZ_CHECK(rc != MLC_OK, "not a failure");
    FUZZ_CHECK(out == NULL, "failure left plain text in *out");
    FUZZ_CHECK(err->msg[0] != '\0', "failure without a message");
    for (const char *p = err->msg; *p; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20, "control byte in message");
    /* The value's payload (past the prefix) never appears in the message,
     * unless it also appears for a canary payload (the payload happens to
     * spell part of a fixed message, e.g. "xxxxxxxnot an enc"). */
    if (strlen(value) > 7 + 8) {
        char probe[9], canary[32];
        struct mlc_err cerr = {0};
        char *cout = NULL;

        memcpy(probe, value + 7, 8);
        probe[8] = '\0';
        snprintf(canary, sizeof(canary), "%.7s%s", value, "@@@@@@@@@@@@");
        (void)mlc_secret_decrypt(key, setting, canary, &cout, &cerr);
        free(cout);
        FUZZ_CHECK(strstr(err->msg, probe) == NULL || strstr(cerr.msg, probe) != NULL,
                   "message echoes the value: %s", err->msg);
    }
}

static void check_decrypt(const char *setting, const char *value)
{
    struct mlc_err err = {0};
    char *out = NULL, aad[200];
    unsigned char *plain;
    size_t cap = strlen(value) + 1;
    bool v1 = strncmp(value, MLC_SECRET_PREFIX_V1, 7) == 0;
    bool v2 = strncmp(value, MLC_SECRET_PREFIX, 7) == 0;
    int n = -1;
    mlc_rc rc;

    rc = mlc_secret_decrypt(key, setting, value, &out, &err);
    fuzz_report("decrypt", rc, err.msg);
    if (rc != MLC_OK) {
        FUZZ_CHECK(rc == MLC_FATAL || rc == MLC_PERM, "rc %d: %s", (int)rc, err.msg);
        check_failure(setting, rc, out, &err, value);
        return;
    }
    FUZZ_CHECK(out != NULL, "MLC_OK without plain text");
    FUZZ_CHECK(v1 || v2, "opened a value without enc:v1:/enc:v2: prefix");
    FUZZ_CHECK(mlc_secret_is_encrypted(value), "opened a value it calls not encrypted");
    if (v1) {
        snprintf(aad, sizeof(aad), "mlc:v1");
    } else {
        FUZZ_CHECK(setting && *setting && strlen(setting) + 7 < 160,
                   "enc:v2 opened without a usable setting name");
        snprintf(aad, sizeof(aad), "mlc:v2:%s", setting);
    }
    plain = malloc(cap);
    FUZZ_CHECK(plain, "malloc");
    n = reference_open(value + 7, aad, plain, cap);
    FUZZ_CHECK(n >= 0, "MLC_OK for a value not sealed with this key for %s: %s",
               setting ? setting : "(null)", value);
    FUZZ_CHECK(strlen(out) == (size_t)n && memcmp(out, plain, (size_t)n) == 0,
               "plain text differs from the reference opening");
    free(plain);
    free(out);
}

static void round_trip(const char *setting, const char *plain)
{
    struct mlc_err err = {0};
    char *sealed = NULL, *out = NULL;
    const char *other;
    size_t i;
    mlc_rc rc;

    rc = mlc_secret_encrypt(key, setting, plain, &sealed, &err);
    fuzz_report("encrypt", rc, err.msg);
    if (rc != MLC_OK) {
        FUZZ_CHECK(rc == MLC_PERM && !sealed && err.msg[0], "encrypt rc %d: %s", (int)rc, err.msg);
        FUZZ_CHECK(!setting || !*setting || setting == long_name, "encrypt refused %s: %s", setting,
                   err.msg);
        return;
    }
    FUZZ_CHECK(strncmp(sealed, MLC_SECRET_PREFIX, 7) == 0 && mlc_secret_is_encrypted(sealed),
               "sealed value is not enc:v2");
    FUZZ_CHECK(strstr(sealed + 7, "\n") == NULL, "sealed value spans lines");
    rc = mlc_secret_decrypt(key, setting, sealed, &out, &err);
    FUZZ_CHECK(rc == MLC_OK && out && strcmp(out, plain) == 0, "round trip failed: %s", err.msg);
    free(out);
    out = NULL;

    other =
        strcmp(setting, "MLC_PIPEDRIVE_TOKEN") == 0 ? "MLC_SAGE_PASSWORD" : "MLC_PIPEDRIVE_TOKEN";
    rc = mlc_secret_decrypt(key, other, sealed, &out, &err);
    FUZZ_CHECK(rc != MLC_OK, "a value sealed for %s opened for %s", setting, other);
    check_failure(other, rc, out, &err, sealed);

    /* A padded value leaves bits of its last character unused: setting one
     * gives another string for the same bytes, which must not open either
     * (any change to the value fails). */
    i = strlen(sealed);
    if (sealed[i - 1] == '=') {
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char keep, *last = &sealed[sealed[i - 2] == '=' ? i - 3 : i - 2];

        keep = *last;
        *last = b64[(strchr(b64, *last) - b64) ^ 1];
        rc = mlc_secret_decrypt(key, setting, sealed, &out, &err);
        FUZZ_CHECK(rc != MLC_OK, "a value with altered padding bits opened: %s", sealed);
        check_failure(setting, rc, out, &err, sealed);
        *last = keep;
    }

    /* Change one base64 character (to another base64 character that changes
     * the decoded bytes: the first character carries 6 bits of the nonce). */
    i = 7;
    sealed[i] = sealed[i] == 'A' ? 'B' : 'A';
    rc = mlc_secret_decrypt(key, setting, sealed, &out, &err);
    FUZZ_CHECK(rc != MLC_OK, "an altered value opened");
    check_failure(setting, rc, out, &err, sealed);
    free(sealed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *setting;
    char *s;
    unsigned opts;

    if (size < 1)
        return 0;
    opts = data[0];
    setting = settings[opts & 7];
    s = malloc(size);
    FUZZ_CHECK(s, "malloc");
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0'; /* the value is a C string: up to the first NUL */
    if (opts & 8)
        round_trip(setting, s);
    else
        check_decrypt(setting, s);
    free(s);
    return 0;
}
