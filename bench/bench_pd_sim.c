/* bench_pd_sim - requests per second that mlc-pipedrive-sim serves.
 *
 * Keeps --concurrency requests in flight over keep-alive connections with
 * libcurl multi and reports the throughput. By default it starts the sandbox
 * itself (--sim PATH, with --no-limits --port 0) and seeds one organization;
 * --url targets a running one instead.
 *
 *   bench_pd_sim --sim build/mlc-pipedrive-sim [--requests N] [--concurrency C]
 *                [--mix get|list|create|all]
 */
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_str.h"

#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TOKEN "bench-token"

struct slot {
    CURL *h;
    struct curl_slist *hdrs;
    struct mlc_buf body;
};

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    struct mlc_buf *b = ud;
    (void)p;
    b->len += sz * n; /* count only */
    return sz * n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t start_sim(const char *path, char *url, size_t urlsz)
{
    int fds[2];
    pid_t pid;
    posix_spawn_file_actions_t fa;
    char *argv[] = {(char *)path, "--no-limits", "--port", "0", "--token", TOKEN, NULL};
    FILE *f;

    if (pipe(fds) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    if (posix_spawn(&pid, path, &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (pid < 0 || !f || !fgets(url, (int)urlsz, f)) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    url[strcspn(url, "\r\n")] = '\0';
    return pid;
}

static void setup_request(struct slot *s, const char *base, const char *mix, long i)
{
    char url[512];
    const char *kind = mix;

    if (strcmp(mix, "all") == 0)
        kind = i % 4 == 0 ? "create" : i % 4 == 1 ? "list" : "get";
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(s->h, CURLOPT_HTTPGET, 1L);
    if (strcmp(kind, "create") == 0) {
        snprintf(url, sizeof(url), "%s/api/v2/organizations", base);
        curl_easy_setopt(s->h, CURLOPT_POSTFIELDS,
                         "{\"name\":\"Bench Org\",\"address\":{\"value\":\"Main St 1\"}}");
    } else if (strcmp(kind, "list") == 0) {
        snprintf(url, sizeof(url), "%s/api/v2/organizations?limit=10", base);
    } else {
        snprintf(url, sizeof(url), "%s/api/v2/organizations/1", base);
    }
    curl_easy_setopt(s->h, CURLOPT_URL, url);
    s->body.len = 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"sim", required_argument, NULL, 's'},
        {"url", required_argument, NULL, 'u'},
        {"requests", required_argument, NULL, 'n'},
        {"concurrency", required_argument, NULL, 'c'},
        {"mix", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *sim = NULL, *mix = "get";
    char url[256] = "";
    long total = 20000, conc = 8;
    pid_t pid = -1;
    int c, rc = 1;
    long started = 0, done = 0, failed = 0;
    struct slot *slots = NULL;
    CURLM *multi = NULL;
    double t0, t1;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            sim = optarg;
            break;
        case 'u':
            mlc_strlcpy(url, optarg, sizeof(url));
            break;
        case 'n':
            if (!mlc_parse_long(optarg, 1, 10000000, &total)) {
                fprintf(stderr, "bench_pd_sim: --requests: expected 1..10000000\n");
                return 2;
            }
            break;
        case 'c':
            if (!mlc_parse_long(optarg, 1, 256, &conc)) {
                fprintf(stderr, "bench_pd_sim: --concurrency: expected 1..256\n");
                return 2;
            }
            break;
        case 'm':
            mix = optarg;
            break;
        default:
            fprintf(stderr, "usage: bench_pd_sim (--sim PATH | --url URL) [--requests N] "
                            "[--concurrency C] [--mix get|list|create|all]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (strcmp(mix, "get") && strcmp(mix, "list") && strcmp(mix, "create") && strcmp(mix, "all")) {
        fprintf(stderr, "bench_pd_sim: --mix: expected get, list, create or all\n");
        return 2;
    }
    if (sim) {
        pid = start_sim(sim, url, sizeof(url));
        if (pid < 0) {
            fprintf(stderr, "bench_pd_sim: cannot start %s\n", sim);
            return 1;
        }
    } else if (!url[0]) {
        fprintf(stderr, "bench_pd_sim: give --sim PATH or --url URL\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi = curl_multi_init();
    slots = mlc_xcalloc((size_t)conc, sizeof(*slots));
    if (!multi)
        goto out;
    for (long i = 0; i < conc; i++) {
        slots[i].h = curl_easy_init();
        mlc_buf_init(&slots[i].body, 1 << 20);
        slots[i].hdrs = curl_slist_append(NULL, "x-api-token: " TOKEN);
        slots[i].hdrs = curl_slist_append(slots[i].hdrs, "Content-Type: application/json");
        curl_easy_setopt(slots[i].h, CURLOPT_HTTPHEADER, slots[i].hdrs);
        curl_easy_setopt(slots[i].h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(slots[i].h, CURLOPT_WRITEDATA, &slots[i].body);
        curl_easy_setopt(slots[i].h, CURLOPT_PRIVATE, &slots[i]);
    }
    /* seed the organization the GETs read */
    setup_request(&slots[0], url, "create", 0);
    if (curl_easy_perform(slots[0].h) != CURLE_OK) {
        fprintf(stderr, "bench_pd_sim: cannot reach %s\n", url);
        goto out;
    }

    t0 = now_s();
    for (long i = 0; i < conc && started < total; i++) {
        setup_request(&slots[i], url, mix, started++);
        curl_multi_add_handle(multi, slots[i].h);
    }
    while (done < total) {
        int running = 0, left = 0;
        CURLMsg *msg;
        curl_multi_perform(multi, &running);
        while ((msg = curl_multi_info_read(multi, &left))) {
            struct slot *s = NULL;
            long code = 0;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || code != 200)
                failed++;
            done++;
            curl_multi_remove_handle(multi, s->h);
            if (started < total) {
                setup_request(s, url, mix, started++);
                curl_multi_add_handle(multi, s->h);
            }
        }
        if (done < total)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    t1 = now_s();
    printf("mix=%s requests=%ld concurrency=%ld failed=%ld seconds=%.3f rps=%.0f\n", mix, total,
           conc, failed, t1 - t0, (double)total / (t1 - t0));
    rc = failed ? 1 : 0;
out:
    for (long i = 0; slots && i < conc; i++) {
        if (slots[i].h)
            curl_easy_cleanup(slots[i].h);
        curl_slist_free_all(slots[i].hdrs);
        mlc_buf_free(&slots[i].body);
    }
    free(slots);
    if (multi)
        curl_multi_cleanup(multi);
    curl_global_cleanup();
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    return rc;
}
