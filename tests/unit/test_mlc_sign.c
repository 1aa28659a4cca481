/* Unit tests of mlc_sign: the documented test vector, verification verdicts
 * and key files. The expected values were computed independently with
 * Python's hmac module (the recipe in docs/events.md, "Signatures"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "mlc_secret.h"
#include "mlc_sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY   "SAMINC:1100"
#define VALUE "{\"company\":\"SAMINC\",\"customer_number\":\"1100\"}"
/* docs/events.md: key bytes 00 01 02 ... 1f */
#define VECTOR                                                                                     \
    "v1:630dcd2966c43366:ab01e622ff6f09269fe711f485af17c1bca49efee41e76b482146ffacd901a31"
#define VECTOR_NULL_VALUE                                                                          \
    "v1:630dcd2966c43366:e7a20bdea20a1b3d6a8313e4a9d882c73e6e1262b120298612b5a98469d4c797"

static void vector_key(struct mlc_sign_key *k, unsigned char first)
{
    unsigned char raw[MLC_SIGN_KEY_LEN];

    for (int i = 0; i < MLC_SIGN_KEY_LEN; i++)
        raw[i] = (unsigned char)(first + i);
    mlc_sign_key_set(k, raw);
}

static void test_vector(void **state)
{
    struct mlc_sign_key k;
    char sig[MLC_SIGN_VALUE_SZ];

    (void)state;
    vector_key(&k, 0);
    assert_string_equal(k.id, "630dcd2966c43366");
    assert_int_equal(mlc_sign_record(&k, KEY, strlen(KEY), VALUE, strlen(VALUE), sig, NULL),
                     MLC_OK);
    assert_string_equal(sig, VECTOR);
    assert_int_equal(strlen(sig), MLC_SIGN_VALUE_SZ - 1);
    /* a null value signs as an empty one */
    assert_int_equal(mlc_sign_record(&k, KEY, strlen(KEY), NULL, 0, sig, NULL), MLC_OK);
    assert_string_equal(sig, VECTOR_NULL_VALUE);
}

static enum mlc_sign_verdict check(const struct mlc_sign_key *keys, size_t n, const char *key,
                                   const char *value, const char *hdr, size_t *which)
{
    return mlc_sign_verify(keys, n, key, strlen(key), value, strlen(value), hdr,
                           hdr ? strlen(hdr) : 0, which);
}

static void test_verdicts(void **state)
{
    struct mlc_sign_key keys[2];
    char bad[MLC_SIGN_VALUE_SZ];
    size_t which = 99;

    (void)state;
    vector_key(&keys[0], 0x40);
    vector_key(&keys[1], 0);
    assert_int_equal(check(keys, 2, KEY, VALUE, VECTOR, &which), MLC_SIGN_OK);
    assert_int_equal(which, 1);
    assert_int_equal(check(keys, 1, KEY, VALUE, VECTOR, NULL), MLC_SIGN_UNKNOWN_KEY);
    assert_int_equal(check(keys, 2, KEY, VALUE, NULL, NULL), MLC_SIGN_MISSING);
    /* the value, the key, or where one ends and the other begins changed */
    assert_int_equal(check(keys, 2, KEY, VALUE " ", VECTOR, NULL), MLC_SIGN_MISMATCH);
    assert_int_equal(check(keys, 2, "SAMINC:1101", VALUE, VECTOR, NULL), MLC_SIGN_MISMATCH);
    assert_int_equal(check(keys, 2, KEY "{", &VALUE[1], VECTOR, NULL), MLC_SIGN_MISMATCH);
    /* one flipped mac digit */
    snprintf(bad, sizeof(bad), "%s", VECTOR);
    bad[sizeof(bad) - 2] = bad[sizeof(bad) - 2] == '1' ? '2' : '1';
    assert_int_equal(check(keys, 2, KEY, VALUE, bad, NULL), MLC_SIGN_MISMATCH);
    /* one spelling only: uppercase hex, another version, short or long */
    snprintf(bad, sizeof(bad), "%s", VECTOR);
    bad[30] = 'E';
    assert_int_equal(check(keys, 2, KEY, VALUE, bad, NULL), MLC_SIGN_MALFORMED);
    snprintf(bad, sizeof(bad), "v2%s", &VECTOR[2]);
    assert_int_equal(check(keys, 2, KEY, VALUE, bad, NULL), MLC_SIGN_MALFORMED);
    assert_int_equal(check(keys, 2, KEY, VALUE, VECTOR "0", NULL), MLC_SIGN_MALFORMED);
    assert_int_equal(check(keys, 2, KEY, VALUE, "", NULL), MLC_SIGN_MALFORMED);
    snprintf(bad, sizeof(bad), "v1:zzzzzzzzzzzzzzzz%s", &VECTOR[19]);
    assert_int_equal(check(keys, 2, KEY, VALUE, bad, NULL), MLC_SIGN_MALFORMED);
    assert_string_equal(mlc_sign_verdict_name(MLC_SIGN_UNKNOWN_KEY), "unknown key");
}

/* A key file in the master key's format; its permissions are checked. */
static void test_key_file(void **state)
{
    char dir[] = "/tmp/mlc-test-sign-XXXXXX", path[64];
    struct mlc_sign_key k, want;
    struct mlc_err err = {0};
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/event.key", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_not_equal(mlc_sign_key_load(path, &k, &err), MLC_OK);
    assert_non_null(strstr(err.msg, "chmod"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(mlc_sign_key_load(path, &k, &err), MLC_OK);
    vector_key(&want, 0);
    assert_memory_equal(k.key, want.key, MLC_SIGN_KEY_LEN);
    assert_string_equal(k.id, want.id);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_key_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
