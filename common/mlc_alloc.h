/* mlc_alloc.h - the one allocation-failure policy (ADR 0010).
 *
 * Every heap allocation of ml-connector's own code goes through these
 * wrappers. They never return NULL: when the C library cannot allocate, they
 * print one line on stderr naming the program and the size asked for
 *
 *     mlc-loader: out of memory allocating 1048576 bytes
 *
 * and abort(). A worker that cannot allocate cannot make progress; the
 * supervisor (compose's restart policy, systemd, Kubernetes) starts it
 * again, and because nothing moves before the next hop is durable (the
 * extractor's watermark after delivery reports, the loader's offsets after
 * its SQLite transaction) the restarted process redoes at most the
 * unacknowledged work. So callers never test the result and there is no
 * "out of memory" error path to get wrong.
 *
 * What stays an error code: the errors libraries report from their own
 * allocations (SQLITE_NOMEM, CURLE_OUT_OF_MEMORY, librdkafka's
 * RD_KAFKA_RESP_ERR__*) are handled as any other error of that library.
 *
 * Raw malloc/calloc/realloc/strdup/strndup appear only in mlc_alloc.c; a
 * test (tests/check_source.cmake) fails otherwise. Memory from these
 * wrappers is released with free(). Also here: ARRAY_SIZE.
 */
#ifndef MLC_ALLOC_H
#define MLC_ALLOC_H

#include <stddef.h>

/* Number of elements of an array (not a pointer). */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *mlc_xmalloc(size_t size) __attribute__((malloc, returns_nonnull));
/* Zeroed nmemb * size bytes; an overflowing product aborts like a failure. */
void *mlc_xcalloc(size_t nmemb, size_t size) __attribute__((malloc, returns_nonnull));
/* realloc(p, size); size 0 still returns a (minimal) block, never NULL. */
void *mlc_xrealloc(void *p, size_t size) __attribute__((returns_nonnull));
/* realloc(p, nmemb * size), aborting when the product overflows. */
void *mlc_xreallocarray(void *p, size_t nmemb, size_t size) __attribute__((returns_nonnull));
char *mlc_xstrdup(const char *s) __attribute__((malloc, returns_nonnull));
/* At most n bytes of s, always NUL-terminated. */
char *mlc_xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));

/* Names the program in the abort line (default "mlc"); keeps a copy.
 * mlc_app_prologue() calls it. */
void mlc_alloc_set_progname(const char *name);

/* Makes cJSON allocate through mlc_xmalloc (cJSON_InitHooks), so that its
 * creators (cJSON_Create*, cJSON_Add*ToObject, cJSON_Duplicate, the
 * printers) never return NULL for lack of memory. They may still return
 * NULL for a NULL argument (cJSON_CreateString(NULL)); cJSON_Parse* return
 * NULL for malformed input. mlc_app_prologue() calls it. */
void mlc_alloc_cjson_hooks(void);

#endif
