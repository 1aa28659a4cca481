/* Unit tests of mlc_metrics: exposition text, validation, threads, HTTP endpoints. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include "mlc_buf.h"
#include "mlc_config.h"
#include "mlc_log.h"
#include "mlc_metrics.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *render(struct mlc_metrics *m)
{
    struct mlc_buf b;
    struct mlc_err err = {0};

    mlc_buf_init(&b, 1 << 20);
    assert_int_equal(mlc_metrics_render(m, &b, &err), MLC_OK);
    return mlc_buf_steal(&b);
}

static void exposition_matches_golden_text(void **state)
{
    struct mlc_metrics *m = mlc_metrics_new();
    struct mlc_metric *cycles, *calls, *remaining, *dur;
    const double bounds[] = {0.1, 0.5, 2.5};

    assert_non_null(m);
    assert_int_equal(mlc_metrics_counter(m, "mlc_cycles_total", "Poll cycles by result.", "result",
                                         &cycles, NULL),
                     MLC_OK);
    assert_int_equal(mlc_metrics_counter(m, "mlc_pipedrive_calls_total",
                                         "Pipedrive calls by method and status.", "method,status",
                                         &calls, NULL),
                     MLC_OK);
    assert_int_equal(mlc_metrics_gauge(m, "mlc_budget_remaining_tokens", "Remaining daily budget.",
                                       NULL, &remaining, NULL),
                     MLC_OK);
    assert_int_equal(mlc_metrics_histogram(m, "mlc_request_duration_seconds", "Request time.",
                                           "api", bounds, 3, &dur, NULL),
                     MLC_OK);

    mlc_metrics_inc(cycles, (const char *[]){"ok"});
    mlc_metrics_inc(cycles, (const char *[]){"ok"});
    mlc_metrics_inc(cycles, (const char *[]){"failed"});
    mlc_metrics_inc(calls, (const char *[]){"PATCH", "200"});
    mlc_metrics_add(calls, (const char *[]){"GET", "429"}, 3);
    mlc_metrics_set(remaining, NULL, 12345.5);
    mlc_metrics_observe(dur, (const char *[]){"sage"}, 0.05);
    mlc_metrics_observe(dur, (const char *[]){"sage"}, 0.5); /* le is inclusive */
    mlc_metrics_observe(dur, (const char *[]){"sage"}, 3);

    char *text = render(m);
    assert_string_equal(text, "# HELP mlc_cycles_total Poll cycles by result.\n"
                              "# TYPE mlc_cycles_total counter\n"
                              "mlc_cycles_total{result=\"ok\"} 2\n"
                              "mlc_cycles_total{result=\"failed\"} 1\n"
                              "# HELP mlc_pipedrive_calls_total Pipedrive calls by method and "
                              "status.\n"
                              "# TYPE mlc_pipedrive_calls_total counter\n"
                              "mlc_pipedrive_calls_total{method=\"PATCH\",status=\"200\"} 1\n"
                              "mlc_pipedrive_calls_total{method=\"GET\",status=\"429\"} 3\n"
                              "# HELP mlc_budget_remaining_tokens Remaining daily budget.\n"
                              "# TYPE mlc_budget_remaining_tokens gauge\n"
                              "mlc_budget_remaining_tokens 12345.5\n"
                              "# HELP mlc_request_duration_seconds Request time.\n"
                              "# TYPE mlc_request_duration_seconds histogram\n"
                              "mlc_request_duration_seconds_bucket{api=\"sage\",le=\"0.1\"} 1\n"
                              "mlc_request_duration_seconds_bucket{api=\"sage\",le=\"0.5\"} 2\n"
                              "mlc_request_duration_seconds_bucket{api=\"sage\",le=\"2.5\"} 2\n"
                              "mlc_request_duration_seconds_bucket{api=\"sage\",le=\"+Inf\"} 3\n"
                              "mlc_request_duration_seconds_sum{api=\"sage\"} 3.55\n"
                              "mlc_request_duration_seconds_count{api=\"sage\"} 3\n");
    free(text);
    assert_true(mlc_metrics_value(cycles, (const char *[]){"ok"}) == 2);
    assert_true(mlc_metrics_value(cycles, (const char *[]){"never"}) == 0);
    assert_true(mlc_metrics_value(dur, (const char *[]){"sage"}) == 3);
    mlc_metrics_free(m);
}

static void unlabelled_families_export_zero_before_first_update(void **state)
{
    struct mlc_metrics *m = mlc_metrics_new();
    struct mlc_metric *c, *labelled;

    assert_int_equal(mlc_metrics_counter(m, "a_total", "", NULL, &c, NULL), MLC_OK);
    assert_int_equal(mlc_metrics_counter(m, "b_total", "B.", "x", &labelled, NULL), MLC_OK);
    char *text = render(m);
    assert_string_equal(text, "# HELP a_total \n# TYPE a_total counter\na_total 0\n"
                              "# HELP b_total B.\n# TYPE b_total counter\n");
    free(text);
    mlc_metrics_free(m);
}

static void label_values_and_help_are_escaped(void **state)
{
    struct mlc_metrics *m = mlc_metrics_new();
    struct mlc_metric *g;

    assert_int_equal(
        mlc_metrics_gauge(m, "esc", "Back\\slash and\nnewline \"kept\".", "v", &g, NULL), MLC_OK);
    mlc_metrics_set(g, (const char *[]){"a\"b\\c\nd"}, -1);
    mlc_metrics_set(g, (const char *[]){""}, 0.1);
    mlc_metrics_set(g, (const char *[]){"\xc3\xa9t\xc3\xa9"}, INFINITY);
    char *text = render(m);
    assert_string_equal(text, "# HELP esc Back\\\\slash and\\nnewline \"kept\".\n"
                              "# TYPE esc gauge\n"
                              "esc{v=\"a\\\"b\\\\c\\nd\"} -1\n"
                              "esc{v=\"\"} 0.1\n"
                              "esc{v=\"\xc3\xa9t\xc3\xa9\"} +Inf\n");
    free(text);
    mlc_metrics_free(m);
}

static void values_are_formatted_shortest_round_trip(void **state)
{
    char out[64];

    mlc_metrics_format_value(0, out, sizeof(out));
    assert_string_equal(out, "0");
    mlc_metrics_format_value(1e6, out, sizeof(out));
    assert_string_equal(out, "1000000");
    mlc_metrics_format_value(0.1 + 0.2, out, sizeof(out));
    assert_string_equal(out, "0.30000000000000004");
    mlc_metrics_format_value(1.5e-7, out, sizeof(out));
    assert_string_equal(out, "1.5e-07");
    mlc_metrics_format_value(1e300, out, sizeof(out));
    assert_string_equal(out, "1e+300");
    mlc_metrics_format_value(-INFINITY, out, sizeof(out));
    assert_string_equal(out, "-Inf");
    mlc_metrics_format_value(NAN, out, sizeof(out));
    assert_string_equal(out, "NaN");
}

static void names_and_labels_are_validated(void **state)
{
    struct mlc_metrics *m = mlc_metrics_new();
    struct mlc_metric *f = NULL;
    struct mlc_err err = {0};
    const double good[] = {1, 2}, bad[] = {2, 1};

    assert_int_equal(mlc_metrics_counter(m, "9starts_with_digit", "", NULL, &f, &err), MLC_PERM);
    assert_null(f);
    assert_non_null(strstr(err.msg, "9starts_with_digit"));
    assert_int_equal(mlc_metrics_counter(m, "has-dash", "", NULL, &f, NULL), MLC_PERM);
    assert_int_equal(mlc_metrics_counter(m, "", "", NULL, &f, NULL), MLC_PERM);
    assert_int_equal(mlc_metrics_counter(m, "ok:recording_rule", "", NULL, &f, NULL), MLC_OK);
    assert_int_equal(mlc_metrics_counter(m, "ok:recording_rule", "", NULL, &f, &err), MLC_PERM);
    assert_non_null(strstr(err.msg, "twice"));
    assert_int_equal(mlc_metrics_counter(m, "l1", "", "a:b", &f, NULL), MLC_PERM);
    assert_int_equal(mlc_metrics_counter(m, "l2", "", "__reserved", &f, NULL), MLC_PERM);
    assert_int_equal(mlc_metrics_counter(m, "l3", "", "a,,b", &f, NULL), MLC_PERM);
    assert_int_equal(mlc_metrics_counter(m, "l4", "", "a,a", &f, NULL), MLC_PERM);
    assert_int_equal(mlc_metrics_counter(m, "l5", "", "a,b,c,d,e,f,g,h,i", &f, NULL), MLC_PERM);
    assert_int_equal(mlc_metrics_histogram(m, "h1", "", "le", good, 2, &f, NULL), MLC_PERM);
    assert_int_equal(mlc_metrics_histogram(m, "h2", "", NULL, bad, 2, &f, NULL), MLC_PERM);
    assert_int_equal(mlc_metrics_histogram(m, "h3", "", NULL, good, 0, &f, NULL), MLC_PERM);
    assert_int_equal(mlc_metrics_histogram(m, "h4", "", "x_1", good, 2, &f, NULL), MLC_OK);

    /* Misuse is ignored and never creates series or changes values. */
    struct mlc_metric *c;
    assert_int_equal(mlc_metrics_counter(m, "c_total", "", "s", &c, NULL), MLC_OK);
    mlc_metrics_add(c, (const char *[]){"x"}, -1);
    mlc_metrics_set(c, (const char *[]){"x"}, 5);
    mlc_metrics_inc(c, NULL);
    mlc_metrics_add(c, (const char *[]){"x"}, NAN);
    mlc_metrics_observe(c, (const char *[]){"x"}, 1);
    mlc_metrics_inc(NULL, NULL);
    char *text = render(m);
    assert_null(strstr(text, "c_total{"));
    free(text);
    mlc_metrics_free(m);
}

static void series_count_is_capped(void **state)
{
    struct mlc_metrics *m = mlc_metrics_new();
    struct mlc_metric *c;
    char v[16];

    assert_int_equal(mlc_metrics_counter(m, "card_total", "", "k", &c, NULL), MLC_OK);
    for (int i = 0; i < MLC_METRICS_MAX_SERIES + 5; i++) {
        snprintf(v, sizeof(v), "%d", i);
        mlc_metrics_inc(c, (const char *[]){v});
    }
    assert_true(mlc_metrics_value(c, (const char *[]){"0"}) == 1);
    snprintf(v, sizeof(v), "%d", MLC_METRICS_MAX_SERIES);
    assert_true(mlc_metrics_value(c, (const char *[]){v}) == 0);
    mlc_metrics_inc(c, (const char *[]){"0"}); /* existing series still count */
    assert_true(mlc_metrics_value(c, (const char *[]){"0"}) == 2);
    mlc_metrics_free(m);
}

struct worker {
    struct mlc_metric *c, *h;
    struct mlc_metrics *reg;
    int id;
};

#define THREADS 4
#define ITERS   20000

static void *hammer(void *arg)
{
    struct worker *w = arg;
    const char *lv[] = {w->id % 2 ? "odd" : "even"};

    for (int i = 0; i < ITERS; i++) {
        mlc_metrics_inc(w->c, lv);
        mlc_metrics_observe(w->h, NULL, 1);
        if (i % 5000 == 0) {
            char *text = render(w->reg); /* scrapes race with updates */
            free(text);
        }
    }
    return NULL;
}

static void concurrent_updates_are_not_lost(void **state)
{
    struct mlc_metrics *m = mlc_metrics_new();
    struct worker w[THREADS];
    pthread_t t[THREADS];
    struct mlc_metric *c, *h;
    const double b[] = {0.5};

    assert_int_equal(mlc_metrics_counter(m, "hits_total", "", "parity", &c, NULL), MLC_OK);
    assert_int_equal(mlc_metrics_histogram(m, "obs", "", NULL, b, 1, &h, NULL), MLC_OK);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.c = c, .h = h, .reg = m, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_true(mlc_metrics_value(c, (const char *[]){"odd"}) == THREADS / 2 * ITERS);
    assert_true(mlc_metrics_value(c, (const char *[]){"even"}) == THREADS / 2 * ITERS);
    assert_true(mlc_metrics_value(h, NULL) == THREADS * ITERS);
    char *text = render(m);
    assert_non_null(strstr(text, "obs_bucket{le=\"+Inf\"} 80000\nobs_sum 80000\n"));
    free(text);
    mlc_metrics_free(m);
}

/* ---- HTTP ---- */

struct health_state {
    bool healthy;
    const char *reason;
};

static bool health_cb(void *ctx, char *reason, size_t reasonsz)
{
    struct health_state *h = ctx;

    if (!h->healthy)
        snprintf(reason, reasonsz, "%s", h->reason);
    return h->healthy;
}

struct fetched {
    long status;
    char ctype[128];
    struct mlc_buf body;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct fetched *f = ud;
    return mlc_buf_append(&f->body, p, size * n) == MLC_OK ? size * n : 0;
}

static void fetch(int port, const char *method, const char *path, struct fetched *f)
{
    char url[128];
    char *ct = NULL;
    CURL *c = curl_easy_init();

    assert_non_null(c);
    memset(f, 0, sizeof(*f));
    mlc_buf_init(&f->body, 1 << 20);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(f->ctype, sizeof(f->ctype), "%s", ct ? ct : "");
    curl_easy_cleanup(c);
}

static void collect_hook(struct mlc_metrics *m, void *ctx)
{
    mlc_metrics_add(ctx, NULL, 1); /* counts scrapes */
}

static void http_serves_metrics_health_and_404(void **state)
{
    struct mlc_metrics *m = mlc_metrics_new();
    struct mlc_metric *c, *scrapes;
    struct health_state hs = {.healthy = true, .reason = ""};
    struct mlc_metrics_http_cfg cfg = {.bind = "127.0.0.1",
                                       .port = MLC_METRICS_PORT_EPHEMERAL,
                                       .health = health_cb,
                                       .health_ctx = &hs};
    struct mlc_metrics_server *srv = NULL;
    struct mlc_err err = {0};
    struct fetched f;

    assert_int_equal(mlc_metrics_counter(m, "events_total", "Events.", "outcome", &c, NULL),
                     MLC_OK);
    assert_int_equal(mlc_metrics_counter(m, "scrapes_total", "Scrapes.", NULL, &scrapes, NULL),
                     MLC_OK);
    mlc_metrics_on_collect(m, collect_hook, scrapes);
    mlc_metrics_add(c, (const char *[]){"created"}, 7);
    assert_int_equal(mlc_metrics_server_start(m, &cfg, &srv, &err), MLC_OK);
    assert_non_null(srv);
    int port = mlc_metrics_server_port(srv);
    assert_true(port > 0);

    fetch(port, "GET", "/metrics", &f);
    assert_int_equal(f.status, 200);
    assert_string_equal(f.ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(mlc_buf_str(&f.body), "# HELP events_total Events.\n"
                                              "# TYPE events_total counter\n"
                                              "events_total{outcome=\"created\"} 7\n"
                                              "# HELP scrapes_total Scrapes.\n"
                                              "# TYPE scrapes_total counter\n"
                                              "scrapes_total 1\n");
    mlc_buf_free(&f.body);

    fetch(port, "GET", "/healthz", &f);
    assert_int_equal(f.status, 200);
    assert_string_equal(mlc_buf_str(&f.body), "ok\n");
    mlc_buf_free(&f.body);

    hs.healthy = false;
    hs.reason = "last cycle failed:\nsage HTTP 401";
    fetch(port, "GET", "/healthz", &f);
    assert_int_equal(f.status, 503);
    assert_string_equal(mlc_buf_str(&f.body), "last cycle failed: sage HTTP 401\n");
    mlc_buf_free(&f.body);

    fetch(port, "GET", "/", &f);
    assert_int_equal(f.status, 404);
    mlc_buf_free(&f.body);
    fetch(port, "GET", "/metrics/extra", &f);
    assert_int_equal(f.status, 404);
    mlc_buf_free(&f.body);
    fetch(port, "POST", "/metrics", &f);
    assert_int_equal(f.status, 405);
    mlc_buf_free(&f.body);

    mlc_metrics_server_stop(srv);
    mlc_metrics_free(m);
}

static void http_off_and_bad_addresses(void **state)
{
    struct mlc_metrics *m = mlc_metrics_new();
    struct mlc_metrics_server *srv = (void *)1, *srv2 = NULL;
    struct mlc_metrics_http_cfg cfg = {.port = 0};
    struct mlc_err err = {0};

    assert_int_equal(mlc_metrics_server_start(m, &cfg, &srv, &err), MLC_OK);
    assert_null(srv); /* port 0 = off */
    cfg.port = MLC_METRICS_PORT_EPHEMERAL;
    cfg.bind = "metrics.example";
    assert_int_equal(mlc_metrics_server_start(m, &cfg, &srv, &err), MLC_FATAL);
    assert_non_null(strstr(err.msg, "metrics.example"));
    cfg.port = 70000;
    cfg.bind = NULL;
    assert_int_equal(mlc_metrics_server_start(m, &cfg, &srv, &err), MLC_FATAL);

    /* A port in use is a clear error, not a silent success. */
    cfg.port = MLC_METRICS_PORT_EPHEMERAL;
    cfg.bind = "127.0.0.1";
    assert_int_equal(mlc_metrics_server_start(m, &cfg, &srv, &err), MLC_OK);
    cfg.port = mlc_metrics_server_port(srv);
    assert_int_equal(mlc_metrics_server_start(m, &cfg, &srv2, &err), MLC_FATAL);
    assert_null(srv2);
    assert_non_null(strstr(err.msg, "cannot listen on 127.0.0.1"));
    mlc_metrics_server_stop(srv);
    mlc_metrics_free(m);
}

/* Settings that weaken security show on every scrape (metrics port off here:
 * the registry is what a scrape would render). */
static void insecure_settings_are_exported(void **state)
{
    char *env[] = {"MLC_SAGE_URL=http://erp.lan/Sage300WebApi/v1.0/-/",
                   "MLC_ALLOW_PLAINTEXT_HTTP=true", "MLC_SAGE_INSECURE=true", NULL};
    char *safe[] = {"MLC_SAGE_URL=https://erp.lan/Sage300WebApi/v1.0/-/", NULL};
    struct mlc_config cfg;
    struct mlc_metrics_server *srv = NULL;
    struct mlc_err err = {0};
    struct mlc_metrics *m = mlc_metrics_new();
    char *text;

    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, NULL, env, &err), MLC_OK);
    assert_int_equal(mlc_metrics_serve_configured(m, &cfg, NULL, NULL, &srv, &err), MLC_OK);
    text = render(m);
    assert_non_null(strstr(text, "mlc_insecure_setting{setting=\"MLC_ALLOW_PLAINTEXT_HTTP\"} 1"));
    assert_non_null(strstr(text, "mlc_insecure_setting{setting=\"MLC_SAGE_INSECURE\"} 1"));
    free(text);
    mlc_metrics_free(m);
    mlc_config_free(&cfg);

    m = mlc_metrics_new();
    assert_int_equal(mlc_config_load(&cfg, MLC_PROG_EXTRACTOR, NULL, safe, &err), MLC_OK);
    assert_int_equal(mlc_metrics_serve_configured(m, &cfg, NULL, NULL, &srv, &err), MLC_OK);
    text = render(m);
    assert_non_null(strstr(text, "mlc_insecure_setting{setting=\"MLC_ALLOW_PLAINTEXT_HTTP\"} 0"));
    assert_non_null(strstr(text, "mlc_insecure_setting{setting=\"MLC_SAGE_INSECURE\"} 0"));
    free(text);
    mlc_metrics_free(m);
    mlc_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exposition_matches_golden_text),
        cmocka_unit_test(unlabelled_families_export_zero_before_first_update),
        cmocka_unit_test(label_values_and_help_are_escaped),
        cmocka_unit_test(values_are_formatted_shortest_round_trip),
        cmocka_unit_test(names_and_labels_are_validated),
        cmocka_unit_test(series_count_is_capped),
        cmocka_unit_test(concurrent_updates_are_not_lost),
        cmocka_unit_test(http_serves_metrics_health_and_404),
        cmocka_unit_test(http_off_and_bad_addresses),
        cmocka_unit_test(insecure_settings_are_exported),
    };

    mlc_log_setup("test_metrics", MLC_LOG_ERROR, MLC_LOG_TEXT);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
