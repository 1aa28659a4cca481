/* Unit tests of mlc_alloc: the wrappers never return NULL; when the C
 * library cannot allocate they print one line naming the size and abort
 * (ADR 0010). The failing calls run in a forked child whose stderr is read
 * back through a pipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the three above first */
#include <cmocka.h>

#include "mlc_alloc.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Under AddressSanitizer a request this large would end the process in the
 * sanitizer's own report; the product's path is the C library's NULL. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* A size no allocator grants (over PTRDIFF_MAX), hidden from the compiler's
 * -Walloc-size-larger-than. */
static volatile size_t huge = SIZE_MAX / 2 + 1;

enum what { X_MALLOC, X_CALLOC_OVERFLOW, X_REALLOC, X_REALLOCARRAY_OVERFLOW, X_CJSON };

static void child(enum what w)
{
    void *p = NULL;

    mlc_alloc_set_progname("test-alloc");
    switch (w) {
    case X_MALLOC:
        p = mlc_xmalloc(huge);
        break;
    case X_CALLOC_OVERFLOW:
        p = mlc_xcalloc(huge, 4);
        break;
    case X_REALLOC:
        p = mlc_xrealloc(mlc_xmalloc(16), huge);
        break;
    case X_REALLOCARRAY_OVERFLOW:
        p = mlc_xreallocarray(NULL, huge, 8);
        break;
    case X_CJSON:
        /* cJSON's own allocator, after the hooks the prologue installs */
        mlc_alloc_cjson_hooks();
        p = cJSON_malloc(huge);
        if (!p)
            _exit(3); /* cJSON returned NULL: the hooks are not installed */
        break;
    }
    (void)p;
    _exit(4); /* the wrapper returned */
}

/* Runs child(w); returns its stderr in out and its wait status. */
static int run_child(enum what w, char *out, size_t outsz)
{
    int fds[2], status = 0;
    size_t len = 0;
    ssize_t n;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        child(w);
    }
    close(fds[1]);
    while (len + 1 < outsz && (n = read(fds[0], out + len, outsz - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void assert_aborted_with(enum what w, const char *line)
{
    char out[4096];
    int status = run_child(w, out, sizeof(out));

    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("child did not abort (status %#x), stderr: %s", status, out);
    if (!strstr(out, line))
        fail_msg("stderr lacks '%s': %s", line, out);
}

static void malloc_failure_aborts_naming_the_size(void **state)
{
    char line[128];

    snprintf(line, sizeof(line), "test-alloc: out of memory allocating %zu bytes\n", (size_t)huge);
    assert_aborted_with(X_MALLOC, line);
}

static void realloc_failure_aborts_naming_the_size(void **state)
{
    char line[128];

    snprintf(line, sizeof(line), "test-alloc: out of memory allocating %zu bytes\n", (size_t)huge);
    assert_aborted_with(X_REALLOC, line);
}

/* nmemb * size would wrap to a small number: that is a failure, not a
 * small block. */
static void overflowing_counts_abort(void **state)
{
    char line[128];

    snprintf(line, sizeof(line), "test-alloc: out of memory allocating %zu bytes\n", SIZE_MAX);
    assert_aborted_with(X_CALLOC_OVERFLOW, line);
    assert_aborted_with(X_REALLOCARRAY_OVERFLOW, line);
}

static void cjson_allocates_through_the_wrapper(void **state)
{
    char line[128];

    snprintf(line, sizeof(line), "test-alloc: out of memory allocating %zu bytes\n", (size_t)huge);
    assert_aborted_with(X_CJSON, line);
}

static void successful_calls_behave_as_the_c_library(void **state)
{
    unsigned char *z = mlc_xcalloc(64, 2);
    char *d = mlc_xstrdup("sage300");
    char *n = mlc_xstrndup("customer", 4);
    char *s = mlc_xstrndup("ab", 10);
    int *a = mlc_xreallocarray(NULL, 3, sizeof(int));
    void *zero = mlc_xmalloc(0);

    for (size_t i = 0; i < 128; i++)
        assert_int_equal(z[i], 0);
    assert_string_equal(d, "sage300");
    assert_string_equal(n, "cust");
    assert_string_equal(s, "ab");
    a[2] = 7;
    a = mlc_xreallocarray(a, 1000, sizeof(int));
    assert_int_equal(a[2], 7);
    assert_non_null(zero);
    assert_int_equal(ARRAY_SIZE("abc"), 4);
    free(z);
    free(d);
    free(n);
    free(s);
    free(a);
    free(zero);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malloc_failure_aborts_naming_the_size),
        cmocka_unit_test(realloc_failure_aborts_naming_the_size),
        cmocka_unit_test(overflowing_counts_abort),
        cmocka_unit_test(cjson_allocates_through_the_wrapper),
        cmocka_unit_test(successful_calls_behave_as_the_c_library),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
