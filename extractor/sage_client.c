/* sage_client.c - GET pages from the Sage 300 Web API with retries (see sage_client.h). */
#include "sage_client.h"
#include "mlc_alloc.h"

#include "mlc_backoff.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "sage_query.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sage_client {
    struct mlc_http_client *http;
    struct mlc_http_opts opts; /* to rebuild http when the password form changes */
    char *ca_file;             /* owned copy for opts.ca_file */
    char *user;                /* owned copies of the configured credentials */
    char *password;
    enum sage_pw_case wanted;  /* MLC_SAGE_PASSWORD_CASE */
    enum sage_pw_case sending; /* SAGE_PW_UPPER or SAGE_PW_EXACT: the form on the wire */
    bool switched;             /* auto: the other form was tried (once per process) */
    bool forms_differ;         /* the password has a lower-case letter: two forms exist */
    bool accepted;             /* a request got past the login with `sending` */
    struct mlc_http_response resp;
    struct mlc_backoff backoff;
    volatile sig_atomic_t *stop;
    unsigned retries;
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
    return "hint: the user ID is sent upper-cased and the password per MLC_SAGE_PASSWORD_CASE "
           "(auto tries it upper-cased, then as configured; upper and exact send only one "
           "form; Sage 2023+ complex passwords are case-sensitive); check "
           "MLC_SAGE_USER/MLC_SAGE_PASSWORD, the user's Web API security right, and that ADMIN "
           "is blocked unless AllowWebApiAccessForAdmin=true";
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
    /* cut at character boundaries, so the line stays valid UTF-8 */
    if (cJSON_IsString(val) && val->valuestring[0])
        snprintf(out, outsz, "%.*s: %.*s", (int)mlc_utf8_cut(code->valuestring, 80),
                 code->valuestring, (int)mlc_utf8_cut(val->valuestring, 200), val->valuestring);
    else
        snprintf(out, outsz, "%.*s", (int)mlc_utf8_cut(code->valuestring, 80), code->valuestring);
    out[mlc_utf8_cut(out, outsz - 1)] = '\0';
    /* One line: no control characters from the server. */
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    ok = true;
out:
    cJSON_Delete(root);
    return ok;
}

/* (Re)creates c->http sending the password in form mode (upper or exact). */
static mlc_rc use_form(struct sage_client *c, enum sage_pw_case mode, struct mlc_err *err)
{
    struct sage_credentials cred;
    struct mlc_http_client *http = NULL;
    mlc_rc rc;

    rc = sage_credentials_make(c->user, c->password, sage_pw_case_name(mode), &cred, err);
    if (rc != MLC_OK)
        return rc;
    /* The form on the wire (upper-cased or not) is a secret too. */
    mlc_log_add_secret(cred.password);
    c->opts.user = cred.user;
    c->opts.password = cred.password;
    rc = mlc_http_client_new(&c->opts, &http, err);
    c->opts.user = NULL;
    c->opts.password = NULL;
    sage_credentials_wipe(&cred);
    if (rc != MLC_OK) {
        mlc_err_prefix(err, "sage client");
        return rc;
    }
    mlc_http_client_free(c->http);
    c->http = http;
    c->sending = mode;
    c->accepted = false;
    return MLC_OK;
}

mlc_rc sage_client_new(const struct mlc_config *cfg, volatile sig_atomic_t *stop,
                       struct sage_client **out, struct mlc_err *err)
{
    struct sage_client *c = NULL;
    static int warned_insecure;
    long top;
    mlc_rc rc;

    *out = NULL;
    if ((rc = mlc_config_require(cfg, MLC_CFG_SAGE_URL, err)) != MLC_OK ||
        (rc = mlc_config_require(cfg, MLC_CFG_SAGE_USER, err)) != MLC_OK)
        return rc;
    c = mlc_xcalloc(1, sizeof(*c));
    mlc_http_response_init(&c->resp);
    if (!sage_pw_case_parse(mlc_cfg_str(cfg, MLC_CFG_SAGE_PASSWORD_CASE), &c->wanted)) {
        rc = mlc_err_set(err, MLC_FATAL, "MLC_SAGE_PASSWORD_CASE: expected auto, upper or exact");
        goto out;
    }
    c->user = mlc_xstrdup(mlc_cfg_str(cfg, MLC_CFG_SAGE_USER));
    c->password = mlc_xstrdup(mlc_cfg_str(cfg, MLC_CFG_SAGE_PASSWORD));
    if (mlc_cfg_is_set(cfg, MLC_CFG_SAGE_CA_FILE))
        c->ca_file = mlc_xstrdup(mlc_cfg_str(cfg, MLC_CFG_SAGE_CA_FILE));
    for (const char *p = c->password; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            c->forms_differ = true;
    mlc_backoff_init(&c->backoff, 500, 30000, 300000, 0);
    c->stop = stop;
    c->retries = (unsigned)mlc_cfg_int(cfg, MLC_CFG_SAGE_RETRIES);

    mlc_http_opts_default(&c->opts);
    c->opts.connect_timeout_ms = mlc_cfg_int(cfg, MLC_CFG_SAGE_CONNECT_TIMEOUT) * 1000L;
    c->opts.timeout_ms = mlc_cfg_int(cfg, MLC_CFG_SAGE_TIMEOUT) * 1000L;
    /* A page is at most $top records of a few hundred bytes each (the server
     * may cap it lower); 16 KiB per record leaves room for verbose servers,
     * and MLC_SAGE_MAX_RESPONSE_MB bounds memory whatever the page size. */
    top = mlc_cfg_int(cfg, MLC_CFG_SAGE_PAGE_SIZE);
    c->opts.max_body = (size_t)(top > 64 ? top : 64) * 16384u;
    if (c->opts.max_body > (size_t)mlc_cfg_int(cfg, MLC_CFG_SAGE_MAX_RESPONSE_MB) << 20)
        c->opts.max_body = (size_t)mlc_cfg_int(cfg, MLC_CFG_SAGE_MAX_RESPONSE_MB) << 20;
    c->opts.insecure = mlc_cfg_bool(cfg, MLC_CFG_SAGE_INSECURE);
    c->opts.ca_file = c->ca_file;
    if (c->opts.insecure && !warned_insecure) {
        warned_insecure = 1;
        mlc_warn("MLC_SAGE_INSECURE=true: TLS certificates of the Sage server are NOT verified; "
                 "anyone on the path can read the Sage credentials and data. Never use this in "
                 "production: set MLC_SAGE_CA_FILE instead");
    }
    rc = use_form(c, c->wanted == SAGE_PW_EXACT ? SAGE_PW_EXACT : SAGE_PW_UPPER, err);
    if (rc != MLC_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    sage_client_free(c);
    return rc;
}

mlc_rc sage_client_prefer_form(struct sage_client *c, enum sage_pw_case form, struct mlc_err *err)
{
    if (c->wanted != SAGE_PW_AUTO || form == SAGE_PW_AUTO || form == c->sending)
        return MLC_OK;
    return use_form(c, form, err);
}

bool sage_client_accepted_form(const struct sage_client *c, enum sage_pw_case *form)
{
    *form = c->sending;
    return c->accepted;
}

enum sage_pw_case sage_client_wanted_form(const struct sage_client *c)
{
    return c->wanted;
}

void sage_client_free(struct sage_client *c)
{
    if (!c)
        return;
    mlc_http_client_free(c->http);
    mlc_http_response_free(&c->resp);
    if (c->password)
        OPENSSL_cleanse(c->password, strlen(c->password));
    free(c->password);
    free(c->user);
    free(c->ca_file);
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
    struct sage_page_opts po = {.resource_url = resource_url};
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
        if (c->resp.status > 0 && c->resp.status != 401)
            c->accepted = true; /* past the login (403 is a right, not the password) */
        if (c->resp.status == 401 && c->wanted == SAGE_PW_AUTO && !c->switched && c->forms_differ) {
            enum sage_pw_case other = c->sending == SAGE_PW_UPPER ? SAGE_PW_EXACT : SAGE_PW_UPPER;
            struct mlc_err e2 = {0};

            /* Once per process: the other form of the password, at once. */
            c->switched = true;
            mlc_info("sage: password refused %s (HTTP 401); trying it %s "
                     "(MLC_SAGE_PASSWORD_CASE=auto)",
                     c->sending == SAGE_PW_UPPER ? "upper-cased (legacy rule)"
                                                 : "exactly as configured",
                     other == SAGE_PW_UPPER ? "upper-cased" : "exactly as configured");
            if (use_form(c, other, &e2) != MLC_OK) {
                e = e2;
                rc = e2.rc;
                break;
            }
            attempt--; /* not a retry */
            continue;
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
