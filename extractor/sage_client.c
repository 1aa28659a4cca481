/* sage_client.c - GET pages from the Sage 300 Web API with retries (see sage_client.h). */
#include "sage_client.h"

#include "mlc_backoff.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "sage_query.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sage_client {
    struct mlc_http_client *http;
    struct mlc_http_response resp;
    struct mlc_backoff backoff;
    volatile sig_atomic_t *stop;
    unsigned retries;
    bool no_rebase;
    long last_status;
    void (*observe)(void *ctx, long status);
    void *observe_ctx;
};

static const char *const sage_headers[] = {
    "Accept: application/json",
    "Content-Type: application/json",
    NULL,
};

const char *sage_auth_hint(long status)
{
    if (status == 403)
        return "hint: the user lacks the 'Sage 300 Web API' security right for AR (security "
               "group per module), or it is ADMIN, refused unless AllowWebApiAccessForAdmin=true "
               "in both Web.config files";
    return "hint: the user ID is sent upper-cased and the password upper-cased unless "
           "MLC_SAGE_PASSWORD_CASE=exact (needed for case-sensitive complex passwords, Sage "
           "2023+); check MLC_SAGE_USER/MLC_SAGE_PASSWORD, the user's Web API security right, "
           "and that ADMIN is blocked unless AllowWebApiAccessForAdmin=true";
}

bool sage_error_decode(const char *body, size_t len, char *out, size_t outsz)
{
    cJSON *root = NULL;
    const cJSON *e, *code, *msg, *val;
    bool ok = false;

    if (!body || !len)
        return false;
    root = cJSON_ParseWithLength(body, len);
    e = cJSON_GetObjectItemCaseSensitive(root, "error");
    code = cJSON_GetObjectItemCaseSensitive(e, "code");
    msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (!cJSON_IsString(code))
        goto out;
    /* Sage: message is {"lang","value"}; tolerate a plain string too. */
    val = cJSON_IsObject(msg) ? cJSON_GetObjectItemCaseSensitive(msg, "value") : msg;
    if (cJSON_IsString(val) && val->valuestring[0])
        snprintf(out, outsz, "%.80s: %.200s", code->valuestring, val->valuestring);
    else
        snprintf(out, outsz, "%.80s", code->valuestring);
    /* One line: no control characters from the server. */
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    ok = true;
out:
    cJSON_Delete(root);
    return ok;
}

mlc_rc sage_client_new(const struct mlc_config *cfg, volatile sig_atomic_t *stop,
                       struct sage_client **out, struct mlc_err *err)
{
    struct sage_client *c = NULL;
    struct sage_credentials cred;
    struct mlc_http_opts o;
    static int warned_insecure;
    long top;
    mlc_rc rc;

    *out = NULL;
    memset(&cred, 0, sizeof(cred));
    if ((rc = mlc_config_require(cfg, MLC_CFG_SAGE_URL, err)) != MLC_OK ||
        (rc = mlc_config_require(cfg, MLC_CFG_SAGE_USER, err)) != MLC_OK)
        return rc;
    rc = sage_credentials_make(mlc_cfg_str(cfg, MLC_CFG_SAGE_USER),
                               mlc_cfg_str(cfg, MLC_CFG_SAGE_PASSWORD),
                               mlc_cfg_str(cfg, MLC_CFG_SAGE_PASSWORD_CASE), &cred, err);
    if (rc != MLC_OK)
        goto out;
    /* The upper-cased form is what goes on the wire: redact it too. */
    mlc_log_add_secret(cred.password);
    c = calloc(1, sizeof(*c));
    if (!c) {
        rc = mlc_err_set(err, MLC_FATAL, "sage client: out of memory");
        goto out;
    }
    mlc_http_response_init(&c->resp);
    mlc_backoff_init(&c->backoff, 500, 30000, 300000, 0);
    c->stop = stop;
    c->retries = (unsigned)mlc_cfg_int(cfg, MLC_CFG_SAGE_RETRIES);
    c->no_rebase = !mlc_cfg_bool(cfg, MLC_CFG_SAGE_NEXTLINK_REBASE);

    mlc_http_opts_default(&o);
    o.connect_timeout_ms = mlc_cfg_int(cfg, MLC_CFG_SAGE_CONNECT_TIMEOUT) * 1000L;
    o.timeout_ms = mlc_cfg_int(cfg, MLC_CFG_SAGE_TIMEOUT) * 1000L;
    /* A page is at most $top records of a few hundred bytes each; 16 KiB per
     * record leaves room for verbose servers and still bounds memory. */
    top = mlc_cfg_int(cfg, MLC_CFG_SAGE_PAGE_SIZE);
    o.max_body = (size_t)(top > 64 ? top : 64) * 16384u;
    o.insecure = mlc_cfg_bool(cfg, MLC_CFG_SAGE_INSECURE);
    o.ca_file =
        mlc_cfg_is_set(cfg, MLC_CFG_SAGE_CA_FILE) ? mlc_cfg_str(cfg, MLC_CFG_SAGE_CA_FILE) : NULL;
    o.user = cred.user;
    o.password = cred.password;
    if (o.insecure && !warned_insecure) {
        warned_insecure = 1;
        mlc_warn("MLC_SAGE_INSECURE=true: TLS certificates of the Sage server are NOT verified; "
                 "anyone on the path can read the Sage credentials and data. Never use this in "
                 "production: set MLC_SAGE_CA_FILE instead");
    }
    rc = mlc_http_client_new(&o, &c->http, err);
    if (rc != MLC_OK) {
        mlc_err_prefix(err, "sage client");
        goto out;
    }
    *out = c;
    c = NULL;
out:
    sage_credentials_wipe(&cred);
    sage_client_free(c);
    return rc;
}

void sage_client_free(struct sage_client *c)
{
    if (!c)
        return;
    mlc_http_client_free(c->http);
    mlc_http_response_free(&c->resp);
    free(c);
}

void sage_client_set_retries(struct sage_client *c, unsigned retries)
{
    c->retries = retries;
}

void sage_client_set_observer(struct sage_client *c, void (*fn)(void *ctx, long status), void *ctx)
{
    c->observe = fn;
    c->observe_ctx = ctx;
}

long sage_client_last_status(const struct sage_client *c)
{
    return c->last_status;
}

/* Adds Sage's decoded error body and, for 401/403, the hint to err. */
static mlc_rc decorate(struct sage_client *c, mlc_rc rc, struct mlc_err *err)
{
    char detail[300];
    char line[sizeof(err->msg)];
    long status = c->resp.status;

    if (!err)
        return rc;
    if (status >= 400 &&
        sage_error_decode(mlc_buf_str(&c->resp.body), c->resp.body.len, detail, sizeof(detail))) {
        snprintf(line, sizeof(line), "%s: %s", err->msg, detail);
        mlc_strlcpy(err->msg, line, sizeof(err->msg));
    }
    rc = mlc_http_auth_fatal(rc, err);
    if (mlc_http_is_auth_failure(status)) {
        snprintf(line, sizeof(line), "%s (%s)", err->msg, sage_auth_hint(status));
        mlc_strlcpy(err->msg, line, sizeof(err->msg));
    }
    mlc_redact(err->msg, line, sizeof(line));
    mlc_strlcpy(err->msg, line, sizeof(err->msg));
    return rc;
}

/* The URL without its query, for messages. */
static void url_no_query(const char *url, char *out, size_t outsz)
{
    size_t n = strcspn(url, "?");

    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, url, n);
    out[n] = '\0';
}

mlc_rc sage_client_get_page(struct sage_client *c, const char *url, const char *resource_url,
                            struct sage_page *page, struct mlc_err *err)
{
    struct mlc_http_request req = {.method = MLC_HTTP_GET, .url = url, .headers = sage_headers};
    struct sage_page_opts po = {
        .resource_url = resource_url, .request_url = url, .no_rebase = c->no_rebase};
    struct mlc_err e = {0};
    char shown[400];
    mlc_rc rc = MLC_RETRY;

    memset(page, 0, sizeof(*page));
    url_no_query(url, shown, sizeof(shown));
    for (unsigned attempt = 0;; attempt++) {
        long retry_after = -1, ms;
        const char *ra;

        mlc_err_clear(&e);
        rc = mlc_http_perform(c->http, &req, &c->resp, &e);
        c->last_status = c->resp.status;
        if (c->observe)
            c->observe(c->observe_ctx, c->resp.status);
        if (rc == MLC_OK) {
            rc = sage_page_parse(c->resp.body.data, c->resp.body.len, &po, page, &e);
            if (rc != MLC_OK)
                mlc_err_prefix(&e, "sage GET %s", shown);
        } else {
            rc = decorate(c, rc, &e);
            mlc_err_prefix(&e, "sage");
        }
        if (rc != MLC_RETRY)
            break;
        if (attempt >= c->retries)
            break;
        if (c->stop && *c->stop)
            break;
        ra = mlc_http_response_header(&c->resp, "retry-after");
        if (ra && !mlc_backoff_parse_retry_after(ra, time(NULL), &retry_after))
            retry_after = -1;
        ms = mlc_backoff_delay_ms(&c->backoff, attempt, retry_after);
        mlc_warn("%s; retry %u of %u in %ld ms", e.msg, attempt + 1, c->retries, ms);
        if (!mlc_backoff_sleep_ms(ms, c->stop))
            break;
    }
    if (rc == MLC_RETRY && c->stop && *c->stop) {
        char msg[sizeof(e.msg)];

        mlc_strlcpy(msg, e.msg, sizeof(msg));
        mlc_err_set(&e, MLC_RETRY, "%s (interrupted)", msg);
    }
    if (rc != MLC_OK && err)
        *err = e;
    return rc;
}
