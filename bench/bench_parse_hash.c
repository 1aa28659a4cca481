/* bench_parse_hash - the floor under the extractor: fetch, parse, normalise, hash.
 *
 * usage: bench_parse_hash URLFILE [USER PASSWORD]
 *
 * URLFILE holds one absolute URL per line: the ARTerms page(s) first, then
 * the ARCustomers pages, exactly as the extractor requested them
 * (bench/bench_extractor.py takes them from the sandbox's request log). The
 * program fetches them in order over ONE keep-alive libcurl handle, parses
 * every page with cJSON, loads the ARTerms records into a terms table and,
 * for every ARCustomers record, does what the extractor must do at the very
 * least: sage_customer_normalize() and mlc_event_content_hash() (the
 * canonical JSON and its SHA-256). No SQLite, no Kafka, no threads: what is
 * left is the cost of reading and hashing the data.
 *
 * Prints one line: pages, records, hashed, bytes, seconds, and the seconds
 * spent in fetch / parse / normalise+hash. Exit 1 on any HTTP error or a
 * record that does not normalise.
 */
#include "mlc_buf.h"
#include "mlc_event.h"
#include "sage_customer.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
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

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: bench_parse_hash URLFILE [USER PASSWORD]\n");
        return 2;
    }
    FILE *uf = fopen(argv[1], "r");
    if (!uf) {
        fprintf(stderr, "bench_parse_hash: cannot open %s\n", argv[1]);
        return 2;
    }
    char userpwd[256];
    snprintf(userpwd, sizeof userpwd, "%s:%s", argc == 4 ? argv[2] : "WEBAPI",
             argc == 4 ? argv[3] : "WEBAPI");

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
    struct sage_terms *terms = sage_terms_new();

    long pages = 0, records = 0, hashed = 0;
    double bytes = 0, t_fetch = 0, t_parse = 0, t_hash = 0;
    int rc = 0;
    char url[8192];
    double t0 = now_s();
    while (rc == 0 && fgets(url, sizeof url, uf)) {
        url[strcspn(url, "\r\n")] = '\0';
        if (!url[0])
            continue;
        double a = now_s();
        mlc_buf_reset(&body);
        curl_easy_setopt(c, CURLOPT_URL, url);
        CURLcode cc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK || status != 200) {
            fprintf(stderr, "bench_parse_hash: %s: %s, HTTP %ld\n", url, curl_easy_strerror(cc),
                    status);
            rc = 1;
            break;
        }
        double b = now_s();
        pages++;
        bytes += (double)body.len;
        cJSON *root = cJSON_ParseWithLength(mlc_buf_str(&body), body.len);
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(root, "value");
        double d = now_s();
        if (!cJSON_IsArray(value)) {
            fprintf(stderr, "bench_parse_hash: %s: no \"value\" array\n", url);
            cJSON_Delete(root);
            rc = 1;
            break;
        }
        bool is_terms = strstr(url, "/AR/ARTerms") != NULL;
        for (const cJSON *rec = value->child; rec; rec = rec->next) {
            struct mlc_err e = {0};
            if (is_terms) {
                if (sage_terms_add_record(terms, rec, &e) != MLC_OK) {
                    fprintf(stderr, "bench_parse_hash: terms: %s\n", e.msg);
                    rc = 1;
                    break;
                }
                continue;
            }
            struct sage_customer cu = {0};
            char hash[MLC_EVENT_HASH_HEX + 1];
            records++;
            if (sage_customer_normalize(rec, terms, &cu, &e) != MLC_OK ||
                mlc_event_content_hash(cu.customer, hash, &e) != MLC_OK) {
                fprintf(stderr, "bench_parse_hash: record %ld: %s\n", records, e.msg);
                sage_customer_free(&cu);
                rc = 1;
                break;
            }
            hashed++;
            sage_customer_free(&cu);
        }
        cJSON_Delete(root);
        double f = now_s();
        t_fetch += b - a;
        t_parse += d - b;
        t_hash += f - d;
    }
    double secs = now_s() - t0;
    printf("pages=%ld records=%ld hashed=%ld bytes=%.0f seconds=%.3f fetch=%.3f parse=%.3f "
           "normalize_hash=%.3f\n",
           pages, records, hashed, bytes, secs, t_fetch, t_parse, t_hash);
    fclose(uf);
    sage_terms_free(terms);
    mlc_buf_free(&body);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    return rc;
}
