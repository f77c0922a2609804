
/*
 * Copyright (C) tokenroute authors
 *
 * The event-stream framing: messages gathered from pieces, their prelude
 * and message CRCs and their lengths checked, their headers walked.  A
 * message that arrives whole in one piece is read where it is, without a
 * copy; one split across pieces is gathered in es->buf, which is kept
 * for the next (the usual message is small).
 */


#include <stdlib.h>
#include <string.h>

#include "tokenroute_eventstream.h"


/* a gathering buffer larger than this is freed after its message */
#define TR_ES_KEEP  (64 * 1024)


static int tokenroute_eventstream_prelude(tokenroute_eventstream_t *es,
    const u_char *p, size_t *total);
static int tokenroute_eventstream_message(tokenroute_eventstream_t *es,
    const u_char *m, size_t total);
static int tokenroute_eventstream_gather(tokenroute_eventstream_t *es,
    const u_char *p, size_t n);
static int tokenroute_eventstream_fail(tokenroute_eventstream_t *es,
    const char *error);


/*
 * CRC-32 tables for slicing by 8: tr_es_crc[0] is the byte-wise table,
 * tr_es_crc[k][b] the CRC of byte b followed by k zero bytes, so eight
 * bytes take eight lookups and no dependency between them.
 */
static uint32_t  tr_es_crc[8][256];
static int       tr_es_crc_ready;


static uint32_t
tr_es_be32(const u_char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}


static void
tr_es_crc_init(void)
{
    uint32_t  c;
    unsigned  i, k;

    /* the same tables every time: a race between threads is harmless */

    for (i = 0; i < 256; i++) {
        c = i;

        for (k = 0; k < 8; k++) {
            c = (c & 1) ? 0xedb88320 ^ (c >> 1) : c >> 1;
        }

        tr_es_crc[0][i] = c;
    }

    for (i = 0; i < 256; i++) {
        c = tr_es_crc[0][i];

        for (k = 1; k < 8; k++) {
            c = tr_es_crc[0][c & 0xff] ^ (c >> 8);
            tr_es_crc[k][i] = c;
        }
    }

    tr_es_crc_ready = 1;
}


uint32_t
tokenroute_eventstream_crc32(uint32_t crc, const u_char *p, size_t n)
{
    uint32_t  c;

    if (!tr_es_crc_ready) {
        tr_es_crc_init();
    }

    c = ~crc;

    /* bytes assembled little-endian whatever the machine's order */

    while (n >= 8) {
        c ^= (uint32_t) p[0] | ((uint32_t) p[1] << 8)
             | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);

        c = tr_es_crc[7][c & 0xff] ^ tr_es_crc[6][(c >> 8) & 0xff]
            ^ tr_es_crc[5][(c >> 16) & 0xff] ^ tr_es_crc[4][c >> 24]
            ^ tr_es_crc[3][p[4]] ^ tr_es_crc[2][p[5]]
            ^ tr_es_crc[1][p[6]] ^ tr_es_crc[0][p[7]];

        p += 8;
        n -= 8;
    }

    while (n--) {
        c = tr_es_crc[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    }

    return ~c;
}


int
tokenroute_eventstream_init(tokenroute_eventstream_t *es,
    size_t max_message, tokenroute_eventstream_emit_pt emit, void *data)
{
    memset(es, 0, sizeof(tokenroute_eventstream_t));

    if (max_message == 0 || max_message > TOKENROUTE_ES_MAX_MESSAGE) {
        max_message = TOKENROUTE_ES_MAX_MESSAGE;
    }

    if (max_message < TOKENROUTE_ES_MIN_LEN) {
        max_message = TOKENROUTE_ES_MIN_LEN;
    }

    es->message = tokenroute_eventstream_bedrock;
    es->emit = emit;
    es->data = data;
    es->max_message = max_message;

    /* the prelude's room: most messages then need no allocation at all */
    es->size = 1024;
    es->buf = malloc(es->size);

    return es->buf ? 0 : -1;
}


int
tokenroute_eventstream_feed(tokenroute_eventstream_t *es, const u_char *p,
    size_t n)
{
    size_t  total;

    if (es->error) {
        return -1;
    }

    while (n) {

        if (es->len == 0 && n >= TOKENROUTE_ES_PRELUDE_LEN) {
            if (tokenroute_eventstream_prelude(es, p, &total) != 0) {
                return -1;
            }

            if (n >= total) {
                if (tokenroute_eventstream_message(es, p, total) != 0) {
                    return -1;
                }

                p += total;
                n -= total;
                continue;
            }
        }

        /* the rest is a message's start: gathered */
        return tokenroute_eventstream_gather(es, p, n);
    }

    return 0;
}


static int
tokenroute_eventstream_gather(tokenroute_eventstream_t *es, const u_char *p,
    size_t n)
{
    int      rc;
    size_t   k;
    u_char  *nb;

    while (n) {
        if (es->len < TOKENROUTE_ES_PRELUDE_LEN) {
            k = TOKENROUTE_ES_PRELUDE_LEN - es->len;
            k = (n < k) ? n : k;

            memcpy(es->buf + es->len, p, k);
            es->len += k;
            p += k;
            n -= k;

            if (es->len < TOKENROUTE_ES_PRELUDE_LEN) {
                return 0;
            }

            if (tokenroute_eventstream_prelude(es, es->buf, &es->need) != 0) {
                return -1;
            }

            if (es->need > es->size) {
                nb = realloc(es->buf, es->need);
                if (nb == NULL) {
                    return tokenroute_eventstream_fail(es, "out of memory");
                }

                es->buf = nb;
                es->size = es->need;
            }

            continue;
        }

        k = es->need - es->len;
        k = (n < k) ? n : k;

        memcpy(es->buf + es->len, p, k);
        es->len += k;
        p += k;
        n -= k;

        if (es->len < es->need) {
            return 0;
        }

        rc = tokenroute_eventstream_message(es, es->buf, es->need);

        es->len = 0;

        if (es->size > TR_ES_KEEP) {
            nb = realloc(es->buf, 1024);
            if (nb) {
                es->buf = nb;
                es->size = 1024;
            }
        }

        if (rc != 0) {
            return -1;
        }

        if (n) {
            /* what follows may be whole: read it in place */
            return tokenroute_eventstream_feed(es, p, n);
        }
    }

    return 0;
}


static int
tokenroute_eventstream_prelude(tokenroute_eventstream_t *es, const u_char *p,
    size_t *total)
{
    uint32_t  len, hlen;

    /* the CRC first: garbage must not make us allocate its "length" */

    if (tokenroute_eventstream_crc32(0, p, 8) != tr_es_be32(p + 8)) {
        return tokenroute_eventstream_fail(es, "prelude CRC mismatch");
    }

    len = tr_es_be32(p);
    hlen = tr_es_be32(p + 4);

    if (len < TOKENROUTE_ES_MIN_LEN) {
        return tokenroute_eventstream_fail(es, "message length too small");
    }

    if (len > es->max_message) {
        return tokenroute_eventstream_fail(es, "message too long");
    }

    if (hlen > TOKENROUTE_ES_MAX_HEADERS) {
        return tokenroute_eventstream_fail(es, "headers too long");
    }

    if (hlen > len - TOKENROUTE_ES_MIN_LEN) {
        return tokenroute_eventstream_fail(es,
                                           "headers length beyond the message");
    }

    *total = len;

    return 0;
}


static int
tokenroute_eventstream_message(tokenroute_eventstream_t *es, const u_char *m,
    size_t total)
{
    int                              rc;
    size_t                           hlen;
    const u_char                    *h, *end;
    tokenroute_eventstream_header_t  hd;

    if (tokenroute_eventstream_crc32(0, m, total - 4)
        != tr_es_be32(m + total - 4))
    {
        return tokenroute_eventstream_fail(es, "message CRC mismatch");
    }

    hlen = tr_es_be32(m + 4);

    h = m + TOKENROUTE_ES_PRELUDE_LEN;
    end = h + hlen;

    es->last_headers_same = (hlen != 0 && hlen == es->last_headers_len
                             && memcmp(h, es->last_headers, hlen) == 0);

    if (!es->last_headers_same) {
        do {
            rc = tokenroute_eventstream_header_next(&h, end, &hd);
        } while (rc == 1);

        if (rc != 0) {
            return tokenroute_eventstream_fail(es, "malformed headers");
        }

        es->last_headers_len = 0;
        es->last_headers_chunk = 0;

        if (hlen <= TOKENROUTE_ES_MEMO_LEN) {
            memcpy(es->last_headers, m + TOKENROUTE_ES_PRELUDE_LEN, hlen);
            es->last_headers_len = hlen;
        }
    }

    es->messages++;

    if (es->message(es, m + TOKENROUTE_ES_PRELUDE_LEN, hlen,
                    m + TOKENROUTE_ES_PRELUDE_LEN + hlen,
                    total - TOKENROUTE_ES_MIN_LEN - hlen)
        != 0)
    {
        if (es->error == NULL) {
            es->error = "stopped";
        }

        return -1;
    }

    return 0;
}


int
tokenroute_eventstream_header_next(const u_char **pp, const u_char *end,
    tokenroute_eventstream_header_t *h)
{
    size_t         n, k;
    uint64_t       v;
    const u_char  *p;

    p = *pp;

    if (p == end) {
        return 0;
    }

    h->name_len = *p++;

    /* the name, then the type byte */
    if (h->name_len == 0 || (size_t) (end - p) < h->name_len + 1) {
        return -1;
    }

    h->name = p;
    p += h->name_len;
    h->type = *p++;
    h->num = 0;

    switch (h->type) {

    case TOKENROUTE_ES_TRUE:
    case TOKENROUTE_ES_FALSE:
        h->num = (h->type == TOKENROUTE_ES_TRUE);
        h->value = p;
        h->value_len = 0;
        *pp = p;
        return 1;

    case TOKENROUTE_ES_BYTE:
        n = 1;
        break;

    case TOKENROUTE_ES_INT16:
        n = 2;
        break;

    case TOKENROUTE_ES_INT32:
        n = 4;
        break;

    case TOKENROUTE_ES_INT64:
    case TOKENROUTE_ES_TIMESTAMP:
        n = 8;
        break;

    case TOKENROUTE_ES_UUID:
        n = 16;
        break;

    case TOKENROUTE_ES_BYTES:
    case TOKENROUTE_ES_STRING:
        if (end - p < 2) {
            return -1;
        }

        n = ((size_t) p[0] << 8) | p[1];
        p += 2;

        if ((size_t) (end - p) < n) {
            return -1;
        }

        h->value = p;
        h->value_len = n;
        *pp = p + n;
        return 1;

    default:
        return -1;
    }

    if ((size_t) (end - p) < n) {
        return -1;
    }

    h->value = p;
    h->value_len = n;

    if (n <= 8) {
        /* big-endian, two's complement, sign-extended from n bytes */
        v = 0;

        for (k = 0; k < n; k++) {
            v = (v << 8) | p[k];
        }

        if (n < 8 && (p[0] & 0x80)) {
            v |= ~(uint64_t) 0 << (8 * n);
        }

        h->num = (int64_t) v;
    }

    *pp = p + n;

    return 1;
}


int
tokenroute_eventstream_finish(tokenroute_eventstream_t *es)
{
    if (es->error) {
        return -1;
    }

    if (es->len) {
        return tokenroute_eventstream_fail(es,
                                           "cut in the middle of a message");
    }

    return 0;
}


void
tokenroute_eventstream_free(tokenroute_eventstream_t *es)
{
    free(es->buf);
    es->buf = NULL;
    es->size = 0;
    es->len = 0;

    tokenroute_json_buf_free(&es->out);
}


static int
tokenroute_eventstream_fail(tokenroute_eventstream_t *es, const char *error)
{
    es->error = error;

    return -1;
}
