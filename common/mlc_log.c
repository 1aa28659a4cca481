/* mlc_log.c - levelled, redacting logger, see mlc_log.h. */
#include "mlc_log.h"
#include "mlc_alloc.h"
#include "mlc_buf.h"
#include "mlc_time.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define REDACTED "[REDACTED]"

int mlc_log_threshold = MLC_LOG_INFO;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *log_prog = "mlc";
static enum mlc_log_format log_format = MLC_LOG_TEXT;
static FILE *log_stream;
static char **secrets;
static size_t n_secrets;

static const char *level_names[] = {"error", "warn", "info", "debug"};

void mlc_log_setup(const char *prog, enum mlc_log_level level, enum mlc_log_format format)
{
    pthread_mutex_lock(&log_lock);
    if (prog) {
        const char *slash = strrchr(prog, '/');
        log_prog = slash ? slash + 1 : prog;
    }
    mlc_log_threshold = level;
    log_format = format;
    pthread_mutex_unlock(&log_lock);
}

void mlc_log_set_stream(FILE *stream)
{
    pthread_mutex_lock(&log_lock);
    log_stream = stream;
    pthread_mutex_unlock(&log_lock);
}

bool mlc_log_parse_level(const char *s, enum mlc_log_level *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (!strcasecmp(s, level_names[i])) {
            *out = (enum mlc_log_level)i;
            return true;
        }
    }
    return false;
}

bool mlc_log_parse_format(const char *s, enum mlc_log_format *out)
{
    if (!strcasecmp(s, "text"))
        *out = MLC_LOG_TEXT;
    else if (!strcasecmp(s, "json"))
        *out = MLC_LOG_JSON;
    else
        return false;
    return true;
}

void mlc_log_add_secret(const char *secret)
{
    char *copy;

    if (!secret || !*secret)
        return;
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < n_secrets; i++) {
        if (!strcmp(secrets[i], secret)) {
            pthread_mutex_unlock(&log_lock);
            return;
        }
    }
    copy = mlc_xstrdup(secret);
    secrets = mlc_xreallocarray(secrets, n_secrets + 1, sizeof(*secrets));
    /* Longest first, so a secret that contains another is redacted whole. */
    size_t at = n_secrets;
    while (at > 0 && strlen(secrets[at - 1]) < strlen(copy)) {
        secrets[at] = secrets[at - 1];
        at--;
    }
    secrets[at] = copy;
    n_secrets++;
    pthread_mutex_unlock(&log_lock);
}

void mlc_log_clear_secrets(void)
{
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    free(secrets);
    secrets = NULL;
    n_secrets = 0;
    pthread_mutex_unlock(&log_lock);
}

/* Caller holds log_lock. When the input was cut short (truncated), a tail
 * that is the start of a secret is redacted too: the rest of the secret was
 * cut off, but its first characters must not leak. */
static void redact_locked(const char *in, char *out, size_t outsz, bool truncated)
{
    size_t o = 0, left = strlen(in);

    while (*in && o + 1 < outsz) {
        size_t matched = 0;

        for (size_t i = 0; i < n_secrets; i++) {
            size_t n = strlen(secrets[i]);
            if (!strncmp(in, secrets[i], n)) {
                matched = n;
                break;
            }
            if (truncated && left < n && !strncmp(in, secrets[i], left)) {
                matched = left;
                break;
            }
        }
        if (matched) {
            size_t r = strlen(REDACTED);
            if (r > outsz - 1 - o)
                r = outsz - 1 - o;
            memcpy(out + o, REDACTED, r);
            o += r;
            in += matched;
            left -= matched;
        } else {
            out[o++] = *in++;
            left--;
        }
    }
    out[o] = '\0';
}

char *mlc_redact(const char *in, char *out, size_t outsz)
{
    pthread_mutex_lock(&log_lock);
    redact_locked(in, out, outsz, false);
    pthread_mutex_unlock(&log_lock);
    return out;
}

static void json_escape(struct mlc_buf *b, const char *s)
{
    mlc_buf_puts(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            mlc_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            mlc_buf_printf(b, "\\u%04x", c);
        else
            mlc_buf_append(b, s, 1);
    }
    mlc_buf_puts(b, "\"");
}

void mlc_log_write(int level, const char *file, int line, const char *fmt, ...)
{
    char raw[2048], msg[2048], ts[40];
    int64_t now_ms;
    time_t now;
    struct tm tm;
    struct mlc_buf out;
    const char *base = strrchr(file, '/');
    bool truncated;
    va_list ap;

    if (level < 0 || level > MLC_LOG_DEBUG)
        level = MLC_LOG_ERROR;
    base = base ? base + 1 : file;
    va_start(ap, fmt);
    truncated = vsnprintf(raw, sizeof(raw), fmt, ap) >= (int)sizeof(raw);
    va_end(ap);
    for (char *p = raw; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';

    now_ms = mlc_realtime_ms();
    now = (time_t)(now_ms / 1000);
    gmtime_r(&now, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(now_ms % 1000));

    mlc_buf_init(&out, 8192);
    pthread_mutex_lock(&log_lock);
    redact_locked(raw, msg, sizeof(msg), truncated);
    if (log_format == MLC_LOG_JSON) {
        mlc_buf_printf(&out, "{\"ts\":\"%s\",\"level\":\"%s\",\"prog\":", ts, level_names[level]);
        json_escape(&out, log_prog);
        mlc_buf_printf(&out, ",\"src\":\"%s:%d\",\"msg\":", base, line);
        json_escape(&out, msg);
        mlc_buf_puts(&out, "}\n");
    } else if (mlc_log_threshold >= MLC_LOG_DEBUG) {
        mlc_buf_printf(&out, "%s %-5s %s: %s (%s:%d)\n", ts, level_names[level], log_prog, msg,
                       base, line);
    } else {
        mlc_buf_printf(&out, "%s %-5s %s: %s\n", ts, level_names[level], log_prog, msg);
    }
    FILE *f = log_stream ? log_stream : stderr;
    fputs(mlc_buf_str(&out), f);
    fflush(f);
    pthread_mutex_unlock(&log_lock);
    mlc_buf_free(&out);
}
