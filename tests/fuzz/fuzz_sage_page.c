/* fuzz_sage_page.c - libFuzzer target for the OData page parser (sage_page.h).
 *
 * Input: byte 0 selects the options (bit 0: no_rebase, bit 1: a request_url
 * for loop detection, bit 2: a cap of 3 records); the rest is the page body,
 * handed to sage_page_parse with its length (not NUL-terminated) and also,
 * NUL-terminated, to sage_next_link_rebase as a bare link.
 *
 * Besides memory errors and UB, it checks what the header promises: only
 * MLC_OK/MLC_RETRY/MLC_FATAL, an error message on failure and nothing owned
 * left in the page, records that are all objects within the cap, and a
 * next URL that is always the configured resource URL plus "" or a query
 * (never another host, path, a fragment or a blank/control byte).
 */
#include "fuzz_common.h"

#include "sage_page.h"

#include <string.h>

#define RES "https://erp.example/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers"
#define REQ RES "?$top=100&$skip=0"

static void check_next_url(const char *url)
{
    size_t rl = strlen(RES);

    FUZZ_CHECK(strncmp(url, RES, rl) == 0, "next url %s not on the resource", url);
    FUZZ_CHECK(url[rl] == '\0' || url[rl] == '?', "next url %s: path continues", url);
    FUZZ_CHECK(strlen(url) <= rl + SAGE_LINK_MAX, "next url too long");
    for (const char *p = url; *p; p++)
        FUZZ_CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && *p != '#',
                   "next url %s holds byte 0x%02x", url, (unsigned char)*p);
}

static void check_rc(mlc_rc rc, const struct mlc_err *err)
{
    FUZZ_CHECK(rc == MLC_OK || rc == MLC_RETRY || rc == MLC_FATAL, "rc %d", (int)rc);
    if (rc != MLC_OK)
        FUZZ_CHECK(err->msg[0] != '\0', "failure without a message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sage_page_opts opts = {RES, NULL, false, 0};
    struct mlc_err err = {0};
    struct sage_page p;
    char *link, *out = NULL;
    mlc_rc rc;

    if (size < 1)
        return 0;
    opts.no_rebase = data[0] & 1;
    opts.request_url = (data[0] & 2) ? REQ : NULL;
    opts.max_records = (data[0] & 4) ? 3 : 0;
    data++;
    size--;

    rc = sage_page_parse((const char *)data, size, &opts, &p, &err);
    fuzz_report("page", rc, rc == MLC_OK ? p.next_url : err.msg);
    check_rc(rc, &err);
    if (rc == MLC_OK) {
        const cJSON *it;
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
        if (p.next_url) {
            check_next_url(p.next_url);
            FUZZ_CHECK(!opts.request_url || strcmp(p.next_url, opts.request_url) != 0,
                       "loop not refused");
        }
    } else {
        FUZZ_CHECK(!p.root && !p.next_url && p.count == 0, "failure left state in the page");
    }
    sage_page_free(&p);
    FUZZ_CHECK(!p.root && !p.next_url, "free did not zero");

    /* The same bytes as a bare nextLink. */
    link = malloc(size + 1);
    if (!link)
        return 0;
    memcpy(link, data, size);
    link[size] = '\0';
    memset(&err, 0, sizeof(err));
    rc = sage_next_link_rebase(link, &opts, &out, &err);
    fuzz_report("link", rc, rc == MLC_OK ? out : err.msg);
    check_rc(rc, &err);
    if (rc == MLC_OK) {
        FUZZ_CHECK(out != NULL, "ok without a url");
        check_next_url(out);
        FUZZ_CHECK(!opts.request_url || strcmp(out, opts.request_url) != 0, "loop not refused");
    } else {
        FUZZ_CHECK(out == NULL, "failure returned a url");
    }
    free(out);
    free(link);
    return 0;
}
