/* mlc_secret.c - AES-256-GCM secrets and base64, see mlc_secret.h. */
#include "mlc_secret.h"
#include "mlc_alloc.h"
#include "mlc_str.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NONCE_LEN 12
#define TAG_LEN   16
#define AAD_V1    "mlc:v1"
#define AAD_V2    "mlc:v2:" /* + the setting's name */
#define AAD_MAX   160

bool mlc_secret_is_encrypted(const char *value)
{
    return value && (mlc_str_startswith(value, MLC_SECRET_PREFIX) ||
                     mlc_str_startswith(value, MLC_SECRET_PREFIX_V1));
}

mlc_rc mlc_base64_encode(const unsigned char *in, size_t n, char **out)
{
    char *s = mlc_xmalloc(4 * ((n + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)s, in, (int)n);
    *out = s;
    return MLC_OK;
}

mlc_rc mlc_base64_decode(const char *in, unsigned char **out, size_t *n)
{
    size_t len = strlen(in);
    unsigned char *p;
    int got;

    if (len == 0 || len % 4 || len > (1u << 20))
        return MLC_PERM;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || (c == '=' && i >= len - 2);
        if (!ok || (i == len - 2 && c == '=' && in[len - 1] != '='))
            return MLC_PERM;
    }
    /* Canonical form only: the bits a padded last group leaves unused must be
     * zero, otherwise another string decodes to the same bytes and a changed
     * value would still open (mlc_secret.h: any change fails). */
    if (in[len - 1] == '=') {
        const char *last = in[len - 2] == '=' ? &in[len - 3] : &in[len - 2];
        int v = *last >= 'a'   ? *last - 'a' + 26
                : *last >= 'A' ? *last - 'A'
                : *last >= '0' ? *last - '0' + 52
                : *last == '+' ? 62
                               : 63;

        if (v & (in[len - 2] == '=' ? 0x0f : 0x03))
            return MLC_PERM;
    }
    p = mlc_xmalloc(len / 4 * 3 + 1);
    got = EVP_DecodeBlock(p, (const unsigned char *)in, (int)len);
    if (got < 0) {
        free(p);
        return MLC_PERM;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    if (in[len - 1] == '=')
        got--;
    if (in[len - 2] == '=')
        got--;
    *out = p;
    *n = (size_t)got;
    return MLC_OK;
}

mlc_rc mlc_secret_load_key(const char *path, unsigned char key[MLC_SECRET_KEY_LEN],
                           struct mlc_err *err)
{
    char text[128];
    unsigned char *raw = NULL;
    size_t n = 0;
    struct stat st;
    ssize_t got;
    int fd;
    mlc_rc rc;

    /* O_NONBLOCK: a FIFO planted at the path must not hang start-up. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return mlc_err_set(err, MLC_FATAL, "MLC_MASTER_KEY_FILE %s: cannot open: %s", path,
                           strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mlc_err_set(err, MLC_FATAL, "MLC_MASTER_KEY_FILE %s: not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return mlc_err_set(err, MLC_FATAL,
                           "MLC_MASTER_KEY_FILE %s: mode %04o lets others read the key; "
                           "fix it with: chmod 600 %s",
                           path, (unsigned)(st.st_mode & 07777), path);
    }
    got = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (got < 0)
        return mlc_err_set(err, MLC_FATAL, "MLC_MASTER_KEY_FILE %s: cannot read: %s", path,
                           strerror(errno));
    if ((size_t)got == sizeof(text) - 1) {
        OPENSSL_cleanse(text, sizeof(text));
        return mlc_err_set(err, MLC_FATAL,
                           "MLC_MASTER_KEY_FILE %s: too long for a 32-byte base64 key "
                           "(create one with: mlc secret keygen --out %s)",
                           path, path);
    }
    text[got] = '\0';
    rc = mlc_base64_decode(mlc_str_trim(text), &raw, &n);
    if (rc != MLC_OK || n != MLC_SECRET_KEY_LEN) {
        if (raw)
            OPENSSL_cleanse(raw, n);
        free(raw);
        OPENSSL_cleanse(text, sizeof(text));
        return mlc_err_set(err, MLC_FATAL,
                           "MLC_MASTER_KEY_FILE %s: not a 32-byte base64 key "
                           "(create one with: mlc secret keygen --out %s)",
                           path, path);
    }
    memcpy(key, raw, MLC_SECRET_KEY_LEN);
    OPENSSL_cleanse(raw, n);
    OPENSSL_cleanse(text, sizeof(text));
    free(raw);
    return MLC_OK;
}

mlc_rc mlc_secret_keygen(unsigned char key[MLC_SECRET_KEY_LEN], char *out, size_t outsz,
                         struct mlc_err *err)
{
    char *b64 = NULL;

    if (RAND_bytes(key, MLC_SECRET_KEY_LEN) != 1)
        return mlc_err_set(err, MLC_FATAL, "no random bytes from OpenSSL");
    mlc_base64_encode(key, MLC_SECRET_KEY_LEN, &b64);
    if (!mlc_strlcpy(out, b64, outsz)) {
        OPENSSL_cleanse(b64, strlen(b64));
        OPENSSL_cleanse(out, outsz);
        free(b64);
        return mlc_err_set(err, MLC_FATAL, "key buffer too small");
    }
    OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
    return MLC_OK;
}

/* One cipher pass; encrypt=1 seals, encrypt=0 opens and checks the tag. */
static int gcm(int encrypt, const unsigned char *key, const char *aad, const unsigned char *nonce,
               const unsigned char *in, int inlen, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0, ok = 0;

    if (!ctx)
        return -1;
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, encrypt) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_CipherUpdate(ctx, out, &len, in, inlen) != 1)
        goto out;
    if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1)
        goto out;
    if (EVP_CipherFinal_ex(ctx, out + len, &fin) != 1)
        goto out;
    if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
        goto out;
    ok = 1;
out:
    EVP_CIPHER_CTX_free(ctx);
    return ok ? len + fin : -1;
}

/* The additional data a value is sealed with: its format, and for enc:v2
 * the setting it belongs to. */
static mlc_rc aad_for(const char *setting, char aad[AAD_MAX], struct mlc_err *err)
{
    if (!setting || !*setting || strlen(setting) + strlen(AAD_V2) >= AAD_MAX)
        return mlc_err_set(err, MLC_PERM, "a sealed secret needs the name of its setting");
    snprintf(aad, AAD_MAX, "%s%s", AAD_V2, setting);
    return MLC_OK;
}

mlc_rc mlc_secret_encrypt(const unsigned char key[MLC_SECRET_KEY_LEN], const char *setting,
                          const char *plain, char **out, struct mlc_err *err)
{
    size_t n = strlen(plain), total = NONCE_LEN + n + TAG_LEN;
    unsigned char *blob = NULL;
    char *b64 = NULL, *s = NULL, aad[AAD_MAX];
    mlc_rc rc = MLC_FATAL;

    if (n > 64 * 1024)
        return mlc_err_set(err, MLC_PERM, "secret longer than 64 KiB");
    if (aad_for(setting, aad, err) != MLC_OK)
        return MLC_PERM;
    blob = mlc_xmalloc(total);
    if (RAND_bytes(blob, NONCE_LEN) != 1) {
        mlc_err_set(err, MLC_FATAL, "no random bytes from OpenSSL");
        goto out;
    }
    if (gcm(1, key, aad, blob, (const unsigned char *)plain, (int)n, blob + NONCE_LEN,
            blob + NONCE_LEN + n) < 0) {
        mlc_err_set(err, MLC_FATAL, "AES-256-GCM encryption failed");
        goto out;
    }
    mlc_base64_encode(blob, total, &b64);
    s = mlc_xmalloc(strlen(MLC_SECRET_PREFIX) + strlen(b64) + 1);
    memcpy(s, MLC_SECRET_PREFIX, strlen(MLC_SECRET_PREFIX));
    memcpy(s + strlen(MLC_SECRET_PREFIX), b64, strlen(b64) + 1);
    *out = s;
    rc = MLC_OK;
out:
    free(blob);
    free(b64);
    return rc;
}

mlc_rc mlc_secret_decrypt(const unsigned char key[MLC_SECRET_KEY_LEN], const char *setting,
                          const char *value, char **out, struct mlc_err *err)
{
    unsigned char *blob = NULL;
    char *plain = NULL, aad[AAD_MAX];
    bool v1 = mlc_str_startswith(value ? value : "", MLC_SECRET_PREFIX_V1);
    const char *fmt = v1 ? MLC_SECRET_PREFIX_V1 : MLC_SECRET_PREFIX;
    size_t n = 0;
    int got;

    if (!mlc_secret_is_encrypted(value))
        return mlc_err_set(err, MLC_FATAL, "not an enc:v2: or enc:v1: value");
    if (v1)
        snprintf(aad, sizeof(aad), "%s", AAD_V1);
    else if (aad_for(setting, aad, err) != MLC_OK)
        return MLC_FATAL;
    if (mlc_base64_decode(value + strlen(fmt), &blob, &n) != MLC_OK || n < NONCE_LEN + TAG_LEN) {
        free(blob);
        return mlc_err_set(err, MLC_FATAL, "%s value is not valid base64 of a sealed secret", fmt);
    }
    plain = mlc_xmalloc(n - NONCE_LEN - TAG_LEN + 1);
    got = gcm(0, key, aad, blob, blob + NONCE_LEN, (int)(n - NONCE_LEN - TAG_LEN),
              (unsigned char *)plain, blob + n - TAG_LEN);
    free(blob);
    if (got < 0 || memchr(plain, '\0', (size_t)got)) {
        /* Never leave unauthenticated (or NUL-bearing) plain text behind. */
        OPENSSL_cleanse(plain, n - NONCE_LEN - TAG_LEN + 1);
        free(plain);
        return mlc_err_set(err, MLC_FATAL,
                           "%s value does not decrypt with this key (wrong key, altered value%s)",
                           fmt, v1 ? "" : ", or sealed for another setting");
    }
    plain[got] = '\0';
    *out = plain;
    return MLC_OK;
}
