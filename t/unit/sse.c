
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the SSE event splitter (src/tokenroute_sse.c).  Every
 * stream is fed whole, split in two at every offset, split in three at
 * every pair of offsets and one byte at a time, and must give the same
 * events each way; all of it twice, copying and lending
 * (tokenroute_sse_lend()), each piece lending from a buffer of its own
 * that is overwritten and freed once fed.  Prints TAP.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_sse.h>

#include "tap.h"


/* the three-way splits are quadratic: only for streams up to this long */
#define THREE_WAY_MAX  400


typedef struct {
    const char  *name;
    const char  *stream;
    size_t       max_data;
    const char  *expect;
} sse_case_t;


/* each event is recorded as "{event}[data]\n", with '!' before the '\n' if
 * it was truncated */
typedef struct {
    char        *buf;
    size_t       len;
    size_t       size;
    size_t       max_data;
    int          calls;
    int          lent;
    int          stop_at;
    const char  *bad;

    /* the piece fed, where it is in the stream, and where events end */
    tokenroute_sse_t  *sse;
    const char        *base;
    size_t             base_len;
    size_t             base_off;
    size_t             ends[64];
    int                nends;
} recorder_t;


static const char *show(const char *p, size_t n);
static void rec_reset(recorder_t *r, size_t max_data);
static void rec_append(recorder_t *r, const char *p, size_t n);
static int rec_handler(void *ctx, const char *event, size_t event_len,
    const char *data, size_t data_len, int truncated);
static int feed_pieces(const char *s, size_t len, size_t max_data,
    size_t *cuts, int ncuts, recorder_t *r);
static int feed_piece(tokenroute_sse_t *sse, const char *s, size_t from,
    size_t to, recorder_t *r);
static void run_case(const char *name, const char *s, size_t len,
    size_t max_data, const char *expect, size_t expect_len);
static void test_pending(void);
static void test_stop(void);
static void test_long(void);
static void test_lend(void);


/* 1: the splitter lends (tokenroute_sse_lend()) */
static int  lending;




static sse_case_t  cases[] = {

    { "LF", "data: hello\n\n", 1024, "{}[hello]\n" },

    { "CRLF", "data: a\r\ndata: b\r\n\r\n", 1024, "{}[a\nb]\n" },

    { "CR", "event: x\rdata:y\r\r", 1024, "{x}[y]\n" },

    { "mixed line ends",
      "data: 1\r\n\r\ndata: 2\r\rdata: 3\n\ndata: 4\n\r\n", 1024,
      "{}[1]\n{}[2]\n{}[3]\n{}[4]\n" },

    { "CR then CRLF", "data: a\r\r\ndata: b\n\n", 1024,
      "{}[a]\n{}[b]\n" },

    { "LF then CR", "data: a\n\rdata: b\n\n", 1024, "{}[a]\n{}[b]\n" },

    { "CR CR LF LF", "data: a\r\r\n\ndata: b\r\n\r\n", 1024,
      "{}[a]\n{}[b]\n" },

    { "comments",
      ": keepalive\n\n: OPENROUTER PROCESSING\r\n\r\n"
      "data: {\"a\":1}\n: between\ndata: {\"b\":2}\n\n:\n\n", 1024,
      "{}[{\"a\":1}\n{\"b\":2}]\n" },

    { "multi-line and empty data lines",
      "data\ndata:\ndata:  two spaces\ndata:\tx\n\n", 1024,
      "{}[\n\n two spaces\n\tx]\n" },

    { "colons in the value", "data: a: b\ndata:c:d\n\n", 1024,
      "{}[a: b\nc:d]\n" },

    { "event names",
      "event: message_start\ndata: {}\n\nevent: ping\ndata: {}\n\n"
      "data: x\n\nevent:error\ndata: e\n\n", 1024,
      "{message_start}[{}]\n{ping}[{}]\n{}[x]\n{error}[e]\n" },

    { "the last event name wins", "event: a\nevent: b\ndata: x\n\n", 1024,
      "{b}[x]\n" },

    { "an empty event name", "event: a\nevent\ndata: x\n\n", 1024,
      "{}[x]\n" },

    { "BOM", "\xEF\xBB\xBF" "data: a\n\n", 1024, "{}[a]\n" },

    { "BOM only at the start", "data: a\n\n\xEF\xBB\xBF" "data: b\n\n",
      1024, "{}[a]\n" },

    { "one BOM only", "\xEF\xBB\xBF\xEF\xBB\xBF" "data: b\n\ndata: c\n\n",
      1024, "{}[c]\n" },

    { "a partial BOM is text", "\xEF\xBB" "data: b\n\ndata: c\n\n", 1024,
      "{}[c]\n" },

    { "a BOM byte then a blank line", "\xEF\n\ndata: c\n\n", 1024,
      "{}[c]\n" },

    { "blank events", "\n\n\r\n\r\r\n", 1024, "" },

    { "no data lines", "event: x\n\ndata: y\n\nid: 1\nretry: 100\n\n", 1024,
      "{}[y]\n" },

    { "id and retry are ignored", "id: 5\ndata: z\nretry: 9\n\n", 1024,
      "{}[z]\n" },

    { "empty data", "data\n\ndata:\r\n\r\n", 1024, "{}[]\n{}[]\n" },

    { "unknown fields",
      "foo: bar\ndatax: y\ndat: z\nDATA: w\n data: v\nevents: q\n"
      "data: ok\n\n", 1024,
      "{}[ok]\n" },

    { "a long unknown field name",
      "averyveryverylongfieldname: 1\ndata: ok\n\n", 1024,
      "{}[ok]\n" },

    { "no final blank line", "data: a\n\ndata: b\n", 1024, "{}[a]\n" },

    { "no final line end", "data: a\n\ndata: b", 1024, "{}[a]\n" },

    { "truncation", "data: 0123456789\n\ndata: ok\n\n", 5,
      "{}[01234]!\n{}[ok]\n" },

    { "truncation across lines", "data: abc\ndata: def\n\n", 5,
      "{}[abc\nd]!\n" },

    { "truncation at the newline", "data: abcde\ndata: f\n\n", 5,
      "{}[abcde]!\n" },

    { "exactly max_data", "data: 01234\n\ndata: abc\ndata: d\n\n", 5,
      "{}[01234]\n{}[abc\nd]\n" },

    { "no limit", "data: x\n\n", (size_t) -1, "{}[x]\n" },

    { "max_data 0", "data: x\n\ndata:\n\nevent: e\ndata\n\n", 0,
      "{}[]!\n{}[]\n{e}[]\n" },

    { "a realistic Anthropic stream",
      "event: message_start\n"
      "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\"}}\n"
      "\n"
      "event: ping\n"
      "data: {\"type\": \"ping\"}\n"
      "\n"
      "event: content_block_delta\n"
      "data: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\\n\"}}\n"
      "\n"
      "event: message_stop\n"
      "data: {\"type\":\"message_stop\"}\n"
      "\n", 1 << 20,
      "{message_start}[{\"type\":\"message_start\","
      "\"message\":{\"id\":\"msg_1\"}}]\n"
      "{ping}[{\"type\": \"ping\"}]\n"
      "{content_block_delta}[{\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\\n\"}}]\n"
      "{message_stop}[{\"type\":\"message_stop\"}]\n" },

    { "a realistic OpenAI stream over CRLF",
      ": ping\r\n\r\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r\n"
      "data: [DONE]\r\n\r\n", 1 << 20,
      "{}[{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}]\n"
      "{}[[DONE]]\n" },

    /* lines taken whole when their LF is in the buffer */

    { "data and event lines, with and without a space",
      "event:a\ndata:x\ndata:  y\ndata:\nevent: b\n\n", 1024,
      "{b}[x\n y\n]\n" },

    { "a CR after a whole line, in the same buffer",
      "data: a\ndata: b\rdata: c\r\n\r\nevent: e\r\n\n", 1024,
      "{}[a\nb\nc]\n" },

    { "a CR inside what would be one line",
      "data: a\rb\n\n", 1024, "{}[a]\n" },

    { "an event name longer than 64 bytes, whole",
      "event: 0123456789012345678901234567890123456789"
      "0123456789012345678901234567890123456789\ndata: x\n\n", 1024,
      "{0123456789012345678901234567890123456789012345678901234567890123}"
      "[x]\n" },

    { "an empty event name, whole", "event: a\nevent:\ndata: x\n\n", 1024,
      "{}[x]\n" },

    { "whole lines truncated", "data: 0123\ndata: 4567\n\ndata: ok\n\n", 6,
      "{}[0123\n4]!\n{}[ok]\n" },

    { "data: and event: only at the start of a line",
      "xdata: a\n data: b\nevent:: c\ndata: d\n\n", 1024,
      "{: c}[d]\n" },

    { NULL, NULL, 0, NULL }
};


int
main(void)
{
    char        *s, *expect;
    size_t       len;
    sse_case_t  *c;

    for (lending = 0; lending < 2; lending++) {
        for (c = cases; c->name; c++) {
            run_case(c->name, c->stream, strlen(c->stream), c->max_data,
                     c->expect, strlen(c->expect));
        }
    }

    lending = 0;

    /* an event name longer than TOKENROUTE_SSE_EVENT_LEN is cut */

    s = malloc(200);
    expect = malloc(200);
    if (s == NULL || expect == NULL) {
        return 2;
    }

    memcpy(s, "event: ", 7);
    memset(s + 7, 'n', 100);
    memcpy(s + 107, "\ndata: x\n\n", 11);

    expect[0] = '{';
    memset(expect + 1, 'n', TOKENROUTE_SSE_EVENT_LEN);
    len = 1 + TOKENROUTE_SSE_EVENT_LEN;
    memcpy(expect + len, "}[x]\n", 6);

    run_case("a long event name", s, strlen(s), 1024, expect,
             strlen(expect));

    free(s);
    free(expect);

    test_long();
    lending = 1;
    test_long();
    test_lend();
    lending = 0;
    test_pending();
    test_stop();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


static void
run_case(const char *name, const char *s, size_t len, size_t max_data,
    const char *expect, size_t expect_len)
{
    int          rc, good, nends;
    size_t       i, j, cuts[2], ends[64];
    recorder_t   r;

    memset(&r, 0, sizeof(recorder_t));

    /* the events' ends must not depend on where the stream is split */

#define MATCHES(r)                                                            \
    ((r).bad == NULL && (r).len == expect_len                                 \
     && (expect_len == 0 || memcmp((r).buf, expect, expect_len) == 0)         \
     && (r).nends == nends                                                    \
     && memcmp((r).ends, ends, nends * sizeof(size_t)) == 0)

    nends = 0;
    rc = feed_pieces(s, len, max_data, NULL, 0, &r);

    nends = r.nends;
    memcpy(ends, r.ends, sizeof(ends));

    ok(rc == 0 && MATCHES(r), "%s%s: fed whole gives %s%s%s",
       lending ? "lending: " : "", name, show(r.buf, r.len),
       r.bad ? " BAD: " : "", r.bad ? r.bad : "");

    good = 1;

    for (i = 0; i <= len && good; i++) {
        cuts[0] = i;
        rc = feed_pieces(s, len, max_data, cuts, 1, &r);

        if (rc != 0 || !MATCHES(r)) {
            good = 0;
        }
    }

    ok(good, "%s%s: split in two at every offset%s%s",
       lending ? "lending: " : "", name, good ? "" : ", at one gives ",
       good ? "" : show(r.buf, r.len));

    if (len <= THREE_WAY_MAX) {
        good = 1;

        for (i = 0; i <= len && good; i++) {
            for (j = i; j <= len && good; j++) {
                cuts[0] = i;
                cuts[1] = j;
                rc = feed_pieces(s, len, max_data, cuts, 2, &r);

                if (rc != 0 || !MATCHES(r)) {
                    good = 0;
                }
            }
        }

        ok(good, "%s%s: split in three at every pair of offsets",
           lending ? "lending: " : "", name);
    }

    rc = feed_pieces(s, len, max_data, NULL, -1, &r);

    ok(rc == 0 && MATCHES(r), "%s%s: fed one byte at a time",
       lending ? "lending: " : "", name);

#undef MATCHES

    free(r.buf);
}


/*
 * Feeds s whole (ncuts 0), cut at the given offsets, or one byte at a time
 * (ncuts -1), into a fresh splitter; returns the last feed's result.
 */

static int
feed_pieces(const char *s, size_t len, size_t max_data, size_t *cuts,
    int ncuts, recorder_t *r)
{
    int                i, rc;
    size_t             from, to;
    tokenroute_sse_t   sse;

    rec_reset(r, max_data);

    if (tokenroute_sse_init(&sse, max_data, rec_handler, r) != 0) {
        r->bad = "init failed";
        return -1;
    }

    if (lending) {
        tokenroute_sse_lend(&sse);
    }

    r->sse = &sse;

    rc = 0;

    if (ncuts < 0) {
        for (from = 0; from < len && rc == 0; from++) {
            rc = feed_piece(&sse, s, from, from + 1, r);
        }

    } else {
        from = 0;

        for (i = 0; i <= ncuts && rc == 0; i++) {
            to = (i < ncuts) ? cuts[i] : len;
            rc = feed_piece(&sse, s, from, to, r);
            from = to;
        }
    }

    tokenroute_sse_free(&sse);

    return rc;
}


/*
 * s[from..to] fed; lending, from a copy of its own that is overwritten
 * and freed right after, as a buffer that is reused: data lent from it
 * and read later would show.
 */

static int
feed_piece(tokenroute_sse_t *sse, const char *s, size_t from, size_t to,
    recorder_t *r)
{
    int    rc;
    char  *p;

    if (!lending) {
        r->base = s + from;
        r->base_len = to - from;
        r->base_off = from;

        return tokenroute_sse_feed(sse, s + from, to - from);
    }

    p = malloc(to - from + 1);
    if (p == NULL) {
        exit(2);
    }

    memcpy(p, s + from, to - from);

    r->base = p;
    r->base_len = to - from;
    r->base_off = from;

    rc = tokenroute_sse_feed(sse, p, to - from);

    memset(p, 'X', to - from + 1);
    free(p);

    r->base = NULL;

    return rc;
}


/* escapes CR, LF and bytes over 0x7e for a TAP line, cut at 200 bytes */

static const char *
show(const char *p, size_t n)
{
    char               *q;
    size_t              i;
    unsigned char       c;
    static char         buf[1024];
    static const char   hex[] = "0123456789abcdef";

    q = buf;

    for (i = 0; i < n && i < 200; i++) {
        c = (unsigned char) p[i];

        if (c == '\n') {
            *q++ = '\\';
            *q++ = 'n';

        } else if (c == '\r') {
            *q++ = '\\';
            *q++ = 'r';

        } else if (c < 0x20 || c > 0x7e) {
            *q++ = '\\';
            *q++ = 'x';
            *q++ = hex[c >> 4];
            *q++ = hex[c & 0xf];

        } else {
            *q++ = c;
        }
    }

    if (i < n) {
        memcpy(q, "...", 3);
        q += 3;
    }

    *q = '\0';

    return buf;
}


static void
rec_reset(recorder_t *r, size_t max_data)
{
    r->len = 0;
    r->calls = 0;
    r->lent = 0;
    r->stop_at = 0;
    r->bad = NULL;
    r->max_data = max_data;
    r->sse = NULL;
    r->nends = 0;
}


static void
rec_append(recorder_t *r, const char *p, size_t n)
{
    char    *buf;
    size_t   size;

    if (r->len + n > r->size) {
        size = (r->size ? r->size : 256);

        while (size < r->len + n) {
            size *= 2;
        }

        buf = realloc(r->buf, size);
        if (buf == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }

        r->buf = buf;
        r->size = size;
    }

    memcpy(r->buf + r->len, p, n);
    r->len += n;
}


static int
rec_handler(void *ctx, const char *event, size_t event_len, const char *data,
    size_t data_len, int truncated)
{
    recorder_t  *r = ctx;

    const char  *end;

    r->calls++;

    if (data == NULL) {
        r->bad = "data is NULL";

    } else if (!lending && data[data_len] != '\0') {
        r->bad = "data is not NUL-terminated";
    }

    /* lent: the data lies in the piece being fed */

    if (lending && data != NULL && r->base != NULL && data >= r->base
        && data < r->base + r->base_len)
    {
        if (data + data_len > r->base + r->base_len) {
            r->bad = "lent data runs past the piece";
        }

        r->lent++;
    }

    if ((event == NULL) != (event_len == 0)) {
        r->bad = "event is NULL but event_len is not 0, or the reverse";
    }

    if (event != NULL && event[event_len] != '\0') {
        r->bad = "event is not NUL-terminated";
    }

    if (data_len > r->max_data) {
        r->bad = "data is longer than max_data";
    }

    if (truncated && data_len != r->max_data) {
        r->bad = "truncated data is shorter than max_data";
    }

    /* where the event ends: after the line end of its blank line */

    if (r->sse != NULL) {
        end = tokenroute_sse_event_end(r->sse);

        if (end <= r->base || end > r->base + r->base_len
            || (end[-1] != '\n' && end[-1] != '\r'))
        {
            r->bad = "the event's end is not just after a line end";

        } else if (r->nends < 64) {
            r->ends[r->nends++] = end - r->base + r->base_off;
        }
    }

    rec_append(r, "{", 1);
    rec_append(r, event ? event : "", event_len);
    rec_append(r, "}[", 2);
    rec_append(r, data, data_len);
    rec_append(r, truncated ? "]!\n" : "]\n", truncated ? 3 : 2);

    return (r->stop_at != 0 && r->calls >= r->stop_at) ? -1 : 0;
}


/* an event that outgrows the initial buffer several times over */

static void
test_long(void)
{
    char    *s, *expect;
    size_t   n, len;

    n = TOKENROUTE_SSE_INIT_SIZE * 10 + 7;

    s = malloc(n + 64);
    expect = malloc(n + 64);
    if (s == NULL || expect == NULL) {
        exit(2);
    }

    /* two data lines: n bytes of 'a', then "b" */

    len = 0;
    memcpy(s, "data: ", 6);
    len += 6;
    memset(s + len, 'a', n);
    len += n;
    memcpy(s + len, "\r\ndata: b\r\n\r\n", 13);
    len += 13;

    memcpy(expect, "{}[", 3);
    memset(expect + 3, 'a', n);
    memcpy(expect + 3 + n, "\nb]\n", 4);

    run_case("a long event", s, len, 1 << 20, expect, n + 7);

    /* the same, cut at max_data: before and after the buffer grows */

    memcpy(expect + 3 + n - 7, "]!\n", 3);

    run_case("a long event cut after growing", s, len, n - 7, expect,
             n - 7 + 6);

    memcpy(expect + 3 + 1000, "]!\n", 3);

    run_case("a long event cut", s, len, 1000, expect, 1000 + 6);

    free(s);
    free(expect);
}


static void
test_pending(void)
{
    recorder_t        r;
    tokenroute_sse_t  sse;

    memset(&r, 0, sizeof(recorder_t));
    rec_reset(&r, 1024);

    if (tokenroute_sse_init(&sse, 1024, rec_handler, &r) != 0) {
        exit(2);
    }

    ok(tokenroute_sse_pending(&sse) == 0, "pending: 0 at the start");

    tokenroute_sse_feed(&sse, "\xEF\xBB\xBF", 3);
    ok(tokenroute_sse_pending(&sse) == 0, "pending: a BOM is not an event");

    tokenroute_sse_feed(&sse, "data: abc", 9);
    ok(tokenroute_sse_pending(&sse) == 9, "pending: 9 in a first line (%zu)",
       tokenroute_sse_pending(&sse));

    tokenroute_sse_feed(&sse, "\r", 1);
    ok(tokenroute_sse_pending(&sse) == 10, "pending: 10 after its CR");

    tokenroute_sse_feed(&sse, "\n", 1);
    ok(tokenroute_sse_pending(&sse) == 11, "pending: 11 after its LF");

    tokenroute_sse_feed(&sse, "\r", 1);
    ok(tokenroute_sse_pending(&sse) == 0 && r.calls == 1,
       "pending: 0 once the blank line's CR dispatches");

    tokenroute_sse_feed(&sse, "\n", 1);
    ok(tokenroute_sse_pending(&sse) == 0 && r.calls == 1,
       "pending: the LF of that CRLF is not a new event");

    tokenroute_sse_feed(&sse, ": c\n", 4);
    ok(tokenroute_sse_pending(&sse) == 4, "pending: a comment counts (%zu)",
       tokenroute_sse_pending(&sse));

    tokenroute_sse_feed(&sse, "\ndata: x\n\ndata: y", 17);
    ok(tokenroute_sse_pending(&sse) == 7 && r.calls == 2,
       "pending: counts from the last blank line (%zu)",
       tokenroute_sse_pending(&sse));

    tokenroute_sse_free(&sse);
    tokenroute_sse_free(&sse);

    ok(1, "free twice is harmless");

    free(r.buf);
}


static void
test_stop(void)
{
    int               rc;
    recorder_t        r;
    tokenroute_sse_t  sse;

    memset(&r, 0, sizeof(recorder_t));
    rec_reset(&r, 1024);
    r.stop_at = 2;

    if (tokenroute_sse_init(&sse, 1024, rec_handler, &r) != 0) {
        exit(2);
    }

    rc = tokenroute_sse_feed(&sse, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27);
    ok(rc == -1 && r.calls == 2, "a handler returning -1 stops the feed");

    rc = tokenroute_sse_feed(&sse, "data: 4\n\n", 9);
    ok(rc == -1 && r.calls == 2, "and every later feed");

    tokenroute_sse_free(&sse);

    free(r.buf);
}



/* lending: which events are handed where they lie, which are copied */

static void
test_lend(void)
{
    int          i;
    size_t       cut;
    recorder_t   r;

    static const struct {
        const char  *stream;
        int          lent;
        const char  *what;
    } t[] = {
        { "data: {\"a\":1}\n\n", 1, "one data line, whole" },
        { "event: e\ndata: {}\n\ndata: [DONE]\n\n", 2,
          "an event line and a data line; [DONE]" },
        { "data: a\ndata: b\n\n", 0, "two data lines: copied" },
        { "data: a\r\n\r\n", 0, "a line that ends in CR LF: copied" },
        { "data: 0123456789\n\n", 0, "longer than max_data: cut" },
        { NULL, 0, NULL }
    };

    memset(&r, 0, sizeof(recorder_t));

    lending = 1;

    for (i = 0; t[i].stream; i++) {
        feed_pieces(t[i].stream, strlen(t[i].stream), (i < 4) ? 1024 : 8,
                    NULL, 0, &r);

        ok(r.bad == NULL && r.lent == t[i].lent,
           "lending: %s: %d event(s) lent (%d)", t[i].what, t[i].lent,
           r.lent);
    }

    /* an event cut before its blank line is copied, and right */

    cut = sizeof("data: {\"a\":1}\n") - 1;

    feed_pieces("data: {\"a\":1}\n\n", cut + 1, 1024, &cut, 1, &r);

    ok(r.bad == NULL && r.lent == 0 && r.len == 12
       && memcmp(r.buf, "{}[{\"a\":1}]\n", 12) == 0,
       "lending: an event whose piece ends before its blank line is kept");

    free(r.buf);
}
