
/*
 * Copyright (C) tokenroute authors
 *
 * Differential tests of the event-stream fast paths against the code
 * they replaced (t/unit/ref/eventstream_ref.c): the CRC-32 sliced by 8
 * against the bit-by-bit definition over random buffers, lengths,
 * alignments and starting CRCs; the Bedrock layer (table base64, the
 * chunk's fast parse) against the former layer over random chunks, good,
 * mutated and malformed, giving the same SSE text, verdict and error.
 * Prints TAP.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_eventstream.h>

#include "tap.h"
#include "ref/eventstream_ref.c"


typedef struct {
    char      *buf;
    size_t     len;
    size_t     size;
} buf_t;


static uint64_t  rng_state = 0x9e3779b97f4a7c15ULL;


static uint32_t
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;

    return (uint32_t) (rng_state >> 16);
}


static void
buf_add(buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->size) {
        b->size = (b->len + n + 1) * 2 + 64;
        b->buf = realloc(b->buf, b->size);

        if (b->buf == NULL) {
            abort();
        }
    }

    memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = '\0';
}


static void
buf_str(buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}


static void
buf_be32(buf_t *b, uint32_t v)
{
    unsigned char  x[4];

    x[0] = v >> 24;
    x[1] = v >> 16;
    x[2] = v >> 8;
    x[3] = v;

    buf_add(b, x, 4);
}


static void
test_crc(void)
{
    size_t          i, n, off, cut;
    uint32_t        init, a, b;
    unsigned        bad, bad_split;
    unsigned char   data[4200];

    for (i = 0; i < sizeof(data); i++) {
        data[i] = (unsigned char) rnd();
    }

    bad = 0;
    bad_split = 0;

    for (i = 0; i < 20000; i++) {
        n = (i < 64) ? i : rnd() % 4096;
        off = rnd() % 16;
        init = (rnd() & 1) ? rnd() : 0;

        a = tokenroute_eventstream_crc32(init, data + off, n);
        b = ref_es_crc32_bitwise(init, data + off, n);

        bad += (a != b);

        cut = n ? rnd() % (n + 1) : 0;
        a = tokenroute_eventstream_crc32(
                tokenroute_eventstream_crc32(init, data + off, cut),
                data + off + cut, n - cut);

        bad_split += (a != b);
    }

    ok(bad == 0, "crc32 sliced = bitwise over 20000 random buffers (%u off)",
       bad);
    ok(bad_split == 0, "crc32 chained at a random cut = whole (%u off)",
       bad_split);
    ok(tokenroute_eventstream_crc32(0, (const u_char *) "123456789", 9)
       == 0xcbf43926, "crc32 check value");
}


/* a random Anthropic-like event, sometimes not quite one */

static void
gen_event(buf_t *e)
{
    unsigned     i, n, c;

    static const char  *types[] = {
        "message_start", "content_block_delta", "ping", "message_stop",
        "a.b-c_9", "bad type", "", "t\\u0041", "\xc3\xa9"
    };
    static const char  *pieces[] = {
        "a", " ", "\\n", "\\\"", "\\u00e9", "\xc3\xa9", "\\\\", "{", "}",
        ":", ",", "xyz", "\\r\\n", "\\t"
    };

    switch (rnd() % 16) {
    case 0:
        buf_str(e, "[1,2]");
        return;
    case 1:
        buf_str(e, "{\"type\":1}");
        return;
    case 2:
        buf_str(e, "{\"type\":\"ping\"");
        return;
    default:
        break;
    }

    if (rnd() % 4 == 0) {
        buf_str(e, (rnd() & 1) ? " \r\n " : "\n");
    }

    buf_str(e, "{");

    if (rnd() % 8 == 0) {
        buf_str(e, "\"index\":0,\r\n");
    }

    buf_str(e, "\"type\"");
    buf_str(e, (rnd() % 4 == 0) ? " :\n " : ":");
    buf_str(e, "\"");
    buf_str(e, types[rnd() % (sizeof(types) / sizeof(types[0]))]);
    buf_str(e, "\",\"delta\":{\"text\":\"");

    n = rnd() % 200;

    for (i = 0; i < n; i++) {
        c = rnd() % 20;

        if (c < 14) {
            buf_str(e, pieces[c]);

        } else {
            buf_str(e, "lorem ");
        }
    }

    buf_str(e, "\"}");

    if (rnd() % 8 == 0) {
        buf_str(e, ",\"type\":\"message_delta\"");
    }

    buf_str(e, (rnd() % 8 == 0) ? "}\r\n" : "}");
}


static const char  b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "abcdefghijklmnopqrstuvwxyz0123456789+/";


static void
gen_b64(buf_t *out, const unsigned char *s, size_t n)
{
    size_t       i;
    uint32_t     v;
    const char  *tab = b64_alphabet;

    for (i = 0; i + 2 < n; i += 3) {
        v = s[i] << 16 | s[i + 1] << 8 | s[i + 2];
        buf_add(out, &tab[v >> 18], 1);
        buf_add(out, &tab[(v >> 12) & 63], 1);
        buf_add(out, &tab[(v >> 6) & 63], 1);
        buf_add(out, &tab[v & 63], 1);
    }

    if (n - i == 1) {
        v = s[i] << 16;
        buf_add(out, &tab[v >> 18], 1);
        buf_add(out, &tab[(v >> 12) & 63], 1);

        if (rnd() % 4) {
            buf_str(out, "==");
        }

    } else if (n - i == 2) {
        v = s[i] << 16 | s[i + 1] << 8;
        buf_add(out, &tab[v >> 18], 1);
        buf_add(out, &tab[(v >> 12) & 63], 1);
        buf_add(out, &tab[(v >> 6) & 63], 1);

        if (rnd() % 4) {
            buf_str(out, "=");
        }
    }
}


/* a chunk's payload: {"bytes":"...","p":"..."} in the forms Bedrock's
 * and others' */

static void
gen_payload(buf_t *p)
{
    size_t    i, k, skip;
    buf_t     e, b;

    static const char  *junk[] = {
        "\\", "\\/", "\"", " ", "=", "-", "_", "\n", "\x01", "\xff", "A",
        "\\u0041"
    };
    static const char  *tails[] = {
        "}", ",\"p\":\"abc\"}", ",\"p\":\"abcdefghijklmnopqrstuvwxyzABC\"}",
        ",\"p\":\"\"}", " }", ",\"p\":\"ab\\\"c\"}", ",\"p\":1}",
        ",\"p\":\"a\"} ", ",\"p\":\"a\"}x", ",\"p\":\"a\"", ",}",
        ",\"bytes\":\"e30=\"}", ",\"p\":\"A\"}\n", ",\"p\":[\"a\"]}",
        ",\"p\":\"a\u00e9\"}", ",\"p\":\"\x01\"}", ",\"p\":\"a\\\"}",
        ",\"p\":\"a\\\\\"}", ",\"q\":\"a\"}", ",\"p\":\"a\"}}"
    };
    static const char  *heads[] = {
        "{\"bytes\":\"", "{ \"bytes\":\"", "{\"bytes\" : \"",
        "{\"p\":\"x\",\"bytes\":\"", "{\"byte\":\"", "[\"bytes\":\"",
        "{\"bytes\":\"e30=\",\"bytes\":\"", "{\"bytes\":\"", "{\"bytes\":\"",
        "{\"bytes\":\"", "{\"bytes\":\"", "{\"bytes\":\""
    };

    memset(&e, 0, sizeof(buf_t));
    memset(&b, 0, sizeof(buf_t));

    gen_event(&e);
    gen_b64(&b, (unsigned char *) e.buf, e.len);

    if (b.len && rnd() % 6 == 0) {
        /* a wrong byte somewhere in the base64 */
        k = rnd() % b.len;
        i = rnd() % (sizeof(junk) / sizeof(junk[0]));
        skip = rnd() & 1;           /* replaced or inserted */
        p->len = 0;
        buf_add(p, b.buf, k);
        buf_str(p, junk[i]);
        buf_add(p, b.buf + k + skip, b.len - k - skip);
        b.len = 0;
        buf_add(&b, p->buf, p->len);
    }

    if (b.len && rnd() % 8 == 0) {
        /* the last character another: trailing bits maybe not zero */
        for (k = b.len; k > 1 && b.buf[k - 1] == '='; k--) {
            /* void */
        }

        b.buf[k - 1] = b64_alphabet[rnd() % 64];
    }

    p->len = 0;

    buf_str(p, heads[rnd() % (sizeof(heads) / sizeof(heads[0]))]);
    buf_add(p, b.buf, b.len);
    buf_str(p, "\"");
    buf_str(p, tails[rnd() % 3 ? rnd() % 3
                     : rnd() % (sizeof(tails) / sizeof(tails[0]))]);

    if (p->len && rnd() % 32 == 0) {
        /* cut */
        p->len = rnd() % p->len;
    }

    free(e.buf);
    free(b.buf);
}


/* one message with string headers name, value, ..., NULL */

static void
gen_message(buf_t *m, const char *payload, size_t plen, const char **hd)
{
    size_t          start, vlen;
    buf_t           h;
    unsigned char   x[3];

    memset(&h, 0, sizeof(buf_t));

    for ( /* void */ ; *hd; hd += 2) {
        x[0] = strlen(hd[0]);
        buf_add(&h, x, 1);
        buf_str(&h, hd[0]);
        vlen = strlen(hd[1]);
        x[0] = TOKENROUTE_ES_STRING;
        x[1] = vlen >> 8;
        x[2] = vlen & 0xff;
        buf_add(&h, x, 3);
        buf_str(&h, hd[1]);
    }

    start = m->len;

    buf_be32(m, 16 + h.len + plen);
    buf_be32(m, h.len);
    buf_be32(m, ref_es_crc32_bitwise(0, (u_char *) m->buf + start, 8));
    buf_add(m, h.buf, h.len);
    buf_add(m, payload, plen);
    buf_be32(m, ref_es_crc32_bitwise(0, (u_char *) m->buf + start,
                                     m->len - start));

    free(h.buf);
}


static int
rec_emit(void *data, const char *text, size_t len)
{
    buf_add(data, text, len);
    buf_add(data, "|", 1);

    return 0;
}


static void
test_layer(void)
{
    int                        rc_fast, rc_ref;
    size_t                     i, j, events;
    buf_t                      body, payload, out_fast, out_ref;
    unsigned                   bad, bad_error, errors, texts;
    const char                *ef, *er;
    tokenroute_eventstream_t   fast, ref;

    static const char  *chunk[] = {
        ":event-type", "chunk", ":content-type", "application/json",
        ":message-type", "event", NULL
    };
    static const char  *exception[] = {
        ":exception-type", "throttlingException", ":content-type",
        "application/json", ":message-type", "exception", NULL
    };
    static const char  *other[] = {
        ":event-type", "metadata", ":message-type", "event", NULL
    };

    memset(&body, 0, sizeof(buf_t));
    memset(&payload, 0, sizeof(buf_t));
    memset(&out_fast, 0, sizeof(buf_t));
    memset(&out_ref, 0, sizeof(buf_t));

    bad = 0;
    bad_error = 0;
    errors = 0;
    texts = 0;

    for (i = 0; i < 20000; i++) {
        body.len = 0;
        events = 1 + rnd() % 4;

        for (j = 0; j < events; j++) {
            gen_payload(&payload);

            switch (rnd() % 16) {
            case 0:
                gen_message(&body, "{\"message\":\"slow \\\"down\\\"\"}", 27,
                            exception);
                break;
            case 1:
                gen_message(&body, payload.buf, payload.len, other);
                break;
            default:
                gen_message(&body, payload.buf, payload.len, chunk);
                break;
            }
        }

        out_fast.len = 0;
        out_ref.len = 0;

        if (tokenroute_eventstream_init(&fast, 0, rec_emit, &out_fast) != 0
            || tokenroute_eventstream_init(&ref, 0, rec_emit, &out_ref) != 0)
        {
            abort();
        }

        ref.message = ref_es_bedrock;

        rc_fast = tokenroute_eventstream_feed(&fast, (u_char *) body.buf,
                                              body.len);
        rc_ref = tokenroute_eventstream_feed(&ref, (u_char *) body.buf,
                                             body.len);

        ef = fast.error ? fast.error : "";
        er = ref.error ? ref.error : "";

        if (rc_fast != rc_ref || out_fast.len != out_ref.len
            || (out_fast.len
                && memcmp(out_fast.buf, out_ref.buf, out_fast.len) != 0))
        {
            if (bad++ < 3) {
                printf("# differ: fast %d \"%s\" [%s], ref %d \"%s\" [%s]\n",
                       rc_fast, ef, out_fast.len ? out_fast.buf : "",
                       rc_ref, er, out_ref.len ? out_ref.buf : "");
            }
        }

        if (strcmp(ef, er) != 0 && bad_error++ < 3) {
            printf("# error differs: \"%s\" vs \"%s\" on %.*s\n", ef, er,
                   (int) payload.len, payload.buf);
        }

        errors += (rc_ref != 0);
        texts += (out_ref.len != 0);

        tokenroute_eventstream_free(&fast);
        tokenroute_eventstream_free(&ref);
    }

    ok(bad == 0, "bedrock layer = former layer on 20000 random streams "
       "(%u differ)", bad);
    ok(bad_error == 0, "the same error each time (%u differ)", bad_error);

    /* the generator must make both kinds, or the test proves little */
    ok(errors > 2000 && texts > 2000, "both verdicts seen: %u malformed, "
       "%u with SSE text", errors, texts);

    free(body.buf);
    free(payload.buf);
    free(out_fast.buf);
    free(out_ref.buf);
}


int
main(void)
{
    test_crc();
    test_layer();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
