/* ext_fetch.h - a Sage page fetched on a helper thread while the previous one
 * is published: the Sage round trip overlaps the Kafka and SQLite work, and
 * memory stays bounded by two pages.
 *
 * The helper thread is the only user of the Sage client while it runs: join
 * before touching sage, page, rc, err or read_at. Zero-initialise with .sage
 * and .resource (both borrowed) set; the owner frees url and page after the
 * last join.
 */
#ifndef EXT_FETCH_H
#define EXT_FETCH_H
#include "mlc_err.h"
#include "sage_client.h"
#include "sage_page.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

struct ext_fetch {
    pthread_t tid;
    bool running;
    struct sage_client *sage;
    const char *resource;
    char *url; /* owned */
    struct sage_page page;
    struct mlc_err err;
    mlc_rc rc;
    time_t read_at;
};

/* Starts fetching url (taken over); falls back to fetching inline. */
void ext_fetch_start(struct ext_fetch *f, char *url);

/* Waits for the fetch started last (no-op when none runs). */
void ext_fetch_join(struct ext_fetch *f);

#endif
