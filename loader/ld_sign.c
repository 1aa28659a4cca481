/* ld_sign.c - event signature keys and checks (see ld_sign.h). */
#include "ld_sign.h"

#include "mlc_log.h"

#include <stdio.h>
#include <string.h>

static mlc_rc load_one(const struct mlc_config *cfg, enum mlc_cfg_id id, const char *name,
                       struct ld_sign *s, struct mlc_err *err)
{
    if (mlc_sign_key_load(mlc_cfg_str(cfg, id), &s->keys[s->n], err) != MLC_OK)
        return mlc_err_prefix(err, "%s", name);
    s->n++;
    return MLC_OK;
}

mlc_rc ld_sign_load(const struct mlc_config *cfg, struct ld_sign *s, struct mlc_err *err)
{
    bool cur = mlc_cfg_is_set(cfg, MLC_CFG_EVENT_KEY_FILE);
    bool prev = mlc_cfg_is_set(cfg, MLC_CFG_EVENT_KEY_FILE_PREVIOUS);
    mlc_rc rc;

    s->n = 0;
    if (prev && !cur)
        return mlc_err_set(err, MLC_FATAL,
                           "MLC_EVENT_KEY_FILE_PREVIOUS is set without MLC_EVENT_KEY_FILE: the "
                           "previous key only goes beside a current one");
    if (!cur) {
        mlc_info("MLC_EVENT_KEY_FILE is not set: event signatures are not checked");
        return MLC_OK;
    }
    if ((rc = load_one(cfg, MLC_CFG_EVENT_KEY_FILE, "MLC_EVENT_KEY_FILE", s, err)) != MLC_OK ||
        (prev && (rc = load_one(cfg, MLC_CFG_EVENT_KEY_FILE_PREVIOUS, "MLC_EVENT_KEY_FILE_PREVIOUS",
                                s, err)) != MLC_OK))
        return rc;
    if (s->n == 2)
        mlc_info("events must be signed with key id %s or, until the rotation ends, %s",
                 s->keys[0].id, s->keys[1].id);
    else
        mlc_info("events must be signed with key id %s", s->keys[0].id);
    return MLC_OK;
}

bool ld_sign_check(const struct ld_sign *s, const rd_kafka_message_t *m, char *reason,
                   size_t reason_sz)
{
    rd_kafka_headers_t *hs = NULL;
    const void *hv = NULL;
    size_t hl = 0;
    enum mlc_sign_verdict v;

    if (s->n == 0)
        return true;
    if (rd_kafka_message_headers(m, &hs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hs, MLC_SIGN_HEADER, &hv, &hl) != RD_KAFKA_RESP_ERR_NO_ERROR)
        hv = NULL;
    v = mlc_sign_verify(s->keys, s->n, m->key, m->key ? m->key_len : 0, m->payload,
                        m->payload ? m->len : 0, hv, hv ? hl : 0, NULL);
    if (v == MLC_SIGN_OK)
        return true;
    /* the key id is 16 hex digits when the format was right; never the mac */
    if (v == MLC_SIGN_UNKNOWN_KEY || v == MLC_SIGN_MISMATCH)
        snprintf(reason, reason_sz, "signature: %s (key id %.16s)", mlc_sign_verdict_name(v),
                 (const char *)hv + 3);
    else
        snprintf(reason, reason_sz, "signature: %s", mlc_sign_verdict_name(v));
    return false;
}
