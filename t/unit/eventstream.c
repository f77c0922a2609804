
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the event-stream decoder and its Bedrock layer
 * (src/tokenroute_eventstream.c, src/tokenroute_eventstream_bedrock.c):
 * AWS's published test vectors (t/unit/eventstream_vectors.h) decoded to
 * what AWS's testdata/decoded/ says, the bad ones refused for the reason
 * it gives; a Bedrock stream fed whole, split in two at every offset, in
 * three at many pairs and a byte at a time, giving the same SSE text
 * each way; exceptions; the limits.  Prints TAP.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_eventstream.h>

#include "tap.h"
#include "eventstream_vectors.h"


#define VEC(name)  es_vec_##name, sizeof(es_vec_##name)
#define S(s)       ((s) ? (s) : "(none)")


typedef struct {
    char         *buf;
    size_t        len;
    size_t        size;
    unsigned      calls;
    unsigned      stop_at;
} rec_t;


/* a message written here, by the spec, for the Bedrock cases */
typedef struct {
    unsigned char  *p;
    size_t          len;
    size_t          size;
} msg_t;


static void
rec_add(rec_t *r, const void *p, size_t n)
{
    if (r->len + n + 1 > r->size) {
        r->size = (r->len + n + 1) * 2;
        r->buf = realloc(r->buf, r->size);

        if (r->buf == NULL) {
            abort();
        }
    }

    memcpy(r->buf + r->len, p, n);
    r->len += n;
    r->buf[r->len] = '\0';
}


static int
rec_emit(void *data, const char *text, size_t len)
{
    rec_t  *r = data;

    r->calls++;
    rec_add(r, text, len);

    return (r->stop_at && r->calls >= r->stop_at) ? -1 : 0;
}


/* the raw layer: each message as "[name=type:value ...] payload\n" */

static int
rec_message(tokenroute_eventstream_t *es, const u_char *headers,
    size_t headers_len, const u_char *payload, size_t payload_len)
{
    rec_t                           *r = es->data;
    char                             num[64];
    size_t                           i;
    const u_char                    *p, *end;
    tokenroute_eventstream_header_t  h;

    p = headers;
    end = headers + headers_len;

    rec_add(r, "[", 1);

    while (tokenroute_eventstream_header_next(&p, end, &h) == 1) {
        rec_add(r, h.name, h.name_len);
        snprintf(num, sizeof(num), "=%u:", h.type);
        rec_add(r, num, strlen(num));

        if (h.type == TOKENROUTE_ES_STRING) {
            rec_add(r, h.value, h.value_len);

        } else if (h.type == TOKENROUTE_ES_BYTES
                   || h.type == TOKENROUTE_ES_UUID)
        {
            for (i = 0; i < h.value_len; i++) {
                snprintf(num, sizeof(num), "%02x", h.value[i]);
                rec_add(r, num, 2);
            }

        } else {
            snprintf(num, sizeof(num), "%lld", (long long) h.num);
            rec_add(r, num, strlen(num));
        }

        rec_add(r, " ", 1);
    }

    rec_add(r, "] ", 2);
    rec_add(r, payload, payload_len);
    rec_add(r, "\n", 1);

    return 0;
}


static void
msg_add(msg_t *m, const void *p, size_t n)
{
    if (m->len + n > m->size) {
        m->size = (m->len + n) * 2 + 64;
        m->p = realloc(m->p, m->size);

        if (m->p == NULL) {
            abort();
        }
    }

    memcpy(m->p + m->len, p, n);
    m->len += n;
}


static void
msg_be32(msg_t *m, uint32_t v)
{
    unsigned char  b[4];

    b[0] = v >> 24;
    b[1] = v >> 16;
    b[2] = v >> 8;
    b[3] = v;

    msg_add(m, b, 4);
}


/* one message: string headers "name", "value", ..., NULL; then payload */

static void
msg_write(msg_t *m, const char *payload, size_t plen, ...)
{
    size_t          start, hlen;
    va_list         args;
    uint16_t        vlen;
    const char     *name, *value;
    unsigned char   b[3];
    msg_t           h;

    memset(&h, 0, sizeof(msg_t));

    va_start(args, plen);

    while ((name = va_arg(args, const char *)) != NULL) {
        value = va_arg(args, const char *);
        b[0] = strlen(name);
        msg_add(&h, b, 1);
        msg_add(&h, name, strlen(name));
        vlen = strlen(value);
        b[0] = TOKENROUTE_ES_STRING;
        b[1] = vlen >> 8;
        b[2] = vlen & 0xff;
        msg_add(&h, b, 3);
        msg_add(&h, value, vlen);
    }

    va_end(args);

    hlen = h.len;
    start = m->len;

    msg_be32(m, 16 + hlen + plen);
    msg_be32(m, hlen);
    msg_be32(m, tokenroute_eventstream_crc32(0, m->p + start, 8));
    msg_add(m, h.p, hlen);
    msg_add(m, payload, plen);
    msg_be32(m, tokenroute_eventstream_crc32(0, m->p + start, m->len - start));

    free(h.p);
}


static char *
b64(const char *s)
{
    static const char  tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "abcdefghijklmnopqrstuvwxyz0123456789+/";
    char              *out, *o;
    size_t             n, i;
    uint32_t           v;

    n = strlen(s);
    out = malloc(n / 3 * 4 + 5);
    o = out;

    for (i = 0; i + 2 < n; i += 3) {
        v = (unsigned char) s[i] << 16 | (unsigned char) s[i + 1] << 8
            | (unsigned char) s[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }

    if (n - i == 1) {
        v = (unsigned char) s[i] << 16;
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';

    } else if (n - i == 2) {
        v = (unsigned char) s[i] << 16 | (unsigned char) s[i + 1] << 8;
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = '=';
    }

    *o = '\0';

    return out;
}


/* a Bedrock chunk: {"bytes":"BASE64(event)","p":"..."} */

static void
msg_chunk(msg_t *m, const char *event)
{
    char   *e, *payload;
    size_t  n;

    e = b64(event);
    n = strlen(e) + 64;
    payload = malloc(n);
    snprintf(payload, n, "{\"bytes\":\"%s\",\"p\":\"abcdefgh\"}", e);

    msg_write(m, payload, strlen(payload), ":event-type", "chunk",
              ":content-type", "application/json", ":message-type", "event",
              NULL);

    free(payload);
    free(e);
}


/*
 * Decodes in pieces: cuts[] are the offsets where a piece ends (sorted,
 * ncuts of them); step > 0: step bytes at a time instead.  Returns
 * feed's first -1 or finish's result; rec holds what was emitted.
 */

static int
decode(const unsigned char *p, size_t n, size_t *cuts, size_t ncuts,
    size_t step, int raw, size_t max, rec_t *r, const char **error)
{
    int                       rc;
    size_t                    off, end, i;
    tokenroute_eventstream_t  es;

    memset(r, 0, sizeof(rec_t));

    if (tokenroute_eventstream_init(&es, max, rec_emit, r) != 0) {
        abort();
    }

    if (raw) {
        es.message = rec_message;
    }

    rc = 0;
    off = 0;
    i = 0;

    while (off < n && rc == 0) {
        if (step) {
            end = (off + step < n) ? off + step : n;

        } else {
            end = (i < ncuts) ? cuts[i++] : n;
        }

        rc = tokenroute_eventstream_feed(&es, p + off, end - off);
        off = end;
    }

    if (rc == 0) {
        rc = tokenroute_eventstream_finish(&es);
    }

    if (error) {
        *error = es.error;
    }

    tokenroute_eventstream_free(&es);

    return rc;
}


/* whole, two pieces at every offset, three at pairs, a byte at a time */

static int
same_every_split(const unsigned char *p, size_t n, int raw,
    const char *expect, size_t three_step)
{
    int     good;
    size_t  cuts[2], i, j;
    rec_t   r;

    good = 1;

    for (i = 0; i <= n && good; i++) {
        cuts[0] = i;

        good = decode(p, n, cuts, 1, 0, raw, 0, &r, NULL) == 0
               && r.len == strlen(expect)
               && memcmp(r.buf, expect, r.len) == 0;

        if (!good) {
            printf("# split at %zu gave: %s\n", i, r.buf ? r.buf : "");
        }

        free(r.buf);
    }

    for (i = 0; i <= n && good; i += three_step) {
        for (j = i; j <= n && good; j += three_step) {
            cuts[0] = i;
            cuts[1] = j;

            good = decode(p, n, cuts, 2, 0, raw, 0, &r, NULL) == 0
                   && r.len == strlen(expect)
                   && memcmp(r.buf, expect, r.len) == 0;

            free(r.buf);
        }
    }

    if (good) {
        good = decode(p, n, NULL, 0, 1, raw, 0, &r, NULL) == 0
               && r.len == strlen(expect)
               && memcmp(r.buf, expect, r.len) == 0;

        free(r.buf);
    }

    return good;
}


static void
test_vectors(void)
{
    int          rc;
    rec_t        r;
    const char  *error;

    ok(tokenroute_eventstream_crc32(0, (const u_char *) "123456789", 9)
       == 0xcbf43926, "CRC-32 check value of \"123456789\"");

    ok(same_every_split(VEC(empty_message), 1, "[] \n", 1),
       "AWS vector empty_message, every split");

    ok(same_every_split(VEC(int32_header), 1,
                        "[event-type=4:40972 ] {'foo':'bar'}\n", 1),
       "AWS vector int32_header, every split");

    ok(same_every_split(VEC(payload_no_headers), 1, "[] {'foo':'bar'}\n", 1),
       "AWS vector payload_no_headers, every split");

    ok(same_every_split(VEC(payload_one_str_header), 1,
                        "[content-type=7:application/json ] "
                        "{'foo':'bar'}\n", 1),
       "AWS vector payload_one_str_header, every split");

    /* decoded/positive/all_headers: every type, 0 to 9 */
    ok(same_every_split(VEC(all_headers), 1,
                        "[event-type=4:40972 "
                        "content-type=7:application/json "
                        "bool false=1:0 bool true=0:1 byte=2:-49 "
                        "byte buf=6:49276d2061206c6974746c6520746561706f7421 "
                        "timestamp=8:8675309 int16=3:42 int64=5:42424242 "
                        "uuid=9:0102030405060708090a0b0c0d0e0f10 "
                        "] {'foo':'bar'}\n", 3),
       "AWS vector all_headers, every split, every header type");

    rc = decode(VEC(corrupted_header_len), NULL, 0, 0, 1, 0, &r, &error);
    ok(rc == -1 && r.len == 0 && strcmp(error, "prelude CRC mismatch") == 0,
       "AWS vector corrupted_header_len: prelude checksum mismatch");
    free(r.buf);

    rc = decode(VEC(corrupted_length), NULL, 0, 0, 1, 0, &r, &error);
    ok(rc == -1 && r.len == 0 && strcmp(error, "prelude CRC mismatch") == 0,
       "AWS vector corrupted_length: prelude checksum mismatch");
    free(r.buf);

    rc = decode(VEC(corrupted_headers), NULL, 0, 0, 1, 0, &r, &error);
    ok(rc == -1 && r.len == 0 && strcmp(error, "message CRC mismatch") == 0,
       "AWS vector corrupted_headers: message checksum mismatch");
    free(r.buf);

    rc = decode(VEC(corrupted_payload), NULL, 0, 7, 1, 0, &r, &error);
    ok(rc == -1 && r.len == 0 && strcmp(error, "message CRC mismatch") == 0,
       "AWS vector corrupted_payload, in pieces: message checksum mismatch");
    free(r.buf);
}


static const char  *events[] = {
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bdrk_1\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":"
    "\"claude-3-5-haiku-20241022\",\"content\":[],\"stop_reason\":null,"
    "\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}",
    "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
    "{\"type\":\"text\",\"text\":\"\"}}",
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\"Hello, \\u00e9\\n\\\"world\\\"\"}}",
    "{\"type\":\"content_block_stop\",\"index\":0}",
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
    "\"usage\":{\"output_tokens\":7}}",
    "{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":"
    "{\"inputTokenCount\":12,\"outputTokenCount\":7}}",
    NULL
};


static const char  *types[] = {
    "message_start", "content_block_start", "content_block_delta",
    "content_block_stop", "message_delta", "message_stop"
};


static char *
expect_sse(void)
{
    rec_t     r;
    unsigned  i;

    memset(&r, 0, sizeof(rec_t));

    for (i = 0; events[i]; i++) {
        rec_add(&r, "event: ", 7);
        rec_add(&r, types[i], strlen(types[i]));
        rec_add(&r, "\ndata: ", 7);
        rec_add(&r, events[i], strlen(events[i]));
        rec_add(&r, "\n\n", 2);
    }

    return r.buf;
}


static void
test_bedrock(void)
{
    int          rc;
    char        *expect;
    rec_t        r;
    msg_t        m;
    unsigned     i;
    const char  *error;

    memset(&m, 0, sizeof(msg_t));

    for (i = 0; events[i]; i++) {
        msg_chunk(&m, events[i]);
    }

    expect = expect_sse();

    ok(same_every_split(m.p, m.len, 0, expect, 5),
       "a Bedrock stream of 6 chunks (%zu bytes): the same SSE text whole, "
       "split in two at every byte, in three, a byte at a time", m.len);

    /* an event type other than chunk is skipped */
    m.len = 0;
    msg_chunk(&m, events[0]);
    msg_write(&m, "{}", 2, ":event-type", "initial-response",
              ":message-type", "event", NULL);
    msg_chunk(&m, events[3]);

    rc = decode(m.p, m.len, NULL, 0, 0, 0, 0, &r, NULL);
    ok(rc == 0 && r.calls == 2
       && strstr(r.buf, "initial") == NULL,
       "an event that is not a chunk is skipped");
    free(r.buf);

    /* newlines as JSON whitespace stay out of the SSE line */
    m.len = 0;
    msg_chunk(&m, "{\n\"type\" :\r\n\"ping\"\n}");

    rc = decode(m.p, m.len, NULL, 0, 0, 0, 0, &r, NULL);
    ok(rc == 0
       && strcmp(r.buf, "event: ping\ndata: { \"type\" :  \"ping\" }\n\n")
          == 0,
       "CR and LF between JSON tokens become spaces");
    free(r.buf);

    /* the emit callback stops the stream */
    m.len = 0;

    for (i = 0; events[i]; i++) {
        msg_chunk(&m, events[i]);
    }

    memset(&r, 0, sizeof(rec_t));

    {
        tokenroute_eventstream_t  es;

        r.stop_at = 2;
        tokenroute_eventstream_init(&es, 0, rec_emit, &r);

        ok(tokenroute_eventstream_feed(&es, m.p, m.len) == -1
           && r.calls == 2 && strcmp(es.error, "stopped") == 0
           && tokenroute_eventstream_feed(&es, m.p, 16) == -1
           && r.calls == 2,
           "an emit returning -1 stops the feed, and every later one");

        tokenroute_eventstream_free(&es);
    }

    free(r.buf);

    /* chunks that are not what Bedrock sends */

#define BAD_CHUNK(payload, why, what)                                         \
    m.len = 0;                                                                \
    msg_write(&m, payload, strlen(payload), ":event-type", "chunk",           \
              ":message-type", "event", NULL);                                \
    rc = decode(m.p, m.len, NULL, 0, 0, 0, 0, &r, &error);                   \
    ok(rc == -1 && r.len == 0 && strcmp(error, why) == 0,                     \
       what ": %s", S(error));                                                \
    free(r.buf)

    BAD_CHUNK("{\"bytes\":\"eyJ0eXBlIjoicGluZyJ9\"",
              "a chunk without its \"bytes\"", "a chunk that is not JSON");
    BAD_CHUNK("{\"byte\":\"eyJ0eXBlIjoicGluZyJ9\"}",
              "a chunk without its \"bytes\"", "a chunk without bytes");
    BAD_CHUNK("{\"bytes\":\"eyJ0eXBlIjoicGluZyJ9*\"}",
              "a chunk's \"bytes\" is not base64", "bytes not base64");
    BAD_CHUNK("{\"bytes\":\"eyJ0eXBlIjoicGluZyJ\"}",
              "a chunk's \"bytes\" is not base64",
              "bytes whose last bits are not zero");
    /* {"type":"ping" */
    BAD_CHUNK("{\"bytes\":\"eyJ0eXBlIjoicGluZyI=\"}",
              "a chunk that is not an event with a \"type\"",
              "an event that is not JSON");
    /* {"typ":"ping"} */
    BAD_CHUNK("{\"bytes\":\"eyJ0eXAiOiJwaW5nIn0=\"}",
              "a chunk that is not an event with a \"type\"",
              "an event without a type");
    /* {"type":"a b"} */
    BAD_CHUNK("{\"bytes\":\"eyJ0eXBlIjoiYSBiIn0=\"}",
              "an event type that is not a name",
              "an event type with a space");

    m.len = 0;
    msg_write(&m, "{}", 2, ":event-type", "chunk", NULL);
    rc = decode(m.p, m.len, NULL, 0, 0, 0, 0, &r, &error);
    ok(rc == -1
       && strcmp(error, "a message neither event, exception nor error") == 0,
       "a message without :message-type is malformed");
    free(r.buf);

    free(expect);
    free(m.p);
}


static void
test_exceptions(void)
{
    int          rc;
    char         want[512];
    rec_t        r;
    const char  *xmsg = "{\"message\":\"Too \\\"many\\\" tokens\"}";
    msg_t        m;
    unsigned     i;

    static const char  *x[][2] = {
        { "throttlingException", "rate_limit_error" },
        { "serviceUnavailableException", "overloaded_error" },
        { "modelStreamErrorException", "api_error" },
        { "internalServerException", "api_error" },
        { "modelTimeoutException", "api_error" },
        { "validationException", "invalid_request_error" },
        { "somethingNewException", "api_error" }
    };

    memset(&m, 0, sizeof(msg_t));

    for (i = 0; i < sizeof(x) / sizeof(x[0]); i++) {
        m.len = 0;
        msg_chunk(&m, events[0]);
        msg_write(&m, xmsg, strlen(xmsg),
                  ":exception-type", x[i][0], ":content-type",
                  "application/json", ":message-type", "exception", NULL);

        snprintf(want, sizeof(want), "event: error\ndata: {\"type\":\"error\","
                 "\"error\":{\"type\":\"%s\",\"message\":"
                 "\"Too \\\"many\\\" tokens\"}}\n\n", x[i][1]);

        rc = decode(m.p, m.len, NULL, 0, 0, 0, 0, &r, NULL);
        ok(rc == 0
           && r.calls == 2 && strstr(r.buf, want) != NULL
           && strlen(strstr(r.buf, want)) == strlen(want),
           "%s mid-stream: event: error of type %s", x[i][0], x[i][1]);
        free(r.buf);
    }

    m.len = 0;
    msg_write(&m, "not json", 8, ":exception-type", "throttlingException",
              ":message-type", "exception", NULL);
    rc = decode(m.p, m.len, NULL, 0, 0, 0, 0, &r, NULL);
    ok(rc == 0
       && strcmp(r.buf, "event: error\ndata: {\"type\":\"error\",\"error\":"
                 "{\"type\":\"rate_limit_error\",\"message\":"
                 "\"Bedrock: throttlingException\"}}\n\n") == 0,
       "an exception without a JSON message is named");
    free(r.buf);

    m.len = 0;
    msg_write(&m, "", 0, ":error-code", "InternalFailure", ":error-message",
              "it \"broke\"", ":message-type", "error", NULL);
    rc = decode(m.p, m.len, NULL, 0, 0, 0, 0, &r, NULL);
    ok(rc == 0
       && strcmp(r.buf, "event: error\ndata: {\"type\":\"error\",\"error\":"
                 "{\"type\":\"api_error\",\"message\":"
                 "\"it \\\"broke\\\"\"}}\n\n") == 0,
       "an error message: event: error with its :error-message");
    free(r.buf);

    free(m.p);
}


static void
put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (v >> 24) & 0xff;
    p[1] = (v >> 16) & 0xff;
    p[2] = (v >> 8) & 0xff;
    p[3] = v & 0xff;
}


static void
prelude(unsigned char *pre, uint32_t total, uint32_t hlen)
{
    put_be32(pre, total);
    put_be32(pre + 4, hlen);
    put_be32(pre + 8, tokenroute_eventstream_crc32(0, pre, 8));
}


/* a message's CRC made right again after a change to its bytes */

static void
recrc(msg_t *m)
{
    put_be32(m->p + m->len - 4,
             tokenroute_eventstream_crc32(0, m->p, m->len - 4));
}


static void
test_limits(void)
{
    int             rc;
    rec_t           r;
    msg_t           m;
    size_t          half;
    const char     *error;
    unsigned char   pre[16];

    memset(&m, 0, sizeof(msg_t));

    msg_chunk(&m, events[0]);

    rc = decode(m.p, m.len, NULL, 0, 0, 0, m.len, &r, NULL);
    ok(rc == 0,
       "a message of exactly max_message");
    free(r.buf);

    rc = decode(m.p, m.len, NULL, 0, 0, 0, m.len - 1, &r, &error);
    ok(rc == -1
       && strcmp(error, "message too long") == 0,
       "a message one byte over max_message: %s", S(error));
    free(r.buf);

    /* cut: in the prelude, in the payload, at a message's end */
    half = m.len / 2;

    rc = decode(m.p, 5, NULL, 0, 0, 0, 0, &r, &error);
    ok(rc == -1
       && strcmp(error, "cut in the middle of a message") == 0,
       "cut in the prelude: finish says so");
    free(r.buf);

    rc = decode(m.p, half, NULL, 0, 3, 0, 0, &r, &error);
    ok(rc == -1
       && r.len == 0 && strcmp(error, "cut in the middle of a message") == 0,
       "cut in the payload: finish says so");
    free(r.buf);

    msg_chunk(&m, events[3]);

    rc = decode(m.p, m.len, NULL, 0, 0, 0, 0, &r, &error);
    ok(rc == 0 && r.calls == 2,
       "two messages, then the end: finish is content");
    free(r.buf);

    prelude(pre, 15, 0);
    rc = decode(pre, 12, NULL, 0, 0, 0, 0, &r, &error);
    ok(rc == -1
       && strcmp(error, "message length too small") == 0,
       "a total length under 16: %s", S(error));
    free(r.buf);

    prelude(pre, 100, 85);
    rc = decode(pre, 12, NULL, 0, 0, 0, 0, &r, &error);
    ok(rc == -1
       && strcmp(error, "headers length beyond the message") == 0,
       "headers longer than the message: %s", S(error));
    free(r.buf);

    prelude(pre, 200 * 1024, 128 * 1024 + 1);
    rc = decode(pre, 12, NULL, 0, 1, 0, 0, &r, &error);
    ok(rc == -1
       && strcmp(error, "headers too long") == 0,
       "headers over 128 KB: %s", S(error));
    free(r.buf);

    prelude(pre, 16 * 1024 * 1024 + 1, 0);
    rc = decode(pre, 12, NULL, 0, 0, 0, 0, &r, &error);
    ok(rc == -1
       && strcmp(error, "message too long") == 0,
       "a message over 16 MB, whatever max_message says: %s", S(error));
    free(r.buf);

    /* headers that overrun, of an unknown type, with an empty name */

    m.len = 0;
    msg_write(&m, "x", 1, "a", "b", NULL);
    m.p[12 + 2] = 10;
    recrc(&m);
    rc = decode(m.p, m.len, NULL, 0, 0, 1, 0, &r, &error);
    ok(rc == -1
       && strcmp(error, "malformed headers") == 0,
       "a header of type 10: malformed headers");
    free(r.buf);

    m.len = 0;
    msg_write(&m, "x", 1, "a", "b", NULL);
    m.p[12] = 0;
    recrc(&m);
    rc = decode(m.p, m.len, NULL, 0, 0, 1, 0, &r, &error);
    ok(rc == -1
       && strcmp(error, "malformed headers") == 0,
       "a header with an empty name: malformed headers");
    free(r.buf);

    m.len = 0;
    msg_write(&m, "xyz", 3, "a", "b", NULL);
    m.p[12 + 4] = 9;     /* string length 0x0009: past the headers */
    recrc(&m);
    rc = decode(m.p, m.len, NULL, 0, 0, 1, 0, &r, &error);
    ok(rc == -1
       && strcmp(error, "malformed headers") == 0,
       "a header value past the headers: malformed headers");
    free(r.buf);

    free(m.p);
}


int
main(void)
{
    test_vectors();
    test_bedrock();
    test_exceptions();
    test_limits();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
