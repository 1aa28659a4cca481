/* Unit tests of mlc_secret: AES-256-GCM enc:v1: values and key files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "mlc_alloc.h"
#include "mlc_secret.h"

#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
    char dir[64];
    char key_path[128];
    unsigned char key[MLC_SECRET_KEY_LEN];
    char key_b64[64];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/mlc-test-secret-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->key_path, sizeof(f->key_path), "%s/mlc.key", f->dir);
    if (mlc_secret_keygen(f->key, f->key_b64, sizeof(f->key_b64), NULL) != MLC_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    unlink(f->key_path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *fp;

    unlink(path);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(path, mode), 0);
}

static void roundtrip(const unsigned char *key, const char *plain)
{
    char *sealed = NULL, *back = NULL, *again = NULL;
    struct mlc_err err = {0};

    assert_int_equal(mlc_secret_encrypt(key, "MLC_SAGE_PASSWORD", plain, &sealed, &err), MLC_OK);
    assert_true(mlc_secret_is_encrypted(sealed));
    if (*plain)
        assert_null(strstr(sealed, plain));
    assert_int_equal(mlc_secret_decrypt(key, "MLC_SAGE_PASSWORD", sealed, &back, &err), MLC_OK);
    assert_string_equal(back, plain);
    /* A fresh nonce every time: the same secret never seals the same way. */
    assert_int_equal(mlc_secret_encrypt(key, "MLC_SAGE_PASSWORD", plain, &again, &err), MLC_OK);
    assert_string_not_equal(sealed, again);
    free(sealed);
    free(back);
    free(again);
}

static void encrypt_decrypt_round_trip(void **state)
{
    struct fx *f = *state;

    roundtrip(f->key, "hunter2");
    roundtrip(f->key, "");
    roundtrip(f->key, "p\xc3\xa4ssw\xc3\xb6rd \xe2\x82\xac \xf0\x9f\x94\x91 \"quoted\" =;#");
    roundtrip(f->key, "a-longer-token-0123456789abcdef0123456789abcdef0123456789abcdef");
}

/* Flips one bit of the decoded blob at offset `at` (negative: from the end)
 * and checks that decryption is refused. */
static void tamper_at(const unsigned char *key, const char *sealed, long at)
{
    const char *b64 = sealed + strlen(MLC_SECRET_PREFIX);
    unsigned char *raw = NULL;
    char *enc = NULL, *value, *plain = NULL;
    struct mlc_err err = {0};
    size_t n = 0, pos;

    assert_int_equal(mlc_base64_decode(b64, &raw, &n), MLC_OK);
    pos = at >= 0 ? (size_t)at : n - (size_t)(-at);
    assert_true(pos < n);
    raw[pos] ^= 0x01;
    assert_int_equal(mlc_base64_encode(raw, n, &enc), MLC_OK);
    value = malloc(strlen(MLC_SECRET_PREFIX) + strlen(enc) + 1);
    assert_non_null(value);
    snprintf(value, strlen(MLC_SECRET_PREFIX) + strlen(enc) + 1, "%s%s", MLC_SECRET_PREFIX, enc);
    assert_int_equal(mlc_secret_decrypt(key, "MLC_SAGE_PASSWORD", value, &plain, &err), MLC_FATAL);
    assert_null(plain);
    assert_non_null(strstr(err.msg, "does not decrypt"));
    free(raw);
    free(enc);
    free(value);
}

static void tampering_is_detected(void **state)
{
    struct fx *f = *state;
    char *sealed = NULL;

    assert_int_equal(
        mlc_secret_encrypt(f->key, "MLC_SAGE_PASSWORD", "top-secret-value", &sealed, NULL), MLC_OK);
    tamper_at(f->key, sealed, 0);   /* nonce */
    tamper_at(f->key, sealed, 11);  /* nonce, last byte */
    tamper_at(f->key, sealed, 12);  /* ciphertext */
    tamper_at(f->key, sealed, 20);  /* ciphertext */
    tamper_at(f->key, sealed, -16); /* tag */
    tamper_at(f->key, sealed, -1);  /* tag, last byte */
    free(sealed);
}

static void wrong_key_is_refused(void **state)
{
    struct fx *f = *state;
    unsigned char other[MLC_SECRET_KEY_LEN];
    char b64[64];
    char *sealed = NULL, *plain = NULL;
    struct mlc_err err = {0};

    assert_int_equal(mlc_secret_keygen(other, b64, sizeof(b64), NULL), MLC_OK);
    assert_memory_not_equal(other, f->key, sizeof(other));
    assert_int_equal(mlc_secret_encrypt(f->key, "MLC_SAGE_PASSWORD", "for-key-one", &sealed, NULL),
                     MLC_OK);
    assert_int_equal(mlc_secret_decrypt(other, "MLC_SAGE_PASSWORD", sealed, &plain, &err),
                     MLC_FATAL);
    assert_null(plain);
    assert_non_null(strstr(err.msg, "wrong key"));
    assert_null(strstr(err.msg, "for-key-one"));
    free(sealed);
}

/* Seals plain the way the first format did (docs/adr/0002): enc:v1: +
 * base64(nonce || ciphertext || tag), additional data "mlc:v1". Written
 * from the format, not from the product code, so old values stay readable. */
static char *seal_v1(const unsigned char *key, const char *plain)
{
    static const unsigned char nonce[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    unsigned char blob[12 + 256 + 16];
    int n = (int)strlen(plain), len = 0, fin = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    char *b64 = NULL, *out;

    assert_non_null(ctx);
    assert_true(n <= 256);
    memcpy(blob, nonce, sizeof(nonce));
    assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL), 1);
    assert_int_equal(EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce), 1);
    assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)"mlc:v1", 6), 1);
    assert_int_equal(EVP_EncryptUpdate(ctx, blob + 12, &len, (const unsigned char *)plain, n), 1);
    assert_int_equal(EVP_EncryptFinal_ex(ctx, blob + 12 + len, &fin), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, blob + 12 + n), 1);
    EVP_CIPHER_CTX_free(ctx);
    assert_int_equal(mlc_base64_encode(blob, (size_t)(12 + n + 16), &b64), MLC_OK);
    out = malloc(strlen(b64) + 8);
    assert_non_null(out);
    snprintf(out, strlen(b64) + 8, "enc:v1:%s", b64);
    free(b64);
    return out;
}

/* enc:v2: binds the setting; enc:v1: values of before still open for any. */
static void sealed_for_one_setting_and_old_values_open(void **state)
{
    struct fx *f = *state;
    char *sealed = NULL, *plain = NULL, *v1;
    struct mlc_err err = {0};

    assert_int_equal(mlc_secret_encrypt(f->key, "MLC_PIPEDRIVE_TOKEN", "tok-1", &sealed, NULL),
                     MLC_OK);
    assert_true(strncmp(sealed, "enc:v2:", 7) == 0);
    assert_int_equal(mlc_secret_decrypt(f->key, "MLC_SAGE_PASSWORD", sealed, &plain, &err),
                     MLC_FATAL);
    assert_null(plain);
    assert_non_null(strstr(err.msg, "sealed for another setting"));
    assert_int_equal(mlc_secret_decrypt(f->key, "MLC_PIPEDRIVE_TOKEN", sealed, &plain, &err),
                     MLC_OK);
    assert_string_equal(plain, "tok-1");
    free(plain);
    plain = NULL;
    assert_int_equal(mlc_secret_encrypt(f->key, "", "x", &sealed, &err) == MLC_OK, 0);

    v1 = seal_v1(f->key, "old-Secret-5");
    assert_true(mlc_secret_is_encrypted(v1));
    assert_int_equal(mlc_secret_decrypt(f->key, "MLC_SAGE_PASSWORD", v1, &plain, &err), MLC_OK);
    assert_string_equal(plain, "old-Secret-5");
    free(plain);
    free(v1);
    free(sealed);
}

static void malformed_values_are_refused(void **state)
{
    struct fx *f = *state;
    const char *bad[] = {
        "enc:v1:",                                     /* empty */
        "enc:v1:not base64!",                          /* bad characters */
        "enc:v1:QUJD",                                 /* valid base64, too short for nonce+tag */
        "enc:v1:QUJDRA=",                              /* bad length */
        "enc:v1:QU=JD",                                /* padding in the middle */
        "enc:v2:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=", /* garbage of the right size */
        "enc:v3:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=", /* unknown version */
        "plain-text",
    };
    unsigned char *raw = NULL;
    size_t n = 0;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct mlc_err err = {0};
        char *plain = NULL;

        assert_int_equal(mlc_secret_decrypt(f->key, "MLC_SAGE_PASSWORD", bad[i], &plain, &err),
                         MLC_FATAL);
        assert_null(plain);
        assert_true(err.msg[0] != '\0');
    }
    assert_int_equal(mlc_base64_decode("QUJD\n", &raw, &n), MLC_PERM);
    assert_int_equal(mlc_base64_decode("", &raw, &n), MLC_PERM);
    assert_int_equal(mlc_base64_decode("QUI=", &raw, &n), MLC_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(raw, "AB", 2);
    free(raw);
}

/* Base64 leaves bits unused in a padded last group; a value whose unused bits
 * are set decodes to the same bytes, so it opened although it had been
 * changed. Only the canonical form is accepted. */
static void altered_padding_bits_are_refused(void **state)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct fx *f = *state;
    struct mlc_err err = {0};
    char *sealed = NULL, *plain = NULL;
    unsigned char *raw = NULL;
    size_t n = 0, len;
    char *last;

    /* 13 bytes: nonce + 13 + tag = 41 bytes, one '=' (2 unused bits). */
    assert_int_equal(
        mlc_secret_encrypt(f->key, "MLC_SAGE_PASSWORD", "Sage-Pa55word", &sealed, &err), MLC_OK);
    len = strlen(sealed);
    assert_true(sealed[len - 1] == '=' && sealed[len - 2] != '=');
    last = &sealed[len - 2];
    *last = alphabet[(strchr(alphabet, *last) - alphabet) ^ 1];
    assert_int_equal(mlc_secret_decrypt(f->key, "MLC_SAGE_PASSWORD", sealed, &plain, &err),
                     MLC_FATAL);
    assert_null(plain);
    free(sealed);

    assert_int_equal(mlc_base64_decode("QUJ=", &raw, &n), MLC_PERM); /* "AB" is QUI= */
    assert_int_equal(mlc_base64_decode("QR==", &raw, &n), MLC_PERM); /* "A" is QQ== */
    assert_int_equal(mlc_base64_decode("QQ==", &raw, &n), MLC_OK);
    assert_int_equal(n, 1);
    free(raw);
}

static void key_file_0644_is_refused_with_chmod_hint(void **state)
{
    struct fx *f = *state;
    unsigned char key[MLC_SECRET_KEY_LEN];
    struct mlc_err err = {0};
    char line[80];

    snprintf(line, sizeof(line), "%s\n", f->key_b64);
    write_file(f->key_path, line, 0644);
    assert_int_equal(mlc_secret_load_key(f->key_path, key, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_non_null(strstr(err.msg, f->key_path));
    assert_null(strstr(err.msg, f->key_b64));
    assert_int_equal(chmod(f->key_path, 0640), 0);
    assert_int_equal(mlc_secret_load_key(f->key_path, key, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "chmod 600"));
}

static void key_file_0600_and_0400_are_accepted(void **state)
{
    struct fx *f = *state;
    unsigned char key[MLC_SECRET_KEY_LEN];
    struct mlc_err err = {0};
    char line[80];

    snprintf(line, sizeof(line), "%s\n", f->key_b64);
    write_file(f->key_path, line, 0600);
    memset(key, 0, sizeof(key));
    assert_int_equal(mlc_secret_load_key(f->key_path, key, &err), MLC_OK);
    assert_memory_equal(key, f->key, sizeof(key));
    assert_int_equal(chmod(f->key_path, 0400), 0);
    memset(key, 0, sizeof(key));
    assert_int_equal(mlc_secret_load_key(f->key_path, key, &err), MLC_OK);
    assert_memory_equal(key, f->key, sizeof(key));
}

static void key_of_wrong_length_is_refused(void **state)
{
    struct fx *f = *state;
    unsigned char key[MLC_SECRET_KEY_LEN];
    struct mlc_err err = {0};
    char big[300];

    write_file(f->key_path, "QUJDREVGR0hJSktMTU5PUA==\n", 0600); /* 16 bytes */
    assert_int_equal(mlc_secret_load_key(f->key_path, key, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "32-byte"));
    write_file(f->key_path, "not base64 at all\n", 0600);
    assert_int_equal(mlc_secret_load_key(f->key_path, key, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "32-byte"));
    write_file(f->key_path, "", 0600);
    assert_int_equal(mlc_secret_load_key(f->key_path, key, &err), MLC_FATAL);
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    write_file(f->key_path, big, 0600);
    assert_int_equal(mlc_secret_load_key(f->key_path, key, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "32-byte"));
}

static void missing_key_file_is_refused(void **state)
{
    struct fx *f = *state;
    unsigned char key[MLC_SECRET_KEY_LEN];
    struct mlc_err err = {0};

    unlink(f->key_path);
    assert_int_equal(mlc_secret_load_key(f->key_path, key, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, f->key_path));
    assert_non_null(strstr(err.msg, "No such file"));
    assert_int_equal(mlc_secret_load_key(f->dir, key, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "not a regular file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(encrypt_decrypt_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(tampering_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_key_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_values_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(altered_padding_bits_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(sealed_for_one_setting_and_old_values_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(key_file_0644_is_refused_with_chmod_hint, setup, teardown),
        cmocka_unit_test_setup_teardown(key_file_0600_and_0400_are_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(key_of_wrong_length_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_key_file_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
