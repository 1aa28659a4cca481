/* ext_ping.c - the `ping` command (see ext_ping.h). */
#include "ext_ping.h"

#include "ext_cycle.h"
#include "ext_publish.h"
#include "mlc_http.h"
#include "mlc_kafka.h"
#include "mlc_log.h"
#include "mlc_str.h"
#include "sage_client.h"
#include "sage_query.h"

#include <stdio.h>
#include <string.h>

/* One keys-only request of one customer for company: prints whether Sage
 * and the credentials answered; false on a failure (*auth_failed set when
 * the credentials were refused). url and res are scratch buffers. */
static bool ping_company(struct sage_client *sage, const char *base_url, const char *company,
                         struct mlc_buf *url, struct mlc_buf *res, bool *auth_failed)
{
    struct sage_query q = {.base_url = base_url, .company = company, .top = 1, .keys_only = true};
    struct sage_page page = {0};
    struct mlc_err err = {0};
    char line[sizeof(err.msg) + 64];
    bool ok = true;
    mlc_rc rc;

    rc = sage_query_customers_url(&q, url, &err);
    if (rc == MLC_OK)
        rc = sage_query_resource_url(q.base_url, company, "ARCustomers", res, &err);
    if (rc == MLC_OK)
        rc = sage_client_get_page(sage, mlc_buf_str(url), mlc_buf_str(res), &page, &err);
    if (rc == MLC_OK) {
        printf("ok   sage %s: %s answered (HTTP %ld, %zu record%s)\n", company, mlc_buf_str(res),
               sage_client_last_status(sage), page.count, page.count == 1 ? "" : "s");
        printf("ok   credentials: user accepted for %s\n", company);
    } else {
        mlc_redact(err.msg, line, sizeof(line));
        if (mlc_http_is_auth_failure(err.status) ||
            mlc_http_is_auth_failure(sage_client_last_status(sage))) {
            *auth_failed = true;
            printf("FAIL credentials for %s: %s\n", company, line);
        } else {
            printf("FAIL sage %s: %s\n", company, line);
        }
        ok = false;
    }
    sage_page_free(&page);
    return ok;
}

/* Asks the brokers for metadata and prints whether the topic exists; false
 * on a failure. */
static bool ping_kafka(const struct mlc_config *cfg)
{
    struct mlc_kafka_producer *prod = NULL;
    struct ext_ctx dummy = {0};
    struct mlc_err err = {0};
    bool ok = true;

    if (mlc_kafka_producer_new(cfg, ext_on_delivery, &dummy, &prod, &err) != MLC_OK) {
        printf("FAIL kafka: %s\n", err.msg);
        ok = false;
    } else {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t ke =
            rd_kafka_metadata(mlc_kafka_producer_handle(prod), 0, NULL, &md, 10000);

        if (ke != RD_KAFKA_RESP_ERR_NO_ERROR) {
            printf("FAIL kafka %s: no metadata: %s\n", mlc_cfg_str(cfg, MLC_CFG_KAFKA_BROKERS),
                   rd_kafka_err2str(ke));
            ok = false;
        } else {
            bool topic = false;

            for (int i = 0; i < md->topic_cnt; i++)
                if (!strcmp(md->topics[i].topic, mlc_cfg_str(cfg, MLC_CFG_TOPIC)) &&
                    !md->topics[i].err)
                    topic = true;
            printf("ok   kafka %s: %d broker%s, topic %s %s\n",
                   mlc_cfg_str(cfg, MLC_CFG_KAFKA_BROKERS), md->broker_cnt,
                   md->broker_cnt == 1 ? "" : "s", mlc_cfg_str(cfg, MLC_CFG_TOPIC),
                   topic ? "exists"
                         : "not found (created on first produce if the cluster "
                           "allows auto-creation)");
            rd_kafka_metadata_destroy(md);
        }
    }
    mlc_kafka_producer_free(prod);
    return ok;
}

int ext_ping(struct mlc_app *app, volatile sig_atomic_t *stop, char **companies, size_t n_companies)
{
    struct sage_client *sage = NULL;
    struct mlc_err err = {0};
    struct mlc_buf url, res;
    bool auth_failed = false;
    int failures = 0;

    mlc_buf_init(&url, 16384);
    mlc_buf_init(&res, 2048);
    if (sage_client_new(&app->cfg, stop, &sage, &err) != MLC_OK) {
        printf("FAIL config: %s\n", err.msg);
        failures++;
    } else {
        sage_client_set_retries(sage, 0);
        for (size_t i = 0; i < n_companies; i++)
            if (!ping_company(sage, mlc_cfg_str(&app->cfg, MLC_CFG_SAGE_URL), companies[i], &url,
                              &res, &auth_failed))
                failures++;
    }
    if (sage && sage_client_wanted_form(sage) == SAGE_PW_AUTO) {
        enum sage_pw_case form;

        if (sage_client_accepted_form(sage, &form))
            printf("ok   password form: Sage accepted the password %s; recommended: pin "
                   "MLC_SAGE_PASSWORD_CASE=%s (auto tries the legacy upper-cased form first "
                   "until the state file has recorded what works)\n",
                   form == SAGE_PW_UPPER ? "upper-cased (legacy rule)" : "exactly as configured",
                   sage_pw_case_name(form));
    }
    if (!ping_kafka(&app->cfg))
        failures++;
    sage_client_free(sage);
    mlc_buf_free(&url);
    mlc_buf_free(&res);
    if (auth_failed) {
        printf("hint 401: %s\n", sage_auth_hint(401));
        printf("hint 403: %s\n", sage_auth_hint(403));
    }
    return failures == 0 ? 0 : auth_failed ? 2 : 1;
}
