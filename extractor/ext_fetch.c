/* ext_fetch.c - fetching the next Sage page on a helper thread (see
 * ext_fetch.h). */
#include "ext_fetch.h"

#include <stdlib.h>
#include <string.h>

static void *fetch_main(void *arg)
{
    struct ext_fetch *f = arg;

    f->rc = sage_client_get_page(f->sage, f->url, f->resource, &f->page, &f->err);
    f->read_at = time(NULL);
    return NULL;
}

/* Starts fetching url (taken over); falls back to fetching inline. */
void ext_fetch_start(struct ext_fetch *f, char *url)
{
    free(f->url);
    f->url = url;
    mlc_err_clear(&f->err);
    sage_page_free(&f->page);
    if (pthread_create(&f->tid, NULL, fetch_main, f) == 0)
        f->running = true;
    else
        fetch_main(f);
}

void ext_fetch_join(struct ext_fetch *f)
{
    if (f->running)
        pthread_join(f->tid, NULL);
    f->running = false;
}
