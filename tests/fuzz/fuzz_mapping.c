/* fuzz_mapping.c - libFuzzer target for the mapping parser
 * (loader/pd_mapping.h: pd_mapping_parse).
 *
 * Input: the mapping JSON text (made NUL-terminated). Properties: MLC_OK
 * with a mapping, or MLC_FATAL with a one-line message and no mapping; a
 * parsed mapping answers its getters consistently (names and types set,
 * pd_mapping_custom_find finds each (unique) name at its index, identity
 * indexes in range, nothing resolved yet).
 */
#include "fuzz_common.h"

#include "pd_mapping.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pd_mapping *m = (struct pd_mapping *)1; /* must be overwritten */
    struct mlc_err err = {0};
    char *text;
    mlc_rc rc;

    if (size > PD_MAPPING_MAX_BYTES)
        return 0;
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    rc = pd_mapping_parse(text, &m, &err);
    fuzz_report("mapping", rc, err.msg);
    FUZZ_CHECK(rc == MLC_OK || rc == MLC_FATAL, "rc %d: %s", (int)rc, err.msg);
    if (rc == MLC_OK) {
        size_t n, cn = (size_t)-1, co = (size_t)-1;

        FUZZ_CHECK(m != NULL && m != (struct pd_mapping *)1, "ok without a mapping");
        n = pd_mapping_custom_count(m);
        for (size_t i = 0; i < n; i++) {
            const char *name = pd_mapping_custom_name(m, i);
            long at;

            FUZZ_CHECK(name && pd_mapping_custom_type(m, i), "field %zu lacks name or type", i);
            at = pd_mapping_custom_find(m, name);
            FUZZ_CHECK(at == (long)i, "field %zu (%s) found at %ld", i, name, at);
            FUZZ_CHECK(!pd_mapping_custom_key(m, i) && !pd_mapping_field_resolved(m, i),
                       "field %zu resolved before resolve", i);
        }
        pd_mapping_identity(m, &cn, &co);
        FUZZ_CHECK(cn < n && co < n, "identity %zu/%zu of %zu fields", cn, co, n);
        pd_mapping_free(m);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0' && !strchr(err.msg, '\n'), "bad message \"%s\"", err.msg);
    }
    free(text);
    return 0;
}
