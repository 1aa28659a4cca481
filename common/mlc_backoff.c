/* mlc_backoff.c - exponential backoff with full jitter, see mlc_backoff.h. */
#include "mlc_backoff.h"

#include "mlc_str.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

void mlc_backoff_init(struct mlc_backoff *b, long base_ms, long cap_ms, long max_retry_after_ms,
                      uint64_t seed)
{
    b->base_ms = base_ms > 0 ? base_ms : 500;
    b->cap_ms = cap_ms > 0 ? cap_ms : 30000;
    b->max_retry_after_ms = max_retry_after_ms > 0 ? max_retry_after_ms : 300000;
    if (seed == 0) {
        struct timespec ts;

        /* entropy, not a time: the nanoseconds matter */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
               ((uint64_t)getpid() << 32);
    }
    /* splitmix64 step so that neighbouring seeds give unrelated sequences. */
    seed += 0x9E3779B97F4A7C15ULL;
    seed = (seed ^ (seed >> 30)) * 0xBF58476D1CE4E5B9ULL;
    seed = (seed ^ (seed >> 27)) * 0x94D049BB133111EBULL;
    seed ^= seed >> 31;
    b->rng = seed ? seed : 0x2545F4914F6CDD1DULL;
}

uint64_t mlc_backoff_rand(struct mlc_backoff *b)
{
    uint64_t x = b->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

long mlc_backoff_delay_ms(struct mlc_backoff *b, unsigned attempt, long retry_after_ms)
{
    long ceiling = b->base_ms;
    long delay;

    /* base * 2^attempt without overflow: stop doubling at the cap. */
    for (unsigned i = 0; i < attempt && ceiling < b->cap_ms; i++)
        ceiling = ceiling > LONG_MAX / 2 ? LONG_MAX : ceiling * 2;
    if (ceiling > b->cap_ms)
        ceiling = b->cap_ms;
    delay = (long)(mlc_backoff_rand(b) % ((uint64_t)ceiling + 1));
    if (retry_after_ms >= 0) {
        long floor_ms =
            retry_after_ms < b->max_retry_after_ms ? retry_after_ms : b->max_retry_after_ms;

        if (delay < floor_ms)
            delay = floor_ms;
    }
    return delay;
}

bool mlc_backoff_parse_retry_after(const char *value, time_t now, long *out_ms)
{
    long secs;
    time_t when;

    if (!value)
        return false;
    /* delta-seconds; a day is far beyond any sane wait and keeps ms in range. */
    if (mlc_parse_long(value, 0, 86400L * 365, &secs)) {
        *out_ms = secs * 1000;
        return true;
    }
    /* HTTP-date: insist on a weekday-comma form so garbage is not "a date". */
    if (!strchr(value, ','))
        return false;
    when = curl_getdate(value, NULL);
    if (when == (time_t)-1)
        return false;
    if (when <= now)
        *out_ms = 0;
    else if (when - now > 86400L * 365)
        *out_ms = 86400L * 365 * 1000;
    else
        *out_ms = (long)(when - now) * 1000;
    return true;
}

bool mlc_backoff_sleep_ms(long ms, volatile sig_atomic_t *stop)
{
    while (ms > 0) {
        long slice = ms < 100 ? ms : 100;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = slice * 1000000L};

        if (stop && *stop)
            return false;
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
            if (stop && *stop)
                return false;
        }
        ms -= slice;
    }
    return !(stop && *stop);
}
