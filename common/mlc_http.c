/* mlc_http.c - libcurl wrapper, classification, retry loop and batch, see mlc_http.h. */
#include "mlc_http.h"
#include "mlc_alloc.h"

#include "mlc_log.h"
#include "mlc_str.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MLC_HTTP_MAX_HEADER_BYTES (64 * 1024)

struct mlc_http_client {
    CURL *easy;
    struct mlc_http_opts o; /* strings below are owned copies */
    char *ca_file;
    char *user_agent;
    char *user;
    char *password;
    char errbuf[CURL_ERROR_SIZE];
    /* State of the transfer in progress. */
    struct curl_slist *req_headers;
    struct mlc_http_response *resp;
    bool too_large;
    bool hdr_too_large;
};

static int global_refs;

mlc_rc mlc_http_global_init(struct mlc_err *err)
{
    CURLcode cc;

    if (global_refs++ > 0)
        return MLC_OK;
    cc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (cc != CURLE_OK) {
        global_refs = 0;
        return mlc_err_set(err, MLC_FATAL, "curl_global_init: %s", curl_easy_strerror(cc));
    }
    return MLC_OK;
}

void mlc_http_global_cleanup(void)
{
    if (global_refs > 0 && --global_refs == 0)
        curl_global_cleanup();
}

const char *mlc_http_method_name(enum mlc_http_method m)
{
    switch (m) {
    case MLC_HTTP_GET:
        return "GET";
    case MLC_HTTP_POST:
        return "POST";
    case MLC_HTTP_PATCH:
        return "PATCH";
    case MLC_HTTP_DELETE:
        return "DELETE";
    }
    return "?";
}

void mlc_http_opts_default(struct mlc_http_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->connect_timeout_ms = 10000;
    o->timeout_ms = 30000;
    o->max_body = 1024 * 1024;
}

void mlc_http_response_init(struct mlc_http_response *r)
{
    memset(r, 0, sizeof(*r));
    mlc_buf_init(&r->body, 0);
    mlc_buf_init(&r->hdrs, MLC_HTTP_MAX_HEADER_BYTES);
}

void mlc_http_response_free(struct mlc_http_response *r)
{
    if (!r)
        return;
    mlc_buf_free(&r->body);
    mlc_buf_free(&r->hdrs);
}

const char *mlc_http_response_header(const struct mlc_http_response *r, const char *name)
{
    const char *p = r->hdrs.data;
    const char *end = p ? p + r->hdrs.len : NULL;

    while (p && p < end) {
        const char *value = p + strlen(p) + 1;

        if (value >= end)
            break;
        if (strcasecmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}

mlc_rc mlc_http_classify_status(long status)
{
    if (status >= 200 && status <= 299)
        return MLC_OK;
    if (status == 0 || status == 408 || status == 429 || (status >= 500 && status <= 599))
        return MLC_RETRY;
    return MLC_PERM;
}

bool mlc_http_is_auth_failure(long status)
{
    return status == 401 || status == 403;
}

mlc_rc mlc_http_auth_fatal(mlc_rc rc, struct mlc_err *err)
{
    if (rc != MLC_OK && err && mlc_http_is_auth_failure(err->status)) {
        err->rc = MLC_FATAL;
        return MLC_FATAL;
    }
    return rc;
}

/* "scheme://host[:port]/path" plus "?..." when a query was cut, without any
 * user:password@, then redacted. */
static void display_url(const char *url, char *out, size_t outsz)
{
    char tmp[512];
    const char *scheme_end = strstr(url, "://");
    const char *host = scheme_end ? scheme_end + 3 : url;
    const char *path = host + strcspn(host, "/?#");
    const char *at = memchr(host, '@', (size_t)(path - host));
    size_t plen = strcspn(path, "?#");

    if (at)
        host = at + 1;
    snprintf(tmp, sizeof(tmp), "%.*s%.*s%.*s%s", (int)(scheme_end ? scheme_end + 3 - url : 0), url,
             (int)(path - host), host, (int)plen, path, path[plen] ? "?..." : "");
    mlc_redact(tmp, out, outsz);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct mlc_http_client *c = userdata;
    size_t n = size * nmemb;
    mlc_rc rc = mlc_buf_append(&c->resp->body, ptr, n);

    if (rc == MLC_OK)
        return n;
    c->too_large = true; /* the only failure: an allocation failure aborts */
    return 0;            /* aborts the transfer with CURLE_WRITE_ERROR */
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *userdata)
{
    struct mlc_http_client *c = userdata;
    size_t n = size * nitems;
    const char *colon = memchr(ptr, ':', n);
    size_t nlen, vstart, vend;
    mlc_rc rc;

    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        /* A new status line (after 100 Continue, say): keep only the last response. */
        mlc_buf_reset(&c->resp->hdrs);
        return n;
    }
    if (!colon)
        return n; /* blank line ending the block, or a folded continuation */
    nlen = (size_t)(colon - ptr);
    while (nlen > 0 && (ptr[nlen - 1] == ' ' || ptr[nlen - 1] == '\t'))
        nlen--;
    vstart = nlen + 1;
    while (vstart < n && (ptr[vstart] == ' ' || ptr[vstart] == '\t' || ptr[vstart] == ':'))
        vstart++;
    vend = n;
    while (vend > vstart && (ptr[vend - 1] == '\r' || ptr[vend - 1] == '\n' ||
                             ptr[vend - 1] == ' ' || ptr[vend - 1] == '\t'))
        vend--;
    if (nlen == 0)
        return n;
    rc = mlc_buf_append(&c->resp->hdrs, ptr, nlen);
    if (rc == MLC_OK)
        rc = mlc_buf_append(&c->resp->hdrs, "", 1);
    if (rc == MLC_OK)
        rc = mlc_buf_append(&c->resp->hdrs, ptr + vstart, vend - vstart);
    if (rc == MLC_OK)
        rc = mlc_buf_append(&c->resp->hdrs, "", 1);
    if (rc == MLC_OK)
        return n;
    c->hdr_too_large = true;
    return 0;
}

/* Registers the Basic credentials and their base64 header form as secrets. */
static void register_basic_secret(const char *user, const char *password)
{
    char plain[512];
    unsigned char b64[700];
    int len;

    mlc_log_add_secret(password);
    len = snprintf(plain, sizeof(plain), "%s:%s", user, password);
    if (len <= 0 || (size_t)len >= sizeof(plain))
        return;
    EVP_EncodeBlock(b64, (const unsigned char *)plain, len);
    mlc_log_add_secret((const char *)b64);
}

static char *dup_or_null(const char *s)
{
    return s ? mlc_xstrdup(s) : NULL;
}

mlc_rc mlc_http_client_new(const struct mlc_http_opts *o, struct mlc_http_client **out,
                           struct mlc_err *err)
{
    struct mlc_http_client *c = mlc_xcalloc(1, sizeof(*c));
    mlc_rc rc = MLC_OK;

    *out = NULL;
    c->o = *o;
    /* The borrowed strings are copied below; never keep the caller's pointers. */
    c->o.ca_file = c->o.user_agent = c->o.user = c->o.password = NULL;
    c->ca_file = dup_or_null(o->ca_file);
    c->user_agent = dup_or_null(o->user_agent ? o->user_agent : "ml-connector/" MLC_VERSION);
    c->user = dup_or_null(o->user);
    c->password = dup_or_null(o->user ? (o->password ? o->password : "") : NULL);
    c->easy = curl_easy_init();
    if (!c->easy) {
        rc = mlc_err_set(err, MLC_FATAL, "http client: curl_easy_init failed");
        goto out;
    }
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, c->o.timeout_ms);
    curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->o.insecure)
        mlc_warn("http: TLS certificate verification is disabled (insecure)");
    curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYPEER, c->o.insecure ? 0L : 1L);
    curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYHOST, c->o.insecure ? 0L : 2L);
    if (c->ca_file)
        curl_easy_setopt(c->easy, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(c->easy, CURLOPT_USERAGENT, c->user_agent);
    /* Refuse early when Content-Length already says too much. */
    curl_easy_setopt(c->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->o.max_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    if (c->user) {
        register_basic_secret(c->user, c->password);
        curl_easy_setopt(c->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c->easy, CURLOPT_USERNAME, c->user);
        curl_easy_setopt(c->easy, CURLOPT_PASSWORD, c->password);
    }
out:
    if (rc != MLC_OK) {
        mlc_http_client_free(c);
        return rc;
    }
    *out = c;
    return MLC_OK;
}

void mlc_http_client_free(struct mlc_http_client *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->req_headers);
    free(c->ca_file);
    free(c->user_agent);
    free(c->user);
    if (c->password) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    free(c);
}

/* Sets up c's easy handle for req, writing into resp. */
static mlc_rc prepare(struct mlc_http_client *c, const struct mlc_http_request *req,
                      struct mlc_http_response *resp, struct mlc_err *err)
{
    struct curl_slist *list = NULL;
    CURL *e = c->easy;
    bool has_body =
        req->body != NULL || req->method == MLC_HTTP_POST || req->method == MLC_HTTP_PATCH;

    mlc_err_clear(err);
    mlc_buf_reset(&resp->body);
    resp->body.max = c->o.max_body;
    mlc_buf_reset(&resp->hdrs);
    resp->status = 0;
    resp->num_connects = 0;
    resp->total_s = 0;
    c->resp = resp;
    c->too_large = c->hdr_too_large = false;
    c->errbuf[0] = '\0';

    for (const char *const *h = req->headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(list, *h);

        if (!n)
            goto oom;
        list = n;
    }
    if (has_body) {
        /* No "Expect: 100-continue" round trip for our small JSON bodies. */
        struct curl_slist *n = curl_slist_append(list, "Expect:");

        if (!n)
            goto oom;
        list = n;
    }
    curl_slist_free_all(c->req_headers);
    c->req_headers = list;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    /* The handle is reused: reset the method from the previous request. */
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, (char *)NULL);
    if (has_body) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    if (req->method == MLC_HTTP_PATCH || req->method == MLC_HTTP_DELETE)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, mlc_http_method_name(req->method));
    return MLC_OK;
oom:
    curl_slist_free_all(list);
    return mlc_err_set(err, MLC_FATAL, "%s: out of memory", mlc_http_method_name(req->method));
}

static bool curl_error_is_permanent(CURLcode cc)
{
    switch (cc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_LOGIN_DENIED:
        return true;
    default:
        return false;
    }
}

/* Collects the outcome of c's finished transfer and classifies it. */
static mlc_rc finish(struct mlc_http_client *c, const struct mlc_http_request *req,
                     struct mlc_http_response *resp, CURLcode cc, struct mlc_err *err)
{
    char url[400];
    const char *m = mlc_http_method_name(req->method);
    long status = 0, conns = 0;
    double total = 0, connect = 0;
    mlc_rc rc;

    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &conns);
    curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME, &total);
    curl_easy_getinfo(c->easy, CURLINFO_CONNECT_TIME, &connect);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_slist_free_all(c->req_headers);
    c->req_headers = NULL;
    c->resp = NULL;
    resp->status = status;
    resp->num_connects = conns;
    resp->total_s = total;
    display_url(req->url, url, sizeof(url));

    if (cc == CURLE_OUT_OF_MEMORY) {
        rc = mlc_err_set(err, MLC_FATAL, "%s %s: out of memory", m, url);
    } else if (c->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = mlc_err_set(err, MLC_PERM, "%s %s: response larger than %zu bytes", m, url,
                         c->o.max_body);
    } else if (c->hdr_too_large) {
        rc = mlc_err_set(err, MLC_PERM, "%s %s: response headers larger than %d bytes", m, url,
                         MLC_HTTP_MAX_HEADER_BYTES);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        bool connected = connect > 0 || status != 0;

        rc = mlc_err_set(err, MLC_RETRY, "%s %s: %s after %g s", m, url,
                         connected ? "timed out" : "connect timed out",
                         (connected ? c->o.timeout_ms : c->o.connect_timeout_ms) / 1000.0);
    } else if (cc != CURLE_OK) {
        char detail[CURL_ERROR_SIZE + 64];

        mlc_redact(c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc), detail, sizeof(detail));
        rc = mlc_err_set(err, curl_error_is_permanent(cc) ? MLC_PERM : MLC_RETRY, "%s %s: %s", m,
                         url, detail);
    } else {
        rc = mlc_http_classify_status(status);
        if (rc != MLC_OK)
            mlc_err_set(err, rc, "%s %s: HTTP %ld", m, url, status);
    }
    if (err)
        err->status = (int)status;
    return rc;
}

mlc_rc mlc_http_perform(struct mlc_http_client *c, const struct mlc_http_request *req,
                        struct mlc_http_response *resp, struct mlc_err *err)
{
    mlc_rc rc = prepare(c, req, resp, err);

    if (rc != MLC_OK)
        return rc;
    return finish(c, req, resp, curl_easy_perform(c->easy), err);
}

static bool default_sleep(void *ctx, long ms, volatile sig_atomic_t *stop)
{
    return mlc_backoff_sleep_ms(ms, stop);
}

static mlc_rc interrupted(struct mlc_err *err, const struct mlc_err *last)
{
    mlc_rc rc = mlc_err_set(err, MLC_RETRY, "%s (interrupted)", last->msg);

    if (err)
        err->status = last->status;
    return rc;
}

mlc_rc mlc_http_perform_retry(struct mlc_http_client *c, const struct mlc_http_request *req,
                              struct mlc_http_response *resp, const struct mlc_http_retry *rp,
                              struct mlc_err *err)
{
    bool (*sleep_fn)(void *, long, volatile sig_atomic_t *) =
        rp->sleep_ms ? rp->sleep_ms : default_sleep;
    unsigned max = rp->max_attempts ? rp->max_attempts : 1;
    struct mlc_backoff fallback, *bo = rp->backoff;
    struct mlc_err e = {0};
    mlc_rc rc = MLC_RETRY;

    if (!bo) {
        mlc_backoff_init(&fallback, 0, 0, 0, 0);
        bo = &fallback;
    }
    for (unsigned attempt = 0; attempt < max; attempt++) {
        long ra = -1;
        long delay;

        if (rp->stop && *rp->stop && attempt > 0)
            return interrupted(err, &e);
        if (rp->stop && *rp->stop) {
            char url[400];

            display_url(req->url, url, sizeof(url));
            return mlc_err_set(err, MLC_RETRY, "%s %s: interrupted",
                               mlc_http_method_name(req->method), url);
        }
        rc = mlc_http_perform(c, req, resp, &e);
        if (rc != MLC_RETRY || attempt + 1 == max)
            break;
        if (!mlc_backoff_parse_retry_after(mlc_http_response_header(resp, "retry-after"),
                                           time(NULL), &ra))
            ra = -1;
        delay = mlc_backoff_delay_ms(bo, attempt, ra);
        mlc_warn("%s; retry %u of %u in %ld ms", e.msg, attempt + 1, max - 1, delay);
        if (!sleep_fn(rp->sleep_ctx, delay, rp->stop))
            return interrupted(err, &e);
    }
    if (err)
        *err = e;
    return rc;
}

struct mlc_http_batch {
    CURLM *multi;
    unsigned nslots;
    struct mlc_http_client **slots;
    size_t *slot_req; /* index of the request in flight, or SIZE_MAX */
};

mlc_rc mlc_http_batch_new(const struct mlc_http_opts *o, unsigned slots,
                          struct mlc_http_batch **out, struct mlc_err *err)
{
    struct mlc_http_batch *b = mlc_xcalloc(1, sizeof(*b));
    mlc_rc rc = MLC_OK;

    *out = NULL;
    if (slots == 0)
        slots = 1;
    b->multi = curl_multi_init();
    b->slots = mlc_xcalloc(slots, sizeof(*b->slots));
    b->slot_req = mlc_xcalloc(slots, sizeof(*b->slot_req));
    if (!b->multi) {
        rc = mlc_err_set(err, MLC_FATAL, "http batch: curl_multi_init failed");
        goto out;
    }
    for (b->nslots = 0; b->nslots < slots; b->nslots++) {
        rc = mlc_http_client_new(o, &b->slots[b->nslots], err);
        if (rc != MLC_OK)
            goto out;
        b->slot_req[b->nslots] = SIZE_MAX;
    }
out:
    if (rc != MLC_OK) {
        mlc_http_batch_free(b);
        return rc;
    }
    *out = b;
    return MLC_OK;
}

void mlc_http_batch_free(struct mlc_http_batch *b)
{
    if (!b)
        return;
    for (unsigned i = 0; i < b->nslots; i++) {
        if (b->slot_req[i] != SIZE_MAX)
            curl_multi_remove_handle(b->multi, b->slots[i]->easy);
        mlc_http_client_free(b->slots[i]);
    }
    if (b->multi)
        curl_multi_cleanup(b->multi);
    free(b->slots);
    free(b->slot_req);
    free(b);
}

static void unfinished(const struct mlc_http_request *req, mlc_rc *rc, struct mlc_err *e,
                       mlc_rc why)
{
    char url[400];

    display_url(req->url, url, sizeof(url));
    *rc = mlc_err_set(e, MLC_RETRY, "%s %s: %s", mlc_http_method_name(req->method), url,
                      why == MLC_RETRY ? "interrupted" : "batch failed");
}

mlc_rc mlc_http_batch_perform(struct mlc_http_batch *b, const struct mlc_http_request *reqs,
                              size_t n, struct mlc_http_response *resps, mlc_rc *rcs,
                              struct mlc_err *errs, volatile sig_atomic_t *stop,
                              struct mlc_err *err)
{
    size_t next = 0, done = 0;
    mlc_rc rc = MLC_OK;

    while (done < n) {
        int running = 0, left = 0;
        CURLMcode mc;
        CURLMsg *msg;

        if (stop && *stop) {
            rc = mlc_err_set(err, MLC_RETRY, "http batch: interrupted");
            goto out;
        }
        for (unsigned s = 0; s < b->nslots && next < n; s++) {
            struct mlc_err *e = errs ? &errs[next] : NULL;

            if (b->slot_req[s] != SIZE_MAX)
                continue;
            rcs[next] = prepare(b->slots[s], &reqs[next], &resps[next], e);
            if (rcs[next] != MLC_OK) {
                next++;
                done++;
                continue;
            }
            mc = curl_multi_add_handle(b->multi, b->slots[s]->easy);
            if (mc != CURLM_OK) {
                rc = mlc_err_set(err, MLC_FATAL, "http batch: %s", curl_multi_strerror(mc));
                goto out;
            }
            b->slot_req[s] = next++;
        }
        mc = curl_multi_perform(b->multi, &running);
        if (mc != CURLM_OK) {
            rc = mlc_err_set(err, MLC_FATAL, "http batch: %s", curl_multi_strerror(mc));
            goto out;
        }
        while ((msg = curl_multi_info_read(b->multi, &left))) {
            struct mlc_http_client *c = NULL;
            CURL *easy = msg->easy_handle;
            CURLcode cc = msg->data.result;
            size_t i;

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&c);
            for (unsigned s = 0; s < b->nslots; s++) {
                if (b->slots[s] != c)
                    continue;
                i = b->slot_req[s];
                curl_multi_remove_handle(b->multi, easy);
                b->slot_req[s] = SIZE_MAX;
                rcs[i] = finish(c, &reqs[i], &resps[i], cc, errs ? &errs[i] : NULL);
                done++;
                break;
            }
        }
        if (done < n && running > 0) {
            mc = curl_multi_poll(b->multi, NULL, 0, 100, NULL);
            if (mc != CURLM_OK) {
                rc = mlc_err_set(err, MLC_FATAL, "http batch: %s", curl_multi_strerror(mc));
                goto out;
            }
        }
    }
out:
    if (rc != MLC_OK) {
        /* Abort what is in flight and mark everything unfinished. */
        for (unsigned s = 0; s < b->nslots; s++) {
            size_t i = b->slot_req[s];
            struct mlc_http_client *c = b->slots[s];

            if (i == SIZE_MAX)
                continue;
            curl_multi_remove_handle(b->multi, c->easy);
            b->slot_req[s] = SIZE_MAX;
            finish(c, &reqs[i], &resps[i], CURLE_ABORTED_BY_CALLBACK, NULL);
            unfinished(&reqs[i], &rcs[i], errs ? &errs[i] : NULL, rc);
        }
        for (; next < n; next++)
            unfinished(&reqs[next], &rcs[next], errs ? &errs[next] : NULL, rc);
    }
    return rc;
}
