
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the event-stream decoder and its Bedrock layer
 * (src/tokenroute_eventstream.c, src/tokenroute_eventstream_bedrock.c).
 * Input: a split seed byte, a max_message byte (N: N * 16 bytes; 0: the
 * 16 MB default), then the body.  Fed whole and in pieces, the body must
 * give the same SSE texts, in the same order, the same verdict (feed's
 * and finish's) and the same error; each text must be one SSE event
 * "event: NAME\ndata: JSON\n\n" with a data line that is valid JSON and
 * no other line end.  The Bedrock layer and the CRC-32 must also answer
 * as the code before their fast paths (t/unit/ref/eventstream_ref.c):
 * the same texts, verdict and error; the same CRC as bit by bit.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_eventstream.h>

#include "fuzz.h"
#include "ref/eventstream_ref.c"


typedef struct {
    char        *buf;
    size_t       len;
    size_t       size;
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
rec_emit(void *data, const char *text, size_t len)
{
    rec_t       *r = data;
    size_t       i, nl;
    const char  *d, *e;

    fuzz_check(len > sizeof("event: \ndata: \n\n") - 1
               && memcmp(text, "event: ", 7) == 0
               && text[len - 1] == '\n' && text[len - 2] == '\n',
               "an SSE event");

    /* exactly three line ends: after the name, after the data, the last */
    nl = 0;

    for (i = 0; i < len; i++) {
        fuzz_check(text[i] != '\r', "no CR");
        nl += (text[i] == '\n');
    }

    fuzz_check(nl == 3, "one event, one data line");

    d = memchr(text, '\n', len);
    fuzz_check(d && (size_t) (text + len - d) > 7
               && memcmp(d, "\ndata: ", 7) == 0, "the data line");

    d += 7;
    e = text + len - 2;

    fuzz_check(fuzz_json_valid((const unsigned char *) d, e - d, 0),
               "the data is JSON");

    rec_add(r, text, len);
    rec_add(r, "|", 1);

    return 0;
}


static int
run(const uint8_t *p, size_t len, size_t max, unsigned seed, int whole,
    int ref, rec_t *r, const char **error)
{
    int                       rc;
    size_t                    n, off;
    fuzz_split_t              fs;
    tokenroute_eventstream_t  es;

    fuzz_check(tokenroute_eventstream_init(&es, max, rec_emit, r) == 0,
               "init");

    if (ref) {
        es.message = ref_es_bedrock;
    }

    rc = 0;

    if (whole) {
        rc = tokenroute_eventstream_feed(&es, p, len);

    } else {
        fuzz_split_init(&fs, seed);

        for (off = 0; off < len && rc == 0; off += n) {
            n = fuzz_split_next(&fs, len - off);
            rc = tokenroute_eventstream_feed(&es, p + off, n);
        }
    }

    if (rc == 0) {
        rc = tokenroute_eventstream_finish(&es);

    } else {
        fuzz_check(tokenroute_eventstream_feed(&es, p, len) == -1,
                   "a failed decoder stays failed");
    }

    fuzz_check((rc == 0) == (es.error == NULL), "an error says why");

    *error = es.error;

    tokenroute_eventstream_free(&es);

    return rc;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          ra, rb, rc;
    size_t       max;
    rec_t        a, b, c;
    unsigned     seed;
    const char  *ea, *eb, *ec;

    if (size < 2) {
        return 0;
    }

    seed = data[0];
    max = (size_t) data[1] * 16;

    data += 2;
    size -= 2;

    memset(&a, 0, sizeof(rec_t));
    memset(&b, 0, sizeof(rec_t));
    memset(&c, 0, sizeof(rec_t));

    fuzz_check(tokenroute_eventstream_crc32(seed, data, size)
               == ref_es_crc32_bitwise(seed, data, size),
               "the CRC-32 as bit by bit");

    ra = run(data, size, max, seed, 1, 0, &a, &ea);
    rb = run(data, size, max, seed, 0, 0, &b, &eb);
    rc = run(data, size, max, seed, 1, 1, &c, &ec);

    fuzz_check(ra == rb, "the same verdict whole and in pieces");
    fuzz_check(ea == eb, "the same error whole and in pieces");
    fuzz_check(a.len == b.len
               && (a.len == 0 || memcmp(a.buf, b.buf, a.len) == 0),
               "the same SSE text whole and in pieces");

    fuzz_check(ra == rc, "the same verdict as the former layer");
    fuzz_check((ea == NULL && ec == NULL)
               || (ea && ec && strcmp(ea, ec) == 0),
               "the same error as the former layer");
    fuzz_check(a.len == c.len
               && (a.len == 0 || memcmp(a.buf, c.buf, a.len) == 0),
               "the same SSE text as the former layer");

    free(a.buf);
    free(b.buf);
    free(c.buf);

    return 0;
}
