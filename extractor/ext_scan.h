/* ext_scan.h - the keyset scan of one cycle: every page of ARCustomers
 * (since the given day, or all), pipelined.
 *
 * Every page is the extractor's own keyset query ordered by CustomerNumber
 * ("CustomerNumber gt '<last seen>'", $top = MLC_SAGE_PAGE_SIZE) on the
 * configured URL; the server's @odata.nextLink is never followed, only
 * taken as the signal that more rows exist (its format is undocumented and
 * its host is the one the server saw). The scan ends only on an empty page
 * (one request more than strictly needed, so that neither a short page nor a
 * missing link can end it early), and fails (MLC_RETRY) on a page that makes
 * no progress. While page N is prepared (ext_page), page N+1 is fetched
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
