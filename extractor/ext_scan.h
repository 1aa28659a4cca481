/* ext_scan.h - the keyset scan of one cycle: every page of ARCustomers
 * (since the given day, or all), pipelined.
 *
 * Keyset windows ordered by CustomerNumber, each the first page after the
 * last number seen and the (re-based) nextLinks it leads to; the scan ends
 * only on an empty window, and fails (MLC_RETRY) on a window that makes no
 * progress. While page N is prepared (ext_page), page N+1 is fetched
 * (ext_fetch) and page N-1's delivery reports arrive; page N-1 is committed
 * (ext_commit) only once all of its reports succeeded, in page order. When
 * *stop becomes non-zero the page in hand is settled and the scan ends
 * MLC_RETRY "interrupted after page N".
 */
#ifndef EXT_SCAN_H
#define EXT_SCAN_H
#include "ext_run.h"

/* since: "YYYY-MM-DD" lower bound on DateLastMaintained, or NULL (every
 * customer). Updates c->st, c->max_lm and the keyset position in c. */
mlc_rc ext_scan(struct ext_run *c, const char *since, struct mlc_err *err);

#endif
