/* mlc_backoff.h - exponential backoff with full jitter, honouring Retry-After.
 *
 * delay(attempt) = uniform random integer in [0, min(cap_ms, base_ms * 2^attempt)]
 * ("full jitter", AWS architecture blog): spreads retries of many clients
 * evenly instead of synchronising them. When the server sent Retry-After the
 * delay is at least that long, capped by the caller's max_retry_after_ms so a
 * hostile or confused server cannot park us for hours.
 *
 * The PRNG (xorshift64*) lives in the struct and is seedable, so tests are
 * deterministic; it is not for cryptography. A struct mlc_backoff is plain
 * data (no allocation, nothing to free) and is not thread-safe: use one per
 * thread.
 */
#ifndef MLC_BACKOFF_H
#define MLC_BACKOFF_H

#include "mlc_time.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct mlc_backoff {
    long base_ms;            /* first ceiling (attempt 0), > 0 */
    long cap_ms;             /* ceiling of the exponential part */
    long max_retry_after_ms; /* most we honour from Retry-After */
    uint64_t rng;            /* PRNG state, never 0 */
};

/* seed 0 picks one from the clock and pid. Non-positive values are replaced by
 * defaults: base 500 ms, cap 30 s, max Retry-After 300 s. */
void mlc_backoff_init(struct mlc_backoff *b, long base_ms, long cap_ms, long max_retry_after_ms,
                      uint64_t seed);

/* Next 64 bits of the PRNG. */
uint64_t mlc_backoff_rand(struct mlc_backoff *b);

/* Delay before retry number attempt (0 = first retry), in ms. retry_after_ms
 * < 0 means the server gave none; otherwise the result is at least
 * min(retry_after_ms, max_retry_after_ms). */
long mlc_backoff_delay_ms(struct mlc_backoff *b, unsigned attempt, long retry_after_ms);

/* Parses a Retry-After value: delta-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT", relative to now). A date in the past
 * gives 0. Returns false (out untouched) for anything else. */
bool mlc_backoff_parse_retry_after(const char *value, time_t now, long *out_ms);

/* Sleeps ms milliseconds in slices of at most 100 ms, returning false early
 * as soon as *stop (nullable) becomes non-zero; true when the full time
 * passed. */
bool mlc_backoff_sleep_ms(long ms, volatile sig_atomic_t *stop);

#endif
