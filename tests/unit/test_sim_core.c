/* test_sim_core.c - the shared sandbox HTTP core: plumbing, faults, counters, log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim_core.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct reply {
    long status;
    CURLcode cc;
    char body[65536];
    size_t len;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t k = sz * n;
    if (r->len + k >= sizeof r->body)
        k = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = '\0';
    return sz * n;
}

static void call(struct sim_server *srv, const char *method, const char *target, const char *body,
                 const char *header, struct reply *r)
{
    char url[2048];
    snprintf(url, sizeof url, "%s%s", sim_server_base_url(srv), target);
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    if (header)
        h = curl_slist_append(h, header);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    r->cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

/* Echo app: reports what the core parsed. */
static void echo(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    struct sim_server **srvp = ctx;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", req->method);
    cJSON_AddStringToObject(o, "path", req->path);
    cJSON_AddStringToObject(o, "raw_path", req->raw_path);
    cJSON_AddStringToObject(o, "raw_query", req->raw_query);
    cJSON *ps = cJSON_AddArrayToObject(o, "params");
    for (size_t i = 0; i < req->nparams; i++) {
        cJSON *p = cJSON_CreateArray();
        cJSON_AddItemToArray(p, cJSON_CreateString(req->params[i].name));
        cJSON_AddItemToArray(p, cJSON_CreateString(req->params[i].value));
        cJSON_AddItemToArray(ps, p);
    }
    const char *x = sim_request_header(req, "x-test");
    cJSON_AddStringToObject(o, "x", x ? x : "");
    cJSON_AddStringToObject(o, "body", req->body);
    const char *q = sim_request_param(req, "q");
    cJSON_AddStringToObject(o, "q", q ? q : "");
    sim_response_header(res, "X-Echo", "yes");
    sim_response_route(res, "echo");
    sim_counter_add(*srvp, "echo.calls", 1);
    sim_response_json(res, 200, o);
}

static void ctl_hello(void *ctx, const struct sim_request *req, struct sim_response *res)
{
    sim_response_text(res, 202, "text/plain", "hello");
}

static cJSON *default_body(void *ctx, int status)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "default", status);
    return o;
}

static int setup(void **state)
{
    static struct sim_server *srv;
    struct sim_config cfg = {0};
    cfg.port = 0;
    cfg.handler = echo;
    cfg.fault_body = default_body;
    cfg.ctx = &srv;
    cfg.max_body = 1024;
    cfg.log_capacity = 4;
    struct mlc_err err;
    if (sim_server_start(&cfg, &srv, &err) != MLC_OK)
        return -1;
    if (!sim_server_add_control(srv, "GET", "/_sim/hello", ctl_hello))
        return -1;
    *state = srv;
    return 0;
}

static int teardown(void **state)
{
    sim_server_stop(*state);
    return 0;
}

static void add_fault(struct sim_server *srv, const char *json)
{
    struct reply r;
    call(srv, "POST", "/_sim/faults", json, "Content-Type: application/json", &r);
    assert_int_equal(r.status, 201);
}

static void test_plumbing(void **state)
{
    struct sim_server *srv = *state;
    struct reply r;
    assert_true(sim_server_port(srv) > 0);
    call(srv, "GET", "/a%20b/c%27d?z=1&q=x%20y+z&a&%24top=5", NULL, "X-Test: hi", &r);
    assert_int_equal(r.cc, CURLE_OK);
    assert_int_equal(r.status, 200);
    cJSON *o = cJSON_Parse(r.body);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "path")->valuestring, "/a b/c'd");
    assert_string_equal(cJSON_GetObjectItem(o, "raw_path")->valuestring, "/a%20b/c%27d");
    assert_string_equal(cJSON_GetObjectItem(o, "raw_query")->valuestring,
                        "z=1&q=x%20y+z&a&%24top=5");
    assert_string_equal(cJSON_GetObjectItem(o, "q")->valuestring, "x y z");
    assert_string_equal(cJSON_GetObjectItem(o, "x")->valuestring, "hi");
    cJSON *ps = cJSON_GetObjectItem(o, "params");
    assert_int_equal(cJSON_GetArraySize(ps), 4);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(ps, 0), 0)->valuestring, "z");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(ps, 2), 1)->valuestring, "");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(ps, 3), 0)->valuestring, "$top");
    cJSON_Delete(o);

    call(srv, "POST", "/p", "{\"k\":1}", "Content-Type: application/json", &r);
    o = cJSON_Parse(r.body);
    assert_string_equal(cJSON_GetObjectItem(o, "body")->valuestring, "{\"k\":1}");
    assert_string_equal(cJSON_GetObjectItem(o, "method")->valuestring, "POST");
    cJSON_Delete(o);

    char big[2048];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    call(srv, "POST", "/p", big, NULL, &r);
    assert_int_equal(r.status, 413);

    call(srv, "GET", "/_sim/hello", NULL, NULL, &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.body, "hello");
    call(srv, "GET", "/_sim/nope", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
}

static void test_fault_status_and_scope(void **state)
{
    struct sim_server *srv = *state;
    struct reply r;
    add_fault(srv, "{\"kind\":\"status\",\"status\":503,\"count\":2,\"path\":\"/only/*\","
                   "\"method\":\"GET\"}");
    call(srv, "GET", "/other", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    call(srv, "POST", "/only/x", "{}", NULL, &r);
    assert_int_equal(r.status, 200);
    call(srv, "GET", "/only/x", NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "{\"default\":503}");
    call(srv, "GET", "/only/y", NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    call(srv, "GET", "/only/y", NULL, NULL, &r);
    assert_int_equal(r.status, 200); /* count exhausted */

    add_fault(srv, "{\"kind\":\"status\",\"status\":429,\"body\":{\"e\":1},\"after\":1,"
                   "\"path\":\"sub\"}");
    call(srv, "GET", "/a/sub/b", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    call(srv, "GET", "/a/sub/b", NULL, NULL, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.body, "{\"e\":1}");

    /* bad fault objects are refused */
    call(srv, "POST", "/_sim/faults", "{\"kind\":\"explode\"}", NULL, &r);
    assert_int_equal(r.status, 400);
    call(srv, "POST", "/_sim/faults", "{\"kind\":\"status\",\"probability\":2}", NULL, &r);
    assert_int_equal(r.status, 400);
}

static int fires(struct sim_server *srv, int n)
{
    int k = 0;
    struct reply r;
    for (int i = 0; i < n; i++) {
        call(srv, "GET", "/prob", NULL, NULL, &r);
        k += r.status == 500;
    }
    return k;
}

static void test_fault_probability_seeded(void **state)
{
    struct sim_server *srv = *state;
    struct reply r;
    add_fault(srv, "{\"kind\":\"status\",\"probability\":0.5,\"seed\":7}");
    int a = fires(srv, 40);
    call(srv, "DELETE", "/_sim/faults", NULL, NULL, &r);
    add_fault(srv, "{\"kind\":\"status\",\"probability\":0.5,\"seed\":7}");
    int b = fires(srv, 40);
    call(srv, "DELETE", "/_sim/faults", NULL, NULL, &r);
    assert_int_equal(a, b); /* same seed, same sequence */
    assert_true(a > 5 && a < 35);
    assert_int_equal(fires(srv, 3), 0);
}

static void test_fault_transport_kinds(void **state)
{
    struct sim_server *srv = *state;
    struct reply r;

    add_fault(srv, "{\"kind\":\"reset\"}");
    call(srv, "GET", "/x", NULL, NULL, &r);
    assert_int_not_equal(r.cc, CURLE_OK);
    call(srv, "GET", "/x", NULL, NULL, &r);
    assert_int_equal(r.cc, CURLE_OK);

    add_fault(srv, "{\"kind\":\"truncate\"}");
    call(srv, "GET", "/x?q=long-enough-body", NULL, NULL, &r);
    assert_int_not_equal(r.cc, CURLE_OK);
    assert_true(r.len > 0);
    assert_null(cJSON_Parse(r.body));

    add_fault(srv, "{\"kind\":\"malformed\"}");
    call(srv, "GET", "/x", NULL, NULL, &r);
    assert_int_equal(r.cc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_null(cJSON_Parse(r.body));

    struct timespec t0, t1;
    add_fault(srv, "{\"kind\":\"delay\",\"delay_ms\":300}");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    call(srv, "GET", "/x", NULL, NULL, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(r.status, 200);
    assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 290);

    add_fault(srv, "{\"kind\":\"hang\",\"delay_ms\":200}");
    call(srv, "GET", "/x", NULL, NULL, &r);
    assert_int_not_equal(r.cc, CURLE_OK);
    assert_int_equal(r.len, 0);
}

struct conc {
    struct sim_server *srv;
    struct reply r;
    atomic_bool done; /* the slow answer arrived */
};

static void *slow_call(void *arg)
{
    struct conc *c = arg;
    call(c->srv, "GET", "/slow", NULL, NULL, &c->r);
    atomic_store(&c->done, true);
    return NULL;
}

static void test_concurrent_requests(void **state)
{
    struct sim_server *srv = *state;
    struct reply r;
    add_fault(srv, "{\"kind\":\"delay\",\"delay_ms\":1500,\"path\":\"/slow\"}");
    struct conc c = {srv, {0}, false};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_call, &c), 0);
    struct timespec wait = {0, 200 * 1000000L};
    nanosleep(&wait, NULL);
    call(srv, "GET", "/fast", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    /* answered while the slow one still sleeps: a server that serves one
     * request at a time would have answered /slow first */
    assert_false(atomic_load(&c.done));
    pthread_join(t, NULL);
    assert_int_equal(c.r.status, 200);
}

static void test_counters_and_log(void **state)
{
    struct sim_server *srv = *state;
    struct reply r;
    call(srv, "DELETE", "/_sim/requests", NULL, NULL, &r);
    call(srv, "GET", "/c?api_token=sekrit&x=1", NULL, "Authorization: Basic c2Vrcml0", &r);
    call(srv, "GET", "/_sim/requests", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "sekrit"));
    assert_null(strstr(r.body, "c2Vrcml0"));
    cJSON *o = cJSON_Parse(r.body);
    cJSON *arr = cJSON_GetObjectItem(o, "requests");
    assert_int_equal(cJSON_GetArraySize(arr), 1);
    cJSON *e = cJSON_GetArrayItem(arr, 0);
    assert_string_equal(cJSON_GetObjectItem(e, "target")->valuestring, "/c?api_token=REDACTED&x=1");
    assert_int_equal(cJSON_GetObjectItem(e, "status")->valueint, 200);
    assert_string_equal(cJSON_GetObjectItem(e, "route")->valuestring, "echo");
    cJSON_Delete(o);

    /* ring keeps the newest log_capacity (4) entries */
    for (int i = 0; i < 6; i++)
        call(srv, "GET", "/ring", NULL, NULL, &r);
    call(srv, "GET", "/_sim/requests", NULL, NULL, &r);
    o = cJSON_Parse(r.body);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "requests")), 4);
    cJSON_Delete(o);

    long before = sim_counter_get(srv, "echo.calls");
    call(srv, "GET", "/d", NULL, NULL, &r);
    assert_int_equal(sim_counter_get(srv, "echo.calls"), before + 1);
    call(srv, "GET", "/_sim/counters", NULL, NULL, &r);
    o = cJSON_Parse(r.body);
    assert_non_null(o);
    cJSON *echo_r = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "routes"), "echo");
    assert_non_null(echo_r);
    assert_true(cJSON_GetObjectItem(echo_r, "200")->valueint >= 8);
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(o, "counters"), "echo.calls")->valueint,
        before + 1);
    cJSON_Delete(o);
}

static void test_escape_and_decode(void **state)
{
    struct mlc_buf b;
    mlc_buf_init(&b, 1024);
    assert_int_equal(sim_escape_data_string(&b, "A b'c:d/~._-é"), MLC_OK);
    assert_string_equal(mlc_buf_str(&b), "A%20b%27c%3Ad%2F~._-%C3%A9");
    mlc_buf_free(&b);
    char *s = sim_url_decode("a%2x%41+%", 9, true);
    assert_string_equal(s, "a%2xA %");
    free(s);
    s = sim_url_decode("a+b", 3, false);
    assert_string_equal(s, "a+b");
    free(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_and_decode),
        cmocka_unit_test_setup_teardown(test_plumbing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_status_and_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_probability_seeded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_transport_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters_and_log, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
