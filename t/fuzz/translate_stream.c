
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the stream translators
 * (src/tokenroute_translate_stream*.c).  Input: a split seed byte, a
 * flags byte (the shapes, include_usage, how the upstream ends, an
 * emit that fails), then the provider's stream.  Fed in pieces, the
 * stream must give the bytes feeding it whole gives; what is emitted must
 * be SSE, complete events only, whose every event's data is JSON (or
 * OpenAI's "[DONE]") when the shapes differ (the same shape relays the
 * provider's events as they are), and UTF-8 if the stream was.  The
 * fast path of Anthropic events (tokenroute_translate_stream_scan.c) must
 * give the bytes, and the usage read as the filter's tap reads it, that
 * every event through the JSON tree (tree_only) gives.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_sse.h>
#include <tokenroute_translate_response.h>
#include <tokenroute_translate_stream_tap.h>
#include <tokenroute_usage.h>

#include "fuzz.h"


typedef struct {
    char        *buf;
    size_t       len;
    size_t       size;
    int          calls;
    int          fail_at;     /* 0: never */
    int          from;
    tokenroute_stream_t  *st;
    tokenroute_usage_t    usage;
    uint64_t              flags;  /* the usage reader's, hashed */
} sink_t;


/*
 * The usage as ngx_http_tokenroute_tap() reads it: the translator's
 * count of a plain content delta, else the usage reader
 */

static int
usage_tap(void *ctx, const char *event, size_t event_len, const char *data,
    size_t len, int truncated)
{
    int      flags;
    sink_t  *s = ctx;

    if (truncated) {
        return 0;
    }

    flags = tokenroute_stream_tap_usage(s->st, &s->usage);

    if (flags < 0) {
        flags = tokenroute_usage_event(s->from, event, event_len, data, len,
                                       &s->usage);
    }

    s->flags = s->flags * 31 + (uint64_t) (flags + 1);

    return 0;
}


static int
sink_emit(void *ctx, const char *p, size_t len)
{
    sink_t  *s = ctx;

    if (++s->calls == s->fail_at) {
        return -1;
    }

    if (s->len + len > s->size) {
        s->size = (s->len + len) * 2 + 256;
        s->buf = realloc(s->buf, s->size);
        fuzz_check(s->buf != NULL, "out of memory");
    }

    memcpy(s->buf + s->len, p, len);
    s->len += len;

    return 0;
}


static int
event_check(void *ctx, const char *event, size_t event_len,
    const char *data, size_t data_len, int truncated)
{
    int  *how = ctx;    /* 1: translated, 2: from UTF-8 */

    (void) event;
    (void) event_len;

    fuzz_check(!truncated, "an emitted event is cut");
    fuzz_check(!(*how & 1)
               || (data_len == 6 && memcmp(data, "[DONE]", 6) == 0)
               || fuzz_json_valid(data, data_len, *how & 2),
               "an emitted event is JSON");

    return 0;
}


static void
run(int from, int to, unsigned flags, const char *p, size_t len,
    unsigned seed, int whole, int tree_only, sink_t *s)
{
    int                   rc, failed;
    size_t                n, off;
    fuzz_split_t          fs;
    tokenroute_stream_t   st;

    memset(s, 0, sizeof(sink_t));
    s->fail_at = (flags & 0x40) ? 1 + (flags >> 3 & 7) : 0;

    fuzz_check(tokenroute_stream_init(&st, from, to, "pub/m", 5,
                                      (flags >> 2) & 1, sink_emit, s)
               == 0, "init");

    /* the two runs may straddle a second */
    st.created = 1700000000;

    st.tree_only = tree_only;
    st.tap = usage_tap;
    st.tap_ctx = s;
    s->st = &st;
    s->from = from;

    failed = 0;

    if (whole) {
        failed = tokenroute_stream_feed(&st, p, len) != 0;

    } else {
        fuzz_split_init(&fs, seed);

        for (off = 0; off < len; off += n) {
            n = fuzz_split_next(&fs, len - off);

            rc = tokenroute_stream_feed(&st, p + off, n);

            fuzz_check(!failed || rc != 0, "a failed stream stays failed");
            failed |= (rc != 0);
        }
    }

    if (flags & 0x80) {
        rc = tokenroute_stream_error(&st, "upstream \"timed\" out");

    } else {
        rc = tokenroute_stream_finish(&st, (flags >> 5) & 1);
    }

    fuzz_check(!failed || rc != 0, "a failed stream stays failed");
    fuzz_check(s->fail_at == 0 || s->calls < s->fail_at || rc != 0,
               "an emit failure is reported");

    tokenroute_stream_free(&st);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                from, to, how;
    sink_t             a, b, c;
    unsigned           seed, flags;
    const char        *p;
    tokenroute_sse_t   sse;

    if (size < 2) {
        return 0;
    }

    seed = data[0];
    flags = data[1];
    p = (const char *) data + 2;
    size -= 2;

    from = (flags & 1) ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;
    to = (flags & 2) ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;

    run(from, to, flags, p, size, seed, 1, 0, &a);
    run(from, to, flags, p, size, seed, 0, 0, &b);
    run(from, to, flags, p, size, seed, 1, 1, &c);

    /*
     * The events of one piece fed are emitted at once: an emit that fails
     * cuts the output where the pieces end, the same stream's either way.
     */

    fuzz_check(a.fail_at != 0
               || (a.len == b.len
                   && (a.len == 0 || memcmp(a.buf, b.buf, a.len) == 0)),
               "the output is the same whole and split");

    fuzz_check(a.fail_at == 0
               || (a.len <= b.len
                   ? a.len == 0 || memcmp(a.buf, b.buf, a.len) == 0
                   : b.len == 0 || memcmp(a.buf, b.buf, b.len) == 0),
               "the output cut by a failing emit is the same stream's");

    fuzz_check(a.len == c.len
               && (a.len == 0 || memcmp(a.buf, c.buf, a.len) == 0),
               "the output is the same with the fast path and without");

    fuzz_check(a.flags == c.flags
               && a.usage.input_tokens == c.usage.input_tokens
               && a.usage.cached_tokens == c.usage.cached_tokens
               && a.usage.cache_write_tokens == c.usage.cache_write_tokens
               && a.usage.cache_write_1h_tokens
                  == c.usage.cache_write_1h_tokens
               && a.usage.output_tokens == c.usage.output_tokens
               && a.usage.content_bytes == c.usage.content_bytes
               && a.usage.error == c.usage.error,
               "the usage is the same with the fast path and without");

    if (a.fail_at == 0) {
        how = (from != to) | (fuzz_utf8(p, size) << 1);

        fuzz_check(tokenroute_sse_init(&sse, 64 * 1024 * 1024, event_check,
                                       &how) == 0, "sse init");
        fuzz_check(tokenroute_sse_feed(&sse, a.buf, a.len) == 0, "sse feed");
        fuzz_check(tokenroute_sse_pending(&sse) == 0,
                   "the output ends with an event's end");
        tokenroute_sse_free(&sse);
    }

    free(a.buf);
    free(b.buf);
    free(c.buf);

    return 0;
}
