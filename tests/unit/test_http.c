/* Unit tests of mlc_http and mlc_backoff against an in-process libmicrohttpd
 * server whose behaviour per path the tests control. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include "mlc_alloc.h"
#include "mlc_backoff.h"
#include "mlc_http.h"
#include "mlc_log.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the test server ---------------------------------------------------- */

static struct MHD_Daemon *daemon_;
static unsigned port_;
static atomic_int conns_;    /* TCP connections accepted */
static atomic_int hits_;     /* requests to /status/ and /flaky */
static atomic_int inflight_; /* /delay requests being served now */
static atomic_int max_inflight_;
static char big_[4096];
enum { DELAY_WIDTH = 4 }; /* concurrent /delay requests the batch test sends */

struct upload {
    char data[1024];
    size_t len;
};

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static ssize_t chunked_big(void *cls, uint64_t pos, char *buf, size_t max)
{
    size_t n = max < 512 ? max : 512;

    if (pos >= sizeof(big_))
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n > sizeof(big_) - pos)
        n = sizeof(big_) - (size_t)pos;
    memcpy(buf, big_ + pos, n);
    return (ssize_t)n;
}

static ssize_t cut_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    if (pos >= 100)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* closes mid-body */
    memset(buf, 'x', 100);
    return 100;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r)
{
    enum MHD_Result ret = MHD_queue_response(conn, status, r);

    MHD_destroy_response(r);
    return ret;
}

static struct MHD_Response *text(const char *s)
{
    return MHD_create_response_from_buffer(strlen(s), (void *)s, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    struct upload *up = *con_cls;
    struct MHD_Response *r;

    if (!up) {
        up = calloc(1, sizeof(*up));
        *con_cls = up;
        return up ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;

        if (n > sizeof(up->data) - 1 - up->len)
            n = sizeof(up->data) - 1 - up->len;
        memcpy(up->data + up->len, upload_data, n);
        up->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/ok") == 0) {
        r = text("hello");
        MHD_add_response_header(r, "Content-Type", "text/plain");
        MHD_add_response_header(r, "X-RateLimit-Remaining", "42");
        MHD_add_response_header(r, "x-daily-ratelimit-token-remaining", " 1000 ");
        return reply(conn, 200, r);
    }
    if (strncmp(url, "/status/", 8) == 0) {
        long st = strtol(url + 8, NULL, 10);

        hits_++;
        r = text("status");
        if (st == 429)
            MHD_add_response_header(r, "Retry-After", "7");
        if (st == 401)
            MHD_add_response_header(r, "WWW-Authenticate", "Basic realm=\"sage\"");
        return reply(conn, (unsigned)st, r);
    }
    if (strcmp(url, "/flaky") == 0)
        return reply(conn, ++hits_ < 3 ? 503 : 200, text("flaky"));
    if (strcmp(url, "/slow") == 0) {
        sleep_ms(1000);
        return reply(conn, 200, text("late"));
    }
    if (strcmp(url, "/delay") == 0) {
        int now = ++inflight_;
        int seen = max_inflight_;

        while (now > seen && !atomic_compare_exchange_weak(&max_inflight_, &seen, now))
            ;
        /* Hold every request until DELAY_WIDTH are in flight (or 5 s passed), so
         * a client that sends them one at a time shows as max_inflight_ 1. */
        for (int i = 0; i < 500 && max_inflight_ < DELAY_WIDTH; i++)
            sleep_ms(10);
        inflight_--;
        return reply(conn, 200, text("delayed"));
    }
    if (strcmp(url, "/big") == 0)
        return reply(conn, 200,
                     MHD_create_response_from_buffer(sizeof(big_), big_, MHD_RESPMEM_PERSISTENT));
    if (strcmp(url, "/bigchunked") == 0)
        return reply(
            conn, 200,
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 512, chunked_big, NULL, NULL));
    if (strcmp(url, "/cut") == 0)
        return reply(conn, 200, MHD_create_response_from_callback(1000, 100, cut_body, NULL, NULL));
    if (strcmp(url, "/echo") == 0) {
        char out[2048];
        const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        const char *xc = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Custom");

        snprintf(out, sizeof(out), "method=%s auth=%s ct=%s x=%s body=%.*s", method,
                 auth ? auth : "-", ct ? ct : "-", xc ? xc : "-", (int)up->len, up->data);
        return reply(conn, 200, text(out));
    }
    return reply(conn, 404, text("no such path"));
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        conns_++;
}

static int server_up(void **state)
{
    struct mlc_err err = {0};

    memset(big_, 'b', sizeof(big_));
    if (mlc_http_global_init(&err) != MLC_OK)
        return -1;
    daemon_ = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_END);
    if (!daemon_)
        return -1;
    port_ = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
    return port_ ? 0 : -1;
}

static int server_down(void **state)
{
    MHD_stop_daemon(daemon_);
    mlc_http_global_cleanup();
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static char *url_of(char *buf, size_t sz, const char *path)
{
    snprintf(buf, sz, "http://127.0.0.1:%u%s", port_, path);
    return buf;
}

static struct mlc_http_client *client_with(size_t max_body, long timeout_ms)
{
    struct mlc_http_opts o;
    struct mlc_http_client *c = NULL;
    struct mlc_err err = {0};

    mlc_http_opts_default(&o);
    o.max_body = max_body;
    o.timeout_ms = timeout_ms;
    o.connect_timeout_ms = 2000;
    o.user = "alice";
    o.password = "s3cret";
    assert_int_equal(mlc_http_client_new(&o, &c, &err), MLC_OK);
    return c;
}

static mlc_rc get(struct mlc_http_client *c, const char *path, struct mlc_http_response *resp,
                  struct mlc_err *err)
{
    char url[256];
    struct mlc_http_request req = {.method = MLC_HTTP_GET, .url = url_of(url, sizeof(url), path)};

    return mlc_http_perform(c, &req, resp, err);
}

/* ---- tests -------------------------------------------------------------- */

static void ok_returns_body_and_headers_case_insensitively(void **state)
{
    struct mlc_http_client *c = client_with(1 << 20, 5000);
    struct mlc_http_response resp;
    struct mlc_err err = {0};

    mlc_http_response_init(&resp);
    assert_int_equal(get(c, "/ok", &resp, &err), MLC_OK);
    assert_int_equal(resp.status, 200);
    assert_string_equal(mlc_buf_str(&resp.body), "hello");
    assert_string_equal(mlc_http_response_header(&resp, "x-ratelimit-remaining"), "42");
    assert_string_equal(mlc_http_response_header(&resp, "CONTENT-TYPE"), "text/plain");
    assert_string_equal(mlc_http_response_header(&resp, "X-Daily-Ratelimit-Token-Remaining"),
                        "1000");
    assert_null(mlc_http_response_header(&resp, "retry-after"));
    assert_null(mlc_http_response_header(&resp, "x-ratelimit"));

    /* A 429 carries Retry-After; the earlier response's headers are gone. */
    assert_int_equal(get(c, "/status/429", &resp, &err), MLC_RETRY);
    assert_string_equal(mlc_http_response_header(&resp, "Retry-After"), "7");
    assert_null(mlc_http_response_header(&resp, "x-ratelimit-remaining"));
    assert_int_equal(get(c, "/status/401", &resp, &err), MLC_PERM);
    assert_string_equal(mlc_http_response_header(&resp, "www-authenticate"),
                        "Basic realm=\"sage\"");
    mlc_http_response_free(&resp);
    mlc_http_client_free(c);
}

static void statuses_are_classified(void **state)
{
    static const struct {
        int status;
        mlc_rc rc;
    } cases[] = {{200, MLC_OK},    {204, MLC_OK},    {400, MLC_PERM},  {401, MLC_PERM},
                 {403, MLC_PERM},  {404, MLC_PERM},  {408, MLC_RETRY}, {409, MLC_PERM},
                 {422, MLC_PERM},  {429, MLC_RETRY}, {500, MLC_RETRY}, {502, MLC_RETRY},
                 {503, MLC_RETRY}, {504, MLC_RETRY}};
    struct mlc_http_client *c = client_with(1 << 20, 5000);
    struct mlc_http_response resp;

    mlc_http_response_init(&resp);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct mlc_err err = {0};
        char path[64], want[256];

        snprintf(path, sizeof(path), "/status/%d", cases[i].status);
        assert_int_equal(get(c, path, &resp, &err), cases[i].rc);
        assert_int_equal(resp.status, cases[i].status);
        if (cases[i].rc == MLC_OK)
            continue;
        assert_int_equal(err.rc, cases[i].rc);
        assert_int_equal(err.status, cases[i].status);
        snprintf(want, sizeof(want), "GET http://127.0.0.1:%u/status/%d: HTTP %d", port_,
                 cases[i].status, cases[i].status);
        assert_string_equal(err.msg, want);
    }
    mlc_http_response_free(&resp);
    mlc_http_client_free(c);

    assert_int_equal(mlc_http_classify_status(0), MLC_RETRY);
    assert_int_equal(mlc_http_classify_status(299), MLC_OK);
    assert_int_equal(mlc_http_classify_status(304), MLC_PERM);
    assert_int_equal(mlc_http_classify_status(599), MLC_RETRY);
    assert_int_equal(mlc_http_classify_status(600), MLC_PERM);
}

static void auth_failures_become_fatal_only_when_asked(void **state)
{
    struct mlc_http_client *c = client_with(1 << 20, 5000);
    struct mlc_http_response resp;
    struct mlc_err err = {0};

    mlc_http_response_init(&resp);
    assert_int_equal(mlc_http_auth_fatal(get(c, "/status/401", &resp, &err), &err), MLC_FATAL);
    assert_int_equal(err.rc, MLC_FATAL);
    assert_int_equal(mlc_http_auth_fatal(get(c, "/status/403", &resp, &err), &err), MLC_FATAL);
    assert_int_equal(mlc_http_auth_fatal(get(c, "/status/404", &resp, &err), &err), MLC_PERM);
    assert_int_equal(mlc_http_auth_fatal(get(c, "/status/503", &resp, &err), &err), MLC_RETRY);
    assert_int_equal(mlc_http_auth_fatal(get(c, "/ok", &resp, &err), &err), MLC_OK);
    assert_true(mlc_http_is_auth_failure(401));
    assert_false(mlc_http_is_auth_failure(407));
    mlc_http_response_free(&resp);
    mlc_http_client_free(c);
}

static void messages_hide_query_and_credentials(void **state)
{
    struct mlc_http_client *c = client_with(1 << 20, 5000);
    struct mlc_http_response resp;
    struct mlc_err err = {0};
    char url[256], want[256];
    struct mlc_http_request req = {.method = MLC_HTTP_GET, .url = url};

    mlc_http_response_init(&resp);
    snprintf(url, sizeof(url), "http://bob:hunter2@127.0.0.1:%u/status/503?api_token=TOK123",
             port_);
    assert_int_equal(mlc_http_perform(c, &req, &resp, &err), MLC_RETRY);
    snprintf(want, sizeof(want), "GET http://127.0.0.1:%u/status/503?...: HTTP 503", port_);
    assert_string_equal(err.msg, want);

    /* A registered secret in the path is redacted too. */
    mlc_log_add_secret("pathsecret");
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/pathsecret", port_);
    assert_int_equal(mlc_http_perform(c, &req, &resp, &err), MLC_PERM);
    assert_null(strstr(err.msg, "pathsecret"));
    assert_non_null(strstr(err.msg, "[REDACTED]"));
    mlc_log_clear_secrets();
    mlc_http_response_free(&resp);
    mlc_http_client_free(c);
}

static void body_cap_aborts_with_perm(void **state)
{
    struct mlc_http_client *c = client_with(1024, 5000);
    struct mlc_http_client *exact = client_with(5, 5000);
    struct mlc_http_response resp;
    struct mlc_err err = {0};

    mlc_http_response_init(&resp);
    /* Content-Length says too much: refused before reading. */
    assert_int_equal(get(c, "/big", &resp, &err), MLC_PERM);
    assert_non_null(strstr(err.msg, "/big: response larger than 1024 bytes"));
    assert_int_equal(err.status, 200);
    /* Chunked, no length: aborted while reading. */
    assert_int_equal(get(c, "/bigchunked", &resp, &err), MLC_PERM);
    assert_non_null(strstr(err.msg, "/bigchunked: response larger than 1024 bytes"));
    assert_true(resp.body.len <= 1024);
    /* The client stays usable after an aborted transfer. */
    assert_int_equal(get(c, "/ok", &resp, &err), MLC_OK);
    /* A body exactly at the cap is fine. */
    assert_int_equal(get(exact, "/ok", &resp, &err), MLC_OK);
    assert_string_equal(mlc_buf_str(&resp.body), "hello");
    mlc_http_response_free(&resp);
    mlc_http_client_free(c);
    mlc_http_client_free(exact);
}

static void transport_failures_are_retryable(void **state)
{
    struct mlc_http_client *c = client_with(1 << 20, 300);
    struct mlc_http_response resp;
    struct mlc_err err = {0};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char url[128];
    struct mlc_http_request req = {.method = MLC_HTTP_GET, .url = url};

    mlc_http_response_init(&resp);
    /* /slow answers after 1 s: a 200 here would mean the 0.3 s timeout was ignored */
    assert_int_equal(get(c, "/slow", &resp, &err), MLC_RETRY);
    assert_non_null(strstr(err.msg, "GET "));
    assert_non_null(strstr(err.msg, "/slow: timed out after 0.3 s"));
    assert_int_equal(err.status, 0);

    assert_int_equal(get(c, "/cut", &resp, &err), MLC_RETRY);
    assert_non_null(strstr(err.msg, "/cut: "));
    assert_int_equal(err.status, 200);

    /* Refused connection: a port that was free a moment ago. */
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", ntohs(sa.sin_port));
    assert_int_equal(mlc_http_perform(c, &req, &resp, &err), MLC_RETRY);
    assert_int_equal(resp.status, 0);

    /* Unknown scheme is a configuration mistake, not worth retrying. */
    assert_int_equal(
        mlc_http_perform(c, &(struct mlc_http_request){.url = "gopher://x/"}, &resp, &err),
        MLC_PERM);
    mlc_http_response_free(&resp);
    mlc_http_client_free(c);
}

static void unreadable_ca_file_is_permanent(void **state)
{
    struct mlc_http_opts o;
    struct mlc_http_client *c = NULL;
    struct mlc_http_response resp;
    struct mlc_err err = {0};
    char url[256];

    mlc_http_opts_default(&o);
    o.ca_file = "/nonexistent/ca.pem";
    o.timeout_ms = 2000;
    assert_int_equal(mlc_http_client_new(&o, &c, &err), MLC_OK);
    mlc_http_response_init(&resp);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/ok", port_);
    assert_int_equal(mlc_http_perform(c, &(struct mlc_http_request){.url = url}, &resp, &err),
                     MLC_PERM);
    assert_non_null(strstr(err.msg, "GET https://127.0.0.1:"));
    assert_non_null(strstr(err.msg, "certificate file"));
    mlc_http_response_free(&resp);
    mlc_http_client_free(c);
}

static void methods_bodies_headers_and_basic_auth_arrive(void **state)
{
    static const char *const hdrs[] = {"Content-Type: application/json", "X-Custom: yes", NULL};
    struct mlc_http_client *c = client_with(1 << 20, 5000);
    struct mlc_http_response resp;
    struct mlc_err err = {0};
    char url[256];
    struct mlc_http_request req = {.url = url_of(url, sizeof(url), "/echo"),
                                   .headers = hdrs,
                                   .body = "{\"a\":1}",
                                   .body_len = 7};

    mlc_http_response_init(&resp);
    req.method = MLC_HTTP_POST;
    assert_int_equal(mlc_http_perform(c, &req, &resp, &err), MLC_OK);
    assert_string_equal(mlc_buf_str(&resp.body), "method=POST auth=Basic YWxpY2U6czNjcmV0 "
                                                 "ct=application/json x=yes body={\"a\":1}");
    req.method = MLC_HTTP_PATCH;
    assert_int_equal(mlc_http_perform(c, &req, &resp, &err), MLC_OK);
    assert_non_null(strstr(mlc_buf_str(&resp.body), "method=PATCH "));
    assert_non_null(strstr(mlc_buf_str(&resp.body), "body={\"a\":1}"));
    /* After a body-carrying request the reused handle must send a plain GET/DELETE. */
    req.method = MLC_HTTP_DELETE;
    req.body = NULL;
    req.body_len = 0;
    req.headers = NULL;
    assert_int_equal(mlc_http_perform(c, &req, &resp, &err), MLC_OK);
    assert_string_equal(mlc_buf_str(&resp.body),
                        "method=DELETE auth=Basic YWxpY2U6czNjcmV0 ct=- x=- body=");
    req.method = MLC_HTTP_GET;
    assert_int_equal(mlc_http_perform(c, &req, &resp, &err), MLC_OK);
    assert_string_equal(mlc_buf_str(&resp.body),
                        "method=GET auth=Basic YWxpY2U6czNjcmV0 ct=- x=- body=");
    mlc_http_response_free(&resp);
    mlc_http_client_free(c);
}

static void sequential_requests_reuse_one_connection(void **state)
{
    struct mlc_http_client *c = client_with(1 << 20, 5000);
    struct mlc_http_response resp;
    struct mlc_err err = {0};
    int before = conns_;

    mlc_http_response_init(&resp);
    assert_int_equal(get(c, "/ok", &resp, &err), MLC_OK);
    assert_int_equal(resp.num_connects, 1);
    assert_int_equal(get(c, "/status/404", &resp, &err), MLC_PERM);
    assert_int_equal(get(c, "/ok", &resp, &err), MLC_OK);
    assert_int_equal(resp.num_connects, 0);
    assert_int_equal(conns_ - before, 1);
    mlc_http_response_free(&resp);
    mlc_http_client_free(c);
}

static void backoff_delay_stays_within_full_jitter_bounds(void **state)
{
    struct mlc_backoff b, same;
    long lo = 1000000, hi = -1;

    mlc_backoff_init(&b, 100, 5000, 2000, 42);
    for (unsigned attempt = 0; attempt < 80; attempt++) {
        long ceiling = attempt >= 6 ? 5000 : 100L << attempt;

        for (int i = 0; i < 200; i++) {
            long d = mlc_backoff_delay_ms(&b, attempt, -1);

            assert_in_range(d, 0, ceiling);
        }
    }
    /* Full jitter: the whole range [0, ceiling] is used, not just the top. */
    for (int i = 0; i < 2000; i++) {
        long d = mlc_backoff_delay_ms(&b, 3, -1);

        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo < 80);
    assert_true(hi > 720);

    /* Same seed, same sequence; different seed, different sequence. */
    mlc_backoff_init(&b, 100, 5000, 2000, 7);
    mlc_backoff_init(&same, 100, 5000, 2000, 7);
    for (int i = 0; i < 50; i++)
        assert_int_equal(mlc_backoff_delay_ms(&b, 4, -1), mlc_backoff_delay_ms(&same, 4, -1));
    mlc_backoff_init(&same, 100, 5000, 2000, 8);
    {
        int differ = 0;

        for (int i = 0; i < 50; i++)
            differ += mlc_backoff_delay_ms(&b, 4, -1) != mlc_backoff_delay_ms(&same, 4, -1);
        assert_true(differ > 25);
    }

    /* Retry-After is a floor, capped by the caller's maximum. */
    for (int i = 0; i < 200; i++) {
        assert_in_range(mlc_backoff_delay_ms(&b, 0, 1500), 1500, 1500);
        assert_in_range(mlc_backoff_delay_ms(&b, 10, 1500), 1500, 5000);
        assert_in_range(mlc_backoff_delay_ms(&b, 0, 999999), 2000, 2000);
        assert_in_range(mlc_backoff_delay_ms(&b, 0, 0), 0, 100);
    }
    /* Defaults for nonsense settings. */
    mlc_backoff_init(&b, 0, -1, 0, 0);
    assert_int_equal(b.base_ms, 500);
    assert_int_equal(b.cap_ms, 30000);
    assert_int_equal(b.max_retry_after_ms, 300000);
}

static void retry_after_parses_seconds_and_dates(void **state)
{
    time_t when = curl_getdate("Wed, 21 Oct 2015 07:28:00 GMT", NULL);
    long ms = -1;

    assert_true(mlc_backoff_parse_retry_after("120", 0, &ms));
    assert_int_equal(ms, 120000);
    assert_true(mlc_backoff_parse_retry_after(" 0 ", 0, &ms));
    assert_int_equal(ms, 0);
    assert_true(mlc_backoff_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", when - 30, &ms));
    assert_int_equal(ms, 30000);
    assert_true(mlc_backoff_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", when + 30, &ms));
    assert_int_equal(ms, 0);
    ms = 5;
    assert_false(mlc_backoff_parse_retry_after("-1", 0, &ms));
    assert_false(mlc_backoff_parse_retry_after("soon", 0, &ms));
    assert_false(mlc_backoff_parse_retry_after("1.5", 0, &ms));
    assert_false(mlc_backoff_parse_retry_after("", 0, &ms));
    assert_false(mlc_backoff_parse_retry_after(NULL, 0, &ms));
    assert_int_equal(ms, 5);
}

struct sleeps {
    int n;
    long ms[16];
    int stop_at; /* set *stop during this sleep (1-based), 0 = never */
};

static bool fake_sleep(void *ctx, long ms, volatile sig_atomic_t *stop)
{
    struct sleeps *s = ctx;

    if (s->n < 16)
        s->ms[s->n] = ms;
    s->n++;
    if (s->stop_at == s->n && stop)
        *stop = 1;
    return !(stop && *stop);
}

static void retry_loop_honours_attempts_retry_after_and_stop(void **state)
{
    struct mlc_http_client *c = client_with(1 << 20, 5000);
    struct mlc_http_response resp;
    struct mlc_err err = {0};
    struct mlc_backoff b;
    struct sleeps s = {0};
    volatile sig_atomic_t stop = 0;
    struct mlc_http_retry rp = {
        .max_attempts = 4, .backoff = &b, .stop = &stop, .sleep_ms = fake_sleep, .sleep_ctx = &s};
    char url[256];
    struct mlc_http_request req = {.method = MLC_HTTP_GET, .url = url};
    FILE *log = tmpfile();
    char line[4096] = "";

    mlc_backoff_init(&b, 100, 100, 2000, 1);
    mlc_http_response_init(&resp);
    assert_non_null(log);
    mlc_log_set_stream(log);

    /* 503 every time: 4 tries, 3 sleeps, last outcome returned. */
    hits_ = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/status/503?api_token=TOK", port_);
    assert_int_equal(mlc_http_perform_retry(c, &req, &resp, &rp, &err), MLC_RETRY);
    assert_int_equal(hits_, 4);
    assert_int_equal(s.n, 3);
    assert_int_equal(err.status, 503);
    assert_non_null(strstr(err.msg, "HTTP 503"));
    for (int i = 0; i < 3; i++)
        assert_in_range(s.ms[i], 0, 100);
    fflush(log);
    rewind(log);
    assert_true(fread(line, 1, sizeof(line) - 1, log) > 0);
    assert_non_null(strstr(line, " warn "));
    assert_non_null(strstr(line, "/status/503?...: HTTP 503; retry 1 of 3 in "));
    assert_non_null(strstr(line, "retry 3 of 3"));
    assert_null(strstr(line, "TOK"));

    /* 429 with Retry-After: 7 s, capped by the caller's 2 s: wait exactly that. */
    hits_ = 0;
    s.n = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/status/429", port_);
    assert_int_equal(mlc_http_perform_retry(c, &req, &resp, &rp, &err), MLC_RETRY);
    assert_int_equal(hits_, 4);
    assert_int_equal(s.n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s.ms[i], 2000);

    /* Permanent: no retry. */
    hits_ = 0;
    s.n = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/status/404", port_);
    assert_int_equal(mlc_http_perform_retry(c, &req, &resp, &rp, &err), MLC_PERM);
    assert_int_equal(hits_, 1);
    assert_int_equal(s.n, 0);

    /* Recovers: 503, 503, 200. */
    hits_ = 0;
    s.n = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/flaky", port_);
    assert_int_equal(mlc_http_perform_retry(c, &req, &resp, &rp, &err), MLC_OK);
    assert_int_equal(hits_, 3);
    assert_int_equal(s.n, 2);
    assert_string_equal(mlc_buf_str(&resp.body), "flaky");

    /* Stop raised during the first sleep: no further try. */
    hits_ = 0;
    s.n = 0;
    s.stop_at = 1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/status/503", port_);
    assert_int_equal(mlc_http_perform_retry(c, &req, &resp, &rp, &err), MLC_RETRY);
    assert_int_equal(hits_, 1);
    assert_non_null(strstr(err.msg, "HTTP 503 (interrupted)"));
    assert_int_equal(err.status, 503);

    /* Stop already raised: nothing is sent at all. */
    hits_ = 0;
    assert_int_equal(mlc_http_perform_retry(c, &req, &resp, &rp, &err), MLC_RETRY);
    assert_int_equal(hits_, 0);
    assert_non_null(strstr(err.msg, "interrupted"));

    mlc_log_set_stream(NULL);
    fclose(log);
    mlc_http_response_free(&resp);
    mlc_http_client_free(c);
}

static void default_sleep_returns_at_once_when_stopped(void **state)
{
    volatile sig_atomic_t stop = 1;
    double t0;

    /* An hour: were the stop flag ignored, ctest's timeout would end the test. */
    assert_false(mlc_backoff_sleep_ms(3600L * 1000, &stop));
    stop = 0;
    t0 = now_ms();
    assert_true(mlc_backoff_sleep_ms(30, &stop));
    assert_true(now_ms() - t0 >= 29);
}

static void batch_runs_requests_concurrently(void **state)
{
    struct mlc_http_opts o;
    struct mlc_http_batch *b = NULL;
    struct mlc_http_request reqs[DELAY_WIDTH];
    struct mlc_http_response resps[DELAY_WIDTH];
    struct mlc_err errs[DELAY_WIDTH], err = {0};
    mlc_rc rcs[DELAY_WIDTH];
    char url[256];

    mlc_http_opts_default(&o);
    assert_int_equal(mlc_http_batch_new(&o, DELAY_WIDTH, &b, &err), MLC_OK);
    url_of(url, sizeof(url), "/delay");
    for (int i = 0; i < DELAY_WIDTH; i++) {
        reqs[i] = (struct mlc_http_request){.method = MLC_HTTP_GET, .url = url};
        mlc_http_response_init(&resps[i]);
    }
    max_inflight_ = 0;
    assert_int_equal(mlc_http_batch_perform(b, reqs, DELAY_WIDTH, resps, rcs, errs, NULL, &err),
                     MLC_OK);
    for (int i = 0; i < DELAY_WIDTH; i++) {
        assert_int_equal(rcs[i], MLC_OK);
        assert_string_equal(mlc_buf_str(&resps[i].body), "delayed");
    }
    /* The server saw all of them in flight at once: the batch is concurrent. */
    assert_int_equal(max_inflight_, DELAY_WIDTH);
    for (int i = 0; i < DELAY_WIDTH; i++)
        mlc_http_response_free(&resps[i]);
    mlc_http_batch_free(b);
}

static void batch_returns_each_outcome_and_reuses_connections(void **state)
{
    static const char *const paths[] = {"/ok", "/status/404", "/status/503", "/echo", "/ok", "/ok"};
    enum { N = 6 };
    struct mlc_http_opts o;
    struct mlc_http_batch *b = NULL;
    struct mlc_http_request reqs[N];
    struct mlc_http_response resps[N];
    struct mlc_err errs[N], err = {0};
    mlc_rc rcs[N];
    char urls[N][256];
    volatile sig_atomic_t stop = 0;
    int before;

    mlc_http_opts_default(&o);
    o.user = "alice";
    o.password = "s3cret";
    assert_int_equal(mlc_http_batch_new(&o, 2, &b, &err), MLC_OK);
    for (int i = 0; i < N; i++) {
        reqs[i] = (struct mlc_http_request){.method = MLC_HTTP_GET,
                                            .url = url_of(urls[i], sizeof(urls[i]), paths[i])};
        mlc_http_response_init(&resps[i]);
    }
    before = conns_;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(mlc_http_batch_perform(b, reqs, N, resps, rcs, errs, &stop, &err), MLC_OK);
        assert_int_equal(rcs[0], MLC_OK);
        assert_string_equal(mlc_buf_str(&resps[0].body), "hello");
        assert_int_equal(rcs[1], MLC_PERM);
        assert_int_equal(errs[1].status, 404);
        assert_int_equal(rcs[2], MLC_RETRY);
        assert_non_null(strstr(errs[2].msg, "/status/503: HTTP 503"));
        assert_int_equal(rcs[3], MLC_OK);
        assert_non_null(strstr(mlc_buf_str(&resps[3].body), "auth=Basic YWxpY2U6czNjcmV0"));
        assert_string_equal(mlc_http_response_header(&resps[4], "x-ratelimit-remaining"), "42");
    }
    /* Twelve requests over two slots, kept alive: at most two connections. */
    assert_in_range(conns_ - before, 1, 2);

    /* Stopped before anything ran: every request reports interrupted. */
    stop = 1;
    assert_int_equal(mlc_http_batch_perform(b, reqs, N, resps, rcs, errs, &stop, &err), MLC_RETRY);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rcs[i], MLC_RETRY);
        assert_non_null(strstr(errs[i].msg, ": interrupted"));
    }
    for (int i = 0; i < N; i++)
        mlc_http_response_free(&resps[i]);
    mlc_http_batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ok_returns_body_and_headers_case_insensitively),
        cmocka_unit_test(statuses_are_classified),
        cmocka_unit_test(auth_failures_become_fatal_only_when_asked),
        cmocka_unit_test(messages_hide_query_and_credentials),
        cmocka_unit_test(body_cap_aborts_with_perm),
        cmocka_unit_test(transport_failures_are_retryable),
        cmocka_unit_test(unreadable_ca_file_is_permanent),
        cmocka_unit_test(methods_bodies_headers_and_basic_auth_arrive),
        cmocka_unit_test(sequential_requests_reuse_one_connection),
        cmocka_unit_test(backoff_delay_stays_within_full_jitter_bounds),
        cmocka_unit_test(retry_after_parses_seconds_and_dates),
        cmocka_unit_test(retry_loop_honours_attempts_retry_after_and_stop),
        cmocka_unit_test(default_sleep_returns_at_once_when_stopped),
        cmocka_unit_test(batch_runs_requests_concurrently),
        cmocka_unit_test(batch_returns_each_outcome_and_reuses_connections),
    };

    return cmocka_run_group_tests(tests, server_up, server_down);
}
