/* fuzz_sage_error.c - libFuzzer target for sage_error_decode
 * (extractor/sage_client.h): a Sage 300 Web API error body -> "Code: message".
 *
 * Input: byte 0 picks the size of the output buffer (0: 512 bytes, the
 * client's; otherwise 1..255 bytes, to exercise truncation); the rest is the
 * response body, handed over with its length and NOT NUL-terminated (an exact
 * heap copy, so reading past it is an ASan error).
 *
 * Properties checked besides memory errors and UB:
 *   - true exactly when the body is JSON with an "error" object whose "code"
 *     is a string (Sage's shape, docs/sage300-api.md "Error bodies"); the
 *     harness decides this with its own parse of the same bytes;
 *   - on true: out is NUL-terminated within its size and one line (no byte
 *     below 0x20); it starts with the code (at most 80 bytes of it, control
 *     bytes shown as blanks), followed by ": " and the message's text (at
 *     most 200 bytes) when "message" is a non-empty string or an object with
 *     a non-empty string "value", and by nothing otherwise; every cut (80,
 *     200, the buffer's size) falls between UTF-8 characters, where
 *     mlc_utf8_cut (unit-tested on its own) puts it.
 */
#include "fuzz_common.h"

#include "mlc_str.h"
#include "sage_client.h"

#include <cjson/cJSON.h>
#include <string.h>

/* What out must hold: the same format, computed independently of the decoder. */
static void expected(const cJSON *root, char *exp, size_t expsz)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    const char *text = NULL;
    size_t n = 0, c, m;

    if (cJSON_IsString(msg))
        text = msg->valuestring;
    else if (cJSON_IsObject(msg) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(msg, "value")))
        text = cJSON_GetObjectItemCaseSensitive(msg, "value")->valuestring;
    c = mlc_utf8_cut(code->valuestring, 80);
    memcpy(exp, code->valuestring, c);
    n = c;
    if (text && text[0]) {
        m = mlc_utf8_cut(text, 200);
        memcpy(exp + n, ": ", 2);
        memcpy(exp + n + 2, text, m);
        n += 2 + m;
    }
    exp[n] = '\0';
    for (char *p = exp; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    (void)expsz;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[512], exp[80 + 2 + 200 + 1];
    size_t outsz, len;
    char *body;
    cJSON *root;
    const cJSON *code;
    bool ok, shape;

    if (size < 1)
        return 0;
    outsz = data[0] ? data[0] : sizeof(out);
    len = size - 1;
    body = malloc(len ? len : 1);
    FUZZ_CHECK(body, "malloc");
    memcpy(body, data + 1, len);
    memset(out, 0x5a, sizeof(out));

    ok = sage_error_decode(len ? body : NULL, len, out, outsz);
    fuzz_report("decode", ok, ok ? out : "");

    root = len ? cJSON_ParseWithLength(body, len) : NULL;
    code =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "error"), "code");
    shape = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "error")) && cJSON_IsString(code);
    FUZZ_CHECK(ok == shape, "decode says %d, the body's shape %d", ok, shape);
    if (ok) {
        FUZZ_CHECK(memchr(out, '\0', outsz) != NULL, "out not terminated within its size");
        for (size_t i = outsz; i < sizeof(out); i++)
            FUZZ_CHECK(out[i] == 0x5a, "wrote past outsz %zu at %zu", outsz, i);
        for (const char *p = out; *p; p++)
            FUZZ_CHECK((unsigned char)*p >= 0x20, "control byte 0x%02x in %s", (unsigned char)*p,
                       out);
        expected(root, exp, sizeof(exp));
        FUZZ_CHECK(strlen(out) == mlc_utf8_cut(exp, outsz - 1) &&
                       strncmp(out, exp, strlen(out)) == 0,
                   "out \"%s\", expected a prefix of \"%s\"", out, exp);
    }
    cJSON_Delete(root);
    free(body);
    return 0;
}
