
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the usage reader and its skimmer
 * (src/tokenroute_usage.c, src/tokenroute_skim*.c) against yajl (the
 * reference reader of t/unit/ref/usage_ref.c, its fast path off).  Input:
 * a split seed byte, a mode byte, then the text.  The mode's low bit is
 * the API; bits 1-2 choose what the text is:
 *
 *     0  a whole response body, fed whole and in pieces
 *     1  one SSE event's data (the event name chosen by bits 3-5), read
 *        by tokenroute_usage_event() and by a skimmer fed in pieces
 *     2  an SSE stream, split by tokenroute_sse.c, every event read with
 *        one usage struct (so the learned chunk envelope is used); on an
 *        odd split seed, lent and with the line hook, as the response
 *        filter reads it
 *     3  a body learned (tokenroute_skim_body_learn()), up to a NUL if
 *        there is one; then read as in mode 0: itself, itself with its
 *        digits turned by the split seed (the same layout, other
 *        numbers, a leading zero now and then), and what follows the NUL
 *        (the template read each when it fits); forgotten after
 *
 * Usage, flags and the verdict must be yajl's.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_skim.h>
#include <tokenroute_sse.h>
#include <tokenroute_usage.h>

#include "ref/usage_ref.c"

#include "fuzz.h"


static const char  *events[8] = {
    NULL, "message_start", "message_delta", "content_block_delta",
    "message_stop", "error", "ping", "content_block_start"
};


typedef struct {
    int                  shape;
    tokenroute_usage_t   u;
    tokenroute_usage_t   w;
} stream_t;


static int
usage_equal(const tokenroute_usage_t *a, const tokenroute_usage_t *b)
{
    return a->input_tokens == b->input_tokens
           && a->cached_tokens == b->cached_tokens
           && a->cache_write_tokens == b->cache_write_tokens
           && a->cache_write_1h_tokens == b->cache_write_1h_tokens
           && a->output_tokens == b->output_tokens
           && a->content_bytes == b->content_bytes
           && a->seen_input == b->seen_input
           && a->seen_output == b->seen_output
           && a->error == b->error;
}


/* returns whether the body was complete, as the body filter feeds it */

static int
body_new(int shape, const char *p, size_t len, unsigned seed, int whole,
    tokenroute_usage_t *u)
{
    int                      rc;
    size_t                   n, off;
    fuzz_split_t             fs;
    tokenroute_usage_json_t  uj;

    memset(u, 0, sizeof(tokenroute_usage_t));

    fuzz_check(tokenroute_usage_json_init(&uj, shape, u) == 0, "init");

    rc = 0;

    if (whole) {
        rc = tokenroute_usage_json_feed(&uj, p, len);

    } else {
        fuzz_split_init(&fs, seed);

        for (off = 0; off < len && rc == 0; off += n) {
            n = fuzz_split_next(&fs, len - off);
            rc = tokenroute_usage_json_feed(&uj, p + off, n);
        }
    }

    if (rc == 0) {
        rc = tokenroute_usage_json_finish(&uj);
    }

    tokenroute_usage_json_free(&uj);

    return rc == 0;
}


static int
body_ref(int shape, const char *p, size_t len, tokenroute_usage_t *u)
{
    int               rc;
    ref_usage_json_t  ruj;

    memset(u, 0, sizeof(tokenroute_usage_t));

    fuzz_check(ref_usage_json_init(&ruj, shape, u) == 0, "ref init");

    rc = ref_usage_json_feed(&ruj, p, len);

    if (rc == 0) {
        rc = ref_usage_json_finish(&ruj);
    }

    ref_usage_json_free(&ruj);

    return rc == 0;
}


static void
check_body(int shape, const char *p, size_t len, unsigned seed)
{
    int                 want, whole, split;
    tokenroute_usage_t  w, a, b;

    want = body_ref(shape, p, len, &w);
    whole = body_new(shape, p, len, seed, 1, &a);
    split = body_new(shape, p, len, seed, 0, &b);

    fuzz_check(whole == want && usage_equal(&a, &w), "body read as yajl");
    fuzz_check(split == want && usage_equal(&b, &w),
               "body in pieces read as yajl");
}


/* a body learned, then bodies read with its template */

static void
check_learned(int shape, const char *p, size_t len, unsigned seed)
{
    char        *v;
    size_t       i, n;
    const char  *nul;

    nul = memchr(p, '\0', len);
    n = nul ? (size_t) (nul - p) : len;

    tokenroute_skim_body_forget();
    tokenroute_skim_body_learn(shape, p, n);

    check_body(shape, p, n, seed);

    v = malloc(n ? n : 1);
    fuzz_check(v != NULL, "malloc");

    for (i = 0; i < n; i++) {
        v[i] = ((unsigned) (p[i] - '0') <= 9)
               ? (char) ('0' + (p[i] - '0' + seed + i) % 10) : p[i];
    }

    check_body(shape, v, n, seed);
    free(v);

    if (nul) {
        check_body(shape, nul + 1, len - n - 1, seed);
    }

    tokenroute_skim_body_forget();
}


/* the skimmer alone, in pieces, then what tokenroute_usage_event() does */

static int
skim_event(int shape, const char *ev, const char *p, size_t len,
    unsigned seed, tokenroute_usage_t *u)
{
    int                rc;
    size_t             n, off;
    fuzz_split_t       fs;
    tokenroute_skim_t  sk;

    if (len == 6 && memcmp(p, "[DONE]", 6) == 0) {
        return TOKENROUTE_EVENT_DONE;
    }

    tokenroute_skim_init(&sk, shape, 1);
    fuzz_split_init(&fs, seed);

    rc = 0;

    for (off = 0; off < len && rc == 0; off += n) {
        n = fuzz_split_next(&fs, len - off);
        rc = tokenroute_skim_feed(&sk, p + off, n);
    }

    if (rc == 0) {
        rc = tokenroute_skim_finish(&sk);
    }

    tokenroute_skim_free(&sk);

    if (rc != 0) {
        return -1;
    }

    return tokenroute_usage_skimmed(shape, ev, ev ? strlen(ev) : 0, &sk, u);
}


static void
check_event(int shape, const char *ev, const char *p, size_t len,
    unsigned seed)
{
    int                 want, got, skim;
    size_t              evlen;
    tokenroute_usage_t  w, a, b;

    evlen = ev ? strlen(ev) : 0;

    memset(&w, 0, sizeof(tokenroute_usage_t));
    memset(&a, 0, sizeof(tokenroute_usage_t));
    memset(&b, 0, sizeof(tokenroute_usage_t));

    want = ref_usage_event(shape, ev, evlen, p, len, &w, 0);
    got = tokenroute_usage_event(shape, ev, evlen, p, len, &a);
    skim = skim_event(shape, ev, p, len, seed, &b);

    fuzz_check(got == want && usage_equal(&a, &w), "event read as yajl");
    fuzz_check(skim == want && usage_equal(&b, &w),
               "event skimmed in pieces read as yajl");
}


static int
stream_handler(void *ctx, const char *event, size_t event_len,
    const char *data, size_t data_len, int truncated)
{
    int        want, got;
    stream_t  *st = ctx;

    if (truncated) {
        return 0;
    }

    want = ref_usage_event(st->shape, event, event_len, data, data_len,
                           &st->w, 0);
    got = tokenroute_usage_event(st->shape, event, event_len, data, data_len,
                                 &st->u);

    fuzz_check(got == want && usage_equal(&st->u, &st->w),
               "stream event read as yajl");

    return 0;
}


/* as the response filter has it: a content chunk's line end and usage */

static const char *
stream_line(void *ctx, const char *p, const char *last)
{
    stream_t  *st = ctx;

    return tokenroute_usage_line(&st->u, p, last);
}


static void
check_stream(int shape, const char *p, size_t len, unsigned seed)
{
    size_t            n, off;
    stream_t          st;
    fuzz_split_t      fs;
    tokenroute_sse_t  sse;

    memset(&st, 0, sizeof(stream_t));
    st.shape = shape;

    fuzz_check(tokenroute_sse_init(&sse, 64 * 1024, stream_handler, &st)
               == 0, "sse init");

    /* half the time as the filter reads a stream: lent, with the hook */

    if (seed & 1) {
        tokenroute_sse_lend(&sse);

        if (shape == TOKENROUTE_SHAPE_OPENAI) {
            tokenroute_sse_line_end(&sse, stream_line);
        }
    }

    fuzz_split_init(&fs, seed);

    for (off = 0; off < len; off += n) {
        n = fuzz_split_next(&fs, len - off);
        st.u.line = NULL;
        fuzz_check(tokenroute_sse_feed(&sse, p + off, n) == 0, "sse feed");
    }

    tokenroute_sse_free(&sse);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          shape;
    unsigned     seed, mode;
    const char  *p;

    if (size < 2) {
        return 0;
    }

    seed = data[0];
    mode = data[1];
    p = (const char *) data + 2;
    size -= 2;

    shape = (mode & 1) ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;

    switch ((mode >> 1) & 3) {

    case 0:
        check_body(shape, p, size, seed);
        break;

    case 1:
        check_event(shape, events[(mode >> 3) & 7], p, size, seed);
        break;

    case 2:
        check_stream(shape, p, size, seed);
        break;

    default:
        check_learned(shape, p, size, seed);
        break;
    }

    return 0;
}
