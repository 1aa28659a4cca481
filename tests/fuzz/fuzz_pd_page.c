/* fuzz_pd_page.c - libFuzzer target for the organization list pages and the
 * error bodies the loader reads from Pipedrive, through the loader's public
 * headers only:
 *   - a page of GET /api/v2/organizations: each item through
 *     ld_org_identity (loader/ld_scan.h), ld_org_snapshot and ld_project
 *     (ld_util.h), and the page's next cursor (ld_next_cursor);
 *   - an error body: pd_error_text (loader/pd_client.h).
 *
 * Input: byte 0 bit 0 picks the part; the rest is the answer's body.
 *
 * Properties: identity: an organization is ours only with both ID fields
 * as strings, not deleted, and an id from 1 to 2^53; the company and number
 * it reports are the fields' own strings; a snapshot holds no key but name,
 * address, website and custom_fields, and projecting a body on it keeps
 * only the body's keys; the cursor is empty or URL-safe (unreserved
 * characters, ',' and %XX) and fits its buffer. Error text: one line (no
 * control character), valid UTF-8 when the body's strings are, and shorter
 * than its buffer.
 */
#include "fuzz_common.h"

#include "ld_scan.h"
#include "ld_util.h"
#include "mlc_alloc.h"
#include "mlc_str.h"
#include "pd_client.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <string.h>

#define K_NUM "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2"
#define K_CO  "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"

static void check_identity(const cJSON *org)
{
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(org, "custom_fields");
    const cJSON *num = cJSON_GetObjectItemCaseSensitive(cf, K_NUM);
    const cJSON *co = cJSON_GetObjectItemCaseSensitive(cf, K_CO);
    const char *company = NULL, *number = NULL;
    int64_t id = 0;
    enum ld_org_kind k = ld_org_identity(org, K_NUM, K_CO, &company, &number, &id);

    if (!cJSON_IsString(num) || !cJSON_IsString(co)) {
        FUZZ_CHECK(k == LD_ORG_FOREIGN, "no string IDs, kind %d", (int)k);
        return;
    }
    FUZZ_CHECK(k != LD_ORG_FOREIGN, "both IDs, foreign");
    FUZZ_CHECK(number == num->valuestring && company == co->valuestring, "IDs not the fields'");
    if (k == LD_ORG_OURS)
        FUZZ_CHECK(id >= 1 && id <= (INT64_C(1) << 53), "id %lld", (long long)id);
}

static void check_snapshot(const cJSON *org)
{
    static const char *const allowed[] = {"name", "address", "website", "custom_fields"};
    cJSON *snap = ld_org_snapshot(org), *body, *proj;
    const cJSON *it;

    cJSON_ArrayForEach(it, snap)
    {
        bool ok = false;

        for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
            ok |= it->string && !strcmp(it->string, allowed[i]);
        FUZZ_CHECK(ok, "snapshot key %s", it->string ? it->string : "(null)");
    }
    body = cJSON_Parse("{\"name\":\"x\",\"custom_fields\":{\"" K_NUM "\":\"1\"}}");
    proj = ld_project(snap, body);
    cJSON_ArrayForEach(it, proj)
    {
        FUZZ_CHECK(it->string && cJSON_GetObjectItemCaseSensitive(body, it->string),
                   "projection key %s not in the body", it->string ? it->string : "(null)");
    }
    cJSON_Delete(proj);
    cJSON_Delete(body);
    cJSON_Delete(snap);
}

static void check_cursor(const cJSON *page)
{
    char cur[PD_PATH_MAX];

    ld_next_cursor(page, cur, sizeof(cur));
    FUZZ_CHECK(strlen(cur) < sizeof(cur), "cursor overflow");
    for (const char *p = cur; *p; p++)
        FUZZ_CHECK(isalnum((unsigned char)*p) || strchr("-._~,%", *p), "cursor byte 0x%02x",
                   (unsigned char)*p);
}

static bool strings_valid(const cJSON *body)
{
    const char *keys[] = {"error", "error_info"};

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, keys[i]);

        if (cJSON_IsString(v) && !mlc_utf8_valid(v->valuestring, strlen(v->valuestring)))
            return false;
    }
    return true;
}

static void check_error(const cJSON *body)
{
    char out[PD_ERROR_TEXT_MAX], small[7];

    pd_error_text(body, out, sizeof(out));
    FUZZ_CHECK(strlen(out) < sizeof(out), "error text overflow");
    for (const char *p = out; *p; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in the error text");
    if (strings_valid(body))
        FUZZ_CHECK(mlc_utf8_valid(out, strlen(out)), "error text not UTF-8");
    pd_error_text(body, small, sizeof(small));
    FUZZ_CHECK(strlen(small) < sizeof(small), "small error text overflow");
    if (strings_valid(body))
        FUZZ_CHECK(mlc_utf8_valid(small, strlen(small)), "cut error text not UTF-8");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *body;
    const cJSON *org;

    if (size < 1)
        return 0;
    mlc_alloc_cjson_hooks();
    body = cJSON_ParseWithLength((const char *)data + 1, size - 1);
    if (!(data[0] & 1)) {
        cJSON_ArrayForEach(org, cJSON_GetObjectItemCaseSensitive(body, "data"))
        {
            check_identity(org);
            check_snapshot(org);
        }
        check_cursor(body);
        fuzz_report("page", 0, NULL);
    } else {
        check_error(body);
        fuzz_report("error", 0, NULL);
    }
    cJSON_Delete(body);
    return 0;
}
