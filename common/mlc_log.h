/* mlc_log.h - levelled logging on stderr, text or JSON lines, with redaction.
 *
 * mlc_error/mlc_warn/mlc_info/mlc_debug are macros that test the level
 * before evaluating their arguments, so a debug line costs one comparison
 * when debug is off.
 *
 * Redaction: every value registered with mlc_log_add_secret() (the
 * configuration registers each secret setting, clients register derived
 * forms such as a Basic-auth header) is replaced by "[REDACTED]" in every
 * line before it is written, whatever the level. mlc_redact() applies the
 * same rule to text that goes elsewhere (audit rows, error columns).
 *
 * Output: one line per call on stderr (or the stream given to
 * mlc_log_set_stream). Text: "2026-11-28T07:40:13.123Z info  mlc-loader: msg".
 * JSON: {"ts":...,"level":...,"prog":...,"src":"file.c:12","msg":...}.
 * The module is thread-safe.
 */
#ifndef MLC_LOG_H
#define MLC_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum mlc_log_level { MLC_LOG_ERROR = 0, MLC_LOG_WARN, MLC_LOG_INFO, MLC_LOG_DEBUG };
enum mlc_log_format { MLC_LOG_TEXT = 0, MLC_LOG_JSON };

/* Current threshold; lines above it are not formatted. Set via mlc_log_setup. */
extern int mlc_log_threshold;

#define mlc_log(level, ...)                                                                        \
    do {                                                                                           \
        if ((level) <= mlc_log_threshold)                                                          \
            mlc_log_write((level), __FILE__, __LINE__, __VA_ARGS__);                               \
    } while (0)
#define mlc_error(...) mlc_log(MLC_LOG_ERROR, __VA_ARGS__)
#define mlc_warn(...)  mlc_log(MLC_LOG_WARN, __VA_ARGS__)
#define mlc_info(...)  mlc_log(MLC_LOG_INFO, __VA_ARGS__)
#define mlc_debug(...) mlc_log(MLC_LOG_DEBUG, __VA_ARGS__)

/* prog is borrowed and must outlive logging (a string literal or argv[0]). */
void mlc_log_setup(const char *prog, enum mlc_log_level level, enum mlc_log_format format);
/* NULL restores stderr. The stream is borrowed. */
void mlc_log_set_stream(FILE *stream);

bool mlc_log_parse_level(const char *s, enum mlc_log_level *out);
bool mlc_log_parse_format(const char *s, enum mlc_log_format *out);

/* Registers a secret (copied) to be redacted from every line; NULL and
 * empty strings are ignored. */
void mlc_log_add_secret(const char *secret);
/* Forgets every registered secret (tests). */
void mlc_log_clear_secrets(void);

/* Copies in to out (size outsz > 0) with every registered secret replaced;
 * truncates to fit. Returns out. */
char *mlc_redact(const char *in, char *out, size_t outsz);

void mlc_log_write(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
