/* mlc secret keygen [--out FILE] | encrypt --setting NAME | reencrypt --setting NAME
 *
 * keygen prints a new master key (base64, one line) on stdout, or with
 * --out creates FILE itself (O_EXCL, mode 0600: an existing key is never
 * overwritten, and the key is never readable by others, not even briefly).
 * encrypt reads one secret on stdin (one trailing newline stripped; no echo
 * on a terminal) and prints its enc:v2: form, sealed with
 * MLC_MASTER_KEY_FILE for the setting NAME only. reencrypt reads an enc:v1:
 * value on stdin and prints the same secret as enc:v2: for NAME. Neither
 * the key nor the secret is ever logged.
 */
#include "mlc_buf.h"
#include "mlc_cli.h"
#include "mlc_secret.h"
#include "mlc_str.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define SECRET_MAX (64 * 1024)

/* Prints "mlc: <message>" (one line, redacted) and returns exit status 2. */
__attribute__((format(printf, 2, 3))) static int fail(const struct mlc_app *app, const char *fmt,
                                                      ...)
{
    struct mlc_err err = {0};
    char msg[sizeof(err.msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mlc_err_set(&err, MLC_FATAL, "%s", msg);
    mlc_app_fail(app, &err);
    return 2;
}

static int write_key_file(const struct mlc_app *app, const char *path, const char *line)
{
    size_t len = strlen(line), off = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0)
        return fail(app, "secret keygen --out %s: %s (an existing key is never overwritten)", path,
                    strerror(errno));
    /* umask can only remove bits; make sure no group/other bit survives. */
    if (fchmod(fd, 0600) != 0)
        goto bad;
    while (off < len) {
        ssize_t w = write(fd, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto bad;
        off += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto bad;
    if (close(fd) != 0) {
        fd = -1;
        goto bad;
    }
    fprintf(stderr,
            "mlc: wrote a new master key to %s (mode 0600); point MLC_MASTER_KEY_FILE at "
            "it and keep a copy somewhere safe\n",
            path);
    return 0;
bad : {
    int saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(path);
    errno = saved;
}
    return fail(app, "secret keygen --out %s: %s", path, strerror(errno));
}

static int keygen(struct mlc_app *app)
{
    unsigned char key[MLC_SECRET_KEY_LEN];
    char b64[64], line[80];
    struct mlc_err err = {0};
    const char *out = NULL;
    int code;

    if (app->argc == 4 && !strcmp(app->argv[2], "--out"))
        out = app->argv[3];
    else if (app->argc == 3 && !strncmp(app->argv[2], "--out=", 6) && app->argv[2][6])
        out = app->argv[2] + 6;
    else if (app->argc != 2)
        return fail(app, "usage: mlc secret keygen [--out FILE]");
    if (mlc_secret_keygen(key, b64, sizeof(b64), &err) != MLC_OK) {
        mlc_app_fail(app, &err);
        code = 2;
        goto out;
    }
    snprintf(line, sizeof(line), "%s\n", b64);
    if (out) {
        code = write_key_file(app, out, line);
    } else {
        code = fputs(line, stdout) < 0 || fflush(stdout) != 0 ? 2 : 0;
        if (code)
            fail(app, "secret keygen: cannot write the key to stdout");
    }
out:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(b64, sizeof(b64));
    OPENSSL_cleanse(line, sizeof(line));
    return code;
}

/* Reads all of stdin into b (capped); no echo when stdin is a terminal. */
static mlc_rc read_secret(struct mlc_buf *b, struct mlc_err *err)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    char chunk[4096];
    mlc_rc rc = MLC_OK;

    if (tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        fputs("secret (not echoed), then Enter: ", stderr);
    }
    for (;;) {
        ssize_t got = read(STDIN_FILENO, chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = mlc_err_set(err, MLC_FATAL, "secret encrypt: cannot read stdin: %s",
                             strerror(errno));
            break;
        }
        if (got == 0)
            break;
        if (mlc_buf_append(b, chunk, (size_t)got) != MLC_OK) {
            rc = mlc_err_set(err, MLC_FATAL,
                             "secret encrypt: secret on stdin is longer than %d "
                             "bytes",
                             SECRET_MAX);
            break;
        }
        if (tty && memchr(chunk, '\n', (size_t)got))
            break;
    }
    OPENSSL_cleanse(chunk, sizeof(chunk));
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    return rc;
}

#define USAGE                                                                                      \
    "usage: mlc secret keygen [--out FILE] | mlc secret encrypt --setting MLC_NAME < secret.txt "  \
    "| "                                                                                           \
    "mlc secret reencrypt --setting MLC_NAME < enc-v1-value.txt"

/* The setting a sealed value is for: a secret setting of the table, or a
 * librdkafka property that holds a secret (MLC_RDKAFKA_SASL_PASSWORD). */
static bool secret_setting(const char *name)
{
    char key[128];
    size_t n = 0;

    for (int i = 0; i < MLC_CFG__COUNT; i++)
        if (!strcmp(mlc_cfg_defs[i].name, name))
            return mlc_cfg_defs[i].type == MLC_CFGT_SECRET;
    if (strncmp(name, "MLC_RDKAFKA_", 12) || !name[12])
        return false;
    for (const char *p = name + 12; *p && n + 1 < sizeof(key); p++)
        key[n++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
    key[n] = '\0';
    return mlc_config_rdkafka_is_secret(key);
}

/* encrypt (reseal false) or reencrypt (reseal true) for --setting NAME. */
static int seal(struct mlc_app *app, bool reseal)
{
    unsigned char key[MLC_SECRET_KEY_LEN];
    struct mlc_err err = {0};
    struct mlc_buf in;
    char *sealed = NULL, *plain = NULL;
    const char *setting;
    size_t len;
    int code = 2;

    if (app->argc != 4 || strcmp(app->argv[2], "--setting"))
        return fail(app, USAGE);
    setting = app->argv[3];
    if (!secret_setting(setting))
        return fail(app,
                    "secret %s: %s is not a secret setting (MLC_SAGE_PASSWORD, "
                    "MLC_PIPEDRIVE_TOKEN, MLC_RDKAFKA_SASL_PASSWORD, ...; see --help)",
                    app->argv[1], setting);
    mlc_buf_init(&in, SECRET_MAX + 2);
    if (read_secret(&in, &err) != MLC_OK)
        goto failed;
    len = in.len;
    /* One trailing newline (as echo and editors add) is not part of it. */
    if (len && in.data[len - 1] == '\n') {
        len--;
        if (len && in.data[len - 1] == '\r')
            len--;
        in.data[len] = '\0';
        in.len = len;
    }
    if (len == 0) {
        mlc_err_set(&err, MLC_FATAL, "secret %s: empty input on stdin", app->argv[1]);
        goto failed;
    }
    if (memchr(in.data, '\0', len)) {
        mlc_err_set(&err, MLC_FATAL, "secret %s: the input contains a NUL byte", app->argv[1]);
        goto failed;
    }
    if (reseal && !mlc_str_startswith(mlc_buf_str(&in), MLC_SECRET_PREFIX_V1)) {
        mlc_err_set(&err, MLC_FATAL, "secret reencrypt: stdin holds no enc:v1: value");
        goto failed;
    }
    if (mlc_secret_load_key(mlc_cfg_str(&app->cfg, MLC_CFG_MASTER_KEY_FILE), key, &err) != MLC_OK)
        goto failed;
    if (reseal && mlc_secret_decrypt(key, setting, mlc_buf_str(&in), &plain, &err) != MLC_OK)
        goto failed;
    if (mlc_secret_encrypt(key, setting, reseal ? plain : mlc_buf_str(&in), &sealed, &err) !=
        MLC_OK)
        goto failed;
    OPENSSL_cleanse(key, sizeof(key));
    printf("%s\n", sealed);
    code = fflush(stdout) == 0 ? 0 : 2;
    free(sealed);
    goto out;
failed:
    OPENSSL_cleanse(key, sizeof(key));
    mlc_app_fail(app, &err);
out:
    if (plain) {
        OPENSSL_cleanse(plain, strlen(plain));
        free(plain);
    }
    if (in.data)
        OPENSSL_cleanse(in.data, in.cap);
    mlc_buf_free(&in);
    return code;
}

int mlc_cmd_secret(struct mlc_app *app)
{
    if (app->argc >= 2 && !strcmp(app->argv[1], "keygen"))
        return keygen(app);
    if (app->argc >= 2 && !strcmp(app->argv[1], "encrypt"))
        return seal(app, false);
    if (app->argc >= 2 && !strcmp(app->argv[1], "reencrypt"))
        return seal(app, true);
    fputs("mlc: " USAGE "\n", stderr);
    return 2;
}
