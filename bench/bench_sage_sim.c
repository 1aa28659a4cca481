/* bench_sage_sim - how many customers per second mlc-sage-sim serves when paged with curl.
 *
 * usage: bench_sage_sim URL [USER PASSWORD] [keyset]
 *
 * URL is the first page, e.g.
 *   http://127.0.0.1:PORT/Sage300WebApi/v1.0/-/SAMINC/AR/ARCustomers?$orderby=CustomerNumber
 * The program follows @odata.nextLink with one keep-alive libcurl handle until
 * no link is left (or, with "keyset", re-issues CustomerNumber gt '<last>'
 * with $top=1000 until a page is empty), counts the customers received
 * (occurrences of "CustomerNumber": at record level) and prints pages,
 * customers, bytes, seconds and customers/s. Full records are fetched: the
 * client does no JSON parsing so that the server is what is measured.
 * bench/sage_sim_paging.sh starts the simulator and runs this.
 */
#include "mlc_buf.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct mlc_buf *b = ud;
    return mlc_buf_append(b, p, sz * n) == MLC_OK ? sz * n : 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts records: each starts {"CustomerNumber":"...","ShortName": (optional field
 * values inside records carry CustomerNumber too, but no ShortName). */
static long count_records(const char *s, const char **last_key, size_t *last_len)
{
    long n = 0;
    const char *p = s;
    static const char pat[] = "{\"CustomerNumber\":\"";
    static const char next[] = "\",\"ShortName\":";
    while ((p = strstr(p, pat)) != NULL) {
        p += sizeof pat - 1;
        const char *e = strchr(p, '"');
        if (!e)
            break;
        if (strncmp(e, next, sizeof next - 1) == 0) {
            *last_key = p;
            *last_len = (size_t)(e - p);
            n++;
        }
        p = e;
    }
    return n;
}

/* Copies the @odata.nextLink value into out; false when absent. */
static bool next_link(const char *s, size_t len, char *out, size_t outsz)
{
    static const char pat[] = "\"@odata.nextLink\":\"";
    const char *tail = len > 4096 ? s + len - 4096 : s;
    const char *p = strstr(tail, pat);
    if (!p)
        return false;
    p += sizeof pat - 1;
    const char *e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= outsz)
        return false;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_sage_sim URL [USER PASSWORD] [keyset]\n");
        return 2;
    }
    const char *user = argc > 3 ? argv[2] : "WEBAPI";
    const char *pw = argc > 3 ? argv[3] : "WEBAPI";
    bool keyset = argc > 4 && strcmp(argv[4], "keyset") == 0;
    char url[8192], userpwd[256];
    snprintf(url, sizeof url, "%s", argv[1]);
    snprintf(userpwd, sizeof userpwd, "%s:%s", user, pw);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    struct mlc_buf body;
    mlc_buf_init(&body, (size_t)256 << 20);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);

    long pages = 0, customers = 0;
    double bytes = 0;
    int rc = 0;
    double t0 = now_s();
    for (;;) {
        mlc_buf_reset(&body);
        curl_easy_setopt(c, CURLOPT_URL, url);
        CURLcode cc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK || status != 200) {
            fprintf(stderr, "bench_sage_sim: page %ld: %s, HTTP %ld\n", pages + 1,
                    curl_easy_strerror(cc), status);
            rc = 1;
            break;
        }
        pages++;
        bytes += (double)body.len;
        const char *last = NULL;
        size_t last_len = 0;
        long n = count_records(mlc_buf_str(&body), &last, &last_len);
        customers += n;
        if (keyset) {
            if (n == 0)
                break;
            char key[64], lit[160];
            size_t o = 0;
            snprintf(key, sizeof key, "%.*s", (int)last_len, last);
            for (const char *p = key; *p && o + 3 < sizeof lit; p++) {
                if (*p == '\'')
                    lit[o++] = '\'';
                lit[o++] = *p;
            }
            lit[o] = '\0';
            char flt[256];
            snprintf(flt, sizeof flt, "CustomerNumber gt '%s'", lit);
            char *esc = curl_easy_escape(c, flt, 0);
            const char *base = argv[1];
            const char *qm = strchr(base, '?');
            snprintf(url, sizeof url, "%.*s?$filter=%s&$orderby=CustomerNumber&$top=1000",
                     (int)(qm ? qm - base : (long)strlen(base)), base, esc);
            curl_free(esc);
        } else if (!next_link(mlc_buf_str(&body), body.len, url, sizeof url)) {
            break;
        }
    }
    double secs = now_s() - t0;
    printf("mode=%s pages=%ld customers=%ld bytes=%.0f seconds=%.3f customers_per_s=%.0f "
           "MB_per_s=%.1f\n",
           keyset ? "keyset" : "nextlink", pages, customers, bytes, secs,
           secs > 0 ? (double)customers / secs : 0.0, secs > 0 ? bytes / secs / 1e6 : 0.0);
    mlc_buf_free(&body);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    return rc;
}
