/* fuzz_sage_page.c - libFuzzer target for the OData page parser (sage_page.h).
 *
 * Input: byte 0 selects the options (bit 0: the resource behind a proxy path
 * prefix, bit 2: a cap of 3 records); the rest is the page body, handed to
 * sage_page_parse with its length (not NUL-terminated) and also,
 * NUL-terminated, to sage_next_link_check as a bare link.
 *
 * Besides memory errors and UB, it checks what the header promises: only
 * MLC_OK/MLC_RETRY/MLC_FATAL, an error message on failure and nothing owned
 * left in the page, records that are all objects within the cap, and that an
 * accepted link names the requested resource from "/Sage300WebApi/" on (no
 * blank/control byte, no credentials in its host).
 */
#include "fuzz_common.h"

#include "sage_page.h"

#include <string.h>
#include <strings.h>

#define TAIL "/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers"
#define RES  "https://erp.example" TAIL
#define PRX  "https://erp.example/sage" TAIL

/* An accepted link: printable, and its path ends with TAIL. */
static void check_link(const char *link)
{
    size_t n = strlen(link), path, tl = strlen(TAIL);
    const char *auth = NULL;

    if (strncasecmp(link, "http://", 7) == 0)
        auth = link + 7;
    else if (strncasecmp(link, "https://", 8) == 0)
        auth = link + 8;
    else if (link[0] == '/' && link[1] == '/')
        auth = link + 2;

    for (const char *p = link; *p; p++)
        FUZZ_CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f,
                   "accepted link holds byte 0x%02x", (unsigned char)*p);
    FUZZ_CHECK(n <= SAGE_LINK_MAX, "accepted link too long");
    path = strcspn(link, "?#");
    FUZZ_CHECK(path >= tl && strncasecmp(link + path - tl, TAIL, tl) == 0,
               "accepted link %s names another resource", link);
    if (auth) {
        size_t alen = strcspn(auth, "/?#");
        FUZZ_CHECK(!memchr(auth, '@', alen), "accepted link %s carries credentials", link);
    } else {
        FUZZ_CHECK(link[0] == '/', "accepted link %s is neither a url nor a path", link);
    }
}

static void check_rc(mlc_rc rc, const struct mlc_err *err)
{
    FUZZ_CHECK(rc == MLC_OK || rc == MLC_RETRY || rc == MLC_FATAL, "rc %d", (int)rc);
    if (rc != MLC_OK)
        FUZZ_CHECK(err->msg[0] != '\0', "failure without a message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sage_page_opts opts = {RES, 0};
    struct mlc_err err = {0};
    struct sage_page p;
    char *link;
    mlc_rc rc;

    if (size < 1)
        return 0;
    opts.resource_url = (data[0] & 1) ? PRX : RES;
    opts.max_records = (data[0] & 4) ? 3 : 0;
    data++;
    size--;

    rc = sage_page_parse((const char *)data, size, &opts, &p, &err);
    fuzz_report("page", rc, rc == MLC_OK ? (p.has_next ? "more" : "end") : err.msg);
    check_rc(rc, &err);
    if (rc == MLC_OK) {
        const cJSON *it, *nl;
        size_t n = 0;

        FUZZ_CHECK(p.root && cJSON_IsArray(p.records), "ok without root or records");
        cJSON_ArrayForEach(it, p.records)
        {
            FUZZ_CHECK(cJSON_IsObject(it), "record %zu is not an object", n);
            n++;
        }
        FUZZ_CHECK(n == p.count, "count %zu, array holds %zu", p.count, n);
        FUZZ_CHECK(n <= (opts.max_records ? opts.max_records : SAGE_PAGE_MAX_RECORDS),
                   "%zu records over the cap", n);
        FUZZ_CHECK(!p.has_total || p.total >= 0, "negative total %lld", p.total);
        nl = cJSON_GetObjectItemCaseSensitive(p.root, "@odata.nextLink");
        FUZZ_CHECK(p.has_next == (nl != NULL), "has_next without a link or the reverse");
        if (nl)
            check_link(nl->valuestring);
    } else {
        FUZZ_CHECK(!p.root && !p.has_next && p.count == 0, "failure left state in the page");
    }
    sage_page_free(&p);
    FUZZ_CHECK(!p.root && !p.has_next, "free did not zero");

    /* The same bytes as a bare nextLink. */
    link = malloc(size + 1);
    if (!link)
        return 0;
    memcpy(link, data, size);
    link[size] = '\0';
    memset(&err, 0, sizeof(err));
    rc = sage_next_link_check(link, &opts, &err);
    fuzz_report("link", rc, rc == MLC_OK ? link : err.msg);
    check_rc(rc, &err);
    if (rc == MLC_OK)
        check_link(link);
    free(link);
    return 0;
}
