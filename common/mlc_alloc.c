/* mlc_alloc.c - allocation wrappers that abort on failure, see mlc_alloc.h.
 * The only file of the product that calls the C library's allocators. */
#include "mlc_alloc.h"


#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char progname[64] = "mlc";

void mlc_alloc_set_progname(const char *name)
{
    snprintf(progname, sizeof(progname), "%s", name && name[0] ? name : "mlc");
}

/* One line with write(2): stdio might itself want memory. */
static void __attribute__((noreturn)) out_of_memory(size_t size)
{
    char line[160];
    int n;

    n = snprintf(line, sizeof(line), "%s: out of memory allocating %zu bytes\n", progname, size);
    if (n > 0) {
        size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
        ssize_t w = write(STDERR_FILENO, line, len);
        (void)w;
    }
    abort();
}

void *mlc_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (!p)
        out_of_memory(size);
    return p;
}

void *mlc_xcalloc(size_t nmemb, size_t size)
{
    void *p;

    if (size && nmemb > SIZE_MAX / size)
        out_of_memory(SIZE_MAX);
    p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        out_of_memory(nmemb * size);
    return p;
}

void *mlc_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);

    if (!q)
        out_of_memory(size);
    return q;
}

void *mlc_xreallocarray(void *p, size_t nmemb, size_t size)
{
    if (size && nmemb > SIZE_MAX / size)
        out_of_memory(SIZE_MAX);
    return mlc_xrealloc(p, nmemb * size);
}

char *mlc_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(mlc_xmalloc(n), s, n);
}

char *mlc_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = mlc_xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void mlc_alloc_cjson_hooks(void)
{
    cJSON_Hooks hooks = {.malloc_fn = mlc_xmalloc, .free_fn = free};

    cJSON_InitHooks(&hooks);
}
