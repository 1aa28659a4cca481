/* mlc_time.h - the two clocks, one helper each.
 *
 * mlc_monotonic_ms: CLOCK_MONOTONIC, for deadlines and durations; never for
 * dates (its origin is arbitrary). mlc_realtime_ms: CLOCK_REALTIME, the
 * wall clock for dates (timestamps in logs, audit rows, Pipedrive's
 * budget day); it may jump with NTP, so never measure a duration with it.
 * Where a time_t of whole seconds is wanted (gmtime_r, the state files'
 * ISO times, Retry-After dates), time(NULL) is the same wall clock.
 */
#ifndef MLC_TIME_H
#define MLC_TIME_H

#include <stdint.h>

int64_t mlc_monotonic_ms(void);
int64_t mlc_realtime_ms(void);

#endif
