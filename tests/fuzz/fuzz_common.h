/* fuzz_common.h - helpers shared by the libFuzzer targets in tests/fuzz.
 *
 * FUZZ_CHECK aborts with a message when a property the header of the module
 * under test promises does not hold; libFuzzer turns the abort into a crash
 * file, so a broken invariant is reported like a memory error.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz invariant broken at %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* With MLC_FUZZ_VERBOSE set, prints each input's result on stderr (for
 * checking what a corpus file exercises: `MLC_FUZZ_VERBOSE=1 ./fuzz_x FILE`).
 * Silent otherwise, so fuzzing logs nothing per input. */
static inline void fuzz_report(const char *what, int rc, const char *msg)
{
    static int verbose = -1;

    if (verbose < 0)
        verbose = getenv("MLC_FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "%s: rc %d%s%s\n", what, rc, msg && *msg ? ": " : "", msg ? msg : "");
}

#endif
