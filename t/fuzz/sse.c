
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the SSE splitter (src/tokenroute_sse.c).  Input: a
 * split seed byte, a max_data byte, then the stream.  The stream fed in
 * pieces must give the events, in the same order, and the pending count
 * that feeding it whole gives; each event's data must hold data_len bytes
 * then a NUL and be no longer than max_data.  The pieces are fed to a
 * splitter that lends (tokenroute_sse_lend()), each from a copy freed
 * once fed: data lent from a piece and read after it would show.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_sse.h>

#include "fuzz.h"


typedef struct {
    char        *buf;
    size_t       len;
    size_t       size;
    size_t       max_data;
    int          lending;
} rec_t;


static void
rec_add(rec_t *r, const char *p, size_t n)
{
    if (r->len + n > r->size) {
        r->size = (r->len + n) * 2 + 64;
        r->buf = realloc(r->buf, r->size);
        fuzz_check(r->buf != NULL, "out of memory");
    }

    memcpy(r->buf + r->len, p, n);
    r->len += n;
}


static int
rec_handler(void *ctx, const char *event, size_t event_len,
    const char *data, size_t data_len, int truncated)
{
    rec_t  *r = ctx;
    char    sep[sizeof(size_t)];

    fuzz_check(r->lending || data[data_len] == '\0',
               "data is NUL-terminated");
    fuzz_check(data_len <= r->max_data, "data within max_data");
    fuzz_check(event == NULL ? event_len == 0
                             : event_len > 0 && event[event_len] == '\0'
                               && strlen(event) <= event_len
                               && event_len <= TOKENROUTE_SSE_EVENT_LEN,
               "event name");

    /* lengths in: data may hold NULs, names may not be unambiguous */
    memcpy(sep, &event_len, sizeof(size_t));
    rec_add(r, sep, sizeof(size_t));
    rec_add(r, event ? event : "", event_len);
    memcpy(sep, &data_len, sizeof(size_t));
    rec_add(r, sep, sizeof(size_t));
    rec_add(r, data, data_len);
    rec_add(r, truncated ? "T" : "-", 1);

    return 0;
}


static size_t
run(const char *p, size_t len, size_t max_data, unsigned seed, int whole,
    rec_t *r)
{
    char             *piece;
    size_t            n, off, pending;
    fuzz_split_t      fs;
    tokenroute_sse_t  sse;

    r->max_data = max_data;
    r->lending = !whole;

    fuzz_check(tokenroute_sse_init(&sse, max_data, rec_handler, r) == 0,
               "init");

    if (whole) {
        fuzz_check(tokenroute_sse_feed(&sse, p, len) == 0, "feed whole");

    } else {
        tokenroute_sse_lend(&sse);

        fuzz_split_init(&fs, seed);

        for (off = 0; off < len; off += n) {
            n = fuzz_split_next(&fs, len - off);

            piece = malloc(n + 1);
            fuzz_check(piece != NULL, "out of memory");
            memcpy(piece, p + off, n);

            fuzz_check(tokenroute_sse_feed(&sse, piece, n) == 0,
                       "feed piece");

            free(piece);
        }
    }

    pending = tokenroute_sse_pending(&sse);

    tokenroute_sse_free(&sse);

    return pending;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t       max_data, pa, pb;
    unsigned     seed;
    rec_t        a, b;
    const char  *p;

    if (size < 2) {
        return 0;
    }

    seed = data[0];

    /* small limits exercise truncation; 0 means the usual 64K */
    max_data = data[1] ? data[1] : 64 * 1024;

    p = (const char *) data + 2;
    size -= 2;

    memset(&a, 0, sizeof(rec_t));
    memset(&b, 0, sizeof(rec_t));

    pa = run(p, size, max_data, seed, 1, &a);
    pb = run(p, size, max_data, seed, 0, &b);

    fuzz_check(pa == pb, "pending is the same whole and split");
    fuzz_check(a.len == b.len
               && (a.len == 0 || memcmp(a.buf, b.buf, a.len) == 0),
               "events are the same whole and split");
    fuzz_check(pa <= size, "pending within what was fed");

    free(a.buf);
    free(b.buf);

    return 0;
}
